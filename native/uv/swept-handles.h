// The libuv handles whose fds the child's sweep neutralised (core/sweep.h), made visible to JS for
// a moment. JS finds the socket objects of a process through process._getActiveHandles(), which
// lists ref'd handles only, and an idle keep-alive socket in an http.Agent is unref'd. So the child
// refs those handles, lets JS list and close their sockets, and unrefs what it ref'd: in between no
// event loop turn runs, and afterwards each handle is as ref'd as it was (or closing).
#ifndef PG_FORKGUARD_SWEPT_HANDLES_H
#define PG_FORKGUARD_SWEPT_HANDLES_H

#include <uv.h>

#include <cstdint>

// Refs every unref'd TCP or pipe handle of `loop` whose fd is in `fds` (n of them), and remembers
// them. Returns how many handles of the loop have a swept fd.
unsigned fg_ref_swept_handles(uv_loop_t* loop, const int32_t* fds, unsigned n);

// Unrefs what fg_ref_swept_handles ref'd.
void fg_unref_swept_handles();

#endif
