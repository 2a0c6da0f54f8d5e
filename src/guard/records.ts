// The guard's own records: one per guarded pool, one per guarded connection, kept on the pg object
// itself under a non-enumerable symbol (so it goes when the object goes, and neither
// Object.keys, JSON nor deepEqual sees it).
import { ForkedConnectionError } from '../shared/errors.js';
import type { PendingItem } from '../seams/pg.js';
import { currentPid, forkGeneration, forkedSinceLastCheck, forkedSinceLastPidCheck } from '../runtime/state.js';

export const POOL = Symbol('pg-forkguard.pool');
export const CONN = Symbol('pg-forkguard.connection');

/** One guarded pool. */
export interface PoolGuard {
  name: string;
  debug: boolean;
  prefill: number;
  leakMs: number;
  reapMs: number;
  /** Guarded by the zero-code hook: connections it cannot guard run unguarded, with a warning. */
  lenient: boolean;
  /** The process whose connections the pool holds (moves at each reset). */
  pid: number;
  droppedInherited: number;
  reconnects: number;
  /** Set by a reset: this process is a fork child and counts the connections it opens. */
  forked: boolean;
  warnedUnguarded: boolean;
}

/** One guarded connection (a pg.Client, in a pool or standalone). */
export interface Conn {
  pool: PoolGuard | undefined;
  name: string;
  debug: boolean;
  lenient: boolean;
  /** Generation and pid of the process that opened the connection; undefined before connect(). */
  generation: number | undefined;
  pid: number;
  /** False when the connection could not be guarded at the fd level (zero-code entry only: no fd, registry
   * full): a child still drops it in JS, but cannot stop other code writing to its socket. */
  fdGuarded: boolean;
  dropped: boolean;
  /** The pool waiter a connecting client will be handed to. */
  pending: PendingItem | undefined;
  checkoutStack: string | undefined;
  /** Leak detection timers while checked out. */
  leakTimer: ReturnType<typeof setTimeout> | undefined;
  reapTimer: ReturnType<typeof setTimeout> | undefined;
  /** pg-native: the connect callback of a standalone client, until it is answered. */
  connectCallback: ((err: Error | null, client?: unknown) => void) | undefined;
  /** Why the connection could not be guarded (explicit guard()); its queries fail with this. */
  failure: Error | undefined;
  /** Runs when the connection's socket closes (or pg-native's end()). */
  onClosed: (() => void) | undefined;
}

export function debugDefault(): boolean {
  return process.env.PG_FORKGUARD_DEBUG === '1';
}

/** Attaches a record to a pg object: a non-enumerable own property. */
export function mark<T>(target: object, key: symbol, value: T): T {
  Object.defineProperty(target, key, { value, writable: true, configurable: true, enumerable: false });
  return value;
}

export function connOf(client: object): Conn | undefined {
  return (client as { [CONN]?: Conn })[CONN];
}

export function poolGuardOf(pool: object): PoolGuard | undefined {
  return (pool as { [POOL]?: PoolGuard })[POOL];
}

/** The checkout check: two loads (plus a getpid() in debug mode). Runs the reset if a fork happened. */
export function checkForFork(debug: boolean): void {
  if (debug) forkedSinceLastPidCheck();
  else forkedSinceLastCheck();
}

export function isInherited(conn: Conn | undefined): boolean {
  return conn !== undefined && conn.generation !== undefined && conn.generation !== forkGeneration();
}

export function forkedError(conn: Conn, what: string): ForkedConnectionError {
  return new ForkedConnectionError({
    what,
    ownerPid: conn.pid,
    currentPid: currentPid(),
    poolName: conn.pool?.name,
    checkoutStack: conn.checkoutStack,
  });
}

/** For a request made before the fork (a checkout queued or waiting on a connection). */
export function requestedBeforeFork(g: PoolGuard, ownerPid: number, what: string): ForkedConnectionError {
  return new ForkedConnectionError({ what, ownerPid, currentPid: currentPid(), poolName: g.name, kind: 'request' });
}

export function newConn(pool: PoolGuard | undefined, name: string, debug: boolean, lenient: boolean): Conn {
  return {
    pool,
    name,
    debug,
    lenient,
    generation: undefined,
    pid: currentPid(),
    fdGuarded: true,
    dropped: false,
    pending: undefined,
    checkoutStack: undefined,
    leakTimer: undefined,
    reapTimer: undefined,
    connectCallback: undefined,
    failure: undefined,
    onClosed: undefined,
  };
}

/** The connection belongs to this process from now on. */
export function stamp(conn: Conn): void {
  conn.generation = forkGeneration();
  conn.pid = currentPid();
}
