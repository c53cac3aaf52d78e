/*
 * The same node on both environments.
 *
 * "pingstore" is a tiny two-role node written only against base/env.h: the
 * client sends numbered records over one connection; the server appends
 * each record to a file, fsyncs after every batch, and acknowledges a batch
 * only once its fsync completed; the client checks the acks and finishes by
 * closing. The observable result — the stored file's bytes and the counts on
 * both sides — must be identical when the two nodes run on the libuv env
 * (real loopback TCP, a temporary directory) and in the simulator. The
 * server also gives disk advice after every append, which must change
 * none of it.
 */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
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
  /* Disk advice as the log gives it (env.h: it changes nothing that can be
   * observed): space ahead of the end, writeback of what was written. The
   * stored bytes, and so the file's size, must still match on both envs. */
  uint64_t end = (uint64_t)n->records_stored * PS_RECORD_BYTES;
  env_file_advise(n->file, ENV_ADVICE_RESERVE, end, (uint64_t)64 << 10);
  env_file_advise(n->file, ENV_ADVICE_WRITEBACK, 0, end);
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
    n->conn = env_connect(env, n->cfg->host, n->cfg->port, &ps_client_cbs, n);
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
static void ps_collect(env_t *env, const char *path, ps_node *srv, ps_node *cli,
                       ps_result *r) {
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
  ps_collect(sim_node_env(srv_node), "records.dat", srv, sim_node_ctx(cli_node),
             r);
  sim_free(sim);
}

static void expect_complete(const ps_result *r, const char *where) {
  if (!(r->client_done && r->server_done && !r->failed))
    fprintf(stderr,
            "\n  pingstore on %s: client_done=%d server_done=%d "
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

/* ------------------------------------------------ gathered sends (sendv)
 *
 * "blaster": a server streams BL_BYTES to its one client as BL_OPS sends of
 * random sizes, each either one env_conn_send of a contiguous copy or an
 * env_conn_sendv of the same bytes cut into random pieces (empty ones
 * included). The client starts with reading paused, so on uv the kernel
 * fills up, writes go partial and later sends find a non-empty queue; half
 * of the ops go out from a timer once it reads again, with the queue
 * draining. The client must receive exactly the stream, on both envs; in
 * the simulator every send must add exactly its length to the queue, and
 * the trace must not depend on which of the two calls carried the bytes. */

enum {
  BL_OPS = 400,
  BL_OP_BYTES_MAX = 48 * 1024,
  BL_PIECES_MAX = 9,
  BL_PAUSE_MS = 30,
};

/* BL_SENDV_FILES: sendv whose pieces are, at random, memory copies or
 * views of a file holding the whole stream (env_conn_sendv_files). */
typedef enum bl_mode {
  BL_SEND_ONLY,
  BL_SENDV_ONLY,
  BL_MIXED,
  BL_SENDV_FILES
} bl_mode;

/* The client's reads: into the env's buffer, or into memory it lends
 * (on_alloc) of a random size, declining now and then. */
typedef enum bl_lend { BL_LEND_NONE, BL_LEND_RANDOM } bl_lend;
enum { BL_LOAN_BYTES_MAX = 256 * 1024 };

typedef struct bl_config {
  bool server;
  bl_mode mode;
  bl_lend lend;
  bool queue_exact; /* sim: every send adds exactly its length */
  const char *file_path; /* BL_SENDV_FILES: where the stream is written */
  const char *host;
  uint16_t port;
} bl_config;

typedef struct bl_node {
  env_t *env;
  const bl_config *cfg;
  env_listener_t *listener;
  env_conn_t *conn;
  uint8_t *stream; /* the bytes to send / expected */
  size_t stream_len;
  uint32_t op_len[BL_OPS];
  uint32_t op_next;
  size_t sent;
  size_t received;
  uint32_t mismatches;
  uint32_t queue_mismatches;   /* sim: queued bytes grew by other than len */
  uint32_t sends_behind_queue; /* a send found bytes queued ahead of it */
  uint32_t sends_partial;      /* empty queue before, bytes left after */
  env_file_t *file;            /* BL_SENDV_FILES: the stream [owned] */
  uint8_t *loan;               /* client: memory it lends [owned] */
  size_t loan_len;             /* the current loan, 0 = none */
  uint32_t loans_used;         /* on_data delivered into the loan */
  uint32_t loan_violations;    /* loan ignored though long enough, overrun,
                                  or asked for while paused */
  bool paused;
  uint64_t rng;
  bool done;
  bool failed;
} bl_node;

/* A PRNG of the test's own, identical on both envs (env randomness is
 * per-env and would make the two runs send different operations). */
static uint64_t bl_next(uint64_t *x) {
  *x ^= *x << 13;
  *x ^= *x >> 7;
  *x ^= *x << 17;
  return *x;
}

static void bl_plan(bl_node *n) {
  uint64_t x = 0x9e3779b97f4a7c15ull;
  n->stream_len = 0;
  for (uint32_t i = 0; i < BL_OPS; i++) {
    n->op_len[i] = (uint32_t)(bl_next(&x) % BL_OP_BYTES_MAX) + 1;
    n->stream_len += n->op_len[i];
  }
  n->stream = g_malloc(n->stream_len);
  for (size_t i = 0; i < n->stream_len; i++)
    n->stream[i] = (uint8_t)(bl_next(&x) >> 24);
  n->rng = x;
}

/* Sends len bytes of the stream from n->sent as one env_conn_sendv_files
 * of random pieces: views of the stream's file (sent from the file where
 * the env can) or memory copies, some empty. */
static int bl_send_files(bl_node *n, size_t len) {
  env_iovec iov[BL_PIECES_MAX];
  env_iovec_file files[BL_PIECES_MAX];
  uint8_t *copies[BL_PIECES_MAX];
  size_t pieces = (size_t)(bl_next(&n->rng) % BL_PIECES_MAX) + 1;
  size_t at = 0;
  int rc = 0;
  for (size_t k = 0; k < pieces; k++) {
    size_t left = len - at;
    size_t take = k + 1 == pieces ? left
                  : bl_next(&n->rng) % 4 == 0
                      ? 0
                      : (size_t)(bl_next(&n->rng) % (left + 1));
    uint64_t pos = n->sent + at;
    copies[k] = NULL;
    files[k] = (env_iovec_file){.file = NULL, .offset = 0};
    iov[k] = (env_iovec){.data = NULL, .len = take};
    if (take > 0 && bl_next(&n->rng) % 3 != 0) {
      const uint8_t *view = NULL;
      if (env_file_view(n->file, pos, take, &view) != 0)
        rc = -EIO;
      iov[k].data = view;
      files[k] = (env_iovec_file){.file = n->file, .offset = pos};
    } else if (take > 0) {
      copies[k] = g_memdup2(n->stream + pos, take);
      iov[k].data = copies[k];
    }
    at += take;
  }
  if (rc == 0)
    rc = env_conn_sendv_files(n->conn, iov, files, pieces);
  for (size_t k = 0; k < pieces; k++) {
    if (copies[k])
      memset(copies[k], 0xEE, iov[k].len);
    g_free(copies[k]);
  }
  return rc;
}

/* Sends op i: a copy through env_conn_send or pieces through sendv. */
static void bl_send_op(bl_node *n, uint32_t i) {
  size_t len = n->op_len[i];
  const uint8_t *p = n->stream + n->sent;
  bool use_v = n->cfg->mode == BL_SENDV_ONLY ||
               (n->cfg->mode == BL_MIXED && bl_next(&n->rng) % 2 == 0);
  size_t before = env_conn_queued_bytes(n->conn);
  int rc;
  if (n->cfg->mode == BL_SENDV_FILES) {
    rc = bl_send_files(n, len);
  } else if (!use_v) {
    uint8_t *copy = g_memdup2(p, len);
    rc = env_conn_send(n->conn, copy, len);
    memset(copy, 0xEE, len); /* the env must not have kept a pointer */
    g_free(copy);
  } else {
    env_iovec iov[BL_PIECES_MAX];
    uint8_t *copies[BL_PIECES_MAX];
    size_t pieces = (size_t)(bl_next(&n->rng) % BL_PIECES_MAX) + 1;
    size_t at = 0;
    for (size_t k = 0; k < pieces; k++) {
      size_t left = len - at;
      size_t take = k + 1 == pieces ? left
                    : bl_next(&n->rng) % 4 == 0
                        ? 0
                        : (size_t)(bl_next(&n->rng) % (left + 1));
      copies[k] = take ? g_memdup2(p + at, take) : NULL;
      iov[k] = (env_iovec){copies[k], take};
      at += take;
    }
    rc = env_conn_sendv(n->conn, iov, pieces);
    for (size_t k = 0; k < pieces; k++) {
      if (copies[k])
        memset(copies[k], 0xEE, iov[k].len);
      g_free(copies[k]);
    }
  }
  if (rc != 0)
    n->failed = true;
  size_t after = env_conn_queued_bytes(n->conn);
  if (before > 0)
    n->sends_behind_queue++;
  else if (after > 0)
    n->sends_partial++;
  if (n->cfg->queue_exact && env_conn_queued_bytes(n->conn) != before + len)
    n->queue_mismatches++;
  n->sent += len;
}

static void bl_server_tick(void *arg) {
  bl_node *n = arg;
  if (!n->conn)
    return;
  /* A few ops per tick while the client reads: the queue empties and
   * refills, so both the direct and the queued path run. */
  for (int k = 0; k < 4 && n->op_next < BL_OPS; k++)
    bl_send_op(n, n->op_next++);
  if (n->op_next < BL_OPS)
    env_timer_start(n->env, 1000000, bl_server_tick, n);
  else
    n->done = true;
}

static void bl_server_on_data(void *arg, env_conn_t *c, const uint8_t *data,
                              size_t len) {}

static void bl_server_on_close(void *arg, env_conn_t *c, int status) {
  bl_node *n = arg;
  n->conn = NULL;
  if (status != 0 || !n->done)
    n->failed = true;
}

static const env_conn_cbs bl_server_cbs = {.on_data = bl_server_on_data,
                                           .on_close = bl_server_on_close};

static void bl_server_on_accept(void *arg, env_conn_t *c) {
  bl_node *n = arg;
  if (n->conn) {
    env_conn_close(c);
    return;
  }
  n->conn = c;
  env_conn_set_cbs(c, &bl_server_cbs, n);
  /* Half of the stream at once, into a client that does not read. */
  while (n->op_next < BL_OPS / 2)
    bl_send_op(n, n->op_next++);
  env_timer_start(n->env, (uint64_t)BL_PAUSE_MS * 2 * 1000000, bl_server_tick,
                  n);
}

static void bl_client_resume(void *arg) {
  bl_node *n = arg;
  n->paused = false;
  if (n->conn)
    env_conn_resume_reading(n->conn);
}

static uint8_t *bl_client_on_alloc(void *arg, env_conn_t *c, size_t *len) {
  bl_node *n = arg;
  if (n->paused)
    n->loan_violations++; /* back pressure: no reads while paused */
  n->loan_len = 0;
  if (bl_next(&n->rng) % 4 == 0)
    return NULL;
  n->loan_len = (size_t)(bl_next(&n->rng) % BL_LOAN_BYTES_MAX) + 1;
  /* Stale bytes must never show up as data. */
  memset(n->loan, 0xA5, n->loan_len);
  *len = n->loan_len;
  return n->loan;
}

static void bl_client_on_connect(void *arg, env_conn_t *c) {
  bl_node *n = arg;
  env_conn_pause_reading(c);
  n->paused = true;
  env_timer_start(n->env, (uint64_t)BL_PAUSE_MS * 1000000, bl_client_resume, n);
}

static void bl_client_on_data(void *arg, env_conn_t *c, const uint8_t *data,
                              size_t len) {
  bl_node *n = arg;
  if (n->paused)
    n->loan_violations++;
  if (data == n->loan) {
    n->loans_used++;
    if (len > n->loan_len)
      n->loan_violations++;
  } else if (n->loan_len >= len) {
    n->loan_violations++; /* both envs read into a loan that is enough */
  }
  n->loan_len = 0;
  if (n->received + len > n->stream_len ||
      memcmp(n->stream + n->received, data, len) != 0)
    n->mismatches++;
  n->received += len;
  if (n->received >= n->stream_len && n->conn) {
    n->done = true;
    env_conn_close(n->conn);
    n->conn = NULL;
  }
}

static void bl_client_on_close(void *arg, env_conn_t *c, int status) {
  bl_node *n = arg;
  n->conn = NULL;
  if (!n->done)
    n->failed = true;
}

static const env_conn_cbs bl_client_cbs = {.on_connect = bl_client_on_connect,
                                           .on_data = bl_client_on_data,
                                           .on_close = bl_client_on_close};
static const env_conn_cbs bl_client_lend_cbs = {
    .on_connect = bl_client_on_connect,
    .on_data = bl_client_on_data,
    .on_close = bl_client_on_close,
    .on_alloc = bl_client_on_alloc};

static void *bl_start(env_t *env, void *config) {
  bl_node *n = g_new0(bl_node, 1);
  n->env = env;
  n->cfg = config;
  bl_plan(n);
  if (n->cfg->server && n->cfg->mode == BL_SENDV_FILES) {
    int flags = ENV_O_READ | ENV_O_WRITE | ENV_O_CREATE | ENV_O_TRUNC;
    if (env_file_open(env, n->cfg->file_path, flags, &n->file) != 0 ||
        env_file_pwrite(n->file, n->stream, n->stream_len, 0) != 0)
      n->failed = true;
  }
  if (n->cfg->server) {
    if (env_listen(env, "127.0.0.1", n->cfg->port, bl_server_on_accept, n,
                   &n->listener) != 0)
      n->failed = true;
  } else {
    bool lend = n->cfg->lend == BL_LEND_RANDOM;
    if (lend)
      n->loan = g_malloc(BL_LOAN_BYTES_MAX);
    n->conn = env_connect(env, n->cfg->host, n->cfg->port,
                          lend ? &bl_client_lend_cbs : &bl_client_cbs, n);
  }
  return n;
}

static void bl_stop(void *node) {
  bl_node *n = node;
  if (!n)
    return;
  env_listener_close(n->listener);
  env_conn_close(n->conn);
  env_file_close(n->file);
  g_free(n->loan);
  g_free(n->stream);
  g_free(n);
}

static const env_node_ops bl_ops = {"blaster", bl_start, bl_stop};

static void bl_expect(const bl_node *srv, const bl_node *cli,
                      const char *where) {
  if (!(cli->done && srv->done && !cli->failed && !srv->failed &&
        cli->mismatches == 0 && cli->received == cli->stream_len))
    fprintf(stderr,
            "\n  blaster on %s: client done=%d failed=%d received=%zu/%zu "
            "mismatches=%u; server done=%d failed=%d sent=%zu\n",
            where, cli->done, cli->failed, cli->received, cli->stream_len,
            cli->mismatches, srv->done, srv->failed, srv->sent);
  CU_ASSERT(srv->done && !srv->failed);
  CU_ASSERT(cli->done && !cli->failed);
  CU_ASSERT_EQUAL(cli->mismatches, 0);
  CU_ASSERT_EQUAL(cli->received, cli->stream_len);
  CU_ASSERT_EQUAL(srv->sent, srv->stream_len);
  CU_ASSERT_EQUAL(srv->queue_mismatches, 0);
  CU_ASSERT_EQUAL(cli->loan_violations, 0);
  if (cli->loan)
    CU_ASSERT(cli->loans_used > 0);
}

static void bl_run_uv(bl_mode mode, bl_lend lend) {
  uv_loop_t loop;
  CU_ASSERT_EQUAL_FATAL(uv_loop_init(&loop), 0);
  env_t *srv_env = env_uv_new(&loop, "server", 1);
  env_t *cli_env = env_uv_new(&loop, "client", 2);
  char *dir = g_dir_make_tmp("sluice-bl-XXXXXX", NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
  char *path = g_build_filename(dir, "stream", NULL);
  bl_config srv_cfg = {
      .server = true, .mode = mode, .file_path = path, .port = 0};
  bl_node *srv = bl_start(srv_env, &srv_cfg);
  CU_ASSERT_FATAL(!srv->failed);
  bl_config cli_cfg = {.server = false,
                       .lend = lend,
                       .host = "127.0.0.1",
                       .port = env_listener_port(srv->listener)};
  bl_node *cli = bl_start(cli_env, &cli_cfg);
  uv_timer_t guard;
  uv_timer_init(&loop, &guard);
  uint64_t deadline_ms = uv_now(&loop) + 20000;
  while (!(cli->done && srv->done && srv->conn == NULL) &&
         uv_now(&loop) < deadline_ms) {
    uv_timer_start(&guard, ps_stop_loop, 50, 0);
    uv_run(&loop, UV_RUN_ONCE);
  }
  uv_timer_stop(&guard);
  uv_close((uv_handle_t *)&guard, NULL);
  bl_expect(srv, cli, "uv");
  if (getenv("BL_VERBOSE"))
    fprintf(stderr, "blaster uv: %u sends behind a queue, %u partial\n",
            srv->sends_behind_queue, srv->sends_partial);
  /* Both paths of env_uv's sends ran: a partial direct write, then sends
   * queued behind it. */
  CU_ASSERT(srv->sends_partial > 0);
  CU_ASSERT(srv->sends_behind_queue > 0);
  /* ... and with file pieces, some bytes went by sendfile. */
  if (mode == BL_SENDV_FILES)
    CU_ASSERT(env_metric_get(srv_env, "env.sendfile_bytes") > 0);
  bl_stop(cli);
  bl_stop(srv);
  env_uv_free(cli_env);
  env_uv_free(srv_env);
  uv_run(&loop, UV_RUN_DEFAULT);
  CU_ASSERT_EQUAL(uv_loop_close(&loop), 0);
  (void)g_remove(path);
  (void)g_rmdir(dir);
  g_free(path);
  g_free(dir);
}

/* Returns the run's trace hash. */
static uint64_t bl_run_sim(uint64_t seed, bl_mode mode, bl_lend lend) {
  sim_options opts;
  sim_options_default(&opts, seed);
  sim_t *sim = sim_new(&opts);
  bl_config srv_cfg = {.server = true,
                       .mode = mode,
                       .queue_exact = true,
                       .file_path = "stream",
                       .port = 9000};
  bl_config cli_cfg = {
      .server = false, .lend = lend, .host = "server", .port = 9000};
  sim_node_t *srv_node = sim_node_add(sim, "server", &bl_ops, &srv_cfg);
  sim_run_until(sim, sim_now_ns(sim) + 1000000);
  bl_node *srv = sim_node_ctx(srv_node);
  CU_ASSERT_PTR_NOT_NULL_FATAL(srv);
  sim_node_t *cli_node = sim_node_add(sim, "client", &bl_ops, &cli_cfg);
  uint64_t deadline_ns = sim_now_ns(sim) + 60ull * 1000000000ull;
  while (sim_now_ns(sim) < deadline_ns) {
    bl_node *cli = sim_node_ctx(cli_node);
    if (cli && cli->done && srv->done && srv->conn == NULL)
      break;
    if (!sim_step(sim))
      break;
  }
  bl_expect(srv, sim_node_ctx(cli_node), "sim");
  uint64_t hash = sim_trace_hash(sim);
  sim_free(sim);
  return hash;
}

static void test_sendv_same_bytes_uv_and_sim(void) {
  bl_run_uv(BL_MIXED, BL_LEND_NONE);
  bl_run_uv(BL_SENDV_ONLY, BL_LEND_NONE);
  for (uint64_t k = 1; k <= 3; k++) {
    uint64_t seed = test_seed() + k;
    uint64_t h_send = bl_run_sim(seed, BL_SEND_ONLY, BL_LEND_NONE);
    uint64_t h_sendv = bl_run_sim(seed, BL_SENDV_ONLY, BL_LEND_NONE);
    uint64_t h_mixed = bl_run_sim(seed, BL_MIXED, BL_LEND_NONE);
    /* The simulator cannot tell the two calls apart. */
    CU_ASSERT_EQUAL(h_send, h_sendv);
    CU_ASSERT_EQUAL(h_send, h_mixed);
  }
}

/* Reads into memory the node lends (on_alloc) deliver exactly the bytes,
 * in the same order, as reads into the env's buffer: random loan sizes,
 * refusals, a paused start (no loan is asked for while paused). In the
 * simulator loans change nothing: same cut, same trace. */
static void test_lent_reads_same_bytes_uv_and_sim(void) {
  bl_run_uv(BL_MIXED, BL_LEND_RANDOM);
  for (uint64_t k = 1; k <= 3; k++) {
    uint64_t seed = test_seed() + 10 + k;
    uint64_t h_env_buffer = bl_run_sim(seed, BL_MIXED, BL_LEND_NONE);
    uint64_t h_lent = bl_run_sim(seed, BL_MIXED, BL_LEND_RANDOM);
    CU_ASSERT_EQUAL(h_env_buffer, h_lent);
  }
}

/* Gathered sends whose pieces say where their bytes lie in a file
 * deliver exactly the concatenation: on uv (sendfile from the file, a
 * paused client so that sends go partial and queue behind each other, the
 * rest copied from the views), and in the simulator, which ignores the
 * files: same trace as plain sendv apart from the file's own writes. */
static void test_sendv_files_same_bytes_uv_and_sim(void) {
  bl_run_uv(BL_SENDV_FILES, BL_LEND_NONE);
  bl_run_uv(BL_SENDV_FILES, BL_LEND_RANDOM);
  for (uint64_t k = 1; k <= 3; k++)
    (void)bl_run_sim(test_seed() + 20 + k, BL_SENDV_FILES, BL_LEND_NONE);
}

int suite_env_both(void) {
  TEST_SUITE(
      "env_both",
      {"same node, same result on uv and sim", test_same_result_uv_and_sim},
      {"sendv delivers what send of the concatenation does",
       test_sendv_same_bytes_uv_and_sim},
      {"reads into lent memory deliver the same bytes",
       test_lent_reads_same_bytes_uv_and_sim},
      {"sendv with file pieces delivers the concatenation",
       test_sendv_files_same_bytes_uv_and_sim});
}
