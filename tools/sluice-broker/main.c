/*
 * sluice-broker — runs one Kafka-compatible broker node, the way Kafka's
 * kafka-server-start.sh does:
 *
 *   sluice-broker FILE [--override key=value]...
 *
 * FILE is a server.properties file with Kafka's property names (see
 * config/server.properties); each --override replaces one property. The
 * node runs on the libuv environment until SIGTERM or SIGINT, then shuts
 * down cleanly (flushes every log, writes checkpoints and producer
 * snapshots) and exits 0.
 *
 * Exit status: 0 after a clean shutdown, 1 if the broker could not start
 * or the shutdown hit an I/O error, 2 for a usage or configuration error.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <uv.h>

#include "base/config.h"
#include "base/env.h"
#include "base/env_uv.h"
#include "broker/server/broker.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define ERR_BYTES 512

static const char *summary_text =
    "Runs one Kafka-compatible broker node. FILE is a server.properties file\n"
    "with Kafka's property names (node.id, listeners, advertised.listeners,\n"
    "log.dirs, num.partitions, auto.create.topics.enable, log.segment.bytes,\n"
    "log.retention.ms, log.flush.interval.messages, ...); see\n"
    "config/server.properties for a documented example. SIGTERM or SIGINT\n"
    "shuts the broker down cleanly (flush, checkpoints) and exits 0.";

typedef struct run_ctx {
  uv_loop_t *loop;
  broker_t *broker;
  uv_signal_t sigterm;
  uv_signal_t sigint;
  bool stopping;
  int shutdown_status;
} run_ctx;

static void on_shutdown_done(void *arg, int status) {
  run_ctx *ctx = arg;
  ctx->shutdown_status = status;
  uv_stop(ctx->loop);
}

static void on_signal(uv_signal_t *h, int signum) {
  run_ctx *ctx = h->data;
  if (ctx->stopping) {
    fprintf(stderr, "sluice-broker: already shutting down\n");
    return;
  }
  ctx->stopping = true;
  fprintf(stderr, "sluice-broker: %s received, shutting down\n",
          signum == SIGTERM ? "SIGTERM" : "SIGINT");
  broker_shutdown(ctx->broker, on_shutdown_done, ctx);
}

/* Reads FILE and the overrides into cfg. Returns 0 or EXIT_USAGE. */
static int load_config(const char *path, char **overrides, broker_config *cfg) {
  char err[ERR_BYTES] = "";
  config_t *c = config_new();
  int rc = 0;
  if (config_load_file(c, path, err, sizeof err) < 0) {
    fprintf(stderr, "sluice-broker: %s\n", err);
    rc = EXIT_USAGE;
    goto out;
  }
  for (char **o = overrides; o && *o; o++) {
    if (config_set_assignment(c, *o) < 0) {
      fprintf(stderr, "sluice-broker: --override '%s': expected key=value\n",
              *o);
      rc = EXIT_USAGE;
      goto out;
    }
  }
  if (broker_config_load(c, cfg, err, sizeof err) < 0) {
    fprintf(stderr, "sluice-broker: %s: %s\n", path, err);
    rc = EXIT_USAGE;
    goto out;
  }
  /* Like Kafka: with no address to advertise, use the host's name. */
  if ((!cfg->advertised_host || !*cfg->advertised_host ||
       strcmp(cfg->advertised_host, "0.0.0.0") == 0) &&
      (!*cfg->listen_host || strcmp(cfg->listen_host, "0.0.0.0") == 0)) {
    g_free(cfg->advertised_host);
    cfg->advertised_host = g_strdup(g_get_host_name());
  }
  const char **keys = config_keys(c);
  for (size_t i = 0; keys[i]; i++)
    if (!broker_config_known(keys[i]))
      fprintf(stderr, "sluice-broker: note: property %s is not used\n",
              keys[i]);
  free(keys);
out:
  config_free(c);
  return rc;
}

static int run(broker_config *cfg) {
  uv_loop_t loop;
  int rc = uv_loop_init(&loop);
  if (rc < 0) {
    fprintf(stderr, "sluice-broker: uv_loop_init: %s\n", uv_strerror(rc));
    return EXIT_RUNTIME;
  }
  char *name = g_strdup_printf("broker-%d", cfg->node_id);
  env_t *env = env_uv_new(&loop, name, 0);
  run_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.loop = &loop;
  ctx.broker = broker_start(env, cfg);
  int status = 0;
  if (!ctx.broker) {
    fprintf(stderr, "sluice-broker: the broker could not start (see above)\n");
    status = EXIT_RUNTIME;
    goto out_env;
  }
  uv_signal_init(&loop, &ctx.sigterm);
  uv_signal_init(&loop, &ctx.sigint);
  ctx.sigterm.data = ctx.sigint.data = &ctx;
  uv_signal_start(&ctx.sigterm, on_signal, SIGTERM);
  uv_signal_start(&ctx.sigint, on_signal, SIGINT);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&ctx.sigterm, NULL);
  uv_close((uv_handle_t *)&ctx.sigint, NULL);
  uv_run(&loop, UV_RUN_NOWAIT);
  broker_free(ctx.broker);
  if (ctx.shutdown_status < 0) {
    fprintf(stderr, "sluice-broker: shutdown hit an I/O error: %s\n",
            g_strerror(-ctx.shutdown_status));
    status = EXIT_RUNTIME;
  }
out_env:
  env_uv_free(env);
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) < 0)
    fprintf(stderr, "sluice-broker: note: loop still had handles at exit\n");
  g_free(name);
  return status;
}

int main(int argc, char **argv) {
  gchar **overrides = NULL;
  GOptionEntry entries[] = {
      {"override", 0, 0, G_OPTION_ARG_STRING_ARRAY, &overrides,
       "Replace one property of FILE (repeatable)", "key=value"},
      {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  GOptionContext *oc = g_option_context_new("FILE");
  g_option_context_set_summary(oc, summary_text);
  g_option_context_add_main_entries(oc, entries, NULL);
  GError *gerr = NULL;
  int status = 0;
  if (!g_option_context_parse(oc, &argc, &argv, &gerr)) {
    fprintf(stderr, "sluice-broker: %s (try --help)\n", gerr->message);
    g_error_free(gerr);
    status = EXIT_USAGE;
    goto out;
  }
  if (argc != 2) {
    fprintf(stderr, "usage: sluice-broker FILE [--override key=value]... "
                    "(try --help)\n");
    status = EXIT_USAGE;
    goto out;
  }
  broker_config cfg;
  status = load_config(argv[1], overrides, &cfg);
  if (status != 0)
    goto out;
  status = run(&cfg);
  broker_config_clear(&cfg);
out:
  g_strfreev(overrides);
  g_option_context_free(oc);
  return status;
}
