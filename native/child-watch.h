// Children of fork(): reaped through a pidfd watched by a poll handle (no threadpool thread, no
// SIGCHLD handler to fight libuv over), or a 10 ms timer where pidfds do not exist. libuv reaps
// only its own children, so these are ours to reap. The table of children lives in JS (fork.ts);
// a watch here is just the handle, owned by whoever holds the pointer until it reports or closes.
#ifndef PG_FORKGUARD_CHILD_WATCH_H
#define PG_FORKGUARD_CHILD_WATCH_H

#include <sys/types.h>
#include <uv.h>

struct FgChildWatch;

enum FgChildEnd { FG_CHILD_EXITED, FG_CHILD_SIGNALED, FG_CHILD_WAIT_FAILED };

// Called once, when the child has been reaped (value: exit code, signal number or errno). The
// watch is already closed then: the pointer must not be used again.
typedef void (*FgChildDone)(void* data, FgChildEnd how, int value);

// A watch is made before the fork and started after it, in the parent: every page written after
// fork(2) while the child shares it is a copy-on-write fault, so the parent allocates nothing then.
FgChildWatch* fg_child_watch_new(FgChildDone done, void* data);
// Starts watching pid (unref'd). Returns whether it got a pidfd (else the timer).
bool fg_child_watch_start(FgChildWatch* w, uv_loop_t* loop, pid_t pid);
// Whether a pending wait keeps the loop alive, like a ChildProcess does.
void fg_child_ref(FgChildWatch* w, bool ref);
// Stops watching without reaping (the parent's children, in a new process), or frees a watch never
// started (no child: the fork failed, or this is the child). done is not called.
void fg_child_close(FgChildWatch* w);

#endif
