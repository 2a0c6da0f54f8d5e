// Real users sit behind libraries. Each library keeps 4 connections open in the parent, forks, and
// both processes run checked queries for 2 s (test/ecosystem/fixtures/harness.mjs): unguarded the
// corruption is real; under the zero-code hook, and with guard() where the library lets the app
// reach pg, nothing goes wrong in either process and the parent keeps its sessions. The libraries
// live in test/ecosystem/ (its own package.json), installed by its install.sh.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type FixtureRun, runFixture } from './helpers.js';
import { expectCleanLibraryRun } from './scenario-checks.js';

const register = join(__dirname, '..', 'dist', 'register.js');
// [library, does it let the app reach pg to call guard()?]
const libraries: Array<[string, boolean]> = [
  ['knex', true],
  ['kysely', true],
  ['drizzle', true],
  ['typeorm', true],
  ['sequelize', true],
  ['pg-promise', true],
  ['slonik', false],
  ['mikro-orm', true],
  ['prisma', true],
];

function scenario(library: string, mode: 'hook' | 'guard' | 'unguarded'): Promise<FixtureRun> {
  return runFixture(`../ecosystem/fixtures/${library}.mjs`, {
    args: [mode],
    nodeArgs: ['--single-threaded', ...(mode === 'hook' ? ['-r', register] : [])],
    timeoutMs: 90_000,
  });
}

describe.each(libraries)('%s', (library, reachable) => {
  it('unguarded: results reach the wrong process, or the parent loses its sessions', async () => {
    const run = await scenario(library, 'unguarded');
    const { parent, child } = run.results;
    const bad = (r: any) => (r ? r.tally.wrong + r.tally.timeouts + Object.values<number>(r.tally.errors).reduce((a, b) => a + b, 0) : 1);
    const harmed = bad(parent) + bad(child) > 0 || JSON.stringify(parent?.after) !== JSON.stringify(parent?.before);
    expect(harmed, JSON.stringify(run.results)).toBe(true);
  });

  it('zero code (-r pg-forkguard/register): 0 wrong, 0 errors in either process, parent sessions intact', async () => {
    expectCleanLibraryRun(await scenario(library, 'hook'), true);
  });

  // Slonik hands out no pg.Client: its row in the README says so, and there is no guard() run.
  if (reachable) {
    it('guard() where the library hands over pg: the same', async () => {
      expectCleanLibraryRun(await scenario(library, 'guard'), true);
    });
  }
});
