// Where V8's heap lands, decided once, at import. In a process that will fork, its heap pages are
// placed together rather than each at its own random address (native/core/heap-placement.h): V8
// scatters them one to a page table, and fork(2) copies every table. Measured here (150 MB of
// state, 4 prefork() workers, 5 interleaved starts each): page tables 7.5 MB scattered and 1.2 MB
// together, the first fork(2) 38-47 ms and 14-17 ms, all four workers running 274-337 ms and
// 245-296 ms (docs/benchmarks.md).
//
// A process that will fork is one started with --single-threaded, which fork() and prefork() need:
// elsewhere nothing changes. The pages V8 mapped before pg-forkguard was imported stay where they
// are, so the package is imported before the app builds its state (it is, by an import at the top
// of the entry module, or by --import pg-forkguard/register).
//   PG_FORKGUARD_HEAP_PLACEMENT=together: place them together in any process;
//   PG_FORKGUARD_HEAP_PLACEMENT=v8: leave V8's random placement (its per-page address
//   randomisation), even under --single-threaded.
import { InvalidArgumentError } from '../shared/errors.js';
import { native } from '../seams/addon.js';
import { isSingleThreaded } from '../seams/node.js';

export type HeapPlacement = 'together' | 'v8';

export interface HeapPlacementResult {
  placement: HeapPlacement;
  /** Address space reserved so that V8's hints are not taken (no memory). */
  reservedBytes: number;
  /** Why nothing was reserved where 'together' was asked: -errno from the addon. */
  errno?: number;
}

function wanted(): HeapPlacement {
  const env = process.env.PG_FORKGUARD_HEAP_PLACEMENT;
  if (env === undefined || env === '') return isSingleThreaded() ? 'together' : 'v8';
  if (env === 'together' || env === 'v8') return env;
  throw new InvalidArgumentError(
    `PG_FORKGUARD_HEAP_PLACEMENT must be 'together' or 'v8', got '${env}'. Unset it to place V8's heap ` +
      `together only in a process started with --single-threaded (one that forks).`,
  );
}

let result: HeapPlacementResult | undefined;

/** Places V8's heap pages together from now on if this process will fork. Idempotent. */
export function placeHeap(): HeapPlacementResult {
  if (result) return result;
  const placement = wanted();
  if (placement === 'v8' || !native.supported) return (result = { placement: 'v8', reservedBytes: 0 });
  const bytes = native.placeHeapTogether();
  result = bytes >= 0 ? { placement, reservedBytes: bytes } : { placement: 'v8', reservedBytes: 0, errno: -bytes };
  return result;
}
