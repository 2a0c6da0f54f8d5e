// The loop hook: one prepare handle per process, run before every poll. It is where a new process
// is noticed before an inherited socket can report EOF, and where a fork() child notices that its
// loop has drained (Node's own end of loop would hang in DrainTasks there). It calls back into JS
// through the functions binding.cc gives it; this file knows nothing of Node-API.
#ifndef PG_FORKGUARD_LOOP_HOOK_H
#define PG_FORKGUARD_LOOP_HOOK_H

#include <stdint.h>
#include <uv.h>

struct FgLoopHookCallbacks {
  // The generation moved past the one JS announced (FG_STATE_ANNOUNCED); byPid: only debug mode's
  // getpid() saw the fork.
  void (*onGeneration)(void* data, uint32_t generation, bool byPid);
  // In a fork() child whose loop has nothing left but us: exitPhase false for 'beforeExit', true for
  // 'exit' (which must end the process through _exit; returning means it threw).
  void (*onDrained)(void* data, bool exitPhase);
  void* data;
};

// Starts the hook once (unref'd: it never keeps a process alive) and sets its callbacks.
void fg_hook_start(uv_loop_t* loop, FgLoopHookCallbacks callbacks);
// Debug mode: a real getpid() before every poll, so a fork that ran no handler and wiped no canary
// is still caught before the child reads a byte of the parent's sockets.
void fg_hook_set_pid_check(bool on);
// In a fork() child: keep the loop running until nothing but us is alive, then end it ourselves.
void fg_hook_watch_exit();
bool fg_hook_watching_exit();
// Threadpool requests inherited from the parent that never complete here (set by fork.cc).
void fg_hook_set_stuck_reqs(unsigned n);
unsigned fg_hook_stuck_reqs();

#endif
