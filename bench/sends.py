#!/usr/bin/env python3
"""Row "sends": durable sends per second at 64 connections, against an fsync per message.

One `agentx serve` (embedded redb store; the rate limits raised by agentx_bench, since one
agent sending at this rate is far past the default 100/s), two agents connected as friends,
then `wrk -t2 -c64 -d10s` on `POST /messages` from one to the other (bench/send.lua), each
answered only once durable.

The baseline is the disk's own rate of one fsync per message, measured in the same run in
the server's data directory: 2 s of appending a message-sized record to a file and
`fdatasync`-ing it, one after the other (redb admits one write transaction at a time, so 64
writers would queue the same fsyncs). It is the ceiling of any store that syncs each
message, redb's own commit work not counted, so the ratio is a conservative one. (The
criterion bench `group_commit` measures the same comparison inside the store.)

    bench/sends.py target/release/agentx

Prints {"sends_per_s", "errors", "non_2xx", "p50_ms", "p99_ms", "fsync_per_s", "ratio",
"cpu_us", "commits", "batch_mean", "commit_ms"}: `cpu_us` is the server's CPU per send; the
last three are the store's group commits during the load (how many, sends per commit, mean
time of one, its fsync in), read from `/metrics`.
"""

import os
import sys
import time

from agentx_bench import Server, emit, progress, smoke, under_load, wrk

RECORD = b"x" * 300  # about a stored message with its indexes


def fsyncs_per_second(directory, seconds):
    path = os.path.join(directory, "fsync-baseline")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        count, began = 0, time.monotonic()
        while time.monotonic() - began < seconds:
            os.write(fd, RECORD)
            os.fdatasync(fd)
            count += 1
        return count / (time.monotonic() - began)
    finally:
        os.close(fd)
        os.unlink(path)


def main(binary):
    with Server(binary) as server:
        (_, alice_key), (bob, _) = server.connected_pair()
        server.call("POST", "/messages", {"to_agent_id": bob, "content": "hello"}, key=alice_key)
        progress("fsync per message (baseline)")
        fsync = fsyncs_per_second(server.data_dir, 0.2 if smoke() else 2)
        progress("wrk on POST /messages")
        sends, spent = under_load(server, lambda: wrk(
            server.url + "/messages", script="send.lua",
            env={"AGENTX_KEY": alice_key, "AGENTX_TO": bob}))
    emit({"sends_per_s": round(sends["rps"]), "errors": sends["errors"],
          "non_2xx": sends["non_2xx"], "p50_ms": sends["p50_ms"], "p99_ms": sends["p99_ms"],
          "fsync_per_s": round(fsync), "ratio": round(sends["rps"] / fsync, 2),
          **spent})


if __name__ == "__main__":
    main(sys.argv[1])
