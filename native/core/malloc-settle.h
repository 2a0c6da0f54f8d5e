/* Settling malloc's heap in a prefork master before it forks, after settleHeap 'flatten' asked V8
 * for every live object (src/prefork/flatten-strings.ts). V8's heap iteration mallocs a set of
 * every object it visits and a handle for each object found: 246 MB for bench/prefork-server.mjs's
 * 150 MB of state, freed when it returns but kept by glibc, with what stays in use (V8 keeps the
 * blocks of its global handles, 39 MB) scattered through it. Left so, it costs twice:
 *  - the free memory stays resident in the master, one more copy of the state's size;
 *  - its free chunks are where every worker's malloc lands next, and a worker's requests, allocating
 *    and freeing, walk through them, copying each page they touch: 70 MB a worker within minutes,
 *    against 5 MB when the master had not iterated its heap (bench/worker-memory.mjs).
 * fg_malloc_settle() first returns the free pages to the kernel (malloc_trim(0), which since glibc
 * 2.8 releases whole free pages inside the heap, not only at its top), then takes every free chunk
 * left out of malloc's reach for good by allocating it: a chunk whose pages were released stays
 * released (malloc writes only its header, on a page that was resident anyway), and a worker's
 * mallocs all come from fresh memory at the heap's top, as they did without the iteration.
 * glibc only; elsewhere nothing is done. Not signal-safe; never called from an atfork handler. */
#ifndef PG_FORKGUARD_MALLOC_SETTLE_H
#define PG_FORKGUARD_MALLOC_SETTLE_H

#include <stdint.h>

/* The bytes of free chunks taken out of reach, or -1 where the C library is not glibc. */
int64_t fg_malloc_settle(void);

#endif
