// One wiring order (src/wiring.ts) from every entry point: in a new process, guarded pools are
// reset first, then what addResettable() added, then the onFork 'child' hooks; the same whether the
// app imported pg-forkguard or ran under --import pg-forkguard/register.
import { describe, expect, it } from 'vitest';
import { ok, runFixture } from './helpers.js';

describe('the order of a new process’s work', () => {
  it.each([
    ['import pg-forkguard', ['--single-threaded']],
    ['--import pg-forkguard/register', ['--single-threaded', '--import', 'pg-forkguard/register']],
  ])('%s: pools, then resettables, then onFork child hooks', async (_, nodeArgs) => {
    const run = await runFixture('wiring/order.mjs', { nodeArgs });
    ok(run);
    const { parent, child } = run.results;
    expect(parent.status).toMatchObject({ status: { code: 0, signal: null }, hung: false });
    expect(parent.log).toEqual([]);
    expect(child.log).toEqual(['resettable (pool dropped 1)', 'onFork child (pool dropped 1)']);
  });
});
