#!/usr/bin/env python3
"""Row "idle_polls": the server's RSS per long-poll held, against the idle server.

    bench/idle_polls.py target/release/agentx [held]

One `agentx serve` (agentx_bench's, with `server.connections.max_connections` and
`max_connections_per_address` raised above `held`: the defaults, 4,096 and 1,024 from one
address, refuse this on purpose), one agent, its VmRSS read idle (after a first poll warmed
the route), then `held` (default 9,000) connections each sending
`GET /messages/stream?timeout=60`; once the RSS settles, every poll is checked to be still
unanswered and VmRSS read again. The descriptor limit is raised to its hard limit for the
server and this script. Prints {"held", "kib_per_poll", "idle_rss_mib"}: `held` counts the
polls still waiting when the second RSS was read (any answered early fails the script).
"""

import asyncio
import re
import resource
import sys
import time

from agentx_bench import Server, emit, progress, rss_kib, smoke

POLL_SECONDS = 60


async def hold(host, port, key, waiting, answered):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        f"GET /messages/stream?timeout={POLL_SECONDS} HTTP/1.1\r\nhost: {host}\r\n"
        f"authorization: Bearer {key}\r\n\r\n".encode()
    )
    await writer.drain()
    waiting.append(writer)
    first = await reader.read(64)
    answered.append(first)


async def measure(url, pid, key, held):
    host, port = re.match(r"http://([^:/]+):(\d+)", url).groups()
    waiting, answered = [], []
    tasks = []
    for i in range(held):
        tasks.append(asyncio.create_task(hold(host, int(port), key, waiting, answered)))
        if i % 200 == 199:
            await asyncio.sleep(0.05)  # let the server accept them in steps
    while len(waiting) < held and not answered:
        await asyncio.sleep(0.1)
    # Until the RSS settles: every request read, parsed and parked.
    last = rss_kib(pid)
    for _ in range(60):
        await asyncio.sleep(0.5)
        now = rss_kib(pid)
        if abs(now - last) < 64:
            break
        last = now
    await asyncio.sleep(1)
    rss = rss_kib(pid)
    still = held - len(answered)
    if answered:
        print(f"{len(answered)} polls were answered early, e.g. {answered[0]!r}", file=sys.stderr)
    for writer in waiting:
        writer.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return rss, still


def main(binary, held):
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    cap = held + 1000
    config = {"server": {"connections": {"max_connections": cap,
                                         "max_connections_per_address": cap}}}
    with Server(binary, config) as server:
        _, key = server.register("idle")
        server.call("GET", "/messages/stream?timeout=1", key=key)
        time.sleep(1)
        idle = server.rss_kib()
        progress(f"holding {held} long-polls")
        rss, still = asyncio.run(measure(server.url, server.proc.pid, key, held))
    emit({"held": still, "kib_per_poll": round((rss - idle) / held, 2),
          "idle_rss_mib": round(idle / 1024, 1)})
    if still != held:
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else (200 if smoke() else 9000))
