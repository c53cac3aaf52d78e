/*
 * The broker node (broker/server/broker.h) in the simulator, driven by a
 * tiny client node that speaks raw Kafka frames through broker/proto (the
 * harness in lib_broker_sim.h, shared with test_group_broker.c).
 *
 * Each case builds a sim with a "broker" node (broker_node_ops, data under
 * /data on its simulated disk) and one or two "client" nodes, then drives
 * the client from the test: send a request frame, run the simulator until
 * the response frame arrives, decode it. Virtual time makes the long-poll
 * and timeout checks exact and the runs reproducible (the seed is printed
 * on failure).
 *
 * Cases: produce/fetch round trip, idempotent producer dedup and sequence
 * errors, long-poll fetch woken by a produce, clean restart (data, topic
 * configs and producer state survive), crash restart (flushed data
 * survives), a retried duplicate acknowledged only once durable (also
 * after a killed run), a partition directory recreated at start made
 * durable, bad frames close only their connection, pipelining and
 * acks=0, back pressure against a client that stops reading, topic
 * deletion and re-creation, config changes that reopen the log,
 * DeleteRecords across a restart, torn-write crashes, flexible versions
 * and topic ids, the same trace for the same seed, and server.properties
 * parsing.
 */
#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <string.h>

#include "base/config.h"
#include "base/env.h"
#include "broker/client/client.h"
#include "broker/kerr.h"
#include "broker/log/batch.h"
#include "broker/proto/proto.h"
#include "broker/server/broker.h"
#include "sim/sim.h"
#include "tests/unit/lib_broker_sim.h"
#include "tests/unit/testutil.h"

#define MS UINT64_C(1000000)
#define SEC (1000 * MS)

/* A batch of n records "<prefix>-<i>" (keys "k<i>"), appended to out. */
static void make_batch(buf_t *out, const char *prefix, int n, int64_t pid,
                       int16_t epoch, int32_t seq, int64_t ts) {
  batch_builder_opts o;
  memset(&o, 0, sizeof o);
  o.codec = BATCH_CODEC_NONE;
  o.base_timestamp = ts;
  o.producer_id = pid;
  o.producer_epoch = epoch;
  o.base_sequence = seq;
  o.leader_epoch = -1;
  batch_builder *b = batch_builder_new(&o);
  for (int i = 0; i < n; i++) {
    char k[32], v[64];
    snprintf(k, sizeof k, "k%d", i);
    snprintf(v, sizeof v, "%s-%d", prefix, i);
    batch_builder_add(b, ts, k, (int32_t)strlen(k), v, (int32_t)strlen(v),
                      NULL, 0);
  }
  CU_ASSERT_EQUAL(batch_builder_finish(b, -1, out), 0);
}

typedef struct produce_res {
  int16_t error;
  int64_t base_offset;
} produce_res;

static proto_produce_req *produce_req(bsim *t, const char *topic, int32_t part,
                                      const buf_t *batch, int16_t acks) {
  proto_produce_req *r = PROTO_NEW(t->arena, proto_produce_req);
  proto_produce_req_topic_produce_data *td =
      PROTO_NEW_ARRAY(t->arena, proto_produce_req_topic_produce_data, 1);
  proto_produce_req_partition_produce_data *pd =
      PROTO_NEW_ARRAY(t->arena, proto_produce_req_partition_produce_data, 1);
  pd->index = part;
  pd->records = (proto_bytes){batch->data, (int32_t)batch->len};
  td->name = bsim_str(topic);
  td->partition_data.items = pd;
  td->partition_data.count = 1;
  r->transactional_id = PROTO_STR_NULL;
  r->acks = acks;
  r->timeout_ms = 5000;
  r->topic_data.items = td;
  r->topic_data.count = 1;
  return r;
}

static produce_res produce_on(bsim *t, int ci, const char *topic, int32_t part,
                              const buf_t *batch) {
  proto_produce_resp *resp = bsim_call(t, ci, PROTO_API_PRODUCE, 7,
                                       produce_req(t, topic, part, batch, -1));
  CU_ASSERT_EQUAL_FATAL(resp->responses.count, 1);
  const proto_produce_resp_partition_produce_response *p =
      &resp->responses.items[0].partition_responses.items[0];
  return (produce_res){p->error_code, p->base_offset};
}

static produce_res produce(bsim *t, const char *topic, int32_t part,
                           const buf_t *batch) {
  return produce_on(t, 0, topic, part, batch);
}

static proto_fetch_req *fetch_req(bsim *t, const char *topic, int32_t part,
                                  int64_t offset, int32_t max_wait_ms,
                                  int32_t max_bytes) {
  proto_fetch_req *r = PROTO_NEW(t->arena, proto_fetch_req);
  proto_fetch_req_fetch_topic *ft =
      PROTO_NEW_ARRAY(t->arena, proto_fetch_req_fetch_topic, 1);
  proto_fetch_req_fetch_partition *fp =
      PROTO_NEW_ARRAY(t->arena, proto_fetch_req_fetch_partition, 1);
  fp->partition = part;
  fp->fetch_offset = offset;
  fp->partition_max_bytes = max_bytes;
  fp->current_leader_epoch = -1;
  ft->topic = bsim_str(topic);
  ft->partitions.items = fp;
  ft->partitions.count = 1;
  r->replica_id = -1;
  r->max_wait_ms = max_wait_ms;
  r->min_bytes = 1;
  r->max_bytes = max_bytes;
  r->session_id = 0;
  r->session_epoch = -1;
  r->topics.items = ft;
  r->topics.count = 1;
  return r;
}

static const proto_fetch_resp_partition_data *
fetch_part(proto_fetch_resp *resp) {
  CU_ASSERT_EQUAL_FATAL(resp->responses.count, 1);
  CU_ASSERT_EQUAL_FATAL(resp->responses.items[0].partitions.count, 1);
  return &resp->responses.items[0].partitions.items[0];
}

static const proto_fetch_resp_partition_data *
fetch(bsim *t, const char *topic, int32_t part, int64_t offset) {
  return fetch_part(bsim_call(t, 0, PROTO_API_FETCH, 11,
                              fetch_req(t, topic, part, offset, 0, 1 << 20)));
}

/* Appends the values of every record in a fetch's records to vals and
 * returns the offset of the first record (-1 if none). */
static int64_t collect_values(const proto_bytes *records, GPtrArray *vals,
                              int64_t *next_offset) {
  int64_t first = -1;
  size_t pos = 0, len = records->len < 0 ? 0 : (size_t)records->len;
  while (pos < len) {
    int64_t total = batch_total_bytes(records->data + pos, len - pos);
    if (total <= 0 || (size_t)total > len - pos)
      break;
    int err = 0;
    batch_iter *it = batch_iter_new(records->data + pos, (size_t)total, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(it);
    batch_record rec;
    while (batch_iter_next(it, &rec) == 1) {
      if (first < 0)
        first = rec.offset;
      g_ptr_array_add(vals, g_strndup((const char *)rec.value,
                                      (gsize)rec.value_len));
      if (next_offset)
        *next_offset = rec.offset + 1;
    }
    batch_iter_free(it);
    pos += (size_t)total;
  }
  return first;
}

static int64_t list_offset(bsim *t, const char *topic, int32_t part,
                           int64_t ts) {
  proto_list_offsets_req *r = PROTO_NEW(t->arena, proto_list_offsets_req);
  proto_list_offsets_req_list_offsets_topic *lt =
      PROTO_NEW_ARRAY(t->arena, proto_list_offsets_req_list_offsets_topic, 1);
  proto_list_offsets_req_list_offsets_partition *lp = PROTO_NEW_ARRAY(
      t->arena, proto_list_offsets_req_list_offsets_partition, 1);
  lp->partition_index = part;
  lp->timestamp = ts;
  lp->current_leader_epoch = -1;
  lt->name = bsim_str(topic);
  lt->partitions.items = lp;
  lt->partitions.count = 1;
  r->replica_id = -1;
  r->topics.items = lt;
  r->topics.count = 1;
  proto_list_offsets_resp *resp = bsim_call(t, 0, PROTO_API_LIST_OFFSETS, 4, r);
  const proto_list_offsets_resp_list_offsets_partition_response *p =
      &resp->topics.items[0].partitions.items[0];
  return p->error_code ? -100 - p->error_code : p->offset;
}

static int64_t init_pid(bsim *t) {
  proto_init_producer_id_req *r =
      PROTO_NEW(t->arena, proto_init_producer_id_req);
  r->transactional_id = PROTO_STR_NULL;
  r->transaction_timeout_ms = 60000;
  r->producer_id = -1;
  r->producer_epoch = -1;
  proto_init_producer_id_resp *resp =
      bsim_call(t, 0, PROTO_API_INIT_PRODUCER_ID, 4, r);
  TEST_EQ_INT(resp->error_code, 0, t->seed);
  TEST_EQ_INT(resp->producer_epoch, 0, t->seed);
  return resp->producer_id;
}

static void free_vals(GPtrArray *v) { g_ptr_array_free(v, TRUE); }

/* --------------------------------------------------------------- cases */

static void test_produce_fetch(void) {
  bsim t;
  bsim_open(&t, test_seed());
  TEST_EQ_INT(bsim_create_topic(&t, "orders", 2, NULL, NULL), KERR_NONE,
              t.seed);
  TEST_EQ_INT(bsim_create_topic(&t, "orders", 2, NULL, NULL),
              KERR_TOPIC_ALREADY_EXISTS, t.seed);
  int64_t ts = 1700000000000;
  for (int b = 0; b < 20; b++) {
    buf_t batch = BUF_INIT;
    char prefix[16];
    snprintf(prefix, sizeof prefix, "b%d", b);
    make_batch(&batch, prefix, 5, -1, -1, -1, ts + b);
    produce_res r = produce(&t, "orders", 0, &batch);
    TEST_EQ_INT(r.error, KERR_NONE, t.seed);
    TEST_EQ_INT(r.base_offset, b * 5, t.seed);
    buf_free(&batch);
  }
  const proto_fetch_resp_partition_data *p = fetch(&t, "orders", 0, 0);
  TEST_EQ_INT(p->error_code, KERR_NONE, t.seed);
  TEST_EQ_INT(p->high_watermark, 100, t.seed);
  GPtrArray *vals = g_ptr_array_new_with_free_func(g_free);
  int64_t next = 0;
  TEST_EQ_INT(collect_values(&p->records, vals, &next), 0, t.seed);
  TEST_EQ_INT(vals->len, 100, t.seed);
  TEST_EQ_INT(next, 100, t.seed);
  for (guint i = 0; i < vals->len; i++) {
    char want[32];
    snprintf(want, sizeof want, "b%u-%u", i / 5, i % 5);
    CU_ASSERT_STRING_EQUAL(g_ptr_array_index(vals, i), want);
  }
  free_vals(vals);
  /* A fetch in the middle of a batch returns the whole batch. */
  vals = g_ptr_array_new_with_free_func(g_free);
  p = fetch(&t, "orders", 0, 52);
  TEST_EQ_INT(collect_values(&p->records, vals, NULL), 50, t.seed);
  free_vals(vals);
  /* Offsets, errors. */
  TEST_EQ_INT(list_offset(&t, "orders", 0, -2), 0, t.seed);
  TEST_EQ_INT(list_offset(&t, "orders", 0, -1), 100, t.seed);
  TEST_EQ_INT(list_offset(&t, "orders", 0, ts + 7), 35, t.seed);
  TEST_EQ_INT(list_offset(&t, "orders", 1, -1), 0, t.seed);
  TEST_EQ_INT(fetch(&t, "orders", 0, 101)->error_code,
              KERR_OFFSET_OUT_OF_RANGE, t.seed);
  TEST_EQ_INT(fetch(&t, "orders", 7, 0)->error_code,
              KERR_UNKNOWN_TOPIC_OR_PARTITION, t.seed);
  buf_t batch = BUF_INIT;
  make_batch(&batch, "x", 1, -1, -1, -1, ts);
  TEST_EQ_INT(produce(&t, "nope", 0, &batch).error,
              KERR_UNKNOWN_TOPIC_OR_PARTITION, t.seed);
  /* A corrupted batch is refused. */
  batch.data[batch.len - 1] ^= 0x55;
  TEST_EQ_INT(produce(&t, "orders", 1, &batch).error, KERR_CORRUPT_MESSAGE,
              t.seed);
  buf_free(&batch);
  /* Metadata: the broker leads both partitions. */
  proto_metadata_req *mr = PROTO_NEW(t.arena, proto_metadata_req);
  mr->topics.count = -1;
  proto_metadata_resp *md = bsim_call(&t, 0, PROTO_API_METADATA, 9, mr);
  TEST_EQ_INT(md->brokers.count, 1, t.seed);
  CU_ASSERT_TRUE(proto_str_eq(md->brokers.items[0].host, "broker"));
  TEST_EQ_INT(md->brokers.items[0].port, BSIM_BROKER_PORT, t.seed);
  TEST_EQ_INT(md->topics.count, 1, t.seed);
  TEST_EQ_INT(md->topics.items[0].partitions.count, 2, t.seed);
  TEST_EQ_INT(md->topics.items[0].partitions.items[1].leader_id,
              t.bcfg.node_id, t.seed);
  bsim_close(&t);
}

static void test_auto_create(void) {
  bsim t;
  bsim_open(&t, test_seed() + 1);
  proto_metadata_req *mr = PROTO_NEW(t.arena, proto_metadata_req);
  proto_metadata_req_topic *mt =
      PROTO_NEW_ARRAY(t.arena, proto_metadata_req_topic, 1);
  mt->name = bsim_str("auto");
  mr->topics.items = mt;
  mr->topics.count = 1;
  mr->allow_auto_topic_creation = true;
  proto_metadata_resp *md = bsim_call(&t, 0, PROTO_API_METADATA, 4, mr);
  TEST_EQ_INT(md->topics.items[0].error_code, KERR_LEADER_NOT_AVAILABLE,
              t.seed);
  sim_run_until(t.sim, sim_now_ns(t.sim) + 100 * MS);
  md = bsim_call(&t, 0, PROTO_API_METADATA, 4, mr);
  TEST_EQ_INT(md->topics.items[0].error_code, KERR_NONE, t.seed);
  TEST_EQ_INT(md->topics.items[0].partitions.count, 1, t.seed);
  mt->name = bsim_str("bad name");
  md = bsim_call(&t, 0, PROTO_API_METADATA, 4, mr);
  TEST_EQ_INT(md->topics.items[0].error_code, 17, t.seed);
  mt->name = bsim_str("not-created");
  mr->allow_auto_topic_creation = false;
  md = bsim_call(&t, 0, PROTO_API_METADATA, 4, mr);
  TEST_EQ_INT(md->topics.items[0].error_code, KERR_UNKNOWN_TOPIC_OR_PARTITION,
              t.seed);
  bsim_close(&t);
}

static void test_idempotent_dedup(void) {
  bsim t;
  bsim_open(&t, test_seed() + 2);
  TEST_EQ_INT(bsim_create_topic(&t, "idem", 1, NULL, NULL), KERR_NONE, t.seed);
  int64_t pid = init_pid(&t);
  CU_ASSERT(pid >= 0);
  CU_ASSERT(init_pid(&t) != pid);
  int64_t ts = 1700000000000;
  buf_t b0 = BUF_INIT, b1 = BUF_INIT, gap = BUF_INIT, old = BUF_INIT,
        e1 = BUF_INIT;
  make_batch(&b0, "a", 3, pid, 0, 0, ts);
  make_batch(&b1, "b", 2, pid, 0, 3, ts);
  make_batch(&gap, "c", 1, pid, 0, 9, ts);
  make_batch(&e1, "d", 1, pid, 1, 0, ts);
  make_batch(&old, "e", 1, pid, 0, 5, ts);
  produce_res r = produce(&t, "idem", 0, &b0);
  TEST_EQ_INT(r.error, KERR_NONE, t.seed);
  TEST_EQ_INT(r.base_offset, 0, t.seed);
  r = produce(&t, "idem", 0, &b0); /* a retry */
  TEST_EQ_INT(r.error, KERR_NONE, t.seed);
  TEST_EQ_INT(r.base_offset, 0, t.seed);
  TEST_EQ_INT(list_offset(&t, "idem", 0, -1), 3, t.seed);
  r = produce(&t, "idem", 0, &b1);
  TEST_EQ_INT(r.base_offset, 3, t.seed);
  TEST_EQ_INT(produce(&t, "idem", 0, &gap).error,
              KERR_OUT_OF_ORDER_SEQUENCE_NUMBER, t.seed);
  r = produce(&t, "idem", 0, &e1);
  TEST_EQ_INT(r.error, KERR_NONE, t.seed);
  TEST_EQ_INT(r.base_offset, 5, t.seed);
  TEST_EQ_INT(produce(&t, "idem", 0, &old).error, KERR_INVALID_PRODUCER_EPOCH,
              t.seed);
  TEST_EQ_INT(list_offset(&t, "idem", 0, -1), 6, t.seed);
  /* Every record once. */
  GPtrArray *vals = g_ptr_array_new_with_free_func(g_free);
  collect_values(&fetch(&t, "idem", 0, 0)->records, vals, NULL);
  TEST_EQ_INT(vals->len, 6, t.seed);
  free_vals(vals);
  buf_free(&b0);
  buf_free(&b1);
  buf_free(&gap);
  buf_free(&old);
  buf_free(&e1);
  bsim_close(&t);
}

static void test_long_poll(void) {
  bsim t;
  bsim_open(&t, test_seed() + 3);
  TEST_EQ_INT(bsim_create_topic(&t, "poll", 1, NULL, NULL), KERR_NONE, t.seed);
  /* Nothing there: the answer comes after max_wait_ms, empty. */
  uint64_t t0 = sim_now_ns(t.sim);
  proto_fetch_resp *fr = bsim_call(&t, 0, PROTO_API_FETCH, 11,
                                   fetch_req(&t, "poll", 0, 0, 300, 1 << 20));
  uint64_t waited = sim_now_ns(t.sim) - t0;
  CU_ASSERT(waited >= 300 * MS && waited < 320 * MS);
  TEST_EQ_INT(fetch_part(fr)->records.len, 0, t.seed);
  /* A parked fetch (max_wait 5 s) is answered right after a produce from
   * another client. */
  int32_t corr = bsim_send(&t, 0, PROTO_API_FETCH, 11,
                           fetch_req(&t, "poll", 0, 0, 5000, 1 << 20));
  sim_run_until(t.sim, sim_now_ns(t.sim) + 200 * MS);
  CU_ASSERT_TRUE(g_queue_is_empty(&bsim_client_at(&t, 0)->frames));
  buf_t batch = BUF_INIT;
  make_batch(&batch, "wake", 2, -1, -1, -1, 1700000000000);
  uint64_t t1 = sim_now_ns(t.sim);
  TEST_EQ_INT(produce_on(&t, 1, "poll", 0, &batch).error, KERR_NONE, t.seed);
  buf_free(&batch);
  fr = bsim_recv(&t, 0, corr, PROTO_API_FETCH, 11);
  uint64_t latency = sim_now_ns(t.sim) - t1;
  CU_ASSERT(latency < 50 * MS);
  GPtrArray *vals = g_ptr_array_new_with_free_func(g_free);
  collect_values(&fetch_part(fr)->records, vals, NULL);
  TEST_EQ_INT(vals->len, 2, t.seed);
  free_vals(vals);
  bsim_close(&t);
}

static void test_clean_restart(void) {
  bsim t;
  bsim_open(&t, test_seed() + 4);
  TEST_EQ_INT(bsim_create_topic(&t, "keep", 1, "retention.ms", "123456"),
              KERR_NONE, t.seed);
  int64_t pid = init_pid(&t);
  buf_t b = BUF_INIT, last = BUF_INIT;
  make_batch(&b, "plain", 10, -1, -1, -1, 1700000000000);
  make_batch(&last, "idem", 4, pid, 0, 0, 1700000000000);
  TEST_EQ_INT(produce(&t, "keep", 0, &b).base_offset, 0, t.seed);
  TEST_EQ_INT(produce(&t, "keep", 0, &last).base_offset, 10, t.seed);
  bsim_restart(&t, true);
  TEST_EQ_INT(list_offset(&t, "keep", 0, -1), 14, t.seed);
  GPtrArray *vals = g_ptr_array_new_with_free_func(g_free);
  collect_values(&fetch(&t, "keep", 0, 0)->records, vals, NULL);
  TEST_EQ_INT(vals->len, 14, t.seed);
  if (vals->len == 14) {
    CU_ASSERT_STRING_EQUAL(g_ptr_array_index(vals, 0), "plain-0");
    CU_ASSERT_STRING_EQUAL(g_ptr_array_index(vals, 13), "idem-3");
  }
  free_vals(vals);
  /* Producer state survived: the last batch is a duplicate. */
  produce_res r = produce(&t, "keep", 0, &last);
  TEST_EQ_INT(r.error, KERR_NONE, t.seed);
  TEST_EQ_INT(r.base_offset, 10, t.seed);
  TEST_EQ_INT(list_offset(&t, "keep", 0, -1), 14, t.seed);
  /* The topic config survived. */
  proto_describe_configs_req *dr =
      PROTO_NEW(t.arena, proto_describe_configs_req);
  proto_describe_configs_req_describe_configs_resource *res = PROTO_NEW_ARRAY(
      t.arena, proto_describe_configs_req_describe_configs_resource, 1);
  res->resource_type = 2;
  res->resource_name = bsim_str("keep");
  res->configuration_keys.count = -1;
  dr->resources.items = res;
  dr->resources.count = 1;
  proto_describe_configs_resp *dc =
      bsim_call(&t, 0, PROTO_API_DESCRIBE_CONFIGS, 1, dr);
  bool found = false;
  for (int32_t i = 0; i < dc->results.items[0].configs.count; i++) {
    proto_describe_configs_resp_describe_configs_resource_result *e =
        &dc->results.items[0].configs.items[i];
    if (proto_str_eq(e->name, "retention.ms")) {
      found = proto_str_eq(e->value, "123456");
      TEST_EQ_INT(e->config_source, 1, t.seed);
    }
  }
  CU_ASSERT_TRUE(found);
  /* A new producer id is not one handed out before. */
  CU_ASSERT(init_pid(&t) > pid);
  buf_free(&b);
  buf_free(&last);
  bsim_close(&t);
}

static void test_crash_restart(void) {
  bsim t;
  bsim_open(&t, test_seed() + 5);
  /* flush.messages=1: every append is fsynced by the log on its own. */
  TEST_EQ_INT(bsim_create_topic(&t, "durable", 1, "flush.messages", "1"),
              KERR_NONE, t.seed);
  int64_t pid = init_pid(&t);
  buf_t b = BUF_INIT;
  for (int i = 0; i < 10; i++) {
    buf_clear(&b);
    make_batch(&b, "d", 3, pid, 0, i * 3, 1700000000000 + i);
    TEST_EQ_INT(produce(&t, "durable", 0, &b).base_offset, i * 3, t.seed);
  }
  /* Let the last flush complete, then crash: unsynced bytes vanish. */
  sim_run_until(t.sim, sim_now_ns(t.sim) + 200 * MS);
  bsim_restart(&t, false);
  TEST_EQ_INT(list_offset(&t, "durable", 0, -1), 30, t.seed);
  GPtrArray *vals = g_ptr_array_new_with_free_func(g_free);
  collect_values(&fetch(&t, "durable", 0, 0)->records, vals, NULL);
  TEST_EQ_INT(vals->len, 30, t.seed);
  free_vals(vals);
  /* The producer's state came back from the log: the last batch is a
   * duplicate, the next sequence goes on. */
  produce_res r = produce(&t, "durable", 0, &b);
  TEST_EQ_INT(r.error, KERR_NONE, t.seed);
  TEST_EQ_INT(r.base_offset, 27, t.seed);
  buf_clear(&b);
  make_batch(&b, "d", 1, pid, 0, 30, 1700000000100);
  TEST_EQ_INT(produce(&t, "durable", 0, &b).base_offset, 30, t.seed);
  buf_free(&b);
  bsim_close(&t);
}

/* Restarts the killed or crashed broker node and reconnects client 0. */
static void restart_node(bsim *t) {
  sim_run_until(t->sim, sim_now_ns(t->sim) + 10 * MS);
  sim_node_restart(t->sim, t->bnode);
  sim_run_until(t->sim, sim_now_ns(t->sim) + 10 * MS);
  CU_ASSERT_TRUE_FATAL(sim_node_is_up(t->bnode));
  bsim_client *c = bsim_client_at(t, 0);
  bsim_run_until(t, bsim_is_closed, c, BSIM_WAIT_NS);
  g_queue_clear_full(&c->frames, (GDestroyNotify)g_bytes_unref);
  bsim_client_connect(c);
  CU_ASSERT_TRUE_FATAL(bsim_run_until(t, bsim_is_connected, c, BSIM_WAIT_NS));
}

/* Regression (broker-crash seed 91): a run appends a batch and is killed
 * (page cache kept) before the flush finishes; the producer's retry, after
 * the restart, is a duplicate of that batch. It may only be acknowledged
 * once the batch is durable: before the fix it was answered at once, and
 * the restarted log did not even fsync the tail it had recovered, so a
 * later crash lost acknowledged records. */
static void test_duplicate_waits_for_flush(void) {
  bsim t;
  bsim_open(&t, test_seed() + 91);
  TEST_EQ_INT(bsim_create_topic(&t, "dup", 1, "flush.messages", "1"),
              KERR_NONE, t.seed);
  int64_t pid = init_pid(&t);
  const char *seg = "/data/dup-0/00000000000000000000.log";
  sim_disk_t *disk = sim_node_disk(t.bnode);
  buf_t b = BUF_INIT;
  make_batch(&b, "a", 3, pid, 0, 0, 1700000000000);
  TEST_EQ_INT(produce(&t, "dup", 0, &b).error, KERR_NONE, t.seed);
  sim_run_until(t.sim, sim_now_ns(t.sim) + 200 * MS);
  uint64_t durable0 = 0;
  TEST_EQ_INT(sim_disk_durable_size(disk, seg, &durable0), 0, t.seed);
  CU_ASSERT(durable0 > 0);

  /* The second batch reaches the page cache; the process dies before its
   * fsync completes. */
  buf_clear(&b);
  make_batch(&b, "b", 2, pid, 0, 3, 1700000000001);
  uint64_t unsynced0 = sim_disk_unsynced_bytes(disk);
  (void)bsim_send(&t, 0, PROTO_API_PRODUCE, 7,
                  produce_req(&t, "dup", 0, &b, -1));
  uint64_t deadline = sim_now_ns(t.sim) + BSIM_WAIT_NS;
  while (sim_disk_unsynced_bytes(disk) <= unsynced0 &&
         sim_now_ns(t.sim) < deadline && sim_step(t.sim)) {
  }
  CU_ASSERT_FATAL(sim_disk_unsynced_bytes(disk) > unsynced0);
  sim_node_stop(t.sim, t.bnode);
  restart_node(&t);

  /* The retry is a duplicate; by the time it is answered the batch is on
   * the medium. */
  produce_res r = produce(&t, "dup", 0, &b);
  TEST_EQ_INT(r.error, KERR_NONE, t.seed);
  TEST_EQ_INT(r.base_offset, 3, t.seed);
  TEST_EQ_INT(env_metric_get(sim_node_env(t.bnode), "broker.produce_duplicates"),
              1, t.seed);
  uint64_t durable1 = 0;
  TEST_EQ_INT(sim_disk_durable_size(disk, seg, &durable1), 0, t.seed);
  TEST_EQ_INT(durable1, durable0 + b.len, t.seed);
  /* And a power loss right after the answer keeps it. */
  bsim_restart(&t, false);
  TEST_EQ_INT(list_offset(&t, "dup", 0, -1), 5, t.seed);
  buf_free(&b);
  bsim_close(&t);
}

/* The volatile (page cache) size of a file on the broker's simulated disk
 * (0 if missing). */
static uint64_t volatile_size(bsim *t, const char *path) {
  sim_disk_t *disk = sim_node_disk(t->bnode);
  sim_disk_file_t *f = NULL;
  uint64_t size = 0;
  if (sim_disk_open(disk, path, ENV_O_READ, &f) == 0) {
    if (sim_disk_size(disk, f, &size) < 0)
      size = 0;
    sim_disk_close(disk, f);
  }
  return size;
}

/* The log gathers appends in memory (log_write_out): an acks=1 answer may
 * only leave once its batch is in the file (page cache), so a kill of the
 * process right after the answer loses nothing. Pipelined produces are
 * taken in one read pass and answered together: when the first answer
 * arrives, every batch answered in that pass is in the file. */
static void test_acks1_answer_after_write_out(void) {
  bsim t;
  bsim_open(&t, test_seed() + 13);
  TEST_EQ_INT(bsim_create_topic(&t, "wo", 1, NULL, NULL), KERR_NONE, t.seed);
  const char *seg = "/data/wo-0/00000000000000000000.log";
  buf_t b[6];
  int32_t corrs[6];
  uint64_t total = 0;
  for (int i = 0; i < 6; i++) {
    buf_init(&b[i]);
    make_batch(&b[i], i % 2 ? "odd" : "even", 1 + i, -1, -1, -1,
               1700000000000 + i);
    total += b[i].len;
    corrs[i] = bsim_send(&t, 0, PROTO_API_PRODUCE, 7,
                         produce_req(&t, "wo", 0, &b[i], 1));
  }
  bsim_client *c = bsim_client_at(&t, 0);
  CU_ASSERT_TRUE_FATAL(bsim_run_until(&t, bsim_has_frame, c, BSIM_WAIT_NS));
  /* As many answers as arrived: their batches are all in the file. */
  uint64_t answered = 0;
  guint frames = g_queue_get_length(&c->frames);
  for (guint i = 0; i < frames && i < 6; i++)
    answered += b[i].len;
  CU_ASSERT(frames >= 1);
  CU_ASSERT(volatile_size(&t, seg) >= answered);
  for (int i = 0; i < 6; i++) {
    proto_produce_resp *resp =
        bsim_recv(&t, 0, corrs[i], PROTO_API_PRODUCE, 7);
    TEST_EQ_INT(resp->responses.items[0].partition_responses.items[0]
                    .error_code,
                KERR_NONE, t.seed);
    uint64_t upto = 0;
    for (int j = 0; j <= i; j++)
      upto += b[j].len;
    CU_ASSERT(volatile_size(&t, seg) >= upto);
  }
  TEST_EQ_INT(volatile_size(&t, seg), total, t.seed);
  /* Killed (page cache kept) right after the answers: nothing lost. */
  sim_node_stop(t.sim, t.bnode);
  restart_node(&t);
  TEST_EQ_INT(list_offset(&t, "wo", 0, -1), 21, t.seed);
  for (int i = 0; i < 6; i++)
    buf_free(&b[i]);
  bsim_close(&t);
}

/* Regression (broker-crash seeds 442, 582, 665, 885): a crash took a
 * partition's directory while its topic survived in the metadata. The
 * next start creates the directory again when it opens the log; that name
 * must become durable too, or everything flushed into it afterwards is
 * lost by the next crash. */
static void test_recreated_partition_dir_durable(void) {
  bsim t;
  bsim_open(&t, test_seed() + 582);
  TEST_EQ_INT(bsim_create_topic(&t, "lost", 1, "flush.messages", "1"),
              KERR_NONE, t.seed);
  /* Before the restart: a new producer id block would sync /data. */
  int64_t pid = init_pid(&t);
  sim_run_until(t.sim, sim_now_ns(t.sim) + 200 * MS);
  sim_node_stop(t.sim, t.bnode);
  /* What such a crash leaves: no /data/lost-0, durably. */
  sim_disk_t *disk = sim_node_disk(t.bnode);
  char **names = NULL;
  TEST_EQ_INT(sim_disk_list_dir(disk, "/data/lost-0", &names), 0, t.seed);
  for (char **n = names; n && *n; n++) {
    char *path = g_strdup_printf("/data/lost-0/%s", *n);
    TEST_EQ_INT(sim_disk_unlink(disk, path), 0, t.seed);
    g_free(path);
  }
  env_names_free(names);
  TEST_EQ_INT(sim_disk_rmdir(disk, "/data/lost-0"), 0, t.seed);
  int64_t ticket = sim_disk_dir_fsync_begin(disk, "/data");
  CU_ASSERT_FATAL(ticket >= 0);
  TEST_EQ_INT(sim_disk_fsync_end(disk, ticket), 0, t.seed);
  restart_node(&t);

  buf_t b = BUF_INIT;
  make_batch(&b, "x", 4, pid, 0, 0, 1700000000000);
  produce_res r = produce(&t, "lost", 0, &b);
  TEST_EQ_INT(r.error, KERR_NONE, t.seed);
  TEST_EQ_INT(r.base_offset, 0, t.seed);
  /* Acknowledged, so durable under its path. */
  uint64_t size = 0;
  TEST_EQ_INT(sim_disk_durable_size(
                  disk, "/data/lost-0/00000000000000000000.log", &size),
              0, t.seed);
  TEST_EQ_INT(size, b.len, t.seed);
  bsim_restart(&t, false);
  TEST_EQ_INT(list_offset(&t, "lost", 0, -1), 4, t.seed);
  buf_free(&b);
  bsim_close(&t);
}

static void test_bad_frames(void) {
  bsim t;
  bsim_open(&t, test_seed() + 6);
  /* Garbage: a size prefix far beyond socket.request.max.bytes. */
  bsim_send_raw(&t, 0, "GET / HTTP/1.1\r\n\r\n", 18);
  CU_ASSERT_TRUE(
      bsim_run_until(&t, bsim_is_closed, bsim_client_at(&t, 0), BSIM_WAIT_NS));
  CU_ASSERT_TRUE(g_queue_is_empty(&bsim_client_at(&t, 0)->frames));
  /* The other connection is untouched. */
  proto_api_versions_req *av = PROTO_NEW(t.arena, proto_api_versions_req);
  int32_t corr = bsim_send(&t, 1, PROTO_API_API_VERSIONS, 2, av);
  proto_api_versions_resp *ar =
      bsim_recv(&t, 1, corr, PROTO_API_API_VERSIONS, 2);
  TEST_EQ_INT(ar->error_code, 0, t.seed);
  CU_ASSERT(ar->api_keys.count >= 10);
  /* An unknown API key closes that connection without an answer. */
  bsim_client_connect(bsim_client_at(&t, 0));
  CU_ASSERT_TRUE(bsim_run_until(&t, bsim_is_connected, bsim_client_at(&t, 0),
                                BSIM_WAIT_NS));
  uint8_t unknown[] = {0, 0, 0, 10, 0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0, 0};
  bsim_send_raw(&t, 0, unknown, sizeof unknown);
  CU_ASSERT_TRUE(
      bsim_run_until(&t, bsim_is_closed, bsim_client_at(&t, 0), BSIM_WAIT_NS));
  CU_ASSERT_TRUE(g_queue_is_empty(&bsim_client_at(&t, 0)->frames));
  /* A too new ApiVersions gets Kafka's v0-format fallback. */
  bsim_client_connect(bsim_client_at(&t, 0));
  CU_ASSERT_TRUE(bsim_run_until(&t, bsim_is_connected, bsim_client_at(&t, 0),
                                BSIM_WAIT_NS));
  /* Header v2 (ApiVersions is flexible from v3): client id, no tags. */
  uint8_t newer[] = {0, 0, 0, 11, 0, 18, 0, 42, 0, 0, 0, 9, 0xff, 0xff, 0};
  bsim_send_raw(&t, 0, newer, sizeof newer);
  proto_api_versions_resp *fb = bsim_recv(&t, 0, 9, PROTO_API_API_VERSIONS, 0);
  TEST_EQ_INT(fb->error_code, KERR_UNSUPPORTED_VERSION, t.seed);
  TEST_EQ_INT(fb->api_keys.count, 1, t.seed);
  /* Random frames with a valid size prefix never bring the broker down. */
  test_rng r;
  test_rng_init(&r, t.seed);
  for (int i = 0; i < 200; i++) {
    bsim_client *c = bsim_client_at(&t, 0);
    if (c->closed) {
      bsim_client_connect(c);
      bsim_run_until(&t, bsim_is_connected, c, BSIM_WAIT_NS);
    }
    uint8_t f[64];
    size_t n = 8 + test_rng_below(&r, 56);
    for (size_t k = 0; k < n; k++)
      f[k] = (uint8_t)test_rng_next(&r);
    f[0] = f[1] = f[2] = 0;
    f[3] = (uint8_t)(n - 4);
    f[4] = 0;
    f[5] = (uint8_t)test_rng_below(&r, 64);
    bsim_send_raw(&t, 0, f, n);
    sim_run_until(t.sim, sim_now_ns(t.sim) + 2 * MS);
    g_queue_clear_full(&c->frames, (GDestroyNotify)g_bytes_unref);
  }
  CU_ASSERT_TRUE(sim_node_is_up(t.bnode));
  corr = bsim_send(&t, 1, PROTO_API_API_VERSIONS, 2, av);
  ar = bsim_recv(&t, 1, corr, PROTO_API_API_VERSIONS, 2);
  TEST_EQ_INT(ar->error_code, 0, t.seed);
  bsim_close(&t);
}

/* Produce requests of up to ~1 MiB, pipelined, sent as one byte stream cut
 * at random points (size prefixes included) with time passing between some
 * pieces: the broker reads each frame into place (base/rxbuf.h) and must
 * answer every request, in order, and store every record. Then size
 * prefixes far beyond socket.request.max.bytes (2 GiB - 1, negative) close
 * only their connection. */
static void test_frames_cut_at_random(void) {
  enum { FRAMES = 10 };
  bsim t;
  bsim_open(&t, test_seed() + 20);
  TEST_EQ_INT(bsim_create_topic(&t, "cut", 1, NULL, NULL), KERR_NONE, t.seed);
  test_rng r;
  test_rng_init(&r, t.seed);
  bsim_client *c = bsim_client_at(&t, 0);
  buf_t stream = BUF_INIT;
  int32_t corrs[FRAMES];
  int64_t base[FRAMES];
  int64_t records = 0;
  for (int i = 0; i < FRAMES; i++) {
    int n = 1 + (int)test_rng_below(&r, i % 2 ? 12000 : 40);
    buf_t batch = BUF_INIT;
    char prefix[16];
    snprintf(prefix, sizeof prefix, "c%d", i);
    make_batch(&batch, prefix, n, -1, -1, -1, 1700000000000 + i);
    corrs[i] = c->next_corr++;
    CU_ASSERT_EQUAL_FATAL(
        proto_request_encode(&stream, PROTO_API_PRODUCE, 7, corrs[i], "unit",
                             produce_req(&t, "cut", 0, &batch, -1)),
        0);
    base[i] = records;
    records += n;
    buf_free(&batch);
  }
  for (size_t pos = 0; pos < stream.len;) {
    size_t left = stream.len - pos;
    size_t piece = test_rng_below(&r, 4) == 0
                       ? 1 + test_rng_below(&r, 5)
                       : 1 + test_rng_below(&r, left < 300000 ? left : 300000);
    if (piece > left)
      piece = left;
    bsim_send_raw(&t, 0, stream.data + pos, piece);
    pos += piece;
    if (test_rng_below(&r, 3) == 0)
      sim_run_until(t.sim, sim_now_ns(t.sim) + test_rng_below(&r, 3) * MS);
  }
  buf_free(&stream);
  for (int i = 0; i < FRAMES; i++) {
    proto_produce_resp *resp = bsim_recv(&t, 0, corrs[i], PROTO_API_PRODUCE, 7);
    CU_ASSERT_EQUAL_FATAL(resp->responses.count, 1);
    const proto_produce_resp_partition_produce_response *p =
        &resp->responses.items[0].partition_responses.items[0];
    TEST_EQ_INT(p->error_code, KERR_NONE, t.seed);
    TEST_EQ_INT(p->base_offset, base[i], t.seed);
  }
  TEST_EQ_INT(list_offset(&t, "cut", 0, -1), records, t.seed);
  /* Hostile prefixes: rejected as soon as the 4 bytes are in. */
  static const uint8_t huge[][8] = {{0x7f, 0xff, 0xff, 0xff, 0, 1, 0, 0},
                                    {0x80, 0, 0, 0, 0, 1, 0, 0},
                                    {0x06, 0x40, 0x00, 0x01, 0, 1, 0, 0}};
  for (size_t k = 0; k < G_N_ELEMENTS(huge); k++) {
    bsim_client_connect(c);
    CU_ASSERT_TRUE(bsim_run_until(&t, bsim_is_connected, c, BSIM_WAIT_NS));
    bsim_send_raw(&t, 0, huge[k], 2);
    sim_run_until(t.sim, sim_now_ns(t.sim) + MS);
    bsim_send_raw(&t, 0, huge[k] + 2, 6);
    CU_ASSERT_TRUE(bsim_run_until(&t, bsim_is_closed, c, BSIM_WAIT_NS));
    CU_ASSERT_TRUE(g_queue_is_empty(&c->frames));
  }
  CU_ASSERT_TRUE(sim_node_is_up(t.bnode));
  bsim_close(&t);
}

/* The Kafka client (broker/client) consuming ~1 MiB fetch responses that
 * the simulator delivers in reads of at most 64 KiB, cut at random points:
 * the client reads each response into memory sized for it (base/rxbuf.h)
 * and must see every record once, in order, with its value. */
typedef struct big_fetch {
  kclient_t *kc;
  kclient_consumer_t *cons;
  int64_t total;
  int64_t got;
  int64_t bad;
  int64_t next_offset;
  int *batch_sizes; /* records per produced batch, in order */
} big_fetch;

static void big_fetch_record(void *arg, const kclient_record *r) {
  big_fetch *f = arg;
  /* Offset o is record j of batch i: value "f<i>-<j>". */
  int64_t o = r->offset, i = 0;
  while (o >= f->batch_sizes[i])
    o -= f->batch_sizes[i++];
  char want[32];
  int n = snprintf(want, sizeof want, "f%d-%d", (int)i, (int)o);
  if (r->offset != f->next_offset || r->value_len != n ||
      memcmp(r->value, want, (size_t)n) != 0)
    f->bad++;
  f->next_offset = r->offset + 1;
  f->got++;
}

static void *big_fetch_start(env_t *env, void *config) {
  big_fetch *f = config;
  kclient_config kcfg;
  kclient_config_default(&kcfg);
  kcfg.bootstrap_servers = "broker:9092";
  char msg[KCLIENT_ERRMSG_BYTES];
  if (kclient_new(env, &kcfg, &f->kc, msg) != 0)
    return NULL;
  kclient_consumer_config cc;
  kclient_consumer_config_default(&cc);
  cc.on_record = big_fetch_record;
  cc.arg = f;
  f->cons = kclient_consumer_new(f->kc, &cc);
  if (kclient_consumer_assign(f->cons, "big", 0, KCLIENT_OFFSET_EARLIEST) != 0)
    f->bad++;
  return f;
}

static void big_fetch_stop(void *node) {
  big_fetch *f = node;
  if (!f)
    return;
  kclient_consumer_free(f->cons);
  kclient_free(f->kc);
  f->cons = NULL;
  f->kc = NULL;
}

static const env_node_ops big_fetch_ops = {"consumer", big_fetch_start,
                                           big_fetch_stop};

static bool big_fetch_done(void *arg) {
  big_fetch *f = arg;
  return f->got >= f->total;
}

static void test_client_large_fetches_cut(void) {
  enum { BATCHES = 10 };
  bsim t;
  bsim_open(&t, test_seed() + 21);
  TEST_EQ_INT(bsim_create_topic(&t, "big", 1, NULL, NULL), KERR_NONE, t.seed);
  test_rng r;
  test_rng_init(&r, t.seed);
  int sizes[BATCHES];
  big_fetch f = {.batch_sizes = sizes};
  for (int i = 0; i < BATCHES; i++) {
    sizes[i] = 3000 + (int)test_rng_below(&r, 12000);
    buf_t batch = BUF_INIT;
    char prefix[16];
    snprintf(prefix, sizeof prefix, "f%d", i);
    make_batch(&batch, prefix, sizes[i], -1, -1, -1, 1700000000000 + i);
    produce_res res = produce(&t, "big", 0, &batch);
    TEST_EQ_INT(res.error, KERR_NONE, t.seed);
    TEST_EQ_INT(res.base_offset, f.total, t.seed);
    f.total += sizes[i];
    buf_free(&batch);
  }
  sim_node_add(t.sim, "consumer", &big_fetch_ops, &f);
  CU_ASSERT_TRUE(bsim_run_until(&t, big_fetch_done, &f, 60 * SEC));
  TEST_EQ_INT(f.got, f.total, t.seed);
  TEST_EQ_INT(f.bad, 0, t.seed);
  bsim_close(&t);
}

static void test_pipelining_acks0(void) {
  bsim t;
  bsim_open(&t, test_seed() + 7);
  TEST_EQ_INT(bsim_create_topic(&t, "pipe", 1, NULL, NULL), KERR_NONE, t.seed);
  buf_t b = BUF_INIT;
  make_batch(&b, "z", 1, -1, -1, -1, 1700000000000);
  int32_t corrs[10];
  proto_api_versions_req *av = PROTO_NEW(t.arena, proto_api_versions_req);
  for (int i = 0; i < 10; i++) {
    if (i % 3 == 1)
      corrs[i] = bsim_send(&t, 0, PROTO_API_PRODUCE, 7,
                           produce_req(&t, "pipe", 0, &b, 0));
    else
      corrs[i] = bsim_send(&t, 0, PROTO_API_API_VERSIONS, 2, av);
  }
  for (int i = 0; i < 10; i++) {
    if (i % 3 == 1)
      continue; /* acks=0: no answer */
    bsim_recv(&t, 0, corrs[i], PROTO_API_API_VERSIONS, 2);
  }
  TEST_EQ_INT(list_offset(&t, "pipe", 0, -1), 3, t.seed);
  /* An acks=0 produce that fails closes the connection. */
  bsim_send(&t, 0, PROTO_API_PRODUCE, 7, produce_req(&t, "missing", 0, &b, 0));
  CU_ASSERT_TRUE(
      bsim_run_until(&t, bsim_is_closed, bsim_client_at(&t, 0), BSIM_WAIT_NS));
  buf_free(&b);
  bsim_close(&t);
}

static void test_back_pressure(void) {
  bsim t;
  bsim_open(&t, test_seed() + 8);
  TEST_EQ_INT(bsim_create_topic(&t, "big", 1, NULL, NULL), KERR_NONE, t.seed);
  buf_t b = BUF_INIT;
  char value[1000];
  memset(value, 'v', sizeof value);
  batch_builder_opts o;
  memset(&o, 0, sizeof o);
  o.producer_id = -1;
  o.producer_epoch = -1;
  o.base_sequence = -1;
  o.leader_epoch = -1;
  o.base_timestamp = 1700000000000;
  batch_builder *bb = batch_builder_new(&o);
  for (int i = 0; i < 900; i++)
    batch_builder_add(bb, o.base_timestamp, "k", 1, value, sizeof value, NULL,
                      0);
  CU_ASSERT_EQUAL(batch_builder_finish(bb, -1, &b), 0);
  for (int i = 0; i < 4; i++)
    TEST_EQ_INT(produce(&t, "big", 0, &b).error, KERR_NONE, t.seed);
  buf_free(&b);
  /* Client 1 stops reading and pipelines 200 fetches of ~3.6 MB each. */
  bsim_client *slow = bsim_client_at(&t, 1);
  env_conn_pause_reading(slow->conn);
  env_t *benv = sim_node_env(t.bnode);
  int64_t before = env_metric_get(benv, "broker.requests");
  for (int i = 0; i < 200; i++)
    bsim_send(&t, 1, PROTO_API_FETCH, 4,
              fetch_req(&t, "big", 0, 0, 0, 16 << 20));
  sim_run_until(t.sim, sim_now_ns(t.sim) + 2 * SEC);
  int64_t handled = env_metric_get(benv, "broker.requests") - before;
  /* Only a few responses fit under the queue bound: the rest wait unread. */
  CU_ASSERT(handled >= 1 && handled <= 4);
  /* Others are served meanwhile. */
  TEST_EQ_INT(list_offset(&t, "big", 0, -1), 3600, t.seed);
  /* Once the client reads again, every response arrives, in order. */
  env_conn_resume_reading(slow->conn);
  int got = 0;
  while (got < 200) {
    if (!bsim_run_until(&t, bsim_has_frame, slow, BSIM_WAIT_NS))
      break;
    GBytes *f = g_queue_pop_head(&slow->frames);
    gsize n = 0;
    const uint8_t *p = g_bytes_get_data(f, &n);
    int32_t corr = (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                             (uint32_t)p[2] << 8 | p[3]);
    TEST_EQ_INT(corr, got + 1, t.seed);
    g_bytes_unref(f);
    got++;
  }
  TEST_EQ_INT(got, 200, t.seed);
  bsim_close(&t);
}

/* A fetch of every partition of topic (partition i from offsets[i]). */
static proto_fetch_req *fetch_req_all(bsim *t, const char *topic, int32_t n,
                                      const int64_t *offsets,
                                      int32_t max_wait_ms,
                                      int32_t part_max_bytes) {
  proto_fetch_req *r = fetch_req(t, topic, 0, offsets[0], max_wait_ms,
                                 part_max_bytes);
  proto_fetch_req_fetch_partition *fp =
      PROTO_NEW_ARRAY(t->arena, proto_fetch_req_fetch_partition, n);
  for (int32_t i = 0; i < n; i++) {
    fp[i].partition = i;
    fp[i].fetch_offset = offsets[i];
    fp[i].partition_max_bytes = part_max_bytes;
    fp[i].current_leader_epoch = -1;
  }
  r->topics.items[0].partitions.items = fp;
  r->topics.items[0].partitions.count = n;
  r->max_bytes = 16 << 20;
  return r;
}

/* The frame just received (t->last) is byte for byte what the copying
 * encoder makes of the decoded body. */
static void expect_same_as_copying_encoder(bsim *t, int32_t corr, int16_t ver,
                                           const void *body) {
  buf_t re = BUF_INIT;
  TEST_EQ_INT(proto_response_encode(&re, PROTO_API_FETCH, ver, corr, body), 0,
              t->seed);
  gsize n = 0;
  const uint8_t *p = g_bytes_get_data(t->last, &n);
  TEST_EQ_INT(re.len, (size_t)n + 4, t->seed);
  CU_ASSERT(re.len == n + 4 && memcmp(re.data + 4, p, n) == 0);
  buf_free(&re);
}

/* Records of n values of `size` bytes ("<tag>" then filler). */
static void make_big_batch(buf_t *out, char tag, int n, size_t size) {
  batch_builder_opts o;
  memset(&o, 0, sizeof o);
  o.producer_id = -1;
  o.producer_epoch = -1;
  o.base_sequence = -1;
  o.leader_epoch = -1;
  o.base_timestamp = 1700000000000;
  batch_builder *bb = batch_builder_new(&o);
  char *value = g_malloc(size);
  for (int i = 0; i < n; i++) {
    memset(value, 'a' + (i % 26), size);
    value[0] = tag;
    batch_builder_add(bb, o.base_timestamp, "k", 1, value, (int32_t)size,
                      NULL, 0);
  }
  g_free(value);
  CU_ASSERT_EQUAL(batch_builder_finish(bb, -1, out), 0);
}

/* Fetch responses are sent as header bytes plus the records where the log
 * has them (env_conn_sendv), small ones gathered with other answers: a
 * pipelined mix of small and large fetches, produces and ApiVersions is
 * answered in order, every fetch frame equal to what the copying encoder
 * makes of it, including after a produce changed the log in the same pass
 * and for a parked fetch answered from a timer. */
static void test_fetch_pieces_pipelined(void) {
  bsim t;
  bsim_open(&t, test_seed() + 21);
  TEST_EQ_INT(bsim_create_topic(&t, "pc", 3, NULL, NULL), KERR_NONE, t.seed);
  buf_t big = BUF_INIT, small = BUF_INIT;
  make_big_batch(&big, 'B', 60, 1000);
  make_batch(&small, "s", 3, -1, -1, -1, 1700000000000);
  for (int i = 0; i < 4; i++) {
    TEST_EQ_INT(produce(&t, "pc", 0, &big).error, KERR_NONE, t.seed);
    TEST_EQ_INT(produce(&t, "pc", 1, &small).error, KERR_NONE, t.seed);
  }
  proto_api_versions_req *av = PROTO_NEW(t.arena, proto_api_versions_req);
  const int64_t from0[3] = {0, 0, 0}, from_mid[3] = {60, 3, 0};
  /* One pass: every request arrives before the broker answers any. */
  struct {
    int16_t key, ver;
    int32_t corr;
  } reqs[8];
  int n = 0;
#define PIPE(k, v, body)                                                       \
  do {                                                                         \
    reqs[n].key = (k);                                                         \
    reqs[n].ver = (v);                                                         \
    reqs[n].corr = bsim_send(&t, 0, (k), (v), (body));                         \
    n++;                                                                       \
  } while (0)
  PIPE(PROTO_API_API_VERSIONS, 2, av);
  PIPE(PROTO_API_FETCH, 11, fetch_req(&t, "pc", 1, 0, 0, 1 << 20));
  PIPE(PROTO_API_FETCH, 4, fetch_req_all(&t, "pc", 3, from0, 0, 1 << 20));
  PIPE(PROTO_API_FETCH, 11, fetch_req(&t, "pc", 1, 3, 0, 1 << 20));
  PIPE(PROTO_API_PRODUCE, 7, produce_req(&t, "pc", 0, &big, 1));
  PIPE(PROTO_API_FETCH, 12, fetch_req_all(&t, "pc", 3, from_mid, 0, 1 << 20));
  PIPE(PROTO_API_FETCH, 11, fetch_req_all(&t, "pc", 3, from0, 0, 200));
  PIPE(PROTO_API_API_VERSIONS, 2, av);
#undef PIPE
  /* Records expected per partition (-1: at least one), per request. */
  const int64_t expect_records[8][3] = {
      {0},         {12, 0, 0},   {240, 12, 0}, {9, 0, 0}, {0},
      {240, 9, 0}, {60, -1, 0}, {0}};
  for (int i = 0; i < n; i++) {
    void *body = bsim_recv(&t, 0, reqs[i].corr, reqs[i].key, reqs[i].ver);
    if (reqs[i].key != PROTO_API_FETCH)
      continue;
    expect_same_as_copying_encoder(&t, reqs[i].corr, reqs[i].ver, body);
    proto_fetch_resp *resp = body;
    for (int32_t k = 0; k < resp->responses.items[0].partitions.count; k++) {
      const proto_fetch_resp_partition_data *pd =
          &resp->responses.items[0].partitions.items[k];
      TEST_EQ_INT(pd->error_code, KERR_NONE, t.seed);
      GPtrArray *vals = g_ptr_array_new_with_free_func(g_free);
      collect_values(&pd->records, vals, NULL);
      int64_t want = expect_records[i][k];
      if (want < 0) {
        CU_ASSERT(vals->len > 0);
      } else {
        TEST_EQ_INT(vals->len, want, t.seed);
      }
      for (guint v = 0; v < vals->len; v++) {
        const char *s = g_ptr_array_index(vals, v);
        CU_ASSERT(pd->partition_index == 0 ? s[0] == 'B' && strlen(s) == 1000
                                           : s[0] == 's');
      }
      free_vals(vals);
    }
  }

  /* A parked fetch, answered from the wake-up timer after another
   * client's produce: it reads the log again then. */
  const int64_t at_end[3] = {300, 12, 0};
  int32_t corr = bsim_send(&t, 1, PROTO_API_FETCH, 11,
                           fetch_req_all(&t, "pc", 3, at_end, 5000, 1 << 20));
  sim_run_until(t.sim, sim_now_ns(t.sim) + 100 * MS);
  CU_ASSERT(!bsim_has_frame(bsim_client_at(&t, 1)));
  buf_clear(&big);
  make_big_batch(&big, 'C', 70, 1000);
  TEST_EQ_INT(produce(&t, "pc", 2, &big).error, KERR_NONE, t.seed);
  proto_fetch_resp *resp = bsim_recv(&t, 1, corr, PROTO_API_FETCH, 11);
  expect_same_as_copying_encoder(&t, corr, 11, resp);
  const proto_fetch_resp_partition_data *p2 =
      &resp->responses.items[0].partitions.items[2];
  GPtrArray *vals = g_ptr_array_new_with_free_func(g_free);
  collect_values(&p2->records, vals, NULL);
  TEST_EQ_INT(vals->len, 70, t.seed);
  free_vals(vals);
  buf_free(&big);
  buf_free(&small);
  bsim_close(&t);
}

static void test_delete_recreate_alter(void) {
  bsim t;
  bsim_open(&t, test_seed() + 9);
  TEST_EQ_INT(bsim_create_topic(&t, "gone", 2, NULL, NULL), KERR_NONE, t.seed);
  buf_t b = BUF_INIT;
  make_batch(&b, "old", 2, -1, -1, -1, 1700000000000);
  TEST_EQ_INT(produce(&t, "gone", 0, &b).error, KERR_NONE, t.seed);
  proto_delete_topics_req *dr = PROTO_NEW(t.arena, proto_delete_topics_req);
  proto_str *names = proto_arena_alloc(t.arena, sizeof *names);
  names[0] = bsim_str("gone");
  dr->topic_names.items = names;
  dr->topic_names.count = 1;
  dr->timeout_ms = 1000;
  proto_delete_topics_resp *del =
      bsim_call(&t, 0, PROTO_API_DELETE_TOPICS, 3, dr);
  TEST_EQ_INT(del->responses.items[0].error_code, KERR_NONE, t.seed);
  TEST_EQ_INT(produce(&t, "gone", 0, &b).error,
              KERR_UNKNOWN_TOPIC_OR_PARTITION, t.seed);
  sim_run_until(t.sim, sim_now_ns(t.sim) + 100 * MS);
  TEST_EQ_INT(bsim_create_topic(&t, "gone", 1, NULL, NULL), KERR_NONE, t.seed);
  TEST_EQ_INT(list_offset(&t, "gone", 0, -1), 0, t.seed);
  /* IncrementalAlterConfigs: segment.bytes takes effect after the reopen. */
  proto_incremental_alter_configs_req *ar =
      PROTO_NEW(t.arena, proto_incremental_alter_configs_req);
  proto_incremental_alter_configs_req_alter_configs_resource *res =
      PROTO_NEW_ARRAY(t.arena,
                      proto_incremental_alter_configs_req_alter_configs_resource,
                      1);
  proto_incremental_alter_configs_req_alterable_config *cfg = PROTO_NEW_ARRAY(
      t.arena, proto_incremental_alter_configs_req_alterable_config, 1);
  cfg->name = bsim_str("segment.bytes");
  cfg->config_operation = 0;
  cfg->value = bsim_str("1000");
  res->resource_type = 2;
  res->resource_name = bsim_str("gone");
  res->configs.items = cfg;
  res->configs.count = 1;
  ar->resources.items = res;
  ar->resources.count = 1;
  proto_incremental_alter_configs_resp *alt =
      bsim_call(&t, 0, PROTO_API_INCREMENTAL_ALTER_CONFIGS, 1, ar);
  TEST_EQ_INT(alt->responses.items[0].error_code, KERR_NONE, t.seed);
  sim_run_until(t.sim, sim_now_ns(t.sim) + 100 * MS);
  buf_t big = BUF_INIT;
  make_batch(&big, "padding-padding-padding-padding-padding", 12, -1, -1, -1,
             1700000000000);
  for (int i = 0; i < 5; i++)
    TEST_EQ_INT(produce(&t, "gone", 0, &big).error, KERR_NONE, t.seed);
  /* DeleteRecords can only drop whole segments' worth of files, but the
   * start offset moves exactly. */
  proto_delete_records_req *drr = PROTO_NEW(t.arena, proto_delete_records_req);
  proto_delete_records_req_delete_records_topic *dt = PROTO_NEW_ARRAY(
      t.arena, proto_delete_records_req_delete_records_topic, 1);
  proto_delete_records_req_delete_records_partition *dp = PROTO_NEW_ARRAY(
      t.arena, proto_delete_records_req_delete_records_partition, 1);
  dp->partition_index = 0;
  dp->offset = 30;
  dt->name = bsim_str("gone");
  dt->partitions.items = dp;
  dt->partitions.count = 1;
  drr->topics.items = dt;
  drr->topics.count = 1;
  proto_delete_records_resp *drs =
      bsim_call(&t, 0, PROTO_API_DELETE_RECORDS, 1, drr);
  TEST_EQ_INT(drs->topics.items[0].partitions.items[0].error_code, KERR_NONE,
              t.seed);
  TEST_EQ_INT(drs->topics.items[0].partitions.items[0].low_watermark, 30,
              t.seed);
  TEST_EQ_INT(list_offset(&t, "gone", 0, -2), 30, t.seed);
  TEST_EQ_INT(broker_partition_start_offset(bsim_broker(&t), "gone", 0), 30,
              t.seed);
  /* Both offsets survive a restart (the start offset is checkpointed). */
  int64_t end = list_offset(&t, "gone", 0, -1);
  TEST_EQ_INT(end, 60, t.seed);
  bsim_restart(&t, true);
  TEST_EQ_INT(list_offset(&t, "gone", 0, -2), 30, t.seed);
  TEST_EQ_INT(list_offset(&t, "gone", 0, -1), end, t.seed);
  buf_free(&big);
  buf_free(&b);
  bsim_close(&t);
}

/* The newest versions served: flexible encodings, topic ids. */
static void test_flexible_versions(void) {
  bsim t;
  bsim_open(&t, test_seed() + 11);
  TEST_EQ_INT(bsim_create_topic(&t, "flex", 1, NULL, NULL), KERR_NONE, t.seed);
  buf_t b = BUF_INIT;
  make_batch(&b, "f", 3, -1, -1, -1, 1700000000000);
  proto_produce_resp *pr =
      bsim_call(&t, 0, PROTO_API_PRODUCE, 9, produce_req(&t, "flex", 0, &b, 1));
  TEST_EQ_INT(pr->responses.items[0].partition_responses.items[0].error_code,
              KERR_NONE, t.seed);
  buf_free(&b);
  proto_fetch_resp *fr = bsim_call(&t, 0, PROTO_API_FETCH, 12,
                                   fetch_req(&t, "flex", 0, 0, 0, 1 << 20));
  GPtrArray *vals = g_ptr_array_new_with_free_func(g_free);
  collect_values(&fetch_part(fr)->records, vals, NULL);
  TEST_EQ_INT(vals->len, 3, t.seed);
  free_vals(vals);
  proto_metadata_req *mr = PROTO_NEW(t.arena, proto_metadata_req);
  mr->topics.count = -1;
  proto_metadata_resp *md = bsim_call(&t, 0, PROTO_API_METADATA, 12, mr);
  TEST_EQ_INT(md->topics.count, 1, t.seed);
  proto_uuid id = md->topics.items[0].topic_id, zero;
  memset(&zero, 0, sizeof zero);
  CU_ASSERT(memcmp(&id, &zero, sizeof id) != 0);
  /* By id: Metadata v12 and DeleteTopics v6. */
  proto_metadata_req_topic *mt =
      PROTO_NEW_ARRAY(t.arena, proto_metadata_req_topic, 1);
  mt->name = PROTO_STR_NULL;
  mt->topic_id = id;
  mr->topics.items = mt;
  mr->topics.count = 1;
  md = bsim_call(&t, 0, PROTO_API_METADATA, 12, mr);
  CU_ASSERT_TRUE(proto_str_eq(md->topics.items[0].name, "flex"));
  proto_delete_topics_req *dr = PROTO_NEW(t.arena, proto_delete_topics_req);
  proto_delete_topics_req_delete_topic_state *st = PROTO_NEW_ARRAY(
      t.arena, proto_delete_topics_req_delete_topic_state, 1);
  st->name = PROTO_STR_NULL;
  st->topic_id = id;
  dr->topics.items = st;
  dr->topics.count = 1;
  proto_delete_topics_resp *del =
      bsim_call(&t, 0, PROTO_API_DELETE_TOPICS, 6, dr);
  TEST_EQ_INT(del->responses.items[0].error_code, KERR_NONE, t.seed);
  CU_ASSERT_TRUE(proto_str_eq(del->responses.items[0].name, "flex"));
  del = bsim_call(&t, 0, PROTO_API_DELETE_TOPICS, 6, dr);
  TEST_EQ_INT(del->responses.items[0].error_code, 100, t.seed);
  bsim_close(&t);
}

/* A crash that tears unflushed writes (garbage included): the broker comes
 * back with a consistent prefix of what it acknowledged. */
static void test_crash_torn(void) {
  for (uint64_t round = 0; round < 8; round++) {
    bsim t;
    bsim_open(&t, test_seed() * 31 + round);
    TEST_EQ_INT(bsim_create_topic(&t, "torn", 1, NULL, NULL), KERR_NONE,
                t.seed);
    int64_t pid = init_pid(&t);
    buf_t b = BUF_INIT;
    int n = 5 + (int)(round * 3);
    for (int i = 0; i < n; i++) {
      buf_clear(&b);
      make_batch(&b, "t", 2, pid, 0, 2 * i, 1700000000000 + i);
      TEST_EQ_INT(produce(&t, "torn", 0, &b).error, KERR_NONE, t.seed);
    }
    buf_free(&b);
    sim_node_crash(t.sim, t.bnode, SIM_DISK_CRASH_GARBAGE);
    sim_run_until(t.sim, sim_now_ns(t.sim) + 10 * MS);
    sim_node_restart(t.sim, t.bnode);
    sim_run_until(t.sim, sim_now_ns(t.sim) + 10 * MS);
    CU_ASSERT_TRUE_FATAL(sim_node_is_up(t.bnode));
    bsim_client *c = bsim_client_at(&t, 0);
    bsim_run_until(&t, bsim_is_closed, c, BSIM_WAIT_NS);
    g_queue_clear_full(&c->frames, (GDestroyNotify)g_bytes_unref);
    bsim_client_connect(c);
    CU_ASSERT_TRUE_FATAL(
        bsim_run_until(&t, bsim_is_connected, c, BSIM_WAIT_NS));
    int64_t end = list_offset(&t, "torn", 0, -1);
    CU_ASSERT(end >= 0 && end <= 2 * n && end % 2 == 0);
    if (end > 0) {
      GPtrArray *vals = g_ptr_array_new_with_free_func(g_free);
      int64_t next = 0;
      collect_values(&fetch(&t, "torn", 0, 0)->records, vals, &next);
      CU_ASSERT(next <= end);
      free_vals(vals);
    }
    bsim_close(&t);
  }
}

/* The same seed gives the same trace, byte for byte, broker included. */
static uint64_t traced_run(uint64_t seed) {
  bsim t;
  bsim_open(&t, seed);
  TEST_EQ_INT(bsim_create_topic(&t, "det", 3, "segment.bytes", "4096"),
              KERR_NONE, t.seed);
  int64_t pid = init_pid(&t);
  buf_t b = BUF_INIT;
  for (int i = 0; i < 30; i++) {
    buf_clear(&b);
    make_batch(&b, "det", 4, pid, 0, 4 * (i / 3), 1700000000000 + i);
    produce(&t, "det", i % 3, &b);
  }
  buf_free(&b);
  fetch(&t, "det", 1, 0);
  bsim_restart(&t, true);
  fetch(&t, "det", 2, 0);
  uint64_t h = sim_trace_hash(t.sim);
  bsim_close(&t);
  return h;
}

static void test_deterministic(void) {
  uint64_t seed = test_seed() + 12;
  uint64_t a = traced_run(seed), b = traced_run(seed);
  if (a != b)
    fprintf(stderr, "\n  trace hashes differ: %016" PRIx64 " %016" PRIx64
                    " (seed %" PRIu64 ")\n",
            a, b, seed);
  CU_ASSERT_EQUAL(a, b);
}

static int16_t delete_records(bsim *t, const char *topic, int64_t offset,
                              int64_t *low) {
  proto_delete_records_req *r = PROTO_NEW(t->arena, proto_delete_records_req);
  proto_delete_records_req_delete_records_topic *dt = PROTO_NEW_ARRAY(
      t->arena, proto_delete_records_req_delete_records_topic, 1);
  proto_delete_records_req_delete_records_partition *dp = PROTO_NEW_ARRAY(
      t->arena, proto_delete_records_req_delete_records_partition, 1);
  dp->partition_index = 0;
  dp->offset = offset;
  dt->name = bsim_str(topic);
  dt->partitions.items = dp;
  dt->partitions.count = 1;
  r->topics.items = dt;
  r->topics.count = 1;
  proto_delete_records_resp *resp =
      bsim_call(t, 0, PROTO_API_DELETE_RECORDS, 1, r);
  *low = resp->topics.items[0].partitions.items[0].low_watermark;
  return resp->topics.items[0].partitions.items[0].error_code;
}

/* DeleteRecords inside the active segment, then restarts: the records at
 * and after the new log start must all still be there. */
static void test_delete_records_restart(void) {
  bsim t;
  bsim_open(&t, test_seed() + 10);
  TEST_EQ_INT(bsim_create_topic(&t, "dr", 1, NULL, NULL), KERR_NONE, t.seed);
  buf_t b = BUF_INIT;
  for (int i = 0; i < 4; i++) {
    buf_clear(&b);
    make_batch(&b, "one", 1, -1, -1, -1, 1700000000000 + i);
    TEST_EQ_INT(produce(&t, "dr", 0, &b).base_offset, i, t.seed);
  }
  buf_free(&b);
  int64_t low = -1;
  TEST_EQ_INT(delete_records(&t, "dr", 2, &low), KERR_NONE, t.seed);
  TEST_EQ_INT(low, 2, t.seed);
  bsim_restart(&t, true);
  TEST_EQ_INT(list_offset(&t, "dr", 0, -2), 2, t.seed);
  TEST_EQ_INT(list_offset(&t, "dr", 0, -1), 4, t.seed);
  GPtrArray *vals = g_ptr_array_new_with_free_func(g_free);
  int64_t first = collect_values(&fetch(&t, "dr", 0, 2)->records, vals, NULL);
  TEST_EQ_INT(first, 2, t.seed);
  TEST_EQ_INT(vals->len, 2, t.seed);
  free_vals(vals);
  bsim_close(&t);
}

static void test_config_parse(void) {
  const char *text = "node.id=7\n"
                     "listeners=PLAINTEXT://127.0.0.1:19092\n"
                     "log.dirs=/a, /b\n"
                     "num.partitions=3\n"
                     "log.retention.hours=2\n"
                     "log.segment.bytes=1048576\n"
                     "auto.create.topics.enable=false\n"
                     "log.cleanup.policy=compact\n"
                     "fetch.verify.crc=false\n";
  config_t *c = config_new();
  char err[256] = "";
  CU_ASSERT_EQUAL_FATAL(config_parse(c, text, strlen(text), err, sizeof err),
                        0);
  broker_config cfg;
  CU_ASSERT_EQUAL_FATAL(broker_config_load(c, &cfg, err, sizeof err), 0);
  TEST_EQ_INT(cfg.node_id, 7, 0);
  CU_ASSERT_STRING_EQUAL(cfg.listen_host, "127.0.0.1");
  TEST_EQ_INT(cfg.listen_port, 19092, 0);
  CU_ASSERT_STRING_EQUAL(cfg.advertised_host, "127.0.0.1");
  TEST_EQ_INT(cfg.log_dir_count, 2, 0);
  CU_ASSERT_STRING_EQUAL(cfg.log_dirs[1], "/b");
  TEST_EQ_INT(cfg.num_partitions, 3, 0);
  TEST_EQ_INT(cfg.log_defaults.retention_ms, 7200000, 0);
  TEST_EQ_INT(cfg.log_defaults.segment_bytes, 1048576, 0);
  CU_ASSERT_FALSE(cfg.auto_create_topics);
  CU_ASSERT_TRUE(cfg.log_defaults.cleanup_compact);
  CU_ASSERT_FALSE(cfg.log_defaults.cleanup_delete);
  CU_ASSERT_FALSE(cfg.fetch_verify_crc);
  CU_ASSERT_FALSE(cfg.fetch_sendfile);
  broker_config_clear(&cfg);
  /* Sluice's own fetch switches default to checking CRCs, no sendfile. */
  config_t *minimal = config_new();
  CU_ASSERT_EQUAL_FATAL(broker_config_load(minimal, &cfg, err, sizeof err), 0);
  CU_ASSERT_TRUE(cfg.fetch_verify_crc);
  CU_ASSERT_FALSE(cfg.fetch_sendfile);
  broker_config_clear(&cfg);
  config_free(minimal);
  /* Bad values name the key. */
  const char *bad[] = {"num.partitions=0",
                       "listeners=SSL://h:1",
                       "listeners=PLAINTEXT://h:99999",
                       "log.segment.bytes=5",
                       "log.cleanup.policy=shred",
                       "node.id=-1",
                       "fetch.verify.crc=maybe"};
  for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
    CU_ASSERT_EQUAL(config_set_assignment(c, bad[i]), 0);
    err[0] = '\0';
    CU_ASSERT_EQUAL(broker_config_load(c, &cfg, err, sizeof err),
                    BROKER_ERR_CONFIG);
    char key[64];
    snprintf(key, sizeof key, "%.*s", (int)(strchr(bad[i], '=') - bad[i]),
             bad[i]);
    if (!strstr(err, key))
      fprintf(stderr, "\n  error for %s does not name the key: %s\n", bad[i],
              err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, key));
    CU_ASSERT_EQUAL(config_parse(c, text, strlen(text), err, sizeof err), 0);
  }
  config_free(c);
}

int suite_broker(void) {
  TEST_SUITE("broker", {"produce_fetch", test_produce_fetch},
             {"auto_create", test_auto_create},
             {"idempotent_dedup", test_idempotent_dedup},
             {"long_poll", test_long_poll},
             {"clean_restart", test_clean_restart},
             {"crash_restart", test_crash_restart},
             {"duplicate_waits_for_flush", test_duplicate_waits_for_flush},
             {"acks1_answer_after_write_out",
              test_acks1_answer_after_write_out},
             {"recreated_partition_dir_durable",
              test_recreated_partition_dir_durable},
             {"bad_frames", test_bad_frames},
             {"frames cut at random points", test_frames_cut_at_random},
             {"client reads large fetch responses cut at random",
              test_client_large_fetches_cut},
             {"pipelining_acks0", test_pipelining_acks0},
             {"back_pressure", test_back_pressure},
             {"fetch_pieces_pipelined", test_fetch_pieces_pipelined},
             {"delete_recreate_alter", test_delete_recreate_alter},
             {"delete_records_restart", test_delete_records_restart},
             {"flexible_versions", test_flexible_versions},
             {"crash_torn", test_crash_torn},
             {"deterministic", test_deterministic},
             {"config_parse", test_config_parse});
}
