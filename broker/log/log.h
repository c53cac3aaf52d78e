/*
 * log.h — a partition's log, stored in Kafka's on-disk format.
 *
 * Kafka concept (KAFKA-NOTES.md §5): one directory `<topic>-<partition>` per
 * partition replica, holding segments. A segment is named by the offset of
 * its first batch, 20 digits zero-padded, and is three files:
 *
 *   00000000000000000000.log        record batches v2, exactly as on the wire
 *   00000000000000000000.index      sparse: 8-byte entries (relative offset
 *                                   int32, position int32), big-endian
 *   00000000000000000000.timeindex  12-byte entries (timestamp int64,
 *                                   relative offset int32), big-endian
 *
 * plus `leader-epoch-checkpoint` (epoch → first offset of that epoch). The
 * last segment is the active one; only it is appended to. Offsets grow by
 * one per record; a batch covers [base_offset, base_offset +
 * last_offset_delta].
 *
 * Invariants kept by this module:
 *  - log_start_offset <= log_end_offset and recovery_point <=
 *    log_end_offset; the log end offset (LEO) is the offset the next
 *    append gets;
 *  - batches inside a segment have strictly increasing offsets, every
 *    segment's batches lie in [its base offset, the next segment's base),
 *    and segments are contiguous: a segment starts where the previous one's
 *    last batch ended (rolls happen at the LEO; compaction keeps each
 *    segment's last batch, emptied if need be). Recovery relies on this to
 *    notice a lost tail followed by a segment that survived the crash. (A
 *    follower batch too far ahead for int32 relative offsets is the one
 *    exception: it starts a segment at its own base offset.);
 *  - every byte below the recovery point is durable (fsynced), and so is
 *    every index entry and leader epoch covering it;
 *  - the active segment's indexes are kept in memory (and written out on
 *    flush, roll and close); older segments' indexes are read from their
 *    files on demand. Memory is O(number of segments + the active index +
 *    fixed buffers), never O(data). Kafka preallocates and mmaps index files;
 *    here an index file is always exactly its entries (no trimming needed).
 *
 * I/O goes only through base/env.h, so the simulator can crash the log at
 * any point. Appends are gathered in memory and reach the page cache when
 * written out (log_write_out, or any read, flush, roll, ...); durability comes
 * from log_flush, whose completion is reported through a callback. Reading
 * verifies each returned batch's CRC (bit rot is reported, never returned).
 *
 * Errors: data-path functions return Kafka error codes (broker/kerr.h,
 * KERR_NONE = 0) because they end up in Produce/Fetch responses:
 * KERR_OFFSET_OUT_OF_RANGE, KERR_CORRUPT_MESSAGE (bad bytes given to append,
 * or bad bytes found on disk by a read), KERR_INVALID_RECORD,
 * KERR_MESSAGE_TOO_LARGE, KERR_KAFKA_STORAGE_ERROR (an I/O error; the log is
 * then "failed": Kafka takes the log dir offline, here every later call
 * returns KERR_KAFKA_STORAGE_ERROR). Setup and callback statuses are 0 or a
 * negative errno value, as in env.h.
 *
 * Callbacks (log_done_cb, ...) never run from inside the call that
 * registered them. A log is used from its env's thread only.
 *
 * Ownership: pointers are borrowed unless marked [owned] / [takes
 * ownership]. The log owns its files and memory.
 */
#ifndef SLUICE_BROKER_LOG_LOG_H
#define SLUICE_BROKER_LOG_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/env.h"

typedef struct log log_t;

/* No upper bound for log_read's offset_max. */
#define LOG_OFFSET_MAX INT64_MAX
/* "Never" for flush_messages / flush_ms (Kafka's default Long.MAX_VALUE). */
#define LOG_NEVER INT64_MAX

/* ------------------------------------------------------------ configuration
 * Topic-level settings, with Kafka's names and defaults. */
typedef struct log_config {
  int64_t segment_bytes;        /* segment.bytes: roll when the next batch
                                   would pass it (default 1 GiB; 14..INT32_MAX) */
  int64_t segment_ms;           /* segment.ms: roll when the active segment's
                                   first batch is older (default 7 days) */
  int64_t segment_index_bytes;  /* segment.index.bytes: roll when an index
                                   reaches it (default 10 MiB; >= 12) */
  int32_t index_interval_bytes; /* index.interval.bytes (default 4096) */
  int64_t flush_messages;       /* flush.messages: flush once this many
                                   offsets are unflushed (LOG_NEVER) */
  int64_t flush_ms;             /* flush.ms: flush this long after the first
                                   unflushed append (LOG_NEVER) */
  int64_t retention_ms;         /* retention.ms (7 days; -1 = unlimited) */
  int64_t retention_bytes;      /* retention.bytes (-1 = unlimited) */
  bool cleanup_delete;          /* cleanup.policy contains "delete" (true) */
  bool cleanup_compact;         /* cleanup.policy contains "compact" (false) */
  int64_t delete_retention_ms;  /* delete.retention.ms (1 day) */
  bool log_append_time;         /* message.timestamp.type=LogAppendTime */
  /* The compaction key map's capacity (distinct keys per pass; Kafka sizes
   * it by log.cleaner.dedupe.buffer.size). 24 bytes a key. Default 1M. */
  size_t cleaner_keys_max;
} log_config;

/* Fills c with Kafka's defaults (listed above). */
void log_config_default(log_config *c);

/* ------------------------------------------------------------- open, close */

typedef struct log_open_opts {
  /* From the log dir's recovery-point-offset-checkpoint (0 if absent):
   * segments wholly below it are trusted, the rest are rescanned. */
  int64_t recovery_point;
  /* From log-start-offset-checkpoint (0 if absent). */
  int64_t log_start_offset;
} log_open_opts;

/* Opens (creating if missing) the log in directory `dir` and recovers it:
 * leftover temporary files of an interrupted compaction are finished or
 * removed; every batch at or after the recovery point is checked (size,
 * CRC, offsets); a torn or corrupt tail is truncated at the last valid
 * batch and later segments are deleted; missing or bad indexes are
 * rebuilt; the leader epoch cache is loaded and cut back to the log end.
 * Segments below the recovery point are not rescanned (only their index
 * files are sanity-checked).
 * On success stores the log in *out [owned by the caller: log_close or
 * log_free]. Errors: -EINVAL (bad config or a name in `dir` that is not a
 * segment base offset), -EIO and other env errors. */
int log_open(env_t *env, const char *dir, const log_config *cfg,
             const log_open_opts *opts, log_t **out)
    __attribute__((warn_unused_result));

typedef void (*log_done_cb)(void *arg, int status);

/* Clean close: flushes everything (indexes included), waits for all I/O in
 * flight, frees the log, then calls cb(arg, status) (status of the final
 * flush). The log must not be used after this call. cb may be NULL. */
void log_close(log_t *log, log_done_cb cb, void *arg);

/* Frees the log at once without flushing or waiting. Allowed when
 * log_idle() is true, or when the env is dead (a simulated crash: pending
 * callbacks will never run). Buffered appends are written to the file
 * first (a dead env drops that write); unflushed appends may be lost, as in
 * a crash. NULL is fine. */
void log_free(log_t *log);

/* True when no flush, compaction, checkpoint write or deferred callback is
 * in flight. */
bool log_idle(const log_t *log);

/* ------------------------------------------------------------------ state */

int64_t log_start_offset(const log_t *log);
int64_t log_end_offset(const log_t *log);
/* Everything below it is durable. */
int64_t log_recovery_point(const log_t *log);
/* Where the next compaction pass starts its key map: the first "dirty"
 * offset (Kafka keeps it in the log dir's cleaner-offset-checkpoint). It
 * starts at the log start offset; restore a checkpointed value with
 * log_set_cleaner_offset after log_open (clamped to [start, LEO]). */
int64_t log_cleaner_offset(const log_t *log);
void log_set_cleaner_offset(log_t *log, int64_t offset);
uint64_t log_size_bytes(const log_t *log); /* sum of .log sizes */
size_t log_segment_count(const log_t *log);
/* The base offsets of the segments, ascending, into out (up to n); returns
 * the count. */
size_t log_segment_bases(const log_t *log, int64_t *out, size_t n);
const char *log_dir(const log_t *log); /* owned by the log */
bool log_failed(const log_t *log);

/* ---------------------------------------------------------------- writing */

typedef struct log_append_info {
  int64_t base_offset;        /* first offset of the appended batch */
  int64_t last_offset;        /* last offset */
  int64_t log_append_time_ms; /* -1 unless the topic uses LogAppendTime */
  int64_t log_start_offset;   /* for the Produce response */
} log_append_info;

/* Leader append of ONE validated batch (batch_validate() passed). The log
 * rewrites, in the caller's bytes, the base offset (= LEO) and the
 * partition leader epoch (fields outside the CRC), and for LogAppendTime
 * topics the timestamp type and max timestamp (recomputing the CRC); then
 * appends them, rolling first if needed. leader_epoch must be >= every
 * epoch appended before (a programmer error otherwise), -1 only while the
 * log has no epoch.
 * Errors: KERR_CORRUPT_MESSAGE (len is not one whole batch),
 * KERR_MESSAGE_TOO_LARGE (batch larger than segment.bytes),
 * KERR_KAFKA_STORAGE_ERROR. */
int log_append(log_t *log, uint8_t *batch, size_t len, int32_t leader_epoch,
               log_append_info *info) __attribute__((warn_unused_result));

/* Follower append of one or more whole batches, validated by the caller
 * (batch_validate with allow_control), that keep the offsets and epochs the
 * leader gave them (replication). The first base offset must be >= LEO
 * (gaps are allowed: compacted leaders), offsets must grow, and epochs must
 * not go down. info describes the whole range. A gap lands inside a
 * segment (a roll still starts the new segment at the LEO), so segments
 * stay contiguous.
 * Errors: KERR_CORRUPT_MESSAGE (framing), KERR_OFFSET_OUT_OF_RANGE (offset
 * below LEO or not increasing), KERR_INVALID_RECORD (epoch going down),
 * KERR_MESSAGE_TOO_LARGE, KERR_KAFKA_STORAGE_ERROR. */
int log_append_follower(log_t *log, const uint8_t *batches, size_t len,
                        log_append_info *info)
    __attribute__((warn_unused_result));

/* After this, every appended byte is in the file (page cache); call before
 * acknowledging appends. Appends are gathered in a per-log buffer and
 * written with one pwrite when it fills, or before anything that needs the
 * bytes in the file (reads, flush, roll, truncation, DeleteRecords,
 * retention, compaction, close); a process kill loses what is still
 * buffered. Errors: KERR_KAFKA_STORAGE_ERROR (the write failed; the log is
 * failed, and appends not yet written out are lost). */
int log_write_out(log_t *log) __attribute__((warn_unused_result));

/* Starts a new active segment at the LEO (no-op if the active segment is
 * empty). Appends roll by themselves (size, time, full index, relative
 * offset overflow); this is for tests and tools. */
int log_roll(log_t *log) __attribute__((warn_unused_result));

/* Makes every batch below offset_end (clamped to the LEO) durable: writes
 * out pending index entries, fsyncs the touched segment files, the
 * directory (for created or deleted segments) and the leader epoch
 * checkpoint, then advances the recovery point and calls cb(arg, status):
 * 0, -EIO (the log is failed from then on), or -ECANCELED if a truncation
 * removed offset_end before it became durable. One flush round runs at a
 * time; requests arriving meanwhile share the next round. The flush policy
 * (flush.messages, flush.ms) starts rounds on its own. cb may be NULL. */
void log_flush(log_t *log, int64_t offset_end, log_done_cb cb, void *arg);

/* Replication: removes every batch holding an offset >= offset. Truncation
 * is by whole batches, so the LEO afterwards is the end of the last batch
 * kept (<= offset). Segments past it are deleted. The recovery point and
 * the epoch cache are cut back to the new LEO; an offset below the log start
 * offset empties the log and restarts it there (log_truncate_fully). Durable
 * after the next flush. Errors: KERR_KAFKA_STORAGE_ERROR. */
int log_truncate_to(log_t *log, int64_t offset)
    __attribute__((warn_unused_result));

/* Deletes every segment and restarts the log empty at new_start (a follower
 * whose fetch offset fell out of the leader's range). */
int log_truncate_fully(log_t *log, int64_t new_start)
    __attribute__((warn_unused_result));

/* DeleteRecords: moves the log start offset up to offset (no-op if it is
 * already there) and deletes the segments wholly below it (never the active
 * one). The caller bounds offset by the high watermark.
 * Errors: KERR_OFFSET_OUT_OF_RANGE (offset > LEO), KERR_KAFKA_STORAGE_ERROR. */
int log_advance_start_offset(log_t *log, int64_t offset)
    __attribute__((warn_unused_result));

/* ---------------------------------------------------------------- reading */

typedef struct log_read_info {
  int64_t log_start_offset;
  int64_t log_end_offset;
  int64_t offset_next; /* where the next sequential read starts: one past
                          the last returned batch (the request offset if
                          nothing was returned) */
  size_t batch_count;
  /* log_read_view only: the segment file the returned view lies in, and
   * the position of its first byte there, so the bytes can also be sent
   * from the file (env_conn_sendv_files). Borrowed, valid exactly as long
   * as the view; NULL (and 0) when nothing is returned. (log_read sets
   * them too; its copy does not need them.) */
  env_file_t *file;
  uint64_t file_position;
} log_read_info;

/* Reads whole batches starting with the one that holds `offset`, appending
 * them to out: as many as fit in max_bytes, but always the first one even
 * if it is larger (KIP-74), and only batches whose last offset is below
 * offset_max (the high watermark for consumers; LOG_OFFSET_MAX for
 * followers). A read stays within one segment, as Kafka's does. Every
 * returned batch is checked (magic, CRC, offsets against the segment and the
 * index, leader epoch against the epoch cache); a bad batch is never
 * returned: if the first one is bad the read fails, otherwise the read
 * stops before it.
 * Errors: KERR_OFFSET_OUT_OF_RANGE (offset < log start or > LEO),
 * KERR_CORRUPT_MESSAGE (bit rot or a damaged file),
 * KERR_KAFKA_STORAGE_ERROR (I/O error). out is unchanged on error. */
int log_read(log_t *log, int64_t offset, size_t max_bytes, int64_t offset_max,
             buf_t *out, log_read_info *info)
    __attribute__((warn_unused_result));

/* log_read without the copy: the same batches, checked the same way (every
 * batch's CRC included), with the same errors, but (*data, *len) is a view
 * of them in the segment file (env_file_view) instead of bytes appended to
 * a buffer. *len is 0 (and *data NULL) when nothing is returned or on
 * error. The view is valid as env_file_view says — until control returns
 * to the event loop or the segment file is written, truncated or closed —
 * and in any case only until the log is next changed (any call but reads
 * and state queries: append, truncation, retention, compaction, roll,
 * flush, close): copy or send the bytes before that. Several views from
 * one callback may be alive together. info->file and info->file_position
 * say where the view lies (same lifetime). Kafka's counterpart is the
 * FileRecords slice a fetch hands to sendfile. */
int log_read_view(log_t *log, int64_t offset, size_t max_bytes,
                  int64_t offset_max, const uint8_t **data, size_t *len,
                  log_read_info *info) __attribute__((warn_unused_result));

/* log_read_view with flags (0 = log_read_view). LOG_READ_NO_CRC leaves out
 * the CRC check, nothing else (magic, sizes, offsets and leader epochs are
 * still checked): what Kafka's broker does on a fetch, leaving the CRC to
 * the consumer (check.crcs). Bit rot inside a batch's CRC range then goes
 * out undetected by the log. The broker uses it only when
 * fetch.verify.crc=false. */
#define LOG_READ_NO_CRC 1u
int log_read_view_flags(log_t *log, int64_t offset, size_t max_bytes,
                        int64_t offset_max, unsigned flags,
                        const uint8_t **data, size_t *len, log_read_info *info)
    __attribute__((warn_unused_result));

/* ListOffsets by timestamp: the first offset (in offset order) whose record
 * timestamp is >= timestamp_ms, and that record's timestamp; *offset = -1
 * (and *found_ts = -1) if there is none. Records below the log start offset
 * are skipped. Uses the time index to skip segments and the start of the
 * segment, then scans batches (decoding records of the batch that
 * matches).
 * Errors: KERR_CORRUPT_MESSAGE, KERR_KAFKA_STORAGE_ERROR. */
int log_offset_for_timestamp(log_t *log, int64_t timestamp_ms, int64_t *offset,
                             int64_t *found_ts)
    __attribute__((warn_unused_result));

/* ----------------------------------------------------------- leader epochs */

/* The latest epoch appended (-1 if none). */
int32_t log_latest_epoch(const log_t *log);

/* OffsetForLeaderEpoch: the largest known epoch <= epoch and the offset where
 * it ends (the start of the next known epoch, or the LEO for the latest).
 * (-1, -1) if epoch is older than every known epoch. */
void log_epoch_end_offset(const log_t *log, int32_t epoch, int32_t *epoch_out,
                          int64_t *end_offset);

/* ------------------------------------------------------ retention, cleanup */

typedef struct log_retention_stats {
  size_t segments_deleted;
  uint64_t bytes_deleted;
} log_retention_stats;

/* Deletes whole old segments, oldest first, never the active one: those
 * wholly below the log start offset; with cleanup.policy=delete also those
 * whose largest timestamp is more than retention.ms before now_ms, and as
 * many as keep the log above retention.bytes. Moves the log start offset up
 * to the new first segment. stats may be NULL.
 * Errors: KERR_KAFKA_STORAGE_ERROR. */
int log_retention_run(log_t *log, int64_t now_ms, log_retention_stats *stats)
    __attribute__((warn_unused_result));

typedef struct log_compact_stats {
  size_t segments_cleaned; /* segments rewritten */
  size_t keys;             /* distinct keys in the map */
  uint64_t records_read;
  uint64_t records_removed; /* superseded records and expired tombstones */
  uint64_t tombstones_removed;
  uint64_t bytes_before;
  uint64_t bytes_after;
  int64_t offset_cleaned_end; /* everything below was considered */
} log_compact_stats;

typedef void (*log_compact_cb)(void *arg, int status,
                               const log_compact_stats *stats);

/* Log compaction (cleanup.policy=compact), Kafka's log cleaner in one pass:
 * over the non-active segments wholly below min(offset_end, recovery point)
 * (offset_end is the high watermark: never clean what might be truncated),
 * keeps for each key only its latest record; a tombstone (null value) is
 * kept until now_ms >= its timestamp + delete.retention.ms, then dropped.
 * Records without a key and control batches are kept. Offsets never change
 * (batches keep their offset range; gaps appear). Each changed segment is
 * rewritten through `.cleaned` → `.swap` → final name, fsynced at each step,
 * so a crash at any point leaves either the old or the new segment.
 * Returns 0 when started (cb follows with status 0, -ECANCELED if a
 * truncation or deletion touched those segments meanwhile, or -EIO), or
 * -EBUSY (a compaction is running) / -EINVAL (not a compacted topic) /
 * -EIO without calling cb. */
int log_compact(log_t *log, int64_t now_ms, int64_t offset_end,
                log_compact_cb cb, void *arg)
    __attribute__((warn_unused_result));

/* ------------------------------------------------------------- checkpoints
 * Kafka's text checkpoint files: a version line (0), an entry-count line,
 * then one entry per line. Written to `<path>.tmp`, fsynced, renamed over
 * `<path>`, and the directory fsynced. The log-dir-level files
 * (recovery-point-offset-checkpoint, log-start-offset-checkpoint,
 * replication-offset-checkpoint) hold "topic partition offset" lines and
 * belong to whoever manages the log dir; these functions read and write
 * them. */

typedef struct log_offset_entry {
  char *topic; /* [owned] by the array the entry lives in */
  int32_t partition;
  int64_t offset;
} log_offset_entry;

/* Reads a "topic partition offset" checkpoint. On success *entries [owned:
 * log_offset_entries_free] holds *n entries in file order. A missing file
 * is -ENOENT; a malformed one -EINVAL. */
int log_offsets_read(env_t *env, const char *path, log_offset_entry **entries,
                     size_t *n) __attribute__((warn_unused_result));
void log_offset_entries_free(log_offset_entry *entries, size_t n);

/* A checkpoint file writer: serialises writes to one path (a write started
 * while another is in flight is queued; queued contents coalesce, newest
 * wins). */
typedef struct log_checkpoint log_checkpoint_t;

log_checkpoint_t *log_checkpoint_new(env_t *env, const char *path);
/* Same rules as log_free. NULL is fine. */
void log_checkpoint_free(log_checkpoint_t *ck);
bool log_checkpoint_idle(const log_checkpoint_t *ck);
/* Writes entries (sorted by topic then partition in the file, whatever
 * their order here); cb(arg, status) once that content or a newer one is
 * durable. cb may be NULL. */
void log_checkpoint_write_offsets(log_checkpoint_t *ck,
                                  const log_offset_entry *entries, size_t n,
                                  log_done_cb cb, void *arg);

/* "<topic>-<partition>" → topic (copied into topic, topic_len bytes) and
 * partition. false if name is not of that form. */
bool log_parse_dir_name(const char *name, char *topic, size_t topic_len,
                        int32_t *partition);

/* ------------------------------------------------------------ verification */

typedef void (*log_verify_report_fn)(void *arg, const char *file,
                                     const char *problem);

/* Read-only check of a partition directory: every batch of every segment
 * (framing, magic, CRC, increasing offsets, offsets inside the segment's
 * range), every offset-index entry (increasing, pointing at the start of the
 * batch whose last offset it names), every time-index entry (increasing),
 * the leader-epoch-checkpoint's syntax. Calls report for each problem and
 * returns the number of problems (0 = clean), or a negative errno if the
 * directory cannot be read. Nothing is modified. */
int log_verify_dir(env_t *env, const char *dir, log_verify_report_fn report,
                   void *arg);

#endif
