/*
 * varint.h — Kafka's variable-length integers.
 *
 * Unsigned varints (UNSIGNED_VARINT in the protocol): 7 bits per byte, low
 * group first, high bit set on every byte but the last. Signed varints
 * (VARINT / VARLONG, used inside records) are zig-zag encoded first, as in
 * Protocol Buffers. A uint32 takes at most 5 bytes, a uint64 at most 10.
 *
 * Decoders reject overlong or truncated input: a varint that does not end
 * within its maximum length, or whose final byte carries bits beyond the
 * type's width, is an error (the reader's error flag is set).
 *
 * Hot paths (every record of every batch is decoded on produce and on
 * fetch) use the raw decoders uvarint32_decode / uvarint64_decode, inline
 * here: when at least the maximum length is available they decode without
 * a bounds check per byte, otherwise they fall back to the checked loop
 * (varint__decode_slow). Both paths accept and reject exactly the same
 * inputs; test_varint checks them against each other.
 */
#ifndef SLUICE_BASE_VARINT_H
#define SLUICE_BASE_VARINT_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define VARINT_MAX32 5
#define VARINT_MAX64 10
/* Bits a varint's last permitted byte may carry: 32 - 4 * 7 = 4 bits, and
 * 64 - 9 * 7 = 1 bit (no continuation bit either). */
#define VARINT_LAST_MASK32 0x0Fu
#define VARINT_LAST_MASK64 0x01u

/* Zig-zag: inline, they run for every field of every record. All
 * unsigned, so no step depends on how the compiler shifts negative
 * numbers, and the way back avoids an out-of-range conversion. */
static inline uint32_t zigzag32_encode(int32_t v) {
  uint32_t u = (uint32_t)v;
  return (u << 1) ^ (0u - (u >> 31));
}
static inline int32_t zigzag32_decode(uint32_t v) {
  uint32_t u = (v >> 1) ^ (0u - (v & 1u));
  return u <= (uint32_t)INT32_MAX ? (int32_t)u : -(int32_t)(~u) - 1;
}
static inline uint64_t zigzag64_encode(int64_t v) {
  uint64_t u = (uint64_t)v;
  return (u << 1) ^ (0u - (u >> 63));
}
static inline int64_t zigzag64_decode(uint64_t v) {
  uint64_t u = (v >> 1) ^ (0u - (v & 1u));
  return u <= (uint64_t)INT64_MAX ? (int64_t)u : -(int64_t)(~u) - 1;
}

/* Encoded length in bytes (inline: record encoders size every field). */
static inline size_t uvarint64_len(uint64_t v) {
  size_t len = 1;
  while (v >= 0x80u) {
    v >>= 7;
    len++;
  }
  return len;
}
static inline size_t uvarint32_len(uint32_t v) { return uvarint64_len(v); }
static inline size_t varint32_len(int32_t v) {
  return uvarint32_len(zigzag32_encode(v));
}
static inline size_t varint64_len(int64_t v) {
  return uvarint64_len(zigzag64_encode(v));
}

/* Encode into out (room for VARINT_MAX* bytes, not NULL); return bytes
 * written. */
static inline size_t uvarint64_encode(uint8_t *out, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80u) {
    out[n++] = (uint8_t)(v | 0x80u);
    v >>= 7;
  }
  out[n++] = (uint8_t)v;
  return n;
}
static inline size_t uvarint32_encode(uint8_t *out, uint32_t v) {
  return uvarint64_encode(out, v);
}

/* Append to a buffer. */
void buf_put_uvarint32(buf_t *b, uint32_t v);
void buf_put_uvarint64(buf_t *b, uint64_t v);
void buf_put_varint32(buf_t *b, int32_t v);
void buf_put_varint64(buf_t *b, int64_t v);

/* The checked decoder behind the raw ones: an unsigned varint of at most
 * max_len bytes (VARINT_MAX32 or VARINT_MAX64) whose last byte may carry
 * only the bits in last_mask, read from p[0..avail) and never beyond.
 * Returns the bytes consumed and stores *v, or returns 0 (truncated,
 * overlong or too wide) and leaves *v alone. p may be NULL when avail is 0.
 * Exposed for the decoders below and their tests. */
size_t varint__decode_slow(const uint8_t *p, size_t avail, size_t max_len,
                           uint8_t last_mask, uint64_t *v);

/* Decode an unsigned varint from p[0..avail): the bytes consumed (1..5 /
 * 1..10) with *v set, or 0 on truncated, overlong or too wide input (*v
 * untouched). Never reads p[avail] or beyond. */
static inline size_t uvarint32_decode(const uint8_t *p, size_t avail,
                                      uint32_t *v) {
  /* One byte is the usual case, also in the last bytes of a buffer. */
  if (avail > 0 && p[0] < 0x80u) {
    *v = p[0];
    return 1;
  }
  if (avail >= VARINT_MAX32) {
    /* Unrolled: no byte can lie outside p[0..avail). */
    uint32_t b = p[0];
    if (b < 0x80u) {
      *v = b;
      return 1;
    }
    uint32_t r = b & 0x7Fu;
    b = p[1];
    r |= (b & 0x7Fu) << 7;
    if (b < 0x80u) {
      *v = r;
      return 2;
    }
    b = p[2];
    r |= (b & 0x7Fu) << 14;
    if (b < 0x80u) {
      *v = r;
      return 3;
    }
    b = p[3];
    r |= (b & 0x7Fu) << 21;
    if (b < 0x80u) {
      *v = r;
      return 4;
    }
    b = p[4];
    if (b > VARINT_LAST_MASK32)
      return 0;
    *v = r | b << 28;
    return 5;
  }
  uint64_t wide;
  size_t n = varint__decode_slow(p, avail, VARINT_MAX32,
                                 (uint8_t)VARINT_LAST_MASK32, &wide);
  if (n)
    *v = (uint32_t)wide;
  return n;
}

static inline size_t uvarint64_decode(const uint8_t *p, size_t avail,
                                      uint64_t *v) {
  if (avail > 0 && p[0] < 0x80u) {
    *v = p[0];
    return 1;
  }
  if (avail >= VARINT_MAX64) {
    uint64_t b = p[0];
    if (b < 0x80u) {
      *v = b;
      return 1;
    }
    uint64_t r = b & 0x7Fu;
    for (size_t i = 1; i < VARINT_MAX64 - 1; i++) {
      b = p[i];
      r |= (b & 0x7Fu) << (7 * i);
      if (b < 0x80u) {
        *v = r;
        return i + 1;
      }
    }
    b = p[VARINT_MAX64 - 1];
    if (b > VARINT_LAST_MASK64)
      return 0;
    *v = r | b << 63;
    return VARINT_MAX64;
  }
  return varint__decode_slow(p, avail, VARINT_MAX64,
                             (uint8_t)VARINT_LAST_MASK64, v);
}

/* Read from a reader; on malformed or truncated input set r->error, return 0. */
uint32_t buf_get_uvarint32(buf_reader_t *r);
uint64_t buf_get_uvarint64(buf_reader_t *r);
int32_t buf_get_varint32(buf_reader_t *r);
int64_t buf_get_varint64(buf_reader_t *r);

#endif
