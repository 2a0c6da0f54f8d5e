#!/usr/bin/env bash
# Installs each pg version that test/pg-versions.test.ts runs the core scenarios against, from its
# lockfile (pg with the pg-pool it shipped with: a plain `npm install pg@8.11` would pull the newest
# pg-pool 3.x). Does nothing for a version already installed.
set -euo pipefail
cd "$(dirname "$0")"
for dir in pg-*/; do
  dir=${dir%/}
  if [ ! -f "$dir/node_modules/.package-lock.json" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "pg-versions: installing $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
  fi
done
