/*
 * Contract checks that must hold on every env implementation: each case
 * runs once on the libuv env (a temporary directory, a real loop) and once
 * on the simulator.
 */
#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
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

/* ------------------------------------------------------------------ views */

/* The byte every view test file holds at position pos. */
static uint8_t view_byte(uint64_t pos) {
  return (uint8_t)((pos * 2654435761u) >> 11 ^ pos >> 20);
}

static int view_mismatches(const uint8_t *p, uint64_t pos, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (p[i] != view_byte(pos + i))
      return 1;
  return 0;
}

static int write_pattern(env_file_t *f, uint64_t from, uint64_t to) {
  uint8_t chunk[65536];
  for (uint64_t at = from; at < to;) {
    size_t n = (size_t)MIN((uint64_t)sizeof chunk, to - at);
    for (size_t i = 0; i < n; i++)
      chunk[i] = view_byte(at + i);
    int rc = env_file_pwrite(f, chunk, n, at);
    if (rc != 0)
      return rc;
    at += n;
  }
  return 0;
}

/* A view holds what pread returns: random ranges (inside a page, across
 * pages), the end of the file, -ERANGE past it, new bytes after a write
 * and after growing, a shrunk file after truncate, -EBADF without READ. */
static void case_view_pread(env_t *env, const char *dir, int *calls) {
  char *path = g_build_filename(dir, "view", NULL);
  env_file_t *f = NULL;
  CU_ASSERT_EQUAL_FATAL(
      env_file_open(env, path,
                    ENV_O_READ | ENV_O_WRITE | ENV_O_CREATE | ENV_O_TRUNC, &f),
      0);
  uint64_t size = 5 * 4096 + 123;
  CU_ASSERT_EQUAL_FATAL(write_pattern(f, 0, size), 0);
  uint8_t *buf = g_malloc(size);
  for (int i = 0; i < 300; i++) {
    uint64_t off = env_rand_below(env, size + 1);
    size_t len = (size_t)env_rand_below(env, i % 3 ? 64 : size - off + 1);
    if (off + len > size)
      len = (size_t)(size - off);
    const uint8_t *v = NULL;
    size_t got = 0;
    if (env_file_view(f, off, len, &v) != 0 || v == NULL ||
        env_file_pread(f, buf, len, off, &got) != 0 || got != len ||
        memcmp(v, buf, len) != 0)
      (*calls)++;
  }
  const uint8_t *v = NULL;
  /* The end: empty views are fine, one byte past it is not. */
  if (env_file_view(f, size, 0, &v) != 0 || v == NULL)
    (*calls)++;
  if (env_file_view(f, size - 10, 11, &v) != -ERANGE || v != NULL)
    (*calls)++;
  if (env_file_view(f, size + 1, 0, &v) != -ERANGE)
    (*calls)++;
  /* A write, then a new view sees it; growing makes more bytes viewable. */
  CU_ASSERT_EQUAL(env_file_pwrite(f, "hello", 5, 5000), 0);
  CU_ASSERT_EQUAL(env_file_append(f, "world", 5), 0);
  if (env_file_view(f, 4998, 9, &v) != 0 || memcmp(v + 2, "hello", 5) != 0 ||
      v[0] != view_byte(4998) || v[8] != view_byte(5006))
    (*calls)++;
  if (env_file_view(f, size, 5, &v) != 0 || memcmp(v, "world", 5) != 0)
    (*calls)++;
  /* Truncate: the cut bytes are gone from views too. */
  CU_ASSERT_EQUAL(env_file_truncate(f, 4000), 0);
  if (env_file_view(f, 3990, 20, &v) != -ERANGE)
    (*calls)++;
  if (env_file_view(f, 0, 4000, &v) != 0 || view_mismatches(v, 0, 4000))
    (*calls)++;
  env_file_t *wo = NULL;
  CU_ASSERT_EQUAL_FATAL(env_file_open(env, path, ENV_O_WRITE, &wo), 0);
  if (env_file_view(wo, 0, 10, &v) != -EBADF)
    (*calls)++;
  env_file_close(wo);
  env_file_close(f);
  g_free(buf);
  g_free(path);
}

/* More views in one callback than the env keeps between callbacks: every
 * one of them stays intact until the callback returns; the next callback
 * views the file again (windows re-made) and sees a later write. */
#define VIEW_BIG_BYTES                                                         \
  ((uint64_t)ENV_FILE_VIEW_KEEP_BYTES + ((uint64_t)24 << 20))
#define VIEW_BIG_STEP ((uint64_t)1 << 20)
#define VIEW_BIG_COUNT (2 * (VIEW_BIG_BYTES / VIEW_BIG_STEP))

typedef struct view_big {
  env_t *env;
  env_file_t *f;
  int *calls;
  char *path; /* [owned] */
} view_big;

/* Bytes of this process's address space mapped from `path` (a real file:
 * the uv env's view windows; 0 for a simulated one). */
static uint64_t mapped_bytes_of(const char *path) {
  uint64_t total = 0;
  FILE *maps = fopen("/proc/self/maps", "r");
  if (!maps)
    return 0;
  char line[4096];
  while (fgets(line, sizeof line, maps)) {
    unsigned long lo = 0, hi = 0;
    char *name = strchr(line, '/');
    if (!name || sscanf(line, "%lx-%lx", &lo, &hi) != 2)
      continue;
    name[strcspn(name, "\n")] = '\0';
    if (strcmp(name, path) == 0)
      total += hi - lo;
  }
  fclose(maps);
  return total;
}

static void view_big_later(void *arg) {
  view_big *vb = arg;
  (*vb->calls)--;
  /* Between callbacks the env keeps no more than its budget mapped. */
  if (mapped_bytes_of(vb->path) > ENV_FILE_VIEW_KEEP_BYTES) {
    fprintf(stderr, "\n  %" PRIu64 " bytes still mapped\n",
            mapped_bytes_of(vb->path));
    (*vb->calls)++;
  }
  for (int i = 0; i < 64; i++) {
    uint64_t off = env_rand_below(vb->env, VIEW_BIG_BYTES - 300000);
    size_t len = 1 + (size_t)env_rand_below(vb->env, 300000);
    const uint8_t *v = NULL;
    if (env_file_view(vb->f, off, len, &v) != 0 || view_mismatches(v, off, len))
      (*vb->calls)++;
  }
  CU_ASSERT_EQUAL(env_file_pwrite(vb->f, "new", 3, VIEW_BIG_BYTES - 2), 0);
  const uint8_t *v = NULL;
  if (env_file_view(vb->f, VIEW_BIG_BYTES - 3, 4, &v) != 0 ||
      v[0] != view_byte(VIEW_BIG_BYTES - 3) || memcmp(v + 1, "new", 3) != 0)
    (*vb->calls)++;
  env_file_close(vb->f);
  if (mapped_bytes_of(vb->path) != 0) /* closing unmaps */
    (*vb->calls)++;
  g_free(vb->path);
  g_free(vb);
}

static void case_view_many(env_t *env, const char *dir, int *calls) {
  view_big *vb = g_new0(view_big, 1);
  vb->env = env;
  vb->calls = calls;
  vb->path = g_build_filename(dir, "big", NULL);
  CU_ASSERT_EQUAL_FATAL(
      env_file_open(env, vb->path,
                    ENV_O_READ | ENV_O_WRITE | ENV_O_CREATE | ENV_O_TRUNC,
                    &vb->f),
      0);
  CU_ASSERT_EQUAL_FATAL(write_pattern(vb->f, 0, VIEW_BIG_BYTES), 0);
  /* Every MiB, and a range straddling each MiB boundary, all held. */
  const uint8_t **views = g_new0(const uint8_t *, VIEW_BIG_COUNT);
  for (size_t i = 0; i < VIEW_BIG_COUNT; i++) {
    uint64_t off = (i / 2) * VIEW_BIG_STEP;
    uint64_t len = i % 2 ? VIEW_BIG_STEP : 3000;
    off = i % 2 ? off : off + VIEW_BIG_STEP - 1500;
    if (off + len > VIEW_BIG_BYTES)
      len = VIEW_BIG_BYTES - off;
    if (env_file_view(vb->f, off, (size_t)len, &views[i]) != 0)
      (*calls)++;
  }
  for (size_t i = 0; i < VIEW_BIG_COUNT; i++) {
    uint64_t off = (i / 2) * VIEW_BIG_STEP;
    uint64_t len = i % 2 ? VIEW_BIG_STEP : 3000;
    off = i % 2 ? off : off + VIEW_BIG_STEP - 1500;
    if (off + len > VIEW_BIG_BYTES)
      len = VIEW_BIG_BYTES - off;
    if (views[i] && view_mismatches(views[i], off, (size_t)len))
      (*calls)++;
  }
  g_free(views);
  /* All of them at once: on uv (a real directory; the simulator's is "/"
   * and maps nothing) more than the budget is mapped right now. */
  bool real_files = strcmp(dir, "/") != 0;
  if (real_files && mapped_bytes_of(vb->path) <= ENV_FILE_VIEW_KEEP_BYTES)
    (*calls)++;
  (*calls)++; /* undone by view_big_later: it must run */
  env_timer_start(env, 1000000, view_big_later, vb);
}

static void stop_loop(uv_timer_t *t) { uv_stop(t->loop); }

/* Loans (env_conn_cbs.on_alloc): never asked for inside an env call, while
 * paused (a pause from inside on_data included) or after env_conn_close;
 * a loan long enough for the read is where on_data's bytes are; the bytes
 * are the stream, in order. A node talks to itself over loopback. */
/* Loans alternate between more and less than a read of the simulator
 * (64 KiB): a short loan is used on uv, not in the simulator. */
enum { LOAN_STREAM_BYTES = 300 * 1024, LOAN_BYTES = 70000 };

typedef struct loan_case {
  env_t *env;
  int *calls;
  env_listener_t *listener;
  env_conn_t *srv;
  uint8_t *loan;
  size_t loan_len; /* the current loan, 0 = none */
  size_t received;
  size_t loans_used;
  size_t allocs;
  bool in_env_call;
  bool paused;
  bool srv_closed;
} loan_case;

static uint8_t loan_byte(size_t i) { return (uint8_t)(i * 13 + (i >> 10)); }

static uint8_t *loan_alloc(void *arg, env_conn_t *c, size_t *len) {
  loan_case *t = arg;
  if (t->in_env_call || t->paused || t->srv_closed)
    (*t->calls)++;
  /* Every third read goes to the env's own buffer. */
  t->allocs++;
  t->loan_len = 0;
  if (t->allocs % 3 == 0)
    return NULL;
  t->loan_len = (t->allocs % 3 == 1 ? LOAN_BYTES : 20000) - t->received % 1000;
  *len = t->loan_len;
  return t->loan;
}

static void loan_resume(void *arg) {
  loan_case *t = arg;
  if (t->srv_closed)
    return;
  t->paused = false;
  t->in_env_call = true;
  env_conn_resume_reading(t->srv);
  t->in_env_call = false;
}

static void loan_data(void *arg, env_conn_t *c, const uint8_t *d, size_t n) {
  loan_case *t = arg;
  if (t->paused || t->srv_closed)
    (*t->calls)++;
  if (d == t->loan)
    t->loans_used++;
  else if (t->loan_len >= n)
    (*t->calls)++; /* a long enough loan was not used */
  t->loan_len = 0;
  for (size_t i = 0; i < n; i++)
    if (d[i] != loan_byte(t->received + i)) {
      (*t->calls)++;
      break;
    }
  t->received += n;
  t->in_env_call = true;
  if (t->received >= LOAN_STREAM_BYTES) {
    if (t->loans_used == 0)
      (*t->calls)++;
    env_conn_close(c);
    t->srv_closed = true;
  } else if (t->received % 2 == 0) {
    env_conn_pause_reading(c);
    t->paused = true;
    env_timer_start(t->env, 1000000, loan_resume, t);
  }
  t->in_env_call = false;
}

static void loan_srv_close(void *arg, env_conn_t *c, int status) {
  loan_case *t = arg;
  (*t->calls)++; /* we closed first: no on_close is due */
}

static const env_conn_cbs loan_srv_cbs = {.on_data = loan_data,
                                          .on_close = loan_srv_close,
                                          .on_alloc = loan_alloc};

static void loan_accept(void *arg, env_conn_t *c) {
  loan_case *t = arg;
  t->srv = c;
  env_conn_set_cbs(c, &loan_srv_cbs, t);
}

static void loan_cli_connect(void *arg, env_conn_t *c) {
  loan_case *t = arg;
  uint8_t *bytes = g_malloc(LOAN_STREAM_BYTES);
  for (size_t i = 0; i < LOAN_STREAM_BYTES; i++)
    bytes[i] = loan_byte(i);
  for (size_t at = 0; at < LOAN_STREAM_BYTES; at += 50000) {
    size_t n = LOAN_STREAM_BYTES - at < 50000 ? LOAN_STREAM_BYTES - at : 50000;
    if (env_conn_send(c, bytes + at, n) != 0)
      (*t->calls)++;
  }
  g_free(bytes);
}

static void loan_cli_data(void *arg, env_conn_t *c, const uint8_t *d,
                          size_t n) {}

static void loan_cli_close(void *arg, env_conn_t *c, int status) {
  loan_case *t = arg;
  if (status != 0 || t->received != LOAN_STREAM_BYTES)
    (*t->calls)++;
  (*t->calls)--; /* the one expected call, see the case */
  env_listener_close(t->listener);
  g_free(t->loan);
  g_free(t);
}

static const env_conn_cbs loan_cli_cbs = {.on_connect = loan_cli_connect,
                                          .on_data = loan_cli_data,
                                          .on_close = loan_cli_close};

static void case_loans(env_t *env, const char *dir, int *calls) {
  loan_case *t = g_new0(loan_case, 1);
  t->env = env;
  t->calls = calls;
  t->loan = g_malloc(LOAN_BYTES);
  CU_ASSERT_EQUAL_FATAL(
      env_listen(env, "127.0.0.1", 0, loan_accept, t, &t->listener), 0);
  /* +1 now, -1 in the client's on_close: 0 only if the run completed. */
  (*calls)++;
  env_connect(env, "127.0.0.1", env_listener_port(t->listener), &loan_cli_cbs,
              t);
}

static int run_on_uv(contract_case fn) {
  int calls = 0;
  char *dir = test_tmpdir();
  uv_loop_t loop;
  uv_loop_init(&loop);
  env_t *env = env_uv_new(&loop, "contract", 7);
  fn(env, dir, &calls);
  /* The case may have run long (big files): the 300 ms count from now. */
  uv_update_time(&loop);
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

static void test_view_pread(void) {
  CU_ASSERT_EQUAL(run_on_uv(case_view_pread), 0);
  for (uint64_t s = 0; s < 5; s++)
    CU_ASSERT_EQUAL(run_on_sim(case_view_pread, test_seed() + s), 0);
}

static void test_loans(void) {
  CU_ASSERT_EQUAL(run_on_uv(case_loans), 0);
  for (uint64_t s = 0; s < 10; s++)
    CU_ASSERT_EQUAL(run_on_sim(case_loans, test_seed() + s), 0);
}

static void test_view_many(void) {
  CU_ASSERT_EQUAL(run_on_uv(case_view_many), 0);
  CU_ASSERT_EQUAL(run_on_sim(case_view_many, test_seed()), 0);
}

int suite_env_contract(void) {
  TEST_SUITE(
      "env_contract",
      {"timers: deadline order, cancel from a callback, re-arming",
       test_timers},
      {"closing a file cancels its fsync callbacks", test_close_during_fsync},
      {"a refused connect is reported once, later", test_connect_refused_later},
      {"a file view holds what pread returns", test_view_pread},
      {"views past the kept budget stay whole within a callback",
       test_view_many},
      {"loans: never inside a call, while paused or after close",
       test_loans});
}
