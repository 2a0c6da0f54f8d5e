// settleHeap 'flatten' (src/prefork/flatten-strings.ts) finds every object of this process through
// the inspector and replaces each rope it holds by the flat string. It must change nothing the app
// can observe: no getter or setter runs, no proxy trap, no Map reorders, process.env is not written,
// and every value reads as before. That the ropes are gone from the worker's memory is measured
// across a fork (test/prefork.test.ts, "state that stays shared"); this runs in-process.
import { describe, expect, it } from 'vitest';
import { flattenStrings } from '../../dist/prefork/flatten-strings.js';

const rope = (i: number): string => `customer-${i}-${'x'.repeat(i % 7)}@example.com`;

describe('flattenStrings', () => {
  it('visits the objects, arrays, Maps and Sets the app holds and keeps every value equal', () => {
    const rows = Array.from({ length: 1000 }, (_, i) => ({ id: i, name: rope(i), tags: [rope(i + 1)] }));
    const map = new Map(rows.map((r) => [rope(r.id + 2), r.name]));
    const set = new Set(rows.map((r) => rope(r.id + 3)));
    const before = JSON.stringify({ rows, map: [...map], set: [...set] });
    const { objects, strings } = flattenStrings();
    expect(objects).toBeGreaterThan(2000);
    // 1 000 names, 1 000 tags, 1 000 Map values, 1 000 Set members at least.
    expect(strings).toBeGreaterThanOrEqual(4000);
    expect(JSON.stringify({ rows, map: [...map], set: [...set] })).toBe(before);
    expect([...map.keys()]).toEqual(rows.map((r) => rope(r.id + 2))); // order kept
  });

  it("runs none of the app's code: getters, setters, proxy traps and a Map subclass's methods stay untouched", () => {
    const calls: string[] = [];
    const accessor = {
      get name() {
        calls.push('get');
        return rope(1);
      },
      set name(_v: string) {
        calls.push('set');
      },
    };
    const target = { name: rope(2) };
    const proxy = new Proxy(target, {
      get: (t, k) => (calls.push('proxy get'), Reflect.get(t, k)),
      set: (t, k, v) => (calls.push('proxy set'), Reflect.set(t, k, v)),
      ownKeys: (t) => (calls.push('proxy ownKeys'), Reflect.ownKeys(t)),
      getOwnPropertyDescriptor: (t, k) => (calls.push('proxy descriptor'), Reflect.getOwnPropertyDescriptor(t, k)),
    });
    class Tracked extends Map<string, string> {
      override set(k: string, v: string): this {
        calls.push('Map set');
        return super.set(k, v);
      }
      override forEach(...args: Parameters<Map<string, string>['forEach']>): void {
        calls.push('Map forEach');
        super.forEach(...args);
      }
    }
    const tracked = new Tracked();
    Map.prototype.set.call(tracked, 'k', rope(3));
    const frozen = Object.freeze({ name: rope(4) });
    const readOnly = Object.defineProperty({}, 'name', { value: rope(5), writable: false, enumerable: true });
    const env = { ...process.env };
    flattenStrings();
    expect(calls).toEqual([]);
    expect([accessor.name, target.name, tracked.get('k'), frozen.name, readOnly.name]).toEqual([rope(1), rope(2), rope(3), rope(4), rope(5)]);
    expect(proxy).toBeDefined();
    expect(process.env).toEqual(env);
  });

  it('leaves a string whose text is not in NFC as it was (its flat copy would be another text)', () => {
    const decomposed = { name: `cafe\u0301-${'y'.repeat(20)}` }; // e + combining acute: NFC would compose it
    flattenStrings();
    expect(decomposed.name).toBe(`cafe\u0301-${'y'.repeat(20)}`);
    expect(decomposed.name.length).toBe(26);
  });
});
