/*
 * record.c — records, batches, buffers and typed encodings.
 *
 * A batch is Spark's serialized record buffer (what UnsafeShuffleWriter
 * sorts without deserializing): records back to back in one allocation, so
 * a partition of a million words costs a handful of reallocations, not a
 * million mallocs.
 */
#include <math.h>
#include <string.h>

#include "base/assert.h"
#include "compute/internal.h"

GQuark cm_error_quark(void) { return g_quark_from_static_string("cm-error"); }

/* ---------------------------------------------------------------- bytes */

cm_bytes cm_str(const char *s) {
  SL_ASSERT(s != NULL);
  return (cm_bytes){(const uint8_t *)s, strlen(s)};
}

cm_bytes cm_bytes_of(const void *ptr, size_t len) {
  SL_ASSERT(ptr != NULL || len == 0);
  return (cm_bytes){(const uint8_t *)ptr, len};
}

int cm_bytes_cmp(cm_bytes a, cm_bytes b) {
  size_t n = a.len < b.len ? a.len : b.len;
  int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
  if (c != 0)
    return c;
  return a.len < b.len ? -1 : a.len > b.len ? 1 : 0;
}

bool cm_bytes_eq(cm_bytes a, cm_bytes b) {
  return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* Big-endian with the sign bit flipped: memcmp order is numeric order. */
void cm_i64_put(uint8_t out[CM_I64_BYTES], int64_t v) { cm__i64_store(out, v); }

int64_t cm_i64_get(cm_bytes b) {
  SL_ASSERT(b.len == CM_I64_BYTES);
  return cm__i64_load(b.ptr);
}

/* IEEE order trick: flip all bits of negatives, only the sign of
 * positives. NaN sorts after +inf (or before -inf, by its sign). */
void cm_f64_put(uint8_t out[CM_I64_BYTES], double v) {
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  u = (u >> 63) ? ~u : u ^ (UINT64_C(1) << 63);
  for (int i = 7; i >= 0; i--) {
    out[i] = (uint8_t)u;
    u >>= 8;
  }
}

double cm_f64_get(cm_bytes b) {
  SL_ASSERT(b.len == CM_I64_BYTES);
  uint64_t u = 0;
  for (int i = 0; i < 8; i++)
    u = (u << 8) | b.ptr[i];
  u = (u >> 63) ? u ^ (UINT64_C(1) << 63) : ~u;
  double v;
  memcpy(&v, &u, sizeof v);
  return v;
}

/* ------------------------------------------------------------- buffers */

void cm__buf_init(cm_buf *b) {
  SL_ASSERT(b != NULL);
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}

void cm__buf_free(cm_buf *b) {
  if (!b)
    return;
  g_free(b->data);
  cm__buf_init(b);
}

void cm__buf_grow(cm_buf *b, size_t extra) {
  SL_ASSERT(b->len <= b->cap);
  if (b->cap - b->len >= extra)
    return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap - b->len < extra) {
    SL_ASSERT(cap <= SIZE_MAX / 2);
    cap *= 2;
  }
  b->data = g_realloc(b->data, cap);
  b->cap = cap;
}

void cm_buf_clear(cm_buf *b) {
  SL_ASSERT(b != NULL);
  b->len = 0;
}

void cm_buf_append(cm_buf *b, const void *ptr, size_t len) {
  SL_ASSERT(b != NULL);
  SL_ASSERT(ptr != NULL || len == 0);
  if (len == 0)
    return;
  cm__buf_reserve(b, len);
  memcpy(b->data + b->len, ptr, len);
  b->len += len;
}

void cm_buf_set(cm_buf *b, cm_bytes bytes) {
  /* bytes may point into b itself: move before truncating. */
  SL_ASSERT(b != NULL);
  if (bytes.len && bytes.ptr >= b->data && bytes.ptr < b->data + b->cap) {
    memmove(b->data, bytes.ptr, bytes.len);
    b->len = bytes.len;
    return;
  }
  b->len = 0;
  cm_buf_append(b, bytes.ptr, bytes.len);
}

void cm_buf_put_i64(cm_buf *b, int64_t v) {
  uint8_t enc[CM_I64_BYTES];
  cm_i64_put(enc, v);
  cm_buf_append(b, enc, sizeof enc);
}

void cm_buf_put_f64(cm_buf *b, double v) {
  uint8_t enc[CM_I64_BYTES];
  cm_f64_put(enc, v);
  cm_buf_append(b, enc, sizeof enc);
}

cm_bytes cm_buf_bytes(const cm_buf *b) {
  SL_ASSERT(b != NULL);
  return (cm_bytes){b->data, b->len};
}

/* ---------------------------------------------------------------- lists */

bool cm_list_next(cm_bytes *list, cm_bytes *elem) {
  SL_ASSERT(list != NULL);
  SL_ASSERT(elem != NULL);
  if (list->len == 0)
    return false;
  SL_ASSERT(list->len >= 4);
  uint32_t n = cm__get_u32(list->ptr);
  SL_ASSERT(list->len - 4 >= n);
  elem->ptr = list->ptr + 4;
  elem->len = n;
  list->ptr += 4 + (size_t)n;
  list->len -= 4 + (size_t)n;
  return true;
}

size_t cm_list_count(cm_bytes list) {
  size_t n = 0;
  cm_bytes e;
  while (cm_list_next(&list, &e))
    n++;
  return n;
}

void cm_list_append(cm_buf *list, cm_bytes elem) {
  SL_ASSERT(elem.len <= CM__REC_FIELD_BYTES_MAX);
  uint8_t hdr[4];
  cm__put_u32(hdr, (uint32_t)elem.len);
  cm_buf_append(list, hdr, 4);
  cm_buf_append(list, elem.ptr, elem.len);
}

void cm_cogroup_split(cm_bytes val, cm_bytes *list_a, cm_bytes *list_b) {
  SL_ASSERT(val.len >= 4);
  uint32_t na = cm__get_u32(val.ptr);
  SL_ASSERT(val.len - 4 >= na);
  *list_a = (cm_bytes){val.ptr + 4, na};
  *list_b = (cm_bytes){val.ptr + 4 + na, val.len - 4 - na};
}

void cm_pair_split(cm_bytes val, cm_bytes *left, cm_bytes *right,
                   bool *has_right) {
  SL_ASSERT(val.len >= 5);
  uint32_t nl = cm__get_u32(val.ptr + 1);
  SL_ASSERT(val.len - 5 >= nl);
  *has_right = val.ptr[0] != 0;
  *left = (cm_bytes){val.ptr + 5, nl};
  *right = (cm_bytes){val.ptr + 5 + nl, val.len - 5 - nl};
}

void cm_pair_put(cm_buf *out, cm_bytes left, cm_bytes right, bool has_right) {
  SL_ASSERT(left.len <= CM__REC_FIELD_BYTES_MAX);
  uint8_t hdr[5];
  hdr[0] = has_right ? 1 : 0;
  cm__put_u32(hdr + 1, (uint32_t)left.len);
  cm_buf_append(out, hdr, 5);
  cm_buf_append(out, left.ptr, left.len);
  cm_buf_append(out, right.ptr, right.len);
}

/* -------------------------------------------------------------- batches */

void cm__batch_init(cm__batch *b) {
  cm__buf_init(&b->buf);
  b->count = 0;
}

void cm__batch_free(cm__batch *b) {
  if (!b)
    return;
  cm__buf_free(&b->buf);
  b->count = 0;
}

void cm__batch_clear(cm__batch *b) {
  b->buf.len = 0;
  b->count = 0;
}

size_t cm__rec_size(cm_rec r) {
  return CM__REC_HEADER_BYTES + r.key.len + r.val.len;
}

void cm__batch_append_batch(cm__batch *b, const cm__batch *src) {
  cm_buf_append(&b->buf, src->buf.data, src->buf.len);
  b->count += src->count;
}

/* -------------------------------------------------------------- records */

cm_records *cm__records_from_batch(cm__batch *b) {
  cm_records *r = g_new0(cm_records, 1);
  r->batch = *b;
  cm__batch_init(b);
  r->offsets = g_array_sized_new(FALSE, FALSE, sizeof(size_t),
                                 (guint)r->batch.count);
  size_t pos = 0;
  while (pos < r->batch.buf.len) {
    cm_rec rec;
    g_array_append_val(r->offsets, pos);
    pos += cm__rec_decode(r->batch.buf.data + pos, &rec);
  }
  SL_ASSERT(pos == r->batch.buf.len);
  SL_ASSERT(r->offsets->len == r->batch.count);
  return r;
}

size_t cm_records_count(const cm_records *r) {
  SL_ASSERT(r != NULL);
  return r->offsets->len;
}

cm_rec cm_records_get(const cm_records *r, size_t i) {
  SL_ASSERT(r != NULL);
  SL_ASSERT(i < r->offsets->len);
  cm_rec rec;
  cm__rec_decode(r->batch.buf.data + g_array_index(r->offsets, size_t, i),
                 &rec);
  return rec;
}

size_t cm_records_bytes(const cm_records *r) {
  SL_ASSERT(r != NULL);
  return r->batch.buf.len;
}

void cm_records_free(cm_records *r) {
  if (!r)
    return;
  cm__batch_free(&r->batch);
  g_array_free(r->offsets, TRUE);
  g_free(r);
}

/* ---------------------------------------------------------------- hash */

uint64_t cm__mix64(uint64_t x) {
  x ^= x >> 30;
  x *= UINT64_C(0xbf58476d1ce4e5b9);
  x ^= x >> 27;
  x *= UINT64_C(0x94d049bb133111eb);
  x ^= x >> 31;
  return x;
}
