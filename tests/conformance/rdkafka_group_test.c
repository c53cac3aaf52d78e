/*
 * rdkafka_group_test.c — librdkafka's high-level (group) consumer against a
 * running sluice-broker. Driven by tests/conformance/run.sh:
 *
 *   rdkafka_group_test create  HOST:PORT TOPIC PARTITIONS
 *   rdkafka_group_test produce HOST:PORT TOPIC FIRST COUNT
 *       sends values "v<i>" for i in [FIRST, FIRST+COUNT), message i to
 *       partition i % partitions, and waits for every delivery report;
 *   rdkafka_group_test consume HOST:PORT TOPIC GROUP NAME OUT STOPFILE
 *       joins GROUP (subscribe), and for every message writes
 *       "P <value>" to OUT, then commits its offset synchronously; a failed
 *       commit (a rebalance took the partition) writes "U <value>", which
 *       cancels the P line. Runs until STOPFILE exists, then closes
 *       (LeaveGroup). Assignments are logged to stderr.
 *
 * So the net count of a value over every consumer's OUT is how many times
 * the group consumed it with a commit: exactly 1 unless a consumer was
 * killed between its P line and its commit.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#define TIMEOUT_MS 20000

static rd_kafka_conf_t *conf_new(const char *bootstrap) {
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err,
                        sizeof err) != RD_KAFKA_CONF_OK) {
    fprintf(stderr, "conf: %s\n", err);
    exit(1);
  }
  return conf;
}

static void conf_set(rd_kafka_conf_t *conf, const char *k, const char *v) {
  char err[512];
  if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
    fprintf(stderr, "conf %s: %s\n", k, err);
    exit(1);
  }
}

static int do_create(const char *bs, const char *topic, int partitions) {
  char err[512];
  rd_kafka_t *rk =
      rd_kafka_new(RD_KAFKA_PRODUCER, conf_new(bs), err, sizeof err);
  if (!rk) {
    fprintf(stderr, "rd_kafka_new: %s\n", err);
    return 1;
  }
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  rd_kafka_NewTopic_t *nt =
      rd_kafka_NewTopic_new(topic, partitions, 1, err, sizeof err);
  rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
  rd_kafka_event_t *ev = rd_kafka_queue_poll(q, TIMEOUT_MS);
  int rc = 1;
  if (ev) {
    const rd_kafka_CreateTopics_result_t *res =
        rd_kafka_event_CreateTopics_result(ev);
    size_t n = 0;
    const rd_kafka_topic_result_t **trs =
        res ? rd_kafka_CreateTopics_result_topics(res, &n) : NULL;
    if (n == 1 && rd_kafka_topic_result_error(trs[0]) == 0) {
      printf("created %s with %d partitions\n", topic, partitions);
      rc = 0;
    } else {
      fprintf(stderr, "create %s failed: %s\n", topic,
              n ? rd_kafka_topic_result_error_string(trs[0]) : "no result");
    }
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_NewTopic_destroy(nt);
  rd_kafka_queue_destroy(q);
  rd_kafka_destroy(rk);
  return rc;
}

static int delivery_failures;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque) {
  (void)rk;
  (void)opaque;
  if (m->err)
    delivery_failures++;
}

static int do_produce(const char *bs, const char *topic, long first,
                      long count) {
  char err[512];
  rd_kafka_conf_t *conf = conf_new(bs);
  conf_set(conf, "linger.ms", "5");
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    fprintf(stderr, "rd_kafka_new: %s\n", err);
    return 1;
  }
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
  if (rd_kafka_metadata(rk, 0, rkt, &md, TIMEOUT_MS) || md->topic_cnt != 1 ||
      md->topics[0].partition_cnt < 1) {
    fprintf(stderr, "no metadata for %s\n", topic);
    return 1;
  }
  int parts = md->topics[0].partition_cnt;
  rd_kafka_metadata_destroy(md);
  for (long i = first; i < first + count; i++) {
    char v[32];
    int len = snprintf(v, sizeof v, "v%ld", i);
    while (rd_kafka_produce(rkt, (int32_t)(i % parts), RD_KAFKA_MSG_F_COPY, v,
                            (size_t)len, NULL, 0, NULL) != 0)
      rd_kafka_poll(rk, 10);
    rd_kafka_poll(rk, 0);
  }
  rd_kafka_flush(rk, TIMEOUT_MS * 3);
  int left = rd_kafka_outq_len(rk);
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  printf("produced %ld messages to %s (%d partitions), %d failed, %d left\n",
         count, topic, parts, delivery_failures, left);
  return delivery_failures || left ? 1 : 0;
}

static void log_assignment(const char *name, const char *what,
                           const rd_kafka_topic_partition_list_t *parts) {
  fprintf(stderr, "%s %s:", name, what);
  for (int i = 0; i < parts->cnt; i++)
    fprintf(stderr, " %d", parts->elems[i].partition);
  fprintf(stderr, "\n");
}

static const char *g_name;

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
  (void)opaque;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    log_assignment(g_name, "assigned", parts);
    rd_kafka_assign(rk, parts);
  } else {
    log_assignment(g_name, "revoked", parts);
    rd_kafka_assign(rk, NULL);
  }
}

static int do_consume(const char *bs, const char *topic, const char *group,
                      const char *name, const char *out_path,
                      const char *stop_path) {
  char err[512];
  g_name = name;
  rd_kafka_conf_t *conf = conf_new(bs);
  conf_set(conf, "group.id", group);
  conf_set(conf, "client.id", name);
  conf_set(conf, "enable.auto.commit", "false");
  conf_set(conf, "auto.offset.reset", "earliest");
  conf_set(conf, "session.timeout.ms", "6000");
  conf_set(conf, "heartbeat.interval.ms", "500");
  if (getenv("RDKAFKA_DEBUG"))
    conf_set(conf, "debug", getenv("RDKAFKA_DEBUG"));
  rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk) {
    fprintf(stderr, "rd_kafka_new: %s\n", err);
    return 1;
  }
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, sub);
  rd_kafka_topic_partition_list_destroy(sub);
  if (e) {
    fprintf(stderr, "subscribe: %s\n", rd_kafka_err2str(e));
    return 1;
  }
  FILE *out = fopen(out_path, "a");
  if (!out) {
    perror(out_path);
    return 1;
  }
  long consumed = 0, uncommitted = 0;
  while (access(stop_path, F_OK) != 0) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
    if (!m)
      continue;
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
        fprintf(stderr, "%s: consume error: %s\n", name,
                rd_kafka_message_errstr(m));
      rd_kafka_message_destroy(m);
      continue;
    }
    fprintf(out, "P %.*s\n", (int)m->len, (const char *)m->payload);
    fflush(out);
    e = rd_kafka_commit_message(rk, m, 0);
    if (e) {
      fprintf(out, "U %.*s\n", (int)m->len, (const char *)m->payload);
      fflush(out);
      uncommitted++;
    } else {
      consumed++;
    }
    rd_kafka_message_destroy(m);
  }
  fprintf(stderr, "%s: consumed %ld with commit, %ld commits refused\n", name,
          consumed, uncommitted);
  fclose(out);
  e = rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return e ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "create") == 0)
    return do_create(argv[2], argv[3], atoi(argv[4]));
  if (argc == 6 && strcmp(argv[1], "produce") == 0)
    return do_produce(argv[2], argv[3], atol(argv[4]), atol(argv[5]));
  if (argc == 8 && strcmp(argv[1], "consume") == 0)
    return do_consume(argv[2], argv[3], argv[4], argv[5], argv[6], argv[7]);
  fprintf(stderr, "usage: see the top of rdkafka_group_test.c\n");
  return 2;
}
