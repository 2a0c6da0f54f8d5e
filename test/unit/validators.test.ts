// Input checking of the rest of the API, in this process and with no Postgres: each bad value gets
// a typed error that names it and says what is accepted. Nothing here forks.
import { closeSync, openSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { thrown } from './thrown.js';
import {
  FdRegistryError,
  ForkUnsupportedError,
  InvalidArgumentError,
  IncompatiblePoolError,
  NotAChildError,
  addResettable,
  createPoolRegistry,
  fork,
  onFork,
  prefork,
  register,
  removeResettable,
  trackFd,
  unregister,
  untrackFd,
  isTracked,
  waitpid,
} from '../../dist/index.js';

describe('fork(), onFork(), waitpid()', () => {
  it.each([
    [() => onFork(null as any), /hooks must be an object/],
    [() => onFork({ before: 1 } as any), /hooks.before must be a function, got number 1/],
    [() => onFork({ after() {} } as any), /unknown hook 'after'; use before, parent or child/],
    [() => fork('x' as any), /options must be an object like \{ unsafe: true \}/],
    [() => fork({ unsafe: 'yes' } as any), /options.unsafe must be a boolean/],
    [() => waitpid(-1), /pid must be a positive integer/],
    [() => waitpid(1.5), /pid must be a positive integer/],
  ])('%# → InvalidArgumentError', (fn, message) => {
    const err = thrown(fn);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(err.code).toBe('ERR_FORKGUARD_INVALID_ARG');
    expect(err.message).toMatch(message);
  });

  it('waitpid() of a pid fork() did not make → NotAChildError', () => {
    const err = thrown(() => waitpid(process.pid));
    expect(err).toBeInstanceOf(NotAChildError);
    expect(err.pid).toBe(process.pid);
  });

  it('fork() without --single-threaded is refused before anything is touched, naming the flag', () => {
    const err = thrown(() => fork());
    expect(err).toBeInstanceOf(ForkUnsupportedError);
    expect(err.reason).toBe('not-single-threaded');
    expect(err.message).toMatch(/--single-threaded/);
  });

  it('onFork() returns a function that unsubscribes', () => {
    const off = onFork({ before() {} });
    expect(typeof off).toBe('function');
    off();
  });
});

describe('the fd registry', () => {
  it.each([-1, 1.5, '3', null])('trackFd(%s) → InvalidArgumentError', (fd) => {
    expect(thrown(() => trackFd(fd as any))).toBeInstanceOf(InvalidArgumentError);
    expect(thrown(() => untrackFd(fd as any))).toBeInstanceOf(InvalidArgumentError);
    expect(thrown(() => isTracked(fd as any))).toBeInstanceOf(InvalidArgumentError);
  });

  it('a file is not a socket; a closed fd is not open', () => {
    const file = openSync(__filename, 'r');
    const notSocket = thrown(() => trackFd(file));
    closeSync(file);
    expect(notSocket).toBeInstanceOf(FdRegistryError);
    expect(notSocket.code).toBe('ERR_FORKGUARD_NOT_A_SOCKET');
    const bad = thrown(() => trackFd(100_000));
    expect(bad.code).toBe('ERR_FORKGUARD_BAD_FD');
    const range = thrown(() => trackFd(2 ** 20));
    expect(range.code).toBe('ERR_FORKGUARD_FD_RANGE');
    expect(untrackFd(100_000)).toBe(false);
  });
});

describe('prefork() options', () => {
  it.each([
    ['not an object', 3, /options must be an object like \{ workers: 4 \}/],
    ['unknown option', { wokers: 2 }, /unknown option 'wokers'/],
    ['workers 0', { workers: 0 }, /options.workers must be an integer >= 1, got number 0/],
    ['worker not a function', { worker: 1 }, /options.worker must be a function/],
    ['settleHeap unknown', { settleHeap: 'all' }, /options.settleHeap must be one of 'young', 'full', 'flatten', 'none'/],
    ['stopSignals not an array', { stopSignals: 'SIGTERM' }, /options.stopSignals must be an array of signal names/],
  ])('%s → InvalidArgumentError, before anything is forked or closed', (_, options, message) => {
    const err = thrown(() => prefork(options as any));
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(err.message).toMatch(message);
  });
});

describe('createPoolRegistry() options', () => {
  it.each([
    ['no options', undefined, /options must be an object with a create\(key\) function/],
    ['create not a function', { create: 1 }, /options.create must be a function/],
    ['unknown option', { create() {}, maxPool: 1 }, /unknown option 'maxPool'/],
  ])('%s → InvalidArgumentError', (_, options, message) => {
    const err = thrown(() => createPoolRegistry(options as any));
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(err.message).toMatch(message);
  });
});

describe('addResettable(), removeResettable()', () => {
  it('without resetAfterFork → IncompatiblePoolError; removing a stranger is false', () => {
    for (const bad of [null, {}, { resetAfterFork: 1 }]) {
      const err = thrown(() => addResettable(bad as any));
      expect(err).toBeInstanceOf(IncompatiblePoolError);
      expect(err.message).toMatch(/addResettable\(pool\): pool must be an object with a resetAfterFork\(\) method/);
    }
    expect(removeResettable({})).toBe(false);
    const r = { resetAfterFork() {} };
    expect(addResettable(r)).toBe(r);
    expect(addResettable(r)).toBe(r); // twice: a no-op
    expect(removeResettable(r)).toBe(true);
    expect(removeResettable(r)).toBe(false);
  });

  it('the old names still work, with one FORKGUARD_DEP_REGISTER deprecation warning', async () => {
    const warnings: Array<{ name: string; code?: string }> = [];
    const listen = (w: Error & { code?: string }) => warnings.push({ name: w.name, code: w.code });
    process.on('warning', listen);
    try {
      const r = { resetAfterFork() {} };
      expect(register(r)).toBe(r);
      expect(unregister(r)).toBe(true);
      expect(register(r)).toBe(r);
      expect(unregister(r)).toBe(true);
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', listen);
    }
    expect(warnings).toEqual([
      { name: 'DeprecationWarning', code: 'FORKGUARD_DEP_REGISTER' },
      { name: 'DeprecationWarning', code: 'FORKGUARD_DEP_REGISTER' },
    ]);
  });
});
