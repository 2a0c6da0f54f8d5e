// Monotonic nanoseconds, for fork()'s timings and the threadpool wait's deadline; and CPU time.
#ifndef PG_FORKGUARD_CLOCK_H
#define PG_FORKGUARD_CLOCK_H

#include <stdint.h>
#include <time.h>

// A clock in nanoseconds; 0 if the clock is not there.
inline uint64_t fg_clock_ns(clockid_t clock) {
  struct timespec ts;
  if (clock_gettime(clock, &ts) != 0) return 0;
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

inline uint64_t fg_now_ns() { return fg_clock_ns(CLOCK_MONOTONIC); }

// CPU time of the calling thread: time it ran, not time it waited for a CPU (on 2 cores a fork's
// child often takes the parent's CPU for a few ms right after fork(2)).
inline uint64_t fg_thread_cpu_ns() { return fg_clock_ns(CLOCK_THREAD_CPUTIME_ID); }

#endif
