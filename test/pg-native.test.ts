// pg-native (pg.native.Pool / pg.native.Client over libpq): the same guarantees as for the
// JavaScript client, on a real Postgres. libpq owns these sockets: the guard tracks PQsocket() when
// pg emits 'connect', stops libpq's reader in the child, and never lets PQfinish run there.
import { describe, expect, it } from 'vitest';
import { childExitedCleanly, ok, runFixture } from './helpers.js';

const NATIVE = { NATIVE: '1' };


const scenario = (name: string, mode = 'guarded', transport = 'tcp') =>
  runFixture(`${name}.mjs`, { args: [mode, transport], env: NATIVE, timeoutMs: 90_000 });

describe('unguarded pg.native.Pool: the corruption is real', () => {
  it('results reach the wrong process, and a child ending the pool kills the parent sessions', async () => {
    const run = await runFixture('share.mjs', { args: ['unguarded', 'tcp'], env: { ...NATIVE, CHILD_END: '1' }, timeoutMs: 90_000 });
    expect(run.timedOut, run.stderr).toBe(false);
    const { parent, child1, child2 } = run.results;
    const wrong = [parent, child1, child2].filter(Boolean).reduce((n, r) => n + r.tally.wrong, 0);
    expect(wrong).toBeGreaterThan(0);
    expect(parent.after).not.toEqual(parent.before);
  });

  it("a child's pool.end() (PQfinish: Terminate) ends the parent's sessions", async () => {
    const run = await scenario('pool/child-end', 'unguarded');
    ok(run);
    expect(run.results.parent.poolErrors.length).toBeGreaterThan(0);
    expect(run.results.parent.after).not.toEqual(run.results.parent.before);
  });

  it("the child's Client#cancel() cancels the parent's query (PQcancel with the parent's key)", async () => {
    const run = await scenario('pg-native/cancel', 'unguarded');
    ok(run);
    expect(run.results.child.cancel).toBe('sent');
    expect(run.results.parent.result).toEqual({ error: 'canceling statement due to user request' });
  });

  it('a connect libpq completed before the fork is a live session shared by both processes', async () => {
    const run = await scenario('pg-native/connecting', 'unguarded', 'unix');
    ok(run);
    const { parent, child } = run.results;
    expect(child.dead).toEqual([false, false]); // live copies of the parent's new sockets
    expect(child.standalone).toBe('connected');
    // One backend, two processes: when the child's reply was not read by the parent's libpq first,
    // it names the parent's backend.
    if (typeof child.session === 'number') expect(child.session).toBe(parent.session);
  });

  it("the child's statements land in the parent's open transaction", async () => {
    const run = await scenario('pool/transaction', 'unguarded');
    expect(run.timedOut, run.stderr).toBe(false);
    expect(run.results.parent.rows).not.toEqual(['before fork', 'parent']);
  });
});

describe.each(['tcp', 'unix', 'tls'])('guarded pg.native.Pool shared by a parent and two children over %s', (transport) => {
  it('0 wrong results, 0 parent errors, parent sessions unchanged', async () => {
    const run = await runFixture('share.mjs', { args: ['guarded', transport], env: NATIVE, timeoutMs: 90_000 });
    ok(run);
    const { parent, child1, child2 } = run.results;
    expect(parent.tally).toMatchObject({ wrong: 0, forked: 0, timeouts: 0, errors: {}, poolErrors: [] });
    expect(parent.tally.ok).toBeGreaterThan(100);
    expect(parent.after).toEqual(parent.before);
    expect(parent.connects).toBe(4);
    for (const [i, child] of [child1, child2].entries()) {
      expect(parent.children[i].status).toEqual({ code: 0, signal: null });
      expect(child.inFlightAtFork).toBeGreaterThan(0);
      expect(child.tally.forked).toBeLessThanOrEqual(4);
      expect(child.tally).toMatchObject({ wrong: 0, timeouts: 0, errors: {}, poolErrors: [] });
      expect(child.tally.ok).toBeGreaterThanOrEqual(100);
      expect(child.stats).toMatchObject({ generation: 1, total: 0, droppedInherited: 4 });
      expect(child.statsAfter.reconnects).toBeGreaterThan(0);
      expect(child.end).toBe('ended');
    }
  });

  // The pool's sockets are taken out of the registry before the fork: the child's copies are live,
  // so the parent's sessions survive only if the child sends nothing (no PQfinish, no Terminate).
  it("not a byte from the child, even to live inherited sockets: pool.end() and held clients", async () => {
    const end = await scenario('pool/child-end', 'untracked', transport);
    ok(end);
    childExitedCleanly(end.results.parent);
    expect(end.results.child.stats[0].droppedInherited).toBe(4);
    expect(end.results.parent.poolErrors).toEqual([]);
    expect(end.results.parent.after).toEqual(end.results.parent.before);
    const held = await scenario('pool/held', 'untracked', transport);
    ok(held);
    childExitedCleanly(held.results.parent);
    expect(held.results.child.query.name).toBe('ForkedConnectionError');
    expect(held.results.child.works).toBe(true);
    expect(held.results.parent.stillMine).toBe(held.results.parent.aPid);
  });
});

describe('guarded pg-native scenarios', () => {
  it('Client#cancel() of an inherited connection throws ForkedConnectionError; the parent query finishes', async () => {
    const run = await scenario('pg-native/cancel');
    ok(run);
    childExitedCleanly(run.results.parent);
    expect(run.results.child.cancel).toBe('ForkedConnectionError');
    expect(run.results.parent.result).toBe('finished');
  });

  it('a connect completed in the threadpool before the fork: its socket is severed in the child', async () => {
    const run = await scenario('pg-native/connecting', 'guarded', 'unix');
    ok(run);
    const { parent, child } = run.results;
    childExitedCleanly(parent);
    expect(child.dead).toEqual([true, true]); // the dead socket, not the parent's session
    expect(child.standalone).toBe('ForkedConnectionError');
    // The pool's waiting query was requested before the fork: the parent's, refused here.
    expect(child.result).toMatchObject({ name: 'ForkedConnectionError', kind: 'request' });
    expect(child.works).toBe(true);
    expect(parent.result).toBe(42);
    expect(parent.standalone).toBe('connected');
    expect(typeof parent.session).toBe('number');
  });

  it('a standalone pg.native.Client: one ForkedConnectionError in the child, the parent session intact', async () => {
    const run = await scenario('pg-native/client');
    ok(run);
    const { parent, child } = run.results;
    childExitedCleanly(parent);
    expect(child.errors).toEqual(['ForkedConnectionError']);
    expect(child.query.name).toBe('ForkedConnectionError');
    expect(child.ended).toBe('ended');
    expect(parent.errors).toEqual([]);
    expect(parent.after).toBe(parent.before);
  });

  it('unguarded, the same child kills the standalone client session (the test can fail)', async () => {
    const run = await scenario('pg-native/client', 'unguarded');
    ok(run);
    expect(run.results.parent.after).not.toBe(run.results.parent.before);
  });

  it('a transaction open across the fork commits once, in the parent', async () => {
    const run = await scenario('pool/transaction');
    ok(run);
    expect(run.results.child.outcome).toBe('ForkedConnectionError');
    expect(run.results.child.ok).toBe(20);
    expect(run.results.parent).toMatchObject({ outcome: 'committed', rows: ['before fork', 'parent'] });
  });

  it('LISTEN: the child gets one ForkedConnectionError and no notification; the parent gets all', async () => {
    const run = await scenario('pool/listen');
    ok(run);
    const { parent, child } = run.results;
    expect(child.notifications).toEqual([]);
    expect(child.errors).toEqual([{ name: 'ForkedConnectionError', code: 'ERR_FORKGUARD_FORKED_CONNECTION' }]);
    expect(parent.notifications).toHaveLength(20);
  });

  it('idle inherited clients leave before the loop polls; waiters are served once, by the parent', async () => {
    const idle = await scenario('pool/idle-no-listener');
    ok(idle);
    expect(idle.results.child.works).toBe(true);
    expect(idle.results.parent.after).toEqual(idle.results.parent.before);
    const waiters = await scenario('pool/waiters');
    ok(waiters);
    for (const r of waiters.results.child.got) expect(r).toMatchObject({ name: 'ForkedConnectionError', kind: 'request' });
    expect(waiters.results.parent.got).toEqual([101, 102, 103]);
  });
});
