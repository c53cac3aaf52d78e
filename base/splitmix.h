/*
 * splitmix.h — splitmix64, a tiny counter-based generator.
 *
 * Each call advances *state by a fixed odd constant and returns a mix of
 * it (Steele, Lea and Flood's SplitMix64 finaliser). Good enough to derive
 * settings or payload bytes from a seed, and to seed a better generator
 * (the simulator's xoshiro256** streams); not for anything that must be
 * unpredictable. Pure function of the state: no global state.
 */
#ifndef SLUICE_BASE_SPLITMIX_H
#define SLUICE_BASE_SPLITMIX_H

#include <stdint.h>

static inline uint64_t splitmix64_next(uint64_t *state) {
  uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

#endif
