// What a prefork worker does (src/prefork/prefork.ts forks it): listen on the master's copies of the app's
// listening sockets, run options.worker, tell the master it is ready, and stop gracefully on
// SIGTERM/SIGINT or when the master is gone: stop accepting, let in-flight requests finish (with
// `Connection: close`, so keep-alive clients move to another worker without a failed request),
// run options.stop, exit.
import type { Server, Socket } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Server as NetServer } from 'node:net';
import { currentPid } from '../runtime/state.js';
import { responseOf } from '../seams/node.js';
import { endSocket } from './channel.js';

export interface WorkerInfo {
  readonly isWorker: true;
  /** 0..workers-1; a replacement takes the id of the worker it replaces. */
  readonly id: number;
}

export interface WorkerSetup {
  id: number;
  /** This worker's end of its control channel with the master (channel.ts). */
  channelFd: number;
  listeners: Array<{ server: Server; fd: number }>;
  worker?: (info: WorkerInfo) => void | Promise<void>;
  stop?: (info: WorkerInfo) => void | Promise<void>;
}

export function becomeWorker(setup: WorkerSetup): WorkerInfo {
  const info: WorkerInfo = Object.freeze({ isWorker: true, id: setup.id });
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

  // options.worker runs first, and the worker listens only once it resolves: a worker that is not
  // ready takes no connection, so one that never gets ready (killed after readyTimeoutMs) fails no
  // request, and none reaches an app that has not finished its per-worker start.
  const sockets = new Map<Server, Set<Socket>>();
  const listen = (): Promise<void[]> =>
    Promise.all(
      setup.listeners.map(
        ({ server, fd }) =>
          new Promise<void>((resolve, reject) => {
            const open = new Set<Socket>();
            sockets.set(server, open);
            server.on('connection', (socket: Socket) => {
              open.add(socket);
              socket.once('close', () => open.delete(socket));
            });
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
    .then(() => (stopping ? undefined : listen()))
    .then(
      () => {
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
    if (stopping) return;
    stopping = true;
    void why;
    const closed = setup.listeners.map(({ server }) => stopServing(server, sockets.get(server) ?? new Set()));
    await Promise.all(closed);
    control.destroy();
    try {
      await setup.stop?.(info);
    } finally {
      process.exit(0);
    }
  };
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => void stop(sig));
  // A terminal's hangup reaches the whole process group; reloading is the master's business.
  process.on('SIGHUP', () => {});
  return info;
}

/**
 * Stops accepting and resolves once every connection of `server` has ended. HTTP keep-alive
 * connections are let go without a failed request: each response not yet begun, in flight now or
 * asked for later, goes out with `Connection: close` and the connection closes after it; one that
 * stays idle is closed by the server's keepAliveTimeout, as any idle one is. (http's own close()
 * would close idle connections at once, failing a request its client sends at that instant.)
 */
function stopServing(server: Server, open: Set<Socket>): Promise<void> {
  return new Promise((resolve) => {
    NetServer.prototype.close.call(server, () => resolve());
    if (typeof (server as { closeIdleConnections?: unknown }).closeIdleConnections !== 'function') return;
    const noKeepAlive = (res: ServerResponse | undefined): void => {
      if (res && !res.headersSent) res.shouldKeepAlive = false;
    };
    for (const socket of open) noKeepAlive(responseOf(socket));
    server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => noKeepAlive(res));
  });
}
