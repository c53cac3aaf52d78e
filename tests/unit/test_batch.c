/*
 * test_batch.c — record batch v2: a batch assembled by hand from the
 * published layout, random round trips through builder -> validate ->
 * iterator for every codec, and the negative space: every byte of a batch
 * corrupted, every truncation, hostile header and record fields, and the
 * Kafka rules (counts, control batches, sizes).
 *
 * Mutated batches are copied into exact-size allocations so that a
 * sanitizer build (ASan) reports any read outside the batch.
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "base/buf.h"
#include "base/crc32c.h"
#include "broker/kerr.h"
#include "broker/log/batch.h"
#include "broker/log/compress.h"
#include "tests/unit/testutil.h"

static const batch_limits client_limits = {0, false, true};
static const batch_limits log_limits = {0, true, true};

/* ---- expected records ---- */

typedef struct trec {
  int64_t timestamp;
  uint8_t *key; /* [owned] NULL for null */
  int32_t key_len;
  uint8_t *value; /* [owned] NULL for null */
  int32_t value_len;
  int32_t header_count;
  batch_record_header *headers; /* [owned] keys/values [owned] */
} trec;

/* Random bytes for a key or value: null, empty, binary with NULs, or
 * repetitive text (so compression has something to do). */
static uint8_t *rand_bytes(test_rng *rng, bool nullable, size_t max_bytes,
                           int32_t *len) {
  uint64_t kind = test_rng_below(rng, 10);
  if (nullable && kind == 0) {
    *len = -1;
    return NULL;
  }
  size_t n = kind == 1 ? 0 : test_rng_below(rng, max_bytes + 1);
  uint8_t *p = g_malloc(n + 1);
  for (size_t i = 0; i < n; i++)
    p[i] = kind < 5 ? (uint8_t)test_rng_next(rng)
                    : (uint8_t)("ab\0cd"[test_rng_below(rng, 5)]);
  *len = (int32_t)n;
  return p;
}

static void trec_random(test_rng *rng, trec *r, int64_t base_ts) {
  /* Timestamps near the base, now and then anywhere in int64. */
  r->timestamp = test_rng_below(rng, 20) == 0
                     ? (int64_t)test_rng_next(rng)
                     : base_ts + (int64_t)test_rng_below(rng, 200000) - 1000;
  size_t value_max = test_rng_below(rng, 30) == 0 ? 5000 : 100;
  r->key = rand_bytes(rng, true, 32, &r->key_len);
  r->value = rand_bytes(rng, true, value_max, &r->value_len);
  uint64_t hk = test_rng_below(rng, 60);
  r->header_count = hk == 0 ? 70 : (int32_t)(hk % 4);
  r->headers =
      g_new0(batch_record_header, r->header_count ? r->header_count : 1);
  for (int32_t i = 0; i < r->header_count; i++) {
    int32_t kl, vl;
    r->headers[i].key = rand_bytes(rng, false, 12, &kl);
    r->headers[i].key_len = kl;
    r->headers[i].value = rand_bytes(rng, true, 20, &vl);
    r->headers[i].value_len = vl;
  }
}

static void trecs_free(trec *recs, int n) {
  for (int i = 0; i < n; i++) {
    g_free(recs[i].key);
    g_free(recs[i].value);
    for (int32_t h = 0; h < recs[i].header_count; h++) {
      g_free((void *)recs[i].headers[h].key);
      g_free((void *)recs[i].headers[h].value);
    }
    g_free(recs[i].headers);
  }
  g_free(recs);
}

static bool same_bytes(const uint8_t *a, int32_t alen, const uint8_t *b,
                       int32_t blen) {
  if (alen != blen)
    return false;
  if (alen < 0)
    return a == NULL && b == NULL;
  return alen == 0 || memcmp(a, b, (size_t)alen) == 0;
}

/* Iterates the batch and compares with recs: offsets base_offset + i,
 * timestamps (or lat_ts when >= 0 for LogAppendTime), keys, values,
 * headers (the first BATCH_RECORD_HEADERS_MAX of them). */
static bool records_match(batch_iter *it, const trec *recs, int n,
                          int64_t base_offset, bool log_append_time,
                          int64_t lat_ts) {
  batch_record rec;
  for (int i = 0; i < n; i++) {
    if (batch_iter_next(it, &rec) != 1)
      return false;
    const trec *e = &recs[i];
    if (rec.offset != base_offset + i ||
        rec.timestamp != (log_append_time ? lat_ts : e->timestamp) ||
        !same_bytes(rec.key, rec.key_len, e->key, e->key_len) ||
        !same_bytes(rec.value, rec.value_len, e->value, e->value_len) ||
        rec.header_count != e->header_count)
      return false;
    int32_t stored = e->header_count < BATCH_RECORD_HEADERS_MAX
                         ? e->header_count
                         : BATCH_RECORD_HEADERS_MAX;
    for (int32_t h = 0; h < stored; h++)
      if (!same_bytes(rec.headers[h].key, rec.headers[h].key_len,
                      e->headers[h].key, e->headers[h].key_len) ||
          !same_bytes(rec.headers[h].value, rec.headers[h].value_len,
                      e->headers[h].value, e->headers[h].value_len))
        return false;
  }
  return batch_iter_next(it, &rec) == 0;
}

typedef struct tbatch {
  buf_t bytes;
  trec *recs;
  int n;
  batch_builder_opts opts;
} tbatch;

static void tbatch_random(test_rng *rng, tbatch *tb, int n_max,
                          batch_codec codec) {
  memset(tb, 0, sizeof *tb);
  tb->n = 1 + (int)test_rng_below(rng, (uint64_t)n_max);
  tb->recs = g_new0(trec, tb->n);
  batch_builder_opts *o = &tb->opts;
  o->codec = codec;
  o->base_offset = (int64_t)test_rng_below(rng, 1000000);
  o->base_timestamp = (int64_t)test_rng_below(rng, (uint64_t)1 << 41);
  bool idempotent = test_rng_below(rng, 2);
  o->producer_id = idempotent ? (int64_t)test_rng_below(rng, 1 << 30) : -1;
  o->producer_epoch = idempotent ? (int16_t)test_rng_below(rng, 100) : -1;
  o->base_sequence = idempotent ? (int32_t)test_rng_below(rng, 1 << 30) : -1;
  o->extra_attributes =
      idempotent && test_rng_below(rng, 2) ? BATCH_ATTR_TRANSACTIONAL : 0;
  o->leader_epoch = (int32_t)test_rng_below(rng, 50) - 1;
  batch_builder *b = batch_builder_new(o);
  for (int i = 0; i < tb->n; i++) {
    trec_random(rng, &tb->recs[i], o->base_timestamp);
    trec *r = &tb->recs[i];
    batch_builder_add(b, r->timestamp, r->key, r->key_len, r->value,
                      r->value_len, r->headers, r->header_count);
  }
  CU_ASSERT_EQUAL(batch_builder_count(b), tb->n);
  buf_init(&tb->bytes);
  CU_ASSERT_EQUAL(batch_builder_finish(b, -1, &tb->bytes), KERR_NONE);
}

static void tbatch_free(tbatch *tb) {
  buf_free(&tb->bytes);
  trecs_free(tb->recs, tb->n);
}

static const batch_codec codecs[] = {BATCH_CODEC_NONE, BATCH_CODEC_GZIP,
                                     BATCH_CODEC_SNAPPY, BATCH_CODEC_LZ4,
                                     BATCH_CODEC_ZSTD};
#define N_CODECS 5

/* ---- a batch assembled by hand ---- */

static void put_be(buf_t *b, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; i--)
    buf_put_u8(b, (uint8_t)(v >> (8 * i)));
}

/* Writes a batch header (CRC filled in later by hand_finish) followed by
 * the given raw record bytes. */
static void hand_batch(buf_t *b, int16_t attributes, int32_t last_offset_delta,
                       int64_t base_ts, int64_t max_ts, int32_t record_count,
                       const uint8_t *records, size_t records_len) {
  put_be(b, 1000, 8);                         /*  0 baseOffset */
  put_be(b, (uint64_t)(49 + records_len), 4); /*  8 batchLength */
  put_be(b, 7, 4);                            /* 12 partitionLeaderEpoch */
  put_be(b, 2, 1);                            /* 16 magic */
  put_be(b, 0, 4);                            /* 17 crc */
  put_be(b, (uint16_t)attributes, 2);         /* 21 attributes */
  put_be(b, (uint32_t)last_offset_delta, 4);  /* 23 lastOffsetDelta */
  put_be(b, (uint64_t)base_ts, 8);            /* 27 baseTimestamp */
  put_be(b, (uint64_t)max_ts, 8);             /* 35 maxTimestamp */
  put_be(b, (uint64_t)-1, 8);                 /* 43 producerId */
  put_be(b, (uint16_t)-1, 2);                 /* 51 producerEpoch */
  put_be(b, (uint32_t)-1, 4);                 /* 53 baseSequence */
  put_be(b, (uint32_t)record_count, 4);       /* 57 recordCount */
  buf_append(b, records, records_len);
}

/* Stores the CRC-32C of bytes 21..end at offset 17 (independently of
 * batch_compute_crc) and returns it. */
static uint32_t hand_crc(uint8_t *p, size_t len) {
  uint32_t crc = crc32c(p + 21, len - 21);
  p[17] = (uint8_t)(crc >> 24);
  p[18] = (uint8_t)(crc >> 16);
  p[19] = (uint8_t)(crc >> 8);
  p[20] = (uint8_t)crc;
  return crc;
}

/* Two records, varints written out by hand (zig-zag: n >= 0 -> 2n,
 * -1 -> 1):
 *   record 0: ts delta 0, offset delta 0, key "k1", value "hello\0x",
 *             one header "h" = null
 *   record 1: ts delta 5, offset delta 1, key null, value empty, no
 *             headers */
static const uint8_t known_records[] = {
    0x24,                                     /* length 18 */
    0x00,                                     /* attributes */
    0x00,                                     /* timestampDelta 0 */
    0x00,                                     /* offsetDelta 0 */
    0x04, 'k', '1',                           /* key len 2 */
    0x0e, 'h', 'e', 'l', 'l', 'o', 0x00, 'x', /* value len 7 */
    0x02,                                     /* 1 header */
    0x02, 'h',                                /* header key len 1 */
    0x01,                                     /* header value null */
    0x0c,                                     /* length 6 */
    0x00,                                     /* attributes */
    0x0a,                                     /* timestampDelta 5 */
    0x02,                                     /* offsetDelta 1 */
    0x01,                                     /* key null */
    0x00,                                     /* value len 0 */
    0x00,                                     /* 0 headers */
};

static void test_known_bytes(void) {
  uint64_t seed = test_seed();
  buf_t b = BUF_INIT;
  int64_t base_ts = 1700000000000;
  hand_batch(&b, 0, 1, base_ts, base_ts + 5, 2, known_records,
             sizeof known_records);
  TEST_EQ_INT(b.len, 61 + sizeof known_records, seed);
  uint32_t crc = hand_crc(b.data, b.len);
  CU_ASSERT_EQUAL(batch_compute_crc(b.data, b.len), crc);
  TEST_EQ_INT(batch_total_bytes(b.data, b.len), b.len, seed);

  batch_header h;
  CU_ASSERT_EQUAL(batch_header_parse(b.data, b.len, &h), KERR_NONE);
  CU_ASSERT_EQUAL(h.base_offset, 1000);
  CU_ASSERT_EQUAL(h.batch_length, (int32_t)(b.len - 12));
  CU_ASSERT_EQUAL(h.leader_epoch, 7);
  CU_ASSERT_EQUAL(h.magic, 2);
  CU_ASSERT_EQUAL(h.crc, crc);
  CU_ASSERT_EQUAL(h.attributes, 0);
  CU_ASSERT_EQUAL(h.last_offset_delta, 1);
  CU_ASSERT_EQUAL(h.base_timestamp, base_ts);
  CU_ASSERT_EQUAL(h.max_timestamp, base_ts + 5);
  CU_ASSERT_EQUAL(h.producer_id, -1);
  CU_ASSERT_EQUAL(h.producer_epoch, -1);
  CU_ASSERT_EQUAL(h.base_sequence, -1);
  CU_ASSERT_EQUAL(h.record_count, 2);
  CU_ASSERT_EQUAL(batch_last_offset(&h), 1001);
  CU_ASSERT_EQUAL(batch_header_codec(&h), BATCH_CODEC_NONE);

  TEST_EQ_INT(batch_validate(b.data, b.len, &client_limits), KERR_NONE, seed);

  int err = -1;
  batch_iter *it = batch_iter_new(b.data, b.len, &err);
  CU_ASSERT_FATAL(it != NULL);
  CU_ASSERT_EQUAL(err, KERR_NONE);
  batch_record rec;
  CU_ASSERT_EQUAL(batch_iter_next(it, &rec), 1);
  CU_ASSERT_EQUAL(rec.offset, 1000);
  CU_ASSERT_EQUAL(rec.timestamp, base_ts);
  CU_ASSERT(rec.key_len == 2 && memcmp(rec.key, "k1", 2) == 0);
  CU_ASSERT(rec.value_len == 7 && memcmp(rec.value, "hello\0x", 7) == 0);
  CU_ASSERT_EQUAL(rec.header_count, 1);
  CU_ASSERT(rec.headers[0].key_len == 1 && rec.headers[0].key[0] == 'h');
  CU_ASSERT(rec.headers[0].value_len == -1 && rec.headers[0].value == NULL);
  CU_ASSERT_EQUAL(batch_iter_next(it, &rec), 1);
  CU_ASSERT_EQUAL(rec.offset, 1001);
  CU_ASSERT_EQUAL(rec.timestamp, base_ts + 5);
  CU_ASSERT(rec.key == NULL && rec.key_len == -1);
  CU_ASSERT(rec.value != NULL && rec.value_len == 0);
  CU_ASSERT_EQUAL(rec.header_count, 0);
  CU_ASSERT_EQUAL(batch_iter_next(it, &rec), 0);
  batch_iter_free(it);

  /* Our builder produces the same bytes for the same content. */
  batch_builder_opts o = {BATCH_CODEC_NONE, 1000, base_ts, -1, -1, -1, 0, 7};
  batch_builder *bb = batch_builder_new(&o);
  batch_record_header hdr = {(const uint8_t *)"h", 1, NULL, -1};
  batch_builder_add(bb, base_ts, "k1", 2, "hello\0x", 7, &hdr, 1);
  batch_builder_add(bb, base_ts + 5, NULL, -1, "", 0, NULL, 0);
  buf_t built = BUF_INIT;
  CU_ASSERT_EQUAL(batch_builder_finish(bb, -1, &built), KERR_NONE);
  CU_ASSERT(built.len == b.len && memcmp(built.data, b.data, b.len) == 0);
  buf_free(&built);
  buf_free(&b);
}

/* ---- round trips ---- */

static void check_round_trip(tbatch *tb, batch_iter *it, uint64_t seed) {
  const uint8_t *p = tb->bytes.data;
  size_t len = tb->bytes.len;
  TEST_EQ_INT(batch_total_bytes(p, len), len, seed);
  TEST_EQ_INT(batch_validate(p, len, &client_limits), KERR_NONE, seed);
  TEST_EQ_INT(batch_validate(p, len, &log_limits), KERR_NONE, seed);
  batch_limits quick = {len, false, false};
  TEST_EQ_INT(batch_validate(p, len, &quick), KERR_NONE, seed);
  batch_header h;
  CU_ASSERT_EQUAL(batch_header_parse(p, len, &h), KERR_NONE);
  CU_ASSERT_EQUAL(h.record_count, tb->n);
  CU_ASSERT_EQUAL(h.last_offset_delta, tb->n - 1);
  CU_ASSERT_EQUAL(h.base_offset, tb->opts.base_offset);
  CU_ASSERT_EQUAL(h.producer_id, tb->opts.producer_id);
  CU_ASSERT_EQUAL(h.base_sequence, tb->opts.base_sequence);
  CU_ASSERT_EQUAL(h.leader_epoch, tb->opts.leader_epoch);
  CU_ASSERT_EQUAL(batch_header_codec(&h), tb->opts.codec);
  int64_t ts_max = tb->recs[0].timestamp;
  for (int i = 1; i < tb->n; i++)
    if (tb->recs[i].timestamp > ts_max)
      ts_max = tb->recs[i].timestamp;
  CU_ASSERT_EQUAL(h.max_timestamp, ts_max);
  TEST_EQ_INT(batch_iter_reset(it, p, len), KERR_NONE, seed);
  bool ok = records_match(it, tb->recs, tb->n, tb->opts.base_offset, false, 0);
  if (!ok)
    fprintf(stderr,
            "\n  round trip mismatch: codec %d, %d records (seed %llu)\n",
            tb->opts.codec, tb->n, (unsigned long long)seed);
  CU_ASSERT(ok);
}

static void test_round_trip_random(void) {
  uint64_t seed = test_seed();
  test_rng rng;
  test_rng_init(&rng, seed);
  int err;
  /* One iterator for everything: it keeps its buffer across batches. */
  uint8_t dummy[61] = {0};
  batch_iter *it = batch_iter_new(dummy, sizeof dummy, &err);
  CU_ASSERT(it == NULL && err == KERR_CORRUPT_MESSAGE);
  tbatch first;
  tbatch_random(&rng, &first, 1, BATCH_CODEC_NONE);
  it = batch_iter_new(first.bytes.data, first.bytes.len, &err);
  CU_ASSERT_FATAL(it != NULL);
  tbatch_free(&first);
  for (int round = 0; round < 60; round++) {
    tbatch tb;
    tbatch_random(&rng, &tb, 500, codecs[round % N_CODECS]);
    check_round_trip(&tb, it, seed);
    tbatch_free(&tb);
  }
  batch_iter_free(it);
}

/* Records much larger than a snappy chunk or an lz4 block. */
static void test_round_trip_large_values(void) {
  uint64_t seed = test_seed();
  test_rng rng;
  test_rng_init(&rng, seed ^ 0x1111);
  int err;
  for (int c = 0; c < N_CODECS; c++) {
    batch_builder_opts o = {codecs[c], 0, 5, -1, -1, -1, 0, -1};
    batch_builder *b = batch_builder_new(&o);
    trec *recs = g_new0(trec, 3);
    for (int i = 0; i < 3; i++) {
      recs[i].timestamp = 5 + i;
      recs[i].key_len = -1;
      recs[i].value_len = 200000;
      recs[i].value = g_malloc(200000);
      for (int k = 0; k < 200000; k++)
        recs[i].value[k] =
            k % 251 == 0 ? (uint8_t)test_rng_next(&rng) : (uint8_t)k;
      recs[i].headers = g_new0(batch_record_header, 1);
      batch_builder_add(b, recs[i].timestamp, NULL, -1, recs[i].value,
                        recs[i].value_len, NULL, 0);
    }
    buf_t out = BUF_INIT;
    CU_ASSERT_EQUAL(batch_builder_finish(b, -1, &out), KERR_NONE);
    TEST_EQ_INT(batch_validate(out.data, out.len, &client_limits), KERR_NONE,
                seed);
    batch_iter *it = batch_iter_new(out.data, out.len, &err);
    CU_ASSERT_FATAL(it != NULL);
    CU_ASSERT(records_match(it, recs, 3, 0, false, 0));
    batch_iter_free(it);
    trecs_free(recs, 3);
    buf_free(&out);
  }
}

/* ---- broker rewrites ---- */

static void test_rewrites(void) {
  uint64_t seed = test_seed();
  test_rng rng;
  test_rng_init(&rng, seed ^ 0x2222);
  int err;
  for (int c = 0; c < N_CODECS; c++) {
    tbatch tb;
    tbatch_random(&rng, &tb, 30, codecs[c]);
    uint8_t *p = tb.bytes.data;
    size_t len = tb.bytes.len;
    uint32_t crc_before = be32_load(p + BATCH_OFF_CRC);
    batch_set_base_offset(p, 123456789012);
    batch_set_leader_epoch(p, 42);
    CU_ASSERT_EQUAL(be32_load(p + BATCH_OFF_CRC), crc_before);
    TEST_EQ_INT(batch_validate(p, len, &client_limits), KERR_NONE, seed);
    batch_header h;
    CU_ASSERT_EQUAL(batch_header_parse(p, len, &h), KERR_NONE);
    CU_ASSERT(h.base_offset == 123456789012 && h.leader_epoch == 42);
    batch_iter *it = batch_iter_new(p, len, &err);
    CU_ASSERT_FATAL(it != NULL);
    CU_ASSERT(records_match(it, tb.recs, tb.n, 123456789012, false, 0));

    /* LogAppendTime: attribute bit, max_timestamp, new CRC; every record
     * reads the append time. */
    int64_t now_ms = 1800000000123;
    batch_set_log_append_time(p, len, now_ms);
    TEST_EQ_INT(batch_validate(p, len, &client_limits), KERR_NONE, seed);
    CU_ASSERT_EQUAL(be32_load(p + BATCH_OFF_CRC), crc32c(p + 21, len - 21));
    CU_ASSERT_EQUAL(batch_header_parse(p, len, &h), KERR_NONE);
    CU_ASSERT(h.attributes & BATCH_ATTR_LOG_APPEND_TIME);
    CU_ASSERT_EQUAL(h.max_timestamp, now_ms);
    CU_ASSERT_EQUAL(batch_header_codec(&h), codecs[c]);
    CU_ASSERT_EQUAL(batch_iter_reset(it, p, len), KERR_NONE);
    CU_ASSERT(records_match(it, tb.recs, tb.n, 123456789012, true, now_ms));
    CU_ASSERT_EQUAL(batch_iter_header(it)->max_timestamp, now_ms);
    batch_iter_free(it);
    tbatch_free(&tb);
  }
}

/* ---- corruption: every byte, every truncation ---- */

static uint8_t *dup_exact(const uint8_t *p, size_t len) {
  uint8_t *m = g_malloc(len ? len : 1);
  memcpy(m, p, len);
  return m;
}

/* Whatever validate says, the iterator must not crash; and when validate
 * accepts (with check_records), the iterator must yield exactly
 * record_count records without error. */
static bool iterate_consistent(const uint8_t *p, size_t len, int vrc,
                               batch_iter *it) {
  int rc = batch_iter_reset(it, p, len);
  if (rc != KERR_NONE)
    return vrc != KERR_NONE;
  batch_record rec;
  int32_t n = 0, r;
  while ((r = batch_iter_next(it, &rec)) == 1)
    n++;
  if (vrc != KERR_NONE)
    return true;
  return r == 0 && n == batch_iter_header(it)->record_count;
}

static void test_corrupt_every_byte(void) {
  uint64_t seed = test_seed();
  test_rng rng;
  test_rng_init(&rng, seed ^ 0x3333);
  int err;
  uint8_t any[128];
  memset(any, 0, sizeof any);
  int64_t bad = 0;
  for (int round = 0; round < 15; round++) {
    tbatch tb;
    tbatch_random(&rng, &tb, 8, codecs[round % N_CODECS]);
    size_t len = tb.bytes.len;
    batch_iter *it = batch_iter_new(tb.bytes.data, len, &err);
    CU_ASSERT_FATAL(it != NULL);
    for (size_t i = 0; i < len; i++) {
      uint8_t *m = dup_exact(tb.bytes.data, len);
      m[i] ^= (uint8_t)(1 + test_rng_below(&rng, 255));
      int rc = batch_validate(m, len, &client_limits);
      bool outside_crc = i < BATCH_OFF_LENGTH ||
                         (i >= BATCH_OFF_LEADER_EPOCH && i < BATCH_OFF_MAGIC);
      if (outside_crc) {
        /* Base offset or leader epoch: still valid, same records. */
        if (rc != KERR_NONE)
          bad++;
        batch_header h;
        CU_ASSERT_EQUAL(batch_header_parse(m, len, &h), KERR_NONE);
        CU_ASSERT_EQUAL(batch_iter_reset(it, m, len), KERR_NONE);
        if (!records_match(it, tb.recs, tb.n, h.base_offset, false, 0))
          bad++;
      } else if (rc == KERR_NONE) {
        bad++;
      } else if (!(rc == KERR_CORRUPT_MESSAGE || rc == KERR_INVALID_RECORD)) {
        bad++;
      }
      if (!iterate_consistent(m, len, rc, it))
        bad++;
      /* Same mutation with the CRC made to match: the content checks
       * alone must hold the line (accept only what iterates cleanly). */
      if (i >= BATCH_CRC_START) {
        be32_store(m + BATCH_OFF_CRC, batch_compute_crc(m, len));
        int rc2 = batch_validate(m, len, &log_limits);
        if (!iterate_consistent(m, len, rc2, it))
          bad++;
        rc2 = batch_validate(m, len, &client_limits);
        if (!iterate_consistent(m, len, rc2, it))
          bad++;
      }
      g_free(m);
    }
    batch_iter_free(it);
    tbatch_free(&tb);
  }
  if (bad)
    fprintf(stderr, "\n  %lld corrupted-byte cases misjudged (seed %llu)\n",
            (long long)bad, (unsigned long long)seed);
  CU_ASSERT_EQUAL(bad, 0);
}

static void test_truncation(void) {
  uint64_t seed = test_seed();
  test_rng rng;
  test_rng_init(&rng, seed ^ 0x4444);
  int err;
  int64_t bad = 0;
  for (int round = 0; round < 10; round++) {
    tbatch tb;
    tbatch_random(&rng, &tb, 10, codecs[round % N_CODECS]);
    size_t len = tb.bytes.len;
    batch_iter *it = batch_iter_new(tb.bytes.data, len, &err);
    CU_ASSERT_FATAL(it != NULL);
    for (size_t cut = 0; cut < len; cut++) {
      uint8_t *m = dup_exact(tb.bytes.data, cut);
      int rc = batch_validate(m, cut, &client_limits);
      if (rc != KERR_CORRUPT_MESSAGE)
        bad++;
      if (!iterate_consistent(m, cut, rc, it))
        bad++;
      if (batch_total_bytes(m, cut) != (cut < 12 ? -1 : (int64_t)len))
        bad++;
      /* Now make the header agree with the cut (length and CRC): the
       * records themselves must give it away. */
      if (cut >= BATCH_HEADER_BYTES) {
        be32_store(m + BATCH_OFF_LENGTH, (uint32_t)(cut - 12));
        be32_store(m + BATCH_OFF_CRC, batch_compute_crc(m, cut));
        rc = batch_validate(m, cut, &client_limits);
        if (rc == KERR_NONE)
          bad++;
        if (!iterate_consistent(m, cut, rc, it))
          bad++;
        if (batch_validate(m, cut, &log_limits) == KERR_NONE)
          bad++;
      }
      g_free(m);
    }
    batch_iter_free(it);
    tbatch_free(&tb);
  }
  if (bad)
    fprintf(stderr, "\n  %lld truncation cases misjudged (seed %llu)\n",
            (long long)bad, (unsigned long long)seed);
  CU_ASSERT_EQUAL(bad, 0);
}

/* ---- hostile fields ---- */

/* Validates a hand-made uncompressed batch whose records are given raw,
 * with a correct CRC. */
static int hand_validate(int16_t attributes, int32_t last_offset_delta,
                         int32_t record_count, const uint8_t *records,
                         size_t records_len, const batch_limits *limits) {
  buf_t b = BUF_INIT;
  hand_batch(&b, attributes, last_offset_delta, 100, 100, record_count, records,
             records_len);
  hand_crc(b.data, b.len);
  uint8_t *m = dup_exact(b.data, b.len);
  int rc = batch_validate(m, b.len, limits);
  /* The iterator must cope with the same bytes. */
  int err;
  batch_iter *it = batch_iter_new(m, b.len, &err);
  if (it) {
    batch_record rec;
    int n = 0;
    while (batch_iter_next(it, &rec) == 1)
      n++;
    CU_ASSERT(rc != KERR_NONE || n == record_count);
    batch_iter_free(it);
  }
  g_free(m);
  buf_free(&b);
  return rc;
}

/* Patches a 61+ byte batch field and re-seals the CRC. */
static int patched_validate(const buf_t *src, size_t off, int bytes, uint64_t v,
                            const batch_limits *limits) {
  uint8_t *m = dup_exact(src->data, src->len);
  for (int i = 0; i < bytes; i++)
    m[off + (size_t)i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
  be32_store(m + BATCH_OFF_CRC, batch_compute_crc(m, src->len));
  int rc = batch_validate(m, src->len, limits);
  int err;
  batch_iter *it = batch_iter_new(m, src->len, &err);
  if (it) {
    batch_record rec;
    while (batch_iter_next(it, &rec) == 1)
      ;
    batch_iter_free(it);
  }
  g_free(m);
  return rc;
}

static void test_hostile_header(void) {
  uint64_t seed = test_seed();
  buf_t b = BUF_INIT;
  hand_batch(&b, 0, 1, 100, 105, 2, known_records, sizeof known_records);
  hand_crc(b.data, b.len);
  const batch_limits *cl = &client_limits, *ll = &log_limits;
  TEST_EQ_INT(patched_validate(&b, 0, 0, 0, cl), KERR_NONE, seed);
  /* batch_length: negative, huge, off by one either way. */
  TEST_EQ_INT(patched_validate(&b, 8, 4, 0xffffffff, cl), KERR_CORRUPT_MESSAGE,
              seed);
  TEST_EQ_INT(patched_validate(&b, 8, 4, 0x80000000, cl), KERR_CORRUPT_MESSAGE,
              seed);
  TEST_EQ_INT(patched_validate(&b, 8, 4, 0x7fffffff, cl), KERR_CORRUPT_MESSAGE,
              seed);
  TEST_EQ_INT(patched_validate(&b, 8, 4, b.len - 11, cl), KERR_CORRUPT_MESSAGE,
              seed);
  TEST_EQ_INT(patched_validate(&b, 8, 4, b.len - 13, cl), KERR_CORRUPT_MESSAGE,
              seed);
  uint8_t neg[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xfe};
  CU_ASSERT_EQUAL(batch_total_bytes(neg, sizeof neg), -1);
  /* Magic. */
  TEST_EQ_INT(patched_validate(&b, 16, 1, 1, cl), KERR_INVALID_RECORD, seed);
  TEST_EQ_INT(patched_validate(&b, 16, 1, 0xff, cl), KERR_INVALID_RECORD, seed);
  /* record_count: negative, huge, too many, zero. */
  TEST_EQ_INT(patched_validate(&b, 57, 4, 0xffffffff, cl), KERR_INVALID_RECORD,
              seed);
  TEST_EQ_INT(patched_validate(&b, 57, 4, 0xffffffff, ll), KERR_INVALID_RECORD,
              seed);
  TEST_EQ_INT(patched_validate(&b, 57, 4, 0x7fffffff, cl), KERR_INVALID_RECORD,
              seed);
  TEST_EQ_INT(patched_validate(&b, 57, 4, 0x7fffffff, ll), KERR_INVALID_RECORD,
              seed);
  TEST_EQ_INT(patched_validate(&b, 57, 4, 3, cl), KERR_INVALID_RECORD, seed);
  TEST_EQ_INT(patched_validate(&b, 57, 4, 0, cl), KERR_INVALID_RECORD, seed);
  /* last_offset_delta + 1 != record_count (a client's batch). */
  TEST_EQ_INT(patched_validate(&b, 23, 4, 0, cl), KERR_INVALID_RECORD, seed);
  TEST_EQ_INT(patched_validate(&b, 23, 4, 2, cl), KERR_INVALID_RECORD, seed);
  TEST_EQ_INT(patched_validate(&b, 23, 4, 0xffffffff, cl), KERR_INVALID_RECORD,
              seed);
  TEST_EQ_INT(patched_validate(&b, 23, 4, 0x7fffffff, cl), KERR_INVALID_RECORD,
              seed);
  /* From a log a compacted range (delta past the count) is fine; a range
   * too small for the count is not. */
  TEST_EQ_INT(patched_validate(&b, 23, 4, 9, ll), KERR_NONE, seed);
  TEST_EQ_INT(patched_validate(&b, 23, 4, 0, ll), KERR_INVALID_RECORD, seed);
  TEST_EQ_INT(patched_validate(&b, 23, 4, 0xffffffff, ll), KERR_INVALID_RECORD,
              seed);
  /* Codec ids 5..7. */
  for (uint64_t codec = 5; codec < 8; codec++)
    TEST_EQ_INT(patched_validate(&b, 21, 2, codec, cl),
                KERR_UNSUPPORTED_COMPRESSION_TYPE, seed);
  /* A "compressed" batch whose blob is not a valid stream. */
  for (uint64_t codec = 1; codec < 5; codec++)
    TEST_EQ_INT(patched_validate(&b, 21, 2, codec, cl), KERR_CORRUPT_MESSAGE,
                seed);
  /* Idempotent producer without a sequence. */
  TEST_EQ_INT(patched_validate(&b, 43, 8, 5, cl), KERR_INVALID_RECORD, seed);
  TEST_EQ_INT(patched_validate(&b, 43, 8, 5, ll), KERR_NONE, seed);
  /* Unused attribute bits are ignored, as Kafka does. */
  TEST_EQ_INT(patched_validate(&b, 21, 2, 0x8000, cl), KERR_NONE, seed);
  buf_free(&b);

  /* Fewer bytes than a header at all. */
  uint8_t tiny[60] = {0};
  CU_ASSERT_EQUAL(batch_validate(tiny, sizeof tiny, cl), KERR_CORRUPT_MESSAGE);
  CU_ASSERT_EQUAL(batch_validate(NULL, 0, cl), KERR_CORRUPT_MESSAGE);
  batch_header h;
  CU_ASSERT_EQUAL(batch_header_parse(tiny, sizeof tiny, &h),
                  KERR_CORRUPT_MESSAGE);
}

static void test_hostile_records(void) {
  uint64_t seed = test_seed();
  const batch_limits *cl = &client_limits, *ll = &log_limits;
  /* A minimal good record: length 6, all fields zero/null. */
  static const uint8_t good[] = {0x0c, 0, 0, 0, 0x01, 0x01, 0};
  TEST_EQ_INT(hand_validate(0, 0, 1, good, sizeof good, cl), KERR_NONE, seed);
  /* Record length past the end of the batch. */
  static const uint8_t past[] = {0x7e, 0, 0, 0, 0x01, 0x01, 0};
  TEST_EQ_INT(hand_validate(0, 0, 1, past, sizeof past, cl),
              KERR_INVALID_RECORD, seed);
  /* Negative record length, and length 0. */
  static const uint8_t negl[] = {0x01, 0, 0, 0, 0x01, 0x01, 0};
  TEST_EQ_INT(hand_validate(0, 0, 1, negl, sizeof negl, cl),
              KERR_INVALID_RECORD, seed);
  static const uint8_t zerol[] = {0x00, 0, 0, 0, 0x01, 0x01, 0};
  TEST_EQ_INT(hand_validate(0, 0, 1, zerol, sizeof zerol, cl),
              KERR_INVALID_RECORD, seed);
  /* Length shorter / longer than the fields. */
  static const uint8_t shortl[] = {0x0a, 0, 0, 0, 0x01, 0x01, 0};
  TEST_EQ_INT(hand_validate(0, 0, 1, shortl, sizeof shortl, cl),
              KERR_INVALID_RECORD, seed);
  static const uint8_t short_key[] = {0x0e, 0, 0, 0, 0x04, 'a', 'b', 0x01, 0};
  TEST_EQ_INT(hand_validate(0, 0, 1, short_key, sizeof short_key, cl),
              KERR_INVALID_RECORD, seed);
  static const uint8_t key_ok[] = {0x10, 0, 0, 0, 0x04, 'a', 'b', 0x01, 0};
  TEST_EQ_INT(hand_validate(0, 0, 1, key_ok, sizeof key_ok, cl), KERR_NONE,
              seed);
  static const uint8_t longl[] = {0x0e, 0, 0, 0, 0x01, 0x01, 0, 0};
  TEST_EQ_INT(hand_validate(0, 0, 1, longl, sizeof longl, cl),
              KERR_INVALID_RECORD, seed);
  /* Varints that overflow: an 11-byte varlong timestamp delta, a 6-byte
   * varint offset delta, a 5-byte varint whose last byte has bits past
   * 32, and a length varint that never ends. */
  static const uint8_t ovf64[] = {0x20, 0,    0xff, 0xff, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                  0x01, 0,    0x01, 0x01, 0};
  TEST_EQ_INT(hand_validate(0, 0, 1, ovf64, sizeof ovf64, cl),
              KERR_INVALID_RECORD, seed);
  static const uint8_t ovf32[] = {0x16, 0,    0,    0xff, 0xff, 0xff,
                                  0xff, 0xff, 0x01, 0x01, 0x01, 0};
  TEST_EQ_INT(hand_validate(0, 0, 1, ovf32, sizeof ovf32, cl),
              KERR_INVALID_RECORD, seed);
  static const uint8_t wide32[] = {0x14, 0,    0,    0xff, 0xff, 0xff,
                                   0xff, 0x7f, 0x01, 0x01, 0};
  TEST_EQ_INT(hand_validate(0, 0, 1, wide32, sizeof wide32, cl),
              KERR_INVALID_RECORD, seed);
  static const uint8_t endless[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  TEST_EQ_INT(hand_validate(0, 0, 1, endless, sizeof endless, cl),
              KERR_INVALID_RECORD, seed);
  /* Key length -2, key length past the record, value length huge. */
  static const uint8_t key_m2[] = {0x0c, 0, 0, 0, 0x03, 0x01, 0};
  TEST_EQ_INT(hand_validate(0, 0, 1, key_m2, sizeof key_m2, cl),
              KERR_INVALID_RECORD, seed);
  static const uint8_t key_past[] = {0x0c, 0, 0, 0, 0x08, 0x01, 0};
  TEST_EQ_INT(hand_validate(0, 0, 1, key_past, sizeof key_past, cl),
              KERR_INVALID_RECORD, seed);
  static const uint8_t val_huge[] = {0x14, 0,    0,    0,    0x01, 0xfe,
                                     0xff, 0xff, 0xff, 0x0f, 0};
  TEST_EQ_INT(hand_validate(0, 0, 1, val_huge, sizeof val_huge, cl),
              KERR_INVALID_RECORD, seed);
  /* Header count negative and huge; a null header key. */
  static const uint8_t hc_neg[] = {0x0c, 0, 0, 0, 0x01, 0x01, 0x01};
  TEST_EQ_INT(hand_validate(0, 0, 1, hc_neg, sizeof hc_neg, cl),
              KERR_INVALID_RECORD, seed);
  static const uint8_t hc_huge[] = {0x14, 0,    0,    0,    0x01, 0x01,
                                    0xfe, 0xff, 0xff, 0xff, 0x0f};
  TEST_EQ_INT(hand_validate(0, 0, 1, hc_huge, sizeof hc_huge, cl),
              KERR_INVALID_RECORD, seed);
  static const uint8_t hkey_null[] = {0x10, 0,    0,    0,   0x01,
                                      0x01, 0x02, 0x01, 0x01};
  TEST_EQ_INT(hand_validate(0, 0, 1, hkey_null, sizeof hkey_null, cl),
              KERR_INVALID_RECORD, seed);
  static const uint8_t hkey_ok[] = {0x10, 0,    0,    0,   0x01,
                                    0x01, 0x02, 0x00, 0x01};
  TEST_EQ_INT(hand_validate(0, 0, 1, hkey_ok, sizeof hkey_ok, cl), KERR_NONE,
              seed);
  /* Wrong offset delta for a client; bytes after the last record. */
  static const uint8_t delta1[] = {0x0c, 0, 0, 0x02, 0x01, 0x01, 0};
  TEST_EQ_INT(hand_validate(0, 0, 1, delta1, sizeof delta1, cl),
              KERR_INVALID_RECORD, seed);
  TEST_EQ_INT(hand_validate(0, 1, 1, delta1, sizeof delta1, ll), KERR_NONE,
              seed);
  TEST_EQ_INT(hand_validate(0, 0, 1, delta1, sizeof delta1, ll),
              KERR_INVALID_RECORD, seed);
  static const uint8_t trailing[] = {0x0c, 0, 0, 0, 0x01, 0x01, 0, 0x00};
  TEST_EQ_INT(hand_validate(0, 0, 1, trailing, sizeof trailing, cl),
              KERR_INVALID_RECORD, seed);
  /* Two records with the same delta, from a log. */
  static const uint8_t dup[] = {0x0c, 0, 0, 0x02, 0x01, 0x01, 0,
                                0x0c, 0, 0, 0x02, 0x01, 0x01, 0};
  TEST_EQ_INT(hand_validate(0, 5, 2, dup, sizeof dup, ll), KERR_INVALID_RECORD,
              seed);
  /* record_count larger than the bytes could hold, even unchecked. */
  batch_limits quick = {0, false, false};
  TEST_EQ_INT(hand_validate(0, 1, 2, good, sizeof good, &quick),
              KERR_INVALID_RECORD, seed);
}

static void test_control_and_size(void) {
  uint64_t seed = test_seed();
  /* A COMMIT marker as a coordinator writes it: key = version 0, type 1;
   * value = version 0, coordinator epoch 3. */
  batch_builder_opts o = {
      .codec = BATCH_CODEC_NONE,
      .base_offset = 0,
      .base_timestamp = 77,
      .producer_id = 1000,
      .producer_epoch = 2,
      .base_sequence = -1,
      .extra_attributes = BATCH_ATTR_CONTROL | BATCH_ATTR_TRANSACTIONAL,
      .leader_epoch = 5,
  };
  batch_builder *b = batch_builder_new(&o);
  static const uint8_t key[4] = {0, 0, 0, 1};
  static const uint8_t value[6] = {0, 0, 0, 0, 0, 3};
  batch_builder_add(b, 77, key, 4, value, 6, NULL, 0);
  buf_t out = BUF_INIT;
  CU_ASSERT_EQUAL(batch_builder_finish(b, -1, &out), KERR_NONE);
  TEST_EQ_INT(batch_validate(out.data, out.len, &client_limits),
              KERR_INVALID_RECORD, seed);
  TEST_EQ_INT(batch_validate(out.data, out.len, &log_limits), KERR_NONE, seed);

  /* MESSAGE_TOO_LARGE at len > max_bytes, checked before the CRC. */
  batch_limits lim = {out.len, true, true};
  TEST_EQ_INT(batch_validate(out.data, out.len, &lim), KERR_NONE, seed);
  lim.max_bytes = out.len - 1;
  TEST_EQ_INT(batch_validate(out.data, out.len, &lim), KERR_MESSAGE_TOO_LARGE,
              seed);
  out.data[out.len - 1] ^= 1;
  TEST_EQ_INT(batch_validate(out.data, out.len, &lim), KERR_MESSAGE_TOO_LARGE,
              seed);
  lim.max_bytes = 0;
  TEST_EQ_INT(batch_validate(out.data, out.len, &lim), KERR_CORRUPT_MESSAGE,
              seed);
  buf_free(&out);
}

/* Compaction's shapes: gaps in offset deltas kept by add_at and a range
 * kept by last_offset_delta_min; an empty batch, compressed or not. */
static void test_compacted_shapes(void) {
  uint64_t seed = test_seed();
  int err;
  for (int c = 0; c < N_CODECS; c++) {
    batch_builder_opts o = {codecs[c], 500, 10, -1, -1, -1, 0, 3};
    batch_builder *b = batch_builder_new(&o);
    batch_builder_add_at(b, 2, 12, "a", 1, "x", 1, NULL, 0);
    batch_builder_add_at(b, 7, 17, "b", 1, NULL, -1, NULL, 0);
    batch_builder_add(b, 18, "c", 1, "z", 1, NULL, 0); /* delta 8 */
    buf_t out = BUF_INIT;
    CU_ASSERT_EQUAL(batch_builder_finish(b, 9, &out), KERR_NONE);
    TEST_EQ_INT(batch_validate(out.data, out.len, &log_limits), KERR_NONE,
                seed);
    TEST_EQ_INT(batch_validate(out.data, out.len, &client_limits),
                KERR_INVALID_RECORD, seed);
    batch_header h;
    CU_ASSERT_EQUAL(batch_header_parse(out.data, out.len, &h), KERR_NONE);
    CU_ASSERT(h.last_offset_delta == 9 && h.record_count == 3);
    CU_ASSERT_EQUAL(batch_last_offset(&h), 509);
    CU_ASSERT_EQUAL(h.max_timestamp, 18);
    batch_iter *it = batch_iter_new(out.data, out.len, &err);
    CU_ASSERT_FATAL(it != NULL);
    batch_record rec;
    static const int64_t want[] = {502, 507, 508};
    for (int i = 0; i < 3; i++) {
      CU_ASSERT_EQUAL(batch_iter_next(it, &rec), 1);
      CU_ASSERT_EQUAL(rec.offset, want[i]);
    }
    CU_ASSERT_EQUAL(rec.timestamp, 18);
    CU_ASSERT_EQUAL(batch_iter_next(it, &rec), 0);
    batch_iter_free(it);
    buf_free(&out);

    /* Empty: no records, range kept. */
    b = batch_builder_new(&o);
    CU_ASSERT_EQUAL(batch_builder_finish(b, 4, &out), KERR_NONE);
    TEST_EQ_INT(batch_validate(out.data, out.len, &log_limits), KERR_NONE,
                seed);
    TEST_EQ_INT(batch_validate(out.data, out.len, &client_limits),
                KERR_INVALID_RECORD, seed);
    CU_ASSERT_EQUAL(batch_header_parse(out.data, out.len, &h), KERR_NONE);
    CU_ASSERT(h.record_count == 0 && h.last_offset_delta == 4 &&
              h.max_timestamp == -1);
    it = batch_iter_new(out.data, out.len, &err);
    CU_ASSERT_FATAL(it != NULL);
    CU_ASSERT_EQUAL(batch_iter_next(it, &rec), 0);
    batch_iter_free(it);
    /* Kafka may also write an empty batch with no record bytes at all,
     * keeping the codec bit. */
    buf_t bare = BUF_INIT;
    buf_append(&bare, out.data, BATCH_HEADER_BYTES);
    be32_store(bare.data + BATCH_OFF_LENGTH, BATCH_HEADER_BYTES - 12);
    be32_store(bare.data + BATCH_OFF_CRC,
               batch_compute_crc(bare.data, bare.len));
    TEST_EQ_INT(batch_validate(bare.data, bare.len, &log_limits), KERR_NONE,
                seed);
    buf_free(&bare);
    buf_free(&out);
  }
  /* An unknown codec in the builder is refused and leaves out alone. */
  batch_builder_opts o = {(batch_codec)6, 0, 0, -1, -1, -1, 0, -1};
  batch_builder *b = batch_builder_new(&o);
  batch_builder_add(b, 0, NULL, -1, NULL, -1, NULL, 0);
  buf_t out = BUF_INIT;
  CU_ASSERT_EQUAL(batch_builder_finish(b, -1, &out),
                  KERR_UNSUPPORTED_COMPRESSION_TYPE);
  CU_ASSERT_EQUAL(out.len, 0);
  buf_free(&out);
}

/* A compressed batch whose records decompress past
 * BATCH_DECOMPRESSED_BYTES_MAX is refused without decoding it all. */
static void test_decompression_bomb(void) {
  uint64_t seed = test_seed();
  size_t piece = (size_t)1 << 20;
  uint8_t *zeros = g_malloc0(piece);
  ZSTD_CCtx *cctx = ZSTD_createCCtx();
  CU_ASSERT_FATAL(cctx != NULL);
  buf_t blob = BUF_INIT;
  buf_reserve(&blob, (size_t)1 << 20);
  size_t total = BATCH_DECOMPRESSED_BYTES_MAX + piece;
  for (size_t fed = 0; fed < total; fed += piece) {
    ZSTD_inBuffer ib = {zeros, piece, 0};
    ZSTD_EndDirective end = fed + piece >= total ? ZSTD_e_end : ZSTD_e_continue;
    size_t left;
    do {
      buf_reserve(&blob, 65536);
      ZSTD_outBuffer ob = {blob.data + blob.len, blob.cap - blob.len, 0};
      left = ZSTD_compressStream2(cctx, &ob, &ib, end);
      CU_ASSERT_FATAL(!ZSTD_isError(left));
      blob.len += ob.pos;
    } while (ib.pos < ib.size || (end == ZSTD_e_end && left != 0));
  }
  ZSTD_freeCCtx(cctx);
  g_free(zeros);
  buf_t b = BUF_INIT;
  hand_batch(&b, BATCH_CODEC_ZSTD, 0, 1, 1, 1, blob.data, blob.len);
  hand_crc(b.data, b.len);
  TEST_EQ_INT(batch_validate(b.data, b.len, &client_limits),
              KERR_CORRUPT_MESSAGE, seed);
  int err;
  CU_ASSERT(batch_iter_new(b.data, b.len, &err) == NULL);
  CU_ASSERT_EQUAL(err, KERR_CORRUPT_MESSAGE);
  buf_free(&b);
  buf_free(&blob);
}

static void test_kerr_names(void) {
  CU_ASSERT_STRING_EQUAL(kerr_name(KERR_NONE), "NONE");
  CU_ASSERT_STRING_EQUAL(kerr_name(2), "CORRUPT_MESSAGE");
  CU_ASSERT_STRING_EQUAL(kerr_name(87), "INVALID_RECORD");
  CU_ASSERT_STRING_EQUAL(kerr_name(-1), "UNKNOWN_SERVER_ERROR");
  CU_ASSERT_STRING_EQUAL(kerr_name(10), "MESSAGE_TOO_LARGE");
  CU_ASSERT_STRING_EQUAL(kerr_name(9999), "UNKNOWN");
}

/* Record varints take an unrolled path when ten bytes remain and a checked
 * loop near the end of the records (base/varint.h): the same record must
 * be judged the same in both places. Each record is checked alone (so its
 * last fields lie in the final bytes) and followed by a good record (so
 * every field has ten bytes after it). */
static void test_record_varint_paths(void) {
  uint64_t seed = test_seed();
  const batch_limits *cl = &client_limits;
  static const uint8_t tail_good[] = {0x0c, 0, 0, 0x02, 0x01, 0x01, 0};
  typedef struct vcase {
    uint8_t bytes[24];
    size_t len;
    int want;
  } vcase;
  static const vcase cases[] = {
      /* Zero padding within the maximum length is accepted (Kafka too):
       * a 10-byte timestamp delta, a 5-byte offset delta. */
      {{0x1e, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
        0, 0x01, 0x01, 0},
       16,
       KERR_NONE},
      {{0x14, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01, 0x01, 0},
       11,
       KERR_NONE},
      /* The 10th byte of the timestamp delta with a bit past 64, and with
       * a continuation bit. */
      {{0x1e, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02,
        0, 0x01, 0x01, 0},
       16,
       KERR_INVALID_RECORD},
      {{0x20, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
        0x00, 0, 0x01, 0x01, 0},
       17,
       KERR_INVALID_RECORD},
      /* The 5th byte of the offset delta with bits past 32. */
      {{0x14, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x10, 0x01, 0x01, 0},
       11,
       KERR_INVALID_RECORD},
      /* A header count whose varint is cut by the record's own length. */
      {{0x0c, 0, 0, 0, 0x01, 0x01, 0x80}, 7, KERR_INVALID_RECORD},
      /* A value length past the record's end, and a padded key length. */
      {{0x0c, 0, 0, 0, 0x01, 0x04, 0}, 7, KERR_INVALID_RECORD},
      {{0x0e, 0, 0, 0, 0x81, 0x00, 0x01, 0}, 8, KERR_NONE},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const vcase *c = &cases[i];
    TEST_EQ_INT(hand_validate(0, 0, 1, c->bytes, c->len, cl), c->want, seed);
    uint8_t two[sizeof c->bytes + sizeof tail_good];
    memcpy(two, c->bytes, c->len);
    memcpy(two + c->len, tail_good, sizeof tail_good);
    TEST_EQ_INT(hand_validate(0, 1, 2, two, c->len + sizeof tail_good, cl),
                c->want, seed);
  }
}

/* An uncompressed batch finished into an empty buffer takes over the
 * builder's memory; into a non-empty one it is appended. Same bytes. The
 * first builder writes into a reused buffer (batch_builder_new_in) still
 * holding old bytes, of random capacity: they are discarded and the room
 * is left empty. */
static void test_finish_in_place(void) {
  uint64_t seed = test_seed() ^ 0xF1;
  test_rng rng;
  test_rng_init(&rng, seed);
  for (int run = 0; run < 50; run++) {
    batch_codec codec = codecs[test_rng_below(&rng, G_N_ELEMENTS(codecs))];
    batch_builder_opts o = {codec, 0, 1000, -1, -1, -1, 0, -1};
    buf_t room = BUF_INIT;
    size_t junk =
        test_rng_below(&rng, 3) == 0 ? 0 : (size_t)test_rng_below(&rng, 100000);
    for (size_t i = 0; i < junk; i++)
      buf_put_u8(&room, (uint8_t)(0xA5 ^ i));
    batch_builder *a = batch_builder_new_in(&o, &room);
    CU_ASSERT(room.data == NULL && room.len == 0 && room.cap == 0);
    batch_builder *b = batch_builder_new(&o);
    int n = 1 + (int)test_rng_below(&rng, 40);
    trec *recs = g_new0(trec, n);
    for (int i = 0; i < n; i++) {
      trec *r = &recs[i];
      trec_random(&rng, r, 1000);
      batch_builder_add(a, r->timestamp, r->key, r->key_len, r->value,
                        r->value_len, r->headers, r->header_count);
      batch_builder_add(b, r->timestamp, r->key, r->key_len, r->value,
                        r->value_len, r->headers, r->header_count);
    }
    trecs_free(recs, n);
    buf_t in_place = BUF_INIT, appended = BUF_INIT;
    buf_append(&in_place, "x", 1); /* capacity but no bytes: still empty */
    buf_clear(&in_place);
    buf_append(&appended, "prefix", 6);
    TEST_EQ_INT(batch_builder_finish(a, -1, &in_place), KERR_NONE, seed);
    TEST_EQ_INT(batch_builder_finish(b, -1, &appended), KERR_NONE, seed);
    CU_ASSERT_EQUAL_FATAL(appended.len, in_place.len + 6);
    CU_ASSERT(memcmp(appended.data, "prefix", 6) == 0);
    CU_ASSERT(memcmp(appended.data + 6, in_place.data, in_place.len) == 0);
    TEST_EQ_INT(batch_validate(in_place.data, in_place.len, &client_limits),
                KERR_NONE, seed);
    buf_free(&in_place);
    buf_free(&appended);
  }
}

int suite_batch(void) {
  TEST_SUITE("batch",
             {"known bytes from the published layout", test_known_bytes},
             {"round trip random batches, every codec", test_round_trip_random},
             {"round trip large values", test_round_trip_large_values},
             {"offset, epoch and LogAppendTime rewrites", test_rewrites},
             {"every byte corrupted", test_corrupt_every_byte},
             {"every truncation", test_truncation},
             {"hostile header fields", test_hostile_header},
             {"hostile record fields", test_hostile_records},
             {"control batches and MESSAGE_TOO_LARGE", test_control_and_size},
             {"compacted shapes and empty batches", test_compacted_shapes},
             {"decompression bomb", test_decompression_bomb},
             {"record varints near and far from the end",
              test_record_varint_paths},
             {"finish in place", test_finish_in_place},
             {"kerr names", test_kerr_names});
}
