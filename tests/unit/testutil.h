/*
 * testutil.h — small helpers shared by the CUnit suites.
 *
 * Each suite file tests/unit/test_NAME.c defines `int suite_NAME(void)`,
 * which adds a CUnit suite and its tests and returns 0 (or a CUnit error).
 * The runner (main.c) finds suites through the generated table.
 *
 * Randomised tests take their seed from test_seed(): SLUICE_TEST_SEED in
 * the environment if set, else a fixed default, and print it on failure so
 * a failing case can be replayed.
 */
#ifndef SLUICE_TESTS_TESTUTIL_H
#define SLUICE_TESTS_TESTUTIL_H

#include <CUnit/CUnit.h>
#include <stdint.h>
#include <stdio.h>

/* The base seed for randomised tests (see above). */
uint64_t test_seed(void);

/* A tiny deterministic generator for tests (splitmix64). */
typedef struct test_rng {
  uint64_t state;
} test_rng;
void test_rng_init(test_rng *r, uint64_t seed);
uint64_t test_rng_next(test_rng *r);
uint64_t test_rng_below(test_rng *r, uint64_t bound);

/* A fresh temporary directory (mkdtemp under $TMPDIR or /tmp); the caller
 * owns the returned string (g_free) and removes the tree with
 * test_rm_tree. */
char *test_tmpdir(void);
void test_rm_tree(const char *path);

/* Adds a suite and its tests: TEST_SUITE("name", {"case", fn}, ...). */
typedef struct test_case {
  const char *name;
  void (*fn)(void);
} test_case;
int test_add_suite(const char *name, const test_case *cases, size_t n);
#define TEST_SUITE(name, ...)                                                 \
  do {                                                                        \
    static const test_case cases_[] = {__VA_ARGS__};                          \
    return test_add_suite(name, cases_, sizeof cases_ / sizeof cases_[0]);    \
  } while (0)

/* Asserts an int equals, printing both values and the seed on failure. */
#define TEST_EQ_INT(actual, expected, seed)                                   \
  do {                                                                        \
    long long a_ = (long long)(actual), e_ = (long long)(expected);           \
    if (a_ != e_)                                                             \
      fprintf(stderr, "\n  %s:%d: %s = %lld, expected %lld (seed %llu)\n",    \
              __FILE__, __LINE__, #actual, a_, e_,                            \
              (unsigned long long)(seed));                                    \
    CU_ASSERT_EQUAL(a_, e_);                                                  \
  } while (0)

#endif
