/*
 * test_proto.c — the Kafka wire protocol against its published layout.
 *
 * Every golden frame here is written out field by field from Kafka's
 * documented encoding (docs/protocol.html, the JSON schemas): classic
 * int16/int32 length prefixes, compact uvarint(len+1) forms, tagged-field
 * sections, header versions. The codec must decode each one to the right
 * values and encode the same values back to the same bytes. Then framing:
 * header versions, the ApiVersions v0 fallback, unknown keys and versions.
 * (Cutting streams into frames is base/rxbuf.h's, tested in test_rxbuf.c.)
 */
#include <stdlib.h>
#include <string.h>

#include "broker/proto/proto.h"
#include "tests/unit/testutil.h"

/* ---- a golden-bytes builder, independent of the code under test ---- */

typedef struct gold {
  uint8_t b[4096];
  size_t n;
} gold;

static void g_u8(gold *g, unsigned v) {
  CU_ASSERT_FATAL(g->n < sizeof g->b);
  g->b[g->n++] = (uint8_t)v;
}
static void g_i16(gold *g, int v) {
  g_u8(g, ((unsigned)v >> 8) & 0xff);
  g_u8(g, (unsigned)v & 0xff);
}
static void g_i32(gold *g, int64_t v) {
  for (int s = 24; s >= 0; s -= 8)
    g_u8(g, ((uint32_t)v >> s) & 0xff);
}
static void g_i64(gold *g, int64_t v) {
  for (int s = 56; s >= 0; s -= 8)
    g_u8(g, (unsigned)(((uint64_t)v >> s) & 0xff));
}
static void g_uv(gold *g, uint32_t v) {
  while (v >= 0x80) {
    g_u8(g, (v & 0x7f) | 0x80);
    v >>= 7;
  }
  g_u8(g, v);
}
static void g_raw(gold *g, const void *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    g_u8(g, ((const uint8_t *)p)[i]);
}
/* STRING / NULLABLE_STRING: int16 length (-1 = null). */
static void g_str(gold *g, const char *s) {
  if (!s) {
    g_i16(g, -1);
    return;
  }
  g_i16(g, (int)strlen(s));
  g_raw(g, s, strlen(s));
}
/* COMPACT_(NULLABLE_)STRING: uvarint length+1 (0 = null). */
static void g_cstr(gold *g, const char *s) {
  if (!s) {
    g_uv(g, 0);
    return;
  }
  g_uv(g, (uint32_t)strlen(s) + 1);
  g_raw(g, s, strlen(s));
}
/* The size prefix: reserve, then patch when the frame is complete. */
static void g_frame_begin(gold *g) { g_i32(g, 0); }
static void g_frame_end(gold *g) {
  uint32_t size = (uint32_t)(g->n - 4);
  g->b[0] = (uint8_t)(size >> 24);
  g->b[1] = (uint8_t)(size >> 16);
  g->b[2] = (uint8_t)(size >> 8);
  g->b[3] = (uint8_t)size;
}

static void assert_bytes(const buf_t *out, const gold *g) {
  CU_ASSERT_EQUAL(out->len, g->n);
  if (out->len == g->n) {
    CU_ASSERT(memcmp(out->data, g->b, g->n) == 0);
  } else {
    fprintf(stderr, "\n  encoded %zu bytes, expected %zu\n", out->len, g->n);
  }
}

/* Exact-size heap copy so a read past the end shows in ASan. */
static uint8_t *dup_exact(const uint8_t *p, size_t n) {
  uint8_t *c = malloc(n ? n : 1);
  CU_ASSERT_FATAL(c != NULL);
  if (n)
    memcpy(c, p, n);
  return c;
}

/* Decodes a whole request frame from g (size prefix included). */
static int decode_request_frame(const gold *g, proto_arena *a,
                                proto_request *req, uint8_t **copy) {
  *copy = dup_exact(g->b + 4, g->n - 4);
  return proto_request_decode(*copy, g->n - 4, a, req);
}

/* ---- ApiVersions ---- */

static void test_api_versions_v0_request(void) {
  gold g = {0};
  g_frame_begin(&g);
  g_i16(&g, 18);     /* api_key */
  g_i16(&g, 0);      /* api_version */
  g_i32(&g, 7);      /* correlation_id */
  g_str(&g, "kcat"); /* client_id (header v1) */
  g_frame_end(&g);   /* v0 body is empty */

  proto_arena *a = proto_arena_new(0);
  proto_request req;
  uint8_t *copy;
  CU_ASSERT_EQUAL_FATAL(decode_request_frame(&g, a, &req, &copy), 0);
  CU_ASSERT_EQUAL(req.header.api_key, 18);
  CU_ASSERT_EQUAL(req.header.api_version, 0);
  CU_ASSERT_EQUAL(req.header.correlation_id, 7);
  CU_ASSERT_EQUAL(req.header.header_version, 1);
  CU_ASSERT(proto_str_eq(req.header.client_id, "kcat"));
  CU_ASSERT(req.message == &proto_api_versions_req_msg);
  CU_ASSERT_PTR_NOT_NULL(req.body);

  buf_t out = BUF_INIT;
  CU_ASSERT_EQUAL(proto_request_encode(&out, 18, 0, 7, "kcat", req.body), 0);
  assert_bytes(&out, &g);
  buf_free(&out);
  free(copy);
  proto_arena_free(a);
}

static void build_api_versions_v3_request(gold *g, bool header_tag) {
  g_frame_begin(g);
  g_i16(g, 18);
  g_i16(g, 3);
  g_i32(g, 1);
  g_str(g, "rdkafka"); /* client_id keeps its int16 length in header v2 */
  if (header_tag) {
    g_uv(g, 1); /* one unknown header tag, skipped */
    g_uv(g, 5);
    g_uv(g, 2);
    g_u8(g, 0xAA);
    g_u8(g, 0xBB);
  } else {
    g_uv(g, 0);
  }
  g_cstr(g, "librdkafka"); /* client_software_name */
  g_cstr(g, "2.0.2");      /* client_software_version */
  g_uv(g, 0);              /* body tags */
  g_frame_end(g);
}

static void test_api_versions_v3_request(void) {
  proto_arena *a = proto_arena_new(0);
  for (int tagged = 0; tagged <= 1; tagged++) {
    gold g = {0};
    build_api_versions_v3_request(&g, tagged);
    proto_request req;
    uint8_t *copy;
    CU_ASSERT_EQUAL_FATAL(decode_request_frame(&g, a, &req, &copy), 0);
    CU_ASSERT_EQUAL(req.header.header_version, 2);
    CU_ASSERT(proto_str_eq(req.header.client_id, "rdkafka"));
    const proto_api_versions_req *body = req.body;
    CU_ASSERT(proto_str_eq(body->client_software_name, "librdkafka"));
    CU_ASSERT(proto_str_eq(body->client_software_version, "2.0.2"));
    CU_ASSERT(proto_api_versions_request_valid(body, 3));
    if (!tagged) {
      buf_t out = BUF_INIT;
      CU_ASSERT_EQUAL(proto_request_encode(&out, 18, 3, 1, "rdkafka", body), 0);
      assert_bytes(&out, &g);
      buf_free(&out);
    }
    free(copy);
  }
  proto_arena_free(a);
}

static void test_api_versions_request_valid(void) {
  proto_api_versions_req r = {PROTO_STR_LIT("librdkafka"),
                              PROTO_STR_LIT("2.0.2")};
  CU_ASSERT(proto_api_versions_request_valid(&r, 3));
  const char *bad[] = {"", "-x", "x-", "a b", "a_b", ".a", "a."};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    r.client_software_name = proto_str_from(bad[i]);
    CU_ASSERT(!proto_api_versions_request_valid(&r, 3));
    CU_ASSERT(proto_api_versions_request_valid(&r, 2));
  }
  r.client_software_name = PROTO_STR_LIT("a");
  CU_ASSERT(proto_api_versions_request_valid(&r, 3));
  r.client_software_name = PROTO_STR_LIT("apache-kafka-java");
  r.client_software_version = PROTO_STR_LIT("3.7.1");
  CU_ASSERT(proto_api_versions_request_valid(&r, 3));
  r.client_software_version = PROTO_STR_NULL;
  CU_ASSERT(!proto_api_versions_request_valid(&r, 3));
}

static proto_api_versions_resp *two_api_keys(proto_arena *a) {
  proto_api_versions_resp *r = PROTO_NEW(a, proto_api_versions_resp);
  r->api_keys.items =
      PROTO_NEW_ARRAY(a, proto_api_versions_resp_api_version, 2);
  r->api_keys.count = 2;
  r->api_keys.items[0] = (proto_api_versions_resp_api_version){0, 3, 9};
  r->api_keys.items[1] = (proto_api_versions_resp_api_version){18, 0, 3};
  return r;
}

/* Encodes body as a response frame, compares with g, decodes it back and
 * checks the values survive. */
static void check_response(int16_t key, int16_t version, int32_t corr,
                           const void *body, const gold *g) {
  buf_t out = BUF_INIT;
  CU_ASSERT_EQUAL(proto_response_encode(&out, key, version, corr, body), 0);
  assert_bytes(&out, g);
  proto_arena *a = proto_arena_new(0);
  uint8_t *copy = dup_exact(g->b + 4, g->n - 4);
  int32_t got_corr = 0;
  void *back = NULL;
  CU_ASSERT_EQUAL(
      proto_response_decode(copy, g->n - 4, key, version, a, &got_corr, &back),
      0);
  CU_ASSERT_EQUAL(got_corr, corr);
  if (back)
    CU_ASSERT(
        proto_equal(proto_response_message(key)->body, version, body, back));
  free(copy);
  proto_arena_free(a);
  buf_free(&out);
}

static void test_api_versions_v0_response(void) {
  gold g = {0};
  g_frame_begin(&g);
  g_i32(&g, 7); /* correlation_id (header v0) */
  g_i16(&g, 0); /* error_code */
  g_i32(&g, 2); /* api_keys: int32 count */
  g_i16(&g, 0);
  g_i16(&g, 3);
  g_i16(&g, 9);
  g_i16(&g, 18);
  g_i16(&g, 0);
  g_i16(&g, 3);
  g_frame_end(&g); /* no throttle_time_ms before v1 */
  proto_arena *a = proto_arena_new(0);
  check_response(18, 0, 7, two_api_keys(a), &g);

  /* v1: throttle_time_ms comes after the array. */
  gold g1 = {0};
  g_frame_begin(&g1);
  g_i32(&g1, 7);
  g_i16(&g1, 0);
  g_i32(&g1, 2);
  g_i16(&g1, 0);
  g_i16(&g1, 3);
  g_i16(&g1, 9);
  g_i16(&g1, 18);
  g_i16(&g1, 0);
  g_i16(&g1, 3);
  g_i32(&g1, 250);
  g_frame_end(&g1);
  proto_api_versions_resp *r = two_api_keys(a);
  r->throttle_time_ms = 250;
  check_response(18, 1, 7, r, &g1);
  proto_arena_free(a);
}

static void test_api_versions_v3_response(void) {
  gold g = {0};
  g_frame_begin(&g);
  g_i32(&g, 9); /* header v0 even though v3 is flexible: no tag byte */
  g_i16(&g, 0);
  g_uv(&g, 3); /* compact array: count + 1 */
  g_i16(&g, 0);
  g_i16(&g, 3);
  g_i16(&g, 9);
  g_uv(&g, 0);
  g_i16(&g, 18);
  g_i16(&g, 0);
  g_i16(&g, 3);
  g_uv(&g, 0);
  g_i32(&g, 0); /* throttle_time_ms */
  g_uv(&g, 2);  /* two tagged fields, ascending */
  g_uv(&g, 1);
  g_uv(&g, 8);
  g_i64(&g, 5); /* FinalizedFeaturesEpoch */
  g_uv(&g, 3);
  g_uv(&g, 1);
  g_u8(&g, 1); /* ZkMigrationReady */
  g_frame_end(&g);

  proto_arena *a = proto_arena_new(0);
  proto_api_versions_resp *r = two_api_keys(a);
  CU_ASSERT_EQUAL(r->finalized_features_epoch, -1); /* schema default */
  r->zk_migration_ready = true;
  r->finalized_features_epoch = 5;
  check_response(18, 3, 9, r, &g);

  /* At their defaults the tagged fields are omitted: one 0x00. */
  gold d = {0};
  g_frame_begin(&d);
  g_i32(&d, 9);
  g_i16(&d, 0);
  g_uv(&d, 1); /* empty array */
  g_i32(&d, 0);
  g_uv(&d, 0);
  g_frame_end(&d);
  check_response(18, 3, 9, PROTO_NEW(a, proto_api_versions_resp), &d);
  proto_arena_free(a);
}

static void test_api_versions_fallback(void) {
  gold g = {0};
  g_frame_begin(&g);
  g_i32(&g, 77); /* header v0 */
  g_i16(&g, 35); /* UNSUPPORTED_VERSION */
  g_i32(&g, 1);  /* v0 array: only ApiVersions itself */
  g_i16(&g, 18);
  g_i16(&g, 0);
  g_i16(&g, 3);
  g_frame_end(&g); /* v0 format: no throttle, no tags */
  buf_t out = BUF_INIT;
  proto_api_versions_fallback_encode(&out, 77);
  assert_bytes(&out, &g);
  buf_free(&out);

  /* A v9 request: the header (v2, by ApiVersions' flexible versions) is
   * parsed, the body (whatever it is) is not. */
  gold req = {0};
  g_frame_begin(&req);
  g_i16(&req, 18);
  g_i16(&req, 9);
  g_i32(&req, 77);
  g_str(&req, "java");
  g_uv(&req, 0);
  g_u8(&req, 0xFF);
  g_u8(&req, 0xFE);
  g_frame_end(&req);
  proto_arena *a = proto_arena_new(0);
  proto_request r;
  uint8_t *copy;
  CU_ASSERT_EQUAL(decode_request_frame(&req, a, &r, &copy),
                  PROTO_ERR_UNSUPPORTED_VERSION);
  CU_ASSERT_EQUAL(r.header.correlation_id, 77);
  CU_ASSERT_EQUAL(r.header.header_version, 2);
  CU_ASSERT(proto_str_eq(r.header.client_id, "java"));
  CU_ASSERT_PTR_NULL(r.body);
  CU_ASSERT(r.message == &proto_api_versions_req_msg);
  free(copy);
  proto_arena_free(a);
}

static void test_api_versions_table(void) {
  size_t n = 0;
  const proto_api_range *t = proto_api_ranges(&n);
  CU_ASSERT(n >= 20);
  bool saw18 = false;
  for (size_t i = 0; i < n; i++) {
    if (i)
      CU_ASSERT(t[i - 1].api_key < t[i].api_key);
    CU_ASSERT(t[i].min_version <= t[i].max_version);
    CU_ASSERT(proto_api_supported(t[i].api_key, t[i].min_version));
    CU_ASSERT(proto_api_supported(t[i].api_key, t[i].max_version));
    CU_ASSERT(!proto_api_supported(t[i].api_key, t[i].max_version + 1));
    if (t[i].api_key == 18) {
      saw18 = true;
      CU_ASSERT_EQUAL(t[i].min_version, 0);
      CU_ASSERT_EQUAL(t[i].max_version, 3);
    }
  }
  CU_ASSERT(saw18);
  /* The ranges librdkafka's features need (KAFKA-NOTES §3.2). */
  CU_ASSERT(proto_api_supported(PROTO_API_PRODUCE, 3));
  CU_ASSERT(proto_api_supported(PROTO_API_PRODUCE, 7));
  CU_ASSERT(proto_api_supported(PROTO_API_FETCH, 4));
  CU_ASSERT(proto_api_supported(PROTO_API_FETCH, 10));
  CU_ASSERT(proto_api_supported(PROTO_API_FIND_COORDINATOR, 0));
  CU_ASSERT(proto_api_supported(PROTO_API_LIST_OFFSETS, 1));
  CU_ASSERT(!proto_api_supported(PROTO_API_PRODUCE, 2));
  CU_ASSERT(!proto_api_supported(99, 0));
  CU_ASSERT(!proto_api_supported(-1, 0));

  proto_arena *a = proto_arena_new(0);
  proto_api_versions_resp *r = PROTO_NEW(a, proto_api_versions_resp);
  CU_ASSERT_EQUAL(proto_api_versions_fill(r, a, NULL, 0), 0);
  CU_ASSERT_EQUAL(r->api_keys.count, (int32_t)n);
  CU_ASSERT_EQUAL(r->api_keys.items[0].api_key, t[0].api_key);
  proto_arena_free(a);
}

/* ---- Metadata ---- */

static void test_metadata_v1_request(void) {
  gold g = {0};
  g_frame_begin(&g);
  g_i16(&g, 3);
  g_i16(&g, 1);
  g_i32(&g, 11);
  g_str(&g, "c");
  g_i32(&g, 2); /* topics */
  g_str(&g, "a");
  g_str(&g, "bc");
  g_frame_end(&g);
  proto_arena *a = proto_arena_new(0);
  proto_request req;
  uint8_t *copy;
  CU_ASSERT_EQUAL_FATAL(decode_request_frame(&g, a, &req, &copy), 0);
  const proto_metadata_req *m = req.body;
  CU_ASSERT_EQUAL_FATAL(m->topics.count, 2);
  CU_ASSERT(proto_str_eq(m->topics.items[0].name, "a"));
  CU_ASSERT(proto_str_eq(m->topics.items[1].name, "bc"));
  buf_t out = BUF_INIT;
  CU_ASSERT_EQUAL(proto_request_encode(&out, 3, 1, 11, "c", m), 0);
  assert_bytes(&out, &g);
  free(copy);

  /* v1+: a null array (-1) means all topics. */
  gold n = {0};
  g_frame_begin(&n);
  g_i16(&n, 3);
  g_i16(&n, 1);
  g_i32(&n, 12);
  g_str(&n, NULL); /* null client_id */
  g_i32(&n, -1);
  g_frame_end(&n);
  CU_ASSERT_EQUAL_FATAL(decode_request_frame(&n, a, &req, &copy), 0);
  CU_ASSERT_EQUAL(req.header.client_id.len, -1);
  CU_ASSERT_EQUAL(((const proto_metadata_req *)req.body)->topics.count, -1);
  buf_clear(&out);
  CU_ASSERT_EQUAL(proto_request_encode(&out, 3, 1, 12, NULL, req.body), 0);
  assert_bytes(&out, &n);
  free(copy);

  /* v0 has no null array: -1 is malformed. */
  n.b[4 + 3] = 0; /* api_version 1 -> 0 */
  CU_ASSERT_EQUAL(decode_request_frame(&n, a, &req, &copy), PROTO_ERR_DECODE);
  free(copy);
  buf_free(&out);
  proto_arena_free(a);
}

static void test_metadata_v9_request(void) {
  gold g = {0};
  g_frame_begin(&g);
  g_i16(&g, 3);
  g_i16(&g, 9);
  g_i32(&g, 5);
  g_str(&g, "producer-1");
  g_uv(&g, 0); /* header tags */
  g_uv(&g, 2); /* topics: compact array of 1 */
  g_cstr(&g, "orders");
  g_uv(&g, 0); /* topic tags */
  g_u8(&g, 1); /* allow_auto_topic_creation */
  g_u8(&g, 0); /* include_cluster_authorized_operations */
  g_u8(&g, 1); /* include_topic_authorized_operations */
  g_uv(&g, 0); /* body tags */
  g_frame_end(&g);
  proto_arena *a = proto_arena_new(0);
  proto_request req;
  uint8_t *copy;
  CU_ASSERT_EQUAL_FATAL(decode_request_frame(&g, a, &req, &copy), 0);
  const proto_metadata_req *m = req.body;
  CU_ASSERT_EQUAL_FATAL(m->topics.count, 1);
  CU_ASSERT(proto_str_eq(m->topics.items[0].name, "orders"));
  CU_ASSERT(m->allow_auto_topic_creation);
  CU_ASSERT(!m->include_cluster_authorized_operations);
  CU_ASSERT(m->include_topic_authorized_operations);
  buf_t out = BUF_INIT;
  CU_ASSERT_EQUAL(proto_request_encode(&out, 3, 9, 5, "producer-1", m), 0);
  assert_bytes(&out, &g);
  buf_free(&out);
  free(copy);
  proto_arena_free(a);
}

static const int32_t one[] = {1};

static proto_metadata_resp *one_topic_metadata(proto_arena *a) {
  proto_metadata_resp *r = PROTO_NEW(a, proto_metadata_resp);
  r->brokers.items = PROTO_NEW_ARRAY(a, proto_metadata_resp_broker, 1);
  r->brokers.count = 1;
  r->brokers.items[0].node_id = 1;
  r->brokers.items[0].host = PROTO_STR_LIT("localhost");
  r->brokers.items[0].port = 9092;
  r->controller_id = 1;
  r->cluster_id = PROTO_STR_LIT("sluice-cluster");
  r->topics.items = PROTO_NEW_ARRAY(a, proto_metadata_resp_topic, 1);
  r->topics.count = 1;
  proto_metadata_resp_topic *t = &r->topics.items[0];
  t->name = PROTO_STR_LIT("orders");
  t->partitions.items = PROTO_NEW_ARRAY(a, proto_metadata_resp_partition, 1);
  t->partitions.count = 1;
  proto_metadata_resp_partition *p = &t->partitions.items[0];
  p->leader_id = 1;
  p->leader_epoch = 4;
  p->replica_nodes = (proto_int32_array){(int32_t *)one, 1};
  p->isr_nodes = (proto_int32_array){(int32_t *)one, 1};
  return r;
}

static void test_metadata_v1_response(void) {
  gold g = {0};
  g_frame_begin(&g);
  g_i32(&g, 11);          /* header v0 */
  g_i32(&g, 1);           /* brokers */
  g_i32(&g, 1);           /*   node_id */
  g_str(&g, "localhost"); /*   host */
  g_i32(&g, 9092);        /*   port */
  g_str(&g, NULL);        /*   rack (v1+, nullable, default null) */
  g_i32(&g, 1);           /* controller_id (v1+) */
  g_i32(&g, 1);           /* topics */
  g_i16(&g, 0);           /*   error_code */
  g_str(&g, "orders");    /*   name */
  g_u8(&g, 0);            /*   is_internal (v1+) */
  g_i32(&g, 1);           /*   partitions */
  g_i16(&g, 0);           /*     error_code */
  g_i32(&g, 0);           /*     partition_index */
  g_i32(&g, 1);           /*     leader_id */
  g_i32(&g, 1);           /*     replica_nodes */
  g_i32(&g, 1);
  g_i32(&g, 1); /*     isr_nodes */
  g_i32(&g, 1);
  g_frame_end(&g);
  proto_arena *a = proto_arena_new(0);
  check_response(3, 1, 11, one_topic_metadata(a), &g);
  proto_arena_free(a);
}

static void test_metadata_v9_response(void) {
  gold g = {0};
  g_frame_begin(&g);
  g_i32(&g, 12); /* correlation_id */
  g_uv(&g, 0);   /* header v1 tags */
  g_i32(&g, 0);  /* throttle_time_ms (v3+) */
  g_uv(&g, 2);   /* brokers */
  g_i32(&g, 1);
  g_cstr(&g, "localhost");
  g_i32(&g, 9092);
  g_cstr(&g, NULL); /*   rack */
  g_uv(&g, 0);
  g_cstr(&g, "sluice-cluster"); /* cluster_id (v2+) */
  g_i32(&g, 1);                 /* controller_id */
  g_uv(&g, 2);                  /* topics */
  g_i16(&g, 0);
  g_cstr(&g, "orders");
  g_u8(&g, 0); /*   is_internal */
  g_uv(&g, 2); /*   partitions */
  g_i16(&g, 0);
  g_i32(&g, 0);
  g_i32(&g, 1); /*     leader_id */
  g_i32(&g, 4); /*     leader_epoch (v7+) */
  g_uv(&g, 2);  /*     replica_nodes */
  g_i32(&g, 1);
  g_uv(&g, 2); /*     isr_nodes */
  g_i32(&g, 1);
  g_uv(&g, 1); /*     offline_replicas (v5+): empty */
  g_uv(&g, 0);
  g_i32(&g, INT32_MIN); /*   topic_authorized_operations default */
  g_uv(&g, 0);
  g_i32(&g, INT32_MIN); /* cluster_authorized_operations (v8-10) */
  g_uv(&g, 0);
  g_frame_end(&g);
  proto_arena *a = proto_arena_new(0);
  check_response(3, 9, 12, one_topic_metadata(a), &g);
  proto_arena_free(a);
}

/* ---- Produce ---- */

static const uint8_t fake_batch[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                     9, 1, 2, 3, 4, 5, 6, 7, 8, 9};

static void check_produce(int16_t version, const gold *g,
                          size_t records_offset) {
  proto_arena *a = proto_arena_new(0);
  proto_request req;
  uint8_t *copy;
  CU_ASSERT_EQUAL_FATAL(decode_request_frame(g, a, &req, &copy), 0);
  const proto_produce_req *p = req.body;
  CU_ASSERT_EQUAL(p->transactional_id.len, -1);
  CU_ASSERT_EQUAL(p->acks, -1);
  CU_ASSERT_EQUAL(p->timeout_ms, 30000);
  CU_ASSERT_EQUAL_FATAL(p->topic_data.count, 1);
  CU_ASSERT(proto_str_eq(p->topic_data.items[0].name, "t"));
  CU_ASSERT_EQUAL_FATAL(p->topic_data.items[0].partition_data.count, 1);
  const proto_produce_req_partition_produce_data *pd =
      &p->topic_data.items[0].partition_data.items[0];
  CU_ASSERT_EQUAL(pd->index, 2);
  CU_ASSERT_EQUAL(pd->records.len, (int32_t)sizeof fake_batch);
  /* Records are not copied: they point into the frame. */
  CU_ASSERT(pd->records.data == copy + records_offset - 4);
  CU_ASSERT(memcmp(pd->records.data, fake_batch, sizeof fake_batch) == 0);
  buf_t out = BUF_INIT;
  CU_ASSERT_EQUAL(proto_request_encode(&out, 0, version, 3, "p", p), 0);
  assert_bytes(&out, g);
  buf_free(&out);
  free(copy);
  proto_arena_free(a);
}

static void test_produce_v3_request(void) {
  gold g = {0};
  g_frame_begin(&g);
  g_i16(&g, 0);
  g_i16(&g, 3);
  g_i32(&g, 3);
  g_str(&g, "p");
  g_str(&g, NULL);  /* transactional_id */
  g_i16(&g, -1);    /* acks */
  g_i32(&g, 30000); /* timeout_ms */
  g_i32(&g, 1);     /* topic_data */
  g_str(&g, "t");
  g_i32(&g, 1);                          /*   partition_data */
  g_i32(&g, 2);                          /*     index */
  g_i32(&g, (int32_t)sizeof fake_batch); /* records: NULLABLE_BYTES */
  size_t at = g.n;
  g_raw(&g, fake_batch, sizeof fake_batch);
  g_frame_end(&g);
  check_produce(3, &g, at);
}

static void test_produce_v9_request(void) {
  gold g = {0};
  g_frame_begin(&g);
  g_i16(&g, 0);
  g_i16(&g, 9);
  g_i32(&g, 3);
  g_str(&g, "p");
  g_uv(&g, 0);      /* header tags */
  g_cstr(&g, NULL); /* transactional_id */
  g_i16(&g, -1);
  g_i32(&g, 30000);
  g_uv(&g, 2); /* topic_data */
  g_cstr(&g, "t");
  g_uv(&g, 2); /*   partition_data */
  g_i32(&g, 2);
  g_uv(&g, (uint32_t)sizeof fake_batch + 1); /* COMPACT_NULLABLE_BYTES */
  size_t at = g.n;
  g_raw(&g, fake_batch, sizeof fake_batch);
  g_uv(&g, 0); /*   partition tags */
  g_uv(&g, 0); /* topic tags */
  g_uv(&g, 0); /* body tags */
  g_frame_end(&g);
  check_produce(9, &g, at);
}

/* ---- Fetch ---- */

static proto_fetch_resp *one_partition_fetch(proto_arena *a, bool aborted) {
  proto_fetch_resp *r = PROTO_NEW(a, proto_fetch_resp);
  r->responses.items =
      PROTO_NEW_ARRAY(a, proto_fetch_resp_fetchable_topic_response, 1);
  r->responses.count = 1;
  proto_fetch_resp_fetchable_topic_response *t = &r->responses.items[0];
  t->topic = PROTO_STR_LIT("t");
  t->partitions.items = PROTO_NEW_ARRAY(a, proto_fetch_resp_partition_data, 1);
  t->partitions.count = 1;
  proto_fetch_resp_partition_data *p = &t->partitions.items[0];
  CU_ASSERT_EQUAL(p->last_stable_offset, -1); /* schema defaults */
  CU_ASSERT_EQUAL(p->preferred_read_replica, -1);
  CU_ASSERT_EQUAL(p->aborted_transactions.count, 0);
  CU_ASSERT_EQUAL(p->current_leader.leader_id, -1);
  p->high_watermark = 10;
  p->last_stable_offset = 10;
  p->log_start_offset = 0;
  p->aborted_transactions.count = -1;
  if (aborted) {
    p->aborted_transactions.items =
        PROTO_NEW_ARRAY(a, proto_fetch_resp_aborted_transaction, 1);
    p->aborted_transactions.count = 1;
    p->aborted_transactions.items[0].producer_id = 7;
    p->aborted_transactions.items[0].first_offset = 3;
  }
  p->records = (proto_bytes){fake_batch, (int32_t)sizeof fake_batch};
  return r;
}

static void test_fetch_v4_response(void) {
  gold g = {0};
  g_frame_begin(&g);
  g_i32(&g, 21); /* header v0 */
  g_i32(&g, 0);  /* throttle_time_ms */
  g_i32(&g, 1);  /* responses */
  g_str(&g, "t");
  g_i32(&g, 1);  /*   partitions */
  g_i32(&g, 0);  /*     partition_index */
  g_i16(&g, 0);  /*     error_code */
  g_i64(&g, 10); /*     high_watermark */
  g_i64(&g, 10); /*     last_stable_offset (v4+) */
  g_i32(&g, -1); /*     aborted_transactions: null */
  g_i32(&g, (int32_t)sizeof fake_batch);
  g_raw(&g, fake_batch, sizeof fake_batch);
  g_frame_end(&g);
  proto_arena *a = proto_arena_new(0);
  check_response(1, 4, 21, one_partition_fetch(a, false), &g);
  proto_arena_free(a);
}

/* Fetch v12 response; unknown tags are added where asked (they must be
 * skipped on decode and never written on encode). */
static void build_fetch_v12(gold *g, bool unknown_tags, int leader_size_extra) {
  g_frame_begin(g);
  g_i32(g, 22);
  g_uv(g, 0);  /* header v1 tags */
  g_i32(g, 0); /* throttle_time_ms */
  g_i16(g, 0); /* error_code (v7+) */
  g_i32(g, 0); /* session_id (v7+) */
  g_uv(g, 2);  /* responses */
  g_cstr(g, "t");
  g_uv(g, 2); /*   partitions */
  g_i32(g, 0);
  g_i16(g, 0);
  g_i64(g, 10);
  g_i64(g, 10);
  g_i64(g, 0); /*     log_start_offset (v5+) */
  g_uv(g, 2);  /*     aborted_transactions */
  g_i64(g, 7);
  g_i64(g, 3);
  g_uv(g, 0);
  g_i32(g, -1); /*     preferred_read_replica (v11+) */
  g_uv(g, (uint32_t)sizeof fake_batch + 1);
  g_raw(g, fake_batch, sizeof fake_batch);
  g_uv(g, unknown_tags ? 2 : 1); /*  partition tags */
  g_uv(g, 1);                    /*       CurrentLeader (tag 1) */
  g_uv(g, 9 + (uint32_t)leader_size_extra);
  g_i32(g, 2); /*         leader_id */
  g_i32(g, 5); /*         leader_epoch */
  g_uv(g, 0);  /*         its own tags */
  for (int i = 0; i < leader_size_extra; i++)
    g_u8(g, 0);
  if (unknown_tags) {
    g_uv(g, 9); /*       unknown tag 9 */
    g_uv(g, 3);
    g_u8(g, 0xDE);
    g_u8(g, 0xAD);
    g_u8(g, 0x00);
  }
  g_uv(g, 0); /*   topic tags */
  if (unknown_tags) {
    g_uv(g, 1); /* body: unknown tag 300 (two-byte uvarint), empty */
    g_uv(g, 300);
    g_uv(g, 0);
  } else {
    g_uv(g, 0);
  }
  g_frame_end(g);
}

static void test_fetch_v12_response(void) {
  gold g = {0};
  build_fetch_v12(&g, false, 0);
  proto_arena *a = proto_arena_new(0);
  proto_fetch_resp *r = one_partition_fetch(a, true);
  r->responses.items[0].partitions.items[0].current_leader.leader_id = 2;
  r->responses.items[0].partitions.items[0].current_leader.leader_epoch = 5;
  check_response(1, 12, 22, r, &g);
  proto_arena_free(a);
}

static void test_unknown_tags_skipped(void) {
  gold plain = {0}, tagged = {0}, bad = {0};
  build_fetch_v12(&plain, false, 0);
  build_fetch_v12(&tagged, true, 0);
  build_fetch_v12(&bad, false, 1);
  proto_arena *a = proto_arena_new(0);
  int32_t corr;
  void *x = NULL, *y = NULL, *z = NULL;
  CU_ASSERT_EQUAL_FATAL(
      proto_response_decode(plain.b + 4, plain.n - 4, 1, 12, a, &corr, &x), 0);
  CU_ASSERT_EQUAL_FATAL(
      proto_response_decode(tagged.b + 4, tagged.n - 4, 1, 12, a, &corr, &y),
      0);
  CU_ASSERT(proto_equal(&proto_fetch_resp_desc, 12, x, y));
  const proto_fetch_resp *r = y;
  CU_ASSERT_EQUAL(
      r->responses.items[0].partitions.items[0].current_leader.leader_epoch, 5);
  /* A known tag whose size does not match its payload is malformed. */
  CU_ASSERT_EQUAL(
      proto_response_decode(bad.b + 4, bad.n - 4, 1, 12, a, &corr, &z),
      PROTO_ERR_DECODE);
  CU_ASSERT_PTR_NULL(z);
  /* Re-encoding drops the unknown tags: the plain bytes come back. */
  buf_t out = BUF_INIT;
  CU_ASSERT_EQUAL(proto_response_encode(&out, 1, 12, 22, y), 0);
  assert_bytes(&out, &plain);
  buf_free(&out);
  proto_arena_free(a);
}

/* ---- headers and framing ---- */

static void test_header_versions(void) {
  CU_ASSERT_EQUAL(proto_request_header_version(18, 0), 1);
  CU_ASSERT_EQUAL(proto_request_header_version(18, 3), 2);
  CU_ASSERT_EQUAL(proto_request_header_version(18, 9), 2);
  CU_ASSERT_EQUAL(proto_request_header_version(3, 8), 1);
  CU_ASSERT_EQUAL(proto_request_header_version(3, 9), 2);
  CU_ASSERT_EQUAL(proto_request_header_version(0, 9), 2);
  CU_ASSERT_EQUAL(proto_request_header_version(1, 11), 1);
  CU_ASSERT_EQUAL(proto_request_header_version(1, 12), 2);
  CU_ASSERT_EQUAL(proto_request_header_version(60, 0), 2);
  CU_ASSERT_EQUAL(proto_request_header_version(47, 0), 1);
  CU_ASSERT_EQUAL(proto_request_header_version(999, 0), -1);
  CU_ASSERT_EQUAL(proto_request_header_version(-1, 0), -1);
  CU_ASSERT_EQUAL(proto_response_header_version(18, 3), 0);
  CU_ASSERT_EQUAL(proto_response_header_version(18, 0), 0);
  CU_ASSERT_EQUAL(proto_response_header_version(3, 9), 1);
  CU_ASSERT_EQUAL(proto_response_header_version(3, 8), 0);
  CU_ASSERT_EQUAL(proto_response_header_version(0, 8), 0);
  CU_ASSERT_EQUAL(proto_response_header_version(0, 9), 1);
  CU_ASSERT_EQUAL(proto_response_header_version(999, 0), -1);
}

static void test_unknown_api_and_version(void) {
  proto_arena *a = proto_arena_new(0);
  proto_request req;
  uint8_t *copy;
  gold g = {0};
  g_frame_begin(&g);
  g_i16(&g, 99); /* no such API */
  g_i16(&g, 0);
  g_i32(&g, 1234);
  g_str(&g, "x");
  g_frame_end(&g);
  CU_ASSERT_EQUAL(decode_request_frame(&g, a, &req, &copy),
                  PROTO_ERR_UNKNOWN_API);
  CU_ASSERT_EQUAL(req.header.api_key, 99);
  CU_ASSERT_EQUAL(req.header.correlation_id, 1234);
  CU_ASSERT_PTR_NULL(req.message);
  free(copy);

  gold p = {0}; /* Produce v2: a real Kafka version we do not describe */
  g_frame_begin(&p);
  g_i16(&p, 0);
  g_i16(&p, 2);
  g_i32(&p, 5);
  g_str(&p, "x");
  g_frame_end(&p);
  CU_ASSERT_EQUAL(decode_request_frame(&p, a, &req, &copy),
                  PROTO_ERR_UNSUPPORTED_VERSION);
  CU_ASSERT_EQUAL(req.header.correlation_id, 5);
  CU_ASSERT_PTR_NULL(req.body);
  free(copy);

  /* Too short for a header, and a client_id longer than the frame. */
  uint8_t short_hdr[] = {0, 18, 0, 0, 0, 0, 0};
  CU_ASSERT_EQUAL(proto_request_decode(short_hdr, sizeof short_hdr, a, &req),
                  PROTO_ERR_DECODE);
  uint8_t long_id[] = {0, 18, 0, 0, 0, 0, 0, 1, 0, 9, 'a'};
  CU_ASSERT_EQUAL(proto_request_decode(long_id, sizeof long_id, a, &req),
                  PROTO_ERR_DECODE);
  uint8_t neg_id[] = {0, 18, 0, 0, 0, 0, 0, 1, 0xFF, 0xFE};
  CU_ASSERT_EQUAL(proto_request_decode(neg_id, sizeof neg_id, a, &req),
                  PROTO_ERR_DECODE);
  /* Trailing bytes after a complete body are malformed. */
  uint8_t trailing[] = {0, 18, 0, 0, 0, 0, 0, 1, 0xFF, 0xFF, 0};
  CU_ASSERT_EQUAL(proto_request_decode(trailing, sizeof trailing, a, &req),
                  PROTO_ERR_DECODE);
  CU_ASSERT_EQUAL(proto_request_decode(trailing, sizeof trailing - 1, a, &req),
                  0);
  proto_arena_free(a);
}

/* Random frames with plausible headers: every described API key (and some
 * that are not), versions around the described ranges, random bodies.
 * Decoding must return, never crash or read outside the frame. */
static void test_request_garbage(void) {
  uint64_t seed = test_seed() + 10;
  test_rng rng;
  test_rng_init(&rng, seed);
  size_t n_ranges;
  const proto_api_range *ranges = proto_api_ranges(&n_ranges);
  proto_arena *a = proto_arena_new(16 * 1024 * 1024);
  int decoded = 0;
  for (int i = 0; i < 20000; i++) {
    proto_arena_reset(a);
    uint8_t f[96];
    size_t n = 8 + test_rng_below(&rng, sizeof f - 8);
    for (size_t k = 0; k < n; k++) {
      uint64_t r = test_rng_next(&rng);
      f[k] = (r & 3) ? (uint8_t)((r >> 8) % 3) : (uint8_t)(r >> 8);
    }
    const proto_api_range *api = &ranges[test_rng_below(&rng, n_ranges)];
    int16_t key =
        test_rng_below(&rng, 20) ? api->api_key : (int16_t)test_rng_next(&rng);
    int16_t ver = (int16_t)(api->min_version - 1 +
                            (int)test_rng_below(
                                &rng, api->max_version - api->min_version + 3));
    f[0] = (uint8_t)((uint16_t)key >> 8);
    f[1] = (uint8_t)key;
    f[2] = (uint8_t)((uint16_t)ver >> 8);
    f[3] = (uint8_t)ver;
    if (test_rng_below(&rng, 2)) { /* a plausible client_id length */
      f[8 % n] = 0;
      if (n > 9)
        f[9] = (uint8_t)test_rng_below(&rng, 4);
    }
    uint8_t *copy = dup_exact(f, n);
    proto_request req;
    int rc = proto_request_decode(copy, n, a, &req);
    CU_ASSERT(rc <= 0);
    if (rc == 0) {
      decoded++;
      CU_ASSERT_PTR_NOT_NULL(req.body);
      buf_t out = BUF_INIT;
      CU_ASSERT_EQUAL(
          proto_encode(req.message, req.header.api_version, req.body, &out), 0);
      buf_free(&out);
    }
    free(copy);
  }
  CU_ASSERT(decoded > 0); /* some random bodies are valid messages */
  proto_arena_free(a);
}

/* ---- responses with borrowed pieces ---- */

/* A records field for the pieces tests: null, empty, small (copied into
 * the frame) or large (listed as a piece), borrowed from pool. */
static proto_bytes random_records(test_rng *rng, const uint8_t *pool,
                                  size_t pool_len) {
  size_t len = 0;
  switch (test_rng_below(rng, 4)) {
  case 0:
    return PROTO_BYTES_NULL;
  case 1:
    len = 0;
    break;
  case 2:
    len = 1 + test_rng_below(rng, 600);
    break;
  default:
    len = 1 + test_rng_below(rng, pool_len - 1);
    break;
  }
  size_t off = test_rng_below(rng, pool_len - len + 1);
  return (proto_bytes){len ? pool + off : NULL, (int32_t)len};
}

/* A random Fetch response: up to 4 topics of up to 5 partitions, records
 * null, empty, small (copied) or large (pieces), tagged fields set at
 * random (v12: CurrentLeader, SnapshotId), aborted transactions. */
static proto_fetch_resp *random_fetch(proto_arena *a, test_rng *rng,
                                      const uint8_t *pool, size_t pool_len) {
  proto_fetch_resp *r = PROTO_NEW(a, proto_fetch_resp);
  r->throttle_time_ms = (int32_t)test_rng_below(rng, 3);
  r->session_id = (int32_t)test_rng_below(rng, 2);
  int32_t nt = (int32_t)test_rng_below(rng, 5);
  r->responses.items =
      PROTO_NEW_ARRAY(a, proto_fetch_resp_fetchable_topic_response, nt);
  r->responses.count = nt;
  for (int32_t i = 0; i < nt; i++) {
    proto_fetch_resp_fetchable_topic_response *t = &r->responses.items[i];
    t->topic =
        test_rng_below(rng, 2) ? PROTO_STR_LIT("events") : PROTO_STR_LIT("t");
    int32_t np = (int32_t)test_rng_below(rng, 6);
    t->partitions.items =
        PROTO_NEW_ARRAY(a, proto_fetch_resp_partition_data, np);
    t->partitions.count = np;
    for (int32_t j = 0; j < np; j++) {
      proto_fetch_resp_partition_data *p = &t->partitions.items[j];
      p->partition_index = j;
      p->error_code = (int16_t)(test_rng_below(rng, 4) == 0 ? 1 : 0);
      p->high_watermark = (int64_t)test_rng_below(rng, 1u << 30);
      p->last_stable_offset = p->high_watermark;
      p->log_start_offset = 0;
      p->aborted_transactions.count = test_rng_below(rng, 2) ? -1 : 0;
      if (test_rng_below(rng, 3) == 0) {
        p->current_leader.leader_id = 1;
        p->current_leader.leader_epoch = (int32_t)test_rng_below(rng, 9);
      }
      if (test_rng_below(rng, 5) == 0)
        p->snapshot_id.end_offset = 42;
      p->records = random_records(rng, pool, pool_len);
    }
  }
  return r;
}

/* The frame bytes + pieces, flattened in sending order. */
static void flatten(const buf_t *bytes, const proto_pieces *pieces,
                    buf_t *out) {
  proto_span *spans = malloc(sizeof *spans * (2 * pieces->count + 1));
  size_t n = proto_pieces_spans(bytes->data, bytes->len, pieces, spans);
  for (size_t i = 0; i < n; i++) {
    CU_ASSERT(spans[i].len > 0);
    buf_append(out, spans[i].data, spans[i].len);
  }
  free(spans);
}

static void test_response_pieces_same_bytes(void) {
  uint64_t seed = test_seed();
  test_rng rng;
  test_rng_init(&rng, seed);
  size_t pool_len = 20000;
  uint8_t *pool = malloc(pool_len);
  for (size_t i = 0; i < pool_len; i++)
    pool[i] = (uint8_t)test_rng_below(&rng, 256);
  const proto_message *m = proto_response_message(PROTO_API_FETCH);
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  size_t frames_with_pieces = 0;
  for (int round = 0; round < 500; round++) {
    proto_arena *a = proto_arena_new(0);
    int16_t v =
        (int16_t)(m->versions.min +
                  (int)test_rng_below(
                      &rng, (uint64_t)(m->versions.max - m->versions.min + 1)));
    size_t min_bytes = 1 + test_rng_below(&rng, 1024);
    /* Two frames back to back in one buffer: the second one's size
     * prefix counts only its own pieces. */
    buf_t old = BUF_INIT, bytes = BUF_INIT, flat = BUF_INIT;
    proto_pieces pieces;
    proto_pieces_init(&pieces, min_bytes);
    for (int f = 0; f < 2; f++) {
      proto_fetch_resp *r = random_fetch(a, &rng, pool, pool_len);
      int32_t corr = (int32_t)test_rng_below(&rng, 100000);
      int rc1 = proto_response_encode(&old, PROTO_API_FETCH, v, corr, r);
      size_t count_before = pieces.count;
      int rc2 = proto_response_encode_pieces(&bytes, &pieces, PROTO_API_FETCH,
                                             v, corr, r);
      TEST_EQ_INT(rc1, 0, seed);
      TEST_EQ_INT(rc2, 0, seed);
      frames_with_pieces += pieces.count > count_before;
    }
    flatten(&bytes, &pieces, &flat);
    TEST_EQ_INT(flat.len, old.len, seed);
    TEST_EQ_INT(bytes.len + pieces.bytes, old.len, seed);
    CU_ASSERT(flat.len == old.len && memcmp(flat.data, old.data, old.len) == 0);
    for (size_t i = 0; i < pieces.count; i++)
      CU_ASSERT(pieces.items[i].len >= min_bytes);

    /* An unencodable body leaves both the buffer and the pieces alone. */
    proto_fetch_resp *bad = random_fetch(a, &rng, pool, pool_len);
    proto_fetch_resp_partition_data extra[2];
    memset(extra, 0, sizeof extra);
    extra[0].records = (proto_bytes){pool, 5000};
    extra[1].records = (proto_bytes){NULL, -7};
    proto_fetch_resp_fetchable_topic_response bt = {.topic = PROTO_STR_LIT("x"),
                                                    .partitions = {extra, 2}};
    bad->responses = (proto_fetch_resp_fetchable_topic_response_array){&bt, 1};
    size_t len_before = bytes.len, count_before = pieces.count,
           piece_bytes_before = pieces.bytes;
    TEST_EQ_INT(proto_response_encode_pieces(&bytes, &pieces, PROTO_API_FETCH,
                                             v, 1, bad),
                PROTO_ERR_ENCODE, seed);
    TEST_EQ_INT(bytes.len, len_before, seed);
    TEST_EQ_INT(pieces.count, count_before, seed);
    TEST_EQ_INT(pieces.bytes, piece_bytes_before, seed);

    proto_pieces_free(&pieces);
    buf_free(&old);
    buf_free(&bytes);
    buf_free(&flat);
    proto_arena_free(a);
  }
  /* The property was not checked on copies alone. */
  CU_ASSERT(frames_with_pieces > 100);
  free(pool);
}

/* ---- requests with borrowed pieces ---- */

/* A random Produce request: up to 4 topics of up to 5 partitions (one
 * topic may repeat), records null, empty, small (copied) or large
 * (pieces) from pool, a transactional id or null. */
static proto_produce_req *random_produce(proto_arena *a, test_rng *rng,
                                         const uint8_t *pool, size_t pool_len) {
  proto_produce_req *r = PROTO_NEW(a, proto_produce_req);
  r->transactional_id =
      test_rng_below(rng, 3) == 0 ? PROTO_STR_LIT("txn-1") : PROTO_STR_NULL;
  r->acks = (int16_t)((int)test_rng_below(rng, 3) - 1);
  r->timeout_ms = (int32_t)test_rng_below(rng, 60000);
  int32_t nt = (int32_t)test_rng_below(rng, 5);
  r->topic_data.items =
      PROTO_NEW_ARRAY(a, proto_produce_req_topic_produce_data, nt);
  r->topic_data.count = nt;
  for (int32_t i = 0; i < nt; i++) {
    proto_produce_req_topic_produce_data *t = &r->topic_data.items[i];
    t->name =
        test_rng_below(rng, 2) ? PROTO_STR_LIT("events") : PROTO_STR_LIT("t");
    int32_t np = (int32_t)test_rng_below(rng, 6);
    t->partition_data.items =
        PROTO_NEW_ARRAY(a, proto_produce_req_partition_produce_data, np);
    t->partition_data.count = np;
    for (int32_t j = 0; j < np; j++) {
      proto_produce_req_partition_produce_data *p = &t->partition_data.items[j];
      p->index = (int32_t)test_rng_below(rng, 100);
      p->records = random_records(rng, pool, pool_len);
    }
  }
  return r;
}

static void test_request_pieces_same_bytes(void) {
  uint64_t seed = test_seed();
  test_rng rng;
  test_rng_init(&rng, seed);
  size_t pool_len = 20000;
  uint8_t *pool = malloc(pool_len);
  for (size_t i = 0; i < pool_len; i++)
    pool[i] = (uint8_t)test_rng_below(&rng, 256);
  /* Kept unchanged by every encode below (pieces only borrow it). */
  uint8_t *pool_copy = malloc(pool_len);
  memcpy(pool_copy, pool, pool_len);
  const proto_message *m = proto_request_message(PROTO_API_PRODUCE);
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  size_t frames_with_pieces = 0;
  int versions_seen = 0;
  for (int round = 0; round < 600; round++) {
    proto_arena *a = proto_arena_new(0);
    /* Every version in turn, then at random. */
    int span = m->versions.max - m->versions.min + 1;
    int16_t v =
        (int16_t)(m->versions.min +
                  (round < span ? round
                                : (int)test_rng_below(&rng, (uint64_t)span)));
    versions_seen += round < span;
    size_t min_bytes = 1 + test_rng_below(&rng, 1024);
    const char *client_id = test_rng_below(&rng, 4) == 0 ? NULL : "producer-7";
    /* Two frames back to back in one buffer: the second one's size
     * prefix counts only its own pieces. */
    buf_t old = BUF_INIT, bytes = BUF_INIT, flat = BUF_INIT;
    proto_pieces pieces;
    proto_pieces_init(&pieces, min_bytes);
    for (int f = 0; f < 2; f++) {
      proto_produce_req *r = random_produce(a, &rng, pool, pool_len);
      int32_t corr = (int32_t)test_rng_below(&rng, 100000);
      int rc1 =
          proto_request_encode(&old, PROTO_API_PRODUCE, v, corr, client_id, r);
      size_t count_before = pieces.count;
      int rc2 = proto_request_encode_pieces(&bytes, &pieces, PROTO_API_PRODUCE,
                                            v, corr, client_id, r);
      TEST_EQ_INT(rc1, 0, seed);
      TEST_EQ_INT(rc2, 0, seed);
      frames_with_pieces += pieces.count > count_before;
    }
    flatten(&bytes, &pieces, &flat);
    TEST_EQ_INT(flat.len, old.len, seed);
    TEST_EQ_INT(bytes.len + pieces.bytes, old.len, seed);
    CU_ASSERT(flat.len == old.len && memcmp(flat.data, old.data, old.len) == 0);
    for (size_t i = 0; i < pieces.count; i++) {
      CU_ASSERT(pieces.items[i].len >= min_bytes);
      /* Borrowed from the body, not copied. */
      CU_ASSERT(pieces.items[i].data >= pool &&
                pieces.items[i].data + pieces.items[i].len <= pool + pool_len);
    }
    /* pieces NULL is exactly the copying encoder. */
    buf_t plain = BUF_INIT;
    proto_produce_req *r = random_produce(a, &rng, pool, pool_len);
    buf_t ref = BUF_INIT;
    TEST_EQ_INT(
        proto_request_encode(&ref, PROTO_API_PRODUCE, v, 9, client_id, r), 0,
        seed);
    TEST_EQ_INT(proto_request_encode_pieces(&plain, NULL, PROTO_API_PRODUCE, v,
                                            9, client_id, r),
                0, seed);
    CU_ASSERT(plain.len == ref.len &&
              memcmp(plain.data, ref.data, ref.len) == 0);
    buf_free(&plain);
    buf_free(&ref);

    /* An unencodable body leaves both the buffer and the pieces alone,
     * even when a large batch was listed before the bad one. */
    proto_produce_req *bad = random_produce(a, &rng, pool, pool_len);
    proto_produce_req_partition_produce_data extra[2];
    memset(extra, 0, sizeof extra);
    extra[0].records = (proto_bytes){pool, 5000};
    extra[1].records = (proto_bytes){NULL, -7};
    proto_produce_req_topic_produce_data bt = {.name = PROTO_STR_LIT("x"),
                                               .partition_data = {extra, 2}};
    bad->topic_data = (proto_produce_req_topic_produce_data_array){&bt, 1};
    size_t len_before = bytes.len, count_before = pieces.count,
           piece_bytes_before = pieces.bytes;
    TEST_EQ_INT(proto_request_encode_pieces(&bytes, &pieces, PROTO_API_PRODUCE,
                                            v, 1, client_id, bad),
                PROTO_ERR_ENCODE, seed);
    TEST_EQ_INT(bytes.len, len_before, seed);
    TEST_EQ_INT(pieces.count, count_before, seed);
    TEST_EQ_INT(pieces.bytes, piece_bytes_before, seed);
    /* So does a client id too long for its int16 length. */
    char *long_id = malloc(40000);
    memset(long_id, 'c', 39999);
    long_id[39999] = '\0';
    proto_produce_req *good = random_produce(a, &rng, pool, pool_len);
    TEST_EQ_INT(proto_request_encode_pieces(&bytes, &pieces, PROTO_API_PRODUCE,
                                            v, 1, long_id, good),
                PROTO_ERR_ENCODE, seed);
    TEST_EQ_INT(bytes.len, len_before, seed);
    TEST_EQ_INT(pieces.count, count_before, seed);
    TEST_EQ_INT(pieces.bytes, piece_bytes_before, seed);
    free(long_id);
    /* The frames already encoded are still what they were. */
    buf_clear(&flat);
    flatten(&bytes, &pieces, &flat);
    CU_ASSERT(flat.len == old.len && memcmp(flat.data, old.data, old.len) == 0);

    proto_pieces_free(&pieces);
    buf_free(&old);
    buf_free(&bytes);
    buf_free(&flat);
    proto_arena_free(a);
  }
  TEST_EQ_INT(versions_seen, m->versions.max - m->versions.min + 1, seed);
  /* The property was not checked on copies alone. */
  CU_ASSERT(frames_with_pieces > 100);
  CU_ASSERT(memcmp(pool, pool_copy, pool_len) == 0);
  free(pool_copy);
  free(pool);
}

static void test_arena(void) {
  proto_arena *a = proto_arena_new(0);
  uint8_t *first = proto_arena_alloc(a, 10);
  CU_ASSERT_PTR_NOT_NULL_FATAL(first);
  CU_ASSERT(((uintptr_t)first % 8) == 0);
  /* Large allocations get their own chunk; all are zeroed. */
  uint8_t *big = proto_arena_alloc(a, 3 * 1024 * 1024);
  CU_ASSERT_PTR_NOT_NULL_FATAL(big);
  CU_ASSERT(big[0] == 0 && big[3 * 1024 * 1024 - 1] == 0);
  CU_ASSERT(proto_arena_used_bytes(a) >= 3 * 1024 * 1024 + 10);
  proto_arena_reset(a);
  CU_ASSERT_EQUAL(proto_arena_used_bytes(a), 0);
  CU_ASSERT_PTR_NOT_NULL(proto_arena_alloc(a, 0));
  proto_arena_free(a);
  proto_arena_free(NULL);

  proto_arena *lim = proto_arena_new(1000);
  CU_ASSERT_PTR_NOT_NULL(proto_arena_alloc(lim, 500));
  CU_ASSERT_PTR_NULL(proto_arena_alloc(lim, 600));
  bool ok = true;
  proto_str s = proto_arena_str(lim, "0123456789", 10, &ok);
  CU_ASSERT(ok);
  CU_ASSERT_STRING_EQUAL(s.data, "0123456789");
  proto_arena_free(lim);
}

int suite_proto(void) {
  TEST_SUITE("proto", {"api_versions_v0_request", test_api_versions_v0_request},
             {"api_versions_v3_request", test_api_versions_v3_request},
             {"api_versions_v0_v1_response", test_api_versions_v0_response},
             {"api_versions_v3_response", test_api_versions_v3_response},
             {"api_versions_fallback", test_api_versions_fallback},
             {"api_versions_table", test_api_versions_table},
             {"api_versions_request_valid", test_api_versions_request_valid},
             {"metadata_v1_request", test_metadata_v1_request},
             {"metadata_v9_request", test_metadata_v9_request},
             {"metadata_v1_response", test_metadata_v1_response},
             {"metadata_v9_response", test_metadata_v9_response},
             {"produce_v3_request", test_produce_v3_request},
             {"produce_v9_request", test_produce_v9_request},
             {"fetch_v4_response", test_fetch_v4_response},
             {"fetch_v12_response", test_fetch_v12_response},
             {"unknown_tags_skipped", test_unknown_tags_skipped},
             {"header_versions", test_header_versions},
             {"unknown_api_and_version", test_unknown_api_and_version},
             {"request_garbage", test_request_garbage},
             {"arena", test_arena},
             {"response_pieces_same_bytes", test_response_pieces_same_bytes},
             {"request_pieces_same_bytes", test_request_pieces_same_bytes});
}
