#!/usr/bin/env bash
# Builds every plugin under plugins/ into a WebAssembly component, plugins/<name>/<name>.wasm.
#
#   plugins/build.sh             build all plugins and update the committed components
#   plugins/build.sh --check     build into a temporary directory and fail if any committed
#                                component differs byte for byte from its source
#   plugins/build.sh --install   only install the guest toolchain (what .ci/run does first)
#
# The guest toolchain is Debian's rustc-web with -Zbuild-std for wasm32-unknown-unknown
# (rustup cannot fetch wasm targets on our machines; see shared/guests/rust.md), so missing
# apt packages are installed (as root) and wasm-tools is built once into a cache directory:
# about five minutes on a fresh machine, most of it building wasm-tools.
#
# Builds are reproducible with the same toolchain, which is what makes --check meaningful.
# The toolchain is Debian's, and Debian updates rustc-web with its browsers, so the one that
# built the committed components is recorded beside them (plugins/TOOLCHAIN). Under another
# one --check still builds, validates and checks every component against its manifest (the
# sources compile and fit their world), but cannot compare bytes, and says so.
#
# Environment:
#   AGENTX_GUEST_TOOLS   where wasm-tools is cached (default ~/.cache/agentx-guest-tools)
set -euo pipefail

WASM_TOOLS_VERSION=1.263.0
WIT_PACKAGE="agentx:plugin@0.1.0"
APT_PACKAGES=(rustc-web cargo-web rust-web-src libstd-rust-web-dev lld-19 ca-certificates)

PLUGINS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$PLUGINS_DIR")"
TOOLS_DIR="${AGENTX_GUEST_TOOLS:-$HOME/.cache/agentx-guest-tools}"
WASM_TOOLS="$TOOLS_DIR/bin/wasm-tools"

TOOLCHAIN_FILE="$PLUGINS_DIR/TOOLCHAIN"

CHECK=false
INSTALL_ONLY=false
case "${1:-}" in
  "") ;;
  --check) CHECK=true ;;
  --install) INSTALL_ONLY=true ;;
  *) echo "usage: $0 [--check | --install]" >&2; exit 2 ;;
esac

step() { echo "==> $*"; }
die() { echo "error: $*" >&2; exit 1; }

# Debian's cargo must be called by full path and told to use Debian's rustc: with rustup's
# ~/.cargo/bin first on PATH it would otherwise pick rustup's rustc, which has no wasm std.
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
CARGO=/usr/bin/cargo

ensure_toolchain() {
  if [ -x "$CARGO" ] && [ -x "$RUSTC" ] && command -v wasm-ld-19 >/dev/null \
     && [ -d "$("$RUSTC" --print sysroot)/lib/rustlib/src/rust/library/std" ]; then
    step "guest toolchain: $("$RUSTC" --version), wasm-ld-19"
    return
  fi
  step "installing the guest toolchain: ${APT_PACKAGES[*]}"
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "not root and no sudo: install ${APT_PACKAGES[*]} first"
    sudo=(sudo)
  fi
  "${sudo[@]}" apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${APT_PACKAGES[@]}"
}

ensure_wasm_tools() {
  if [ -x "$WASM_TOOLS" ] && [ "$("$WASM_TOOLS" --version | cut -d' ' -f2)" = "$WASM_TOOLS_VERSION" ]; then
    step "wasm-tools $WASM_TOOLS_VERSION: $WASM_TOOLS"
    return
  fi
  step "building wasm-tools $WASM_TOOLS_VERSION into $TOOLS_DIR (takes several minutes, once)"
  CARGO_TARGET_DIR="$TOOLS_DIR/target" \
    "$CARGO" install "wasm-tools@$WASM_TOOLS_VERSION" --locked --root "$TOOLS_DIR"
  rm -rf "$TOOLS_DIR/target"
}

# A string value and the (one-line) capabilities array of a plugin.toml, read with sed so
# the script needs nothing beyond bash, coreutils and sed.
manifest_value() { sed -n "s/^$2 *= *\"\(.*\)\"/\1/p" "$1"; }
manifest_capabilities() {
  sed -n 's/^capabilities *= *\[\(.*\)\]/\1/p' "$1" | tr -d ' "' | tr ',' '\n'
}

# Checks a built component against its manifest: it must target the manifest's world of
# the WIT package (exports present, no imports outside the world), and import no capability
# beyond what the manifest asks for (the host refuses such a component at load; catching it
# here names the offending import).
check_component() {
  local manifest="$1" component="$2" world wanted imported name
  name="$(basename "$component")"
  world="$(manifest_value "$manifest" world)"
  [ "$(manifest_value "$manifest" wit)" = "$WIT_PACKAGE" ] || die "$manifest: wit must be \"$WIT_PACKAGE\""
  "$WASM_TOOLS" component targets "$REPO_DIR/wit" "$component" --world "${WIT_PACKAGE/@//$world@}" \
    || die "$name does not target world $world"
  wanted="$(manifest_capabilities "$manifest")"
  for imported in $("$WASM_TOOLS" component wit "$component" \
                    | sed -n 's|^ *import agentx:plugin/\([a-z-]*\)@.*|\1|p'); do
    # `types` holds only type definitions (no functions) and `log` is always granted.
    [ "$imported" = types ] || [ "$imported" = log ] || grep -qx "$imported" <<<"$wanted" \
      || die "$name imports '$imported', which $manifest does not list in capabilities"
  done
}

# What a component's bytes depend on beyond the sources and Cargo.lock: the compiler, the
# std source it builds (both Debian's, at their package versions), the linker and wasm-tools.
toolchain() {
  echo "# Written by plugins/build.sh: the toolchain that built the committed components."
  dpkg-query -W -f='${Package} ${Version}\n' rustc-web rust-web-src lld-19
  "$WASM_TOOLS" --version
}

ensure_toolchain
ensure_wasm_tools
$INSTALL_ONLY && exit 0

# Components are built and checked here first, so a failure never leaves a mix of old
# and new components behind.
WORK_DIR="$(mktemp -d)"
trap 'rm -rf "$WORK_DIR"' EXIT

mapfile -t PLUGINS < <(cd "$PLUGINS_DIR" && for m in */plugin.toml; do dirname "$m"; done)
[ "${#PLUGINS[@]}" -gt 0 ] || die "no plugins (*/plugin.toml) under $PLUGINS_DIR"

# Cargo derives a crate's symbol hashes (-C metadata) from its absolute source path when
# the crate lives outside the workspace, as ../sdk does, and symbol names decide function
# order in the linked module: two checkouts at different paths would build different
# bytes. So the build goes through a fixed path, a symlink to this checkout, held under a
# lock so that concurrent builds from different checkouts cannot swap it mid-build.
BUILD_LINK=/tmp/agentx-guest-build
exec 9>"$BUILD_LINK.lock"
flock 9
ln -sfn "$REPO_DIR" "$BUILD_LINK"

step "compiling ${PLUGINS[*]} for wasm32-unknown-unknown (through $BUILD_LINK)"
started=$SECONDS
# -Zbuild-std compiles std from rust-web-src, which the stable Debian compiler only allows
# with RUSTC_BOOTSTRAP; Debian's rustc ships no rust-lld, hence wasm-ld-19. Panic
# locations embed source paths: remapping the checkout and the cargo registry keeps them
# the same whoever builds. The stack is 128 KiB rather than Rust's 1 MiB: the host walks
# the page table of all of a finished instance's memory to reset it, so every call pays for
# the stack's size, and these plugins touch one page of it (benches/README.md, "A smaller
# guest memory"); overflowing it traps the call, never the host. NB: --manifest-path, not
# cd: the shell's working directory would resolve the symlink.
RUSTC_BOOTSTRAP=1 CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-19 \
CARGO_TARGET_DIR="$PLUGINS_DIR/target" \
CARGO_ENCODED_RUSTFLAGS="-Clink-arg=-zstack-size=131072"$'\x1f'"--remap-path-prefix=$BUILD_LINK=/agentx"$'\x1f'"--remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo" \
  "$CARGO" build --manifest-path "$BUILD_LINK/plugins/Cargo.toml" --release --locked \
    --workspace --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort
step "compiled in $((SECONDS - started)) s"

failed=()
for name in "${PLUGINS[@]}"; do
  core="$PLUGINS_DIR/target/wasm32-unknown-unknown/release/${name//-/_}.wasm"
  out="$WORK_DIR/$name.wasm"
  step "$name: component new, validate, check against plugin.toml"
  # The SDK links an imports-only description of *both* worlds (it serves both), while
  # the export macro adds the full description of the world the plugin implements.
  # Dropping the imports-only ones leaves exactly that world, so the component has no
  # stray type imports from the other world and `component targets` holds.
  "$WASM_TOOLS" strip --delete '.*-with-all-of-its-exports-removed.*' "$core" \
    -o "$WORK_DIR/$name.core.wasm"
  "$WASM_TOOLS" component new "$WORK_DIR/$name.core.wasm" -o "$out"
  "$WASM_TOOLS" validate "$out"
  check_component "$PLUGINS_DIR/$name/plugin.toml" "$out"
done

if $CHECK && [ "$(toolchain)" != "$(cat "$TOOLCHAIN_FILE" 2>/dev/null)" ]; then
  step "every plugin builds, validates and fits its manifest, but the committed components"
  step "were built with another toolchain, so their bytes are not compared (plugins/build.sh"
  step "rebuilds them with this one):"
  diff <(cat "$TOOLCHAIN_FILE" 2>/dev/null) <(toolchain) || true
  exit 0
fi

for name in "${PLUGINS[@]}"; do
  committed="$PLUGINS_DIR/$name/$name.wasm"
  if $CHECK; then
    if cmp -s "$WORK_DIR/$name.wasm" "$committed"; then
      step "$name: matches the committed $name/$name.wasm"
    else
      echo "MISMATCH: $name/$name.wasm is not what its source builds to; run plugins/build.sh" >&2
      failed+=("$name")
    fi
  else
    cp "$WORK_DIR/$name.wasm" "$committed"
    step "$name: wrote $name/$name.wasm ($(wc -c <"$committed") bytes)"
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  die "stale components: ${failed[*]}"
fi
$CHECK || toolchain >"$TOOLCHAIN_FILE"
step "done in $((SECONDS - started)) s"
