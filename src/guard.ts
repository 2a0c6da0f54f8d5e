import type { EventEmitter } from 'node:events';
import { debuglog } from 'node:util';
import {
  CheckoutTimeoutError,
  FdRegistryError,
  ForkedConnectionError,
  IncompatiblePoolError,
  InvalidArgumentError,
  describe,
} from './errors.js';
import { channels, publish } from './channels.js';
import { addGuarded, guardedTargets } from './pools.js';
import { severFd, trackFd, untrackFd } from './registry.js';
import { currentPid, forkGeneration, forkedSinceLastCheck, forkedSinceLastPidCheck, install } from './state.js';

const log = debuglog('pgforkguard');

// ---------------------------------------------------------------------------------------------
// Public shapes. Structural, so that the types do not depend on @types/pg being installed.

/** What guard() accepts as a pool: a pg.Pool (pg-pool 3). */
export interface PgPoolLike {
  connect(...args: any[]): unknown;
  query(...args: any[]): unknown;
  end(...args: any[]): unknown;
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
}

/** What guard() accepts as a client: a pg.Client (the JavaScript client or pg.native.Client). */
export interface PgClientLike {
  connect(...args: any[]): unknown;
  query(...args: any[]): unknown;
  end(...args: any[]): unknown;
}

export interface GuardOptions {
  /** Shown in stats(), errors and logs. Default: `pool-1`, `pool-2`, ... (`client-1` for a Client). */
  name?: string;
  /** Pid-check mode: a real getpid() on every checkout and query, checkout stacks recorded.
   * Default: true when PG_FORKGUARD_DEBUG=1. */
  debug?: boolean;
  /** Pools only: connections to open eagerly in each forked child (default 0: lazily, on demand). */
  prefill?: number;
  /** Pools only: warn (once, with the checkout stack) about a client checked out longer than this. */
  leakDetectionMs?: number;
  /** Pools only: destroy a client checked out longer than this, freeing its slot. */
  reapLeakedAfterMs?: number;
}

export interface PoolStats {
  name: string;
  /** This process. */
  pid: number;
  /** Fork generation of this process (0 where the package was loaded). */
  generation: number;
  total: number;
  idle: number;
  /** Checked out or still connecting. */
  busy: number;
  waiting: number;
  /** Connections inherited from the parent and dropped here (without a byte sent). */
  droppedInherited: number;
  /** Connections this forked process opened for itself. */
  reconnects: number;
}

// ---------------------------------------------------------------------------------------------
// pg's internals that the guard works with (pg 8, pg-pool 3).

interface Stream extends EventEmitter {
  _handle?: { fd?: number } | null;
  connecting?: boolean;
  destroyed?: boolean;
  destroy(err?: Error): void;
}

interface Query {
  submit?: unknown;
  callback?: (err: Error | null, res?: unknown) => void;
  handleError(err: Error, connection: unknown): void;
}

/** libpq's binding (the `libpq` package) under pg-native. */
interface Libpq extends EventEmitter {
  connected?: boolean;
  $socket(): number;
  $startRead(): void;
  $stopRead(): void;
}

/** pg-native's Client: `client.native` of a pg.native.Client. */
interface NativeBinding extends EventEmitter {
  pq: Libpq;
  _reading?: boolean;
  _stopReading(): void;
  end(cb?: () => void): void;
  cancel(cb: (err?: Error) => void): unknown;
}

interface PgClient extends EventEmitter {
  connection: EventEmitter & { stream: Stream; _ending: boolean };
  /** pg.native.Client only (it has no `connection`). */
  native?: NativeBinding;
  processID: number | null;
  secretKey: number | null;
  readyForQuery?: boolean;
  connectionTimeoutHandle?: ReturnType<typeof setTimeout>;
  _connecting: boolean;
  _connected: boolean;
  _ending: boolean;
  _queryable: boolean;
  _connectionCallback: ((err: Error | null, client?: unknown) => void) | null;
  _errorAllQueries(err: Error): void;
  _activeQuery: unknown;
  connect(cb?: (err: Error | null) => void): unknown;
  _connect(cb: (err: Error | null, client?: unknown) => void): unknown;
  query(config: unknown, values?: unknown, cb?: unknown): unknown;
  cancel(target: PgClient, query: unknown): void;
  end(cb?: () => void): unknown;
  [CONN]?: Conn;
}

interface PendingItem {
  callback: (err: Error | undefined, client?: PgClient, release?: (err?: Error) => void) => void;
  timedOut?: boolean;
}

interface IdleItem {
  client: PgClient;
  idleListener: (err: Error) => void;
  timeoutId?: ReturnType<typeof setTimeout>;
}

interface PgPool extends EventEmitter {
  options: { max: number; connectionTimeoutMillis?: number };
  Promise: PromiseConstructor;
  Client: { prototype: Record<string, unknown>; name?: string };
  ending: boolean;
  ended: boolean;
  _clients: PgClient[];
  _idle: IdleItem[];
  _pendingQueue: PendingItem[];
  connect(cb?: (err: Error | undefined, client?: PgClient, done?: unknown) => void): unknown;
  end(cb?: unknown): unknown;
  newClient(pendingItem: PendingItem): void;
  _acquireClient(client: PgClient, pendingItem: PendingItem, idleListener: unknown, isNew: boolean): void;
  _release(client: PgClient, idleListener: unknown, err?: Error): void;
  _remove(client: PgClient, callback?: () => void): void;
  _pulseQueue(): void;
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
  [POOL]?: PoolGuard;
}

const POOL = Symbol('pg-forkguard.pool');
const CONN = Symbol('pg-forkguard.connection');

/** One guarded pool. */
interface PoolGuard {
  name: string;
  debug: boolean;
  prefill: number;
  /** Generation whose connections the pool holds (moves at each reset). */
  generation: number;
  droppedInherited: number;
  reconnects: number;
  /** Set by a reset: this process is a fork child and counts the connections it opens. */
  forked: boolean;
}

/** One guarded connection (a pg.Client, in a pool or standalone). */
interface Conn {
  pool: PoolGuard | undefined;
  name: string;
  debug: boolean;
  /** Generation and pid of the process that opened the connection; undefined before connect(). */
  generation: number | undefined;
  pid: number;
  /** The tracked fd, -1 when none. */
  fd: number;
  dropped: boolean;
  /** The pool waiter a connecting client will be handed to. */
  pending: PendingItem | undefined;
  checkoutStack: string | undefined;
  /** Leak detection timers while checked out. */
  leakTimer: ReturnType<typeof setTimeout> | undefined;
  reapTimer: ReturnType<typeof setTimeout> | undefined;
  /** pg-native: the connect callback of a standalone client, until it is answered. */
  connectCallback: ((err: Error | null, client?: unknown) => void) | undefined;
  /** pg-native: why the connection could not be guarded; its queries fail with this. */
  failure: Error | undefined;
}

// fd -> the connection that tracked it. A closed socket's 'close' event arrives after its fd was
// closed; by then the number may belong to a newer guarded socket, which must stay tracked.
const owners = new Map<number, Conn>();

let poolCount = 0;
let clientCount = 0;

function debugDefault(): boolean {
  return process.env.PG_FORKGUARD_DEBUG === '1';
}

/** The checkout check: two loads (plus a getpid() in debug mode). Runs the reset if a fork happened. */
function settle(debug: boolean): void {
  if (debug) forkedSinceLastPidCheck();
  else forkedSinceLastCheck();
}

function isInherited(conn: Conn | undefined): boolean {
  return conn !== undefined && conn.generation !== undefined && conn.generation !== forkGeneration();
}

function forkedError(conn: Conn, what: string): ForkedConnectionError {
  return new ForkedConnectionError({
    what,
    ownerPid: conn.pid,
    currentPid: currentPid(),
    poolName: conn.pool?.name,
    checkoutStack: conn.checkoutStack,
  });
}

// ---------------------------------------------------------------------------------------------
// Tracking a connection's socket.

function fdOf(stream: Stream | undefined): number {
  const fd = stream?._handle?.fd;
  return typeof fd === 'number' ? fd : -1;
}

function track(conn: Conn, stream: Stream): void {
  const fd = fdOf(stream);
  if (fd < 0) {
    throw new FdRegistryError(
      'ERR_FORKGUARD_NO_FD',
      fd,
      `pg-forkguard cannot guard a connection of ${conn.name}: its stream (${describe(stream)}) has no ` +
        `file descriptor. Only TCP, unix-socket and TLS connections of node-postgres can be guarded; ` +
        `a custom \`stream\` option is not supported.`,
    );
  }
  trackNumber(conn, fd);
}

function trackNumber(conn: Conn, fd: number): void {
  trackFd(fd);
  if (conn.fd >= 0 && conn.fd !== fd) untrack(conn);
  conn.fd = fd;
  owners.set(fd, conn);
}

function untrack(conn: Conn): void {
  if (conn.fd >= 0 && owners.get(conn.fd) === conn) {
    owners.delete(conn.fd);
    untrackFd(conn.fd);
  }
  conn.fd = -1;
}

function isOpenSocket(stream: Stream): boolean {
  return !stream.connecting && !stream.destroyed && fdOf(stream) >= 0;
}

/**
 * Tracks the client's socket before pg can write to it: now if it is open, else on its 'connect'
 * event (prepended, so it runs before pg's own listener sends the startup packet), and again after
 * a TLS upgrade. A socket that cannot be tracked is destroyed with the reason: the connection
 * fails with that error and never runs unguarded.
 */
function watchSocket(client: PgClient, conn: Conn): void {
  const con = client.connection;
  const stream = con.stream;
  const onClose = (): void => untrack(conn);
  const trackOrFail = (s: Stream): void => {
    try {
      track(conn, s);
    } catch (err) {
      s.destroy(err as Error);
    }
  };
  if (isOpenSocket(stream)) track(conn, stream); // guard() time: let the caller see the error
  else stream.prependListener('connect', () => trackOrFail(stream));
  stream.once('close', onClose);
  con.on('sslconnect', () => {
    // The TLS stream wraps the same fd; check it is still the tracked one.
    const tls = con.stream;
    trackOrFail(tls);
    tls.once('close', onClose);
  });
}

function isNativeClient(client: PgClient): boolean {
  return client.connection === undefined && client.native !== null && typeof client.native === 'object';
}

function libpqSocket(client: PgClient): number {
  const pq = client.native?.pq;
  const fd = pq && typeof pq.$socket === 'function' ? pq.$socket() : -1;
  return typeof fd === 'number' ? fd : -1;
}

/**
 * pg-native: libpq connects on a threadpool thread (start-up and authentication included), then pg
 * emits 'connect' before it sends any query. The socket is tracked there (a prepended listener),
 * and untracked just before PQfinish closes it. A connection that cannot be tracked is never used:
 * its queries fail with the reason.
 */
function watchNative(client: PgClient, conn: Conn): void {
  const binding = client.native!;
  const trackNow = (): void => {
    const fd = libpqSocket(client);
    if (fd < 0) {
      throw new FdRegistryError(
        'ERR_FORKGUARD_NO_FD',
        fd,
        `pg-forkguard cannot guard a connection of ${conn.name}: libpq reports no socket for it ` +
          `(PQsocket() = ${fd}).`,
      );
    }
    trackNumber(conn, fd);
  };
  if (client._connected) trackNow(); // guard() time: let the caller see the error
  client.prependListener('connect', () => {
    if (conn.dropped) {
      // A connect that libpq completed in the parent's threadpool before the fork, its callback
      // run here: the socket is a live copy of the parent's new session. It gets the dead socket
      // now, and this process never reads or writes it.
      severNative(client, conn, libpqSocket(client));
      return;
    }
    try {
      trackNow();
    } catch (err) {
      conn.failure = err as Error;
      client._queryable = false;
    }
  });
  const end = binding.end;
  binding.end = function guardedNativeEnd(this: NativeBinding, cb?: () => void) {
    if (conn.dropped) {
      // Never PQfinish an inherited connection: it would send Terminate (and close_notify).
      if (typeof cb === 'function') setImmediate(cb);
      return;
    }
    untrack(conn); // before PQfinish closes the fd: the number may be reused at once
    return end.call(this, cb);
  };
}

/** Stops every libuv watcher libpq has on the connection and puts the dead socket over `fd`. */
function severNative(client: PgClient, conn: Conn, fd: number): void {
  const binding = client.native!;
  const pq = binding.pq;
  if (binding._reading) binding._stopReading();
  if (pq.listenerCount('writable') > 0 && typeof pq.$startRead === 'function') {
    // A query was being flushed: libpq's poll handle waits for writable. Switching it to readable
    // and stopping it is the binding's only way to stop that watcher.
    pq.$startRead();
    pq.$stopRead();
  }
  pq.removeAllListeners('readable');
  pq.removeAllListeners('writable');
  binding.cancel = (cb) => process.nextTick(cb, forkedError(conn, 'client.cancel()'));
  if (fd >= 0 && owners.get(fd) !== conn) {
    const rc = severFd(fd);
    if (rc !== 0) log('%s: could not put the dead socket over fd %d (code %d)', conn.name, fd, rc);
  }
}

// ---------------------------------------------------------------------------------------------
// Dropping an inherited connection: no byte written, nothing left in any bookkeeping.

function swallow(this: PgClient, err: Error): void {
  log('late error on a dropped connection: %s', err?.message);
}

function endDropped(cb?: () => void): unknown {
  if (typeof cb === 'function') {
    process.nextTick(cb);
    return undefined;
  }
  return Promise.resolve();
}

/**
 * Lets go of a connection inherited from the parent. Its fd is already a dead socket (the child
 * handler saw to that), so even a stray write would reach nothing; this makes sure pg does not try:
 * no Terminate, no TLS close_notify, no CancelRequest (the cancel key is wiped). Queries pending on
 * it fail with ForkedConnectionError. Returns the connect callback it took away, if connecting.
 */
function dropConnection(client: PgClient, conn: Conn): ((err: Error | null) => void) | null {
  conn.dropped = true;
  stopLeakTimers(conn);
  if (isNativeClient(client)) return dropNative(client, conn);
  const connectCallback = client._connectionCallback;
  client._connectionCallback = null;
  client.processID = null;
  client.secretKey = null;
  client._ending = true;
  client._queryable = false;
  client.readyForQuery = false;
  clearTimeout(client.connectionTimeoutHandle);
  client.connection._ending = true;
  client.end = endDropped as PgClient['end'];
  client._errorAllQueries(forkedError(conn, 'A query in flight when the process forked'));
  // Destroying closes this process's copy of the fd: no FIN (the parent still holds the socket)
  // and no bytes. The 'close' event then untracks it here.
  client.connection.stream.destroy();
  announceDrop(conn, 'connection', conn.fd);
  return connectCallback;
}

/** NODE_DEBUG line and `pgforkguard:client:drop` event for one inherited connection let go. */
function announceDrop(conn: Conn, what: string, fd: number): void {
  log('dropped a %s of %s opened by pid %d (fd %d)', what, conn.name, conn.pid, fd);
  publish(channels.clientDrop, () => ({
    name: conn.name,
    pool: conn.pool?.name,
    ownerPid: conn.pid,
    currentPid: currentPid(),
    fd,
  }));
}

/**
 * pg-native: the same, for a connection libpq owns. Its fd is already the dead socket; libpq's
 * reader is stopped before the loop can see the EOF (a read error would make pg end the client:
 * PQfinish, Terminate), and PQfinish is never called here (the binding's end() is guarded).
 */
function dropNative(client: PgClient, conn: Conn): ((err: Error | null) => void) | null {
  const connectCallback = conn.connectCallback ?? null;
  conn.connectCallback = undefined;
  client._ending = true;
  client._queryable = false;
  client.end = endDropped as PgClient['end'];
  // A connection still being opened by the parent's threadpool has no socket here yet (or only in
  // the parent); watchNative's 'connect' listener severs it if the callback ever runs here.
  if (client._connected) severNative(client, conn, -1);
  client._errorAllQueries(forkedError(conn, 'A query in flight when the process forked'));
  untrack(conn); // the dead socket stays open under the number libpq holds; nothing uses it
  announceDrop(conn, 'pg-native connection', libpqSocket(client));
  return connectCallback;
}

// ---------------------------------------------------------------------------------------------
// Client methods, installed on each guarded client instance. They call what the method was when
// guard() ran (an instance patch, or the prototype's: APM instrumentation that patches
// pg.Client.prototype at load time, as they do, keeps working).

function original<K extends string>(obj: object, key: K): (...args: unknown[]) => unknown {
  return (obj as Record<K, (...args: unknown[]) => unknown>)[key];
}

/** Fails a query the way pg fails one: the query object's handler, the callback, or a promise. */
function failQuery(client: PgClient, err: Error, config: unknown, values: unknown, callback: unknown): unknown {
  if (config !== null && typeof config === 'object' && typeof (config as Query).submit === 'function') {
    const query = config as Query;
    if (!query.callback) {
      if (typeof values === 'function') query.callback = values as Query['callback'];
      else if (typeof callback === 'function') query.callback = callback as Query['callback'];
    }
    process.nextTick(() => query.handleError(err, client.connection));
    return query;
  }
  const cb = typeof values === 'function' ? values : callback;
  if (typeof cb === 'function') {
    process.nextTick(cb as (e: Error) => void, err);
    return undefined;
  }
  return Promise.reject(err);
}

function guardClientMethods(client: PgClient, conn: Conn): void {
  const query = original(client, 'query');
  const cancel = original(client, 'cancel');
  client.query = function guardedQuery(this: PgClient, config: unknown, values?: unknown, callback?: unknown) {
    settle(conn.debug);
    if (conn.generation !== undefined && conn.generation !== forkGeneration()) {
      if (!conn.dropped) dropConnection(this, conn); // not reached by a reset (never lost here)
      return failQuery(this, forkedError(conn, 'client.query()'), config, values, callback);
    }
    if (conn.failure) return failQuery(this, conn.failure, config, values, callback);
    return query.call(this, config, values, callback);
  };
  if (isNativeClient(client)) {
    // pg.native.Client#cancel(query): PQcancel opens a new connection and sends the session's key.
    client.cancel = function guardedNativeCancel(this: PgClient, q: unknown) {
      settle(conn.debug);
      if (isInherited(conn)) throw forkedError(conn, 'client.cancel()');
      return (cancel as (q: unknown) => void).call(this, q);
    } as PgClient['cancel'];
    return;
  }
  client.cancel = function guardedCancel(this: PgClient, target: PgClient, q: unknown) {
    settle(conn.debug);
    const targetConn = target?.[CONN];
    if (targetConn && isInherited(targetConn)) {
      // The cancel key belongs to the parent's session: nothing is sent.
      throw forkedError(targetConn, 'client.cancel()');
    }
    return cancel.call(this, target, q) as void;
  };
}

function newConn(pool: PoolGuard | undefined, name: string, debug: boolean): Conn {
  return {
    pool,
    name,
    debug,
    generation: undefined,
    pid: currentPid(),
    fd: -1,
    dropped: false,
    pending: undefined,
    checkoutStack: undefined,
    leakTimer: undefined,
    reapTimer: undefined,
    connectCallback: undefined,
    failure: undefined,
  };
}

/** The socket watch that fits the client: its stream's, or libpq's. */
function watch(client: PgClient, conn: Conn): void {
  if (isNativeClient(client)) watchNative(client, conn);
  else watchSocket(client, conn);
}

function stamp(conn: Conn): void {
  conn.generation = forkGeneration();
  conn.pid = currentPid();
}

// ---------------------------------------------------------------------------------------------
// Standalone clients.

function guardClient(client: PgClient, options: GuardOptions): void {
  const name = options.name ?? `client-${++clientCount}`;
  const conn = newConn(undefined, name, options.debug ?? debugDefault());
  const started = client._connecting || client._connected;
  if (started) stamp(conn);
  watch(client, conn); // throws (before anything is changed) if an open socket cannot be tracked
  client[CONN] = conn;
  guardClientMethods(client, conn);
  if (isNativeClient(client)) {
    // pg-native keeps its connect callback in a closure: hold it here so a reset can answer it.
    const nativeConnect = original(client, '_connect');
    client._connect = function guardedNativeConnect(this: PgClient, cb: (err: Error | null, c?: unknown) => void) {
      conn.connectCallback = cb;
      return nativeConnect.call(this, (err: Error | null, c?: unknown) => {
        if (conn.dropped) return; // answered by the reset
        conn.connectCallback = undefined;
        cb(err, c);
      });
    };
  }
  const connect = original(client, 'connect');
  client.connect = function guardedConnect(this: PgClient, cb?: (err: Error | null) => void) {
    settle(conn.debug);
    if (conn.generation === undefined) stamp(conn);
    return connect.call(this, cb);
  };
  addGuarded(client, resetClient as (t: object, g: number) => void, () => `client "${name}"`);
}

function resetClient(client: PgClient): void {
  const conn = client[CONN];
  if (!conn || conn.dropped || !isInherited(conn)) return;
  const listened = client.listenerCount('error') > 0;
  const connectCallback = dropConnection(client, conn);
  client.on('error', swallow);
  const err = forkedError(conn, 'This guarded pg.Client');
  process.nextTick(() => {
    if (connectCallback) connectCallback(err);
    else if (listened) client.emit('error', err);
    else {
      process.emitWarning(`pg-forkguard: ${err.message}`, { code: 'FORKGUARD_CLIENT_DROPPED' });
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Pools.

function checkPoolShape(pool: PgPool): string | undefined {
  for (const key of ['_clients', '_idle', '_pendingQueue'] as const) {
    if (!Array.isArray(pool[key])) return `it has no ${key} array`;
  }
  for (const key of ['newClient', '_acquireClient', '_release', '_remove', '_pulseQueue', 'end'] as const) {
    if (typeof pool[key] !== 'function') return `it has no ${key}() method`;
  }
  if (pool.options === null || typeof pool.options !== 'object') return 'it has no options';
  const proto = pool.Client?.prototype;
  // node-postgres's JavaScript client, or pg-native's (pg.native.Client: _pulseQueryQueue, no
  // _handleReadyForQuery). Each new client's socket is checked again when it connects.
  const common = proto && typeof proto._connect === 'function' && typeof proto._errorAllQueries === 'function';
  if (!common || (typeof proto._handleReadyForQuery !== 'function' && typeof proto._pulseQueryQueue !== 'function')) {
    return (
      `its connections are made by ${describe(pool.Client)}${pool.Client?.name ? ` (${pool.Client.name})` : ''}, ` +
      `not by node-postgres's pg.Client or pg.native.Client`
    );
  }
  return undefined;
}

function checkClientShape(client: PgClient): string | undefined {
  if (isNativeClient(client)) {
    if (typeof client.native!.pq?.$socket !== 'function' || typeof client.native!.end !== 'function') {
      return 'its `native` binding is not pg-native over libpq (no pq.$socket())';
    }
  } else {
    const con = client.connection as PgClient['connection'] | undefined;
    if (!con || typeof con !== 'object' || !con.stream || typeof con.stream.prependListener !== 'function') {
      return 'it has no connection stream and no pg-native binding';
    }
  }
  for (const key of ['_connect', '_errorAllQueries', 'query', 'cancel', 'end'] as const) {
    if (typeof (client as unknown as Record<string, unknown>)[key] !== 'function') return `it has no ${key}() method`;
  }
  return undefined;
}

// pg-pool's two ways of saying connectionTimeoutMillis ran out: waiting in the queue, and connecting.
function isPgTimeout(err: Error): boolean {
  return (
    err.message === 'timeout exceeded when trying to connect' ||
    err.message === 'Connection terminated due to connection timeout'
  );
}

function checkoutTimeout(pool: PgPool, g: PoolGuard, waitedMs: number, timeoutMs: number, cause: Error): CheckoutTimeoutError {
  return new CheckoutTimeoutError(
    {
      poolName: g.name,
      max: pool.options.max,
      busy: pool.totalCount - pool.idleCount,
      idle: pool.idleCount,
      waiting: pool.waitingCount,
      waitedMs,
      timeoutMs,
    },
    cause,
  );
}

// On every release: without leak detection it only reads two fields.
function stopLeakTimers(conn: Conn): void {
  if (conn.leakTimer) {
    clearTimeout(conn.leakTimer);
    conn.leakTimer = undefined;
  }
  if (conn.reapTimer) {
    clearTimeout(conn.reapTimer);
    conn.reapTimer = undefined;
  }
}

function startLeakTimers(client: PgClient, conn: Conn, leakMs: number, reapMs: number): void {
  stopLeakTimers(conn);
  const since = Date.now();
  const where = (): string => (conn.checkoutStack ? ` Checked out at:\n${conn.checkoutStack}` : '');
  if (leakMs > 0) {
    conn.leakTimer = setTimeout(() => {
      conn.leakTimer = undefined;
      process.emitWarning(
        `pg-forkguard: pool "${conn.name}": a client has been checked out for ${Date.now() - since} ms ` +
          `(leakDetectionMs ${leakMs}) and not released.${where()}`,
        { code: 'FORKGUARD_CLIENT_LEAK' },
      );
    }, leakMs);
    conn.leakTimer.unref();
  }
  if (reapMs > 0) {
    conn.reapTimer = setTimeout(() => {
      conn.reapTimer = undefined;
      const release = (client as { release?: (err?: Error) => void }).release;
      if (typeof release !== 'function') return;
      // The holder's own release() later must not throw for a double release.
      (client as { release?: (err?: Error) => void }).release = () => {};
      const err = new Error(`pg-forkguard: client reaped after ${reapMs} ms checked out (reapLeakedAfterMs)`);
      process.emitWarning(
        `pg-forkguard: pool "${conn.name}": destroyed a client checked out for ${Date.now() - since} ms ` +
          `(reapLeakedAfterMs ${reapMs}); its slot is free again.${where()}`,
        { code: 'FORKGUARD_CLIENT_REAPED' },
      );
      release(err); // the pool removes and ends it
    }, reapMs);
    conn.reapTimer.unref();
  }
}

function guardPool(pool: PgPool, options: GuardOptions): void {
  const name = options.name ?? `pool-${++poolCount}`;
  const debug = options.debug ?? debugDefault();
  const prefill = options.prefill ?? 0;
  if (prefill > pool.options.max) {
    throw new InvalidArgumentError(
      `guard(pool, { prefill: ${prefill} }): prefill is more than the pool's max (${pool.options.max}); ` +
        `use at most ${pool.options.max}.`,
    );
  }
  const g: PoolGuard = {
    name,
    debug,
    prefill,
    generation: forkGeneration(),
    droppedInherited: 0,
    reconnects: 0,
    forked: false,
  };

  // The connections the pool already has: all or nothing.
  const existing: Array<[PgClient, Conn]> = [];
  try {
    for (const client of pool._clients) {
      const conn = newConn(g, name, debug);
      stamp(conn);
      watch(client, conn);
      existing.push([client, conn]);
    }
  } catch (err) {
    for (const [, conn] of existing) untrack(conn);
    throw err;
  }
  for (const [client, conn] of existing) {
    client[CONN] = conn;
    guardClientMethods(client, conn);
  }

  const connect = original(pool, 'connect');
  const end = original(pool, 'end');
  const newClient = original(pool, 'newClient');
  const acquireClient = original(pool, '_acquireClient');
  const release = original(pool, '_release');
  const remove = original(pool, '_remove');

  const leakMs = options.leakDetectionMs ?? 0;
  const reapMs = options.reapLeakedAfterMs ?? 0;
  const wantStack = debug || leakMs > 0 || reapMs > 0;
  pool.connect = function guardedConnect(this: PgPool, cb?: (err: Error | undefined, c?: PgClient, d?: unknown) => void) {
    settle(debug);
    const timeoutMs = Number(this.options.connectionTimeoutMillis) || 0;
    if (!wantStack && timeoutMs === 0) return connect.call(this, cb);
    // Where the client was checked out (debug mode, leak detection), how long the checkout waited.
    const stack = wantStack ? (new Error('checked out').stack ?? '').split('\n').slice(2).join('\n') : undefined;
    const started = timeoutMs > 0 ? Date.now() : 0;
    const deliver = (err: Error | undefined, client?: PgClient): Error | undefined => {
      if (err && timeoutMs > 0 && isPgTimeout(err)) return checkoutTimeout(this, g, Date.now() - started, timeoutMs, err);
      const conn = client?.[CONN];
      if (conn) {
        conn.checkoutStack = stack;
        if (leakMs > 0 || reapMs > 0) startLeakTimers(client!, conn, leakMs, reapMs);
      }
      return err;
    };
    if (typeof cb === 'function') {
      return connect.call(this, (err: Error | undefined, client?: PgClient, done?: unknown) => cb(deliver(err, client), client, done));
    }
    return new this.Promise<PgClient>((resolve, reject) => {
      connect.call(this, (err: Error | undefined, client?: PgClient) => {
        const e = deliver(err, client);
        if (e) reject(e);
        else resolve(client!);
      });
    });
  } as PgPool['connect'];

  pool.end = function guardedEnd(this: PgPool, cb?: unknown) {
    settle(debug);
    return end.call(this, cb);
  };

  pool.newClient = function guardedNewClient(this: PgPool, pendingItem: PendingItem) {
    newClient.call(this, pendingItem);
    // pg-pool pushed the client and called its connect(); its socket cannot have connected yet.
    const client = this._clients[this._clients.length - 1];
    if (!client || client[CONN]) return;
    const conn = newConn(g, name, debug);
    stamp(conn);
    conn.pending = pendingItem;
    client[CONN] = conn;
    guardClientMethods(client, conn);
    try {
      watch(client, conn);
    } catch (err) {
      if (client.connection) client.connection.stream.destroy(err as Error);
      else conn.failure = err as Error;
    }
    if (g.forked) g.reconnects++;
  };

  pool._acquireClient = function guardedAcquire(this: PgPool, client, pendingItem, idleListener, isNew) {
    const conn = client[CONN];
    if (conn) {
      if (isInherited(conn)) settle(debug);
      if (conn.dropped) {
        // An inherited connection finishing its start-up (onConnect, verify) here: its waiter was
        // already handed back to the queue.
        this._pulseQueue();
        return;
      }
      conn.pending = undefined;
    }
    return acquireClient.call(this, client, pendingItem, idleListener, isNew) as void;
  };

  pool._release = function guardedRelease(this: PgPool, client, idleListener, err) {
    const conn = client[CONN];
    if (conn) stopLeakTimers(conn);
    if (conn && isInherited(conn)) settle(debug);
    if (conn?.dropped) {
      // release() / release(err) of a client checked out before the fork: it already left the pool.
      log('%s: release of a dropped client (opened by pid %d)', name, conn.pid);
      this._pulseQueue();
      return;
    }
    return release.call(this, client, idleListener, err) as void;
  };

  pool._remove = function guardedRemove(this: PgPool, client, callback) {
    if (client[CONN]?.dropped) {
      this._clients = this._clients.filter((c) => c !== client);
      if (typeof callback === 'function') process.nextTick(callback);
      return;
    }
    return remove.call(this, client, callback) as void;
  };

  pool[POOL] = g;
  addGuarded(pool, resetPool as (t: object, gen: number) => void, () => `pool "${name}"`);
}

/** In a new process: every inherited client leaves, waiters stay and get fresh connections. */
function resetPool(pool: PgPool, generation: number): void {
  const g = pool[POOL]!;
  if (pool.ended) return; // nothing left to let go of
  const inherited = new Set(pool._clients.filter((c) => c[CONN] === undefined || isInherited(c[CONN])));
  let idle = 0;
  for (let i = pool._idle.length - 1; i >= 0; i--) {
    const item = pool._idle[i]!;
    if (!inherited.has(item.client)) continue;
    clearTimeout(item.timeoutId);
    item.client.removeListener('error', item.idleListener);
    pool._idle.splice(i, 1);
    idle++;
  }
  pool._clients = pool._clients.filter((c) => !inherited.has(c));
  const requeue: PendingItem[] = [];
  let connecting = 0;
  for (const client of inherited) {
    const conn = client[CONN] ?? newConn(g, g.name, g.debug);
    client[CONN] = conn;
    if (client._connecting && !client._connected) connecting++;
    dropConnection(client, conn);
    client.on('error', swallow);
    const pending = conn.pending;
    conn.pending = undefined;
    if (pending && !pending.timedOut) {
      // A checkout waiting on a connection still starting up: nothing reached the server for it,
      // so it is served again here. The old item is marked so pg-pool never answers it twice.
      pending.timedOut = true;
      requeue.push({ callback: pending.callback });
    }
    process.nextTick(() => pool.emit('remove', client));
  }
  pool._pendingQueue.unshift(...requeue);
  g.generation = generation;
  g.droppedInherited = inherited.size;
  g.reconnects = 0;
  g.forked = true;
  log(
    '%s: pid %d generation %d dropped %d inherited connections (%d idle, %d connecting, %d checked out); ' +
      '%d waiters queued',
    g.name,
    currentPid(),
    generation,
    inherited.size,
    idle,
    connecting,
    inherited.size - idle - connecting,
    pool._pendingQueue.length,
  );
  publish(channels.poolReset, () => ({
    pool: g.name,
    pid: currentPid(),
    generation,
    dropped: inherited.size,
    idle,
    connecting,
    checkedOut: inherited.size - idle - connecting,
    waiting: pool._pendingQueue.length,
  }));
  if (pool.ending || pool.ended) {
    pool._pulseQueue();
    return;
  }
  const toOpen = Math.min(g.prefill, pool.options.max) - pool._clients.length;
  for (let i = 0; i < toOpen; i++) {
    pool.newClient({
      callback: (err, _client, release) => {
        if (err) log('%s: prefill connection failed: %s', g.name, err.message);
        else release?.();
      },
    });
  }
  pool._pulseQueue();
}

// ---------------------------------------------------------------------------------------------
// The API.

function checkOptions(options: unknown, kind: 'pool' | 'client'): GuardOptions {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError(`guard(target, options): options must be an object like { name, debug, prefill }, got ${describe(options)}.`);
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!['name', 'debug', 'prefill', 'leakDetectionMs', 'reapLeakedAfterMs'].includes(key)) {
      throw new InvalidArgumentError(
        `guard(target, options): unknown option '${key}'; the options are name, debug, prefill, leakDetectionMs and reapLeakedAfterMs.`,
      );
    }
  }
  if (o.name !== undefined && (typeof o.name !== 'string' || o.name.length === 0)) {
    throw new InvalidArgumentError(`guard(target, options): options.name must be a non-empty string, got ${describe(o.name)}.`);
  }
  if (o.debug !== undefined && typeof o.debug !== 'boolean') {
    throw new InvalidArgumentError(`guard(target, options): options.debug must be a boolean, got ${describe(o.debug)}.`);
  }
  for (const key of ['leakDetectionMs', 'reapLeakedAfterMs'] as const) {
    if (o[key] === undefined) continue;
    if (kind === 'client') {
      throw new InvalidArgumentError(`guard(client, options): options.${key} applies to pools only (it watches checkouts).`);
    }
    if (typeof o[key] !== 'number' || !Number.isFinite(o[key]) || (o[key] as number) <= 0) {
      throw new InvalidArgumentError(`guard(pool, options): options.${key} must be a positive number of milliseconds, got ${describe(o[key])}.`);
    }
  }
  if (o.prefill !== undefined) {
    if (kind === 'client') {
      throw new InvalidArgumentError(
        'guard(client, options): options.prefill applies to pools only; a pg.Client is one connection.',
      );
    }
    if (typeof o.prefill !== 'number' || !Number.isInteger(o.prefill) || o.prefill < 0) {
      throw new InvalidArgumentError(
        `guard(pool, options): options.prefill must be a non-negative integer (connections opened eagerly in a child), got ${describe(o.prefill)}.`,
      );
    }
  }
  return o as GuardOptions;
}

/**
 * Guards a pg.Pool or a pg.Client in place and returns it. In every forked child, before its event
 * loop first polls, the connections inherited from the parent are dropped without a byte written
 * (their fds were already replaced by dead sockets) and the pool reconnects lazily; the parent's
 * connections are never touched. Guarding twice is a no-op.
 */
export function guard<T extends PgPoolLike | PgClientLike>(target: T, options?: GuardOptions): T {
  if (target === null || typeof target !== 'object') {
    throw new IncompatiblePoolError(`guard(target): expected a pg.Pool or a pg.Client, got ${describe(target)}.`);
  }
  const t = target as unknown as PgPool & PgClient;
  if (t[POOL] || t[CONN]) return target;
  const looksLikePool = Array.isArray((t as { _clients?: unknown })._clients) || typeof t.newClient === 'function';
  const looksLikeClient = !looksLikePool && (t.connection !== undefined || typeof (t as { _connect?: unknown })._connect === "function");
  if (!looksLikePool && !looksLikeClient) {
    throw new IncompatiblePoolError(
      `guard(target): expected a pg.Pool or a pg.Client (node-postgres), got ${describe(target)}. ` +
        `For another kind of pool, give it a resetAfterFork() method and use register(pool).`,
    );
  }
  const kind = looksLikePool ? 'pool' : 'client';
  const problem = kind === 'pool' ? checkPoolShape(t) : checkClientShape(t);
  if (problem) {
    throw new IncompatiblePoolError(
      `guard(${kind}): ${describe(target)} looks like a pg.${kind === 'pool' ? 'Pool' : 'Client'} but ${problem}. ` +
        `pg-forkguard supports pg 8 (pg-pool 3) with pg.Client or pg.native.Client; for other pools use register(pool).`,
    );
  }
  const opts = checkOptions(options, kind);
  install();
  settle(opts.debug ?? debugDefault());
  if (kind === 'pool') guardPool(t, opts);
  else guardClient(t, opts);
  return target;
}

/** True if guard() was called on this pool or client. */
export function isGuarded(target: unknown): boolean {
  return target !== null && typeof target === 'object' && (POOL in target || CONN in target);
}

/** One entry per guarded pool still alive in this process. */
export function stats(): PoolStats[] {
  settle(false);
  const out: PoolStats[] = [];
  for (const t of guardedTargets()) {
    const s = poolStats(t);
    if (s) out.push(s);
  }
  return out;
}

/** stats() of one guarded pool; undefined if it is not one. */
export function poolStats(target: unknown): PoolStats | undefined {
  const g = target !== null && typeof target === 'object' ? (target as PgPool)[POOL] : undefined;
  if (!g) return undefined;
  const pool = target as PgPool;
  return {
    name: g.name,
    pid: currentPid(),
    generation: forkGeneration(),
    total: pool.totalCount,
    idle: pool.idleCount,
    busy: pool.totalCount - pool.idleCount,
    waiting: pool.waitingCount,
    droppedInherited: g.droppedInherited,
    reconnects: g.reconnects,
  };
}
