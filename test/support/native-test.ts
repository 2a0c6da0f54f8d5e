// The test build's extra exports (native/test-exports.cc), for tests only: nothing here ships.
// npm test loads the test build of the addon in place of the shipped one (PG_FORKGUARD_ADDON, set
// by test/harness/global-setup.mjs), so these act on the very state the package uses.
import { forkVia, reported, type ForkOptions } from '../../dist/runtime/fork.js';
import { native, type Binding, type ChildWatch } from '../../dist/seams/addon.js';

interface TestBinding extends Binding {
  testBuild?: true;
  rawFork(dnsInFlight: number, watch: ChildWatch): void;
  setTestFlags(suppressHandler: boolean, ignoreCanary: boolean): void;
  setRegistryLimit(limit: number): void;
  loopInfo(): { activeHandles: number; activeReqs: number; stuckReqs: number; watchExit: boolean; probePending: boolean; threadpoolHeld: boolean };
}

/** Where the test build is, for PG_FORKGUARD_ADDON. */
export const testAddonPath = require.resolve('../../build/Release/pg_forkguard_test.node-test');

function testBinding(): TestBinding {
  const t = native as TestBinding;
  if (!t.testBuild) {
    throw new Error(
      `the test build of the addon is not loaded: set PG_FORKGUARD_ADDON=${testAddonPath} ` +
        `(npm test does; npm run build:native builds it).`,
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
  const t = testBinding();
  if (how.via === 'glibc') {
    return forkVia(
      options,
      (dns, watch) => {
        t.setTestFlags(true, how.canary === false);
        t.fork(dns, watch);
        if (reported('pid') !== 0) t.setTestFlags(false, false);
      },
      false,
    );
  }
  return forkVia(options, t.rawFork, false);
}

/** A registry that holds at most `limit` sockets (0: back to the real capacity). */
export function setRegistryLimit(limit: number): void {
  testBinding().setRegistryLimit(limit);
}

/** What keeps this process's loop alive, as libuv counts it. */
export function loopInfo(): ReturnType<TestBinding['loopInfo']> {
  return testBinding().loopInfo();
}
