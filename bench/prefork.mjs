// prefork() against node:cluster, the same app (bench/prefork-server.mjs: 150 MB of state, one pg
// query per request) with 4 workers each, in the same run:
//   - time until every worker runs the app;
//   - total PSS of master + workers, and each worker's private dirty memory, after 10 s idle;
//   - HTTP requests/s and p99 under autocannon (32 keep-alive connections, 10 s);
//   - a rolling reload under the same load: failed requests and p99 during it.
// prefork's workers run --single-threaded (fork() needs it); cluster's do not (its default), and
// once more with it, to tell what the flag costs apart from how the workers are made.
//   node bench/prefork.mjs <url> [workers] [stateMB]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { freePort } from '../test/harness/postgres.mjs';
import { emit } from './lib.mjs';

const [url, workersArg = '4', stateArg = '150'] = process.argv.slice(2);
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
  return { proc, next };
}

const cannon = (port, seconds, onStart) =>
  new Promise((resolve, reject) => {
    const inst = autocannon({ url: `http://127.0.0.1:${port}/1`, connections: 32, duration: seconds, requests: [{ setupRequest: (r) => ({ ...r, path: `/${Math.floor(Math.random() * 1e6)}` }) }] }, (err, res) => (err ? reject(err) : resolve(res)));
    onStart?.(inst);
  });

async function run(mode, env) {
  const s = await start(mode, env);
  const ready = await s.next('ready');
  await sleep(10_000);
  const pids = [ready.master, ...ready.workers];
  const mem = pids.map(rollup);
  const load = await cannon(ready.port, 10);
  const reloading = cannon(ready.port, 10);
  await sleep(2_000);
  s.proc.kill('SIGHUP');
  const reload = await reloading;
  const reloaded = await s.next('reloaded').catch(() => null);
  s.proc.kill('SIGTERM');
  await new Promise((r) => s.proc.once('exit', r));
  return {
    mode,
    workersReadyMs: ready.ready,
    totalPssMB: mem.reduce((a, m) => a + (m.Pss ?? 0), 0),
    masterPssMB: mem[0].Pss,
    workerPrivateDirtyMB: mem.slice(1).map((m) => m.Private_Dirty),
    reqPerSec: load.requests.average,
    p99Ms: load.latency.p99,
    errors: load.errors + load.non2xx + load.timeouts,
    reload: { ms: reloaded?.reloaded ?? null, reqPerSec: reload.requests.average, p99Ms: reload.latency.p99, failed: reload.errors + reload.non2xx + reload.timeouts },
  };
}

const prefork = await run('prefork');
const cluster = await run('cluster');
// What --single-threaded costs by itself: cluster's workers with it.
const clusterSingle = { ...(await run('cluster', { BENCH_SINGLE_THREADED: '1' })), mode: 'cluster --single-threaded' };
emit({
  workers: Number(workersArg),
  stateMB: Number(stateArg),
  prefork,
  cluster,
  clusterSingle,
  ratios: {
    startFaster: cluster.workersReadyMs / prefork.workersReadyMs,
    pss: prefork.totalPssMB / cluster.totalPssMB,
    reqPerSec: prefork.reqPerSec / cluster.reqPerSec,
    singleThreadedCost: clusterSingle.reqPerSec / cluster.reqPerSec,
  },
});
