// fork() at scale: what fork() costs beyond the fork(2) system call, at a given heap size.
//   node --single-threaded --max-old-space-size=4096 bench/fork-scale.mjs <heapMB> [forks]
// Prints one JSON line: heap, median fork() wall time, its parts (from the pgforkguard:fork event),
// and the overhead beyond fork(2) as a fraction of fork(2).
import { fork, waitpid } from '../dist/index.js';
import { emit, median, ns, recordForkTimings } from './lib.mjs';

const heapMB = Number(process.argv[2] ?? 200);
const N = Number(process.argv[3] ?? 15);
// Live objects of a realistic shape (strings, small objects, arrays), grown to the heap asked for.
const state = [];
let i = 0;
while (process.memoryUsage().heapUsed < heapMB * 2 ** 20) {
  const chunk = [];
  for (let j = 0; j < 10_000; j++) chunk.push({ id: i++, name: `item-${i}`, tags: [i & 7, i & 15] });
  state.push(chunk);
}
globalThis.state = state; // alive for the whole run
const parts = recordForkTimings();
const wall = [];
// Page faults the parent takes inside fork(): after fork(2) every page it writes first is one (the
// fork made it copy-on-write), a cost of fork(2) itself that lands in fork()'s time.
const faults = [];
for (let k = 0; k < N; k++) {
  const f0 = process.resourceUsage().minorPageFault;
  const t0 = ns();
  const pid = fork();
  if (pid === 0) process.exit(0);
  wall.push((ns() - t0) / 1e6);
  faults.push(process.resourceUsage().minorPageFault - f0);
  await waitpid(pid);
}
// The first fork reads /proc/self/smaps; later ones reuse it while /proc/self/maps is unchanged.
const later = parts.slice(1);
const m = (k) => median(later.map((p) => p[k]));
const forkMs = m('syscallMs');
const totalMs = median(wall.slice(1));
// What fork() adds to fork(2), fork by fork: fork(2)'s own time moves by 2-3x between forks here,
// so the difference of the two medians mixes one fork's wall time with another's system call.
const beyond = later.map((p, k) => wall[k + 1] - p.syscallMs);
emit({
  heapMB: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
  forks: N,
  first: { forkCallMs: wall[0], scanMs: parts[0].scanMs, forkSyscallMs: parts[0].syscallMs, overheadBeyondForkSyscall: (wall[0] - parts[0].syscallMs) / parts[0].syscallMs },
  forkCallMs: totalMs,
  forkSyscallMs: forkMs,
  quiesceMs: m('quiesceMs'),
  scanMs: m('scanMs'),
  restoreMs: m('restoreMs'),
  forkPartMs: m('forkMs'),
  unaccountedMs: median(later.map((p, k) => wall[k + 1] - p.quiesceMs - p.scanMs - p.forkMs - p.restoreMs)),
  quiesceReused: later.filter((p) => p.quiesceReused).length,
  scanReused: later.filter((p) => p.scanReused).length,
  restoreOneByOne: later.filter((p) => p.restoreOneByOne).length,
  ranges: parts[0].ranges,
  madviseCalls: m('calls'),
  parentFaults: median(faults.slice(1)),
  beyondForkSyscallMs: median(beyond),
  overheadBeyondForkSyscall: median(beyond) / forkMs,
  perFork: later.map((p, k) => ({ forkCallMs: wall[k + 1], forkSyscallMs: p.syscallMs })),
});
