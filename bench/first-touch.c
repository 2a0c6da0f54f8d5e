/* What a page costs the first time a process touches it, on this machine: the price a forked worker
 * pays for each page of the master's it reads or writes, next to what a fresh process pays to make
 * a page of its own. On hardware virtualisation or bare metal a forked child's first read costs
 * nothing (fork copied the page-table entry); on a VM that shadows page tables it traps.
 *   cc -O2 -o first-touch bench/first-touch.c && ./first-touch
 * Prints one JSON line, microseconds per page (bench/run-prefork.mjs records it). */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGES 8192

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

int main(void) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE), i;
  volatile char sink = 0;
  double t, fresh_write, again;
  int fds[2];
  char* p = mmap(NULL, PAGES * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED || pipe(fds) != 0) return 1;
  t = now_us();
  for (i = 0; i < PAGES; i++) p[i * page] = 1; /* a fresh process making its pages */
  fresh_write = (now_us() - t) / PAGES;
  t = now_us();
  for (i = 0; i < PAGES; i++) sink += p[i * page];
  again = (now_us() - t) / PAGES;
  pid_t pid = fork();
  if (pid == 0) {
    double r[2];
    t = now_us();
    for (i = 0; i < PAGES / 2; i++) sink += p[i * page]; /* the child's first read */
    r[0] = (now_us() - t) / (PAGES / 2);
    t = now_us();
    for (i = PAGES / 2; i < PAGES; i++) p[i * page] = 2; /* the child's first write: a copy */
    r[1] = (now_us() - t) / (PAGES / 2);
    if (write(fds[1], r, sizeof(r)) != sizeof(r)) _exit(1);
    _exit(0);
  }
  double r[2] = {0, 0};
  if (pid < 0 || read(fds[0], r, sizeof(r)) != sizeof(r)) return 1;
  waitpid(pid, NULL, 0);
  printf("{\"freshProcessWriteUs\":%.2f,\"touchedAgainUs\":%.3f,\"forkedChildFirstReadUs\":%.2f,"
         "\"forkedChildFirstWriteUs\":%.2f}\n",
         fresh_write, again, r[0], r[1]);
  (void)sink;
  return 0;
}
