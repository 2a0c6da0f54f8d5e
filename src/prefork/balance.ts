// Keeping HTTP keep-alive connections spread over the workers. Every worker accepts on the same
// listening socket, and whichever is scheduled first takes what is queued: a client that opens 16
// keep-alive connections at once leaves them 12, 2, 2 and 0 (bench: `ss` per worker, 4 workers), and
// they stay there for the connections' life, so one worker does three quarters of the work and p99
// follows it. node:cluster does not have this problem because its master accepts and hands each
// connection round-robin; prefork's master accepts nothing (one less hop and no master on the hot
// path), so it evens connections out after they land instead. Each worker tells the master how many
// HTTP connections it holds; a worker holding more than one over its share is told to shed the
// extra ones, and it answers each one's next request with `Connection: close` (the way it lets go of
// connections when it stops, worker.ts). Its clients reconnect, and a less busy worker, the first to
// accept, takes them. No request fails: closing a connection after a response is how HTTP/1.1 ends
// one, and a client that pipelined past it retries on a new one (RFC 9112, 9.3.2).
import type { Socket } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** A worker tells the master its count at most this often: counts only matter for connections that
 * live longer than this, and a server opening and closing thousands a second says so 20 times. */
export const REPORT_MS = 50;

/** What a worker does for the balance: count its connections, report them, shed when told. */
export interface WorkerBalance {
  /** A connection an HTTP server of this worker accepted. */
  opened(socket: Socket): void;
  /** Every request, before the app's handlers: marks it `Connection: close` while there are some to shed. */
  request(req: IncomingMessage, res: ServerResponse): void;
  /** The master's order: shed this many connections from now on (replacing the last order). */
  shed(n: number): void;
  /** Reports nothing more (the worker stops, or becomes the mold). */
  end(): void;
}

export function workerBalance(say: (msg: { conns: number; shedding: number }) => void): WorkerBalance {
  let count = 0;
  let reported = 0;
  let reportedShed = 0;
  let toShed = 0;
  let ended = false;
  let timer: NodeJS.Timeout | undefined;
  const marked = new WeakSet<Socket>();
  const report = (): void => {
    timer = undefined;
    if (ended || (count === reported && toShed === reportedShed)) return;
    reported = count;
    reportedShed = toShed;
    say({ conns: count, shedding: toShed });
  };
  const changed = (): void => {
    if (timer || ended) return;
    timer = setTimeout(report, REPORT_MS);
    timer.unref();
  };
  return {
    opened(socket) {
      count++;
      changed();
      socket.once('close', () => {
        count--;
        changed();
      });
    },
    request(req, res) {
      if (toShed <= 0 || res.headersSent || marked.has(req.socket)) return;
      marked.add(req.socket);
      res.shouldKeepAlive = false;
      toShed--;
      changed();
    },
    shed(n) {
      toShed = n;
      reportedShed = n; // the master knows
    },
    end() {
      ended = true;
      toShed = 0;
      clearTimeout(timer);
    },
  };
}

/**
 * The master's side: the count each serving worker last reported, and what each must shed. A
 * worker's share is the mean rounded up; one that holds more than one over it sheds down to it (the
 * slack keeps 5/4/4/3 from moving at all). A report carries how many the worker still has to shed,
 * so an order it has carried out (or one whose clients came straight back) is never taken as
 * standing. The master asks for orders after each report and whenever the serving workers change
 * (a worker ready, or gone): connections that all landed before the others were ready move then.
 */
export function masterBalance(): {
  heard(pid: number, conns: number, shedding: number): void;
  gone(pid: number): void;
  /** The orders that changed, pid -> connections to shed (0 cancels one that the others' closing
   * made moot). */
  orders(serving: readonly number[]): Map<number, number>;
} {
  const counts = new Map<number, number>();
  const ordered = new Map<number, number>();
  return {
    heard(pid, conns, shedding) {
      counts.set(pid, conns);
      ordered.set(pid, shedding);
    },
    gone(pid) {
      counts.delete(pid);
      ordered.delete(pid);
    },
    orders(serving) {
      const orders = new Map<number, number>();
      if (serving.length === 0) return orders;
      let total = 0;
      for (const p of serving) total += counts.get(p) ?? 0;
      const share = Math.ceil(total / serving.length);
      for (const p of serving) {
        const c = counts.get(p) ?? 0;
        const shed = c > share + 1 ? c - share : 0;
        if ((ordered.get(p) ?? 0) !== shed) {
          ordered.set(p, shed);
          orders.set(p, shed);
        }
      }
      return orders;
    },
  };
}
