// c-greeter: a responder in C, over the bindings `wit-bindgen c` generates from world.wit
// (greeter.h, greeter.c).
//
// It greets the sender by the time of day, read from the `clock` capability (plain "Hello"
// when the agent is not granted it), and quotes what they said; an empty message gets no
// reply. `sandbox <path> <VAR>` reports what wasi-libc can see of the machine it runs on:
// agentx links a deny-all WASI, so neither the file nor the variable is there.
//
// Ownership follows the canonical ABI: the host frees nothing, the generated post-return
// functions free what an export returns, so every returned string is malloc'ed here.
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "greeter.h"

extern char **environ;

void exports_greeter_describe(greeter_description_t *ret) {
  static const agentx_plugin_types_capability_t wanted[] = {
      AGENTX_PLUGIN_TYPES_CAPABILITY_LOG, AGENTX_PLUGIN_TYPES_CAPABILITY_CLOCK};
  greeter_string_dup(&ret->name, "c-greeter");
  greeter_string_dup(&ret->version, "0.1.0");
  ret->capabilities.len = sizeof wanted / sizeof wanted[0];
  ret->capabilities.ptr = malloc(sizeof wanted);
  memcpy(ret->capabilities.ptr, wanted, sizeof wanted);
}

// Sets `ret` to some(reply) with the formatted text.
static void reply(greeter_option_reply_t *ret, const char *format, ...) {
  va_list args;
  va_start(args, format);
  int len = vsnprintf(NULL, 0, format, args);
  va_end(args);
  char *text = malloc(len + 1);
  va_start(args, format);
  vsnprintf(text, len + 1, format, args);
  va_end(args);
  ret->is_some = true;
  ret->val.content.ptr = (uint8_t *)text;
  ret->val.content.len = len;
}

// By the UTC hour, or "Hello" without a clock.
static const char *salutation(void) {
  agentx_plugin_clock_datetime_t now;
  agentx_plugin_clock_host_error_t error;
  if (!agentx_plugin_clock_now(&now, &error)) {
    agentx_plugin_clock_host_error_free(&error);
    return "Hello";
  }
  unsigned hour = (unsigned)(now.seconds % 86400 / 3600);
  return hour < 12 ? "Good morning" : hour < 18 ? "Good afternoon" : "Good evening";
}

static void sandbox_report(greeter_option_reply_t *ret, const char *path, const char *var) {
  // stderr is captured by the host into this agent's plugin log.
  fprintf(stderr, "sandbox probe of %s and %s\n", path, var);
  char seen_file[64];
  FILE *file = fopen(path, "rb");
  if (file) {
    size_t n = fread(seen_file, 1, sizeof seen_file, file);
    fclose(file);
    snprintf(seen_file, sizeof seen_file, "read %zu bytes", n);
  } else {
    snprintf(seen_file, sizeof seen_file, "unreadable (%s)", strerror(errno));
  }
  size_t vars = 0;
  while (environ && environ[vars]) {
    vars++;
  }
  reply(ret, "file %s: %s; env %s: %s; environment: %zu variables", path, seen_file, var,
        getenv(var) ? "set" : "unset", vars);
}

bool exports_greeter_respond(greeter_request_context_t *ctx, greeter_message_t *msg,
                             greeter_option_reply_t *ret, greeter_string_t *err) {
  (void)err;
  // The content, trimmed and NUL-terminated.
  const char *start = (const char *)msg->content.ptr;
  const char *end = start + msg->content.len;
  while (start < end && isspace((unsigned char)*start)) start++;
  while (end > start && isspace((unsigned char)end[-1])) end--;
  char *said = strndup(start, end - start);

  ret->is_some = false;
  char path[4096], var[256], rest;
  if (*said == '\0') {
    // No reply: the message is left for a human.
  } else if (sscanf(said, "sandbox %4095s %255s %c", path, var, &rest) == 2) {
    sandbox_report(ret, path, var);
  } else {
    reply(ret, "%s, %.*s! You said \"%s\".", salutation(), (int)ctx->sender.len,
          (const char *)ctx->sender.ptr, said);
  }
  free(said);
  greeter_request_context_free(ctx);
  greeter_message_free(msg);
  return true;
}
