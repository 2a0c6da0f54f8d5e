// The guard's core scenarios against every tested pg 8 minor, each with the pg-pool it shipped with
// (test/pg-versions/pg-*/, installed by its install.sh): the internals contract, the fork storm
// over TCP, unix sockets and TLS, the faults a pool meets at a fork (with their unguarded twins),
// and the drop-in checks. The project's own pg (the newest) runs the full suite.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ok, runFixture } from './helpers.js';
import {
  expectChildEndsOnlyItsOwn,
  expectCleanStorm,
  expectHeldClientRefused,
  expectInFlightRejectedInChild,
  expectParentKilled,
  expectTransactionOnce,
  expectWrongResults,
} from './scenario-checks.js';

const root = join(__dirname, 'pg-versions');
const versions = readdirSync(root).filter((d) => d.startsWith('pg-'));

describe.each(versions)('%s', (version) => {
  const env = { FG_PG_DIR: join(root, version) };
  const scenario = (name: string, mode = 'guarded') =>
    runFixture(`${name}.mjs`, { args: [mode, 'tcp'], env, timeoutMs: 90_000 });

  it('every private member the guard relies on is there, and it is the version pinned', async () => {
    const run = await runFixture('pg-contract.cjs', { env });
    ok(run);
    expect(run.results.result.missing).toEqual([]);
    expect(run.results.result.versions.pg).toBe(version.slice(3) + '.0');
  });

  it.each(['tcp', 'unix', 'tls'])('fork storm over %s: every child clean, nothing wrong anywhere', async (transport) => {
    const run = await runFixture('stress.mjs', {
      env: { ...env, FORKS: '5', PARALLEL: '2', CHILD_QUERIES: '50', TRANSPORT: transport },
      timeoutMs: 120_000,
    });
    expectCleanStorm(run, 10, 500);
  });

  it('unguarded, results reach the wrong process and a child kills the parent sessions', async () => {
    expectWrongResults(await runFixture('share.mjs', { args: ['unguarded', 'tcp'], env, timeoutMs: 90_000 }));
    expectParentKilled(await scenario('pool/child-end', 'unguarded'));
  });

  it("guarded: a child's pool.end(), a held client, queries in flight, an open transaction", async () => {
    expectChildEndsOnlyItsOwn(await scenario('pool/child-end'));
    expectHeldClientRefused(await scenario('pool/held'));
    expectInFlightRejectedInChild(await scenario('pool/inflight'));
    expectTransactionOnce(await scenario('pool/transaction'));
  });

  it('drop-in: the same classes, prototype patches and timeout errors plain, hooked and guarded', async () => {
    for (const file of ['identity.cjs', 'patches.cjs', 'timeouts.cjs']) {
      const answers: Record<string, any> = {};
      for (const mode of ['plain', 'hook', 'guard']) {
        const run = await runFixture(`drop-in/${file}`, {
          nodeArgs: ['--single-threaded', ...(mode === 'hook' ? ['-r', 'pg-forkguard/register'] : [])],
          env: { ...env, FG_MODE: mode },
        });
        ok(run);
        // Really guarded in the other modes, or the comparison would hold trivially.
        if (file === 'identity.cjs' && mode !== 'plain') expect(run.results.result.guarded).toEqual([true, true]);
        answers[mode] = JSON.parse(JSON.stringify(run.results.result, (k, v) => (k === 'guarded' || k === 'detail' ? undefined : v)));
      }
      expect(answers.hook, `${version} ${file}`).toEqual(answers.plain);
      expect(answers.guard, `${version} ${file}`).toEqual(answers.plain);
    }
  });
});
