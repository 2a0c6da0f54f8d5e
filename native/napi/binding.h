// What binding.cc shares with test-exports.cc (the test build's extra exports).
#ifndef PG_FORKGUARD_BINDING_H
#define PG_FORKGUARD_BINDING_H

#include <napi.h>

#include "../uv/fork.h"

// fork(dnsInFlight, watch) through `call`: leaves the pid (0 in the child, -1 on failure), errno
// and the timings in the report init() handed out (fork.h), returns nothing; starts `watch` (made
// by childWatch()) on the child, in the parent.
Napi::Value fg_binding_fork(const Napi::CallbackInfo& info, FgForkCall call);

#ifdef FG_TEST_BUILD
void fg_add_test_exports(Napi::Env env, Napi::Object exports);
#endif

#endif
