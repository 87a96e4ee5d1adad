#!/usr/bin/env python3
"""Row "public": the public endpoint with the echo plugin against `/health` of the same
server, requests/s at 64 connections.

One `agentx serve` (embedded redb store, durable writes as configured by default; the
rate limits raised by agentx_bench so they never refuse the load) with one public agent,
the committed echo component; an `agx_live_` token minted through the daemon's admin API.
`wrk -t2 -c64 -d10s` on `GET /health`, then on `POST /api/public/agents/echo/messages`
(bench/public_call.lua: no chatId, so each call is a session of its own).

    bench/public_call.py target/release/agentx

Prints {"health_rps", "public_rps", "ratio", "public_errors", "p99_ms", "cpu_us", "commits",
"batch_mean", "commit_ms"} (errors: socket errors, timeouts and non-2xx answers together; p99
of the public calls; `cpu_us`, the server's CPU per public call; the store's group commits
during the public load, as bench/sends.py).
"""

import sys

from agentx_bench import Server, emit, plugin, progress, under_load, wrk

AGENT = "echo"


def main(binary):
    config = {"agents": {AGENT: {"name": "Echo", "access": "public",
                                 "responder": plugin("echo"), "grants": ["history"]}}}
    with Server(binary, config) as server:
        token = server.token([f"agent:{AGENT}"])
        path = f"/api/public/agents/{AGENT}/messages"
        reply = server.call("POST", path, {"message": "hello"}, key=token)
        if reply["content"] != "echo: hello":
            raise RuntimeError(f"the echo agent answered {reply}")
        progress("wrk on GET /health")
        health = wrk(server.url + "/health")
        progress(f"wrk on POST {path}")
        public, spent = under_load(server, lambda: wrk(
            server.url + path, script="public_call.lua", env={"AGENTX_TOKEN": token}))
    emit({"health_rps": health["rps"], "public_rps": public["rps"],
          "ratio": round(public["rps"] / health["rps"], 3),
          "public_errors": public["errors"] + public["non_2xx"],
          "p99_ms": public["p99_ms"], **spent})


if __name__ == "__main__":
    main(sys.argv[1])
