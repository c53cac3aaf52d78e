/*
 * dataset.c — the context and the plan (Spark's SparkContext and RDD
 * constructors).
 *
 * Building a dataset only records a node: its operator, parents, named
 * function, env bytes and partition count. Wide operators create a
 * cm__shuffle (Spark's ShuffleDependency) per parent; several operators are
 * compositions (distinct = wrap, reduce, unwrap; join = cogroup + flat
 * map), which keeps the engine's core small.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "compute/blockstore.h"
#include "compute/internal.h"

void *cm__thread_executor_new(cm_ctx *ctx, uint32_t threads);
extern const cm__executor_ops cm__thread_executor_ops;

cm_config cm_config_default(void) {
  cm_config c = {0};
  c.executors = 2;
  c.memory_bytes = UINT64_C(256) << 20;
  c.task_attempts_max = 4;
  c.stage_attempts_max = 4;
  return c;
}

static int check_config(const cm_config *cfg, GError **err) {
  const char *bad = NULL;
  if (cfg->executors < 1 || cfg->executors > CM__EXECUTORS_MAX)
    bad = "executors must be between 1 and 256";
  else if (cfg->task_attempts_max < 1 ||
           cfg->task_attempts_max > CM__TASK_ATTEMPTS_MAX)
    bad = "task_attempts_max must be between 1 and 100";
  else if (cfg->stage_attempts_max < 1 ||
           cfg->stage_attempts_max > CM__TASK_ATTEMPTS_MAX)
    bad = "stage_attempts_max must be between 1 and 100";
  else if (cfg->fault_task_fail_ppm > 1000000)
    bad = "fault_task_fail_ppm must be at most 1000000";
  else if (cfg->memory_bytes < 2 * CM__TASK_MEMORY_MIN_BYTES)
    bad = "memory must be at least 128 KiB";
  if (!bad)
    return 0;
  g_set_error(err, CM_ERROR, CM_ERROR_INVALID, "%s", bad);
  return -1;
}

cm_ctx *cm_ctx_new(const cm_registry *reg, const cm_config *cfg,
                   GError **err) {
  SL_ASSERT(reg != NULL);
  SL_ASSERT(cfg != NULL);
  if (check_config(cfg, err) != 0)
    return NULL;
  const char *base = cfg->tmp_dir ? cfg->tmp_dir : g_get_tmp_dir();
  char *scratch = NULL;
  if (blk_mkdtemp(base, "sluice-compute-", &scratch, err) != 0)
    return NULL;
  cm_ctx *ctx = g_new0(cm_ctx, 1);
  ctx->reg = reg;
  ctx->cfg = *cfg;
  ctx->cfg.tmp_dir = NULL; /* borrowed string: not kept */
  ctx->scratch_dir = scratch;
  /* Half the budget for the cache, half shared by running tasks. */
  ctx->cache_memory_bytes = cfg->memory_bytes / 2;
  ctx->task_memory_bytes = cfg->memory_bytes / 2 / cfg->executors;
  if (ctx->task_memory_bytes < CM__TASK_MEMORY_MIN_BYTES)
    ctx->task_memory_bytes = CM__TASK_MEMORY_MIN_BYTES;
  ctx->datasets = g_ptr_array_new();
  ctx->shuffles = g_ptr_array_new();
  ctx->stages = g_ptr_array_new();
  ctx->dead_outputs = g_ptr_array_new();
  g_mutex_init(&ctx->lock);
  ctx->cache = cm__cache_new(ctx->cache_memory_bytes);
  ctx->executor_ops = &cm__thread_executor_ops;
  ctx->executor = cm__thread_executor_new(ctx, cfg->executors);
  return ctx;
}

static void ds_free(cm_ds *ds) {
  if (ds->coll_parts) {
    for (uint32_t i = 0; i < ds->n_parts; i++)
      cm__batch_free(&ds->coll_parts[i]);
    g_free(ds->coll_parts);
  }
  if (ds->text_files)
    g_ptr_array_free(ds->text_files, TRUE);
  if (ds->text_splits)
    g_array_free(ds->text_splits, TRUE);
  g_free(ds->coalesce_bounds);
  cm__buf_free(&ds->env);
  g_free(ds->label);
  g_free(ds);
}

static void shuffle_free(cm__shuffle *s) {
  for (uint32_t m = 0; m < s->parent->n_parts; m++)
    cm__map_output_free(s->outputs[m], true);
  g_free(s->outputs);
  cm__buf_free(&s->env);
  cm__buf_free(&s->zero);
  cm__batch_free(&s->bounds);
  g_array_free(s->bound_keys, TRUE);
  g_free(s);
}

void cm_ctx_free(cm_ctx *ctx) {
  if (!ctx)
    return;
  ctx->executor_ops->free(ctx->executor);
  cm__job_free(ctx->last_job);
  for (guint i = 0; i < ctx->stages->len; i++)
    cm__stage_free(g_ptr_array_index(ctx->stages, i));
  for (guint i = 0; i < ctx->shuffles->len; i++)
    shuffle_free(g_ptr_array_index(ctx->shuffles, i));
  for (guint i = 0; i < ctx->dead_outputs->len; i++)
    cm__map_output_free(g_ptr_array_index(ctx->dead_outputs, i), true);
  for (guint i = 0; i < ctx->datasets->len; i++)
    ds_free(g_ptr_array_index(ctx->datasets, i));
  g_ptr_array_free(ctx->stages, TRUE);
  g_ptr_array_free(ctx->shuffles, TRUE);
  g_ptr_array_free(ctx->dead_outputs, TRUE);
  g_ptr_array_free(ctx->datasets, TRUE);
  cm__cache_free(ctx->cache);
  g_mutex_clear(&ctx->lock);
  blk_remove_tree(ctx->scratch_dir);
  g_free(ctx->scratch_dir);
  g_free(ctx);
}

void cm_ctx_stats(cm_ctx *ctx, cm_stats *out) {
  SL_ASSERT(ctx != NULL);
  SL_ASSERT(out != NULL);
  *out = ctx->stats;
  cm__cache_stats(ctx->cache, out);
}

/* ------------------------------------------------------------- plan nodes */

cm_ds *cm__ds_new(cm_ctx *ctx, cm__op op, uint32_t n_parts,
                  const char *label) {
  SL_ASSERT(ctx != NULL);
  SL_ASSERT(n_parts >= 1 && n_parts <= CM__PARTITIONS_MAX);
  cm_ds *ds = g_new0(cm_ds, 1);
  ds->ctx = ctx;
  ds->id = ctx->next_ds_id++;
  ds->op = op;
  ds->n_parts = n_parts;
  ds->label = g_strdup(label);
  cm__buf_init(&ds->env);
  g_ptr_array_add(ctx->datasets, ds);
  return ds;
}

uint32_t cm_ds_partitions(const cm_ds *ds) {
  SL_ASSERT(ds != NULL);
  return ds->n_parts;
}

uint32_t cm_ds_id(const cm_ds *ds) {
  SL_ASSERT(ds != NULL);
  return ds->id;
}

cm_ds *cm_ds_set_name(cm_ds *ds, const char *name) {
  SL_ASSERT(ds != NULL);
  SL_ASSERT(name != NULL);
  g_free(ds->label);
  ds->label = g_strdup(name);
  return ds;
}

cm_ds *cm_parallelize(cm_ctx *ctx, const cm_rec *recs, size_t n,
                      uint32_t partitions) {
  SL_ASSERT(recs != NULL || n == 0);
  cm_ds *ds = cm__ds_new(ctx, CM__OP_COLLECTION, partitions, "parallelize");
  ds->coll_parts = g_new0(cm__batch, partitions);
  for (uint32_t p = 0; p < partitions; p++) {
    cm__batch_init(&ds->coll_parts[p]);
    size_t lo = n * p / partitions, hi = n * (p + 1) / partitions;
    for (size_t i = lo; i < hi; i++)
      cm__batch_add(&ds->coll_parts[p], recs[i].key, recs[i].val);
  }
  return ds;
}

cm_ds *cm_range(cm_ctx *ctx, int64_t start, int64_t end, int64_t step,
                uint32_t partitions) {
  SL_ASSERT(step > 0);
  cm_ds *ds = cm__ds_new(ctx, CM__OP_RANGE, partitions, "range");
  ds->range_start = start;
  ds->range_step = step;
  ds->range_count =
      end > start ? ((uint64_t)(end - start) + (uint64_t)step - 1) /
                        (uint64_t)step
                  : 0;
  return ds;
}

/* Cuts every file into ranges of about total/min_partitions bytes. */
static GArray *text_splits(GPtrArray *files, const uint64_t *sizes,
                           uint32_t min_partitions) {
  uint64_t total = 0;
  for (guint f = 0; f < files->len; f++)
    total += sizes[f];
  uint64_t target = total / min_partitions + (total % min_partitions != 0);
  GArray *splits = g_array_new(FALSE, FALSE, sizeof(cm__text_split));
  for (guint f = 0; f < files->len; f++) {
    if (sizes[f] == 0)
      continue;
    uint64_t n = (sizes[f] + target - 1) / target;
    for (uint64_t i = 0; i < n; i++) {
      cm__text_split s = {f, sizes[f] * i / n, sizes[f] * (i + 1) / n};
      g_array_append_val(splits, s);
    }
  }
  if (splits->len == 0) {
    cm__text_split empty = {0, 0, 0};
    g_array_append_val(splits, empty);
  }
  return splits;
}

cm_ds *cm_text_file(cm_ctx *ctx, const char *path, uint32_t min_partitions,
                    GError **err) {
  SL_ASSERT(ctx != NULL);
  SL_ASSERT(min_partitions >= 1);
  GPtrArray *files = NULL;
  if (blk_list_inputs(path, &files, err) != 0)
    return NULL;
  uint64_t *sizes = g_new0(uint64_t, files->len ? files->len : 1);
  for (guint f = 0; f < files->len; f++) {
    if (blk_file_size(g_ptr_array_index(files, f), &sizes[f], err) != 0) {
      g_free(sizes);
      g_ptr_array_free(files, TRUE);
      return NULL;
    }
  }
  if (files->len == 0)
    g_ptr_array_add(files, g_strdup("/dev/null"));
  GArray *splits = text_splits(files, sizes, min_partitions);
  g_free(sizes);
  if (splits->len > CM__PARTITIONS_MAX) {
    g_set_error(err, CM_ERROR, CM_ERROR_INVALID, "%s: too many splits (%u)",
                path, splits->len);
    g_array_free(splits, TRUE);
    g_ptr_array_free(files, TRUE);
    return NULL;
  }
  char *label = g_strdup_printf("text_file %s", path);
  cm_ds *ds = cm__ds_new(ctx, CM__OP_TEXT, splits->len, label);
  g_free(label);
  ds->text_files = files;
  ds->text_splits = splits;
  return ds;
}

static cm_ds *unary(cm_ds *parent, cm__op op, const char *label,
                    const cm__fn *fn, cm_bytes env) {
  SL_ASSERT(parent != NULL);
  char *full = fn ? g_strdup_printf("%s %s", label, fn->name)
                  : g_strdup(label);
  cm_ds *ds = cm__ds_new(parent->ctx, op, parent->n_parts, full);
  g_free(full);
  ds->parents[0] = parent;
  ds->n_parents = 1;
  ds->fn = fn;
  cm_buf_append(&ds->env, env.ptr, env.len);
  return ds;
}

static const cm__fn *lookup(cm_ds *ds, const char *name, cm__fn_kind kind) {
  SL_ASSERT(ds != NULL);
  return cm__registry_get(ds->ctx->reg, name, kind);
}

cm_ds *cm_map(cm_ds *ds, const char *fn, cm_bytes env) {
  return unary(ds, CM__OP_MAP, "map", lookup(ds, fn, CM__FN_MAP), env);
}

cm_ds *cm_filter(cm_ds *ds, const char *fn, cm_bytes env) {
  return unary(ds, CM__OP_FILTER, "filter", lookup(ds, fn, CM__FN_FILTER),
               env);
}

cm_ds *cm_flat_map(cm_ds *ds, const char *fn, cm_bytes env) {
  return unary(ds, CM__OP_FLAT_MAP, "flat_map", lookup(ds, fn, CM__FN_MAP),
               env);
}

cm_ds *cm_map_partitions(cm_ds *ds, const char *fn, cm_bytes env) {
  return unary(ds, CM__OP_MAP_PARTITIONS, "map_partitions",
               lookup(ds, fn, CM__FN_PARTITION), env);
}

cm_ds *cm_union(cm_ds *a, cm_ds *b) {
  SL_ASSERT(a != NULL && b != NULL);
  SL_ASSERT(a->ctx == b->ctx);
  cm_ds *ds =
      cm__ds_new(a->ctx, CM__OP_UNION, a->n_parts + b->n_parts, "union");
  ds->parents[0] = a;
  ds->parents[1] = b;
  ds->n_parents = 2;
  return ds;
}

cm_ds *cm_sample(cm_ds *ds, double fraction, uint64_t seed) {
  SL_ASSERT(fraction >= 0.0 && fraction <= 1.0);
  cm_ds *s = unary(ds, CM__OP_SAMPLE, "sample", NULL, CM_NO_BYTES);
  s->sample_fraction = fraction;
  s->sample_seed = seed;
  return s;
}

cm_ds *cm_coalesce(cm_ds *ds, uint32_t partitions) {
  SL_ASSERT(ds != NULL);
  SL_ASSERT(partitions >= 1 && partitions <= ds->n_parts);
  cm_ds *c = cm__ds_new(ds->ctx, CM__OP_COALESCE, partitions, "coalesce");
  c->parents[0] = ds;
  c->n_parents = 1;
  c->coalesce_bounds = g_new0(uint32_t, partitions + 1);
  for (uint32_t p = 0; p <= partitions; p++)
    c->coalesce_bounds[p] =
        (uint32_t)((uint64_t)ds->n_parts * p / partitions);
  return c;
}

/* ----------------------------------------------------------------- wide */

cm__shuffle *cm__shuffle_new(cm_ctx *ctx, cm_ds *parent, uint32_t n_out,
                             cm__partitioner partitioner) {
  SL_ASSERT(parent->ctx == ctx);
  SL_ASSERT(n_out >= 1 && n_out <= CM__PARTITIONS_MAX);
  cm__shuffle *s = g_new0(cm__shuffle, 1);
  s->id = ctx->next_shuffle_id++;
  s->parent = parent;
  s->n_out = n_out;
  s->partitioner = partitioner;
  s->combine = CM__COMBINE_NONE;
  cm__buf_init(&s->env);
  cm__buf_init(&s->zero);
  cm__batch_init(&s->bounds);
  s->bound_keys = g_array_new(FALSE, FALSE, sizeof(cm_bytes));
  s->outputs = g_new0(cm__map_output *, parent->n_parts);
  s->bounds_ready = partitioner != CM__PART_RANGE;
  g_ptr_array_add(ctx->shuffles, s);
  return s;
}

static cm_ds *shuffled(cm_ds *parent, uint32_t parts, const char *label,
                       cm__partitioner partitioner, cm__reduce_mode mode) {
  SL_ASSERT(parent != NULL);
  cm_ds *ds = cm__ds_new(parent->ctx, CM__OP_SHUFFLED, parts, label);
  ds->reduce_mode = mode;
  ds->shuffles[0] = cm__shuffle_new(parent->ctx, parent, parts, partitioner);
  ds->parents[0] = parent;
  ds->n_parents = 1;
  return ds;
}

cm_ds *cm_reduce_by_key(cm_ds *ds, const char *merge_fn, cm_bytes env,
                        uint32_t partitions) {
  const cm__fn *fn = lookup(ds, merge_fn, CM__FN_MERGE);
  char *label = g_strdup_printf("reduce_by_key %s", merge_fn);
  cm_ds *r = shuffled(ds, partitions, label, CM__PART_HASH,
                      CM__REDUCE_COMBINE);
  g_free(label);
  cm__shuffle *s = r->shuffles[0];
  s->combine = CM__COMBINE_REDUCE;
  s->seq = fn;
  s->comb = fn;
  cm_buf_append(&s->env, env.ptr, env.len);
  r->comb = fn;
  return r;
}

cm_ds *cm_aggregate_by_key(cm_ds *ds, cm_bytes zero, const char *seq_fn,
                           const char *comb_fn, cm_bytes env,
                           uint32_t partitions) {
  const cm__fn *seq = lookup(ds, seq_fn, CM__FN_MERGE);
  const cm__fn *comb = lookup(ds, comb_fn, CM__FN_MERGE);
  char *label = g_strdup_printf("aggregate_by_key %s %s", seq_fn, comb_fn);
  cm_ds *r = shuffled(ds, partitions, label, CM__PART_HASH,
                      CM__REDUCE_COMBINE);
  g_free(label);
  cm__shuffle *s = r->shuffles[0];
  s->combine = CM__COMBINE_AGGREGATE;
  s->seq = seq;
  s->comb = comb;
  cm_buf_append(&s->env, env.ptr, env.len);
  cm_buf_append(&s->zero, zero.ptr, zero.len);
  r->comb = comb;
  return r;
}

cm_ds *cm_group_by_key(cm_ds *ds, uint32_t partitions) {
  return shuffled(ds, partitions, "group_by_key", CM__PART_HASH,
                  CM__REDUCE_GROUP);
}

cm_ds *cm_distinct(cm_ds *ds, uint32_t partitions) {
  cm_ds *wrapped = cm_map(ds, "cm.distinct_wrap", CM_NO_BYTES);
  cm_ds *unique =
      cm_reduce_by_key(wrapped, "cm.keep_first", CM_NO_BYTES, partitions);
  cm_ds_set_name(unique, "distinct");
  return cm_map(unique, "cm.distinct_unwrap", CM_NO_BYTES);
}

cm_ds *cm_cogroup(cm_ds *a, cm_ds *b, uint32_t partitions) {
  SL_ASSERT(a != NULL && b != NULL);
  SL_ASSERT(a->ctx == b->ctx);
  cm_ds *ds = shuffled(a, partitions, "cogroup", CM__PART_HASH,
                       CM__REDUCE_COGROUP);
  ds->shuffles[1] = cm__shuffle_new(b->ctx, b, partitions, CM__PART_HASH);
  ds->parents[1] = b;
  ds->n_parents = 2;
  return ds;
}

cm_ds *cm_join(cm_ds *a, cm_ds *b, uint32_t partitions) {
  return cm_flat_map(cm_cogroup(a, b, partitions), "cm.join_inner",
                     CM_NO_BYTES);
}

cm_ds *cm_left_outer_join(cm_ds *a, cm_ds *b, uint32_t partitions) {
  return cm_flat_map(cm_cogroup(a, b, partitions), "cm.join_left",
                     CM_NO_BYTES);
}

cm_ds *cm_sort_by_key(cm_ds *ds, bool ascending, uint32_t partitions) {
  cm_ds *s = shuffled(ds, partitions,
                      ascending ? "sort_by_key" : "sort_by_key desc",
                      CM__PART_RANGE, CM__REDUCE_PASS);
  s->shuffles[0]->descending = !ascending;
  return s;
}

cm_ds *cm_repartition(cm_ds *ds, uint32_t partitions) {
  return shuffled(ds, partitions, "repartition", CM__PART_ROUND_ROBIN,
                  CM__REDUCE_PASS);
}

/* ----------------------------------------------------------------- cache */

cm_ds *cm_persist(cm_ds *ds) {
  SL_ASSERT(ds != NULL);
  ds->persisted = true;
  return ds;
}

void cm_unpersist(cm_ds *ds) {
  SL_ASSERT(ds != NULL);
  ds->persisted = false;
  cm__cache_drop_ds(ds->ctx->cache, ds->id);
}

bool cm_cache_drop(cm_ds *ds, uint32_t partition) {
  SL_ASSERT(ds != NULL);
  SL_ASSERT(partition < ds->n_parts);
  return cm__cache_drop(ds->ctx->cache, ds->id, partition);
}

uint32_t cm_cache_count(cm_ds *ds) {
  SL_ASSERT(ds != NULL);
  return cm__cache_count_ds(ds->ctx->cache, ds->id);
}
