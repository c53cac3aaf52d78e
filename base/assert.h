/*
 * assert.h — assertions that are never compiled out.
 *
 * SL_ASSERT(cond) checks a programmer error (a broken invariant, a misuse of
 * an API). On failure it prints the expression, file and line, and the
 * current "replay context" — in the simulator, the seed and the one-line
 * command that replays the run — then aborts. Operating errors (bad input,
 * I/O, network) are never asserted: they are returned.
 *
 * The replay context is per thread (a thread-local pointer, the one piece of
 * mutable state outside a context struct, because an assertion deep inside a
 * module has no context to reach it through). The simulator sets it when a
 * run starts and clears it when the run ends.
 */
#ifndef SLUICE_BASE_ASSERT_H
#define SLUICE_BASE_ASSERT_H

#define SL_ASSERT(cond)                                                        \
  ((cond) ? (void)0 : sl_assert_fail(#cond, __FILE__, __LINE__))

_Noreturn void sl_assert_fail(const char *expr, const char *file, int line);

/* Sets (NULL clears) this thread's replay context. The string is borrowed:
 * the caller keeps it alive until it clears or replaces it. */
void sl_assert_set_context(const char *context);

#endif
