// What the zero-code hook (pg-forkguard/register) does with each copy of pg it sees: patch its
// classes once, then guard every pool at its first checkout and every other client at its first
// connect(). Constructors are untouched (pg.Pool and pg.Client stay pg's own classes), and nothing
// is kept for an object that never connects. The hook never makes a working app fail: what it
// cannot guard runs exactly as without it, with one FORKGUARD_UNGUARDED warning.
import { patchClientClass } from '../guard/client-patches.js';
import type { Conn, PoolGuard } from '../guard/records.js';
import { guardPool, setClientAdopter, setHookCoverage } from '../guard/guard.js';
import { type PgClient, type PgPool, checkVersions, isNativeClientClass, isPgClientClass } from '../seams/pg.js';
import { patchPoolClass, setPoolAdopter } from '../guard/pool-patches.js';
import { guardClient } from '../guard/client-guard.js';
import { install } from '../runtime/state.js';
import type { GuardOptions } from '../guard/types.js';

type Ctor = Function & { prototype: object };
export interface PgExports {
  Pool?: Ctor;
  Client?: Ctor;
}

const poolProtos = new WeakSet<object>();
const clientProtos = new WeakSet<object>();
const seen = new WeakSet<object>();
const declined = new WeakSet<object>();
let copies = 0;

/** How many copies of pg the hook has patched in this process. */
export function hookedCopies(): number {
  return copies;
}

function hookPoolOptions(): GuardOptions {
  const prefill = process.env.PG_FORKGUARD_PREFILL;
  return prefill !== undefined && prefill !== '' ? { prefill: Number(prefill) } : {};
}

function inChain(obj: object, protos: WeakSet<object>): boolean {
  for (let p = Object.getPrototypeOf(obj) as object | null; p !== null; p = Object.getPrototypeOf(p) as object | null) {
    if (protos.has(p)) return true;
  }
  return false;
}

function unguarded(what: string, err: unknown): void {
  process.emitWarning(
    `pg-forkguard: ${what} runs unguarded: ${(err as Error)?.message ?? err}. It works exactly as ` +
      'without pg-forkguard/register; in a forked child its connections would be shared with the parent.',
    { code: 'FORKGUARD_UNGUARDED' },
  );
}

function coversPool(pool: object): boolean {
  return inChain(pool, poolProtos) && isPgClientClass((pool as PgPool).Client);
}

function adoptPool(pool: PgPool): PoolGuard | undefined {
  if (declined.has(pool) || !coversPool(pool)) {
    declined.add(pool);
    return undefined;
  }
  try {
    install();
    return guardPool(pool, hookPoolOptions(), true);
  } catch (err) {
    declined.add(pool);
    unguarded('a pg.Pool', err);
    return undefined;
  }
}

function adoptClient(client: PgClient): Conn | undefined {
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

let enabled = false;
function enable(): void {
  if (enabled) return;
  enabled = true;
  setPoolAdopter(adoptPool);
  setClientAdopter(adoptClient);
  setHookCoverage((t) => coversPool(t) || inChain(t, clientProtos));
}

function isPoolClass(C: unknown): C is Ctor {
  const proto = typeof C === 'function' ? (C as Ctor).prototype as Record<string, unknown> : undefined;
  return !!proto && typeof proto._pulseQueue === 'function' && typeof proto.newClient === 'function';
}

/**
 * Patches a class of pg or pg-pool as soon as its module is compiled (pg/lib/client.js,
 * pg/lib/native/client.js, pg-pool's index.js), before anything else can wrap its methods: the
 * guard's wrappers sit innermost, so instrumentation that patches a module twice and relies on
 * shimmer's marks to notice (OpenTelemetry patches pg/lib/client.js, then pg) still sees its own.
 */
export function hookClass(C: unknown): void {
  if (isPgClientClass(C)) patchClientClass((C as Ctor).prototype, isNativeClientClass(C));
  else if (isPoolClass(C)) patchPoolClass(C.prototype);
}

/** Patches (if not yet) and covers a Pool and Client class pair of a pg copy in the tested range. */
function cover(Pool: Ctor | undefined, Client: Ctor | undefined): void {
  if (isPoolClass(Pool)) {
    hookClass(Pool);
    poolProtos.add(Pool.prototype);
  }
  if (isPgClientClass(Client)) {
    hookClass(Client);
    clientProtos.add(Client!.prototype);
  }
}

/** Takes one copy of pg (its CommonJS exports): patches its classes, and pg.native's when loaded. */
export function hookPg(pg: PgExports): void {
  if (!pg || typeof pg !== 'object' || seen.has(pg)) return;
  seen.add(pg);
  const Client = Object.getOwnPropertyDescriptor(pg, 'Client')?.value as Ctor | undefined;
  const Pool = Object.getOwnPropertyDescriptor(pg, 'Pool')?.value as Ctor | undefined;
  try {
    if (Client) checkVersions(Client, Pool, 'pg-forkguard/register');
  } catch (err) {
    unguarded('this copy of pg', err);
    return;
  }
  enable();
  cover(Pool, Client);
  copies++;
  // pg.native (pg-native's Client) is built on first access: patch it then.
  const desc = Object.getOwnPropertyDescriptor(pg, 'native');
  if (desc?.get && desc.configurable) {
    const getNative = desc.get;
    Object.defineProperty(pg, 'native', {
      configurable: true,
      enumerable: desc.enumerable ?? false,
      get() {
        const native = getNative.call(pg) as PgExports | null;
        if (native) cover(native.Pool, native.Client);
        return native;
      },
    });
  } else if (desc && 'value' in desc && desc.value) {
    const native = desc.value as PgExports;
    cover(native.Pool, native.Client);
  }
}
