// mysql2's pools and connections across a fork. The sweep has made the child's copy of each connection dead and closed
// its socket, but the pool does not know yet: its first query in the child would take an inherited
// connection and fail on its closed socket, and a query the parent had waiting for a connection
// would run in the child too. So in every new process, before any code of the app's runs, each pool
// fails what it holds of the parent's with ForkedConnectionError (kind 'request'): the callbacks
// waiting for a connection, and every connection's running and queued commands; every inherited
// connection leaves the pool, which opens new ones on demand. A connection of its own (createConnection)
// fails the same way; mysql2 never reopens one, so the app makes a new one, as after a server restart.
import { coverOnCall } from '../guard/patch-method.js';
import { addGuarded } from '../guard/reset-list.js';
import { ForkedConnectionError } from '../shared/errors.js';
import { failConnection, failPool } from '../seams/mysql2.js';
import { currentPid, install } from '../runtime/state.js';

const covered = new WeakSet<object>();

/** Puts one core pool on the reset list, once. */
export function guardMysqlPool(pool: object): void {
  if (covered.has(pool)) return;
  covered.add(pool);
  install();
  addGuarded(pool, reset, () => 'a mysql2 pool');
}

/** Puts one core connection on the reset list, once. */
export function guardMysqlConnection(conn: object): void {
  if (covered.has(conn)) return;
  covered.add(conn);
  install();
  addGuarded(conn, resetConnection, () => 'a mysql2 connection');
}

export function isMysqlGuarded(poolOrConnection: object): boolean {
  return covered.has(poolOrConnection);
}

/** Zero code: every connection of this class is covered from its first command (src/register.ts). */
export function patchMysqlConnectionClass(proto: object): void {
  coverOnCall(proto, 'addCommand', guardMysqlConnection);
}

/** Zero code: every pool of this class is covered from its first getConnection() (src/register.ts). */
export function patchMysqlPoolClass(proto: object): void {
  coverOnCall(proto, 'getConnection', guardMysqlPool);
}

const forkedQuery = (client: string, kind: 'request' | 'connection' = 'request') => () =>
  new ForkedConnectionError({ what: 'A query', client, ownerPid: process.ppid, currentPid: currentPid(), kind });

function reset(pool: object): void {
  failPool(pool, forkedQuery('a mysql2 pool'));
}

function resetConnection(conn: object): void {
  // A query made on it after the fork: the connection is the parent's, and mysql2 never reopens one.
  failConnection(conn, forkedQuery('a mysql2 connection'), forkedQuery('a mysql2 connection', 'connection'));
}
