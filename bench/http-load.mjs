// The load the soak and the GC bench put on a server: 16 keep-alive HTTP connections (node:http's
// Agent), each request a random key, either as fast as the server answers (each connection sends
// its next request once the last answer is in) or at a fixed rate, each request sent as it falls
// due (a 1 ms timer) and timed from then, so that a stall counts in full for every request it held
// up.
// Why not autocannon: it writes the next request on a connection the moment an answer completes,
// even one that said `Connection: close`; that request is lost with the connection, and its queue
// entry stays, so every later answer on that client is timed from the request before it. At a fixed
// rate (autocannon sends each second's quota at once) that read 720-825 ms p99 for a prefork server
// whose workers shed 12 connections in all (src/prefork/balance.ts). A server may close any keep-alive
// connection after a response; a client that measures has to handle it as browsers and Agents do.
import { Agent, request } from 'node:http';

const CONNECTIONS = 16;

/** { requests: { average }, latency: { p50, p99, max }, windows, errors, errorCodes, non2xx, connections }
 * for `seconds` of load on 127.0.0.1:`port`; `rate` requests/s in all, or 0 for as fast as it
 * answers. Latencies in ms. `windows` is [{ fromS, n, p99, max }] per `windowSeconds` by when each
 * request fell due (the soak's 30 s, its memory samples' step, or 1 s), so that a startup transient,
 * a stall and a steady state can be told apart. `connections` counts every connection opened, the
 * first 16 included. */
export async function load(port, seconds, rate = 0, windowSeconds = 30) {
  // 'fifo': every connection in turn, as autocannon's clients are. With 'lifo' (the default) at a
  // low rate a few connections sit idle past the server's keepAliveTimeout (5 s), and a request
  // sent as the server closes one fails (a 10-minute soak had one failure on each side).
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS, maxFreeSockets: CONNECTIONS, scheduling: 'fifo' });
  let connections = 0;
  const create = agent.createConnection.bind(agent);
  agent.createConnection = (...args) => (connections++, create(...args));
  let latencies = new Float64Array(1 << 16);
  let dues = new Float64Array(1 << 16);
  let n = 0;
  let errors = 0;
  const errorCodes = {};
  let non2xx = 0;
  const grow = (a) => {
    const bigger = new Float64Array(a.length * 2);
    bigger.set(a);
    return bigger;
  };
  const record = (due, ms) => {
    if (n === latencies.length) [latencies, dues] = [grow(latencies), grow(dues)];
    dues[n] = due;
    latencies[n++] = ms;
  };
  const one = (due) =>
    new Promise((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: `/${Math.floor(Math.random() * 1e6)}`, agent }, (res) => {
        res.on('data', () => {});
        res.on('end', () => {
          if (res.statusCode !== 200) non2xx++;
          record(due, performance.now() - due);
          resolve();
        });
      });
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
      req.on('error', (err) => {
        errors++;
        errorCodes[err.code ?? err.message] = (errorCodes[err.code ?? err.message] ?? 0) + 1;
        resolve();
      });
      req.end();
    });
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  if (rate > 0) {
    const inFlight = new Set();
    let sent = 0;
    await new Promise((resolve) => {
      const tick = setInterval(() => {
        const now = performance.now();
        if (now >= end) {
          clearInterval(tick);
          return resolve();
        }
        // Every request due by now, each timed from its own due time.
        for (const due = (now - t0) * (rate / 1000); sent < due; sent++) {
          const p = one(t0 + (sent * 1000) / rate);
          inFlight.add(p);
          void p.then(() => inFlight.delete(p));
        }
      }, 1);
    });
    await Promise.all(inFlight);
  } else {
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (performance.now() < end) await one(performance.now());
      }),
    );
  }
  const elapsed = (performance.now() - t0) / 1000;
  agent.destroy();
  const at = (sorted, q) => (sorted.length ? Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] * 10) / 10 : 0);
  const byWindow = [];
  for (let i = 0; i < n; i++) {
    const w = Math.floor((dues[i] - t0) / 1000 / windowSeconds);
    (byWindow[w] ??= []).push(latencies[i]);
  }
  const windows = [...byWindow.entries()]
    .filter(([, l]) => l)
    .map(([w, l]) => {
      const sorted = Float64Array.from(l).sort();
      return { fromS: w * windowSeconds, n: sorted.length, p99: at(sorted, 0.99), max: at(sorted, 1) };
    });
  const sorted = latencies.subarray(0, n).sort();
  return {
    requests: { average: Math.round((n / elapsed) * 100) / 100, total: n },
    latency: { p50: at(sorted, 0.5), p99: at(sorted, 0.99), max: at(sorted, 1) },
    windows,
    errors,
    errorCodes,
    non2xx,
    connections,
  };
}
