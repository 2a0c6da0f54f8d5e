// prefork() under systemd, with no libsystemd: socket activation (the master serves the sockets
// systemd passes, so a restart of the master refuses no connection) and sd_notify (READY=1 once every
// worker is ready, RELOADING=1/READY=1 around a reload, STOPPING=1). systemd does not run in CI:
// test/fixtures/systemd/fake-systemd.py does what it does for a Type=notify-reload service with a
// .socket unit, and its twin passes no socket (an app that listens on its own port).
import { spawnSync } from 'node:child_process';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Server, Started, sleep, startCommand } from './prefork-server.js';

const fake = join(__dirname, 'fixtures', 'systemd', 'fake-systemd.py');
const app = join(__dirname, 'fixtures', 'systemd', 'app.mjs');
const started = new Started();
afterEach(() => started.killAll());

const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

/** The fake systemd with the app as its service; `socket` false: the twin, where the app listens itself. */
async function supervise(socket: boolean): Promise<{ s: Server; port: number; send(cmd: string): void }> {
  const own = socket ? 0 : await freePort();
  const s = await startCommand(
    started,
    ['python3', fake, socket ? '0' : 'own', process.execPath, '--single-threaded', app],
    { SOCKET: socket ? 'systemd' : 'own', PORT: String(own) },
    (l) => 'port' in l, // its first line: the port it holds, or null
  );
  const port = socket ? s.lines[0].port : own;
  return { s, port, send: (cmd) => s.proc.stdin!.write(`${cmd}\n`) };
}

/** Waits for the first line from index `from` on that `match` accepts; returns its index. */
async function after(s: Server, from: number, match: (l: any) => boolean, ms = 20_000): Promise<number> {
  const deadline = Date.now() + ms;
  for (;;) {
    const i = s.lines.findIndex((l, k) => k >= from && match(l));
    if (i >= 0) return i;
    if (Date.now() > deadline) throw new Error(`no matching line in ${ms} ms; lines ${JSON.stringify(s.lines)}; stderr ${s.stderr()}`);
    await sleep(20);
  }
}
const isNotify = (prefix: string) => (l: any) => typeof l.notify === 'string' && l.notify.startsWith(prefix);

/** The pid that served one request on a new connection, or the error's code. */
function ask(port: number): Promise<number | string> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(JSON.parse(body).pid));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.setTimeout(15_000, () => req.destroy(new Error('timeout')));
  });
}

/** `clients` loops asking one request after another until stop() resolves them all. */
function load(port: number, clients: number) {
  let on = true;
  let slowest = 0;
  const answers: Array<number | string> = [];
  const loops = Array.from({ length: clients }, async () => {
    while (on) {
      const t = Date.now();
      answers.push(await ask(port));
      slowest = Math.max(slowest, Date.now() - t);
    }
  });
  return { answers, slowest: () => slowest, stop: async () => ((on = false), await Promise.all(loops), answers) };
}

/** A restart as `systemctl restart` does it: SIGTERM, wait for the exit, start again; under load. */
async function restartUnderLoad(socket: boolean) {
  const { s, port, send } = await supervise(socket);
  send('start');
  const firstReady = await after(s, 0, isNotify('READY=1'));
  const l = load(port, 8);
  await sleep(500);
  const before = l.answers.length;
  send('term');
  const exited = await after(s, firstReady, (x) => x.exited !== undefined);
  send('start');
  await after(s, exited, isNotify('READY=1'));
  await sleep(500);
  const answers = await l.stop();
  send('quit');
  const failed = answers.filter((a) => typeof a === 'string');
  return { answers, before, failed, slowest: l.slowest(), status: s.lines[exited].status };
}

describe('prefork() under systemd (fake-systemd.py)', () => {
  it('socket activation: a restart of the master under load fails no request; its twin on its own port refuses some', async () => {
    const activated = await restartUnderLoad(true);
    const own = await restartUnderLoad(false);
    console.log(
      `restart under load, 8 clients: socket activation ${activated.answers.length} requests, ${activated.failed.length} failed, ` +
        `slowest ${activated.slowest} ms; ` +
        `own port ${own.answers.length} requests, ${own.failed.length} failed (${[...new Set(own.failed)].join(', ')})`,
    );
    expect(activated.status, 'the master stopped gracefully (exit 0)').toBe(0);
    expect(activated.before, 'requests were served before the restart').toBeGreaterThan(10);
    expect(activated.failed).toEqual([]);
    expect(own.status).toBe(0);
    expect(own.failed.length, 'the twin: without the socket held, a restart refuses connections').toBeGreaterThan(0);
    expect(own.failed.every((f) => f === 'ECONNREFUSED' || f === 'ECONNRESET')).toBe(true);
  });

  it('sd_notify: READY=1 with MAINPID once every worker is ready, RELOADING=1/READY=1 around a reload, STOPPING=1; workers cannot notify', async () => {
    const { s, send } = await supervise(true);
    send('start');
    const master = await after(s, 0, (l) => l.master !== undefined);
    const ready = await after(s, 0, isNotify('READY=1'));
    const info = s.lines[master];
    expect(info.notifySocketLeft, 'NOTIFY_SOCKET is removed: no worker or exec speaks for the service').toBe(null);
    expect(s.lines[ready].notify).toContain(`MAINPID=${info.master}`);
    // Both first workers were ready before READY=1 (each takes 300 ms).
    expect(s.lines.slice(0, ready).filter((l) => l.ready !== undefined)).toHaveLength(2);

    send('hup');
    const reloading = await after(s, ready + 1, isNotify('RELOADING=1'));
    const reloaded = await after(s, reloading, isNotify('READY=1'));
    // Type=notify-reload wants the time of the reload on CLOCK_MONOTONIC: the fake read it on receipt.
    const usec = Number(/MONOTONIC_USEC=(\d+)/.exec(s.lines[reloading].notify)![1]);
    expect(Math.abs(s.lines[reloading].usec - usec)).toBeLessThan(2_000_000);
    // Both workers were replaced before the reload's READY=1.
    expect(s.lines.slice(reloading, reloaded).filter((l) => l.ready !== undefined)).toHaveLength(2);

    send('term');
    const stopping = await after(s, reloaded + 1, isNotify('STOPPING=1'));
    const exited = await after(s, stopping, (l) => l.exited !== undefined);
    expect(s.lines[exited].status).toBe(0);
    // Nothing else reached the notify socket: only the master's reports, in order.
    expect(s.lines.filter((l) => l.notify !== undefined).map((l) => l.notify.split('\n')[0])).toEqual([
      'READY=1',
      'RELOADING=1',
      'READY=1',
      'STOPPING=1',
    ]);
    send('quit');
  });

  // systemdSockets() on its own, in a process per case (it reads the environment once).
  const run = (env: Record<string, string>, code: string, extraFd = false) => {
    // `exec` keeps the shell's pid, so LISTEN_PID=$$ names the node process. fd 3 is a socket or a file.
    const open = extraFd ? '3</dev/null' : '';
    const r = spawnSync('sh', ['-c', `LISTEN_PID=\${LP:-$$} exec ${JSON.stringify(process.execPath)} -e "$CODE" ${open}`], {
      env: { ...process.env, ...env, CODE: `import('${join(__dirname, '..', 'dist', 'index.js')}').then((fg) => { ${code} })` },
      encoding: 'utf8',
    });
    return { out: r.stdout.trim(), err: r.stderr };
  };

  it('systemdSockets(): [] without LISTEN_FDS or when LISTEN_PID names another process; a typed error for a bad count or an fd that is no socket', () => {
    expect(run({}, 'console.log(JSON.stringify(fg.systemdSockets()))').out).toBe('[]');
    // Meant for another process: ignored, and left in the environment for it.
    expect(run({ LP: '1', LISTEN_FDS: '1' }, 'console.log(JSON.stringify([fg.systemdSockets(), process.env.LISTEN_FDS]))').out).toBe('[[],"1"]');
    const bad = run({ LISTEN_FDS: 'two' }, 'try { fg.systemdSockets() } catch (e) { console.log(e.name, e.code, e.message) }');
    expect(bad.out).toMatch(/^PreforkError ERR_FORKGUARD_SYSTEMD_SOCKETS .*LISTEN_FDS is "two"/);
    const notSocket = run({ LISTEN_FDS: '1' }, 'try { fg.systemdSockets() } catch (e) { console.log(e.code, e.message) }', true);
    expect(notSocket.out).toMatch(/^ERR_FORKGUARD_SYSTEMD_SOCKETS .*fd 3 is not an open socket/);
  });
});
