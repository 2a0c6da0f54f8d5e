/*
 * The sweep: in the child of pg-forkguard's own fork(), every inherited stream socket that is not
 * listening is neutralised like a tracked one (a dead socket dup2'd over it: no close, no byte, no
 * FIN), whichever library or native code opened it. The registry (core.c) covers the pools it was
 * told about; the sweep covers Redis, MySQL, HTTP keep-alive, a second Postgres driver and any
 * socket nobody registered.
 *
 * It runs only in the child of a fork() that armed it, never in the atfork handler of a fork made
 * by other code: child_process.spawn forks through glibc too, and its child still has to hand its
 * stdio socket pairs to the program it execs. Left alone: fds 0-2, listening sockets, datagram
 * sockets, sockets of other families (netlink, ...) and the fds the caller keeps.
 *
 * Async-signal-safe once armed (core.h's rules): stack memory, raw syscalls, no malloc, no locks.
 */
#ifndef PG_FORKGUARD_SWEEP_H
#define PG_FORKGUARD_SWEEP_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* From the JS thread, just before fork(2): the next child sweeps, keeping `keep` (at most
 * FG_KEEP_CAPACITY fds; more is FG_ERR_RANGE and nothing is armed). Returns FG_OK. */
int fg_sweep_arm(const int32_t* keep, uint32_t n);

/* In the parent right after fork(2) (and after a failed one): no child of a later fork by other
 * code sweeps. */
void fg_sweep_disarm(void);

int fg_sweep_armed(void);

/* In the child, from fg_on_new_process (after fg_neutralise_all): forgets an earlier sweep's record,
 * sweeps if armed, then disarms. `dead` is the dead socket; it and the tracked fds (already given
 * it) are skipped. Writes FG_STATE_SWEPT, FG_STATE_SWEEP_FAILED and FG_STATE_SWEEP_US. */
void fg_sweep_run(volatile uint32_t* state, int dead);

/* The fds the last sweep neutralised in this process, in fd order as /proc lists them (at most
 * FG_SWEPT_RECORD; *total says how many were neutralised in all). */
const int32_t* fg_swept(uint32_t* recorded, uint32_t* total);

#ifdef __cplusplus
}
#endif

#endif
