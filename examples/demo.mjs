// The problem and the cure in one run, on a throwaway Postgres (or DATABASE_URL).
//
// A pg.Pool with 4 connections is busy with queries when the process forks. Parent and child then
// both run checked queries (`SELECT $1::int` with values unique to each process) on that same pool
// for two seconds, 4 at a time, and the child ends with pool.end(). First with no guard: both
// processes talk over the same Postgres sessions, so results land in the wrong process and the
// child's pool.end() kills the parent's sessions. Then with guard(pool): the child's copies of the
// sockets are dead before it runs any JS, its pool reconnects on its own, the parent never notices.
// Every query has a deadline, so the unguarded run cannot hang the demo. Exit code 0 when the
// guarded run is clean.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startPostgres } from '../test/harness/postgres.mjs';
import * as fg from '../dist/index.js';

const RUN_MS = 2000;
const WORKERS = 4;
const DEADLINE_MS = 1500;
const live = process.stdout.isTTY;
const db = await startPostgres({ log: (m) => console.log(`postgres: ${m}`) });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function withDeadline(promise) {
  let t;
  const timeout = new Promise((_, reject) => (t = setTimeout(() => reject(new Error('timed out (session wedged)')), DEADLINE_MS)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(t));
}

async function backendPids(pool) {
  try {
    return await withDeadline(
      (async () => {
        const clients = await Promise.all(Array.from({ length: WORKERS }, () => pool.connect()));
        const pids = [];
        for (const c of clients) pids.push((await c.query('SELECT pg_backend_pid() AS p')).rows[0].p);
        for (const c of clients) c.release();
        return pids;
      })(),
    );
  } catch (e) {
    return `unusable: ${e.message}`;
  }
}

async function scenario(guarded) {
  const pool = new pg.Pool({ connectionString: db.tcpUrl, max: WORKERS, idleTimeoutMillis: 0 });
  // Unguarded, pg reports the damage as 'error' events: keep the demo alive to count it.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  if (guarded) fg.guard(pool, { name: 'demo' });
  const before = await backendPids(pool);
  const file = join(tmpdir(), `pg-forkguard-demo-${process.pid}-${guarded}.json`);

  let role = 'parent';
  let base = 0;
  let stop = false;
  let tally = { ok: 0, wrong: 0, errors: 0, firstError: null };
  let n = 0;
  const worker = async () => {
    while (!stop) {
      const mine = role;
      const v = base + ++n;
      try {
        const r = await withDeadline(pool.query('SELECT $1::int AS v', [v]));
        if (mine !== role) continue; // sent before this process existed
        if (r.rows[0].v === v) tally.ok++;
        else tally.wrong++;
      } catch (e) {
        if (mine !== role) continue;
        tally.errors++;
        tally.firstError ??= e.message;
        await sleep(20);
      }
    }
  };
  const workers = Array.from({ length: WORKERS }, worker);
  await sleep(100); // queries in flight when the process forks

  // Unguarded, the child keeps every socket it inherits, as fork(2) without pg-forkguard does;
  // fork() would otherwise sweep even an unguarded pool's connections (docs/api.md).
  const pid = fg.fork(guarded ? {} : { keep: 'all' });
  if (pid === 0) {
    role = 'child';
    base = 10_000_000;
    tally = { ok: 0, wrong: 0, errors: 0, firstError: null };
    const report = setInterval(() => writeFileSync(file, JSON.stringify(tally)), 100);
    await sleep(RUN_MS);
    stop = true;
    await Promise.all(workers);
    await withDeadline(pool.end()).catch(() => {});
    clearInterval(report);
    writeFileSync(file, JSON.stringify(tally));
    process.exit(0);
  }

  const started = Date.now();
  const child = () => {
    try {
      return JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      return { ok: 0, wrong: 0, errors: 0 };
    }
  };
  // On a terminal the line updates in place; in a log, one line a second.
  let ticks = 0;
  const progress = setInterval(() => {
    if (!live && ++ticks % 10 !== 0) return;
    const c = child();
    const line =
      `  ${((Date.now() - started) / 1000).toFixed(1)} s  parent ${tally.ok} ok, ${tally.wrong} wrong, ${tally.errors} errors` +
      ` | child ${c.ok} ok, ${c.wrong} wrong, ${c.errors} errors`;
    process.stdout.write(live ? `\r${line}   ` : `${line}\n`);
  }, 100);
  const exit = await Promise.race([fg.waitpid(pid), sleep(RUN_MS + 10_000).then(() => null)]);
  if (!exit) process.kill(pid, 'SIGKILL');
  stop = true;
  await Promise.all(workers);
  clearInterval(progress);
  if (live) process.stdout.write('\r\x1b[2K');
  const childTally = child();
  rmSync(file, { force: true });
  await sleep(100);
  const after = await backendPids(pool);
  await withDeadline(pool.end()).catch(() => {});
  const kept = Array.isArray(before) && Array.isArray(after) ? before.filter((p) => after.includes(p)).length : 0;
  return { parent: tally, child: childTally, exit: exit ?? { code: null, signal: 'SIGKILL (hung)' }, killed: WORKERS - kept, before, after };
}

function show(r) {
  const row = (label, a, b) => console.log(`  ${label.padEnd(24)} ${String(a).padStart(8)} ${String(b).padStart(8)}`);
  row('', 'parent', 'child');
  row('queries ok', r.parent.ok, r.child.ok);
  row('WRONG results', r.parent.wrong, r.child.wrong);
  row('errors', r.parent.errors, r.child.errors);
  for (const [who, t] of [['parent', r.parent], ['child', r.child]]) {
    if (t.firstError) console.log(`  first ${who} error: ${t.firstError}`);
  }
  console.log(
    `  parent sessions killed   ${r.killed} of ${WORKERS}` +
      (r.killed ? `  (backend pids ${r.before} -> ${Array.isArray(r.after) ? r.after : r.after})` : '  (same backend pids)'),
  );
  console.log(`  child exit               ${r.exit.signal ? r.exit.signal : `code ${r.exit.code}`}`);
}

let clean = false;
try {
  console.log(`\nEach run: a pool of ${WORKERS}, busy when the process forks; parent and child query it for ${RUN_MS / 1000} s, then the child calls pool.end().`);
  console.log('\n1. Unguarded pg.Pool');
  show(await scenario(false));
  console.log('\n2. Guarded: fg.guard(pool)');
  const g = await scenario(true);
  show(g);
  clean = g.parent.wrong + g.child.wrong + g.parent.errors === 0 && g.killed === 0 && g.exit.code === 0 && g.child.ok > 0;
  console.log(
    clean
      ? "\nGuarded: no wrong result, no parent error, the parent's sessions untouched. (The queries that\n" +
          "were in flight on the parent's connections at the fork fail in the child with\n" +
          'ForkedConnectionError; they are the parent\'s, and the demo does not count them.)'
      : '\nGUARDED RUN NOT CLEAN: please report this.',
  );
} finally {
  await db.stop();
}
process.exit(clean ? 0 : 1);
