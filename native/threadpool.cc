#include "threadpool.h"

#include <stdlib.h>

#include <vector>

#include "clock.h"

struct FgQuiesce {
  uv_mutex_t mu;
  uv_cond_t parked;  // the forking thread waits on it for the last thread to park
  uv_cond_t go;      // the parked threads wait on it for the release
  unsigned started = 0;
  unsigned finished = 0;
  unsigned n = 0;
  bool released = false;
  std::vector<uv_work_t> reqs;
};

namespace {

unsigned ThreadpoolSize() {
  // The same rule libuv applies when it starts the pool.
  const char* v = getenv("UV_THREADPOOL_SIZE");
  long n = v ? strtol(v, nullptr, 10) : 4;
  if (n <= 0) n = 1;
  if (n > 1024) n = 1024;
  return unsigned(n);
}

void Park(uv_work_t* req) {
  FgQuiesce* q = static_cast<FgQuiesce*>(req->data);
  uv_mutex_lock(&q->mu);
  // One wake-up for the forking thread, and only when the last one parks: with a shared condvar
  // and a broadcast each park woke every thread parked before it, which on 2 cores cost ~2 ms.
  if (++q->started == q->n) uv_cond_signal(&q->parked);
  while (!q->released) uv_cond_wait(&q->go, &q->mu);
  uv_mutex_unlock(&q->mu);
}

void Done(uv_work_t* req, int) {
  FgQuiesce* q = static_cast<FgQuiesce*>(req->data);
  if (++q->finished == q->n) {
    uv_mutex_destroy(&q->mu);
    uv_cond_destroy(&q->parked);
    uv_cond_destroy(&q->go);
    delete q;
  }
}

}  // namespace

FgQuiesce* fg_quiesce_threadpool(uv_loop_t* loop, uint64_t timeoutMs) {
  FgQuiesce* q = new FgQuiesce();
  q->n = ThreadpoolSize();
  q->reqs.resize(q->n);
  uv_mutex_init(&q->mu);
  uv_cond_init(&q->parked);
  uv_cond_init(&q->go);
  for (unsigned i = 0; i < q->n; i++) {
    q->reqs[i].data = q;
    uv_queue_work(loop, &q->reqs[i], Park, Done);
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

unsigned fg_quiesce_missing(const FgQuiesce* q) {
  FgQuiesce* m = const_cast<FgQuiesce*>(q);
  uv_mutex_lock(&m->mu);
  unsigned missing = q->n - q->started;
  uv_mutex_unlock(&m->mu);
  return missing;
}

void fg_quiesce_release(FgQuiesce* q) {
  uv_mutex_lock(&q->mu);
  q->released = true;
  uv_cond_broadcast(&q->go);
  uv_mutex_unlock(&q->mu);
}
