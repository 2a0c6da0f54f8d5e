// Through PgBouncer (the harness starts one per pooling mode in front of its Postgres): the fork
// guarantees hold in session and transaction pooling. What a child could do to the parent here is
// to its connections to PgBouncer (and, through PgBouncer's cancel keys, to its queries). In
// transaction pooling a backend serves a transaction, not a connection, so backend pids are no
// identity there: the parent's health is its errors and answers.
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { type FixtureRun, childExitedCleanly, ok, runFixture } from './helpers.js';
import { expectChildEndsOnlyItsOwn, expectCleanLibraryRun, expectWrongResults } from './scenario-checks.js';

const bouncer = inject('pgbouncer');
const register = join(__dirname, '..', 'dist', 'register.js');
const via = (mode: 'session' | 'transaction') => ({ PG_TCP_URL: bouncer[mode].tcpUrl, PG_TLS_URL: bouncer[mode].tlsUrl });

describe.each(['session', 'transaction'] as const)('PgBouncer, %s pooling', (mode) => {
  const env = via(mode);
  const scenario = (name: string, guarded = 'guarded') =>
    runFixture(`${name}.mjs`, { args: [guarded, 'tcp'], env, timeoutMs: 90_000 });

  it.each(['tcp', 'tls'])('fork storm over %s: every child clean, nothing wrong anywhere', async (transport) => {
    const run = await runFixture('stress.mjs', {
      env: { ...env, FORKS: '5', PARALLEL: '2', CHILD_QUERIES: '50', TRANSPORT: transport },
      timeoutMs: 120_000,
    });
    expect(run.code, run.stderr).toBe(0);
    const r = run.results.parent;
    expect(r.failures).toEqual([]);
    expect(r).toMatchObject({ forks: 10, clean: 10, childQueries: 500, wrong: 0, errors: 0, hung: 0, crashed: 0, parentWrong: 0 });
    expect(r.parentErrors).toEqual({});
    if (mode === 'session') expect(r.pidChanges).toBe(0);
  });

  it('unguarded: results reach the wrong process', async () => {
    expectWrongResults(await runFixture('share.mjs', { args: ['unguarded', 'tcp'], env, timeoutMs: 90_000 }));
  });

  it("a child's pool.end() leaves the parent's connections; unguarded it ends them", async () => {
    const unguarded = await scenario('pool/child-end', 'unguarded');
    ok(unguarded);
    expect(unguarded.results.parent.poolErrors.length).toBeGreaterThan(0);
    const guarded = await scenario('pool/child-end');
    if (mode === 'session') expectChildEndsOnlyItsOwn(guarded);
    else {
      ok(guarded);
      childExitedCleanly(guarded.results.parent);
      expect(guarded.results.child.end).toBe('ended');
      expect(guarded.results.parent.poolErrors).toEqual([]);
      expect(guarded.results.parent.works).toBe(true);
    }
  });

  it("a child cannot cancel the parent's query through PgBouncer's cancel keys; unguarded it can", async () => {
    const unguarded = await scenario('pool/cancel', 'unguarded');
    ok(unguarded);
    expect(unguarded.results.parent.result).not.toBe('finished');
    const run = await scenario('pool/cancel');
    ok(run);
    const { parent, child } = run.results;
    childExitedCleanly(parent);
    expect(child).toMatchObject({ processID: null, secretKey: null, guardedCancel: 'ForkedConnectionError', plainCancel: 'ForkedConnectionError' });
    expect(parent.result).toBe('finished');
  });
});

describe('the libraries through PgBouncer in transaction pooling (zero code)', () => {
  const libraries = ['knex', 'kysely', 'drizzle', 'typeorm', 'sequelize', 'pg-promise', 'slonik', 'mikro-orm', 'prisma'];
  it.each(libraries)('%s: 0 wrong, 0 errors in either process', async (library) => {
    const run: FixtureRun = await runFixture(`../ecosystem/fixtures/${library}.mjs`, {
      args: ['hook'],
      nodeArgs: ['--single-threaded', '-r', register],
      env: via('transaction'),
      timeoutMs: 90_000,
    });
    expectCleanLibraryRun(run, false);
  });
});
