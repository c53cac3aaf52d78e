/*
 * teragen and terasort — the sort benchmark's record format: 100-byte
 * lines, the first 10 bytes the key.
 *
 * teragen writes --records lines: a 10-byte random printable key, two
 * spaces, a 32-digit hex row number, two spaces, 52 filler bytes, "\r\n".
 * Each record is a function of (seed, row), so partitions can be generated
 * independently and again after a failure.
 *
 * terasort splits each line into (10-byte key, rest), sorts with
 * sort_by_key (range partitions from a sample of keys, so the part files
 * in order are globally sorted) and writes the lines back unchanged.
 */
#include <stdio.h>
#include <string.h>

#include "tools/sluice-job/jobs.h"

#define TS_KEY_BYTES 10
#define TS_LINE_BYTES 99 /* plus the '\n' save_as_text adds */

static uint64_t ts_mix(uint64_t x) {
  x ^= x >> 31;
  x *= UINT64_C(0x7fb5d329728ea185);
  x ^= x >> 27;
  x *= UINT64_C(0x81dadef4bc2dd44d);
  return x ^ (x >> 33);
}

static void tg_record(const cm_rec *in, cm_bytes env, cm_emit *out) {
  uint64_t seed;
  memcpy(&seed, env.ptr, sizeof seed);
  int64_t row = cm_i64_get(in->key);
  uint64_t h = ts_mix(seed ^ ts_mix((uint64_t)row + 1));
  char line[TS_LINE_BYTES + 1];
  for (int i = 0; i < TS_KEY_BYTES; i++) {
    line[i] = (char)(' ' + h % 95);
    h = h / 95 ? h / 95 : ts_mix(h + (uint64_t)i);
  }
  snprintf(line + TS_KEY_BYTES, sizeof line - TS_KEY_BYTES, "  %032llX  ",
           (unsigned long long)row);
  for (int i = TS_KEY_BYTES + 36; i < TS_LINE_BYTES - 1; i++)
    line[i] = (char)('A' + (row + i) % 26);
  line[TS_LINE_BYTES - 1] = '\r';
  cm_emit_kv(out, cm_bytes_of(line, TS_LINE_BYTES), CM_NO_BYTES);
}

static void ts_split(const cm_rec *line, cm_bytes env, cm_emit *out) {
  size_t k = line->key.len < TS_KEY_BYTES ? line->key.len : TS_KEY_BYTES;
  cm_emit_kv(out, cm_bytes_of(line->key.ptr, k),
             cm_bytes_of(line->key.ptr + k, line->key.len - k));
}

static void ts_unsplit(const cm_rec *in, cm_bytes env, cm_emit *out) {
  uint8_t line[256];
  if (in->key.len + in->val.len > sizeof line) {
    cm_emit_fail(out, "terasort: line longer than 256 bytes");
    return;
  }
  memcpy(line, in->key.ptr, in->key.len);
  memcpy(line + in->key.len, in->val.ptr, in->val.len);
  cm_emit_kv(out, cm_bytes_of(line, in->key.len + in->val.len), CM_NO_BYTES);
}

static void ts_register(cm_registry *reg) {
  cm_register_map(reg, "tg_record", tg_record);
  cm_register_map(reg, "ts_split", ts_split);
  cm_register_map(reg, "ts_unsplit", ts_unsplit);
}

static int tg_run(cm_ctx *ctx, const job_opts *o) {
  if (!job_need("teragen", o->output, "--output"))
    return 1;
  uint64_t seed = o->seed;
  cm_ds *rows = cm_range(ctx, 0, (int64_t)o->records, 1, o->partitions);
  cm_ds *lines = cm_map(rows, "tg_record", cm_bytes_of(&seed, sizeof seed));
  GError *err = NULL;
  if (cm_save_as_text(lines, o->output, &err) != 0)
    return job_fail("teragen", "job failed", err);
  return 0;
}

static int ts_run(cm_ctx *ctx, const job_opts *o) {
  if (!job_need("terasort", o->input, "--input") ||
      !job_need("terasort", o->output, "--output"))
    return 1;
  GError *err = NULL;
  cm_ds *lines = cm_text_file(ctx, o->input, o->partitions, &err);
  if (!lines)
    return job_fail("terasort", "cannot read input", err);
  cm_ds *sorted = cm_sort_by_key(cm_map(lines, "ts_split", CM_NO_BYTES), true,
                                 o->partitions);
  if (cm_save_as_text(cm_map(sorted, "ts_unsplit", CM_NO_BYTES), o->output,
                      &err) != 0)
    return job_fail("terasort", "job failed", err);
  return 0;
}

const job_def job_teragen = {"teragen", "--output DIR [--records N] [--seed N]",
                             "generate 100-byte terasort records",
                             ts_register, tg_run};

/* Registration is shared with teragen (same file, one set of functions). */
static void ts_register_none(cm_registry *reg) {}

const job_def job_terasort = {"terasort", "--input PATH --output DIR",
                              "sort 100-byte records by their 10-byte key",
                              ts_register_none, ts_run};
