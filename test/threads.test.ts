// fork() counts the process's threads from the kernel (src/runtime/threads.ts), however they started,
// and refuses when any beyond Node's own is alive: a thread does not exist in the child, and whatever
// it held or was to answer is lost there. The twin, fork({ unsafe: true }), shows the harm: with
// module.register() hooks (tsx, OpenTelemetry's ESM loader) the child hangs at its first import().
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtureDir, ok, runFixture } from './helpers.js';

const withImport = (file: string) => ['--single-threaded', '--import', join(fixtureDir, 'threads', file)];
const hasRegisterHooks = (() => {
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  return major > 23 || (major === 23 && minor >= 5) || (major === 22 && minor >= 15);
})();

describe('threads at fork(), counted from the kernel', () => {
  it('module.register() hooks: refused with reason "threads", naming the cause; unsafe, the child hangs at import()', async () => {
    const run = await runFixture('threads.mjs', { nodeArgs: withImport('register.mjs'), env: { UNSAFE: '1' }, timeoutMs: 60_000 });
    ok(run);
    const r = run.results.threads;
    expect(r.refused).toMatchObject({ name: 'ForkUnsupportedError', reason: 'threads' });
    expect(r.refused.message).toMatch(/1 thread\(s\) beyond Node's own/);
    expect(r.refused.message).toMatch(/module\.registerHooks\(\)/);
    expect(r.unsafeChild, 'the twin: the hooks thread is not in the child').toBe('hung');
  });

  it('a thread a native addon started, unknown to Node: refused, named where the kernel has its name', async () => {
    const run = await runFixture('threads.mjs', { env: { MODE: 'native' }, timeoutMs: 60_000 });
    ok(run);
    const r = run.results.threads;
    expect(r.refused).toMatchObject({ name: 'ForkUnsupportedError', reason: 'threads' });
    expect(r.refused.message).toMatch(/1 thread\(s\) beyond Node's own are alive: \d+ sdk-exporter;/);
  });

  it('no thread beyond Node\'s own (the threadpool started, and parked by an earlier fork): forks', async () => {
    const run = await runFixture('threads.mjs', { timeoutMs: 60_000 });
    ok(run);
    expect(run.results.threads).toMatchObject({ refused: null, child: { code: 0, signal: null } });
  });

  it.runIf(hasRegisterHooks)('module.registerHooks() runs the hooks on the main thread: fork() goes ahead and the child imports', async () => {
    const run = await runFixture('threads.mjs', { nodeArgs: withImport('register-hooks.mjs'), env: { UNSAFE: '1' }, timeoutMs: 60_000 });
    ok(run);
    expect(run.results.threads).toMatchObject({ refused: null, child: { code: 0, signal: null }, unsafeChild: { code: 0, signal: null } });
  });
});
