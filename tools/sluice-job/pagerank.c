/*
 * pagerank — PageRank over an edge list ("src dst" per line, '#' lines
 * skipped), the way Spark's example does it:
 *
 *   links = group_by_key(edges), persisted: read once per iteration
 *   ranks = 1.0 for every page with out-links
 *   repeat: contribs = join(links, ranks) -> rank / out-degree per target
 *           ranks    = 0.15 + 0.85 * sum of contribs
 *
 * The whole loop is one lazy plan; the final save runs it (2 shuffles per
 * iteration, links computed once and served from the cache after).
 * Output: "page\trank" lines, sorted by page.
 */
#include <string.h>

#include "tools/sluice-job/jobs.h"

typedef struct edge_parse {
  cm_bytes words[2];
  int n;
} edge_parse;

static void take_word(cm_bytes word, void *arg) {
  edge_parse *p = arg;
  if (p->n < 2)
    p->words[p->n] = word;
  p->n++;
}

static void pr_parse_edge(const cm_rec *line, cm_bytes env, cm_emit *out) {
  if (line->key.len > 0 && line->key.ptr[0] == '#')
    return;
  edge_parse p = {.n = 0};
  job_words(line->key, take_word, &p);
  if (p.n == 2)
    cm_emit_kv(out, p.words[0], p.words[1]);
}

static void pr_rank_one(const cm_rec *in, cm_bytes env, cm_emit *out) {
  uint8_t one[CM_I64_BYTES];
  cm_f64_put(one, 1.0);
  cm_emit_kv(out, in->key, cm_bytes_of(one, sizeof one));
}

/* (page, pair(list of targets, rank)) -> (target, rank / n) each */
static void pr_contribs(const cm_rec *in, cm_bytes env, cm_emit *out) {
  cm_bytes targets, rank;
  bool has_rank;
  cm_pair_split(in->val, &targets, &rank, &has_rank);
  size_t n = cm_list_count(targets);
  if (!has_rank || n == 0)
    return;
  uint8_t share[CM_I64_BYTES];
  cm_f64_put(share, cm_f64_get(rank) / (double)n);
  cm_bytes t;
  while (cm_list_next(&targets, &t))
    cm_emit_kv(out, t, cm_bytes_of(share, sizeof share));
}

static void pr_damp(const cm_rec *in, cm_bytes env, cm_emit *out) {
  uint8_t rank[CM_I64_BYTES];
  cm_f64_put(rank, 0.15 + 0.85 * cm_f64_get(in->val));
  cm_emit_kv(out, in->key, cm_bytes_of(rank, sizeof rank));
}

static void pr_register(cm_registry *reg) {
  cm_register_map(reg, "pr_parse_edge", pr_parse_edge);
  cm_register_map(reg, "pr_rank_one", pr_rank_one);
  cm_register_map(reg, "pr_contribs", pr_contribs);
  cm_register_map(reg, "pr_damp", pr_damp);
}

static int pr_run(cm_ctx *ctx, const job_opts *o) {
  if (!job_need("pagerank", o->input, "--input") ||
      !job_need("pagerank", o->output, "--output"))
    return 1;
  GError *err = NULL;
  cm_ds *lines = cm_text_file(ctx, o->input, o->partitions, &err);
  if (!lines)
    return job_fail("pagerank", "cannot read input", err);
  uint32_t parts = o->partitions;
  cm_ds *edges = cm_distinct(cm_flat_map(lines, "pr_parse_edge", CM_NO_BYTES),
                             parts);
  cm_ds *links = cm_persist(cm_group_by_key(edges, parts));
  cm_ds_set_name(links, "links");
  cm_ds *ranks = cm_map(links, "pr_rank_one", CM_NO_BYTES);
  for (uint32_t i = 0; i < o->iterations; i++) {
    cm_ds *contribs =
        cm_flat_map(cm_join(links, ranks, parts), "pr_contribs", CM_NO_BYTES);
    ranks = cm_map(cm_reduce_by_key(contribs, "cm.sum_f64", CM_NO_BYTES, parts),
                   "pr_damp", CM_NO_BYTES);
  }
  cm_ds *out = cm_map(cm_sort_by_key(ranks, true, parts), "cm.f64_to_text",
                      CM_NO_BYTES);
  if (cm_save_as_text(out, o->output, &err) != 0)
    return job_fail("pagerank", "job failed", err);
  return 0;
}

const job_def job_pagerank = {
    "pagerank", "--input EDGES --output DIR [--iterations N]",
    "rank pages of an edge list (src dst per line)", pr_register, pr_run};
