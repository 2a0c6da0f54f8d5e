// How much memory a prefork master and its workers use, and how much of it they share: what the
// copy-on-write saving is, read the way the kernel counts it. /proc/<pid>/smaps_rollup (Linux 4.14+)
// sums every mapping of a process in one read: PSS charges each shared page to the processes
// sharing it in equal parts, so the PSS of the master and its workers adds up to what they hold
// together; Private_Dirty is what a process wrote that no other holds (its own heap growth, and the
// shared pages it copied by writing to them); shared is what it still holds in common with another.
import { readFileSync } from 'node:fs';

export interface ProcessMemory {
  pid: number;
  /** Resident set: every page the process has in RAM, shared or not (bytes). */
  rss: number;
  /** Proportional set size: its own pages, plus its share of each shared page (bytes). */
  pss: number;
  /** Pages it wrote that no other process holds (bytes). */
  privateDirty: number;
  /** Pages it holds in common with another process, clean or dirty (bytes). */
  shared: number;
}

const FIELDS = { Rss: 'rss', Pss: 'pss', Private_Dirty: 'privateDirty', Shared_Clean: 'shared', Shared_Dirty: 'shared' } as const;

/** One process's memory, or undefined if it is gone (or this kernel has no smaps_rollup). */
export function processMemory(pid: number): ProcessMemory | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps_rollup`, 'latin1');
  } catch {
    return undefined;
  }
  const m: ProcessMemory = { pid, rss: 0, pss: 0, privateDirty: 0, shared: 0 };
  for (const line of text.split('\n')) {
    const match = /^(\w+):\s+(\d+) kB$/.exec(line);
    const field = match ? FIELDS[match[1] as keyof typeof FIELDS] : undefined;
    if (field) m[field] += Number(match![2]) * 1024;
  }
  return m;
}

export interface WorkerMemory extends ProcessMemory {
  id: number;
}

/** What master.memory() returns. */
export interface PreforkMemory {
  /** When it was read (Date.now()). */
  at: number;
  master: ProcessMemory | undefined;
  workers: WorkerMemory[];
  /** The mold new workers are forked from after a refork (mold.ts), while there is one. */
  mold?: ProcessMemory;
  /** The PSS of the master, every worker and the mold: what they hold together (bytes). */
  totalPss: number;
}

/** Reads the master's memory and each worker's (a worker gone meanwhile is left out). */
export function preforkMemory(workers: Array<{ id: number; pid: number }>, moldPid = 0): PreforkMemory {
  const master = processMemory(process.pid);
  const out: WorkerMemory[] = [];
  for (const w of workers) {
    const m = w.pid > 0 ? processMemory(w.pid) : undefined;
    if (m) out.push({ id: w.id, ...m });
  }
  const mold = moldPid > 0 ? processMemory(moldPid) : undefined;
  const totalPss = (master?.pss ?? 0) + (mold?.pss ?? 0) + out.reduce((sum, w) => sum + w.pss, 0);
  return { at: Date.now(), master, workers: out, ...(mold ? { mold } : {}), totalPss };
}
