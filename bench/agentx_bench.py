"""What every row of bench/run shares: a real `agentx serve` on free ports and a fresh data
directory, the network calls a row needs to set one up, `wrk` and its numbers, and a
process's resident memory.

Standard library only, so a row runs on a fresh machine with nothing but python3 and wrk.
A row script imports this, measures, and prints one JSON object on its last stdout line;
progress goes to stderr. `smoke()` says whether to run seconds-long (CI) instead.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)

# Limits a bench must not run into: it measures the server, not its protections against
# one noisy address (the bench's clients all come from 127.0.0.1).
UNLIMITED = {
    "rate_limit": {"per_second": 1_000_000, "burst": 1_000_000, "failed_auth_per_minute": 1_000_000},
    "limits": {"registrations_per_hour": 1_000_000},
}


def smoke():
    """True for CI's seconds-long run (BENCH_SMOKE=1): tiny sizes, no timing asserted."""
    return os.environ.get("BENCH_SMOKE") == "1"


def progress(*words):
    print("  ..", *words, file=sys.stderr, flush=True)


def emit(result):
    """The row's result: one JSON object, the last line of stdout."""
    print(json.dumps(result), flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`agentx serve` on free ports and its own data directory, stopped on exit.

    `config` is agentx.json as a dict (its `server` section gets the bench's unlimited rate
    limits and the admin key); it is written into the data directory and relative paths
    resolve from there, so name plugins with `plugin(name)`. `data_dir` reuses a directory
    (e.g. to restart on it).
    """

    def __init__(self, binary, config=None, data_dir=None, admin_key="bench-admin-key",
                 env=None, log=None):
        self.binary = os.path.abspath(binary)
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="agentx-bench-")
        self.admin_key = admin_key
        self.port, self.daemon_port = free_port(), free_port()
        config = json.loads(json.dumps(config or {}))
        server = config.setdefault("server", {})
        for key, value in UNLIMITED.items():
            server.setdefault(key, value)
        server["admin_key"] = admin_key
        self.config_path = os.path.join(self.data_dir, "bench-agentx.json")
        with open(self.config_path, "w") as f:
            json.dump(config, f)
        self.env = dict(os.environ, **(env or {}))
        self.env.pop("RUST_BACKTRACE", None)  # a backtrace per wasm call (benches/README.md)
        self.env.setdefault("RUST_LOG", "warn")
        self.log = log or open(os.path.join(self.data_dir, "server.log"), "wb")
        self.proc = None
        self.started_in = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def daemon_url(self):
        return f"http://127.0.0.1:{self.daemon_port}"

    def start(self, timeout=120):
        """Starts the server and waits for /health; `started_in` is the seconds that took."""
        args = [self.binary, "serve", "--config", self.config_path, "--data-dir", self.data_dir,
                "--port", str(self.port), "--daemon-port", str(self.daemon_port)]
        began = time.monotonic()
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log, env=self.env,
                                     cwd=REPO)
        while time.monotonic() - began < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"agentx exited with {self.proc.returncode}; see "
                                   f"{self.log.name}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                    if r.status == 200:
                        self.started_in = time.monotonic() - began
                        return self
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.01)
        raise RuntimeError(f"agentx did not answer /health within {timeout} s")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def rss_kib(self):
        return rss_kib(self.proc.pid)

    def cpu_seconds(self):
        """The server's CPU time so far (user and system, every thread)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __enter__(self):
        return self.start()

    def __exit__(self, *_):
        self.stop()
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    # The network and daemon calls rows set up with.

    def call(self, method, path, body=None, key=None, daemon=False, expect=200):
        url = (self.daemon_url if daemon else self.url) + path
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        if daemon:
            headers["X-Admin-Key"] = self.admin_key
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as r:
                status, text = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read()
        if status != expect:
            raise RuntimeError(f"{method} {path}: {status} {text[:300]!r}")
        return json.loads(text) if text else None

    def register(self, name):
        """A new agent: its (agent_id, api_key)."""
        answer = self.call("POST", "/auth/register", {
            "email": f"{name}-{time.monotonic_ns()}@bench.example", "name": name,
            "agent_name": name})
        return answer["agent_id"], answer["api_key"]

    def connected_pair(self):
        """Two registered agents connected as friends: ((id, key), (id, key))."""
        a, b = self.register("bench-a"), self.register("bench-b")
        code = self.call("POST", "/connections/invite", key=a[1])["invite_code"]
        self.call("POST", "/connections/accept", {"invite_code": code}, key=b[1])
        return a, b

    def store_commits(self):
        """The store's group commits so far, from the daemon's `/metrics`: {"commits",
        "writes" (the writes they made durable), "seconds" (their time, fsyncs included)}."""
        request = urllib.request.Request(self.daemon_url + "/metrics",
                                         headers={"X-Admin-Key": self.admin_key})
        with urllib.request.urlopen(request, timeout=60) as r:
            text = r.read().decode()
        names = {"batch_size_count": "commits", "batch_size_sum": "writes",
                 "duration_seconds_sum": "seconds"}
        totals = dict.fromkeys(names.values(), 0.0)
        for line in text.splitlines():
            m = re.match(r"agentx_store_commit_(\w+?)\{[^}]*\} (\S+)$", line)
            if m and m.group(1) in names:
                totals[names[m.group(1)]] += float(m.group(2))
        return totals

    def token(self, scopes):
        """A new agx_live_ token with `scopes`."""
        return self.call("POST", "/tokens", {"name": "bench", "scopes": scopes},
                         daemon=True)["token"]


def plugin(name):
    """The absolute path of a first-party plugin (plugins/<name>), for a row's config."""
    return os.path.join(REPO, "plugins", name)


def under_load(server, load):
    """Runs `load()` (a `wrk` run) and returns its result with what the server spent on it:
    `cpu_us`, the server's CPU per request (what a row costs whatever the machine's
    neighbours take from it: a 2-core VM's throughput drifts by a third from minute to
    minute, this far less), and the store's group commits meanwhile (`commits`, how many;
    `batch_mean`, writes per commit; `commit_ms`, the mean time of one, its fsync in)."""
    commits, cpu = server.store_commits(), server.cpu_seconds()
    result = load()
    spent = server.cpu_seconds() - cpu
    after = server.store_commits()
    count = after["commits"] - commits["commits"]
    per = (lambda key, scale: round(scale * (after[key] - commits[key]) / count, 2)
           if count else 0)
    return result, {
        "cpu_us": round(1e6 * spent / result["requests"], 1) if result["requests"] else 0,
        "commits": int(count), "batch_mean": per("writes", 1), "commit_ms": per("seconds", 1000)}


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def ensure_wrk():
    """wrk, installed from Debian when missing (as root)."""
    if shutil.which("wrk"):
        return
    progress("installing wrk (apt)")
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True,
                   stdout=subprocess.DEVNULL, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text):
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS[unit]


def wrk(url, connections=64, seconds=10, threads=2, script=None, env=None):
    """Runs wrk against `url` (latency percentiles on; `script` a Lua file in bench/ that
    reads its settings from `env`): requests/s, errors, non-2xx answers, p50/p99 in ms."""
    ensure_wrk()
    if smoke():
        connections, seconds, threads = min(connections, 4), 1, 1
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script:
        args[1:1] = ["-s", os.path.join(BENCH_DIR, script)]
    out = subprocess.run(args, capture_output=True, text=True, check=True,
                         env=dict(os.environ, **(env or {}))).stdout
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "errors": errors,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        # Anchored: the Thread Stats lines' "+/- Stdev" column (e.g. "68.50%") ends in "50%"
        # too, followed by the next line's "Req/Sec".
        "p50_ms": _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
        "p99_ms": _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
        "connections": connections,
        "seconds": seconds,
    }
