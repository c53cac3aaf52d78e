/*
 * compress.h — Kafka's record-batch compression codecs over Debian's
 * libraries. The compressed form is the whole records section of a batch
 * (everything after record_count).
 *
 *   gzip    a gzip stream (deflate with the RFC 1952 wrapper), as Java's
 *           GZIPOutputStream writes. Decoding accepts concatenated members.
 *   snappy  Decoding accepts both forms found in Kafka logs: the snappy-java
 *           ("xerial") framing the Java client writes — magic
 *           82 'SNAPPY' 00, int32 version, int32 compatible version, then
 *           chunks of [int32 length][raw snappy block] — and one plain raw
 *           snappy block, which librdkafka writes. Encoding writes the
 *           xerial framing (version 1/1, 32 KiB chunks): it is the format
 *           of Kafka's reference client, read by the Java broker and
 *           consumers (SnappyInputStream), by librdkafka, and by every
 *           client that interoperates with Java producers.
 *   lz4     the LZ4 frame format (lz4frame), 64 KiB independent blocks as
 *           Kafka's Java client writes; decoding accepts any valid frame.
 *   zstd    a zstd frame at level 3; decoding streams, so frames without a
 *           recorded content size work, and refuses windows over 2^27.
 *   none    the bytes as they are.
 *
 * Decompression is bounded: output beyond max_out bytes is an error, so a
 * "zip bomb" from the network cannot exhaust memory. The output buffer
 * grows with the output actually produced, never with a size the input
 * claims. Malformed input of any kind is an error, never a crash or an
 * out-of-bounds read.
 *
 * Errors: 0, or KERR_UNSUPPORTED_COMPRESSION_TYPE (unknown codec),
 * KERR_CORRUPT_MESSAGE (malformed or truncated input, trailing garbage, or
 * output over the bound). On error out is left as it was on entry.
 */
#ifndef SLUICE_BROKER_LOG_COMPRESS_H
#define SLUICE_BROKER_LOG_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "broker/log/batch.h"

/* Appends the compressed form of in[0..len) to out. */
int compress_encode(batch_codec codec, const uint8_t *in, size_t len,
                    buf_t *out) __attribute__((warn_unused_result));
/* Appends the decompressed form to out, at most max_out bytes. */
int compress_decode(batch_codec codec, const uint8_t *in, size_t len,
                    size_t max_out, buf_t *out)
    __attribute__((warn_unused_result));

#endif
