/*
 * proto_internal.h — symbols shared between the files of broker/proto/
 * (proto__ prefix); not part of the module's contract.
 */
#ifndef SLUICE_BROKER_PROTO_INTERNAL_H
#define SLUICE_BROKER_PROTO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "broker/proto/proto.h"

/* API keys are looked up in tables of this many entries; larger keys (and
 * negative ones) are not described. */
#define PROTO__API_KEY_LIMIT 128

/* Generated (schemas_gen.c). */
extern const proto_message *const proto__requests[PROTO__API_KEY_LIMIT];
extern const proto_message *const proto__responses[PROTO__API_KEY_LIMIT];
extern const proto_api_range proto__api_ranges[];
extern const size_t proto__api_range_count;

/* Skips a tagged-field section (uvarint count, then tag, size, payload per
 * field) without interpreting it; sets r->error when malformed. */
void proto__skip_tagged_fields(buf_reader_t *r);

/* proto_encode, with records fields of at least pieces->min_bytes (outside
 * tagged fields) listed in pieces instead of copied into out; pieces NULL
 * copies them. On error out and pieces are left as they were. */
int proto__encode_pieces(const proto_message *m, int16_t version,
                         const void *msg, buf_t *out, proto_pieces *pieces)
    __attribute__((warn_unused_result));

#endif
