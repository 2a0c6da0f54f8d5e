#define _GNU_SOURCE
#include "condvars.h"

#include <unistd.h> /* defines __GLIBC__ under glibc */

#if defined(__linux__) && defined(__GLIBC__)

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <linux/futex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* glibc 2.25 to 2.40, as 32-bit words (the same on every Linux target glibc supports):
 *   0-1 __wseq   2-3 __g1_start   4-5 __g_refs[2]   6-7 __g_size[2]   8 __g1_orig_size
 *   9 __wrefs (waiters << 3 | flags: bit 0 process-shared, bit 1 CLOCK_MONOTONIC)
 *   10-11 __g_signals[2], the words a waiter of group g sleeps on (futex value 0).
 * A waiter of group g holds 2 in __g_refs[g] and 8 in __wrefs while it sleeps. 2.41 dropped
 * __g_refs, and with it the wait that hangs. */
#define CV_WORDS 12
#define CV_GREFS 4
#define CV_WREFS 9
#define CV_SIGNALS 10
#define CV_SHARED 1u
#define CV_CLOCK 2u

#if defined(__SANITIZE_ADDRESS__)
#define FG_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FG_ASAN 1
#endif
#endif
#ifndef FG_ASAN
#define FG_ASAN 0
#endif

#define MAX_ADDRS 64
#define MAX_CONDVARS 64

static uintptr_t found[MAX_CONDVARS];
static uint32_t found_flags[MAX_CONDVARS];
static int found_count;

struct sleeping {
  uintptr_t addr;
  unsigned count;
  unsigned proven; /* how many of its sleepers are inside pthread_cond_*wait */
};

static int layout_known(void) {
  const char* v = gnu_get_libc_version();
  char* end;
  long major = strtol(v, &end, 10);
  long minor = *end == '.' ? strtol(end + 1, NULL, 10) : -1;
  return major == 2 && minor >= 25 && minor <= 40;
}

static int is_futex(long nr) {
#ifdef SYS_futex
  if (nr == SYS_futex) return 1;
#endif
#ifdef SYS_futex_time64
  if (nr == SYS_futex_time64) return 1;
#endif
  return 0;
}

/* "202 0x10236800 0x189 0x0 0x0 0x0 0x0 <sp> <pc>" -> the futex address of a private wait for the
 * value 0, and the thread's stack pointer and program counter (the last two fields). */
static int parse_wait(const char* s, uintptr_t* addr, uintptr_t* sp, uintptr_t* pc) {
  char* end;
  long nr = strtol(s, &end, 10);
  unsigned long long uaddr, op, val, arg;
  int k;
  if (end == s || !is_futex(nr)) return 0;
  uaddr = strtoull(end, &end, 16);
  op = strtoull(end, &end, 16);
  val = strtoull(end, &end, 16);
  for (k = 0; k < 3; k++) arg = strtoull(end, &end, 16); /* the other three arguments */
  (void)arg;
  *sp = (uintptr_t)strtoull(end, &end, 16);
  *pc = (uintptr_t)strtoull(end, &end, 16);
  if (!(op & FUTEX_PRIVATE_FLAG)) return 0; /* shared futexes may have waiters in other processes */
  op &= ~(unsigned long long)(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
  if ((op != FUTEX_WAIT && op != FUTEX_WAIT_BITSET) || val != 0) return 0;
  *addr = (uintptr_t)uaddr;
  return 1;
}

/* The proof that a futex wait is a condvar's: the waiting thread is inside glibc's own
 * pthread_cond_wait, pthread_cond_timedwait or pthread_cond_clockwait. Their code
 * (__pthread_cond_wait_common is always inlined into them) waits for the value 0 only on the
 * condvar's __g_signals word; the other waits they make (the condvar's internal lock, the mutex)
 * expect other values. A thread is inside one when its program counter is (2.25-2.33: the futex
 * call is inline) or a return address near the top of its stack is (2.34+: through
 * __futex_abstimed_wait_cancelable64). Anything else asleep on a futex for 0 (sem_wait, a
 * hand-rolled lock, an atomic wait) is left alone, however its neighbouring words look. */
#define STACK_WORDS 128 /* 1 KiB above the stack pointer: the waits' frames are a few words each */
static struct {
  uintptr_t start, end;
} cond_waits[3];
static int cond_waits_known = -1; /* -1 not looked up yet, then how many were found */

static void learn_cond_waits(void) {
  static const char* const libs[] = {"libc.so.6", "libpthread.so.0"}; /* 2.34+ / before */
  static const char* const names[] = {"pthread_cond_wait", "pthread_cond_timedwait", "pthread_cond_clockwait"};
  unsigned l, n;
  cond_waits_known = 0;
  for (l = 0; l < sizeof(libs) / sizeof(libs[0]); l++) {
    /* The library's own symbols, not an interposer's (AddressSanitizer wraps these). */
    void* lib = dlopen(libs[l], RTLD_LAZY | RTLD_NOLOAD);
    if (!lib) continue;
    for (n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
      void* fn = dlsym(lib, names[n]);
      Dl_info info;
      const ElfW(Sym)* sym = NULL;
      if (!fn || !dladdr1(fn, &info, (void**)&sym, RTLD_DL_SYMENT) || !sym || sym->st_size == 0) continue;
      cond_waits[cond_waits_known].start = (uintptr_t)fn;
      cond_waits[cond_waits_known].end = (uintptr_t)fn + sym->st_size;
      cond_waits_known++;
    }
    dlclose(lib);
    if (cond_waits_known > 0) return;
  }
}

static int in_cond_wait(uintptr_t a) {
  int i;
  for (i = 0; i < cond_waits_known; i++)
    if (a >= cond_waits[i].start && a < cond_waits[i].end) return 1;
  return 0;
}

static int waits_in_cond_wait(uintptr_t sp, uintptr_t pc, int* mem) {
  uintptr_t stack[STACK_WORDS];
  ssize_t got;
  int k;
  if (in_cond_wait(pc)) return 1;
  if (*mem < 0) *mem = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
  if (*mem < 0) return 0;
  /* Another thread's stack, read through /proc: it may end before STACK_WORDS (a short read). */
  got = pread(*mem, stack, sizeof(stack), (off_t)sp);
  for (k = 0; got > 0 && k < (int)(got / (ssize_t)sizeof(uintptr_t)); k++)
    if (in_cond_wait(stack[k])) return 1;
  return 0;
}

static int skipped(long tid, const long* skip, unsigned nskip) {
  unsigned i;
  for (i = 0; i < nskip; i++)
    if (skip[i] == tid) return 1;
  return 0;
}

/* The condvar's words, from memory when they sit on the futex word's own page (mapped, since a
 * thread sleeps on it), else through /proc/self/mem, opened at the first need (*mem): a word
 * before a futex may sit on an unmapped page, and a read there would fault. */
static int read_condvar(uintptr_t base, uintptr_t futex, uint32_t w[CV_WORDS], int* mem) {
  const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  const uintptr_t last = base + CV_WORDS * 4 - 1;
  int k;
  /* Under AddressSanitizer the words before a futex that is no condvar may be a redzone: /proc. */
  if (!FG_ASAN && base / page == futex / page && last / page == futex / page) {
    for (k = 0; k < CV_WORDS; k++) w[k] = ((const volatile uint32_t*)base)[k]; /* other threads' words */
    return 1;
  }
  if (*mem < 0) *mem = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
  return *mem >= 0 && pread(*mem, w, CV_WORDS * 4, (off_t)base) == (ssize_t)(CV_WORDS * 4);
}

static unsigned count_at(const struct sleeping* s, int n, uintptr_t addr) {
  int i;
  for (i = 0; i < n; i++)
    if (s[i].addr == addr) return s[i].count;
  return 0;
}

int fg_find_sleeping_condvars(const long* skip, unsigned nskip) {
  struct sleeping sleepers[MAX_ADDRS];
  int nsleepers = 0, i, mem = -1, unreadable = 0, seen_self = 0;
  unsigned threads = 0;
  long self = syscall(SYS_gettid);
  DIR* dir;
  struct dirent* e;
  found_count = 0;
  if (!layout_known()) return 0;
  if (cond_waits_known < 0) learn_cond_waits();
  if (cond_waits_known == 0) return -ENOENT; /* nothing to prove a wait against: repair nothing */
  dir = opendir("/proc/self/task");
  if (!dir) return -errno;
  while ((e = readdir(dir)) != NULL) {
    char path[64], buf[256];
    long tid;
    int fd, j;
    ssize_t got;
    uintptr_t addr, sp, pc;
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    threads++;
    tid = strtol(e->d_name, NULL, 10);
    if (tid == self) seen_self = 1;
    if (tid == self || skipped(tid, skip, nskip)) continue;
    /* Relative to the directory already open: no walk of /proc/self/task for each thread. */
    snprintf(path, sizeof(path), "%ld/syscall", tid);
    fd = openat(dirfd(dir), path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno != ENOENT && errno != ESRCH) unreadable = errno; /* a thread that left is fine */
      continue;
    }
    got = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (got <= 0) {
      if (got < 0 && errno != ESRCH) unreadable = errno;
      continue;
    }
    buf[got] = 0;
    if (!parse_wait(buf, &addr, &sp, &pc)) continue;
    for (j = 0; j < nsleepers && sleepers[j].addr != addr; j++) {
    }
    if (j == nsleepers) {
      if (nsleepers == MAX_ADDRS) continue;
      sleepers[nsleepers].addr = addr;
      sleepers[nsleepers].count = 0;
      sleepers[nsleepers].proven = 0;
      nsleepers++;
    }
    sleepers[j].count++;
    sleepers[j].proven += (unsigned)waits_in_cond_wait(sp, pc, &mem);
  }
  closedir(dir);
  /* A /proc that hides the threads (a sandbox: gVisor, a masked /proc/self/task) proves nothing:
   * say so rather than find nothing. */
  if (!seen_self) unreadable = ENOENT;
  if (unreadable) {
    if (mem >= 0) close(mem);
    return -unreadable;
  }
  if (nsleepers == 0) {
    if (mem >= 0) close(mem);
    return 0;
  }

  for (i = 0; i < nsleepers && found_count < MAX_CONDVARS; i++) {
    uintptr_t addr = sleepers[i].addr, base;
    uint32_t w[CV_WORDS];
    unsigned g, mine, total, k;
    int dup = 0;
    /* A condvar is 8-byte aligned: __g_signals[0] sits at 0 mod 8, __g_signals[1] at 4. */
    if ((addr & 7) == 0) g = 0;
    else if ((addr & 7) == 4) g = 1;
    else continue;
    base = addr - (CV_SIGNALS + g) * 4;
    for (k = 0; k < (unsigned)found_count; k++) dup |= found[k] == base;
    if (dup) continue;
    /* Every thread asleep on this word must be inside a condvar wait: one that is not (sem_wait
     * on a word that happens to be where a condvar's would be) makes it no condvar of ours. */
    if (sleepers[i].proven != sleepers[i].count) continue;
    if (!read_condvar(base, addr, w, &mem)) continue;
    mine = sleepers[i].count;
    total = count_at(sleepers, nsleepers, base + CV_SIGNALS * 4) + count_at(sleepers, nsleepers, base + (CV_SIGNALS + 1) * 4);
    /* What every sleeping waiter leaves in the condvar, bounded by the threads that exist: random
     * memory (a pointer's upper half, a length) does not pass both. */
    if (w[CV_WREFS] & CV_SHARED) continue;
    if ((w[CV_WREFS] >> 3) < total || (w[CV_WREFS] >> 3) > threads) continue;
    if ((w[CV_GREFS + g] >> 1) < mine || (w[CV_GREFS + g] >> 1) > threads) continue;
    found[found_count] = base;
    found_flags[found_count] = w[CV_WREFS] & CV_CLOCK;
    found_count++;
  }
  if (mem >= 0) close(mem);
  return found_count;
}

int fg_reset_sleeping_condvars(void) {
  int i, k;
  for (i = 0; i < found_count; i++) {
    /* What pthread_cond_init() writes: zeros, and the clock flag in __wrefs. */
    volatile uint32_t* w = (volatile uint32_t*)found[i];
    for (k = 0; k < CV_WORDS; k++) w[k] = 0;
    w[CV_WREFS] = found_flags[i];
  }
  return found_count;
}

#else

int fg_find_sleeping_condvars(const long* skip, unsigned nskip) {
  (void)skip;
  (void)nskip;
  return 0;
}
int fg_reset_sleeping_condvars(void) { return 0; }

#endif
