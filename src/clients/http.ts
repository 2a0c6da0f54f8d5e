// node:http and node:https clients across a fork. The sweep has made the child's copy of every
// keep-alive socket dead, and the child closes those sockets (src/runtime/swept-sockets.ts), so no
// agent hands one out again. What is left is the parent's requests:
//   - one a socket was carrying at the fork, or an agent had just given a socket (it takes it on the
//     next tick): the socket is closed with ForkedConnectionError (kind 'request'), which the
//     request emits as its 'error', in place of 'socket hang up'. An agent's idle socket is closed
//     with it too: the agent's own 'error' listener on an idle socket takes it;
//   - one an agent held queued for a free socket (maxSockets reached): destroyed with the same
//     error, where it waits. The agent then gives it a socket, and it fails before a byte of it is
//     written; left alone it would have been sent from the child.
// Which agents: http.globalAgent and https.globalAgent, always; the agent of every request a swept
// socket carried; each agent guard() was given; and, under pg-forkguard/register, every agent that
// has had a request (its addRequest is wrapped once).
import { Agent, type ClientRequest, globalAgent } from 'node:http';
import { globalAgent as httpsGlobalAgent } from 'node:https';
import type { Socket } from 'node:net';
import { coverOnCall } from '../guard/patch-method.js';
import { ForkedConnectionError } from '../shared/errors.js';
import { isAgentSocket, requestOf } from '../seams/node.js';
import { currentPid, install } from '../runtime/state.js';

const guarded = new Set<WeakRef<Agent>>();
const seen = new WeakSet<Agent>();

export function isHttpAgent(x: unknown): x is Agent {
  return x instanceof Agent;
}

/** guard(agent): its queued requests fail in every child (global agents are always covered). */
export function guardHttpAgent(agent: Agent): void {
  if (seen.has(agent)) return;
  seen.add(agent);
  install();
  guarded.add(new WeakRef(agent));
}

/** Zero code: every agent is remembered at its first request (src/register.ts). */
export function patchHttpAgentClass(): void {
  coverOnCall(Agent.prototype, 'addRequest', (a) => guardHttpAgent(a as Agent));
}

export function isHttpAgentGuarded(agent: object): boolean {
  return seen.has(agent as Agent) || agent === globalAgent || agent === httpsGlobalAgent;
}

function forkedRequest(): ForkedConnectionError {
  return new ForkedConnectionError({ what: 'A request', client: 'an http agent', ownerPid: process.ppid, currentPid: currentPid(), kind: 'request' });
}

/**
 * Fails the parent's http requests among `sockets` (the swept ones) and in the agents' queues.
 * Returns the sockets it closed; the caller closes the others.
 */
export function failHttpRequests(sockets: Socket[]): Set<Socket> {
  const agents = new Set<Agent>([globalAgent, httpsGlobalAgent]);
  for (const ref of guarded) {
    const a = ref.deref();
    if (a) agents.add(a);
    else guarded.delete(ref);
  }
  const carrying = new Map<Socket, ClientRequest>();
  for (const s of sockets) {
    const req = requestOf(s);
    if (!req) continue;
    carrying.set(s, req);
    const agent = (req as ClientRequest & { agent?: unknown }).agent;
    if (isHttpAgent(agent)) agents.add(agent);
  }
  for (const agent of agents) {
    for (const queue of Object.values(agent.requests)) {
      for (const req of queue ?? []) if (!req.destroyed) req.destroy(forkedRequest());
    }
  }
  const closed = new Set<Socket>();
  for (const s of sockets) {
    const req = carrying.get(s);
    // A response already under way ends as a lost connection does ('aborted'): its answer had begun.
    if (req ? (req as ClientRequest & { res?: unknown }).res : !isAgentSocket(s)) continue;
    s.destroy(forkedRequest());
    closed.add(s);
  }
  return closed;
}
