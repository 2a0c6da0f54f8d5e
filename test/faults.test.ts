// The fault matrix, guarded: each fault with the parent's results checked and the child's successes
// counted. (In-flight queries, open transactions, LISTEN, raw forks and the unguarded
// counterparts are in guard.test.ts; fork() from a worker thread is refused: lifecycle.test.ts.)
import { describe, expect, it } from 'vitest';
import { runFixture } from './helpers.js';
import { expectCleanStorm } from './scenario-checks.js';

const scenario = (name: string, env: Record<string, string> = {}) =>
  runFixture('scenarios.mjs', { args: [name, 'guarded', 'tcp'], env, timeoutMs: 120_000 });

describe('fault matrix (guarded pool)', () => {
  it('COPY FROM STDIN in the parent at the fork: every row exactly once; the child fails that COPY and works on', async () => {
    const run = await scenario('copy');
    expect(run.code, run.stderr).toBe(0);
    const { parent, child } = run.results;
    expect(parent.child).toEqual({ status: { code: 0, signal: null }, hung: false });
    expect(parent.outcome).toBe('finished');
    expect(parent.rows).toBe(20_000);
    expect(parent.distinct).toBe(20_000);
    expect(parent.sum).toBe(parent.expectedSum);
    expect(child.outcome).toBe('ForkedConnectionError');
    expect(child.ok).toBe(20);
  });

  it('a grandchild drops the child’s connections; child and parent keep theirs', async () => {
    const run = await scenario('grandchild');
    expect(run.code, run.stderr).toBe(0);
    const { parent, child, grandchild } = run.results;
    expect(parent.child.status).toEqual({ code: 0, signal: null });
    expect(child.grandchild.status).toEqual({ code: 0, signal: null });
    expect(grandchild).toMatchObject({ ok: 20, generation: 2 });
    expect(grandchild.stats[0].droppedInherited).toBe(4);
    expect(child.mineAfter).toEqual(child.mineBefore);
    expect(child.mineBefore).not.toEqual(parent.before);
    expect(child.ok).toBe(20);
    expect(parent.after).toEqual(parent.before);
    expect(parent.ok).toBe(20);
  });

  it('a tracked fd number reused for a file before the fork: the file is left alone in the child', async () => {
    const run = await scenario('fd-reuse');
    expect(run.code, run.stderr).toBe(0);
    const { parent, child } = run.results;
    expect(parent.fileFd).toBe(parent.fd); // the same number
    expect(parent.tracked).toBe(true); // and the stale entry is still in the registry
    expect(child.content).toBe('the file, intact');
    expect(child.sameInode).toBe(true);
    expect(child.ok).toBe(20);
    expect(parent.after).toEqual(parent.before);
  });

  it('a raw-syscall fork (no atfork handler at all): the canary resets the pool before the child polls; parent untouched', async () => {
    const run = await scenario('rawsyscall');
    expect(run.code, run.stderr).toBe(0);
    const { parent, child } = run.results;
    expect(parent.child.status).toEqual({ code: 0, signal: null });
    // At fork() return nothing had run (no handler); by the first poll the canary had been seen.
    expect(child.atReturn.generation).toBe(0);
    expect(child.generation).toBe(1);
    expect(child.stats).toMatchObject({ generation: 1, droppedInherited: 4, total: 0 });
    expect(parent.after).toEqual(parent.before);
    expect(parent.ok).toBe(20);
  });

  it('Postgres restarts while forks happen: both sides recover, no wrong result anywhere', async () => {
    const run = await scenario('restart');
    expect(run.code, run.stderr).toBe(0);
    const { parent } = run.results;
    const children = Object.entries(run.results)
      .filter(([k]) => k.startsWith('child-'))
      .map(([, v]) => v);
    expect(parent.how).toMatch(/^(restarted|terminated)/);
    // The fault really hit: the parent's pool lost its sessions (errors, or idle clients dropped).
    expect(parent.load.errors + parent.poolErrors).toBeGreaterThan(0);
    expect(parent.children).toEqual([
      { code: 0, signal: null },
      { code: 0, signal: null },
      { code: 0, signal: null },
    ]);
    expect(children).toHaveLength(3);
    for (const c of children) expect(c).toMatchObject({ ok: 10, wrong: 0 });
    expect(parent.load.wrong).toBe(0);
    expect(parent.load.ok).toBeGreaterThan(0);
    expect(parent.recovered).toBe(20);
  });
});

describe('fork storm', () => {
  it('50 forks (25 one at a time, 25 four at a time) under parent load: all zero', async () => {
    expectCleanStorm(await runFixture('stress.mjs', { env: { FORKS: '25', PARALLEL: '4' }, timeoutMs: 180_000 }), 50, 5000);
  });
});

describe('diagnostics_channel', () => {
  it('publishes fork, pool reset, client drop and pool evict events with their payloads', async () => {
    const run = await scenario('channels');
    expect(run.code, run.stderr).toBe(0);
    const { parent, child } = run.results;
    expect(parent.child.status).toEqual({ code: 0, signal: null });
    expect(parent.events).toEqual([
      { channel: 'pgforkguard:pool:evict', registry: 'dc', key: 't1', reason: 'manual' },
      {
        channel: 'pgforkguard:fork',
        role: 'parent',
        pid: parent.pid,
        parentPid: parent.pid,
        childPid: child.pid,
        generation: 0,
        timings: expect.objectContaining({ forkMs: expect.any(Number), scanMs: expect.any(Number) }),
      },
    ]);
    const drop = { channel: 'pgforkguard:client:drop', name: 'channels', pool: 'channels', ownerPid: parent.pid, currentPid: child.pid, fd: expect.any(Number) };
    expect(child.events).toEqual([
      drop,
      drop,
      {
        channel: 'pgforkguard:pool:reset',
        pool: 'channels',
        pid: child.pid,
        generation: 1,
        dropped: 2,
        idle: 2,
        connecting: 0,
        checkedOut: 0,
        refused: 0,
      },
      { channel: 'pgforkguard:fork', role: 'child', pid: child.pid, parentPid: parent.pid, generation: 1 },
    ]);
  });
});
