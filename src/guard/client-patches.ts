// The guard's wrappers of pg.Client's methods (and pg.native.Client's), installed once on the
// prototypes. For a client without a guard record they only read one property and call through
// with the caller's own arguments.
import { listClient } from './client-guard.js';
import { adoptClient } from './coverage.js';
import { dropConnection } from './drop.js';
import { patchMethod } from './patch-method.js';
import { adoptPoolClient } from './pool-guard.js';
import { type Conn, CONN, checkForFork, connOf, forkedError, isInherited, stamp } from './records.js';
import { CLIENT_METHODS, type PgClient, failQuery } from '../seams/pg.js';
import { forkGeneration } from '../runtime/state.js';

/** Who guards a client that connects without a record: a guarded pool creating it, or the zero-code entry. */
function adopt(client: PgClient): Conn | undefined {
  return adoptPoolClient(client) ?? adoptClient(client);
}

/** Wraps the methods of a pg.Client class (JavaScript or native), given its prototype. */
export function patchClientClass(proto: object, native: boolean): void {
  patchMethod(proto, CLIENT_METHODS.connect, (connect) =>
    function connect_(this: PgClient) {
      let conn = (this as { [CONN]?: Conn })[CONN];
      if (conn === undefined) conn = adopt(this);
      if (conn !== undefined) {
        checkForFork(conn.debug);
        if (conn.pool === undefined && conn.generation === undefined) {
          stamp(conn);
          listClient(this, conn);
        }
      }
      return connect.apply(this, arguments as never);
    },
  );

  patchMethod(proto, CLIENT_METHODS.query, (query) =>
    function query_(this: PgClient, config: unknown, values?: unknown, callback?: unknown) {
      const conn = (this as { [CONN]?: Conn })[CONN];
      if (conn !== undefined) {
        checkForFork(conn.debug);
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
    patchMethod(proto, CLIENT_METHODS.cancel, (cancel) =>
      function cancel_(this: PgClient) {
        const conn = connOf(this);
        if (conn !== undefined) {
          checkForFork(conn.debug);
          if (isInherited(conn)) throw forkedError(conn, 'client.cancel()');
        }
        return cancel.apply(this, arguments as never);
      },
    );
    // pg-native keeps a standalone client's connect callback in a closure: hold it here so that
    // a reset can answer it.
    patchMethod(proto, CLIENT_METHODS.nativeConnect, (nativeConnect) =>
      function nativeConnect_(this: PgClient, cb: (err: Error | null, c?: unknown) => void) {
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
  patchMethod(proto, CLIENT_METHODS.cancel, (cancel) =>
    function cancel_(this: PgClient, target: PgClient) {
      const targetConn = target !== null && typeof target === 'object' ? connOf(target) : undefined;
      if (targetConn !== undefined) {
        checkForFork(targetConn.debug);
        // The cancel key belongs to the parent's session: nothing is sent.
        if (isInherited(targetConn)) throw forkedError(targetConn, 'client.cancel()');
      }
      return cancel.apply(this, arguments as never);
    },
  );
}
