// The package as a user gets it: prebuilt with prebuildify, packed with npm pack, installed into a
// new project with --ignore-scripts (nothing compiles there) and used from both module systems.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..');
const npm = (args: string[], cwd: string) =>
  execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });

describe('npm pack → install with --ignore-scripts → the prebuilt addon', () => {
  it('loads the prebuilt binary from both import and require, with no build directory', () => {
    npm(['run', 'prebuild', '--silent'], root);
    const prebuilt = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
    expect(readdirSync(prebuilt).some((f) => f.endsWith('.node'))).toBe(true);

    const work = join(root, '.tmp', 'pack-test');
    rmSync(work, { recursive: true, force: true });
    mkdirSync(join(work, 'app'), { recursive: true });
    const tgz = npm(['pack', '--silent', '--pack-destination', work], root).trim().split('\n').pop()!;
    const contents = npm(['pack', '--dry-run', '--json'], root);
    const files: string[] = JSON.parse(contents)[0].files.map((f: { path: string }) => f.path);
    expect(files).toContain('dist/index.js');
    expect(files).toContain('dist/esm.mjs');
    expect(files).toContain('dist/register.js');
    expect(files.some((f) => f.startsWith('prebuilds/') && f.endsWith('.node'))).toBe(true);
    expect(files.some((f) => f.startsWith('test/') || f.startsWith('build/') || f.startsWith('src/'))).toBe(false);

    const app = join(work, 'app');
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
    npm(['install', join(work, tgz), '--ignore-scripts', '--no-audit', '--no-fund', '--no-package-lock'], app);
    const installed = join(app, 'node_modules', 'pg-forkguard');
    expect(existsSync(join(installed, 'build'))).toBe(false);

    const cjs = execFileSync(
      process.execPath,
      ['-e', `const fg = require('pg-forkguard'); fg.install(); console.log(JSON.stringify({ installed: fg.isInstalled(), binary: Object.keys(require.cache).filter((k) => k.endsWith('.node')) }))`],
      { cwd: app, encoding: 'utf8' },
    );
    const r = JSON.parse(cjs);
    expect(r.installed).toBe(true);
    expect(r.binary).toHaveLength(1);
    expect(r.binary[0]).toContain(join('node_modules', 'pg-forkguard', 'prebuilds'));

    const esm = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', `import { guard, isInstalled, install } from 'pg-forkguard'; install(); console.log(typeof guard, isInstalled())`],
      { cwd: app, encoding: 'utf8' },
    );
    expect(esm.trim()).toBe('function true');
  });
});
