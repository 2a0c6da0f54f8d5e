// Guarded pg.Clients that belong to no guarded pool (knex, slonik and others keep their own pools
// of them). One is on the reset list only while its connection is open.
import { CONN, type Conn, connOf, debugDefault, isInherited, mark, newConn, stamp } from './records.js';
import { announceGone, callOut, dropConnection, swallow } from './drop.js';
import { type PgClient, hasStarted } from '../seams/pg.js';
import { enableLoopPidCheck } from '../runtime/state.js';
import { watch } from './tracking.js';
import { type GuardedEntry, addGuarded, removeGuarded } from './reset-list.js';

let clientCount = 0;
const entries = new WeakMap<Conn, GuardedEntry>();

function onReset(client: object): void {
  resetClient(client as PgClient);
}

/** A standalone guarded client started connecting: it goes on the reset list. */
export function listClient(client: PgClient, conn: Conn): void {
  if (entries.has(conn)) return;
  const name = conn.name;
  entries.set(conn, addGuarded(client, onReset, () => `client "${name}"`));
}

function unlisted(conn: Conn): void {
  const entry = entries.get(conn);
  if (entry) removeGuarded(entry);
  entries.delete(conn);
}

/** Guards one client; `lenient` (the zero-code entry): what cannot be guarded at the fd level runs unguarded. */
export function guardClient(client: PgClient, options: { name?: string; debug?: boolean }, lenient: boolean): Conn {
  const name = options.name ?? `client-${++clientCount}`;
  const conn = newConn(undefined, name, options.debug ?? debugDefault(), lenient);
  conn.onClosed = () => unlisted(conn);
  watch(client, conn); // throws (before anything is changed) if an open socket cannot be tracked
  mark(client, CONN, conn);
  if (conn.debug) enableLoopPidCheck();
  if (hasStarted(client)) {
    stamp(conn);
    listClient(client, conn);
  }
  return conn;
}

function resetClient(client: PgClient): void {
  const conn = connOf(client);
  if (!conn || conn.dropped || !isInherited(conn)) return;
  unlisted(conn);
  const listened = client.listenerCount('error') > 0;
  const { err, connectCallback } = dropConnection(client, conn);
  if (connectCallback) {
    // A connect() requested before the fork: the parent's, so its copy here fails.
    client.on('error', swallow);
    process.nextTick(() => callOut(() => connectCallback(err)));
    return;
  }
  if (!listened) {
    process.emitWarning(`pg-forkguard: ${err.message}`, { code: 'FORKGUARD_CLIENT_DROPPED' });
  }
  announceGone(client, err);
}
