/*
 * lib_broker_sim.c — the broker-in-the-simulator harness (see
 * lib_broker_sim.h): the raw-frame client node, the harness around the
 * sim, and the request helpers every broker suite needs.
 */
#include "tests/unit/lib_broker_sim.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "tests/unit/testutil.h"

#define NS_PER_MS UINT64_C(1000000)

/* ------------------------------------------------------- the client node */

static void client_on_connect(void *arg, env_conn_t *conn) {
  ((bsim_client *)arg)->connected = true;
}

/* Splits the stream into frames: a 4-byte big-endian size, then the body. */
static void client_on_data(void *arg, env_conn_t *conn, const uint8_t *data,
                           size_t len) {
  bsim_client *c = arg;
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

static void client_on_close(void *arg, env_conn_t *conn, int status) {
  bsim_client *c = arg;
  c->closed = true;
  c->close_status = status;
  c->conn = NULL;
}

static const env_conn_cbs client_cbs = {client_on_connect, client_on_data, NULL,
                                        client_on_close, NULL};

void bsim_client_connect(bsim_client *c) {
  g_byte_array_set_size(c->in, 0);
  c->connected = c->closed = false;
  c->conn = env_connect(c->env, c->cfg->host, c->cfg->port, &client_cbs, c);
}

static void *client_start(env_t *env, void *config) {
  bsim_client *c = g_new0(bsim_client, 1);
  c->env = env;
  c->cfg = config;
  c->in = g_byte_array_new();
  g_queue_init(&c->frames);
  c->next_corr = 1;
  bsim_client_connect(c);
  return c;
}

static void client_stop(void *node) {
  bsim_client *c = node;
  env_conn_close(c->conn);
  g_byte_array_free(c->in, TRUE);
  g_queue_clear_full(&c->frames, (GDestroyNotify)g_bytes_unref);
  g_free(c);
}

const env_node_ops bsim_client_ops = {"test-client", client_start, client_stop};

/* ----------------------------------------------------------- the harness */

bsim_client *bsim_client_at(bsim *t, int ci) {
  SL_ASSERT(ci >= 0 && ci < BSIM_CLIENTS);
  return sim_node_ctx(t->cnode[ci]);
}

broker_t *bsim_broker(bsim *t) { return sim_node_ctx(t->bnode); }

bool bsim_run_until(bsim *t, bool (*cond)(void *), void *arg,
                    uint64_t timeout_ns) {
  uint64_t deadline = sim_now_ns(t->sim) + timeout_ns;
  while (!cond(arg)) {
    if (sim_now_ns(t->sim) >= deadline || !sim_step(t->sim))
      return cond(arg);
  }
  return true;
}

bool bsim_is_connected(void *arg) { return ((bsim_client *)arg)->connected; }

bool bsim_has_frame(void *arg) {
  return !g_queue_is_empty(&((bsim_client *)arg)->frames);
}

bool bsim_is_closed(void *arg) { return ((bsim_client *)arg)->closed; }

void bsim_open_with(bsim *t, uint64_t seed, void (*tweak)(broker_config *)) {
  memset(t, 0, sizeof *t);
  t->seed = seed;
  sim_options o;
  sim_options_default(&o, seed);
  t->sim = sim_new(&o);
  CU_ASSERT_PTR_NOT_NULL_FATAL(t->sim);
  broker_config_default(&t->bcfg);
  g_free(t->bcfg.listen_host);
  t->bcfg.listen_host = g_strdup("broker");
  t->bcfg.listen_port = BSIM_BROKER_PORT;
  g_free(t->bcfg.advertised_host);
  t->bcfg.advertised_host = g_strdup("broker");
  g_free(t->bcfg.log_dirs[0]);
  t->bcfg.log_dirs[0] = g_strdup("/data");
  t->bcfg.num_partitions = 1;
  if (tweak)
    tweak(&t->bcfg);
  t->ccfg.host = "broker";
  t->ccfg.port = BSIM_BROKER_PORT;
  t->bnode = sim_node_add(t->sim, "broker", &broker_node_ops, &t->bcfg);
  sim_run_until(t->sim, sim_now_ns(t->sim) + NS_PER_MS);
  CU_ASSERT_TRUE_FATAL(sim_node_is_up(t->bnode));
  t->cnode[0] = sim_node_add(t->sim, "client", &bsim_client_ops, &t->ccfg);
  t->cnode[1] = sim_node_add(t->sim, "client2", &bsim_client_ops, &t->ccfg);
  sim_run_until(t->sim, sim_now_ns(t->sim) + NS_PER_MS);
  for (int ci = 0; ci < BSIM_CLIENTS; ci++)
    CU_ASSERT_TRUE_FATAL(bsim_run_until(t, bsim_is_connected,
                                        bsim_client_at(t, ci), BSIM_WAIT_NS));
  t->arena = proto_arena_new(0);
}

void bsim_open(bsim *t, uint64_t seed) { bsim_open_with(t, seed, NULL); }

void bsim_close(bsim *t) {
  sim_free(t->sim);
  broker_config_clear(&t->bcfg);
  proto_arena_free(t->arena);
  if (t->last)
    g_bytes_unref(t->last);
}

int32_t bsim_send(bsim *t, int ci, int16_t key, int16_t ver, const void *body) {
  bsim_client *c = bsim_client_at(t, ci);
  int32_t corr = c->next_corr++;
  buf_t b = BUF_INIT;
  int rc = proto_request_encode(&b, key, ver, corr, "unit", body);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  CU_ASSERT_EQUAL(env_conn_send(c->conn, b.data, b.len), 0);
  buf_free(&b);
  return corr;
}

void bsim_send_raw(bsim *t, int ci, const void *data, size_t len) {
  CU_ASSERT_EQUAL(env_conn_send(bsim_client_at(t, ci)->conn, data, len), 0);
}

void *bsim_recv(bsim *t, int ci, int32_t corr, int16_t key, int16_t ver) {
  bsim_client *c = bsim_client_at(t, ci);
  if (!bsim_run_until(t, bsim_has_frame, c, BSIM_WAIT_NS)) {
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

void *bsim_call(bsim *t, int ci, int16_t key, int16_t ver, const void *body) {
  int32_t corr = bsim_send(t, ci, key, ver, body);
  return bsim_recv(t, ci, corr, key, ver);
}

static bool flag_set(void *arg) { return *(bool *)arg; }

static void on_shutdown(void *arg, int status) {
  CU_ASSERT_EQUAL(status, 0);
  *(bool *)arg = true;
}

void bsim_restart(bsim *t, bool clean) {
  if (clean) {
    bool done = false;
    broker_shutdown(bsim_broker(t), on_shutdown, &done);
    CU_ASSERT_TRUE_FATAL(bsim_run_until(t, flag_set, &done, BSIM_WAIT_NS));
    sim_node_stop(t->sim, t->bnode);
  } else {
    sim_node_crash(t->sim, t->bnode, 0);
  }
  sim_run_until(t->sim, sim_now_ns(t->sim) + 10 * NS_PER_MS);
  sim_node_restart(t->sim, t->bnode);
  sim_run_until(t->sim, sim_now_ns(t->sim) + 10 * NS_PER_MS);
  CU_ASSERT_TRUE_FATAL(sim_node_is_up(t->bnode));
  bsim_client *c = bsim_client_at(t, 0);
  bsim_run_until(t, bsim_is_closed, c, BSIM_WAIT_NS);
  g_queue_clear_full(&c->frames, (GDestroyNotify)g_bytes_unref);
  bsim_client_connect(c);
  CU_ASSERT_TRUE_FATAL(bsim_run_until(t, bsim_is_connected, c, BSIM_WAIT_NS));
}

/* ------------------------------------------------------ request helpers */

proto_str bsim_str(const char *s) { return proto_str_from(s); }

int16_t bsim_create_topic(bsim *t, const char *name, int32_t partitions,
                          const char *cfg_key, const char *cfg_value) {
  proto_create_topics_req *r = PROTO_NEW(t->arena, proto_create_topics_req);
  proto_create_topics_req_creatable_topic *ct =
      PROTO_NEW_ARRAY(t->arena, proto_create_topics_req_creatable_topic, 1);
  ct->name = bsim_str(name);
  ct->num_partitions = partitions;
  ct->replication_factor = 1;
  if (cfg_key) {
    proto_create_topics_req_createable_topic_config *c = PROTO_NEW_ARRAY(
        t->arena, proto_create_topics_req_createable_topic_config, 1);
    c->name = bsim_str(cfg_key);
    c->value = bsim_str(cfg_value);
    ct->configs.items = c;
    ct->configs.count = 1;
  }
  r->topics.items = ct;
  r->topics.count = 1;
  r->timeout_ms = 10000;
  proto_create_topics_resp *resp =
      bsim_call(t, 0, PROTO_API_CREATE_TOPICS, 5, r);
  CU_ASSERT_EQUAL_FATAL(resp->topics.count, 1);
  return resp->topics.items[0].error_code;
}
