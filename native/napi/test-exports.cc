// The test build's extra exports (binding.gyp's pg_forkguard_test target, compiled with
// FG_TEST_BUILD): switches and a fork that no shipped addon has. Loaded by the tests and benchmarks
// through PG_FORKGUARD_ADDON; test/support/native-test.ts is their only user.
#include <napi.h>

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

// rawFork(dnsInFlight, watch): fork() through the raw system call, as foreign native code might.
Napi::Value RawFork(const Napi::CallbackInfo& info) { return fg_binding_fork(info, RawSyscallFork); }

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
  exports.Set("rawFork", Napi::Function::New(env, RawFork));
  exports.Set("setTestFlags", Napi::Function::New(env, SetTestFlags));
  exports.Set("setRegistryLimit", Napi::Function::New(env, SetRegistryLimit));
  exports.Set("loopInfo", Napi::Function::New(env, LoopInfo));
  exports.Set("testBuild", Napi::Boolean::New(env, true));
}
