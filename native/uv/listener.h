// Listening unix sockets that must outlive their handle in this process: prefork()'s master stops
// accepting on the app's servers by closing them, while its workers go on serving the same sockets
// from copies of their fds. libuv unlinks a bound path when its handle closes, which would leave
// every worker listening on a socket no client can find (ENOENT).
#ifndef PG_FORKGUARD_LISTENER_H
#define PG_FORKGUARD_LISTENER_H

#include <uv.h>

// Makes the pipe handle of `loop` whose fd is `fd` forget its path, so closing it unlinks nothing.
// Returns 1 if it had a path, 0 if it had none (a TCP socket, an abstract name, an fd it opened), and
// -1 if no pipe handle of this loop has that fd.
int fg_keep_socket_path(uv_loop_t* loop, int fd);

#endif
