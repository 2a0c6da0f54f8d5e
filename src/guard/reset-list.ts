// The reset list: everything reset once per new process, before its loop first polls. Guarded pg
// pools and clients go on it (held weakly), and so does whatever the app passes to the public
// addResettable() (held until removeResettable()). Not to be confused with the fd registry (fd-registry.ts:
// sockets the native child handler neutralises), the pool registry (pool-registry.ts: pools per
// tenant) or the zero-code entry (src/register.ts: pg-forkguard/register).
import { IncompatiblePoolError, describe } from '../shared/errors.js';
import { install } from '../runtime/state.js';

/** Anything that owns connections and knows how to let go of inherited ones. */
export interface Resettable {
  /** Called synchronously, with no arguments, once per new process, before its loop first polls. */
  resetAfterFork(): void;
}

interface Entry {
  /** Guarded pg objects are held weakly: their open sockets keep them alive while it matters. */
  weak?: WeakRef<object>;
  /** addResettable()'s pools are held until removeResettable(): an object of the app's must not vanish with GC. */
  strong?: object;
  reset(target: object, generation: number): void;
  label(target: object): string;
}

// Insertion-ordered: pools are reset in the order they were guarded or registered.
const entries = new Set<Entry>();
const registered = new Map<object, Entry>();
// A guarded object that becomes unreachable takes its entry with it: nothing is kept for it.
const forget = new FinalizationRegistry<Entry>((entry) => entries.delete(entry));

export type GuardedEntry = Entry;

/** For the guard: puts a pg pool or client on the list reset in every new process. */
export function addGuarded(
  target: object,
  reset: (target: object, generation: number) => void,
  label: (target: object) => string,
): Entry {
  const entry: Entry = { weak: new WeakRef(target), reset, label };
  entries.add(entry);
  forget.register(target, entry, entry);
  return entry;
}

/** Takes a guarded object off the list (a standalone client whose connection closed). */
export function removeGuarded(entry: Entry): void {
  entries.delete(entry);
  forget.unregister(entry);
}

/** Guarded targets still alive, in guard order. */
export function* guardedTargets(): Generator<object> {
  for (const e of entries) {
    const t = e.weak?.deref();
    if (t !== undefined) yield t;
  }
}

/** A new process's reset step (src/wiring.ts): every entry, in the order it was added. */
export function resetAll(generation: number): void {
  for (const e of [...entries]) {
    const target = e.weak ? e.weak.deref() : e.strong;
    if (target === undefined) {
      entries.delete(e);
      continue;
    }
    try {
      e.reset(target, generation);
    } catch (err) {
      // One pool's failure must not leave the others holding the parent's connections.
      let label = 'a pool';
      try {
        label = e.label(target);
      } catch {}
      process.emitWarning(
        `pg-forkguard: resetting ${label} after fork failed (the other pools were reset): ` +
          `${(err as Error)?.stack ?? String(err)}`,
        { code: 'FORKGUARD_RESET_FAILED' },
      );
    }
  }
}

/**
 * Puts any pool on the reset list: `pool.resetAfterFork()` is called synchronously, with no
 * arguments, once per new process (fork generation) in the child, before its event loop first
 * polls, and never in the process that added it. Adding it twice is a no-op. The pool is held
 * until removeResettable().
 */
export function addResettable<T extends Resettable>(pool: T): T {
  if (
    pool === null ||
    (typeof pool !== 'object' && typeof pool !== 'function') ||
    typeof (pool as { resetAfterFork?: unknown }).resetAfterFork !== 'function'
  ) {
    const has =
      pool !== null && (typeof pool === 'object' || typeof pool === 'function')
        ? `; its resetAfterFork is ${describe((pool as { resetAfterFork?: unknown }).resetAfterFork)}`
        : '';
    throw new IncompatiblePoolError(
      `addResettable(pool): pool must be an object with a resetAfterFork() method (called in each forked ` +
        `child before its event loop polls), got ${describe(pool)}${has}. For a pg.Pool or pg.Client use guard().`,
    );
  }
  install();
  if (registered.has(pool)) return pool;
  const entry: Entry = {
    strong: pool,
    reset: (t) => (t as Resettable).resetAfterFork(),
    label: (t) => `resettable ${describe(t)}`,
  };
  registered.set(pool, entry);
  entries.add(entry);
  return pool;
}

/** Takes a pool added with addResettable() off the reset list. False if it was not on it. */
export function removeResettable(pool: object): boolean {
  const entry = registered.get(pool);
  if (!entry) return false;
  registered.delete(pool);
  entries.delete(entry);
  return true;
}

const warnedDeprecated = new Set<string>();
function deprecated(old: string, now: string): void {
  if (warnedDeprecated.has(old)) return;
  warnedDeprecated.add(old);
  process.emitWarning(
    `pg-forkguard: ${old}() is deprecated: use ${now}(), which does the same. The old name read like the ` +
      `pg-forkguard/register entry, which is unrelated.`,
    { type: 'DeprecationWarning', code: 'FORKGUARD_DEP_REGISTER' },
  );
}

/** @deprecated Use addResettable(): the same function, under a name that says what it does. */
export function register<T extends Resettable>(pool: T): T {
  deprecated('register', 'addResettable');
  return addResettable(pool);
}

/** @deprecated Use removeResettable(). */
export function unregister(pool: object): boolean {
  deprecated('unregister', 'removeResettable');
  return removeResettable(pool);
}
