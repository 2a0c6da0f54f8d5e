// The problem and the cure in one run, on a throwaway Postgres (or DATABASE_URL).
//
// A pg.Client is connected, then the process forks. Parent and child both run checked queries
// (`SELECT $1::int` with distinct values) on what they believe is their connection, for a second.
// Unguarded, both processes share one Postgres session: results land in the wrong process.
// Guarded (its socket tracked by pg-forkguard), the child's copy is dead before any JS runs: the
// child gets an error instead of the parent's data, opens its own connection, and the parent's
// session never notices.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startPostgres } from '../test/harness/postgres.mjs';
import * as fg from '../dist/index.js';

const RUN_MS = 1000;
const db = await startPostgres({ log: (m) => console.log(`postgres: ${m}`) });
fg.install();

async function hammer(client, base, ms) {
  const out = { ok: 0, wrong: 0, errors: 0, firstError: null };
  const end = Date.now() + ms;
  let n = 0;
  while (Date.now() < end) {
    const v = base + n++;
    const q = client.query({ text: 'SELECT $1::int AS v', values: [v] });
    const t = new Promise((_, rej) => setTimeout(() => rej(new Error('timed out (session wedged)')), 1500));
    try {
      const r = await Promise.race([q, t]);
      if (r.rows[0].v === v) out.ok++;
      else out.wrong++;
    } catch (err) {
      out.errors++;
      out.firstError ??= err.message;
      if (out.errors > 3) break;
    }
  }
  return out;
}

async function scenario(guarded) {
  const client = new pg.Client({ connectionString: db.tcpUrl });
  client.on('error', () => {});
  await client.connect();
  const before = (await client.query('SELECT pg_backend_pid() AS p')).rows[0].p;
  const fd = client.connection.stream._handle.fd;
  if (guarded) fg.trackFd(fd);
  const report = join(tmpdir(), `pg-forkguard-demo-${process.pid}-${guarded}.json`);
  const pid = fg.fork();
  if (pid === 0) {
    const inherited = await hammer(client, 1_000_000, RUN_MS);
    let own = null;
    if (guarded) {
      // The cure's other half: a connection of the child's own.
      const mine = new pg.Client({ connectionString: db.tcpUrl });
      await mine.connect();
      own = await hammer(mine, 2_000_000, RUN_MS / 2);
      await mine.end();
    }
    writeFileSync(report, JSON.stringify({ inherited, own }));
    process.exit(0);
  }
  const parent = await hammer(client, 0, RUN_MS);
  const status = await Promise.race([fg.waitpid(pid), new Promise((r) => setTimeout(() => r('hung'), 10_000))]);
  if (status === 'hung') process.kill(pid, 'SIGKILL');
  let after = null;
  try {
    after = (await Promise.race([client.query('SELECT pg_backend_pid() AS p'), new Promise((_, rej) => setTimeout(() => rej(new Error('wedged')), 1500))])).rows[0].p;
  } catch (err) {
    after = `gone (${err.message})`;
  }
  client.end().catch(() => {});
  if (guarded) fg.untrackFd(fd);
  let child = null;
  try {
    child = JSON.parse(readFileSync(report, 'utf8'));
    rmSync(report);
  } catch {}
  return { parent, child, before, after, status };
}

function table(title, r) {
  console.log(`\n${title}`);
  console.log(`  parent: ${r.parent.ok} ok, ${r.parent.wrong} WRONG results, ${r.parent.errors} errors${r.parent.firstError ? ` (${r.parent.firstError})` : ''}`);
  console.log(`  parent session: backend pid ${r.before} before the fork, ${r.after} after`);
  const c = r.child?.inherited;
  if (c) console.log(`  child on the inherited connection: ${c.ok} ok, ${c.wrong} WRONG, ${c.errors} errors${c.firstError ? ` (${c.firstError})` : ''}`);
  const o = r.child?.own;
  if (o) console.log(`  child on a connection of its own: ${o.ok} ok, ${o.wrong} wrong, ${o.errors} errors`);
  console.log(`  child exit: ${typeof r.status === 'string' ? r.status : `code ${r.status.code}`}`);
}

console.log('pg-forkguard demo: one pg connection, then fork(), then both processes query.');
const unguarded = await scenario(false);
table('UNGUARDED — parent and child share one Postgres session', unguarded);
const guarded = await scenario(true);
table('GUARDED — the child\'s copy of the socket is dead before its first instruction', guarded);
await db.stop();
const clean = guarded.parent.wrong === 0 && guarded.parent.errors === 0 && guarded.before === guarded.after;
console.log(`\n${clean ? 'Guarded run clean: 0 wrong results, 0 parent errors, parent session unchanged.' : 'Guarded run NOT clean.'}`);
process.exit(clean ? 0 : 1);
