#!/usr/bin/env bash
# Installs the libraries above pg that test/ecosystem.test.ts runs (from the lockfile, no install
# scripts), and generates Prisma's client offline: `prisma generate` is given a schema-engine path
# it never runs, and its runtime needs no engine with @prisma/adapter-pg. Does nothing when both are
# there already.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "ecosystem: installing the libraries"
  npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
fi
if [ ! -f .generated/prisma/index.js ] || [ prisma/schema.prisma -nt .generated/prisma/index.js ]; then
  echo "ecosystem: generating the Prisma client"
  PRISMA_SCHEMA_ENGINE_BINARY=/bin/false CHECKPOINT_DISABLE=1 PRISMA_HIDE_UPDATE_MESSAGE=1 \
    node node_modules/prisma/build/index.js generate --schema prisma/schema.prisma >/dev/null
fi
