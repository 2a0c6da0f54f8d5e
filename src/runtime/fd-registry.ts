// The fd registry: the socket fds the native child handler replaces with a dead socket in every new
// process, before any JS runs (native/core/core.c holds it). Public as trackFd/untrackFd/isTracked.
import { FdRegistryError, InvalidArgumentError, describe } from '../shared/errors.js';
import { native } from '../seams/addon.js';
import { assertSupported, facts } from './state.js';

function checkFd(fd: unknown, fn: string): asserts fd is number {
  if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0) {
    throw new InvalidArgumentError(`${fn}(fd): fd must be a non-negative integer file descriptor, got ${describe(fd)}.`);
  }
}

/**
 * Puts a socket fd under guard: in every child, before any JS runs, it is replaced by a dead socket
 * (if it still names the same socket by device and inode). Tracking the same fd again refreshes
 * its identity.
 */
export function trackFd(fd: number): void {
  checkFd(fd, 'trackFd');
  assertSupported('trackFd()');
  const rc = native.trackFd(fd);
  const { codes, limits } = facts!;
  if (rc === codes.ok) return;
  switch (rc) {
    case codes.badFd:
      throw new FdRegistryError('ERR_FORKGUARD_BAD_FD', fd, `trackFd(${fd}): ${fd} is not an open file descriptor.`);
    case codes.notSocket:
      throw new FdRegistryError(
        'ERR_FORKGUARD_NOT_A_SOCKET',
        fd,
        `trackFd(${fd}): fd ${fd} is not a socket. Only sockets can be neutralised (a dead socket is put ` +
          `in their place); pass the fd of a connected socket.`,
      );
    case codes.full:
      throw new FdRegistryError(
        'ERR_FORKGUARD_REGISTRY_FULL',
        fd,
        `trackFd(${fd}): the fd registry is full (${limits.registryCapacity} sockets). Untrack closed sockets ` +
          `with untrackFd(), or lower the number of open connections.`,
      );
    case codes.range:
      throw new FdRegistryError(
        'ERR_FORKGUARD_FD_RANGE',
        fd,
        `trackFd(${fd}): fd numbers up to ${limits.fdIndexLimit - 1} can be tracked; ${fd} is beyond that.`,
      );
    default:
      throw new FdRegistryError('ERR_FORKGUARD_TRACK_FAILED', fd, `trackFd(${fd}) failed with native code ${rc}.`);
  }
}

/** Takes an fd out of the registry. False if it was not tracked. */
export function untrackFd(fd: number): boolean {
  checkFd(fd, 'untrackFd');
  if (!native.supported) return false;
  return native.untrackFd(fd);
}

export function isTracked(fd: number): boolean {
  checkFd(fd, 'isTracked');
  return native.supported && native.isTracked(fd);
}

/**
 * Internal: puts the dead socket over `fd` now (tracked or not). For a connection that reached a
 * forked process only after the fork: a libpq connect that completed in the parent's threadpool
 * and whose callback runs in the child. 0 or a negative native code.
 */
export function neutraliseFd(fd: number): number {
  if (!facts || !Number.isInteger(fd) || fd < 0) return facts?.codes.badFd ?? -1;
  return native.neutraliseFd(fd);
}
