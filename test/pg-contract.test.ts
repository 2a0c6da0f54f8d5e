// pg's and pg-pool's private members, which src/pg-internals.ts alone knows: each one it relies on
// exists on live objects (here for the project's pg; test/pg-versions.test.ts for each tested
// version), and a pg outside the tested range is refused by name rather than run half-patched.
import { describe, expect, it } from 'vitest';
import { ok, runFixture } from './helpers.js';

describe("pg's internals, contained and version-checked", () => {
  it('every private member the guard relies on is there', async () => {
    const run = await runFixture('pg-contract.cjs');
    ok(run);
    expect(run.results.result.missing).toEqual([]);
    expect(run.results.result.versions.pg).toMatch(/^8\./);
    expect(run.results.result.versions.pgPool).toMatch(/^3\./);
  });

  it('a member gone from pg is reported (the check can fail)', async () => {
    const run = await runFixture('pg-contract.cjs', { env: { BREAK: 'secretKey' } });
    ok(run);
    expect(run.results.result.missing).toContain('client.secretKey');
  });

  it('guard() refuses a pg outside the range, naming both versions; the hook leaves it alone, with a warning', async () => {
    const run = await runFixture('unknown-pg.cjs', { nodeArgs: ['--single-threaded'] });
    ok(run);
    const { result } = run.results;
    expect(result.guard).toMatchObject({ name: 'IncompatiblePoolError', code: 'ERR_FORKGUARD_INCOMPATIBLE_POOL' });
    expect(result.guard.message).toMatch(/supports pg >=8\.11 <9 with pg-pool >=3\.6 <4; this process has pg 9\.0\.0 and pg-pool 3\.\d+\.\d+/);
    const hooked = await runFixture('unknown-pg.cjs', { nodeArgs: ['--single-threaded', '-r', 'pg-forkguard/register'] });
    ok(hooked);
    expect(hooked.results.result.warnings).toContain('FORKGUARD_UNGUARDED');
    expect(hooked.results.result.hookGuarded).toBe(false);
  });
});
