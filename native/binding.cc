// N-API glue: argument checks, buffers, libuv handles and JS callbacks. The async-signal-safe part
// lives in core.c; this file is the only one that includes napi.h or uv.h.
#include <napi.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <vector>

extern "C" {
#include "condvars.h"
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
  // Debug mode: a real getpid() before every poll, so a fork that ran no handler and wiped no
  // canary is still caught before the child reads a byte of the parent's sockets.
  bool checkPid = false;
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
  bool byPid = hook->checkPid && fg_check_pid() == 1;
  fg_check_canary();
  uint32_t gen = fg_state()[FG_STATE_GENERATION];
  if (gen != hook->notifiedGeneration && !hook->onGeneration.IsEmpty()) {
    hook->notifiedGeneration = gen;
    Napi::Env env(hook->env);
    Napi::HandleScope scope(env);
    CallJs(hook->onGeneration, {Napi::Number::New(env, gen), Napi::Boolean::New(env, byPid)});
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

// Async handles sent but not yet delivered at the fork: `pending` set (maybe mid-send, with the
// busy counter raised, by a thread that is gone in the child), the wake-up byte in the parent's
// eventfd. uv_loop_fork() clears these flags without sending again, so the wake-up would be lost:
// a completed threadpool request whose callback never runs, a loop that never looks drained.
// Collected before uv_loop_fork, re-sent after it.
void CollectPendingAsync(uv_handle_t* h, void* arg) {
  if (h->type != UV_ASYNC || uv_is_closing(h)) return;
  uv_async_t* a = reinterpret_cast<uv_async_t*>(h);
  if (a->pending == 0 && h->u.fd == 0) return;
  static_cast<std::vector<uv_async_t*>*>(arg)->push_back(a);
}

void ResendAsync(uv_loop_t* loop, const std::vector<uv_async_t*>& pending) {
  for (uv_async_t* a : pending) {
    a->pending = 0;
    reinterpret_cast<uv_handle_t*>(a)->u.fd = 0;
    uv_async_send(a);
  }
  // Completed threadpool work waiting for the loop: make sure the loop hears of it.
  if (loop->wq.next != &loop->wq) uv_async_send(&loop->wq_async);
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
// Quiescing the threadpool. A fork while a threadpool thread is mid-task leaves the child with
// libuv's threadpool state as that thread left it: above all `slow_io_work_running`, which libuv
// never resets, so with two getaddrinfo calls running at fork time every dns lookup in the child
// waits forever (the spike's rare hang). So before forking, one blocking task is queued per
// threadpool thread and fork() waits until all of them run: then no libuv work is executing, no
// worker holds a libuv lock, and the child's threadpool starts clean. The parent releases them
// right after the fork; in the child they simply never existed on any thread.
struct Quiesce {
  uv_mutex_t mu;
  uv_cond_t cv;
  unsigned started = 0;
  unsigned finished = 0;
  unsigned n = 0;
  bool released = false;
  std::vector<uv_work_t> reqs;
};

unsigned ThreadpoolSize() {
  // The same rule libuv applies when it starts the pool.
  const char* v = getenv("UV_THREADPOOL_SIZE");
  long n = v ? strtol(v, nullptr, 10) : 4;
  if (n <= 0) n = 1;
  if (n > 1024) n = 1024;
  return unsigned(n);
}

void QuiesceWork(uv_work_t* req) {
  Quiesce* q = static_cast<Quiesce*>(req->data);
  uv_mutex_lock(&q->mu);
  q->started++;
  uv_cond_broadcast(&q->cv);
  while (!q->released) uv_cond_wait(&q->cv, &q->mu);
  uv_mutex_unlock(&q->mu);
}

void QuiesceDone(uv_work_t* req, int) {
  Quiesce* q = static_cast<Quiesce*>(req->data);
  if (++q->finished == q->n) {
    uv_mutex_destroy(&q->mu);
    uv_cond_destroy(&q->cv);
    delete q;
  }
}

// Threadpool work that is queued but not started at fork time is dropped in the child (libuv
// re-creates its queues there), so its requests stay active forever and must not keep the child
// alive. After quiescing, only slow I/O (getaddrinfo, getnameinfo) can still be queued: libuv runs
// at most half its threads on it and parks the rest of it behind our tasks. Those requests are
// counted from JS (ReqWraps in flight) minus the ones already completed and waiting in loop->wq
// (those are delivered in the child too). Completed DNS work is recognised by its `done`
// function, learnt once from a lookup of our own.
struct DnsProbe {
  uv_getaddrinfo_t gai;
  uv_getnameinfo_t gni;
  int pending = 0;
  bool gaiPending = false;
  bool gniPending = false;
};
DnsProbe* dnsProbe = nullptr;
void* gaiDone = nullptr;
void* gniDone = nullptr;

void MaybeFreeProbe() {
  if (dnsProbe && dnsProbe->pending == 0) {
    delete dnsProbe;
    dnsProbe = nullptr;
  }
}
void OnProbeGai(uv_getaddrinfo_t*, int, struct addrinfo* res) {
  uv_freeaddrinfo(res);
  dnsProbe->gaiPending = false;
  dnsProbe->pending--;
  MaybeFreeProbe();
}
void OnProbeGni(uv_getnameinfo_t*, int, const char*, const char*) {
  dnsProbe->gniPending = false;
  dnsProbe->pending--;
  MaybeFreeProbe();
}

void LearnDnsDone(uv_loop_t* loop) {
  if (gaiDone || dnsProbe) return;
  dnsProbe = new DnsProbe();
  if (uv_getaddrinfo(loop, &dnsProbe->gai, OnProbeGai, "localhost", nullptr, nullptr) == 0) {
    gaiDone = reinterpret_cast<void*>(dnsProbe->gai.work_req.done);
    dnsProbe->gaiPending = true;
    dnsProbe->pending++;
  }
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (uv_getnameinfo(loop, &dnsProbe->gni, OnProbeGni, reinterpret_cast<struct sockaddr*>(&sa), 0) == 0) {
    gniDone = reinterpret_cast<void*>(dnsProbe->gni.work_req.done);
    dnsProbe->gniPending = true;
    dnsProbe->pending++;
  }
  MaybeFreeProbe();
}

// Completed DNS work waiting in loop->wq, not counting our probe. Call with wq_mutex held.
unsigned CompletedDns(uv_loop_t* loop) {
  unsigned n = 0;
  for (struct uv__queue* q = loop->wq.next; q != &loop->wq; q = q->next) {
    struct uv__work* w = reinterpret_cast<struct uv__work*>(reinterpret_cast<char*>(q) - offsetof(struct uv__work, wq));
    void* done = reinterpret_cast<void*>(w->done);
    if (dnsProbe && (w == &dnsProbe->gai.work_req || w == &dnsProbe->gni.work_req)) continue;
    if (done != nullptr && (done == gaiDone || done == gniDone)) n++;
  }
  return n;
}

bool InLoopWq(uv_loop_t* loop, struct uv__work* w) {
  for (struct uv__queue* q = loop->wq.next; q != &loop->wq; q = q->next)
    if (q == &w->wq) return true;
  return false;
}

// Our own probe's requests that will never complete in a child forked now: still pending and not
// completed (in loop->wq). DNS is "slow I/O" work that libuv re-queues behind newer tasks, so a
// probe started by install() just before the first fork can still be waiting behind the parked
// tasks. Call with wq_mutex held. Without this, that child's loop never looked drained.
unsigned ProbeLost(uv_loop_t* loop, bool* gaiLost, bool* gniLost) {
  *gaiLost = dnsProbe && dnsProbe->gaiPending && !InLoopWq(loop, &dnsProbe->gai.work_req);
  *gniLost = dnsProbe && dnsProbe->gniPending && !InLoopWq(loop, &dnsProbe->gni.work_req);
  return unsigned(*gaiLost) + unsigned(*gniLost);
}

// Parks one task on every threadpool thread, waiting at most timeoutMs; *complete says whether all
// of them got a thread. The caller releases them with ReleaseThreadpool.
Quiesce* QuiesceThreadpool(uv_loop_t* loop, uint64_t timeoutMs, bool* complete) {
  Quiesce* q = new Quiesce();
  q->n = ThreadpoolSize();
  q->reqs.resize(q->n);
  uv_mutex_init(&q->mu);
  uv_cond_init(&q->cv);
  for (unsigned i = 0; i < q->n; i++) {
    q->reqs[i].data = q;
    uv_queue_work(loop, &q->reqs[i], QuiesceWork, QuiesceDone);
  }
  uint64_t deadline = NowNs() + timeoutMs * 1000000ull;
  uv_mutex_lock(&q->mu);
  while (q->started < q->n) {
    uint64_t now = NowNs();
    if (now >= deadline) break;
    uv_cond_timedwait(&q->cv, &q->mu, deadline - now);
  }
  *complete = q->started == q->n;
  uv_mutex_unlock(&q->mu);
  return q;
}

void ReleaseThreadpool(Quiesce* q) {
  uv_mutex_lock(&q->mu);
  q->released = true;
  uv_cond_broadcast(&q->cv);
  uv_mutex_unlock(&q->mu);
}

// ---------------------------------------------------------------------------------------------
// fork() itself.
struct ForkTimes {
  uint64_t scanNs = 0, forkNs = 0, restoreNs = 0, quiesceNs = 0;
  unsigned lostReqs = 0;
  size_t ranges = 0;
  int adviseFailures = 0;
  int condvars = 0;  // condvars other threads slept on, re-initialised in the child
  bool quiesced = false;
};

pid_t ForkProcess(uv_loop_t* loop, bool raw, uint64_t quiesceTimeoutMs, unsigned dnsInFlight, ForkTimes* t,
                  int* err) {
  fg_ranges ranges = {nullptr, 0, 0};
  uint64_t tq = NowNs();
  bool complete = false;
  Quiesce* q = QuiesceThreadpool(loop, quiesceTimeoutMs, &complete);
  t->quiesced = complete;
  uint64_t t0 = NowNs();
  t->quiesceNs = t0 - tq;
  int rc = fg_scan_dontfork(&ranges);
#ifdef __linux__
  if (rc != 0) {
    ReleaseThreadpool(q);
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
  // Last before the fork: which condvars do other threads sleep on (see condvars.h)?
  t->condvars = fg_find_sleeping_condvars();
  // A threadpool thread finishing work takes wq_mutex and sends wq_async inside it. Holding it
  // across the fork means no such send is half done in the child (the spike's rare hang).
  uv_mutex_lock(&loop->wq_mutex);
  unsigned completedDns = CompletedDns(loop);
  bool gaiLost = false, gniLost = false;
  unsigned probeLost = ProbeLost(loop, &gaiLost, &gniLost);
  unsigned lost = dnsInFlight > completedDns ? dnsInFlight - completedDns : 0;
  if (!complete) lost += q->n - q->started;  // threads still busy: their task is lost as well
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
    // The child. Memory is ours now; the mutex's owner does not exist here, nor do the sleepers
    // of the condvars found above.
    fg_reset_sleeping_condvars();
    uv_mutex_init(&loop->wq_mutex);
    fg_ranges_free(&ranges);
    // The parking tasks ran on threads this process does not have: they will never complete.
    loop->active_reqs.count -= q->n;
    // So are the probe's requests that had not completed: they are ours, drop them outright.
    loop->active_reqs.count -= probeLost;
    if (gaiLost) dnsProbe->gaiPending = false;
    if (gniLost) dnsProbe->gniPending = false;
    if (dnsProbe) dnsProbe->pending -= int(probeLost);
    std::vector<uv_async_t*> pendingAsync;  // the child is single-threaded: allocating is fine
    uv_walk(loop, CollectPendingAsync, &pendingAsync);
    int lf = uv_loop_fork(loop);
    if (lf != 0) {
      // A child whose loop cannot be re-armed must not run JS: say why and leave.
      static const char msg[] = "pg-forkguard: uv_loop_fork failed in the child; exiting with code 70\n";
      ssize_t ignored = write(2, msg, sizeof(msg) - 1);
      (void)ignored;
      _exit(70);
    }
    ResendAsync(loop, pendingAsync);
    if (hook) hook->stuckReqs = lost;
    t->lostReqs = lost;
    return 0;
  }
  uv_mutex_unlock(&loop->wq_mutex);
  ReleaseThreadpool(q);
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

// severFd(fd): the dead socket over fd now (see fg_sever). Returns 0 or a negative FG_ERR_*.
Napi::Value SeverFd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), fg_sever(FdArg(info)));
}

Napi::Value IsTracked(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), fg_is_tracked(FdArg(info)) != 0);
}

Napi::Value SetRegistryLimitForTest(const Napi::CallbackInfo& info) {
  fg_set_capacity_limit(info[0].As<Napi::Number>().Uint32Value());
  return info.Env().Undefined();
}

Napi::Value CheckCanary(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), fg_check_canary() != 0);
}

// setTestFlags(suppressHandler, ignoreCanary): test-only, see fg_set_test_flags.
Napi::Value SetTestFlags(const Napi::CallbackInfo& info) {
  fg_set_test_flags(info[0].ToBoolean().Value() ? 1 : 0, info[1].ToBoolean().Value() ? 1 : 0);
  return info.Env().Undefined();
}

Napi::Value CheckPid(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), fg_check_pid() != 0);
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

// setLoopPidCheck(on): debug mode's getpid() before every poll (see LoopHook::checkPid).
Napi::Value SetLoopPidCheck(const Napi::CallbackInfo& info) {
  if (hook) hook->checkPid = info.Length() > 0 && info[0].ToBoolean();
  return info.Env().Undefined();
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
  uv_ref(reinterpret_cast<uv_handle_t*>(&hook->prepare));
  return info.Env().Undefined();
}

// For diagnostics and tests: what keeps this loop alive.
Napi::Value LoopInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uv_loop_t* loop = LoopOf(env);
  Napi::Object out = Napi::Object::New(env);
  out.Set("activeHandles", Napi::Number::New(env, loop->active_handles));
  out.Set("activeReqs", Napi::Number::New(env, loop->active_reqs.count));
  out.Set("stuckReqs", Napi::Number::New(env, hook ? hook->stuckReqs : 0));
  out.Set("watchExit", Napi::Boolean::New(env, hook && hook->watchExit));
  out.Set("probeGai", Napi::Boolean::New(env, dnsProbe && dnsProbe->gaiPending));
  out.Set("probeGni", Napi::Boolean::New(env, dnsProbe && dnsProbe->gniPending));
  unsigned wq = 0;
  for (struct uv__queue* q = loop->wq.next; q != &loop->wq; q = q->next) wq++;
  out.Set("wqDone", Napi::Number::New(env, wq));
  return out;
}

Napi::Value ExitNow(const Napi::CallbackInfo& info) {
  int code = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
  // _exit, not exit: the threads that Node's exit path would join do not exist in a fork() child.
  _exit(code & 0xff);
}

Napi::Value DoFork(Napi::Env env, bool raw, uint64_t quiesceTimeoutMs, unsigned dnsInFlight) {
  ForkTimes t;
  int err = 0;
  pid_t pid = ForkProcess(LoopOf(env), raw, quiesceTimeoutMs, dnsInFlight, &t, &err);
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, pid));
  out.Set("errno", Napi::Number::New(env, err));
  out.Set("scanNs", Napi::Number::New(env, double(t.scanNs)));
  out.Set("forkNs", Napi::Number::New(env, double(t.forkNs)));
  out.Set("restoreNs", Napi::Number::New(env, double(t.restoreNs)));
  out.Set("ranges", Napi::Number::New(env, double(t.ranges)));
  out.Set("adviseFailures", Napi::Number::New(env, t.adviseFailures));
  out.Set("quiesceNs", Napi::Number::New(env, double(t.quiesceNs)));
  out.Set("quiesced", Napi::Boolean::New(env, t.quiesced));
  out.Set("lostReqs", Napi::Number::New(env, t.lostReqs));
  out.Set("condvars", Napi::Number::New(env, t.condvars));
  return out;
}

uint64_t TimeoutArg(const Napi::CallbackInfo& info) {
  if (info.Length() > 0 && info[0].IsNumber()) return uint64_t(info[0].As<Napi::Number>().Int64Value());
  return 5000;
}

unsigned DnsArg(const Napi::CallbackInfo& info) {
  if (info.Length() > 1 && info[1].IsNumber()) return info[1].As<Napi::Number>().Uint32Value();
  return 0;
}

// fork(quiesceTimeoutMs, dnsRequestsInFlight)
Napi::Value Fork(const Napi::CallbackInfo& info) {
  return DoFork(info.Env(), false, TimeoutArg(info), DnsArg(info));
}
// Test-only: a fork that runs no atfork handler, as foreign native code might.
Napi::Value RawFork(const Napi::CallbackInfo& info) {
  return DoFork(info.Env(), true, TimeoutArg(info), DnsArg(info));
}

// Learns how libuv marks completed DNS work (see CompletedDns). Called by the first fork() (src/fork.ts).
Napi::Value PrepareFork(const Napi::CallbackInfo& info) {
  LearnDnsDone(LoopOf(info.Env()));
  return Napi::Boolean::New(info.Env(), gaiDone != nullptr);
}

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
  exports.Set("severFd", Napi::Function::New(env, SeverFd));
  exports.Set("isTracked", Napi::Function::New(env, IsTracked));
  exports.Set("setRegistryLimitForTest", Napi::Function::New(env, SetRegistryLimitForTest));
  exports.Set("checkCanary", Napi::Function::New(env, CheckCanary));
  exports.Set("setTestFlags", Napi::Function::New(env, SetTestFlags));
  exports.Set("checkPid", Napi::Function::New(env, CheckPid));
  exports.Set("getpid", Napi::Function::New(env, GetPid));
  exports.Set("startHook", Napi::Function::New(env, StartHook));
  exports.Set("markNotified", Napi::Function::New(env, MarkNotified));
  exports.Set("setLoopPidCheck", Napi::Function::New(env, SetLoopPidCheck));
  exports.Set("watchExit", Napi::Function::New(env, WatchExit));
  exports.Set("loopInfo", Napi::Function::New(env, LoopInfo));
  exports.Set("exitNow", Napi::Function::New(env, ExitNow));
  exports.Set("fork", Napi::Function::New(env, Fork));
  exports.Set("prepareFork", Napi::Function::New(env, PrepareFork));
  exports.Set("rawForkForTest", Napi::Function::New(env, RawFork));
  exports.Set("watchChild", Napi::Function::New(env, WatchChild));
  exports.Set("refChild", Napi::Function::New(env, RefChild));
  exports.Set("forgetChildren", Napi::Function::New(env, ForgetChildren));
  exports.Set("supported", Napi::Boolean::New(env, true));
  return exports;
}

}  // namespace

NODE_API_MODULE(pg_forkguard, Module)
