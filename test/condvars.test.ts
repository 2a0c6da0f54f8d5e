import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// native/condvars.c on its own, compiled with test/native/condvars.c into a plain C program (no
// Node, no V8): threads sleep on a condvar as V8's platform workers do, the process forks, and the
// child signals the condvar past the group its dead sleepers hold.
const root = join(__dirname, '..');
const glibc = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime;
const [major, minor] = (glibc ?? '0.0').split('.').map(Number);
const layoutKnown = major === 2 && minor! >= 25 && minor! <= 40;

let dir: string;
let program: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fg-condvars-'));
  program = join(dir, 'condvars');
  const sanitize = process.env.PG_FORKGUARD_SANITIZE === 'address' ? ['-fsanitize=address', '-fno-omit-frame-pointer'] : [];
  execFileSync(
    process.env.CC ?? 'cc',
    ['-g', '-Wall', '-Wextra', '-Werror', ...sanitize, '-o', program,
      join(root, 'test/native/condvars.c'), join(root, 'native/condvars.c'), '-lpthread'],
    { stdio: 'pipe' },
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(mode: 'reset' | 'none'): { found: number; exited: boolean; code: number; signal: number } {
  return JSON.parse(execFileSync(program, [mode], { encoding: 'utf8', timeout: 20_000 }));
}

describe(`condvars slept on at fork time (glibc ${glibc ?? 'none'})`, () => {
  it('the child hangs in pthread_cond_signal unless they are re-initialised', () => {
    if (!layoutKnown) {
      // Another libc, or a glibc whose condvar has no __g_refs (2.41+): nothing is touched.
      expect(run('reset').found).toBe(0);
      return;
    }
    const unguarded = run('none');
    expect(unguarded.found).toBe(1);
    expect(unguarded.exited, 'without the reset the child should hang until its alarm').toBe(false);
    expect(unguarded.signal).toBe(14); // SIGALRM

    const guarded = run('reset');
    expect(guarded).toEqual({ found: 1, exited: true, code: 0, signal: 0 });
  });
});
