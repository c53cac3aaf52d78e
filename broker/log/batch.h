/*
 * batch.h — Kafka record batch v2 (magic 2): layout, validation, records.
 *
 * A batch is the unit Kafka stores and ships: a 61-byte header followed by
 * records (compressed as one blob when the codec is not "none"). The broker
 * keeps batches as opaque, validated bytes: it only rewrites the fields
 * outside the CRC (base offset, partition leader epoch) on append, so the
 * bytes on disk are the bytes the producer sent.
 *
 * Layout (big-endian):
 *    0 base_offset int64      8 batch_length int32 (bytes after this field)
 *   12 leader_epoch int32    16 magic int8 (2)     17 crc uint32 (CRC-32C of 21..end)
 *   21 attributes int16      23 last_offset_delta int32
 *   27 base_timestamp int64  35 max_timestamp int64
 *   43 producer_id int64     51 producer_epoch int16  53 base_sequence int32
 *   57 record_count int32    61 records...
 * Attributes: bits 0-2 codec, bit 3 LogAppendTime, bit 4 transactional,
 * bit 5 control, bit 6 delete-horizon set.
 * Record: length varint, attributes int8, timestamp_delta varlong,
 * offset_delta varint, key_len varint (-1 null) + key, value_len varint
 * (-1 null) + value, header_count varint, headers (key_len varint + key,
 * value_len varint (-1 null) + value). All varints zig-zag.
 *
 * Errors: validation returns Kafka error codes (broker/kerr.h):
 * KERR_CORRUPT_MESSAGE (sizes inconsistent, CRC mismatch, truncated),
 * KERR_INVALID_RECORD (bad magic, count/delta mismatch, malformed records,
 * control bit from a client), KERR_UNSUPPORTED_COMPRESSION_TYPE,
 * KERR_MESSAGE_TOO_LARGE, KERR_INVALID_TIMESTAMP.
 */
#ifndef SLUICE_BROKER_LOG_BATCH_H
#define SLUICE_BROKER_LOG_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define BATCH_HEADER_BYTES 61
/* base_offset + batch_length: the part batch_length does not count. */
#define BATCH_LOG_OVERHEAD 12
#define BATCH_MAGIC_V2 2
/* Offsets of the fields the broker rewrites. */
#define BATCH_OFF_BASE_OFFSET 0
#define BATCH_OFF_LENGTH 8
#define BATCH_OFF_LEADER_EPOCH 12
#define BATCH_OFF_MAGIC 16
#define BATCH_OFF_CRC 17
#define BATCH_OFF_ATTRIBUTES 21
#define BATCH_CRC_START 21
/* Offsets of the other header fields (for tools and tests). */
#define BATCH_OFF_LAST_OFFSET_DELTA 23
#define BATCH_OFF_BASE_TIMESTAMP 27
#define BATCH_OFF_MAX_TIMESTAMP 35
#define BATCH_OFF_PRODUCER_ID 43
#define BATCH_OFF_PRODUCER_EPOCH 51
#define BATCH_OFF_BASE_SEQUENCE 53
#define BATCH_OFF_RECORD_COUNT 57

/* The smallest encoded record: a 1-byte length varint and a 6-byte body
 * (attributes, timestamp delta, offset delta, key length, value length,
 * header count). Bounds record_count by the bytes actually present. */
#define BATCH_RECORD_BYTES_MIN 7
/* Bound on a compressed batch's decompressed records (validation and the
 * iterator): a compression bomb is rejected with KERR_CORRUPT_MESSAGE
 * instead of exhausting memory. Output buffers grow with the real output,
 * so ordinary batches never allocate near this. */
#define BATCH_DECOMPRESSED_BYTES_MAX ((size_t)128 * 1024 * 1024)

typedef enum batch_codec {
  BATCH_CODEC_NONE = 0,
  BATCH_CODEC_GZIP = 1,
  BATCH_CODEC_SNAPPY = 2,
  BATCH_CODEC_LZ4 = 3,
  BATCH_CODEC_ZSTD = 4,
} batch_codec;

enum {
  BATCH_ATTR_CODEC_MASK = 0x07,
  BATCH_ATTR_LOG_APPEND_TIME = 1 << 3,
  BATCH_ATTR_TRANSACTIONAL = 1 << 4,
  BATCH_ATTR_CONTROL = 1 << 5,
  BATCH_ATTR_DELETE_HORIZON = 1 << 6,
};

typedef struct batch_header {
  int64_t base_offset;
  int32_t batch_length;
  int32_t leader_epoch;
  int8_t magic;
  uint32_t crc;
  int16_t attributes;
  int32_t last_offset_delta;
  int64_t base_timestamp;
  int64_t max_timestamp;
  int64_t producer_id;
  int16_t producer_epoch;
  int32_t base_sequence;
  int32_t record_count;
} batch_header;

/* Total bytes of the batch starting at p (BATCH_LOG_OVERHEAD +
 * batch_length), or -1 if fewer than BATCH_LOG_OVERHEAD bytes are available
 * or batch_length is negative. Cheap: used to walk a log file or a
 * produce request's records. */
int64_t batch_total_bytes(const uint8_t *p, size_t avail);

/* Parses the fixed header (needs len >= BATCH_HEADER_BYTES). Checks
 * nothing but length: 0 or KERR_CORRUPT_MESSAGE. */
int batch_header_parse(const uint8_t *p, size_t len, batch_header *h);

static inline int64_t batch_last_offset(const batch_header *h) {
  return h->base_offset + h->last_offset_delta;
}
static inline batch_codec batch_header_codec(const batch_header *h) {
  return (batch_codec)(h->attributes & BATCH_ATTR_CODEC_MASK);
}

/* Computes the CRC the batch should carry (over bytes 21..end). */
uint32_t batch_compute_crc(const uint8_t *p, size_t len);

typedef struct batch_limits {
  size_t max_bytes;          /* MESSAGE_TOO_LARGE above this (0 = no limit) */
  bool allow_control;        /* false for client produce */
  bool check_records;        /* decode every record (decompressing if needed) */
} batch_limits;

/* Validates one complete batch of exactly len bytes. Checks, in order
 * (the first failure is returned):
 *   len >= 61 and 12 + batch_length == len ..... CORRUPT_MESSAGE
 *   len <= max_bytes (when max_bytes != 0) ...... MESSAGE_TOO_LARGE
 *   magic == 2 .................................. INVALID_RECORD
 *   CRC-32C of bytes 21..end .................... CORRUPT_MESSAGE
 *   codec 0..4 .................................. UNSUPPORTED_COMPRESSION_TYPE
 *   control bit only when allow_control ......... INVALID_RECORD
 *   counts (below), and for uncompressed batches
 *   record_count * BATCH_RECORD_BYTES_MIN <= bytes  INVALID_RECORD
 * allow_control also selects which counts are legal. false = a client's
 * produce: last_offset_delta + 1 == record_count > 0 and base_sequence >= 0
 * when producer_id >= 0 (Kafka's LogValidator rules). true = a batch from a
 * Kafka log (ours on recovery, or a leader's on replication), which may be
 * compacted: last_offset_delta >= 0 and 0 <= record_count <=
 * last_offset_delta + 1 (an empty compacted batch may have no record bytes
 * at all, even when its codec is set).
 * With check_records every record is decoded (decompressing first, bounded
 * by BATCH_DECOMPRESSED_BYTES_MAX; failure is CORRUPT_MESSAGE): framing
 * (each record's length covers exactly its fields, lengths >= -1, header
 * keys non-null), exactly record_count records and no bytes after them,
 * offset deltas 0..n-1 for clients or strictly increasing and <=
 * last_offset_delta for logs; failures are INVALID_RECORD. Timestamps are
 * not judged here (the window is a topic setting the caller applies).
 * Returns KERR_NONE or the Kafka error. Never reads outside p[0..len), and
 * allocates nothing for an uncompressed batch. */
int batch_validate(const uint8_t *p, size_t len, const batch_limits *limits);
/* Same, decompressing (if needed) into *scratch, which the caller keeps and
 * reuses across batches so the hot path does not allocate per batch. Its
 * contents afterwards are unspecified. */
int batch_validate_scratch(const uint8_t *p, size_t len,
                           const batch_limits *limits, buf_t *scratch);

/* Rewrites the fields outside the CRC (the broker's offset assignment).
 * p must hold at least BATCH_HEADER_BYTES (asserted for the third). */
void batch_set_base_offset(uint8_t *p, int64_t base_offset);
void batch_set_leader_epoch(uint8_t *p, int32_t leader_epoch);
/* Marks the batch LogAppendTime with max_timestamp = ts and recomputes
 * the CRC. */
void batch_set_log_append_time(uint8_t *p, size_t len, int64_t ts_ms);

/* ---- records ---- */

typedef struct batch_record_header {
  const uint8_t *key; /* NULL when key_len < 0 */
  int32_t key_len;
  const uint8_t *value; /* NULL when value_len < 0 */
  int32_t value_len;
} batch_record_header;

/* Headers a batch_record carries inline. A record may legally have more
 * (Kafka sets no limit): then header_count is the true count and headers[]
 * holds the first BATCH_RECORD_HEADERS_MAX of them. */
#define BATCH_RECORD_HEADERS_MAX 64

typedef struct batch_record {
  int64_t offset;    /* base_offset + offset_delta */
  int64_t timestamp; /* base_timestamp + timestamp_delta (or max_timestamp
                        for LogAppendTime batches) */
  int8_t attributes;
  const uint8_t *key; /* NULL for a null key */
  int32_t key_len;    /* -1 for null */
  const uint8_t *value;
  int32_t value_len;
  int32_t header_count;
  batch_record_header headers[BATCH_RECORD_HEADERS_MAX];
} batch_record;

/* Iterates the records of a validated batch. For compressed batches the
 * iterator decompresses into its own buffer once (record pointers point
 * into it, valid until batch_iter_free or batch_iter_reset); otherwise they
 * point into p, which must outlive the iteration. The iterator does not
 * check the CRC, but it is safe on any bytes: a malformed batch gives an
 * error, never an out-of-bounds read. */
typedef struct batch_iter batch_iter;

/* Returns NULL with *err set (KERR_*) if the batch cannot be decoded. */
batch_iter *batch_iter_new(const uint8_t *p, size_t len, int *err);
/* 1 = a record was stored in *rec, 0 = end, negative = KERR code negated
 * (malformed record, fewer records than record_count, or bytes left after
 * the last one). Errors are sticky. */
int batch_iter_next(batch_iter *it, batch_record *rec);
/* Points the iterator at another batch, keeping its decompression buffer
 * (so iterating many batches allocates once). Returns KERR_NONE or the
 * error batch_iter_new would have given; after an error the iterator
 * yields nothing until reset again. */
int batch_iter_reset(batch_iter *it, const uint8_t *p, size_t len);
/* The header of the batch being iterated. */
const batch_header *batch_iter_header(const batch_iter *it);
void batch_iter_free(batch_iter *it); /* NULL is fine */

/* ---- building batches (clients, tests, compaction) ---- */

typedef struct batch_builder batch_builder;

typedef struct batch_builder_opts {
  batch_codec codec;
  int64_t base_offset;    /* usually 0 from a client */
  int64_t base_timestamp; /* first record's timestamp */
  int64_t producer_id;    /* -1 = none */
  int16_t producer_epoch; /* -1 = none */
  int32_t base_sequence;  /* -1 = none */
  int16_t extra_attributes; /* TRANSACTIONAL / CONTROL bits */
  int32_t leader_epoch;   /* usually -1 */
} batch_builder_opts;

batch_builder *batch_builder_new(const batch_builder_opts *opts);
/* batch_builder_new writing into room's storage: the builder takes it over
 * (its bytes are discarded, its capacity kept) and room is left empty. A
 * caller that keeps the buffers of finished batches and passes them back
 * here builds batch after batch in memory that is already mapped. */
batch_builder *batch_builder_new_in(const batch_builder_opts *opts,
                                    buf_t *room);
/* Adds a record (key/value NULL with len -1 for null; a header key may not
 * be null). offset_delta is the previous record's delta + 1 (so the
 * record's index when only batch_builder_add is used) unless given
 * explicitly via batch_builder_add_at (for compaction, which keeps original
 * offsets with gaps; deltas must increase, asserted). Bytes are copied. */
void batch_builder_add(batch_builder *b, int64_t timestamp, const void *key,
                       int32_t key_len, const void *value, int32_t value_len,
                       const batch_record_header *headers, int32_t header_count);
void batch_builder_add_at(batch_builder *b, int32_t offset_delta,
                          int64_t timestamp, const void *key, int32_t key_len,
                          const void *value, int32_t value_len,
                          const batch_record_header *headers,
                          int32_t header_count);
int32_t batch_builder_count(const batch_builder *b);
/* Finishes the batch into out (appended): compresses, fills counts and
 * timestamps, computes the CRC. last_offset_delta defaults to the last
 * record's delta; pass a larger value to keep a compacted batch's range
 * (pass -1 for none). max_timestamp is the largest record timestamp, or -1
 * (Kafka's NO_TIMESTAMP) for a batch without records.
 * An uncompressed batch finished into an empty out is not copied: out
 * takes over the builder's buffer (its previous bytes are freed).
 * Returns 0 or KERR_UNSUPPORTED_COMPRESSION_TYPE. The builder is freed. */
int batch_builder_finish(batch_builder *b, int32_t last_offset_delta_min,
                         buf_t *out);
void batch_builder_free(batch_builder *b); /* NULL is fine */

#endif
