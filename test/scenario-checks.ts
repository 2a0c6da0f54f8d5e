// What the core fork scenarios must show, in one place: guard.test.ts, process-tree.test.ts and pgbouncer.test.ts check the
// project's pg with them, pg-versions.test.ts every other tested pg version.
import { expect } from 'vitest';
import { type FixtureRun, childExitedCleanly, ok } from './helpers.js';

/** Unguarded share.mjs: results reach the wrong process, with no error at all. */
export function expectWrongResults(run: FixtureRun): void {
  expect(run.timedOut, run.stderr).toBe(false);
  const { parent, child1, child2 } = run.results;
  const wrong = [parent, child1, child2].filter(Boolean).reduce((n, r) => n + r.tally.wrong, 0);
  expect(wrong).toBeGreaterThan(0);
  // A sample: a value one process sent, answered to the other.
  const sample = [parent, child1, child2].find((r) => r?.tally.samples.length)!.tally.samples[0];
  expect(sample.got).not.toBe(sample.sent);
}

/** Guarded share.mjs: 0 wrong, parent sessions unchanged, 100+ queries in each child. */
export function expectCleanShare(run: FixtureRun): void {
  ok(run);
  const { parent, child1, child2 } = run.results;
  expect(parent.tally).toMatchObject({ wrong: 0, forked: 0, timeouts: 0, errors: {}, poolErrors: [] });
  expect(parent.tally.ok).toBeGreaterThan(100);
  // The same backends before and after two forks, and no reconnect in the parent.
  expect(parent.after).toEqual(parent.before);
  expect(parent.before).toHaveLength(4);
  expect(parent.connects).toBe(4);
  for (const [i, child] of [child1, child2].entries()) {
    expect(parent.children[i].hung).toBe(false);
    expect(parent.children[i].status).toEqual({ code: 0, signal: null });
    // Queries were in flight on the inherited connections at the fork ...
    expect(child.inFlightAtFork).toBeGreaterThan(0);
    // ... and failed with ForkedConnectionError (one per worker at most), never with a wrong row.
    expect(child.tally.forked).toBeLessThanOrEqual(4);
    expect(child.tally).toMatchObject({ wrong: 0, timeouts: 0, errors: {}, poolErrors: [] });
    // Real work on fresh sessions: 100+ in 2 s natively. Under qemu-user (test/arm64.test.ts) the
    // child runs many times slower (5 over TLS in one CI run, with other jobs on the 2 cores): there
    // the count only has to show that fresh sessions served it; the checks above are the point.
    expect(child.tally.ok).toBeGreaterThanOrEqual(process.env.FG_FIXTURE_NODE ? 1 : 100);
    expect(child.ms).toBeGreaterThanOrEqual(2000);
    // Inherited connections were dropped before the child ran anything, fresh ones opened.
    expect(child.stats).toMatchObject({ name: 'share', generation: 1, total: 0, droppedInherited: 4 });
    expect(child.statsAfter.reconnects).toBeGreaterThan(0);
    expect(child.end).toBe('ended');
  }
}

/** Unguarded 'child-end': the child's pool.end() terminates the parent's sessions. */
export function expectParentKilled(run: FixtureRun): void {
  ok(run);
  const { parent } = run.results;
  expect(parent.poolErrors.length).toBeGreaterThan(0);
  expect(parent.poolErrors[0]).toBe('Connection terminated unexpectedly');
  expect(parent.after).not.toEqual(parent.before);
}

/** Guarded 'child-end': the child's pool.end() ends only the child's connections. */
export function expectChildEndsOnlyItsOwn(run: FixtureRun): void {
  ok(run);
  const { parent, child } = run.results;
  childExitedCleanly(parent);
  expect(child.end).toBe('ended');
  expect(parent.poolErrors).toEqual([]);
  expect(parent.after).toEqual(parent.before);
  expect(parent.works).toBe(true);
}

/** Guarded 'held': a client held across the fork fails with the typed error; release is safe. */
export function expectHeldClientRefused(run: FixtureRun): void {
  ok(run);
  const { parent, child } = run.results;
  childExitedCleanly(parent);
  expect(child.query).toMatchObject({
    name: 'ForkedConnectionError',
    code: 'ERR_FORKGUARD_FORKED_CONNECTION',
    ownerPid: parent.pid,
    currentPid: child.pid,
    poolName: 'held',
  });
  expect(child.query.checkoutStack).toBeUndefined();
  expect(child.queryCb).toBe('ForkedConnectionError');
  expect(child.processID).toBeNull(); // the cancel key is wiped
  expect(child.releaseA).toBe('ok');
  expect(child.releaseB).toBe('ok');
  expect(child.works).toBe(true);
  expect(child.total).toBe(1);
  // The parent's held client is still its own session.
  expect(parent.stillMine).toBe(parent.aPid);
  expect(parent.works).toBe(true);
}

/** Guarded 'inflight': queries on the wire at the fork reject in the child, complete in the parent. */
export function expectInFlightRejectedInChild(run: FixtureRun): void {
  ok(run);
  const { parent, child } = run.results;
  childExitedCleanly(parent);
  expect(child.slow).toMatchObject({ name: 'ForkedConnectionError', poolName: 'inflight' });
  expect(child.slow.error).toMatch(/^A query in flight when the process forked/);
  expect(child.piped).toHaveLength(5);
  for (const p of child.piped) expect(p).toMatchObject({ name: 'ForkedConnectionError', ownerPid: parent.pid });
  expect(child.works).toBe(true);
  expect(child.ok).toBe(20);
  expect(parent.slow).toBe('slow');
  expect(parent.piped).toEqual([1, 2, 3, 4, 5]);
}

/** Guarded 'tx': a transaction open across the fork commits exactly once, in the parent. */
export function expectTransactionOnce(run: FixtureRun): void {
  ok(run);
  const { parent, child } = run.results;
  childExitedCleanly(parent);
  expect(child.outcome).toBe('ForkedConnectionError');
  expect(child.ok).toBe(20);
  expect(parent.outcome).toBe('committed');
  expect(parent.rows).toEqual(['before fork', 'parent']);
}

/** stress.mjs: every fork clean, no wrong result or error anywhere, parent sessions unchanged. */
export function expectCleanStorm(run: FixtureRun, forks: number, childQueries: number): void {
  expect(run.code, run.stderr).toBe(0);
  const r = run.results.parent;
  expect(r.failures).toEqual([]);
  expect(r).toMatchObject({ forks, clean: forks, childQueries, wrong: 0, errors: 0, hung: 0, crashed: 0, parentWrong: 0, pidChanges: 0 });
  expect(r.parentErrors).toEqual({});
  expect(r.parentQueries).toBeGreaterThan(0);
}

/**
 * An ecosystem library's fork scenario (test/ecosystem/fixtures/harness.mjs): 0 wrong, 0 errors in
 * either process, the child closed the library. `sameSessions`: the parent kept its 4 backends
 * (not a thing to ask behind PgBouncer's transaction pooling, where a backend serves a transaction).
 */
export function expectCleanLibraryRun(run: FixtureRun, sameSessions: boolean): void {
  expect(run.code, run.stderr).toBe(0);
  const { parent, child } = run.results;
  expect(parent.child).toEqual({ code: 0, signal: null });
  for (const [who, r] of [['parent', parent], ['child', child]] as const) {
    expect(r.tally, `${who}: ${run.stderr}`).toMatchObject({ wrong: 0, errors: {}, timeouts: 0 });
    expect(r.tally.ok, who).toBeGreaterThan(20);
  }
  expect(child.closed).toBe('closed');
  if (sameSessions) {
    expect(parent.before).toHaveLength(4);
    expect(parent.after).toEqual(parent.before); // the same 4 sessions: the child never touched them
  }
}
