#!/usr/bin/env bash
# Runs node-postgres's own test suites three ways — plain, under `-r pg-forkguard/register`, and
# with guard() on every pool — and compares them test by test. By hand, not in CI: it needs a
# checkout of node-postgres (its code is not ours to copy here) with its test dependencies.
#   test/upstream/run.sh <node-postgres checkout> <out dir>
# Postgres from PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE (a superuser). See ./README.md.
set -uo pipefail
np=$(cd "$1" && pwd)
out=$(mkdir -p "$2" && cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
modes=(plain hook guard)
flags_plain=()
flags_hook=(-r pg-forkguard/register)
flags_guard=(-r "$here/guard-every-pool.cjs")

# One line per test: "<file> <test name> <outcome>", so two modes diff test by test.
pg_suite() { # name, dir (under packages/pg), extra argument
  local name=$1 dir=$2 arg=${3:-}
  for mode in "${modes[@]}"; do
    local flags="flags_$mode[@]"
    : > "$out/$name.$mode"
    (cd "$np/packages/pg" && chmod 600 test/unit/client/pgpass.file 2>/dev/null
      find "$dir" -name '*-tests.js' | sort | while read -r f; do
        TEST_TIMEOUT=20000 node "${!flags}" "$f" $arg > "$out/.raw" 2> "$out/.stderr"
        rc=$?
        grep -E ' (✔|\? - SKIPPED|FAILED!)$' "$out/.raw" | sed "s|^|$f |" >> "$out/$name.$mode"
        [ $rc = 0 ] || echo "$f EXIT $rc" >> "$out/$name.$mode"
      done)
  done
}

mocha_suite() { # name, package dir
  local name=$1 dir=$2
  for mode in "${modes[@]}"; do
    local flags="flags_$mode[@]"
    (cd "$np/packages/$dir" && node "${!flags}" "$np/node_modules/mocha/bin/mocha.js" --reporter json --timeout 20000 --exit \
      > "$out/.json" 2>/dev/null)
    node -e '
      const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").replace(/^[^{]*/, ""));
      for (const t of r.tests) console.log(`${t.fullTitle} ${t.err && Object.keys(t.err).length ? "FAILED" : (t.pending ? "PENDING" : "ok")}`);
    ' "$out/.json" | sort > "$out/$name.$mode"
  done
}

GUARD_EVERY_POOL_REPORT="$out/guard-counts" ; export GUARD_EVERY_POOL_REPORT
: > "$GUARD_EVERY_POOL_REPORT"
pg_suite unit test/unit
pg_suite integration test/integration
pg_suite native test/native
pg_suite integration-native test/integration native
mocha_suite pg-pool pg-pool
mocha_suite pg-cursor pg-cursor

for f in "$out"/*.plain; do
  name=$(basename "$f" .plain)
  line="$name:"
  for mode in "${modes[@]}"; do
    total=$(wc -l < "$out/$name.$mode")
    passed=$(grep -cE '(✔|ok)$' "$out/$name.$mode")
    line+=" $mode $passed/$total"
  done
  differ=0
  for mode in hook guard; do
    diff -q "$out/$name.plain" "$out/$name.$mode" >/dev/null || { differ=1; echo "  $name: $mode differs from plain:"; diff "$out/$name.plain" "$out/$name.$mode" | head -20; }
  done
  echo "$line $([ $differ = 0 ] && echo 'identical' || echo 'DIFFER')"
done
awk '{ g += $1; r += $2 } END { printf "guard(): %d pools guarded, %d refused (another Client class)\n", g, r }' "$GUARD_EVERY_POOL_REPORT"
