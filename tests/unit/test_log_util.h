/*
 * test_log_util.h — helpers shared by the partition-log suites
 * (test_log*.c): a libuv env over a temporary directory, synchronous
 * wrappers around the log's asynchronous calls, batch builders and a
 * reader that collects every record of a log.
 *
 * Everything is static inline so each suite file can include it without
 * a separate object (the Makefile treats every test_*.c as a suite).
 */
#ifndef SLUICE_TESTS_TEST_LOG_UTIL_H
#define SLUICE_TESTS_TEST_LOG_UTIL_H

#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "base/env.h"
#include "base/env_uv.h"
#include "broker/kerr.h"
#include "broker/log/batch.h"
#include "broker/log/log.h"
#include "tests/unit/testutil.h"

typedef struct tl_env {
  uv_loop_t loop;
  env_t *env;
  char *dir;     /* the temporary directory [owned] */
  char *log_dir; /* dir/topic-0 [owned] */
  FILE *null_log;
} tl_env;

static inline void tl_setup(tl_env *t) {
  uv_loop_init(&t->loop);
  t->env = env_uv_new(&t->loop, "log-test", 1);
  /* Recovery warnings and corruption errors are expected in these tests:
   * log lines go nowhere unless SLUICE_TEST_LOG is set. */
  t->null_log = getenv("SLUICE_TEST_LOG") ? NULL : fopen("/dev/null", "w");
  if (t->null_log)
    env_uv_set_log_file(t->env, t->null_log);
  t->dir = test_tmpdir();
  t->log_dir = g_strdup_printf("%s/topic-0", t->dir);
}

static inline void tl_teardown(tl_env *t) {
  env_uv_free(t->env);
  uv_loop_close(&t->loop);
  if (t->null_log)
    fclose(t->null_log);
  test_rm_tree(t->dir);
  g_free(t->dir);
  g_free(t->log_dir);
}

/* Runs the loop until *flag is set (or nothing is left to run). */
static inline void tl_run_until(tl_env *t, const bool *flag) {
  while (!*flag)
    if (uv_run(&t->loop, UV_RUN_ONCE) == 0 && !*flag) {
      fprintf(stderr, "\n  loop ran dry before the callback\n");
      CU_FAIL("loop ran dry");
      return;
    }
}

typedef struct tl_wait {
  bool done;
  int status;
} tl_wait;

static inline void tl_done_cb(void *arg, int status) {
  tl_wait *w = arg;
  w->done = true;
  w->status = status;
}

static inline int tl_flush(tl_env *t, log_t *log) {
  tl_wait w = {false, 0};
  log_flush(log, log_end_offset(log), tl_done_cb, &w);
  tl_run_until(t, &w.done);
  return w.status;
}

static inline int tl_close(tl_env *t, log_t *log) {
  tl_wait w = {false, 0};
  log_close(log, tl_done_cb, &w);
  tl_run_until(t, &w.done);
  return w.status;
}

static inline int tl_open(tl_env *t, const log_config *cfg, int64_t rp,
                          int64_t lso, log_t **out) {
  log_open_opts o = {rp, lso};
  return log_open(t->env, t->log_dir, cfg, &o, out);
}

/* A small config for tests: tiny segments and index interval. */
static inline void tl_config(log_config *c) {
  log_config_default(c);
  c->segment_bytes = 4096;
  c->index_interval_bytes = 256;
}

/* Builds a batch of n records with keys "k<i>" (key_mod > 0: "k<i %
 * key_mod>"), values of value_len bytes derived from seed, timestamps ts0
 * + i. */
static inline void tl_batch(buf_t *out, int n, int64_t ts0, uint64_t seed,
                            int value_len) {
  batch_builder_opts o = {BATCH_CODEC_NONE, 0, ts0, -1, -1, -1, 0, -1};
  batch_builder *b = batch_builder_new(&o);
  uint8_t *val = g_malloc((size_t)value_len + 1);
  for (int i = 0; i < n; i++) {
    char key[32];
    int kl = snprintf(key, sizeof key, "k%" PRIu64 "-%d", seed, i);
    for (int j = 0; j < value_len; j++)
      val[j] = (uint8_t)(seed * 131 + (uint64_t)i * 7 + (uint64_t)j);
    batch_builder_add(b, ts0 + i, key, kl, val, value_len, NULL, 0);
  }
  g_free(val);
  CU_ASSERT_EQUAL(batch_builder_finish(b, -1, out), 0);
}

/* Appends one built batch; returns the base offset (or -1). */
static inline int64_t tl_append(log_t *log, int n, int64_t ts0, uint64_t seed,
                                int value_len, int32_t epoch) {
  buf_t b = BUF_INIT;
  tl_batch(&b, n, ts0, seed, value_len);
  log_append_info info;
  int rc = log_append(log, b.data, b.len, epoch, &info);
  buf_free(&b);
  CU_ASSERT_EQUAL(rc, KERR_NONE);
  return rc == KERR_NONE ? info.base_offset : -1;
}

/* Reads the whole log from `from` into out (concatenated batches).
 * Returns the first error, or KERR_NONE. */
static inline int tl_read_all(log_t *log, int64_t from, size_t max_bytes,
                              buf_t *out) {
  int64_t off = from;
  while (off < log_end_offset(log)) {
    log_read_info info;
    int rc = log_read(log, off, max_bytes, LOG_OFFSET_MAX, out, &info);
    if (rc != KERR_NONE)
      return rc;
    if (info.batch_count == 0)
      break;
    off = info.offset_next;
  }
  return KERR_NONE;
}

/* Calls fn for each batch in a concatenation of batches. */
static inline size_t tl_batches(const buf_t *b,
                                void (*fn)(void *, const uint8_t *, size_t),
                                void *arg) {
  size_t n = 0;
  for (size_t off = 0; off + BATCH_LOG_OVERHEAD <= b->len;) {
    int64_t total = batch_total_bytes(b->data + off, b->len - off);
    if (total < BATCH_HEADER_BYTES || (uint64_t)total > b->len - off)
      break;
    if (fn)
      fn(arg, b->data + off, (size_t)total);
    off += (size_t)total;
    n++;
  }
  return n;
}

static inline void tl_verify_report(void *arg, const char *file,
                                    const char *problem) {
  fprintf(stderr, "\n  verify: %s: %s", file, problem);
}

/* log_verify_dir, printing the problems. */
static inline int tl_verify(const tl_env *t) {
  return log_verify_dir(t->env, t->log_dir, tl_verify_report, NULL);
}

static inline char *tl_path(const tl_env *t, const char *name) {
  return g_strdup_printf("%s/%s", t->log_dir, name);
}

static inline bool tl_exists(const tl_env *t, const char *name) {
  char *p = tl_path(t, name);
  bool ok = g_file_test(p, G_FILE_TEST_EXISTS);
  g_free(p);
  return ok;
}

static inline gchar *tl_slurp(const tl_env *t, const char *name, gsize *len) {
  char *p = tl_path(t, name);
  gchar *data = NULL;
  if (!g_file_get_contents(p, &data, len, NULL))
    data = NULL;
  g_free(p);
  return data;
}

static inline void tl_spit(const tl_env *t, const char *name, const void *data,
                           gsize len) {
  char *p = tl_path(t, name);
  CU_ASSERT_TRUE(g_file_set_contents(p, data, (gssize)len, NULL));
  g_free(p);
}

#endif
