/*
 * broker_crash.c — the `broker-crash` scenario (see broker_crash.h): a real
 * broker node, a producer and a consumer on the Kafka client, broker
 * crashes read against the simulated disk's durable image.
 *
 * Ground truth kept by the harness:
 *   - every produced record (id, partition, when it was queued);
 *   - every acknowledgement (partition, offset, id) and every record the
 *     consumer read (partition, offset, id, when);
 *   - at every crash, per partition, the records the durable image of the
 *     segment holds from offset 0 (what was flushed), decoded here with
 *     broker/log/batch.h, independently of the broker's recovery;
 *   - after the heal, the whole log as a fresh consumer reads it.
 * The checks at the end compare them (broker_crash.h lists them).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "base/assert.h"
#include "base/splitmix.h"
#include "broker/client/client.h"
#include "broker/log/batch.h"
#include "broker/server/broker.h"
#include "sim/scenarios/broker_crash.h"
#include "sim/sim.h"

#define MS_NS (UINT64_C(1000) * 1000)
#define TOPIC "events"
#define BROKER_HOST "b1"
#define BROKER_PORT 9092
#define LOG_DIR "/data"
#define NODES 3u
#define CONN_TIMEOUT_NS (200 * MS_NS)
#define RESTART_DELAY_NS_MAX (150 * MS_NS)
#define AUTO_HEAL_NS_MAX (400 * MS_NS)
/* After the heal: how long outstanding records may take (a little more
 * than the producer's delivery timeout), then the verification pass. */
#define DELIVERY_TIMEOUT_MS 3000u
#define DRAIN_NS_MAX ((DELIVERY_TIMEOUT_MS + 2000) * MS_NS)
#define VERIFY_NS_MAX (5000 * MS_NS)
#define STEP_NS (10 * MS_NS)
#define TICK_NS (2 * MS_NS)
#define RECORDS_PER_TICK_MAX 4u
#define PAD_BYTES_MAX 120u
/* Values read "r" + 6 digits + padding. */
#define VALUE_ID_DIGITS 6
#define VALUE_BYTES_MAX (1 + VALUE_ID_DIGITS + PAD_BYTES_MAX)
/* The durable segment a crash inspects is read whole; a run writes far
 * less than this. */
#define DURABLE_READ_BYTES_MAX ((uint64_t)64 << 20)

typedef enum fault_kind {
  FAULT_CRASH,
  FAULT_STOP,
  FAULT_PARTITION,
  FAULT_ONE_WAY,
  FAULT_RESET,
  FAULT_FSYNC_EIO,
  FAULT_COUNT_
} fault_kind;

static const char *const fault_names[FAULT_COUNT_] = {
    "crash", "stop", "partition", "one_way", "reset", "fsync_eio"};

typedef struct bc_harness bc_harness;

/* One produced record; the array of them is allocated once, so a pointer
 * to one is a stable delivery-callback argument. */
typedef struct bc_rec {
  bc_harness *h;
  uint32_t id;
  int32_t partition;
  uint64_t queued_ns;
  bool done;
} bc_rec;

/* An acknowledgement (t_ns = when the record was queued) or a read
 * (t_ns = when the consumer got it). */
typedef struct bc_obs {
  int64_t offset;
  uint32_t id;
  uint64_t t_ns;
} bc_obs;

typedef struct bc_crash {
  uint64_t t_ns;
  GArray *durable[BROKER_CRASH_PARTITIONS]; /* uint32_t id per offset */
} bc_crash;

typedef struct bc_producer {
  env_t *env;
  bc_harness *h;
  kclient_t *kc;
  uint64_t tick_timer;
} bc_producer;

typedef struct bc_consumer {
  env_t *env;
  bc_harness *h;
  kclient_t *kc;
  kclient_consumer_t *live;
  kclient_consumer_t *verify;
  uint64_t tick_timer;
  int64_t live_last[BROKER_CRASH_PARTITIONS]; /* -1: none in this pass */
} bc_consumer;

struct bc_harness {
  sim_t *sim;
  sim_scenario_result *result;
  broker_config bcfg;
  sim_node_t *broker;
  sim_node_t *producer;
  sim_node_t *consumer;
  bool faults;
  bool idempotent; /* the producer is idempotent (drawn per seed) */
  bool producing;
  bool broker_down; /* taken down by a fault, restart pending */
  bool verify_requested;
  bool verify_started;
  int64_t verify_end[BROKER_CRASH_PARTITIONS];
  bc_rec *recs; /* BROKER_CRASH_RECORDS_MAX */
  uint32_t rec_count;
  uint32_t recs_done;
  GArray *acks[BROKER_CRASH_PARTITIONS];  /* bc_obs */
  GArray *reads[BROKER_CRASH_PARTITIONS]; /* bc_obs */
  GArray *final[BROKER_CRASH_PARTITIONS]; /* uint32_t id per offset */
  GArray *crashes;                        /* bc_crash, in time order */
  unsigned fault_weight[FAULT_COUNT_];
  unsigned fault_weight_total;
  uint64_t fault_mean_ns;
  uint64_t fault_end_ns;
  uint64_t fault_count[FAULT_COUNT_];
  uint64_t restarts, halts, produce_failed, acked_unflushed_lost, reads_total;
  uint64_t reads_undurable_changed, consumer_errors, dups_across_pids;
};

/* ------------------------------------------------------------ checker */

static void violation(bc_harness *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void violation(bc_harness *h, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *what = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  char *text = g_strdup_printf("t=%" PRIu64 "ns %s", sim_now_ns(h->sim), what);
  sim_scenario_result_violation(h->result, text);
  sim_trace(h->sim, NULL, "check.violation", "\"what\":\"%s\"", what);
  g_free(text);
  g_free(what);
}

/* The record id in a value "rNNNNNN...", or -1. */
static int64_t value_id(const uint8_t *v, int32_t len) {
  if (!v || len < 1 + VALUE_ID_DIGITS || v[0] != 'r')
    return -1;
  int64_t id = 0;
  for (int i = 1; i <= VALUE_ID_DIGITS; i++) {
    if (v[i] < '0' || v[i] > '9')
      return -1;
    id = id * 10 + (v[i] - '0');
  }
  return id;
}

/* The records of a partition's first segment in the broker's durable disk
 * image, from offset 0 while batches are whole, valid and contiguous: what
 * a crash now cannot take away. */
/* pids, if not NULL, gets each record's producer id (int64_t), in step
 * with the ids. */
static GArray *durable_ids(bc_harness *h, int32_t partition, GArray *pids) {
  GArray *ids = g_array_new(FALSE, FALSE, sizeof(uint32_t));
  sim_disk_t *disk = sim_node_disk(h->broker);
  char path[128];
  snprintf(path, sizeof path, "%s/%s-%d/%020d.log", LOG_DIR, TOPIC,
           (int)partition, 0);
  uint64_t size = 0;
  if (sim_disk_durable_size(disk, path, &size) < 0 || size == 0)
    return ids;
  SL_ASSERT(size <= DURABLE_READ_BYTES_MAX);
  uint8_t *data = g_malloc(size);
  size_t got = 0;
  if (sim_disk_durable_pread(disk, path, data, size, 0, &got) < 0)
    goto out_free;
  batch_limits limits = {0, true, true};
  size_t pos = 0;
  while (pos < got) {
    int64_t total = batch_total_bytes(data + pos, got - pos);
    if (total < 0 || (uint64_t)total > got - pos ||
        batch_validate(data + pos, (size_t)total, &limits) != 0)
      break;
    int err = 0;
    batch_iter *it = batch_iter_new(data + pos, (size_t)total, &err);
    if (!it)
      break;
    batch_record rec;
    bool ok = true;
    while (ok && batch_iter_next(it, &rec) == 1) {
      int64_t id = value_id(rec.value, rec.value_len);
      if (rec.offset != (int64_t)ids->len || id < 0) {
        ok = false;
        break;
      }
      uint32_t id32 = (uint32_t)id;
      g_array_append_val(ids, id32);
      if (pids) {
        int64_t pid = batch_iter_header(it)->producer_id;
        g_array_append_val(pids, pid);
      }
    }
    batch_iter_free(it);
    if (!ok)
      break;
    pos += (size_t)total;
  }
out_free:
  g_free(data);
  return ids;
}

/* The first crash at or after t, or NULL. */
static const bc_crash *crash_after(bc_harness *h, uint64_t t_ns) {
  for (guint i = 0; i < h->crashes->len; i++) {
    const bc_crash *c = &g_array_index(h->crashes, bc_crash, i);
    if (c->t_ns >= t_ns)
      return c;
  }
  return NULL;
}

static bool final_has(bc_harness *h, int32_t p, int64_t offset, uint32_t id) {
  GArray *f = h->final[p];
  return offset >= 0 && (guint64)offset < f->len &&
         g_array_index(f, uint32_t, offset) == id;
}

/* Checks one acknowledgement or read against the durable image of the
 * crash that followed it and the final log. Returns true when it had to
 * survive. */
static bool check_obs(bc_harness *h, int32_t p, const bc_obs *o,
                      const char *what) {
  const bc_crash *c = crash_after(h, o->t_ns);
  if (c) {
    GArray *d = c->durable[p];
    if ((guint64)o->offset >= d->len)
      return false; /* not flushed when the broker crashed */
    uint32_t durable = g_array_index(d, uint32_t, o->offset);
    if (durable != o->id)
      violation(h,
                "%s r%06u at %s-%d@%" PRId64
                " but the durable image at the crash at t=%" PRIu64
                "ns holds r%06u there",
                what, o->id, TOPIC, (int)p, o->offset, c->t_ns, durable);
  }
  if (!final_has(h, p, o->offset, o->id)) {
    GArray *f = h->final[p];
    if ((guint64)o->offset < f->len)
      violation(h,
                "%s r%06u at %s-%d@%" PRId64
                " (flushed) but the final log holds r%06u there",
                what, o->id, TOPIC, (int)p, o->offset,
                g_array_index(f, uint32_t, o->offset));
    else
      violation(h,
                "%s r%06u at %s-%d@%" PRId64
                " (flushed) but the final log ends at %u: lost",
                what, o->id, TOPIC, (int)p, o->offset, f->len);
  }
  return true;
}

/* With the idempotent producer, a record may be in the log twice only if
 * the client gave up on its first attempt's outcome and resent it under a
 * new producer id (the client resets the id after OUT_OF_ORDER_SEQUENCE,
 * which a crash that took unflushed batches causes): the broker can only
 * deduplicate within one producer id. Two copies under the same producer
 * id are a violation; across ids they are counted. The producer ids come
 * from the durable image, complete once every flush has finished. */
static void check_no_duplicates(bc_harness *h, int32_t p) {
  GArray *f = h->final[p];
  GArray *pids = g_array_new(FALSE, FALSE, sizeof(int64_t));
  GArray *ids = durable_ids(h, p, pids);
  GHashTable *seen = g_hash_table_new(g_direct_hash, g_direct_equal);
  if (ids->len != f->len) {
    violation(h,
              "%s-%d: the durable image holds %u records after the run, "
              "the log %u",
              TOPIC, (int)p, ids->len, f->len);
    goto out_free;
  }
  for (guint off = 0; off < f->len; off++) {
    uint32_t id = g_array_index(f, uint32_t, off);
    gpointer key = GUINT_TO_POINTER(id + 1);
    gpointer first = g_hash_table_lookup(seen, key);
    if (!first) {
      g_hash_table_insert(seen, key, GUINT_TO_POINTER(off + 1));
      continue;
    }
    guint first_off = GPOINTER_TO_UINT(first) - 1;
    int64_t pid_first = g_array_index(pids, int64_t, first_off);
    int64_t pid_again = g_array_index(pids, int64_t, off);
    if (pid_first == pid_again)
      violation(h,
                "idempotent producer: r%06u is in %s-%d twice under producer"
                " id %" PRId64 ", at %u and %u",
                id, TOPIC, (int)p, pid_first, first_off, off);
    else
      h->dups_across_pids++;
  }
out_free:
  g_hash_table_destroy(seen);
  g_array_free(ids, TRUE);
  g_array_free(pids, TRUE);
}

static void check_all(bc_harness *h) {
  broker_t *b = sim_node_ctx(h->broker);
  for (int32_t p = 0; p < BROKER_CRASH_PARTITIONS; p++) {
    /* The log as read must be the broker's whole log. */
    int64_t end = b ? broker_partition_end_offset(b, TOPIC, p) : -1;
    if (end < 0)
      end = 0;
    if ((int64_t)h->final[p]->len != end)
      violation(h, "verification read %u records of %s-%d, log end is %" PRId64,
                h->final[p]->len, TOPIC, (int)p, end);
    /* The idempotent producer's retries never append a record twice. */
    if (h->idempotent)
      check_no_duplicates(h, p);
    /* The broker answers only once the batch is flushed (flush.messages
     * is 1 here), so every acknowledged record must be in the final log
     * at its offset; check_obs also checks one value per offset. */
    for (guint i = 0; i < h->acks[p]->len; i++) {
      const bc_obs *o = &g_array_index(h->acks[p], bc_obs, i);
      check_obs(h, p, o, "acknowledged");
      if (!final_has(h, p, o->offset, o->id)) {
        h->acked_unflushed_lost++;
        violation(h,
                  "acknowledged record %" PRIu64 " at %s-%d@%" PRId64
                  " is not in the final log",
                  (uint64_t)o->id, TOPIC, (int)p, o->offset);
      }
    }
    for (guint i = 0; i < h->reads[p]->len; i++) {
      const bc_obs *o = &g_array_index(h->reads[p], bc_obs, i);
      if (!check_obs(h, p, o, "consumer read") &&
          !final_has(h, p, o->offset, o->id))
        h->reads_undurable_changed++;
    }
  }
}

/* ----------------------------------------------------------- producer */

static void on_delivery(void *arg, const kclient_delivery *d) {
  bc_rec *r = arg;
  bc_harness *h = r->h;
  SL_ASSERT(!r->done);
  r->done = true;
  h->recs_done++;
  if (d->err != 0 || d->offset < 0) {
    h->produce_failed++;
    return;
  }
  if (d->partition != r->partition)
    violation(h, "r%06u sent to partition %d, acknowledged on %d", r->id,
              (int)r->partition, (int)d->partition);
  bc_obs o = {.offset = d->offset, .id = r->id, .t_ns = r->queued_ns};
  g_array_append_val(h->acks[r->partition], o);
}

static void producer_queue_one(bc_producer *pr) {
  bc_harness *h = pr->h;
  bc_rec *r = &h->recs[h->rec_count];
  char value[VALUE_BYTES_MAX + 1];
  size_t pad = (size_t)env_rand_below(pr->env, PAD_BYTES_MAX + 1);
  int n = snprintf(value, sizeof value, "r%0*u", VALUE_ID_DIGITS, h->rec_count);
  SL_ASSERT(n == 1 + VALUE_ID_DIGITS);
  memset(value + n, 'x', pad);
  r->h = h;
  r->id = h->rec_count;
  r->partition = (int32_t)env_rand_below(pr->env, BROKER_CRASH_PARTITIONS);
  r->queued_ns = sim_now_ns(h->sim);
  kclient_message m = {.topic = TOPIC,
                       .partition = r->partition,
                       .key = NULL,
                       .key_len = -1,
                       .value = value,
                       .value_len = (int32_t)(n + (int)pad),
                       .timestamp_ms = -1};
  if (kclient_produce(pr->kc, &m, on_delivery, r) == 0)
    h->rec_count++;
}

static void producer_tick(void *arg) {
  bc_producer *pr = arg;
  bc_harness *h = pr->h;
  pr->tick_timer = 0;
  if (h->producing) {
    unsigned n = 1 + (unsigned)env_rand_below(pr->env, RECORDS_PER_TICK_MAX);
    for (unsigned i = 0; i < n && h->rec_count < BROKER_CRASH_RECORDS_MAX; i++)
      producer_queue_one(pr);
  }
  pr->tick_timer =
      env_timer_start(pr->env, TICK_NS / 2 + env_rand_below(pr->env, TICK_NS),
                      producer_tick, pr);
}

/* Client settings shared by both client nodes: short timeouts and quick
 * reconnects, so faults turn into retries within the run. */
static void client_config(kclient_config *kc) {
  kclient_config_default(kc);
  kc->bootstrap_servers = BROKER_HOST ":9092";
  kc->request_timeout_ms = 500;
  kc->op_timeout_ms = 600000;
  kc->retry_backoff_ms = 20;
  kc->retry_backoff_max_ms = 200;
  kc->reconnect_backoff_ms = 20;
  kc->reconnect_backoff_max_ms = 200;
  kc->connect_failures_max = 1000000;
  kc->metadata_max_age_ms = 5000;
}

static void *producer_start(env_t *env, void *config) {
  bc_harness *h = config;
  bc_producer *pr = g_new0(bc_producer, 1);
  pr->env = env;
  pr->h = h;
  kclient_config kc;
  client_config(&kc);
  kc.client_id = "producer";
  kc.acks = -1;
  kc.idempotence = h->idempotent;
  kc.linger_ms = 1 + (uint32_t)env_rand_below(env, 5);
  kc.allow_auto_create_topics = true;
  kc.delivery_timeout_ms = DELIVERY_TIMEOUT_MS;
  char msg[KCLIENT_ERRMSG_BYTES];
  int rc = kclient_new(env, &kc, &pr->kc, msg);
  SL_ASSERT(rc == 0);
  pr->tick_timer = env_timer_start(env, TICK_NS, producer_tick, pr);
  return pr;
}

static void producer_stop(void *ctx) {
  bc_producer *pr = ctx;
  if (!pr)
    return;
  if (pr->tick_timer)
    env_timer_cancel(pr->env, pr->tick_timer);
  kclient_free(pr->kc);
  g_free(pr);
}

static const env_node_ops producer_ops = {"bc-producer", producer_start,
                                          producer_stop};

/* ----------------------------------------------------------- consumer */

static void live_record(void *arg, const kclient_record *r) {
  bc_consumer *co = arg;
  bc_harness *h = co->h;
  int32_t p = r->partition;
  h->reads_total++;
  if (p < 0 || p >= BROKER_CRASH_PARTITIONS || strcmp(r->topic, TOPIC) != 0) {
    violation(h, "consumer got a record of %s-%d", r->topic, (int)p);
    return;
  }
  int64_t id = value_id(r->value, r->value_len);
  if (id < 0 || (uint64_t)id >= h->rec_count) {
    violation(h, "consumer read a value no one produced at %s-%d@%" PRId64,
              TOPIC, (int)p, r->offset);
    return;
  }
  /* A pass reads consecutive offsets; a smaller one starts a new pass (the
   * position was reset after the log was cut back by a crash). */
  if (co->live_last[p] >= 0 && r->offset > co->live_last[p] + 1)
    violation(h, "consumer skipped %s-%d offsets %" PRId64 "..%" PRId64, TOPIC,
              (int)p, co->live_last[p] + 1, r->offset - 1);
  co->live_last[p] = r->offset;
  bc_obs o = {
      .offset = r->offset, .id = (uint32_t)id, .t_ns = sim_now_ns(h->sim)};
  g_array_append_val(h->reads[p], o);
}

static void verify_record(void *arg, const kclient_record *r) {
  bc_consumer *co = arg;
  bc_harness *h = co->h;
  int32_t p = r->partition;
  if (p < 0 || p >= BROKER_CRASH_PARTITIONS)
    return;
  GArray *f = h->final[p];
  int64_t id = value_id(r->value, r->value_len);
  if (r->offset != (int64_t)f->len) {
    violation(h, "verification read %s-%d@%" PRId64 " after %u records", TOPIC,
              (int)p, r->offset, f->len);
    return;
  }
  if (id < 0 || (uint64_t)id >= h->rec_count) {
    violation(h, "verification read a value no one produced at %s-%d@%" PRId64,
              TOPIC, (int)p, r->offset);
    id = UINT32_MAX;
  }
  uint32_t id32 = (uint32_t)id;
  g_array_append_val(f, id32);
}

static void consumer_error(void *arg, const char *topic, int32_t partition,
                           int err, const char *errmsg) {
  bc_consumer *co = arg;
  co->h->consumer_errors++;
  /* The client also reports errors it keeps retrying (a topic not created
   * yet because the broker keeps crashing); only an error a retry will not
   * cure — bytes that do not decode, a batch too large — means the broker
   * served something wrong. Liveness catches the rest. */
  if (!kclient_err_retriable(err))
    violation(co->h, "consumer stopped on %s-%d: %s (%s)", topic,
              (int)partition, kclient_err_name(err), errmsg);
}

static kclient_consumer_t *
consumer_open(bc_consumer *co,
              void (*on_record)(void *, const kclient_record *)) {
  kclient_consumer_config cc;
  kclient_consumer_config_default(&cc);
  cc.max_wait_ms = 100;
  cc.on_record = on_record;
  cc.on_error = consumer_error;
  cc.arg = co;
  kclient_consumer_t *k = kclient_consumer_new(co->kc, &cc);
  SL_ASSERT(k != NULL);
  for (int32_t p = 0; p < BROKER_CRASH_PARTITIONS; p++) {
    int rc = kclient_consumer_assign(k, TOPIC, p, KCLIENT_OFFSET_EARLIEST);
    SL_ASSERT(rc == 0);
  }
  return k;
}

/* The node polls for the harness's request, so every client call is made
 * from one of the node's own callbacks. */
static void consumer_tick(void *arg) {
  bc_consumer *co = arg;
  bc_harness *h = co->h;
  co->tick_timer = 0;
  if (h->verify_requested && !h->verify_started) {
    h->verify_started = true;
    kclient_consumer_free(co->live);
    co->live = NULL;
    co->verify = consumer_open(co, verify_record);
    return;
  }
  co->tick_timer = env_timer_start(co->env, STEP_NS, consumer_tick, co);
}

static void *consumer_start(env_t *env, void *config) {
  bc_harness *h = config;
  bc_consumer *co = g_new0(bc_consumer, 1);
  co->env = env;
  co->h = h;
  for (int p = 0; p < BROKER_CRASH_PARTITIONS; p++)
    co->live_last[p] = -1;
  kclient_config kc;
  client_config(&kc);
  kc.client_id = "consumer";
  char msg[KCLIENT_ERRMSG_BYTES];
  int rc = kclient_new(env, &kc, &co->kc, msg);
  SL_ASSERT(rc == 0);
  co->live = consumer_open(co, live_record);
  co->tick_timer = env_timer_start(env, STEP_NS, consumer_tick, co);
  return co;
}

static void consumer_stop(void *ctx) {
  bc_consumer *co = ctx;
  if (!co)
    return;
  if (co->tick_timer)
    env_timer_cancel(co->env, co->tick_timer);
  kclient_consumer_free(co->live);
  kclient_consumer_free(co->verify);
  kclient_free(co->kc);
  g_free(co);
}

static const env_node_ops consumer_ops = {"bc-consumer", consumer_start,
                                          consumer_stop};

/* ------------------------------------------------------------- faults */

static sim_node_t *draw_client(bc_harness *h) {
  return sim_rand_below(h->sim, SIM_STREAM_FAULTS, 2) ? h->producer
                                                      : h->consumer;
}

static void heal_event(sim_t *sim, void *arg) { sim_heal(sim); }

static void restart_event(sim_t *sim, void *arg) {
  bc_harness *h = arg;
  if (!h->broker_down)
    return; /* the final heal restarted it already */
  h->broker_down = false;
  h->restarts++;
  sim_node_restart(sim, h->broker);
}

static void take_broker_down(bc_harness *h, bool crash) {
  if (h->broker_down || !sim_node_is_up(h->broker))
    return;
  if (crash) {
    /* What is durable now is what the crash cannot take: record it before
     * the disk throws the rest away. */
    bc_crash c = {.t_ns = sim_now_ns(h->sim)};
    for (int32_t p = 0; p < BROKER_CRASH_PARTITIONS; p++)
      c.durable[p] = durable_ids(h, p, NULL);
    g_array_append_val(h->crashes, c);
    unsigned flags = sim_rand_below(h->sim, SIM_STREAM_FAULTS, 2)
                         ? SIM_DISK_CRASH_GARBAGE
                         : 0;
    sim_node_crash(h->sim, h->broker, flags);
  } else {
    sim_node_stop(h->sim, h->broker);
  }
  h->broker_down = true;
  sim_schedule(
      h->sim,
      1 + sim_rand_below(h->sim, SIM_STREAM_FAULTS, RESTART_DELAY_NS_MAX),
      restart_event, h);
}

static void apply_fault(bc_harness *h, fault_kind kind) {
  h->fault_count[kind]++;
  sim_node_t *client;
  switch (kind) {
  case FAULT_CRASH:
    take_broker_down(h, true);
    break;
  case FAULT_STOP:
    take_broker_down(h, false);
    break;
  case FAULT_PARTITION:
    sim_partition(h->sim, h->broker, draw_client(h));
    sim_schedule(
        h->sim, 1 + sim_rand_below(h->sim, SIM_STREAM_FAULTS, AUTO_HEAL_NS_MAX),
        heal_event, h);
    break;
  case FAULT_ONE_WAY:
    client = draw_client(h);
    if (sim_rand_below(h->sim, SIM_STREAM_FAULTS, 2))
      sim_link_block(h->sim, h->broker, client, true);
    else
      sim_link_block(h->sim, client, h->broker, true);
    sim_schedule(
        h->sim, 1 + sim_rand_below(h->sim, SIM_STREAM_FAULTS, AUTO_HEAL_NS_MAX),
        heal_event, h);
    break;
  case FAULT_RESET:
    sim_reset_connections(h->sim, h->broker, draw_client(h));
    break;
  case FAULT_FSYNC_EIO:
    /* The broker's next fsync fails; a log it hits goes offline and
     * halt_watch_event restarts the broker. */
    if (!h->broker_down && sim_node_is_up(h->broker))
      sim_disk_fail_next_fsync(sim_node_disk(h->broker));
    break;
  case FAULT_COUNT_:
    SL_ASSERT(false);
  }
}

static void fault_event(sim_t *sim, void *arg) {
  bc_harness *h = arg;
  if (sim_now_ns(sim) >= h->fault_end_ns)
    return;
  apply_fault(h, (fault_kind)sim_scenario_pick_weighted(sim, h->fault_weight,
                                                        FAULT_COUNT_,
                                                        h->fault_weight_total));
  sim_schedule(sim, sim_scenario_draw_exp_ns(sim, h->fault_mean_ns),
               fault_event, h);
}

/* An operator's answer to an offline log (Kafka halts the broker): stop the
 * broker (its page cache stays) and restart it after the usual delay. Polls
 * every tick while fsync faults are on, to the end of the run. */
static void halt_watch_event(sim_t *sim, void *arg) {
  bc_harness *h = arg;
  broker_t *b = sim_node_ctx(h->broker);
  if (!h->broker_down && b) {
    for (int32_t p = 0; p < BROKER_CRASH_PARTITIONS; p++) {
      if (broker_partition_offline(b, TOPIC, p)) {
        h->halts++;
        take_broker_down(h, false);
        break;
      }
    }
  }
  sim_schedule(sim, TICK_NS, halt_watch_event, h);
}

/* Swarm testing: each seed enables its own subset of fault classes with
 * its own weights and rate; crashes are always on (the scenario's point). */
static void draw_swarm(bc_harness *h) {
  sim_t *sim = h->sim;
  for (int kind = 0; kind < FAULT_COUNT_; kind++) {
    bool on =
        kind == FAULT_CRASH || sim_rand_below(sim, SIM_STREAM_FAULTS, 2) == 1;
    unsigned weight = 1 + (unsigned)sim_rand_below(sim, SIM_STREAM_FAULTS, 4);
    h->fault_weight[kind] = on ? weight : 0;
    h->fault_weight_total += h->fault_weight[kind];
  }
  h->fault_mean_ns = (20 + sim_rand_below(sim, SIM_STREAM_FAULTS, 181)) * MS_NS;
  GString *s = g_string_new("");
  for (int kind = 0; kind < FAULT_COUNT_; kind++)
    g_string_append_printf(s, ",\"%s\":%u", fault_names[kind],
                           h->fault_weight[kind]);
  sim_trace(sim, NULL, "broker_crash.swarm", "\"mean_ns\":%" PRIu64 "%s",
            h->fault_mean_ns, s->str);
  g_string_free(s, TRUE);
}

static void final_heal_event(sim_t *sim, void *arg) {
  bc_harness *h = arg;
  sim_trace(sim, NULL, "broker_crash.final_heal", NULL);
  sim_heal(sim);
  sim_disk_clear_faults(sim_node_disk(h->broker));
  h->producing = false;
  if (h->broker_down) {
    h->broker_down = false;
    h->restarts++;
    sim_node_restart(sim, h->broker);
  }
}

/* -------------------------------------------------------------- setup */

static void broker_setup(broker_config *cfg) {
  broker_config_default(cfg);
  cfg->node_id = 1;
  g_free(cfg->listen_host);
  cfg->listen_host = g_strdup("");
  cfg->listen_port = BROKER_PORT;
  g_free(cfg->advertised_host);
  cfg->advertised_host = g_strdup(BROKER_HOST);
  cfg->advertised_port = BROKER_PORT;
  g_strfreev(cfg->log_dirs);
  cfg->log_dirs = g_new0(char *, 2);
  cfg->log_dirs[0] = g_strdup(LOG_DIR);
  cfg->log_dir_count = 1;
  cfg->num_partitions = BROKER_CRASH_PARTITIONS;
  cfg->auto_create_topics = true;
  /* log.flush.interval.messages=1: every append starts an fsync. */
  cfg->log_defaults.flush_messages = 1;
}

/* Network knobs are fixed before the sim exists, so they come from their
 * own function of the seed. */
static void draw_sim_options(const sim_scenario_opts *o, sim_options *so) {
  uint64_t x = o->seed ^ UINT64_C(0x42524f4b45524352);
  sim_options_default(so, o->seed);
  so->conn_timeout_ns = CONN_TIMEOUT_NS;
  sim_options_draw_links(so, &x);
  so->fsync_latency_mean_extra_ns = (100 + splitmix64_next(&x) % 2000) * 1000;
  so->keep_trace = o->keep_trace || o->trace_out != NULL;
  so->log_level = o->log_level;
}

/* Runs in STEP_NS slices until done(h) or the deadline; true if done. */
static bool run_until(bc_harness *h, bool (*done)(bc_harness *),
                      uint64_t deadline_ns) {
  while (!done(h) && sim_now_ns(h->sim) < deadline_ns)
    sim_run_until(h->sim, sim_now_ns(h->sim) + STEP_NS);
  return done(h);
}

static bool drained(bc_harness *h) {
  return h->recs_done == h->rec_count && sim_node_is_up(h->broker) &&
         sim_node_ctx(h->broker) != NULL;
}

static bool verified(bc_harness *h) {
  if (!h->verify_started)
    return false;
  for (int p = 0; p < BROKER_CRASH_PARTITIONS; p++)
    if ((int64_t)h->final[p]->len < h->verify_end[p])
      return false;
  return true;
}

static void fill_result(bc_harness *h, const sim_scenario_opts *o) {
  sim_scenario_result *r = h->result;
  r->trace_hash = sim_trace_hash(h->sim);
  r->trace_events = sim_trace_events(h->sim);
  r->events = sim_events_run(h->sim);
  r->virtual_ns = sim_now_ns(h->sim);
  if (o->keep_trace) {
    size_t len = 0;
    const char *text = sim_trace_text(h->sim, &len);
    r->trace_text = g_strndup(text ? text : "", len);
    r->trace_len = len;
  }
  uint64_t acked = 0, final_records = 0;
  for (int p = 0; p < BROKER_CRASH_PARTITIONS; p++) {
    acked += h->acks[p]->len;
    final_records += h->final[p]->len;
  }
  sim_scenario_result_stat(r, "idempotent", h->idempotent);
  sim_scenario_result_stat(r, "records_queued", h->rec_count);
  sim_scenario_result_stat(r, "dups_across_producer_ids", h->dups_across_pids);
  sim_scenario_result_stat(r, "acked", acked);
  sim_scenario_result_stat(r, "produce_failed", h->produce_failed);
  sim_scenario_result_stat(r, "acked_unflushed_lost", h->acked_unflushed_lost);
  sim_scenario_result_stat(r, "reads", h->reads_total);
  sim_scenario_result_stat(r, "reads_unflushed_changed",
                           h->reads_undurable_changed);
  sim_scenario_result_stat(r, "final_log_records", final_records);
  sim_scenario_result_stat(r, "restarts", h->restarts);
  sim_scenario_result_stat(r, "halts", h->halts);
  sim_scenario_result_stat(r, "consumer_errors", h->consumer_errors);
  for (int kind = 0; kind < FAULT_COUNT_; kind++)
    sim_scenario_result_stat(r, fault_names[kind], h->fault_count[kind]);
}

static void harness_free(bc_harness *h) {
  for (int p = 0; p < BROKER_CRASH_PARTITIONS; p++) {
    if (h->acks[p])
      g_array_free(h->acks[p], TRUE);
    if (h->reads[p])
      g_array_free(h->reads[p], TRUE);
    if (h->final[p])
      g_array_free(h->final[p], TRUE);
  }
  for (guint i = 0; h->crashes && i < h->crashes->len; i++) {
    bc_crash *c = &g_array_index(h->crashes, bc_crash, i);
    for (int p = 0; p < BROKER_CRASH_PARTITIONS; p++)
      g_array_free(c->durable[p], TRUE);
  }
  if (h->crashes)
    g_array_free(h->crashes, TRUE);
  broker_config_clear(&h->bcfg);
  g_free(h->recs);
  g_free(h);
}

int sim_scenario_broker_crash(const sim_scenario_opts *o,
                              sim_scenario_result *r) {
  SL_ASSERT(o != NULL && r != NULL);
  memset(r, 0, sizeof *r);
  r->seed = o->seed;
  uint64_t duration_ms =
      o->duration_ms ? o->duration_ms : BROKER_CRASH_DURATION_MS_DEFAULT;
  if ((o->nodes != 0 && o->nodes != NODES) ||
      duration_ms > BROKER_CRASH_DURATION_MS_MAX)
    return -EINVAL;
  r->replay_command =
      sim_scenario_replay_command(o, "broker-crash", 0, duration_ms);
  sim_options so;
  draw_sim_options(o, &so);
  bc_harness *h = g_new0(bc_harness, 1);
  int rc = 0;
  h->sim = sim_new(&so);
  if (!h->sim) {
    rc = -EINVAL;
    harness_free(h);
    return rc;
  }
  sim_set_replay_command(h->sim, r->replay_command);
  h->result = r;
  h->faults = !o->no_faults;
  h->producing = true;
  h->idempotent = sim_rand_below(h->sim, SIM_STREAM_WORKLOAD, 2) == 1;
  sim_trace(h->sim, NULL, "broker_crash.producer", "\"idempotent\":%s",
            h->idempotent ? "true" : "false");
  h->fault_end_ns = duration_ms * MS_NS;
  h->recs = g_new0(bc_rec, BROKER_CRASH_RECORDS_MAX);
  h->crashes = g_array_new(FALSE, FALSE, sizeof(bc_crash));
  for (int p = 0; p < BROKER_CRASH_PARTITIONS; p++) {
    h->acks[p] = g_array_new(FALSE, FALSE, sizeof(bc_obs));
    h->reads[p] = g_array_new(FALSE, FALSE, sizeof(bc_obs));
    h->final[p] = g_array_new(FALSE, FALSE, sizeof(uint32_t));
  }
  broker_setup(&h->bcfg);
  h->broker = sim_node_add(h->sim, BROKER_HOST, &broker_node_ops, &h->bcfg);
  h->producer = sim_node_add(h->sim, "producer", &producer_ops, h);
  h->consumer = sim_node_add(h->sim, "consumer", &consumer_ops, h);
  SL_ASSERT(h->broker && h->producer && h->consumer);
  if (h->faults) {
    draw_swarm(h);
    sim_schedule(h->sim, sim_scenario_draw_exp_ns(h->sim, h->fault_mean_ns),
                 fault_event, h);
    if (h->fault_weight[FAULT_FSYNC_EIO])
      sim_schedule(h->sim, TICK_NS, halt_watch_event, h);
  }
  sim_schedule(h->sim, h->fault_end_ns, final_heal_event, h);
  sim_run_until(h->sim, h->fault_end_ns);

  if (!run_until(h, drained, h->fault_end_ns + DRAIN_NS_MAX)) {
    if (!sim_node_is_up(h->broker) || !sim_node_ctx(h->broker))
      violation(h, "the broker did not come back after the final heal");
    else
      violation(h,
                "%u of %u records neither delivered nor failed %" PRIu64
                " ms after the final heal",
                h->rec_count - h->recs_done, h->rec_count,
                DRAIN_NS_MAX / MS_NS);
  } else {
    broker_t *b = sim_node_ctx(h->broker);
    for (int32_t p = 0; p < BROKER_CRASH_PARTITIONS; p++) {
      int64_t end = broker_partition_end_offset(b, TOPIC, p);
      h->verify_end[p] = end < 0 ? 0 : end;
    }
    h->verify_requested = true;
    uint64_t deadline = sim_now_ns(h->sim) + VERIFY_NS_MAX;
    if (!run_until(h, verified, deadline))
      violation(h,
                "the verification pass did not read the whole log in %" PRIu64
                " ms",
                VERIFY_NS_MAX / MS_NS);
    else
      check_all(h);
  }
  fill_result(h, o);
  if (o->trace_out && sim_trace_write(h->sim, o->trace_out) < 0)
    rc = -EIO;
  sim_free(h->sim); /* stops the nodes: before the harness they report to */
  harness_free(h);
  return rc;
}
