// prefork() against node:cluster, the same app (bench/prefork-server.mjs: 150 MB of state, one pg
// query per request) with 4 workers each, in the same run:
//   - time until every worker runs the app;
//   - total PSS of master + workers, and each worker's private dirty memory, after 10 s idle;
//   - HTTP requests/s and p99 under autocannon (32 keep-alive connections, 10 s), twice: cold (the
//     first load the workers see) and then warm (the figure compared). Workers' first touch of a
//     page costs more in a forked child than in a fresh process on some machines (a VM that shadows
//     page tables: 5 us a page read, 17-24 us a page written; one with hardware-assisted paging:
//     0.2 and 2 us; bench/first-touch.c), and the cold run pays it;
//   - CPU time per request (master + workers, from /proc) at a fixed 2 000 requests/s: on this
//     machine (2 shared cores, Postgres on them) requests/s moves +-10-25 % between runs of the same
//     server, CPU time per request much less;
//   - a rolling reload under the same load: failed requests and p99 during it;
//   - requests/s once more, the three servers up side by side and loaded in turn (`pairs` turns,
//     default 7): the comparison least moved by this machine's drift;
//   - the time until every worker runs the app once more, alone: prefork and cluster started in
//     turn, `startPairs` times (default 9). The ratio compared is the median of each pair's own.
// prefork's workers run --single-threaded (fork() needs it); cluster's do not (its default), and
// once more with it, to tell what the flag costs apart from how the workers are made. The three
// run in turn, `rounds` times (default 3), and the ratios are of medians.
//   node bench/prefork.mjs <url> [workers] [stateMB] [rounds] [pairs] [startPairs]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { freePort } from '../test/harness/postgres.mjs';
import { emit } from './lib.mjs';

const [url, workersArg = '4', stateArg = '150', roundsArg = '3', pairsArg = '7', startPairsArg = '9'] = process.argv.slice(2);
const server = fileURLToPath(new URL('./prefork-server.mjs', import.meta.url));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function rollup(pid) {
  const out = {};
  try {
    for (const line of readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').split('\n')) {
      const m = /^(\w+):\s+(\d+) kB/.exec(line);
      if (m) out[m[1]] = Number(m[2]) / 1024;
    }
  } catch {}
  return out;
}

async function start(mode, env = {}) {
  const port = await freePort();
  const args = mode === 'prefork' ? ['--single-threaded', server] : [server];
  const proc = spawn(process.execPath, [...args, mode, url, workersArg, stateArg], {
    env: { ...process.env, BENCH_PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = [];
  let buf = '';
  proc.stdout.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buf.slice(0, nl)));
      buf = buf.slice(nl + 1);
    }
  });
  const next = async (key) => {
    const deadline = Date.now() + 120_000;
    for (;;) {
      const hit = lines.find((l) => l[key] !== undefined);
      if (hit) return hit;
      if (Date.now() > deadline) throw new Error(`${mode}: no ${key} line`);
      await sleep(20);
    }
  };
  const exited = new Promise((r) => proc.once('exit', r));
  /** SIGTERM (a graceful stop for both servers), then until the process has exited. */
  const stop = () => {
    proc.kill('SIGTERM');
    return exited;
  };
  return { proc, next, stop };
}

const cannon = (port, seconds, overallRate) =>
  new Promise((resolve, reject) => {
    autocannon({ url: `http://127.0.0.1:${port}/1`, connections: 32, duration: seconds, overallRate, requests: [{ setupRequest: (r) => ({ ...r, path: `/${Math.floor(Math.random() * 1e6)}` }) }] }, (err, res) => (err ? reject(err) : resolve(res)));
  });

/** CPU time (user + system) a process has used so far, in ms. */
function cpuMs(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // clock ticks of 10 ms
  } catch {
    return 0;
  }
}

async function run(mode, env) {
  const s = await start(mode, env);
  const ready = await s.next('ready');
  await sleep(10_000);
  const pids = [ready.master, ...ready.workers];
  const mem = pids.map(rollup);
  const cpuCold = pids.reduce((a, p) => a + cpuMs(p), 0);
  const cold = await cannon(ready.port, 10);
  const loaded = ready.workers.map(rollup);
  const cpuWarm = pids.reduce((a, p) => a + cpuMs(p), 0);
  const load = await cannon(ready.port, 10);
  const cpu0 = pids.reduce((a, p) => a + cpuMs(p), 0);
  const paced = await cannon(ready.port, 8, 2000);
  const cpuUsPerReq = ((pids.reduce((a, p) => a + cpuMs(p), 0) - cpu0) * 1000) / paced.requests.total;
  const reloading = cannon(ready.port, 10);
  await sleep(2_000);
  s.proc.kill('SIGHUP');
  const reload = await reloading;
  const reloaded = await s.next('reloaded').catch(() => null);
  await s.stop();
  return {
    mode,
    workersReadyMs: ready.ready,
    totalPssMB: mem.reduce((a, m) => a + (m.Pss ?? 0), 0),
    masterPssMB: mem[0].Pss,
    workerPrivateDirtyMB: mem.slice(1).map((m) => m.Private_Dirty),
    workerPrivateDirtyAfterLoadMB: loaded.map((m) => m.Private_Dirty),
    coldReqPerSec: cold.requests.average,
    coldP99Ms: cold.latency.p99,
    coldCpuUsPerReq: ((cpuWarm - cpuCold) * 1000) / cold.requests.total,
    reqPerSec: load.requests.average,
    p99Ms: load.latency.p99,
    warmCpuUsPerReq: ((cpu0 - cpuWarm) * 1000) / load.requests.total,
    cpuUsPerReq,
    errors: cold.errors + cold.non2xx + cold.timeouts + load.errors + load.non2xx + load.timeouts,
    reload: { ms: reloaded?.reloaded ?? null, reqPerSec: reload.requests.average, p99Ms: reload.latency.p99, failed: reload.errors + reload.non2xx + reload.timeouts },
  };
}

const median = (xs) => {
  const v = xs.filter((x) => x !== null).sort((a, b) => a - b);
  return v.length % 2 ? v[v.length >> 1] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
const modes = [
  ['prefork', 'prefork', {}],
  ['cluster', 'cluster', {}],
  // What --single-threaded costs by itself: cluster's workers with it.
  ['clusterSingle', 'cluster', { BENCH_SINGLE_THREADED: '1' }],
];
const runs = { prefork: [], cluster: [], clusterSingle: [] };
for (let round = 0; round < Number(roundsArg); round++) {
  for (const [name, mode, env] of modes) runs[name].push(await run(mode, env));
}
const summary = (rs) => ({
  workersReadyMs: median(rs.map((r) => r.workersReadyMs)),
  totalPssMB: median(rs.map((r) => r.totalPssMB)),
  workerPrivateDirtyMB: median(rs.flatMap((r) => r.workerPrivateDirtyMB)),
  workerPrivateDirtyAfterLoadMB: median(rs.flatMap((r) => r.workerPrivateDirtyAfterLoadMB)),
  coldReqPerSec: median(rs.map((r) => r.coldReqPerSec)),
  coldP99Ms: median(rs.map((r) => r.coldP99Ms)),
  coldCpuUsPerReq: median(rs.map((r) => r.coldCpuUsPerReq)),
  reqPerSec: median(rs.map((r) => r.reqPerSec)),
  p99Ms: median(rs.map((r) => r.p99Ms)),
  warmCpuUsPerReq: median(rs.map((r) => r.warmCpuUsPerReq)),
  cpuUsPerReq: median(rs.map((r) => r.cpuUsPerReq)),
  reloadFailed: rs.map((r) => r.reload.failed),
  reloadP99Ms: median(rs.map((r) => r.reload.p99Ms)),
  reloadMs: median(rs.map((r) => r.reload.ms)),
});

/**
 * Requests/s side by side: the three servers up at once (idle but for the one under load), each
 * warmed by one load, then 10 s loads taking turns, `pairs` times. Requests/s here moves +-25 %
 * from one load to the next; turns a few seconds apart meet the same machine, and the ratio is the
 * median of each turn's own.
 */
async function sideBySide(pairs) {
  const servers = [];
  for (const [name, mode, env] of modes) {
    const s = await start(mode, env);
    servers.push({ name, s, ready: await s.next('ready'), rps: [] });
  }
  for (const v of servers) await cannon(v.ready.port, 10);
  for (let i = 0; i < pairs; i++) for (const v of servers) v.rps.push((await cannon(v.ready.port, 10)).requests.average);
  await Promise.all(servers.map((v) => v.s.stop()));
  const [p, c, cs] = servers.map((v) => v.rps);
  return {
    pairs,
    prefork: p,
    cluster: c,
    clusterSingle: cs,
    preforkReqPerSec: median(p),
    clusterReqPerSec: median(c),
    clusterSingleReqPerSec: median(cs),
    ratio: median(p.map((x, i) => x / c[i])),
  };
}
const throughput = await sideBySide(Number(pairsArg));

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
/** Until none of `pids` is left (10 s at most): a stopped master's workers may outlive it briefly. */
async function gone(pids) {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && pids.some(alive)) await sleep(20);
}

/**
 * The time until every worker runs the app, alone: prefork and cluster started in turn, `pairs`
 * times, each stopped, and every one of its processes gone, before the next starts. A start moves
 * by a third from one to the next here (fork(2) of the same master, the same way, took 12 to 63 ms
 * in one evening's runs), more than three rounds' median settles; the ratio is the median of each
 * pair's own, as side by side.
 */
async function startAlone(pairs) {
  const p = [];
  const c = [];
  for (let i = 0; i < pairs; i++) {
    for (const [mode, out] of [['prefork', p], ['cluster', c]]) {
      const s = await start(mode);
      const ready = await s.next('ready');
      out.push(ready.ready);
      await s.stop();
      await gone([ready.master, ...ready.workers]);
    }
  }
  return { pairs, prefork: p, cluster: c, preforkMs: median(p), clusterMs: median(c), ratio: median(p.map((x, i) => c[i] / x)) };
}
const startTimes = await startAlone(Number(startPairsArg));

const prefork = summary(runs.prefork);
const cluster = summary(runs.cluster);
const clusterSingle = summary(runs.clusterSingle);
emit({
  workers: Number(workersArg),
  stateMB: Number(stateArg),
  rounds: Number(roundsArg),
  prefork,
  cluster,
  clusterSingle,
  throughput,
  start: startTimes,
  ratios: {
    startFaster: startTimes.ratio,
    startFasterRounds: cluster.workersReadyMs / prefork.workersReadyMs,
    pss: prefork.totalPssMB / cluster.totalPssMB,
    reqPerSec: prefork.reqPerSec / cluster.reqPerSec,
    sideBySideReqPerSec: throughput.ratio,
    coldReqPerSec: prefork.coldReqPerSec / cluster.coldReqPerSec,
    cpuPerReq: prefork.cpuUsPerReq / cluster.cpuUsPerReq,
    singleThreadedReqPerSec: clusterSingle.reqPerSec / cluster.reqPerSec,
  },
  runs,
});
