import diagnosticsChannel from 'node:diagnostics_channel';
import { debuglog, format } from 'node:util';
import { currentPid } from '../runtime/state.js';

/**
 * What pg-forkguard tells the world, in one place: node:diagnostics_channel channels, and the
 * NODE_DEBUG=pgforkguard text, which is written by subscribing to those same channels (as undici
 * does), so the two cannot drift. Publishing costs nothing when nobody subscribes (hasSubscribers
 * is checked before a message is built).
 *
 * - `pgforkguard:fork`          { role: 'parent' | 'child', pid, parentPid, generation, childPid?, timings? }
 * - `pgforkguard:pool:reset`    { pool, pid, generation, dropped, idle, connecting, checkedOut, refused, queued }
 * - `pgforkguard:pool:prefill`  { pool, pid, error? } one per connection a child's prefill opened (or failed to)
 * - `pgforkguard:pool:evict`    { registry, key, reason }
 * - `pgforkguard:client:drop`   { name, pool, ownerPid, currentPid, fd, what }
 * - `pgforkguard:client:late`   { name, ownerPid, what: 'error' | 'release' | 'sever-failed', message }
 *     something reached a connection after it was dropped (a late error, a release) or could not
 *     be done to it; harmless, logged for whoever is debugging.
 * - `pgforkguard:prefork:memory` master.memory() ({ at, master, workers, totalPss }), every
 *     prefork({ memoryIntervalMs }) in the master.
 */
export const channels = {
  fork: diagnosticsChannel.channel('pgforkguard:fork'),
  poolReset: diagnosticsChannel.channel('pgforkguard:pool:reset'),
  poolPrefill: diagnosticsChannel.channel('pgforkguard:pool:prefill'),
  poolEvict: diagnosticsChannel.channel('pgforkguard:pool:evict'),
  clientDrop: diagnosticsChannel.channel('pgforkguard:client:drop'),
  clientLate: diagnosticsChannel.channel('pgforkguard:client:late'),
  preforkMemory: diagnosticsChannel.channel('pgforkguard:prefork:memory'),
};

export function publish(channel: diagnosticsChannel.Channel, message: () => object): void {
  if (channel.hasSubscribers) channel.publish(message());
}

// ---------------------------------------------------------------------------------------------
// NODE_DEBUG=pgforkguard: one line per event, from the channels.

type Formatter = (m: any) => string;
const text: Record<keyof typeof channels, Formatter> = {
  fork: (m) =>
    m.role === 'parent'
      ? format(
          'fork: pid %d forked child %d (generation %d); quiesce %s ms, smaps scan %s ms, fork(2) %s ms',
          m.pid,
          m.childPid,
          m.generation,
          ms(m.timings?.quiesceMs),
          ms(m.timings?.scanMs),
          ms(m.timings?.forkMs),
        )
      : format('fork: child %d of pid %d running (generation %d)', m.pid, m.parentPid, m.generation),
  poolReset: (m) =>
    format(
      '%s: pid %d generation %d dropped %d inherited connections (%d idle, %d connecting, %d checked out); ' +
        'refused %d checkouts requested before the fork (%d queued)',
      m.pool,
      m.pid,
      m.generation,
      m.dropped,
      m.idle,
      m.connecting,
      m.checkedOut,
      m.refused,
      m.queued,
    ),
  poolPrefill: (m) =>
    m.error ? format('%s: prefill connection failed: %s', m.pool, m.error) : format('%s: prefill connection open', m.pool),
  poolEvict: (m) => format('registry %s: evicted %s (%s)', m.registry, m.key, m.reason),
  clientDrop: (m) => format('dropped a %s of %s opened by pid %d (fd %d)', m.what, m.name, m.ownerPid, m.fd),
  clientLate: (m) =>
    m.what === 'error'
      ? format('late error on a dropped connection: %s', m.message)
      : m.what === 'release'
        ? format('%s: release of a dropped client (opened by pid %d)', m.name, m.ownerPid)
        : format('%s: %s', m.name, m.message),
  preforkMemory: (m) =>
    format(
      'prefork memory: total PSS %s MB; master %s; %s',
      mb(m.totalPss),
      m.master ? `PSS ${mb(m.master.pss)} MB` : 'gone',
      m.workers.map((w: any) => `worker ${w.id} PSS ${mb(w.pss)} MB, Private_Dirty ${mb(w.privateDirty)} MB, shared ${mb(w.shared)} MB`).join('; '),
    ),
};

function mb(bytes: number): string {
  return (bytes / 1048576).toFixed(1);
}

function ms(v: number | undefined): string {
  return v === undefined ? '?' : v.toFixed(2);
}

/** NODE_DEBUG=pgforkguard: subscribes the text log to every channel (src/wiring.ts, once). Written
 * as util.debuglog would ('PGFORKGUARD <pid>: ...'), but with the real pid: debuglog keeps the pid
 * of its first line, and after a fork that is the parent's. */
export function writeDebugLog(): void {
  if (!debuglog('pgforkguard').enabled) return;
  for (const [key, channel] of Object.entries(channels) as Array<[keyof typeof channels, diagnosticsChannel.Channel]>) {
    channel.subscribe((m) => process.stderr.write(`PGFORKGUARD ${currentPid()}: ${text[key](m)}\n`));
  }
}
