#!/usr/bin/env bash
# Builds the example plugins under examples/plugins/, one per guest language and each with
# that language's own toolchain, into <lang>/<name>.wasm (<name> from <lang>/plugin.toml).
#
#   examples/plugins/build.sh                      build all; update the committed components
#   examples/plugins/build.sh --check              rebuild in a temporary directory and fail
#                                                  if a committed component no longer
#                                                  matches its sources
#   examples/plugins/build.sh --check --if-installed
#                                                  the same, but skip (successfully) when a
#                                                  toolchain is missing instead of
#                                                  installing it: for CI
#   examples/plugins/build.sh --install            only install the toolchains (about three
#                                                  minutes on a fresh machine)
#
# Toolchains, pinned, installed once under $AGENTX_GUEST_TOOLS (default
# ~/.cache/agentx-guest-tools, where plugins/build.sh keeps wasm-tools too):
#   wat     wasm-tools (component embed + component new) around a hand-written core module
#   js      npm componentize-qjs (QuickJS); --sync --stub-wasi keep WASI imports out
#   python  PyPI componentize-py (CPython), in a venv
#   c       wit-bindgen-cli for the bindings, Debian's clang-19 and wasi-libc for
#           wasm32-wasi, and the WASI preview1 reactor adapter of wasmtime (the crate
#           wasi-preview1-component-adapter-provider) to turn the core module into a component
# Python and C components import WASI (their libc); the host links a deny-all WASI for them.
#
# Reproducibility: the WAT and C builds are byte-for-byte reproducible, so --check compares
# bytes. componentize-qjs and componentize-py are not: their build-time snapshot of the
# initialised runtime holds random state (hash seeds), so two builds differ. Those
# components get a stamp beside them, <name>.wasm.stamp: the toolchain, the sha256 of every
# source (the WIT included), of the component's WIT, and of the component itself. --check
# rebuilds, recomputes the stamp and compares it, and checks that the committed component
# is the one its stamp names. The C build's bytes also depend on Debian's clang-19, lld-19
# and wasi-libc, which Debian may update: the versions that built the committed component are
# recorded in TOOLCHAIN here, and under others --check builds and validates it but does not
# compare its bytes, and says so.
set -euo pipefail

WASM_TOOLS_VERSION=1.263.0
WIT_BINDGEN_VERSION=0.61.1
COMPONENTIZE_QJS_VERSION=0.4.5
COMPONENTIZE_PY_VERSION=0.25.1
ADAPTER_VERSION=48.0.8  # = the host's wasmtime
APT_PACKAGES=(clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32 python3-venv)

EXAMPLES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$EXAMPLES_DIR/../.." && pwd)"
TOOLS_DIR="${AGENTX_GUEST_TOOLS:-$HOME/.cache/agentx-guest-tools}"
WASM_TOOLS="$TOOLS_DIR/bin/wasm-tools"
WIT_BINDGEN="$TOOLS_DIR/bin/wit-bindgen"
COMPONENTIZE_QJS="$TOOLS_DIR/js/node_modules/.bin/componentize-qjs"
COMPONENTIZE_PY="$TOOLS_DIR/py/bin/componentize-py"
ADAPTER="$TOOLS_DIR/wasi_snapshot_preview1.reactor-$ADAPTER_VERSION.wasm"

APT_TOOLCHAIN=(clang-19 lld-19 libclang-rt-19-dev-wasm32 wasi-libc)
TOOLCHAIN_FILE="$EXAMPLES_DIR/TOOLCHAIN"

CHECK=false
INSTALL=true
INSTALL_ONLY=false
for arg in "$@"; do
  case "$arg" in
    --check) CHECK=true ;;
    --if-installed) INSTALL=false ;;
    --install) INSTALL_ONLY=true ;;
    *) echo "usage: $0 [--check [--if-installed] | --install]" >&2; exit 2 ;;
  esac
done

step() { echo "==> $*"; }
die() { echo "error: $*" >&2; exit 1; }

# --- toolchains -------------------------------------------------------------------------

# Each ensure_* succeeds when its tool is there at the pinned version; otherwise it installs
# it, or with --if-installed names it in MISSING.
MISSING=()
missing() {
  $INSTALL && return 1
  MISSING+=("$1")
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else
    command -v sudo >/dev/null || die "not root and no sudo: run $* first"
    sudo "$@"
  fi
}

ensure_apt() {
  local package installed=true
  for package in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' \
      || installed=false
  done
  $installed && return
  missing "apt: ${APT_PACKAGES[*]}" && return
  step "installing ${APT_PACKAGES[*]}"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${APT_PACKAGES[@]}"
}

# cargo-installed tools: $1 crate, $2 version, $3 binary.
ensure_cargo_tool() {
  local crate="$1" version="$2" binary="$TOOLS_DIR/bin/$3"
  if [ -x "$binary" ] && "$binary" --version | grep -qF " $version"; then
    return
  fi
  missing "$crate $version" && return
  step "building $crate $version into $TOOLS_DIR (takes several minutes, once)"
  CARGO_TARGET_DIR="$TOOLS_DIR/target-$crate" \
    cargo install "$crate@$version" --locked --root "$TOOLS_DIR"
  rm -rf "$TOOLS_DIR/target-$crate"
}

ensure_componentize_qjs() {
  if [ -x "$COMPONENTIZE_QJS" ] && grep -qF "\"version\": \"$COMPONENTIZE_QJS_VERSION\"" \
       "$TOOLS_DIR/js/node_modules/componentize-qjs/package.json"; then
    return
  fi
  missing "componentize-qjs $COMPONENTIZE_QJS_VERSION (npm)" && return
  command -v npm >/dev/null || die "componentize-qjs needs node and npm (node >= 20)"
  step "installing componentize-qjs $COMPONENTIZE_QJS_VERSION into $TOOLS_DIR/js"
  mkdir -p "$TOOLS_DIR/js"
  npm install --prefix "$TOOLS_DIR/js" --no-audit --no-fund --save-exact \
    "componentize-qjs@$COMPONENTIZE_QJS_VERSION"
}

ensure_componentize_py() {
  if [ -x "$COMPONENTIZE_PY" ] \
     && [ "$("$COMPONENTIZE_PY" --version)" = "componentize-py $COMPONENTIZE_PY_VERSION" ]; then
    return
  fi
  missing "componentize-py $COMPONENTIZE_PY_VERSION (pip)" && return
  step "installing componentize-py $COMPONENTIZE_PY_VERSION into $TOOLS_DIR/py"
  /usr/bin/python3 -m venv "$TOOLS_DIR/py"
  "$TOOLS_DIR/py/bin/pip" install --quiet "componentize-py==$COMPONENTIZE_PY_VERSION"
}

# The adapter's bytes are constants of a crate, so a throwaway program prints them.
ensure_adapter() {
  [ -s "$ADAPTER" ] && return
  missing "wasi-preview1-component-adapter-provider $ADAPTER_VERSION" && return
  step "extracting the WASI preview1 reactor adapter $ADAPTER_VERSION"
  local project="$TOOLS_DIR/adapter-$ADAPTER_VERSION"
  mkdir -p "$project/src"
  cat >"$project/Cargo.toml" <<EOF
[package]
name = "adapter"
version = "0.0.0"
edition = "2021"

[dependencies]
wasi-preview1-component-adapter-provider = "=$ADAPTER_VERSION"

[workspace]
EOF
  cat >"$project/src/main.rs" <<'EOF'
use std::io::Write;
fn main() {
    let adapter = wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER;
    std::io::stdout().write_all(adapter).unwrap();
}
EOF
  cargo run --quiet --release --manifest-path "$project/Cargo.toml" >"$ADAPTER.partial"
  mv "$ADAPTER.partial" "$ADAPTER"
  rm -rf "$project"
}

ensure_apt
ensure_cargo_tool wasm-tools "$WASM_TOOLS_VERSION" wasm-tools
ensure_cargo_tool wit-bindgen-cli "$WIT_BINDGEN_VERSION" wit-bindgen
ensure_componentize_qjs
ensure_componentize_py
ensure_adapter
if [ "${#MISSING[@]}" -gt 0 ]; then
  echo "guest toolchains not installed, skipping the examples check: ${MISSING[*]}"
  echo "(examples/plugins/build.sh --check installs them)"
  exit 0
fi
$INSTALL_ONLY && exit 0

# --- builds -----------------------------------------------------------------------------

WORK_DIR="$(mktemp -d)"
trap 'rm -rf "$WORK_DIR"' EXIT

manifest_name() { sed -n 's/^name *= *"\(.*\)"/\1/p' "$EXAMPLES_DIR/$1/plugin.toml"; }

# A WIT directory for a plugin's own world.wit, with wit/ (agentx:plugin) as its dependency.
plugin_wit() {
  local lang="$1" dir="$WORK_DIR/$1-wit"
  mkdir -p "$dir/deps/agentx-plugin"
  cp "$EXAMPLES_DIR/$lang/world.wit" "$dir/"
  cp "$REPO_DIR"/wit/*.wit "$dir/deps/agentx-plugin/"
  echo "$dir"
}

# Each build_<lang> writes the component to $1 and, for stamped builds, sets TOOLCHAIN and
# SOURCES (paths relative to the repository).
build_wat() {
  "$WASM_TOOLS" component embed "$REPO_DIR/wit" --world agentx:plugin/responder@0.1.0 \
    "$EXAMPLES_DIR/wat/greeter.wat" -o "$WORK_DIR/wat.embedded.wasm"
  "$WASM_TOOLS" component new "$WORK_DIR/wat.embedded.wasm" -o "$1"
}

build_js() {
  "$COMPONENTIZE_QJS" --wit "$(plugin_wit js)" --world greeter \
    --js "$EXAMPLES_DIR/js/greeter.js" --sync --stub-wasi -o "$1" >/dev/null
  TOOLCHAIN="componentize-qjs $COMPONENTIZE_QJS_VERSION --sync --stub-wasi"
  SOURCES=(examples/plugins/js/greeter.js examples/plugins/js/world.wit)
}

build_python() {
  local wit dir="$WORK_DIR/python"
  wit="$(plugin_wit python)"
  # Built from a copy: componentize-py leaves a __pycache__ beside the sources.
  mkdir -p "$dir"
  cp "$EXAMPLES_DIR/python/app.py" "$dir/"
  (cd "$dir" && "$COMPONENTIZE_PY" -d "$wit" -w greeter componentize app -o "$1" >/dev/null)
  TOOLCHAIN="componentize-py $COMPONENTIZE_PY_VERSION"
  SOURCES=(examples/plugins/python/app.py examples/plugins/python/world.wit)
}

build_c() {
  local dir="$WORK_DIR/c"
  mkdir -p "$dir"
  "$WIT_BINDGEN" c --world greeter --out-dir "$dir" "$(plugin_wit c)" >/dev/null
  # The build directory is random: mapping it keeps any path the compiler records stable.
  clang-19 --target=wasm32-wasi -mexec-model=reactor -O2 -Wall -Werror \
    -ffile-prefix-map="$dir=/build" -ffile-prefix-map="$EXAMPLES_DIR=/examples" \
    -I "$dir" -Wl,--strip-debug \
    "$EXAMPLES_DIR/c/greeter.c" "$dir/greeter.c" "$dir/greeter_component_type.o" \
    -o "$dir/core.wasm"
  "$WASM_TOOLS" component new "$dir/core.wasm" \
    --adapt "wasi_snapshot_preview1=$ADAPTER" -o "$1"
}

# Debian's part of the C build, at its package versions.
apt_toolchain() {
  echo "# Written by examples/plugins/build.sh: Debian's toolchain that built c/c-greeter.wasm."
  dpkg-query -W -f='${Package} ${Version}\n' "${APT_TOOLCHAIN[@]}"
}

stamp() {
  local component="$1" source
  echo "# Written by examples/plugins/build.sh, which checks it: this component's build is"
  echo "# not byte-reproducible, so --check compares this instead (see build.sh)."
  echo "toolchain $TOOLCHAIN"
  for source in "${SOURCES[@]}" "$REPO_DIR"/wit/*.wit; do
    source="${source#"$REPO_DIR"/}"
    echo "source $source $(sha256sum <"$REPO_DIR/$source" | cut -d' ' -f1)"
  done
  echo "wit $("$WASM_TOOLS" component wit "$component" | sha256sum | cut -d' ' -f1)"
}

LANGS=(wat js python c)
failed=()
started=$SECONDS
for lang in "${LANGS[@]}"; do
  name="$(manifest_name "$lang")"
  [ -n "$name" ] || die "$lang/plugin.toml has no name"
  built="$WORK_DIR/$name.wasm"
  committed="$EXAMPLES_DIR/$lang/$name.wasm"
  TOOLCHAIN="" SOURCES=()
  lang_started=$SECONDS
  "build_$lang" "$built"
  "$WASM_TOOLS" validate "$built"
  step "$lang: built $name.wasm ($(wc -c <"$built") bytes) in $((SECONDS - lang_started)) s"

  if [ -z "$TOOLCHAIN" ]; then
    if ! $CHECK; then
      cp "$built" "$committed"
      [ "$lang" != c ] || apt_toolchain >"$TOOLCHAIN_FILE"
    elif [ "$lang" = c ] && [ "$(apt_toolchain)" != "$(cat "$TOOLCHAIN_FILE" 2>/dev/null)" ]; then
      step "c: builds and validates, but Debian's toolchain is not the one that built the"
      step "committed c/$name.wasm, so its bytes are not compared (build.sh rebuilds it):"
      diff <(cat "$TOOLCHAIN_FILE" 2>/dev/null) <(apt_toolchain) || true
    elif cmp -s "$built" "$committed"; then
      step "$lang: matches the committed $lang/$name.wasm byte for byte"
    else
      echo "MISMATCH: $lang/$name.wasm is not what its source builds to" >&2
      failed+=("$lang")
    fi
    continue
  fi

  expected="$(stamp "$built")"
  if ! $CHECK; then
    cp "$built" "$committed"
    { echo "$expected"; echo "component $(sha256sum <"$committed" | cut -d' ' -f1)"; } \
      >"$committed.stamp"
  elif [ "$expected" != "$(grep -v '^component ' "$committed.stamp" 2>/dev/null)" ]; then
    echo "MISMATCH: $lang/$name.wasm.stamp does not match a rebuild (sources, toolchain or WIT changed):" >&2
    diff <(grep -v '^component ' "$committed.stamp" 2>/dev/null) <(echo "$expected") >&2 || true
    failed+=("$lang")
  elif ! grep -qx "component $(sha256sum <"$committed" | cut -d' ' -f1)" "$committed.stamp"; then
    echo "MISMATCH: $lang/$name.wasm is not the component its stamp was written for" >&2
    failed+=("$lang")
  else
    step "$lang: the rebuild matches $lang/$name.wasm.stamp (sources, toolchain, WIT)"
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  die "stale examples: ${failed[*]}; run examples/plugins/build.sh"
fi
step "done in $((SECONDS - started)) s"
