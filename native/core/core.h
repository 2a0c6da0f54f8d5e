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

/* Slots of the shared state page that JS reads through a Uint32Array. */
enum {
  FG_STATE_GENERATION = 0,   /* bumped in every child (atfork or canary) */
  FG_STATE_PID = 1,          /* the real pid, written in every child */
  FG_STATE_NEUTRALISED = 2,  /* fds neutralised in this process by the last child handler */
  FG_STATE_FAILED = 3,       /* fds that could not be neutralised (see fg_neutralise_all) */
  FG_STATE_TRACKED = 4,      /* fds currently in the registry */
  FG_STATE_ANNOUNCED = 5,    /* the generation JS has run its new-process work for (JS writes it) */
  FG_STATE_SLOTS = 16
};

/* Slots of the canary page (advised MADV_WIPEONFORK: the kernel zeroes it in every child). */
enum {
  FG_CANARY_TOKEN = 0,
  FG_CANARY_SLOTS = 16
};

#define FG_REGISTRY_CAPACITY 65536
#define FG_FD_INDEX_LIMIT (1 << 20) /* Linux's default fs.nr_open: no fd can be larger */

/* Results of fg_track / fg_untrack. */
enum {
  FG_OK = 0,
  FG_ERR_BAD_FD = -1,       /* fstat failed: not an open fd */
  FG_ERR_NOT_SOCKET = -2,   /* open, but not a socket */
  FG_ERR_FULL = -3,         /* FG_REGISTRY_CAPACITY reached */
  FG_ERR_RANGE = -4,        /* fd number beyond FG_FD_INDEX_LIMIT */
  FG_ERR_NOT_TRACKED = -5,
  FG_ERR_NO_DEAD_SOCKET = -6,
  FG_ERR_NO_CANARY = -7     /* the OS cannot wipe a page on fork (no MADV_WIPEONFORK) */
};

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
uint32_t fg_tracked_count(void);
int fg_is_tracked(int fd);

/* Replaces every tracked fd whose identity still matches with the dead socket. Async-signal-safe.
 * Returns the number neutralised. */
int fg_neutralise_all(void);

/* Replaces one fd with the dead socket now, whether tracked or not: for a connection that reached
 * this process only after the fork (a connect that completed in the parent's threadpool, its
 * callback run here). Not for the atfork handler. Returns FG_OK or a negative FG_ERR_*. */
int fg_sever(int fd);

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
