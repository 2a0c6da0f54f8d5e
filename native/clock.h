// Monotonic nanoseconds, for fork()'s timings and the threadpool wait's deadline; and CPU time.
#ifndef PG_FORKGUARD_CLOCK_H
#define PG_FORKGUARD_CLOCK_H

#include <stdint.h>
#include <time.h>

inline uint64_t fg_now_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

// CPU time of the calling thread: time it ran, not time it waited for a CPU (on 2 cores a fork's
// child often takes the parent's CPU for a few ms right after fork(2)).
inline uint64_t fg_thread_cpu_ns() {
  struct timespec ts;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return 0;
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

#endif
