/*
 * Committed offsets and groups through the broker node in the simulator:
 * a raw-frame client (the harness in lib_broker_sim.h) finds the coordinator,
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
#include "tests/unit/lib_broker_sim.h"
#include "tests/unit/testutil.h"

#define MS UINT64_C(1000000)
#define SEC (1000 * MS)

/* --------------------------------------------------------------- groups */

static void group_tweak(broker_config *cfg) {
  cfg->groups.initial_rebalance_delay_ms = 0;
  cfg->groups.offsets_partitions = 5;
  cfg->log_defaults.flush_messages = 1; /* every append is fsynced */
}

static int16_t find_coordinator(bsim *t, const char *group) {
  proto_find_coordinator_req *r =
      PROTO_NEW(t->arena, proto_find_coordinator_req);
  r->key = bsim_str(group);
  r->key_type = 0;
  proto_find_coordinator_resp *resp =
      bsim_call(t, 0, PROTO_API_FIND_COORDINATOR, 2, r);
  if (resp->error_code == KERR_NONE) {
    CU_ASSERT_TRUE(proto_str_eq(resp->host, "broker"));
    TEST_EQ_INT(resp->port, BSIM_BROKER_PORT, t->seed);
  }
  return resp->error_code;
}

/* Subscription metadata for topic "t". */
static const uint8_t SUB[] = {0, 1, 0, 0, 0, 1, 0, 1, 't', 0, 0, 0, 0};

static proto_join_group_resp *join(bsim *t, int ci, const char *group,
                                   const char *member) {
  proto_join_group_req *r = PROTO_NEW(t->arena, proto_join_group_req);
  r->group_id = bsim_str(group);
  r->session_timeout_ms = 10000;
  r->rebalance_timeout_ms = 30000;
  r->member_id = bsim_str(member);
  r->group_instance_id = PROTO_STR_NULL;
  r->protocol_type = bsim_str("consumer");
  proto_join_group_req_protocol *p =
      PROTO_NEW_ARRAY(t->arena, proto_join_group_req_protocol, 1);
  p->name = bsim_str("range");
  p->metadata = (proto_bytes){SUB, sizeof SUB};
  r->protocols.items = p;
  r->protocols.count = 1;
  r->reason = PROTO_STR_NULL;
  return bsim_call(t, ci, PROTO_API_JOIN_GROUP, 5, r);
}

static int16_t sync_group(bsim *t, const char *group, int32_t gen,
                          const char *member, const char *assignment) {
  proto_sync_group_req *r = PROTO_NEW(t->arena, proto_sync_group_req);
  r->group_id = bsim_str(group);
  r->generation_id = gen;
  r->member_id = bsim_str(member);
  r->group_instance_id = PROTO_STR_NULL;
  r->protocol_type = PROTO_STR_NULL;
  r->protocol_name = PROTO_STR_NULL;
  proto_sync_group_req_assignment *a =
      PROTO_NEW_ARRAY(t->arena, proto_sync_group_req_assignment, 1);
  a->member_id = bsim_str(member);
  a->assignment =
      (proto_bytes){(const uint8_t *)assignment, (int32_t)strlen(assignment)};
  r->assignments.items = a;
  r->assignments.count = 1;
  proto_sync_group_resp *resp = bsim_call(t, 0, PROTO_API_SYNC_GROUP, 3, r);
  if (resp->error_code == KERR_NONE)
    CU_ASSERT_EQUAL(resp->assignment.len, (int32_t)strlen(assignment));
  return resp->error_code;
}

static int16_t commit(bsim *t, const char *group, int32_t gen,
                      const char *member, const char *topic, int32_t part,
                      int64_t offset) {
  proto_offset_commit_req *r = PROTO_NEW(t->arena, proto_offset_commit_req);
  r->group_id = bsim_str(group);
  r->generation_id_or_member_epoch = gen;
  r->member_id = bsim_str(member);
  r->group_instance_id = PROTO_STR_NULL;
  r->retention_time_ms = -1;
  proto_offset_commit_req_topic *tp =
      PROTO_NEW_ARRAY(t->arena, proto_offset_commit_req_topic, 1);
  tp->name = bsim_str(topic);
  proto_offset_commit_req_partition *p =
      PROTO_NEW_ARRAY(t->arena, proto_offset_commit_req_partition, 1);
  p->partition_index = part;
  p->committed_offset = offset;
  p->committed_leader_epoch = -1;
  p->committed_metadata = bsim_str("");
  tp->partitions.items = p;
  tp->partitions.count = 1;
  r->topics.items = tp;
  r->topics.count = 1;
  proto_offset_commit_resp *resp =
      bsim_call(t, 0, PROTO_API_OFFSET_COMMIT, 7, r);
  CU_ASSERT_EQUAL_FATAL(resp->topics.count, 1);
  return resp->topics.items[0].partitions.items[0].error_code;
}

static int64_t fetch_offset(bsim *t, const char *group, const char *topic,
                            int32_t part) {
  proto_offset_fetch_req *r = PROTO_NEW(t->arena, proto_offset_fetch_req);
  r->group_id = bsim_str(group);
  proto_offset_fetch_req_topic *tp =
      PROTO_NEW_ARRAY(t->arena, proto_offset_fetch_req_topic, 1);
  tp->name = bsim_str(topic);
  int32_t *parts = proto_arena_alloc(t->arena, sizeof *parts);
  parts[0] = part;
  tp->partition_indexes = (proto_int32_array){parts, 1};
  r->topics.items = tp;
  r->topics.count = 1;
  proto_offset_fetch_resp *resp = bsim_call(t, 0, PROTO_API_OFFSET_FETCH, 5, r);
  TEST_EQ_INT(resp->error_code, KERR_NONE, t->seed);
  CU_ASSERT_EQUAL_FATAL(resp->topics.count, 1);
  return resp->topics.items[0].partitions.items[0].committed_offset;
}

/* Joins "g" as its only member and syncs: returns the generation and the
 * member id (in out, 256 bytes). */
static int32_t join_and_sync(bsim *t, const char *group, char *out) {
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
  bsim t;
  bsim_open_with(&t, test_seed() + (clean ? 101 : 102), group_tweak);
  TEST_EQ_INT(bsim_create_topic(&t, "t", 2, NULL, NULL), KERR_NONE, t.seed);
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
  TEST_EQ_INT(
      broker_partition_end_offset(bsim_broker(&t), "__consumer_offsets", 3), 4,
      t.seed);
  sim_run_until(t.sim, sim_now_ns(t.sim) + 200 * MS);
  bsim_restart(&t, clean);
  TEST_EQ_INT(find_coordinator(&t, "g"), KERR_NONE, t.seed);
  TEST_EQ_INT(fetch_offset(&t, "g", "t", 0), 21, t.seed);
  TEST_EQ_INT(fetch_offset(&t, "g", "t", 1), 4, t.seed);
  TEST_EQ_INT(fetch_offset(&t, "solo", "t", 1), 8, t.seed);
  TEST_EQ_INT(fetch_offset(&t, "solo", "t", 0), -1, t.seed);
  /* The group's generation went on from the stored one. */
  char member2[256];
  int32_t gen2 = join_and_sync(&t, "g", member2);
  CU_ASSERT(gen2 > gen);
  bsim_close(&t);
}

static void test_offsets_clean_restart(void) { offsets_survive(true); }
static void test_offsets_crash_restart(void) { offsets_survive(false); }

static void test_records_format(void) {
  bsim t;
  bsim_open_with(&t, test_seed() + 103, group_tweak);
  TEST_EQ_INT(bsim_create_topic(&t, "t", 1, NULL, NULL), KERR_NONE, t.seed);
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
  ft->topic = bsim_str("__consumer_offsets");
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
  proto_fetch_resp *resp = bsim_call(&t, 0, PROTO_API_FETCH, 4, r);
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
  bsim_close(&t);
}

static void test_parked_join_closed(void) {
  bsim t;
  bsim_open_with(&t, test_seed() + 104, group_tweak);
  (void)find_coordinator(&t, "g");
  sim_run_until(t.sim, sim_now_ns(t.sim) + 100 * MS);
  char member[256];
  int32_t gen = join_and_sync(&t, "g", member);
  /* Client 1 joins: its JoinGroup parks (the group waits for client 0). */
  proto_join_group_req *r = PROTO_NEW(t.arena, proto_join_group_req);
  r->group_id = bsim_str("g");
  r->session_timeout_ms = 10000;
  r->rebalance_timeout_ms = 30000;
  r->member_id = bsim_str("");
  r->group_instance_id = PROTO_STR_NULL;
  r->protocol_type = bsim_str("consumer");
  proto_join_group_req_protocol *p =
      PROTO_NEW_ARRAY(t.arena, proto_join_group_req_protocol, 1);
  p->name = bsim_str("range");
  p->metadata = (proto_bytes){SUB, sizeof SUB};
  r->protocols.items = p;
  r->protocols.count = 1;
  r->reason = PROTO_STR_NULL;
  proto_join_group_resp *j = bsim_call(&t, 1, PROTO_API_JOIN_GROUP, 5, r);
  TEST_EQ_INT(j->error_code, KERR_MEMBER_ID_REQUIRED, t.seed);
  r->member_id = bsim_str(g_strdup(j->member_id.data));
  (void)bsim_send(&t, 1, PROTO_API_JOIN_GROUP, 5, r);
  sim_run_until(t.sim, sim_now_ns(t.sim) + 100 * MS);
  CU_ASSERT_TRUE(g_queue_is_empty(&bsim_client_at(&t, 1)->frames)); /* parked */
  g_free((char *)r->member_id.data);
  /* Its connection closes while parked. */
  env_conn_close(bsim_client_at(&t, 1)->conn);
  bsim_client_at(&t, 1)->conn = NULL;
  sim_run_until(t.sim, sim_now_ns(t.sim) + 100 * MS);
  /* Client 0 rejoins; the group completes (client 1's member is dropped
   * when the rebalance times out, 30 s). */
  proto_join_group_resp *j0 = join(&t, 0, "g", member);
  TEST_EQ_INT(j0->error_code, KERR_NONE, t.seed);
  CU_ASSERT(j0->generation_id > gen);
  bsim_close(&t);
}

int suite_group_broker(void) {
  TEST_SUITE("group_broker",
             {"offsets_clean_restart", test_offsets_clean_restart},
             {"offsets_crash_restart", test_offsets_crash_restart},
             {"records_format", test_records_format},
             {"parked_join_closed", test_parked_join_closed});
}
