import { describe, expect, it } from 'vitest';
import { runFixture, type FixtureRun } from './helpers.js';

function checkChildren(run: FixtureRun, forks: number) {
  const main = run.results.main;
  expect(main, `fixture reported nothing; stderr:\n${run.stderr}`).toBeDefined();
  expect(main.hung, JSON.stringify(main.hung, null, 1)).toEqual([]);
  expect(main.crashed, JSON.stringify(main.crashed, null, 1)).toEqual([]);
  expect(main.wrongCode).toEqual([]);
  expect(main.ok).toBe(forks);
  for (let i = 0; i < forks; i++) {
    const c = run.results[`child-${i}`];
    expect(c, `child ${i} did not report`).toBeDefined();
    expect(c.pid).toBe(c.realPid);
    expect(c.generation).toBe(1);
    expect(c.tcp).toBe(`ping-${i}`);
    expect(c.fs).toBe(`data-${i}`);
    expect(c.dns).toMatch(/^(127\.0\.0\.1|::1)$/);
    expect(c.crypto).toBe(16);
    expect(c.promises).toBe('2,4,6');
    expect(c.gcRan).toBe(true);
  }
}

describe('a forked child survives and exits with its code', () => {
  it('200 sequential forks: timers, promises, TCP, fs, dns, crypto, GC; half process.exit, half drained loop', async () => {
    const run = await runFixture('survival.mjs', { env: { FORKS: '200' }, timeoutMs: 240_000 });
    expect(run.timedOut).toBe(false);
    expect(run.code, run.stderr).toBe(0);
    checkChildren(run, 200);
  });

  it('forks of a busy parent (1 ms timer with crypto, fs, allocation) with dns lookups in flight', async () => {
    const run = await runFixture('survival.mjs', {
      env: { FORKS: '60', BUSY: '1', DNS_IN_FLIGHT: '1' },
      timeoutMs: 180_000,
    });
    expect(run.timedOut).toBe(false);
    expect(run.code, run.stderr).toBe(0);
    checkChildren(run, 60);
    expect(run.results.main.parentTicks).toBeGreaterThan(50);
    expect(run.results.main.parentDns).toBe(60 * 4);
  });
});
