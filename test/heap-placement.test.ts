import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { runFixture } from './helpers.js';

interface Layout {
  /** What src/heap-placement.ts decided at import. */
  decided: { placement: string; reservedBytes: number; errno?: number };
  rwAnon: number;
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

describe("V8's heap pages land together in a process that will fork", () => {
  it('under --single-threaded: a fraction of the mappings and page tables of V8’s own placement, which is scattered', async () => {
    const together = await layout(['--single-threaded']);
    const scattered = await layout(['--single-threaded'], 'v8'); // the control: V8 left alone
    expect(scattered.reservedGB).toBe(0);
    expect(together.reservedGB).toBeGreaterThan(32 * 1024); // most of [64 GB, 64 TB): address space only
    // 64 MB of state is ~300 of V8's 256 KB pages: scattered, each one its own mapping and table
    // (fewer under ASan, whose shadow memory takes a quarter of the hints' range).
    expect(scattered.rwAnon).toBeGreaterThan(150);
    expect(together.rwAnon * 3).toBeLessThan(scattered.rwAnon);
    expect(together.pageTablesKb * 2).toBeLessThan(scattered.pageTablesKb);
  });

  it('a process that does not fork (no --single-threaded) is left as it was: nothing reserved, V8’s placement', async () => {
    const plain = await layout([]);
    expect(plain.reservedGB).toBe(0);
    expect(plain.rwAnon).toBeGreaterThan(150);
  });

  it('PG_FORKGUARD_HEAP_PLACEMENT=together asks for it in any process', async () => {
    const asked = await layout([], 'together');
    expect(asked.reservedGB).toBeGreaterThan(32 * 1024);
    expect(asked.rwAnon).toBeLessThan(120);
  });

  it('under a limit on address space (ulimit -v), which would count the reservation, nothing is reserved', async () => {
    const limited = await layout(['--single-threaded'], undefined, 16 * 2 ** 20);
    expect(limited.decided).toEqual({ placement: 'v8', reservedBytes: 0, errno: constants.errno.ENOMEM });
    expect(limited.reservedGB).toBe(0);
    expect(limited.rwAnon).toBeGreaterThan(150);
  });

  it('a PG_FORKGUARD_HEAP_PLACEMENT that is neither is a typed error at import, saying what to set', async () => {
    const run = await runFixture('heap-placement.mjs', { env: { PG_FORKGUARD_HEAP_PLACEMENT: 'packed' } });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('InvalidArgumentError');
    expect(run.stderr).toContain("PG_FORKGUARD_HEAP_PLACEMENT must be 'together' or 'v8', got 'packed'");
  });
});
