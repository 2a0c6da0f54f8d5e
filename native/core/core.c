/* The async-signal-safe core: fd registry, neutralisation, fork generation, fork canary.
 * See core.h for the rules every function here obeys. */
#define _GNU_SOURCE
#include "core.h"
#include "sweep.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
  int fd;
  uint64_t dev;
  uint64_t ino;
} fg_entry;

/* Dense array of tracked sockets plus a direct index fd -> position + 1, so that track and untrack
 * are O(1) and the child handler walks only what is tracked. Both live in .bss: only the pages
 * that are touched ever cost memory. */
static fg_entry entries[FG_REGISTRY_CAPACITY];
static uint32_t entry_count;
static uint32_t capacity_limit = FG_REGISTRY_CAPACITY;
static uint32_t index_of[FG_FD_INDEX_LIMIT];

/* Mutations come from JS threads; the child handler never takes this lock (a lock held by a
 * thread that does not exist in the child would never be released) but resets it instead. */
static volatile int registry_lock;

static volatile uint32_t* state_page;
static volatile uint32_t* canary_page;
static int canary_ok;

static int dead_fd = -1;
static uint64_t dead_dev, dead_ino;

static int initialised;
static int installed;

#define CANARY_TOKEN 0x9e3779b9u

static void lock(void) {
  while (__atomic_exchange_n(&registry_lock, 1, __ATOMIC_ACQUIRE)) {
    while (__atomic_load_n(&registry_lock, __ATOMIC_RELAXED)) {
    }
  }
}

static void unlock(void) { __atomic_store_n(&registry_lock, 0, __ATOMIC_RELEASE); }

/* A socket whose peer is closed: reads see EOF, writes fail with EPIPE, and epoll accepts it.
 * Not /dev/null: libuv aborts when epoll_ctl refuses a regular file (EPERM). */
static int make_dead_socket(int* out, uint64_t* dev, uint64_t* ino) {
  int sv[2];
  struct stat st;
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return -1;
  close(sv[1]);
  /* Non-blocking like the libuv sockets it replaces; close-on-exec so no exec'd program sees it. */
  fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
  fcntl(sv[0], F_SETFD, FD_CLOEXEC);
  if (fstat(sv[0], &st) != 0) {
    close(sv[0]);
    return -1;
  }
  *out = sv[0];
  *dev = (uint64_t)st.st_dev;
  *ino = (uint64_t)st.st_ino;
  return 0;
}

int fg_core_init(void) {
  long page;
  void* p;
  if (initialised) return FG_OK;
  page = sysconf(_SC_PAGESIZE);
  p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return FG_ERR_BAD_FD;
  state_page = (volatile uint32_t*)p;
  /* The canary gets a page of its own: MADV_WIPEONFORK zeroes the whole page in every child, and
   * the generation must survive the fork. */
  p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return FG_ERR_BAD_FD;
  canary_page = (volatile uint32_t*)p;
#ifdef MADV_WIPEONFORK
  canary_ok = madvise(p, (size_t)page, MADV_WIPEONFORK) == 0;
#else
  canary_ok = 0;
#endif
  canary_page[FG_CANARY_TOKEN] = canary_ok ? CANARY_TOKEN : 0;
  state_page[FG_STATE_PID] = (uint32_t)getpid();
  state_page[FG_STATE_ANNOUNCED] = state_page[FG_STATE_GENERATION];
  if (make_dead_socket(&dead_fd, &dead_dev, &dead_ino) != 0) return FG_ERR_NO_DEAD_SOCKET;
  initialised = 1;
  return FG_OK;
}

#ifdef FG_TEST_BUILD
/* Test build only (fg_set_test_flags): a child handler that does nothing, as if the fork had
 * bypassed it, and a canary nobody looks at, as where MADV_WIPEONFORK is missing. */
static volatile int test_suppress_handler;
static volatile int test_ignore_canary;

void fg_set_test_flags(int suppress_handler, int ignore_canary) {
  test_suppress_handler = suppress_handler;
  test_ignore_canary = ignore_canary;
}

void fg_set_capacity_limit(uint32_t limit) {
  capacity_limit = limit == 0 || limit > FG_REGISTRY_CAPACITY ? FG_REGISTRY_CAPACITY : limit;
}
#define TEST_SUPPRESS_HANDLER test_suppress_handler
#define TEST_IGNORE_CANARY test_ignore_canary
#define TEST_FLAGS_CLEAR() (test_suppress_handler = 0, test_ignore_canary = 0)
#else
#define TEST_SUPPRESS_HANDLER 0
#define TEST_IGNORE_CANARY 0
#define TEST_FLAGS_CLEAR() ((void)0)
#endif

static void child_handler(void) {
  if (TEST_SUPPRESS_HANDLER) return;
  fg_on_new_process();
}

int fg_core_install(void) {
  if (installed) return 0;
  if (pthread_atfork(NULL, NULL, child_handler) != 0) return -1;
  installed = 1;
  return 1;
}

int fg_core_installed(void) { return installed; }
volatile uint32_t* fg_state(void) { return state_page; }
volatile uint32_t* fg_canary(void) { return canary_page; }
int fg_canary_supported(void) { return canary_ok; }

int fg_is_tracked(int fd) {
  return fd >= 0 && fd < FG_FD_INDEX_LIMIT && index_of[fd] != 0;
}

int fg_track(int fd) {
  struct stat st;
  int rc = FG_OK;
  if (fd < 0) return FG_ERR_BAD_FD;
  if (fd >= FG_FD_INDEX_LIMIT) return FG_ERR_RANGE;
  if (fstat(fd, &st) != 0) return FG_ERR_BAD_FD;
  if (!S_ISSOCK(st.st_mode)) return FG_ERR_NOT_SOCKET;
  lock();
  if (index_of[fd] != 0) {
    /* Re-tracking refreshes the identity: the number may now name another socket. */
    fg_entry* e = &entries[index_of[fd] - 1];
    e->dev = (uint64_t)st.st_dev;
    e->ino = (uint64_t)st.st_ino;
  } else if (entry_count >= capacity_limit) {
    rc = FG_ERR_FULL;
  } else {
    fg_entry* e = &entries[entry_count];
    e->fd = fd;
    e->dev = (uint64_t)st.st_dev;
    e->ino = (uint64_t)st.st_ino;
    entry_count++;
    index_of[fd] = entry_count;
  }
  if (state_page) state_page[FG_STATE_TRACKED] = entry_count;
  unlock();
  return rc;
}

int fg_untrack(int fd) {
  uint32_t pos, last;
  if (fd < 0 || fd >= FG_FD_INDEX_LIMIT) return FG_ERR_NOT_TRACKED;
  lock();
  pos = index_of[fd];
  if (pos == 0) {
    unlock();
    return FG_ERR_NOT_TRACKED;
  }
  last = entry_count - 1;
  if (pos - 1 != last) {
    entries[pos - 1] = entries[last];
    index_of[entries[pos - 1].fd] = pos;
  }
  index_of[fd] = 0;
  entry_count = last;
  if (state_page) state_page[FG_STATE_TRACKED] = entry_count;
  unlock();
  return FG_OK;
}

static int same_identity(int fd, uint64_t dev, uint64_t ino) {
  struct stat st;
  if (fstat(fd, &st) != 0) return 0;
  return S_ISSOCK(st.st_mode) && (uint64_t)st.st_dev == dev && (uint64_t)st.st_ino == ino;
}

static void ensure_dead_socket(void) {
  if (dead_fd < 0 || !same_identity(dead_fd, dead_dev, dead_ino)) {
    if (make_dead_socket(&dead_fd, &dead_dev, &dead_ino) != 0) dead_fd = -1;
  }
}

int fg_neutralise_all(void) {
  uint32_t i;
  int done = 0, failed = 0;
  /* The dead socket may have been closed behind our back (a closefrom() in the app, say). Make a
   * new one then: socketpair, fcntl and close are all on POSIX's async-signal-safe list. */
  if (entry_count > 0) ensure_dead_socket();
  for (i = 0; i < entry_count; i++) {
    fg_entry* e = &entries[i];
    int flags;
    /* A number that was closed and reused for something else is not ours to touch. */
    if (!same_identity(e->fd, e->dev, e->ino)) continue;
    if (dead_fd < 0) {
      failed++;
      continue;
    }
    flags = fcntl(e->fd, F_GETFD);
    /* dup2, not close: the fd number stays valid for libuv (which still watches it) while this
     * process's reference to the parent's connection is dropped without a byte or a FIN. */
    if (dup2(dead_fd, e->fd) < 0) {
      failed++;
      continue;
    }
    /* dup2 clears FD_CLOEXEC on the new descriptor. */
    fcntl(e->fd, F_SETFD, flags < 0 ? FD_CLOEXEC : (flags | FD_CLOEXEC));
    /* Its identity is now the dead socket's; keep the entry so JS can untrack it as it closes. */
    e->dev = dead_dev;
    e->ino = dead_ino;
    done++;
  }
  if (state_page) {
    state_page[FG_STATE_NEUTRALISED] = (uint32_t)done;
    state_page[FG_STATE_FAILED] = (uint32_t)failed;
  }
  return done;
}

int fg_neutralise_fd(int fd) {
  int flags, rc = FG_OK;
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) return FG_ERR_BAD_FD;
  if (!S_ISSOCK(st.st_mode)) return FG_ERR_NOT_SOCKET;
  lock();
  ensure_dead_socket();
  if (dead_fd < 0) {
    rc = FG_ERR_NO_DEAD_SOCKET;
  } else if (fd != dead_fd) {
    flags = fcntl(fd, F_GETFD);
    if (dup2(dead_fd, fd) < 0) rc = FG_ERR_BAD_FD;
    else fcntl(fd, F_SETFD, flags < 0 ? FD_CLOEXEC : (flags | FD_CLOEXEC));
  }
  unlock();
  return rc;
}

void fg_on_new_process(void) {
  /* Whoever held the lock at fork time does not exist here. */
  registry_lock = 0;
  TEST_FLAGS_CLEAR();
  fg_neutralise_all();
  /* Then every other inherited connection, in the child of a fork() that armed the sweep (sweep.h). */
  if (fg_sweep_armed()) ensure_dead_socket();
  fg_sweep_run(state_page, dead_fd);
  if (state_page) {
    state_page[FG_STATE_PID] = (uint32_t)getpid();
    state_page[FG_STATE_GENERATION] = state_page[FG_STATE_GENERATION] + 1;
  }
  if (canary_ok && canary_page) canary_page[FG_CANARY_TOKEN] = CANARY_TOKEN;
}

int fg_check_canary(void) {
  if (!canary_ok || !canary_page || TEST_IGNORE_CANARY) return 0;
  if (canary_page[FG_CANARY_TOKEN] == CANARY_TOKEN) return 0;
  fg_on_new_process();
  return 1;
}

int fg_check_pid(void) {
  if (!state_page) return 0;
  if (state_page[FG_STATE_PID] == (uint32_t)getpid()) return 0;
  fg_on_new_process();
  return 1;
}
