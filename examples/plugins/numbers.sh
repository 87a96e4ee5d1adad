#!/usr/bin/env bash
# The numbers per guest language in docs/plugins.md: component size, compile time (cold and
# from the compile cache), load time (link, instantiate, describe) and one call's latency,
# each the median of RUNS runs of `agentx plugin check` (each run a fresh sandbox, so
# "cold" is a real compile). The plugins measured are the committed examples: the greeter
# in WAT, JS, Python and C (examples/plugins/), and echo in Rust with the SDK (plugins/).
#
#   examples/plugins/numbers.sh            RUNS=5, agentx from target/release
#   AGENTX=path/to/agentx RUNS=9 examples/plugins/numbers.sh
#
# Prints a Markdown table, then the date, machine, commit and binary it was measured with
# (a debug build's dependencies, wasmtime and cranelift included, are optimised at
# opt-level 1; a release build's at 3).
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
AGENTX="${AGENTX:-$REPO_DIR/target/release/agentx}"
RUNS="${RUNS:-5}"
[ -x "$AGENTX" ] || { echo "error: no $AGENTX; cargo build --release first, or set AGENTX" >&2; exit 1; }

PLUGINS=(wat:examples/plugins/wat rust:plugins/echo js:examples/plugins/js
         python:examples/plugins/python c:examples/plugins/c)

# The median of the numbers on standard input.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "| language | plugin | size | compile, cold | compile, cached | load | one call |"
echo "|---|---|---|---|---|---|---|"
for entry in "${PLUGINS[@]}"; do
  lang="${entry%%:*}" folder="$REPO_DIR/${entry#*:}"
  cold=() cached=() load=() call=() size="" name=""
  for _ in $(seq "$RUNS"); do
    out="$("$AGENTX" plugin check "$folder")"
    # check prints e.g. "  compile       131.2 ms cold, 0.9 ms cached".
    name="$(awk '$1 == "name" { print $2 }' <<<"$out")"
    size="$(awk '$1 == "size" { print $2 }' <<<"$out")"
    cold+=("$(awk '$1 == "compile" { print $2 }' <<<"$out")")
    cached+=("$(awk '$1 == "compile" { print $5 }' <<<"$out")")
    load+=("$(awk '$1 == "load" { print $2 }' <<<"$out")")
    call+=("$(awk '$1 == "sample" { print $3 }' <<<"$out")")
  done
  printf '| %s | %s | %s KB | %s ms | %s ms | %s ms | %s ms |\n' "$lang" "$name" \
    "$(( (size + 512) / 1024 ))" \
    "$(printf '%s\n' "${cold[@]}" | median)" "$(printf '%s\n' "${cached[@]}" | median)" \
    "$(printf '%s\n' "${load[@]}" | median)" "$(printf '%s\n' "${call[@]}" | median)"
done
echo
echo "Median of $RUNS runs each, $(date -u +%Y-%m-%d), load average $(cut -d' ' -f1 /proc/loadavg) at the end, $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), agentx $(git -C "$REPO_DIR" rev-parse --short HEAD), ${AGENTX#"$REPO_DIR"/}."
