// The guard's wrappers of pg-pool's methods, installed once on the prototype that owns each. For a
// pool without a guard record they read one property and call through.
import { channels, publish } from '../shared/diagnostics.js';
import { describeTimeout, startLeakTimers, stopLeakTimers } from './checkout.js';
import { type Conn, CONN, POOL, type PoolGuard, connOf, isInherited, mark, newConn, requestedBeforeFork, settle, stamp } from './records.js';
import {
  type PendingItem,
  type PgClient,
  type PgPool,
  connectionTimeoutMs,
  failWaiter,
  isNativeClient,
  isPgTimeout,
  lastCreatedClient,
  pulse,
  removeClient,
} from '../seams/pg.js';
import { patchMethod } from './patch-method.js';
import { watchNative, watchSocket } from './tracking.js';
import { patchNativeBinding } from './client-patches.js';


/** Who guards a pool used without a record (the zero-code hook); undefined: nobody. */
let adoptPool: (pool: PgPool) => PoolGuard | undefined = () => undefined;
export function setPoolAdopter(fn: (pool: PgPool) => PoolGuard | undefined): void {
  adoptPool = fn;
}

// The guarded pool whose newClient() is running: the client it creates connects inside that call
// (synchronously), and the client's connect() wrapper attaches it to this pool.
let creating: { g: PoolGuard; item: PendingItem } | undefined;

/** The socket watch that fits the client: its stream's, or libpq's. */
export function watch(client: PgClient, conn: Conn): void {
  if (isNativeClient(client)) {
    mark(client.native!, CONN, conn);
    patchNativeBinding(client.native!);
    watchNative(client, conn);
  } else {
    watchSocket(client, conn);
  }
}

/** Gives a pool's new client its record and watches its socket. */
export function attach(client: PgClient, g: PoolGuard, pending: PendingItem | undefined): Conn {
  const conn = newConn(g, g.name, g.debug, g.lenient);
  stamp(conn);
  conn.pending = pending;
  mark(client, CONN, conn);
  try {
    watch(client, conn);
  } catch (err) {
    // Explicit guard(): a connection that cannot be tracked fails with the reason, never runs.
    conn.failure = err as Error;
  }
  if (g.forked) g.reconnects++;
  return conn;
}

/** For the client connect() wrapper: a client being created by a guarded pool right now. */
export function adoptPoolClient(client: PgClient): Conn | undefined {
  if (creating === undefined) return undefined;
  return attach(client, creating.g, creating.item);
}

export function patchPoolClass(proto: object): void {
  patchMethod(proto, 'connect', (connect) =>
    function connect_(this: PgPool, cb?: (err: Error | undefined, c?: PgClient, d?: unknown) => void) {
      let g = (this as { [POOL]?: PoolGuard })[POOL];
      if (g === undefined) {
        g = adoptPool(this);
        if (g === undefined) return connect.apply(this, arguments as never);
      }
      settle(g.debug);
      const timeoutMs = connectionTimeoutMs(this);
      const wantStack = g.debug || g.leakMs > 0 || g.reapMs > 0;
      if (!wantStack && timeoutMs === 0) return connect.apply(this, arguments as never);
      // Where the client was checked out (debug mode, leak detection), how long the checkout waited.
      const stack = wantStack ? (new Error('checked out').stack ?? '').split('\n').slice(2).join('\n') : undefined;
      const started = timeoutMs > 0 ? Date.now() : 0;
      const pool = this;
      const onError = (err: Error): void => {
        if (timeoutMs > 0 && err && isPgTimeout(err)) describeTimeout(err, pool, g!, Date.now() - started, timeoutMs);
      };
      const onClient = (client: PgClient | undefined): void => {
        const conn = client ? connOf(client) : undefined;
        if (!conn) return;
        conn.checkoutStack = stack;
        if (g!.leakMs > 0 || g!.reapMs > 0) startLeakTimers(client!, conn, g!.leakMs, g!.reapMs);
      };
      if (typeof cb === 'function') {
        return connect.call(this, (err: Error | undefined, client?: PgClient, done?: unknown) => {
          if (err) onError(err);
          else onClient(client);
          cb(err, client, done);
        });
      }
      return (connect.call(this) as Promise<PgClient>).then(
        (client) => {
          onClient(client);
          return client;
        },
        (err: Error) => {
          onError(err);
          throw err;
        },
      );
    },
  );

  patchMethod(proto, 'end', (end) =>
    function end_(this: PgPool) {
      const g = (this as { [POOL]?: PoolGuard })[POOL];
      if (g !== undefined) settle(g.debug);
      return end.apply(this, arguments as never);
    },
  );

  patchMethod(proto, 'newClient', (newClient) =>
    function newClient_(this: PgPool, pendingItem: PendingItem) {
      const g = (this as { [POOL]?: PoolGuard })[POOL];
      if (g === undefined) return newClient.apply(this, arguments as never);
      const outer = creating;
      creating = { g, item: pendingItem };
      try {
        newClient.apply(this, arguments as never);
      } finally {
        creating = outer;
      }
      // A Client class whose connect() does not reach pg's (a subclass that overrides it): the
      // client pg-pool just pushed is attached here; its socket cannot have connected yet.
      const client = lastCreatedClient(this);
      if (client && !connOf(client)) attach(client, g, pendingItem);
      return undefined;
    },
  );

  patchMethod(proto, '_acquireClient', (acquireClient) =>
    function _acquireClient(this: PgPool, client: PgClient, pendingItem: PendingItem) {
      const g = (this as { [POOL]?: PoolGuard })[POOL];
      const conn = g !== undefined ? connOf(client) : undefined;
      if (conn !== undefined) {
        const ownerPid = conn.pid;
        // pg-pool hands an idle client to a waiter on the next tick: the first thing a child made
        // by a fork nobody announced may run. Check here too (two loads).
        settle(conn.debug);
        if (conn.dropped) {
          // An inherited client reaching a checkout made before the fork: pg-pool's hand-over on
          // the next tick after the fork (before the reset, for a fork that ran no handler), or a
          // connection finishing its start-up (onConnect, verify). The request is the parent's.
          if (pendingItem) failWaiter(pendingItem, requestedBeforeFork(g!, ownerPid, 'A checkout (pool.connect() or pool.query())'));
          pulse(this);
          return undefined;
        }
        conn.pending = undefined;
      }
      return acquireClient.apply(this, arguments as never);
    },
  );

  patchMethod(proto, '_release', (release) =>
    function _release(this: PgPool, client: PgClient) {
      const conn = (this as { [POOL]?: PoolGuard })[POOL] !== undefined ? connOf(client) : undefined;
      if (conn !== undefined) {
        stopLeakTimers(conn);
        if (isInherited(conn)) settle(conn.debug);
        if (conn.dropped) {
          // release() / release(err) of a client checked out before the fork: it already left the pool.
          publish(channels.clientLate, () => ({ name: conn.name, ownerPid: conn.pid, what: 'release' }));
          pulse(this);
          return undefined;
        }
      }
      return release.apply(this, arguments as never);
    },
  );

  patchMethod(proto, '_remove', (remove) =>
    function _remove(this: PgPool, client: PgClient, callback?: () => void) {
      if (connOf(client)?.dropped) {
        removeClient(this, client);
        if (typeof callback === 'function') process.nextTick(callback);
        return undefined;
      }
      return remove.apply(this, arguments as never);
    },
  );
}
