/*
 * Committed offsets and groups through the broker node in the simulator:
 * a raw-frame client (the harness of test_broker.c) finds the coordinator,
 * joins a group, syncs, commits, and the offsets come back after a clean
 * restart and after a crash (the offsets topic is flushed like any other:
 * log.flush.interval.messages=1 here). Also: __consumer_offsets is created
 * on the first FindCoordinator (COORDINATOR_NOT_AVAILABLE until then), its
 * records carry Kafka's key/value schemas, and a parked JoinGroup whose
 * connection closes is cancelled without harm.
 */
#include <glib.h>
#include <inttypes.h>
#include <string.h>

#include "base/env.h"
#include "broker/kerr.h"
#include "broker/log/batch.h"
#include "broker/proto/proto.h"
#include "broker/server/broker.h"
#include "sim/sim.h"
#include "tests/unit/testutil.h"

#define MS UINT64_C(1000000)
#define SEC (1000 * MS)
#define BROKER_PORT 9092
#define WAIT_NS (10 * SEC)

/* ------------------------------------------------------ the client node */

typedef struct tc_config {
  const char *host;
  uint16_t port;
} tc_config;

typedef struct tc {
  env_t *env;
  const tc_config *cfg;
  env_conn_t *conn;
  bool connected;
  bool closed;
  int close_status;
  GByteArray *in;
  GQueue frames; /* GBytes*: response frames without the size prefix */
  int32_t next_corr;
} tc;

static void tc_on_connect(void *arg, env_conn_t *conn) {
  ((tc *)arg)->connected = true;
}

static void tc_on_data(void *arg, env_conn_t *conn, const uint8_t *data,
                       size_t len) {
  tc *c = arg;
  g_byte_array_append(c->in, data, (guint)len);
  while (c->in->len >= 4) {
    uint32_t n = (uint32_t)c->in->data[0] << 24 |
                 (uint32_t)c->in->data[1] << 16 |
                 (uint32_t)c->in->data[2] << 8 | c->in->data[3];
    if (c->in->len < 4 + n)
      break;
    g_queue_push_tail(&c->frames, g_bytes_new(c->in->data + 4, n));
    g_byte_array_remove_range(c->in, 0, 4 + n);
  }
}

static void tc_on_close(void *arg, env_conn_t *conn, int status) {
  tc *c = arg;
  c->closed = true;
  c->close_status = status;
  c->conn = NULL;
}

static const env_conn_cbs tc_cbs = {tc_on_connect, tc_on_data, NULL,
                                    tc_on_close};

static void tc_connect(tc *c) {
  g_byte_array_set_size(c->in, 0);
  c->connected = c->closed = false;
  c->conn = env_connect(c->env, c->cfg->host, c->cfg->port, &tc_cbs, c);
}

static void *tc_start(env_t *env, void *config) {
  tc *c = g_new0(tc, 1);
  c->env = env;
  c->cfg = config;
  c->in = g_byte_array_new();
  g_queue_init(&c->frames);
  c->next_corr = 1;
  tc_connect(c);
  return c;
}

static void tc_stop(void *node) {
  tc *c = node;
  env_conn_close(c->conn);
  g_byte_array_free(c->in, TRUE);
  g_queue_clear_full(&c->frames, (GDestroyNotify)g_bytes_unref);
  g_free(c);
}

static const env_node_ops tc_ops = {"test-client", tc_start, tc_stop};

/* ----------------------------------------------------------- the harness */

typedef struct bt {
  uint64_t seed;
  sim_t *sim;
  broker_config bcfg;
  tc_config ccfg;
  sim_node_t *bnode;
  sim_node_t *cnode[2];
  proto_arena *arena;
  GBytes *last; /* the frame the last decoded response points into */
} bt;

static tc *client(bt *t, int i) { return sim_node_ctx(t->cnode[i]); }
static broker_t *broker(bt *t) { return sim_node_ctx(t->bnode); }

static bool run_until(bt *t, bool (*cond)(void *), void *arg,
                      uint64_t timeout_ns) {
  uint64_t deadline = sim_now_ns(t->sim) + timeout_ns;
  while (!cond(arg)) {
    if (sim_now_ns(t->sim) >= deadline || !sim_step(t->sim))
      return cond(arg);
  }
  return true;
}

static bool is_connected(void *arg) { return ((tc *)arg)->connected; }
static bool has_frame(void *arg) {
  return !g_queue_is_empty(&((tc *)arg)->frames);
}
static bool is_closed(void *arg) { return ((tc *)arg)->closed; }

static void bt_open_with(bt *t, uint64_t seed, void (*tweak)(broker_config *)) {
  memset(t, 0, sizeof *t);
  t->seed = seed;
  sim_options o;
  sim_options_default(&o, seed);
  t->sim = sim_new(&o);
  CU_ASSERT_PTR_NOT_NULL_FATAL(t->sim);
  broker_config_default(&t->bcfg);
  g_free(t->bcfg.listen_host);
  t->bcfg.listen_host = g_strdup("broker");
  t->bcfg.listen_port = BROKER_PORT;
  g_free(t->bcfg.advertised_host);
  t->bcfg.advertised_host = g_strdup("broker");
  g_free(t->bcfg.log_dirs[0]);
  t->bcfg.log_dirs[0] = g_strdup("/data");
  t->bcfg.num_partitions = 1;
  if (tweak)
    tweak(&t->bcfg);
  t->ccfg.host = "broker";
  t->ccfg.port = BROKER_PORT;
  t->bnode = sim_node_add(t->sim, "broker", &broker_node_ops, &t->bcfg);
  sim_run_until(t->sim, sim_now_ns(t->sim) + MS);
  CU_ASSERT_TRUE_FATAL(sim_node_is_up(t->bnode));
  t->cnode[0] = sim_node_add(t->sim, "client", &tc_ops, &t->ccfg);
  t->cnode[1] = sim_node_add(t->sim, "client2", &tc_ops, &t->ccfg);
  sim_run_until(t->sim, sim_now_ns(t->sim) + MS);
  CU_ASSERT_TRUE_FATAL(run_until(t, is_connected, client(t, 0), WAIT_NS));
  CU_ASSERT_TRUE_FATAL(run_until(t, is_connected, client(t, 1), WAIT_NS));
  t->arena = proto_arena_new(0);
}

__attribute__((unused)) static void bt_open(bt *t, uint64_t seed) {
  bt_open_with(t, seed, NULL);
}

static void bt_close(bt *t) {
  sim_free(t->sim);
  broker_config_clear(&t->bcfg);
  proto_arena_free(t->arena);
  if (t->last)
    g_bytes_unref(t->last);
}

static int32_t bt_send(bt *t, int ci, int16_t key, int16_t ver,
                       const void *body) {
  tc *c = client(t, ci);
  int32_t corr = c->next_corr++;
  buf_t b = BUF_INIT;
  int rc = proto_request_encode(&b, key, ver, corr, "unit", body);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  CU_ASSERT_EQUAL(env_conn_send(c->conn, b.data, b.len), 0);
  buf_free(&b);
  return corr;
}

__attribute__((unused)) static void bt_send_raw(bt *t, int ci, const void *data,
                                                size_t len) {
  CU_ASSERT_EQUAL(env_conn_send(client(t, ci)->conn, data, len), 0);
}

/* Waits for the next response on client ci and decodes it. */
static void *bt_recv(bt *t, int ci, int32_t corr, int16_t key, int16_t ver) {
  tc *c = client(t, ci);
  if (!run_until(t, has_frame, c, WAIT_NS)) {
    fprintf(stderr, "\n  no response to api %d (seed %" PRIu64 ")\n", key,
            t->seed);
    CU_FAIL_FATAL("no response");
  }
  if (t->last)
    g_bytes_unref(t->last);
  t->last = g_queue_pop_head(&c->frames);
  gsize n = 0;
  const uint8_t *p = g_bytes_get_data(t->last, &n);
  int32_t got = 0;
  void *body = NULL;
  int rc = proto_response_decode(p, n, key, ver, t->arena, &got, &body);
  TEST_EQ_INT(rc, 0, t->seed);
  TEST_EQ_INT(got, corr, t->seed);
  CU_ASSERT_PTR_NOT_NULL_FATAL(body);
  return body;
}

static void *bt_call(bt *t, int ci, int16_t key, int16_t ver,
                     const void *body) {
  int32_t corr = bt_send(t, ci, key, ver, body);
  return bt_recv(t, ci, corr, key, ver);
}

/* ------------------------------------------------------- request helpers */

static proto_str S(const char *s) { return proto_str_from(s); }

__attribute__((unused)) static int16_t create_topic(bt *t, const char *name,
                                                    int32_t partitions,
                                                    const char *cfg_key,
                                                    const char *cfg_value) {
  proto_create_topics_req *r = PROTO_NEW(t->arena, proto_create_topics_req);
  proto_create_topics_req_creatable_topic *ct =
      PROTO_NEW_ARRAY(t->arena, proto_create_topics_req_creatable_topic, 1);
  ct->name = S(name);
  ct->num_partitions = partitions;
  ct->replication_factor = 1;
  if (cfg_key) {
    proto_create_topics_req_createable_topic_config *c = PROTO_NEW_ARRAY(
        t->arena, proto_create_topics_req_createable_topic_config, 1);
    c->name = S(cfg_key);
    c->value = S(cfg_value);
    ct->configs.items = c;
    ct->configs.count = 1;
  }
  r->topics.items = ct;
  r->topics.count = 1;
  r->timeout_ms = 10000;
  proto_create_topics_resp *resp = bt_call(t, 0, PROTO_API_CREATE_TOPICS, 5, r);
  CU_ASSERT_EQUAL_FATAL(resp->topics.count, 1);
  return resp->topics.items[0].error_code;
}

static bool flag_set(void *arg) { return *(bool *)arg; }
static void on_shutdown(void *arg, int status) {
  CU_ASSERT_EQUAL(status, 0);
  *(bool *)arg = true;
}

/* Restarts the broker (clean: shutdown first; else a crash) and
 * reconnects client 0. */
static void restart(bt *t, bool clean) {
  if (clean) {
    bool done = false;
    broker_shutdown(broker(t), on_shutdown, &done);
    CU_ASSERT_TRUE_FATAL(run_until(t, flag_set, &done, WAIT_NS));
    sim_node_stop(t->sim, t->bnode);
  } else {
    sim_node_crash(t->sim, t->bnode, 0);
  }
  sim_run_until(t->sim, sim_now_ns(t->sim) + 10 * MS);
  sim_node_restart(t->sim, t->bnode);
  sim_run_until(t->sim, sim_now_ns(t->sim) + 10 * MS);
  CU_ASSERT_TRUE_FATAL(sim_node_is_up(t->bnode));
  tc *c = client(t, 0);
  run_until(t, is_closed, c, WAIT_NS);
  g_queue_clear_full(&c->frames, (GDestroyNotify)g_bytes_unref);
  tc_connect(c);
  CU_ASSERT_TRUE_FATAL(run_until(t, is_connected, c, WAIT_NS));
}

/* --------------------------------------------------------------- groups */

static void group_tweak(broker_config *cfg) {
  cfg->groups.initial_rebalance_delay_ms = 0;
  cfg->groups.offsets_partitions = 5;
  cfg->log_defaults.flush_messages = 1; /* every append is fsynced */
}

static int16_t find_coordinator(bt *t, const char *group) {
  proto_find_coordinator_req *r =
      PROTO_NEW(t->arena, proto_find_coordinator_req);
  r->key = S(group);
  r->key_type = 0;
  proto_find_coordinator_resp *resp =
      bt_call(t, 0, PROTO_API_FIND_COORDINATOR, 2, r);
  if (resp->error_code == KERR_NONE) {
    CU_ASSERT_TRUE(proto_str_eq(resp->host, "broker"));
    TEST_EQ_INT(resp->port, BROKER_PORT, t->seed);
  }
  return resp->error_code;
}

/* Subscription metadata for topic "t". */
static const uint8_t SUB[] = {0, 1, 0, 0, 0, 1, 0, 1, 't', 0, 0, 0, 0};

static proto_join_group_resp *join(bt *t, int ci, const char *group,
                                   const char *member) {
  proto_join_group_req *r = PROTO_NEW(t->arena, proto_join_group_req);
  r->group_id = S(group);
  r->session_timeout_ms = 10000;
  r->rebalance_timeout_ms = 30000;
  r->member_id = S(member);
  r->group_instance_id = PROTO_STR_NULL;
  r->protocol_type = S("consumer");
  proto_join_group_req_protocol *p =
      PROTO_NEW_ARRAY(t->arena, proto_join_group_req_protocol, 1);
  p->name = S("range");
  p->metadata = (proto_bytes){SUB, sizeof SUB};
  r->protocols.items = p;
  r->protocols.count = 1;
  r->reason = PROTO_STR_NULL;
  return bt_call(t, ci, PROTO_API_JOIN_GROUP, 5, r);
}

static int16_t sync_group(bt *t, const char *group, int32_t gen,
                          const char *member, const char *assignment) {
  proto_sync_group_req *r = PROTO_NEW(t->arena, proto_sync_group_req);
  r->group_id = S(group);
  r->generation_id = gen;
  r->member_id = S(member);
  r->group_instance_id = PROTO_STR_NULL;
  r->protocol_type = PROTO_STR_NULL;
  r->protocol_name = PROTO_STR_NULL;
  proto_sync_group_req_assignment *a =
      PROTO_NEW_ARRAY(t->arena, proto_sync_group_req_assignment, 1);
  a->member_id = S(member);
  a->assignment =
      (proto_bytes){(const uint8_t *)assignment, (int32_t)strlen(assignment)};
  r->assignments.items = a;
  r->assignments.count = 1;
  proto_sync_group_resp *resp = bt_call(t, 0, PROTO_API_SYNC_GROUP, 3, r);
  if (resp->error_code == KERR_NONE)
    CU_ASSERT_EQUAL(resp->assignment.len, (int32_t)strlen(assignment));
  return resp->error_code;
}

static int16_t commit(bt *t, const char *group, int32_t gen, const char *member,
                      const char *topic, int32_t part, int64_t offset) {
  proto_offset_commit_req *r = PROTO_NEW(t->arena, proto_offset_commit_req);
  r->group_id = S(group);
  r->generation_id_or_member_epoch = gen;
  r->member_id = S(member);
  r->group_instance_id = PROTO_STR_NULL;
  r->retention_time_ms = -1;
  proto_offset_commit_req_topic *tp =
      PROTO_NEW_ARRAY(t->arena, proto_offset_commit_req_topic, 1);
  tp->name = S(topic);
  proto_offset_commit_req_partition *p =
      PROTO_NEW_ARRAY(t->arena, proto_offset_commit_req_partition, 1);
  p->partition_index = part;
  p->committed_offset = offset;
  p->committed_leader_epoch = -1;
  p->committed_metadata = S("");
  tp->partitions.items = p;
  tp->partitions.count = 1;
  r->topics.items = tp;
  r->topics.count = 1;
  proto_offset_commit_resp *resp = bt_call(t, 0, PROTO_API_OFFSET_COMMIT, 7, r);
  CU_ASSERT_EQUAL_FATAL(resp->topics.count, 1);
  return resp->topics.items[0].partitions.items[0].error_code;
}

static int64_t fetch_offset(bt *t, const char *group, const char *topic,
                            int32_t part) {
  proto_offset_fetch_req *r = PROTO_NEW(t->arena, proto_offset_fetch_req);
  r->group_id = S(group);
  proto_offset_fetch_req_topic *tp =
      PROTO_NEW_ARRAY(t->arena, proto_offset_fetch_req_topic, 1);
  tp->name = S(topic);
  int32_t *parts = proto_arena_alloc(t->arena, sizeof *parts);
  parts[0] = part;
  tp->partition_indexes = (proto_int32_array){parts, 1};
  r->topics.items = tp;
  r->topics.count = 1;
  proto_offset_fetch_resp *resp = bt_call(t, 0, PROTO_API_OFFSET_FETCH, 5, r);
  TEST_EQ_INT(resp->error_code, KERR_NONE, t->seed);
  CU_ASSERT_EQUAL_FATAL(resp->topics.count, 1);
  return resp->topics.items[0].partitions.items[0].committed_offset;
}

/* Joins "g" as its only member and syncs: returns the generation and the
 * member id (in out, 256 bytes). */
static int32_t join_and_sync(bt *t, const char *group, char *out) {
  proto_join_group_resp *j = join(t, 0, group, "");
  TEST_EQ_INT(j->error_code, KERR_MEMBER_ID_REQUIRED, t->seed);
  g_strlcpy(out, j->member_id.data, 256);
  j = join(t, 0, group, out);
  TEST_EQ_INT(j->error_code, KERR_NONE, t->seed);
  CU_ASSERT_TRUE(proto_str_eq(j->leader, out));
  TEST_EQ_INT(j->members.count, 1, t->seed);
  int32_t gen = j->generation_id;
  TEST_EQ_INT(sync_group(t, group, gen, out, "assigned"), KERR_NONE, t->seed);
  return gen;
}

static void offsets_survive(bool clean) {
  bt t;
  bt_open_with(&t, test_seed() + (clean ? 101 : 102), group_tweak);
  TEST_EQ_INT(create_topic(&t, "t", 2, NULL, NULL), KERR_NONE, t.seed);
  /* The first FindCoordinator creates __consumer_offsets. */
  TEST_EQ_INT(find_coordinator(&t, "g"), KERR_COORDINATOR_NOT_AVAILABLE,
              t.seed);
  sim_run_until(t.sim, sim_now_ns(t.sim) + 100 * MS);
  TEST_EQ_INT(find_coordinator(&t, "g"), KERR_NONE, t.seed);
  char member[256];
  int32_t gen = join_and_sync(&t, "g", member);
  TEST_EQ_INT(commit(&t, "g", gen, member, "t", 0, 17), KERR_NONE, t.seed);
  TEST_EQ_INT(commit(&t, "g", gen, member, "t", 1, 4), KERR_NONE, t.seed);
  TEST_EQ_INT(commit(&t, "g", gen, member, "t", 0, 21), KERR_NONE, t.seed);
  TEST_EQ_INT(commit(&t, "g", gen, member, "nope", 0, 1),
              KERR_UNKNOWN_TOPIC_OR_PARTITION, t.seed);
  TEST_EQ_INT(commit(&t, "g", gen + 1, member, "t", 0, 99),
              KERR_ILLEGAL_GENERATION, t.seed);
  TEST_EQ_INT(fetch_offset(&t, "g", "t", 0), 21, t.seed);
  /* Standalone commit in another group. */
  TEST_EQ_INT(commit(&t, "solo", -1, "", "t", 1, 8), KERR_NONE, t.seed);
  /* The records sit in g's partition of __consumer_offsets (Java hash of
   * "g" is 103: partition 3 of 5): group metadata (sync) + 3 offsets, and
   * the offset key is version 1, group "g", topic "t". */
  TEST_EQ_INT(broker_partition_end_offset(broker(&t), "__consumer_offsets", 3),
              4, t.seed);
  sim_run_until(t.sim, sim_now_ns(t.sim) + 200 * MS);
  restart(&t, clean);
  TEST_EQ_INT(find_coordinator(&t, "g"), KERR_NONE, t.seed);
  TEST_EQ_INT(fetch_offset(&t, "g", "t", 0), 21, t.seed);
  TEST_EQ_INT(fetch_offset(&t, "g", "t", 1), 4, t.seed);
  TEST_EQ_INT(fetch_offset(&t, "solo", "t", 1), 8, t.seed);
  TEST_EQ_INT(fetch_offset(&t, "solo", "t", 0), -1, t.seed);
  /* The group's generation went on from the stored one. */
  char member2[256];
  int32_t gen2 = join_and_sync(&t, "g", member2);
  CU_ASSERT(gen2 > gen);
  bt_close(&t);
}

static void test_offsets_clean_restart(void) { offsets_survive(true); }
static void test_offsets_crash_restart(void) { offsets_survive(false); }

static void test_records_format(void) {
  bt t;
  bt_open_with(&t, test_seed() + 103, group_tweak);
  TEST_EQ_INT(create_topic(&t, "t", 1, NULL, NULL), KERR_NONE, t.seed);
  (void)find_coordinator(&t, "g");
  sim_run_until(t.sim, sim_now_ns(t.sim) + 100 * MS);
  TEST_EQ_INT(commit(&t, "g", -1, "", "t", 0, 5), KERR_NONE, t.seed);
  /* Fetch the record from __consumer_offsets-3 like any consumer. */
  proto_fetch_req *r = PROTO_NEW(t.arena, proto_fetch_req);
  r->replica_id = -1;
  r->max_wait_ms = 0;
  r->min_bytes = 1;
  r->max_bytes = 1 << 20;
  r->isolation_level = 0;
  proto_fetch_req_fetch_topic *ft =
      PROTO_NEW_ARRAY(t.arena, proto_fetch_req_fetch_topic, 1);
  ft->topic = S("__consumer_offsets");
  proto_fetch_req_fetch_partition *fp =
      PROTO_NEW_ARRAY(t.arena, proto_fetch_req_fetch_partition, 1);
  fp->partition = 3;
  fp->fetch_offset = 0;
  fp->partition_max_bytes = 1 << 20;
  fp->current_leader_epoch = -1;
  fp->log_start_offset = -1;
  ft->partitions.items = fp;
  ft->partitions.count = 1;
  r->topics.items = ft;
  r->topics.count = 1;
  proto_fetch_resp *resp = bt_call(&t, 0, PROTO_API_FETCH, 4, r);
  CU_ASSERT_EQUAL_FATAL(resp->responses.count, 1);
  proto_bytes recs = resp->responses.items[0].partitions.items[0].records;
  CU_ASSERT_FATAL(recs.len > 0);
  int err = 0;
  batch_iter *it = batch_iter_new(recs.data, (size_t)recs.len, &err);
  CU_ASSERT_PTR_NOT_NULL_FATAL(it);
  batch_record rec;
  CU_ASSERT_EQUAL_FATAL(batch_iter_next(it, &rec), 1);
  /* key: int16 1, "g", "t", int32 0 */
  static const uint8_t key[] = {0, 1, 0, 1, 'g', 0, 1, 't', 0, 0, 0, 0};
  TEST_EQ_INT(rec.key_len, sizeof key, t.seed);
  CU_ASSERT(memcmp(rec.key, key, sizeof key) == 0);
  /* value: int16 3, int64 offset 5, int32 epoch -1, "" , int64 ts */
  TEST_EQ_INT(rec.value_len, 2 + 8 + 4 + 2 + 8, t.seed);
  TEST_EQ_INT(rec.value[1], 3, t.seed);
  TEST_EQ_INT(rec.value[9], 5, t.seed);
  batch_iter_free(it);
  bt_close(&t);
}

static void test_parked_join_closed(void) {
  bt t;
  bt_open_with(&t, test_seed() + 104, group_tweak);
  (void)find_coordinator(&t, "g");
  sim_run_until(t.sim, sim_now_ns(t.sim) + 100 * MS);
  char member[256];
  int32_t gen = join_and_sync(&t, "g", member);
  /* Client 1 joins: its JoinGroup parks (the group waits for client 0). */
  proto_join_group_req *r = PROTO_NEW(t.arena, proto_join_group_req);
  r->group_id = S("g");
  r->session_timeout_ms = 10000;
  r->rebalance_timeout_ms = 30000;
  r->member_id = S("");
  r->group_instance_id = PROTO_STR_NULL;
  r->protocol_type = S("consumer");
  proto_join_group_req_protocol *p =
      PROTO_NEW_ARRAY(t.arena, proto_join_group_req_protocol, 1);
  p->name = S("range");
  p->metadata = (proto_bytes){SUB, sizeof SUB};
  r->protocols.items = p;
  r->protocols.count = 1;
  r->reason = PROTO_STR_NULL;
  proto_join_group_resp *j = bt_call(&t, 1, PROTO_API_JOIN_GROUP, 5, r);
  TEST_EQ_INT(j->error_code, KERR_MEMBER_ID_REQUIRED, t.seed);
  r->member_id = S(g_strdup(j->member_id.data));
  (void)bt_send(&t, 1, PROTO_API_JOIN_GROUP, 5, r);
  sim_run_until(t.sim, sim_now_ns(t.sim) + 100 * MS);
  CU_ASSERT_TRUE(g_queue_is_empty(&client(&t, 1)->frames)); /* parked */
  g_free((char *)r->member_id.data);
  /* Its connection closes while parked. */
  env_conn_close(client(&t, 1)->conn);
  client(&t, 1)->conn = NULL;
  sim_run_until(t.sim, sim_now_ns(t.sim) + 100 * MS);
  /* Client 0 rejoins; the group completes (client 1's member is dropped
   * when the rebalance times out, 30 s). */
  proto_join_group_resp *j0 = join(&t, 0, "g", member);
  TEST_EQ_INT(j0->error_code, KERR_NONE, t.seed);
  CU_ASSERT(j0->generation_id > gen);
  bt_close(&t);
}

int suite_group_broker(void) {
  TEST_SUITE("group_broker",
             {"offsets_clean_restart", test_offsets_clean_restart},
             {"offsets_crash_restart", test_offsets_crash_restart},
             {"records_format", test_records_format},
             {"parked_join_closed", test_parked_join_closed});
}
