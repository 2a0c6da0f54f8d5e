import { describe, expect, it } from 'vitest';
import { runFixture } from './helpers.js';

describe('neutralisation of tracked sockets in the child', () => {
  it('child cannot write to or read from a tracked socket, nor an untracked one it did not keep; a kept socket and the parent keep working', async () => {
    const run = await runFixture('neutralise.mjs');
    expect(run.code, run.stderr).toBe(0);
    const { child, parent } = run.results;
    expect(parent.child.hung).toBe(false);
    expect(parent.child.status.code).toBe(0);
    // In the child the fd now names another (dead) socket ...
    expect(child.inoAfter).not.toBe(child.inoBefore);
    expect(child.generation).toBe(1);
    // ... writes fail and reads see EOF ...
    expect(child.rawWriteError).toBe('EPIPE');
    expect(child.rawRead).toBe(0);
    expect(child.netWriteError).toBe('EPIPE');
    // ... and not one byte reached the parent's peer, while the untracked socket delivered.
    expect(parent.received.a).toBe('PINGPING');
    expect(parent.received.a).not.toContain('CHILD');
    expect(parent.received.b).toBe('CHILD-B');
    // An untracked connection the fork did not keep is swept: dead in the child, nothing arrives.
    expect(child.sweptClosed).toBe(true);
    expect(parent.received.c).toBe('');
    // The parent's tracked socket still works both ways after the fork.
    expect(parent.pong).toBe('PONG');
    // child_process.spawn (a glibc fork that runs the handler before exec) leaves it alone too.
    expect(parent.spawned).toBe(5);
    expect(parent.pongAfterSpawn).toBe('PONG');
  });
});

describe('forks that run no atfork handler (raw fork syscall)', () => {
  it('the fork canary neutralises tracked fds before the child loop polls, and runs child hooks', async () => {
    const run = await runFixture('rawfork.mjs', { args: ['loop'] });
    expect(run.code, run.stderr).toBe(0);
    const { child, parent } = run.results;
    expect(parent.child.status.code).toBe(0);
    // No atfork handler ran: at fork() return nothing had changed yet ...
    expect(child.atReturn.ino).toBe(child.ino);
    expect(child.atReturn.generation).toBe(0);
    // ... but by the loop hook (prepare phase, before poll) the fd was dead and the generation moved.
    expect(child.inChildHook.ino).not.toBe(child.ino);
    expect(child.inChildHook.generation).toBe(1);
    expect(child.inChildHook.pid).toBe(parent.pid);
    expect(child.nextIteration.generation).toBe(1);
    // The parent is untouched.
    expect(parent.inoNow).toBe(child.ino);
    expect(parent.generation).toBe(0);
  });

  it('the checkout check catches a raw fork synchronously', async () => {
    const run = await runFixture('rawfork.mjs', { args: ['check'] });
    expect(run.code, run.stderr).toBe(0);
    const { child } = run.results;
    expect(child.atReturn.ino).toBe(child.ino);
    expect(child.checked).toBe(true);
    expect(child.afterCheck.ino).not.toBe(child.ino);
    expect(child.afterCheck.generation).toBe(1);
    expect(child.afterCheck.pid).toBe(run.results.parent.pid);
  });
});
