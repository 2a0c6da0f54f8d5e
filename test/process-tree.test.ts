// Forks of forks, and many forks at once: each process drops only what it inherited.
import { describe, expect, it } from 'vitest';
import { runFixture, scenario } from './helpers.js';
import { expectCleanStorm } from './scenario-checks.js';

describe('a grandchild', () => {
  it('a grandchild drops the child’s connections; child and parent keep theirs', async () => {
    const run = await scenario('process-tree/grandchild');
    expect(run.code, run.stderr).toBe(0);
    const { parent, child, grandchild } = run.results;
    expect(parent.child.status).toEqual({ code: 0, signal: null });
    expect(child.grandchild.status).toEqual({ code: 0, signal: null });
    expect(grandchild).toMatchObject({ ok: 20, generation: 2 });
    expect(grandchild.stats[0].droppedInherited).toBe(4);
    expect(child.mineAfter).toEqual(child.mineBefore);
    expect(child.mineBefore).not.toEqual(parent.before);
    expect(child.ok).toBe(20);
    expect(parent.after).toEqual(parent.before);
    expect(parent.ok).toBe(20);
  });
});

describe('fork storm', () => {
  it('50 forks (25 one at a time, 25 four at a time) under parent load: all zero', async () => {
    expectCleanStorm(await runFixture('stress.mjs', { env: { FORKS: '25', PARALLEL: '4' }, timeoutMs: 180_000 }), 50, 5000);
  });});
