// The fork and guard suites on the newest release of every other supported Node major (22, 24, 26:
// test/node-version.sh --list), so that a Node update that moves libuv, V8 or Node's own privates
// is caught here before users meet it. Each runs as its own vitest under that Node
// (test/node-version.sh), against a Postgres of its own. pretest installs the binaries.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..');
const majors = execFileSync('bash', [join(root, 'test', 'node-version.sh'), '--list'], { encoding: 'utf8' }).trim().split(/\s+/);

// What fork() and the guard stand on: the fork runtime (survival, lifecycle, the seams to libuv, V8
// and Node), the guard with its unguarded twins, at-most-once, the zero-code entry and prefork().
const suites = [
  'test/uv-seam.test.ts',
  'test/node-seam.test.ts',
  'test/pg-contract.test.ts',
  'test/lifecycle.test.ts',
  'test/survival.test.ts',
  'test/condvars.test.ts',
  'test/guard.test.ts',
  'test/at-most-once.test.ts',
  'test/zero-code.test.ts',
  'test/prefork.test.ts',
  'test/prefork-listeners.test.ts',
  'test/no-stalls.test.ts',
  'test/threads.test.ts',
];

function run(major: string, report: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    // A vitest of its own: none of this run's variables (its pool, its workers) may leak into it.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST') && k !== 'NODE_OPTIONS'));
    const p = spawn('bash', ['test/node-version.sh', major, ...suites], {
      cwd: root,
      env: { ...env, FG_VITEST_REPORT: report },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    p.stdout.on('data', (d) => (output += d));
    p.stderr.on('data', (d) => (output += d));
    p.on('exit', (code) => resolve({ code, output }));
  });
}

describe.each(majors)('Node %s', (major) => {
  it(
    'the fork and guard suites pass',
    async () => {
      const report = join(root, '.tmp', `node-${major}-report.json`);
      rmSync(report, { force: true });
      const { code, output } = await run(major, report);
      const tail = output.split('\n').slice(-60).join('\n');
      expect(code, tail).toBe(0);
      expect(existsSync(report), tail).toBe(true);
      const r = JSON.parse(readFileSync(report, 'utf8'));
      expect(r.numFailedTests, tail).toBe(0);
      expect(r.numPassedTests, tail).toBeGreaterThan(50);
      expect(output).toMatch(new RegExp(`test:node: v${major}\\.`));
    },
    20 * 60_000,
  );
});
