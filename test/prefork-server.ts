// A prefork() master started from a test as an operator would start it: its own process group (so
// that whatever is left can be killed), stdout read as one JSON line per event. The test process
// never forks.
import { type ChildProcess, spawn } from 'node:child_process';
import { get } from 'node:http';

export interface Server {
  proc: ChildProcess;
  /** The master's first line that the start's `isInfo` accepted. */
  info: any;
  lines: any[];
  stderr: () => string;
  exited: Promise<number | null>;
  /** Resolves with the first line (after those already seen) that `match` accepts. */
  next(match: (l: any) => boolean, ms?: number): Promise<any>;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Waits up to `ms` for every pid to be gone; returns those still alive. */
export async function gone(pids: number[], ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && pids.some(alive)) await sleep(50);
  return pids.filter(alive);
}

/** The masters a test file started; killAll() in afterEach. */
export class Started {
  private procs: ChildProcess[] = [];
  add(proc: ChildProcess): void {
    this.procs.push(proc);
  }
  killAll(): void {
    for (const p of this.procs.splice(0)) {
      try {
        process.kill(-p.pid!, 'SIGKILL');
      } catch {}
    }
  }
}

/** Starts `fixture` under `node --single-threaded` and waits for its first line that `isInfo` accepts. */
export function startMaster(
  started: Started,
  fixture: string,
  env: Record<string, string>,
  isInfo: (line: any) => boolean,
): Promise<Server> {
  return startCommand(started, [process.execPath, '--single-threaded', fixture], env, isInfo, 'ignore');
}

/** Starts any command that prints one JSON line per event (a master, or a supervisor of one). */
export async function startCommand(
  started: Started,
  argv: string[],
  env: Record<string, string>,
  isInfo: (line: any) => boolean,
  stdin: 'ignore' | 'pipe' = 'pipe',
): Promise<Server> {
  const proc = spawn(argv[0]!, argv.slice(1), {
    env: { ...process.env, ...env },
    stdio: [stdin, 'pipe', 'pipe'],
    detached: true, // its own process group: killAll() can kill whatever is left
  });
  started.add(proc);
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  const lines: any[] = [];
  const waiters: Array<() => void> = [];
  let buf = '';
  proc.stdout!.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buf.slice(0, nl)));
      buf = buf.slice(nl + 1);
      for (const w of waiters.splice(0)) w();
    }
  });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const next = async (match: (l: any) => boolean, ms = 20_000) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = lines.find(match);
      if (hit) return hit;
      if (Date.now() > deadline) throw new Error(`no matching line in ${ms} ms; lines ${JSON.stringify(lines)}; stderr ${stderr}`);
      await Promise.race([new Promise<void>((r) => waiters.push(r)), sleep(100)]);
    }
  };
  const info = await next(isInfo);
  return { proc, info, lines, stderr: () => stderr, exited, next };
}

/** One answer of httpLoad(): the status (or the connection error's code), the parsed body, when. */
export interface Answer {
  path: string;
  status: number | string;
  body: any;
  at: number;
}

/** One request on a new connection: its answer, or the connection error's code. */
export function httpGet(port: number, path: string): Promise<Answer> {
  return (
    new Promise((resolve) => {
      const req = get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          let body: any = text;
          try {
            body = JSON.parse(text);
          } catch {}
          resolve({ path, status: res.statusCode!, body, at: Date.now() });
        });
        res.on('error', (err: NodeJS.ErrnoException) => resolve({ path, status: err.code ?? err.message, body: null, at: Date.now() }));
      });
      req.on('error', (err: NodeJS.ErrnoException) => resolve({ path, status: err.code ?? err.message, body: null, at: Date.now() }));
      req.setTimeout(15_000, () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    })
  );
}

/**
 * `clients` loops, each making one request after another on a new connection (no keep-alive), to
 * `pathFor(n)` for n = 0, 1, 2, ... across all of them, until stop() resolves with every answer.
 */
export function httpLoad(port: number, clients: number, pathFor: (n: number) => string) {
  let on = true;
  let n = 0;
  const answers: Answer[] = [];
  const one = (path: string) => httpGet(port, path);
  const loops = Array.from({ length: clients }, async () => {
    while (on) answers.push(await one(pathFor(n++)));
  });
  return {
    answers,
    stop: async (): Promise<Answer[]> => {
      on = false;
      await Promise.all(loops);
      return answers;
    },
  };
}
