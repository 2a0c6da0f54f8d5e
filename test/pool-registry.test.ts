// The pool registry and the per-pool checkout guards, on a real Postgres, in one process (the fork
// case runs in test/fixtures/pool-registry/fork.mjs).
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import {
  ForkGuardError,
  InvalidArgumentError,
  PoolLimitError,
  createPoolRegistry,
  guard,
  isGuarded,
  type PoolRegistry,
} from '../dist/index.js';
import { runFixture } from './helpers.js';

const db = inject('pg');
const registries: Array<PoolRegistry<string, pg.Pool>> = [];
const pools: pg.Pool[] = [];
afterEach(async () => {
  await Promise.all(registries.splice(0).map((r) => r.end()));
  await Promise.all(pools.splice(0).map((p) => p.end().catch(() => {})));
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function registry(options: Partial<Parameters<typeof createPoolRegistry<string, pg.Pool>>[0]> = {}) {
  const created: string[] = [];
  const evicted: Array<[string, string]> = [];
  const r = createPoolRegistry<string, pg.Pool>({
    create: (key) => {
      created.push(key);
      return new pg.Pool({ connectionString: db.tcpUrl, max: 2, application_name: `fg-${key}` });
    },
    onEvict: (key, reason) => evicted.push([key, reason]),
    ...options,
  });
  registries.push(r);
  return { r, created, evicted };
}

async function warningsDuring<T>(fn: () => Promise<T>): Promise<{ result: T; warnings: Array<{ code?: string; message: string }> }> {
  const warnings: Array<{ code?: string; message: string }> = [];
  const listener = (w: Error & { code?: string }) => warnings.push({ code: w.code, message: w.message });
  process.on('warning', listener);
  try {
    const result = await fn();
    await sleep(10); // warnings are emitted on the next tick
    return { result, warnings };
  } finally {
    process.off('warning', listener);
  }
}

describe('createPoolRegistry: bad options get a typed error', () => {
  it.each([
    ['no options', undefined, /options must be an object with a create\(key\) function/],
    ['no create', {}, /options.create must be a function/],
    ['unknown option', { create: () => null, maxPool: 2 }, /unknown option 'maxPool'/],
    ['maxPools 0', { create: () => null, maxPools: 0 }, /maxPools must be a positive integer \(or Infinity\), got number 0/],
    ['maxPools 1.5', { create: () => null, maxPools: 1.5 }, /maxPools must be a positive integer/],
    ['idleTimeoutMs negative', { create: () => null, idleTimeoutMs: -1 }, /idleTimeoutMs must be a positive number/],
    ['reapIntervalMs NaN', { create: () => null, reapIntervalMs: NaN }, /reapIntervalMs must be a positive number, got number NaN/],
    ['waitTimeoutMs string', { create: () => null, waitTimeoutMs: '5' }, /waitTimeoutMs must be a positive number/],
    ['overflow unknown', { create: () => null, overflow: 'block' }, /overflow must be 'throw', 'wait' or 'allow', got the string "block"/],
    ['onEvict not a function', { create: () => null, onEvict: 1 }, /onEvict must be a function/],
    ['protectedKeys not iterable', { create: () => null, protectedKeys: 5 }, /protectedKeys must be iterable/],
  ])('%s', (_, options, message) => {
    let err: any;
    try {
      createPoolRegistry(options as any);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(err).toBeInstanceOf(ForkGuardError);
    expect(err.message).toMatch(message);
  });

  it('create() returning something other than a pool rejects get()', async () => {
    const r = createPoolRegistry({ create: () => ({}) as any });
    registries.push(r as any);
    await expect(r.get('x')).rejects.toThrow(/create\("x"\) must return a pg.Pool, returned an instance of Object/);
    expect(r.stats().pools).toBe(0); // the slot is free again
  });
});

describe('pool registry', () => {
  it('creates one guarded pool per key; concurrent get() of one key creates one pool', async () => {
    const { r, created } = registry();
    const [a1, a2, b] = await Promise.all([r.get('a'), r.get('a'), r.get('b')]);
    expect(a1).toBe(a2);
    expect(a1).not.toBe(b);
    expect(created).toEqual(['a', 'b']);
    expect(isGuarded(a1)).toBe(true);
    expect((await a1.query('SELECT current_setting($1) AS n', ['application_name'])).rows[0].n).toBe('fg-a');
    expect(await r.get('a')).toBe(a1);
  });

  it('at maxPools evicts the least recently used idle pool', async () => {
    const { r, created, evicted } = registry({ maxPools: 2 });
    const a = await r.get('a');
    await a.query('SELECT 1');
    await sleep(5);
    const b = await r.get('b');
    await b.query('SELECT 1');
    await sleep(5);
    await (await r.get('a')).query('SELECT 1'); // a is now more recent than b
    await sleep(5);
    const c = await r.get('c');
    await c.query('SELECT 1');
    expect(evicted).toEqual([['b', 'lru']]);
    expect(r.stats()).toMatchObject({ pools: 2, evictions: 1 });
    expect(r.stats().keys.map((k) => k.key).sort()).toEqual(['a', 'c']);
    expect((b as any).ended || (b as any).ending).toBe(true);
    expect(created).toEqual(['a', 'b', 'c']);
  });

  it("a busy pool is never evicted; overflow 'throw' names the cap and the busy keys", async () => {
    const { r, evicted } = registry({ maxPools: 1, overflow: 'throw' });
    const a = await r.get('a');
    const held = await a.connect();
    const err = await r.get('b').catch((e) => e);
    expect(err).toBeInstanceOf(PoolLimitError);
    expect(err.code).toBe('ERR_FORKGUARD_POOL_LIMIT');
    expect(err.maxPools).toBe(1);
    expect(err.busyKeys).toEqual(['a']);
    expect(err.message).toMatch(/cannot open a pool for key "b": 1 pools \(maxPools\) are open and none can be evicted \(busy or protected: a\)/);
    expect(evicted).toEqual([]);
    held.release();
  });

  it("overflow 'wait': served when a pool comes free; times out with PoolLimitError", async () => {
    const { r, evicted } = registry({ maxPools: 1, overflow: 'wait', waitTimeoutMs: 2000 });
    const a = await r.get('a');
    const held = await a.connect();
    const waiting = r.get('b');
    await sleep(100);
    expect(r.stats().waiters).toBe(1);
    held.release();
    const b = await waiting;
    expect((await b.query('SELECT 7 AS v')).rows[0].v).toBe(7);
    expect(evicted).toEqual([['a', 'lru']]);

    const held2 = await b.connect();
    const started = Date.now();
    const err = await createPoolRegistryTimeout(r);
    expect(err).toBeInstanceOf(PoolLimitError);
    expect(err.message).toMatch(/after waiting \d+ ms \(waitTimeoutMs\)/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    held2.release();
  });

  async function createPoolRegistryTimeout(r: PoolRegistry<string, pg.Pool>) {
    return r.get('c').catch((e) => e);
  }

  it("concurrent get() of many keys never goes over the cap under 'wait'", async () => {
    let live = 0;
    let most = 0;
    const r = createPoolRegistry<string, pg.Pool>({
      create: () => {
        most = Math.max(most, ++live);
        return new pg.Pool({ connectionString: db.tcpUrl, max: 1 });
      },
      onEvict: () => live--,
      maxPools: 2,
      overflow: 'wait',
    });
    registries.push(r);
    const keys = ['k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k1', 'k3'];
    const got = await Promise.all(
      keys.map(async (k, i) => (await (await r.get(k)).query('SELECT $1::int AS v', [i])).rows[0].v),
    );
    expect(got).toEqual(keys.map((_, i) => i));
    expect(most).toBeLessThanOrEqual(2);
    expect(r.stats().pools).toBeLessThanOrEqual(2);
  });

  it("overflow 'allow': admits over the cap and reports it", async () => {
    const { r } = registry({ maxPools: 1, overflow: 'allow' });
    const a = await r.get('a');
    const held = await a.connect();
    const { result: b, warnings } = await warningsDuring(() => r.get('b'));
    expect(b).not.toBe(a);
    expect(r.stats()).toMatchObject({ pools: 2, overflowed: 1 });
    expect(warnings.map((w) => w.code)).toEqual(['FORKGUARD_REGISTRY_OVERFLOW']);
    held.release();
  });

  it('protected keys are never evicted by LRU or the reaper', async () => {
    const { r, evicted } = registry({ maxPools: 1, overflow: 'throw', protectedKeys: ['main'], idleTimeoutMs: 1 });
    await (await r.get('main')).query('SELECT 1');
    await sleep(20);
    expect(await r.runCycle()).toBe(0);
    await expect(r.get('other')).rejects.toBeInstanceOf(PoolLimitError);
    expect(evicted).toEqual([]);
    expect(await r.evict('main')).toBe(true); // an explicit evict still can
    expect(evicted).toEqual([['main', 'manual']]);
    expect(await r.evict('main')).toBe(false);
  });

  it('the reaper evicts pools idle longer than idleTimeoutMs, never busy ones; runCycle() resolves to the count', async () => {
    const { r, evicted } = registry({ idleTimeoutMs: 200, reapIntervalMs: 50 });
    await (await r.get('idle')).query('SELECT 1');
    const busy = await r.get('busy');
    const held = await busy.connect();
    await sleep(600);
    expect(evicted).toEqual([['idle', 'idle']]); // by the timer
    expect(r.stats().keys.map((k) => k.key)).toEqual(['busy']);
    r.stop(); // from here on, only runCycle()
    held.release();
    expect(await r.runCycle()).toBe(0); // just used
    await sleep(250);
    expect(await r.runCycle()).toBe(1);
    expect(evicted).toEqual([
      ['idle', 'idle'],
      ['busy', 'idle'],
    ]);
  });

  it('stats() totals; end() ends every pool and fails later get()', async () => {
    const { r, evicted } = registry();
    const a = await r.get('a');
    const b = await r.get('b');
    const held = await a.connect();
    await b.query('SELECT 1');
    expect(r.stats()).toMatchObject({ name: 'registry', pools: 2, connections: 2, busy: 1, idle: 1, waiting: 0, evictions: 0, inheritedDrops: 0 });
    held.release();
    await r.end();
    expect(evicted.map(([, reason]) => reason)).toEqual(['end', 'end']);
    expect((a as any).ended).toBe(true);
    await expect(r.get('a')).rejects.toThrow(/get\("a"\) after end\(\)/);
  });

  it('in a fork child: pools reset as inherited, the reaper runs on, evictions end only the child’s connections', async () => {
    const run = await runFixture('pool-registry/fork.mjs', { timeoutMs: 60_000 });
    expect(run.code, run.stderr).toBe(0);
    const { parent, child } = run.results;
    expect(parent.child).toEqual({ status: { code: 0, signal: null }, hung: false });
    // The child dropped every inherited connection, its reaper evicted the idle pools ...
    expect(child.atFork).toMatchObject({ pools: 3, connections: 0, inheritedDrops: 6 });
    expect(child.evicted.sort()).toEqual(['a:idle', 'b:idle', 'c:idle']);
    expect(child.afterReap.pools).toBe(0);
    expect(child.fresh).toBe(7);
    // ... and the parent's sessions are the same ones, never reaped, no errors.
    expect(parent.after).toEqual(parent.before);
    expect(parent.errors).toEqual([]);
    expect(parent.evicted).toEqual([]);
    expect(parent.queries).toBeGreaterThan(20);
  });
});

describe('per-pool checkout guards', () => {
  it("checkout timeout: pg's own error, with the pool's counts and advice added as err.forkguard", async () => {
    const pool = guard(new pg.Pool({ connectionString: db.tcpUrl, max: 1, connectionTimeoutMillis: 300 }), { name: 'tiny' });
    pools.push(pool);
    const held = await pool.connect();
    const err = await pool.query('SELECT 1').catch((e) => e);
    expect(Object.getPrototypeOf(err)).toBe(Error.prototype);
    expect(err.message).toBe('timeout exceeded when trying to connect');
    expect(err.forkguard).toMatchObject({ pool: 'tiny', max: 1, busy: 1, idle: 0, timeoutMs: 300 });
    expect(err.forkguard.waitedMs).toBeGreaterThanOrEqual(290);
    expect(err.forkguard.advice).toMatch(/^Every client of pool "tiny" \(max 1\) is checked out/);
    const viaCallback = await new Promise<any>((resolve) => pool.connect((e) => resolve(e)));
    expect(viaCallback.message).toBe('timeout exceeded when trying to connect');
    expect(viaCallback.forkguard).toMatchObject({ pool: 'tiny', busy: 1 });
    held.release();
  });

  it('leak detection: one warning with the checkout stack; reapLeakedAfterMs frees the slot', async () => {
    const pool = guard(new pg.Pool({ connectionString: db.tcpUrl, max: 1 }), {
      name: 'leaky',
      leakDetectionMs: 100,
      reapLeakedAfterMs: 300,
    });
    pools.push(pool);
    const { warnings } = await warningsDuring(async () => {
      const leaked = await pool.connect(); // the line the warning must point at
      await sleep(450);
      // The slot is free again: a new checkout succeeds at max 1.
      expect((await pool.query('SELECT 5 AS v')).rows[0].v).toBe(5);
      leaked.release(); // the holder's late release is harmless
      await expect(leaked.query('SELECT 1')).rejects.toThrow();
    });
    expect(warnings.map((w) => w.code)).toEqual(['FORKGUARD_CLIENT_LEAK', 'FORKGUARD_CLIENT_REAPED']);
    expect(warnings[0]!.message).toMatch(/pool "leaky": a client has been checked out for \d+ ms \(leakDetectionMs 100\) and not released\. Checked out at:/);
    expect(warnings[0]!.message).toContain('pool-registry.test.ts');
    expect(warnings[1]!.message).toMatch(/destroyed a client checked out for \d+ ms \(reapLeakedAfterMs 300\)/);
  });

  it('released in time: no warning', async () => {
    const pool = guard(new pg.Pool({ connectionString: db.tcpUrl, max: 1 }), { leakDetectionMs: 150 });
    pools.push(pool);
    const { warnings } = await warningsDuring(async () => {
      for (let i = 0; i < 5; i++) await pool.query('SELECT 1');
      const c = await pool.connect();
      await sleep(50);
      c.release();
      await sleep(200);
    });
    expect(warnings).toEqual([]);
  });

  it.each([
    [{ leakDetectionMs: 0 }, /leakDetectionMs must be a positive number/],
    [{ reapLeakedAfterMs: -5 }, /reapLeakedAfterMs must be a positive number/],
  ])('bad leak options %o → InvalidArgumentError', (options, message) => {
    const pool = new pg.Pool({ connectionString: db.tcpUrl });
    pools.push(pool);
    expect(() => guard(pool, options)).toThrow(message);
    expect(() => guard(new pg.Client(db.tcpUrl), { leakDetectionMs: 5 })).toThrow(/applies to pools only/);
  });
});
