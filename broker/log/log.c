/*
 * log.c — the partition log: open/close, append, roll, read, lookup by
 * time, flush rounds, truncation and the log start offset.
 *
 * Kafka concepts (UnifiedLog / LocalLog / LogSegment): the LEO is where the
 * next batch goes; a leader append assigns it as the batch's base offset and
 * stamps its leader epoch (fields outside the CRC, so the producer's bytes
 * are stored unchanged otherwise); the active segment rolls on size, age,
 * full index or relative-offset overflow; the recovery point is how far the
 * log is known to be on disk; a follower truncates to a divergence point;
 * DeleteRecords moves the log start offset.
 *
 * Flushing: env fsyncs complete through callbacks, so a flush is a "round":
 * write out pending index entries, fsync every touched file, the directory
 * and the epoch checkpoint, and when every part has answered, move the
 * recovery point to the LEO the round started from. One round runs at a
 * time; requests made meanwhile ride on the next one.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "base/assert.h"
#include "broker/kerr.h"
#include "broker/log/log_internal.h"

#define MS_PER_DAY ((int64_t)24 * 3600 * 1000)

void log_config_default(log_config *c) {
  memset(c, 0, sizeof *c);
  c->segment_bytes = (int64_t)1 << 30;
  c->segment_ms = 7 * MS_PER_DAY;
  c->segment_index_bytes = (int64_t)10 << 20;
  c->index_interval_bytes = 4096;
  c->flush_messages = LOG_NEVER;
  c->flush_ms = LOG_NEVER;
  c->retention_ms = 7 * MS_PER_DAY;
  c->retention_bytes = -1;
  c->cleanup_delete = true;
  c->cleanup_compact = false;
  c->delete_retention_ms = MS_PER_DAY;
  c->log_append_time = false;
  c->cleaner_keys_max = (size_t)1 << 20;
}

static bool config_valid(const log_config *c) {
  return c->segment_bytes >= 14 && c->segment_bytes <= INT32_MAX &&
         c->segment_ms > 0 &&
         c->segment_index_bytes >= LOG__TINDEX_ENTRY_BYTES &&
         c->segment_index_bytes <= INT32_MAX && c->index_interval_bytes >= 0 &&
         c->flush_messages >= 1 && c->flush_ms >= 0 && c->retention_ms >= -1 &&
         c->retention_bytes >= -1 && c->delete_retention_ms >= 0 &&
         c->cleaner_keys_max >= 1;
}

/* ------------------------------------------------------------- lifecycle */

static void log_destroy(log_t *log) {
  if (log->flush_timer)
    env_timer_cancel(log->env, log->flush_timer);
  if (log->deliver_timer)
    env_timer_cancel(log->env, log->deliver_timer);
  if (log->round_timer)
    env_timer_cancel(log->env, log->round_timer);
  log__compaction_free(log->compaction);
  for (guint i = 0; i < log->segments->len; i++)
    log__segment_free(g_ptr_array_index(log->segments, i));
  for (guint i = 0; i < log->doomed->len; i++)
    log__segment_free(g_ptr_array_index(log->doomed, i));
  g_ptr_array_free(log->segments, TRUE);
  g_ptr_array_free(log->doomed, TRUE);
  g_ptr_array_free(log->parent_dirs_to_fsync, TRUE);
  log_checkpoint_free(log->epoch_ckpt);
  g_array_free(log->epochs, TRUE);
  g_array_free(log->flush_waiters, TRUE);
  g_array_free(log->ready, TRUE);
  buf_free(&log->scan_buf);
  buf_free(&log->wbuf);
  g_free(log->dir);
  g_free(log);
}

/* Before env_mkdir: every directory on the path that does not exist yet
 * will be created, and is only durable once its parent is fsynced (Kafka
 * flushes the parent of a new log directory too). */
static void note_created_dirs(log_t *log) {
  char *d = g_strdup(log->dir);
  bool is_dir = false;
  while (env_stat(log->env, d, &is_dir) == -ENOENT) {
    char *parent = g_path_get_dirname(d);
    g_ptr_array_add(log->parent_dirs_to_fsync, g_strdup(parent));
    bool top = strcmp(parent, d) == 0 || strcmp(parent, ".") == 0;
    g_free(d);
    d = parent;
    if (top)
      break;
  }
  g_free(d);
}

int log_open(env_t *env, const char *dir, const log_config *cfg,
             const log_open_opts *opts, log_t **out) {
  SL_ASSERT(env && dir && cfg && out);
  if (!config_valid(cfg) || dir[0] == '\0')
    return -EINVAL;
  log_open_opts zero = {0, 0};
  if (!opts)
    opts = &zero;
  log_t *log = g_new0(log_t, 1);
  log->env = env;
  log->dir = g_strdup(dir);
  size_t dl = strlen(log->dir);
  while (dl > 1 && log->dir[dl - 1] == '/')
    log->dir[--dl] = '\0';
  log->cfg = *cfg;
  log->segments = g_ptr_array_new();
  log->doomed = g_ptr_array_new();
  log->epochs = g_array_new(FALSE, FALSE, sizeof(log__epoch_entry));
  log->flush_waiters = g_array_new(FALSE, FALSE, sizeof(log__waiter));
  log->ready = g_array_new(FALSE, FALSE, sizeof(log__waiter));
  buf_init(&log->scan_buf);
  buf_init(&log->wbuf);
  char *ck_path = g_strdup_printf("%s/%s", log->dir, LOG__EPOCH_CHECKPOINT);
  log->epoch_ckpt = log_checkpoint_new(env, ck_path);
  g_free(ck_path);
  log->parent_dirs_to_fsync = g_ptr_array_new_with_free_func(g_free);
  note_created_dirs(log);
  int rc = env_mkdir(env, log->dir);
  if (rc == 0)
    rc = log__recover(log, opts);
  if (rc < 0) {
    log_destroy(log);
    return rc;
  }
  *out = log;
  return 0;
}

void log_free(log_t *log) {
  if (!log)
    return;
  /* Buffered appends go to the page cache (a dead env drops the write, as
   * a crash would); only fsync is skipped. */
  if (!log->failed && !log->closing)
    (void)log__write_out(log, true);
  if (log->cb_depth > 0) {
    log->free_requested = true;
    return;
  }
  log_destroy(log);
}

bool log_idle(const log_t *log) {
  return !log->flush_running && log->flush_waiters->len == 0 &&
         !log->compaction && log_checkpoint_idle(log->epoch_ckpt) &&
         log->doomed->len == 0 && log->ready->len == 0 &&
         log->deliver_timer == 0;
}

void log__maybe_finish_close(log_t *log) {
  if (!log->closing || !log->close_flushed || log->cb_depth > 0 ||
      !log_idle(log))
    return;
  log_done_cb cb = log->close_cb;
  void *arg = log->close_arg;
  int status = log->close_status;
  log_destroy(log);
  if (cb)
    cb(arg, status);
}

static void on_close_flushed(void *arg, int status) {
  log_t *log = arg;
  log->close_flushed = true;
  log->close_status = status;
}

static void flush_request(log_t *log, int64_t offset_end, bool force,
                          log_done_cb cb, void *arg);

void log_close(log_t *log, log_done_cb cb, void *arg) {
  SL_ASSERT(log && !log->closing);
  log->closing = true;
  log->close_cb = cb;
  log->close_arg = arg;
  log->generation++; /* a compaction in flight gives up at its next step */
  if (!log->failed) {
    /* A failed write-out fails the flush below. */
    if (log__write_out(log, true) == 0)
      log__segment_unreserve(log__active(log));
    log__segment_time_final(log__active(log));
  }
  flush_request(log, log->log_end_offset, true, on_close_flushed, log);
}

/* ----------------------------------------------------------------- state */

int64_t log_start_offset(const log_t *log) { return log->log_start_offset; }
int64_t log_end_offset(const log_t *log) { return log->log_end_offset; }
int64_t log_recovery_point(const log_t *log) { return log->recovery_point; }
int64_t log_cleaner_offset(const log_t *log) {
  return MIN(MAX(log->cleaner_offset, log->log_start_offset),
             log->log_end_offset);
}

void log_set_cleaner_offset(log_t *log, int64_t offset) {
  log->cleaner_offset =
      MIN(MAX(offset, log->log_start_offset), log->log_end_offset);
}
const char *log_dir(const log_t *log) { return log->dir; }
bool log_failed(const log_t *log) { return log->failed; }
size_t log_segment_count(const log_t *log) { return log->segments->len; }

uint64_t log_size_bytes(const log_t *log) {
  uint64_t total = 0;
  for (guint i = 0; i < log->segments->len; i++)
    total += ((log__segment *)g_ptr_array_index(log->segments, i))->size_bytes;
  return total;
}

size_t log_segment_bases(const log_t *log, int64_t *out, size_t n) {
  size_t count = log->segments->len;
  for (size_t i = 0; i < count && i < n; i++)
    out[i] = ((log__segment *)g_ptr_array_index(log->segments, i))->base_offset;
  return count;
}

log__segment *log__active(const log_t *log) {
  SL_ASSERT(log->segments->len > 0);
  return g_ptr_array_index(log->segments, log->segments->len - 1);
}

ssize_t log__segment_find(const log_t *log, int64_t offset) {
  guint lo = 0, hi = log->segments->len; /* [0, lo) have base <= offset */
  while (lo < hi) {
    guint mid = lo + (hi - lo) / 2;
    if (((log__segment *)g_ptr_array_index(log->segments, mid))->base_offset <=
        offset)
      lo = mid + 1;
    else
      hi = mid;
  }
  return (ssize_t)lo - 1;
}

void log__fail(log_t *log, const char *what, int err) {
  if (log->failed)
    return;
  log->failed = true;
  env_log(log->env, ENV_LOG_ERROR, "log %s: %s failed (%s); log is offline",
          log->dir, what, g_strerror(err < 0 ? -err : err));
}

void log__hint_reset(log_t *log) { log->hint_valid = false; }

/* Writes len bytes at pos of the active segment, with the disk advice of
 * LOG__RESERVE_AHEAD_BYTES and LOG__WRITEBACK_STEP_BYTES around it. */
static int segment_write(log_t *log, log__segment *seg, const uint8_t *p,
                         size_t len, uint64_t pos) {
  uint64_t end = pos + len;
  if (end > seg->reserved_to) {
    /* Ahead by half of what the segment holds, so a partition that gets
     * little data reserves little (many partitions share the disk). */
    uint64_t ahead = MIN(LOG__RESERVE_AHEAD_BYTES,
                         MAX(end / 2, (uint64_t)LOG__WRITE_BUFFER_BYTES));
    uint64_t limit = (uint64_t)log->cfg.segment_bytes;
    uint64_t to = MAX(end, MIN(end + ahead, limit));
    /* From the write on: the bytes below it have their blocks (a segment
     * reopened after a restart starts with reserved_to 0). */
    uint64_t from = MAX(seg->reserved_to, pos);
    env_file_advise(seg->file, ENV_ADVICE_RESERVE, from, to - from);
    seg->reserved_to = to;
  }
  int rc = env_file_pwrite(seg->file, p, len, pos);
  if (rc == 0 && end >= seg->writeback_from + LOG__WRITEBACK_STEP_BYTES) {
    env_file_advise(seg->file, ENV_ADVICE_WRITEBACK, seg->writeback_from,
                    end - seg->writeback_from);
    seg->writeback_from = end;
  }
  return rc;
}

void log__segment_unreserve(log__segment *seg) {
  if (seg->reserved_to <= seg->size_bytes)
    return;
  /* A truncate to the same size gives back the blocks past the end. */
  if (env_file_truncate(seg->file, seg->size_bytes) < 0)
    env_log(seg->log->env, ENV_LOG_WARN,
            "log %s: cannot release the space reserved past a segment's end",
            seg->log->dir);
  seg->reserved_to = seg->size_bytes;
}

int log__write_out(log_t *log, bool release) {
  int rc = 0;
  if (log->wbuf.len > 0) {
    log__segment *seg = log__active(log);
    SL_ASSERT(log->wbuf_pos + log->wbuf.len == seg->size_bytes);
    rc = segment_write(log, seg, log->wbuf.data, log->wbuf.len, log->wbuf_pos);
    if (rc < 0) {
      /* Leave no partial batch behind (best effort: the log goes offline,
       * and recovery would cut a partial batch anyway). */
      if (env_file_truncate(seg->file, log->wbuf_pos) < 0)
        env_log(log->env, ENV_LOG_WARN, "log %s: cannot undo a failed append",
                log->dir);
      log__fail(log, "append", rc);
    }
    log->wbuf.len = 0;
  }
  if (release)
    buf_free(&log->wbuf);
  return rc;
}

int log_write_out(log_t *log) {
  SL_ASSERT(log);
  if (log->failed)
    return KERR_KAFKA_STORAGE_ERROR;
  return log__write_out(log, false) < 0 ? KERR_KAFKA_STORAGE_ERROR : KERR_NONE;
}

void log__release_scan_buf(log_t *log) {
  if (log->scan_buf.cap > LOG__SCAN_KEEP_BYTES)
    buf_free(&log->scan_buf);
}

int log__remove_segment(log_t *log, size_t i) {
  log__segment *seg = g_ptr_array_index(log->segments, i);
  g_ptr_array_remove_index(log->segments, (guint)i);
  log__hint_reset(log);
  int rc = log__segment_delete(seg);
  if (rc < 0)
    log__fail(log, "segment delete", rc);
  return rc;
}

/* ------------------------------------------------------ deferred callbacks */

static void on_deliver(void *arg) {
  log_t *log = arg;
  log->deliver_timer = 0;
  GArray *batch = log->ready;
  log->ready = g_array_new(FALSE, FALSE, sizeof(log__waiter));
  log->cb_depth++;
  for (guint i = 0; i < batch->len; i++) {
    log__waiter *w = &g_array_index(batch, log__waiter, i);
    if (w->cb)
      w->cb(w->arg, w->status);
  }
  log->cb_depth--;
  g_array_free(batch, TRUE);
  if (log->free_requested && log->cb_depth == 0) {
    log_destroy(log);
    return;
  }
  log__maybe_finish_close(log);
}

void log__defer(log_t *log, log_done_cb cb, void *arg, int status) {
  log__waiter w = {0, cb, arg, status};
  g_array_append_val(log->ready, w);
  if (!log->deliver_timer)
    log->deliver_timer = env_timer_start(log->env, 0, on_deliver, log);
}

/* ---------------------------------------------------------------- flushing */

static void flush_start(log_t *log);

static void flush_finish(log_t *log) {
  log->flush_running = false;
  GArray *done = g_array_new(FALSE, FALSE, sizeof(log__waiter));
  GArray *keep = g_array_new(FALSE, FALSE, sizeof(log__waiter));
  if (log->flush_status < 0)
    log__fail(log, "flush", log->flush_status);
  else if (log->truncations == log->flush_truncations &&
           log->flush_target > log->recovery_point)
    log->recovery_point = MIN(log->flush_target, log->log_end_offset);
  for (guint i = 0; i < log->flush_waiters->len; i++) {
    log__waiter w = g_array_index(log->flush_waiters, log__waiter, i);
    if (log->failed) {
      w.status = -EIO;
      g_array_append_val(done, w);
    } else if (w.target <= log->recovery_point) {
      w.status = 0;
      g_array_append_val(done, w);
    } else if (w.target > log->log_end_offset) {
      w.status = -ECANCELED;
      g_array_append_val(done, w);
    } else {
      g_array_append_val(keep, w);
    }
  }
  g_array_free(log->flush_waiters, TRUE);
  log->flush_waiters = keep;
  if (!log->failed && (keep->len > 0 || log->flush_again))
    flush_start(log);
  log->cb_depth++;
  for (guint i = 0; i < done->len; i++) {
    log__waiter *w = &g_array_index(done, log__waiter, i);
    if (w->cb)
      w->cb(w->arg, w->status);
  }
  log->cb_depth--;
  g_array_free(done, TRUE);
  if (log->free_requested && log->cb_depth == 0) {
    log_destroy(log);
    return;
  }
  log__maybe_finish_close(log);
}

/* One part of a round answered. The caller must not touch log afterwards. */
static void flush_part_done(log_t *log, int status) {
  if (status < 0 && log->flush_status == 0)
    log->flush_status = status;
  SL_ASSERT(log->flush_pending > 0);
  if (--log->flush_pending == 0)
    flush_finish(log);
}

static void on_seg_fsync(void *arg, int status) {
  log__segment *seg = arg;
  log_t *log = seg->log;
  if (seg->doomed)
    status = 0; /* deleted meanwhile: its durability no longer matters */
  log__segment_io_done(seg);
  flush_part_done(log, status);
}

static void on_dir_fsync(void *arg, int status) {
  flush_part_done(arg, status);
}
static void on_epochs_written(void *arg, int status) {
  flush_part_done(arg, status);
}
static void on_round_timer(void *arg) {
  log_t *log = arg;
  log->round_timer = 0;
  flush_part_done(log, 0);
}

static void fsync_part(log_t *log, log__segment *seg, env_file_t *file,
                       bool *needs) {
  if (!*needs)
    return;
  *needs = false;
  seg->fsyncs_in_flight++;
  log->flush_pending++;
  env_file_fsync(file, on_seg_fsync, seg);
}

static void flush_start(log_t *log) {
  SL_ASSERT(!log->flush_running);
  log->flush_running = true;
  log->flush_again = false;
  log->flush_status = 0;
  log->flush_pending = 1; /* released at the end of this function */
  log->flush_target = log->log_end_offset;
  log->flush_truncations = log->truncations;
  if (!log->failed) {
    int wrc = log__write_out(log, false);
    if (wrc < 0)
      log->flush_status = wrc;
  }
  if (log->flush_timer) {
    env_timer_cancel(log->env, log->flush_timer);
    log->flush_timer = 0;
  }
  for (guint i = 0; i < log->segments->len; i++) {
    log__segment *seg = g_ptr_array_index(log->segments, i);
    int rc = log__index_write_pending(&seg->oindex);
    if (rc == 0)
      rc = log__index_write_pending(&seg->tindex);
    if (rc < 0 && log->flush_status == 0)
      log->flush_status = rc;
    fsync_part(log, seg, seg->file, &seg->log_needs_fsync);
    fsync_part(log, seg, seg->oindex.file, &seg->oindex.needs_fsync);
    fsync_part(log, seg, seg->tindex.file, &seg->tindex.needs_fsync);
  }
  if (log->dir_needs_fsync) {
    log->dir_needs_fsync = false;
    log->flush_pending++;
    env_dir_fsync(log->env, log->dir, on_dir_fsync, log);
  }
  for (guint i = 0; i < log->parent_dirs_to_fsync->len; i++) {
    log->flush_pending++;
    env_dir_fsync(log->env, g_ptr_array_index(log->parent_dirs_to_fsync, i),
                  on_dir_fsync, log);
  }
  g_ptr_array_set_size(log->parent_dirs_to_fsync, 0);
  if (log->epochs_dirty) {
    log->epochs_dirty = false;
    log->flush_pending++;
    log__checkpoint_write_text(log->epoch_ckpt, log__epochs_format(log->epochs),
                               on_epochs_written, log);
  }
  if (log->flush_pending == 1) {
    /* Nothing asynchronous was started: finish on a later turn. */
    log->round_timer = env_timer_start(log->env, 0, on_round_timer, log);
    return;
  }
  flush_part_done(log, 0);
}

static void flush_kick(log_t *log) {
  if (log->flush_running)
    log->flush_again = true;
  else
    flush_start(log);
}

static void flush_request(log_t *log, int64_t offset_end, bool force,
                          log_done_cb cb, void *arg) {
  if (log->failed) {
    log__defer(log, cb, arg, -EIO);
    return;
  }
  int64_t target = MIN(offset_end, log->log_end_offset);
  if (target <= log->recovery_point && !force) {
    log__defer(log, cb, arg, 0);
    return;
  }
  log__waiter w = {target, cb, arg, 0};
  g_array_append_val(log->flush_waiters, w);
  flush_kick(log);
}

void log_flush(log_t *log, int64_t offset_end, log_done_cb cb, void *arg) {
  SL_ASSERT(log && !log->closing);
  flush_request(log, offset_end, false, cb, arg);
}

static void on_flush_timer(void *arg) {
  log_t *log = arg;
  log->flush_timer = 0;
  if (!log->failed)
    flush_kick(log);
}

static void flush_policy(log_t *log) {
  const log_config *c = &log->cfg;
  if (c->flush_messages != LOG_NEVER &&
      log->log_end_offset - log->recovery_point >= c->flush_messages)
    flush_kick(log);
  if (c->flush_ms != LOG_NEVER && !log->flush_timer &&
      log->log_end_offset > log->recovery_point) {
    uint64_t ns = (uint64_t)c->flush_ms > UINT64_MAX / 1000000u
                      ? UINT64_MAX
                      : (uint64_t)c->flush_ms * 1000000u;
    log->flush_timer = env_timer_start(log->env, ns, on_flush_timer, log);
  }
}

/* --------------------------------------------------------------- appending */

static int roll_at(log_t *log, int64_t base) {
  log__segment *old = log__active(log);
  SL_ASSERT(base > old->base_offset);
  int rc = log__write_out(log, false);
  if (rc < 0)
    return KERR_KAFKA_STORAGE_ERROR;
  log__segment_unreserve(old);
  rc = log__segment_deactivate(old);
  if (rc < 0) {
    log__fail(log, "index write on roll", rc);
    return KERR_KAFKA_STORAGE_ERROR;
  }
  log__segment *seg = NULL;
  rc = log__segment_create(log, base, &seg);
  if (rc < 0) {
    log__fail(log, "segment create", rc);
    return KERR_KAFKA_STORAGE_ERROR;
  }
  g_ptr_array_add(log->segments, seg);
  env_trace(log->env, "log.roll", "\"dir\":\"%s\",\"base\":%" PRId64, log->dir,
            base);
  return KERR_NONE;
}

/* An empty active segment whose base does not fit the incoming batch (a
 * follower's gap) is replaced by one at the batch's base offset. */
static int rebase_empty_active(log_t *log, int64_t base) {
  log__segment *seg = NULL;
  int rc = log__remove_segment(log, log->segments->len - 1);
  if (rc == 0)
    rc = log__segment_create(log, base, &seg);
  if (rc < 0) {
    log__fail(log, "segment rebase", rc);
    return KERR_KAFKA_STORAGE_ERROR;
  }
  g_ptr_array_add(log->segments, seg);
  return KERR_NONE;
}

/* Segments are kept contiguous: a new segment starts at the LEO, so the
 * previous one's last batch ends right below it (recovery relies on this to
 * spot a lost tail between two segments). Only a follower's batch too far
 * past the LEO for int32 relative offsets starts a segment at its own base
 * offset, as Kafka always does. */
static int maybe_roll(log_t *log, size_t len, const batch_header *h) {
  log__segment *seg = log__active(log);
  const log_config *c = &log->cfg;
  int64_t last = batch_last_offset(h);
  int64_t roll_base = last - log->log_end_offset <= INT32_MAX
                          ? log->log_end_offset
                          : h->base_offset;
  if (seg->size_bytes == 0) {
    if (last - seg->base_offset > INT32_MAX)
      return rebase_empty_active(log, h->base_offset);
    return KERR_NONE;
  }
  int64_t waited = seg->rolling_base_ts_ms >= 0
                       ? h->max_timestamp - seg->rolling_base_ts_ms
                       : env_wall_ms(log->env) - seg->created_wall_ms;
  uint64_t o_max = (uint64_t)c->segment_index_bytes / LOG__OINDEX_ENTRY_BYTES;
  uint64_t t_max = (uint64_t)c->segment_index_bytes / LOG__TINDEX_ENTRY_BYTES;
  bool roll = (int64_t)seg->size_bytes > c->segment_bytes - (int64_t)len ||
              waited > c->segment_ms || seg->oindex.entries >= o_max ||
              seg->tindex.entries >= t_max ||
              last - seg->base_offset > INT32_MAX;
  return roll ? roll_at(log, roll_base) : KERR_NONE;
}

/* Appends one framed batch whose offsets are final. */
static int append_one(log_t *log, const uint8_t *p, size_t len,
                      const batch_header *h) {
  int rc = maybe_roll(log, len, h);
  if (rc != KERR_NONE)
    return rc;
  log__segment *seg = log__active(log);
  uint64_t pos = seg->size_bytes;
  /* Gathered in the write buffer (written out when full or when the bytes
   * are needed in the file); a batch that would not fit goes out after
   * what is buffered, and a big one directly, with one pwrite at the known
   * end (an append would also have to ask for the size). */
  if (log->wbuf.len > 0 && log->wbuf.len + len > LOG__WRITE_BUFFER_BYTES &&
      log__write_out(log, false) < 0)
    return KERR_KAFKA_STORAGE_ERROR;
  if (len < LOG__WRITE_BUFFER_BYTES) {
    if (log->wbuf.len == 0) {
      log->wbuf_pos = pos;
      if (log->wbuf.cap < LOG__WRITE_BUFFER_BYTES)
        buf_reserve(&log->wbuf, LOG__WRITE_BUFFER_BYTES);
    }
    SL_ASSERT(log->wbuf_pos + log->wbuf.len == pos);
    buf_append(&log->wbuf, p, len);
    rc = 0;
  } else {
    rc = segment_write(log, seg, p, len, pos);
  }
  if (rc < 0) {
    /* Leave no partial batch behind (best effort: the log goes offline,
     * and recovery would cut a partial batch anyway). */
    if (env_file_truncate(seg->file, pos) < 0)
      env_log(log->env, ENV_LOG_WARN, "log %s: cannot undo a failed append",
              log->dir);
    log__fail(log, "append", rc);
    return KERR_KAFKA_STORAGE_ERROR;
  }
  seg->size_bytes += len;
  seg->log_needs_fsync = true;
  log__segment_index_batch(seg, h, pos, len, false,
                           log->cfg.index_interval_bytes);
  log->log_end_offset = batch_last_offset(h) + 1;
  log__epochs_assign(log, h->leader_epoch, h->base_offset);
  if (log->wbuf.len >= LOG__WRITE_BUFFER_BYTES &&
      log__write_out(log, false) < 0)
    return KERR_KAFKA_STORAGE_ERROR;
  return KERR_NONE;
}

/* Framing of one batch at p[0..avail): total bytes or -1. */
static int64_t frame(const uint8_t *p, size_t avail, batch_header *h) {
  if (avail < BATCH_HEADER_BYTES)
    return -1;
  int64_t total = batch_total_bytes(p, avail);
  if (total < BATCH_HEADER_BYTES || (uint64_t)total > avail ||
      batch_header_parse(p, BATCH_HEADER_BYTES, h) != KERR_NONE ||
      h->magic != BATCH_MAGIC_V2 || h->last_offset_delta < 0)
    return -1;
  return total;
}

int log_append(log_t *log, uint8_t *batch, size_t len, int32_t leader_epoch,
               log_append_info *info) {
  SL_ASSERT(log && batch && info && !log->closing);
  SL_ASSERT(leader_epoch >= -1 && leader_epoch >= log_latest_epoch(log));
  if (log->failed)
    return KERR_KAFKA_STORAGE_ERROR;
  batch_header h;
  if (frame(batch, len, &h) != (int64_t)len)
    return KERR_CORRUPT_MESSAGE;
  if ((int64_t)len > log->cfg.segment_bytes)
    return KERR_MESSAGE_TOO_LARGE;
  int64_t base = log->log_end_offset;
  batch_set_base_offset(batch, base);
  batch_set_leader_epoch(batch, leader_epoch);
  h.base_offset = base;
  h.leader_epoch = leader_epoch;
  int64_t append_time = -1;
  if (log->cfg.log_append_time) {
    append_time = env_wall_ms(log->env);
    batch_set_log_append_time(batch, len, append_time);
    (void)batch_header_parse(batch, len, &h);
  }
  int rc = append_one(log, batch, len, &h);
  if (rc != KERR_NONE)
    return rc;
  info->base_offset = base;
  info->last_offset = batch_last_offset(&h);
  info->log_append_time_ms = append_time;
  info->log_start_offset = log->log_start_offset;
  flush_policy(log);
  return KERR_NONE;
}

int log_append_follower(log_t *log, const uint8_t *batches, size_t len,
                        log_append_info *info) {
  SL_ASSERT(log && batches && info && !log->closing);
  if (log->failed)
    return KERR_KAFKA_STORAGE_ERROR;
  if (len == 0)
    return KERR_CORRUPT_MESSAGE;
  /* Check everything before writing anything. */
  int64_t next_min = log->log_end_offset;
  int32_t epoch_min = log_latest_epoch(log);
  batch_header h;
  for (size_t off = 0; off < len;) {
    int64_t total = frame(batches + off, len - off, &h);
    if (total < 0)
      return KERR_CORRUPT_MESSAGE;
    if (total > log->cfg.segment_bytes)
      return KERR_MESSAGE_TOO_LARGE;
    if (h.base_offset < next_min)
      return KERR_OFFSET_OUT_OF_RANGE;
    if (h.leader_epoch < epoch_min)
      return KERR_INVALID_RECORD;
    next_min = batch_last_offset(&h) + 1;
    epoch_min = h.leader_epoch;
    off += (size_t)total;
  }
  info->base_offset = -1;
  for (size_t off = 0; off < len;) {
    int64_t total = frame(batches + off, len - off, &h);
    int rc = append_one(log, batches + off, (size_t)total, &h);
    if (rc != KERR_NONE)
      return rc;
    if (info->base_offset < 0)
      info->base_offset = h.base_offset;
    off += (size_t)total;
  }
  info->last_offset = log->log_end_offset - 1;
  info->log_append_time_ms = -1;
  info->log_start_offset = log->log_start_offset;
  flush_policy(log);
  return KERR_NONE;
}

int log_roll(log_t *log) {
  SL_ASSERT(log);
  if (log->failed)
    return KERR_KAFKA_STORAGE_ERROR;
  if (log__active(log)->size_bytes == 0)
    return KERR_NONE;
  return roll_at(log, log->log_end_offset);
}

/* ----------------------------------------------------------------- reading */

/* A view of [pos, pos+want) of seg's file, cut short at the end of the
 * file the way a pread would be (*got may be < want; the checks below then
 * find the batch incomplete). */
static int segment_view(log__segment *seg, uint64_t pos, uint64_t want,
                        const uint8_t **p, size_t *got) {
  *p = NULL;
  *got = 0;
  int rc = env_file_view(seg->file, pos, (size_t)want, p);
  if (rc == -ERANGE) {
    /* The file is shorter than the segment thinks (damage): view what is
     * there. */
    uint64_t size = 0;
    rc = env_file_size(seg->file, &size);
    if (rc < 0)
      return KERR_KAFKA_STORAGE_ERROR;
    want = size > pos ? MIN(want, size - pos) : 0;
    rc = env_file_view(seg->file, pos, (size_t)want, p);
  }
  if (rc < 0)
    return KERR_KAFKA_STORAGE_ERROR;
  *got = (size_t)want;
  return KERR_NONE;
}

/* The leader epoch a batch ending at `last` must carry, from a one-entry
 * cache of the epoch range [start, end) that held the previous batch: a
 * read of many small batches does one binary search, not one per batch. */
typedef struct epoch_range {
  int64_t start, end;
  int32_t epoch;
} epoch_range;

static int32_t epoch_for(const log_t *log, epoch_range *r, int64_t last) {
  if (last < r->start || last >= r->end)
    log__epochs_range(log, last, &r->epoch, &r->start, &r->end);
  return r->epoch;
}

/* Reads from seg starting at the batch holding `offset`. *stop is true when
 * this segment answered (even with nothing), false to try the next one. On
 * success with batches, (*data, *len) is a view of them (env_file_view). */
static int read_segment(log_t *log, size_t seg_i, int64_t offset,
                        size_t max_bytes, int64_t offset_max, bool check_crc,
                        const uint8_t **data, size_t *len, log_read_info *info,
                        bool *stop) {
  log__segment *seg = g_ptr_array_index(log->segments, seg_i);
  bool active = seg_i + 1 == log->segments->len;
  bool found = false;
  uint64_t pos = 0;
  int64_t prev = seg->base_offset - 1;
  *stop = false;
  if (log->hint_valid && log->hint_base == seg->base_offset &&
      log->hint_offset == offset && log->hint_pos <= seg->size_bytes) {
    pos = log->hint_pos;
    found = pos < seg->size_bytes;
    prev = offset - 1;
  } else {
    batch_header h;
    int rc = log__segment_locate(log, seg, offset, &found, &pos, &h, &prev);
    if (rc != KERR_NONE)
      return rc;
  }
  if (!found)
    return KERR_NONE;
  *stop = true;
  int64_t limit =
      active ? log->log_end_offset - 1
             : ((log__segment *)g_ptr_array_index(log->segments, seg_i + 1))
                       ->base_offset -
                   1;
  /* View max_bytes plus the next batch's first bytes (to check that its
   * base offset follows the last one returned). */
  uint64_t left = seg->size_bytes - pos;
  uint64_t want =
      (uint64_t)MAX(max_bytes, BATCH_HEADER_BYTES) + BATCH_LOG_OVERHEAD;
  if (want > left)
    want = left;
  const uint8_t *p = NULL;
  size_t got = 0;
  int rc = segment_view(seg, pos, want, &p, &got);
  if (rc != KERR_NONE)
    return rc;
  int64_t first = got >= BATCH_LOG_OVERHEAD ? batch_total_bytes(p, got) : -1;
  if (first < BATCH_HEADER_BYTES || (uint64_t)first > left)
    return KERR_CORRUPT_MESSAGE;
  if ((uint64_t)first > got) {
    /* KIP-74: the first batch goes out whole even past max_bytes. */
    rc = segment_view(seg, pos, MIN((uint64_t)first + BATCH_LOG_OVERHEAD, left),
                      &p, &got);
    if (rc != KERR_NONE)
      return rc;
    if ((uint64_t)first > got)
      return KERR_CORRUPT_MESSAGE;
  }
  epoch_range epochs = {.start = 0, .end = -1, .epoch = -1};
  size_t off = 0, kept = 0, count = 0;
  size_t last_start = 0;
  int64_t prev_before_last = prev;
  while (off + BATCH_LOG_OVERHEAD <= got) {
    int64_t total = batch_total_bytes(p + off, got - off);
    if (count > 0 && (total < 0 || (uint64_t)total > got - off ||
                      off + (size_t)total > max_bytes))
      break;
    batch_header h;
    bool ok = total >= BATCH_HEADER_BYTES && (uint64_t)total <= got - off &&
              batch_header_parse(p + off, BATCH_HEADER_BYTES, &h) == KERR_NONE;
    ok = ok &&
         log__batch_check(p + off, (size_t)total, &h, check_crc) == KERR_NONE;
    int64_t last = ok ? batch_last_offset(&h) : 0;
    ok = ok && h.base_offset > prev && h.base_offset >= seg->base_offset &&
         last <= limit && epoch_for(log, &epochs, last) == h.leader_epoch;
    if (!ok) {
      if (count == 0)
        return KERR_CORRUPT_MESSAGE;
      break;
    }
    if (last >= offset_max)
      break;
    prev_before_last = prev;
    last_start = off;
    prev = last;
    off += (size_t)total;
    kept = off;
    count++;
  }
  if (count > 0) {
    /* The successor (or the end of the data) must agree with the last
     * batch's offsets; a rotted base offset shows up here. */
    bool mismatch = false;
    if (kept + 8 <= got)
      mismatch = (int64_t)be64_load(p + kept) <= prev;
    else if (pos + kept == seg->size_bytes && active)
      mismatch = prev != log->log_end_offset - 1;
    if (mismatch) {
      if (count == 1)
        return KERR_CORRUPT_MESSAGE;
      count--;
      kept = last_start;
      prev = prev_before_last;
    }
  }
  if (count == 0)
    return KERR_NONE; /* the first batch is past offset_max */
  *data = p;
  *len = kept;
  info->offset_next = prev + 1;
  info->batch_count = count;
  info->file = seg->file;
  info->file_position = pos;
  log->hint_valid = true;
  log->hint_base = seg->base_offset;
  log->hint_offset = prev + 1;
  log->hint_pos = pos + kept;
  return KERR_NONE;
}

int log_read_view(log_t *log, int64_t offset, size_t max_bytes,
                  int64_t offset_max, const uint8_t **data, size_t *len,
                  log_read_info *info) {
  return log_read_view_flags(log, offset, max_bytes, offset_max, 0, data, len,
                             info);
}

int log_read_view_flags(log_t *log, int64_t offset, size_t max_bytes,
                        int64_t offset_max, unsigned flags,
                        const uint8_t **data, size_t *len,
                        log_read_info *info) {
  SL_ASSERT(log && data && len && info);
  SL_ASSERT((flags & ~LOG_READ_NO_CRC) == 0);
  *data = NULL;
  *len = 0;
  info->log_start_offset = log->log_start_offset;
  info->log_end_offset = log->log_end_offset;
  info->offset_next = offset;
  info->batch_count = 0;
  info->file = NULL;
  info->file_position = 0;
  if (log->failed)
    return KERR_KAFKA_STORAGE_ERROR;
  if (offset < log->log_start_offset || offset > log->log_end_offset)
    return KERR_OFFSET_OUT_OF_RANGE;
  if (offset == log->log_end_offset)
    return KERR_NONE;
  if (log__write_out(log, false) < 0)
    return KERR_KAFKA_STORAGE_ERROR;
  ssize_t i = log__segment_find(log, offset);
  SL_ASSERT(i >= 0);
  for (; (guint)i < log->segments->len; i++) {
    bool stop = false;
    int rc = read_segment(log, (size_t)i, offset, max_bytes, offset_max,
                          !(flags & LOG_READ_NO_CRC), data, len, info, &stop);
    if (rc != KERR_NONE) {
      *data = NULL;
      *len = 0;
      info->batch_count = 0;
      info->offset_next = offset;
      info->file = NULL;
      info->file_position = 0;
      if (rc == KERR_CORRUPT_MESSAGE)
        env_log(log->env, ENV_LOG_ERROR,
                "log %s: corrupt batch at offset %" PRId64, log->dir, offset);
      return rc;
    }
    if (stop)
      return KERR_NONE;
  }
  info->offset_next = log->log_end_offset;
  return KERR_NONE;
}

int log_read(log_t *log, int64_t offset, size_t max_bytes, int64_t offset_max,
             buf_t *out, log_read_info *info) {
  SL_ASSERT(log && out && info);
  const uint8_t *data = NULL;
  size_t len = 0;
  int rc = log_read_view(log, offset, max_bytes, offset_max, &data, &len, info);
  if (rc == KERR_NONE && len > 0)
    buf_append(out, data, len);
  return rc;
}

/* ---------------------------------------------------------- find by time */

static int time_scan_segment(log_t *log, log__segment *seg, int64_t ts,
                             batch_iter **it, int64_t *offset,
                             int64_t *found_ts) {
  int64_t start = MAX(seg->base_offset, log->log_start_offset);
  int64_t at = -1, t_entry = -1;
  int32_t rel = 0;
  if (log__tindex_search_before(&seg->tindex, ts, &at, &t_entry, &rel) < 0)
    return KERR_KAFKA_STORAGE_ERROR;
  if (at >= 0)
    start = MAX(start, seg->base_offset + rel + 1);
  bool found = false;
  uint64_t pos = 0;
  int64_t prev = 0;
  batch_header h0;
  int rc = log__segment_locate(log, seg, start, &found, &pos, &h0, &prev);
  if (rc != KERR_NONE || !found)
    return rc;
  log__walker w;
  log__walker_init(&w, seg->file, seg->size_bytes, pos, &log->scan_buf);
  log__walked b;
  for (;;) {
    int r = log__walker_next(&w, &b);
    if (r < 0)
      return KERR_KAFKA_STORAGE_ERROR;
    if (r == LOG__WALK_END)
      return KERR_NONE;
    if (r == LOG__WALK_BAD ||
        log__batch_check(b.p, b.len, &b.h, true) != KERR_NONE)
      return KERR_CORRUPT_MESSAGE;
    if (b.h.max_timestamp < ts || batch_last_offset(&b.h) < start)
      continue;
    int err = KERR_NONE;
    if (!*it)
      *it = batch_iter_new(b.p, b.len, &err);
    else
      err = batch_iter_reset(*it, b.p, b.len);
    if (err != KERR_NONE)
      return KERR_CORRUPT_MESSAGE;
    batch_record rec;
    int n;
    while ((n = batch_iter_next(*it, &rec)) == 1) {
      if (rec.offset >= log->log_start_offset && rec.timestamp >= ts) {
        *offset = rec.offset;
        *found_ts = rec.timestamp;
        return KERR_NONE;
      }
    }
    if (n < 0)
      return KERR_CORRUPT_MESSAGE;
  }
}

int log_offset_for_timestamp(log_t *log, int64_t timestamp_ms, int64_t *offset,
                             int64_t *found_ts) {
  SL_ASSERT(log && offset && found_ts);
  *offset = -1;
  *found_ts = -1;
  if (log->failed || log__write_out(log, false) < 0)
    return KERR_KAFKA_STORAGE_ERROR;
  batch_iter *it = NULL;
  int rc = KERR_NONE;
  for (guint i = 0; i < log->segments->len && *offset < 0; i++) {
    log__segment *seg = g_ptr_array_index(log->segments, i);
    if (seg->max_ts_ms < timestamp_ms || seg->size_bytes == 0)
      continue;
    if (i + 1 < log->segments->len &&
        ((log__segment *)g_ptr_array_index(log->segments, i + 1))
                ->base_offset <= log->log_start_offset)
      continue;
    rc = time_scan_segment(log, seg, timestamp_ms, &it, offset, found_ts);
    if (rc != KERR_NONE)
      break;
  }
  batch_iter_free(it);
  if (rc == KERR_NONE)
    log__release_scan_buf(log);
  return rc;
}

/* -------------------------------------------------------------- truncation */

int log_truncate_fully(log_t *log, int64_t new_start) {
  SL_ASSERT(log && new_start >= 0);
  if (log->failed || log__write_out(log, true) < 0)
    return KERR_KAFKA_STORAGE_ERROR;
  log->generation++;
  log->truncations++;
  while (log->segments->len > 0)
    if (log__remove_segment(log, log->segments->len - 1) < 0)
      return KERR_KAFKA_STORAGE_ERROR;
  log__segment *seg = NULL;
  int rc = log__segment_create(log, new_start, &seg);
  if (rc < 0) {
    log__fail(log, "segment create", rc);
    return KERR_KAFKA_STORAGE_ERROR;
  }
  g_ptr_array_add(log->segments, seg);
  log->log_end_offset = new_start;
  log->log_start_offset = new_start;
  log->recovery_point = MIN(log->recovery_point, new_start);
  log->cleaner_offset = new_start;
  log__epochs_clear(log);
  env_trace(log->env, "log.truncate_fully", "\"dir\":\"%s\",\"start\":%" PRId64,
            log->dir, new_start);
  return KERR_NONE;
}

int log_truncate_to(log_t *log, int64_t offset) {
  SL_ASSERT(log);
  if (log->failed)
    return KERR_KAFKA_STORAGE_ERROR;
  if (offset >= log->log_end_offset)
    return KERR_NONE;
  if (log__write_out(log, true) < 0)
    return KERR_KAFKA_STORAGE_ERROR;
  if (offset < log->log_start_offset)
    return log_truncate_fully(log, offset);
  ssize_t keep = log__segment_find(log, offset - 1);
  if (keep < 0)
    return log_truncate_fully(log, offset);
  log->truncations++;
  log->generation++;
  log__hint_reset(log);
  while (log->segments->len > (guint)keep + 1)
    if (log__remove_segment(log, log->segments->len - 1) < 0)
      return KERR_KAFKA_STORAGE_ERROR;
  log__segment *seg = log__active(log);
  bool found = false;
  uint64_t pos = 0;
  int64_t prev = 0;
  batch_header h;
  int rc = log__segment_locate(log, seg, offset, &found, &pos, &h, &prev);
  if (rc != KERR_NONE) {
    log__fail(log, "truncate (locate)", -EIO);
    return KERR_KAFKA_STORAGE_ERROR;
  }
  rc = log__segment_truncate(seg, found ? pos : seg->size_bytes);
  if (rc < 0) {
    log__fail(log, "truncate", rc);
    return KERR_KAFKA_STORAGE_ERROR;
  }
  if (seg->offset_next < log->log_start_offset) {
    /* The batch holding the log start offset went: nothing readable is
     * left, and the start offset never moves back. */
    return log_truncate_fully(log, log->log_start_offset);
  }
  log->log_end_offset = seg->offset_next;
  log->recovery_point = MIN(log->recovery_point, log->log_end_offset);
  log->cleaner_offset = MIN(log->cleaner_offset, log->log_end_offset);
  log__epochs_truncate_end(log, log->log_end_offset);
  env_trace(log->env, "log.truncate", "\"dir\":\"%s\",\"leo\":%" PRId64,
            log->dir, log->log_end_offset);
  return KERR_NONE;
}

int log_advance_start_offset(log_t *log, int64_t offset) {
  SL_ASSERT(log);
  if (log->failed)
    return KERR_KAFKA_STORAGE_ERROR;
  if (offset > log->log_end_offset)
    return KERR_OFFSET_OUT_OF_RANGE;
  if (offset <= log->log_start_offset)
    return KERR_NONE;
  if (log__write_out(log, false) < 0)
    return KERR_KAFKA_STORAGE_ERROR;
  log->log_start_offset = offset;
  log__epochs_truncate_start(log, offset);
  while (log->segments->len > 1 &&
         ((log__segment *)g_ptr_array_index(log->segments, 1))->base_offset <=
             offset) {
    log->generation++;
    if (log__remove_segment(log, 0) < 0)
      return KERR_KAFKA_STORAGE_ERROR;
  }
  return KERR_NONE;
}
