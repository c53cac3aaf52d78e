/*
 * retention.c — deleting old segments (Kafka's retention.ms,
 * retention.bytes and the log start offset).
 *
 * Kafka deletes whole segments, oldest first, and never the active one:
 *  - a segment whose successor starts at or below the log start offset
 *    holds nothing readable (after DeleteRecords) — always;
 *  - with cleanup.policy=delete, a segment whose largest timestamp is more
 *    than retention.ms before now (Kafka: startMs - largestTimestamp >
 *    retentionMs), and
 *  - as many of the oldest segments as it takes for the log to stay within
 *    retention.bytes (Kafka: delete while size - retention.bytes >= the
 *    segment's size).
 * Each rule stops at its first segment that survives. The log start offset
 * then moves up to the first remaining segment. Kafka renames deleted
 * files to `.deleted` and removes them later; here they are unlinked at
 * once (the directory is fsynced by the next flush).
 */
#include <inttypes.h>

#include "base/assert.h"
#include "broker/kerr.h"
#include "broker/log/log_internal.h"

static log__segment *seg_at(const log_t *log, guint i) {
  return g_ptr_array_index(log->segments, i);
}

static int delete_oldest(log_t *log, log_retention_stats *stats) {
  log__segment *seg = seg_at(log, 0);
  stats->segments_deleted++;
  stats->bytes_deleted += seg->size_bytes;
  log->generation++;
  env_trace(log->env, "log.retention_delete",
            "\"dir\":\"%s\",\"base\":%" PRId64 ",\"bytes\":%" PRIu64, log->dir,
            seg->base_offset, seg->size_bytes);
  return log__remove_segment(log, 0) < 0 ? KERR_KAFKA_STORAGE_ERROR : KERR_NONE;
}

int log_retention_run(log_t *log, int64_t now_ms, log_retention_stats *stats) {
  SL_ASSERT(log);
  log_retention_stats local = {0, 0};
  if (!stats)
    stats = &local;
  stats->segments_deleted = 0;
  stats->bytes_deleted = 0;
  /* Periodic: also where an idle log gives its write buffer back. */
  if (log->failed || log__write_out(log, true) < 0)
    return KERR_KAFKA_STORAGE_ERROR;
  const log_config *c = &log->cfg;
  int rc = KERR_NONE;
  /* Below the log start offset. */
  while (rc == KERR_NONE && log->segments->len > 1 &&
         seg_at(log, 1)->base_offset <= log->log_start_offset)
    rc = delete_oldest(log, stats);
  if (c->cleanup_delete && c->retention_ms >= 0) {
    while (rc == KERR_NONE && log->segments->len > 1 &&
           now_ms - seg_at(log, 0)->max_ts_ms > c->retention_ms)
      rc = delete_oldest(log, stats);
  }
  if (c->cleanup_delete && c->retention_bytes >= 0) {
    uint64_t size = log_size_bytes(log);
    int64_t excess = (int64_t)size - c->retention_bytes;
    while (rc == KERR_NONE && log->segments->len > 1 &&
           excess - (int64_t)seg_at(log, 0)->size_bytes >= 0) {
      excess -= (int64_t)seg_at(log, 0)->size_bytes;
      rc = delete_oldest(log, stats);
    }
  }
  if (log->log_start_offset < seg_at(log, 0)->base_offset) {
    log->log_start_offset = seg_at(log, 0)->base_offset;
    log__epochs_truncate_start(log, log->log_start_offset);
  }
  return rc;
}
