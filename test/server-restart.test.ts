// Postgres itself fails while forks happen: the guard never turns a server fault into a wrong result.
import { describe, expect, it } from 'vitest';
import { scenario } from './helpers.js';

describe('a server restart', () => {
  it('Postgres restarts while forks happen: both sides recover, no wrong result anywhere', async () => {
    const run = await scenario('pool/server-restart');
    expect(run.code, run.stderr).toBe(0);
    const { parent } = run.results;
    const children = Object.entries(run.results)
      .filter(([k]) => k.startsWith('child-'))
      .map(([, v]) => v);
    expect(parent.how).toMatch(/^(restarted|terminated)/);
    // The fault really hit: the parent's pool lost its sessions (errors, or idle clients dropped).
    expect(parent.load.errors + parent.poolErrors).toBeGreaterThan(0);
    expect(parent.children).toEqual([
      { code: 0, signal: null },
      { code: 0, signal: null },
      { code: 0, signal: null },
    ]);
    expect(children).toHaveLength(3);
    for (const c of children) expect(c).toMatchObject({ ok: 10, wrong: 0 });
    expect(parent.load.wrong).toBe(0);
    expect(parent.load.ok).toBeGreaterThan(0);
    expect(parent.recovered).toBe(20);
  });
});
