// Nothing of pg-forkguard's makes fork() or a child wait: the threadpool quiesce parks one task per
// thread the pool really has (native/uv/threadpool-size.h), whatever UV_THREADPOOL_SIZE says now; and
// the DNS accounting fork() learns at its first call needs no resolver (native/uv/dns-probe.h).
// Before either, the fixture's forks each took the quiesce's whole timeout (5 s) and warned
// FORKGUARD_THREADPOOL_BUSY, and a resolver that never answers stalled the first fork and every
// later lookup of its child.
import { createSocket } from 'node:dgram';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, runFixture } from './helpers.js';

// Fork walls here are milliseconds; the quiesce's timeout is 5 000. A bound far from both.
const STALL_MS = 1_500;

/** A name server on 127.0.0.77:53 that counts the queries it gets and answers none (port 53: the test runs as root, as the mounts need). */
function blackholeResolver() {
  const socket = createSocket('udp4');
  let queries = 0;
  socket.on('message', () => queries++);
  const bound = new Promise<void>((resolve) => socket.bind(53, '127.0.0.77', resolve));
  return { address: '127.0.0.77', bound, queries: () => queries, close: () => socket.close() };
}

function expectNoStall(r: any, size: number) {
  for (const f of r.forks) {
    expect(f.child, 'the child did its fs work and its lookup').toEqual({ code: 0, signal: null });
    expect(f.ms, `a fork took ${f.ms} ms`).toBeLessThan(STALL_MS);
  }
  expect(r.warnings).not.toContain('FORKGUARD_THREADPOOL_BUSY');
  expect(r.sizes.map((s: any) => s.size)).toEqual([size, size]);
}

describe('no stalls at fork()', () => {
  it('UV_THREADPOOL_SIZE raised after the pool started (4 threads, the variable says 8): the real size is used', async () => {
    const run = await runFixture('no-stalls.mjs', { args: ['pool-grew'], timeoutMs: 60_000 });
    ok(run);
    const r = run.results['pool-grew'];
    expectNoStall(r, 4);
    // Read from the kernel where libuv names its threads (1.50+), else from libuv's own count.
    expect(['names', 'nthreads']).toContain(r.sizes[0].from);
  });

  it("UV_THREADPOOL_SIZE removed after the pool started with 2 (the variable's absence says 4)", async () => {
    const run = await runFixture('no-stalls.mjs', { args: ['pool-shrank'], env: { UV_THREADPOOL_SIZE: '2' }, timeoutMs: 60_000 });
    ok(run);
    const r = run.results['pool-shrank'];
    expectNoStall(r, 2);
  });

  describe('a resolver that never answers', () => {
    // A name server that reads every query and answers none, and a mount namespace whose
    // resolv.conf points at it and whose hosts file has a name but not localhost.
    let server: ReturnType<typeof blackholeResolver>;
    let mounts: string[] = [];
    beforeAll(async () => {
      server = blackholeResolver();
      await server.bound;
      const dir = mkdtempSync(join(tmpdir(), 'fg-blackhole-'));
      writeFileSync(join(dir, 'resolv.conf'), `nameserver ${server.address}\noptions timeout:5 attempts:1\n`);
      writeFileSync(join(dir, 'hosts'), '127.0.0.1 db.internal\n');
      writeFileSync(join(dir, 'nsswitch.conf'), 'hosts: files dns\n');
      mounts = ['resolv.conf', 'hosts', 'nsswitch.conf'].map((f) => `--bind ${join(dir, f)} /etc/${f}`);
    });
    afterAll(() => server?.close());

    it('the first fork() does not wait on DNS, and the child resolves names from /etc/hosts', async () => {
      const run = await runFixture('no-stalls.mjs', {
        args: ['blackhole'],
        env: { HOSTS_NAME: 'db.internal' },
        mounts,
        timeoutMs: 60_000,
      });
      ok(run);
      const r = run.results.blackhole;
      expectNoStall(r, r.sizes[0].size);
      expect(r.parentLookupMs).toBeLessThan(STALL_MS);
    });

    it('the twin: in that namespace a lookup that reaches the resolver does hang', async () => {
      const run = await runFixture('no-stalls.mjs', {
        args: ['blackhole'],
        env: { HOSTS_NAME: 'localhost' },
        mounts,
        timeoutMs: 60_000,
      });
      ok(run);
      const r = run.results.blackhole;
      expect(r.forks.map((f: any) => f.child)).toEqual([{ code: 7, signal: null }, { code: 7, signal: null }]);
      expect(r.parentLookupMs).toBeGreaterThanOrEqual(1_900);
      expect(server.queries()).toBeGreaterThan(0);
    });
  });
});
