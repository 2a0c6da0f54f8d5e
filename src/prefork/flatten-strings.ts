// settleHeap 'flatten': every string the app's objects hold made flat, in the master, before forking.
// A string of 13 characters or more built by `+` or a template literal is a rope (V8's cons string:
// two halves), and V8 flattens a rope in place the first time something reads it whole
// (JSON.stringify, a RegExp, a Buffer write): it writes the flat copy's address into the rope. When
// that happens in a worker, the write copies the master's page, and the flat copy is the worker's
// own for good. Under a handler that serializes its state, that was most of what a worker unshared:
// 62 of the 109 MB the busiest worker copied in 30 s (docs/memory-under-load.md).
//
// Flattening a rope in place is not enough: V8's full collection does not shortcut an old rope to
// its flat copy, so the rope stays, between the object and its text. Each string is replaced in its
// object by the flat string itself (String.prototype.normalize returns it, for text already in NFC),
// and the full collection after frees the ropes: the master's heap is then what it would be had the
// app built its strings flat (132 MB used against 156 for bench/prefork-server.mjs's state).
//
// Finding the strings: V8's heap is not enumerable from JS, but the inspector protocol's
// Runtime.queryObjects returns every live object whose prototype chain holds a given prototype
// (here Object.prototype: all objects of the main context). Not reached: strings held only by
// closures' variables, private fields (#x) or WeakMap values. What it costs is proportional to the
// heap: 4 s for the 1.2 million objects of bench/prefork-server.mjs's 150 MB of state, and the
// malloc'd memory V8's iteration leaves behind, which settle-heap.ts has native/core/malloc-settle.h
// deal with. Hence a settleHeap kind and not the default.
import type { Session as InspectorSession } from 'node:inspector';
import { types } from 'node:util';

/** V8 builds a string shorter than this flat (ConsString::kMinLength). */
const ROPE_MIN = 13;
const WALKER = Symbol.for('pg-forkguard.flattenStrings');
const GROUP = 'pg-forkguard-flatten';

export interface Flattened {
  objects: number;
  strings: number;
}

/** A flat copy of a string that may be a rope, or undefined if it cannot be a rope. */
function flat(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length < ROPE_MIN) return undefined;
  // normalize() flattens a rope and returns the flat string itself where the text is already in
  // NFC (all of Latin-1, and almost all text): a string the rope no longer stands between.
  const f = value.normalize();
  if (f === value) return f;
  value.charCodeAt(0); // not NFC: flattened in place, the rope kept
  return undefined;
}

/**
 * Replaces each string an object holds by its flat copy, so the ropes die at the full collection
 * after. Never runs the app's code: properties are read through descriptors (no getter runs) and
 * only own writable data properties written (no setter); proxies are not among the objects, Map
 * and Set entries are visited with their prototypes' own methods, and process.env, whose
 * properties are the environment, is left alone.
 */
function walk(objects: object[]): Flattened {
  const own = Object.getOwnPropertyDescriptor;
  let strings = 0;
  for (const o of objects) {
    // A typed array's or Buffer's indices would each become a key string; their contents are numbers.
    if (types.isArrayBufferView(o) || types.isProxy(o) || o === process.env) continue;
    let keys: string[];
    try {
      keys = Object.getOwnPropertyNames(o);
    } catch {
      continue; // a host object that refuses enumeration
    }
    for (const k of keys) {
      try {
        const d = own(o, k);
        const f = flat(d?.value);
        if (f === undefined) continue;
        strings++;
        if (d!.writable) (o as Record<string, unknown>)[k] = f;
      } catch {
        // a host object's property that throws, a module namespace's that cannot be set
      }
    }
    if (types.isMap(o)) {
      const set = Map.prototype.set;
      Map.prototype.forEach.call(o, (v: unknown, k: unknown) => {
        // A key is flattened in place: replacing it would move the entry to the end.
        if (typeof k === 'string' && k.length >= ROPE_MIN) k.charCodeAt(0);
        const f = flat(v);
        if (f !== undefined) (strings++, set.call(o, k, f));
      });
    } else if (types.isSet(o)) {
      Set.prototype.forEach.call(o, (v: unknown) => {
        if (typeof v === 'string' && v.length >= ROPE_MIN) (strings++, v.charCodeAt(0));
      });
    }
  }
  return { objects: objects.length, strings };
}

/** node:inspector, or undefined in a Node built without it (./configure --without-inspector). */
function inspector(): { Session: typeof InspectorSession } | undefined {
  try {
    return require('node:inspector') as { Session: typeof InspectorSession };
  } catch {
    return undefined;
  }
}

/** Whether this Node can find the app's strings (prefork() checks before it settles). */
export function canFlattenStrings(): boolean {
  return inspector() !== undefined;
}

/** Flattens the strings of every live object in the main context. Synchronous: the session is in-process. */
export function flattenStrings(): Flattened {
  const { Session } = inspector()!;
  const session = new Session();
  session.connect();
  const post = (method: string, params: object): Record<string, any> => {
    let out: Record<string, any> | undefined;
    let error: Error | null = null;
    session.post(method, params, (e, r) => {
      error = e;
      out = r as Record<string, any>;
    });
    if (error) throw error;
    if (out === undefined) throw new Error(`inspector ${method} did not answer synchronously`);
    return out;
  };
  const g = globalThis as Record<symbol, unknown>;
  g[WALKER] = walk;
  try {
    const proto = post('Runtime.evaluate', { expression: 'Object.prototype', objectGroup: GROUP });
    const found = post('Runtime.queryObjects', { prototypeObjectId: proto.result.objectId, objectGroup: GROUP });
    const done = post('Runtime.callFunctionOn', {
      objectId: found.objects.objectId,
      functionDeclaration: `function () { return globalThis[Symbol.for('pg-forkguard.flattenStrings')](this); }`,
      returnByValue: true,
    });
    if (done.exceptionDetails) throw new Error(`flattening strings failed: ${done.exceptionDetails.exception?.description}`);
    return done.result.value as Flattened;
  } finally {
    delete g[WALKER];
    try {
      post('Runtime.releaseObjectGroup', { objectGroup: GROUP });
    } finally {
      session.disconnect();
    }
  }
}
