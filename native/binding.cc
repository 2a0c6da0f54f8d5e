// N-API glue: argument checks, buffers, libuv handles and JS callbacks. The async-signal-safe part
// lives in core.c; this file is the only one that includes napi.h or uv.h.
#include <napi.h>
#include <uv.h>

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <vector>

extern "C" {
#include "core.h"
#include "dontfork.h"
}

namespace {

uint64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

// ---------------------------------------------------------------------------------------------
// Loop hook: one prepare handle per process. It runs before every poll, so it is the place where a
// new process is noticed before an inherited socket can report EOF, and where a fork() child
// notices that its loop has drained (Node's own end of loop would hang in DrainTasks there).
struct LoopHook {
  uv_loop_t* loop = nullptr;
  uv_prepare_t prepare;
  napi_env env = nullptr;
  Napi::FunctionReference onGeneration;  // (generation) => void
  Napi::FunctionReference onDrained;     // (phase: 'beforeExit' | 'exit') => void
  uint32_t notifiedGeneration = 0;
  bool watchExit = false;
  unsigned int stuckReqs = 0;  // threadpool requests inherited from the parent: never complete
  bool started = false;
};

LoopHook* hook = nullptr;

// Is anything besides our own prepare handle and the inherited, never-completing requests keeping
// the loop alive? Asks libuv itself rather than re-implementing its notion of alive.
bool LoopAliveBesidesUs() {
  uv_loop_t* loop = hook->loop;
  unsigned int reqs = loop->active_reqs.count;
  if (reqs < hook->stuckReqs) hook->stuckReqs = reqs;  // some inherited ones did finish
  bool wasRef = uv_has_ref(reinterpret_cast<uv_handle_t*>(&hook->prepare));
  if (wasRef) uv_unref(reinterpret_cast<uv_handle_t*>(&hook->prepare));
  if (reqs <= hook->stuckReqs) loop->active_reqs.count = 0;
  bool alive = uv_loop_alive(loop) != 0;
  loop->active_reqs.count = reqs;
  if (wasRef) uv_ref(reinterpret_cast<uv_handle_t*>(&hook->prepare));
  return alive;
}

void CallJs(Napi::FunctionReference& fn, std::initializer_list<napi_value> args) {
  Napi::Env env(hook->env);
  Napi::HandleScope scope(env);
  Napi::AsyncContext ctx(env, "pgforkguard");
  // MakeCallback drains nextTicks and microtasks afterwards, as a libuv callback in Node would.
  fn.MakeCallback(env.Global(), args, ctx);
}

void OnPrepare(uv_prepare_t*) {
  fg_check_canary();
  uint32_t gen = fg_state()[FG_STATE_GENERATION];
  if (gen != hook->notifiedGeneration && !hook->onGeneration.IsEmpty()) {
    hook->notifiedGeneration = gen;
    Napi::Env env(hook->env);
    Napi::HandleScope scope(env);
    CallJs(hook->onGeneration, {Napi::Number::New(env, gen)});
  }
  if (!hook->watchExit || hook->onDrained.IsEmpty()) return;
  if (LoopAliveBesidesUs()) return;
  {
    Napi::Env env(hook->env);
    Napi::HandleScope scope(env);
    CallJs(hook->onDrained, {Napi::String::New(env, "beforeExit")});
  }
  if (LoopAliveBesidesUs()) return;  // a 'beforeExit' listener scheduled more work
  Napi::Env env(hook->env);
  Napi::HandleScope scope(env);
  CallJs(hook->onDrained, {Napi::String::New(env, "exit")});
  // The 'exit' callback ends the process through _exit; reaching here means it threw.
  _exit(7);
}

// Threads that are gone in the child may have left libuv async handles half-sent: `pending` set
// (so every later uv_async_send is dropped) and the busy counter raised (so the loop spins on it
// forever), with the wake-up byte in the parent's eventfd. Reset them and wake once more.
void RepairAsyncHandle(uv_handle_t* h, void*) {
  if (h->type != UV_ASYNC) return;
  uv_async_t* a = reinterpret_cast<uv_async_t*>(h);
  if (a->pending == 0 && h->u.fd == 0) return;
  a->pending = 0;
  h->u.fd = 0;
  if (!uv_is_closing(h)) uv_async_send(a);
}

// ---------------------------------------------------------------------------------------------
// Children of fork(): reaped through a pidfd watched by a poll handle (no threadpool thread, no
// SIGCHLD handler to fight libuv over), or a timer where pidfds do not exist.
struct ChildWatch {
  pid_t pid;
  int pidfd;
  union {
    uv_poll_t poll;
    uv_timer_t timer;
  } h;
  Napi::FunctionReference done;  // (code, signal) => void
  bool closing = false;
};

std::vector<ChildWatch*> watches;

void OnWatchClosed(uv_handle_t* h) {
  ChildWatch* w = static_cast<ChildWatch*>(h->data);
  if (w->pidfd >= 0) close(w->pidfd);
  w->done.Reset();
  delete w;
}

void CloseWatch(ChildWatch* w) {
  if (w->closing) return;
  w->closing = true;
  for (size_t i = 0; i < watches.size(); i++) {
    if (watches[i] == w) {
      watches.erase(watches.begin() + i);
      break;
    }
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&w->h), OnWatchClosed);
}

void TryReap(ChildWatch* w) {
  int status = 0;
  pid_t r;
  do r = waitpid(w->pid, &status, WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r == 0) return;  // still running
  Napi::Env env(hook->env);
  Napi::HandleScope scope(env);
  Napi::Value code = env.Null(), sig = env.Null();
  if (r < 0) {
    code = Napi::Number::New(env, -errno);
  } else if (WIFEXITED(status)) {
    code = Napi::Number::New(env, WEXITSTATUS(status));
  } else if (WIFSIGNALED(status)) {
    sig = Napi::Number::New(env, WTERMSIG(status));
  }
  Napi::FunctionReference done = std::move(w->done);
  CloseWatch(w);
  if (!done.IsEmpty()) CallJs(done, {code, sig});
}

void OnPidfd(uv_poll_t* p, int, int) { TryReap(static_cast<ChildWatch*>(p->data)); }
void OnReapTimer(uv_timer_t* t) { TryReap(static_cast<ChildWatch*>(t->data)); }

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

// ---------------------------------------------------------------------------------------------
// fork() itself.
struct ForkTimes {
  uint64_t scanNs = 0, forkNs = 0, restoreNs = 0;
  size_t ranges = 0;
  int adviseFailures = 0;
};

pid_t ForkProcess(uv_loop_t* loop, bool raw, ForkTimes* t, int* err) {
  fg_ranges ranges = {nullptr, 0, 0};
  uint64_t t0 = NowNs();
  int rc = fg_scan_dontfork(&ranges);
#ifdef __linux__
  if (rc != 0) {
    *err = -rc;
    return -1;
  }
#else
  (void)rc;
#endif
  t->ranges = ranges.count;
  t->adviseFailures = fg_advise_ranges(&ranges, 1);
  uint64_t t1 = NowNs();
  t->scanNs = t1 - t0;
  // A threadpool thread finishing work takes wq_mutex and sends wq_async inside it. Holding it
  // across the fork means no such send is half done in the child (the spike's rare hang).
  uv_mutex_lock(&loop->wq_mutex);
  pid_t pid;
  if (raw) {
#if defined(__linux__) && defined(SYS_fork)
    pid = pid_t(syscall(SYS_fork));
#elif defined(__linux__)
    pid = pid_t(syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0));
#else
    pid = fork();
#endif
  } else {
    pid = fork();
  }
  int forkErrno = errno;
  if (pid == 0) {
    // The child. Memory is ours now; the mutex's owner does not exist here.
    uv_mutex_init(&loop->wq_mutex);
    fg_ranges_free(&ranges);
    int lf = uv_loop_fork(loop);
    if (lf != 0) {
      *err = -lf;
      return -2;
    }
    uv_walk(loop, RepairAsyncHandle, nullptr);
    return 0;
  }
  uv_mutex_unlock(&loop->wq_mutex);
  uint64_t t2 = NowNs();
  t->forkNs = t2 - t1;
  // Give V8 its do-not-copy ranges back: without them child_process.spawn copies the whole heap.
  fg_advise_ranges(&ranges, 0);
  fg_ranges_free(&ranges);
  t->restoreNs = NowNs() - t2;
  if (pid < 0) *err = forkErrno;
  return pid;
}

// ---------------------------------------------------------------------------------------------
// Exports.
Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int rc = fg_core_init();
  Napi::Object out = Napi::Object::New(env);
  out.Set("rc", Napi::Number::New(env, rc));
  out.Set("errno", Napi::Number::New(env, rc == 0 ? 0 : errno));
  if (rc != FG_OK) return out;
  // JS reads generation, pid and canary straight from these pages: a load, not a call.
  Napi::ArrayBuffer state = Napi::ArrayBuffer::New(
      env, const_cast<uint32_t*>(fg_state()), FG_STATE_SLOTS * sizeof(uint32_t));
  Napi::ArrayBuffer canary = Napi::ArrayBuffer::New(
      env, const_cast<uint32_t*>(fg_canary()), FG_CANARY_SLOTS * sizeof(uint32_t));
  out.Set("state", state);
  out.Set("canary", canary);
  out.Set("canarySupported", Napi::Boolean::New(env, fg_canary_supported() != 0));
  out.Set("capacity", Napi::Number::New(env, FG_REGISTRY_CAPACITY));
  out.Set("fdLimit", Napi::Number::New(env, FG_FD_INDEX_LIMIT));
  return out;
}

Napi::Value Install(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), fg_core_install());
}

Napi::Value IsInstalled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), fg_core_installed() != 0);
}

int FdArg(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) return -1;
  return info[0].As<Napi::Number>().Int32Value();
}

Napi::Value TrackFd(const Napi::CallbackInfo& info) {
  int rc = fg_track(FdArg(info));
  return Napi::Number::New(info.Env(), rc);
}

Napi::Value UntrackFd(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), fg_untrack(FdArg(info)) == FG_OK);
}

Napi::Value IsTracked(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), fg_is_tracked(FdArg(info)) != 0);
}

Napi::Value CheckCanary(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), fg_check_canary() != 0);
}

Napi::Value GetPid(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), getpid());
}

uv_loop_t* LoopOf(Napi::Env env) {
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  return loop;
}

// startHook(onGeneration, onDrained): the prepare handle, unref'd so it never keeps a process alive.
Napi::Value StartHook(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (hook == nullptr) hook = new LoopHook();
  if (!hook->started) {
    hook->loop = LoopOf(env);
    hook->env = env;
    uv_prepare_init(hook->loop, &hook->prepare);
    uv_prepare_start(&hook->prepare, OnPrepare);
    uv_unref(reinterpret_cast<uv_handle_t*>(&hook->prepare));
    hook->notifiedGeneration = fg_state()[FG_STATE_GENERATION];
    hook->started = true;
  }
  hook->onGeneration = Napi::Persistent(info[0].As<Napi::Function>());
  hook->onDrained = Napi::Persistent(info[1].As<Napi::Function>());
  return env.Undefined();
}

// Marks the current generation as announced to JS (fork() announces its own child synchronously).
Napi::Value MarkNotified(const Napi::CallbackInfo& info) {
  if (hook) hook->notifiedGeneration = fg_state()[FG_STATE_GENERATION];
  return info.Env().Undefined();
}

// In a fork() child: keep the loop running until nothing but us is alive, then end it ourselves.
Napi::Value WatchExit(const Napi::CallbackInfo& info) {
  if (!hook || !hook->started) return info.Env().Undefined();
  hook->watchExit = true;
  hook->stuckReqs = hook->loop->active_reqs.count;
  uv_ref(reinterpret_cast<uv_handle_t*>(&hook->prepare));
  return info.Env().Undefined();
}

Napi::Value ExitNow(const Napi::CallbackInfo& info) {
  int code = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
  // _exit, not exit: the threads that Node's exit path would join do not exist in a fork() child.
  _exit(code & 0xff);
}

Napi::Value DoFork(Napi::Env env, bool raw) {
  ForkTimes t;
  int err = 0;
  pid_t pid = ForkProcess(LoopOf(env), raw, &t, &err);
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, pid));
  out.Set("errno", Napi::Number::New(env, err));
  out.Set("scanNs", Napi::Number::New(env, double(t.scanNs)));
  out.Set("forkNs", Napi::Number::New(env, double(t.forkNs)));
  out.Set("restoreNs", Napi::Number::New(env, double(t.restoreNs)));
  out.Set("ranges", Napi::Number::New(env, double(t.ranges)));
  out.Set("adviseFailures", Napi::Number::New(env, t.adviseFailures));
  return out;
}

Napi::Value Fork(const Napi::CallbackInfo& info) { return DoFork(info.Env(), false); }
// Test-only: a fork that runs no atfork handler, as foreign native code might.
Napi::Value RawFork(const Napi::CallbackInfo& info) { return DoFork(info.Env(), true); }

// watchChild(pid, done): reaps pid when it exits and calls done(code, signal). Unref'd.
Napi::Value WatchChild(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  pid_t pid = info[0].As<Napi::Number>().Int32Value();
  ChildWatch* w = new ChildWatch();
  w->pid = pid;
  w->done = Napi::Persistent(info[1].As<Napi::Function>());
  w->pidfd = PidfdOpen(pid);
  uv_loop_t* loop = LoopOf(env);
  if (w->pidfd >= 0) {
    uv_poll_init(loop, &w->h.poll, w->pidfd);
    w->h.poll.data = w;
    uv_poll_start(&w->h.poll, UV_READABLE, OnPidfd);
  } else {
    uv_timer_init(loop, &w->h.timer);
    w->h.timer.data = w;
    uv_timer_start(&w->h.timer, OnReapTimer, 10, 10);
  }
  uv_unref(reinterpret_cast<uv_handle_t*>(&w->h));
  watches.push_back(w);
  return Napi::Boolean::New(env, w->pidfd >= 0);
}

ChildWatch* FindWatch(pid_t pid) {
  for (ChildWatch* w : watches)
    if (w->pid == pid) return w;
  return nullptr;
}

// refChild(pid, ref): a pending waitpid() keeps the loop alive, like a ChildProcess does.
Napi::Value RefChild(const Napi::CallbackInfo& info) {
  ChildWatch* w = FindWatch(info[0].As<Napi::Number>().Int32Value());
  if (w) {
    if (info[1].ToBoolean())
      uv_ref(reinterpret_cast<uv_handle_t*>(&w->h));
    else
      uv_unref(reinterpret_cast<uv_handle_t*>(&w->h));
  }
  return Napi::Boolean::New(info.Env(), w != nullptr);
}

// In a child: the parent's children are not ours to reap; drop their watches.
Napi::Value ForgetChildren(const Napi::CallbackInfo& info) {
  std::vector<ChildWatch*> copy = watches;
  for (ChildWatch* w : copy) {
    w->done.Reset();
    CloseWatch(w);
  }
  return Napi::Number::New(info.Env(), double(copy.size()));
}

Napi::Object Module(Napi::Env env, Napi::Object exports) {
  exports.Set("init", Napi::Function::New(env, Init));
  exports.Set("install", Napi::Function::New(env, Install));
  exports.Set("isInstalled", Napi::Function::New(env, IsInstalled));
  exports.Set("trackFd", Napi::Function::New(env, TrackFd));
  exports.Set("untrackFd", Napi::Function::New(env, UntrackFd));
  exports.Set("isTracked", Napi::Function::New(env, IsTracked));
  exports.Set("checkCanary", Napi::Function::New(env, CheckCanary));
  exports.Set("getpid", Napi::Function::New(env, GetPid));
  exports.Set("startHook", Napi::Function::New(env, StartHook));
  exports.Set("markNotified", Napi::Function::New(env, MarkNotified));
  exports.Set("watchExit", Napi::Function::New(env, WatchExit));
  exports.Set("exitNow", Napi::Function::New(env, ExitNow));
  exports.Set("fork", Napi::Function::New(env, Fork));
  exports.Set("rawForkForTest", Napi::Function::New(env, RawFork));
  exports.Set("watchChild", Napi::Function::New(env, WatchChild));
  exports.Set("refChild", Napi::Function::New(env, RefChild));
  exports.Set("forgetChildren", Napi::Function::New(env, ForgetChildren));
  exports.Set("supported", Napi::Boolean::New(env, true));
  return exports;
}

}  // namespace

NODE_API_MODULE(pg_forkguard, Module)
