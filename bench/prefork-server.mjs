// The server both sides of bench/prefork.mjs run: one app (150 MB of state, one pg query per
// request), served by prefork() workers or by node:cluster workers.
//   node --single-threaded bench/prefork-server.mjs prefork <url> <workers> <stateMB>
//   node bench/prefork-server.mjs cluster <url> <workers> <stateMB>   (BENCH_SINGLE_THREADED=1: its workers too)
// Prints JSON lines: { ready: ms, workers: [pids], master, port } once every worker runs the app,
// then { reloaded: ms } after each SIGHUP's rolling replacement.
//   BENCH_HANDLER=json40: each request also builds a 40-item JSON body from the state, as a real
//     handler allocates (bench/soak.mjs); default: the query's one row.
//   BENCH_BALANCE=0: prefork without options.balance (keep-alive connections stay where they land).
//   BENCH_V8_FLAGS='--flag ...': set in every worker as it starts (v8.setFlagsFromString), the
//     same way on both sides, so a flag's effect is measured for cluster too.
//   BENCH_STATE=flat: the state's strings flattened as each row is built. A template literal makes
//     a cons string (a rope of two halves), which V8 flattens in place the first time it reads it
//     whole: here JSON.stringify(row), in the master; as the app built it (the default),
//     it is each worker's first response that does, writing into the master's pages
//     (docs/memory-under-load.md). Number(s), used here until 2026-12-05, does not flatten.
//   BENCH_STATE=offheap: the same rows kept off V8's heap (offHeapState below): what an app can do
//     about where its state lives (docs/memory-under-load.md).
//   BENCH_GC_RECORD=<dir>: each worker records its collections and what its memory did across them
//     (bench/gc-recorder.mjs), written to <dir>/gc-<pid>.json on SIGUSR1 (bench/gc-attribution.mjs).
//   BENCH_SETTLE=young|full|flatten|none: prefork's settleHeap (default 'young'); one-scavenge: a
//     single scavenge and then 'none', what 'young' was until 2026-12-06 (bench/first-scavenge.mjs).
//   BENCH_WARM=N: the prefork master serves N requests to itself before it forks (warmUp below).
//   BENCH_REFORK_AFTER=N: prefork's refork: { afterRequests: N } (prints { mold: pid } when it happens).
import { createServer } from 'node:http';
import { writeFileSync } from 'node:fs';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import pg from 'pg';
import { recordCollections } from './gc-recorder.mjs';

const [mode, url, workersArg = '4', stateArg = '150'] = process.argv.slice(2);
const WORKERS = Number(workersArg);
// Loaded only where it serves: in a prefork master node:cluster's primary module cost 20-25 ms of
// the first fork() (measured: 101-123 ms to the first fork without it, 126-131 ms with it).
const cluster = mode === 'prefork' ? null : (await import('node:cluster')).default;
const print = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

/**
 * BENCH_STATE=offheap: the same rows kept off V8's heap, as JSON text in one Buffer with a typed
 * array of offsets (both external memory: V8 neither scans nor moves them), each row parsed when a
 * request reads it. Where a worker only reads its state, this is where it stays shared
 * (docs/memory-under-load.md, "What an app can do to keep sharing").
 */
function offHeapState(rows) {
  const offsets = new Uint32Array(rows.length + 1);
  const json = rows.map((r, i) => {
    const s = JSON.stringify(r);
    offsets[i + 1] = offsets[i] + s.length;
    return s;
  });
  const text = Buffer.from(json.join(''), 'latin1');
  return { count: rows.length, row: (i) => JSON.parse(text.toString('latin1', offsets[i], offsets[i + 1])) };
}

/** The app: state built at load (what a real app's caches and code are), a pool, a server. */
async function loadApp() {
  const flat = process.env.BENCH_STATE === 'flat' ? (row) => (JSON.stringify(row), row) : (row) => row;
  const rowAt = (i) => flat({ id: i, name: `customer-${i}`, email: `c${i}@example.com`, tags: ['a', 'b', String(i % 97)] });
  const state = [];
  let bytes = 0;
  for (let i = 0; bytes < Number(stateArg) * 2 ** 20; i++) {
    state.push(rowAt(i));
    bytes += 200;
  }
  const offHeap = process.env.BENCH_STATE === 'offheap' ? offHeapState(state) : undefined;
  if (offHeap) state.length = 0;
  const count = offHeap ? offHeap.count : state.length;
  const row = offHeap ? offHeap.row : (i) => state[i];
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  const json40 = process.env.BENCH_HANDLER === 'json40';
  const server = createServer(async (req, res) => {
    const at = Number(req.url.slice(1)) || 0;
    const n = count ? row(at % count).id : 0;
    try {
      const { rows } = await pool.query('SELECT $1::int AS n', [n]);
      const body = json40
        ? { n: rows[0].n, items: Array.from({ length: 40 }, (_, k) => ({ ...row((at + k * 997) % count), rank: k })) }
        : rows[0];
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    } catch (err) {
      res.writeHead(500).end(String(err.message));
    }
  });
  return { state, pool, server };
}

/** The master serves n requests to itself before forking (BENCH_WARM=n), so that its workers inherit
 * the handler's compiled code: under --single-threaded V8 compiles on the main thread. */
async function warmUp(port, n) {
  const { Agent, get } = await import('node:http');
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const one = (i) => new Promise((resolve, reject) => get({ port, host: '127.0.0.1', path: `/${i}`, agent }, (res) => res.resume().on('end', resolve)).on('error', reject));
  for (let i = 0; i < n; i += 4) await Promise.all([0, 1, 2, 3].map((k) => one(i + k)));
  agent.destroy();
}

if (mode === 'prefork') {
  const { guard, prefork } = await import('../dist/index.js');
  const app = await loadApp();
  guard(app.pool);
  await app.pool.query('SELECT 1');
  await new Promise((r) => app.server.listen(0, '127.0.0.1', r));
  const port = app.server.address().port;
  if (process.env.BENCH_WARM) await warmUp(port, Number(process.env.BENCH_WARM));
  const t0 = performance.now();
  // The flags in the master too, before its heap is settled: V8 sets a heap's next limits at a full
  // collection, so a flag set only in a worker waits for the worker's first one (BENCH_SETTLE=full).
  if (process.env.BENCH_V8_FLAGS) setFlagsFromString(process.env.BENCH_V8_FLAGS);
  let settleHeap = process.env.BENCH_SETTLE ?? 'young';
  // What 'young' was until 2026-12-06, one scavenge, for bench/first-scavenge.mjs to compare against.
  if (settleHeap === 'one-scavenge') {
    setFlagsFromString('--expose-gc');
    runInNewContext('gc')({ type: 'minor' });
    settleHeap = 'none';
  }
  const reforkAfter = Number(process.env.BENCH_REFORK_AFTER ?? 0);
  const master = prefork({
    workers: WORKERS,
    worker: workerFlags,
    settleHeap,
    balance: process.env.BENCH_BALANCE !== '0',
    stop: () => app.pool.end(),
    ...(reforkAfter > 0 ? { refork: { afterRequests: reforkAfter } } : {}),
  });
  if (!master.isWorker) {
    let ready = 0;
    let reloadStart = 0;
    master.on('ready', () => {
      ready++;
      if (ready === WORKERS) print({ ready: performance.now() - t0, workers: master.workers, master: process.pid, port });
      if (reloadStart && ready === 2 * WORKERS) print({ reloaded: performance.now() - reloadStart });
    });
    process.on('SIGHUP', () => (reloadStart = performance.now()));
    master.on('mold', ({ pid }) => print({ mold: pid, at: performance.now() - t0 }));
  }
} else if (cluster.isPrimary) {
  const t0 = performance.now();
  // cluster-single: cluster's workers under --single-threaded too, to tell what the flag costs.
  if (process.env.BENCH_SINGLE_THREADED === '1') cluster.setupPrimary({ execArgv: [...process.execArgv, '--single-threaded'] });
  const port = Number(process.env.BENCH_PORT);
  let listening = 0;
  cluster.on('listening', () => {
    listening++;
    if (listening === WORKERS) print({ ready: performance.now() - t0, workers: Object.values(cluster.workers).map((w) => w.process.pid), master: process.pid, port });
  });
  for (let i = 0; i < WORKERS; i++) cluster.fork();
  // A rolling restart, one worker at a time, as one writes it for cluster: fork the successor,
  // wait until it listens, then disconnect the old one (it finishes its requests and exits).
  process.on('SIGHUP', async () => {
    const t = performance.now();
    for (const old of Object.values(cluster.workers)) {
      const next = cluster.fork();
      await new Promise((r) => next.once('listening', r));
      old.disconnect();
    }
    print({ reloaded: performance.now() - t });
  });
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers)) w.kill();
    process.exit(0);
  });
} else {
  workerFlags();
  const app = await loadApp();
  if (process.env.BENCH_GC_RECORD) recordCollections(process.env.BENCH_GC_RECORD);
  app.server.listen(Number(process.env.BENCH_PORT), '127.0.0.1');
}

function workerFlags() {
  if (process.env.BENCH_V8_FLAGS) setFlagsFromString(process.env.BENCH_V8_FLAGS);
  // From the fork on in a prefork worker; from when the app has loaded in a cluster worker (below).
  if (process.env.BENCH_GC_RECORD && !cluster) recordCollections(process.env.BENCH_GC_RECORD);
  // bench/worker-memory.mjs: V8's spaces as this worker counts them, on SIGUSR2.
  process.on('SIGUSR2', () =>
    writeFileSync(`/tmp/fg-heap-${process.pid}.json`, JSON.stringify({ at: Date.now(), spaces: getHeapSpaceStatistics(), usage: process.memoryUsage() })),
  );
}
