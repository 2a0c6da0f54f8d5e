#define _GNU_SOURCE
#include "dontfork.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int push(fg_ranges* r, uintptr_t start, uintptr_t end) {
  if (r->count == r->capacity) {
    size_t cap = r->capacity ? r->capacity * 2 : 64;
    fg_range* n = (fg_range*)realloc(r->ranges, cap * sizeof(fg_range));
    if (!n) return -ENOMEM;
    r->ranges = n;
    r->capacity = cap;
  }
  r->ranges[r->count].start = start;
  r->ranges[r->count].end = end;
  r->count++;
  return 0;
}

/* Handles one complete line of smaps. A mapping header looks like
 * "7f12a0000000-7f12a0021000 rw-p 00000000 00:00 0", its flags line like "VmFlags: rd wr mr dc". */
static int line(fg_ranges* out, const char* s, size_t n, uintptr_t* cur_start, uintptr_t* cur_end) {
  if (n > 8 && memcmp(s, "VmFlags:", 8) == 0) {
    size_t i;
    for (i = 8; i + 1 < n; i++) {
      if (s[i] == 'd' && s[i + 1] == 'c' && s[i - 1] == ' ' && (i + 2 == n || s[i + 2] == ' ')) {
        if (*cur_end > *cur_start) return push(out, *cur_start, *cur_end);
        return 0;
      }
    }
    return 0;
  }
  /* Header lines start with a hex digit; field lines ("Rss:", ...) with an upper-case letter. */
  if (n > 0 && ((s[0] >= '0' && s[0] <= '9') || (s[0] >= 'a' && s[0] <= 'f'))) {
    char* end;
    unsigned long long a = strtoull(s, &end, 16);
    if (*end == '-') {
      unsigned long long b = strtoull(end + 1, NULL, 16);
      *cur_start = (uintptr_t)a;
      *cur_end = (uintptr_t)b;
    }
  }
  return 0;
}

int fg_scan_dontfork(fg_ranges* out) {
  char buf[65536];
  size_t have = 0;
  uintptr_t cur_start = 0, cur_end = 0;
  int fd, rc = 0;
  out->count = 0;
  fd = open("/proc/self/smaps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  for (;;) {
    ssize_t got = read(fd, buf + have, sizeof(buf) - have);
    size_t start = 0, i;
    if (got < 0) {
      if (errno == EINTR) continue;
      rc = -errno;
      break;
    }
    if (got == 0) break;
    have += (size_t)got;
    for (i = 0; i < have; i++) {
      if (buf[i] != '\n') continue;
      rc = line(out, buf + start, i - start, &cur_start, &cur_end);
      if (rc) break;
      start = i + 1;
    }
    if (rc) break;
    memmove(buf, buf + start, have - start);
    have -= start;
  }
  close(fd);
  return rc;
}

int fg_advise_ranges(const fg_ranges* r, int copy) {
  size_t i;
  int failed = 0;
#if defined(MADV_DOFORK) && defined(MADV_DONTFORK)
  for (i = 0; i < r->count; i++) {
    if (madvise((void*)r->ranges[i].start, r->ranges[i].end - r->ranges[i].start,
                copy ? MADV_DOFORK : MADV_DONTFORK) != 0)
      failed++;
  }
#else
  (void)r;
  (void)copy;
  (void)i;
#endif
  return failed;
}

void fg_ranges_free(fg_ranges* r) {
  free(r->ranges);
  r->ranges = NULL;
  r->count = r->capacity = 0;
}
