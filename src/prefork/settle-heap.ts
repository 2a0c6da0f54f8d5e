// Before a pre-fork master forks, it settles its heap, so that what the workers inherit stays
// shared. Pages shared copy-on-write stay shared only until someone writes to them, and a worker's
// garbage collections write to what they move and sweep:
//   'young' (the default): two scavenges. The objects the app just made move out of the young
//     generation in the master, instead of in every worker. Two, because V8 promotes an object to
//     the old generation at its second scavenge: after one, the app's new objects still sit in the
//     young generation, and every worker's first scavenge promotes them and rewrites each pointer
//     to them in the master's old pages, copying those pages. Measured (bench/first-scavenge.mjs:
//     150 MB of state, 4 workers, 800 requests/s from the start): each worker's first scavenge
//     paused 40-82 ms after two, 641-1 108 ms after one; private dirty memory after 20 s 132-152 MB
//     against 144-173; the master's two took 37 + 50 ms, the start 252 ms against 208
//     (docs/memory-under-load.md, "The workers' first scavenge"). Against none at all, after 8 s of
//     load (bench/prefork.mjs): 39-43 MB each against 68 MB (one scavenge then).
//   'full': one full collection, in which V8 also compacts the pages it finds fragmented and
//     sweeps the master's garbage, which a worker would otherwise allocate over, copying each page
//     it touches: under load a worker copied 27 MB of the master's pages in 30 s against 41 MB
//     after 'young' (bench/worker-memory.mjs --writes). 0.15-0.3 s for the 195 MB heap of
//     bench/prefork-server.mjs, so not the default. It also sets the limit the workers inherit for
//     their first full collection, from the master's live heap, at V8's idle factor (4x)
//     (docs/memory-under-load.md). Compacting every page here did not lower what workers copy
//     (the ropes still live leave few holes); after 'flatten' it does.
//   'flatten': 'full', after replacing every rope the app's objects hold by its flat string
//     (flatten-strings.ts), so that a worker reading its state whole writes nothing into it, with
//     every page compacted (compactEveryPage, below); then malloc's heap is settled too
//     (native/core/malloc-settle.h). For a server whose state is objects with strings built by +
//     or template literals: the app as written, 10 minutes at 800 requests/s, total PSS
//     0.39x node:cluster's and its largest worker 86 MB, against 0.73-0.91x and 331-339 MB after
//     'young' (one scavenge then; docs/soak-flatten.json). 4-6 s for that 150 MB state (1.2
//     million objects): not the default.
//   'none': nothing.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { native } from '../seams/addon.js';
import { flattenStrings } from './flatten-strings.js';

export type SettleHeap = 'young' | 'full' | 'flatten' | 'none';
export const settleKinds: readonly SettleHeap[] = ['young', 'full', 'flatten', 'none'];

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

export function settleHeap(kind: SettleHeap): void {
  if (kind === 'none') return;
  gc ??= gcFunction();
  // gc() with no argument is V8's full collection. Not gc({ type: 'major' }): Node 20's V8 runs a
  // scavenge for that (test/unit/settle-heap.test.ts watches which collection each kind runs).
  if (kind === 'young') {
    gc({ type: 'minor' });
    return gc({ type: 'minor' });
  }
  if (kind !== 'flatten') return gc();
  flattenStrings();
  // Frees the ropes just replaced, moves the flat copies, made young, out once, here, and compacts
  // every page: each rope freed left a hole in a page of the app's objects, and a worker's sweeper
  // writes a free-list entry into every hole, copying the page (compactEveryPage, below).
  compactEveryPage(gc);
  // Finding the strings made V8 malloc a set of every object, freed but kept (malloc-settle.h).
  native.settleMalloc();
}

/** Whether the process was started with V8's every-collection compaction (then it stays on). */
function compactsAlready(): boolean {
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  return flags.some((f) => /^--compact[-_]on[-_]every[-_]full[-_]gc$/.test(f));
}

/**
 * One full collection that evacuates every page of the old generation into dense ones. V8's own
 * choice compacts only pages mostly empty; after the flatten the holes are everywhere, and a
 * worker's first full collection sweeps each page with one (a write: the page is copied). Measured
 * (bench/gc-attribution.mjs, the issue's app at 800 requests/s, 150 s): the largest worker 86 MB
 * against 119, what its mark-compacts unshared 9 MB against 97, their main-thread time 1.2 s
 * against 2.9; the master's old space 156 MB against 169 for 154 in use. 0.2-0.6 s at 150 MB.
 */
function compactEveryPage(collect: Gc): void {
  if (compactsAlready()) return collect();
  setFlagsFromString('--compact-on-every-full-gc');
  try {
    collect();
  } finally {
    setFlagsFromString('--no-compact-on-every-full-gc');
  }
}
