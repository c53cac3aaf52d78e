/*
 * compress.h — Kafka's record-batch compression codecs over Debian's
 * libraries: gzip (zlib), snappy (Kafka/Java "xerial" framing on the way
 * in, plain snappy too; plain snappy on the way out, as librdkafka writes),
 * lz4 (LZ4 frame format), zstd (zstd frame).
 *
 * Decompression is bounded: output beyond max_out bytes is an error, so a
 * "zip bomb" from the network cannot exhaust memory.
 *
 * Errors: 0, or KERR_UNSUPPORTED_COMPRESSION_TYPE (unknown codec),
 * KERR_CORRUPT_MESSAGE (malformed input or output over the bound).
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
