// js-greeter: a responder in JavaScript, run by QuickJS inside the component
// (componentize-qjs). It greets the sender, quotes what they said and counts how many
// messages that sender has sent, in the agent's memory (the `memory` capability), so the
// count survives across calls and restarts. An empty message gets no reply.
//
// WIT mapping (componentize-qjs): records are objects with camelCase keys, enums are
// strings, `option<T>` is `T` or `null`, and an import returning `result<T, E>` returns T
// or throws E (here a `host-error` variant, `{tag, val}`).
import log from "agentx:plugin/log@0.1.0";
import memory from "agentx:plugin/memory@0.1.0";

export function describe() {
  return { name: "js-greeter", version: "0.1.0", capabilities: ["log", "memory"] };
}

// The number of messages `sender` has sent, this one included, or null when memory is not
// granted to this agent (the greeting then goes without it).
function countVisit(sender) {
  const key = `js-greeter/messages/${sender}`;
  try {
    const count = Number(memory.get(key) ?? "0") + 1;
    memory.set(key, String(count));
    return count;
  } catch (error) {
    log.log("warn", `no count for ${sender}: ${error.tag} ${error.val ?? ""}`);
    return null;
  }
}

function ordinal(n) {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? "th" : ["th", "st", "nd", "rd"][n % 10] ?? "th";
  return `${n}${suffix}`;
}

export function respond(ctx, msg) {
  const said = msg.content.trim();
  if (said === "") {
    return null;
  }
  const count = countVisit(ctx.sender);
  const tally = count === null ? "" : ` (your ${ordinal(count)} message)`;
  return { content: `Hello, ${ctx.sender}! You said "${said}"${tally}.` };
}
