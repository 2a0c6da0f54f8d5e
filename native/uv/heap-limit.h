// Heap placement's reservation (core/heap-placement.h) gives way to a limit on address space set on
// the running process (`prlimit --as`, as supervisors do): the limit counts the reservation whole,
// so under it the next mapping anyone makes fails and V8 aborts. Two unref'd handles read RLIMIT_AS
// around every poll, a prepare before it and a check right after it (before the next turn's timers),
// and give the reservation back once the limit is finite. What still runs before them after a
// limit lands mid-sleep (the I/O callbacks of the poll that wakes) allocates in V8's young space,
// which maps nothing new; docs/caveats.md says what is left.
#ifndef PG_FORKGUARD_HEAP_LIMIT_H
#define PG_FORKGUARD_HEAP_LIMIT_H

#include <uv.h>

// Starts the watch once, on the main loop, while a reservation is held; it stops itself after the release.
void fg_heap_limit_watch(uv_loop_t* loop);

#endif
