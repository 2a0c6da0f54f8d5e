// The guard's API: guard(pool | client), isGuarded(), stats(), and its public types. How it attaches
// to pg is in patch-method.ts, client-patches.ts and pool-patches.ts; the records it keeps, in
// records.ts, pool-guard.ts and client-guard.ts; what it does in a child, in pool-reset.ts,
// client-guard.ts and drop.ts; pg's internals, in src/seams/pg.ts.
import { guardClient } from './client-guard.js';
import { patchClientClass } from './client-patches.js';
import { covers } from './coverage.js';
import { IncompatiblePoolError, InvalidArgumentError, describe } from '../shared/errors.js';
import {
  type PgClient,
  type PgPool,
  checkVersions,
  clientClassOf,
  clientProblem,
  isClientShaped,
  isNativeClientClass,
  isPoolShaped,
  poolProblem,
} from '../seams/pg.js';
import { guardPool } from './pool-guard.js';
import { guardRedis, isRedisGuarded } from '../clients/ioredis.js';
import { type RedisLike, isRedisClient } from '../seams/ioredis.js';
import { guardUndici, isUndiciGuarded } from '../clients/undici.js';
import { isUndiciDispatcher } from '../seams/undici.js';
import { guardMysqlConnection, guardMysqlPool, isMysqlGuarded } from '../clients/mysql2.js';
import { coreConnectionOf, corePoolOf } from '../seams/mysql2.js';
import { guardPostgresJs, isPostgresJsGuarded } from '../clients/postgres-js.js';
import { type PostgresJsSql, isPostgresJsSql } from '../seams/postgres-js.js';
import { guardHttpAgent, isHttpAgent, isHttpAgentGuarded } from '../clients/http.js';
import type { Agent as HttpAgent } from 'node:http';
import { patchPoolClass } from './pool-patches.js';
import { CONN, POOL, checkForFork, debugDefault, poolGuardOf } from './records.js';
import { guardedTargets } from './reset-list.js';
import { currentPid, forkGeneration, install } from '../runtime/state.js';

// The guard's public shapes. Structural, so that the types do not depend on @types/pg.
/** What guard() accepts as a pool: a pg.Pool (pg-pool 3). */
export interface PgPoolLike {
  connect(...args: any[]): unknown;
  query(...args: any[]): unknown;
  end(...args: any[]): unknown;
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
}

/** What guard() accepts as a client: a pg.Client (the JavaScript client or pg.native.Client). */
export interface PgClientLike {
  connect(...args: any[]): unknown;
  query(...args: any[]): unknown;
  end(...args: any[]): unknown;
}

/** What guard() accepts of undici: a Client, Pool or Agent. */
export interface UndiciDispatcherLike {
  dispatch(...args: any[]): unknown;
  close(...args: any[]): unknown;
  destroy(...args: any[]): unknown;
}

export interface GuardOptions {
  /** Shown in stats(), errors and logs. Default: `pool-1`, `pool-2`, ... (`client-1` for a Client). */
  name?: string;
  /** Pid-check mode: a real getpid() on every checkout and query, checkout stacks recorded.
   * Default: true when PG_FORKGUARD_DEBUG=1. */
  debug?: boolean;
  /** Pools only: connections to open eagerly in each forked child (default 0: lazily, on demand). */
  prefill?: number;
  /** Pools only: warn (once, with the checkout stack) about a client checked out longer than this. */
  leakDetectionMs?: number;
  /** Pools only: destroy a client checked out longer than this, freeing its slot. */
  reapLeakedAfterMs?: number;
}

export interface PoolStats {
  name: string;
  /** This process. */
  pid: number;
  /** Fork generation of this process (0 where the package was loaded). */
  generation: number;
  total: number;
  idle: number;
  /** Checked out or still connecting. */
  busy: number;
  waiting: number;
  /** Connections inherited from the parent and dropped here (without a byte sent). */
  droppedInherited: number;
  /** Connections this forked process opened for itself. */
  reconnects: number;
}

/** Patches the classes of a pool (its pg-pool prototype and its Client's) once. */
export function patchClassesOf(pool: PgPool): void {
  patchPoolClass(Object.getPrototypeOf(pool) as object);
  const Client = clientClassOf(pool);
  patchClientClass(Client.prototype, isNativeClientClass(Client));
}

function checkOptions(options: unknown, kind: 'pool' | 'client'): GuardOptions {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError(`guard(target, options): options must be an object like { name, debug, prefill }, got ${describe(options)}.`);
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!['name', 'debug', 'prefill', 'leakDetectionMs', 'reapLeakedAfterMs'].includes(key)) {
      throw new InvalidArgumentError(
        `guard(target, options): unknown option '${key}'; the options are name, debug, prefill, leakDetectionMs and reapLeakedAfterMs.`,
      );
    }
  }
  if (o.name !== undefined && (typeof o.name !== 'string' || o.name.length === 0)) {
    throw new InvalidArgumentError(`guard(target, options): options.name must be a non-empty string, got ${describe(o.name)}.`);
  }
  if (o.debug !== undefined && typeof o.debug !== 'boolean') {
    throw new InvalidArgumentError(`guard(target, options): options.debug must be a boolean, got ${describe(o.debug)}.`);
  }
  for (const key of ['leakDetectionMs', 'reapLeakedAfterMs'] as const) {
    if (o[key] === undefined) continue;
    if (kind === 'client') {
      throw new InvalidArgumentError(`guard(client, options): options.${key} applies to pools only (it watches checkouts).`);
    }
    if (typeof o[key] !== 'number' || !Number.isFinite(o[key]) || (o[key] as number) <= 0) {
      throw new InvalidArgumentError(`guard(pool, options): options.${key} must be a positive number of milliseconds, got ${describe(o[key])}.`);
    }
  }
  if (o.prefill !== undefined) {
    if (kind === 'client') {
      throw new InvalidArgumentError(
        'guard(client, options): options.prefill applies to pools only; a pg.Client is one connection.',
      );
    }
    if (typeof o.prefill !== 'number' || !Number.isInteger(o.prefill) || o.prefill < 0) {
      throw new InvalidArgumentError(
        `guard(pool, options): options.prefill must be a non-negative integer (connections opened eagerly in a child), got ${describe(o.prefill)}.`,
      );
    }
  }
  return o as GuardOptions;
}

/**
 * Guards a pg.Pool or a pg.Client in place and returns it. In every forked child, before its event
 * loop first polls, the connections inherited from the parent are dropped without a byte written
 * (their fds were already replaced by dead sockets) and the pool reconnects lazily; the parent's
 * connections are never touched. Guarding twice is a no-op. In a process that never forks nothing
 * changes: pg's classes, methods and errors stay what they are. A postgres.js sql, an ioredis Redis
 * or Cluster, a mysql2 pool or connection, an undici Client, Pool or Agent and a node:http(s) Agent are accepted
 * too: in every child, the requests they held at the fork fail with ForkedConnectionError (kind
 * 'request') instead of being sent again (src/clients/).
 */
export function guard<T extends PgPoolLike | PgClientLike | RedisLike | UndiciDispatcherLike | PostgresJsSql | HttpAgent>(
  target: T,
  options?: GuardOptions,
): T {
  // postgres.js's sql is a function: queries pending at a fork are the parent's (src/clients/postgres-js.ts).
  if (isPostgresJsSql(target)) {
    checkOptions(options, 'client');
    guardPostgresJs(target);
    return target;
  }
  if (target === null || typeof target !== 'object') {
    throw new IncompatiblePoolError(`guard(target): expected a pg.Pool or a pg.Client, got ${describe(target)}.`);
  }
  const t = target as unknown as PgPool & PgClient;
  if ((t as { [POOL]?: unknown })[POOL] || (t as { [CONN]?: unknown })[CONN]) return target;
  // ioredis's Redis and Cluster: commands pending at a fork are the parent's (src/clients/ioredis.ts).
  if (isRedisClient(target)) {
    checkOptions(options, 'client');
    guardRedis(target);
    return target;
  }
  // mysql2's pools (and mysql2/promise's): queries pending at a fork are the parent's (src/clients/mysql2.ts).
  const mysqlPool = corePoolOf(target);
  if (mysqlPool) {
    checkOptions(options, 'pool');
    guardMysqlPool(mysqlPool);
    return target;
  }
  // mysql2's connections (and mysql2/promise's): commands pending at a fork are the parent's.
  const mysqlConnection = coreConnectionOf(target);
  if (mysqlConnection) {
    checkOptions(options, 'client');
    guardMysqlConnection(mysqlConnection);
    return target;
  }
  // undici's Client, Pool and Agent: requests pending at a fork are the parent's (src/clients/undici.ts).
  if (isUndiciDispatcher(target)) {
    checkOptions(options, 'client');
    guardUndici(target);
    return target;
  }
  // node:http's and node:https's agents: requests pending at a fork are the parent's (src/clients/http.ts).
  if (isHttpAgent(target)) {
    checkOptions(options, 'client');
    guardHttpAgent(target);
    return target;
  }
  const looksLikePool = isPoolShaped(t);
  const looksLikeClient = !looksLikePool && isClientShaped(t);
  if (!looksLikePool && !looksLikeClient) {
    throw new IncompatiblePoolError(
      `guard(target): expected a pg.Pool or a pg.Client (node-postgres), got ${describe(target)}. ` +
        `For another kind of pool, give it a resetAfterFork() method and use addResettable(pool).`,
    );
  }
  const kind = looksLikePool ? 'pool' : 'client';
  const problem = kind === 'pool' ? poolProblem(t) : clientProblem(t);
  if (problem) {
    throw new IncompatiblePoolError(
      `guard(${kind}): ${describe(target)} looks like a pg.${kind === 'pool' ? 'Pool' : 'Client'} but ${problem}. ` +
        `pg-forkguard supports pg 8 (pg-pool 3) with pg.Client or pg.native.Client; for other pools use addResettable(pool).`,
    );
  }
  if (kind === 'pool') checkVersions(clientClassOf(t), t.constructor, 'guard(pool)');
  else checkVersions(t.constructor, undefined, 'guard(client)');
  const opts = checkOptions(options, kind);
  install();
  checkForFork(opts.debug ?? debugDefault());
  if (kind === 'pool') {
    patchClassesOf(t);
    guardPool(t, opts, false);
  } else {
    patchClientClass(Object.getPrototypeOf(t) as object, isNativeClientClass(t.constructor));
    guardClient(t, opts, false);
  }
  return target;
}

/** Set by the zero-code hook: whether it guards this object from its first use. */

/** True if guard() was called on this pool or client, or the zero-code entry guards it. */
export function isGuarded(target: unknown): boolean {
  if (isPostgresJsSql(target)) return isPostgresJsGuarded(target);
  if (target === null || typeof target !== 'object') return false;
  if (isHttpAgent(target)) return isHttpAgentGuarded(target);
  return POOL in target || CONN in target || covers(target) || isRedisGuarded(target) || isUndiciGuarded(target) || isMysqlGuarded(corePoolOf(target) ?? coreConnectionOf(target) ?? target);
}

/** One entry per guarded pool still alive in this process (under the zero-code entry: from its first use). */
export function stats(): PoolStats[] {
  checkForFork(false);
  const out: PoolStats[] = [];
  for (const t of guardedTargets()) {
    const s = poolStats(t);
    if (s) out.push(s);
  }
  return out;
}

/** stats() of one guarded pool; undefined if it is not one. */
export function poolStats(target: unknown): PoolStats | undefined {
  const g = target !== null && typeof target === 'object' ? poolGuardOf(target) : undefined;
  if (!g) return undefined;
  const pool = target as PgPool;
  return {
    name: g.name,
    pid: currentPid(),
    generation: forkGeneration(),
    total: pool.totalCount,
    idle: pool.idleCount,
    busy: pool.totalCount - pool.idleCount,
    waiting: pool.waitingCount,
    droppedInherited: g.droppedInherited,
    reconnects: g.reconnects,
  };
}
