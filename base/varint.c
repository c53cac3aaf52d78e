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

/* Bits a varint's last permitted byte may carry: 32 - 4 * 7 = 4 bits, and
 * 64 - 9 * 7 = 1 bit. */
#define VARINT_LAST_MASK32 0x0Fu
#define VARINT_LAST_MASK64 0x01u

uint32_t zigzag32_encode(int32_t v) {
  /* Shift the magnitude up and fold the sign into bit 0; all unsigned so
   * no step depends on how the compiler shifts negative numbers. */
  uint32_t u = (uint32_t)v;
  return (u << 1) ^ (0u - (u >> 31));
}

int32_t zigzag32_decode(uint32_t v) {
  uint32_t u = (v >> 1) ^ (0u - (v & 1u));
  /* Map the bit pattern back to int32 without an out-of-range conversion. */
  return u <= (uint32_t)INT32_MAX ? (int32_t)u : -(int32_t)(~u) - 1;
}

uint64_t zigzag64_encode(int64_t v) {
  uint64_t u = (uint64_t)v;
  return (u << 1) ^ (0u - (u >> 63));
}

int64_t zigzag64_decode(uint64_t v) {
  uint64_t u = (v >> 1) ^ (0u - (v & 1u));
  return u <= (uint64_t)INT64_MAX ? (int64_t)u : -(int64_t)(~u) - 1;
}

size_t uvarint32_len(uint32_t v) { return uvarint64_len(v); }

size_t uvarint64_len(uint64_t v) {
  size_t len = 1;
  while (v >= 0x80u) {
    v >>= 7;
    len++;
  }
  return len;
}

size_t varint32_len(int32_t v) { return uvarint32_len(zigzag32_encode(v)); }

size_t varint64_len(int64_t v) { return uvarint64_len(zigzag64_encode(v)); }

size_t uvarint32_encode(uint8_t *out, uint32_t v) {
  return uvarint64_encode(out, v);
}

size_t uvarint64_encode(uint8_t *out, uint64_t v) {
  SL_ASSERT(out != NULL);
  size_t n = 0;
  while (v >= 0x80u) {
    out[n++] = (uint8_t)(v | 0x80u);
    v >>= 7;
  }
  out[n++] = (uint8_t)v;
  SL_ASSERT(n <= VARINT_MAX64);
  return n;
}

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

/* Decodes an unsigned varint of at most max_len bytes whose last byte may
 * only carry the bits in last_mask. Reads only bytes inside the reader's
 * range; consumes nothing on failure. */
static uint64_t get_uvarint(buf_reader_t *r, size_t max_len,
                            uint8_t last_mask) {
  SL_ASSERT(r != NULL);
  if (r->error)
    return 0;
  size_t left = buf_reader_left(r);
  /* An empty reader may have no memory at all; p is only read below left. */
  const uint8_t *p = left > 0 ? r->data + r->pos : NULL;
  uint64_t v = 0;
  for (size_t i = 0; i < max_len; i++) {
    if (i == left)
      break; /* truncated */
    uint8_t byte = p[i];
    if (i == max_len - 1 && (byte & ~last_mask) != 0)
      break; /* overlong, or bits beyond the type's width */
    v |= (uint64_t)(byte & 0x7Fu) << (7 * i);
    if ((byte & 0x80u) == 0) {
      r->pos += i + 1;
      return v;
    }
  }
  r->error = true;
  return 0;
}

uint32_t buf_get_uvarint32(buf_reader_t *r) {
  return (uint32_t)get_uvarint(r, VARINT_MAX32, VARINT_LAST_MASK32);
}

uint64_t buf_get_uvarint64(buf_reader_t *r) {
  return get_uvarint(r, VARINT_MAX64, VARINT_LAST_MASK64);
}

int32_t buf_get_varint32(buf_reader_t *r) {
  return zigzag32_decode(buf_get_uvarint32(r));
}

int64_t buf_get_varint64(buf_reader_t *r) {
  return zigzag64_decode(buf_get_uvarint64(r));
}
