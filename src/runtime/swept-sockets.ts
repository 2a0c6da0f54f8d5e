// In a new process, the socket objects whose connections the child's sweep neutralised
// (native/core/sweep.h) are closed at once, before any code of the app's runs. Left alone, each would
// learn of it only from libuv on a later loop turn (EOF) or from its next write (EPIPE): a library's
// first call in the child would go out on a dead socket and fail. Closed now, the library sees a
// connection that is closed, as after a server restart, and its next call opens a new one.
// Closing sends nothing: the fd is a copy of the dead socket, not of the parent's connection.
import { Socket } from 'node:net';
import { native } from '../seams/addon.js';
import { activeHandles, handleFd } from '../seams/node.js';

/** Closes the sockets on swept fds; returns how many. */
export function closeSweptSockets(): number {
  if (!native.supported) return 0;
  const fds = native.sweptFds();
  if (fds.length === 0) return 0;
  const swept = new Set(fds);
  let closed = 0;
  // An idle keep-alive socket is unref'd, and _getActiveHandles() lists ref'd handles only.
  if (native.refSweptHandles(true) === 0) return 0;
  try {
    for (const h of activeHandles()) {
      if (h instanceof Socket && !h.destroyed && swept.has(handleFd(h))) {
        h.destroy();
        closed++;
      }
    }
  } finally {
    native.refSweptHandles(false);
  }
  return closed;
}
