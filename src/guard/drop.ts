// Dropping an inherited connection in a forked child: no byte written, nothing left in any
// bookkeeping, its queries failed with ForkedConnectionError.
import { channels, publish } from '../shared/diagnostics.js';
import { stopLeakTimers } from './checkout.js';
import { type Conn, connOf, forkedError } from './records.js';
import type { ForkedConnectionError } from '../shared/errors.js';
import {
  type PgClient,
  clientStream,
  isConnected,
  isNativeClient,
  killClient,
  killNativeClient,
  libpqSocket,
  replaceEnd,
  streamFd,
} from '../seams/pg.js';
import { currentPid } from '../runtime/state.js';
import { fdOf, neutraliseNative, untrack } from './tracking.js';


/** Installed on a dropped client in the child: ending it sends nothing (no Terminate). */
function endDropped(cb?: () => void): unknown {
  if (typeof cb === 'function') {
    process.nextTick(cb);
    return undefined;
  }
  return Promise.resolve();
}

/** The 'error' listener a dropped client keeps, so that a late error never crashes the child. */
export function swallow(this: unknown, err: Error): void {
  const conn = this !== null && typeof this === 'object' ? connOf(this) : undefined;
  publish(channels.clientLate, () => ({ name: conn?.name, ownerPid: conn?.pid, what: 'error', message: err?.message }));
}

export interface Dropped {
  /** What its queries failed with, and what its listeners are told. */
  err: ForkedConnectionError;
  /** The connect callback taken away from a client still starting up (null otherwise). */
  connectCallback: ((err: Error | null) => void) | null;
}

/**
 * Lets go of a connection inherited from the parent. Its fd is already a dead socket (the child
 * handler saw to that), so even a stray write would reach nothing; this makes sure pg does not try:
 * no Terminate, no TLS close_notify, no CancelRequest (the cancel key is wiped). Queries pending on
 * it fail with ForkedConnectionError. Its listeners are told by announceGone().
 */
export function dropConnection(client: PgClient, conn: Conn): Dropped {
  conn.dropped = true;
  stopLeakTimers(conn);
  const err = forkedError(conn, 'A query in flight when the process forked');
  if (isNativeClient(client)) return { err, connectCallback: dropNative(client, conn, err) };
  const connectCallback = killClient(client, err);
  replaceEnd(client, endDropped);
  // Destroying closes this process's copy of the fd: no FIN (the parent still holds the socket)
  // and no bytes; its 'close' event then untracks it here. A stream with no fd of its own (a
  // custom `stream` option, under the zero-code entry) is left alone: destroying it could run code that writes.
  const stream = clientStream(client);
  if (stream && streamFd(stream) >= 0) stream.destroy();
  announceDrop(conn, 'connection', fdOf(conn));
  return { err, connectCallback };
}

/** Runs a listener or callback of the app's: what it throws is thrown again, uncaught, as pg would
 * let it be, but only after the reset has finished with every other connection. */
export function callOut(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    process.nextTick(() => {
      throw err;
    });
  }
}

/**
 * Tells a dropped client's listeners that its connection is gone, as pg does when a connection goes
 * away: 'error' (only if something listens: a client without a listener never crashes the child),
 * then 'end'. Synchronously, in the reset: a library that keeps its own pool of clients (knex's
 * tarn, sequelize's) marks it dead before any of its code runs in this process.
 */
export function announceGone(client: PgClient, err: Error): void {
  if (client.listenerCount('error') > 0) callOut(() => client.emit('error', err));
  callOut(() => client.emit('end'));
  client.on('error', swallow);
}

/** NODE_DEBUG line and `pgforkguard:client:drop` event for one inherited connection let go. */
function announceDrop(conn: Conn, what: string, fd: number): void {
  publish(channels.clientDrop, () => ({
    name: conn.name,
    pool: conn.pool?.name,
    ownerPid: conn.pid,
    currentPid: currentPid(),
    fd,
    what,
  }));
}

/**
 * pg-native: the same, for a connection libpq owns. Its fd is already the dead socket; libpq's
 * reader is stopped before the loop can see the EOF (a read error would make pg end the client:
 * PQfinish, Terminate), and PQfinish is never called here (the binding's end() is guarded).
 */
function dropNative(client: PgClient, conn: Conn, err: Error): ((err: Error | null) => void) | null {
  const connectCallback = conn.connectCallback ?? null;
  conn.connectCallback = undefined;
  replaceEnd(client, endDropped);
  // A connection still being opened by the parent's threadpool has no socket here yet (or only in
  // the parent); watchNative's 'connect' listener neutralises it if the callback ever runs here.
  if (isConnected(client)) neutraliseNative(client, conn, -1);
  killNativeClient(client, err);
  untrack(conn); // the dead socket stays open under the number libpq holds; nothing uses it
  announceDrop(conn, 'pg-native connection', libpqSocket(client));
  return connectCallback;
}
