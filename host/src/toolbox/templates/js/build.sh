#!/usr/bin/env bash
# Builds {{name}}.wasm from plugin.js with componentize-qjs, installing it (npm, about half a
# minute, once) into $AGENTX_GUEST_TOOLS (default ~/.cache/agentx-guest-tools), the folder
# agentx's examples use. `agentx plugin build` runs this script.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
VERSION=0.4.5
TOOLS="${AGENTX_GUEST_TOOLS:-$HOME/.cache/agentx-guest-tools}/js"
QJS="$TOOLS/node_modules/.bin/componentize-qjs"
if ! grep -qsF "\"version\": \"$VERSION\"" "$TOOLS/node_modules/componentize-qjs/package.json"; then
  command -v npm >/dev/null || { echo "error: componentize-qjs needs node >= 20 and npm" >&2; exit 1; }
  echo "==> installing componentize-qjs $VERSION into $TOOLS (npm: about half a minute, once; progress below)"
  mkdir -p "$TOOLS"
  npm install --prefix "$TOOLS" --no-audit --no-fund --save-exact "componentize-qjs@$VERSION"
fi
echo "==> componentize-qjs plugin.js -> {{name}}.wasm"
"$QJS" --wit wit --world plugin --js plugin.js --sync --stub-wasi -o {{name}}.wasm >/dev/null
