/*
 * wordcount — the classic: words of a text file (or directory) and how
 * often each occurs, sorted by word (byte order, like `LC_ALL=C sort`).
 *
 *   text_file -> flat_map(split into (word, 1)) -> reduce_by_key(+)
 *             -> sort_by_key -> map(count to text) -> save_as_text
 *
 * The reduce merges counts map-side first, so the shuffle carries one
 * record per distinct word per map task, not one per word.
 */
#include "tools/sluice-job/jobs.h"

static void wc_split(const cm_rec *line, cm_bytes env, cm_emit *out) {
  uint8_t one[CM_I64_BYTES];
  cm_i64_put(one, 1);
  cm_bytes text = line->key, word;
  while (job_next_word(&text, &word))
    cm_emit_kv(out, word, cm_bytes_of(one, sizeof one));
}

static void wc_register(cm_registry *reg) {
  cm_register_map(reg, "wc_split", wc_split);
}

static int wc_run(cm_ctx *ctx, const job_opts *o) {
  if (!job_need("wordcount", o->input, "--input") ||
      !job_need("wordcount", o->output, "--output"))
    return 1;
  GError *err = NULL;
  cm_ds *lines = cm_text_file(ctx, o->input, o->partitions, &err);
  if (!lines)
    return job_fail("wordcount", "cannot read input", err);
  cm_ds *words = cm_flat_map(lines, "wc_split", CM_NO_BYTES);
  cm_ds *counts =
      cm_reduce_by_key(words, "cm.sum_i64", CM_NO_BYTES, o->partitions);
  cm_ds *sorted = cm_sort_by_key(counts, true, o->partitions);
  cm_ds *text = cm_map(sorted, "cm.i64_to_text", CM_NO_BYTES);
  if (cm_save_as_text(text, o->output, &err) != 0)
    return job_fail("wordcount", "job failed", err);
  return 0;
}

const job_def job_wordcount = {
    "wordcount", "--input PATH --output DIR",
    "count the words of a text file or directory", wc_register, wc_run};
