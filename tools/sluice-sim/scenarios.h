/*
 * scenarios.h — the table of simulator scenarios sluice-sim can run.
 *
 * A scenario lives with the module it exercises (sim/selftest.h for the
 * simulator's own self-test; broker and compute scenarios next to their
 * code) and implements sim_scenario_fn (sim/scenario.h). Adding one means
 * one line in scenarios.c; the driver does the rest (seed sweeps, replay
 * commands, traces, bench).
 */
#ifndef SLUICE_TOOLS_SLUICE_SIM_SCENARIOS_H
#define SLUICE_TOOLS_SLUICE_SIM_SCENARIOS_H

#include <stddef.h>

#include "sim/scenario.h"

typedef struct sluice_sim_scenario {
  const char *name;    /* as given to --scenario */
  const char *summary; /* one line for `sluice-sim list` */
  sim_scenario_fn run;
} sluice_sim_scenario;

/* The table, in display order; *count gets its length. */
const sluice_sim_scenario *sluice_sim_scenarios(size_t *count);
/* The scenario called name, or NULL. */
const sluice_sim_scenario *sluice_sim_scenario_find(const char *name);

#endif
