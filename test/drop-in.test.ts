// A guarded pg is pg: in a process that never forks, guarding changes nothing a user or a library
// can observe. Every fixture runs the same code plain (pg-forkguard not loaded), under the hook
// (-r pg-forkguard/register) and with guard() on every pool and client, and the answers must match.
import { cpSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { type FixtureRun, ok, runFixture } from './helpers.js';

const root = join(__dirname, '..');
type Mode = 'plain' | 'hook' | 'guard';

function inMode(file: string, mode: Mode, opts: { env?: Record<string, string>; nodeArgs?: string[] } = {}): Promise<FixtureRun> {
  const nodeArgs = [...(opts.nodeArgs ?? ['--single-threaded']), ...(mode === 'hook' ? ['-r', 'pg-forkguard/register'] : [])];
  return runFixture(`drop-in/${file}`, { nodeArgs, env: { FG_MODE: mode, ...opts.env } });
}

/** The fixture's report in each mode (each run checked to have ended cleanly). */
async function inModes(file: string, modes: Mode[] = ['plain', 'hook', 'guard'], opts?: Parameters<typeof inMode>[2]) {
  const out: Partial<Record<Mode, any>> = {};
  for (const mode of modes) {
    const run = await inMode(file, mode, opts);
    ok(run);
    expect(run.results.result?.threw, run.stderr).toBeUndefined();
    out[mode] = run.results.result;
  }
  return out as Record<Mode, any>;
}

function without(o: any, ...keys: string[]): any {
  const copy = { ...o };
  for (const k of keys) delete copy[k];
  return copy;
}

describe('a guarded pg is pg', () => {
  it('same classes and prototypes: pool clients are pg.Client instances, nothing enumerable added', async () => {
    const r = await inModes('identity.cjs');
    expect(r.plain.pooledIsPgClient).toBe(true);
    expect(r.plain.poolProto).toBe(true);
    expect(without(r.hook, 'guarded')).toEqual(r.plain);
    expect(without(r.guard, 'guarded')).toEqual(r.plain);
    // ...and both really are guarded (the comparison would hold trivially otherwise).
    expect(r.hook.guarded).toEqual([true, true]);
    expect(r.guard.guarded).toEqual([true, true]);
  });

  it('prototype patches made before and after guarding see every call', async () => {
    const r = await inModes('patches.cjs');
    expect(r.plain).toEqual({ queryBefore: 4, queryAfter: 3, poolConnectAfter: 2, clientConnectAfter: 1 });
    expect(r.hook).toEqual(r.plain);
    expect(r.guard).toEqual(r.plain);
  });

  it('OpenTelemetry pg instrumentation records the same spans', async () => {
    const r = await inModes('otel.cjs');
    expect(r.plain.spans.length).toBeGreaterThanOrEqual(8);
    expect(r.plain.spans.filter((s: string) => s.startsWith('pg.query'))).toHaveLength(4);
    expect(r.hook).toEqual(r.plain);
    expect(r.guard).toEqual(r.plain);
  });

  it("pg-pool's timeout errors come through as pg made them; guarded ones add err.forkguard", async () => {
    const r = await inModes('timeouts.cjs');
    expect(r.plain.queued).toEqual({ proto: true, message: 'timeout exceeded when trying to connect', own: [] });
    expect(r.plain.connecting.message).toBe('Connection terminated due to connection timeout');
    const detail = ['advice', 'busy', 'idle', 'max', 'pool', 'timeoutMs', 'waitedMs', 'waiting'];
    for (const mode of ['hook', 'guard'] as const) {
      for (const key of ['queued', 'viaQuery', 'viaCallback', 'connecting']) {
        expect(without(r[mode][key], 'detail'), `${mode} ${key}`).toEqual(without(r.plain[key], 'detail'));
        expect(r[mode][key].detail, `${mode} ${key}`).toEqual(detail);
      }
    }
  });

  it('nothing is kept for clients that ended or became unreachable (200 000 clients)', async () => {
    const r = await inModes('memory.cjs', ['plain', 'hook', 'guard'], { nodeArgs: ['--single-threaded', '--expose-gc'] });
    for (const mode of ['plain', 'hook', 'guard'] as const) expect(r[mode].firstCollected, mode).toBe(true);
    // Kept before: about 19 MiB for 50 000 clients. A flat heap is within a few hundred KiB of plain.
    expect(r.hook.grownKiB - r.plain.grownKiB).toBeLessThan(1024);
    expect(r.guard.grownKiB - r.plain.grownKiB).toBeLessThan(1024);
  });

  it('ioredis, mysql2, undici, postgres.js and http.Agent: nothing is kept for a client the app dropped (2 000 of each)', async () => {
    const r = await inModes('other-clients-memory.cjs', ['plain', 'hook', 'guard'], { nodeArgs: ['--single-threaded', '--expose-gc'] });
    for (const mode of ['plain', 'hook', 'guard'] as const) {
      expect(r[mode].threw, mode).toBeUndefined();
      expect(Object.values(r[mode].collected), mode).toEqual([true, true, true, true, true]);
    }
    // A WeakSet entry per guarded client, gone with it: within a few hundred KiB of plain.
    expect(r.hook.grownKiB - r.plain.grownKiB).toBeLessThan(1024);
    expect(r.guard.grownKiB - r.plain.grownKiB).toBeLessThan(1024);
  });

  it('importing and guarding start no handle, request or thread beyond what pg starts', async () => {
    const r = await inModes('resources.cjs');
    expect(r.hook).toEqual(r.plain);
    expect(r.guard).toEqual(r.plain);
  });

  it('ioredis, mysql2, undici, postgres.js and http.Agent: the same classes, method shapes, results and errors plain, hooked and guarded; nothing started at import', async () => {
    const servers = inject('servers');
    const r = await inModes('other-clients.cjs', ['plain', 'hook', 'guard'], {
      env: { FG_REDIS_URL: servers.redisUrl, FG_MYSQL_URL: servers.mysqlUrl },
    });
    expect(r.plain.redis.get).toBe('v');
    expect(r.plain.mysql2.err.code).toBe('ER_PARSE_ERROR');
    expect(r.plain.postgresJs).toMatchObject({ rows: [{ one: 1 }], err: { pgCode: '42601' }, unhandled: ['42601'] });
    expect(r.plain.http.err.code).toBe('ECONNREFUSED');
    expect(r.plain.importStarted).toEqual([]);
    expect(without(r.hook, 'guarded')).toEqual(without(r.plain, 'guarded'));
    expect(without(r.guard, 'guarded')).toEqual(without(r.plain, 'guarded'));
    // Covered from their first use under the hook, by guard() otherwise.
    expect(r.hook.guarded).toEqual([true, true, true, true, true]);
    expect(r.guard.guarded).toEqual([true, true, true, true, true]);
  });

  it("what pg allows the hook allows: fake connections, a pool of another Client class", async () => {
    const r = await inModes('construct.cjs', ['plain', 'hook']);
    expect(r.plain).toEqual({ fakeConnection: true, fakeConnecting: true, otherPool: true, otherClient: true });
    expect(r.hook).toEqual(r.plain);
  });
});

describe('the zero-code hook never makes a working app fail', () => {
  it("a `stream` option with no fd works as plain, with one FORKGUARD_UNGUARDED warning", async () => {
    const r = await inModes('stream.cjs', ['plain', 'hook']);
    expect(r.plain).toMatchObject({ first: 1, warnings: [] });
    expect(r.hook).toMatchObject({ first: 1, guarded: true, warnings: ['FORKGUARD_UNGUARDED'] });
    expect(r.hook.warningText).toMatch(/cannot be guarded at the socket level .* runs exactly as without pg-forkguard\. In a forked child it is still dropped/);
  });

  it('in a fork child such a client is dropped in JS: typed error; the parent session goes on', async () => {
    const run = await inMode('stream.cjs', 'hook', { env: { FORK: '1' } });
    ok(run);
    const { result, child } = run.results;
    expect(result.child).toEqual({ code: 0, signal: null });
    expect(child.error).toBe('ForkedConnectionError');
    expect(result).toMatchObject({ after: 3, sameBackend: true });
  });

  it('a pg symlinked from outside node_modules (monorepo workspace) is guarded', async () => {
    const base = join(root, '.tmp', 'monorepo');
    rmSync(base, { recursive: true, force: true });
    mkdirSync(join(base, 'app', 'node_modules'), { recursive: true });
    cpSync(join(root, 'node_modules', 'pg'), join(base, 'packages', 'pg'), { recursive: true });
    symlinkSync(join(base, 'packages', 'pg'), join(base, 'app', 'node_modules', 'pg'), 'dir');
    const env = { APP_DIR: join(base, 'app') };
    const hook = (await inMode('symlinked.cjs', 'hook', { env })).results.result;
    expect(hook.inNodeModules).toBe(false);
    expect(hook).toMatchObject({ guarded: true, pools: 1 });
    const plain = (await inMode('symlinked.cjs', 'plain', { env })).results.result;
    expect(plain).toMatchObject({ inNodeModules: false, guarded: false, pools: 0 });
  });
});
