// guard()'s contract in one process (no fork here), on a live Postgres: fd tracking over a
// connection's life, and a connection that cannot be tracked failing instead of running unguarded.
// Input checking needs no Postgres: test/unit/guard-input.test.ts.
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import {
  FdRegistryError,
  ForkGuardError,
  guard,
  isGuarded,
  isTracked,
  stats,
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
