// prefork() under load when things go wrong (test/fixtures/prefork/faults.mjs: every request writes
// a token to Postgres once and notes it as started first). For each fault: which requests failed,
// and only those the fault could touch; every answered write in the table exactly once, none twice;
// no process left, no port held.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Answer, type Server, Started, gone, httpGet, httpLoad, sleep, startMaster } from './prefork-server.js';

const fixture = join(__dirname, 'fixtures', 'prefork', 'faults.mjs');
const started = new Started();
afterEach(() => started.killAll());
const db = new pg.Pool({ connectionString: inject('pg').tcpUrl, max: 1 });
db.on('error', () => {});
beforeAll(() => db.query('CREATE TABLE IF NOT EXISTS faults_log (token text NOT NULL, pid int NOT NULL)'));
afterAll(() => db.end());

let run = 0;
async function start(env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'fg-faults-'));
  const s = await startMaster(started, fixture, { DATABASE_URL: inject('pg').tcpUrl, STARTED_DIR: dir, ...env }, (l) => l.master !== undefined);
  const prefix = `r${process.pid}x${++run}x`;
  return { s, dir, prefix, path: (n: number) => `/w/${prefix}${n}` };
}

const readyCount = (s: Server) => s.lines.filter((l) => l.event === 'ready').length;
async function allReady(s: Server, n: number) {
  await s.next(() => readyCount(s) >= n);
}

/** Which worker noted each token as started (STARTED_DIR/<pid>). */
function startedBy(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of readdirSync(dir)) {
    if (!/^\d+$/.test(f)) continue;
    for (const t of readFileSync(join(dir, f), 'utf8').split('\n')) if (t) out.set(t, Number(f));
  }
  return out;
}

/** How many rows each token of this run has in the table. */
async function rows(prefix: string): Promise<Map<string, number>> {
  const r = await db.query('SELECT token, count(*)::int AS n FROM faults_log WHERE token LIKE $1 GROUP BY token', [`${prefix}%`]);
  return new Map(r.rows.map((x) => [x.token, x.n]));
}

const tokenOf = (a: Answer) => a.path.slice(3);
const failedOnes = (answers: Answer[]) => answers.filter((a) => typeof a.status === 'string');

/** Every answered write is in the table exactly once, and no token is there twice. */
async function noDataLost(prefix: string, answers: Answer[]) {
  const table = await rows(prefix);
  const answered = answers.filter((a) => a.status === 200).map(tokenOf);
  expect(answered.filter((t) => table.get(t) !== 1), 'answered writes not in the table exactly once').toEqual([]);
  expect([...table].filter(([, n]) => n > 1), 'tokens written twice').toEqual([]);
  return { answered: answered.length, rows: table.size };
}

describe('prefork() faults under load', () => {
  it('a worker SIGKILLed mid-request: only its own requests fail, it is replaced, no write is lost or doubled', async () => {
    const { s, dir, prefix, path } = await start({ DELAY_MS: '50' });
    await allReady(s, 4);
    const load = httpLoad(s.info.port, 16, path);
    await sleep(800);
    const victim = s.info.workers[0];
    process.kill(victim, 'SIGKILL');
    await s.next((l) => l.event === 'ready' && !s.info.workers.includes(l.pid));
    await sleep(800);
    const answers = await load.stop();
    const failed = failedOnes(answers);
    const by = startedBy(dir);
    const answered = new Set(answers.filter((a) => a.status === 200).map(tokenOf));
    // In flight at the victim when it died: started there, never answered.
    const inFlight = [...by].filter(([t, pid]) => pid === victim && !answered.has(t)).map(([t]) => t);
    console.log(
      `SIGKILL mid-request: ${answers.length} requests, ${failed.length} failed (${[...new Set(failed.map((f) => f.status))].join(', ')}); ` +
        `${inFlight.length} were in flight at the killed worker, ${failed.length - inFlight.length} accepted by it but not yet read`,
    );
    expect(answers.filter((a) => typeof a.status === 'number' && a.status !== 200)).toEqual([]);
    expect(inFlight.length, 'the kill hit requests in flight').toBeGreaterThan(0);
    // Exactly its in-flight requests failed, plus connections it had accepted and not read yet (never
    // started anywhere); not one request of another worker.
    expect(failed.map(tokenOf).filter((t) => by.has(t) && by.get(t) !== victim)).toEqual([]);
    expect(inFlight.filter((t) => !failed.some((f) => tokenOf(f) === t))).toEqual([]);
    // Its replacement serves.
    expect(answers.some((a) => a.status === 200 && !s.info.workers.includes(a.body.pid))).toBe(true);
    await noDataLost(prefix, answers);
  });

  it('Postgres restarted under load: no worker dies, requests fail only while it is down, then all succeed', async () => {
    const { s, prefix, path } = await start({ DELAY_MS: '5' });
    await allReady(s, 4);
    const load = httpLoad(s.info.port, 8, path);
    await sleep(500);
    const argv = inject('pg').restartArgv;
    const how = await new Promise<string>((resolve) =>
      argv
        ? execFile(argv[0]!, argv.slice(1), { timeout: 60_000, env: { PATH: process.env.PATH } }, (err) =>
            resolve(err ? `failed: ${err.message}` : 'restarted'),
          )
        : db
            .query('SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND usename = current_user')
            .then(() => 'terminated (DATABASE_URL: not ours to restart)'),
    );
    const back = Date.now();
    await sleep(1_500);
    const answers = await load.stop();
    const errors = answers.filter((a) => a.status !== 200);
    const late = answers.filter((a) => a.at > back + 500);
    console.log(`Postgres ${how} under load: ${answers.length} requests, ${errors.length} answered 500 during the restart, ${late.length} after it, all 200`);
    expect(how).toMatch(/^(restarted|terminated)/);
    expect(s.lines.filter((l) => l.event === 'exit'), 'no worker died').toEqual([]);
    expect(failedOnes(answers), 'no connection failed: the workers stayed up').toEqual([]);
    expect(late.length).toBeGreaterThan(20);
    expect(late.filter((a) => a.status !== 200)).toEqual([]);
    await noDataLost(prefix, answers);
  });

  it('a worker that never gets ready takes no connection; it is killed after readyTimeoutMs and replaced; no request fails', async () => {
    const { s, dir, prefix, path } = await start({ HANG_ID: '1', READY_TIMEOUT_MS: '1500' });
    await allReady(s, 3);
    const load = httpLoad(s.info.port, 8, path);
    const exit = await s.next((l) => l.event === 'exit' && l.id === 1, 10_000);
    await s.next((l) => l.event === 'ready' && l.id === 1);
    await sleep(500);
    const answers = await load.stop();
    const hung = Number(readFileSync(join(dir, 'hung-once'), 'utf8'));
    expect(exit).toMatchObject({ pid: hung, signal: 'SIGKILL' });
    expect(startedBy(dir).size).toBeGreaterThan(0);
    expect([...startedBy(dir).values()].filter((pid) => pid === hung), 'the hung worker served nothing').toEqual([]);
    expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    await noDataLost(prefix, answers);
  });

  it('a worker that exhausts its heap dies alone: the other workers keep serving, it is replaced', async () => {
    const { s, dir, prefix, path } = await start({ NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --max-old-space-size=96`, DELAY_MS: '20' });
    await allReady(s, 4);
    const load = httpLoad(s.info.port, 8, path);
    await sleep(300);
    const oom = httpGet(s.info.port, '/oom');
    const died = await s.next((l) => l.event === 'exit' && !l.expected, 60_000);
    expect(s.lines.filter((l) => l.event === 'exit'), 'one worker died').toHaveLength(1);
    expect((await oom).status, 'the request that exhausted the heap').toBe('ECONNRESET');
    await s.next((l) => l.event === 'ready' && l.id === died.id && l.pid !== died.pid);
    await sleep(500);
    const answers = await load.stop();
    const by = startedBy(dir);
    const failed = failedOnes(answers);
    console.log(`heap exhausted: worker ${died.pid} died (${died.signal ?? died.code}); ${answers.length} requests, ${failed.length} failed, all of them its own`);
    expect(failed.map(tokenOf).filter((t) => by.has(t) && by.get(t) !== died.pid)).toEqual([]);
    expect(answers.filter((a) => typeof a.status === 'number' && a.status !== 200)).toEqual([]);
    await noDataLost(prefix, answers);
  });

  it('the master SIGKILLed under load: workers finish what they started and leave; no orphan; the port is free at once', async () => {
    const { s, dir, prefix, path } = await start({ DELAY_MS: '50' });
    await allReady(s, 4);
    const port = s.info.port;
    const load = httpLoad(port, 8, path);
    await sleep(600);
    const workers = [...s.info.workers];
    process.kill(s.info.master, 'SIGKILL');
    const left = await gone(workers, 15_000);
    const answers = await load.stop();
    expect(left, 'orphaned workers').toEqual([]);
    // Every request a worker started was answered: none was cut off.
    const answered = new Set(answers.filter((a) => a.status === 200).map(tokenOf));
    expect([...startedBy(dir).keys()].filter((t) => !answered.has(t))).toEqual([]);
    await noDataLost(prefix, answers);
    // Nothing holds the port: a new master listens on it and serves.
    const again = await start({ PORT: String(port) });
    await allReady(again.s, 4);
    const after = httpLoad(port, 2, again.path);
    await sleep(300);
    const served = await after.stop();
    expect(served.filter((a) => a.status !== 200)).toEqual([]);
    expect(served.length).toBeGreaterThan(0);
  });
});
