#include "heap-limit.h"

#include <sys/resource.h>

extern "C" {
#include "../core/heap-placement.h"
}

namespace {

uv_prepare_t before;
uv_check_t after;
bool started = false;

void Check() {
  struct rlimit as;
  if (fg_heap_reserved() == 0 || getrlimit(RLIMIT_AS, &as) != 0 || as.rlim_cur == RLIM_INFINITY) return;
  fg_release_heap_reservation();
}

void OnBefore(uv_prepare_t*) { Check(); }
void OnAfter(uv_check_t*) { Check(); }

}  // namespace

void fg_heap_limit_watch(uv_loop_t* loop) {
  if (started) return;
  started = true;
  uv_prepare_init(loop, &before);
  uv_check_init(loop, &after);
  uv_unref(reinterpret_cast<uv_handle_t*>(&before));
  uv_unref(reinterpret_cast<uv_handle_t*>(&after));
  uv_prepare_start(&before, OnBefore);
  uv_check_start(&after, OnAfter);
}
