/*
 * gen.c — deterministic corpora for the compute benchmark.
 *
 * Both generators draw ranks from a Zipf distribution with Vose's alias
 * method (O(1) per draw, so generating a few hundred MB takes seconds) and
 * a splitmix64 stream seeded from --seed. The same (seed, bytes) always
 * gives the same file.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "tools/bench-baseline/baseline.h"

#define GEN_TEXT_VOCAB 200000u
#define GEN_TEXT_ZIPF_S 1.0
#define GEN_TEXT_WORDS_PER_LINE_MIN 6u
#define GEN_TEXT_WORDS_PER_LINE_SPAN 10u
#define GEN_WORD_BYTES_MAX 16u
#define GEN_KV_KEYS (1u << 20) /* a power of two: see kv_key_id */
#define GEN_KV_ZIPF_S 0.9
#define GEN_KV_VALUE_MIN (-1000)
#define GEN_KV_VALUE_SPAN 1000000u
#define GEN_OUT_BUFFER_BYTES (1u << 20)

uint64_t bl_next(uint64_t *state) {
  uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

/* ------------------------------------------------------------ alias table */

typedef struct zipf {
  uint32_t n;
  double *prob;    /* [owned] n */
  uint32_t *alias; /* [owned] n */
} zipf;

/* Vose's alias method over weights 1 / (rank + 1)^s. */
static void zipf_init(zipf *z, uint32_t n, double s) {
  SL_ASSERT(n > 0);
  z->n = n;
  z->prob = malloc(n * sizeof(double));
  z->alias = malloc(n * sizeof(uint32_t));
  double *scaled = malloc(n * sizeof(double));
  uint32_t *small = malloc(n * sizeof(uint32_t));
  uint32_t *large = malloc(n * sizeof(uint32_t));
  SL_ASSERT(z->prob && z->alias && scaled && small && large);
  double total = 0;
  for (uint32_t i = 0; i < n; i++)
    total += 1.0 / pow((double)i + 1.0, s);
  uint32_t n_small = 0, n_large = 0;
  for (uint32_t i = 0; i < n; i++) {
    scaled[i] = (1.0 / pow((double)i + 1.0, s)) * n / total;
    if (scaled[i] < 1.0)
      small[n_small++] = i;
    else
      large[n_large++] = i;
  }
  while (n_small > 0 && n_large > 0) {
    uint32_t lo = small[--n_small], hi = large[--n_large];
    z->prob[lo] = scaled[lo];
    z->alias[lo] = hi;
    scaled[hi] = scaled[hi] + scaled[lo] - 1.0;
    if (scaled[hi] < 1.0)
      small[n_small++] = hi;
    else
      large[n_large++] = hi;
  }
  while (n_large > 0) {
    uint32_t i = large[--n_large];
    z->prob[i] = 1.0;
    z->alias[i] = i;
  }
  while (n_small > 0) { /* rounding leftovers */
    uint32_t i = small[--n_small];
    z->prob[i] = 1.0;
    z->alias[i] = i;
  }
  free(large);
  free(small);
  free(scaled);
}

static void zipf_free(zipf *z) {
  free(z->prob);
  free(z->alias);
}

static uint32_t zipf_draw(const zipf *z, uint64_t *rng) {
  uint64_t r = bl_next(rng);
  uint32_t i = (uint32_t)(((r >> 32) * z->n) >> 32);
  double u = (double)(r & 0xffffffffu) * (1.0 / 4294967296.0);
  return u < z->prob[i] ? i : z->alias[i];
}

/* ------------------------------------------------------------ output */

typedef struct gen_out {
  FILE *file;
  const char *path;
  uint64_t bytes;
} gen_out;

static int out_open(gen_out *o, const char *path) {
  o->path = path;
  o->bytes = 0;
  o->file = fopen(path, "wb");
  if (!o->file) {
    fprintf(stderr, "bench-baseline: cannot create %s: %s\n", path,
            strerror(errno));
    return 1;
  }
  setvbuf(o->file, NULL, _IOFBF, GEN_OUT_BUFFER_BYTES);
  return 0;
}

static void out_put(gen_out *o, const char *p, size_t len) {
  fwrite(p, 1, len, o->file);
  o->bytes += len;
}

static int out_close(gen_out *o) {
  int bad = ferror(o->file);
  if (fclose(o->file) != 0 || bad) {
    fprintf(stderr, "bench-baseline: cannot write %s\n", o->path);
    return 1;
  }
  return 0;
}

/* ------------------------------------------------------------- text */

/* The word of a vocabulary rank: 2-4 letters for the commonest words,
 * growing with log(rank) up to about 11, letters from a hash of the rank
 * (two ranks may spell the same word; that only merges their counts). */
static size_t vocab_word(uint32_t rank, uint64_t seed, char *out) {
  uint64_t h = seed ^ ((uint64_t)rank * UINT64_C(0xd6e8feb86659fd93));
  uint64_t r = bl_next(&h);
  size_t len = 2 + (size_t)(log2((double)rank + 1.0) / 2.5) + r % 3;
  if (len > GEN_WORD_BYTES_MAX)
    len = GEN_WORD_BYTES_MAX;
  for (size_t i = 0; i < len; i++) {
    if (i % 8 == 0)
      r = bl_next(&h);
    out[i] = (char)('a' + (r >> (8 * (i % 8))) % 26);
  }
  return len;
}

int bl_textgen(const char *path, uint64_t bytes, uint64_t seed) {
  gen_out o;
  if (out_open(&o, path) != 0)
    return 1;
  char *words = malloc((size_t)GEN_TEXT_VOCAB * GEN_WORD_BYTES_MAX);
  uint8_t *lens = malloc(GEN_TEXT_VOCAB);
  SL_ASSERT(words && lens);
  for (uint32_t r = 0; r < GEN_TEXT_VOCAB; r++)
    lens[r] =
        (uint8_t)vocab_word(r, seed, words + (size_t)r * GEN_WORD_BYTES_MAX);
  zipf z;
  zipf_init(&z, GEN_TEXT_VOCAB, GEN_TEXT_ZIPF_S);
  uint64_t rng = seed;
  char line[GEN_WORD_BYTES_MAX * 32];
  while (o.bytes < bytes) {
    uint32_t n = GEN_TEXT_WORDS_PER_LINE_MIN +
                 (uint32_t)(bl_next(&rng) % GEN_TEXT_WORDS_PER_LINE_SPAN);
    size_t len = 0;
    for (uint32_t w = 0; w < n; w++) {
      uint32_t r = zipf_draw(&z, &rng);
      if (w)
        line[len++] = ' ';
      memcpy(line + len, words + (size_t)r * GEN_WORD_BYTES_MAX, lens[r]);
      len += lens[r];
    }
    line[len++] = '\n';
    out_put(&o, line, len);
  }
  zipf_free(&z);
  free(lens);
  free(words);
  return out_close(&o);
}

/* ------------------------------------------------------------- kv */

/* Spreads ranks over the key space (an odd multiplier is a bijection
 * modulo a power of two), so hot keys are not neighbours. */
static uint32_t kv_key_id(uint32_t rank) {
  return (uint32_t)(rank * UINT32_C(2654435761)) & (GEN_KV_KEYS - 1);
}

int bl_kvgen(const char *path, uint64_t bytes, uint64_t seed) {
  gen_out o;
  if (out_open(&o, path) != 0)
    return 1;
  zipf z;
  zipf_init(&z, GEN_KV_KEYS, GEN_KV_ZIPF_S);
  uint64_t rng = seed;
  char line[64];
  while (o.bytes < bytes) {
    uint32_t id = kv_key_id(zipf_draw(&z, &rng));
    long long v =
        GEN_KV_VALUE_MIN + (long long)(bl_next(&rng) % GEN_KV_VALUE_SPAN);
    int len = snprintf(line, sizeof line, "user%07u\t%lld\n", id, v);
    SL_ASSERT(len > 0 && (size_t)len < sizeof line);
    out_put(&o, line, (size_t)len);
  }
  zipf_free(&z);
  return out_close(&o);
}
