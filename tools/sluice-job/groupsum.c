/*
 * groupsum — group-by-sum: "key<TAB>integer" lines in, one "key\tsum" line
 * per distinct key out, sorted by key (byte order). Lines without a tab or
 * whose text after the first tab is not a decimal integer are skipped.
 *
 *   text_file -> flat_map(parse key and int64) -> reduce_by_key(+)
 *             -> sort_by_key -> map(sum to text) -> save_as_text
 *
 * The benchmark (tools/bench-compute.sh) runs it next to a hand-written
 * single-threaded program doing the same (tools/bench-baseline).
 */
#include <string.h>

#include "tools/sluice-job/jobs.h"

/* Decimal integer with an optional '-', wrapping on overflow like the
 * baseline. False if not a number. */
static bool gs_parse_i64(const uint8_t *p, size_t n, int64_t *out) {
  size_t i = 0;
  bool neg = n > 0 && p[0] == '-';
  i += neg;
  if (i == n)
    return false;
  uint64_t u = 0;
  for (; i < n; i++) {
    unsigned d = (unsigned)(p[i] - '0');
    if (d > 9)
      return false;
    u = u * 10 + d;
  }
  *out = neg ? (int64_t)(0 - u) : (int64_t)u;
  return true;
}

static void gs_parse(const cm_rec *line, cm_bytes env, cm_emit *out) {
  const uint8_t *p = line->key.ptr;
  size_t n = line->key.len;
  const uint8_t *tab = n ? memchr(p, '\t', n) : NULL;
  if (!tab)
    return;
  size_t klen = (size_t)(tab - p);
  int64_t v;
  if (!gs_parse_i64(tab + 1, n - klen - 1, &v))
    return;
  uint8_t enc[CM_I64_BYTES];
  cm_i64_put(enc, v);
  cm_emit_kv(out, cm_bytes_of(p, klen), cm_bytes_of(enc, sizeof enc));
}

static void gs_register(cm_registry *reg) {
  cm_register_map(reg, "gs_parse", gs_parse);
}

static int gs_run(cm_ctx *ctx, const job_opts *o) {
  if (!job_need("groupsum", o->input, "--input") ||
      !job_need("groupsum", o->output, "--output"))
    return 1;
  GError *err = NULL;
  cm_ds *lines = cm_text_file(ctx, o->input, o->partitions, &err);
  if (!lines)
    return job_fail("groupsum", "cannot read input", err);
  cm_ds *pairs = cm_flat_map(lines, "gs_parse", CM_NO_BYTES);
  cm_ds *sums =
      cm_reduce_by_key(pairs, "cm.sum_i64", CM_NO_BYTES, o->partitions);
  cm_ds *sorted = cm_sort_by_key(sums, true, o->partitions);
  cm_ds *text = cm_map(sorted, "cm.i64_to_text", CM_NO_BYTES);
  if (cm_save_as_text(text, o->output, &err) != 0)
    return job_fail("groupsum", "job failed", err);
  return 0;
}

const job_def job_groupsum = {
    "groupsum", "--input PATH --output DIR",
    "sum the integers of 'key<TAB>integer' lines per key", gs_register, gs_run};
