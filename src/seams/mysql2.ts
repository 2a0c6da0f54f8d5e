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
  _allConnections: Denque<{
    _handleFatalError?(err: Error): void;
    _fatalError?: unknown;
    addCommand?(cmd: object): unknown;
    emit?(event: string, ...args: unknown[]): boolean;
  }>;
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
  for (const c of conns) {
    if (c._fatalError || typeof c._handleFatalError !== 'function') continue;
    connections++;
    c._handleFatalError(error());
    // A command added from now on (a query whose callback already held this connection: mysql2
    // hands a free one over on the next tick) fails with the same error, not mysql2's "closed state".
    c.addCommand = (cmd: { onResult?(err: Error): void }) => {
      if (cmd.onResult) cmd.onResult(error());
      else c.emit?.('error', error());
    };
  }
  return { waiting, connections };
}
