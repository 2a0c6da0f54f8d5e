// prefork() serves every listener the app opened, of every kind, and a prefork() that refuses
// leaves the app as it was (test/fixtures/prefork/listeners.mjs, no database).
import { existsSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Server, Started, gone, startMaster } from './prefork-server.js';

const fixture = join(__dirname, 'fixtures', 'prefork', 'listeners.mjs');
const started = new Started();
afterEach(() => started.killAll());

const start = (env: Record<string, string> = {}): Promise<Server> =>
  startMaster(started, fixture, env, (l) => l.master !== undefined);

type Endpoint = { host: string; port: number } | { socketPath: string };

/** The pid that served one request, or the error's code. */
function servedBy(to: Endpoint): Promise<number | string> {
  return new Promise((resolve) => {
    const req = get({ ...to, path: '/', agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(JSON.parse(body).pid));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.setTimeout(5_000, () => req.destroy(new Error('timeout')));
  });
}

async function askEach(info: any, times: number): Promise<Record<string, Array<number | string>>> {
  const endpoints: Record<string, Endpoint> = {
    'tcp v4': { host: '127.0.0.1', port: info.v4 },
    'tcp v6': { host: '::1', port: info.v6 },
    'unix path': { socketPath: info.path },
    'abstract unix': { socketPath: info.abstract },
  };
  const out: Record<string, Array<number | string>> = {};
  for (const [name, to] of Object.entries(endpoints)) {
    out[name] = [];
    for (let i = 0; i < times; i++) out[name]!.push(await servedBy(to));
  }
  return out;
}

describe('prefork(): every listener survives', () => {
  it('TCP v4 and v6, a unix-socket path and an abstract unix socket, at once: workers serve them all, the path stays', async () => {
    const s = await start();
    await s.next((l) => l.event === 'ready' && l.id === 1);
    const served = await askEach(s.info, 20);
    for (const [name, pids] of Object.entries(served)) {
      expect(pids.filter((p) => !s.info.workers.includes(p)), `${name}: answers not from a worker`).toEqual([]);
    }
    expect(existsSync(s.info.path)).toBe(true);
    // A worker that stops closes its copy, and the master stays off the path too: its replacement
    // serves the same socket.
    process.kill(s.info.workers[0], 'SIGTERM');
    await s.next((l) => l.event === 'ready' && l.id === 0 && !s.info.workers.includes(l.pid));
    expect(existsSync(s.info.path)).toBe(true);
    const after = await askEach(s.info, 10);
    for (const [name, pids] of Object.entries(after)) {
      expect(pids.filter((p) => typeof p !== 'number'), `${name} after a respawn`).toEqual([]);
      expect(pids, name).not.toContain(s.info.master);
    }
    process.kill(s.info.master, 'SIGTERM');
    expect(await s.exited).toBe(0);
    expect(await gone(s.info.workers, 5_000)).toEqual([]);
  });
});

describe('prefork(): refuse before touching anything', () => {
  it('a worker thread alive: ForkUnsupportedError, the app still serves, and prefork() works once the thread is gone', async () => {
    const s = await start({ REFUSE: 'workers' });
    const refusal = s.lines.find((l) => l.refused !== undefined);
    expect(refusal).toMatchObject({ refused: 'workers-alive' });
    expect(refusal.message).toMatch(/^prefork\(\) refused: 1 worker thread\(s\) are running/);
    expect(refusal.message).not.toMatch(/unsafe/);
    const after = s.lines.find((l) => l.afterRefusal !== undefined).afterRefusal;
    expect(after).toEqual({ servedBy: s.info.master, pathExists: true });
    await s.next((l) => l.event === 'ready' && l.id === 1);
    const served = await askEach(s.info, 5);
    for (const [name, pids] of Object.entries(served)) {
      expect(pids.filter((p) => !s.info.workers.includes(p)), name).toEqual([]);
    }
    process.kill(s.info.master, 'SIGTERM');
    expect(await s.exited).toBe(0);
  });
});
