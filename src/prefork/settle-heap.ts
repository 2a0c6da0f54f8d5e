// Before a pre-fork master forks, it settles its heap, so that what the workers inherit stays
// shared. Pages shared copy-on-write stay shared only until someone writes to them, and a worker's
// garbage collections write to what they move and sweep:
//   'young' (the default): one scavenge. The objects the app just made move out of the young
//     generation once, in the master, instead of once in every worker. Measured (bench/prefork.mjs,
//     150 MB of state, 4 workers): the workers' private dirty memory after 8 s of load is 39-43 MB
//     each against 68 MB without it, the same as after a full collection (41-44 MB), for 43 ms.
//   'full': one full collection, in which V8 also compacts the pages it finds fragmented: for an
//     app whose old generation holds much garbage at the fork, freed once instead of in every
//     worker. 0.4 s for a 380 MB heap here. (Compacting every page, --compact-on-every-full-gc,
//     was 2.4 s, for pages V8 had not found fragmented: not offered.)
//   'none': nothing.
// heapGrowth (prefork's option): how far each worker's old generation may grow past its live size
// before V8 collects it in full (V8's --heap-growing-percent). It needs the full collection: V8
// sets a heap's next limit at a full collection, from its live size, and a worker inherits the
// limit its master's last one set. Without it that limit is the idle master's, up to 4x its live
// heap (V8's largest factor, which an idle heap earns); a worker then lets promoted garbage pile up
// to it before its first full collection (docs/memory-under-load.md). The flag stays set in the
// workers, whose own collections then keep to it, as node:cluster's workers would with the flag.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export type SettleHeap = 'young' | 'full' | 'none';
export const settleKinds: readonly SettleHeap[] = ['young', 'full', 'none'];

type Gc = (options?: { type: 'minor' }) => void;
let gc: Gc | undefined;

function gcFunction(): Gc {
  const global = (globalThis as { gc?: Gc }).gc;
  if (typeof global === 'function') return global;
  // V8 gives a new context a gc() while --expose-gc is set; the flag goes back off at once.
  setFlagsFromString('--expose-gc');
  try {
    return runInNewContext('gc') as Gc;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}

/** The heapGrowth factors prefork accepts: V8's own range (1.1 to 4). */
export const heapGrowthRange = [1.1, 4] as const;

export function settleHeap(kind: SettleHeap, heapGrowth?: number): void {
  if (kind === 'none') return;
  if (heapGrowth !== undefined) setFlagsFromString(`--heap-growing-percent=${Math.round((heapGrowth - 1) * 100)}`);
  gc ??= gcFunction();
  // gc() with no argument is V8's full collection. Not gc({ type: 'major' }): Node 20's V8 runs a
  // scavenge for that (test/unit/settle-heap.test.ts watches which collection each kind runs).
  if (kind === 'young') gc({ type: 'minor' });
  else gc();
}
