/*
 * The group coordinator (broker/group/group.h) on the simulator's env: no
 * broker, no sockets. Timers (initial delay, rebalance and session
 * timeouts, answer delivery) run in virtual time, so every timeout is
 * checked to the millisecond and every run is reproducible.
 *
 * Cases walk every state transition (Empty -> PreparingRebalance ->
 * CompletingRebalance -> Stable, back to PreparingRebalance on a join, a
 * leave or an expiry, down to Empty) and every error answer
 * (MEMBER_ID_REQUIRED, UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION,
 * REBALANCE_IN_PROGRESS, INCONSISTENT_GROUP_PROTOCOL,
 * INVALID_SESSION_TIMEOUT, FENCED_INSTANCE_ID, COORDINATOR_LOAD_IN_PROGRESS,
 * NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND, GROUP_SUBSCRIBED_TO_TOPIC), offset
 * commits and fetches, replay of the records written, retention, and the
 * Java hash that picks the __consumer_offsets partition.
 */
#include <glib.h>
#include <string.h>

#include "base/env.h"
#include "broker/group/group.h"
#include "broker/kerr.h"
#include "sim/sim.h"
#include "tests/unit/testutil.h"

#define MS UINT64_C(1000000)

/* ------------------------------------------------------------- harness */

typedef struct node_ctx {
  env_t *env;
} node_ctx;

static void *node_start(env_t *env, void *config) {
  (void)config;
  node_ctx *n = g_new0(node_ctx, 1);
  n->env = env;
  return n;
}

static void node_stop(void *p) { g_free(p); }

static const env_node_ops node_ops = {"group-test", node_start, node_stop};

typedef struct gt {
  uint64_t seed;
  sim_t *sim;
  env_t *env;
  group_config cfg;
  group_coord *c;
  GPtrArray *keys;   /* GBytes* of every record written */
  GPtrArray *values; /* GBytes* (NULL for tombstones) */
  int append_error;  /* returned by the store when set */
} gt;

static int store_append(void *arg, int32_t partition, const group_record *recs,
                        size_t n) {
  gt *t = arg;
  CU_ASSERT(partition >= 0 && partition < t->cfg.offsets_partitions);
  if (t->append_error)
    return t->append_error;
  for (size_t i = 0; i < n; i++) {
    g_ptr_array_add(t->keys, g_bytes_new(recs[i].key, recs[i].key_len));
    g_ptr_array_add(
        t->values,
        recs[i].value ? g_bytes_new(recs[i].value, recs[i].value_len) : NULL);
  }
  return KERR_NONE;
}

static void gt_open_with(gt *t, int32_t initial_delay_ms) {
  memset(t, 0, sizeof *t);
  t->seed = test_seed();
  sim_options o;
  sim_options_default(&o, t->seed);
  t->sim = sim_new(&o);
  sim_node_t *n = sim_node_add(t->sim, "coord", &node_ops, NULL);
  sim_run_until(t->sim, sim_now_ns(t->sim) + MS);
  CU_ASSERT_TRUE_FATAL(sim_node_is_up(n));
  t->env = ((node_ctx *)sim_node_ctx(n))->env;
  group_config_default(&t->cfg);
  t->cfg.initial_rebalance_delay_ms = initial_delay_ms;
  t->cfg.offsets_retention_ms = 60000;
  t->cfg.offsets_retention_check_ms = 1000;
  t->keys = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
  t->values = g_ptr_array_new();
  group_store store = {store_append, t};
  t->c = group_coord_new(t->env, &t->cfg, &store);
  group_set_loaded(t->c);
}

static void gt_open(gt *t) { gt_open_with(t, 0); }

static void gt_close(gt *t) {
  group_coord_free(t->c);
  sim_free(t->sim);
  g_ptr_array_free(t->keys, TRUE);
  for (guint i = 0; i < t->values->len; i++)
    if (t->values->pdata[i])
      g_bytes_unref(t->values->pdata[i]);
  g_ptr_array_free(t->values, TRUE);
}

static void run_ms(gt *t, uint64_t ms) {
  sim_run_until(t->sim, sim_now_ns(t->sim) + ms * MS);
}

/* A join's answer, captured. */
typedef struct jr {
  bool done;
  int16_t error;
  int32_t generation;
  char member_id[256];
  char leader[256];
  char protocol[64];
  size_t members;
  group_waiter *w;
} jr;

static void on_join(void *arg, const group_join_resp *r) {
  jr *j = arg;
  CU_ASSERT_FALSE(j->done);
  j->done = true;
  j->error = r->error;
  j->generation = r->generation_id;
  g_strlcpy(j->member_id, r->member_id, sizeof j->member_id);
  g_strlcpy(j->leader, r->leader, sizeof j->leader);
  g_strlcpy(j->protocol, r->protocol_name ? r->protocol_name : "",
            sizeof j->protocol);
  j->members = r->member_count;
}

/* Consumer protocol subscription metadata for one topic. */
static const uint8_t SUB_T[] = {0, 1, 0, 0, 0, 1, 0, 1, 't', 0, 0, 0, 0};

typedef struct join_opts {
  int16_t version;
  const char *instance;
  const char *protocol;  /* default "range" */
  const char *protocol2; /* a second one, or NULL */
  const char *type;      /* default "consumer" */
  int32_t session_ms;    /* default 10000 */
  int32_t rebalance_ms;  /* default 30000 */
} join_opts;

static void join_start(gt *t, const char *group, const char *member,
                       const join_opts *o, jr *out) {
  memset(out, 0, sizeof *out);
  group_protocol ps[2] = {
      {o && o->protocol ? o->protocol : "range", SUB_T, sizeof SUB_T},
      {o && o->protocol2 ? o->protocol2 : "", SUB_T, sizeof SUB_T},
  };
  group_join_req r = {
      .version = o && o->version ? o->version : 5,
      .group_id = group,
      .member_id = member,
      .group_instance_id = o ? o->instance : NULL,
      .protocol_type = o && o->type ? o->type : "consumer",
      .client_id = "cli",
      .client_host = "/10.0.0.1",
      .session_timeout_ms = o && o->session_ms ? o->session_ms : 10000,
      .rebalance_timeout_ms = o && o->rebalance_ms ? o->rebalance_ms : 30000,
      .protocols = ps,
      .protocol_count = o && o->protocol2 ? 2 : 1,
  };
  out->w = group_join(t->c, &r, on_join, out);
}

/* A full first join of a dynamic member (v5: MEMBER_ID_REQUIRED, then the
 * join with the id); returns after the parked join was started. */
static void join_new(gt *t, const char *group, const join_opts *o, jr *out) {
  join_start(t, group, "", o, out);
  CU_ASSERT_TRUE(out->done);
  if (o && o->instance)
    return;
  TEST_EQ_INT(out->error, KERR_MEMBER_ID_REQUIRED, t->seed);
  char id[256];
  g_strlcpy(id, out->member_id, sizeof id);
  join_start(t, group, id, o, out);
  if (!out->done) /* parked: the id is known already */
    g_strlcpy(out->member_id, id, sizeof out->member_id);
}

typedef struct sr {
  bool done;
  int16_t error;
  char assignment[64];
} sr;

static void on_sync(void *arg, const group_sync_resp *r) {
  sr *s = arg;
  CU_ASSERT_FALSE(s->done);
  s->done = true;
  s->error = r->error;
  g_strlcpy(s->assignment, (const char *)r->assignment,
            MIN(sizeof s->assignment, r->assignment_len + 1));
}

static void sync_start(gt *t, const char *group, int32_t gen,
                       const char *member, const group_assignment *as, size_t n,
                       sr *out) {
  memset(out, 0, sizeof *out);
  group_sync_req r = {.group_id = group,
                      .generation_id = gen,
                      .member_id = member,
                      .assignments = as,
                      .assignment_count = n};
  (void)group_sync(t->c, &r, on_sync, out);
}

static group_assignment A(const char *member, const char *text) {
  return (group_assignment){member, (const uint8_t *)text, strlen(text)};
}

/* One member, joined and synced: Stable at generation 1. */
static void one_stable(gt *t, const char *group, jr *j) {
  join_new(t, group, NULL, j);
  run_ms(t, 1);
  CU_ASSERT_TRUE_FATAL(j->done);
  TEST_EQ_INT(j->error, KERR_NONE, t->seed);
  group_assignment a = A(j->member_id, "A");
  sr s;
  sync_start(t, group, j->generation, j->member_id, &a, 1, &s);
  run_ms(t, 1);
  CU_ASSERT_TRUE_FATAL(s.done);
  TEST_EQ_INT(s.error, KERR_NONE, t->seed);
  TEST_EQ_INT(group_get_state(t->c, group), GROUP_STABLE, t->seed);
}

/* --------------------------------------------------------------- cases */

static void test_partition_for(void) {
  /* abs(String.hashCode()) % 50, computed with Java's arithmetic. */
  TEST_EQ_INT(group_partition_for("my-group", 50), 12, 0);
  TEST_EQ_INT(group_partition_for("console-consumer-12345", 50), 6, 0);
  TEST_EQ_INT(group_partition_for("g", 50), 3, 0);
  TEST_EQ_INT(group_partition_for("rd-g", 50), 22, 0);
  TEST_EQ_INT(group_partition_for("", 50), 0, 0);
}

static void test_member_id_required(void) {
  gt t;
  gt_open(&t);
  jr j;
  join_start(&t, "g", "", NULL, &j);
  CU_ASSERT_TRUE(j.done); /* answered at once */
  TEST_EQ_INT(j.error, KERR_MEMBER_ID_REQUIRED, t.seed);
  CU_ASSERT_TRUE(g_str_has_prefix(j.member_id, "cli-"));
  TEST_EQ_INT(group_member_count(t.c, "g"), 0, t.seed);
  /* The id is accepted on the next join, which parks. */
  char id[256];
  g_strlcpy(id, j.member_id, sizeof id);
  join_start(&t, "g", id, NULL, &j);
  CU_ASSERT_FALSE(j.done);
  CU_ASSERT_PTR_NOT_NULL(j.w);
  run_ms(&t, 1);
  CU_ASSERT_TRUE(j.done);
  TEST_EQ_INT(j.error, KERR_NONE, t.seed);
  CU_ASSERT_STRING_EQUAL(j.member_id, id);
  CU_ASSERT_STRING_EQUAL(j.leader, id);
  TEST_EQ_INT(j.generation, 1, t.seed);
  TEST_EQ_INT(j.members, 1, t.seed);
  CU_ASSERT_STRING_EQUAL(j.protocol, "range");
  TEST_EQ_INT(group_get_state(t.c, "g"), GROUP_COMPLETING_REBALANCE, t.seed);
  /* An unknown made-up id is refused. */
  jr k;
  join_start(&t, "g", "made-up", NULL, &k);
  TEST_EQ_INT(k.error, KERR_UNKNOWN_MEMBER_ID, t.seed);
  /* Below v4 a member gets its id without the extra round trip. */
  join_opts v3 = {.version = 3};
  jr o;
  join_start(&t, "h", "", &v3, &o);
  CU_ASSERT_FALSE(o.done);
  run_ms(&t, 1);
  TEST_EQ_INT(o.error, KERR_NONE, t.seed);
  CU_ASSERT_TRUE(g_str_has_prefix(o.member_id, "cli-"));
  gt_close(&t);
}

static void test_sync_and_heartbeat(void) {
  gt t;
  gt_open(&t);
  jr j;
  join_new(&t, "g", NULL, &j);
  run_ms(&t, 1);
  /* Sync errors. */
  sr s;
  sync_start(&t, "g", j.generation + 1, j.member_id, NULL, 0, &s);
  TEST_EQ_INT(s.error, KERR_ILLEGAL_GENERATION, t.seed);
  sync_start(&t, "g", j.generation, "nobody", NULL, 0, &s);
  TEST_EQ_INT(s.error, KERR_UNKNOWN_MEMBER_ID, t.seed);
  sync_start(&t, "nogroup", 1, j.member_id, NULL, 0, &s);
  TEST_EQ_INT(s.error, KERR_UNKNOWN_MEMBER_ID, t.seed);
  /* Heartbeats while CompletingRebalance are fine. */
  TEST_EQ_INT(group_heartbeat(t.c, "g", j.generation, j.member_id, NULL),
              KERR_NONE, t.seed);
  group_assignment a = A(j.member_id, "parts-0-1");
  sync_start(&t, "g", j.generation, j.member_id, &a, 1, &s);
  CU_ASSERT_FALSE(s.done); /* answered from the delivery timer */
  run_ms(&t, 1);
  TEST_EQ_INT(s.error, KERR_NONE, t.seed);
  CU_ASSERT_STRING_EQUAL(s.assignment, "parts-0-1");
  TEST_EQ_INT(group_get_state(t.c, "g"), GROUP_STABLE, t.seed);
  /* A later sync in Stable returns the stored assignment at once. */
  sync_start(&t, "g", j.generation, j.member_id, NULL, 0, &s);
  CU_ASSERT_TRUE(s.done);
  CU_ASSERT_STRING_EQUAL(s.assignment, "parts-0-1");
  /* Heartbeat answers. */
  TEST_EQ_INT(group_heartbeat(t.c, "g", j.generation, j.member_id, NULL),
              KERR_NONE, t.seed);
  TEST_EQ_INT(group_heartbeat(t.c, "g", j.generation - 1, j.member_id, NULL),
              KERR_ILLEGAL_GENERATION, t.seed);
  TEST_EQ_INT(group_heartbeat(t.c, "g", j.generation, "nobody", NULL),
              KERR_UNKNOWN_MEMBER_ID, t.seed);
  TEST_EQ_INT(group_heartbeat(t.c, "nogroup", 1, "x", NULL),
              KERR_UNKNOWN_MEMBER_ID, t.seed);
  TEST_EQ_INT(group_heartbeat(t.c, "", 1, "x", NULL), KERR_INVALID_GROUP_ID,
              t.seed);
  /* A group's metadata record was written with the assignment. */
  CU_ASSERT(t.keys->len >= 1);
  gt_close(&t);
}

static void test_rebalance_two_members(void) {
  gt t;
  gt_open(&t);
  jr a;
  one_stable(&t, "g", &a);
  int32_t gen1 = a.generation;
  /* B joins: the group prepares a rebalance and B's join parks. */
  jr b;
  join_new(&t, "g", NULL, &b);
  CU_ASSERT_FALSE(b.done);
  TEST_EQ_INT(group_get_state(t.c, "g"), GROUP_PREPARING_REBALANCE, t.seed);
  /* A learns of it from its heartbeat; a sync now is refused; a commit of
   * the ending generation is still accepted. */
  TEST_EQ_INT(group_heartbeat(t.c, "g", gen1, a.member_id, NULL),
              KERR_REBALANCE_IN_PROGRESS, t.seed);
  sr s;
  sync_start(&t, "g", gen1, a.member_id, NULL, 0, &s);
  TEST_EQ_INT(s.error, KERR_REBALANCE_IN_PROGRESS, t.seed);
  group_offset_commit oc = {"t", 0, 5, -1, NULL, 0};
  TEST_EQ_INT(
      group_offset_commit_many(t.c, "g", gen1, a.member_id, NULL, &oc, 1),
      KERR_NONE, t.seed);
  /* A rejoins: both get generation 2; the leader (A, kept) gets both
   * members' metadata, the follower none. */
  char a_id[256];
  g_strlcpy(a_id, a.member_id, sizeof a_id);
  join_start(&t, "g", a_id, NULL, &a);
  run_ms(&t, 1);
  CU_ASSERT_TRUE(a.done && b.done);
  TEST_EQ_INT(a.generation, gen1 + 1, t.seed);
  TEST_EQ_INT(b.generation, gen1 + 1, t.seed);
  CU_ASSERT_STRING_EQUAL(a.leader, a_id);
  CU_ASSERT_STRING_EQUAL(b.leader, a_id);
  TEST_EQ_INT(a.members, 2, t.seed);
  TEST_EQ_INT(b.members, 0, t.seed);
  TEST_EQ_INT(group_get_state(t.c, "g"), GROUP_COMPLETING_REBALANCE, t.seed);
  /* Commits during CompletingRebalance are refused. */
  TEST_EQ_INT(group_offset_commit_many(t.c, "g", a.generation, a.member_id,
                                       NULL, &oc, 1),
              KERR_REBALANCE_IN_PROGRESS, t.seed);
  /* The follower's sync waits for the leader's. */
  sr sb, sa;
  sync_start(&t, "g", b.generation, b.member_id, NULL, 0, &sb);
  run_ms(&t, 100);
  CU_ASSERT_FALSE(sb.done);
  group_assignment as[2] = {A(a_id, "to-a"), A(b.member_id, "to-b")};
  sync_start(&t, "g", a.generation, a_id, as, 2, &sa);
  run_ms(&t, 1);
  CU_ASSERT_TRUE(sa.done && sb.done);
  CU_ASSERT_STRING_EQUAL(sa.assignment, "to-a");
  CU_ASSERT_STRING_EQUAL(sb.assignment, "to-b");
  TEST_EQ_INT(group_get_state(t.c, "g"), GROUP_STABLE, t.seed);
  /* An unchanged rejoin of the follower in Stable keeps the generation. */
  jr again;
  join_start(&t, "g", b.member_id, NULL, &again);
  run_ms(&t, 1);
  TEST_EQ_INT(again.error, KERR_NONE, t.seed);
  TEST_EQ_INT(again.generation, a.generation, t.seed);
  TEST_EQ_INT(group_get_state(t.c, "g"), GROUP_STABLE, t.seed);
  gt_close(&t);
}

static void test_completing_interrupted(void) {
  gt t;
  gt_open(&t);
  jr a;
  one_stable(&t, "g", &a);
  char a_id[256];
  g_strlcpy(a_id, a.member_id, sizeof a_id);
  jr b;
  join_new(&t, "g", NULL, &b);
  join_start(&t, "g", a_id, NULL, &a);
  run_ms(&t, 1);
  TEST_EQ_INT(group_get_state(t.c, "g"), GROUP_COMPLETING_REBALANCE, t.seed);
  /* B's sync parks; then C joins before the leader syncs: the generation
   * is abandoned and B's parked sync gets REBALANCE_IN_PROGRESS. */
  sr sb;
  sync_start(&t, "g", b.generation, b.member_id, NULL, 0, &sb);
  run_ms(&t, 1);
  CU_ASSERT_FALSE(sb.done);
  jr c;
  join_new(&t, "g", NULL, &c);
  TEST_EQ_INT(group_get_state(t.c, "g"), GROUP_PREPARING_REBALANCE, t.seed);
  run_ms(&t, 1);
  CU_ASSERT_TRUE(sb.done);
  TEST_EQ_INT(sb.error, KERR_REBALANCE_IN_PROGRESS, t.seed);
  /* Everyone leaves while PreparingRebalance: C's parked join is answered
   * UNKNOWN_MEMBER_ID and the group ends Empty with a new generation. */
  int32_t gen = group_get_generation(t.c, "g");
  group_leave_member ls[3] = {
      {c.member_id, NULL, 0}, {a_id, NULL, 0}, {b.member_id, NULL, 0}};
  TEST_EQ_INT(group_leave(t.c, "g", ls, 3), KERR_NONE, t.seed);
  run_ms(&t, 1);
  CU_ASSERT_TRUE(c.done);
  TEST_EQ_INT(c.error, KERR_UNKNOWN_MEMBER_ID, t.seed);
  TEST_EQ_INT(group_get_state(t.c, "g"), GROUP_EMPTY, t.seed);
  TEST_EQ_INT(group_get_generation(t.c, "g"), gen + 1, t.seed);
  /* Empty: heartbeats and syncs of the old members are unknown. */
  TEST_EQ_INT(group_heartbeat(t.c, "g", gen, a_id, NULL),
              KERR_UNKNOWN_MEMBER_ID, t.seed);
  gt_close(&t);
}

static void test_session_expiry(void) {
  gt t;
  gt_open(&t);
  jr a;
  one_stable(&t, "g", &a);
  jr b;
  join_new(&t, "g", NULL, &b);
  char a_id[256];
  g_strlcpy(a_id, a.member_id, sizeof a_id);
  join_start(&t, "g", a_id, NULL, &a);
  run_ms(&t, 1);
  group_assignment as[2] = {A(a_id, "x"), A(b.member_id, "y")};
  sr sa, sb;
  sync_start(&t, "g", a.generation, a_id, as, 2, &sa);
  sync_start(&t, "g", b.generation, b.member_id, NULL, 0, &sb);
  run_ms(&t, 1);
  TEST_EQ_INT(group_get_state(t.c, "g"), GROUP_STABLE, t.seed);
  /* A heartbeats every 3 s, B never: B expires after its 10 s. */
  int32_t gen = a.generation;
  for (int i = 0; i < 3; i++) {
    run_ms(&t, 3000);
    TEST_EQ_INT(group_heartbeat(t.c, "g", gen, a_id, NULL), KERR_NONE, t.seed);
  }
  TEST_EQ_INT(group_member_count(t.c, "g"), 2, t.seed);
  run_ms(&t, 1100);
  TEST_EQ_INT(group_member_count(t.c, "g"), 1, t.seed);
  TEST_EQ_INT(group_get_state(t.c, "g"), GROUP_PREPARING_REBALANCE, t.seed);
  TEST_EQ_INT(group_heartbeat(t.c, "g", gen, b.member_id, NULL),
              KERR_UNKNOWN_MEMBER_ID, t.seed);
  TEST_EQ_INT(group_heartbeat(t.c, "g", gen, a_id, NULL),
              KERR_REBALANCE_IN_PROGRESS, t.seed);
  join_start(&t, "g", a_id, NULL, &a);
  run_ms(&t, 1);
  TEST_EQ_INT(a.generation, gen + 1, t.seed);
  TEST_EQ_INT(a.members, 1, t.seed);
  /* A now stops too: the group ends Empty. */
  run_ms(&t, 10001);
  TEST_EQ_INT(group_member_count(t.c, "g"), 0, t.seed);
  TEST_EQ_INT(group_get_state(t.c, "g"), GROUP_EMPTY, t.seed);
  gt_close(&t);
}

static void test_rebalance_timeout(void) {
  gt t;
  gt_open(&t);
  jr a;
  one_stable(&t, "g", &a);
  char a_id[256];
  g_strlcpy(a_id, a.member_id, sizeof a_id);
  int32_t gen = a.generation;
  /* B joins with a 5 s rebalance timeout; A keeps heartbeating but never
   * rejoins: after the rebalance timeout (the largest: A's 30 s) A is
   * dropped and B completes alone. */
  join_opts o = {.rebalance_ms = 5000};
  jr b;
  join_new(&t, "g", &o, &b);
  for (int i = 0; i < 9; i++) {
    run_ms(&t, 3000);
    TEST_EQ_INT(group_heartbeat(t.c, "g", gen, a_id, NULL),
                KERR_REBALANCE_IN_PROGRESS, t.seed);
    CU_ASSERT_FALSE(b.done);
  }
  run_ms(&t, 3001);
  CU_ASSERT_TRUE(b.done);
  TEST_EQ_INT(b.error, KERR_NONE, t.seed);
  TEST_EQ_INT(b.members, 1, t.seed); /* B leads alone */
  CU_ASSERT_STRING_EQUAL(b.leader, b.member_id);
  TEST_EQ_INT(group_heartbeat(t.c, "g", gen, a_id, NULL),
              KERR_UNKNOWN_MEMBER_ID, t.seed);
  gt_close(&t);
}

static void test_initial_delay(void) {
  gt t;
  gt_open_with(&t, 3000);
  jr a, b;
  join_new(&t, "g", NULL, &a);
  run_ms(&t, 1000);
  CU_ASSERT_FALSE(a.done);
  join_new(&t, "g", NULL, &b);
  run_ms(&t, 1000);
  CU_ASSERT_FALSE(a.done || b.done);
  run_ms(&t, 1001);
  CU_ASSERT_TRUE(a.done && b.done);
  TEST_EQ_INT(a.generation, 1, t.seed); /* one generation for both */
  TEST_EQ_INT(b.generation, 1, t.seed);
  gt_close(&t);
}

static void test_leave(void) {
  gt t;
  gt_open(&t);
  jr a;
  one_stable(&t, "g", &a);
  group_leave_member lm = {"nobody", NULL, 0};
  TEST_EQ_INT(group_leave(t.c, "g", &lm, 1), KERR_NONE, t.seed);
  TEST_EQ_INT(lm.error, KERR_UNKNOWN_MEMBER_ID, t.seed);
  group_leave_member none = {"x", NULL, 0};
  TEST_EQ_INT(group_leave(t.c, "nogroup", &none, 1), KERR_UNKNOWN_MEMBER_ID,
              t.seed);
  lm.member_id = a.member_id;
  TEST_EQ_INT(group_leave(t.c, "g", &lm, 1), KERR_NONE, t.seed);
  TEST_EQ_INT(lm.error, KERR_NONE, t.seed);
  TEST_EQ_INT(group_get_state(t.c, "g"), GROUP_EMPTY, t.seed);
  TEST_EQ_INT(group_get_generation(t.c, "g"), a.generation + 1, t.seed);
  /* Batch leave (v3+) of static members by instance id. */
  join_opts s1 = {.instance = "i1"}, s2 = {.instance = "i2"};
  jr x, y;
  join_start(&t, "g", "", &s1, &x);
  run_ms(&t, 1);
  CU_ASSERT_TRUE(x.done);
  join_start(&t, "g", "", &s2, &y);
  char x_id[256];
  g_strlcpy(x_id, x.member_id, sizeof x_id);
  join_start(&t, "g", x_id, &s1, &x);
  run_ms(&t, 1);
  CU_ASSERT_TRUE(x.done && y.done);
  TEST_EQ_INT(group_member_count(t.c, "g"), 2, t.seed);
  group_leave_member batch[3] = {
      {"", "i1", 0}, {"wrong-id", "i2", 0}, {"", "i3", 0}};
  TEST_EQ_INT(group_leave(t.c, "g", batch, 3), KERR_NONE, t.seed);
  TEST_EQ_INT(batch[0].error, KERR_NONE, t.seed);
  TEST_EQ_INT(batch[1].error, KERR_FENCED_INSTANCE_ID, t.seed);
  TEST_EQ_INT(batch[2].error, KERR_UNKNOWN_MEMBER_ID, t.seed);
  TEST_EQ_INT(group_member_count(t.c, "g"), 1, t.seed);
  gt_close(&t);
}

static void test_static_membership(void) {
  gt t;
  gt_open(&t);
  /* B (dynamic) leads; then the static member joins. */
  jr b;
  one_stable(&t, "g", &b);
  char b_id[256];
  g_strlcpy(b_id, b.member_id, sizeof b_id);
  join_opts s = {.instance = "inst-1"};
  jr a;
  join_start(&t, "g", "", &s, &a); /* no MEMBER_ID_REQUIRED for static */
  CU_ASSERT_FALSE(a.done);
  join_start(&t, "g", b_id, NULL, &b);
  run_ms(&t, 1);
  TEST_EQ_INT(a.error, KERR_NONE, t.seed);
  CU_ASSERT_STRING_EQUAL(a.leader, b_id);
  char old_id[256];
  g_strlcpy(old_id, a.member_id, sizeof old_id);
  group_assignment as2[2] = {A(old_id, "mine"), A(b_id, "theirs")};
  sr sa, sb;
  sync_start(&t, "g", a.generation, old_id, NULL, 0, &sa);
  sync_start(&t, "g", b.generation, b_id, as2, 2, &sb);
  run_ms(&t, 1);
  CU_ASSERT_STRING_EQUAL(sa.assignment, "mine");
  TEST_EQ_INT(group_get_state(t.c, "g"), GROUP_STABLE, t.seed);
  int32_t gen = a.generation;
  /* The leader B stays; the static member restarts (new process, no id):
   * it gets a new id, the same generation (no rebalance: a follower with
   * unchanged metadata), and the old id is fenced. */
  jr r;
  join_start(&t, "g", "", &s, &r);
  run_ms(&t, 1);
  TEST_EQ_INT(r.error, KERR_NONE, t.seed);
  CU_ASSERT_STRING_NOT_EQUAL(r.member_id, old_id);
  TEST_EQ_INT(r.generation, gen, t.seed);
  TEST_EQ_INT(group_get_state(t.c, "g"), GROUP_STABLE, t.seed);
  TEST_EQ_INT(group_heartbeat(t.c, "g", gen, old_id, "inst-1"),
              KERR_FENCED_INSTANCE_ID, t.seed);
  TEST_EQ_INT(group_heartbeat(t.c, "g", gen, r.member_id, "inst-1"), KERR_NONE,
              t.seed);
  sync_start(&t, "g", gen, r.member_id, NULL, 0, &sa);
  CU_ASSERT_STRING_EQUAL(sa.assignment, "mine");
  group_offset_commit oc = {"t", 0, 1, -1, NULL, 0};
  TEST_EQ_INT(group_offset_commit_many(t.c, "g", gen, old_id, "inst-1", &oc, 1),
              KERR_FENCED_INSTANCE_ID, t.seed);
  jr f;
  join_start(&t, "g", old_id, &s, &f);
  TEST_EQ_INT(f.error, KERR_FENCED_INSTANCE_ID, t.seed);
  gt_close(&t);
}

static void test_protocol_errors(void) {
  gt t;
  gt_open(&t);
  jr a;
  one_stable(&t, "g", &a);
  join_opts other = {.protocol = "roundrobin"};
  jr b;
  join_start(&t, "g", "", &other, &b);
  TEST_EQ_INT(b.error, KERR_INCONSISTENT_GROUP_PROTOCOL, t.seed);
  join_opts type = {.type = "connect"};
  join_start(&t, "g", "", &type, &b);
  TEST_EQ_INT(b.error, KERR_INCONSISTENT_GROUP_PROTOCOL, t.seed);
  join_opts empty_type = {.type = ""};
  join_start(&t, "h", "", &empty_type, &b);
  TEST_EQ_INT(b.error, KERR_INCONSISTENT_GROUP_PROTOCOL, t.seed);
  join_opts short_session = {.session_ms = 100};
  join_start(&t, "g", "", &short_session, &b);
  TEST_EQ_INT(b.error, KERR_INVALID_SESSION_TIMEOUT, t.seed);
  join_opts long_session = {.session_ms = 1800001};
  join_start(&t, "g", "", &long_session, &b);
  TEST_EQ_INT(b.error, KERR_INVALID_SESSION_TIMEOUT, t.seed);
  join_start(&t, "", "", NULL, &b);
  TEST_EQ_INT(b.error, KERR_INVALID_GROUP_ID, t.seed);
  /* Two protocols, one shared: accepted, and the shared one is chosen. */
  join_opts both = {.protocol = "roundrobin", .protocol2 = "range"};
  join_new(&t, "g", &both, &b);
  char a_id[256];
  g_strlcpy(a_id, a.member_id, sizeof a_id);
  join_start(&t, "g", a_id, NULL, &a);
  run_ms(&t, 1);
  TEST_EQ_INT(b.error, KERR_NONE, t.seed);
  CU_ASSERT_STRING_EQUAL(b.protocol, "range");
  gt_close(&t);
}

static void test_load_in_progress(void) {
  gt t;
  memset(&t, 0, sizeof t);
  sim_options o;
  sim_options_default(&o, 1);
  t.sim = sim_new(&o);
  sim_node_t *n = sim_node_add(t.sim, "coord", &node_ops, NULL);
  sim_run_until(t.sim, sim_now_ns(t.sim) + MS);
  t.env = ((node_ctx *)sim_node_ctx(n))->env;
  group_config_default(&t.cfg);
  t.keys = g_ptr_array_new();
  t.values = g_ptr_array_new();
  t.c = group_coord_new(t.env, &t.cfg, NULL);
  jr j;
  join_start(&t, "g", "", NULL, &j);
  TEST_EQ_INT(j.error, KERR_COORDINATOR_LOAD_IN_PROGRESS, 1);
  sr s;
  sync_start(&t, "g", 1, "m", NULL, 0, &s);
  TEST_EQ_INT(s.error, KERR_COORDINATOR_LOAD_IN_PROGRESS, 1);
  TEST_EQ_INT(group_heartbeat(t.c, "g", 1, "m", NULL),
              KERR_COORDINATOR_LOAD_IN_PROGRESS, 1);
  group_offset o1 = {"t", 0, 0, 0, NULL, 0};
  TEST_EQ_INT(group_offset_fetch(t.c, "g", &o1, 1),
              KERR_COORDINATOR_LOAD_IN_PROGRESS, 1);
  group_offset_commit oc = {"t", 0, 1, -1, NULL, 0};
  TEST_EQ_INT(group_offset_commit_many(t.c, "g", -1, "", NULL, &oc, 1),
              KERR_COORDINATOR_LOAD_IN_PROGRESS, 1);
  TEST_EQ_INT(oc.error, KERR_COORDINATOR_LOAD_IN_PROGRESS, 1);
  group_set_loaded(t.c);
  CU_ASSERT_TRUE(group_loaded(t.c));
  TEST_EQ_INT(group_heartbeat(t.c, "g", 1, "m", NULL), KERR_UNKNOWN_MEMBER_ID,
              1);
  gt_close(&t);
}

static void test_offsets(void) {
  gt t;
  gt_open(&t);
  /* Standalone commits (generation -1) create the group. */
  group_offset_commit oc[3] = {{"b", 1, 10, 3, "meta", 0},
                               {"a", 0, 7, -1, NULL, 0},
                               {"b", 0, 9, -1, NULL, 0}};
  TEST_EQ_INT(group_offset_commit_many(t.c, "s", -1, "", NULL, oc, 3),
              KERR_NONE, t.seed);
  for (int i = 0; i < 3; i++)
    TEST_EQ_INT(oc[i].error, KERR_NONE, t.seed);
  group_offset f[2] = {{"b", 1, 0, 0, NULL, 0}, {"b", 5, 0, 0, NULL, 0}};
  TEST_EQ_INT(group_offset_fetch(t.c, "s", f, 2), KERR_NONE, t.seed);
  TEST_EQ_INT(f[0].offset, 10, t.seed);
  TEST_EQ_INT(f[0].leader_epoch, 3, t.seed);
  CU_ASSERT_STRING_EQUAL(f[0].metadata, "meta");
  TEST_EQ_INT(f[1].offset, -1, t.seed);
  group_offset *all = NULL;
  size_t n = 0;
  TEST_EQ_INT(group_offset_fetch_all(t.c, "s", &all, &n), KERR_NONE, t.seed);
  TEST_EQ_INT(n, 3, t.seed);
  if (n == 3) { /* sorted by topic, partition */
    CU_ASSERT_STRING_EQUAL(all[0].topic, "a");
    CU_ASSERT_STRING_EQUAL(all[1].topic, "b");
    TEST_EQ_INT(all[1].partition, 0, t.seed);
    TEST_EQ_INT(all[2].partition, 1, t.seed);
  }
  g_free(all);
  /* An unknown group: offsets -1, no error. */
  TEST_EQ_INT(group_offset_fetch(t.c, "nobody", f, 1), KERR_NONE, t.seed);
  TEST_EQ_INT(f[0].offset, -1, t.seed);
  /* A generation without a group; a member unknown to a live group. */
  group_offset_commit one = {"a", 0, 1, -1, NULL, 0};
  TEST_EQ_INT(group_offset_commit_many(t.c, "nogroup", 3, "m", NULL, &one, 1),
              KERR_ILLEGAL_GENERATION, t.seed);
  jr a;
  one_stable(&t, "g", &a);
  TEST_EQ_INT(
      group_offset_commit_many(t.c, "g", a.generation, "who", NULL, &one, 1),
      KERR_UNKNOWN_MEMBER_ID, t.seed);
  TEST_EQ_INT(group_offset_commit_many(t.c, "g", a.generation + 5, a.member_id,
                                       NULL, &one, 1),
              KERR_ILLEGAL_GENERATION, t.seed);
  TEST_EQ_INT(group_offset_commit_many(t.c, "g", -1, "", NULL, &one, 1),
              KERR_UNKNOWN_MEMBER_ID, t.seed);
  TEST_EQ_INT(group_offset_commit_many(t.c, "g", a.generation, a.member_id,
                                       NULL, &one, 1),
              KERR_NONE, t.seed);
  /* Metadata too large for one partition only. */
  char *big = g_strnfill(GROUP_OFFSET_METADATA_BYTES_MAX + 1, 'm');
  group_offset_commit two[2] = {{"a", 0, 2, -1, big, 0},
                                {"a", 1, 2, -1, NULL, 0}};
  TEST_EQ_INT(group_offset_commit_many(t.c, "g", a.generation, a.member_id,
                                       NULL, two, 2),
              KERR_NONE, t.seed);
  TEST_EQ_INT(two[0].error, 12, t.seed); /* OFFSET_METADATA_TOO_LARGE */
  TEST_EQ_INT(two[1].error, KERR_NONE, t.seed);
  g_free(big);
  /* A store failure fails the commit and changes nothing. */
  t.append_error = KERR_NOT_COORDINATOR;
  group_offset_commit three = {"a", 0, 99, -1, NULL, 0};
  TEST_EQ_INT(group_offset_commit_many(t.c, "g", a.generation, a.member_id,
                                       NULL, &three, 1),
              KERR_NONE, t.seed);
  TEST_EQ_INT(three.error, KERR_NOT_COORDINATOR, t.seed);
  t.append_error = 0;
  group_offset g1 = {"a", 0, 0, 0, NULL, 0};
  TEST_EQ_INT(group_offset_fetch(t.c, "g", &g1, 1), KERR_NONE, t.seed);
  TEST_EQ_INT(g1.offset, 1, t.seed);
  gt_close(&t);
}

static void test_replay(void) {
  gt t;
  gt_open(&t);
  jr a;
  one_stable(&t, "g", &a);
  group_offset_commit oc[2] = {{"t", 0, 42, 1, "m", 0},
                               {"t", 1, 43, -1, NULL, 0}};
  TEST_EQ_INT(group_offset_commit_many(t.c, "g", a.generation, a.member_id,
                                       NULL, oc, 2),
              KERR_NONE, t.seed);
  group_offset_commit x = {"u", 0, 5, -1, NULL, 0};
  TEST_EQ_INT(group_offset_commit_many(t.c, "gone", -1, "", NULL, &x, 1),
              KERR_NONE, t.seed);
  TEST_EQ_INT(group_delete(t.c, "gone"), KERR_NONE, t.seed);
  /* A second coordinator reads the records back. */
  group_coord *c2 = group_coord_new(t.env, &t.cfg, NULL);
  for (guint i = 0; i < t.keys->len; i++) {
    gsize kl = 0, vl = 0;
    const uint8_t *k = g_bytes_get_data(t.keys->pdata[i], &kl);
    GBytes *v = t.values->pdata[i];
    const uint8_t *vd = v ? g_bytes_get_data(v, &vl) : NULL;
    CU_ASSERT_TRUE(group_replay(c2, k, kl, vd, vl, v == NULL));
  }
  CU_ASSERT_FALSE(
      group_replay(c2, (const uint8_t *)"\x00\x09", 2, NULL, 0, true));
  group_set_loaded(c2);
  group_offset f[2] = {{"t", 0, 0, 0, NULL, 0}, {"t", 1, 0, 0, NULL, 0}};
  TEST_EQ_INT(group_offset_fetch(c2, "g", f, 2), KERR_NONE, t.seed);
  TEST_EQ_INT(f[0].offset, 42, t.seed);
  TEST_EQ_INT(f[0].leader_epoch, 1, t.seed);
  CU_ASSERT_STRING_EQUAL(f[0].metadata, "m");
  TEST_EQ_INT(f[1].offset, 43, t.seed);
  TEST_EQ_INT(group_get_generation(c2, "g"), a.generation, t.seed);
  TEST_EQ_INT(group_get_state(c2, "g"), GROUP_EMPTY, t.seed);
  TEST_EQ_INT(group_get_state(c2, "gone"), GROUP_DEAD, t.seed);
  /* Members are not restored: the old member rejoins as unknown. */
  TEST_EQ_INT(group_heartbeat(c2, "g", a.generation, a.member_id, NULL),
              KERR_UNKNOWN_MEMBER_ID, t.seed);
  group_coord_free(c2);
  gt_close(&t);
}

static void test_admin(void) {
  gt t;
  gt_open(&t);
  jr a;
  one_stable(&t, "zeta", &a);
  group_offset_commit oc = {"t", 0, 1, -1, NULL, 0};
  TEST_EQ_INT(group_offset_commit_many(t.c, "alpha", -1, "", NULL, &oc, 1),
              KERR_NONE, t.seed);
  group_listing *ls = NULL;
  size_t n = 0;
  TEST_EQ_INT(group_list(t.c, &ls, &n), KERR_NONE, t.seed);
  TEST_EQ_INT(n, 2, t.seed);
  if (n == 2) {
    CU_ASSERT_STRING_EQUAL(ls[0].group_id, "alpha");
    CU_ASSERT_STRING_EQUAL(ls[1].group_id, "zeta");
    TEST_EQ_INT(ls[1].state, GROUP_STABLE, t.seed);
    CU_ASSERT_STRING_EQUAL(ls[1].protocol_type, "consumer");
  }
  g_free(ls);
  group_desc d;
  group_describe(t.c, "zeta", &d);
  TEST_EQ_INT(d.error, KERR_NONE, t.seed);
  CU_ASSERT_STRING_EQUAL(group_state_name(d.state), "Stable");
  CU_ASSERT_STRING_EQUAL(d.protocol_name, "range");
  TEST_EQ_INT(d.member_count, 1, t.seed);
  if (d.member_count == 1) {
    CU_ASSERT_STRING_EQUAL(d.members[0].client_host, "/10.0.0.1");
    TEST_EQ_INT(d.members[0].assignment_len, 1, t.seed);
    TEST_EQ_INT(d.members[0].metadata_len, sizeof SUB_T, t.seed);
  }
  g_free(d.members);
  group_describe(t.c, "nobody", &d);
  TEST_EQ_INT(d.error, KERR_NONE, t.seed);
  TEST_EQ_INT(d.state, GROUP_DEAD, t.seed);
  g_free(d.members);
  /* DeleteGroups. */
  TEST_EQ_INT(group_delete(t.c, "zeta"), KERR_NON_EMPTY_GROUP, t.seed);
  TEST_EQ_INT(group_delete(t.c, "nobody"), KERR_GROUP_ID_NOT_FOUND, t.seed);
  TEST_EQ_INT(group_delete(t.c, "alpha"), KERR_NONE, t.seed);
  TEST_EQ_INT(group_count(t.c), 1, t.seed);
  /* OffsetDelete: the live group subscribes to "t" (SUB_T). */
  group_offset_commit two[2] = {{"t", 0, 1, -1, NULL, 0},
                                {"old", 0, 1, -1, NULL, 0}};
  TEST_EQ_INT(group_offset_commit_many(t.c, "zeta", a.generation, a.member_id,
                                       NULL, two, 2),
              KERR_NONE, t.seed);
  group_offset_delete dels[2] = {{"t", 0, 0}, {"old", 0, 0}};
  TEST_EQ_INT(group_offset_delete_many(t.c, "zeta", dels, 2), KERR_NONE,
              t.seed);
  TEST_EQ_INT(dels[0].error, KERR_GROUP_SUBSCRIBED_TO_TOPIC, t.seed);
  TEST_EQ_INT(dels[1].error, KERR_NONE, t.seed);
  group_offset f = {"old", 0, 0, 0, NULL, 0};
  TEST_EQ_INT(group_offset_fetch(t.c, "zeta", &f, 1), KERR_NONE, t.seed);
  TEST_EQ_INT(f.offset, -1, t.seed);
  TEST_EQ_INT(group_offset_delete_many(t.c, "nobody", dels, 1),
              KERR_GROUP_ID_NOT_FOUND, t.seed);
  gt_close(&t);
}

static void test_retention(void) {
  gt t;
  gt_open(&t); /* retention 60 s, checked every second */
  group_offset_commit oc = {"t", 0, 1, -1, NULL, 0};
  TEST_EQ_INT(group_offset_commit_many(t.c, "s", -1, "", NULL, &oc, 1),
              KERR_NONE, t.seed);
  jr a;
  one_stable(&t, "live", &a);
  TEST_EQ_INT(group_offset_commit_many(t.c, "live", a.generation, a.member_id,
                                       NULL, &oc, 1),
              KERR_NONE, t.seed);
  jr e;
  one_stable(&t, "emptied", &e);
  group_leave_member lm = {e.member_id, NULL, 0};
  TEST_EQ_INT(group_leave(t.c, "emptied", &lm, 1), KERR_NONE, t.seed);
  TEST_EQ_INT(group_get_state(t.c, "emptied"), GROUP_EMPTY, t.seed);
  for (int i = 0; i < 25; i++) { /* 75 s of heartbeats */
    run_ms(&t, 3000);
    TEST_EQ_INT(group_heartbeat(t.c, "live", a.generation, a.member_id, NULL),
                KERR_NONE, t.seed);
  }
  /* The empty group's offsets expired and it is forgotten; the live
   * group keeps its offsets. */
  TEST_EQ_INT(group_get_state(t.c, "s"), GROUP_DEAD, t.seed);
  TEST_EQ_INT(group_get_state(t.c, "emptied"), GROUP_DEAD, t.seed);
  group_offset f = {"t", 0, 0, 0, NULL, 0};
  TEST_EQ_INT(group_offset_fetch(t.c, "live", &f, 1), KERR_NONE, t.seed);
  TEST_EQ_INT(f.offset, 1, t.seed);
  gt_close(&t);
}

static void test_waiter_cancel(void) {
  gt t;
  gt_open(&t);
  jr a, b;
  one_stable(&t, "g", &a);
  join_new(&t, "g", NULL, &b);
  CU_ASSERT_PTR_NOT_NULL_FATAL(b.w);
  group_waiter_cancel(b.w); /* the client went away */
  char a_id[256];
  g_strlcpy(a_id, a.member_id, sizeof a_id);
  join_start(&t, "g", a_id, NULL, &a);
  run_ms(&t, 31000);
  CU_ASSERT_FALSE(b.done); /* never called */
  CU_ASSERT_TRUE(a.done);
  /* A coordinator freed with parked joins answers nobody. */
  jr c;
  join_new(&t, "g", NULL, &c);
  CU_ASSERT_FALSE(c.done);
  gt_close(&t);
}

int suite_group(void) {
  TEST_SUITE("group", {"partition_for", test_partition_for},
             {"member_id_required", test_member_id_required},
             {"sync_and_heartbeat", test_sync_and_heartbeat},
             {"rebalance_two_members", test_rebalance_two_members},
             {"completing_interrupted", test_completing_interrupted},
             {"session_expiry", test_session_expiry},
             {"rebalance_timeout", test_rebalance_timeout},
             {"initial_delay", test_initial_delay}, {"leave", test_leave},
             {"static_membership", test_static_membership},
             {"protocol_errors", test_protocol_errors},
             {"load_in_progress", test_load_in_progress},
             {"offsets", test_offsets}, {"replay", test_replay},
             {"admin", test_admin}, {"retention", test_retention},
             {"waiter_cancel", test_waiter_cancel});
}
