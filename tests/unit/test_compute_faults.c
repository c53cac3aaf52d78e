/*
 * test_compute_faults.c — the scheduler under failure and memory
 * pressure: lineage recompute of lost cached partitions, LRU eviction,
 * shuffles shared between jobs, lost map outputs (fetch failures), tasks
 * that fail for good, user-reported failures, concurrent stages, and
 * spilling shuffles checked against references.
 */
#include <dirent.h>
#include <unistd.h>

#include "tests/unit/test_compute_lib.h"

/* env: a pointer to a gint64 counting calls. */
static void f_count_calls(const cm_rec *in, cm_bytes env, cm_emit *out) {
  gint64 *counter;
  memcpy(&counter, env.ptr, sizeof counter);
  __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
  cm_emit_kv(out, in->key, in->val);
}

static void f_fail_on_7(const cm_rec *in, cm_bytes env, cm_emit *out) {
  if (cm_i64_get(in->key) == 7)
    cm_emit_fail(out, "record 7 is cursed");
  cm_emit_kv(out, in->key, in->val);
}

static void f_slow(const cm_rec *in, cm_bytes env, cm_emit *out) {
  g_usleep(2000);
  cm_emit_kv(out, in->key, in->val);
}

static cm_registry *registry(void) {
  cm_registry *reg = cm_registry_new();
  cm_register_map(reg, "f.count_calls", f_count_calls);
  cm_register_map(reg, "f.fail_on_7", f_fail_on_7);
  cm_register_map(reg, "f.slow", f_slow);
  return reg;
}

static cm_ctx *ctx_new(const cm_registry *reg, uint32_t executors,
                       uint64_t memory, const char *tmp) {
  cm_config cfg = cm_config_default();
  cfg.executors = executors;
  cfg.memory_bytes = memory;
  cfg.tmp_dir = tmp;
  GError *err = NULL;
  cm_ctx *ctx = cm_ctx_new(reg, &cfg, &err);
  g_assert_no_error(err);
  return ctx;
}

static int64_t sum_keys(cm_records *r) {
  int64_t s = 0;
  for (size_t i = 0; i < cm_records_count(r); i++)
    s += cm_i64_get(cm_records_get(r, i).key);
  return s;
}

static void test_lineage_recompute(void) {
  cm_registry *reg = registry();
  cm_ctx *ctx = ctx_new(reg, 3, 64u << 20, NULL);
  gint64 calls = 0, *ptr = &calls;
  cm_ds *ds = cm_persist(cm_map(cm_range(ctx, 0, 1000, 1, 4),
                                "f.count_calls", cm_bytes_of(&ptr, sizeof ptr)));
  GError *err = NULL;
  cm_records *r1 = NULL, *r2 = NULL, *r3 = NULL;
  CU_ASSERT_EQUAL_FATAL(cm_collect(ds, &r1, &err), 0);
  CU_ASSERT_EQUAL(calls, 1000);
  CU_ASSERT_EQUAL(cm_cache_count(ds), 4);
  CU_ASSERT_EQUAL_FATAL(cm_collect(ds, &r2, &err), 0);
  CU_ASSERT_EQUAL(calls, 1000); /* served from the cache */
  /* Lose partition 1 (elements 250..499): only it is recomputed. */
  CU_ASSERT(cm_cache_drop(ds, 1));
  CU_ASSERT(!cm_cache_drop(ds, 1));
  CU_ASSERT_EQUAL(cm_cache_count(ds), 3);
  CU_ASSERT_EQUAL_FATAL(cm_collect(ds, &r3, &err), 0);
  CU_ASSERT_EQUAL(calls, 1250);
  CU_ASSERT_EQUAL(cm_cache_count(ds), 4);
  CU_ASSERT_EQUAL(cm_records_count(r3), 1000);
  CU_ASSERT_EQUAL(sum_keys(r1), 999 * 1000 / 2);
  CU_ASSERT_EQUAL(sum_keys(r3), sum_keys(r1));
  for (size_t i = 0; i < 1000; i++)
    CU_ASSERT_EQUAL(cm_i64_get(cm_records_get(r3, i).key), (int64_t)i);
  cm_stats st;
  cm_ctx_stats(ctx, &st);
  CU_ASSERT(st.cache_hits >= 7);
  /* unpersist: recomputed every time from now on */
  cm_unpersist(ds);
  CU_ASSERT_EQUAL(cm_cache_count(ds), 0);
  uint64_t n = 0;
  CU_ASSERT_EQUAL(cm_count(ds, &n, &err), 0);
  CU_ASSERT_EQUAL(calls, 2250);
  cm_records_free(r1);
  cm_records_free(r2);
  cm_records_free(r3);
  cm_ctx_free(ctx);
  cm_registry_free(reg);
}

static void test_lru_eviction(void) {
  cm_registry *reg = registry();
  /* 512 KiB total: a 256 KiB cache; each dataset is ~440 KB cached. */
  cm_ctx *ctx = ctx_new(reg, 2, 512u << 10, NULL);
  cm_ds *a = cm_persist(cm_range(ctx, 0, 20000, 1, 8));
  cm_ds *b = cm_persist(cm_range(ctx, 100000, 120000, 1, 8));
  GError *err = NULL;
  uint64_t n = 0;
  CU_ASSERT_EQUAL(cm_count(a, &n, &err), 0);
  uint32_t cached_a = cm_cache_count(a);
  CU_ASSERT(cached_a >= 1 && cached_a <= 8);
  CU_ASSERT_EQUAL(cm_count(b, &n, &err), 0);
  CU_ASSERT_EQUAL(n, 20000);
  cm_stats st;
  cm_ctx_stats(ctx, &st);
  CU_ASSERT(st.cache_evictions > 0);
  CU_ASSERT(cm_cache_count(a) < cached_a);
  CU_ASSERT(st.cache_bytes <= (256u << 10));
  /* a's evicted partitions come back from lineage */
  cm_records *r = NULL;
  CU_ASSERT_EQUAL_FATAL(cm_collect(a, &r, &err), 0);
  CU_ASSERT_EQUAL(cm_records_count(r), 20000);
  CU_ASSERT_EQUAL(sum_keys(r), (int64_t)19999 * 20000 / 2);
  cm_records_free(r);
  cm_ctx_free(ctx);
  cm_registry_free(reg);
}

static void test_shared_shuffle(void) {
  cm_registry *reg = registry();
  cm_ctx *ctx = ctx_new(reg, 2, 64u << 20, NULL);
  gint64 calls = 0, *ptr = &calls;
  cm_ds *src = cm_map(cm_range(ctx, 0, 5000, 1, 5), "f.count_calls",
                      cm_bytes_of(&ptr, sizeof ptr));
  cm_ds *counts = cm_reduce_by_key(cm_map(src, "cm.one_i64", CM_NO_BYTES),
                                   "cm.sum_i64", CM_NO_BYTES, 3);
  GError *err = NULL;
  uint64_t n = 0;
  CU_ASSERT_EQUAL(cm_count(counts, &n, &err), 0);
  CU_ASSERT_EQUAL(n, 5000);
  CU_ASSERT_EQUAL(calls, 5000);
  /* A second job over the same shuffle, and one more on top of it. */
  cm_records *r = NULL;
  CU_ASSERT_EQUAL_FATAL(cm_collect(counts, &r, &err), 0);
  CU_ASSERT_EQUAL(cm_records_count(r), 5000);
  cm_ds *again = cm_reduce_by_key(cm_map(counts, "cm.swap", CM_NO_BYTES),
                                  "cm.keep_first", CM_NO_BYTES, 2);
  CU_ASSERT_EQUAL(cm_count(again, &n, &err), 0);
  CU_ASSERT_EQUAL(n, 1); /* every count is 1 */
  CU_ASSERT_EQUAL(calls, 5000);
  cm_stats st;
  cm_ctx_stats(ctx, &st);
  CU_ASSERT_EQUAL(st.jobs, 3);
  CU_ASSERT(st.stages_skipped >= 2);
  GString *summary = g_string_new(NULL);
  cm_ctx_job_summary(ctx, summary);
  CU_ASSERT(strstr(summary->str, "skipped") != NULL);
  g_string_free(summary, TRUE);
  cm_records_free(r);
  cm_ctx_free(ctx);
  cm_registry_free(reg);
}

/* Deletes every shuffle file under dir (one level of subdirectories). */
static int delete_shuffle_files(const char *dir) {
  int n = 0;
  GDir *top = g_dir_open(dir, 0, NULL);
  const char *sub;
  while (top && (sub = g_dir_read_name(top))) {
    char *path = g_build_filename(dir, sub, NULL);
    GDir *d = g_dir_open(path, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name(d))) {
      if (g_str_has_prefix(name, "shuffle_")) {
        char *f = g_build_filename(path, name, NULL);
        n += unlink(f) == 0;
        g_free(f);
      }
    }
    if (d)
      g_dir_close(d);
    g_free(path);
  }
  if (top)
    g_dir_close(top);
  return n;
}

static void test_fetch_failure(void) {
  cm_registry *reg = registry();
  char *tmp = test_tmpdir();
  cm_ctx *ctx = ctx_new(reg, 3, 64u << 20, tmp);
  gint64 calls = 0, *ptr = &calls;
  cm_ds *src = cm_map(cm_range(ctx, 0, 3000, 1, 6), "f.count_calls",
                      cm_bytes_of(&ptr, sizeof ptr));
  cm_ds *grouped = cm_group_by_key(src, 4);
  GError *err = NULL;
  uint64_t n = 0;
  CU_ASSERT_EQUAL(cm_count(grouped, &n, &err), 0);
  CU_ASSERT_EQUAL(n, 3000);
  CU_ASSERT_EQUAL(calls, 3000);
  /* Lose every map output behind the scheduler's back. */
  CU_ASSERT(delete_shuffle_files(tmp) >= 6);
  cm_records *r = NULL;
  CU_ASSERT_EQUAL_FATAL(cm_collect(grouped, &r, &err), 0);
  CU_ASSERT_EQUAL(cm_records_count(r), 3000);
  int64_t sum = 0;
  for (size_t i = 0; i < cm_records_count(r); i++)
    sum += cm_i64_get(cm_records_get(r, i).key);
  CU_ASSERT_EQUAL(sum, (int64_t)2999 * 3000 / 2);
  CU_ASSERT_EQUAL(calls, 6000); /* every map task ran again */
  cm_stats st;
  cm_ctx_stats(ctx, &st);
  CU_ASSERT(st.fetch_failures >= 1);
  cm_records_free(r);
  cm_ctx_free(ctx);
  test_rm_tree(tmp);
  g_free(tmp);
  cm_registry_free(reg);
}

static void test_task_gives_up(void) {
  cm_registry *reg = registry();
  cm_config cfg = cm_config_default();
  cfg.fault_task_fail_ppm = 1000000; /* every attempt fails */
  cfg.task_attempts_max = 3;
  GError *err = NULL;
  cm_ctx *ctx = cm_ctx_new(reg, &cfg, &err);
  CU_ASSERT_PTR_NOT_NULL_FATAL(ctx);
  uint64_t n = 0;
  CU_ASSERT_EQUAL(cm_count(cm_range(ctx, 0, 100, 1, 4), &n, &err), -1);
  CU_ASSERT(g_error_matches(err, CM_ERROR, CM_ERROR_TASK_FAILED));
  CU_ASSERT(err && strstr(err->message, "injected fault") != NULL);
  g_clear_error(&err);
  cm_stats st;
  cm_ctx_stats(ctx, &st);
  CU_ASSERT(st.tasks_failed >= 3);
  cm_ctx_free(ctx);
  /* A user function's failure is reported with its message. */
  cfg.fault_task_fail_ppm = 0;
  ctx = cm_ctx_new(reg, &cfg, &err);
  cm_records *r = NULL;
  CU_ASSERT_EQUAL(
      cm_collect(cm_map(cm_range(ctx, 0, 10, 1, 2), "f.fail_on_7", CM_NO_BYTES),
                 &r, &err),
      -1);
  CU_ASSERT(err && strstr(err->message, "record 7 is cursed") != NULL);
  g_clear_error(&err);
  /* The context is still usable afterwards. */
  CU_ASSERT_EQUAL(cm_count(cm_range(ctx, 0, 10, 1, 2), &n, &err), 0);
  CU_ASSERT_EQUAL(n, 10);
  /* Bad configurations are refused. */
  cfg.executors = 0;
  CU_ASSERT_PTR_NULL(cm_ctx_new(reg, &cfg, &err));
  CU_ASSERT(g_error_matches(err, CM_ERROR, CM_ERROR_INVALID));
  g_clear_error(&err);
  cm_ctx_free(ctx);
  cm_registry_free(reg);
}

typedef struct stage_watch {
  GHashTable *running; /* stage id -> running tasks */
  uint32_t max_concurrent_stages;
} stage_watch;

static void watch_progress(void *arg, const cm_progress *p) {
  stage_watch *w = arg;
  g_hash_table_insert(w->running, GUINT_TO_POINTER(p->stage_id + 1),
                      GUINT_TO_POINTER(p->tasks_running));
  uint32_t busy = 0;
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init(&it, w->running);
  while (g_hash_table_iter_next(&it, &k, &v))
    busy += GPOINTER_TO_UINT(v) > 0;
  if (busy > w->max_concurrent_stages)
    w->max_concurrent_stages = busy;
}

static void test_concurrent_stages(void) {
  cm_registry *reg = registry();
  stage_watch w = {g_hash_table_new(NULL, NULL), 0};
  cm_config cfg = cm_config_default();
  cfg.executors = 6;
  cfg.progress_fn = watch_progress;
  cfg.progress_arg = &w;
  GError *err = NULL;
  cm_ctx *ctx = cm_ctx_new(reg, &cfg, &err);
  cm_ds *a = cm_map(cm_range(ctx, 0, 30, 1, 3), "f.slow", CM_NO_BYTES);
  cm_ds *b = cm_map(cm_range(ctx, 10, 40, 1, 3), "f.slow", CM_NO_BYTES);
  uint64_t n = 0;
  CU_ASSERT_EQUAL(cm_count(cm_join(a, b, 2), &n, &err), 0);
  CU_ASSERT_EQUAL(n, 20);
  /* The two independent map stages ran side by side. */
  CU_ASSERT(w.max_concurrent_stages >= 2);
  char *tmp = test_tmpdir();
  char *dot = g_build_filename(tmp, "job.dot", NULL);
  CU_ASSERT_EQUAL(cm_ctx_render_last_job(ctx, dot, &err), 0);
  gchar *text = NULL;
  CU_ASSERT(g_file_get_contents(dot, &text, NULL, NULL));
  CU_ASSERT(text && strstr(text, "cluster_stage_") != NULL);
  CU_ASSERT(text && strstr(text, "shuffle 0") != NULL);
  CU_ASSERT(text && strstr(text, "shuffle 1") != NULL);
  g_free(text);
  /* SVG rendering is exercised by tests/compute/wordcount.sh: Graphviz's
   * layout keeps font caches that LeakSanitizer would report here. */
  CU_ASSERT_EQUAL(cm_ctx_render_last_job(ctx, "/x/job.png", &err), -1);
  g_clear_error(&err);
  /* A directory that does not exist: the write fails and says where. */
  char *bad = g_build_filename(tmp, "no-such-dir", "job.dot", NULL);
  CU_ASSERT_EQUAL(cm_ctx_render_last_job(ctx, bad, &err), -1);
  CU_ASSERT(err && strstr(err->message, "no-such-dir") != NULL);
  g_clear_error(&err);
  g_free(bad);
  g_free(dot);
  test_rm_tree(tmp);
  g_free(tmp);
  g_hash_table_destroy(w.running);
  cm_ctx_free(ctx);
  cm_registry_free(reg);
}

/* 300k records through shuffles with a 128 KiB budget (64 KiB per task):
 * every map task spills, and the answers match a hash-table reference. */
static void test_spill_at_scale(void) {
  cm_registry *reg = registry();
  uint64_t seed = test_seed();
  test_rng rng;
  test_rng_init(&rng, seed);
  enum { N = 300000, DISTINCT = 20000 };
  cm_rec *recs = g_new0(cm_rec, N);
  uint8_t *keys = g_malloc((size_t)N * 8), *vals = g_malloc((size_t)N * 8);
  int64_t *sums = g_new0(int64_t, DISTINCT);
  int64_t *counts = g_new0(int64_t, DISTINCT);
  for (size_t i = 0; i < N; i++) {
    int64_t k = (int64_t)test_rng_below(&rng, DISTINCT);
    int64_t v = (int64_t)test_rng_below(&rng, 100);
    cm_i64_put(keys + 8 * i, k);
    cm_i64_put(vals + 8 * i, v);
    recs[i] = (cm_rec){cm_bytes_of(keys + 8 * i, 8), cm_bytes_of(vals + 8 * i, 8)};
    sums[k] += v;
    counts[k]++;
  }
  cm_ctx *ctx = ctx_new(reg, 2, 128u << 10, NULL);
  cm_ds *in = cm_parallelize(ctx, recs, N, 4);
  GError *err = NULL;
  /* reduce_by_key */
  cm_records *r = NULL;
  CU_ASSERT_EQUAL_FATAL(
      cm_collect(cm_reduce_by_key(in, "cm.sum_i64", CM_NO_BYTES, 5), &r, &err),
      0);
  size_t present = 0;
  for (size_t k = 0; k < DISTINCT; k++)
    present += counts[k] > 0;
  TEST_EQ_INT(cm_records_count(r), present, seed);
  bool all_right = true;
  for (size_t i = 0; i < cm_records_count(r); i++) {
    cm_rec rec = cm_records_get(r, i);
    all_right &= cm_i64_get(rec.val) == sums[cm_i64_get(rec.key)];
  }
  CU_ASSERT(all_right);
  cm_records_free(r);
  /* group_by_key: list sizes are the counts */
  CU_ASSERT_EQUAL_FATAL(cm_collect(cm_group_by_key(in, 3), &r, &err), 0);
  all_right = cm_records_count(r) == present;
  for (size_t i = 0; i < cm_records_count(r); i++) {
    cm_rec rec = cm_records_get(r, i);
    all_right &= (int64_t)cm_list_count(rec.val) == counts[cm_i64_get(rec.key)];
  }
  CU_ASSERT(all_right);
  cm_records_free(r);
  /* sort_by_key: globally ordered, nothing lost */
  CU_ASSERT_EQUAL_FATAL(cm_collect(cm_sort_by_key(in, true, 4), &r, &err), 0);
  CU_ASSERT_EQUAL(cm_records_count(r), N);
  all_right = true;
  for (size_t i = 1; i < cm_records_count(r); i++)
    all_right &= cm_bytes_cmp(cm_records_get(r, i - 1).key,
                              cm_records_get(r, i).key) <= 0;
  CU_ASSERT(all_right);
  cm_records_free(r);
  cm_stats st;
  cm_ctx_stats(ctx, &st);
  CU_ASSERT(st.spill_files >= 8);
  CU_ASSERT(st.spill_bytes > 0);
  cm_ctx_free(ctx);
  g_free(recs);
  g_free(keys);
  g_free(vals);
  g_free(sums);
  g_free(counts);
  cm_registry_free(reg);
}

int suite_compute_faults(void) {
  TEST_SUITE("compute_faults", {"lineage recompute", test_lineage_recompute},
             {"lru eviction", test_lru_eviction},
             {"shared shuffle skipped", test_shared_shuffle},
             {"fetch failure resubmits map stage", test_fetch_failure},
             {"task gives up", test_task_gives_up},
             {"concurrent stages and dag", test_concurrent_stages},
             {"spill at scale", test_spill_at_scale});
}
