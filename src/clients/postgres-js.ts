// postgres.js across a fork. Two layers, because its pool lives in closures (src/seams/postgres-js.ts):
//
// Its connections, always, with no code: each socket it listens on and the sweep neutralised is
// broken in the child the way a lost connection is ('error', then 'close'), with
// ForkedConnectionError (kind 'request'). The queries those connections ran or were about to run
// fail with it, none is sent again, and the connections go back to the pool closed: the child's
// first query opens a new one. This happens in a microtask queued in the new-process step, so that
// a query whose handler was already one microtask away at the fork (sql`` and fork() in the same
// tick) reaches the dead connection first and fails with it, and the app's first query, sent after
// fork() returned, finds the connection closed.
//
// Its queries, once guard(sql) was called or the CommonJS build was loaded under
// pg-forkguard/register: every query sent on its way and not yet settled is remembered, and in the
// child each fails with ForkedConnectionError wherever it waits, the pool's queue included (a query
// waiting for a free connection would otherwise be the first one a child's connection runs).
import { patchMethod } from '../guard/patch-method.js';
import { addGuarded } from '../guard/reset-list.js';
import { ForkedConnectionError } from '../shared/errors.js';
import { type PgJsQuery, type PostgresJsSql, breakConnection, failQuery, isUnsent, queryProtoOfSql } from '../seams/postgres-js.js';
import { currentPid, install } from '../runtime/state.js';

const CLIENT = 'postgres.js';
const pending = new Set<PgJsQuery>();
const guardedSql = new WeakSet<object>();
const patchedProtos = new WeakSet<object>();
let listed = false;

function forkedRequest(): ForkedConnectionError {
  return new ForkedConnectionError({ what: 'A query', client: CLIENT, ownerPid: process.ppid, currentPid: currentPid(), kind: 'request' });
}

/** Zero code (CommonJS) and guard(sql): every query of this Query class is remembered until it settles. */
export function patchQueryClass(proto: object): void {
  patchedProtos.add(proto);
  patchMethod(proto, 'handle', (original) =>
    function (this: PgJsQuery) {
      if (isUnsent(this)) remember(this);
      return original.call(this);
    },
  );
}

/**
 * Until the query settles. Not with a then() of its own: that would mark a rejection the app never
 * handles as handled, where postgres.js reports it as unhandled.
 */
function remember(q: PgJsQuery): void {
  if (!listed) {
    listed = true;
    install();
    addGuarded(pending, resetQueries, () => 'postgres.js queries');
  }
  pending.add(q);
  const { resolve, reject } = q;
  q.resolve = (x) => (pending.delete(q), resolve(x));
  q.reject = (e) => (pending.delete(q), reject(e));
}

/** guard(sql): its Query class remembered, as under the zero-code entry. */
export function guardPostgresJs(sql: PostgresJsSql): void {
  if (guardedSql.has(sql)) return;
  const proto = queryProtoOfSql(sql);
  if (proto) patchQueryClass(proto);
  guardedSql.add(sql);
}

/** guard(sql) was called, or its Query class is covered (the register hook, CommonJS build). */
export function isPostgresJsGuarded(sql: PostgresJsSql): boolean {
  if (guardedSql.has(sql)) return true;
  const proto = queryProtoOfSql(sql);
  return proto !== undefined && patchedProtos.has(proto);
}

function resetQueries(): void {
  const queries = [...pending];
  pending.clear();
  for (const q of queries) failQuery(q, forkedRequest());
}

/** A swept socket of a postgres.js connection (src/runtime/swept-sockets.ts): closed now, broken next microtask. */
export function closePostgresJsSocket(socket: { destroy(): unknown }): void {
  socket.destroy();
  queueMicrotask(() => breakConnection(socket, forkedRequest()));
}
