// ioredis across a fork. The sweep (native/core/sweep.h) has already made the child's copy of each
// connection dead and closed its socket; left to itself, ioredis would then reconnect and send again
// every command the parent had sent and not yet had answered, and the ones in its offline queue: the
// parent's writes, run twice. So in every new process, before any code of the app's runs, each
// client's pending commands are rejected with ForkedConnectionError (kind 'request'): they belong to
// the parent, which gets their answers. The client reconnects on its next command, as after a
// server restart.
import { coverOnCall } from '../guard/patch-method.js';
import { addGuarded } from '../guard/reset-list.js';
import { ForkedConnectionError } from '../shared/errors.js';
import { type RedisLike, isCluster, pendingCommands, rejectPending } from '../seams/ioredis.js';
import { currentPid, install } from '../runtime/state.js';

const covered = new WeakSet<object>();

/** Puts one client on the reset list, once. */
export function guardRedis(r: RedisLike): void {
  if (covered.has(r)) return;
  covered.add(r);
  install();
  addGuarded(r, reset, label);
}

export function isRedisGuarded(r: object): boolean {
  return covered.has(r);
}

/** Zero code: every client of this class is covered from its first connect() (src/register.ts). */
export function patchRedisClass(proto: object): void {
  coverOnCall(proto, 'connect', (self) => guardRedis(self as RedisLike));
}

function label(r: object): string {
  return isCluster(r) ? 'an ioredis Cluster' : 'an ioredis client';
}

function reset(target: object): void {
  const r = target as RedisLike;
  if (pendingCommands(r) === 0) return;
  rejectPending(
    r,
    new ForkedConnectionError({
      what: 'A command',
      client: label(r),
      ownerPid: process.ppid,
      currentPid: currentPid(),
      kind: 'request',
    }),
  );
}
