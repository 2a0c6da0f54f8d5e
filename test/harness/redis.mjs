// A throwaway redis-server for the other-clients tests (test/clients.test.ts): loopback, a random
// port, nothing persisted. No redis-server is a loud failure, as no Postgres is.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './postgres.mjs';
import { findBinary, stopper, waitForPort } from './server-process.mjs';

/** Starts redis-server; resolves to { url, port, stop }. */
export async function startRedis({ log = () => {} } = {}) {
  const bin = findBinary('redis-server');
  if (!bin) throw new Error('No redis-server for the tests: install it (apt-get install redis-server); .ci/run does.');
  const dir = mkdtempSync(join(tmpdir(), 'redis-'));
  const port = await freePort();
  const logfile = join(dir, 'redis.log');
  const child = spawn(
    bin,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--logfile', logfile, '--daemonize', 'no'],
    { stdio: 'ignore' },
  );
  const failed = new Promise((resolve) => child.once('exit', (code) => resolve(`exited with code ${code}`)));
  const up = await Promise.race([waitForPort(port, 15_000), failed]);
  if (up !== true) {
    const text = existsSync(logfile) ? readFileSync(logfile, 'utf8').slice(-1500) : '';
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`redis-server did not start: ${up === false ? 'no listener within 15 s' : up}\n${text}`);
  }
  log(`redis-server on 127.0.0.1:${port}`);
  return { port, url: `redis://127.0.0.1:${port}`, stop: stopper(child, failed, dir, 3000) };
}
