/*
 * test_buf.c — byte buffers, big-endian helpers and the bounds-checked
 * reader: known byte layouts, a random write/read round trip checked
 * against a record of what was written, and overruns at every length
 * (on exact-size heap copies, so ASan would see a read past the end).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "tests/unit/testutil.h"

#define BUF_PROPERTY_RUNS 500
#define BUF_PROPERTY_OPS_MAX 200

/* An exact-size heap copy: one byte past it is outside the allocation. */
static uint8_t *dup_exact(const uint8_t *src, size_t len) {
  uint8_t *p = malloc(len ? len : 1);
  CU_ASSERT_FATAL(p != NULL);
  if (len)
    memcpy(p, src, len);
  return p;
}

static void test_be_known_bytes(void) {
  uint8_t b[8];
  be16_store(b, 0x0102);
  CU_ASSERT(b[0] == 0x01 && b[1] == 0x02);
  CU_ASSERT_EQUAL(be16_load(b), 0x0102);
  be32_store(b, 0xA1B2C3D4u);
  CU_ASSERT(b[0] == 0xA1 && b[1] == 0xB2 && b[2] == 0xC3 && b[3] == 0xD4);
  CU_ASSERT_EQUAL(be32_load(b), 0xA1B2C3D4u);
  be64_store(b, 0x0102030405060708ull);
  for (int i = 0; i < 8; i++)
    CU_ASSERT_EQUAL(b[i], i + 1);
  CU_ASSERT(be64_load(b) == 0x0102030405060708ull);
  /* High bits survive (no sign extension through int promotion). */
  const uint8_t ff[8] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE};
  CU_ASSERT_EQUAL(be16_load(ff), 0xFFFF);
  CU_ASSERT_EQUAL(be32_load(ff), 0xFFFFFFFFu);
  CU_ASSERT(be64_load(ff) == 0xFFFFFFFFFFFFFFFEull);
}

static void test_put_layout_and_offsets(void) {
  buf_t b = BUF_INIT;
  CU_ASSERT_PTR_NULL(b.data);
  CU_ASSERT_EQUAL(buf_append(&b, "ab", 2), 0);
  buf_put_u8(&b, 0x7F);
  buf_put_be16(&b, 0xBEEF);
  buf_put_be32(&b, 0xDEADBEEFu);
  buf_put_be64(&b, 0x8000000000000001ull);
  CU_ASSERT_EQUAL(buf_append_zeros(&b, 3), 17);
  CU_ASSERT_EQUAL(buf_append(&b, NULL, 0), 20);
  const uint8_t want[20] = {'a',  'b',  0x7F, 0xBE, 0xEF, 0xDE, 0xAD,
                            0xBE, 0xEF, 0x80, 0,    0,    0,    0,
                            0,    0,    0x01, 0,    0,    0};
  CU_ASSERT_EQUAL_FATAL(b.len, 20);
  CU_ASSERT(memcmp(b.data, want, 20) == 0);
  CU_ASSERT(b.len <= b.cap);

  /* Back-patch a length prefix, as a frame encoder does. */
  buf_set_be32(&b, 16, 0x01020304u);
  CU_ASSERT(b.data[16] == 1 && b.data[19] == 4);
  CU_ASSERT(b.data[15] == 0x00);
  buf_free(&b);
  CU_ASSERT_PTR_NULL(b.data);
  CU_ASSERT_EQUAL(b.len, 0);
  CU_ASSERT_EQUAL(b.cap, 0);
}

static void test_grow_clear_steal(void) {
  buf_t b;
  buf_init(&b);
  /* Growth by doubling: the number of reallocations stays logarithmic. */
  size_t caps_seen = 0;
  size_t cap_prev = 0;
  for (size_t i = 0; i < 100000; i++) {
    buf_put_u8(&b, (uint8_t)i);
    CU_ASSERT_FATAL(b.len <= b.cap);
    if (b.cap != cap_prev) {
      caps_seen++;
      cap_prev = b.cap;
    }
  }
  CU_ASSERT(caps_seen <= 20);
  for (size_t i = 0; i < 100000; i += 997)
    CU_ASSERT_EQUAL(b.data[i], (uint8_t)i);

  size_t cap = b.cap;
  buf_clear(&b);
  CU_ASSERT_EQUAL(b.len, 0);
  CU_ASSERT_EQUAL(b.cap, cap);
  buf_reserve(&b, cap);
  CU_ASSERT_EQUAL(b.cap, cap); /* already enough room */
  buf_reserve(&b, cap + 1);
  CU_ASSERT(b.cap >= cap + 1);

  buf_append(&b, "xyz", 3);
  size_t len = 0;
  uint8_t *data = buf_steal(&b, &len);
  CU_ASSERT_EQUAL(len, 3);
  CU_ASSERT(memcmp(data, "xyz", 3) == 0);
  CU_ASSERT_PTR_NULL(b.data);
  CU_ASSERT_EQUAL(b.len, 0);
  CU_ASSERT_EQUAL(b.cap, 0);
  free(data);

  /* Stealing an empty buffer gives NULL; freeing NULL is fine. */
  CU_ASSERT_PTR_NULL(buf_steal(&b, &len));
  CU_ASSERT_EQUAL(len, 0);
  CU_ASSERT_PTR_NULL(buf_steal(&b, NULL));
  buf_free(&b);
  buf_free(NULL);
}

/* Writes a random sequence of fields, remembering each, then reads them
 * back with the reader and checks every value and the final position. */
enum { OP_U8, OP_BE16, OP_BE32, OP_BE64, OP_BYTES, OP_KINDS };
typedef struct op {
  int kind;
  uint64_t value;
  size_t offset; /* for OP_BYTES: where the bytes start in the buffer */
  size_t len;
} op;

static void test_roundtrip_property(void) {
  uint64_t seed = test_seed() ^ 0xB0F;
  test_rng rng;
  test_rng_init(&rng, seed);
  op ops[BUF_PROPERTY_OPS_MAX];
  uint8_t scratch[64];
  for (int run = 0; run < BUF_PROPERTY_RUNS; run++) {
    buf_t b = BUF_INIT;
    size_t n = 1 + test_rng_below(&rng, BUF_PROPERTY_OPS_MAX);
    for (size_t i = 0; i < n; i++) {
      op *o = &ops[i];
      o->kind = (int)test_rng_below(&rng, OP_KINDS);
      o->value = test_rng_next(&rng);
      switch (o->kind) {
      case OP_U8:
        buf_put_u8(&b, (uint8_t)o->value);
        break;
      case OP_BE16:
        buf_put_be16(&b, (uint16_t)o->value);
        break;
      case OP_BE32:
        buf_put_be32(&b, (uint32_t)o->value);
        break;
      case OP_BE64:
        buf_put_be64(&b, o->value);
        break;
      default:
        o->len = test_rng_below(&rng, sizeof scratch + 1);
        for (size_t j = 0; j < o->len; j++)
          scratch[j] = (uint8_t)(o->value + j * 131);
        o->offset = buf_append(&b, scratch, o->len);
        break;
      }
      CU_ASSERT_FATAL(b.len <= b.cap);
    }
    uint8_t *copy = dup_exact(b.data, b.len);
    buf_reader_t r;
    buf_reader_init(&r, copy, b.len);
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
      const op *o = &ops[i];
      switch (o->kind) {
      case OP_U8:
        ok = buf_get_u8(&r) == (uint8_t)o->value;
        break;
      case OP_BE16:
        ok = buf_get_be16(&r) == (uint16_t)o->value;
        break;
      case OP_BE32:
        ok = buf_get_be32(&r) == (uint32_t)o->value;
        break;
      case OP_BE64:
        ok = buf_get_be64(&r) == o->value;
        break;
      default: {
        const uint8_t *p = buf_get_bytes(&r, o->len);
        ok = p != NULL && p == copy + o->offset;
        for (size_t j = 0; ok && j < o->len; j++)
          ok = p[j] == (uint8_t)(o->value + j * 131);
        break;
      }
      }
      if (!ok)
        fprintf(stderr, "\n  round trip: run %d op %zu kind %d (seed %llu)\n",
                run, i, o->kind, (unsigned long long)seed);
    }
    CU_ASSERT(ok);
    CU_ASSERT(!r.error);
    CU_ASSERT_EQUAL(buf_reader_left(&r), 0);
    CU_ASSERT_EQUAL(r.pos, b.len);
    /* Nothing left: one more read of any kind fails. */
    CU_ASSERT_EQUAL(buf_get_u8(&r), 0);
    CU_ASSERT(r.error);
    free(copy);
    buf_free(&b);
  }
}

/* Every fixed-width read on every too-short range: error set, zero
 * returned, nothing consumed; the reads that fit succeed. */
static void test_reader_overrun_every_length(void) {
  const uint8_t src[9] = {0xFF, 0xEE, 0xDD, 0xCC, 0xBB, 0xAA, 0x99, 0x88, 0x77};
  for (size_t len = 0; len <= sizeof src; len++) {
    uint8_t *copy = dup_exact(src, len);
    for (int kind = 0; kind < OP_KINDS; kind++) {
      size_t width = kind == OP_U8     ? 1
                     : kind == OP_BE16 ? 2
                     : kind == OP_BE32 ? 4
                     : kind == OP_BE64 ? 8
                                       : 5;
      buf_reader_t r;
      buf_reader_init(&r, len ? copy : NULL, len);
      uint64_t v = 0;
      const uint8_t *p = NULL;
      switch (kind) {
      case OP_U8:
        v = buf_get_u8(&r);
        break;
      case OP_BE16:
        v = buf_get_be16(&r);
        break;
      case OP_BE32:
        v = buf_get_be32(&r);
        break;
      case OP_BE64:
        v = buf_get_be64(&r);
        break;
      default:
        p = buf_get_bytes(&r, width);
        v = p ? p[0] : 0;
        break;
      }
      if (len < width) {
        CU_ASSERT(r.error);
        CU_ASSERT_EQUAL(v, 0);
        CU_ASSERT_PTR_NULL(p);
        CU_ASSERT_EQUAL(r.pos, 0);
        CU_ASSERT_EQUAL(buf_reader_left(&r), len);
      } else {
        CU_ASSERT(!r.error);
        CU_ASSERT_NOT_EQUAL(v, 0);
        CU_ASSERT_EQUAL(r.pos, width);
      }
    }
    free(copy);
  }
}

static void test_reader_error_is_sticky(void) {
  const uint8_t src[6] = {1, 2, 3, 4, 5, 6};
  uint8_t *copy = dup_exact(src, sizeof src);
  buf_reader_t r;
  buf_reader_init(&r, copy, sizeof src);
  CU_ASSERT_EQUAL(buf_get_be16(&r), 0x0102);
  CU_ASSERT_EQUAL(buf_get_be64(&r), 0); /* only 4 left */
  CU_ASSERT(r.error);
  /* These would fit, but the decoder is already off the rails. */
  CU_ASSERT_EQUAL(buf_get_u8(&r), 0);
  CU_ASSERT_EQUAL(buf_get_be32(&r), 0);
  CU_ASSERT_PTR_NULL(buf_get_bytes(&r, 0));
  CU_ASSERT_EQUAL(r.pos, 2);
  CU_ASSERT(r.error);

  /* buf_reader_fail: same state, for semantically bad fields. */
  buf_reader_init(&r, copy, sizeof src);
  buf_reader_fail(&r);
  CU_ASSERT(r.error);
  CU_ASSERT_EQUAL(buf_get_u8(&r), 0);
  free(copy);
}

static void test_reader_bytes_edges(void) {
  /* Zero-length reads succeed even at the end and on an empty range. */
  buf_reader_t r;
  buf_reader_init(&r, NULL, 0);
  CU_ASSERT_PTR_NOT_NULL(buf_get_bytes(&r, 0));
  CU_ASSERT(!r.error);
  CU_ASSERT_PTR_NULL(buf_get_bytes(&r, 1));
  CU_ASSERT(r.error);

  const uint8_t src[4] = {9, 8, 7, 6};
  uint8_t *copy = dup_exact(src, sizeof src);
  buf_reader_init(&r, copy, sizeof src);
  const uint8_t *p = buf_get_bytes(&r, 4);
  CU_ASSERT(p == copy);
  CU_ASSERT_PTR_NOT_NULL(buf_get_bytes(&r, 0));
  CU_ASSERT(!r.error);

  /* A length near SIZE_MAX must not wrap the bounds check. */
  buf_reader_init(&r, copy, sizeof src);
  buf_get_u8(&r);
  CU_ASSERT_PTR_NULL(buf_get_bytes(&r, SIZE_MAX));
  CU_ASSERT(r.error);
  buf_reader_init(&r, copy, sizeof src);
  buf_get_u8(&r);
  CU_ASSERT_PTR_NULL(buf_get_bytes(&r, SIZE_MAX - 1));
  CU_ASSERT(r.error);
  CU_ASSERT_EQUAL(r.pos, 1);
  free(copy);
}

/* Random reads of random widths over random short buffers: the reader
 * must agree with a model that only tracks the position. */
static void test_reader_overrun_property(void) {
  uint64_t seed = test_seed() ^ 0x0E7;
  test_rng rng;
  test_rng_init(&rng, seed);
  uint8_t src[40];
  for (int run = 0; run < 2000; run++) {
    size_t len = test_rng_below(&rng, sizeof src + 1);
    for (size_t i = 0; i < len; i++)
      src[i] = (uint8_t)test_rng_next(&rng);
    uint8_t *copy = dup_exact(src, len);
    buf_reader_t r;
    buf_reader_init(&r, len ? copy : NULL, len);
    size_t model_pos = 0;
    bool model_error = false;
    bool ok = true;
    for (int step = 0; step < 20 && ok; step++) {
      size_t pos_before = model_pos;
      size_t width = 0;
      bool is_bytes = false;
      uint64_t got = 0;
      const uint8_t *got_ptr = NULL;
      switch (test_rng_below(&rng, 5)) {
      case 0:
        width = 1;
        got = buf_get_u8(&r);
        break;
      case 1:
        width = 2;
        got = buf_get_be16(&r);
        break;
      case 2:
        width = 4;
        got = buf_get_be32(&r);
        break;
      case 3:
        width = 8;
        got = buf_get_be64(&r);
        break;
      default:
        is_bytes = true;
        width = test_rng_below(&rng, 12);
        got_ptr = buf_get_bytes(&r, width);
        break;
      }
      bool fits = !model_error && width <= len - model_pos;
      if (fits)
        model_pos += width;
      else
        model_error = true;
      ok = r.error == model_error && r.pos == model_pos;
      if (ok && is_bytes && !fits)
        ok = got_ptr == NULL;
      else if (ok && is_bytes && len > 0)
        ok = got_ptr == copy + pos_before;
      else if (ok && is_bytes)
        ok = got_ptr != NULL;
      else if (ok && !fits)
        ok = got == 0;
      else if (ok) {
        uint64_t want = 0;
        for (size_t i = 0; i < width; i++)
          want = want << 8 | src[pos_before + i];
        ok = got == want;
      }
      if (!ok)
        fprintf(stderr, "\n  overrun model: run %d step %d (seed %llu)\n", run,
                step, (unsigned long long)seed);
    }
    CU_ASSERT(ok);
    free(copy);
  }
}

int suite_buf(void) {
  TEST_SUITE("buf", {"be_known_bytes", test_be_known_bytes},
             {"put_layout_and_offsets", test_put_layout_and_offsets},
             {"grow_clear_steal", test_grow_clear_steal},
             {"roundtrip_property", test_roundtrip_property},
             {"reader_overrun_every_length", test_reader_overrun_every_length},
             {"reader_error_is_sticky", test_reader_error_is_sticky},
             {"reader_bytes_edges", test_reader_bytes_edges},
             {"reader_overrun_property", test_reader_overrun_property});
}
