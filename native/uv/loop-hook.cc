#include "loop-hook.h"

#include <unistd.h>

#include "uv-private.h"

extern "C" {
#include "../core/core.h"
}

namespace {

struct LoopHook {
  uv_loop_t* loop = nullptr;
  uv_prepare_t prepare;
  FgLoopHookCallbacks callbacks = {nullptr, nullptr, nullptr};
  bool watchExit = false;
  bool checkPid = false;
  unsigned stuckReqs = 0;
  bool started = false;
};

LoopHook hook;

// Is anything besides our own prepare handle and the inherited, never-completing requests keeping
// the loop alive? Asks libuv itself rather than re-implementing its notion of alive.
bool LoopAliveBesidesUs() {
  uv_loop_t* loop = hook.loop;
  unsigned reqs = fg_uv_active_reqs(loop);
  if (reqs < hook.stuckReqs) hook.stuckReqs = reqs;  // some inherited ones did finish
  uv_handle_t* self = reinterpret_cast<uv_handle_t*>(&hook.prepare);
  bool wasRef = uv_has_ref(self);
  if (wasRef) uv_unref(self);
  if (reqs <= hook.stuckReqs) fg_uv_set_active_reqs(loop, 0);
  bool alive = uv_loop_alive(loop) != 0;
  fg_uv_set_active_reqs(loop, reqs);
  if (wasRef) uv_ref(self);
  return alive;
}

void OnPrepare(uv_prepare_t*) {
  bool byPid = hook.checkPid && fg_check_pid() == 1;
  fg_check_canary();
  volatile uint32_t* state = fg_state();
  uint32_t gen = state[FG_STATE_GENERATION];
  if (gen != state[FG_STATE_ANNOUNCED] && hook.callbacks.onGeneration) {
    hook.callbacks.onGeneration(hook.callbacks.data, gen, byPid);
  }
  if (!hook.watchExit || !hook.callbacks.onDrained) return;
  if (LoopAliveBesidesUs()) return;
  hook.callbacks.onDrained(hook.callbacks.data, false);
  if (LoopAliveBesidesUs()) return;  // a 'beforeExit' listener scheduled more work
  hook.callbacks.onDrained(hook.callbacks.data, true);
  // The 'exit' callback ends the process through _exit; reaching here means it threw.
  _exit(7);
}

}  // namespace

void fg_hook_start(uv_loop_t* loop, FgLoopHookCallbacks callbacks) {
  if (!hook.started) {
    hook.loop = loop;
    uv_prepare_init(loop, &hook.prepare);
    uv_prepare_start(&hook.prepare, OnPrepare);
    uv_unref(reinterpret_cast<uv_handle_t*>(&hook.prepare));
    hook.started = true;
  }
  hook.callbacks = callbacks;
}

void fg_hook_set_pid_check(bool on) { hook.checkPid = on; }

void fg_hook_watch_exit() {
  if (!hook.started) return;
  hook.watchExit = true;
  uv_ref(reinterpret_cast<uv_handle_t*>(&hook.prepare));
}

bool fg_hook_watching_exit() { return hook.watchExit; }
void fg_hook_set_stuck_reqs(unsigned n) { hook.stuckReqs = n; }
unsigned fg_hook_stuck_reqs() { return hook.stuckReqs; }
