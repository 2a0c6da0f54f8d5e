// What binding.cc shares with test-exports.cc (the test build's extra exports).
#ifndef PG_FORKGUARD_BINDING_H
#define PG_FORKGUARD_BINDING_H

#include <napi.h>

#include "fork.h"

// Forks through `call` and returns fork()'s result object ({ pid, errno, timings... }).
Napi::Value fg_binding_fork(Napi::Env env, unsigned dnsInFlight, FgForkCall call);

#ifdef FG_TEST_BUILD
void fg_add_test_exports(Napi::Env env, Napi::Object exports);
#endif

#endif
