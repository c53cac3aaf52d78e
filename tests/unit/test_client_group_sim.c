/*
 * test_client_group_sim.c — a few seeds of the `group-rebalance` simulator
 * scenario (sim/scenarios/group_rebalance.h): group members crashing,
 * partitioned and with stalled heartbeats; every seed must end with no
 * violation. Prints the replay command of a failing seed.
 */
#include <stdio.h>

#include "sim/scenarios/group_rebalance.h"
#include "tests/unit/testutil.h"

#define GRS_SEEDS 4

static void grs_run(uint64_t seed, bool faults) {
  sim_scenario_opts o;
  sim_scenario_opts_default(&o, seed);
  o.no_faults = !faults;
  sim_scenario_result r;
  int rc = sim_scenario_group_rebalance(&o, &r);
  CU_ASSERT_EQUAL(rc, 0);
  if (r.violations) {
    fprintf(stderr, "\n  %s: %llu violation(s)\n", r.replay_command,
            (unsigned long long)r.violations);
    for (size_t i = 0; i < r.violation_kept; i++)
      fprintf(stderr, "    %s\n", r.violation_text[i]);
  }
  CU_ASSERT_EQUAL(r.violations, 0);
  sim_scenario_result_clear(&r);
}

static void test_no_faults(void) { grs_run(test_seed(), false); }

/* Seed 9 found a commit made in one generation, retried after the member
 * had rejoined, sent under the new generation: the committed offset of
 * two partitions went back (the commit now carries its own generation). */
static void test_regression_seeds(void) {
  static const uint64_t seeds[] = {9};
  for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++)
    grs_run(seeds[i], true);
}

static void test_seeds(void) {
  for (uint64_t i = 0; i < GRS_SEEDS; i++)
    grs_run(test_seed() + i, true);
}

/* The same seed gives the same run, byte for byte. */
static void test_deterministic(void) {
  sim_scenario_opts o;
  sim_scenario_opts_default(&o, test_seed());
  o.duration_ms = 8000;
  sim_scenario_result a, b;
  CU_ASSERT_EQUAL(sim_scenario_group_rebalance(&o, &a), 0);
  CU_ASSERT_EQUAL(sim_scenario_group_rebalance(&o, &b), 0);
  CU_ASSERT_EQUAL(a.trace_hash, b.trace_hash);
  CU_ASSERT_EQUAL(a.events, b.events);
  sim_scenario_result_clear(&a);
  sim_scenario_result_clear(&b);
}

int suite_client_group_sim(void) {
  TEST_SUITE("client_group_sim", {"no_faults", test_no_faults},
             {"regression_seeds", test_regression_seeds}, {"seeds", test_seeds},
             {"deterministic", test_deterministic});
}
