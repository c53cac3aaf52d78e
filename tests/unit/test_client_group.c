/*
 * test_client_group.c — the group consumer (broker/client/group.c) against
 * the real broker's group coordinator in the simulator: members sharing a
 * 6-partition topic, committed offsets surviving a restart of the group,
 * a crashed member's partitions taken over, and the ConsumerProtocol
 * codecs on good and bad bytes.
 *
 * Needs the broker module linked (MODULES includes broker/server).
 */
#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "broker/client/client.h"
#include "broker/kerr.h"
#include "broker/server/broker.h"
#include "sim/sim.h"
#include "tests/unit/testutil.h"

#define MS UINT64_C(1000000)
#define CG_MEMBERS_MAX 4
#define CG_RECORDS_MAX 2000
#define CG_PARTITIONS 6
#define CG_PARTITIONS_GROWN 8
#define CG_TOPIC "events"
#define CG_GROUP "g1"

typedef struct cg_world cg_world;

/* One group member on its own simulated host. */
typedef struct cg_member {
  cg_world *w;
  int index;
  char name[16];
  sim_node_t *node;
  kclient_t *kc;
  kclient_group_t *grp;
  int got;
  bool closed;
  int close_err;
  int assigned_calls, revoked_calls;
} cg_member;

struct cg_world {
  uint64_t seed;
  sim_t *sim;
  broker_config bcfg;
  sim_node_t *bnode;
  /* the producer host */
  sim_node_t *pnode;
  kclient_t *pkc;
  int topic_err;
  bool topic_done;
  int produced, delivered, failed;
  bool flushed;
  /* consumption, by record id (the value is "r<id>") */
  int got_by_id[CG_RECORDS_MAX];
  int bad_values;
  int32_t partitions;   /* the topic's partition count now */
  int64_t offset_reset; /* members' auto_offset_reset */
  cg_member members[CG_MEMBERS_MAX];
};

/* ---- the producer host ---- */

static void *cg_producer_start(env_t *env, void *config) {
  cg_world *w = config;
  kclient_config kcfg;
  kclient_config_default(&kcfg);
  kcfg.bootstrap_servers = "b1:9092";
  char msg[KCLIENT_ERRMSG_BYTES];
  if (kclient_new(env, &kcfg, &w->pkc, msg) != 0) {
    fprintf(stderr, "\n  kclient_new: %s\n", msg);
    return NULL;
  }
  return w;
}

static void cg_producer_stop(void *node) {
  cg_world *w = node;
  if (!w)
    return;
  kclient_free(w->pkc);
  w->pkc = NULL;
}

static const env_node_ops cg_producer_ops = {"producer", cg_producer_start,
                                             cg_producer_stop};

static void cg_topic_done(void *arg, int err, const char *errmsg,
                          const kclient_topic_result *r, size_t n) {
  cg_world *w = arg;
  w->topic_err = err ? err : (n ? r[0].err : -1);
  if (w->topic_err)
    fprintf(stderr, "\n  create topic: %s %s\n", errmsg, n ? r[0].errmsg : "");
  w->topic_done = true;
}

static void cg_grown(void *arg, int err, const char *errmsg,
                     const kclient_topic_result *r, size_t n) {
  cg_world *w = arg;
  w->topic_err = err ? err : (n ? r[0].err : -1);
  if (w->topic_err)
    fprintf(stderr, "\n  create partitions: %s\n", errmsg);
  w->topic_done = true;
}

static void cg_delivered(void *arg, const kclient_delivery *d) {
  cg_world *w = arg;
  if (d->err)
    w->failed++;
  else
    w->delivered++;
}

static void cg_flushed(void *arg, int err, const char *errmsg) {
  cg_world *w = arg;
  (void)err;
  (void)errmsg;
  w->flushed = true;
}

/* Produces records [produced, produced + n) round-robin over partitions. */
static void cg_produce(cg_world *w, int n) {
  SL_ASSERT(w->produced + n <= CG_RECORDS_MAX);
  for (int i = 0; i < n; i++) {
    int id = w->produced++;
    char value[32];
    int len = snprintf(value, sizeof value, "r%d", id);
    kclient_message m = {.topic = CG_TOPIC,
                         .partition = id % CG_PARTITIONS,
                         .key = NULL,
                         .key_len = -1,
                         .value = value,
                         .value_len = len,
                         .timestamp_ms = -1};
    int rc = kclient_produce(w->pkc, &m, cg_delivered, w);
    CU_ASSERT_EQUAL(rc, 0);
  }
  w->flushed = false;
  kclient_flush(w->pkc, cg_flushed, w);
}

/* ---- member hosts ---- */

static void cg_on_record(void *arg, const kclient_record *r) {
  cg_member *m = arg;
  cg_world *w = m->w;
  int id = -1;
  if (r->value_len > 1 && r->value_len < 16 && r->value[0] == 'r') {
    char buf[16];
    memcpy(buf, r->value + 1, (size_t)r->value_len - 1);
    buf[r->value_len - 1] = '\0';
    id = atoi(buf);
  }
  if (id < 0 || id >= CG_RECORDS_MAX || r->partition != id % CG_PARTITIONS) {
    w->bad_values++;
    return;
  }
  w->got_by_id[id]++;
  m->got++;
}

static void cg_on_assigned(void *arg, const kclient_topic_partition *tps,
                           size_t n) {
  cg_member *m = arg;
  (void)tps;
  (void)n;
  m->assigned_calls++;
}

static void cg_on_revoked(void *arg, const kclient_topic_partition *tps,
                          size_t n) {
  cg_member *m = arg;
  (void)tps;
  (void)n;
  m->revoked_calls++;
}

static void *cg_member_start(env_t *env, void *config) {
  cg_member *m = config;
  kclient_config kcfg;
  kclient_config_default(&kcfg);
  kcfg.bootstrap_servers = "b1:9092";
  kcfg.client_id = m->name;
  char msg[KCLIENT_ERRMSG_BYTES];
  if (kclient_new(env, &kcfg, &m->kc, msg) != 0) {
    fprintf(stderr, "\n  kclient_new: %s\n", msg);
    return NULL;
  }
  static const char *const topics[] = {CG_TOPIC};
  kclient_group_config gcfg;
  kclient_group_config_default(&gcfg);
  gcfg.group_id = CG_GROUP;
  gcfg.topics = topics;
  gcfg.topic_count = 1;
  gcfg.session_timeout_ms = 6000;
  gcfg.heartbeat_interval_ms = 1000;
  gcfg.rebalance_timeout_ms = 10000;
  gcfg.auto_commit_interval_ms = 1000;
  gcfg.auto_offset_reset = m->w->offset_reset;
  gcfg.consumer.on_record = cg_on_record;
  gcfg.consumer.arg = m;
  gcfg.consumer.max_wait_ms = 200;
  gcfg.on_assigned = cg_on_assigned;
  gcfg.on_revoked = cg_on_revoked;
  gcfg.arg = m;
  if (kclient_group_new(m->kc, &gcfg, &m->grp, msg) != 0) {
    fprintf(stderr, "\n  kclient_group_new: %s\n", msg);
    kclient_free(m->kc);
    m->kc = NULL;
    return NULL;
  }
  m->closed = false;
  return m;
}

static void cg_member_stop(void *node) {
  cg_member *m = node;
  if (!m)
    return;
  kclient_group_free(m->grp);
  m->grp = NULL;
  kclient_free(m->kc);
  m->kc = NULL;
}

static const env_node_ops cg_member_ops = {"member", cg_member_start,
                                           cg_member_stop};

static void cg_member_closed(void *arg, int err, const char *errmsg) {
  cg_member *m = arg;
  m->closed = true;
  m->close_err = err;
  if (err)
    fprintf(stderr, "\n  %s close: %s\n", m->name, errmsg);
}

/* ---- the world ---- */

static cg_world *cg_new(uint64_t seed) {
  cg_world *w = g_new0(cg_world, 1);
  w->seed = seed;
  sim_options opts;
  sim_options_default(&opts, seed);
  w->sim = sim_new(&opts);
  broker_config_default(&w->bcfg);
  w->bcfg.node_id = 1;
  g_free(w->bcfg.listen_host);
  w->bcfg.listen_host = g_strdup("");
  w->bcfg.listen_port = 9092;
  g_free(w->bcfg.advertised_host);
  w->bcfg.advertised_host = g_strdup("b1");
  w->bcfg.advertised_port = 9092;
  g_strfreev(w->bcfg.log_dirs);
  w->bcfg.log_dirs = g_new0(char *, 2);
  w->bcfg.log_dirs[0] = g_strdup("/data");
  w->bcfg.log_dir_count = 1;
  w->bcfg.auto_create_topics = false;
  w->bnode = sim_node_add(w->sim, "b1", &broker_node_ops, &w->bcfg);
  w->pnode = sim_node_add(w->sim, "p1", &cg_producer_ops, w);
  sim_run_until(w->sim, sim_now_ns(w->sim) + 10 * MS);
  w->partitions = CG_PARTITIONS;
  w->offset_reset = KCLIENT_OFFSET_EARLIEST;
  for (int i = 0; i < CG_MEMBERS_MAX; i++) {
    w->members[i].w = w;
    w->members[i].index = i;
    snprintf(w->members[i].name, sizeof w->members[i].name, "c%d", i + 1);
  }
  return w;
}

static void cg_free(cg_world *w) {
  sim_free(w->sim);
  broker_config_clear(&w->bcfg);
  g_free(w);
}

static bool cg_run_until(cg_world *w, bool (*pred)(cg_world *),
                         uint64_t max_ms) {
  uint64_t deadline = sim_now_ns(w->sim) + max_ms * MS;
  while (!pred(w) && sim_now_ns(w->sim) < deadline)
    sim_run_until(w->sim, sim_now_ns(w->sim) + 10 * MS);
  return pred(w);
}

static bool cg_topic_ready(cg_world *w) { return w->topic_done; }
static bool cg_flushed_all(cg_world *w) { return w->flushed; }

static void cg_create_topic(cg_world *w) {
  kclient_new_topic nt = {
      .name = CG_TOPIC, .partitions = CG_PARTITIONS, .replication_factor = 1};
  kclient_create_topics(w->pkc, &nt, 1, false, cg_topic_done, w);
  CU_ASSERT_TRUE(cg_run_until(w, cg_topic_ready, 10000));
  TEST_EQ_INT(w->topic_err, 0, w->seed);
}

static void cg_produce_wait(cg_world *w, int n) {
  cg_produce(w, n);
  CU_ASSERT_TRUE(cg_run_until(w, cg_flushed_all, 30000));
  TEST_EQ_INT(w->failed, 0, w->seed);
}

static void cg_member_up(cg_world *w, int i) {
  cg_member *m = &w->members[i];
  if (!m->node)
    m->node = sim_node_add(w->sim, m->name, &cg_member_ops, m);
  else
    sim_node_restart(w->sim, m->node);
}

static bool cg_member_live(const cg_member *m) {
  return m->node && sim_node_is_up(m->node) && m->grp && !m->closed;
}

/* Every live member is stable in one generation and together they hold
 * each partition exactly once. */
static bool cg_group_settled(cg_world *w) {
  int owners[CG_PARTITIONS_GROWN] = {0};
  int32_t gen = -1;
  int live = 0;
  for (int i = 0; i < CG_MEMBERS_MAX; i++) {
    cg_member *m = &w->members[i];
    if (!cg_member_live(m))
      continue;
    live++;
    if (!kclient_group_is_stable(m->grp))
      return false;
    if (gen >= 0 && kclient_group_generation(m->grp) != gen)
      return false;
    gen = kclient_group_generation(m->grp);
    const kclient_topic_partition *tps;
    size_t n = kclient_group_assignment(m->grp, &tps);
    for (size_t k = 0; k < n; k++)
      if (strcmp(tps[k].topic, CG_TOPIC) == 0 && tps[k].partition >= 0 &&
          tps[k].partition < w->partitions)
        owners[tps[k].partition]++;
  }
  if (!live)
    return false;
  for (int p = 0; p < w->partitions; p++)
    if (owners[p] != 1)
      return false;
  return true;
}

static bool cg_all_consumed(cg_world *w) {
  for (int id = 0; id < w->produced; id++)
    if (w->got_by_id[id] == 0)
      return false;
  return true;
}

static bool cg_settled_and_consumed(cg_world *w) {
  return cg_group_settled(w) && cg_all_consumed(w);
}

static bool cg_all_closed(cg_world *w) {
  for (int i = 0; i < CG_MEMBERS_MAX; i++) {
    cg_member *m = &w->members[i];
    if (m->node && sim_node_is_up(m->node) && m->grp && !m->closed)
      return false;
  }
  return true;
}

static void cg_close_all(cg_world *w) {
  for (int i = 0; i < CG_MEMBERS_MAX; i++) {
    cg_member *m = &w->members[i];
    if (cg_member_live(m))
      kclient_group_close(m->grp, cg_member_closed, m);
  }
  CU_ASSERT_TRUE(cg_run_until(w, cg_all_closed, 20000));
  for (int i = 0; i < CG_MEMBERS_MAX; i++) {
    cg_member *m = &w->members[i];
    if (m->node && sim_node_is_up(m->node))
      sim_node_stop(w->sim, m->node);
  }
  sim_run_until(w->sim, sim_now_ns(w->sim) + 10 * MS);
}

static int cg_duplicates(cg_world *w) {
  int dups = 0;
  for (int id = 0; id < w->produced; id++)
    dups += w->got_by_id[id] > 1 ? w->got_by_id[id] - 1 : 0;
  return dups;
}

/* ---- cases ---- */

/* Three members share six partitions: two each, every record consumed
 * exactly once (nobody crashed, so every hand-over was committed). */
static void test_group_share(void) {
  uint64_t seed = test_seed();
  cg_world *w = cg_new(seed);
  cg_create_topic(w);
  cg_produce_wait(w, 600);
  for (int i = 0; i < 3; i++)
    cg_member_up(w, i);
  CU_ASSERT_TRUE(cg_run_until(w, cg_settled_and_consumed, 60000));
  for (int i = 0; i < 3; i++) {
    const kclient_topic_partition *tps;
    TEST_EQ_INT(kclient_group_assignment(w->members[i].grp, &tps), 2, seed);
    CU_ASSERT_TRUE(w->members[i].got > 0);
    CU_ASSERT_TRUE(w->members[i].assigned_calls >= 1);
  }
  TEST_EQ_INT(w->bad_values, 0, seed);
  TEST_EQ_INT(cg_duplicates(w), 0, seed);
  cg_close_all(w);
  for (int i = 0; i < 3; i++)
    TEST_EQ_INT(w->members[i].close_err, 0, seed);
  cg_free(w);
}

/* A group closed and started again resumes from its committed offsets:
 * only the records produced meanwhile arrive. */
static void test_group_resume(void) {
  uint64_t seed = test_seed() + 1;
  cg_world *w = cg_new(seed);
  cg_create_topic(w);
  cg_produce_wait(w, 300);
  cg_member_up(w, 0);
  cg_member_up(w, 1);
  CU_ASSERT_TRUE(cg_run_until(w, cg_settled_and_consumed, 60000));
  cg_close_all(w);
  TEST_EQ_INT(cg_duplicates(w), 0, seed);
  cg_produce_wait(w, 120);
  cg_member_up(w, 2);
  CU_ASSERT_TRUE(cg_run_until(w, cg_settled_and_consumed, 60000));
  TEST_EQ_INT(w->members[2].got, 120, seed);
  TEST_EQ_INT(cg_duplicates(w), 0, seed);
  TEST_EQ_INT(w->bad_values, 0, seed);
  cg_close_all(w);
  cg_free(w);
}

/* A member crashes (no LeaveGroup): after its session times out the others
 * take its partitions over and consume everything produced after. */
static void test_group_crash_takeover(void) {
  uint64_t seed = test_seed() + 2;
  cg_world *w = cg_new(seed);
  cg_create_topic(w);
  cg_produce_wait(w, 300);
  for (int i = 0; i < 3; i++)
    cg_member_up(w, i);
  CU_ASSERT_TRUE(cg_run_until(w, cg_settled_and_consumed, 60000));
  int32_t gen_before = kclient_group_generation(w->members[0].grp);
  /* Crashing with a commit pending frees it with the member. */
  kclient_group_commit(w->members[1].grp, NULL, NULL);
  sim_node_crash(w->sim, w->members[1].node, 0);
  cg_produce_wait(w, 300);
  CU_ASSERT_TRUE(cg_run_until(w, cg_settled_and_consumed, 60000));
  CU_ASSERT_TRUE(kclient_group_generation(w->members[0].grp) > gen_before);
  const kclient_topic_partition *tps;
  TEST_EQ_INT(kclient_group_assignment(w->members[0].grp, &tps) +
                  kclient_group_assignment(w->members[2].grp, &tps),
              CG_PARTITIONS, seed);
  CU_ASSERT_TRUE(w->members[0].revoked_calls >= 1);
  TEST_EQ_INT(w->bad_values, 0, seed);
  cg_close_all(w);
  cg_free(w);
}

/* The topic grows while the group is stable: the leader notices (its
 * metadata check) and rebalances, so the new partitions get owners. */
static void test_group_topic_grows(void) {
  uint64_t seed = test_seed() + 3;
  cg_world *w = cg_new(seed);
  cg_create_topic(w);
  cg_produce_wait(w, 60);
  cg_member_up(w, 0);
  cg_member_up(w, 1);
  CU_ASSERT_TRUE(cg_run_until(w, cg_settled_and_consumed, 60000));
  int32_t gen_before = kclient_group_generation(w->members[0].grp);
  w->topic_done = false;
  kclient_create_partitions(w->pkc, CG_TOPIC, CG_PARTITIONS_GROWN, cg_grown, w);
  CU_ASSERT_TRUE(cg_run_until(w, cg_topic_ready, 10000));
  TEST_EQ_INT(w->topic_err, 0, seed);
  w->partitions = CG_PARTITIONS_GROWN;
  CU_ASSERT_TRUE(cg_run_until(w, cg_group_settled, 60000));
  CU_ASSERT_TRUE(kclient_group_generation(w->members[0].grp) > gen_before);
  const kclient_topic_partition *tps;
  TEST_EQ_INT(kclient_group_assignment(w->members[0].grp, &tps) +
                  kclient_group_assignment(w->members[1].grp, &tps),
              CG_PARTITIONS_GROWN, seed);
  TEST_EQ_INT(cg_duplicates(w), 0, seed);
  cg_close_all(w);
  cg_free(w);
}

/* auto_offset_reset latest: a new group skips what is already there and
 * reads what comes after it joined. */
static bool cg_got_after(cg_world *w) {
  for (int id = 300; id < w->produced; id++)
    if (w->got_by_id[id] == 0)
      return false;
  return true;
}

static void test_group_reset_latest(void) {
  uint64_t seed = test_seed() + 4;
  cg_world *w = cg_new(seed);
  w->offset_reset = KCLIENT_OFFSET_LATEST;
  cg_create_topic(w);
  cg_produce_wait(w, 300);
  cg_member_up(w, 0);
  CU_ASSERT_TRUE(cg_run_until(w, cg_group_settled, 60000));
  /* "latest" is resolved by a ListOffsets after the assignment: let it
   * answer before producing (as with Kafka, records produced meanwhile may
   * fall before the position). */
  sim_run_until(w->sim, sim_now_ns(w->sim) + 2000 * MS);
  cg_produce_wait(w, 60);
  CU_ASSERT_TRUE(cg_run_until(w, cg_got_after, 30000));
  TEST_EQ_INT(w->members[0].got, 60, seed);
  TEST_EQ_INT(cg_duplicates(w), 0, seed);
  cg_close_all(w);
  cg_free(w);
}

/* ---- codecs ---- */

static void test_group_codecs(void) {
  /* A subscription v1 (as Java sends): topics, user data, owned
   * partitions; the decoder reads the topics and skips the rest. */
  static const uint8_t sub_v1[] = {0,    1,    0,    0, 0,   2,   0,
                                   1,    'a',  0,    2, 'b', 'c', 0xff,
                                   0xff, 0xff, 0xff, 0, 0,   0,   0};
  char **topics = NULL;
  CU_ASSERT_EQUAL(kclient_subscription_decode(sub_v1, sizeof sub_v1, &topics),
                  0);
  CU_ASSERT_TRUE(topics && g_strv_length(topics) == 2 &&
                 strcmp(topics[0], "a") == 0 && strcmp(topics[1], "bc") == 0);
  g_strfreev(topics);
  /* Every truncation fails cleanly. */
  for (size_t len = 0; len < 11; len++)
    CU_ASSERT_EQUAL(kclient_subscription_decode(sub_v1, len, &topics), -EPROTO);
  static const uint8_t neg[] = {0, 0, 0xff, 0xff, 0xff, 0xff};
  CU_ASSERT_EQUAL(kclient_subscription_decode(neg, sizeof neg, &topics),
                  -EPROTO);

  static const uint8_t asg[] = {0, 0, 0, 0,    0,    1,    0,   1, 't',
                                0, 0, 0, 2,    0,    0,    0,   4, 0,
                                0, 0, 5, 0xff, 0xff, 0xff, 0xff};
  kclient_assignment a;
  CU_ASSERT_EQUAL(kclient_assignment_decode(asg, sizeof asg, &a), 0);
  TEST_EQ_INT(a.count, 2, 0);
  if (a.count == 2) {
    CU_ASSERT_STRING_EQUAL(a.tps[0].topic, "t");
    TEST_EQ_INT(a.tps[0].partition, 4, 0);
    TEST_EQ_INT(a.tps[1].partition, 5, 0);
  }
  kclient_assignment_free(&a);
  for (size_t len = 0; len < 21; len++) {
    CU_ASSERT_EQUAL(kclient_assignment_decode(asg, len, &a), -EPROTO);
    CU_ASSERT_EQUAL(a.count, 0);
  }
  static const uint8_t neg_part[] = {0, 0, 0, 0, 0,    1,    0,    1,   't',
                                     0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff};
  CU_ASSERT_EQUAL(kclient_assignment_decode(neg_part, sizeof neg_part, &a),
                  -EPROTO);
}

static void test_group_config_errors(void) {
  cg_world *w = cg_new(test_seed());
  static const char *const topics[] = {"t"};
  kclient_group_config cfg;
  kclient_group_config_default(&cfg);
  cfg.topics = topics;
  cfg.topic_count = 1;
  cfg.consumer.on_record = cg_on_record;
  char msg[KCLIENT_ERRMSG_BYTES];
  kclient_group_t *g = NULL;
  cfg.group_id = NULL;
  CU_ASSERT_EQUAL(kclient_group_new(w->pkc, &cfg, &g, msg), -EINVAL);
  CU_ASSERT_PTR_NULL(g);
  cfg.group_id = "g";
  cfg.heartbeat_interval_ms = cfg.session_timeout_ms;
  CU_ASSERT_EQUAL(kclient_group_new(w->pkc, &cfg, &g, msg), -EINVAL);
  cfg.heartbeat_interval_ms = 1000;
  cfg.auto_offset_reset = 5;
  CU_ASSERT_EQUAL(kclient_group_new(w->pkc, &cfg, &g, msg), -EINVAL);
  CU_ASSERT_TRUE(strlen(msg) > 0);
  cfg.auto_offset_reset = KCLIENT_OFFSET_LATEST;
  cfg.topic_count = 0;
  CU_ASSERT_EQUAL(kclient_group_new(w->pkc, &cfg, &g, msg), -EINVAL);
  CU_ASSERT_PTR_NULL(g);
  cg_free(w);
}

int suite_client_group(void) {
  TEST_SUITE("client_group", {"codecs", test_group_codecs},
             {"config_errors", test_group_config_errors},
             {"share", test_group_share}, {"resume", test_group_resume},
             {"crash_takeover", test_group_crash_takeover},
             {"topic_grows", test_group_topic_grows},
             {"reset_latest", test_group_reset_latest});
}
