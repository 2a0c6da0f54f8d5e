// fork() itself: quiesce the threadpool, scan and lift V8's do-not-fork ranges, find the condvars
// other threads sleep on, fork under wq_mutex, and in the child re-arm libuv (uv_loop_fork) with
// every wake-up and request count put right. Nothing here runs JS.
#ifndef PG_FORKGUARD_FORK_H
#define PG_FORKGUARD_FORK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

struct FgForkTimes {
  pid_t pid = 0;  // what fork(2) returned: the child's pid, 0 in the child, -1
  int err = 0;    // its errno, on failure
  uint64_t scanNs = 0, forkNs = 0, restoreNs = 0, quiesceNs = 0;
  uint64_t syscallNs = 0;  // fork(2) alone: forkNs also holds the condvar scan and wq_mutex
  uint64_t syscallCpuNs = 0;  // the CPU time of fork(2) alone (this thread's)
  unsigned lostReqs = 0;
  size_t ranges = 0;  // mappings marked do-not-copy
  size_t calls = 0;   // madvise calls they and the lent mappings took (dontfork.h)
  int adviseFailures = 0;
  int condvars = 0;  // condvars other threads slept on, re-initialised in the child
  bool quiesced = false;
  bool quiesceReused = false;  // the threads were still parked from the last fork (threadpool.h)
  unsigned threadpoolSize = 0;  // and how many (threadpool-size.h), and from where (FgPoolSizeSource)
  unsigned threadpoolSizeFrom = 0;
  bool scanReused = false;  // the last smaps scan stood (dontfork.h)
  bool restoreOneByOne = false;  // the process's size moved during the fork (dontfork.h)
};

// What fork() reports to JS: FG_REPORT_LIST (facts.h), written from these fields by binding.cc into
// static memory JS reads, the pid too, rather than a return value: after fork(2), every page the
// parent writes while the child shares it is a copy-on-write fault, and a new object, even a handle
// for the returned number, is pages written (docs/how-it-works.md, "The parent after fork(2)").
#include "../core/facts.h"

// The system call itself: fork(3) normally (atfork handlers run); the test build passes one that
// runs none, as foreign native code might.
typedef pid_t (*FgForkCall)();

// The child's sweep of inherited sockets (core/sweep.h): the fds it keeps. No sweep when null.
struct FgSweep {
  const int32_t* keep;
  uint32_t count;
};

// Forks. dnsInFlight: DNS requests JS has in flight (see dns-probe.h). Returns the child's pid, 0
// in the child, or -1 with *err set (an errno).
pid_t fg_fork_process(uv_loop_t* loop, unsigned dnsInFlight, const FgSweep* sweep, FgForkCall call, FgForkTimes* t, int* err);

#endif
