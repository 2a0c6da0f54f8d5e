// The arithmetic of spreading connections (src/prefork/balance.ts): which worker sheds how many, and
// an order the worker has carried out is not taken as standing. The processes it runs between are
// test/prefork-balance.test.ts's.
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { masterBalance, workerBalance } from '../../dist/prefork/balance.js';

const serving = [11, 12, 13, 14];
function master(counts: number[]) {
  const m = masterBalance();
  counts.forEach((c, i) => m.heard(serving[i]!, c, 0));
  return m;
}

describe('masterBalance', () => {
  it('12/2/1/1: the first sheds down to its share of 4; the others are not told anything', () => {
    expect([...master([12, 2, 1, 1]).orders(serving)]).toEqual([[11, 8]]);
  });

  it('one over the share of 4 is let be (5/4/4/3, 5/5/5/1), two over is not (7/4/4/1)', () => {
    expect([...master([5, 4, 4, 3]).orders(serving)]).toEqual([]);
    expect([...master([5, 5, 5, 1]).orders(serving)]).toEqual([]);
    expect([...master([7, 4, 4, 1]).orders(serving)]).toEqual([[11, 3]]);
  });

  it('an order is sent once; what the worker reports it still owes is believed, so one whose clients came straight back is ordered again', () => {
    const m = master([12, 2, 1, 1]);
    expect([...m.orders(serving)]).toEqual([[11, 8]]);
    expect([...m.orders(serving)]).toEqual([]);
    // It shed 3, still owes 5, and the 3 clients have not reconnected yet: share 4, shed 5.
    m.heard(11, 9, 5);
    expect([...m.orders(serving)]).toEqual([]);
    // It shed all 8, and 2 of those clients came straight back to it: told to shed 2 more.
    m.heard(11, 6, 0);
    m.heard(12, 4, 0);
    m.heard(13, 3, 0);
    m.heard(14, 3, 0);
    expect([...m.orders(serving)]).toEqual([[11, 2]]);
  });

  it('an order the others made moot is cancelled with 0', () => {
    const m = master([7, 4, 4, 1]);
    expect([...m.orders(serving)]).toEqual([[11, 3]]);
    m.heard(12, 8, 0);
    m.heard(13, 8, 0);
    m.heard(14, 8, 0); // share 8: 7 is under it
    expect([...m.orders(serving)]).toEqual([[11, 0]]);
  });

  it('a worker gone, or not serving yet, counts for nothing; its connections do not make others shed', () => {
    const m = master([12, 2, 1, 1]);
    expect([...m.orders([11])]).toEqual([]); // only worker 11 serves: all 12 are its share
    m.gone(11);
    expect([...m.orders(serving)]).toEqual([]);
  });
});

describe('workerBalance', () => {
  const socket = () => Object.assign(new EventEmitter(), {}) as unknown as Socket;
  const exchange = (s: Socket) => {
    const res = { headersSent: false, shouldKeepAlive: true } as ServerResponse;
    return { req: { socket: s } as IncomingMessage, res };
  };

  it('sheds as many connections as ordered, one response each, and reports what it holds and still owes', async () => {
    const said: Array<{ conns: number; shedding: number }> = [];
    const w = workerBalance((m) => said.push(m));
    const sockets = [socket(), socket(), socket()];
    for (const s of sockets) w.opened(s);
    await new Promise((r) => setTimeout(r, 80));
    expect(said).toEqual([{ conns: 3, shedding: 0 }]); // three openings, one report
    w.shed(2);
    const a1 = exchange(sockets[0]!);
    const a2 = exchange(sockets[0]!); // a second request on a connection already let go of
    const b = exchange(sockets[1]!);
    const c = exchange(sockets[2]!);
    for (const x of [a1, a2, b, c]) w.request(x.req, x.res);
    expect([a1, a2, b, c].map((x) => x.res.shouldKeepAlive)).toEqual([false, true, false, true]);
    sockets[0]!.emit('close');
    sockets[1]!.emit('close');
    await new Promise((r) => setTimeout(r, 80));
    expect(said.at(-1)).toEqual({ conns: 1, shedding: 0 });
    w.end();
    w.opened(socket());
    await new Promise((r) => setTimeout(r, 80));
    expect(said).toHaveLength(2); // ended: reports nothing more
  });
});
