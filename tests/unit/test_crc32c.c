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
  TEST_SUITE("crc32c", {"published_vectors", test_published_vectors},
             {"sw_matches_reference", test_sw_matches_reference},
             {"hw_matches_sw", test_hw_matches_sw}, {"chaining", test_chaining},
             {"detects_single_bit_flips", test_detects_single_bit_flips});
}
