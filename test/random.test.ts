import { describe, expect, it } from 'vitest';
import { runFixture } from './helpers.js';

async function draws(mode: 'fork' | 'raw' | 'raw-seen') {
  const run = await runFixture('random.mjs', { args: [mode] });
  expect(run.code, run.stderr).toBe(0);
  const { parent, child, child2 } = run.results;
  expect(child, `the child reported nothing; stderr:\n${run.stderr}`).toBeDefined();
  expect(parent.child.status).toEqual({ code: 0, signal: null });
  return { parent, child, child2 };
}

describe("a fork child does not repeat the parent's random values", () => {
  it('crypto.randomUUID(): unguarded the child hands out the parent’s next UUIDs (the cache is copied)', async () => {
    const { parent, child } = await draws('raw');
    expect(child.uuids.slice(0, 3)).toEqual(parent.uuids.slice(0, 3));
    expect(child.uuids[3]).not.toBe(parent.uuids[3]); // disableEntropyCache: straight from OpenSSL
    expect(child.bytes).not.toBe(parent.bytes); // OpenSSL reseeds in a new pid by itself
  });

  it('after fork() every UUID differs, between the parent and each of two children; Math.random() still repeats (documented caveat)', async () => {
    const { parent, child, child2 } = await draws('fork');
    expect(child2, 'the second child reported nothing').toBeDefined();
    expect(parent.child2.status).toEqual({ code: 0, signal: null });
    for (const u of child.uuids) expect(parent.uuids).not.toContain(u);
    for (const u of child2.uuids) expect([...parent.uuids, ...child.uuids]).not.toContain(u);
    expect(child.bytes).not.toBe(parent.bytes);
    expect(child.math).toEqual(parent.math); // V8's xorshift state has no reseed API
  });

  it('after a fork by other code that the canary saw, the child refreshes the cache itself before its loop polls', async () => {
    const { parent, child } = await draws('raw-seen');
    for (const u of child.uuids) expect(parent.uuids).not.toContain(u);
  });
});
