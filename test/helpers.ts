import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, inject } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    pg: { source: string; tcpUrl: string; tlsUrl: string | null; unixUrl: string | null; restartArgv: string[] | null };
    /** PgBouncer in front of it, per pooling mode. */
    pgbouncer: Record<'session' | 'transaction', { tcpUrl: string; tlsUrl: string }>;
    /** The other servers an app talks to (test/clients.test.ts). */
    servers: { redisUrl: string; mysqlUrl: string };
  }
}

export interface FixtureRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** Every `<name>.json` a process of the fixture reported. */
  results: Record<string, any>;
}

// test/arm64.test.ts runs suites with every fixture under another Node: FG_FIXTURE_NODE is its
// command (JSON: qemu-user and Node's arm64 build), FG_FIXTURE_ROOT a copy of the package whose
// addon is that platform's prebuild. The test build's preload (NODE_OPTIONS) is the host's: not there.
const fixtureNode: string[] = process.env.FG_FIXTURE_NODE ? JSON.parse(process.env.FG_FIXTURE_NODE) : [process.execPath];
export const fixtureDir = join(process.env.FG_FIXTURE_ROOT ?? join(__dirname, '..'), 'test', 'fixtures');

/**
 * Runs `node --single-threaded test/fixtures/<file>` (the vitest worker itself never forks) and
 * collects what its processes reported. A hard deadline kills the fixture's whole process group.
 */
export function runFixture(
  file: string,
  opts: {
    args?: string[];
    env?: Record<string, string>;
    timeoutMs?: number;
    nodeArgs?: string[];
    /** Raise RLIMIT_NOFILE for the fixture (through bash's ulimit). */
    ulimit?: number;
    /** Limit the fixture's address space, RLIMIT_AS, in KiB (bash's ulimit -v). */
    addressSpaceKb?: number;
    /** Run the fixture in a mount namespace of its own (unshare, as root), after these mounts. */
    mounts?: string[];
  } = {},
): Promise<FixtureRun> {
  const dir = mkdtempSync(join(tmpdir(), 'fg-fixture-'));
  const pg = inject('pg');
  const nodeArgs = opts.nodeArgs ?? ['--single-threaded'];
  return new Promise((resolve, reject) => {
    const argv = [...fixtureNode, ...nodeArgs, join(fixtureDir, file), ...(opts.args ?? [])];
    const steps = [
      opts.ulimit && `ulimit -n ${opts.ulimit}`,
      opts.addressSpaceKb && `ulimit -v ${opts.addressSpaceKb}`,
      ...(opts.mounts ?? []).map((m) => `mount ${m}`),
    ].filter(Boolean);
    const shell = ['bash', '-c', `${[...steps, 'exec "$@"'].join(' && ')}`, 'fixture', ...argv];
    const [cmd, ...rest] = opts.mounts ? ['unshare', '--mount', '--propagation', 'private', '--', ...shell] : steps.length ? shell : argv;
    const child = spawn(cmd!, rest, {
      env: {
        ...process.env,
        FG_RESULT_DIR: dir,
        PG_TCP_URL: pg.tcpUrl,
        PG_TLS_URL: pg.tlsUrl ?? '',
        PG_UNIX_URL: pg.unixUrl ?? '',
        PG_RESTART_ARGV: pg.restartArgv ? JSON.stringify(pg.restartArgv) : '',
        ...(process.env.FG_FIXTURE_NODE ? { NODE_OPTIONS: '' } : {}),
        ...opts.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {}
    }, opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      // Children of the fixture may outlive it: never leave them behind.
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {}
      const results: Record<string, any> = {};
      for (const f of readdirSync(dir)) {
        if (!f.endsWith('.json')) continue;
        try {
          results[f.slice(0, -5)] = JSON.parse(readFileSync(join(dir, f), 'utf8'));
        } catch (err) {
          results[f.slice(0, -5)] = { unreadable: String(err) };
        }
      }
      rmSync(dir, { recursive: true, force: true });
      resolve({ code, signal, stdout, stderr, timedOut, results });
    });
  });
}

/** One fork scenario, test/fixtures/<name>.mjs over scenario.mjs, in `mode` over TCP. */
export function scenario(name: string, mode = 'guarded', env: Record<string, string> = {}): Promise<FixtureRun> {
  return runFixture(`${name}.mjs`, { args: [mode, 'tcp'], env, timeoutMs: 120_000 });
}

/** The fixture ran to its end by itself (no deadline kill) and exited 0. */
export function ok(run: FixtureRun): void {
  expect(run.timedOut, run.stderr).toBe(false);
  expect(run.code, run.stderr).toBe(0);
}

/** A fixture parent's report of its fork child: it ended by itself, with code 0. */
export function childExitedCleanly(parent: any): void {
  expect(parent.child.hung, JSON.stringify(parent.child.where)).toBe(false);
  expect(parent.child.status).toEqual({ code: 0, signal: null });
}

/**
 * native/core/<name>.c on its own: compiled with its driver test/native/<name>.c into a plain C program
 * (no Node), with the warnings the addon builds with, and under ASan when test:asan runs.
 */
export function buildCProgram(name: string, libs: string[] = []): { program: string; remove(): void } {
  const root = join(__dirname, '..');
  const dir = mkdtempSync(join(tmpdir(), `fg-${name}-`));
  const program = join(dir, name);
  const sanitize = process.env.PG_FORKGUARD_SANITIZE === 'address' ? ['-fsanitize=address', '-fno-omit-frame-pointer'] : [];
  execFileSync(
    process.env.CC ?? 'cc',
    ['-g', '-Wall', '-Wextra', '-Werror', ...sanitize, '-o', program, join(root, 'test/native', `${name}.c`), join(root, 'native', 'core', `${name}.c`), ...libs],
    { stdio: 'pipe' },
  );
  return { program, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
