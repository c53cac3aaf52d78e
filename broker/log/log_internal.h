/*
 * log_internal.h — what the files of broker/log/ share (not a public
 * contract; see log.h for that).
 *
 * Map of the module:
 *   log.c        open/close, append, roll, read, find-by-time, flush rounds,
 *                truncation, log start offset, deferred callbacks
 *   segment.c    one segment: files, paths, creation/deletion, the batch
 *                walker, indexing a batch, locating an offset
 *   index.c      the sparse index files (offset index, generic part)
 *   timeindex.c  the time index's entry format and lookups
 *   checkpoint.c Kafka's text checkpoints, the checkpoint writer, the
 *                leader epoch cache
 *   recovery.c   recovery at open; log_verify_dir
 *   retention.c  deletion by time, size and log start offset
 *   compact.c    log compaction
 */
#ifndef SLUICE_BROKER_LOG_LOG_INTERNAL_H
#define SLUICE_BROKER_LOG_LOG_INTERNAL_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/buf.h"
#include "base/env.h"
#include "broker/log/batch.h"
#include "broker/log/log.h"

#define LOG__OINDEX_ENTRY_BYTES 8
#define LOG__TINDEX_ENTRY_BYTES 12
/* Chunk size of sequential scans (recovery, verification, locating). */
#define LOG__SCAN_CHUNK_BYTES ((size_t)64 << 10)
/* Scan buffers above this are released after use (a huge batch passed). */
#define LOG__SCAN_KEEP_BYTES ((size_t)4 << 20)
/* Appends are gathered in one buffer per log (allocated on first use) and
 * written to the active segment with one pwrite when it is full or when
 * anything needs the bytes in the file (reads, flush, roll, truncation,
 * retention, compaction, close, log_write_out). Batches at least this big
 * are written directly. */
#define LOG__WRITE_BUFFER_BYTES ((size_t)512 << 10)
/* Disk advice for the active segment (env_file_advise; the simulator
 * ignores it). Before bytes are written, space is reserved ahead of them:
 * half as far as the segment's size (at least the write buffer's size), up
 * to this far, never past segment.bytes. The file system then allocates
 * blocks a few times per segment rather than on every write, and a
 * partition that gets little data holds little spare space. A roll and a
 * clean close give back what the segment did not use. */
#define LOG__RESERVE_AHEAD_BYTES ((uint64_t)32 << 20)
/* Written bytes are handed to the disk (writeback started) each time this
 * many have gathered, so the kernel never has gigabytes to write at once
 * while producers wait. */
#define LOG__WRITEBACK_STEP_BYTES ((uint64_t)4 << 20)
/* Digits of a segment's base offset in its file names. */
#define LOG__NAME_DIGITS 20
#define LOG__EPOCH_CHECKPOINT "leader-epoch-checkpoint"

/* ------------------------------------------------------------ sparse index
 * An index file of fixed-size big-endian entries. While the segment is
 * active every entry is also held in `mem` (encoded as in the file), and the
 * entries past `entries_written` exist only there until written out. */
typedef struct log__index {
  env_file_t *file;
  uint32_t entry_bytes;
  uint32_t entries;         /* total entries */
  uint32_t entries_written; /* the prefix that is in the file */
  bool in_memory;           /* mem holds every entry */
  buf_t mem;
  bool needs_fsync;
} log__index;

void log__index_init(log__index *idx, uint32_t entry_bytes);
/* Opens (creating if missing) the file; reads its entry count. A size that
 * is not a multiple of the entry size is reported as *sane = false (the
 * file is then emptied by the caller's rebuild). */
int log__index_open(env_t *env, const char *path, log__index *idx,
                    bool truncate, bool *sane);
void log__index_close(log__index *idx);
/* Reads every entry into memory (active segment). */
int log__index_load(log__index *idx);
/* Writes entries not yet in the file; 0 or env error. */
int log__index_write_pending(log__index *idx);
/* Writes pending entries and drops the memory copy. */
int log__index_unload(log__index *idx);
/* Entry i (encoded bytes) into out. */
int log__index_entry(const log__index *idx, uint32_t i, uint8_t *out);
/* Appends an entry in memory (in_memory required). */
void log__index_push(log__index *idx, const uint8_t *entry);
/* Keeps the first n entries (memory and file). */
int log__index_truncate(log__index *idx, uint32_t n);

/* Offset index entries. */
void log__oindex_encode(uint8_t *out, int32_t rel_offset, int32_t position);
void log__oindex_decode(const uint8_t *in, int32_t *rel_offset,
                        int32_t *position);
/* Greatest entry with relative offset <= rel: its index, or -1 (none). */
int log__oindex_search(const log__index *idx, int32_t rel, int64_t *found,
                       int32_t *rel_out, int32_t *pos_out);
/* Number of leading entries whose position is < pos. */
int log__oindex_count_below_pos(const log__index *idx, uint64_t pos,
                                uint32_t *n);

/* Time index entries. */
void log__tindex_encode(uint8_t *out, int64_t timestamp, int32_t rel_offset);
void log__tindex_decode(const uint8_t *in, int64_t *timestamp,
                        int32_t *rel_offset);
/* Greatest entry with timestamp < ts: *found = its index or -1. */
int log__tindex_search_before(const log__index *idx, int64_t ts, int64_t *found,
                              int64_t *ts_out, int32_t *rel_out);
/* Number of leading entries whose relative offset is <= rel. */
int log__tindex_count_upto_rel(const log__index *idx, int32_t rel, uint32_t *n);
/* The last entry, if any (*has = false when empty). */
int log__tindex_last(const log__index *idx, bool *has, int64_t *ts,
                     int32_t *rel);

/* ----------------------------------------------------------------- segment */
typedef struct log__segment {
  log_t *log;
  int64_t base_offset;
  env_file_t *file; /* .log */
  uint64_t size_bytes;
  /* One past the last batch's last offset (base when empty). Exact for the
   * active segment and for segments scanned at open; for segments loaded
   * without a scan it is only an upper bound (the next segment's base). */
  int64_t offset_next;
  log__index oindex;
  log__index tindex;
  uint64_t bytes_since_index; /* Kafka's bytesSinceLastIndexEntry */
  int64_t max_ts_ms;          /* largest batch max timestamp, -1 if none */
  int64_t offset_of_max_ts;   /* last offset of that batch, -1 if none */
  int64_t rolling_base_ts_ms; /* first batch's max timestamp, -1 if none */
  int64_t created_wall_ms;    /* for segment.ms when timestamps are absent */
  bool log_needs_fsync;
  uint32_t fsyncs_in_flight;
  bool doomed; /* removed from the log; freed when its fsyncs are done */
  /* Disk advice given for the .log while active: space reserved below
   * reserved_to, writeback started below writeback_from. */
  uint64_t reserved_to;
  uint64_t writeback_from;
} log__segment;

char *log__segment_path(const log_t *log, int64_t base, const char *suffix);
/* Creates a new empty segment (truncating any stale files of that name). */
int log__segment_create(log_t *log, int64_t base, log__segment **out);
/* Same with `extra` appended to each file name (".cleaned"). */
int log__segment_create_as(log_t *log, int64_t base, const char *extra,
                           log__segment **out);
/* Opens the files of an existing segment. *index_sane is false if an index
 * file was missing or malformed (and has been emptied). */
int log__segment_open(log_t *log, int64_t base, log__segment **out,
                      bool *index_sane);
/* Releases handles and memory (no unlink). Only when no fsync is in flight
 * or the env is dead. */
void log__segment_free(log__segment *seg);
/* Unlinks the files and frees (or dooms) the segment. */
int log__segment_delete(log__segment *seg);
/* Frees the segment now, or once its fsyncs in flight are done (no
 * unlink: its files were renamed over or deleted already). */
void log__segment_retire(log__segment *seg);
/* Index bookkeeping for a batch appended (or found) at pos. */
void log__segment_index_batch(log__segment *seg, const batch_header *h,
                              uint64_t pos, size_t len, bool already_indexed,
                              int32_t index_interval_bytes);
/* Appends the segment's max timestamp to its time index if it is newer
 * than the last entry (Kafka does so on roll and on close). */
void log__segment_time_final(log__segment *seg);
/* Makes the segment inactive: final time index entry, index files written,
 * memory released. */
int log__segment_deactivate(log__segment *seg);
/* Truncates the segment's .log to pos and its indexes to the entries
 * below pos / below offset_next; recomputes the append state by a header
 * walk. The indexes are loaded into memory (the result is active-ready). */
int log__segment_truncate(log__segment *seg, uint64_t pos);

/* Sequential batch walker over a segment file. */
typedef struct log__walker {
  env_file_t *file;
  uint64_t end;       /* bytes of the file to consider */
  uint64_t pos;       /* position of the next batch */
  buf_t *buf;         /* borrowed scan buffer */
  uint64_t buf_start; /* file position of buf->data[0] */
} log__walker;

enum {
  LOG__WALK_END = 0,
  LOG__WALK_BATCH = 1,
  LOG__WALK_BAD = 2, /* torn or malformed framing at w->pos */
};
typedef struct log__walked {
  const uint8_t *p; /* whole batch, valid until the next call */
  size_t len;
  uint64_t pos;
  batch_header h;
} log__walked;

void log__walker_init(log__walker *w, env_file_t *file, uint64_t end,
                      uint64_t pos, buf_t *buf);
/* LOG__WALK_* or a negative env error. A returned batch has passed
 * framing only; the caller checks it with log__batch_check. */
int log__walker_next(log__walker *w, log__walked *out);
/* Like next but only needs the 61-byte header in memory (no CRC possible):
 * for header walks over data already trusted. */
int log__walker_next_header(log__walker *w, log__walked *out);
/* Whether the next log__walker_next reads the file again, so that the
 * bytes of the batches it returned before leave the buffer. */
bool log__walker_will_refill(const log__walker *w);

/* Structural and CRC check of one framed batch: magic 2, sane header,
 * last_offset_delta >= 0, CRC (when check_crc). 0 or KERR_CORRUPT_MESSAGE. */
int log__batch_check(const uint8_t *p, size_t len, const batch_header *h,
                     bool check_crc);

/* Finds, in seg, the first batch whose last offset is >= offset, scanning
 * from the index (or the read hint). *found false if none (then *pos is the
 * segment size). *h and *total describe it. KERR_NONE, KERR_CORRUPT_MESSAGE,
 * KERR_KAFKA_STORAGE_ERROR. */
int log__segment_locate(log_t *log, log__segment *seg, int64_t offset,
                        bool *found, uint64_t *pos, batch_header *h,
                        int64_t *prev_last);

/* ------------------------------------------------------- leader epochs */
typedef struct log__epoch_entry {
  int32_t epoch;
  int64_t start_offset;
} log__epoch_entry;

void log__epochs_assign(log_t *log, int32_t epoch, int64_t start_offset);
void log__epochs_truncate_end(log_t *log, int64_t offset_end);
void log__epochs_truncate_start(log_t *log, int64_t start_offset);
void log__epochs_clear(log_t *log);
/* The epoch of the batch holding `offset` per the cache (-1 if none). */
int32_t log__epochs_for_offset(const log_t *log, int64_t offset);
/* The same, plus the offset range [*start, *end) over which that answer
 * holds (the whole range before the first entry gives -1). */
void log__epochs_range(const log_t *log, int64_t offset, int32_t *epoch,
                       int64_t *start, int64_t *end);
/* Parses leader-epoch-checkpoint text; false if malformed. */
bool log__epochs_parse(const char *text, size_t len, GArray *out);
GString *log__epochs_format(const GArray *entries);

/* Reads a whole (small) file through the env. -ENOENT, -EIO, -EFBIG. */
int log__read_small_file(env_t *env, const char *path, size_t max_bytes,
                         char **text, size_t *len);
/* Writes `content` as the checkpoint (queued behind any write in flight). */
void log__checkpoint_write_text(log_checkpoint_t *ck, GString *content,
                                log_done_cb cb, void *arg);

/* --------------------------------------------------------------- the log */
typedef struct log__waiter {
  int64_t target;
  log_done_cb cb;
  void *arg;
  int status;
} log__waiter;

typedef struct log__compaction log__compaction;

struct log {
  env_t *env;
  char *dir;
  log_config cfg;
  GPtrArray *segments; /* log__segment*, ascending base; never empty */
  GPtrArray *doomed;   /* removed segments with fsyncs in flight */
  int64_t log_start_offset;
  int64_t log_end_offset;
  int64_t recovery_point;
  bool failed;
  /* Bumped whenever a non-active segment is removed, replaced or
   * truncated: a compaction in flight compares it. */
  uint64_t generation;
  uint64_t truncations; /* bumped by every truncation */
  bool dir_needs_fsync;
  /* Directories log_open created (and the existing one above them): their
   * parents must be fsynced for the new names to survive a crash. */
  GPtrArray *parent_dirs_to_fsync; /* char* [owned] */

  GArray *epochs; /* log__epoch_entry, ascending epoch and offset */
  bool epochs_dirty;
  log_checkpoint_t *epoch_ckpt;

  /* flush rounds */
  GArray *flush_waiters; /* log__waiter */
  bool flush_running;
  bool flush_again;
  uint32_t flush_pending;
  int flush_status;
  int64_t flush_target;
  uint64_t flush_truncations;
  uint64_t flush_timer; /* flush.ms */
  uint64_t round_timer; /* finishes a round that had nothing to do */

  /* deferred completions (never call back from inside the call) */
  GArray *ready; /* log__waiter with status */
  uint64_t deliver_timer;

  /* re-entrancy guard: log_free from inside a callback is deferred */
  uint32_t cb_depth;
  bool free_requested;

  /* clean close */
  bool closing;
  bool close_flushed;
  int close_status;
  log_done_cb close_cb;
  void *close_arg;

  /* appended bytes not yet in the file: they belong to the active segment,
   * at [wbuf_pos, wbuf_pos + wbuf.len) == [.., active->size_bytes) */
  buf_t wbuf;
  uint64_t wbuf_pos;

  /* reads */
  buf_t scan_buf;
  bool hint_valid;
  int64_t hint_base;   /* segment of the hint */
  int64_t hint_offset; /* offset_next of the last read */
  uint64_t hint_pos;   /* position right after the last read */

  log__compaction *compaction;
  int64_t cleaner_offset; /* first dirty offset (cleaner-offset-checkpoint) */
};

log__segment *log__active(const log_t *log);
/* Index in log->segments of the segment holding offset (greatest base <=
 * offset), or -1 if offset is below the first base. */
ssize_t log__segment_find(const log_t *log, int64_t offset);
/* Removes segment i from the log (deleting its files). */
int log__remove_segment(log_t *log, size_t i);
/* Releases a doomed segment once its last fsync completed. */
void log__segment_io_done(log__segment *seg);
/* Marks the log failed after an I/O error (logged). */
void log__fail(log_t *log, const char *what, int err);
/* Completion of a callback outside the call that registered it. */
void log__defer(log_t *log, log_done_cb cb, void *arg, int status);
/* Writes the buffered appends to the active segment file (0, or an env
 * error: the log is failed then). release: also free the buffer. */
int log__write_out(log_t *log, bool release);
/* Gives back the disk space reserved past the active segment's end (a roll,
 * a close). Best effort: advice only. */
void log__segment_unreserve(log__segment *seg);
/* Drops the scan buffer if a huge batch made it grow. */
void log__release_scan_buf(log_t *log);
/* Invalidate the read hint (truncation, deletion, compaction). */
void log__hint_reset(log_t *log);
/* After any asynchronous step: finish a pending close if idle. */
void log__maybe_finish_close(log_t *log);

/* recovery.c */
int log__recover(log_t *log, const log_open_opts *opts);

/* compact.c */
void log__compaction_free(log__compaction *c);

#endif
