// In a new process, the socket objects whose connections the child's sweep neutralised
// (native/core/sweep.h) are closed at once, before any code of the app's runs. Left alone, each would
// learn of it only from libuv on a later loop turn (EOF) or from its next write (EPIPE): a library's
// first call in the child would go out on a dead socket and fail. Closed now, the library sees a
// connection that is closed, as after a server restart, and its next call opens a new one.
// Closing sends nothing: the fd is a copy of the dead socket, not of the parent's connection.
// Two kinds are closed their own way: a request's http socket, with the error the request is to
// emit (src/clients/http.ts), and a postgres.js connection's, broken as a lost connection
// (src/clients/postgres-js.ts).
import { Socket } from 'node:net';
import { failHttpRequests } from '../clients/http.js';
import { closePostgresJsSocket } from '../clients/postgres-js.js';
import { native } from '../seams/addon.js';
import { activeHandles, handleFd } from '../seams/node.js';
import { isPostgresJsSocket } from '../seams/postgres-js.js';

/** The socket objects on swept fds. */
function sweptSockets(): Socket[] {
  const fds = native.sweptFds();
  if (fds.length === 0) return [];
  const swept = new Set(fds);
  // An idle keep-alive socket is unref'd, and _getActiveHandles() lists ref'd handles only.
  if (native.refSweptHandles(true) === 0) return [];
  try {
    return activeHandles().filter((h): h is Socket => h instanceof Socket && !h.destroyed && swept.has(handleFd(h)));
  } finally {
    native.refSweptHandles(false);
  }
}

/** Closes the sockets on swept fds; returns how many. */
export function closeSweptSockets(): number {
  if (!native.supported) return 0;
  const sockets = sweptSockets();
  const closed = failHttpRequests(sockets);
  for (const s of sockets) {
    if (closed.has(s)) continue;
    if (isPostgresJsSocket(s)) closePostgresJsSocket(s);
    else s.destroy();
  }
  return sockets.length;
}
