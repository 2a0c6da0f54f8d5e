// One package, two module systems: the ESM entry re-exports the CommonJS objects themselves. Checked
// in a plain node process (the test runner has its own module loading).
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..');
const require = createRequire(join(root, 'package.json'));

describe('packaging', () => {
  it('import and require give the same functions and classes (instanceof works across them)', () => {
    const script = `
      import { createRequire } from 'node:module';
      import * as esm from 'pg-forkguard';
      const cjs = createRequire(import.meta.url)('pg-forkguard');
      const names = Object.keys(cjs).sort();
      console.log(JSON.stringify({
        names,
        esmNames: Object.keys(esm).filter((k) => k !== 'default').sort(),
        different: names.filter((k) => esm[k] !== cjs[k]),
        defaultIsCjs: esm.default === cjs,
        crossInstanceof: new esm.ForkedConnectionError({ what: 'x', ownerPid: 1, currentPid: 2 }) instanceof cjs.ForkGuardError,
      }));`;
    const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' }));
    expect(out.esmNames).toEqual(out.names);
    expect(out.names).toContain('guard');
    expect(out.names).toContain('createPoolRegistry');
    expect(out.different).toEqual([]);
    expect(out.defaultIsCjs).toBe(true);
    expect(out.crossInstanceof).toBe(true);
  });

  it('package.json maps import and require to those entries', () => {
    const pkg = require('./package.json');
    expect(pkg.exports['.'].import.default).toBe('./dist/esm.mjs');
    expect(pkg.exports['.'].require.default).toBe('./dist/index.js');
    expect(require.resolve('pg-forkguard')).toBe(join(root, 'dist', 'index.js'));
  });
});
