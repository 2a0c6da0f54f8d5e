#include "child-watch.h"

#include <errno.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct FgChildWatch {
  pid_t pid;
  int pidfd;
  union {
    uv_poll_t poll;
    uv_timer_t timer;
  } h;
  FgChildDone done;
  void* data;
  bool started;
  bool closing;
};

namespace {

uv_handle_t* HandleOf(FgChildWatch* w) { return reinterpret_cast<uv_handle_t*>(&w->h); }

void OnClosed(uv_handle_t* h) {
  FgChildWatch* w = static_cast<FgChildWatch*>(h->data);
  if (w->pidfd >= 0) close(w->pidfd);
  delete w;
}

void TryReap(FgChildWatch* w) {
  int status = 0;
  pid_t r;
  do r = waitpid(w->pid, &status, WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r == 0) return;  // still running
  FgChildEnd how = FG_CHILD_WAIT_FAILED;
  int value = errno;
  if (r > 0 && WIFEXITED(status)) {
    how = FG_CHILD_EXITED;
    value = WEXITSTATUS(status);
  } else if (r > 0 && WIFSIGNALED(status)) {
    how = FG_CHILD_SIGNALED;
    value = WTERMSIG(status);
  } else if (r > 0) {
    return;  // stopped or continued: not an end
  }
  FgChildDone done = w->done;
  void* data = w->data;
  fg_child_close(w);
  if (done) done(data, how, value);
}

void OnPidfd(uv_poll_t* p, int, int) { TryReap(static_cast<FgChildWatch*>(p->data)); }
void OnTimer(uv_timer_t* t) { TryReap(static_cast<FgChildWatch*>(t->data)); }

int PidfdOpen(pid_t pid) {
#if defined(__linux__) && defined(SYS_pidfd_open)
  return int(syscall(SYS_pidfd_open, pid, 0));
#elif defined(__linux__)
  return int(syscall(434, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

}  // namespace

FgChildWatch* fg_child_watch_new(FgChildDone done, void* data) {
  FgChildWatch* w = new FgChildWatch();
  w->pid = -1;
  w->pidfd = -1;
  w->done = done;
  w->data = data;
  w->started = false;
  w->closing = false;
  return w;
}

bool fg_child_watch_start(FgChildWatch* w, uv_loop_t* loop, pid_t pid) {
  w->pid = pid;
  w->started = true;
  w->pidfd = PidfdOpen(pid);
  if (w->pidfd >= 0) {
    uv_poll_init(loop, &w->h.poll, w->pidfd);
    uv_poll_start(&w->h.poll, UV_READABLE, OnPidfd);
  } else {
    uv_timer_init(loop, &w->h.timer);
    uv_timer_start(&w->h.timer, OnTimer, 10, 10);
  }
  HandleOf(w)->data = w;
  uv_unref(HandleOf(w));
  return w->pidfd >= 0;
}

void fg_child_ref(FgChildWatch* w, bool ref) {
  if (w->closing || !w->started) return;
  if (ref)
    uv_ref(HandleOf(w));
  else
    uv_unref(HandleOf(w));
}

void fg_child_close(FgChildWatch* w) {
  if (w->closing) return;
  w->closing = true;
  w->done = nullptr;
  if (!w->started) {
    delete w;
    return;
  }
  uv_close(HandleOf(w), OnClosed);
}
