// A throwaway MariaDB for the other-clients tests (test/clients.test.ts): a data directory made by
// mariadb-install-db, loopback on a random port, no grant tables (any user, no password), database
// `fg`. Runs as root with --user=root (MariaDB allows it, unlike Postgres). No server is a loud failure.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './postgres.mjs';
import { findBinary, stopper, waitForPort } from './server-process.mjs';

const run = promisify(execFile);

/** Starts MariaDB; resolves to { url, port, stop }. */
export async function startMariaDb({ log = () => {} } = {}) {
  const server = findBinary('mariadbd') ?? findBinary('mysqld');
  const installDb = findBinary('mariadb-install-db') ?? findBinary('mysql_install_db');
  const client = findBinary('mariadb') ?? findBinary('mysql');
  if (!server || !installDb || !client) {
    throw new Error('No MariaDB for the tests: install it (apt-get install mariadb-server); .ci/run does.');
  }
  const dir = mkdtempSync(join(tmpdir(), 'mariadb-'));
  const data = join(dir, 'data');
  const user = process.getuid?.() === 0 ? 'root' : (process.env.USER ?? 'root');
  await run(installDb, [`--datadir=${data}`, `--user=${user}`, '--auth-root-authentication-method=normal', '--skip-test-db'], {
    timeout: 120_000,
  });
  const port = await freePort();
  const logfile = join(dir, 'mariadb.err');
  const socket = join(dir, 'mariadb.sock');
  const child = spawn(
    server,
    [
      '--no-defaults',
      `--datadir=${data}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--socket=${socket}`,
      `--pid-file=${join(dir, 'mariadb.pid')}`,
      `--log-error=${logfile}`,
      `--user=${user}`,
      '--skip-grant-tables',
      '--innodb-buffer-pool-size=32M',
    ],
    { stdio: 'ignore' },
  );
  const failed = new Promise((resolve) => child.once('exit', (code) => resolve(`exited with code ${code}`)));
  const up = await Promise.race([waitForPort(port, 60_000), failed]);
  if (up !== true) {
    const text = existsSync(logfile) ? readFileSync(logfile, 'utf8').slice(-1500) : '';
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`mariadbd did not start: ${up === false ? 'no listener within 60 s' : up}\n${text}`);
  }
  await run(client, ['--no-defaults', '-h', '127.0.0.1', '-P', String(port), '-u', 'root', '-e', 'CREATE DATABASE IF NOT EXISTS fg'], {
    timeout: 30_000,
  });
  log(`MariaDB on 127.0.0.1:${port}`);
  return { port, url: `mysql://root@127.0.0.1:${port}/fg`, stop: stopper(child, failed, dir, 10_000) };
}
