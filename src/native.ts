import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import load from 'node-gyp-build';
import { NativeLoadError } from './errors.js';

export interface ForkResult {
  pid: number;
  errno: number;
  scanNs: number;
  forkNs: number;
  restoreNs: number;
  ranges: number;
  adviseFailures: number;
  quiesceNs: number;
  quiesced: boolean;
  lostReqs?: number;
  /** Condvars other threads slept on at the fork, re-initialised in the child (glibc 2.25-2.40). */
  condvars: number;
}

export interface Binding {
  supported: boolean;
  init(): {
    rc: number;
    errno: number;
    state?: ArrayBuffer;
    canary?: ArrayBuffer;
    canarySupported?: boolean;
    capacity?: number;
    fdLimit?: number;
  };
  install(): number;
  isInstalled(): boolean;
  trackFd(fd: number): number;
  untrackFd(fd: number): boolean;
  isTracked(fd: number): boolean;
  severFd(fd: number): number;
  checkCanary(): boolean;
  setRegistryLimitForTest(limit: number): void;
  checkPid(): boolean;
  setTestFlags(suppressHandler: boolean, ignoreCanary: boolean): void;
  getpid(): number;
  startHook(onGeneration: (gen: number, byPid: boolean) => void, onDrained: (phase: 'beforeExit' | 'exit') => void): void;
  setLoopPidCheck(on: boolean): void;
  markNotified(): void;
  watchExit(): void;
  exitNow(code: number): never;
  fork(quiesceTimeoutMs: number, dnsInFlight: number): ForkResult;
  rawForkForTest(quiesceTimeoutMs: number, dnsInFlight: number): ForkResult;
  prepareFork(): boolean;
  loopInfo(): { activeHandles: number; activeReqs: number; stuckReqs: number; watchExit: boolean };
  watchChild(pid: number, done: (code: number | null, signal: number | null) => void): boolean;
  refChild(pid: number, ref: boolean): boolean;
  forgetChildren(): number;
}

export const root = join(__dirname, '..');

/** Loads the addon the way node-gyp-build does, but when nothing loads says what was tried. */
function loadBinding(): Binding {
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
