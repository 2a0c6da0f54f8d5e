#include "async-resend.h"

#include "uv-private.h"

namespace {

void Collect(uv_handle_t* h, void* arg) {
  if (h->type != UV_ASYNC || uv_is_closing(h)) return;
  uv_async_t* a = reinterpret_cast<uv_async_t*>(h);
  if (fg_uv_async_pending(a)) static_cast<std::vector<uv_async_t*>*>(arg)->push_back(a);
}

}  // namespace

std::vector<uv_async_t*> fg_async_collect_pending(uv_loop_t* loop) {
  std::vector<uv_async_t*> pending;
  uv_walk(loop, Collect, &pending);
  return pending;
}

void fg_async_resend(uv_loop_t* loop, const std::vector<uv_async_t*>& pending) {
  for (uv_async_t* a : pending) {
    fg_uv_async_clear(a);
    uv_async_send(a);
  }
  // Completed threadpool work waiting for the loop: make sure the loop hears of it.
  fg_uv_wake_for_completed(loop);
}
