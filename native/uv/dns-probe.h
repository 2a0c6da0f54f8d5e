// DNS accounting for fork(). Threadpool work that is queued but not started at fork time is dropped
// in the child (libuv re-creates its queues there), so its requests stay active forever and must not
// keep the child alive. After quiescing (threadpool.h), only slow I/O (getaddrinfo, getnameinfo)
// can still be queued: libuv runs at most half its threads on it and parks the rest of it behind our
// tasks. JS counts those requests (the DNS ReqWraps in flight: only JS can see them); this file
// subtracts the ones already completed and waiting in loop->wq (those are delivered in the child
// too). Completed DNS work is recognised by its `done` function, learnt once from two lookups of our
// own, at the first fork() (never at import: a process that never forks does no lookup). They are
// numeric, answered without a resolver: nothing of ours waits on DNS.
#ifndef PG_FORKGUARD_DNS_PROBE_H
#define PG_FORKGUARD_DNS_PROBE_H

#include <uv.h>

// Starts the probe once; later calls do nothing. True once libuv's marks are known.
bool fg_dns_learn(uv_loop_t* loop);

// Our own probe's requests that will never complete in a child forked now: still pending and not
// completed (in loop->wq). DNS is slow I/O that libuv re-queues behind newer tasks, so the probe
// started by the first fork() can still be waiting behind the parked tasks.
struct FgDnsLost {
  bool gai = false;
  bool gni = false;
  unsigned count() const { return unsigned(gai) + unsigned(gni); }
};

// Call with wq_mutex held, just before the fork: completed DNS work not counting the probe, and
// which of the probe's requests are lost to a child forked now.
unsigned fg_dns_completed(uv_loop_t* loop);
FgDnsLost fg_dns_probe_lost(uv_loop_t* loop);
// In the child: the probe's lost requests no longer count as pending.
void fg_dns_probe_forget(const FgDnsLost& lost);
// For diagnostics: is either probe lookup still pending?
bool fg_dns_probe_pending();

#endif
