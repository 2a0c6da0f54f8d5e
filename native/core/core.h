/*
 * The async-signal-safe core of pg-forkguard.
 *
 * Everything in core.c may run inside a pthread_atfork child handler, i.e. in a process that has
 * one thread and whatever locks the other threads held at fork time. So: no malloc, no locks, no
 * stdio, no C++ (no exceptions), only the syscalls POSIX lists as async-signal-safe. This header
 * deliberately includes nothing from Node-API; binding.cc is the only file that translates.
 */
#ifndef PG_FORKGUARD_CORE_H
#define PG_FORKGUARD_CORE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The state page's slots, the result codes and the limits: facts.h. */
#include "facts.h"

/* One-time set-up (not signal-safe, call from JS thread): maps the state and canary pages and
 * creates the dead socket. Returns FG_OK or a negative FG_ERR_*; errno explains system failures.
 * Idempotent. */
int fg_core_init(void);

/* Arms the pthread_atfork child handler. Returns 1 for the call that armed it, 0 after. */
int fg_core_install(void);
int fg_core_installed(void);

volatile uint32_t* fg_state(void);
volatile uint32_t* fg_canary(void);
int fg_canary_supported(void);

int fg_track(int fd);
int fg_untrack(int fd);
int fg_is_tracked(int fd);

/* Replaces every tracked fd whose identity still matches with the dead socket. Async-signal-safe.
 * Returns the number neutralised. */
int fg_neutralise_all(void);

/* Replaces one fd with the dead socket now, whether tracked or not: for a connection that reached
 * this process only after the fork (a connect that completed in the parent's threadpool, its
 * callback run here). Not for the atfork handler. Returns FG_OK or a negative FG_ERR_*. */
int fg_neutralise_fd(int fd);

/* What a new process runs first: neutralise, store the real pid, bump the generation, re-arm the
 * canary. Async-signal-safe. */
void fg_on_new_process(void);

/* Checks the canary; if the kernel wiped it (a fork that ran no atfork handler), runs
 * fg_on_new_process. Returns 1 when it did. */
int fg_check_canary(void);

/* The debug-mode check: if getpid() is not the pid the state page holds, a fork ran no handler and
 * wiped no canary (no MADV_WIPEONFORK here): handle it as a new process now. 1 if it did. */
int fg_check_pid(void);

#ifdef FG_TEST_BUILD
/* The test build only (binding.gyp's pg_forkguard_test target): a lower registry capacity, so that
 * a test can fill it without 65536 sockets; a child handler that does nothing and a canary nobody
 * looks at, as after a fork by foreign code (both cleared by fg_on_new_process). */
void fg_set_capacity_limit(uint32_t limit);
void fg_set_test_flags(int suppress_handler, int ignore_canary);
#endif

#ifdef __cplusplus
}
#endif

#endif
