#include "threadpool.h"

#include <stddef.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vector>

#include "../core/clock.h"
#include "threadpool-size.h"
#include "uv-private.h"

struct FgQuiesce {
  uv_mutex_t mu;
  uv_cond_t parked;  // the forking thread waits on it for the last thread to park
  uv_cond_t go;      // the parked threads wait on it for the release
  unsigned started = 0;
  unsigned finished = 0;
  unsigned n = 0;
  bool released = false;
  // While a fork() uses them they wait for the release; held after it, they leave on their own at the
  // deadline.
  bool inFork = true;
  uint64_t deadline = 0;
  // Whether the loop counts the requests not yet finished: not while held, so that parked threads do
  // not keep the loop alive.
  bool counted = true;
  FgPoolSize size;  // and where it came from (threadpool-size.h)
  std::vector<uv_work_t> reqs;
  long tids[1024];  // the threads parked, in the order they parked (started of them); 1024: libuv's cap
};

namespace {

FgQuiesce* held = nullptr;  // parked after a fork(), until the loop needs them (loop thread only)
uv_loop_t* heldLoop = nullptr;
uv_prepare_t releaser;
bool releaserReady = false;

long ParkedTid() {
#if defined(__linux__) && defined(SYS_gettid)
  return long(syscall(SYS_gettid));
#else
  return 0;
#endif
}

void Park(uv_work_t* req) {
  FgQuiesce* q = static_cast<FgQuiesce*>(req->data);
  long tid = ParkedTid();
  uv_mutex_lock(&q->mu);
  q->tids[q->started] = tid;
  // One wake-up for the forking thread, and only when the last one parks: with a shared condvar
  // and a broadcast each park woke every thread parked before it, which on 2 cores cost ~2 ms.
  if (++q->started == q->n) uv_cond_signal(&q->parked);
  const uint64_t hold = FG_QUIESCE_HOLD_MS * 1000000ull;
  while (!q->released) {
    uint64_t now = fg_now_ns();
    if (!q->inFork && now >= q->deadline) {
      q->released = true;
      uv_cond_broadcast(&q->go);
      break;
    }
    // A timed wait throughout: the hold sets the deadline without waking anyone.
    uv_cond_timedwait(&q->go, &q->mu, q->inFork || q->deadline - now > hold ? hold : q->deadline - now);
  }
  uv_mutex_unlock(&q->mu);
}

// In place of libuv's own completion (fg_uv_set_work_done): a request that was not counted must not
// be uncounted, and libuv asserts the count is not zero.
void Done(uv_work_t* req) {
  FgQuiesce* q = static_cast<FgQuiesce*>(req->data);
  if (q->counted) fg_uv_set_active_reqs(req->loop, fg_uv_active_reqs(req->loop) - 1);
  if (++q->finished == q->n) {
    if (held == q) held = nullptr;  // it let itself go
    uv_mutex_destroy(&q->mu);
    uv_cond_destroy(&q->parked);
    uv_cond_destroy(&q->go);
    delete q;
  }
}

// While held, their requests are not counted by the loop (they must not keep it alive), so any count
// above zero is work queued since the hold, which cannot have completed, or a request that was already
// in flight. Either way the threads go.
void OnLoopRuns(uv_prepare_t*) {
  if (held && fg_uv_active_reqs(heldLoop) == 0) return;
  fg_quiesce_release_held();
}

void Unhold(FgQuiesce* q) {
  fg_uv_set_active_reqs(heldLoop, fg_uv_active_reqs(heldLoop) + (q->n - q->finished));
  q->counted = true;
  held = nullptr;
  uv_prepare_stop(&releaser);
}

// Takes the held threads back for a new fork, if every one of them is still parked.
FgQuiesce* TakeHeld() {
  FgQuiesce* q = held;
  Unhold(q);
  uv_mutex_lock(&q->mu);
  bool parked = !q->released && q->started == q->n;
  if (parked) q->inFork = true;
  uv_mutex_unlock(&q->mu);
  if (parked) return q;
  fg_quiesce_release(q);  // some never parked, or they left on their own: start afresh
  return nullptr;
}

}  // namespace

FgQuiesce* fg_quiesce_threadpool(uv_loop_t* loop, uint64_t timeoutMs, bool* reused) {
  *reused = false;
  if (held && loop == heldLoop) {
    FgQuiesce* q = TakeHeld();
    if (q) {
      *reused = true;
      return q;
    }
  }
  FgQuiesce* q = new FgQuiesce();
  uv_mutex_init(&q->mu);
  uv_cond_init(&q->parked);
  uv_cond_init(&q->go);
  // The pool's size (threadpool-size.h) is known for sure only once the pool has started, and the
  // first task queued starts it. So the first task is queued with the mutex held (its Park waits for
  // n), then the size is read, then the rest are queued. reqs holds at most libuv's cap of 1024,
  // reserved up front: libuv keeps pointers into it, so it must never move.
  q->reqs.reserve(1024);
  q->reqs.resize(1);
  q->reqs[0].data = q;
  FgPoolSize before = fg_threadpool_size_before();
  uv_mutex_lock(&q->mu);
  uv_queue_work(loop, &q->reqs[0], Park, nullptr);
  fg_uv_set_work_done<Done>(&q->reqs[0]);  // read by the loop thread only, which is us
  q->size = fg_threadpool_size_after(before);
  q->n = q->size.n;
  uv_mutex_unlock(&q->mu);
  q->reqs.resize(q->n);
  for (unsigned i = 1; i < q->n; i++) {
    q->reqs[i].data = q;
    uv_queue_work(loop, &q->reqs[i], Park, nullptr);
    fg_uv_set_work_done<Done>(&q->reqs[i]);
  }
  uint64_t deadline = fg_now_ns() + timeoutMs * 1000000ull;
  uv_mutex_lock(&q->mu);
  while (q->started < q->n) {
    uint64_t now = fg_now_ns();
    if (now >= deadline) break;
    uv_cond_timedwait(&q->parked, &q->mu, deadline - now);
  }
  uv_mutex_unlock(&q->mu);
  return q;
}

unsigned fg_quiesce_queued(const FgQuiesce* q) { return q->n; }

FgPoolSize fg_quiesce_size(const FgQuiesce* q) { return q->size; }

unsigned fg_quiesce_parked_tids(FgQuiesce* q, long* out, unsigned cap) {
  uv_mutex_lock(&q->mu);
  unsigned n = q->started < cap ? q->started : cap;
  for (unsigned i = 0; i < n; i++) out[i] = q->tids[i];
  uv_mutex_unlock(&q->mu);
  return n;
}

unsigned fg_quiesce_missing(const FgQuiesce* q) {
  FgQuiesce* m = const_cast<FgQuiesce*>(q);
  uv_mutex_lock(&m->mu);
  unsigned missing = q->n - q->started;
  uv_mutex_unlock(&m->mu);
  return missing;
}

void fg_quiesce_hold(uv_loop_t* loop, FgQuiesce* q) {
  // Only the main thread's loop holds them: a worker thread (a fork with { unsafe: true }) could not
  // be reached by the 'exit' or worker releases, and two loops must not share one releaser.
  if (loop != uv_default_loop()) {
    fg_quiesce_release(q);
    return;
  }
  uv_mutex_lock(&q->mu);
  q->inFork = false;
  q->deadline = fg_now_ns() + FG_QUIESCE_HOLD_MS * 1000000ull;
  uv_mutex_unlock(&q->mu);
  held = q;
  heldLoop = loop;
  fg_uv_set_active_reqs(loop, fg_uv_active_reqs(loop) - (q->n - q->finished));
  q->counted = false;
  if (!releaserReady) {
    uv_prepare_init(loop, &releaser);
    uv_unref(reinterpret_cast<uv_handle_t*>(&releaser));
    releaserReady = true;
  }
  uv_prepare_start(&releaser, OnLoopRuns);
}

void fg_quiesce_release(FgQuiesce* q) {
  uv_mutex_lock(&q->mu);
  q->released = true;
  uv_mutex_unlock(&q->mu);
  // After the unlock: a thread woken while the mutex is held only blocks again on it.
  uv_cond_broadcast(&q->go);
}

void fg_quiesce_release_held() {
  if (!held) return;
  FgQuiesce* q = held;
  Unhold(q);
  fg_quiesce_release(q);
}

bool fg_quiesce_holding() { return held != nullptr; }
