/*
 * scenario.h — what every simulator scenario takes and returns, so one
 * driver (tools/sluice-sim) can run any of them by name, sweep seeds, replay
 * a failure and benchmark.
 *
 * A scenario builds a sim (sim/sim.h) from a seed, adds its nodes, drives a
 * workload and faults for a bounded virtual time, checks its invariants and
 * reports. It never prints: the driver does. The same options give the same
 * result, byte for byte (trace hash and, when kept, trace text).
 *
 * Ownership: opts is borrowed; result's pointers are owned by the result and
 * released by sim_scenario_result_clear.
 */
#ifndef SLUICE_SIM_SCENARIO_H
#define SLUICE_SIM_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sim/sim.h"

typedef struct sim_scenario_opts {
  uint64_t seed;
  unsigned nodes;       /* 0 = the scenario's default */
  uint64_t duration_ms; /* virtual; 0 = the scenario's default */
  bool no_faults;       /* run the workload without injected faults */
  bool keep_trace;      /* result->trace_text gets the whole trace */
  FILE *trace_out;      /* non-NULL: the trace is written there at the end */
  /* The command that replays this run (for assertion messages and
   * reports); NULL: the scenario builds "sluice-sim run --scenario ...". */
  const char *replay_command;
  int log_level; /* node env_log lines at/above this go to stderr */
} sim_scenario_opts;

/* seed as given, everything else default (no trace, no logs). */
void sim_scenario_opts_default(sim_scenario_opts *opts, uint64_t seed);

#define SIM_SCENARIO_VIOLATIONS_KEPT 8
#define SIM_SCENARIO_STATS_MAX 24

typedef struct sim_scenario_stat {
  const char *name; /* static string */
  uint64_t value;
} sim_scenario_stat;

typedef struct sim_scenario_result {
  uint64_t seed;
  uint64_t trace_hash;
  uint64_t trace_events;
  uint64_t events;     /* simulator events run */
  uint64_t virtual_ns; /* virtual time at the end */
  uint64_t violations; /* invariant violations found (0 = pass) */
  /* The first SIM_SCENARIO_VIOLATIONS_KEPT violations, as text [owned]. */
  char *violation_text[SIM_SCENARIO_VIOLATIONS_KEPT];
  size_t violation_kept;
  char *replay_command; /* [owned] */
  char *trace_text;     /* [owned] with keep_trace, else NULL */
  size_t trace_len;
  /* Scenario counters for the summary (frames sent, crashes, ...). */
  sim_scenario_stat stats[SIM_SCENARIO_STATS_MAX];
  size_t stat_count;
} sim_scenario_result;

/* Frees what the result owns and zeroes it. NULL is fine. */
void sim_scenario_result_clear(sim_scenario_result *result);
/* Records a violation (counted; the first few kept as text). */
void sim_scenario_result_violation(sim_scenario_result *result,
                                   const char *text);
/* Adds or replaces a named counter (name: a static string). */
void sim_scenario_result_stat(sim_scenario_result *result, const char *name,
                              uint64_t value);

/* ---- helpers the scenario drivers share ---- */

/* An exponentially distributed delay with the given mean, drawn from the
 * FAULTS stream; at least 1 ns and at most 20 means (a cap, so one unlucky
 * draw cannot silence a run's faults). */
uint64_t sim_scenario_draw_exp_ns(sim_t *sim, uint64_t mean_ns);
/* Picks an index in [0, n) with probability weights[i] / total (total is
 * the sum of the weights, > 0), from the FAULTS stream. */
size_t sim_scenario_pick_weighted(sim_t *sim, const unsigned *weights, size_t n,
                                  unsigned total);
/* The replay command for a run [owned: g_free]: opts->replay_command if
 * set, else "sluice-sim run --scenario NAME --seed S [--nodes K]
 * --duration-ms D [--no-faults]" (--nodes only when nodes > 0). */
char *sim_scenario_replay_command(const sim_scenario_opts *opts,
                                  const char *name, unsigned nodes,
                                  uint64_t duration_ms);

/* Runs one seed. Returns 0 when the run completed (violations, if any, are
 * in the result) or a negative errno when it could not be set up. */
typedef int (*sim_scenario_fn)(const sim_scenario_opts *opts,
                               sim_scenario_result *result);

#endif
