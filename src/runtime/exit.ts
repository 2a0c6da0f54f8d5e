// Leaving a fork() child. Node's own exit paths join threads that do not exist in the child, and a
// drained loop hangs in NodePlatform::DrainTasks; so the child ends through _exit, after doing what
// Node would have done ('beforeExit', 'exit').
import { inspect } from 'node:util';
import { native } from '../seams/addon.js';
import { markExiting, replaceReallyExit } from '../seams/node.js';

function exitCode(): number {
  const c = Number(process.exitCode ?? 0);
  return Number.isInteger(c) ? c : 1;
}

function emitExitAndLeave(code: number): never {
  if (!markExiting()) {
    try {
      process.emit('exit', code);
    } catch (err) {
      process.stderr.write(`${inspect(err)}\n`);
      native.exitNow(7);
    }
  }
  native.exitNow(process.exitCode === undefined ? code : exitCode());
}

/** The loop hook's call when a fork() child's loop has drained (src/wiring.ts hands it over). */
export function childLoopDrained(phase: 'beforeExit' | 'exit'): void {
  if (phase === 'beforeExit') {
    process.emit('beforeExit', exitCode());
    return;
  }
  emitExitAndLeave(exitCode());
}

/** In a fork() child, right after fork(2): every way out of the process goes through _exit. */
export function becomeChild(): void {
  // process.exit() emits 'exit' and then calls process.reallyExit: take over at that point.
  replaceReallyExit((code?: number) => native.exitNow(code ?? 0));
  if (!process.hasUncaughtExceptionCaptureCallback()) {
    process.setUncaughtExceptionCaptureCallback((err) => {
      if (process.listenerCount('uncaughtException') > 0) {
        (process.emit as (event: string, ...args: unknown[]) => boolean)('uncaughtException', err, 'uncaughtException');
        return;
      }
      // What Node prints for an uncaught exception, then its exit code 1.
      process.stderr.write(`${inspect(err)}\n\nNode.js ${process.version}\n`);
      process.exitCode = 1;
      emitExitAndLeave(1);
    });
  }
  native.watchExit();
}
