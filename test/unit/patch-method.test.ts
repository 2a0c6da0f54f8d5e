// How the guard attaches to pg (src/guard/patch-method.ts), on plain classes: each method wrapped
// once, on the prototype that owns it, keeping its name, length and attributes, so that classes
// keep their identity and other instrumentation, before or after, sees every call.
import { describe, expect, it } from 'vitest';
import { patchMethod } from '../../dist/guard/patch-method.js';

class Base {
  calls: string[] = [];
  greet(name: string, punctuation: string): string {
    this.calls.push('base');
    return `hello ${name}${punctuation}`;
  }
}
class Derived extends Base {}

describe('patchMethod()', () => {
  it('wraps the method on the prototype that owns it, once, keeping name, length and attributes', () => {
    class Owner extends Base {}
    class Sub extends Owner {}
    Object.defineProperty(Owner.prototype, 'greet', { value: Base.prototype.greet, writable: true, configurable: true, enumerable: false });
    let made = 0;
    const wrap = (original: (...a: any[]) => unknown) => {
      made++;
      return function (this: Base, ...args: unknown[]) {
        this.calls.push('guard');
        return original.apply(this, args);
      };
    };
    expect(patchMethod(Sub.prototype, 'greet', wrap)).toBe(true);
    expect(patchMethod(Owner.prototype, 'greet', wrap)).toBe(true); // the same owner: no second wrap
    expect(made).toBe(1);
    expect(Object.prototype.hasOwnProperty.call(Sub.prototype, 'greet')).toBe(false);
    const desc = Object.getOwnPropertyDescriptor(Owner.prototype, 'greet')!;
    expect(desc.enumerable).toBe(false);
    expect(desc.value.name).toBe('greet');
    expect(desc.value.length).toBe(2);
    const s = new Sub();
    expect(s.greet('you', '!')).toBe('hello you!');
    expect(s.calls).toEqual(['guard', 'base']);
    expect(s).toBeInstanceOf(Base);
    expect(Base.prototype.greet).not.toBe(Owner.prototype.greet); // Base itself untouched
  });

  it('false for a name no prototype defines as a function', () => {
    class Plain {
      x = 1;
    }
    expect(patchMethod(Plain.prototype, 'missing', (o) => o)).toBe(false);
    Object.defineProperty(Plain.prototype, 'notAFunction', { value: 42, configurable: true });
    expect(patchMethod(Plain.prototype, 'notAFunction', (o) => o)).toBe(false);
  });

  it('instrumentation that wraps before or after still sees every call', () => {
    class Target extends Derived {}
    const order: string[] = [];
    const proto = Base.prototype as any;
    const before = proto.greet;
    proto.greet = function (this: Base, ...a: [string, string]) {
      order.push('apm-before');
      return before.apply(this, a);
    };
    patchMethod(Target.prototype, 'greet', (original) =>
      function (this: Base, ...a: unknown[]) {
        order.push('guard');
        return original.apply(this, a);
      },
    );
    const after = proto.greet;
    proto.greet = function (this: Base, ...a: [string, string]) {
      order.push('apm-after');
      return after.apply(this, a);
    };
    try {
      expect(new Target().greet('x', '.')).toBe('hello x.');
      expect(order).toEqual(['apm-after', 'guard', 'apm-before']);
    } finally {
      proto.greet = Base.prototype.greet;
    }
  });
});
