/*
 * join — an inner join of two keyed text files: each line is a key, then
 * whitespace, then the rest of the line as the value. Output lines are
 * "key\tleft value\tright value", sorted by key; every matching pair once.
 *
 *   left, right -> map(split key/value) -> join (cogroup on one shuffle
 *   per side, then a flat map over the pairs) -> sort_by_key -> save
 */
#include "tools/sluice-job/jobs.h"

static bool is_blank(uint8_t c) { return c == ' ' || c == '\t'; }

static void jn_split(const cm_rec *line, cm_bytes env, cm_emit *out) {
  size_t i = 0, n = line->key.len;
  const uint8_t *p = line->key.ptr;
  while (i < n && !is_blank(p[i]))
    i++;
  if (i == 0)
    return; /* blank or malformed line */
  size_t v = i;
  while (v < n && is_blank(p[v]))
    v++;
  cm_emit_kv(out, cm_bytes_of(p, i), cm_bytes_of(p + v, n - v));
}

static void jn_text(const cm_rec *in, cm_bytes env, cm_emit *out) {
  cm_bytes left, right;
  bool has_right;
  cm_pair_split(in->val, &left, &right, &has_right);
  GByteArray *v = g_byte_array_sized_new((guint)(left.len + right.len + 1));
  g_byte_array_append(v, left.ptr, (guint)left.len);
  g_byte_array_append(v, (const uint8_t *)"\t", 1);
  g_byte_array_append(v, right.ptr, (guint)right.len);
  cm_emit_kv(out, in->key, cm_bytes_of(v->data, v->len));
  g_byte_array_free(v, TRUE);
}

static void jn_register(cm_registry *reg) {
  cm_register_map(reg, "jn_split", jn_split);
  cm_register_map(reg, "jn_text", jn_text);
}

static int jn_run(cm_ctx *ctx, const job_opts *o) {
  if (!job_need("join", o->left, "--left") ||
      !job_need("join", o->right, "--right") ||
      !job_need("join", o->output, "--output"))
    return 1;
  GError *err = NULL;
  cm_ds *l = cm_text_file(ctx, o->left, o->partitions, &err);
  if (!l)
    return job_fail("join", "cannot read --left", err);
  cm_ds *r = cm_text_file(ctx, o->right, o->partitions, &err);
  if (!r)
    return job_fail("join", "cannot read --right", err);
  cm_ds *joined = cm_join(cm_flat_map(l, "jn_split", CM_NO_BYTES),
                          cm_flat_map(r, "jn_split", CM_NO_BYTES),
                          o->partitions);
  cm_ds *out = cm_map(cm_sort_by_key(joined, true, o->partitions), "jn_text",
                      CM_NO_BYTES);
  if (cm_save_as_text(out, o->output, &err) != 0)
    return job_fail("join", "job failed", err);
  return 0;
}

const job_def job_join = {"join", "--left PATH --right PATH --output DIR",
                          "inner join of two 'key value' text files",
                          jn_register, jn_run};
