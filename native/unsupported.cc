// Windows has no fork(2): the package still installs and imports there, and every fork-related
// call throws ForkUnsupportedError (src/native.ts checks `supported`).
#include <napi.h>

static Napi::Object Module(Napi::Env env, Napi::Object exports) {
  exports.Set("supported", Napi::Boolean::New(env, false));
  return exports;
}

NODE_API_MODULE(pg_forkguard, Module)
