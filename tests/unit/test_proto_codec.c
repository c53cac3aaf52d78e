/*
 * test_proto_codec.c — properties of the generic codec over EVERY described
 * message and version:
 *   - randomly populated messages survive encode -> decode -> equal, and
 *     re-encoding the decoded message gives the same bytes;
 *   - every truncation of a valid encoding fails cleanly (inputs are
 *     exact-size heap copies, so a read past the end shows under ASan);
 *   - random garbage and random mutations of valid encodings never crash,
 *     and whatever decodes re-encodes to something that decodes equal;
 * plus the encoder's refusals, defaults, and the decoder's bounds on
 * counts and memory.
 */
#include <stdlib.h>
#include <string.h>

#include "broker/proto/proto.h"
#include "tests/unit/testutil.h"

#define ROUNDTRIPS_PER_VERSION 12
#define TRUNCATION_MESSAGES_PER_VERSION 2
#define GARBAGE_PER_VERSION 40
#define MUTATIONS_PER_VERSION 40
/* Random arrays stay small so nested messages stay small. */
#define FILL_ARRAY_MAX 3

/* ---- random population, by walking the descriptors ---- */

static size_t value_size(proto_type t, const proto_struct *sub) {
  switch (t) {
  case PROTO_BOOL:
    return sizeof(bool);
  case PROTO_INT8:
    return 1;
  case PROTO_INT16:
  case PROTO_UINT16:
    return 2;
  case PROTO_INT32:
  case PROTO_UINT32:
    return 4;
  case PROTO_INT64:
    return 8;
  case PROTO_FLOAT64:
    return sizeof(double);
  case PROTO_UUID:
    return sizeof(proto_uuid);
  case PROTO_STRING:
    return sizeof(proto_str);
  case PROTO_BYTES:
  case PROTO_RECORDS:
    return sizeof(proto_bytes);
  case PROTO_STRUCT:
    return sub->size;
  }
  return 0;
}

typedef struct filler {
  test_rng *rng;
  proto_arena *arena;
  int16_t version;
  bool flexible;
} filler;

static void fill_struct(filler *fl, const proto_struct *s, uint8_t *p);

static int32_t random_len(filler *fl) {
  /* Mostly short; sometimes long enough for multi-byte uvarints. */
  uint64_t pick = test_rng_below(fl->rng, 20);
  if (pick == 0)
    return (int32_t)(128 + test_rng_below(fl->rng, 300));
  return (int32_t)test_rng_below(fl->rng, 12);
}

static void fill_value(filler *fl, proto_type t, const proto_struct *sub,
                       bool nullable, uint8_t *slot) {
  uint64_t r = test_rng_next(fl->rng);
  switch (t) {
  case PROTO_BOOL: {
    bool v = r & 1;
    memcpy(slot, &v, sizeof v);
    return;
  }
  case PROTO_INT8:
  case PROTO_INT16:
  case PROTO_UINT16:
  case PROTO_INT32:
  case PROTO_UINT32:
  case PROTO_INT64:
  case PROTO_FLOAT64:
    /* Any bit pattern (floats compare by bits). Small values half the
     * time, so defaults like -1 and 0 turn up. */
    if (test_rng_below(fl->rng, 2))
      r = (uint64_t)((int64_t)test_rng_below(fl->rng, 4) - 2);
    memcpy(slot, &r, value_size(t, sub));
    return;
  case PROTO_UUID:
    for (int i = 0; i < 16; i++)
      slot[i] = (uint8_t)test_rng_next(fl->rng);
    return;
  case PROTO_STRING: {
    proto_str v = PROTO_STR_NULL;
    if (!(nullable && test_rng_below(fl->rng, 5) == 0)) {
      int32_t n = random_len(fl);
      char *d = proto_arena_alloc(fl->arena, (size_t)n + 1);
      for (int32_t i = 0; i < n; i++)
        d[i] = (char)('a' + test_rng_below(fl->rng, 26));
      v = (proto_str){d, n};
    }
    memcpy(slot, &v, sizeof v);
    return;
  }
  case PROTO_BYTES:
  case PROTO_RECORDS: {
    proto_bytes v = PROTO_BYTES_NULL;
    if (!(nullable && test_rng_below(fl->rng, 5) == 0)) {
      int32_t n = random_len(fl);
      uint8_t *d = proto_arena_alloc(fl->arena, (size_t)n);
      for (int32_t i = 0; i < n; i++)
        d[i] = (uint8_t)test_rng_next(fl->rng);
      v = (proto_bytes){n ? d : NULL, n};
    }
    memcpy(slot, &v, sizeof v);
    return;
  }
  case PROTO_STRUCT:
    fill_struct(fl, sub, slot);
    return;
  }
}

typedef struct any_array {
  void *items;
  int32_t count;
} any_array;

static void fill_field(filler *fl, const proto_field *f, uint8_t *slot) {
  bool nullable = proto_vrange_has(f->nullable, fl->version);
  if (!f->is_array) {
    fill_value(fl, f->type, f->sub, nullable, slot);
    return;
  }
  any_array a = {NULL, -1};
  if (!(nullable && test_rng_below(fl->rng, 5) == 0)) {
    a.count = (int32_t)test_rng_below(fl->rng, FILL_ARRAY_MAX + 1);
    size_t elem = value_size(f->type, f->sub);
    a.items = a.count ? (f->type == PROTO_STRUCT
                             ? proto_new_array(fl->arena, f->sub, a.count)
                             : proto_arena_alloc(fl->arena, elem * a.count))
                      : NULL;
    for (int32_t i = 0; i < a.count; i++)
      fill_value(fl, f->type, f->sub, false, (uint8_t *)a.items + i * elem);
  }
  memcpy(slot, &a, sizeof a);
}

static void fill_struct(filler *fl, const proto_struct *s, uint8_t *p) {
  for (uint16_t i = 0; i < s->field_count; i++) {
    const proto_field *f = &s->fields[i];
    if (!proto_vrange_has(f->versions, fl->version))
      continue;
    /* Tagged fields stay at their default half the time (then they are
     * not sent at all). */
    if (proto_vrange_has(f->tagged, fl->version) && test_rng_below(fl->rng, 2))
      continue;
    fill_field(fl, f, p + f->offset);
  }
}

static void *random_message(test_rng *rng, proto_arena *a,
                            const proto_message *m, int16_t version) {
  filler fl = {rng, a, version, proto_message_flexible(m, version)};
  void *msg = proto_new(a, m->body);
  CU_ASSERT_FATAL(msg != NULL);
  fill_struct(&fl, m->body, msg);
  return msg;
}

/* ---- iteration over every message and version ---- */

typedef void (*per_version_fn)(const proto_message *m, int16_t version,
                               test_rng *rng, uint64_t seed);

static int for_each_message(per_version_fn fn, uint64_t seed) {
  test_rng rng;
  test_rng_init(&rng, seed);
  int described = 0;
  for (int key = 0; key < 128; key++) {
    const proto_message *ms[2] = {proto_request_message((int16_t)key),
                                  proto_response_message((int16_t)key)};
    CU_ASSERT((ms[0] == NULL) == (ms[1] == NULL));
    for (int k = 0; k < 2; k++) {
      if (!ms[k])
        continue;
      described++;
      for (int v = ms[k]->versions.min; v <= ms[k]->versions.max; v++)
        fn(ms[k], (int16_t)v, &rng, seed);
    }
  }
  return described;
}

static uint8_t *dup_exact(const uint8_t *p, size_t n) {
  uint8_t *c = malloc(n ? n : 1);
  CU_ASSERT_FATAL(c != NULL);
  if (n)
    memcpy(c, p, n);
  return c;
}

static void report(const proto_message *m, int16_t version, const char *what,
                   uint64_t seed) {
  fprintf(stderr, "\n  %s v%d: %s (seed %llu)\n", m->name, version, what,
          (unsigned long long)seed);
}

/* ---- properties ---- */

static void roundtrip_one(const proto_message *m, int16_t version,
                          test_rng *rng, uint64_t seed) {
  proto_arena *a = proto_arena_new(0);
  buf_t enc = BUF_INIT, again = BUF_INIT;
  for (int i = 0; i < ROUNDTRIPS_PER_VERSION; i++) {
    proto_arena_reset(a);
    buf_clear(&enc);
    buf_clear(&again);
    void *msg = random_message(rng, a, m, version);
    if (proto_encode(m, version, msg, &enc) != 0) {
      report(m, version, "encode failed", seed);
      CU_FAIL("encode");
      continue;
    }
    uint8_t *copy = dup_exact(enc.data, enc.len);
    void *back = NULL;
    int rc = proto_decode(m, version, copy, enc.len, a, &back);
    if (rc != 0) {
      report(m, version, proto_strerror(rc), seed);
      CU_FAIL("decode");
    } else {
      if (!proto_equal(m->body, version, msg, back)) {
        report(m, version, "decoded message differs", seed);
        CU_FAIL("equal");
      }
      CU_ASSERT_EQUAL(proto_encode(m, version, back, &again), 0);
      if (again.len != enc.len ||
          (enc.len && memcmp(again.data, enc.data, enc.len))) {
        report(m, version, "re-encoding differs", seed);
        CU_FAIL("re-encode");
      }
    }
    free(copy);
  }
  buf_free(&enc);
  buf_free(&again);
  proto_arena_free(a);
}

static void test_roundtrip_every_message(void) {
  int n = for_each_message(roundtrip_one, test_seed());
  CU_ASSERT(n >= 50); /* 25 APIs, request and response */
}

static void truncation_one(const proto_message *m, int16_t version,
                           test_rng *rng, uint64_t seed) {
  proto_arena *a = proto_arena_new(0);
  buf_t enc = BUF_INIT;
  for (int i = 0; i < TRUNCATION_MESSAGES_PER_VERSION; i++) {
    buf_clear(&enc);
    proto_arena_reset(a);
    void *msg = random_message(rng, a, m, version);
    CU_ASSERT_FATAL(proto_encode(m, version, msg, &enc) == 0);
    for (size_t cut = 0; cut < enc.len; cut++) {
      uint8_t *copy = dup_exact(enc.data, cut);
      void *out = (void *)1;
      int rc = proto_decode(m, version, cut ? copy : NULL, cut, a, &out);
      if (rc != PROTO_ERR_DECODE) {
        report(m, version, "a truncation decoded", seed);
        CU_FAIL("truncation");
      }
      CU_ASSERT_PTR_NULL(out);
      free(copy);
    }
  }
  buf_free(&enc);
  proto_arena_free(a);
}

static void test_truncations_fail(void) {
  for_each_message(truncation_one, test_seed() + 1);
}

/* Whatever decodes must re-encode, and decode again to an equal message. */
static void check_stable(const proto_message *m, int16_t version,
                         const void *msg, proto_arena *a, uint64_t seed) {
  buf_t enc = BUF_INIT;
  if (proto_encode(m, version, msg, &enc) != 0) {
    report(m, version, "decoded garbage does not re-encode", seed);
    CU_FAIL("re-encode");
    buf_free(&enc);
    return;
  }
  void *back = NULL;
  CU_ASSERT_EQUAL(proto_decode(m, version, enc.data, enc.len, a, &back), 0);
  if (back && !proto_equal(m->body, version, msg, back)) {
    report(m, version, "re-decoded garbage differs", seed);
    CU_FAIL("stable");
  }
  buf_free(&enc);
}

static void garbage_one(const proto_message *m, int16_t version, test_rng *rng,
                        uint64_t seed) {
  proto_arena *a = proto_arena_new(16 * 1024 * 1024);
  for (int i = 0; i < GARBAGE_PER_VERSION; i++) {
    proto_arena_reset(a);
    size_t n = test_rng_below(rng, 64);
    uint8_t *p = malloc(n ? n : 1);
    for (size_t k = 0; k < n; k++) {
      /* Bias towards small bytes so lengths and counts are plausible. */
      uint64_t r = test_rng_next(rng);
      p[k] = (r & 3) ? (uint8_t)((r >> 8) % 4) : (uint8_t)(r >> 8);
    }
    void *out = NULL;
    if (proto_decode(m, version, n ? p : NULL, n, a, &out) == 0)
      check_stable(m, version, out, a, seed);
    free(p);
  }
  buf_t enc = BUF_INIT;
  for (int i = 0; i < MUTATIONS_PER_VERSION; i++) {
    proto_arena_reset(a);
    buf_clear(&enc);
    void *msg = random_message(rng, a, m, version);
    CU_ASSERT_FATAL(proto_encode(m, version, msg, &enc) == 0);
    if (enc.len == 0)
      continue;
    int flips = 1 + (int)test_rng_below(rng, 3);
    for (int k = 0; k < flips; k++)
      enc.data[test_rng_below(rng, enc.len)] = (uint8_t)test_rng_next(rng);
    uint8_t *copy = dup_exact(enc.data, enc.len);
    void *out = NULL;
    if (proto_decode(m, version, copy, enc.len, a, &out) == 0)
      check_stable(m, version, out, a, seed);
    free(copy);
  }
  buf_free(&enc);
  proto_arena_free(a);
}

static void test_garbage_never_crashes(void) {
  for_each_message(garbage_one, test_seed() + 2);
}

/* ---- specific behaviours ---- */

static void test_defaults(void) {
  proto_arena *a = proto_arena_new(0);
  proto_fetch_req *f = PROTO_NEW(a, proto_fetch_req);
  CU_ASSERT_EQUAL(f->replica_id, -1);
  CU_ASSERT_EQUAL(f->max_bytes, 0x7fffffff);
  CU_ASSERT_EQUAL(f->session_epoch, -1);
  CU_ASSERT_EQUAL(f->cluster_id.len, -1); /* default "null" */
  CU_ASSERT(proto_str_eq(f->rack_id, ""));
  proto_produce_req *p = PROTO_NEW(a, proto_produce_req);
  CU_ASSERT_EQUAL(p->transactional_id.len, -1);
  proto_init_producer_id_req *ipi = PROTO_NEW(a, proto_init_producer_id_req);
  CU_ASSERT_EQUAL(ipi->producer_id, -1);
  CU_ASSERT_EQUAL(ipi->producer_epoch, -1);

  /* A field the version does not carry decodes to its default. */
  proto_fetch_req_fetch_partition *fp =
      PROTO_NEW(a, proto_fetch_req_fetch_partition);
  fp->current_leader_epoch = 17; /* v9+ */
  fp->fetch_offset = 100;
  buf_t enc = BUF_INIT;
  CU_ASSERT_EQUAL(proto_encode_struct(&proto_fetch_req_fetch_partition_desc, 4,
                                      false, fp, &enc),
                  0);
  CU_ASSERT_EQUAL(enc.len, 4 + 8 + 4); /* partition, offset, max bytes */
  proto_fetch_req_fetch_partition back;
  CU_ASSERT_EQUAL(proto_decode_struct(&proto_fetch_req_fetch_partition_desc, 4,
                                      false, enc.data, enc.len, a, &back),
                  0);
  CU_ASSERT_EQUAL(back.fetch_offset, 100);
  CU_ASSERT_EQUAL(back.current_leader_epoch, -1);
  buf_free(&enc);
  proto_arena_free(a);
}

static void test_encode_refusals(void) {
  proto_arena *a = proto_arena_new(0);
  buf_t out = BUF_INIT;
  buf_put_u8(&out, 0x5A); /* existing content must survive a failure */

  /* Null where the version does not allow it. */
  proto_metadata_req *m = PROTO_NEW(a, proto_metadata_req);
  m->topics.count = -1;
  CU_ASSERT_EQUAL(proto_encode(&proto_metadata_req_msg, 0, m, &out),
                  PROTO_ERR_ENCODE);
  CU_ASSERT_EQUAL(out.len, 1);
  CU_ASSERT_EQUAL(proto_encode(&proto_metadata_req_msg, 1, m, &out), 0);
  out.len = 1;

  proto_produce_req *p = PROTO_NEW(a, proto_produce_req);
  p->topic_data.items =
      PROTO_NEW_ARRAY(a, proto_produce_req_topic_produce_data, 1);
  p->topic_data.count = 1;
  p->topic_data.items[0].name = PROTO_STR_NULL; /* topic names never null */
  CU_ASSERT_EQUAL(proto_encode(&proto_produce_req_msg, 3, p, &out),
                  PROTO_ERR_ENCODE);
  CU_ASSERT_EQUAL(out.len, 1);

  /* A string over 32767 bytes: only compact strings can carry it. */
  size_t big = 40000;
  char *s = proto_arena_alloc(a, big);
  memset(s, 'x', big);
  p->topic_data.items[0].name = (proto_str){s, (int32_t)big};
  CU_ASSERT_EQUAL(proto_encode(&proto_produce_req_msg, 8, p, &out),
                  PROTO_ERR_ENCODE);
  CU_ASSERT_EQUAL(out.len, 1);
  CU_ASSERT_EQUAL(proto_encode(&proto_produce_req_msg, 9, p, &out), 0);
  void *back = NULL;
  CU_ASSERT_EQUAL(proto_decode(&proto_produce_req_msg, 9, out.data + 1,
                               out.len - 1, a, &back),
                  0);
  CU_ASSERT(back && proto_equal(&proto_produce_req_desc, 9, p, back));
  out.len = 1;

  /* Negative lengths other than -1. */
  p->topic_data.items[0].name = (proto_str){"x", -2};
  CU_ASSERT_EQUAL(proto_encode(&proto_produce_req_msg, 9, p, &out),
                  PROTO_ERR_ENCODE);
  p->topic_data.items[0].name = PROTO_STR_LIT("x");
  p->topic_data.count = -5;
  CU_ASSERT_EQUAL(proto_encode(&proto_produce_req_msg, 9, p, &out),
                  PROTO_ERR_ENCODE);
  CU_ASSERT_EQUAL(out.len, 1);

  /* Response frames undo themselves too (size prefix and header). */
  proto_metadata_resp *mr = PROTO_NEW(a, proto_metadata_resp);
  mr->brokers.count = -1; /* never nullable */
  CU_ASSERT_EQUAL(proto_response_encode(&out, 3, 0, 1, mr), PROTO_ERR_ENCODE);
  CU_ASSERT_EQUAL(out.len, 1);
  buf_free(&out);
  proto_arena_free(a);
}

static void test_decode_bounds(void) {
  proto_arena *a = proto_arena_new(0);
  void *out;
  /* Metadata v1 request claiming 2^31-1 topics in 4 bytes. */
  const uint8_t huge[] = {0x7F, 0xFF, 0xFF, 0xFF};
  CU_ASSERT_EQUAL(
      proto_decode(&proto_metadata_req_msg, 1, huge, sizeof huge, a, &out),
      PROTO_ERR_DECODE);
  CU_ASSERT(proto_arena_used_bytes(a) < 4096);
  /* Compact count 2^32-2 (uvarint FE FF FF FF 0F). */
  const uint8_t chuge[] = {0xFE, 0xFF, 0xFF, 0xFF, 0x0F, 0, 0, 0};
  CU_ASSERT_EQUAL(
      proto_decode(&proto_metadata_req_msg, 9, chuge, sizeof chuge, a, &out),
      PROTO_ERR_DECODE);
  /* Overlong uvarint. */
  const uint8_t overlong[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
  CU_ASSERT_EQUAL(proto_decode(&proto_metadata_req_msg, 9, overlong,
                               sizeof overlong, a, &out),
                  PROTO_ERR_DECODE);
  /* A tag count larger than the bytes can hold. */
  const uint8_t tags[] = {0x01, 0, 0, 0, 0x7F};
  CU_ASSERT_EQUAL(
      proto_decode(&proto_metadata_req_msg, 9, tags, sizeof tags, a, &out),
      PROTO_ERR_DECODE);
  /* Negative int32 array count other than -1, and null in v0. */
  const uint8_t neg[] = {0xFF, 0xFF, 0xFF, 0xFE};
  CU_ASSERT_EQUAL(
      proto_decode(&proto_metadata_req_msg, 1, neg, sizeof neg, a, &out),
      PROTO_ERR_DECODE);
  /* An unsupported version. */
  CU_ASSERT_EQUAL(proto_decode(&proto_metadata_req_msg, 13, NULL, 0, a, &out),
                  PROTO_ERR_UNSUPPORTED_VERSION);
  CU_ASSERT_EQUAL(proto_decode(&proto_produce_req_msg, 2, NULL, 0, a, &out),
                  PROTO_ERR_UNSUPPORTED_VERSION);
  proto_arena_free(a);

  /* The arena's limit turns a big (valid) message into TOO_BIG. */
  proto_arena *big = proto_arena_new(0);
  proto_metadata_req *m = PROTO_NEW(big, proto_metadata_req);
  m->topics.count = 5000;
  m->topics.items = PROTO_NEW_ARRAY(big, proto_metadata_req_topic, 5000);
  for (int i = 0; i < 5000; i++)
    m->topics.items[i].name = PROTO_STR_LIT("topic");
  buf_t enc = BUF_INIT;
  CU_ASSERT_EQUAL(proto_encode(&proto_metadata_req_msg, 1, m, &enc), 0);
  proto_arena *small = proto_arena_new(16 * 1024);
  CU_ASSERT_EQUAL(
      proto_decode(&proto_metadata_req_msg, 1, enc.data, enc.len, small, &out),
      PROTO_ERR_TOO_BIG);
  proto_arena_reset(big);
  CU_ASSERT_EQUAL(
      proto_decode(&proto_metadata_req_msg, 1, enc.data, enc.len, big, &out),
      0);
  buf_free(&enc);
  proto_arena_free(small);
  proto_arena_free(big);
}

static void test_descriptors_sane(void) {
  /* Every message: a body, a version range inside Kafka's, and API keys
   * that agree between request and response. */
  for (int key = 0; key < 128; key++) {
    const proto_message *rq = proto_request_message((int16_t)key);
    const proto_message *rs = proto_response_message((int16_t)key);
    if (!rq)
      continue;
    CU_ASSERT_EQUAL(rq->api_key, key);
    CU_ASSERT_EQUAL(rs->api_key, key);
    CU_ASSERT(!rq->is_response && rs->is_response);
    CU_ASSERT_EQUAL(rq->versions.min, rs->versions.min);
    CU_ASSERT_EQUAL(rq->versions.max, rs->versions.max);
    CU_ASSERT_EQUAL(rq->flexible_min, rs->flexible_min);
    CU_ASSERT_PTR_NOT_NULL(rq->body);
  }
  CU_ASSERT_PTR_NULL(proto_request_message(-5));
  CU_ASSERT_PTR_NULL(proto_request_message(1000));
  CU_ASSERT_STRING_EQUAL(proto_strerror(PROTO_ERR_FRAME_SIZE),
                         "frame size out of range");
}

int suite_proto_codec(void) {
  TEST_SUITE(
      "proto_codec", {"roundtrip_every_message", test_roundtrip_every_message},
      {"truncations_fail", test_truncations_fail},
      {"garbage_never_crashes", test_garbage_never_crashes},
      {"defaults", test_defaults}, {"encode_refusals", test_encode_refusals},
      {"decode_bounds", test_decode_bounds},
      {"descriptors_sane", test_descriptors_sane});
}
