// Monotonic nanoseconds, for fork()'s timings and the threadpool wait's deadline.
#ifndef PG_FORKGUARD_CLOCK_H
#define PG_FORKGUARD_CLOCK_H

#include <stdint.h>
#include <time.h>

inline uint64_t fg_now_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

#endif
