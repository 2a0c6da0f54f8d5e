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
