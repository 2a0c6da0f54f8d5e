import { describe, expect, it } from 'vitest';
import { runFixture } from './helpers.js';

describe('how a fork() child ends', () => {
  it('uncaught exception and unhandled rejection: printed, exit code 1', async () => {
    const run = await runFixture('exits.mjs');
    expect(run.code, run.stderr).toBe(0);
    const main = run.results.main;
    expect(main.uncaught).toEqual({ status: { code: 1, signal: null }, hung: false });
    expect(main.rejection).toEqual({ status: { code: 1, signal: null }, hung: false });
    expect(run.stderr).toContain('boom in child');
    expect(run.stderr).toContain('rejected in child');
  });

  it("'beforeExit' may schedule more work; 'exit' listeners run and may change the code", async () => {
    const run = await runFixture('exits.mjs');
    const main = run.results.main;
    expect(run.results.beforeExitMoreWork).toEqual({ rounds: 4, code: 4 });
    expect(main.beforeExitMoreWork.status.code).toBe(4);
    expect(run.results.exitListenerCode.code).toBe(0);
    expect(main.exitListenerCode.status.code).toBe(9);
    expect(run.results.handledUncaught.message).toBe('handled');
    expect(main.handledUncaught.status.code).toBe(6);
  });

  it("the parent's child_process children: unguarded the child waits for them and reads their output", async () => {
    const run = await runFixture('subprocess.mjs', { args: ['raw'] });
    expect(run.code, run.stderr).toBe(0);
    const { parent } = run.results;
    expect(parent.child.hung).toBe(true); // still waiting for an exit only the parent can see
    expect(parent.lines).toBeLessThan(30); // and it took some of the subprocess's lines
  });

  it("after fork() the child lets go of them: it exits at once, the parent reads every line", async () => {
    const run = await runFixture('subprocess.mjs', { args: ['fork'] });
    expect(run.code, run.stderr).toBe(0);
    const { parent, child } = run.results;
    expect(parent.child).toEqual({ status: { code: 0, signal: null }, hung: false });
    expect(parent.subRunningWhenChildEnded).toBe(true);
    expect(child.read).toBe(0);
    expect(parent.lines).toBe(30);
  });

  it('children whose loop just drains exit by themselves, the first forked right after install()', async () => {
    const run = await runFixture('drain.mjs');
    expect(run.code, run.stderr).toBe(0);
    const { results } = run.results.parent;
    expect(results).toHaveLength(20);
    for (const r of results) expect(r).toEqual({ i: r.i, code: r.i % 2 ? 6 : 5, hung: false });
  });

  it('a grandchild: generation 2, its own pid, reaped by the child', async () => {
    const run = await runFixture('exits.mjs');
    const g = run.results.grandchild;
    const gp = run.results['grandchild-parent'];
    expect(g.generation).toBe(2);
    expect(g.pid).toBe(g.real);
    expect(g.ppid).toBe(gp.pid);
    expect(gp.res.status.code).toBe(21);
    expect(run.results.main.grandchild.status.code).toBe(3);
  });

  it('process.pid is right in the child and the parent harness teardown is not run by the child', async () => {
    const run = await runFixture('teardown.mjs');
    expect(run.code, run.stderr).toBe(0);
    const { child, parent } = run.results;
    expect(child.pid).toBe(parent.childPid);
    expect(child.real).toBe(parent.childPid);
    expect(parent.res.status.code).toBe(0);
    expect(parent.alive).toBe(true); // the cluster survived the child's exit
    expect(parent.dataExists).toBe(true);
  });
});

describe('onFork hooks and install()', () => {
  it('run in order, a throwing hook is reported and does not stop the others', async () => {
    const run = await runFixture('hooks.mjs');
    expect(run.code, run.stderr).toBe(0);
    const { parent, child } = run.results;
    expect(parent.first).toBe(true);
    expect(parent.second).toBe(false);
    expect(parent.installed).toBe(true);
    expect(parent.calls).toEqual(['before1', 'before3', 'parent1:number', 'parent3']);
    expect(child.calls).toEqual(['before1', 'before3', 'child1', 'child3']);
    expect(parent.warnings.some((w: string) => w.includes("'before' hook threw") && w.includes('before2 fails'))).toBe(true);
    expect(parent.warnings.some((w: string) => w.includes("'parent' hook threw"))).toBe(true);
    expect(child.warnings.some((w: string) => w.includes("'child' hook threw") && w.includes('child2 fails'))).toBe(true);
  });
});

describe("fork()'s scan of the do-not-copy ranges", () => {
  it('is reused while the process maps nothing new, and made again when it does: no child lacks a page', async () => {
    const run = await runFixture('lifecycle/scan-reuse.mjs');
    expect(run.code, run.stderr).toBe(0);
    const { parent } = run.results;
    // Under test:asan, ASan's allocator maps memory of its own between forks: nothing is reused there.
    const asan = /libasan/.test(process.env.LD_PRELOAD ?? '');
    expect(parent.reused).toEqual(asan ? [false, false, false] : [false, true, false]);
    for (const c of parent.children) expect(c.status).toEqual({ code: 0, signal: null });
    const sums = Object.entries(run.results).filter(([k]) => k.startsWith('child-')).map(([, v]) => v.sum);
    expect(sums.sort((a, b) => a - b)).toEqual([0, 0, parent.expectedSum]);
    expect(parent.ranges[2]).toBeGreaterThan(parent.ranges[0]); // the new pages were seen and lent
    // The parent gets its marks back. After a fork that read smaps, every one; after one that
    // reused the scan, all but those of mappings made since it (lent and left copyable: dontfork.h).
    for (const [i, k] of parent.kept.entries()) {
      if (parent.reused[i]) expect(k.oldKept).toBe(k.old);
      else expect(k.kept).toBe(k.before);
      expect(k.old).toBeGreaterThan(10);
    }
  });
});

describe('fork() refuses when it cannot be safe', () => {
  it('on a libuv whose private layout it does not know: ForkUnsupportedError naming the version, even with unsafe', async () => {
    const unknown = await runFixture('lifecycle/unknown-libuv.mjs', { env: { PG_FORKGUARD_TEST_UV_VERSION: '0x013500' } });
    expect(unknown.code, unknown.stderr).toBe(0);
    const r = unknown.results.result;
    expect(r.uv).toMatchObject({ runtime: '1.53.0', layoutKnown: false });
    for (const attempt of [r.fork, r.unsafe]) {
      expect(attempt).toMatchObject({ name: 'ForkUnsupportedError', code: 'ERR_FORKGUARD_UNSUPPORTED', reason: 'libuv' });
      expect(attempt.message).toContain(`this Node runs libuv 1.53.0 (pg-forkguard was built against ${r.uv.headers})`);
      expect(attempt.message).toContain(`knows the private layout of libuv ${r.uv.known} only`);
    }
    // The twin, on this Node's own libuv: both forks go ahead.
    const known = await runFixture('lifecycle/unknown-libuv.mjs');
    expect(known.code, known.stderr).toBe(0);
    expect(known.results.result.uv.layoutKnown).toBe(true);
    expect(known.results.result.fork.pid).toBeGreaterThan(0);
    expect(known.results.result.child.status).toEqual({ code: 0, signal: null });
    expect(known.results.result.unsafe.pid).toBeGreaterThan(0);
  });

  it('worker thread, workers alive, inspector, unsupported OS; bad input; waitpid on foreign pids', async () => {
    const run = await runFixture('api.mjs');
    expect(run.code, run.stderr).toBe(0);
    const api = run.results.api;
    expect(api.workerThread.reason).toBe('worker-thread');
    expect(api.workerThread.code).toBe('ERR_FORKGUARD_UNSUPPORTED');
    expect(api.workersAlive.reason).toBe('workers-alive');
    expect(api.workersAlive.message).toMatch(/Terminate them/);
    expect(api.inspector.reason).toBe('inspector');
    expect(api.platform.reason).toBe('platform');
    expect(api.platform.message).toMatch(/child_process.fork/);
    for (const k of ['badOptions', 'badUnsafe', 'waitpidNegative', 'waitpidFraction', 'trackString', 'trackNegative', 'onForkNull', 'onForkBadHook', 'onForkUnknown']) {
      expect(api[k].code, k).toBe('ERR_FORKGUARD_INVALID_ARG');
      expect(api[k].isForkGuardError, k).toBe(true);
    }
    // fork({ keep }): each bad entry is named, with what to pass instead.
    for (const k of ['keepNotArray', 'keepNegative', 'keepClosed', 'keepFile', 'keepNoFd', 'keepUnknownOption']) {
      expect(api[k].code, k).toBe('ERR_FORKGUARD_INVALID_ARG');
    }
    expect(api.keepNotArray.message).toMatch(/options\.keep must be an array .* or 'all'/);
    expect(api.keepClosed.message).toMatch(/keep\[0\]: 4000 is not an open file descriptor/);
    expect(api.keepFile.message).toMatch(/is not a socket/);
    expect(api.keepNoFd.message).toMatch(/no open fd \(destroyed, not yet connected, or not a socket\)/);
    expect(api.keepUnknownOption.message).toMatch(/unknown option 'kep'/);
    expect(api.trackRange.code).toBe('ERR_FORKGUARD_FD_RANGE');
    expect(api.untrackUnknown.ok).toBe(false);
    // waitpid never steals child_process's children, and says so.
    expect(api.waitpidForeign.code).toBe('ERR_FORKGUARD_NOT_A_CHILD');
    expect(api.foreignExit).toBe(17);
    expect(api.forkWorks).toEqual({ code: 0, signal: null });
    expect(api.waitpidTwice.code).toBe('ERR_FORKGUARD_NOT_A_CHILD');
  });

  it('without --single-threaded', async () => {
    const run = await runFixture('api.mjs', { args: ['no-flag'], nodeArgs: [] });
    expect(run.code, run.stderr).toBe(0);
    expect(run.results.api.noFlag.reason).toBe('not-single-threaded');
    expect(run.results.api.noFlag.message).toMatch(/--single-threaded/);
  });
});

describe('fixture watchdog', () => {
  it('kills a stuck child and reports where it was', async () => {
    const run = await runFixture('watchdog.mjs');
    expect(run.code, run.stderr).toBe(0);
    const { parent } = run.results;
    expect(parent.hung).toBe(true);
    expect(parent.status.signal).toBe('SIGKILL');
    expect(parent.where.phase).toBe('child: waiting forever on purpose');
    expect(parent.where.threads.length).toBeGreaterThan(0);
    // Asleep (in epoll, as a rule) or caught running; the kernel's wait channel is a racy read
    // (seen as '0' for a sleeping thread), so only its presence is checked.
    const main = parent.where.threads[0];
    expect(main.state).toMatch(/^[RS]$/);
    expect(typeof main.wchan).toBe('string');
    expect(main.syscall).not.toBe('');
  });
});
