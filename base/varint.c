/*
 * varint.c — Kafka's UNSIGNED_VARINT, VARINT and VARLONG. See varint.h.
 *
 * Kafka uses unsigned varints for compact lengths and tagged fields in
 * flexible protocol versions, and zig-zag varints for the fields inside a
 * v2 record (length, timestamp delta, offset delta, key/value lengths).
 *
 * Decoding is strict where Kafka's own reader is lax: a 32-bit varint whose
 * fifth byte has bits above the 32nd (or a continuation bit) is rejected
 * rather than silently truncated, and likewise the tenth byte of a 64-bit
 * one. Zero padding inside the maximum length (0x80 0x00 for 0) is
 * accepted, as Kafka accepts it, because it still denotes one exact value.
 */
#include "base/varint.h"

#include "base/assert.h"

void buf_put_uvarint32(buf_t *b, uint32_t v) {
  buf_reserve(b, VARINT_MAX32);
  b->len += uvarint32_encode(b->data + b->len, v);
}

void buf_put_uvarint64(buf_t *b, uint64_t v) {
  buf_reserve(b, VARINT_MAX64);
  b->len += uvarint64_encode(b->data + b->len, v);
}

void buf_put_varint32(buf_t *b, int32_t v) {
  buf_put_uvarint32(b, zigzag32_encode(v));
}

void buf_put_varint64(buf_t *b, int64_t v) {
  buf_put_uvarint64(b, zigzag64_encode(v));
}

size_t varint__decode_slow(const uint8_t *p, size_t avail, size_t max_len,
                           uint8_t last_mask, uint64_t *v) {
  SL_ASSERT(v != NULL && (p != NULL || avail == 0));
  SL_ASSERT(max_len == VARINT_MAX32 || max_len == VARINT_MAX64);
  uint64_t acc = 0;
  for (size_t i = 0; i < max_len; i++) {
    if (i == avail)
      return 0; /* truncated */
    uint8_t byte = p[i];
    if (i == max_len - 1 && (byte & ~last_mask) != 0)
      return 0; /* overlong, or bits beyond the type's width */
    acc |= (uint64_t)(byte & 0x7Fu) << (7 * i);
    if ((byte & 0x80u) == 0) {
      *v = acc;
      return i + 1;
    }
  }
  return 0; /* not reached: the last byte has no continuation bit */
}

/* The reader's view: the bytes left (p NULL when none, as an empty reader
 * may have no memory at all). */
static inline const uint8_t *reader_rest(const buf_reader_t *r, size_t *left) {
  SL_ASSERT(r->pos <= r->len);
  *left = r->len - r->pos;
  return *left > 0 ? r->data + r->pos : NULL;
}

uint32_t buf_get_uvarint32(buf_reader_t *r) {
  SL_ASSERT(r != NULL);
  if (r->error)
    return 0;
  size_t left;
  const uint8_t *p = reader_rest(r, &left);
  uint32_t v;
  size_t n = uvarint32_decode(p, left, &v);
  if (n == 0) {
    r->error = true; /* consumes nothing */
    return 0;
  }
  r->pos += n;
  return v;
}

uint64_t buf_get_uvarint64(buf_reader_t *r) {
  SL_ASSERT(r != NULL);
  if (r->error)
    return 0;
  size_t left;
  const uint8_t *p = reader_rest(r, &left);
  uint64_t v;
  size_t n = uvarint64_decode(p, left, &v);
  if (n == 0) {
    r->error = true;
    return 0;
  }
  r->pos += n;
  return v;
}

int32_t buf_get_varint32(buf_reader_t *r) {
  return zigzag32_decode(buf_get_uvarint32(r));
}

int64_t buf_get_varint64(buf_reader_t *r) {
  return zigzag64_decode(buf_get_uvarint64(r));
}
