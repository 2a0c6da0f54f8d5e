#define _GNU_SOURCE
#include "heap-placement.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))

/* V8's hints on 64-bit Linux: random addresses masked to 0x3FFFFFFFF000 (platform-posix.cc), so
 * below 64 TB. The first 64 GB stay open: the executable, brk's heap and anything wanting a low
 * address (code near a non-PIE binary) live there, and a hint lands there 1 time in 1 000. */
#define RANGE_LOW (UINT64_C(64) << 30)
#define RANGE_HIGH (UINT64_C(64) << 40)

/* The reservations made, so that they can be given back (fg_release_heap_reservation). Gaps beyond
 * this many are left unreserved: each is one mapping, and there are a few dozen. */
#define MAX_RANGES 256
static struct {
  uintptr_t start;
  size_t len;
} ranges[MAX_RANGES];
static unsigned nranges;

/* Reserves [start, end) if nothing is mapped there now. Returns the bytes reserved. */
static int64_t reserve(uintptr_t start, uintptr_t end) {
  if (nranges == MAX_RANGES) return 0;
  size_t len = end - start;
  void* p = mmap((void*)start, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
  if (p == MAP_FAILED) return 0; /* something was mapped there meanwhile: leave that gap */
  if ((uintptr_t)p != start) {   /* a kernel before 4.17 took the flag as a hint and put it elsewhere */
    munmap(p, len);
    return 0;
  }
#ifdef MADV_DONTDUMP
  (void)madvise(p, len, MADV_DONTDUMP);
#endif
  ranges[nranges].start = start;
  ranges[nranges].len = len;
  nranges++;
  return (int64_t)len;
}

int64_t fg_heap_reserved(void) {
  int64_t total = 0;
  for (unsigned i = 0; i < nranges; i++) total += (int64_t)ranges[i].len;
  return total;
}

/* munmap only: no allocation, no lock, so a fork child may call it before any JS runs. */
void fg_release_heap_reservation(void) {
  for (unsigned i = 0; i < nranges; i++) munmap((void*)ranges[i].start, ranges[i].len);
  nranges = 0;
}

int64_t fg_place_heap_together(void) {
  /* Only where user space reaches well above the range (47 or 48 bits, 128 or 256 TB): the stack
   * sits near its top, and mmap keeps 32 TB or more above the range. With less (a 39- or 42-bit
   * arm64 kernel) the range would take space mmap needs. */
  int probe;
  if ((uintptr_t)&probe < RANGE_HIGH + RANGE_HIGH / 2) return -ENOTSUP;
  /* A limit on address space (ulimit -v) counts a reservation as if it were memory: under one, the
   * gaps would eat the process's budget. */
  struct rlimit as;
  if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY) return -ENOMEM;
  FILE* maps = fopen("/proc/self/maps", "re");
  if (!maps) return -errno;
  /* The mappings come in address order: each gap between them inside the range is reserved as
   * soon as the mapping after it is read. */
  uintptr_t cursor = RANGE_LOW;
  unsigned long start, end;
  int64_t reserved = 0;
  while (fscanf(maps, "%lx-%lx%*[^\n]\n", &start, &end) == 2) {
    if (start > cursor && cursor < RANGE_HIGH) reserved += reserve(cursor, start < RANGE_HIGH ? start : RANGE_HIGH);
    if (end > cursor) cursor = end;
  }
  fclose(maps);
  if (cursor < RANGE_HIGH) reserved += reserve(cursor, RANGE_HIGH);
  return reserved;
}

#else

int64_t fg_place_heap_together(void) { return -ENOTSUP; }
int64_t fg_heap_reserved(void) { return 0; }
void fg_release_heap_reservation(void) {}

#endif
