/*
 * rdkafka_test.c — librdkafka (2.0) against a running sluice-broker.
 *
 *   rdkafka_test HOST:PORT
 *
 * 1. admin: CreateTopics (with a config), creating it again fails with
 *    TOPIC_ALREADY_EXISTS, Metadata shows it, DescribeConfigs shows the
 *    config, DeleteTopics removes it;
 * 2. an idempotent producer (enable.idempotence=true: InitProducerId,
 *    sequence numbers, acks=all, retries) sends MESSAGES keyed messages to
 *    two partitions; every delivery report must succeed with an offset;
 * 3. a consumer with manual assignment (rd_kafka_assign, no group
 *    protocol) reads them back: every message exactly once, offsets
 *    contiguous from 0 per partition, payloads as sent; then an assignment
 *    at an explicit offset, watermarks, and offsets_for_times.
 *
 * Prints one line per step; exits 0 when every check passed, 1 otherwise.
 * Compiled by tests/conformance/run.sh with pkg-config rdkafka.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#define MESSAGES 20000
#define PARTITIONS 2
#define DATA_TOPIC "rd-data"
#define ADMIN_TOPIC "rd-admin"
#define TIMEOUT_MS 20000

static int failures;

static void check(int ok, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("%s ", ok ? "ok  " : "FAIL");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  fflush(stdout);
  if (!ok)
    failures++;
}

static rd_kafka_conf_t *base_conf(const char *bootstrap) {
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err,
                        sizeof err) != RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "client.id", "sluice-rdkafka-test", err,
                        sizeof err) != RD_KAFKA_CONF_OK) {
    fprintf(stderr, "conf: %s\n", err);
    exit(1);
  }
  return conf;
}

static void conf_set(rd_kafka_conf_t *conf, const char *k, const char *v) {
  char err[512];
  if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
    fprintf(stderr, "conf %s=%s: %s\n", k, v, err);
    exit(1);
  }
}

/* ------------------------------------------------------------------ admin */

static rd_kafka_event_t *wait_event(rd_kafka_queue_t *q, rd_kafka_event_type_t t) {
  rd_kafka_event_t *ev = rd_kafka_queue_poll(q, TIMEOUT_MS);
  if (!ev || rd_kafka_event_type(ev) != t) {
    check(0, "admin result event (got %s)",
          ev ? rd_kafka_event_name(ev) : "timeout");
    if (ev)
      rd_kafka_event_destroy(ev);
    return NULL;
  }
  return ev;
}

static rd_kafka_resp_err_t create_topic(rd_kafka_t *rk, rd_kafka_queue_t *q,
                                        const char *name, int partitions,
                                        const char *cfg_key,
                                        const char *cfg_val) {
  char err[512];
  rd_kafka_NewTopic_t *nt =
      rd_kafka_NewTopic_new(name, partitions, 1, err, sizeof err);
  if (cfg_key)
    rd_kafka_NewTopic_set_config(nt, cfg_key, cfg_val);
  rd_kafka_AdminOptions_t *opt =
      rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(opt, 10000, err, sizeof err);
  rd_kafka_CreateTopics(rk, &nt, 1, opt, q);
  rd_kafka_AdminOptions_destroy(opt);
  rd_kafka_NewTopic_destroy(nt);
  rd_kafka_event_t *ev = wait_event(q, RD_KAFKA_EVENT_CREATETOPICS_RESULT);
  if (!ev)
    return RD_KAFKA_RESP_ERR__TIMED_OUT;
  size_t n = 0;
  const rd_kafka_topic_result_t **res = rd_kafka_CreateTopics_result_topics(
      rd_kafka_event_CreateTopics_result(ev), &n);
  rd_kafka_resp_err_t e = rd_kafka_event_error(ev);
  if (!e)
    e = n == 1 ? rd_kafka_topic_result_error(res[0])
               : RD_KAFKA_RESP_ERR__BAD_MSG;
  rd_kafka_event_destroy(ev);
  return e;
}

static rd_kafka_resp_err_t delete_topic(rd_kafka_t *rk, rd_kafka_queue_t *q,
                                        const char *name) {
  rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(name);
  rd_kafka_DeleteTopics(rk, &dt, 1, NULL, q);
  rd_kafka_DeleteTopic_destroy(dt);
  rd_kafka_event_t *ev = wait_event(q, RD_KAFKA_EVENT_DELETETOPICS_RESULT);
  if (!ev)
    return RD_KAFKA_RESP_ERR__TIMED_OUT;
  size_t n = 0;
  const rd_kafka_topic_result_t **res = rd_kafka_DeleteTopics_result_topics(
      rd_kafka_event_DeleteTopics_result(ev), &n);
  rd_kafka_resp_err_t e = rd_kafka_event_error(ev);
  if (!e)
    e = n == 1 ? rd_kafka_topic_result_error(res[0])
               : RD_KAFKA_RESP_ERR__BAD_MSG;
  rd_kafka_event_destroy(ev);
  return e;
}

/* Partition count of topic in a fresh metadata request, -1 if absent. */
static int topic_partitions(rd_kafka_t *rk, const char *name) {
  const struct rd_kafka_metadata *md = NULL;
  if (rd_kafka_metadata(rk, 1, NULL, &md, TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return -2;
  int n = -1;
  for (int i = 0; i < md->topic_cnt; i++)
    if (strcmp(md->topics[i].topic, name) == 0 && md->topics[i].err == 0)
      n = md->topics[i].partition_cnt;
  rd_kafka_metadata_destroy(md);
  return n;
}

static const char *describe_config(rd_kafka_t *rk, rd_kafka_queue_t *q,
                                   const char *topic, const char *key,
                                   char *out, size_t out_len) {
  rd_kafka_ConfigResource_t *cr =
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
  rd_kafka_DescribeConfigs(rk, &cr, 1, NULL, q);
  rd_kafka_ConfigResource_destroy(cr);
  rd_kafka_event_t *ev = wait_event(q, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT);
  if (!ev)
    return NULL;
  size_t n = 0, m = 0;
  const rd_kafka_ConfigResource_t **rs = rd_kafka_DescribeConfigs_result_resources(
      rd_kafka_event_DescribeConfigs_result(ev), &n);
  const char *found = NULL;
  for (size_t i = 0; i < n; i++) {
    const rd_kafka_ConfigEntry_t **es = rd_kafka_ConfigResource_configs(rs[i], &m);
    for (size_t j = 0; j < m; j++)
      if (strcmp(rd_kafka_ConfigEntry_name(es[j]), key) == 0 &&
          rd_kafka_ConfigEntry_value(es[j])) {
        snprintf(out, out_len, "%s", rd_kafka_ConfigEntry_value(es[j]));
        found = out;
      }
  }
  rd_kafka_event_destroy(ev);
  return found;
}

static void test_admin(const char *bootstrap) {
  char err[512];
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, base_conf(bootstrap), err,
                                sizeof err);
  if (!rk) {
    check(0, "rd_kafka_new: %s", err);
    return;
  }
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  rd_kafka_resp_err_t e =
      create_topic(rk, q, ADMIN_TOPIC, 3, "retention.ms", "3600000");
  check(e == 0, "CreateTopics %s (3 partitions): %s", ADMIN_TOPIC,
        rd_kafka_err2name(e));
  e = create_topic(rk, q, ADMIN_TOPIC, 3, NULL, NULL);
  check(e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS,
        "CreateTopics again: %s (want TOPIC_ALREADY_EXISTS)",
        rd_kafka_err2name(e));
  e = create_topic(rk, q, "rd-bad-config", 1, "no.such.config", "1");
  check(e == RD_KAFKA_RESP_ERR_INVALID_CONFIG,
        "CreateTopics with an unknown config: %s (want INVALID_CONFIG)",
        rd_kafka_err2name(e));
  int parts = topic_partitions(rk, ADMIN_TOPIC);
  check(parts == 3, "Metadata shows %s with %d partitions", ADMIN_TOPIC,
        parts);
  char val[128] = "";
  const char *v = describe_config(rk, q, ADMIN_TOPIC, "retention.ms", val,
                                  sizeof val);
  check(v && strcmp(v, "3600000") == 0, "DescribeConfigs retention.ms = %s",
        v ? v : "(missing)");
  e = delete_topic(rk, q, ADMIN_TOPIC);
  check(e == 0, "DeleteTopics %s: %s", ADMIN_TOPIC, rd_kafka_err2name(e));
  parts = topic_partitions(rk, ADMIN_TOPIC);
  check(parts == -1, "Metadata no longer shows %s (%d)", ADMIN_TOPIC, parts);
  e = delete_topic(rk, q, ADMIN_TOPIC);
  check(e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
        "DeleteTopics again: %s (want UNKNOWN_TOPIC_OR_PART)",
        rd_kafka_err2name(e));
  e = create_topic(rk, q, DATA_TOPIC, PARTITIONS, "segment.bytes", "262144");
  check(e == 0, "CreateTopics %s (%d partitions, segment.bytes 256 KiB): %s",
        DATA_TOPIC, PARTITIONS, rd_kafka_err2name(e));
  rd_kafka_queue_destroy(q);
  rd_kafka_destroy(rk);
}

/* --------------------------------------------------------------- producer */

typedef struct dr_state {
  int delivered;
  int failed;
  int64_t max_offset[PARTITIONS];
} dr_state;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque) {
  dr_state *st = opaque;
  if (m->err) {
    if (st->failed++ < 5)
      fprintf(stderr, "delivery failed: %s\n", rd_kafka_err2str(m->err));
    return;
  }
  st->delivered++;
  if (m->partition >= 0 && m->partition < PARTITIONS &&
      m->offset > st->max_offset[m->partition])
    st->max_offset[m->partition] = m->offset;
}

static int64_t produce_start_ms;

static void test_idempotent_producer(const char *bootstrap) {
  char err[512];
  dr_state st;
  memset(&st, 0, sizeof st);
  for (int i = 0; i < PARTITIONS; i++)
    st.max_offset[i] = -1;
  rd_kafka_conf_t *conf = base_conf(bootstrap);
  conf_set(conf, "enable.idempotence", "true");
  conf_set(conf, "message.send.max.retries", "1000");
  conf_set(conf, "retry.backoff.ms", "50");
  conf_set(conf, "linger.ms", "5");
  conf_set(conf, "batch.num.messages", "500");
  conf_set(conf, "compression.codec", "snappy");
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, &st);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    check(0, "rd_kafka_new: %s", err);
    return;
  }
  produce_start_ms = (int64_t)time(NULL) * 1000;
  for (int i = 0; i < MESSAGES; i++) {
    char key[32], val[64];
    snprintf(key, sizeof key, "key-%d", i);
    snprintf(val, sizeof val, "msg-%d", i);
    rd_kafka_resp_err_t e;
    do {
      e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(DATA_TOPIC),
                            RD_KAFKA_V_PARTITION(i % PARTITIONS),
                            RD_KAFKA_V_KEY(key, strlen(key)),
                            RD_KAFKA_V_VALUE(val, strlen(val)),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                            RD_KAFKA_V_END);
      if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(rk, 10);
    } while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL);
    if (e) {
      check(0, "producev: %s", rd_kafka_err2str(e));
      break;
    }
    rd_kafka_poll(rk, 0);
  }
  rd_kafka_resp_err_t fe = rd_kafka_flush(rk, 60000);
  check(fe == 0 && st.delivered == MESSAGES && st.failed == 0,
        "idempotent producer: %d delivered, %d failed (flush: %s)",
        st.delivered, st.failed, rd_kafka_err2name(fe));
  check(st.max_offset[0] == MESSAGES / PARTITIONS - 1 &&
            st.max_offset[1] == MESSAGES / PARTITIONS - 1,
        "last offsets %" PRId64 ", %" PRId64 " (no gaps, no duplicates)",
        st.max_offset[0], st.max_offset[1]);
  char fatal[256];
  rd_kafka_resp_err_t fatal_err = rd_kafka_fatal_error(rk, fatal, sizeof fatal);
  check(fatal_err == 0, "no fatal idempotence error (%s)",
        fatal_err ? fatal : "none");
  rd_kafka_destroy(rk);
}

/* --------------------------------------------------------------- consumer */

static rd_kafka_t *new_consumer(const char *bootstrap) {
  char err[512];
  rd_kafka_conf_t *conf = base_conf(bootstrap);
  conf_set(conf, "group.id", "sluice-rdkafka-test");
  conf_set(conf, "enable.auto.commit", "false");
  conf_set(conf, "enable.auto.offset.store", "false");
  conf_set(conf, "enable.partition.eof", "true");
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk)
    check(0, "rd_kafka_new consumer: %s", err);
  else
    rd_kafka_poll_set_consumer(rk);
  return rk;
}

static void assign(rd_kafka_t *rk, int64_t offset0, int64_t offset1) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(2);
  rd_kafka_topic_partition_list_add(l, DATA_TOPIC, 0)->offset = offset0;
  rd_kafka_topic_partition_list_add(l, DATA_TOPIC, 1)->offset = offset1;
  rd_kafka_resp_err_t e = rd_kafka_assign(rk, l);
  if (e)
    check(0, "assign: %s", rd_kafka_err2name(e));
  rd_kafka_topic_partition_list_destroy(l);
}

static void test_consumer(const char *bootstrap) {
  rd_kafka_t *rk = new_consumer(bootstrap);
  if (!rk)
    return;
  assign(rk, RD_KAFKA_OFFSET_BEGINNING, RD_KAFKA_OFFSET_BEGINNING);
  unsigned char *seen = calloc(MESSAGES, 1);
  int64_t next[PARTITIONS] = {0, 0};
  int got = 0, dups = 0, bad = 0, eofs = 0;
  time_t deadline = time(NULL) + 60;
  while (got < MESSAGES && time(NULL) < deadline) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
    if (!m)
      continue;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      eofs++;
    } else if (m->err) {
      if (bad++ < 5)
        fprintf(stderr, "consume error: %s\n", rd_kafka_message_errstr(m));
    } else {
      int i = -1;
      char val[64] = "", key[32];
      snprintf(val, sizeof val, "%.*s", (int)m->len, (const char *)m->payload);
      if (sscanf(val, "msg-%d", &i) != 1 || i < 0 || i >= MESSAGES ||
          m->partition != i % PARTITIONS || m->offset != next[m->partition]) {
        if (bad++ < 5)
          fprintf(stderr, "unexpected message %s at %d/%" PRId64 "\n", val,
                  (int)m->partition, m->offset);
      } else {
        snprintf(key, sizeof key, "key-%d", i);
        if (m->key_len != strlen(key) || memcmp(m->key, key, m->key_len))
          bad++;
        if (seen[i]++)
          dups++;
        next[m->partition]++;
        got++;
      }
    }
    rd_kafka_message_destroy(m);
  }
  check(got == MESSAGES && dups == 0 && bad == 0,
        "consumer (manual assignment from the beginning): %d of %d messages, "
        "%d duplicates, %d bad",
        got, MESSAGES, dups, bad);
  free(seen);

  /* Re-assign at explicit offsets. */
  assign(rk, 5, 7);
  int64_t first[PARTITIONS] = {-1, -1};
  deadline = time(NULL) + 20;
  while ((first[0] < 0 || first[1] < 0) && time(NULL) < deadline) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
    if (!m)
      continue;
    if (!m->err && m->partition < PARTITIONS && first[m->partition] < 0)
      first[m->partition] = m->offset;
    rd_kafka_message_destroy(m);
  }
  check(first[0] == 5 && first[1] == 7,
        "assign at offsets 5 and 7: first offsets %" PRId64 ", %" PRId64,
        first[0], first[1]);

  int64_t lo = -1, hi = -1;
  rd_kafka_resp_err_t e =
      rd_kafka_query_watermark_offsets(rk, DATA_TOPIC, 0, &lo, &hi, TIMEOUT_MS);
  check(e == 0 && lo == 0 && hi == MESSAGES / PARTITIONS,
        "watermarks of partition 0: %" PRId64 "..%" PRId64 " (%s)", lo, hi,
        rd_kafka_err2name(e));

  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(2);
  rd_kafka_topic_partition_list_add(l, DATA_TOPIC, 0)->offset =
      produce_start_ms - 60000;
  rd_kafka_topic_partition_list_add(l, DATA_TOPIC, 1)->offset =
      produce_start_ms + 3600000;
  e = rd_kafka_offsets_for_times(rk, l, TIMEOUT_MS);
  check(e == 0 && l->elems[0].offset == 0 && l->elems[1].offset == -1,
        "offsets_for_times: past -> %" PRId64 ", future -> %" PRId64 " (%s)",
        l->elems[0].offset, l->elems[1].offset, rd_kafka_err2name(e));
  rd_kafka_topic_partition_list_destroy(l);
  (void)eofs;
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: rdkafka_test HOST:PORT\n");
    return 2;
  }
  printf("librdkafka %s against %s\n", rd_kafka_version_str(), argv[1]);
  test_admin(argv[1]);
  test_idempotent_producer(argv[1]);
  test_consumer(argv[1]);
  printf("%s (%d failures)\n", failures ? "FAILED" : "passed", failures);
  return failures ? 1 : 0;
}
