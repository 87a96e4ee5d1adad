#!/usr/bin/env bash
# Builds {{name}}.wasm from plugin.c: `wit-bindgen c` generates the bindings from wit/,
# clang-19 compiles them with wasi-libc into a core module, and `agentx plugin build` (which
# runs this script) makes the component, adapting WASI preview1 to the deny-all WASI agentx
# links. On first use it installs, saying so first:
#   clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32 with apt (about a minute; root or sudo)
#   wit-bindgen-cli 0.61.1 with cargo install into $AGENTX_GUEST_TOOLS (default
#   ~/.cache/agentx-guest-tools, where agentx's examples keep it; 5 to 7 minutes on 2 cores, once)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
WIT_BINDGEN_VERSION=0.61.1
APT_PACKAGES=(clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32)
TOOLS="${AGENTX_GUEST_TOOLS:-$HOME/.cache/agentx-guest-tools}"
WIT_BINDGEN="$TOOLS/bin/wit-bindgen"

missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' \
    || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> installing ${missing[*]} with apt (about a minute, once)"
  sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
fi
if [ ! -x "$WIT_BINDGEN" ] || ! "$WIT_BINDGEN" --version | grep -qF " $WIT_BINDGEN_VERSION"; then
  command -v cargo >/dev/null || { echo "error: installing wit-bindgen needs cargo" >&2; exit 1; }
  echo "==> building wit-bindgen-cli $WIT_BINDGEN_VERSION into $TOOLS (cargo install: 5 to 7 minutes on 2 cores, once; progress below)"
  CARGO_TARGET_DIR="$TOOLS/target-wit-bindgen-cli" \
    cargo install "wit-bindgen-cli@$WIT_BINDGEN_VERSION" --locked --root "$TOOLS"
  rm -rf "$TOOLS/target-wit-bindgen-cli"
fi

echo "==> wit-bindgen c + clang-19 plugin.c -> {{name}}.wasm (a core module; agentx plugin build makes it a component)"
BUILD="$(mktemp -d)"
trap 'rm -rf "$BUILD"' EXIT
"$WIT_BINDGEN" c --world plugin --out-dir "$BUILD" wit >/dev/null
clang-19 --target=wasm32-wasi -mexec-model=reactor -O2 -Wall -Werror -I "$BUILD" \
  -Wl,--strip-debug plugin.c "$BUILD/plugin.c" "$BUILD/plugin_component_type.o" \
  -o {{name}}.wasm
