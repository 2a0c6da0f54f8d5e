// The child's sweep of inherited connections (native/core/sweep.h): how long it takes with N open
// sockets, in the child, before any JS runs there. Also fork()'s wall time in the parent with the
// sweep (the default) and without (keep: 'all'): arming it copies the keep list, nothing more.
//   node --single-threaded bench/sweep-cost.mjs <sockets> [forks]
// Prints one JSON line. The sockets are both ends of sockets/2 unix-socket connections to a server
// in this process: each end is a connected stream socket, and each is swept in the child.
import { subscribe } from 'node:diagnostics_channel';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fork, waitpid } from '../dist/index.js';
import { emit, median } from './lib.mjs';

const sockets = Number(process.argv[2] ?? 1000);
const forks = Number(process.argv[3] ?? 15);
const dir = mkdtempSync(join(tmpdir(), 'fg-sweep-'));
const path = join(dir, 's.sock');
const accepted = [];
const server = createServer((s) => accepted.push(s));
server.maxConnections = sockets;
await new Promise((r) => server.listen({ path, backlog: 4096 }, r));
const clients = [];
for (let i = 0; i < sockets / 2; i++) {
  clients.push(await new Promise((resolve, reject) => {
    const c = createConnection(path, () => resolve(c));
    c.on('error', reject);
  }));
}
while (accepted.length < clients.length) await new Promise((r) => setTimeout(r, 5));

let sweep = null;
subscribe('pgforkguard:fork', (m) => {
  if (m.role === 'child') sweep = m.sweep;
});
const out = join(dir, 'child.json');
const sample = { sweepUs: [], swept: [], forkMsSweep: [], forkMsAll: [] };
for (let i = 0; i < forks; i++) {
  for (const keep of [undefined, 'all']) {
    const t0 = process.hrtime.bigint();
    const pid = fork(keep ? { keep } : {});
    if (pid === 0) {
      writeFileSync(out, JSON.stringify(sweep));
      process.exit(0);
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    await waitpid(pid);
    const s = JSON.parse(readFileSync(out, 'utf8'));
    if (keep) sample.forkMsAll.push(ms);
    else {
      sample.forkMsSweep.push(ms);
      sample.sweepUs.push(s.micros);
      sample.swept.push(s.swept);
    }
  }
}
for (const s of [...clients, ...accepted]) s.destroy();
server.close();
rmSync(dir, { recursive: true, force: true });
emit({
  sockets,
  forks,
  swept: median(sample.swept),
  sweepUsMedian: median(sample.sweepUs),
  sweepUsMax: Math.max(...sample.sweepUs),
  usPerSocket: median(sample.sweepUs) / Math.max(1, median(sample.swept)),
  forkMsWithSweep: median(sample.forkMsSweep),
  forkMsKeepAll: median(sample.forkMsAll),
});
