#include "listener.h"

#include "uv-private.h"

namespace {

struct Find {
  int fd;
  int result;
};

void Visit(uv_handle_t* h, void* arg) {
  Find* find = static_cast<Find*>(arg);
  if (h->type != UV_NAMED_PIPE || uv_is_closing(h)) return;
  uv_os_fd_t fd;
  if (uv_fileno(h, &fd) != 0 || fd != find->fd) return;
  uv_pipe_t* pipe = reinterpret_cast<uv_pipe_t*>(h);
  find->result = fg_uv_pipe_path(pipe) != nullptr ? 1 : 0;
  fg_uv_forget_pipe_path(pipe);
}

}  // namespace

int fg_keep_socket_path(uv_loop_t* loop, int fd) {
  Find find{fd, -1};
  uv_walk(loop, Visit, &find);
  return find.result;
}
