import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCProgram } from './helpers.js';

// native/core/condvars.c on its own, compiled with test/native/condvars.c into a plain C program (no
// Node, no V8): threads sleep on a condvar as V8's platform workers do, the process forks, and the
// child signals the condvar past the group its dead sleepers hold.
const glibc = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime;
const [major, minor] = (glibc ?? '0.0').split('.').map(Number);
const layoutKnown = major === 2 && minor! >= 25 && minor! <= 40;

let built: ReturnType<typeof buildCProgram>;
beforeAll(() => {
  built = buildCProgram('condvars', ['-lpthread', '-ldl']);
});
afterAll(() => built.remove());

function run(mode: 'reset' | 'none' | 'lookalike'): { found: number; exited: boolean; code: number; signal: number; intact?: boolean } {
  return JSON.parse(execFileSync(built.program, [mode], { encoding: 'utf8', timeout: 20_000 }));
}

// The repair is exercised only on a glibc whose condvar layout it knows (2.25 to 2.40; CI runs
// 2.36): there the first test runs and the second is skipped by name, and on any other libc the other
// way round, so a report says which was checked.
describe(`condvars slept on at fork time (glibc ${glibc ?? 'none'})`, () => {
  it.runIf(layoutKnown)('glibc 2.25-2.40: the child hangs in pthread_cond_signal unless they are re-initialised', () => {
    const unguarded = run('none');
    expect(unguarded.found).toBe(1);
    expect(unguarded.exited, 'without the reset the child should hang until its alarm').toBe(false);
    expect(unguarded.signal).toBe(14); // SIGALRM

    const guarded = run('reset');
    expect(guarded).toEqual({ found: 1, exited: true, code: 0, signal: 0 });
  });

  it.runIf(layoutKnown)('a lookalike (a sem_wait sleeper after words a condvar waiter would leave) is not taken for one: nothing written', () => {
    // Found by the layout alone, it would be zeroed in the child (48 bytes of the app's memory).
    expect(run('lookalike')).toEqual({ found: 0, intact: true });
  });

  it.runIf(!layoutKnown)('another libc, or glibc 2.41+ (no __g_refs): the repair finds nothing and touches nothing', () => {
    expect(run('reset').found).toBe(0);
  });
});
