/*
 * api_fetch.c — Fetch (1), with Kafka's long polling.
 *
 * A fetch names partitions and offsets; the answer carries whole record
 * batches read from each log (broker/log/log.h), bounded by the partition's
 * partition_max_bytes, the request's max_bytes and
 * BROKER_FETCH_RESPONSE_BYTES_MAX — except that the first batch found is
 * always returned whole, so a batch larger than the limits cannot stall a
 * consumer (KIP-74). Batches after the first non-empty partition that do
 * not fit are left for the next fetch.
 *
 * Long polling (Kafka's DelayedFetch): when the data found is less than
 * min_bytes and max_wait_ms > 0, the request is parked. It watches its
 * partitions; every append adds its size, and once min_bytes are there (or
 * max_wait_ms passed, or a partition went away) the fetch is read again and
 * answered. Wakeups go through a zero-delay timer, so a produce never
 * answers another connection's fetch from inside its own handler.
 *
 * No copy of the records: each partition's batches are a view of the
 * segment file (log_read_view), the response struct points at them, and
 * broker__respond sends them from there (proto_pieces + env_conn_sendv)
 * before the callback that read them returns. With fetch.sendfile.enable
 * it is broker__respond_files, told where each view lies in its segment
 * file (log_read_info.file), and on uv the records go out by sendfile
 * from the file instead of being copied into the socket (off by default:
 * on loopback the consumer pays more than the broker saves, see
 * docs/broker.md).
 *
 * One replica: the high watermark and the last stable offset are the log
 * end offset, so read_uncommitted and read_committed read the same.
 * No fetch sessions (KIP-227): a client asking for one is answered with
 * session id 0 (none), which every client accepts and falls back to full
 * fetches.
 */
#include <inttypes.h>
#include <string.h>

#include <glib.h>

#include "base/assert.h"
#include "broker/server/broker_internal.h"

struct broker__fetch {
  broker__req *req;
  broker_t *b;
  GPtrArray *watched;     /* broker__partition* */
  size_t bytes_available; /* at park time, plus appends since */
  size_t min_bytes;
  uint64_t timeout_timer;
  uint64_t wake_timer;
};

/* What one pass over the requested partitions found. The records are
 * views into the logs' segment files (log_read_view): valid only until
 * this callback returns or a log changes, so a pass is always answered
 * (or dropped) before its callback returns — a parked fetch reads again
 * when it completes. */
typedef struct fetch_read {
  size_t total;
  bool any_error;
  /* Where each partition's records lie in its segment file, so that they
   * are sent from there (broker__respond_files) [owned]. */
  GArray *files; /* of broker__file_bytes */
} fetch_read;

static void fetch_read_init(fetch_read *fr) {
  memset(fr, 0, sizeof *fr);
  fr->files = g_array_new(FALSE, FALSE, sizeof(broker__file_bytes));
}

static void fetch_read_free(fetch_read *fr) {
  g_array_free(fr->files, TRUE);
  fr->files = NULL;
}

/* Answers with what the pass found, sending the records from their files
 * if fetch.sendfile.enable says so. */
static void fetch_respond(broker__req *req, fetch_read *fr,
                          const proto_fetch_resp *resp) {
  if (!req->b->cfg->fetch_sendfile) {
    broker__respond(req, resp);
    return;
  }
  broker__respond_files(req, resp, (const broker__file_bytes *)fr->files->data,
                        fr->files->len);
}

static int16_t epoch_error(int32_t current, int32_t ours) {
  if (current < 0 || current == ours)
    return KERR_NONE;
  return current < ours ? KERR_FENCED_LEADER_EPOCH : KERR_UNKNOWN_LEADER_EPOCH;
}

static void read_partition(broker__req *req, fetch_read *fr, const char *topic,
                           const proto_fetch_req_fetch_partition *fp,
                           size_t budget, proto_fetch_resp_partition_data *o) {
  broker_t *b = req->b;
  const proto_fetch_req *r = req->body;
  o->partition_index = fp->partition;
  o->high_watermark = -1;
  o->last_stable_offset = -1;
  o->log_start_offset = -1;
  o->preferred_read_replica = -1;
  o->aborted_transactions.items = NULL;
  o->aborted_transactions.count = r->isolation_level == 0 ? -1 : 0;
  o->records.data = NULL;
  o->records.len = 0;
  int err = KERR_NONE;
  broker__partition *p = broker__partition_find(b, topic, fp->partition, &err);
  if (!p) {
    o->error_code = (int16_t)err;
    fr->any_error = true;
    return;
  }
  int16_t eerr = epoch_error(fp->current_leader_epoch, p->leader_epoch);
  int64_t end = log_end_offset(p->log);
  o->high_watermark = end;
  o->last_stable_offset = end;
  o->log_start_offset = log_start_offset(p->log);
  if (eerr != KERR_NONE) {
    o->error_code = eerr;
    fr->any_error = true;
    return;
  }
  if (fp->fetch_offset == end)
    return;
  if (fp->fetch_offset < o->log_start_offset || fp->fetch_offset > end) {
    o->error_code = KERR_OFFSET_OUT_OF_RANGE;
    fr->any_error = true;
    return;
  }
  if (fr->total > 0 && budget == 0)
    return;
  size_t part_max =
      fp->partition_max_bytes > 0 ? (size_t)fp->partition_max_bytes : 0;
  size_t want = part_max < budget ? part_max : budget;
  log_read_info info;
  const uint8_t *data = NULL;
  size_t got = 0;
  unsigned flags = b->cfg->fetch_verify_crc ? 0 : LOG_READ_NO_CRC;
  err = log_read_view_flags(p->log, fp->fetch_offset, want, end, flags, &data,
                            &got, &info);
  if (err != KERR_NONE) {
    o->error_code = (int16_t)err;
    fr->any_error = true;
    return;
  }
  if (fr->total > 0 && got > want)
    return; /* only the response's first batch may exceed the limits */
  SL_ASSERT(got <= INT32_MAX);
  if (got > 0) {
    o->records.data = data;
    o->records.len = (int32_t)got;
    SL_ASSERT(info.file != NULL);
    broker__file_bytes fb = {.data = data,
                             .len = got,
                             .file = info.file,
                             .position = info.file_position};
    g_array_append_val(fr->files, fb);
  }
  fr->total += got;
}

/* Reads every requested partition into resp. */
static void read_all(broker__req *req, fetch_read *fr, proto_fetch_resp *resp) {
  const proto_fetch_req *r = req->body;
  int32_t nt = r->topics.count < 0 ? 0 : r->topics.count;
  size_t limit = r->max_bytes > 0 ? (size_t)r->max_bytes : 0;
  if (limit > BROKER_FETCH_RESPONSE_BYTES_MAX)
    limit = BROKER_FETCH_RESPONSE_BYTES_MAX;
  proto_fetch_resp_fetchable_topic_response *ts =
      BROKER__NEW_ARRAY(req, proto_fetch_resp_fetchable_topic_response, nt);
  for (int32_t i = 0; i < nt; i++) {
    const proto_fetch_req_fetch_topic *ft = &r->topics.items[i];
    const char *topic = broker__str_clean(ft->topic) ? ft->topic.data : NULL;
    int32_t np = ft->partitions.count < 0 ? 0 : ft->partitions.count;
    proto_fetch_resp_partition_data *ps =
        BROKER__NEW_ARRAY(req, proto_fetch_resp_partition_data, np);
    for (int32_t j = 0; j < np; j++) {
      size_t budget = fr->total < limit ? limit - fr->total : 0;
      read_partition(req, fr, topic, &ft->partitions.items[j], budget, &ps[j]);
    }
    ts[i].topic = ft->topic;
    ts[i].partitions.items = ps;
    ts[i].partitions.count = np;
  }
  resp->responses.items = ts;
  resp->responses.count = nt;
}

static void answer(broker__req *req) {
  proto_fetch_resp *resp = BROKER__NEW(req, proto_fetch_resp);
  fetch_read fr;
  fetch_read_init(&fr);
  read_all(req, &fr, resp);
  env_metric_add(req->b->env, "broker.fetch_bytes", (int64_t)fr.total);
  fetch_respond(req, &fr, resp);
  fetch_read_free(&fr);
}

/* ------------------------------------------------------------ parking */

static void unwatch(broker__fetch *f) {
  broker_t *b = f->b;
  for (guint i = 0; i < f->watched->len; i++) {
    broker__partition *p = g_ptr_array_index(f->watched, i);
    g_ptr_array_remove_fast(p->watchers, f);
  }
  g_ptr_array_set_size(f->watched, 0);
  if (f->timeout_timer)
    env_timer_cancel(b->env, f->timeout_timer);
  if (f->wake_timer)
    env_timer_cancel(b->env, f->wake_timer);
  f->timeout_timer = f->wake_timer = 0;
}

static void fetch_free(broker__fetch *f) {
  unwatch(f);
  g_ptr_array_free(f->watched, TRUE);
  g_free(f);
}

static void complete(broker__fetch *f) {
  broker__req *req = f->req;
  req->state = NULL;
  req->cancel = NULL;
  fetch_free(f);
  answer(req);
}

static void on_timeout(void *arg) {
  broker__fetch *f = arg;
  f->timeout_timer = 0;
  complete(f);
}

static void on_wake(void *arg) {
  broker__fetch *f = arg;
  f->wake_timer = 0;
  complete(f);
}

static void wake(broker__fetch *f) {
  if (!f->wake_timer)
    f->wake_timer = env_timer_start(f->b->env, 0, on_wake, f);
}

static void cancel(broker__req *req) {
  broker__fetch *f = req->state;
  req->state = NULL;
  if (f)
    fetch_free(f);
}

void broker__fetch_notify(broker__partition *p, size_t bytes) {
  for (guint i = 0; i < p->watchers->len; i++) {
    broker__fetch *f = g_ptr_array_index(p->watchers, i);
    f->bytes_available += bytes;
    if (f->bytes_available >= f->min_bytes)
      wake(f);
  }
}

void broker__fetch_partition_gone(broker__partition *p) {
  while (p->watchers->len > 0) {
    broker__fetch *f = g_ptr_array_steal_index_fast(p->watchers, 0);
    g_ptr_array_remove_fast(f->watched, p);
    wake(f);
  }
}

static broker__handled park(broker__req *req, size_t available) {
  broker_t *b = req->b;
  const proto_fetch_req *r = req->body;
  broker__fetch *f = g_new0(broker__fetch, 1);
  f->req = req;
  f->b = b;
  f->watched = g_ptr_array_new();
  f->bytes_available = available;
  f->min_bytes = (size_t)r->min_bytes;
  for (int32_t i = 0; i < r->topics.count; i++) {
    const proto_fetch_req_fetch_topic *ft = &r->topics.items[i];
    const char *topic = broker__str_clean(ft->topic) ? ft->topic.data : NULL;
    for (int32_t j = 0; j < ft->partitions.count; j++) {
      int err;
      broker__partition *p = broker__partition_find(
          b, topic, ft->partitions.items[j].partition, &err);
      if (p && !g_ptr_array_find(f->watched, p, NULL)) {
        g_ptr_array_add(f->watched, p);
        g_ptr_array_add(p->watchers, f);
      }
    }
  }
  int64_t wait_ms = r->max_wait_ms;
  if (wait_ms > BROKER_FETCH_WAIT_MS_MAX)
    wait_ms = BROKER_FETCH_WAIT_MS_MAX;
  f->timeout_timer =
      env_timer_start(b->env, (uint64_t)wait_ms * 1000000u, on_timeout, f);
  req->state = f;
  req->cancel = cancel;
  return BROKER__PARKED;
}

broker__handled broker__api_fetch(broker__req *req) {
  const proto_fetch_req *r = req->body;
  if (req->header.api_version >= 7 && r->session_id != 0) {
    /* We never hand out sessions, so no id can be known. */
    proto_fetch_resp *resp = BROKER__NEW(req, proto_fetch_resp);
    resp->error_code = KERR_FETCH_SESSION_ID_NOT_FOUND;
    resp->session_id = 0;
    resp->responses.count = 0;
    broker__respond(req, resp);
    return BROKER__DONE;
  }
  /* First pass: is there enough to answer now? */
  proto_fetch_resp *resp = BROKER__NEW(req, proto_fetch_resp);
  fetch_read fr;
  fetch_read_init(&fr);
  read_all(req, &fr, resp);
  bool now = fr.any_error || r->max_wait_ms <= 0 ||
             fr.total >= (size_t)(r->min_bytes > 0 ? r->min_bytes : 0) ||
             req->b->shutting_down;
  if (now) {
    env_metric_add(req->b->env, "broker.fetch_bytes", (int64_t)fr.total);
    fetch_respond(req, &fr, resp);
    fetch_read_free(&fr);
    return BROKER__DONE;
  }
  /* The views are dropped here: the parked fetch reads again when it
   * completes, inside the callback that answers it. */
  size_t available = fr.total;
  fetch_read_free(&fr);
  return park(req, available);
}
