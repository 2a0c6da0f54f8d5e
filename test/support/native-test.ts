// The test build's extra exports (native/test-exports.cc), for tests only: nothing here ships.
// npm test loads the test build of the addon in place of the shipped one (test/support/test-addon.cjs,
// preloaded in every process of the run), so these act on the very state the package uses.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fork, type ForkOptions } from '../../dist/runtime/fork.js';
import { native, type Binding } from '../../dist/seams/addon.js';
import { facts } from '../../dist/runtime/state.js';
import type { ForkReportSlot } from '../../dist/seams/addon-facts.js';

interface TestBinding extends Binding {
  testBuild?: true;
  getpid(): number;
  setNextFork(via: 'syscall' | 'glibc', ignoreCanary: boolean): void;
  uvContract(done: (results: Record<string, boolean | string>) => void, socketPath: string): void;
  setTestFlags(suppressHandler: boolean, ignoreCanary: boolean): void;
  setRegistryLimit(limit: number): void;
  startNativeThread(name: string): number;
  loopInfo(): { activeHandles: number; activeReqs: number; stuckReqs: number; watchExit: boolean; probePending: boolean; threadpoolHeld: boolean };
}

/** Where the test build is. */
export const testAddonPath = require.resolve('../../build/Release/pg_forkguard_test.node-test');

function testBinding(): TestBinding {
  const t = native as TestBinding;
  if (!t.testBuild) {
    throw new Error(
      `the test build of the addon is not loaded: run with NODE_OPTIONS="--require ${__dirname}/test-addon.cjs" ` +
        `(npm test does; npm run build:native builds ${testAddonPath}).`,
    );
  }
  return t;
}

/** How a test fork bypasses the guard: the raw syscall (no atfork handler at all, so libuv's
 * threadpool is gone in the child too), or glibc's fork with only pg-forkguard's handler silenced;
 * `canary: false` also hides the fork from the canary (as where MADV_WIPEONFORK is missing). */
export interface RawForkHow {
  via?: 'syscall' | 'glibc';
  canary?: boolean;
}

/** fork() as foreign native code would make it: the child is left to the loop hook and the canary. */
export function rawForkForTest(options?: ForkOptions, how: RawForkHow = {}): number {
  testBinding().setNextFork(how.via ?? 'syscall', how.canary === false);
  return fork(options);
}

/** A value of the last fork()'s report in this process (native/core/facts.h, FG_REPORT_LIST). */
export function reported(key: ForkReportSlot): number {
  return new Float64Array(facts!.report!)[facts!.forkReport[key]]!;
}

/** The registry's counters on the state page: fds neutralised and failed in this process's child
 * handler, fds tracked now. */
export function nativeCounters(): { neutralised: number; failed: number; tracked: number } {
  const state = new Uint32Array(facts!.state!);
  return { neutralised: state[facts!.slots.neutralised]!, failed: state[facts!.slots.failed]!, tracked: state[facts!.slots.tracked]! };
}

/** The real pid, by a system call (for the cost of a call against the state page's load). */
export function getpidCall(): number {
  return testBinding().getpid();
}

/** A registry that holds at most `limit` sockets (0: back to the real capacity). */
export function setRegistryLimit(limit: number): void {
  testBinding().setRegistryLimit(limit);
}

/** Starts a thread as a native addon would, unknown to Node; it sleeps for good. 0 or an errno. */
export function startNativeThread(name: string): number {
  return testBinding().startNativeThread(name);
}

/** What keeps this process's loop alive, as libuv counts it. */
export function loopInfo(): ReturnType<TestBinding['loopInfo']> {
  return testBinding().loopInfo();
}

/** Every accessor of native/uv/uv-private.h run on this process's live loop (test/uv-seam.test.ts). */
export function uvContract(): Promise<Record<string, boolean | string>> {
  const socketPath = join(tmpdir(), `fg-uv-contract-${process.pid}.sock`);
  return new Promise((resolve) => testBinding().uvContract(resolve, socketPath));
}
