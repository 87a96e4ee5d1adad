#!/usr/bin/env python3
"""Memory per idle long-poll: the server's RSS with N long-polls held, against it idle.

    bench/idle_polls.py path/to/agentx [held]

Starts `agentx serve` on a fresh data directory and free ports, registers one agent, reads
the server's VmRSS (idle, after a first poll warmed the route), then opens `held` (default
9,000) connections, each sending `GET /messages/stream?timeout=60`, waits until the RSS
settles, checks every poll is still unanswered, and reads VmRSS again. Prints one JSON line:
    {"held":9000,"kib_per_poll":..,"idle_rss_mib":..}
`held` counts the polls still waiting when the second RSS was read (a poll answered early,
for instance refused, is not counted and the script fails).

The defaults would refuse this on purpose (1,024 connections per client address, 100
requests a second per agent), so the server gets a config raising
`server.connections.max_connections`, `max_connections_per_address` and
`server.rate_limit.per_second` / `burst`; the descriptor limit is raised to its hard
limit for the server and this script. Standard library only.
"""
import asyncio
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request

POLL_SECONDS = 60


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def call(url, path, body=None, key=None, method=None):
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=POLL_SECONDS + 10) as answer:
        return json.loads(answer.read())


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


def main():
    binary = os.path.realpath(sys.argv[1])
    held = int(sys.argv[2]) if len(sys.argv) > 2 else 9000
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory() as tmp:
        cap = held + 1000
        with open(f"{tmp}/agentx.json", "w") as config:
            json.dump({"server": {
                "connections": {"max_connections": cap, "max_connections_per_address": cap},
                "rate_limit": {"per_second": 1000000, "burst": 1000000},
            }}, config)
        server = subprocess.Popen(
            [binary, "serve", "--config", f"{tmp}/agentx.json", "--data-dir", f"{tmp}/data",
             "--port", "0", "--daemon-port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            line = server.stdout.readline()
            url = re.match(r"agentx listening on (\S+)", line).group(1)
            key = call(url, "/auth/register", {"email": "idle@bench.example", "name": "Idle",
                                                "agent_name": "idle-bot"})["api_key"]
            call(url, "/messages/stream?timeout=1", key=key)
            time.sleep(1)
            idle = rss_kib(server.pid)
            rss, still = asyncio.run(measure(url, server.pid, key, held))
            print(json.dumps({"held": still,
                              "kib_per_poll": round((rss - idle) / held, 2),
                              "idle_rss_mib": round(idle / 1024, 1)}))
            if still != held:
                sys.exit(1)
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
