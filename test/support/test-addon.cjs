// Test-only preload (`node --require test/support/test-addon.cjs`, set in NODE_OPTIONS by
// test/harness/global-setup.mjs, so every test process and fixture has it): the package in this
// checkout loads the test build of its addon (native/napi/test-exports.cc) in place of the shipped
// one. It puts the test build in require's cache under the very path node-gyp-build resolves for
// the package, so the package's loader is the production one, with no switch of its own. Any other
// copy of the package (an installed tarball in test/pack.test.ts) is left alone.
const Module = require('node:module');
const { join } = require('node:path');

const root = join(__dirname, '..', '..');
const testBuild = join(root, 'build', 'Release', 'pg_forkguard_test.node-test');
try {
  const shipped = require('node-gyp-build').resolve(root);
  if (!require.cache[shipped]) {
    const mod = new Module(shipped);
    mod.filename = shipped;
    process.dlopen(mod, testBuild);
    mod.loaded = true;
    require.cache[shipped] = mod;
  }
} catch {
  // No build yet (npm run build:native makes both): the package loads what it finds, and
  // test/support/native-test.ts says the test build is missing where a test needs it.
}
