/*
 * scenarios.c — the scenario table (see scenarios.h). One line each.
 */
#include <string.h>

#include "sim/scenarios/broker_crash.h"
#include "sim/scenarios/group_rebalance.h"
#include "sim/scenarios/log_crash.h"
#include "sim/selftest.h"
#include "tools/sluice-sim/scenarios.h"

static const sluice_sim_scenario table[] = {
    {"selftest",
     "self-test nodes exchanging checksummed frames and logging them to "
     "disk, under partitions, resets, crashes, stops and fsync errors",
     sim_selftest_run},
    {"broker-crash",
     "a broker with a producer and a consumer on the Kafka client, under "
     "broker crashes (torn writes), stops, partitions and resets",
     sim_scenario_broker_crash},
    {"group-rebalance",
     "three group consumers on the Kafka client and a producer, under "
     "member crashes, partitions, slow heartbeats and resets",
     sim_scenario_group_rebalance},
    {"log-crash",
     "a partition log appending with random fsyncs, crashed at random "
     "points (torn and garbage tails), recovered and checked; then bit rot",
     sim_scenario_log_crash},
};

const sluice_sim_scenario *sluice_sim_scenarios(size_t *count) {
  *count = sizeof table / sizeof table[0];
  return table;
}

const sluice_sim_scenario *sluice_sim_scenario_find(const char *name) {
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (strcmp(table[i].name, name) == 0)
      return &table[i];
  return NULL;
}
