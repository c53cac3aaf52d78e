/*
 * scheduler.c — the DAG scheduler, the task scheduler and the thread
 * executor (Spark's DAGScheduler, TaskSchedulerImpl/TaskSetManager and
 * local-mode executor backend, folded into one driver loop).
 *
 * A job starts from the dataset an action runs on. Walking its lineage
 * (explicit stacks only: lineages can be long) finds every shuffle
 * dependency; each shuffle has one map stage for the life of the context,
 * so a second job over the same shuffle finds its outputs registered and
 * skips the stage. The job's result stage reads the final dataset.
 *
 * The driver loop (the caller's thread) submits every task of every stage
 * whose parent stages have all their map outputs — independent stages run
 * side by side — then waits for finished tasks on an async queue:
 *   - success: register the map output, or keep the partition's result;
 *   - failure: retry, up to task_attempts_max attempts per task, then fail
 *     the job (after the tasks still running have come back);
 *   - fetch failure (a map output is missing): unregister that output, so
 *     its map stage becomes incomplete and its lost task is resubmitted;
 *     the reducer runs again once the parent stage is whole.
 *     stage_attempts_max bounds how often this may happen per stage.
 * Task outputs are deterministic functions of their inputs, so re-running
 * anything is safe (Spark's "determinate" stages).
 */
#include <string.h>

#include "base/assert.h"
#include "compute/blockstore.h"
#include "compute/internal.h"

/* -------------------------------------------------------- thread executor */

typedef struct thread_executor {
  GThreadPool *pool;
} thread_executor;

static void executor_thread(gpointer data, gpointer user_data) {
  cm__task *t = data;
  cm__task_execute(t);
  cm__task_done(t);
}

void *cm__thread_executor_new(cm_ctx *ctx, uint32_t threads) {
  SL_ASSERT(threads >= 1);
  thread_executor *e = g_new0(thread_executor, 1);
  e->pool = g_thread_pool_new(executor_thread, ctx, (gint)threads, TRUE, NULL);
  SL_ASSERT(e->pool != NULL);
  return e;
}

static void thread_submit(void *impl, cm__task *task) {
  thread_executor *e = impl;
  gboolean ok = g_thread_pool_push(e->pool, task, NULL);
  SL_ASSERT(ok);
}

static void thread_free(void *impl) {
  thread_executor *e = impl;
  if (!e)
    return;
  g_thread_pool_free(e->pool, FALSE, TRUE);
  g_free(e);
}

const cm__executor_ops cm__thread_executor_ops = {
    "threads", thread_submit, thread_free};

/* ------------------------------------------------------------ running */

typedef struct action_sink {
  const cm__action *action;
  void *state;
  cm__task *task;
} action_sink;

static int action_consume(void *arg, const cm__batch *b, GError **err) {
  action_sink *s = arg;
  return cm__action_task_batch(s->action, s->state, b, s->task, err);
}

static bool fault_injected(const cm__task *t) {
  uint32_t ppm = t->ctx->cfg.fault_task_fail_ppm;
  if (ppm == 0)
    return false;
  uint64_t h = cm__mix64(t->ctx->cfg.fault_seed ^
                         cm__mix64(((uint64_t)t->stage->id << 40) ^
                                   ((uint64_t)t->partition << 16) ^
                                   t->attempt));
  return h % 1000000u < ppm;
}

static int inject_fault(const cm__task *t, GError **err) {
  g_set_error(err, CM_ERROR, CM_ERROR_TASK_FAILED,
              "injected fault (stage %u, partition %u, attempt %u)",
              t->stage->id, t->partition, t->attempt);
  return -1;
}

static int execute_map(cm__task *t, GError **err) {
  cm__shuffle_writer *w = cm__shuffle_writer_new(t, t->stage->shuffle);
  int rc = cm__pipeline_run(t, t->stage->ds, t->partition,
                            cm__shuffle_writer_add, w, err);
  if (rc == 0 && fault_injected(t))
    rc = inject_fault(t, err);
  if (rc == 0)
    rc = cm__shuffle_writer_finish(w, &t->map_output, err);
  cm__shuffle_writer_free(w);
  return rc;
}

static int execute_result(cm__task *t, GError **err) {
  const cm__action *a = t->job->action;
  action_sink sink = {a, cm__action_task_begin(a, t), t};
  int rc = cm__pipeline_run(t, t->stage->ds, t->partition, action_consume,
                            &sink, err);
  if (rc == 0 && fault_injected(t))
    rc = inject_fault(t, err);
  if (rc == 0)
    return cm__action_task_end(a, sink.state, t, &t->result, err);
  cm__action_task_abort(a, sink.state, t);
  return rc;
}

void cm__task_execute(cm__task *t) {
  SL_ASSERT(t != NULL);
  SL_ASSERT(t->status == CM__TASK_OK);
  int64_t start_us = g_get_monotonic_time();
  GError *err = NULL;
  int rc = t->stage->shuffle ? execute_map(t, &err) : execute_result(t, &err);
  if (rc != 0) {
    if (t->status == CM__TASK_OK)
      t->status = CM__TASK_FAILED;
    t->error = err ? err
                   : g_error_new(CM_ERROR, CM_ERROR_TASK_FAILED,
                                 "task failed");
  } else {
    SL_ASSERT(err == NULL);
  }
  t->metrics.duration_us = g_get_monotonic_time() - start_us;
}

void cm__task_done(cm__task *t) {
  SL_ASSERT(t != NULL);
  g_async_queue_push(t->job->events, t);
}

/* ------------------------------------------------------------- stages */

static cm__stage *stage_new(cm_ctx *ctx, cm_ds *ds, cm__shuffle *shuffle) {
  cm__stage *st = g_new0(cm__stage, 1);
  st->id = ctx->next_stage_id++;
  st->ds = ds;
  st->shuffle = shuffle;
  st->n_tasks = ds->n_parts;
  st->parents = g_ptr_array_new();
  st->running = g_new0(uint8_t, st->n_tasks);
  st->failures = g_new0(uint32_t, st->n_tasks);
  st->attempts = g_new0(uint32_t, st->n_tasks);
  return st;
}

void cm__stage_free(cm__stage *s) {
  if (!s)
    return;
  g_ptr_array_free(s->parents, TRUE);
  g_free(s->running);
  g_free(s->failures);
  g_free(s->attempts);
  g_free(s);
}

static void push_parents(GPtrArray *stack, const cm_ds *ds) {
  for (uint32_t i = 0; i < ds->n_parents; i++)
    g_ptr_array_add(stack, ds->parents[i]);
}

/* The map stages ds's pipeline reads from: the shuffles reachable through
 * narrow dependencies only. */
static void find_parent_stages(cm_ds *root, GPtrArray *out) {
  GPtrArray *stack = g_ptr_array_new();
  GHashTable *seen = g_hash_table_new(NULL, NULL);
  g_ptr_array_add(stack, root);
  while (stack->len > 0) {
    cm_ds *ds = g_ptr_array_steal_index(stack, stack->len - 1);
    if (!g_hash_table_add(seen, ds))
      continue;
    if (ds->op != CM__OP_SHUFFLED) {
      push_parents(stack, ds);
      continue;
    }
    for (uint32_t i = 0; i < 2 && ds->shuffles[i]; i++) {
      cm__stage *st = ds->shuffles[i]->stage;
      SL_ASSERT(st != NULL);
      bool have = false;
      for (guint j = 0; j < out->len; j++)
        have |= g_ptr_array_index(out, j) == st;
      if (!have)
        g_ptr_array_add(out, st);
    }
  }
  g_hash_table_destroy(seen);
  g_ptr_array_free(stack, TRUE);
}

/* Creates the map stage of every shuffle reachable from root that has
 * none yet (first all stages, then their parent links: no recursion). */
static void ensure_map_stages(cm_ctx *ctx, cm_ds *root) {
  GPtrArray *stack = g_ptr_array_new();
  GPtrArray *created = g_ptr_array_new();
  GHashTable *seen = g_hash_table_new(NULL, NULL);
  g_ptr_array_add(stack, root);
  while (stack->len > 0) {
    cm_ds *ds = g_ptr_array_steal_index(stack, stack->len - 1);
    if (!g_hash_table_add(seen, ds))
      continue;
    push_parents(stack, ds);
    for (uint32_t i = 0; i < 2 && ds->shuffles[i]; i++) {
      cm__shuffle *s = ds->shuffles[i];
      if (s->stage)
        continue;
      s->stage = stage_new(ctx, s->parent, s);
      g_ptr_array_add(ctx->stages, s->stage);
      g_ptr_array_add(created, s->stage);
    }
  }
  for (guint i = 0; i < created->len; i++) {
    cm__stage *st = g_ptr_array_index(created, i);
    find_parent_stages(st->ds, st->parents);
  }
  g_hash_table_destroy(seen);
  g_ptr_array_free(created, TRUE);
  g_ptr_array_free(stack, TRUE);
}

static gint stage_by_id(gconstpointer a, gconstpointer b) {
  const cm__stage *x = *(const cm__stage *const *)a;
  const cm__stage *y = *(const cm__stage *const *)b;
  return x->id < y->id ? -1 : x->id > y->id;
}

/* Every stage the result stage depends on, itself last, sorted by id. */
static GPtrArray *job_stages(cm__stage *result) {
  GPtrArray *all = g_ptr_array_new();
  GPtrArray *stack = g_ptr_array_new();
  GHashTable *seen = g_hash_table_new(NULL, NULL);
  g_ptr_array_add(stack, result);
  while (stack->len > 0) {
    cm__stage *st = g_ptr_array_steal_index(stack, stack->len - 1);
    if (!g_hash_table_add(seen, st))
      continue;
    g_ptr_array_add(all, st);
    for (guint i = 0; i < st->parents->len; i++)
      g_ptr_array_add(stack, g_ptr_array_index(st->parents, i));
  }
  g_ptr_array_sort(all, stage_by_id);
  g_hash_table_destroy(seen);
  g_ptr_array_free(stack, TRUE);
  return all;
}

/* Sort shuffles need range bounds before their map stage can run: sample
 * them deepest first (post-order), so a sampling job never meets an
 * unresolved sort below it. */
static int prepare_ranges(cm_ctx *ctx, cm_ds *root, GError **err) {
  GPtrArray *stack = g_ptr_array_new();
  GArray *expanded = g_array_new(FALSE, FALSE, sizeof(bool));
  GHashTable *seen = g_hash_table_new(NULL, NULL);
  GPtrArray *todo = g_ptr_array_new();
  bool f = false;
  g_ptr_array_add(stack, root);
  g_array_append_val(expanded, f);
  while (stack->len > 0) {
    guint top = stack->len - 1;
    cm_ds *ds = g_ptr_array_index(stack, top);
    if (g_array_index(expanded, bool, top)) {
      g_ptr_array_remove_index(stack, top);
      g_array_set_size(expanded, top);
      if (ds->op == CM__OP_SHUFFLED && !ds->shuffles[0]->bounds_ready)
        g_ptr_array_add(todo, ds->shuffles[0]);
      continue;
    }
    g_array_index(expanded, bool, top) = true;
    if (!g_hash_table_add(seen, ds)) {
      g_ptr_array_remove_index(stack, top);
      g_array_set_size(expanded, top);
      continue;
    }
    for (uint32_t i = 0; i < ds->n_parents; i++) {
      g_ptr_array_add(stack, ds->parents[i]);
      g_array_append_val(expanded, f);
    }
  }
  int rc = 0;
  for (guint i = 0; i < todo->len && rc == 0; i++)
    rc = cm__sample_bounds(ctx, g_ptr_array_index(todo, i), err);
  g_ptr_array_free(todo, TRUE);
  g_hash_table_destroy(seen);
  g_array_free(expanded, TRUE);
  g_ptr_array_free(stack, TRUE);
  return rc;
}

/* ------------------------------------------------------------ the loop */

static bool stage_available(const cm__stage *st) {
  return st->shuffle && st->shuffle->n_available == st->n_tasks;
}

static bool parents_available(const cm__stage *st) {
  for (guint i = 0; i < st->parents->len; i++)
    if (!stage_available(g_ptr_array_index(st->parents, i)))
      return false;
  return true;
}

static bool partition_needed(const cm__job *job, const cm__stage *st,
                             uint32_t p) {
  if (st->running[p])
    return false;
  if (st->shuffle)
    return st->shuffle->outputs[p] == NULL;
  return job->wanted[p] && !job->done[p];
}

static void submit(cm__job *job, cm__stage *st, uint32_t p) {
  cm_ctx *ctx = job->ctx;
  cm__task *t = g_new0(cm__task, 1);
  t->ctx = ctx;
  t->job = job;
  t->stage = st;
  t->partition = p;
  t->attempt = st->attempts[p]++;
  st->running[p] = 1;
  st->n_running++;
  job->running++;
  ctx->stats.tasks_run++;
  if (!st->ran) {
    st->ran = true;
    st->first_start_us = g_get_monotonic_time();
    ctx->stats.stages_run++;
  }
  ctx->executor_ops->submit(ctx->executor, t);
}

static void report_progress(cm__job *job, const cm__stage *st, bool last);

static void submit_ready(cm__job *job) {
  for (guint i = 0; i < job->stages->len; i++) {
    cm__stage *st = g_ptr_array_index(job->stages, i);
    if (stage_available(st) || !parents_available(st))
      continue;
    uint32_t submitted = 0;
    for (uint32_t p = 0; p < st->n_tasks; p++)
      if (partition_needed(job, st, p)) {
        submit(job, st, p);
        submitted++;
      }
    if (submitted)
      report_progress(job, st, false);
  }
}

static void job_fail(cm__job *job, GError *cause, const cm__task *t,
                     const char *what) {
  if (job->error)
    return;
  job->error = g_error_new(CM_ERROR, CM_ERROR_TASK_FAILED,
                           "job %u aborted: task %u of stage %u %s: %s",
                           job->id, t->partition, t->stage->id, what,
                           cause ? cause->message : "unknown error");
}

/* Unregisters map output `map` of shuffle s (lock held). */
static void unregister_locked(cm_ctx *ctx, cm__shuffle *s, uint32_t map) {
  cm__map_output *o = s->outputs[map];
  s->outputs[map] = NULL;
  s->n_available--;
  /* Readers may still hold its path: keep it until the context ends. */
  g_ptr_array_add(ctx->dead_outputs, o);
}

/* A reducer could not read map output `map`: unregister it, and every
 * other output of that shuffle whose file is gone too (Spark drops all
 * outputs of a lost executor at once), so one resubmission of the map
 * stage repairs the whole loss. Returns how many were unregistered. */
static uint32_t unregister_lost(cm_ctx *ctx, uint32_t shuffle_id,
                                uint32_t map, const char *failed_path) {
  SL_ASSERT(shuffle_id < ctx->shuffles->len);
  cm__shuffle *s = g_ptr_array_index(ctx->shuffles, shuffle_id);
  SL_ASSERT(map < s->parent->n_parts);
  uint32_t n = 0;
  g_mutex_lock(&ctx->lock);
  for (uint32_t m = 0; m < s->parent->n_parts; m++) {
    cm__map_output *o = s->outputs[m];
    uint64_t size = 0;
    /* A report about an output since replaced is stale: ignore it. */
    bool reported = m == map && failed_path &&
                    strcmp(o ? o->path : "", failed_path) == 0;
    if (!o || (!reported && blk_file_size(o->path, &size, NULL) == 0))
      continue;
    unregister_locked(ctx, s, m);
    n++;
  }
  g_mutex_unlock(&ctx->lock);
  return n;
}

static void task_succeeded(cm__job *job, cm__task *t) {
  cm__stage *st = t->stage;
  uint32_t p = t->partition;
  st->tasks_succeeded++;
  if (st->shuffle) {
    cm_ctx *ctx = job->ctx;
    g_mutex_lock(&ctx->lock);
    bool fresh = st->shuffle->outputs[p] == NULL;
    if (fresh) {
      st->shuffle->outputs[p] = t->map_output;
      st->shuffle->n_available++;
      t->map_output = NULL;
    }
    g_mutex_unlock(&ctx->lock);
    return;
  }
  if (!job->done[p]) {
    job->results[p] = t->result;
    t->result = NULL;
    job->done[p] = 1;
    job->n_done++;
  }
}

static void task_failed(cm__job *job, cm__task *t) {
  cm_ctx *ctx = job->ctx;
  cm__stage *st = t->stage;
  st->tasks_failed++;
  ctx->stats.tasks_failed++;
  if (t->status == CM__TASK_FETCH_FAILED) {
    ctx->stats.fetch_failures++;
    /* Several reducers report the same loss: count it once. */
    if (unregister_lost(ctx, t->fetch_shuffle_id, t->fetch_map,
                        t->fetch_path) > 0 &&
        ++st->fetch_failures >= ctx->cfg.stage_attempts_max)
      job_fail(job, t->error, t, "kept failing to fetch shuffle output");
    return;
  }
  if (++st->failures[t->partition] >= ctx->cfg.task_attempts_max)
    job_fail(job, t->error, t, "failed too many times");
}

static void report_progress(cm__job *job, const cm__stage *st, bool last) {
  const cm_config *cfg = &job->ctx->cfg;
  if (!cfg->progress_fn)
    return;
  cm_progress p = {job->id, st->id, 0, 0, st->n_running, last};
  if (st->shuffle) {
    p.tasks_total = st->n_tasks;
    p.tasks_done = st->shuffle->n_available;
  } else {
    p.tasks_total = job->n_wanted;
    p.tasks_done = job->n_done;
  }
  cfg->progress_fn(cfg->progress_arg, &p);
}

static void handle(cm__job *job, cm__task *t) {
  cm__stage *st = t->stage;
  SL_ASSERT(st->running[t->partition]);
  st->running[t->partition] = 0;
  st->n_running--;
  job->running--;
  st->totals.records_read += t->metrics.records_read;
  st->totals.records_written += t->metrics.records_written;
  st->totals.shuffle_bytes += t->metrics.shuffle_bytes;
  st->totals.spill_files += t->metrics.spill_files;
  st->totals.spill_bytes += t->metrics.spill_bytes;
  st->totals.duration_us += t->metrics.duration_us;
  st->last_end_us = g_get_monotonic_time();
  cm_stats *stats = &job->ctx->stats;
  stats->spill_files += t->metrics.spill_files;
  stats->spill_bytes += t->metrics.spill_bytes;
  if (t->status == CM__TASK_OK) {
    stats->shuffle_bytes_written += t->metrics.shuffle_bytes;
    task_succeeded(job, t);
  } else {
    task_failed(job, t);
  }
  report_progress(job, st, false);
  cm__map_output_free(t->map_output, true);
  if (t->result)
    cm__action_result_free(job->action, t->result);
  if (t->error)
    g_error_free(t->error);
  g_free(t->user_error);
  g_free(t->fetch_path);
  g_free(t);
}

static void reset_stage(cm__stage *st) {
  SL_ASSERT(st->n_running == 0);
  memset(st->failures, 0, st->n_tasks * sizeof(uint32_t));
  memset(&st->totals, 0, sizeof st->totals);
  st->fetch_failures = 0;
  st->tasks_succeeded = 0;
  st->tasks_failed = 0;
  st->first_start_us = 0;
  st->last_end_us = 0;
  st->ran = false;
  st->skipped = stage_available(st);
}

static cm__job *job_new(cm_ctx *ctx, cm_ds *ds, const uint32_t *parts,
                        uint32_t n_parts, cm__action *action, void **results) {
  cm__job *job = g_new0(cm__job, 1);
  job->id = ctx->next_job_id++;
  job->ctx = ctx;
  job->action = action;
  job->results = results;
  job->events = g_async_queue_new();
  job->result_stage = stage_new(ctx, ds, NULL);
  find_parent_stages(ds, job->result_stage->parents);
  job->stages = job_stages(job->result_stage);
  job->wanted = g_new0(uint8_t, ds->n_parts);
  job->done = g_new0(uint8_t, ds->n_parts);
  for (uint32_t i = 0; i < (parts ? n_parts : ds->n_parts); i++) {
    uint32_t p = parts ? parts[i] : i;
    SL_ASSERT(p < ds->n_parts);
    job->n_wanted += !job->wanted[p];
    job->wanted[p] = 1;
  }
  job->reports = g_array_new(FALSE, TRUE, sizeof(cm__stage_report));
  return job;
}

void cm__job_free(cm__job *j) {
  if (!j)
    return;
  SL_ASSERT(j->running == 0);
  cm__stage_free(j->result_stage);
  g_ptr_array_free(j->stages, TRUE);
  g_async_queue_unref(j->events);
  g_free(j->wanted);
  g_free(j->done);
  if (j->error)
    g_error_free(j->error);
  g_array_free(j->reports, TRUE);
  g_free(j);
}

static void job_report(cm__job *job) {
  for (guint i = 0; i < job->stages->len; i++) {
    cm__stage *st = g_ptr_array_index(job->stages, i);
    cm__stage_report r = {st,
                          st->totals,
                          st->tasks_succeeded,
                          st->tasks_failed,
                          st->shuffle ? st->n_tasks : job->n_wanted,
                          st->ran ? st->last_end_us - st->first_start_us : 0,
                          st->skipped && !st->ran};
    g_array_append_val(job->reports, r);
    if (r.skipped)
      job->ctx->stats.stages_skipped++;
  }
}

int cm__run_job(cm_ctx *ctx, cm_ds *ds, const uint32_t *parts,
                uint32_t n_parts, cm__action *action, void **results,
                GError **err) {
  SL_ASSERT(ctx != NULL);
  SL_ASSERT(ds != NULL && ds->ctx == ctx);
  if (prepare_ranges(ctx, ds, err) != 0)
    return -1;
  ensure_map_stages(ctx, ds);
  cm__job *job = job_new(ctx, ds, parts, n_parts, action, results);
  job->start_us = g_get_monotonic_time();
  for (guint i = 0; i < job->stages->len; i++)
    reset_stage(g_ptr_array_index(job->stages, i));
  ctx->stats.jobs++;
  for (;;) {
    bool finished = job->n_done == job->n_wanted;
    if (!job->error && !finished)
      submit_ready(job);
    if (job->running == 0) {
      SL_ASSERT(job->error || finished);
      break;
    }
    handle(job, g_async_queue_pop(job->events));
  }
  job->end_us = g_get_monotonic_time();
  report_progress(job, job->result_stage, true);
  job_report(job);
  int rc = 0;
  if (job->error) {
    g_propagate_error(err, job->error);
    job->error = NULL;
    rc = -1;
  }
  cm__job_free(ctx->last_job);
  ctx->last_job = job;
  return rc;
}
