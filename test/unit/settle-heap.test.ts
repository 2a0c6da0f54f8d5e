// settleHeap (src/prefork/settle-heap.ts) runs the collection each kind names, seen the way V8
// reports it to perf_hooks: 'young' a scavenge, 'full' and 'flatten' a mark-compact, 'none'
// nothing; and 'flatten' compacts every page. It runs in this process: a collection forks nothing. (On Node 20, gc({ type: 'major' }) runs a scavenge: a
// 'full' settle built on it would settle nothing more than 'young'.)
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
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

/** Bytes of the old generation's pages that hold no live object (holes and free tails). */
function oldSpaceSlack(): number {
  const old = getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!;
  return old.physical_space_size - old.space_used_size;
}

/** 400 000 rows whose strings are ropes (template literals of 13+ characters), old. */
function ropedRows(): { name: string; email: string }[] {
  const rows = Array.from({ length: 400_000 }, (_, i) => ({ id: i, name: `customer-${i}`, email: `c${i}@example.com` }));
  settleHeap('full'); // promotes them
  return rows;
}

describe('settleHeap', () => {
  it("'full' runs a mark-compact", async () => {
    expect(await collectionsDuring(() => settleHeap('full'))).toContain(constants.NODE_PERFORMANCE_GC_MAJOR);
  });

  it("'flatten' runs a mark-compact after flattening (test/unit/flatten-strings.test.ts)", async () => {
    expect(await collectionsDuring(() => settleHeap('flatten'))).toContain(constants.NODE_PERFORMANCE_GC_MAJOR);
  });

  it("'flatten' leaves no holes where the ropes it replaced were (V8 alone compacts only pages mostly empty)", () => {
    const rows = ropedRows();
    settleHeap('flatten');
    expect(rows[123_456].name).toBe('customer-123456');
    expect(oldSpaceSlack()).toBeLessThan(3 * 2 ** 20);
  });

  it("'young' runs a scavenge and no mark-compact", async () => {
    const kinds = await collectionsDuring(() => settleHeap('young'));
    expect(kinds).toContain(constants.NODE_PERFORMANCE_GC_MINOR);
    expect(kinds).not.toContain(constants.NODE_PERFORMANCE_GC_MAJOR);
  });

  it("'young' leaves nothing the app made in the young generation: each worker's first scavenge would promote it, copying the master's pages that point to it", () => {
    const kept = Array.from({ length: 20_000 }, (_, i) => ({ i, tag: `row-${i}` }));
    settleHeap('young');
    const young = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!;
    // ~1.5 MB kept: one scavenge leaves all of it there.
    expect(young.space_used_size).toBeLessThan(256 * 1024);
    expect(kept[19_999].tag).toBe('row-19999');
  });

  it("'none' runs no collection", async () => {
    expect(await collectionsDuring(() => settleHeap('none'))).toEqual([]);
  });
});
