/*
 * Contract checks that must hold on every env implementation: each case
 * runs once on the libuv env (a temporary directory, a real loop) and once
 * on the simulator.
 */
#include <errno.h>
#include <glib.h>
#include <uv.h>

#include "base/env.h"
#include "base/env_uv.h"
#include "sim/sim.h"
#include "tests/unit/testutil.h"

typedef void (*contract_case)(env_t *env, const char *dir, int *calls);

static void count_call(void *arg, int status) { (*(int *)arg)++; }

/* Closing a file with an fsync pending: the callback never runs. */
static void case_close_during_fsync(env_t *env, const char *dir, int *calls) {
  char *path = g_build_filename(dir, "f", NULL);
  env_file_t *f = NULL;
  CU_ASSERT_EQUAL_FATAL(
      env_file_open(env, path, ENV_O_WRITE | ENV_O_CREATE | ENV_O_TRUNC, &f),
      0);
  CU_ASSERT_EQUAL(env_file_append(f, "abc", 3), 0);
  env_file_fsync(f, count_call, calls);
  env_file_fsync(f, count_call, calls);
  env_file_close(f);
  g_free(path);
}

/* Callbacks are never called from inside the call that registered them:
 * a refused connect reports later, never inside env_connect. */
static void case_connect_refused_later(env_t *env, const char *dir,
                                       int *calls);

static void refused_close(void *arg, env_conn_t *c, int status) {
  int *calls = arg;
  CU_ASSERT(status < 0);
  (*calls)++;
}
static void refused_data(void *arg, env_conn_t *c, const uint8_t *d,
                         size_t n) {}

static const env_conn_cbs refused_cbs = {.on_data = refused_data,
                                         .on_close = refused_close};

static void case_connect_refused_later(env_t *env, const char *dir,
                                       int *calls) {
  /* Port 1 on loopback (uv) / on ourselves (sim): nobody listens. */
  env_conn_t *c = env_connect(env, "127.0.0.1", 1, &refused_cbs, calls);
  CU_ASSERT_PTR_NOT_NULL(c);
  CU_ASSERT_EQUAL(*calls, 0); /* not yet: only on a later turn */
  /* The test expects exactly one call afterwards; see run_both. */
  *calls -= 1;
}

static void stop_loop(uv_timer_t *t) { uv_stop(t->loop); }

static int run_on_uv(contract_case fn) {
  int calls = 0;
  char *dir = test_tmpdir();
  uv_loop_t loop;
  uv_loop_init(&loop);
  env_t *env = env_uv_new(&loop, "contract", 7);
  fn(env, dir, &calls);
  uv_timer_t t;
  uv_timer_init(&loop, &t);
  uv_timer_start(&t, stop_loop, 300, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&t, NULL);
  env_uv_free(env);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  test_rm_tree(dir);
  g_free(dir);
  return calls;
}

typedef struct sim_case_node {
  contract_case fn;
  int calls;
} sim_case_node;

static void *case_start(env_t *env, void *config) {
  sim_case_node *n = config;
  n->fn(env, "/", &n->calls);
  return n;
}
static void case_stop(void *node) {}
static const env_node_ops case_ops = {"contract", case_start, case_stop};

static int run_on_sim(contract_case fn, uint64_t seed) {
  sim_options opts;
  sim_options_default(&opts, seed);
  sim_t *sim = sim_new(&opts);
  sim_case_node n = {.fn = fn};
  sim_node_add(sim, "n0", &case_ops, &n);
  sim_run_until(sim, 30ull * 1000000000ull);
  int calls = n.calls;
  sim_free(sim);
  return calls;
}

static void test_close_during_fsync(void) {
  CU_ASSERT_EQUAL(run_on_uv(case_close_during_fsync), 0);
  for (uint64_t s = 0; s < 20; s++)
    CU_ASSERT_EQUAL(run_on_sim(case_close_during_fsync, test_seed() + s), 0);
}

static void test_connect_refused_later(void) {
  /* calls starts at -1 after the case; exactly one on_close brings it to 0
   * (and a second one, or none, would not). */
  CU_ASSERT_EQUAL(run_on_uv(case_connect_refused_later), 0);
  for (uint64_t s = 0; s < 20; s++)
    CU_ASSERT_EQUAL(run_on_sim(case_connect_refused_later, test_seed() + s),
                    0);
}

int suite_env_contract(void) {
  TEST_SUITE("env_contract",
             {"closing a file cancels its fsync callbacks",
              test_close_during_fsync},
             {"a refused connect is reported once, later",
              test_connect_refused_later});
}
