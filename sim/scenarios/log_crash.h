/*
 * log_crash.h — the simulator scenario `log-crash`: one node writing a
 * partition log (broker/log/log.h) on a simulated disk, crashed at random
 * points, restarted, and checked after every recovery; then bit rot.
 *
 * sim/scenarios/ is the layer of the simulator that may use broker/ code.
 *
 * The node ("n1", log dir /data/events-0, small segments and index
 * interval so rolls and index entries happen often) ticks every
 * millisecond: it appends 1..3 random batches (1..8 records of 0..300
 * bytes, sometimes compressed), stamped with a leader epoch that grows with
 * each restart; now and then it rolls; at random it asks for a flush of
 * everything appended so far; when a flush completes it sometimes writes
 * the log dir's recovery-point-offset-checkpoint (so restarts see fresh,
 * stale or no recovery points). Restarting opens the log from the
 * checkpoint: recovery runs on whatever the crash left.
 *
 * Faults (FAULTS stream, rates drawn per seed): crashes at random virtual
 * times — unsynced writes dropped, kept or torn, and in half of them torn
 * writes end in garbage (SIM_DISK_CRASH_GARBAGE) — each followed by a
 * restart after 0..20 ms; and, in three runs out of four, fsync EIO (the
 * next fsync on the disk fails: the writes it covered stay readable in the
 * page cache but never reach the medium). A flush that fails takes the log
 * offline; the node then halts — the process stops, the page cache stays,
 * as when Kafka's broker halts on a failed log dir — and restarts after
 * 0..20 ms on what the page cache holds: the case where trusting what
 * recovery reads back would lose acknowledged data at the next crash.
 *
 * Checks, after every recovery (the node reports to the harness):
 *   1. every batch acknowledged as flushed (its flush callback returned 0)
 *      is present at its offset, byte for byte;
 *   2. offsets are contiguous from the log start to the log end, and the
 *      log end is not below the acknowledged flushed offset;
 *   3. nothing is invented: every batch read back is byte-identical to a
 *      batch the node appended at that offset (in some incarnation).
 * After the run (everything flushed): bit rot. Several times, one random
 * bit of a random flushed batch is flipped on the medium (sim_disk_rot)
 * and the whole log is read: some read must fail with CORRUPT_MESSAGE and
 * no read may return a batch that differs from what was appended; then
 * the bit is flipped back.
 *
 * Stats: appended, flushed (acknowledged offsets), crashes, garbage
 * crashes, recoveries, recovered_lost (batches a crash took: appended but
 * not recovered), fsync_faults, flush_failures, halts, rot_rounds,
 * rot_detected.
 */
#ifndef SLUICE_SIM_SCENARIOS_LOG_CRASH_H
#define SLUICE_SIM_SCENARIOS_LOG_CRASH_H

#include "sim/scenario.h"

#define LOG_CRASH_DURATION_MS_DEFAULT 1500u
#define LOG_CRASH_DURATION_MS_MAX 600000u
#define LOG_CRASH_ROT_ROUNDS 12u

/* Runs one seed (see the top of this file). opts->nodes must be 0 or 1.
 * Returns 0 when the run completed (violations are in the result) or
 * -EINVAL for bad options. */
int sim_scenario_log_crash(const sim_scenario_opts *opts,
                           sim_scenario_result *result);

#endif
