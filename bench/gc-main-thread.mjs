// What garbage collection costs each worker's main thread, the thread that answers requests: the
// JSON-40 app (bench/serve-under-load.mjs) at a fixed rate, every worker under V8's --trace-gc-nvp,
// which prints a line per collection with its main-thread figures. Per worker, over the load:
// mark-compacts, their pauses, the incremental marking steps that ran on the main thread before
// them (their time, count and longest), and scavenges. Under --single-threaded (prefork's workers)
// all marking is on the main thread; a cluster worker's helper threads take most of it. perf_hooks'
// 'gc' entries (bench/gc-attribution.mjs) do not see the incremental steps.
//   node bench/gc-main-thread.mjs [--mode prefork|cluster|cluster-single] [--seconds 150] [--rate 800]
//                                 [--settle flatten] [--state built] [--flags '<v8 flags>']
// --flags are set in every worker (and in prefork's master before it settles its heap), with
// --trace-gc-nvp. BENCH_RAW=1 also prints each worker's longest --trace-gc-nvp line whole.
// The load starts 10 s after every worker serves, as the soak's does; its p50, p99 and the seconds
// with a request that waited 200 ms or more are printed with it.
import { startPostgres } from '../test/harness/postgres.mjs';
import { load, startServer } from './serve-under-load.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const MODE = arg('mode', 'prefork');
const SECONDS = Number(arg('seconds', 150));
const RATE = Number(arg('rate', 800));

const db = process.env.DATABASE_URL ? null : await startPostgres({ log: () => {} });
const url = process.env.DATABASE_URL ?? db.tcpUrl;
let recording = false;
const lines = [];
const server = await startServer(
  MODE,
  url,
  { BENCH_V8_FLAGS: `--trace-gc-nvp ${arg('flags', '')}`.trim(), BENCH_SETTLE: arg('settle', 'flatten'), BENCH_STATE: arg('state', 'built') },
  (line) => recording && line.includes(' pause=') && lines.push(line),
);
await new Promise((r) => setTimeout(r, 10_000));
recording = true;
const result = await load(server.ready.port, SECONDS, RATE, 1);
recording = false;
await server.stop();
await db?.stop();

/** Every timing of one --trace-gc-nvp line of 10 ms or more (sizes, counts and rates left out):
 * where the longest pause went, phase by sub-phase. */
const timings = (line) =>
  [...line.matchAll(/ ([a-z_.]+)=([0-9.]+)/g)]
    .filter(([, k, v]) => Number(v) >= 10 && !/size|allocated|promoted|throughput|count|rate|nodes|holes|semi|surviv|memory|total|bytes|mutator|duration|objects|_speed|reduce/.test(k))
    .map(([, k, v]) => `${k} ${Math.round(Number(v))}`)
    .join(', ');
const field = (line, key) => Number(new RegExp(`(?:^| )${key}=([0-9.]+)`).exec(line)?.[1] ?? 0);
const workers = new Map();
for (const line of lines) {
  const pid = Number(/^\[(\d+):/.exec(line)?.[1]);
  if (pid === server.ready.master) continue; // the master serves nothing
  const w = workers.get(pid) ?? { reducing: 0, markCompacts: 0, pausesMs: 0, longestPauseMs: 0, incrementalMs: 0, steps: 0, longestStepMs: 0, scavenges: 0, scavengeMs: 0, longestScavengeMs: 0 };
  workers.set(pid, w);
  const pause = field(line, 'pause');
  if (/ gc=mc /.test(line)) {
    w.markCompacts++;
    // Started by V8's memory reducer (or to save memory): it compacts every fragmented page.
    if (/ reduce_memory=1 /.test(line)) w.reducing++;
    w.pausesMs += pause;
    if (pause > w.longestPauseMs) w.longestLine = line;
    w.longestPauseMs = Math.max(w.longestPauseMs, pause);
    w.incrementalMs += field(line, 'incremental');
    w.steps += field(line, 'incremental_steps_count');
    w.longestStepMs = Math.max(w.longestStepMs, field(line, 'incremental_longest_step'));
  } else if (/ gc=s /.test(line)) {
    w.scavenges++;
    w.scavengeMs += pause;
    w.longestScavengeMs = Math.max(w.longestScavengeMs, pause);
  }
}
const stalled = result.windows.filter((w) => w.max >= 200).length;
console.log(`${MODE}${arg('flags') ? ` (${arg('flags')})` : ''}, ${SECONDS} s at ${RATE} requests/s: p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, ${stalled} s with a 200 ms+ wait`);
console.log('| worker | mark-compacts (reducing memory) | their pauses | longest | incremental steps on the main thread | steps | longest step | scavenges | their pauses | longest |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
const ms = (x) => `${Math.round(x)} ms`;
for (const [pid, w] of workers) {
  console.log(`| ${pid} | ${w.markCompacts} (${w.reducing}) | ${ms(w.pausesMs)} | ${ms(w.longestPauseMs)} | ${ms(w.incrementalMs)} | ${w.steps} | ${ms(w.longestStepMs)} | ${w.scavenges} | ${ms(w.scavengeMs)} | ${ms(w.longestScavengeMs)} |`);
}
for (const [pid, w] of workers) if (w.longestLine) console.log(`${pid}: the longest (${ms(w.longestPauseMs)}): ${timings(w.longestLine)}`);
if (process.env.BENCH_RAW) for (const [pid, w] of workers) if (w.longestLine) console.log(w.longestLine);
process.exit(0);
