// What each worker's first scavenge costs, by how the master settled its heap: the JSON-40 app
// (bench/serve-under-load.mjs, 150 MB of state as built, 4 workers) at a fixed rate from the moment
// every worker serves, as after a deploy or a restart under traffic, with V8's --trace-gc-nvp in
// every worker. Per settle kind, in interleaved rounds: each worker's first scavenge (its pause and
// what it promoted), the workers' private dirty memory at the end, V8's optimising compiles
// (--trace-opt) during the load, and the latency of the first 5 s and of the whole run.
//   node bench/first-scavenge.mjs [--settles young,one-scavenge,none,full,cluster] [--rounds 2]
//                                 [--seconds 20] [--rate 800]
// one-scavenge is what settleHeap 'young' was until 2026-12-06 (bench/prefork-server.mjs);
// cluster: node:cluster's workers under the same load, for the latency beside them; <kind>+warm:
// the prefork master serves 4 000 requests to itself before it forks (BENCH_WARM).
import { readFileSync } from 'node:fs';
import { startPostgres } from '../test/harness/postgres.mjs';
import { load, startServer } from './serve-under-load.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const SETTLES = arg('settles', 'young,one-scavenge').split(',');
const ROUNDS = Number(arg('rounds', 2));
const SECONDS = Number(arg('seconds', 20));
const RATE = Number(arg('rate', 800));

const privateDirtyMB = (pid) => {
  try {
    return Math.round(Number(/Private_Dirty:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))[1]) / 1024);
  } catch {
    return NaN; // gone
  }
};
const field = (line, key) => Number(new RegExp(`(?:^| )${key}=([0-9.]+)`).exec(line)?.[1] ?? NaN);

async function round(settle, url) {
  const first = new Map();
  const [kind, warm] = settle.split('+');
  const env = { BENCH_V8_FLAGS: '--trace-gc-nvp --trace-opt', BENCH_SETTLE: kind, ...(warm ? { BENCH_WARM: '4000' } : {}) };
  const compiles = { n: 0, ms: 0 };
  const server = await startServer(kind === 'cluster' ? 'cluster' : 'prefork', url, env, (line) => {
    // --trace-opt: "completed compiling ... - took <prepare>, <execute>, <finalize> ms". Under
    // --single-threaded all three run on the worker's main thread; in a cluster worker the middle
    // one runs on a helper thread.
    const took = / took ([0-9.]+), ([0-9.]+), ([0-9.]+) ms/.exec(line);
    if (took) return (compiles.n++, (compiles.ms += Number(took[1]) + Number(took[2]) + Number(took[3])));
    const pid = Number(/^\[(\d+):/.exec(line)?.[1]);
    if (!/ gc=s /.test(line) || first.has(pid)) return;
    first.set(pid, { pauseMs: field(line, 'pause'), promotedMB: field(line, 'promoted') / 2 ** 20 });
  });
  const result = await load(server.ready.port, SECONDS, RATE, 1);
  const pd = server.ready.workers.map(privateDirtyMB);
  await server.stop();
  const workers = server.ready.workers.map((pid) => first.get(pid)).filter(Boolean);
  return {
    settle,
    firstScavengeMs: workers.map((w) => Math.round(w.pauseMs)),
    promotedMB: workers.map((w) => Math.round(w.promotedMB * 10) / 10),
    privateDirtyMB: pd,
    compiles: `${compiles.n} (${Math.round(compiles.ms)} ms)`,
    p99First5sMs: Math.max(...result.windows.slice(0, 5).map((w) => w.p99)),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
  };
}

const db = process.env.DATABASE_URL ? null : await startPostgres({ log: () => {} });
const url = process.env.DATABASE_URL ?? db.tcpUrl;
const rows = [];
for (let r = 0; r < ROUNDS; r++) for (const settle of SETTLES) rows.push(await round(settle, url));
await db?.stop();
console.log(`${SECONDS} s at ${RATE} requests/s from the moment every worker serves; rounds interleaved`);
console.log('| settle | each worker\'s first scavenge | it promoted | private dirty at the end | optimising compiles, all workers (their time) | p99, first 5 s | p50 | p99 |');
console.log('|---|---|---|---|---|---|---|---|');
const list = (xs, unit) => `${xs.join(', ')} ${unit}`;
for (const r of rows) {
  console.log(`| ${r.settle} | ${list(r.firstScavengeMs, 'ms')} | ${list(r.promotedMB, 'MB')} | ${list(r.privateDirtyMB, 'MB')} | ${r.compiles} | ${r.p99First5sMs} ms | ${r.p50Ms} ms | ${r.p99Ms} ms |`);
}
process.exit(0);
