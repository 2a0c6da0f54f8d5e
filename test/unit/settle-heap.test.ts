// settleHeap (src/prefork/settle-heap.ts) runs the collection each kind names, seen the way V8
// reports it to perf_hooks: 'young' a scavenge, 'full' and 'flatten' a mark-compact, 'none' nothing. It runs in
// this process: a collection forks nothing. (On Node 20, gc({ type: 'major' }) runs a scavenge: a
// 'full' settle built on it would settle nothing more than 'young'.)
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { settleHeap } from '../../dist/prefork/settle-heap.js';

async function collectionsDuring(run: () => void): Promise<number[]> {
  const kinds: number[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) kinds.push((entry as unknown as { detail: { kind: number } }).detail.kind);
  });
  observer.observe({ entryTypes: ['gc'] });
  run();
  // gc entries are delivered after the collection, from a task of their own.
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  return kinds;
}

describe('settleHeap', () => {
  it("'full' runs a mark-compact", async () => {
    expect(await collectionsDuring(() => settleHeap('full'))).toContain(constants.NODE_PERFORMANCE_GC_MAJOR);
  });

  it("'flatten' runs a mark-compact after flattening (test/unit/flatten-strings.test.ts)", async () => {
    expect(await collectionsDuring(() => settleHeap('flatten'))).toContain(constants.NODE_PERFORMANCE_GC_MAJOR);
  });

  it("'young' runs a scavenge and no mark-compact", async () => {
    const kinds = await collectionsDuring(() => settleHeap('young'));
    expect(kinds).toContain(constants.NODE_PERFORMANCE_GC_MINOR);
    expect(kinds).not.toContain(constants.NODE_PERFORMANCE_GC_MAJOR);
  });

  it("'none' runs no collection", async () => {
    expect(await collectionsDuring(() => settleHeap('none'))).toEqual([]);
  });
});
