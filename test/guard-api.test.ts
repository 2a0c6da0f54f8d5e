// guard()'s contract in one process (no fork here): input checking, fd tracking over a
// connection's life, and a connection that cannot be tracked failing instead of running unguarded.
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import {
  FdRegistryError,
  ForkGuardError,
  IncompatiblePoolError,
  InvalidArgumentError,
  guard,
  isGuarded,
  isTracked,
  register,
  stats,
  unregister,
} from '../dist/index.js';
import { setRegistryLimit } from './support/native-test.js';
import { nativeCounters } from './support/native-test.js';

const db = inject('pg');
const opened: Array<{ end(): Promise<void> }> = [];
function pool(options: pg.PoolConfig = {}) {
  const p = new pg.Pool({ connectionString: db.tcpUrl, max: 2, ...options });
  opened.push(p);
  return p;
}
afterEach(async () => {
  setRegistryLimit(0);
  await Promise.all(opened.splice(0).map((p) => p.end().catch(() => {})));
});

function fdOf(client: pg.PoolClient | pg.Client): number {
  return (client as any).connection.stream._handle.fd;
}

function thrown(fn: () => unknown): any {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe('guard(): bad input gets a typed error saying what was wrong', () => {
  it.each([
    ['null', null, /got null/],
    ['a number', 42, /got number 42/],
    ['a plain object', {}, /expected a pg.Pool or a pg.Client \(node-postgres\), got an instance of Object.*register\(pool\)/],
    ['a class instance', new Map(), /got an instance of Map/],
  ])('%s → IncompatiblePoolError', (_, value, message) => {
    const err = thrown(() => guard(value as any));
    expect(err).toBeInstanceOf(IncompatiblePoolError);
    expect(err).toBeInstanceOf(ForkGuardError);
    expect(err.code).toBe('ERR_FORKGUARD_INCOMPATIBLE_POOL');
    expect(err.message).toMatch(message);
  });

  it('a pool whose Client is neither pg.Client nor pg.native.Client → IncompatiblePoolError naming it', () => {
    class OtherClient {}
    const p = new pg.Pool({ Client: OtherClient as any });
    const err = thrown(() => guard(p));
    expect(err).toBeInstanceOf(IncompatiblePoolError);
    expect(err.message).toMatch(/its connections are made by .*OtherClient.*not by node-postgres's pg.Client or pg.native.Client/);
    expect(isGuarded(p)).toBe(false);
  });

  it('pg.native.Pool and pg.native.Client (pg-native over libpq) are guarded', () => {
    const p = guard(new pg.native!.Pool({ max: 1 }));
    expect(isGuarded(p)).toBe(true);
    const c = guard(new pg.native!.Client());
    expect(isGuarded(c)).toBe(true);
  });

  it('a client with a `native` binding that is not pg-native → IncompatiblePoolError', () => {
    // The methods pg's clients share, and a `native` object without libpq under it.
    function LookAlike(this: { native: object }) {
      this.native = {};
    }
    Object.assign(LookAlike.prototype, { _connect() {}, _errorAllQueries() {}, query() {}, cancel() {}, end() {}, connect() {} });
    const err = thrown(() => guard(new (LookAlike as any)()));
    expect(err).toBeInstanceOf(IncompatiblePoolError);
    expect(err.message).toMatch(/its `native` binding is not pg-native over libpq/);
  });

  it.each([
    ['options not an object', 'x', /options must be an object/],
    ['unknown option', { nmae: 'x' }, /unknown option 'nmae'/],
    ['empty name', { name: '' }, /options.name must be a non-empty string, got the string ""/],
    ['debug not a boolean', { debug: 'yes' }, /options.debug must be a boolean/],
    ['negative prefill', { prefill: -1 }, /options.prefill must be a non-negative integer/],
    ['fractional prefill', { prefill: 1.5 }, /options.prefill must be a non-negative integer/],
    ['prefill above max', { prefill: 3 }, /prefill is more than the pool's max \(2\)/],
  ])('pool with %s → InvalidArgumentError', (_, options, message) => {
    const p = pool();
    const err = thrown(() => guard(p, options as any));
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(err.message).toMatch(message);
    expect(isGuarded(p)).toBe(false);
  });

  it('prefill on a Client → InvalidArgumentError', () => {
    const c = new pg.Client(db.tcpUrl);
    expect(() => guard(c, { prefill: 1 })).toThrow(/prefill applies to pools only/);
  });

  it('register() without resetAfterFork → IncompatiblePoolError; unregister of a stranger is false', () => {
    for (const bad of [null, {}, { resetAfterFork: 1 }, pool()]) {
      const err = thrown(() => register(bad as any));
      expect(err).toBeInstanceOf(IncompatiblePoolError);
      expect(err.message).toMatch(/must be an object with a resetAfterFork\(\) method/);
    }
    expect(unregister({})).toBe(false);
    const r = { resetAfterFork() {} };
    expect(register(r)).toBe(r);
    expect(unregister(r)).toBe(true);
  });
});

describe('guard() on a live pool', () => {
  it('returns the same instance; twice is a no-op; stats() lists it', async () => {
    const p = pool();
    expect(guard(p, { name: 'api-pool' })).toBe(p);
    const connect = p.connect;
    expect(guard(p, { name: 'other' })).toBe(p);
    expect(p.connect).toBe(connect);
    expect(isGuarded(p)).toBe(true);
    await p.query('SELECT 1');
    const mine = stats().find((s) => s.name === 'api-pool')!;
    expect(mine).toMatchObject({ pid: process.pid, generation: 0, total: 1, idle: 1, busy: 0, waiting: 0, droppedInherited: 0, reconnects: 0 });
  });

  it("tracks every connection's fd while it is open (TCP, unix, TLS), and untracks it when it closes", async () => {
    for (const url of [db.tcpUrl, db.unixUrl!, db.tlsUrl!]) {
      const p = guard(pool({ connectionString: url }));
      const client = await p.connect();
      const fd = fdOf(client);
      expect(isTracked(fd)).toBe(true);
      client.release(new Error('drop it')); // the pool closes it
      await new Promise((r) => p.once('remove', r));
      await new Promise((r) => setTimeout(r, 20));
      expect(isTracked(fd)).toBe(false);
    }
  });

  it('connections the pool already had when guarded are tracked at once', async () => {
    const p = pool();
    const client = await p.connect();
    expect(isTracked(fdOf(client))).toBe(false);
    guard(p);
    expect(isTracked(fdOf(client))).toBe(true);
    client.release();
  });

  it('a standalone Client is tracked on connect and untracked on end', async () => {
    const c = guard(new pg.Client(db.tlsUrl!));
    await c.connect();
    const fd = fdOf(c);
    expect(isTracked(fd)).toBe(true);
    expect((await c.query('SELECT 2 AS v')).rows[0].v).toBe(2);
    await c.end();
    await new Promise((r) => setTimeout(r, 20));
    expect(isTracked(fd)).toBe(false);
  });

  it('a connection whose fd cannot be tracked fails with the typed error and never runs', async () => {
    const p = guard(pool());
    const held = await p.connect(); // at least one fd tracked
    setRegistryLimit(nativeCounters().tracked); // no room for one more
    const err = await p.query('SELECT 1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FdRegistryError);
    expect((err as FdRegistryError).code).toBe('ERR_FORKGUARD_REGISTRY_FULL');
    expect(p.totalCount).toBe(1);
    held.release();
    setRegistryLimit(0);
    expect((await p.query('SELECT 3 AS v')).rows[0].v).toBe(3);
  });
});
