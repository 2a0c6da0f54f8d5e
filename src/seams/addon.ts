import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import load from 'node-gyp-build';
import { NativeLoadError } from '../shared/errors.js';

/** Slots of fork()'s report (native/fork.h): written by the addon at each fork, in the parent after
 * fork(2), into memory JS reads through facts.report. */
export interface ForkReportSlots {
  /** The child's pid, 0 in the child, -1 on failure. */
  pid: number;
  errno: number;
  quiesceNs: number;
  scanNs: number;
  forkNs: number;
  /** fork(2) alone (forkNs also covers the condvar scan and taking libuv's wq_mutex). */
  syscallNs: number;
  /** fork(2)'s CPU time, this thread's: without the time a child running on this CPU took. */
  syscallCpuNs: number;
  restoreNs: number;
  ranges: number;
  calls: number;
  adviseFailures: number;
  lostReqs: number;
  /** Condvars other threads slept on at the fork, re-initialised in the child (glibc 2.25-2.40). */
  condvars: number;
  quiesced: number;
  /** The threadpool was still parked from the last fork(): the loop had no request for it since (native/threadpool.h). */
  quiesceReused: number;
  /** The flags came from the last /proc/self/smaps scan, not from reading smaps now (native/dontfork.h). */
  scanReused: number;
  /** Memory was mapped or unmapped during the fork: the marks went back mapping by mapping. */
  restoreOneByOne: number;
  length: number;
}

/** What init() hands over: every slot number, code and limit is defined once, in native/. */
export interface NativeFacts {
  rc: number;
  errno: number;
  state?: ArrayBuffer;
  canary?: ArrayBuffer;
  canarySupported?: boolean;
  /** Results of trackFd and friends (native/core.h). */
  codes: { ok: number; badFd: number; notSocket: number; full: number; range: number; notTracked: number; noDeadSocket: number; noCanary: number };
  /** Slots of the state page (and the canary's token slot). */
  slots: { generation: number; pid: number; neutralised: number; failed: number; tracked: number; announced: number; canaryToken: number };
  limits: { registryCapacity: number; fdIndexLimit: number; quiesceTimeoutMs: number };
  forkReport: ForkReportSlots;
  /** fork()'s report, forkReport.length doubles. */
  report?: ArrayBuffer;
  /** The libuv this addon was built against and the one it runs on (native/uv-private.h). */
  uv: { runtime: string; headers: string; known: string; layoutKnown: boolean };
}

/** A fork() child's watch: made before the fork, started by it in the parent, reaped at SIGCHLD
 * (native/child-watch.h). */
export interface ChildWatch {
  ref(on: boolean): void;
  close(): void;
}

export interface Binding {
  supported: boolean;
  init(): NativeFacts;
  install(): number;
  isInstalled(): boolean;
  trackFd(fd: number): number;
  untrackFd(fd: number): boolean;
  isTracked(fd: number): boolean;
  severFd(fd: number): number;
  checkCanary(): boolean;
  checkPid(): boolean;
  getpid(): number;
  dupFd(fd: number): number;
  startHook(onGeneration: (gen: number, byPid: boolean) => void, onDrained: (phase: 'beforeExit' | 'exit') => void): void;
  setLoopPidCheck(on: boolean): void;
  watchExit(): void;
  exitNow(code: number): never;
  /** Forks: the pid and errno go to the report (facts.report), not back as a value; starts `watch` in the parent. */
  fork(dnsInFlight: number, watch: ChildWatch): void;
  /** Reserves where V8's heap hints fall, so its next pages land together (native/heap-placement.h): bytes reserved, or -errno. */
  placeHeapTogether(): number;
  /** Lets go of the threadpool threads the last fork() keeps parked until the loop runs. */
  releaseThreadpool(): void;
  childWatch(done: (pid: number, code: number | null, signal: number | null) => void): ChildWatch;
}

export const root = join(__dirname, '..', '..');

/** Loads the addon the way node-gyp-build does, but when nothing loads says what was tried. */
function loadBinding(): Binding {
  // Windows has no fork(2): nothing was compiled there, and nothing is loaded. install() returns
  // false and every fork-related call throws ForkUnsupportedError (state.ts, fork.ts).
  if (process.platform === 'win32') return { supported: false } as Binding;
  // Another build of the same sources, by path: the test build (test/support), a sanitizer build.
  // Loaded with dlopen because its name does not end in .node (so node-gyp-build never picks it).
  const override = process.env.PG_FORKGUARD_ADDON;
  if (override) {
    const mod = { exports: {} as Binding };
    try {
      process.dlopen(mod, override);
    } catch (cause) {
      throw new NativeLoadError(
        `pg-forkguard: PG_FORKGUARD_ADDON=${override} does not load: ${(cause as Error).message}. Unset it to ` +
          `use the package's own addon.`,
        [{ path: override, error: (cause as Error).message }],
        cause,
      );
    }
    return mod.exports;
  }
  try {
    return load(root) as Binding;
  } catch (cause) {
    const tried: Array<{ path: string; error: string }> = [];
    const candidates = [
      join(root, 'build', 'Release', 'pg_forkguard.node'),
      join(root, 'build', 'Debug', 'pg_forkguard.node'),
    ];
    const prebuilds = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
    if (existsSync(prebuilds)) {
      for (const f of readdirSync(prebuilds)) if (f.endsWith('.node')) candidates.push(join(prebuilds, f));
    } else {
      candidates.push(join(prebuilds, '*.node'));
    }
    for (const path of candidates) {
      if (!existsSync(path)) {
        tried.push({ path, error: 'not found' });
        continue;
      }
      try {
        require(path);
        tried.push({ path, error: 'loads when required directly; node-gyp-build rejected it (ABI or libc tags)' });
      } catch (err) {
        tried.push({ path, error: (err as Error).message.split('\n')[0] ?? String(err) });
      }
    }
    const list = tried.map((t) => `  - ${t.path}: ${t.error}`).join('\n');
    throw new NativeLoadError(
      `pg-forkguard: no native addon loads for ${process.platform}-${process.arch}, node ` +
        `${process.version}. Tried:\n${list}\nnode-gyp-build said: ${(cause as Error).message}\n` +
        `Rebuild it with \`npm rebuild pg-forkguard\` (needs python3, make and a C++ compiler).`,
      tried,
      cause,
    );
  }
}

export const native: Binding = loadBinding();
