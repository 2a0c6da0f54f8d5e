// The control channel between the master and one worker: a pair of connected unix sockets made
// just before that worker's fork, one end kept by each side. It has no name (no path, no abstract
// address in /proc/net/unix), so no other process, of this user or another, can find it, connect
// to it or write to it, and the master knows which worker holds the other end without taking its
// word for it. Its closing is also how a worker learns that the master is gone, even after a
// SIGKILL: every other copy of the master's end is closed in the workers (prefork.ts).
import { closeSync } from 'node:fs';
import { Socket } from 'node:net';
import { PreforkError } from '../shared/errors.js';
import { native } from '../seams/addon.js';

/** The longest line a channel carries. Messages are a few dozen bytes; a longer one is a bug, and
 * the master closes that channel rather than hold an unbounded buffer. */
export const MAX_LINE = 4096;

export interface ChannelEnds {
  /** The end the master keeps. */
  master: number;
  /** The end the worker keeps. */
  worker: number;
}

/** Both ends, close-on-exec (a program the app execs holds neither). */
export function openChannel(): ChannelEnds {
  const pair = native.socketPair();
  if (typeof pair === 'number') {
    throw new PreforkError(
      'ERR_FORKGUARD_PREFORK_CHANNEL',
      `prefork(): could not make a worker's control channel (socketpair failed, errno ${-pair}); check the fd limit (ulimit -n).`,
    );
  }
  return { master: pair[0], worker: pair[1] };
}

/** Closes one end that this process does not use (its copy only: the other process's stays open). */
export function closeEnd(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

/** A socket over one end, reading from the start. */
export function endSocket(fd: number): Socket {
  return new Socket({ fd, readable: true, writable: true });
}

/**
 * Splits a channel's text into lines for `onLine`. Each chunk is scanned once, and at most `max`
 * characters of an unfinished line are held: past that, `onOverflow` runs and nothing more is read.
 */
export function lineReader(max: number, onLine: (line: string) => void, onOverflow: () => void): (chunk: string) => void {
  let pending = '';
  let overflowed = false;
  return (chunk) => {
    if (overflowed) return;
    let start = 0;
    let nl: number;
    while ((nl = chunk.indexOf('\n', start)) >= 0) {
      const line = pending + chunk.slice(start, nl);
      pending = '';
      start = nl + 1;
      if (line.length > max) {
        overflowed = true;
        onOverflow();
        return;
      }
      onLine(line);
    }
    if (pending.length + chunk.length - start > max) {
      pending = '';
      overflowed = true;
      onOverflow();
      return;
    }
    pending += chunk.slice(start);
  };
}
