// What fork() costs, part by part: quiescing the threadpool, scanning /proc/self/smaps for the
// do-not-copy ranges and lending them to the child, the fork itself, and restoring them.
// Run: npm run build:ts && node --single-threaded bench/fork-cost.mjs [forks]
import { fork, waitpid } from '../dist/index.js';
import { recordForkTimings } from './lib.mjs';

const N = Number(process.argv[2] ?? 100);
const rows = recordForkTimings();
// Some heap, as a real app has.
const heap = Array.from({ length: 200_000 }, (_, i) => ({ i, s: `item-${i}` }));
for (let i = 0; i < N; i++) {
  const pid = fork();
  if (pid === 0) process.exit(0);
  await waitpid(pid);
}
const med = (k) => {
  const v = rows.map((r) => r[k]).sort((a, b) => a - b);
  return v[v.length >> 1];
};
console.log(`fork() cost, median of ${N} forks (heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB, ${rows[0].ranges} do-not-copy ranges):`);
for (const [k, label] of [['quiesceMs', 'quiesce threadpool'], ['scanMs', 'smaps scan + MADV_DOFORK'], ['forkMs', 'fork(2)'], ['restoreMs', 'restore MADV_DONTFORK']]) {
  console.log(`  ${label.padEnd(26)} ${med(k).toFixed(3)} ms`);
}
void heap;
