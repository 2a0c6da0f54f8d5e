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
int fg_scan_dontfork(fg_ranges* out);
/* madvise(MADV_DOFORK) (copy = 1) or madvise(MADV_DONTFORK) (copy = 0) over every range. Returns
 * how many calls failed. */
int fg_advise_ranges(const fg_ranges* r, int copy);
void fg_ranges_free(fg_ranges* r);

#ifdef __cplusplus
}
#endif

#endif
