import { ForkGuardError, IncompatiblePoolError, InvalidArgumentError, PoolLimitError, describe } from '../shared/errors.js';
import { channels, publish } from '../shared/diagnostics.js';
import { type PgPool, isEnding } from '../seams/pg.js';
import { guard, poolStats, type GuardOptions, type PgPoolLike } from '../guard/guard.js';

export type EvictReason = 'lru' | 'idle' | 'manual' | 'end';
export type OverflowPolicy = 'throw' | 'wait' | 'allow';

export interface PoolRegistryOptions<K, P extends PgPoolLike> {
  /** Makes the pool for a key (a new pg.Pool); it is guarded if it is not already. */
  create(key: K): P | Promise<P>;
  /** Most pools open at once (default: no cap). */
  maxPools?: number;
  /** A pool unused for this long is evicted by the reaper (default 300 000 ms). */
  idleTimeoutMs?: number;
  /** How often the reaper looks (default: idleTimeoutMs / 2, at most 30 000 ms). */
  reapIntervalMs?: number;
  /** At maxPools with no pool to evict: 'throw' a PoolLimitError, 'wait' for one (default), or
   * 'allow' going over (with a warning). */
  overflow?: OverflowPolicy;
  /** How long overflow 'wait' waits before a PoolLimitError (default 5 000 ms). */
  waitTimeoutMs?: number;
  /** Keys never evicted by the LRU or the reaper (registry.evict(key) still can). */
  protectedKeys?: Iterable<K>;
  /** Called for every eviction, after the pool left the registry and while it ends. */
  onEvict?(key: K, reason: EvictReason): void;
  /** In errors, warnings and stats (default 'registry'). */
  name?: string;
  /** guard() options for the pools it creates; each pool is named `<registry name>:<key>`. */
  guard?: Omit<GuardOptions, 'name'>;
}

export interface RegistryStats {
  name: string;
  pools: number;
  connections: number;
  busy: number;
  idle: number;
  waiting: number;
  evictions: number;
  /** Connections inherited across fork and dropped, summed over the pools. */
  inheritedDrops: number;
  /** Pools admitted over maxPools (overflow 'allow'). */
  overflowed: number;
  /** get() calls waiting for room (overflow 'wait'). */
  waiters: number;
  keys: Array<{ key: string; total: number; idle: number; busy: number; waiting: number; idleMs: number }>;
}

export interface PoolRegistry<K, P extends PgPoolLike> {
  /** The pool for `key`, created on demand. Concurrent calls for one key share one pool. */
  get(key: K): Promise<P>;
  /** Ends the pool for `key` (waits for its clients to be released). False if there was none. */
  evict(key: K): Promise<boolean>;
  /** One reaper pass: resolves to how many pools it evicted. Never rejects. */
  runCycle(): Promise<number>;
  /** Starts the reaper (done at creation); idempotent. */
  start(): void;
  /** Stops the reaper. */
  stop(): void;
  /** Stops the reaper, fails waiting get() calls, ends every pool. */
  end(): Promise<void>;
  stats(): RegistryStats;
}

interface Entry<K, P> {
  key: K;
  pool: P | undefined;
  creating: Promise<P> | undefined;
  lastUsed: number;
  /** Handed out by get() this turn of the loop: not evictable until the caller had a chance to check out. */
  pins: number;
}

interface Waiter<K, P> {
  key: K;
  since: number;
  resolve(p: Promise<P>): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

type Pool = Omit<PgPoolLike, 'end'> & {
  on(event: string, fn: (...args: unknown[]) => void): unknown;
  end(): Promise<void>;
};

function positive(value: unknown, what: string, opts: { integer?: boolean; infinite?: boolean } = {}): number {
  const ok =
    typeof value === 'number' &&
    value > 0 &&
    (Number.isFinite(value) ? !opts.integer || Number.isInteger(value) : opts.infinite === true && value === Infinity);
  if (!ok) {
    throw new InvalidArgumentError(
      `createPoolRegistry(options): ${what} must be a positive ${opts.integer ? 'integer' : 'number'}` +
        `${opts.infinite ? ' (or Infinity)' : ''}, got ${describe(value)}.`,
    );
  }
  return value as number;
}

const OPTION_KEYS = new Set([
  'create',
  'maxPools',
  'idleTimeoutMs',
  'reapIntervalMs',
  'overflow',
  'waitTimeoutMs',
  'protectedKeys',
  'onEvict',
  'name',
  'guard',
]);

/**
 * A fork-aware registry of guarded pools, one per key (tenant, database): created on demand, capped
 * by admission control (evicting the least recently used idle pool), reaped when idle. In a forked
 * child every pool is reset like any guarded pool, the reaper keeps running there, and evictions
 * end only the child's own connections.
 */
export function createPoolRegistry<K, P extends PgPoolLike>(options: PoolRegistryOptions<K, P>): PoolRegistry<K, P> {
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError(`createPoolRegistry(options): options must be an object with a create(key) function, got ${describe(options)}.`);
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) {
      throw new InvalidArgumentError(`createPoolRegistry(options): unknown option '${key}'; the options are ${[...OPTION_KEYS].join(', ')}.`);
    }
  }
  if (typeof options.create !== 'function') {
    throw new InvalidArgumentError(`createPoolRegistry(options): options.create must be a function (key) => pg.Pool, got ${describe(options.create)}.`);
  }
  const name = options.name ?? 'registry';
  if (typeof name !== 'string' || name === '') {
    throw new InvalidArgumentError(`createPoolRegistry(options): options.name must be a non-empty string, got ${describe(name)}.`);
  }
  const maxPools = options.maxPools === undefined ? Infinity : positive(options.maxPools, 'maxPools', { integer: true, infinite: true });
  const idleTimeoutMs = options.idleTimeoutMs === undefined ? 300_000 : positive(options.idleTimeoutMs, 'idleTimeoutMs', { infinite: true });
  const reapIntervalMs =
    options.reapIntervalMs === undefined
      ? Math.min(30_000, Number.isFinite(idleTimeoutMs) ? Math.max(1, idleTimeoutMs / 2) : 30_000)
      : positive(options.reapIntervalMs, 'reapIntervalMs');
  const waitTimeoutMs = options.waitTimeoutMs === undefined ? 5_000 : positive(options.waitTimeoutMs, 'waitTimeoutMs', { infinite: true });
  const overflow = options.overflow ?? 'wait';
  if (overflow !== 'throw' && overflow !== 'wait' && overflow !== 'allow') {
    throw new InvalidArgumentError(
      `createPoolRegistry(options): options.overflow must be 'throw', 'wait' or 'allow', got ${describe(overflow)}.`,
    );
  }
  if (options.onEvict !== undefined && typeof options.onEvict !== 'function') {
    throw new InvalidArgumentError(`createPoolRegistry(options): options.onEvict must be a function (key, reason), got ${describe(options.onEvict)}.`);
  }
  if (
    options.protectedKeys !== undefined &&
    (options.protectedKeys === null || typeof (options.protectedKeys as Iterable<K>)[Symbol.iterator] !== 'function')
  ) {
    throw new InvalidArgumentError(
      `createPoolRegistry(options): options.protectedKeys must be iterable (an array or a Set of keys), got ${describe(options.protectedKeys)}.`,
    );
  }
  if (options.guard !== undefined && (options.guard === null || typeof options.guard !== 'object')) {
    throw new InvalidArgumentError(`createPoolRegistry(options): options.guard must be an object of guard() options, got ${describe(options.guard)}.`);
  }
  const protectedKeys = new Set<K>(options.protectedKeys ?? []);
  const create = options.create;
  const onEvict = options.onEvict;

  const entries = new Map<K, Entry<K, P>>();
  const waiters: Array<Waiter<K, P>> = [];
  const ending = new Set<Promise<void>>();
  let evictions = 0;
  let overflowed = 0;
  let ended = false;
  let timer: ReturnType<typeof setInterval> | undefined;

  const label = (key: K): string => (typeof key === 'string' ? JSON.stringify(key) : String(key));
  const asPool = (p: P): Pool => p as unknown as Pool;
  const busyOf = (p: P): number => asPool(p).totalCount - asPool(p).idleCount + asPool(p).waitingCount;

  function evictable(e: Entry<K, P>): boolean {
    return e.pool !== undefined && e.pins === 0 && !protectedKeys.has(e.key) && busyOf(e.pool) === 0;
  }

  function lruEvictable(): Entry<K, P> | undefined {
    let best: Entry<K, P> | undefined;
    for (const e of entries.values()) if (evictable(e) && (!best || e.lastUsed < best.lastUsed)) best = e;
    return best;
  }

  function warn(message: string, code: string): void {
    process.emitWarning(`pg-forkguard: registry "${name}": ${message}`, { code });
  }

  /** Takes the entry out (its slot is free at once) and ends its pool; resolves when it has ended. */
  function evictEntry(e: Entry<K, P>, reason: EvictReason): Promise<void> {
    if (entries.get(e.key) === e) entries.delete(e.key);
    evictions++;
    publish(channels.poolEvict, () => ({ registry: name, key: e.key, reason }));
    if (onEvict) {
      try {
        onEvict(e.key, reason);
      } catch (err) {
        warn(`onEvict(${label(e.key)}, '${reason}') threw: ${(err as Error)?.stack ?? err}`, 'FORKGUARD_REGISTRY_HOOK_FAILED');
      }
    }
    const pool = e.pool ? asPool(e.pool) : undefined;
    const done =
      pool && !isEnding(pool as unknown as PgPool)
        ? pool.end().catch((err: unknown) => warn(`ending the pool for ${label(e.key)} failed: ${(err as Error)?.message ?? err}`, 'FORKGUARD_REGISTRY_END_FAILED'))
        : Promise.resolve();
    const tracked = done.then(() => {
      ending.delete(tracked);
    });
    ending.add(tracked);
    return tracked;
  }

  function pin(e: Entry<K, P>): void {
    e.pins++;
    setImmediate(() => {
      e.pins--;
      pump();
    }).unref();
  }

  function watchPool(e: Entry<K, P>, pool: P): void {
    const p = asPool(pool);
    const touch = (): void => {
      if (entries.get(e.key) === e) e.lastUsed = Date.now();
    };
    p.on('acquire', touch);
    p.on('release', () => {
      touch();
      // pg-pool emits 'release' before the client is idle again.
      process.nextTick(pump);
    });
  }

  /** Reserves the key's slot now; `after` (an eviction) must finish before the pool is created. */
  function startCreate(key: K, after: Promise<void> | undefined): Promise<P> {
    const e: Entry<K, P> = { key, pool: undefined, creating: undefined, lastUsed: Date.now(), pins: 0 };
    const creating = (async () => {
      if (after) await after;
      const pool = await create(key);
      if (pool === null || typeof pool !== 'object' || typeof (pool as PgPoolLike).connect !== 'function') {
        throw new IncompatiblePoolError(`registry "${name}": create(${label(key)}) must return a pg.Pool, returned ${describe(pool)}.`);
      }
      if (poolStats(pool) === undefined) guard(pool, { ...options.guard, name: `${name}:${String(key)}` });
      return pool;
    })();
    e.creating = creating;
    entries.set(key, e);
    creating.then(
      (pool) => {
        e.pool = pool;
        e.creating = undefined;
        watchPool(e, pool);
        if (entries.get(key) !== e) {
          // Evicted or the registry ended while it was being created.
          void asPool(pool).end().catch(() => {});
          return;
        }
        pin(e);
      },
      () => {
        if (entries.get(key) === e) entries.delete(key);
        pump();
      },
    );
    return creating;
  }

  function busyKeys(): string[] {
    return [...entries.values()].filter((e) => !evictable(e)).map((e) => String(e.key));
  }

  /** Serves waiting get() calls in order while there is room (or something to evict). */
  function pump(): void {
    while (waiters.length > 0 && !ended) {
      const w = waiters[0]!;
      let result: Promise<P>;
      const e = entries.get(w.key);
      if (e) {
        result = handOut(e);
      } else if (entries.size < maxPools) {
        result = startCreate(w.key, undefined);
      } else {
        const victim = lruEvictable();
        if (!victim) return;
        result = startCreate(w.key, evictEntry(victim, 'lru'));
      }
      waiters.shift();
      clearTimeout(w.timer);
      w.resolve(result);
    }
  }

  function handOut(e: Entry<K, P>): Promise<P> {
    e.lastUsed = Date.now();
    if (e.pool) {
      pin(e);
      return Promise.resolve(e.pool);
    }
    return e.creating!;
  }

  function get(key: K): Promise<P> {
    if (ended) {
      return Promise.reject(new ForkGuardError('ERR_FORKGUARD_REGISTRY_ENDED', `registry "${name}": get(${label(key)}) after end().`));
    }
    const e = entries.get(key);
    if (e) return handOut(e);
    if (entries.size < maxPools) return startCreate(key, undefined);
    const victim = lruEvictable();
    if (victim) return startCreate(key, evictEntry(victim, 'lru'));
    if (overflow === 'allow') {
      overflowed++;
      warn(
        `admitted a pool for ${label(key)} over maxPools (${maxPools}): ${entries.size} pools are open and none ` +
          `can be evicted (overflow 'allow').`,
        'FORKGUARD_REGISTRY_OVERFLOW',
      );
      return startCreate(key, undefined);
    }
    if (overflow === 'throw') {
      return Promise.reject(new PoolLimitError({ registry: name, key: label(key), maxPools, busyKeys: busyKeys() }));
    }
    return new Promise<P>((resolve, reject) => {
      const w: Waiter<K, P> = {
        key,
        since: Date.now(),
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i >= 0) waiters.splice(i, 1);
          reject(new PoolLimitError({ registry: name, key: label(key), maxPools, busyKeys: busyKeys(), waitedMs: Date.now() - w.since }));
        }, Math.min(waitTimeoutMs, 2 ** 31 - 1)),
      };
      waiters.push(w);
    });
  }

  async function evict(key: K): Promise<boolean> {
    const e = entries.get(key);
    if (!e) return false;
    if (e.creating) await e.creating.catch(() => {});
    if (entries.get(key) !== e) return false;
    await evictEntry(e, 'manual');
    pump();
    return true;
  }

  async function runCycle(): Promise<number> {
    try {
      if (!Number.isFinite(idleTimeoutMs)) return 0;
      const now = Date.now();
      const done: Array<Promise<void>> = [];
      for (const e of [...entries.values()]) {
        if (evictable(e) && now - e.lastUsed >= idleTimeoutMs) done.push(evictEntry(e, 'idle'));
      }
      await Promise.all(done);
      if (done.length > 0) pump();
      return done.length;
    } catch (err) {
      warn(`a reaper cycle failed: ${(err as Error)?.stack ?? err}`, 'FORKGUARD_REGISTRY_REAP_FAILED');
      return 0;
    }
  }

  function start(): void {
    if (timer || ended) return;
    timer = setInterval(() => void runCycle(), reapIntervalMs);
    timer.unref();
  }

  function stop(): void {
    if (timer) clearInterval(timer);
    timer = undefined;
  }

  async function end(): Promise<void> {
    ended = true;
    stop();
    for (const w of waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new ForkGuardError('ERR_FORKGUARD_REGISTRY_ENDED', `registry "${name}": ended while get(${label(w.key)}) was waiting.`));
    }
    const all: Array<Promise<void>> = [];
    for (const e of [...entries.values()]) {
      if (e.creating) await e.creating.catch(() => {});
      all.push(evictEntry(e, 'end'));
    }
    await Promise.all([...all, ...ending]);
  }

  function stats(): RegistryStats {
    const now = Date.now();
    const out: RegistryStats = {
      name,
      pools: entries.size,
      connections: 0,
      busy: 0,
      idle: 0,
      waiting: 0,
      evictions,
      inheritedDrops: 0,
      overflowed,
      waiters: waiters.length,
      keys: [],
    };
    for (const e of entries.values()) {
      const s = e.pool ? poolStats(e.pool) : undefined;
      if (!s) continue;
      out.connections += s.total;
      out.busy += s.busy;
      out.idle += s.idle;
      out.waiting += s.waiting;
      out.inheritedDrops += s.droppedInherited;
      out.keys.push({ key: String(e.key), total: s.total, idle: s.idle, busy: s.busy, waiting: s.waiting, idleMs: now - e.lastUsed });
    }
    return out;
  }

  start();
  return { get, evict, runCycle, start, stop, end, stats };
}
