/* Reforking (src/prefork/mold.ts): a warm worker, the mold, forks new workers that must be the
 * master's children, not its own, so that the master supervises them exactly as the workers it forks
 * itself (waitpid, exit codes, signals) and they outlive the mold. Linux has no fork whose child
 * gets the caller's parent for a process with a loop to keep (clone's CLONE_PARENT skips glibc's
 * fork: its malloc and stdio locks, its cached tid), so the mold forks twice: glibc's fork(), with
 * every atfork handler, and in that single-threaded child _Fork(), which runs none (they have run)
 * and exits at once. The grandchild, orphaned, is adopted by the nearest child subreaper: the
 * master, which sets PR_SET_CHILD_SUBREAPER only while it waits for such a fork, so no other orphan
 * of its descendants is handed to it. Not signal-safe as a whole (it is fork() itself), never
 * called from an atfork handler. */
#ifndef PG_FORKGUARD_ADOPT_H
#define PG_FORKGUARD_ADOPT_H

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* fork() whose child is handed to the caller's nearest child subreaper: the child's pid in the
 * caller (the intermediate process already reaped), 0 in the child, -1 with errno set. */
pid_t fg_fork_for_adoption(void);

/* PR_SET_CHILD_SUBREAPER on (1) or off (0): 0 or -errno (-ENOTSUP where there is none). */
int fg_set_child_subreaper(int on);

/* One fd over a unix stream socket (SCM_RIGHTS, one byte of data, never blocking): 0 or -errno. */
int fg_send_fd(int sock, int fd);

/* The fd waiting on `sock`, close-on-exec: the fd, or -errno (-EAGAIN when none is there). */
int fg_recv_fd(int sock);

#ifdef __cplusplus
}
#endif

#endif
