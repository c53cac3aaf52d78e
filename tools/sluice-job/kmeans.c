/*
 * kmeans — Lloyd's k-means over points in a text file (one point per line,
 * coordinates separated by spaces or commas; all lines the same dimension).
 *
 *   points = text_file -> flat_map(parse), persisted (read every round)
 *   centers = the first k points
 *   repeat: sums = reduce_by_key(flat_map(points, assign to the nearest
 *                  center; the centers travel as env bytes, Spark's
 *                  broadcast), add vectors and counts)
 *           centers = sums / counts (collected to the driver)
 *   until no center moves more than 1e-9 or --iterations rounds.
 *
 * Prints "cluster\tx y ..." per center on stdout and, with --output, saves
 * the same lines there. Vectors are raw doubles in the job's own records.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/sluice-job/jobs.h"

#define KM_DIMS_MAX 64

static void km_parse(const cm_rec *line, cm_bytes env, cm_emit *out) {
  double v[KM_DIMS_MAX];
  size_t d = 0, i = 0, n = line->key.len;
  char num[64];
  while (i < n && d < KM_DIMS_MAX) {
    while (i < n && (line->key.ptr[i] == ' ' || line->key.ptr[i] == ',' ||
                     line->key.ptr[i] == '\t' || line->key.ptr[i] == '\r'))
      i++;
    size_t start = i;
    while (i < n && line->key.ptr[i] != ' ' && line->key.ptr[i] != ',' &&
           line->key.ptr[i] != '\t' && line->key.ptr[i] != '\r')
      i++;
    if (i == start)
      break;
    if (i - start >= sizeof num)
      return;
    memcpy(num, line->key.ptr + start, i - start);
    num[i - start] = '\0';
    char *end = NULL;
    v[d++] = strtod(num, &end);
    if (*end)
      return; /* not a number: skip the line */
  }
  if (d > 0)
    cm_emit_kv(out, cm_bytes_of(v, d * sizeof(double)), CM_NO_BYTES);
}

/* env: [u32 k][u32 dims][k * dims doubles] */
static void km_assign(const cm_rec *point, cm_bytes env, cm_emit *out) {
  uint32_t k, dims;
  memcpy(&k, env.ptr, 4);
  memcpy(&dims, env.ptr + 4, 4);
  if (point->key.len != dims * sizeof(double))
    return;
  const double *centers = (const double *)(const void *)(env.ptr + 8);
  double p[KM_DIMS_MAX + 1];
  memcpy(p + 1, point->key.ptr, point->key.len);
  uint32_t best = 0;
  double best_d = INFINITY;
  for (uint32_t c = 0; c < k; c++) {
    double dist = 0;
    for (uint32_t j = 0; j < dims; j++) {
      double x = p[1 + j] - centers[c * dims + j];
      dist += x * x;
    }
    if (dist < best_d) {
      best_d = dist;
      best = c;
    }
  }
  p[0] = 1.0; /* count */
  uint8_t key[CM_I64_BYTES];
  cm_i64_put(key, best);
  cm_emit_kv(out, cm_bytes_of(key, sizeof key),
             cm_bytes_of(p, (dims + 1) * sizeof(double)));
}

static void km_add(cm_bytes a, cm_bytes b, cm_bytes env, cm_buf *out) {
  double x, y;
  for (size_t i = 0; i + sizeof(double) <= a.len; i += sizeof(double)) {
    memcpy(&x, a.ptr + i, sizeof x);
    memcpy(&y, b.ptr + i, sizeof y);
    x += y;
    cm_buf_append(out, &x, sizeof x);
  }
}

static void km_register(cm_registry *reg) {
  cm_register_map(reg, "km_parse", km_parse);
  cm_register_map(reg, "km_assign", km_assign);
  cm_register_merge(reg, "km_add", km_add);
}

/* One round: new centers from the collected sums; returns the largest
 * move. */
static double km_update(cm_records *sums, double *centers, uint32_t dims) {
  double moved = 0;
  for (size_t i = 0; i < cm_records_count(sums); i++) {
    cm_rec r = cm_records_get(sums, i);
    int64_t c = cm_i64_get(r.key);
    double acc[KM_DIMS_MAX + 1];
    memcpy(acc, r.val.ptr, r.val.len);
    double move = 0;
    for (uint32_t j = 0; j < dims; j++) {
      double nv = acc[1 + j] / acc[0];
      move += (nv - centers[c * dims + j]) * (nv - centers[c * dims + j]);
      centers[c * dims + j] = nv;
    }
    moved = fmax(moved, sqrt(move));
  }
  return moved;
}

static int km_output(cm_ctx *ctx, const job_opts *o, const double *centers,
                     uint32_t k, uint32_t dims) {
  GString *lines = g_string_new(NULL);
  cm_rec *recs = g_new0(cm_rec, k);
  GPtrArray *texts = g_ptr_array_new_with_free_func(g_free);
  for (uint32_t c = 0; c < k; c++) {
    GString *t = g_string_new(NULL);
    for (uint32_t j = 0; j < dims; j++)
      g_string_append_printf(t, "%s%.6f", j ? " " : "", centers[c * dims + j]);
    char *key = g_strdup_printf("%u", c);
    g_string_append_printf(lines, "%s\t%s\n", key, t->str);
    recs[c] = (cm_rec){cm_str(key), cm_str(t->str)};
    g_ptr_array_add(texts, key);
    g_ptr_array_add(texts, g_string_free(t, FALSE));
  }
  fputs(lines->str, stdout);
  int rc = 0;
  GError *err = NULL;
  if (o->output &&
      cm_save_as_text(cm_parallelize(ctx, recs, k, 1), o->output, &err) != 0)
    rc = job_fail("kmeans", "cannot save centers", err);
  g_ptr_array_free(texts, TRUE);
  g_free(recs);
  g_string_free(lines, TRUE);
  return rc;
}

static int km_run(cm_ctx *ctx, const job_opts *o) {
  if (!job_need("kmeans", o->input, "--input"))
    return 1;
  GError *err = NULL;
  cm_ds *lines = cm_text_file(ctx, o->input, o->partitions, &err);
  if (!lines)
    return job_fail("kmeans", "cannot read input", err);
  cm_ds *points = cm_persist(cm_flat_map(lines, "km_parse", CM_NO_BYTES));
  cm_records *first = NULL;
  if (cm_take(points, o->k, &first, &err) != 0)
    return job_fail("kmeans", "job failed", err);
  uint32_t k = (uint32_t)cm_records_count(first);
  uint32_t dims = k ? (uint32_t)(cm_records_get(first, 0).key.len /
                                 sizeof(double))
                    : 0;
  if (k < o->k || dims == 0) {
    cm_records_free(first);
    return job_fail("kmeans", "fewer points than --k", NULL);
  }
  size_t env_len = 8 + (size_t)k * dims * sizeof(double);
  uint8_t *env = g_malloc(env_len);
  memcpy(env, &k, 4);
  memcpy(env + 4, &dims, 4);
  double *centers = g_new0(double, (size_t)k * dims);
  for (uint32_t c = 0; c < k; c++)
    memcpy(centers + (size_t)c * dims, cm_records_get(first, c).key.ptr,
           dims * sizeof(double));
  cm_records_free(first);
  int rc = 0;
  for (uint32_t it = 0; it < o->iterations; it++) {
    memcpy(env + 8, centers, (size_t)k * dims * sizeof(double));
    cm_ds *assigned =
        cm_flat_map(points, "km_assign", cm_bytes_of(env, env_len));
    cm_records *sums = NULL;
    if (cm_collect(cm_reduce_by_key(assigned, "km_add", CM_NO_BYTES, k), &sums,
                   &err) != 0) {
      rc = job_fail("kmeans", "job failed", err);
      break;
    }
    double moved = km_update(sums, centers, dims);
    cm_records_free(sums);
    fprintf(stderr, "kmeans: round %u, largest move %.9f\n", it + 1, moved);
    if (moved < 1e-9)
      break;
  }
  if (rc == 0)
    rc = km_output(ctx, o, centers, k, dims);
  g_free(centers);
  g_free(env);
  return rc;
}

const job_def job_kmeans = {"kmeans",
                            "--input POINTS [--k N] [--iterations N] "
                            "[--output DIR]",
                            "cluster points (one per line) around k centers",
                            km_register, km_run};
