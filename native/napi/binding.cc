// The addon's exports, and nothing else: argument checks, JS values, and calling back into JS. What
// each export does lives in a file named after its job (core.c, loop-hook.cc, fork.cc, ...); this is
// the only file that includes napi.h, with test-exports.cc in the test build.
#include <napi.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <string>

#include "binding.h"
#include "../uv/child-watch.h"
#include "../uv/dns-probe.h"
#include "../uv/heap-limit.h"
#include "../uv/threadpool-size.h"
#include "../uv/fork.h"
#include "../uv/listener.h"
#include "../uv/swept-handles.h"
#include "../uv/loop-hook.h"
#include "../uv/threadpool.h"
#include "../uv/uv-private.h"

extern "C" {
#include "../core/adopt.h"
#include "../core/core.h"
#include "../core/malloc-settle.h"
#include "../core/heap-placement.h"
#include "../core/sweep.h"
}

namespace {

// fork()'s report (fork.h), read by JS through an ArrayBuffer over it that init() hands out.
double forkReport[FG_REPORT_SLOTS];

uv_loop_t* LoopOf(Napi::Env env) {
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  return loop;
}

// MakeCallback drains nextTicks and microtasks afterwards, as a libuv callback in Node would.
void CallJs(Napi::Env env, Napi::FunctionReference& fn, std::initializer_list<napi_value> args) {
  Napi::HandleScope scope(env);
  Napi::AsyncContext ctx(env, "pgforkguard");
  fn.MakeCallback(env.Global(), args, ctx);
}

int FdArg(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) return -1;
  return info[0].As<Napi::Number>().Int32Value();
}

Napi::Object Numbers(Napi::Env env, std::initializer_list<std::pair<const char*, double>> entries) {
  Napi::Object o = Napi::Object::New(env);
  for (const auto& e : entries) o.Set(e.first, Napi::Number::New(env, e.second));
  return o;
}

std::string VersionString(unsigned major, unsigned minor, unsigned patch) {
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

// init(): sets up the shared pages and hands JS every fact it needs from here, so that JS holds no
// copy of a slot number, an error code or a limit.
Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int rc = fg_core_init();
  Napi::Object out = Napi::Object::New(env);
  out.Set("rc", Napi::Number::New(env, rc));
  out.Set("errno", Napi::Number::New(env, rc == 0 ? 0 : errno));
#define FG_X_ENTRY(NAME, js, value) {#js, double(value)},
#define FG_X_CODE(NAME, js, value) {#js, double(FG_##NAME)},
#define FG_X_SLOT(NAME, js, value) {#js, double(FG_STATE_##NAME)},
#define FG_X_REPORT(NAME, js, value) {#js, double(FG_REPORT_##NAME)},
  out.Set("codes", Numbers(env, {FG_CODE_LIST(FG_X_CODE)}));
  out.Set("slots", Numbers(env, {FG_STATE_LIST(FG_X_SLOT){"canaryToken", FG_CANARY_TOKEN}}));
  out.Set("forkReport", Numbers(env, {FG_REPORT_LIST(FG_X_REPORT){"length", FG_REPORT_SLOTS}}));
  out.Set("limits", Numbers(env, {FG_LIMIT_LIST(FG_X_ENTRY)}));
#undef FG_X_ENTRY
#undef FG_X_CODE
#undef FG_X_SLOT
#undef FG_X_REPORT
  unsigned v = fg_uv_runtime_version();
  Napi::Object uv = Napi::Object::New(env);
  uv.Set("runtime", VersionString((v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff));
  uv.Set("headers", VersionString(UV_VERSION_MAJOR, UV_VERSION_MINOR, UV_VERSION_PATCH));
  uv.Set("known", std::to_string(FG_UV_KNOWN_MAJOR) + "." + std::to_string(FG_UV_KNOWN_MIN_MINOR) + " to " +
                      std::to_string(FG_UV_KNOWN_MAJOR) + "." + std::to_string(FG_UV_KNOWN_MAX_MINOR));
  uv.Set("layoutKnown", Napi::Boolean::New(env, fg_uv_layout_known()));
  out.Set("uv", uv);
  if (rc != FG_OK) return out;
  // JS reads generation, pid and canary straight from these pages: a load, not a call.
  out.Set("state", Napi::ArrayBuffer::New(env, const_cast<uint32_t*>(fg_state()), FG_STATE_SLOTS * sizeof(uint32_t)));
  out.Set("canary", Napi::ArrayBuffer::New(env, const_cast<uint32_t*>(fg_canary()), FG_CANARY_SLOTS * sizeof(uint32_t)));
  out.Set("canarySupported", Napi::Boolean::New(env, fg_canary_supported() != 0));
  out.Set("report", Napi::ArrayBuffer::New(env, forkReport, sizeof(forkReport)));
  return out;
}

Napi::Value Install(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fg_core_install()); }
Napi::Value IsInstalled(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), fg_core_installed() != 0); }
Napi::Value TrackFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fg_track(FdArg(info))); }
Napi::Value UntrackFd(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), fg_untrack(FdArg(info)) == FG_OK);
}
// neutraliseFd(fd): the dead socket over fd now (see fg_neutralise_fd). Returns 0 or a negative code.
Napi::Value NeutraliseFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fg_neutralise_fd(FdArg(info))); }

// sweptFds(): the inherited sockets this process's sweep neutralised (sweep.h), as an array of fds.
Napi::Value SweptFds(const Napi::CallbackInfo& info) {
  uint32_t recorded = 0, total = 0;
  const int32_t* fds = fg_swept(&recorded, &total);
  Napi::Array out = Napi::Array::New(info.Env(), recorded);
  for (uint32_t i = 0; i < recorded; i++) out.Set(i, Napi::Number::New(info.Env(), fds[i]));
  return out;
}

// refSweptHandles(on): on, refs the loop's unref'd handles on swept fds so that
// process._getActiveHandles() lists them, and returns how many handles have a swept fd; off, unrefs
// what it ref'd (swept-handles.h).
Napi::Value RefSweptHandles(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!(info.Length() > 0 && info[0].ToBoolean())) {
    fg_unref_swept_handles();
    return Napi::Number::New(env, 0);
  }
  uint32_t recorded = 0, total = 0;
  const int32_t* fds = fg_swept(&recorded, &total);
  return Napi::Number::New(env, fg_ref_swept_handles(LoopOf(env), fds, recorded));
}
Napi::Value IsTracked(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), fg_is_tracked(FdArg(info)) != 0);
}
Napi::Value CheckCanary(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), fg_check_canary() != 0); }
Napi::Value CheckPid(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), fg_check_pid() != 0); }
// dupFd(fd): a second descriptor for the same open socket (close-on-exec), or -errno. prefork()
// keeps one of each listening socket so that workers forked later can listen on it.
Napi::Value DupFd(const Napi::CallbackInfo& info) {
  int fd = fcntl(FdArg(info), F_DUPFD_CLOEXEC, 3);
  return Napi::Number::New(info.Env(), fd < 0 ? -errno : fd);
}

// socketPair(): two connected unix stream sockets, both close-on-exec: [a, b], or -errno. prefork()
// keeps one end for each worker and hands it the other: a control channel with no name, which no
// other process can find, open or write to.
// sdNotify(address, message): one datagram to systemd's notify socket (NOTIFY_SOCKET: a path, or
// "@name" for an abstract one), as sd_notify(3) sends it, without linking libsystemd. 0 or -errno.
// Native because Node has no unix datagram sockets.
Napi::Value SdNotify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string address = info[0].As<Napi::String>().Utf8Value();
  std::string message = info[1].As<Napi::String>().Utf8Value();
  struct sockaddr_un sa = {};
  sa.sun_family = AF_UNIX;
  if (address.empty() || address.size() >= sizeof(sa.sun_path) || (address[0] != '/' && address[0] != '@')) {
    return Napi::Number::New(env, -EINVAL);
  }
  memcpy(sa.sun_path, address.data(), address.size());
  if (address[0] == '@') sa.sun_path[0] = '\0';
  socklen_t len = socklen_t(offsetof(struct sockaddr_un, sun_path) + address.size());
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Napi::Number::New(env, -errno);
  ssize_t n = sendto(fd, message.data(), message.size(), MSG_NOSIGNAL, reinterpret_cast<struct sockaddr*>(&sa), len);
  int err = n < 0 ? errno : 0;
  close(fd);
  return Napi::Number::New(env, -err);
}

// setCloseOnExec(fd): the sockets systemd passes arrive without FD_CLOEXEC; sd_listen_fds(3) sets it
// so that programs the app execs do not hold them. 0 or -errno.
Napi::Value SetCloseOnExec(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) return Napi::Number::New(info.Env(), -errno);
  return Napi::Number::New(info.Env(), 0);
}

Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
#ifdef SOCK_CLOEXEC
  int rc = socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
#else
  int rc = socketpair(AF_UNIX, SOCK_STREAM, 0, fds);
  if (rc == 0) {
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
  }
#endif
  if (rc != 0) return Napi::Number::New(env, -errno);
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(uint32_t(0), Napi::Number::New(env, fds[0]));
  out.Set(uint32_t(1), Napi::Number::New(env, fds[1]));
  return out;
}

// keepSocketPath(fd): closing this process's listening unix socket over fd will not unlink its path
// (listener.h). 1 if it had a path, 0 if none, -1 if no pipe handle has that fd.
Napi::Value KeepSocketPath(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), fg_keep_socket_path(LoopOf(info.Env()), FdArg(info)));
}

// ---------------------------------------------------------------------------------------------
// The loop hook's callbacks into JS. One hook per process, started from the main thread only.
struct HookJs {
  napi_env env = nullptr;
  Napi::FunctionReference onGeneration;  // (generation, byPid) => void
  Napi::FunctionReference onDrained;     // (phase: 'beforeExit' | 'exit') => void
};
HookJs* hookJs = nullptr;

void HookOnGeneration(void*, uint32_t generation, bool byPid) {
  Napi::Env env(hookJs->env);
  Napi::HandleScope scope(env);
  CallJs(env, hookJs->onGeneration, {Napi::Number::New(env, generation), Napi::Boolean::New(env, byPid)});
}

void HookOnDrained(void*, bool exitPhase) {
  Napi::Env env(hookJs->env);
  Napi::HandleScope scope(env);
  CallJs(env, hookJs->onDrained, {Napi::String::New(env, exitPhase ? "exit" : "beforeExit")});
}

// startLoopHook(onGeneration, onDrained)
Napi::Value StartHook(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (hookJs == nullptr) hookJs = new HookJs();
  hookJs->env = env;
  hookJs->onGeneration = Napi::Persistent(info[0].As<Napi::Function>());
  hookJs->onDrained = Napi::Persistent(info[1].As<Napi::Function>());
  fg_hook_start(LoopOf(env), {HookOnGeneration, HookOnDrained, nullptr});
  return env.Undefined();
}

Napi::Value SetLoopPidCheck(const Napi::CallbackInfo& info) {
  fg_hook_set_pid_check(info.Length() > 0 && info[0].ToBoolean());
  return info.Env().Undefined();
}

Napi::Value WatchExit(const Napi::CallbackInfo& info) {
  fg_hook_watch_exit();
  return info.Env().Undefined();
}

Napi::Value ExitNow(const Napi::CallbackInfo& info) {
  int code = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
  // _exit, not exit: the threads that Node's exit path would join do not exist in a fork() child.
  _exit(code & 0xff);
}

// ---------------------------------------------------------------------------------------------
// fork(dnsInFlight, watch, keep) and the DNS probe it needs first.
pid_t SystemFork() { return fork(); }

Napi::Value Fork(const Napi::CallbackInfo& info) { return fg_binding_fork(info, SystemFork); }

// forkForAdoption(dnsInFlight, null, keep): fork() whose child the nearest child subreaper adopts
// (core/adopt.h): a prefork mold's. The pid goes to the report as fork()'s does; no watch, the
// child is not this process's.
Napi::Value ForkForAdoption(const Napi::CallbackInfo& info) { return fg_binding_fork(info, fg_fork_for_adoption); }

// childSubreaper(on), sendFd(sock, fd), recvFd(sock): core/adopt.h. 0, an fd, or -errno.
Napi::Value ChildSubreaper(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), fg_set_child_subreaper(info[0].ToBoolean() ? 1 : 0));
}
Napi::Value SendFd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), fg_send_fd(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value()));
}
Napi::Value RecvFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fg_recv_fd(FdArg(info))); }

// placeHeapTogether(): bytes reserved so that V8's next heap pages land together, or -errno
// (heap-placement.h).
Napi::Value PlaceHeapTogether(const Napi::CallbackInfo& info) {
  int64_t bytes = fg_place_heap_together();
  if (bytes > 0) {
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(info.Env(), &loop);
    if (loop) fg_heap_limit_watch(loop);
  }
  return Napi::Number::New(info.Env(), static_cast<double>(bytes));
}

// releaseHeapReservation(): gives heap placement's reservation back (prefork()'s master, once its
// first workers run); heapReserved(): the bytes held now.
Napi::Value ReleaseHeapReservation(const Napi::CallbackInfo& info) {
  fg_release_heap_reservation();
  return info.Env().Undefined();
}
Napi::Value HeapReserved(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(fg_heap_reserved()));
}

// threadpoolThreadsAlive(): how many of libuv's threadpool threads exist now, or -1 (threadpool-size.h).
Napi::Value ThreadpoolThreadsAlive(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), fg_threadpool_threads_alive());
}

// releaseThreadpool(): lets go now of the threads the last fork() holds parked (threadpool.h).
Napi::Value ReleaseThreadpool(const Napi::CallbackInfo& info) {
  fg_quiesce_release_held();
  return info.Env().Undefined();
}

// settleMalloc(): gives malloc's free pages back and takes its free chunks out of reach
// (malloc-settle.h): the bytes taken, or -1 where the C library is not glibc.
Napi::Value SettleMalloc(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(fg_malloc_settle()));
}

// ---------------------------------------------------------------------------------------------
// childWatch(done) → a handle with ref(bool) and close(), for the next fork(): made before it, and
// started by it in the parent (child-watch.h says why). done(pid, code, signal) once the child is
// reaped: code is its exit code (or -errno if waitpid failed), signal its number; the other null.
class ChildHandle : public Napi::ObjectWrap<ChildHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ChildWatch",
                       {InstanceMethod("ref", &ChildHandle::Ref), InstanceMethod("close", &ChildHandle::Close),
                        InstanceMethod("adopt", &ChildHandle::Adopt)});
  }
  explicit ChildHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ChildHandle>(info) {}
  ~ChildHandle() override {
    if (watch) fg_child_close(watch);
  }

  static void OnDone(void* data, pid_t child, FgChildEnd how, int value) {
    ChildHandle* self = static_cast<ChildHandle*>(data);
    self->watch = nullptr;  // closed by child-watch.cc before it called us
    if (self->done.IsEmpty()) return;
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    Napi::Value code = env.Null(), sig = env.Null();
    Napi::Value pid = Napi::Number::New(env, child);
    if (how == FG_CHILD_EXITED) code = Napi::Number::New(env, value);
    if (how == FG_CHILD_SIGNALED) sig = Napi::Number::New(env, value);
    if (how == FG_CHILD_WAIT_FAILED) code = Napi::Number::New(env, -value);
    Napi::FunctionReference done = std::move(self->done);
    CallJs(env, done, {pid, code, sig});
  }

  FgChildWatch* watch = nullptr;
  Napi::FunctionReference done;

 private:
  Napi::Value Ref(const Napi::CallbackInfo& info) {
    if (watch) fg_child_ref(watch, info.Length() > 0 && info[0].ToBoolean());
    return info.Env().Undefined();
  }
  // adopt(pid): watches a child this process did not fork (a prefork mold's, core/adopt.h).
  Napi::Value Adopt(const Napi::CallbackInfo& info) {
    if (watch) fg_child_watch_adopt(watch, info[0].As<Napi::Number>().Int32Value());
    return info.Env().Undefined();
  }
  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (watch) fg_child_close(watch);
    watch = nullptr;
    done.Reset();
    return info.Env().Undefined();
  }
};

Napi::Value ChildWatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::FunctionReference* ctor = env.GetInstanceData<Napi::FunctionReference>();
  Napi::Object handle = ctor->New({});
  ChildHandle* h = ChildHandle::Unwrap(handle);
  h->done = Napi::Persistent(info[0].As<Napi::Function>());
  h->watch = fg_child_watch_new(LoopOf(env), ChildHandle::OnDone, h);
  return handle;
}

Napi::Object Module(Napi::Env env, Napi::Object exports) {
  Napi::FunctionReference* ctor = new Napi::FunctionReference(Napi::Persistent(ChildHandle::Define(env)));
  env.SetInstanceData(ctor);
  exports.Set("init", Napi::Function::New(env, Init));
  exports.Set("install", Napi::Function::New(env, Install));
  exports.Set("isInstalled", Napi::Function::New(env, IsInstalled));
  exports.Set("trackFd", Napi::Function::New(env, TrackFd));
  exports.Set("untrackFd", Napi::Function::New(env, UntrackFd));
  exports.Set("neutraliseFd", Napi::Function::New(env, NeutraliseFd));
  exports.Set("isTracked", Napi::Function::New(env, IsTracked));
  exports.Set("sweptFds", Napi::Function::New(env, SweptFds));
  exports.Set("refSweptHandles", Napi::Function::New(env, RefSweptHandles));
  exports.Set("checkCanary", Napi::Function::New(env, CheckCanary));
  exports.Set("checkPid", Napi::Function::New(env, CheckPid));
  exports.Set("dupFd", Napi::Function::New(env, DupFd));
  exports.Set("socketPair", Napi::Function::New(env, SocketPair));
  exports.Set("sdNotify", Napi::Function::New(env, SdNotify));
  exports.Set("setCloseOnExec", Napi::Function::New(env, SetCloseOnExec));
  exports.Set("keepSocketPath", Napi::Function::New(env, KeepSocketPath));
  exports.Set("startLoopHook", Napi::Function::New(env, StartHook));
  exports.Set("setLoopPidCheck", Napi::Function::New(env, SetLoopPidCheck));
  exports.Set("watchExit", Napi::Function::New(env, WatchExit));
  exports.Set("exitNow", Napi::Function::New(env, ExitNow));
  exports.Set("fork", Napi::Function::New(env, Fork));
  exports.Set("forkForAdoption", Napi::Function::New(env, ForkForAdoption));
  exports.Set("childSubreaper", Napi::Function::New(env, ChildSubreaper));
  exports.Set("sendFd", Napi::Function::New(env, SendFd));
  exports.Set("recvFd", Napi::Function::New(env, RecvFd));
  exports.Set("placeHeapTogether", Napi::Function::New(env, PlaceHeapTogether));
  exports.Set("releaseHeapReservation", Napi::Function::New(env, ReleaseHeapReservation));
  exports.Set("heapReserved", Napi::Function::New(env, HeapReserved));
  exports.Set("releaseThreadpool", Napi::Function::New(env, ReleaseThreadpool));
  exports.Set("threadpoolThreadsAlive", Napi::Function::New(env, ThreadpoolThreadsAlive));
  exports.Set("childWatch", Napi::Function::New(env, ChildWatch));
  exports.Set("settleMalloc", Napi::Function::New(env, SettleMalloc));
  exports.Set("supported", Napi::Boolean::New(env, true));
#ifdef FG_TEST_BUILD
  fg_add_test_exports(env, exports);
#endif
  return exports;
}

}  // namespace

Napi::Value fg_binding_fork(const Napi::CallbackInfo& info, FgForkCall call) {
  Napi::Env env = info.Env();
  uv_loop_t* loop = LoopOf(env);
  unsigned dns = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Uint32Value() : 0;
  ChildHandle* child = info.Length() > 1 && info[1].IsObject() ? ChildHandle::Unwrap(info[1].As<Napi::Object>()) : nullptr;
  // keep: an Int32Array of the fds the child keeps (sweep.h), or null for no sweep at all. Read
  // before the fork: the typed array's memory is not written after it.
  FgSweep sweep = {nullptr, 0};
  bool sweeping = info.Length() > 2 && info[2].IsTypedArray();
  if (sweeping) {
    Napi::Int32Array keep = info[2].As<Napi::Int32Array>();
    sweep.keep = keep.Data();
    sweep.count = uint32_t(keep.ElementLength());
  }
  FgForkTimes t;
  int err = 0;
  pid_t pid = fg_fork_process(loop, dns, sweeping ? &sweep : nullptr, call, &t, &err);
  // In the parent from here, only memory already written since fork(2) or bound to be (fork.h): the
  // report, a watch made before the fork, and no return value.
  if (pid > 0 && child && child->watch) fg_child_watch_start(child->watch, pid);
  t.pid = pid;
  t.err = err;
#define FG_X_WRITE(NAME, js, field) forkReport[FG_REPORT_##NAME] = double(t.field);
  FG_REPORT_LIST(FG_X_WRITE)
#undef FG_X_WRITE
  return Napi::Value();
}

NODE_API_MODULE(pg_forkguard, Module)
