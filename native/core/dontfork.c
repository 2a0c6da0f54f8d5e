#define _GNU_SOURCE
#include "dontfork.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* fork()'s working memory (the maps texts, the parsed lines, the ranges), kept from one fork to the
 * next and advised MADV_WIPEONFORK: a fork neither copies it to the child nor write-protects it in
 * the parent. Ordinary memory would be both, and the next fork's first write to each of its pages
 * would take a page fault: ~200 pages at a 1 GB heap, 13-24 us each on a paravirtualised VM (3-4 ms
 * of that fork), 0.5-1 us on bare metal. A child sees it zeroed, and forgets the state it held
 * (fg_scan_dontfork checks the owner's pid). Before Linux 4.14 the advice fails and this is
 * ordinary memory, as malloc's was. */
static void* scratch_map(size_t bytes) {
  void* p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
#ifdef MADV_WIPEONFORK
  (void)madvise(p, bytes, MADV_WIPEONFORK);
#endif
  return p;
}

static size_t page_round(size_t bytes) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  return (bytes + page - 1) / page * page;
}

/* Makes room for `need` elements of `elem` bytes in *p (capacity *cap elements), keeping what it
 * holds. */
static int grow(void** p, size_t* cap, size_t need, size_t elem) {
  size_t bytes;
  void* n;
  if (need <= *cap) return 0;
  bytes = page_round(*cap ? *cap * elem : elem);
  while (bytes / elem < need) bytes *= 2;
  n = scratch_map(bytes);
  if (!n) return -ENOMEM;
  if (*p) {
    memcpy(n, *p, *cap * elem);
    munmap(*p, page_round(*cap * elem));
  }
  *p = n;
  *cap = bytes / elem;
  return 0;
}

static int push(fg_ranges* r, uintptr_t start, uintptr_t end) {
  if (r->count == r->capacity) {
    int rc = grow((void**)&r->ranges, &r->capacity, r->count + 1, sizeof(fg_range));
    if (rc) return rc;
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

/* Reads a whole /proc file into *buf (capacity *cap bytes), growing it as needed. */
static int read_all(const char* path, char** buf, size_t* cap, size_t* len) {
  size_t n = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  for (;;) {
    ssize_t got;
    if (n == *cap) {
      int rc = grow((void**)buf, cap, *cap ? *cap * 2 : 1 << 16, 1);
      if (rc) {
        close(fd);
        return rc;
      }
    }
    got = read(fd, *buf + n, *cap - n);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      int err = -errno;
      close(fd);
      return err;
    }
    if (got == 0) break;
    n += (size_t)got;
  }
  close(fd);
  *len = n;
  return 0;
}

/* One line of /proc/self/maps: its bounds, where its text sits, and what fork() knows of it. */
typedef struct {
  uintptr_t start;
  uintptr_t end;
  size_t off;
  size_t len;
  unsigned char anon; /* private and anonymous: could carry the flag, as Node's mappings do */
  unsigned char dc;   /* marked do-not-copy */
  unsigned char none; /* ---p: a reservation (a malloc arena's tail, V8's address space), no pages */
} mapping;

typedef struct {
  char* text;
  size_t text_len;
  size_t text_cap;
  mapping* m;
  size_t count;
  size_t cap;
} maps_t;

/* Forgets what a maps_t holds; its memory stays for the next scan. */
static void maps_clear(maps_t* m) {
  m->text_len = m->count = 0;
}

/* Private anonymous: "7f12a0000000-7f12a0021000 rw-p 00000000 00:00 0" with no file, or a name of
 * the "[anon:...]" kind; not [heap], [stack], [vdso] and friends. */
static int is_private_anonymous(const char* q, const char* e) {
  int fields;
  unsigned long long inode;
  const char* name;
  while (q < e && *q == ' ') q++;
  if (!(q + 4 <= e && q[3] == 'p')) return 0;
  for (fields = 0; fields < 3 && q < e; fields++) { /* perms, offset, dev */
    while (q < e && *q != ' ') q++;
    while (q < e && *q == ' ') q++;
  }
  inode = strtoull(q, (char**)&q, 10);
  name = q;
  while (name < e && *name == ' ') name++;
  return inode == 0 && (name == e || strncmp(name, "[anon", 5) == 0);
}

static int add(maps_t* out, const mapping* m) {
  if (out->count == out->cap) {
    int rc = grow((void**)&out->m, &out->cap, out->count + 1, sizeof(mapping));
    if (rc) return rc;
  }
  out->m[out->count++] = *m;
  return 0;
}

/* Parses the lines of out->text in [from, to). A line that reads as one of `known` (lines of the last
 * scan, in address order, their text in known_text) takes its flag; adds to *unknown the bytes of
 * the other private anonymous ones (their flags are not known until smaps is read). */
static int parse_lines(maps_t* out, size_t from, size_t to, const mapping* known, size_t nknown, const char* known_text,
                       size_t* unknown) {
  const char* p = out->text + from;
  const char* end = out->text + to;
  size_t k = 0;
  while (p < end) {
    const char* nl = memchr(p, '\n', (size_t)(end - p));
    const char* e = nl ? nl : end;
    char* q;
    unsigned long long a = strtoull(p, &q, 16);
    if (*q == '-') {
      mapping m;
      int rc;
      m.start = (uintptr_t)a;
      m.end = (uintptr_t)strtoull(q + 1, &q, 16);
      m.off = (size_t)(p - out->text);
      m.len = (size_t)(e - p);
      m.anon = (unsigned char)is_private_anonymous(q, e);
      m.dc = 0;
      m.none = q + 4 <= e && memcmp(q + 1, "---", 3) == 0;
      while (k < nknown && known[k].start < m.start) k++;
      if (k < nknown && known[k].start == m.start && known[k].len == m.len &&
          memcmp(known_text + known[k].off, p, m.len) == 0)
        m.dc = known[k].dc;
      else if (m.anon && !m.none)
        *unknown += m.end - m.start;
      rc = add(out, &m);
      if (rc) return rc;
    }
    p = e + 1;
  }
  return 0;
}

/* Two maps_t, swapped at each scan: `cached` holds the last scan's flags, per mapping, as fork()
 * left them, and the other is where the next maps text is read. `owner` is the process they
 * describe; a child sees them wiped. Then the bytes the last smaps scan found marked, and the bytes
 * of new mappings lent since without being taken back (see dontfork.h). */
static maps_t maps_buf[2];
static maps_t* cached = &maps_buf[0];
static pid_t owner;
/* The floor of that budget: 16 MB left copyable costs a spawn the copy of 4 096 page-table entries,
 * and a small heap would otherwise read smaps at nearly every fork. */
#define FG_UNMARKED_BUDGET (16u << 20)
static size_t cached_marked_bytes;
static size_t unmarked_since_scan;

/* Parses out->text. Between two forks a process maps and unmaps a few things in a few places, so
 * the lines of the head and tail it shares with the cached text are the cached mappings, flags and
 * all: only the lines between are parsed, and those of them the cached text has too (the places
 * that changed may be far apart) keep their flags. Sets *unknown to the bytes of private anonymous
 * mappings whose flags this leaves unknown. */
static int parse_maps(maps_t* out, size_t* unknown) {
  const char* a = cached->text;
  const char* b = out->text;
  size_t alen = cached->text_len, blen = out->text_len;
  size_t head = 0, tail = 0, i, j;
  size_t n = cached->count == 0 ? 0 : alen < blen ? alen : blen;
  int rc;
  *unknown = 0;
  out->count = 0;
  while (head < n && a[head] == b[head]) head++;
  while (head > 0 && b[head - 1] != '\n') head--; /* whole lines only */
  while (tail < n - head && a[alen - 1 - tail] == b[blen - 1 - tail]) tail++;
  /* Whole lines in both texts: "B\n" ends both "AB\n" and "\nB\n", and only one is a line. */
  while (tail > 0 && ((blen - tail > 0 && b[blen - tail - 1] != '\n') || (alen - tail > 0 && a[alen - tail - 1] != '\n')))
    tail--;
  for (i = 0; i < cached->count && cached->m[i].off + cached->m[i].len < head; i++) {
    rc = add(out, &cached->m[i]);
    if (rc) return rc;
  }
  j = i; /* cached->m[i, j): the cached lines between head and tail */
  while (j < cached->count && cached->m[j].off < alen - tail) j++;
  rc = parse_lines(out, head, blen - tail, cached->m + i, j - i, cached->text, unknown);
  for (i = j; rc == 0 && i < cached->count; i++) {
    mapping m = cached->m[i];
    m.off = m.off - (alen - tail) + (blen - tail);
    rc = add(out, &m);
  }
  return rc;
}

/* Flags from a scan of smaps. Returns 0, 1 if the scan saw a marked mapping maps did not show (the
 * process mapped memory in between), or -errno. */
static int flags_from_smaps(maps_t* cur, fg_ranges* marked) {
  size_t i, j = 0, matched = 0;
  int rc = scan_smaps(marked);
  if (rc) return rc;
  for (i = 0; i < cur->count; i++) {
    mapping* m = &cur->m[i];
    while (j < marked->count && marked->ranges[j].start < m->start) j++;
    m->dc = j < marked->count && marked->ranges[j].start == m->start && marked->ranges[j].end == m->end;
    if (m->dc) matched++;
  }
  return matched == marked->count ? 0 : 1;
}

/* Each run of mappings that `want` picks with no other mapping between them, as one range. */
static int runs(const maps_t* cur, fg_ranges* out, int lend) {
  size_t i;
  int open = 0;
  out->count = 0;
  for (i = 0; i < cur->count; i++) {
    const mapping* m = &cur->m[i];
    int rc;
    if (!(lend ? (m->anon || m->dc) : m->dc)) {
      open = 0;
      continue;
    }
    if (open) {
      out->ranges[out->count - 1].end = m->end;
      continue;
    }
    rc = push(out, m->start, m->end);
    if (rc) return rc;
    open = 1;
  }
  return 0;
}

/* The virtual size the maps text shows, in pages: what /proc/self/statm reads at that moment (both
 * count every mapping), so the scan needs one statm read, after it, not two. The x86_64 vsyscall
 * page is listed but is no mapping of the process: it, and anything in the kernel's half, is left
 * out. Should a kernel count otherwise, the two never match and the restore goes mapping by
 * mapping: slower, not wrong. */
static size_t listed_pages(const maps_t* m) {
  size_t i, bytes = 0;
  for (i = 0; i < m->count; i++)
    if ((intptr_t)m->m[i].start >= 0) bytes += m->m[i].end - m->m[i].start;
  return bytes / (size_t)sysconf(_SC_PAGESIZE);
}

/* The process's virtual size in pages (/proc/self/statm: counters, no walk of the mappings). */
static size_t vm_pages(void) {
  char buf[128];
  ssize_t got;
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  got = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (got <= 0) return 0;
  buf[got] = 0;
  return (size_t)strtoull(buf, NULL, 10);
}

int fg_scan_dontfork(fg_ranges* restore, fg_ranges* exact, fg_ranges* lend, fg_scan_info* info) {
  maps_t* cur = cached == &maps_buf[0] ? &maps_buf[1] : &maps_buf[0];
  size_t i, marked_bytes = 0, unknown = 0, pages_before;
  int rc;
  info->reused = 0;
  info->marked = 0;
  if (owner != getpid()) {
    /* A child (of any fork): what was kept describes the parent, and reads as zeros here. */
    maps_clear(&maps_buf[0]);
    maps_clear(&maps_buf[1]);
    cached_marked_bytes = unmarked_since_scan = 0;
    owner = getpid();
  }
  maps_clear(cur);
  /* The scan's own buffers may grow after the maps are read, and a new one can land in a hole of a
   * run: they get room for as much as last time first, and if the size moved during the scan all
   * the same, the restore goes mapping by mapping (see below). */
  rc = grow((void**)&cur->text, &cur->text_cap, cached->text_len + cached->text_len / 8, 1);
  if (rc == 0) rc = grow((void**)&cur->m, &cur->cap, cached->count + cached->count / 8, sizeof(mapping));
  if (rc) return rc;
  rc = read_all("/proc/self/maps", &cur->text, &cur->text_cap, &cur->text_len);
  if (rc == 0) rc = parse_maps(cur, &unknown);
  if (rc) {
    maps_clear(cur);
    return rc;
  }
  pages_before = listed_pages(cur);
  if (cached->count) {
    size_t budget = cached_marked_bytes / 8 > FG_UNMARKED_BUDGET ? cached_marked_bytes / 8 : FG_UNMARKED_BUDGET;
    if (unmarked_since_scan + unknown <= budget) {
      info->reused = 1;
      unmarked_since_scan += unknown;
    }
  }
  if (!info->reused) {
    rc = flags_from_smaps(cur, restore);
    if (rc < 0) {
      maps_clear(cur);
      return rc;
    }
    if (rc == 1) {
      /* The maps changed during the scan: the ranges as smaps saw them, one call each, and every
       * private anonymous mapping lent besides; nothing kept for the next fork. */
      for (i = 0; i < restore->count; i++) marked_bytes += restore->ranges[i].end - restore->ranges[i].start;
      info->marked = restore->count;
      rc = runs(cur, lend, 1);
      exact->count = 0;
      for (i = 0; rc == 0 && i < restore->count; i++) rc = push(lend, restore->ranges[i].start, restore->ranges[i].end);
      for (i = 0; rc == 0 && i < restore->count; i++) rc = push(exact, restore->ranges[i].start, restore->ranges[i].end);
      info->vm_pages = 0; /* restore exactly */
      maps_clear(cur);
      maps_clear(cached);
      return rc;
    }
    unmarked_since_scan = 0;
  }
  exact->count = 0;
  for (i = 0; i < cur->count; i++) {
    if (!cur->m[i].dc) continue;
    info->marked++;
    if (!cur->m[i].none) marked_bytes += cur->m[i].end - cur->m[i].start;
    if (rc == 0) rc = push(exact, cur->m[i].start, cur->m[i].end);
  }
  if (!info->reused) cached_marked_bytes = marked_bytes;
  if (rc == 0) rc = runs(cur, lend, 1);
  if (rc == 0) rc = runs(cur, restore, 0);
  /* After this fork, what was marked is marked again and everything else is copyable. */
  maps_clear(cached);
  cached = cur;
  if (rc) maps_clear(cached);
  /* Last, after this function's own allocations; 0 (restore mapping by mapping) if they moved it. */
  info->vm_pages = vm_pages();
  if (info->vm_pages != pages_before) info->vm_pages = 0;
  return rc;
}

int fg_advise_ranges(const fg_ranges* r, int copy) {
  size_t i;
  int failed = 0;
#if defined(MADV_DOFORK) && defined(MADV_DONTFORK)
  for (i = 0; i < r->count; i++) {
    if (madvise((void*)r->ranges[i].start, r->ranges[i].end - r->ranges[i].start,
                copy ? MADV_DOFORK : MADV_DONTFORK) != 0 &&
        errno != ENOMEM)
      failed++;
  }
#else
  (void)r;
  (void)copy;
  (void)i;
#endif
  return failed;
}

int fg_restore_marks(const fg_ranges* restore, const fg_ranges* exact, const fg_scan_info* info, int* one_by_one) {
  size_t now = vm_pages();
  *one_by_one = !(now != 0 && now == info->vm_pages);
  /* If something was mapped or unmapped since, it may sit in a hole of a run. */
  return fg_advise_ranges(*one_by_one ? exact : restore, 0);
}

void fg_ranges_free(fg_ranges* r) {
  if (r->ranges) munmap(r->ranges, page_round(r->capacity * sizeof(fg_range)));
  r->ranges = NULL;
  r->count = r->capacity = 0;
}
