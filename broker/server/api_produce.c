/*
 * api_produce.c — Produce (0) and InitProducerId (22).
 *
 * Produce v3+ carries, per partition, exactly one record batch v2 (Kafka
 * rejects anything else with INVALID_RECORD). The batch is validated (size,
 * CRC, magic, counts, every record decoded: broker/log/batch.h) against the
 * topic's max.message.bytes, checked against the idempotent producer state
 * (producers.c), then appended straight from the request frame (no copy:
 * see produce_one): the log assigns the offsets. The bytes stored are the
 * bytes the producer sent, except the base offset and the leader epoch
 * (outside the CRC).
 *
 * acks: 1 and -1 are answered once appended (one replica: the high
 * watermark is the log end, so -1 waits for nothing more — unless
 * min.insync.replicas > 1, which one replica can never satisfy:
 * NOT_ENOUGH_REPLICAS); 0 gets no answer at all, and an error closes the
 * connection, as Kafka does.
 *
 * Flush before the answer: when an append leaves at least the topic's
 * flush.messages (log.flush.interval.messages) offsets unflushed, Kafka
 * flushes inside the append, so the answer only leaves once the batch is
 * durable. Here the flush is asynchronous (env.h), so the request parks
 * until every such partition's flush completed; an acknowledged write is
 * then never lost to a crash. A failed flush answers KAFKA_STORAGE_ERROR
 * for that partition. An idempotent producer's retry that turns out to be
 * a duplicate waits the same way until the earlier append is durable.
 *
 * InitProducerId hands out producer ids from a block reserved durably in
 * the metadata file, so an id is never reused after a crash.
 */
#include <inttypes.h>
#include <string.h>

#include <glib.h>

#include "base/assert.h"
#include "broker/log/batch.h"
#include "broker/server/broker_internal.h"

typedef struct produce_result {
  int16_t error;
  int64_t base_offset;
  int64_t log_append_time_ms;
  int64_t log_start_offset;
  const char *message;
  log_t *flush_log;  /* non-NULL: acknowledge only once flushed to... */
  int64_t flush_end; /* ...this offset (exclusive) */
} produce_result;

/* A produce request parked until the flushes it triggered complete. */
typedef struct broker__produce_wait broker__produce_wait;

typedef struct produce_wait_item {
  broker__produce_wait *wait;
  /* The partition's answer, in the request's response arena: written
   * only while the request is alive (wait->req != NULL). */
  proto_produce_resp_partition_produce_response *answer;
} produce_wait_item;

struct broker__produce_wait {
  broker_t *b;
  broker__req *req; /* NULL once the connection closed (cancelled) */
  proto_produce_resp *resp;
  unsigned flushes_pending;
  GList *link; /* in b->produce_waits */
  size_t item_count;
  produce_wait_item items[];
};

/* Whether the append that ended at log end offset leo must be durable
 * before it is acknowledged (see the top of this file). */
static bool flush_due(const broker__partition *p) {
  int64_t every = p->topic->settings.log.flush_messages;
  if (every == LOG_NEVER)
    return false;
  return log_end_offset(p->log) - log_recovery_point(p->log) >= every;
}

static void produce_wait_free(broker__produce_wait *w) {
  g_queue_delete_link(&w->b->produce_waits, w->link);
  g_free(w);
}

static void produce_flushed(void *arg, int status) {
  produce_wait_item *item = arg;
  broker__produce_wait *w = item->wait;
  if (w->req && status != 0) {
    item->answer->error_code = KERR_KAFKA_STORAGE_ERROR;
    item->answer->base_offset = -1;
  }
  SL_ASSERT(w->flushes_pending > 0);
  if (--w->flushes_pending > 0)
    return;
  broker__req *req = w->req;
  proto_produce_resp *resp = w->resp;
  produce_wait_free(w);
  if (req) {
    req->state = NULL;
    req->cancel = NULL;
    broker__respond(req, resp);
  }
}

static void produce_cancel(broker__req *req) {
  broker__produce_wait *w = req->state;
  w->req = NULL; /* the flushes still finish; nobody is answered */
  req->state = NULL;
}

void broker__produce_waits_free(broker_t *b) {
  broker__produce_wait *w;
  while ((w = g_queue_peek_head(&b->produce_waits)))
    produce_wait_free(w);
}

static void produce_one(broker__req *req, const char *topic, int16_t acks,
                        const proto_produce_req_partition_produce_data *pd,
                        produce_result *res) {
  broker_t *b = req->b;
  res->base_offset = -1;
  res->log_append_time_ms = -1;
  res->log_start_offset = -1;
  res->message = NULL;
  res->flush_log = NULL;
  res->flush_end = -1;
  int err = KERR_NONE;
  broker__partition *p = broker__partition_find(b, topic, pd->index, &err);
  if (!p) {
    res->error = (int16_t)err;
    return;
  }
  const broker__topic_settings *s = &p->topic->settings;
  if (acks == -1 && s->min_insync_replicas > 1) {
    res->error = KERR_NOT_ENOUGH_REPLICAS;
    return;
  }
  const uint8_t *data = pd->records.data;
  size_t len = pd->records.len < 0 ? 0 : (size_t)pd->records.len;
  int64_t total = len ? batch_total_bytes(data, len) : -1;
  if (len == 0 || (total > 0 && (uint64_t)total < len)) {
    res->error = KERR_INVALID_RECORD;
    res->message = "Produce requests with version 3 and above must contain "
                   "exactly one record batch";
    return;
  }
  batch_limits limits = {(size_t)s->max_message_bytes, false, true};
  err = batch_validate_scratch(data, len, &limits, &b->scratch);
  if (err == KERR_NONE && (be16_load(data + BATCH_OFF_ATTRIBUTES) &
                           BATCH_ATTR_TRANSACTIONAL)) {
    err = KERR_INVALID_TXN_STATE;
    res->message = "transactions are not supported by this broker";
  }
  if (err != KERR_NONE) {
    res->error = (int16_t)err;
    env_metric_add(b->env, "broker.produce_rejected", 1);
    return;
  }
  broker__seq_check chk;
  broker__producer_check(p, data, &chk);
  if (chk.error != KERR_NONE) {
    res->error = (int16_t)chk.error;
    return;
  }
  res->log_start_offset = log_start_offset(p->log);
  if (chk.duplicate) {
    res->error = KERR_NONE;
    res->base_offset = chk.first_offset;
    /* A retry of a batch whose first answer never arrived: that append
     * may still be waiting for its flush, or come from a previous run
     * whose flush never finished. Acknowledge it on the same terms. */
    if (acks != 0 && flush_due(p) &&
        chk.last_offset >= log_recovery_point(p->log)) {
      res->flush_log = p->log;
      res->flush_end = chk.last_offset + 1;
    }
    /* The earlier append may still be in the log's write buffer. */
    broker__req_appended(req, p->log);
    env_metric_add(b->env, "broker.produce_duplicates", 1);
    return;
  }
  /* Appended in place, not copied: the frame lies in this connection's
   * own receive buffer (base/rxbuf.h), the records field points into it
   * (zero-copy decode), and nothing reads the request's records after
   * this handler. So the log may patch the base
   * offset and leader epoch (and, for LogAppendTime, the timestamp and
   * CRC) right there; the page-cache write is the only copy. */
  uint8_t *batch = (uint8_t *)(uintptr_t)data;
  log_append_info info;
  err = log_append(p->log, batch, len, p->leader_epoch, &info);
  if (err != KERR_NONE) {
    res->error = (int16_t)err;
    return;
  }
  /* Into the file before the answer leaves (conn.c). */
  broker__req_appended(req, p->log);
  broker__producer_record(b, p, batch, info.base_offset, info.last_offset);
  res->error = KERR_NONE;
  res->base_offset = info.base_offset;
  res->log_append_time_ms = info.log_append_time_ms;
  res->log_start_offset = info.log_start_offset;
  if (acks != 0 && flush_due(p)) {
    res->flush_log = p->log;
    res->flush_end = info.last_offset + 1;
  }
  env_metric_add(b->env, "broker.produce_bytes", (int64_t)len);
  broker__fetch_notify(p, len);
}

broker__handled broker__api_produce(broker__req *req) {
  broker_t *b = req->b;
  const proto_produce_req *r = req->body;
  int16_t acks = r->acks;
  bool acks_ok = acks == -1 || acks == 0 || acks == 1;
  bool txn = r->transactional_id.len >= 0;
  bool any_error = false;
  int32_t nt = r->topic_data.count < 0 ? 0 : r->topic_data.count;
  /* Partitions whose answer waits for a flush: at most one per partition
   * of the request. */
  size_t partitions_total = 0;
  for (int32_t i = 0; i < nt; i++)
    if (r->topic_data.items[i].partition_data.count > 0)
      partitions_total += (size_t)r->topic_data.items[i].partition_data.count;
  broker__produce_wait *wait = NULL;
  log_t **flush_logs = NULL;
  int64_t *flush_ends = NULL;
  proto_produce_resp *resp = BROKER__NEW(req, proto_produce_resp);
  proto_produce_resp_topic_produce_response *ts =
      BROKER__NEW_ARRAY(req, proto_produce_resp_topic_produce_response, nt);
  for (int32_t i = 0; i < nt; i++) {
    const proto_produce_req_topic_produce_data *td = &r->topic_data.items[i];
    const char *topic = broker__str_clean(td->name) ? td->name.data : NULL;
    int32_t np = td->partition_data.count < 0 ? 0 : td->partition_data.count;
    proto_produce_resp_partition_produce_response *ps = BROKER__NEW_ARRAY(
        req, proto_produce_resp_partition_produce_response, np);
    for (int32_t j = 0; j < np; j++) {
      const proto_produce_req_partition_produce_data *pd =
          &td->partition_data.items[j];
      produce_result res;
      if (!acks_ok || txn) {
        res = (produce_result){
            !acks_ok ? KERR_INVALID_REQUIRED_ACKS : KERR_INVALID_TXN_STATE,
            -1,
            -1,
            -1,
            txn ? "transactions are not supported by this broker" : NULL,
            NULL,
            -1};
      } else {
        produce_one(req, topic, acks, pd, &res);
      }
      if (res.error != KERR_NONE)
        any_error = true;
      ps[j].index = pd->index;
      ps[j].error_code = res.error;
      ps[j].base_offset = res.base_offset;
      ps[j].log_append_time_ms = res.log_append_time_ms;
      ps[j].log_start_offset = res.log_start_offset;
      ps[j].record_errors.count = 0;
      ps[j].error_message = broker__str(req, res.message);
      if (res.flush_log) {
        if (!wait) {
          wait = g_malloc0(sizeof *wait +
                           partitions_total * sizeof(produce_wait_item));
          flush_logs = g_new(log_t *, partitions_total);
          flush_ends = g_new(int64_t, partitions_total);
        }
        SL_ASSERT(wait->item_count < partitions_total);
        flush_logs[wait->item_count] = res.flush_log;
        flush_ends[wait->item_count] = res.flush_end;
        wait->items[wait->item_count++] =
            (produce_wait_item){wait, &ps[j]};
      }
    }
    ts[i].name = td->name;
    ts[i].partition_responses.items = ps;
    ts[i].partition_responses.count = np;
  }
  resp->responses.items = ts;
  resp->responses.count = nt;
  if (acks == 0)
    return any_error ? BROKER__CLOSE : BROKER__DONE;
  if (!wait) {
    broker__respond(req, resp);
    return BROKER__DONE;
  }
  /* Park until every triggered flush completed (log_flush always calls
   * back on a later turn, so the count is complete before any arrives). */
  wait->b = b;
  wait->req = req;
  wait->resp = resp;
  wait->flushes_pending = (unsigned)wait->item_count;
  g_queue_push_tail(&b->produce_waits, wait);
  wait->link = g_queue_peek_tail_link(&b->produce_waits);
  req->state = wait;
  req->cancel = produce_cancel;
  for (size_t k = 0; k < wait->item_count; k++)
    log_flush(flush_logs[k], flush_ends[k], produce_flushed, &wait->items[k]);
  g_free(flush_logs);
  g_free(flush_ends);
  return BROKER__PARKED;
}

/* --------------------------------------------------------- InitProducerId */

static void answer_pid(broker__req *req, int16_t error, int64_t pid) {
  proto_init_producer_id_resp *resp =
      BROKER__NEW(req, proto_init_producer_id_resp);
  resp->error_code = error;
  resp->producer_id = pid;
  resp->producer_epoch = error ? -1 : 0;
  broker__respond(req, resp);
}

static void reserve_block(broker_t *b);

static void on_block_durable(void *arg, int status) {
  broker_t *b = arg;
  b->pid_write_running = false;
  if (status == 0 && b->pid_block_end > b->pid_reserved_end)
    b->pid_reserved_end = b->pid_block_end;
  /* Serve the waiters in order while ids last. */
  while (!g_queue_is_empty(&b->pid_waiters)) {
    broker__req *req = g_queue_peek_head(&b->pid_waiters);
    if (status < 0) {
      g_queue_pop_head(&b->pid_waiters);
      answer_pid(req, KERR_KAFKA_STORAGE_ERROR, -1);
      continue;
    }
    if (b->pid_next >= b->pid_reserved_end)
      break;
    g_queue_pop_head(&b->pid_waiters);
    answer_pid(req, KERR_NONE, b->pid_next++);
  }
  if (!g_queue_is_empty(&b->pid_waiters))
    reserve_block(b);
}

static void reserve_block(broker_t *b) {
  if (b->pid_write_running)
    return;
  b->pid_write_running = true;
  b->pid_block_end = b->pid_reserved_end + BROKER_PRODUCER_ID_BLOCK;
  broker__metadata_write(b, on_block_durable, b);
}

static void cancel_pid_wait(broker__req *req) {
  g_queue_remove(&req->b->pid_waiters, req);
}

broker__handled broker__api_init_producer_id(broker__req *req) {
  broker_t *b = req->b;
  const proto_init_producer_id_req *r = req->body;
  if (r->transactional_id.len >= 0) {
    /* Transactional producers need a transaction coordinator. */
    answer_pid(req, KERR_NOT_COORDINATOR, -1);
    return BROKER__DONE;
  }
  if (b->pid_next < b->pid_reserved_end &&
      g_queue_is_empty(&b->pid_waiters)) {
    answer_pid(req, KERR_NONE, b->pid_next++);
    return BROKER__DONE;
  }
  if (g_queue_get_length(&b->pid_waiters) >= BROKER_PID_WAITERS_MAX) {
    answer_pid(req, KERR_COORDINATOR_NOT_AVAILABLE, -1);
    return BROKER__DONE;
  }
  g_queue_push_tail(&b->pid_waiters, req);
  req->cancel = cancel_pid_wait;
  reserve_block(b);
  return BROKER__PARKED;
}
