// guard()'s input checking, in this process and with no Postgres: a pool is made but never
// connects. Bad input gets a typed error saying what was wrong and what to do.
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { thrown } from './thrown.js';
import { ForkGuardError, IncompatiblePoolError, InvalidArgumentError, guard, isGuarded } from '../../dist/index.js';

// Nothing listens here: nothing in this file connects.
const url = 'postgres://nobody@127.0.0.1:1/none';
const opened: Array<{ end(): Promise<void> }> = [];
function pool(options: pg.PoolConfig = {}) {
  const p = new pg.Pool({ connectionString: url, max: 2, ...options });
  opened.push(p);
  return p;
}
afterEach(async () => {
  await Promise.all(opened.splice(0).map((p) => p.end().catch(() => {})));
});

describe('guard(): bad input gets a typed error saying what was wrong', () => {
  it.each([
    ['null', null, /got null/],
    ['a number', 42, /got number 42/],
    ['a plain object', {}, /expected a pg.Pool or a pg.Client \(node-postgres\), got an instance of Object.*addResettable\(pool\)/],
    ['a class instance', new Map(), /got an instance of Map/],
  ])('%s → IncompatiblePoolError', (_, value, message) => {
    const err = thrown(() => guard(value as any));
    expect(err).toBeInstanceOf(IncompatiblePoolError);
    expect(err).toBeInstanceOf(ForkGuardError);
    expect(err.code).toBe('ERR_FORKGUARD_INCOMPATIBLE_POOL');
    expect(err.message).toMatch(message);
  });

  it('a pool whose Client is neither pg.Client nor pg.native.Client → IncompatiblePoolError naming it', () => {
    class OtherClient {}
    const p = new pg.Pool({ Client: OtherClient as any });
    const err = thrown(() => guard(p));
    expect(err).toBeInstanceOf(IncompatiblePoolError);
    expect(err.message).toMatch(/its connections are made by .*OtherClient.*not by node-postgres's pg.Client or pg.native.Client/);
    expect(isGuarded(p)).toBe(false);
  });

  it('pg.native.Pool and pg.native.Client (pg-native over libpq) are guarded', () => {
    const p = guard(new pg.native!.Pool({ max: 1 }));
    expect(isGuarded(p)).toBe(true);
    const c = guard(new pg.native!.Client());
    expect(isGuarded(c)).toBe(true);
  });

  it('a client with a `native` binding that is not pg-native → IncompatiblePoolError', () => {
    // The methods pg's clients share, and a `native` object without libpq under it.
    function LookAlike(this: { native: object }) {
      this.native = {};
    }
    Object.assign(LookAlike.prototype, { _connect() {}, _errorAllQueries() {}, query() {}, cancel() {}, end() {}, connect() {} });
    const err = thrown(() => guard(new (LookAlike as any)()));
    expect(err).toBeInstanceOf(IncompatiblePoolError);
    expect(err.message).toMatch(/its `native` binding is not pg-native over libpq/);
  });

  it.each([
    ['options not an object', 'x', /options must be an object/],
    ['unknown option', { nmae: 'x' }, /unknown option 'nmae'/],
    ['empty name', { name: '' }, /options.name must be a non-empty string, got the string ""/],
    ['debug not a boolean', { debug: 'yes' }, /options.debug must be a boolean/],
    ['negative prefill', { prefill: -1 }, /options.prefill must be a non-negative integer/],
    ['fractional prefill', { prefill: 1.5 }, /options.prefill must be a non-negative integer/],
    ['prefill above max', { prefill: 3 }, /prefill is more than the pool's max \(2\)/],
  ])('pool with %s → InvalidArgumentError', (_, options, message) => {
    const p = pool();
    const err = thrown(() => guard(p, options as any));
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(err.message).toMatch(message);
    expect(isGuarded(p)).toBe(false);
  });

  it('prefill on a Client → InvalidArgumentError', () => {
    const c = new pg.Client(url);
    expect(() => guard(c, { prefill: 1 })).toThrow(/prefill applies to pools only/);
  });

});

