/*
 * broker_crash.h — the simulator scenario `broker-crash`: one broker node
 * (broker/server), a producer and a consumer built on the Kafka client
 * (broker/client), and crash/restart faults of the broker.
 *
 * sim/scenarios/ is the layer of the simulator that may use broker/ code:
 * the simulator core (sim/) knows nothing of Kafka; a scenario here wires
 * real broker and client nodes onto simulated nodes and checks them.
 *
 * The world, per seed:
 *   - node "b1": broker_node_ops, log dir /data, every partition with
 *     flush.messages=1 (log.flush.interval.messages=1), topic "events"
 *     auto-created with BROKER_CRASH_PARTITIONS partitions;
 *   - node "producer": a kclient (acks=-1, idempotent in half of the
 *     seeds, short timeouts, retries) that queues a few records per tick,
 *     each with a value unique to the record ("r000042"), to a partition
 *     drawn from its own stream;
 *   - node "consumer": a kclient consumer assigned every partition from the
 *     earliest offset, long polling, reading throughout the run.
 * Faults, from the FAULTS stream with swarm-drawn weights and rate: broker
 * crash (half of them with SIM_DISK_CRASH_GARBAGE: torn unsynced writes
 * leave random bytes), clean broker stop, partitions between a client and
 * the broker (symmetric or one way) that heal after a while, connection
 * resets, fsync EIO (the broker's next fsync fails; a log whose flush
 * fails goes offline and the harness halts the broker — a stop, page cache
 * kept — as Kafka halts a broker whose log dir failed). A crashed, stopped
 * or halted broker restarts after a drawn delay.
 *
 * Timeline: [0, duration) workload and faults; then everything heals, the
 * broker restarts if down, the producer stops queuing and its outstanding
 * records are delivered or fail; then the consumer makes a verification
 * pass: a fresh consumer reads every partition from offset 0 to the
 * broker's log end.
 *
 * What "acknowledged after flush" means here: with flush.messages=1 the
 * broker starts an fsync at every append but answers the Produce request
 * without waiting for it to complete, so an acknowledged write may be lost
 * by a crash that comes within one fsync latency (as with Kafka's default
 * of not flushing at all, where replication is what makes acks durable).
 * The checker therefore does not trust the broker's word for durability:
 * at every crash it reads the simulated disk's durable image of each
 * partition's segment and decodes the whole batches it holds from offset
 * 0 — that is what was flushed.
 *
 * Checkers (a record or read "precedes" a crash when it was queued / read
 * before the crash; the first crash after it decides its fate):
 *   1. no acknowledged write that was flushed is lost: an acknowledged
 *      record whose first following crash found it in the durable image
 *      (or that no crash followed) is in the final log at its acknowledged
 *      offset with its value; the durable image holds that value there;
 *   2. offsets unique and gap-free: the final log holds offsets 0..end-1,
 *      each once, and its end is the broker's log end offset;
 *   3. the consumer reads exactly what the log holds: every record the
 *      consumer read during the run that was durable (by the same rule)
 *      has that value at that offset in the final log; within one pass a
 *      partition's offsets never skip; the verification pass reads the
 *      whole log and each record equals what the durable image / acks say;
 *   4. with the idempotent producer, no record is in the final log twice
 *      under the same producer id (ids from the durable image's batch
 *      headers; the client resets its producer id after
 *      OUT_OF_ORDER_SEQUENCE_NUMBER and may then resend a batch whose
 *      first attempt was appended: such copies are counted, stat
 *      dups_across_producer_ids, since a broker deduplicates only within
 *      one producer id);
 *   5. liveness: after the heal, every outstanding record is delivered or
 *      fails, and the verification pass completes.
 * Acknowledged records lost in the unflushed window are counted (stat
 * acked_unflushed_lost), not violations.
 */
#ifndef SLUICE_SIM_SCENARIOS_BROKER_CRASH_H
#define SLUICE_SIM_SCENARIOS_BROKER_CRASH_H

#include "sim/scenario.h"

#define BROKER_CRASH_PARTITIONS 2
/* Virtual time with faults (--duration-ms); the heal and the checks come
 * after it. */
#define BROKER_CRASH_DURATION_MS_DEFAULT 2000u
#define BROKER_CRASH_DURATION_MS_MAX 60000u
/* Records one run produces at most (the producer stops there). */
#define BROKER_CRASH_RECORDS_MAX 20000u

/* Runs one seed of the scenario (see the top of this file). opts->nodes
 * must be 0 or 3 (the scenario's node count is fixed), else -EINVAL. */
int sim_scenario_broker_crash(const sim_scenario_opts *opts,
                              sim_scenario_result *result);

#endif
