/*
 * test_varint.c — Kafka varints: the published encodings, zig-zag at the
 * extremes, round trips over random values of every width, and the
 * negative space (every truncation, overlong and over-wide encodings,
 * random garbage checked against an independent reference decoder).
 * Inputs are exact-size heap copies so a read past the end shows in ASan.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/varint.h"
#include "tests/unit/testutil.h"

#define VARINT_PROPERTY_RUNS 20000

static uint8_t *dup_exact(const uint8_t *src, size_t len) {
  uint8_t *p = malloc(len ? len : 1);
  CU_ASSERT_FATAL(p != NULL);
  if (len)
    memcpy(p, src, len);
  return p;
}

enum { KIND_U32, KIND_U64, KIND_S32, KIND_S64, KIND_COUNT };

/* Decodes one varint of the given kind from exactly src[0..len); returns
 * the value as raw 64 bits, and the reader's state through the outputs. */
static uint64_t decode_one(int kind, const uint8_t *src, size_t len,
                           bool *error, size_t *pos) {
  uint8_t *copy = dup_exact(src, len);
  buf_reader_t r;
  buf_reader_init(&r, len ? copy : NULL, len);
  uint64_t v = 0;
  switch (kind) {
  case KIND_U32:
    v = buf_get_uvarint32(&r);
    break;
  case KIND_U64:
    v = buf_get_uvarint64(&r);
    break;
  case KIND_S32:
    v = (uint64_t)(int64_t)buf_get_varint32(&r);
    break;
  default:
    v = (uint64_t)buf_get_varint64(&r);
    break;
  }
  *error = r.error;
  *pos = r.pos;
  free(copy);
  return v;
}

static void test_zigzag_known(void) {
  CU_ASSERT_EQUAL(zigzag32_encode(0), 0u);
  CU_ASSERT_EQUAL(zigzag32_encode(-1), 1u);
  CU_ASSERT_EQUAL(zigzag32_encode(1), 2u);
  CU_ASSERT_EQUAL(zigzag32_encode(-2), 3u);
  CU_ASSERT_EQUAL(zigzag32_encode(2), 4u);
  CU_ASSERT_EQUAL(zigzag32_encode(INT32_MAX), 0xFFFFFFFEu);
  CU_ASSERT_EQUAL(zigzag32_encode(INT32_MIN), 0xFFFFFFFFu);
  CU_ASSERT_EQUAL(zigzag32_decode(0), 0);
  CU_ASSERT_EQUAL(zigzag32_decode(1), -1);
  CU_ASSERT_EQUAL(zigzag32_decode(2), 1);
  CU_ASSERT_EQUAL(zigzag32_decode(3), -2);
  CU_ASSERT_EQUAL(zigzag32_decode(0xFFFFFFFEu), INT32_MAX);
  CU_ASSERT_EQUAL(zigzag32_decode(0xFFFFFFFFu), INT32_MIN);

  CU_ASSERT(zigzag64_encode(0) == 0u);
  CU_ASSERT(zigzag64_encode(-1) == 1u);
  CU_ASSERT(zigzag64_encode(1) == 2u);
  CU_ASSERT(zigzag64_encode(-2) == 3u);
  CU_ASSERT(zigzag64_encode(INT64_MAX) == UINT64_MAX - 1);
  CU_ASSERT(zigzag64_encode(INT64_MIN) == UINT64_MAX);
  CU_ASSERT(zigzag64_decode(UINT64_MAX - 1) == INT64_MAX);
  CU_ASSERT(zigzag64_decode(UINT64_MAX) == INT64_MIN);
  CU_ASSERT(zigzag64_decode(3) == -2);

  /* A bijection: check a band around every interesting point. */
  const int64_t centres[] = {0, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN};
  for (size_t i = 0; i < sizeof centres / sizeof centres[0]; i++) {
    for (int d = -300; d <= 300; d++) {
      int64_t v64 = (int64_t)((uint64_t)centres[i] + (uint64_t)(int64_t)d);
      CU_ASSERT_FATAL(zigzag64_decode(zigzag64_encode(v64)) == v64);
      int32_t v32 = (int32_t)(uint32_t)(uint64_t)v64;
      CU_ASSERT_FATAL(zigzag32_decode(zigzag32_encode(v32)) == v32);
      /* Small magnitudes map to small codes: |v| * 2 (+1 if negative). */
      if (v64 > -1000 && v64 < 1000)
        CU_ASSERT_FATAL(zigzag64_encode(v64) ==
                        (uint64_t)(v64 < 0 ? -2 * v64 - 1 : 2 * v64));
    }
  }
}

typedef struct known {
  uint64_t value;
  uint8_t bytes[VARINT_MAX64];
  size_t len;
} known;

static void test_uvarint_known_encodings(void) {
  const known cases[] = {
      {0, {0x00}, 1},
      {1, {0x01}, 1},
      {127, {0x7F}, 1},
      {128, {0x80, 0x01}, 2},
      {300, {0xAC, 0x02}, 2},
      {16383, {0xFF, 0x7F}, 2},
      {16384, {0x80, 0x80, 0x01}, 3},
      {0x0FFFFFFFu, {0xFF, 0xFF, 0xFF, 0x7F}, 4},
      {0x10000000u, {0x80, 0x80, 0x80, 0x80, 0x01}, 5},
      {UINT32_MAX, {0xFF, 0xFF, 0xFF, 0xFF, 0x0F}, 5},
      {0x100000000ull, {0x80, 0x80, 0x80, 0x80, 0x10}, 5},
      {1ull << 63,
       {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01},
       10},
      {UINT64_MAX,
       {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01},
       10},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const known *k = &cases[i];
    uint8_t out[VARINT_MAX64 + 1];
    memset(out, 0xAA, sizeof out);
    CU_ASSERT_EQUAL(uvarint64_encode(out, k->value), k->len);
    CU_ASSERT(memcmp(out, k->bytes, k->len) == 0);
    CU_ASSERT_EQUAL(out[k->len], 0xAA); /* wrote nothing beyond */
    CU_ASSERT_EQUAL(uvarint64_len(k->value), k->len);
    bool error;
    size_t pos;
    CU_ASSERT(decode_one(KIND_U64, k->bytes, k->len, &error, &pos) == k->value);
    CU_ASSERT(!error);
    CU_ASSERT_EQUAL(pos, k->len);
    if (k->value <= UINT32_MAX) {
      memset(out, 0xAA, sizeof out);
      CU_ASSERT_EQUAL(uvarint32_encode(out, (uint32_t)k->value), k->len);
      CU_ASSERT(memcmp(out, k->bytes, k->len) == 0);
      CU_ASSERT_EQUAL(uvarint32_len((uint32_t)k->value), k->len);
      CU_ASSERT(decode_one(KIND_U32, k->bytes, k->len, &error, &pos) ==
                k->value);
      CU_ASSERT(!error);
      CU_ASSERT_EQUAL(pos, k->len);
    } else {
      /* Too wide for 32 bits: rejected, not truncated. */
      decode_one(KIND_U32, k->bytes, k->len, &error, &pos);
      CU_ASSERT(error);
      CU_ASSERT_EQUAL(pos, 0);
    }
  }
}

/* Signed (zig-zag) varints as Kafka writes them inside records. */
static void test_varint_known_encodings(void) {
  typedef struct sknown {
    int64_t value;
    uint8_t bytes[VARINT_MAX64];
    size_t len;
  } sknown;
  const sknown cases[] = {
      {0, {0x00}, 1},
      {-1, {0x01}, 1},
      {1, {0x02}, 1},
      {-2, {0x03}, 1},
      {63, {0x7E}, 1},
      {-64, {0x7F}, 1},
      {64, {0x80, 0x01}, 2},
      {-65, {0x81, 0x01}, 2},
      {150, {0xAC, 0x02}, 2},
      {INT32_MAX, {0xFE, 0xFF, 0xFF, 0xFF, 0x0F}, 5},
      {INT32_MIN, {0xFF, 0xFF, 0xFF, 0xFF, 0x0F}, 5},
      {INT64_MAX,
       {0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01},
       10},
      {INT64_MIN,
       {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01},
       10},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const sknown *k = &cases[i];
    buf_t b = BUF_INIT;
    buf_put_varint64(&b, k->value);
    CU_ASSERT_EQUAL_FATAL(b.len, k->len);
    CU_ASSERT(memcmp(b.data, k->bytes, k->len) == 0);
    CU_ASSERT_EQUAL(varint64_len(k->value), k->len);
    bool error;
    size_t pos;
    CU_ASSERT((int64_t)decode_one(KIND_S64, k->bytes, k->len, &error, &pos) ==
              k->value);
    CU_ASSERT(!error);
    if (k->value >= INT32_MIN && k->value <= INT32_MAX) {
      buf_clear(&b);
      buf_put_varint32(&b, (int32_t)k->value);
      CU_ASSERT_EQUAL_FATAL(b.len, k->len);
      CU_ASSERT(memcmp(b.data, k->bytes, k->len) == 0);
      CU_ASSERT_EQUAL(varint32_len((int32_t)k->value), k->len);
      CU_ASSERT((int64_t)decode_one(KIND_S32, k->bytes, k->len, &error, &pos) ==
                k->value);
      CU_ASSERT(!error);
    }
    buf_free(&b);
  }
}

static void test_len_boundaries(void) {
  for (size_t k = 1; k < VARINT_MAX64; k++) {
    uint64_t top = (1ull << (7 * k)) - 1; /* largest with k bytes */
    CU_ASSERT_EQUAL(uvarint64_len(top), k);
    CU_ASSERT_EQUAL(uvarint64_len(top + 1), k + 1);
    if (k < VARINT_MAX32) {
      CU_ASSERT_EQUAL(uvarint32_len((uint32_t)top), k);
      CU_ASSERT_EQUAL(uvarint32_len((uint32_t)top + 1), k + 1);
    }
  }
  CU_ASSERT_EQUAL(uvarint32_len(UINT32_MAX), VARINT_MAX32);
  CU_ASSERT_EQUAL(uvarint64_len(UINT64_MAX), VARINT_MAX64);
  CU_ASSERT_EQUAL(varint32_len(INT32_MIN), VARINT_MAX32);
  CU_ASSERT_EQUAL(varint64_len(INT64_MIN), VARINT_MAX64);
}

/* A value whose bit length is itself random, so every encoded length is
 * common rather than almost everything being 10 bytes. */
static uint64_t random_width_value(test_rng *rng) {
  return test_rng_next(rng) >> test_rng_below(rng, 64);
}

/* Writes a stream of random varints of random kinds after a marker byte,
 * then reads it back: values, lengths and positions must all agree. */
static void test_roundtrip_property(void) {
  uint64_t seed = test_seed() ^ 0x7A51;
  test_rng rng;
  test_rng_init(&rng, seed);
  enum { VALUES_PER_RUN = 64 };
  for (int run = 0; run < VARINT_PROPERTY_RUNS / VALUES_PER_RUN; run++) {
    int kinds[VALUES_PER_RUN];
    uint64_t values[VALUES_PER_RUN];
    size_t ends[VALUES_PER_RUN];
    buf_t b = BUF_INIT;
    buf_put_u8(&b, 0x5A);
    for (int i = 0; i < VALUES_PER_RUN; i++) {
      kinds[i] = (int)test_rng_below(&rng, KIND_COUNT);
      uint64_t v = random_width_value(&rng);
      if (test_rng_below(&rng, 2))
        v = ~v; /* large and negative values too */
      size_t len_before = b.len;
      size_t len_want = 0;
      switch (kinds[i]) {
      case KIND_U32:
        v = (uint32_t)v;
        buf_put_uvarint32(&b, (uint32_t)v);
        len_want = uvarint32_len((uint32_t)v);
        break;
      case KIND_U64:
        buf_put_uvarint64(&b, v);
        len_want = uvarint64_len(v);
        break;
      case KIND_S32:
        v = (uint64_t)(int64_t)(int32_t)(uint32_t)v;
        buf_put_varint32(&b, (int32_t)v);
        len_want = varint32_len((int32_t)v);
        break;
      default:
        buf_put_varint64(&b, (int64_t)v);
        len_want = varint64_len((int64_t)v);
        break;
      }
      values[i] = v;
      ends[i] = b.len;
      if (b.len - len_before != len_want) {
        fprintf(stderr, "\n  len mismatch: kind %d value %llu (seed %llu)\n",
                kinds[i], (unsigned long long)v, (unsigned long long)seed);
        CU_FAIL("encoded length != *_len()");
      }
    }
    CU_ASSERT_EQUAL(b.data[0], 0x5A); /* nothing written before the end */
    uint8_t *copy = dup_exact(b.data, b.len);
    buf_reader_t r;
    buf_reader_init(&r, copy, b.len);
    CU_ASSERT_EQUAL(buf_get_u8(&r), 0x5A);
    bool ok = true;
    for (int i = 0; i < VALUES_PER_RUN && ok; i++) {
      uint64_t got;
      switch (kinds[i]) {
      case KIND_U32:
        got = buf_get_uvarint32(&r);
        break;
      case KIND_U64:
        got = buf_get_uvarint64(&r);
        break;
      case KIND_S32:
        got = (uint64_t)(int64_t)buf_get_varint32(&r);
        break;
      default:
        got = (uint64_t)buf_get_varint64(&r);
        break;
      }
      ok = got == values[i] && !r.error && r.pos == ends[i];
      if (!ok)
        fprintf(stderr,
                "\n  round trip: kind %d want %llu got %llu (seed %llu)\n",
                kinds[i], (unsigned long long)values[i],
                (unsigned long long)got, (unsigned long long)seed);
    }
    CU_ASSERT(ok);
    CU_ASSERT_EQUAL(buf_reader_left(&r), 0);
    free(copy);
    buf_free(&b);
  }
}

/* Every proper prefix of every multi-byte encoding is truncated. */
static void test_truncated_every_prefix(void) {
  uint64_t seed = test_seed() ^ 0x7C;
  test_rng rng;
  test_rng_init(&rng, seed);
  for (int run = 0; run < 2000; run++) {
    int kind = (int)test_rng_below(&rng, KIND_COUNT);
    uint64_t v = random_width_value(&rng);
    buf_t b = BUF_INIT;
    switch (kind) {
    case KIND_U32:
      buf_put_uvarint32(&b, (uint32_t)v);
      break;
    case KIND_U64:
      buf_put_uvarint64(&b, v);
      break;
    case KIND_S32:
      buf_put_varint32(&b, (int32_t)(uint32_t)v);
      break;
    default:
      buf_put_varint64(&b, (int64_t)v);
      break;
    }
    for (size_t cut = 0; cut < b.len; cut++) {
      bool error;
      size_t pos;
      uint64_t got = decode_one(kind, b.data, cut, &error, &pos);
      if (!error || got != 0 || pos != 0) {
        fprintf(stderr, "\n  prefix %zu of %zu accepted (seed %llu)\n", cut,
                b.len, (unsigned long long)seed);
        CU_FAIL("truncated varint accepted");
      }
    }
    buf_free(&b);
  }
}

static void expect_reject(int kind, const uint8_t *bytes, size_t len) {
  bool error;
  size_t pos;
  uint64_t got = decode_one(kind, bytes, len, &error, &pos);
  CU_ASSERT(error);
  CU_ASSERT(got == 0);
  CU_ASSERT_EQUAL(pos, 0);
}

static void expect_accept(int kind, const uint8_t *bytes, size_t len,
                          uint64_t want, size_t pos_want) {
  bool error;
  size_t pos;
  uint64_t got = decode_one(kind, bytes, len, &error, &pos);
  CU_ASSERT(!error);
  CU_ASSERT(got == want);
  CU_ASSERT_EQUAL(pos, pos_want);
}

static void test_overlong_and_overwide(void) {
  /* Six bytes for a 32-bit varint, even though the value is 0. */
  const uint8_t six[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
  expect_reject(KIND_U32, six, sizeof six);
  expect_reject(KIND_S32, six, sizeof six);
  expect_accept(KIND_U64, six, sizeof six, 0, 6); /* fine for 64 bits */

  /* Fifth byte of a uvarint32 may carry 4 bits and no continuation. */
  const uint8_t fifth_ok[] = {0x80, 0x80, 0x80, 0x80, 0x0F};
  expect_accept(KIND_U32, fifth_ok, 5, 0xF0000000u, 5);
  const uint8_t fifth_bad[] = {0x10, 0x20, 0x40, 0x70, 0x7F, 0x80, 0x8F, 0xFF};
  for (size_t i = 0; i < sizeof fifth_bad; i++) {
    uint8_t enc[] = {0xFF, 0xFF, 0xFF, 0xFF, fifth_bad[i], 0x00};
    expect_reject(KIND_U32, enc, sizeof enc);
    expect_reject(KIND_S32, enc, sizeof enc);
  }

  /* Tenth byte of a uvarint64 may carry 1 bit and no continuation. */
  uint8_t ten[VARINT_MAX64 + 1];
  memset(ten, 0xFF, sizeof ten);
  ten[9] = 0x01;
  expect_accept(KIND_U64, ten, 10, UINT64_MAX, 10);
  expect_accept(KIND_S64, ten, 10, (uint64_t)INT64_MIN, 10);
  for (unsigned last = 0x02; last <= 0xFF; last++) {
    ten[9] = (uint8_t)last;
    ten[10] = 0x00; /* an 11th byte does not rescue it */
    expect_reject(KIND_U64, ten, sizeof ten);
    expect_reject(KIND_S64, ten, sizeof ten);
  }

  /* Zero padding within the maximum length is one exact value; Kafka
   * accepts it, so do we. */
  const uint8_t padded[] = {0x80, 0x00};
  expect_accept(KIND_U32, padded, 2, 0, 2);
  const uint8_t padded5[] = {0x81, 0x80, 0x80, 0x80, 0x00};
  expect_accept(KIND_U32, padded5, 5, 1, 5);
}

static void test_error_is_sticky(void) {
  const uint8_t bytes[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01, 0x02};
  uint8_t *copy = dup_exact(bytes, sizeof bytes);
  buf_reader_t r;
  buf_reader_init(&r, copy, sizeof bytes);
  CU_ASSERT_EQUAL(buf_get_uvarint32(&r), 0);
  CU_ASSERT(r.error);
  CU_ASSERT_EQUAL(buf_get_uvarint64(&r), 0); /* would parse, but no */
  CU_ASSERT_EQUAL(buf_get_varint32(&r), 0);
  CU_ASSERT(buf_get_varint64(&r) == 0);
  CU_ASSERT_EQUAL(r.pos, 0);
  free(copy);
}

/* An independent reading of the rule: accumulate into 128 bits, stop at the
 * first byte without a continuation bit, and accept only if that happens
 * within max_len bytes and the value fits in `bits`. Returns bytes used or
 * 0 for reject. */
static size_t reference_decode(const uint8_t *p, size_t len, unsigned bits,
                               size_t max_len, uint64_t *out) {
  unsigned __int128 v = 0;
  for (size_t i = 0; i < len && i < max_len; i++) {
    v |= (unsigned __int128)(p[i] & 0x7F) << (7 * i);
    if ((p[i] & 0x80) == 0) {
      if (v >> bits)
        return 0;
      *out = (uint64_t)v;
      return i + 1;
    }
  }
  return 0;
}

static void test_garbage_vs_reference(void) {
  uint64_t seed = test_seed() ^ 0x6A7B;
  test_rng rng;
  test_rng_init(&rng, seed);
  uint8_t bytes[12];
  for (int run = 0; run < VARINT_PROPERTY_RUNS; run++) {
    size_t len = test_rng_below(&rng, sizeof bytes + 1);
    /* Mostly continuation bytes, so long and overlong inputs are common. */
    for (size_t i = 0; i < len; i++) {
      uint8_t byte = (uint8_t)test_rng_next(&rng);
      bytes[i] = test_rng_below(&rng, 10) < 8 ? byte | 0x80 : byte & 0x7F;
    }
    int kind = (int)test_rng_below(&rng, KIND_COUNT);
    bool wide = kind == KIND_U64 || kind == KIND_S64;
    uint64_t ref = 0;
    size_t ref_len = reference_decode(bytes, len, wide ? 64 : 32,
                                      wide ? VARINT_MAX64 : VARINT_MAX32, &ref);
    if (kind == KIND_S32)
      ref = (uint64_t)(int64_t)zigzag32_decode((uint32_t)ref);
    else if (kind == KIND_S64)
      ref = (uint64_t)zigzag64_decode(ref);
    bool error;
    size_t pos;
    uint64_t got = decode_one(kind, bytes, len, &error, &pos);
    bool ok = ref_len == 0 ? (error && got == 0 && pos == 0)
                           : (!error && got == ref && pos == ref_len);
    if (!ok) {
      fprintf(stderr,
              "\n  kind %d len %zu: ref_len %zu got error %d pos %zu"
              " (seed %llu)\n",
              kind, len, ref_len, error, pos, (unsigned long long)seed);
      CU_FAIL("decoder disagrees with reference");
    }
  }
}

/* Both raw decoders on exactly p[0..avail) (a heap copy of that size, so
 * ASan sees any read beyond it) against the checked loop and the
 * reference; avail >= the maximum length takes the unrolled path. */
static bool fast_slow_agree(const uint8_t *src, size_t avail) {
  uint8_t *p = dup_exact(src, avail);
  const uint8_t *pp = avail ? p : NULL;
  bool ok = true;
  for (int wide = 0; wide < 2; wide++) {
    size_t max_len = wide ? VARINT_MAX64 : VARINT_MAX32;
    uint8_t mask = wide ? VARINT_LAST_MASK64 : VARINT_LAST_MASK32;
    uint64_t ref = 0, slow = 0xDEAD, fast = 0xDEAD;
    size_t ref_n = reference_decode(src, avail, wide ? 64 : 32, max_len, &ref);
    size_t slow_n = varint__decode_slow(pp, avail, max_len, mask, &slow);
    size_t fast_n;
    if (wide) {
      fast_n = uvarint64_decode(pp, avail, &fast);
    } else {
      uint32_t f32 = 0xDEAD;
      fast_n = uvarint32_decode(pp, avail, &f32);
      fast = f32;
    }
    ok = ok && fast_n == slow_n && slow_n == ref_n;
    /* On success all three agree; on failure the outputs are untouched. */
    ok = ok && (ref_n ? fast == ref && slow == ref
                      : fast == 0xDEAD && slow == 0xDEAD);
  }
  free(p);
  return ok;
}

static void test_fast_vs_slow(void) {
  uint64_t seed = test_seed() ^ 0xFA57;
  test_rng rng;
  test_rng_init(&rng, seed);
  uint8_t bytes[16];
  /* Random bytes, mostly continuation bits, every available length (the
   * fast path starts at 5 and 10). */
  for (int run = 0; run < VARINT_PROPERTY_RUNS; run++) {
    unsigned cont_pct = (unsigned)test_rng_below(&rng, 101);
    for (size_t i = 0; i < sizeof bytes; i++) {
      uint8_t byte = (uint8_t)test_rng_next(&rng);
      bytes[i] = test_rng_below(&rng, 100) < cont_pct ? byte | 0x80
                                                      : byte & 0x7F;
    }
    for (size_t avail = 0; avail <= sizeof bytes; avail++) {
      if (!fast_slow_agree(bytes, avail)) {
        fprintf(stderr, "\n  fast/slow disagree: avail %zu (seed %llu)\n",
                avail, (unsigned long long)seed);
        CU_FAIL("fast and slow varint paths disagree");
        return;
      }
    }
  }
  /* Boundaries: every encoded length, the widest values, followed by
   * padding of continuation bytes (must not be read as part of it). */
  for (size_t k = 1; k <= VARINT_MAX64; k++) {
    uint64_t top = k == VARINT_MAX64 ? UINT64_MAX : (1ull << (7 * k)) - 1;
    const uint64_t values[] = {top, top + 1, top - 1, UINT32_MAX,
                               (uint64_t)UINT32_MAX + 1};
    for (size_t j = 0; j < sizeof values / sizeof values[0]; j++) {
      memset(bytes, 0xFF, sizeof bytes);
      size_t n = uvarint64_encode(bytes, values[j]);
      for (size_t avail = 0; avail <= sizeof bytes; avail++)
        CU_ASSERT_FATAL(fast_slow_agree(bytes, avail));
      uint64_t v;
      CU_ASSERT_EQUAL(uvarint64_decode(bytes, sizeof bytes, &v), n);
      CU_ASSERT(v == values[j]);
    }
  }
  /* Ten-byte encodings: the last byte may only be 0 or 1 (fast path with
   * 10 and 16 bytes available, slow path below). */
  for (unsigned last = 0; last <= 0xFF; last++) {
    memset(bytes, 0x80, sizeof bytes);
    bytes[9] = (uint8_t)last;
    bytes[10] = 0x00;
    uint64_t v = 7;
    size_t want = last <= 1 ? 10 : 0;
    CU_ASSERT_EQUAL(uvarint64_decode(bytes, 10, &v), want);
    CU_ASSERT_EQUAL(uvarint64_decode(bytes, sizeof bytes, &v), want);
    CU_ASSERT(v == (last == 1 ? 1ull << 63 : last == 0 ? 0 : 7));
    for (size_t avail = 0; avail <= 11; avail++)
      CU_ASSERT_FATAL(fast_slow_agree(bytes, avail));
    /* Five-byte 32-bit encodings: the last byte may carry 4 bits. */
    memset(bytes, 0xFF, sizeof bytes);
    bytes[4] = (uint8_t)last;
    uint32_t v32 = 7;
    CU_ASSERT_EQUAL(uvarint32_decode(bytes, sizeof bytes, &v32),
                    last <= 0x0F ? 5u : 0u);
    CU_ASSERT(v32 == (last <= 0x0F ? 0x0FFFFFFFu | (uint32_t)last << 28 : 7));
  }
  /* Truncated just short of the maximum, with and without the rest. */
  memset(bytes, 0x80, sizeof bytes);
  uint64_t v;
  CU_ASSERT_EQUAL(uvarint64_decode(bytes, 9, &v), 0);
  CU_ASSERT_EQUAL(uvarint64_decode(bytes, 10, &v), 0); /* 10th continues */
  uint32_t v32;
  CU_ASSERT_EQUAL(uvarint32_decode(bytes, 4, &v32), 0);
  CU_ASSERT_EQUAL(uvarint32_decode(bytes, 5, &v32), 0);
  CU_ASSERT_EQUAL(uvarint32_decode(NULL, 0, &v32), 0);
  CU_ASSERT_EQUAL(uvarint64_decode(NULL, 0, &v), 0);
}

int suite_varint(void) {
  TEST_SUITE("varint", {"zigzag_known", test_zigzag_known},
             {"uvarint_known_encodings", test_uvarint_known_encodings},
             {"varint_known_encodings", test_varint_known_encodings},
             {"len_boundaries", test_len_boundaries},
             {"roundtrip_property", test_roundtrip_property},
             {"truncated_every_prefix", test_truncated_every_prefix},
             {"overlong_and_overwide", test_overlong_and_overwide},
             {"error_is_sticky", test_error_is_sticky},
             {"garbage_vs_reference", test_garbage_vs_reference},
             {"fast_vs_slow", test_fast_vs_slow});
}
