/*
 * test_compute_lib.h — helpers shared by the compute suites: owned record
 * lists, random inputs of several shapes, and comparisons.
 *
 * Everything here is deliberately simple (a malloc per record, quadratic
 * where it does not matter): it computes the reference answers the engine
 * is checked against. Header-only (static functions) because the Makefile
 * links exactly one file per suite.
 */
#ifndef SLUICE_TESTS_TEST_COMPUTE_LIB_H
#define SLUICE_TESTS_TEST_COMPUTE_LIB_H

#include <CUnit/CUnit.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "compute/compute.h"
#include "tests/unit/testutil.h"

/* A list of records that owns its bytes. */
typedef struct tl_recs {
  GArray *recs;     /* cm_rec */
  GPtrArray *owned; /* g_malloc'd bytes */
} tl_recs;

static inline tl_recs *tl_recs_new(void) {
  tl_recs *r = g_new0(tl_recs, 1);
  r->recs = g_array_new(FALSE, FALSE, sizeof(cm_rec));
  r->owned = g_ptr_array_new_with_free_func(g_free);
  return r;
}

static inline void tl_recs_free(tl_recs *r) {
  if (!r)
    return;
  g_array_free(r->recs, TRUE);
  g_ptr_array_free(r->owned, TRUE);
  g_free(r);
}

static inline cm_bytes tl_own(tl_recs *r, cm_bytes b) {
  uint8_t *p = g_malloc(b.len ? b.len : 1);
  if (b.len)
    memcpy(p, b.ptr, b.len);
  g_ptr_array_add(r->owned, p);
  return cm_bytes_of(p, b.len);
}

static inline void tl_add(tl_recs *r, cm_bytes key, cm_bytes val) {
  cm_rec rec = {tl_own(r, key), tl_own(r, val)};
  g_array_append_val(r->recs, rec);
}

static inline size_t tl_len(const tl_recs *r) { return r->recs->len; }

static inline cm_rec tl_get(const tl_recs *r, size_t i) {
  return g_array_index(r->recs, cm_rec, i);
}

static inline tl_recs *tl_from_records(const cm_records *got) {
  tl_recs *r = tl_recs_new();
  for (size_t i = 0; i < cm_records_count(got); i++) {
    cm_rec rec = cm_records_get(got, i);
    tl_add(r, rec.key, rec.val);
  }
  return r;
}

static inline gint tl_rec_cmp(gconstpointer a, gconstpointer b) {
  const cm_rec *x = a, *y = b;
  int c = cm_bytes_cmp(x->key, y->key);
  return c ? c : cm_bytes_cmp(x->val, y->val);
}

static inline gint tl_key_cmp(gconstpointer a, gconstpointer b) {
  return cm_bytes_cmp(((const cm_rec *)a)->key, ((const cm_rec *)b)->key);
}

static inline void tl_sort(tl_recs *r) { g_array_sort(r->recs, tl_rec_cmp); }

static inline bool tl_equal(const tl_recs *a, const tl_recs *b) {
  if (tl_len(a) != tl_len(b))
    return false;
  for (size_t i = 0; i < tl_len(a); i++)
    if (tl_rec_cmp(&g_array_index(a->recs, cm_rec, i),
                   &g_array_index(b->recs, cm_rec, i)) != 0)
      return false;
  return true;
}

/* Input shapes. */
enum {
  TL_UNIFORM,
  TL_SKEWED,
  TL_HUGE_KEY,
  TL_BINARY,
  TL_LONG_PREFIX,
  TL_SHAPES,
};

static inline const char *tl_shape_name(int shape) {
  static const char *const names[] = {"uniform", "skewed", "huge-key", "binary",
                                      "long-prefix"};
  return names[shape];
}

static inline void tl_key(test_rng *rng, int shape, uint32_t distinct,
                          uint8_t *buf, size_t *len) {
  switch (shape) {
  case TL_UNIFORM:
    *len = (size_t)snprintf((char *)buf, 32, "k%llu",
                            (unsigned long long)test_rng_below(rng, distinct));
    return;
  case TL_SKEWED: {
    uint64_t k = test_rng_below(rng, test_rng_below(rng, distinct) + 1);
    k = test_rng_below(rng, k + 1);
    *len = (size_t)snprintf((char *)buf, 32, "s%llu", (unsigned long long)k);
    return;
  }
  case TL_HUGE_KEY:
    if (test_rng_below(rng, 2) == 0) {
      memcpy(buf, "HUGE", 4);
      *len = 4;
      return;
    }
    *len = (size_t)snprintf((char *)buf, 32, "h%llu",
                            (unsigned long long)test_rng_below(rng, distinct));
    return;
  case TL_LONG_PREFIX: {
    /* 18 shared bytes and a short tail of NUL, 'a' or 0xff (possibly
     * none), or a cut inside the shared part: the shuffle sort decides on
     * the first 16 key bytes where it can, so these keys exercise its
     * tie-break and the "proper prefix first" rule past 16 bytes. */
    static const uint8_t tail_bytes[] = {0, 'a', 0xff};
    uint64_t k = test_rng_below(rng, distinct);
    memcpy(buf, "sluice/long/prefix", 18);
    if (k % 7 == 6) {
      *len = 14 + (size_t)(k / 7) % 5;
      return;
    }
    *len = 18 + (size_t)(k % 4);
    for (size_t i = 18, rest = k / 4; i < *len; i++, rest /= 3)
      buf[i] = tail_bytes[rest % 3];
    return;
  }
  default: {
    static const uint8_t alphabet[] = {0, 1, 'a', 0xff};
    *len = (size_t)test_rng_below(rng, 4);
    for (size_t i = 0; i < *len; i++)
      buf[i] = alphabet[test_rng_below(rng, 4)];
    return;
  }
  }
}

/* n records of the given shape; values are int64 in [-vrange, vrange]. */
static inline tl_recs *tl_random(test_rng *rng, int shape, size_t n,
                                 uint32_t distinct, int64_t vrange) {
  tl_recs *r = tl_recs_new();
  for (size_t i = 0; i < n; i++) {
    uint8_t key[32], val[CM_I64_BYTES];
    size_t klen = 0;
    tl_key(rng, shape, distinct ? distinct : 1, key, &klen);
    cm_i64_put(val, (int64_t)test_rng_below(rng, (uint64_t)(2 * vrange + 1)) -
                        vrange);
    tl_add(r, cm_bytes_of(key, klen), cm_bytes_of(val, sizeof val));
  }
  return r;
}

static inline cm_ds *tl_parallelize(cm_ctx *ctx, const tl_recs *r,
                                    uint32_t parts) {
  return cm_parallelize(ctx, (const cm_rec *)r->recs->data, tl_len(r), parts);
}

/* Prints a short description of the first difference. */
static inline void tl_report_diff(const char *what, const tl_recs *got,
                                  const tl_recs *want, uint64_t seed) {
  fprintf(stderr, "\n  %s: got %zu records, expected %zu (seed %llu)\n",
          what, tl_len(got), tl_len(want), (unsigned long long)seed);
}

#endif
