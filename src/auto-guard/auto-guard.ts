// What the zero-code entry (pg-forkguard/register) does with each copy of pg it sees: patch its
// classes once and cover them (src/guard/coverage.ts), so that every pool is guarded at its first
// checkout and every other client at its first connect(). Constructors are untouched (pg.Pool and
// pg.Client stay pg's own classes), and nothing is kept for an object that never connects.
import { patchClientClass } from '../guard/client-patches.js';
import { coverClientClass, coverPoolClass, unguarded } from '../guard/coverage.js';
import { patchPoolClass } from '../guard/pool-patches.js';
import { checkVersions, isNativeClientClass, isPgClientClass, isPoolClass } from '../seams/pg.js';

type Ctor = Function & { prototype: object };
export interface PgExports {
  Pool?: Ctor;
  Client?: Ctor;
}

const seen = new WeakSet<object>();
let copies = 0;

/** How many copies of pg the auto-guard has patched in this process. */
export function coveredCopies(): number {
  return copies;
}

/**
 * Patches a class of pg or pg-pool as soon as its module is compiled (pg/lib/client.js,
 * pg/lib/native/client.js, pg-pool's index.js), before anything else can wrap its methods: the
 * guard's wrappers sit innermost, so instrumentation that patches a module twice and relies on
 * shimmer's marks to notice (OpenTelemetry patches pg/lib/client.js, then pg) still sees its own.
 */
export function patchPgClass(C: unknown): void {
  if (isPgClientClass(C)) patchClientClass((C as Ctor).prototype, isNativeClientClass(C));
  else if (isPoolClass(C)) patchPoolClass((C as Ctor).prototype);
}

/** Patches (if not yet) and covers a Pool and Client class pair of a pg copy in the tested range. */
function cover(Pool: Ctor | undefined, Client: Ctor | undefined): void {
  if (isPoolClass(Pool)) {
    patchPgClass(Pool);
    coverPoolClass(Pool.prototype);
  }
  if (isPgClientClass(Client)) {
    patchPgClass(Client);
    coverClientClass(Client!.prototype);
  }
}

/** Takes one copy of pg (its CommonJS exports): patches its classes, and pg.native's when loaded. */
export function coverPg(pg: PgExports): void {
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
