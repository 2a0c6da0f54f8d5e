// A guarded pool's record and the records of the clients it creates. guard() makes one for a pool
// it is given; the zero-code entry's coverage (coverage.ts) makes one at a pool's first checkout.
import { InvalidArgumentError } from '../shared/errors.js';
import { type PendingItem, type PgClient, type PgPool, poolClients, poolMax } from '../seams/pg.js';
import { currentPid, enableLoopPidCheck } from '../runtime/state.js';
import type { GuardOptions } from './guard.js';
import { resetPool } from './pool-reset.js';
import { CONN, type Conn, POOL, type PoolGuard, debugDefault, mark, newConn, stamp } from './records.js';
import { addGuarded } from './reset-list.js';
import { untrack, watch } from './tracking.js';

let poolCount = 0;

/** Guards a pool: `lenient` (the zero-code entry) lets connections that cannot be fd-guarded run unguarded. */
export function guardPool(pool: PgPool, options: GuardOptions, lenient: boolean): PoolGuard {
  const name = options.name ?? `pool-${++poolCount}`;
  const prefill = options.prefill ?? 0;
  if (prefill > poolMax(pool)) {
    throw new InvalidArgumentError(
      `guard(pool, { prefill: ${prefill} }): prefill is more than the pool's max (${poolMax(pool)}); ` +
        `use at most ${poolMax(pool)}.`,
    );
  }
  const g: PoolGuard = {
    name,
    debug: options.debug ?? debugDefault(),
    prefill,
    leakMs: options.leakDetectionMs ?? 0,
    reapMs: options.reapLeakedAfterMs ?? 0,
    lenient,
    pid: currentPid(),
    droppedInherited: 0,
    reconnects: 0,
    forked: false,
    warnedUnguarded: false,
  };
  // The connections the pool already has: all or nothing.
  const existing: Array<[PgClient, Conn]> = [];
  try {
    for (const client of poolClients(pool)) {
      const conn = newConn(g, name, g.debug, lenient);
      stamp(conn);
      watch(client, conn);
      existing.push([client, conn]);
    }
  } catch (err) {
    for (const [, conn] of existing) untrack(conn);
    throw err;
  }
  if (g.debug) enableLoopPidCheck();
  for (const [client, conn] of existing) mark(client, CONN, conn);
  mark(pool, POOL, g);
  addGuarded(pool, resetPool as (t: object, gen: number) => void, () => `pool "${name}"`);
  return g;
}

// The guarded pool whose newClient() is running: the client it creates connects inside that call
// (synchronously), and the client's connect() wrapper attaches it to this pool.
let creating: { g: PoolGuard; item: PendingItem } | undefined;

/** Runs pg-pool's newClient() for a guarded pool: the client made inside is adopted by it. */
export function whileCreating(g: PoolGuard, item: PendingItem, create: () => void): void {
  const outer = creating;
  creating = { g, item };
  try {
    create();
  } finally {
    creating = outer;
  }
}

/** Gives a pool's new client its record and watches its socket. */
export function attach(client: PgClient, g: PoolGuard, pending: PendingItem | undefined): Conn {
  const conn = newConn(g, g.name, g.debug, g.lenient);
  stamp(conn);
  conn.pending = pending;
  mark(client, CONN, conn);
  try {
    watch(client, conn);
  } catch (err) {
    // Explicit guard(): a connection that cannot be tracked fails with the reason, never runs.
    conn.failure = err as Error;
  }
  if (g.forked) g.reconnects++;
  return conn;
}

/** For the client connect() wrapper: a client being created by a guarded pool right now. */
export function adoptPoolClient(client: PgClient): Conn | undefined {
  if (creating === undefined) return undefined;
  return attach(client, creating.g, creating.item);
}
