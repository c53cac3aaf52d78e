/*
 * sluice perf-produce / perf-consume — Kafka's kafka-producer-perf-test.sh
 * and kafka-consumer-perf-test.sh.
 *
 * perf-produce sends --num-records records of --record-size random
 * uppercase letters (no key), at --throughput records/s or as fast as the
 * producer takes them (-1), and reports every --reporting-interval-ms and
 * at the end: records/s, MB/s (MiB, as Kafka) and the send-to-ack latency
 * (avg, max, p50, p95, p99, p99.9). Latency is measured per record from
 * kclient_produce to its acknowledgement (the delivery's done_ns, one
 * clock reading per batch); records sent within the same
 * PERF_BUCKET_NS share one send time (read before the first of them, so
 * a latency is never under-counted), and no per-record state is kept.
 * Records are handed over in slices with a turn of the loop in between
 * (PERF_SLICE_BYTES), the way Kafka's tool calls send() while the
 * producer's Sender thread works beside it.
 *
 * perf-consume reads --messages records from the start of every partition
 * and reports Kafka's consumer-perf columns plus the fetch round-trip
 * latency percentiles.
 */
#include <errno.h>
#include <getopt.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/kerr.h"
#include "tools/sluice/cli.h"

#define PERF_NS_PER_MS UINT64_C(1000000)
#define PERF_NS_PER_US UINT64_C(1000)
/* Records sent within this long share a send timestamp. */
#define PERF_BUCKET_NS (50 * PERF_NS_PER_US)
/* Records handed to the producer per turn of the loop. The client runs on
 * this thread: while the tool hands over records no answer is read and no
 * request goes out. Kafka's tool calls send() beside the producer's own
 * Sender thread; yielding to the loop after each slice is that
 * interleaving here.
 *  - Throttled: PERF_SLICE_BYTES of records, at least one, at most
 *    PERF_SLICE_RECORDS_MAX. A throttle tick's worth handed over in one
 *    go would leave every in-flight request unanswered, and the broker
 *    idle, until it ended.
 *  - Unthrottled: PERF_SLICE_UNTHROTTLED_BYTES. Kafka's send() loop
 *    outruns its Sender and fills buffer.memory at once, so the peak is
 *    measured with the buffer full; handing over a batch's worth per turn
 *    would instead pace the tool to the broker and measure another regime.
 *    The slice only lets sending start while the buffer fills. */
#define PERF_SLICE_BYTES (64 * 1024)
#define PERF_SLICE_RECORDS_MAX 128
#define PERF_SLICE_UNTHROTTLED_BYTES (1024 * 1024)
/* The clock is read once per this many records handed over. */
#define PERF_CLOCK_EVERY 32
#define PERF_MIB (1024.0 * 1024.0)
/* Largest --record-size (Kafka's default max.request.size). */
#define PERF_RECORD_BYTES_MAX (1024 * 1024 - 1024)

/* ------------------------------------------------------------ producer */

typedef struct perf_prod perf_prod;

typedef struct perf_bucket {
  perf_prod *pp;
  uint64_t sent_ns;
  uint32_t outstanding;
  bool current;
  GList link; /* in pp->buckets */
} perf_bucket;

typedef struct perf_window {
  uint64_t start_ns;
  uint64_t records;
  uint64_t bytes;
  uint64_t lat_sum_us;
  uint64_t lat_max_us;
} perf_window;

struct perf_prod {
  cli_rt rt;
  const char *topic;
  int64_t num_records;
  int64_t record_size;
  int64_t throughput;
  uint32_t report_interval_ms;
  uint8_t *payload;
  int64_t sent, acked, failed;
  uint64_t start_ns;
  int64_t start_wall_ms; /* env_wall_ms at start_ns */
  perf_bucket *cur;
  GQueue buckets; /* every live bucket (freed at exit if undelivered) */
  cli_hist *hist;
  perf_window win;
  uint64_t report_timer;
  uint64_t pump_timer; /* the throttle's wait, or the next slice */
  bool blocked;
  bool verbose;
  char first_errmsg[KCLIENT_ERRMSG_BYTES];
};

static void perf_prod_usage(FILE *out) {
  fprintf(
      out,
      "usage: sluice perf-produce --topic T --num-records N "
      "--record-size B [OPTIONS]\n"
      "\n"
      "options:\n"
      "  --bootstrap-server H:P[,H:P]  brokers (default " CLI_DEFAULT_BOOTSTRAP
      ")\n"
      "  --topic T                the topic (required)\n"
      "  --num-records N          records to send (required)\n"
      "  --record-size B          bytes per record (required)\n"
      "  --throughput R           records/s, -1 for as fast as possible "
      "(default -1)\n"
      "  --acks N                 -1, 0 or 1 (default 1)\n"
      "  --linger-ms N            (default 5)\n"
      "  --batch-size B           (default 16384)\n"
      "  --compression C          none, gzip, snappy, lz4, zstd\n"
      "  --idempotence            idempotent producer (acks -1)\n"
      "  --reporting-interval-ms N  (default 5000)\n"
      "  --verbose, --help\n");
}

static void perf_window_print(perf_prod *pp, uint64_t now) {
  perf_window *w = &pp->win;
  double secs = (double)(now - w->start_ns) / 1e9;
  if (secs <= 0 || w->records == 0)
    return;
  printf("%llu records sent, %.1f records/sec (%.2f MB/sec), %.1f ms avg "
         "latency, %.1f ms max latency.\n",
         (unsigned long long)w->records, (double)w->records / secs,
         (double)w->bytes / PERF_MIB / secs,
         (double)w->lat_sum_us / (double)w->records / 1000.0,
         (double)w->lat_max_us / 1000.0);
  fflush(stdout);
  memset(w, 0, sizeof *w);
  w->start_ns = now;
}

static void perf_prod_summary(perf_prod *pp) {
  uint64_t now = env_now_ns(pp->rt.env);
  double secs = (double)(now - pp->start_ns) / 1e9;
  if (secs <= 0)
    secs = 1e-9;
  const cli_hist *h = pp->hist;
  double n = (double)pp->acked;
  printf("%lld records sent, %.1f records/sec (%.2f MB/sec), %.2f ms avg "
         "latency, %.2f ms max latency, %.2f ms 50th, %.2f ms 95th, %.2f ms "
         "99th, %.2f ms 99.9th.\n",
         (long long)pp->acked, n / secs,
         n * (double)pp->record_size / PERF_MIB / secs,
         h->n ? (double)h->sum_us / (double)h->n / 1000.0 : 0.0,
         (double)h->max_us / 1000.0,
         (double)cli_hist_quantile(h, 0.50) / 1000.0,
         (double)cli_hist_quantile(h, 0.95) / 1000.0,
         (double)cli_hist_quantile(h, 0.99) / 1000.0,
         (double)cli_hist_quantile(h, 0.999) / 1000.0);
  fflush(stdout);
}

static void perf_pump(perf_prod *pp);

static void perf_pump_fired(void *arg) {
  perf_prod *pp = arg;
  pp->pump_timer = 0;
  perf_pump(pp);
}

static void perf_pump_later(perf_prod *pp, uint64_t delay_ns) {
  if (!pp->pump_timer)
    pp->pump_timer = env_timer_start(pp->rt.env, delay_ns, perf_pump_fired, pp);
}

static void perf_report_fired(void *arg) {
  perf_prod *pp = arg;
  pp->report_timer = 0;
  if (pp->rt.finished)
    return;
  perf_window_print(pp, env_now_ns(pp->rt.env));
  pp->report_timer =
      env_timer_start(pp->rt.env, pp->report_interval_ms * PERF_NS_PER_MS,
                      perf_report_fired, pp);
}

static void perf_bucket_release(perf_bucket *b) {
  if (b && b->outstanding == 0 && !b->current) {
    g_queue_unlink(&b->pp->buckets, &b->link);
    g_free(b);
  }
}

static void perf_delivered(void *arg, const kclient_delivery *d) {
  perf_bucket *b = arg;
  perf_prod *pp = b->pp;
  /* The client reads the clock once per batch, not per record. */
  uint64_t now = d->done_ns;
  uint64_t us = now > b->sent_ns ? (now - b->sent_ns) / PERF_NS_PER_US : 0;
  b->outstanding--;
  perf_bucket_release(b);
  if (d->err) {
    if (pp->failed++ == 0)
      g_strlcpy(pp->first_errmsg, d->errmsg, sizeof pp->first_errmsg);
  } else {
    pp->acked++;
    cli_hist_add(pp->hist, us);
    pp->win.records++;
    pp->win.bytes += (uint64_t)pp->record_size;
    pp->win.lat_sum_us += us;
    if (us > pp->win.lat_max_us)
      pp->win.lat_max_us = us;
  }
  if (pp->acked + pp->failed == pp->num_records) {
    perf_window_print(pp, now);
    perf_prod_summary(pp);
    if (pp->failed) {
      cli_error("sluice perf-produce", "%lld records failed; the first: %s",
                (long long)pp->failed, pp->first_errmsg);
      cli_rt_finish(&pp->rt, CLI_EXIT_FAIL);
    } else {
      cli_rt_finish(&pp->rt, CLI_EXIT_OK);
    }
    return;
  }
  /* The producer freed a batch's worth of buffer: hand over more on the
   * next turn of the loop, once every answer read with this one is
   * delivered, not from inside each record's delivery (which would try,
   * and fail, once per record). */
  if (pp->blocked) {
    pp->blocked = false;
    perf_pump_later(pp, 0);
  }
}

/* Records due by now at --throughput: those with start_ns + i * 1e9 /
 * throughput <= now. */
static int64_t perf_due(const perf_prod *pp, uint64_t now) {
  if (now < pp->start_ns)
    return 0;
  return (int64_t)((double)(now - pp->start_ns) * (double)pp->throughput /
                   1e9) +
         1;
}

/* A record's CreateTime from the clock reading the tool already has (the
 * wall clock at start plus the monotonic time since): the producer would
 * otherwise read the wall clock once per record. */
static int64_t perf_wall_ms(const perf_prod *pp, uint64_t now) {
  uint64_t since = now > pp->start_ns ? now - pp->start_ns : 0;
  return pp->start_wall_ms + (int64_t)(since / PERF_NS_PER_MS);
}

static void perf_pump(perf_prod *pp) {
  if (pp->rt.finished)
    return;
  uint64_t now = env_now_ns(pp->rt.env);
  kclient_message m = {
      .topic = pp->topic,
      .partition = KCLIENT_PARTITION_ANY,
      .key = NULL,
      .key_len = -1,
      .value = pp->payload,
      .value_len = (int32_t)pp->record_size,
      .timestamp_ms = perf_wall_ms(pp, now),
  };
  int64_t slice_max;
  if (pp->throughput > 0) {
    slice_max = PERF_SLICE_BYTES / pp->record_size;
    if (slice_max > PERF_SLICE_RECORDS_MAX)
      slice_max = PERF_SLICE_RECORDS_MAX;
  } else {
    slice_max = PERF_SLICE_UNTHROTTLED_BYTES / pp->record_size;
  }
  if (slice_max < 1)
    slice_max = 1;
  /* Throttled, record i is due at start_ns + i * 1e9 / throughput; due is
   * how many are due by now (recounted when the clock is read again). */
  int64_t due = pp->throughput > 0 ? perf_due(pp, now) : INT64_MAX;
  for (int64_t slice = 0; pp->sent < pp->num_records; slice++) {
    if (slice == slice_max) {
      perf_pump_later(pp, 0);
      return;
    }
    if (slice > 0 && slice % PERF_CLOCK_EVERY == 0) {
      now = env_now_ns(pp->rt.env);
      m.timestamp_ms = perf_wall_ms(pp, now);
      if (pp->throughput > 0)
        due = perf_due(pp, now);
    }
    if (pp->sent >= due) {
      uint64_t at = pp->start_ns +
                    (uint64_t)((double)pp->sent * 1e9 / (double)pp->throughput);
      perf_pump_later(pp, at > now ? at - now : 0);
      return;
    }
    if (!pp->cur || now - pp->cur->sent_ns >= PERF_BUCKET_NS) {
      perf_bucket *old = pp->cur;
      pp->cur = g_new0(perf_bucket, 1);
      pp->cur->pp = pp;
      pp->cur->sent_ns = now;
      pp->cur->current = true;
      pp->cur->link.data = pp->cur;
      g_queue_push_tail_link(&pp->buckets, &pp->cur->link);
      if (old) {
        old->current = false;
        perf_bucket_release(old);
      }
    }
    int rc = kclient_produce(pp->rt.kc, &m, perf_delivered, pp->cur);
    if (rc == -ENOBUFS) {
      pp->blocked = true;
      return;
    }
    if (rc) {
      cli_error("sluice perf-produce", "cannot produce: %s",
                kclient_err_name(rc));
      cli_rt_finish(&pp->rt, CLI_EXIT_FAIL);
      return;
    }
    pp->cur->outstanding++;
    pp->sent++;
  }
}

static void perf_prod_connected(void *arg, int err, const char *errmsg,
                                const kclient_metadata_info *md) {
  perf_prod *pp = arg;
  if (err) {
    cli_error("sluice perf-produce", "%s", errmsg);
    cli_rt_finish(&pp->rt, CLI_EXIT_FAIL);
    return;
  }
  pp->start_ns = env_now_ns(pp->rt.env);
  pp->start_wall_ms = env_wall_ms(pp->rt.env);
  pp->win.start_ns = pp->start_ns;
  pp->report_timer =
      env_timer_start(pp->rt.env, pp->report_interval_ms * PERF_NS_PER_MS,
                      perf_report_fired, pp);
  perf_pump(pp);
}

enum {
  OPT_BOOTSTRAP = 1000,
  OPT_TOPIC,
  OPT_NUM_RECORDS,
  OPT_RECORD_SIZE,
  OPT_THROUGHPUT,
  OPT_ACKS,
  OPT_LINGER,
  OPT_BATCH,
  OPT_COMPRESSION,
  OPT_IDEMPOTENCE,
  OPT_REPORT,
  OPT_MESSAGES,
  OPT_TIMEOUT,
  OPT_FETCH_SIZE,
  OPT_VERBOSE,
  OPT_HELP,
};

static const struct option perf_prod_opts[] = {
    {"bootstrap-server", required_argument, NULL, OPT_BOOTSTRAP},
    {"topic", required_argument, NULL, OPT_TOPIC},
    {"num-records", required_argument, NULL, OPT_NUM_RECORDS},
    {"record-size", required_argument, NULL, OPT_RECORD_SIZE},
    {"throughput", required_argument, NULL, OPT_THROUGHPUT},
    {"acks", required_argument, NULL, OPT_ACKS},
    {"linger-ms", required_argument, NULL, OPT_LINGER},
    {"batch-size", required_argument, NULL, OPT_BATCH},
    {"compression", required_argument, NULL, OPT_COMPRESSION},
    {"idempotence", no_argument, NULL, OPT_IDEMPOTENCE},
    {"reporting-interval-ms", required_argument, NULL, OPT_REPORT},
    {"verbose", no_argument, NULL, OPT_VERBOSE},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

int cli_perf_produce(int argc, char **argv) {
  const char *prog = "sluice perf-produce";
  perf_prod *pp = g_new0(perf_prod, 1);
  pp->throughput = -1;
  pp->report_interval_ms = 5000;
  pp->num_records = -1;
  pp->record_size = -1;
  kclient_config cfg;
  kclient_config_default(&cfg);
  cfg.bootstrap_servers = CLI_DEFAULT_BOOTSTRAP;
  cfg.client_id = "sluice-perf-produce";
  cfg.acks = 1;
  cfg.op_timeout_ms = CLI_OP_TIMEOUT_MS;
  cfg.allow_auto_create_topics = true;
  bool verbose = false;
  int rc = 0, c;
  int64_t v;
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "", perf_prod_opts, NULL)) != -1) {
    switch (c) {
    case OPT_BOOTSTRAP:
      cfg.bootstrap_servers = optarg;
      break;
    case OPT_TOPIC:
      pp->topic = optarg;
      break;
    case OPT_NUM_RECORDS:
      if (!cli_parse_i64(prog, "num-records", optarg, 1, INT64_MAX / 2,
                         &pp->num_records))
        rc = CLI_EXIT_USAGE;
      break;
    case OPT_RECORD_SIZE:
      if (!cli_parse_i64(prog, "record-size", optarg, 1, PERF_RECORD_BYTES_MAX,
                         &pp->record_size))
        rc = CLI_EXIT_USAGE;
      break;
    case OPT_THROUGHPUT:
      if (!cli_parse_i64(prog, "throughput", optarg, -1, INT32_MAX,
                         &pp->throughput) ||
          pp->throughput == 0) {
        if (pp->throughput == 0)
          cli_error(prog, "--throughput must be -1 or > 0");
        rc = CLI_EXIT_USAGE;
      }
      break;
    case OPT_ACKS:
      if (!cli_parse_i64(prog, "acks", optarg, -1, 1, &v))
        rc = CLI_EXIT_USAGE;
      cfg.acks = (int16_t)v;
      break;
    case OPT_LINGER:
      if (!cli_parse_i64(prog, "linger-ms", optarg, 0, 600000, &v))
        rc = CLI_EXIT_USAGE;
      cfg.linger_ms = (uint32_t)v;
      break;
    case OPT_BATCH:
      if (!cli_parse_i64(prog, "batch-size", optarg, 1, 64 << 20, &v))
        rc = CLI_EXIT_USAGE;
      cfg.batch_bytes = (uint32_t)v;
      break;
    case OPT_COMPRESSION:
      if (!cli_parse_codec(prog, optarg, &cfg.compression))
        rc = CLI_EXIT_USAGE;
      break;
    case OPT_IDEMPOTENCE:
      cfg.idempotence = true;
      break;
    case OPT_REPORT:
      if (!cli_parse_i64(prog, "reporting-interval-ms", optarg, 1, 3600000, &v))
        rc = CLI_EXIT_USAGE;
      pp->report_interval_ms = (uint32_t)v;
      break;
    case OPT_VERBOSE:
      verbose = true;
      break;
    case OPT_HELP:
      perf_prod_usage(stdout);
      g_free(pp);
      return CLI_EXIT_OK;
    default:
      cli_error(prog, "unknown option '%s' (see --help)", argv[optind - 1]);
      rc = CLI_EXIT_USAGE;
    }
    if (rc)
      goto out_free_cmd;
  }
  if (optind < argc || !pp->topic || pp->num_records < 0 ||
      pp->record_size < 0) {
    cli_error(prog, "--topic, --num-records and --record-size are required "
                    "(see --help)");
    rc = CLI_EXIT_USAGE;
    goto out_free_cmd;
  }
  rc = cli_rt_init(&pp->rt, prog, &cfg, verbose);
  if (rc)
    goto out_free_cmd;
  pp->hist = g_new0(cli_hist, 1);
  pp->payload = g_malloc((size_t)pp->record_size);
  for (int64_t i = 0; i < pp->record_size; i++)
    pp->payload[i] = (uint8_t)('A' + env_rand_below(pp->rt.env, 26));
  const char *names[1] = {pp->topic};
  kclient_metadata(pp->rt.kc, names, 1, perf_prod_connected, pp);
  pp->verbose = verbose;
  rc = cli_rt_run(&pp->rt);
  if (pp->verbose) {
    kclient_stats st;
    kclient_get_stats(pp->rt.kc, &st);
    fprintf(stderr,
            "client: %llu requests in %llu sends, %llu responses, %llu "
            "batches, %llu retries, %u most in flight, %llu connects, %llu "
            "disconnects\n",
            (unsigned long long)st.requests_sent, (unsigned long long)st.sends,
            (unsigned long long)st.responses_received,
            (unsigned long long)st.batches_sent, (unsigned long long)st.retries,
            st.in_flight_max_seen, (unsigned long long)st.connects,
            (unsigned long long)st.disconnects);
  }
  if (pp->report_timer)
    env_timer_cancel(pp->rt.env, pp->report_timer);
  if (pp->pump_timer)
    env_timer_cancel(pp->rt.env, pp->pump_timer);
  cli_rt_free(&pp->rt); /* drops undelivered records: no callback */
  GList *l;
  while ((l = g_queue_pop_head_link(&pp->buckets)))
    g_free(l->data);
  g_free(pp->payload);
  g_free(pp->hist);
out_free_cmd:
  g_free(pp);
  return rc;
}

/* ------------------------------------------------------------ consumer */

typedef struct perf_cons {
  cli_rt rt;
  const char *topic;
  int64_t messages;
  int64_t timeout_ms;
  int32_t fetch_bytes;
  kclient_consumer_t *cons;
  uint64_t count;
  uint64_t bytes;
  uint64_t start_ns;
  int64_t start_wall_ms;
  uint64_t last_record_ns;
  uint64_t fetches;
  cli_hist *fetch_hist;
  uint64_t idle_timer;
} perf_cons;

static void perf_cons_usage(FILE *out) {
  fprintf(
      out,
      "usage: sluice perf-consume --topic T --messages N [OPTIONS]\n"
      "\n"
      "Reads N records from the start of every partition of T.\n"
      "\n"
      "options:\n"
      "  --bootstrap-server H:P[,H:P]  brokers (default " CLI_DEFAULT_BOOTSTRAP
      ")\n"
      "  --topic T          the topic (required)\n"
      "  --messages N       records to read (required)\n"
      "  --timeout-ms N     fail when no record came for N ms "
      "(default 10000)\n"
      "  --fetch-size B     bytes per partition per fetch "
      "(default 1048576)\n"
      "  --verbose, --help\n");
}

static void perf_wall_format(int64_t ms, char *out, size_t len) {
  time_t s = (time_t)(ms / 1000);
  struct tm tm;
  localtime_r(&s, &tm);
  size_t n = strftime(out, len, "%Y-%m-%d %H:%M:%S", &tm);
  snprintf(out + n, len - n, ":%03d", (int)(ms % 1000));
}

static void perf_cons_summary(perf_cons *pc) {
  uint64_t now = env_now_ns(pc->rt.env);
  int64_t end_wall = env_wall_ms(pc->rt.env);
  double secs = (double)(now - pc->start_ns) / 1e9;
  if (secs <= 0)
    secs = 1e-9;
  double mb = (double)pc->bytes / PERF_MIB;
  char t0[48], t1[48];
  perf_wall_format(pc->start_wall_ms, t0, sizeof t0);
  perf_wall_format(end_wall, t1, sizeof t1);
  printf("start.time, end.time, data.consumed.in.MB, MB.sec, "
         "data.consumed.in.nMsg, nMsg.sec, fetch.count, fetch.ms.avg, "
         "fetch.ms.p50, fetch.ms.p95, fetch.ms.p99, fetch.ms.max\n");
  const cli_hist *h = pc->fetch_hist;
  printf("%s, %s, %.4f, %.4f, %llu, %.4f, %llu, %.3f, %.3f, %.3f, %.3f, "
         "%.3f\n",
         t0, t1, mb, mb / secs, (unsigned long long)pc->count,
         (double)pc->count / secs, (unsigned long long)pc->fetches,
         h->n ? (double)h->sum_us / (double)h->n / 1000.0 : 0.0,
         (double)cli_hist_quantile(h, 0.50) / 1000.0,
         (double)cli_hist_quantile(h, 0.95) / 1000.0,
         (double)cli_hist_quantile(h, 0.99) / 1000.0,
         (double)h->max_us / 1000.0);
  fflush(stdout);
}

static void perf_cons_record(void *arg, const kclient_record *r) {
  perf_cons *pc = arg;
  if (pc->rt.finished)
    return;
  if (pc->count == 0) {
    pc->start_ns = env_now_ns(pc->rt.env);
    pc->start_wall_ms = env_wall_ms(pc->rt.env);
  }
  pc->count++;
  pc->bytes += (uint64_t)(r->key_len > 0 ? r->key_len : 0) +
               (uint64_t)(r->value_len > 0 ? r->value_len : 0);
  if ((pc->count & 1023) == 0)
    pc->last_record_ns = env_now_ns(pc->rt.env);
  if ((int64_t)pc->count >= pc->messages) {
    kclient_consumer_pause(pc->cons);
    perf_cons_summary(pc);
    cli_rt_finish(&pc->rt, CLI_EXIT_OK);
  }
}

static void perf_cons_fetch(void *arg, uint64_t rtt_ns, size_t bytes,
                            size_t records) {
  perf_cons *pc = arg;
  pc->fetches++;
  cli_hist_add(pc->fetch_hist, rtt_ns / PERF_NS_PER_US);
  pc->last_record_ns = env_now_ns(pc->rt.env);
}

static void perf_cons_error(void *arg, const char *topic, int32_t partition,
                            int err, const char *errmsg) {
  perf_cons *pc = arg;
  cli_error("sluice perf-consume", "%s", errmsg);
  kclient_consumer_pause(pc->cons);
  cli_rt_finish(&pc->rt, CLI_EXIT_FAIL);
}

static void perf_cons_idle(void *arg) {
  perf_cons *pc = arg;
  pc->idle_timer = 0;
  if (pc->rt.finished)
    return;
  uint64_t now = env_now_ns(pc->rt.env);
  uint64_t limit = (uint64_t)pc->timeout_ms * PERF_NS_PER_MS;
  if (now - pc->last_record_ns >= limit) {
    cli_error("sluice perf-consume",
              "timed out: nothing fetched for %lld ms, %llu of %lld messages "
              "read",
              (long long)pc->timeout_ms, (unsigned long long)pc->count,
              (long long)pc->messages);
    cli_rt_finish(&pc->rt, CLI_EXIT_FAIL);
    return;
  }
  pc->idle_timer =
      env_timer_start(pc->rt.env, 100 * PERF_NS_PER_MS, perf_cons_idle, pc);
}

static void perf_cons_start(void *arg, int err, const char *errmsg,
                            const kclient_metadata_info *md) {
  perf_cons *pc = arg;
  const char *prog = "sluice perf-consume";
  if (err) {
    cli_error(prog, "%s", errmsg);
    cli_rt_finish(&pc->rt, CLI_EXIT_FAIL);
    return;
  }
  const kclient_topic_info *t = md->topic_count == 1 ? &md->topics[0] : NULL;
  if (!t || t->err) {
    cli_error(prog, "topic '%s' %s", pc->topic,
              t && t->err != KERR_UNKNOWN_TOPIC_OR_PARTITION
                  ? kclient_err_name(t->err)
                  : "does not exist");
    cli_rt_finish(&pc->rt, CLI_EXIT_FAIL);
    return;
  }
  kclient_consumer_config ccfg;
  kclient_consumer_config_default(&ccfg);
  ccfg.on_record = perf_cons_record;
  ccfg.on_error = perf_cons_error;
  ccfg.on_fetch = perf_cons_fetch;
  ccfg.arg = pc;
  ccfg.partition_max_bytes = pc->fetch_bytes;
  pc->cons = kclient_consumer_new(pc->rt.kc, &ccfg);
  for (int32_t p = 0; p < t->partition_count; p++)
    if (kclient_consumer_assign(pc->cons, pc->topic, p,
                                KCLIENT_OFFSET_EARLIEST) != 0) {
      cli_error(prog, "cannot assign partition %d", (int)p);
      cli_rt_finish(&pc->rt, CLI_EXIT_FAIL);
      return;
    }
  pc->start_ns = env_now_ns(pc->rt.env);
  pc->start_wall_ms = env_wall_ms(pc->rt.env);
  pc->last_record_ns = pc->start_ns;
  perf_cons_idle(pc);
}

static const struct option perf_cons_opts[] = {
    {"bootstrap-server", required_argument, NULL, OPT_BOOTSTRAP},
    {"topic", required_argument, NULL, OPT_TOPIC},
    {"messages", required_argument, NULL, OPT_MESSAGES},
    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
    {"fetch-size", required_argument, NULL, OPT_FETCH_SIZE},
    {"verbose", no_argument, NULL, OPT_VERBOSE},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

int cli_perf_consume(int argc, char **argv) {
  const char *prog = "sluice perf-consume";
  perf_cons *pc = g_new0(perf_cons, 1);
  pc->messages = -1;
  pc->timeout_ms = 10000;
  pc->fetch_bytes = 1024 * 1024;
  kclient_config cfg;
  kclient_config_default(&cfg);
  cfg.bootstrap_servers = CLI_DEFAULT_BOOTSTRAP;
  cfg.client_id = "sluice-perf-consume";
  cfg.op_timeout_ms = CLI_OP_TIMEOUT_MS;
  bool verbose = false;
  int rc = 0, c;
  int64_t v;
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "", perf_cons_opts, NULL)) != -1) {
    switch (c) {
    case OPT_BOOTSTRAP:
      cfg.bootstrap_servers = optarg;
      break;
    case OPT_TOPIC:
      pc->topic = optarg;
      break;
    case OPT_MESSAGES:
      if (!cli_parse_i64(prog, "messages", optarg, 1, INT64_MAX, &pc->messages))
        rc = CLI_EXIT_USAGE;
      break;
    case OPT_TIMEOUT:
      if (!cli_parse_i64(prog, "timeout-ms", optarg, 1, INT32_MAX,
                         &pc->timeout_ms))
        rc = CLI_EXIT_USAGE;
      break;
    case OPT_FETCH_SIZE:
      if (!cli_parse_i64(prog, "fetch-size", optarg, 1024, INT32_MAX / 2, &v))
        rc = CLI_EXIT_USAGE;
      pc->fetch_bytes = (int32_t)v;
      break;
    case OPT_VERBOSE:
      verbose = true;
      break;
    case OPT_HELP:
      perf_cons_usage(stdout);
      g_free(pc);
      return CLI_EXIT_OK;
    default:
      cli_error(prog, "unknown option '%s' (see --help)", argv[optind - 1]);
      rc = CLI_EXIT_USAGE;
    }
    if (rc)
      goto out_free_cmd;
  }
  if (optind < argc || !pc->topic || pc->messages < 0) {
    cli_error(prog, "--topic and --messages are required (see --help)");
    rc = CLI_EXIT_USAGE;
    goto out_free_cmd;
  }
  rc = cli_rt_init(&pc->rt, prog, &cfg, verbose);
  if (rc)
    goto out_free_cmd;
  pc->fetch_hist = g_new0(cli_hist, 1);
  const char *names[1] = {pc->topic};
  kclient_metadata(pc->rt.kc, names, 1, perf_cons_start, pc);
  rc = cli_rt_run(&pc->rt);
  if (pc->idle_timer)
    env_timer_cancel(pc->rt.env, pc->idle_timer);
  kclient_consumer_free(pc->cons);
  cli_rt_free(&pc->rt);
  g_free(pc->fetch_hist);
out_free_cmd:
  g_free(pc);
  return rc;
}
