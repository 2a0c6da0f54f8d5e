/* Where V8's heap lands in a process that will fork.
 *
 * V8 asks for each 256 KB page of its heap at a random address (a hint to mmap, anywhere below
 * 64 TB), and the kernel honours a hint whose range is free, so every page sits alone: in its own
 * mapping, with its own page table (2 MB of address space) and usually its own page middle
 * directory (1 GB). At a 150 MB heap that is ~950 mappings and 7.5 MB of page tables for 240 MB of
 * memory, and fork(2) copies every one of those tables. A C program with 900 such pages: fork(2)
 * 50 ms scattered, 13 ms together; reading one word of each page then cost the child 22-37 ms
 * scattered and 6-9 ms together, a trap per table level (a VM that shadows page tables; on bare
 * metal the gap is smaller, but fork(2) still copies 15x the tables).
 *
 * fg_place_heap_together() covers the free part of the range V8's hints fall in with one PROT_NONE,
 * MAP_NORESERVE reservation (no memory, no commit charge, not dumped): a hint that lands there is
 * taken, so the kernel ignores it and places the page top-down below the shared libraries, next to
 * the page before. Pages V8 mapped before the call stay where they are. Called once, at import, in
 * a process that will fork (src/heap-placement.ts decides); not signal-safe (it reads
 * /proc/self/maps). Returns the bytes reserved, or -errno (nothing reserved: V8's placement stays,
 * which is only slower to fork). */
#ifndef PG_FORKGUARD_HEAP_PLACEMENT_H
#define PG_FORKGUARD_HEAP_PLACEMENT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

int64_t fg_place_heap_together(void);

/* The reservation costs no memory, but a limit on address space (RLIMIT_AS) counts it whole, so
 * it is held only where it pays and never against a limit: not made under one; given back in every
 * fork() child (its heap is placed already, and a child seldom forks), by prefork()'s master once its
 * first workers run, and at once when a supervisor lowers the limit on the running process (checked
 * around every poll of the loop: native/uv/heap-limit.h). Bytes held now; give them back. */
int64_t fg_heap_reserved(void);
void fg_release_heap_reservation(void);

#ifdef __cplusplus
}
#endif

#endif
