// The JSON-40 app (bench/prefork-server.mjs, BENCH_HANDLER=json40: 150 MB of state, one pg query
// and a 40-item JSON body per request) started under prefork() or node:cluster, the load issue #28
// measured (16 keep-alive connections), and the kernel's view of its processes. Shared by
// bench/soak.mjs and bench/gc-attribution.mjs.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/harness/postgres.mjs';

const server = fileURLToPath(new URL('./prefork-server.mjs', import.meta.url));
const MB = 1024 * 1024;

/** PSS and Private_Dirty of one process, in MB (0 once it has gone). */
export function rollup(pid) {
  const out = { pss: 0, privateDirty: 0 };
  try {
    for (const line of readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').split('\n')) {
      const m = /^(Pss|Private_Dirty):\s+(\d+) kB/.exec(line);
      if (m) out[m[1] === 'Pss' ? 'pss' : 'privateDirty'] = (Number(m[2]) * 1024) / MB;
    }
  } catch {}
  return out;
}

/** Every process a master has now: prefork's workers (and mold), or cluster's. Found anew each
 * time, since a refork replaces every worker. */
export function childrenOf(pid) {
  const out = new Set();
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      for (const c of readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ')) if (c.trim()) out.add(Number(c));
    }
  } catch {}
  return [...out];
}

/**
 * Starts the app: mode 'prefork', 'refork' (prefork with refork: { afterRequests }), 'cluster', or
 * 'cluster-single' (cluster's workers under --single-threaded, the flag a process that forks runs with);
 * env adds to the server's (BENCH_V8_FLAGS, BENCH_SETTLE, BENCH_GC_RECORD, ...). Resolves once
 * every worker serves, with { mode, ready: { master, workers, port }, stop }. `onLine` gets each
 * later line its processes print (V8's --trace-gc-nvp, for bench/gc-main-thread.mjs).
 */
export async function startServer(mode, url, env = {}, onLine = () => {}) {
  const port = await freePort();
  const forked = mode.startsWith('cluster') ? 'cluster' : 'prefork';
  if (mode === 'cluster-single') env = { ...env, BENCH_SINGLE_THREADED: '1' };
  const args = forked === 'prefork' ? ['--single-threaded', server] : [server];
  const proc = spawn(process.execPath, [...args, forked, url, '4', '150'], {
    env: { ...process.env, BENCH_PORT: String(port), BENCH_HANDLER: 'json40', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ready = await new Promise((resolve, reject) => {
    let buf = '';
    let ready;
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (d) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (ready) onLine(line);
        else if (line.startsWith('{')) resolve((ready = JSON.parse(line)));
      }
    });
    proc.once('exit', (code) => reject(new Error(`${mode} exited (${code}) before it was ready`)));
  });
  const exited = new Promise((r) => proc.once('exit', r));
  return { mode, ready, stop: () => (proc.kill('SIGTERM'), exited) };
}

/** 16 keep-alive connections for `seconds`, as fast as the server answers or at `rate` requests/s
 * in all (http-load.mjs). */
export { load } from './http-load.mjs';
