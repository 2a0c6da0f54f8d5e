// postgres.js (the `postgres` package), as pg-forkguard reaches it: the only file that knows its
// shape. Its pool and connections live in closures that nothing outside can reach, so the guard
// reaches them two ways (postgres.js 3, src/query.js and src/connection.js, the same in its ESM and
// CommonJS builds):
//   - a query: the Query class (a Promise subclass) every sql`` call returns. handle() sends it on its
//     way, once; resolve() and reject() settle it; state is null until a connection runs it; its
//     handler is what handle() calls after one microtask; cancel() takes a query no connection has
//     yet out of the pool's wait queue.
//   - a connection: its socket, on which it listens with functions named error, closed and drain.
//     Emitting 'error' then 'close' there is what postgres.js sees when a connection breaks: the
//     queries it runs or is about to run fail with that error, and it goes back to the pool closed,
//     to reconnect on the next query.
type Ctor = Function & { prototype: object };

/** A postgres.js query, as far as the guard uses it. */
export interface PgJsQuery {
  executed: boolean;
  state: unknown;
  handler: (q: PgJsQuery) => unknown;
  canceller: ((q: PgJsQuery) => unknown) | null;
  resolve(value: unknown): void;
  reject(error: unknown): void;
  cancel(): unknown;
}

/** What guard() accepts as postgres.js: the `sql` function postgres() returns. */
export interface PostgresJsSql {
  (strings: TemplateStringsArray, ...args: any[]): unknown;
  unsafe(query: string, ...args: any[]): unknown;
  begin(...args: any[]): unknown;
  end(...args: any[]): unknown;
}

function isQueryClass(C: unknown): C is Ctor {
  if (typeof C !== 'function') return false;
  const p = (C as Ctor).prototype as Record<string, unknown>;
  return (
    p instanceof Promise &&
    ['handle', 'execute', 'cancel', 'simple', 'cursor'].every((m) => typeof p[m] === 'function')
  );
}

/** A postgres.js sql: a function with unsafe(), begin(), end(), reserve() and its options. */
export function isPostgresJsSql(x: unknown): x is PostgresJsSql {
  if (typeof x !== 'function') return false;
  const s = x as unknown as Record<string, unknown>;
  return (
    ['unsafe', 'begin', 'end', 'reserve', 'listen'].every((m) => typeof s[m] === 'function') &&
    typeof (s.options as { shared?: unknown } | undefined)?.shared === 'object'
  );
}

/** The Query prototype of an sql, from a query that is built and never sent (no I/O). */
export function queryProtoOfSql(sql: PostgresJsSql): object | undefined {
  const q = sql.unsafe('');
  const proto = q !== null && typeof q === 'object' ? (Object.getPrototypeOf(q) as object) : undefined;
  return proto && isQueryClass(proto.constructor) ? proto : undefined;
}

/** postgres.js's CommonJS query module, as CommonJS compiles it (src/register.ts). */
const MODULE = /[\\/]postgres[\\/]cjs[\\/]src[\\/]query\.js$/;
export function queryClassOfModule(filename: string, exports: unknown): Ctor | undefined {
  if (!MODULE.test(filename) || exports === null || typeof exports !== 'object') return undefined;
  const Q = (exports as { Query?: unknown }).Query;
  return isQueryClass(Q) ? Q : undefined;
}

/** True if handle() would send the query now: it has not been sent on its way yet. */
export function isUnsent(q: PgJsQuery): boolean {
  return !q.executed;
}

/**
 * Fails one query with `error` so that nothing sends it. One no connection runs yet (it waits in
 * the pool's queue, or for the microtask after handle(), or is the query a connection opens for)
 * is also taken out of the queue and given a handler that does nothing. One a connection runs
 * (state set) is only rejected: postgres.js's cancel() would send a CancelRequest for the backend
 * it runs on, the parent's, and the connection itself is failed through its socket.
 */
export function failQuery(q: PgJsQuery, error: Error): void {
  q.reject(error);
  if (q.state) return;
  q.handler = () => undefined;
  if (typeof q.canceller === 'function') q.cancel();
}

interface Listening {
  listeners(event: string): Function[];
  emit(event: string, ...args: unknown[]): boolean;
}

/** A socket a postgres.js connection listens on: its error, closed and drain functions. */
export function isPostgresJsSocket(socket: object): boolean {
  const s = socket as Partial<Listening>;
  if (typeof s.listeners !== 'function') return false;
  const named = (event: string, name: string) => s.listeners!(event).some((f) => f.name === name);
  return named('error', 'error') && named('close', 'closed') && named('drain', 'drain');
}

/** Breaks a postgres.js connection the way a lost socket does: 'error' with `error`, then 'close'. */
export function breakConnection(socket: object, error: Error): void {
  if (!isPostgresJsSocket(socket)) return; // postgres.js let go of it meanwhile.
  const s = socket as Listening;
  s.emit('error', error);
  // hadError false: the error is already the queries' answer, and postgres.js would otherwise count
  // a failed attempt and wait its backoff before reconnecting.
  s.emit('close', false);
}
