// The test build's extra exports (binding.gyp's pg_forkguard_test target, compiled with
// FG_TEST_BUILD): switches and ways to fork that no shipped addon has. The tests and benchmarks load
// it in place of the shipped addon through a test-only preload (test/support/test-addon.cjs);
// test/support/native-test.ts is their only user.
#include <napi.h>

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

}  // namespace

void fg_add_test_exports(Napi::Env env, Napi::Object exports) {
  exports.Set("fork", Napi::Function::New(env, TestFork));
  exports.Set("setNextFork", Napi::Function::New(env, SetNextFork));
  exports.Set("getpid", Napi::Function::New(env, GetPid));
  exports.Set("setTestFlags", Napi::Function::New(env, SetTestFlags));
  exports.Set("setRegistryLimit", Napi::Function::New(env, SetRegistryLimit));
  exports.Set("loopInfo", Napi::Function::New(env, LoopInfo));
  exports.Set("testBuild", Napi::Boolean::New(env, true));
}
