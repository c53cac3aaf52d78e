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

/* Big-endian loads and stores on raw memory. */
uint16_t be16_load(const uint8_t *p);
uint32_t be32_load(const uint8_t *p);
uint64_t be64_load(const uint8_t *p);
void be16_store(uint8_t *p, uint16_t v);
void be32_store(uint8_t *p, uint32_t v);
void be64_store(uint8_t *p, uint64_t v);

typedef struct buf_reader {
  const uint8_t *data; /* borrowed */
  size_t len;
  size_t pos;
  bool error; /* set by any read past the end or malformed varint */
} buf_reader_t;

/* data may be NULL only when len == 0. */
void buf_reader_init(buf_reader_t *r, const uint8_t *data, size_t len);
size_t buf_reader_left(const buf_reader_t *r);
/* Sets the error flag: for decoders that find a well-formed but invalid
 * field (a negative length, say) and want the same check-once handling. */
void buf_reader_fail(buf_reader_t *r);
/* Fixed-width reads: the value, or 0 with the error flag set when too few
 * bytes remain (nothing is consumed then). */
uint8_t buf_get_u8(buf_reader_t *r);
uint16_t buf_get_be16(buf_reader_t *r);
uint32_t buf_get_be32(buf_reader_t *r);
uint64_t buf_get_be64(buf_reader_t *r);
/* Returns a pointer to the next len bytes inside the reader's range and
 * advances, or NULL (error set) if fewer remain. len == 0 succeeds with a
 * non-NULL pointer that must not be dereferenced. */
const uint8_t *buf_get_bytes(buf_reader_t *r, size_t len);

#endif
