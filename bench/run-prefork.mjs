// `npm run bench:prefork`: the pre-fork server against node:cluster (bench/prefork.mjs) and fork()
// at 20 MB, 200 MB and 1 GB heaps (bench/fork-scale.mjs), on a throwaway Postgres (or
// DATABASE_URL). Rewrites docs/prefork.json and docs/prefork.svg; docs/benchmarks.md reads them.
// About 17 minutes; `-- --quick` for a smoke run (1 round, fewer forks and starts: do not publish).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPostgres } from '../test/harness/postgres.mjs';
import { chart } from './chart.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes('--quick');
const run = (nodeArgs, script, args) => {
  const out = execFileSync(process.execPath, [...nodeArgs, join(here, script), ...args.map(String)], { encoding: 'utf8', maxBuffer: 64 * 2 ** 20, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = out.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
};

/** bench/first-touch.c: what a page costs a forked child, and its parent, the first time, on this machine. */
function firstTouch() {
  const dir = mkdtempSync(join(tmpdir(), 'fg-first-touch-'));
  try {
    execFileSync(process.env.CC ?? 'cc', ['-O2', '-o', join(dir, 'first-touch'), join(here, 'first-touch.c')]);
    return JSON.parse(execFileSync(join(dir, 'first-touch'), { encoding: 'utf8' }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const db = await startPostgres({ log: (m) => console.log(`postgres: ${m}`) });
const results = { date: new Date().toISOString(), machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version } };
try {
  results.firstTouch = firstTouch();
  results.forkScale = [];
  for (const mb of [20, 200, 1000]) {
    console.log(`fork() at a ${mb} MB heap`);
    results.forkScale.push(run(['--single-threaded', '--max-old-space-size=4096'], 'fork-scale.mjs', [mb, quick ? 5 : 21]));
  }
  console.log(`prefork() against node:cluster, 4 workers, 150 MB of state (${quick ? 1 : 3} rounds)`);
  results.prefork = run([], 'prefork.mjs', [db.tcpUrl, 4, 150, quick ? 1 : 3, quick ? 2 : 7, quick ? 2 : 9]);
} finally {
  await db.stop();
}

const f = (x, d = 1) => Number(x).toFixed(d);
for (const s of results.forkScale) {
  console.log(
    `fork() at ${s.heapMB} MB: ${f(s.forkCallMs)} ms, fork(2) ${f(s.forkSyscallMs)} ms, ${f(s.beyondForkSyscallMs)} ms beyond it (median of the forks' own), ` +
      `${f(s.overheadBeyondForkSyscall * 100, 0)} %; by CPU time ${f(s.cpu.beyondForkSyscallMs, 2)} ms beyond ${f(s.cpu.forkSyscallMs)} ms, ` +
      `${f(s.cpu.overheadBeyondForkSyscall * 100, 0)} %; ${s.preempted} of ${s.forks - 1} forks preempted; first fork ${f(s.first.forkCallMs)} ms; ` +
      `${s.parentFaults} page faults in the parent per fork`,
  );
}
const { prefork: p, cluster: c, clusterSingle: cs, throughput: tp, start: st, ratios } = results.prefork;
console.log(
  `workers running, started alone ${st.pairs} times each: prefork ${f(st.preforkMs, 0)} ms, cluster ${f(st.clusterMs, 0)} ms (median ratio ${f(ratios.startFaster)}x); ` +
    `in the rounds: ${f(p.workersReadyMs, 0)} / ${f(c.workersReadyMs, 0)} ms (${f(ratios.startFasterRounds)}x)`,
);
console.log(`total PSS: prefork ${f(p.totalPssMB, 0)} MB, cluster ${f(c.totalPssMB, 0)} MB (${f(ratios.pss, 2)}x)`);
console.log(`req/s, warm: prefork ${f(p.reqPerSec, 0)}, cluster ${f(c.reqPerSec, 0)}, cluster --single-threaded ${f(cs.reqPerSec, 0)}; CPU/request ${f(p.cpuUsPerReq, 0)} / ${f(c.cpuUsPerReq, 0)} / ${f(cs.cpuUsPerReq, 0)} µs`);
console.log(`req/s side by side, ${tp.pairs} turns: prefork ${f(tp.preforkReqPerSec, 0)}, cluster ${f(tp.clusterReqPerSec, 0)}, cluster --single-threaded ${f(tp.clusterSingleReqPerSec, 0)} (median ratio ${f(tp.ratio, 2)})`);
console.log(`req/s, cold (the workers' first load): prefork ${f(p.coldReqPerSec, 0)}, cluster ${f(c.coldReqPerSec, 0)}, cluster --single-threaded ${f(cs.coldReqPerSec, 0)}`);
const t = results.firstTouch;
console.log(
  `first touch of a page: forked child read ${f(t.forkedChildFirstReadUs, 2)} µs, write ${f(t.forkedChildFirstWriteUs, 2)} µs; ` +
    `parent write after a fork ${f(t.parentWriteAfterForkUs, 2)} µs; parent and child writing at once ` +
    `${f(t.concurrentParentWriteUs, 2)} / ${f(t.concurrentChildWriteUs, 2)} µs; fresh process write ${f(t.freshProcessWriteUs, 2)} µs; ` +
    `made by one MADV_POPULATE_WRITE call: fresh ${f(t.freshProcessPopulateUs, 2)} µs, child's copy ${f(t.forkedChildPopulateUs, 2)} µs`,
);

writeFileSync(join(here, '..', 'docs', 'prefork.json'), `${JSON.stringify(results, null, 2)}\n`);
const green = '#3a9d5d';
const red = '#c0504d';
const grey = '#8c8c8c';
writeFileSync(
  join(here, '..', 'docs', 'prefork.svg'),
  chart(
    [
      { title: `Time until 4 workers run the app (ms), median of ${st.pairs} starts`, items: [['prefork()', st.preforkMs, green], ['node:cluster', st.clusterMs, red]], max: st.clusterMs * 1.15, unit: ' ms', digits: 0 },
      { title: 'Total PSS, master + 4 workers, after 10 s idle (MB)', items: [['prefork()', p.totalPssMB, green], ['node:cluster', c.totalPssMB, red]], max: c.totalPssMB * 1.15, unit: ' MB', digits: 0 },
      {
        title: `HTTP requests/s, one pg query each: side by side, median of ${tp.pairs} turns`,
        items: [['prefork()', tp.preforkReqPerSec, green], ['node:cluster', tp.clusterReqPerSec, red], ['node:cluster --single-threaded', tp.clusterSingleReqPerSec, grey]],
        max: Math.max(tp.preforkReqPerSec, tp.clusterReqPerSec, tp.clusterSingleReqPerSec) * 1.15,
        unit: '',
        digits: 0,
      },
      {
        title: 'CPU time per request at 2 000 requests/s (µs)',
        items: [['prefork()', p.cpuUsPerReq, green], ['node:cluster', c.cpuUsPerReq, red], ['node:cluster --single-threaded', cs.cpuUsPerReq, grey]],
        max: Math.max(p.cpuUsPerReq, c.cpuUsPerReq, cs.cpuUsPerReq) * 1.15,
        unit: ' µs',
        digits: 0,
      },
      {
        title: 'fork(): the call against fork(2) inside it (ms, median)',
        items: results.forkScale.flatMap((s) => [[`fork() at ${s.heapMB} MB`, s.forkCallMs, green], [`  fork(2) alone`, s.forkSyscallMs, grey]]),
        max: Math.max(...results.forkScale.map((s) => s.forkCallMs)) * 1.15,
        unit: ' ms',
        digits: 1,
      },
    ],
    `${results.machine.cores} × ${results.machine.cpu}, Node ${results.machine.node}, ${results.date.slice(0, 10)}${quick ? ' (quick run)' : ''}`,
  ),
);
console.log(`\nwrote docs/prefork.json and docs/prefork.svg${quick ? ' (quick run: do not publish)' : ''}`);
