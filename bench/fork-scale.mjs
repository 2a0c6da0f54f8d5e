// fork() at scale: what fork() costs beyond the fork(2) system call, at a given heap size.
//   node --single-threaded --max-old-space-size=4096 bench/fork-scale.mjs <heapMB> [forks]
// Prints one JSON line: heap, median fork() wall time, its parts, and the overhead beyond fork(2)
// as a fraction of fork(2), by wall time and by CPU time.
//
// CPU time is the measure of what fork() does: on 2 cores the kernel often puts the child on the
// parent's CPU, and at the next tick the child runs there for a few ms while the parent waits (a
// sched_switch trace shows it in about half the forks). That lands in fork()'s wall time whenever it
// comes after fork(2) returned, though the child would take that CPU after a bare fork(2) as well.
// The parent's CPU time (process.cpuUsage(), getrusage) leaves it out, and fork(2)'s own is the thread's CPU clock
// around the call (native/uv/fork.cc). Forks the scheduler preempted are counted (preempted).
//
// The parts come from fork()'s report (native/core/facts.h), read after each fork() returns: the numbers
// the `pgforkguard:fork` channel publishes, without a subscriber. With one, fork() also builds the
// message, after fork(2), while the child shares every page; that is a cost of watching, which a
// process that does not subscribe never pays, so it is measured apart (withSubscriber).
import { reported } from '../test/support/native-test.js';
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

const ms = (key) => reported(key) / 1e6;
const cpuMs = (c) => (c.user + c.system) / 1e3;
/** One fork(): its wall and CPU time, its parts, whether the scheduler preempted it, and the page
 * faults the parent took inside it. After fork(2) every page the parent writes first is one (the
 * fork made it copy-on-write). */
async function timedFork() {
  // Nested so that each clock brackets the other's read as little as it can: the CPU bracket holds no
  // hrtime call, and after fork(2) every call is pages written.
  const r0 = process.resourceUsage();
  const t0 = ns();
  const c0 = process.cpuUsage();
  const pid = fork();
  const c1 = process.cpuUsage();
  const t1 = ns();
  if (pid === 0) process.exit(0);
  const wall = (t1 - t0) / 1e6;
  const r1 = process.resourceUsage();
  const p = {
    wall,
    cpu: cpuMs(c1) - cpuMs(c0),
    preempted: r1.involuntaryContextSwitches > r0.involuntaryContextSwitches,
    faults: r1.minorPageFault - r0.minorPageFault,
    quiesceMs: ms('quiesceNs'),
    scanMs: ms('scanNs'),
    forkMs: ms('forkNs'),
    syscallMs: ms('syscallNs'),
    syscallCpuMs: ms('syscallCpuNs'),
    restoreMs: ms('restoreNs'),
    ranges: reported('ranges'),
    calls: reported('calls'),
    quiesceReused: reported('quiesceReused') !== 0,
    scanReused: reported('scanReused') !== 0,
    restoreOneByOne: reported('restoreOneByOne') !== 0,
  };
  await waitpid(pid);
  return p;
}

const runs = [];
for (let k = 0; k < N; k++) runs.push(await timedFork());
// With a subscriber to the fork channel, as a process watching its forks (NODE_DEBUG=pgforkguard,
// an APM agent) runs them.
const published = recordForkTimings();
const watched = [];
for (let k = 0; k < Math.max(5, Math.ceil(N / 2)); k++) watched.push(await timedFork());

// The first fork reads /proc/self/smaps; later ones reuse it while /proc/self/maps is unchanged.
const first = runs[0];
const later = runs.slice(1);
const m = (k) => median(later.map((p) => p[k]));
// What fork() adds to fork(2), fork by fork: fork(2)'s own time moves by 2-3x between forks here,
// so the difference of the two medians would mix one fork's wall time with another's system call.
const beyond = (rows) => median(rows.map((p) => p.wall - p.syscallMs));
const beyondCpu = (rows) => median(rows.map((p) => p.cpu - p.syscallCpuMs));
const forkMs = m('syscallMs');
const calm = later.filter((p) => !p.preempted);
emit({
  heapMB: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
  forks: N,
  first: { forkCallMs: first.wall, scanMs: first.scanMs, forkSyscallMs: first.syscallMs, overheadBeyondForkSyscall: (first.wall - first.syscallMs) / first.syscallMs },
  forkCallMs: m('wall'),
  forkSyscallMs: forkMs,
  quiesceMs: m('quiesceMs'),
  scanMs: m('scanMs'),
  restoreMs: m('restoreMs'),
  forkPartMs: m('forkMs'),
  unaccountedMs: median(later.map((p) => p.wall - p.quiesceMs - p.scanMs - p.forkMs - p.restoreMs)),
  quiesceReused: later.filter((p) => p.quiesceReused).length,
  scanReused: later.filter((p) => p.scanReused).length,
  restoreOneByOne: later.filter((p) => p.restoreOneByOne).length,
  ranges: first.ranges,
  madviseCalls: m('calls'),
  parentFaults: m('faults'),
  beyondForkSyscallMs: beyond(later),
  overheadBeyondForkSyscall: beyond(later) / forkMs,
  preempted: later.length - calm.length,
  cpu: {
    forkCallMs: m('cpu'),
    forkSyscallMs: m('syscallCpuMs'),
    beyondForkSyscallMs: beyondCpu(later),
    overheadBeyondForkSyscall: beyondCpu(later) / m('syscallCpuMs'),
  },
  notPreempted: calm.length ? { forks: calm.length, beyondForkSyscallMs: beyond(calm), overheadBeyondForkSyscall: beyond(calm) / median(calm.map((p) => p.syscallMs)) } : null,
  withSubscriber: {
    forks: watched.length,
    published: published.length,
    forkCallMs: median(watched.map((p) => p.wall)),
    forkSyscallMs: median(watched.map((p) => p.syscallMs)),
    beyondForkSyscallMs: beyond(watched),
    cpuBeyondForkSyscallMs: beyondCpu(watched),
    parentFaults: median(watched.map((p) => p.faults)),
  },
  perFork: later.map((p) => ({ forkCallMs: p.wall, forkSyscallMs: p.syscallMs, cpuMs: p.cpu, syscallCpuMs: p.syscallCpuMs, preempted: p.preempted })),
});
