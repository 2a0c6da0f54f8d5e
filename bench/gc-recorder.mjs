// In a worker of bench/prefork-server.mjs (BENCH_GC_RECORD=<dir>): each garbage collection the
// worker runs, with what the worker's memory did across it, for bench/gc-attribution.mjs.
// At every 'gc' entry perf_hooks delivers (a task that runs right after the collection) and every
// 250 ms, one reading: the worker's Private_Dirty and shared bytes (/proc/self/smaps_rollup) and
// V8's old-generation bytes in use. A reading at a gc entry closes an interval that holds that
// collection (and the handler's work since the reading before, at most a few ms under load);
// a timer reading with no collection since closes an interval of the handler alone.
// Shared bytes a worker loses are pages it no longer shares with its master: copied (it wrote to
// one) or given back (V8 unmapped or discarded it, as after a full collection that emptied it).
// bench/worker-memory.mjs tells the two apart at a moment (pagemap); these readings cannot.
import { readFileSync, writeFileSync } from 'node:fs';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';

const KINDS = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'scavenge',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'mark-compact',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental marking',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak callbacks',
};

function reading() {
  const r = { privateDirty: 0, shared: 0, oldUsed: 0 };
  for (const line of readFileSync('/proc/self/smaps_rollup', 'utf8').split('\n')) {
    const m = /^(Private_Dirty|Shared_Clean|Shared_Dirty):\s+(\d+) kB/.exec(line);
    if (m) r[m[1] === 'Private_Dirty' ? 'privateDirty' : 'shared'] += Number(m[2]) * 1024;
  }
  for (const s of getHeapSpaceStatistics()) if (s.space_name !== 'new_space') r.oldUsed += s.space_used_size;
  return r;
}

export function recordCollections(dir) {
  const events = [];
  let last = reading();
  let pending = [];
  const close = (kinds) => {
    const now = reading();
    events.push({
      at: performance.timeOrigin + performance.now(), // wall-clock ms: comparable across processes
      kinds,
      gcMs: pending.reduce((a, e) => a + e.duration, 0),
      privateDirty: now.privateDirty - last.privateDirty,
      shared: now.shared - last.shared,
      oldUsed: now.oldUsed - last.oldUsed,
      privateDirtyNow: now.privateDirty,
    });
    last = now;
    pending = [];
  };
  new PerformanceObserver((list) => {
    pending.push(...list.getEntries().map((e) => ({ kind: KINDS[e.detail.kind] ?? String(e.detail.kind), duration: e.duration })));
    close(pending.map((e) => e.kind));
  }).observe({ entryTypes: ['gc'] });
  setInterval(() => pending.length === 0 && close([]), 250).unref();
  const save = () => writeFileSync(`${dir}/gc-${process.pid}.json`, JSON.stringify(events));
  process.on('SIGUSR1', save);
}
