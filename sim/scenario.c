/*
 * scenario.c — the bookkeeping shared by all scenarios (see scenario.h).
 */
#include <inttypes.h>
#include <math.h>
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

uint64_t sim_scenario_draw_exp_ns(sim_t *sim, uint64_t mean_ns) {
  double u = sim_rand_double(sim, SIM_STREAM_FAULTS);
  double x = -(double)mean_ns * log1p(-u);
  if (x > 20.0 * (double)mean_ns)
    x = 20.0 * (double)mean_ns;
  return (uint64_t)x + 1;
}

size_t sim_scenario_pick_weighted(sim_t *sim, const unsigned *weights, size_t n,
                                  unsigned total) {
  SL_ASSERT(total > 0);
  uint64_t pick = sim_rand_below(sim, SIM_STREAM_FAULTS, total);
  for (size_t i = 0; i < n; i++) {
    if (pick < weights[i])
      return i;
    pick -= weights[i];
  }
  SL_ASSERT(false); /* total exceeds the sum of the weights */
  return n;
}

char *sim_scenario_replay_command(const sim_scenario_opts *opts,
                                  const char *name, unsigned nodes,
                                  uint64_t duration_ms) {
  if (opts->replay_command)
    return g_strdup(opts->replay_command);
  char nodes_arg[32] = "";
  if (nodes > 0)
    snprintf(nodes_arg, sizeof nodes_arg, " --nodes %u", nodes);
  return g_strdup_printf("sluice-sim run --scenario %s --seed %" PRIu64
                         "%s --duration-ms %" PRIu64 "%s",
                         name, opts->seed, nodes_arg, duration_ms,
                         opts->no_faults ? " --no-faults" : "");
}
