// Preload for running node-postgres's own test suites with guard() called on every pool at
// construction (`node -r .../guard-every-pool.cjs`), the explicit-API twin of
// `-r pg-forkguard/register`. Not part of the package: see ./README.md.
const Module = require('node:module');
const { guard } = require('../../dist/index.js');

let guarded = 0;
let refused = 0;
function guardedClass(Pool) {
  return new Proxy(Pool, {
    construct(target, args, newTarget) {
      const pool = Reflect.construct(target, args, newTarget);
      try {
        guard(pool);
        guarded++;
      } catch (err) {
        // guard() refuses pools of another Client class (the suites' mocks): they run as plain.
        if (err?.code !== 'ERR_FORKGUARD_INCOMPATIBLE_POOL') throw err;
        refused++;
      }
      return pool;
    },
  });
}

// pg-pool's entry exports the Pool class; every pg.Pool (BoundPool) extends it.
const compile = Module._extensions['.js'];
Module._extensions['.js'] = function (module, filename) {
  const result = compile.call(this, module, filename);
  const C = module.exports;
  if (typeof C === 'function' && typeof C.prototype?._pulseQueue === 'function' && typeof C.prototype?.newClient === 'function') {
    module.exports = guardedClass(C);
  }
  return result;
};
process.on('exit', () => {
  if (process.env.GUARD_EVERY_POOL_REPORT) require('node:fs').appendFileSync(process.env.GUARD_EVERY_POOL_REPORT, `${guarded} ${refused}\n`);
});
