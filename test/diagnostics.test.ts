// What pg-forkguard tells the world (src/diagnostics.ts): diagnostics_channel events, and the
// NODE_DEBUG=pgforkguard text, which is written from those very events.
import { describe, expect, it } from 'vitest';
import { scenario } from './helpers.js';

describe('diagnostics_channel', () => {
  it('publishes fork, pool reset, client drop and pool evict events with their payloads', async () => {
    const run = await scenario('diagnostics/channels');
    expect(run.code, run.stderr).toBe(0);
    const { parent, child } = run.results;
    expect(parent.child.status).toEqual({ code: 0, signal: null });
    expect(parent.events).toEqual([
      { channel: 'pgforkguard:pool:evict', registry: 'dc', key: 't1', reason: 'manual' },
      {
        channel: 'pgforkguard:fork',
        role: 'parent',
        pid: parent.pid,
        parentPid: parent.pid,
        childPid: child.pid,
        generation: 0,
        timings: expect.objectContaining({ forkMs: expect.any(Number), scanMs: expect.any(Number) }),
      },
    ]);
    const drop = { channel: 'pgforkguard:client:drop', name: 'channels', pool: 'channels', ownerPid: parent.pid, currentPid: child.pid, fd: expect.any(Number), what: 'connection' };
    expect(child.events).toEqual([
      drop,
      drop,
      {
        channel: 'pgforkguard:pool:reset',
        pool: 'channels',
        pid: child.pid,
        generation: 1,
        dropped: 2,
        idle: 2,
        connecting: 0,
        checkedOut: 0,
        refused: 0,
        queued: 0,
      },
      // The pool's sockets are tracked (neutralised by the registry): the sweep finds nothing else.
      { channel: 'pgforkguard:fork', role: 'child', pid: child.pid, parentPid: parent.pid, generation: 1, sweep: { swept: 0, failed: 0, micros: expect.any(Number) } },
    ]);
  });
});

describe('NODE_DEBUG=pgforkguard', () => {
  it('writes a line for every event the channels carry, in the parent and in the child', async () => {
    const run = await scenario('diagnostics/channels', 'guarded', { NODE_DEBUG: 'pgforkguard' });
    expect(run.code, run.stderr).toBe(0);
    const { parent, child } = run.results;
    const lines = run.stderr.split('\n').filter((l) => l.startsWith('PGFORKGUARD '));
    const from = (pid: number) => lines.filter((l) => l.startsWith(`PGFORKGUARD ${pid}: `)).map((l) => l.slice(l.indexOf(': ') + 2));
    expect(from(parent.pid)).toEqual([
      'registry dc: evicted t1 (manual)',
      expect.stringMatching(new RegExp(`^fork: pid ${parent.pid} forked child ${child.pid} \\(generation 0\\); quiesce [\\d.]+ ms, smaps scan [\\d.]+ ms, fork\\(2\\) [\\d.]+ ms$`)),
    ]);
    expect(from(child.pid)).toEqual([
      `dropped a connection of channels opened by pid ${parent.pid} (fd ${child.events[0].fd})`,
      `dropped a connection of channels opened by pid ${parent.pid} (fd ${child.events[1].fd})`,
      `channels: pid ${child.pid} generation 1 dropped 2 inherited connections (2 idle, 0 connecting, 0 checked out); refused 0 checkouts requested before the fork (0 queued)`,
      `fork: child ${child.pid} of pid ${parent.pid} running (generation 1)`,
    ]);
  });

  it('without NODE_DEBUG nothing is written', async () => {
    const run = await scenario('diagnostics/channels');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).not.toContain('PGFORKGUARD');
  });
});
