import { startPostgres } from './postgres.mjs';

/** One throwaway cluster per test run, shared by every test file through inject('pg'). */
export default async function setup(project) {
  const db = await startPostgres({ log: (m) => console.log(`[harness] ${m}`) });
  project.provide('pg', {
    source: db.source,
    tcpUrl: db.tcpUrl,
    tlsUrl: db.tlsUrl,
    unixUrl: db.unixUrl,
    restartArgv: db.restartArgv ?? null,
  });
  return async () => {
    await db.stop();
  };
}
