/*
 * fuzz_proto.c — libFuzzer target for everything broker/proto/ reads from
 * the network, and the receive buffer (base/rxbuf.h) that cuts frames.
 *
 * The first input byte picks a mode:
 *   even  the rest is a byte stream: an rxbuf cuts it (in chunks
 *         whose sizes come from the input too) and every frame goes
 *         through proto_request_decode, as on a broker connection;
 *   odd   direct: byte 1 picks one of the described messages (requests and
 *         responses of every API), byte 2 a version in its range, and the
 *         rest is decoded as that message's body; so every API key and
 *         version is reachable without the fuzzer having to discover the
 *         header first.
 * Whatever decodes must re-encode, and decode again to an equal message
 * (aborts otherwise). Sanitizers catch the rest.
 *
 * Build and run: tests/fuzz/run.sh BUILD SECONDS.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/rxbuf.h"
#include "broker/proto/proto.h"

/* Small bounds keep each execution fast; the logic is the same. */
#define FUZZ_FRAME_BYTES_MAX (1024 * 1024)
#define FUZZ_ARENA_BYTES_MAX ((size_t)64 * 1024 * 1024)

static const proto_message *nth_message(unsigned n) {
  unsigned count = 0;
  for (int key = 0; key < 128; key++) {
    const proto_message *ms[2] = {proto_request_message((int16_t)key),
                                  proto_response_message((int16_t)key)};
    for (int k = 0; k < 2; k++)
      if (ms[k])
        count++;
  }
  n %= count;
  for (int key = 0; key < 128; key++) {
    const proto_message *ms[2] = {proto_request_message((int16_t)key),
                                  proto_response_message((int16_t)key)};
    for (int k = 0; k < 2; k++)
      if (ms[k] && n-- == 0)
        return ms[k];
  }
  abort();
}

static void check_stable(const proto_message *m, int16_t version,
                         const void *msg, proto_arena *a) {
  buf_t enc = BUF_INIT;
  if (proto_encode(m, version, msg, &enc) != 0)
    abort(); /* a decoded message must be encodable */
  void *back = NULL;
  if (proto_decode(m, version, enc.data, enc.len, a, &back) != 0)
    abort();
  if (!proto_equal(m->body, version, msg, back))
    abort();
  buf_free(&enc);
}

static void fuzz_stream(const uint8_t *data, size_t size, proto_arena *a) {
  rxbuf *rx = rxbuf_new(PROTO_REQUEST_FRAME_BYTES_MIN, FUZZ_FRAME_BYTES_MAX);
  size_t pos = 0;
  while (pos < size) {
    /* Chunk sizes 1..16 taken from the data itself. */
    size_t chunk = 1 + (data[pos] & 15);
    if (chunk > size - pos)
      chunk = size - pos;
    rxbuf_received(rx, data + pos, chunk);
    pos += chunk;
    const uint8_t *frame;
    size_t len;
    int rc;
    while ((rc = rxbuf_next(rx, &frame, &len)) == 1) {
      /* Copy exactly so ASan sees reads past the frame. */
      uint8_t *copy = malloc(len ? len : 1);
      memcpy(copy, frame, len);
      proto_request req;
      proto_arena_reset(a);
      if (proto_request_decode(copy, len, a, &req) == 0)
        check_stable(req.message, req.header.api_version, req.body, a);
      free(copy);
    }
    if (rc < 0)
      break;
  }
  rxbuf_free(rx);
}

static void fuzz_direct(const uint8_t *data, size_t size, proto_arena *a) {
  if (size < 2)
    return;
  const proto_message *m = nth_message(data[0]);
  int span = m->versions.max - m->versions.min + 1;
  int16_t version = (int16_t)(m->versions.min + data[1] % span);
  size -= 2;
  uint8_t *copy = malloc(size ? size : 1);
  memcpy(copy, data + 2, size);
  void *out = NULL;
  if (proto_decode(m, version, size ? copy : NULL, size, a, &out) == 0)
    check_stable(m, version, out, a);
  free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  proto_arena *a = proto_arena_new(FUZZ_ARENA_BYTES_MAX);
  if (data[0] & 1)
    fuzz_direct(data + 1, size - 1, a);
  else
    fuzz_stream(data + 1, size - 1, a);
  proto_arena_free(a);
  return 0;
}
