/** Every error this package throws extends ForkGuardError and carries a stable `code`. */
export class ForkGuardError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** fork() cannot be made safe here; the message says why and what to do instead. */
export class ForkUnsupportedError extends ForkGuardError {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super('ERR_FORKGUARD_UNSUPPORTED', message);
    this.reason = reason;
  }
}

/** The native addon could not be loaded; `tried` lists every path and what went wrong there. */
export class NativeLoadError extends ForkGuardError {
  readonly tried: ReadonlyArray<{ path: string; error: string }>;
  constructor(message: string, tried: Array<{ path: string; error: string }>, cause?: unknown) {
    super('ERR_FORKGUARD_NATIVE_LOAD', message, { cause });
    this.tried = tried;
  }
}

/** trackFd() refused an fd: not open, not a socket, beyond the registry's range, or registry full. */
export class FdRegistryError extends ForkGuardError {
  readonly fd: number;
  constructor(code: string, fd: number, message: string) {
    super(code, message);
    this.fd = fd;
  }
}

/** waitpid() was given a pid that fork() did not create in this process. */
export class NotAChildError extends ForkGuardError {
  readonly pid: number;
  constructor(pid: number) {
    super(
      'ERR_FORKGUARD_NOT_A_CHILD',
      `waitpid(${pid}): ${pid} is not a child created by fork() in this process (or it was already ` +
        `reaped). Children of child_process are reaped by Node itself: listen for their 'exit' event.`,
    );
    this.pid = pid;
  }
}

/** The fork(2) system call itself failed (EAGAIN: process limit, ENOMEM: out of memory). */
export class ForkFailedError extends ForkGuardError {
  readonly errno: number;
  constructor(errno: number, what: string) {
    super('ERR_FORKGUARD_FORK_FAILED', `fork() failed: ${what} (errno ${errno}).`);
    this.errno = errno;
  }
}

/** prefork() used where it cannot be: in a worker, a second time, on a stopping master. */
export class PreforkError extends ForkGuardError {}

/** An argument of the wrong type or out of range. */
export class InvalidArgumentError extends ForkGuardError {
  constructor(message: string) {
    super('ERR_FORKGUARD_INVALID_ARG', message);
  }
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  if (typeof value === 'object') {
    const ctor = (value as { constructor?: { name?: string } }).constructor?.name;
    return ctor ? `an instance of ${ctor}` : 'an object';
  }
  if (typeof value === 'string') return `the string ${JSON.stringify(value.slice(0, 40))}`;
  return `${typeof value} ${String(value)}`;
}

/** guard() or addResettable() was given something it cannot guard; the message names what it got. */
export class IncompatiblePoolError extends ForkGuardError {
  constructor(message: string) {
    super('ERR_FORKGUARD_INCOMPATIBLE_POOL', message);
  }
}

/**
 * A connection opened by another process (the parent, before fork) was used in this one. It was
 * dropped without a byte sent to the server; the parent's session is untouched.
 */
export class ForkedConnectionError extends ForkGuardError {
  /** The process that opened the connection (or made the request). */
  readonly ownerPid: number;
  /** This process. */
  readonly currentPid: number;
  /** The guarded pool the connection belonged to (undefined for a standalone Client). */
  readonly poolName: string | undefined;
  /** Debug mode only: where the client was checked out, in the owner process. */
  readonly checkoutStack: string | undefined;
  /** 'connection': a connection of the parent's was used here. 'request': a request made before
   * the fork (a checkout still queued or connecting) reached this copy of the process. */
  readonly kind: 'connection' | 'request';
  constructor(info: {
    ownerPid: number;
    currentPid: number;
    poolName?: string;
    checkoutStack?: string;
    what: string;
    kind?: 'connection' | 'request';
    /** Another library's client ('an ioredis client'), in place of the pool or pg.Client. */
    client?: string;
  }) {
    const where = info.client ?? (info.poolName === undefined ? 'a guarded pg.Client' : `pool "${info.poolName}"`);
    const kind = info.kind ?? 'connection';
    const todo = info.client
      ? 'Open a new connection in this process.'
      : info.poolName === undefined
        ? 'Create and connect a new pg.Client in this process.'
        : 'Check out a new client in this process (pool.connect() or pool.query()); do not keep ' +
          'clients checked out across a fork.';
    super(
      'ERR_FORKGUARD_FORKED_CONNECTION',
      kind === 'request'
        ? `${info.what} of ${where} was requested by process ${info.ownerPid} before it forked, and this is ` +
            `process ${info.currentPid}, its child. A request made before a fork belongs to the parent: it ` +
            `runs there, at most once, so its copy here fails without reaching the server. Make the request ` +
            `again in this process if it should also run here.`
        : `${info.what}: this connection of ${where} was opened by process ${info.ownerPid}, and this is ` +
            `process ${info.currentPid}, forked from it. The connection belongs to the parent, so it was ` +
            `dropped here without a byte sent to the server. ${todo}` +
            (info.checkoutStack ? `\nChecked out in process ${info.ownerPid} at:\n${info.checkoutStack}` : ''),
    );
    this.ownerPid = info.ownerPid;
    this.currentPid = info.currentPid;
    this.poolName = info.poolName;
    this.checkoutStack = info.checkoutStack;
    this.kind = kind;
  }
}

/** A pool registry is at maxPools and no pool can be evicted (overflow 'throw', or 'wait' timed out). */
export class PoolLimitError extends ForkGuardError {
  readonly maxPools: number;
  readonly busyKeys: ReadonlyArray<string>;
  constructor(info: { registry: string; key: string; maxPools: number; busyKeys: string[]; waitedMs?: number }) {
    const shown = info.busyKeys.slice(0, 10).join(', ') + (info.busyKeys.length > 10 ? `, ... (${info.busyKeys.length})` : '');
    super(
      'ERR_FORKGUARD_POOL_LIMIT',
      `registry "${info.registry}": cannot open a pool for key ${info.key}: ${info.maxPools} pools ` +
        `(maxPools) are open and none can be evicted (busy or protected: ${shown || 'none'})` +
        (info.waitedMs !== undefined
          ? `, after waiting ${info.waitedMs} ms (waitTimeoutMs). Raise maxPools or waitTimeoutMs, or release clients sooner.`
          : `. Raise maxPools, release clients sooner, or use overflow 'wait' or 'allow'.`),
    );
    this.maxPools = info.maxPools;
    this.busyKeys = info.busyKeys;
  }
}
