/*
 * buf.h — growable byte buffers and big-endian (Kafka) field helpers.
 *
 * buf_t is a plain struct (data, len, cap) so codecs can read it directly.
 * Writers append; the buffer grows by doubling and aborts on out-of-memory
 * (like GLib). buf_reader_t reads fields from a borrowed byte range and
 * never reads past its end: a short read sets the reader's error flag and
 * returns zero, so a decoder can read a whole structure and check once.
 * The flag is sticky: after a failed read every later read also returns
 * zero (NULL for bytes) and the position no longer moves.
 *
 * Programmer errors (NULL buffer, back-patching past len, a size that
 * overflows size_t) are SL_ASSERTed.
 */
#ifndef SLUICE_BASE_BUF_H
#define SLUICE_BASE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/assert.h"

typedef struct buf {
  uint8_t *data; /* [owned] NULL when cap == 0 */
  size_t len;
  size_t cap;
} buf_t;

#define BUF_INIT {NULL, 0, 0}

void buf_init(buf_t *b);
/* Frees the bytes and resets to empty. NULL is fine. */
void buf_free(buf_t *b);
/* Empties without releasing capacity. */
void buf_clear(buf_t *b);
/* Makes room for at least `extra` more bytes. */
void buf_reserve(buf_t *b, size_t extra);
/* Appends len bytes / a byte / zero bytes; returns the offset they start at. */
size_t buf_append(buf_t *b, const void *data, size_t len);
size_t buf_append_zeros(buf_t *b, size_t len);
void buf_put_u8(buf_t *b, uint8_t v);
void buf_put_be16(buf_t *b, uint16_t v);
void buf_put_be32(buf_t *b, uint32_t v);
void buf_put_be64(buf_t *b, uint64_t v);
/* Overwrites already-written bytes at offset (for length/CRC back-patching);
 * offset + 4 must not exceed len. */
void buf_set_be32(buf_t *b, size_t offset, uint32_t v);
/* Takes the bytes out: returns data (caller owns, free()), leaves b empty.
 * Returns NULL (and *len = 0) if nothing was ever reserved. len may be NULL. */
uint8_t *buf_steal(buf_t *b, size_t *len);

/* Big-endian loads and stores on raw memory, byte by byte: correct on any
 * host, never an unaligned access, and the compiler makes each one load or
 * store plus bswap. Inline, with the reader below: they run for every
 * field of every message. */
static inline uint16_t be16_load(const uint8_t *p) {
  return (uint16_t)((uint16_t)p[0] << 8 | (uint16_t)p[1]);
}
static inline uint32_t be32_load(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         (uint32_t)p[3];
}
static inline uint64_t be64_load(const uint8_t *p) {
  return (uint64_t)be32_load(p) << 32 | (uint64_t)be32_load(p + 4);
}
static inline void be16_store(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static inline void be32_store(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}
static inline void be64_store(uint8_t *p, uint64_t v) {
  be32_store(p, (uint32_t)(v >> 32));
  be32_store(p + 4, (uint32_t)v);
}

typedef struct buf_reader {
  const uint8_t *data; /* borrowed */
  size_t len;
  size_t pos;
  bool error; /* set by any read past the end or malformed varint */
} buf_reader_t;

/* data may be NULL only when len == 0. */
void buf_reader_init(buf_reader_t *r, const uint8_t *data, size_t len);
static inline size_t buf_reader_left(const buf_reader_t *r) {
  SL_ASSERT(r != NULL && r->pos <= r->len);
  return r->len - r->pos;
}
/* Sets the error flag: for decoders that find a well-formed but invalid
 * field (a negative length, say) and want the same check-once handling. */
void buf_reader_fail(buf_reader_t *r);

/* The one gate every read goes through: the next len bytes, advancing, or
 * NULL after setting the error flag. The common case is inline; an error,
 * a short read or a reader without memory go to buf__take_slow. Comparing
 * against the bytes left (never pos + len) cannot overflow. */
const uint8_t *buf__take_slow(buf_reader_t *r, size_t len);
static inline const uint8_t *buf__take(buf_reader_t *r, size_t len) {
  if (!r->error && r->data != NULL && len <= buf_reader_left(r)) {
    const uint8_t *p = r->data + r->pos;
    r->pos += len;
    return p;
  }
  return buf__take_slow(r, len);
}

/* Fixed-width reads: the value, or 0 with the error flag set when too few
 * bytes remain (nothing is consumed then). */
static inline uint8_t buf_get_u8(buf_reader_t *r) {
  const uint8_t *p = buf__take(r, 1);
  return p ? p[0] : 0;
}
static inline uint16_t buf_get_be16(buf_reader_t *r) {
  const uint8_t *p = buf__take(r, 2);
  return p ? be16_load(p) : 0;
}
static inline uint32_t buf_get_be32(buf_reader_t *r) {
  const uint8_t *p = buf__take(r, 4);
  return p ? be32_load(p) : 0;
}
static inline uint64_t buf_get_be64(buf_reader_t *r) {
  const uint8_t *p = buf__take(r, 8);
  return p ? be64_load(p) : 0;
}
/* Returns a pointer to the next len bytes inside the reader's range and
 * advances, or NULL (error set) if fewer remain. len == 0 succeeds with a
 * non-NULL pointer that must not be dereferenced. */
static inline const uint8_t *buf_get_bytes(buf_reader_t *r, size_t len) {
  return buf__take(r, len);
}

#endif
