// What a guarded pool does once in every new process: every connection inherited from the parent
// leaves (without a byte written), and the pool reconnects lazily.
import { debuglog } from 'node:util';
import { channels, publish } from './channels.js';
import { CONN, type Conn, POOL, type PoolGuard, connOf, isInherited, mark, newConn } from './conn.js';
import { dropConnection, swallow } from './drop.js';
import {
  type PendingItem,
  type PgClient,
  type PgPool,
  detachClients,
  isConnecting,
  poolClients,
  poolMax,
  pulse,
  requeue,
} from './pg-internals.js';
import { currentPid } from './state.js';

const log = debuglog('pgforkguard');

export function resetPool(pool: PgPool, generation: number): void {
  const g = (pool as { [POOL]?: PoolGuard })[POOL]!;
  if (pool.ended) return; // nothing left to let go of
  const inherited = new Set(poolClients(pool).filter((c) => connOf(c) === undefined || isInherited(connOf(c))));
  const idle = detachClients(pool, inherited);
  const waiters: PendingItem[] = [];
  let connecting = 0;
  for (const client of inherited) {
    const conn: Conn = connOf(client) ?? mark(client, CONN, newConn(g, g.name, g.debug, g.lenient));
    if (isConnecting(client)) connecting++;
    dropConnection(client, conn);
    client.on('error', swallow);
    const pending = conn.pending;
    conn.pending = undefined;
    if (pending && !pending.timedOut) {
      // A checkout waiting on a connection still starting up: nothing reached the server for it,
      // so it is served again here. The old item is marked so pg-pool never answers it twice.
      pending.timedOut = true;
      waiters.push({ callback: pending.callback });
    }
    process.nextTick(() => pool.emit('remove', client as PgClient));
  }
  requeue(pool, waiters);
  g.generation = generation;
  g.droppedInherited = inherited.size;
  g.reconnects = 0;
  g.forked = true;
  log(
    '%s: pid %d generation %d dropped %d inherited connections (%d idle, %d connecting, %d checked out); ' +
      '%d waiters queued',
    g.name,
    currentPid(),
    generation,
    inherited.size,
    idle,
    connecting,
    inherited.size - idle - connecting,
    pool.waitingCount,
  );
  publish(channels.poolReset, () => ({
    pool: g.name,
    pid: currentPid(),
    generation,
    dropped: inherited.size,
    idle,
    connecting,
    checkedOut: inherited.size - idle - connecting,
    waiting: pool.waitingCount,
  }));
  if (pool.ending || pool.ended) {
    pulse(pool);
    return;
  }
  const toOpen = Math.min(g.prefill, poolMax(pool)) - poolClients(pool).length;
  for (let i = 0; i < toOpen; i++) {
    pool.newClient({
      callback: (err, _client, release) => {
        if (err) log('%s: prefill connection failed: %s', g.name, err.message);
        else release?.();
      },
    });
  }
  pulse(pool);
}
