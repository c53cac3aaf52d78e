/*
 * test_client_fake.c — the fake Kafka broker the client suites run against
 * (see test_client_fake.h), and a small suite checking the fake itself
 * with hand-made frames, so a client test failure points at the client.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "base/buf.h"
#include "base/rxbuf.h"
#include "broker/client/client.h"
#include "broker/kerr.h"
#include "broker/log/batch.h"
#include "broker/proto/proto.h"
#include "sim/sim.h"
#include "tests/unit/test_client_fake.h"
#include "tests/unit/testutil.h"

#define CFAKE_NS_PER_MS UINT64_C(1000000)
#define CFAKE_ARENA_BYTES ((size_t)64 << 20)

typedef struct cfake_node cfake_node;

typedef struct cfake_out {
  uint64_t ready_at_ns;
  buf_t bytes;
  /* A fetch waiting for data: its request frame, re-run on wake. */
  bool fetch_waiting;
  uint8_t *frame;
  size_t frame_len;
  uint64_t fetch_deadline_ns;
} cfake_out;

typedef struct cfake_conn {
  cfake_node *n;
  env_conn_t *ec;
  rxbuf *rx;
  proto_arena *arena;
  GQueue outq; /* cfake_out*, in request order */
  uint32_t outstanding;
  uint64_t timer;
  bool closed;
} cfake_conn;

struct cfake_node {
  env_t *env;
  cfake_cluster *cl;
  int32_t node_id;
  env_listener_t *listener;
  GPtrArray *conns;
};

/* ------------------------------------------------------------- cluster */

cfake_cluster *cfake_cluster_new(void) {
  cfake_cluster *cl = g_new0(cfake_cluster, 1);
  cl->topics = g_ptr_array_new();
  cl->pstates = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  cl->next_producer_id = 1000;
  cl->nodes = g_ptr_array_new();
  cl->default_partitions = 1;
  for (int k = 0; k < CFAKE_API_KEYS; k++) {
    cl->api_max[k] = -1;
    cl->last_version[k] = -1;
  }
  cl->last_acks = -100;
  return cl;
}

static void cfake_topic_free(cfake_topic *t) {
  for (int32_t p = 0; p < t->partition_count; p++) {
    GPtrArray *bs = t->parts[p].batches;
    for (guint i = 0; i < bs->len; i++) {
      cfake_batch *b = g_ptr_array_index(bs, i);
      g_free(b->bytes);
      g_free(b);
    }
    g_ptr_array_free(bs, TRUE);
  }
  g_free(t->parts);
  g_ptr_array_free(t->config_names, TRUE);
  g_ptr_array_free(t->config_values, TRUE);
  g_free(t->name);
  g_free(t);
}

void cfake_cluster_free(cfake_cluster *cl) {
  if (!cl)
    return;
  for (guint i = 0; i < cl->topics->len; i++)
    cfake_topic_free(g_ptr_array_index(cl->topics, i));
  g_ptr_array_free(cl->topics, TRUE);
  g_hash_table_destroy(cl->pstates);
  g_ptr_array_free(cl->nodes, TRUE);
  for (int i = 0; i < cl->broker_count; i++)
    g_free(cl->broker_hosts[i]);
  g_free(cl);
}

void cfake_add_broker(cfake_cluster *cl, int32_t node_id, const char *host) {
  g_assert(cl->broker_count < CFAKE_BROKERS_MAX);
  cl->broker_ids[cl->broker_count] = node_id;
  cl->broker_hosts[cl->broker_count] = g_strdup(host);
  cl->broker_count++;
}

cfake_topic *cfake_find_topic(cfake_cluster *cl, const char *name) {
  for (guint i = 0; i < cl->topics->len; i++) {
    cfake_topic *t = g_ptr_array_index(cl->topics, i);
    if (strcmp(t->name, name) == 0)
      return t;
  }
  return NULL;
}

static void cfake_grow(cfake_cluster *cl, cfake_topic *t, int32_t count,
                       int32_t leader) {
  t->parts = g_renew(cfake_part, t->parts, count);
  for (int32_t p = t->partition_count; p < count; p++) {
    t->parts[p].batches = g_ptr_array_new();
    t->parts[p].log_end = 0;
    t->parts[p].leader =
        leader >= 0 ? leader : cl->broker_ids[p % cl->broker_count];
  }
  t->partition_count = count;
}

cfake_topic *cfake_add_topic(cfake_cluster *cl, const char *name,
                             int32_t partitions, int32_t leader) {
  cfake_topic *t = g_new0(cfake_topic, 1);
  t->name = g_strdup(name);
  t->config_names = g_ptr_array_new_with_free_func(g_free);
  t->config_values = g_ptr_array_new_with_free_func(g_free);
  cfake_grow(cl, t, partitions, leader);
  g_ptr_array_add(cl->topics, t);
  return t;
}

static void cfake_store(cfake_part *part, const uint8_t *bytes, size_t len,
                        int32_t count, int64_t pid, int32_t seq) {
  cfake_batch *b = g_new0(cfake_batch, 1);
  b->bytes = g_memdup2(bytes, len);
  b->len = len;
  b->count = count;
  b->base_offset = part->log_end;
  b->producer_id = pid;
  b->base_sequence = seq;
  batch_set_base_offset(b->bytes, b->base_offset);
  g_ptr_array_add(part->batches, b);
  part->log_end += count;
}

static void cfake_wake_all(cfake_cluster *cl);

void cfake_append(cfake_cluster *cl, const char *topic, int32_t partition,
                  int count, int64_t timestamp_ms) {
  cfake_topic *t = cfake_find_topic(cl, topic);
  g_assert(t && partition < t->partition_count);
  cfake_part *part = &t->parts[partition];
  batch_builder_opts o = {.codec = BATCH_CODEC_NONE,
                          .base_timestamp = timestamp_ms,
                          .producer_id = -1,
                          .producer_epoch = -1,
                          .base_sequence = -1,
                          .leader_epoch = -1};
  batch_builder *bb = batch_builder_new(&o);
  for (int i = 0; i < count; i++) {
    char k[32], v[32];
    int64_t n = part->log_end + i;
    int kl = snprintf(k, sizeof k, "k%" PRId64, n);
    int vl = snprintf(v, sizeof v, "v%" PRId64, n);
    batch_builder_add(bb, timestamp_ms + i, k, kl, v, vl, NULL, 0);
  }
  buf_t out = BUF_INIT;
  g_assert(batch_builder_finish(bb, -1, &out) == 0);
  cfake_store(part, out.data, out.len, count, -1, -1);
  buf_free(&out);
  cfake_wake_all(cl);
}

size_t cfake_each_record(cfake_cluster *cl, const char *topic,
                         int32_t partition, cfake_record_fn fn, void *arg) {
  cfake_topic *t = cfake_find_topic(cl, topic);
  if (!t || partition >= t->partition_count)
    return 0;
  size_t n = 0;
  GPtrArray *bs = t->parts[partition].batches;
  for (guint i = 0; i < bs->len; i++) {
    cfake_batch *b = g_ptr_array_index(bs, i);
    int err;
    batch_iter *it = batch_iter_new(b->bytes, b->len, &err);
    g_assert(it);
    batch_record r;
    while (batch_iter_next(it, &r) == 1) {
      if (fn)
        fn(arg, r.offset, r.key, r.key_len, r.value, r.value_len);
      n++;
    }
    batch_iter_free(it);
  }
  return n;
}

/* ------------------------------------------------------------ handlers */

static void *cfake_api_versions(cfake_node *n, proto_arena *a) {
  cfake_cluster *cl = n->cl;
  proto_api_versions_resp *r = PROTO_NEW(a, proto_api_versions_resp);
  size_t count;
  const proto_api_range *ranges = proto_api_ranges(&count);
  proto_api_range *mine = proto_arena_alloc(a, sizeof *mine * count);
  size_t m = 0;
  for (size_t i = 0; i < count; i++) {
    proto_api_range rg = ranges[i];
    if (rg.api_key < CFAKE_API_KEYS && cl->api_max[rg.api_key] >= 0) {
      if (cl->api_max[rg.api_key] < rg.min_version)
        continue; /* not advertised at all */
      rg.max_version = cl->api_max[rg.api_key];
    }
    mine[m++] = rg;
  }
  g_assert(proto_api_versions_fill(r, a, mine, m) == 0);
  return r;
}

static void cfake_md_topic(cfake_node *n, proto_arena *a,
                           proto_metadata_resp_topic *rt, cfake_topic *t) {
  rt->error_code = 0;
  rt->name = proto_arena_str(a, t->name, (int32_t)strlen(t->name), NULL);
  rt->partitions.items =
      PROTO_NEW_ARRAY(a, proto_metadata_resp_partition, t->partition_count);
  rt->partitions.count = t->partition_count;
  for (int32_t p = 0; p < t->partition_count; p++) {
    proto_metadata_resp_partition *rp = &rt->partitions.items[p];
    rp->error_code = 0;
    rp->partition_index = p;
    rp->leader_id = t->parts[p].leader;
    rp->leader_epoch = 0;
    int32_t *ids = proto_arena_alloc(a, sizeof(int32_t));
    ids[0] = t->parts[p].leader;
    rp->replica_nodes = (proto_int32_array){ids, 1};
    rp->isr_nodes = (proto_int32_array){ids, 1};
    rp->offline_replicas = (proto_int32_array){NULL, 0};
  }
}

static void *cfake_metadata(cfake_node *n, int16_t v, proto_metadata_req *req,
                            proto_arena *a) {
  cfake_cluster *cl = n->cl;
  proto_metadata_resp *r = PROTO_NEW(a, proto_metadata_resp);
  r->brokers.items =
      PROTO_NEW_ARRAY(a, proto_metadata_resp_broker, cl->broker_count);
  r->brokers.count = cl->broker_count;
  for (int i = 0; i < cl->broker_count; i++) {
    r->brokers.items[i].node_id = cl->broker_ids[i];
    r->brokers.items[i].host = proto_str_from(cl->broker_hosts[i]);
    r->brokers.items[i].port = CFAKE_PORT;
  }
  r->cluster_id = PROTO_STR_LIT("fake-cluster");
  r->controller_id = cl->broker_ids[0];
  bool all = req->topics.count < 0 || (v == 0 && req->topics.count == 0);
  int32_t want = all ? (int32_t)cl->topics->len : req->topics.count;
  r->topics.items = PROTO_NEW_ARRAY(a, proto_metadata_resp_topic, want);
  r->topics.count = want;
  for (int32_t i = 0; i < want; i++) {
    proto_metadata_resp_topic *rt = &r->topics.items[i];
    cfake_topic *t;
    if (all) {
      t = g_ptr_array_index(cl->topics, i);
    } else {
      const char *name = req->topics.items[i].name.data;
      t = cfake_find_topic(cl, name);
      if (!t && cl->auto_create_topics && req->allow_auto_topic_creation)
        t = cfake_add_topic(cl, name, cl->default_partitions, -1);
      if (!t) {
        rt->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        rt->name = req->topics.items[i].name;
        rt->partitions.count = 0;
        continue;
      }
    }
    cfake_md_topic(n, a, rt, t);
  }
  return r;
}

static int16_t
cfake_produce_one(cfake_node *n, const proto_produce_req_topic_produce_data *td,
                  const proto_produce_req_partition_produce_data *pd,
                  int64_t *base_offset) {
  cfake_cluster *cl = n->cl;
  *base_offset = -1;
  cfake_topic *t = cfake_find_topic(cl, td->name.data);
  if (!t || pd->index < 0 || pd->index >= t->partition_count)
    return KERR_UNKNOWN_TOPIC_OR_PARTITION;
  cfake_part *part = &t->parts[pd->index];
  if (part->leader != n->node_id) {
    cl->not_leader_answers++;
    return KERR_NOT_LEADER_OR_FOLLOWER;
  }
  if (cl->produce_error_count > 0) {
    cl->produce_error_count--;
    return cl->produce_error;
  }
  if (pd->records.len < BATCH_HEADER_BYTES)
    return KERR_CORRUPT_MESSAGE;
  const uint8_t *p = pd->records.data;
  size_t len = (size_t)pd->records.len;
  if (batch_total_bytes(p, len) != (int64_t)len)
    return KERR_INVALID_RECORD;
  batch_limits lim = {
      .max_bytes = 0, .allow_control = false, .check_records = true};
  int rc = batch_validate(p, len, &lim);
  if (rc)
    return (int16_t)rc;
  batch_header h;
  batch_header_parse(p, len, &h);
  if (h.producer_id >= 0) {
    char *key = g_strdup_printf("%" PRId64 "/%s/%d", h.producer_id, t->name,
                                (int)pd->index);
    cfake_pstate *ps = g_hash_table_lookup(cl->pstates, key);
    int32_t last = h.base_sequence + h.record_count - 1;
    if (ps && ps->epoch == h.producer_epoch) {
      for (int i = 0; i < ps->recent_count; i++)
        if (ps->recent_first[i] == h.base_sequence &&
            ps->recent_last[i] == last) {
          cl->duplicates++;
          *base_offset = ps->recent_base[i];
          g_free(key);
          return KERR_NONE;
        }
      if (h.base_sequence != ps->last_seq + 1) {
        cl->out_of_order++;
        g_free(key);
        return KERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
      }
    }
    if (!ps) {
      ps = g_new0(cfake_pstate, 1);
      g_hash_table_insert(cl->pstates, g_strdup(key), ps);
    } else if (ps->epoch != h.producer_epoch) {
      ps->recent_count = 0;
    }
    g_free(key);
    ps->producer_id = h.producer_id;
    ps->epoch = h.producer_epoch;
    ps->last_seq = last;
    if (ps->recent_count == CFAKE_DEDUPE_BATCHES) {
      memmove(ps->recent_first, ps->recent_first + 1,
              sizeof(int32_t) * (CFAKE_DEDUPE_BATCHES - 1));
      memmove(ps->recent_last, ps->recent_last + 1,
              sizeof(int32_t) * (CFAKE_DEDUPE_BATCHES - 1));
      memmove(ps->recent_base, ps->recent_base + 1,
              sizeof(int64_t) * (CFAKE_DEDUPE_BATCHES - 1));
      ps->recent_count--;
    }
    ps->recent_first[ps->recent_count] = h.base_sequence;
    ps->recent_last[ps->recent_count] = last;
    ps->recent_base[ps->recent_count] = part->log_end;
    ps->recent_count++;
  }
  *base_offset = part->log_end;
  cfake_store(part, p, len, h.record_count, h.producer_id, h.base_sequence);
  cl->produce_batches++;
  return KERR_NONE;
}

static void *cfake_produce(cfake_node *n, proto_produce_req *req,
                           proto_arena *a) {
  cfake_cluster *cl = n->cl;
  cl->last_acks = req->acks;
  proto_produce_resp *r = PROTO_NEW(a, proto_produce_resp);
  r->responses.count = req->topic_data.count;
  r->responses.items = PROTO_NEW_ARRAY(
      a, proto_produce_resp_topic_produce_response, req->topic_data.count);
  for (int32_t i = 0; i < req->topic_data.count; i++) {
    const proto_produce_req_topic_produce_data *td = &req->topic_data.items[i];
    proto_produce_resp_topic_produce_response *tr = &r->responses.items[i];
    tr->name = td->name;
    tr->partition_responses.count = td->partition_data.count;
    tr->partition_responses.items =
        PROTO_NEW_ARRAY(a, proto_produce_resp_partition_produce_response,
                        td->partition_data.count);
    for (int32_t k = 0; k < td->partition_data.count; k++) {
      proto_produce_resp_partition_produce_response *pr =
          &tr->partition_responses.items[k];
      pr->index = td->partition_data.items[k].index;
      pr->error_code = cfake_produce_one(n, td, &td->partition_data.items[k],
                                         &pr->base_offset);
      pr->log_append_time_ms = -1;
      pr->log_start_offset = 0;
    }
  }
  cfake_wake_all(cl);
  return req->acks == 0 ? NULL : r;
}

/* Fills one partition's fetch answer; returns its record bytes. */
static size_t cfake_fetch_part(cfake_node *n, proto_arena *a,
                               const proto_fetch_req_fetch_topic *ft,
                               const proto_fetch_req_fetch_partition *fp,
                               proto_fetch_resp_partition_data *pd,
                               size_t budget) {
  cfake_cluster *cl = n->cl;
  pd->partition_index = fp->partition;
  pd->aborted_transactions.count = -1;
  pd->aborted_transactions.items = NULL;
  pd->preferred_read_replica = -1;
  pd->records = (proto_bytes){NULL, 0};
  pd->last_stable_offset = -1;
  pd->log_start_offset = 0;
  pd->high_watermark = -1;
  cfake_topic *t = cfake_find_topic(cl, ft->topic.data);
  if (!t || fp->partition < 0 || fp->partition >= t->partition_count) {
    pd->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
    return 0;
  }
  cfake_part *part = &t->parts[fp->partition];
  if (part->leader != n->node_id) {
    pd->error_code = KERR_NOT_LEADER_OR_FOLLOWER;
    return 0;
  }
  pd->high_watermark = part->log_end;
  pd->last_stable_offset = part->log_end;
  if (fp->fetch_offset < 0 || fp->fetch_offset > part->log_end) {
    pd->error_code = KERR_OFFSET_OUT_OF_RANGE;
    return 0;
  }
  pd->error_code = 0;
  size_t total = 0;
  GPtrArray *bs = part->batches;
  guint first = 0;
  while (first < bs->len) {
    cfake_batch *b = g_ptr_array_index(bs, first);
    if (b->base_offset + b->count > fp->fetch_offset)
      break;
    first++;
  }
  size_t limit = (size_t)fp->partition_max_bytes;
  if (limit > budget)
    limit = budget;
  guint last = first;
  for (guint i = first; i < bs->len; i++) {
    cfake_batch *b = g_ptr_array_index(bs, i);
    if (total > 0 && total + b->len > limit)
      break;
    total += b->len;
    last = i + 1;
  }
  if (total == 0)
    return 0;
  uint8_t *out = proto_arena_alloc(a, total);
  size_t off = 0;
  for (guint i = first; i < last; i++) {
    cfake_batch *b = g_ptr_array_index(bs, i);
    memcpy(out + off, b->bytes, b->len);
    off += b->len;
  }
  pd->records = (proto_bytes){out, (int32_t)total};
  return total;
}

/* NULL when the fetch should keep waiting (not final, too few bytes). */
static void *cfake_fetch(cfake_node *n, proto_fetch_req *req, proto_arena *a,
                         bool final) {
  proto_fetch_resp *r = PROTO_NEW(a, proto_fetch_resp);
  r->responses.count = req->topics.count;
  r->responses.items = PROTO_NEW_ARRAY(
      a, proto_fetch_resp_fetchable_topic_response, req->topics.count);
  size_t total = 0;
  bool any_error = false;
  size_t budget = req->max_bytes > 0 ? (size_t)req->max_bytes : SIZE_MAX;
  for (int32_t i = 0; i < req->topics.count; i++) {
    const proto_fetch_req_fetch_topic *ft = &req->topics.items[i];
    proto_fetch_resp_fetchable_topic_response *tr = &r->responses.items[i];
    tr->topic = ft->topic;
    tr->partitions.count = ft->partitions.count;
    tr->partitions.items = PROTO_NEW_ARRAY(a, proto_fetch_resp_partition_data,
                                           ft->partitions.count);
    for (int32_t k = 0; k < ft->partitions.count; k++) {
      size_t got = cfake_fetch_part(n, a, ft, &ft->partitions.items[k],
                                    &tr->partitions.items[k],
                                    budget > total ? budget - total : 0);
      total += got;
      any_error |= tr->partitions.items[k].error_code != 0;
    }
  }
  if (!final && !any_error &&
      total < (size_t)(req->min_bytes > 0 ? req->min_bytes : 1) &&
      req->max_wait_ms > 0)
    return NULL;
  return r;
}

static int64_t cfake_offset_for_time(cfake_part *part, int64_t ts) {
  for (guint i = 0; i < part->batches->len; i++) {
    cfake_batch *b = g_ptr_array_index(part->batches, i);
    int err;
    batch_iter *it = batch_iter_new(b->bytes, b->len, &err);
    batch_record rec;
    while (it && batch_iter_next(it, &rec) == 1)
      if (rec.timestamp >= ts) {
        batch_iter_free(it);
        return rec.offset;
      }
    batch_iter_free(it);
  }
  return -1;
}

static void *cfake_list_offsets(cfake_node *n, proto_list_offsets_req *req,
                                proto_arena *a) {
  cfake_cluster *cl = n->cl;
  proto_list_offsets_resp *r = PROTO_NEW(a, proto_list_offsets_resp);
  r->topics.count = req->topics.count;
  r->topics.items =
      PROTO_NEW_ARRAY(a, proto_list_offsets_resp_list_offsets_topic_response,
                      req->topics.count);
  for (int32_t i = 0; i < req->topics.count; i++) {
    const proto_list_offsets_req_list_offsets_topic *qt = &req->topics.items[i];
    proto_list_offsets_resp_list_offsets_topic_response *rt =
        &r->topics.items[i];
    rt->name = qt->name;
    rt->partitions.count = qt->partitions.count;
    rt->partitions.items = PROTO_NEW_ARRAY(
        a, proto_list_offsets_resp_list_offsets_partition_response,
        qt->partitions.count);
    cfake_topic *t = cfake_find_topic(cl, qt->name.data);
    for (int32_t k = 0; k < qt->partitions.count; k++) {
      const proto_list_offsets_req_list_offsets_partition *qp =
          &qt->partitions.items[k];
      proto_list_offsets_resp_list_offsets_partition_response *rp =
          &rt->partitions.items[k];
      rp->partition_index = qp->partition_index;
      rp->timestamp = -1;
      rp->offset = -1;
      rp->leader_epoch = 0;
      if (!t || qp->partition_index < 0 ||
          qp->partition_index >= t->partition_count) {
        rp->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        continue;
      }
      cfake_part *part = &t->parts[qp->partition_index];
      if (part->leader != n->node_id) {
        rp->error_code = KERR_NOT_LEADER_OR_FOLLOWER;
        continue;
      }
      rp->error_code = 0;
      if (qp->timestamp == -2)
        rp->offset = 0;
      else if (qp->timestamp == -1)
        rp->offset = part->log_end;
      else {
        rp->offset = cfake_offset_for_time(part, qp->timestamp);
        rp->timestamp = rp->offset >= 0 ? qp->timestamp : -1;
      }
    }
  }
  return r;
}

static void *cfake_create_topics(cfake_node *n, proto_create_topics_req *req,
                                 proto_arena *a) {
  cfake_cluster *cl = n->cl;
  proto_create_topics_resp *r = PROTO_NEW(a, proto_create_topics_resp);
  r->topics.count = req->topics.count;
  r->topics.items = PROTO_NEW_ARRAY(
      a, proto_create_topics_resp_creatable_topic_result, req->topics.count);
  for (int32_t i = 0; i < req->topics.count; i++) {
    const proto_create_topics_req_creatable_topic *q = &req->topics.items[i];
    proto_create_topics_resp_creatable_topic_result *res = &r->topics.items[i];
    res->name = q->name;
    res->error_message = PROTO_STR_NULL;
    res->configs.count = -1;
    int32_t np =
        q->num_partitions < 0 ? cl->default_partitions : q->num_partitions;
    if (cfake_find_topic(cl, q->name.data)) {
      res->error_code = KERR_TOPIC_ALREADY_EXISTS;
      res->error_message = PROTO_STR_LIT("Topic already exists.");
      continue;
    }
    if (np <= 0) {
      res->error_code = KERR_INVALID_PARTITIONS;
      continue;
    }
    res->num_partitions = np;
    res->replication_factor = 1;
    if (req->validate_only)
      continue;
    cfake_topic *t = cfake_add_topic(cl, q->name.data, np, -1);
    for (int32_t k = 0; k < q->configs.count; k++) {
      g_ptr_array_add(t->config_names, g_strdup(q->configs.items[k].name.data));
      g_ptr_array_add(t->config_values,
                      g_strdup(q->configs.items[k].value.data));
    }
  }
  return r;
}

static void *cfake_delete_topics(cfake_node *n, int16_t v,
                                 proto_delete_topics_req *req, proto_arena *a) {
  cfake_cluster *cl = n->cl;
  proto_delete_topics_resp *r = PROTO_NEW(a, proto_delete_topics_resp);
  int32_t count = v >= 6 ? req->topics.count : req->topic_names.count;
  r->responses.count = count;
  r->responses.items = PROTO_NEW_ARRAY(
      a, proto_delete_topics_resp_deletable_topic_result, count);
  for (int32_t i = 0; i < count; i++) {
    proto_str name =
        v >= 6 ? req->topics.items[i].name : req->topic_names.items[i];
    proto_delete_topics_resp_deletable_topic_result *res =
        &r->responses.items[i];
    res->name = name;
    res->error_message = PROTO_STR_NULL;
    cfake_topic *t = cfake_find_topic(cl, name.data);
    if (!t) {
      res->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
      continue;
    }
    g_ptr_array_remove(cl->topics, t);
    cfake_topic_free(t);
    res->error_code = 0;
  }
  return r;
}

static void *cfake_create_partitions(cfake_node *n,
                                     proto_create_partitions_req *req,
                                     proto_arena *a) {
  cfake_cluster *cl = n->cl;
  proto_create_partitions_resp *r = PROTO_NEW(a, proto_create_partitions_resp);
  r->results.count = req->topics.count;
  r->results.items = PROTO_NEW_ARRAY(
      a, proto_create_partitions_resp_create_partitions_topic_result,
      req->topics.count);
  for (int32_t i = 0; i < req->topics.count; i++) {
    proto_create_partitions_resp_create_partitions_topic_result *res =
        &r->results.items[i];
    res->name = req->topics.items[i].name;
    res->error_message = PROTO_STR_NULL;
    cfake_topic *t = cfake_find_topic(cl, res->name.data);
    if (!t) {
      res->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
      continue;
    }
    int32_t want = req->topics.items[i].count;
    if (want <= t->partition_count) {
      res->error_code = KERR_INVALID_PARTITIONS;
      res->error_message = PROTO_STR_LIT("Topic already has more partitions.");
      continue;
    }
    cfake_grow(cl, t, want, -1);
    res->error_code = 0;
  }
  return r;
}

static const char *const cfake_default_configs[][2] = {
    {"cleanup.policy", "delete"},
    {"retention.ms", "604800000"},
    {"segment.bytes", "1073741824"},
};

static void *cfake_describe_configs(cfake_node *n, int16_t v,
                                    proto_describe_configs_req *req,
                                    proto_arena *a) {
  cfake_cluster *cl = n->cl;
  proto_describe_configs_resp *r = PROTO_NEW(a, proto_describe_configs_resp);
  r->results.count = req->resources.count;
  r->results.items =
      PROTO_NEW_ARRAY(a, proto_describe_configs_resp_describe_configs_result,
                      req->resources.count);
  for (int32_t i = 0; i < req->resources.count; i++) {
    const proto_describe_configs_req_describe_configs_resource *q =
        &req->resources.items[i];
    proto_describe_configs_resp_describe_configs_result *res =
        &r->results.items[i];
    res->resource_type = q->resource_type;
    res->resource_name = q->resource_name;
    res->error_message = PROTO_STR_NULL;
    cfake_topic *t = cfake_find_topic(cl, q->resource_name.data);
    if (q->resource_type != 2 || !t) {
      res->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
      res->configs.count = 0;
      continue;
    }
    int32_t nd = (int32_t)G_N_ELEMENTS(cfake_default_configs);
    int32_t no = (int32_t)t->config_names->len;
    res->configs.items = PROTO_NEW_ARRAY(
        a, proto_describe_configs_resp_describe_configs_resource_result,
        nd + no);
    int32_t m = 0;
    for (int32_t k = 0; k < no; k++) {
      proto_describe_configs_resp_describe_configs_resource_result *e =
          &res->configs.items[m++];
      e->name = proto_str_from(g_ptr_array_index(t->config_names, k));
      e->value = proto_str_from(g_ptr_array_index(t->config_values, k));
      e->config_source = 1; /* DYNAMIC_TOPIC_CONFIG */
      e->is_default = false;
    }
    for (int32_t k = 0; k < nd; k++) {
      bool overridden = false;
      for (int32_t j = 0; j < no; j++)
        overridden |= strcmp(g_ptr_array_index(t->config_names, j),
                             cfake_default_configs[k][0]) == 0;
      if (overridden)
        continue;
      proto_describe_configs_resp_describe_configs_resource_result *e =
          &res->configs.items[m++];
      e->name = proto_str_from(cfake_default_configs[k][0]);
      e->value = proto_str_from(cfake_default_configs[k][1]);
      e->config_source = 5; /* DEFAULT_CONFIG */
      e->is_default = true;
    }
    res->configs.count = m;
    res->error_code = 0;
  }
  return r;
}

static void *cfake_alter_configs(cfake_node *n,
                                 proto_incremental_alter_configs_req *req,
                                 proto_arena *a) {
  cfake_cluster *cl = n->cl;
  proto_incremental_alter_configs_resp *r =
      PROTO_NEW(a, proto_incremental_alter_configs_resp);
  r->responses.count = req->resources.count;
  r->responses.items = PROTO_NEW_ARRAY(
      a, proto_incremental_alter_configs_resp_alter_configs_resource_response,
      req->resources.count);
  for (int32_t i = 0; i < req->resources.count; i++) {
    const proto_incremental_alter_configs_req_alter_configs_resource *q =
        &req->resources.items[i];
    proto_incremental_alter_configs_resp_alter_configs_resource_response *res =
        &r->responses.items[i];
    res->resource_type = q->resource_type;
    res->resource_name = q->resource_name;
    res->error_message = PROTO_STR_NULL;
    cfake_topic *t = cfake_find_topic(cl, q->resource_name.data);
    if (q->resource_type != 2 || !t) {
      res->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
      continue;
    }
    res->error_code = 0;
    for (int32_t k = 0; k < q->configs.count && !req->validate_only; k++) {
      const proto_incremental_alter_configs_req_alterable_config *c =
          &q->configs.items[k];
      for (guint j = 0; j < t->config_names->len; j++)
        if (strcmp(g_ptr_array_index(t->config_names, j), c->name.data) == 0) {
          g_ptr_array_remove_index(t->config_names, j);
          g_ptr_array_remove_index(t->config_values, j);
          break;
        }
      if (c->config_operation == 0) {
        g_ptr_array_add(t->config_names, g_strdup(c->name.data));
        g_ptr_array_add(t->config_values, g_strdup(c->value.data));
      } else if (c->config_operation != 1) {
        res->error_code = KERR_INVALID_REQUEST;
      }
    }
  }
  return r;
}

static void *cfake_init_pid(cfake_node *n, proto_arena *a) {
  proto_init_producer_id_resp *r = PROTO_NEW(a, proto_init_producer_id_resp);
  r->error_code = 0;
  r->producer_id = n->cl->next_producer_id++;
  r->producer_epoch = 0;
  return r;
}

/* --------------------------------------------------------- connections */

static void cfake_conn_service(cfake_conn *cc);

static void cfake_out_free(cfake_out *o) {
  buf_free(&o->bytes);
  g_free(o->frame);
  g_free(o);
}

/* Re-runs a waiting fetch; true once it has an answer. */
static bool cfake_fetch_retry(cfake_conn *cc, cfake_out *o, bool final) {
  proto_arena *a = proto_arena_new(CFAKE_ARENA_BYTES);
  proto_request req;
  g_assert(proto_request_decode(o->frame, o->frame_len, a, &req) == 0);
  void *body = cfake_fetch(cc->n, req.body, a, final);
  if (body) {
    g_assert(proto_response_encode(&o->bytes, PROTO_API_FETCH,
                                   req.header.api_version,
                                   req.header.correlation_id, body) == 0);
    o->fetch_waiting = false;
  }
  proto_arena_free(a);
  return body != NULL;
}

static void cfake_conn_timer(void *arg) {
  cfake_conn *cc = arg;
  cc->timer = 0;
  cfake_conn_service(cc);
}

/* Sends every answer that is ready, in order; arms a timer for the next. */
static void cfake_conn_service(cfake_conn *cc) {
  if (cc->closed)
    return;
  env_t *env = cc->n->env;
  uint64_t now = env_now_ns(env);
  cfake_out *o;
  while ((o = g_queue_peek_head(&cc->outq))) {
    if (o->fetch_waiting &&
        !cfake_fetch_retry(cc, o, now >= o->fetch_deadline_ns))
      break;
    if (o->ready_at_ns > now)
      break;
    g_queue_pop_head(&cc->outq);
    if (env_conn_send(cc->ec, o->bytes.data, o->bytes.len) != 0)
      cc->closed = true;
    cc->outstanding--;
    cfake_out_free(o);
  }
  if ((o = g_queue_peek_head(&cc->outq))) {
    uint64_t at = o->fetch_waiting ? o->fetch_deadline_ns : o->ready_at_ns;
    if (o->ready_at_ns > at)
      at = o->ready_at_ns;
    if (cc->timer)
      env_timer_cancel(env, cc->timer);
    cc->timer =
        env_timer_start(env, at > now ? at - now : 0, cfake_conn_timer, cc);
  }
}

static void cfake_wake_all(cfake_cluster *cl) {
  for (guint i = 0; i < cl->nodes->len; i++) {
    cfake_node *n = g_ptr_array_index(cl->nodes, i);
    for (guint k = 0; k < n->conns->len; k++)
      cfake_conn_service(g_ptr_array_index(n->conns, k));
  }
}

static void cfake_conn_request(cfake_conn *cc, const uint8_t *frame,
                               size_t len) {
  cfake_node *n = cc->n;
  cfake_cluster *cl = n->cl;
  proto_arena *a = cc->arena;
  proto_arena_reset(a);
  proto_request req;
  int rc = proto_request_decode(frame, len, a, &req);
  int16_t key = req.header.api_key, v = req.header.api_version;
  cfake_out *o = g_new0(cfake_out, 1);
  buf_init(&o->bytes);
  o->ready_at_ns = env_now_ns(n->env) + cl->response_delay_ns;
  if (key >= 0 && key < CFAKE_API_KEYS) {
    cl->requests[key]++;
    cl->last_version[key] = v;
  }
  bool av = key == PROTO_API_API_VERSIONS;
  if (av)
    cl->last_api_versions_version = v;
  if (rc == PROTO_ERR_UNSUPPORTED_VERSION && av) {
    proto_api_versions_fallback_encode(&o->bytes, req.header.correlation_id);
  } else if (rc) {
    cfake_out_free(o);
    cc->closed = true;
    env_conn_close(cc->ec);
    return;
  } else if (av && v >= 3 && cl->api_versions_v3_unsupported) {
    proto_api_versions_fallback_encode(&o->bytes, req.header.correlation_id);
  } else if (cl->blackhole) {
    cc->outstanding++;
    if (cc->outstanding > cl->in_flight_max_seen)
      cl->in_flight_max_seen = cc->outstanding;
    cfake_out_free(o);
    return;
  } else {
    void *body = NULL;
    bool no_response = false;
    switch (key) {
    case PROTO_API_API_VERSIONS:
      body = cfake_api_versions(n, a);
      break;
    case PROTO_API_METADATA:
      body = cfake_metadata(n, v, req.body, a);
      break;
    case PROTO_API_PRODUCE:
      body = cfake_produce(n, req.body, a);
      no_response = body == NULL;
      break;
    case PROTO_API_FETCH: {
      body = cfake_fetch(n, req.body, a, false);
      if (!body) {
        proto_fetch_req *fr = req.body;
        o->fetch_waiting = true;
        o->frame = g_memdup2(frame, len);
        o->frame_len = len;
        o->fetch_deadline_ns =
            env_now_ns(n->env) + (uint64_t)fr->max_wait_ms * CFAKE_NS_PER_MS;
      }
      break;
    }
    case PROTO_API_LIST_OFFSETS:
      body = cfake_list_offsets(n, req.body, a);
      break;
    case PROTO_API_CREATE_TOPICS:
      body = cfake_create_topics(n, req.body, a);
      break;
    case PROTO_API_DELETE_TOPICS:
      body = cfake_delete_topics(n, v, req.body, a);
      break;
    case PROTO_API_CREATE_PARTITIONS:
      body = cfake_create_partitions(n, req.body, a);
      break;
    case PROTO_API_DESCRIBE_CONFIGS:
      body = cfake_describe_configs(n, v, req.body, a);
      break;
    case PROTO_API_INCREMENTAL_ALTER_CONFIGS:
      body = cfake_alter_configs(n, req.body, a);
      break;
    case PROTO_API_INIT_PRODUCER_ID:
      body = cfake_init_pid(n, a);
      break;
    default: /* a request the fake does not serve: close, as Kafka would */
      cfake_out_free(o);
      cc->closed = true;
      env_conn_close(cc->ec);
      return;
    }
    if (no_response) {
      cfake_out_free(o);
      return;
    }
    if (body)
      g_assert(proto_response_encode(&o->bytes, key, v,
                                     req.header.correlation_id, body) == 0);
  }
  g_queue_push_tail(&cc->outq, o);
  cc->outstanding++;
  if (cc->outstanding > cl->in_flight_max_seen)
    cl->in_flight_max_seen = cc->outstanding;
}

static void cfake_conn_free(cfake_conn *cc) {
  cfake_out *o;
  while ((o = g_queue_pop_head(&cc->outq)))
    cfake_out_free(o);
  if (cc->timer)
    env_timer_cancel(cc->n->env, cc->timer);
  rxbuf_free(cc->rx);
  proto_arena_free(cc->arena);
  g_free(cc);
}

static void cfake_on_data(void *arg, env_conn_t *ec, const uint8_t *data,
                          size_t len) {
  cfake_conn *cc = arg;
  if (cc->closed)
    return;
  rxbuf_received(cc->rx, data, len);
  const uint8_t *frame;
  size_t flen;
  int rc;
  while (!cc->closed && (rc = rxbuf_next(cc->rx, &frame, &flen)) == 1)
    cfake_conn_request(cc, frame, flen);
  if (!cc->closed && rc < 0) {
    cc->closed = true;
    env_conn_close(cc->ec);
  }
  cfake_conn_service(cc);
}

static void cfake_on_close(void *arg, env_conn_t *ec, int status) {
  cfake_conn *cc = arg;
  g_ptr_array_remove(cc->n->conns, cc);
  cfake_conn_free(cc);
}

static const env_conn_cbs cfake_conn_cbs = {.on_data = cfake_on_data,
                                            .on_close = cfake_on_close};

static void cfake_on_accept(void *arg, env_conn_t *ec) {
  cfake_node *n = arg;
  cfake_conn *cc = g_new0(cfake_conn, 1);
  cc->n = n;
  cc->ec = ec;
  cc->rx =
      rxbuf_new(PROTO_REQUEST_FRAME_BYTES_MIN, PROTO_FRAME_BYTES_MAX_DEFAULT);
  cc->arena = proto_arena_new(CFAKE_ARENA_BYTES);
  g_queue_init(&cc->outq);
  g_ptr_array_add(n->conns, cc);
  n->cl->connections++;
  env_conn_set_cbs(ec, &cfake_conn_cbs, cc);
}

static void *cfake_start(env_t *env, void *config) {
  cfake_node_config *nc = config;
  cfake_node *n = g_new0(cfake_node, 1);
  n->env = env;
  n->cl = nc->cluster;
  n->node_id = nc->node_id;
  n->conns = g_ptr_array_new();
  if (env_listen(env, "", CFAKE_PORT, cfake_on_accept, n, &n->listener) != 0) {
    g_ptr_array_free(n->conns, TRUE);
    g_free(n);
    return NULL;
  }
  g_ptr_array_add(n->cl->nodes, n);
  return n;
}

static void cfake_stop(void *node) {
  cfake_node *n = node;
  if (!n)
    return;
  env_listener_close(n->listener);
  for (guint i = 0; i < n->conns->len; i++) {
    cfake_conn *cc = g_ptr_array_index(n->conns, i);
    if (!cc->closed)
      env_conn_close(cc->ec);
    cfake_conn_free(cc);
  }
  g_ptr_array_free(n->conns, TRUE);
  g_ptr_array_remove(n->cl->nodes, n);
  g_free(n);
}

const env_node_ops cfake_node_ops = {"cfake", cfake_start, cfake_stop};

/* ------------------------------------------------------------ self-test */

/* A raw client node: sends the frames it is given, keeps what comes back. */
typedef struct raw_client {
  GByteArray *to_send;
  GByteArray *received;
  env_conn_t *conn;
  int closed_status;
  bool closed;
} raw_client;

static void raw_on_data(void *arg, env_conn_t *c, const uint8_t *d, size_t n) {
  raw_client *r = arg;
  g_byte_array_append(r->received, d, (guint)n);
}
static void raw_on_close(void *arg, env_conn_t *c, int status) {
  raw_client *r = arg;
  r->closed = true;
  r->closed_status = status;
  r->conn = NULL;
}
static const env_conn_cbs raw_cbs = {.on_data = raw_on_data,
                                     .on_close = raw_on_close};

static void *raw_start(env_t *env, void *config) {
  raw_client *r = config;
  r->conn = env_connect(env, "b1", CFAKE_PORT, &raw_cbs, r);
  g_assert(env_conn_send(r->conn, r->to_send->data, r->to_send->len) == 0);
  return r;
}
static void raw_stop(void *node) {
  raw_client *r = node;
  if (r && r->conn)
    env_conn_close(r->conn);
}
static const env_node_ops raw_ops = {"raw", raw_start, raw_stop};

/* Sends frames to a one-broker fake and returns what it answered. */
static GByteArray *raw_exchange(cfake_cluster *cl, GByteArray *frames,
                                bool *closed) {
  sim_options opts;
  sim_options_default(&opts, test_seed());
  sim_t *sim = sim_new(&opts);
  cfake_node_config nc = {cl, 1};
  sim_node_add(sim, "b1", &cfake_node_ops, &nc);
  sim_run_until(sim, 1000000);
  raw_client r = {frames, g_byte_array_new(), NULL, 0, false};
  sim_node_add(sim, "raw", &raw_ops, &r);
  sim_run_until(sim, 200 * CFAKE_NS_PER_MS);
  *closed = r.closed;
  sim_free(sim);
  return r.received;
}

static void test_fake_api_versions_fallback(void) {
  cfake_cluster *cl = cfake_cluster_new();
  cfake_add_broker(cl, 1, "b1");
  cl->api_versions_v3_unsupported = true;
  proto_api_versions_req req;
  proto_set_defaults(&proto_api_versions_req_desc, &req);
  req.client_software_name = PROTO_STR_LIT("t");
  req.client_software_version = PROTO_STR_LIT("1");
  buf_t out = BUF_INIT;
  CU_ASSERT_EQUAL(
      proto_request_encode(&out, PROTO_API_API_VERSIONS, 3, 7, "t", &req), 0);
  GByteArray *frames = g_byte_array_new();
  g_byte_array_append(frames, out.data, (guint)out.len);
  bool closed;
  GByteArray *got = raw_exchange(cl, frames, &closed);
  /* The KIP-511 answer: size, correlation id 7, error 35, one entry. */
  buf_t want = BUF_INIT;
  proto_api_versions_fallback_encode(&want, 7);
  CU_ASSERT_EQUAL(got->len, want.len);
  CU_ASSERT(got->len == want.len &&
            memcmp(got->data, want.data, want.len) == 0);
  CU_ASSERT(!closed);
  buf_free(&want);
  buf_free(&out);
  g_byte_array_free(frames, TRUE);
  g_byte_array_free(got, TRUE);
  cfake_cluster_free(cl);
}

static void test_fake_produce_dedupe(void) {
  cfake_cluster *cl = cfake_cluster_new();
  cfake_add_broker(cl, 1, "b1");
  cfake_add_topic(cl, "t", 1, 1);
  /* Two identical idempotent batches, then one with a gap. */
  GByteArray *frames = g_byte_array_new();
  int32_t seqs[] = {0, 0, 5};
  for (int i = 0; i < 3; i++) {
    batch_builder_opts o = {.codec = BATCH_CODEC_NONE,
                            .base_timestamp = 1000,
                            .producer_id = 77,
                            .producer_epoch = 0,
                            .base_sequence = seqs[i],
                            .leader_epoch = -1};
    batch_builder *bb = batch_builder_new(&o);
    batch_builder_add(bb, 1000, "k", 1, "v", 1, NULL, 0);
    buf_t batch = BUF_INIT;
    CU_ASSERT_EQUAL(batch_builder_finish(bb, -1, &batch), 0);
    proto_arena *a = proto_arena_new(0);
    proto_produce_req *req = PROTO_NEW(a, proto_produce_req);
    req->acks = 1;
    req->timeout_ms = 1000;
    req->topic_data.items =
        PROTO_NEW_ARRAY(a, proto_produce_req_topic_produce_data, 1);
    req->topic_data.count = 1;
    req->topic_data.items[0].name = PROTO_STR_LIT("t");
    req->topic_data.items[0].partition_data.items =
        PROTO_NEW_ARRAY(a, proto_produce_req_partition_produce_data, 1);
    req->topic_data.items[0].partition_data.count = 1;
    req->topic_data.items[0].partition_data.items[0].records =
        (proto_bytes){batch.data, (int32_t)batch.len};
    buf_t out = BUF_INIT;
    CU_ASSERT_EQUAL(
        proto_request_encode(&out, PROTO_API_PRODUCE, 7, i, "t", req), 0);
    g_byte_array_append(frames, out.data, (guint)out.len);
    buf_free(&out);
    buf_free(&batch);
    proto_arena_free(a);
  }
  bool closed;
  GByteArray *got = raw_exchange(cl, frames, &closed);
  CU_ASSERT_EQUAL(cl->produce_batches, 1);
  CU_ASSERT_EQUAL(cl->duplicates, 1);
  CU_ASSERT_EQUAL(cl->out_of_order, 1);
  CU_ASSERT_EQUAL(cfake_find_topic(cl, "t")->parts[0].log_end, 1);
  CU_ASSERT(got->len > 0);
  g_byte_array_free(frames, TRUE);
  g_byte_array_free(got, TRUE);
  cfake_cluster_free(cl);
}

/* ------------------------------------------------- producer: bursts */

/* A client node that produces from its own timer, outside any event of the
 * client, as sluice perf-produce's throttle does: first one record alone,
 * then (once it is delivered) a burst of BURST_RECORDS in one call chain.
 * Regression: kclient_produce used to drain inside each call, so the
 * first records of a burst went out as one-record requests holding every
 * in-flight slot while the rest of the burst waited behind them. */
#define BURST_RECORDS 2000
#define BURST_VALUE_BYTES 100

typedef struct burst_client {
  env_t *env;
  kclient_t *kc;
  int to_produce;
  int delivered, failed;
  uint64_t alone_at_ns, alone_delivered_at_ns;
} burst_client;

static void burst_fire(void *arg);

static void burst_delivered(void *arg, const kclient_delivery *d) {
  burst_client *b = arg;
  if (d->err)
    b->failed++;
  else
    b->delivered++;
  if (b->delivered + b->failed == 1) {
    b->alone_delivered_at_ns = env_now_ns(b->env);
    b->to_produce = BURST_RECORDS;
    env_timer_start(b->env, CFAKE_NS_PER_MS, burst_fire, b);
  }
}

static void burst_fire(void *arg) {
  burst_client *b = arg;
  char value[BURST_VALUE_BYTES];
  memset(value, 'b', sizeof value);
  if (b->alone_at_ns == 0)
    b->alone_at_ns = env_now_ns(b->env);
  for (; b->to_produce > 0; b->to_produce--) {
    kclient_message m = {.topic = "t",
                         .partition = 0,
                         .key = NULL,
                         .key_len = -1,
                         .value = value,
                         .value_len = BURST_VALUE_BYTES,
                         .timestamp_ms = -1};
    CU_ASSERT_EQUAL_FATAL(kclient_produce(b->kc, &m, burst_delivered, b), 0);
  }
}

static void burst_metadata(void *arg, int err, const char *errmsg,
                           const kclient_metadata_info *md) {
  burst_client *b = arg;
  CU_ASSERT_EQUAL(err, 0);
  b->to_produce = 1;
  env_timer_start(b->env, CFAKE_NS_PER_MS, burst_fire, b);
}

static void *burst_start(env_t *env, void *config) {
  burst_client *b = config;
  b->env = env;
  kclient_config cfg;
  kclient_config_default(&cfg);
  cfg.bootstrap_servers = "b1:9092";
  cfg.acks = 1;
  cfg.linger_ms = 0;
  char msg[KCLIENT_ERRMSG_BYTES];
  g_assert(kclient_new(env, &cfg, &b->kc, msg) == 0);
  const char *names[] = {"t"};
  kclient_metadata(b->kc, names, 1, burst_metadata, b);
  return b;
}

static void burst_stop(void *node) {
  burst_client *b = node;
  if (!b)
    return;
  kclient_free(b->kc);
  b->kc = NULL;
}

static const env_node_ops burst_ops = {"burst", burst_start, burst_stop};

static void test_fake_producer_burst_batches(void) {
  cfake_cluster *cl = cfake_cluster_new();
  cfake_add_broker(cl, 1, "b1");
  cfake_add_topic(cl, "t", 1, 1);
  sim_options opts;
  sim_options_default(&opts, test_seed());
  sim_t *sim = sim_new(&opts);
  cfake_node_config nc = {cl, 1};
  sim_node_add(sim, "b1", &cfake_node_ops, &nc);
  sim_run_until(sim, CFAKE_NS_PER_MS);
  burst_client b = {0};
  sim_node_add(sim, "c1", &burst_ops, &b);
  for (int ms = 0; ms < 2000 && b.delivered + b.failed < 1 + BURST_RECORDS;
       ms++)
    sim_run_until(sim, sim_now_ns(sim) + CFAKE_NS_PER_MS);
  CU_ASSERT_EQUAL(b.failed, 0);
  CU_ASSERT_EQUAL(b.delivered, 1 + BURST_RECORDS);
  /* A record alone goes out on the next turn: no linger, no tick. */
  CU_ASSERT(b.alone_delivered_at_ns - b.alone_at_ns < 10 * CFAKE_NS_PER_MS);
  /* The burst: full batches (16 KiB hold 131 of these records), never a
   * one-record request ahead of the rest. */
  GPtrArray *batches = cfake_find_topic(cl, "t")->parts[0].batches;
  CU_ASSERT_EQUAL(batches->len, 1 + (BURST_RECORDS + 130) / 131);
  CU_ASSERT_EQUAL(((cfake_batch *)g_ptr_array_index(batches, 0))->count, 1);
  for (guint i = 1; i + 1 < batches->len; i++)
    CU_ASSERT(((cfake_batch *)g_ptr_array_index(batches, i))->count >= 100);
  CU_ASSERT(cl->in_flight_max_seen <= 5);
  sim_free(sim);
  cfake_cluster_free(cl);
}

int suite_client_fake(void) {
  TEST_SUITE(
      "client_fake",
      {"ApiVersions v3 refused with the KIP-511 reply",
       test_fake_api_versions_fallback},
      {"idempotent produce: dedupe and out-of-order", test_fake_produce_dedupe},
      {"producer: a burst outside an event goes out in full batches",
       test_fake_producer_burst_batches});
}
