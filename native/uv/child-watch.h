// Children of fork(): reaped when SIGCHLD comes, through libuv's own signal handling (a uv_signal_t,
// as child_process's children are), by waitpid on each watched pid. libuv reaps only its own
// children, and these are ours; nothing here waits for any other pid. The table of children lives
// in JS (fork.ts); a watch here is a list entry, owned by whoever holds the pointer until it
// reports or closes.
//
// A watch is made before the fork and started after it, in the parent, where starting it is a list
// insert and nothing else: after fork(2) every page the parent writes is a copy-on-write fault
// (fork.h), and the pidfd this used before, with its poll handle, took five system calls and two
// such faults inside fork().
#ifndef PG_FORKGUARD_CHILD_WATCH_H
#define PG_FORKGUARD_CHILD_WATCH_H

#include <sys/types.h>
#include <uv.h>

struct FgChildWatch;

enum FgChildEnd { FG_CHILD_EXITED, FG_CHILD_SIGNALED, FG_CHILD_WAIT_FAILED };

// Called once, when the child `pid` has been reaped (value: exit code, signal number or errno).
// The watch is already closed then: the pointer must not be used again.
typedef void (*FgChildDone)(void* data, pid_t pid, FgChildEnd how, int value);

// Before the fork: a watch for the child to come, on `loop` (whose SIGCHLD handle it starts if
// none runs: loops with no watch keep none).
FgChildWatch* fg_child_watch_new(uv_loop_t* loop, FgChildDone done, void* data);
// After the fork, in the parent: watches pid (unref'd).
void fg_child_watch_start(FgChildWatch* w, pid_t pid);
// Starts a watch on a child this process was handed rather than forked (core/adopt.h), and reaps it
// at once if it has ended already: its SIGCHLD may have come before the watch did. done() may run
// before this returns.
void fg_child_watch_adopt(FgChildWatch* w, pid_t pid);
// Whether a pending wait keeps the loop alive, like a ChildProcess does.
void fg_child_ref(FgChildWatch* w, bool ref);
// Stops watching without reaping (the parent's children, in a new process), or frees a watch never
// started (no child: the fork failed, or this is the child). done is not called.
void fg_child_close(FgChildWatch* w);

#endif
