import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { runFixture } from './helpers.js';

interface Layout {
  /** What src/heap-placement.ts decided at import. */
  decided: { placement: string; reservedBytes: number; errno?: number };
  /** Read-write anonymous mappings, and the 1 GB regions they lie in (each needs a table of its own). */
  rwAnon: number;
  rwGigabytes: number;
  pageTablesKb: number;
  /** Inaccessible anonymous mappings where V8's hints fall. */
  reservedGB: number;
}

async function layout(nodeArgs: string[], placement?: string, addressSpaceKb?: number): Promise<Layout> {
  const env: Record<string, string> = placement === undefined ? {} : { PG_FORKGUARD_HEAP_PLACEMENT: placement };
  const run = await runFixture('heap-placement.mjs', { nodeArgs, env, addressSpaceKb });
  expect(run.code, run.stderr).toBe(0);
  return run.results.layout as Layout;
}

/** 64 MB of state is ~300 of V8's 256 KB pages. Scattered, nearly each lies in a 1 GB region of its
 * own; together, a few regions hold them all (here 27 against 337; under ASan, whose allocator adds
 * its own to both, 117 against 357). */
function expectTogether(together: Layout, scattered: Layout): void {
  expect(scattered.rwGigabytes).toBeGreaterThan(150);
  expect(together.rwGigabytes * 2).toBeLessThan(scattered.rwGigabytes);
  expect(together.rwAnon).toBeLessThan(scattered.rwAnon);
}

describe("V8's heap pages land together in a process that will fork", () => {
  it('under --single-threaded: a fraction of the mappings and page tables of V8’s own placement, which is scattered', async () => {
    const together = await layout(['--single-threaded']);
    const scattered = await layout(['--single-threaded'], 'v8'); // the control: V8 left alone
    expect(together.decided.placement).toBe('together');
    expect(together.reservedGB).toBeGreaterThan(32 * 1024); // most of [64 GB, 64 TB): address space only
    expect(scattered.reservedGB).toBe(0);
    expectTogether(together, scattered);
    expect(together.pageTablesKb).toBeLessThan(scattered.pageTablesKb);
  });

  it('a process that does not fork (no --single-threaded) is left as it was, unless PG_FORKGUARD_HEAP_PLACEMENT=together asks', async () => {
    const plain = await layout([]);
    const asked = await layout([], 'together');
    expect(plain.decided).toEqual({ placement: 'v8', reservedBytes: 0 });
    expect(plain.reservedGB).toBe(0);
    expect(asked.reservedGB).toBeGreaterThan(32 * 1024);
    expectTogether(asked, plain);
  });

  it('under a limit on address space (ulimit -v), which counts the reservation, nothing is reserved', async () => {
    // 32 TB: room for the process (and ASan's shadow), not for the whole reservation.
    const limited = await layout(['--single-threaded'], undefined, 2 ** 35);
    expect(limited.decided).toEqual({ placement: 'v8', reservedBytes: 0, errno: constants.errno.ENOMEM });
    expect(limited.reservedGB).toBe(0);
  });

  it('a PG_FORKGUARD_HEAP_PLACEMENT that is neither is a typed error at import, saying what to set', async () => {
    const run = await runFixture('heap-placement.mjs', { env: { PG_FORKGUARD_HEAP_PLACEMENT: 'packed' } });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('InvalidArgumentError');
    expect(run.stderr).toContain("PG_FORKGUARD_HEAP_PLACEMENT must be 'together' or 'v8', got 'packed'");
  });
});
