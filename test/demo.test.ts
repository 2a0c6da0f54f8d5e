// The README's main job, `npm run demo`, on the harness's Postgres: it must show the corruption
// unguarded and come out clean guarded (exit code 0).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';

describe('the demo', () => {
  it('shows wrong results or killed sessions unguarded, and a clean guarded run (exit 0)', async () => {
    const pg = inject('pg');
    const run = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, ['--single-threaded', join(__dirname, '..', 'examples', 'demo.mjs')], {
        env: { ...process.env, DATABASE_URL: pg.tcpUrl },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, out });
      });
    });
    expect(run.code, run.out).toBe(0);
    const [unguarded, guarded] = run.out.split('2. Guarded');
    const wrong = /WRONG results\s+(\d+)\s+(\d+)/.exec(unguarded!)!;
    const killed = /parent sessions killed\s+(\d+) of 4/.exec(unguarded!)!;
    expect(Number(wrong[1]) + Number(wrong[2]) + Number(killed[1])).toBeGreaterThan(0);
    expect(guarded).toMatch(/WRONG results\s+0\s+0/);
    expect(guarded).toMatch(/parent sessions killed\s+0 of 4/);
    expect(guarded).toContain('Guarded: no wrong result');
  });
});
