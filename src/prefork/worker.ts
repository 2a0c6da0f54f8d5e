// What a prefork worker does (src/prefork/prefork.ts forks it): listen on the master's copies of the app's
// listening sockets, run options.worker, tell the master it is ready, and stop gracefully on
// SIGTERM/SIGINT or when the master is gone: stop accepting, let in-flight requests finish (with
// `Connection: close`, so keep-alive clients move to another worker without a failed request),
// run options.stop, exit. The master may also promote a worker to be the mold new workers are
// forked from (mold.ts): everything a worker sets up here can be taken down again for that.
import type { Server, Socket } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EventEmitter } from 'node:events';
import { Server as NetServer } from 'node:net';
import { currentPid } from '../runtime/state.js';
import { responseOf } from '../seams/node.js';
import { MAX_LINE, endSocket, lineReader } from './channel.js';
import { becomeMold, type MoldOrders } from './mold.js';
import { type WorkerBalance, workerBalance } from './balance.js';
import type { SettleHeap } from './settle-heap.js';

export interface WorkerInfo {
  readonly isWorker: true;
  /** 0..workers-1; a replacement takes the id of the worker it replaces. */
  readonly id: number;
}

// One object for the life of the process: a worker forked from a mold inherits the mold's heap, and
// the app's references to `info` with it; read through this getter they give the new worker's id.
let currentId = -1;
export const workerInfo: WorkerInfo = Object.freeze({
  isWorker: true as const,
  get id() {
    return currentId;
  },
});

export interface WorkerSetup {
  id: number;
  /** This worker's end of its control channel with the master (channel.ts). */
  channelFd: number;
  /** Its end of its handoff socket: how fds reach it if the master makes it the mold (mold.ts). */
  handoffFd: number;
  listeners: Array<{ server: Server; fd: number }>;
  /** Not given to a worker forked from a mold: the mold's heap holds what it did already. */
  worker?: (info: WorkerInfo) => void | Promise<void>;
  stop?: (info: WorkerInfo) => void | Promise<void>;
  /** Says { warm } to the master once it has served this many HTTP requests (0: never). */
  warmAfterRequests: number;
  /** How a mold settles its heap before it forks (settle-heap.ts). */
  settleHeap: SettleHeap;
  /** Keeps HTTP keep-alive connections spread over the workers (balance.ts). */
  balance: boolean;
}

/** What this process set up as a worker, to take down when it becomes a mold's child. */
let undoWorker: (() => void) | undefined;

export function becomeWorker(setup: WorkerSetup): WorkerInfo {
  undoWorker?.();
  currentId = setup.id;
  const info = workerInfo;
  const undo: Array<() => void> = [];
  // Every listener this worker adds to an emitter it did not make: removed by undoWorker.
  const listen = <A extends unknown[]>(emitter: EventEmitter, event: string, fn: (...args: A) => void, first = false): void => {
    if (first) emitter.prependListener(event, fn as never);
    else emitter.on(event, fn as never);
    undo.push(() => emitter.off(event, fn as never));
  };
  const control = endSocket(setup.channelFd);
  // Until the worker listens, its channel keeps it alive (an options.worker that awaits nothing the
  // loop counts must not end the process: the master's ready timeout decides). Once it serves, the
  // channel must not keep it alive by itself.
  control.on('error', () => {});
  // The master's end closes when it exits, however it exits: SIGKILL included.
  control.on('close', () => void stop('the master is gone'));
  const say = (msg: object): void => {
    if (!control.destroyed) control.write(`${JSON.stringify({ ...msg, pid: currentPid() })}\n`);
  };
  // What the master orders: the mold's (mold.ts), and connections to shed (balance.ts). A worker
  // reads its channel for them.
  let orders: MoldOrders | undefined;
  const balance: WorkerBalance | undefined = setup.balance ? workerBalance(say) : undefined;
  control.setEncoding('utf8');
  control.on(
    'data',
    lineReader(MAX_LINE, (line) => onOrder(line), () => control.destroy()),
  );
  const onOrder = (line: string): void => {
    // A worker forked from this mold inside this very chunk's handler has let go of the channel:
    // the rest of the chunk is the mold's, never the new worker's.
    if (control.destroyed) return;
    let msg: { mold?: unknown; fork?: unknown; shed?: unknown } | null;
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      return;
    }
    if (typeof msg?.shed === 'number' && Number.isInteger(msg.shed) && msg.shed >= 0) {
      if (!stopping) balance?.shed(msg.shed);
    } else if (msg?.mold === true && !orders && !stopping) {
      stopping = true; // a mold serves no more: what stop() would do from here is the mold's
      balance?.end();
      orders = becomeMold({
        id: setup.id,
        control,
        handoffFd: setup.handoffFd,
        servers: setup.listeners.map((l) => l.server),
        stopServing: () => Promise.all(setup.listeners.map(({ server }) => stopServing(server, sockets.get(server) ?? new Set(), listen))),
        settleHeap: setup.settleHeap,
        balance: setup.balance,
        say,
        stop: setup.stop,
      });
    } else if (typeof msg?.fork === 'number' && orders) {
      orders.fork(msg.fork);
    }
  };

  // options.worker runs first, and the worker listens only once it resolves: a worker that is not
  // ready takes no connection, so one that never gets ready (killed after readyTimeoutMs) fails no
  // request, and none reaches an app that has not finished its per-worker start.
  const sockets = new Map<Server, Set<Socket>>();
  let served = 0;
  const onRequest = (): void => {
    if (++served === setup.warmAfterRequests) say({ warm: setup.id, served });
  };
  const serve = (): Promise<void[]> =>
    Promise.all(
      setup.listeners.map(
        ({ server, fd }) =>
          new Promise<void>((resolve, reject) => {
            const open = new Set<Socket>();
            sockets.set(server, open);
            listen(server, 'connection', (socket: Socket) => {
              open.add(socket);
              socket.once('close', () => open.delete(socket));
            });
            // Only HTTP servers can let a connection go without failing a request.
            if (balance && typeof (server as { closeIdleConnections?: unknown }).closeIdleConnections === 'function') {
              listen(server, 'connection', (socket: Socket) => balance.opened(socket));
              listen(server, 'request', (req: IncomingMessage, res: ServerResponse) => balance.request(req, res), true);
            }
            if (setup.warmAfterRequests > 0) listen(server, 'request', onRequest);
            server.once('error', reject);
            server.listen({ fd }, () => {
              server.off('error', reject);
              resolve();
            });
          }),
      ),
    );
  void Promise.resolve()
    .then(() => setup.worker?.(info))
    .then(() => (stopping ? undefined : serve()))
    .then(
      () => {
        if (stopping) return;
        control.unref();
        say({ ready: setup.id });
      },
      (err) => {
        process.stderr.write(`pg-forkguard prefork: worker ${setup.id} failed to start: ${(err as Error)?.stack ?? err}\n`);
        process.exit(1);
      },
    );

  let stopping = false;
  const stop = async (why: string): Promise<void> => {
    if (orders) return orders.stop(why);
    if (stopping) return;
    stopping = true;
    balance?.end();
    const closed = setup.listeners.map(({ server }) => stopServing(server, sockets.get(server) ?? new Set(), listen));
    await Promise.all(closed);
    control.destroy();
    try {
      await setup.stop?.(info);
    } finally {
      process.exit(0);
    }
  };
  for (const sig of ['SIGTERM', 'SIGINT'] as const) listen(process, sig, () => void stop(sig));
  // A terminal's hangup reaches the whole process group; reloading is the master's business.
  listen(process, 'SIGHUP', () => {});

  undoWorker = () => {
    undoWorker = undefined;
    balance?.end();
    for (const u of undo.splice(0)) u();
    control.removeAllListeners();
    control.on('error', () => {});
    control.destroy();
  };
  return info;
}

/**
 * Stops accepting and resolves once every connection of `server` has ended. HTTP keep-alive
 * connections are let go without a failed request: each response not yet begun, in flight now or
 * asked for later, goes out with `Connection: close` and the connection closes after it; one that
 * stays idle is closed by the server's keepAliveTimeout, as any idle one is. (http's own close()
 * would close idle connections at once, failing a request its client sends at that instant.)
 */
function stopServing(
  server: Server,
  open: Set<Socket>,
  listen: (emitter: EventEmitter, event: string, fn: (req: IncomingMessage, res: ServerResponse) => void, first: boolean) => void,
): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    NetServer.prototype.close.call(server, () => resolve());
    if (typeof (server as { closeIdleConnections?: unknown }).closeIdleConnections !== 'function') return;
    const noKeepAlive = (res: ServerResponse | undefined): void => {
      if (res && !res.headersSent) res.shouldKeepAlive = false;
    };
    for (const socket of open) noKeepAlive(responseOf(socket));
    listen(server, 'request', (_req: IncomingMessage, res: ServerResponse) => noKeepAlive(res), true);
  });
}
