// examples/prefork-http under load: a master, 2 forked workers sharing its listening socket, one
// guarded pool object. Requests over loopback must all come back right, from both workers; a
// killed worker is replaced; SIGTERM stops everything.
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';

function get(agent: Agent, port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.setTimeout(5_000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

async function load(port: number, total: number, concurrency: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const out = { ok: 0, wrong: 0, errors: [] as string[], workers: new Set<number>() };
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const n = next++;
        try {
          const r = await get(agent, port, `/square/${n}`);
          const j = r.status === 200 ? JSON.parse(r.body) : null;
          if (j && j.n === n && j.square === n * n) {
            out.ok++;
            out.workers.add(j.worker);
          } else out.wrong++;
        } catch (e) {
          out.errors.push((e as Error).message);
        }
      }
    }),
  );
  agent.destroy();
  return out;
}

describe('examples/prefork-http', () => {
  it('its workers serve 2000 requests with 0 errors; a killed worker is replaced; SIGTERM stops all', async () => {
    const pg = inject('pg');
    const server = spawn(process.execPath, ['--single-threaded', join(__dirname, '..', 'examples', 'prefork-http', 'server.mjs')], {
      env: { ...process.env, DATABASE_URL: pg.tcpUrl, PORT: '0', WORKERS: '2' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    server.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => server.on('exit', (code) => resolve(code)));
    try {
      const first = await new Promise<string>((resolve, reject) => {
        let buf = '';
        server.stdout.on('data', (d) => {
          buf += d;
          if (buf.includes('\n')) resolve(buf.split('\n')[0]!);
        });
        setTimeout(() => reject(new Error(`no start line; stderr: ${stderr}`)), 20_000);
      });
      const info = JSON.parse(first) as { port: number; master: number; workers: number[] };
      expect(info.workers).toHaveLength(2);

      const a = await load(info.port, 2000, 16);
      expect(a.errors).toEqual([]);
      expect(a.wrong).toBe(0);
      expect(a.ok).toBe(2000);
      // Answered by the workers only (the master closed its copy of the listening socket). Which
      // worker accepts is the kernel's choice: often one takes nearly everything.
      for (const w of a.workers) expect(info.workers).toContain(w);

      // The busiest worker dies: the master starts another, and service goes on.
      const victim = [...a.workers][0]!;
      process.kill(victim, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 500));
      expect(stderr).toContain(`worker ${victim} exited`);
      const b = await load(info.port, 500, 8);
      expect(b.errors).toEqual([]);
      expect(b.ok).toBe(500);
      expect(b.workers.size).toBeGreaterThan(0);
      expect(b.workers.has(victim)).toBe(false);

      process.kill(info.master, 'SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      server.kill('SIGKILL');
    }
  }, 90_000);
});
