/*
 * Partition log (broker/log/log.h): append, read, indexes, lookup by
 * offset and time, rolling, flushing, truncation, log start offset,
 * retention, leader epochs, checkpoints — on the libuv env over a
 * temporary directory, checked against a simple in-memory model.
 */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <inttypes.h>
#include <string.h>

#include <unistd.h>

#include "tests/unit/test_log_util.h"

/* ------------------------------------------------------------------ model */

typedef struct mbatch {
  int64_t base;
  int64_t last;
  GBytes *bytes; /* as stored (offset and epoch assigned) */
} mbatch;

typedef struct model {
  GArray *batches; /* mbatch */
} model;

static void model_init(model *m) {
  m->batches = g_array_new(FALSE, FALSE, sizeof(mbatch));
}

static void model_free(model *m) {
  for (guint i = 0; i < m->batches->len; i++)
    g_bytes_unref(g_array_index(m->batches, mbatch, i).bytes);
  g_array_free(m->batches, TRUE);
}

static void model_truncate(model *m, int64_t offset) {
  while (m->batches->len > 0) {
    mbatch *b = &g_array_index(m->batches, mbatch, m->batches->len - 1);
    if (b->last < offset)
      break;
    g_bytes_unref(b->bytes);
    g_array_set_size(m->batches, m->batches->len - 1);
  }
}

/* Appends a random batch to both; returns its record count. */
static int append_random(log_t *log, model *m, test_rng *rng, int64_t ts,
                         int32_t epoch, int value_max) {
  int n = 1 + (int)test_rng_below(rng, 5);
  buf_t b = BUF_INIT;
  tl_batch(&b, n, ts, test_rng_next(rng), (int)test_rng_below(rng, value_max));
  log_append_info info;
  int rc = log_append(log, b.data, b.len, epoch, &info);
  CU_ASSERT_EQUAL(rc, KERR_NONE);
  if (rc == KERR_NONE) {
    mbatch mb = {info.base_offset, info.last_offset,
                 g_bytes_new(b.data, b.len)};
    g_array_append_val(m->batches, mb);
  }
  buf_free(&b);
  return n;
}

/* The concatenation of the model's batches from the one holding `from`. */
static void model_bytes_from(const model *m, int64_t from, buf_t *out) {
  for (guint i = 0; i < m->batches->len; i++) {
    mbatch *b = &g_array_index(m->batches, mbatch, i);
    if (b->last < from)
      continue;
    gsize n;
    const void *d = g_bytes_get_data(b->bytes, &n);
    buf_append(out, d, n);
  }
}

/* log_read_view gives exactly what log_read copies — the same bytes, info
 * and errors — for random offsets (some out of range), sizes and upper
 * bounds. */
static void check_views_match_reads(log_t *log, uint64_t seed) {
  test_rng rng;
  test_rng_init(&rng, seed ^ (uint64_t)log_end_offset(log) * 977);
  int64_t lo = log_start_offset(log), hi = log_end_offset(log);
  for (int i = 0; i < 40; i++) {
    int64_t off =
        lo - 1 + (int64_t)test_rng_below(&rng, (uint64_t)(hi - lo) + 3);
    size_t max_bytes = 1 + (size_t)test_rng_below(&rng, 6000);
    int64_t offset_max = test_rng_below(&rng, 4)
                             ? LOG_OFFSET_MAX
                             : off + (int64_t)test_rng_below(&rng, 20);
    buf_t copy = BUF_INIT;
    buf_append(&copy, "xy", 2); /* log_read appends after what is there */
    log_read_info ci, vi;
    int rc_copy = log_read(log, off, max_bytes, offset_max, &copy, &ci);
    const uint8_t *view = NULL;
    size_t view_len = 99;
    int rc_view =
        log_read_view(log, off, max_bytes, offset_max, &view, &view_len, &vi);
    TEST_EQ_INT(rc_view, rc_copy, seed);
    TEST_EQ_INT(view_len, copy.len - 2, seed);
    CU_ASSERT(view_len == copy.len - 2 &&
              (view_len == 0 || memcmp(view, copy.data + 2, view_len) == 0));
    CU_ASSERT(view_len > 0 || view == NULL);
    TEST_EQ_INT(vi.offset_next, ci.offset_next, seed);
    TEST_EQ_INT(vi.batch_count, ci.batch_count, seed);
    TEST_EQ_INT(vi.log_start_offset, ci.log_start_offset, seed);
    TEST_EQ_INT(vi.log_end_offset, ci.log_end_offset, seed);
    buf_free(&copy);
  }
}

/* The whole log from `from`, sequentially through views. */
static int read_all_views(log_t *log, int64_t from, size_t max_bytes,
                          buf_t *out) {
  int64_t off = from;
  while (off < log_end_offset(log)) {
    const uint8_t *view = NULL;
    size_t len = 0;
    log_read_info info;
    int rc =
        log_read_view(log, off, max_bytes, LOG_OFFSET_MAX, &view, &len, &info);
    if (rc != KERR_NONE)
      return rc;
    buf_append(out, view, len);
    if (info.offset_next <= off)
      return -1;
    off = info.offset_next;
  }
  return KERR_NONE;
}

static void check_log_equals_model(log_t *log, const model *m, int64_t from,
                                   uint64_t seed) {
  buf_t got = BUF_INIT, want = BUF_INIT, viewed = BUF_INIT;
  CU_ASSERT_EQUAL(tl_read_all(log, from, 1000, &got), KERR_NONE);
  CU_ASSERT_EQUAL(read_all_views(log, from, 700, &viewed), KERR_NONE);
  model_bytes_from(m, from, &want);
  TEST_EQ_INT(got.len, want.len, seed);
  CU_ASSERT(got.len == want.len &&
            (got.len == 0 || memcmp(got.data, want.data, got.len) == 0));
  TEST_EQ_INT(viewed.len, want.len, seed);
  CU_ASSERT(viewed.len == want.len &&
            (viewed.len == 0 ||
             memcmp(viewed.data, want.data, viewed.len) == 0));
  check_views_match_reads(log, seed);
  buf_free(&got);
  buf_free(&want);
  buf_free(&viewed);
}

/* ------------------------------------------------------------------ tests */

static void test_append_read(void) {
  tl_env t;
  tl_setup(&t);
  log_config cfg;
  tl_config(&cfg);
  log_t *log = NULL;
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 0, &log), 0);
  CU_ASSERT_EQUAL(log_end_offset(log), 0);
  CU_ASSERT_EQUAL(log_start_offset(log), 0);
  model m;
  model_init(&m);
  test_rng rng;
  uint64_t seed = test_seed();
  test_rng_init(&rng, seed);
  int64_t expect_leo = 0;
  for (int i = 0; i < 300; i++)
    expect_leo += append_random(log, &m, &rng, 1000 + i, 0, 200);
  TEST_EQ_INT(log_end_offset(log), expect_leo, seed);
  CU_ASSERT(log_segment_count(log) > 3);
  /* Offsets are contiguous and assigned from 0. */
  int64_t next = 0;
  for (guint i = 0; i < m.batches->len; i++) {
    mbatch *b = &g_array_index(m.batches, mbatch, i);
    TEST_EQ_INT(b->base, next, seed);
    next = b->last + 1;
  }
  check_log_equals_model(log, &m, 0, seed);
  /* Every offset reads back the batch holding it. */
  for (int64_t off = 0; off < expect_leo;
       off += 1 + (int64_t)test_rng_below(&rng, 7)) {
    buf_t got = BUF_INIT;
    log_read_info info;
    CU_ASSERT_EQUAL(log_read(log, off, 1, LOG_OFFSET_MAX, &got, &info),
                    KERR_NONE);
    TEST_EQ_INT(info.batch_count, 1, seed);
    batch_header h;
    CU_ASSERT_EQUAL(batch_header_parse(got.data, got.len, &h), 0);
    CU_ASSERT(h.base_offset <= off && batch_last_offset(&h) >= off);
    TEST_EQ_INT(info.offset_next, batch_last_offset(&h) + 1, seed);
    buf_free(&got);
  }
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  /* Reopen trusting everything (recovery point = LEO): same bytes. */
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, expect_leo, 0, &log), 0);
  TEST_EQ_INT(log_end_offset(log), expect_leo, seed);
  check_log_equals_model(log, &m, 0, seed);
  /* And after a full rescan. */
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 0, &log), 0);
  TEST_EQ_INT(log_end_offset(log), expect_leo, seed);
  check_log_equals_model(log, &m, 0, seed);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  model_free(&m);
  tl_teardown(&t);
}

static void test_read_semantics(void) {
  tl_env t;
  tl_setup(&t);
  log_config cfg;
  tl_config(&cfg);
  cfg.segment_bytes = 1 << 20;
  log_t *log = NULL;
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 0, &log), 0);
  tl_append(log, 3, 100, 1, 500, -1); /* 0..2 */
  tl_append(log, 2, 200, 2, 500, -1); /* 3..4 */
  tl_append(log, 4, 300, 3, 500, -1); /* 5..8 */
  buf_t out = BUF_INIT;
  log_read_info info;
  /* KIP-74: max_bytes smaller than the first batch still returns it. */
  CU_ASSERT_EQUAL(log_read(log, 0, 10, LOG_OFFSET_MAX, &out, &info), KERR_NONE);
  CU_ASSERT_EQUAL(info.batch_count, 1);
  CU_ASSERT_EQUAL(info.offset_next, 3);
  /* Mid-batch offset: the whole holding batch. */
  buf_clear(&out);
  CU_ASSERT_EQUAL(log_read(log, 4, 1 << 20, LOG_OFFSET_MAX, &out, &info),
                  KERR_NONE);
  CU_ASSERT_EQUAL(info.batch_count, 2);
  batch_header h;
  CU_ASSERT_EQUAL(batch_header_parse(out.data, out.len, &h), 0);
  CU_ASSERT_EQUAL(h.base_offset, 3);
  /* offset_max (the high watermark) excludes batches reaching it. */
  buf_clear(&out);
  CU_ASSERT_EQUAL(log_read(log, 0, 1 << 20, 8, &out, &info), KERR_NONE);
  CU_ASSERT_EQUAL(info.batch_count, 2);
  CU_ASSERT_EQUAL(info.offset_next, 5);
  buf_clear(&out);
  CU_ASSERT_EQUAL(log_read(log, 5, 1 << 20, 5, &out, &info), KERR_NONE);
  CU_ASSERT_EQUAL(info.batch_count, 0);
  CU_ASSERT_EQUAL(out.len, 0);
  /* Out of range; at the LEO: empty. */
  CU_ASSERT_EQUAL(log_read(log, 10, 100, LOG_OFFSET_MAX, &out, &info),
                  KERR_OFFSET_OUT_OF_RANGE);
  CU_ASSERT_EQUAL(log_read(log, -1, 100, LOG_OFFSET_MAX, &out, &info),
                  KERR_OFFSET_OUT_OF_RANGE);
  CU_ASSERT_EQUAL(log_read(log, 9, 100, LOG_OFFSET_MAX, &out, &info),
                  KERR_NONE);
  CU_ASSERT_EQUAL(info.batch_count, 0);
  CU_ASSERT_EQUAL(out.len, 0);
  /* Bytes that are not one whole batch are refused. */
  buf_t b = BUF_INIT;
  tl_batch(&b, 1, 1, 1, 10);
  log_append_info ai;
  CU_ASSERT_EQUAL(log_append(log, b.data, b.len - 1, -1, &ai),
                  KERR_CORRUPT_MESSAGE);
  CU_ASSERT_EQUAL(log_append(log, b.data, 20, -1, &ai), KERR_CORRUPT_MESSAGE);
  buf_free(&b);
  buf_free(&out);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  tl_teardown(&t);
}

static void test_segment_files(void) {
  tl_env t;
  tl_setup(&t);
  log_config cfg;
  tl_config(&cfg);
  log_t *log = NULL;
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 0, &log), 0);
  for (int i = 0; i < 40; i++)
    tl_append(log, 2, 1000 + i, (uint64_t)i, 300, -1);
  size_t n = log_segment_count(log);
  int64_t bases[64];
  CU_ASSERT(log_segment_bases(log, bases, 64) == n && n >= 4);
  CU_ASSERT_EQUAL(bases[0], 0);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  for (size_t i = 0; i < n; i++) {
    char name[64];
    snprintf(name, sizeof name, "%020" PRId64 ".log", bases[i]);
    CU_ASSERT(tl_exists(&t, name));
    gsize len = 0;
    gchar *data = tl_slurp(&t, name, &len);
    CU_ASSERT(len > 0 && len <= (gsize)cfg.segment_bytes);
    /* First batch of each segment carries the segment's base offset. */
    CU_ASSERT(data && len >= 8 &&
              (int64_t)be64_load((uint8_t *)data) == bases[i]);
    g_free(data);
    snprintf(name, sizeof name, "%020" PRId64 ".index", bases[i]);
    data = tl_slurp(&t, name, &len);
    CU_ASSERT(data != NULL && len % 8 == 0 && len > 0);
    g_free(data);
    snprintf(name, sizeof name, "%020" PRId64 ".timeindex", bases[i]);
    data = tl_slurp(&t, name, &len);
    CU_ASSERT(data != NULL && len % 12 == 0 && len > 0);
    g_free(data);
  }
  CU_ASSERT(tl_exists(&t, "leader-epoch-checkpoint"));
  CU_ASSERT_EQUAL(tl_verify(&t), 0);
  tl_teardown(&t);
}

/* The offset index follows Kafka's rule: an entry (last offset of the
 * batch, its position) whenever more than index.interval.bytes were
 * appended since the previous entry (counting before the batch). */
static void test_index_entries(void) {
  tl_env t;
  tl_setup(&t);
  log_config cfg;
  tl_config(&cfg);
  cfg.segment_bytes = 1 << 20;
  cfg.index_interval_bytes = 1000;
  log_t *log = NULL;
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 0, &log), 0);
  GArray *expect = g_array_new(FALSE, FALSE, sizeof(int64_t) * 2);
  uint64_t since = 0, pos = 0;
  bool last_indexed = false;
  for (int i = 0; i < 50; i++) {
    buf_t b = BUF_INIT;
    tl_batch(&b, 1 + i % 3, 10 * i, (uint64_t)i, 100 + 37 * (i % 11));
    log_append_info info;
    CU_ASSERT_EQUAL(log_append(log, b.data, b.len, -1, &info), 0);
    last_indexed = since > 1000;
    if (since > 1000) {
      int64_t e[2] = {info.last_offset, (int64_t)pos};
      g_array_append_vals(expect, e, 1);
      since = 0;
    }
    since += b.len;
    pos += b.len;
    buf_free(&b);
  }
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  gsize len = 0;
  gchar *idx = tl_slurp(&t, "00000000000000000000.index", &len);
  CU_ASSERT_EQUAL_FATAL(len, expect->len * 8);
  for (guint i = 0; i < expect->len; i++) {
    int64_t *e = (int64_t *)(void *)expect->data + 2 * i;
    CU_ASSERT_EQUAL((int32_t)be32_load((uint8_t *)idx + i * 8), e[0]);
    CU_ASSERT_EQUAL((int32_t)be32_load((uint8_t *)idx + i * 8 + 4), e[1]);
  }
  g_free(idx);
  /* Timestamps grow with offsets here, so each time entry matches. */
  gchar *tix = tl_slurp(&t, "00000000000000000000.timeindex", &len);
  /* ... plus the final entry (the segment's max timestamp) from close. */
  TEST_EQ_INT(len / 12, expect->len + (last_indexed ? 0 : 1), 0);
  g_free(tix);
  g_array_free(expect, TRUE);
  tl_teardown(&t);
}

/* The first offset whose record timestamp >= ts, in offset order. */
static int64_t model_offset_for_ts(const model *m, int64_t ts, int64_t start,
                                   int64_t *found_ts) {
  for (guint i = 0; i < m->batches->len; i++) {
    mbatch *mb = &g_array_index(m->batches, mbatch, i);
    gsize n;
    const uint8_t *d = g_bytes_get_data(mb->bytes, &n);
    int err;
    batch_iter *it = batch_iter_new(d, n, &err);
    batch_record r;
    while (it && batch_iter_next(it, &r) == 1) {
      if (r.offset >= start && r.timestamp >= ts) {
        *found_ts = r.timestamp;
        batch_iter_free(it);
        return r.offset;
      }
    }
    batch_iter_free(it);
  }
  *found_ts = -1;
  return -1;
}

static void check_time_lookups(log_t *log, const model *m, test_rng *rng,
                               int64_t ts_max, uint64_t seed) {
  for (int q = 0; q < 200; q++) {
    int64_t ts = (int64_t)test_rng_below(rng, (uint64_t)ts_max + 20) - 10;
    int64_t off = -2, fts = -2, want_ts = -2;
    CU_ASSERT_EQUAL(log_offset_for_timestamp(log, ts, &off, &fts), KERR_NONE);
    int64_t want = model_offset_for_ts(m, ts, log_start_offset(log), &want_ts);
    TEST_EQ_INT(off, want, seed);
    TEST_EQ_INT(fts, want_ts, seed);
  }
}

static void test_time_lookup(void) {
  uint64_t seed = test_seed();
  for (int monotonic = 1; monotonic >= 0; monotonic--) {
    tl_env t;
    tl_setup(&t);
    log_config cfg;
    tl_config(&cfg);
    log_t *log = NULL;
    CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 0, &log), 0);
    model m;
    model_init(&m);
    test_rng rng;
    test_rng_init(&rng, seed + (uint64_t)monotonic);
    int64_t ts_max = 0;
    for (int i = 0; i < 200; i++) {
      int64_t ts = monotonic ? 10 * i : (int64_t)test_rng_below(&rng, 2000);
      append_random(log, &m, &rng, ts, -1, 150);
      ts_max = MAX(ts_max, ts + 5);
    }
    check_time_lookups(log, &m, &rng, ts_max, seed);
    int64_t leo = log_end_offset(log);
    CU_ASSERT_EQUAL(tl_close(&t, log), 0);
    /* From the index files of rolled segments. */
    CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, leo, 0, &log), 0);
    check_time_lookups(log, &m, &rng, ts_max, seed);
    /* Not below the log start offset. */
    CU_ASSERT_EQUAL(log_advance_start_offset(log, leo / 3), KERR_NONE);
    check_time_lookups(log, &m, &rng, ts_max, seed);
    CU_ASSERT_EQUAL(tl_close(&t, log), 0);
    model_free(&m);
    tl_teardown(&t);
  }
}

static void test_roll_conditions(void) {
  tl_env t;
  tl_setup(&t);
  log_config cfg;
  tl_config(&cfg);
  cfg.segment_bytes = 1 << 20;
  /* Age: the first batch's max timestamp vs the new batch's. */
  cfg.segment_ms = 1000;
  log_t *log = NULL;
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 0, &log), 0);
  tl_append(log, 1, 5000, 1, 10, -1);
  tl_append(log, 1, 5900, 2, 10, -1);
  CU_ASSERT_EQUAL(log_segment_count(log), 1);
  tl_append(log, 1, 6001, 3, 10, -1);
  CU_ASSERT_EQUAL(log_segment_count(log), 2);
  /* Explicit roll; a roll of an empty active segment does nothing. */
  CU_ASSERT_EQUAL(log_roll(log), KERR_NONE);
  CU_ASSERT_EQUAL(log_roll(log), KERR_NONE);
  CU_ASSERT_EQUAL(log_segment_count(log), 3);
  int64_t bases[8];
  log_segment_bases(log, bases, 8);
  CU_ASSERT_EQUAL(bases[1], 2);
  CU_ASSERT_EQUAL(bases[2], 3);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  tl_teardown(&t);

  /* A full index rolls: 24 bytes of index = 3 offset entries, 2 time
   * entries. */
  tl_setup(&t);
  tl_config(&cfg);
  cfg.segment_bytes = 1 << 20;
  cfg.segment_index_bytes = 24;
  cfg.index_interval_bytes = 0;
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 0, &log), 0);
  for (int i = 0; i < 10; i++)
    tl_append(log, 1, 100 + i, (uint64_t)i, 10, -1);
  CU_ASSERT(log_segment_count(log) >= 3);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  CU_ASSERT_EQUAL(tl_verify(&t), 0);
  tl_teardown(&t);

  /* Relative offsets must fit in int32: a follower batch far ahead rolls. */
  tl_setup(&t);
  tl_config(&cfg);
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 0, &log), 0);
  tl_append(log, 1, 1, 1, 10, -1);
  buf_t b = BUF_INIT;
  tl_batch(&b, 2, 5, 9, 10);
  int64_t far = (int64_t)INT32_MAX + 100;
  batch_set_base_offset(b.data, far);
  log_append_info info;
  CU_ASSERT_EQUAL(log_append_follower(log, b.data, b.len, &info), KERR_NONE);
  CU_ASSERT_EQUAL(info.base_offset, far);
  CU_ASSERT_EQUAL(log_end_offset(log), far + 2);
  CU_ASSERT_EQUAL(log_segment_count(log), 2);
  log_segment_bases(log, bases, 8);
  CU_ASSERT_EQUAL(bases[1], far);
  /* Below the LEO: refused. */
  batch_set_base_offset(b.data, far);
  CU_ASSERT_EQUAL(log_append_follower(log, b.data, b.len, &info),
                  KERR_OFFSET_OUT_OF_RANGE);
  buf_free(&b);
  int64_t leo = log_end_offset(log);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 0, &log), 0);
  CU_ASSERT_EQUAL(log_end_offset(log), leo);
  buf_t all = BUF_INIT;
  CU_ASSERT_EQUAL(tl_read_all(log, 0, 100, &all), KERR_NONE);
  CU_ASSERT_EQUAL(tl_batches(&all, NULL, NULL), 2);
  buf_free(&all);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  tl_teardown(&t);
}

/* A follower copies a compacted leader: gaps between batches. They land
 * inside segments (rolls start at the LEO), so a full rescan keeps all. */
static void test_follower_gaps(void) {
  tl_env t;
  tl_setup(&t);
  log_config cfg;
  tl_config(&cfg);
  cfg.segment_bytes = 1024;
  log_t *log = NULL;
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 0, &log), 0);
  buf_t all = BUF_INIT;
  int64_t next = 0;
  for (int i = 0; i < 40; i++) {
    buf_t b = BUF_INIT;
    tl_batch(&b, 2, 10 * i, (uint64_t)i, 100);
    next += 1 + i % 7; /* a gap of i % 7 offsets before each batch */
    batch_set_base_offset(b.data, next);
    batch_set_leader_epoch(b.data, i / 10);
    log_append_info info;
    CU_ASSERT_EQUAL(log_append_follower(log, b.data, b.len, &info), KERR_NONE);
    CU_ASSERT_EQUAL(info.base_offset, next);
    next += 2;
    buf_append(&all, b.data, b.len);
    buf_free(&b);
  }
  CU_ASSERT(log_segment_count(log) > 5);
  CU_ASSERT_EQUAL(log_end_offset(log), next);
  /* Reading from inside a gap returns the next batch. */
  buf_t out = BUF_INIT;
  log_read_info info;
  CU_ASSERT_EQUAL(log_read(log, 0, 1, LOG_OFFSET_MAX, &out, &info), KERR_NONE);
  CU_ASSERT_EQUAL(info.batch_count, 1);
  buf_free(&out);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  CU_ASSERT_EQUAL(tl_verify(&t), 0);
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 0, &log), 0);
  CU_ASSERT_EQUAL(log_end_offset(log), next);
  buf_t got = BUF_INIT;
  CU_ASSERT_EQUAL(tl_read_all(log, 0, 700, &got), KERR_NONE);
  CU_ASSERT(got.len == all.len && memcmp(got.data, all.data, all.len) == 0);
  CU_ASSERT_EQUAL(log_latest_epoch(log), 3);
  buf_free(&got);
  buf_free(&all);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  tl_teardown(&t);
}

static void test_flush_policy(void) {
  tl_env t;
  tl_setup(&t);
  log_config cfg;
  tl_config(&cfg);
  cfg.flush_messages = 10;
  log_t *log = NULL;
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 0, &log), 0);
  CU_ASSERT_EQUAL(log_recovery_point(log), 0);
  tl_append(log, 4, 1, 1, 10, -1);
  tl_append(log, 4, 1, 2, 10, -1);
  /* 8 unflushed: no flush yet. Two more reach flush.messages. */
  for (int i = 0; i < 3; i++)
    uv_run(&t.loop, UV_RUN_NOWAIT);
  CU_ASSERT_EQUAL(log_recovery_point(log), 0);
  tl_append(log, 2, 1, 3, 10, -1);
  while (log_recovery_point(log) < 10 && uv_run(&t.loop, UV_RUN_ONCE))
    ;
  CU_ASSERT_EQUAL(log_recovery_point(log), 10);
  /* An explicit flush of what is already durable completes (later). */
  tl_wait w = {false, 1};
  log_flush(log, 5, tl_done_cb, &w);
  CU_ASSERT_FALSE(w.done);
  tl_run_until(&t, &w.done);
  CU_ASSERT_EQUAL(w.status, 0);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  tl_teardown(&t);

  /* flush.ms: a timer after the first unflushed append. */
  tl_setup(&t);
  tl_config(&cfg);
  cfg.flush_ms = 5;
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 0, &log), 0);
  tl_append(log, 3, 1, 1, 10, -1);
  CU_ASSERT_EQUAL(log_recovery_point(log), 0);
  while (log_recovery_point(log) < 3 && uv_run(&t.loop, UV_RUN_ONCE))
    ;
  CU_ASSERT_EQUAL(log_recovery_point(log), 3);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  tl_teardown(&t);
}

static void test_truncate(void) {
  uint64_t seed = test_seed();
  test_rng rng;
  test_rng_init(&rng, seed ^ 0x7777);
  for (int round = 0; round < 8; round++) {
    tl_env t;
    tl_setup(&t);
    log_config cfg;
    tl_config(&cfg);
    log_t *log = NULL;
    CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 0, &log), 0);
    model m;
    model_init(&m);
    for (int i = 0; i < 60; i++)
      append_random(log, &m, &rng, i, i / 10, 200);
    CU_ASSERT_EQUAL(tl_flush(&t, log), 0);
    int64_t leo = log_end_offset(log);
    int64_t cut = (int64_t)test_rng_below(&rng, (uint64_t)leo + 1);
    CU_ASSERT_EQUAL(log_truncate_to(log, cut), KERR_NONE);
    model_truncate(&m, cut);
    int64_t want_leo =
        m.batches->len
            ? g_array_index(m.batches, mbatch, m.batches->len - 1).last + 1
            : 0;
    /* Whole batches: the LEO may be below the requested offset. */
    TEST_EQ_INT(log_end_offset(log), want_leo, seed);
    CU_ASSERT(log_end_offset(log) <= cut);
    CU_ASSERT(log_recovery_point(log) <= log_end_offset(log));
    /* The epoch cache was cut back. */
    int32_t e_want = m.batches->len ? (int32_t)((m.batches->len - 1) / 10) : -1;
    TEST_EQ_INT(log_latest_epoch(log), e_want, seed);
    check_log_equals_model(log, &m, 0, seed);
    /* Appends continue from the new LEO, with a newer epoch. */
    for (int i = 0; i < 10; i++)
      append_random(log, &m, &rng, 100 + i, 9, 200);
    check_log_equals_model(log, &m, 0, seed);
    leo = log_end_offset(log);
    CU_ASSERT_EQUAL(tl_close(&t, log), 0);
    CU_ASSERT_EQUAL(tl_verify(&t), 0);
    CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, leo, 0, &log), 0);
    TEST_EQ_INT(log_end_offset(log), leo, seed);
    check_log_equals_model(log, &m, 0, seed);
    CU_ASSERT_EQUAL(tl_close(&t, log), 0);
    model_free(&m);
    tl_teardown(&t);
  }
}

static void test_truncate_fully(void) {
  tl_env t;
  tl_setup(&t);
  log_config cfg;
  tl_config(&cfg);
  log_t *log = NULL;
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 0, &log), 0);
  for (int i = 0; i < 30; i++)
    tl_append(log, 2, i, (uint64_t)i, 200, 3);
  CU_ASSERT_EQUAL(log_truncate_fully(log, 1000), KERR_NONE);
  CU_ASSERT_EQUAL(log_end_offset(log), 1000);
  CU_ASSERT_EQUAL(log_start_offset(log), 1000);
  CU_ASSERT_EQUAL(log_segment_count(log), 1);
  CU_ASSERT_EQUAL(log_latest_epoch(log), -1);
  CU_ASSERT_EQUAL(tl_append(log, 1, 1, 1, 10, 4), 1000);
  /* Truncating below the log start empties the log too. */
  CU_ASSERT_EQUAL(log_truncate_to(log, 500), KERR_NONE);
  CU_ASSERT_EQUAL(log_end_offset(log), 500);
  CU_ASSERT_EQUAL(log_start_offset(log), 500);
  CU_ASSERT_EQUAL(tl_append(log, 1, 1, 1, 10, 5), 500);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 500, &log), 0);
  CU_ASSERT_EQUAL(log_end_offset(log), 501);
  CU_ASSERT_EQUAL(log_start_offset(log), 500);
  CU_ASSERT_EQUAL(log_latest_epoch(log), 5);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  tl_teardown(&t);
}

static void test_start_offset_and_retention(void) {
  tl_env t;
  tl_setup(&t);
  log_config cfg;
  tl_config(&cfg);
  cfg.retention_ms = 1000;
  log_t *log = NULL;
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 0, &log), 0);
  /* Timestamps 0..5900 in steps of 100. */
  for (int i = 0; i < 60; i++)
    tl_append(log, 2, 100 * i, (uint64_t)i, 300, 0);
  size_t segs = log_segment_count(log);
  CU_ASSERT(segs >= 6);
  int64_t bases[64];
  log_segment_bases(log, bases, 64);
  /* DeleteRecords: above the LEO is refused; inside the third segment
   * deletes the first two. */
  CU_ASSERT_EQUAL(log_advance_start_offset(log, log_end_offset(log) + 1),
                  KERR_OFFSET_OUT_OF_RANGE);
  CU_ASSERT_EQUAL(log_advance_start_offset(log, bases[2] + 1), KERR_NONE);
  CU_ASSERT_EQUAL(log_start_offset(log), bases[2] + 1);
  CU_ASSERT_EQUAL(log_segment_count(log), segs - 2);
  buf_t out = BUF_INIT;
  log_read_info info;
  CU_ASSERT_EQUAL(log_read(log, bases[2], 100, LOG_OFFSET_MAX, &out, &info),
                  KERR_OFFSET_OUT_OF_RANGE);
  CU_ASSERT_EQUAL(log_read(log, bases[2] + 1, 100, LOG_OFFSET_MAX, &out, &info),
                  KERR_NONE);
  CU_ASSERT_EQUAL(info.batch_count, 1);
  buf_free(&out);
  /* Time: "now" 3000 deletes segments whose newest timestamp < 2000. */
  log_retention_stats st;
  CU_ASSERT_EQUAL(log_retention_run(log, 3000, &st), KERR_NONE);
  CU_ASSERT(st.segments_deleted > 0);
  size_t after_time = log_segment_count(log);
  log_segment_bases(log, bases, 64);
  CU_ASSERT(log_start_offset(log) == bases[0]);
  /* The first remaining segment holds timestamps >= 1900 or so. */
  int64_t off = -1, fts = -1;
  CU_ASSERT_EQUAL(log_offset_for_timestamp(log, 0, &off, &fts), KERR_NONE);
  CU_ASSERT(fts >= 1000);
  /* Far future: everything but the active segment goes. */
  CU_ASSERT_EQUAL(log_retention_run(log, 1000000, &st), KERR_NONE);
  CU_ASSERT_EQUAL(log_segment_count(log), 1);
  CU_ASSERT_EQUAL(st.segments_deleted, after_time - 1);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  tl_teardown(&t);

  /* Size: keep the log within retention.bytes. */
  tl_setup(&t);
  tl_config(&cfg);
  cfg.retention_ms = -1;
  cfg.retention_bytes = 10000;
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 0, &log), 0);
  for (int i = 0; i < 100; i++)
    tl_append(log, 2, i, (uint64_t)i, 300, 0);
  CU_ASSERT(log_size_bytes(log) > 10000);
  CU_ASSERT_EQUAL(log_retention_run(log, 0, &st), KERR_NONE);
  /* Kafka's rule: delete the oldest while what is left stays >= the
   * limit, so at most one segment's worth remains above it. */
  CU_ASSERT(log_size_bytes(log) >= 10000);
  CU_ASSERT(log_size_bytes(log) < 10000 + 4096);
  CU_ASSERT(st.segments_deleted > 0);
  /* Not with cleanup.policy=compact only (then only the start offset). */
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  tl_teardown(&t);
}

static void test_epochs(void) {
  tl_env t;
  tl_setup(&t);
  log_config cfg;
  tl_config(&cfg);
  log_t *log = NULL;
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 0, &log), 0);
  int32_t e;
  int64_t end;
  log_epoch_end_offset(log, 0, &e, &end);
  CU_ASSERT(e == -1 && end == -1);
  tl_append(log, 5, 1, 1, 10, 1); /* 0..4 epoch 1 */
  tl_append(log, 5, 1, 2, 10, 1); /* 5..9 */
  tl_append(log, 5, 1, 3, 10, 3); /* 10..14 epoch 3 */
  tl_append(log, 5, 1, 4, 10, 7); /* 15..19 epoch 7 */
  CU_ASSERT_EQUAL(log_latest_epoch(log), 7);
  log_epoch_end_offset(log, 0, &e, &end);
  CU_ASSERT(e == -1 && end == -1);
  log_epoch_end_offset(log, 1, &e, &end);
  CU_ASSERT(e == 1 && end == 10);
  log_epoch_end_offset(log, 2, &e, &end);
  CU_ASSERT(e == 1 && end == 10);
  log_epoch_end_offset(log, 5, &e, &end);
  CU_ASSERT(e == 3 && end == 15);
  log_epoch_end_offset(log, 7, &e, &end);
  CU_ASSERT(e == 7 && end == 20);
  log_epoch_end_offset(log, 9, &e, &end);
  CU_ASSERT(e == 7 && end == 20);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  gsize len;
  gchar *ck = tl_slurp(&t, "leader-epoch-checkpoint", &len);
  CU_ASSERT_STRING_EQUAL(ck ? ck : "", "0\n3\n1 0\n3 10\n7 15\n");
  g_free(ck);
  /* A follower's batches keep their epochs; epochs may not go down. */
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 20, 0, &log), 0);
  CU_ASSERT_EQUAL(log_latest_epoch(log), 7);
  buf_t b = BUF_INIT;
  tl_batch(&b, 2, 1, 1, 10);
  batch_set_base_offset(b.data, 20);
  batch_set_leader_epoch(b.data, 6);
  log_append_info info;
  CU_ASSERT_EQUAL(log_append_follower(log, b.data, b.len, &info),
                  KERR_INVALID_RECORD);
  batch_set_leader_epoch(b.data, 8);
  CU_ASSERT_EQUAL(log_append_follower(log, b.data, b.len, &info), KERR_NONE);
  buf_free(&b);
  CU_ASSERT_EQUAL(log_latest_epoch(log), 8);
  /* DeleteRecords collapses the entries below the new start. */
  CU_ASSERT_EQUAL(log_advance_start_offset(log, 12), KERR_NONE);
  log_epoch_end_offset(log, 1, &e, &end);
  CU_ASSERT(e == -1);
  log_epoch_end_offset(log, 3, &e, &end);
  CU_ASSERT(e == 3 && end == 15);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  ck = tl_slurp(&t, "leader-epoch-checkpoint", &len);
  CU_ASSERT_STRING_EQUAL(ck ? ck : "", "0\n3\n3 12\n7 15\n8 20\n");
  g_free(ck);
  tl_teardown(&t);
}

static void test_log_append_time(void) {
  tl_env t;
  tl_setup(&t);
  log_config cfg;
  tl_config(&cfg);
  cfg.log_append_time = true;
  log_t *log = NULL;
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 0, &log), 0);
  buf_t b = BUF_INIT;
  tl_batch(&b, 3, 5, 1, 10);
  log_append_info info;
  int64_t before = env_wall_ms(t.env);
  CU_ASSERT_EQUAL(log_append(log, b.data, b.len, 0, &info), KERR_NONE);
  CU_ASSERT(info.log_append_time_ms >= before);
  buf_t out = BUF_INIT;
  log_read_info ri;
  CU_ASSERT_EQUAL(log_read(log, 0, 1000, LOG_OFFSET_MAX, &out, &ri), KERR_NONE);
  batch_header h;
  CU_ASSERT_EQUAL(batch_header_parse(out.data, out.len, &h), 0);
  CU_ASSERT(h.attributes & BATCH_ATTR_LOG_APPEND_TIME);
  CU_ASSERT_EQUAL(h.max_timestamp, info.log_append_time_ms);
  CU_ASSERT_EQUAL(batch_compute_crc(out.data, out.len), h.crc);
  buf_free(&out);
  buf_free(&b);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  tl_teardown(&t);
}

static void test_checkpoints(void) {
  tl_env t;
  tl_setup(&t);
  char *path = g_strdup_printf("%s/recovery-point-offset-checkpoint", t.dir);
  log_offset_entry in[] = {
      {"zeta", 1, 500}, {"alpha", 10, 7}, {"alpha", 2, 99}, {"my-topic", 0, 0}};
  log_checkpoint_t *ck = log_checkpoint_new(t.env, path);
  tl_wait w = {false, 1};
  log_checkpoint_write_offsets(ck, in, 4, tl_done_cb, &w);
  CU_ASSERT_FALSE(log_checkpoint_idle(ck));
  tl_run_until(&t, &w.done);
  CU_ASSERT_EQUAL(w.status, 0);
  CU_ASSERT(log_checkpoint_idle(ck));
  gchar *text = NULL;
  gsize len = 0;
  CU_ASSERT(g_file_get_contents(path, &text, &len, NULL));
  CU_ASSERT_STRING_EQUAL(
      text ? text : "",
      "0\n4\nalpha 2 99\nalpha 10 7\nmy-topic 0 0\nzeta 1 500\n");
  g_free(text);
  log_offset_entry *out = NULL;
  size_t n = 0;
  CU_ASSERT_EQUAL(log_offsets_read(t.env, path, &out, &n), 0);
  CU_ASSERT_EQUAL(n, 4);
  if (n == 4) {
    CU_ASSERT_STRING_EQUAL(out[1].topic, "alpha");
    CU_ASSERT_EQUAL(out[1].partition, 10);
    CU_ASSERT_EQUAL(out[3].offset, 500);
  }
  log_offset_entries_free(out, n);
  /* Queued writes coalesce; every waiter hears back. */
  tl_wait w1 = {false, 1}, w2 = {false, 1}, w3 = {false, 1};
  log_checkpoint_write_offsets(ck, in, 1, tl_done_cb, &w1);
  log_checkpoint_write_offsets(ck, in, 2, tl_done_cb, &w2);
  log_checkpoint_write_offsets(ck, in, 3, tl_done_cb, &w3);
  tl_run_until(&t, &w3.done);
  tl_run_until(&t, &w1.done);
  CU_ASSERT(w1.status == 0 && w2.done && w2.status == 0 && w3.status == 0);
  CU_ASSERT_EQUAL(log_offsets_read(t.env, path, &out, &n), 0);
  CU_ASSERT_EQUAL(n, 3);
  log_offset_entries_free(out, n);
  log_checkpoint_free(ck);
  /* Malformed files. */
  static const char *const bad[] = {"",
                                    "1\n0\n",
                                    "0\n2\na 1 2\n",
                                    "0\n1\na 1\n",
                                    "0\n1\na x 2\n",
                                    "0\n1\na 1 2",
                                    "0\n1\na -1 2\n",
                                    "0\n1\n 1 2\n"};
  for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
    CU_ASSERT(g_file_set_contents(path, bad[i], -1, NULL));
    CU_ASSERT_EQUAL(log_offsets_read(t.env, path, &out, &n), -EINVAL);
  }
  CU_ASSERT(g_file_set_contents(path, "0\n0\n", -1, NULL));
  CU_ASSERT_EQUAL(log_offsets_read(t.env, path, &out, &n), 0);
  CU_ASSERT_EQUAL(n, 0);
  log_offset_entries_free(out, n);
  g_free(path);
  char *missing = g_strdup_printf("%s/nope", t.dir);
  CU_ASSERT_EQUAL(log_offsets_read(t.env, missing, &out, &n), -ENOENT);
  g_free(missing);
  /* Directory names. */
  char topic[64];
  int32_t p = -1;
  CU_ASSERT(log_parse_dir_name("my-topic-12", topic, sizeof topic, &p));
  CU_ASSERT_STRING_EQUAL(topic, "my-topic");
  CU_ASSERT_EQUAL(p, 12);
  CU_ASSERT_FALSE(log_parse_dir_name("topic", topic, sizeof topic, &p));
  CU_ASSERT_FALSE(log_parse_dir_name("topic-", topic, sizeof topic, &p));
  CU_ASSERT_FALSE(log_parse_dir_name("-3", topic, sizeof topic, &p));
  CU_ASSERT_FALSE(log_parse_dir_name("t-x1", topic, sizeof topic, &p));
  tl_teardown(&t);
}

/* Random operations against the model, reopening now and then. */
static void test_random_ops(void) {
  uint64_t seed = test_seed();
  test_rng rng;
  test_rng_init(&rng, seed ^ 0xabcdef);
  tl_env t;
  tl_setup(&t);
  log_config cfg;
  tl_config(&cfg);
  cfg.segment_bytes = 2300 + (int64_t)test_rng_below(&rng, 4096);
  cfg.index_interval_bytes = (int32_t)test_rng_below(&rng, 1024);
  log_t *log = NULL;
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 0, &log), 0);
  model m;
  model_init(&m);
  int32_t epoch = 0;
  int64_t start = 0;
  for (int step = 0; step < 600; step++) {
    uint64_t op = test_rng_below(&rng, 100);
    if (op < 70) {
      append_random(log, &m, &rng, step, epoch, 400);
    } else if (op < 75) {
      epoch++;
    } else if (op < 80 && log_end_offset(log) > start) {
      int64_t cut = start + (int64_t)test_rng_below(
                                &rng, (uint64_t)(log_end_offset(log) - start));
      CU_ASSERT_EQUAL(log_truncate_to(log, cut), KERR_NONE);
      model_truncate(&m, cut);
      epoch++;
    } else if (op < 83) {
      CU_ASSERT_EQUAL(log_roll(log), KERR_NONE);
    } else if (op < 86 && log_end_offset(log) > start) {
      start += (int64_t)test_rng_below(
          &rng, (uint64_t)(log_end_offset(log) - start) / 4 + 1);
      CU_ASSERT_EQUAL(log_advance_start_offset(log, start), KERR_NONE);
    } else if (op < 92) {
      CU_ASSERT_EQUAL(tl_flush(&t, log), 0);
    } else {
      int64_t rp = test_rng_below(&rng, 2) ? log_recovery_point(log) : 0;
      int64_t lso = log_start_offset(log);
      CU_ASSERT_EQUAL(tl_close(&t, log), 0);
      CU_ASSERT_EQUAL(tl_verify(&t), 0);
      CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, rp, lso, &log), 0);
    }
    /* A truncation that removes the batch holding the log start offset
     * empties the log at the start offset. */
    int64_t want_leo =
        m.batches->len
            ? g_array_index(m.batches, mbatch, m.batches->len - 1).last + 1
            : log_end_offset(log);
    want_leo = MAX(want_leo, log_start_offset(log));
    TEST_EQ_INT(log_end_offset(log), want_leo, seed);
    start = log_start_offset(log);
    if (step % 50 == 0)
      check_log_equals_model(log, &m, start, seed);
  }
  check_log_equals_model(log, &m, start, seed);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  model_free(&m);
  tl_teardown(&t);
}

/* Bytes of the segment files as the file system sees them (not the log's
 * own count, which includes appends still in its write buffer). */
static uint64_t files_size(const tl_env *t, log_t *log) {
  int64_t bases[4096];
  size_t n = log_segment_bases(log, bases, G_N_ELEMENTS(bases));
  CU_ASSERT_FATAL(n <= G_N_ELEMENTS(bases));
  uint64_t total = 0;
  for (size_t i = 0; i < n; i++) {
    char name[64];
    snprintf(name, sizeof name, "%020" PRId64 ".log", bases[i]);
    char *path = tl_path(t, name);
    GStatBuf st;
    if (g_stat(path, &st) == 0)
      total += (uint64_t)st.st_size;
    g_free(path);
  }
  return total;
}

/* Appends are gathered in the log's write buffer: random interleavings of
 * small, medium and bigger-than-the-buffer appends with reads (a read
 * right after an append sees it), views, time lookups, log_write_out,
 * flush, roll, truncation, DeleteRecords, retention, close/reopen and a
 * free without close, against the model. */
static void test_write_buffer(void) {
  uint64_t seed = test_seed();
  test_rng rng;
  test_rng_init(&rng, seed ^ 0x5eed);
  tl_env t;
  tl_setup(&t);
  log_config cfg;
  tl_config(&cfg);
  cfg.segment_bytes = (int64_t)(1 + test_rng_below(&rng, 3)) << 20;
  cfg.index_interval_bytes = (int32_t)test_rng_below(&rng, 8192);
  log_t *log = NULL;
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 0, &log), 0);
  model m;
  model_init(&m);
  int32_t epoch = 0;
  int64_t start = 0, ts = 0;
  for (int step = 0; step < 500; step++) {
    uint64_t op = test_rng_below(&rng, 100);
    if (op < 60) {
      /* Mostly small; sometimes tens of KiB, or past the buffer size. */
      uint64_t kind = test_rng_below(&rng, 40);
      int value = kind == 0   ? 600 << 10
                  : kind < 4  ? (int)test_rng_below(&rng, 200 << 10)
                  : kind < 10 ? (int)test_rng_below(&rng, 20000)
                              : (int)test_rng_below(&rng, 1500);
      int n = 1 + (int)test_rng_below(&rng, 3);
      ts += (int64_t)test_rng_below(&rng, 3);
      buf_t b = BUF_INIT;
      tl_batch(&b, n, ts, test_rng_next(&rng), value / n);
      log_append_info info;
      int rc = log_append(log, b.data, b.len, epoch, &info);
      TEST_EQ_INT(rc, KERR_NONE, seed);
      if (rc == KERR_NONE) {
        mbatch mb = {info.base_offset, info.last_offset,
                     g_bytes_new(b.data, b.len)};
        g_array_append_val(m.batches, mb);
        if (test_rng_below(&rng, 3) == 0) {
          /* A read right after the append sees it. */
          buf_t got = BUF_INIT;
          log_read_info ri;
          TEST_EQ_INT(log_read(log, info.base_offset, 1, LOG_OFFSET_MAX, &got,
                               &ri),
                      KERR_NONE, seed);
          CU_ASSERT(got.len == b.len && memcmp(got.data, b.data, b.len) == 0);
          TEST_EQ_INT(ri.offset_next, info.last_offset + 1, seed);
          buf_free(&got);
        }
      }
      buf_free(&b);
      CU_ASSERT(files_size(&t, log) <= log_size_bytes(log));
    } else if (op < 66) {
      CU_ASSERT_EQUAL(log_write_out(log), KERR_NONE);
      TEST_EQ_INT(files_size(&t, log), log_size_bytes(log), seed);
    } else if (op < 70) {
      epoch++;
    } else if (op < 74 && log_end_offset(log) > start) {
      int64_t cut = start + (int64_t)test_rng_below(
                                &rng, (uint64_t)(log_end_offset(log) - start));
      CU_ASSERT_EQUAL(log_truncate_to(log, cut), KERR_NONE);
      model_truncate(&m, cut);
      epoch++;
      TEST_EQ_INT(files_size(&t, log), log_size_bytes(log), seed);
    } else if (op < 77) {
      CU_ASSERT_EQUAL(log_roll(log), KERR_NONE);
      TEST_EQ_INT(files_size(&t, log), log_size_bytes(log), seed);
    } else if (op < 80 && log_end_offset(log) > start) {
      start += (int64_t)test_rng_below(
          &rng, (uint64_t)(log_end_offset(log) - start) / 4 + 1);
      CU_ASSERT_EQUAL(log_advance_start_offset(log, start), KERR_NONE);
    } else if (op < 82) {
      CU_ASSERT_EQUAL(log_retention_run(log, ts, NULL), KERR_NONE);
    } else if (op < 86) {
      CU_ASSERT_EQUAL(tl_flush(&t, log), 0);
      TEST_EQ_INT(files_size(&t, log), log_size_bytes(log), seed);
      TEST_EQ_INT(log_recovery_point(log), log_end_offset(log), seed);
    } else if (op < 90) {
      check_views_match_reads(log, seed ^ (uint64_t)step);
    } else if (op < 93) {
      check_time_lookups(log, &m, &rng, ts, seed);
    } else if (op < 97) {
      int64_t rp = test_rng_below(&rng, 2) ? log_recovery_point(log) : 0;
      int64_t lso = log_start_offset(log);
      CU_ASSERT_EQUAL(tl_close(&t, log), 0);
      CU_ASSERT_EQUAL(tl_verify(&t), 0);
      CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, rp, lso, &log), 0);
    } else {
      /* A process that dies after log_write_out keeps the page cache: no
       * fsync, no close, and everything comes back. */
      CU_ASSERT_EQUAL(log_write_out(log), KERR_NONE);
      int64_t rp = log_recovery_point(log);
      int64_t lso = log_start_offset(log);
      if (log_idle(log))
        log_free(log);
      else
        CU_ASSERT_EQUAL(tl_close(&t, log), 0);
      CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, rp, lso, &log), 0);
    }
    int64_t want_leo =
        m.batches->len
            ? g_array_index(m.batches, mbatch, m.batches->len - 1).last + 1
            : log_end_offset(log);
    want_leo = MAX(want_leo, log_start_offset(log));
    TEST_EQ_INT(log_end_offset(log), want_leo, seed);
    start = log_start_offset(log);
    if (step % 40 == 0)
      check_log_equals_model(log, &m, start, seed);
  }
  check_log_equals_model(log, &m, start, seed);
  check_time_lookups(log, &m, &rng, ts, seed);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  CU_ASSERT_EQUAL(tl_verify(&t), 0);
  model_free(&m);
  tl_teardown(&t);
}

/* A segment .log's size and the disk blocks it holds, in bytes. */
static void segment_disk(const tl_env *t, int64_t base, uint64_t *size,
                         uint64_t *disk) {
  char name[64];
  snprintf(name, sizeof name, "%020" PRId64 ".log", base);
  char *path = tl_path(t, name);
  GStatBuf st;
  CU_ASSERT_EQUAL_FATAL(g_stat(path, &st), 0);
  g_free(path);
  *size = (uint64_t)st.st_size;
  *disk = (uint64_t)st.st_blocks * 512u;
}

/* The disk advice around appends (LOG__RESERVE_AHEAD_BYTES): a fresh
 * active segment holds space reserved ahead of its bytes, a rolled segment
 * and a closed log hold only what their bytes need, sizes never count the
 * reserve, and every batch reads back as appended (random batch sizes,
 * below and above the write buffer), also after a reopen. */
static void test_disk_advice(void) {
  uint64_t seed = test_seed();
  test_rng rng;
  test_rng_init(&rng, seed ^ 0xad71ce);
  tl_env t;
  tl_setup(&t);
  log_config cfg;
  tl_config(&cfg);
  cfg.segment_bytes = (int64_t)(4 + test_rng_below(&rng, 5)) << 20;
  log_t *log = NULL;
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 0, &log), 0);
  model m;
  model_init(&m);
  int64_t ts = 0;
  /* Slack for a file system's block rounding and metadata blocks. */
  const uint64_t slack = (uint64_t)256 << 10;
  while (log_size_bytes(log) < (uint64_t)cfg.segment_bytes * 3) {
    int value = test_rng_below(&rng, 4) == 0
                    ? (int)(512 << 10) + (int)test_rng_below(&rng, 256 << 10)
                    : 1 + (int)test_rng_below(&rng, 64 << 10);
    buf_t b = BUF_INIT;
    tl_batch(&b, 1, ts++, test_rng_next(&rng), value);
    log_append_info info;
    TEST_EQ_INT(log_append(log, b.data, b.len, 0, &info), KERR_NONE, seed);
    mbatch mb = {info.base_offset, info.last_offset,
                 g_bytes_new(b.data, b.len)};
    g_array_append_val(m.batches, mb);
    buf_free(&b);
  }
  CU_ASSERT_EQUAL(log_write_out(log), KERR_NONE);
  TEST_EQ_INT(files_size(&t, log), log_size_bytes(log), seed);
  int64_t bases[64];
  size_t n = log_segment_bases(log, bases, G_N_ELEMENTS(bases));
  CU_ASSERT_FATAL(n >= 3 && n <= G_N_ELEMENTS(bases));
  uint64_t size, disk;
  for (size_t i = 0; i + 1 < n; i++) {
    segment_disk(&t, bases[i], &size, &disk);
    if (disk > size + slack)
      fprintf(stderr,
              "\n  rolled segment %zu holds %" PRIu64 " bytes on disk "
              "for %" PRIu64 " (seed %" PRIu64 ")\n",
              i, disk, size, seed);
    CU_ASSERT(disk <= size + slack);
  }
  /* The active segment holds at least its bytes; a fresh one, after one
   * small append, already holds the least reserve (the write buffer's
   * size) ahead of it. */
  segment_disk(&t, bases[n - 1], &size, &disk);
  CU_ASSERT(disk >= size);
  CU_ASSERT_EQUAL(log_roll(log), KERR_NONE);
  buf_t b = BUF_INIT;
  tl_batch(&b, 1, ts++, test_rng_next(&rng), 100);
  log_append_info info;
  TEST_EQ_INT(log_append(log, b.data, b.len, 0, &info), KERR_NONE, seed);
  mbatch mb = {info.base_offset, info.last_offset, g_bytes_new(b.data, b.len)};
  g_array_append_val(m.batches, mb);
  buf_free(&b);
  CU_ASSERT_EQUAL(log_write_out(log), KERR_NONE);
  n = log_segment_bases(log, bases, G_N_ELEMENTS(bases));
  CU_ASSERT_FATAL(n >= 2 && n <= G_N_ELEMENTS(bases));
  segment_disk(&t, bases[n - 1], &size, &disk);
  CU_ASSERT(size < 4096 && disk >= (uint64_t)(512 << 10));
  segment_disk(&t, bases[n - 2], &size, &disk); /* rolled: given back */
  CU_ASSERT(disk <= size + slack);
  check_log_equals_model(log, &m, 0, seed);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  segment_disk(&t, bases[n - 1], &size, &disk);
  CU_ASSERT(disk <= size + slack);
  CU_ASSERT_EQUAL(tl_verify(&t), 0);
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 0, &log), 0);
  check_log_equals_model(log, &m, 0, seed);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  model_free(&m);
  tl_teardown(&t);
}

/* A segment file cut short behind the log's back (another process): reads
 * through views — with windows mapped before the cut — see only what is
 * left, report the cut batches as CORRUPT_MESSAGE and never touch a page
 * past the new end (that would be SIGBUS and kill the test). */
static void test_view_external_truncate(void) {
  tl_env t;
  tl_setup(&t);
  log_config cfg;
  tl_config(&cfg);
  cfg.segment_bytes = 1 << 20;
  log_t *log = NULL;
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 0, &log), 0);
  for (int i = 0; i < 60; i++)
    tl_append(log, 3, 100 + i, (uint64_t)i, 300, 0);
  buf_t all = BUF_INIT;
  CU_ASSERT_EQUAL(read_all_views(log, 0, 1 << 20, &all), KERR_NONE);
  int64_t leo = log_end_offset(log);
  /* Cut the (only) segment at a page boundary inside a later batch. */
  char *path = g_strdup_printf("%s/%020d.log", t.log_dir, 0);
  CU_ASSERT_EQUAL_FATAL(truncate(path, 8192), 0);
  int64_t off = 0;
  int rc = KERR_NONE;
  size_t at = 0;
  while (off < leo) {
    const uint8_t *view = NULL;
    size_t len = 0;
    log_read_info info;
    rc = log_read_view(log, off, 1000, LOG_OFFSET_MAX, &view, &len, &info);
    if (rc != KERR_NONE)
      break;
    CU_ASSERT_FATAL(at + len <= 8192);
    CU_ASSERT(memcmp(view, all.data + at, len) == 0);
    at += len;
    off = info.offset_next;
  }
  CU_ASSERT_EQUAL(rc, KERR_CORRUPT_MESSAGE);
  CU_ASSERT(at > 0 && at <= 8192);
  log_free(log);
  buf_free(&all);
  g_free(path);
  tl_teardown(&t);
}

int suite_log(void) {
  TEST_SUITE(
      "log", {"append and read", test_append_read},
      {"read semantics", test_read_semantics},
      {"segment files", test_segment_files},
      {"index entries", test_index_entries},
      {"lookup by time", test_time_lookup},
      {"roll conditions", test_roll_conditions},
      {"follower gaps", test_follower_gaps},
      {"flush policy", test_flush_policy}, {"truncate", test_truncate},
      {"truncate fully", test_truncate_fully},
      {"start offset and retention", test_start_offset_and_retention},
      {"leader epochs", test_epochs}, {"log append time", test_log_append_time},
      {"checkpoints", test_checkpoints}, {"random operations", test_random_ops},
      {"write buffer: random interleavings", test_write_buffer},
      {"disk advice: reserve ahead, give back", test_disk_advice},
      {"views of a segment cut short outside", test_view_external_truncate});
}
