#!/usr/bin/env bash
# The linux-arm64 prebuild, cross-compiled with Debian's aarch64 toolchain (g++-aarch64-linux-gnu):
# prebuilds/linux-arm64/pg-forkguard.node, the shipped addon only. node-gyp builds in build/, so this
# runs before the host's build (pretest, prepack), which leaves build/ as the host needs it.
# Against Node's own headers (npm_config_nodedir): N-API is the same on every architecture.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .tmp
for tool in aarch64-linux-gnu-gcc aarch64-linux-gnu-g++ aarch64-linux-gnu-strip; do
  command -v "$tool" >/dev/null || { echo "test/arm64/prebuild.sh: $tool not found (apt-get install g++-aarch64-linux-gnu)" >&2; exit 1; }
done
CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ \
  PREBUILD_STRIP_BIN=aarch64-linux-gnu-strip env -u npm_config_pg_forkguard_test \
  npx prebuildify --napi --strip --arch arm64 >.tmp/arm64-prebuild.log 2>&1 || { tail -30 .tmp/arm64-prebuild.log >&2; exit 1; }
file=prebuilds/linux-arm64/pg-forkguard.node
# e_machine 183: EM_AARCH64.
[ "$(od -An -tu2 -j18 -N2 "$file" | tr -d ' ')" = 183 ] || { echo "test/arm64/prebuild.sh: $file is not an aarch64 binary" >&2; exit 1; }
echo "test/arm64/prebuild.sh: $file ($(stat -c %s "$file") bytes)"
