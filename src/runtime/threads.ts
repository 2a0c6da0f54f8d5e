// The threads alive at fork(), counted from the kernel (/proc/self/task), not from events: a thread
// that some code started without telling anyone (a module.register() hooks thread, a native addon's)
// does not exist in the child, and whatever it held or was about to answer is lost there. The child
// of a process whose ESM loader hooks run on their own thread (module.register(): tsx, OpenTelemetry's
// loader) hangs at its first import(), waiting for a thread it does not have.
//
// Node's own threads are known by count, because Node 20 names them all "node": the main thread,
// V8's platform workers (--v8-pool-size, 4 by default; idle under --single-threaded), the delayed
// task scheduler, the inspector's signal thread (in builds with the inspector), and libuv's
// threadpool (counted natively: native/uv/threadpool-size.h). Anything beyond that is not known to
// be safe. Node 22 and later name most threads, which the refusal then quotes.
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { native } from '../seams/addon.js';

export interface ThreadCensus {
  alive: number;
  known: number;
  tids: string[];
}

function v8PoolSize(): number {
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  let size = 4;
  for (const f of flags) {
    const m = /^--v8-pool-size=(\d+)$/.exec(f);
    if (m) size = Number(m[1]);
  }
  // 0: Node picks one from the parallelism it estimates.
  return size === 0 ? availableParallelism() : size;
}

// Under qemu-user (an arm64 Node on an x64 host: test/arm64.test.ts), the emulator runs one thread
// of its own (its RCU thread), safe across fork: qemu handles fork itself. Every thread there is
// named after the emulator. Read once.
let emulator: number | undefined;
function emulatorThreads(): number {
  if (emulator === undefined) {
    let comm = '';
    try {
      comm = readFileSync('/proc/self/comm', 'utf8');
    } catch {
      // no /proc: the census is not taken anyway
    }
    emulator = comm.startsWith('qemu-') ? 1 : 0;
  }
  return emulator;
}

/** The census, or undefined when it cannot be taken (no /proc, or a threadpool it cannot count). */
export function threadCensus(): ThreadCensus | undefined {
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return undefined;
  }
  const pool = native.threadpoolThreadsAlive();
  if (pool < 0) return undefined;
  const inspectorThread = process.features.inspector ? 1 : 0;
  return { alive: tids.length, known: 1 + v8PoolSize() + 1 + inspectorThread + pool + emulatorThreads(), tids };
}

// Names Node gives its own threads (22 and later), and libuv its pool's (1.50 and later).
const NODE_OWN = /^(node|(node-)?MainThread|(node-)?V8Worker|DelayedTaskSche|SignalInspector|libuv-worker)$/;

/** Why a census with threads beyond Node's own refuses, for the error's message. */
export function describeExtraThreads(c: ThreadCensus): string {
  const extra = c.alive - c.known;
  // Names are read only for a refusal: a fork that goes ahead pays one readdir.
  const threads = c.tids.map((tid) => {
    let name = '?';
    try {
      name = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
    } catch {
      // it ended meanwhile
    }
    return `${tid} ${name}`;
  });
  const named = threads.filter((t) => !NODE_OWN.test(t.split(' ')[1] ?? ''));
  const which = named.length > 0 ? `: ${named.join(', ')}` : ` (Node's threads are all named "node" here; alive: ${threads.length})`;
  const hooks =
    named.some((t) => t.endsWith(' WorkerThread')) || /--(import|loader|experimental-loader)\b/.test([...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' '))
      ? ' If ESM loader hooks are registered with module.register() (tsx, OpenTelemetry\'s loader), they run on a thread ' +
        'of their own and the child would hang at its first import(): register them with module.registerHooks() ' +
        '(Node 22.15+, 23.5+), which runs them on the main thread.'
      : '';
  return `${extra} thread(s) beyond Node's own are alive${which}; the child would have none of them, nor anything they hold.${hooks}`;
}
