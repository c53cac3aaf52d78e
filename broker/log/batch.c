/*
 * batch.c — Kafka record batch v2: header, CRC, validation, records,
 * builder. See batch.h for the layout and the rules checked.
 *
 * Kafka concept: DefaultRecordBatch / DefaultRecord plus the parts of
 * LogValidator that judge a batch on its own (the log judges offsets,
 * epochs and timestamps against its state). Batches stay opaque bytes: the
 * only in-place edits are the fields Kafka itself rewrites on append.
 *
 * Records are decoded with a bounds-checked cursor (one check per field,
 * never a read past the end), so a hostile length can at worst make a
 * decode fail; validation and the iterator share the same record_read.
 * The only allocation is the decompression buffer for compressed batches,
 * which callers can reuse (batch_validate_scratch, batch_iter_reset).
 */
#include "broker/log/batch.h"

#include <glib.h>
#include <string.h>

#include "base/assert.h"
#include "base/crc32c.h"
#include "base/varint.h"
#include "broker/kerr.h"
#include "broker/log/compress.h"

/* A record body holds at least six one-byte fields (see
 * BATCH_RECORD_BYTES_MIN); a header at least two (key and value lengths). */
#define RECORD_BODY_BYTES_MIN 6
#define RECORD_HEADER_BYTES_MIN 2
/* A builder's first allocation: Kafka's default batch.size, so a
 * producer's batch fills without reallocating (and copying) as it grows;
 * bigger batches still grow by doubling. */
#define BUILDER_BYTES_INITIAL ((size_t)16 * 1024)

/* Signed sums and differences that wrap instead of overflowing: the
 * operands can come from hostile bytes, and encode and decode must agree
 * bit for bit. */
static int64_t add_wrap64(int64_t a, int64_t b) {
  return (int64_t)((uint64_t)a + (uint64_t)b);
}
static int64_t sub_wrap64(int64_t a, int64_t b) {
  return (int64_t)((uint64_t)a - (uint64_t)b);
}

/* ---- header ---- */

int64_t batch_total_bytes(const uint8_t *p, size_t avail) {
  if (p == NULL || avail < BATCH_LOG_OVERHEAD)
    return -1;
  int32_t batch_length = (int32_t)be32_load(p + BATCH_OFF_LENGTH);
  if (batch_length < 0)
    return -1;
  return (int64_t)BATCH_LOG_OVERHEAD + batch_length;
}

int batch_header_parse(const uint8_t *p, size_t len, batch_header *h) {
  SL_ASSERT(h != NULL);
  if (p == NULL || len < BATCH_HEADER_BYTES)
    return KERR_CORRUPT_MESSAGE;
  h->base_offset = (int64_t)be64_load(p + BATCH_OFF_BASE_OFFSET);
  h->batch_length = (int32_t)be32_load(p + BATCH_OFF_LENGTH);
  h->leader_epoch = (int32_t)be32_load(p + BATCH_OFF_LEADER_EPOCH);
  h->magic = (int8_t)p[BATCH_OFF_MAGIC];
  h->crc = be32_load(p + BATCH_OFF_CRC);
  h->attributes = (int16_t)be16_load(p + BATCH_OFF_ATTRIBUTES);
  h->last_offset_delta = (int32_t)be32_load(p + BATCH_OFF_LAST_OFFSET_DELTA);
  h->base_timestamp = (int64_t)be64_load(p + BATCH_OFF_BASE_TIMESTAMP);
  h->max_timestamp = (int64_t)be64_load(p + BATCH_OFF_MAX_TIMESTAMP);
  h->producer_id = (int64_t)be64_load(p + BATCH_OFF_PRODUCER_ID);
  h->producer_epoch = (int16_t)be16_load(p + BATCH_OFF_PRODUCER_EPOCH);
  h->base_sequence = (int32_t)be32_load(p + BATCH_OFF_BASE_SEQUENCE);
  h->record_count = (int32_t)be32_load(p + BATCH_OFF_RECORD_COUNT);
  return KERR_NONE;
}

uint32_t batch_compute_crc(const uint8_t *p, size_t len) {
  SL_ASSERT(p != NULL && len >= BATCH_CRC_START);
  return crc32c(p + BATCH_CRC_START, len - BATCH_CRC_START);
}

void batch_set_base_offset(uint8_t *p, int64_t base_offset) {
  SL_ASSERT(p != NULL);
  be64_store(p + BATCH_OFF_BASE_OFFSET, (uint64_t)base_offset);
}

void batch_set_leader_epoch(uint8_t *p, int32_t leader_epoch) {
  SL_ASSERT(p != NULL);
  be32_store(p + BATCH_OFF_LEADER_EPOCH, (uint32_t)leader_epoch);
}

void batch_set_log_append_time(uint8_t *p, size_t len, int64_t ts_ms) {
  SL_ASSERT(p != NULL && len >= BATCH_HEADER_BYTES);
  uint16_t attributes = be16_load(p + BATCH_OFF_ATTRIBUTES);
  be16_store(p + BATCH_OFF_ATTRIBUTES,
             (uint16_t)(attributes | BATCH_ATTR_LOG_APPEND_TIME));
  be64_store(p + BATCH_OFF_MAX_TIMESTAMP, (uint64_t)ts_ms);
  be32_store(p + BATCH_OFF_CRC, batch_compute_crc(p, len));
}

/* ---- records ---- */

/* One decoded record, relative to its batch. Pointers borrow the bytes the
 * record was read from. */
typedef struct record_view {
  int8_t attributes;
  int64_t timestamp_delta;
  int32_t offset_delta;
  const uint8_t *key;
  int32_t key_len;
  const uint8_t *value;
  int32_t value_len;
  int32_t header_count;
} record_view;

/* Records are decoded with a bare cursor, *pp moving towards end, rather
 * than through buf_reader_t: one comparison per field instead of one per
 * byte and per call, and the varints take their unrolled path whenever ten
 * bytes remain (base/varint.h). Every length is compared with the bytes
 * left before it is used, so nothing is read outside [*pp, end). */

/* Empty records sections point here, so the cursor is never NULL. */
static const uint8_t batch_no_bytes[1];

static inline bool cur_varint32(const uint8_t **pp, const uint8_t *end,
                                int32_t *out) {
  uint32_t u;
  size_t n = uvarint32_decode(*pp, (size_t)(end - *pp), &u);
  if (n == 0)
    return false;
  *pp += n;
  *out = zigzag32_decode(u);
  return true;
}

static inline bool cur_varint64(const uint8_t **pp, const uint8_t *end,
                                int64_t *out) {
  uint64_t u;
  size_t n = uvarint64_decode(*pp, (size_t)(end - *pp), &u);
  if (n == 0)
    return false;
  *pp += n;
  *out = zigzag64_decode(u);
  return true;
}

/* Reads a length-prefixed byte string whose length may be -1 (null) when
 * nullable. Returns false on a bad length or short input. An empty string
 * gets a non-NULL pointer (into the record), a null one NULL. */
static inline bool cur_bytes(const uint8_t **pp, const uint8_t *end,
                             bool nullable, const uint8_t **out,
                             int32_t *out_len) {
  int32_t n;
  if (!cur_varint32(pp, end, &n) || n < (nullable ? -1 : 0))
    return false;
  *out_len = n;
  if (n < 0) {
    *out = NULL;
    return true;
  }
  if ((size_t)n > (size_t)(end - *pp))
    return false;
  *out = *pp;
  *pp += n;
  return true;
}

/* Decodes one record from [*pp, end). When headers is not NULL the first
 * BATCH_RECORD_HEADERS_MAX headers are stored there. Returns KERR_NONE
 * with *pp just past the record, or KERR_INVALID_RECORD (*pp then
 * unspecified, but within [*pp, end]). */
static inline int record_read(const uint8_t **pp, const uint8_t *end,
                              record_view *v, batch_record_header *headers) {
  int32_t body_bytes;
  if (!cur_varint32(pp, end, &body_bytes) ||
      body_bytes < RECORD_BODY_BYTES_MIN ||
      (size_t)body_bytes > (size_t)(end - *pp))
    return KERR_INVALID_RECORD;
  const uint8_t *p = *pp;
  const uint8_t *body_end = p + body_bytes;
  *pp = body_end;
  /* body_bytes >= 6: the attributes byte is there. */
  v->attributes = (int8_t)*p++;
  if (!cur_varint64(&p, body_end, &v->timestamp_delta) ||
      !cur_varint32(&p, body_end, &v->offset_delta) ||
      !cur_bytes(&p, body_end, true, &v->key, &v->key_len) ||
      !cur_bytes(&p, body_end, true, &v->value, &v->value_len) ||
      !cur_varint32(&p, body_end, &v->header_count))
    return KERR_INVALID_RECORD;
  if (v->header_count < 0 ||
      (size_t)v->header_count >
          (size_t)(body_end - p) / RECORD_HEADER_BYTES_MIN)
    return KERR_INVALID_RECORD;
  for (int32_t i = 0; i < v->header_count; i++) {
    batch_record_header hdr;
    if (!cur_bytes(&p, body_end, false, &hdr.key, &hdr.key_len) ||
        !cur_bytes(&p, body_end, true, &hdr.value, &hdr.value_len))
      return KERR_INVALID_RECORD;
    if (headers != NULL && i < BATCH_RECORD_HEADERS_MAX)
      headers[i] = hdr;
  }
  /* The length prefix must cover the fields exactly (Kafka: "invalid
   * record size"). */
  if (p != body_end)
    return KERR_INVALID_RECORD;
  return KERR_NONE;
}

/* Walks record_count records in data[0..len) checking framing and offset
 * deltas; strict = deltas must be 0..n-1 (a client's batch). */
static int records_check(const uint8_t *data, size_t len, const batch_header *h,
                         bool strict) {
  if ((uint64_t)h->record_count * BATCH_RECORD_BYTES_MIN > len)
    return KERR_INVALID_RECORD;
  const uint8_t *p = len > 0 ? data : batch_no_bytes;
  const uint8_t *end = p + len;
  int64_t delta_prev = -1;
  for (int32_t i = 0; i < h->record_count; i++) {
    record_view v;
    int rc = record_read(&p, end, &v, NULL);
    if (rc != KERR_NONE)
      return rc;
    if (strict ? v.offset_delta != i
               : v.offset_delta <= delta_prev ||
                     v.offset_delta > h->last_offset_delta)
      return KERR_INVALID_RECORD;
    delta_prev = v.offset_delta;
  }
  return p == end ? KERR_NONE : KERR_INVALID_RECORD;
}

/* The rules on the header's counts and producer fields (see batch.h). */
static int header_counts_check(const batch_header *h, bool from_client) {
  if (h->last_offset_delta < 0 || h->record_count < 0)
    return KERR_INVALID_RECORD;
  if (from_client) {
    if (h->record_count == 0 ||
        (int64_t)h->last_offset_delta + 1 != h->record_count)
      return KERR_INVALID_RECORD;
    if (h->producer_id >= 0 && h->base_sequence < 0)
      return KERR_INVALID_RECORD;
    return KERR_NONE;
  }
  if ((int64_t)h->record_count > (int64_t)h->last_offset_delta + 1)
    return KERR_INVALID_RECORD;
  return KERR_NONE;
}

int batch_validate_scratch(const uint8_t *p, size_t len,
                           const batch_limits *limits, buf_t *scratch) {
  SL_ASSERT(limits != NULL && scratch != NULL);
  batch_header h;
  if (batch_header_parse(p, len, &h) != KERR_NONE)
    return KERR_CORRUPT_MESSAGE;
  if (h.batch_length < 0 ||
      (uint64_t)h.batch_length + BATCH_LOG_OVERHEAD != (uint64_t)len)
    return KERR_CORRUPT_MESSAGE;
  if (limits->max_bytes != 0 && len > limits->max_bytes)
    return KERR_MESSAGE_TOO_LARGE;
  if (h.magic != BATCH_MAGIC_V2)
    return KERR_INVALID_RECORD;
  if (h.crc != batch_compute_crc(p, len))
    return KERR_CORRUPT_MESSAGE;
  batch_codec codec = batch_header_codec(&h);
  if (codec > BATCH_CODEC_ZSTD)
    return KERR_UNSUPPORTED_COMPRESSION_TYPE;
  if ((h.attributes & BATCH_ATTR_CONTROL) && !limits->allow_control)
    return KERR_INVALID_RECORD;
  int rc = header_counts_check(&h, !limits->allow_control);
  if (rc != KERR_NONE)
    return rc;

  const uint8_t *records = p + BATCH_HEADER_BYTES;
  size_t records_bytes = len - BATCH_HEADER_BYTES;
  /* Cheap bounds on the count from the bytes present, before any decoding:
   * a huge record_count in a small batch fails here. */
  if (codec == BATCH_CODEC_NONE
          ? (uint64_t)h.record_count * BATCH_RECORD_BYTES_MIN > records_bytes
          : h.record_count > 0 && records_bytes == 0)
    return KERR_INVALID_RECORD;
  if (!limits->check_records)
    return KERR_NONE;
  bool strict = !limits->allow_control;
  if (codec == BATCH_CODEC_NONE || records_bytes == 0)
    return records_check(records, records_bytes, &h, strict);
  buf_clear(scratch);
  rc = compress_decode(codec, records, records_bytes,
                       BATCH_DECOMPRESSED_BYTES_MAX, scratch);
  if (rc != KERR_NONE)
    return rc;
  return records_check(scratch->data, scratch->len, &h, strict);
}

int batch_validate(const uint8_t *p, size_t len, const batch_limits *limits) {
  buf_t scratch = BUF_INIT;
  int rc = batch_validate_scratch(p, len, limits, &scratch);
  buf_free(&scratch);
  return rc;
}

/* ---- iterator ---- */

struct batch_iter {
  batch_header header;
  buf_t decompressed; /* [owned] reused across resets */
  const uint8_t *pos;  /* next record; never NULL */
  const uint8_t *end;  /* end of the records */
  int32_t index; /* records returned so far */
  int err;       /* sticky KERR_* once a record failed to decode */
};

int batch_iter_reset(batch_iter *it, const uint8_t *p, size_t len) {
  SL_ASSERT(it != NULL);
  it->index = 0;
  it->err = KERR_NONE;
  it->pos = it->end = batch_no_bytes;
  const batch_header *h = &it->header;
  int rc = batch_header_parse(p, len, &it->header);
  if (rc != KERR_NONE)
    goto out_error;
  rc = KERR_CORRUPT_MESSAGE;
  if (h->batch_length < 0 ||
      (uint64_t)h->batch_length + BATCH_LOG_OVERHEAD != (uint64_t)len)
    goto out_error;
  rc = KERR_INVALID_RECORD;
  if (h->magic != BATCH_MAGIC_V2 || h->record_count < 0)
    goto out_error;
  rc = KERR_UNSUPPORTED_COMPRESSION_TYPE;
  batch_codec codec = batch_header_codec(h);
  if (codec > BATCH_CODEC_ZSTD)
    goto out_error;

  const uint8_t *records = p + BATCH_HEADER_BYTES;
  size_t records_bytes = len - BATCH_HEADER_BYTES;
  if (codec != BATCH_CODEC_NONE && records_bytes > 0) {
    buf_clear(&it->decompressed);
    rc = compress_decode(codec, records, records_bytes,
                         BATCH_DECOMPRESSED_BYTES_MAX, &it->decompressed);
    if (rc != KERR_NONE)
      goto out_error;
    records = it->decompressed.data;
    records_bytes = it->decompressed.len;
  }
  if (records_bytes > 0) {
    it->pos = records;
    it->end = records + records_bytes;
  }
  return KERR_NONE;

out_error:
  it->err = rc;
  return rc;
}

batch_iter *batch_iter_new(const uint8_t *p, size_t len, int *err) {
  SL_ASSERT(err != NULL);
  batch_iter *it = g_new0(batch_iter, 1);
  buf_init(&it->decompressed);
  *err = batch_iter_reset(it, p, len);
  if (*err != KERR_NONE) {
    batch_iter_free(it);
    return NULL;
  }
  return it;
}

const batch_header *batch_iter_header(const batch_iter *it) {
  SL_ASSERT(it != NULL);
  return &it->header;
}

int batch_iter_next(batch_iter *it, batch_record *rec) {
  SL_ASSERT(it != NULL && rec != NULL);
  if (it->err != KERR_NONE)
    return -it->err;
  const batch_header *h = &it->header;
  if (it->index >= h->record_count) {
    if (it->pos == it->end)
      return 0;
    it->err = KERR_INVALID_RECORD;
    return -it->err;
  }
  record_view v;
  int rc = record_read(&it->pos, it->end, &v, rec->headers);
  if (rc != KERR_NONE) {
    it->err = rc;
    return -rc;
  }
  rec->offset = add_wrap64(h->base_offset, v.offset_delta);
  rec->timestamp = (h->attributes & BATCH_ATTR_LOG_APPEND_TIME)
                       ? h->max_timestamp
                       : add_wrap64(h->base_timestamp, v.timestamp_delta);
  rec->attributes = v.attributes;
  rec->key = v.key;
  rec->key_len = v.key_len;
  rec->value = v.value;
  rec->value_len = v.value_len;
  rec->header_count = v.header_count;
  it->index++;
  return 1;
}

void batch_iter_free(batch_iter *it) {
  if (it == NULL)
    return;
  buf_free(&it->decompressed);
  g_free(it);
}

/* ---- builder ---- */

/* Records are encoded after BATCH_HEADER_BYTES of room for the header, so
 * an uncompressed batch is finished in place: the header is written into
 * that room and the buffer handed to the caller, no copy of the records. */
struct batch_builder {
  batch_builder_opts opts;
  buf_t records; /* [owned] header room, then uncompressed records */
  int32_t count;
  int32_t last_delta;    /* -1 while empty */
  int64_t max_timestamp; /* meaningful once count > 0 */
};

batch_builder *batch_builder_new_in(const batch_builder_opts *opts,
                                    buf_t *room) {
  SL_ASSERT(opts != NULL && room != NULL);
  SL_ASSERT((opts->extra_attributes & BATCH_ATTR_CODEC_MASK) == 0);
  batch_builder *b = g_new0(batch_builder, 1);
  b->opts = *opts;
  b->records = *room;
  buf_init(room);
  buf_clear(&b->records);
  buf_reserve(&b->records, BUILDER_BYTES_INITIAL);
  buf_append_zeros(&b->records, BATCH_HEADER_BYTES);
  b->last_delta = -1;
  return b;
}

batch_builder *batch_builder_new(const batch_builder_opts *opts) {
  buf_t room = BUF_INIT;
  return batch_builder_new_in(opts, &room);
}

/* Writers into room already reserved (batch_builder_add_at reserves the
 * whole record first): no capacity check per field. */
static inline uint8_t *put_varint32_raw(uint8_t *p, int32_t v) {
  return p + uvarint32_encode(p, zigzag32_encode(v));
}

static inline uint8_t *put_bytes_raw(uint8_t *p, const void *data,
                                     int32_t n) {
  p = put_varint32_raw(p, n);
  if (n > 0) {
    memcpy(p, data, (size_t)n);
    p += n;
  }
  return p;
}

static size_t bytes_field_len(int32_t n) {
  return varint32_len(n) + (n > 0 ? (size_t)n : 0);
}


void batch_builder_add_at(batch_builder *b, int32_t offset_delta,
                          int64_t timestamp, const void *key, int32_t key_len,
                          const void *value, int32_t value_len,
                          const batch_record_header *headers,
                          int32_t header_count) {
  SL_ASSERT(b != NULL);
  SL_ASSERT(offset_delta > b->last_delta && b->count < INT32_MAX);
  SL_ASSERT(key_len >= -1 && (key_len <= 0 || key != NULL));
  SL_ASSERT(value_len >= -1 && (value_len <= 0 || value != NULL));
  SL_ASSERT(header_count >= 0 && (header_count == 0 || headers != NULL));
  int64_t timestamp_delta = sub_wrap64(timestamp, b->opts.base_timestamp);

  size_t body_bytes = 1 + varint64_len(timestamp_delta) +
                      varint32_len(offset_delta) + bytes_field_len(key_len) +
                      bytes_field_len(value_len) + varint32_len(header_count);
  for (int32_t i = 0; i < header_count; i++) {
    SL_ASSERT(headers[i].key_len >= 0 &&
              (headers[i].key_len == 0 || headers[i].key != NULL));
    SL_ASSERT(headers[i].value_len >= -1 &&
              (headers[i].value_len <= 0 || headers[i].value != NULL));
    body_bytes += bytes_field_len(headers[i].key_len) +
                  bytes_field_len(headers[i].value_len);
  }
  SL_ASSERT(body_bytes <= INT32_MAX);

  buf_t *out = &b->records;
  buf_reserve(out, VARINT_MAX32 + body_bytes);
  uint8_t *start = out->data + out->len;
  uint8_t *p = put_varint32_raw(start, (int32_t)body_bytes);
  *p++ = 0; /* record attributes: unused in v2 */
  p += uvarint64_encode(p, zigzag64_encode(timestamp_delta));
  p = put_varint32_raw(p, offset_delta);
  p = put_bytes_raw(p, key, key_len);
  p = put_bytes_raw(p, value, value_len);
  p = put_varint32_raw(p, header_count);
  for (int32_t i = 0; i < header_count; i++) {
    p = put_bytes_raw(p, headers[i].key, headers[i].key_len);
    p = put_bytes_raw(p, headers[i].value, headers[i].value_len);
  }
  size_t written = (size_t)(p - start);
  /* The length computed above is the length written. */
  SL_ASSERT(written == varint32_len((int32_t)body_bytes) + body_bytes);
  out->len += written;

  if (b->count == 0 || timestamp > b->max_timestamp)
    b->max_timestamp = timestamp;
  b->count++;
  b->last_delta = offset_delta;
}

void batch_builder_add(batch_builder *b, int64_t timestamp, const void *key,
                       int32_t key_len, const void *value, int32_t value_len,
                       const batch_record_header *headers,
                       int32_t header_count) {
  SL_ASSERT(b != NULL && b->last_delta < INT32_MAX);
  batch_builder_add_at(b, b->last_delta + 1, timestamp, key, key_len, value,
                       value_len, headers, header_count);
}

int32_t batch_builder_count(const batch_builder *b) {
  SL_ASSERT(b != NULL);
  return b->count;
}

/* Writes the 61-byte header at p for a batch of total_bytes. */
static void header_write(uint8_t *p, const batch_builder *b, size_t total_bytes,
                         int32_t last_offset_delta) {
  const batch_builder_opts *o = &b->opts;
  be64_store(p + BATCH_OFF_BASE_OFFSET, (uint64_t)o->base_offset);
  be32_store(p + BATCH_OFF_LENGTH,
             (uint32_t)(total_bytes - BATCH_LOG_OVERHEAD));
  be32_store(p + BATCH_OFF_LEADER_EPOCH, (uint32_t)o->leader_epoch);
  p[BATCH_OFF_MAGIC] = BATCH_MAGIC_V2;
  be16_store(p + BATCH_OFF_ATTRIBUTES,
             (uint16_t)((uint16_t)o->codec | (uint16_t)o->extra_attributes));
  be32_store(p + BATCH_OFF_LAST_OFFSET_DELTA, (uint32_t)last_offset_delta);
  be64_store(p + BATCH_OFF_BASE_TIMESTAMP, (uint64_t)o->base_timestamp);
  be64_store(p + BATCH_OFF_MAX_TIMESTAMP,
             (uint64_t)(b->count > 0 ? b->max_timestamp : -1));
  be64_store(p + BATCH_OFF_PRODUCER_ID, (uint64_t)o->producer_id);
  be16_store(p + BATCH_OFF_PRODUCER_EPOCH, (uint16_t)o->producer_epoch);
  be32_store(p + BATCH_OFF_BASE_SEQUENCE, (uint32_t)o->base_sequence);
  be32_store(p + BATCH_OFF_RECORD_COUNT, (uint32_t)b->count);
  be32_store(p + BATCH_OFF_CRC, batch_compute_crc(p, total_bytes));
}

int batch_builder_finish(batch_builder *b, int32_t last_offset_delta_min,
                         buf_t *out) {
  SL_ASSERT(b != NULL && out != NULL);
  int rc = KERR_NONE;
  size_t start = out->len;
  if ((unsigned)b->opts.codec > BATCH_CODEC_ZSTD) {
    rc = KERR_UNSUPPORTED_COMPRESSION_TYPE;
    goto out_free_builder;
  }
  if (b->opts.codec == BATCH_CODEC_NONE && out->len == 0) {
    /* The common case: hand the buffer over, header room included. */
    buf_free(out);
    *out = b->records;
    buf_init(&b->records);
  } else {
    const uint8_t *records = b->records.data + BATCH_HEADER_BYTES;
    size_t records_bytes = b->records.len - BATCH_HEADER_BYTES;
    buf_reserve(out, BATCH_HEADER_BYTES + records_bytes);
    buf_append_zeros(out, BATCH_HEADER_BYTES);
    rc = compress_encode(b->opts.codec, records, records_bytes, out);
    if (rc != KERR_NONE) {
      out->len = start;
      goto out_free_builder;
    }
  }
  size_t total_bytes = out->len - start;
  SL_ASSERT(total_bytes - BATCH_LOG_OVERHEAD <= INT32_MAX);
  int32_t last_offset_delta = b->last_delta > last_offset_delta_min
                                  ? b->last_delta
                                  : last_offset_delta_min;
  header_write(out->data + start, b, total_bytes, last_offset_delta);
out_free_builder:
  batch_builder_free(b);
  return rc;
}

void batch_builder_free(batch_builder *b) {
  if (b == NULL)
    return;
  buf_free(&b->records);
  g_free(b);
}
