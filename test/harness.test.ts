import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';

const db = inject('pg');

async function probe(connectionString: string) {
  const c = new pg.Client({ connectionString });
  await c.connect();
  try {
    const { rows } = await c.query(
      `SELECT s.ssl, a.client_addr IS NULL AS unix,
              (SELECT setting FROM pg_settings WHERE name = 'password_encryption') AS enc
         FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid WHERE s.pid = pg_backend_pid()`,
    );
    return rows[0];
  } finally {
    await c.end();
  }
}

describe('the test harness Postgres', () => {
  it('serves TCP, unix socket and TLS connections, with SCRAM', async () => {
    expect(db.tlsUrl, `harness source ${db.source} gave no TLS URL`).toBeTruthy();
    expect(db.unixUrl, `harness source ${db.source} gave no unix socket URL`).toBeTruthy();
    expect(await probe(db.tcpUrl)).toEqual({ ssl: false, unix: false, enc: 'scram-sha-256' });
    expect(await probe(db.unixUrl!)).toEqual({ ssl: false, unix: true, enc: 'scram-sha-256' });
    expect(await probe(db.tlsUrl!)).toEqual({ ssl: true, unix: false, enc: 'scram-sha-256' });
  });

  it('authenticates: a wrong password is refused on every transport', async () => {
    for (const url of [db.tcpUrl, db.unixUrl!, db.tlsUrl!]) {
      const c = new pg.Client({ connectionString: url.replace(/:[^:@/]+@/, ':wrong@') });
      await expect(c.connect()).rejects.toThrow(/password authentication failed/);
    }
  });
});
