/*
 * consumer.c — ListOffsets and a consumer with manual assignment (Kafka's
 * KafkaConsumer.assign/seek and its Fetcher, without groups).
 *
 * Each assigned partition has a position: the next offset to deliver, or
 * KCLIENT_OFFSET_EARLIEST / _LATEST until ListOffsets has resolved it. The
 * consumer keeps at most one Fetch in flight per leader broker, carrying
 * every ready partition that broker leads, on the broker's fetch
 * connection (so a long poll never holds up a produce or metadata request
 * behind it). A response delivers records in offset order, skipping what
 * lies below the position (a fetch returns whole batches) and control
 * batches; the CRC of every batch is checked, as Kafka's consumer does with
 * check.crcs. A first batch bigger than partition_max_bytes arrives cut
 * short: the partition's fetch size doubles (up to max_bytes) and it asks
 * again.
 *
 * Errors per partition: OFFSET_OUT_OF_RANGE resets the position
 * (offset_reset); leader changes and other retriable errors back off and
 * refresh metadata; anything else stops the partition and goes to
 * on_error.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "base/assert.h"
#include "broker/client/client_internal.h"
#include "broker/kerr.h"

/* ----------------------------------------------------------- list offsets */

typedef void (*kclient__offset_done)(void *arg, int err, const char *errmsg,
                                     int64_t offset, int64_t timestamp_ms);

typedef struct kclient__lo {
  char *topic;
  int32_t partition;
  int64_t timestamp;
  int8_t isolation_level;
  int64_t offset;
  int64_t result_ts;
} kclient__lo;

static int32_t kclient__lo_route(kclient__op *op) {
  kclient__lo *lo = op->ctx;
  kclient__topic *t = kclient__topic_get(op->c, lo->topic);
  if (t->metadata_known && lo->partition >= t->partition_count) {
    op->err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
    kclient__errmsg(op->errmsg, op->err, "topic %s has no partition %d",
                    lo->topic, (int)lo->partition);
    return KCLIENT__ROUTE_FAIL;
  }
  if (kclient__topic_missing(op->c, t)) {
    op->err = t->err;
    kclient__errmsg(op->errmsg, op->err, "topic %s does not exist", lo->topic);
    return KCLIENT__ROUTE_FAIL;
  }
  int32_t leader = kclient__leader(t, lo->partition);
  return leader >= 0 ? leader : KCLIENT__ROUTE_WAIT;
}

static void *kclient__lo_build(void *ctx, int16_t version, proto_arena *a) {
  kclient__op *op = ctx;
  kclient__lo *lo = op->ctx;
  proto_list_offsets_req *req = PROTO_NEW(a, proto_list_offsets_req);
  if (!req)
    return NULL;
  req->replica_id = -1;
  req->isolation_level = lo->isolation_level;
  req->topics.items =
      PROTO_NEW_ARRAY(a, proto_list_offsets_req_list_offsets_topic, 1);
  if (!req->topics.items)
    return NULL;
  req->topics.count = 1;
  proto_list_offsets_req_list_offsets_topic *t = &req->topics.items[0];
  t->name = proto_str_from(lo->topic);
  t->partitions.items =
      PROTO_NEW_ARRAY(a, proto_list_offsets_req_list_offsets_partition, 1);
  if (!t->partitions.items)
    return NULL;
  t->partitions.count = 1;
  t->partitions.items[0].partition_index = lo->partition;
  t->partitions.items[0].current_leader_epoch = -1;
  t->partitions.items[0].timestamp = lo->timestamp;
  t->partitions.items[0].max_num_offsets = 1;
  return req;
}

static kclient__op_action kclient__lo_handle(kclient__op *op, int16_t version,
                                             void *body) {
  kclient__lo *lo = op->ctx;
  const proto_list_offsets_resp *resp = body;
  for (int32_t i = 0; i < resp->topics.count; i++) {
    const proto_list_offsets_resp_list_offsets_topic_response *t =
        &resp->topics.items[i];
    if (!proto_str_eq(t->name, lo->topic))
      continue;
    for (int32_t k = 0; k < t->partitions.count; k++) {
      const proto_list_offsets_resp_list_offsets_partition_response *p =
          &t->partitions.items[k];
      if (p->partition_index != lo->partition)
        continue;
      if (p->error_code) {
        op->err = p->error_code;
        kclient__errmsg(op->errmsg, op->err, "ListOffsets %s-%d: %s", lo->topic,
                        (int)lo->partition, kclient_err_name(op->err));
        if (!kclient_err_retriable(op->err))
          return KCLIENT__OP_DONE;
        return kclient__err_needs_refresh(op->err) ? KCLIENT__OP_REFRESH
                                                   : KCLIENT__OP_RETRY;
      }
      lo->offset = p->offset;
      lo->result_ts = p->timestamp;
      return KCLIENT__OP_DONE;
    }
  }
  op->err = -EPROTO;
  kclient__errmsg(op->errmsg, op->err,
                  "the ListOffsets response left out %s-%d", lo->topic,
                  (int)lo->partition);
  return KCLIENT__OP_DONE;
}

static void kclient__lo_finish(kclient__op *op) {
  kclient__lo *lo = op->ctx;
  kclient__offset_done cb = (kclient__offset_done)op->user_cb;
  if (cb)
    cb(op->user_arg, op->err, op->err ? op->errmsg : "",
       op->err ? -1 : lo->offset, op->err ? -1 : lo->result_ts);
}

static void kclient__lo_free(kclient__op *op) {
  kclient__lo *lo = op->ctx;
  g_free(lo->topic);
  g_free(lo);
}

static const kclient__op_vt kclient__lo_vt = {
    .name = "ListOffsets",
    .api_key = PROTO_API_LIST_OFFSETS,
    .route = kclient__lo_route,
    .build = kclient__lo_build,
    .handle = kclient__lo_handle,
    .finish = kclient__lo_finish,
    .free_ctx = kclient__lo_free,
};

static kclient__op *kclient__lo_start(kclient_t *c, const char *topic,
                                      int32_t partition, int64_t timestamp,
                                      int8_t isolation_level,
                                      kclient__offset_done cb, void *arg,
                                      bool fail_fast) {
  kclient__lo *lo = g_new0(kclient__lo, 1);
  lo->topic = g_strdup(topic);
  lo->partition = partition;
  lo->timestamp = timestamp;
  lo->isolation_level = isolation_level;
  lo->offset = -1;
  lo->result_ts = -1;
  kclient__topic_get(c, topic); /* metadata interest */
  kclient__op *op = kclient__op_new(c, &kclient__lo_vt, lo, (void *)cb, arg);
  op->fail_fast = fail_fast;
  kclient__op_start(op);
  return op;
}

void kclient_list_offsets(kclient_t *c, const char *topic, int32_t partition,
                          int64_t timestamp, kclient_offset_cb cb, void *arg) {
  SL_ASSERT(c && topic && cb);
  kclient__lo_start(c, topic, partition, timestamp, 0, (kclient__offset_done)cb,
                    arg, true);
}

/* --------------------------------------------------------------- consumer */

typedef struct kclient__cpart {
  kclient_consumer_t *k;
  kclient__topic *t;
  int32_t partition;
  int64_t position;
  int64_t high_watermark;
  int32_t fetch_bytes; /* partition_max_bytes, doubled for big batches */
  uint32_t generation; /* bumped by every assign */
  uint32_t failures;   /* retriable errors in a row (backoff) */
  bool fetching;
  bool stopped;
  /* >= 0: the offset the next fetch asks for, set from a response before
   * its records are delivered (see kclient__fetch_response); -1: fetch
   * at the position. */
  int64_t prefetch_offset;
  kclient__op *resolve_op;
  uint64_t backoff_until_ns;
} kclient__cpart;

typedef struct kclient__fpart {
  kclient__cpart *cp;
  uint32_t generation;
  int64_t fetch_offset;
  bool prefetched; /* released early: the next fetch went out already */
} kclient__fpart;

typedef struct kclient__fetch {
  kclient_consumer_t *k;
  int32_t node_id;
  GArray *parts; /* kclient__fpart, grouped by topic */
  kclient__req *req;
  uint64_t sent_ns;
} kclient__fetch;

struct kclient_consumer {
  kclient_t *c;
  kclient_consumer_config cfg;
  GPtrArray *parts;   /* kclient__cpart*, sorted by (topic, partition) */
  GPtrArray *fetches; /* kclient__fetch* in flight */
  bool paused;
  uint64_t timer;
  uint64_t timer_at_ns;
  batch_iter *iter;
};

void kclient_consumer_config_default(kclient_consumer_config *cfg) {
  SL_ASSERT(cfg);
  memset(cfg, 0, sizeof *cfg);
  cfg->max_wait_ms = 500;
  cfg->min_bytes = 1;
  cfg->max_bytes = 50 * 1024 * 1024;
  cfg->partition_max_bytes = 1024 * 1024;
  cfg->isolation_level = 0;
  cfg->offset_reset = KCLIENT_OFFSET_EARLIEST;
}

kclient_consumer_t *kclient_consumer_new(kclient_t *c,
                                         const kclient_consumer_config *cfg) {
  SL_ASSERT(c && cfg && cfg->on_record);
  SL_ASSERT(cfg->max_bytes > 0 && cfg->partition_max_bytes > 0);
  kclient_consumer_t *k = g_new0(kclient_consumer_t, 1);
  k->c = c;
  k->cfg = *cfg;
  k->parts = g_ptr_array_new();
  k->fetches = g_ptr_array_new();
  g_ptr_array_add(c->consumers, k);
  return k;
}

static int kclient__cpart_cmp(const kclient__cpart *cp, const char *topic,
                              int32_t partition) {
  int r = strcmp(cp->t->name, topic);
  if (r)
    return r;
  return cp->partition < partition ? -1 : cp->partition > partition;
}

/* Index of (topic, partition) in k->parts, or -(insertion point) - 1. */
static gint kclient__cpart_find(kclient_consumer_t *k, const char *topic,
                                int32_t partition) {
  gint lo = 0, hi = (gint)k->parts->len;
  while (lo < hi) {
    gint mid = lo + (hi - lo) / 2;
    int r =
        kclient__cpart_cmp(g_ptr_array_index(k->parts, mid), topic, partition);
    if (r == 0)
      return mid;
    if (r < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -lo - 1;
}

int kclient_consumer_assign(kclient_consumer_t *k, const char *topic,
                            int32_t partition, int64_t offset) {
  SL_ASSERT(k);
  if (!topic || !topic[0] || strlen(topic) > KCLIENT__TOPIC_NAME_BYTES_MAX ||
      partition < 0 ||
      (offset < 0 && offset != KCLIENT_OFFSET_EARLIEST &&
       offset != KCLIENT_OFFSET_LATEST))
    return -EINVAL;
  gint at = kclient__cpart_find(k, topic, partition);
  kclient__cpart *cp;
  if (at >= 0) {
    cp = g_ptr_array_index(k->parts, at);
    kclient__op_cancel(cp->resolve_op);
    cp->resolve_op = NULL;
  } else {
    if (k->parts->len >= KCLIENT_CONSUMER_PARTITIONS_MAX)
      return -ENOBUFS;
    cp = g_new0(kclient__cpart, 1);
    cp->k = k;
    cp->t = kclient__topic_get(k->c, topic);
    cp->partition = partition;
    g_ptr_array_insert(k->parts, -at - 1, cp);
  }
  cp->position = offset;
  cp->prefetch_offset = -1;
  cp->high_watermark = -1;
  cp->fetch_bytes = k->cfg.partition_max_bytes;
  cp->generation++;
  cp->stopped = false;
  cp->failures = 0;
  cp->backoff_until_ns = 0;
  if (!cp->t->metadata_known)
    kclient__metadata_refresh(k->c);
  kclient__kick(k->c);
  return 0;
}

void kclient_consumer_pause(kclient_consumer_t *k) { k->paused = true; }

void kclient_consumer_resume(kclient_consumer_t *k) {
  k->paused = false;
  kclient__kick(k->c);
}

int64_t kclient_consumer_position(kclient_consumer_t *k, const char *topic,
                                  int32_t partition) {
  gint at = kclient__cpart_find(k, topic, partition);
  if (at < 0)
    return -EINVAL;
  return ((kclient__cpart *)g_ptr_array_index(k->parts, at))->position;
}

int64_t kclient_consumer_high_watermark(kclient_consumer_t *k,
                                        const char *topic, int32_t partition) {
  gint at = kclient__cpart_find(k, topic, partition);
  if (at < 0)
    return -1;
  return ((kclient__cpart *)g_ptr_array_index(k->parts, at))->high_watermark;
}

static void kclient__fetch_free(kclient__fetch *f) {
  g_array_free(f->parts, TRUE);
  g_free(f);
}

void kclient_consumer_free(kclient_consumer_t *k) {
  if (!k)
    return;
  kclient_t *c = k->c;
  for (guint i = 0; i < k->fetches->len; i++) {
    kclient__fetch *f = g_ptr_array_index(k->fetches, i);
    kclient__req_cancel(f->req);
    kclient__fetch_free(f);
  }
  for (guint i = 0; i < k->parts->len; i++) {
    kclient__cpart *cp = g_ptr_array_index(k->parts, i);
    kclient__op_cancel(cp->resolve_op);
    g_free(cp);
  }
  if (k->timer)
    env_timer_cancel(c->env, k->timer);
  g_ptr_array_remove(c->consumers, k);
  g_ptr_array_free(k->parts, TRUE);
  g_ptr_array_free(k->fetches, TRUE);
  batch_iter_free(k->iter);
  g_free(k);
}

static void kclient__cpart_error(kclient__cpart *cp, int err,
                                 const char *errmsg, bool stop) {
  kclient_consumer_t *k = cp->k;
  if (stop)
    cp->stopped = true;
  env_log(k->c->env, ENV_LOG_DEBUG, "kclient: consumer %s-%d: %s", cp->t->name,
          (int)cp->partition, errmsg);
  if (k->cfg.on_error)
    k->cfg.on_error(k->cfg.arg, cp->t->name, cp->partition, err, errmsg);
}

static void kclient__cpart_backoff(kclient__cpart *cp) {
  kclient_t *c = cp->k->c;
  cp->failures++;
  cp->backoff_until_ns =
      kclient__now_ns(c) + kclient__backoff_ns(c, c->cfg.retry_backoff_ms,
                                               c->cfg.retry_backoff_max_ms,
                                               cp->failures);
}

/* ------------------------------------------------------ resolving offsets */

static void kclient__resolved(void *arg, int err, const char *errmsg,
                              int64_t offset, int64_t timestamp_ms) {
  kclient__cpart *cp = arg;
  cp->resolve_op = NULL;
  if (err) {
    kclient__cpart_error(cp, err, errmsg, false);
    kclient__cpart_backoff(cp);
  } else if (offset < 0) {
    /* No record at or after that time: wait at the end, as Kafka does. */
    cp->position = KCLIENT_OFFSET_LATEST;
  } else {
    cp->position = offset;
    cp->failures = 0;
  }
  kclient__kick(cp->k->c);
}

/* -------------------------------------------------------------- fetching */

static void kclient__fetch_response(void *ctx, int err, const char *errmsg,
                                    int16_t version, void *body);

static void *kclient__fetch_build(void *ctx, int16_t version, proto_arena *a) {
  kclient__fetch *f = ctx;
  kclient_consumer_t *k = f->k;
  proto_fetch_req *req = PROTO_NEW(a, proto_fetch_req);
  if (!req)
    return NULL;
  req->cluster_id = PROTO_STR_NULL;
  req->replica_id = -1;
  req->max_wait_ms = (int32_t)k->cfg.max_wait_ms;
  req->min_bytes = k->cfg.min_bytes;
  req->max_bytes = k->cfg.max_bytes;
  req->isolation_level = k->cfg.isolation_level;
  req->session_id = 0;
  req->session_epoch = -1; /* no fetch session (KIP-227) */
  req->rack_id = PROTO_STR_LIT("");
  int32_t topics = 0;
  for (guint i = 0; i < f->parts->len; i++)
    if (i == 0 || g_array_index(f->parts, kclient__fpart, i - 1).cp->t !=
                      g_array_index(f->parts, kclient__fpart, i).cp->t)
      topics++;
  req->topics.items = PROTO_NEW_ARRAY(a, proto_fetch_req_fetch_topic, topics);
  if (!req->topics.items)
    return NULL;
  req->topics.count = topics;
  req->forgotten_topics_data.items = NULL;
  req->forgotten_topics_data.count = 0;
  guint i = 0;
  for (int32_t ti = 0; ti < topics; ti++) {
    kclient__topic *t = g_array_index(f->parts, kclient__fpart, i).cp->t;
    guint j = i;
    while (j < f->parts->len &&
           g_array_index(f->parts, kclient__fpart, j).cp->t == t)
      j++;
    proto_fetch_req_fetch_topic *ft = &req->topics.items[ti];
    ft->topic = proto_str_from(t->name);
    ft->partitions.items =
        PROTO_NEW_ARRAY(a, proto_fetch_req_fetch_partition, (int32_t)(j - i));
    if (!ft->partitions.items)
      return NULL;
    ft->partitions.count = (int32_t)(j - i);
    for (guint q = i; q < j; q++) {
      kclient__fpart *fp = &g_array_index(f->parts, kclient__fpart, q);
      proto_fetch_req_fetch_partition *p = &ft->partitions.items[q - i];
      p->partition = fp->cp->partition;
      p->current_leader_epoch = -1;
      p->fetch_offset = fp->fetch_offset;
      p->last_fetched_epoch = -1;
      p->log_start_offset = -1;
      p->partition_max_bytes = fp->cp->fetch_bytes;
    }
    i = j;
  }
  return req;
}

static bool kclient__fetch_to(kclient_consumer_t *k, int32_t node) {
  for (guint i = 0; i < k->fetches->len; i++)
    if (((kclient__fetch *)g_ptr_array_index(k->fetches, i))->node_id == node)
      return true;
  return false;
}

static void kclient__consumer_timer_fired(void *arg);

static void kclient__consumer_wake_at(kclient_consumer_t *k, uint64_t at_ns) {
  kclient_t *c = k->c;
  if (k->timer && k->timer_at_ns <= at_ns)
    return;
  if (k->timer)
    env_timer_cancel(c->env, k->timer);
  uint64_t now = kclient__now_ns(c);
  k->timer_at_ns = at_ns;
  k->timer = env_timer_start(c->env, at_ns > now ? at_ns - now : 0,
                             kclient__consumer_timer_fired, k);
}

static void kclient__consumer_drain(kclient_consumer_t *k) {
  kclient_t *c = k->c;
  if (k->paused)
    return;
  uint64_t now = kclient__now_ns(c);
  bool need_md = false;
  /* node id -> the fetch being assembled for it (in first-seen order). */
  GPtrArray *building = g_ptr_array_new();
  for (guint i = 0; i < k->parts->len; i++) {
    kclient__cpart *cp = g_ptr_array_index(k->parts, i);
    if (cp->stopped || cp->fetching || cp->resolve_op)
      continue;
    if (cp->backoff_until_ns > now) {
      kclient__consumer_wake_at(k, cp->backoff_until_ns);
      continue;
    }
    if (cp->position < 0) {
      cp->resolve_op = kclient__lo_start(c, cp->t->name, cp->partition,
                                         cp->position, k->cfg.isolation_level,
                                         kclient__resolved, cp, false);
      continue;
    }
    int32_t leader = kclient__leader(cp->t, cp->partition);
    if (leader < 0 || !kclient__broker_find(c, leader)) {
      need_md = true;
      continue;
    }
    if (kclient__fetch_to(k, leader))
      continue;
    kclient__fetch *f = NULL;
    for (guint j = 0; j < building->len && !f; j++)
      if (((kclient__fetch *)g_ptr_array_index(building, j))->node_id == leader)
        f = g_ptr_array_index(building, j);
    if (!f) {
      f = g_new0(kclient__fetch, 1);
      f->k = k;
      f->node_id = leader;
      f->parts = g_array_new(FALSE, FALSE, sizeof(kclient__fpart));
      g_ptr_array_add(building, f);
    }
    kclient__fpart fp = {cp, cp->generation,
                         cp->prefetch_offset >= 0 ? cp->prefetch_offset
                                                  : cp->position,
                         false};
    cp->prefetch_offset = -1;
    g_array_append_val(f->parts, fp);
  }
  for (guint j = 0; j < building->len; j++) {
    kclient__fetch *f = g_ptr_array_index(building, j);
    kclient__broker *b = kclient__broker_find(c, f->node_id);
    if (!b->conns[KCLIENT__LANE_FETCH])
      b->conns[KCLIENT__LANE_FETCH] =
          kclient__conn_new(c, b, KCLIENT__LANE_FETCH);
    for (guint q = 0; q < f->parts->len; q++)
      g_array_index(f->parts, kclient__fpart, q).cp->fetching = true;
    f->sent_ns = now;
    g_ptr_array_add(k->fetches, f);
    f->req = kclient__conn_submit(
        b->conns[KCLIENT__LANE_FETCH], PROTO_API_FETCH, kclient__fetch_build,
        kclient__fetch_response, f, false, k->cfg.max_wait_ms);
  }
  g_ptr_array_free(building, TRUE);
  if (need_md) {
    kclient__metadata_refresh(c);
    /* In case the answer changes nothing, look again later. */
    kclient__consumer_wake_at(k, now + (uint64_t)c->cfg.retry_backoff_ms *
                                           KCLIENT__NS_PER_MS);
  }
}

static void kclient__consumer_timer_fired(void *arg) {
  kclient_consumer_t *k = arg;
  k->timer = 0;
  kclient__enter(k->c);
  kclient__consumer_drain(k);
  kclient__leave(k->c);
}

void kclient__consumers_kick(kclient_t *c) {
  /* Index walk: a callback cannot free a consumer, but drain may not add
   * or remove any either; the array is stable here. */
  for (guint i = 0; i < c->consumers->len; i++)
    kclient__consumer_drain(g_ptr_array_index(c->consumers, i));
}

/* Delivers the records of one partition's fetch answer. Returns the
 * records delivered; *progress tells whether the position moved or a whole
 * batch was seen. */
static size_t kclient__deliver(kclient_consumer_t *k, kclient__cpart *cp,
                               proto_bytes records, bool *partial_only) {
  size_t delivered = 0;
  *partial_only = false;
  if (records.len <= 0)
    return 0;
  const uint8_t *p = records.data;
  size_t len = (size_t)records.len;
  size_t off = 0;
  bool whole_seen = false;
  char msg[KCLIENT_ERRMSG_BYTES];
  while (off + BATCH_LOG_OVERHEAD <= len && !k->paused && !cp->stopped) {
    int64_t total = batch_total_bytes(p + off, len - off);
    if (total < 0 || (size_t)total > len - off)
      break; /* the last batch is cut short: normal at the end */
    whole_seen = true;
    const uint8_t *bp = p + off;
    batch_header h;
    if (total < BATCH_HEADER_BYTES ||
        batch_header_parse(bp, (size_t)total, &h) != 0) {
      kclient__errmsg(msg, KERR_CORRUPT_MESSAGE,
                      "%s-%d: malformed batch at offset %" PRId64, cp->t->name,
                      (int)cp->partition, (int64_t)be64_load(bp));
      kclient__cpart_error(cp, KERR_CORRUPT_MESSAGE, msg, true);
      break;
    }
    if (h.magic != BATCH_MAGIC_V2) {
      kclient__errmsg(
          msg, KERR_CORRUPT_MESSAGE,
          "%s-%d: record format v%d at offset %" PRId64 " is not supported",
          cp->t->name, (int)cp->partition, (int)h.magic, h.base_offset);
      kclient__cpart_error(cp, KERR_CORRUPT_MESSAGE, msg, true);
      break;
    }
    if (batch_compute_crc(bp, (size_t)total) != h.crc) {
      kclient__errmsg(msg, KERR_CORRUPT_MESSAGE,
                      "%s-%d: CRC mismatch in the batch at offset %" PRId64,
                      cp->t->name, (int)cp->partition, h.base_offset);
      kclient__cpart_error(cp, KERR_CORRUPT_MESSAGE, msg, true);
      break;
    }
    off += (size_t)total;
    int64_t last = batch_last_offset(&h);
    if (last < cp->position)
      continue;
    if (h.attributes & BATCH_ATTR_CONTROL) {
      cp->position = last + 1;
      continue;
    }
    int err = KERR_NONE;
    if (!k->iter)
      k->iter = batch_iter_new(bp, (size_t)total, &err);
    else
      err = batch_iter_reset(k->iter, bp, (size_t)total);
    if (!k->iter || err) {
      kclient__errmsg(msg, err ? err : KERR_CORRUPT_MESSAGE,
                      "%s-%d: cannot decode the batch at offset %" PRId64
                      ": %s",
                      cp->t->name, (int)cp->partition, h.base_offset,
                      kclient_err_name(err));
      kclient__cpart_error(cp, err ? err : KERR_CORRUPT_MESSAGE, msg, true);
      break;
    }
    batch_record rec;
    int rc = 0;
    bool lat = (h.attributes & BATCH_ATTR_LOG_APPEND_TIME) != 0;
    while (!k->paused && (rc = batch_iter_next(k->iter, &rec)) == 1) {
      if (rec.offset < cp->position)
        continue;
      kclient_record r = {
          .topic = cp->t->name,
          .partition = cp->partition,
          .offset = rec.offset,
          .timestamp_ms = rec.timestamp,
          .log_append_time = lat,
          .key = rec.key,
          .key_len = rec.key_len,
          .value = rec.value,
          .value_len = rec.value_len,
          .headers = rec.headers,
          .header_count = rec.header_count < BATCH_RECORD_HEADERS_MAX
                              ? rec.header_count
                              : BATCH_RECORD_HEADERS_MAX,
      };
      cp->position = rec.offset + 1;
      delivered++;
      k->cfg.on_record(k->cfg.arg, &r);
    }
    if (k->paused)
      break;
    if (rc < 0) {
      kclient__errmsg(msg, -rc,
                      "%s-%d: malformed record in the batch at "
                      "offset %" PRId64,
                      cp->t->name, (int)cp->partition, h.base_offset);
      kclient__cpart_error(cp, -rc, msg, true);
      break;
    }
    /* Compaction may leave offsets out: the next batch starts after this
     * one's range, whatever its last record was. */
    if (cp->position < last + 1)
      cp->position = last + 1;
  }
  *partial_only = !whole_seen;
  return delivered;
}

static kclient__fpart *kclient__fetch_find(kclient__fetch *f, proto_str topic,
                                           int32_t part) {
  for (guint i = 0; i < f->parts->len; i++) {
    kclient__fpart *fp = &g_array_index(f->parts, kclient__fpart, i);
    if (fp->cp->partition == part && proto_str_eq(topic, fp->cp->t->name))
      return fp;
  }
  return NULL;
}

static void kclient__fetch_partition(kclient_consumer_t *k, kclient__fpart *fp,
                                     const proto_fetch_resp_partition_data *pd,
                                     size_t *records_out) {
  kclient__cpart *cp = fp->cp;
  kclient_t *c = k->c;
  char msg[KCLIENT_ERRMSG_BYTES];
  /* Reassigned, stopped, or (after a prefetch) the previous response was
   * not delivered to its end (a pause, a corrupt batch): the position is
   * not where this answer starts. */
  if (cp->generation != fp->generation || cp->position != fp->fetch_offset ||
      cp->stopped)
    return;
  int code = pd->error_code;
  if (code == KERR_NONE) {
    cp->high_watermark = pd->high_watermark;
    cp->failures = 0;
    bool partial_only;
    *records_out += kclient__deliver(k, cp, pd->records, &partial_only);
    if (partial_only && pd->records.len > 0 && !cp->stopped) {
      if (cp->fetch_bytes < k->cfg.max_bytes) {
        int64_t doubled = (int64_t)cp->fetch_bytes * 2;
        cp->fetch_bytes =
            doubled > k->cfg.max_bytes ? k->cfg.max_bytes : (int32_t)doubled;
      } else {
        kclient__errmsg(msg, KERR_MESSAGE_TOO_LARGE,
                        "%s-%d: the batch at offset %" PRId64
                        " is larger than max_bytes (%d)",
                        cp->t->name, (int)cp->partition, cp->position,
                        (int)k->cfg.max_bytes);
        kclient__cpart_error(cp, KERR_MESSAGE_TOO_LARGE, msg, true);
      }
    }
    return;
  }
  if (code == KERR_OFFSET_OUT_OF_RANGE) {
    if (k->cfg.offset_reset == KCLIENT_OFFSET_EARLIEST ||
        k->cfg.offset_reset == KCLIENT_OFFSET_LATEST) {
      env_log(c->env, ENV_LOG_INFO,
              "kclient: %s-%d: offset %" PRId64 " out of range, resetting to "
              "the %s",
              cp->t->name, (int)cp->partition, cp->position,
              k->cfg.offset_reset == KCLIENT_OFFSET_EARLIEST ? "start" : "end");
      cp->position = k->cfg.offset_reset;
      return;
    }
    kclient__errmsg(msg, code, "%s-%d: offset %" PRId64 " is out of range",
                    cp->t->name, (int)cp->partition, cp->position);
    kclient__cpart_error(cp, code, msg, true);
    return;
  }
  if (kclient_err_retriable(code)) {
    kclient__cpart_backoff(cp);
    if (kclient__err_needs_refresh(code))
      kclient__metadata_refresh(c);
    return;
  }
  kclient__errmsg(msg, code, "%s-%d: fetch failed: %s", cp->t->name,
                  (int)cp->partition, kclient_err_name(code));
  kclient__cpart_error(cp, code, msg, true);
}

/* Where delivering records will leave a partition at `position`: after
 * the last whole batch that reaches it (control batches and compaction
 * gaps included, as kclient__deliver moves the position), judged from the
 * batch headers alone. -1 when no whole batch is there or one is
 * malformed: delivery then does not get past it either. */
static int64_t kclient__records_end(proto_bytes records, int64_t position) {
  if (records.len <= 0)
    return -1;
  const uint8_t *p = records.data;
  size_t len = (size_t)records.len;
  int64_t end = -1;
  for (size_t off = 0; len - off >= BATCH_HEADER_BYTES;) {
    int64_t total = batch_total_bytes(p + off, len - off);
    if (total < BATCH_HEADER_BYTES || (size_t)total > len - off)
      break;
    batch_header h;
    if (batch_header_parse(p + off, (size_t)total, &h) != 0 ||
        h.magic != BATCH_MAGIC_V2)
      return -1;
    int64_t last = batch_last_offset(&h);
    if (last >= position && last + 1 > end)
      end = last + 1;
    off += (size_t)total;
  }
  return end;
}

/* Fetch pipelining: before the records of a response are delivered, the
 * next fetch for each partition whose answer holds whole batches goes out
 * at the offset the delivery will reach, so the broker reads and sends it
 * while on_record runs (one fetch per broker in flight still). Partitions
 * that got an empty answer go along at their position (so a long poll
 * still watches them); those with an error or only a cut-short batch stay
 * `fetching` until their answer is handled. Released parts are marked
 * prefetched. If the delivery stops short (a pause, a corrupt batch), the
 * early answer does not start at the position and is dropped
 * (kclient__fetch_partition); the partition fetches again. */
static void kclient__fetch_prefetch(kclient_consumer_t *k, kclient__fetch *f,
                                    const proto_fetch_resp *resp) {
  if (k->paused)
    return;
  bool any = false;
  for (int pass = 0; pass < 2; pass++) {
    for (int32_t ti = 0; ti < resp->responses.count; ti++) {
      const proto_fetch_resp_fetchable_topic_response *tr =
          &resp->responses.items[ti];
      for (int32_t pi = 0; pi < tr->partitions.count; pi++) {
        const proto_fetch_resp_partition_data *pd = &tr->partitions.items[pi];
        kclient__fpart *fp =
            kclient__fetch_find(f, tr->topic, pd->partition_index);
        if (!fp || fp->prefetched || pd->error_code != KERR_NONE)
          continue;
        kclient__cpart *cp = fp->cp;
        if (cp->generation != fp->generation ||
            cp->position != fp->fetch_offset || cp->stopped)
          continue;
        int64_t end = -1;
        if (pd->records.len > 0) {
          end = kclient__records_end(pd->records, cp->position);
          if (end <= cp->position)
            continue; /* cut short or malformed: handled after delivery */
        }
        /* Pass 0 finds whether any records go out early; pass 1 releases
         * those and the empty answers with them. */
        if (pass == 0) {
          any = any || end >= 0;
          continue;
        }
        cp->prefetch_offset = end;
        cp->fetching = false;
        fp->prefetched = true;
      }
    }
    if (!any)
      return;
  }
  kclient__consumer_drain(k);
}

static void kclient__fetch_response(void *ctx, int err, const char *errmsg,
                                    int16_t version, void *body) {
  kclient__fetch *f = ctx;
  kclient_consumer_t *k = f->k;
  kclient_t *c = k->c;
  g_ptr_array_remove(k->fetches, f);
  const proto_fetch_resp *resp = body;
  if (!err && resp->error_code) {
    err = resp->error_code;
    errmsg = kclient_err_name(err);
  }
  if (!err)
    kclient__fetch_prefetch(k, f, resp);
  for (guint i = 0; i < f->parts->len; i++) {
    kclient__fpart *fp = &g_array_index(f->parts, kclient__fpart, i);
    if (!fp->prefetched)
      fp->cp->fetching = false;
  }
  if (err) {
    for (guint i = 0; i < f->parts->len; i++)
      kclient__cpart_backoff(g_array_index(f->parts, kclient__fpart, i).cp);
    if (kclient__err_needs_refresh(err))
      kclient__metadata_refresh(c);
    env_log(c->env, ENV_LOG_DEBUG, "kclient: fetch failed: %s", errmsg);
    kclient__fetch_free(f);
    kclient__kick(c);
    return;
  }
  size_t bytes = 0, records = 0;
  for (int32_t ti = 0; ti < resp->responses.count; ti++) {
    const proto_fetch_resp_fetchable_topic_response *tr =
        &resp->responses.items[ti];
    for (int32_t pi = 0; pi < tr->partitions.count; pi++) {
      const proto_fetch_resp_partition_data *pd = &tr->partitions.items[pi];
      kclient__fpart *fp =
          kclient__fetch_find(f, tr->topic, pd->partition_index);
      if (!fp)
        continue;
      if (pd->records.len > 0)
        bytes += (size_t)pd->records.len;
      if (!k->paused || pd->error_code)
        kclient__fetch_partition(k, fp, pd, &records);
    }
  }
  if (k->cfg.on_fetch)
    k->cfg.on_fetch(k->cfg.arg, kclient__now_ns(c) - f->sent_ns, bytes,
                    records);
  kclient__fetch_free(f);
  kclient__metadata_check_age(c);
  kclient__consumer_drain(k);
}
