// PgBouncer in front of the harness's Postgres, the next hop when pre-fork workers multiply
// connections. One instance per pooling mode, on a random loopback port, speaking TLS to clients
// with a certificate made at start (plain TCP to Postgres), SCRAM both ways. Run as the 'postgres'
// user when root (PgBouncer refuses root). No PgBouncer binary is a loud failure, as for Postgres.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './postgres.mjs';
import { findBinary, stopper, waitForPort } from './server-process.mjs';

export class NoPgBouncerError extends Error {
  constructor(tried) {
    super(`No PgBouncer for the tests: ${tried}. Install it (apt-get install pgbouncer); .ci/run does.`);
    this.code = 'ERR_NO_PGBOUNCER';
  }
}

/** Starts PgBouncer in `poolMode` ('session' | 'transaction') in front of `db` (startPostgres()). */
export async function startPgBouncer(db, poolMode, { log = () => {} } = {}) {
  const bin = findBinary('pgbouncer');
  if (!bin) throw new NoPgBouncerError('no pgbouncer on PATH, in /usr/sbin or /usr/local/sbin');
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), `pgbouncer-${poolMode}-`));
  const port = await freePort();
  const key = join(dir, 'client.key');
  const crt = join(dir, 'client.crt');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', crt, '-days', '2', '-subj', '/CN=localhost',
  ], { stdio: 'pipe', timeout: 60_000 });
  writeFileSync(join(dir, 'userlist.txt'), `"${db.user}" "${db.password}"\n`);
  const ini = join(dir, 'pgbouncer.ini');
  writeFileSync(
    ini,
    [
      '[databases]',
      `${db.database} = host=${db.host ?? '127.0.0.1'} port=${db.port} dbname=${db.database}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      "unix_socket_dir = ''",
      'auth_type = scram-sha-256',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      `pool_mode = ${poolMode}`,
      'max_client_conn = 1000',
      'default_pool_size = 60',
      'server_tls_sslmode = disable',
      'client_tls_sslmode = allow',
      `client_tls_key_file = ${key}`,
      `client_tls_cert_file = ${crt}`,
      // Slonik sends its timeouts as startup parameters, which PgBouncer refuses unless told to ignore them.
      'ignore_startup_parameters = extra_float_digits,options,statement_timeout,idle_in_transaction_session_timeout',
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      `pidfile = ${join(dir, 'pgbouncer.pid')}`,
      '',
    ].join('\n'),
  );
  if (asRoot) {
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    for (const f of [dir, key, crt, ini, join(dir, 'userlist.txt')]) chownSync(f, uid, gid);
  }
  const argv = asRoot ? ['runuser', ['-u', 'postgres', '--', bin, ini]] : [bin, [ini]];
  const child = spawn(argv[0], argv[1], {
    stdio: 'ignore',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C' },
  });
  const failed = new Promise((resolve) => child.once('exit', (code) => resolve(`exited with code ${code}`)));
  const up = await Promise.race([waitForPort(port, 15_000), failed]);
  if (up !== true) {
    const logText = existsSync(join(dir, 'pgbouncer.log')) ? readFileSync(join(dir, 'pgbouncer.log'), 'utf8').slice(-1500) : '';
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`pgbouncer (${poolMode}) did not start: ${up === false ? 'no listener within 15 s' : up}\n${logText}`);
  }
  log(`PgBouncer ${poolMode} pooling on 127.0.0.1:${port}`);
  const enc = encodeURIComponent;
  const base = `postgres://${db.user}:${enc(db.password)}@`;
  const stop = stopper(child, failed, dir, 3000);
  return {
    poolMode,
    tcpUrl: `${base}127.0.0.1:${port}/${db.database}?sslmode=disable`,
    tlsUrl: `${base}localhost:${port}/${db.database}?sslmode=no-verify`,
    stop,
  };
}
