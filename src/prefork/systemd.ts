// systemd, without libsystemd: the sockets it passes (socket activation, sd_listen_fds(3)) and the
// state a Type=notify service reports (sd_notify(3)). Both protocols are a few environment variables
// and one datagram, documented as stable interfaces by systemd; docs/prefork.md has a unit file.
//
// Why socket activation matters to a pre-fork server: systemd holds the listening socket, so while
// the master restarts, connections wait in its backlog instead of being refused.
import { fstatSync } from 'node:fs';
import { PreforkError } from '../shared/errors.js';
import { native } from '../seams/addon.js';

/** A socket systemd passed, ready for `server.listen(socket)` (Node accepts `{ fd }`). */
export interface SystemdSocket {
  fd: number;
  /** Its FileDescriptorName= (LISTEN_FDNAMES), or the unit's name when the unit sets none. */
  name: string | undefined;
}

// The first fd systemd passes (SD_LISTEN_FDS_START).
const FIRST_FD = 3;
let taken: SystemdSocket[] | undefined;

/**
 * The listening sockets systemd passed to this process (LISTEN_FDS, meant for LISTEN_PID), or [] when
 * it passed none. Read once: like sd_listen_fds(1) it removes the variables, so that no process this
 * one starts takes them for its own, and later calls return the same list. The fds are made
 * close-on-exec. prefork() serves them as it serves any listening server:
 * `for (const s of systemdSockets()) http.createServer(app).listen(s)`.
 */
export function systemdSockets(): SystemdSocket[] {
  if (taken) return taken;
  const pid = process.env.LISTEN_PID;
  const count = process.env.LISTEN_FDS;
  const names = process.env.LISTEN_FDNAMES;
  if (pid === undefined || count === undefined) return (taken = []);
  // Meant for another process (a parent that did not clear them): not ours, and not removed.
  if (!/^\d+$/.test(pid) || Number(pid) !== process.pid) return (taken = []);
  delete process.env.LISTEN_PID;
  delete process.env.LISTEN_FDS;
  delete process.env.LISTEN_FDNAMES;
  if (!/^\d+$/.test(count)) {
    throw new PreforkError(
      'ERR_FORKGUARD_SYSTEMD_SOCKETS',
      `systemdSockets(): LISTEN_FDS is ${JSON.stringify(count)}, not a count of sockets. It is set by systemd ` +
        `(or systemd-socket-activate); unset it when starting the app by hand.`,
    );
  }
  const list = names === undefined ? [] : names.split(':');
  const sockets: SystemdSocket[] = [];
  for (let i = 0; i < Number(count); i++) {
    const fd = FIRST_FD + i;
    let isSocket = false;
    try {
      isSocket = fstatSync(fd).isSocket();
    } catch {
      // not open
    }
    if (!isSocket) {
      throw new PreforkError(
        'ERR_FORKGUARD_SYSTEMD_SOCKETS',
        `systemdSockets(): LISTEN_FDS says ${count} socket(s) from fd ${FIRST_FD}, but fd ${fd} is not an open socket. ` +
          `Check the unit's .socket file, or unset LISTEN_FDS and LISTEN_PID when starting the app by hand.`,
      );
    }
    native.setCloseOnExec(fd);
    sockets.push({ fd, name: list[i] || undefined });
  }
  return (taken = sockets);
}

/**
 * Reports state to systemd when it asked for it (NOTIFY_SOCKET, Type=notify or notify-reload), and
 * does nothing otherwise. Read when prefork() starts. A report that cannot be sent warns once
 * (FORKGUARD_SD_NOTIFY_FAILED) and never throws: a service manager's socket must not stop a server.
 */
let notifyAddress: string | undefined;
export function systemdNotifier(): (state: string) => void {
  if (notifyAddress === undefined) {
    notifyAddress = process.env.NOTIFY_SOCKET ?? '';
    // Workers are forks of the master: none of them may speak for the service (NotifyAccess=main
    // would drop it anyway), nor may a program the app execs. Kept here for a prefork() retried
    // after a refusal.
    delete process.env.NOTIFY_SOCKET;
  }
  const address = notifyAddress;
  if (!address) return () => {};
  let warned = false;
  return (state) => {
    const rc = native.sdNotify(address, state);
    if (rc < 0 && !warned) {
      warned = true;
      process.emitWarning(
        `pg-forkguard prefork: could not report ${JSON.stringify(state.split('\n')[0])} to systemd at ` +
          `NOTIFY_SOCKET=${address} (errno ${-rc}); the service's state in systemd may be stale.`,
        { code: 'FORKGUARD_SD_NOTIFY_FAILED' },
      );
    }
  };
}

/** CLOCK_MONOTONIC in microseconds, as RELOADING=1 needs for Type=notify-reload (libuv's hrtime is that clock). */
export function monotonicUsec(): bigint {
  return process.hrtime.bigint() / 1000n;
}
