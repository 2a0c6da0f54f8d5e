/* Finding and flipping the ranges Node marks MADV_DONTFORK (V8's heap among them): a child that
 * lacks them segfaults on its first JS instruction, so fork() lends them to the child and takes
 * them back in the parent. Not signal-safe (it allocates); never called from an atfork handler. */
#ifndef PG_FORKGUARD_DONTFORK_H
#define PG_FORKGUARD_DONTFORK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  uintptr_t start;
  uintptr_t end;
} fg_range;

typedef struct {
  fg_range* ranges;
  size_t count;
  size_t capacity;
} fg_ranges;

/* Reads /proc/self/smaps and collects every mapping whose VmFlags carry `dc`. Returns 0 or -errno. */
/* What fork() lends the child (`lend`: MADV_DOFORK before the fork) and takes back after it
 * (`restore`: MADV_DONTFORK again): the ranges whose VmFlags carry `dc` in /proc/self/smaps.
 * Reading smaps walks every mapping's pages (40 ms at a 1 GB heap); /proc/self/maps costs a
 * fraction of that. So the last scan is kept with the maps it was made against, and while
 * /proc/self/maps reads exactly the same (every mapping's bounds, permissions, offset, file),
 * `restore` is the last scan's ranges and `lend` is every private anonymous mapping (*reused = 1):
 * a child never lacks a mapping even if one was replaced, between two forks, by one that looks the
 * same with the other flag. The most that can go wrong then is the parent's flag on that one
 * mapping after the fork: a V8 page left copyable (spawn copies its page table), or a page that
 * took the place of a V8 one marked do-not-copy, until the maps next change and smaps is read. */
int fg_scan_dontfork(fg_ranges* restore, fg_ranges* lend, int* reused);
/* madvise(MADV_DOFORK) (copy = 1) or madvise(MADV_DONTFORK) (copy = 0) over every range. Returns
 * how many calls failed. */
int fg_advise_ranges(const fg_ranges* r, int copy);
void fg_ranges_free(fg_ranges* r);

#ifdef __cplusplus
}
#endif

#endif
