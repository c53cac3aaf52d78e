/*
 * base/rxbuf: frames cut at random points come out whole and in order,
 * whether the bytes were read into the buffer's loans or copied in from
 * elsewhere; large frames read into loans are not copied; bad size
 * prefixes are refused before anything is reserved for them.
 */
#include <glib.h>
#include <string.h>

#include "base/buf.h"
#include "base/rxbuf.h"
#include "tests/unit/testutil.h"

enum { RX_MIN = 8, RX_MAX = 4 << 20 };

/* A stream of n frames; sizes[i] is frame i's size, its bytes are
 * derived from (i, position). */
static uint8_t *make_stream(test_rng *r, int n, bool big_only, size_t *len,
                            uint32_t *sizes) {
  size_t total = 0;
  for (int i = 0; i < n; i++) {
    uint64_t kind = test_rng_below(r, 4);
    sizes[i] =
        big_only || kind == 0
            ? (uint32_t)(RXBUF_READ_BYTES + test_rng_below(r, 1 << 20))
            : (uint32_t)(RX_MIN + test_rng_below(r, kind == 1 ? 40 : 20000));
    total += RXBUF_PREFIX_BYTES + sizes[i];
  }
  uint8_t *s = g_malloc(total);
  size_t at = 0;
  for (int i = 0; i < n; i++) {
    be32_store(s + at, sizes[i]);
    at += RXBUF_PREFIX_BYTES;
    for (uint32_t k = 0; k < sizes[i]; k++)
      s[at + k] = (uint8_t)(i * 131 + k * 7 + (k >> 9));
    at += sizes[i];
  }
  *len = total;
  return s;
}

/* Feeds the stream in random reads: into a loan (as an env that honours
 * on_alloc would: at most the loan) or, when lend is false or by chance,
 * from a separate buffer. Checks every frame; returns the bytes copied. */
static uint64_t run_stream(uint64_t seed, int n, bool big_only, bool lend,
                           bool lend_always) {
  test_rng r;
  test_rng_init(&r, seed);
  uint32_t *sizes = g_new(uint32_t, n);
  size_t len = 0;
  uint8_t *s = make_stream(&r, n, big_only, &len, sizes);
  rxbuf *rx = rxbuf_new(RX_MIN, RX_MAX);
  uint8_t *other = g_malloc(RXBUF_READ_BYTES * 2);
  size_t pos = 0, at = 0;
  int next = 0;
  while (pos < len) {
    size_t left = len - pos;
    size_t want = test_rng_below(&r, 5) == 0
                      ? 1 + test_rng_below(&r, 6)
                      : 1 + test_rng_below(&r, RXBUF_READ_BYTES * 2);
    if (want > left)
      want = left;
    if (lend && (lend_always || test_rng_below(&r, 3) != 0)) {
      size_t lent = 0;
      uint8_t *p = rxbuf_lend(rx, &lent);
      CU_ASSERT_PTR_NOT_NULL_FATAL(p);
      CU_ASSERT_FATAL(lent > 0);
      if (want > lent)
        want = lent;
      memcpy(p, s + pos, want);
      rxbuf_received(rx, p, want);
    } else {
      memcpy(other, s + pos, want);
      rxbuf_received(rx, other, want);
      memset(other, 0xEE, want); /* the rxbuf must have copied */
    }
    pos += want;
    const uint8_t *f;
    size_t flen;
    int rc;
    while ((rc = rxbuf_next(rx, &f, &flen)) == 1) {
      CU_ASSERT_FATAL(next < n);
      CU_ASSERT_EQUAL_FATAL(flen, sizes[next]);
      at += RXBUF_PREFIX_BYTES;
      CU_ASSERT_FATAL(memcmp(f, s + at, flen) == 0);
      at += flen;
      next++;
    }
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(rxbuf_buffered_bytes(rx), pos - at);
  }
  CU_ASSERT_EQUAL(next, n);
  uint64_t copied = rxbuf_copied_bytes(rx);
  rxbuf_free(rx);
  g_free(other);
  g_free(s);
  g_free(sizes);
  return copied;
}

static void test_random_cuts(void) {
  for (uint64_t k = 0; k < 12; k++) {
    uint64_t seed = test_seed() + k;
    (void)run_stream(seed, 60, false, false, false);
    (void)run_stream(seed, 60, false, true, false);
    (void)run_stream(seed, 60, false, true, true);
  }
}

/* Large frames read into loans: only a frame that outgrows the buffer
 * moves (while the buffer doubles), nothing else is copied. */
static void test_large_frames_in_place(void) {
  for (uint64_t k = 0; k < 4; k++) {
    uint64_t seed = test_seed() + 100 + k;
    uint64_t copied = run_stream(seed, 40, true, true, true);
    uint64_t copied_env = run_stream(seed, 40, true, false, false);
    CU_ASSERT(copied_env > (uint64_t)40 * RXBUF_READ_BYTES);
    CU_ASSERT(copied * 8 < copied_env);
  }
}

/* A bad prefix: frames before it come out, then -1 for good, no loan, no
 * memory reserved, bytes after it dropped. */
static void test_bad_prefix(void) {
  static const uint32_t bad[] = {0x7fffffffu, 0x80000000u, RX_MAX + 1,
                                 RX_MIN - 1, 0};
  for (size_t k = 0; k < G_N_ELEMENTS(bad); k++) {
    rxbuf *rx = rxbuf_new(RX_MIN, RX_MAX);
    uint8_t good[4 + RX_MIN];
    memset(good, 0x11, sizeof good);
    be32_store(good, RX_MIN);
    uint8_t prefix[4];
    be32_store(prefix, bad[k]);
    size_t lent = 0;
    uint8_t *p = rxbuf_lend(rx, &lent);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    memcpy(p, good, sizeof good);
    rxbuf_received(rx, p, sizeof good);
    rxbuf_received(rx, prefix, 2); /* half a prefix: no verdict yet */
    CU_ASSERT_STRING_EQUAL(rxbuf_error(rx), "");
    rxbuf_received(rx, prefix + 2, 2);
    uint8_t junk[100] = {0};
    rxbuf_received(rx, junk, sizeof junk);
    CU_ASSERT_EQUAL(rxbuf_buffered_bytes(rx), sizeof good + 4);
    CU_ASSERT_PTR_NULL(rxbuf_lend(rx, &lent));
    const uint8_t *f;
    size_t flen;
    CU_ASSERT_EQUAL(rxbuf_next(rx, &f, &flen), 1);
    CU_ASSERT_EQUAL(flen, RX_MIN);
    CU_ASSERT_EQUAL(rxbuf_next(rx, &f, &flen), -1);
    CU_ASSERT_EQUAL(rxbuf_next(rx, &f, &flen), -1);
    CU_ASSERT(strstr(rxbuf_error(rx), "outside the allowed") != NULL);
    rxbuf_free(rx);
  }
  /* The largest allowed frame is fine, and its prefix alone reserves
   * nothing like its size: memory follows the bytes. */
  rxbuf *rx = rxbuf_new(RX_MIN, RX_MAX);
  uint8_t prefix[4];
  be32_store(prefix, RX_MAX);
  rxbuf_received(rx, prefix, 4);
  size_t lent = 0;
  CU_ASSERT_PTR_NOT_NULL(rxbuf_lend(rx, &lent));
  CU_ASSERT(lent >= RXBUF_READ_BYTES && lent <= 4 * RXBUF_READ_BYTES);
  rxbuf_free(rx);
}

int suite_rxbuf(void) {
  TEST_SUITE("rxbuf", {"frames cut at random points", test_random_cuts},
             {"large frames read in place", test_large_frames_in_place},
             {"bad size prefixes", test_bad_prefix});
}
