/* native/dontfork.c on its own, without Node: regions marked MADV_DONTFORK as V8 marks its pages,
 * each alone among holes; four rounds of scan, lend, fork (the child reads every region: one it
 * lacks is a SIGSEGV), restore. Prints one JSON line, a record per round:
 *   0: the first scan reads smaps;
 *   1: nothing changed: the flags are reused;
 *   2: 4 new marked regions (1 MB, under the budget): reused, the new ones lent and left copyable;
 *   3: 96 MB of new marked regions (over the budget): smaps is read again, every one marked.
 * Each round also says whether the memory the scan works in is wipe-on-fork (`wf`).
 *   ./dontfork nested    8 regions (under the budget); the parent scans and forks; the child marks
 *                        its copies do-not-copy again and forks a grandchild the same way. It must
 *                        read smaps itself (what the parent's scans kept is wiped in a child) and get
 *                        its marks back. Prints {"nested": 0}, or what went wrong (20-25).
 *   ./dontfork           as above
 *   ./dontfork no-lend   the same without lending: the children die of SIGSEGV */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../native/core/dontfork.h"

#define PAGE (256 * 1024)
#define MAX 512

static char* regions[MAX];
static int nregions;

/* A 256 KB region marked do-not-copy, a hole after it. */
static void add_regions(int n) {
  int i;
  for (i = 0; i < n && nregions < MAX; i++) {
    char* p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) exit(2);
    munmap(p + PAGE, PAGE);
    memset(p, 0, PAGE);
    p[0] = (char)(nregions + 1);
    madvise(p, PAGE, MADV_DONTFORK);
    regions[nregions++] = p;
  }
}

/* How many of regions[from, to) /proc/self/smaps shows marked `dc`. */
static int marked(int from, int to) {
  FILE* f = fopen("/proc/self/smaps", "r");
  char line[512];
  unsigned long start = 0;
  int n = 0;
  if (!f) exit(3);
  while (fgets(line, sizeof(line), f)) {
    unsigned long a, b;
    if (sscanf(line, "%lx-%lx ", &a, &b) == 2 && strchr(line, '-') < strchr(line, ' ')) {
      start = a;
    } else if (strncmp(line, "VmFlags:", 8) == 0 && strstr(line, " dc")) {
      int i;
      for (i = from; i < to; i++)
        if ((unsigned long)regions[i] == start) n++;
    }
  }
  fclose(f);
  return n;
}

/* Whether the mapping holding `p` has `flag` among its VmFlags. */
static int has_flag(const void* p, const char* flag) {
  FILE* f = fopen("/proc/self/smaps", "r");
  char line[512];
  int inside = 0, found = 0;
  if (!f) exit(3);
  while (fgets(line, sizeof(line), f)) {
    unsigned long a, b;
    if (sscanf(line, "%lx-%lx ", &a, &b) == 2 && strchr(line, '-') < strchr(line, ' ')) {
      inside = (unsigned long)p >= a && (unsigned long)p < b;
    } else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
      found = strstr(line + 8, flag) != NULL;
    }
  }
  fclose(f);
  return found;
}

/* In a child: mark the regions again, scan, lend, fork a grandchild that reads them all, restore.
 * Returns 0, or what went wrong. */
static int nested(void) {
  fg_ranges restore = {NULL, 0, 0}, exact = {NULL, 0, 0}, lend = {NULL, 0, 0};
  fg_scan_info info = {0, 0, 0};
  int i, one_by_one = 0, status = 0;
  pid_t pid;
  for (i = 0; i < nregions; i++) madvise(regions[i], PAGE, MADV_DONTFORK);
  if (fg_scan_dontfork(&restore, &exact, &lend, &info) != 0) return 20;
  if (info.reused) return 21; /* the parent's flags, taken for this process's */
  if (fg_advise_ranges(&lend, 1) != 0) return 22;
  pid = fork();
  if (pid == 0) {
    int sum = 0;
    for (i = 0; i < nregions; i++) sum += regions[i][0] == (char)(i + 1);
    _exit(sum == nregions ? 0 : 1);
  }
  if (fg_restore_marks(&restore, &exact, &info, &one_by_one) != 0) return 23;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 24; /* the grandchild lacked a region */
  if (marked(0, nregions) != nregions) return 25;                /* the child's marks not back */
  return 0;
}

/* ./dontfork nested */
static int nested_mode(void) {
  fg_ranges restore = {NULL, 0, 0}, exact = {NULL, 0, 0}, lend = {NULL, 0, 0};
  fg_scan_info info = {0, 0, 0};
  int status = 0, one_by_one = 0;
  pid_t pid;
  add_regions(8);
  if (fg_scan_dontfork(&restore, &exact, &lend, &info) != 0) return 4;
  fg_advise_ranges(&lend, 1);
  pid = fork();
  if (pid == 0) _exit(nested());
  fg_restore_marks(&restore, &exact, &info, &one_by_one);
  waitpid(pid, &status, 0);
  printf("{\"nested\":%d}\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  return 0;
}

int main(int argc, char** argv) {
  int lending = !(argc > 1 && strcmp(argv[1], "no-lend") == 0);
  int round;
  if (argc > 1 && strcmp(argv[1], "nested") == 0) return nested_mode();
  printf("[");
  add_regions(64);
  for (round = 0; round < 4; round++) {
    int status = 0, failures = 0;
    fg_ranges restore = {NULL, 0, 0}, exact = {NULL, 0, 0}, lend = {NULL, 0, 0};
    fg_scan_info info = {0, 0, 0};
    int one_by_one = 0;
    pid_t pid;
    if (round == 2) add_regions(4);
    if (round == 3) add_regions(384);
    if (fg_scan_dontfork(&restore, &exact, &lend, &info) != 0) return 4;
    if (lending) failures = fg_advise_ranges(&lend, 1);
    pid = fork();
    if (pid == 0) {
      int i, sum = 0;
      for (i = 0; i < nregions; i++) sum += regions[i][0] == (char)(i + 1);
      _exit(sum == nregions ? 0 : 1);
    }
    failures += fg_restore_marks(&restore, &exact, &info, &one_by_one);
    waitpid(pid, &status, 0);
    printf("%s{\"reused\":%d,\"marked\":%zu,\"calls\":%zu,\"failures\":%d,\"child\":%d,\"regions\":%d,"
           "\"oldMarked\":%d,\"newRegions\":%d,\"newMarked\":%d,\"oneByOne\":%d,\"scratchWiped\":%d}",
           round ? "," : "", info.reused, info.marked, restore.count + lend.count, failures,
           WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), nregions, marked(0, 64),
           nregions - (round >= 2 ? 64 : nregions), round >= 2 ? marked(64, nregions) : 0, one_by_one,
           has_flag(restore.ranges, " wf"));
    fg_ranges_free(&restore);
    fg_ranges_free(&exact);
    fg_ranges_free(&lend);
  }
  printf("]\n");
  return 0;
}
