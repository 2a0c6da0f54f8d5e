// Async handles sent but not yet delivered at the fork: `pending` set (maybe mid-send, with the
// busy counter raised, by a thread that is gone in the child), the wake-up byte in the parent's
// eventfd. uv_loop_fork() clears these flags without sending again, so the wake-up would be lost:
// a completed threadpool request whose callback never runs, a loop that never looks drained.
// fork.cc collects them before uv_loop_fork and re-sends them after it (in the child only, which is
// single-threaded: allocating is fine there).
#ifndef PG_FORKGUARD_ASYNC_RESEND_H
#define PG_FORKGUARD_ASYNC_RESEND_H

#include <uv.h>

#include <vector>

std::vector<uv_async_t*> fg_async_collect_pending(uv_loop_t* loop);
void fg_async_resend(uv_loop_t* loop, const std::vector<uv_async_t*>& pending);

#endif
