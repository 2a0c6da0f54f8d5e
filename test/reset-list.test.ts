// addResettable(): anything that owns connections joins the list reset once per new process.
import { describe, expect, it } from 'vitest';
import { childExitedCleanly, ok, scenario } from './helpers.js';

describe('addResettable()', () => {
  it('addResettable(): resetAfterFork() once per new process before the loop polls; a failing one is reported, the rest still run', async () => {
    const run = await scenario('reset-list/add-resettable');
    ok(run);
    const { parent, child, grandchild } = run.results;
    childExitedCleanly(parent);
    expect(parent.calls).toEqual([]);
    expect(parent.removed).toEqual([true, false, false]);
    expect(child.atReturn).toEqual([
      { who: 'a', args: 0, generation: 1 },
      { who: 'c', generation: 1 },
    ]);
    expect(child.warnings).toEqual([{ code: 'FORKGUARD_RESET_FAILED', boom: true }]);
    expect(child.stats[0].droppedInherited).toBe(2); // the guarded pool was reset too
    expect(child.works).toBe(true);
    expect(child.grandchild.status).toEqual({ code: 0, signal: null });
    expect(grandchild.calls.filter((c: any) => c.generation === 2)).toEqual([
      { who: 'a', args: 0, generation: 2 },
      { who: 'c', generation: 2 },
    ]);
  });
});
