/*
 * test_compress.c — the record-batch codecs: round trips, the output bound,
 * the two snappy framings, multi-frame streams, and hostile input (every
 * byte flipped, every truncation) that must fail cleanly, never crash.
 */
#include <glib.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "base/buf.h"
#include "broker/kerr.h"
#include "broker/log/compress.h"
#include "tests/unit/testutil.h"

static const batch_codec all_codecs[] = {BATCH_CODEC_NONE, BATCH_CODEC_GZIP,
                                         BATCH_CODEC_SNAPPY, BATCH_CODEC_LZ4,
                                         BATCH_CODEC_ZSTD};
#define N_CODECS (sizeof all_codecs / sizeof all_codecs[0])
static const batch_codec real_codecs[] = {BATCH_CODEC_GZIP, BATCH_CODEC_SNAPPY,
                                          BATCH_CODEC_LZ4, BATCH_CODEC_ZSTD};
#define N_REAL_CODECS (sizeof real_codecs / sizeof real_codecs[0])

/* Fills p with random bytes (entropy = 0) or bytes drawn from a small
 * alphabet in runs (compressible). */
static void fill(test_rng *rng, uint8_t *p, size_t n, bool compressible) {
  size_t i = 0;
  while (i < n) {
    if (!compressible) {
      p[i++] = (uint8_t)test_rng_next(rng);
      continue;
    }
    uint8_t c = (uint8_t)("\0abcab\0\0"[test_rng_below(rng, 8)]);
    size_t run = 1 + test_rng_below(rng, 40);
    for (size_t k = 0; k < run && i < n; k++)
      p[i++] = c;
  }
}

/* Encodes and decodes in with codec; checks the result is in, decoding
 * with max_out = len works and len - 1 fails without touching out. */
static void round_trip(batch_codec codec, const uint8_t *in, size_t len,
                       uint64_t seed) {
  buf_t enc = BUF_INIT, dec = BUF_INIT;
  TEST_EQ_INT(compress_encode(codec, in, len, &enc), KERR_NONE, seed);
  /* Decoding appends after what is already in the buffer. */
  buf_append(&dec, "pre", 3);
  TEST_EQ_INT(compress_decode(codec, enc.data, enc.len, len, &dec), KERR_NONE,
              seed);
  TEST_EQ_INT(dec.len, len + 3, seed);
  CU_ASSERT(memcmp(dec.data, "pre", 3) == 0);
  CU_ASSERT(len == 0 || memcmp(dec.data + 3, in, len) == 0);
  if (len > 0) {
    buf_clear(&dec);
    buf_append(&dec, "pre", 3);
    TEST_EQ_INT(compress_decode(codec, enc.data, enc.len, len - 1, &dec),
                KERR_CORRUPT_MESSAGE, seed);
    TEST_EQ_INT(dec.len, 3, seed);
  }
  buf_free(&enc);
  buf_free(&dec);
}

static void test_round_trip_random(void) {
  uint64_t seed = test_seed();
  test_rng rng;
  test_rng_init(&rng, seed);
  static const size_t sizes[] = {0,     1,      2,      7,     100,
                                 4095,  32768,  32769,  65536, 65537,
                                 99999, 300000, 1 << 20};
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    for (int compressible = 0; compressible < 2; compressible++) {
      size_t n = sizes[s];
      uint8_t *in = g_malloc(n ? n : 1);
      fill(&rng, in, n, compressible);
      for (size_t c = 0; c < N_CODECS; c++)
        round_trip(all_codecs[c], in, n, seed);
      g_free(in);
    }
  }
  /* And a batch of random sizes. */
  for (int i = 0; i < 40; i++) {
    size_t n = test_rng_below(&rng, 20000);
    uint8_t *in = g_malloc(n ? n : 1);
    fill(&rng, in, n, test_rng_below(&rng, 2));
    round_trip(all_codecs[i % N_CODECS], in, n, seed);
    g_free(in);
  }
}

static void test_empty_input(void) {
  uint64_t seed = test_seed();
  for (size_t c = 0; c < N_CODECS; c++) {
    buf_t enc = BUF_INIT, dec = BUF_INIT;
    TEST_EQ_INT(compress_encode(all_codecs[c], NULL, 0, &enc), KERR_NONE, seed);
    TEST_EQ_INT(compress_decode(all_codecs[c], enc.data, enc.len, 0, &dec),
                KERR_NONE, seed);
    TEST_EQ_INT(dec.len, 0, seed);
    buf_free(&enc);
    buf_free(&dec);
  }
  /* Zero bytes are not a valid compressed stream for any real codec. */
  for (size_t c = 0; c < N_REAL_CODECS; c++) {
    buf_t dec = BUF_INIT;
    TEST_EQ_INT(compress_decode(real_codecs[c], NULL, 0, 100, &dec),
                KERR_CORRUPT_MESSAGE, seed);
    buf_free(&dec);
  }
}

static void test_unknown_codec(void) {
  buf_t out = BUF_INIT;
  for (int codec = 5; codec < 8; codec++) {
    CU_ASSERT_EQUAL(
        compress_encode((batch_codec)codec, (const uint8_t *)"x", 1, &out),
        KERR_UNSUPPORTED_COMPRESSION_TYPE);
    CU_ASSERT_EQUAL(
        compress_decode((batch_codec)codec, (const uint8_t *)"x", 1, 10, &out),
        KERR_UNSUPPORTED_COMPRESSION_TYPE);
  }
  CU_ASSERT_EQUAL(out.len, 0);
  buf_free(&out);
}

/* 64 MiB of zeros compress to almost nothing; decoding with a 1 MiB bound
 * must stop at the bound, not allocate the whole output. */
static void test_bomb_bounded(void) {
  uint64_t seed = test_seed();
  size_t n = (size_t)64 << 20;
  uint8_t *zeros = g_malloc0(n);
  for (size_t c = 0; c < N_REAL_CODECS; c++) {
    buf_t enc = BUF_INIT, dec = BUF_INIT;
    TEST_EQ_INT(compress_encode(real_codecs[c], zeros, n, &enc), KERR_NONE,
                seed);
    CU_ASSERT(enc.len < n / 10); /* snappy tops out near 21:1 */
    TEST_EQ_INT(
        compress_decode(real_codecs[c], enc.data, enc.len, 1 << 20, &dec),
        KERR_CORRUPT_MESSAGE, seed);
    TEST_EQ_INT(dec.len, 0, seed);
    /* The buffer never grew far past the bound. */
    CU_ASSERT(dec.cap <= (size_t)4 << 20);
    buf_free(&enc);
    buf_free(&dec);
  }
  g_free(zeros);
}

/* Hand-made xerial framing (independent of compress_encode) and a plain
 * raw snappy block both decode. */
static void test_snappy_framings(void) {
  uint64_t seed = test_seed();
  test_rng rng;
  test_rng_init(&rng, seed);
  size_t n = 100000;
  uint8_t *in = g_malloc(n);
  fill(&rng, in, n, true);

  /* Raw: one snappy block. */
  size_t raw_len = snappy_max_compressed_length(n);
  char *raw = g_malloc(raw_len);
  CU_ASSERT_EQUAL(snappy_compress((const char *)in, n, raw, &raw_len),
                  SNAPPY_OK);
  buf_t dec = BUF_INIT;
  TEST_EQ_INT(
      compress_decode(BATCH_CODEC_SNAPPY, (uint8_t *)raw, raw_len, n, &dec),
      KERR_NONE, seed);
  CU_ASSERT(dec.len == n && memcmp(dec.data, in, n) == 0);

  /* Xerial with uneven chunk sizes, as another writer might choose. */
  buf_t x = BUF_INIT;
  static const uint8_t hdr[16] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0,
                                  0,    0,   0,   1,   0,   0,   0,   1};
  buf_append(&x, hdr, sizeof hdr);
  size_t pos = 0;
  while (pos < n) {
    size_t chunk = 1 + test_rng_below(&rng, 40000);
    if (chunk > n - pos)
      chunk = n - pos;
    size_t clen = snappy_max_compressed_length(chunk);
    char *c = g_malloc(clen);
    CU_ASSERT_EQUAL(snappy_compress((const char *)in + pos, chunk, c, &clen),
                    SNAPPY_OK);
    buf_put_be32(&x, (uint32_t)clen);
    buf_append(&x, c, clen);
    g_free(c);
    pos += chunk;
  }
  buf_clear(&dec);
  TEST_EQ_INT(compress_decode(BATCH_CODEC_SNAPPY, x.data, x.len, n, &dec),
              KERR_NONE, seed);
  CU_ASSERT(dec.len == n && memcmp(dec.data, in, n) == 0);
  buf_clear(&dec);
  TEST_EQ_INT(compress_decode(BATCH_CODEC_SNAPPY, x.data, x.len, n - 1, &dec),
              KERR_CORRUPT_MESSAGE, seed);

  /* Header alone = empty stream; header cut short or a chunk length past
   * the end are corrupt. */
  buf_clear(&dec);
  TEST_EQ_INT(compress_decode(BATCH_CODEC_SNAPPY, hdr, 16, 10, &dec), KERR_NONE,
              seed);
  TEST_EQ_INT(dec.len, 0, seed);
  TEST_EQ_INT(compress_decode(BATCH_CODEC_SNAPPY, hdr, 12, 10, &dec),
              KERR_CORRUPT_MESSAGE, seed);
  be32_store(x.data + 16, 0x7fffffff);
  TEST_EQ_INT(compress_decode(BATCH_CODEC_SNAPPY, x.data, x.len, n, &dec),
              KERR_CORRUPT_MESSAGE, seed);

  /* What we write is the xerial framing. */
  buf_t enc = BUF_INIT;
  TEST_EQ_INT(compress_encode(BATCH_CODEC_SNAPPY, in, n, &enc), KERR_NONE,
              seed);
  CU_ASSERT(enc.len > 16 && memcmp(enc.data, hdr, 16) == 0);

  /* A raw block that claims more output than the bound is refused before
   * decoding. */
  buf_clear(&dec);
  TEST_EQ_INT(
      compress_decode(BATCH_CODEC_SNAPPY, (uint8_t *)raw, raw_len, n - 1, &dec),
      KERR_CORRUPT_MESSAGE, seed);
  CU_ASSERT_EQUAL(dec.len, 0);

  buf_free(&enc);
  buf_free(&x);
  buf_free(&dec);
  g_free(raw);
  g_free(in);
}

/* Streams made of several frames/members decode to the concatenation;
 * garbage after the last frame is refused. */
static void test_concatenated_and_trailing(void) {
  uint64_t seed = test_seed();
  test_rng rng;
  test_rng_init(&rng, seed ^ 0x5a5a);
  uint8_t a[5000], b[7000];
  fill(&rng, a, sizeof a, true);
  fill(&rng, b, sizeof b, false);
  static const batch_codec multi[] = {BATCH_CODEC_GZIP, BATCH_CODEC_LZ4,
                                      BATCH_CODEC_ZSTD};
  for (size_t c = 0; c < 3; c++) {
    buf_t enc = BUF_INIT, dec = BUF_INIT;
    TEST_EQ_INT(compress_encode(multi[c], a, sizeof a, &enc), KERR_NONE, seed);
    TEST_EQ_INT(compress_encode(multi[c], b, sizeof b, &enc), KERR_NONE, seed);
    TEST_EQ_INT(compress_decode(multi[c], enc.data, enc.len, 1 << 20, &dec),
                KERR_NONE, seed);
    CU_ASSERT(dec.len == sizeof a + sizeof b &&
              memcmp(dec.data, a, sizeof a) == 0 &&
              memcmp(dec.data + sizeof a, b, sizeof b) == 0);
    buf_append(&enc, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    buf_clear(&dec);
    TEST_EQ_INT(compress_decode(multi[c], enc.data, enc.len, 1 << 20, &dec),
                KERR_CORRUPT_MESSAGE, seed);
    TEST_EQ_INT(dec.len, 0, seed);
    buf_free(&enc);
    buf_free(&dec);
  }
}

/* A zstd frame written by a streaming compressor that does not record the
 * content size (as Kafka's Java client's ZstdOutputStream does). */
static void test_zstd_no_content_size(void) {
  uint64_t seed = test_seed();
  test_rng rng;
  test_rng_init(&rng, seed ^ 0x7777);
  size_t n = 300000;
  uint8_t *in = g_malloc(n);
  fill(&rng, in, n, true);
  ZSTD_CCtx *cctx = ZSTD_createCCtx();
  CU_ASSERT_FATAL(cctx != NULL);
  CU_ASSERT(
      !ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0)));
  size_t cap = ZSTD_compressBound(n);
  uint8_t *frame = g_malloc(cap);
  ZSTD_outBuffer out = {frame, cap, 0};
  /* Feed in small pieces, then end. */
  size_t fed = 0;
  while (fed < n) {
    size_t step = n - fed < 7000 ? n - fed : 7000;
    ZSTD_inBuffer ib = {in + fed, step, 0};
    while (ib.pos < ib.size)
      CU_ASSERT_FATAL(!ZSTD_isError(
          ZSTD_compressStream2(cctx, &out, &ib, ZSTD_e_continue)));
    fed += step;
  }
  ZSTD_inBuffer none = {NULL, 0, 0};
  size_t left;
  do {
    left = ZSTD_compressStream2(cctx, &out, &none, ZSTD_e_end);
    CU_ASSERT_FATAL(!ZSTD_isError(left));
  } while (left != 0);
  CU_ASSERT_EQUAL(ZSTD_getFrameContentSize(frame, out.pos),
                  ZSTD_CONTENTSIZE_UNKNOWN);
  buf_t dec = BUF_INIT;
  TEST_EQ_INT(compress_decode(BATCH_CODEC_ZSTD, frame, out.pos, n, &dec),
              KERR_NONE, seed);
  CU_ASSERT(dec.len == n && memcmp(dec.data, in, n) == 0);
  buf_clear(&dec);
  TEST_EQ_INT(compress_decode(BATCH_CODEC_ZSTD, frame, out.pos, n - 1, &dec),
              KERR_CORRUPT_MESSAGE, seed);
  buf_free(&dec);
  ZSTD_freeCCtx(cctx);
  g_free(frame);
  g_free(in);
}

/* Every byte flipped and every truncation: decoding either fails with
 * CORRUPT_MESSAGE (leaving out untouched) or succeeds within the bound;
 * a truncation that succeeds gives a prefix of the original. Inputs sit
 * in exact-size allocations so a sanitizer build catches any overread. */
static void test_hostile_streams(void) {
  uint64_t seed = test_seed();
  test_rng rng;
  test_rng_init(&rng, seed ^ 0xabcdef);
  for (size_t c = 0; c < N_REAL_CODECS; c++) {
    for (int round = 0; round < 3; round++) {
      size_t n = 50 + test_rng_below(&rng, 3000);
      uint8_t *in = g_malloc(n);
      fill(&rng, in, n, round != 2);
      buf_t enc = BUF_INIT, dec = BUF_INIT;
      TEST_EQ_INT(compress_encode(real_codecs[c], in, n, &enc), KERR_NONE,
                  seed);
      size_t bound = n + 100;
      for (size_t i = 0; i < enc.len; i++) {
        uint8_t *m = g_malloc(enc.len);
        memcpy(m, enc.data, enc.len);
        m[i] ^= (uint8_t)(1 + test_rng_below(&rng, 255));
        buf_clear(&dec);
        int rc = compress_decode(real_codecs[c], m, enc.len, bound, &dec);
        CU_ASSERT(rc == KERR_NONE || rc == KERR_CORRUPT_MESSAGE);
        CU_ASSERT(rc == KERR_NONE ? dec.len <= bound : dec.len == 0);
        g_free(m);
      }
      for (size_t cut = 0; cut < enc.len; cut++) {
        uint8_t *m = g_malloc(cut ? cut : 1);
        memcpy(m, enc.data, cut);
        buf_clear(&dec);
        int rc = compress_decode(real_codecs[c], m, cut, bound, &dec);
        if (rc == KERR_NONE) {
          CU_ASSERT(dec.len < n && memcmp(dec.data, in, dec.len) == 0);
        } else {
          TEST_EQ_INT(rc, KERR_CORRUPT_MESSAGE, seed);
        }
        g_free(m);
      }
      buf_free(&enc);
      buf_free(&dec);
      g_free(in);
    }
  }
}

/* Random garbage must never crash a decoder either. */
static void test_random_garbage(void) {
  uint64_t seed = test_seed();
  test_rng rng;
  test_rng_init(&rng, seed ^ 0x1234);
  buf_t dec = BUF_INIT;
  for (int i = 0; i < 2000; i++) {
    size_t n = test_rng_below(&rng, 300);
    uint8_t *m = g_malloc(n ? n : 1);
    fill(&rng, m, n, false);
    /* Give half of them a plausible magic so the decoders get past it. */
    batch_codec codec = real_codecs[i % N_REAL_CODECS];
    if (i % 2 && n >= 16) {
      static const uint8_t gz[] = {0x1f, 0x8b, 8, 0};
      static const uint8_t sn[] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0,
                                   0,    0,   0,   1,   0,   0,   0,   1};
      static const uint8_t l4[] = {0x04, 0x22, 0x4d, 0x18};
      static const uint8_t zs[] = {0x28, 0xb5, 0x2f, 0xfd};
      if (codec == BATCH_CODEC_GZIP)
        memcpy(m, gz, sizeof gz);
      else if (codec == BATCH_CODEC_SNAPPY)
        memcpy(m, sn, sizeof sn);
      else if (codec == BATCH_CODEC_LZ4)
        memcpy(m, l4, sizeof l4);
      else
        memcpy(m, zs, sizeof zs);
    }
    buf_clear(&dec);
    int rc = compress_decode(codec, m, n, 4096, &dec);
    CU_ASSERT(rc == KERR_NONE || rc == KERR_CORRUPT_MESSAGE);
    CU_ASSERT(dec.len <= 4096);
    g_free(m);
  }
  buf_free(&dec);
}

int suite_compress(void) {
  TEST_SUITE(
      "compress",
      {"round trip random and compressible", test_round_trip_random},
      {"empty input", test_empty_input}, {"unknown codec", test_unknown_codec},
      {"bomb stops at max_out", test_bomb_bounded},
      {"snappy raw and xerial framings", test_snappy_framings},
      {"concatenated frames, trailing garbage", test_concatenated_and_trailing},
      {"zstd without content size", test_zstd_no_content_size},
      {"every flipped byte and truncation", test_hostile_streams},
      {"random garbage", test_random_garbage});
}
