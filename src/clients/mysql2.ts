// mysql2's pools across a fork. The sweep has made the child's copy of each connection dead and closed
// its socket, but the pool does not know yet: its first query in the child would take an inherited
// connection and fail on its closed socket, and a query the parent had waiting for a connection
// would run in the child too. So in every new process, before any code of the app's runs, each pool
// fails what it holds of the parent's with ForkedConnectionError (kind 'request'): the callbacks
// waiting for a connection, and every connection's running and queued commands; every inherited
// connection leaves the pool, which opens new ones on demand.
import { coverOnCall } from '../guard/patch-method.js';
import { addGuarded } from '../guard/reset-list.js';
import { ForkedConnectionError } from '../shared/errors.js';
import { failPool } from '../seams/mysql2.js';
import { currentPid, install } from '../runtime/state.js';

const covered = new WeakSet<object>();

/** Puts one core pool on the reset list, once. */
export function guardMysqlPool(pool: object): void {
  if (covered.has(pool)) return;
  covered.add(pool);
  install();
  addGuarded(pool, reset, () => 'a mysql2 pool');
}

export function isMysqlGuarded(pool: object): boolean {
  return covered.has(pool);
}

/** Zero code: every pool of this class is covered from its first getConnection() (src/register.ts). */
export function patchMysqlPoolClass(proto: object): void {
  coverOnCall(proto, 'getConnection', guardMysqlPool);
}

function reset(pool: object): void {
  failPool(pool, () =>
    new ForkedConnectionError({ what: 'A query', client: 'a mysql2 pool', ownerPid: process.ppid, currentPid: currentPid(), kind: 'request' }),
  );
}
