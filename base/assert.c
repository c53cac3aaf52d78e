#include "base/assert.h"

#include <stdio.h>
#include <stdlib.h>

static _Thread_local const char *replay_context;

_Noreturn void sl_assert_fail(const char *expr, const char *file, int line) {
  fprintf(stderr, "assertion failed: %s (%s:%d)\n", expr, file, line);
  if (replay_context)
    fprintf(stderr, "replay: %s\n", replay_context);
  fflush(stderr);
  abort();
}

void sl_assert_set_context(const char *context) { replay_context = context; }
