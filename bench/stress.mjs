// npm run stress [-- --forks 1000 --parallel 4 --queries 100 --transport tcp|unix|tls]
//
// The fork storm (test/fixtures/stress.mjs) on a throwaway Postgres (or DATABASE_URL): FORKS
// children one after another, then FORKS more PARALLEL at a time, each running QUERIES checked
// queries on the parent's guarded pool while the parent keeps 4 checked queries running. Bounded:
// every child has a 30 s watchdog. Exits 0 only when every count that should be zero is.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startPostgres } from '../test/harness/postgres.mjs';

const { values } = parseArgs({
  options: {
    forks: { type: 'string', default: '1000' },
    parallel: { type: 'string', default: '4' },
    queries: { type: 'string', default: '100' },
    transport: { type: 'string', default: 'tcp' },
  },
});
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const db = await startPostgres({ log: (m) => console.log(`postgres: ${m}`) });
const dir = mkdtempSync(join(tmpdir(), 'fg-stress-'));
console.log(
  `stress: ${values.forks} forks one at a time, then ${values.forks} more ${values.parallel} at a time; ` +
    `${values.queries} checked queries in each child, continuous load in the parent (${values.transport})`,
);
let code = 1;
try {
  const child = spawn(process.execPath, ['--single-threaded', join(root, 'test/fixtures/stress.mjs')], {
    env: {
      ...process.env,
      FG_RESULT_DIR: dir,
      PG_TCP_URL: db.tcpUrl,
      PG_TLS_URL: db.tlsUrl ?? '',
      PG_UNIX_URL: db.unixUrl ?? '',
      FORKS: values.forks,
      PARALLEL: values.parallel,
      CHILD_QUERIES: values.queries,
      TRANSPORT: values.transport,
      PROGRESS: '1',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const status = await new Promise((resolve) => child.on('close', (c, s) => resolve({ code: c, signal: s })));
  const r = JSON.parse(readFileSync(join(dir, 'parent.json'), 'utf8'));
  const rows = [
    ['forks', r.forks, r.forksPlanned],
    ['child queries ok', r.childQueries, r.forksPlanned * Number(values.queries)],
    ['parent queries ok', r.parentQueries, '> 0'],
    ['children with wrong results', r.wrong, 0],
    ['children with errors', r.errors, 0],
    ['children hung', r.hung, 0],
    ['children crashed', r.crashed, 0],
    ['parent wrong results', r.parentWrong, 0],
    ['parent errors', Object.values(r.parentErrors).reduce((a, b) => a + b, 0), 0],
    ['parent sessions changed', r.pidChanges, 0],
  ];
  console.log('');
  for (const [what, got, want] of rows) console.log(`  ${what.padEnd(30)} ${String(got).padStart(9)}   (want ${want})`);
  console.log(`  ${'time'.padEnd(30)} ${(r.totalMs / 1000).toFixed(1).padStart(9)} s (sequential part ${(r.sequentialMs / 1000).toFixed(1)} s)`);
  for (const f of r.failures) console.log(`\n  child ${f.i}: ${JSON.stringify(f)}`);
  const clean =
    status.code === 0 &&
    r.forks === r.forksPlanned &&
    r.childQueries === r.forksPlanned * Number(values.queries) &&
    r.parentQueries > 0 &&
    r.parentWrong === 0 &&
    r.pidChanges === 0 &&
    Object.keys(r.parentErrors).length === 0 &&
    r.wrong + r.errors + r.hung + r.crashed === 0;
  console.log(`\nstress: ${clean ? 'clean' : 'FAILED'}`);
  code = clean ? 0 : 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
  await db.stop();
}
process.exit(code);
