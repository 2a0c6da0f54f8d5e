import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

describe('loading the addon', () => {
  it('when no binary loads, the error lists every path tried and why', () => {
    // A copy of the package with no build/ and no prebuilds/, inside the repo so that
    // node_modules (node-gyp-build) still resolves.
    const dir = join(__dirname, '..', '.tmp', `noaddon-${process.pid}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    cpSync(join(__dirname, '..', 'dist'), join(dir, 'dist'), { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'pg-forkguard', main: 'dist/index.js' }));
    try {
      const r = spawnSync(
        process.execPath,
        ['-e', `try { require(${JSON.stringify(dir)}) } catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message, tried: e.tried })) }`],
        { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } },
      );
      const err = JSON.parse(r.stdout);
      expect(err.name).toBe('NativeLoadError');
      expect(err.code).toBe('ERR_FORKGUARD_NATIVE_LOAD');
      const paths = err.tried.map((t: { path: string }) => t.path);
      expect(paths).toContain(join(dir, 'build', 'Release', 'pg_forkguard.node'));
      expect(paths.some((p: string) => p.includes(join('prebuilds', `${process.platform}-${process.arch}`)))).toBe(true);
      expect(err.tried.every((t: { error: string }) => t.error === 'not found')).toBe(true);
      expect(err.message).toMatch(/npm rebuild pg-forkguard/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('nothing outside the package chooses the addon: PG_FORKGUARD_ADDON (once an override) is ignored', () => {
    const bad = join(__dirname, 'no-such-addon.node-test');
    const r = spawnSync(
      process.execPath,
      ['-e', `const fg = require(${JSON.stringify(join(__dirname, '..'))}); console.log(JSON.stringify({ installed: fg.install() || fg.isInstalled(), binary: Object.keys(require.cache).filter((k) => k.endsWith('.node') || k.endsWith('.node-test')) }))`],
      { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '', PG_FORKGUARD_ADDON: bad } },
    );
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.installed).toBe(true);
    // What the package's own loader resolves (build/Release, or prebuilds/ after npm pack), never the variable's file.
    expect(out.binary).toEqual([require('node-gyp-build').resolve(join(__dirname, '..'))]);
  });
});
