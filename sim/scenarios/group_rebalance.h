/*
 * group_rebalance.h — the simulator scenario `group-rebalance`: one broker
 * node (broker/server, whose group coordinator is under test together with
 * the group consumer of broker/client), a producer, an observer and
 * GROUP_REBALANCE_MEMBERS members of one consumer group, with member
 * crashes, network partitions and slow heartbeats.
 *
 * The world, per seed:
 *   - node "b1": broker_node_ops, log dir /data; topic "events" with
 *     GROUP_REBALANCE_PARTITIONS partitions, created by the producer;
 *   - node "producer": a kclient that queues a few records per tick, each
 *     with a value unique to the record ("r000042"), round-robin over the
 *     partitions, until the fault window ends;
 *   - nodes "m1".."m3": kclient_group_t members of group "grp" subscribed
 *     to "events" (session 6 s, heartbeat 1 s, auto-commit every 500 ms,
 *     auto_offset_reset earliest), counting every record they receive;
 *   - node "observer": a kclient asking the coordinator for the group's
 *     committed offsets (OffsetFetch) every 250 ms.
 * Faults, from the FAULTS stream, during [1 s, duration): a member crash
 * (restarted 1-8 s later, a fresh member with no id); a partition between
 * a member and the broker for 1-12 s (longer than the session timeout in
 * about half the cases: the member is expelled and must notice); a slow
 * heartbeat link (member -> broker blocked one way for 2-9 s, the answers
 * still flowing: heartbeats stall, may or may not cost the membership);
 * connection resets between a member and the broker.
 *
 * Timeline: [0, duration) workload and faults; then every link heals,
 * crashed members restart and the producer stops; the run goes on until
 * the checks below can decide, at most GROUP_REBALANCE_SETTLE_MS_MAX.
 *
 * Checkers:
 *   1. committed offsets never go backwards: every observation of a
 *      partition's committed offset is >= the previous one (the
 *      coordinator fences commits of expelled members and old
 *      generations; a member commits only what it has delivered);
 *   2. at least once: every record the producer had acknowledged is
 *      received by some member by the end (duplicates are expected after
 *      crashes and counted, stat records_redelivered);
 *   3. the group becomes stable after the faults heal: every member is
 *      STABLE in one generation and together they own each partition
 *      exactly once.
 */
#ifndef SLUICE_SIM_SCENARIOS_GROUP_REBALANCE_H
#define SLUICE_SIM_SCENARIOS_GROUP_REBALANCE_H

#include "sim/scenario.h"

#define GROUP_REBALANCE_PARTITIONS 6
#define GROUP_REBALANCE_MEMBERS 3
/* Virtual time with faults (--duration-ms). */
#define GROUP_REBALANCE_DURATION_MS_DEFAULT 20000u
#define GROUP_REBALANCE_DURATION_MS_MAX 120000u
/* After the heal: how long the group has to consume everything and
 * settle. */
#define GROUP_REBALANCE_SETTLE_MS_MAX 90000u
/* Records one run produces at most. */
#define GROUP_REBALANCE_RECORDS_MAX 40000u

/* Runs one seed (see the top of this file). opts->nodes must be 0 or
 * GROUP_REBALANCE_MEMBERS + 3, else -EINVAL. */
int sim_scenario_group_rebalance(const sim_scenario_opts *opts,
                                 sim_scenario_result *result);

#endif
