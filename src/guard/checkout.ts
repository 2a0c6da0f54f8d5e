// Checkout diagnostics of a guarded pool: what a timeout error says about the pool, and leak
// detection (a warning, or the client reaped, when one stays checked out too long).
import type { Conn, PoolGuard } from './records.js';
import { type PgClient, type PgPool, disarmRelease, poolMax, releaseOf } from '../seams/pg.js';

/** What pg-forkguard adds to pg-pool's own timeout error, as `err.forkguard`. */
export interface CheckoutDetail {
  pool: string;
  max: number;
  busy: number;
  idle: number;
  waiting: number;
  waitedMs: number;
  timeoutMs: number;
  advice: string;
}

/**
 * pg-pool's timeout error comes through as pg made it (same object, message and class); the pool's
 * state at that moment and what to do are added as one property, `forkguard`.
 */
export function describeTimeout(err: Error, pool: PgPool, g: PoolGuard, waitedMs: number, timeoutMs: number): void {
  if ((err as { forkguard?: unknown }).forkguard !== undefined) return;
  const max = poolMax(pool);
  const busy = pool.totalCount - pool.idleCount;
  const detail: CheckoutDetail = {
    pool: g.name,
    max,
    busy,
    idle: pool.idleCount,
    waiting: pool.waitingCount,
    waitedMs,
    timeoutMs,
    advice:
      busy >= max
        ? `Every client of pool "${g.name}" (max ${max}) is checked out: release clients sooner (look for leaks: guard(pool, { leakDetectionMs })), or raise max.`
        : `Connecting took longer than connectionTimeoutMillis (${timeoutMs} ms): check the server and the network, or raise connectionTimeoutMillis.`,
  };
  Object.defineProperty(err, 'forkguard', { value: detail, enumerable: true, configurable: true, writable: true });
}

// On every release: without leak detection it only reads two fields.
export function stopLeakTimers(conn: Conn): void {
  if (conn.leakTimer) {
    clearTimeout(conn.leakTimer);
    conn.leakTimer = undefined;
  }
  if (conn.reapTimer) {
    clearTimeout(conn.reapTimer);
    conn.reapTimer = undefined;
  }
}

export function startLeakTimers(client: PgClient, conn: Conn, leakMs: number, reapMs: number): void {
  stopLeakTimers(conn);
  const since = Date.now();
  const where = (): string => (conn.checkoutStack ? ` Checked out at:\n${conn.checkoutStack}` : '');
  if (leakMs > 0) {
    conn.leakTimer = setTimeout(() => {
      conn.leakTimer = undefined;
      process.emitWarning(
        `pg-forkguard: pool "${conn.name}": a client has been checked out for ${Date.now() - since} ms ` +
          `(leakDetectionMs ${leakMs}) and not released.${where()}`,
        { code: 'FORKGUARD_CLIENT_LEAK' },
      );
    }, leakMs);
    conn.leakTimer.unref();
  }
  if (reapMs > 0) {
    conn.reapTimer = setTimeout(() => {
      conn.reapTimer = undefined;
      const release = releaseOf(client);
      if (!release) return;
      // The holder's own release() later must not throw for a double release.
      disarmRelease(client);
      const err = new Error(`pg-forkguard: client reaped after ${reapMs} ms checked out (reapLeakedAfterMs)`);
      process.emitWarning(
        `pg-forkguard: pool "${conn.name}": destroyed a client checked out for ${Date.now() - since} ms ` +
          `(reapLeakedAfterMs ${reapMs}); its slot is free again.${where()}`,
        { code: 'FORKGUARD_CLIENT_REAPED' },
      );
      release(err); // the pool removes and ends it
    }, reapMs);
    conn.reapTimer.unref();
  }
}
