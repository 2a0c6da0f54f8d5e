// The one module that reads or writes Node's own private members (the `_`-prefixed fields and
// methods of process, Module, net.Server and http). Each is read through a function here, so that a
// Node release that renames one breaks this file and its contract test (test/seams.test.ts, which
// finds every member this file names and checks it on this Node), not the runtime's behaviour.
// Public Node APIs are used directly where they are needed; this file holds only what is private.
import Module from 'node:module';
import type { Server, Socket } from 'node:net';
import { ClientRequest, type ServerResponse } from 'node:http';

/** Every handle that keeps the loop alive (child processes, servers, sockets): process._getActiveHandles(). */
export function activeHandles(): unknown[] {
  return (process as unknown as { _getActiveHandles?(): unknown[] })._getActiveHandles?.() ?? [];
}

type ExitingProcess = NodeJS.Process & { _exiting?: boolean; reallyExit(code?: number): never };

/** Node's own mark that 'exit' was emitted (process._exiting); true if it was already set. */
export function markExiting(): boolean {
  const was = (process as ExitingProcess)._exiting === true;
  (process as ExitingProcess)._exiting = true;
  return was;
}

/** process.exit() emits 'exit', then calls process.reallyExit(code): replaced, in a fork() child. */
export function replaceReallyExit(fn: (code?: number) => never): void {
  (process as ExitingProcess).reallyExit = fn as never;
}

/** The fd of a socket or a listening server (its libuv handle's), or -1 when it has none. */
export function handleFd(socketOrServer: Socket | Server | object | undefined): number {
  const fd = (socketOrServer as { _handle?: { fd?: unknown } | null } | undefined)?._handle?.fd;
  return typeof fd === 'number' ? fd : -1;
}

/** The response an http server socket is writing now (socket._httpMessage), if any. */
export function responseOf(socket: Socket): ServerResponse | undefined {
  return (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage ?? undefined;
}

/** The request an http client socket is carrying now (socket._httpMessage), if any. */
export function requestOf(socket: Socket): ClientRequest | undefined {
  const m = (socket as Socket & { _httpMessage?: unknown })._httpMessage;
  return m instanceof ClientRequest ? m : undefined;
}

/** A socket an http agent holds (idle, or handed to a request): the agent listens for its 'free'. */
export function isAgentSocket(socket: Socket): boolean {
  return socket.listenerCount('free') > 0;
}

/** CommonJS's compile step for .js files (Module._extensions['.js']): wrapped by the zero-code entry. */
export type CompileJs = (this: unknown, module: { exports: unknown }, filename: string) => unknown;
export function wrapCompileJs(make: (compile: CompileJs) => CompileJs): void {
  const extensions = (Module as unknown as { _extensions: Record<string, CompileJs> })._extensions;
  extensions['.js'] = make(extensions['.js']!);
}

/** The modules CommonJS has loaded so far (Module._cache), by filename. */
export function loadedModules(): Array<[string, { exports: unknown }]> {
  const cache = (Module as unknown as { _cache: Record<string, { exports: unknown } | undefined> })._cache;
  return Object.entries(cache).filter((e): e is [string, { exports: unknown }] => e[1] !== undefined);
}

/** Whether node runs V8 without its helper threads (`node --single-threaded`): the one check of it. */
export function isSingleThreaded(): boolean {
  return process.execArgv.includes('--single-threaded');
}
