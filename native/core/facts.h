/*
 * Every fact the addon and its JS share, defined once. C takes its enums and constants from these
 * lists; binding.cc hands each list to JS at init(), by name, as numbers; and the JS side's names
 * and types (src/seams/addon-facts.ts) are generated from this file by native/gen-facts.mjs, which
 * `npm run build:ts` runs (test/facts.test.ts fails if the generated file is stale). Adding a fork
 * report slot is one line here and one field in FgForkTimes (native/uv/fork.h).
 *
 * Each list is X(NAME, jsName, value): value is the constant's number where the number matters,
 * and unused where the list only orders slots. Plain C macros: no include, no code.
 */
#ifndef PG_FORKGUARD_FACTS_H
#define PG_FORKGUARD_FACTS_H

/* Slots of the shared state page that JS reads through a Uint32Array (FG_STATE_<NAME>). */
#define FG_STATE_LIST(X)                                                                           \
  X(GENERATION, generation, 0)   /* bumped in every child (atfork or canary) */                    \
  X(PID, pid, 0)                 /* the real pid, written in every child */                        \
  X(NEUTRALISED, neutralised, 0) /* fds neutralised in this process by the last child handler */   \
  X(FAILED, failed, 0)           /* fds that could not be neutralised (see fg_neutralise_all) */   \
  X(TRACKED, tracked, 0)         /* fds currently in the registry */                               \
  X(ANNOUNCED, announced, 0)     /* the generation JS has run its new-process work for (JS writes it) */ \
  X(SWEPT, swept, 0)             /* inherited sockets the last sweep neutralised (fg_sweep_arm) */  \
  X(SWEEP_FAILED, sweepFailed, 0) /* inherited sockets it could not neutralise */                    \
  X(SWEEP_US, sweepUs, 0)        /* how long that sweep took, in microseconds */

/* Results of fg_track, fg_untrack and fg_neutralise_fd (FG_<NAME>). */
#define FG_CODE_LIST(X)                                                                            \
  X(OK, ok, 0)                                                                                     \
  X(ERR_BAD_FD, badFd, -1)           /* fstat failed: not an open fd */                            \
  X(ERR_NOT_SOCKET, notSocket, -2)   /* open, but not a socket */                                  \
  X(ERR_FULL, full, -3)              /* FG_REGISTRY_CAPACITY reached */                            \
  X(ERR_RANGE, range, -4)            /* fd number at or beyond FG_FD_INDEX_LIMIT */                \
  X(ERR_NOT_TRACKED, notTracked, -5)                                                               \
  X(ERR_NO_DEAD_SOCKET, noDeadSocket, -6)

/* Limits (FG_<NAME>). The fd index is a flat array: fds at or beyond FD_INDEX_LIMIT (Linux's
 * default fs.nr_open) cannot be tracked, though a raised nr_open allows them (FG_ERR_RANGE). */
#define FG_LIMIT_LIST(X)                                                                           \
  X(REGISTRY_CAPACITY, registryCapacity, 65536)                                                    \
  X(FD_INDEX_LIMIT, fdIndexLimit, 1048576)                                                         \
  X(QUIESCE_TIMEOUT_MS, quiesceTimeoutMs, 5000) /* native/uv/threadpool.h */                     \
  X(KEEP_CAPACITY, keepCapacity, 4096)   /* fds one fork() can hand to its child (fg_sweep_arm) */  \
  X(SWEPT_RECORD, sweptRecord, 65536)    /* swept fds the child can list (fg_swept) */

/* Slots of fork()'s report (FG_REPORT_<NAME>), a Float64Array over static memory that the addon
 * writes at each fork. Here the third column is the FgForkTimes field (native/uv/fork.h) it comes from. */
#define FG_REPORT_LIST(X)                                                                          \
  X(PID, pid, pid)             /* the child's pid, 0 in the child, -1 on failure */                \
  X(ERRNO, errno, err)                                                                             \
  X(QUIESCE_NS, quiesceNs, quiesceNs)                                                              \
  X(SCAN_NS, scanNs, scanNs)                                                                       \
  X(FORK_NS, forkNs, forkNs)                                                                       \
  X(SYSCALL_NS, syscallNs, syscallNs)         /* fork(2) alone */                                  \
  X(SYSCALL_CPU_NS, syscallCpuNs, syscallCpuNs)  /* fork(2)'s CPU time, this thread's */           \
  X(RESTORE_NS, restoreNs, restoreNs)                                                              \
  X(RANGES, ranges, ranges)                                                                        \
  X(CALLS, calls, calls)                                                                           \
  X(ADVISE_FAILURES, adviseFailures, adviseFailures)                                               \
  X(LOST_REQS, lostReqs, lostReqs)                                                                 \
  X(CONDVARS, condvars, condvars)                                                                  \
  X(QUIESCED, quiesced, quiesced)                                                                  \
  X(QUIESCE_REUSED, quiesceReused, quiesceReused)                                                  \
  X(THREADPOOL_SIZE, threadpoolSize, threadpoolSize)  /* threads the quiesce parked or waited for */    \
  X(THREADPOOL_SIZE_FROM, threadpoolSizeFrom, threadpoolSizeFrom)  /* 1 names, 2 nthreads, 3 env */ \
  X(SCAN_REUSED, scanReused, scanReused)                                                           \
  X(RESTORE_ONE_BY_ONE, restoreOneByOne, restoreOneByOne)

#define FG_X_SLOT(NAME, js, value) FG_STATE_##NAME,
enum { FG_STATE_LIST(FG_X_SLOT) FG_STATE_USED };
#undef FG_X_SLOT
#define FG_X_CODE(NAME, js, value) FG_##NAME = (value),
enum { FG_CODE_LIST(FG_X_CODE) };
#undef FG_X_CODE
#define FG_X_LIMIT(NAME, js, value) FG_##NAME = (value),
enum { FG_LIMIT_LIST(FG_X_LIMIT) };
#undef FG_X_LIMIT
#define FG_X_REPORT(NAME, js, value) FG_REPORT_##NAME,
enum { FG_REPORT_LIST(FG_X_REPORT) FG_REPORT_SLOTS };
#undef FG_X_REPORT

/* The state page's size in slots (room to grow without moving the canary), and the canary page's
 * one slot (advised MADV_WIPEONFORK: the kernel zeroes it in every child). */
enum { FG_STATE_SLOTS = 16, FG_CANARY_TOKEN = 0, FG_CANARY_SLOTS = 16 };

#endif
