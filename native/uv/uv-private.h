// Every private libuv field pg-forkguard reads or writes, and nothing else. libuv documents these
// fields as private: they are read here because fork() has to know what the loop and threadpool are
// doing at the instant of the fork, and libuv has no API for it. So they sit behind one header that
// knows which libuv versions it was written against:
//   - at build time, the headers must be libuv 1.x with x in the known range (UV_VERSION_*);
//   - at load time, the libuv this Node runs (uv_version()) must be in that range too: a prebuilt
//     addon meets libuvs its build never saw. Outside it, fg_uv_layout_known() is false and fork()
//     refuses with a typed error naming the version; nothing here is read.
// The range is the libuvs whose layout and semantics of these fields were checked: 1.46 (Node 20)
// to 1.52 (Node 26). A new libuv is added after running the suite (npm run test:node) on it.
#ifndef PG_FORKGUARD_UV_PRIVATE_H
#define PG_FORKGUARD_UV_PRIVATE_H

#include <stddef.h>
#include <stdlib.h>
#include <uv.h>

#define FG_UV_KNOWN_MAJOR 1
#define FG_UV_KNOWN_MIN_MINOR 46
#define FG_UV_KNOWN_MAX_MINOR 52

#if UV_VERSION_MAJOR != FG_UV_KNOWN_MAJOR
#error "pg-forkguard reads private fields of libuv 1.x; these headers are another major version"
#endif

#define FG_UV_HEADERS_KNOWN \
  (UV_VERSION_MINOR >= FG_UV_KNOWN_MIN_MINOR && UV_VERSION_MINOR <= FG_UV_KNOWN_MAX_MINOR)

// The running libuv's version. The test build can be told another (PG_FORKGUARD_TEST_UV_VERSION,
// as 0xMMmmpp), to show what fork() does on a libuv it does not know.
inline unsigned fg_uv_runtime_version() {
#ifdef FG_TEST_BUILD
  const char* v = getenv("PG_FORKGUARD_TEST_UV_VERSION");
  if (v && *v) return unsigned(strtoul(v, nullptr, 0));
#endif
  return uv_version();
}

// Whether both the headers this was built with and the running libuv are in the known range.
inline bool fg_uv_layout_known() {
  unsigned v = fg_uv_runtime_version();
  unsigned major = (v >> 16) & 0xff, minor = (v >> 8) & 0xff;
  return FG_UV_HEADERS_KNOWN && major == FG_UV_KNOWN_MAJOR && minor >= FG_UV_KNOWN_MIN_MINOR &&
         minor <= FG_UV_KNOWN_MAX_MINOR;
}

// loop->active_reqs.count: threadpool requests the loop waits for (what keeps it alive).
inline unsigned fg_uv_active_reqs(const uv_loop_t* loop) { return loop->active_reqs.count; }
inline void fg_uv_set_active_reqs(uv_loop_t* loop, unsigned n) { loop->active_reqs.count = n; }

// loop->wq_mutex: taken by a threadpool thread that completes work, around its wq_async send.
inline void fg_uv_wq_lock(uv_loop_t* loop) { uv_mutex_lock(&loop->wq_mutex); }
inline void fg_uv_wq_unlock(uv_loop_t* loop) { uv_mutex_unlock(&loop->wq_mutex); }
// In a fork child: its owner (this thread, before the fork) took it; a fresh one replaces it.
inline void fg_uv_wq_reinit(uv_loop_t* loop) { uv_mutex_init(&loop->wq_mutex); }

// loop->wq: completed threadpool work waiting for the loop to run its `done` callback. Calls
// fn(work's done function, work, arg) for each; returns how many there are. Hold wq_mutex.
typedef void (*fg_uv_work_fn)(void* done, const void* work, void* arg);
inline unsigned fg_uv_each_completed(uv_loop_t* loop, fg_uv_work_fn fn, void* arg) {
  unsigned n = 0;
  for (struct uv__queue* q = loop->wq.next; q != &loop->wq; q = q->next) {
    const struct uv__work* w =
        reinterpret_cast<const struct uv__work*>(reinterpret_cast<char*>(q) - offsetof(struct uv__work, wq));
    if (fn) fn(reinterpret_cast<void*>(w->done), w, arg);
    n++;
  }
  return n;
}
// Makes sure the loop hears of completed work (a child whose wake-up byte went to the parent).
inline void fg_uv_wake_for_completed(uv_loop_t* loop) {
  if (loop->wq.next != &loop->wq) uv_async_send(&loop->wq_async);
}

// The threadpool work of a DNS request: how libuv marks it (its `done`), and which it is.
inline void* fg_uv_getaddrinfo_done(const uv_getaddrinfo_t* r) { return reinterpret_cast<void*>(r->work_req.done); }
inline void* fg_uv_getnameinfo_done(const uv_getnameinfo_t* r) { return reinterpret_cast<void*>(r->work_req.done); }
inline const void* fg_uv_getaddrinfo_work(const uv_getaddrinfo_t* r) { return &r->work_req; }
inline const void* fg_uv_getnameinfo_work(const uv_getnameinfo_t* r) { return &r->work_req; }

// A uv_work_t's completion, which the loop thread runs (uv__work_done) in place of libuv's own
// (uv__queue_done, which uncounts the request and calls after_work): replaced by Fn(req).
template <void (*Fn)(uv_work_t*)>
inline void fg_uv_set_work_done(uv_work_t* req) {
  req->work_req.done = [](struct uv__work* w, int) {
    Fn(reinterpret_cast<uv_work_t*>(reinterpret_cast<char*>(w) - offsetof(uv_work_t, work_req)));
  };
}

// After uv_loop_fork(): every watcher registers anew, with EPOLL_CTL_ADD, on the child's new epoll.
// uv_loop_fork() resets `events` only for watchers with no change queued at the fork; a queued one
// keeps the parent's registration and gets EPOLL_CTL_MOD on an epoll that never saw its fd:
// ENOENT, and libuv aborts (seen on libuv 1.52, whose epoll_ctl goes through io_uring: a child
// forked while a pool reconnects during a Postgres restart died of SIGABRT 2 times in 8).
inline void fg_uv_forget_registrations(uv_loop_t* loop) {
  for (unsigned i = 0; i < loop->nwatchers; i++) {
    uv__io_t* w = loop->watchers[i];
    if (w != nullptr) w->events = 0;
  }
}

// An async handle sent but not yet delivered: `pending` set, and the busy counter libuv keeps in
// handle->u.fd while a send is in progress.
inline bool fg_uv_async_pending(const uv_async_t* a) {
  return a->pending != 0 || reinterpret_cast<const uv_handle_t*>(a)->u.fd != 0;
}
inline void fg_uv_async_clear(uv_async_t* a) {
  a->pending = 0;
  reinterpret_cast<uv_handle_t*>(a)->u.fd = 0;
}

// pipe->pipe_fname: the path a bound uv_pipe_t listens on, which uv_close() unlinks
// (uv__pipe_close). Forgotten, the file stays when the handle closes: prefork()'s master closes the
// app's unix-socket servers so that only workers accept, and the workers serve the same socket from
// copies of its fd. The string is left allocated (a few bytes once per listener): it was made by
// libuv's allocator, and only libuv may free it.
inline const char* fg_uv_pipe_path(const uv_pipe_t* p) { return p->pipe_fname; }
inline void fg_uv_forget_pipe_path(uv_pipe_t* p) { p->pipe_fname = nullptr; }

#endif
