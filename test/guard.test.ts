import { describe, expect, it } from 'vitest';
import { childExitedCleanly, ok, runFixture } from './helpers.js';
import {
  expectChildEndsOnlyItsOwn,
  expectCleanShare,
  expectHeldClientRefused,
  expectInFlightRejectedInChild,
  expectParentKilled,
  expectTransactionOnce,
  expectWrongResults,
} from './scenario-checks.js';

// Every scenario runs in a fixture (node --single-threaded), never in this worker. Unguarded runs
// come first: they prove that the failure each guarded test rules out really happens here.
const scenario = (name: string, mode = 'guarded', transport = 'tcp', env: Record<string, string> = {}, timeoutMs = 90_000) =>
  runFixture(`${name}.mjs`, { args: [mode, transport], env, timeoutMs });

describe('unguarded pg.Pool: the corruption is real', () => {
  it('results are delivered to the wrong process, with no error at all', async () => {
    expectWrongResults(await runFixture('share.mjs', { args: ['unguarded', 'tcp'], timeoutMs: 90_000 }));
  });

  it("a child's pool.end() terminates the parent's sessions", async () => {
    expectParentKilled(await scenario('pool/child-end', 'unguarded'));
  });

  it("the child's statements land in the parent's open transaction", async () => {
    const run = await scenario('pool/transaction', 'unguarded');
    expect(run.timedOut, run.stderr).toBe(false);
    expect(run.results.parent.rows).not.toEqual(['before fork', 'parent']);
  });

  it("the child's cancel reaches the parent's running query", async () => {
    const run = await scenario('pool/cancel', 'unguarded');
    ok(run);
    // Canceled — or, when the child also read the parent's reply, answered with the wrong reply.
    expect(run.results.parent.result).not.toBe('finished');
  });

  it("the child receives notifications meant for the parent's LISTEN connection", async () => {
    const run = await scenario('pool/listen', 'unguarded');
    ok(run);
    const { parent, child } = run.results;
    // Which process reads each one is a race (and a split read can garble them): some reach the child.
    expect(child.notifications.length).toBeGreaterThan(0);
  });

  it('neutralised sockets without the pool reset: idle clients see EOF and crash the child', async () => {
    const run = await scenario('pool/idle-no-listener', 'tracked');
    ok(run);
    expect(run.results.parent.child.status.code).toBe(1);
    expect(run.stderr).toContain('Error: Connection terminated unexpectedly');
    // The parent is unharmed: its sockets were neutralised in the child.
    expect(run.results.parent.after).toEqual(run.results.parent.before);
  });
});

describe.each(['tcp', 'unix', 'tls'])('guarded pg.Pool shared by a parent and two children over %s', (transport) => {
  it('0 wrong results, 0 parent errors, parent sessions unchanged, 100+ queries in each child', async () => {
    expectCleanShare(await runFixture('share.mjs', { args: ['guarded', transport], timeoutMs: 90_000 }));
  });
});

describe('guarded pg.Pool scenarios', () => {
  it("a child's pool.end() ends only the child's connections", async () => {
    expectChildEndsOnlyItsOwn(await scenario('pool/child-end'));
  });

  it('idle inherited clients leave before the loop polls: no error, no crash, no error listener needed', async () => {
    const run = await scenario('pool/idle-no-listener');
    ok(run);
    const { parent, child } = run.results;
    childExitedCleanly(parent);
    expect(child.works).toBe(true);
    expect(child.stats[0]).toMatchObject({ droppedInherited: 4, reconnects: 1, total: 1 });
    expect(parent.after).toEqual(parent.before);
  });

  it('a client held across the fork: query fails with ForkedConnectionError, release() and release(err) are safe', async () => {
    expectHeldClientRefused(await scenario('pool/held'));
  });

  it("unguarded twin: the child's query on a held client goes out on the parent's session", async () => {
    const run = await scenario('pool/held', 'unguarded', 'tcp', {}, 20_000);
    const { child } = run.results;
    // Whichever process reads the answer: the parent crashes on a message it did not ask for, or
    // hangs while the child, holding the parent's session and its cancel key, used it unrefused.
    const parentMetIt = run.code !== 0 && /Received unexpected \w+ message from backend/.test(run.stderr);
    const childUsedIt = child !== undefined && child.query?.name !== 'ForkedConnectionError' && child.processID !== null;
    expect(parentMetIt || childUsedIt, `${run.stderr}\n${JSON.stringify(child)}`).toBe(true);
  });

  it('debug mode: the ForkedConnectionError carries the checkout stack; NODE_DEBUG logs resets and drops', async () => {
    const run = await scenario('pool/held', 'guarded', 'tcp', { DEBUG: '1', NODE_DEBUG: 'pgforkguard' });
    ok(run);
    const { child } = run.results;
    expect(run.stderr).toContain(
      `PGFORKGUARD ${child.pid}: held: pid ${child.pid} generation 1 dropped 2 inherited connections (0 idle, 0 connecting, 2 checked out)`,
    );
    expect(run.stderr).toContain(`dropped a connection of held opened by pid ${run.results.parent.pid}`);
    expect(run.stderr).toContain('release of a dropped client');
    expect(child.query.name).toBe('ForkedConnectionError');
    expect(child.query.checkoutStack).toContain('held.mjs');
    expect(child.query.error).toContain(`Checked out in process ${run.results.parent.pid} at:`);
  });

  it('queries in flight at the fork (pool and pipelined Client) reject in the child, complete in the parent', async () => {
    expectInFlightRejectedInChild(await scenario('pool/inflight'));
  });

  it("unguarded twin: the parent's in-flight results are read by the child, and the parent waits for them", async () => {
    const run = await scenario('pool/inflight', 'unguarded', 'tcp', {}, 20_000);
    const { parent, child } = run.results;
    const value = (r: any) => r?.rows?.[0]?.v;
    const stolen = value(child?.slow) === 'slow' || (child?.piped ?? []).some((p: any) => typeof value(p) === 'number');
    // Or the child waits for answers the parent read, never told.
    const neverTold = child?.slow === 'timeout' || (child?.piped ?? []).includes('timeout');
    expect(stolen || neverTold || parent?.slow !== 'slow', JSON.stringify({ child: child?.piped?.map(value), parent })).toBe(true);
  });

  it('a connection mid-authentication at the fork: its checkout belongs to the parent, refused in the child', async () => {
    const run = await scenario('pool/mid-auth');
    ok(run);
    const { parent, child } = run.results;
    childExitedCleanly(parent);
    expect(parent.midAuth).toBe(true);
    expect(parent.result).toBe(42);
    expect(child.result).toMatchObject({ name: 'ForkedConnectionError', code: 'ERR_FORKGUARD_FORKED_CONNECTION' });
    expect(child.stats[0]).toMatchObject({ droppedInherited: 1, reconnects: 0 });
  });

  it("unguarded twin: the child takes part in the parent's authentication, or waits forever for its answer", async () => {
    const run = await scenario('pool/mid-auth', 'unguarded');
    expect(run.timedOut).toBe(false);
    const { child } = run.results;
    expect(child?.result?.name).not.toBe('ForkedConnectionError');
    // The session's bytes cross processes: the parent crashes on the child's half of the SASL
    // exchange, or the child reads the parent's answer as its own; else the child is never answered.
    const parentBroken = run.code !== 0 && /Received unexpected \w+ message from backend/.test(run.stderr);
    const childReadParents = /Received unexpected \w+ message|SASL/.test(child?.result?.error ?? '');
    expect(parentBroken || childReadParents || child?.result === 'timeout', `${run.stderr}\n${JSON.stringify(child)}`).toBe(true);
  });

  it("the child cannot cancel the parent's running query", async () => {
    const run = await scenario('pool/cancel');
    ok(run);
    const { parent, child } = run.results;
    childExitedCleanly(parent);
    expect(child.processID).toBeNull();
    expect(child.secretKey).toBeNull();
    expect(child.guardedCancel).toBe('ForkedConnectionError');
    expect(child.plainCancel).toBe('ForkedConnectionError');
    expect(parent.result).toBe('finished');
  });

  it('checkouts queued at the fork are served once, by the parent; the child refuses its copies', async () => {
    const run = await scenario('pool/waiters');
    ok(run);
    const { parent, child } = run.results;
    childExitedCleanly(parent);
    expect(child.got).toHaveLength(3);
    for (const r of child.got) expect(r).toMatchObject({ name: 'ForkedConnectionError', ownerPid: parent.pid, poolName: 'waiters' });
    expect(child.stats[0]).toMatchObject({ droppedInherited: 2 });
    expect(parent.got).toEqual([101, 102, 103]);
  });

  it("unguarded twin: the child's copies of the queued checkouts are never answered", async () => {
    const run = await scenario('pool/waiters', 'unguarded');
    ok(run);
    const { parent, child } = run.results;
    expect(parent.got).toEqual([101, 102, 103]);
    expect(child.got).toEqual(['timeout', 'timeout', 'timeout']);
  });

  it('a transaction open across the fork commits exactly once, in the parent', async () => {
    expectTransactionOnce(await scenario('pool/transaction'));
  });

  it('a guarded LISTEN Client: one ForkedConnectionError in the child, every notification in the parent', async () => {
    const run = await scenario('pool/listen');
    ok(run);
    const { parent, child } = run.results;
    childExitedCleanly(parent);
    expect(child.errors).toEqual([{ name: 'ForkedConnectionError', code: 'ERR_FORKGUARD_FORKED_CONNECTION' }]);
    expect(child.notifications).toEqual([]);
    expect(child.ok).toBe(20);
    expect(parent.notifications).toEqual(Array.from({ length: 20 }, (_, i) => String(i + 1)));
    expect(parent.errors).toEqual([]);
  });

  it('prefill opens connections in the child before any query', async () => {
    const run = await scenario('pool/prefill');
    ok(run);
    const { parent, child } = run.results;
    childExitedCleanly(parent);
    expect(child.first).toMatchObject({ total: 3, droppedInherited: 1, reconnects: 3 });
    expect(child.later).toMatchObject({ total: 3, idle: 3 });
    expect(parent.total).toBe(1); // the parent does not prefill
  });
});

// With the pool's sockets left out of the registry, the child's copies are live: the parent's
// sessions survive only if the reset itself sends nothing (no Terminate, no TLS close_notify).
describe.each(['tcp', 'unix', 'tls'])('the reset writes not a byte, even to a live inherited socket (%s)', (transport) => {
  it("child pool.end(): the parent's sessions are untouched", async () => {
    const run = await scenario('pool/child-end', 'untracked', transport);
    ok(run);
    const { parent, child } = run.results;
    childExitedCleanly(parent);
    expect(child.stats[0].droppedInherited).toBe(4);
    expect(parent.poolErrors).toEqual([]);
    expect(parent.after).toEqual(parent.before);
  });

  it("held clients dropped and released in the child: the parent's sessions are untouched", async () => {
    const run = await scenario('pool/held', 'untracked', transport);
    ok(run);
    const { parent, child } = run.results;
    childExitedCleanly(parent);
    expect(child.query.name).toBe('ForkedConnectionError');
    expect(parent.stillMine).toBe(parent.aPid);
    expect(parent.works).toBe(true);
  });
});
