// From "I want a worker" to "its first query is done": fork() of a process with a warm guarded pool
// vs child_process.fork() of a script that makes the same pool. Times are CLOCK_MONOTONIC, which
// parent and child share.  node --single-threaded bench/first-query.mjs <url> [n]
import { fork as cpFork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { fork, guard, waitpid } from '../dist/index.js';
import { emit, median, ns, recordForkTimings } from './lib.mjs';

const [url, nArg = '20'] = process.argv.slice(2);
const N = Number(nArg);
const config = { connectionString: url, max: 4 };
const pool = guard(new pg.Pool(config));
await Promise.all(Array.from({ length: 4 }, () => pool.query('SELECT 1')));
const dir = mkdtempSync(join(tmpdir(), 'fg-bench-'));

const viaFork = [];
const forkParts = recordForkTimings();
for (let i = 0; i < N; i++) {
  const t0 = ns();
  const pid = fork();
  if (pid === 0) {
    await pool.query('SELECT 1');
    writeFileSync(join(dir, `t${i}`), String(ns()));
    process.exit(0);
  }
  await waitpid(pid);
  viaFork.push((Number(readFileSync(join(dir, `t${i}`), 'utf8')) - t0) / 1e6);
}

const viaSpawn = [];
for (let i = 0; i < N; i++) {
  const t0 = ns();
  const child = cpFork(new URL('./first-query-child.mjs', import.meta.url).pathname, [url], { execArgv: ['--single-threaded'] });
  const t1 = await new Promise((resolve) => child.once('message', resolve));
  await new Promise((resolve) => child.once('exit', resolve));
  viaSpawn.push((Number(t1) - t0) / 1e6);
}
rmSync(dir, { recursive: true, force: true });
const part = (k) => median(forkParts.map((p) => p[k]));
emit({
  n: N,
  forkFirstQueryMs: median(viaFork),
  childProcessFirstQueryMs: median(viaSpawn),
  forkParts: { quiesceMs: part('quiesceMs'), scanMs: part('scanMs'), forkMs: part('forkMs'), restoreMs: part('restoreMs'), ranges: forkParts[0].ranges },
});
await pool.end();
