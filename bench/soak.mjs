// `npm run bench:soak`: memory under load, over minutes, the way issue #28 measured it. The same app
// (bench/prefork-server.mjs with BENCH_HANDLER=json40: 150 MB of state, each request one pg query
// and a 40-item JSON body built from the state), 4 workers each, served by prefork() and by
// node:cluster side by side, each under its own autocannon (16 keep-alive connections) for the
// whole run. Every `sample` seconds: each server's total PSS (master + workers) and its largest
// worker's Private_Dirty. At the end: requests/s and p99 of each.
//   node bench/soak.mjs [--seconds 600] [--sample 30] [--flags '<v8 flags for every worker>'] [--settle young|full|none]
//                       [--modes prefork,refork,cluster] [--refork-after 2000] [--write]
// 'refork' is prefork() with refork: { afterRequests } (src/prefork/mold.ts): its mold counts in its
// total PSS. Every process is found anew at each sample (the master's children), since a refork
// replaces every worker.
// --flags are set in every worker of both (and in prefork's master before it settles its heap);
// --settle is prefork's settleHeap.
// --write rewrites docs/soak.json and docs/soak.svg. On a throwaway Postgres (or DATABASE_URL).
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { freePort, startPostgres } from '../test/harness/postgres.mjs';
import { lineChart } from './line-chart.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const SECONDS = Number(arg('seconds', 600));
const SAMPLE = Number(arg('sample', 30));
const FLAGS = arg('flags', '');
const SETTLE = arg('settle', 'young');
const WRITE = process.argv.includes('--write');
const MODES = arg('modes', 'prefork,refork,cluster').split(',');
const REFORK_AFTER = Number(arg('refork-after', 2000));
const server = fileURLToPath(new URL('./prefork-server.mjs', import.meta.url));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const MB = 1024 * 1024;

function rollup(pid) {
  const out = { pss: 0, privateDirty: 0 };
  try {
    for (const line of readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').split('\n')) {
      const m = /^(Pss|Private_Dirty):\s+(\d+) kB/.exec(line);
      if (m) out[m[1] === 'Pss' ? 'pss' : 'privateDirty'] = (Number(m[2]) * 1024) / MB;
    }
  } catch {}
  return out;
}

// Every process a master has now: prefork's workers (and mold), or cluster's.
function childrenOf(pid) {
  const out = new Set();
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      for (const c of readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ')) if (c.trim()) out.add(Number(c));
    }
  } catch {}
  return [...out];
}

async function start(mode, url) {
  const port = await freePort();
  const forked = mode === 'cluster' ? 'cluster' : 'prefork';
  const args = forked === 'prefork' ? ['--single-threaded', server] : [server];
  const proc = spawn(process.execPath, [...args, forked, url, '4', '150'], {
    env: {
      ...process.env,
      BENCH_PORT: String(port),
      BENCH_HANDLER: 'json40',
      BENCH_V8_FLAGS: FLAGS,
      BENCH_SETTLE: SETTLE,
      BENCH_REFORK_AFTER: mode === 'refork' ? String(REFORK_AFTER) : '0',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ready = await new Promise((resolve, reject) => {
    let buf = '';
    proc.stdout.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)));
    });
    proc.once('exit', (code) => reject(new Error(`${mode} exited (${code}) before it was ready`)));
  });
  const exited = new Promise((r) => proc.once('exit', r));
  return { mode, ready, stop: () => (proc.kill('SIGTERM'), exited) };
}

const load = (port, seconds) =>
  new Promise((resolve, reject) => {
    autocannon(
      { url: `http://127.0.0.1:${port}/1`, connections: 16, duration: seconds, requests: [{ setupRequest: (r) => ({ ...r, path: `/${Math.floor(Math.random() * 1e6)}` }) }] },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
  });

const db = process.env.DATABASE_URL ? null : await startPostgres({ log: () => {} });
const url = process.env.DATABASE_URL ?? db.tcpUrl;
const servers = [];
for (const mode of MODES) servers.push(await start(mode, url));
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
const loads = servers.map((s) => load(s.ready.port, SECONDS));
while (Date.now() - t0 < SECONDS * 1000 - 500) {
  await sleep(Math.min(SAMPLE * 1000, SECONDS * 1000 - (Date.now() - t0)));
  sample(Math.round((Date.now() - t0) / 1000));
}
const results = await Promise.all(loads);
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
    requestsPerSec: results[i].requests.average,
    p99Ms: results[i].latency.p99,
    errors: results[i].errors + results[i].non2xx,
  };
});
summary.ratio = {};
for (const mode of MODES.filter((m) => m !== 'cluster' && summary.cluster)) {
  summary.ratio[mode] = {
    meanPss: summary[mode].meanPssMB / summary.cluster.meanPssMB,
    requestsPerSec: summary[mode].requestsPerSec / summary.cluster.requestsPerSec,
    p99: summary[mode].p99Ms / summary.cluster.p99Ms,
  };
}
const out = {
  date: new Date().toISOString(),
  machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version },
  seconds: SECONDS,
  flags: FLAGS,
  settle: SETTLE,
  modes: MODES,
  reforkAfterRequests: REFORK_AFTER,
  meanFromSeconds: from,
  summary,
  samples,
};
console.log(JSON.stringify(summary, null, 1));
if (WRITE) {
  writeFileSync(new URL('../docs/soak.json', import.meta.url), `${JSON.stringify(out, null, 1)}\n`);
  const series = (mode, color) => ({ label: `${mode}, total PSS`, color, points: samples.map((r) => [r.t / 60, r[mode].totalPssMB]) });
  writeFileSync(
    new URL('../docs/soak.svg', import.meta.url),
    lineChart(
      {
        title: 'Total PSS under load: prefork() against node:cluster (4 workers, 150 MB state)',
        xLabel: 'minutes',
        yLabel: 'MB',
        series: MODES.map((m) => series(m, { prefork: '#2a7', refork: '#27c', cluster: '#c54' }[m] ?? '#888')),
      },
      `bench/soak.mjs, ${out.date.slice(0, 10)}, ${out.machine.cores} cores, Node ${out.machine.node}${FLAGS ? `, flags ${FLAGS}` : ''}`,
    ),
  );
}
process.exit(0);
