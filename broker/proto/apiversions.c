/*
 * apiversions.c — ApiVersions (key 18) negotiation helpers.
 *
 * A client asks which (api key, min, max) the broker speaks and uses the
 * highest version both sides know. The answer lists the described ranges
 * (schemas_gen.c, from the API list in tools/protogen/protogen.py). When a
 * client sends an ApiVersions version newer than ours, Kafka (KIP-511)
 * answers in the v0 format — header v0, error_code 35, an array holding
 * only ApiVersions' own range, no throttle time — so the client can retry
 * at a version both support.
 */
#include "base/assert.h"
#include "broker/kerr.h"
#include "broker/proto/proto.h"
#include "broker/proto/proto_internal.h"

const proto_api_range *proto_api_ranges(size_t *count) {
  SL_ASSERT(count);
  *count = proto__api_range_count;
  return proto__api_ranges;
}

bool proto_api_supported(int16_t api_key, int16_t version) {
  const proto_message *m = proto_request_message(api_key);
  return m && proto_vrange_has(m->versions, version);
}

int proto_api_versions_fill(proto_api_versions_resp *resp, proto_arena *a,
                            const proto_api_range *ranges, size_t count) {
  SL_ASSERT(resp && a);
  if (!ranges)
    ranges = proto_api_ranges(&count);
  SL_ASSERT(count <= INT32_MAX);
  proto_api_versions_resp_api_version *items =
      PROTO_NEW_ARRAY(a, proto_api_versions_resp_api_version, (int32_t)count);
  if (!items)
    return PROTO_ERR_TOO_BIG;
  for (size_t i = 0; i < count; i++) {
    items[i].api_key = ranges[i].api_key;
    items[i].min_version = ranges[i].min_version;
    items[i].max_version = ranges[i].max_version;
  }
  resp->api_keys.items = items;
  resp->api_keys.count = (int32_t)count;
  return 0;
}

static bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9');
}

/* [a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])? */
static bool software_token_valid(proto_str s) {
  if (s.len <= 0)
    return false;
  if (!is_alnum(s.data[0]) || !is_alnum(s.data[s.len - 1]))
    return false;
  for (int32_t i = 1; i < s.len - 1; i++)
    if (!is_alnum(s.data[i]) && s.data[i] != '-' && s.data[i] != '.')
      return false;
  return true;
}

bool proto_api_versions_request_valid(const proto_api_versions_req *req,
                                      int16_t version) {
  SL_ASSERT(req);
  if (version < 3)
    return true;
  return software_token_valid(req->client_software_name) &&
         software_token_valid(req->client_software_version);
}

void proto_api_versions_fallback_encode(buf_t *out, int32_t correlation_id) {
  SL_ASSERT(out);
  const proto_message *m = &proto_api_versions_resp_msg;
  proto_api_versions_resp resp;
  proto_set_defaults(m->body, &resp);
  proto_api_versions_resp_api_version own;
  proto_set_defaults(&proto_api_versions_resp_api_version_desc, &own);
  own.api_key = PROTO_API_API_VERSIONS;
  own.min_version = m->versions.min;
  own.max_version = m->versions.max;
  resp.error_code = KERR_UNSUPPORTED_VERSION;
  resp.api_keys.items = &own;
  resp.api_keys.count = 1;
  int rc = proto_response_encode(out, PROTO_API_API_VERSIONS, 0, correlation_id,
                                 &resp);
  SL_ASSERT(rc == 0); /* a fixed, valid message */
}
