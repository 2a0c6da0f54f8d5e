#define _GNU_SOURCE
#include "adopt.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

pid_t fg_fork_for_adoption(void) {
#if defined(__linux__) && defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return -1;
  pid_t mid = fork();
  if (mid < 0) {
    int e = errno;
    close(p[0]);
    close(p[1]);
    errno = e;
    return -1;
  }
  if (mid == 0) {
    /* The intermediate: only this thread exists, and every atfork handler has run. It tells the
     * caller the grandchild's pid (or -errno) and leaves without running anything of the app's. */
    pid_t g = _Fork();
    if (g != 0) {
      int msg = g > 0 ? (int)g : -errno;
      ssize_t n;
      do n = write(p[1], &msg, sizeof msg);
      while (n < 0 && errno == EINTR);
      _exit(0);
    }
    close(p[0]);
    close(p[1]);
    return 0;
  }
  close(p[1]);
  int msg = -EPIPE;
  ssize_t n;
  do n = read(p[0], &msg, sizeof msg);
  while (n < 0 && errno == EINTR);
  close(p[0]);
  if (n != (ssize_t)sizeof msg) msg = -EPIPE;
  /* Reaped here, so that when the caller returns the grandchild has been adopted already. */
  pid_t got;
  do got = waitpid(mid, NULL, 0);
  while (got < 0 && errno == EINTR);
  if (msg < 0) {
    errno = -msg;
    return -1;
  }
  return (pid_t)msg;
#else
  errno = ENOTSUP;
  return -1;
#endif
}

int fg_set_child_subreaper(int on) {
#if defined(__linux__) && defined(PR_SET_CHILD_SUBREAPER)
  return prctl(PR_SET_CHILD_SUBREAPER, on ? 1 : 0, 0, 0, 0) == 0 ? 0 : -errno;
#else
  (void)on;
  return -ENOTSUP;
#endif
}

/* One byte of data and room for one fd: what fg_send_fd sends and fg_recv_fd reads. */
struct fd_message {
  char byte;
  struct iovec iov;
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr m;
};

static void fd_message_init(struct fd_message* f) {
  memset(f, 0, sizeof *f);
  f->byte = 'F';
  f->iov.iov_base = &f->byte;
  f->iov.iov_len = 1;
  f->m.msg_iov = &f->iov;
  f->m.msg_iovlen = 1;
  f->m.msg_control = f->u.buf;
  f->m.msg_controllen = sizeof f->u.buf;
}

int fg_send_fd(int sock, int fd) {
  struct fd_message f;
  fd_message_init(&f);
  struct cmsghdr* c = CMSG_FIRSTHDR(&f.m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  ssize_t n;
  do n = sendmsg(sock, &f.m, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n == 1 ? 0 : n < 0 ? -errno : -EIO;
}

int fg_recv_fd(int sock) {
  struct fd_message f;
  fd_message_init(&f);
  ssize_t n;
  do n = recvmsg(sock, &f.m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;
  if (n == 0) return -EPIPE;
  struct cmsghdr* c = CMSG_FIRSTHDR(&f.m);
  if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int))) {
    return -EBADMSG;
  }
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return fd;
}
