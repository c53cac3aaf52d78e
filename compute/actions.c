/*
 * actions.c — the actions that run jobs (Spark's RDD actions and their
 * ResultTask functions).
 *
 * Each action has two halves: what a result task does with the batches of
 * its partition (on an executor thread), and how the driver combines the
 * per-partition results, always in partition order so that the answer does
 * not depend on which task finished first.
 */
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "compute/blockstore.h"
#include "compute/internal.h"

typedef enum action_kind {
  ACT_COLLECT = 1,
  ACT_COUNT,
  ACT_REDUCE,
  ACT_FOREACH,
  ACT_SAVE,
  ACT_SAMPLE,
} action_kind;

struct cm__action {
  action_kind kind;
  const cm__fn *fn;
  cm_bytes env;
  const char *dir;        /* ACT_SAVE */
  const cm__shuffle *shuffle; /* ACT_SAMPLE */
};

typedef struct reduce_state {
  cm_buf acc;
  cm_buf tmp;
  bool have;
} reduce_state;

typedef struct save_state {
  blk_writer *w;
  char *tmp_path;
} save_state;

/* A reservoir of sampled keys (Spark's SamplingUtils.reservoirSample). */
typedef struct sample_state {
  GPtrArray *keys; /* GBytes* */
  uint64_t seen;
  uint64_t rng;
} sample_state;

/* ------------------------------------------------------- task side */

void *cm__action_task_begin(const cm__action *a, cm__task *t) {
  SL_ASSERT(a != NULL);
  switch (a->kind) {
  case ACT_COLLECT: {
    cm__batch *b = g_new0(cm__batch, 1);
    cm__batch_init(b);
    return b;
  }
  case ACT_COUNT:
    return g_new0(uint64_t, 1);
  case ACT_REDUCE: {
    reduce_state *s = g_new0(reduce_state, 1);
    cm__buf_init(&s->acc);
    cm__buf_init(&s->tmp);
    return s;
  }
  case ACT_FOREACH:
    return NULL;
  case ACT_SAVE:
    return g_new0(save_state, 1);
  case ACT_SAMPLE: {
    sample_state *s = g_new0(sample_state, 1);
    s->keys = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    s->rng = cm__mix64(((uint64_t)a->shuffle->id << 32) | t->partition);
    return s;
  }
  }
  SL_ASSERT(!"unknown action");
  return NULL;
}

static int save_open(const cm__action *a, save_state *s, cm__task *t,
                     GError **err) {
  s->tmp_path = g_strdup_printf("%s/_temporary/part-%05u-attempt-%u", a->dir,
                                t->partition, t->attempt);
  s->w = blk_writer_create(s->tmp_path, err);
  return s->w ? 0 : -1;
}

static int save_batch(const cm__action *a, save_state *s, const cm__batch *b,
                      cm__task *t, GError **err) {
  if (!s->w && save_open(a, s, t, err) != 0)
    return -1;
  const uint8_t *p = b->buf.data, *end = p + b->buf.len;
  while (p < end) {
    cm_rec rec;
    p += cm__rec_decode(p, &rec);
    if (blk_write(s->w, rec.key.ptr, rec.key.len, err) != 0)
      return -1;
    if (rec.val.len > 0 && (blk_write(s->w, "\t", 1, err) != 0 ||
                            blk_write(s->w, rec.val.ptr, rec.val.len, err) !=
                                0))
      return -1;
    if (blk_write(s->w, "\n", 1, err) != 0)
      return -1;
  }
  return 0;
}

static void sample_batch(sample_state *s, const cm__batch *b) {
  const uint8_t *p = b->buf.data, *end = p + b->buf.len;
  while (p < end) {
    cm_rec rec;
    p += cm__rec_decode(p, &rec);
    s->seen++;
    if (s->keys->len < CM__SAMPLE_PER_PARTITION) {
      g_ptr_array_add(s->keys, g_bytes_new(rec.key.ptr, rec.key.len));
      continue;
    }
    s->rng += UINT64_C(0x9e3779b97f4a7c15);
    uint64_t j = cm__mix64(s->rng) % s->seen;
    if (j < CM__SAMPLE_PER_PARTITION) {
      g_bytes_unref(s->keys->pdata[j]);
      s->keys->pdata[j] = g_bytes_new(rec.key.ptr, rec.key.len);
    }
  }
}

int cm__action_task_batch(const cm__action *a, void *state,
                          const cm__batch *b, cm__task *t, GError **err) {
  switch (a->kind) {
  case ACT_COLLECT:
    cm__batch_append_batch(state, b);
    return 0;
  case ACT_COUNT:
    *(uint64_t *)state += b->count;
    return 0;
  case ACT_REDUCE: {
    reduce_state *s = state;
    const uint8_t *p = b->buf.data, *end = p + b->buf.len;
    while (p < end) {
      cm_rec rec;
      p += cm__rec_decode(p, &rec);
      if (!s->have) {
        cm_buf_set(&s->acc, rec.key);
        s->have = true;
        continue;
      }
      cm_buf_clear(&s->tmp);
      a->fn->u.merge(cm_buf_bytes(&s->acc), rec.key, a->env, &s->tmp);
      cm_buf swap = s->acc;
      s->acc = s->tmp;
      s->tmp = swap;
    }
    return 0;
  }
  case ACT_FOREACH: {
    const uint8_t *p = b->buf.data, *end = p + b->buf.len;
    while (p < end) {
      cm_rec rec;
      p += cm__rec_decode(p, &rec);
      a->fn->u.foreach(&rec, a->env);
    }
    return 0;
  }
  case ACT_SAVE:
    return save_batch(a, state, b, t, err);
  case ACT_SAMPLE:
    sample_batch(state, b);
    return 0;
  }
  SL_ASSERT(!"unknown action");
  return -1;
}

int cm__action_task_end(const cm__action *a, void *state, cm__task *t,
                        void **result, GError **err) {
  if (a->kind != ACT_SAVE) {
    *result = state;
    return 0;
  }
  save_state *s = state;
  int rc = (!s->w && save_open(a, s, t, err) != 0) ? -1 : 0;
  if (rc == 0) {
    rc = blk_writer_close(s->w, err);
    s->w = NULL;
  }
  if (rc == 0) {
    char *final = g_strdup_printf("%s/part-%05u", a->dir, t->partition);
    rc = blk_rename(s->tmp_path, final, err);
    g_free(final);
  }
  if (rc != 0)
    blk_unlink(s->tmp_path);
  g_free(s->tmp_path);
  g_free(s);
  *result = NULL;
  return rc;
}

void cm__action_task_abort(const cm__action *a, void *state, cm__task *t) {
  if (a->kind == ACT_SAVE && state) {
    save_state *s = state;
    blk_writer_abort(s->w);
    g_free(s->tmp_path);
    g_free(s);
    return;
  }
  cm__action_result_free(a, state);
}

void cm__action_result_free(const cm__action *a, void *result) {
  if (!result)
    return;
  switch (a->kind) {
  case ACT_COLLECT:
    cm__batch_free(result);
    g_free(result);
    return;
  case ACT_REDUCE: {
    reduce_state *s = result;
    cm__buf_free(&s->acc);
    cm__buf_free(&s->tmp);
    g_free(s);
    return;
  }
  case ACT_SAMPLE: {
    sample_state *s = result;
    g_ptr_array_free(s->keys, TRUE);
    g_free(s);
    return;
  }
  case ACT_COUNT:
  case ACT_FOREACH:
  case ACT_SAVE:
    g_free(result);
    return;
  }
}

/* ------------------------------------------------------- driver side */

/* Runs a job over `parts` (NULL = all) and hands back per-partition
 * results; on failure frees the ones that arrived. */
static void **run(cm_ds *ds, const uint32_t *parts, uint32_t n,
                  cm__action *a, GError **err) {
  SL_ASSERT(ds != NULL);
  void **results = g_new0(void *, ds->n_parts);
  if (cm__run_job(ds->ctx, ds, parts, n, a, results, err) == 0)
    return results;
  for (uint32_t p = 0; p < ds->n_parts; p++)
    cm__action_result_free(a, results[p]);
  g_free(results);
  return NULL;
}

static void free_results(const cm__action *a, void **results, uint32_t n) {
  for (uint32_t p = 0; p < n; p++)
    cm__action_result_free(a, results[p]);
  g_free(results);
}

int cm_collect(cm_ds *ds, cm_records **out, GError **err) {
  SL_ASSERT(out != NULL);
  cm__action a = {.kind = ACT_COLLECT};
  void **results = run(ds, NULL, 0, &a, err);
  if (!results)
    return -1;
  cm__batch all;
  cm__batch_init(&all);
  for (uint32_t p = 0; p < ds->n_parts; p++)
    cm__batch_append_batch(&all, results[p]);
  free_results(&a, results, ds->n_parts);
  *out = cm__records_from_batch(&all);
  return 0;
}

int cm_count(cm_ds *ds, uint64_t *out, GError **err) {
  SL_ASSERT(out != NULL);
  cm__action a = {.kind = ACT_COUNT};
  void **results = run(ds, NULL, 0, &a, err);
  if (!results)
    return -1;
  uint64_t total = 0;
  for (uint32_t p = 0; p < ds->n_parts; p++)
    total += *(uint64_t *)results[p];
  free_results(&a, results, ds->n_parts);
  *out = total;
  return 0;
}

int cm_reduce(cm_ds *ds, const char *merge_fn, cm_bytes env, GBytes **out,
              GError **err) {
  SL_ASSERT(out != NULL);
  cm__action a = {.kind = ACT_REDUCE,
                  .fn = cm__registry_get(ds->ctx->reg, merge_fn, CM__FN_MERGE),
                  .env = env};
  void **results = run(ds, NULL, 0, &a, err);
  if (!results)
    return -1;
  cm_buf acc, tmp;
  cm__buf_init(&acc);
  cm__buf_init(&tmp);
  bool have = false;
  for (uint32_t p = 0; p < ds->n_parts; p++) {
    reduce_state *s = results[p];
    if (!s->have)
      continue;
    if (!have) {
      cm_buf_set(&acc, cm_buf_bytes(&s->acc));
      have = true;
      continue;
    }
    cm_buf_clear(&tmp);
    a.fn->u.merge(cm_buf_bytes(&acc), cm_buf_bytes(&s->acc), env, &tmp);
    cm_buf_set(&acc, cm_buf_bytes(&tmp));
  }
  free_results(&a, results, ds->n_parts);
  cm__buf_free(&tmp);
  if (!have) {
    cm__buf_free(&acc);
    g_set_error(err, CM_ERROR, CM_ERROR_EMPTY, "reduce of an empty dataset");
    return -1;
  }
  *out = g_bytes_new_take(acc.data, acc.len);
  return 0;
}

int cm_take(cm_ds *ds, size_t n, cm_records **out, GError **err) {
  SL_ASSERT(ds != NULL);
  SL_ASSERT(out != NULL);
  cm__action a = {.kind = ACT_COLLECT};
  cm__batch all;
  cm__batch_init(&all);
  uint32_t scanned = 0, step = 1;
  while (all.count < n && scanned < ds->n_parts) {
    uint32_t count = MIN(step, ds->n_parts - scanned);
    uint32_t *parts = g_new0(uint32_t, count);
    for (uint32_t i = 0; i < count; i++)
      parts[i] = scanned + i;
    void **results = run(ds, parts, count, &a, err);
    g_free(parts);
    if (!results) {
      cm__batch_free(&all);
      return -1;
    }
    for (uint32_t i = 0; i < count; i++) {
      const cm__batch *b = results[scanned + i];
      const uint8_t *p = b->buf.data, *end = p + b->buf.len;
      while (p < end && all.count < n) {
        cm_rec rec;
        p += cm__rec_decode(p, &rec);
        cm__batch_add(&all, rec.key, rec.val);
      }
    }
    free_results(&a, results, ds->n_parts);
    scanned += count;
    step *= 4;
  }
  *out = cm__records_from_batch(&all);
  return 0;
}

int cm_foreach(cm_ds *ds, const char *fn, cm_bytes env, GError **err) {
  cm__action a = {.kind = ACT_FOREACH,
                  .fn = cm__registry_get(ds->ctx->reg, fn, CM__FN_FOREACH),
                  .env = env};
  void **results = run(ds, NULL, 0, &a, err);
  if (!results)
    return -1;
  free_results(&a, results, ds->n_parts);
  return 0;
}

int cm_save_as_text(cm_ds *ds, const char *dir, GError **err) {
  SL_ASSERT(ds != NULL);
  SL_ASSERT(dir != NULL);
  char *tmp = g_build_filename(dir, "_temporary", NULL);
  char *success = g_build_filename(dir, "_SUCCESS", NULL);
  cm__action a = {.kind = ACT_SAVE, .dir = dir};
  int rc = blk_mkdir_p(tmp, err);
  if (rc == 0) {
    blk_unlink(success);
    void **results = run(ds, NULL, 0, &a, err);
    rc = results ? 0 : -1;
    if (results)
      free_results(&a, results, ds->n_parts);
  }
  blk_remove_tree(tmp);
  if (rc == 0)
    rc = blk_write_file(success, "", 0, err);
  g_free(success);
  g_free(tmp);
  return rc;
}

/* ------------------------------------------------------ range bounds */

typedef struct weighted_key {
  GBytes *key;
  double weight;
} weighted_key;

static gint weighted_cmp(gconstpointer a, gconstpointer b, gpointer data) {
  const weighted_key *x = a, *y = b;
  gsize xl, yl;
  const uint8_t *xp = g_bytes_get_data(x->key, &xl);
  const uint8_t *yp = g_bytes_get_data(y->key, &yl);
  return cm__key_cmp(cm_bytes_of(xp, xl), cm_bytes_of(yp, yl),
                     *(const bool *)data);
}

/* Each key sampled from a partition of n records stands for n / sampled of
 * them (Spark's weighted RangePartitioner sketch). */
int cm__sample_bounds(cm_ctx *ctx, cm__shuffle *s, GError **err) {
  SL_ASSERT(s->partitioner == CM__PART_RANGE);
  SL_ASSERT(!s->bounds_ready);
  cm__action a = {.kind = ACT_SAMPLE, .shuffle = s};
  cm_ds *ds = s->parent;
  void **results = run(ds, NULL, 0, &a, err);
  if (!results)
    return -1;
  GArray *all = g_array_new(FALSE, FALSE, sizeof(weighted_key));
  for (uint32_t p = 0; p < ds->n_parts; p++) {
    sample_state *st = results[p];
    for (guint i = 0; i < st->keys->len; i++) {
      weighted_key wk = {g_bytes_ref(st->keys->pdata[i]),
                         (double)st->seen / st->keys->len};
      g_array_append_val(all, wk);
    }
  }
  free_results(&a, results, ds->n_parts);
  bool descending = s->descending;
  g_array_sort_with_data(all, weighted_cmp, &descending);
  cm__batch keys;
  cm__batch_init(&keys);
  GArray *weights = g_array_new(FALSE, FALSE, sizeof(double));
  for (guint i = 0; i < all->len; i++) {
    weighted_key *wk = &g_array_index(all, weighted_key, i);
    gsize len;
    const uint8_t *p = g_bytes_get_data(wk->key, &len);
    cm__batch_add(&keys, cm_bytes_of(p, len), CM_NO_BYTES);
    g_array_append_val(weights, wk->weight);
    g_bytes_unref(wk->key);
  }
  cm__shuffle_set_bounds(s, &keys, weights);
  cm__batch_free(&keys);
  g_array_free(weights, TRUE);
  g_array_free(all, TRUE);
  return 0;
}
