// The threadpool's real size, for the quiesce (threadpool.h), which parks one task per thread. libuv
// fixes the size when the pool starts (at the first threadpool request, from UV_THREADPOOL_SIZE as it
// is then) and exposes it nowhere. An app that sets or deletes the variable after that makes it lie;
// trusting it, a quiesce queues tasks for threads that do not exist and waits its whole timeout at
// every fork (or parks too few threads). So the size is read, in this order, from:
//   1. the kernel: libuv 1.50 and later name the pool's threads "libuv-worker" (/proc/self/task);
//   2. libuv itself: `nthreads` in its threadpool.c, found in the ELF symbol table of the object
//      that holds uv_queue_work (Node's official builds keep their symbols);
//   3. the variable, with libuv's rule: right while the pool has not started, since the quiesce's own
//      tasks then start it, from the variable as it is.
// Once the pool has started its size never changes in that process, so the answer is kept (per pid:
// a forked child's libuv starts a new pool at its first request).
#ifndef PG_FORKGUARD_THREADPOOL_SIZE_H
#define PG_FORKGUARD_THREADPOOL_SIZE_H

enum FgPoolSizeSource {
  FG_POOL_SIZE_NAMES = 1,   // counted from the kernel
  FG_POOL_SIZE_SYMBOL = 2,  // libuv's nthreads
  FG_POOL_SIZE_ENV = 3,     // UV_THREADPOOL_SIZE: the pool has not started, or neither above is known
};

struct FgPoolSize {
  unsigned n = 0;  // 0: not known yet
  FgPoolSizeSource source = FG_POOL_SIZE_ENV;
};
// Loop thread only, in two steps around the first threadpool request of a quiesce: before it, what
// can be known while the pool may not have started (the size kept for this process, or the named
// threads: a pool that was already running has all of them named); after it (the pool has started
// now, and libuv's nthreads is set), the answer.
FgPoolSize fg_threadpool_size_before();
FgPoolSize fg_threadpool_size_after(FgPoolSize before);
// How many threadpool threads are alive in this process now, for fork()'s census of threads
// (src/runtime/threads.ts): the named ones, else libuv's nthreads (0 before the pool starts; in a
// child whose pool has not restarted yet it still says the parent's, which only over-counts), else
// -1: not knowable (an unnamed libuv without symbols).
int fg_threadpool_threads_alive();
// What the environment variable alone says (libuv's rule).
unsigned fg_threadpool_size_from_env();

#endif
