import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import load from 'node-gyp-build';
import { NativeLoadError } from '../shared/errors.js';
import type { ForkReportSlot, Limit, ResultCode, StateSlot } from './addon-facts.js';

/** What init() hands over: every slot number, code and limit is defined once, in native/core/facts.h;
 * their names and types here come from it too (./addon-facts.ts, generated). */
export interface NativeFacts {
  rc: number;
  errno: number;
  state?: ArrayBuffer;
  canary?: ArrayBuffer;
  canarySupported?: boolean;
  codes: Record<ResultCode, number>;
  /** Slots of the state page, and the canary's token slot. */
  slots: Record<StateSlot | 'canaryToken', number>;
  limits: Record<Limit, number>;
  /** Slots of fork()'s report, and its length. */
  forkReport: Record<ForkReportSlot | 'length', number>;
  /** fork()'s report, forkReport.length doubles. */
  report?: ArrayBuffer;
  /** The libuv this addon was built against and the one it runs on (native/uv/uv-private.h). */
  uv: { runtime: string; headers: string; known: string; layoutKnown: boolean };
}

/** A fork() child's watch: made before the fork, started by it in the parent, reaped at SIGCHLD
 * (native/uv/child-watch.h). */
export interface ChildWatch {
  ref(on: boolean): void;
  /** Starts watching a child this process was handed rather than forked (native/core/adopt.h). */
  adopt(pid: number): void;
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
  neutraliseFd(fd: number): number;
  /** The inherited sockets this process's sweep neutralised (native/core/sweep.h). */
  sweptFds(): number[];
  /** On: refs the unref'd libuv handles on swept fds (returns how many handles have one); off: unrefs them (native/uv/swept-handles.h). */
  refSweptHandles(on: boolean): number;
  checkCanary(): boolean;
  checkPid(): boolean;
  dupFd(fd: number): number;
  /** Two connected unix stream sockets, close-on-exec, or -errno: prefork()'s per-worker control channel. */
  socketPair(): [number, number] | number;
  /** One datagram to systemd's notify socket (a path or "@abstract"): 0 or -errno (systemd.ts). */
  sdNotify(address: string, message: string): number;
  /** Sets FD_CLOEXEC on a socket systemd passed: 0 or -errno. */
  setCloseOnExec(fd: number): number;
  /** Closing the listening unix socket over fd will not unlink its path: 1 had a path, 0 none, -1 no such handle. */
  keepSocketPath(fd: number): number;
  startLoopHook(onGeneration: (gen: number, byPid: boolean) => void, onDrained: (phase: 'beforeExit' | 'exit') => void): void;
  setLoopPidCheck(on: boolean): void;
  watchExit(): void;
  exitNow(code: number): never;
  /** Forks: the pid and errno go to the report (facts.report), not back as a value; starts `watch` in the parent. */
  /** keep: the fds the child's sweep of inherited sockets leaves alone, or null for no sweep. */
  fork(dnsInFlight: number, watch: ChildWatch, keep: Int32Array | null): void;
  /** fork() whose child the nearest child subreaper adopts (native/core/adopt.h): a prefork mold's. */
  forkForAdoption(dnsInFlight: number, watch: null, keep: Int32Array | null): void;
  /** PR_SET_CHILD_SUBREAPER on or off: 0 or -errno. */
  childSubreaper(on: boolean): number;
  /** One fd over a unix stream socket (SCM_RIGHTS), never blocking: 0 or -errno. */
  sendFd(sock: number, fd: number): number;
  /** The fd waiting on a unix stream socket, close-on-exec, or -errno (-EAGAIN: none). */
  recvFd(sock: number): number;
  /** Reserves where V8's heap hints fall, so its next pages land together (native/core/heap-placement.h): bytes reserved, or -errno. */
  placeHeapTogether(): number;
  /** Lets go of the threadpool threads the last fork() keeps parked until the loop runs. */
  releaseThreadpool(): void;
  /** Gives heap placement's address-space reservation back; heapReserved(): the bytes held now. */
  releaseHeapReservation(): void;
  heapReserved(): number;
  /** How many of libuv's threadpool threads exist now, or -1 when that cannot be known. */
  threadpoolThreadsAlive(): number;
  childWatch(done: (pid: number, code: number | null, signal: number | null) => void): ChildWatch;
  /** Gives malloc's free pages back and takes its free chunks out of a worker's reach (native/core/malloc-settle.h): bytes taken, or -1 where the C library is not glibc. */
  settleMalloc(): number;
}

export const root = join(__dirname, '..', '..');

/** Loads the addon the way node-gyp-build does, but when nothing loads says what was tried. */
function loadBinding(): Binding {
  // Windows has no fork(2): nothing was compiled there, and nothing is loaded. install() returns
  // false and every fork-related call throws ForkUnsupportedError (runtime/state.ts, runtime/fork.ts).
  // Nothing outside the package chooses which file is loaded: no environment variable is read.
  if (process.platform === 'win32') return { supported: false } as Binding;
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
        `The package carries prebuilt binaries for linux-x64 and linux-arm64 (glibc); anywhere else the addon ` +
        `compiles at install, which needs python3, make and a C++ compiler, and an npm that runs pg-forkguard's ` +
        `install script (npm 12 runs none by default: \`npm install-scripts approve pg-forkguard\`). ` +
        `Then rebuild it with \`npm rebuild pg-forkguard\`.`,
      tried,
      cause,
    );
  }
}

export const native: Binding = loadBinding();
