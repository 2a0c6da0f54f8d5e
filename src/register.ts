// The zero-code entry: `node --import pg-forkguard/register app.mjs` (ESM apps) or
// `node -r pg-forkguard/register app.js` (CommonJS). Every pg.Pool and pg.Client is guarded from
// its first use, however the app loads pg (import, `import { Pool } from 'pg'`, require) and
// wherever it is installed (node_modules, pnpm's store, a symlinked workspace), pg.native included.
// It works in this thread, at the point CommonJS compiles pg's entry module (pg's ESM entry is a
// wrapper over it), so it needs no module loader thread, which a forked child would not have.
//   PG_FORKGUARD_DEBUG=1: debug mode; PG_FORKGUARD_PREFILL=<n>: prefill for every pool.
import { type PgExports, patchPgClass, coverPg, coveredCopies } from './auto-guard/auto-guard.js';
import { onFork } from './runtime/fork.js';
import { isPgClientClass, isPoolClass } from './seams/pg.js';
import { loadedModules, wrapCompileJs } from './seams/node.js';
import { wire } from './wiring.js';
import { patchRedisClass } from './clients/ioredis.js';
import { redisClassOfModule } from './seams/ioredis.js';
import { patchDispatcherBase } from './clients/undici.js';
import { dispatcherBaseOfModule } from './seams/undici.js';
import { patchMysqlConnectionClass, patchMysqlPoolClass } from './clients/mysql2.js';
import { connectionClassOfModule, poolClassOfModule } from './seams/mysql2.js';
import { patchQueryClass } from './clients/postgres-js.js';
import { queryClassOfModule } from './seams/postgres-js.js';
import { patchHttpAgentClass } from './clients/http.js';

wire();

// pg's entry is <pg>/lib/index.js, whatever the directory is called; it is recognised by what it
// exports (own data properties only: no getter of another module is run).
const ENTRY = /[\\/]lib[\\/]index\.js$/;

function isPgEntry(filename: string, exports: unknown): exports is PgExports {
  if (!ENTRY.test(filename) || exports === null || typeof exports !== 'object') return false;
  const own = (key: string): unknown => Object.getOwnPropertyDescriptor(exports, key)?.value;
  return isPgClientClass(own('Client')) && isPoolClass(own('Pool')) && typeof own('types') === 'object';
}

wrapCompileJs(
  (compileJs) =>
    function (this: unknown, module, filename) {
      const result = compileJs.call(this, module, filename);
      try {
        const exported = module.exports;
        if (isPgEntry(filename, exported)) coverPg(exported);
        else if (typeof exported === 'function') patchPgClass(exported);
        coverOtherClients(filename, exported);
      } catch (err) {
        // Looking at another module's exports must never break loading it (a getter that throws).
        process.emitWarning(`pg-forkguard/register: could not inspect ${filename}: ${(err as Error)?.message ?? err}`, {
          code: 'FORKGUARD_UNGUARDED',
        });
      }
      return result;
    },
);

// node:http's Agent (https's extends it): every agent remembered at its first request, so that the
// requests it holds queued at a fork fail in the child (src/clients/http.ts).
patchHttpAgentClass();

// A copy of pg loaded before this file (a require earlier in the same -r list) is patched now.
for (const [filename, mod] of loadedModules()) {
  if (isPgEntry(filename, mod.exports)) coverPg(mod.exports);
  else coverOtherClients(filename, mod.exports);
}

/** The other clients' classes (src/clients/), each covered from its first use. */
function coverOtherClients(filename: string, exported: unknown): void {
  const C = redisClassOfModule(filename, exported);
  if (C) patchRedisClass(C.prototype);
  // undici's dispatchers: each remembered at its first request (src/clients/undici.ts).
  const D = dispatcherBaseOfModule(filename, exported);
  if (D) patchDispatcherBase(D.prototype);
  // mysql2's pools: each covered from its first getConnection() (src/clients/mysql2.ts).
  const P = poolClassOfModule(filename, exported);
  if (P) patchMysqlPoolClass(P.prototype);
  // mysql2's connections, its pools' included: each covered from its first command.
  const M = connectionClassOfModule(filename, exported);
  if (M) patchMysqlConnectionClass(M.prototype);
  // postgres.js's CommonJS build: every query remembered until it settles (src/clients/postgres-js.ts).
  // Its ESM build never passes through here; its connections are covered all the same.
  const Q = queryClassOfModule(filename, exported);
  if (Q) patchQueryClass(Q.prototype);
}

// A pg bundled into one file never passes through the loader: say so when it would matter.
let warned = false;
onFork({
  before() {
    if (warned || coveredCopies() > 0) return;
    warned = true;
    process.emitWarning(
      'pg-forkguard/register is loaded but saw no copy of pg in this process, so it guards nothing. ' +
        'If the app bundles pg into its own file (esbuild, webpack, ncc), call guard(pool) on each ' +
        'pool, or leave pg out of the bundle (external).',
      { code: 'FORKGUARD_NO_PG' },
    );
  },
});
