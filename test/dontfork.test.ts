import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCProgram } from './helpers.js';

// native/core/dontfork.c on its own, compiled with test/native/dontfork.c into a plain C program (no
// Node): regions marked MADV_DONTFORK as V8 marks its pages, forked four times (see that file).
let built: ReturnType<typeof buildCProgram>;
beforeAll(() => {
  built = buildCProgram('dontfork');
});
afterAll(() => built.remove());

interface Round {
  reused: number;
  marked: number;
  calls: number;
  failures: number;
  child: number;
  regions: number;
  oldMarked: number;
  newRegions: number;
  newMarked: number;
  scratchWiped: number;
}
const run = (mode?: string): Round[] => JSON.parse(execFileSync(built.program, mode ? [mode] : [], { encoding: 'utf8', timeout: 20_000, stdio: ['ignore', 'pipe', 'pipe'] }));

describe('the do-not-copy mappings (native/core/dontfork.c)', () => {
  it('lent to every child, taken back in the parent; smaps read only when too much is new', () => {
    const [first, same, few, many] = run();
    for (const r of [first, same, few, many]) {
      expect(r.child).toBe(0); // the child read every region
      expect(r.failures).toBe(0); // madvise over runs with holes: ENOMEM is not a failure
      expect(r.oldMarked).toBe(64); // the parent's marks are back
      // The scan's own memory is neither copied to the child nor write-protected in the parent.
      expect(r.scratchWiped).toBe(1);
    }

    expect([first.reused, same.reused, few.reused, many.reused]).toEqual([0, 1, 1, 0]);
    // 64 regions, each alone among holes, flipped by a handful of calls, not 64 (4 here; 13 under
    // ASan, whose own mappings sit between them).
    expect(first.calls).toBeLessThan(16);
    // Reused with 4 new regions: lent (the child read them) and left copyable.
    expect(few).toMatchObject({ newRegions: 4, newMarked: 0 });
    // 96 MB more: smaps read again; the new regions marked, the 4 of before now copyable.
    expect(many).toMatchObject({ newRegions: 388, newMarked: 384, marked: 448 });
  });

  it("a child's own fork reads smaps afresh: the parent's scans are not the child's", () => {
    // What the parent kept is wiped in the child; taken for the child's own (its 8 regions are under
    // the budget), the child's marks would not come back (25), or the scan would say reused (21).
    const out = JSON.parse(execFileSync(built.program, ['nested'], { encoding: 'utf8', timeout: 20_000, stdio: ['ignore', 'pipe', 'pipe'] }));
    expect(out).toEqual({ nested: 0 });
  });

  it('without lending, every child dies of SIGSEGV: the test sees a missing region', () => {
    // 128 + SIGSEGV; under ASan its handler reports the SEGV and exits 1, or aborts (128 + SIGABRT)
    // with abort_on_error, as test:asan sets it.
    const sanitized = process.env.PG_FORKGUARD_SANITIZE === 'address';
    for (const r of run('no-lend')) expect(sanitized ? [1, 128 + 6] : [128 + 11]).toContain(r.child);
  });
});
