// {{name}}: a responder in C, made by `agentx plugin new`, over the bindings
// `wit-bindgen c` generates from wit/world.wit (plugin.h; build.sh generates them).
//
// It replies `{{name}} heard: <message>`, logs each call, and leaves an empty message for a
// human (no reply). To use another capability, import it in wit/world.wit, call it here
// (agentx_plugin_<capability>_...), and list it in `describe`, in plugin.toml, and in the
// agent's grants in agentx.json.
//
// Ownership follows the canonical ABI: the arguments are ours to free, and what an export
// returns is freed by the generated post-return functions, so it must be malloc'ed.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

void exports_plugin_describe(plugin_description_t *ret) {
  static const agentx_plugin_types_capability_t wanted[] = {
      AGENTX_PLUGIN_TYPES_CAPABILITY_LOG};
  plugin_string_dup(&ret->name, "{{name}}");
  plugin_string_dup(&ret->version, "0.1.0");
  ret->capabilities.len = sizeof wanted / sizeof wanted[0];
  ret->capabilities.ptr = malloc(sizeof wanted);
  memcpy(ret->capabilities.ptr, wanted, sizeof wanted);
}

// A malloc'ed string with the formatted text.
static void format_string(plugin_string_t *out, const char *format, const plugin_string_t *a,
                          const plugin_string_t *b) {
  int len = snprintf(NULL, 0, format, (int)a->len, (const char *)a->ptr, (int)b->len,
                     (const char *)b->ptr);
  char *text = malloc(len + 1);
  snprintf(text, len + 1, format, (int)a->len, (const char *)a->ptr, (int)b->len,
           (const char *)b->ptr);
  out->ptr = (uint8_t *)text;
  out->len = len;
}

static bool blank(const plugin_string_t *s) {
  for (size_t i = 0; i < s->len; i++) {
    if (s->ptr[i] != ' ' && s->ptr[i] != '\t' && s->ptr[i] != '\n' && s->ptr[i] != '\r') {
      return false;
    }
  }
  return true;
}

bool exports_plugin_respond(plugin_request_context_t *ctx, plugin_message_t *msg,
                            plugin_option_reply_t *ret, plugin_string_t *err) {
  (void)err;
  plugin_string_t line;
  format_string(&line, "answering %.*s in chat %.*s", &ctx->sender, &ctx->chat_id);
  agentx_plugin_log_log(AGENTX_PLUGIN_LOG_LEVEL_INFO, &line);
  plugin_string_free(&line);

  ret->is_some = !blank(&msg->content);
  if (ret->is_some) {
    static const plugin_string_t name = {(uint8_t *)"{{name}}", sizeof "{{name}}" - 1};
    format_string(&ret->val.content, "%.*s heard: %.*s", &name, &msg->content);
  }
  plugin_request_context_free(ctx);
  plugin_message_free(msg);
  return true;
}
