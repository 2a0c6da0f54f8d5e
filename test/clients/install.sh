#!/usr/bin/env bash
# Installs the other clients test/clients.test.ts runs (from the lockfile, no install scripts).
# Does nothing when they are there already.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "clients: installing the libraries"
  npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
fi
