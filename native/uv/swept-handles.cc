#include "swept-handles.h"

#include <unordered_set>
#include <vector>

namespace {

struct Walk {
  std::unordered_set<int> fds;
  unsigned found = 0;
};

// What fg_ref_swept_handles ref'd, for fg_unref_swept_handles: used within one synchronous JS call.
std::vector<uv_handle_t*> reffed;

void Visit(uv_handle_t* h, void* arg) {
  Walk* walk = static_cast<Walk*>(arg);
  if ((h->type != UV_TCP && h->type != UV_NAMED_PIPE) || uv_is_closing(h)) return;
  uv_os_fd_t fd;
  if (uv_fileno(h, &fd) != 0 || walk->fds.count(fd) == 0) return;
  walk->found++;
  if (uv_has_ref(h)) return;
  uv_ref(h);
  reffed.push_back(h);
}

}  // namespace

unsigned fg_ref_swept_handles(uv_loop_t* loop, const int32_t* fds, unsigned n) {
  Walk walk;
  walk.fds.insert(fds, fds + n);
  reffed.clear();
  uv_walk(loop, Visit, &walk);
  return walk.found;
}

void fg_unref_swept_handles() {
  // A handle JS closed meanwhile is still allocated (its close callback runs on a later loop turn):
  // unref is safe on it.
  for (uv_handle_t* h : reffed) uv_unref(h);
  reffed.clear();
}
