// The problem and the cure in one run, on a throwaway Postgres (or DATABASE_URL).
//
// A pg.Pool with 4 open connections, then the process forks. Parent and child both run checked
// queries (`SELECT $1::int` with distinct values) on the same pool for a second, 4 at a time, and
// then the child calls pool.end(). Unguarded, both processes share the pool's Postgres sessions:
// results land in the wrong process and the child's pool.end() terminates the parent's sessions.
// Guarded with guard(pool), the child's copies are dead before any JS runs, the child's pool opens
// its own connections, and the parent's sessions never notice.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startPostgres } from '../test/harness/postgres.mjs';
import * as fg from '../dist/index.js';

const RUN_MS = 1000;
const WORKERS = 4;
const db = await startPostgres({ log: (m) => console.log(`postgres: ${m}`) });

async function hammer(pool, base, ms) {
  const out = { ok: 0, wrong: 0, errors: 0, firstError: null };
  const end = Date.now() + ms;
  let n = 0;
  const worker = async () => {
    while (Date.now() < end && out.errors <= 3) {
      const v = base + n++;
      let timer;
      const deadline = new Promise((_, rej) => (timer = setTimeout(() => rej(new Error('timed out (session wedged)')), 1500)));
      try {
        const r = await Promise.race([pool.query('SELECT $1::int AS v', [v]), deadline]);
        if (r.rows[0].v === v) out.ok++;
        else out.wrong++;
      } catch (err) {
        out.errors++;
        out.firstError ??= err.message;
      } finally {
        clearTimeout(timer);
      }
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, worker));
  return out;
}

async function backendPids(pool) {
  const clients = await Promise.all(Array.from({ length: WORKERS }, () => pool.connect()));
  const pids = [];
  for (const c of clients) pids.push((await c.query('SELECT pg_backend_pid() AS p')).rows[0].p);
  for (const c of clients) c.release();
  return pids.sort().join(',');
}

async function scenario(guarded) {
  const pool = new pg.Pool({ connectionString: db.tcpUrl, max: WORKERS, idleTimeoutMillis: 0 });
  // Unguarded, clients die in ways pg reports as 'error' events: keep the demo alive to the end.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  if (guarded) fg.guard(pool, { name: 'demo' });
  const before = await backendPids(pool);
  const report = join(tmpdir(), `pg-forkguard-demo-${process.pid}-${guarded}.json`);
  const pid = fg.fork();
  if (pid === 0) {
    const child = await hammer(pool, 1_000_000, RUN_MS);
    await Promise.race([pool.end(), new Promise((r) => setTimeout(r, 1000))]);
    writeFileSync(report, JSON.stringify(child));
    process.exit(0);
  }
  const parent = await hammer(pool, 0, RUN_MS);
  await fg.waitpid(pid);
  await new Promise((r) => setTimeout(r, 100));
  const after = await Promise.race([
    backendPids(pool).catch((e) => `error: ${e.message}`),
    new Promise((r) => setTimeout(() => r('timed out'), 2000)),
  ]);
  const child = JSON.parse(readFileSync(report, 'utf8'));
  rmSync(report, { force: true });
  await Promise.race([pool.end(), new Promise((r) => setTimeout(r, 1000))]);
  return { parent, child, sessionsKept: after === before, before, after };
}

function show(title, r) {
  console.log(`\n${title}`);
  const line = (who, x) =>
    `  ${who.padEnd(7)} ${String(x.ok).padStart(6)} right  ${String(x.wrong).padStart(6)} WRONG  ${String(x.errors).padStart(3)} errors` +
    (x.firstError ? `  (first: ${x.firstError})` : '');
  console.log(line('parent', r.parent));
  console.log(line('child', r.child));
  console.log(
    `  parent's Postgres sessions after the child's pool.end(): ${r.sessionsKept ? 'the same ones' : `CHANGED (${r.before} -> ${r.after})`}`,
  );
}

try {
  show('Unguarded pg.Pool, shared across fork():', await scenario(false));
  show('Guarded with guard(pool):', await scenario(true));
} finally {
  await db.stop();
}
