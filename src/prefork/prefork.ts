// prefork(): the pre-fork server (Unicorn, Puma, gunicorn --preload) for Node. The master loads the
// app once, then forks workers that share its memory copy-on-write and accept directly on its
// listening sockets; it supervises them (respawn with backoff), stops them gracefully, and replaces
// them one at a time on reload. What runs in a worker is src/prefork-worker.ts; this file is the
// master.
import { EventEmitter } from 'node:events';
import { closeSync, readFileSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { availableParallelism } from 'node:os';
import { InvalidArgumentError, PreforkError, describe } from '../shared/errors.js';
import { adoptChild, assertCanFork, fork, waitpid } from '../runtime/fork.js';
import { currentPid } from '../runtime/state.js';
import { native } from '../seams/addon.js';
import { activeHandles, handleFd } from '../seams/node.js';
import { becomeWorker, workerInfo, type WorkerInfo } from './worker.js';
import { masterBalance } from './balance.js';
import { canFlattenStrings } from './flatten-strings.js';
import { type SettleHeap, settleHeap, settleKinds } from './settle-heap.js';
import { type ChannelEnds, MAX_LINE, closeEnd, endSocket, lineReader, openChannel } from './channel.js';
import { monotonicUsec, systemdNotifier } from './systemd.js';
import { type PreforkMemory, preforkMemory } from './memory.js';
import { channels as diagnostics, publish } from '../shared/diagnostics.js';

export type { WorkerInfo } from './worker.js';
export type { PreforkMemory, ProcessMemory, WorkerMemory } from './memory.js';

export interface PreforkOptions {
  /** How many workers (default os.availableParallelism()). */
  workers?: number;
  /** Called in every worker, first or replacement, before it counts as ready; may return a promise. */
  worker?(info: WorkerInfo): void | Promise<void>;
  /** Called in a worker that stops gracefully, once its servers have finished their requests. */
  stop?(info: WorkerInfo): void | Promise<void>;
  /** A worker not ready this long after its fork is killed and replaced (default 30 000 ms). */
  readyTimeoutMs?: number;
  /** How long a worker may take to stop gracefully before SIGKILL (default 30 000 ms). */
  stopTimeoutMs?: number;
  /** The wait before replacing a worker that died, doubled for each death in a row (default 100 ms)... */
  respawnDelayMs?: number;
  /** ...up to this (default 10 000 ms). A worker that lived `healthyAfterMs` resets the count. */
  maxRespawnDelayMs?: number;
  /** A worker alive this long counts as healthy: its death starts the backoff over (default 10 000 ms). */
  healthyAfterMs?: number;
  /** How the master settles its heap before forking, so workers share it: 'young' (two scavenges,
   * the default), 'full' (a full collection with V8's compaction), 'flatten' ('full' after flattening
   * the strings the app's objects hold) or 'none'. See settle-heap.ts. */
  settleHeap?: SettleHeap;
  /** Signals that stop the master gracefully (default ['SIGTERM', 'SIGINT']); [] for none. */
  stopSignals?: NodeJS.Signals[];
  /** The signal that reloads (default 'SIGHUP'); null for none. */
  reloadSignal?: NodeJS.Signals | null;
  /** Publishes master.memory() on the 'pgforkguard:prefork:memory' diagnostics channel this often
   * (default 0: never). The timer does not keep the master alive. */
  memoryIntervalMs?: number;
  /** Reforking (mold.ts): once a worker has served `afterRequests` HTTP requests, it becomes the
   * mold every worker is then forked from, so that they share its warm heap. master.refork() does
   * the same on demand. */
  refork?: { afterRequests?: number };
  /** Keeps HTTP keep-alive connections spread over the workers (default true): a worker holding
   * more than one over its share answers the extra ones' next request with `Connection: close`, so
   * their clients reconnect to a less busy worker. See balance.ts. */
  balance?: boolean;
}

export interface WorkerEvent {
  id: number;
  pid: number;
}

/** What prefork() returns in the master. Events: 'start' (a worker forked), 'ready', 'exit'
 * ({ id, pid, code, signal, expected }), 'respawn' ({ id, delayMs, deaths }), 'stop'. */
export interface Master extends EventEmitter {
  readonly isWorker: false;
  /** The pids of the live workers (a reload briefly has one more). */
  readonly workers: number[];
  /** Stops every worker gracefully (SIGKILL after stopTimeoutMs); the master stays. */
  stop(): Promise<void>;
  /** Replaces the workers one at a time, each only once its successor is ready. */
  reload(): Promise<void>;
  /** The master's and each worker's memory now, as the kernel counts it (PSS, Private_Dirty, shared). */
  memory(): PreforkMemory;
  /** Promotes a warm worker (the oldest ready one) to be the mold, then replaces every worker, one at
   * a time, with one forked from it; never fewer than workers-1 serve meanwhile (mold.ts). */
  refork(): Promise<void>;
  /** The mold's pid while there is one. */
  readonly mold: number | undefined;
}

const DEFAULTS = {
  readyTimeoutMs: 30_000,
  stopTimeoutMs: 30_000,
  respawnDelayMs: 100,
  maxRespawnDelayMs: 10_000,
  healthyAfterMs: 10_000,
  settleHeap: 'young' as SettleHeap,
  stopSignals: ['SIGTERM', 'SIGINT'] as NodeJS.Signals[],
  reloadSignal: 'SIGHUP' as NodeJS.Signals | null,
  memoryIntervalMs: 0,
  /** 0: no refork but master.refork()'s. */
  reforkAfterRequests: 0,
  balance: true,
};
type Settings = typeof DEFAULTS & { workers: number; worker?: PreforkOptions['worker']; stop?: PreforkOptions['stop'] };

/** The master's ends of one worker's control channel and handoff socket (channel.ts, mold.ts). */
interface Link {
  channel: Socket;
  handoff: number;
}

/** The mold (mold.ts), as the master sees it. */
interface Mold {
  pid: number;
  link: Link;
  /** It has stopped serving and forks on order. */
  molded: boolean;
  /** Its replies, to whoever waits for them; each waiter gets undefined if the mold goes first. */
  waiters: Set<(msg: MoldReply | undefined) => void>;
}

interface MoldReply {
  molded?: number;
  moldFailed?: number;
  forked?: number;
  forkFailed?: number;
  child?: number;
  why?: string;
}

/** The parent of `pid` as the kernel has it now, or 0 if it cannot be read. */
function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) || 0;
  } catch {
    return 0;
  }
}

/** One place a worker runs in: its id, and the process holding it now. */
interface Slot {
  id: number;
  pid: number;
  startedAt: number;
  ready: boolean;
  /** Deaths in a row without a healthy run. */
  deaths: number;
  /** Settles when this slot's current worker is ready (true) or gone first (false). */
  onReady?: (ok: boolean) => void;
  readyTimer?: NodeJS.Timeout;
  respawnTimer?: NodeJS.Timeout;
}

let role: 'none' | 'master' | 'worker' = 'none';

function checkOptions(options: unknown): Settings {
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw new InvalidArgumentError(`prefork(options): options must be an object like { workers: 4 }, got ${describe(options)}.`);
  }
  const o = (options ?? {}) as Record<string, unknown>;
  const known = new Set(['workers', 'worker', 'stop', 'refork', ...Object.keys(DEFAULTS).filter((k) => k !== 'reforkAfterRequests')]);
  for (const key of Object.keys(o)) {
    if (!known.has(key)) {
      throw new InvalidArgumentError(`prefork(options): unknown option '${key}'; known are ${[...known].join(', ')}.`);
    }
  }
  const positiveInt = (key: string, v: unknown, min: number): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
      throw new InvalidArgumentError(`prefork(options): options.${key} must be an integer >= ${min}, got ${describe(v)}.`);
    }
    return v;
  };
  const s: Settings = { ...DEFAULTS, workers: availableParallelism() };
  if (o.workers !== undefined) s.workers = positiveInt('workers', o.workers, 1);
  for (const key of ['readyTimeoutMs', 'stopTimeoutMs', 'respawnDelayMs', 'maxRespawnDelayMs', 'healthyAfterMs', 'memoryIntervalMs'] as const) {
    if (o[key] !== undefined) s[key] = positiveInt(key, o[key], key === 'respawnDelayMs' || key === 'memoryIntervalMs' ? 0 : 1);
  }
  for (const key of ['worker', 'stop'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'function') {
      throw new InvalidArgumentError(`prefork(options): options.${key} must be a function, got ${describe(o[key])}.`);
    }
    if (o[key] !== undefined) s[key] = o[key] as never;
  }
  if (o.settleHeap !== undefined) {
    if (!settleKinds.includes(o.settleHeap as SettleHeap)) {
      throw new InvalidArgumentError(
        `prefork(options): options.settleHeap must be one of ${settleKinds.map((k) => `'${k}'`).join(', ')}, got ${describe(o.settleHeap)}.`,
      );
    }
    s.settleHeap = o.settleHeap as SettleHeap;
    if (s.settleHeap === 'flatten' && !canFlattenStrings()) {
      throw new PreforkError(
        'ERR_FORKGUARD_NO_INSPECTOR',
        "prefork(options): settleHeap 'flatten' finds the app's strings through node:inspector, which this Node " +
          "was built without. Use settleHeap: 'full', and flatten the state in the app (JSON.stringify(state) " +
          'once before prefork()).',
      );
    }
  }
  if (o.refork !== undefined) {
    const r = o.refork as Record<string, unknown> | null;
    if (r === null || typeof r !== 'object' || Object.keys(r).some((k) => k !== 'afterRequests')) {
      throw new InvalidArgumentError(`prefork(options): options.refork must be an object like { afterRequests: 10000 }, got ${describe(o.refork)}.`);
    }
    if (r.afterRequests !== undefined) s.reforkAfterRequests = positiveInt('refork.afterRequests', r.afterRequests, 1);
  }
  if (o.balance !== undefined) {
    if (typeof o.balance !== 'boolean') {
      throw new InvalidArgumentError(`prefork(options): options.balance must be true or false, got ${describe(o.balance)}.`);
    }
    s.balance = o.balance;
  }
  if (o.stopSignals !== undefined) {
    if (!Array.isArray(o.stopSignals) || o.stopSignals.some((x) => typeof x !== 'string')) {
      throw new InvalidArgumentError(`prefork(options): options.stopSignals must be an array of signal names, got ${describe(o.stopSignals)}.`);
    }
    s.stopSignals = o.stopSignals as NodeJS.Signals[];
  }
  if (o.reloadSignal !== undefined) {
    if (o.reloadSignal !== null && typeof o.reloadSignal !== 'string') {
      throw new InvalidArgumentError(`prefork(options): options.reloadSignal must be a signal name or null, got ${describe(o.reloadSignal)}.`);
    }
    s.reloadSignal = o.reloadSignal as NodeJS.Signals | null;
  }
  return s;
}

function checkCanPrefork(): void {
  if (role === 'worker') {
    throw new PreforkError(
      'ERR_FORKGUARD_PREFORK_IN_WORKER',
      'prefork() was called in a prefork worker. Only the master forks workers: call prefork() once, at ' +
        'the top level of the app, and run worker code after it when isWorker is true (or in options.worker).',
    );
  }
  if (role === 'master') {
    throw new PreforkError(
      'ERR_FORKGUARD_PREFORK_TWICE',
      'prefork() was already called in this process, which is the master of its workers. Call it once; ' +
        'use the returned master to reload() or stop() them.',
    );
  }
  // Every refusal fork() could make, made now: before any server of the app is touched.
  assertCanFork({}, 'prefork()');
}

/** A listening server of the app, and a copy of its socket the master keeps for later workers. */
interface Listener {
  server: Server;
  fd: number;
}

// The app's listening servers: net.Server (http, https, ...) with a listening handle that has an fd.
// Nothing of the app is touched here: if a copy cannot be made, the copies made so far are closed.
function appListeners(): Listener[] {
  const out: Listener[] = [];
  for (const h of activeHandles()) {
    if (!(h instanceof EventEmitter) || typeof (h as Server).listen !== 'function') continue;
    const server = h as Server;
    const fd = handleFd(server);
    if (!server.listening || fd < 0) continue;
    const copy = native.dupFd(fd);
    if (copy < 0) {
      for (const l of out) closeEnd(l.fd);
      throw new PreforkError(
        'ERR_FORKGUARD_PREFORK_LISTENER',
        `prefork(): could not keep a copy of listening socket fd ${fd} (errno ${-copy}); check the fd limit (ulimit -n).`,
      );
    }
    out.push({ server, fd: copy });
  }
  return out;
}

/**
 * The master stops accepting: its servers close, and workers listen on the copies it keeps. A
 * unix-socket server's path stays: libuv would unlink it on close, and every worker would go on
 * listening on a socket no client can find.
 */
function stopAccepting(listeners: Listener[]): void {
  for (const l of listeners) {
    native.keepSocketPath(handleFd(l.server));
    l.server.close();
  }
}

/** A prefork() whose first workers could not all be forked gives the app its servers back, on the same sockets. */
function resumeAccepting(listeners: Listener[]): void {
  for (const l of listeners) l.server.listen({ fd: l.fd });
}

/**
 * The pre-fork server. In each worker of the first generation it returns `{ isWorker: true, id }`;
 * in the master, the Master that supervises them. Synchronous, like fork().
 */
export function prefork(options?: PreforkOptions): WorkerInfo | Master {
  const s = checkOptions(options);
  checkCanPrefork();
  const listeners = appListeners();
  role = 'master';

  const master = new EventEmitter() as Master & EventEmitter;
  const slots: Slot[] = Array.from({ length: s.workers }, (_, id) => ({ id, pid: 0, startedAt: 0, ready: false, deaths: 0 }));
  const live = new Map<number, Slot>(); // pid -> the slot it holds (or held, while it stops)
  const channels = new Set<Socket>(); // the master's end of each worker's control channel (channel.ts)
  const timers = new Set<NodeJS.Timeout>();
  let stopping: Promise<void> | undefined;
  let reloading: Promise<void> | undefined;
  let reforking: Promise<void> | undefined;
  let autoReforked = false;
  const links = new Map<number, Link>(); // pid -> the master's ends of that worker's channel and handoff
  let mold: Mold | undefined;
  let adopting = 0; // forks from the mold under way: the master is a child subreaper while > 0
  const notify = systemdNotifier();
  let announced = false; // READY=1 sent: once every first worker was ready
  const balance = masterBalance(); // the connections each worker holds (balance.ts)

  const later = (ms: number, fn: () => void): NodeJS.Timeout => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
    return t;
  };

  // Orders the serving workers to shed what they hold over their share (balance.ts).
  const rebalance = (): void => {
    if (stopping || !s.balance) return;
    const serving = slots.filter((x) => x.ready && live.has(x.pid)).map((x) => x.pid);
    for (const [pid, shed] of balance.orders(serving)) {
      const channel = links.get(pid)?.channel;
      if (channel && !channel.destroyed) channel.write(`${JSON.stringify({ shed })}\n`);
    }
  };

  // What a worker says on its channel. Who says it is known from the channel, not from the message.
  const onMessage = (slot: Slot, pid: number, line: string): void => {
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      return;
    }
    if (mold?.pid === pid) {
      for (const w of [...mold.waiters]) w(msg as MoldReply);
      return;
    }
    const said = msg as { ready?: unknown; warm?: unknown; conns?: unknown; shedding?: unknown } | null;
    if (typeof said?.conns === 'number' && typeof said.shedding === 'number') {
      if (slot.pid !== pid || !slot.ready) return;
      balance.heard(pid, said.conns, said.shedding);
      rebalance();
      return;
    }
    if (said?.warm === slot.id && slot.pid === pid && slot.ready && s.reforkAfterRequests > 0 && !autoReforked) {
      autoReforked = true;
      reforkFrom(pid).catch((err) => process.emitWarning(`pg-forkguard prefork: ${(err as Error).message}`, { code: 'FORKGUARD_REFORK_FAILED' }));
      return;
    }
    if (said?.ready !== slot.id || slot.pid !== pid || slot.ready) return;
    slot.ready = true;
    clearTimeout(slot.readyTimer);
    rebalance();
    master.emit('ready', { id: slot.id, pid, ms: Date.now() - slot.startedAt });
    if (!announced && !stopping && slots.every((x) => x.ready)) {
      announced = true;
      notify(`READY=1\nMAINPID=${process.pid}\nSTATUS=${slots.length} workers ready`);
    }
    const cb = slot.onReady;
    slot.onReady = undefined;
    cb?.(true);
  };

  const hear = (slot: Slot, pid: number, fd: number): Socket => {
    const channel = endSocket(fd);
    channels.add(channel);
    channel.on('close', () => channels.delete(channel));
    channel.on('error', () => {});
    channel.setEncoding('utf8');
    channel.on(
      'data',
      lineReader(MAX_LINE, (line) => onMessage(slot, pid, line), () => channel.destroy()),
    );
    return channel;
  };

  /** Forks the worker for `slot`. In the child this returns (after becoming the worker) true. */
  const spawn = (slot: Slot): boolean => {
    const ends = openChannel();
    let hand: ChannelEnds;
    try {
      hand = openChannel();
    } catch (err) {
      closeEnd(ends.master);
      closeEnd(ends.worker);
      throw err;
    }
    let pid: number;
    try {
      // The worker keeps its end of the channel and of its handoff socket; the sweep neutralises
      // every other inherited connection (the master's ends of the other workers' among them).
      pid = fork({ keep: [ends.worker, hand.worker] });
    } catch (err) {
      for (const fd of [ends.master, ends.worker, hand.master, hand.worker]) closeEnd(fd);
      throw err;
    }
    if (pid === 0) {
      closeEnd(ends.master);
      closeEnd(hand.master);
      enterWorker(slot.id, ends.worker, hand.worker);
      return true;
    }
    closeEnd(ends.worker);
    closeEnd(hand.worker);
    enlist(slot, pid, ends.master, hand.master);
    return false;
  };

  /** The master's side of a new worker, forked here or by the mold: it holds `slot` from now. */
  const enlist = (slot: Slot, pid: number, channelFd: number, handoffFd: number): void => {
    links.set(pid, { channel: hear(slot, pid, channelFd), handoff: handoffFd });
    slot.pid = pid;
    slot.startedAt = Date.now();
    slot.ready = false;
    live.set(pid, slot);
    slot.readyTimer = later(s.readyTimeoutMs, () => {
      if (slot.pid === pid && !slot.ready) {
        process.emitWarning(`pg-forkguard prefork: worker ${slot.id} (pid ${pid}) was not ready after ${s.readyTimeoutMs} ms; killing it`, {
          code: 'FORKGUARD_WORKER_NOT_READY',
        });
        kill(pid, 'SIGKILL');
      }
    });
    // A tick later: the first generation is forked inside prefork(), before anyone can listen.
    process.nextTick(() => master.emit('start', { id: slot.id, pid }));
    void waitpid(pid).then((status) => onExit(slot, pid, status.code, status.signal));
  };

  const onExit = (slot: Slot, pid: number, code: number | null, signal: string | null): void => {
    live.delete(pid);
    balance.gone(pid);
    rebalance();
    const link = links.get(pid);
    links.delete(pid);
    if (link) closeEnd(link.handoff);
    if (mold?.pid === pid) {
      // The mold is gone: workers are forked by the master again, and whoever waited on it learns so.
      const m = mold;
      mold = undefined;
      for (const w of [...m.waiters]) w(undefined);
      master.emit('exit', { id: slot.id, pid, code, signal, expected: stopping !== undefined, mold: true });
      return;
    }
    const current = slot.pid === pid;
    const expected = stopping !== undefined || !current;
    master.emit('exit', { id: slot.id, pid, code, signal, expected });
    if (!current) return; // a worker replaced by reload: its successor holds the slot
    clearTimeout(slot.readyTimer);
    slot.pid = 0;
    if (!slot.ready) {
      const cb = slot.onReady;
      slot.onReady = undefined;
      cb?.(false);
    }
    if (stopping) return;
    const healthy = slot.ready && Date.now() - slot.startedAt >= s.healthyAfterMs;
    slot.deaths = healthy ? 1 : slot.deaths + 1;
    scheduleRespawn(slot);
  };

  const scheduleRespawn = (slot: Slot): void => {
    const delayMs = Math.min(s.maxRespawnDelayMs, s.respawnDelayMs * 2 ** (slot.deaths - 1));
    master.emit('respawn', { id: slot.id, delayMs, deaths: slot.deaths });
    // A fresh macrotask: the replacement's fork returns 0 there, with nothing of the master's above it.
    slot.respawnTimer = later(delayMs, () => {
      if (!stopping && slot.pid === 0) respawn(slot);
    });
  };

  // A respawn that cannot fork (the process limit, no fds) is retried with the same backoff, as if
  // the worker had died at once: the master never throws from a timer.
  const respawn = (slot: Slot): void => {
    if (mold?.molded) {
      void spawnFromMold(slot).then((ok) => {
        // The mold could not: the master forks it, in a fresh macrotask as any respawn.
        if (!ok && !stopping && slot.pid === 0) later(0, () => !stopping && slot.pid === 0 && respawnHere(slot));
      });
      return;
    }
    respawnHere(slot);
  };

  const respawnHere = (slot: Slot): void => {
    try {
      spawn(slot);
    } catch (err) {
      process.emitWarning(`pg-forkguard prefork: could not fork worker ${slot.id}: ${(err as Error).message}`, {
        code: 'FORKGUARD_WORKER_SPAWN_FAILED',
      });
      slot.deaths++;
      scheduleRespawn(slot);
    }
  };

  const kill = (pid: number, signal: NodeJS.Signals): void => {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  };

  const exitOf = (pid: number): Promise<void> =>
    new Promise((resolve) => {
      if (!live.has(pid)) return resolve();
      const on = (e: { pid: number }) => {
        if (e.pid !== pid) return;
        master.off('exit', on);
        resolve();
      };
      master.on('exit', on);
    });

  const stopWorker = (pid: number): Promise<void> => {
    const gone = exitOf(pid);
    kill(pid, 'SIGTERM');
    const t = later(s.stopTimeoutMs, () => kill(pid, 'SIGKILL'));
    return gone.then(() => {
      clearTimeout(t);
      timers.delete(t);
    });
  };

  /** Becomes a worker: nothing of the master's role survives in this process. */
  const enterWorker = (id: number, channelFd: number, handoffFd: number): void => {
    role = 'worker';
    for (const t of timers) clearTimeout(t);
    timers.clear();
    for (const sig of s.stopSignals) process.off(sig, onStopSignal);
    if (s.reloadSignal) process.off(s.reloadSignal, onReloadSignal);
    // Copies of the master's ends of the other workers' channels: closing them sends nothing, and
    // a worker must not hold them, or those workers would not see the master go.
    for (const c of channels) c.destroy();
    channels.clear();
    for (const l of links.values()) closeEnd(l.handoff);
    links.clear();
    mold = undefined;
    master.removeAllListeners();
    becomeWorker({
      id,
      channelFd,
      handoffFd,
      listeners,
      worker: s.worker,
      stop: s.stop,
      warmAfterRequests: s.reforkAfterRequests,
      settleHeap: s.settleHeap,
      balance: s.balance,
    });
  };

  // -------------------------------------------------------------------------------------------
  // Reforking (mold.ts).

  /** Sends `order` to the mold and resolves with its first reply that `wanted` accepts, or
   * undefined if the mold goes or `ms` pass first. */
  const ask = (m: Mold, order: object, wanted: (r: MoldReply) => boolean, ms: number): Promise<MoldReply | undefined> =>
    new Promise((resolve) => {
      const done = (r: MoldReply | undefined): void => {
        if (r !== undefined && !wanted(r)) return;
        m.waiters.delete(done);
        clearTimeout(t);
        timers.delete(t);
        resolve(r);
      };
      const t = later(ms, () => done(undefined));
      m.waiters.add(done);
      if (!m.link.channel.destroyed) m.link.channel.write(`${JSON.stringify(order)}\n`);
    });

  const adopt = (on: boolean): void => {
    adopting += on ? 1 : -1;
    if ((on && adopting === 1) || (!on && adopting === 0)) native.childSubreaper(on);
  };

  /** Has the mold fork the worker for `slot`; resolves true once that worker is ready, false if it
   * could not be forked or died before it was ready. */
  const spawnFromMold = async (slot: Slot): Promise<boolean> => {
    const m = mold;
    if (!m?.molded || stopping) return false;
    let ends: ChannelEnds;
    let hand: ChannelEnds;
    try {
      ends = openChannel();
    } catch {
      return false;
    }
    try {
      hand = openChannel();
    } catch {
      closeEnd(ends.master);
      closeEnd(ends.worker);
      return false;
    }
    const sent = native.sendFd(m.link.handoff, ends.worker) === 0 && native.sendFd(m.link.handoff, hand.worker) === 0;
    closeEnd(ends.worker);
    closeEnd(hand.worker);
    // A child subreaper until the mold has answered: the new worker, orphaned at birth, is adopted
    // here (native/core/adopt.h).
    adopt(true);
    const reply = sent
      ? await ask(m, { fork: slot.id }, (r) => r.forked === slot.id || r.forkFailed === slot.id, s.readyTimeoutMs)
      : undefined;
    adopt(false);
    const pid = reply?.forked === slot.id ? Number(reply.child) : 0;
    // Taken on the kernel's word, not the mold's: the pid must be this process's child.
    if (!(pid > 0) || stopping || slot.pid !== 0 || parentOf(pid) !== currentPid()) {
      if (reply?.forkFailed !== undefined) {
        process.emitWarning(`pg-forkguard prefork: the mold could not fork worker ${slot.id}: ${reply.why}`, { code: 'FORKGUARD_WORKER_SPAWN_FAILED' });
      }
      if (pid > 0 && parentOf(pid) === currentPid()) kill(pid, 'SIGKILL');
      closeEnd(ends.master);
      closeEnd(hand.master);
      return false;
    }
    adoptChild(pid);
    const ready = new Promise<boolean>((resolve) => (slot.onReady = resolve));
    enlist(slot, pid, ends.master, hand.master);
    return ready;
  };

  /** Makes the worker `pid` (else the oldest ready one) the mold, and replaces every worker with one
   * forked from it: the mold's own slot first (the one slot not served meanwhile), then each other
   * slot with its successor ready before its worker stops, as reload() does. */
  const reforkFrom = (pid?: number): Promise<void> => {
    if (stopping) return Promise.reject(new PreforkError('ERR_FORKGUARD_PREFORK_STOPPED', 'refork(): the master is stopping.'));
    if (reforking) return reforking;
    if (reloading) {
      return Promise.reject(new PreforkError('ERR_FORKGUARD_PREFORK_BUSY', 'refork(): a reload is under way; refork once it has finished.'));
    }
    reforking = (async () => {
      const ready = slots.filter((x) => x.ready && x.pid > 0 && (pid === undefined || x.pid === pid));
      const slot = ready.sort((a, b) => a.startedAt - b.startedAt)[0];
      const link = slot && links.get(slot.pid);
      if (!slot || !link) {
        throw new PreforkError('ERR_FORKGUARD_PREFORK_REFORK_FAILED', 'refork(): no worker is ready to become the mold; try again once one is.');
      }
      const old = mold;
      const next: Mold = { pid: slot.pid, link, molded: false, waiters: new Set() };
      // Its slot is free from now: the mold serves no more, and its exit is the mold's (onExit).
      mold = next;
      slot.pid = 0;
      slot.ready = false;
      clearTimeout(slot.readyTimer);
      master.emit('refork', { id: slot.id, pid: next.pid });
      const molded = await ask(next, { mold: true }, (r) => r.molded !== undefined || r.moldFailed !== undefined, s.stopTimeoutMs + s.readyTimeoutMs);
      const fail = (why: string): never => {
        // Back to forking from the master: this mold goes, and the free slots fill from here.
        if (mold === next) {
          mold = old;
          void stopWorker(next.pid);
        }
        for (const x of slots) if (x.pid === 0 && !stopping) scheduleRespawn(x);
        throw new PreforkError('ERR_FORKGUARD_PREFORK_REFORK_FAILED', `refork(): ${why}; workers are forked by the ${mold ? 'previous mold' : 'master'} again.`);
      };
      if (molded?.molded === undefined) fail(molded ? `the mold could not settle (${molded.why})` : 'the worker died or did not stop serving in time');
      next.molded = true;
      if (old) void stopWorker(old.pid);
      master.emit('mold', { id: slot.id, pid: next.pid });
      for (const x of [slot, ...slots.filter((y) => y !== slot)]) {
        if (stopping) break;
        const before = x.pid;
        clearTimeout(x.respawnTimer);
        if (before > 0) {
          // Its successor holds the slot from its fork on; the worker it replaces stops once it is ready.
          x.pid = 0;
          x.ready = false;
        }
        if (!(await spawnFromMold(x))) {
          if (before > 0 && live.has(before) && x.pid === 0) {
            x.pid = before; // the old worker keeps serving
            x.ready = true;
          }
          fail(`the new worker ${x.id} could not be forked from the mold or died before it was ready`);
        }
        if (before > 0) void stopWorker(before);
      }
    })().finally(() => {
      reforking = undefined;
    });
    return reforking;
  };

  const stop = (): Promise<void> => {
    if (stopping) return stopping;
    stopping = (async () => {
      notify('STOPPING=1');
      master.emit('stop');
      for (const slot of slots) {
        clearTimeout(slot.respawnTimer);
        clearTimeout(slot.readyTimer);
      }
      await Promise.all([...live.keys()].map((pid) => stopWorker(pid)));
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const c of channels) c.destroy();
      for (const l of links.values()) closeEnd(l.handoff);
      links.clear();
      for (const l of listeners) {
        try {
          closeSync(l.fd);
        } catch {
          // already closed
        }
      }
      for (const sig of s.stopSignals) process.off(sig, onStopSignal);
      if (s.reloadSignal) process.off(s.reloadSignal, onReloadSignal);
    })();
    return stopping;
  };

  const reload = (): Promise<void> => {
    if (stopping) return Promise.reject(new PreforkError('ERR_FORKGUARD_PREFORK_STOPPED', 'reload(): the master is stopping.'));
    if (reloading) return reloading;
    if (reforking) {
      return Promise.reject(new PreforkError('ERR_FORKGUARD_PREFORK_BUSY', 'reload(): a refork is under way; reload once it has finished.'));
    }
    notify(`RELOADING=1\nMONOTONIC_USEC=${monotonicUsec()}\nSTATUS=reloading`);
    reloading = (async () => {
      for (const slot of slots) {
        if (stopping) break;
        const old = slot.pid;
        const ready = new Promise<boolean>((resolve) => (slot.onReady = resolve));
        clearTimeout(slot.respawnTimer);
        await new Promise<void>((resolve, reject) =>
          setImmediate(() => {
            // A fresh macrotask, as for a respawn: in the new worker this returns to the loop.
            try {
              if (spawn(slot)) return;
            } catch (err) {
              slot.onReady = undefined;
              return reject(err);
            }
            resolve();
          }),
        );
        if (!(await ready)) {
          throw new PreforkError(
            'ERR_FORKGUARD_PREFORK_RELOAD_FAILED',
            `reload(): the new worker ${slot.id} died before it was ready; the workers not yet replaced keep running.`,
          );
        }
        if (old > 0) void stopWorker(old);
      }
      // A reload starts over from the master's heap: the mold has no worker left to make.
      if (mold && !stopping) {
        const m = mold;
        mold = undefined;
        void stopWorker(m.pid);
      }
    })().finally(() => {
      reloading = undefined;
      // Replaced or not, the workers serving now are ready: systemd's reload ends either way.
      if (!stopping) notify(`READY=1\nSTATUS=${slots.length} workers ready`);
    });
    return reloading;
  };

  const onStopSignal = (): void => {
    void stop().then(() => process.exit(0));
  };
  const onReloadSignal = (): void => {
    reload().catch((err) => process.emitWarning(`pg-forkguard prefork: ${(err as Error).message}`, { code: 'FORKGUARD_RELOAD_FAILED' }));
  };

  // Every process holding a slot, a worker that is stopping included: it still holds its memory.
  const memory = (): PreforkMemory =>
    preforkMemory(
      [...live].filter(([pid]) => pid !== mold?.pid).map(([pid, slot]) => ({ id: slot.id, pid })),
      mold?.pid,
    );

  Object.defineProperties(master, {
    isWorker: { value: false, enumerable: true },
    workers: { get: () => [...live.keys()].filter((pid) => pid !== mold?.pid), enumerable: true },
    stop: { value: stop },
    reload: { value: reload },
    memory: { value: memory },
    refork: { value: () => reforkFrom() },
    mold: { get: () => mold?.pid, enumerable: true },
  });

  settleHeap(s.settleHeap);
  stopAccepting(listeners);
  try {
    for (const slot of slots) {
      if (spawn(slot)) return workerInfo;
    }
  } catch (err) {
    // A fork that failed (the process limit, no fds): the workers made so far go, and the app gets
    // its servers back; prefork() can be called again once the cause is gone.
    stopping = Promise.resolve();
    for (const pid of live.keys()) kill(pid, 'SIGKILL');
    for (const t of timers) clearTimeout(t);
    timers.clear();
    for (const c of channels) c.destroy();
    resumeAccepting(listeners);
    role = 'none';
    throw err;
  }
  for (const sig of s.stopSignals) process.on(sig, onStopSignal);
  if (s.reloadSignal) process.on(s.reloadSignal, onReloadSignal);
  if (s.memoryIntervalMs > 0) {
    // In `timers`: cleared on stop(), and in a new worker (which inherits the master's timers).
    const t = setInterval(() => publish(diagnostics.preforkMemory, memory), s.memoryIntervalMs).unref();
    timers.add(t);
  }
  // The master's heap is built and placed; what it allocates from now on (supervision) is little.
  // Heap placement's address-space reservation would only count against a limit a supervisor sets
  // (native/core/heap-placement.h).
  native.releaseHeapReservation();
  return master;
}
