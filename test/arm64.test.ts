// Where production runs: the package's linux-arm64 prebuild (test/arm64/prebuild.sh, Debian's
// aarch64 cross-toolchain) loads in Node's arm64 build and passes the guard suite, its unguarded
// twins included, with every fixture running under qemu-user (`qemu-aarch64-static`) and forking
// there. The fixtures run from a copy of the package as an install gets it: dist/ and prebuilds/,
// no build/ (so nothing compiles, as under npm 12 with install scripts off). pretest installs Node's
// arm64 build and makes the prebuild; .ci/run installs the toolchain and qemu.
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..');
const copy = join(root, '.tmp', 'arm64', 'pkg');
const nodeArm64 = join(root, '.tmp', 'node-arm64', 'bin', 'node');
const qemu = ['qemu-aarch64-static', '-L', '/usr/aarch64-linux-gnu'];
const prebuild = join(root, 'prebuilds', 'linux-arm64', 'pg-forkguard.node');
// The guard with its unguarded twins: every fixture forks under qemu.
const suites = ['test/guard.test.ts'];

function installCopy(): void {
  rmSync(copy, { recursive: true, force: true });
  mkdirSync(join(copy, 'test'), { recursive: true });
  for (const f of ['package.json', 'dist']) cpSync(join(root, f), join(copy, f), { recursive: true });
  cpSync(join(root, 'prebuilds', 'linux-arm64'), join(copy, 'prebuilds', 'linux-arm64'), { recursive: true });
  cpSync(join(root, 'test', 'fixtures'), join(copy, 'test', 'fixtures'), { recursive: true });
}

describe('linux-arm64, under qemu-user', () => {
  it('the prebuild is an aarch64 binary, and Node arm64 loads it from prebuilds/ with no build/', () => {
    expect(existsSync(prebuild), 'made by test/arm64/prebuild.sh (pretest)').toBe(true);
    expect(readFileSync(prebuild).readUInt16LE(18), 'e_machine: EM_AARCH64').toBe(183);
    installCopy();
    const out = execFileSync(
      qemu[0]!,
      [...qemu.slice(1), nodeArm64, '-e', `const fg = require(${JSON.stringify(copy)}); fg.install(); console.log(JSON.stringify({ arch: process.arch, installed: fg.isInstalled(), addon: Object.keys(require.cache).find((k) => k.endsWith('.node')) }))`],
      { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' }, timeout: 120_000 },
    );
    const r = JSON.parse(out);
    expect(r).toEqual({ arch: 'arm64', installed: true, addon: join(copy, 'prebuilds', 'linux-arm64', 'pg-forkguard.node') });
  });

  it(
    'the guard suite, twins included, with every fixture on Node arm64',
    async () => {
      expect(existsSync(join(copy, 'dist')), 'made by the test above').toBe(true);
      const report = join(root, '.tmp', 'arm64-report.json');
      rmSync(report, { force: true });
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST') && k !== 'NODE_OPTIONS'));
      const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
        const p = spawn(process.execPath, [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--config', 'test/vitest.config.mts', ...suites], {
          cwd: root,
          env: { ...env, FG_VITEST_REPORT: report, FG_FIXTURE_NODE: JSON.stringify([...qemu, nodeArm64]), FG_FIXTURE_ROOT: copy },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let output = '';
        p.stdout.on('data', (d) => (output += d));
        p.stderr.on('data', (d) => (output += d));
        p.on('exit', (code) => resolve({ code, output }));
      });
      const tail = output.split('\n').slice(-60).join('\n');
      expect(code, tail).toBe(0);
      const r = JSON.parse(readFileSync(report, 'utf8'));
      expect(r.numFailedTests, tail).toBe(0);
      expect(r.numPassedTests, tail).toBeGreaterThan(10);
      console.log(`arm64 under qemu: ${r.numPassedTests} passed, ${r.numFailedTests} failed`);
    },
    25 * 60_000,
  );
});
