// The guard's wrappers of pg-pool's methods, installed once on the prototype that owns each. For a
// pool without a guard record they read one property and call through.
import { channels, publish } from '../shared/diagnostics.js';
import { describeTimeout, startLeakTimers, stopLeakTimers } from './checkout.js';
import { patchClientClass } from './client-patches.js';
import { adoptPool } from './coverage.js';
import { attach, whileCreating } from './pool-guard.js';
import { POOL, type PoolGuard, checkForFork, connOf, isInherited, requestedBeforeFork } from './records.js';
import {
  type PendingItem,
  POOL_METHODS,
  clientClassOf,
  type PgClient,
  type PgPool,
  connectionTimeoutMs,
  failWaiter,
  isNativeClientClass,
  isPgTimeout,
  lastCreatedClient,
  pulse,
  removeClient,
} from '../seams/pg.js';
import { patchMethod } from './patch-method.js';


export function patchPoolClass(proto: object): void {
  patchMethod(proto, POOL_METHODS.connect, (connect) =>
    function connect_(this: PgPool, cb?: (err: Error | undefined, c?: PgClient, d?: unknown) => void) {
      let g = (this as { [POOL]?: PoolGuard })[POOL];
      if (g === undefined) {
        g = adoptPool(this);
        if (g === undefined) return connect.apply(this, arguments as never);
        // Its Client class, if the zero-code entry did not see it compiled (guard() does the same).
        const Client = clientClassOf(this);
        patchClientClass(Client.prototype, isNativeClientClass(Client));
      }
      checkForFork(g.debug);
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

  patchMethod(proto, POOL_METHODS.end, (end) =>
    function end_(this: PgPool) {
      const g = (this as { [POOL]?: PoolGuard })[POOL];
      if (g !== undefined) checkForFork(g.debug);
      return end.apply(this, arguments as never);
    },
  );

  patchMethod(proto, POOL_METHODS.newClient, (newClient) =>
    function newClient_(this: PgPool, pendingItem: PendingItem) {
      const g = (this as { [POOL]?: PoolGuard })[POOL];
      if (g === undefined) return newClient.apply(this, arguments as never);
      whileCreating(g, pendingItem, () => newClient.apply(this, arguments as never));
      // A Client class whose connect() does not reach pg's (a subclass that overrides it): the
      // client pg-pool just pushed is attached here; its socket cannot have connected yet.
      const client = lastCreatedClient(this);
      if (client && !connOf(client)) attach(client, g, pendingItem);
      return undefined;
    },
  );

  patchMethod(proto, POOL_METHODS.acquireClient, (acquireClient) =>
    function acquireClient_(this: PgPool, client: PgClient, pendingItem: PendingItem) {
      const g = (this as { [POOL]?: PoolGuard })[POOL];
      const conn = g !== undefined ? connOf(client) : undefined;
      if (conn !== undefined) {
        const ownerPid = conn.pid;
        // pg-pool hands an idle client to a waiter on the next tick: the first thing a child made
        // by a fork nobody announced may run. Check here too (two loads).
        checkForFork(conn.debug);
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

  patchMethod(proto, POOL_METHODS.release, (release) =>
    function release_(this: PgPool, client: PgClient) {
      const conn = (this as { [POOL]?: PoolGuard })[POOL] !== undefined ? connOf(client) : undefined;
      if (conn !== undefined) {
        stopLeakTimers(conn);
        if (isInherited(conn)) checkForFork(conn.debug);
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

  patchMethod(proto, POOL_METHODS.remove, (remove) =>
    function remove_(this: PgPool, client: PgClient, callback?: () => void) {
      if (connOf(client)?.dropped) {
        removeClient(this, client);
        if (typeof callback === 'function') process.nextTick(callback);
        return undefined;
      }
      return remove.apply(this, arguments as never);
    },
  );
}
