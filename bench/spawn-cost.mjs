// child_process.spawnSync('/bin/true'): without pg-forkguard, with its atfork handler armed (it runs
// in glibc's fork before the exec), and after a fork() (the restored MADV_DONTFORK is what keeps
// spawn from copying the V8 heap).  node --single-threaded bench/spawn-cost.mjs plain|armed|after-fork [n]
import { spawnSync } from 'node:child_process';
import { emit, median, ns } from './lib.mjs';

const [mode = 'plain', nArg = '200'] = process.argv.slice(2);
const N = Number(nArg);
// A heap like a real app's: copying it would show.
const heap = Array.from({ length: 300_000 }, (_, i) => ({ i, s: `item-${i}` }));
if (mode !== 'plain') {
  const fg = await import('../dist/index.js');
  fg.install();
  if (mode === 'after-fork') {
    const pid = fg.fork();
    if (pid === 0) process.exit(0);
    await fg.waitpid(pid);
  }
}
for (let i = 0; i < 10; i++) spawnSync('/bin/true');
const samples = [];
for (let i = 0; i < N; i++) {
  const t = ns();
  spawnSync('/bin/true');
  samples.push((ns() - t) / 1e6);
}
emit({ mode, n: N, medianMs: median(samples), heapMiB: process.memoryUsage().heapUsed / 2 ** 20 });
void heap;
