/*
 * test_crc32c.c — CRC-32C: published check values, the table path against
 * a bit-at-a-time reference, hardware against software on random buffers
 * of random lengths and alignments, chaining at random cut points, and
 * single-bit-error detection. Buffers are exact-size heap allocations so
 * a read past the end shows in ASan.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crc32c.h"
#include "tests/unit/testutil.h"

#define CRC_RANDOM_RUNS 3000
#define CRC_LEN_MAX_BYTES 5000
/* The hardware path runs three chains over rounds of 3 x 8 KiB, then
 * 3 x 256 bytes, then one chain for the rest (base/crc32c.c). Lengths up
 * to 100 KiB cross several long rounds; every multiple of the short round
 * (which the long one is a multiple of) is visited with a window of
 * lengths on both sides, wide enough to cover the bytes consumed one at a
 * time to reach 8-byte alignment. */
#define CRC_LANES_LEN_MAX_BYTES (100u * 1024u)
#define CRC_SHORT_ROUND_BYTES (3u * 256u)
#define CRC_BOUNDARY_WINDOW_BYTES 12u
#define CRC_LANES_RANDOM_RUNS 200

/* The definition, one bit at a time: reflected polynomial 0x82F63B78,
 * register preset to ones, result complemented. Slow and obviously right. */
static uint32_t crc_reference(uint32_t crc, const uint8_t *p, size_t len) {
  uint32_t reg = ~crc;
  for (size_t i = 0; i < len; i++) {
    reg ^= p[i];
    for (int bit = 0; bit < 8; bit++)
      reg = (reg & 1u) ? (reg >> 1) ^ 0x82F63B78u : reg >> 1;
  }
  return ~reg;
}

/* The three entry points that must agree (hw only when the CPU has it). */
static void check_all(const uint8_t *p, size_t len, uint32_t want,
                      const char *what) {
  uint32_t sw = crc32c_extend_sw(0, p, len);
  uint32_t any = crc32c(p, len);
  if (sw != want || any != want)
    fprintf(stderr, "\n  %s: sw %08X crc32c %08X want %08X\n", what, sw, any,
            want);
  CU_ASSERT_EQUAL(sw, want);
  CU_ASSERT_EQUAL(any, want);
  if (crc32c_hw_available()) {
    uint32_t hw = crc32c_extend_hw(0, p, len);
    if (hw != want)
      fprintf(stderr, "\n  %s: hw %08X want %08X\n", what, hw, want);
    CU_ASSERT_EQUAL(hw, want);
  }
  CU_ASSERT_EQUAL(crc_reference(0, p, len), want);
}

static void test_published_vectors(void) {
  uint8_t *b = malloc(32);
  CU_ASSERT_FATAL(b != NULL);
  memcpy(b, "123456789", 9);
  check_all(b, 9, 0xE3069283u, "\"123456789\"");
  /* RFC 3720 (iSCSI) appendix B.4. */
  memset(b, 0x00, 32);
  check_all(b, 32, 0x8A9136AAu, "32 x 00");
  memset(b, 0xFF, 32);
  check_all(b, 32, 0x62A8AB43u, "32 x FF");
  for (int i = 0; i < 32; i++)
    b[i] = (uint8_t)i;
  check_all(b, 32, 0x46DD794Eu, "00..1F");
  for (int i = 0; i < 32; i++)
    b[i] = (uint8_t)(31 - i);
  check_all(b, 32, 0x113FDB5Cu, "1F..00");
  free(b);
  /* Nothing in, nothing changed. */
  check_all(NULL, 0, 0, "empty");
  CU_ASSERT_EQUAL(crc32c_extend(0x12345678u, NULL, 0), 0x12345678u);
  CU_ASSERT_EQUAL(crc32c_extend_sw(0x12345678u, NULL, 0), 0x12345678u);
}

static void fill_random(test_rng *rng, uint8_t *p, size_t len) {
  for (size_t i = 0; i < len; i++)
    p[i] = (uint8_t)test_rng_next(rng);
}

/* Patterned buffers long enough for long and short three-chain rounds and
 * a single-chain tail, each checked against the bitwise definition through
 * every entry point (the published vectors above are all too short to
 * reach the interleaved path). */
static void test_long_patterns(void) {
  size_t len = 3 * 8192 + 3 * 256 + 5;
  uint8_t *b = malloc(len);
  CU_ASSERT_FATAL(b != NULL);
  memset(b, 0x00, len);
  check_all(b, len, crc_reference(0, b, len), "long 00");
  memset(b, 0xFF, len);
  check_all(b, len, crc_reference(0, b, len), "long FF");
  for (size_t i = 0; i < len; i++)
    b[i] = (uint8_t)i;
  check_all(b, len, crc_reference(0, b, len), "long counting");
  free(b);
}

/* Slicing-by-8 against the bitwise definition: every table entry gets
 * exercised many times over these buffers. */
static void test_sw_matches_reference(void) {
  uint64_t seed = test_seed() ^ 0xC5C;
  test_rng rng;
  test_rng_init(&rng, seed);
  for (int run = 0; run < CRC_RANDOM_RUNS / 3; run++) {
    size_t len = test_rng_below(&rng, 300);
    uint8_t *p = malloc(len ? len : 1);
    CU_ASSERT_FATAL(p != NULL);
    fill_random(&rng, p, len);
    uint32_t start =
        test_rng_below(&rng, 2) ? 0 : (uint32_t)test_rng_next(&rng);
    uint32_t sw = crc32c_extend_sw(start, p, len);
    uint32_t ref = crc_reference(start, p, len);
    if (sw != ref) {
      fprintf(stderr, "\n  sw %08X ref %08X len %zu (seed %llu)\n", sw, ref,
              len, (unsigned long long)seed);
      CU_FAIL("slicing-by-8 disagrees with the bitwise reference");
    }
    free(p);
  }
}

/* Every length 0..64 at every offset 0..15 into a 16-aligned block, then
 * random lengths and offsets: hw == sw, including the unaligned head and
 * the tail shorter than 8 bytes. */
static void test_hw_matches_sw(void) {
  if (!crc32c_hw_available()) {
    fprintf(stderr, "\n  (no SSE4.2 on this CPU: hw path not tested) ");
    return;
  }
  uint64_t seed = test_seed() ^ 0x4857;
  test_rng rng;
  test_rng_init(&rng, seed);
  for (size_t offset = 0; offset < 16; offset++) {
    for (size_t len = 0; len <= 64; len++) {
      uint8_t *block = aligned_alloc(16, 96);
      CU_ASSERT_FATAL(block != NULL);
      fill_random(&rng, block, 96);
      const uint8_t *p = block + offset;
      CU_ASSERT_EQUAL(crc32c_extend_hw(0, p, len), crc32c_extend_sw(0, p, len));
      free(block);
    }
  }
  for (int run = 0; run < CRC_RANDOM_RUNS; run++) {
    size_t offset = test_rng_below(&rng, 16);
    size_t len = test_rng_below(&rng, CRC_LEN_MAX_BYTES);
    /* Exact size: the last byte CRCed is the last byte allocated. */
    uint8_t *block = malloc(offset + len > 0 ? offset + len : 1);
    CU_ASSERT_FATAL(block != NULL);
    fill_random(&rng, block, offset + len);
    uint32_t start = (uint32_t)test_rng_next(&rng);
    uint32_t hw = crc32c_extend_hw(start, block + offset, len);
    uint32_t sw = crc32c_extend_sw(start, block + offset, len);
    if (hw != sw) {
      fprintf(stderr, "\n  hw %08X sw %08X len %zu offset %zu (seed %llu)\n",
              hw, sw, len, offset, (unsigned long long)seed);
      CU_FAIL("hw and sw disagree");
    }
    free(block);
  }
}

/* Lengths 0..100 KiB around every multiple of the short round, each at a
 * random alignment in an exact-size allocation (an over-read shows in
 * ASan), against the table path. The expected values are prefix CRCs of
 * one random source, computed incrementally with crc32c_extend_sw, and the
 * last one is checked against the bitwise definition as well. */
static void test_lanes_match_sw_at_boundaries(void) {
  uint64_t seed = test_seed() ^ 0x1A7E;
  test_rng rng;
  test_rng_init(&rng, seed);
  bool hw = crc32c_hw_available();
  if (!crc32c_hw_interleaved())
    fprintf(stderr, "\n  (no SSE4.2 + PCLMULQDQ: three-chain path not "
                    "tested) ");
  uint8_t *source = malloc(CRC_LANES_LEN_MAX_BYTES);
  CU_ASSERT_FATAL(source != NULL);
  fill_random(&rng, source, CRC_LANES_LEN_MAX_BYTES);
  uint32_t prefix_crc = 0;
  size_t prefix_len = 0;
  size_t checked = 0;
  for (size_t len = 0; len <= CRC_LANES_LEN_MAX_BYTES; len++) {
    size_t from_round = len % CRC_SHORT_ROUND_BYTES;
    if (from_round > CRC_BOUNDARY_WINDOW_BYTES &&
        from_round < CRC_SHORT_ROUND_BYTES - CRC_BOUNDARY_WINDOW_BYTES &&
        len != CRC_LANES_LEN_MAX_BYTES)
      continue;
    prefix_crc =
        crc32c_extend_sw(prefix_crc, source + prefix_len, len - prefix_len);
    prefix_len = len;
    size_t offset = test_rng_below(&rng, 16);
    uint8_t *block = malloc(offset + len > 0 ? offset + len : 1);
    CU_ASSERT_FATAL(block != NULL);
    if (len > 0)
      memcpy(block + offset, source, len);
    uint32_t any = crc32c(block + offset, len);
    uint32_t fast = hw ? crc32c_extend_hw(0, block + offset, len) : any;
    if (any != prefix_crc || fast != prefix_crc) {
      fprintf(stderr,
              "\n  crc32c %08X hw %08X sw %08X len %zu offset %zu"
              " (seed %llu)\n",
              any, fast, prefix_crc, len, offset, (unsigned long long)seed);
      CU_FAIL("interleaved path disagrees with the table path");
    }
    checked++;
    free(block);
  }
  CU_ASSERT(checked > 2 * CRC_BOUNDARY_WINDOW_BYTES *
                          (CRC_LANES_LEN_MAX_BYTES / CRC_SHORT_ROUND_BYTES));
  CU_ASSERT_EQUAL(prefix_crc,
                  crc_reference(0, source, CRC_LANES_LEN_MAX_BYTES));
  free(source);
}

/* Random lengths 0..100 KiB, alignments and starting values: hw == sw,
 * then the same buffer chained through crc32c_extend at random cut points
 * (pieces of any size, so some pieces take three chains and some one). */
static void test_lanes_random(void) {
  uint64_t seed = test_seed() ^ 0x3C4A;
  test_rng rng;
  test_rng_init(&rng, seed);
  bool hw = crc32c_hw_available();
  for (int run = 0; run < CRC_LANES_RANDOM_RUNS; run++) {
    size_t offset = test_rng_below(&rng, 16);
    size_t len = test_rng_below(&rng, CRC_LANES_LEN_MAX_BYTES + 1);
    uint8_t *block = malloc(offset + len > 0 ? offset + len : 1);
    CU_ASSERT_FATAL(block != NULL);
    fill_random(&rng, block, offset + len);
    const uint8_t *p = block + offset;
    uint32_t start = (uint32_t)test_rng_next(&rng);
    uint32_t sw = crc32c_extend_sw(start, p, len);
    uint32_t any = crc32c_extend(start, p, len);
    uint32_t fast = hw ? crc32c_extend_hw(start, p, len) : any;
    uint32_t chained = start;
    size_t done = 0;
    while (done < len) {
      size_t piece = 1 + test_rng_below(&rng, len - done);
      if (test_rng_below(&rng, 3) == 0) {
        size_t near_round =
            CRC_SHORT_ROUND_BYTES - 8 + test_rng_below(&rng, 16);
        piece = near_round < len - done ? near_round : len - done;
      }
      chained = crc32c_extend(chained, p + done, piece);
      done += piece;
    }
    if (any != sw || fast != sw || chained != sw) {
      fprintf(stderr,
              "\n  crc32c_extend %08X hw %08X chained %08X sw %08X len %zu"
              " offset %zu start %08X (seed %llu)\n",
              any, fast, chained, sw, len, offset, start,
              (unsigned long long)seed);
      CU_FAIL("interleaved path or chaining disagrees with the table path");
    }
    free(block);
  }
}

/* crc(A ++ B ++ C) == extend(extend(crc(A), B), C), for all paths. */
static void test_chaining(void) {
  uint64_t seed = test_seed() ^ 0xC4A1;
  test_rng rng;
  test_rng_init(&rng, seed);
  bool hw = crc32c_hw_available();
  for (int run = 0; run < CRC_RANDOM_RUNS / 3; run++) {
    size_t len = test_rng_below(&rng, 2000);
    uint8_t *p = malloc(len ? len : 1);
    CU_ASSERT_FATAL(p != NULL);
    fill_random(&rng, p, len);
    uint32_t whole = crc32c(p, len);
    CU_ASSERT_EQUAL(crc32c_extend(0, p, len), whole);
    uint32_t chained = 0;
    uint32_t chained_sw = 0;
    uint32_t chained_hw = 0;
    size_t done = 0;
    while (done < len) {
      size_t piece = 1 + test_rng_below(&rng, len - done);
      if (test_rng_below(&rng, 4) == 0)
        piece = 1 + test_rng_below(&rng, 9 < len - done ? 9 : len - done);
      chained = crc32c_extend(chained, p + done, piece);
      chained_sw = crc32c_extend_sw(chained_sw, p + done, piece);
      if (hw)
        chained_hw = crc32c_extend_hw(chained_hw, p + done, piece);
      /* Empty pieces in between change nothing. */
      chained = crc32c_extend(chained, p + done, 0);
      done += piece;
    }
    bool ok =
        chained == whole && chained_sw == whole && (!hw || chained_hw == whole);
    if (!ok) {
      fprintf(stderr,
              "\n  chained %08X sw %08X hw %08X whole %08X len %zu"
              " (seed %llu)\n",
              chained, chained_sw, chained_hw, whole, len,
              (unsigned long long)seed);
      CU_FAIL("chaining differs from one pass");
    }
    free(p);
  }
}

/* A CRC detects every single-bit error: this is what makes Kafka's batch
 * CRC catch bit rot. Flip one random bit, the checksum must move. */
static void test_detects_single_bit_flips(void) {
  uint64_t seed = test_seed() ^ 0xF11B;
  test_rng rng;
  test_rng_init(&rng, seed);
  for (int run = 0; run < CRC_RANDOM_RUNS; run++) {
    size_t len = 1 + test_rng_below(&rng, 1500);
    uint8_t *p = malloc(len);
    CU_ASSERT_FATAL(p != NULL);
    fill_random(&rng, p, len);
    uint32_t before = crc32c(p, len);
    size_t bit = test_rng_below(&rng, len * 8);
    p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    uint32_t after = crc32c(p, len);
    if (before == after) {
      fprintf(stderr, "\n  flip of bit %zu undetected (seed %llu)\n", bit,
              (unsigned long long)seed);
      CU_FAIL("single-bit error not detected");
    }
    free(p);
  }
}

int suite_crc32c(void) {
  TEST_SUITE(
      "crc32c", {"published_vectors", test_published_vectors},
      {"long_patterns", test_long_patterns},
      {"lanes_match_sw_at_boundaries", test_lanes_match_sw_at_boundaries},
      {"lanes_random", test_lanes_random},
      {"sw_matches_reference", test_sw_matches_reference},
      {"hw_matches_sw", test_hw_matches_sw}, {"chaining", test_chaining},
      {"detects_single_bit_flips", test_detects_single_bit_flips});
}
