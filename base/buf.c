/*
 * buf.c — growable byte buffers, big-endian field helpers and a
 * bounds-checked reader. See buf.h for the contract.
 *
 * Kafka puts every fixed-width integer on the wire in network (big-endian)
 * order, so the loads and stores here assemble values byte by byte: that is
 * correct on any host and never performs an unaligned access; the compiler
 * turns it into a single load plus bswap.
 *
 * The reader's error flag is sticky: once a read has failed, every later
 * read returns zero without moving, so a decoder that forgets to check after
 * each field still cannot pick up bytes from a misaligned position.
 */
#include "base/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"

/* The first allocation is at least this large, so a buffer that collects a
 * few small fields does not reallocate for every one of them. */
#define BUF_CAP_MIN_BYTES 64

/* Returned by buf_get_bytes(r, 0) when the reader has no backing memory, so
 * that NULL keeps meaning "error". Read-only, never dereferenced. */
static const uint8_t buf_empty_bytes[1];

void buf_init(buf_t *b) {
  SL_ASSERT(b != NULL);
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}

void buf_free(buf_t *b) {
  if (!b)
    return;
  free(b->data);
  buf_init(b);
}

void buf_clear(buf_t *b) {
  SL_ASSERT(b != NULL);
  b->len = 0;
}

void buf_reserve(buf_t *b, size_t extra) {
  SL_ASSERT(b != NULL);
  SL_ASSERT(b->len <= b->cap);
  /* A request that overflows size_t cannot be a real buffer: it is a
   * length computed from garbage, i.e. a programmer error upstream. */
  SL_ASSERT(extra <= SIZE_MAX - b->len);
  size_t need_bytes = b->len + extra;
  if (need_bytes <= b->cap)
    return;
  /* Doubling keeps appends amortised O(1). */
  size_t cap_new = b->cap < BUF_CAP_MIN_BYTES ? BUF_CAP_MIN_BYTES : b->cap;
  while (cap_new < need_bytes)
    cap_new = cap_new > SIZE_MAX / 2 ? need_bytes : cap_new * 2;
  uint8_t *data_new = realloc(b->data, cap_new);
  if (!data_new) {
    /* Like GLib: running out of memory is not an error callers can handle
     * meaningfully in the middle of encoding a message. */
    fprintf(stderr, "buf: out of memory growing to %zu bytes\n", cap_new);
    abort();
  }
  b->data = data_new;
  b->cap = cap_new;
}

size_t buf_append(buf_t *b, const void *data, size_t len) {
  SL_ASSERT(data != NULL || len == 0);
  buf_reserve(b, len);
  size_t offset = b->len;
  if (len > 0)
    memcpy(b->data + offset, data, len);
  b->len += len;
  return offset;
}

size_t buf_append_zeros(buf_t *b, size_t len) {
  buf_reserve(b, len);
  size_t offset = b->len;
  if (len > 0)
    memset(b->data + offset, 0, len);
  b->len += len;
  return offset;
}

void buf_put_u8(buf_t *b, uint8_t v) {
  buf_reserve(b, 1);
  b->data[b->len++] = v;
}

void buf_put_be16(buf_t *b, uint16_t v) {
  buf_reserve(b, 2);
  be16_store(b->data + b->len, v);
  b->len += 2;
}

void buf_put_be32(buf_t *b, uint32_t v) {
  buf_reserve(b, 4);
  be32_store(b->data + b->len, v);
  b->len += 4;
}

void buf_put_be64(buf_t *b, uint64_t v) {
  buf_reserve(b, 8);
  be64_store(b->data + b->len, v);
  b->len += 8;
}

void buf_set_be32(buf_t *b, size_t offset, uint32_t v) {
  SL_ASSERT(b != NULL);
  /* Back-patching may only touch bytes that were already written. */
  SL_ASSERT(offset <= b->len && b->len - offset >= 4);
  be32_store(b->data + offset, v);
}

uint8_t *buf_steal(buf_t *b, size_t *len) {
  SL_ASSERT(b != NULL);
  uint8_t *data = b->data;
  if (len)
    *len = b->len;
  buf_init(b);
  return data;
}

void buf_reader_init(buf_reader_t *r, const uint8_t *data, size_t len) {
  SL_ASSERT(r != NULL);
  SL_ASSERT(data != NULL || len == 0);
  r->data = data;
  r->len = len;
  r->pos = 0;
  r->error = false;
}

void buf_reader_fail(buf_reader_t *r) {
  SL_ASSERT(r != NULL);
  r->error = true;
}

/* The cases buf__take (buf.h) does not handle inline: a sticky error, a
 * short read, or a reader without memory (len == 0 only), which returns
 * buf_empty_bytes so that NULL keeps meaning "error". */
const uint8_t *buf__take_slow(buf_reader_t *r, size_t len) {
  SL_ASSERT(r != NULL);
  if (r->error)
    return NULL;
  if (len > buf_reader_left(r)) {
    r->error = true;
    return NULL;
  }
  const uint8_t *p = r->data ? r->data + r->pos : buf_empty_bytes;
  r->pos += len;
  return p;
}
