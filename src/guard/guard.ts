// The guard's API: guard(pool | client), isGuarded(), stats(). How it attaches to pg is in
// patch-method.ts, client-patches.ts and pool-patches.ts; what it does in a child, in
// pool-reset.ts, standalone.ts and drop.ts; pg's internals, in pg-internals.ts.
import { patchClientClass, setAdopter } from './client-patches.js';
import { CONN, type Conn, POOL, type PoolGuard, debugDefault, mark, newConn, poolGuardOf, settle, stamp } from './records.js';
import { IncompatiblePoolError, InvalidArgumentError, describe } from '../shared/errors.js';
import {
  type PgClient,
  type PgPool,
  checkVersions,
  clientProblem,
  isClientShaped,
  isNativeClientClass,
  isPoolShaped,
  poolClients,
  poolMax,
  poolProblem,
} from '../seams/pg.js';
import { adoptPoolClient, patchPoolClass, watch } from './pool-patches.js';
import { resetPool } from './pool-reset.js';
import { addGuarded, guardedTargets } from './reset-list.js';
import { guardClient } from './client-guard.js';
import { currentPid, enableLoopPidCheck, forkGeneration, install } from '../runtime/state.js';
import { untrack } from './tracking.js';
import type { GuardOptions, PgClientLike, PgPoolLike, PoolStats } from './types.js';

export type { GuardOptions, PgClientLike, PgPoolLike, PoolStats } from './types.js';

let poolCount = 0;

/** Who else may guard a client that connects without a record (the zero-code hook). */
let adoptClient: (client: PgClient) => Conn | undefined = () => undefined;
export function setClientAdopter(fn: (client: PgClient) => Conn | undefined): void {
  adoptClient = fn;
}
setAdopter((client) => adoptPoolClient(client) ?? adoptClient(client));

/** Patches the classes of a pool (its pg-pool prototype and its Client's) once. */
export function patchClassesOf(pool: PgPool): void {
  patchPoolClass(Object.getPrototypeOf(pool) as object);
  patchClientClass(pool.Client.prototype, isNativeClientClass(pool.Client));
}

/** Guards a pool: `lenient` (the hook) lets connections that cannot be fd-guarded run unguarded. */
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
    generation: forkGeneration(),
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
  patchClassesOf(pool);
  if (g.debug) enableLoopPidCheck();
  for (const [client, conn] of existing) mark(client, CONN, conn);
  mark(pool, POOL, g);
  addGuarded(pool, resetPool as (t: object, gen: number) => void, () => `pool "${name}"`);
  return g;
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
 * changes: pg's classes, methods and errors stay what they are.
 */
export function guard<T extends PgPoolLike | PgClientLike>(target: T, options?: GuardOptions): T {
  if (target === null || typeof target !== 'object') {
    throw new IncompatiblePoolError(`guard(target): expected a pg.Pool or a pg.Client, got ${describe(target)}.`);
  }
  const t = target as unknown as PgPool & PgClient;
  if ((t as { [POOL]?: unknown })[POOL] || (t as { [CONN]?: unknown })[CONN]) return target;
  const looksLikePool = isPoolShaped(t);
  const looksLikeClient = !looksLikePool && isClientShaped(t);
  if (!looksLikePool && !looksLikeClient) {
    throw new IncompatiblePoolError(
      `guard(target): expected a pg.Pool or a pg.Client (node-postgres), got ${describe(target)}. ` +
        `For another kind of pool, give it a resetAfterFork() method and use register(pool).`,
    );
  }
  const kind = looksLikePool ? 'pool' : 'client';
  const problem = kind === 'pool' ? poolProblem(t) : clientProblem(t);
  if (problem) {
    throw new IncompatiblePoolError(
      `guard(${kind}): ${describe(target)} looks like a pg.${kind === 'pool' ? 'Pool' : 'Client'} but ${problem}. ` +
        `pg-forkguard supports pg 8 (pg-pool 3) with pg.Client or pg.native.Client; for other pools use register(pool).`,
    );
  }
  if (kind === 'pool') checkVersions(t.Client, t.constructor, 'guard(pool)');
  else checkVersions(t.constructor, undefined, 'guard(client)');
  const opts = checkOptions(options, kind);
  install();
  settle(opts.debug ?? debugDefault());
  if (kind === 'pool') guardPool(t, opts, false);
  else {
    patchClientClass(Object.getPrototypeOf(t) as object, isNativeClientClass(t.constructor));
    guardClient(t, opts, false);
  }
  return target;
}

/** Set by the zero-code hook: whether it guards this object from its first use. */
let coveredByHook: (target: object) => boolean = () => false;
export function setHookCoverage(fn: (target: object) => boolean): void {
  coveredByHook = fn;
}

/** True if guard() was called on this pool or client, or the zero-code hook guards it. */
export function isGuarded(target: unknown): boolean {
  if (target === null || typeof target !== 'object') return false;
  return POOL in target || CONN in target || coveredByHook(target);
}

/** One entry per guarded pool still alive in this process (under the hook: from its first use). */
export function stats(): PoolStats[] {
  settle(false);
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
