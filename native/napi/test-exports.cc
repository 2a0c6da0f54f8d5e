// The test build's extra exports (binding.gyp's pg_forkguard_test target, compiled with
// FG_TEST_BUILD): switches and ways to fork that no shipped addon has. The tests and benchmarks load
// it in place of the shipped addon through a test-only preload (test/support/test-addon.cjs);
// test/support/native-test.ts is their only user.
#include <napi.h>

#include <pthread.h>
#include <string>
#include <sys/syscall.h>
#include <unistd.h>

#include "binding.h"
#include "../uv/dns-probe.h"
#include "../uv/threadpool.h"
#include "../uv/loop-hook.h"
#include "../uv/uv-private.h"

extern "C" {
#include "../core/core.h"
}

namespace {

// The real raw system call: no atfork handler at all, not even libuv's or glibc's own.
pid_t RawSyscallFork() {
#if defined(__linux__) && defined(SYS_fork)
  return pid_t(syscall(SYS_fork));
#elif defined(__linux__)
  return pid_t(syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0));
#else
  return fork();
#endif
}

// How the test build's fork export makes its next fork (then back to 'system'): the raw system call
// (no atfork handler at all, not even libuv's or glibc's own), or glibc's fork(3) with only
// pg-forkguard's child handler silenced (and, with ignoreCanary, the canary too), as foreign
// native code might fork. The JS fork() runs unchanged above it: the shipped addon has no switch.
enum class NextFork { System, Raw, Glibc };
NextFork nextFork = NextFork::System;
bool nextIgnoreCanary = false;

pid_t GlibcSilentFork() {
  fg_set_test_flags(1, nextIgnoreCanary ? 1 : 0);
  pid_t pid = fork();
  if (pid != 0) fg_set_test_flags(0, 0);  // the child keeps them until fg_on_new_process clears them
  return pid;
}

// fork(dnsInFlight, watch), replacing the shipped export in the test build.
Napi::Value TestFork(const Napi::CallbackInfo& info) {
  NextFork how = nextFork;
  nextFork = NextFork::System;
  if (how == NextFork::Raw) return fg_binding_fork(info, RawSyscallFork);
  if (how == NextFork::Glibc) return fg_binding_fork(info, GlibcSilentFork);
  return fg_binding_fork(info, []() -> pid_t { return fork(); });
}

// setNextFork(via: 'syscall' | 'glibc', ignoreCanary)
Napi::Value SetNextFork(const Napi::CallbackInfo& info) {
  std::string via = info[0].As<Napi::String>().Utf8Value();
  nextFork = via == "syscall" ? NextFork::Raw : NextFork::Glibc;
  nextIgnoreCanary = info[1].ToBoolean().Value();
  return info.Env().Undefined();
}

// getpid(): the real pid, by a call (bench/check-cost.mjs compares it with the state page's load).
Napi::Value GetPid(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), getpid()); }

// setTestFlags(suppressHandler, ignoreCanary): see fg_set_test_flags.
Napi::Value SetTestFlags(const Napi::CallbackInfo& info) {
  fg_set_test_flags(info[0].ToBoolean().Value() ? 1 : 0, info[1].ToBoolean().Value() ? 1 : 0);
  return info.Env().Undefined();
}

// startNativeThread(name): a thread as a native addon starts one, without Node knowing: it names
// itself and sleeps for good (test/threads.test.ts: fork() must count it from the kernel).
void* Sleeper(void*) {
  for (;;) pause();
  return nullptr;
}
Napi::Value StartNativeThread(const Napi::CallbackInfo& info) {
  static std::string name;
  name = info[0].As<Napi::String>().Utf8Value().substr(0, 15);
  pthread_t t;
  int rc = pthread_create(&t, nullptr, Sleeper, nullptr);
  if (rc == 0) {
#if defined(__linux__)
    pthread_setname_np(t, name.c_str());  // from here, so that it is named before this call returns
#endif
    pthread_detach(t);
  }
  return Napi::Number::New(info.Env(), rc);
}

// setRegistryLimit(n): a lower registry capacity (0: back to the real one).
Napi::Value SetRegistryLimit(const Napi::CallbackInfo& info) {
  fg_set_capacity_limit(info[0].As<Napi::Number>().Uint32Value());
  return info.Env().Undefined();
}

// loopInfo(): what keeps this loop alive.
Napi::Value LoopInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  Napi::Object out = Napi::Object::New(env);
  out.Set("activeHandles", Napi::Number::New(env, loop->active_handles));
  out.Set("activeReqs", Napi::Number::New(env, fg_uv_active_reqs(loop)));
  out.Set("stuckReqs", Napi::Number::New(env, fg_hook_stuck_reqs()));
  out.Set("watchExit", Napi::Boolean::New(env, fg_hook_watching_exit()));
  out.Set("probePending", Napi::Boolean::New(env, fg_dns_probe_pending()));
  out.Set("threadpoolHeld", Napi::Boolean::New(env, fg_quiesce_holding()));
  return out;
}

// ---------------------------------------------------------------------------------------------
// uvContract(done): every accessor of uv-private.h run on this live loop, each answered true (it
// did what its comment says), false, or with the fork test that exercises it where only a fork
// child can (a reinitialised mutex, forgotten registrations). done(results) once the requests it
// started have completed. test/uv-seam.test.ts checks that every accessor the header declares is
// answered: a new accessor with no check here fails there.
struct UvContract {
  uv_loop_t* loop = nullptr;
  Napi::FunctionReference done;
  Napi::ObjectReference results;
  int pending = 0;
  uv_fs_t stat;
  uv_getaddrinfo_t gai;
  uv_getnameinfo_t gni;
  uv_work_t work;
  uv_async_t async;
  uv_pipe_t pipe;
  bool workDoneRan = false, asyncRan = false;
  unsigned reqsBeforeWork = 0;
};
UvContract* contract = nullptr;

void Answer(const char* name, Napi::Value v) { contract->results.Value().Set(name, v); }
void Answer(const char* name, bool ok) { Answer(name, Napi::Boolean::New(contract->results.Env(), ok)); }

void ContractStep() {
  if (--contract->pending > 0) return;
  Napi::Env env = contract->results.Env();
  Napi::HandleScope scope(env);
  Answer("fg_uv_async_clear", !contract->asyncRan);  // cleared before delivery: never called
  Napi::Object results = contract->results.Value();
  Napi::FunctionReference done = std::move(contract->done);
  uv_close(reinterpret_cast<uv_handle_t*>(&contract->async), [](uv_handle_t*) {
    contract->results.Reset();
    delete contract;
    contract = nullptr;
  });
  Napi::AsyncContext ctx(env, "pgforkguard:uvContract");
  done.MakeCallback(env.Global(), {results}, ctx);
}

void ContractWorkDone(uv_work_t* req) {
  // In place of libuv's completion: it must uncount the request itself, as threadpool.cc's does.
  fg_uv_set_active_reqs(req->loop, fg_uv_active_reqs(req->loop) - 1);
  contract->workDoneRan = true;
  Napi::HandleScope scope(contract->results.Env());
  Answer("fg_uv_set_work_done", req == &contract->work);
  ContractStep();
}

Napi::Value UvContractExport(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (contract != nullptr) {
    Napi::Error::New(env, "uvContract() is already running").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  contract = new UvContract();
  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  contract->loop = loop;
  contract->done = Napi::Persistent(info[0].As<Napi::Function>());
  contract->results = Napi::Persistent(Napi::Object::New(env));
  const char* childOnly = "exercised in fork children: test/lifecycle.test.ts, test/survival.test.ts";

  Answer("fg_uv_runtime_version", fg_uv_runtime_version() == uv_version());
  Answer("fg_uv_layout_known", fg_uv_layout_known());

  // A request counted by the loop: an fs stat on the threadpool.
  unsigned before = fg_uv_active_reqs(loop);
  contract->pending++;
  uv_fs_stat(loop, &contract->stat, "/", [](uv_fs_t* r) {
    uv_fs_req_cleanup(r);
    ContractStep();
  });
  unsigned during = fg_uv_active_reqs(loop);
  Answer("fg_uv_active_reqs", during == before + 1);
  fg_uv_set_active_reqs(loop, during);
  Answer("fg_uv_set_active_reqs", fg_uv_active_reqs(loop) == during);

  // wq: completed work waiting for the loop, under wq_mutex.
  fg_uv_wq_lock(loop);
  unsigned completed = fg_uv_each_completed(loop, nullptr, nullptr);
  unsigned again = fg_uv_each_completed(loop, [](void* done, const void* w, void*) { (void)done; (void)w; }, nullptr);
  fg_uv_wq_unlock(loop);
  Answer("fg_uv_wq_lock", true);
  Answer("fg_uv_wq_unlock", true);
  Answer("fg_uv_each_completed", completed == again);
  fg_uv_wake_for_completed(loop);
  Answer("fg_uv_wake_for_completed", true);
  Answer("fg_uv_wq_reinit", Napi::String::New(env, childOnly));
  Answer("fg_uv_forget_registrations", Napi::String::New(env, childOnly));

  // DNS requests: their threadpool work and its completion are where dns-probe.cc looks.
  contract->pending++;
  uv_getaddrinfo(loop, &contract->gai, [](uv_getaddrinfo_t*, int, struct addrinfo* res) {
    uv_freeaddrinfo(res);
    ContractStep();
  }, "localhost", nullptr, nullptr);
  const char* gai = reinterpret_cast<const char*>(&contract->gai);
  const char* gaiWork = static_cast<const char*>(fg_uv_getaddrinfo_work(&contract->gai));
  Answer("fg_uv_getaddrinfo_done", fg_uv_getaddrinfo_done(&contract->gai) != nullptr);
  Answer("fg_uv_getaddrinfo_work", gaiWork > gai && gaiWork < gai + sizeof(uv_getaddrinfo_t));
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  contract->pending++;
  uv_getnameinfo(loop, &contract->gni, [](uv_getnameinfo_t*, int, const char*, const char*) { ContractStep(); },
                 reinterpret_cast<const struct sockaddr*>(&addr), 0);
  const char* gni = reinterpret_cast<const char*>(&contract->gni);
  const char* gniWork = static_cast<const char*>(fg_uv_getnameinfo_work(&contract->gni));
  Answer("fg_uv_getnameinfo_done", fg_uv_getnameinfo_done(&contract->gni) != nullptr);
  Answer("fg_uv_getnameinfo_work", gniWork > gni && gniWork < gni + sizeof(uv_getnameinfo_t));

  // A work request whose completion is ours.
  contract->pending++;
  uv_queue_work(loop, &contract->work, [](uv_work_t*) {}, nullptr);
  fg_uv_set_work_done<ContractWorkDone>(&contract->work);

  // An async handle: sent, it is pending; cleared, its callback never runs.
  uv_async_init(loop, &contract->async, [](uv_async_t*) { contract->asyncRan = true; });
  bool idle = !fg_uv_async_pending(&contract->async);
  uv_async_send(&contract->async);
  Answer("fg_uv_async_pending", idle && fg_uv_async_pending(&contract->async));
  fg_uv_async_clear(&contract->async);

  // A listening unix socket on a path: its path is known, and once forgotten, closing it leaves the
  // file (libuv unlinks it from within uv_close, so this is seen at once).
  std::string path = std::string(info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "") ;
  bool bound = !path.empty() && uv_pipe_init(loop, &contract->pipe, 0) == 0 &&
               uv_pipe_bind(&contract->pipe, path.c_str()) == 0;
  const char* known = bound ? fg_uv_pipe_path(&contract->pipe) : nullptr;
  Answer("fg_uv_pipe_path", known != nullptr && path == known);
  if (bound) {
    fg_uv_forget_pipe_path(&contract->pipe);
    contract->pending++;
    uv_close(reinterpret_cast<uv_handle_t*>(&contract->pipe), [](uv_handle_t*) { ContractStep(); });
    Answer("fg_uv_forget_pipe_path", fg_uv_pipe_path(&contract->pipe) == nullptr && access(path.c_str(), F_OK) == 0);
    unlink(path.c_str());
  } else {
    Answer("fg_uv_forget_pipe_path", false);
  }
  return env.Undefined();
}

}  // namespace

void fg_add_test_exports(Napi::Env env, Napi::Object exports) {
  exports.Set("fork", Napi::Function::New(env, TestFork));
  exports.Set("setNextFork", Napi::Function::New(env, SetNextFork));
  exports.Set("getpid", Napi::Function::New(env, GetPid));
  exports.Set("setTestFlags", Napi::Function::New(env, SetTestFlags));
  exports.Set("setRegistryLimit", Napi::Function::New(env, SetRegistryLimit));
  exports.Set("loopInfo", Napi::Function::New(env, LoopInfo));
  exports.Set("uvContract", Napi::Function::New(env, UvContractExport));
  exports.Set("startNativeThread", Napi::Function::New(env, StartNativeThread));
  exports.Set("testBuild", Napi::Boolean::New(env, true));
}
