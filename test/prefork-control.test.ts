// Nothing outside the app can steer a prefork() master: another local user (uid 65534) who looks
// for the master's sockets where anyone can (/proc/net/unix) and writes to whatever it finds, a
// forged "ready" and then 300 MB with no newline, changes nothing. The master's control channels
// are socket pairs with no name (src/prefork/channel.ts): there is nothing to find.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Started, startMaster } from './prefork-server.js';

const fixture = join(__dirname, 'fixtures', 'prefork', 'listeners.mjs');
const started = new Started();
afterEach(() => started.killAll());

const NOBODY = 65534;
const READY_DELAY_MS = 3_000;

/** The unix sockets `pid` listens on, as anyone can read them in /proc/net/unix (abstract names
 * with '@' for NUL), less those the app itself opened. */
function listeningUnixSockets(pid: number, appOwn: (name: string) => boolean): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {}
  }
  const out: string[] = [];
  for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
    const [, , , flags, , , inode, name] = line.trim().split(/\s+/);
    const listening = flags !== undefined && (parseInt(flags, 16) & 0x10000) !== 0; // __SO_ACCEPTCON
    if (listening && inode && inodes.has(inode) && name && !appOwn(name)) out.push(name);
  }
  return out;
}

// Run as uid 65534: to every name given, a forged ready for each worker, then 300 MB with no newline.
const attacker = `
const net = require('node:net');
const [names, workers] = [JSON.parse(process.argv[1]), JSON.parse(process.argv[2])];
const chunk = Buffer.alloc(1 << 20, 'x');
const attack = (name) => new Promise((resolve) => {
  const path = name.startsWith('@') ? '\\0' + name.slice(1).replace(/@+$/, '') : name;
  const s = net.connect(path);
  const out = { name, connected: false, forged: 0, flooded: 0, error: null };
  const done = () => { s.destroy(); resolve(out); };
  s.on('error', (e) => { out.error = e.code || e.message; done(); });
  setTimeout(done, 20000);
  s.on('connect', async () => {
    out.connected = true;
    workers.forEach((pid, id) => { s.write(JSON.stringify({ ready: id, pid }) + '\\n'); out.forged++; });
    while (out.flooded < 300 && !s.destroyed) {
      if (!s.write(chunk)) await new Promise((r) => s.once('drain', r));
      out.flooded++;
    }
    done();
  });
});
Promise.all(names.map(attack)).then((r) => { console.log(JSON.stringify(r)); process.exit(0); });
`;

// Another user where the test can be one (CI runs as root); elsewhere another process of this user.
function runAs(uid: number | undefined, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['-e', attacker, ...args], { ...(uid === undefined ? {} : { uid, gid: uid }), stdio: ['ignore', 'pipe', 'pipe'], cwd: '/' });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

describe('prefork(): the control channel', () => {
  it('another user finds nothing to connect to: no forged ready, no flood, the master no bigger', async () => {
    const t0 = Date.now();
    const s = await start();
    const { master, workers, path } = s.info;
    const found = listeningUnixSockets(master, (name) => name === path || name.startsWith('@fg-listeners-'));
    const before = rssKb(master);
    const attack = await runAs(process.getuid?.() === 0 ? NOBODY : undefined, [JSON.stringify(found), JSON.stringify(workers)]);
    expect(attack.code, attack.stderr).toBe(0);
    const ready = await Promise.all([0, 1].map((id) => s.next((l) => l.event === 'ready' && l.id === id)));
    const grownKb = rssKb(master) - before;
    // Each worker was ready when it said so, after options.worker's delay, not when someone else did.
    for (const r of ready) expect(r.at - t0, JSON.stringify({ found, attack: attack.stdout })).toBeGreaterThanOrEqual(READY_DELAY_MS);
    expect(found, attack.stdout).toEqual([]);
    expect(grownKb).toBeLessThan(5 * 1024);
    process.kill(master, 'SIGTERM');
    expect(await s.exited).toBe(0);
  });
});

function start() {
  return startMaster(started, fixture, { READY_DELAY_MS: String(READY_DELAY_MS) }, (l) => l.master !== undefined);
}
