/*
 * proto.h — the Kafka 3.7 wire protocol: framing, headers and message codecs.
 *
 * What Kafka calls the protocol is three layers, and this module has one
 * section per layer:
 *
 *   frames     an int32 size, then that many bytes (a connection cuts its
 *              byte stream into frames with base/rxbuf.h);
 *   headers    request header v0-v2 and response header v0-v1; the header
 *              version follows from the API's flexible versions
 *              (proto_request_header_version);
 *   messages   the body of each request and response, described
 *              declaratively: one descriptor per message (generated from
 *              Kafka's JSON schemas by tools/protogen/protogen.py into
 *              schemas_gen.[ch]) and ONE generic encoder/decoder that walks
 *              a descriptor (proto_decode, proto_encode). Flexible versions
 *              (KIP-482) use compact lengths and end every struct with a
 *              tagged-field section; known tags are decoded into their
 *              fields, unknown tags are skipped, and tagged fields at their
 *              default are not sent.
 *
 * Plus ApiVersions negotiation: the table of described (api key, min, max)
 * and the v0-format UNSUPPORTED_VERSION reply Kafka sends to an ApiVersions
 * request newer than it knows (KIP-511).
 *
 * Decoded messages are C structs (schemas_gen.h) that live in a per-request
 * arena (proto_arena): one bump allocator, no malloc per field, freed or
 * reset all at once. A message's field order, names (snake_case) and
 * versions are Kafka's; a field that the decoded version does not carry
 * holds its schema default.
 *
 * Value representation (every field type has exactly one C form):
 *   bool, int8, int16, uint16, int32, uint32, int64, float64: the C type;
 *   uuid     proto_uuid (16 bytes);
 *   string   proto_str: data + len; len == -1 (data NULL) is null. Decoded
 *            strings are copied into the arena and NUL-terminated;
 *   bytes, records  proto_bytes: data + len, len == -1 is null. Decoded
 *            bytes and records POINT INTO THE INPUT (zero copy: a produce
 *            request's record batches are not copied), so the input must
 *            outlive the message;
 *   arrays   {items, count}, count == -1 (items NULL) is null;
 *   structs  inline in their parent.
 *
 * Limits: frames are at most the receiver's frame_bytes_max (Kafka's
 * socket.request.max.bytes, 100 MiB by default); an array's count must fit
 * the bytes left (count * the element's smallest encoding), so a frame
 * cannot make the decoder allocate more than a small multiple of its own
 * size, and the arena's byte limit bounds even that. Descriptors nest at
 * most PROTO_NESTING_MAX deep (a schema property, checked at compile time):
 * the codec recurses once per nesting level of the SCHEMA, never per byte
 * or element of the input.
 *
 * Errors: functions return 0 (or a count) on success and a negative
 * PROTO_ERR_* on failure; bytes from the network are validated, never
 * asserted. Misuse (NULL where a pointer is required, a version outside a
 * message's range given to the encoder) is SL_ASSERTed.
 *
 * Ownership: pointers are borrowed unless marked [owned]. Everything a
 * decoder returns lives in the arena passed to it (or, for bytes and
 * records, in the input).
 *
 * Threading: no global mutable state; all tables are static const.
 */
#ifndef SLUICE_BROKER_PROTO_PROTO_H
#define SLUICE_BROKER_PROTO_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* ---- limits ---- */

/* Kafka's default socket.request.max.bytes. */
#define PROTO_FRAME_BYTES_MAX_DEFAULT ((int32_t)100 * 1024 * 1024)
/* Smallest request frame: header v0 (api_key, api_version,
 * correlation_id). */
#define PROTO_REQUEST_FRAME_BYTES_MIN 8
/* Smallest response frame: header v0 (correlation_id). */
#define PROTO_RESPONSE_FRAME_BYTES_MIN 4
/* Deepest struct nesting a descriptor may have (a message body is level 1;
 * Kafka's schemas nest at most 4). The codec recurses once per level. */
#define PROTO_NESTING_MAX 8
/* The size prefix itself. */
#define PROTO_FRAME_PREFIX_BYTES 4

/* ---- errors ---- */

enum {
  PROTO_OK = 0,
  /* The bytes are not a valid encoding: truncated, a length or count out of
   * range, null where the version does not allow it, a malformed varint,
   * bytes left over after the message. */
  PROTO_ERR_DECODE = -1,
  /* A frame's size prefix is below the header minimum or above the
   * configured maximum (the connection cannot be resynchronised). */
  PROTO_ERR_FRAME_SIZE = -2,
  /* The API key is not one we describe (Kafka closes the connection). */
  PROTO_ERR_UNKNOWN_API = -3,
  /* The API version is outside the described range. For ApiVersions the
   * header was still parsed so the caller can send the v0 fallback. */
  PROTO_ERR_UNSUPPORTED_VERSION = -4,
  /* Decoding would exceed the arena's byte limit. */
  PROTO_ERR_TOO_BIG = -5,
  /* A value cannot be encoded in the requested version: null in a
   * non-nullable field, a string longer than 32767 bytes in a non-flexible
   * version, a negative length other than -1. */
  PROTO_ERR_ENCODE = -6,
};

/* A short English description of a PROTO_ERR_* code. */
const char *proto_strerror(int err);

/* ---- values ---- */

typedef struct proto_str {
  const char *data; /* NULL when null */
  int32_t len;      /* -1 when null */
} proto_str;

typedef struct proto_bytes {
  const uint8_t *data; /* NULL when null */
  int32_t len;         /* -1 when null */
} proto_bytes;

typedef struct proto_uuid {
  uint8_t bytes[16];
} proto_uuid;

#define PROTO_STR_NULL ((proto_str){NULL, -1})
#define PROTO_BYTES_NULL ((proto_bytes){NULL, -1})
/* A proto_str for a string literal. */
#define PROTO_STR_LIT(s) ((proto_str){(s), (int32_t)(sizeof(s) - 1)})
/* A proto_str viewing a NUL-terminated C string (NULL gives null). The
 * string is borrowed. */
proto_str proto_str_from(const char *s);
/* True when s is non-null and equals the C string c. */
bool proto_str_eq(proto_str s, const char *c);

#define PROTO__ARRAY(name, T)                                                  \
  typedef struct name {                                                        \
    T *items;                                                                  \
    int32_t count; /* -1 = null */                                             \
  } name
PROTO__ARRAY(proto_bool_array, bool);
PROTO__ARRAY(proto_int8_array, int8_t);
PROTO__ARRAY(proto_int16_array, int16_t);
PROTO__ARRAY(proto_uint16_array, uint16_t);
PROTO__ARRAY(proto_int32_array, int32_t);
PROTO__ARRAY(proto_uint32_array, uint32_t);
PROTO__ARRAY(proto_int64_array, int64_t);
PROTO__ARRAY(proto_float64_array, double);
PROTO__ARRAY(proto_uuid_array, proto_uuid);
PROTO__ARRAY(proto_str_array, proto_str);
PROTO__ARRAY(proto_bytes_array, proto_bytes);

/* ---- arena ---- */

/* A bump allocator for one request (or response): allocations are never
 * freed one by one; proto_arena_reset or proto_arena_free releases all. */
typedef struct proto_arena proto_arena;

/* bytes_max bounds the total handed out (0 = no bound); allocations past
 * it fail, which decoders report as PROTO_ERR_TOO_BIG. */
proto_arena *proto_arena_new(size_t bytes_max); /* [owned] */
void proto_arena_free(proto_arena *a);          /* NULL is fine */
/* Forgets every allocation, keeping the first chunk for reuse. */
void proto_arena_reset(proto_arena *a);
/* size bytes, zeroed, aligned for any field type; NULL past the limit.
 * size 0 gives a valid unique pointer. */
void *proto_arena_alloc(proto_arena *a, size_t size);
/* Copies len bytes into the arena and NUL-terminates; len -1 gives the
 * null string. NULL past the limit is reported as the null string with
 * *ok false (ok may be NULL). */
proto_str proto_arena_str(proto_arena *a, const char *data, int32_t len,
                          bool *ok);
/* Bytes handed out so far (including alignment). */
size_t proto_arena_used_bytes(const proto_arena *a);

/* ---- descriptors ---- */

/* Version ranges: min..max inclusive; PROTO_VMAX means "and every later
 * version"; an empty range (min > max) means never. */
#define PROTO_VMAX INT16_MAX
typedef struct proto_vrange {
  int16_t min, max;
} proto_vrange;
#define PROTO_VNONE                                                            \
  { 1, 0 }
static inline bool proto_vrange_has(proto_vrange r, int v) {
  return v >= r.min && v <= r.max;
}

typedef enum proto_type {
  PROTO_BOOL,
  PROTO_INT8,
  PROTO_INT16,
  PROTO_UINT16,
  PROTO_INT32,
  PROTO_UINT32,
  PROTO_INT64,
  PROTO_FLOAT64,
  PROTO_UUID,
  PROTO_STRING,
  PROTO_BYTES,
  PROTO_RECORDS, /* NULLABLE_BYTES / COMPACT_NULLABLE_BYTES on the wire */
  PROTO_STRUCT,
} proto_type;

typedef struct proto_struct proto_struct;

/* One field of a struct. Values of type `type` (or arrays of them when
 * is_array) sit at `offset` in the struct's C type. */
typedef struct proto_field {
  const char *name; /* the C member name */
  uint32_t offset;
  proto_type type;
  bool is_array;
  proto_vrange versions;   /* versions the field exists in */
  proto_vrange nullable;   /* versions in which it may be null */
  proto_vrange tagged;     /* versions in which it is a tagged field */
  int32_t tag;             /* its tag, or -1 */
  const proto_struct *sub; /* PROTO_STRUCT: the element/struct descriptor */
  /* The default: default_null for nullable fields defaulting to null;
   * else default_int (integers, bool), default_float, default_str
   * (strings; NULL for non-strings). Bytes, records and arrays default
   * to empty unless default_null; uuids and structs to all-default. */
  bool default_null;
  int64_t default_int;
  double default_float;
  const char *default_str;
} proto_field;

struct proto_struct {
  const char *name; /* the C type name */
  size_t size;      /* sizeof the C type */
  const proto_field *fields;
  uint16_t field_count;
};

/* A request or response body of one API. */
typedef struct proto_message {
  const char *name; /* Kafka's name: "MetadataRequest" */
  int16_t api_key;
  bool is_response;
  proto_vrange versions; /* the versions described (and decodable) */
  int16_t flexible_min;  /* first flexible version, PROTO_VMAX if none */
  const proto_struct *body;
} proto_message;

/* One advertised API: what ApiVersions lists. */
typedef struct proto_api_range {
  int16_t api_key;
  int16_t min_version;
  int16_t max_version;
} proto_api_range;

/* The generated message structs and descriptors. */
#include "broker/proto/schemas_gen.h"

/* The request / response descriptor of an API key, or NULL when the key is
 * not described (any int16 is accepted). */
const proto_message *proto_request_message(int16_t api_key);
const proto_message *proto_response_message(int16_t api_key);
static inline bool proto_message_flexible(const proto_message *m,
                                          int16_t version) {
  return version >= m->flexible_min;
}

/* ---- the generic codec ---- */

/* Allocates a message (or any described struct) in the arena with every
 * field at its default. NULL past the arena's limit. */
void *proto_new(proto_arena *a, const proto_struct *s);
/* count structs of descriptor s, each at its defaults (count >= 0). */
void *proto_new_array(proto_arena *a, const proto_struct *s, int32_t count);
#define PROTO_NEW(arena, T) ((T *)proto_new((arena), &T##_desc))
#define PROTO_NEW_ARRAY(arena, T, n)                                           \
  ((T *)proto_new_array((arena), &T##_desc, (n)))
/* Sets every field of the struct at p to its default. */
void proto_set_defaults(const proto_struct *s, void *p);

/* Decodes exactly len bytes as message m at version into a new struct in
 * the arena (*out). Returns 0, PROTO_ERR_UNSUPPORTED_VERSION (version
 * outside m->versions), PROTO_ERR_DECODE or PROTO_ERR_TOO_BIG. Never reads
 * outside p[0..len). On error *out is NULL; the arena may hold garbage
 * until reset. */
int proto_decode(const proto_message *m, int16_t version, const uint8_t *p,
                 size_t len, proto_arena *a, void **out)
    __attribute__((warn_unused_result));
/* Appends the encoding of msg (a struct of m's C type) at version to out.
 * Fields absent from the version are not sent (whatever their value);
 * tagged fields at their default are omitted. Returns 0 or
 * PROTO_ERR_ENCODE, in which case out is left as it was. version must be in
 * m->versions (asserted). */
int proto_encode(const proto_message *m, int16_t version, const void *msg,
                 buf_t *out) __attribute__((warn_unused_result));
/* Same for any struct descriptor, flexible or not (for embedded
 * structures and tests). */
int proto_encode_struct(const proto_struct *s, int16_t version, bool flexible,
                        const void *p, buf_t *out)
    __attribute__((warn_unused_result));
int proto_decode_struct(const proto_struct *s, int16_t version, bool flexible,
                        const uint8_t *data, size_t len, proto_arena *a,
                        void *dst) __attribute__((warn_unused_result));
/* True when a and b carry the same values in every field the version
 * sends (tagged fields included). Floats compare by bits. */
bool proto_equal(const proto_struct *s, int16_t version, const void *a,
                 const void *b);

/* ---- headers ---- */

/* Request header version of an API version: 2 when the version is
 * flexible, else 1. -1 for an API key we do not describe (Kafka's only
 * header v0 user, ControlledShutdown v0, is not described). Versions
 * outside the described range get the header they would have, so an
 * ApiVersions v9 header is still v2. */
int proto_request_header_version(int16_t api_key, int16_t api_version);
/* Response header version: 1 when flexible, else 0; ApiVersions always 0
 * (Kafka's clients read its header as v0 at any version). -1 if unknown. */
int proto_response_header_version(int16_t api_key, int16_t api_version);

typedef struct proto_request_header {
  int16_t api_key;
  int16_t api_version;
  int32_t correlation_id;
  proto_str client_id; /* header v1+ (int16 length even in v2); null in v0 */
  int8_t header_version;
} proto_request_header;

/* Parses a request header from the start of a frame (the bytes after the
 * size prefix). *header_bytes is how many bytes it took. Returns 0,
 * PROTO_ERR_DECODE (too short, bad client_id length, bad tagged-field
 * section), PROTO_ERR_UNKNOWN_API (api_key, api_version and correlation_id
 * are still filled in), PROTO_ERR_TOO_BIG. client_id is copied into the
 * arena. Tagged fields of header v2 are skipped (Kafka defines none). */
int proto_request_header_decode(const uint8_t *frame, size_t len,
                                proto_arena *a, proto_request_header *h,
                                size_t *header_bytes)
    __attribute__((warn_unused_result));

/* A decoded request. */
typedef struct proto_request {
  proto_request_header header;
  const proto_message *message; /* the body's descriptor; NULL if unknown */
  void *body; /* arena struct of message's C type; NULL unless decoded */
} proto_request;

/* Header and body of one request frame (the bytes after the size prefix).
 * Returns:
 *   0 .......................... header and body decoded;
 *   PROTO_ERR_UNKNOWN_API ...... key not described; close the connection
 *                                (header fields as in proto_request_header_
 *                                decode);
 *   PROTO_ERR_UNSUPPORTED_VERSION  version outside the described range:
 *                                for ApiVersions the header is complete and
 *                                the caller answers with
 *                                proto_api_versions_fallback_encode; for
 *                                any other API, close the connection;
 *   PROTO_ERR_DECODE / PROTO_ERR_TOO_BIG  malformed (close).
 * Bytes and records fields point into frame. */
int proto_request_decode(const uint8_t *frame, size_t len, proto_arena *a,
                         proto_request *req)
    __attribute__((warn_unused_result));

/* Appends a whole response frame: size prefix, response header (version by
 * proto_response_header_version) and the body encoded at api_version.
 * Returns 0 or PROTO_ERR_ENCODE (out unchanged). The API must be described
 * and the version in range (asserted). */
int proto_response_encode(buf_t *out, int16_t api_key, int16_t api_version,
                          int32_t correlation_id, const void *body)
    __attribute__((warn_unused_result));
/* ---- frames with borrowed pieces ----
 *
 * A fetch response is mostly record batches the broker read from its log,
 * a produce request the batches a client built. Copying them into the
 * encoded frame costs a pass over every byte; instead
 * the encoder can leave them out of the buffer and list them as pieces:
 * the frame is then out's bytes with each piece's bytes inserted at its
 * `at` offset, in order (proto_pieces_iov gives that as an iovec-style
 * list), byte for byte what proto_response_encode would have produced. The
 * pieces point into the caller's memory (the body's records), so that
 * memory must outlive the sending of the frame. */

typedef struct proto_piece {
  size_t at; /* offset in out where the piece's bytes belong */
  const uint8_t *data;
  size_t len;
} proto_piece;

typedef struct proto_pieces {
  proto_piece *items; /* [owned] ascending by at */
  size_t count;
  size_t cap;
  size_t bytes;     /* sum of the pieces' lengths */
  size_t min_bytes; /* records shorter than this are copied into out */
} proto_pieces;

/* An empty list; records of at least min_bytes (>= 1) become pieces. */
void proto_pieces_init(proto_pieces *p, size_t min_bytes);
/* Forgets the pieces, keeping the capacity. */
void proto_pieces_clear(proto_pieces *p);
/* Releases the list (not the borrowed bytes). NULL is fine. */
void proto_pieces_free(proto_pieces *p);

/* proto_response_encode, except that non-null records fields of at least
 * pieces->min_bytes outside tagged fields are appended to pieces instead
 * of being copied into out (their length prefix still goes into out). The
 * size prefix counts the pieces. On error out and pieces are left as they
 * were. pieces NULL: exactly proto_response_encode. */
int proto_response_encode_pieces(buf_t *out, proto_pieces *pieces,
                                 int16_t api_key, int16_t api_version,
                                 int32_t correlation_id, const void *body)
    __attribute__((warn_unused_result));

/* One span of a frame: the bytes to send, in order. */
typedef struct proto_span {
  const uint8_t *data;
  size_t len;
} proto_span;

/* Fills spans[] with the frame bytes[0..len) plus pieces in sending order,
 * skipping empty spans; returns how many were written. spans must hold
 * 2 * pieces->count + 1 entries. Every piece's `at` must be <= len. */
size_t proto_pieces_spans(const uint8_t *bytes, size_t len,
                          const proto_pieces *pieces, proto_span *spans);

/* Appends a whole request frame (for clients): size prefix, request header
 * v1/v2 with client_id (NULL = null), body. Same errors. */
int proto_request_encode(buf_t *out, int16_t api_key, int16_t api_version,
                         int32_t correlation_id, const char *client_id,
                         const void *body) __attribute__((warn_unused_result));
/* proto_request_encode with records fields listed in pieces, as
 * proto_response_encode_pieces does: a Produce request's record batches
 * stay in the producer's buffers (which must then outlive the sending of
 * the frame, and not change until then). Byte for byte the frame
 * proto_request_encode gives. On error (PROTO_ERR_ENCODE) out and pieces
 * are left as they were. pieces NULL: exactly proto_request_encode. */
int proto_request_encode_pieces(buf_t *out, proto_pieces *pieces,
                                int16_t api_key, int16_t api_version,
                                int32_t correlation_id, const char *client_id,
                                const void *body)
    __attribute__((warn_unused_result));
/* Decodes a response frame (bytes after the size prefix) of a request the
 * caller sent at (api_key, api_version). Returns 0 with *correlation_id and
 * *body, or PROTO_ERR_DECODE / PROTO_ERR_TOO_BIG /
 * PROTO_ERR_UNSUPPORTED_VERSION / PROTO_ERR_UNKNOWN_API. */
int proto_response_decode(const uint8_t *frame, size_t len, int16_t api_key,
                          int16_t api_version, proto_arena *a,
                          int32_t *correlation_id, void **body)
    __attribute__((warn_unused_result));

/* ---- ApiVersions ---- */

/* The described APIs and their version ranges, sorted by key: the default
 * answer to ApiVersions. Static; *count receives the length. */
const proto_api_range *proto_api_ranges(size_t *count);
/* True when the API is described and version is within its range. */
bool proto_api_supported(int16_t api_key, int16_t version);
/* Fills resp->api_keys from ranges (NULL = proto_api_ranges) in the
 * arena. Returns 0 or PROTO_ERR_TOO_BIG. */
int proto_api_versions_fill(proto_api_versions_resp *resp, proto_arena *a,
                            const proto_api_range *ranges, size_t count)
    __attribute__((warn_unused_result));
/* Kafka's check of an ApiVersions request (v3+): client_software_name and
 * _version must match [a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?; a broker
 * answers INVALID_REQUEST (42) otherwise. Always true below v3. */
bool proto_api_versions_request_valid(const proto_api_versions_req *req,
                                      int16_t version);
/* Appends the whole frame Kafka sends for an ApiVersions request newer than
 * it supports: response header v0, then the v0 body error_code 35
 * (UNSUPPORTED_VERSION) and api_keys = one entry, ApiVersions' own range. */
void proto_api_versions_fallback_encode(buf_t *out, int32_t correlation_id);

#endif
