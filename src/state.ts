import { randomUUID } from 'node:crypto';
import { isMainThread } from 'node:worker_threads';
import { ForkGuardError, ForkUnsupportedError } from './errors.js';
import { native } from './native.js';

// Slots of the native state page (native/core.h): plain memory that the atfork child handler
// writes, read here with a load instead of a call.
const GENERATION = 0;
const PID = 1;
const NEUTRALISED = 2;
const FAILED = 3;
const TRACKED = 4;

const init = native.supported ? native.init() : undefined;
const state = init?.state ? new Uint32Array(init.state) : new Uint32Array(16);
const canary = init?.canary ? new Uint32Array(init.canary) : new Uint32Array(16).fill(1);
if (!init?.canarySupported) canary[0] = 1; // nothing wipes it: never reads as a fork

export const canarySupported = init?.canarySupported === true;
export const registryCapacity = init?.capacity ?? 0;
export const fdLimit = init?.fdLimit ?? 0;

/** How many forks separate this process from the one that loaded the package (0 there, 1 in a
 * child, 2 in a grandchild). Read from memory the child handler writes: no system call. */
export function forkGeneration(): number {
  return state[GENERATION]!;
}

/** The real pid, kept current by the child handler (process.pid is cached at startup). */
export function currentPid(): number {
  return state[PID]!;
}

export function nativeCounters(): { neutralised: number; failed: number; tracked: number } {
  return { neutralised: state[NEUTRALISED]!, failed: state[FAILED]!, tracked: state[TRACKED]! };
}

export function assertSupported(what: string): void {
  if (!native.supported) {
    throw new ForkUnsupportedError(
      'platform',
      `${what} is not available on ${process.platform}: it has no fork(2). pg-forkguard only guards ` +
        `processes on Linux and macOS; on ${process.platform} pools need no guard.`,
    );
  }
  if (!init || init.rc !== 0) {
    throw new ForkGuardError(
      'ERR_FORKGUARD_INIT',
      `pg-forkguard could not set up its shared state (native code ${init?.rc}, errno ${init?.errno}). ` +
        `This means mmap or socketpair failed: check the process's memory and fd limits (ulimit -n).`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// What runs once per new process, before its loop first polls.

type Listener = (generation: number) => void;
const resetListeners = new Set<Listener>(); // pools (run first: they own inherited sockets)
const childListeners = new Set<Listener>(); // onFork({ child }) hooks
let handledGeneration = init?.state ? state[GENERATION]! : 0;

export function onNewProcess(kind: 'reset' | 'child', listener: Listener): () => void {
  const set = kind === 'reset' ? resetListeners : childListeners;
  set.add(listener);
  return () => {
    set.delete(listener);
  };
}

function fixPid(): void {
  // process.pid is a cached value; it cannot be assigned, but it can be redefined.
  Object.defineProperty(process, 'pid', {
    value: currentPid(),
    configurable: true,
    enumerable: true,
    writable: false,
  });
}

// crypto.randomUUID() (and globalThis.crypto.randomUUID()) hands out UUIDs from a buffer of random
// bytes that it refills every 128 UUIDs (kBatchSize in Node's lib/internal/crypto/random.js, 128 in
// Node 20 to 26). A new process inherits the parent's buffer and position, so both would hand out
// the same next UUIDs: duplicate primary keys. 128 calls cross the refill point exactly once, so
// every later UUID here comes from fresh bytes (OpenSSL reseeds itself in a new pid). ~0.1 ms,
// once per new process (median of 50 here: 93 µs).
const UUID_BATCH = 128;
function refreshUuidCache(): void {
  for (let i = 0; i < UUID_BATCH; i++) randomUUID();
}

function runAll(set: Set<Listener>, generation: number, what: string): void {
  for (const listener of [...set]) {
    try {
      listener(generation);
    } catch (err) {
      // One failing listener must not stop the others, nor the child.
      process.emitWarning(`pg-forkguard: a ${what} threw in the child: ${(err as Error)?.stack ?? err}`, {
        code: 'FORKGUARD_HOOK_FAILED',
      });
    }
  }
}

/** Runs the new-process work if the generation moved since it last ran. True if it ran now. */
export function enterNewProcess(): boolean {
  const generation = state[GENERATION]!;
  if (generation === handledGeneration) return false;
  handledGeneration = generation;
  native.markNotified();
  fixPid();
  refreshUuidCache();
  runAll(resetListeners, generation, 'pool reset');
  runAll(childListeners, generation, "onFork 'child' hook");
  return true;
}

/** The checkout check: two loads. Also catches forks that ran no atfork handler (the canary). */
export function forkedSinceLastCheck(): boolean {
  if (canary[0] === 0) native.checkCanary();
  return state[GENERATION] !== handledGeneration && enterNewProcess();
}

/**
 * The debug-mode check ("pid check"): the canary, then a real getpid(). The getpid() catches a fork
 * that ran no atfork handler where the kernel has no MADV_WIPEONFORK; it costs a call (~250 ns).
 */
export function forkedSinceLastPidCheck(): boolean {
  if (canary[0] === 0) native.checkCanary();
  if (native.checkPid()) warnUnseenFork();
  return state[GENERATION] !== handledGeneration && enterNewProcess();
}

function warnUnseenFork(): void {
  process.emitWarning(
    `pg-forkguard: process ${currentPid()} was forked without running pg-forkguard's fork handler and ` +
      `without wiping its canary page; only debug mode's getpid() check saw it. Its inherited sockets ` +
      `were neutralised just now.`,
    { code: 'FORKGUARD_UNSEEN_FORK' },
  );
}

let loopPidCheck = false;
/** Debug mode: also check the pid before every poll of the event loop (a getpid() each), so that a
 * fork nobody saw is caught before the child reads from the parent's sockets. */
export function enableLoopPidCheck(): void {
  if (loopPidCheck || !native.supported) return;
  loopPidCheck = true;
  install();
  native.setLoopPidCheck(true);
}

let drainedHandler: ((phase: 'beforeExit' | 'exit') => void) | undefined;
export function setDrainedHandler(fn: (phase: 'beforeExit' | 'exit') => void): void {
  drainedHandler = fn;
}

let hookStarted = false;

/** Arms the pthread_atfork handler once. True only for the call that armed it. */
export function install(): boolean {
  if (!native.supported) return false; // nothing can fork here, so nothing to guard
  assertSupported('install()');
  const armed = native.install() === 1;
  if (!hookStarted && isMainThread) {
    native.startHook(
      (_generation, byPid) => {
        if (byPid) warnUnseenFork();
        enterNewProcess();
      },
      (phase) => drainedHandler?.(phase),
    );
    hookStarted = true;
  }
  return armed;
}

export function isInstalled(): boolean {
  return native.supported && native.isInstalled();
}
