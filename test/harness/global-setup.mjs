import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startMariaDb } from './mariadb.mjs';
import { startPgBouncer } from './pgbouncer.mjs';
import { startPostgres } from './postgres.mjs';
import { startRedis } from './redis.mjs';

/** One throwaway cluster per test run, shared by every test file through inject('pg'), with a
 * PgBouncer per pooling mode in front of it (inject('pgbouncer')) when the cluster is ours; and a
 * redis-server and a MariaDB for the other clients an app holds (inject('servers')). */
export default async function setup(project) {
  const log = (m) => console.log(`[harness] ${m}`);
  // Tests and their fixtures load the test build of the addon (native/napi/test-exports.cc) in
  // place of the shipped one, through a test-only preload that every process of the run inherits
  // (test/support/test-addon.cjs); test:asan builds the test build with ASan.
  const testBuild = fileURLToPath(new URL('../../build/Release/pg_forkguard_test.node-test', import.meta.url));
  if (!existsSync(testBuild)) throw new Error(`no test build of the addon at ${testBuild}: run npm run build:native`);
  const preload = `--require ${fileURLToPath(new URL('../support/test-addon.cjs', import.meta.url))}`;
  if (!(process.env.NODE_OPTIONS ?? '').includes(preload)) {
    process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} ${preload}`.trim();
  }
  // The other servers start while Postgres does; each is a loud failure when missing.
  const others = Promise.allSettled([startRedis({ log }), startMariaDb({ log })]);
  let db;
  try {
    db = await startPostgres({ log });
  } catch (err) {
    for (const r of await others) if (r.status === 'fulfilled') await r.value.stop();
    throw err;
  }
  const settled = await others;
  const [redis, mariadb] = settled.map((r) => (r.status === 'fulfilled' ? r.value : null));
  if (!redis || !mariadb) {
    await Promise.all([redis?.stop(), mariadb?.stop(), db.stop()]);
    throw settled.find((r) => r.status === 'rejected').reason;
  }
  project.provide('servers', { redisUrl: redis.url, mysqlUrl: mariadb.url });
  project.provide('pg', {
    source: db.source,
    tcpUrl: db.tcpUrl,
    tlsUrl: db.tlsUrl,
    unixUrl: db.unixUrl,
    restartArgv: db.restartArgv ?? null,
  });
  // With DATABASE_URL, PgBouncer goes in front of that server.
  const u = new URL(db.tcpUrl);
  const target = db.port
    ? db
    : { host: u.hostname, port: Number(u.port || 5432), user: decodeURIComponent(u.username), password: decodeURIComponent(u.password), database: u.pathname.slice(1) || 'postgres' };
  const bouncers = [];
  {
    try {
      for (const mode of ['session', 'transaction']) bouncers.push(await startPgBouncer(target, mode, { log }));
    } catch (err) {
      await Promise.all(bouncers.map((b) => b.stop()));
      await Promise.all([redis.stop(), mariadb.stop(), db.stop()]);
      throw err;
    }
  }
  project.provide(
    'pgbouncer',
    Object.fromEntries(bouncers.map((b) => [b.poolMode, { tcpUrl: b.tcpUrl, tlsUrl: b.tlsUrl }])),
  );
  return async () => {
    await Promise.all(bouncers.map((b) => b.stop()));
    await Promise.all([redis.stop(), mariadb.stop(), db.stop()]);
  };
}
