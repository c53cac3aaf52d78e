/*
 * crc32c-gen — prints the multipliers base/crc32c.c uses to move CRC-32C
 * state forward over a known number of input bits. Run it and paste the
 * output into base/crc32c.c when the fused block sizes change:
 *
 *   build/bin/crc32c-gen
 *
 * Every value is x^n mod P for the CRC-32C polynomial P, written the way
 * the reflected CRC register holds polynomials: bit i is the coefficient of
 * x^(31 - i). Starting from x^0 (0x80000000 in that layout), one
 * multiplication by x is one step of the bitwise CRC: shift right, and if a
 * bit fell off the end (the x^32 term), add P (XOR 0x82F63B78). n is at most
 * about 2.3 million here, so stepping one bit at a time is fast enough and
 * obviously right.
 *
 * Which n, and why "- 33": see the fused-path comment in base/crc32c.c.
 * The unit tests catch any wrong constant by comparing every path with a
 * bit-at-a-time reference.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define POLY_REFLECTED 0x82F63B78u
#define ITER_BYTES 136u /* one fused iteration: 3 x 24 chain + 64 folded */

/* x^n mod P, reflected. */
static uint32_t x_pow_mod(unsigned long n) {
  uint32_t r = 0x80000000u;
  for (unsigned long i = 0; i < n; i++)
    r = (r >> 1) ^ ((r & 1u) ? POLY_REFLECTED : 0u);
  return r;
}

int main(int argc, char **argv) {
  if (argc > 1) {
    bool help = strcmp(argv[1], "--help") == 0;
    fprintf(help ? stdout : stderr,
            "usage: crc32c-gen\nPrints the CRC-32C folding constants of "
            "base/crc32c.c as C source.\n");
    return help ? 0 : 2;
  }
  /* Folding a 128-bit accumulator over d bytes: the low quadword is
   * multiplied by x^(8d + 64 - 33), the high one by x^(8d - 33). */
  static const unsigned fold_bytes[] = {64, 48, 32, 16};
  for (size_t i = 0; i < sizeof fold_bytes / sizeof *fold_bytes; i++) {
    unsigned bits = 8 * fold_bytes[i];
    printf("#define CRC32C_FOLD_%u_LO 0x%08Xu /* x^(%u + 64 - 33) */\n",
           fold_bytes[i], x_pow_mod(bits + 64 - 33), bits);
    printf("#define CRC32C_FOLD_%u_HI 0x%08Xu /* x^(%u - 33) */\n",
           fold_bytes[i], x_pow_mod(bits - 33), bits);
  }
  /* A block of k iterations is S1 S2 S3 (24k bytes each) then V (64k):
   * the register entering it moves over 136k bytes, S1 over 112k, S2 over
   * 88k, S3 over 64k. Largest block first: the order they are tried in. */
  static const unsigned long iterations[] = {256, 32, 8, 4, 2, 1};
  printf("static const crc32c_fused_block crc32c_fused_blocks[] = {\n");
  for (size_t i = 0; i < sizeof iterations / sizeof *iterations; i++) {
    unsigned long k = iterations[i];
    printf("    {%lu, 0x%08Xu, 0x%08Xu, 0x%08Xu, 0x%08Xu}, /* %lu bytes */\n",
           k, x_pow_mod(8 * 136 * k - 33), x_pow_mod(8 * 112 * k - 33),
           x_pow_mod(8 * 88 * k - 33), x_pow_mod(8 * 64 * k - 33),
           ITER_BYTES * k);
  }
  printf("};\n");
  return 0;
}
