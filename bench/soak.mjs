// `npm run bench:soak`: memory under load, over minutes, the way issue #28 measured it. The same app
// (bench/prefork-server.mjs with BENCH_HANDLER=json40: 150 MB of state, each request one pg query
// and a 40-item JSON body built from the state), 4 workers each, served by prefork() and by
// node:cluster side by side for the whole run, each under its own load (bench/http-load.mjs: 16
// keep-alive connections, each request timed from when it fell due) at the same request rate (--rate, per server), so that each does the same work:
// side by side at full speed, cluster's GC helper threads take CPU from the others on a small
// machine and a server that serves less allocates less. Every `sample` seconds: each server's
// total PSS (master + workers) and its largest worker's Private_Dirty. Then throughput: --rounds
// rounds, each server alone at full speed for --round-seconds, in turn (interleaved, so that the
// machine's drift falls on all alike); requests/s and p99 are the medians of the rounds. And in
// each round, each server alone at --rate for --rate-round-seconds, warm: p50 and p99 at a fixed
// rate, and the seconds in which a request waited 200 ms or more. The soak's own p99 says less:
// side by side on 2 cores one server's collections stall the other too, and over a whole run it is
// set by the first minutes (each server's workers, started together, run their first full
// collection together: both stalled for seconds at 90-96 s, docs/memory-under-load.md); its p99
// per 30 s window (soakWindows) shows when.
//   node bench/soak.mjs [--seconds 600] [--sample 30] [--rate 800] [--rounds 3] [--round-seconds 20]
//                       [--rate-round-seconds 60]
//                       [--flags '<v8 flags>'] [--settle young|full|flatten|none] [--state built|flat|offheap]
//                       [--modes prefork,refork,cluster[,cluster-single]] [--refork-after 2000] [--write] [--out soak]
// 'refork' is prefork() with refork: { afterRequests } (src/prefork/mold.ts): its mold counts in its
// total PSS. Every process is found anew at each sample (the master's children), since a refork
// replaces every worker. Its throughput rounds run after its refork; prefork's never reforked.
// 'cluster-single' is node:cluster with its workers under --single-threaded, as prefork's run: what
// that flag costs (no GC helper threads) apart from what prefork adds. Ratios are against 'cluster'.
// --flags are set in every worker of both (and in prefork's master before it settles its heap);
// --settle is prefork's settleHeap; --state flat builds the app's strings flat, --state offheap keeps
// the same rows off V8's heap, JSON text in a Buffer, parsed as read (bench/prefork-server.mjs).
// Each worker's CPU seconds at the end show how the 16 connections spread over the workers (a
// prefork worker that accepted none stays small: its memory says nothing about load).
// --write rewrites docs/<--out, default soak>.json and .svg. On a throwaway Postgres (or DATABASE_URL).
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { startPostgres } from '../test/harness/postgres.mjs';
import { median } from './lib.mjs';
import { lineChart } from './line-chart.mjs';
import { childrenOf, load, rollup, startServer } from './serve-under-load.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const SECONDS = Number(arg('seconds', 600));
const SAMPLE = Number(arg('sample', 30));
const FLAGS = arg('flags', '');
const SETTLE = arg('settle', 'young');
const STATE = arg('state', 'built');
const OUT = arg('out', 'soak');
const WRITE = process.argv.includes('--write');
const MODES = arg('modes', 'prefork,refork,cluster').split(',');
const REFORK_AFTER = Number(arg('refork-after', 2000));
const RATE = Number(arg('rate', 800));
const ROUNDS = Number(arg('rounds', 3));
const ROUND_SECONDS = Number(arg('round-seconds', 20));
const RATE_ROUND_SECONDS = Number(arg('rate-round-seconds', 60));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** User + system CPU seconds a process has used (0 once it has gone). */
function cpuSeconds(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return Math.round((Number(f[11]) + Number(f[12])) / 10) / 10;
  } catch {
    return 0;
  }
}

const db = process.env.DATABASE_URL ? null : await startPostgres({ log: () => {} });
const url = process.env.DATABASE_URL ?? db.tcpUrl;
const servers = [];
for (const mode of MODES) {
  const env = { BENCH_V8_FLAGS: FLAGS, BENCH_SETTLE: SETTLE, BENCH_STATE: STATE, BENCH_REFORK_AFTER: mode === 'refork' ? String(REFORK_AFTER) : '0' };
  servers.push(await startServer(mode, url, env));
}
await sleep(10_000); // idle: the t = 0 figure
const samples = [];
const sample = (t) => {
  const row = { t };
  for (const s of servers) {
    const workers = childrenOf(s.ready.master).map(rollup);
    row[s.mode] = {
      totalPssMB: rollup(s.ready.master).pss + workers.reduce((a, w) => a + w.pss, 0),
      maxPrivateDirtyMB: Math.max(...workers.map((w) => w.privateDirty)),
    };
  }
  samples.push(row);
  console.log(`t=${t}s ${servers.map((s) => `${s.mode}: PSS ${row[s.mode].totalPssMB.toFixed(0)} MB, max Private_Dirty ${row[s.mode].maxPrivateDirtyMB.toFixed(0)} MB`).join('; ')}`);
};
sample(0);
const t0 = Date.now();
const loads = servers.map((s) => load(s.ready.port, SECONDS, RATE));
while (Date.now() - t0 < SECONDS * 1000 - 500) {
  await sleep(Math.min(SAMPLE * 1000, SECONDS * 1000 - (Date.now() - t0)));
  sample(Math.round((Date.now() - t0) / 1000));
}
const results = await Promise.all(loads);
const workerCpu = servers.map((s) => childrenOf(s.ready.master).map(cpuSeconds));
const rounds = servers.map(() => []);
for (let r = 0; r < ROUNDS; r++) {
  for (const [i, s] of servers.entries()) {
    const res = await load(s.ready.port, ROUND_SECONDS);
    const atRate = RATE_ROUND_SECONDS > 0 ? await load(s.ready.port, RATE_ROUND_SECONDS, RATE, 1) : undefined;
    rounds[i].push({
      requestsPerSec: res.requests.average,
      p99Ms: res.latency.p99,
      p99AtRateMs: atRate?.latency.p99,
      p50AtRateMs: atRate?.latency.p50,
      // Seconds in which some request waited 200 ms or more: a stall, against a tail spread thin.
      stalledSecondsAtRate: atRate?.windows.filter((w) => w.max >= 200).length,
      errors: res.errors + res.non2xx + (atRate ? atRate.errors + atRate.non2xx : 0),
    });
    const r0 = rounds[i].at(-1);
    console.log(
      `round ${r + 1} ${s.mode}: ${Math.round(res.requests.average)} req/s, p99 ${res.latency.p99} ms` +
        (atRate ? `; alone at ${RATE}/s p50 ${r0.p50AtRateMs} ms, p99 ${r0.p99AtRateMs} ms, ${r0.stalledSecondsAtRate} s with a 200 ms+ wait` : ''),
    );
  }
}
await Promise.all(servers.map((s) => s.stop()));
await db?.stop();

// The issue's figure: the mean from minute 2 on (from half the run in a shorter one).
const from = Math.min(120, SECONDS / 2);
const summary = {};
servers.forEach((s, i) => {
  const later = samples.filter((r) => r.t >= from && r.t > 0).map((r) => r[s.mode]);
  summary[s.mode] = {
    meanPssMB: later.reduce((a, r) => a + r.totalPssMB, 0) / later.length,
    lastMaxPrivateDirtyMB: samples[samples.length - 1][s.mode].maxPrivateDirtyMB,
    soakRequestsPerSec: results[i].requests.average,
    soakP99Ms: results[i].latency.p99,
    soakWindows: results[i].windows,
    errors: results[i].errors + results[i].non2xx + rounds[i].reduce((a, r) => a + r.errors, 0),
    soakErrorCodes: results[i].errorCodes,
    soakConnectionsOpened: results[i].connections,
    requestsPerSec: median(rounds[i].map((r) => r.requestsPerSec)),
    p99Ms: median(rounds[i].map((r) => r.p99Ms)),
    p50AtRateMs: RATE_ROUND_SECONDS > 0 ? median(rounds[i].map((r) => r.p50AtRateMs)) : undefined,
    p99AtRateMs: RATE_ROUND_SECONDS > 0 ? median(rounds[i].map((r) => r.p99AtRateMs)) : undefined,
    rounds: rounds[i],
    workerCpuSeconds: workerCpu[i],
  };
});
summary.ratio = {};
for (const mode of MODES.filter((m) => m !== 'cluster' && summary.cluster)) {
  summary.ratio[mode] = {
    meanPss: summary[mode].meanPssMB / summary.cluster.meanPssMB,
    requestsPerSec: summary[mode].requestsPerSec / summary.cluster.requestsPerSec,
    p99: summary[mode].p99Ms / summary.cluster.p99Ms,
    soakP99: summary[mode].soakP99Ms / summary.cluster.soakP99Ms,
    p99AtRate: summary[mode].p99AtRateMs / summary.cluster.p99AtRateMs,
  };
}
const out = {
  date: new Date().toISOString(),
  machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version },
  seconds: SECONDS,
  ratePerServer: RATE,
  rounds: ROUNDS,
  roundSeconds: ROUND_SECONDS,
  rateRoundSeconds: RATE_ROUND_SECONDS,
  flags: FLAGS,
  settle: SETTLE,
  state: STATE,
  modes: MODES,
  reforkAfterRequests: REFORK_AFTER,
  meanFromSeconds: from,
  summary,
  samples,
};
console.log(JSON.stringify(summary, null, 1));
if (WRITE) {
  writeFileSync(new URL(`../docs/${OUT}.json`, import.meta.url), `${JSON.stringify(out, null, 1)}\n`);
  const series = (mode, color) => ({ label: `${mode}, total PSS`, color, points: samples.map((r) => [r.t / 60, r[mode].totalPssMB]) });
  writeFileSync(
    new URL(`../docs/${OUT}.svg`, import.meta.url),
    lineChart(
      {
        title: 'Total PSS under load: prefork() against node:cluster (4 workers, 150 MB state)',
        xLabel: 'minutes',
        yLabel: 'MB',
        series: MODES.map((m) => series(m, { prefork: '#2a7', refork: '#27c', cluster: '#c54' }[m] ?? '#888')),
      },
      `bench/soak.mjs, ${out.date.slice(0, 10)}, ${out.machine.cores} cores, Node ${out.machine.node}, state ${STATE}, settleHeap '${SETTLE}'${FLAGS ? `, flags ${FLAGS}` : ''}`,
    ),
  );
}
process.exit(0);
