/*
 * The unit-test runner: registers every suite listed in the generated
 * table (one per tests/unit/test_NAME.c) and runs them with CUnit's basic
 * interface, which prints the standard run summary.
 *
 *   sluice-unit              run every suite
 *   sluice-unit NAME...      run only the named suites
 *   sluice-unit --list       list suite names
 *
 * Exits 0 when every test passed, 1 otherwise.
 */
#include <CUnit/Basic.h>
#include <glib.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/splitmix.h"
#include "tests/unit/testutil.h"

#define SUITE(name) int suite_##name(void);
#include "suites.inc"
#undef SUITE

typedef struct suite_entry {
  const char *name;
  int (*add)(void);
} suite_entry;

static const suite_entry all_suites[] = {
#define SUITE(name) {#name, suite_##name},
#include "suites.inc"
#undef SUITE
};

uint64_t test_seed(void) {
  const char *s = getenv("SLUICE_TEST_SEED");
  return s ? strtoull(s, NULL, 10) : 20261127u;
}

void test_rng_init(test_rng *r, uint64_t seed) { r->state = seed; }

uint64_t test_rng_next(test_rng *r) { return splitmix64_next(&r->state); }

uint64_t test_rng_below(test_rng *r, uint64_t bound) {
  return bound ? test_rng_next(r) % bound : 0;
}

char *test_tmpdir(void) {
  const char *base = getenv("TMPDIR");
  char *tmpl = g_strdup_printf("%s/sluice-test-XXXXXX", base ? base : "/tmp");
  if (!mkdtemp(tmpl)) {
    perror("mkdtemp");
    abort();
  }
  return tmpl;
}

void test_rm_tree(const char *path) {
  GDir *dir = g_dir_open(path, 0, NULL);
  if (dir) {
    const char *name;
    while ((name = g_dir_read_name(dir))) {
      char *child = g_build_filename(path, name, NULL);
      struct stat st;
      if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
        test_rm_tree(child);
      else
        unlink(child);
      g_free(child);
    }
    g_dir_close(dir);
  }
  rmdir(path);
}

int test_add_suite(const char *name, const test_case *cases, size_t n) {
  CU_pSuite s = CU_add_suite(name, NULL, NULL);
  if (!s)
    return CU_get_error();
  for (size_t i = 0; i < n; i++)
    if (!CU_add_test(s, cases[i].name, cases[i].fn))
      return CU_get_error();
  return 0;
}

static bool wanted(const char *name, int argc, char **argv) {
  if (argc <= 1)
    return true;
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], name) == 0)
      return true;
  return false;
}

int main(int argc, char **argv) {
  size_t n = sizeof all_suites / sizeof all_suites[0];
  if (argc == 2 && strcmp(argv[1], "--help") == 0) {
    printf("usage: sluice-unit [--list] [SUITE...]\n"
           "Runs the CUnit suites (all, or those named). SLUICE_TEST_SEED=N\n"
           "changes the seed of randomised tests.\n");
    return 0;
  }
  if (argc == 2 && strcmp(argv[1], "--list") == 0) {
    for (size_t i = 0; i < n; i++)
      printf("%s\n", all_suites[i].name);
    return 0;
  }
  for (int i = 1; i < argc; i++) {
    bool known = false;
    for (size_t j = 0; j < n; j++)
      known |= strcmp(argv[i], all_suites[j].name) == 0;
    if (!known) {
      fprintf(stderr, "sluice-unit: unknown suite '%s' (try --list)\n",
              argv[i]);
      return 2;
    }
  }
  if (CU_initialize_registry() != CUE_SUCCESS) {
    fprintf(stderr, "sluice-unit: CUnit init failed\n");
    return 1;
  }
  for (size_t i = 0; i < n; i++) {
    if (!wanted(all_suites[i].name, argc, argv))
      continue;
    if (all_suites[i].add() != 0) {
      fprintf(stderr, "sluice-unit: cannot register suite %s: %s\n",
              all_suites[i].name, CU_get_error_msg());
      CU_cleanup_registry();
      return 1;
    }
  }
  printf("sluice-unit: seed %llu\n", (unsigned long long)test_seed());
  CU_basic_set_mode(CU_BRM_NORMAL);
  CU_basic_run_tests();
  unsigned failed =
      CU_get_number_of_tests_failed() + CU_get_number_of_failures();
  unsigned ran = CU_get_number_of_tests_run();
  CU_cleanup_registry();
  if (ran == 0) {
    fprintf(stderr, "sluice-unit: no test ran\n");
    return 1;
  }
  return failed ? 1 : 0;
}
