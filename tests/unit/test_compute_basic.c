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

int suite_compute_basic(void) {
  TEST_SUITE("compute_basic", {"range_map_count", test_range_map_count});
}
