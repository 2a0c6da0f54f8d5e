// Quiescing the threadpool. A fork while a threadpool thread is mid-task leaves the child with
// libuv's threadpool state as that thread left it: above all `slow_io_work_running`, which libuv
// never resets, so with two getaddrinfo calls running at fork time every dns lookup in the child
// waits forever. So before forking, one blocking task is queued per threadpool thread and fork()
// waits until all of them run: then no libuv work is executing, no worker holds a libuv lock, and
// the child's threadpool starts clean. In the child they never existed on any thread.
//
// The parent does not let them go inside fork(): it keeps them parked for as long as its loop has no
// request but theirs, that is until it queues threadpool work (every such request is counted by the
// loop: fs, dns, crypto, zlib, addons' work) or some other request is in flight. Checked each time the
// loop is about to poll. Why: woken inside fork(), they preempt the forking thread, and parking them
// again is slow in a large process (figures: docs/how-it-works.md, "Threadpool quiescing").
// A fork() that follows before the loop needs them (a pre-fork master forking its workers) finds them
// still parked. Only the main thread's loop holds them; a fork from a worker thread, or with worker
// threads alive, lets them go at once as before. Held threads leave on their own after FG_QUIESCE_HOLD_MS.
#ifndef PG_FORKGUARD_THREADPOOL_H
#define PG_FORKGUARD_THREADPOOL_H

#include <stdint.h>
#include <uv.h>

// How long fork() waits for every thread to take its parking task before it forks anyway (and
// warns: that work's libuv state is undefined in the child): FG_QUIESCE_TIMEOUT_MS, in facts.h.
#include "../core/facts.h"
#include "threadpool-size.h"
// How long held threads wait before they leave on their own. Node's exit joins the threadpool's
// threads: fork() lets them go at 'exit' and when a worker thread starts (its loop shares the
// threadpool but not our loop's count), so only an exit that skips 'exit' (process.reallyExit) waits.
#define FG_QUIESCE_HOLD_MS 1000

struct FgQuiesce;

// Parks one task on every threadpool thread, waiting at most timeoutMs; or takes back the threads a
// previous fork holds (*reused set), if all of them are still parked.
FgQuiesce* fg_quiesce_threadpool(uv_loop_t* loop, uint64_t timeoutMs, bool* reused);
// How many tasks were queued (the pool's size), and how many found no thread in time.
unsigned fg_quiesce_queued(const FgQuiesce* q);
// The pool's size and where it was read (threadpool-size.h).
FgPoolSize fg_quiesce_size(const FgQuiesce* q);
unsigned fg_quiesce_missing(const FgQuiesce* q);
// The thread ids of the parked threads (up to cap; 0 where unknown): they sleep on the quiesce's own
// condvar, which a child never touches (it never wakes them: they do not exist there).
unsigned fg_quiesce_parked_tids(FgQuiesce* q, long* out, unsigned cap);
// In the parent after the fork: keeps the threads parked while the loop has no other request (a
// prepare handle checks), FG_QUIESCE_HOLD_MS at most. A child never holds any: fork() takes held
// threads back before it forks.
void fg_quiesce_hold(uv_loop_t* loop, FgQuiesce* q);
// Lets the parked threads go now: when fork() fails, at 'exit', for a worker thread.
void fg_quiesce_release(FgQuiesce* q);
void fg_quiesce_release_held();
// Whether a fork() holds the threads now (for the test build's loopInfo()).
bool fg_quiesce_holding();

#endif
