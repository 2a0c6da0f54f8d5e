#include "child-watch.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>

namespace {

// One per loop with watches: its SIGCHLD handle and the watches started on it.
struct Reaper {
  uv_loop_t* loop;
  uv_signal_t sigchld;
  FgChildWatch* started;  // singly linked: a start writes only the new watch and this head
  unsigned watches;       // made, started or not: the handle closes when the last one goes
  unsigned refs;
  Reaper* next;
};

// The open ones, per thread: a loop runs on one thread, and a worker thread that forks (unsafe)
// keeps its own list, so no two threads ever walk one.
thread_local Reaper* reapers = nullptr;

}  // namespace

struct FgChildWatch {
  Reaper* reaper;
  pid_t pid;
  FgChildDone done;
  void* data;
  bool started;
  bool ref;
  FgChildWatch* next;
};

namespace {

void OnSigchld(uv_signal_t* h, int);

Reaper* ReaperFor(uv_loop_t* loop) {
  for (Reaper* r = reapers; r; r = r->next)
    if (r->loop == loop) return r;
  Reaper* r = new Reaper();
  r->loop = loop;
  r->started = nullptr;
  r->watches = 0;
  r->refs = 0;
  uv_signal_init(loop, &r->sigchld);
  r->sigchld.data = r;
  uv_signal_start(&r->sigchld, OnSigchld, SIGCHLD);
  uv_unref(reinterpret_cast<uv_handle_t*>(&r->sigchld));
  r->next = reapers;
  reapers = r;
  return r;
}

void OnReaperClosed(uv_handle_t* h) { delete static_cast<Reaper*>(h->data); }

// A watch leaves its reaper; the last one closes the SIGCHLD handle (a loop that forks no more
// keeps no handle, and a worker thread's loop can close).
void Leave(FgChildWatch* w) {
  Reaper* r = w->reaper;
  if (w->started) {
    FgChildWatch** p = &r->started;
    while (*p && *p != w) p = &(*p)->next;
    if (*p) *p = w->next;
  }
  if (w->ref && --r->refs == 0) uv_unref(reinterpret_cast<uv_handle_t*>(&r->sigchld));
  if (--r->watches > 0) return;
  Reaper** p = &reapers;
  while (*p && *p != r) p = &(*p)->next;
  if (*p) *p = r->next;
  uv_close(reinterpret_cast<uv_handle_t*>(&r->sigchld), OnReaperClosed);
}

// waitpid for one watch; true if the child was reaped (the watch is then gone).
bool TryReap(FgChildWatch* w) {
  int status = 0;
  pid_t got;
  do got = waitpid(w->pid, &status, WNOHANG);
  while (got < 0 && errno == EINTR);
  if (got == 0) return false;  // still running
  FgChildEnd how = FG_CHILD_WAIT_FAILED;
  int value = errno;
  if (got > 0 && WIFEXITED(status)) {
    how = FG_CHILD_EXITED;
    value = WEXITSTATUS(status);
  } else if (got > 0 && WIFSIGNALED(status)) {
    how = FG_CHILD_SIGNALED;
    value = WTERMSIG(status);
  } else if (got > 0) {
    return false;  // stopped or continued: not an end
  }
  FgChildDone done = w->done;
  void* data = w->data;
  pid_t pid = w->pid;
  fg_child_close(w);
  if (done) done(data, pid, how, value);
  return true;
}

// SIGCHLD says some child changed state, not which, and several may have: every watch is asked.
// done() runs JS, which may start or close watches: the list is walked from its head again after
// each reap.
void OnSigchld(uv_signal_t* h, int) {
  Reaper* r = static_cast<Reaper*>(h->data);
  bool again = true;
  while (again) {
    again = false;
    for (FgChildWatch* w = r->started; w; w = w->next) {
      if (TryReap(w)) {
        again = r->watches > 0;  // the reaper is gone with its last watch
        break;
      }
    }
  }
}

}  // namespace

FgChildWatch* fg_child_watch_new(uv_loop_t* loop, FgChildDone done, void* data) {
  FgChildWatch* w = new FgChildWatch();
  w->reaper = ReaperFor(loop);
  w->reaper->watches++;
  w->pid = -1;
  w->done = done;
  w->data = data;
  w->started = false;
  w->ref = false;
  w->next = nullptr;
  return w;
}

void fg_child_watch_start(FgChildWatch* w, pid_t pid) {
  w->pid = pid;
  w->started = true;
  w->next = w->reaper->started;
  w->reaper->started = w;
}

void fg_child_watch_adopt(FgChildWatch* w, pid_t pid) {
  fg_child_watch_start(w, pid);
  TryReap(w);
}

void fg_child_ref(FgChildWatch* w, bool ref) {
  if (!w->started || w->ref == ref) return;
  w->ref = ref;
  Reaper* r = w->reaper;
  if (ref && r->refs++ == 0) uv_ref(reinterpret_cast<uv_handle_t*>(&r->sigchld));
  if (!ref && --r->refs == 0) uv_unref(reinterpret_cast<uv_handle_t*>(&r->sigchld));
}

void fg_child_close(FgChildWatch* w) {
  Leave(w);
  delete w;
}
