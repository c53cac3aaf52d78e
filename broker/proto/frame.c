/*
 * frame.c — frames and headers: what surrounds every Kafka message.
 *
 * A frame is `int32 size` and `size` bytes: the request or response header,
 * then the body. Request header v1 is api_key, api_version,
 * correlation_id, client_id (NULLABLE_STRING); v2 appends a tagged-field
 * section. client_id keeps its int16 length in v2 so that any broker can
 * read the header of any ApiVersions request (KIP-511). Response header v0
 * is correlation_id; v1 appends a tagged-field section, except that
 * ApiVersions responses always use v0.
 *
 * Nothing here keeps state; cutting a byte stream into frames is
 * base/rxbuf.h's job.
 */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "base/varint.h"
#include "broker/proto/proto.h"
#include "broker/proto/proto_internal.h"

/* ---- descriptors by key ---- */

const proto_message *proto_request_message(int16_t api_key) {
  if (api_key < 0 || api_key >= PROTO__API_KEY_LIMIT)
    return NULL;
  return proto__requests[api_key];
}

const proto_message *proto_response_message(int16_t api_key) {
  if (api_key < 0 || api_key >= PROTO__API_KEY_LIMIT)
    return NULL;
  return proto__responses[api_key];
}

/* ---- headers ---- */

int proto_request_header_version(int16_t api_key, int16_t api_version) {
  const proto_message *m = proto_request_message(api_key);
  if (!m)
    return -1;
  return proto_message_flexible(m, api_version) ? 2 : 1;
}

int proto_response_header_version(int16_t api_key, int16_t api_version) {
  const proto_message *m = proto_response_message(api_key);
  if (!m)
    return -1;
  if (api_key == PROTO_API_API_VERSIONS)
    return 0;
  return proto_message_flexible(m, api_version) ? 1 : 0;
}

int proto_request_header_decode(const uint8_t *frame, size_t len,
                                proto_arena *a, proto_request_header *h,
                                size_t *header_bytes) {
  SL_ASSERT(a && h && header_bytes && (frame || len == 0));
  memset(h, 0, sizeof *h);
  h->client_id = PROTO_STR_NULL;
  *header_bytes = 0;
  buf_reader_t r;
  buf_reader_init(&r, frame, len);
  h->api_key = (int16_t)buf_get_be16(&r);
  h->api_version = (int16_t)buf_get_be16(&r);
  h->correlation_id = (int32_t)buf_get_be32(&r);
  if (r.error)
    return PROTO_ERR_DECODE;
  int hv = proto_request_header_version(h->api_key, h->api_version);
  if (hv < 0) {
    *header_bytes = r.pos;
    return PROTO_ERR_UNKNOWN_API;
  }
  h->header_version = (int8_t)hv;
  /* client_id: NULLABLE_STRING with an int16 length in v1 and v2 alike. */
  int16_t n = (int16_t)buf_get_be16(&r);
  if (r.error || n < -1)
    return PROTO_ERR_DECODE;
  if (n >= 0) {
    const uint8_t *p = buf_get_bytes(&r, (size_t)n);
    if (!p)
      return PROTO_ERR_DECODE;
    bool ok;
    h->client_id = proto_arena_str(a, (const char *)p, n, &ok);
    if (!ok)
      return PROTO_ERR_TOO_BIG;
  }
  if (hv >= 2)
    proto__skip_tagged_fields(&r);
  if (r.error)
    return PROTO_ERR_DECODE;
  *header_bytes = r.pos;
  return 0;
}

int proto_request_decode(const uint8_t *frame, size_t len, proto_arena *a,
                         proto_request *req) {
  SL_ASSERT(req);
  req->message = NULL;
  req->body = NULL;
  size_t header_bytes;
  int rc =
      proto_request_header_decode(frame, len, a, &req->header, &header_bytes);
  if (rc)
    return rc;
  const proto_message *m = proto_request_message(req->header.api_key);
  SL_ASSERT(m); /* the header decoded, so the key is described */
  req->message = m;
  if (!proto_vrange_has(m->versions, req->header.api_version))
    return PROTO_ERR_UNSUPPORTED_VERSION;
  return proto_decode(m, req->header.api_version, frame + header_bytes,
                      len - header_bytes, a, &req->body);
}

/* Encodes body after the header already in out (from start, where the
 * size prefix is reserved), then back-patches the size prefix; on an error
 * undoes the frame in out and the pieces it listed. */
static int frame_finish(const proto_message *m, int16_t api_version,
                        const void *body, buf_t *out, size_t start,
                        proto_pieces *pieces) {
  size_t count = pieces ? pieces->count : 0;
  size_t bytes_before = pieces ? pieces->bytes : 0;
  int rc = proto__encode_pieces(m, api_version, body, out, pieces);
  size_t piece_bytes = pieces ? pieces->bytes - bytes_before : 0;
  size_t body_len = out->len - start - PROTO_FRAME_PREFIX_BYTES;
  if (rc == 0 &&
      (piece_bytes > INT32_MAX || body_len > INT32_MAX - piece_bytes))
    rc = PROTO_ERR_ENCODE;
  if (rc) {
    out->len = start;
    if (pieces) {
      pieces->count = count;
      pieces->bytes = bytes_before;
    }
    return rc;
  }
  buf_set_be32(out, start, (uint32_t)(body_len + piece_bytes));
  return 0;
}

int proto_response_encode_pieces(buf_t *out, proto_pieces *pieces,
                                 int16_t api_key, int16_t api_version,
                                 int32_t correlation_id, const void *body) {
  SL_ASSERT(out && body);
  const proto_message *m = proto_response_message(api_key);
  SL_ASSERT(m);
  size_t start = out->len;
  buf_put_be32(out, 0);
  buf_put_be32(out, (uint32_t)correlation_id);
  if (proto_response_header_version(api_key, api_version) >= 1)
    buf_put_u8(out, 0); /* no tagged fields */
  return frame_finish(m, api_version, body, out, start, pieces);
}

int proto_response_encode(buf_t *out, int16_t api_key, int16_t api_version,
                          int32_t correlation_id, const void *body) {
  return proto_response_encode_pieces(out, NULL, api_key, api_version,
                                      correlation_id, body);
}

int proto_request_encode_pieces(buf_t *out, proto_pieces *pieces,
                                int16_t api_key, int16_t api_version,
                                int32_t correlation_id, const char *client_id,
                                const void *body) {
  SL_ASSERT(out && body);
  const proto_message *m = proto_request_message(api_key);
  SL_ASSERT(m);
  size_t id_len = client_id ? strlen(client_id) : 0;
  if (id_len > INT16_MAX)
    return PROTO_ERR_ENCODE;
  size_t start = out->len;
  buf_put_be32(out, 0);
  buf_put_be16(out, (uint16_t)api_key);
  buf_put_be16(out, (uint16_t)api_version);
  buf_put_be32(out, (uint32_t)correlation_id);
  if (client_id) {
    buf_put_be16(out, (uint16_t)id_len);
    buf_append(out, client_id, id_len);
  } else {
    buf_put_be16(out, (uint16_t)-1);
  }
  if (proto_request_header_version(api_key, api_version) >= 2)
    buf_put_u8(out, 0); /* no tagged fields */
  return frame_finish(m, api_version, body, out, start, pieces);
}

int proto_request_encode(buf_t *out, int16_t api_key, int16_t api_version,
                         int32_t correlation_id, const char *client_id,
                         const void *body) {
  return proto_request_encode_pieces(out, NULL, api_key, api_version,
                                     correlation_id, client_id, body);
}

int proto_response_decode(const uint8_t *frame, size_t len, int16_t api_key,
                          int16_t api_version, proto_arena *a,
                          int32_t *correlation_id, void **body) {
  SL_ASSERT(a && correlation_id && body && (frame || len == 0));
  *body = NULL;
  const proto_message *m = proto_response_message(api_key);
  if (!m)
    return PROTO_ERR_UNKNOWN_API;
  buf_reader_t r;
  buf_reader_init(&r, frame, len);
  *correlation_id = (int32_t)buf_get_be32(&r);
  if (proto_response_header_version(api_key, api_version) >= 1)
    proto__skip_tagged_fields(&r);
  if (r.error)
    return PROTO_ERR_DECODE;
  return proto_decode(m, api_version, frame + r.pos, len - r.pos, a, body);
}
