/*
 * sluice topics — Kafka's kafka-topics.sh: create, list, describe, alter
 * (partitions, configs) and delete topics.
 */
#include <getopt.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/kerr.h"
#include "tools/sluice/cli.h"

#define PROG "sluice topics"
/* Configs given on one command line. */
#define TOPICS_CONFIGS_MAX 64

typedef enum topics_action {
  TOPICS_NONE = 0,
  TOPICS_CREATE,
  TOPICS_LIST,
  TOPICS_DESCRIBE,
  TOPICS_ALTER,
  TOPICS_DELETE,
} topics_action;

typedef struct topics_desc {
  char *name;
  GString *partitions; /* the per-partition lines */
  int32_t partition_count;
  int32_t replication_factor;
} topics_desc;

typedef struct topics_cmd {
  cli_rt rt;
  topics_action action;
  const char *topic;
  int32_t partitions;
  int16_t replication_factor;
  bool if_exists, if_not_exists;
  kclient_config_entry configs[TOPICS_CONFIGS_MAX];
  size_t config_count;
  const char *delete_configs[TOPICS_CONFIGS_MAX];
  size_t delete_config_count;
  char *config_copies[TOPICS_CONFIGS_MAX]; /* owned "k=v" splits */
  /* describe */
  GPtrArray *descs; /* topics_desc* */
  guint desc_next;
  /* alter */
  bool alter_partitions_done;
} topics_cmd;

static void topics_usage(FILE *out) {
  fprintf(out,
          "usage: sluice topics [--bootstrap-server H:P] ACTION [OPTIONS]\n"
          "\n"
          "actions (one):\n"
          "  --create              create --topic\n"
          "  --list                list topic names\n"
          "  --describe            describe --topic (or every topic)\n"
          "  --alter               grow --partitions, set --config, or\n"
          "                        remove --delete-config of --topic\n"
          "  --delete              delete --topic\n"
          "\n"
          "options:\n"
          "  --bootstrap-server H:P[,H:P]  brokers to start from "
          "(default " CLI_DEFAULT_BOOTSTRAP ")\n"
          "  --topic T             the topic\n"
          "  --partitions N        partitions (create: default the broker's "
          "num.partitions)\n"
          "  --replication-factor R  replicas (create: default the broker's)\n"
          "  --config K=V          a topic config (create, alter); repeatable\n"
          "  --delete-config K     remove a topic config (alter); repeatable\n"
          "  --if-exists           delete/alter: no error if it is missing\n"
          "  --if-not-exists       create: no error if it exists\n"
          "  --verbose             log the client's work on stderr\n"
          "  --help                this text\n");
}

static void topics_done_err(topics_cmd *tc, int err, const char *errmsg) {
  cli_error(PROG, "%s", errmsg && errmsg[0] ? errmsg : kclient_err_name(err));
  cli_rt_finish(&tc->rt, CLI_EXIT_FAIL);
}

/* ---- create / delete / alter ---- */

static void topics_created(void *arg, int err, const char *errmsg,
                           const kclient_topic_result *r, size_t n) {
  topics_cmd *tc = arg;
  if (err) {
    topics_done_err(tc, err, errmsg);
    return;
  }
  if (r[0].err == KERR_TOPIC_ALREADY_EXISTS && tc->if_not_exists) {
    cli_rt_finish(&tc->rt, CLI_EXIT_OK);
    return;
  }
  if (r[0].err == KERR_TOPIC_ALREADY_EXISTS) {
    cli_error(PROG, "topic '%s' already exists", tc->topic);
    {
      cli_rt_finish(&tc->rt, CLI_EXIT_FAIL);
      return;
    }
  }
  if (r[0].err) {
    cli_error(PROG, "cannot create topic '%s': %s (%s)", tc->topic, r[0].errmsg,
              kclient_err_name(r[0].err));
    {
      cli_rt_finish(&tc->rt, CLI_EXIT_FAIL);
      return;
    }
  }
  printf("Created topic %s.\n", tc->topic);
  cli_rt_finish(&tc->rt, CLI_EXIT_OK);
}

static void topics_deleted(void *arg, int err, const char *errmsg,
                           const kclient_topic_result *r, size_t n) {
  topics_cmd *tc = arg;
  if (err) {
    topics_done_err(tc, err, errmsg);
    return;
  }
  if (r[0].err == KERR_UNKNOWN_TOPIC_OR_PARTITION) {
    if (tc->if_exists) {
      cli_rt_finish(&tc->rt, CLI_EXIT_OK);
      return;
    }
    cli_error(PROG, "topic '%s' does not exist", tc->topic);
    {
      cli_rt_finish(&tc->rt, CLI_EXIT_FAIL);
      return;
    }
  }
  if (r[0].err) {
    cli_error(PROG, "cannot delete topic '%s': %s (%s)", tc->topic, r[0].errmsg,
              kclient_err_name(r[0].err));
    {
      cli_rt_finish(&tc->rt, CLI_EXIT_FAIL);
      return;
    }
  }
  printf("Deleted topic %s.\n", tc->topic);
  cli_rt_finish(&tc->rt, CLI_EXIT_OK);
}

static void topics_alter_configs(topics_cmd *tc);

static void topics_configs_altered(void *arg, int err, const char *errmsg) {
  topics_cmd *tc = arg;
  if (err == KERR_UNKNOWN_TOPIC_OR_PARTITION && tc->if_exists) {
    cli_rt_finish(&tc->rt, CLI_EXIT_OK);
    return;
  }
  if (err == KERR_UNKNOWN_TOPIC_OR_PARTITION) {
    cli_error(PROG, "topic '%s' does not exist", tc->topic);
    {
      cli_rt_finish(&tc->rt, CLI_EXIT_FAIL);
      return;
    }
  }
  if (err) {
    cli_error(PROG, "cannot alter the configs of '%s': %s", tc->topic, errmsg);
    {
      cli_rt_finish(&tc->rt, CLI_EXIT_FAIL);
      return;
    }
  }
  printf("Altered topic %s.\n", tc->topic);
  cli_rt_finish(&tc->rt, CLI_EXIT_OK);
}

static void topics_partitions_created(void *arg, int err, const char *errmsg,
                                      const kclient_topic_result *r, size_t n) {
  topics_cmd *tc = arg;
  if (err) {
    topics_done_err(tc, err, errmsg);
    return;
  }
  if (r[0].err == KERR_UNKNOWN_TOPIC_OR_PARTITION) {
    if (tc->if_exists) {
      cli_rt_finish(&tc->rt, CLI_EXIT_OK);
      return;
    }
    cli_error(PROG, "topic '%s' does not exist", tc->topic);
    {
      cli_rt_finish(&tc->rt, CLI_EXIT_FAIL);
      return;
    }
  }
  if (r[0].err) {
    cli_error(PROG, "cannot add partitions to '%s': %s (%s)", tc->topic,
              r[0].errmsg, kclient_err_name(r[0].err));
    {
      cli_rt_finish(&tc->rt, CLI_EXIT_FAIL);
      return;
    }
  }
  if (tc->config_count + tc->delete_config_count > 0) {
    topics_alter_configs(tc);
    return;
  }
  printf("Altered topic %s.\n", tc->topic);
  cli_rt_finish(&tc->rt, CLI_EXIT_OK);
}

static void topics_alter_configs(topics_cmd *tc) {
  kclient_config_alter alters[2 * TOPICS_CONFIGS_MAX];
  size_t n = 0;
  for (size_t i = 0; i < tc->config_count; i++)
    alters[n++] = (kclient_config_alter){tc->configs[i].name, KCLIENT_ALTER_SET,
                                         tc->configs[i].value};
  for (size_t i = 0; i < tc->delete_config_count; i++)
    alters[n++] = (kclient_config_alter){tc->delete_configs[i],
                                         KCLIENT_ALTER_DELETE, NULL};
  kclient_alter_configs(tc->rt.kc, KCLIENT_RESOURCE_TOPIC, tc->topic, alters, n,
                        false, topics_configs_altered, tc);
}

/* ---- list / describe ---- */

static void topics_listed(void *arg, int err, const char *errmsg,
                          const kclient_metadata_info *md) {
  topics_cmd *tc = arg;
  if (err) {
    topics_done_err(tc, err, errmsg);
    return;
  }
  for (int32_t i = 0; i < md->topic_count; i++)
    if (md->topics[i].err == 0)
      printf("%s\n", md->topics[i].name);
  cli_rt_finish(&tc->rt, CLI_EXIT_OK);
}

static void topics_ids(GString *s, const int32_t *ids, int32_t n) {
  for (int32_t i = 0; i < n; i++)
    g_string_append_printf(s, "%s%d", i ? "," : "", (int)ids[i]);
}

static void topics_desc_free(gpointer p) {
  topics_desc *d = p;
  g_free(d->name);
  g_string_free(d->partitions, TRUE);
  g_free(d);
}

static void topics_describe_next(topics_cmd *tc);

static void topics_configs_got(void *arg, int err, const char *errmsg,
                               const kclient_config_value *e, size_t n) {
  topics_cmd *tc = arg;
  topics_desc *d = g_ptr_array_index(tc->descs, tc->desc_next);
  GString *cfg = g_string_new("");
  if (err && err != -ENOTSUP) {
    g_string_free(cfg, TRUE);
    cli_error(PROG, "cannot describe the configs of '%s': %s", d->name, errmsg);
    {
      cli_rt_finish(&tc->rt, CLI_EXIT_FAIL);
      return;
    }
  }
  /* Like kafka-topics.sh: the overrides, not the defaults. */
  for (size_t i = 0; i < n; i++)
    if (!e[i].is_default && e[i].value)
      g_string_append_printf(cfg, "%s%s=%s", cfg->len ? "," : "", e[i].name,
                             e[i].value);
  printf("Topic: %s\tPartitionCount: %d\tReplicationFactor: %d\tConfigs: "
         "%s\n%s",
         d->name, (int)d->partition_count, (int)d->replication_factor, cfg->str,
         d->partitions->str);
  g_string_free(cfg, TRUE);
  tc->desc_next++;
  topics_describe_next(tc);
}

static void topics_describe_next(topics_cmd *tc) {
  if (tc->desc_next >= tc->descs->len) {
    cli_rt_finish(&tc->rt, CLI_EXIT_OK);
    return;
  }
  topics_desc *d = g_ptr_array_index(tc->descs, tc->desc_next);
  kclient_describe_configs(tc->rt.kc, KCLIENT_RESOURCE_TOPIC, d->name,
                           topics_configs_got, tc);
}

static void topics_described(void *arg, int err, const char *errmsg,
                             const kclient_metadata_info *md) {
  topics_cmd *tc = arg;
  if (err) {
    topics_done_err(tc, err, errmsg);
    return;
  }
  for (int32_t i = 0; i < md->topic_count; i++) {
    const kclient_topic_info *t = &md->topics[i];
    if (t->err == KERR_UNKNOWN_TOPIC_OR_PARTITION) {
      cli_error(PROG, "topic '%s' does not exist", t->name);
      {
        cli_rt_finish(&tc->rt, CLI_EXIT_FAIL);
        return;
      }
    }
    if (t->err) {
      cli_error(PROG, "cannot describe '%s': %s", t->name,
                kclient_err_name(t->err));
      {
        cli_rt_finish(&tc->rt, CLI_EXIT_FAIL);
        return;
      }
    }
    topics_desc *d = g_new0(topics_desc, 1);
    d->name = g_strdup(t->name);
    d->partitions = g_string_new("");
    d->partition_count = t->partition_count;
    d->replication_factor =
        t->partition_count > 0 ? t->partitions[0].replica_count : 0;
    for (int32_t p = 0; p < t->partition_count; p++) {
      const kclient_partition_info *pi = &t->partitions[p];
      g_string_append_printf(d->partitions,
                             "\tTopic: %s\tPartition: %d\tLeader: %d\t"
                             "Replicas: ",
                             t->name, (int)pi->partition, (int)pi->leader);
      topics_ids(d->partitions, pi->replicas, pi->replica_count);
      g_string_append(d->partitions, "\tIsr: ");
      topics_ids(d->partitions, pi->isr, pi->isr_count);
      g_string_append_c(d->partitions, '\n');
    }
    g_ptr_array_add(tc->descs, d);
  }
  topics_describe_next(tc);
}

/* ---- options ---- */

enum {
  OPT_BOOTSTRAP = 1000,
  OPT_CREATE,
  OPT_LIST,
  OPT_DESCRIBE,
  OPT_ALTER,
  OPT_DELETE,
  OPT_TOPIC,
  OPT_PARTITIONS,
  OPT_RF,
  OPT_CONFIG,
  OPT_DELETE_CONFIG,
  OPT_IF_EXISTS,
  OPT_IF_NOT_EXISTS,
  OPT_VERBOSE,
  OPT_HELP,
};

static const struct option topics_opts[] = {
    {"bootstrap-server", required_argument, NULL, OPT_BOOTSTRAP},
    {"create", no_argument, NULL, OPT_CREATE},
    {"list", no_argument, NULL, OPT_LIST},
    {"describe", no_argument, NULL, OPT_DESCRIBE},
    {"alter", no_argument, NULL, OPT_ALTER},
    {"delete", no_argument, NULL, OPT_DELETE},
    {"topic", required_argument, NULL, OPT_TOPIC},
    {"partitions", required_argument, NULL, OPT_PARTITIONS},
    {"replication-factor", required_argument, NULL, OPT_RF},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"delete-config", required_argument, NULL, OPT_DELETE_CONFIG},
    {"if-exists", no_argument, NULL, OPT_IF_EXISTS},
    {"if-not-exists", no_argument, NULL, OPT_IF_NOT_EXISTS},
    {"verbose", no_argument, NULL, OPT_VERBOSE},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static int topics_set_action(topics_cmd *tc, topics_action a) {
  if (tc->action != TOPICS_NONE && tc->action != a) {
    cli_error(PROG, "give exactly one of --create, --list, --describe, "
                    "--alter, --delete");
    return CLI_EXIT_USAGE;
  }
  tc->action = a;
  return 0;
}

static int topics_parse(topics_cmd *tc, int argc, char **argv,
                        const char **bootstrap, bool *verbose) {
  int64_t v;
  int c;
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "", topics_opts, NULL)) != -1) {
    switch (c) {
    case OPT_BOOTSTRAP:
      *bootstrap = optarg;
      break;
    case OPT_CREATE:
    case OPT_LIST:
    case OPT_DESCRIBE:
    case OPT_ALTER:
    case OPT_DELETE: {
      static const topics_action map[] = {TOPICS_CREATE, TOPICS_LIST,
                                          TOPICS_DESCRIBE, TOPICS_ALTER,
                                          TOPICS_DELETE};
      if (topics_set_action(tc, map[c - OPT_CREATE]))
        return CLI_EXIT_USAGE;
      break;
    }
    case OPT_TOPIC:
      tc->topic = optarg;
      break;
    case OPT_PARTITIONS:
      if (!cli_parse_i64(PROG, "partitions", optarg, 1, INT32_MAX, &v))
        return CLI_EXIT_USAGE;
      tc->partitions = (int32_t)v;
      break;
    case OPT_RF:
      if (!cli_parse_i64(PROG, "replication-factor", optarg, 1, INT16_MAX, &v))
        return CLI_EXIT_USAGE;
      tc->replication_factor = (int16_t)v;
      break;
    case OPT_CONFIG: {
      const char *eq = strchr(optarg, '=');
      if (!eq || eq == optarg) {
        cli_error(PROG, "--config wants KEY=VALUE, not '%s'", optarg);
        return CLI_EXIT_USAGE;
      }
      if (tc->config_count == TOPICS_CONFIGS_MAX) {
        cli_error(PROG, "at most %d --config options", TOPICS_CONFIGS_MAX);
        return CLI_EXIT_USAGE;
      }
      char *copy = g_strdup(optarg);
      copy[eq - optarg] = '\0';
      tc->config_copies[tc->config_count] = copy;
      tc->configs[tc->config_count++] =
          (kclient_config_entry){copy, copy + (eq - optarg) + 1};
      break;
    }
    case OPT_DELETE_CONFIG:
      if (tc->delete_config_count == TOPICS_CONFIGS_MAX) {
        cli_error(PROG, "at most %d --delete-config options",
                  TOPICS_CONFIGS_MAX);
        return CLI_EXIT_USAGE;
      }
      tc->delete_configs[tc->delete_config_count++] = optarg;
      break;
    case OPT_IF_EXISTS:
      tc->if_exists = true;
      break;
    case OPT_IF_NOT_EXISTS:
      tc->if_not_exists = true;
      break;
    case OPT_VERBOSE:
      *verbose = true;
      break;
    case OPT_HELP:
      topics_usage(stdout);
      return -1;
    default:
      cli_error(PROG, "unknown option '%s' (see --help)", argv[optind - 1]);
      return CLI_EXIT_USAGE;
    }
  }
  if (optind < argc) {
    cli_error(PROG, "unexpected argument '%s'", argv[optind]);
    return CLI_EXIT_USAGE;
  }
  if (tc->action == TOPICS_NONE) {
    cli_error(PROG, "give one of --create, --list, --describe, --alter, "
                    "--delete (see --help)");
    return CLI_EXIT_USAGE;
  }
  bool needs_topic = tc->action == TOPICS_CREATE ||
                     tc->action == TOPICS_ALTER || tc->action == TOPICS_DELETE;
  if (needs_topic && !tc->topic) {
    cli_error(PROG, "this action needs --topic");
    return CLI_EXIT_USAGE;
  }
  if (tc->action == TOPICS_ALTER && tc->partitions <= 0 &&
      tc->config_count + tc->delete_config_count == 0) {
    cli_error(PROG, "--alter needs --partitions, --config or "
                    "--delete-config");
    return CLI_EXIT_USAGE;
  }
  return 0;
}

int cli_topics(int argc, char **argv) {
  topics_cmd tc;
  memset(&tc, 0, sizeof tc);
  tc.partitions = -1;
  tc.replication_factor = -1;
  const char *bootstrap = CLI_DEFAULT_BOOTSTRAP;
  bool verbose = false;
  int rc = topics_parse(&tc, argc, argv, &bootstrap, &verbose);
  if (rc)
    goto out_free_configs;
  kclient_config cfg;
  kclient_config_default(&cfg);
  cfg.bootstrap_servers = bootstrap;
  cfg.client_id = "sluice-topics";
  cfg.op_timeout_ms = CLI_OP_TIMEOUT_MS;
  rc = cli_rt_init(&tc.rt, PROG, &cfg, verbose);
  if (rc)
    goto out_free_configs;
  tc.descs = g_ptr_array_new_with_free_func(topics_desc_free);
  const char *names[1] = {tc.topic};
  switch (tc.action) {
  case TOPICS_CREATE: {
    kclient_new_topic nt = {tc.topic, tc.partitions, tc.replication_factor,
                            tc.configs, tc.config_count};
    kclient_create_topics(tc.rt.kc, &nt, 1, false, topics_created, &tc);
    break;
  }
  case TOPICS_LIST:
    kclient_metadata(tc.rt.kc, NULL, 0, topics_listed, &tc);
    break;
  case TOPICS_DESCRIBE:
    kclient_metadata(tc.rt.kc, tc.topic ? names : NULL, tc.topic ? 1 : 0,
                     topics_described, &tc);
    break;
  case TOPICS_ALTER:
    if (tc.partitions > 0)
      kclient_create_partitions(tc.rt.kc, tc.topic, tc.partitions,
                                topics_partitions_created, &tc);
    else
      topics_alter_configs(&tc);
    break;
  case TOPICS_DELETE:
    kclient_delete_topics(tc.rt.kc, names, 1, topics_deleted, &tc);
    break;
  case TOPICS_NONE:
  default:
    break;
  }
  rc = cli_rt_run(&tc.rt);
  fflush(stdout);
  cli_rt_free(&tc.rt);
  g_ptr_array_free(tc.descs, TRUE);
out_free_configs:
  for (size_t i = 0; i < tc.config_count; i++)
    g_free(tc.config_copies[i]);
  return rc < 0 ? CLI_EXIT_OK : rc;
}
