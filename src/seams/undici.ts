// undici (the npm package, and the copy inside Node that runs the global fetch()), as pg-forkguard
// reaches it: the only file that knows its shape. Its objects keep their state under symbols, found
// here by their descriptions: a Client's 'queue' of requests with its 'running index' (the first
// request written and not yet answered) and 'pending index' (the first not yet written); a Pool's
// or an Agent's 'clients'; a Pool's own 'queue' (a FixedQueue of { handler } waiting for a free
// Client, with its count under 'queued'). The global dispatcher is under Symbol.for('undici.globalDispatcher.1'),
// undici's own public key for it. Tested with undici 7 and the undici of Node 20-26.
type Dict = Record<symbol, unknown>;

const GLOBAL_DISPATCHER = Symbol.for('undici.globalDispatcher.1');

function symbolOf(o: object, description: string): symbol | undefined {
  return Object.getOwnPropertySymbols(o).find((s) => s.description === description);
}

/** A Client: what holds requests on one connection. */
interface ClientKeys {
  queue: symbol;
  running: symbol;
  pending: symbol;
}

function clientKeys(o: object): ClientKeys | undefined {
  const queue = symbolOf(o, 'queue');
  const running = symbolOf(o, 'running index');
  const pending = symbolOf(o, 'pending index');
  if (!queue || !running || !pending || !Array.isArray((o as Dict)[queue])) return undefined;
  return { queue, running, pending };
}

interface WaitQueue {
  shift(): { handler?: { onError?(e: Error): void } } | null | undefined;
}

/** A Pool's queue of requests waiting for a free Client. */
function waitQueueOf(o: object): WaitQueue | undefined {
  const key = symbolOf(o, 'queue');
  const q = key ? (o as Dict)[key] : undefined;
  return q !== null && typeof q === 'object' && !Array.isArray(q) && typeof (q as WaitQueue).shift === 'function' ? (q as WaitQueue) : undefined;
}

/** Every Client under `root` (a Client, Pool, BalancedPool or Agent), into `out`; the Pools also. */
function collect(root: unknown, out: Set<object>): void {
  if (root === null || typeof root !== 'object' || out.has(root)) return;
  if (clientKeys(root)) {
    out.add(root);
    return;
  }
  const key = symbolOf(root, 'clients');
  if (!key) return;
  if (waitQueueOf(root)) out.add(root);
  const clients = (root as Dict)[key];
  const items = clients instanceof Map ? [...clients.values()] : Array.isArray(clients) ? clients : [];
  for (let item of items) {
    if (item instanceof WeakRef) item = item.deref();
    else if (item && typeof item === 'object' && 'dispatcher' in item) item = (item as { dispatcher: unknown }).dispatcher;
    collect(item, out);
  }
}

/** The Clients and Pools under these dispatchers and under the global dispatcher (global fetch()'s). */
export function undiciClients(roots: Iterable<object>): Set<object> {
  const out = new Set<object>();
  collect((globalThis as unknown as Dict)[GLOBAL_DISPATCHER], out);
  for (const r of roots) collect(r, out);
  return out;
}

/**
 * Fails every request of `client` that is running or pending (written and unanswered, or not yet
 * written) with `error`, and takes it off the queue, so that none is written again. Returns how many.
 */
export function failQueuedRequests(client: object, error: Error): number {
  const k = clientKeys(client);
  if (!k) return failWaiting(client, error);
  const c = client as Dict;
  const queue = c[k.queue] as Array<{ onError?(e: Error): void } | null>;
  const from = c[k.running] as number;
  const requests = queue.splice(from);
  c[k.pending] = from;
  let n = 0;
  for (const r of requests) {
    if (!r) continue;
    n++;
    try {
      r.onError?.(error);
    } catch {
      // A handler that throws on an error is the app's: its request is failed either way.
    }
  }
  return n;
}

/** A Pool's requests waiting for a free Client fail with `error`, as undici's own destroy() does. */
function failWaiting(pool: object, error: Error): number {
  const q = waitQueueOf(pool);
  if (!q) return 0;
  const queued = symbolOf(pool, 'queued');
  let n = 0;
  for (let item = q.shift(); item; item = q.shift()) {
    n++;
    if (queued && typeof (pool as Dict)[queued] === 'number') ((pool as Dict)[queued] as number)--;
    try {
      item.handler?.onError?.(error);
    } catch {
      // As above: the request is failed either way.
    }
  }
  return n;
}

/** undici's dispatcher base class module, as CommonJS compiles it (src/register.ts). */
const MODULE = /[\\/]undici[\\/]lib[\\/]dispatcher[\\/]dispatcher-base\.js$/;
export function dispatcherBaseOfModule(filename: string, exports: unknown): (Function & { prototype: object }) | undefined {
  if (!MODULE.test(filename) || typeof exports !== 'function') return undefined;
  const proto = (exports as { prototype?: { dispatch?: unknown } }).prototype;
  return typeof proto?.dispatch === 'function' ? (exports as Function & { prototype: object }) : undefined;
}

/** An undici dispatcher (Client, Pool, Agent): what guard() accepts of undici. */
export function isUndiciDispatcher(x: unknown): x is object {
  if (x === null || typeof x !== 'object') return false;
  const d = x as { dispatch?: unknown; close?: unknown; destroy?: unknown };
  return typeof d.dispatch === 'function' && typeof d.close === 'function' && typeof d.destroy === 'function' && (clientKeys(x) !== undefined || symbolOf(x, 'clients') !== undefined);
}
