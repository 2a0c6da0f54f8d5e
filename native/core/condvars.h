/* Condition variables that other threads sleep on when the process forks. Their waiters do not
 * exist in the child, but glibc 2.25 to 2.40 still counts them (__g_refs): the child's first
 * pthread_cond_signal on such a condvar can wait forever for them to leave
 * (__condvar_quiesce_and_switch_g1). Node 26's V8 posts a job to the platform's worker threads at
 * every scavenge, --single-threaded or not, so its fork children hung in their first GCs.
 *
 * The parent finds these condvars just before fork(2), from the futex address each sleeping
 * thread shows in /proc/self/task/<tid>/syscall. It writes only what it has proven is a condvar:
 * every thread asleep on that word is inside glibc's pthread_cond_wait, _timedwait or _clockwait
 * (its program counter, or a return address on its stack, lies in their code), and the words
 * around it hold what those sleepers leave in glibc's layout. The child re-initialises them
 * before it runs anything else: no thread waits on them there, so a fresh condvar is exactly the
 * right state. Nothing depends on Node's or V8's ABI.
 *
 * fg_find_sleeping_condvars reads /proc (not signal-safe); fg_reset_sleeping_condvars only
 * stores to memory (signal-safe). Linux with glibc only; elsewhere both do nothing. */
#ifndef PG_FORKGUARD_CONDVARS_H
#define PG_FORKGUARD_CONDVARS_H

#ifdef __cplusplus
extern "C" {
#endif

/* In the parent, just before fork(2), on the thread that forks. Returns how many condvars it
 * found (they are remembered for the child), or -errno when nothing could be proven: /proc (or a
 * thread's syscall file) could not be read, or glibc's condvar waits could not be found. Then
 * nothing is repaired, and fork() warns (FORKGUARD_CONDVARS_UNCHECKED). The `nskip`
 * threads in `skip` are not read: fork()'s own parked threadpool threads, whose condvar no child
 * touches (threadpool.h). Each thread read costs ~25 us of /proc on a 2-core VM. */
int fg_find_sleeping_condvars(const long* skip, unsigned nskip);

/* In the child, first thing: re-initialises the condvars found. Returns how many. */
int fg_reset_sleeping_condvars(void);

#ifdef __cplusplus
}
#endif

#endif
