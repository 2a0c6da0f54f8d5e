/* The condvar reset on its own, without Node: threads sleep on a condvar, the process forks, and
 * the child signals it more times than there were sleepers. Prints one JSON line.
 *   ./condvars reset    the child re-initialises what fg_find_sleeping_condvars found
 *   ./condvars none     it does not (on glibc 2.25-2.40 the child hangs in pthread_cond_signal)
 *   ./condvars lookalike  a sem_wait sleeper among condvar-like words: found 0, memory intact */
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../native/core/condvars.h"

#define SLEEPERS 4

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv;
static int released;

static void* sleeper(void* arg) {
  pthread_mutex_lock(&mu);
  while (!released) pthread_cond_wait(&cv, &mu);
  pthread_mutex_unlock(&mu);
  return arg;
}

/* A lookalike: a thread asleep in sem_wait on a word that sits where a condvar's __g_signals[0]
 * would, after words that say what a condvar's sleeping waiter leaves (__g_refs[0] = 2,
 * __wrefs = 8). It is no condvar: a child must find it untouched. */
static struct {
  uint32_t before[10];
  sem_t sem;
} __attribute__((aligned(8))) lookalike;

static void* sem_sleeper(void* arg) {
  sem_wait(&lookalike.sem);
  return arg;
}

static int lookalike_case(void) {
  pthread_t t;
  int found, status = 0;
  pid_t pid;
  unsigned char copy[sizeof(lookalike)];
  lookalike.before[4] = 2; /* __g_refs[0]: one waiter of group 0 */
  lookalike.before[9] = 8; /* __wrefs: one waiter */
  sem_init(&lookalike.sem, 0, 0);
  pthread_create(&t, NULL, sem_sleeper, NULL);
  usleep(200 * 1000);
  found = fg_find_sleeping_condvars(NULL, 0);
  memcpy(copy, &lookalike, sizeof(copy));
  pid = fork();
  if (pid == 0) {
    fg_reset_sleeping_condvars();
    _exit(memcmp(copy, &lookalike, sizeof(copy)) == 0 ? 0 : 3);
  }
  waitpid(pid, &status, 0);
  sem_post(&lookalike.sem);
  pthread_join(t, NULL);
  printf("{\"found\":%d,\"intact\":%s}\n", found, WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "true" : "false");
  return 0;
}

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "lookalike") == 0) return lookalike_case();
  int reset = argc > 1 && strcmp(argv[1], "reset") == 0;
  pthread_condattr_t attr;
  pthread_t threads[SLEEPERS];
  int i, found, status = 0;
  pid_t pid;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* as libuv's uv_cond_init does */
  pthread_cond_init(&cv, &attr);
  for (i = 0; i < SLEEPERS; i++) pthread_create(&threads[i], NULL, sleeper, NULL);
  usleep(200 * 1000); /* every sleeper is in pthread_cond_wait */
  /* What a worker pool looks like after one task: the signal opens a group (G1) of the sleepers,
   * wakes one, and that one sleeps again in the other group (G2). A child that later signals past
   * G1 must switch groups, and glibc waits for G1's sleepers to leave first: forever. */
  pthread_cond_signal(&cv);
  usleep(200 * 1000);
  found = fg_find_sleeping_condvars(NULL, 0);
  pid = fork();
  if (pid == 0) {
    if (reset) fg_reset_sleeping_condvars();
    alarm(3); /* a hang ends as SIGALRM */
    for (i = 0; i < 2 * SLEEPERS; i++) pthread_cond_signal(&cv);
    _exit(0);
  }
  waitpid(pid, &status, 0);
  pthread_mutex_lock(&mu);
  released = 1;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
  for (i = 0; i < SLEEPERS; i++) pthread_join(threads[i], NULL);
  printf("{\"found\":%d,\"exited\":%s,\"code\":%d,\"signal\":%d}\n", found, WIFEXITED(status) ? "true" : "false",
         WIFEXITED(status) ? WEXITSTATUS(status) : -1, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  return 0;
}
