// The one module that knows node-postgres's private fields (pg 8, pg-pool 3, pg-native 3). Every
// read or write of them goes through a function here, typed by the interfaces below, so a pg
// release that renames one breaks this file and its contract test, not the guard's behaviour. The
// contract is not a list kept by hand: test/pg-contract.test.ts finds every member of these
// interfaces that this file touches (test/support/seam-members.cjs, with TypeScript's checker) and
// checks each on live objects of every tested pg version. guard() checks the installed versions
// against the range below and the shapes it relies on.
import type { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { IncompatiblePoolError, describe } from '../shared/errors.js';
import { handleFd } from './node.js';

/** The pg and pg-pool versions this module was written for and is tested against (CI runs each
 * minor listed in test/pg-versions). peerDependencies says the same. */
export const SUPPORTED = { pg: { major: 8, minMinor: 11 }, pgPool: { major: 3, minMinor: 6 } } as const;

export interface Stream extends EventEmitter {
  connecting?: boolean;
  destroyed?: boolean;
  destroy(err?: Error): void;
}

export interface Query {
  submit?: unknown;
  callback?: (err: Error | null, res?: unknown) => void;
  handleError(err: Error, connection: unknown): void;
}

/** libpq's binding (the `libpq` package) under pg-native. */
export interface Libpq extends EventEmitter {
  connected?: boolean;
  $socket(): number;
  $startRead(): void;
  $stopRead(): void;
}

/** pg-native's Client: `client.native` of a pg.native.Client. */
export interface NativeBinding extends EventEmitter {
  pq: Libpq;
  _reading?: boolean;
  _stopReading(): void;
  end(cb?: () => void): void;
  cancel(cb: (err?: Error) => void): unknown;
}

/** A pg.Client's Connection (pg/lib/connection.js), which owns the socket. */
export interface PgConnection extends EventEmitter {
  stream: Stream;
  _ending: boolean;
}

export interface PgClient extends EventEmitter {
  connection: PgConnection;
  /** pg.native.Client only (it has no `connection`). */
  native?: NativeBinding;
  processID: number | null;
  secretKey: number | null;
  readyForQuery?: boolean;
  connectionTimeoutHandle?: ReturnType<typeof setTimeout>;
  /** pg-pool's release function, set on a client while it is checked out. */
  release?: (err?: Error) => void;
  _connecting: boolean;
  _connected: boolean;
  _ending: boolean;
  _queryable: boolean;
  _connectionCallback: ((err: Error | null, client?: unknown) => void) | null;
  _errorAllQueries(err: Error): void;
  connect(cb?: (err: Error | null) => void): unknown;
  _connect(cb: (err: Error | null, client?: unknown) => void): unknown;
  query(config: unknown, values?: unknown, cb?: unknown): unknown;
  cancel(target: PgClient, query: unknown): void;
  end(cb?: () => void): unknown;
}

export interface PendingItem {
  callback: (err: Error | undefined, client?: PgClient, release?: (err?: Error) => void) => void;
  timedOut?: boolean;
}

interface IdleItem {
  client: PgClient;
  idleListener: (err: Error) => void;
  timeoutId?: ReturnType<typeof setTimeout>;
}

export interface PgPool extends EventEmitter {
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
}

/** The prototype of pg.Client or pg.native.Client, as the shape tests read it (each has some of these). */
export interface PgClientPrototype {
  _connect?: unknown;
  _errorAllQueries?: unknown;
  _handleReadyForQuery?: unknown;
  _pulseQueryQueue?: unknown;
}

/** The prototype of pg-pool's Pool, as the shape test reads it. */
export interface PgPoolPrototype {
  _pulseQueue?: unknown;
  newClient?: unknown;
}

/** pg-pool's two ways of saying connectionTimeoutMillis ran out: waiting in the queue, and connecting. */
export const TIMEOUT_MESSAGES = ['timeout exceeded when trying to connect', 'Connection terminated due to connection timeout'] as const;

/** The pool methods the guard wraps (on the prototype that owns each), by what they do. */
export const POOL_METHODS = {
  connect: 'connect',
  end: 'end',
  newClient: 'newClient',
  acquireClient: '_acquireClient',
  release: '_release',
  remove: '_remove',
} as const satisfies Record<string, keyof PgPool>;
/** The client methods the guard wraps; `nativeConnect` on pg.native.Client only. */
export const CLIENT_METHODS = {
  connect: 'connect',
  query: 'query',
  cancel: 'cancel',
  nativeConnect: '_connect',
} as const satisfies Record<string, keyof PgClient>;
/** pg-native's binding method the guard wraps. */
export const NATIVE_BINDING_METHODS = { end: 'end' } as const satisfies Record<string, keyof NativeBinding>;

// ---------------------------------------------------------------------------------------------
// Shapes and versions.

/** True for pg-pool's Pool class (or a subclass), by its prototype's methods: the one shape test of it. */
export function isPoolClass(C: unknown): C is Function & { prototype: object } {
  const proto = typeof C === 'function' ? ((C as { prototype?: PgPoolPrototype }).prototype) : undefined;
  return !!proto && typeof proto._pulseQueue === 'function' && typeof proto.newClient === 'function';
}

export function isPoolShaped(t: object): boolean {
  return Array.isArray((t as Partial<PgPool>)._clients) || typeof (t as Partial<PgPool>).newClient === 'function';
}

export function isClientShaped(t: object): boolean {
  return (t as Partial<PgClient>).connection !== undefined || typeof (t as Partial<PgClient>)._connect === 'function';
}

export function isNativeClient(client: PgClient): boolean {
  return client.connection === undefined && client.native !== null && typeof client.native === 'object';
}

/** True for node-postgres's JavaScript client class or pg-native's, by their prototype's methods. */
export function isPgClientClass(Client: unknown): boolean {
  const proto = (Client as { prototype?: PgClientPrototype } | undefined)?.prototype;
  if (!proto || typeof proto._connect !== 'function' || typeof proto._errorAllQueries !== 'function') return false;
  return typeof proto._handleReadyForQuery === 'function' || typeof proto._pulseQueryQueue === 'function';
}

/** pg-native's client class (pg.native.Client) rather than the JavaScript one. */
export function isNativeClientClass(Client: unknown): boolean {
  const proto = (Client as { prototype?: PgClientPrototype } | undefined)?.prototype;
  return isPgClientClass(Client) && typeof proto!._handleReadyForQuery !== 'function';
}

/** What is missing for guard(pool), or undefined when the pool has every internal it relies on. */
export function poolProblem(pool: PgPool): string | undefined {
  for (const key of ['_clients', '_idle', '_pendingQueue'] as const) {
    if (!Array.isArray(pool[key])) return `it has no ${key} array`;
  }
  for (const key of [...Object.values(POOL_METHODS), '_pulseQueue'] as const) {
    if (typeof pool[key] !== 'function') return `it has no ${key}() method`;
  }
  if (pool.options === null || typeof pool.options !== 'object') return 'it has no options';
  if (!isPgClientClass(pool.Client)) {
    return (
      `its connections are made by ${describe(pool.Client)}${pool.Client?.name ? ` (${pool.Client.name})` : ''}, ` +
      `not by node-postgres's pg.Client or pg.native.Client`
    );
  }
  return undefined;
}

/** What is missing for guard(client), or undefined. */
export function clientProblem(client: PgClient): string | undefined {
  if (isNativeClient(client)) {
    if (typeof client.native!.pq?.$socket !== 'function' || typeof client.native!.end !== 'function') {
      return 'its `native` binding is not pg-native over libpq (no pq.$socket())';
    }
  } else {
    const con = client.connection as PgConnection | undefined;
    if (!con || typeof con !== 'object' || !con.stream || typeof con.stream.prependListener !== 'function') {
      return 'it has no connection stream and no pg-native binding';
    }
  }
  for (const key of ['_connect', '_errorAllQueries', 'query', 'cancel', 'end'] as const) {
    if (typeof (client as unknown as Record<string, unknown>)[key] !== 'function') return `it has no ${key}() method`;
  }
  return undefined;
}

type Versions = {
  pg: string | undefined;
  pgPool: string | undefined;
};
const versionsByClass = new WeakMap<object, Versions>();

function moduleOf(predicate: (exports: unknown) => boolean): string | undefined {
  const cache = require.cache;
  for (const [filename, mod] of Object.entries(cache)) {
    if (mod && predicate(mod.exports)) return filename;
  }
  return undefined;
}

function versionAt(entryFile: string | undefined, name: string): string | undefined {
  if (!entryFile) return undefined;
  // The entry is <pkg>/lib/index.js (pg) or <pkg>/index.js (pg-pool): walk up to the package.json
  // that names the package.
  let dir = dirname(entryFile);
  for (let i = 0; i < 3; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === name) return pkg.version;
    } catch {}
    dir = dirname(dir);
  }
  return undefined;
}

/**
 * The versions of the pg and pg-pool copies a pool or client comes from, found through the module
 * cache (which module exports its Client class, which its Pool class). Learnt once per copy: its
 * only I/O is reading those two package.json files, synchronously.
 */
export function versionsOf(Client: object, PoolClass: object | undefined): Versions {
  const known = versionsByClass.get(Client);
  if (known) return known;
  const pgEntry = moduleOf((e) => {
    const x = e as { Client?: unknown; native?: unknown } | null;
    return x !== null && typeof x === 'object' && Object.getOwnPropertyDescriptor(x, 'Client')?.value === Client;
  });
  const poolEntry =
    PoolClass &&
    moduleOf((e) => isPoolClass(e) && (e === PoolClass || e.prototype.isPrototypeOf((PoolClass as { prototype: object }).prototype)));
  const found = { pg: versionAt(pgEntry, 'pg'), pgPool: versionAt(poolEntry, 'pg-pool') };
  versionsByClass.set(Client, found);
  return found;
}

function outside(version: string | undefined, range: { major: number; minMinor: number }): boolean {
  if (version === undefined) return false; // unknown (bundled, or not loaded by require): the shape check decides
  const [major, minor] = version.split('.').map(Number);
  return major !== range.major || (minor ?? 0) < range.minMinor;
}

/** Refuses a pg or pg-pool outside the tested range, naming both versions. */
export function checkVersions(Client: object, PoolClass: object | undefined, what: string): void {
  const v = versionsOf(Client, PoolClass);
  if (outside(v.pg, SUPPORTED.pg) || (PoolClass !== undefined && outside(v.pgPool, SUPPORTED.pgPool))) {
    throw new IncompatiblePoolError(
      `${what}: pg-forkguard supports pg >=${SUPPORTED.pg.major}.${SUPPORTED.pg.minMinor} <${SUPPORTED.pg.major + 1} ` +
        `with pg-pool >=${SUPPORTED.pgPool.major}.${SUPPORTED.pgPool.minMinor} <${SUPPORTED.pgPool.major + 1}; this ` +
        `process has pg ${v.pg ?? '(unknown)'} and pg-pool ${v.pgPool ?? '(unknown)'}. It relies on their ` +
        `private fields, so it refuses rather than run half-patched: install a supported pg, or a ` +
        `pg-forkguard release that supports this one.`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// A client's socket.

export function clientStream(client: PgClient): Stream | undefined {
  const con = client.connection as PgConnection | undefined;
  const s = con && typeof con === 'object' ? con.stream : undefined;
  return s && typeof s === 'object' ? s : undefined;
}

export function streamFd(stream: Stream | undefined): number {
  return handleFd(stream);
}

export function isOpenSocket(stream: Stream): boolean {
  return !stream.connecting && !stream.destroyed && streamFd(stream) >= 0;
}

/** Whether pg's connection can be told to run a listener before pg's own on 'connect'. */
export function canWatchConnect(client: PgClient): boolean {
  return typeof client.connection?.prependListener === 'function';
}

/** Runs `fn` when the socket connects, before pg sends its start-up packet (a prepended listener). */
export function beforeStartup(client: PgClient, fn: () => void): void {
  client.connection.prependListener('connect', fn);
}

/** pg-native's binding under a pg.native.Client (isNativeClient). */
export function nativeBindingOf(client: PgClient): NativeBinding {
  return client.native!;
}

/** Replaces a client's end() on the instance (a dropped client ends without a byte). */
export function replaceEnd(client: PgClient, end: (cb?: () => void) => unknown): void {
  client.end = end as PgClient['end'];
}

/** Calls `fn` with the TLS stream after pg upgrades the connection (the same fd, wrapped). */
export function onTlsUpgrade(client: PgClient, fn: (tls: Stream) => void): void {
  const con = client.connection;
  con.on('sslconnect', () => fn(con.stream));
}

export function hasStarted(client: PgClient): boolean {
  return client._connecting === true || client._connected === true;
}

export function isConnecting(client: PgClient): boolean {
  return client._connecting === true && client._connected !== true;
}

export function isConnected(client: PgClient): boolean {
  return client._connected === true;
}

export function libpqSocket(client: PgClient): number {
  const pq = client.native?.pq;
  const fd = pq && typeof pq.$socket === 'function' ? pq.$socket() : -1;
  return typeof fd === 'number' ? fd : -1;
}

// ---------------------------------------------------------------------------------------------
// Letting go of a client: pg's own state says it is ending and unusable.

/**
 * Marks a JavaScript client dead without a byte: no Terminate (ending), no CancelRequest (the key
 * is wiped), no new query (not queryable). Fails its queries with `err`. Returns the connect
 * callback it took away (a client still starting up), so that the caller can answer it.
 */
export function killClient(client: PgClient, err: Error): ((err: Error | null) => void) | null {
  const connectCallback = client._connectionCallback;
  client._connectionCallback = null;
  client.processID = null;
  client.secretKey = null;
  client._ending = true;
  client._queryable = false;
  client.readyForQuery = false;
  clearTimeout(client.connectionTimeoutHandle);
  if (client.connection && typeof client.connection === 'object') client.connection._ending = true;
  client._errorAllQueries(err);
  return connectCallback;
}

export function markUnqueryable(client: PgClient): void {
  client._queryable = false;
}

/** The same for a pg.native.Client; its connect callback is held by the guard (see client-patches). */
export function killNativeClient(client: PgClient, err: Error): void {
  client._ending = true;
  client._queryable = false;
  client._errorAllQueries(err);
}

/** Stops every libuv watcher libpq has on the connection (reading, or flushing a query). */
export function stopLibpq(client: PgClient): void {
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
}

export function setNativeCancel(client: PgClient, cancel: NativeBinding['cancel']): void {
  client.native!.cancel = cancel;
}

/** Fails a query the way pg fails one: the query object's handler, the callback, or a promise. */
export function failQuery(client: PgClient, err: Error, config: unknown, values: unknown, callback: unknown): unknown {
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

// ---------------------------------------------------------------------------------------------
// A pool's bookkeeping.

export function poolClients(pool: PgPool): readonly PgClient[] {
  return pool._clients;
}

export function lastCreatedClient(pool: PgPool): PgClient | undefined {
  return pool._clients[pool._clients.length - 1];
}

/** Takes `clients` out of the pool's lists without ending them; returns how many were idle. */
export function detachClients(pool: PgPool, clients: ReadonlySet<PgClient>): number {
  let idle = 0;
  for (let i = pool._idle.length - 1; i >= 0; i--) {
    const item = pool._idle[i]!;
    if (!clients.has(item.client)) continue;
    clearTimeout(item.timeoutId);
    item.client.removeListener('error', item.idleListener);
    pool._idle.splice(i, 1);
    idle++;
  }
  pool._clients = pool._clients.filter((c) => !clients.has(c));
  return idle;
}

export function removeClient(pool: PgPool, client: PgClient): void {
  pool._clients = pool._clients.filter((c) => c !== client);
}

/** Empties the pool's queue of waiting checkouts and returns them. */
export function takeWaiters(pool: PgPool): PendingItem[] {
  return pool._pendingQueue.splice(0);
}

/**
 * Answers a waiting checkout with an error, once: the item is marked answered first, so that
 * pg-pool (its connect callback, its timeout) never answers it again.
 */
export function failWaiter(item: PendingItem, err: Error): void {
  if (item.timedOut) return;
  item.timedOut = true;
  item.callback(err, undefined, () => {});
}

/**
 * Answers waiting checkouts with an error on the next tick, as pg-pool answers them. Until then
 * each is marked answered, so that pg-pool's own timeout or connect callback never answers it now.
 */
export function failWaitersNextTick(items: readonly PendingItem[], err: Error): void {
  for (const item of items) {
    if (item.timedOut) continue;
    item.timedOut = true;
    process.nextTick(() => {
      item.timedOut = false;
      failWaiter(item, err);
    });
  }
}

/** Opens one more connection in the pool, outside any checkout (prefill); `done` says how it went. */
export function openIdleClient(pool: PgPool, done: (err: Error | undefined) => void): void {
  pool.newClient({
    callback: (err, _client, release) => {
      done(err);
      if (!err) release?.();
    },
  });
}

/** pool.end() was called (it may still be ending). */
export function isEnding(pool: PgPool): boolean {
  return pool.ending || pool.ended;
}

/** pool.end() has finished. */
export function hasEnded(pool: PgPool): boolean {
  return pool.ended;
}

/** The Client class a pool makes its connections with (its `Client` option, or pg.Client). */
export function clientClassOf(pool: PgPool): PgPool['Client'] {
  return pool.Client;
}

export function pulse(pool: PgPool): void {
  pool._pulseQueue();
}

export function poolMax(pool: PgPool): number {
  return pool.options.max;
}

export function connectionTimeoutMs(pool: PgPool): number {
  return Number(pool.options.connectionTimeoutMillis) || 0;
}

/** pg-pool's two ways of saying connectionTimeoutMillis ran out: waiting in the queue, and connecting. */
export function isPgTimeout(err: Error): boolean {
  return (TIMEOUT_MESSAGES as readonly string[]).includes(err.message);
}

/** pg-pool's release function on a checked-out client (set by _acquireClient). */
export function releaseOf(client: PgClient): ((err?: Error) => void) | undefined {
  const release = client.release;
  return typeof release === 'function' ? release : undefined;
}

export function disarmRelease(client: PgClient): void {
  client.release = () => {};
}
