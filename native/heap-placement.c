#define _GNU_SOURCE
#include "heap-placement.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))

/* V8's hints on 64-bit Linux: random addresses masked to 0x3FFFFFFFF000 (platform-posix.cc), so
 * below 64 TB. The first 64 GB stay open: the executable, brk's heap and anything wanting a low
 * address (code near a non-PIE binary) live there, and a hint lands there 1 time in 1 000. */
#define RANGE_LOW (UINT64_C(64) << 30)
#define RANGE_HIGH (UINT64_C(64) << 40)

/* Reserves [start, end) if nothing is mapped there now. Returns the bytes reserved. */
static int64_t reserve(uintptr_t start, uintptr_t end) {
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
  return (int64_t)len;
}

static int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
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
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  /* The mappings come in address order. Each gap between them inside the range is reserved once
   * the mapping after it is known; the lines are parsed as they stream past. */
  char buf[4096];
  uintptr_t cursor = RANGE_LOW, field = 0, start = 0;
  int in_bounds = 1, which = 0; /* 0: reading the start address, 1: the end */
  int64_t reserved = 0;
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) {
    for (ssize_t i = 0; i < n; i++) {
      char c = buf[i];
      if (c == '\n') {
        in_bounds = 1;
        which = 0;
        field = 0;
        continue;
      }
      if (!in_bounds) continue;
      int d = hex(c);
      if (d >= 0) {
        field = field * 16 + (uintptr_t)d;
        continue;
      }
      if (c == '-' && which == 0) {
        start = field;
        field = 0;
        which = 1;
        continue;
      }
      /* the end address is complete: [start, field) is mapped */
      in_bounds = 0;
      if (start > cursor && cursor < RANGE_HIGH) reserved += reserve(cursor, start < RANGE_HIGH ? start : RANGE_HIGH);
      if (field > cursor) cursor = field;
    }
  }
  int err = n < 0 ? errno : 0;
  close(fd);
  if (err) return reserved > 0 ? reserved : -err;
  if (cursor < RANGE_HIGH) reserved += reserve(cursor, RANGE_HIGH);
  return reserved;
}

#else

int64_t fg_place_heap_together(void) { return -ENOTSUP; }

#endif
