// The guard's wrappers of pg.Client's methods (and pg.native.Client's), installed once on the
// prototypes. For a client without a guard record they only read one property and call through
// with the caller's own arguments.
import { type Conn, CONN, connOf, forkedError, isInherited, settle, stamp } from './records.js';
import { dropConnection } from './drop.js';
import { type NativeBinding, type PgClient, failQuery } from '../seams/pg.js';
import { patchMethod } from './patch-method.js';
import { forkGeneration } from '../runtime/state.js';
import { untrack } from './tracking.js';

/** Who guards a client that connects without a record: a guarded pool creating it, or the hook. */
let adopt: (client: PgClient) => Conn | undefined = () => undefined;
export function setAdopter(fn: (client: PgClient) => Conn | undefined): void {
  adopt = fn;
}

/** Called when a standalone guarded client starts connecting. */
let onStandaloneConnect: (client: PgClient, conn: Conn) => void = () => {};
export function setStandaloneConnect(fn: (client: PgClient, conn: Conn) => void): void {
  onStandaloneConnect = fn;
}

/** Wraps the methods of a pg.Client class (JavaScript or native), given its prototype. */
export function patchClientClass(proto: object, native: boolean): void {
  patchMethod(proto, 'connect', (connect) =>
    function connect_(this: PgClient) {
      let conn = (this as { [CONN]?: Conn })[CONN];
      if (conn === undefined) conn = adopt(this);
      if (conn !== undefined) {
        settle(conn.debug);
        if (conn.pool === undefined && conn.generation === undefined) {
          stamp(conn);
          onStandaloneConnect(this, conn);
        }
      }
      return connect.apply(this, arguments as never);
    },
  );

  patchMethod(proto, 'query', (query) =>
    function query_(this: PgClient, config: unknown, values?: unknown, callback?: unknown) {
      const conn = (this as { [CONN]?: Conn })[CONN];
      if (conn !== undefined) {
        settle(conn.debug);
        if (conn.generation !== undefined && conn.generation !== forkGeneration()) {
          if (!conn.dropped) dropConnection(this, conn); // not reached by a reset (never lost here)
          return failQuery(this, forkedError(conn, 'client.query()'), config, values, callback);
        }
        if (conn.failure) return failQuery(this, conn.failure, config, values, callback);
      }
      return query.apply(this, arguments as never);
    },
  );

  if (native) {
    // pg.native.Client#cancel(query): PQcancel opens a new connection and sends the session's key.
    patchMethod(proto, 'cancel', (cancel) =>
      function cancel_(this: PgClient) {
        const conn = connOf(this);
        if (conn !== undefined) {
          settle(conn.debug);
          if (isInherited(conn)) throw forkedError(conn, 'client.cancel()');
        }
        return cancel.apply(this, arguments as never);
      },
    );
    // pg-native keeps a standalone client's connect callback in a closure: hold it here so that
    // a reset can answer it.
    patchMethod(proto, '_connect', (nativeConnect) =>
      function _connect(this: PgClient, cb: (err: Error | null, c?: unknown) => void) {
        const conn = connOf(this);
        if (conn === undefined || conn.pool !== undefined || typeof cb !== 'function') {
          return nativeConnect.apply(this, arguments as never);
        }
        conn.connectCallback = cb;
        return nativeConnect.call(this, (err: Error | null, c?: unknown) => {
          if (conn.dropped) return; // answered by the reset
          conn.connectCallback = undefined;
          cb(err, c);
        });
      },
    );
    return;
  }
  // pg.Client#cancel(target, query) sends the target session's cancel key from a new connection.
  patchMethod(proto, 'cancel', (cancel) =>
    function cancel_(this: PgClient, target: PgClient) {
      const targetConn = target !== null && typeof target === 'object' ? connOf(target) : undefined;
      if (targetConn !== undefined) {
        settle(targetConn.debug);
        // The cancel key belongs to the parent's session: nothing is sent.
        if (isInherited(targetConn)) throw forkedError(targetConn, 'client.cancel()');
      }
      return cancel.apply(this, arguments as never);
    },
  );
}

/**
 * pg-native's binding (`client.native`): its end() runs PQfinish, which sends Terminate. The
 * guard untracks the fd first (PQfinish closes it; the number may be reused at once), and never
 * lets a dropped connection's end() reach libpq.
 */
export function patchNativeBinding(binding: NativeBinding): void {
  patchMethod(Object.getPrototypeOf(binding) as object, 'end', (end) =>
    function end_(this: NativeBinding, cb?: () => void) {
      const conn = connOf(this);
      if (conn !== undefined) {
        if (conn.dropped) {
          if (typeof cb === 'function') setImmediate(cb);
          return undefined;
        }
        untrack(conn);
        conn.onClosed?.();
      }
      return end.apply(this, arguments as never);
    },
  );
}
