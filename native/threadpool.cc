#include "threadpool.h"

#include <stdlib.h>

#include <vector>

#include "clock.h"

struct FgQuiesce {
  uv_mutex_t mu;
  uv_cond_t cv;
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
  q->started++;
  uv_cond_broadcast(&q->cv);
  while (!q->released) uv_cond_wait(&q->cv, &q->mu);
  uv_mutex_unlock(&q->mu);
}

void Done(uv_work_t* req, int) {
  FgQuiesce* q = static_cast<FgQuiesce*>(req->data);
  if (++q->finished == q->n) {
    uv_mutex_destroy(&q->mu);
    uv_cond_destroy(&q->cv);
    delete q;
  }
}

}  // namespace

FgQuiesce* fg_quiesce_threadpool(uv_loop_t* loop, uint64_t timeoutMs) {
  FgQuiesce* q = new FgQuiesce();
  q->n = ThreadpoolSize();
  q->reqs.resize(q->n);
  uv_mutex_init(&q->mu);
  uv_cond_init(&q->cv);
  for (unsigned i = 0; i < q->n; i++) {
    q->reqs[i].data = q;
    uv_queue_work(loop, &q->reqs[i], Park, Done);
  }
  uint64_t deadline = fg_now_ns() + timeoutMs * 1000000ull;
  uv_mutex_lock(&q->mu);
  while (q->started < q->n) {
    uint64_t now = fg_now_ns();
    if (now >= deadline) break;
    uv_cond_timedwait(&q->cv, &q->mu, deadline - now);
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
  uv_cond_broadcast(&q->cv);
  uv_mutex_unlock(&q->mu);
}
