/*
 * producer.c — the record accumulator and the sender (Kafka's
 * RecordAccumulator and Sender, in one event-driven piece).
 *
 * Records go into an open batch per partition (a batch_builder). A batch
 * closes when its records reach batch_bytes, when linger_ms has passed
 * since it opened, or on kclient_flush; closing finishes the builder
 * (compressing). The drain walks the partitions in topic creation order and
 * gives each partition's next sendable batch to its leader's request: one
 * batch per partition per Produce request (Kafka's rule for v3+), several
 * partitions per request up to request_bytes_max, as many requests per
 * broker as the connection has in-flight slots.
 *
 * Ordering and retries: batches of a partition are sent in order. A batch
 * that fails with a retriable error puts its partition in "retrying" mode:
 * nothing more is sent for it until its in-flight batches have come back,
 * then the unacknowledged batches are resent oldest first, one at a time,
 * until none is left to retry. With idempotence that is exactly what keeps
 * sequence numbers contiguous: every batch carries the producer id, epoch
 * and a base sequence assigned when it is first sent and kept on retries,
 * so the broker drops a duplicate (DUPLICATE_SEQUENCE_NUMBER counts as
 * success) and refuses a gap (OUT_OF_ORDER_SEQUENCE_NUMBER, retried while
 * an earlier batch is being retried). A gap nobody can fill (the head
 * batch gets OUT_OF_ORDER or UNKNOWN_PRODUCER_ID, or a stamped batch
 * expired) resets the producer: once nothing is in flight, a new producer
 * id is fetched and every unacknowledged batch is renumbered from 0 —
 * Kafka's "epoch bump" recovery, with its caveat that a batch whose
 * acknowledgement was lost may be written twice.
 *
 * Nothing here calls a user callback from inside kclient_produce or
 * kclient_flush: deliveries run from response handlers and timers.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "base/assert.h"
#include "broker/client/client_internal.h"
#include "broker/kerr.h"

typedef enum kclient__pb_state {
  KCLIENT__PB_OPEN = 0,  /* taking records (builder) */
  KCLIENT__PB_READY,     /* closed, bytes final, waiting to be sent */
  KCLIENT__PB_IN_FLIGHT, /* in a Produce request */
  KCLIENT__PB_RETRY,     /* failed retriably; resend after retry_at_ns */
} kclient__pb_state;

typedef struct kclient__rcb {
  kclient_delivery_cb cb;
  void *arg;
  int64_t timestamp_ms;
} kclient__rcb;

struct kclient__pbatch {
  kclient__ppart *pp;
  kclient__pb_state state;
  batch_builder *builder; /* OPEN only */
  buf_t bytes;            /* the finished batch */
  kclient__rcb *rcbs;     /* [owned] one per record: count of rcbs_cap */
  uint32_t rcbs_cap;
  int32_t count;
  size_t est_bytes; /* counted in c->buffered_bytes */
  uint64_t created_ns;
  uint64_t deadline_ns;
  uint64_t retry_at_ns;
  int32_t base_seq; /* -1 until first sent (idempotence) */
  uint32_t attempts;
  int last_err;
  char last_errmsg[KCLIENT_ERRMSG_BYTES];
  GList link;                  /* in pp->batches */
  kclient__pbatch *cache_next; /* in c->pbatch_cache */
};

struct kclient__ppart {
  kclient__topic *t;
  int32_t partition;
  GQueue batches; /* oldest first; only the last may be OPEN */
  uint32_t in_flight;
  int32_t next_seq;
  bool retrying;
};

typedef struct kclient__preq {
  kclient_t *c;
  int32_t node_id;
  GPtrArray *batches; /* kclient__pbatch*, grouped by topic */
  size_t bytes;
  kclient__req *req;
  GList link; /* in c->preqs */
} kclient__preq;

static void kclient__producer_service_fired(void *arg);
static void kclient__flush_check(kclient_t *c);

/* --------------------------------------------------------------- timers */

static void kclient__producer_wake_at(kclient_t *c, uint64_t at_ns) {
  if (c->producer_timer && c->producer_timer_at_ns <= at_ns)
    return;
  if (c->producer_timer)
    env_timer_cancel(c->env, c->producer_timer);
  uint64_t now = kclient__now_ns(c);
  c->producer_timer_at_ns = at_ns;
  c->producer_timer = env_timer_start(c->env, at_ns > now ? at_ns - now : 0,
                                      kclient__producer_service_fired, c);
}

static uint64_t kclient__ms_ns(uint32_t ms) {
  return (uint64_t)ms * KCLIENT__NS_PER_MS;
}

/* --------------------------------------------------------------- batches */

static kclient__ppart *kclient__ppart_get(kclient__topic *t, int32_t p) {
  if ((guint)p >= t->pparts->len)
    g_ptr_array_set_size(t->pparts, (guint)p + 1);
  kclient__ppart *pp = g_ptr_array_index(t->pparts, p);
  if (!pp) {
    pp = g_new0(kclient__ppart, 1);
    pp->t = t;
    pp->partition = p;
    g_queue_init(&pp->batches);
    g_ptr_array_index(t->pparts, p) = pp;
  }
  return pp;
}

/* Record callbacks reserved when a batch opens: as many as batch_bytes
 * holds of records the size of the first (so the array does not grow
 * while the batch fills), up to this many; beyond, it doubles. */
#define KCLIENT__RCBS_RESERVE_MAX 1024
/* Finished batch records kept for reuse, with their callback arrays (up
 * to KCLIENT__RCBS_RESERVE_MAX, 24 KiB) and their byte buffers (up to
 * KCLIENT__PBATCH_KEEP_BYTES(c), two batches' worth): the next batch is
 * built in memory that is already mapped rather than in fresh pages the
 * kernel must fault in and zero. At most 16 * (24 KiB + 2 * batch_bytes). */
#define KCLIENT__PBATCH_CACHE_MAX 16
#define KCLIENT__PBATCH_KEEP_BYTES(c) (2 * (size_t)(c)->cfg.batch_bytes + 4096)

/* A zeroed batch record with room for at least `reserve` callbacks; its
 * bytes are empty but may have capacity (for batch_builder_new_in). */
static kclient__pbatch *kclient__pbatch_get(kclient_t *c, size_t reserve) {
  kclient__pbatch *b = c->pbatch_cache;
  if (!b) {
    b = g_new0(kclient__pbatch, 1);
    b->rcbs_cap = (uint32_t)reserve;
    b->rcbs = g_new(kclient__rcb, b->rcbs_cap);
    return b;
  }
  c->pbatch_cache = b->cache_next;
  c->pbatch_cached--;
  kclient__rcb *rcbs = b->rcbs;
  uint32_t cap = b->rcbs_cap;
  buf_t bytes = b->bytes;
  memset(b, 0, sizeof *b);
  if (cap < reserve) {
    g_free(rcbs);
    cap = (uint32_t)reserve;
    rcbs = g_new(kclient__rcb, cap);
  }
  b->rcbs = rcbs;
  b->rcbs_cap = cap;
  b->bytes = bytes;
  return b;
}

static kclient__pbatch *kclient__batch_open(kclient_t *c, kclient__ppart *pp,
                                            int64_t base_ts, size_t est) {
  size_t reserve = c->cfg.batch_bytes / (est ? est : 1) + 1;
  if (reserve > KCLIENT__RCBS_RESERVE_MAX)
    reserve = KCLIENT__RCBS_RESERVE_MAX;
  kclient__pbatch *b = kclient__pbatch_get(c, reserve);
  b->pp = pp;
  b->state = KCLIENT__PB_OPEN;
  batch_builder_opts o = {
      .codec = c->cfg.compression,
      .base_offset = 0,
      .base_timestamp = base_ts,
      .producer_id = -1,
      .producer_epoch = -1,
      .base_sequence = -1,
      .extra_attributes = 0,
      .leader_epoch = -1,
  };
  b->builder = batch_builder_new_in(&o, &b->bytes);
  b->created_ns = kclient__now_ns(c);
  b->deadline_ns = b->created_ns + kclient__ms_ns(c->cfg.delivery_timeout_ms);
  b->base_seq = -1;
  b->link.data = b;
  g_queue_push_tail_link(&pp->batches, &b->link);
  kclient__producer_wake_at(c,
                            b->created_ns + kclient__ms_ns(c->cfg.linger_ms));
  return b;
}

static void kclient__batch_close(kclient_t *c, kclient__pbatch *b) {
  SL_ASSERT(b->state == KCLIENT__PB_OPEN);
  int rc = batch_builder_finish(b->builder, -1, &b->bytes);
  SL_ASSERT(rc == 0); /* the codec was checked with the config */
  b->builder = NULL;
  b->state = KCLIENT__PB_READY;
  kclient__topic *t = b->pp->t;
  if (t->sticky_partition == b->pp->partition)
    t->sticky_partition = -1;
}

static void kclient__batch_free(kclient__pbatch *b) {
  batch_builder_free(b->builder);
  buf_free(&b->bytes);
  g_free(b->rcbs);
  g_free(b);
}

/* kclient__batch_free, keeping the record for a later batch when there is
 * room in the cache. */
static void kclient__batch_release(kclient_t *c, kclient__pbatch *b) {
  if (c->pbatch_cached >= KCLIENT__PBATCH_CACHE_MAX ||
      b->rcbs_cap > KCLIENT__RCBS_RESERVE_MAX) {
    kclient__batch_free(b);
    return;
  }
  batch_builder_free(b->builder);
  b->builder = NULL;
  if (b->bytes.cap > KCLIENT__PBATCH_KEEP_BYTES(c))
    buf_free(&b->bytes);
  buf_clear(&b->bytes);
  b->cache_next = c->pbatch_cache;
  c->pbatch_cache = b;
  c->pbatch_cached++;
}

/* Delivers every record of b with err (offsets from base_offset when 0)
 * and frees it (or keeps it for the next batch, kclient__batch_release). */
static void kclient__batch_done(kclient_t *c, kclient__pbatch *b, int err,
                                const char *errmsg, int64_t base_offset,
                                int64_t log_append_time_ms) {
  kclient__ppart *pp = b->pp;
  g_queue_unlink(&pp->batches, &b->link);
  SL_ASSERT(c->buffered_bytes >= b->est_bytes);
  c->buffered_bytes -= b->est_bytes;
  SL_ASSERT(c->pending_records >= (size_t)b->count);
  c->pending_records -= (size_t)b->count;
  if (err)
    c->stats.records_failed += (uint64_t)b->count;
  else
    c->stats.records_delivered += (uint64_t)b->count;
  env_trace(c->env, "client.produce.done",
            "\"topic\":\"%s\",\"partition\":%d,\"offset\":%" PRId64
            ",\"records\":%d,\"err\":%d",
            pp->t->name, (int)pp->partition, base_offset, (int)b->count, err);
  kclient_delivery d = {
      .topic = pp->t->name,
      .partition = pp->partition,
      .err = err,
      .errmsg = err ? errmsg : "",
      .done_ns = kclient__now_ns(c),
  };
  for (int32_t i = 0; i < b->count; i++) {
    const kclient__rcb *r = &b->rcbs[i];
    d.offset = err == 0 && base_offset >= 0 ? base_offset + (int64_t)i : -1;
    d.timestamp_ms =
        log_append_time_ms >= 0 ? log_append_time_ms : r->timestamp_ms;
    if (r->cb)
      r->cb(r->arg, &d);
  }
  kclient__batch_release(c, b);
  if (pp->retrying && pp->in_flight == 0) {
    bool any_retry = false;
    for (GList *l = pp->batches.head; l; l = l->next)
      any_retry |= ((kclient__pbatch *)l->data)->state == KCLIENT__PB_RETRY;
    if (!any_retry)
      pp->retrying = false;
  }
}

/* --------------------------------------------------------------- waiting */

static void kclient__wrec_done(kclient_t *c, kclient__topic *t,
                               kclient__wrec *w, int err, const char *errmsg) {
  c->buffered_bytes -= w->est_bytes;
  c->pending_records--;
  c->stats.records_failed++;
  kclient_delivery d = {
      .topic = t->name,
      .partition = w->partition,
      .offset = -1,
      .timestamp_ms = w->timestamp_ms,
      .err = err,
      .errmsg = errmsg,
      .done_ns = kclient__now_ns(c),
  };
  if (w->cb)
    w->cb(w->cb_arg, &d);
  g_free(w);
}

static size_t kclient__headers_bytes(const batch_record_header *h, int32_t n) {
  size_t sum = 0;
  for (int32_t i = 0; i < n; i++)
    sum += (size_t)(h[i].key_len > 0 ? h[i].key_len : 0) +
           (size_t)(h[i].value_len > 0 ? h[i].value_len : 0) + 10;
  return sum;
}

static kclient__wrec *kclient__wrec_new(const kclient_message *m, int64_t ts,
                                        size_t est, uint64_t deadline_ns,
                                        kclient_delivery_cb cb, void *arg) {
  size_t klen = m->key_len > 0 ? (size_t)m->key_len : 0;
  size_t vlen = m->value_len > 0 ? (size_t)m->value_len : 0;
  size_t hbytes = 0;
  for (int32_t i = 0; i < m->header_count; i++)
    hbytes +=
        (size_t)(m->headers[i].key_len > 0 ? m->headers[i].key_len : 0) +
        (size_t)(m->headers[i].value_len > 0 ? m->headers[i].value_len : 0);
  size_t harr = sizeof(batch_record_header) * (size_t)m->header_count;
  kclient__wrec *w = g_malloc0(sizeof *w + harr + klen + vlen + hbytes);
  uint8_t *p = (uint8_t *)(w + 1);
  w->headers = m->header_count ? (batch_record_header *)p : NULL;
  p += harr;
  w->partition = m->partition;
  w->key_len = m->key_len;
  w->value_len = m->value_len;
  w->key = m->key_len >= 0 ? p : NULL;
  if (klen)
    memcpy(p, m->key, klen);
  p += klen;
  w->value = m->value_len >= 0 ? p : NULL;
  if (vlen)
    memcpy(p, m->value, vlen);
  p += vlen;
  for (int32_t i = 0; i < m->header_count; i++) {
    const batch_record_header *h = &m->headers[i];
    batch_record_header *o = &w->headers[i];
    o->key_len = h->key_len;
    o->key = p;
    if (h->key_len > 0)
      memcpy(p, h->key, (size_t)h->key_len);
    p += h->key_len > 0 ? h->key_len : 0;
    o->value_len = h->value_len;
    o->value = h->value_len >= 0 ? p : NULL;
    if (h->value_len > 0)
      memcpy(p, h->value, (size_t)h->value_len);
    p += h->value_len > 0 ? h->value_len : 0;
  }
  w->header_count = m->header_count;
  w->timestamp_ms = ts;
  w->est_bytes = est;
  w->deadline_ns = deadline_ns;
  w->cb = cb;
  w->cb_arg = arg;
  return w;
}

/* ------------------------------------------------------------ appending */

static int32_t kclient__partition_for(kclient_t *c, kclient__topic *t,
                                      int32_t partition, const void *key,
                                      int32_t key_len) {
  if (partition >= 0)
    return partition;
  int32_t n = t->partition_count;
  SL_ASSERT(n > 0);
  if (key && key_len >= 0)
    return (int32_t)(kclient_murmur2_positive(key, (size_t)key_len) %
                     (uint32_t)n);
  if (t->sticky_partition < 0 || t->sticky_partition >= n) {
    /* Sticky partitioner (KIP-480): one random partition with a leader
     * until its batch closes. */
    int32_t with_leader = 0;
    for (int32_t p = 0; p < n; p++)
      with_leader += t->parts[p].leader >= 0;
    if (with_leader == 0) {
      t->sticky_partition = (int32_t)env_rand_below(c->env, (uint64_t)n);
    } else {
      int32_t pick = (int32_t)env_rand_below(c->env, (uint64_t)with_leader);
      for (int32_t p = 0; p < n; p++)
        if (t->parts[p].leader >= 0 && pick-- == 0) {
          t->sticky_partition = p;
          break;
        }
    }
  }
  return t->sticky_partition;
}

/* Adds a record to partition p's open batch (opening one if needed). */
static void kclient__append(kclient_t *c, kclient__topic *t, int32_t p,
                            int64_t ts, const void *key, int32_t key_len,
                            const void *value, int32_t value_len,
                            const batch_record_header *headers,
                            int32_t header_count, size_t est,
                            kclient_delivery_cb cb, void *arg) {
  kclient__ppart *pp = kclient__ppart_get(t, p);
  kclient__pbatch *b = g_queue_peek_tail(&pp->batches);
  if (b && b->state != KCLIENT__PB_OPEN)
    b = NULL;
  if (b && b->count > 0 &&
      b->est_bytes + est + BATCH_HEADER_BYTES > c->cfg.batch_bytes) {
    kclient__batch_close(c, b);
    b = NULL;
  }
  if (!b)
    b = kclient__batch_open(c, pp, ts, est);
  batch_builder_add(b->builder, ts, key, key_len, value, value_len, headers,
                    header_count);
  SL_ASSERT(b->count >= 0 && b->count < INT32_MAX);
  if ((uint32_t)b->count == b->rcbs_cap) {
    b->rcbs_cap *= 2;
    b->rcbs = g_renew(kclient__rcb, b->rcbs, b->rcbs_cap);
  }
  b->rcbs[b->count++] = (kclient__rcb){cb, arg, ts};
  b->est_bytes += est;
  if (b->est_bytes + BATCH_HEADER_BYTES >= c->cfg.batch_bytes) {
    kclient__batch_close(c, b);
    c->drain_wanted = true;
  }
  if (c->cfg.linger_ms == 0 || c->flushing)
    c->drain_wanted = true;
}

/* Moves records that waited for metadata into batches. */
static void kclient__waiting_place(kclient_t *c, kclient__topic *t) {
  kclient__wrec *w;
  while (t->metadata_known && (w = g_queue_pop_head(&t->waiting))) {
    if (w->partition >= t->partition_count) {
      char msg[KCLIENT_ERRMSG_BYTES];
      kclient__errmsg(msg, KERR_UNKNOWN_TOPIC_OR_PARTITION,
                      "topic %s has no partition %d", t->name,
                      (int)w->partition);
      kclient__wrec_done(c, t, w, KERR_UNKNOWN_TOPIC_OR_PARTITION, msg);
      continue;
    }
    int32_t p = kclient__partition_for(c, t, w->partition, w->key, w->key_len);
    /* Its bytes and count were accounted when it was queued. */
    kclient__append(c, t, p, w->timestamp_ms, w->key, w->key_len, w->value,
                    w->value_len, w->headers, w->header_count, w->est_bytes,
                    w->cb, w->cb_arg);
    g_free(w);
  }
}

/* Topics up to which kclient_produce compares names along the topic list
 * instead of hashing the name: most producers write to a few topics, and
 * hashing every record's topic name was about 8 % of the client's time with
 * 100-byte records. The list and the table always hold the same topics
 * (topics are never dropped), so this finds what kclient__topic_get would. */
#define KCLIENT__TOPIC_SCAN_MAX 4

static kclient__topic *kclient__produce_topic(kclient_t *c, const char *name) {
  if (c->topic_list->len <= KCLIENT__TOPIC_SCAN_MAX)
    for (guint i = 0; i < c->topic_list->len; i++) {
      kclient__topic *t = g_ptr_array_index(c->topic_list, i);
      if (strcmp(t->name, name) == 0)
        return t;
    }
  return kclient__topic_get(c, name);
}

/* kclient_produce called outside an event does not drain at once: the
 * drain runs on the next turn of the loop (a zero-delay timer, armed once
 * for any number of records), after the caller has handed over everything
 * it had and after the poll has taken in the answers that free request
 * slots. Draining per record would put the first records of every burst
 * into one-record requests that hold all in_flight_max slots while the
 * rest of the burst waits, and costs a walk of the partitions per record.
 * This is the single-threaded form of Kafka's Sender thread, which drains
 * whatever the application appended while it was busy. */
static void kclient__drain_deferred(void *arg) {
  kclient_t *c = arg;
  c->drain_wanted = true;
}

int kclient_produce(kclient_t *c, const kclient_message *m,
                    kclient_delivery_cb cb, void *arg) {
  SL_ASSERT(c && m);
  if (!m->topic || !m->topic[0] ||
      strlen(m->topic) > KCLIENT__TOPIC_NAME_BYTES_MAX ||
      m->partition < KCLIENT_PARTITION_ANY || m->key_len < -1 ||
      m->value_len < -1 || (m->key_len > 0 && !m->key) ||
      (m->value_len > 0 && !m->value) || m->header_count < 0 ||
      (m->header_count > 0 && !m->headers))
    return -EINVAL;
  for (int32_t i = 0; i < m->header_count; i++)
    if (!m->headers[i].key || m->headers[i].key_len < 0 ||
        m->headers[i].value_len < -1)
      return -EINVAL;
  size_t est = (size_t)(m->key_len > 0 ? m->key_len : 0) +
               (size_t)(m->value_len > 0 ? m->value_len : 0) +
               kclient__headers_bytes(m->headers, m->header_count) +
               KCLIENT__RECORD_OVERHEAD_BYTES;
  if (est + BATCH_HEADER_BYTES + 256 > c->cfg.request_bytes_max)
    return -EINVAL;
  if (c->buffered_bytes > 0 &&
      c->buffered_bytes + est > c->cfg.buffer_bytes_max)
    return -ENOBUFS;
  kclient__topic *t = kclient__produce_topic(c, m->topic);
  if (t->metadata_known && m->partition >= t->partition_count)
    return -ENOENT;
  int64_t ts = m->timestamp_ms >= 0 ? m->timestamp_ms : env_wall_ms(c->env);
  c->stats.records_queued++;
  if (!t->metadata_known || !g_queue_is_empty(&t->waiting)) {
    uint64_t deadline =
        kclient__now_ns(c) + kclient__ms_ns(c->cfg.delivery_timeout_ms);
    g_queue_push_tail(&t->waiting,
                      kclient__wrec_new(m, ts, est, deadline, cb, arg));
    c->buffered_bytes += est;
    c->pending_records++;
    kclient__metadata_refresh(c);
    kclient__producer_wake_at(c, kclient__now_ns(c) +
                                     kclient__ms_ns(KCLIENT__PRODUCER_TICK_MS));
    return 0;
  }
  int32_t p = kclient__partition_for(c, t, m->partition, m->key, m->key_len);
  c->buffered_bytes += est;
  c->pending_records++;
  kclient__append(c, t, p, ts, m->key, m->key_len, m->value, m->value_len,
                  m->headers, m->header_count, est, cb, arg);
  if (c->drain_wanted && c->busy == 0 && !c->defer_timer)
    kclient__defer(c, kclient__drain_deferred, NULL, c);
  return 0;
}

size_t kclient_produce_pending(kclient_t *c) { return c->pending_records; }

/* ------------------------------------------------------------ idempotence */

static void kclient__stamp(kclient_t *c, kclient__pbatch *b) {
  if (!c->cfg.idempotence || b->base_seq >= 0)
    return;
  kclient__ppart *pp = b->pp;
  b->base_seq = pp->next_seq;
  int64_t next = (int64_t)pp->next_seq + b->count;
  pp->next_seq =
      next > INT32_MAX ? (int32_t)(next - INT32_MAX - 1) : (int32_t)next;
  uint8_t *p = b->bytes.data;
  SL_ASSERT(b->bytes.len >= BATCH_HEADER_BYTES);
  be64_store(p + BATCH_OFF_PRODUCER_ID, (uint64_t)c->producer_id);
  be16_store(p + BATCH_OFF_PRODUCER_EPOCH, (uint16_t)c->producer_epoch);
  be32_store(p + BATCH_OFF_BASE_SEQUENCE, (uint32_t)b->base_seq);
  be32_store(p + BATCH_OFF_CRC, batch_compute_crc(p, b->bytes.len));
}

/* Every batch of the producer, not in flight, forgets its sequence. */
static void kclient__renumber_all(kclient_t *c) {
  for (guint i = 0; i < c->topic_list->len; i++) {
    kclient__topic *t = g_ptr_array_index(c->topic_list, i);
    for (guint p = 0; p < t->pparts->len; p++) {
      kclient__ppart *pp = g_ptr_array_index(t->pparts, p);
      if (!pp)
        continue;
      pp->next_seq = 0;
      pp->retrying = false;
      for (GList *l = pp->batches.head; l; l = l->next) {
        kclient__pbatch *b = l->data;
        SL_ASSERT(b->state != KCLIENT__PB_IN_FLIGHT);
        b->base_seq = -1;
        if (b->state == KCLIENT__PB_RETRY)
          b->state = KCLIENT__PB_READY;
      }
    }
  }
}

/* Fails every batch not in flight (a fatal producer-id error). */
static void kclient__fail_all(kclient_t *c, int err, const char *errmsg) {
  for (guint i = 0; i < c->topic_list->len; i++) {
    kclient__topic *t = g_ptr_array_index(c->topic_list, i);
    for (guint p = 0; p < t->pparts->len; p++) {
      kclient__ppart *pp = g_ptr_array_index(t->pparts, p);
      GList *l = pp ? pp->batches.head : NULL;
      while (l) {
        GList *next = l->next;
        kclient__pbatch *b = l->data;
        if (b->state == KCLIENT__PB_OPEN)
          kclient__batch_close(c, b);
        if (b->state != KCLIENT__PB_IN_FLIGHT)
          kclient__batch_done(c, b, err, errmsg, -1, -1);
        l = next;
      }
    }
  }
}

static int32_t kclient__pid_route(kclient__op *op) {
  return KCLIENT__ROUTE_ANY;
}

static void *kclient__pid_build(void *ctx, int16_t version, proto_arena *a) {
  proto_init_producer_id_req *req = PROTO_NEW(a, proto_init_producer_id_req);
  if (!req)
    return NULL;
  req->transactional_id = PROTO_STR_NULL;
  req->transaction_timeout_ms = -1; /* as librdkafka: ignored without txn */
  req->producer_id = -1;
  req->producer_epoch = -1;
  return req;
}

static kclient__op_action kclient__pid_handle(kclient__op *op, int16_t version,
                                              void *body) {
  proto_init_producer_id_resp *resp = body;
  kclient_t *c = op->c;
  if (resp->error_code) {
    op->err = resp->error_code;
    kclient__errmsg(op->errmsg, op->err, "InitProducerId failed: %s",
                    kclient_err_name(op->err));
    return kclient_err_retriable(op->err) ? KCLIENT__OP_RETRY
                                          : KCLIENT__OP_DONE;
  }
  if (resp->producer_id < 0) {
    op->err = -EPROTO;
    kclient__errmsg(op->errmsg, op->err,
                    "InitProducerId returned producer id %" PRId64,
                    resp->producer_id);
    return KCLIENT__OP_DONE;
  }
  c->producer_id = resp->producer_id;
  c->producer_epoch = resp->producer_epoch;
  return KCLIENT__OP_DONE;
}

static void kclient__pid_finish(kclient__op *op) {
  kclient_t *c = op->c;
  c->pid_op = NULL;
  if (op->err) {
    char msg[KCLIENT_ERRMSG_BYTES];
    kclient__errmsg(msg, op->err, "cannot get a producer id: %s", op->errmsg);
    kclient__fail_all(c, op->err, msg);
    kclient__flush_check(c);
    return;
  }
  env_log(c->env, ENV_LOG_DEBUG, "kclient: producer id %" PRId64 " epoch %d",
          c->producer_id, (int)c->producer_epoch);
  env_trace(c->env, "client.pid", "\"producer_id\":%" PRId64 ",\"epoch\":%d",
            c->producer_id, (int)c->producer_epoch);
  if (c->pid_reset) {
    c->pid_reset = false;
    kclient__renumber_all(c);
  }
  c->drain_wanted = true;
}

static const kclient__op_vt kclient__pid_vt = {
    .name = "InitProducerId",
    .api_key = PROTO_API_INIT_PRODUCER_ID,
    .route = kclient__pid_route,
    .build = kclient__pid_build,
    .handle = kclient__pid_handle,
    .finish = kclient__pid_finish,
};

/* True when batches may be sent; otherwise starts what is missing. */
static bool kclient__pid_ready(kclient_t *c) {
  if (!c->cfg.idempotence)
    return true;
  if (c->pid_op)
    return false;
  bool need = c->producer_id < 0 || c->pid_reset;
  if (!need)
    return true;
  if (c->pid_reset && c->batches_in_flight > 0)
    return false; /* wait until every answer is in */
  if (c->pending_records == 0)
    return false;
  c->pid_op = kclient__op_new(c, &kclient__pid_vt, NULL, NULL, NULL);
  kclient__op_start(c->pid_op);
  return false;
}

/* ---------------------------------------------------------------- drain */

static bool kclient__batch_sendable(kclient_t *c, kclient__pbatch *b,
                                    uint64_t now) {
  switch (b->state) {
  case KCLIENT__PB_READY:
    return true;
  case KCLIENT__PB_RETRY:
    return now >= b->retry_at_ns;
  case KCLIENT__PB_OPEN:
    return c->flushing > 0 ||
           now >= b->created_ns + kclient__ms_ns(c->cfg.linger_ms);
  case KCLIENT__PB_IN_FLIGHT:
  default:
    return false;
  }
}

static kclient__pbatch *kclient__next_sendable(kclient_t *c, kclient__ppart *pp,
                                               uint64_t now) {
  if (c->cfg.idempotence && pp->in_flight >= KCLIENT_IDEMPOTENT_IN_FLIGHT_MAX)
    return NULL;
  if (pp->retrying) {
    if (pp->in_flight > 0)
      return NULL;
    kclient__pbatch *head = g_queue_peek_head(&pp->batches);
    return head && kclient__batch_sendable(c, head, now) ? head : NULL;
  }
  for (GList *l = pp->batches.head; l; l = l->next) {
    kclient__pbatch *b = l->data;
    if (b->state == KCLIENT__PB_IN_FLIGHT)
      continue;
    return kclient__batch_sendable(c, b, now) ? b : NULL;
  }
  return NULL;
}

static void kclient__preq_response(void *ctx, int err, const char *errmsg,
                                   int16_t version, void *body);

static void *kclient__preq_build(void *ctx, int16_t version, proto_arena *a) {
  kclient__preq *pr = ctx;
  kclient_t *c = pr->c;
  proto_produce_req *req = PROTO_NEW(a, proto_produce_req);
  if (!req)
    return NULL;
  req->transactional_id = PROTO_STR_NULL;
  req->acks = c->cfg.acks;
  req->timeout_ms = (int32_t)c->cfg.request_timeout_ms;
  /* Batches of one topic are adjacent (added topic by topic). */
  int32_t topics = 0;
  for (guint i = 0; i < pr->batches->len; i++) {
    kclient__pbatch *b = g_ptr_array_index(pr->batches, i);
    if (i == 0 ||
        ((kclient__pbatch *)g_ptr_array_index(pr->batches, i - 1))->pp->t !=
            b->pp->t)
      topics++;
  }
  req->topic_data.items =
      PROTO_NEW_ARRAY(a, proto_produce_req_topic_produce_data, topics);
  req->topic_data.count = topics;
  if (!req->topic_data.items)
    return NULL;
  guint i = 0;
  for (int32_t ti = 0; ti < topics; ti++) {
    kclient__topic *t =
        ((kclient__pbatch *)g_ptr_array_index(pr->batches, i))->pp->t;
    guint j = i;
    while (j < pr->batches->len &&
           ((kclient__pbatch *)g_ptr_array_index(pr->batches, j))->pp->t == t)
      j++;
    proto_produce_req_topic_produce_data *td = &req->topic_data.items[ti];
    td->name = proto_str_from(t->name);
    td->partition_data.count = (int32_t)(j - i);
    td->partition_data.items = PROTO_NEW_ARRAY(
        a, proto_produce_req_partition_produce_data, (int32_t)(j - i));
    if (!td->partition_data.items)
      return NULL;
    for (guint k = i; k < j; k++) {
      kclient__pbatch *b = g_ptr_array_index(pr->batches, k);
      proto_produce_req_partition_produce_data *pd =
          &td->partition_data.items[k - i];
      pd->index = b->pp->partition;
      pd->records = (proto_bytes){b->bytes.data, (int32_t)b->bytes.len};
    }
    i = j;
  }
  return req;
}

typedef struct kclient__slot {
  int32_t node_id;
  kclient__conn *conn;
  kclient__preq *pr;
} kclient__slot;

static void kclient__preq_submit(kclient_t *c, kclient__slot *s) {
  kclient__preq *pr = s->pr;
  s->pr = NULL;
  if (!pr)
    return;
  pr->link.data = pr;
  g_queue_push_tail_link(&c->preqs, &pr->link);
  pr->req =
      kclient__conn_submit(s->conn, PROTO_API_PRODUCE, kclient__preq_build,
                           kclient__preq_response, pr, c->cfg.acks == 0, 0);
}

static kclient__slot *kclient__slot_for(kclient_t *c, GArray *slots,
                                        int32_t node, bool *need_md) {
  for (guint i = 0; i < slots->len; i++) {
    kclient__slot *s = &g_array_index(slots, kclient__slot, i);
    if (s->node_id == node)
      return s;
  }
  kclient__broker *b = kclient__broker_find(c, node);
  if (!b) {
    *need_md = true;
    return NULL;
  }
  if (!b->conns[KCLIENT__LANE_MAIN])
    b->conns[KCLIENT__LANE_MAIN] = kclient__conn_new(c, b, KCLIENT__LANE_MAIN);
  kclient__slot s = {node, b->conns[KCLIENT__LANE_MAIN], NULL};
  g_array_append_val(slots, s);
  return &g_array_index(slots, kclient__slot, slots->len - 1);
}

/* One pass: at most one batch per partition; returns batches added. */
static uint32_t kclient__drain_pass(kclient_t *c, GArray *slots, uint64_t now,
                                    bool *need_md) {
  uint32_t added = 0;
  for (guint ti = 0; ti < c->topic_list->len; ti++) {
    kclient__topic *t = g_ptr_array_index(c->topic_list, ti);
    for (guint p = 0; p < t->pparts->len; p++) {
      kclient__ppart *pp = g_ptr_array_index(t->pparts, p);
      if (!pp || g_queue_is_empty(&pp->batches))
        continue;
      kclient__pbatch *b = kclient__next_sendable(c, pp, now);
      if (!b)
        continue;
      int32_t leader = kclient__leader(t, (int32_t)p);
      if (leader < 0) {
        *need_md = true;
        continue;
      }
      kclient__slot *s = kclient__slot_for(c, slots, leader, need_md);
      if (!s)
        continue;
      if (b->state == KCLIENT__PB_OPEN)
        kclient__batch_close(c, b);
      size_t bytes = b->bytes.len;
      if (s->pr && s->pr->batches->len > 0 &&
          s->pr->bytes + bytes > c->cfg.request_bytes_max)
        kclient__preq_submit(c, s);
      if (!s->pr) {
        if (!kclient__conn_can_send(s->conn)) {
          kclient__conn_ensure(s->conn);
          continue;
        }
        s->pr = g_new0(kclient__preq, 1);
        s->pr->c = c;
        s->pr->node_id = leader;
        s->pr->batches = g_ptr_array_new();
      }
      kclient__stamp(c, b);
      if (b->attempts > 0)
        c->stats.retries++;
      b->attempts++;
      b->state = KCLIENT__PB_IN_FLIGHT;
      pp->in_flight++;
      c->batches_in_flight++;
      c->stats.batches_sent++;
      g_ptr_array_add(s->pr->batches, b);
      s->pr->bytes += bytes;
      added++;
    }
  }
  for (guint i = 0; i < slots->len; i++)
    kclient__preq_submit(c, &g_array_index(slots, kclient__slot, i));
  return added;
}

void kclient__producer_drain(kclient_t *c) {
  if (c->draining) {
    c->drain_wanted = true;
    return;
  }
  if (c->pending_records == 0 || !kclient__pid_ready(c))
    return;
  c->draining = true;
  uint64_t now = kclient__now_ns(c);
  bool need_md = false;
  GArray *slots = g_array_new(FALSE, FALSE, sizeof(kclient__slot));
  /* The requests of one drain leave in one send per connection. */
  kclient__send_cork(c);
  while (kclient__drain_pass(c, slots, now, &need_md) > 0)
    g_array_set_size(slots, 0);
  kclient__send_uncork(c);
  g_array_free(slots, TRUE);
  if (need_md)
    kclient__metadata_refresh(c);
  c->draining = false;
}

/* ------------------------------------------------------------- responses */

static void kclient__batch_failed(kclient_t *c, kclient__pbatch *b, int err,
                                  const char *errmsg, bool head_gap) {
  kclient__ppart *pp = b->pp;
  uint64_t now = kclient__now_ns(c);
  bool retriable = kclient_err_retriable(err) ||
                   err == KERR_OUT_OF_ORDER_SEQUENCE_NUMBER ||
                   err == KERR_UNKNOWN_PRODUCER_ID;
  if (!c->cfg.idempotence && (err == KERR_OUT_OF_ORDER_SEQUENCE_NUMBER ||
                              err == KERR_UNKNOWN_PRODUCER_ID))
    retriable = false;
  if (!retriable || now >= b->deadline_ns) {
    kclient__batch_done(c, b, err, errmsg, -1, -1);
    return;
  }
  if (head_gap) {
    env_log(c->env, ENV_LOG_INFO,
            "kclient: %s on %s-%d: resetting the producer id", errmsg,
            pp->t->name, (int)pp->partition);
    c->pid_reset = true;
  }
  b->state = KCLIENT__PB_RETRY;
  b->last_err = err;
  g_strlcpy(b->last_errmsg, errmsg, sizeof b->last_errmsg);
  b->retry_at_ns =
      now + kclient__backoff_ns(c, c->cfg.retry_backoff_ms,
                                c->cfg.retry_backoff_max_ms, b->attempts);
  pp->retrying = true;
  env_log(c->env, ENV_LOG_DEBUG, "kclient: %s-%d: retrying a batch after %s",
          pp->t->name, (int)pp->partition, errmsg);
  if (kclient__err_needs_refresh(err))
    kclient__metadata_refresh(c);
  kclient__producer_wake_at(c, b->retry_at_ns);
}

/* Is b the oldest unacknowledged batch of its partition, with nothing
 * before it being retried? Then an out-of-order answer is a real gap. */
static bool kclient__is_head(kclient__pbatch *b) {
  return g_queue_peek_head(&b->pp->batches) == b;
}

static void kclient__batch_result(kclient_t *c, kclient__pbatch *b,
                                  int16_t code, int64_t base_offset,
                                  int64_t log_append_time_ms,
                                  proto_str error_message) {
  kclient__ppart *pp = b->pp;
  SL_ASSERT(pp->in_flight > 0 && c->batches_in_flight > 0);
  pp->in_flight--;
  c->batches_in_flight--;
  if (code == KERR_NONE) {
    kclient__batch_done(c, b, 0, "", base_offset, log_append_time_ms);
    return;
  }
  if (code == KERR_DUPLICATE_SEQUENCE_NUMBER) {
    /* Written before; the broker no longer knows where. */
    kclient__batch_done(c, b, 0, "", -1, -1);
    return;
  }
  char msg[KCLIENT_ERRMSG_BYTES];
  if (error_message.len > 0)
    kclient__errmsg(msg, code, "%s (%.*s)", kclient_err_name(code),
                    (int)error_message.len, error_message.data);
  else
    kclient__errmsg(msg, code, "%s", kclient_err_name(code));
  bool head_gap =
      c->cfg.idempotence && ((code == KERR_OUT_OF_ORDER_SEQUENCE_NUMBER &&
                              kclient__is_head(b) && !pp->retrying) ||
                             code == KERR_UNKNOWN_PRODUCER_ID);
  kclient__batch_failed(c, b, code, msg, head_gap);
}

static void kclient__preq_free(kclient__preq *pr) {
  g_ptr_array_free(pr->batches, TRUE);
  g_free(pr);
}

static void kclient__preq_response(void *ctx, int err, const char *errmsg,
                                   int16_t version, void *body) {
  kclient__preq *pr = ctx;
  kclient_t *c = pr->c;
  g_queue_unlink(&c->preqs, &pr->link);
  GPtrArray *bs = pr->batches;
  if (err) {
    for (guint i = 0; i < bs->len; i++) {
      kclient__pbatch *b = g_ptr_array_index(bs, i);
      b->pp->in_flight--;
      c->batches_in_flight--;
      kclient__batch_failed(c, b, err, errmsg, false);
    }
  } else if (!body) { /* acks=0: sent is all we will ever know */
    for (guint i = 0; i < bs->len; i++) {
      kclient__pbatch *b = g_ptr_array_index(bs, i);
      b->pp->in_flight--;
      c->batches_in_flight--;
      kclient__batch_done(c, b, 0, "", -1, -1);
    }
  } else {
    const proto_produce_resp *resp = body;
    for (guint i = 0; i < bs->len; i++) {
      kclient__pbatch *b = g_ptr_array_index(bs, i);
      const proto_produce_resp_partition_produce_response *pr_found = NULL;
      for (int32_t ti = 0; ti < resp->responses.count && !pr_found; ti++) {
        const proto_produce_resp_topic_produce_response *tr =
            &resp->responses.items[ti];
        if (!proto_str_eq(tr->name, b->pp->t->name))
          continue;
        for (int32_t k = 0; k < tr->partition_responses.count; k++)
          if (tr->partition_responses.items[k].index == b->pp->partition) {
            pr_found = &tr->partition_responses.items[k];
            break;
          }
      }
      if (!pr_found) {
        b->pp->in_flight--;
        c->batches_in_flight--;
        kclient__batch_failed(
            c, b, -EPROTO, "the Produce response left out a partition", false);
        continue;
      }
      kclient__batch_result(c, b, pr_found->error_code, pr_found->base_offset,
                            pr_found->log_append_time_ms,
                            pr_found->error_message);
    }
  }
  kclient__preq_free(pr);
  kclient__flush_check(c);
  c->drain_wanted = true;
}

/* --------------------------------------------------------------- service */

/* Batches are created in queue order, so delivery deadlines grow along
 * the queue: only the oldest batches not in flight can have expired, and
 * the first one left is the next deadline. The tail may be open (linger)
 * and batches being retried sit at the head. Touches O(in flight + 1)
 * batches, not the whole queue. */
static uint64_t kclient__expire_part(kclient_t *c, kclient__topic *t,
                                     kclient__ppart *pp, uint64_t now,
                                     uint64_t next) {
  GList *l = pp->batches.head;
  while (l) {
    GList *nl = l->next;
    kclient__pbatch *b = l->data;
    if (b->state == KCLIENT__PB_IN_FLIGHT) {
      l = nl;
      continue;
    }
    if (b->deadline_ns > now) {
      if (b->deadline_ns < next)
        next = b->deadline_ns;
      if (b->state == KCLIENT__PB_RETRY && b->retry_at_ns > now &&
          b->retry_at_ns < next)
        next = b->retry_at_ns;
      break;
    }
    int err = b->last_err ? b->last_err : -ETIMEDOUT;
    /* Never sent: say why (the leader unknown, or unreachable). */
    const char *why = b->last_err ? b->last_errmsg : "no leader known";
    int32_t leader = kclient__leader(t, pp->partition);
    kclient__broker *lb = leader >= 0 ? kclient__broker_find(c, leader) : NULL;
    if (!b->last_err && lb && lb->last_err)
      why = lb->last_errmsg;
    char msg[KCLIENT_ERRMSG_BYTES];
    kclient__errmsg(
        msg, err, "not delivered within %u ms to %s-%d (last error: %s)",
        c->cfg.delivery_timeout_ms, t->name, (int)pp->partition, why);
    if (c->cfg.idempotence && b->base_seq >= 0)
      c->pid_reset = true; /* its sequence numbers leave a gap */
    if (b->state == KCLIENT__PB_OPEN)
      kclient__batch_close(c, b);
    kclient__batch_done(c, b, err, msg, -1, -1);
    l = nl;
  }
  kclient__pbatch *tail = g_queue_peek_tail(&pp->batches);
  if (tail && tail->state == KCLIENT__PB_OPEN) {
    /* A linger deadline already past waits for the tick (or an event),
     * so a batch that cannot be sent does not spin the timer. */
    uint64_t at = tail->created_ns + kclient__ms_ns(c->cfg.linger_ms);
    if (at > now && at < next)
      next = at;
  }
  return next;
}

/* Fails what ran out of time; returns the next deadline of interest. */
static uint64_t kclient__expire(kclient_t *c, uint64_t now) {
  uint64_t next = UINT64_MAX;
  for (guint ti = 0; ti < c->topic_list->len; ti++) {
    kclient__topic *t = g_ptr_array_index(c->topic_list, ti);
    kclient__wrec *w;
    while ((w = g_queue_peek_head(&t->waiting)) && w->deadline_ns <= now) {
      g_queue_pop_head(&t->waiting);
      char msg[KCLIENT_ERRMSG_BYTES];
      kclient__errmsg(msg, -ETIMEDOUT,
                      "no metadata for topic %s within %u ms (%s)", t->name,
                      c->cfg.delivery_timeout_ms,
                      t->err ? kclient_err_name(t->err) : "no broker answered");
      kclient__wrec_done(c, t, w, t->err ? t->err : -ETIMEDOUT, msg);
    }
    uint64_t tick = now + kclient__ms_ns(KCLIENT__PRODUCER_TICK_MS);
    if (!g_queue_is_empty(&t->waiting) && tick < next)
      next = tick;
    for (guint p = 0; p < t->pparts->len; p++) {
      kclient__ppart *pp = g_ptr_array_index(t->pparts, p);
      if (pp)
        next = kclient__expire_part(c, t, pp, now, next);
    }
  }
  return next;
}

static void kclient__producer_service_fired(void *arg) {
  kclient_t *c = arg;
  c->producer_timer = 0;
  kclient__enter(c);
  uint64_t now = kclient__now_ns(c);
  uint64_t next = kclient__expire(c, now);
  kclient__flush_check(c);
  kclient__producer_drain(c);
  if (c->pending_records > 0) {
    kclient__metadata_check_age(c);
    uint64_t tick = now + kclient__ms_ns(KCLIENT__PRODUCER_TICK_MS);
    if (next == UINT64_MAX || next > tick)
      next = tick;
    /* Something waits for a leader: keep metadata coming. */
    bool leaderless = false;
    for (guint ti = 0; ti < c->topic_list->len && !leaderless; ti++) {
      kclient__topic *t = g_ptr_array_index(c->topic_list, ti);
      leaderless = !g_queue_is_empty(&t->waiting);
      for (guint p = 0; p < t->pparts->len && !leaderless; p++) {
        kclient__ppart *pp = g_ptr_array_index(t->pparts, p);
        leaderless = pp && !g_queue_is_empty(&pp->batches) &&
                     kclient__leader(t, (int32_t)p) < 0;
      }
    }
    if (leaderless)
      kclient__metadata_refresh(c);
  }
  if (next != UINT64_MAX)
    kclient__producer_wake_at(c, next > now ? next : now + 1);
  kclient__leave(c);
}

void kclient__producer_topic_updated(kclient_t *c, kclient__topic *t) {
  if (t->metadata_known) {
    kclient__waiting_place(c, t);
    return;
  }
  if (kclient__topic_missing(c, t)) {
    char msg[KCLIENT_ERRMSG_BYTES];
    kclient__errmsg(msg, t->err, "topic %s does not exist", t->name);
    kclient__wrec *w;
    while ((w = g_queue_pop_head(&t->waiting)))
      kclient__wrec_done(c, t, w, t->err, msg);
    kclient__flush_check(c);
  }
}

/* ----------------------------------------------------------------- flush */

static void kclient__flush_check(kclient_t *c) {
  if (c->pending_records > 0 || c->flush_waiters->len == 0)
    return;
  GArray *w = c->flush_waiters;
  c->flush_waiters = g_array_new(FALSE, FALSE, sizeof(kclient__flush_waiter));
  c->flushing = 0;
  for (guint i = 0; i < w->len; i++) {
    kclient__flush_waiter *fw = &g_array_index(w, kclient__flush_waiter, i);
    fw->cb(fw->arg, 0, "");
  }
  g_array_free(w, TRUE);
}

static void kclient__flush_deferred(void *arg) {
  kclient_t *c = arg;
  kclient__flush_check(c);
  c->drain_wanted = true;
}

void kclient_flush(kclient_t *c, kclient_done_cb cb, void *arg) {
  SL_ASSERT(c && cb);
  kclient__flush_waiter w = {cb, arg};
  g_array_append_val(c->flush_waiters, w);
  c->flushing++;
  kclient__defer(c, kclient__flush_deferred, NULL, c);
}

/* ------------------------------------------------------------------ free */

void kclient__topic_free_producer(kclient__topic *t) {
  for (guint p = 0; p < t->pparts->len; p++) {
    kclient__ppart *pp = g_ptr_array_index(t->pparts, p);
    if (!pp)
      continue;
    GList *l;
    while ((l = g_queue_pop_head_link(&pp->batches)))
      kclient__batch_free(l->data);
    g_free(pp);
    g_ptr_array_index(t->pparts, p) = NULL;
  }
  kclient__wrec *w;
  while ((w = g_queue_pop_head(&t->waiting)))
    g_free(w);
}

void kclient__producer_free(kclient_t *c) {
  GList *l;
  while ((l = g_queue_pop_head_link(&c->preqs))) {
    kclient__preq *pr = l->data;
    kclient__req_cancel(pr->req);
    kclient__preq_free(pr);
  }
  if (c->producer_timer)
    env_timer_cancel(c->env, c->producer_timer);
  c->producer_timer = 0;
  kclient__pbatch *b;
  while ((b = c->pbatch_cache)) {
    c->pbatch_cache = b->cache_next;
    kclient__batch_free(b);
  }
  c->pbatch_cached = 0;
}
