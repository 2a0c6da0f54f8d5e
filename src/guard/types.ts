// The guard's public shapes. Structural, so that the types do not depend on @types/pg.

/** What guard() accepts as a pool: a pg.Pool (pg-pool 3). */
export interface PgPoolLike {
  connect(...args: any[]): unknown;
  query(...args: any[]): unknown;
  end(...args: any[]): unknown;
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
}

/** What guard() accepts as a client: a pg.Client (the JavaScript client or pg.native.Client). */
export interface PgClientLike {
  connect(...args: any[]): unknown;
  query(...args: any[]): unknown;
  end(...args: any[]): unknown;
}

export interface GuardOptions {
  /** Shown in stats(), errors and logs. Default: `pool-1`, `pool-2`, ... (`client-1` for a Client). */
  name?: string;
  /** Pid-check mode: a real getpid() on every checkout and query, checkout stacks recorded.
   * Default: true when PG_FORKGUARD_DEBUG=1. */
  debug?: boolean;
  /** Pools only: connections to open eagerly in each forked child (default 0: lazily, on demand). */
  prefill?: number;
  /** Pools only: warn (once, with the checkout stack) about a client checked out longer than this. */
  leakDetectionMs?: number;
  /** Pools only: destroy a client checked out longer than this, freeing its slot. */
  reapLeakedAfterMs?: number;
}

export interface PoolStats {
  name: string;
  /** This process. */
  pid: number;
  /** Fork generation of this process (0 where the package was loaded). */
  generation: number;
  total: number;
  idle: number;
  /** Checked out or still connecting. */
  busy: number;
  waiting: number;
  /** Connections inherited from the parent and dropped here (without a byte sent). */
  droppedInherited: number;
  /** Connections this forked process opened for itself. */
  reconnects: number;
}
