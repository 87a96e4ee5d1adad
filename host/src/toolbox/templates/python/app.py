"""{{name}}: a responder in Python, made by `agentx plugin new` and built with
componentize-py (CPython inside the component; build.sh installs it on first use).

It replies `{{name}} heard: <message>`, logs each call, and leaves an empty message for a
human (no reply). To use another capability, import it in world.wit and here, and list it
in `describe`, in plugin.toml, and in the agent's grants in agentx.json.
"""

import wit_world
from wit_world.imports import log
from wit_world.imports.types import Capability, Description, Reply


def answer(said: str) -> str | None:
    """The reply to `said`, or None to leave it for a human. Plain Python: test_app.py
    tests it without the host."""
    if not said.strip():
        return None
    return f"{{name}} heard: {said}"


class WitWorld(wit_world.WitWorld):
    def describe(self) -> Description:
        return Description("{{name}}", "0.1.0", [Capability.LOG])

    def respond(self, ctx, msg):
        log.log(log.Level.INFO, f"answering {ctx.sender} in chat {ctx.chat_id}")
        reply = answer(msg.content)
        return None if reply is None else Reply(reply)
