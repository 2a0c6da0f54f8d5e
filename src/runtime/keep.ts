// fork({ keep }): which inherited sockets the child's sweep leaves alone (native/core/sweep.h). By
// default the sweep neutralises every connection the child inherits (stream sockets that are not
// listening), whoever opened it; the caller keeps what it deliberately hands to the child.
import { fstatSync } from 'node:fs';
import { InvalidArgumentError, describe } from '../shared/errors.js';
import { handleFd } from '../seams/node.js';
import { facts } from './state.js';

/** A socket object whose fd the child keeps: net.Socket, tls.TLSSocket, net.Server, or anything with a libuv handle. */
export type KeepableSocket = object;

/** fork()'s `keep`: fds and socket objects the child keeps, or 'all' for no sweep (only tracked sockets are neutralised). */
export type Keep = 'all' | ReadonlyArray<number | KeepableSocket>;

/** What the sweep keeps whatever the caller says: this process's IPC channel to its own parent. */
function alwaysKept(): number[] {
  const fd = (process as { channel?: { fd?: unknown } }).channel?.fd;
  return typeof fd === 'number' && fd >= 0 ? [fd] : [];
}

function fdOf(item: unknown, i: number, caller: string): number {
  const at = `${caller}: options.keep[${i}]`;
  if (typeof item === 'number') {
    if (!Number.isInteger(item) || item < 0) throw new InvalidArgumentError(`${at} must be a non-negative integer fd or a socket, got ${describe(item)}.`);
    let socket: boolean;
    try {
      socket = fstatSync(item).isSocket();
    } catch {
      throw new InvalidArgumentError(`${at}: ${item} is not an open file descriptor.`);
    }
    if (!socket) {
      throw new InvalidArgumentError(
        `${at}: fd ${item} is not a socket. The child's sweep touches sockets only, so there is nothing to keep; leave it out.`,
      );
    }
    return item;
  }
  if (item !== null && typeof item === 'object') {
    const fd = handleFd(item);
    if (fd >= 0) return fd;
    throw new InvalidArgumentError(
      `${at} is ${describe(item)} with no open fd (destroyed, not yet connected, or not a socket). ` +
        `Pass a connected net.Socket, tls.TLSSocket or net.Server, or the fd itself.`,
    );
  }
  throw new InvalidArgumentError(`${at} must be a non-negative integer fd or a socket object, got ${describe(item)}.`);
}

/**
 * The keep list for the native fork: null for no sweep ('all'), else the fds the child keeps.
 * Validated before anything is touched; throws InvalidArgumentError naming the bad entry.
 */
export function resolveKeep(keep: unknown, caller = 'fork()'): Int32Array | null {
  if (keep === 'all') return null;
  if (keep === undefined) return Int32Array.from(alwaysKept());
  if (!Array.isArray(keep)) {
    throw new InvalidArgumentError(
      `${caller}: options.keep must be an array of fds and sockets the child keeps, or 'all', got ${describe(keep)}.`,
    );
  }
  const fds = new Set(alwaysKept());
  keep.forEach((item, i) => fds.add(fdOf(item, i, caller)));
  const limit = facts!.limits.keepCapacity;
  if (fds.size > limit) {
    throw new InvalidArgumentError(`${caller}: options.keep names ${fds.size} fds; at most ${limit} can be kept. Pass 'all' to keep every socket.`);
  }
  return Int32Array.from(fds);
}
