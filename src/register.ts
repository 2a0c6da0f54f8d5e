// Zero-code guarding: `node --import pg-forkguard/register app.mjs` (ESM apps) or
// `node -r pg-forkguard/register app.js` (CommonJS). Every pg.Pool and pg.Client created afterwards
// is guarded, however the app loads pg (import, `import { Pool } from 'pg'`, require), for every
// copy of pg installed, pg.native included. It works in this thread, at the point CommonJS compiles
// pg's entry module (pg's ESM entry is a wrapper over it and copies its exports after that), so it
// needs no module loader thread, which a forked child would not have.
//   PG_FORKGUARD_DEBUG=1: debug mode; PG_FORKGUARD_PREFILL=<n>: prefill for every pool.
import Module from 'node:module';
import { guard, type GuardOptions } from './guard.js';

type PgExports = { Pool?: new (...args: unknown[]) => object; Client?: new (...args: unknown[]) => object; [PATCHED]?: true };

const PATCHED = Symbol.for('pg-forkguard.register.patched');
const PG_ENTRY = /[\\/]node_modules[\\/]pg[\\/]lib[\\/]index\.js$/;

function poolOptions(): GuardOptions {
  const prefill = process.env.PG_FORKGUARD_PREFILL;
  return prefill !== undefined && prefill !== '' ? { prefill: Number(prefill) } : {};
}

/** Replaces pg's Pool and Client with subclasses that guard each instance at construction. */
function patch(pg: PgExports): void {
  if (!pg || typeof pg !== 'object' || pg[PATCHED]) return;
  const Pool = pg.Pool;
  const Client = pg.Client;
  if (typeof Pool === 'function') {
    const Guarded = class extends Pool {
      constructor(...args: unknown[]) {
        super(...args);
        guard(this as never, poolOptions());
      }
    };
    Object.defineProperty(Guarded, 'name', { value: Pool.name });
    pg.Pool = Guarded;
  }
  if (typeof Client === 'function') {
    const Guarded = class extends Client {
      constructor(...args: unknown[]) {
        super(...args);
        guard(this as never);
      }
    };
    Object.defineProperty(Guarded, 'name', { value: Client.name });
    pg.Client = Guarded;
  }
  Object.defineProperty(pg, PATCHED, { value: true });
  // pg.native (pg-native's Pool and Client) is built on first access: patch it then.
  const desc = Object.getOwnPropertyDescriptor(pg, 'native');
  if (desc?.get && desc.configurable) {
    const getNative = desc.get;
    Object.defineProperty(pg, 'native', {
      configurable: true,
      enumerable: desc.enumerable ?? false,
      get() {
        const native = getNative.call(pg) as PgExports | null;
        if (native) patch(native);
        return native;
      },
    });
  } else if (desc && 'value' in desc && desc.value) {
    patch(desc.value as PgExports);
  }
}

type Extension = (module: { exports: unknown }, filename: string) => unknown;
const extensions = (Module as unknown as { _extensions: Record<string, Extension> })._extensions;
const compileJs = extensions['.js']!;
extensions['.js'] = function (this: unknown, module, filename) {
  const result = compileJs.call(this, module, filename);
  if (PG_ENTRY.test(filename)) patch(module.exports as PgExports);
  return result;
};

// A copy of pg loaded before this file (a require earlier in the same -r list) is patched now; any
// `import { Pool } from 'pg'` made before cannot be reached.
const cache = (Module as unknown as { _cache: Record<string, { exports: unknown } | undefined> })._cache;
for (const [filename, mod] of Object.entries(cache)) {
  if (mod && PG_ENTRY.test(filename)) patch(mod.exports as PgExports);
}
