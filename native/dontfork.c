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

static int scan_smaps(fg_ranges* out) {
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

/* Reads a whole /proc file into a malloc'd buffer. */
static int read_all(const char* path, char** out, size_t* len) {
  size_t cap = 1 << 16, n = 0;
  char* buf = (char*)malloc(cap);
  int fd;
  if (!buf) return -ENOMEM;
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    free(buf);
    return -errno;
  }
  for (;;) {
    ssize_t got;
    if (n == cap) {
      char* bigger = (char*)realloc(buf, cap * 2);
      if (!bigger) {
        free(buf);
        close(fd);
        return -ENOMEM;
      }
      buf = bigger;
      cap *= 2;
    }
    got = read(fd, buf + n, cap - n);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      int err = -errno;
      free(buf);
      close(fd);
      return err;
    }
    if (got == 0) break;
    n += (size_t)got;
  }
  close(fd);
  *out = buf;
  *len = n;
  return 0;
}

static int copy_ranges(const fg_ranges* from, fg_ranges* to) {
  size_t i;
  to->count = 0;
  for (i = 0; i < from->count; i++) {
    int rc = push(to, from->ranges[i].start, from->ranges[i].end);
    if (rc) return rc;
  }
  return 0;
}

/* The last full scan: its ranges, and /proc/self/maps as it read just before and after it. */
static fg_ranges cached;
static char* cached_maps;
static size_t cached_maps_len;

static int same(const char* a, size_t alen, const char* b, size_t blen) {
  return alen == blen && memcmp(a, b, alen) == 0;
}

/* The private anonymous mappings in a /proc/self/maps text: every mapping that could carry the
 * do-not-copy flag, as Node's are (no file, not the kernel's [vdso] and friends). */
static int anonymous_mappings(const char* maps, size_t len, fg_ranges* out) {
  const char* p = maps;
  const char* end = maps + len;
  out->count = 0;
  while (p < end) {
    const char* nl = memchr(p, '\n', (size_t)(end - p));
    const char* e = nl ? nl : end;
    char* q;
    unsigned long long a = strtoull(p, &q, 16), b, inode;
    int fields;
    const char* name;
    if (*q == '-') {
      b = strtoull(q + 1, &q, 16);
      /* " rw-p 00000000 00:00 0   [name]" */
      while (q < e && *q == ' ') q++;
      if (q + 4 <= e && q[3] == 'p') {
        for (fields = 0; fields < 3 && q < e; fields++) { /* perms, offset, dev */
          while (q < e && *q != ' ') q++;
          while (q < e && *q == ' ') q++;
        }
        inode = strtoull(q, &q, 10);
        name = q;
        while (name < e && *name == ' ') name++;
        if (inode == 0 && (name == e || strncmp(name, "[anon", 5) == 0)) {
          int rc = push(out, (uintptr_t)a, (uintptr_t)b);
          if (rc) return rc;
        }
      }
    }
    p = e + 1;
  }
  return 0;
}

int fg_scan_dontfork(fg_ranges* restore, fg_ranges* lend, int* reused) {
  char *maps = NULL, *after = NULL;
  size_t maps_len = 0, after_len = 0;
  int rc;
  *reused = 0;
  rc = read_all("/proc/self/maps", &maps, &maps_len);
  if (rc) return rc;
  if (cached_maps && same(maps, maps_len, cached_maps, cached_maps_len)) {
    /* Lend every mapping that could be marked, so that a child never lacks one the cache missed;
     * take back the ones the last scan saw marked. */
    size_t i;
    *reused = 1;
    rc = anonymous_mappings(maps, maps_len, lend);
    free(maps);
    for (i = 0; rc == 0 && i < cached.count; i++) rc = push(lend, cached.ranges[i].start, cached.ranges[i].end);
    return rc ? rc : copy_ranges(&cached, restore);
  }
  rc = scan_smaps(restore);
  if (rc == 0) rc = copy_ranges(restore, lend);
  /* Kept only if nothing was mapped or unmapped while smaps was read. */
  if (rc == 0 && read_all("/proc/self/maps", &after, &after_len) == 0 && same(maps, maps_len, after, after_len) &&
      copy_ranges(restore, &cached) == 0) {
    free(cached_maps);
    cached_maps = maps;
    cached_maps_len = maps_len;
    maps = NULL;
  }
  free(after);
  free(maps);
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
