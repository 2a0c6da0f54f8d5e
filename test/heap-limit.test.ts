// Heap placement never kills a process (native/core/heap-placement.h, native/uv/heap-limit.h): its
// address-space reservation, which RLIMIT_AS counts whole, is not held in fork() children, and gives
// way when a supervisor lowers the limit on the running process. Before, the first allocation after
// `prlimit --as=16G` aborted the process (std::bad_alloc, or V8's "Zone Allocation failed").
import { describe, expect, it } from 'vitest';
import { ok, runFixture } from './helpers.js';

describe('heap placement under an address-space limit', () => {
  it('prlimit --as=16G on the running process: the reservation is given back and 300 MB of allocation succeeds; a fork() child holds none', async () => {
    const run = await runFixture('heap-limit.mjs', { timeoutMs: 60_000 });
    ok(run);
    const { parent, child } = run.results;
    // Tens of TB reserved at the import (no memory), so the limit would fail every mapping.
    expect(parent.reservedAtStart).toBeGreaterThan(16 * 1024 ** 4);
    expect(child.reserved).toBe(0);
    expect(parent.child).toEqual({ code: 0, signal: null });
    expect(parent.reservedAfterFork).toBe(parent.reservedAtStart);
    expect(parent.prlimit).toBe('lowered');
    expect(parent.reservedAfterLimit).toBe(0);
    expect(parent.allocatedMb).toBe(300);
  });
});
