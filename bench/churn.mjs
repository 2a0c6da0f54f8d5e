// 100k connect/disconnect cycles of a guarded pool: the fd registry and the process's memory stay
// flat. The server is a minimal stand-in speaking just enough of the Postgres protocol (startup ->
// AuthenticationOk, ReadyForQuery; Terminate -> close), so that the cycles measure the client side
// and not SCRAM or backend start-up. A bare pg.Pool runs the same for comparison.
//   node --expose-gc bench/churn.mjs guarded|bare [cycles]
import pg from 'pg';
import { guard } from '../dist/index.js';
import { nativeCounters } from '../test/support/native-test.js';
import { emit } from './lib.mjs';
import { startStub } from './stub-server.mjs';

const MODE = process.argv[2] ?? 'guarded';
const CYCLES = Number(process.argv[3] ?? 100_000);
const stub = await startStub();
const pool = new pg.Pool({ ...stub.config, max: 4 });
if (MODE === 'guarded') guard(pool, { name: 'churn' });

const samples = [];
const sample = async (cycles) => {
  await new Promise((r) => setTimeout(r, 50)); // closes land
  global.gc?.();
  const m = process.memoryUsage();
  samples.push({ cycles, tracked: nativeCounters().tracked, rssMiB: m.rss / 2 ** 20, heapMiB: m.heapUsed / 2 ** 20 });
};
await sample(0);
const started = performance.now();
for (let i = 1; i <= CYCLES; i++) {
  const c = await pool.connect();
  c.release(true); // destroy: every cycle is a new connection
  if (i % (CYCLES / 10) === 0) await sample(i);
}
emit({ mode: MODE, cycles: CYCLES, seconds: (performance.now() - started) / 1000, samples });
await pool.end();
stub.close();
