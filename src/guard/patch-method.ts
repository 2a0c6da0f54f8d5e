// How the guard attaches to pg: each method it needs is wrapped once, on the prototype that owns
// it, and the wrapper looks for the guard's record on the instance. The classes keep their
// identity (every client stays `instanceof pg.Client`), and instrumentation that patches the same
// prototypes before or after (APM agents, test spies) sees every call, as with plain pg.

const patched = new WeakMap<object, Set<string>>();

type Method = (this: any, ...args: any[]) => unknown;

/** The object in `proto`'s chain (itself included) that owns `name`, or undefined. */
function ownerOf(proto: object | null, name: string): object | undefined {
  for (let p = proto; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
    if (Object.prototype.hasOwnProperty.call(p, name)) return p;
  }
  return undefined;
}

/**
 * Replaces `name` on the nearest prototype of `proto`'s chain that defines it with
 * `make(original)`, once per prototype and name. The wrapper keeps the original's name, length
 * and property attributes. False if no prototype defines it as a function.
 */
export function patchMethod(proto: object, name: string, make: (original: Method) => Method): boolean {
  const owner = ownerOf(proto, name);
  if (owner === undefined) return false;
  let names = patched.get(owner);
  if (names?.has(name)) return true;
  const desc = Object.getOwnPropertyDescriptor(owner, name)!;
  const original = desc.value as Method | undefined;
  if (typeof original !== 'function') return false;
  const wrapper = make(original);
  Object.defineProperty(wrapper, 'name', { value: original.name, configurable: true });
  Object.defineProperty(wrapper, 'length', { value: original.length, configurable: true });
  Object.defineProperty(owner, name, { ...desc, value: wrapper });
  if (!names) patched.set(owner, (names = new Set()));
  names.add(name);
  return true;
}

/**
 * Wraps `name` so that every call first hands its object to `cover` (which must be idempotent and
 * cheap: it runs on every call), then calls through. How the other clients' classes are covered
 * from their first use (src/clients/).
 */
export function coverOnCall(proto: object, name: string, cover: (self: object) => void): boolean {
  return patchMethod(proto, name, (original) =>
    function (this: object, ...args: unknown[]) {
      cover(this);
      return original.apply(this, args);
    },
  );
}
