/*
 * The same node on both environments.
 *
 * "pingstore" is a tiny two-role node written only against base/env.h: the
 * client sends numbered records over one connection; the server appends
 * each record to a file, fsyncs after every batch, and acknowledges a batch
 * only once its fsync completed; the client checks the acks and finishes by
 * closing. The observable result — the stored file's bytes and the counts on
 * both sides — must be identical when the two nodes run on the libuv env
 * (real loopback TCP, a temporary directory) and in the simulator.
 */
#include <errno.h>
#include <glib.h>
#include <string.h>
#include <uv.h>

#include "base/env.h"
#include "base/env_uv.h"
#include "sim/sim.h"
#include "tests/unit/testutil.h"

enum {
  PS_RECORDS = 2000,
  PS_BATCH = 50,
  PS_RECORD_BYTES = 64,
};

typedef struct ps_config {
  bool server;
  const char *host; /* client: where the server listens */
  uint16_t port;    /* client: server port; server: port to bind (0 = any) */
  const char *path; /* server: the file records go to */
} ps_config;

typedef struct ps_node {
  env_t *env;
  const ps_config *cfg;
  env_listener_t *listener;
  env_conn_t *conn;
  env_file_t *file;
  GByteArray *inbox; /* partial bytes not yet a whole record */
  uint32_t records_stored;
  uint32_t records_sent;
  uint32_t acks_received;
  uint32_t fsyncs_pending;
  bool done;
  bool failed;
} ps_node;

/* Record i: 64 bytes derived from i, so the server's file is predictable. */
static void ps_record(uint32_t i, uint8_t *out) {
  for (uint32_t b = 0; b < PS_RECORD_BYTES; b++)
    out[b] = (uint8_t)(i * 31u + b * 7u + (i >> 8));
}

static void ps_client_send_batch(ps_node *n) {
  uint8_t rec[PS_RECORD_BYTES];
  for (int k = 0; k < PS_BATCH && n->records_sent < PS_RECORDS; k++) {
    ps_record(n->records_sent++, rec);
    if (env_conn_send(n->conn, rec, sizeof rec) != 0)
      n->failed = true;
  }
}

static void ps_client_on_connect(void *arg, env_conn_t *c) {
  ps_client_send_batch(arg);
}

static void ps_client_on_data(void *arg, env_conn_t *c, const uint8_t *data,
                              size_t len) {
  ps_node *n = arg;
  /* Each ack is one byte 'A' per stored batch. */
  for (size_t i = 0; i < len; i++) {
    if (data[i] != 'A')
      n->failed = true;
    n->acks_received++;
  }
  if (n->records_sent < PS_RECORDS) {
    ps_client_send_batch(n);
  } else if (n->acks_received == PS_RECORDS / PS_BATCH) {
    n->done = true;
    env_conn_close(n->conn);
    n->conn = NULL;
  }
}

static void ps_client_on_close(void *arg, env_conn_t *c, int status) {
  ps_node *n = arg;
  n->conn = NULL;
  if (!n->done)
    n->failed = true;
}

static void ps_server_fsync_done(void *arg, int status) {
  ps_node *n = arg;
  n->fsyncs_pending--;
  if (status != 0) {
    n->failed = true;
    return;
  }
  if (n->conn) {
    uint8_t a = 'A';
    if (env_conn_send(n->conn, &a, 1) != 0)
      n->failed = true;
  }
}

static void ps_server_on_data(void *arg, env_conn_t *c, const uint8_t *data,
                              size_t len) {
  ps_node *n = arg;
  g_byte_array_append(n->inbox, data, (guint)len);
  size_t whole = n->inbox->len / PS_RECORD_BYTES;
  if (whole == 0)
    return;
  size_t bytes = whole * PS_RECORD_BYTES;
  if (env_file_append(n->file, n->inbox->data, bytes) != 0)
    n->failed = true;
  g_byte_array_remove_range(n->inbox, 0, (guint)bytes);
  uint32_t before = n->records_stored;
  n->records_stored += (uint32_t)whole;
  /* One fsync (and so one ack) per completed client batch. */
  for (uint32_t r = before + 1; r <= n->records_stored; r++) {
    if (r % PS_BATCH == 0) {
      n->fsyncs_pending++;
      env_file_fsync(n->file, ps_server_fsync_done, n);
    }
  }
}

static void ps_server_on_close(void *arg, env_conn_t *c, int status) {
  ps_node *n = arg;
  n->conn = NULL;
  n->done = status == 0 && n->records_stored == PS_RECORDS;
}

static const env_conn_cbs ps_server_cbs = {.on_data = ps_server_on_data,
                                           .on_close = ps_server_on_close};
static const env_conn_cbs ps_client_cbs = {.on_connect = ps_client_on_connect,
                                           .on_data = ps_client_on_data,
                                           .on_close = ps_client_on_close};

static void ps_server_on_accept(void *arg, env_conn_t *c) {
  ps_node *n = arg;
  if (n->conn) { /* one client only */
    env_conn_close(c);
    return;
  }
  n->conn = c;
  env_conn_set_cbs(c, &ps_server_cbs, n);
}

static void *ps_start(env_t *env, void *config) {
  ps_node *n = g_new0(ps_node, 1);
  n->env = env;
  n->cfg = config;
  n->inbox = g_byte_array_new();
  if (n->cfg->server) {
    if (env_file_open(env, n->cfg->path,
                      ENV_O_READ | ENV_O_WRITE | ENV_O_CREATE | ENV_O_TRUNC,
                      &n->file) != 0 ||
        env_listen(env, "127.0.0.1", n->cfg->port, ps_server_on_accept, n,
                   &n->listener) != 0)
      n->failed = true;
  } else {
    n->conn =
        env_connect(env, n->cfg->host, n->cfg->port, &ps_client_cbs, n);
  }
  return n;
}

static void ps_stop(void *node) {
  ps_node *n = node;
  if (!n)
    return;
  env_listener_close(n->listener);
  env_conn_close(n->conn);
  env_file_close(n->file);
  g_byte_array_free(n->inbox, TRUE);
  g_free(n);
}

static const env_node_ops ps_ops = {"pingstore", ps_start, ps_stop};

typedef struct ps_result {
  bool client_done, server_done, failed;
  uint32_t stored, acks;
  uint64_t file_size;
  uint32_t file_digest; /* FNV-1a of the file bytes */
} ps_result;

static uint32_t digest(const uint8_t *p, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 16777619u;
  return h;
}

/* Reads the server's file back through its env and fills the result. */
static void ps_collect(env_t *env, const char *path, ps_node *srv,
                       ps_node *cli, ps_result *r) {
  r->client_done = cli->done;
  r->server_done = srv->done;
  r->failed = cli->failed || srv->failed;
  r->stored = srv->records_stored;
  r->acks = cli->acks_received;
  env_file_t *f = NULL;
  CU_ASSERT_EQUAL_FATAL(env_file_open(env, path, ENV_O_READ, &f), 0);
  CU_ASSERT_EQUAL(env_file_size(f, &r->file_size), 0);
  uint8_t *bytes = g_malloc(r->file_size + 1);
  size_t got = 0;
  CU_ASSERT_EQUAL(env_file_pread(f, bytes, r->file_size, 0, &got), 0);
  CU_ASSERT_EQUAL(got, r->file_size);
  r->file_digest = digest(bytes, got);
  g_free(bytes);
  env_file_close(f);
}

static void ps_stop_loop(uv_timer_t *t) { uv_stop(t->loop); }

static void run_on_uv(ps_result *r) {
  char *dir = test_tmpdir();
  char *path = g_build_filename(dir, "records.dat", NULL);
  uv_loop_t loop;
  CU_ASSERT_EQUAL_FATAL(uv_loop_init(&loop), 0);
  env_t *srv_env = env_uv_new(&loop, "server", 1);
  env_t *cli_env = env_uv_new(&loop, "client", 2);
  ps_config srv_cfg = {.server = true, .port = 0, .path = path};
  ps_node *srv = ps_start(srv_env, &srv_cfg);
  CU_ASSERT_FATAL(!srv->failed);
  ps_config cli_cfg = {.server = false,
                       .host = "127.0.0.1",
                       .port = env_listener_port(srv->listener)};
  ps_node *cli = ps_start(cli_env, &cli_cfg);

  /* Bounded: poll the loop until both sides are done or 20 s pass. */
  uv_timer_t guard;
  uv_timer_init(&loop, &guard);
  uint64_t deadline_ms = uv_now(&loop) + 20000;
  while (!(cli->done && srv->done && srv->fsyncs_pending == 0) &&
         uv_now(&loop) < deadline_ms) {
    uv_timer_start(&guard, ps_stop_loop, 50, 0);
    uv_run(&loop, UV_RUN_ONCE);
  }
  uv_timer_stop(&guard);
  uv_close((uv_handle_t *)&guard, NULL);
  ps_collect(srv_env, path, srv, cli, r);
  ps_stop(cli);
  ps_stop(srv);
  env_uv_free(cli_env);
  env_uv_free(srv_env);
  uv_run(&loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(uv_loop_close(&loop), 0);
  test_rm_tree(dir);
  g_free(path);
  g_free(dir);
}

static void run_on_sim(uint64_t seed, ps_result *r) {
  sim_options opts;
  sim_options_default(&opts, seed);
  sim_t *sim = sim_new(&opts);
  ps_config srv_cfg = {.server = true, .port = 9000, .path = "records.dat"};
  ps_config cli_cfg = {.server = false, .host = "server", .port = 9000};
  sim_node_t *srv_node = sim_node_add(sim, "server", &ps_ops, &srv_cfg);
  sim_run_until(sim, sim_now_ns(sim) + 1000000); /* server listening */
  sim_node_t *cli_node = sim_node_add(sim, "client", &ps_ops, &cli_cfg);
  ps_node *srv = sim_node_ctx(srv_node);
  uint64_t deadline_ns = sim_now_ns(sim) + 60ull * 1000000000ull;
  while (sim_now_ns(sim) < deadline_ns) {
    ps_node *cli = sim_node_ctx(cli_node);
    if (cli && cli->done && srv->done && srv->fsyncs_pending == 0)
      break;
    if (!sim_step(sim))
      break;
  }
  ps_collect(sim_node_env(srv_node), "records.dat", srv,
             sim_node_ctx(cli_node), r);
  sim_free(sim);
}

static void expect_complete(const ps_result *r, const char *where) {
  if (!(r->client_done && r->server_done && !r->failed))
    fprintf(stderr, "\n  pingstore on %s: client_done=%d server_done=%d "
                    "failed=%d stored=%u acks=%u\n",
            where, r->client_done, r->server_done, r->failed, r->stored,
            r->acks);
  CU_ASSERT(r->client_done);
  CU_ASSERT(r->server_done);
  CU_ASSERT(!r->failed);
  CU_ASSERT_EQUAL(r->stored, PS_RECORDS);
  CU_ASSERT_EQUAL(r->acks, PS_RECORDS / PS_BATCH);
  CU_ASSERT_EQUAL(r->file_size, (uint64_t)PS_RECORDS * PS_RECORD_BYTES);
}

static void test_same_result_uv_and_sim(void) {
  ps_result on_uv = {0}, on_sim = {0};
  run_on_uv(&on_uv);
  expect_complete(&on_uv, "uv");
  /* Several seeds: chunking and latency differ, the outcome must not. */
  for (uint64_t seed = 1; seed <= 5; seed++) {
    memset(&on_sim, 0, sizeof on_sim);
    run_on_sim(test_seed() + seed, &on_sim);
    expect_complete(&on_sim, "sim");
    CU_ASSERT_EQUAL(on_sim.file_digest, on_uv.file_digest);
    CU_ASSERT_EQUAL(on_sim.file_size, on_uv.file_size);
    CU_ASSERT_EQUAL(on_sim.acks, on_uv.acks);
  }
  /* And the digest is the expected one, computed independently. */
  uint8_t *all = g_malloc((size_t)PS_RECORDS * PS_RECORD_BYTES);
  for (uint32_t i = 0; i < PS_RECORDS; i++)
    ps_record(i, all + (size_t)i * PS_RECORD_BYTES);
  CU_ASSERT_EQUAL(on_uv.file_digest,
                  digest(all, (size_t)PS_RECORDS * PS_RECORD_BYTES));
  g_free(all);
}

int suite_env_both(void) {
  TEST_SUITE("env_both",
             {"same node, same result on uv and sim",
              test_same_result_uv_and_sim});
}
