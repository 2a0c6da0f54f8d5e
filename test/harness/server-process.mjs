// What the harness does with each server it starts as a process of its own (PgBouncer, redis-server,
// MariaDB): find its binary, wait for its port, and stop it (SIGTERM, then SIGKILL after a grace
// period) and remove its directory, once.
import { existsSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { delimiter, join } from 'node:path';

export function findBinary(name, extra = ['/usr/sbin', '/usr/local/sbin']) {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), ...extra]) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return null;
}

export async function waitForPort(port, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const up = await new Promise((resolve) => {
      const s = createConnection(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/** stop() for a server process: `exited` settles when it exits; `dir` is removed after. Idempotent. */
export function stopper(child, exited, dir, graceMs) {
  let stopped = false;
  return async () => {
    if (stopped) return;
    stopped = true;
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs))]);
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
}
