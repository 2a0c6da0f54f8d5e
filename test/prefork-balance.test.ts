// prefork() keeps HTTP keep-alive connections spread over its workers (src/prefork/balance.ts):
// connections that all landed on one worker move, without a failed request, once the others serve;
// with options.balance false they stay where they landed, which is what makes the test able to fail
// (test/fixtures/prefork/balance.mjs, no database).
import { Agent, get } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Server, Started, gone, sleep, startMaster } from './prefork-server.js';

const fixture = join(__dirname, 'fixtures', 'prefork', 'balance.mjs');
const started = new Started();
afterEach(() => started.killAll());

const CONNECTIONS = 16;

/** One request on `agent`: the pid that served it, or the error's code. */
function ask(port: number, agent: Agent): Promise<number | string> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(res.statusCode === 200 ? JSON.parse(body).pid : `status ${res.statusCode}`));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.setTimeout(5_000, () => req.destroy(new Error('timeout')));
  });
}

/** 16 keep-alive clients, all opened while only worker 0 listens, then `rounds` rounds of a request
 * each, 100 ms apart (as a steady client would). Returns who served each round. */
async function run(balance: '1' | '0', rounds: number): Promise<{ s: Server; served: Array<Array<number | string>> }> {
  const s = await startMaster(started, fixture, { BALANCE: balance }, (l) => l.port !== undefined);
  await s.next((l) => l.event === 'ready' && l.id === 0);
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const served: Array<Array<number | string>> = [];
  served.push(await Promise.all(Array.from({ length: CONNECTIONS }, () => ask(s.info.port, agent))));
  for (const id of [1, 2, 3]) await s.next((l) => l.event === 'ready' && l.id === id);
  for (let i = 0; i < rounds; i++) {
    await sleep(100);
    served.push(await Promise.all(Array.from({ length: CONNECTIONS }, () => ask(s.info.port, agent))));
  }
  agent.destroy();
  return { s, served };
}

const perWorker = (pids: Array<number | string>): number[] => {
  const n = new Map<number | string, number>();
  for (const p of pids) n.set(p, (n.get(p) ?? 0) + 1);
  return [...n.values()].sort((a, b) => b - a);
};

describe('prefork(): keep-alive connections spread over the workers', () => {
  it('16 connections that landed on one worker end up 4 or 5 per worker, and no request fails; with balance: false they stay', async () => {
    const on = await run('1', 20);
    const off = await run('0', 20);
    for (const { s, served } of [on, off]) {
      const all = served.flat();
      expect(all.filter((p) => !s.info.workers.includes(p)), 'answers not from a worker').toEqual([]);
      // Every connection was opened while only worker 0 served.
      expect(served[0]).toEqual(Array(CONNECTIONS).fill(s.info.workers[0]));
      process.kill(s.info.master, 'SIGTERM');
      expect(await s.exited).toBe(0);
      expect(await gone(s.info.workers, 5_000)).toEqual([]);
    }
    // Balanced: every worker serves, none more than one over its share of 4.
    const last = perWorker(on.served.at(-1)!);
    expect(last.length, `per worker ${last}`).toBe(4);
    expect(last[0], `per worker ${last}`).toBeLessThanOrEqual(5);
    // Unbalanced, the same clients: worker 0 still holds every connection.
    expect(perWorker(off.served.at(-1)!)).toEqual([CONNECTIONS]);
  });
});
