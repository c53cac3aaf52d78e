/*
 * test_crc32c.c — CRC-32C: published check values, every implementation
 * ("path": table, one chain, three chains, fused, fused with AVX-512VL; each
 * one this CPU can run) against a bit-at-a-time reference and against each
 * other on random buffers of random lengths and alignments, every length
 * 0..4096, lengths around the block and lane boundaries, random lengths up
 * to 4 MiB, chaining at random cut points, and single-bit-error detection.
 * Buffers are exact-size heap allocations so a read past the end shows in
 * ASan.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/crc32c.h"
#include "tests/unit/testutil.h"

#define CRC_RANDOM_RUNS 3000
#define CRC_LEN_MAX_BYTES 5000
/* Every length up to this is checked on every path against the bitwise
 * reference: it covers each fused block size (136 * 1, 2, 4, 8, 32 bytes)
 * and the three-chain short round (768) with every tail after them. */
#define CRC_EVERY_LEN_MAX_BYTES 4096u
/* Beyond that, lengths within a window around every multiple of the fused
 * 8-iteration block (1088 bytes, of which the 32- and 256-iteration blocks
 * are multiples) and of the three-chain short round (768 bytes, of which
 * the long round is a multiple), up to 100 KiB: enough for two of the
 * largest fused blocks and several long three-chain rounds. The window
 * covers the up to 7 bytes consumed one at a time to reach 8-byte
 * alignment. */
#define CRC_LANES_LEN_MAX_BYTES (100u * 1024u)
#define CRC_FUSED_ROUND_BYTES 1088u
#define CRC_SHORT_ROUND_BYTES (3u * 256u)
#define CRC_BOUNDARY_WINDOW_BYTES 12u
#define CRC_LANES_RANDOM_RUNS 200
/* Random lengths up to 4 MiB: many 34 KiB fused blocks in a row. */
#define CRC_LARGE_LEN_MAX_BYTES (4u * 1024u * 1024u)
#define CRC_LARGE_RUNS 24

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

/* Every path this CPU can run, in enum order; returns how many. */
static size_t available_paths(crc32c_path out[CRC32C_PATH_COUNT]) {
  size_t n = 0;
  for (int path = 0; path < CRC32C_PATH_COUNT; path++)
    if (crc32c_path_available((crc32c_path)path))
      out[n++] = (crc32c_path)path;
  return n;
}

/* Every entry point and every available path must give want. */
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
  crc32c_path paths[CRC32C_PATH_COUNT];
  size_t n = available_paths(paths);
  for (size_t i = 0; i < n; i++) {
    uint32_t got = crc32c_extend_path(paths[i], 0, p, len);
    if (got != want)
      fprintf(stderr, "\n  %s: %s %08X want %08X\n", what,
              crc32c_path_name(paths[i]), got, want);
    CU_ASSERT_EQUAL(got, want);
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
  crc32c_path paths[CRC32C_PATH_COUNT];
  size_t n = available_paths(paths);
  for (size_t i = 0; i < n; i++)
    CU_ASSERT_EQUAL(crc32c_extend_path(paths[i], 0x12345678u, NULL, 0),
                    0x12345678u);
}

/* The path API is consistent: the table always runs, the dispatcher's
 * choice is one the CPU can run, names exist, and out-of-range values are
 * refused rather than run. */
static void test_paths(void) {
  CU_ASSERT(crc32c_path_available(CRC32C_PATH_TABLE));
  CU_ASSERT(crc32c_path_available(crc32c_path_best()));
  CU_ASSERT(!crc32c_path_available(CRC32C_PATH_COUNT));
  CU_ASSERT_EQUAL(crc32c_hw_available(),
                  crc32c_path_available(CRC32C_PATH_ONE_CHAIN));
  CU_ASSERT_EQUAL(crc32c_hw_interleaved(),
                  crc32c_path_best() >= CRC32C_PATH_THREE_CHAIN);
  /* Each path needs what the one before it needs (the header's order). */
  for (int path = CRC32C_PATH_ONE_CHAIN; path < CRC32C_PATH_COUNT; path++)
    if (crc32c_path_available((crc32c_path)path))
      CU_ASSERT(crc32c_path_available((crc32c_path)(path - 1)));
  fprintf(stderr, "\n  (paths on this CPU:");
  crc32c_path paths[CRC32C_PATH_COUNT];
  size_t n = available_paths(paths);
  for (size_t i = 0; i < n; i++) {
    CU_ASSERT_STRING_NOT_EQUAL(crc32c_path_name(paths[i]), "?");
    fprintf(stderr, " %s", crc32c_path_name(paths[i]));
  }
  fprintf(stderr, "; best %s) ", crc32c_path_name(crc32c_path_best()));
}

static void fill_random(test_rng *rng, uint8_t *p, size_t len) {
  for (size_t i = 0; i < len; i++)
    p[i] = (uint8_t)test_rng_next(rng);
}

/* Patterned buffers long enough for every fused block size, long and
 * short three-chain rounds and a single-chain tail, each checked against
 * the bitwise definition through every entry point and path (the
 * published vectors above are too short to reach the multi-chain paths). */
static void test_long_patterns(void) {
  size_t len = 34816 + 4352 + 1088 + 544 + 272 + 136 + 3 * 8192 + 768 + 135;
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

/* Every length 0..4096, each at a random offset 0..63 into an exact-size
 * allocation and from a random starting value, on every path, against
 * prefix CRCs of one random source computed one byte at a time with the
 * bitwise reference. */
static void test_every_length_matches_reference(void) {
  uint64_t seed = test_seed() ^ 0xE7E4;
  test_rng rng;
  test_rng_init(&rng, seed);
  crc32c_path paths[CRC32C_PATH_COUNT];
  size_t n = available_paths(paths);
  uint8_t *source = malloc(CRC_EVERY_LEN_MAX_BYTES);
  CU_ASSERT_FATAL(source != NULL);
  fill_random(&rng, source, CRC_EVERY_LEN_MAX_BYTES);
  uint32_t start = (uint32_t)test_rng_next(&rng);
  uint32_t prefix_crc = start;
  size_t failures = 0;
  for (size_t len = 0; len <= CRC_EVERY_LEN_MAX_BYTES; len++) {
    if (len > 0)
      prefix_crc = crc_reference(prefix_crc, source + len - 1, 1);
    size_t offset = test_rng_below(&rng, 64);
    uint8_t *block = malloc(offset + len > 0 ? offset + len : 1);
    CU_ASSERT_FATAL(block != NULL);
    if (len > 0)
      memcpy(block + offset, source, len);
    for (size_t i = 0; i < n; i++) {
      uint32_t got = crc32c_extend_path(paths[i], start, block + offset, len);
      if (got != prefix_crc && failures++ < 10)
        fprintf(stderr, "\n  %s %08X want %08X len %zu offset %zu (seed %llu)",
                crc32c_path_name(paths[i]), got, prefix_crc, len, offset,
                (unsigned long long)seed);
    }
    if (crc32c_extend(start, block + offset, len) != prefix_crc)
      failures++;
    free(block);
  }
  if (failures > 0)
    CU_FAIL("a path disagrees with the bitwise reference");
  free(source);
}

/* Every length 0..64 at every offset 0..15 into a 16-aligned block, then
 * random lengths and offsets: every path == table, including the unaligned
 * head and the tail shorter than 8 bytes. */
static void test_hw_matches_sw(void) {
  if (!crc32c_hw_available()) {
    fprintf(stderr, "\n  (no SSE4.2 on this CPU: hw paths not tested) ");
    return;
  }
  uint64_t seed = test_seed() ^ 0x4857;
  test_rng rng;
  test_rng_init(&rng, seed);
  crc32c_path paths[CRC32C_PATH_COUNT];
  size_t n = available_paths(paths);
  for (size_t offset = 0; offset < 16; offset++) {
    for (size_t len = 0; len <= 64; len++) {
      uint8_t *block = aligned_alloc(16, 96);
      CU_ASSERT_FATAL(block != NULL);
      fill_random(&rng, block, 96);
      const uint8_t *p = block + offset;
      uint32_t sw = crc32c_extend_sw(0, p, len);
      CU_ASSERT_EQUAL(crc32c_extend_hw(0, p, len), sw);
      for (size_t i = 0; i < n; i++)
        CU_ASSERT_EQUAL(crc32c_extend_path(paths[i], 0, p, len), sw);
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
    uint32_t sw = crc32c_extend_sw(start, block + offset, len);
    uint32_t hw = crc32c_extend_hw(start, block + offset, len);
    if (hw != sw) {
      fprintf(stderr, "\n  hw %08X sw %08X len %zu offset %zu (seed %llu)\n",
              hw, sw, len, offset, (unsigned long long)seed);
      CU_FAIL("hw and sw disagree");
    }
    for (size_t i = 0; i < n; i++) {
      uint32_t got = crc32c_extend_path(paths[i], start, block + offset, len);
      if (got != sw) {
        fprintf(stderr, "\n  %s %08X sw %08X len %zu offset %zu (seed %llu)\n",
                crc32c_path_name(paths[i]), got, sw, len, offset,
                (unsigned long long)seed);
        CU_FAIL("a path and the table disagree");
      }
    }
    free(block);
  }
}

/* Whether len is within the window of a multiple of round_bytes. */
static bool near_round(size_t len, size_t round_bytes) {
  size_t from_round = len % round_bytes;
  return from_round <= CRC_BOUNDARY_WINDOW_BYTES ||
         from_round >= round_bytes - CRC_BOUNDARY_WINDOW_BYTES;
}

/* Lengths 0..100 KiB around every multiple of the fused 8-iteration block
 * and of the three-chain short round, each at a random alignment in an
 * exact-size allocation (an over-read shows in ASan), on every hardware
 * path. The expected values are prefix CRCs of one random source,
 * computed incrementally with the table path, and the last one is checked
 * against the bitwise definition as well. */
static void test_lanes_match_sw_at_boundaries(void) {
  uint64_t seed = test_seed() ^ 0x1A7E;
  test_rng rng;
  test_rng_init(&rng, seed);
  crc32c_path paths[CRC32C_PATH_COUNT];
  size_t n = available_paths(paths);
  if (!crc32c_hw_interleaved())
    fprintf(stderr, "\n  (no SSE4.2 + PCLMULQDQ: multi-chain paths not "
                    "tested) ");
  uint8_t *source = malloc(CRC_LANES_LEN_MAX_BYTES);
  CU_ASSERT_FATAL(source != NULL);
  fill_random(&rng, source, CRC_LANES_LEN_MAX_BYTES);
  uint32_t prefix_crc = 0;
  size_t prefix_len = 0;
  size_t checked = 0;
  for (size_t len = 0; len <= CRC_LANES_LEN_MAX_BYTES; len++) {
    if (!near_round(len, CRC_SHORT_ROUND_BYTES) &&
        !near_round(len, CRC_FUSED_ROUND_BYTES) &&
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
    if (any != prefix_crc) {
      fprintf(stderr, "\n  crc32c %08X sw %08X len %zu offset %zu (seed %llu)",
              any, prefix_crc, len, offset, (unsigned long long)seed);
      CU_FAIL("crc32c disagrees with the table path");
    }
    /* paths[0] is the table, which computed the expected values. */
    for (size_t i = 1; i < n; i++) {
      uint32_t got = crc32c_extend_path(paths[i], 0, block + offset, len);
      if (got != prefix_crc) {
        fprintf(stderr, "\n  %s %08X sw %08X len %zu offset %zu (seed %llu)",
                crc32c_path_name(paths[i]), got, prefix_crc, len, offset,
                (unsigned long long)seed);
        CU_FAIL("a hardware path disagrees with the table path");
      }
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

/* Cuts p[0..len) at random points and chains the pieces along path;
 * pieces are of any size, a third of them near a fused block size or the
 * three-chain round so pieces take every path's long and short cases. */
static uint32_t chain_random(test_rng *rng, crc32c_path path, uint32_t start,
                             const uint8_t *p, size_t len) {
  static const size_t near[] = {136, 272, 544, 768, 1088, 4352, 34816};
  uint32_t chained = start;
  size_t done = 0;
  while (done < len) {
    size_t piece = 1 + test_rng_below(rng, len - done);
    if (test_rng_below(rng, 3) == 0) {
      size_t round = near[test_rng_below(rng, sizeof near / sizeof *near)];
      size_t near_round_bytes = round - 8 + test_rng_below(rng, 16);
      piece = near_round_bytes < len - done ? near_round_bytes : len - done;
    }
    chained = crc32c_extend_path(path, chained, p + done, piece);
    done += piece;
  }
  return chained;
}

/* Random lengths 0..100 KiB, alignments and starting values: every path
 * == table, then the same buffer chained through crc32c_extend and each
 * path at random cut points. */
static void test_lanes_random(void) {
  uint64_t seed = test_seed() ^ 0x3C4A;
  test_rng rng;
  test_rng_init(&rng, seed);
  crc32c_path paths[CRC32C_PATH_COUNT];
  size_t n = available_paths(paths);
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
    uint32_t chained = start;
    size_t done = 0;
    while (done < len) {
      size_t piece = 1 + test_rng_below(&rng, len - done);
      chained = crc32c_extend(chained, p + done, piece);
      done += piece;
    }
    if (any != sw || chained != sw) {
      fprintf(stderr,
              "\n  crc32c_extend %08X chained %08X sw %08X len %zu"
              " offset %zu start %08X (seed %llu)\n",
              any, chained, sw, len, offset, start, (unsigned long long)seed);
      CU_FAIL("crc32c_extend or its chaining disagrees with the table path");
    }
    for (size_t i = 1; i < n; i++) {
      uint32_t whole = crc32c_extend_path(paths[i], start, p, len);
      uint32_t pieces = chain_random(&rng, paths[i], start, p, len);
      if (whole != sw || pieces != sw) {
        fprintf(stderr,
                "\n  %s %08X chained %08X sw %08X len %zu offset %zu"
                " start %08X (seed %llu)\n",
                crc32c_path_name(paths[i]), whole, pieces, sw, len, offset,
                start, (unsigned long long)seed);
        CU_FAIL("a path or its chaining disagrees with the table path");
      }
    }
    free(block);
  }
}

/* Random lengths up to 4 MiB at random offsets 0..63 into exact-size
 * allocations, from random starting values: every path == table, one shot
 * == chained at random cut points on every path, and crc32c_extend too.
 * One 4 MiB buffer also against the bitwise definition. */
static void test_large_random(void) {
  uint64_t seed = test_seed() ^ 0x4D1B;
  test_rng rng;
  test_rng_init(&rng, seed);
  crc32c_path paths[CRC32C_PATH_COUNT];
  size_t n = available_paths(paths);
  for (int run = 0; run < CRC_LARGE_RUNS; run++) {
    size_t offset = test_rng_below(&rng, 64);
    size_t len = run == 0 ? CRC_LARGE_LEN_MAX_BYTES
                          : test_rng_below(&rng, CRC_LARGE_LEN_MAX_BYTES + 1);
    uint8_t *block = malloc(offset + len);
    CU_ASSERT_FATAL(block != NULL);
    fill_random(&rng, block, offset + len);
    const uint8_t *p = block + offset;
    uint32_t start = (uint32_t)test_rng_next(&rng);
    uint32_t sw = crc32c_extend_sw(start, p, len);
    if (run == 0)
      CU_ASSERT_EQUAL(sw, crc_reference(start, p, len));
    uint32_t chained = start;
    size_t done = 0;
    while (done < len) {
      size_t piece = 1 + test_rng_below(&rng, len - done);
      chained = crc32c_extend(chained, p + done, piece);
      done += piece;
    }
    if (crc32c_extend(start, p, len) != sw || chained != sw) {
      fprintf(stderr, "\n  crc32c_extend len %zu offset %zu (seed %llu)\n", len,
              offset, (unsigned long long)seed);
      CU_FAIL("crc32c_extend disagrees with the table path");
    }
    for (size_t i = 1; i < n; i++) {
      uint32_t whole = crc32c_extend_path(paths[i], start, p, len);
      uint32_t pieces = chain_random(&rng, paths[i], start, p, len);
      if (whole != sw || pieces != sw) {
        fprintf(stderr,
                "\n  %s %08X chained %08X sw %08X len %zu offset %zu"
                " (seed %llu)\n",
                crc32c_path_name(paths[i]), whole, pieces, sw, len, offset,
                (unsigned long long)seed);
        CU_FAIL("a path disagrees with the table path on a large buffer");
      }
    }
    free(block);
  }
}

/* crc(A ++ B ++ C) == extend(extend(crc(A), B), C), for all paths. */
static void test_chaining(void) {
  uint64_t seed = test_seed() ^ 0xC4A1;
  test_rng rng;
  test_rng_init(&rng, seed);
  crc32c_path paths[CRC32C_PATH_COUNT];
  size_t n = available_paths(paths);
  for (int run = 0; run < CRC_RANDOM_RUNS / 3; run++) {
    size_t len = test_rng_below(&rng, 2000);
    uint8_t *p = malloc(len ? len : 1);
    CU_ASSERT_FATAL(p != NULL);
    fill_random(&rng, p, len);
    uint32_t whole = crc32c(p, len);
    CU_ASSERT_EQUAL(crc32c_extend(0, p, len), whole);
    uint32_t chained = 0;
    uint32_t chained_path[CRC32C_PATH_COUNT] = {0};
    size_t done = 0;
    while (done < len) {
      size_t piece = 1 + test_rng_below(&rng, len - done);
      if (test_rng_below(&rng, 4) == 0)
        piece = 1 + test_rng_below(&rng, 9 < len - done ? 9 : len - done);
      chained = crc32c_extend(chained, p + done, piece);
      for (size_t i = 0; i < n; i++)
        chained_path[i] =
            crc32c_extend_path(paths[i], chained_path[i], p + done, piece);
      /* Empty pieces in between change nothing. */
      chained = crc32c_extend(chained, p + done, 0);
      done += piece;
    }
    bool ok = chained == whole;
    for (size_t i = 0; i < n; i++)
      ok = ok && chained_path[i] == whole;
    if (!ok) {
      fprintf(stderr, "\n  chained %08X whole %08X len %zu (seed %llu)\n",
              chained, whole, len, (unsigned long long)seed);
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
      {"paths", test_paths}, {"long_patterns", test_long_patterns},
      {"every_length_matches_reference", test_every_length_matches_reference},
      {"lanes_match_sw_at_boundaries", test_lanes_match_sw_at_boundaries},
      {"lanes_random", test_lanes_random}, {"large_random", test_large_random},
      {"sw_matches_reference", test_sw_matches_reference},
      {"hw_matches_sw", test_hw_matches_sw}, {"chaining", test_chaining},
      {"detects_single_bit_flips", test_detects_single_bit_flips});
}
