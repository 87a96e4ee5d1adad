#!/usr/bin/env python3
"""Row "public": the public endpoint with the echo plugin against `/health` of the same
server, requests/s at 64 connections.

One `agentx serve` (embedded redb store, durable writes as configured by default; the
rate limits raised by agentx_bench so they never refuse the load) with one public agent,
the committed echo component; an `agx_live_` token minted through the daemon's admin API.
`wrk -t2 -c64 -d10s` on `GET /health`, then on `POST /api/public/agents/echo/messages`
(bench/public_call.lua: no chatId, so each call is a session of its own).

That is one round, on a fresh server; the row runs three (one in CI's smoke run) and
reports each figure's median. `/health` alone moves by a fifth from one run to the next on
a shared 2-core machine (70k to 93k req/s), and a single round's ratio with it: the median
of three rounds, each pair measured back to back, moves far less.

    bench/public_call.py target/release/agentx

Prints {"health_rps", "public_rps", "ratio", "public_errors", "p99_ms", "cpu_us", "commits",
"batch_mean", "commit_ms", "ratios"}: medians over the rounds, but errors summed (socket
errors, timeouts and non-2xx answers together) and `ratios`, each round's. `ratio` is the
median of the rounds' ratios; p99 is of the public calls; `cpu_us`, the server's CPU per
public call; the store's group commits during the public load, as bench/sends.py.
"""

import statistics
import sys

from agentx_bench import Server, emit, plugin, progress, smoke, under_load, wrk

AGENT = "echo"
ROUNDS = 1 if smoke() else 3


def one_round(binary):
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
    return {"health_rps": health["rps"], "public_rps": public["rps"],
            "ratio": round(public["rps"] / health["rps"], 3),
            "public_errors": public["errors"] + public["non_2xx"],
            "p99_ms": public["p99_ms"], **spent}


def main(binary):
    rounds = []
    for n in range(ROUNDS):
        progress(f"round {n + 1} of {ROUNDS}")
        rounds.append(one_round(binary))
    result = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    result["public_errors"] = sum(r["public_errors"] for r in rounds)
    result["ratios"] = [r["ratio"] for r in rounds]
    emit(result)


if __name__ == "__main__":
    main(sys.argv[1])
