/*
 * producers.c — the idempotent producer's state on one partition
 * (KAFKA-NOTES §9; Kafka's ProducerStateManager).
 *
 * An idempotent producer stamps each batch with (producer id, epoch, base
 * sequence); sequences grow by one per record, per partition. The broker
 * remembers, per producer, the epoch and its last BROKER_PRODUCER_BATCHES_KEPT
 * batches (first/last sequence, first/last offset):
 *  - a batch equal (same epoch, same first and last sequence) to one of
 *    them is a retry of something already appended: it is acknowledged
 *    with the original offset and not appended again;
 *  - a lower epoch is fenced: INVALID_PRODUCER_EPOCH;
 *  - a higher epoch must start at sequence 0;
 *  - the same epoch must continue at last sequence + 1 (INT32_MAX wraps
 *    to 0), else OUT_OF_ORDER_SEQUENCE_NUMBER;
 *  - a producer the partition has never seen may start anywhere.
 *
 * Surviving a restart: the state is rebuilt at open from the newest usable
 * snapshot plus the batches after it in the log. A snapshot is Kafka's
 * file `<20-digit offset>.snapshot` in the partition directory, in Kafka's
 * format (version 1): version int16, crc uint32 (CRC-32C of what follows),
 * then an int32 count of entries (producer id int64, epoch int16, last
 * sequence int32, last offset int64, offset delta int32, timestamp int64,
 * coordinator epoch int32, current txn first offset int64), sorted by
 * producer id. Like Kafka's, it keeps only each producer's newest batch;
 * the log after it restores up to five. A snapshot beyond the log end (the
 * log lost its unflushed tail in a crash) is deleted and an older one or
 * the whole log is used instead.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "base/assert.h"
#include "base/crc32c.h"
#include "broker/log/batch.h"
#include "broker/server/broker_internal.h"

#define SNAPSHOT_SUFFIX ".snapshot"
#define SNAPSHOT_VERSION 1
#define SNAPSHOT_HEADER_BYTES 6 /* version + crc */
#define SNAPSHOT_ENTRY_BYTES (8 + 2 + 4 + 8 + 4 + 8 + 4 + 8)

typedef struct batch_ids {
  int64_t producer_id;
  int16_t epoch;
  int32_t first_seq;
  int32_t last_seq;
  int64_t max_timestamp;
  bool control;
} batch_ids;

/* Kafka's DefaultRecordBatch.incrementSequence. */
static int32_t seq_add(int32_t seq, int32_t delta) {
  if (seq > INT32_MAX - delta)
    return delta - (INT32_MAX - seq) - 1;
  return seq + delta;
}

static void read_ids(const uint8_t *batch, batch_ids *ids) {
  ids->producer_id = (int64_t)be64_load(batch + BATCH_OFF_PRODUCER_ID);
  ids->epoch = (int16_t)be16_load(batch + BATCH_OFF_PRODUCER_EPOCH);
  ids->first_seq = (int32_t)be32_load(batch + BATCH_OFF_BASE_SEQUENCE);
  int32_t delta = (int32_t)be32_load(batch + BATCH_OFF_LAST_OFFSET_DELTA);
  ids->last_seq = ids->first_seq >= 0 && delta >= 0
                      ? seq_add(ids->first_seq, delta)
                      : ids->first_seq;
  ids->max_timestamp = (int64_t)be64_load(batch + BATCH_OFF_MAX_TIMESTAMP);
  ids->control =
      (be16_load(batch + BATCH_OFF_ATTRIBUTES) & BATCH_ATTR_CONTROL) != 0;
}

/* ----------------------------------------------------------------- check */

void broker__producer_check(broker__partition *p, const uint8_t *batch,
                            broker__seq_check *out) {
  batch_ids ids;
  read_ids(batch, &ids);
  memset(out, 0, sizeof *out);
  if (ids.producer_id < 0)
    return;
  broker__producer *e = g_hash_table_lookup(p->producers, &ids.producer_id);
  if (!e)
    return; /* an unknown producer may start anywhere */
  if (ids.epoch == e->epoch) {
    for (unsigned i = 0; i < e->batch_count; i++) {
      const broker__producer_batch *pb = &e->batches[i];
      if (pb->first_seq == ids.first_seq && pb->last_seq == ids.last_seq) {
        out->duplicate = true;
        out->first_offset = pb->first_offset;
        out->last_offset = pb->last_offset;
        return;
      }
    }
  }
  if (ids.epoch < e->epoch) {
    out->error = KERR_INVALID_PRODUCER_EPOCH;
    return;
  }
  if (ids.epoch > e->epoch) {
    if (ids.first_seq != 0)
      out->error = KERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
    return;
  }
  if (e->batch_count == 0)
    return;
  int32_t last = e->batches[e->batch_count - 1].last_seq;
  if (ids.first_seq != seq_add(last, 1))
    out->error = KERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
}

/* ---------------------------------------------------------------- record */

/* Forgets the least recently active producer (the map is full). */
static void evict_one(broker__partition *p) {
  GHashTableIter it;
  gpointer v;
  broker__producer *oldest = NULL;
  g_hash_table_iter_init(&it, p->producers);
  while (g_hash_table_iter_next(&it, NULL, &v)) {
    broker__producer *e = v;
    if (!oldest || e->last_active_ms < oldest->last_active_ms ||
        (e->last_active_ms == oldest->last_active_ms &&
         e->producer_id < oldest->producer_id))
      oldest = e;
  }
  if (oldest)
    g_hash_table_remove(p->producers, &oldest->producer_id);
}

static void record_ids(broker__partition *p, const batch_ids *ids,
                       int64_t first_offset, int64_t last_offset,
                       int64_t now_ms) {
  if (ids->producer_id < 0 || ids->control)
    return;
  broker__producer *e = g_hash_table_lookup(p->producers, &ids->producer_id);
  if (!e) {
    if (g_hash_table_size(p->producers) >= BROKER_PRODUCERS_PER_PARTITION_MAX)
      evict_one(p);
    e = g_new0(broker__producer, 1);
    e->producer_id = ids->producer_id;
    e->epoch = ids->epoch;
    g_hash_table_insert(p->producers, &e->producer_id, e);
  }
  if (ids->epoch != e->epoch) {
    e->epoch = ids->epoch;
    e->batch_count = 0;
  }
  if (e->batch_count == BROKER_PRODUCER_BATCHES_KEPT) {
    memmove(&e->batches[0], &e->batches[1],
            sizeof e->batches[0] * (BROKER_PRODUCER_BATCHES_KEPT - 1));
    e->batch_count--;
  }
  broker__producer_batch *pb = &e->batches[e->batch_count++];
  pb->first_seq = ids->first_seq;
  pb->last_seq = ids->last_seq;
  pb->first_offset = first_offset;
  pb->last_offset = last_offset;
  e->last_timestamp_ms = ids->max_timestamp;
  e->last_active_ms = now_ms;
}

void broker__producer_record(broker_t *b, broker__partition *p,
                             const uint8_t *batch, int64_t base_offset,
                             int64_t last_offset) {
  batch_ids ids;
  read_ids(batch, &ids);
  record_ids(p, &ids, base_offset, last_offset, broker__now_ms(b));
}

void broker__producers_expire(broker_t *b, broker__partition *p,
                              int64_t now_ms) {
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init(&it, p->producers);
  while (g_hash_table_iter_next(&it, NULL, &v)) {
    broker__producer *e = v;
    if (now_ms - e->last_active_ms > b->cfg->producer_id_expiration_ms)
      g_hash_table_iter_remove(&it);
  }
}

void broker__producers_free(broker__partition *p) {
  g_hash_table_remove_all(p->producers);
}

/* -------------------------------------------------------------- snapshots */

static gint cmp_producer_ptr(gconstpointer a, gconstpointer b) {
  const broker__producer *x = *(broker__producer *const *)a;
  const broker__producer *y = *(broker__producer *const *)b;
  return x->producer_id < y->producer_id   ? -1
         : x->producer_id > y->producer_id ? 1
                                           : 0;
}

static void snapshot_encode(broker__partition *p, buf_t *out) {
  GPtrArray *es = g_ptr_array_new();
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init(&it, p->producers);
  while (g_hash_table_iter_next(&it, NULL, &v)) {
    broker__producer *e = v;
    if (e->batch_count > 0)
      g_ptr_array_add(es, e);
  }
  g_ptr_array_sort(es, cmp_producer_ptr);
  buf_put_be16(out, SNAPSHOT_VERSION);
  size_t crc_at = out->len;
  buf_put_be32(out, 0);
  buf_put_be32(out, es->len);
  for (guint i = 0; i < es->len; i++) {
    broker__producer *e = g_ptr_array_index(es, i);
    const broker__producer_batch *pb = &e->batches[e->batch_count - 1];
    buf_put_be64(out, (uint64_t)e->producer_id);
    buf_put_be16(out, (uint16_t)e->epoch);
    buf_put_be32(out, (uint32_t)pb->last_seq);
    buf_put_be64(out, (uint64_t)pb->last_offset);
    buf_put_be32(out, (uint32_t)(pb->last_offset - pb->first_offset));
    buf_put_be64(out, (uint64_t)e->last_timestamp_ms);
    buf_put_be32(out, (uint32_t)-1); /* coordinator epoch */
    buf_put_be64(out, (uint64_t)-1); /* current txn first offset */
  }
  buf_set_be32(out, crc_at,
               crc32c(out->data + crc_at + 4, out->len - crc_at - 4));
  g_ptr_array_unref(es);
}

/* Loads a snapshot's entries into p. Returns 0 or -EINVAL (bad file). */
static int snapshot_decode(broker_t *b, broker__partition *p,
                           const uint8_t *data, size_t len) {
  buf_reader_t r;
  buf_reader_init(&r, data, len);
  uint16_t version = buf_get_be16(&r);
  uint32_t crc = buf_get_be32(&r);
  if (r.error || version != SNAPSHOT_VERSION ||
      crc32c(data + SNAPSHOT_HEADER_BYTES, len - SNAPSHOT_HEADER_BYTES) != crc)
    return -EINVAL;
  uint32_t n = buf_get_be32(&r);
  if (r.error || (uint64_t)n * SNAPSHOT_ENTRY_BYTES != buf_reader_left(&r))
    return -EINVAL;
  int64_t now = broker__now_ms(b);
  for (uint32_t i = 0; i < n; i++) {
    batch_ids ids;
    memset(&ids, 0, sizeof ids);
    ids.producer_id = (int64_t)buf_get_be64(&r);
    ids.epoch = (int16_t)buf_get_be16(&r);
    ids.last_seq = (int32_t)buf_get_be32(&r);
    int64_t last_offset = (int64_t)buf_get_be64(&r);
    int32_t delta = (int32_t)buf_get_be32(&r);
    ids.max_timestamp = (int64_t)buf_get_be64(&r);
    (void)buf_get_be32(&r);
    (void)buf_get_be64(&r);
    if (ids.producer_id < 0 || delta < 0 || ids.last_seq < 0)
      return -EINVAL;
    ids.first_seq = ids.last_seq - delta;
    if (ids.first_seq < 0) /* the sequence wrapped inside the batch */
      ids.first_seq += INT32_MAX;
    record_ids(p, &ids, last_offset - delta, last_offset, now);
  }
  return r.error ? -EINVAL : 0;
}

static bool parse_snapshot_name(const char *name, int64_t *offset) {
  size_t n = strlen(name);
  if (n != 20 + strlen(SNAPSHOT_SUFFIX) ||
      !g_str_has_suffix(name, SNAPSHOT_SUFFIX))
    return false;
  int64_t v = 0;
  for (size_t i = 0; i < 20; i++) {
    if (name[i] < '0' || name[i] > '9' || v > (INT64_MAX - 9) / 10)
      return false;
    v = v * 10 + (name[i] - '0');
  }
  *offset = v;
  return true;
}

static gint cmp_i64(gconstpointer a, gconstpointer b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y ? 1 : 0;
}

/* The snapshot offsets in dir, ascending. */
static GArray *list_snapshots(env_t *env, const char *dir) {
  GArray *offs = g_array_new(FALSE, FALSE, sizeof(int64_t));
  char **names = NULL;
  if (env_list_dir(env, dir, &names) < 0)
    return offs;
  for (size_t i = 0; names[i]; i++) {
    int64_t off;
    if (parse_snapshot_name(names[i], &off))
      g_array_append_val(offs, off);
  }
  env_names_free(names);
  g_array_sort(offs, cmp_i64);
  return offs;
}

static void unlink_snapshot(env_t *env, const char *dir, int64_t offset) {
  char *path = g_strdup_printf("%s/%020" PRId64 SNAPSHOT_SUFFIX, dir, offset);
  int rc = env_unlink(env, path);
  if (rc < 0 && rc != -ENOENT)
    env_log(env, ENV_LOG_WARN, "removing %s: %s", path, g_strerror(-rc));
  g_free(path);
}

/* Adds the producer batches of the log from offset to its end. */
static int scan_log(broker_t *b, broker__partition *p, int64_t offset) {
  buf_t data = BUF_INIT;
  int rc = 0;
  int64_t end = log_end_offset(p->log);
  int64_t now = broker__now_ms(b);
  while (offset < end) {
    log_read_info info;
    buf_clear(&data);
    rc = log_read(p->log, offset, BROKER_SCAN_READ_BYTES, LOG_OFFSET_MAX,
                  &data, &info);
    if (rc != 0 || info.batch_count == 0)
      break;
    size_t pos = 0;
    while (pos + BATCH_HEADER_BYTES <= data.len) {
      int64_t total = batch_total_bytes(data.data + pos, data.len - pos);
      if (total < BATCH_HEADER_BYTES || (uint64_t)total > data.len - pos)
        break;
      batch_ids ids;
      read_ids(data.data + pos, &ids);
      batch_header h;
      if (batch_header_parse(data.data + pos, (size_t)total, &h) == 0)
        record_ids(p, &ids, h.base_offset, batch_last_offset(&h), now);
      pos += (size_t)total;
    }
    if (info.offset_next <= offset)
      break;
    offset = info.offset_next;
  }
  buf_free(&data);
  return rc;
}

int broker__producers_load(broker_t *b, broker__partition *p) {
  g_hash_table_remove_all(p->producers);
  int64_t end = log_end_offset(p->log);
  int64_t start = log_start_offset(p->log);
  GArray *offs = list_snapshots(b->env, p->path);
  int64_t from = start;
  p->snapshot_offset = -1;
  for (guint i = offs->len; i-- > 0;) {
    int64_t off = g_array_index(offs, int64_t, i);
    if (off > end) {
      unlink_snapshot(b->env, p->path, off);
      continue;
    }
    if (p->snapshot_offset >= 0)
      continue; /* an older one; kept until newer ones are written */
    char *path =
        g_strdup_printf("%s/%020" PRId64 SNAPSHOT_SUFFIX, p->path, off);
    char *text = NULL;
    size_t len = 0;
    int rc = broker__read_file(b->env, path, BROKER_SMALL_FILE_BYTES_MAX,
                               &text, &len);
    if (rc == 0)
      rc = snapshot_decode(b, p, (const uint8_t *)text, len);
    if (rc < 0) {
      env_log(b->env, ENV_LOG_WARN, "%s: unusable (%s); ignoring it", path,
              g_strerror(-rc));
      g_hash_table_remove_all(p->producers);
    } else {
      p->snapshot_offset = off;
      from = off > start ? off : start;
    }
    g_free(text);
    g_free(path);
  }
  g_array_free(offs, TRUE);
  return scan_log(b, p, from);
}

typedef struct snap_write {
  broker_t *b;
  broker__afile *file;
  broker_done_cb cb;
  void *arg;
  char dir[]; /* the partition directory */
} snap_write;

static void on_snapshot_written(void *arg, int status) {
  snap_write *w = arg;
  broker_t *b = w->b;
  if (status == 0) {
    GArray *offs = list_snapshots(b->env, w->dir);
    for (guint i = 0; i + BROKER_SNAPSHOTS_KEPT < offs->len; i++)
      unlink_snapshot(b->env, w->dir, g_array_index(offs, int64_t, i));
    g_array_free(offs, TRUE);
  }
  g_ptr_array_remove_fast(b->oneshot_files, w->file);
  broker__afile_free(w->file);
  broker_done_cb cb = w->cb;
  void *cb_arg = w->arg;
  broker__op_release(b, w);
  if (cb)
    cb(cb_arg, status);
  broker__op_end(b);
}

bool broker__producers_snapshot(broker_t *b, broker__partition *p,
                                broker_done_cb cb, void *arg) {
  if (!p->log || !p->path)
    return false;
  int64_t end = log_end_offset(p->log);
  if (end == p->snapshot_offset)
    return false;
  buf_t data = BUF_INIT;
  snapshot_encode(p, &data);
  char name[32];
  snprintf(name, sizeof name, "%020" PRId64 SNAPSHOT_SUFFIX, end);
  snap_write *w = broker__op_alloc(b, sizeof *w + strlen(p->path) + 1);
  w->b = b;
  memcpy(w->dir, p->path, strlen(p->path) + 1);
  w->cb = cb;
  w->arg = arg;
  w->file = broker__afile_new(b->env, p->path, name);
  g_ptr_array_add(b->oneshot_files, w->file);
  p->snapshot_offset = end;
  broker__op_begin(b);
  broker__afile_write(w->file, data.data, data.len, on_snapshot_written, w);
  buf_free(&data);
  return true;
}
