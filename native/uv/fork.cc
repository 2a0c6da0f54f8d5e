#include "fork.h"

#include <errno.h>
#include <unistd.h>

#include <vector>

#include "async-resend.h"
#include "../core/clock.h"
#include "dns-probe.h"
#include "loop-hook.h"
#include "threadpool.h"
#include "uv-private.h"

extern "C" {
#include "../core/condvars.h"
#include "../core/dontfork.h"
#include "../core/heap-placement.h"
#include "../core/sweep.h"
}

pid_t fg_fork_process(uv_loop_t* loop, unsigned dnsInFlight, const FgSweep* sweep, FgForkCall call, FgForkTimes* t, int* err) {
  if (!fg_uv_layout_known()) {
    // JS checks this first and throws a typed error; this is the last line: never read unknown memory.
    *err = ENOTSUP;
    return -1;
  }
  // fork() tells completed DNS work from other threadpool work by libuv's completion function, which
  // it learns once from lookups of its own (dns-probe.h): at the first fork(), not at import or
  // guard(), so a process that never forks starts no lookup.
  fg_dns_learn(loop);
  // Kept from fork to fork, in memory no child gets a copy of (dontfork.c).
  static fg_ranges ranges = {nullptr, 0, 0};
  static fg_ranges exact = {nullptr, 0, 0};
  static fg_ranges lend = {nullptr, 0, 0};
  fg_scan_info scan = {0, 0, 0};
  // Every threadpool thread parked before the maps are read: a thread starting (its stack) or
  // allocating (its malloc arena) after that could map memory into a hole of a run that the
  // restore below marks do-not-copy (dontfork.h).
  uint64_t tq0 = fg_now_ns();
  bool reused = false;
  FgQuiesce* q = fg_quiesce_threadpool(loop, FG_QUIESCE_TIMEOUT_MS, &reused);
  t->quiesced = fg_quiesce_missing(q) == 0;
  t->quiesceReused = reused;
  FgPoolSize size = fg_quiesce_size(q);
  t->threadpoolSize = size.n;
  t->threadpoolSizeFrom = unsigned(size.source);
  uint64_t t0 = fg_now_ns();
  t->quiesceNs = t0 - tq0;
  int rc = fg_scan_dontfork(&ranges, &exact, &lend, &scan);
#ifdef __linux__
  if (rc != 0) {
    fg_quiesce_release(q);
    *err = -rc;
    return -1;
  }
#else
  (void)rc;
#endif
  t->ranges = scan.marked;
  t->calls = ranges.count + lend.count;
  t->scanReused = scan.reused != 0;
  t->adviseFailures = fg_advise_ranges(&lend, 1);
  uint64_t t1 = fg_now_ns();
  t->scanNs = t1 - t0;
  // Last before the fork: which condvars do other threads sleep on (see condvars.h)? Not the
  // threads parked above: they sleep on the quiesce's condvar, which the child never touches.
  long parked[64];
  unsigned nparked = fg_quiesce_parked_tids(q, parked, sizeof(parked) / sizeof(parked[0]));
  t->condvars = fg_find_sleeping_condvars(parked, nparked);
  // A threadpool thread finishing work takes wq_mutex and sends wq_async inside it. Holding it
  // across the fork means no such send is half done in the child.
  fg_uv_wq_lock(loop);
  unsigned completedDns = fg_dns_completed(loop);
  FgDnsLost probeLost = fg_dns_probe_lost(loop);
  unsigned lost = dnsInFlight > completedDns ? dnsInFlight - completedDns : 0;
  lost += fg_quiesce_missing(q);  // threads still busy with other work: that work is lost as well
  uint64_t cs = fg_thread_cpu_ns();
  uint64_t ts = fg_now_ns();
  // The child's sweep of inherited sockets (sweep.h), armed for this fork only: the parent disarms it
  // right after, so that a fork by other code (child_process.spawn's) never sweeps.
  if (sweep) fg_sweep_arm(sweep->keep, sweep->count);
  pid_t pid = call();
  int forkErrno = errno;
  if (pid != 0) fg_sweep_disarm();
  // In the child too: harmless, it is never read there (its CPU clock started at the fork).
  t->syscallNs = fg_now_ns() - ts;
  t->syscallCpuNs = fg_thread_cpu_ns() - cs;
  if (pid == 0) {
    // The child. Memory is ours now; the mutex's owner does not exist here, nor do the sleepers
    // of the condvars found above.
    fg_reset_sleeping_condvars();
    fg_uv_wq_reinit(loop);
    // Heap placement's reservation: the child's heap is placed already, and a child seldom forks;
    // held, it would count against any address-space limit put on the child (heap-placement.h).
    fg_release_heap_reservation();
    // The parking tasks ran on threads this process does not have: they will never complete. Nor
    // will the probe's requests that had not completed: they are ours, drop them outright.
    fg_uv_set_active_reqs(loop, fg_uv_active_reqs(loop) - fg_quiesce_queued(q) - probeLost.count());
    fg_dns_probe_forget(probeLost);
    std::vector<uv_async_t*> pendingAsync = fg_async_collect_pending(loop);
    if (uv_loop_fork(loop) != 0) {
      // A child whose loop cannot be re-armed must not run JS: say why and leave.
      static const char msg[] = "pg-forkguard: uv_loop_fork failed in the child; exiting with code 70\n";
      ssize_t ignored = write(2, msg, sizeof(msg) - 1);
      (void)ignored;
      _exit(70);
    }
    fg_uv_forget_registrations(loop);
    fg_async_resend(loop, pendingAsync);
    fg_hook_set_stuck_reqs(lost);
    t->lostReqs = lost;
    return 0;
  }
  fg_uv_wq_unlock(loop);
  uint64_t t2 = fg_now_ns();
  t->forkNs = t2 - t1;
  // Give V8 its do-not-copy ranges back: without them child_process.spawn copies the whole heap.
  // Before the threadpool is let go: a run's holes must not fill with a thread's new mapping.
  int oneByOne = 0;
  fg_restore_marks(&ranges, &exact, &scan, &oneByOne);
  t->restoreOneByOne = oneByOne != 0;
  t->restoreNs = fg_now_ns() - t2;
  if (pid < 0) {
    fg_quiesce_release(q);  // no child: nothing to hold them for
    *err = forkErrno;
  } else {
    fg_quiesce_hold(loop, q);
  }
  return pid;
}
