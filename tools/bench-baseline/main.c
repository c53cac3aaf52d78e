/*
 * bench-baseline — the compute benchmark's generators, hand-written
 * baselines and child timer (see baseline.h for the commands).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tools/bench-baseline/baseline.h"

static int usage_to(FILE *out, int status) {
  fprintf(out,
          "usage: bench-baseline textgen --output FILE --bytes N [--seed S]\n"
          "       bench-baseline kvgen   --output FILE --bytes N [--seed S]\n"
          "       bench-baseline wordcount INPUT OUTPUT\n"
          "       bench-baseline groupsum  INPUT OUTPUT\n"
          "       bench-baseline time REPORT CMD [ARGS...]\n"
          "Hand-written baselines and data generators for the compute "
          "benchmark\n(tools/bench-compute.sh).\n");
  return status;
}

static int usage(void) { return usage_to(stderr, 2); }

static int parse_u64(const char *s, uint64_t *out) {
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || s[0] == '-')
    return -1;
  *out = v;
  return 0;
}

static int run_gen(int argc, char **argv) {
  const char *output = NULL;
  uint64_t bytes = 0, seed = 1;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--output") == 0)
      output = argv[i + 1];
    else if (strcmp(argv[i], "--bytes") == 0 &&
             parse_u64(argv[i + 1], &bytes) == 0)
      continue;
    else if (strcmp(argv[i], "--seed") == 0 &&
             parse_u64(argv[i + 1], &seed) == 0)
      continue;
    else
      return usage();
  }
  if (!output || bytes == 0 || argc % 2 != 0)
    return usage();
  return strcmp(argv[1], "textgen") == 0 ? bl_textgen(output, bytes, seed)
                                         : bl_kvgen(output, bytes, seed);
}

/* Runs argv[0..] as a child; writes "seconds maxrss_kib status". */
static int run_timed(const char *report, char **argv) {
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "bench-baseline: fork: %s\n", strerror(errno));
    return 1;
  }
  if (pid == 0) {
    execvp(argv[0], argv);
    fprintf(stderr, "bench-baseline: cannot run %s: %s\n", argv[0],
            strerror(errno));
    _exit(127);
  }
  int status = 0;
  struct rusage ru;
  while (wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) {
      fprintf(stderr, "bench-baseline: wait4: %s\n", strerror(errno));
      return 1;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double seconds =
      (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  FILE *f = fopen(report, "w");
  if (!f) {
    fprintf(stderr, "bench-baseline: cannot create %s: %s\n", report,
            strerror(errno));
    return 1;
  }
  fprintf(f, "%.3f %ld %d\n", seconds, ru.ru_maxrss, code);
  if (fclose(f) != 0)
    return 1;
  return code;
}

int main(int argc, char **argv) {
  if (argc < 2)
    return usage();
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0)
    return usage_to(stdout, 0);
  if (strcmp(cmd, "textgen") == 0 || strcmp(cmd, "kvgen") == 0)
    return run_gen(argc, argv);
  if (strcmp(cmd, "wordcount") == 0 && argc == 4)
    return bl_wordcount(argv[2], argv[3]);
  if (strcmp(cmd, "groupsum") == 0 && argc == 4)
    return bl_groupsum(argv[2], argv[3]);
  if (strcmp(cmd, "time") == 0 && argc >= 4)
    return run_timed(argv[2], argv + 3);
  return usage();
}
