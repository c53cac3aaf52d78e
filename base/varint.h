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
 */
#ifndef SLUICE_BASE_VARINT_H
#define SLUICE_BASE_VARINT_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define VARINT_MAX32 5
#define VARINT_MAX64 10

uint32_t zigzag32_encode(int32_t v);
int32_t zigzag32_decode(uint32_t v);
uint64_t zigzag64_encode(int64_t v);
int64_t zigzag64_decode(uint64_t v);

/* Encoded length in bytes. */
size_t uvarint32_len(uint32_t v);
size_t uvarint64_len(uint64_t v);
size_t varint32_len(int32_t v);
size_t varint64_len(int64_t v);

/* Encode into out (room for VARINT_MAX* bytes); return bytes written. */
size_t uvarint32_encode(uint8_t *out, uint32_t v);
size_t uvarint64_encode(uint8_t *out, uint64_t v);

/* Append to a buffer. */
void buf_put_uvarint32(buf_t *b, uint32_t v);
void buf_put_uvarint64(buf_t *b, uint64_t v);
void buf_put_varint32(buf_t *b, int32_t v);
void buf_put_varint64(buf_t *b, int64_t v);

/* Read from a reader; on malformed or truncated input set r->error, return 0. */
uint32_t buf_get_uvarint32(buf_reader_t *r);
uint64_t buf_get_uvarint64(buf_reader_t *r);
int32_t buf_get_varint32(buf_reader_t *r);
int64_t buf_get_varint64(buf_reader_t *r);

#endif
