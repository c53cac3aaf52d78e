/*
 * segment.c — one log segment: its three files, the batch walker, the
 * per-batch index bookkeeping, and locating an offset inside it.
 *
 * Kafka's LogSegment: `<base>.log` holds batches back to back, `<base>.index`
 * and `<base>.timeindex` index them sparsely (index.c, timeindex.c). The
 * segment's base offset is in its name (20 digits); positions inside a
 * segment are int32, relative offsets are int32 (hence the rolls on
 * segment.bytes and on relative-offset overflow).
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "base/assert.h"
#include "broker/kerr.h"
#include "broker/log/log_internal.h"

char *log__segment_path(const log_t *log, int64_t base, const char *suffix) {
  return g_strdup_printf("%s/%020" PRId64 "%s", log->dir, base, suffix);
}

static log__segment *segment_alloc(log_t *log, int64_t base) {
  log__segment *seg = g_new0(log__segment, 1);
  seg->log = log;
  seg->base_offset = base;
  seg->offset_next = base;
  seg->max_ts_ms = -1;
  seg->offset_of_max_ts = -1;
  seg->rolling_base_ts_ms = -1;
  seg->created_wall_ms = env_wall_ms(log->env);
  log__index_init(&seg->oindex, LOG__OINDEX_ENTRY_BYTES);
  log__index_init(&seg->tindex, LOG__TINDEX_ENTRY_BYTES);
  return seg;
}

int log__segment_create(log_t *log, int64_t base, log__segment **out) {
  return log__segment_create_as(log, base, "", out);
}

int log__segment_create_as(log_t *log, int64_t base, const char *extra,
                           log__segment **out) {
  log__segment *seg = segment_alloc(log, base);
  char *sfx_log = g_strconcat(".log", extra, NULL);
  char *sfx_idx = g_strconcat(".index", extra, NULL);
  char *sfx_tix = g_strconcat(".timeindex", extra, NULL);
  char *p_log = log__segment_path(log, base, sfx_log);
  char *p_idx = log__segment_path(log, base, sfx_idx);
  char *p_tix = log__segment_path(log, base, sfx_tix);
  g_free(sfx_log);
  g_free(sfx_idx);
  g_free(sfx_tix);
  bool sane = true;
  int rc = env_file_open(log->env, p_log,
                         ENV_O_READ | ENV_O_WRITE | ENV_O_CREATE | ENV_O_TRUNC,
                         &seg->file);
  if (rc < 0)
    goto out_free_seg;
  rc = log__index_open(log->env, p_idx, &seg->oindex, true, &sane);
  if (rc < 0)
    goto out_free_seg;
  rc = log__index_open(log->env, p_tix, &seg->tindex, true, &sane);
  if (rc < 0)
    goto out_free_seg;
  seg->oindex.in_memory = true;
  seg->tindex.in_memory = true;
  /* A new name is durable once the file (or the directory) is fsynced. */
  seg->log_needs_fsync = true;
  log->dir_needs_fsync = true;
  *out = seg;
  goto out_free_paths;
out_free_seg:
  log__segment_free(seg);
out_free_paths:
  g_free(p_log);
  g_free(p_idx);
  g_free(p_tix);
  return rc;
}

int log__segment_open(log_t *log, int64_t base, log__segment **out,
                      bool *index_sane) {
  log__segment *seg = segment_alloc(log, base);
  char *p_log = log__segment_path(log, base, ".log");
  char *p_idx = log__segment_path(log, base, ".index");
  char *p_tix = log__segment_path(log, base, ".timeindex");
  bool is_dir = false, sane_o = true, sane_t = true;
  bool had_o = env_stat(log->env, p_idx, &is_dir) == 0 && !is_dir;
  bool had_t = env_stat(log->env, p_tix, &is_dir) == 0 && !is_dir;
  int rc = env_file_open(log->env, p_log, ENV_O_READ | ENV_O_WRITE, &seg->file);
  if (rc < 0)
    goto out_free_seg;
  rc = env_file_size(seg->file, &seg->size_bytes);
  if (rc < 0)
    goto out_free_seg;
  rc = log__index_open(log->env, p_idx, &seg->oindex, false, &sane_o);
  if (rc < 0)
    goto out_free_seg;
  rc = log__index_open(log->env, p_tix, &seg->tindex, false, &sane_t);
  if (rc < 0)
    goto out_free_seg;
  *index_sane = had_o && had_t && sane_o && sane_t;
  *out = seg;
  goto out_free_paths;
out_free_seg:
  log__segment_free(seg);
out_free_paths:
  g_free(p_log);
  g_free(p_idx);
  g_free(p_tix);
  return rc;
}

void log__segment_free(log__segment *seg) {
  if (!seg)
    return;
  env_file_close(seg->file);
  log__index_close(&seg->oindex);
  log__index_close(&seg->tindex);
  g_free(seg);
}

static int unlink_quiet(env_t *env, const char *path) {
  int rc = env_unlink(env, path);
  return rc == -ENOENT ? 0 : rc;
}

int log__segment_delete(log__segment *seg) {
  log_t *log = seg->log;
  int rc = 0;
  static const char *const suffixes[] = {".log", ".index", ".timeindex"};
  for (size_t i = 0; i < G_N_ELEMENTS(suffixes); i++) {
    char *p = log__segment_path(log, seg->base_offset, suffixes[i]);
    int r = unlink_quiet(log->env, p);
    if (r < 0 && rc == 0)
      rc = r;
    g_free(p);
  }
  log->dir_needs_fsync = true;
  log__segment_retire(seg);
  return rc;
}

void log__segment_retire(log__segment *seg) {
  if (seg->fsyncs_in_flight > 0) {
    /* env.h: a file stays open until its fsync callback has run. */
    seg->doomed = true;
    g_ptr_array_add(seg->log->doomed, seg);
  } else {
    log__segment_free(seg);
  }
}

void log__segment_io_done(log__segment *seg) {
  SL_ASSERT(seg->fsyncs_in_flight > 0);
  seg->fsyncs_in_flight--;
  if (seg->doomed && seg->fsyncs_in_flight == 0) {
    g_ptr_array_remove_fast(seg->log->doomed, seg);
    log__segment_free(seg);
  }
}

/* ------------------------------------------------------------ bookkeeping */

static void tindex_maybe_append(log__segment *seg, int64_t ts, int64_t off) {
  if (ts < 0 || off < seg->base_offset)
    return;
  bool has = false;
  int64_t last_ts = -1;
  int32_t last_rel = 0;
  /* In memory: cannot fail. */
  (void)log__tindex_last(&seg->tindex, &has, &last_ts, &last_rel);
  if (has && ts <= last_ts)
    return;
  uint8_t e[LOG__TINDEX_ENTRY_BYTES];
  log__tindex_encode(e, ts, (int32_t)(off - seg->base_offset));
  log__index_push(&seg->tindex, e);
}

void log__segment_index_batch(log__segment *seg, const batch_header *h,
                              uint64_t pos, size_t len, bool already_indexed,
                              int32_t index_interval_bytes) {
  int64_t last = batch_last_offset(h);
  SL_ASSERT(last - seg->base_offset <= INT32_MAX);
  if (pos == 0 || seg->rolling_base_ts_ms < 0)
    if (seg->rolling_base_ts_ms < 0)
      seg->rolling_base_ts_ms = h->max_timestamp;
  if (h->max_timestamp > seg->max_ts_ms) {
    seg->max_ts_ms = h->max_timestamp;
    seg->offset_of_max_ts = last;
  }
  if (!already_indexed &&
      seg->bytes_since_index > (uint64_t)index_interval_bytes) {
    uint8_t e[LOG__OINDEX_ENTRY_BYTES];
    log__oindex_encode(e, (int32_t)(last - seg->base_offset), (int32_t)pos);
    log__index_push(&seg->oindex, e);
    tindex_maybe_append(seg, seg->max_ts_ms, seg->offset_of_max_ts);
    seg->bytes_since_index = 0;
  }
  seg->bytes_since_index += len;
  seg->offset_next = last + 1;
}

void log__segment_time_final(log__segment *seg) {
  if (seg->tindex.in_memory)
    tindex_maybe_append(seg, seg->max_ts_ms, seg->offset_of_max_ts);
}

int log__segment_deactivate(log__segment *seg) {
  log__segment_time_final(seg);
  int rc = log__index_unload(&seg->oindex);
  if (rc < 0)
    return rc;
  return log__index_unload(&seg->tindex);
}

/* Rebuilds the append state (offset_next, bytes_since_index, max
 * timestamp, rolling base) of a segment whose indexes are in memory and
 * already cut to the data below `end`, by walking headers from the last
 * offset-index entry. */
static int segment_rewalk(log__segment *seg, uint64_t end) {
  log_t *log = seg->log;
  uint64_t from = 0;
  bool first_indexed = false;
  seg->bytes_since_index = 0;
  seg->offset_next = seg->base_offset;
  seg->max_ts_ms = -1;
  seg->offset_of_max_ts = -1;
  seg->rolling_base_ts_ms = -1;
  if (seg->oindex.entries > 0) {
    uint8_t e[LOG__OINDEX_ENTRY_BYTES];
    int rc = log__index_entry(&seg->oindex, seg->oindex.entries - 1, e);
    if (rc < 0)
      return rc;
    int32_t rel, pos;
    log__oindex_decode(e, &rel, &pos);
    from = (uint64_t)pos;
    first_indexed = true;
    bool has = false;
    int64_t ts;
    int32_t trel;
    rc = log__tindex_last(&seg->tindex, &has, &ts, &trel);
    if (rc < 0)
      return rc;
    if (has) {
      seg->max_ts_ms = ts;
      seg->offset_of_max_ts = seg->base_offset + trel;
    }
  }
  log__walker w;
  log__walker_init(&w, seg->file, end, from, &log->scan_buf);
  log__walked b;
  for (;;) {
    int r = log__walker_next_header(&w, &b);
    if (r < 0)
      return r;
    if (r == LOG__WALK_END)
      break;
    /* Bytes from disk: damage is an error, never an assertion. */
    int64_t last = batch_last_offset(&b.h);
    if (r == LOG__WALK_BAD ||
        log__batch_check(b.p, BATCH_HEADER_BYTES, &b.h, false) != KERR_NONE ||
        b.h.base_offset < seg->base_offset ||
        b.h.base_offset < seg->offset_next ||
        last - seg->base_offset > INT32_MAX)
      return -EIO;
    log__segment_index_batch(seg, &b.h, b.pos, b.len, first_indexed,
                             log->cfg.index_interval_bytes);
    first_indexed = false;
  }
  if (from > 0) {
    /* The rolling base is the first batch's max timestamp. */
    log__walker_init(&w, seg->file, end, 0, &log->scan_buf);
    int r = log__walker_next_header(&w, &b);
    if (r < 0)
      return r;
    if (r == LOG__WALK_BATCH)
      seg->rolling_base_ts_ms = b.h.max_timestamp;
  }
  return 0;
}

int log__segment_truncate(log__segment *seg, uint64_t pos) {
  int rc = log__index_load(&seg->oindex);
  if (rc < 0)
    return rc;
  rc = log__index_load(&seg->tindex);
  if (rc < 0)
    return rc;
  uint32_t keep = 0;
  rc = log__oindex_count_below_pos(&seg->oindex, pos, &keep);
  if (rc < 0)
    return rc;
  rc = log__index_truncate(&seg->oindex, keep);
  if (rc < 0)
    return rc;
  uint32_t tkeep = 0;
  if (keep > 0) {
    uint8_t e[LOG__OINDEX_ENTRY_BYTES];
    rc = log__index_entry(&seg->oindex, keep - 1, e);
    if (rc < 0)
      return rc;
    int32_t rel, p;
    log__oindex_decode(e, &rel, &p);
    rc = log__tindex_count_upto_rel(&seg->tindex, rel, &tkeep);
    if (rc < 0)
      return rc;
  }
  rc = log__index_truncate(&seg->tindex, tkeep);
  if (rc < 0)
    return rc;
  if (pos < seg->size_bytes) {
    rc = env_file_truncate(seg->file, pos);
    if (rc < 0)
      return rc;
    seg->size_bytes = pos;
    seg->reserved_to = MIN(seg->reserved_to, pos); /* given back */
    seg->writeback_from = MIN(seg->writeback_from, pos);
    seg->log_needs_fsync = true;
  }
  return segment_rewalk(seg, pos);
}

/* ------------------------------------------------------------------ walker */

void log__walker_init(log__walker *w, env_file_t *file, uint64_t end,
                      uint64_t pos, buf_t *buf) {
  w->file = file;
  w->end = end;
  w->pos = pos;
  w->buf = buf;
  w->buf_start = pos;
  buf_clear(buf);
}

/* Makes [w->pos, w->pos + need) available in the buffer. 1 = ok, 0 = the
 * file ends first, < 0 = I/O error. */
static int walker_fill(log__walker *w, size_t need) {
  if (w->pos >= w->buf_start && w->pos + need <= w->buf_start + w->buf->len)
    return 1;
  uint64_t avail = w->end - w->pos;
  size_t want = need > LOG__SCAN_CHUNK_BYTES ? need : LOG__SCAN_CHUNK_BYTES;
  if ((uint64_t)want > avail)
    want = (size_t)avail;
  buf_clear(w->buf);
  buf_reserve(w->buf, want);
  size_t got = 0;
  int rc = env_file_pread(w->file, w->buf->data, want, w->pos, &got);
  if (rc < 0)
    return rc;
  w->buf->len = got;
  w->buf_start = w->pos;
  return got >= need ? 1 : 0;
}

static int walker_step(log__walker *w, log__walked *out, bool whole) {
  if (w->pos >= w->end)
    return LOG__WALK_END;
  uint64_t avail = w->end - w->pos;
  if (avail < BATCH_HEADER_BYTES)
    return LOG__WALK_BAD;
  int rc = walker_fill(w, BATCH_HEADER_BYTES);
  if (rc <= 0)
    return rc < 0 ? rc : LOG__WALK_BAD;
  const uint8_t *p = w->buf->data + (w->pos - w->buf_start);
  int64_t total = batch_total_bytes(p, BATCH_HEADER_BYTES);
  if (total < BATCH_HEADER_BYTES || (uint64_t)total > avail)
    return LOG__WALK_BAD;
  if (whole) {
    rc = walker_fill(w, (size_t)total);
    if (rc <= 0)
      return rc < 0 ? rc : LOG__WALK_BAD;
    p = w->buf->data + (w->pos - w->buf_start);
  }
  if (batch_header_parse(p, BATCH_HEADER_BYTES, &out->h) != 0)
    return LOG__WALK_BAD;
  out->p = p;
  out->len = whole ? (size_t)total : BATCH_HEADER_BYTES;
  out->pos = w->pos;
  w->pos += (uint64_t)total;
  if (!whole)
    out->len = (size_t)total; /* the batch's size; only the header is in p */
  return LOG__WALK_BATCH;
}

int log__walker_next(log__walker *w, log__walked *out) {
  return walker_step(w, out, true);
}

int log__walker_next_header(log__walker *w, log__walked *out) {
  return walker_step(w, out, false);
}

bool log__walker_will_refill(const log__walker *w) {
  if (w->pos >= w->end)
    return false;
  uint64_t buf_end = w->buf_start + w->buf->len;
  if (w->pos < w->buf_start || w->pos + BATCH_HEADER_BYTES > buf_end)
    return true;
  int64_t total = batch_total_bytes(w->buf->data + (w->pos - w->buf_start),
                                    BATCH_HEADER_BYTES);
  return total < BATCH_HEADER_BYTES || w->pos + (uint64_t)total > buf_end;
}

int log__batch_check(const uint8_t *p, size_t len, const batch_header *h,
                     bool check_crc) {
  if (len < BATCH_HEADER_BYTES || h->magic != BATCH_MAGIC_V2 ||
      h->last_offset_delta < 0 || h->record_count < 0 || h->base_offset < 0)
    return KERR_CORRUPT_MESSAGE;
  if (check_crc && batch_compute_crc(p, len) != h->crc)
    return KERR_CORRUPT_MESSAGE;
  return KERR_NONE;
}

/* ------------------------------------------------------------------ locate */

int log__segment_locate(log_t *log, log__segment *seg, int64_t offset,
                        bool *found, uint64_t *pos, batch_header *h,
                        int64_t *prev_last) {
  uint64_t from = 0;
  int64_t prev = seg->base_offset - 1;
  int64_t expect_last = -1;
  *found = false;
  *pos = seg->size_bytes;
  if (offset > seg->base_offset) {
    int64_t rel64 = offset - seg->base_offset;
    int32_t rel = rel64 > INT32_MAX ? INT32_MAX : (int32_t)rel64;
    int64_t at = -1;
    int32_t key = 0, ipos = 0;
    int rc = log__oindex_search(&seg->oindex, rel, &at, &key, &ipos);
    if (rc < 0)
      return KERR_KAFKA_STORAGE_ERROR;
    if (at >= 0) {
      if (ipos < 0 || (uint64_t)ipos >= seg->size_bytes)
        return KERR_CORRUPT_MESSAGE;
      from = (uint64_t)ipos;
      expect_last = seg->base_offset + key;
    }
  }
  log__walker w;
  log__walker_init(&w, seg->file, seg->size_bytes, from, &log->scan_buf);
  log__walked b;
  for (;;) {
    int r = log__walker_next_header(&w, &b);
    if (r < 0)
      return KERR_KAFKA_STORAGE_ERROR;
    if (r == LOG__WALK_END)
      return KERR_NONE;
    if (r == LOG__WALK_BAD ||
        log__batch_check(b.p, BATCH_HEADER_BYTES, &b.h, false) != KERR_NONE)
      return KERR_CORRUPT_MESSAGE;
    int64_t last = batch_last_offset(&b.h);
    if (b.h.base_offset <= prev || (expect_last >= 0 && last != expect_last))
      return KERR_CORRUPT_MESSAGE;
    expect_last = -1;
    if (last >= offset) {
      *found = true;
      *pos = b.pos;
      *h = b.h;
      *prev_last = prev;
      return KERR_NONE;
    }
    prev = last;
  }
}
