// undici and the global fetch() across a fork. The sweep has made the child's copy of each keep-alive
// connection dead and closed its socket; left to itself, undici would then open a new connection in
// the child and write there every request it had queued and not yet written in the parent (it
// writes on a later tick than the call): the parent's requests, sent twice. So in every new
// process, before any code of the app's runs, each Client's running and pending requests fail with
// ForkedConnectionError (kind 'request'); the parent gets their answers.
//
// Which Clients: those under the global dispatcher (fetch()'s), always; and under each dispatcher of
// the undici package that has dispatched a request (zero code: src/register.ts patches its
// dispatcher base class) or that guard() was given.
import { coverOnCall } from '../guard/patch-method.js';
import { ForkedConnectionError } from '../shared/errors.js';
import { failQueuedRequests, undiciClients } from '../seams/undici.js';
import { currentPid, install } from '../runtime/state.js';

const seen = new WeakSet<object>();
const roots = new Set<WeakRef<object>>();

/** Remembers a dispatcher (weakly), once. */
export function guardUndici(dispatcher: object): void {
  if (seen.has(dispatcher)) return;
  seen.add(dispatcher);
  install();
  roots.add(new WeakRef(dispatcher));
}

export function isUndiciGuarded(d: object): boolean {
  return seen.has(d);
}

/** Zero code: every dispatcher of this undici copy is remembered at its first dispatch(). */
export function patchDispatcherBase(proto: object): void {
  coverOnCall(proto, 'dispatch', guardUndici);
}

/** A new process's step (src/wiring.ts): the parent's requests fail here, none is written again. */
export function resetUndici(): void {
  const live: object[] = [];
  for (const ref of roots) {
    const d = ref.deref();
    if (d) live.push(d);
    else roots.delete(ref);
  }
  for (const client of undiciClients(live)) {
    failQueuedRequests(
      client,
      new ForkedConnectionError({ what: 'A request', client: 'an undici client', ownerPid: process.ppid, currentPid: currentPid(), kind: 'request' }),
    );
  }
}
