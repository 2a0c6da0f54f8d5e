// A pre-fork HTTP server: the master loads the app and opens its pool and listening socket once,
// prefork() forks the workers that share them. Each worker reconnects its pool on demand; the
// master supervises (respawn, SIGTERM/SIGINT stop, SIGHUP reload).
//
//   DATABASE_URL=postgres://... node --single-threaded examples/prefork-http/server.mjs
//   curl localhost:8080/square/12   ->  {"n":12,"square":144,"worker":0}
//
// Env: PORT (8080; 0 picks one and prints it), WORKERS (os.availableParallelism()).
import { createServer } from 'node:http';
import pg from 'pg';
import { guard, prefork } from '../../dist/index.js';

const pool = guard(new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 }), { name: 'http' });
let worker = -1;
const server = createServer(async (req, res) => {
  const m = /^\/square\/(-?\d+)$/.exec(req.url ?? '');
  if (!m) return res.writeHead(404).end();
  try {
    const { rows } = await pool.query('SELECT $1::int AS n, $1::int * $1::int AS square', [Number(m[1])]);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ...rows[0], worker }));
  } catch (err) {
    res.writeHead(500).end(String(err?.message ?? err));
  }
});
await new Promise((resolve) => server.listen(Number(process.env.PORT ?? 8080), '127.0.0.1', resolve));
const { port } = server.address(); // the master's copy closes in prefork(): the workers accept

const master = prefork({
  workers: process.env.WORKERS ? Number(process.env.WORKERS) : undefined,
  worker: ({ id }) => void (worker = id),
  stop: () => pool.end(),
});
if (!master.isWorker) {
  master.on('exit', (w) => w.expected || console.error(`worker ${w.id} (pid ${w.pid}) died: ${w.signal ?? w.code}`));
  console.log(JSON.stringify({ port, master: process.pid, workers: master.workers }));
}
