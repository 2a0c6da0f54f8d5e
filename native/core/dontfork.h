/* Finding and flipping the mappings Node marks MADV_DONTFORK (V8's heap among them): a child that
 * lacks them segfaults on its first JS instruction, so fork() lends them to the child (MADV_DOFORK
 * before the fork) and takes them back in the parent (MADV_DONTFORK after it). Not signal-safe (it
 * allocates); never called from an atfork handler.
 *
 * Which mappings carry the flag only /proc/self/smaps tells (VmFlags `dc`), and reading it walks
 * every page of every mapping: 36-40 ms at a 1 GB heap. /proc/self/maps costs a fraction of that,
 * so the flags of the last smaps scan are kept per mapping, and a later fork reads only maps:
 *  - a mapping whose maps line is unchanged (bounds, permissions, offset, file) keeps its flag;
 *  - a private anonymous mapping that is new or changed is lent and not taken back: its flag is
 *    unknown, and marking do-not-copy a mapping that was not (malloc's, say) would take it from the
 *    children of other code that forks, spawn's child before its exec among them. Left copyable it
 *    only costs such a fork the copy of its page table. The bytes left so are counted, and smaps is
 *    read again once they pass an eighth of the bytes the last scan found marked (16 MB at least);
 *  - every private anonymous mapping is lent, known or not, so a child never lacks one even if a
 *    mapping was replaced, between two forks, by one whose maps line reads the same with the other
 *    flag (the one thing a maps line cannot show). The most that can go wrong is the parent's flag
 *    on that mapping until the next scan.
 * madvise() applies to every mapping in a range and skips the holes between them (returning ENOMEM
 * for the holes), so each run of mappings with nothing else mapped between them is one call: V8's
 * 256 KB pages sit alone among holes, and 4 000 pages of a 1 GB heap are a few dozen calls, not
 * 4 000. What the scan works in (the maps texts, the lines, the ranges) is kept from fork to fork
 * in memory advised MADV_WIPEONFORK, which a fork neither copies nor write-protects: the fork after
 * writes it without a page fault per page (dontfork.c). The ranges handed out live there too: a
 * child sees them zeroed, and must not use the parent's. */
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

typedef struct {
  size_t marked;   /* mappings marked do-not-copy, as far as fork() knows */
  int reused;      /* 1: the flags came from an earlier smaps scan, not from reading smaps now */
  size_t vm_pages; /* the virtual size once the runs were made (fg_restore_marks); 0: it moved during
                    * the scan (its own buffers grew), or is unknown: restore mapping by mapping */
} fg_scan_info;

/* Fills `lend` (the runs to MADV_DOFORK before the fork), `restore` (the runs to MADV_DONTFORK
 * after it) and `exact` (the marked mappings one by one). Returns 0 or -errno. */
int fg_scan_dontfork(fg_ranges* restore, fg_ranges* exact, fg_ranges* lend, fg_scan_info* info);
/* After the fork, in the parent: MADV_DONTFORK over the runs, or, if the process's virtual size
 * changed since they were made (memory mapped or unmapped: by a thread other than the parked
 * threadpool, which may have put it in a hole of a run, where it must not be marked), over each
 * marked mapping on its own (*one_by_one = 1). Returns how many calls failed. */
int fg_restore_marks(const fg_ranges* restore, const fg_ranges* exact, const fg_scan_info* info, int* one_by_one);
/* madvise(MADV_DOFORK) (copy = 1) or madvise(MADV_DONTFORK) (copy = 0) over every range. Returns
 * how many calls failed (ENOMEM, for the holes inside a run, is not a failure). */
int fg_advise_ranges(const fg_ranges* r, int copy);
/* Unmaps a fg_ranges' memory. fork() keeps its own from one fork to the next and never calls it. */
void fg_ranges_free(fg_ranges* r);

#ifdef __cplusplus
}
#endif

#endif
