// Where a worker's memory goes, collection by collection (issue #28, point 1). The JSON-40 app under
// load (bench/serve-under-load.mjs), every worker recording each collection it runs and what its
// memory did across it (bench/gc-recorder.mjs); at the end, per kind of collection, summed over
// the workers: how many, main-thread time, Private_Dirty gained, bytes no longer shared with the
// master (copied or given back: bench/gc-recorder.mjs), and V8's old generation grown (promotion)
// or shrunk (freed).
// "between collections" is the handler's own work, in intervals with no collection.
// Per kind also the longest single pause and how many paused the worker 20 ms or more: at a fixed
// --rate (requests/s in all; default as fast as it answers), those are what a request waits behind.
//   node bench/gc-attribution.mjs [--mode prefork|cluster|cluster-single] [--seconds 60] [--rate 0] [--flags '<v8 flags>']
//                                 [--settle young|full|none] [--state built|flat|offheap] [--json] [--timeline]
// --timeline also prints, per worker, when each mark-compact and each collection that paused it 20 ms or more ran (seconds
// from the first load request) and for how long: whether the workers' pauses fall together.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres } from '../test/harness/postgres.mjs';
import { childrenOf, load, startServer } from './serve-under-load.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const MODE = arg('mode', 'prefork');
const SECONDS = Number(arg('seconds', 60));
const MB = 1024 * 1024;

const db = process.env.DATABASE_URL ? null : await startPostgres({ log: () => {} });
const url = process.env.DATABASE_URL ?? db.tcpUrl;
const dir = mkdtempSync(join(tmpdir(), 'fg-gc-'));
const server = await startServer(MODE, url, { BENCH_GC_RECORD: dir, BENCH_V8_FLAGS: arg('flags', ''), BENCH_SETTLE: arg('settle', 'young'), BENCH_STATE: arg('state', 'built') });
const loadStart = performance.timeOrigin + performance.now();
const result = await load(server.ready.port, SECONDS, Number(arg('rate', 0)));
const workers = childrenOf(server.ready.master);
for (const pid of workers) process.kill(pid, 'SIGUSR1');
await new Promise((r) => setTimeout(r, 1000));
const rows = {};
let final = 0;
const timeline = {};
for (const pid of workers) {
  let events;
  try {
    events = JSON.parse(readFileSync(join(dir, `gc-${pid}.json`), 'utf8'));
  } catch {
    continue;
  }
  final = Math.max(final, events.at(-1)?.privateDirtyNow ?? 0);
  timeline[pid] = events.filter((e) => e.gcMs >= 20 || e.kinds.includes('mark-compact')).map((e) => `${((e.at - loadStart) / 1000).toFixed(1)}s ${e.kinds.join('+')} ${e.gcMs.toFixed(0)}ms`);
  for (const e of events) {
    // An interval that closed at one entry may hold more than one collection (a mark-compact's
    // finalisation after incremental steps): it counts under the heaviest of them.
    const kind = e.kinds.length === 0 ? 'between collections' : ['mark-compact', 'incremental marking', 'scavenge', 'weak callbacks'].find((k) => e.kinds.includes(k)) ?? e.kinds[0];
    const r = (rows[kind] ??= { count: 0, gcMs: 0, maxPauseMs: 0, pauses20ms: 0, privateDirtyMB: 0, unsharedMB: 0, oldGenMB: 0 });
    r.count += kind === 'between collections' ? 0 : 1;
    r.gcMs += e.gcMs;
    r.maxPauseMs = Math.max(r.maxPauseMs, e.gcMs);
    if (e.gcMs >= 20) r.pauses20ms++;
    r.privateDirtyMB += e.privateDirty / MB;
    r.unsharedMB += -e.shared / MB;
    r.oldGenMB += e.oldUsed / MB;
  }
}
await server.stop();
await db?.stop();
rmSync(dir, { recursive: true, force: true });

const out = { mode: MODE, seconds: SECONDS, workers: workers.length, requestsPerSec: result.requests.average, p99Ms: result.latency.p99, largestPrivateDirtyMB: final / MB, byKind: rows };
if (process.argv.includes('--json')) console.log(JSON.stringify(out));
else {
  console.log(`${MODE}, ${SECONDS} s, ${workers.length} workers: ${Math.round(out.requestsPerSec)} req/s, p99 ${out.p99Ms} ms, largest Private_Dirty at the end ${out.largestPrivateDirtyMB.toFixed(0)} MB`);
  console.log('| kind | count | main-thread ms | longest | >= 20 ms | Private_Dirty gained | no longer shared with the master | old generation |');
  console.log('|---|---|---|---|---|---|---|---|');
  const f = (x) => `${x >= 0 ? '+' : ''}${x.toFixed(0)} MB`;
  for (const [kind, r] of Object.entries(rows)) console.log(`| ${kind} | ${r.count} | ${r.gcMs.toFixed(0)} | ${r.maxPauseMs.toFixed(0)} | ${r.pauses20ms} | ${f(r.privateDirtyMB)} | ${f(r.unsharedMB)} | ${f(r.oldGenMB)} |`);
  if (process.argv.includes('--timeline')) for (const [pid, t] of Object.entries(timeline)) console.log(`worker ${pid}: ${t.join(', ')}`);
}
process.exit(0);
