/*
 * scenario.c — the bookkeeping shared by all scenarios (see scenario.h).
 */
#include <string.h>

#include <glib.h>

#include "base/assert.h"
#include "base/env.h"
#include "sim/scenario.h"

void sim_scenario_opts_default(sim_scenario_opts *opts, uint64_t seed) {
  memset(opts, 0, sizeof *opts);
  opts->seed = seed;
  opts->log_level = ENV_LOG_ERROR + 1; /* none */
}

void sim_scenario_result_clear(sim_scenario_result *result) {
  if (!result)
    return;
  for (size_t i = 0; i < result->violation_kept; i++)
    g_free(result->violation_text[i]);
  g_free(result->replay_command);
  g_free(result->trace_text);
  memset(result, 0, sizeof *result);
}

void sim_scenario_result_violation(sim_scenario_result *result,
                                   const char *text) {
  result->violations++;
  if (result->violation_kept < SIM_SCENARIO_VIOLATIONS_KEPT)
    result->violation_text[result->violation_kept++] = g_strdup(text);
}

void sim_scenario_result_stat(sim_scenario_result *result, const char *name,
                              uint64_t value) {
  for (size_t i = 0; i < result->stat_count; i++) {
    if (strcmp(result->stats[i].name, name) == 0) {
      result->stats[i].value = value;
      return;
    }
  }
  SL_ASSERT(result->stat_count < SIM_SCENARIO_STATS_MAX);
  result->stats[result->stat_count].name = name;
  result->stats[result->stat_count].value = value;
  result->stat_count++;
}
