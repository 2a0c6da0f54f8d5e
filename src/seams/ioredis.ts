// ioredis (its Redis and Cluster classes), as pg-forkguard reaches it: the only file that knows its
// shape. What the guard relies on: connect(), which each class calls for every connection it opens
// (reconnects included, and at construction unless lazyConnect), and flushQueue(error), which rejects
// every command still waiting for the server (Redis: its offline queue and the commands sent and not
// yet answered; Cluster: its offline queue) without re-sending any. Tested with ioredis 5.
type Ctor = Function & { prototype: object };

/** What guard() accepts as an ioredis client: a Redis or a Cluster. */
export interface RedisLike {
  connect(...args: any[]): unknown;
  disconnect(...args: any[]): unknown;
  sendCommand(...args: any[]): unknown;
  flushQueue(error: Error, ...rest: any[]): void;
}

const METHODS = ['connect', 'disconnect', 'sendCommand', 'flushQueue'] as const;

function hasMethods(o: unknown): boolean {
  if (o === null || (typeof o !== 'object' && typeof o !== 'function')) return false;
  const r = o as Record<string, unknown>;
  return METHODS.every((m) => typeof r[m] === 'function') && (typeof r.duplicate === 'function' || typeof r.nodes === 'function');
}

/** An ioredis Redis or Cluster class: what ioredis/built/Redis.js and cluster/index.js export as default. */
export function isRedisClass(C: unknown): C is Ctor {
  return typeof C === 'function' && hasMethods((C as Ctor).prototype);
}

/** An ioredis client: its methods, and the offline queue every ioredis client keeps. */
export function isRedisClient(x: unknown): x is RedisLike {
  return hasMethods(x) && typeof (x as { offlineQueue?: { length?: unknown } }).offlineQueue?.length === 'number';
}

/** ioredis's class modules, as CommonJS compiles them (src/register.ts). */
const MODULE = /[\\/]ioredis[\\/]built[\\/](?:Redis|cluster[\\/]index)\.js$/;
export function redisClassOfModule(filename: string, exports: unknown): Ctor | undefined {
  if (!MODULE.test(filename) || exports === null || typeof exports !== 'object') return undefined;
  const C = Object.getOwnPropertyDescriptor(exports, 'default')?.value;
  return isRedisClass(C) ? C : undefined;
}

/** A Cluster (it lists its nodes) rather than a Redis. */
export function isCluster(r: object): boolean {
  return typeof (r as { nodes?: unknown }).nodes === 'function';
}

/** Commands that have not been answered: sent on the connection, or waiting in the offline queue. */
export function pendingCommands(r: RedisLike): number {
  const q = r as unknown as { commandQueue?: { length?: number }; offlineQueue?: { length?: number } };
  return (q.commandQueue?.length ?? 0) + (q.offlineQueue?.length ?? 0);
}

/** Rejects every pending command with `error`; none is sent again. */
export function rejectPending(r: RedisLike, error: Error): void {
  r.flushQueue(error);
}
