/*
 * sluice consume — Kafka's kafka-console-consumer.sh: reads every
 * partition of a topic (or one, --partition) from the end, the beginning
 * (--from-beginning) or an offset (--offset), and prints one record per
 * line: the value, or key<SEP>value with --print-key.
 *
 * With --group G it is a member of consumer group G instead
 * (broker/client group consumer): the group's partitions are shared with
 * the other members, reading starts at the group's committed offsets
 * (--from-beginning: earliest where none is committed, else latest),
 * positions are committed every second and when the command exits, and
 * the member leaves the group on the way out.
 *
 * Stops after --max-messages records, when no record arrived for
 * --timeout-ms (an error when --max-messages was not reached), or on
 * SIGINT/SIGTERM; then prints "Processed a total of N messages" on stderr,
 * as Kafka's tool does.
 */
#include <errno.h>
#include <getopt.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/kerr.h"
#include "tools/sluice/cli.h"

#define PROG "sluice consume"
/* How often the idle timeout is checked, at most. */
#define CONSUME_IDLE_CHECK_MS 100
/* With --group: auto-commit period, and the bound on the final commit +
 * LeaveGroup. */
#define CONSUME_COMMIT_INTERVAL_MS 1000
#define CONSUME_CLOSE_TIMEOUT_MS 10000
/* With --group, --timeout-ms counts from the first assignment (joining
 * takes the broker's group.initial.rebalance.delay.ms and more); joining
 * itself may take this long. */
#define CONSUME_JOIN_TIMEOUT_MS 60000

typedef struct consume_cmd {
  cli_rt rt;
  const char *topic;
  int32_t partition; /* -1 = all */
  int64_t offset;    /* start: >= 0 or KCLIENT_OFFSET_* */
  bool offset_given;
  int64_t max_messages; /* 0 = no limit */
  int64_t timeout_ms;   /* 0 = none */
  bool print_key;
  const char *key_sep;
  kclient_consumer_t *cons;
  const char *group_id; /* --group, or NULL */
  kclient_group_t *grp;
  bool assigned; /* the group handed out partitions at least once */
  uint64_t join_timer;
  uint64_t close_timer;
  int close_err;
  uint64_t count;
  uint64_t last_record_ns;
  uint64_t idle_timer;
  bool write_failed;
} consume_cmd;

static void consume_usage(FILE *out) {
  fprintf(out,
          "usage: sluice consume --topic T [OPTIONS]\n"
          "\n"
          "Prints records of topic T, one per line.\n"
          "\n"
          "options:\n"
          "  --bootstrap-server H:P[,H:P]  brokers to start from "
          "(default " CLI_DEFAULT_BOOTSTRAP ")\n"
          "  --topic T             the topic (required)\n"
          "  --group G             consume as a member of consumer group G:\n"
          "                        share the partitions with its other "
          "members,\n"
          "                        start at its committed offsets, commit "
          "what was\n"
          "                        printed (not with --partition / "
          "--offset)\n"
          "  --partition P         only partition P (default: all)\n"
          "  --from-beginning      start at the earliest offset (default: "
          "the end;\n"
          "                        with --group: where G has no committed "
          "offset)\n"
          "  --offset O            start at O: a number, earliest or latest\n"
          "                        (a number needs --partition)\n"
          "  --max-messages N      exit after N records\n"
          "  --timeout-ms N        exit when no record came for N ms (an "
          "error if\n"
          "                        --max-messages was not reached; with "
          "--group,\n"
          "                        counted from the first assignment)\n"
          "  --print-key           print KEY<SEP>VALUE\n"
          "  --key-separator SEP   separator for --print-key (default TAB)\n"
          "  --verbose             log the client's work on stderr\n"
          "  --help                this text\n");
}

static void consume_write(consume_cmd *cc, const uint8_t *p, int32_t len) {
  if (len < 0) {
    fputs("null", stdout);
    return;
  }
  if (len > 0 && fwrite(p, 1, (size_t)len, stdout) != (size_t)len)
    cc->write_failed = true;
}

/* Stops delivery (so what is committed at exit is what was printed). */
static void consume_pause(consume_cmd *cc) {
  if (cc->cons)
    kclient_consumer_pause(cc->cons);
  if (cc->grp)
    kclient_group_pause(cc->grp);
}

static void consume_on_record(void *arg, const kclient_record *r) {
  consume_cmd *cc = arg;
  if (cc->rt.finished)
    return;
  if (cc->print_key) {
    consume_write(cc, r->key, r->key_len);
    fputs(cc->key_sep, stdout);
  }
  consume_write(cc, r->value, r->value_len);
  if (putchar('\n') == EOF)
    cc->write_failed = true;
  cc->count++;
  cc->last_record_ns = env_now_ns(cc->rt.env);
  if (cc->write_failed) {
    cli_error(PROG, "cannot write to stdout: %s", g_strerror(errno));
    consume_pause(cc);
    cli_rt_finish(&cc->rt, CLI_EXIT_FAIL);
    return;
  }
  if (cc->max_messages > 0 && (int64_t)cc->count >= cc->max_messages) {
    consume_pause(cc);
    cli_rt_finish(&cc->rt, CLI_EXIT_OK);
  }
}

static void consume_on_error(void *arg, const char *topic, int32_t partition,
                             int err, const char *errmsg) {
  consume_cmd *cc = arg;
  /* Offsets still being looked up after retries: the broker went away. */
  (void)topic;
  (void)partition;
  (void)err;
  cli_error(PROG, "%s", errmsg);
  consume_pause(cc);
  cli_rt_finish(&cc->rt, CLI_EXIT_FAIL);
}

static void consume_idle_check(void *arg) {
  consume_cmd *cc = arg;
  cc->idle_timer = 0;
  if (cc->rt.finished)
    return;
  uint64_t now = env_now_ns(cc->rt.env);
  uint64_t limit = (uint64_t)cc->timeout_ms * 1000000u;
  if (cc->grp && !cc->assigned)
    cc->last_record_ns = now; /* still joining: the join timer bounds it */
  if (now - cc->last_record_ns >= limit) {
    if (cc->max_messages > 0) {
      cli_error(PROG,
                "timed out: no record for %lld ms after %llu of %lld "
                "messages",
                (long long)cc->timeout_ms, (unsigned long long)cc->count,
                (long long)cc->max_messages);
      consume_pause(cc);
      cli_rt_finish(&cc->rt, CLI_EXIT_FAIL);
    } else {
      consume_pause(cc);
      cli_rt_finish(&cc->rt, CLI_EXIT_OK);
    }
    return;
  }
  uint64_t left = cc->last_record_ns + limit - now;
  uint64_t step = (uint64_t)CONSUME_IDLE_CHECK_MS * 1000000u;
  cc->idle_timer = env_timer_start(cc->rt.env, left < step ? left : step,
                                   consume_idle_check, cc);
}

static void consume_group_assigned(void *arg,
                                   const kclient_topic_partition *tps,
                                   size_t n) {
  consume_cmd *cc = arg;
  (void)tps;
  (void)n;
  /* The idle clock starts once the group has handed partitions out. */
  cc->last_record_ns = env_now_ns(cc->rt.env);
  cc->assigned = true;
  if (cc->join_timer)
    env_timer_cancel(cc->rt.env, cc->join_timer);
  cc->join_timer = 0;
}

static void consume_join_timeout(void *arg) {
  consume_cmd *cc = arg;
  cc->join_timer = 0;
  if (cc->assigned || cc->rt.finished)
    return;
  cli_error(PROG, "could not join group %s within %d ms", cc->group_id,
            CONSUME_JOIN_TIMEOUT_MS);
  cli_rt_finish(&cc->rt, CLI_EXIT_FAIL);
}

static void consume_group_fatal(void *arg, int err, const char *errmsg) {
  consume_cmd *cc = arg;
  (void)err;
  cli_error(PROG, "%s", errmsg);
  cli_rt_finish(&cc->rt, CLI_EXIT_FAIL);
}

static void consume_idle_check(void *arg);

static void consume_start_group(consume_cmd *cc, int64_t reset) {
  const char *topics[1] = {cc->topic};
  kclient_group_config gcfg;
  kclient_group_config_default(&gcfg);
  gcfg.group_id = cc->group_id;
  gcfg.topics = topics;
  gcfg.topic_count = 1;
  gcfg.auto_offset_reset = reset;
  gcfg.auto_commit_interval_ms = CONSUME_COMMIT_INTERVAL_MS;
  gcfg.consumer.on_record = consume_on_record;
  gcfg.consumer.on_error = consume_on_error;
  gcfg.consumer.arg = cc;
  gcfg.on_assigned = consume_group_assigned;
  gcfg.on_fatal = consume_group_fatal;
  gcfg.arg = cc;
  char msg[KCLIENT_ERRMSG_BYTES];
  if (kclient_group_new(cc->rt.kc, &gcfg, &cc->grp, msg) != 0) {
    cli_error(PROG, "%s", msg);
    cli_rt_finish(&cc->rt, CLI_EXIT_FAIL);
    return;
  }
  cc->last_record_ns = env_now_ns(cc->rt.env);
  cc->join_timer =
      env_timer_start(cc->rt.env, (uint64_t)CONSUME_JOIN_TIMEOUT_MS * 1000000u,
                      consume_join_timeout, cc);
  if (cc->timeout_ms > 0)
    consume_idle_check(cc);
}

static void consume_start(void *arg, int err, const char *errmsg,
                          const kclient_metadata_info *md) {
  consume_cmd *cc = arg;
  if (err) {
    cli_error(PROG, "%s", errmsg);
    cli_rt_finish(&cc->rt, CLI_EXIT_FAIL);
    return;
  }
  const kclient_topic_info *t = md->topic_count == 1 ? &md->topics[0] : NULL;
  if (!t || t->err == KERR_UNKNOWN_TOPIC_OR_PARTITION) {
    cli_error(PROG, "topic '%s' does not exist", cc->topic);
    cli_rt_finish(&cc->rt, CLI_EXIT_FAIL);
    return;
  }
  if (t->err && t->err != KERR_LEADER_NOT_AVAILABLE) {
    cli_error(PROG, "topic '%s': %s", cc->topic, kclient_err_name(t->err));
    cli_rt_finish(&cc->rt, CLI_EXIT_FAIL);
    return;
  }
  if (cc->group_id) {
    consume_start_group(cc, cc->offset);
    return;
  }
  if (cc->partition >= t->partition_count) {
    cli_error(PROG, "topic '%s' has no partition %d (it has %d)", cc->topic,
              (int)cc->partition, (int)t->partition_count);
    cli_rt_finish(&cc->rt, CLI_EXIT_FAIL);
    return;
  }
  kclient_consumer_config ccfg;
  kclient_consumer_config_default(&ccfg);
  ccfg.on_record = consume_on_record;
  ccfg.on_error = consume_on_error;
  ccfg.arg = cc;
  ccfg.offset_reset = KCLIENT_OFFSET_EARLIEST;
  cc->cons = kclient_consumer_new(cc->rt.kc, &ccfg);
  for (int32_t p = 0; p < t->partition_count; p++) {
    if (cc->partition >= 0 && p != cc->partition)
      continue;
    int rc = kclient_consumer_assign(cc->cons, cc->topic, p, cc->offset);
    if (rc) {
      cli_error(PROG, "cannot assign partition %d: %s", (int)p,
                kclient_err_name(rc));
      cli_rt_finish(&cc->rt, CLI_EXIT_FAIL);
      return;
    }
  }
  cc->last_record_ns = env_now_ns(cc->rt.env);
  if (cc->timeout_ms > 0)
    consume_idle_check(cc);
}

static void consume_group_closed(void *arg, int err, const char *errmsg) {
  consume_cmd *cc = arg;
  if (err) {
    cli_error(PROG, "leaving group %s: %s", cc->group_id, errmsg);
    cc->close_err = CLI_EXIT_FAIL;
  }
  if (cc->close_timer)
    env_timer_cancel(cc->rt.env, cc->close_timer);
  cc->close_timer = 0;
  cli_rt_finish(&cc->rt, cc->close_err);
}

static void consume_close_timeout(void *arg) {
  consume_cmd *cc = arg;
  cc->close_timer = 0;
  cli_error(PROG, "leaving group %s: no answer within %d ms", cc->group_id,
            CONSUME_CLOSE_TIMEOUT_MS);
  cli_rt_finish(&cc->rt, CLI_EXIT_FAIL);
}

/* After the main run: commit what was printed and leave the group (a
 * second signal ends this early). Returns the exit code. */
static int consume_close_group(consume_cmd *cc, int rc) {
  if (cc->idle_timer)
    env_timer_cancel(cc->rt.env, cc->idle_timer);
  cc->idle_timer = 0;
  if (cc->join_timer)
    env_timer_cancel(cc->rt.env, cc->join_timer);
  cc->join_timer = 0;
  consume_pause(cc);
  cc->close_err = rc;
  cc->rt.finished = false;
  kclient_group_close(cc->grp, consume_group_closed, cc);
  cc->close_timer =
      env_timer_start(cc->rt.env, (uint64_t)CONSUME_CLOSE_TIMEOUT_MS * 1000000u,
                      consume_close_timeout, cc);
  int close_rc = cli_rt_run(&cc->rt);
  if (cc->close_timer)
    env_timer_cancel(cc->rt.env, cc->close_timer);
  cc->close_timer = 0;
  return close_rc ? close_rc : rc;
}

enum {
  OPT_BOOTSTRAP = 1000,
  OPT_TOPIC,
  OPT_GROUP,
  OPT_PARTITION,
  OPT_FROM_BEGINNING,
  OPT_OFFSET,
  OPT_MAX_MESSAGES,
  OPT_TIMEOUT,
  OPT_PRINT_KEY,
  OPT_KEY_SEP,
  OPT_VERBOSE,
  OPT_HELP,
};

static const struct option consume_opts[] = {
    {"bootstrap-server", required_argument, NULL, OPT_BOOTSTRAP},
    {"topic", required_argument, NULL, OPT_TOPIC},
    {"group", required_argument, NULL, OPT_GROUP},
    {"partition", required_argument, NULL, OPT_PARTITION},
    {"from-beginning", no_argument, NULL, OPT_FROM_BEGINNING},
    {"offset", required_argument, NULL, OPT_OFFSET},
    {"max-messages", required_argument, NULL, OPT_MAX_MESSAGES},
    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
    {"print-key", no_argument, NULL, OPT_PRINT_KEY},
    {"key-separator", required_argument, NULL, OPT_KEY_SEP},
    {"verbose", no_argument, NULL, OPT_VERBOSE},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

int cli_consume(int argc, char **argv) {
  consume_cmd *cc = g_new0(consume_cmd, 1);
  cc->partition = -1;
  cc->offset = KCLIENT_OFFSET_LATEST;
  cc->key_sep = "\t";
  kclient_config cfg;
  kclient_config_default(&cfg);
  cfg.bootstrap_servers = CLI_DEFAULT_BOOTSTRAP;
  cfg.client_id = "sluice-consume";
  cfg.op_timeout_ms = CLI_OP_TIMEOUT_MS;
  bool verbose = false, from_beginning = false;
  int rc = 0, c;
  int64_t v;
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "", consume_opts, NULL)) != -1) {
    switch (c) {
    case OPT_BOOTSTRAP:
      cfg.bootstrap_servers = optarg;
      break;
    case OPT_TOPIC:
      cc->topic = optarg;
      break;
    case OPT_GROUP:
      cc->group_id = optarg;
      break;
    case OPT_PARTITION:
      if (!cli_parse_i64(PROG, "partition", optarg, 0, INT32_MAX, &v))
        rc = CLI_EXIT_USAGE;
      cc->partition = (int32_t)v;
      break;
    case OPT_FROM_BEGINNING:
      from_beginning = true;
      break;
    case OPT_OFFSET:
      cc->offset_given = true;
      if (strcmp(optarg, "earliest") == 0)
        cc->offset = KCLIENT_OFFSET_EARLIEST;
      else if (strcmp(optarg, "latest") == 0)
        cc->offset = KCLIENT_OFFSET_LATEST;
      else if (!cli_parse_i64(PROG, "offset", optarg, 0, INT64_MAX,
                              &cc->offset))
        rc = CLI_EXIT_USAGE;
      break;
    case OPT_MAX_MESSAGES:
      if (!cli_parse_i64(PROG, "max-messages", optarg, 1, INT64_MAX,
                         &cc->max_messages))
        rc = CLI_EXIT_USAGE;
      break;
    case OPT_TIMEOUT:
      if (!cli_parse_i64(PROG, "timeout-ms", optarg, 1, INT32_MAX,
                         &cc->timeout_ms))
        rc = CLI_EXIT_USAGE;
      break;
    case OPT_PRINT_KEY:
      cc->print_key = true;
      break;
    case OPT_KEY_SEP:
      cc->key_sep = cli_separator(optarg);
      break;
    case OPT_VERBOSE:
      verbose = true;
      break;
    case OPT_HELP:
      consume_usage(stdout);
      g_free(cc);
      return CLI_EXIT_OK;
    default:
      cli_error(PROG, "unknown option '%s' (see --help)", argv[optind - 1]);
      rc = CLI_EXIT_USAGE;
    }
    if (rc)
      goto out_free_cmd;
  }
  if (optind < argc) {
    cli_error(PROG, "unexpected argument '%s'", argv[optind]);
    rc = CLI_EXIT_USAGE;
    goto out_free_cmd;
  }
  if (!cc->topic) {
    cli_error(PROG, "--topic is required (see --help)");
    rc = CLI_EXIT_USAGE;
    goto out_free_cmd;
  }
  if (cc->group_id && !cc->group_id[0]) {
    cli_error(PROG, "--group needs a non-empty group id");
    rc = CLI_EXIT_USAGE;
    goto out_free_cmd;
  }
  if (cc->group_id && (cc->offset_given || cc->partition >= 0)) {
    cli_error(PROG, "--group takes the group's partitions and offsets: "
                    "not with --partition or --offset");
    rc = CLI_EXIT_USAGE;
    goto out_free_cmd;
  }
  if (cc->offset_given && cc->offset >= 0 && cc->partition < 0) {
    cli_error(PROG, "--offset N needs --partition");
    rc = CLI_EXIT_USAGE;
    goto out_free_cmd;
  }
  if (from_beginning && cc->offset_given) {
    cli_error(PROG, "give --from-beginning or --offset, not both");
    rc = CLI_EXIT_USAGE;
    goto out_free_cmd;
  }
  if (from_beginning)
    cc->offset = KCLIENT_OFFSET_EARLIEST;
  rc = cli_rt_init(&cc->rt, PROG, &cfg, verbose);
  if (rc)
    goto out_free_cmd;
  const char *names[1] = {cc->topic};
  kclient_metadata(cc->rt.kc, names, 1, consume_start, cc);
  rc = cli_rt_run(&cc->rt);
  if (cc->grp)
    rc = consume_close_group(cc, rc);
  if (fflush(stdout) != 0 && rc == 0) {
    cli_error(PROG, "cannot write to stdout: %s", g_strerror(errno));
    rc = CLI_EXIT_FAIL;
  }
  fprintf(stderr, "Processed a total of %llu messages\n",
          (unsigned long long)cc->count);
  if (cc->idle_timer)
    env_timer_cancel(cc->rt.env, cc->idle_timer);
  kclient_consumer_free(cc->cons);
  kclient_group_free(cc->grp);
  cli_rt_free(&cc->rt);
out_free_cmd:
  g_free(cc);
  return rc;
}
