// mysql2's pools, as pg-forkguard reaches them: the only file that knows their shape. What it relies
// on (mysql2 3, lib/base/pool.js and lib/base/connection.js): a pool's getConnection() (every query
// goes through it), its _connectionQueue of callbacks waiting for a connection and its
// _allConnections; and a connection's _handleFatalError(err), what mysql2 itself does when the
// connection breaks: its running and queued commands fail with err, it leaves its pool, and it
// takes no more commands.
type Ctor = Function & { prototype: object };

interface Denque<T> {
  length: number;
  shift(): T | undefined;
  toArray?(): T[];
}

export interface MysqlPoolLike {
  getConnection(...args: any[]): unknown;
  releaseConnection(...args: any[]): unknown;
  end(...args: any[]): unknown;
}

interface CorePool extends MysqlPoolLike {
  _connectionQueue: Denque<(err: Error | null, conn?: unknown) => void>;
  _allConnections: Denque<CoreConnection>;
}

interface CoreConnection {
  _handleFatalError(err: Error): void;
  _fatalError?: unknown;
  addCommand(cmd: object): unknown;
  emit(event: string, ...args: unknown[]): boolean;
}

function isCoreConnection(x: unknown): x is CoreConnection {
  if (x === null || typeof x !== 'object') return false;
  const c = x as Partial<CoreConnection> & { query?: unknown; execute?: unknown };
  return (
    typeof c._handleFatalError === 'function' &&
    typeof c.addCommand === 'function' &&
    typeof c.query === 'function' &&
    typeof c.execute === 'function'
  );
}

/** The core connection of a mysql2 connection: itself, or what a mysql2/promise connection wraps (.connection). */
export function coreConnectionOf(x: unknown): object | undefined {
  if (isCoreConnection(x)) return x;
  const inner = (x as { connection?: unknown } | null)?.connection;
  return isCoreConnection(inner) ? inner : undefined;
}

/** mysql2's connection base class module, as CommonJS compiles it (src/register.ts). */
const CONNECTION_MODULE = /[\\/]mysql2[\\/]lib[\\/]base[\\/]connection\.js$/;
export function connectionClassOfModule(filename: string, exports: unknown): Ctor | undefined {
  if (!CONNECTION_MODULE.test(filename) || typeof exports !== 'function') return undefined;
  const proto = (exports as Ctor).prototype as Record<string, unknown>;
  return typeof proto.addCommand === 'function' && typeof proto._handleFatalError === 'function' ? (exports as Ctor) : undefined;
}

/**
 * Fails a connection as mysql2 does when it breaks: its running and queued commands fail with
 * `error`, it leaves its pool, and every command added to it from now on fails with `later` (by
 * default the same: a pool hands a free connection over on the next tick, so a query made before
 * the fork may reach it after), not mysql2's "closed state". False if it had already failed.
 */
export function failConnection(conn: object, error: () => Error, later: () => Error = error): boolean {
  if (!isCoreConnection(conn) || conn._fatalError) return false;
  conn._handleFatalError(error());
  conn.addCommand = (cmd: { onResult?(err: Error): void }) => {
    if (cmd.onResult) cmd.onResult(later());
    else conn.emit('error', later());
  };
  return true;
}

function isCorePool(x: unknown): x is CorePool {
  if (x === null || typeof x !== 'object') return false;
  const p = x as Partial<CorePool>;
  return (
    typeof p.getConnection === 'function' &&
    typeof p.releaseConnection === 'function' &&
    typeof p._connectionQueue?.shift === 'function' &&
    typeof p._allConnections?.shift === 'function'
  );
}

/** The core pool of a mysql2 pool: itself, or what a mysql2/promise pool wraps (.pool). */
export function corePoolOf(x: unknown): object | undefined {
  if (isCorePool(x)) return x;
  const inner = (x as { pool?: unknown } | null)?.pool;
  return isCorePool(inner) ? inner : undefined;
}

/** mysql2's pool class module, as CommonJS compiles it (src/register.ts). */
const MODULE = /[\\/]mysql2[\\/]lib[\\/](?:base[\\/])?pool\.js$/;
export function poolClassOfModule(filename: string, exports: unknown): Ctor | undefined {
  if (!MODULE.test(filename) || typeof exports !== 'function') return undefined;
  const proto = (exports as Ctor).prototype as Partial<MysqlPoolLike>;
  return typeof proto.getConnection === 'function' && typeof proto.releaseConnection === 'function' ? (exports as Ctor) : undefined;
}

/**
 * Fails what the pool holds of the parent's: the callbacks waiting for a connection, then every
 * connection (its running and queued commands fail, it leaves the pool). Returns how many of each.
 */
export function failPool(pool: object, error: () => Error): { waiting: number; connections: number } {
  if (!isCorePool(pool)) return { waiting: 0, connections: 0 };
  let waiting = 0;
  for (let cb = pool._connectionQueue.shift(); cb; cb = pool._connectionQueue.shift()) {
    waiting++;
    try {
      cb(error());
    } catch {
      // The app's callback threw: its request failed either way.
    }
  }
  const conns = pool._allConnections.toArray?.() ?? [];
  let connections = 0;
  for (const c of conns) if (failConnection(c, error)) connections++;
  return { waiting, connections };
}
