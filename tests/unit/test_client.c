/*
 * test_client.c — the Kafka client (broker/client/) against fake brokers
 * (test_client_fake.h) in the simulator.
 *
 * Each test builds a small world: fake brokers b1..bN sharing one cluster
 * state, and a client node c1 whose start runs the test's script on the
 * client. The simulator's virtual clock makes timing assertions exact
 * (linger, long polls, timeouts) and every run replayable from its seed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "broker/client/client.h"
#include "broker/kerr.h"
#include "broker/proto/proto.h"
#include "sim/sim.h"
#include "tests/unit/test_client_fake.h"
#include "tests/unit/testutil.h"

#define MS UINT64_C(1000000)
#define SEC (1000 * MS)
#define TW_BROKERS_MAX 3
#define TW_RECORDS_MAX 20000

typedef struct tw tw;

typedef struct tw_rec {
  tw *w;
  int id;
  int32_t partition; /* as delivered */
  int64_t offset;
  int err;
  int deliveries;
} tw_rec;

typedef struct tw_got {
  int32_t partition;
  int64_t offset;
  char *key;
  char *value;
  uint64_t at_ns;
} tw_got;

typedef struct tw_md {
  bool done;
  int err;
  int topics;
  char names[4][16];
  int parts[4];
  int32_t leaders[4][8];
  int topic_err[4];
  int brokers;
  int32_t broker_ids[4];
  char broker_hosts[4][8];
  int32_t controller;
} tw_md;

typedef struct tw_lo {
  tw *w;
  int64_t ts;
  int64_t offset;
  int err;
  bool done;
} tw_lo;

typedef struct tw_admin {
  int step;
  int errs[8];
  char cfg_dump[512];
} tw_admin;

struct tw {
  uint64_t seed;
  sim_t *sim;
  cfake_cluster *cl;
  cfake_node_config ncfg[TW_BROKERS_MAX];
  sim_node_t *bnodes[TW_BROKERS_MAX];
  int nbrokers;
  sim_node_t *cnode;
  kclient_config kcfg;
  kclient_t *kc;
  env_t *env;
  void (*script)(tw *w);
  /* producing */
  const char *topic;
  int32_t partition; /* or KCLIENT_PARTITION_ANY */
  bool keyed;
  int value_bytes;
  int total;
  int next_id;
  int enobufs;
  tw_rec *recs;
  int delivered, failed;
  int last_err;
  char last_errmsg[KCLIENT_ERRMSG_BYTES];
  bool flushed;
  uint64_t flushed_at_ns;
  /* consuming */
  kclient_consumer_t *cons;
  kclient_consumer_config ccfg;
  GArray *got; /* tw_got */
  int cons_errors;
  int cons_last_err;
  int stop_after; /* pause the consumer after this many records (0 = no) */
  /* Requests in flight (sent - answered) seen by on_record: the least. */
  int64_t in_flight_min;
  /* one-shot results */
  bool done;
  int err;
  char errmsg[KCLIENT_ERRMSG_BYTES];
  uint64_t done_at_ns;
  int64_t offset;
  tw_md md;
  tw_lo los[4];
  tw_admin adm;
};

/* ----------------------------------------------------------- the world */

static void *tw_client_start(env_t *env, void *config) {
  tw *w = config;
  w->env = env;
  char msg[KCLIENT_ERRMSG_BYTES];
  int rc = kclient_new(env, &w->kcfg, &w->kc, msg);
  if (rc) {
    fprintf(stderr, "\n  kclient_new: %s\n", msg);
    return NULL;
  }
  if (w->script)
    w->script(w);
  return w;
}

static void tw_client_stop(void *node) {
  tw *w = node;
  if (!w)
    return;
  kclient_consumer_free(w->cons);
  w->cons = NULL;
  kclient_free(w->kc);
  w->kc = NULL;
}

static const env_node_ops tw_client_ops = {"client", tw_client_start,
                                           tw_client_stop};

/* split_probability < 0: the simulator's default. */
static tw *tw_new_split(uint64_t seed, int nbrokers, double split_probability) {
  tw *w = g_new0(tw, 1);
  w->seed = seed;
  sim_options opts;
  sim_options_default(&opts, seed);
  if (split_probability >= 0.0)
    opts.chunk_split_probability = split_probability;
  w->sim = sim_new(&opts);
  w->cl = cfake_cluster_new();
  w->nbrokers = nbrokers;
  for (int i = 0; i < nbrokers; i++) {
    char name[16];
    snprintf(name, sizeof name, "b%d", i + 1);
    cfake_add_broker(w->cl, i + 1, name);
    w->ncfg[i] = (cfake_node_config){w->cl, i + 1};
    w->bnodes[i] = sim_node_add(w->sim, name, &cfake_node_ops, &w->ncfg[i]);
  }
  sim_run_until(w->sim, sim_now_ns(w->sim) + MS);
  kclient_config_default(&w->kcfg);
  w->kcfg.bootstrap_servers = "b1:9092";
  w->partition = 0;
  w->value_bytes = 40;
  w->recs = g_new0(tw_rec, TW_RECORDS_MAX);
  w->got = g_array_new(FALSE, TRUE, sizeof(tw_got));
  kclient_consumer_config_default(&w->ccfg);
  return w;
}

static tw *tw_new(uint64_t seed, int nbrokers) {
  return tw_new_split(seed, nbrokers, -1.0);
}

static void tw_start_client(tw *w, void (*script)(tw *)) {
  w->script = script;
  w->cnode = sim_node_add(w->sim, "c1", &tw_client_ops, w);
}

static void tw_run_ms(tw *w, uint64_t ms) {
  sim_run_until(w->sim, sim_now_ns(w->sim) + ms * MS);
}

/* Runs until pred(w) holds or max_ms pass; returns whether it held. */
static bool tw_run_until(tw *w, bool (*pred)(tw *), uint64_t max_ms) {
  uint64_t deadline = sim_now_ns(w->sim) + max_ms * MS;
  while (!pred(w) && sim_now_ns(w->sim) < deadline)
    sim_run_until(w->sim, sim_now_ns(w->sim) + MS);
  return pred(w);
}

static void tw_free(tw *w) {
  sim_free(w->sim);
  cfake_cluster_free(w->cl);
  for (guint i = 0; i < w->got->len; i++) {
    g_free(g_array_index(w->got, tw_got, i).key);
    g_free(g_array_index(w->got, tw_got, i).value);
  }
  g_array_free(w->got, TRUE);
  g_free(w->recs);
  g_free(w);
}

/* ----------------------------------------------------------- producing */

static void tw_pump(tw *w);

static void tw_on_delivery(void *arg, const kclient_delivery *d) {
  tw_rec *r = arg;
  tw *w = r->w;
  /* The acknowledgement time, read once per batch: never in the future
   * of the callback, never before the client started. */
  CU_ASSERT(d->done_ns > 0 && d->done_ns <= env_now_ns(w->env));
  r->deliveries++;
  r->partition = d->partition;
  r->offset = d->offset;
  r->err = d->err;
  if (d->err) {
    w->failed++;
    w->last_err = d->err;
    g_strlcpy(w->last_errmsg, d->errmsg, sizeof w->last_errmsg);
  } else {
    w->delivered++;
  }
  tw_pump(w);
}

/* Produces records next_id..total-1, stopping at -ENOBUFS (deliveries
 * resume it). */
static void tw_pump(tw *w) {
  while (w->next_id < w->total) {
    int id = w->next_id;
    char key[32], value[4096];
    int kl = snprintf(key, sizeof key, "key-%06d", id);
    int vl = snprintf(value, sizeof value, "value-%06d-", id);
    while (vl < w->value_bytes && vl < (int)sizeof value)
      value[vl++] = (char)('a' + id % 26);
    kclient_message m = {
        .topic = w->topic,
        .partition = w->partition,
        .key = w->keyed ? key : NULL,
        .key_len = w->keyed ? kl : -1,
        .value = value,
        .value_len = vl,
        .timestamp_ms = -1,
    };
    w->recs[id] = (tw_rec){w, id, -1, -1, 0, 0};
    int rc = kclient_produce(w->kc, &m, tw_on_delivery, &w->recs[id]);
    if (rc == -ENOBUFS) {
      w->enobufs++;
      return;
    }
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    w->next_id++;
  }
}

static bool tw_all_delivered(tw *w) {
  return w->delivered + w->failed >= w->total;
}

static void tw_script_produce(tw *w) { tw_pump(w); }

/* Checks a partition's stored log: record ids strictly increasing (no
 * duplicate, no reordering); returns how many. */
typedef struct tw_log_check {
  int last_id;
  int count;
  int out_of_order;
  int64_t next_offset;
  int offset_gaps;
} tw_log_check;

static void tw_log_record(void *arg, int64_t offset, const uint8_t *key,
                          int32_t kl, const uint8_t *value, int32_t vl) {
  tw_log_check *lc = arg;
  int id = -1;
  char buf[32];
  size_t n = vl < 20 ? (size_t)vl : 20;
  memcpy(buf, value, n);
  buf[n] = '\0';
  sscanf(buf, "value-%d", &id);
  if (id <= lc->last_id)
    lc->out_of_order++;
  lc->last_id = id;
  if (offset != lc->next_offset)
    lc->offset_gaps++;
  lc->next_offset = offset + 1;
  lc->count++;
}

static tw_log_check tw_check_log(tw *w, const char *topic, int32_t p) {
  tw_log_check lc = {-1, 0, 0, 0, 0};
  cfake_each_record(w->cl, topic, p, tw_log_record, &lc);
  return lc;
}

/* ---------------------------------------------------------------- tests */

static void test_murmur2_matches_kafka(void) {
  /* The Java client's murmur2 results, as librdkafka's rdmurmur2.c
   * unit test lists them. */
  struct {
    const char *key;
    uint32_t expect;
  } v[] = {
      {"kafka", 0xd067cf64u},
      {"giberish123456789", 0x8f552b0cu},
      {"1234", 0x9fc97b14u},
      {"234", 0xe7c009cau},
      {"34", 0x873930dau},
      {"4", 0x5a4b5ca1u},
      {"PreAmbleWillBeRemoved,ThePrePartThatIs", 0x78424f1cu},
      {"reAmbleWillBeRemoved,ThePrePartThatIs", 0x4a62b377u},
      {"eAmbleWillBeRemoved,ThePrePartThatIs", 0xe0e4e09eu},
      {"AmbleWillBeRemoved,ThePrePartThatIs", 0x62b8b43fu},
      {"", 0x106e08d9u},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(v); i++)
    TEST_EQ_INT(kclient_murmur2_positive(v[i].key, strlen(v[i].key)),
                v[i].expect & 0x7fffffffu, 0);
}

static void test_parse_hostport(void) {
  char host[64];
  uint16_t port;
  CU_ASSERT_EQUAL(
      kclient_parse_hostport("127.0.0.1:9092", 14, host, sizeof host, &port),
      0);
  CU_ASSERT_STRING_EQUAL(host, "127.0.0.1");
  CU_ASSERT_EQUAL(port, 9092);
  CU_ASSERT_EQUAL(
      kclient_parse_hostport("[::1]:19092", 11, host, sizeof host, &port), 0);
  CU_ASSERT_STRING_EQUAL(host, "::1");
  CU_ASSERT_EQUAL(port, 19092);
  const char *bad[] = {"localhost", ":9092", "h:",       "h:0",
                       "h:70000",   "h:9x",  "[::1]9092"};
  for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
    CU_ASSERT_EQUAL(kclient_parse_hostport(bad[i], strlen(bad[i]), host,
                                           sizeof host, &port),
                    -EINVAL);
}

static void test_config_rejected(void) {
  sim_options opts;
  sim_options_default(&opts, 1);
  sim_t *sim = sim_new(&opts);
  kclient_config cfg;
  kclient_config_default(&cfg);
  kclient_t *kc = NULL;
  char msg[KCLIENT_ERRMSG_BYTES];
  /* env is only stored by kclient_new; any env will do for rejection. */
  cfake_cluster *cl = cfake_cluster_new();
  cfake_node_config nc = {cl, 1};
  cfake_add_broker(cl, 1, "b1");
  sim_node_t *n = sim_node_add(sim, "b1", &cfake_node_ops, &nc);
  sim_run_until(sim, MS);
  env_t *env = sim_node_env(n);
  cfg.bootstrap_servers = "nohost";
  CU_ASSERT_EQUAL(kclient_new(env, &cfg, &kc, msg), -EINVAL);
  CU_ASSERT_PTR_NULL(kc);
  CU_ASSERT_PTR_NOT_NULL(strstr(msg, "bad bootstrap server 'nohost'"));
  cfg.bootstrap_servers = "b1:9092";
  cfg.acks = 2;
  CU_ASSERT_EQUAL(kclient_new(env, &cfg, &kc, msg), -EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(msg, "acks"));
  cfg.acks = 1;
  CU_ASSERT_EQUAL(kclient_new(env, &cfg, &kc, msg), 0);
  kclient_free(kc);
  sim_free(sim);
  cfake_cluster_free(cl);
}

/* -- negotiation */

static void tw_on_flush(void *arg, int err, const char *errmsg) {
  tw *w = arg;
  w->flushed = true;
  w->flushed_at_ns = env_now_ns(w->env);
}

static void tw_on_record(void *arg, const kclient_record *r) {
  tw *w = arg;
  tw_got g = {
      r->partition, r->offset,
      r->key ? g_strndup((const char *)r->key, (gsize)r->key_len) : NULL,
      r->value ? g_strndup((const char *)r->value, (gsize)r->value_len) : NULL,
      env_now_ns(w->env)};
  g_array_append_val(w->got, g);
  kclient_stats st;
  kclient_get_stats(w->kc, &st);
  int64_t in_flight = (int64_t)(st.requests_sent - st.responses_received);
  if (w->got->len == 1 || in_flight < w->in_flight_min)
    w->in_flight_min = in_flight;
  if (w->stop_after && (int)w->got->len >= w->stop_after)
    kclient_consumer_pause(w->cons);
}

static void tw_on_cons_error(void *arg, const char *topic, int32_t partition,
                             int err, const char *errmsg) {
  tw *w = arg;
  w->cons_errors++;
  w->cons_last_err = err;
  g_strlcpy(w->errmsg, errmsg, sizeof w->errmsg);
}

static void tw_start_consumer(tw *w, const char *topic, int32_t partition,
                              int64_t offset) {
  if (!w->cons) {
    w->ccfg.on_record = tw_on_record;
    w->ccfg.on_error = tw_on_cons_error;
    w->ccfg.arg = w;
    w->cons = kclient_consumer_new(w->kc, &w->ccfg);
  }
  CU_ASSERT_EQUAL(kclient_consumer_assign(w->cons, topic, partition, offset),
                  0);
}

static void tw_script_produce_and_consume(tw *w) {
  tw_pump(w);
  tw_start_consumer(w, w->topic, 0, KCLIENT_OFFSET_EARLIEST);
}

static bool tw_got_all(tw *w) {
  return tw_all_delivered(w) && (int)w->got->len >= w->total;
}

static void test_negotiates_max_common_versions(void) {
  tw *w = tw_new(test_seed(), 1);
  cfake_add_topic(w->cl, "t", 1, 1);
  w->cl->api_versions_v3_unsupported = true; /* KIP-511 path */
  w->cl->api_max[PROTO_API_PRODUCE] = 7;
  w->cl->api_max[PROTO_API_FETCH] = 11;
  w->cl->api_max[PROTO_API_METADATA] = 9;
  w->kcfg.acks = 1;
  w->topic = "t";
  w->total = 10;
  tw_start_client(w, tw_script_produce_and_consume);
  CU_ASSERT(tw_run_until(w, tw_got_all, 5000));
  /* ApiVersions: v3 refused, then v2 (min(3-1, the broker's max 3)). */
  TEST_EQ_INT(w->cl->last_api_versions_version, 2, w->seed);
  TEST_EQ_INT(w->cl->last_version[PROTO_API_PRODUCE], 7, w->seed);
  TEST_EQ_INT(w->cl->last_version[PROTO_API_FETCH], 11, w->seed);
  TEST_EQ_INT(w->cl->last_version[PROTO_API_METADATA], 9, w->seed);
  TEST_EQ_INT(w->delivered, 10, w->seed);
  tw_free(w);

  /* Without limits: the client's own maxima. */
  w = tw_new(test_seed(), 1);
  cfake_add_topic(w->cl, "t", 1, 1);
  w->topic = "t";
  w->total = 10;
  tw_start_client(w, tw_script_produce_and_consume);
  CU_ASSERT(tw_run_until(w, tw_got_all, 5000));
  TEST_EQ_INT(w->cl->last_api_versions_version, 3, w->seed);
  TEST_EQ_INT(w->cl->last_version[PROTO_API_PRODUCE], 9, w->seed);
  TEST_EQ_INT(w->cl->last_version[PROTO_API_FETCH], 12, w->seed);
  TEST_EQ_INT(w->cl->last_version[PROTO_API_METADATA], 12, w->seed);
  TEST_EQ_INT(w->cl->last_version[PROTO_API_LIST_OFFSETS], 7, w->seed);
  tw_free(w);
}

static void tw_on_topics(void *arg, int err, const char *errmsg,
                         const kclient_topic_result *res, size_t n) {
  tw *w = arg;
  w->done = true;
  w->err = err;
  g_strlcpy(w->errmsg, errmsg, sizeof w->errmsg);
  if (!err && n > 0) {
    w->err = res[0].err;
    g_strlcpy(w->errmsg, res[0].errmsg, sizeof w->errmsg);
  }
}

static void tw_script_create_one(tw *w) {
  kclient_new_topic nt = {"x", 2, 1, NULL, 0};
  kclient_create_topics(w->kc, &nt, 1, false, tw_on_topics, w);
}

static bool tw_is_done(tw *w) { return w->done; }

static void test_no_common_version(void) {
  tw *w = tw_new(test_seed(), 1);
  w->cl->api_max[PROTO_API_CREATE_TOPICS] = 1; /* we need 2+ */
  tw_start_client(w, tw_script_create_one);
  CU_ASSERT(tw_run_until(w, tw_is_done, 5000));
  TEST_EQ_INT(w->err, -ENOTSUP, w->seed);
  CU_ASSERT_PTR_NOT_NULL(strstr(w->errmsg, "CreateTopicsRequest"));
  TEST_EQ_INT(w->cl->requests[PROTO_API_CREATE_TOPICS], 0, w->seed);
  tw_free(w);
}

/* -- metadata */

static void tw_on_metadata(void *arg, int err, const char *errmsg,
                           const kclient_metadata_info *md) {
  tw *w = arg;
  tw_md *r = &w->md;
  r->done = true;
  r->err = err;
  if (err)
    return;
  r->topics = md->topic_count;
  for (int i = 0; i < md->topic_count && i < 4; i++) {
    g_strlcpy(r->names[i], md->topics[i].name, sizeof r->names[i]);
    r->parts[i] = md->topics[i].partition_count;
    r->topic_err[i] = md->topics[i].err;
    for (int p = 0; p < md->topics[i].partition_count && p < 8; p++) {
      CU_ASSERT_EQUAL(md->topics[i].partitions[p].partition, p);
      r->leaders[i][p] = md->topics[i].partitions[p].leader;
    }
  }
  r->brokers = md->broker_count;
  for (int i = 0; i < md->broker_count && i < 4; i++) {
    r->broker_ids[i] = md->brokers[i].node_id;
    g_strlcpy(r->broker_hosts[i], md->brokers[i].host,
              sizeof r->broker_hosts[i]);
  }
  r->controller = md->controller_id;
}

static void tw_script_metadata_all(tw *w) {
  kclient_metadata(w->kc, NULL, 0, tw_on_metadata, w);
}

static void tw_script_metadata_named(tw *w) {
  const char *names[] = {"zeta", "missing"};
  kclient_metadata(w->kc, names, 2, tw_on_metadata, w);
}

static bool tw_md_done(tw *w) { return w->md.done; }

static void test_metadata(void) {
  tw *w = tw_new(test_seed(), 2);
  cfake_add_topic(w->cl, "zeta", 4, -1); /* leaders 1,2,1,2 */
  cfake_add_topic(w->cl, "alpha", 1, 2);
  tw_start_client(w, tw_script_metadata_all);
  CU_ASSERT(tw_run_until(w, tw_md_done, 5000));
  tw_md *r = &w->md;
  TEST_EQ_INT(r->err, 0, w->seed);
  TEST_EQ_INT(r->topics, 2, w->seed);
  CU_ASSERT_STRING_EQUAL(r->names[0], "alpha"); /* sorted by name */
  CU_ASSERT_STRING_EQUAL(r->names[1], "zeta");
  TEST_EQ_INT(r->parts[1], 4, w->seed);
  TEST_EQ_INT(r->leaders[1][0], 1, w->seed);
  TEST_EQ_INT(r->leaders[1][1], 2, w->seed);
  TEST_EQ_INT(r->leaders[1][3], 2, w->seed);
  TEST_EQ_INT(r->leaders[0][0], 2, w->seed);
  TEST_EQ_INT(r->brokers, 2, w->seed);
  TEST_EQ_INT(r->broker_ids[0], 1, w->seed);
  CU_ASSERT_STRING_EQUAL(r->broker_hosts[1], "b2");
  TEST_EQ_INT(r->controller, 1, w->seed);
  tw_free(w);

  w = tw_new(test_seed(), 1);
  cfake_add_topic(w->cl, "zeta", 2, 1);
  tw_start_client(w, tw_script_metadata_named);
  CU_ASSERT(tw_run_until(w, tw_md_done, 5000));
  r = &w->md;
  TEST_EQ_INT(r->err, 0, w->seed);
  TEST_EQ_INT(r->topics, 2, w->seed);
  CU_ASSERT_STRING_EQUAL(r->names[0], "missing");
  TEST_EQ_INT(r->topic_err[0], KERR_UNKNOWN_TOPIC_OR_PARTITION, w->seed);
  TEST_EQ_INT(r->topic_err[1], 0, w->seed);
  tw_free(w);
}

/* -- produce */

static void test_produce_batches_and_acks(void) {
  int16_t acks_cases[] = {1, -1, 0};
  for (size_t k = 0; k < G_N_ELEMENTS(acks_cases); k++) {
    tw *w = tw_new(test_seed() + k, 1);
    cfake_add_topic(w->cl, "t", 1, 1);
    w->kcfg.acks = acks_cases[k];
    w->kcfg.linger_ms = 5;
    w->kcfg.batch_bytes = 1024;
    w->topic = "t";
    w->total = 400;
    tw_start_client(w, tw_script_produce);
    CU_ASSERT(tw_run_until(w, tw_all_delivered, 10000));
    TEST_EQ_INT(w->delivered, 400, w->seed);
    TEST_EQ_INT(w->failed, 0, w->seed);
    /* acks=0 "delivers" when the bytes leave: let them arrive. */
    tw_run_ms(w, 50);
    TEST_EQ_INT(w->cl->last_acks, acks_cases[k], w->seed);
    tw_log_check lc = tw_check_log(w, "t", 0);
    TEST_EQ_INT(lc.count, 400, w->seed);
    TEST_EQ_INT(lc.out_of_order, 0, w->seed);
    /* A record counts ~64 bytes (40 of value): ~15 per 1 KiB batch. */
    CU_ASSERT(w->cl->produce_batches >= 400 / 16);
    CU_ASSERT(w->cl->produce_batches <= 400 / 12);
    for (int i = 0; i < 400; i++) {
      TEST_EQ_INT(w->recs[i].deliveries, 1, w->seed);
      /* Offsets follow the order records were produced in (acks 0 has
       * none to report). */
      TEST_EQ_INT(w->recs[i].offset, acks_cases[k] == 0 ? -1 : i, w->seed);
    }
    tw_free(w);
  }
}

static void tw_script_produce_then_flush(tw *w) {
  tw_pump(w);
  kclient_flush(w->kc, tw_on_flush, w);
}

static void test_linger_and_flush(void) {
  /* A long linger holds a lone record... */
  tw *w = tw_new(test_seed(), 1);
  cfake_add_topic(w->cl, "t", 1, 1);
  w->kcfg.linger_ms = 200;
  w->topic = "t";
  w->total = 1;
  tw_start_client(w, tw_script_produce);
  uint64_t t0 = sim_now_ns(w->sim);
  tw_run_ms(w, 150);
  TEST_EQ_INT(w->delivered, 0, w->seed);
  CU_ASSERT(tw_run_until(w, tw_all_delivered, 1000));
  CU_ASSERT(sim_now_ns(w->sim) - t0 >= 200 * MS);
  tw_free(w);
  /* ... unless flushed. */
  w = tw_new(test_seed(), 1);
  cfake_add_topic(w->cl, "t", 1, 1);
  w->kcfg.linger_ms = 10000;
  w->topic = "t";
  w->total = 50;
  tw_start_client(w, tw_script_produce_then_flush);
  t0 = sim_now_ns(w->sim);
  CU_ASSERT(tw_run_until(w, tw_all_delivered, 1000));
  CU_ASSERT(w->flushed);
  CU_ASSERT(w->flushed_at_ns - t0 < 100 * MS);
  TEST_EQ_INT(w->delivered, 50, w->seed);
  tw_free(w);
}

static void test_partitioner(void) {
  tw *w = tw_new(test_seed(), 2);
  cfake_add_topic(w->cl, "t", 4, -1);
  w->topic = "t";
  w->partition = KCLIENT_PARTITION_ANY;
  w->keyed = true;
  w->total = 200;
  tw_start_client(w, tw_script_produce);
  CU_ASSERT(tw_run_until(w, tw_all_delivered, 10000));
  TEST_EQ_INT(w->delivered, 200, w->seed);
  int per[4] = {0};
  for (int i = 0; i < 200; i++) {
    char key[32];
    int kl = snprintf(key, sizeof key, "key-%06d", i);
    int32_t want = (int32_t)(kclient_murmur2_positive(key, (size_t)kl) % 4);
    TEST_EQ_INT(w->recs[i].partition, want, w->seed);
    per[want]++;
  }
  for (int p = 0; p < 4; p++) {
    tw_log_check lc = tw_check_log(w, "t", p);
    TEST_EQ_INT(lc.count, per[p], w->seed);
    TEST_EQ_INT(lc.out_of_order, 0, w->seed);
  }
  tw_free(w);

  /* Without keys: sticky batches, every partition used eventually. */
  w = tw_new(test_seed() + 1, 2);
  cfake_add_topic(w->cl, "t", 4, -1);
  w->topic = "t";
  w->partition = KCLIENT_PARTITION_ANY;
  w->kcfg.batch_bytes = 512;
  w->total = 400;
  tw_start_client(w, tw_script_produce);
  CU_ASSERT(tw_run_until(w, tw_all_delivered, 10000));
  int used = 0;
  size_t sum = 0;
  for (int p = 0; p < 4; p++) {
    size_t n = cfake_each_record(w->cl, "t", p, NULL, NULL);
    used += n > 0;
    sum += n;
  }
  TEST_EQ_INT(sum, 400, w->seed);
  TEST_EQ_INT(used, 4, w->seed);
  tw_free(w);
}

/* Stored batches of an idempotent producer: one producer id, sequences
 * contiguous from 0 in offset order. */
static void tw_check_sequences(tw *w, const char *topic, int32_t p) {
  cfake_topic *t = cfake_find_topic(w->cl, topic);
  GPtrArray *bs = t->parts[p].batches;
  int32_t next = 0;
  for (guint i = 0; i < bs->len; i++) {
    cfake_batch *b = g_ptr_array_index(bs, i);
    TEST_EQ_INT(b->producer_id >= 1000, 1, w->seed);
    TEST_EQ_INT(b->base_sequence, next, w->seed);
    next = b->base_sequence + b->count;
  }
}

static void test_idempotent_sequences(void) {
  tw *w = tw_new(test_seed(), 2);
  cfake_add_topic(w->cl, "t", 2, -1);
  w->kcfg.idempotence = true;
  w->kcfg.batch_bytes = 400;
  w->kcfg.acks = 1; /* forced to -1 by idempotence */
  w->topic = "t";
  w->partition = KCLIENT_PARTITION_ANY;
  w->keyed = true;
  w->total = 1000;
  tw_start_client(w, tw_script_produce);
  CU_ASSERT(tw_run_until(w, tw_all_delivered, 20000));
  TEST_EQ_INT(w->delivered, 1000, w->seed);
  TEST_EQ_INT(w->cl->requests[PROTO_API_INIT_PRODUCER_ID], 1, w->seed);
  TEST_EQ_INT(w->cl->last_acks, -1, w->seed);
  TEST_EQ_INT(w->cl->out_of_order, 0, w->seed);
  for (int p = 0; p < 2; p++) {
    tw_check_sequences(w, "t", p);
    tw_log_check lc = tw_check_log(w, "t", p);
    TEST_EQ_INT(lc.out_of_order, 0, w->seed);
  }
  tw_free(w);
}

typedef struct tw_reset {
  tw *w;
  sim_node_t *broker;
} tw_reset;

static void tw_do_reset(sim_t *sim, void *arg) {
  tw_reset *r = arg;
  sim_reset_connections(sim, r->w->cnode, r->broker);
}

/* Resets the client's connections several times while batches are in
 * flight; idempotence must leave exactly one copy of each record, in
 * order. Many seeds: where the resets land differs each time. */
static void test_retries_after_connection_reset(void) {
  for (uint64_t s = 0; s < 8; s++) {
    bool idem = s % 2 == 0;
    tw *w = tw_new(test_seed() + s, 1);
    cfake_add_topic(w->cl, "t", 2, 1);
    w->cl->response_delay_ns = 3 * MS;
    w->kcfg.idempotence = idem;
    w->kcfg.acks = -1;
    w->kcfg.batch_bytes = 300;
    w->kcfg.linger_ms = 1;
    w->kcfg.retry_backoff_ms = 10;
    w->topic = "t";
    w->partition = KCLIENT_PARTITION_ANY;
    w->keyed = true;
    w->total = 3000;
    tw_reset r = {w, w->bnodes[0]};
    tw_start_client(w, tw_script_produce);
    for (int k = 1; k <= 4; k++)
      sim_schedule(w->sim,
                   (uint64_t)k * 15 * MS +
                       sim_rand_below(w->sim, SIM_STREAM_FAULTS, 10 * MS),
                   tw_do_reset, &r);
    CU_ASSERT(tw_run_until(w, tw_all_delivered, 60000));
    TEST_EQ_INT(w->delivered, 3000, w->seed);
    kclient_stats st;
    kclient_get_stats(w->kc, &st);
    CU_ASSERT(st.disconnects >= 1);
    CU_ASSERT(st.retries >= 1);
    size_t stored = 0;
    for (int p = 0; p < 2; p++) {
      tw_log_check lc = tw_check_log(w, "t", p);
      stored += (size_t)lc.count;
      if (idem) {
        TEST_EQ_INT(lc.out_of_order, 0, w->seed);
        tw_check_sequences(w, "t", p);
      }
    }
    if (idem)
      TEST_EQ_INT(stored, 3000, w->seed);
    else
      CU_ASSERT(stored >= 3000); /* at least once */
    for (int i = 0; i < 3000; i++)
      TEST_EQ_INT(w->recs[i].deliveries, 1, w->seed);
    tw_free(w);
  }
}

/* Every stored value is the one tw_pump produced for its id, byte for
 * byte. */
static void tw_value_record(void *arg, int64_t offset, const uint8_t *key,
                            int32_t kl, const uint8_t *value, int32_t vl) {
  tw *w = arg;
  int id = -1;
  char buf[32];
  size_t n = vl < 20 ? (size_t)vl : 20;
  memcpy(buf, value, n);
  buf[n] = '\0';
  sscanf(buf, "value-%d", &id);
  CU_ASSERT_FATAL(id >= 0 && id < w->total);
  char want[4096];
  int wl = snprintf(want, sizeof want, "value-%06d-", id);
  while (wl < w->value_bytes && wl < (int)sizeof want)
    want[wl++] = (char)('a' + id % 26);
  TEST_EQ_INT(vl, wl, w->seed);
  CU_ASSERT(vl == wl && memcmp(value, want, (size_t)wl) == 0);
}

/* Batches large enough to go out from the producer's own buffers (proto
 * pieces through env_conn_sendv, not copied into the request frame),
 * several partitions per request, with connections reset under them:
 * every retry re-encodes the batches (idempotent ones stamped with their
 * sequence before the first send), and what the broker stores is exactly
 * what was produced, each record delivered once. */
static void test_large_batches_from_producer_buffers(void) {
  for (uint64_t s = 0; s < 6; s++) {
    bool idem = s % 2 == 0;
    tw *w = tw_new(test_seed() + 100 + s, 1);
    cfake_add_topic(w->cl, "t", 3, 1);
    w->cl->response_delay_ns = 2 * MS;
    w->kcfg.idempotence = idem;
    w->kcfg.acks = -1;
    w->kcfg.batch_bytes = 16384;
    w->kcfg.linger_ms = 2;
    w->kcfg.retry_backoff_ms = 10;
    w->topic = "t";
    w->partition = KCLIENT_PARTITION_ANY;
    w->keyed = true;
    w->value_bytes = 1000 + (int)(s * 300);
    w->total = 3000;
    tw_reset r = {w, w->bnodes[0]};
    tw_start_client(w, tw_script_produce);
    for (int k = 1; k <= 3; k++)
      sim_schedule(w->sim,
                   (uint64_t)k * 20 * MS +
                       sim_rand_below(w->sim, SIM_STREAM_FAULTS, 10 * MS),
                   tw_do_reset, &r);
    CU_ASSERT(tw_run_until(w, tw_all_delivered, 60000));
    TEST_EQ_INT(w->delivered, 3000, w->seed);
    TEST_EQ_INT(w->failed, 0, w->seed);
    kclient_stats st;
    kclient_get_stats(w->kc, &st);
    CU_ASSERT(st.disconnects >= 1);
    /* A drain's requests leave in one send (the first burst alone fills
     * every slot). */
    CU_ASSERT(st.sends < st.requests_sent);
    size_t stored = 0;
    for (int p = 0; p < 3; p++) {
      stored += cfake_each_record(w->cl, "t", p, tw_value_record, w);
      if (idem) {
        tw_log_check lc = tw_check_log(w, "t", p);
        TEST_EQ_INT(lc.out_of_order, 0, w->seed);
        tw_check_sequences(w, "t", p);
      }
    }
    if (idem)
      TEST_EQ_INT(stored, 3000, w->seed);
    else
      CU_ASSERT(stored >= 3000); /* at least once */
    for (int i = 0; i < 3000; i++)
      TEST_EQ_INT(w->recs[i].deliveries, 1, w->seed);
    tw_free(w);
  }
}

static void tw_move_leader(sim_t *sim, void *arg) {
  tw *w = arg;
  cfake_find_topic(w->cl, "t")->parts[0].leader = 2;
}

static void test_retry_on_not_leader(void) {
  tw *w = tw_new(test_seed(), 2);
  cfake_add_topic(w->cl, "t", 1, 1);
  w->cl->response_delay_ns = 2 * MS;
  w->kcfg.batch_bytes = 300;
  w->kcfg.idempotence = true;
  w->topic = "t";
  w->total = 2000;
  tw_start_client(w, tw_script_produce);
  sim_schedule(w->sim, 20 * MS, tw_move_leader, w);
  CU_ASSERT(tw_run_until(w, tw_all_delivered, 30000));
  TEST_EQ_INT(w->delivered, 2000, w->seed);
  CU_ASSERT(w->cl->not_leader_answers > 0);
  tw_log_check lc = tw_check_log(w, "t", 0);
  TEST_EQ_INT(lc.count, 2000, w->seed);
  TEST_EQ_INT(lc.out_of_order, 0, w->seed);
  kclient_stats st;
  kclient_get_stats(w->kc, &st);
  CU_ASSERT(st.metadata_refreshes >= 2);
  tw_free(w);
}

static void test_injected_errors(void) {
  /* Retriable: NOT_ENOUGH_REPLICAS twice, then fine. */
  tw *w = tw_new(test_seed(), 1);
  cfake_add_topic(w->cl, "t", 1, 1);
  w->cl->produce_error = KERR_NOT_ENOUGH_REPLICAS;
  w->cl->produce_error_count = 2;
  w->topic = "t";
  w->total = 20;
  tw_start_client(w, tw_script_produce);
  CU_ASSERT(tw_run_until(w, tw_all_delivered, 10000));
  TEST_EQ_INT(w->delivered, 20, w->seed);
  TEST_EQ_INT(tw_check_log(w, "t", 0).count, 20, w->seed);
  tw_free(w);
  /* Not retriable: the batch fails with Kafka's code. */
  w = tw_new(test_seed(), 1);
  cfake_add_topic(w->cl, "t", 1, 1);
  w->cl->produce_error = KERR_MESSAGE_TOO_LARGE;
  w->cl->produce_error_count = 1;
  w->kcfg.linger_ms = 50;
  w->topic = "t";
  w->total = 5;
  tw_start_client(w, tw_script_produce);
  CU_ASSERT(tw_run_until(w, tw_all_delivered, 10000));
  TEST_EQ_INT(w->failed, 5, w->seed);
  TEST_EQ_INT(w->last_err, KERR_MESSAGE_TOO_LARGE, w->seed);
  CU_ASSERT_STRING_EQUAL(w->last_errmsg, "MESSAGE_TOO_LARGE");
  tw_free(w);
}

static void test_bounded_in_flight_and_buffer(void) {
  tw *w = tw_new(test_seed(), 1);
  cfake_add_topic(w->cl, "t", 1, 1);
  w->cl->response_delay_ns = 10 * MS;
  w->kcfg.in_flight_max = 3;
  w->kcfg.batch_bytes = 256;
  w->kcfg.linger_ms = 0;
  w->kcfg.buffer_bytes_max = 8192;
  w->topic = "t";
  w->total = 2000;
  tw_start_client(w, tw_script_produce);
  CU_ASSERT(tw_run_until(w, tw_all_delivered, 60000));
  TEST_EQ_INT(w->delivered, 2000, w->seed);
  /* The broker saw pipelining up to the bound, never beyond it. */
  TEST_EQ_INT(w->cl->in_flight_max_seen, 3, w->seed);
  kclient_stats st;
  kclient_get_stats(w->kc, &st);
  TEST_EQ_INT(st.in_flight_max_seen, 3, w->seed);
  /* The buffer bound pushed back on the producer. */
  CU_ASSERT(w->enobufs > 0);
  TEST_EQ_INT(tw_check_log(w, "t", 0).out_of_order, 0, w->seed);
  tw_free(w);
}

static void tw_script_unknown_topic(tw *w) {
  w->topic = "nope";
  tw_pump(w);
}

static void test_unknown_topic(void) {
  tw *w = tw_new(test_seed(), 1);
  w->total = 3;
  tw_start_client(w, tw_script_unknown_topic);
  CU_ASSERT(tw_run_until(w, tw_all_delivered, 5000));
  TEST_EQ_INT(w->failed, 3, w->seed);
  TEST_EQ_INT(w->last_err, KERR_UNKNOWN_TOPIC_OR_PARTITION, w->seed);
  CU_ASSERT_PTR_NOT_NULL(strstr(w->last_errmsg, "nope"));
  tw_free(w);
  /* Asking for auto-creation from a broker that does not auto-create:
   * it keeps answering UNKNOWN_TOPIC_OR_PARTITION (not
   * LEADER_NOT_AVAILABLE), so the records fail after the grace period
   * instead of the whole delivery timeout. */
  w = tw_new(test_seed(), 1);
  w->kcfg.allow_auto_create_topics = true;
  w->total = 3;
  tw_start_client(w, tw_script_unknown_topic);
  uint64_t t0 = sim_now_ns(w->sim);
  CU_ASSERT(tw_run_until(w, tw_all_delivered, 10000));
  TEST_EQ_INT(w->failed, 3, w->seed);
  TEST_EQ_INT(w->last_err, KERR_UNKNOWN_TOPIC_OR_PARTITION, w->seed);
  CU_ASSERT(sim_now_ns(w->sim) - t0 >= 2 * SEC);
  CU_ASSERT(sim_now_ns(w->sim) - t0 < 4 * SEC);
  tw_free(w);
  /* With auto-creation on both sides the records go through. */
  w = tw_new(test_seed(), 1);
  w->cl->auto_create_topics = true;
  w->kcfg.allow_auto_create_topics = true;
  w->total = 3;
  tw_start_client(w, tw_script_unknown_topic);
  CU_ASSERT(tw_run_until(w, tw_all_delivered, 5000));
  TEST_EQ_INT(w->delivered, 3, w->seed);
  tw_free(w);
}

static void test_delivery_timeout(void) {
  /* The leader (b2) is listed but no such node exists (the simulator says
   * host unreachable): batches fail once delivery_timeout_ms passed, with
   * the reason. */
  tw *w = tw_new(test_seed(), 1);
  cfake_add_broker(w->cl, 2, "b2"); /* no node behind it */
  cfake_add_topic(w->cl, "t", 1, 2);
  w->kcfg.delivery_timeout_ms = 1500;
  w->topic = "t";
  w->total = 50;
  tw_start_client(w, tw_script_produce);
  uint64_t t0 = sim_now_ns(w->sim);
  CU_ASSERT(tw_run_until(w, tw_all_delivered, 10000));
  TEST_EQ_INT(w->failed, 50, w->seed);
  TEST_EQ_INT(w->last_err, -ETIMEDOUT, w->seed);
  CU_ASSERT_STRING_EQUAL(w->last_errmsg,
                         "not delivered within 1500 ms to t-0 (last error: "
                         "cannot connect to b2:9092: host unreachable)");
  uint64_t took = sim_now_ns(w->sim) - t0;
  CU_ASSERT(took >= 1500 * MS && took < 1800 * MS);
  TEST_EQ_INT(kclient_produce_pending(w->kc), 0, w->seed);
  tw_free(w);
}

/* -- consume */

static void tw_script_consume(tw *w) {
  tw_start_consumer(w, "t", 0, w->offset);
}

static bool tw_got_100(tw *w) { return w->got->len >= 100; }

static void test_fetch_from_offsets(void) {
  int64_t starts[] = {KCLIENT_OFFSET_EARLIEST, 40};
  for (size_t k = 0; k < G_N_ELEMENTS(starts); k++) {
    tw *w = tw_new(test_seed(), 1);
    cfake_add_topic(w->cl, "t", 1, 1);
    for (int b = 0; b < 10; b++)
      cfake_append(w->cl, "t", 0, 10, 1000 + b * 10);
    w->offset = starts[k];
    tw_start_client(w, tw_script_consume);
    int64_t first = starts[k] < 0 ? 0 : starts[k];
    tw_run_ms(w, 1000);
    TEST_EQ_INT(w->got->len, 100 - first, w->seed);
    for (guint i = 0; i < w->got->len; i++) {
      tw_got *g = &g_array_index(w->got, tw_got, i);
      TEST_EQ_INT(g->offset, first + (int64_t)i, w->seed);
      char want[32];
      snprintf(want, sizeof want, "v%" PRId64, g->offset);
      CU_ASSERT_STRING_EQUAL(g->value, want);
      snprintf(want, sizeof want, "k%" PRId64, g->offset);
      CU_ASSERT_STRING_EQUAL(g->key, want);
    }
    TEST_EQ_INT(kclient_consumer_position(w->cons, "t", 0), 100, w->seed);
    TEST_EQ_INT(kclient_consumer_high_watermark(w->cons, "t", 0), 100, w->seed);
    tw_free(w);
  }
}

static void tw_append_10(sim_t *sim, void *arg) {
  tw *w = arg;
  cfake_append(w->cl, "t", 0, 10, 5000);
}

static void test_fetch_long_poll_and_latest(void) {
  tw *w = tw_new(test_seed(), 1);
  cfake_add_topic(w->cl, "t", 1, 1);
  cfake_append(w->cl, "t", 0, 50, 1000);
  w->offset = KCLIENT_OFFSET_LATEST;
  w->ccfg.max_wait_ms = 2000;
  tw_start_client(w, tw_script_consume);
  tw_run_ms(w, 100);
  TEST_EQ_INT(w->got->len, 0, w->seed); /* LATEST: nothing old */
  uint64_t t_append = sim_now_ns(w->sim) + 300 * MS;
  sim_schedule(w->sim, 300 * MS, tw_append_10, w);
  tw_run_ms(w, 600);
  TEST_EQ_INT(w->got->len, 10, w->seed);
  if (w->got->len == 10) {
    tw_got *g = &g_array_index(w->got, tw_got, 0);
    TEST_EQ_INT(g->offset, 50, w->seed);
    /* Woken by the data, not by max_wait (2 s). */
    CU_ASSERT(g->at_ns - t_append < 20 * MS);
  }
  /* Fetches long-polled: a handful, not one per millisecond. */
  CU_ASSERT(w->cl->requests[PROTO_API_FETCH] < 10);
  tw_free(w);
}

static void test_metadata_max_age(void) {
  /* An idle consumer long-polls; its metadata ages and gets refreshed. */
  tw *w = tw_new(test_seed(), 1);
  cfake_add_topic(w->cl, "t", 1, 1);
  w->kcfg.metadata_max_age_ms = 300;
  w->ccfg.max_wait_ms = 100;
  w->offset = KCLIENT_OFFSET_LATEST;
  tw_start_client(w, tw_script_consume);
  tw_run_ms(w, 100);
  uint64_t before = w->cl->requests[PROTO_API_METADATA];
  tw_run_ms(w, 2000);
  uint64_t during = w->cl->requests[PROTO_API_METADATA] - before;
  CU_ASSERT(during >= 5 && during <= 8); /* about one per 300 ms */
  tw_free(w);
}

static void test_fetch_out_of_range(void) {
  /* Reset to earliest (the default). */
  tw *w = tw_new(test_seed(), 1);
  cfake_add_topic(w->cl, "t", 1, 1);
  cfake_append(w->cl, "t", 0, 100, 1000);
  w->offset = 5000;
  tw_start_client(w, tw_script_consume);
  CU_ASSERT(tw_run_until(w, tw_got_100, 2000));
  TEST_EQ_INT(g_array_index(w->got, tw_got, 0).offset, 0, w->seed);
  tw_free(w);
  /* No reset: an error for the partition. */
  w = tw_new(test_seed(), 1);
  cfake_add_topic(w->cl, "t", 1, 1);
  cfake_append(w->cl, "t", 0, 10, 1000);
  w->offset = 5000;
  w->ccfg.offset_reset = 0;
  tw_start_client(w, tw_script_consume);
  tw_run_ms(w, 1000);
  TEST_EQ_INT(w->got->len, 0, w->seed);
  TEST_EQ_INT(w->cons_errors, 1, w->seed);
  TEST_EQ_INT(w->cons_last_err, KERR_OFFSET_OUT_OF_RANGE, w->seed);
  tw_free(w);
}

static void tw_script_consume_all4(tw *w) {
  for (int32_t p = 0; p < 4; p++)
    tw_start_consumer(w, "t", p, KCLIENT_OFFSET_EARLIEST);
}

static bool tw_got_400(tw *w) { return w->got->len >= 400; }

static void test_fetch_many_partitions_and_pause(void) {
  tw *w = tw_new(test_seed(), 2);
  cfake_add_topic(w->cl, "t", 4, -1);
  for (int32_t p = 0; p < 4; p++)
    for (int b = 0; b < 10; b++)
      cfake_append(w->cl, "t", p, 10, 1000);
  tw_start_client(w, tw_script_consume_all4);
  CU_ASSERT(tw_run_until(w, tw_got_400, 3000));
  int64_t next[4] = {0};
  for (guint i = 0; i < w->got->len; i++) {
    tw_got *g = &g_array_index(w->got, tw_got, i);
    TEST_EQ_INT(g->offset, next[g->partition], w->seed);
    next[g->partition] = g->offset + 1;
  }
  /* Fetches went to both brokers, each with its own partitions. */
  TEST_EQ_INT(w->cl->connections >= 4, 1, w->seed);
  tw_free(w);
  /* Pausing inside on_record stops right there. */
  w = tw_new(test_seed(), 1);
  cfake_add_topic(w->cl, "t", 1, 1);
  cfake_append(w->cl, "t", 0, 100, 1000);
  w->stop_after = 17;
  w->offset = KCLIENT_OFFSET_EARLIEST;
  tw_start_client(w, tw_script_consume);
  tw_run_ms(w, 1000);
  TEST_EQ_INT(w->got->len, 17, w->seed);
  TEST_EQ_INT(kclient_consumer_position(w->cons, "t", 0), 17, w->seed);
  kclient_consumer_resume(w->cons);
  w->stop_after = 0;
  tw_run_ms(w, 1000);
  TEST_EQ_INT(w->got->len, 100, w->seed);
  tw_free(w);
}

/* Fetch pipelining: the next fetch is on its way while a response's
 * records are delivered; a pause mid-response drops the early answer and
 * resuming goes on from the position, every record once and in order. */
static void test_fetch_pipelined(void) {
  tw *w = tw_new(test_seed(), 1);
  cfake_add_topic(w->cl, "t", 1, 1);
  for (int b = 0; b < 20; b++)
    cfake_append(w->cl, "t", 0, 10, 1000 + b * 10);
  w->ccfg.partition_max_bytes = 1; /* one batch per answer (KIP-74) */
  w->offset = 0;
  w->stop_after = 55;
  tw_start_client(w, tw_script_consume);
  tw_run_ms(w, 1000);
  TEST_EQ_INT(w->got->len, 55, w->seed);
  TEST_EQ_INT(kclient_consumer_position(w->cons, "t", 0), 55, w->seed);
  /* Every record was delivered with the next fetch in flight. */
  TEST_EQ_INT(w->in_flight_min >= 1, 1, w->seed);
  w->stop_after = 0;
  kclient_consumer_resume(w->cons);
  tw_run_ms(w, 1000);
  TEST_EQ_INT(w->got->len, 200, w->seed);
  for (guint i = 0; i < w->got->len; i++)
    TEST_EQ_INT(g_array_index(w->got, tw_got, i).offset, (int64_t)i, w->seed);
  TEST_EQ_INT(kclient_consumer_position(w->cons, "t", 0), 200, w->seed);
  tw_free(w);
}

/* The receive path both ways: reads that hold whole frames and reads cut
 * anywhere (frames completed across reads in the receive buffer), with
 * responses of one batch each. */
static void test_fetch_reads_whole_and_cut(void) {
  const double splits[] = {0.0, 1.0};
  for (size_t k = 0; k < G_N_ELEMENTS(splits); k++) {
    tw *w = tw_new_split(test_seed() + k, 1, splits[k]);
    cfake_add_topic(w->cl, "t", 1, 1);
    for (int b = 0; b < 10; b++)
      cfake_append(w->cl, "t", 0, 10, 1000 + b * 10);
    w->ccfg.partition_max_bytes = 1;
    w->offset = 0;
    tw_start_client(w, tw_script_consume);
    CU_ASSERT(tw_run_until(w, tw_got_100, 2000));
    TEST_EQ_INT(w->got->len, 100, w->seed);
    for (guint i = 0; i < w->got->len; i++) {
      tw_got *g = &g_array_index(w->got, tw_got, i);
      TEST_EQ_INT(g->offset, (int64_t)i, w->seed);
      char want[32];
      snprintf(want, sizeof want, "v%" PRId64, g->offset);
      CU_ASSERT_STRING_EQUAL(g->value, want);
    }
    tw_free(w);
  }
}

/* -- list offsets */

static void tw_on_offset(void *arg, int err, const char *errmsg, int64_t offset,
                         int64_t ts) {
  tw_lo *lo = arg;
  lo->done = true;
  lo->err = err;
  lo->offset = offset;
}

static void tw_script_list_offsets(tw *w) {
  for (int i = 0; i < 4; i++)
    kclient_list_offsets(w->kc, "t", 0, w->los[i].ts, tw_on_offset, &w->los[i]);
}

static bool tw_los_done(tw *w) {
  for (int i = 0; i < 4; i++)
    if (!w->los[i].done)
      return false;
  return true;
}

static void test_list_offsets(void) {
  tw *w = tw_new(test_seed(), 2);
  cfake_add_topic(w->cl, "t", 1, 2);      /* leader b2, bootstrap b1 */
  cfake_append(w->cl, "t", 0, 100, 1000); /* timestamps 1000..1099 */
  w->los[0].ts = KCLIENT_OFFSET_EARLIEST;
  w->los[1].ts = KCLIENT_OFFSET_LATEST;
  w->los[2].ts = 1050;
  w->los[3].ts = 999999;
  tw_start_client(w, tw_script_list_offsets);
  CU_ASSERT(tw_run_until(w, tw_los_done, 5000));
  TEST_EQ_INT(w->los[0].offset, 0, w->seed);
  TEST_EQ_INT(w->los[1].offset, 100, w->seed);
  TEST_EQ_INT(w->los[2].offset, 50, w->seed);
  TEST_EQ_INT(w->los[3].offset, -1, w->seed);
  for (int i = 0; i < 4; i++)
    TEST_EQ_INT(w->los[i].err, 0, w->seed);
  TEST_EQ_INT(w->cl->requests[PROTO_API_LIST_OFFSETS], 4, w->seed);
  tw_free(w);
}

/* -- admin */

static void tw_admin_next(tw *w);

static void tw_admin_topics(void *arg, int err, const char *errmsg,
                            const kclient_topic_result *res, size_t n) {
  tw *w = arg;
  w->adm.errs[w->adm.step] = err ? err : (n ? res[0].err : -1);
  w->adm.step++;
  tw_admin_next(w);
}

static void tw_admin_done(void *arg, int err, const char *errmsg) {
  tw *w = arg;
  w->adm.errs[w->adm.step++] = err;
  tw_admin_next(w);
}

static void tw_admin_configs(void *arg, int err, const char *errmsg,
                             const kclient_config_value *e, size_t n) {
  tw *w = arg;
  w->adm.errs[w->adm.step++] = err;
  size_t off = strlen(w->adm.cfg_dump);
  for (size_t i = 0; i < n; i++)
    off += (size_t)snprintf(w->adm.cfg_dump + off, sizeof w->adm.cfg_dump - off,
                            "%s=%s%s;", e[i].name,
                            e[i].value ? e[i].value : "null",
                            e[i].is_default ? "(d)" : "");
  g_strlcat(w->adm.cfg_dump, "|", sizeof w->adm.cfg_dump);
  tw_admin_next(w);
}

static void tw_admin_next(tw *w) {
  static const kclient_config_entry cfgs[] = {{"retention.ms", "1000"}};
  kclient_new_topic nt = {"new", 3, 1, cfgs, 1};
  const char *names[] = {"new"};
  kclient_config_alter alt = {"cleanup.policy", KCLIENT_ALTER_SET, "compact"};
  switch (w->adm.step) {
  case 0:
  case 1:
    kclient_create_topics(w->kc, &nt, 1, false, tw_admin_topics, w);
    break;
  case 2:
    kclient_describe_configs(w->kc, KCLIENT_RESOURCE_TOPIC, "new",
                             tw_admin_configs, w);
    break;
  case 3:
    kclient_alter_configs(w->kc, KCLIENT_RESOURCE_TOPIC, "new", &alt, 1, false,
                          tw_admin_done, w);
    break;
  case 4:
    kclient_describe_configs(w->kc, KCLIENT_RESOURCE_TOPIC, "new",
                             tw_admin_configs, w);
    break;
  case 5:
    kclient_create_partitions(w->kc, "new", 5, tw_admin_topics, w);
    break;
  case 6:
  case 7:
    kclient_delete_topics(w->kc, names, 1, tw_admin_topics, w);
    break;
  default:
    w->done = true;
  }
}

static void tw_script_admin(tw *w) { tw_admin_next(w); }

static void test_admin(void) {
  tw *w = tw_new(test_seed(), 1);
  tw_start_client(w, tw_script_admin);
  CU_ASSERT(tw_run_until(w, tw_is_done, 10000));
  TEST_EQ_INT(w->adm.errs[0], 0, w->seed);
  TEST_EQ_INT(w->adm.errs[1], KERR_TOPIC_ALREADY_EXISTS, w->seed);
  TEST_EQ_INT(w->adm.errs[2], 0, w->seed);
  TEST_EQ_INT(w->adm.errs[3], 0, w->seed);
  TEST_EQ_INT(w->adm.errs[4], 0, w->seed);
  TEST_EQ_INT(w->adm.errs[5], 0, w->seed);
  TEST_EQ_INT(w->adm.errs[6], 0, w->seed);
  TEST_EQ_INT(w->adm.errs[7], KERR_UNKNOWN_TOPIC_OR_PARTITION, w->seed);
  CU_ASSERT_STRING_EQUAL(
      w->adm.cfg_dump,
      "cleanup.policy=delete(d);retention.ms=1000;segment.bytes=1073741824(d);"
      "|cleanup.policy=compact;retention.ms=1000;segment.bytes=1073741824(d);"
      "|");
  tw_free(w);
}

/* -- failures */

static void tw_on_md_fail(void *arg, int err, const char *errmsg,
                          const kclient_metadata_info *md) {
  tw *w = arg;
  w->done = true;
  w->err = err;
  w->done_at_ns = env_now_ns(w->env);
  g_strlcpy(w->errmsg, errmsg, sizeof w->errmsg);
}

static void tw_script_md_fail(tw *w) {
  kclient_metadata(w->kc, NULL, 0, tw_on_md_fail, w);
}

static void test_fail_fast_without_broker(void) {
  tw *w = tw_new(test_seed(), 1);
  w->kcfg.bootstrap_servers = "b1:9999"; /* nobody listens there */
  tw_start_client(w, tw_script_md_fail);
  uint64_t t0 = sim_now_ns(w->sim);
  CU_ASSERT(tw_run_until(w, tw_is_done, 10000));
  TEST_EQ_INT(w->err, -ECONNREFUSED, w->seed);
  CU_ASSERT_STRING_EQUAL(w->errmsg,
                         "cannot connect to b1:9999: connection refused");
  CU_ASSERT(w->done_at_ns - t0 < 2 * SEC);
  tw_free(w);
}

static void test_request_timeout(void) {
  tw *w = tw_new(test_seed(), 1);
  w->cl->blackhole = true;
  w->kcfg.request_timeout_ms = 500;
  tw_start_client(w, tw_script_md_fail);
  uint64_t t0 = sim_now_ns(w->sim);
  CU_ASSERT(tw_run_until(w, tw_is_done, 20000));
  TEST_EQ_INT(w->err, -ETIMEDOUT, w->seed);
  CU_ASSERT_PTR_NOT_NULL(strstr(w->errmsg, "timed out after 500 ms"));
  /* Three connects, each cut off by the request timeout. */
  CU_ASSERT(w->done_at_ns - t0 >= 1500 * MS);
  CU_ASSERT(w->done_at_ns - t0 < 5 * SEC);
  tw_free(w);
}

static void tw_stop_broker(sim_t *sim, void *arg) {
  tw *w = arg;
  sim_node_crash(sim, w->bnodes[0], 0);
}

static void tw_restart_broker(sim_t *sim, void *arg) {
  tw *w = arg;
  sim_node_restart(sim, w->bnodes[0]);
}

static void test_producer_survives_broker_restart(void) {
  tw *w = tw_new(test_seed(), 1);
  cfake_add_topic(w->cl, "t", 1, 1);
  w->kcfg.idempotence = true;
  w->kcfg.batch_bytes = 500;
  w->cl->response_delay_ns = 2 * MS;
  w->topic = "t";
  w->total = 3000;
  tw_start_client(w, tw_script_produce);
  sim_schedule(w->sim, 20 * MS, tw_stop_broker, w);
  sim_schedule(w->sim, 800 * MS, tw_restart_broker, w);
  CU_ASSERT(tw_run_until(w, tw_all_delivered, 60000));
  TEST_EQ_INT(w->delivered, 3000, w->seed);
  tw_log_check lc = tw_check_log(w, "t", 0);
  TEST_EQ_INT(lc.count, 3000, w->seed);
  TEST_EQ_INT(lc.out_of_order, 0, w->seed);
  kclient_stats st;
  kclient_get_stats(w->kc, &st);
  CU_ASSERT(st.connect_failures >= 1);
  tw_free(w);
}

static void tw_script_everything(tw *w) {
  tw_pump(w);
  tw_start_consumer(w, "t", 0, KCLIENT_OFFSET_EARLIEST);
  kclient_metadata(w->kc, NULL, 0, tw_on_md_fail, w);
  kclient_flush(w->kc, tw_on_flush, w);
}

static void tw_reset_now(sim_t *sim, void *arg) {
  tw *w = arg;
  sim_reset_connections(sim, w->cnode, w->bnodes[0]);
}

/* Freeing the client (and its consumer) at any moment is clean: requests
 * in flight, outcomes deferred, batches queued, a long poll parked. Run
 * under ASan, this is the leak test of every teardown path. */
static void test_free_mid_flight(void) {
  for (uint64_t ms = 1; ms <= 40; ms += 3) {
    tw *w = tw_new(test_seed() + ms, 1);
    cfake_add_topic(w->cl, "t", 1, 1);
    w->cl->response_delay_ns = 5 * MS;
    w->kcfg.batch_bytes = 200;
    w->kcfg.idempotence = ms % 2 == 1;
    w->topic = "t";
    w->total = 2000;
    tw_start_client(w, tw_script_everything);
    sim_schedule(w->sim, ms * MS / 2, tw_reset_now, w);
    tw_run_ms(w, ms);
    CU_ASSERT(!tw_all_delivered(w) || ms > 30);
    tw_free(w); /* stops the client node: kclient_free */
  }
}

/* Same seed, same run: the client adds no nondeterminism of its own. */
static uint64_t tw_trace_of(uint64_t seed) {
  tw *w = tw_new(seed, 2);
  cfake_add_topic(w->cl, "t", 4, -1);
  w->kcfg.batch_bytes = 400;
  w->topic = "t";
  w->partition = KCLIENT_PARTITION_ANY;
  w->total = 500;
  tw_start_client(w, tw_script_produce);
  tw_run_until(w, tw_all_delivered, 10000);
  uint64_t h = sim_trace_hash(w->sim);
  tw_free(w);
  return h;
}

static void test_deterministic(void) {
  uint64_t a = tw_trace_of(test_seed());
  uint64_t b = tw_trace_of(test_seed());
  uint64_t c = tw_trace_of(test_seed() + 1);
  CU_ASSERT_EQUAL(a, b);
  CU_ASSERT_NOT_EQUAL(a, c);
}

int suite_client(void) {
  TEST_SUITE(
      "client", {"murmur2 matches Kafka", test_murmur2_matches_kafka},
      {"host:port parsing", test_parse_hostport},
      {"bad configs are rejected", test_config_rejected},
      {"negotiates the max common versions",
       test_negotiates_max_common_versions},
      {"no common version: -ENOTSUP", test_no_common_version},
      {"metadata: brokers, topics, leaders", test_metadata},
      {"produce: batches, acks 1/-1/0, offsets", test_produce_batches_and_acks},
      {"produce: linger and flush", test_linger_and_flush},
      {"produce: key partitioner and sticky", test_partitioner},
      {"idempotent sequences", test_idempotent_sequences},
      {"retries after connection reset", test_retries_after_connection_reset},
      {"large batches sent from the producer's buffers",
       test_large_batches_from_producer_buffers},
      {"retry on NOT_LEADER moves to new leader", test_retry_on_not_leader},
      {"injected produce errors", test_injected_errors},
      {"bounded in-flight and buffer", test_bounded_in_flight_and_buffer},
      {"unknown topic", test_unknown_topic},
      {"delivery timeout", test_delivery_timeout},
      {"fetch from earliest / offset", test_fetch_from_offsets},
      {"fetch long poll and latest", test_fetch_long_poll_and_latest},
      {"fetch offset out of range", test_fetch_out_of_range},
      {"metadata max age", test_metadata_max_age},
      {"fetch many partitions, pause", test_fetch_many_partitions_and_pause},
      {"fetch pipelined, pause mid-answer", test_fetch_pipelined},
      {"fetch with whole and cut reads", test_fetch_reads_whole_and_cut},
      {"list offsets", test_list_offsets}, {"admin", test_admin},
      {"fail fast without a broker", test_fail_fast_without_broker},
      {"request timeout", test_request_timeout},
      {"producer survives a broker restart",
       test_producer_survives_broker_restart},
      {"free mid-flight", test_free_mid_flight},
      {"deterministic per seed", test_deterministic});
}
