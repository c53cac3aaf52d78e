/*
 * bench-crc32c — CRC-32C throughput of every path this CPU has, and of
 * crc32c() itself, on in-cache buffers of 64 B to 1 MiB.
 *
 * The machines are shared and noisy, so each figure is the best of many
 * short trials (each about 256 KiB of input), with the paths' trials
 * interleaved so they see the same background load. Run by `make bench`:
 *
 *   bench-crc32c [TRIALS]      (default 300)
 *
 * To compare with another version of base/crc32c.c in the same run (say
 * the committed one), compile it with its public names prefixed by
 * baseline_ and link it into this program built with
 * -DCRC32C_BENCH_BASELINE; it then shows as the "baseline" column.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/crc32c.h"

#define BENCH_TRIAL_BYTES (256u * 1024u)
#define BENCH_TRIALS_DEFAULT 300
#define BENCH_BUF_BYTES (1u << 20)
#define BENCH_ITERS_MAX 4096u

#ifdef CRC32C_BENCH_BASELINE
uint32_t baseline_crc32c_extend(uint32_t crc, const void *data, size_t len);
#endif

/* One measured function: a path (via crc32c_extend_path), crc32c_extend,
 * or the baseline. */
typedef struct {
  const char *name;
  int path; /* a crc32c_path, or -1 for crc32c_extend, -2 for baseline */
} bench_subject;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint32_t run_subject(const bench_subject *s, uint32_t crc,
                            const uint8_t *p, size_t len) {
  if (s->path >= 0)
    return crc32c_extend_path((crc32c_path)s->path, crc, p, len);
#ifdef CRC32C_BENCH_BASELINE
  if (s->path == -2)
    return baseline_crc32c_extend(crc, p, len);
#endif
  return crc32c_extend(crc, p, len);
}

/* Seconds for iters chained CRCs of p[0..len). */
static double trial(const bench_subject *s, const uint8_t *p, size_t len,
                    size_t iters, uint32_t *sink) {
  double t0 = now_s();
  uint32_t crc = *sink;
  for (size_t i = 0; i < iters; i++)
    crc = run_subject(s, crc, p, len);
  double t = now_s() - t0;
  *sink ^= crc;
  return t;
}

int main(int argc, char **argv) {
  if (argc > 2 || (argc == 2 && strcmp(argv[1], "--help") == 0)) {
    fprintf(argc > 2 ? stderr : stdout,
            "usage: bench-crc32c [TRIALS]\n"
            "Prints the CRC-32C speed (GB/s, in cache) of every path this CPU "
            "has,\nbest of TRIALS (default %d) interleaved trials per size.\n",
            BENCH_TRIALS_DEFAULT);
    return argc > 2 ? 2 : 0;
  }
  int trials = BENCH_TRIALS_DEFAULT;
  if (argc == 2) {
    char *end = NULL;
    long v = strtol(argv[1], &end, 10);
    if (!end || *end || v < 1 || v > 1000000) {
      fprintf(stderr, "bench-crc32c: TRIALS must be 1..1000000, not %s\n",
              argv[1]);
      return 2;
    }
    trials = (int)v;
  }
  static const size_t sizes[] = {64, 1024, 4096, 16384, 65536, 1u << 20};
  bench_subject subjects[CRC32C_PATH_COUNT + 2];
  size_t n = 0;
#ifdef CRC32C_BENCH_BASELINE
  subjects[n++] = (bench_subject){"baseline", -2};
#endif
  for (int path = 0; path < CRC32C_PATH_COUNT; path++)
    if (crc32c_path_available((crc32c_path)path))
      subjects[n++] =
          (bench_subject){crc32c_path_name((crc32c_path)path), path};
  subjects[n++] = (bench_subject){"crc32c", -1};
  uint8_t *buf = aligned_alloc(64, BENCH_BUF_BYTES);
  if (buf == NULL) {
    fprintf(stderr, "bench-crc32c: out of memory\n");
    return 1;
  }
  uint64_t x = 0x9E3779B97F4A7C15u;
  for (size_t i = 0; i < BENCH_BUF_BYTES; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    buf[i] = (uint8_t)x;
  }
  printf("GB/s, best of %d trials; crc32c() takes %s\n%8s", trials,
         crc32c_path_name(crc32c_path_best()), "bytes");
  for (size_t j = 0; j < n; j++)
    printf(" %13s", subjects[j].name);
  printf("\n");
  uint32_t sink = 0;
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    size_t len = sizes[i];
    size_t iters = BENCH_TRIAL_BYTES / len;
    if (iters > BENCH_ITERS_MAX)
      iters = BENCH_ITERS_MAX;
    if (iters < 2)
      iters = 2;
    double best[CRC32C_PATH_COUNT + 2];
    for (size_t j = 0; j < n; j++)
      best[j] = 1e30;
    for (int t = 0; t < trials; t++)
      for (size_t j = 0; j < n; j++) {
        double s = trial(&subjects[j], buf, len, iters, &sink);
        if (s < best[j])
          best[j] = s;
      }
    printf("%8zu", len);
    for (size_t j = 0; j < n; j++)
      printf(" %13.2f", (double)(len * iters) / best[j] / 1e9);
    printf("\n");
  }
  free(buf);
  /* Printing the combined CRC keeps the compiler from dropping the work. */
  printf("check %08x\n", sink);
  return 0;
}
