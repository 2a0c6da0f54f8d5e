// At most once: a request made before a fork belongs to the parent, wherever it sat at the fork.
// It runs there once; its copy in the child rejects with ForkedConnectionError (kind 'request' for a
// checkout that had no connection yet). Requests made in the child after the fork get fresh
// connections. The same for forks pg-forkguard did not make: seen by the canary, or only by debug
// mode's getpid() check.
import { describe, expect, it } from 'vitest';
import { ok, runFixture } from './helpers.js';

const states = ['idle-tick', 'queued', 'connecting', 'client-queue', 'on-the-wire', 'transaction'];
const insert = (state: string, mode: string, how = 'fork') =>
  runFixture('at-most-once/insert-before-fork.mjs', { args: [state, mode, how], timeoutMs: 60_000 });

// The unguarded twin of every state: the harm each guarded case below prevents is real.
describe('unguarded, the same line of code writes twice, or is answered to the wrong process', () => {
  it.each(['idle-tick', 'connecting'])('%s: the INSERT lands twice, once from each process', async (state) => {
    const run = await insert(state, 'unguarded');
    ok(run);
    expect(run.results.parent.rows).toBe(2);
  });

  it('client-queue: whichever process reads the running query\'s end sends the INSERT queued behind it: twice, or the child waits forever', async () => {
    const run = await insert('client-queue', 'unguarded');
    ok(run);
    const { parent, child } = run.results;
    expect(child.outcome).not.toBe('ForkedConnectionError');
    // Twice, or an answer crossed (one side waits or reads the other's): never each its own, once.
    const harmed = parent.rows === 2 || child.outcome !== 'ok' || parent.outcome !== 'ok';
    expect(harmed, JSON.stringify({ parent, child })).toBe(true);
  });

  it("queued: the child's copy is never answered, and the child's pool is wedged for new requests too", async () => {
    const run = await insert('queued', 'unguarded');
    ok(run);
    const { parent, child } = run.results;
    expect(parent.rows).toBe(1);
    expect(child).toEqual({ outcome: 'timeout', fresh: 'timeout' });
  });

  it("on-the-wire: one INSERT, one answer, two readers: the child is never refused; it takes (part of) the parent's answer as its own, or waits", async () => {
    const run = await insert('on-the-wire', 'unguarded');
    ok(run);
    const { parent, child } = run.results;
    expect(parent.rows).toBe(1);
    // Whichever process reads the answer's messages: the child is told 'ok' for a write that ran
    // once, for the parent (seen: the parent then waits, or each read part of it and both say
    // 'ok'), the child waits forever, or it reads a fragment of the parent's answer and pg fails
    // to parse it ('Error', seen under ASan's timing). Never the refusal: guarded, it rejects with
    // the typed error (below).
    expect(['ok', 'timeout', 'Error']).toContain(child.outcome);
  });

  it("transaction: the child's COMMIT reaches the parent's session; a process meets a message it did not ask for and crashes", async () => {
    const run = await insert('transaction', 'unguarded');
    expect(run.timedOut).toBe(false);
    // The parent, or the child (the parent then reports its exit code): both write to this stderr.
    // Or each process reads one of the two identical COMMIT replies and neither crashes (seen on
    // Node 26): the child was then told 'ok' for a COMMIT that went out on the parent's session.
    const crashed = /Received unexpected \w+ message from backend/.test(run.stderr);
    if (crashed) expect(run.code !== 0 || run.results.parent?.child?.status?.code !== 0).toBe(true);
    else expect(run.results.child?.outcome, run.stderr).toBe('ok');
  });
});

describe.each(['fork', 'canary', 'debug'])('guarded, a child made by %s', (how) => {
  it.each(states)('%s: the INSERT lands once; the child\'s copy rejects with the typed error', async (state) => {
    const run = await insert(state, 'guarded', how);
    ok(run);
    const { parent, child } = run.results;
    expect(parent.child).toEqual({ status: { code: 0, signal: null }, hung: false });
    expect(parent.rows).toBe(1);
    expect(parent.outcome).toBe('ok');
    expect(parent.poolErrors).toEqual([]);
    expect(child.outcome).toBe('ForkedConnectionError');
    // A checkout that had no connection yet says it was requested before the fork, by whom.
    if (['idle-tick', 'queued', 'connecting'].includes(state)) {
      expect(child.kind).toBe('request');
      expect(child.message).toContain(`was requested by process ${parent.pid} before it forked`);
    }
    expect(child.fresh).toBe(7); // a request made after the fork is served
  });
});

describe('a COPY streaming at the fork', () => {
  it('COPY FROM STDIN in the parent at the fork: every row exactly once; the child fails that COPY and works on', async () => {
    const run = await runFixture('at-most-once/copy-mid-stream.mjs', { timeoutMs: 120_000 });
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
});
