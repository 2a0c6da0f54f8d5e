// A stand-in speaking just enough of the Postgres protocol for pg: startup -> AuthenticationOk +
// ReadyForQuery; each simple Query -> one int4 row, CommandComplete, ReadyForQuery; Terminate ->
// close. Benchmarks use it to isolate the client side (no SCRAM, no backend, no planner).
import { createServer } from 'node:net';

const msg = (type, body) => {
  const b = Buffer.alloc(5 + body.length);
  b.write(type, 0);
  b.writeInt32BE(4 + body.length, 1);
  body.copy(b, 5);
  return b;
};
const authOk = msg('R', Buffer.from([0, 0, 0, 0]));
const ready = msg('Z', Buffer.from('I'));
const field = Buffer.concat([Buffer.from('v\0'), Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 23, 0, 4, 0xff, 0xff, 0xff, 0xff, 0, 0])]);
const answer = Buffer.concat([
  msg('T', Buffer.concat([Buffer.from([0, 1]), field])),
  msg('D', Buffer.from([0, 1, 0, 0, 0, 1, 0x31])),
  msg('C', Buffer.from('SELECT 1\0')),
  ready,
]);

/** Starts the stand-in on a loopback port: { config (for pg), close() }. */
export async function startStub() {
  const server = createServer((s) => {
    let started = false;
    let pending = Buffer.alloc(0);
    s.on('data', (d) => {
      if (!started) {
        started = true; // the startup packet (one write by pg)
        s.write(Buffer.concat([authOk, ready]));
        return;
      }
      pending = pending.length ? Buffer.concat([pending, d]) : d;
      let i = 0;
      while (pending.length - i >= 5) {
        const len = pending.readInt32BE(i + 1);
        if (pending.length - i < 1 + len) break;
        const type = pending[i];
        i += 1 + len;
        if (type === 0x51) s.write(answer); // 'Q'
        else if (type === 0x58) return void s.end(); // 'X'
      }
      pending = pending.subarray(i);
    });
    s.on('error', () => {});
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    config: { host: '127.0.0.1', port: server.address().port, user: 'x', database: 'x', password: 'x' },
    close: () => server.close(),
  };
}
