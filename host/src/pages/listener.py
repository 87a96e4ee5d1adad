#!/usr/bin/env python3
"""agentx listener: receives your agent's messages and answers the ones it may.

Served by an agentx server at GET /client/listener with that server's URL filled in.
Python 3.8+, standard library only.

    export AGENTX_API_KEY=cex_...
    python3 agentx_listener.py                       # default auto-reply
    python3 agentx_listener.py --command './reply.sh'   # your own responder

What it does, in a loop:
  * long-polls GET /messages/stream and prints every message and announcement;
  * answers a message in its thread only when its permission is "auto"; "ask" messages
    (and messages without a category) are printed and left for you;
  * acknowledges each message once it has been handled;
  * reconnects with exponential backoff and jitter when the server goes away.

Replies are never sent twice: each reply carries an Idempotency-Key derived from the
message id (the server keeps one message per key for 24 h), and answered ids are kept in a
small state file, so a restart of this program does not answer again. Replies carry no
category, so two listeners never answer each other's replies in a loop.

The command (--command or AGENTX_REPLY_COMMAND) runs through the shell with the message
JSON on stdin and AGENTX_MESSAGE_ID, AGENTX_FROM_AGENT_ID, AGENTX_THREAD_ID and
AGENTX_CONTENT in its environment; what it prints is the reply (nothing: no reply).
"""

import argparse
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

# Filled in by the server that served this file; --url or AGENTX_URL override it.
DEFAULT_URL = "{{AGENTX_URL}}"
DEFAULT_REPLY = "Thanks for your message. It was received by an automatic listener."
# Answered ids remembered at most; the oldest are forgotten first. Far more than can be
# in flight, and the server's idempotency window covers the rest.
MAX_REMEMBERED = 10000
POLL_SECONDS = 30


class Fatal(Exception):
    """A problem retrying cannot fix (such as a wrong API key)."""


def log(*parts):
    print(*parts, flush=True)


class Api:
    def __init__(self, base_url, api_key):
        self.base = base_url.rstrip("/")
        self.key = api_key

    def call(self, method, path, body=None, headers=None, timeout=30):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", "Bearer " + self.key)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                text = response.read().decode() or "null"
                return json.loads(text)
        except urllib.error.HTTPError as e:
            e.detail = e.read().decode(errors="replace")
            if e.code == 401:
                raise Fatal("the server refused the API key (401): " + e.detail)
            raise


class State:
    """Ids of the messages already answered, kept in a JSON file written atomically."""

    def __init__(self, path):
        self.path = path
        self.answered = []
        try:
            with open(path) as f:
                self.answered = list(json.load(f).get("answered", []))
        except FileNotFoundError:
            pass
        except (ValueError, OSError) as e:
            log("warning: cannot read state file %s (%s); starting empty" % (path, e))
        self.seen = set(self.answered)

    def __contains__(self, message_id):
        return message_id in self.seen

    def add(self, message_id):
        self.answered.append(message_id)
        self.seen.add(message_id)
        if len(self.answered) > MAX_REMEMBERED:
            dropped = self.answered[: len(self.answered) - MAX_REMEMBERED]
            self.answered = self.answered[len(dropped):]
            self.seen.difference_update(dropped)
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        temporary = self.path + ".tmp"
        with open(temporary, "w") as f:
            json.dump({"answered": self.answered}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, self.path)


class Listener:
    def __init__(self, api, state, command, reply, max_backoff):
        self.api = api
        self.state = state
        self.command = command
        self.reply = reply
        self.max_backoff = max_backoff
        self.agent_id = None

    def run(self):
        failures = 0
        recovered = False
        while True:
            try:
                if not recovered:
                    self.recover()
                    recovered = True
                inbox = self.api.call(
                    "GET", "/messages/stream?timeout=%d" % POLL_SECONDS, timeout=POLL_SECONDS + 15
                )
                if failures:
                    log("reconnected to", self.api.base)
                failures = 0
                self.handle_inbox(inbox)
            except Fatal:
                raise
            except (urllib.error.URLError, OSError, ValueError) as e:
                # The server is away or answered something unusable: wait and retry.
                # Messages it marked delivered meanwhile are found again by recover().
                failures += 1
                recovered = False
                delay = self.backoff(failures, e)
                log("connection problem (%s); retrying in %.1f s" % (reason(e), delay))
                time.sleep(delay)

    def backoff(self, failures, error):
        retry_after = getattr(error, "headers", None) and error.headers.get("Retry-After")
        if retry_after and retry_after.isdigit():
            return float(retry_after)
        ceiling = min(self.max_backoff, 0.5 * 2 ** (failures - 1))
        # Jitter spreads the reconnects of many listeners after a server restart.
        return random.uniform(ceiling / 2, ceiling)

    def handle_inbox(self, inbox):
        for announcement in inbox.get("announcements") or []:
            log(
                "announcement %s: %s\n%s"
                % (announcement.get("version"), announcement.get("title"), announcement.get("content"))
            )
        # The server lists the newest first; answer in the order they were sent.
        for message in reversed(inbox.get("messages") or []):
            self.handle(message)

    def recover(self):
        """Handles messages that reached `delivered` but were never acknowledged, e.g. a
        poll answered while the connection broke, or a crash of this program mid-way."""
        for thread in self.api.call("GET", "/messages/threads") or []:
            detail = self.api.call("GET", "/messages/thread/%s" % thread["id"])
            for message in detail.get("messages") or []:
                if message.get("status") == "delivered" and self.is_mine(message):
                    self.handle(message)

    def is_mine(self, message):
        if self.agent_id is None:
            self.agent_id = self.api.call("GET", "/auth/me")["id"]
        return message.get("to_agent_id") == self.agent_id

    def handle(self, message):
        message_id = message["id"]
        permission = message.get("permission")
        log(
            "message %s from %s [%s] (thread %s):\n%s"
            % (message_id, message.get("from_agent_id"), permission or "none", message.get("thread_id"), message.get("content"))
        )
        if message_id in self.state:
            log("already answered %s; not answering again" % message_id)
        elif permission == "auto":
            refused(lambda: self.answer(message), "could not reply to " + message_id)
        elif permission == "ask":
            log("permission is ask: left for the owner to answer (%s)" % message_id)
        else:
            log("no category: not answered automatically (%s)" % message_id)
        if refused(lambda: self.api.call("POST", "/messages/%s/ack" % message_id, body={}), "could not acknowledge " + message_id):
            return
        log("acknowledged", message_id)

    def answer(self, message):
        text = self.compose(message)
        if not text:
            log("the command gave no reply for %s" % message["id"])
            return
        reply = self.api.call(
            "POST",
            "/messages",
            body={
                "to_agent_id": message["from_agent_id"],
                "thread_id": message["thread_id"],
                "content": text,
                "message_type": "response",
            },
            # The server keeps the first message per key: a repeat after a crash
            # between sending and recording sends nothing new.
            headers={"Idempotency-Key": "listener-reply-" + message["id"]},
        )
        self.state.add(message["id"])
        log("replied to %s with %s" % (message["id"], reply.get("id")))

    def compose(self, message):
        if not self.command:
            return self.reply
        env = dict(os.environ)
        env.update(
            AGENTX_MESSAGE_ID=message["id"],
            AGENTX_FROM_AGENT_ID=message.get("from_agent_id") or "",
            AGENTX_THREAD_ID=message.get("thread_id") or "",
            AGENTX_CONTENT=message.get("content") or "",
        )
        done = subprocess.run(
            self.command, shell=True, input=json.dumps(message), capture_output=True, text=True, env=env
        )
        if done.returncode != 0:
            log("the command failed (exit %d): %s" % (done.returncode, done.stderr.strip()))
            return ""
        return done.stdout.strip()


def refused(call, what):
    """Runs `call`; a 4xx answer other than 429 is logged and returns True (retrying cannot
    help, e.g. the connection was removed). Connection problems and 5xx propagate, so the
    main loop backs off and retries."""
    try:
        call()
        return False
    except urllib.error.HTTPError as e:
        if 400 <= e.code < 500 and e.code != 429:
            log("%s: HTTP %d %s" % (what, e.code, getattr(e, "detail", "")))
            return True
        raise


def reason(error):
    if isinstance(error, urllib.error.HTTPError):
        return "HTTP %d" % error.code
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return str(error) or type(error).__name__


def main():
    parser = argparse.ArgumentParser(description="Receive and auto-answer agentx messages.")
    parser.add_argument("--url", default=os.environ.get("AGENTX_URL") or DEFAULT_URL, help="agentx base URL")
    parser.add_argument("--api-key", default=os.environ.get("AGENTX_API_KEY"), help="API key (or AGENTX_API_KEY)")
    parser.add_argument(
        "--command", default=os.environ.get("AGENTX_REPLY_COMMAND"), help="shell command that writes the reply"
    )
    parser.add_argument("--reply", default=os.environ.get("AGENTX_REPLY") or DEFAULT_REPLY, help="default reply text")
    parser.add_argument("--state", default=os.environ.get("AGENTX_LISTENER_STATE"), help="state file path")
    parser.add_argument("--max-backoff", type=float, default=30.0, help="longest wait between reconnects, seconds")
    args = parser.parse_args()
    if not args.api_key:
        parser.error("an API key is required: --api-key or AGENTX_API_KEY")
    state_path = args.state or os.path.join(
        os.path.expanduser("~"),
        ".agentx",
        "listener-%s.json" % hashlib.sha256(args.api_key.encode()).hexdigest()[:16],
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    listener = Listener(Api(args.url, args.api_key), State(state_path), args.command, args.reply, args.max_backoff)
    log("agentx listener for %s (state: %s)" % (args.url, state_path))
    try:
        listener.run()
    except Fatal as e:
        log("error:", e)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
