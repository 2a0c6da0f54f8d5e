// Zero-code guarding: `--import pg-forkguard/register` / `-r pg-forkguard/register`.
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runFixture } from './helpers.js';

const root = join(__dirname, '..');

describe('pg-forkguard/register', () => {
  it('--import: pools and clients from import, require and a second copy of pg are all guarded', async () => {
    // A second, separate copy of pg (its dependencies resolve from the project's node_modules).
    const copyDir = join(root, '.tmp', 'pg-copy', 'node_modules');
    mkdirSync(copyDir, { recursive: true });
    cpSync(join(root, 'node_modules', 'pg'), join(copyDir, 'pg'), { recursive: true });
    const anchor = join(root, '.tmp', 'pg-copy', 'anchor.js');
    writeFileSync(anchor, '');
    const run = await runFixture('zero-code/app.mjs', {
      nodeArgs: ['--single-threaded', '--import', 'pg-forkguard/register'],
      env: { PG_COPY: anchor },
    });
    expect(run.code, run.stderr).toBe(0);
    const { parent, child } = run.results;
    expect(parent.shapes).toEqual({
      esmPool: true,
      cjsPool: true,
      copyPool: true,
      copyIsAnotherCopy: true,
      client: true,
      nativePool: true,
      nativeClient: true,
      sameClass: true,
      instanceOf: true,
      name: 'BoundPool',
    });
    expect(parent.child.status).toEqual({ code: 0, signal: null });
    expect(child.one).toBe(1);
    expect(child.stats[0]).toBe(2); // the ESM pool's two connections were dropped in the child
    expect(parent.after).toEqual(parent.before);
  });

  it('without it the same app guards nothing (the test can fail)', async () => {
    const run = await runFixture('zero-code/app.mjs', { nodeArgs: ['--single-threaded'], env: { SHAPES_ONLY: '1' } });
    expect(run.code, run.stderr).toBe(0);
    expect(run.results.shapes).toMatchObject({ esmPool: false, cjsPool: false, client: false, nativePool: false });
  });

  it('-r for CommonJS apps', async () => {
    const run = await runFixture('zero-code/app.cjs', { nodeArgs: ['--single-threaded', '-r', 'pg-forkguard/register'] });
    expect(run.code, run.stderr).toBe(0);
    expect(run.results.parent).toEqual({ guarded: true, status: { code: 0, signal: null } });
    expect(run.results.child).toEqual({ two: 2, dropped: 1 });
  });

  it('a pg it never saw (bundled into the app) is reported once, at the first fork(); a loaded pg is not', async () => {
    const hook = ['--single-threaded', '--import', 'pg-forkguard/register'];
    const bundled = await runFixture('zero-code/no-pg.mjs', { nodeArgs: hook });
    expect(bundled.code, bundled.stderr).toBe(0);
    expect(bundled.results.parent.warnings).toEqual(['FORKGUARD_NO_PG']);
    const loaded = await runFixture('zero-code/no-pg.mjs', { nodeArgs: hook, env: { LOAD_PG: '1' } });
    expect(loaded.code, loaded.stderr).toBe(0);
    expect(loaded.results.parent.warnings).toEqual([]);
  });
});
