/*
 * codec.c — the one generic encoder/decoder for every Kafka message.
 *
 * Kafka's generator writes a Java class per message; we keep the schema as
 * data (schemas_gen.c) and walk it. A struct is its fields in schema order,
 * each sent when the version is in the field's `versions` and not in its
 * `tagged` range; in a flexible version the struct then ends with its
 * tagged-field section (uvarint count; per field uvarint tag, uvarint size,
 * payload), tags ascending.
 *
 * Encodings by type, classic / flexible:
 *   string   int16 len (-1 null)      / uvarint len+1 (0 null)
 *   bytes    int32 len (-1 null)      / uvarint len+1 (0 null)
 *   records  as nullable bytes
 *   array    int32 count (-1 null)    / uvarint count+1 (0 null)
 *   others   fixed width, big-endian (bool is one byte, non-zero = true)
 *
 * Recursion: dec_struct/enc_struct/eq_struct call themselves once per
 * nesting level of the descriptor (bounded by PROTO_NESTING_MAX and checked
 * at compile time against the generated schemas), never per element or per
 * input byte: arrays are loops.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/varint.h"
#include "broker/proto/proto.h"
#include "broker/proto/proto_internal.h"

/* ---- slots: typed access to a field inside a C struct ---- */

typedef struct array_slot {
  void *items;
  int32_t count;
} array_slot;

/* Every generated array type has this layout (pointer, then count). */
_Static_assert(offsetof(proto_int32_array, count) ==
                   offsetof(array_slot, count),
               "array layout");
_Static_assert(sizeof(proto_int32_array) == sizeof(array_slot), "array layout");

static array_slot array_load(const uint8_t *slot) {
  array_slot a;
  memcpy(&a, slot, sizeof a);
  return a;
}

static void array_store(uint8_t *slot, void *items, int32_t count) {
  array_slot a = {items, count};
  memcpy(slot, &a, sizeof a);
}

static size_t value_size(proto_type t, const proto_struct *sub) {
  switch (t) {
  case PROTO_BOOL:
    return sizeof(bool);
  case PROTO_INT8:
    return 1;
  case PROTO_INT16:
  case PROTO_UINT16:
    return 2;
  case PROTO_INT32:
  case PROTO_UINT32:
    return 4;
  case PROTO_INT64:
    return 8;
  case PROTO_FLOAT64:
    return sizeof(double);
  case PROTO_UUID:
    return sizeof(proto_uuid);
  case PROTO_STRING:
    return sizeof(proto_str);
  case PROTO_BYTES:
  case PROTO_RECORDS:
    return sizeof(proto_bytes);
  case PROTO_STRUCT:
    return sub->size;
  }
  SL_ASSERT(!"unknown proto_type");
  return 0;
}

static bool field_sent(const proto_field *f, int16_t version, bool flexible) {
  return proto_vrange_has(f->versions, version) &&
         !(flexible && proto_vrange_has(f->tagged, version));
}

static bool field_tagged(const proto_field *f, int16_t version, bool flexible) {
  return flexible && proto_vrange_has(f->versions, version) &&
         proto_vrange_has(f->tagged, version);
}

/* ---- defaults ---- */

static const proto_uuid uuid_zero;

static void set_default(const proto_field *f, uint8_t *slot, int depth);

static void struct_defaults(const proto_struct *s, uint8_t *p, int depth) {
  SL_ASSERT(depth <= PROTO_NESTING_MAX);
  memset(p, 0, s->size);
  for (uint16_t i = 0; i < s->field_count; i++)
    set_default(&s->fields[i], p + s->fields[i].offset, depth);
}

static void set_default(const proto_field *f, uint8_t *slot, int depth) {
  if (f->is_array) {
    array_store(slot, NULL, f->default_null ? -1 : 0);
    return;
  }
  switch (f->type) {
  case PROTO_BOOL: {
    bool v = f->default_int != 0;
    memcpy(slot, &v, sizeof v);
    break;
  }
  case PROTO_INT8: {
    int8_t v = (int8_t)f->default_int;
    memcpy(slot, &v, sizeof v);
    break;
  }
  case PROTO_INT16: {
    int16_t v = (int16_t)f->default_int;
    memcpy(slot, &v, sizeof v);
    break;
  }
  case PROTO_UINT16: {
    uint16_t v = (uint16_t)f->default_int;
    memcpy(slot, &v, sizeof v);
    break;
  }
  case PROTO_INT32: {
    int32_t v = (int32_t)f->default_int;
    memcpy(slot, &v, sizeof v);
    break;
  }
  case PROTO_UINT32: {
    uint32_t v = (uint32_t)f->default_int;
    memcpy(slot, &v, sizeof v);
    break;
  }
  case PROTO_INT64: {
    int64_t v = f->default_int;
    memcpy(slot, &v, sizeof v);
    break;
  }
  case PROTO_FLOAT64:
    memcpy(slot, &f->default_float, sizeof(double));
    break;
  case PROTO_UUID:
    memset(slot, 0, sizeof(proto_uuid));
    break;
  case PROTO_STRING: {
    proto_str v = PROTO_STR_NULL;
    if (!f->default_null) {
      const char *d = f->default_str ? f->default_str : "";
      v = (proto_str){d, (int32_t)strlen(d)};
    }
    memcpy(slot, &v, sizeof v);
    break;
  }
  case PROTO_BYTES:
  case PROTO_RECORDS: {
    proto_bytes v = f->default_null ? PROTO_BYTES_NULL : (proto_bytes){NULL, 0};
    memcpy(slot, &v, sizeof v);
    break;
  }
  case PROTO_STRUCT:
    struct_defaults(f->sub, slot, depth + 1);
    break;
  }
}

void proto_set_defaults(const proto_struct *s, void *p) {
  SL_ASSERT(s && p);
  struct_defaults(s, p, 1);
}

void *proto_new(proto_arena *a, const proto_struct *s) {
  SL_ASSERT(a && s);
  void *p = proto_arena_alloc(a, s->size);
  if (p)
    struct_defaults(s, p, 1);
  return p;
}

void *proto_new_array(proto_arena *a, const proto_struct *s, int32_t count) {
  SL_ASSERT(a && s && count >= 0);
  if ((size_t)count > SIZE_MAX / s->size)
    return NULL;
  uint8_t *p = proto_arena_alloc(a, (size_t)count * s->size);
  if (!p)
    return NULL;
  for (int32_t i = 0; i < count; i++)
    struct_defaults(s, p + (size_t)i * s->size, 1);
  return p;
}

/* True when the value at slot equals the field's default (used to omit
 * tagged fields, as Kafka's generated writers do). */
static bool is_default(const proto_field *f, const uint8_t *slot, int depth);

static bool struct_is_default(const proto_struct *s, const uint8_t *p,
                              int depth) {
  SL_ASSERT(depth <= PROTO_NESTING_MAX);
  for (uint16_t i = 0; i < s->field_count; i++)
    if (!is_default(&s->fields[i], p + s->fields[i].offset, depth))
      return false;
  return true;
}

static bool is_default(const proto_field *f, const uint8_t *slot, int depth) {
  if (f->is_array)
    return array_load(slot).count == (f->default_null ? -1 : 0);
  switch (f->type) {
  case PROTO_BOOL: {
    bool v;
    memcpy(&v, slot, sizeof v);
    return v == (f->default_int != 0);
  }
  case PROTO_INT8: {
    int8_t v;
    memcpy(&v, slot, sizeof v);
    return v == (int8_t)f->default_int;
  }
  case PROTO_INT16: {
    int16_t v;
    memcpy(&v, slot, sizeof v);
    return v == (int16_t)f->default_int;
  }
  case PROTO_UINT16: {
    uint16_t v;
    memcpy(&v, slot, sizeof v);
    return v == (uint16_t)f->default_int;
  }
  case PROTO_INT32: {
    int32_t v;
    memcpy(&v, slot, sizeof v);
    return v == (int32_t)f->default_int;
  }
  case PROTO_UINT32: {
    uint32_t v;
    memcpy(&v, slot, sizeof v);
    return v == (uint32_t)f->default_int;
  }
  case PROTO_INT64: {
    int64_t v;
    memcpy(&v, slot, sizeof v);
    return v == f->default_int;
  }
  case PROTO_FLOAT64:
    return memcmp(slot, &f->default_float, sizeof(double)) == 0;
  case PROTO_UUID:
    return memcmp(slot, &uuid_zero, sizeof uuid_zero) == 0;
  case PROTO_STRING: {
    proto_str v;
    memcpy(&v, slot, sizeof v);
    if (f->default_null || v.len < 0)
      return f->default_null && v.len < 0;
    const char *d = f->default_str ? f->default_str : "";
    return (size_t)v.len == strlen(d) && memcmp(v.data, d, (size_t)v.len) == 0;
  }
  case PROTO_BYTES:
  case PROTO_RECORDS: {
    proto_bytes v;
    memcpy(&v, slot, sizeof v);
    return f->default_null ? v.len < 0 : v.len == 0;
  }
  case PROTO_STRUCT:
    return struct_is_default(f->sub, slot, depth + 1);
  }
  return false;
}

/* ---- decoding ---- */

typedef struct dec_ctx {
  buf_reader_t r;
  proto_arena *arena;
  int16_t version;
  bool flexible;
  int err; /* first error: PROTO_ERR_DECODE or PROTO_ERR_TOO_BIG */
} dec_ctx;

static bool dec_failed(dec_ctx *c) {
  if (c->r.error && !c->err)
    c->err = PROTO_ERR_DECODE;
  return c->err != 0;
}

static void dec_fail(dec_ctx *c, int err) {
  if (!c->err)
    c->err = err;
  buf_reader_fail(&c->r);
}

/* Smallest number of bytes one value of this type takes on the wire in
 * this version: bounds array counts by the bytes actually present. */
static size_t min_wire_bytes(const proto_struct *s, int16_t version,
                             bool flexible, int depth);

static size_t value_min_wire_bytes(proto_type t, bool is_array,
                                   const proto_struct *sub, int16_t version,
                                   bool flexible, int depth) {
  if (is_array)
    return flexible ? 1 : 4;
  switch (t) {
  case PROTO_STRING:
    return flexible ? 1 : 2;
  case PROTO_BYTES:
  case PROTO_RECORDS:
    return flexible ? 1 : 4;
  case PROTO_STRUCT:
    return min_wire_bytes(sub, version, flexible, depth + 1);
  case PROTO_BOOL:
  case PROTO_INT8:
    return 1;
  default:
    return value_size(t, sub);
  }
}

static size_t min_wire_bytes(const proto_struct *s, int16_t version,
                             bool flexible, int depth) {
  SL_ASSERT(depth <= PROTO_NESTING_MAX);
  size_t n = flexible ? 1 : 0;
  for (uint16_t i = 0; i < s->field_count; i++) {
    const proto_field *f = &s->fields[i];
    if (field_sent(f, version, flexible))
      n += value_min_wire_bytes(f->type, f->is_array, f->sub, version, flexible,
                                depth);
  }
  return n;
}

/* A length or count prefix: -1 for null, else 0..INT32_MAX; sets an error
 * (returning -1) for anything else. classic_bytes is the width of the
 * classic prefix (2 for strings, 4 for bytes and arrays). */
static int64_t dec_length(dec_ctx *c, int classic_bytes) {
  int64_t n;
  if (c->flexible) {
    uint32_t u = buf_get_uvarint32(&c->r);
    n = (int64_t)u - 1;
  } else if (classic_bytes == 2) {
    n = (int16_t)buf_get_be16(&c->r);
  } else {
    n = (int32_t)buf_get_be32(&c->r);
  }
  if (c->r.error)
    return -1;
  if (n < -1 || n > INT32_MAX) {
    dec_fail(c, PROTO_ERR_DECODE);
    return -1;
  }
  return n;
}

static void dec_struct(dec_ctx *c, const proto_struct *s, uint8_t *dst,
                       int depth);

/* One value (not an array) into slot. */
static void dec_value(dec_ctx *c, proto_type t, const proto_struct *sub,
                      bool nullable, uint8_t *slot, int depth) {
  switch (t) {
  case PROTO_BOOL: {
    bool v = buf_get_u8(&c->r) != 0;
    memcpy(slot, &v, sizeof v);
    return;
  }
  case PROTO_INT8: {
    int8_t v = (int8_t)buf_get_u8(&c->r);
    memcpy(slot, &v, sizeof v);
    return;
  }
  case PROTO_INT16:
  case PROTO_UINT16: {
    uint16_t v = buf_get_be16(&c->r);
    memcpy(slot, &v, sizeof v);
    return;
  }
  case PROTO_INT32:
  case PROTO_UINT32: {
    uint32_t v = buf_get_be32(&c->r);
    memcpy(slot, &v, sizeof v);
    return;
  }
  case PROTO_INT64:
  case PROTO_FLOAT64: {
    uint64_t v = buf_get_be64(&c->r);
    memcpy(slot, &v, sizeof v);
    return;
  }
  case PROTO_UUID: {
    const uint8_t *p = buf_get_bytes(&c->r, sizeof(proto_uuid));
    if (p)
      memcpy(slot, p, sizeof(proto_uuid));
    return;
  }
  case PROTO_STRING: {
    int64_t n = dec_length(c, 2);
    if (dec_failed(c))
      return;
    if (n < 0 && !nullable) {
      dec_fail(c, PROTO_ERR_DECODE);
      return;
    }
    proto_str v = PROTO_STR_NULL;
    if (n >= 0) {
      const uint8_t *p = buf_get_bytes(&c->r, (size_t)n);
      if (!p)
        return;
      bool ok;
      v = proto_arena_str(c->arena, (const char *)p, (int32_t)n, &ok);
      if (!ok) {
        dec_fail(c, PROTO_ERR_TOO_BIG);
        return;
      }
    }
    memcpy(slot, &v, sizeof v);
    return;
  }
  case PROTO_BYTES:
  case PROTO_RECORDS: {
    int64_t n = dec_length(c, 4);
    if (dec_failed(c))
      return;
    if (n < 0 && !nullable) {
      dec_fail(c, PROTO_ERR_DECODE);
      return;
    }
    proto_bytes v = PROTO_BYTES_NULL;
    if (n >= 0) {
      const uint8_t *p = buf_get_bytes(&c->r, (size_t)n);
      if (!p)
        return;
      v = (proto_bytes){n ? p : NULL, (int32_t)n};
    }
    memcpy(slot, &v, sizeof v);
    return;
  }
  case PROTO_STRUCT:
    dec_struct(c, sub, slot, depth + 1);
    return;
  }
}

static void dec_field(dec_ctx *c, const proto_field *f, uint8_t *slot,
                      int depth) {
  bool nullable = proto_vrange_has(f->nullable, c->version);
  if (!f->is_array) {
    dec_value(c, f->type, f->sub, nullable, slot, depth);
    return;
  }
  int64_t count = dec_length(c, 4);
  if (dec_failed(c))
    return;
  if (count < 0) {
    if (!nullable)
      dec_fail(c, PROTO_ERR_DECODE);
    else
      array_store(slot, NULL, -1);
    return;
  }
  size_t elem_wire = value_min_wire_bytes(f->type, false, f->sub, c->version,
                                          c->flexible, depth);
  if (elem_wire == 0)
    elem_wire = 1; /* Kafka's own bound: one byte per element */
  if ((uint64_t)count > buf_reader_left(&c->r) / elem_wire) {
    dec_fail(c, PROTO_ERR_DECODE);
    return;
  }
  size_t elem = value_size(f->type, f->sub);
  uint8_t *items = NULL;
  if (count > 0) {
    items = proto_arena_alloc(c->arena, (size_t)count * elem);
    if (!items) {
      dec_fail(c, PROTO_ERR_TOO_BIG);
      return;
    }
  }
  for (int64_t i = 0; i < count && !dec_failed(c); i++)
    dec_value(c, f->type, f->sub, false, items + (size_t)i * elem, depth);
  array_store(slot, items, (int32_t)count);
}

/* The tagged-field section of struct s: known tags decode into their
 * fields (each payload must be consumed exactly), unknown ones are
 * skipped. */
static void dec_tagged(dec_ctx *c, const proto_struct *s, uint8_t *dst,
                       int depth) {
  uint32_t n = buf_get_uvarint32(&c->r);
  if (dec_failed(c))
    return;
  /* Each tagged field takes at least two bytes (tag, size). */
  if (n > buf_reader_left(&c->r) / 2) {
    dec_fail(c, PROTO_ERR_DECODE);
    return;
  }
  for (uint32_t i = 0; i < n && !dec_failed(c); i++) {
    uint32_t tag = buf_get_uvarint32(&c->r);
    uint32_t size = buf_get_uvarint32(&c->r);
    const uint8_t *payload = buf_get_bytes(&c->r, size);
    if (dec_failed(c))
      return;
    const proto_field *f = NULL;
    for (uint16_t k = 0; k < s->field_count && !f; k++)
      if (field_tagged(&s->fields[k], c->version, c->flexible) &&
          (uint32_t)s->fields[k].tag == tag)
        f = &s->fields[k];
    if (!f)
      continue; /* unknown tag: skipped, as Kafka's readers do */
    dec_ctx sub = *c;
    buf_reader_init(&sub.r, payload, size);
    dec_field(&sub, f, dst + f->offset, depth);
    if (!dec_failed(&sub) && buf_reader_left(&sub.r) != 0)
      dec_fail(&sub, PROTO_ERR_DECODE);
    if (sub.err)
      dec_fail(c, sub.err);
  }
}

static void dec_struct(dec_ctx *c, const proto_struct *s, uint8_t *dst,
                       int depth) {
  SL_ASSERT(depth <= PROTO_NESTING_MAX);
  for (uint16_t i = 0; i < s->field_count; i++) {
    const proto_field *f = &s->fields[i];
    uint8_t *slot = dst + f->offset;
    if (!field_sent(f, c->version, c->flexible))
      set_default(f, slot, depth);
    else
      dec_field(c, f, slot, depth);
    if (dec_failed(c))
      return;
  }
  if (c->flexible)
    dec_tagged(c, s, dst, depth);
}

int proto_decode_struct(const proto_struct *s, int16_t version, bool flexible,
                        const uint8_t *data, size_t len, proto_arena *a,
                        void *dst) {
  SL_ASSERT(s && a && dst && (data || len == 0));
  dec_ctx c = {.arena = a, .version = version, .flexible = flexible};
  buf_reader_init(&c.r, data, len);
  memset(dst, 0, s->size);
  dec_struct(&c, s, dst, 1);
  if (dec_failed(&c))
    return c.err;
  if (buf_reader_left(&c.r) != 0)
    return PROTO_ERR_DECODE;
  return 0;
}

int proto_decode(const proto_message *m, int16_t version, const uint8_t *p,
                 size_t len, proto_arena *a, void **out) {
  SL_ASSERT(m && a && out && (p || len == 0));
  *out = NULL;
  if (!proto_vrange_has(m->versions, version))
    return PROTO_ERR_UNSUPPORTED_VERSION;
  void *dst = proto_arena_alloc(a, m->body->size);
  if (!dst)
    return PROTO_ERR_TOO_BIG;
  int rc = proto_decode_struct(
      m->body, version, proto_message_flexible(m, version), p, len, a, dst);
  if (rc == 0)
    *out = dst;
  return rc;
}

/* ---- encoding ---- */

typedef struct enc_ctx {
  buf_t *out;
  proto_pieces *pieces; /* NULL: records are copied into out */
  int16_t version;
  bool flexible;
  int err;
} enc_ctx;

static void pieces_add(proto_pieces *p, size_t at, const uint8_t *data,
                       size_t len) {
  if (p->count == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 16;
    SL_ASSERT(cap <= SIZE_MAX / sizeof *p->items);
    p->items = realloc(p->items, cap * sizeof *p->items);
    SL_ASSERT(p->items); /* out of memory aborts, as buf_t does */
    p->cap = cap;
  }
  SL_ASSERT(p->count == 0 || p->items[p->count - 1].at <= at);
  p->items[p->count++] = (proto_piece){at, data, len};
  p->bytes += len;
}

static void enc_length(enc_ctx *c, int64_t n, int classic_bytes) {
  if (c->flexible)
    buf_put_uvarint32(c->out, (uint32_t)(n + 1));
  else if (classic_bytes == 2)
    buf_put_be16(c->out, (uint16_t)(int16_t)n);
  else
    buf_put_be32(c->out, (uint32_t)(int32_t)n);
}

static void enc_struct(enc_ctx *c, const proto_struct *s, const uint8_t *p,
                       int depth);

static void enc_value(enc_ctx *c, proto_type t, const proto_struct *sub,
                      bool nullable, const uint8_t *slot, int depth) {
  switch (t) {
  case PROTO_BOOL: {
    bool v;
    memcpy(&v, slot, sizeof v);
    buf_put_u8(c->out, v ? 1 : 0);
    return;
  }
  case PROTO_INT8:
    buf_put_u8(c->out, *slot);
    return;
  case PROTO_INT16:
  case PROTO_UINT16: {
    uint16_t v;
    memcpy(&v, slot, sizeof v);
    buf_put_be16(c->out, v);
    return;
  }
  case PROTO_INT32:
  case PROTO_UINT32: {
    uint32_t v;
    memcpy(&v, slot, sizeof v);
    buf_put_be32(c->out, v);
    return;
  }
  case PROTO_INT64:
  case PROTO_FLOAT64: {
    uint64_t v;
    memcpy(&v, slot, sizeof v);
    buf_put_be64(c->out, v);
    return;
  }
  case PROTO_UUID:
    buf_append(c->out, slot, sizeof(proto_uuid));
    return;
  case PROTO_STRING: {
    proto_str v;
    memcpy(&v, slot, sizeof v);
    if (v.len < -1 || (v.len == -1 && !nullable) ||
        (!c->flexible && v.len > INT16_MAX) || (v.len > 0 && !v.data)) {
      c->err = PROTO_ERR_ENCODE;
      return;
    }
    enc_length(c, v.len, 2);
    if (v.len > 0)
      buf_append(c->out, v.data, (size_t)v.len);
    return;
  }
  case PROTO_BYTES:
  case PROTO_RECORDS: {
    proto_bytes v;
    memcpy(&v, slot, sizeof v);
    if (v.len < -1 || (v.len == -1 && !nullable) || (v.len > 0 && !v.data)) {
      c->err = PROTO_ERR_ENCODE;
      return;
    }
    enc_length(c, v.len, 4);
    if (v.len > 0 && t == PROTO_RECORDS && c->pieces &&
        (size_t)v.len >= c->pieces->min_bytes)
      pieces_add(c->pieces, c->out->len, v.data, (size_t)v.len);
    else if (v.len > 0)
      buf_append(c->out, v.data, (size_t)v.len);
    return;
  }
  case PROTO_STRUCT:
    enc_struct(c, sub, slot, depth + 1);
    return;
  }
}

static void enc_field(enc_ctx *c, const proto_field *f, const uint8_t *slot,
                      int depth) {
  bool nullable = proto_vrange_has(f->nullable, c->version);
  if (!f->is_array) {
    enc_value(c, f->type, f->sub, nullable, slot, depth);
    return;
  }
  array_slot a = array_load(slot);
  if (a.count < -1 || (a.count == -1 && !nullable) ||
      (a.count > 0 && !a.items)) {
    c->err = PROTO_ERR_ENCODE;
    return;
  }
  enc_length(c, a.count, 4);
  size_t elem = value_size(f->type, f->sub);
  for (int32_t i = 0; i < a.count && !c->err; i++)
    enc_value(c, f->type, f->sub, false,
              (const uint8_t *)a.items + (size_t)i * elem, depth);
}

/* The tagged fields of s that differ from their defaults, ascending by
 * tag, each as tag, size, payload. */
static void enc_tagged(enc_ctx *c, const proto_struct *s, const uint8_t *p,
                       int depth) {
  uint32_t n = 0;
  for (uint16_t i = 0; i < s->field_count; i++) {
    const proto_field *f = &s->fields[i];
    if (field_tagged(f, c->version, c->flexible) &&
        !is_default(f, p + f->offset, depth))
      n++;
  }
  buf_put_uvarint32(c->out, n);
  int64_t last_tag = -1;
  for (uint32_t k = 0; k < n && !c->err; k++) {
    /* The next tag above last_tag (tags are unique per struct). */
    const proto_field *next = NULL;
    for (uint16_t i = 0; i < s->field_count; i++) {
      const proto_field *f = &s->fields[i];
      if (field_tagged(f, c->version, c->flexible) && f->tag > last_tag &&
          (!next || f->tag < next->tag) && !is_default(f, p + f->offset, depth))
        next = f;
    }
    SL_ASSERT(next);
    last_tag = next->tag;
    buf_put_uvarint32(c->out, (uint32_t)next->tag);
    size_t start = c->out->len;
    /* The payload is measured and moved in out: no pieces inside it. */
    proto_pieces *pieces = c->pieces;
    c->pieces = NULL;
    enc_field(c, next, p + next->offset, depth);
    c->pieces = pieces;
    size_t payload_bytes = c->out->len - start;
    if (payload_bytes > UINT32_MAX) {
      c->err = PROTO_ERR_ENCODE;
      return;
    }
    /* Insert the payload's size in front of it. */
    size_t size_bytes = uvarint32_len((uint32_t)payload_bytes);
    buf_append_zeros(c->out, size_bytes);
    memmove(c->out->data + start + size_bytes, c->out->data + start,
            payload_bytes);
    uvarint32_encode(c->out->data + start, (uint32_t)payload_bytes);
  }
}

static void enc_struct(enc_ctx *c, const proto_struct *s, const uint8_t *p,
                       int depth) {
  SL_ASSERT(depth <= PROTO_NESTING_MAX);
  for (uint16_t i = 0; i < s->field_count && !c->err; i++) {
    const proto_field *f = &s->fields[i];
    if (field_sent(f, c->version, c->flexible))
      enc_field(c, f, p + f->offset, depth);
  }
  if (c->flexible && !c->err)
    enc_tagged(c, s, p, depth);
}

int proto_encode_struct(const proto_struct *s, int16_t version, bool flexible,
                        const void *p, buf_t *out) {
  SL_ASSERT(s && p && out);
  size_t start = out->len;
  enc_ctx c = {.out = out, .version = version, .flexible = flexible};
  enc_struct(&c, s, p, 1);
  if (c.err)
    out->len = start;
  return c.err;
}

int proto__encode_pieces(const proto_message *m, int16_t version,
                         const void *msg, buf_t *out, proto_pieces *pieces) {
  SL_ASSERT(m && msg && out);
  SL_ASSERT(proto_vrange_has(m->versions, version));
  size_t start = out->len;
  size_t count = pieces ? pieces->count : 0;
  size_t bytes = pieces ? pieces->bytes : 0;
  enc_ctx c = {.out = out,
               .pieces = pieces,
               .version = version,
               .flexible = proto_message_flexible(m, version)};
  enc_struct(&c, m->body, msg, 1);
  if (c.err) {
    out->len = start;
    if (pieces) {
      pieces->count = count;
      pieces->bytes = bytes;
    }
  }
  return c.err;
}

void proto_pieces_init(proto_pieces *p, size_t min_bytes) {
  SL_ASSERT(p && min_bytes >= 1);
  *p = (proto_pieces){.min_bytes = min_bytes};
}

void proto_pieces_clear(proto_pieces *p) {
  p->count = 0;
  p->bytes = 0;
}

void proto_pieces_free(proto_pieces *p) {
  if (!p)
    return;
  free(p->items);
  p->items = NULL;
  p->count = p->cap = p->bytes = 0;
}

size_t proto_pieces_spans(const uint8_t *bytes, size_t len,
                          const proto_pieces *pieces, proto_span *spans) {
  SL_ASSERT(bytes || len == 0);
  size_t n = 0, pos = 0;
  for (size_t i = 0; pieces && i < pieces->count; i++) {
    const proto_piece *pc = &pieces->items[i];
    SL_ASSERT(pc->at >= pos && pc->at <= len);
    if (pc->at > pos)
      spans[n++] = (proto_span){bytes + pos, pc->at - pos};
    if (pc->len > 0)
      spans[n++] = (proto_span){pc->data, pc->len};
    pos = pc->at;
  }
  if (len > pos)
    spans[n++] = (proto_span){bytes + pos, len - pos};
  return n;
}

int proto_encode(const proto_message *m, int16_t version, const void *msg,
                 buf_t *out) {
  SL_ASSERT(m && msg && out);
  SL_ASSERT(proto_vrange_has(m->versions, version));
  return proto_encode_struct(m->body, version,
                             proto_message_flexible(m, version), msg, out);
}

/* ---- equality ---- */

static bool eq_struct(const proto_struct *s, int16_t version, const uint8_t *a,
                      const uint8_t *b, int depth);

static bool eq_value(proto_type t, const proto_struct *sub, int16_t version,
                     const uint8_t *a, const uint8_t *b, int depth) {
  switch (t) {
  case PROTO_STRING: {
    proto_str x, y;
    memcpy(&x, a, sizeof x);
    memcpy(&y, b, sizeof y);
    return x.len == y.len &&
           (x.len <= 0 || memcmp(x.data, y.data, (size_t)x.len) == 0);
  }
  case PROTO_BYTES:
  case PROTO_RECORDS: {
    proto_bytes x, y;
    memcpy(&x, a, sizeof x);
    memcpy(&y, b, sizeof y);
    return x.len == y.len &&
           (x.len <= 0 || memcmp(x.data, y.data, (size_t)x.len) == 0);
  }
  case PROTO_BOOL: {
    bool x, y;
    memcpy(&x, a, sizeof x);
    memcpy(&y, b, sizeof y);
    return x == y;
  }
  case PROTO_STRUCT:
    return eq_struct(sub, version, a, b, depth + 1);
  default:
    return memcmp(a, b, value_size(t, sub)) == 0;
  }
}

static bool eq_struct(const proto_struct *s, int16_t version, const uint8_t *a,
                      const uint8_t *b, int depth) {
  SL_ASSERT(depth <= PROTO_NESTING_MAX);
  for (uint16_t i = 0; i < s->field_count; i++) {
    const proto_field *f = &s->fields[i];
    if (!proto_vrange_has(f->versions, version))
      continue;
    const uint8_t *x = a + f->offset, *y = b + f->offset;
    if (!f->is_array) {
      if (!eq_value(f->type, f->sub, version, x, y, depth))
        return false;
      continue;
    }
    array_slot ax = array_load(x), ay = array_load(y);
    if (ax.count != ay.count)
      return false;
    size_t elem = value_size(f->type, f->sub);
    for (int32_t k = 0; k < ax.count; k++)
      if (!eq_value(f->type, f->sub, version,
                    (const uint8_t *)ax.items + (size_t)k * elem,
                    (const uint8_t *)ay.items + (size_t)k * elem, depth))
        return false;
  }
  return true;
}

bool proto_equal(const proto_struct *s, int16_t version, const void *a,
                 const void *b) {
  SL_ASSERT(s && a && b);
  return eq_struct(s, version, a, b, 1);
}

/* ---- small helpers ---- */

proto_str proto_str_from(const char *s) {
  if (!s)
    return PROTO_STR_NULL;
  size_t n = strlen(s);
  SL_ASSERT(n <= INT32_MAX);
  return (proto_str){s, (int32_t)n};
}

bool proto_str_eq(proto_str s, const char *c) {
  if (s.len < 0 || !c)
    return false;
  return strlen(c) == (size_t)s.len && memcmp(s.data, c, (size_t)s.len) == 0;
}

void proto__skip_tagged_fields(buf_reader_t *r) {
  uint32_t n = buf_get_uvarint32(r);
  if (r->error)
    return;
  if (n > buf_reader_left(r) / 2) {
    buf_reader_fail(r);
    return;
  }
  for (uint32_t i = 0; i < n && !r->error; i++) {
    (void)buf_get_uvarint32(r); /* tag */
    uint32_t size = buf_get_uvarint32(r);
    if (!r->error)
      (void)buf_get_bytes(r, size);
  }
}

const char *proto_strerror(int err) {
  switch (err) {
  case PROTO_OK:
    return "success";
  case PROTO_ERR_DECODE:
    return "malformed message";
  case PROTO_ERR_FRAME_SIZE:
    return "frame size out of range";
  case PROTO_ERR_UNKNOWN_API:
    return "unknown API key";
  case PROTO_ERR_UNSUPPORTED_VERSION:
    return "unsupported API version";
  case PROTO_ERR_TOO_BIG:
    return "message needs more memory than allowed";
  case PROTO_ERR_ENCODE:
    return "value not encodable in this version";
  default:
    return "unknown proto error";
  }
}
