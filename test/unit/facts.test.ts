// Each fact once: native/core/facts.h defines every slot, code and limit the addon and its JS
// share. The JS side's names are generated from it and must not be stale, and the addon hands over
// exactly those names at init().
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { codes, forkReport, limits, stateSlots } from '../../dist/seams/addon-facts.js';
import { facts } from '../../dist/runtime/state.js';

const root = join(__dirname, '..', '..');

describe('native/core/facts.h is the one definition', () => {
  it('src/seams/addon-facts.ts is what native/gen-facts.mjs writes from it', () => {
    const r = spawnSync(process.execPath, [join(root, 'native', 'gen-facts.mjs'), '--check'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });

  it('init() hands over every name the header lists, and no other', () => {
    expect(Object.keys(facts!.codes).sort()).toEqual([...codes].sort());
    expect(Object.keys(facts!.limits).sort()).toEqual([...limits].sort());
    expect(Object.keys(facts!.slots).sort()).toEqual([...stateSlots, 'canaryToken'].sort());
    expect(Object.keys(facts!.forkReport).sort()).toEqual([...forkReport, 'length'].sort());
    // The report's slots are 0..length-1, each once.
    const slots = forkReport.map((k) => facts!.forkReport[k]).sort((a, b) => a - b);
    expect(slots).toEqual(forkReport.map((_, i) => i));
    expect(facts!.forkReport.length).toBe(forkReport.length);
    expect(facts!.report!.byteLength).toBe(8 * forkReport.length);
  });

  it('the check can fail: a header line added without regenerating is caught', () => {
    const header = join(root, 'native', 'core', 'facts.h');
    const original = require('node:fs').readFileSync(header, 'utf8');
    const dir = join(root, '.tmp', 'facts-mutant');
    require('node:fs').mkdirSync(join(dir, 'native', 'core'), { recursive: true });
    require('node:fs').mkdirSync(join(dir, 'src', 'seams'), { recursive: true });
    require('node:fs').writeFileSync(
      join(dir, 'native', 'core', 'facts.h'),
      original.replace('  X(CALLS, calls, calls)', '  X(NEW_SLOT, newSlot, newSlot)                                                                    \\\n  X(CALLS, calls, calls)'),
    );
    require('node:fs').copyFileSync(join(root, 'native', 'gen-facts.mjs'), join(dir, 'native', 'gen-facts.mjs'));
    require('node:fs').copyFileSync(join(root, 'src', 'seams', 'addon-facts.ts'), join(dir, 'src', 'seams', 'addon-facts.ts'));
    const r = spawnSync(process.execPath, [join(dir, 'native', 'gen-facts.mjs'), '--check'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/stale/);
    execFileSync(process.execPath, [join(dir, 'native', 'gen-facts.mjs')]);
    expect(require('node:fs').readFileSync(join(dir, 'src', 'seams', 'addon-facts.ts'), 'utf8')).toContain('"newSlot"');
  });
});
