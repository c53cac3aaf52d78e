/*
 * sluice produce — Kafka's kafka-console-producer.sh: one record per line
 * of stdin (the newline is not part of it), optionally "key<SEP>value".
 *
 * stdin is read with uv_fs_read (on libuv's thread pool, so files, pipes
 * and terminals all work) one chunk at a time, and only while the
 * producer's buffer has room: a fast stdin never makes this process hold
 * more than buffer_bytes_max plus one chunk. At end of input the producer
 * is flushed and the exit status says whether every record was
 * acknowledged.
 */
#include <errno.h>
#include <getopt.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/sluice/cli.h"

#define PROG "sluice produce"
/* Bytes read from stdin at a time. */
#define PRODUCE_CHUNK_BYTES (64 * 1024)
/* A line may not be longer (Kafka's default max.request.size). */
#define PRODUCE_LINE_BYTES_MAX (1024 * 1024)

typedef struct produce_cmd {
  cli_rt rt;
  const char *topic;
  int32_t partition;
  const char *key_sep; /* NULL: no key parsing */
  uv_fs_t read_req;
  char chunk[PRODUCE_CHUNK_BYTES];
  bool reading;
  bool eof;
  bool flushing;
  GByteArray *pending; /* bytes read; those before pending_off are sent */
  size_t pending_off;
  uint64_t line_no;
  uint64_t records_sent, records_acked, records_failed;
  int first_err;
  char first_errmsg[KCLIENT_ERRMSG_BYTES];
  bool failed_input;
} produce_cmd;

static void produce_usage(FILE *out) {
  fprintf(out,
          "usage: sluice produce --topic T [OPTIONS] < lines\n"
          "\n"
          "Sends each line of stdin to topic T as one record.\n"
          "\n"
          "options:\n"
          "  --bootstrap-server H:P[,H:P]  brokers to start from "
          "(default " CLI_DEFAULT_BOOTSTRAP ")\n"
          "  --topic T             the topic (required)\n"
          "  --partition P         send every record to partition P (default:\n"
          "                        by key hash, or sticky for records "
          "without key)\n"
          "  --key-separator SEP   lines are KEY<SEP>VALUE (TAB or \\t for a "
          "tab)\n"
          "  --acks N              -1 (all), 0 or 1 (default -1)\n"
          "  --compression C       none, gzip, snappy, lz4 or zstd\n"
          "  --linger-ms N         wait up to N ms to fill a batch "
          "(default 5)\n"
          "  --batch-size B        batch size in bytes (default 16384)\n"
          "  --idempotence         idempotent producer (forces acks -1)\n"
          "  --timeout-ms N        give up on a record after N ms "
          "(default 30000)\n"
          "  --verbose             log the client's work on stderr\n"
          "  --help                this text\n");
}

static void produce_read_more(produce_cmd *pc);
static void produce_lines(produce_cmd *pc);

static void produce_flushed(void *arg, int err, const char *errmsg) {
  produce_cmd *pc = arg;
  if (pc->records_failed > 0) {
    cli_error(PROG, "%llu of %llu records failed; the first: %s",
              (unsigned long long)pc->records_failed,
              (unsigned long long)pc->records_sent, pc->first_errmsg);
    cli_rt_finish(&pc->rt, CLI_EXIT_FAIL);
    return;
  }
  cli_rt_finish(&pc->rt, pc->failed_input ? CLI_EXIT_FAIL : CLI_EXIT_OK);
}

static void produce_finish_input(produce_cmd *pc) {
  if (pc->flushing)
    return;
  pc->flushing = true;
  kclient_flush(pc->rt.kc, produce_flushed, pc);
}

static void produce_delivered(void *arg, const kclient_delivery *d) {
  produce_cmd *pc = arg;
  if (d->err) {
    if (pc->records_failed++ == 0) {
      pc->first_err = d->err;
      g_strlcpy(pc->first_errmsg, d->errmsg, sizeof pc->first_errmsg);
    }
  } else {
    pc->records_acked++;
  }
  /* Room again: continue with what is buffered, then read on. */
  if (!pc->flushing)
    produce_lines(pc);
}

/* Sends one line; false when the producer is full (try again later). */
static bool produce_line(produce_cmd *pc, const uint8_t *line, size_t len) {
  kclient_message m = {
      .topic = pc->topic,
      .partition = pc->partition,
      .key = NULL,
      .key_len = -1,
      .value = line,
      .value_len = (int32_t)len,
      .timestamp_ms = -1,
  };
  if (pc->key_sep) {
    size_t sl = strlen(pc->key_sep);
    const uint8_t *sep = sl ? memmem(line, len, pc->key_sep, sl) : NULL;
    if (!sep) {
      cli_error(PROG, "line %llu has no key separator",
                (unsigned long long)pc->line_no + 1);
      pc->failed_input = true;
      return true; /* skip it, like a record that failed */
    }
    m.key = line;
    m.key_len = (int32_t)(sep - line);
    m.value = sep + sl;
    m.value_len = (int32_t)(len - (size_t)(sep - line) - sl);
  }
  int rc = kclient_produce(pc->rt.kc, &m, produce_delivered, pc);
  if (rc == -ENOBUFS)
    return false;
  if (rc) {
    cli_error(PROG, "line %llu: %s", (unsigned long long)pc->line_no + 1,
              rc == -ENOENT ? "no such partition" : kclient_err_name(rc));
    pc->failed_input = true;
    return true;
  }
  pc->records_sent++;
  return true;
}

/* Produces every complete line buffered (and at EOF the last, unended
 * one), stopping when the producer is full. */
static void produce_lines(produce_cmd *pc) {
  GByteArray *b = pc->pending;
  size_t start = pc->pending_off;
  bool full = false;
  while (start < b->len) {
    uint8_t *nl = memchr(b->data + start, '\n', b->len - start);
    size_t end = nl ? (size_t)(nl - b->data) : b->len;
    if (!nl && !pc->eof)
      break;
    size_t len = end - start;
    if (len > 0 && b->data[start + len - 1] == '\r')
      len--; /* CRLF input */
    if (!produce_line(pc, b->data + start, len)) {
      full = true;
      break;
    }
    pc->line_no++;
    start = nl ? end + 1 : end;
  }
  pc->pending_off = start;
  if (b->len - start > PRODUCE_LINE_BYTES_MAX) {
    cli_error(PROG, "line %llu is longer than %d bytes",
              (unsigned long long)pc->line_no + 1, PRODUCE_LINE_BYTES_MAX);
    pc->failed_input = true;
    pc->pending_off = b->len;
    pc->eof = true;
  }
  if (full)
    return;
  if (pc->eof) {
    if (pc->pending_off == b->len)
      produce_finish_input(pc);
    return;
  }
  produce_read_more(pc);
}

static void produce_read_done(uv_fs_t *req) {
  produce_cmd *pc = req->data;
  ssize_t n = req->result;
  uv_fs_req_cleanup(req);
  pc->reading = false;
  if (pc->rt.finished)
    return;
  if (n < 0) {
    cli_error(PROG, "cannot read stdin: %s", uv_strerror((int)n));
    pc->failed_input = true;
    pc->eof = true;
  } else if (n == 0) {
    pc->eof = true;
  } else {
    /* Drop what was sent before adding more (one move per chunk). */
    g_byte_array_remove_range(pc->pending, 0, (guint)pc->pending_off);
    pc->pending_off = 0;
    g_byte_array_append(pc->pending, (const guint8 *)pc->chunk, (guint)n);
  }
  produce_lines(pc);
}

static void produce_read_more(produce_cmd *pc) {
  if (pc->reading || pc->eof)
    return;
  pc->reading = true;
  uv_buf_t buf = uv_buf_init(pc->chunk, sizeof pc->chunk);
  pc->read_req.data = pc;
  int rc = uv_fs_read(&pc->rt.loop, &pc->read_req, 0, &buf, 1, -1,
                      produce_read_done);
  if (rc) {
    pc->reading = false;
    cli_error(PROG, "cannot read stdin: %s", uv_strerror(rc));
    pc->failed_input = true;
    pc->eof = true;
    produce_lines(pc);
  }
}

static void produce_connected(void *arg, int err, const char *errmsg,
                              const kclient_metadata_info *md) {
  produce_cmd *pc = arg;
  if (err) {
    cli_error(PROG, "%s", errmsg);
    cli_rt_finish(&pc->rt, CLI_EXIT_FAIL);
    return;
  }
  produce_read_more(pc);
}

static void produce_on_signal(cli_rt *rt, int signum) {
  produce_cmd *pc = rt->user;
  fprintf(stderr, "%s: interrupted; %llu records sent, %llu acknowledged\n",
          PROG, (unsigned long long)pc->records_sent,
          (unsigned long long)pc->records_acked);
}

enum {
  OPT_BOOTSTRAP = 1000,
  OPT_TOPIC,
  OPT_PARTITION,
  OPT_KEY_SEP,
  OPT_ACKS,
  OPT_COMPRESSION,
  OPT_LINGER,
  OPT_BATCH,
  OPT_IDEMPOTENCE,
  OPT_TIMEOUT,
  OPT_VERBOSE,
  OPT_HELP,
};

static const struct option produce_opts[] = {
    {"bootstrap-server", required_argument, NULL, OPT_BOOTSTRAP},
    {"topic", required_argument, NULL, OPT_TOPIC},
    {"partition", required_argument, NULL, OPT_PARTITION},
    {"key-separator", required_argument, NULL, OPT_KEY_SEP},
    {"acks", required_argument, NULL, OPT_ACKS},
    {"compression", required_argument, NULL, OPT_COMPRESSION},
    {"linger-ms", required_argument, NULL, OPT_LINGER},
    {"batch-size", required_argument, NULL, OPT_BATCH},
    {"idempotence", no_argument, NULL, OPT_IDEMPOTENCE},
    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
    {"verbose", no_argument, NULL, OPT_VERBOSE},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

int cli_produce(int argc, char **argv) {
  produce_cmd *pc = g_new0(produce_cmd, 1);
  pc->partition = KCLIENT_PARTITION_ANY;
  kclient_config cfg;
  kclient_config_default(&cfg);
  cfg.bootstrap_servers = CLI_DEFAULT_BOOTSTRAP;
  cfg.client_id = "sluice-produce";
  cfg.delivery_timeout_ms = 30000;
  cfg.op_timeout_ms = CLI_OP_TIMEOUT_MS;
  cfg.allow_auto_create_topics = true; /* as Kafka's producer */
  bool verbose = false;
  int rc = 0, c;
  int64_t v;
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "", produce_opts, NULL)) != -1) {
    switch (c) {
    case OPT_BOOTSTRAP:
      cfg.bootstrap_servers = optarg;
      break;
    case OPT_TOPIC:
      pc->topic = optarg;
      break;
    case OPT_PARTITION:
      if (!cli_parse_i64(PROG, "partition", optarg, 0, INT32_MAX, &v))
        rc = CLI_EXIT_USAGE;
      pc->partition = (int32_t)v;
      break;
    case OPT_KEY_SEP:
      pc->key_sep = cli_separator(optarg);
      break;
    case OPT_ACKS:
      if (!cli_parse_i64(PROG, "acks", optarg, -1, 1, &v))
        rc = CLI_EXIT_USAGE;
      cfg.acks = (int16_t)v;
      break;
    case OPT_COMPRESSION:
      if (!cli_parse_codec(PROG, optarg, &cfg.compression))
        rc = CLI_EXIT_USAGE;
      break;
    case OPT_LINGER:
      if (!cli_parse_i64(PROG, "linger-ms", optarg, 0, 600000, &v))
        rc = CLI_EXIT_USAGE;
      cfg.linger_ms = (uint32_t)v;
      break;
    case OPT_BATCH:
      if (!cli_parse_i64(PROG, "batch-size", optarg, 1, 64 << 20, &v))
        rc = CLI_EXIT_USAGE;
      cfg.batch_bytes = (uint32_t)v;
      break;
    case OPT_IDEMPOTENCE:
      cfg.idempotence = true;
      break;
    case OPT_TIMEOUT:
      if (!cli_parse_i64(PROG, "timeout-ms", optarg, 1, INT32_MAX, &v))
        rc = CLI_EXIT_USAGE;
      cfg.delivery_timeout_ms = (uint32_t)v;
      break;
    case OPT_VERBOSE:
      verbose = true;
      break;
    case OPT_HELP:
      produce_usage(stdout);
      g_free(pc);
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
  if (!pc->topic) {
    cli_error(PROG, "--topic is required (see --help)");
    rc = CLI_EXIT_USAGE;
    goto out_free_cmd;
  }
  rc = cli_rt_init(&pc->rt, PROG, &cfg, verbose);
  if (rc)
    goto out_free_cmd;
  pc->rt.user = pc;
  pc->rt.on_signal = produce_on_signal;
  pc->pending = g_byte_array_new();
  /* Check the brokers answer before reading input (fails fast). */
  const char *names[1] = {pc->topic};
  kclient_metadata(pc->rt.kc, names, 1, produce_connected, pc);
  rc = cli_rt_run(&pc->rt);
  if (pc->reading) {
    /* A read blocked on a terminal cannot be cancelled: leave now. */
    fflush(stdout);
    fflush(stderr);
    _exit(rc);
  }
  cli_rt_free(&pc->rt);
  g_byte_array_free(pc->pending, TRUE);
out_free_cmd:
  g_free(pc);
  return rc;
}
