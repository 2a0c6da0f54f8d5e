// A pre-fork HTTP server: the master opens a guarded pool and the listening socket, then forks
// WORKERS workers that all accept on that socket and serve queries through the same pool object,
// each on connections of its own (the master's are dropped in every worker before it runs).
// The master restarts a worker that dies and stops them all on SIGTERM/SIGINT.
//
//   DATABASE_URL=postgres://... node --single-threaded examples/prefork-http/server.mjs
//   curl localhost:8080/square/12   ->  {"n":12,"square":144,"worker":12345}
//
// Env: PORT (8080; 0 picks one and prints it), WORKERS (2).
import { createServer } from 'node:http';
import pg from 'pg';
import { fork, guard, waitpid } from '../../dist/index.js';

const WORKERS = Number(process.env.WORKERS ?? 2);
const pool = guard(new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 }), { name: 'http' });
await pool.query('SELECT 1'); // the master checks the database once; workers reconnect on their own

const server = createServer(async (req, res) => {
  const m = /^\/square\/(-?\d+)$/.exec(req.url ?? '');
  if (!m) {
    res.writeHead(404).end();
    return;
  }
  try {
    const n = Number(m[1]);
    const { rows } = await pool.query('SELECT $1::int AS n, $1::int * $1::int AS square', [n]);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ...rows[0], worker: process.pid }));
  } catch (err) {
    res.writeHead(500).end(String(err?.message ?? err));
  }
});
await new Promise((resolve) => server.listen(Number(process.env.PORT ?? 8080), '127.0.0.1', resolve));
const port = server.address().port;

const workers = new Set();
let stopping = false;
let isWorker = false;

function startWorker() {
  if (isWorker) return;
  const pid = fork();
  if (pid === 0) {
    // A worker: serve until told to stop. (Its copy of `workers` lists its elder siblings: not its.)
    isWorker = true;
    workers.clear();
    process.on('SIGTERM', () => {
      server.close();
      pool.end().finally(() => process.exit(0));
    });
    return;
  }
  workers.add(pid);
  waitpid(pid).then((status) => {
    workers.delete(pid);
    if (!stopping && !isWorker) {
      console.error(`worker ${pid} exited (${JSON.stringify(status)}): starting another`);
      startWorker();
    }
  });
}

for (let i = 0; i < WORKERS && !isWorker; i++) startWorker();

if (!isWorker) {
  // The master: it no longer accepts (its copy of the listening socket closes; the workers keep
  // theirs) and holds no connections of its own.
  server.close();
  await pool.end();
  console.log(JSON.stringify({ port, master: process.pid, workers: [...workers] }));
  const stop = () => {
    stopping = true;
    for (const pid of workers) process.kill(pid, 'SIGTERM');
    const done = () => (workers.size === 0 ? process.exit(0) : setTimeout(done, 20));
    done();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
