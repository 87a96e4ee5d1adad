// {{name}}: a responder in JavaScript, made by `agentx plugin new` and run by QuickJS
// inside the component (componentize-qjs; build.sh installs it on first use).
//
// It replies `{{name}} heard: <message>`, logs each call, and leaves an empty message for a
// human (no reply). WIT mapping: records are objects with camelCase keys, enums are
// strings, `option<T>` is `T` or `null`, and an import returning `result<T, E>` returns T
// or throws E. To use another capability, import it in world.wit and here, and list it in
// `describe`, in plugin.toml, and in the agent's grants in agentx.json.
import log from "agentx:plugin/log@0.1.0";

export function describe() {
  return { name: "{{name}}", version: "0.1.0", capabilities: ["log"] };
}

export function respond(ctx, msg) {
  log.log("info", `answering ${ctx.sender} in chat ${ctx.chatId}`);
  if (msg.content.trim() === "") {
    return null;
  }
  return { content: `{{name}} heard: ${msg.content}` };
}
