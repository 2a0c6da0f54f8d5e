#!/usr/bin/env bash
# The native and fork tests with the addon built under AddressSanitizer. Node itself is not
# instrumented: libasan is preloaded so that its runtime comes first, leak checking is off (Node
# keeps its heap at exit), and every fixture process inherits both. The normal addon is rebuilt at
# the end, whatever happened.
set -euo pipefail
cd "$(dirname "$0")/.."
libasan=$(gcc -print-file-name=libasan.so)
[ -f "$libasan" ] || { echo "test:asan: libasan.so not found (apt-get install libasan8 / gcc)"; exit 1; }
trap 'echo "test:asan: rebuilding the normal addon"; PG_FORKGUARD_SANITIZE= npm run build:native --silent >/dev/null 2>&1' EXIT
PG_FORKGUARD_SANITIZE=address npm run build:native --silent >/dev/null
# The tests load the test build (build/Release/pg_forkguard_test.node-test) through the preload that
# global-setup.mjs puts in NODE_OPTIONS (test/support/test-addon.cjs).
[ "$(nm -D build/Release/pg_forkguard_test.node-test | grep -c __asan_)" -gt 0 ] || { echo "test:asan: the addon is not instrumented"; exit 1; }
npm run build:ts --silent
export LD_PRELOAD="$libasan"
export PG_FORKGUARD_SANITIZE=address # test/condvars.test.ts builds its C program with ASan too
# Not test/heap-limit.test.ts: ASan's shadow memory is itself terabytes of address space, which the
# test's RLIMIT_AS of 16 GB refuses ("ERROR: Failed to mmap"). Its handlers run in every fixture here.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:print_summary=1"
npx vitest run --config test/vitest.config.mts test/neutralise.test.ts test/fd-registry.test.ts test/lifecycle.test.ts test/survival.test.ts test/guard.test.ts test/guard-api.test.ts test/unseen-fork.test.ts test/process-tree.test.ts test/server-restart.test.ts test/diagnostics.test.ts test/reset-list.test.ts test/pool-registry.test.ts test/pg-native.test.ts test/condvars.test.ts test/dontfork.test.ts test/random.test.ts test/at-most-once.test.ts test/threadpool-hold.test.ts test/heap-placement.test.ts test/uv-seam.test.ts test/prefork.test.ts test/prefork-listeners.test.ts test/prefork-control.test.ts test/systemd.test.ts test/no-stalls.test.ts test/threads.test.ts test/clients.test.ts test/unit/facts.test.ts
