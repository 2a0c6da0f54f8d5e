// Tracking a connection's socket: its fd goes into the native registry before pg can write a
// byte to it, and leaves when it closes. In every child the registry's fds are replaced by a dead
// socket before any JS runs.
import { channels, publish } from '../shared/diagnostics.js';
import { type Conn, CONN, connOf, forkedError, mark } from './records.js';
import { FdRegistryError, describe } from '../shared/errors.js';
import { patchMethod } from './patch-method.js';
import {
  NATIVE_BINDING_METHODS,
  beforeStartup,
  canWatchConnect,
  nativeBindingOf,
  type NativeBinding,
  type PgClient,
  type Stream,
  clientStream,
  isConnected,
  isNativeClient,
  isOpenSocket,
  libpqSocket,
  markUnqueryable,
  onTlsUpgrade,
  setNativeCancel,
  stopLibpq,
  streamFd,
} from '../seams/pg.js';
import { neutraliseFd, trackFd, untrackFd } from '../runtime/fd-registry.js';


// Which connection tracked which fd: this module is its one owner (the native registry holds the
// fds themselves, for the child handler). Both ways, because a closed socket's 'close' event arrives
// after its fd was closed; by then the number may belong to a newer guarded socket, which must stay
// tracked: a connection untracks only the fd that is still its own.
const owners = new Map<number, Conn>();
const fds = new WeakMap<Conn, number>();

/** The fd a connection's socket is tracked under, -1 when none. */
export function fdOf(conn: Conn): number {
  return fds.get(conn) ?? -1;
}

function noFd(conn: Conn, what: string): FdRegistryError {
  return new FdRegistryError(
    'ERR_FORKGUARD_NO_FD',
    -1,
    `pg-forkguard cannot guard a connection of ${conn.name}: ${what} has no file descriptor. Only TCP, ` +
      `unix-socket and TLS connections of node-postgres can be guarded at the socket level; a custom ` +
      '`stream` option is not.',
  );
}

function trackNumber(conn: Conn, fd: number): void {
  trackFd(fd);
  const old = fdOf(conn);
  if (old >= 0 && old !== fd) untrack(conn);
  fds.set(conn, fd);
  owners.set(fd, conn);
}

function track(conn: Conn, stream: Stream): void {
  const fd = streamFd(stream);
  if (fd < 0) throw noFd(conn, `its stream (${describe(stream)})`);
  trackNumber(conn, fd);
}

export function untrack(conn: Conn): void {
  const fd = fdOf(conn);
  if (fd >= 0 && owners.get(fd) === conn) {
    owners.delete(fd);
    untrackFd(fd);
  }
  fds.delete(conn);
}

const warnedReasons = new Set<string>();

/**
 * Under the zero-code entry a connection that cannot be guarded at the fd level runs exactly as it
 * would without pg-forkguard, and says so once (per pool; per reason for standalone clients).
 */
export function runUnguarded(conn: Conn, reason: Error): void {
  conn.fdGuarded = false;
  const g = conn.pool;
  if (g) {
    if (g.warnedUnguarded) return;
    g.warnedUnguarded = true;
  } else {
    const key = (reason as { code?: string }).code ?? reason.message;
    if (warnedReasons.has(key)) return;
    warnedReasons.add(key);
  }
  const who = g ? `pool "${g.name}"` : `client "${conn.name}" (and any other standalone client like it)`;
  process.emitWarning(
    `pg-forkguard: ${who}: a connection cannot be guarded at the socket level (${reason.message}) ` +
      `It runs exactly as without pg-forkguard. In a forked child it is still dropped: its queries fail ` +
      `with ForkedConnectionError and pg-forkguard writes nothing to it, but its transport is not ` +
      `replaced by a dead socket there, so other code holding that transport could still use it.`,
    { code: 'FORKGUARD_UNGUARDED' },
  );
}

/**
 * Tracks the client's socket before pg can write to it: now if it is open, else when pg's
 * connection reports 'connect' (a prepended listener: it runs before pg sends the startup packet),
 * and again after a TLS upgrade. A socket that cannot be tracked is destroyed with the reason (the
 * connection fails and never runs unguarded), or under the zero-code entry runs unguarded with a warning.
 * The record's `onClosed` runs when the socket closes.
 */
export function watchSocket(client: PgClient, conn: Conn): void {
  const stream = clientStream(client);
  if (!stream || typeof stream.once !== 'function' || !canWatchConnect(client)) {
    if (conn.lenient) return runUnguarded(conn, noFd(conn, 'its connection (no socket stream)'));
    throw noFd(conn, 'its connection (no socket stream)');
  }
  const onClose = (): void => {
    untrack(conn);
    conn.onClosed?.();
  };
  const trackOrFail = (s: Stream): void => {
    if (!conn.fdGuarded) return;
    try {
      track(conn, s);
    } catch (err) {
      if (conn.lenient) runUnguarded(conn, err as Error);
      else s.destroy(err as Error);
    }
  };
  if (isOpenSocket(stream)) {
    if (conn.lenient) trackOrFail(stream);
    else track(conn, stream); // guard() time: let the caller see the error
  } else {
    beforeStartup(client, () => trackOrFail(stream));
  }
  stream.once('close', onClose);
  onTlsUpgrade(client, (tls) => {
    // The TLS stream wraps the same fd; check it is still the tracked one.
    trackOrFail(tls);
    if (tls !== stream) tls.once('close', onClose);
  });
}

/**
 * pg-native: libpq connects on a threadpool thread (start-up and authentication included), then pg
 * emits 'connect' before it sends any query. The socket is tracked there (a prepended listener),
 * and untracked just before PQfinish closes it (client-patches guards the binding's end()).
 */
export function watchNative(client: PgClient, conn: Conn): void {
  const trackNow = (): void => {
    const fd = libpqSocket(client);
    if (fd < 0) throw noFd(conn, `libpq's connection (PQsocket() = ${fd})`);
    trackNumber(conn, fd);
  };
  if (isConnected(client)) trackNow(); // guard() time: let the caller see the error
  client.prependListener('connect', () => {
    if (conn.dropped) {
      // A connect that libpq completed in the parent's threadpool before the fork, its callback
      // run here: the socket is a live copy of the parent's new session. It gets the dead socket
      // now, and this process never reads or writes it.
      neutraliseNative(client, conn, libpqSocket(client));
      return;
    }
    try {
      trackNow();
    } catch (err) {
      if (conn.lenient) runUnguarded(conn, err as Error);
      else {
        conn.failure = err as Error;
        markUnqueryable(client);
      }
    }
  });
}

/** Stops every libuv watcher libpq has on the connection and puts the dead socket over `fd`. */
export function neutraliseNative(client: PgClient, conn: Conn, fd: number): void {
  stopLibpq(client);
  setNativeCancel(client, (cb) => process.nextTick(cb, forkedError(conn, 'client.cancel()')));
  if (fd >= 0 && owners.get(fd) !== conn) {
    const rc = neutraliseFd(fd);
    if (rc !== 0) {
      publish(channels.clientLate, () => ({
        name: conn.name,
        ownerPid: conn.pid,
        what: 'sever-failed',
        message: `could not put the dead socket over fd ${fd} (native code ${rc})`,
      }));
    }
  }
}

/** The socket watch that fits the client: its stream's, or libpq's. */
export function watch(client: PgClient, conn: Conn): void {
  if (isNativeClient(client)) {
    const binding = nativeBindingOf(client);
    mark(binding, CONN, conn);
    patchNativeBinding(binding);
    watchNative(client, conn);
  } else {
    watchSocket(client, conn);
  }
}

/**
 * pg-native's binding (`client.native`): its end() runs PQfinish, which sends Terminate. The
 * guard untracks the fd first (PQfinish closes it; the number may be reused at once), and never
 * lets a dropped connection's end() reach libpq.
 */
function patchNativeBinding(binding: NativeBinding): void {
  patchMethod(Object.getPrototypeOf(binding) as object, NATIVE_BINDING_METHODS.end, (end) =>
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
