// npm run bench: every benchmark, each in its own process, against a throwaway Postgres (or
// DATABASE_URL). Prints a summary and writes docs/benchmarks.json and docs/benchmarks.svg.
//   npm run bench -- --quick   (fewer rounds and cycles: a smoke run, not for publishing)
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startPostgres } from '../test/harness/postgres.mjs';
import { chart } from './chart.mjs';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
const quick = values.quick;
const here = dirname(fileURLToPath(import.meta.url));
const docs = join(here, '..', 'docs');

function run(script, args, nodeArgs = []) {
  const out = execFileSync(process.execPath, [...nodeArgs, join(here, script), ...args.map(String)], {
    encoding: 'utf8',
    maxBuffer: 64 * 2 ** 20,
    timeout: 30 * 60_000,
  });
  const lines = out.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

const db = await startPostgres({ log: (m) => console.log(`postgres: ${m}`) });
const results = {
  date: new Date().toISOString(),
  machine: {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    postgres: db.source,
  },
};
try {
  const rounds = quick ? 4 : 30;
  const ms = quick ? 250 : 500;
  results.throughput = [];
  for (const server of ['postgres', 'stub']) {
    for (const c of [1, 16]) {
      console.log(`throughput: ${server}, concurrency ${c} (${rounds} interleaved rounds of ${ms} ms each)`);
      results.throughput.push(run('throughput.mjs', [server === 'stub' ? 'stub' : db.tcpUrl, c, rounds, ms]));
    }
  }
  console.log('checkout check cost');
  results.check = run('check-cost.mjs', []);
  console.log('fork() -> first query vs child_process.fork() -> first query');
  results.firstQuery = run('first-query.mjs', [db.tcpUrl, quick ? 5 : 20], ['--single-threaded']);
  console.log('child_process.spawn cost');
  // Three interleaved passes of each mode, median of the three medians: one process's luck is noise.
  const passes = { plain: [], armed: [], 'after-fork': [] };
  for (let i = 0; i < 3; i++) {
    for (const mode of Object.keys(passes)) passes[mode].push(run('spawn-cost.mjs', [mode, quick ? 50 : 200], ['--single-threaded']));
  }
  const mid = (xs) => [...xs].sort((a, b) => a - b)[1];
  results.spawn = Object.entries(passes).map(([mode, rs]) => ({ mode, medianMs: mid(rs.map((r) => r.medianMs)), passes: rs.map((r) => r.medianMs) }));
  console.log("the child's sweep of inherited connections");
  results.sweep = [10, 1000, 10_000].map((n) => run('sweep-cost.mjs', [n, quick ? 3 : 15], ['--single-threaded']));
  console.log('connect/disconnect churn');
  const cycles = quick ? 10_000 : 100_000;
  results.churn = ['bare', 'guarded'].map((mode) => run('churn.mjs', [mode, cycles], ['--expose-gc']));
} finally {
  await db.stop();
}

const f = (x, d = 2) => Number(x).toFixed(d);
console.log('\nthroughput, guarded / bare pool.query(\'SELECT 1\') (median of interleaved pairs, [min, max]):');
for (const t of results.throughput) {
  console.log(
    `  ${t.server.padEnd(8)} concurrency ${String(t.concurrency).padEnd(3)} bare ${f(t.bareQps, 0).padStart(6)} q/s  guarded ${f(t.guardedQps, 0).padStart(6)} q/s  ratio ${f(t.ratio, 3)} [${f(t.ratioMin, 3)}, ${f(t.ratioMax, 3)}]  CPU/query ${f(t.bareCpuUs, 1)} / ${f(t.guardedCpuUs, 1)} µs = ${f(t.cpuRatio, 3)}`,
  );
}
const c = results.check;
console.log(`checkout check ${f(c.checkNs - c.loopNs, 1)} ns; debug mode ${f(c.debugCheckNs - c.loopNs, 0)} ns; N-API getpid ${f(c.napiGetpidNs - c.loopNs, 0)} ns`);
const q = results.firstQuery;
console.log(
  `first query in a new worker: fork() ${f(q.forkFirstQueryMs)} ms, child_process.fork() ${f(q.childProcessFirstQueryMs)} ms ` +
    `(fork(): quiesce ${f(q.forkParts.quiesceMs, 3)}, smaps+DOFORK ${f(q.forkParts.scanMs)}, fork ${f(q.forkParts.forkMs)}, restore ${f(q.forkParts.restoreMs, 3)} ms)`,
);
console.log(`spawnSync('/bin/true'): ${results.spawn.map((s) => `${s.mode} ${f(s.medianMs)} ms`).join(', ')}`);
for (const sw of results.sweep) {
  console.log(
    `sweep: ${String(sw.sockets).padStart(5)} sockets in the child ${f(sw.sweepUsMedian / 1000)} ms (${f(sw.usPerSocket, 1)} µs each); ` +
      `fork() in the parent ${f(sw.forkMsWithSweep)} ms, ${f(sw.forkMsKeepAll)} ms with keep: 'all'`,
  );
}
for (const ch of results.churn) {
  const first = ch.samples[1];
  const last = ch.samples[ch.samples.length - 1];
  console.log(
    `churn ${ch.mode.padEnd(7)} ${ch.cycles} cycles in ${f(ch.seconds, 1)} s: tracked fds ${last.tracked}, ` +
      `rss ${f(first.rssMiB, 0)} -> ${f(last.rssMiB, 0)} MiB, heap ${f(first.heapMiB)} -> ${f(last.heapMiB)} MiB (after ${first.cycles} and ${last.cycles})`,
  );
}

mkdirSync(docs, { recursive: true });
writeFileSync(join(docs, 'benchmarks.json'), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(join(docs, 'benchmarks.svg'), chart(panels(results), `${results.machine.cores} × ${results.machine.cpu}, Node ${results.machine.node}, ${results.date.slice(0, 10)}`));
console.log(`\nwrote docs/benchmarks.json and docs/benchmarks.svg${quick ? ' (quick run: do not publish)' : ''}`);

/** Three panels: the throughput ratios, and the fork / spawn timings. */
function panels(r) {
  return [
    {
      title: 'Throughput, guarded / bare pg.Pool (pool.query, median of interleaved pairs)',
      items: r.throughput.map((t) => [`${t.server === 'stub' ? 'client only (stub server)' : 'Postgres'}, concurrency ${t.concurrency}`, t.ratio, '#2b7bb9']),
      max: 1.1,
      unit: '×',
      digits: 3,
    },
    {
      title: 'A new worker with its first query done (ms)',
      items: [
        ['fork() of a process with a warm pool', r.firstQuery.forkFirstQueryMs, '#3a9d5d'],
        ['child_process.fork() + new pool', r.firstQuery.childProcessFirstQueryMs, '#c0504d'],
      ],
      max: Math.max(r.firstQuery.forkFirstQueryMs, r.firstQuery.childProcessFirstQueryMs) * 1.15,
      unit: ' ms',
      digits: 1,
    },
    {
      title: "child_process.spawnSync('/bin/true') (ms)",
      items: r.spawn.map((s) => [s.mode === 'plain' ? 'without pg-forkguard' : s.mode === 'armed' ? 'atfork handler armed' : 'after a fork()', s.medianMs, '#8064a2']),
      max: Math.max(...r.spawn.map((s) => s.medianMs)) * 1.15,
      unit: ' ms',
      digits: 2,
    },
  ];
}
