/*
 * test_client_broker.c — the client (broker/client/) against the real
 * broker node (broker/server/) in the simulator: the two halves of the
 * protocol written by different hands, meeting on simulated TCP and disks.
 *
 * Needs the broker module linked (MODULES includes broker/server).
 */
#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "broker/client/client.h"
#include "broker/kerr.h"
#include "broker/server/broker.h"
#include "sim/sim.h"
#include "tests/unit/testutil.h"

#define MS UINT64_C(1000000)
#define CB_RECORDS 6000

typedef struct cb_world {
  uint64_t seed;
  sim_t *sim;
  broker_config bcfg;
  sim_node_t *bnode;
  sim_node_t *cnode;
  kclient_config kcfg;
  kclient_t *kc;
  env_t *env;
  int step;
  int errs[16];
  /* producing */
  int next_id, total, delivered, failed, enobufs;
  int delivered_by_id[CB_RECORDS];
  int64_t offset_by_id[CB_RECORDS];
  char last_errmsg[KCLIENT_ERRMSG_BYTES];
  /* consuming */
  kclient_consumer_t *cons;
  int got;
  int got_by_id[CB_RECORDS];
  int bad_values;
  int64_t last_offset[3];
  int order_errors;
  int64_t offsets[2];
  uint64_t produced_at_ns; /* when the last delivery came */
  int stop_at_delivered;     /* stop the broker at this many (0 = never) */
  uint64_t restarted_at_ns;
  bool done;
} cb_world;

static void cb_next(cb_world *w);

static void *cb_client_start(env_t *env, void *config) {
  cb_world *w = config;
  w->env = env;
  char msg[KCLIENT_ERRMSG_BYTES];
  if (kclient_new(env, &w->kcfg, &w->kc, msg) != 0) {
    fprintf(stderr, "\n  kclient_new: %s\n", msg);
    return NULL;
  }
  cb_next(w);
  return w;
}

static void cb_client_stop(void *node) {
  cb_world *w = node;
  if (!w)
    return;
  kclient_consumer_free(w->cons);
  w->cons = NULL;
  kclient_free(w->kc);
  w->kc = NULL;
}

static const env_node_ops cb_client_ops = {"client", cb_client_start,
                                           cb_client_stop};

static cb_world *cb_new(uint64_t seed) {
  cb_world *w = g_new0(cb_world, 1);
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
  sim_run_until(w->sim, sim_now_ns(w->sim) + 10 * MS);
  kclient_config_default(&w->kcfg);
  w->kcfg.bootstrap_servers = "b1:9092";
  return w;
}

static void cb_free(cb_world *w) {
  sim_free(w->sim);
  broker_config_clear(&w->bcfg);
  g_free(w);
}

static bool cb_run_until(cb_world *w, bool (*pred)(cb_world *),
                         uint64_t max_ms) {
  uint64_t deadline = sim_now_ns(w->sim) + max_ms * MS;
  while (!pred(w) && sim_now_ns(w->sim) < deadline)
    sim_run_until(w->sim, sim_now_ns(w->sim) + MS);
  return pred(w);
}

static bool cb_is_done(cb_world *w) { return w->done; }

/* ---- the script: create, produce, consume, offsets, configs, delete ---- */

static void cb_topics_done(void *arg, int err, const char *errmsg,
                           const kclient_topic_result *r, size_t n) {
  cb_world *w = arg;
  w->errs[w->step] = err ? err : (n ? r[0].err : -1);
  if (w->errs[w->step])
    fprintf(stderr, "\n  step %d: %s / %s\n", w->step, errmsg,
            n ? r[0].errmsg : "");
  w->step++;
  cb_next(w);
}

static void cb_pump(cb_world *w);
static void cb_stop_broker(sim_t *sim, void *arg);

static void cb_delivered(void *arg, const kclient_delivery *d) {
  cb_world *w = ((cb_world **)arg)[0];
  int id = (int)(((intptr_t *)arg)[1]);
  w->delivered_by_id[id]++;
  w->offset_by_id[id] = d->offset;
  if (d->err) {
    w->failed++;
    g_strlcpy(w->last_errmsg, d->errmsg, sizeof w->last_errmsg);
  } else {
    w->delivered++;
  }
  g_free(arg);
  if (w->stop_at_delivered && w->delivered == w->stop_at_delivered)
    sim_schedule(w->sim, 0, cb_stop_broker, w);
  if (w->delivered + w->failed == w->total) {
    w->produced_at_ns = env_now_ns(w->env);
    w->step++;
    cb_next(w);
    return;
  }
  cb_pump(w);
}

static void cb_pump(cb_world *w) {
  while (w->next_id < w->total) {
    int id = w->next_id;
    char key[32], value[64];
    int kl = snprintf(key, sizeof key, "key-%05d", id);
    int vl = snprintf(value, sizeof value, "value-%05d-%s", id,
                      "abcdefghijklmnopqrstuvwxyz" + id % 26);
    kclient_message m = {
        "t", KCLIENT_PARTITION_ANY, key, kl, value, vl, -1, NULL, 0};
    void **arg = g_new(void *, 2);
    arg[0] = w;
    arg[1] = (void *)(intptr_t)id;
    int rc = kclient_produce(w->kc, &m, cb_delivered, arg);
    if (rc == -ENOBUFS) {
      g_free(arg);
      w->enobufs++;
      return;
    }
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    w->next_id++;
  }
}

static void cb_on_record(void *arg, const kclient_record *r) {
  cb_world *w = arg;
  int id = -1;
  char buf[64];
  int n = r->value_len < 63 ? r->value_len : 63;
  memcpy(buf, r->value, (size_t)n);
  buf[n] = '\0';
  if (sscanf(buf, "value-%d-", &id) != 1 || id < 0 || id >= CB_RECORDS) {
    w->bad_values++;
    return;
  }
  char key[32];
  int kl = snprintf(key, sizeof key, "key-%05d", id);
  if (r->key_len != kl || memcmp(r->key, key, (size_t)kl) != 0)
    w->bad_values++;
  if (r->offset <= w->last_offset[r->partition])
    w->order_errors++;
  w->last_offset[r->partition] = r->offset;
  w->got_by_id[id]++;
  if (++w->got == w->total) {
    kclient_consumer_pause(w->cons);
    w->step++;
    cb_next(w);
  }
}

static void cb_offset(void *arg, int err, const char *errmsg, int64_t offset,
                      int64_t ts) {
  cb_world *w = arg;
  w->errs[w->step] = err;
  w->offsets[w->step == 4 ? 0 : 1] = offset;
  w->step++;
  cb_next(w);
}

static void cb_configs(void *arg, int err, const char *errmsg,
                       const kclient_config_value *e, size_t n) {
  cb_world *w = arg;
  w->errs[w->step] = err;
  bool found = false;
  for (size_t i = 0; i < n; i++)
    if (strcmp(e[i].name, "retention.ms") == 0 && e[i].value &&
        strcmp(e[i].value, "3600000") == 0 && !e[i].is_default)
      found = true;
  if (!err && !found)
    w->errs[w->step] = -ENOENT;
  w->step++;
  cb_next(w);
}

static void cb_altered(void *arg, int err, const char *errmsg) {
  cb_world *w = arg;
  w->errs[w->step] = err;
  w->step++;
  cb_next(w);
}

static void cb_next(cb_world *w) {
  static const kclient_config_entry cfgs[] = {{"retention.ms", "3600000"}};
  kclient_new_topic nt = {"t", 3, 1, cfgs, 1};
  const char *names[] = {"t"};
  kclient_config_alter alt = {"retention.ms", KCLIENT_ALTER_DELETE, NULL};
  switch (w->step) {
  case 0:
    kclient_create_topics(w->kc, &nt, 1, false, cb_topics_done, w);
    break;
  case 1:
    cb_pump(w);
    break;
  case 2: {
    kclient_consumer_config cc;
    kclient_consumer_config_default(&cc);
    cc.on_record = cb_on_record;
    cc.arg = w;
    w->last_offset[0] = w->last_offset[1] = w->last_offset[2] = -1;
    w->cons = kclient_consumer_new(w->kc, &cc);
    for (int32_t p = 0; p < 3; p++)
      CU_ASSERT_EQUAL(
          kclient_consumer_assign(w->cons, "t", p, KCLIENT_OFFSET_EARLIEST), 0);
    break;
  }
  case 3:
    kclient_describe_configs(w->kc, KCLIENT_RESOURCE_TOPIC, "t", cb_configs, w);
    break;
  case 4:
    kclient_list_offsets(w->kc, "t", 0, KCLIENT_OFFSET_EARLIEST, cb_offset, w);
    break;
  case 5:
    kclient_list_offsets(w->kc, "t", 0, KCLIENT_OFFSET_LATEST, cb_offset, w);
    break;
  case 6:
    kclient_alter_configs(w->kc, KCLIENT_RESOURCE_TOPIC, "t", &alt, 1, false,
                          cb_altered, w);
    break;
  case 7:
    kclient_delete_topics(w->kc, names, 1, cb_topics_done, w);
    break;
  default:
    w->done = true;
  }
}

static void cb_check(cb_world *w, bool exactly_once) {
  TEST_EQ_INT(w->delivered, w->total, w->seed);
  TEST_EQ_INT(w->failed, 0, w->seed);
  TEST_EQ_INT(w->got, w->total, w->seed);
  TEST_EQ_INT(w->bad_values, 0, w->seed);
  TEST_EQ_INT(w->order_errors, 0, w->seed);
  int missing = 0, dups = 0;
  for (int i = 0; i < w->total; i++) {
    missing += w->got_by_id[i] == 0;
    dups += w->got_by_id[i] > 1;
    TEST_EQ_INT(w->delivered_by_id[i], 1, w->seed);
  }
  TEST_EQ_INT(missing, 0, w->seed);
  if (exactly_once)
    TEST_EQ_INT(dups, 0, w->seed);
  for (int s = 0; s < 8; s++)
    TEST_EQ_INT(w->errs[s], 0, w->seed);
  TEST_EQ_INT(w->offsets[0], 0, w->seed);
  /* The latest offset of partition 0 is the count the consumer saw. */
  TEST_EQ_INT(w->offsets[1], w->last_offset[0] + 1, w->seed);
}

static void test_full_cycle(void) {
  batch_codec codecs[] = {BATCH_CODEC_NONE, BATCH_CODEC_LZ4, BATCH_CODEC_ZSTD};
  for (size_t k = 0; k < G_N_ELEMENTS(codecs); k++) {
    cb_world *w = cb_new(test_seed() + k);
    w->kcfg.idempotence = k != 0;
    w->kcfg.compression = codecs[k];
    w->kcfg.batch_bytes = 2048;
    w->total = CB_RECORDS;
    w->cnode = sim_node_add(w->sim, "c1", &cb_client_ops, w);
    CU_ASSERT(cb_run_until(w, cb_is_done, 60000));
    cb_check(w, true);
    cb_free(w);
  }
}

static void cb_restart_broker(sim_t *sim, void *arg) {
  cb_world *w = arg;
  w->restarted_at_ns = sim_now_ns(sim);
  sim_node_restart(sim, w->bnode);
}

static void cb_stop_broker(sim_t *sim, void *arg) {
  cb_world *w = arg;
  sim_node_stop(sim, w->bnode); /* no clean shutdown; disk image kept */
  sim_schedule(sim, 500 * MS, cb_restart_broker, w);
}

static void test_broker_restart_mid_produce(void) {
  cb_world *w = cb_new(test_seed());
  w->kcfg.idempotence = true;
  w->kcfg.batch_bytes = 1024;
  w->total = CB_RECORDS;
  w->stop_at_delivered = CB_RECORDS / 3;
  w->cnode = sim_node_add(w->sim, "c1", &cb_client_ops, w);
  CU_ASSERT(cb_run_until(w, cb_is_done, 60000));
  cb_check(w, true);
  kclient_stats st;
  kclient_get_stats(w->kc, &st);
  CU_ASSERT(st.disconnects + st.connect_failures >= 1);
  /* The stop really hit the middle of production. */
  CU_ASSERT(w->restarted_at_ns > 0);
  CU_ASSERT(w->produced_at_ns > w->restarted_at_ns);
  cb_free(w);
}

int suite_client_broker(void) {
  TEST_SUITE(
      "client_broker",
      {"create, produce, consume, offsets, configs, delete", test_full_cycle},
      {"broker restart while producing (idempotent)",
       test_broker_restart_mid_produce});
}
