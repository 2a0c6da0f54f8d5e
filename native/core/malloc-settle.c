/* See malloc-settle.h. */
#include "malloc-settle.h"

/* <stdlib.h> defines __GLIBC__ where the C library is glibc. */
#include <stdlib.h>

#if defined(__GLIBC__)
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

/* The smallest request glibc serves (one 32-byte chunk on 64-bit). */
#define FG_PLUG_MIN 16

int64_t fg_malloc_settle(void) {
  malloc_trim(0);
  /* A request is served from a free chunk when one fits; otherwise from the top chunk, which
   * ends at the program break, or from a mapping of its own. Requests are made from 64 MiB down,
   * halving; at each size, as long as they land below the top chunk they took a free chunk (or
   * the front of one: the rest is taken at a smaller size). The blocks are never freed. */
  int64_t taken = 0;
  for (size_t size = (size_t)64 << 20; size >= FG_PLUG_MIN; size /= 2) {
    /* The main thread's arena is the program break's heap; keepcost is its top chunk's size. It
     * changes only when a request is served from the top chunk, which ends this size's round
     * (mallinfo2() walks every free chunk: not once per request). */
    uintptr_t top_start = (uintptr_t)sbrk(0) - mallinfo2().keepcost;
    for (;;) {
      char* p = malloc(size);
      if (p == NULL) return taken;
      if ((uintptr_t)p + size > top_start) {
        free(p); /* the top chunk or a mapping of its own (above the heap): no free chunk this size is left */
        break;
      }
      taken += (int64_t)malloc_usable_size(p);
    }
  }
  return taken;
}
#else
int64_t fg_malloc_settle(void) {
  return -1;
}
#endif
