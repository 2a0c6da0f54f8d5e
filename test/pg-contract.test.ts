// pg's and pg-pool's private members, which src/seams/pg.ts alone knows: each one it touches
// exists on live objects (here for the project's pg; test/pg-versions.test.ts for each tested
// version), and a pg outside the tested range is refused by name rather than run half-patched. The
// contract is read out of the seam's source, and no other file reaches pg's privates.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ok, runFixture } from './helpers.js';
// @ts-expect-error: a CommonJS helper with no types
import { accessesOutside, pgMembers } from './support/seam-members.cjs';

const root = join(__dirname, '..');
const seam = join(root, 'src', 'seams', 'pg.ts');

describe("pg's internals, contained and version-checked", () => {
  it('every private member the seam touches is there (the contract is read from the seam)', async () => {
    const members = Object.keys(pgMembers(seam));
    // What the guard relies on most is found in the source, not listed here: a sample to be sure.
    expect(members).toEqual(expect.arrayContaining(['PgClient.secretKey', 'PgPool._pendingQueue', 'PgPool._acquireClient', 'IdleItem.idleListener', 'Libpq.$socket']));
    const run = await runFixture('pg-contract.cjs');
    ok(run);
    expect(run.results.result.missing).toEqual([]);
    expect(run.results.result.unchecked).toEqual([]); // pg-native is installed here
    expect(run.results.result.checked).toBe(members.length);
    expect(run.results.result.versions.pg).toMatch(/^8\./);
    expect(run.results.result.versions.pgPool).toMatch(/^3\./);
  });

  it('a member gone from pg is reported (the check can fail)', async () => {
    const run = await runFixture('pg-contract.cjs', { env: { BREAK: 'secretKey' } });
    ok(run);
    expect(run.results.result.missing).toContain('PgClient.secretKey');
    // An optional one too: it is not let through by its name in pg's source once it is gone.
    const optional = await runFixture('pg-contract.cjs', { env: { BREAK: 'connectionTimeoutHandle' } });
    ok(optional);
    expect(optional.results.result.missing).toContain('PgClient.connectionTimeoutHandle');
  });

  it('a member the seam starts to use is checked from then on, with no list to update', async () => {
    const dir = join(root, '.tmp', 'seam-mutant');
    mkdirSync(dir, { recursive: true });
    const mutant = join(dir, 'pg.ts');
    const source = readFileSync(seam, 'utf8')
      .replace('export interface PgClient extends EventEmitter {', 'export interface PgClient extends EventEmitter {\n  _noSuchMember: number;')
      .concat('\nexport function noSuchMember(client: PgClient): number {\n  return client._noSuchMember;\n}\n');
    writeFileSync(mutant, source);
    const run = await runFixture('pg-contract.cjs', { env: { FG_SEAM: mutant } });
    ok(run);
    expect(run.results.result.missing).toEqual(['PgClient._noSuchMember']);
  });

  it("no other file reaches pg's or Node's private members: the seams are the only door", () => {
    const files = [
      ...['index.ts', 'register.ts', 'wiring.ts'].map((f) => join(root, 'src', f)),
      ...['shared', 'runtime', 'guard', 'auto-guard', 'prefork', 'pool-registry'].flatMap((d) =>
        require('node:fs').readdirSync(join(root, 'src', d)).filter((f: string) => f.endsWith('.ts')).map((f: string) => join(root, 'src', d, f)),
      ),
    ];
    // pg-pool's documented counters, and a socket's own destroy(): public API.
    const publicApi = ['PgPool.totalCount', 'PgPool.idleCount', 'PgPool.waitingCount', 'Stream.destroy'];
    expect(accessesOutside(files, seam, publicApi)).toEqual([]);
  });

  it('the door check can fail: a file reaching a private member is named', () => {
    const dir = join(root, '.tmp', 'door-mutant');
    mkdirSync(join(dir, 'seams'), { recursive: true });
    mkdirSync(join(dir, 'guard'), { recursive: true });
    writeFileSync(join(dir, 'seams', 'pg.ts'), readFileSync(seam, 'utf8'));
    const intruder = join(dir, 'guard', 'intruder.ts');
    writeFileSync(
      intruder,
      "import type { PgClient } from '../seams/pg.js';\nexport const key = (c: PgClient) => c.secretKey;\nexport const handles = () => (process as any)._getActiveHandles();\n",
    );
    const found = accessesOutside([intruder], join(dir, 'seams', 'pg.ts'), []);
    expect(found).toEqual([`${intruder}:2 PgClient.secretKey`, `${intruder}:3 (process as any)._getActiveHandles`]);
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
