import { ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { constants } from 'node:os';
import { isMainThread, type Worker } from 'node:worker_threads';
import * as inspector from 'node:inspector';
import {
  ForkFailedError,
  ForkUnsupportedError,
  InvalidArgumentError,
  NotAChildError,
  describe,
} from '../shared/errors.js';
import { channels, publish } from '../shared/diagnostics.js';
import { native, type ChildWatch } from '../seams/addon.js';
import { activeHandles, isSingleThreaded } from '../seams/node.js';
import { becomeChild } from './exit.js';
import { resolveKeep, type Keep } from './keep.js';
import { describeExtraThreads, threadCensus } from './threads.js';
import { assertSupported, currentPid, enterNewProcess, facts, forkGeneration, install, lastSweep } from './state.js';

export interface ForkOptions {
  /** Fork even where it is known to be unsafe (worker threads, inspector, no --single-threaded). */
  unsafe?: boolean;
  /**
   * Inherited sockets the child keeps. By default the child neutralises every connection it
   * inherits (a stream socket that is not listening), whichever library opened it, before any JS
   * runs: no byte or FIN is sent, the parent's sessions are untouched. List here the fds and socket
   * objects the app deliberately hands to its child, or pass 'all' to neutralise only the sockets
   * of guarded pools. The process's own IPC channel to its parent is always kept.
   */
  keep?: Keep;
}

export interface ForkHooks {
  /** In the parent, just before the fork. */
  before?(): void;
  /** In the parent, just after, with the child's pid. */
  parent?(pid: number): void;
  /** In every new process (fork() or a fork by other native code), before its loop first polls. */
  child?(): void;
}

export interface ExitStatus {
  /** Exit code, or null when a signal ended the child. */
  code: number | null;
  /** Signal name ('SIGKILL'), or null. */
  signal: string | null;
}

// Workers started after countWorkerThreads() (src/wiring.ts calls it) are counted; Node has no API
// that lists them all.
let liveWorkers = 0;
let countingWorkers = false;
export function countWorkerThreads(): void {
  if (countingWorkers) return;
  countingWorkers = true;
  process.on('worker', (worker: Worker) => {
    liveWorkers++;
    // Its loop shares the threadpool that the last fork() may still hold parked, and ours does not
    // count its requests (native/uv/threadpool.h).
    if (mayHoldThreadpool) native.releaseThreadpool();
    worker.once('exit', () => {
      liveWorkers--;
    });
  });
}

const hooks = new Set<ForkHooks>();
/** A new process's last step (src/wiring.ts): the onFork 'child' hooks, in registration order. */
export function runChildHooks(): void {
  for (const h of [...hooks]) callHook(h, 'child');
}

function callHook(h: ForkHooks, which: 'before' | 'parent' | 'child', pid?: number): void {
  const fn = h[which];
  if (!fn) return;
  try {
    if (which === 'parent') fn.call(h, pid as never);
    else (fn as () => void).call(h);
  } catch (err) {
    process.emitWarning(`pg-forkguard: an onFork '${which}' hook threw: ${(err as Error)?.stack ?? err}`, {
      code: 'FORKGUARD_HOOK_FAILED',
    });
  }
}

/**
 * Registers hooks that run around fork(): `before` in the parent, then `parent(pid)` there or
 * `child()` in the child. Hooks are synchronous; one that throws is reported with
 * process.emitWarning and does not stop the others. Returns a function that unsubscribes.
 */
export function onFork(h: ForkHooks): () => void {
  if (h === null || typeof h !== 'object') {
    throw new InvalidArgumentError(`onFork(hooks): hooks must be an object like { before, parent, child }, got ${describe(h)}.`);
  }
  for (const key of ['before', 'parent', 'child'] as const) {
    if (h[key] !== undefined && typeof h[key] !== 'function') {
      throw new InvalidArgumentError(`onFork(hooks): hooks.${key} must be a function, got ${describe(h[key])}.`);
    }
  }
  const known = new Set(['before', 'parent', 'child']);
  for (const key of Object.keys(h)) {
    if (!known.has(key)) throw new InvalidArgumentError(`onFork(hooks): unknown hook '${key}'; use before, parent or child.`);
  }
  const own = { ...h };
  hooks.add(own);
  return () => {
    hooks.delete(own);
  };
}

function procReadable(): boolean {
  try {
    accessSync('/proc/self/maps', fsConstants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Throws the ForkUnsupportedError that fork(options) would throw here, or returns: every refusal
 * fork() can make, checked without touching anything. prefork() runs it before it closes a server,
 * so that a refused prefork() leaves the app as it was.
 */
export function assertCanFork(options: ForkOptions = {}, caller = 'fork()'): void {
  const refuse = (reason: string, message: string): never => {
    const hint = caller === 'fork()' ? ' Pass { unsafe: true } to fork anyway.' : '';
    throw new ForkUnsupportedError(reason, `${caller} refused: ${message}${hint}`);
  };
  if (process.platform !== 'linux' && process.platform !== 'darwin') {
    throw new ForkUnsupportedError(
      'platform',
      `${caller} is not available on ${process.platform}: only Linux and macOS have fork(2). Use child_process.fork() instead.`,
    );
  }
  assertSupported(caller);
  const uv = facts!.uv;
  if (!uv.layoutKnown) {
    // Not even { unsafe: true }: fork() would read libuv's private fields at unknown offsets.
    throw new ForkUnsupportedError(
      'libuv',
      `${caller} refused: this Node runs libuv ${uv.runtime} (pg-forkguard was built against ${uv.headers}); ` +
        `pg-forkguard knows the private layout of libuv ${uv.known} only, and fork() must read it. ` +
        `Upgrade pg-forkguard, or use a Node whose libuv it knows (process.versions.uv).`,
    );
  }
  if (process.platform === 'linux' && !procReadable()) {
    // Not even { unsafe: true }: fork() must read /proc/self/maps to give the child V8's heap.
    throw new ForkUnsupportedError(
      'proc',
      `${caller} refused: /proc is not mounted or not readable here (/proc/self/maps), and fork() reads it ` +
        `to hand V8's heap to the child. Mount /proc in the process's namespace (a container's default).`,
    );
  }
  if (options.unsafe) return;
  if (!isMainThread) {
    refuse('worker-thread', 'called from a worker thread; only the main thread can carry on in the child.');
  }
  if (liveWorkers > 0) {
    refuse(
      'workers-alive',
      `${liveWorkers} worker thread(s) are running; the child would hold their locks with no thread ` +
        `to release them. Terminate them (worker.terminate()) before forking.`,
    );
  }
  if (inspector.url() !== undefined) {
    refuse('inspector', 'the inspector is active; its thread does not exist in the child. Call inspector.close() first.');
  }
  if (!isSingleThreaded()) {
    refuse(
      'not-single-threaded',
      'node was not started with --single-threaded. Without it V8 runs GC on helper threads the child ' +
        'does not have, and children hang in GC (about 1 fork in 5 measured). Start node with ' +
        '`node --single-threaded app.js` (it cannot go in NODE_OPTIONS).',
    );
  }
  const census = settledCensus();
  if (census && census.alive > census.known) refuse('threads', describeExtraThreads(census));
}

/**
 * The census, taken again for up to 50 ms while it counts more threads than Node's own: a thread
 * that is starting or ending (seen once under Node 22 on a loaded CI machine: one thread too many at
 * an app's first fork, none a moment later) is not one that runs beside the fork. A thread that stays
 * (an ESM hooks thread, an addon's) is still refused; the wait is paid only then.
 */
function settledCensus(): ReturnType<typeof threadCensus> {
  let census = threadCensus();
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < 10 && census && census.alive > census.known; i++) {
    Atomics.wait(sleeper, 0, 0, 5);
    census = threadCensus();
  }
  return census;
}

// ---------------------------------------------------------------------------------------------
// Children and waitpid.

// The one table of fork()'s children: the native side only holds each one's watch (child-watch.h).
interface Child {
  watch: ChildWatch;
  status?: ExitStatus;
  waiters: Array<(s: ExitStatus) => void>;
}
const children = new Map<number, Child>();

const signalNames = new Map<number, string>(Object.entries(constants.signals).map(([name, n]) => [n, name]));

// Made before the fork, entered in the table after it: in the parent, every page written after
// fork(2) is a copy-on-write fault while the child shares it (native/uv/fork.h), so fork() allocates
// nothing it can allocate before.
function newChild(): Child {
  const child = { waiters: [] } as unknown as Child;
  child.watch = native.childWatch((pid, code, signal) => {
    const status: ExitStatus = {
      code: code !== null && code >= 0 ? code : null,
      signal: signal === null ? null : (signalNames.get(signal) ?? `SIG${signal}`),
    };
    child.status = status;
    if (child.waiters.length > 0) {
      children.delete(pid);
      for (const w of child.waiters.splice(0)) w(status);
    }
  });
  return child;
}

/**
 * Resolves when `pid`, a child made by fork(), has exited, with its exit code or signal. Children are
 * reaped at SIGCHLD, through libuv's own signal handling (as child_process's are), by waitpid on
 * their pids only: child_process's own children are never touched. A pending waitpid keeps the loop
 * alive.
 */
export function waitpid(pid: number): Promise<ExitStatus> {
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0) {
    throw new InvalidArgumentError(`waitpid(pid): pid must be a positive integer returned by fork(), got ${describe(pid)}.`);
  }
  assertSupported('waitpid()');
  const child = children.get(pid);
  if (!child) throw new NotAChildError(pid);
  if (child.status) {
    children.delete(pid);
    return Promise.resolve(child.status);
  }
  child.watch.ref(true);
  return new Promise((resolve) => {
    child.waiters.push(resolve);
  });
}

/** A new process's first step (src/wiring.ts): the parent's children are not ours, forget them. */
export function forgetParentsChildren(): void {
  for (const child of children.values()) child.watch.close();
  children.clear();
  releaseInheritedSubprocesses();
}

/**
 * Nor are the parent's child_process children: only their parent can wait for them, so their
 * 'exit' never comes here and a ref'd one would keep this process alive for as long as it runs.
 * Their stdout/stderr pipes, read here too, would split the subprocess's output between the two
 * processes, and their IPC channel its messages. This process lets go of its copies: unref'd, stdio
 * destroyed, IPC no longer read. Closing a copy of a pipe sends nothing; the parent's is untouched.
 */
function releaseInheritedSubprocesses(): void {
  for (const sub of activeHandles()) {
    if (!(sub instanceof ChildProcess) || sub.exitCode !== null || sub.signalCode !== null) continue;
    sub.unref();
    for (const stream of sub.stdio) if (stream && !stream.destroyed) stream.destroy();
    const channel = (sub as { channel?: { readStop?(): void; unref?(): void } | null }).channel;
    channel?.readStop?.();
    channel?.unref?.();
  }
}

let warnedCondvars = false;

// fork()'s report (native/uv/fork.h): the addon writes it at each fork, JS reads what it needs.
const report = facts?.report ? new Float64Array(facts.report) : new Float64Array(0);

// Read once, at the first fork(). The child's becomeChild() sets an uncaught-exception capture
// callback, and Node's setter writes process.report, which loads the report module on first use: in
// every child, that was 130 page faults and 8-10 ms of a prefork worker's start (2 cores). Loaded
// before the first fork, the children inherit it. Reading it again costs 7 page faults.
let reportModuleLoaded = false;

/**
 * fork(2) for Node: returns 0 in the child and the child's pid in the parent. The child runs on
 * with the parent's state, its event loop re-armed, process.pid corrected and every tracked socket
 * neutralised. It ends through process.exit(), when its loop drains, or on an uncaught error.
 */
export function fork(options?: ForkOptions): number {
  return forkProcess(options, false);
}

/**
 * fork() for a prefork mold (src/prefork/mold.ts): the child is handed to the nearest child
 * subreaper, the master, and is not this process's child (native/core/adopt.h). Returns its pid, or
 * 0 in the child.
 */
export function forkForAdoption(options: ForkOptions): number {
  return forkProcess(options, true);
}

/** Watches `pid`, a child this process did not fork but was handed (a mold's, native/core/adopt.h):
 * from here waitpid(pid) works for it as for fork()'s own. */
export function adoptChild(pid: number): void {
  const child = newChild();
  // In the table first: adopt() reaps a child that has ended already, and its status goes there.
  children.set(pid, child);
  child.watch.adopt(pid);
}

function forkProcess(options: ForkOptions | undefined, forAdoption: boolean): number {
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw new InvalidArgumentError(`fork(options): options must be an object like { unsafe: true }, got ${describe(options)}.`);
  }
  if (options?.unsafe !== undefined && typeof options.unsafe !== 'boolean') {
    throw new InvalidArgumentError(`fork(options): options.unsafe must be a boolean, got ${describe(options.unsafe)}.`);
  }
  for (const key of Object.keys(options ?? {})) {
    if (key !== 'unsafe' && key !== 'keep') throw new InvalidArgumentError(`fork(options): unknown option '${key}'; known are unsafe, keep.`);
  }
  const keep = resolveKeep(options?.keep);
  assertCanFork(options ?? {});
  install();
  // A fork that happened behind our back must be settled before we fork again.
  enterNewProcess();
  if (hooks.size > 0) for (const h of [...hooks]) callHook(h, 'before');
  if (!reportModuleLoaded) {
    void process.report;
    reportModuleLoaded = true;
  }
  const parentPid = currentPid();
  const child = newChild();
  const slots = facts!.forkReport;
  // Asked now: after the fork even a getter's call writes pages (its frame, its feedback).
  const publishing = channels.fork.hasSubscribers;
  if (forAdoption) native.forkForAdoption(dnsRequestsInFlight(), null, keep);
  else native.fork(dnsRequestsInFlight(), child.watch, keep);
  // From here in the parent, while the child shares every page, each page written is a copy-on-write
  // fault (native/uv/fork.h): reads of the report, one table entry, functions called only when needed.
  const pid = report[slots.pid]!;
  if (pid === 0) {
    child.watch.close();
    becomeChild();
    // After a fork that ran the child handler, the new-process work runs now; after one that ran
    // none (the test build's, as foreign code's) the generation has not moved and this is a no-op.
    enterNewProcess();
    publish(channels.fork, () => ({ role: 'child', pid: currentPid(), parentPid, generation: forkGeneration(), sweep: lastSweep() }));
    return 0;
  }
  if (pid < 0) {
    child.watch.close();
    const errno = report[slots.errno]!;
    const what =
      errno === constants.errno.EAGAIN
        ? 'the process limit was reached (EAGAIN)'
        : errno === constants.errno.ENOMEM
          ? 'out of memory (ENOMEM)'
          : 'the system call failed';
    throw new ForkFailedError(errno, what);
  }
  // The watch is running (the addon started it): the child is in the table from here. A child
  // made for adoption is not ours: its watch goes.
  if (forAdoption) child.watch.close();
  else children.set(pid, child);
  if (report[slots.quiesced] === 0) {
    process.emitWarning(
      `pg-forkguard: fork() went ahead after ${facts!.limits.quiesceTimeoutMs} ms with threadpool work still running ` +
        `(a slow fs or dns call?). That work's libuv state is undefined in the child.`,
      { code: 'FORKGUARD_THREADPOOL_BUSY' },
    );
  }
  if (report[slots.condvars]! < 0 && !warnedCondvars) {
    warnedCondvars = true;
    process.emitWarning(
      `pg-forkguard: fork() could not read which condition variables other threads sleep on ` +
        `(/proc/self/task/*/syscall, errno ${-report[slots.condvars]!}), so it repairs none in its children. ` +
        `On glibc 2.25-2.40 a child may then hang in its first garbage collection; this happens where /proc is ` +
        `masked (gVisor, a restricted container). Make /proc/self/task readable to the process.`,
      { code: 'FORKGUARD_CONDVARS_UNCHECKED' },
    );
  }
  if (!mayHoldThreadpool) releaseThreadpoolAtExit();
  // Worker threads' loops share the threadpool, and ours does not count their requests.
  if (liveWorkers > 0) native.releaseThreadpool();
  if (publishing) publishParent(parentPid, pid);
  if (hooks.size > 0) for (const h of [...hooks]) callHook(h, 'parent', pid);
  return pid;
}

function reported(key: keyof NonNullable<typeof facts>['forkReport']): number {
  return report[facts!.forkReport[key]]!;
}

function publishParent(parentPid: number, pid: number): void {
  publish(channels.fork, () => ({
    role: 'parent',
    pid: parentPid,
    parentPid,
    childPid: pid,
    generation: forkGeneration(),
    timings: {
      quiesceMs: reported('quiesceNs') / 1e6,
      quiesceReused: reported('quiesceReused') !== 0,
      threadpoolSize: reported('threadpoolSize'),
      threadpoolSizeFrom: (['', 'names', 'nthreads', 'env'] as const)[reported('threadpoolSizeFrom')],
      scanMs: reported('scanNs') / 1e6,
      forkMs: reported('forkNs') / 1e6,
      syscallMs: reported('syscallNs') / 1e6,
      restoreMs: reported('restoreNs') / 1e6,
      ranges: reported('ranges'),
      calls: reported('calls'),
      scanReused: reported('scanReused') !== 0,
      restoreOneByOne: reported('restoreOneByOne') !== 0,
      condvars: reported('condvars'),
    },
  }));
}

// The parent keeps the threadpool parked while its loop needs no thread (native/uv/threadpool.h). Node's
// exit joins those threads: a process that exits while they are parked lets them go first.
let mayHoldThreadpool = false;
function releaseThreadpoolAtExit(): void {
  mayHoldThreadpool = true;
  process.prependListener('exit', () => native.releaseThreadpool());
}

// DNS lookups in flight: those still queued in libuv's threadpool never complete in the child.
// Only JS sees them (as ReqWraps); the addon subtracts the ones already complete.
function dnsRequestsInFlight(): number {
  let n = 0;
  for (const r of process.getActiveResourcesInfo()) {
    if (r === 'GetAddrInfoReqWrap' || r === 'GetNameInfoReqWrap') n++;
  }
  return n;
}
