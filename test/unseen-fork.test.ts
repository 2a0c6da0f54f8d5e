// Forks pg-forkguard did not make (foreign native code calling fork(2)): no atfork handler ran, so
// only the fork canary (a page the kernel wipes in every child) or debug mode's getpid() check can
// see them. The test build's rawForkForTest() makes such forks (test/support/native-test.ts).
import { describe, expect, it } from 'vitest';
import { childExitedCleanly, ok, scenario } from './helpers.js';

describe('a fork nobody announced', () => {
  it('a raw-syscall fork (no atfork handler at all): the canary resets the pool before the child polls; parent untouched', async () => {
    const run = await scenario('unseen-fork/raw-syscall');
    expect(run.code, run.stderr).toBe(0);
    const { parent, child } = run.results;
    expect(parent.child.status).toEqual({ code: 0, signal: null });
    // At fork() return nothing had run (no handler); by the first poll the canary had been seen.
    expect(child.atReturn.generation).toBe(0);
    expect(child.generation).toBe(1);
    expect(child.stats).toMatchObject({ generation: 1, droppedInherited: 4, total: 0 });
    expect(parent.after).toEqual(parent.before);
    expect(parent.ok).toBe(20);
  });

  it('a fork that bypasses the atfork handler is caught by the canary; the parent is untouched', async () => {
    const run = await scenario('unseen-fork/no-handler');
    ok(run);
    const { parent, child } = run.results;
    childExitedCleanly(parent);
    expect(child.atReturn.generation).toBe(0); // nothing ran at the fork itself
    expect(child.generation).toBe(1);
    expect(child.results).toEqual(Array(20).fill(true));
    expect(child.stats[0]).toMatchObject({ droppedInherited: 4 });
    expect(child.warnings).toEqual([]);
    expect(parent.after).toEqual(parent.before);
  });

  it('debug mode catches, by getpid(), a fork that both the handler and the canary missed', async () => {
    const run = await scenario('unseen-fork/no-handler', 'guarded', { DEBUG: '1', CANARY: '0' });
    ok(run);
    const { parent, child } = run.results;
    childExitedCleanly(parent);
    expect(child.warnings).toEqual(['FORKGUARD_UNSEEN_FORK']);
    expect(child.results).toEqual(Array(20).fill(true));
    expect(child.stats[0]).toMatchObject({ droppedInherited: 4 });
    expect(parent.after).toEqual(parent.before);
  });
});
