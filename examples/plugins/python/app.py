"""python-greeter: a responder in Python, built with componentize-py (CPython inside the
component).

It greets the sender, quotes what they said and recalls what was said before in the same
chat, kept in the agent's memory (the `memory` capability). An empty message gets no reply.

`sandbox <path> <VAR>` reports what the sandbox lets the plugin see of the machine it runs
on: the Python runtime imports WASI, and agentx links a deny-all WASI (no files, no
environment, no network), so every probe comes back empty.
"""

import os

import wit_world
from componentize_py_types import Err
from wit_world.imports import log, memory
from wit_world.imports.types import Capability, Description, Reply


def recall_and_remember(key: str, said: str) -> str | None:
    """What was stored under `key` before `said` replaces it; None when there was nothing,
    or when memory is not granted to this agent."""
    try:
        previous = memory.get(key)
        memory.set(key, said)
        return previous
    except Err as error:
        log.log(log.Level.WARN, f"memory unavailable: {error.value}")
        return None


def sandbox_report(path: str, var: str) -> str:
    try:
        with open(path, "rb") as file:
            seen_file = f"read {len(file.read())} bytes"
    except OSError as error:
        seen_file = f"unreadable ({type(error).__name__})"
    seen_var = "unset" if os.environ.get(var) is None else "set"
    return (
        f"file {path}: {seen_file}; env {var}: {seen_var}; "
        f"environment: {len(os.environ)} variables"
    )


class WitWorld(wit_world.WitWorld):
    def describe(self) -> Description:
        return Description("python-greeter", "0.1.0", [Capability.LOG, Capability.MEMORY])

    def respond(self, ctx, msg):
        said = msg.content.strip()
        if not said:
            return None
        words = said.split()
        if words[0] == "sandbox" and len(words) == 3:
            return Reply(sandbox_report(words[1], words[2]))
        previous = recall_and_remember(f"python-greeter/last/{ctx.chat_id}", said)
        greeting = f'Hello, {ctx.sender}! You said "{said}".'
        if previous is not None:
            greeting += f' Last time you said "{previous}".'
        return Reply(greeting)
