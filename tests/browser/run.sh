#!/usr/bin/env bash
# ctest's explorer_browser test: installs playwright-core (npm ci, from the lock file) into the
# build dir and runs explorer.test.mjs against a real 2-node network in Debian's Chromium.
# Usage: run.sh BUILD_DIR POS_NODE POS_WALLET. Exit 77 (skipped) where Chromium cannot start.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="$1"
chromium="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  echo "SKIP: no Chromium at $chromium (scripts/install-deps.sh installs Debian's chromium)"
  exit 77
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "SKIP: node and npm are needed to drive Chromium (scripts/install-deps.sh installs them)"
  exit 77
fi
work="$build/browser"
mkdir -p "$work"
cp "$here/package.json" "$here/package-lock.json" "$here/explorer.test.mjs" "$work/"
# npm ci again only when the lock file changed.
if ! cmp -s "$work/package-lock.json" "$work/node_modules/.installed-lock" 2>/dev/null; then
  (cd "$work" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$work/package-lock.json" "$work/node_modules/.installed-lock"
fi
export POS_NODE_BINARY="$2" POS_WALLET_BINARY="$3" POS_SOURCE_DIR="$(cd "$here/../.." && pwd)"
export ARTIFACTS_DIR="${ARTIFACTS_DIR:-$build/artifacts/explorer}" CHROMIUM="$chromium"
cd "$work"
exec node explorer.test.mjs
