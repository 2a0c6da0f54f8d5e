/* What a page costs the first time a process touches it, on this machine: the price a forked worker
 * pays for each page of the master's it reads or writes, next to what a fresh process pays to make
 * a page of its own; what the parent pays for each page it writes after a fork (fork(2) made them
 * copy-on-write: a cost of fork(2) that lands in whatever the parent runs next); and both again
 * while parent and child write at the same moment, as a master forking its next worker does while
 * the last one starts. On hardware virtualisation or bare metal a forked child's first read costs
 * nothing (fork copied the page-table entry); on a VM that shadows page tables it traps. Last, the
 * same pages made by one madvise(MADV_POPULATE_WRITE) call (Linux 5.14), a fresh process's and a
 * child's copies: what a page costs without a trap of its own, so what of the above is the trap.
 *   cc -O2 -o first-touch bench/first-touch.c && ./first-touch
 * Prints one JSON line, microseconds per page (bench/run-prefork.mjs records it). */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGES 10240
/* Disjoint parts of the mapping, one per measurement: a page is new to a process only once. */
#define PARENT_AFTER 0             /* [0, 1024): the parent writes, the child waits */
#define CHILD_READ 1024            /* [1024, 3072): the child reads, the parent waits */
#define CHILD_WRITE 3072           /* [3072, 5120): the child writes, the parent waits */
#define BOTH_CHILD 5120            /* [5120, 6656): the child writes while ... */
#define BOTH_PARENT 6656           /* [6656, 8192): ... the parent writes */
#define CHILD_POPULATE 8192        /* [8192, 10240): the child copies them with one call */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static volatile char sink;

/* Microseconds per page to write (or read) pages [from, to) once. */
static double touch(char* p, size_t page, size_t from, size_t to, int write) {
  size_t i;
  double t = now_us();
  for (i = from; i < to; i++) {
    if (write)
      p[i * page] = 2;
    else
      sink += p[i * page];
  }
  return (now_us() - t) / (double)(to - from);
}

/* Microseconds per page to make pages [from, to) writable with one call; -1 where the kernel lacks it. */
static double populate(char* p, size_t page, size_t from, size_t to) {
  double t = now_us();
  if (madvise(p + from * page, (to - from) * page, MADV_POPULATE_WRITE) != 0) return -1;
  return (now_us() - t) / (double)(to - from);
}

static int put(int fd, const void* b, size_t n) { return write(fd, b, n) == (ssize_t)n ? 0 : -1; }
static int get(int fd, void* b, size_t n) { return read(fd, b, n) == (ssize_t)n ? 0 : -1; }

int main(void) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  double fresh_write, fresh_populate, again, parent_after, parent_both, child[4] = {0, 0, 0, 0};
  int to_child[2], to_parent[2];
  char go = 1;
  char* p = mmap(NULL, PAGES * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  char* q = mmap(NULL, PAGES * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED || q == MAP_FAILED || pipe(to_child) != 0 || pipe(to_parent) != 0) return 1;
  fresh_write = touch(p, page, 0, PAGES, 1); /* a fresh process making its pages */
  again = touch(p, page, 0, PAGES, 0);
  /* After `again`: run before it, this step made that read cost 7 us a page here instead of 0.03. */
  fresh_populate = populate(q, page, 0, PAGES);
  munmap(q, PAGES * page);
  pid_t pid = fork();
  if (pid == 0) {
    if (get(to_child[0], &go, 1)) _exit(1); /* the parent's writes first, alone */
    child[0] = touch(p, page, CHILD_READ, CHILD_WRITE, 0);
    child[1] = touch(p, page, CHILD_WRITE, BOTH_CHILD, 1);
    if (put(to_parent[1], &go, 1) || get(to_child[0], &go, 1)) _exit(1);
    child[2] = touch(p, page, BOTH_CHILD, BOTH_PARENT, 1);
    child[3] = populate(p, page, CHILD_POPULATE, PAGES);
    if (put(to_parent[1], child, sizeof(child))) _exit(1);
    _exit(0);
  }
  if (pid < 0) return 1;
  parent_after = touch(p, page, PARENT_AFTER, CHILD_READ, 1);
  if (put(to_child[1], &go, 1) || get(to_parent[0], &go, 1)) return 1;
  if (put(to_child[1], &go, 1)) return 1; /* now both at once */
  parent_both = touch(p, page, BOTH_PARENT, CHILD_POPULATE, 1);
  if (get(to_parent[0], child, sizeof(child))) return 1;
  waitpid(pid, NULL, 0);
  printf("{\"freshProcessWriteUs\":%.2f,\"touchedAgainUs\":%.3f,\"forkedChildFirstReadUs\":%.2f,"
         "\"forkedChildFirstWriteUs\":%.2f,\"parentWriteAfterForkUs\":%.2f,"
         "\"concurrentChildWriteUs\":%.2f,\"concurrentParentWriteUs\":%.2f,"
         "\"freshProcessPopulateUs\":%.2f,\"forkedChildPopulateUs\":%.2f}\n",
         fresh_write, again, child[0], child[1], parent_after, child[2], parent_both, fresh_populate, child[3]);
  return 0;
}
