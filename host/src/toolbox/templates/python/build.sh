#!/usr/bin/env bash
# Builds {{name}}.wasm from app.py with componentize-py, installing it (pip, about a minute,
# once) into $AGENTX_GUEST_TOOLS (default ~/.cache/agentx-guest-tools), the folder agentx's
# examples use. `agentx plugin build` runs this script.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
VERSION=0.25.1
TOOLS="${AGENTX_GUEST_TOOLS:-$HOME/.cache/agentx-guest-tools}/py"
PY="$TOOLS/bin/componentize-py"
if [ ! -x "$PY" ] || [ "$("$PY" --version)" != "componentize-py $VERSION" ]; then
  echo "==> installing componentize-py $VERSION into $TOOLS (pip: about a minute, once; progress below)"
  python3 -m venv "$TOOLS"
  "$TOOLS/bin/pip" install --progress-bar on "componentize-py==$VERSION"
fi
echo "==> componentize-py app -> {{name}}.wasm"
# From a copy: componentize-py leaves __pycache__ beside the sources.
BUILD="$(mktemp -d)"
trap 'rm -rf "$BUILD"' EXIT
cp app.py "$BUILD/"
OUT="$PWD/{{name}}.wasm"
WIT="$PWD/wit"
(cd "$BUILD" && "$PY" -d "$WIT" -w plugin componentize app -o "$OUT" >/dev/null)
