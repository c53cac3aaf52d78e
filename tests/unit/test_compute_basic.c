/*
 * test_compute_basic.c — smoke tests of the compute engine: sources,
 * narrow transformations and actions on small inputs.
 */
#include <CUnit/CUnit.h>
#include <glib.h>
#include <string.h>

#include "compute/compute.h"
#include "tests/unit/testutil.h"

static void times_two(const cm_rec *in, cm_bytes env, cm_emit *out) {
  uint8_t v[CM_I64_BYTES];
  cm_i64_put(v, cm_i64_get(in->key) * 2);
  cm_emit_kv(out, cm_bytes_of(v, sizeof v), CM_NO_BYTES);
}

static void test_range_map_count(void) {
  cm_registry *reg = cm_registry_new();
  cm_register_map(reg, "times_two", times_two);
  cm_config cfg = cm_config_default();
  GError *err = NULL;
  cm_ctx *ctx = cm_ctx_new(reg, &cfg, &err);
  CU_ASSERT_PTR_NOT_NULL_FATAL(ctx);
  cm_ds *r = cm_map(cm_range(ctx, 0, 1000, 1, 4), "times_two", CM_NO_BYTES);
  uint64_t n = 0;
  CU_ASSERT_EQUAL(cm_count(r, &n, &err), 0);
  CU_ASSERT_EQUAL(n, 1000);
  cm_records *recs = NULL;
  CU_ASSERT_EQUAL(cm_collect(r, &recs, &err), 0);
  CU_ASSERT_EQUAL(cm_records_count(recs), 1000);
  for (size_t i = 0; i < cm_records_count(recs); i++)
    CU_ASSERT_EQUAL(cm_i64_get(cm_records_get(recs, i).key), (int64_t)i * 2);
  cm_records_free(recs);
  cm_ds *counts = cm_reduce_by_key(cm_map(r, "cm.one_i64", CM_NO_BYTES),
                                   "cm.sum_i64", CM_NO_BYTES, 3);
  CU_ASSERT_EQUAL(cm_count(counts, &n, &err), 0);
  CU_ASSERT_EQUAL(n, 1000);
  cm_ctx_free(ctx);
  cm_registry_free(reg);
}

/* The same wrapping sum as the builtin cm.sum_i64, through the generic
 * merge path (the shuffle folds the builtin in place instead). */
static void sum_generic(cm_bytes a, cm_bytes b, cm_bytes env, cm_buf *out) {
  uint64_t sum = (uint64_t)cm_i64_get(a) + (uint64_t)cm_i64_get(b);
  cm_buf_put_i64(out, (int64_t)sum);
}

/* INT64_MIN - i or INT64_MAX - i, wrapping (computed unsigned). */
static int64_t big_of(int64_t i) {
  uint64_t base = (uint64_t)(i % 3 == 0 ? INT64_MIN : INT64_MAX);
  return (int64_t)(base - (uint64_t)i);
}

/* key i % 97, value near INT64_MAX or INT64_MIN so that sums wrap. */
static void big_value(const cm_rec *in, cm_bytes env, cm_emit *out) {
  int64_t i = cm_i64_get(in->key);
  uint8_t k[CM_I64_BYTES], v[CM_I64_BYTES];
  cm_i64_put(k, i % 97);
  cm_i64_put(v, big_of(i));
  cm_emit_kv(out, cm_bytes_of(k, sizeof k), cm_bytes_of(v, sizeof v));
}

static void test_sum_fast_path(void) {
  cm_registry *reg = cm_registry_new();
  cm_register_merge(reg, "sum_generic", sum_generic);
  cm_register_map(reg, "big_value", big_value);
  for (int tiny = 0; tiny <= 1; tiny++) {
    cm_config cfg = cm_config_default();
    cfg.memory_bytes = tiny ? 128u << 10 : 64u << 20; /* tiny: spills */
    GError *err = NULL;
    cm_ctx *ctx = cm_ctx_new(reg, &cfg, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ctx);
    cm_ds *pairs =
        cm_map(cm_range(ctx, 0, 20000, 1, 5), "big_value", CM_NO_BYTES);
    uint8_t zero[CM_I64_BYTES];
    cm_i64_put(zero, 0);
    cm_ds *variants[] = {
        cm_reduce_by_key(pairs, "cm.sum_i64", CM_NO_BYTES, 3),
        cm_reduce_by_key(pairs, "sum_generic", CM_NO_BYTES, 3),
        cm_aggregate_by_key(pairs, cm_bytes_of(zero, sizeof zero), "cm.sum_i64",
                            "cm.sum_i64", CM_NO_BYTES, 3),
    };
    cm_records *got[3] = {NULL, NULL, NULL};
    for (int v = 0; v < 3; v++)
      CU_ASSERT_EQUAL_FATAL(cm_collect(variants[v], &got[v], &err), 0);
    CU_ASSERT_EQUAL(cm_records_count(got[0]), 97);
    for (int v = 1; v < 3; v++) {
      CU_ASSERT_EQUAL_FATAL(cm_records_count(got[v]), cm_records_count(got[0]));
      CU_ASSERT_EQUAL(cm_records_bytes(got[v]), cm_records_bytes(got[0]));
      for (size_t i = 0; i < cm_records_count(got[0]); i++) {
        cm_rec x = cm_records_get(got[0], i), y = cm_records_get(got[v], i);
        CU_ASSERT(cm_bytes_eq(x.key, y.key) && cm_bytes_eq(x.val, y.val));
      }
    }
    /* Against a reference computed here, with the same wrapping. */
    uint64_t want[97] = {0};
    for (int64_t i = 0; i < 20000; i++)
      want[i % 97] += (uint64_t)big_of(i);
    for (size_t i = 0; i < cm_records_count(got[0]); i++) {
      cm_rec r = cm_records_get(got[0], i);
      CU_ASSERT_EQUAL(cm_i64_get(r.val), (int64_t)want[cm_i64_get(r.key)]);
    }
    for (int v = 0; v < 3; v++)
      cm_records_free(got[v]);
    cm_ctx_free(ctx);
  }
  cm_registry_free(reg);
}

int suite_compute_basic(void) {
  TEST_SUITE(
      "compute_basic", {"range_map_count", test_range_map_count},
      {"sum_i64 fast path equals the generic merge", test_sum_fast_path});
}
