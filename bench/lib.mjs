// Shared by the benchmarks: each one is its own process, prints a line of JSON last.
import diagnosticsChannel from 'node:diagnostics_channel';
import { cpSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * A second copy of pg and pg-pool (the same files), for the bare side of a comparison in one
 * process: the guard patches the classes of the copy it guards, so a bare pool from the same copy
 * would run through the guard's (pass-through) wrappers too.
 */
export function barePg() {
  const dir = join(root, '.tmp', 'bench-bare', 'node_modules');
  for (const name of ['pg', 'pg-pool']) {
    if (!existsSync(join(dir, name))) cpSync(join(root, 'node_modules', name), join(dir, name), { recursive: true });
  }
  return createRequire(join(dir, '..', 'index.js'))('pg');
}
export const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[v.length >> 1] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
export const ns = () => Number(process.hrtime.bigint());
export function emit(result) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** fork()'s own timings, part by part, as the parent's `pgforkguard:fork` event carries them
 * (quiesceMs, scanMs, forkMs, restoreMs, ranges): one entry per fork() from now on. */
export function recordForkTimings() {
  const rows = [];
  diagnosticsChannel.subscribe('pgforkguard:fork', (m) => {
    if (m.role === 'parent') rows.push(m.timings);
  });
  return rows;
}
