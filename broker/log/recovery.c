/*
 * recovery.c — bringing a partition directory back after a crash, and the
 * read-only verifier behind `sluice-log verify`.
 *
 * Kafka's LogLoader: leftovers of interrupted operations go first
 * (`.cleaned` and `.deleted` files are removed, a complete `.swap` replaces
 * its segment), orphan index files are removed, then segments load in
 * offset order. A segment wholly below the recovery point is trusted: only
 * its index files are sanity-checked (size, last entry pointing at a batch
 * with the right last offset) and its tail walked from the last index
 * entry (the batches there must end the file at the successor's base);
 * failing either, it is rescanned like the segments after it. From the segment
 * holding the recovery point on, every batch is checked — framing, magic,
 * CRC, offsets increasing and inside the segment — starting at the offset
 * index entry at or below the recovery point (so nothing below it is
 * rescanned). The first bad batch ends the log: the file is truncated there
 * and later segments are deleted — unless the batches before it reach the
 * next segment's base, when only the bytes after them go. Indexes and the leader epoch cache are
 * rebuilt from the scanned batches; the epoch cache is cut back to the new
 * log end.
 *
 * Every batch scanned is also written back where it was read, same bytes
 * (Kafka does not do this). The scan reads the page cache, and after a
 * failed fsync Linux leaves the pages it could not write there, clean,
 * readable and never to reach the disk; the error went to the process
 * that saw the fsync fail (which then took the log offline), and an fsync
 * from the next process succeeds without those pages. Writing them again
 * makes them dirty, so the next flush makes them durable before the
 * recovery point passes them. The cost is one write of what lies past the
 * recovery point, at each start.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "broker/kerr.h"
#include "broker/log/log_internal.h"

/* A leader-epoch-checkpoint larger than this is not one of ours. */
#define EPOCH_CHECKPOINT_BYTES_MAX ((size_t)16 << 20)

static bool parse_base(const char *name, const char *suffix, int64_t *base) {
  size_t n = strlen(name), sl = strlen(suffix);
  if (n != LOG__NAME_DIGITS + sl || strcmp(name + LOG__NAME_DIGITS, suffix))
    return false;
  uint64_t v = 0;
  for (size_t i = 0; i < LOG__NAME_DIGITS; i++) {
    if (name[i] < '0' || name[i] > '9')
      return false;
    v = v * 10 + (uint64_t)(name[i] - '0');
    if (v > (uint64_t)INT64_MAX)
      return false;
  }
  *base = (int64_t)v;
  return true;
}

/* A name ending in suffix but not with a 20-digit stem. */
static bool bad_segment_name(const char *name, const char *suffix) {
  int64_t b;
  return g_str_has_suffix(name, suffix) && !parse_base(name, suffix, &b);
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static char *join(const log_t *log, const char *name) {
  return g_strdup_printf("%s/%s", log->dir, name);
}

static int unlink_name(log_t *log, const char *name) {
  char *p = join(log, name);
  int rc = env_unlink(log->env, p);
  g_free(p);
  log->dir_needs_fsync = true;
  return rc == -ENOENT ? 0 : rc;
}

/* Finishes or discards what an interrupted compaction or checkpoint write
 * left behind. */
static int cleanup_leftovers(log_t *log, char **names) {
  for (size_t i = 0; names[i]; i++) {
    const char *n = names[i];
    int rc = 0;
    int64_t base;
    if (g_str_has_suffix(n, ".cleaned") || g_str_has_suffix(n, ".deleted") ||
        g_str_has_suffix(n, ".tmp")) {
      rc = unlink_name(log, n);
    } else if (parse_base(n, ".log.swap", &base)) {
      /* A .swap is complete (it was fsynced before being renamed). It
       * replaces the segment of the same base, whose indexes are rebuilt;
       * without that segment it belongs to nothing (the segment was
       * deleted meanwhile) and goes. */
      char *seg_log = log__segment_path(log, base, ".log");
      char *swap = join(log, n);
      bool is_dir = false;
      if (env_stat(log->env, seg_log, &is_dir) == 0) {
        rc = env_rename(log->env, swap, seg_log);
        char *name_idx = g_strdup_printf("%020" PRId64 ".index", base);
        char *name_tix = g_strdup_printf("%020" PRId64 ".timeindex", base);
        if (rc == 0)
          rc = unlink_name(log, name_idx);
        if (rc == 0)
          rc = unlink_name(log, name_tix);
        g_free(name_idx);
        g_free(name_tix);
        env_log(log->env, ENV_LOG_INFO, "log %s: completed swap of %s",
                log->dir, n);
      } else {
        rc = unlink_name(log, n);
      }
      log->dir_needs_fsync = true;
      g_free(seg_log);
      g_free(swap);
    } else if (parse_base(n, ".index.swap", &base) ||
               parse_base(n, ".timeindex.swap", &base)) {
      /* An interrupted install: the segment's index files may be old or
       * new; rebuild them from its .log. */
      char *name_idx = g_strdup_printf("%020" PRId64 ".index", base);
      char *name_tix = g_strdup_printf("%020" PRId64 ".timeindex", base);
      rc = unlink_name(log, n);
      if (rc == 0)
        rc = unlink_name(log, name_idx);
      if (rc == 0)
        rc = unlink_name(log, name_tix);
      g_free(name_idx);
      g_free(name_tix);
    } else if (g_str_has_suffix(n, ".swap")) {
      rc = unlink_name(log, n);
    }
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* Is the segment's index trustworthy without a scan? limit is the largest
 * offset the segment may hold. */
static bool index_check(log_t *log, log__segment *seg, int64_t limit,
                        bool need_time) {
  uint8_t e[LOG__TINDEX_ENTRY_BYTES];
  if (seg->size_bytes == 0)
    return seg->oindex.entries == 0 && seg->tindex.entries == 0;
  /* Loaded indexes (segments being rescanned) are checked entry by entry:
   * a crash can keep a later unflushed entry and lose an earlier one,
   * leaving zeros inside the file. */
  if (seg->oindex.in_memory) {
    int64_t prev_rel = -1, prev_pos = 0; /* no entry ever points at 0 */
    for (uint32_t i = 0; i < seg->oindex.entries; i++) {
      int32_t rel, pos;
      if (log__index_entry(&seg->oindex, i, e) < 0)
        return false;
      log__oindex_decode(e, &rel, &pos);
      if (rel <= prev_rel || pos <= prev_pos)
        return false;
      prev_rel = rel;
      prev_pos = pos;
    }
  }
  if (seg->tindex.in_memory) {
    int64_t prev_ts = INT64_MIN, prev_rel = -1;
    for (uint32_t i = 0; i < seg->tindex.entries; i++) {
      int64_t ts;
      int32_t rel;
      if (log__index_entry(&seg->tindex, i, e) < 0)
        return false;
      log__tindex_decode(e, &ts, &rel);
      if (ts <= prev_ts || rel < prev_rel)
        return false;
      prev_ts = ts;
      prev_rel = rel;
    }
  }
  if (seg->oindex.entries > 0) {
    if (log__index_entry(&seg->oindex, seg->oindex.entries - 1, e) < 0)
      return false;
    int32_t rel, pos;
    log__oindex_decode(e, &rel, &pos);
    if (rel < 0 || pos < 0 || (uint64_t)pos >= seg->size_bytes ||
        seg->base_offset + rel > limit)
      return false;
    uint8_t hb[BATCH_HEADER_BYTES];
    size_t got = 0;
    batch_header h;
    if (env_file_pread(seg->file, hb, sizeof hb, (uint64_t)pos, &got) < 0 ||
        got != sizeof hb || batch_header_parse(hb, sizeof hb, &h) != 0 ||
        h.magic != BATCH_MAGIC_V2 ||
        batch_last_offset(&h) != seg->base_offset + rel)
      return false;
  }
  if (seg->tindex.entries > 0) {
    bool has;
    int64_t ts;
    int32_t rel;
    if (log__tindex_last(&seg->tindex, &has, &ts, &rel) < 0 || rel < 0 ||
        seg->base_offset + rel > limit)
      return false;
  } else if (need_time) {
    return false; /* a rolled segment always ends with its max timestamp */
  }
  return true;
}

/* Does a segment trusted below the recovery point end where its batches
 * do? A truncation that cut garbage off its tail may have been lost with
 * an fsync that failed (the process that made it went offline), leaving
 * the garbage back after a crash. Walks (CRC-checked) from the last offset
 * index entry to the end of the file: every batch must be whole and valid
 * and the last one end the file at offset limit (unless the successor's
 * base is too far for relative offsets: a follower's gap). */
static bool tail_check(log_t *log, log__segment *seg, int64_t limit) {
  uint64_t from = 0;
  if (seg->oindex.entries > 0) {
    uint8_t e[LOG__OINDEX_ENTRY_BYTES];
    int32_t rel, pos;
    if (log__index_entry(&seg->oindex, seg->oindex.entries - 1, e) < 0)
      return false;
    log__oindex_decode(e, &rel, &pos);
    from = (uint64_t)pos; /* index_check: inside the file */
  }
  log__walker w;
  log__walker_init(&w, seg->file, seg->size_bytes, from, &log->scan_buf);
  log__walked b;
  int64_t last = -1;
  bool ok = true;
  for (;;) {
    int r = log__walker_next(&w, &b);
    if (r == LOG__WALK_END)
      break;
    if (r != LOG__WALK_BATCH ||
        log__batch_check(b.p, b.len, &b.h, true) != KERR_NONE ||
        b.h.base_offset <= last) {
      ok = false;
      break;
    }
    last = batch_last_offset(&b.h);
  }
  log__release_scan_buf(log);
  return ok && (last == limit || limit + 1 - seg->base_offset > INT32_MAX);
}

typedef struct recover_ctx {
  int64_t recovery_point;
} recover_ctx;

/* Reconciles a rescanned batch's leader epoch (a header field the CRC
 * does not cover) with the epoch cache loaded from leader-epoch-checkpoint,
 * which was durable together with everything below the recovery point:
 *  - the epoch the cache gives for the batch: consistent;
 *  - a newer one, above the recovery point: a new epoch starts here;
 *    cached entries from here on are stale (written by a flush whose data
 *    did not survive) and go;
 *  - an older one: the batch cannot follow what the log already holds
 *    (rot, or data a lost truncation brought back): the log ends before it.
 */
static bool epoch_reconcile(log_t *log, const recover_ctx *ctx,
                            const batch_header *h) {
  int64_t last = batch_last_offset(h);
  int32_t cached = log__epochs_for_offset(log, last);
  if (h->leader_epoch == cached)
    return true;
  /* Not covered by the cache: below the log start offset, where
   * DeleteRecords collapsed the cache (or emptied it, with the start at
   * the end of the log). Nothing to compare with. */
  if (log->epochs->len == 0) {
    log__epochs_assign(log, h->leader_epoch, h->base_offset);
    return true;
  }
  if (last < g_array_index(log->epochs, log__epoch_entry, 0).start_offset)
    return true;
  /* Below the recovery point the cache was durable with the batch. */
  if (h->leader_epoch < cached || last < ctx->recovery_point)
    return false;
  log__epochs_truncate_end(log, h->base_offset);
  log__epochs_assign(log, h->leader_epoch, h->base_offset);
  return true;
}

/* Scans seg (see the top of the file). Leaves its indexes in memory. */
static int recover_segment(log_t *log, recover_ctx *ctx, log__segment *seg,
                           bool sane, int64_t limit, bool *truncated) {
  *truncated = false;
  int rc = log__index_load(&seg->oindex);
  if (rc == 0)
    rc = log__index_load(&seg->tindex);
  if (rc < 0)
    return rc;
  uint64_t from = 0;
  bool first_indexed = false;
  int64_t expect_last = -1;
  seg->bytes_since_index = 0;
  seg->offset_next = seg->base_offset;
  seg->max_ts_ms = -1;
  seg->offset_of_max_ts = -1;
  seg->rolling_base_ts_ms = -1;
  if (sane && ctx->recovery_point > seg->base_offset &&
      index_check(log, seg, limit, false)) {
    int64_t rel64 = ctx->recovery_point - seg->base_offset;
    int32_t rel = rel64 > INT32_MAX ? INT32_MAX : (int32_t)rel64;
    int64_t at = -1;
    int32_t key = 0, ipos = 0;
    rc = log__oindex_search(&seg->oindex, rel, &at, &key, &ipos);
    if (rc < 0)
      return rc;
    if (at >= 0) {
      from = (uint64_t)ipos;
      first_indexed = true;
      expect_last = seg->base_offset + key;
      uint32_t tkeep = 0;
      rc = log__index_truncate(&seg->oindex, (uint32_t)at + 1);
      if (rc == 0)
        rc = log__tindex_count_upto_rel(&seg->tindex, key, &tkeep);
      if (rc == 0)
        rc = log__index_truncate(&seg->tindex, tkeep);
      bool has = false;
      int64_t ts = -1;
      int32_t trel = 0;
      if (rc == 0)
        rc = log__tindex_last(&seg->tindex, &has, &ts, &trel);
      if (rc < 0)
        return rc;
      if (has) {
        seg->max_ts_ms = ts;
        seg->offset_of_max_ts = seg->base_offset + trel;
      }
      uint8_t hb[BATCH_HEADER_BYTES];
      size_t got = 0;
      batch_header h;
      rc = env_file_pread(seg->file, hb, sizeof hb, 0, &got);
      if (rc < 0)
        return rc;
      if (got == sizeof hb && batch_header_parse(hb, got, &h) == 0)
        seg->rolling_base_ts_ms = h.max_timestamp;
    }
  }
  if (from == 0) {
    rc = log__index_truncate(&seg->oindex, 0);
    if (rc == 0)
      rc = log__index_truncate(&seg->tindex, 0);
    if (rc < 0)
      return rc;
  }
  log__walker w;
  log__walker_init(&w, seg->file, seg->size_bytes, from, &log->scan_buf);
  log__walked b;
  int64_t prev = seg->base_offset - 1;
  uint64_t bad_pos = 0;
  /* The accepted batches not yet written back (see the top of this file):
   * a run of them in the scan buffer, written in one call before the
   * walker reads on. */
  const uint8_t *rw_p = NULL;
  uint64_t rw_pos = 0;
  size_t rw_len = 0;
  for (;;) {
    if (rw_len > 0 && log__walker_will_refill(&w)) {
      rc = env_file_pwrite(seg->file, rw_p, rw_len, rw_pos);
      if (rc < 0)
        return rc;
      rw_len = 0;
    }
    int r = log__walker_next(&w, &b);
    if (r < 0)
      return r;
    if (r == LOG__WALK_END)
      break;
    bool ok = r == LOG__WALK_BATCH &&
              log__batch_check(b.p, b.len, &b.h, true) == KERR_NONE;
    int64_t last = ok ? batch_last_offset(&b.h) : 0;
    ok = ok && b.h.base_offset > prev && b.h.base_offset >= seg->base_offset &&
         last - seg->base_offset <= INT32_MAX && last <= limit &&
         (expect_last < 0 || last == expect_last) &&
         epoch_reconcile(log, ctx, &b.h);
    if (!ok) {
      bad_pos = r == LOG__WALK_BAD ? w.pos : b.pos;
      *truncated = true;
      break;
    }
    expect_last = -1;
    if (rw_len == 0) {
      rw_p = b.p;
      rw_pos = b.pos;
    }
    rw_len += b.len;
    log__segment_index_batch(seg, &b.h, b.pos, b.len, first_indexed,
                             log->cfg.index_interval_bytes);
    first_indexed = false;
    prev = last;
  }
  if (rw_len > 0) {
    rc = env_file_pwrite(seg->file, rw_p, rw_len, rw_pos);
    if (rc < 0)
      return rc;
  }
  if (*truncated) {
    env_log(log->env, ENV_LOG_WARN,
            "log %s: segment %020" PRId64 ": invalid batch at position %" PRIu64
            " of %" PRIu64 "; truncating",
            log->dir, seg->base_offset, bad_pos, seg->size_bytes);
    env_trace(log->env, "log.recover_truncate",
              "\"dir\":\"%s\",\"segment\":%" PRId64 ",\"pos\":%" PRIu64,
              log->dir, seg->base_offset, bad_pos);
    rc = log__segment_truncate(seg, bad_pos);
    if (rc < 0)
      return rc;
  }
  log__release_scan_buf(log);
  return 0;
}

static int load_epochs(log_t *log, bool *missing) {
  char *path = join(log, LOG__EPOCH_CHECKPOINT);
  char *text = NULL;
  size_t len = 0;
  int rc = log__read_small_file(log->env, path, EPOCH_CHECKPOINT_BYTES_MAX,
                                &text, &len);
  g_free(path);
  *missing = true;
  if (rc == -ENOENT || rc == -EFBIG)
    return 0;
  if (rc < 0)
    return rc;
  if (log__epochs_parse(text, len, log->epochs)) {
    *missing = false;
  } else {
    g_array_set_size(log->epochs, 0);
    env_log(log->env, ENV_LOG_WARN, "log %s: malformed %s; rebuilding",
            log->dir, LOG__EPOCH_CHECKPOINT);
  }
  g_free(text);
  return 0;
}

/* Lists the segment bases (sorted) and removes orphan index files. */
static int list_segments(log_t *log, GArray *bases) {
  char **names = NULL;
  int rc = env_list_dir(log->env, log->dir, &names);
  if (rc < 0)
    return rc;
  GHashTable *logs = g_hash_table_new(g_int64_hash, g_int64_equal);
  for (size_t i = 0; names[i]; i++) {
    int64_t base;
    if (bad_segment_name(names[i], ".log") ||
        bad_segment_name(names[i], ".index") ||
        bad_segment_name(names[i], ".timeindex")) {
      env_log(log->env, ENV_LOG_ERROR, "log %s: unexpected file %s", log->dir,
              names[i]);
      rc = -EINVAL;
      goto out_free;
    }
    if (parse_base(names[i], ".log", &base))
      g_array_append_val(bases, base);
  }
  g_array_sort(bases, cmp_i64);
  for (guint i = 0; i < bases->len; i++)
    g_hash_table_add(logs, &g_array_index(bases, int64_t, i));
  for (size_t i = 0; names[i]; i++) {
    int64_t base;
    if ((parse_base(names[i], ".index", &base) ||
         parse_base(names[i], ".timeindex", &base)) &&
        !g_hash_table_contains(logs, &base)) {
      rc = unlink_name(log, names[i]);
      if (rc < 0)
        goto out_free;
    }
  }
out_free:
  g_hash_table_destroy(logs);
  env_names_free(names);
  return rc;
}

int log__recover(log_t *log, const log_open_opts *opts) {
  recover_ctx ctx = {MAX(opts->recovery_point, 0)};
  char **names = NULL;
  int rc = env_list_dir(log->env, log->dir, &names);
  if (rc < 0)
    return rc;
  rc = cleanup_leftovers(log, names);
  env_names_free(names);
  if (rc < 0)
    return rc;
  GArray *bases = g_array_new(FALSE, FALSE, sizeof(int64_t));
  GArray *sane = g_array_new(FALSE, FALSE, sizeof(gboolean));
  rc = list_segments(log, bases);
  if (rc < 0)
    goto out_free;
  bool epochs_missing = false;
  rc = load_epochs(log, &epochs_missing);
  if (rc < 0)
    goto out_free;

  if (epochs_missing) {
    log->epochs_dirty = true;
    if (ctx.recovery_point > 0 && bases->len > 0) {
      env_log(log->env, ENV_LOG_WARN,
              "log %s: no usable %s: rescanning every segment", log->dir,
              LOG__EPOCH_CHECKPOINT);
      ctx.recovery_point = 0;
    }
  }
  if (bases->len == 0) {
    int64_t start = MAX(opts->log_start_offset, 0);
    log__segment *seg = NULL;
    rc = log__segment_create(log, start, &seg);
    if (rc < 0)
      goto out_free;
    g_ptr_array_add(log->segments, seg);
    log->log_start_offset = log->log_end_offset = log->recovery_point = start;
    log->cleaner_offset = start;
    log__epochs_clear(log);
    log->epochs_dirty = true;
    goto out_free;
  }
  for (guint i = 0; i < bases->len; i++) {
    log__segment *seg = NULL;
    bool ok = false;
    rc = log__segment_open(log, g_array_index(bases, int64_t, i), &seg, &ok);
    if (rc < 0)
      goto out_free;
    g_ptr_array_add(log->segments, seg);
    gboolean g = ok;
    g_array_append_val(sane, g);
  }
  for (guint i = 0; i < log->segments->len; i++) {
    log__segment *seg = g_ptr_array_index(log->segments, i);
    bool last = i + 1 == log->segments->len;
    int64_t limit =
        last ? INT64_MAX - 1
             : ((log__segment *)g_ptr_array_index(log->segments, i + 1))
                       ->base_offset -
                   1;
    bool ok = g_array_index(sane, gboolean, i);
    if (!last && limit < ctx.recovery_point && ok &&
        index_check(log, seg, limit, true) && tail_check(log, seg, limit)) {
      bool has = false;
      int64_t ts = -1;
      int32_t rel = 0;
      rc = log__tindex_last(&seg->tindex, &has, &ts, &rel);
      if (rc < 0)
        goto out_free;
      seg->max_ts_ms = ts;
      seg->offset_of_max_ts = seg->base_offset + rel;
      seg->offset_next = limit + 1;
      continue;
    }
    bool truncated = false;
    rc = recover_segment(log, &ctx, seg, ok, limit, &truncated);
    if (rc < 0)
      goto out_free;
    /* What lies at or above the recovery point was read back from the
     * page cache, which after a process exit (no power loss) still holds
     * writes of the previous run that no fsync covered. The next flush
     * round must fsync them, and the directory their names are in, before
     * the recovery point may move past them; and a truncation, wherever
     * it cut. */
    if (seg->size_bytes > 0 &&
        (seg->offset_next > ctx.recovery_point || truncated)) {
      seg->log_needs_fsync = true;
      log->dir_needs_fsync = true;
    }
    /* Segments are contiguous (log.c rolls at the LEO; compaction keeps
     * each segment's last offset): a rescanned segment that ends short of
     * its successor lost a tail that the successor outlived in the crash,
     * and nothing after the hole can be kept. One that reaches its
     * successor lost nothing, whatever a truncation cut after its last
     * batch (no valid batch can follow it there: garbage that a lost
     * truncation left, see tail_check). (A follower's gap too large for
     * relative offsets is the one legitimate exception.) */
    bool reaches = seg->offset_next == limit + 1 ||
                   (!truncated && limit + 1 - seg->base_offset > INT32_MAX);
    if (!last && !reaches) {
      if (!truncated)
        env_log(log->env, ENV_LOG_WARN,
                "log %s: segment %020" PRId64 " ends at %" PRId64
                " but the next starts at %" PRId64 "; dropping what follows",
                log->dir, seg->base_offset, seg->offset_next, limit + 1);
      while (log->segments->len > i + 1) {
        rc = log__remove_segment(log, log->segments->len - 1);
        if (rc < 0)
          goto out_free;
      }
      break;
    }
    if (!last) {
      rc = log__segment_deactivate(seg);
      if (rc < 0)
        goto out_free;
    }
  }
  log__segment *active = log__active(log);
  log->log_end_offset = active->offset_next;
  int64_t first_base =
      ((log__segment *)g_ptr_array_index(log->segments, 0))->base_offset;
  log->log_start_offset =
      MIN(MAX(opts->log_start_offset, first_base), log->log_end_offset);
  log->recovery_point = MIN(ctx.recovery_point, log->log_end_offset);
  log->cleaner_offset = log->log_start_offset;
  log__epochs_truncate_end(log, log->log_end_offset);
  log__epochs_truncate_start(log, log->log_start_offset);
  env_trace(log->env, "log.recover",
            "\"dir\":\"%s\",\"segments\":%u,\"start\":%" PRId64
            ",\"leo\":%" PRId64 ",\"rp\":%" PRId64,
            log->dir, log->segments->len, log->log_start_offset,
            log->log_end_offset, log->recovery_point);
out_free:
  g_array_free(bases, TRUE);
  g_array_free(sane, TRUE);
  return rc;
}

/* ------------------------------------------------------------ verification */

typedef struct verify_ctx {
  env_t *env;
  const char *dir;
  log_verify_report_fn report;
  void *arg;
  int problems;
  GArray *epochs; /* NULL if the checkpoint is absent or malformed */
} verify_ctx;

static void problem(verify_ctx *v, const char *file, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void problem(verify_ctx *v, const char *file, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  v->problems++;
  if (v->report)
    v->report(v->arg, file, msg);
  g_free(msg);
}

typedef struct batch_mark {
  uint64_t pos;
  int64_t last;
  int64_t running_max_ts;
} batch_mark;

static int32_t epoch_of(const GArray *epochs, int64_t offset) {
  int32_t e = -1;
  for (guint i = 0; i < epochs->len; i++) {
    const log__epoch_entry *x = &g_array_index(epochs, log__epoch_entry, i);
    if (x->start_offset <= offset)
      e = x->epoch;
  }
  return e;
}

/* Checks one .log file; fills marks. Returns the segment's last offset. */
static int verify_log_file(verify_ctx *v, const char *name, int64_t base,
                           int64_t limit, int64_t *prev_last, GArray *marks) {
  char *path = g_strdup_printf("%s/%s", v->dir, name);
  env_file_t *f = NULL;
  int rc = env_file_open(v->env, path, ENV_O_READ, &f);
  g_free(path);
  if (rc < 0) {
    problem(v, name, "cannot open: %s", g_strerror(-rc));
    return 0;
  }
  uint64_t size = 0;
  rc = env_file_size(f, &size);
  buf_t buf = BUF_INIT;
  log__walker w;
  log__walker_init(&w, f, rc == 0 ? size : 0, 0, &buf);
  log__walked b;
  int64_t running = -1;
  for (;;) {
    int r = log__walker_next(&w, &b);
    if (r < 0) {
      problem(v, name, "read error at %" PRIu64 ": %s", w.pos, g_strerror(-r));
      break;
    }
    if (r == LOG__WALK_END)
      break;
    if (r == LOG__WALK_BAD) {
      problem(v, name,
              "%" PRIu64 " bytes at position %" PRIu64
              " do not form a whole batch (torn or corrupt tail)",
              size - w.pos, w.pos);
      break;
    }
    int64_t last = batch_last_offset(&b.h);
    if (b.h.magic != BATCH_MAGIC_V2)
      problem(v, name, "batch at %" PRIu64 ": magic %d", b.pos, b.h.magic);
    else if (log__batch_check(b.p, b.len, &b.h, true) != KERR_NONE)
      problem(v, name,
              "batch at %" PRIu64 " (offset %" PRId64
              "): CRC mismatch or bad header",
              b.pos, b.h.base_offset);
    if (b.h.base_offset <= *prev_last)
      problem(v, name,
              "batch at %" PRIu64 ": base offset %" PRId64
              " not above previous last offset %" PRId64,
              b.pos, b.h.base_offset, *prev_last);
    if (b.h.base_offset < base || last > limit)
      problem(v, name,
              "batch at %" PRIu64 ": offsets %" PRId64 "..%" PRId64
              " outside the segment's range",
              b.pos, b.h.base_offset, last);
    /* Batches wholly before the first cached epoch lie below the log
     * start offset (DeleteRecords collapses the cache there). */
    if (v->epochs && v->epochs->len > 0 &&
        last >= g_array_index(v->epochs, log__epoch_entry, 0).start_offset &&
        epoch_of(v->epochs, last) != b.h.leader_epoch)
      problem(v, name,
              "batch at %" PRIu64 ": leader epoch %" PRId32
              " but leader-epoch-checkpoint says %" PRId32,
              b.pos, b.h.leader_epoch, epoch_of(v->epochs, last));
    if (b.h.max_timestamp > running)
      running = b.h.max_timestamp;
    batch_mark m = {b.pos, last, running};
    g_array_append_val(marks, m);
    *prev_last = last;
  }
  buf_free(&buf);
  env_file_close(f);
  return 0;
}

static const batch_mark *mark_at_pos(const GArray *marks, uint64_t pos) {
  guint lo = 0, hi = marks->len;
  while (lo < hi) {
    guint mid = lo + (hi - lo) / 2;
    const batch_mark *m = &g_array_index(marks, batch_mark, mid);
    if (m->pos == pos)
      return m;
    if (m->pos < pos)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

static const batch_mark *mark_with_last(const GArray *marks, int64_t last) {
  guint lo = 0, hi = marks->len;
  while (lo < hi) {
    guint mid = lo + (hi - lo) / 2;
    const batch_mark *m = &g_array_index(marks, batch_mark, mid);
    if (m->last == last)
      return m;
    if (m->last < last)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

static void verify_index_file(verify_ctx *v, int64_t base, bool time,
                              const GArray *marks) {
  char *name =
      g_strdup_printf("%020" PRId64 "%s", base, time ? ".timeindex" : ".index");
  char *path = g_strdup_printf("%s/%s", v->dir, name);
  char *text = NULL;
  size_t len = 0;
  int rc = log__read_small_file(v->env, path, (size_t)INT32_MAX, &text, &len);
  g_free(path);
  if (rc < 0) {
    problem(v, name, "cannot read: %s", g_strerror(-rc));
    g_free(name);
    return;
  }
  size_t eb = time ? LOG__TINDEX_ENTRY_BYTES : LOG__OINDEX_ENTRY_BYTES;
  if (len % eb)
    problem(v, name, "size %zu is not a multiple of %zu", len, eb);
  int64_t prev_key = -1, prev_pos = -1, prev_ts = INT64_MIN;
  for (size_t at = 0; at + eb <= len; at += eb) {
    const uint8_t *e = (const uint8_t *)text + at;
    size_t i = at / eb;
    if (!time) {
      int32_t rel, pos;
      log__oindex_decode(e, &rel, &pos);
      const batch_mark *m = pos >= 0 ? mark_at_pos(marks, (uint64_t)pos) : NULL;
      if (rel <= prev_key || pos <= prev_pos)
        problem(v, name, "entry %zu (%d, %d) does not increase", i, rel, pos);
      if (!m)
        problem(v, name, "entry %zu: position %d is not a batch start", i, pos);
      else if (m->last != base + rel)
        problem(v, name,
                "entry %zu: offset %" PRId64
                " but the batch at %d ends at %" PRId64,
                i, base + rel, pos, m->last);
      prev_key = rel;
      prev_pos = pos;
    } else {
      int64_t ts;
      int32_t rel;
      log__tindex_decode(e, &ts, &rel);
      const batch_mark *m = mark_with_last(marks, base + rel);
      if (ts <= prev_ts || rel < prev_key)
        problem(v, name, "entry %zu (%" PRId64 ", %d) does not increase", i, ts,
                rel);
      if (!m)
        problem(v, name,
                "entry %zu: offset %" PRId64
                " is not the last offset of a batch",
                i, base + rel);
      else if (m->running_max_ts != ts)
        problem(v, name,
                "entry %zu: timestamp %" PRId64
                " but the largest up to offset %" PRId64 " is %" PRId64,
                i, ts, base + rel, m->running_max_ts);
      prev_ts = ts;
      prev_key = rel;
    }
  }
  g_free(text);
  g_free(name);
}

int log_verify_dir(env_t *env, const char *dir, log_verify_report_fn report,
                   void *arg) {
  verify_ctx v = {env, dir, report, arg, 0, NULL};
  char **names = NULL;
  int rc = env_list_dir(env, dir, &names);
  if (rc < 0)
    return rc;
  GArray *bases = g_array_new(FALSE, FALSE, sizeof(int64_t));
  for (size_t i = 0; names[i]; i++) {
    int64_t base;
    const char *n = names[i];
    if (parse_base(n, ".log", &base))
      g_array_append_val(bases, base);
    else if (g_str_has_suffix(n, ".cleaned") || g_str_has_suffix(n, ".swap") ||
             g_str_has_suffix(n, ".deleted") || g_str_has_suffix(n, ".tmp"))
      problem(&v, n, "leftover temporary file");
    else if (bad_segment_name(n, ".log") || bad_segment_name(n, ".index") ||
             bad_segment_name(n, ".timeindex"))
      problem(&v, n, "not a segment name (20-digit base offset)");
  }
  g_array_sort(bases, cmp_i64);
  char *ck = g_strdup_printf("%s/%s", dir, LOG__EPOCH_CHECKPOINT);
  char *text = NULL;
  size_t len = 0;
  rc = log__read_small_file(env, ck, EPOCH_CHECKPOINT_BYTES_MAX, &text, &len);
  if (rc == 0) {
    v.epochs = g_array_new(FALSE, FALSE, sizeof(log__epoch_entry));
    if (!log__epochs_parse(text, len, v.epochs)) {
      problem(&v, LOG__EPOCH_CHECKPOINT, "malformed");
      g_array_free(v.epochs, TRUE);
      v.epochs = NULL;
    }
  } else if (rc != -ENOENT) {
    problem(&v, LOG__EPOCH_CHECKPOINT, "cannot read: %s", g_strerror(-rc));
  }
  g_free(text);
  g_free(ck);
  int64_t prev_last = -1;
  for (guint i = 0; i < bases->len; i++) {
    int64_t base = g_array_index(bases, int64_t, i);
    int64_t limit = i + 1 < bases->len
                        ? g_array_index(bases, int64_t, i + 1) - 1
                        : INT64_MAX - 1;
    char *name = g_strdup_printf("%020" PRId64 ".log", base);
    GArray *marks = g_array_new(FALSE, FALSE, sizeof(batch_mark));
    verify_log_file(&v, name, base, limit, &prev_last, marks);
    verify_index_file(&v, base, false, marks);
    verify_index_file(&v, base, true, marks);
    g_array_free(marks, TRUE);
    g_free(name);
  }
  if (v.epochs)
    g_array_free(v.epochs, TRUE);
  g_array_free(bases, TRUE);
  env_names_free(names);
  return v.problems;
}
