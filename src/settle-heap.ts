// Before a pre-fork master forks, its heap is settled: garbage collected and compacted, so that
// what the workers inherit is live data packed into as few pages as possible. Pages shared
// copy-on-write stay shared only until someone writes to them, and a worker's first GC writes to
// every page it marks: fewer, fuller pages are fewer copies.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | undefined;

function gcFunction(): () => void {
  const global = (globalThis as { gc?: () => void }).gc;
  if (typeof global === 'function') return global;
  // V8 gives a new context a gc() while --expose-gc is set; the flag goes back off at once.
  setFlagsFromString('--expose-gc');
  try {
    return runInNewContext('gc') as () => void;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}

/** Two full, compacting garbage collections (the second frees what the first's finalizers let go). */
export function settleHeap(): void {
  gc ??= gcFunction();
  setFlagsFromString('--compact-on-every-full-gc');
  try {
    gc();
    gc();
  } finally {
    setFlagsFromString('--no-compact-on-every-full-gc');
  }
}
