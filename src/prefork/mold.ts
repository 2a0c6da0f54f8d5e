// The mold: a warm worker the master promotes (master.refork(), or prefork({ refork: {
// afterRequests } })) to be what new workers are forked from, so that they share its warmed heap,
// compiled code and caches instead of the master's cold ones (Pitchfork's reforking). It stops
// serving (its requests finish as at a graceful stop), collects its garbage once, and from then on
// only forks: one worker per order of the master, each handed to the master as its child
// (native/core/adopt.h), so the master supervises it as any other and it outlives the mold. The
// fds a new worker needs (its control channel and handoff socket, made by the master) reach the mold
// over its handoff socket, never over a name another process could find.
import type { Server, Socket } from 'node:net';
import { native } from '../seams/addon.js';
import { handleFd } from '../seams/node.js';
import { forkForAdoption } from '../runtime/fork.js';
import { closeEnd } from './channel.js';
import { type SettleHeap, settleHeap } from './settle-heap.js';
import { becomeWorker, workerInfo, type WorkerInfo } from './worker.js';

export interface MoldSetup {
  id: number;
  /** Its control channel with the master: it stays open (and keeps the mold alive) while the master is. */
  control: Socket;
  handoffFd: number;
  servers: Server[];
  /** Stops the servers as a worker's graceful stop does, resolving once their connections have ended. */
  stopServing(): Promise<unknown>;
  settleHeap: SettleHeap;
  /** Whether the workers it forks keep connections spread (balance.ts). */
  balance: boolean;
  say(msg: object): void;
  stop?: (info: WorkerInfo) => void | Promise<void>;
}

/** What the master can order a mold to do, from its control channel (worker.ts reads it). */
export interface MoldOrders {
  /** Forks worker `id`, whose fds wait on the handoff socket. */
  fork(id: number): void;
  /** Leaves: the master stops it, or is gone. */
  stop(why: string): Promise<void>;
}

export function becomeMold(m: MoldSetup): MoldOrders {
  // Copies of the listening sockets, taken before the servers close theirs: each new worker listens
  // on the copies it inherits.
  const fds = m.servers.map((server) => native.dupFd(handleFd(server)));
  let ready = false;
  let leaving = false;
  m.control.ref();
  void m.stopServing().then(() => {
    if (leaving) return;
    if (fds.some((fd) => fd < 0)) {
      m.say({ moldFailed: m.id, why: `could not keep a copy of a listening socket (errno ${-Math.min(...fds)})` });
      return;
    }
    // A warm worker's old generation holds the garbage its requests promoted; a full collection
    // frees it once here rather than in every worker forked from it, and compacts what stays.
    if (m.settleHeap !== 'none') settleHeap(m.settleHeap === 'flatten' ? 'flatten' : 'full');
    ready = true;
    m.say({ molded: m.id });
  });

  const fork = (id: number): void => {
    const channelFd = native.recvFd(m.handoffFd);
    const handoffFd = channelFd >= 0 ? native.recvFd(m.handoffFd) : -1;
    const refuse = (why: string): void => {
      if (channelFd >= 0) closeEnd(channelFd);
      if (handoffFd >= 0) closeEnd(handoffFd);
      m.say({ forkFailed: id, why });
    };
    if (!ready || leaving) return refuse('the mold is not ready');
    if (channelFd < 0 || handoffFd < 0) return refuse(`no fds on the handoff socket (errno ${-Math.min(channelFd, handoffFd)})`);
    let pid: number;
    try {
      pid = forkForAdoption({ keep: [channelFd, handoffFd, ...fds] });
    } catch (err) {
      return refuse((err as Error).message);
    }
    if (pid === 0) {
      // The new worker: the mold's channel and handoff socket are the mold's (the sweep has made
      // this copy of the channel a dead socket; worker.ts lets go of its object).
      closeEnd(m.handoffFd);
      becomeWorker({
        id,
        channelFd,
        handoffFd,
        listeners: m.servers.map((server, i) => ({ server, fd: fds[i]! })),
        stop: m.stop,
        warmAfterRequests: 0,
        settleHeap: m.settleHeap,
        balance: m.balance,
      });
      return;
    }
    closeEnd(channelFd);
    closeEnd(handoffFd);
    m.say({ forked: id, child: pid });
  };

  const stop = async (): Promise<void> => {
    if (leaving) return;
    leaving = true;
    m.control.destroy();
    try {
      await m.stop?.(workerInfo);
    } finally {
      process.exit(0);
    }
  };
  return { fork, stop };
}
