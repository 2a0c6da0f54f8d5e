import { describe, expect, it } from 'vitest';
import { runFixture } from './helpers.js';

// After fork() the parent keeps libuv's threadpool parked while its loop needs no thread
// (native/uv/threadpool.h): the next fork takes the threads back without waking them, and nothing the
// process does may wait on them.
describe('the threadpool parked across forks', () => {
  it('back-to-back forks reuse the parked threads; threadpool work and worker threads release them', async () => {
    const run = await runFixture('threadpool-hold.mjs', { args: ['reuse'], timeoutMs: 30_000 });
    expect(run.code, run.stderr).toBe(0);
    const { steps, reused } = run.results.reuse;
    expect(steps.backToBack.held).toEqual([true, true]);
    // Timers and a child's exit are no threadpool work: still held.
    expect(steps.afterLoopTurns.held).toBe(true);
    // Forks 1 (the DNS probe's lookups follow it) and 2 park; 3 and 4 reuse; 5 follows fs work.
    expect(reused).toEqual([false, false, true, true, false]);
    expect(steps.fs).toEqual({ read: true, heldAfter: false });
    expect(steps.worker).toEqual({ heldAtWorker: false, read: true });
  });

  it("process.exit() right after fork() lets them go at 'exit' (Node's exit joins them)", async () => {
    const run = await runFixture('threadpool-hold.mjs', { args: ['exit'], timeoutMs: 30_000 });
    expect(run.code, run.stderr).toBe(0);
    expect(run.results.exit).toEqual({ heldAfterFork: true, heldAtExit: false });
  });

  it("an exit that skips 'exit' (process.reallyExit) still ends: held threads leave on their own", async () => {
    const run = await runFixture('threadpool-hold.mjs', { args: ['really-exit'], timeoutMs: 30_000 });
    expect(run.timedOut, run.stderr).toBe(false);
    expect(run.code, run.stderr).toBe(3);
    expect(run.results['really-exit']).toEqual({ heldAfterFork: true });
  });

  it('with a worker thread alive (fork({ unsafe: true })) they are let go at once: its loop shares them', async () => {
    const run = await runFixture('threadpool-hold.mjs', { args: ['live-worker'], timeoutMs: 30_000 });
    expect(run.code, run.stderr).toBe(0);
    expect(run.results['live-worker']).toEqual({ heldAfterFork: false });
  });

  it('parked threads do not keep the loop alive', async () => {
    const run = await runFixture('threadpool-hold.mjs', { args: ['drain'], timeoutMs: 30_000 });
    expect(run.code, run.stderr).toBe(0);
    expect(run.results.drain).toEqual({ heldAfterFork: true, activeReqs: 0 });
  });
});
