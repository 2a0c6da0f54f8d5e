// What a guarded pool does once in every new process: every connection inherited from the parent
// leaves (without a byte written), every request made before the fork is refused here (it belongs
// to the parent, which serves it: at most once), and the pool reconnects lazily for new requests.
import { channels, publish } from '../shared/diagnostics.js';
import { CONN, type Conn, POOL, type PoolGuard, connOf, isInherited, mark, newConn, requestedBeforeFork } from './records.js';
import { type Dropped, announceGone, callOut, dropConnection } from './drop.js';
import {
  type PendingItem,
  type PgClient,
  type PgPool,
  detachClients,
  failWaitersNextTick,
  hasEnded,
  isConnecting,
  isEnding,
  openIdleClient,
  poolClients,
  poolMax,
  pulse,
  takeWaiters,
} from '../seams/pg.js';
import { currentPid } from '../runtime/state.js';


export function resetPool(pool: PgPool, generation: number): void {
  const g = (pool as { [POOL]?: PoolGuard })[POOL]!;
  if (hasEnded(pool)) return; // nothing left to let go of
  const ownerPid = g.pid;
  const inherited = new Set(poolClients(pool).filter((c) => connOf(c) === undefined || isInherited(connOf(c))));
  const idle = detachClients(pool, inherited);
  // Every checkout still waiting was requested before the fork: queued (pg-pool's queue, including
  // one a tick away from an idle client), or waiting on a connection still starting up.
  const waiters: PendingItem[] = takeWaiters(pool);
  const queued = waiters.length;
  const dropped: Array<[PgClient, Dropped]> = [];
  let connecting = 0;
  for (const client of inherited) {
    const conn: Conn = connOf(client) ?? mark(client, CONN, newConn(g, g.name, g.debug, g.lenient));
    if (isConnecting(client)) connecting++;
    dropped.push([client, dropConnection(client, conn)]);
    if (conn.pending) waiters.push(conn.pending);
    conn.pending = undefined;
  }
  g.pid = currentPid();
  g.droppedInherited = inherited.size;
  g.reconnects = 0;
  g.forked = true;
  // Announced before any code of this process runs: each connection's 'error' (if listened) and
  // 'end', the pool's 'remove'. The waiters' callbacks run on the next tick, as pg-pool's do.
  for (const [client, { err }] of dropped) {
    announceGone(client, err);
    callOut(() => pool.emit('remove', client));
  }
  const refusal = requestedBeforeFork(g, ownerPid, 'A checkout (pool.connect() or pool.query())');
  failWaitersNextTick(waiters, refusal);
  publish(channels.poolReset, () => ({
    pool: g.name,
    pid: g.pid,
    generation,
    dropped: inherited.size,
    idle,
    connecting,
    checkedOut: inherited.size - idle - connecting,
    refused: waiters.length,
    queued,
  }));
  if (isEnding(pool)) {
    pulse(pool);
    return;
  }
  const toOpen = Math.min(g.prefill, poolMax(pool)) - poolClients(pool).length;
  for (let i = 0; i < toOpen; i++) {
    openIdleClient(pool, (err) => publish(channels.poolPrefill, () => ({ pool: g.name, pid: g.pid, ...(err ? { error: err.message } : {}) })));
  }
  pulse(pool);
}
