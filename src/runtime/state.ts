import { randomUUID } from 'node:crypto';
import { isMainThread } from 'node:worker_threads';
import { ForkGuardError, ForkUnsupportedError } from '../shared/errors.js';
import { native, type NativeFacts } from '../seams/addon.js';

// The native state page (native/core/core.h): plain memory that the atfork child handler writes, read
// here with a load instead of a call. Its slot numbers, codes and limits come from init(): native/
// is their only owner. Where nothing was loaded (Windows), nothing can fork: generation 0.
export const facts: NativeFacts | undefined = native.supported ? native.init() : undefined;
// Slot numbers are read from init() once, into constants: the checkout check stays two loads.
const GENERATION = facts?.slots.generation ?? 0;
const PID = facts?.slots.pid ?? 0;
const ANNOUNCED = facts?.slots.announced ?? 0;
const TOKEN = facts?.slots.canaryToken ?? 0;
const state = facts?.state ? new Uint32Array(facts.state) : undefined;
// Where nothing wipes the canary, a copy that never reads as wiped stands in for it.
const canary = facts?.canary && facts.canarySupported ? new Uint32Array(facts.canary) : new Uint32Array(TOKEN + 1).fill(1);

/** How many forks separate this process from the one that loaded the package (0 there, 1 in a
 * child, 2 in a grandchild). Read from memory the child handler writes: no system call. */
export function forkGeneration(): number {
  return state ? state[GENERATION]! : 0;
}

/** The real pid, kept current by the child handler (process.pid is cached at startup). */
export function currentPid(): number {
  return state ? state[PID]! : process.pid;
}

/** The last sweep of inherited sockets in this process (native/core/sweep.h): how many it
 * neutralised, how many it could not, and how long it took. Zeros where none ran. */
export function lastSweep(): { swept: number; failed: number; micros: number } {
  if (!state || !facts) return { swept: 0, failed: 0, micros: 0 };
  const { swept, sweepFailed, sweepUs } = facts.slots;
  return { swept: state[swept]!, failed: state[sweepFailed]!, micros: state[sweepUs]! };
}

export function assertSupported(what: string): void {
  if (!native.supported) {
    throw new ForkUnsupportedError(
      'platform',
      `${what} is not available on ${process.platform}: it has no fork(2). pg-forkguard only guards ` +
        `processes on Linux and macOS; on ${process.platform} pools need no guard.`,
    );
  }
  if (!facts || facts.rc !== 0) {
    throw new ForkGuardError(
      'ERR_FORKGUARD_INIT',
      `pg-forkguard could not set up its shared state (native code ${facts?.rc}, errno ${facts?.errno}). ` +
        `This means mmap or socketpair failed: check the process's memory and fd limits (ulimit -n).`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// What runs once per new process, before its loop first polls.

/** One step of a new process's work, with what it is called in a warning if it throws. */
export interface NewProcessStep {
  what: string;
  run(generation: number): void;
}

/** What the runtime calls out to, handed over once by src/wiring.ts (the one place that decides the
 * order of the steps, whichever entry point loaded the package). */
export interface RuntimeWiring {
  /** Run in this order in every new process: the runtime's own, the reset list, onFork hooks. */
  newProcess: readonly NewProcessStep[];
  /** A fork() child's loop drained ('beforeExit', then 'exit'): runtime/exit.ts. */
  drained(phase: 'beforeExit' | 'exit'): void;
}

let wiring: RuntimeWiring | undefined;
/** Starts the runtime with what it calls out to: once, from src/wiring.ts. Nothing is armed here
 * (install() does that, at the first guard() or fork()). */
export function startRuntime(w: RuntimeWiring): void {
  wiring ??= w;
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

function runSteps(generation: number): void {
  for (const step of wiring?.newProcess ?? []) {
    try {
      step.run(generation);
    } catch (err) {
      // One failing step must not stop the others, nor the child.
      process.emitWarning(`pg-forkguard: a ${step.what} threw in the child: ${(err as Error)?.stack ?? err}`, {
        code: 'FORKGUARD_HOOK_FAILED',
      });
    }
  }
}

/** Runs the new-process work if the generation moved since it was last announced (the state
 * page's `announced` slot, which the loop hook reads too: one record of it). True if it ran now. */
export function enterNewProcess(): boolean {
  if (!state) return false;
  const generation = state[GENERATION]!;
  if (generation === state[ANNOUNCED]) return false;
  state[ANNOUNCED] = generation;
  fixPid();
  refreshUuidCache();
  runSteps(generation);
  return true;
}

/** The checkout check: two loads. Also catches forks that ran no atfork handler (the canary). */
export function forkedSinceLastCheck(): boolean {
  if (!state) return false;
  if (canary[TOKEN] === 0) native.checkCanary();
  return state[GENERATION] !== state[ANNOUNCED] && enterNewProcess();
}

/**
 * The debug-mode check ("pid check"): the canary, then a real getpid(). The getpid() catches a fork
 * that ran no atfork handler where the kernel has no MADV_WIPEONFORK; it costs a call (~250 ns).
 */
export function forkedSinceLastPidCheck(): boolean {
  if (!state) return false;
  if (canary[TOKEN] === 0) native.checkCanary();
  if (native.checkPid()) warnUnseenFork();
  return state[GENERATION] !== state[ANNOUNCED] && enterNewProcess();
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

let loopHookStarted = false;

/** Arms the pthread_atfork handler once. True only for the call that armed it. */
export function install(): boolean {
  if (!native.supported) return false; // nothing can fork here, so nothing to guard
  assertSupported('install()');
  const armed = native.install() === 1;
  if (!loopHookStarted && isMainThread) {
    native.startLoopHook(
      (_generation, byPid) => {
        if (byPid) warnUnseenFork();
        enterNewProcess();
      },
      (phase) => wiring?.drained(phase),
    );
    loopHookStarted = true;
  }
  return armed;
}

export function isInstalled(): boolean {
  return native.supported && native.isInstalled();
}
