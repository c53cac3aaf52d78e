/*
 * test_compute_ops.c — every dataset operation against a straightforward
 * reference computed here, on many random inputs (empty partitions, skewed
 * keys, one huge key, binary keys with NUL bytes), under five engine
 * configurations: 1, 2 and 7 executors, a tiny memory budget (spills), and
 * injected task failures. Besides matching the reference, the collected
 * output must be byte-for-byte the same under every configuration: results
 * do not depend on timing, executor count or retries.
 */
#include "tests/unit/test_compute_lib.h"

#define OPS_CASES 10u
#define OPS_RECORDS_MAX 2500u

/* ------------------------------------------------------ user functions */

static void t_rev_key(const cm_rec *in, cm_bytes env, cm_emit *out) {
  uint8_t buf[64];
  g_assert(in->key.len <= sizeof buf);
  for (size_t i = 0; i < in->key.len; i++)
    buf[i] = in->key.ptr[in->key.len - 1 - i];
  cm_emit_kv(out, cm_bytes_of(buf, in->key.len), in->val);
}

static bool t_even_key(const cm_rec *in, cm_bytes env) {
  return in->key.len % 2 == 0;
}

static void t_dup_by_len(const cm_rec *in, cm_bytes env, cm_emit *out) {
  for (size_t i = 0; i < in->key.len % 3; i++)
    cm_emit_kv(out, in->key, in->val);
}

static void t_positions(cm_iter *in, cm_bytes env, cm_emit *out) {
  cm_rec rec;
  int64_t pos = 0;
  uint8_t v[CM_I64_BYTES];
  while (cm_iter_next(in, &rec)) {
    cm_i64_put(v, pos++);
    cm_emit_kv(out, rec.key, cm_bytes_of(v, sizeof v));
  }
}

/* (count, sum) accumulators, 16 bytes. */
static void t_agg_seq(cm_bytes acc, cm_bytes val, cm_bytes env, cm_buf *out) {
  cm_buf_put_i64(out, cm_i64_get(cm_bytes_of(acc.ptr, 8)) + 1);
  cm_buf_put_i64(out, cm_i64_get(cm_bytes_of(acc.ptr + 8, 8)) +
                          cm_i64_get(val));
}

static void t_agg_comb(cm_bytes a, cm_bytes b, cm_bytes env, cm_buf *out) {
  cm_buf_put_i64(out, cm_i64_get(cm_bytes_of(a.ptr, 8)) +
                          cm_i64_get(cm_bytes_of(b.ptr, 8)));
  cm_buf_put_i64(out, cm_i64_get(cm_bytes_of(a.ptr + 8, 8)) +
                          cm_i64_get(cm_bytes_of(b.ptr + 8, 8)));
}

static void t_sum_into(const cm_rec *in, cm_bytes env) {
  gint64 *counter;
  memcpy(&counter, env.ptr, sizeof counter);
  __atomic_fetch_add(counter, cm_i64_get(in->val), __ATOMIC_RELAXED);
}

static cm_registry *test_registry(void) {
  cm_registry *reg = cm_registry_new();
  cm_register_map(reg, "t.rev_key", t_rev_key);
  cm_register_filter(reg, "t.even_key", t_even_key);
  cm_register_map(reg, "t.dup_by_len", t_dup_by_len);
  cm_register_partition(reg, "t.positions", t_positions);
  cm_register_merge(reg, "t.agg_seq", t_agg_seq);
  cm_register_merge(reg, "t.agg_comb", t_agg_comb);
  cm_register_foreach(reg, "t.sum_into", t_sum_into);
  return reg;
}

/* ----------------------------------------------------------- references */

typedef struct op_input {
  const tl_recs *a;
  const tl_recs *b;
  uint32_t parts_a;
  uint32_t parts_b;
  uint32_t parts_out;
} op_input;

static tl_recs *ref_map(const op_input *in) {
  tl_recs *r = tl_recs_new();
  for (size_t i = 0; i < tl_len(in->a); i++) {
    cm_rec rec = tl_get(in->a, i);
    uint8_t buf[64];
    for (size_t j = 0; j < rec.key.len; j++)
      buf[j] = rec.key.ptr[rec.key.len - 1 - j];
    tl_add(r, cm_bytes_of(buf, rec.key.len), rec.val);
  }
  return r;
}

static tl_recs *ref_filter(const op_input *in) {
  tl_recs *r = tl_recs_new();
  for (size_t i = 0; i < tl_len(in->a); i++)
    if (tl_get(in->a, i).key.len % 2 == 0)
      tl_add(r, tl_get(in->a, i).key, tl_get(in->a, i).val);
  return r;
}

static tl_recs *ref_flat_map(const op_input *in) {
  tl_recs *r = tl_recs_new();
  for (size_t i = 0; i < tl_len(in->a); i++)
    for (size_t j = 0; j < tl_get(in->a, i).key.len % 3; j++)
      tl_add(r, tl_get(in->a, i).key, tl_get(in->a, i).val);
  return r;
}

static tl_recs *ref_positions(const op_input *in) {
  tl_recs *r = tl_recs_new();
  size_t n = tl_len(in->a);
  for (uint32_t p = 0; p < in->parts_a; p++) {
    size_t lo = n * p / in->parts_a, hi = n * (p + 1) / in->parts_a;
    for (size_t i = lo; i < hi; i++) {
      uint8_t v[CM_I64_BYTES];
      cm_i64_put(v, (int64_t)(i - lo));
      tl_add(r, tl_get(in->a, i).key, cm_bytes_of(v, sizeof v));
    }
  }
  return r;
}

static tl_recs *ref_identity(const op_input *in) {
  tl_recs *r = tl_recs_new();
  for (size_t i = 0; i < tl_len(in->a); i++)
    tl_add(r, tl_get(in->a, i).key, tl_get(in->a, i).val);
  return r;
}

static tl_recs *ref_union(const op_input *in) {
  tl_recs *r = ref_identity(in);
  for (size_t i = 0; i < tl_len(in->b); i++)
    tl_add(r, tl_get(in->b, i).key, tl_get(in->b, i).val);
  return r;
}

static tl_recs *ref_distinct(const op_input *in) {
  tl_recs *all = ref_identity(in), *r = tl_recs_new();
  tl_sort(all);
  for (size_t i = 0; i < tl_len(all); i++) {
    cm_rec cur = tl_get(all, i);
    if (i == 0 || tl_rec_cmp(&cur, &g_array_index(all->recs, cm_rec, i - 1)))
      tl_add(r, cur.key, cur.val);
  }
  tl_recs_free(all);
  return r;
}

/* Groups a sorted copy by key and calls fold for each group. */
typedef void (*group_fn)(tl_recs *out, cm_bytes key, const cm_rec *vals,
                         size_t n);

static tl_recs *by_key(const tl_recs *src, group_fn fold) {
  tl_recs *sorted = tl_recs_new(), *r = tl_recs_new();
  for (size_t i = 0; i < tl_len(src); i++)
    tl_add(sorted, tl_get(src, i).key, tl_get(src, i).val);
  tl_sort(sorted);
  size_t i = 0;
  while (i < tl_len(sorted)) {
    size_t j = i;
    while (j < tl_len(sorted) &&
           cm_bytes_eq(tl_get(sorted, j).key, tl_get(sorted, i).key))
      j++;
    fold(r, tl_get(sorted, i).key, &g_array_index(sorted->recs, cm_rec, i),
         j - i);
    i = j;
  }
  tl_recs_free(sorted);
  return r;
}

static void fold_sum(tl_recs *out, cm_bytes key, const cm_rec *v, size_t n) {
  int64_t sum = 0;
  for (size_t i = 0; i < n; i++)
    sum += cm_i64_get(v[i].val);
  uint8_t enc[CM_I64_BYTES];
  cm_i64_put(enc, sum);
  tl_add(out, key, cm_bytes_of(enc, sizeof enc));
}

static void fold_agg(tl_recs *out, cm_bytes key, const cm_rec *v, size_t n) {
  int64_t sum = 0;
  for (size_t i = 0; i < n; i++)
    sum += cm_i64_get(v[i].val);
  uint8_t enc[16];
  cm_i64_put(enc, (int64_t)n);
  cm_i64_put(enc + 8, sum);
  tl_add(out, key, cm_bytes_of(enc, sizeof enc));
}

/* Values sorted inside a list, so groups compare as multisets. */
static void fold_group(tl_recs *out, cm_bytes key, const cm_rec *v,
                       size_t n) {
  GByteArray *list = g_byte_array_new();
  for (size_t i = 0; i < n; i++) { /* v is sorted by (key, val) already */
    uint8_t hdr[4] = {(uint8_t)v[i].val.len, (uint8_t)(v[i].val.len >> 8),
                      (uint8_t)(v[i].val.len >> 16),
                      (uint8_t)(v[i].val.len >> 24)};
    g_byte_array_append(list, hdr, 4);
    g_byte_array_append(list, v[i].val.ptr, (guint)v[i].val.len);
  }
  tl_add(out, key, cm_bytes_of(list->data, list->len));
  g_byte_array_free(list, TRUE);
}

static tl_recs *ref_reduce(const op_input *in) { return by_key(in->a, fold_sum); }
static tl_recs *ref_aggregate(const op_input *in) {
  return by_key(in->a, fold_agg);
}
static tl_recs *ref_group(const op_input *in) {
  return by_key(in->a, fold_group);
}

static void list_put(GByteArray *list, cm_bytes v) {
  uint8_t hdr[4] = {(uint8_t)v.len, (uint8_t)(v.len >> 8),
                    (uint8_t)(v.len >> 16), (uint8_t)(v.len >> 24)};
  g_byte_array_append(list, hdr, 4);
  g_byte_array_append(list, v.ptr, (guint)v.len);
}

/* Sorted distinct keys of a and b with their sorted value lists. */
static tl_recs *ref_cogroup(const op_input *in) {
  tl_recs *ga = by_key(in->a, fold_group), *gb = by_key(in->b, fold_group);
  tl_recs *r = tl_recs_new();
  size_t i = 0, j = 0;
  while (i < tl_len(ga) || j < tl_len(gb)) {
    int c = i == tl_len(ga)   ? 1
            : j == tl_len(gb) ? -1
                              : cm_bytes_cmp(tl_get(ga, i).key,
                                             tl_get(gb, j).key);
    cm_bytes key = c <= 0 ? tl_get(ga, i).key : tl_get(gb, j).key;
    cm_bytes la = c <= 0 ? tl_get(ga, i).val : CM_NO_BYTES;
    cm_bytes lb = c >= 0 ? tl_get(gb, j).val : CM_NO_BYTES;
    GByteArray *v = g_byte_array_new();
    uint8_t hdr[4] = {(uint8_t)la.len, (uint8_t)(la.len >> 8),
                      (uint8_t)(la.len >> 16), (uint8_t)(la.len >> 24)};
    g_byte_array_append(v, hdr, 4);
    g_byte_array_append(v, la.ptr, (guint)la.len);
    g_byte_array_append(v, lb.ptr, (guint)lb.len);
    tl_add(r, key, cm_bytes_of(v->data, v->len));
    g_byte_array_free(v, TRUE);
    i += c <= 0;
    j += c >= 0;
  }
  tl_recs_free(ga);
  tl_recs_free(gb);
  return r;
}

static void put_pair(tl_recs *r, cm_bytes key, cm_bytes a, cm_bytes b,
                     bool has_b) {
  GByteArray *v = g_byte_array_new();
  uint8_t hdr[5] = {has_b, (uint8_t)a.len, (uint8_t)(a.len >> 8),
                    (uint8_t)(a.len >> 16), (uint8_t)(a.len >> 24)};
  g_byte_array_append(v, hdr, 5);
  g_byte_array_append(v, a.ptr, (guint)a.len);
  g_byte_array_append(v, b.ptr, (guint)b.len);
  tl_add(r, key, cm_bytes_of(v->data, v->len));
  g_byte_array_free(v, TRUE);
}

static tl_recs *ref_join_any(const op_input *in, bool left_outer) {
  tl_recs *r = tl_recs_new();
  for (size_t i = 0; i < tl_len(in->a); i++) {
    cm_rec x = tl_get(in->a, i);
    bool any = false;
    for (size_t j = 0; j < tl_len(in->b); j++) {
      cm_rec y = tl_get(in->b, j);
      if (!cm_bytes_eq(x.key, y.key))
        continue;
      put_pair(r, x.key, x.val, y.val, true);
      any = true;
    }
    if (!any && left_outer)
      put_pair(r, x.key, x.val, CM_NO_BYTES, false);
  }
  return r;
}

static tl_recs *ref_join(const op_input *in) { return ref_join_any(in, false); }
static tl_recs *ref_left_join(const op_input *in) {
  return ref_join_any(in, true);
}

static tl_recs *ref_sort(const op_input *in) {
  tl_recs *r = ref_identity(in);
  g_array_sort(r->recs, tl_key_cmp); /* g_array_sort is stable */
  return r;
}

static gint key_cmp_desc(gconstpointer a, gconstpointer b) {
  return -tl_key_cmp(a, b);
}

static tl_recs *ref_sort_desc(const op_input *in) {
  tl_recs *r = ref_identity(in);
  g_array_sort(r->recs, key_cmp_desc);
  return r;
}

/* ------------------------------------------------------------ the table */

static cm_ds *b_map(cm_ds *a, cm_ds *b, uint32_t n) {
  return cm_map(a, "t.rev_key", CM_NO_BYTES);
}
static cm_ds *b_filter(cm_ds *a, cm_ds *b, uint32_t n) {
  return cm_filter(a, "t.even_key", CM_NO_BYTES);
}
static cm_ds *b_flat_map(cm_ds *a, cm_ds *b, uint32_t n) {
  return cm_flat_map(a, "t.dup_by_len", CM_NO_BYTES);
}
static cm_ds *b_map_partitions(cm_ds *a, cm_ds *b, uint32_t n) {
  return cm_map_partitions(a, "t.positions", CM_NO_BYTES);
}
static cm_ds *b_union(cm_ds *a, cm_ds *b, uint32_t n) { return cm_union(a, b); }
static cm_ds *b_coalesce(cm_ds *a, cm_ds *b, uint32_t n) {
  return cm_coalesce(a, MIN(n, cm_ds_partitions(a)));
}
static cm_ds *b_distinct(cm_ds *a, cm_ds *b, uint32_t n) {
  return cm_distinct(a, n);
}
static cm_ds *b_reduce(cm_ds *a, cm_ds *b, uint32_t n) {
  return cm_reduce_by_key(a, "cm.sum_i64", CM_NO_BYTES, n);
}
static cm_ds *b_group(cm_ds *a, cm_ds *b, uint32_t n) {
  return cm_group_by_key(a, n);
}
static cm_ds *b_aggregate(cm_ds *a, cm_ds *b, uint32_t n) {
  uint8_t zero[16];
  cm_i64_put(zero, 0);
  cm_i64_put(zero + 8, 0);
  return cm_aggregate_by_key(a, cm_bytes_of(zero, sizeof zero), "t.agg_seq",
                             "t.agg_comb", CM_NO_BYTES, n);
}
static cm_ds *b_cogroup(cm_ds *a, cm_ds *b, uint32_t n) {
  return cm_cogroup(a, b, n);
}
static cm_ds *b_join(cm_ds *a, cm_ds *b, uint32_t n) { return cm_join(a, b, n); }
static cm_ds *b_left_join(cm_ds *a, cm_ds *b, uint32_t n) {
  return cm_left_outer_join(a, b, n);
}
static cm_ds *b_sort(cm_ds *a, cm_ds *b, uint32_t n) {
  return cm_sort_by_key(a, true, n);
}
static cm_ds *b_sort_desc(cm_ds *a, cm_ds *b, uint32_t n) {
  return cm_sort_by_key(a, false, n);
}
static cm_ds *b_repartition(cm_ds *a, cm_ds *b, uint32_t n) {
  return cm_repartition(a, n);
}
/* A long narrow chain over a shuffle over a union: lineage depth. */
static cm_ds *b_chain(cm_ds *a, cm_ds *b, uint32_t n) {
  cm_ds *d = cm_union(a, b);
  for (int i = 0; i < 200; i++)
    d = cm_map(d, "t.rev_key", CM_NO_BYTES);
  return cm_reduce_by_key(d, "cm.sum_i64", CM_NO_BYTES, n);
}

static tl_recs *ref_chain(const op_input *in) {
  tl_recs *u = ref_union(in);
  op_input tmp = *in;
  tmp.a = u;
  tl_recs *r = ref_reduce(&tmp);
  tl_recs_free(u);
  return r;
}

enum { CMP_ORDERED, CMP_MULTISET, CMP_GROUPS };

typedef struct op_case {
  const char *name;
  cm_ds *(*build)(cm_ds *a, cm_ds *b, uint32_t parts_out);
  tl_recs *(*reference)(const op_input *in);
  int compare;
} op_case;

static const op_case op_cases[] = {
    {"map", b_map, ref_map, CMP_ORDERED},
    {"filter", b_filter, ref_filter, CMP_ORDERED},
    {"flat_map", b_flat_map, ref_flat_map, CMP_ORDERED},
    {"map_partitions", b_map_partitions, ref_positions, CMP_ORDERED},
    {"union", b_union, ref_union, CMP_ORDERED},
    {"coalesce", b_coalesce, ref_identity, CMP_ORDERED},
    {"distinct", b_distinct, ref_distinct, CMP_MULTISET},
    {"reduce_by_key", b_reduce, ref_reduce, CMP_MULTISET},
    {"group_by_key", b_group, ref_group, CMP_GROUPS},
    {"aggregate_by_key", b_aggregate, ref_aggregate, CMP_MULTISET},
    {"cogroup", b_cogroup, ref_cogroup, CMP_GROUPS},
    {"join", b_join, ref_join, CMP_MULTISET},
    {"left_outer_join", b_left_join, ref_left_join, CMP_MULTISET},
    {"sort_by_key", b_sort, ref_sort, CMP_ORDERED},
    {"sort_by_key_desc", b_sort_desc, ref_sort_desc, CMP_ORDERED},
    {"repartition", b_repartition, ref_identity, CMP_MULTISET},
    {"lineage_chain", b_chain, ref_chain, CMP_MULTISET},
};
#define N_OPS (sizeof op_cases / sizeof op_cases[0])

typedef struct engine_config {
  const char *name;
  uint32_t executors;
  uint64_t memory_bytes;
  uint32_t fail_ppm;
} engine_config;

static const engine_config configs[] = {
    {"1 executor", 1, 64u << 20, 0},
    {"2 executors", 2, 64u << 20, 0},
    {"7 executors", 7, 64u << 20, 0},
    {"tiny memory", 2, 128u << 10, 0},
    {"25% task failures", 3, 1u << 20, 250000},
};
#define N_CONFIGS (sizeof configs / sizeof configs[0])

static cm_ctx *new_ctx(const cm_registry *reg, const engine_config *c,
                       uint64_t seed) {
  cm_config cfg = cm_config_default();
  cfg.executors = c->executors;
  cfg.memory_bytes = c->memory_bytes;
  cfg.fault_task_fail_ppm = c->fail_ppm;
  cfg.fault_seed = seed;
  cfg.task_attempts_max = c->fail_ppm ? 12 : 1;
  GError *err = NULL;
  cm_ctx *ctx = cm_ctx_new(reg, &cfg, &err);
  g_assert_no_error(err);
  return ctx;
}

/* Canonical form of grouped values: lists sorted element-wise. */
static void sort_list(cm_bytes list, GByteArray *out) {
  GPtrArray *elems = g_ptr_array_new_with_free_func(g_free);
  cm_bytes e;
  while (cm_list_next(&list, &e)) {
    cm_bytes *copy = g_new0(cm_bytes, 1);
    *copy = e;
    g_ptr_array_add(elems, copy);
  }
  for (guint i = 1; i < elems->len; i++) /* insertion sort: tiny lists */
    for (guint j = i; j > 0; j--) {
      cm_bytes *x = elems->pdata[j - 1], *y = elems->pdata[j];
      if (cm_bytes_cmp(*x, *y) <= 0)
        break;
      elems->pdata[j - 1] = y;
      elems->pdata[j] = x;
    }
  for (guint i = 0; i < elems->len; i++)
    list_put(out, *(cm_bytes *)elems->pdata[i]);
  g_ptr_array_free(elems, TRUE);
}

static tl_recs *canonical_groups(const tl_recs *in, bool cogroup) {
  tl_recs *r = tl_recs_new();
  for (size_t i = 0; i < tl_len(in); i++) {
    cm_rec rec = tl_get(in, i);
    GByteArray *v = g_byte_array_new();
    if (cogroup) {
      cm_bytes la, lb;
      cm_cogroup_split(rec.val, &la, &lb);
      GByteArray *a = g_byte_array_new();
      sort_list(la, a);
      uint8_t hdr[4] = {(uint8_t)a->len, (uint8_t)(a->len >> 8),
                        (uint8_t)(a->len >> 16), (uint8_t)(a->len >> 24)};
      g_byte_array_append(v, hdr, 4);
      g_byte_array_append(v, a->data, a->len);
      g_byte_array_free(a, TRUE);
      sort_list(lb, v);
    } else {
      sort_list(rec.val, v);
    }
    tl_add(r, rec.key, cm_bytes_of(v->data, v->len));
    g_byte_array_free(v, TRUE);
  }
  tl_sort(r);
  return r;
}

static bool matches(const op_case *op, const tl_recs *got,
                    const tl_recs *want) {
  if (op->compare == CMP_ORDERED) {
    if (tl_len(got) != tl_len(want))
      return false;
    for (size_t i = 0; i < tl_len(got); i++)
      if (tl_rec_cmp(&g_array_index(got->recs, cm_rec, i),
                     &g_array_index(want->recs, cm_rec, i)))
        return false;
    return true;
  }
  bool cogroup = strcmp(op->name, "cogroup") == 0;
  tl_recs *g = op->compare == CMP_GROUPS ? canonical_groups(got, cogroup)
                                         : tl_recs_new();
  tl_recs *w = op->compare == CMP_GROUPS ? canonical_groups(want, cogroup)
                                         : tl_recs_new();
  if (op->compare == CMP_MULTISET) {
    for (size_t i = 0; i < tl_len(got); i++)
      tl_add(g, tl_get(got, i).key, tl_get(got, i).val);
    for (size_t i = 0; i < tl_len(want); i++)
      tl_add(w, tl_get(want, i).key, tl_get(want, i).val);
    tl_sort(g);
    tl_sort(w);
  }
  bool same = tl_equal(g, w);
  tl_recs_free(g);
  tl_recs_free(w);
  return same;
}

/* One random input, every operation, every configuration. */
static void run_case(const cm_registry *reg, uint64_t seed, uint64_t *spills,
                     uint64_t *failures) {
  test_rng rng;
  test_rng_init(&rng, seed);
  int shape = (int)test_rng_below(&rng, TL_SHAPES);
  uint32_t distinct = 1 + (uint32_t)test_rng_below(&rng, 300);
  size_t na = test_rng_below(&rng, 8) == 0
                  ? test_rng_below(&rng, 4)
                  : test_rng_below(&rng, OPS_RECORDS_MAX);
  size_t nb = test_rng_below(&rng, OPS_RECORDS_MAX / 4);
  tl_recs *a = tl_random(&rng, shape, na, distinct, 1000);
  tl_recs *b = tl_random(&rng, shape, nb, distinct, 1000);
  op_input in = {a, b, 1 + (uint32_t)test_rng_below(&rng, 9),
                 1 + (uint32_t)test_rng_below(&rng, 9),
                 1 + (uint32_t)test_rng_below(&rng, 7)};
  cm_records *first[N_OPS] = {0};
  for (size_t c = 0; c < N_CONFIGS; c++) {
    cm_ctx *ctx = new_ctx(reg, &configs[c], seed);
    cm_ds *da = tl_parallelize(ctx, a, in.parts_a);
    cm_ds *db = tl_parallelize(ctx, b, in.parts_b);
    for (size_t o = 0; o < N_OPS; o++) {
      const op_case *op = &op_cases[o];
      cm_ds *ds = op->build(da, db, in.parts_out);
      cm_records *got = NULL;
      GError *err = NULL;
      int rc = cm_collect(ds, &got, &err);
      if (rc != 0)
        fprintf(stderr, "\n  %s under %s: %s (seed %llu)\n", op->name,
                configs[c].name, err->message, (unsigned long long)seed);
      CU_ASSERT_EQUAL_FATAL(rc, 0);
      tl_recs *g = tl_from_records(got);
      if (c == 0) {
        tl_recs *want = op->reference(&in);
        bool ok = matches(op, g, want);
        if (!ok)
          fprintf(stderr,
                  "\n  %s (%s, %zu+%zu records, parts %u/%u->%u): got %zu, "
                  "expected %zu (seed %llu)\n",
                  op->name, tl_shape_name(shape), na, nb, in.parts_a,
                  in.parts_b, in.parts_out, tl_len(g), tl_len(want),
                  (unsigned long long)seed);
        CU_ASSERT(ok);
        tl_recs_free(want);
        first[o] = got;
      } else {
        bool same = cm_records_count(got) == cm_records_count(first[o]);
        for (size_t i = 0; same && i < cm_records_count(got); i++) {
          cm_rec x = cm_records_get(got, i), y = cm_records_get(first[o], i);
          same = tl_rec_cmp(&x, &y) == 0;
        }
        if (!same)
          fprintf(stderr, "\n  %s differs under %s (seed %llu)\n", op->name,
                  configs[c].name, (unsigned long long)seed);
        CU_ASSERT(same);
        cm_records_free(got);
      }
      tl_recs_free(g);
    }
    cm_stats st;
    cm_ctx_stats(ctx, &st);
    if (configs[c].fail_ppm)
      *failures += st.tasks_failed;
    if (configs[c].memory_bytes < (1u << 20))
      *spills += st.spill_files;
    cm_ctx_free(ctx);
  }
  for (size_t o = 0; o < N_OPS; o++)
    cm_records_free(first[o]);
  tl_recs_free(a);
  tl_recs_free(b);
}

static void test_ops_random(void) {
  cm_registry *reg = test_registry();
  uint64_t spills = 0, failures = 0;
  for (uint32_t i = 0; i < OPS_CASES; i++)
    run_case(reg, test_seed() * 1000 + i, &spills, &failures);
  /* The fault configuration must really have failed tasks. */
  CU_ASSERT(failures > 0);
  cm_registry_free(reg);
}

/* Actions other than collect, on random inputs. */
static void test_actions(void) {
  cm_registry *reg = test_registry();
  for (uint32_t i = 0; i < 6; i++) {
    uint64_t seed = test_seed() * 77 + i;
    test_rng rng;
    test_rng_init(&rng, seed);
    size_t n = test_rng_below(&rng, 3000);
    tl_recs *a = tl_random(&rng, TL_UNIFORM, n, 50, 1000);
    /* Not the fault configuration: foreach side effects of a failed
     * attempt are not undone (at-least-once, as in Spark). */
    cm_ctx *ctx = new_ctx(reg, &configs[i % (N_CONFIGS - 1)], seed);
    uint32_t parts = 1 + (uint32_t)test_rng_below(&rng, 8);
    cm_ds *ds = tl_parallelize(ctx, a, parts);
    GError *err = NULL;
    uint64_t count = 0;
    CU_ASSERT_EQUAL(cm_count(ds, &count, &err), 0);
    TEST_EQ_INT(count, n, seed);
    /* reduce over keys: sum of values via swap */
    int64_t sum = 0;
    for (size_t j = 0; j < n; j++)
      sum += cm_i64_get(tl_get(a, j).val);
    GBytes *total = NULL;
    int rc = cm_reduce(cm_map(ds, "cm.swap", CM_NO_BYTES), "cm.sum_i64",
                       CM_NO_BYTES, &total, &err);
    if (n == 0) {
      CU_ASSERT_EQUAL(rc, -1);
      CU_ASSERT(g_error_matches(err, CM_ERROR, CM_ERROR_EMPTY));
      g_clear_error(&err);
    } else {
      CU_ASSERT_EQUAL_FATAL(rc, 0);
      gsize len;
      const uint8_t *p = g_bytes_get_data(total, &len);
      TEST_EQ_INT(cm_i64_get(cm_bytes_of(p, len)), sum, seed);
      g_bytes_unref(total);
    }
    /* foreach adds every value into a counter the env points at */
    gint64 counter = 0;
    gint64 *ptr = &counter;
    CU_ASSERT_EQUAL(cm_foreach(ds, "t.sum_into", cm_bytes_of(&ptr, sizeof ptr),
                               &err),
                    0);
    TEST_EQ_INT(counter, sum, seed);
    /* take(k) is the first k records in order */
    size_t k = test_rng_below(&rng, n + 3);
    cm_records *took = NULL;
    CU_ASSERT_EQUAL_FATAL(cm_take(ds, k, &took, &err), 0);
    TEST_EQ_INT(cm_records_count(took), MIN(k, n), seed);
    for (size_t j = 0; j < cm_records_count(took); j++) {
      cm_rec x = cm_records_get(took, j), y = tl_get(a, j);
      CU_ASSERT(tl_rec_cmp(&x, &y) == 0);
    }
    cm_records_free(took);
    cm_ctx_free(ctx);
    tl_recs_free(a);
  }
  cm_registry_free(reg);
}

/* sample: reproducible, a subset in order, about the right size. */
static void test_sample(void) {
  cm_registry *reg = test_registry();
  uint64_t seed = test_seed();
  cm_records *runs[2] = {0};
  for (int r = 0; r < 2; r++) {
    cm_ctx *ctx = new_ctx(reg, &configs[r == 0 ? 0 : 2], seed);
    cm_ds *ds = cm_sample(cm_range(ctx, 0, 20000, 1, 5), 0.25, 99);
    GError *err = NULL;
    CU_ASSERT_EQUAL_FATAL(cm_collect(ds, &runs[r], &err), 0);
    cm_records *all = NULL, *none = NULL;
    CU_ASSERT_EQUAL_FATAL(
        cm_collect(cm_sample(cm_range(ctx, 0, 100, 1, 3), 1.0, 1), &all, &err),
        0);
    CU_ASSERT_EQUAL(cm_records_count(all), 100);
    CU_ASSERT_EQUAL_FATAL(
        cm_collect(cm_sample(cm_range(ctx, 0, 100, 1, 3), 0.0, 1), &none,
                   &err),
        0);
    CU_ASSERT_EQUAL(cm_records_count(none), 0);
    cm_records_free(all);
    cm_records_free(none);
    cm_ctx_free(ctx);
  }
  size_t n = cm_records_count(runs[0]);
  CU_ASSERT(n > 4500 && n < 5500);
  CU_ASSERT_EQUAL(n, cm_records_count(runs[1]));
  int64_t prev = -1;
  for (size_t i = 0; i < n; i++) {
    int64_t v = cm_i64_get(cm_records_get(runs[0], i).key);
    CU_ASSERT(v > prev && v < 20000);
    CU_ASSERT_EQUAL(v, cm_i64_get(cm_records_get(runs[1], i).key));
    prev = v;
  }
  cm_records_free(runs[0]);
  cm_records_free(runs[1]);
  cm_registry_free(reg);
}

int suite_compute_ops(void) {
  TEST_SUITE("compute_ops", {"every operation vs reference", test_ops_random},
             {"count reduce foreach take", test_actions},
             {"sample", test_sample});
}
