/*
 * sim_rand.c — the simulator's random numbers and hashes.
 *
 * One master seed fans out into independent streams: splitmix64 turns
 * (seed, tag) into a fresh 64-bit seed, which splitmix64 again expands into
 * the 256-bit state of a xoshiro256** generator (the seeding its authors
 * recommend). Tags name the streams (NET, DISK, ..., or the FNV hash of a
 * node's name), so a stream depends only on the seed and its own name and
 * never on how many other streams exist or how much they were drawn from.
 */
#include <math.h>

#include "base/assert.h"
#include "base/splitmix.h"
#include "sim/sim_internal.h"

static uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void sim__rng_seed(sim__rng *r, uint64_t seed) {
  uint64_t x = seed;
  for (int i = 0; i < 4; i++)
    r->s[i] = splitmix64_next(&x);
  /* splitmix64 is a bijection of its counter, so four consecutive outputs
   * are never all zero; xoshiro would be stuck at zero forever. */
  SL_ASSERT((r->s[0] | r->s[1] | r->s[2] | r->s[3]) != 0);
}

uint64_t sim__rng_next(sim__rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl64(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl64(s[3], 45);
  return result;
}

uint64_t sim__rng_below(sim__rng *r, uint64_t bound) {
  SL_ASSERT(bound > 0);
  /* Reject the top sliver that would bias the modulo. */
  uint64_t limit = UINT64_MAX - (UINT64_MAX % bound);
  uint64_t x;
  do {
    x = sim__rng_next(r);
  } while (x >= limit);
  return x % bound;
}

double sim__rng_double(sim__rng *r) {
  return (double)(sim__rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t sim__rng_latency(sim__rng *r, uint64_t min_ns, uint64_t mean_ns) {
  if (mean_ns == 0)
    return min_ns;
  double u = sim__rng_double(r); /* [0, 1) so log1p(-u) is finite */
  double extra = -(double)mean_ns * log1p(-u);
  double cap = (double)mean_ns * SIM__EXP_CAP_MEANS;
  if (extra > cap)
    extra = cap;
  return min_ns + (uint64_t)extra;
}

uint64_t sim__derive_seed(uint64_t master, uint64_t tag) {
  uint64_t t = tag;
  uint64_t x = master ^ splitmix64_next(&t);
  return splitmix64_next(&x);
}

uint64_t sim__fnv1a64(uint64_t h, const void *data, size_t len) {
  const uint8_t *p = data;
  for (size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= UINT64_C(0x100000001b3);
  }
  return h;
}
