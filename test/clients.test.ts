// Every connection an app holds, not only pg's, across fork(): ioredis against redis-server,
// postgres.js against Postgres, mysql2 against MariaDB, and keep-alive HTTP (node:http agents, the
// global one included, undici's Pool, Node's global fetch) against a server of their own. Each runs
// test/fixtures/clients/<client>.mjs twice: as shipped (the child sweeps every inherited connection,
// native/core/sweep.h) and as its unguarded twin (fork({ keep: 'all' })), which shows the harm.
import { describe, expect, inject, it } from 'vitest';
import { runFixture } from './helpers.js';

// Under test:asan, not undici nor fetch: a child that compiles undici's llhttp (WebAssembly) hangs in
// ASan's own allocator, whose size-class lock another thread of the parent held at fork(2) (gdb:
// __sanitizer::SizeClassAllocator64::GetFromAllocator <- v8::internal::wasm::CompileLazy). ASan's
// allocator has no atfork handler; glibc's malloc, which the shipped addon runs under, has. The
// normal run covers them.
const asan = process.env.PG_FORKGUARD_SANITIZE === 'address';
const wasmClients = new Set(['undici Pool', 'global fetch', 'undici', 'fetch']);
const all: Array<[name: string, file: string, kind: string | undefined]> = [
  ['ioredis', 'ioredis.mjs', undefined],
  ['postgres.js', 'postgres-js.mjs', undefined],
  ['mysql2', 'mysql2.mjs', undefined],
  ['http.Agent (keep-alive)', 'http-client.mjs', 'agent'],
  ['http.globalAgent', 'http-client.mjs', 'global-agent'],
  ['undici Pool', 'http-client.mjs', 'undici'],
  ['global fetch', 'http-client.mjs', 'fetch'],
];
const clients = all.filter(([name]) => !(asan && wasmClients.has(name)));

// One run per client and mode, shared by the tests that look at it.
const runs = new Map<string, ReturnType<typeof runFixture>>();
type Mode = 'guarded' | 'zero-code' | 'unguarded';
function run(file: string, mode: Mode, kind?: string) {
  const key = `${file} ${mode} ${kind ?? ''}`;
  if (!runs.has(key)) runs.set(key, start(file, mode, kind));
  return runs.get(key)!;
}

function start(file: string, mode: Mode, kind?: string) {
  const servers = inject('servers');
  return runFixture(`clients/${file}`, {
    args: [mode, ...(kind ? [kind] : [])],
    nodeArgs: mode === 'zero-code' ? ['--single-threaded', '--import', 'pg-forkguard/register'] : undefined,
    env: { FG_REDIS_URL: servers.redisUrl, FG_MYSQL_URL: servers.mysqlUrl },
    timeoutMs: 90_000,
  });
}

// What went wrong for a process: replies that were not its own, calls that failed, error events.
const harm = (p: any) => p.tally.wrong + p.tally.failed + p.errors.length;

describe.each(clients)('%s across fork()', (_name, file, kind) => {
  it('the parent is untouched: every reply its own, no error, its connections still right after the child closed its copy', async () => {
    const r = await run(file, 'guarded', kind);
    expect(r.code, r.stderr).toBe(0);
    const { parent, child } = r.results;
    expect(parent.child).toEqual({ status: { code: 0, signal: null }, hung: false });
    expect(parent.tally.ok).toBeGreaterThan(0);
    expect(harm(parent)).toBe(0);
    expect(parent.after).toBe(20);
    expect(parent.inflight.value).toBeDefined(); // the write sent before the fork is answered in the parent
    // The child's connections were swept before any JS ran, and it carries on on new ones of its own.
    expect(child.sweep.swept).toBeGreaterThanOrEqual(1);
    expect(child.sweep.failed).toBe(0);
    expect(child.tally.wrong).toBe(0);
    expect(child.tally.ok).toBeGreaterThan(0);
    // Its first call opens a new connection: the inherited one is closed before the app's code runs.
    expect(child.tally.failed).toBe(0);
    expect(child.errors).toEqual([]);
  });

  it('a write sent before the fork lands once; the child\'s copy fails with ForkedConnectionError', async () => {
    const r = await run(file, 'guarded', kind);
    expect(r.code, r.stderr).toBe(0);
    expect(r.results.parent.landed.value).toBe(1);
    // fetch() reports it as a TypeError whose cause is the typed error.
    const inflight = r.results.child.inflight;
    expect(inflight.cause ?? inflight).toMatchObject({ error: 'ERR_FORKGUARD_FORKED_CONNECTION', kind: 'request' });
  });

  it('unguarded twin (every socket kept): the two processes share connections and it shows', async () => {
    const r = await run(file, 'unguarded', kind);
    const { parent, child } = r.results;
    expect(child?.sweep?.swept ?? 0).toBe(0);
    // Wrong replies, failed or hung calls, error events, on one side or the other.
    expect(harm(parent) + (child ? child.tally.wrong + child.tally.failed : 1) + (20 - parent.after)).toBeGreaterThan(0);
  });
});

// The same with no code: the register hook covers what guard() covers (pg-forkguard/register).
describe.each(clients)('%s under pg-forkguard/register, no guard() call', (_name, file, kind) => {
  it('the parent untouched, the child carries on, the write sent before the fork lands once, its copy fails typed', async () => {
    const r = await run(file, 'zero-code', kind);
    expect(r.code, r.stderr).toBe(0);
    const { parent, child } = r.results;
    expect(harm(parent)).toBe(0);
    expect(child.tally.wrong).toBe(0);
    expect(child.tally.failed).toBe(0);
    expect(parent.landed.value).toBe(1);
    const inflight = child.inflight;
    expect(inflight.cause ?? inflight).toMatchObject({ error: 'ERR_FORKGUARD_FORKED_CONNECTION', kind: 'request' });
  });
});

// Through prefork(): the master opens every client and sends one write on each just before
// prefork(); 2 workers use what they inherited while the master goes on with its own.
describe('every client through prefork()', () => {
  const names = ['ioredis', 'postgres.js', 'mysql2', 'http.Agent', 'undici', 'fetch'].filter((n) => !(asan && wasmClients.has(n)));
  const start = (mode: 'guarded' | 'unguarded') => {
    const servers = inject('servers');
    return runFixture('clients/prefork.mjs', { args: [mode], env: { FG_REDIS_URL: servers.redisUrl, FG_MYSQL_URL: servers.mysqlUrl }, timeoutMs: 90_000 });
  };

  it('guarded: master and workers all right, every write sent before prefork() lands once, each worker\'s copy fails', async () => {
    const r = await start('guarded');
    expect(r.code, r.stderr).toBe(0);
    const { master } = r.results;
    expect(master.ready).toBe(2);
    expect(master.errors).toEqual([]);
    for (const name of names) {
      expect(master.tally[name], name).toMatchObject({ wrong: 0, failed: 0 });
      expect(master.tally[name].ok, name).toBeGreaterThan(0);
      expect(master.landed[name], name).toBe(1);
    }
    for (const id of [0, 1]) {
      const w = r.results[`worker-${id}`];
      expect(w.errors).toEqual([]);
      for (const name of names) {
        expect(w.tally[name], `worker ${id} ${name}`).toMatchObject({ wrong: 0, failed: 0 });
        expect(w.tally[name].ok, `worker ${id} ${name}`).toBeGreaterThan(0);
        expect(w.inflight[name], `worker ${id} ${name}`).toBe('ERR_FORKGUARD_FORKED_CONNECTION');
      }
    }
  });

  it('twin, no guard() call (the sweep alone): ioredis and undici send the parent\'s write again in each worker', async () => {
    const r = await start('unguarded');
    expect(r.code, r.stderr).toBe(0);
    const { master } = r.results;
    expect(master.landed.ioredis).toBe(3);
    if (!asan) expect(master.landed.undici).toBe(3);
    // What the sweep alone gives all the same: nobody gets a reply that is not its own.
    for (const name of names) expect(master.tally[name].wrong, name).toBe(0);
  });
});

// postgres.js with every connection busy at the fork: the writes wait in its own queue.
describe('postgres.js: queries made in the fork\'s tick, one waiting for a free connection', () => {
  const start = (mode: 'guarded' | 'zero-code' | 'esm' | 'unguarded') =>
    runFixture('clients/postgres-js-queued.mjs', {
      args: [mode],
      nodeArgs: mode === 'zero-code' ? ['--single-threaded', '--import', 'pg-forkguard/register'] : undefined,
      timeoutMs: 60_000,
    });
  const typed = { error: 'ERR_FORKGUARD_FORKED_CONNECTION', kind: 'request' };

  it.each(['guarded', 'zero-code'] as const)('%s (guard(sql); its CommonJS build under the register hook): each lands once; every copy in the child fails typed; the child\'s own query runs', async (mode) => {
    const r = await start(mode);
    expect(r.code, r.stderr).toBe(0);
    const { parent, child } = r.results;
    expect(parent.child).toEqual({ status: { code: 0, signal: null }, hung: false });
    expect(parent.landed.value).toBe('a:1 b:1 c:1');
    expect(parent.outcomes.every((o: any) => 'value' in o)).toBe(true);
    for (const o of child.outcomes) expect(o).toMatchObject(typed);
    expect(child.own.value).toBe('own');
  });

  it('ESM build, no guard() call (the connection layer alone): each lands once; the child\'s copies never answered', async () => {
    const r = await start('esm');
    expect(r.code, r.stderr).toBe(0);
    const { parent, child } = r.results;
    expect(parent.landed.value).toBe('a:1 b:1 c:1');
    // Those on a connection fail typed; the one left in the queue fails when its connection, which
    // carried a query of the fork's tick, times out connecting (the documented gap).
    expect(child.outcomes.filter((o: any) => o.error === typed.error).length).toBeGreaterThanOrEqual(4);
    expect(child.outcomes.some((o: any) => 'value' in o)).toBe(false);
  });

  // Which harm shows is a race between two processes reading the same sockets; seen over runs: a
  // write landing twice, the parent's queries failing (42P05: a statement the child prepared on the
  // shared session), the child waiting forever on a reply the parent read. CI once saw a run whose
  // writes each landed once: the harm was elsewhere, so each form counts. CI also saw the parent's
// own count fail 42P05, uncaught (2 runs in 18 here): the fixture counts on a connection of its own.
  it('unguarded twin: the child runs the parent\'s writes again, or the two break each other\'s queries', async () => {
    const r = await start('unguarded');
    const { parent, child } = r.results;
    expect(parent, r.stderr).toBeDefined();
    const twice = parent.landed.value !== 'a:1 b:1 c:1';
    const parentBroken = parent.outcomes.some((o: any) => !('value' in o));
    const childStuck = (child?.outcomes ?? []).some((o: any) => o.pending);
    expect(twice || parentBroken || childStuck).toBe(true);
  });
});

// A mysql2 connection of the app's own: mysql2 never reopens one, so the child makes its own.
describe('mysql2 connection (createConnection): writes made in the fork\'s tick, two queued behind one', () => {
  const start = (mode: 'guarded' | 'zero-code' | 'unguarded') =>
    runFixture('clients/mysql2-connection.mjs', {
      args: [mode],
      nodeArgs: mode === 'zero-code' ? ['--single-threaded', '--import', 'pg-forkguard/register'] : undefined,
      env: { FG_MYSQL_URL: inject('servers').mysqlUrl },
      timeoutMs: 60_000,
    });

  it.each(['guarded', 'zero-code'] as const)('%s: each lands once; the copies fail typed; the inherited connection refuses, typed; a new one works', async (mode) => {
    const r = await start(mode);
    expect(r.code, r.stderr).toBe(0);
    const { parent, child } = r.results;
    expect(parent.child).toEqual({ status: { code: 0, signal: null }, hung: false });
    expect(parent.landed.value).toBe('a:1 b:1 c:1');
    expect(parent.outcomes).toEqual([{ value: 'ok' }, { value: 'ok' }, { value: 'ok' }]);
    for (const o of child.outcomes) expect(o).toMatchObject({ error: 'ERR_FORKGUARD_FORKED_CONNECTION', kind: 'request' });
    expect(child.inherited).toMatchObject({ error: 'ERR_FORKGUARD_FORKED_CONNECTION', kind: 'connection' });
    expect(child.own.value).toBe('own');
  });

  it('unguarded twin: the child waits forever on the parent\'s connection (seen: every call pending), or a write runs twice', async () => {
    const r = await start('unguarded');
    const { parent, child } = r.results;
    const pending = [...(child?.outcomes ?? []), child?.inherited].filter((o: any) => !o || o.pending).length;
    expect(pending > 0 || parent.landed.value !== 'a:1 b:1 c:1').toBe(true);
  });
});

// An undici Pool and an http.Agent with every connection busy: the writes wait in their own queue.
describe.each(['undici', 'agent'])('%s with every connection busy: writes waiting in its own queue at the fork', (which) => {
  const start = (mode: 'guarded' | 'zero-code' | 'unguarded') =>
    runFixture('clients/http-queued.mjs', {
      args: [mode, which],
      nodeArgs: mode === 'zero-code' ? ['--single-threaded', '--import', 'pg-forkguard/register'] : undefined,
      timeoutMs: 60_000,
    });

  it.each(['guarded', 'zero-code'] as const)('%s: each lands once; every copy in the child fails typed; the child\'s own request works', async (mode) => {
    if (asan && which === 'undici') return;
    const r = await start(mode);
    expect(r.code, r.stderr).toBe(0);
    const { parent, child } = r.results;
    expect(parent.child).toEqual({ status: { code: 0, signal: null }, hung: false });
    expect(parent.landed).toBe('a:1 b:1 c:1');
    expect(parent.outcomes).toEqual([{ value: 'ok' }, { value: 'ok' }, { value: 'ok' }]);
    for (const o of child.outcomes) expect(o).toMatchObject({ error: 'ERR_FORKGUARD_FORKED_CONNECTION', kind: 'request' });
    expect(child.own.value).toBe('own');
  });

  it('unguarded twin: the queued writes are sent again from the child', async () => {
    if (asan && which === 'undici') return;
    const r = await start('unguarded');
    expect(r.results.parent.landed).not.toBe('a:1 b:1 c:1');
  });
});
