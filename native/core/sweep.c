/* The sweep of inherited sockets: see sweep.h. */
#define _GNU_SOURCE
#include "sweep.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/syscall.h>
#endif

#include "core.h"
#include "facts.h"

/* Armed by the JS thread before fork(2); the child reads its copy, the parent disarms. */
static volatile int armed;
static int32_t keep[FG_KEEP_CAPACITY];
static uint32_t keep_count;

/* In .bss: only the pages a sweep writes cost memory, in the child that wrote them. */
static int32_t swept[FG_SWEPT_RECORD];
static uint32_t swept_recorded, swept_total;

int fg_sweep_arm(const int32_t* fds, uint32_t n) {
  uint32_t i;
  if (n > FG_KEEP_CAPACITY) return FG_ERR_RANGE;
  for (i = 0; i < n; i++) keep[i] = fds[i];
  keep_count = n;
  armed = 1;
  return FG_OK;
}

int fg_sweep_armed(void) { return armed; }

void fg_sweep_disarm(void) {
  armed = 0;
  keep_count = 0;
}

const int32_t* fg_swept(uint32_t* recorded, uint32_t* total) {
  *recorded = swept_recorded;
  *total = swept_total;
  return swept;
}

static int kept(int fd) {
  uint32_t i;
  for (i = 0; i < keep_count; i++)
    if (keep[i] == fd) return 1;
  return 0;
}

/* A connection this process shares with its parent: a stream socket of the internet or unix
 * families that is not listening. Connecting or connected alike: a connect in flight at the fork
 * completes for both processes. Three getsockopt calls and no fstat: on a VM each system call costs
 * a microsecond or two, and this runs once per open fd (docs/benchmarks.md). A number that is not
 * a socket fails the first with ENOTSOCK. */
static int is_inherited_connection(int fd) {
  int v = 0;
  socklen_t len = sizeof v;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) != 0) return 0;
  if (v != SOCK_STREAM && v != SOCK_SEQPACKET) return 0;
  len = sizeof v;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 && v) return 0;
#ifdef SO_DOMAIN
  len = sizeof v;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) != 0) return 0;
  if (v != AF_INET && v != AF_INET6 && v != AF_UNIX) return 0;
#endif
  return 1;
}

typedef struct {
  int dead;
  uint32_t done, failed;
} sweep_state;

/* dup2, close-on-exec: no exec'd program gets the dead socket. One call where dup3 exists. */
static int put_dead(int dead, int fd) {
#ifdef __linux__
  return dup3(dead, fd, O_CLOEXEC);
#else
  int r = dup2(dead, fd);
  if (r >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
  return r;
#endif
}

static void visit(sweep_state* s, int fd) {
  /* The dead socket, and the tracked fds fg_neutralise_all has already given it. */
  if (fd <= 2 || fd == s->dead || fg_is_tracked(fd) || kept(fd)) return;
  if (!is_inherited_connection(fd)) return;
  /* As fg_neutralise_all: the number stays valid for whoever polls it. */
  if (s->dead < 0 || put_dead(s->dead, fd) < 0) {
    s->failed++;
    return;
  }
  if (swept_recorded < FG_SWEPT_RECORD) swept[swept_recorded++] = fd;
  s->done++;
}

#ifdef __linux__
/* struct linux_dirent64, which glibc does not declare. */
typedef struct {
  uint64_t ino;
  int64_t off;
  unsigned short reclen;
  unsigned char type;
  char name[];
} dirent64_raw;

/* /proc/self/fd read with getdents64 into a stack buffer (opendir would malloc): only open fds are
 * visited, so 10 000 sockets cost 10 000 visits whatever the fd limit. -1 if /proc is not there. */
static int visit_proc_fds(sweep_state* s) {
  char buf[4096];
  int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return -1;
  for (;;) {
    long n = syscall(SYS_getdents64, dir, buf, sizeof buf);
    long off = 0;
    if (n <= 0) break;
    while (off < n) {
      dirent64_raw* d = (dirent64_raw*)(buf + off);
      const char* p = d->name;
      int fd = 0, digits = 0;
      off += d->reclen;
      for (; *p >= '0' && *p <= '9'; p++, digits++) fd = fd * 10 + (*p - '0');
      if (digits == 0 || *p != '\0' || fd == dir) continue;
      visit(s, fd);
    }
  }
  close(dir);
  return 0;
}
#endif

/* Without /proc (macOS): every number below the fd limit, capped so that a huge limit stays cheap. */
static void visit_all_numbers(sweep_state* s) {
  struct rlimit rl;
  int fd, top = 65536;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)top) top = (int)rl.rlim_cur;
  for (fd = 3; fd < top; fd++)
    if (fcntl(fd, F_GETFD) >= 0) visit(s, fd);
}

static uint64_t now_us(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) return 0;
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void fg_sweep_run(volatile uint32_t* state, int dead) {
  sweep_state s = {dead, 0, 0};
  uint64_t t0;
  /* What an earlier sweep did (in an ancestor) is not this process's: forget it either way. */
  swept_recorded = 0;
  swept_total = 0;
  if (state) {
    state[FG_STATE_SWEPT] = 0;
    state[FG_STATE_SWEEP_FAILED] = 0;
    state[FG_STATE_SWEEP_US] = 0;
  }
  if (!armed) return;
  armed = 0;
  t0 = now_us();
#ifdef __linux__
  if (visit_proc_fds(&s) != 0) visit_all_numbers(&s);
#else
  visit_all_numbers(&s);
#endif
  swept_total = s.done;
  keep_count = 0;
  if (state) {
    state[FG_STATE_SWEPT] = s.done;
    state[FG_STATE_SWEEP_FAILED] = s.failed;
    state[FG_STATE_SWEEP_US] = (uint32_t)(now_us() - t0);
  }
}
