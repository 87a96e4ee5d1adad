#!/usr/bin/env python3
"""Start-up with many hosted agents: time to the first 200 from /health, and memory.

    bench/startup.py path/to/agentx [--agents 1000] [--runs 3]

For 0 and for N hosted agents (the committed plugins: every agent answers with
plugins/echo, every tenth also decides its own messages with plugins/contracts), in a
fresh temporary directory each:

1. writes an agentx.json and starts `agentx serve` once, which compiles the plugins into
   the compile cache and creates the data directory (the agents' records), then stops it;
2. starts it again `--runs` times (warm compile cache, existing data dir) and times each,
   from the spawn to the first 200 from /health on the public listener; reads VmRSS from
   /proc/<pid>/status at that moment, then stops it (SIGTERM) and waits for it to exit.

Prints one JSON line: the median of the runs, with N's and 0's RSS, and the memory per
agent as (RSS with N - RSS with 0) / N. Progress goes to stderr. With BENCH_SMOKE set
(`bench/run --smoke`), 50 agents and one warm start.
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ECHO = REPO / "plugins" / "echo"
CONTRACTS = REPO / "plugins" / "contracts"
# A first start compiles the plugins (seconds, more on a busy machine).
START_TIMEOUT_S = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(agents: int, data_dir: Path) -> dict:
    hosted = {}
    for i in range(agents):
        agent = {"name": f"Agent {i}", "responder": str(ECHO), "grants": ["history"]}
        if i % 10 == 0:
            agent["policy"] = str(CONTRACTS)
        hosted[f"agent-{i:04}"] = agent
    return {
        "server": {
            "bind": "127.0.0.1",
            "port": free_port(),
            "daemon_port": free_port(),
            "data_dir": str(data_dir),
        },
        "agents": hosted,
    }


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def start(agentx: str, config_file: Path, port: int) -> tuple[float, int]:
    """Seconds from spawn to the first 200 from /health, and the RSS then (KiB)."""
    env = {k: v for k, v in os.environ.items() if k != "RUST_BACKTRACE"}
    env.setdefault("RUST_LOG", "warn")
    began = time.monotonic()
    server = subprocess.Popen(
        [agentx, "serve", "--config", str(config_file)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Polled every millisecond: the wait itself must not hide what is measured.
        while not healthy(port):
            if server.poll() is not None:
                raise RuntimeError(f"agentx exited with {server.returncode} before /health")
            if time.monotonic() - began > START_TIMEOUT_S:
                raise RuntimeError("no /health in time")
            time.sleep(0.001)
        seconds = time.monotonic() - began
        return seconds, rss_kib(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def measure(agentx: str, agents: int, runs: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory(prefix="agentx-startup-") as tmp:
        tmp = Path(tmp)
        cfg = config(agents, tmp / "data")
        config_file = tmp / "agentx.json"
        config_file.write_text(json.dumps(cfg, indent=1))
        port = cfg["server"]["port"]
        cold, _ = start(agentx, config_file, port)
        print(f"{agents} agents: first start (compiles, creates) {cold:.2f} s", file=sys.stderr)
        results = []
        for run in range(runs):
            seconds, rss = start(agentx, config_file, port)
            print(f"{agents} agents: warm start {run + 1}: {seconds:.3f} s, RSS {rss / 1024:.1f} MiB",
                  file=sys.stderr)
            results.append((seconds, rss))
        return statistics.median(s for s, _ in results), int(statistics.median(r for _, r in results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("agentx", help="the agentx binary")
    # `bench/run --smoke` (CI) sets BENCH_SMOKE: a seconds-long run that measures nothing.
    smoke = bool(os.environ.get("BENCH_SMOKE"))
    parser.add_argument("--agents", type=int, default=50 if smoke else 1000)
    parser.add_argument("--runs", type=int, default=1 if smoke else 3,
                        help="warm starts per setup (median)")
    args = parser.parse_args()
    _, rss_none = measure(args.agentx, 0, args.runs)
    seconds, rss = measure(args.agentx, args.agents, args.runs)
    print(json.dumps({
        "agents": args.agents,
        "seconds_to_health": round(seconds, 3),
        "rss_mib": round(rss / 1024, 1),
        "rss_mib_no_agents": round(rss_none / 1024, 1),
        "rss_kib_per_agent": round((rss - rss_none) / args.agents, 1),
    }))


if __name__ == "__main__":
    main()
