// Quiescing the threadpool. A fork while a threadpool thread is mid-task leaves the child with
// libuv's threadpool state as that thread left it: above all `slow_io_work_running`, which libuv
// never resets, so with two getaddrinfo calls running at fork time every dns lookup in the child
// waits forever. So before forking, one blocking task is queued per threadpool thread and fork()
// waits until all of them run: then no libuv work is executing, no worker holds a libuv lock, and
// the child's threadpool starts clean. The parent releases them right after the fork; in the child
// they never existed on any thread.
#ifndef PG_FORKGUARD_THREADPOOL_H
#define PG_FORKGUARD_THREADPOOL_H

#include <stdint.h>
#include <uv.h>

// How long fork() waits for every thread to take its parking task before it forks anyway (and
// warns: that work's libuv state is undefined in the child). Handed to JS through init().
#define FG_QUIESCE_TIMEOUT_MS 5000

struct FgQuiesce;

// Parks one task on every threadpool thread, waiting at most timeoutMs.
FgQuiesce* fg_quiesce_threadpool(uv_loop_t* loop, uint64_t timeoutMs);
// How many tasks were queued (the pool's size), and how many found no thread in time.
unsigned fg_quiesce_queued(const FgQuiesce* q);
unsigned fg_quiesce_missing(const FgQuiesce* q);
// In the parent after the fork (or when it fails): lets the parked threads go.
void fg_quiesce_release(FgQuiesce* q);

#endif
