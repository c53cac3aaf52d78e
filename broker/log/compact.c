/*
 * compact.c — log compaction (Kafka's log cleaner, cleanup.policy=compact).
 *
 * Kafka concept: the cleaner keeps, for every key, only the latest record
 * in the cleaned part of the log. It first builds an "offset map" key →
 * latest offset (Kafka stores an MD5 of the key and the offset, 24 bytes an
 * entry, in a fixed dedupe buffer) over the dirty range, then rewrites the
 * segments: a record survives if its key is absent from the map or its
 * offset is not older than the map's. Tombstones (null values) survive
 * delete.retention.ms so that consumers see the deletion, then go. Offsets
 * never change: batches keep their base offset and last offset delta, and
 * records keep their offset deltas, so gaps appear.
 *
 * Here:
 *  - The cleanable range is the non-active segments wholly below
 *    min(offset_end, recovery point). Cleaning only flushed data matters:
 *    a record may only be dropped in favour of a newer one that is durable.
 *  - The map covers the dirty part of that range — from the cleaner
 *    offset (Kafka's cleaner-offset-checkpoint: where the previous pass
 *    ended) on — up to cleaner_keys_max distinct keys; when full it ends at
 *    the record that did not fit. Records from the log start to the map's
 *    end are filtered (below the cleaner offset the log is already
 *    deduplicated); later ones are left for the next pass, which starts
 *    where this one ended.
 *  - A tombstone is dropped when it is the latest for its key and now_ms >=
 *    its timestamp + delete.retention.ms (Kafka 3.x measures from the first
 *    cleaning, with the batch's delete-horizon bit; we use the record's own
 *    timestamp, which needs no rewrite of the batch to remember).
 *  - Each segment is rewritten 1:1 (Kafka also merges small neighbours; we
 *    do not, which keeps each swap self-contained): `<base>.log.cleaned`
 *    and its indexes are written and fsynced, renamed to `.swap`, the
 *    directory fsynced, then the indexes and finally the log renamed over
 *    the old files, the directory fsynced again. Recovery (recovery.c)
 *    deletes `.cleaned` files, completes a `.log.swap`, and rebuilds the
 *    indexes of a segment with index `.swap` files left over.
 *  - A batch whose records all survive is copied byte for byte; one that
 *    loses some is rebuilt with the batch builder (same codec, producer
 *    fields, epoch, base timestamp, offset range, LogAppendTime); one that
 *    loses all is dropped. Control batches and keyless records are kept.
 *  - Rebuilding happens synchronously inside log_compact; the fsyncs and
 *    renames follow asynchronously. Anything that removes or truncates
 *    segments meanwhile bumps log->generation and the pass gives up.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "base/assert.h"
#include "broker/kerr.h"
#include "broker/log/log_internal.h"

#define KEY_DIGEST_BYTES 16
/* Rebuilt batches are written in chunks of this size. */
#define WRITE_CHUNK_BYTES ((size_t)1 << 20)

/* ------------------------------------------------------------ offset map */

typedef struct map_slot {
  uint8_t digest[KEY_DIGEST_BYTES];
  int64_t offset; /* -1 = empty */
} map_slot;

typedef struct offset_map {
  map_slot *slots;
  size_t cap; /* power of two */
  size_t used;
  size_t keys_max;
  GChecksum *md5;
} offset_map;

static void map_init(offset_map *m, size_t keys_max) {
  m->cap = 1024;
  m->slots = g_new(map_slot, m->cap);
  for (size_t i = 0; i < m->cap; i++)
    m->slots[i].offset = -1;
  m->used = 0;
  m->keys_max = keys_max;
  m->md5 = g_checksum_new(G_CHECKSUM_MD5);
}

static void map_free(offset_map *m) {
  g_free(m->slots);
  if (m->md5)
    g_checksum_free(m->md5);
  memset(m, 0, sizeof *m);
}

static void map_digest(offset_map *m, const uint8_t *key, int32_t len,
                       uint8_t *out) {
  g_checksum_reset(m->md5);
  if (len > 0)
    g_checksum_update(m->md5, key, (gssize)len);
  gsize n = KEY_DIGEST_BYTES;
  g_checksum_get_digest(m->md5, out, &n);
}

static size_t map_probe(const offset_map *m, const uint8_t *d) {
  uint64_t h;
  memcpy(&h, d, sizeof h);
  size_t i = (size_t)h & (m->cap - 1);
  while (m->slots[i].offset >= 0 &&
         memcmp(m->slots[i].digest, d, KEY_DIGEST_BYTES) != 0)
    i = (i + 1) & (m->cap - 1);
  return i;
}

static void map_grow(offset_map *m) {
  map_slot *old = m->slots;
  size_t old_cap = m->cap;
  m->cap *= 2;
  m->slots = g_new(map_slot, m->cap);
  for (size_t i = 0; i < m->cap; i++)
    m->slots[i].offset = -1;
  for (size_t i = 0; i < old_cap; i++)
    if (old[i].offset >= 0)
      m->slots[map_probe(m, old[i].digest)] = old[i];
  g_free(old);
}

/* Records key → offset. false if the key is new and the map is full. */
static bool map_put(offset_map *m, const uint8_t *d, int64_t offset) {
  size_t i = map_probe(m, d);
  if (m->slots[i].offset < 0) {
    if (m->used >= m->keys_max)
      return false;
    if ((m->used + 1) * 2 > m->cap) {
      map_grow(m);
      i = map_probe(m, d);
    }
    memcpy(m->slots[i].digest, d, KEY_DIGEST_BYTES);
    m->used++;
  }
  m->slots[i].offset = offset;
  return true;
}

static int64_t map_get(const offset_map *m, const uint8_t *d) {
  return m->slots[map_probe(m, d)].offset;
}

/* ------------------------------------------------------------ the pass */

typedef struct cseg {
  int64_t base;
  log__segment *cleaned; /* the new files, ".cleaned" then ".swap" */
} cseg;

struct log__compaction {
  log_t *log;
  uint64_t generation;
  int64_t now_ms;
  log_compact_cb cb;
  void *arg;
  log_compact_stats stats;
  GArray *segs; /* cseg: segments that changed */
  uint32_t pending;
  int status;
  int stage;
  uint64_t timer;
  offset_map map;
  int64_t first_dirty; /* the cleaner offset when the pass started */
  int64_t map_end;     /* records at or past it are not in the map */
  batch_iter *it;
  buf_t rebuilt;
  buf_t wbuf; /* pending writes to the cleaned file */
};

void log__compaction_free(log__compaction *c) {
  if (!c)
    return;
  if (c->timer)
    env_timer_cancel(c->log->env, c->timer);
  for (guint i = 0; i < c->segs->len; i++)
    log__segment_free(g_array_index(c->segs, cseg, i).cleaned);
  g_array_free(c->segs, TRUE);
  map_free(&c->map);
  batch_iter_free(c->it);
  buf_free(&c->rebuilt);
  buf_free(&c->wbuf);
  g_free(c);
}

static int iter_batch(log__compaction *c, const uint8_t *p, size_t len) {
  int err = KERR_NONE;
  if (!c->it)
    c->it = batch_iter_new(p, len, &err);
  else
    err = batch_iter_reset(c->it, p, len);
  return err;
}

/* Pass 1: key → latest offset over the dirty part of the cleanable
 * segments (from the cleaner offset on). */
static int build_map(log__compaction *c, guint n_segs) {
  log_t *log = c->log;
  c->map_end = INT64_MAX;
  for (guint i = 0; i < n_segs; i++) {
    log__segment *seg = g_ptr_array_index(log->segments, i);
    if (((log__segment *)g_ptr_array_index(log->segments, i + 1))
            ->base_offset <= c->first_dirty)
      continue;
    log__walker w;
    log__walker_init(&w, seg->file, seg->size_bytes, 0, &log->scan_buf);
    log__walked b;
    int r;
    while ((r = log__walker_next(&w, &b)) == LOG__WALK_BATCH) {
      if (log__batch_check(b.p, b.len, &b.h, true) != KERR_NONE)
        return -EIO;
      if (b.h.attributes & BATCH_ATTR_CONTROL)
        continue;
      if (iter_batch(c, b.p, b.len) != KERR_NONE)
        return -EIO;
      batch_record rec;
      int n;
      while ((n = batch_iter_next(c->it, &rec)) == 1) {
        c->stats.records_read++;
        if (rec.key_len < 0 || rec.offset < c->first_dirty)
          continue;
        uint8_t d[KEY_DIGEST_BYTES];
        map_digest(&c->map, rec.key, rec.key_len, d);
        if (!map_put(&c->map, d, rec.offset)) {
          c->map_end = rec.offset;
          return 0;
        }
      }
      if (n < 0)
        return -EIO;
    }
    if (r != LOG__WALK_END)
      return -EIO;
  }
  return 0;
}

/* Below the cleaner offset the log is already deduplicated: a record
 * there is the latest for its key unless the map (built from the dirty
 * part) has a newer one. In the dirty part the map has every key. */
static bool keep_record(log__compaction *c, const batch_record *rec) {
  if (rec->key_len < 0 || rec->offset >= c->map_end)
    return true;
  uint8_t d[KEY_DIGEST_BYTES];
  map_digest(&c->map, rec->key, rec->key_len, d);
  int64_t latest = map_get(&c->map, d);
  if (latest > rec->offset)
    return false;
  if (rec->value_len < 0 &&
      c->now_ms - rec->timestamp >= c->log->cfg.delete_retention_ms) {
    c->stats.tombstones_removed++;
    return false;
  }
  return true;
}

static int flush_wbuf(log__compaction *c, log__segment *out) {
  if (c->wbuf.len == 0)
    return 0;
  int rc = env_file_pwrite(out->file, c->wbuf.data, c->wbuf.len,
                           out->size_bytes - c->wbuf.len);
  buf_clear(&c->wbuf);
  return rc;
}

/* Appends one batch to the cleaned segment. */
static int emit(log__compaction *c, log__segment *out, const uint8_t *p,
                size_t len) {
  batch_header h;
  if (batch_header_parse(p, len, &h) != KERR_NONE)
    return -EIO;
  uint64_t pos = out->size_bytes;
  buf_append(&c->wbuf, p, len);
  out->size_bytes += len;
  log__segment_index_batch(out, &h, pos, len, false,
                           c->log->cfg.index_interval_bytes);
  c->stats.bytes_after += len;
  return c->wbuf.len >= WRITE_CHUNK_BYTES ? flush_wbuf(c, out) : 0;
}

/* Filters one batch into the cleaned segment; *changed if it lost
 * records. */
static int clean_batch(log__compaction *c, log__segment *out,
                       const log__walked *b, bool last_in_segment,
                       bool *changed) {
  const batch_header *h = &b->h;
  if (h->attributes & BATCH_ATTR_CONTROL)
    return emit(c, out, b->p, b->len);
  if (iter_batch(c, b->p, b->len) != KERR_NONE)
    return -EIO;
  batch_builder_opts o = {
      .codec = batch_header_codec(h),
      .base_offset = h->base_offset,
      .base_timestamp = h->base_timestamp,
      .producer_id = h->producer_id,
      .producer_epoch = h->producer_epoch,
      .base_sequence = h->base_sequence,
      .extra_attributes = (int16_t)(h->attributes & (BATCH_ATTR_TRANSACTIONAL)),
      .leader_epoch = h->leader_epoch,
  };
  batch_builder *bb = batch_builder_new(&o);
  batch_record rec;
  int n;
  int32_t removed = 0, kept = 0;
  bool too_many_headers = false;
  while ((n = batch_iter_next(c->it, &rec)) == 1) {
    if (rec.header_count > BATCH_RECORD_HEADERS_MAX)
      too_many_headers = true;
    if (!keep_record(c, &rec)) {
      removed++;
      continue;
    }
    kept++;
    batch_builder_add_at(bb, (int32_t)(rec.offset - h->base_offset),
                         rec.timestamp, rec.key, rec.key_len, rec.value,
                         rec.value_len, rec.headers,
                         MIN(rec.header_count, BATCH_RECORD_HEADERS_MAX));
  }
  if (n < 0) {
    batch_builder_free(bb);
    return -EIO;
  }
  c->stats.records_removed += (uint64_t)removed;
  if (removed == 0 || too_many_headers) {
    /* Unchanged (or not rebuildable without loss): copy as is. */
    batch_builder_free(bb);
    if (too_many_headers)
      c->stats.records_removed -= (uint64_t)removed;
    return emit(c, out, b->p, b->len);
  }
  *changed = true;
  if (kept == 0) {
    batch_builder_free(bb);
    if (!last_in_segment)
      return 0;
    /* The segment's last batch stays, empty, to keep the segment's offset
     * range (segments stay contiguous; Kafka keeps empty batches too). */
    bb = batch_builder_new(&o);
  }
  buf_clear(&c->rebuilt);
  if (batch_builder_finish(bb, h->last_offset_delta, &c->rebuilt) != KERR_NONE)
    return -EIO;
  if (h->attributes & BATCH_ATTR_LOG_APPEND_TIME)
    batch_set_log_append_time(c->rebuilt.data, c->rebuilt.len,
                              h->max_timestamp);
  return emit(c, out, c->rebuilt.data, c->rebuilt.len);
}

static void unlink_segment_files(log_t *log, int64_t base, const char *extra) {
  static const char *const sfx[] = {".log", ".index", ".timeindex"};
  for (size_t i = 0; i < G_N_ELEMENTS(sfx); i++) {
    char *s = g_strconcat(sfx[i], extra, NULL);
    char *p = log__segment_path(log, base, s);
    /* Best effort: leftovers are removed by recovery at the next open. */
    int rc = env_unlink(log->env, p);
    if (rc < 0 && rc != -ENOENT)
      env_log(log->env, ENV_LOG_WARN, "log %s: unlink %s: %s", log->dir, p,
              g_strerror(-rc));
    g_free(p);
    g_free(s);
  }
}

/* Pass 2 for one segment. Adds it to c->segs if anything changed. */
static int clean_segment(log__compaction *c, log__segment *seg) {
  log_t *log = c->log;
  log__segment *out = NULL;
  int rc = log__segment_create_as(log, seg->base_offset, ".cleaned", &out);
  if (rc < 0)
    return rc;
  c->stats.bytes_before += seg->size_bytes;
  bool changed = false;
  log__walker w;
  log__walker_init(&w, seg->file, seg->size_bytes, 0, &log->scan_buf);
  log__walked b;
  int r;
  while ((r = log__walker_next(&w, &b)) == LOG__WALK_BATCH) {
    rc = log__batch_check(b.p, b.len, &b.h, true) == KERR_NONE
             ? clean_batch(c, out, &b, w.pos == seg->size_bytes, &changed)
             : -EIO;
    if (rc < 0)
      goto out_discard;
  }
  rc = r == LOG__WALK_END ? flush_wbuf(c, out) : -EIO;
  if (rc < 0)
    goto out_discard;
  if (!changed) {
    c->stats.bytes_after -= out->size_bytes;
    c->stats.bytes_before -= seg->size_bytes;
    log__segment_free(out);
    unlink_segment_files(log, seg->base_offset, ".cleaned");
    return 0;
  }
  rc = log__segment_deactivate(out);
  if (rc < 0)
    goto out_discard;
  out->offset_next = seg->offset_next;
  cseg cs = {seg->base_offset, out};
  g_array_append_val(c->segs, cs);
  return 0;
out_discard:
  buf_clear(&c->wbuf);
  log__segment_free(out);
  unlink_segment_files(log, seg->base_offset, ".cleaned");
  return rc;
}

/* ------------------------------------------------------ asynchronous steps */

static void finish(log__compaction *c, int status) {
  log_t *log = c->log;
  if (status < 0) {
    for (guint i = 0; i < c->segs->len; i++) {
      int64_t base = g_array_index(c->segs, cseg, i).base;
      unlink_segment_files(log, base, ".cleaned");
      unlink_segment_files(log, base, ".swap");
    }
  }
  if (status == 0)
    log->cleaner_offset = MAX(log->cleaner_offset, c->stats.offset_cleaned_end);
  log_compact_stats stats = c->stats;
  log_compact_cb cb = c->cb;
  void *arg = c->arg;
  log->compaction = NULL;
  log__compaction_free(c);
  env_trace(
      log->env, "log.compact",
      "\"dir\":\"%s\",\"status\":%d,\"segments\":%zu,\"removed\":%" PRIu64,
      log->dir, status, stats.segments_cleaned, stats.records_removed);
  log->cb_depth++;
  if (cb)
    cb(arg, status, &stats);
  log->cb_depth--;
  if (log->free_requested && log->cb_depth == 0) {
    log_free(log);
    return;
  }
  log__maybe_finish_close(log);
}

static void part_done(log__compaction *c, int status,
                      void (*next)(log__compaction *));

static void on_cfsync(void *arg, int status);

static int rename_files(log_t *log, int64_t base, const char *from_extra,
                        const char *to_extra, bool log_last) {
  static const char *const sfx[] = {".index", ".timeindex", ".log"};
  for (size_t i = 0; i < G_N_ELEMENTS(sfx); i++) {
    if (!log_last && i == 2)
      continue;
    char *a = g_strconcat(sfx[i], from_extra, NULL);
    char *b = g_strconcat(sfx[i], to_extra, NULL);
    char *pa = log__segment_path(log, base, a);
    char *pb = log__segment_path(log, base, b);
    int rc = env_rename(log->env, pa, pb);
    g_free(a);
    g_free(b);
    g_free(pa);
    g_free(pb);
    if (rc < 0)
      return rc;
  }
  return 0;
}

static void on_final_dir_fsync(void *arg, int status) {
  log__compaction *c = arg;
  c->pending--;
  finish(c, status);
}

static void step_install(log__compaction *c) {
  log_t *log = c->log;
  if (c->generation != log->generation) {
    finish(c, -ECANCELED);
    return;
  }
  /* Indexes first, the .log last: a crash in between leaves a .log.swap
   * that recovery completes (rebuilding the indexes). */
  for (guint i = 0; i < c->segs->len; i++) {
    cseg *cs = &g_array_index(c->segs, cseg, i);
    int rc = rename_files(log, cs->base, ".swap", "", true);
    if (rc < 0) {
      log__fail(log, "compaction rename", rc);
      finish(c, rc);
      return;
    }
    ssize_t at = log__segment_find(log, cs->base);
    SL_ASSERT(at >= 0);
    log__segment *old = g_ptr_array_index(log->segments, at);
    SL_ASSERT(old->base_offset == cs->base);
    log->segments->pdata[at] = cs->cleaned;
    cs->cleaned = NULL;
    log__segment_retire(old);
    c->stats.segments_cleaned++;
  }
  g_array_set_size(c->segs, 0);
  log__hint_reset(log);
  log->generation++;
  c->pending++;
  env_dir_fsync(log->env, log->dir, on_final_dir_fsync, c);
}

static void on_swap_dir_fsync(void *arg, int status) {
  part_done(arg, status, step_install);
}

static void step_swap(log__compaction *c) {
  log_t *log = c->log;
  if (c->generation != log->generation) {
    finish(c, -ECANCELED);
    return;
  }
  for (guint i = 0; i < c->segs->len; i++) {
    int rc = rename_files(log, g_array_index(c->segs, cseg, i).base, ".cleaned",
                          ".swap", true);
    if (rc < 0) {
      finish(c, rc);
      return;
    }
  }
  c->pending++;
  env_dir_fsync(log->env, log->dir, on_swap_dir_fsync, c);
}

static void on_cfsync(void *arg, int status) {
  part_done(arg, status, step_swap);
}

static void part_done(log__compaction *c, int status,
                      void (*next)(log__compaction *)) {
  if (status < 0 && c->status == 0)
    c->status = status;
  SL_ASSERT(c->pending > 0);
  if (--c->pending > 0)
    return;
  if (c->status < 0)
    finish(c, c->status);
  else
    next(c);
}

static void on_nothing_timer(void *arg) {
  log__compaction *c = arg;
  c->timer = 0;
  finish(c, 0);
}

int log_compact(log_t *log, int64_t now_ms, int64_t offset_end,
                log_compact_cb cb, void *arg) {
  SL_ASSERT(log);
  if (!log->cfg.cleanup_compact)
    return -EINVAL;
  if (log->compaction || log->closing)
    return -EBUSY;
  if (log->failed || log__write_out(log, true) < 0)
    return -EIO;
  int64_t end = MIN(offset_end, log->recovery_point);
  guint n_segs = 0;
  while (n_segs + 1 < log->segments->len &&
         ((log__segment *)g_ptr_array_index(log->segments, n_segs + 1))
                 ->base_offset <= end)
    n_segs++;
  log__compaction *c = g_new0(log__compaction, 1);
  c->log = log;
  c->generation = log->generation;
  c->now_ms = now_ms;
  c->cb = cb;
  c->arg = arg;
  c->segs = g_array_new(FALSE, FALSE, sizeof(cseg));
  c->first_dirty = log->cleaner_offset;
  buf_init(&c->rebuilt);
  buf_init(&c->wbuf);
  map_init(&c->map, log->cfg.cleaner_keys_max);
  int rc = build_map(c, n_segs);
  for (guint i = 0; rc == 0 && i < n_segs; i++) {
    log__segment *seg = g_ptr_array_index(log->segments, i);
    if (seg->base_offset >= c->map_end)
      break;
    rc = clean_segment(c, seg);
  }
  log__release_scan_buf(log);
  c->stats.keys = c->map.used;
  c->stats.offset_cleaned_end =
      n_segs > 0
          ? MIN(c->map_end,
                ((log__segment *)g_ptr_array_index(log->segments, n_segs))
                    ->base_offset)
          : ((log__segment *)g_ptr_array_index(log->segments, 0))->base_offset;
  map_free(&c->map);
  if (rc < 0) {
    env_log(log->env, ENV_LOG_ERROR, "log %s: compaction failed: %s", log->dir,
            g_strerror(-rc));
    for (guint i = 0; i < c->segs->len; i++)
      unlink_segment_files(log, g_array_index(c->segs, cseg, i).base,
                           ".cleaned");
    log__compaction_free(c);
    return -EIO;
  }
  log->compaction = c;
  if (c->segs->len == 0) {
    c->timer = env_timer_start(log->env, 0, on_nothing_timer, c);
    return 0;
  }
  for (guint i = 0; i < c->segs->len; i++) {
    log__segment *s = g_array_index(c->segs, cseg, i).cleaned;
    c->pending += 3;
    env_file_fsync(s->file, on_cfsync, c);
    env_file_fsync(s->oindex.file, on_cfsync, c);
    env_file_fsync(s->tindex.file, on_cfsync, c);
    s->log_needs_fsync = s->oindex.needs_fsync = s->tindex.needs_fsync = false;
  }
  return 0;
}
