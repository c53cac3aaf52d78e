/*
 * sluice — Kafka command-line tools for Sluice brokers (and any Kafka
 * broker): topics, produce, consume, perf-produce, perf-consume, with the
 * flags Kafka's kafka-topics.sh, kafka-console-producer.sh,
 * kafka-console-consumer.sh and the perf-test scripts take.
 *
 * This file dispatches subcommands and holds what they share: the loop,
 * env and client runtime, option helpers and the latency histogram.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/env_uv.h"
#include "tools/sluice/cli.h"

/* ------------------------------------------------------------- runtime */

static void cli_on_signal(uv_signal_t *h, int signum) {
  cli_rt *rt = h->data;
  if (rt->on_signal)
    rt->on_signal(rt, signum);
  cli_rt_finish(rt, 128 + signum);
}

int cli_rt_init(cli_rt *rt, const char *prog, const kclient_config *cfg,
                bool verbose) {
  memset(rt, 0, sizeof *rt);
  rt->prog = prog;
  if (uv_loop_init(&rt->loop) != 0) {
    cli_error(prog, "cannot create an event loop");
    return CLI_EXIT_FAIL;
  }
  rt->env = env_uv_new(&rt->loop, "sluice", 0);
  env_uv_set_log_level(rt->env, verbose ? ENV_LOG_DEBUG : ENV_LOG_WARN);
  char msg[KCLIENT_ERRMSG_BYTES];
  int rc = kclient_new(rt->env, cfg, &rt->kc, msg);
  if (rc) {
    cli_error(prog, "%s", msg);
    env_uv_free(rt->env);
    uv_run(&rt->loop, UV_RUN_DEFAULT);
    uv_loop_close(&rt->loop);
    return CLI_EXIT_USAGE;
  }
  uv_signal_init(&rt->loop, &rt->sig_int);
  uv_signal_init(&rt->loop, &rt->sig_term);
  rt->sig_int.data = rt;
  rt->sig_term.data = rt;
  uv_signal_start(&rt->sig_int, cli_on_signal, SIGINT);
  uv_signal_start(&rt->sig_term, cli_on_signal, SIGTERM);
  return CLI_EXIT_OK;
}

int cli_rt_run(cli_rt *rt) {
  while (!rt->finished)
    if (uv_run(&rt->loop, UV_RUN_DEFAULT) == 0 && !rt->finished) {
      /* Nothing left to wait for, yet nobody finished: a bug. */
      cli_error(rt->prog, "internal error: the event loop ran dry");
      rt->exit_code = CLI_EXIT_FAIL;
      break;
    }
  return rt->exit_code;
}

void cli_rt_finish(cli_rt *rt, int code) {
  if (rt->finished)
    return;
  rt->finished = true;
  rt->exit_code = code;
  uv_stop(&rt->loop);
}

void cli_rt_free(cli_rt *rt) {
  kclient_free(rt->kc);
  rt->kc = NULL;
  env_uv_free(rt->env);
  uv_close((uv_handle_t *)&rt->sig_int, NULL);
  uv_close((uv_handle_t *)&rt->sig_term, NULL);
  uv_run(&rt->loop, UV_RUN_DEFAULT);
  uv_loop_close(&rt->loop);
}

/* ------------------------------------------------------------- helpers */

void cli_error(const char *prog, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s: ", prog);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

bool cli_parse_i64(const char *prog, const char *name, const char *s,
                   int64_t min, int64_t max, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (!*s || *end || errno || v < min || v > max) {
    cli_error(prog, "--%s must be an integer in %lld..%lld, not '%s'", name,
              (long long)min, (long long)max, s);
    return false;
  }
  *out = v;
  return true;
}

bool cli_parse_codec(const char *prog, const char *s, batch_codec *out) {
  static const struct {
    const char *name;
    batch_codec codec;
  } codecs[] = {{"none", BATCH_CODEC_NONE},
                {"gzip", BATCH_CODEC_GZIP},
                {"snappy", BATCH_CODEC_SNAPPY},
                {"lz4", BATCH_CODEC_LZ4},
                {"zstd", BATCH_CODEC_ZSTD}};
  for (size_t i = 0; i < sizeof codecs / sizeof codecs[0]; i++)
    if (strcmp(s, codecs[i].name) == 0) {
      *out = codecs[i].codec;
      return true;
    }
  cli_error(prog,
            "--compression must be none, gzip, snappy, lz4 or zstd, "
            "not '%s'",
            s);
  return false;
}

const char *cli_separator(const char *s) {
  if (strcmp(s, "TAB") == 0 || strcmp(s, "\\t") == 0)
    return "\t";
  return s;
}

/* ------------------------------------------------------------ histogram */

void cli_hist_add(cli_hist *h, uint64_t us) {
  /* Exponent e holds [64 * 2^(e-1), 64 * 2^e) for e >= 1 in 64 equal
   * steps; e = 0 holds 0..63 exactly. */
  uint32_t e = 0;
  uint64_t v = us;
  if (v >= CLI_HIST_SUB_BUCKETS) {
    /* The shift that brings v into [32, 64): its top bit's index - 5. */
    e = (uint32_t)(63 - __builtin_clzll(v)) - 5;
    if (e > CLI_HIST_EXPONENTS - 1)
      e = CLI_HIST_EXPONENTS - 1;
    v >>= e;
  }
  if (v >= CLI_HIST_SUB_BUCKETS)
    v = CLI_HIST_SUB_BUCKETS - 1;
  h->counts[e][v]++;
  h->n++;
  h->sum_us += us;
  if (us > h->max_us)
    h->max_us = us;
}

uint64_t cli_hist_quantile(const cli_hist *h, double q) {
  if (h->n == 0)
    return 0;
  uint64_t rank = (uint64_t)(q * (double)h->n);
  if (rank >= h->n)
    rank = h->n - 1;
  uint64_t seen = 0;
  for (uint32_t e = 0; e < CLI_HIST_EXPONENTS; e++)
    for (uint32_t s = 0; s < CLI_HIST_SUB_BUCKETS; s++) {
      seen += h->counts[e][s];
      if (seen > rank) {
        uint64_t v = (uint64_t)s << e;
        return v > h->max_us ? h->max_us : v;
      }
    }
  return h->max_us;
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *out) {
  fprintf(out,
          "usage: sluice COMMAND [OPTIONS]\n"
          "\n"
          "Kafka command-line tools (they talk to any Kafka broker).\n"
          "\n"
          "commands:\n"
          "  topics        create, list, describe, alter and delete topics\n"
          "  produce       write lines from stdin to a topic\n"
          "  consume       print records of a topic (alone or in a group)\n"
          "  groups        list consumer groups, describe members and lag\n"
          "  perf-produce  measure producer throughput and latency\n"
          "  perf-consume  measure consumer throughput\n"
          "\n"
          "`sluice COMMAND --help` describes each command's options.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return CLI_EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
      strcmp(cmd, "help") == 0) {
    usage(stdout);
    return CLI_EXIT_OK;
  }
  static const struct {
    const char *name;
    int (*fn)(int, char **);
  } cmds[] = {{"topics", cli_topics},
              {"produce", cli_produce},
              {"consume", cli_consume},
              {"groups", cli_groups},
              {"perf-produce", cli_perf_produce},
              {"perf-consume", cli_perf_consume}};
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
    if (strcmp(cmd, cmds[i].name) == 0)
      return cmds[i].fn(argc - 1, argv + 1);
  fprintf(stderr, "sluice: unknown command '%s'\n\n", cmd);
  usage(stderr);
  return CLI_EXIT_USAGE;
}
