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

// Starts watching pid (unref'd). *usesPidfd says which mechanism it got.
FgChildWatch* fg_child_watch(uv_loop_t* loop, pid_t pid, FgChildDone done, void* data, bool* usesPidfd);
// Whether a pending wait keeps the loop alive, like a ChildProcess does.
void fg_child_ref(FgChildWatch* w, bool ref);
// Stops watching without reaping (the parent's children, in a new process). done is not called.
void fg_child_close(FgChildWatch* w);

#endif
