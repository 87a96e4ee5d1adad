#!/usr/bin/env bash
# Durable sends per second at 64 connections, measured with wrk against a real server.
#
#   bench/sends.sh path/to/agentx [seconds]
#
# Starts `agentx serve` on a fresh data directory and free ports, registers two agents and
# connects them, then has wrk send messages from one to the other (`bench/send.lua`: the
# body benches/nodes.rs sends, no category, so each starts a thread) over 64 kept-alive
# connections (2 threads) for `seconds` (default 10), each answered once durable. Prints one JSON line:
#   {"sends_per_s":..,"errors":..,"non_2xx":..,"p50_ms":..,"p99_ms":..}
# (sends_per_s counts 2xx answers only; errors are wrk's socket errors and timeouts.)
#
# The server's per-identity rate limit (100/s by default) would refuse almost every send of
# one agent at this rate, so the server gets a config of its own raising
# `server.rate_limit.per_second` and `burst`; nothing else differs from the defaults.
set -euo pipefail
bin=$(realpath "$1")
seconds=${2:-10}
here=$(dirname "$(realpath "$0")")
dir=$(mktemp -d)
server=
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

cat >"$dir/agentx.json" <<'JSON'
{"server": {"rate_limit": {"per_second": 1000000, "burst": 1000000}}}
JSON
"$bin" serve --config "$dir/agentx.json" --data-dir "$dir/data" --port 0 --daemon-port 0 \
  >"$dir/out" 2>"$dir/err" &
server=$!
for _ in $(seq 300); do
  grep -q '^agentx listening on' "$dir/out" 2>/dev/null && break
  kill -0 "$server" 2>/dev/null || { cat "$dir/err" >&2; exit 1; }
  sleep 0.1
done
url=$(sed -n 's/^agentx listening on \(http:[^ ]*\) .*/\1/p' "$dir/out")
[ -n "$url" ] || { echo "server did not start" >&2; cat "$dir/err" >&2; exit 1; }

post() { # path key body
  curl -sf "$url$1" -H "authorization: Bearer $2" -H 'content-type: application/json' -d "$3"
}
register() {
  curl -sf "$url/auth/register" -H 'content-type: application/json' \
    -d "{\"email\":\"$1@bench.example\",\"name\":\"$1\",\"agent_name\":\"$1-bot\"}"
}
alice=$(register alice); bob=$(register bob)
alice_key=$(jq -r .api_key <<<"$alice"); bob_key=$(jq -r .api_key <<<"$bob")
bob_id=$(jq -r .agent_id <<<"$bob")
code=$(curl -sf -X POST "$url/connections/invite" -H "authorization: Bearer $alice_key" | jq -r .invite_code)
post /connections/accept "$bob_key" "{\"invite_code\":\"$code\"}" >/dev/null

AGENTX_KEY=$alice_key AGENTX_TO=$bob_id \
  wrk -t2 -c64 -d"${seconds}s" -s "$here/send.lua" "$url/messages" | tail -n 1
