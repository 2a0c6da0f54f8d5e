// The one place that wires the parts together, in one stated order, whichever entry point loaded
// the package (src/index.ts, src/register.ts). No other module registers anything when imported:
// each exports what it does, and this module decides when and in what order it runs.
//
// At load, in this order:
//   1. Heap placement (runtime/heap-placement.ts): in a process that will fork, V8's next heap
//      pages land together. First, so that what the app builds after the import forks cheaper.
//   2. The runtime is started with its collaborators (runtime/state.ts). Nothing is armed yet: the
//      atfork handler and the loop hook are installed by the first guard(), addResettable() or fork().
//      In every new process, before its loop first polls, it runs, in this order:
//        a. the fork runtime's own: the parent's children are forgotten (runtime/fork.ts), and the
//           socket objects of every connection the child's sweep neutralised are closed
//           (runtime/swept-sockets.ts), so that each library's next call opens a new one;
//        b. the reset list: every guarded pool and client, then every addResettable() pool, in the
//           order they were guarded or registered (guard/reset-list.ts), so that they let go of
//           the parent's connections before any code of the app's runs; then undici's and fetch()'s
//           requests of the parent's fail here (clients/undici.ts);
//        c. the onFork 'child' hooks, in registration order (runtime/fork.ts): they run last, when
//           the pools are already the child's own.
//      When a fork() child's loop drains, runtime/exit.ts leaves the process.
//   3. Worker threads started from now on are counted (fork() refuses while one is alive).
//   4. NODE_DEBUG=pgforkguard: the text log subscribes to the diagnostics channels.
import { resetUndici } from './clients/undici.js';
import { resetAll } from './guard/reset-list.js';
import { childLoopDrained } from './runtime/exit.js';
import { countWorkerThreads, forgetParentsChildren, runChildHooks } from './runtime/fork.js';
import { placeHeap } from './runtime/heap-placement.js';
import { closeSweptSockets } from './runtime/swept-sockets.js';
import { startRuntime } from './runtime/state.js';
import { writeDebugLog } from './shared/diagnostics.js';

let wired = false;

/** Wires the package, once per process; every entry point calls it first. */
export function wire(): void {
  if (wired) return;
  wired = true;
  placeHeap();
  startRuntime({
    newProcess: [
      { what: 'fork runtime reset', run: forgetParentsChildren },
      { what: 'swept sockets closed', run: closeSweptSockets },
      { what: 'pool reset', run: resetAll },
      { what: 'undici reset', run: resetUndici },
      { what: "onFork 'child' hook", run: runChildHooks },
    ],
    drained: childLoopDrained,
  });
  countWorkerThreads();
  writeDebugLog();
}
