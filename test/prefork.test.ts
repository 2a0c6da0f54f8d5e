// prefork(): a master and its workers (test/fixtures/prefork/app.mjs), driven from outside as an
// operator would: signals, SIGKILL, and HTTP load over loopback. The test process never forks.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { runFixture } from './helpers.js';
import { type Server, Started, gone, sleep, startMaster } from './prefork-server.js';

const fixture = join(__dirname, 'fixtures', 'prefork', 'app.mjs');

const started = new Started();
afterEach(() => started.killAll());

const start = (env: Record<string, string> = {}): Promise<Server> =>
  startMaster(started, fixture, { DATABASE_URL: inject('pg').tcpUrl, ...env }, (l) => l.port !== undefined);

function get(agent: Agent, port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/** Keep-alive load: `concurrency` loops of /q/<n> until `until()` is true (or `total` done). */
async function load(port: number, opts: { concurrency: number; total?: number; until?: () => boolean }) {
  const agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency });
  const out = { ok: 0, wrong: 0, errors: [] as string[], pids: new Set<number>(), backends: new Set<number>() };
  let n = 0;
  await Promise.all(
    Array.from({ length: opts.concurrency }, async () => {
      while (opts.total !== undefined ? n < opts.total : !opts.until!()) {
        const i = n++;
        try {
          const r = await get(agent, port, `/q/${i}`);
          const j = r.status === 200 ? JSON.parse(r.body) : null;
          if (j && j.n === i && j.square === i * i) {
            out.ok++;
            out.pids.add(j.pid);
            out.backends.add(j.backend);
          } else out.wrong++;
        } catch (e) {
          out.errors.push((e as Error).message);
        }
      }
    }),
  );
  agent.destroy();
  return out;
}

describe('prefork(): a master and its workers', () => {
  it('workers serve (the master never accepts), each on sessions of its own; the master’s session is untouched', async () => {
    const s = await start();
    expect(s.info.workers).toHaveLength(2);
    await s.next((l) => l.event === 'ready' && l.id === 1);
    const a = await load(s.info.port, { concurrency: 16, total: 1000 });
    expect(a.errors).toEqual([]);
    expect(a.wrong).toBe(0);
    expect(a.ok).toBe(1000);
    for (const pid of a.pids) expect(s.info.workers).toContain(pid);
    expect(a.backends.has(s.info.masterSession)).toBe(false);
    s.proc.kill('SIGUSR2');
    expect((await s.next((l) => l.masterSessionNow !== undefined)).masterSessionNow).toBe(s.info.masterSession);
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
  });

  it('a worker killed with SIGKILL is replaced (same id, new pid) and service goes on', async () => {
    const s = await start();
    await s.next((l) => l.event === 'ready' && l.id === 1);
    const victim = s.info.workers[0]!;
    process.kill(victim, 'SIGKILL');
    const exit = await s.next((l) => l.event === 'exit' && l.pid === victim);
    expect(exit).toMatchObject({ id: 0, signal: 'SIGKILL', expected: false });
    const ready = await s.next((l) => l.event === 'ready' && l.id === 0 && l.pid !== victim);
    const b = await load(s.info.port, { concurrency: 8, total: 400 });
    expect(b.errors).toEqual([]);
    expect(b.ok).toBe(400);
    expect(b.pids.has(victim)).toBe(false);
    for (const pid of b.pids) expect([s.info.workers[1], ready.pid]).toContain(pid);
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
  });

  it('a crash loop backs off: respawn delays double up to the cap, the master stays idle', async () => {
    const s = await start({ FAIL_START: '1', WORKERS: '1', RESPAWN_MS: '100', MAX_RESPAWN_MS: '800' });
    const t0 = Date.now();
    const deadline = t0 + 20_000;
    while (s.lines.filter((l) => l.event === 'respawn').length < 6 && Date.now() < deadline) await sleep(50);
    const elapsed = Date.now() - t0;
    const respawns = s.lines.filter((l) => l.event === 'respawn').map((l) => l.delayMs);
    expect(respawns.slice(0, 6)).toEqual([100, 200, 400, 800, 800, 800]);
    // The sixth death came after the first five waits (2.3 s): without backoff a failing worker
    // would have been forked hundreds of times by then.
    expect(elapsed).toBeGreaterThanOrEqual(2_300);
    expect(s.lines.filter((l) => l.event === 'start').length).toBe(6);
    const stat = readFileSync(`/proc/${s.info.master}/stat`, 'utf8').split(') ')[1]!.split(' ');
    const cpuSeconds = (Number(stat[11]) + Number(stat[12])) / 100; // utime + stime, in clock ticks
    expect(cpuSeconds).toBeLessThan(2);
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
  });

  it('SIGTERM under load: requests in flight finish, then no process is left', async () => {
    const s = await start({ STOP_TIMEOUT_MS: '10000' });
    await s.next((l) => l.event === 'ready' && l.id === 1);
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    const inflight = Array.from({ length: 8 }, (_, i) => get(agent, s.info.port, `/slow/${600 + i}`).catch((e) => ({ status: 0, body: e.message })));
    await sleep(200);
    s.proc.kill('SIGTERM');
    const results = await Promise.all(inflight);
    agent.destroy();
    expect(results.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(await s.exited).toBe(0);
    expect(await gone(s.info.workers, 5_000)).toEqual([]);
  });

  it('the master SIGKILLed: its workers notice and leave', async () => {
    const s = await start();
    await s.next((l) => l.event === 'ready' && l.id === 1);
    process.kill(s.info.master, 'SIGKILL');
    expect(await gone(s.info.workers, 10_000)).toEqual([]);
  });

  it('SIGHUP under load: every worker replaced one at a time, not one request failed', async () => {
    const s = await start();
    await s.next((l) => l.event === 'ready' && l.id === 1);
    const old = s.info.workers;
    let reloaded = false;
    const running = load(s.info.port, { concurrency: 16, until: () => reloaded });
    await sleep(500);
    s.proc.kill('SIGHUP');
    const readies = async () => {
      for (const id of [0, 1]) await s.next((l) => l.event === 'ready' && l.id === id && !old.includes(l.pid));
      for (const pid of old) await s.next((l) => l.event === 'exit' && l.pid === pid);
    };
    await readies();
    await sleep(500);
    reloaded = true;
    const r = await running;
    expect(r.errors).toEqual([]);
    expect(r.wrong).toBe(0);
    expect(r.ok).toBeGreaterThan(100); // load really ran through the reload (its rate depends on the machine)
    const fresh = s.lines.filter((l) => l.event === 'ready' && !old.includes(l.pid)).map((l) => l.pid);
    expect(fresh).toHaveLength(2);
    expect(s.lines.filter((l) => l.event === 'exit').every((l) => l.expected)).toBe(true);
    s.proc.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(await gone([...old, ...fresh], 5_000)).toEqual([]);
  });
});

describe('prefork(): bad input', () => {
  it('typed errors saying what to do', async () => {
    const run = await runFixture('prefork/bad-input.mjs');
    expect(run.code, run.stderr).toBe(0);
    const m = run.results.master;
    for (const label of ['workers 0', 'workers -1', 'workers 1.5', 'workers "2"']) {
      expect(m[label]).toMatchObject({ name: 'InvalidArgumentError', code: 'ERR_FORKGUARD_INVALID_ARG' });
      expect(m[label].message).toMatch(/options\.workers must be an integer >= 1/);
    }
    expect(m['unknown option'].message).toMatch(/unknown option 'wrokers'/);
    expect(m['worker not a function'].message).toMatch(/options\.worker must be a function, got the string "main.js"/);
    expect(m['options not an object'].name).toBe('InvalidArgumentError');
    expect(m['settleHeap true'].message).toMatch(/options\.settleHeap must be one of 'young', 'full', 'flatten', 'none', got boolean true/);
    expect(m['memoryIntervalMs -1'].message).toMatch(/options\.memoryIntervalMs must be an integer >= 0/);
    expect(m['refork 1000'].message).toMatch(/options\.refork must be an object like \{ afterRequests: 10000 \}, got number 1000/);
    expect(m['refork.afterRequests 0'].message).toMatch(/options\.refork\.afterRequests must be an integer >= 1/);
    expect(m['refork unknown key'].name).toBe('InvalidArgumentError');
    expect(m['balance "yes"'].message).toMatch(/options\.balance must be true or false, got the string "yes"/);
    expect(m.reforkNoneReady).toMatchObject({ name: 'PreforkError', code: 'ERR_FORKGUARD_PREFORK_REFORK_FAILED' });
    expect(m.reforkNoneReady.message).toMatch(/no worker is ready to become the mold/);
    expect(m.twice).toMatchObject({ name: 'PreforkError', code: 'ERR_FORKGUARD_PREFORK_TWICE' });
    expect(run.results['in-worker']).toMatchObject({ name: 'PreforkError', code: 'ERR_FORKGUARD_PREFORK_IN_WORKER' });
    const plain = await runFixture('prefork/bad-input.mjs', { nodeArgs: [] });
    expect(plain.results.master.notSingleThreaded).toMatchObject({ name: 'ForkUnsupportedError', reason: 'not-single-threaded' });
    expect(plain.results.master.notSingleThreaded.message).toMatch(/^prefork\(\) refused: .*`node --single-threaded app\.js`/s);
  });
});

describe('master.memory()', () => {
  it('PSS, Private_Dirty and shared per worker and for the master; the same on a diagnostics channel; a worker that writes its state holds it privately', async () => {
    const run = await runFixture('prefork/memory.mjs');
    expect(run.code, run.stderr).toBe(0);
    const { now, published, afterStop } = run.results.master;
    const MB = 1024 * 1024;
    expect(now.master.pid).toBeGreaterThan(0);
    expect(now.workers.map((w: any) => w.id).sort()).toEqual([0, 1]);
    const [idle, writer] = [0, 1].map((id) => now.workers.find((w: any) => w.id === id));
    for (const w of [idle, writer, now.master]) {
      expect(w.pss).toBeGreaterThan(0);
      expect(w.pss).toBeLessThanOrEqual(w.rss);
    }
    // The idle worker shares the master's state; the writer copied it: its own dirty pages.
    expect(idle.shared).toBeGreaterThan(40 * MB);
    expect(writer.privateDirty - idle.privateDirty).toBeGreaterThan(20 * MB);
    expect(now.totalPss).toBe(now.master.pss + idle.pss + writer.pss);
    // Shared pages are counted once in the total: less than every RSS added up.
    expect(now.totalPss).toBeLessThan(now.master.rss + idle.rss + writer.rss - 30 * MB);
    expect(published).toMatchObject({ master: { pid: now.master.pid }, workers: expect.any(Array) });
    expect(published.workers).toHaveLength(2);
    expect(afterStop.workers).toEqual([]);
  });
});

describe('state that stays shared', () => {
  const MB = 1024 * 1024;
  type WorkerMemory = { privateDirty: number; shared: number };
  /** The worker's memory once it has serialized the master's state, each way, side by side. */
  const workerAfterServing = (hows: string[]): Promise<WorkerMemory[]> =>
    Promise.all(
      hows.map(async (how) => {
        const run = await runFixture('prefork/ropes.mjs', { args: [how] });
        expect(run.code, run.stderr).toBe(0);
        return run.results.master.worker as WorkerMemory;
      }),
    );

  it("a worker that serializes the master's template-literal strings copies their pages and keeps flat copies; flattened in the master first, it does neither (docs/memory-under-load.md)", async () => {
    const [asBuilt, flattened] = await workerAfterServing(['as-built', 'flattened']);
    // Measured (300 000 rows, two ropes each), Private_Dirty and shared, as built against flattened:
    // Node 20 112/49 against 60/99 MB; Node 22 77/79 against 58/128; 24 86/67 against 60/125; 26
    // 89/80 against 60/140. Newer V8s copy less of it, but every one unshares 49-60 MB.
    expect(asBuilt.privateDirty - flattened.privateDirty).toBeGreaterThan(10 * MB);
    expect(flattened.shared - asBuilt.shared).toBeGreaterThan(30 * MB);
  });

  it("settleHeap: 'flatten' finds the master's ropes itself: the app's code as built, the worker's memory as if the app had flattened them", async () => {
    const [asBuilt, settled] = await workerAfterServing(['as-built', 'settle-flatten']);
    // Measured (Node 20), Private_Dirty and shared, as built against settleHeap 'flatten': 112/39-40
    // against 60-61/83-84 MB, as the app's own JSON.stringify(state) gives (60/99 above).
    expect(asBuilt.privateDirty - settled.privateDirty).toBeGreaterThan(10 * MB);
    expect(settled.shared - asBuilt.shared).toBeGreaterThan(30 * MB);
  });
});

describe('reforking', () => {
  // Who answered a probe of 40 new connections: { pid, ppid, id, servedAtFork } per process.
  type Answer = { pid: number; ppid: number; id: number; servedAtFork: number };
  it('master.refork(): the workers are forked from a warm worker, are the master\'s children, and no request fails meanwhile; a mold that dies hands forking back to the master', async () => {
    const run = await runFixture('prefork/refork.mjs', { args: ['manual'], env: { DATABASE_URL: inject('pg').tcpUrl }, timeoutMs: 90_000 });
    expect(run.code, run.stderr).toBe(0);
    const r = run.results.master;
    expect(r.error, r.error).toBeUndefined();
    // Before: forked by the master, whose heap served nothing.
    expect(r.before.answered.map((a: Answer) => a.servedAtFork)).toEqual([0, 0]);
    // After: both slots forked from the mold (a first-generation worker that had served requests),
    // each a child of the master, not of the mold; every request of the keep-alive load answered.
    const mold = r.after.mold;
    expect(r.before.workers).toContain(mold);
    expect(r.after.workers).not.toContain(mold);
    expect(r.after.answered.map((a: Answer) => a.id)).toEqual([0, 1]);
    for (const a of r.after.answered as Answer[]) {
      expect(a.ppid).toBe(r.master);
      expect(a.servedAtFork).toBeGreaterThan(0);
      expect(r.before.workers).not.toContain(a.pid);
    }
    expect(r.after.failures).toBe(0);
    // Each on a Postgres session of its own: the mold's pool connections were dropped in them (the
    // guard's work, as after any fork), and each opened its own.
    const backends = [...r.before.answered, ...r.after.answered].map((a: Answer & { backend: number }) => a.backend);
    expect(new Set(backends).size).toBe(4);
    const reforkEvents = r.events.filter((e: any) => ['refork', 'mold'].includes(e.e)).map((e: any) => [e.e, e.pid]);
    expect(reforkEvents).toEqual([['refork', mold], ['mold', mold]]);
    // The mold counts in memory(): not as a worker.
    expect(r.memory.mold.pid).toBe(mold);
    expect(r.memory.workers.map((w: any) => w.pid).sort()).toEqual([...r.after.workers].sort());
    expect(r.memory.totalPss).toBe(r.memory.master.pss + r.memory.mold.pss + r.memory.workers.reduce((n: number, w: any) => n + w.pss, 0));
    // A worker forked by the mold dies: the master reaps it (its signal, as for any worker), and its
    // successor comes from the mold again.
    expect(r.killed.exit).toMatchObject({ signal: 'SIGKILL', code: null, expected: false });
    const successor = (r.killed.answered as Answer[]).find((a) => a.id === r.killed.exit.id)!;
    expect(successor.pid).not.toBe(r.killed.victim);
    expect(successor).toMatchObject({ ppid: r.master });
    expect(successor.servedAtFork).toBeGreaterThan(0);
    // The mold dies: it is reported as such, and the next worker is forked by the master.
    expect(r.moldKilled.moldExit).toMatchObject({ mold: true, signal: 'SIGKILL', expected: false });
    expect(r.moldKilled.mold).toBeUndefined();
    const fromMaster = (r.moldKilled.answered as Answer[]).find((a) => a.pid !== successor.pid && a.pid !== r.moldKilled.victim)!;
    expect(fromMaster).toMatchObject({ ppid: r.master, servedAtFork: 0 });
    expect(r.workersAfterStop).toEqual([]);
  });

  it('refork: { afterRequests }: the first worker to serve that many becomes the mold, once', async () => {
    const run = await runFixture('prefork/refork.mjs', { args: ['auto'], env: { DATABASE_URL: inject('pg').tcpUrl }, timeoutMs: 90_000 });
    expect(run.code, run.stderr).toBe(0);
    const r = run.results.master;
    expect(r.error, r.error).toBeUndefined();
    expect(r.events.filter((e: any) => e.e === 'mold')).toHaveLength(1);
    for (const a of r.after.answered as Answer[]) {
      expect(a.ppid).toBe(r.master);
      // The mold had served at least afterRequests (40) when it was promoted.
      expect(a.servedAtFork).toBeGreaterThanOrEqual(40);
    }
    expect(r.failures).toBe(0);
  });
});

describe('examples/prefork-http', () => {
  it('serves through its workers and stops on SIGTERM', async () => {
    const proc = spawn(process.execPath, ['--single-threaded', join(__dirname, '..', 'examples', 'prefork-http', 'server.mjs')], {
      env: { ...process.env, DATABASE_URL: inject('pg').tcpUrl, PORT: '0', WORKERS: '2' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    started.add(proc);
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    const info = JSON.parse(
      await new Promise<string>((resolve) => {
        let buf = '';
        proc.stdout!.on('data', (d) => {
          buf += d;
          if (buf.includes('\n')) resolve(buf.split('\n')[0]!);
        });
      }),
    );
    expect(info.workers).toHaveLength(2);
    await sleep(300);
    const agent = new Agent({ keepAlive: true });
    const r = await get(agent, info.port, '/square/12');
    agent.destroy();
    expect(JSON.parse(r.body)).toMatchObject({ n: 12, square: 144 });
    expect([0, 1]).toContain(JSON.parse(r.body).worker);
    process.kill(info.master, 'SIGTERM');
    expect(await exited).toBe(0);
  });
});
