// Guarded vs bare pg.Pool: pool.query('SELECT 1') throughput at a given concurrency, in interleaved
// rounds so that drift hits both alike. The bare pool comes from a second copy of pg whose classes
// the guard never patches. Prints per-round rates
// and the guarded/bare ratio of each pair. With `stub` for the url, against the protocol stand-in
// (client side only: the worst case for the ratio).
//   node bench/throughput.mjs <url|stub> <concurrency> [rounds] [ms] [control]
// `control`: the "guarded" pool is left bare too (two bare copies of pg): the noise floor.
import pg from 'pg';
import { guard } from '../dist/index.js';
import { barePg, emit, median } from './lib.mjs';
import { startStub } from './stub-server.mjs';

const [url, conc = '1', roundsArg = '10', msArg = '1000', control] = process.argv.slice(2);
const concurrency = Number(conc);
const rounds = Number(roundsArg);
const ms = Number(msArg);
const stub = url === 'stub' ? await startStub() : undefined;
const config = stub ? { ...stub.config, max: concurrency } : { connectionString: url, max: concurrency };
const bare = new (barePg().Pool)(config);
const guarded = control === 'control' ? new pg.Pool(config) : guard(new pg.Pool(config), { name: 'bench' });

// Also the CPU time this process spent per query in the round (user + system; with the stub the
// server side is in-process too): steadier than wall-clock rates on a shared machine.
let lastCpuPerQuery = 0;
async function round(pool) {
  const end = performance.now() + ms;
  const cpu0 = process.cpuUsage();
  let n = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        await pool.query('SELECT 1');
        n++;
      }
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  lastCpuPerQuery = (cpu.user + cpu.system) / n;
  return (n * 1000) / ms;
}

// Warm both (connections open, JIT warm).
for (const p of [bare, guarded]) await Promise.all(Array.from({ length: concurrency }, () => p.query('SELECT 1')));
await round(bare);
await round(guarded);
const pairs = [];
// Alternate which goes first (A B, B A, ...): whatever the first round leaves behind (GC debt,
// server-side state) must not always land on the same side.
for (let i = 0; i < rounds; i++) {
  let b, g, bCpu, gCpu;
  if (i % 2 === 0) {
    b = await round(bare);
    bCpu = lastCpuPerQuery;
    g = await round(guarded);
    gCpu = lastCpuPerQuery;
  } else {
    g = await round(guarded);
    gCpu = lastCpuPerQuery;
    b = await round(bare);
    bCpu = lastCpuPerQuery;
  }
  pairs.push({ bare: b, guarded: g, ratio: g / b, bareCpuUs: bCpu, guardedCpuUs: gCpu, cpuRatio: gCpu / bCpu });
}
const ratios = pairs.map((p) => p.ratio);
emit({
  server: stub ? 'stub' : 'postgres',
  concurrency,
  rounds,
  msPerRound: ms,
  bareQps: median(pairs.map((p) => p.bare)),
  guardedQps: median(pairs.map((p) => p.guarded)),
  ratio: median(ratios),
  ratioMin: Math.min(...ratios),
  ratioMax: Math.max(...ratios),
  // CPU µs per query, guarded / bare (median of the pairs): above 1 is what the guard costs.
  bareCpuUs: median(pairs.map((p) => p.bareCpuUs)),
  guardedCpuUs: median(pairs.map((p) => p.guardedCpuUs)),
  cpuRatio: median(pairs.map((p) => p.cpuRatio)),
  pairs,
});
await bare.end();
await guarded.end();
stub?.close();
