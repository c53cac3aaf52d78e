/*
 * Log compaction against a reference model on random keyed workloads:
 * after each pass the log must hold exactly the records the model keeps
 * (latest per key in the cleaned range, tombstones until
 * delete.retention.ms, keyless records, everything past the cleaned range),
 * at their original offsets, in files that verify and survive a reopen.
 */
#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/test_log_util.h"

typedef struct mrec {
  int64_t offset;
  int64_t ts;
  int key;     /* -1 = no key */
  int value;   /* -1 = tombstone */
  bool header; /* carries one record header */
} mrec;

static void rec_key(int key, char *out, size_t n) {
  snprintf(out, n, "key-%d", key);
}

/* Appends a random batch, recording its records in the model. */
static void append_keyed(log_t *log, GArray *model, test_rng *rng, int keys,
                         int64_t ts, int32_t epoch) {
  static const batch_codec codecs[] = {BATCH_CODEC_NONE, BATCH_CODEC_NONE,
                                       BATCH_CODEC_GZIP, BATCH_CODEC_ZSTD,
                                       BATCH_CODEC_LZ4,  BATCH_CODEC_SNAPPY};
  batch_builder_opts o = {codecs[test_rng_below(rng, G_N_ELEMENTS(codecs))],
                          0,
                          ts,
                          -1,
                          -1,
                          -1,
                          0,
                          -1};
  batch_builder *b = batch_builder_new(&o);
  int n = 1 + (int)test_rng_below(rng, 6);
  mrec recs[8];
  for (int i = 0; i < n; i++) {
    mrec r = {0, ts + i, (int)test_rng_below(rng, (uint64_t)keys), 0, false};
    uint64_t kind = test_rng_below(rng, 100);
    if (kind < 4)
      r.key = -1;
    r.value = kind >= 4 && kind < 16 ? -1 : (int)test_rng_below(rng, 1000000);
    r.header = test_rng_below(rng, 5) == 0;
    char key[32], val[64];
    rec_key(r.key, key, sizeof key);
    int vl = snprintf(val, sizeof val, "value-%d-%s", r.value,
                      "padding-padding-padding");
    batch_record_header h = {(const uint8_t *)"h", 1, (const uint8_t *)"v", 1};
    batch_builder_add(b, r.ts, r.key < 0 ? NULL : key,
                      r.key < 0 ? -1 : (int32_t)strlen(key),
                      r.value < 0 ? NULL : val, r.value < 0 ? -1 : vl,
                      r.header ? &h : NULL, r.header ? 1 : 0);
    recs[i] = r;
  }
  buf_t out = BUF_INIT;
  CU_ASSERT_EQUAL_FATAL(batch_builder_finish(b, -1, &out), 0);
  log_append_info info;
  CU_ASSERT_EQUAL(log_append(log, out.data, out.len, epoch, &info), KERR_NONE);
  for (int i = 0; i < n; i++) {
    recs[i].offset = info.base_offset + i;
    g_array_append_val(model, recs[i]);
  }
  buf_free(&out);
}

/* What one pass keeps. The map holds the records (in offset order) from
 * first_dirty below cleaned_end, until a key would be the keys_max + 1-th;
 * everything below the map's end is filtered: a record goes if the map
 * has a newer one for its key, a tombstone also once expired. */
static void model_compact(GArray *model, int64_t first_dirty,
                          int64_t cleaned_end, size_t keys_max, int64_t now_ms,
                          int64_t delete_retention_ms) {
  GHashTable *latest = g_hash_table_new(g_direct_hash, g_direct_equal);
  int64_t map_end = cleaned_end;
  for (guint i = 0; i < model->len; i++) {
    mrec *r = &g_array_index(model, mrec, i);
    if (r->offset >= cleaned_end)
      break;
    if (r->key < 0 || r->offset < first_dirty)
      continue;
    gpointer k = GINT_TO_POINTER(r->key + 1);
    if (!g_hash_table_contains(latest, k) &&
        g_hash_table_size(latest) >= keys_max) {
      map_end = r->offset;
      break;
    }
    g_hash_table_insert(latest, k, GINT_TO_POINTER((int)r->offset + 1));
  }
  GArray *kept = g_array_new(FALSE, FALSE, sizeof(mrec));
  for (guint i = 0; i < model->len; i++) {
    mrec *r = &g_array_index(model, mrec, i);
    bool keep = true;
    if (r->offset < map_end && r->key >= 0) {
      int64_t newest = GPOINTER_TO_INT(g_hash_table_lookup(
                           latest, GINT_TO_POINTER(r->key + 1))) -
                       1;
      if (newest > r->offset)
        keep = false;
      else if (r->value < 0 && now_ms - r->ts >= delete_retention_ms)
        keep = false;
    }
    if (keep)
      g_array_append_val(kept, *r);
  }
  g_array_set_size(model, 0);
  g_array_append_vals(model, kept->data, kept->len);
  g_array_free(kept, TRUE);
  g_hash_table_destroy(latest);
}

typedef struct collect {
  GArray *recs;
  bool ok;
} collect;

static void collect_batch(void *arg, const uint8_t *p, size_t len) {
  collect *c = arg;
  int err = 0;
  batch_iter *it = batch_iter_new(p, len, &err);
  if (!it) {
    c->ok = false;
    return;
  }
  batch_record r;
  int n;
  while ((n = batch_iter_next(it, &r)) == 1) {
    mrec m = {r.offset, r.timestamp, -1, -1, r.header_count == 1};
    if (r.key) {
      char k[32];
      memcpy(k, r.key, MIN((size_t)r.key_len, sizeof k - 1));
      k[MIN((size_t)r.key_len, sizeof k - 1)] = '\0';
      m.key = atoi(k + 4);
    }
    if (r.value)
      m.value = atoi((const char *)r.value + 6);
    g_array_append_val(c->recs, m);
  }
  if (n < 0)
    c->ok = false;
  batch_iter_free(it);
}

static void check_model(log_t *log, GArray *model, uint64_t seed) {
  buf_t all = BUF_INIT;
  CU_ASSERT_EQUAL(tl_read_all(log, 0, 3000, &all), KERR_NONE);
  collect c = {g_array_new(FALSE, FALSE, sizeof(mrec)), true};
  tl_batches(&all, collect_batch, &c);
  CU_ASSERT(c.ok);
  TEST_EQ_INT(c.recs->len, model->len, seed);
  for (guint i = 0; i < MIN(c.recs->len, model->len); i++) {
    mrec *a = &g_array_index(c.recs, mrec, i);
    mrec *b = &g_array_index(model, mrec, i);
    if (a->offset != b->offset || a->key != b->key || a->value != b->value ||
        a->ts != b->ts || a->header != b->header) {
      fprintf(stderr,
              "\n  record %u: got (%" PRId64 ", k%d, v%d) want (%" PRId64
              ", k%d, v%d) (seed %" PRIu64 ")",
              i, a->offset, a->key, a->value, b->offset, b->key, b->value,
              seed);
      CU_FAIL("record differs from the model");
      break;
    }
  }
  g_array_free(c.recs, TRUE);
  buf_free(&all);
}

typedef struct compact_wait {
  bool done;
  int status;
  log_compact_stats stats;
} compact_wait;

static void compact_done(void *arg, int status, const log_compact_stats *s) {
  compact_wait *w = arg;
  w->done = true;
  w->status = status;
  w->stats = *s;
}

static int run_compaction(tl_env *t, log_t *log, int64_t now_ms,
                          log_compact_stats *stats) {
  compact_wait w = {false, 0, {0}};
  int rc = log_compact(log, now_ms, log_end_offset(log), compact_done, &w);
  if (rc < 0)
    return rc;
  tl_run_until(t, &w.done);
  *stats = w.stats;
  return w.status;
}

/* Runs passes on one log; adds what they removed to counts[3] (records,
 * tombstones, segments rewritten). */
static void compaction_round(uint64_t seed, size_t keys_max, int keys,
                             uint64_t *counts) {
  test_rng rng;
  test_rng_init(&rng, seed);
  tl_env t;
  tl_setup(&t);
  log_config cfg;
  tl_config(&cfg);
  cfg.cleanup_compact = true;
  cfg.cleanup_delete = false;
  cfg.delete_retention_ms = 500;
  cfg.cleaner_keys_max = keys_max;
  log_t *log = NULL;
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 0, &log), 0);
  GArray *model = g_array_new(FALSE, FALSE, sizeof(mrec));
  int64_t ts = 0;
  uint64_t removed = 0, tombstones = 0, cleaned = 0;
  for (int pass = 0; pass < 5; pass++) {
    int n = 20 + (int)test_rng_below(&rng, 60);
    for (int i = 0; i < n; i++, ts += 10)
      append_keyed(log, model, &rng, keys, ts, pass);
    CU_ASSERT_EQUAL(tl_flush(&t, log), 0);
    int64_t now = ts + (int64_t)test_rng_below(&rng, 1000);
    log_compact_stats st = {0};
    int64_t first_dirty = log_cleaner_offset(log);
    CU_ASSERT_EQUAL(run_compaction(&t, log, now, &st), 0);
    model_compact(model, first_dirty, st.offset_cleaned_end, keys_max, now,
                  cfg.delete_retention_ms);
    TEST_EQ_INT(log_cleaner_offset(log),
                MAX(first_dirty, st.offset_cleaned_end), seed);
    check_model(log, model, seed);
    CU_ASSERT(st.keys <= keys_max);
    removed += st.records_removed;
    tombstones += st.tombstones_removed;
    cleaned += st.segments_cleaned;
    if (pass % 2 == 1) {
      int64_t rp = test_rng_below(&rng, 2) ? log_recovery_point(log) : 0;
      /* The cleaner offset survives through the log dir's checkpoint (or
       * starts over at 0, which is correct too, only slower). */
      int64_t cleaner = test_rng_below(&rng, 2) ? log_cleaner_offset(log) : 0;
      CU_ASSERT_EQUAL(tl_close(&t, log), 0);
      CU_ASSERT_EQUAL(tl_verify(&t), 0);
      CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, rp, 0, &log), 0);
      log_set_cleaner_offset(log, cleaner);
      check_model(log, model, seed);
    }
  }
  counts[0] += removed;
  counts[1] += tombstones;
  counts[2] += cleaned;
  if (getenv("SLUICE_TEST_VERBOSE"))
    fprintf(stderr,
            "\n  compaction: %" PRIu64 " removed, %" PRIu64
            " tombstones, %" PRIu64 " segments rewritten, %u kept",
            removed, tombstones, cleaned, model->len);
  /* Segments stay contiguous, so a full rescan keeps everything. */
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  CU_ASSERT_EQUAL(tl_verify(&t), 0);
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 0, &log), 0);
  check_model(log, model, seed);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  g_array_free(model, TRUE);
  tl_teardown(&t);
}

static void test_against_model(void) {
  uint64_t seed = test_seed();
  uint64_t counts[3] = {0, 0, 0};
  for (uint64_t i = 0; i < 6; i++)
    compaction_round(seed + i, (size_t)1 << 20, 3 + (int)(i * 7), counts);
  /* The workload exercises every rule. */
  CU_ASSERT(counts[0] > 0 && counts[1] > 0 && counts[2] > 0);
}

static void test_small_key_map(void) {
  uint64_t seed = test_seed();
  uint64_t counts[3] = {0, 0, 0};
  for (uint64_t i = 0; i < 4; i++)
    compaction_round(seed + 100 + i, 4 + i, 30, counts);
  CU_ASSERT(counts[0] > 0 && counts[2] > 0);
}

static void test_busy_and_cancel(void) {
  tl_env t;
  tl_setup(&t);
  log_config cfg;
  tl_config(&cfg);
  log_t *log = NULL;
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 0, &log), 0);
  compact_wait w = {false, 0, {0}};
  /* Not a compacted topic. */
  CU_ASSERT_EQUAL(log_compact(log, 0, 0, compact_done, &w), -EINVAL);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  tl_teardown(&t);

  tl_setup(&t);
  cfg.cleanup_compact = true;
  cfg.delete_retention_ms = 0;
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 0, &log), 0);
  GArray *model = g_array_new(FALSE, FALSE, sizeof(mrec));
  test_rng rng;
  test_rng_init(&rng, test_seed());
  for (int i = 0; i < 60; i++)
    append_keyed(log, model, &rng, 3, i * 10, 0);
  CU_ASSERT_EQUAL(tl_flush(&t, log), 0);
  /* Nothing below the recovery point yet after new appends? Still the old
   * segments: one pass at a time. */
  CU_ASSERT_EQUAL(log_compact(log, 1000, log_end_offset(log), compact_done, &w),
                  0);
  compact_wait w2 = {false, 0, {0}};
  CU_ASSERT_EQUAL(
      log_compact(log, 1000, log_end_offset(log), compact_done, &w2), -EBUSY);
  /* A truncation meanwhile cancels the pass and leaves no files behind. */
  CU_ASSERT_EQUAL(log_truncate_to(log, 5), KERR_NONE);
  tl_run_until(&t, &w.done);
  CU_ASSERT(w.status == -ECANCELED || w.status == 0);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  CU_ASSERT_EQUAL(tl_verify(&t), 0);
  g_array_free(model, TRUE);
  tl_teardown(&t);
}

int suite_log_compact(void) {
  TEST_SUITE("log_compact", {"against a model", test_against_model},
             {"small key map", test_small_key_map},
             {"busy and cancel", test_busy_and_cancel});
}
