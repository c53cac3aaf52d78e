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

/* Timers: zero and non-zero delays mixed, a cancel from inside a timer
 * callback, and a zero-delay timer that re-arms itself. Order must follow
 * deadlines, then start order; a cancelled timer never runs; a re-armed
 * timer never runs inside the call that armed it. Each firing appends its
 * tag to a log the case checks at the end (calls counts mismatches). */
typedef struct timer_case {
  env_t *env;
  int *calls;
  char order[32];
  size_t fired;
  uint64_t cancel_me;
  int rearm_left;
  bool in_rearm_start;
} timer_case;

static void tc_fire(timer_case *t, char tag) {
  if (t->fired < sizeof t->order - 1)
    t->order[t->fired++] = tag;
}
static void timer_a(void *arg) { tc_fire(arg, 'a'); }
static void timer_b(void *arg) {
  timer_case *t = arg;
  tc_fire(t, 'b');
  /* Cancelling a pending zero-delay timer from a callback must work. */
  if (!env_timer_cancel(t->env, t->cancel_me))
    (*t->calls)++;
}
static void timer_c(void *arg) { tc_fire(arg, 'c'); }
static void timer_d(void *arg) { tc_fire(arg, 'd'); }
static void timer_rearm(void *arg) {
  timer_case *t = arg;
  if (t->in_rearm_start) /* called from inside env_timer_start */
    (*t->calls)++;
  if (--t->rearm_left > 0) {
    t->in_rearm_start = true;
    env_timer_start(t->env, 0, timer_rearm, t);
    t->in_rearm_start = false;
  } else {
    tc_fire(t, 'r');
  }
}
static void timer_check(void *arg) {
  timer_case *t = arg;
  t->order[t->fired] = '\0';
  /* b (0 ms) and the cancelled c (0 ms) were started after a (0 ms), d is
   * 100 ms late; the chain of 500 zero-delay re-arms ends before d. */
  if (strcmp(t->order, "abrd") != 0) {
    fprintf(stderr, "\n  timer order %s, expected abrd\n", t->order);
    (*t->calls)++;
  }
  g_free(t);
}

static void case_timers(env_t *env, const char *dir, int *calls) {
  timer_case *t = g_new0(timer_case, 1);
  t->env = env;
  t->calls = calls;
  t->rearm_left = 500;
  env_timer_start(env, 100 * 1000000ull, timer_d, t);
  env_timer_start(env, 0, timer_a, t);
  env_timer_start(env, 0, timer_b, t);
  t->cancel_me = env_timer_start(env, 0, timer_c, t);
  env_timer_start(env, 0, timer_rearm, t);
  env_timer_start(env, 250 * 1000000ull, timer_check, t);
  if (t->fired != 0) /* nothing may run inside env_timer_start */
    (*calls)++;
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

static void test_timers(void) {
  CU_ASSERT_EQUAL(run_on_uv(case_timers), 0);
  for (uint64_t s = 0; s < 20; s++)
    CU_ASSERT_EQUAL(run_on_sim(case_timers, test_seed() + s), 0);
}

int suite_env_contract(void) {
  TEST_SUITE("env_contract",
             {"timers: deadline order, cancel from a callback, re-arming",
              test_timers},
             {"closing a file cancels its fsync callbacks",
              test_close_during_fsync},
             {"a refused connect is reported once, later",
              test_connect_refused_later});
}
