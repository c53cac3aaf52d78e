/*
 * registry.c — user functions by name.
 *
 * Spark ships closures to executors as serialized JVM objects. C has no
 * closures, so a plan names its functions instead and every process
 * (driver or executor) resolves the names in its own registry; per-call
 * state travels as env bytes. The fingerprint lets a driver and an
 * executor check that they were built from the same job binary.
 *
 * Builtins (always present, named "cm.*"):
 *   merge  cm.sum_i64  cm.sum_f64  cm.min_i64  cm.max_i64  cm.keep_first
 *   map    cm.swap  cm.key_only  cm.one_i64  cm.i64_to_text  cm.f64_to_text
 *   map    cm.distinct_wrap  cm.distinct_unwrap       (used by cm_distinct)
 *   map    cm.join_inner  cm.join_left   (flat maps over cogroup values)
 */
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "compute/internal.h"

struct cm_registry {
  GHashTable *by_name; /* char* -> cm__fn* [owned] */
};

static void fn_free(gpointer p) {
  cm__fn *f = p;
  g_free(f->name);
  g_free(f);
}

static cm__fn *add(cm_registry *r, const char *name, cm__fn_kind kind) {
  SL_ASSERT(r != NULL);
  SL_ASSERT(name != NULL && name[0] != '\0');
  SL_ASSERT(!g_hash_table_contains(r->by_name, name));
  cm__fn *f = g_new0(cm__fn, 1);
  f->name = g_strdup(name);
  f->kind = kind;
  g_hash_table_insert(r->by_name, f->name, f);
  return f;
}

void cm_register_map(cm_registry *r, const char *name, cm_map_fn fn) {
  SL_ASSERT(fn != NULL);
  add(r, name, CM__FN_MAP)->u.map = fn;
}

void cm_register_filter(cm_registry *r, const char *name, cm_filter_fn fn) {
  SL_ASSERT(fn != NULL);
  add(r, name, CM__FN_FILTER)->u.filter = fn;
}

void cm_register_partition(cm_registry *r, const char *name,
                           cm_partition_fn fn) {
  SL_ASSERT(fn != NULL);
  add(r, name, CM__FN_PARTITION)->u.partition = fn;
}

void cm_register_merge(cm_registry *r, const char *name, cm_merge_fn fn) {
  SL_ASSERT(fn != NULL);
  add(r, name, CM__FN_MERGE)->u.merge = fn;
}

void cm_register_foreach(cm_registry *r, const char *name,
                         cm_foreach_fn fn) {
  SL_ASSERT(fn != NULL);
  add(r, name, CM__FN_FOREACH)->u.foreach = fn;
}

const cm__fn *cm__registry_get(const cm_registry *r, const char *name,
                               cm__fn_kind kind) {
  SL_ASSERT(r != NULL);
  SL_ASSERT(name != NULL);
  const cm__fn *f = g_hash_table_lookup(r->by_name, name);
  if (!f || f->kind != kind) {
    fprintf(stderr, "compute: function '%s' is not registered as kind %d\n",
            name, (int)kind);
  }
  SL_ASSERT(f != NULL);
  SL_ASSERT(f->kind == kind);
  return f;
}

static gint compare_fn_names(gconstpointer a, gconstpointer b) {
  const cm__fn *fa = *(const cm__fn *const *)a;
  const cm__fn *fb = *(const cm__fn *const *)b;
  return strcmp(fa->name, fb->name);
}

uint64_t cm_registry_fingerprint(const cm_registry *r) {
  SL_ASSERT(r != NULL);
  GPtrArray *names = g_ptr_array_new();
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init(&it, r->by_name);
  while (g_hash_table_iter_next(&it, &key, &value))
    g_ptr_array_add(names, value);
  /* Sorted, so the hash table's iteration order does not leak. */
  g_ptr_array_sort(names, compare_fn_names);
  uint64_t h = 0x5111ce;
  for (guint i = 0; i < names->len; i++) {
    const cm__fn *f = g_ptr_array_index(names, i);
    h = cm__hash64((const uint8_t *)f->name, strlen(f->name), h) + f->kind;
  }
  g_ptr_array_free(names, TRUE);
  return h;
}

/* ------------------------------------------------------------- builtins */

/* Wraps on overflow (unsigned arithmetic), like the shuffle's in-place
 * fold of this builtin. */
static void sum_i64(cm_bytes a, cm_bytes b, cm_bytes env, cm_buf *out) {
  uint64_t sum = (uint64_t)cm_i64_get(a) + (uint64_t)cm_i64_get(b);
  cm_buf_put_i64(out, (int64_t)sum);
}

static void sum_f64(cm_bytes a, cm_bytes b, cm_bytes env, cm_buf *out) {
  cm_buf_put_f64(out, cm_f64_get(a) + cm_f64_get(b));
}

static void min_i64(cm_bytes a, cm_bytes b, cm_bytes env, cm_buf *out) {
  int64_t x = cm_i64_get(a), y = cm_i64_get(b);
  cm_buf_put_i64(out, x < y ? x : y);
}

static void max_i64(cm_bytes a, cm_bytes b, cm_bytes env, cm_buf *out) {
  int64_t x = cm_i64_get(a), y = cm_i64_get(b);
  cm_buf_put_i64(out, x > y ? x : y);
}

static void keep_first(cm_bytes a, cm_bytes b, cm_bytes env, cm_buf *out) {
  cm_buf_append(out, a.ptr, a.len);
}

static void swap(const cm_rec *in, cm_bytes env, cm_emit *out) {
  cm_emit_kv(out, in->val, in->key);
}

static void key_only(const cm_rec *in, cm_bytes env, cm_emit *out) {
  cm_emit_kv(out, in->key, CM_NO_BYTES);
}

static void one_i64(const cm_rec *in, cm_bytes env, cm_emit *out) {
  uint8_t one[CM_I64_BYTES];
  cm_i64_put(one, 1);
  cm_emit_kv(out, in->key, cm_bytes_of(one, sizeof one));
}

/* Decimal, like "%lld", without printf's per-call cost (it runs once per
 * output record of wordcount-like jobs). */
static void i64_to_text(const cm_rec *in, cm_bytes env, cm_emit *out) {
  int64_t v = cm_i64_get(in->val);
  uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  char text[24];
  size_t at = sizeof text;
  do {
    text[--at] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0)
    text[--at] = '-';
  cm_emit_kv(out, in->key, cm_bytes_of(text + at, sizeof text - at));
}

static void f64_to_text(const cm_rec *in, cm_bytes env, cm_emit *out) {
  char text[40];
  int n = snprintf(text, sizeof text, "%.17g", cm_f64_get(in->val));
  cm_emit_kv(out, in->key, cm_bytes_of(text, (size_t)n));
}

/* distinct over whole records: the record becomes the key. */
static void distinct_wrap(const cm_rec *in, cm_bytes env, cm_emit *out) {
  uint8_t hdr[4];
  cm__put_u32(hdr, (uint32_t)in->key.len);
  /* [klen][key][val] built in a small stack-or-heap buffer */
  size_t n = 4 + in->key.len + in->val.len;
  uint8_t stack[256];
  uint8_t *buf = n <= sizeof stack ? stack : g_malloc(n);
  memcpy(buf, hdr, 4);
  if (in->key.len)
    memcpy(buf + 4, in->key.ptr, in->key.len);
  if (in->val.len)
    memcpy(buf + 4 + in->key.len, in->val.ptr, in->val.len);
  cm_emit_kv(out, cm_bytes_of(buf, n), CM_NO_BYTES);
  if (buf != stack)
    g_free(buf);
}

static void distinct_unwrap(const cm_rec *in, cm_bytes env, cm_emit *out) {
  SL_ASSERT(in->key.len >= 4);
  uint32_t kl = cm__get_u32(in->key.ptr);
  SL_ASSERT(in->key.len - 4 >= kl);
  cm_emit_kv(out, cm_bytes_of(in->key.ptr + 4, kl),
             cm_bytes_of(in->key.ptr + 4 + kl, in->key.len - 4 - kl));
}

static void join_emit(const cm_rec *in, cm_emit *out, bool left_outer) {
  cm_bytes la, lb;
  cm_cogroup_split(in->val, &la, &lb);
  cm_buf pair;
  cm__buf_init(&pair);
  cm_bytes a;
  while (cm_list_next(&la, &a)) {
    cm_bytes cursor = lb, b;
    bool any = false;
    while (cm_list_next(&cursor, &b)) {
      cm_buf_clear(&pair);
      cm_pair_put(&pair, a, b, true);
      cm_emit_kv(out, in->key, cm_buf_bytes(&pair));
      any = true;
    }
    if (!any && left_outer) {
      cm_buf_clear(&pair);
      cm_pair_put(&pair, a, CM_NO_BYTES, false);
      cm_emit_kv(out, in->key, cm_buf_bytes(&pair));
    }
  }
  cm__buf_free(&pair);
}

static void join_inner(const cm_rec *in, cm_bytes env, cm_emit *out) {
  join_emit(in, out, false);
}

static void join_left(const cm_rec *in, cm_bytes env, cm_emit *out) {
  join_emit(in, out, true);
}

cm_registry *cm_registry_new(void) {
  cm_registry *r = g_new0(cm_registry, 1);
  r->by_name = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, fn_free);
  cm_register_merge(r, "cm.sum_i64", sum_i64);
  cm__fn *sum = g_hash_table_lookup(r->by_name, "cm.sum_i64");
  sum->builtin = CM__BUILTIN_SUM_I64;
  cm_register_merge(r, "cm.sum_f64", sum_f64);
  cm_register_merge(r, "cm.min_i64", min_i64);
  cm_register_merge(r, "cm.max_i64", max_i64);
  cm_register_merge(r, "cm.keep_first", keep_first);
  cm_register_map(r, "cm.swap", swap);
  cm_register_map(r, "cm.key_only", key_only);
  cm_register_map(r, "cm.one_i64", one_i64);
  cm_register_map(r, "cm.i64_to_text", i64_to_text);
  cm_register_map(r, "cm.f64_to_text", f64_to_text);
  cm_register_map(r, "cm.distinct_wrap", distinct_wrap);
  cm_register_map(r, "cm.distinct_unwrap", distinct_unwrap);
  cm_register_map(r, "cm.join_inner", join_inner);
  cm_register_map(r, "cm.join_left", join_left);
  return r;
}

void cm_registry_free(cm_registry *r) {
  if (!r)
    return;
  g_hash_table_destroy(r->by_name);
  g_free(r);
}
