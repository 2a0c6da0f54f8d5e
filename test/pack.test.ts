// The package as a user gets it: `npm pack` (whose prepack builds the TypeScript and the linux-x64
// prebuild), installed into a new project with --ignore-scripts (nothing compiles there) and used
// from both module systems; and on Windows, where nothing is compiled at all.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..');
const work = join(root, '.tmp', 'pack-test');
const app = join(work, 'app');
const installed = join(app, 'node_modules', 'pg-forkguard');
const npm = (args: string[], cwd: string) =>
  execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });

describe('npm pack → install with --ignore-scripts → the prebuilt addon', () => {
  it('npm pack alone puts the prebuild in the tarball; it loads from both import and require, with no build directory', () => {
    rmSync(join(root, 'prebuilds'), { recursive: true, force: true }); // nothing left from an earlier run
    rmSync(work, { recursive: true, force: true });
    mkdirSync(app, { recursive: true });
    const tgz = join(work, npm(['pack', '--silent', '--pack-destination', work], root).trim().split('\n').pop()!);
    // prepack keeps the test build that the rest of the suite loads.
    expect(existsSync(join(root, 'build', 'Release', 'pg_forkguard_test.node-test'))).toBe(true);
    const files = execFileSync('tar', ['tzf', tgz], { encoding: 'utf8' }).trim().split('\n').map((f) => f.replace(/^package\//, ''));
    expect(files).toContain('dist/index.js');
    expect(files).toContain('dist/esm.mjs');
    expect(files).toContain('dist/register.js');
    expect(files).toContain(`prebuilds/${process.platform}-${process.arch}/pg-forkguard.node`);
    expect(files).toContain('prebuilds/linux-arm64/pg-forkguard.node');
    expect(files.filter((f) => /^(test|build|src|bench|examples|docs)\//.test(f))).toEqual([]);
    expect(files.filter((f) => f.includes('test-exports') || f.endsWith('.node-test'))).toEqual([]);

    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
    npm(['install', tgz, '--ignore-scripts', '--no-audit', '--no-fund', '--no-package-lock'], app);
    expect(existsSync(join(installed, 'build'))).toBe(false);

    const cjs = execFileSync(
      process.execPath,
      ['-e', `const fg = require('pg-forkguard'); fg.install(); console.log(JSON.stringify({ installed: fg.isInstalled(), binary: Object.keys(require.cache).filter((k) => k.endsWith('.node')), exports: Object.keys(Object.values(require.cache).find((m) => m.id.endsWith('.node')).exports).sort() }))`],
      { cwd: app, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } },
    );
    const r = JSON.parse(cjs);
    expect(r.installed).toBe(true);
    expect(r.binary).toHaveLength(1);
    expect(r.binary[0]).toContain(join('node_modules', 'pg-forkguard', 'prebuilds'));
    // The shipped addon exports what binding.cc sets on its exports and nothing test-only (the
    // list is read from the source, so a new export needs no edit here).
    const declared = [...readFileSync(join(root, 'native', 'napi', 'binding.cc'), 'utf8').matchAll(/exports\.Set\("(\w+)"/g)].map((m) => m[1]);
    expect(declared.length).toBeGreaterThan(10);
    expect(r.exports).toEqual(declared.sort());

    const esm = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', `import { guard, isInstalled, install } from 'pg-forkguard'; install(); console.log(typeof guard, isInstalled())`],
      { cwd: app, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } },
    );
    expect(esm.trim()).toBe('function true');
  });

  // Windows is emulated: process.platform reads 'win32' (a --require preload). A copy of the
  // installed package without its prebuild stands for a platform nobody built one for.
  it('on Windows the install script compiles nothing and the package imports with no addon', () => {
    expect(existsSync(installed), 'runs after the pack test above').toBe(true);
    const preload = join(work, 'win32.cjs');
    writeFileSync(preload, "Object.defineProperty(process, 'platform', { value: 'win32' });\n");
    const noPrebuild = join(work, 'no-prebuild');
    rmSync(noPrebuild, { recursive: true, force: true });
    cpSync(installed, noPrebuild, { recursive: true });
    rmSync(join(noPrebuild, 'prebuilds'), { recursive: true, force: true });
    const script = JSON.parse(readFileSync(join(noPrebuild, 'package.json'), 'utf8')).scripts.install;
    // A compile would fail here: no headers, no network.
    const env = { ...process.env, npm_config_nodedir: '/nonexistent', npm_config_offline: 'true', NODE_OPTIONS: '' };
    const win = spawnSync('sh', ['-c', script], { cwd: noPrebuild, encoding: 'utf8', env: { ...env, NODE_OPTIONS: `--require ${preload}` }, timeout: 120_000 });
    expect(win.status, win.stderr).toBe(0);
    expect(existsSync(join(noPrebuild, 'build'))).toBe(false);
    // The same script where fork(2) exists does try to compile (and fails here): the skip is real.
    const linux = spawnSync('sh', ['-c', script], { cwd: noPrebuild, encoding: 'utf8', env, timeout: 120_000 });
    expect(linux.status).not.toBe(0);
    rmSync(join(noPrebuild, 'build'), { recursive: true, force: true });

    const out = execFileSync(
      process.execPath,
      ['--require', preload, '-e', `
        const fg = require(${JSON.stringify(noPrebuild)});
        const thrown = (f) => { try { f(); return 'no error'; } catch (e) { return { name: e.name, reason: e.reason, message: e.message }; } };
        console.log(JSON.stringify({
          install: fg.install(), installed: fg.isInstalled(), generation: fg.forkGeneration(), pid: fg.currentPid() === process.pid,
          fork: thrown(() => fg.fork()), trackFd: thrown(() => fg.trackFd(0)),
          binaries: Object.keys(require.cache).filter((k) => k.endsWith('.node')),
        }));`],
      { cwd: app, encoding: 'utf8', env },
    );
    const w = JSON.parse(out);
    expect(w).toMatchObject({ install: false, installed: false, generation: 0, pid: true, binaries: [] });
    expect(w.fork).toMatchObject({ name: 'ForkUnsupportedError', reason: 'platform' });
    expect(w.fork.message).toMatch(/not available on win32/);
    expect(w.trackFd).toMatchObject({ name: 'ForkUnsupportedError', reason: 'platform' });
    expect(readdirSync(noPrebuild)).not.toContain('build');
  });
});
