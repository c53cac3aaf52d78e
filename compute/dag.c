/*
 * dag.c — drawing a job's stage DAG and summarising it.
 *
 * Spark's UI draws each job as stage clusters holding their RDDs
 * (RDDOperationGraph.makeDotFile) and greys out skipped stages. This file
 * builds the same picture with Graphviz cgraph: one cluster per stage,
 * a node per dataset per stage (a dataset computed in two stages appears
 * in both, as in Spark), narrow edges inside clusters, shuffle edges bold
 * red between them, persisted datasets filled green. Nodes are created in
 * stage-id and dataset-id order, so the output is deterministic.
 */
#include <gvc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "compute/blockstore.h"
#include "compute/internal.h"

static const char *stage_kind(const cm__stage *st) {
  return st->shuffle ? "shuffle map" : "result";
}

static gint ds_by_id(gconstpointer a, gconstpointer b) {
  const cm_ds *x = *(const cm_ds *const *)a;
  const cm_ds *y = *(const cm_ds *const *)b;
  return x->id < y->id ? -1 : x->id > y->id;
}

/* Datasets computed by a stage's tasks, sorted by id. */
static GPtrArray *stage_datasets(const cm__stage *st) {
  GPtrArray *out = g_ptr_array_new();
  GPtrArray *stack = g_ptr_array_new();
  GHashTable *seen = g_hash_table_new(NULL, NULL);
  g_ptr_array_add(stack, st->ds);
  while (stack->len > 0) {
    cm_ds *ds = g_ptr_array_steal_index(stack, stack->len - 1);
    if (!g_hash_table_add(seen, ds))
      continue;
    g_ptr_array_add(out, ds);
    if (ds->op == CM__OP_SHUFFLED)
      continue;
    for (uint32_t i = 0; i < ds->n_parents; i++)
      g_ptr_array_add(stack, ds->parents[i]);
  }
  g_ptr_array_sort(out, ds_by_id);
  g_hash_table_destroy(seen);
  g_ptr_array_free(stack, TRUE);
  return out;
}

static void node_name(char *out, size_t len, uint32_t stage, uint32_t ds) {
  snprintf(out, len, "s%u_d%u", stage, ds);
}

static void draw_stage(Agraph_t *g, const cm__stage_report *r) {
  const cm__stage *st = r->stage;
  char name[64], label[256];
  snprintf(name, sizeof name, "cluster_stage_%u", st->id);
  Agraph_t *sub = agsubg(g, name, 1);
  snprintf(label, sizeof label, "Stage %u (%s) %u tasks%s", st->id,
           stage_kind(st), r->n_tasks, r->skipped ? " — skipped" : "");
  agsafeset(sub, "label", label, "");
  agsafeset(sub, "style", r->skipped ? "dashed" : "solid", "");
  agsafeset(sub, "color", r->skipped ? "grey" : "black", "");
  agsafeset(sub, "fontcolor", r->skipped ? "grey" : "black", "");
  GPtrArray *dss = stage_datasets(st);
  for (guint i = 0; i < dss->len; i++) {
    cm_ds *ds = g_ptr_array_index(dss, i);
    node_name(name, sizeof name, st->id, ds->id);
    Agnode_t *n = agnode(sub, name, 1);
    snprintf(label, sizeof label, "%s [%u]\n%u partitions", ds->label,
             ds->id, ds->n_parts);
    agsafeset(n, "label", label, "");
    agsafeset(n, "shape", "box", "");
    agsafeset(n, "fontname", "Helvetica", "");
    agsafeset(n, "style", ds->persisted ? "rounded,filled" : "rounded", "");
    agsafeset(n, "fillcolor", ds->persisted ? "palegreen" : "white", "");
    agsafeset(n, "color", r->skipped ? "grey" : "black", "");
  }
  for (guint i = 0; i < dss->len; i++) {
    cm_ds *ds = g_ptr_array_index(dss, i);
    if (ds->op == CM__OP_SHUFFLED)
      continue;
    node_name(name, sizeof name, st->id, ds->id);
    Agnode_t *to = agnode(g, name, 0);
    for (uint32_t p = 0; p < ds->n_parents; p++) {
      node_name(name, sizeof name, st->id, ds->parents[p]->id);
      Agnode_t *from = agnode(g, name, 0);
      SL_ASSERT(from != NULL && to != NULL);
      agedge(g, from, to, NULL, 1);
    }
  }
  g_ptr_array_free(dss, TRUE);
}

static void draw_shuffle_edges(Agraph_t *g, const cm__stage *st) {
  GPtrArray *dss = stage_datasets(st);
  char from_name[64], to_name[64], label[64];
  for (guint i = 0; i < dss->len; i++) {
    cm_ds *ds = g_ptr_array_index(dss, i);
    if (ds->op != CM__OP_SHUFFLED)
      continue;
    node_name(to_name, sizeof to_name, st->id, ds->id);
    for (uint32_t d = 0; d < 2 && ds->shuffles[d]; d++) {
      const cm__shuffle *s = ds->shuffles[d];
      node_name(from_name, sizeof from_name, s->stage->id, s->parent->id);
      Agnode_t *from = agnode(g, from_name, 0);
      Agnode_t *to = agnode(g, to_name, 0);
      if (!from || !to)
        continue;
      Agedge_t *e = agedge(g, from, to, NULL, 1);
      snprintf(label, sizeof label, "shuffle %u", s->id);
      agsafeset(e, "label", label, "");
      agsafeset(e, "color", "red", "");
      agsafeset(e, "fontcolor", "red", "");
      agsafeset(e, "style", "bold", "");
      agsafeset(e, "fontname", "Helvetica", "");
    }
  }
  g_ptr_array_free(dss, TRUE);
}

static Agraph_t *build_graph(const cm__job *job) {
  char name[32];
  snprintf(name, sizeof name, "job%u", job->id);
  Agraph_t *g = agopen(name, Agdirected, NULL);
  agsafeset(g, "rankdir", "TB", "");
  agsafeset(g, "fontname", "Helvetica", "");
  for (guint i = 0; i < job->reports->len; i++)
    draw_stage(g, &g_array_index(job->reports, cm__stage_report, i));
  for (guint i = 0; i < job->reports->len; i++)
    draw_shuffle_edges(g, g_array_index(job->reports, cm__stage_report, i)
                              .stage);
  return g;
}

int cm_ctx_render_last_job(cm_ctx *ctx, const char *path, GError **err) {
  SL_ASSERT(ctx != NULL);
  SL_ASSERT(path != NULL);
  if (!ctx->last_job) {
    g_set_error(err, CM_ERROR, CM_ERROR_INVALID, "no job has run yet");
    return -1;
  }
  bool svg = g_str_has_suffix(path, ".svg");
  if (!svg && !g_str_has_suffix(path, ".dot")) {
    g_set_error(err, CM_ERROR, CM_ERROR_INVALID,
                "%s: the DAG file must end in .dot or .svg", path);
    return -1;
  }
  /* Rendered into memory, written by the blockstore (the engine's one door
   * to the file system). */
  Agraph_t *g = build_graph(ctx->last_job);
  char *text = NULL;
  size_t len = 0;
  bool rendered;
  if (svg) {
    GVC_t *gvc = gvContext();
    unsigned int n = 0;
    rendered = gvLayout(gvc, g, "dot") == 0 &&
               gvRenderData(gvc, g, "svg", &text, &n) == 0;
    len = n;
    gvFreeLayout(gvc, g);
    gvFreeContext(gvc);
  } else {
    /* agwrite writes to a FILE: an in-memory one. */
    FILE *mem = open_memstream(&text, &len);
    rendered = mem && agwrite(g, mem) == 0;
    if (mem && fclose(mem) != 0)
      rendered = false;
  }
  agclose(g);
  int rc;
  if (!rendered) {
    g_set_error(err, CM_ERROR, CM_ERROR_IO, "cannot draw the DAG for %s", path);
    rc = -1;
  } else {
    rc = blk_write_file(path, text, len, err);
  }
  if (svg && text)
    gvFreeRenderData(text);
  else
    free(text);
  return rc;
}

static void human_bytes(char *out, size_t len, uint64_t bytes) {
  const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = (double)bytes;
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    u++;
  }
  snprintf(out, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

void cm_ctx_job_summary(cm_ctx *ctx, GString *out) {
  SL_ASSERT(ctx != NULL);
  SL_ASSERT(out != NULL);
  const cm__job *job = ctx->last_job;
  if (!job) {
    g_string_append(out, "no job has run\n");
    return;
  }
  g_string_append_printf(out, "job %u: %u stages, %.3f s\n", job->id,
                         job->reports->len,
                         (double)(job->end_us - job->start_us) / 1e6);
  for (guint i = 0; i < job->reports->len; i++) {
    const cm__stage_report *r =
        &g_array_index(job->reports, cm__stage_report, i);
    if (r->skipped) {
      g_string_append_printf(out, "  stage %u (%s): skipped, output reused\n",
                             r->stage->id, stage_kind(r->stage));
      continue;
    }
    char shuffled[32], spilled[32];
    human_bytes(shuffled, sizeof shuffled, r->totals.shuffle_bytes);
    human_bytes(spilled, sizeof spilled, r->totals.spill_bytes);
    g_string_append_printf(
        out,
        "  stage %u (%s): %u tasks, %u ok, %u failed; %llu records in, "
        "%llu out; shuffle write %s; spilled %s in %llu files; %.3f s\n",
        r->stage->id, stage_kind(r->stage), r->n_tasks, r->tasks_succeeded,
        r->tasks_failed, (unsigned long long)r->totals.records_read,
        (unsigned long long)r->totals.records_written, shuffled, spilled,
        (unsigned long long)r->totals.spill_files,
        (double)r->duration_us / 1e6);
  }
}
