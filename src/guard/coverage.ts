// What the zero-code entry (pg-forkguard/register) covers: the pg classes it has seen, whose pools
// are guarded at their first checkout and whose other clients at their connect(). The auto-guard
// adds classes here (src/auto-guard/); the pool and client wrappers ask here. With nothing covered
// (the entry not loaded) every answer is "no", and pg runs as it would without pg-forkguard.
// What cannot be guarded runs exactly as without the entry, with one FORKGUARD_UNGUARDED warning:
// the entry never makes a working app fail.
import { type PgClient, type PgPool, clientClassOf, isPgClientClass } from '../seams/pg.js';
import { install } from '../runtime/state.js';
import { guardClient } from './client-guard.js';
import type { GuardOptions } from './guard.js';
import { guardPool } from './pool-guard.js';
import type { Conn, PoolGuard } from './records.js';

const poolProtos = new WeakSet<object>();
const clientProtos = new WeakSet<object>();
const declined = new WeakSet<object>();

/** Pools of this pg-pool class are guarded from their first checkout. */
export function coverPoolClass(proto: object): void {
  poolProtos.add(proto);
}

/** Clients of this pg.Client class (not a guarded pool's) are guarded from their connect(). */
export function coverClientClass(proto: object): void {
  clientProtos.add(proto);
}

function inChain(obj: object, protos: WeakSet<object>): boolean {
  for (let p = Object.getPrototypeOf(obj) as object | null; p !== null; p = Object.getPrototypeOf(p) as object | null) {
    if (protos.has(p)) return true;
  }
  return false;
}

function coversPool(pool: object): boolean {
  return inChain(pool, poolProtos) && isPgClientClass(clientClassOf(pool as PgPool));
}

/** Whether the zero-code entry guards this pool or client from its first use. */
export function covers(target: object): boolean {
  return coversPool(target) || inChain(target, clientProtos);
}

/** Warned once for what the zero-code entry leaves unguarded (a pool, a client, a copy of pg). */
export function unguarded(what: string, err: unknown): void {
  process.emitWarning(
    `pg-forkguard: ${what} runs unguarded: ${(err as Error)?.message ?? err}. It works exactly as ` +
      'without pg-forkguard/register; in a forked child its connections would be shared with the parent.',
    { code: 'FORKGUARD_UNGUARDED' },
  );
}

function poolOptions(): GuardOptions {
  const prefill = process.env.PG_FORKGUARD_PREFILL;
  return prefill !== undefined && prefill !== '' ? { prefill: Number(prefill) } : {};
}

/** A covered pool's record, made at its first checkout; undefined for a pool not covered. */
export function adoptPool(pool: PgPool): PoolGuard | undefined {
  if (declined.has(pool) || !coversPool(pool)) {
    declined.add(pool);
    return undefined;
  }
  try {
    install();
    return guardPool(pool, poolOptions(), true);
  } catch (err) {
    declined.add(pool);
    unguarded('a pg.Pool', err);
    return undefined;
  }
}

/** A covered standalone client's record, made at its connect(); undefined for one not covered. */
export function adoptClient(client: PgClient): Conn | undefined {
  if (declined.has(client) || !inChain(client, clientProtos)) return undefined;
  try {
    install();
    return guardClient(client, {}, true);
  } catch (err) {
    declined.add(client);
    unguarded('a pg.Client', err);
    return undefined;
  }
}
