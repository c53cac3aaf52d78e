/*
 * cli.h — what the `sluice` subcommands share: a libuv loop with one env
 * (base/env_uv.h) and one Kafka client (broker/client/client.h) on it,
 * option parsing helpers, and a latency histogram for the perf tools.
 *
 * Each subcommand is `int cli_NAME(int argc, char **argv)` returning the
 * process exit status: 0 on success, 1 when the operation failed (the
 * reason printed on stderr as "sluice NAME: ..."), 2 for bad usage.
 */
#ifndef SLUICE_TOOLS_SLUICE_CLI_H
#define SLUICE_TOOLS_SLUICE_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "base/env.h"
#include "broker/client/client.h"

#define CLI_DEFAULT_BOOTSTRAP "localhost:9092"
#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2
/* How long the tools wait for an admin answer, all retries included. */
#define CLI_OP_TIMEOUT_MS 30000u

typedef struct cli_rt cli_rt;

struct cli_rt {
  const char *prog; /* "sluice topics" */
  uv_loop_t loop;
  env_t *env;
  kclient_t *kc;
  uv_signal_t sig_int, sig_term;
  bool finished;
  int exit_code;
  /* Called on SIGINT/SIGTERM before the loop stops (may be NULL). */
  void (*on_signal)(cli_rt *rt, int signum);
  void *user;
};

/* Starts the loop, the env and the client. Prints why and returns
 * CLI_EXIT_FAIL / CLI_EXIT_USAGE on failure (nothing to free then). */
int cli_rt_init(cli_rt *rt, const char *prog, const kclient_config *cfg,
                bool verbose);
/* Runs the loop until cli_rt_finish; returns the exit code. */
int cli_rt_run(cli_rt *rt);
/* Ends the run with code (the first call wins). From any callback. */
void cli_rt_finish(cli_rt *rt, int code);
/* Frees client, env and loop (after cli_rt_run returned). */
void cli_rt_free(cli_rt *rt);

/* "sluice NAME: message" on stderr. */
void cli_error(const char *prog, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Strict number parsing for an option: the whole string, within
 * [min, max]. Prints "PROG: --NAME must be ..." and returns false. */
bool cli_parse_i64(const char *prog, const char *name, const char *s,
                   int64_t min, int64_t max, int64_t *out);
/* gzip|snappy|lz4|zstd|none. */
bool cli_parse_codec(const char *prog, const char *s, batch_codec *out);
/* "TAB" or "\t" mean a tab character; otherwise the string itself. */
const char *cli_separator(const char *s);

/* A log-linear histogram of durations (1 us .. ~19 h, <= 1/64 relative
 * error), for latency percentiles without storing every sample. */
#define CLI_HIST_SUB_BUCKETS 64
#define CLI_HIST_EXPONENTS 37
typedef struct cli_hist {
  uint64_t counts[CLI_HIST_EXPONENTS][CLI_HIST_SUB_BUCKETS];
  uint64_t n;
  uint64_t sum_us;
  uint64_t max_us;
} cli_hist;
void cli_hist_add(cli_hist *h, uint64_t us);
/* The value at quantile q (0..1), in microseconds; 0 when empty. */
uint64_t cli_hist_quantile(const cli_hist *h, double q);

/* The subcommands. */
int cli_topics(int argc, char **argv);
int cli_produce(int argc, char **argv);
int cli_consume(int argc, char **argv);
int cli_groups(int argc, char **argv);
int cli_perf_produce(int argc, char **argv);
int cli_perf_consume(int argc, char **argv);

#endif
