/*
 * api_group.c — the group coordinator's APIs: JoinGroup (11), SyncGroup
 * (14), Heartbeat (12), LeaveGroup (13), OffsetCommit (8), OffsetFetch (9),
 * ListGroups (16), DescribeGroups (15), DeleteGroups (42), OffsetDelete
 * (47), and the __consumer_offsets topic behind them.
 *
 * The coordinator itself is broker/group/ (no sockets); this file turns
 * decoded requests into its calls and its answers into responses. JoinGroup
 * and SyncGroup park when the coordinator returns a waiter; the waiter's
 * answer arrives from an env timer and completes the parked request. A
 * parked request whose connection closes cancels its waiter.
 *
 * __consumer_offsets (compacted, offsets.topic.num.partitions partitions)
 * is created at the first start; every record the coordinator writes is
 * appended as one batch to the partition of its group and answered once
 * appended, as a produce with acks=1 is (log.flush.* decide when it is on
 * disk). At start its partitions are read back in offset order and fed to
 * group_replay; until then group requests get COORDINATOR_LOAD_IN_PROGRESS.
 */
#include <string.h>

#include <glib.h>

#include "base/assert.h"
#include "broker/log/batch.h"
#include "broker/server/broker_internal.h"

/* ------------------------------------------------------ __consumer_offsets */

static int offsets_append(void *arg, int32_t partition,
                          const group_record *recs, size_t n) {
  broker_t *b = arg;
  int err = KERR_NONE;
  broker__partition *p =
      broker__partition_find(b, BROKER_OFFSETS_TOPIC, partition, &err);
  if (!p || !p->log || b->shutting_down)
    return KERR_NOT_COORDINATOR;
  int64_t now_ms = broker__now_ms(b);
  batch_builder_opts opts = {.codec = BATCH_CODEC_NONE,
                             .base_offset = 0,
                             .base_timestamp = now_ms,
                             .producer_id = -1,
                             .producer_epoch = -1,
                             .base_sequence = -1,
                             .leader_epoch = -1};
  batch_builder *bb = batch_builder_new(&opts);
  for (size_t i = 0; i < n; i++)
    batch_builder_add(bb, now_ms, recs[i].key, (int32_t)recs[i].key_len,
                      recs[i].value,
                      recs[i].value ? (int32_t)recs[i].value_len : -1, NULL, 0);
  buf_clear(&b->batch_copy);
  err = batch_builder_finish(bb, -1, &b->batch_copy);
  if (err != KERR_NONE)
    return err;
  log_append_info info;
  err = log_append(p->log, b->batch_copy.data, b->batch_copy.len,
                   p->leader_epoch, &info);
  if (err != KERR_NONE) {
    env_log(b->env, ENV_LOG_WARN, "%s-%d: append failed: %s",
            BROKER_OFFSETS_TOPIC, partition, kerr_name(err));
    return err;
  }
  broker__fetch_notify(p, b->batch_copy.len);
  return KERR_NONE;
}

/* Reads one partition of __consumer_offsets from its start into the
 * coordinator. Returns 0 or a KERR (logged). */
static int replay_partition(broker_t *b, broker__partition *p, buf_t *data) {
  int64_t offset = log_start_offset(p->log);
  int64_t end = log_end_offset(p->log);
  int err = KERR_NONE;
  batch_iter *it = NULL;
  while (offset < end) {
    buf_clear(data);
    log_read_info info;
    err = log_read(p->log, offset, BROKER_SCAN_READ_BYTES, end, data, &info);
    if (err != KERR_NONE || info.batch_count == 0)
      break;
    size_t pos = 0;
    while (pos < data->len) {
      int64_t total = batch_total_bytes(data->data + pos, data->len - pos);
      if (total <= 0 || (size_t)total > data->len - pos)
        break;
      if (!it)
        it = batch_iter_new(data->data + pos, (size_t)total, &err);
      else
        err = batch_iter_reset(it, data->data + pos, (size_t)total);
      batch_record rec;
      while (it && err == KERR_NONE && batch_iter_next(it, &rec) == 1)
        (void)group_replay(b->groups, rec.key,
                           rec.key_len < 0 ? 0 : (size_t)rec.key_len, rec.value,
                           rec.value_len < 0 ? 0 : (size_t)rec.value_len,
                           rec.value_len < 0);
      pos += (size_t)total;
    }
    offset = info.offset_next;
  }
  batch_iter_free(it);
  if (err != KERR_NONE)
    env_log(b->env, ENV_LOG_ERROR, "%s-%d: cannot load: %s",
            BROKER_OFFSETS_TOPIC, p->index, kerr_name(err));
  return err;
}

static void load_offsets(broker_t *b, broker__topic *t) {
  buf_t data;
  buf_init(&data);
  for (guint i = 0; i < t->partitions->len; i++) {
    broker__partition *p = g_ptr_array_index(t->partitions, i);
    if (p->log)
      (void)replay_partition(b, p, &data);
  }
  buf_free(&data);
  group_set_loaded(b->groups);
  env_log(b->env, ENV_LOG_INFO, "group coordinator loaded: %zu groups",
          group_count(b->groups));
}

static void on_offsets_topic_created(void *arg, int status) {
  broker_t *b = arg;
  b->offsets_topic_creating = false;
  if (status < 0)
    env_log(b->env, ENV_LOG_ERROR, "cannot create %s: %s", BROKER_OFFSETS_TOPIC,
            g_strerror(-status));
}

void broker__groups_start(broker_t *b) {
  group_store store = {offsets_append, b};
  b->groups = group_coord_new(b->env, &b->cfg->groups, &store);
  broker__topic *t = broker__topic_find(b, BROKER_OFFSETS_TOPIC);
  if (t)
    load_offsets(b, t);
  else
    group_set_loaded(b->groups); /* nothing stored yet */
}

bool broker__groups_ready(broker_t *b) {
  if (broker__topic_find(b, BROKER_OFFSETS_TOPIC))
    return true;
  if (b->offsets_topic_creating || b->shutting_down ||
      broker__topic_find_any(b, BROKER_OFFSETS_TOPIC))
    return false;
  const char *names[] = {"cleanup.policy"};
  const char *values[] = {"compact"};
  int err = broker__topic_create(b, BROKER_OFFSETS_TOPIC,
                                 b->cfg->groups.offsets_partitions, names,
                                 values, 1, on_offsets_topic_created, b);
  if (err != KERR_NONE)
    env_log(b->env, ENV_LOG_ERROR, "cannot create %s: %s", BROKER_OFFSETS_TOPIC,
            kerr_name(err));
  else
    b->offsets_topic_creating = true;
  return false;
}

/* ------------------------------------------------------------ helpers */

/* A decoded string as a C string: dflt when null, NULL when it holds a
 * NUL byte (invalid). */
static const char *cstr(proto_str s, const char *dflt) {
  if (s.len < 0)
    return dflt;
  return broker__str_clean(s) ? s.data : NULL;
}

static proto_bytes pbytes(const uint8_t *d, size_t len) {
  return (proto_bytes){d ? d : (const uint8_t *)"", (int32_t)len};
}

static proto_bytes copy_bytes(broker__req *req, const uint8_t *d, size_t len) {
  uint8_t *p = broker__alloc(req, len ? len : 1);
  if (len)
    memcpy(p, d, len);
  return pbytes(p, len);
}

/* "/host" as Kafka prints a member's client host. */
static const char *client_host(broker__req *req, char *out, size_t out_len) {
  const char *peer = broker__req_peer(req);
  g_snprintf(out, out_len, "/%s", peer ? peer : "unknown");
  char *colon = strrchr(out, ':');
  if (colon && colon != out + 1)
    *colon = '\0';
  return out;
}

/* ------------------------------------------------------------ JoinGroup */

static void join_answer(void *arg, const group_join_resp *g) {
  broker__req *req = arg;
  req->cancel = NULL;
  req->state = NULL;
  proto_join_group_resp *resp = BROKER__NEW(req, proto_join_group_resp);
  resp->error_code = g->error;
  resp->generation_id = g->generation_id;
  resp->protocol_type =
      g->protocol_type ? broker__str(req, g->protocol_type) : PROTO_STR_NULL;
  /* Below v7 the protocol name is not nullable. */
  resp->protocol_name = broker__str(
      req, g->protocol_name ? g->protocol_name
                            : (req->header.api_version < 7 ? "" : NULL));
  resp->leader = broker__str(req, g->leader);
  resp->member_id = broker__str(req, g->member_id);
  resp->skip_assignment = false;
  proto_join_group_resp_member *ms = BROKER__NEW_ARRAY(
      req, proto_join_group_resp_member, (int32_t)g->member_count);
  for (size_t i = 0; i < g->member_count; i++) {
    ms[i].member_id = broker__str(req, g->members[i].member_id);
    ms[i].group_instance_id = broker__str(req, g->members[i].group_instance_id);
    ms[i].metadata =
        copy_bytes(req, g->members[i].metadata, g->members[i].metadata_len);
  }
  resp->members.items = ms;
  resp->members.count = (int32_t)g->member_count;
  broker__respond(req, resp);
}

static void waiter_cancel(broker__req *req) {
  group_waiter_cancel(req->state);
  req->state = NULL;
}

static broker__handled park_or_done(broker__req *req, group_waiter *w) {
  if (!w)
    return BROKER__DONE;
  req->state = w;
  req->cancel = waiter_cancel;
  return BROKER__PARKED;
}

broker__handled broker__api_join_group(broker__req *req) {
  broker_t *b = req->b;
  const proto_join_group_req *r = req->body;
  int16_t v = req->header.api_version;
  group_join_resp err = {.generation_id = -1, .leader = "", .member_id = ""};
  const char *group_id = cstr(r->group_id, "");
  const char *member_id = cstr(r->member_id, "");
  const char *instance = v >= 5 ? cstr(r->group_instance_id, NULL) : NULL;
  const char *ptype = cstr(r->protocol_type, "");
  int32_t np = r->protocols.count < 0 ? 0 : r->protocols.count;
  if (!group_id || !member_id || !ptype ||
      (r->group_instance_id.len >= 0 && v >= 5 && !instance)) {
    err.error = KERR_INVALID_REQUEST;
    join_answer(req, &err);
    return BROKER__DONE;
  }
  if (np > GROUP_PROTOCOLS_MAX) {
    err.error = KERR_INCONSISTENT_GROUP_PROTOCOL;
    join_answer(req, &err);
    return BROKER__DONE;
  }
  group_protocol protos[GROUP_PROTOCOLS_MAX];
  for (int32_t i = 0; i < np; i++) {
    const proto_join_group_req_protocol *p = &r->protocols.items[i];
    protos[i].name = cstr(p->name, "");
    protos[i].metadata = p->metadata.data;
    protos[i].metadata_len = p->metadata.len < 0 ? 0 : (size_t)p->metadata.len;
    if (!protos[i].name) {
      err.error = KERR_INVALID_REQUEST;
      join_answer(req, &err);
      return BROKER__DONE;
    }
  }
  char host[128];
  const char *client_id = cstr(req->header.client_id, "");
  group_join_req jr = {
      .version = v,
      .group_id = group_id,
      .member_id = member_id,
      .group_instance_id = instance,
      .protocol_type = ptype,
      .client_id = client_id ? client_id : "",
      .client_host = client_host(req, host, sizeof host),
      .session_timeout_ms = r->session_timeout_ms,
      .rebalance_timeout_ms =
          v >= 1 ? r->rebalance_timeout_ms : r->session_timeout_ms,
      .protocols = protos,
      .protocol_count = (size_t)np,
  };
  return park_or_done(req, group_join(b->groups, &jr, join_answer, req));
}

/* ------------------------------------------------------------ SyncGroup */

static void sync_answer(void *arg, const group_sync_resp *g) {
  broker__req *req = arg;
  req->cancel = NULL;
  req->state = NULL;
  proto_sync_group_resp *resp = BROKER__NEW(req, proto_sync_group_resp);
  resp->error_code = g->error;
  resp->protocol_type = broker__str(req, g->protocol_type);
  resp->protocol_name = broker__str(req, g->protocol_name);
  resp->assignment = copy_bytes(req, g->assignment, g->assignment_len);
  broker__respond(req, resp);
}

broker__handled broker__api_sync_group(broker__req *req) {
  broker_t *b = req->b;
  const proto_sync_group_req *r = req->body;
  int16_t v = req->header.api_version;
  group_sync_resp err = {.error = KERR_INVALID_REQUEST};
  const char *group_id = cstr(r->group_id, "");
  const char *member_id = cstr(r->member_id, "");
  int32_t na = r->assignments.count < 0 ? 0 : r->assignments.count;
  if (!group_id || !member_id || na > GROUP_MEMBERS_MAX) {
    sync_answer(req, &err);
    return BROKER__DONE;
  }
  group_assignment *as = broker__alloc(req, sizeof *as * (size_t)(na ? na : 1));
  for (int32_t i = 0; i < na; i++) {
    const proto_sync_group_req_assignment *a = &r->assignments.items[i];
    as[i].member_id = cstr(a->member_id, "");
    as[i].assignment = a->assignment.data;
    as[i].assignment_len =
        a->assignment.len < 0 ? 0 : (size_t)a->assignment.len;
    if (!as[i].member_id) {
      sync_answer(req, &err);
      return BROKER__DONE;
    }
  }
  group_sync_req sr = {
      .group_id = group_id,
      .generation_id = r->generation_id,
      .member_id = member_id,
      .group_instance_id = v >= 3 ? cstr(r->group_instance_id, NULL) : NULL,
      .protocol_type = v >= 5 ? cstr(r->protocol_type, NULL) : NULL,
      .protocol_name = v >= 5 ? cstr(r->protocol_name, NULL) : NULL,
      .assignments = as,
      .assignment_count = (size_t)na,
  };
  return park_or_done(req, group_sync(b->groups, &sr, sync_answer, req));
}

/* ------------------------------------------------- Heartbeat, LeaveGroup */

broker__handled broker__api_heartbeat(broker__req *req) {
  const proto_heartbeat_req *r = req->body;
  proto_heartbeat_resp *resp = BROKER__NEW(req, proto_heartbeat_resp);
  const char *group_id = cstr(r->group_id, "");
  const char *member_id = cstr(r->member_id, "");
  if (!group_id || !member_id)
    resp->error_code = KERR_INVALID_REQUEST;
  else
    resp->error_code = group_heartbeat(
        req->b->groups, group_id, r->generation_id, member_id,
        req->header.api_version >= 3 ? cstr(r->group_instance_id, NULL) : NULL);
  broker__respond(req, resp);
  return BROKER__DONE;
}

broker__handled broker__api_leave_group(broker__req *req) {
  const proto_leave_group_req *r = req->body;
  int16_t v = req->header.api_version;
  proto_leave_group_resp *resp = BROKER__NEW(req, proto_leave_group_resp);
  const char *group_id = cstr(r->group_id, "");
  int32_t n = v >= 3 ? (r->members.count < 0 ? 0 : r->members.count) : 1;
  if (!group_id || n > GROUP_MEMBERS_MAX) {
    resp->error_code = KERR_INVALID_REQUEST;
    broker__respond(req, resp);
    return BROKER__DONE;
  }
  group_leave_member *ms = broker__alloc(req, sizeof *ms * (size_t)(n ? n : 1));
  for (int32_t i = 0; i < n; i++) {
    if (v < 3) {
      ms[i].member_id = cstr(r->member_id, "");
      ms[i].group_instance_id = NULL;
    } else {
      ms[i].member_id = cstr(r->members.items[i].member_id, "");
      ms[i].group_instance_id =
          cstr(r->members.items[i].group_instance_id, NULL);
    }
    if (!ms[i].member_id) {
      resp->error_code = KERR_INVALID_REQUEST;
      broker__respond(req, resp);
      return BROKER__DONE;
    }
  }
  resp->error_code = group_leave(req->b->groups, group_id, ms, (size_t)n);
  if (v < 3) {
    if (resp->error_code == KERR_NONE)
      resp->error_code = ms[0].error;
  } else {
    proto_leave_group_resp_member_response *out =
        BROKER__NEW_ARRAY(req, proto_leave_group_resp_member_response, n);
    for (int32_t i = 0; i < n; i++) {
      out[i].member_id = broker__str(req, ms[i].member_id);
      out[i].group_instance_id = broker__str(req, ms[i].group_instance_id);
      out[i].error_code = resp->error_code ? resp->error_code : ms[i].error;
    }
    resp->members.items = out;
    resp->members.count = n;
  }
  broker__respond(req, resp);
  return BROKER__DONE;
}

/* ----------------------------------------------------------- OffsetCommit */

broker__handled broker__api_offset_commit(broker__req *req) {
  broker_t *b = req->b;
  const proto_offset_commit_req *r = req->body;
  int16_t v = req->header.api_version;
  proto_offset_commit_resp *resp = BROKER__NEW(req, proto_offset_commit_resp);
  int32_t nt = r->topics.count < 0 ? 0 : r->topics.count;
  size_t total = 0;
  for (int32_t i = 0; i < nt; i++)
    total += r->topics.items[i].partitions.count < 0
                 ? 0
                 : (size_t)r->topics.items[i].partitions.count;
  if (total > BROKER_REQUEST_PARTITIONS_MAX)
    return BROKER__CLOSE;
  group_offset_commit *cs =
      broker__alloc(req, sizeof *cs * (total ? total : 1));
  /* Partitions refused before the coordinator sees them keep their error
   * in pre[]; the others go to the coordinator in one call. */
  int16_t *pre = broker__alloc(req, sizeof *pre * (total ? total : 1));
  group_offset_commit *send =
      broker__alloc(req, sizeof *send * (total ? total : 1));
  size_t k = 0, ns = 0;
  for (int32_t i = 0; i < nt; i++) {
    const proto_offset_commit_req_topic *t = &r->topics.items[i];
    const char *topic = cstr(t->name, "");
    int32_t np = t->partitions.count < 0 ? 0 : t->partitions.count;
    for (int32_t j = 0; j < np; j++, k++) {
      const proto_offset_commit_req_partition *p = &t->partitions.items[j];
      int err = KERR_NONE;
      cs[k] = (group_offset_commit){topic,
                                    p->partition_index,
                                    p->committed_offset,
                                    v >= 6 ? p->committed_leader_epoch : -1,
                                    cstr(p->committed_metadata, ""),
                                    0};
      pre[k] = KERR_NONE;
      if (!topic || !cs[k].metadata)
        pre[k] = KERR_INVALID_REQUEST;
      else if (!broker__partition_find(b, topic, p->partition_index, &err))
        pre[k] = KERR_UNKNOWN_TOPIC_OR_PARTITION;
      else
        send[ns++] = cs[k];
    }
  }
  const char *group_id = cstr(r->group_id, "");
  const char *member_id = v >= 1 ? cstr(r->member_id, "") : "";
  int16_t top = KERR_NONE;
  if (!group_id || !member_id) {
    top = KERR_INVALID_REQUEST;
    for (size_t i = 0; i < ns; i++)
      send[i].error = top;
  } else
    top = group_offset_commit_many(
        b->groups, group_id, v >= 1 ? r->generation_id_or_member_epoch : -1,
        member_id, v >= 7 ? cstr(r->group_instance_id, NULL) : NULL, send, ns);
  proto_offset_commit_resp_topic *ts =
      BROKER__NEW_ARRAY(req, proto_offset_commit_resp_topic, nt);
  k = 0;
  size_t s = 0;
  for (int32_t i = 0; i < nt; i++) {
    const proto_offset_commit_req_topic *t = &r->topics.items[i];
    int32_t np = t->partitions.count < 0 ? 0 : t->partitions.count;
    ts[i].name = t->name;
    proto_offset_commit_resp_partition *ps =
        BROKER__NEW_ARRAY(req, proto_offset_commit_resp_partition, np);
    for (int32_t j = 0; j < np; j++, k++) {
      ps[j].partition_index = t->partitions.items[j].partition_index;
      if (top != KERR_NONE && ns == 0)
        ps[j].error_code = top;
      else if (pre[k] != KERR_NONE)
        ps[j].error_code = pre[k];
      else
        ps[j].error_code = send[s++].error;
    }
    ts[i].partitions.items = ps;
    ts[i].partitions.count = np;
  }
  resp->topics.items = ts;
  resp->topics.count = nt;
  broker__respond(req, resp);
  return BROKER__DONE;
}

/* ------------------------------------------------------------ OffsetFetch */

/* Fills one group's answer: either the listed topics (n >= 0) or all. */
typedef struct fetch_topic_out {
  proto_str name;
  group_offset *offsets;
  int32_t count;
} fetch_topic_out;

static int16_t fetch_group(broker__req *req, const char *group_id,
                           const proto_str *names,
                           const proto_int32_array *parts, int32_t nt,
                           fetch_topic_out **out, int32_t *out_n) {
  group_coord *gc = req->b->groups;
  *out = NULL;
  *out_n = 0;
  if (nt < 0) {
    group_offset *all = NULL;
    size_t n = 0;
    int16_t err = group_offset_fetch_all(gc, group_id, &all, &n);
    /* Group the sorted offsets by topic: each topic's run is a slice of
     * one copy in the response arena. */
    group_offset *copy = broker__alloc(req, sizeof *copy * (n ? n : 1));
    fetch_topic_out *ts = broker__alloc(req, sizeof *ts * (n ? n : 1));
    int32_t tn = 0;
    for (size_t i = 0; i < n; i++) {
      copy[i] = all[i];
      copy[i].metadata = broker__str(req, all[i].metadata).data;
      if (tn == 0 || strcmp(ts[tn - 1].name.data, all[i].topic) != 0) {
        ts[tn].name = broker__str(req, all[i].topic);
        ts[tn].offsets = &copy[i];
        ts[tn].count = 0;
        tn++;
      }
      ts[tn - 1].count++;
    }
    g_free(all);
    *out = ts;
    *out_n = tn;
    return err;
  }
  fetch_topic_out *ts = broker__alloc(req, sizeof *ts * (size_t)(nt ? nt : 1));
  int16_t err = KERR_NONE;
  for (int32_t i = 0; i < nt; i++) {
    int32_t np = parts[i].count < 0 ? 0 : parts[i].count;
    const char *topic = cstr(names[i], "");
    ts[i].name = names[i];
    ts[i].count = np;
    ts[i].offsets =
        broker__alloc(req, sizeof(group_offset) * (size_t)(np ? np : 1));
    for (int32_t j = 0; j < np; j++) {
      ts[i].offsets[j].topic = topic ? topic : "";
      ts[i].offsets[j].partition = parts[i].items[j];
    }
    err = group_offset_fetch(gc, group_id, ts[i].offsets, (size_t)np);
    for (int32_t j = 0; j < np; j++)
      ts[i].offsets[j].metadata =
          broker__str(req, ts[i].offsets[j].metadata).data;
  }
  *out = ts;
  *out_n = nt;
  return err;
}

static broker__handled offset_fetch_v8(broker__req *req) {
  const proto_offset_fetch_req *r = req->body;
  proto_offset_fetch_resp *resp = BROKER__NEW(req, proto_offset_fetch_resp);
  int32_t ng = r->groups.count < 0 ? 0 : r->groups.count;
  proto_offset_fetch_resp_group *gs =
      BROKER__NEW_ARRAY(req, proto_offset_fetch_resp_group, ng);
  for (int32_t g = 0; g < ng; g++) {
    const proto_offset_fetch_req_group *rg = &r->groups.items[g];
    const char *group_id = cstr(rg->group_id, "");
    int32_t nt = rg->topics.count;
    if (nt > BROKER_REQUEST_PARTITIONS_MAX)
      return BROKER__CLOSE;
    proto_str *names =
        broker__alloc(req, sizeof *names * (size_t)(nt > 0 ? nt : 1));
    proto_int32_array *parts =
        broker__alloc(req, sizeof *parts * (size_t)(nt > 0 ? nt : 1));
    for (int32_t i = 0; i < nt; i++) {
      names[i] = rg->topics.items[i].name;
      parts[i] = rg->topics.items[i].partition_indexes;
    }
    fetch_topic_out *ts = NULL;
    int32_t tn = 0;
    gs[g].group_id = rg->group_id;
    gs[g].error_code =
        group_id ? fetch_group(req, group_id, names, parts, nt, &ts, &tn)
                 : KERR_INVALID_GROUP_ID;
    proto_offset_fetch_resp_topics *ots =
        BROKER__NEW_ARRAY(req, proto_offset_fetch_resp_topics, tn);
    for (int32_t i = 0; i < tn; i++) {
      ots[i].name = ts[i].name;
      proto_offset_fetch_resp_partitions *ps = BROKER__NEW_ARRAY(
          req, proto_offset_fetch_resp_partitions, ts[i].count);
      for (int32_t j = 0; j < ts[i].count; j++) {
        const group_offset *o = &ts[i].offsets[j];
        ps[j] = (proto_offset_fetch_resp_partitions){
            o->partition, o->offset, o->leader_epoch,
            proto_str_from(o->metadata), o->error};
      }
      ots[i].partitions.items = ps;
      ots[i].partitions.count = ts[i].count;
    }
    gs[g].topics.items = ots;
    gs[g].topics.count = tn;
  }
  resp->groups.items = gs;
  resp->groups.count = ng;
  broker__respond(req, resp);
  return BROKER__DONE;
}

broker__handled broker__api_offset_fetch(broker__req *req) {
  const proto_offset_fetch_req *r = req->body;
  int16_t v = req->header.api_version;
  if (v >= 8)
    return offset_fetch_v8(req);
  proto_offset_fetch_resp *resp = BROKER__NEW(req, proto_offset_fetch_resp);
  const char *group_id = cstr(r->group_id, "");
  int32_t nt = r->topics.count;
  if (nt > BROKER_REQUEST_PARTITIONS_MAX)
    return BROKER__CLOSE;
  if (nt < 0 && v < 2)
    nt = 0;
  proto_str *names =
      broker__alloc(req, sizeof *names * (size_t)(nt > 0 ? nt : 1));
  proto_int32_array *parts =
      broker__alloc(req, sizeof *parts * (size_t)(nt > 0 ? nt : 1));
  for (int32_t i = 0; i < nt; i++) {
    names[i] = r->topics.items[i].name;
    parts[i] = r->topics.items[i].partition_indexes;
  }
  fetch_topic_out *ts = NULL;
  int32_t tn = 0;
  int16_t err = group_id
                    ? fetch_group(req, group_id, names, parts, nt, &ts, &tn)
                    : KERR_INVALID_GROUP_ID;
  resp->error_code = err;
  proto_offset_fetch_resp_topic *ots =
      BROKER__NEW_ARRAY(req, proto_offset_fetch_resp_topic, tn);
  for (int32_t i = 0; i < tn; i++) {
    ots[i].name = ts[i].name;
    proto_offset_fetch_resp_partition *ps =
        BROKER__NEW_ARRAY(req, proto_offset_fetch_resp_partition, ts[i].count);
    for (int32_t j = 0; j < ts[i].count; j++) {
      const group_offset *o = &ts[i].offsets[j];
      ps[j] = (proto_offset_fetch_resp_partition){
          o->partition, o->offset, o->leader_epoch, proto_str_from(o->metadata),
          o->error};
    }
    ots[i].partitions.items = ps;
    ots[i].partitions.count = ts[i].count;
  }
  resp->topics.items = ots;
  resp->topics.count = tn;
  broker__respond(req, resp);
  return BROKER__DONE;
}

/* -------------------------------------------------------- admin APIs */

broker__handled broker__api_list_groups(broker__req *req) {
  const proto_list_groups_req *r = req->body;
  proto_list_groups_resp *resp = BROKER__NEW(req, proto_list_groups_resp);
  group_listing *ls = NULL;
  size_t n = 0;
  resp->error_code = group_list(req->b->groups, &ls, &n);
  int32_t nf = req->header.api_version >= 4 && r->states_filter.count > 0
                   ? r->states_filter.count
                   : 0;
  proto_list_groups_resp_listed_group *out =
      BROKER__NEW_ARRAY(req, proto_list_groups_resp_listed_group, (int32_t)n);
  int32_t k = 0;
  for (size_t i = 0; i < n; i++) {
    const char *state = group_state_name(ls[i].state);
    bool keep = nf == 0;
    for (int32_t f = 0; f < nf && !keep; f++) {
      proto_str s = r->states_filter.items[f];
      keep = s.len >= 0 &&
             g_ascii_strncasecmp(s.data, state, (gsize)s.len) == 0 &&
             strlen(state) == (size_t)s.len;
    }
    if (!keep)
      continue;
    out[k].group_id = broker__str(req, ls[i].group_id);
    out[k].protocol_type = broker__str(req, ls[i].protocol_type);
    out[k].group_state = broker__str(req, state);
    k++;
  }
  g_free(ls);
  resp->groups.items = out;
  resp->groups.count = k;
  broker__respond(req, resp);
  return BROKER__DONE;
}

broker__handled broker__api_describe_groups(broker__req *req) {
  const proto_describe_groups_req *r = req->body;
  proto_describe_groups_resp *resp =
      BROKER__NEW(req, proto_describe_groups_resp);
  int32_t n = r->groups.count < 0 ? 0 : r->groups.count;
  if (n > GROUP_COUNT_MAX)
    return BROKER__CLOSE;
  proto_describe_groups_resp_described_group *gs =
      BROKER__NEW_ARRAY(req, proto_describe_groups_resp_described_group, n);
  for (int32_t i = 0; i < n; i++) {
    const char *group_id = cstr(r->groups.items[i], "");
    group_desc d;
    if (group_id) {
      group_describe(req->b->groups, group_id, &d);
    } else {
      memset(&d, 0, sizeof d);
      d.error = KERR_INVALID_GROUP_ID;
      d.state = GROUP_DEAD;
      d.protocol_type = d.protocol_name = "";
    }
    gs[i].error_code = d.error;
    gs[i].group_id = r->groups.items[i];
    gs[i].group_state = broker__str(req, group_state_name(d.state));
    gs[i].protocol_type = broker__str(req, d.protocol_type);
    gs[i].protocol_data = broker__str(req, d.protocol_name);
    gs[i].authorized_operations = INT32_MIN;
    proto_describe_groups_resp_described_group_member *ms = BROKER__NEW_ARRAY(
        req, proto_describe_groups_resp_described_group_member,
        (int32_t)d.member_count);
    for (size_t j = 0; j < d.member_count; j++) {
      const group_member_desc *m = &d.members[j];
      ms[j].member_id = broker__str(req, m->member_id);
      ms[j].group_instance_id = broker__str(req, m->group_instance_id);
      ms[j].client_id = broker__str(req, m->client_id);
      ms[j].client_host = broker__str(req, m->client_host);
      ms[j].member_metadata = copy_bytes(req, m->metadata, m->metadata_len);
      ms[j].member_assignment =
          copy_bytes(req, m->assignment, m->assignment_len);
    }
    gs[i].members.items = ms;
    gs[i].members.count = (int32_t)d.member_count;
    g_free(d.members);
  }
  resp->groups.items = gs;
  resp->groups.count = n;
  broker__respond(req, resp);
  return BROKER__DONE;
}

broker__handled broker__api_delete_groups(broker__req *req) {
  const proto_delete_groups_req *r = req->body;
  proto_delete_groups_resp *resp = BROKER__NEW(req, proto_delete_groups_resp);
  int32_t n = r->groups_names.count < 0 ? 0 : r->groups_names.count;
  if (n > GROUP_COUNT_MAX)
    return BROKER__CLOSE;
  proto_delete_groups_resp_deletable_group_result *rs = BROKER__NEW_ARRAY(
      req, proto_delete_groups_resp_deletable_group_result, n);
  for (int32_t i = 0; i < n; i++) {
    const char *group_id = cstr(r->groups_names.items[i], "");
    rs[i].group_id = r->groups_names.items[i];
    rs[i].error_code = group_id ? group_delete(req->b->groups, group_id)
                                : KERR_INVALID_GROUP_ID;
  }
  resp->results.items = rs;
  resp->results.count = n;
  broker__respond(req, resp);
  return BROKER__DONE;
}

broker__handled broker__api_offset_delete(broker__req *req) {
  const proto_offset_delete_req *r = req->body;
  proto_offset_delete_resp *resp = BROKER__NEW(req, proto_offset_delete_resp);
  int32_t nt = r->topics.count < 0 ? 0 : r->topics.count;
  size_t total = 0;
  for (int32_t i = 0; i < nt; i++)
    total += r->topics.items[i].partitions.count < 0
                 ? 0
                 : (size_t)r->topics.items[i].partitions.count;
  if (total > BROKER_REQUEST_PARTITIONS_MAX)
    return BROKER__CLOSE;
  group_offset_delete *ds =
      broker__alloc(req, sizeof *ds * (total ? total : 1));
  size_t k = 0;
  for (int32_t i = 0; i < nt; i++) {
    const proto_offset_delete_req_topic *t = &r->topics.items[i];
    const char *topic = cstr(t->name, "");
    int32_t np = t->partitions.count < 0 ? 0 : t->partitions.count;
    for (int32_t j = 0; j < np; j++, k++)
      ds[k] = (group_offset_delete){topic ? topic : "",
                                    t->partitions.items[j].partition_index, 0};
  }
  const char *group_id = cstr(r->group_id, "");
  resp->error_code =
      group_id ? group_offset_delete_many(req->b->groups, group_id, ds, total)
               : KERR_INVALID_GROUP_ID;
  proto_offset_delete_resp_topic *ts =
      BROKER__NEW_ARRAY(req, proto_offset_delete_resp_topic, nt);
  k = 0;
  for (int32_t i = 0; i < nt; i++) {
    const proto_offset_delete_req_topic *t = &r->topics.items[i];
    int32_t np = t->partitions.count < 0 ? 0 : t->partitions.count;
    ts[i].name = t->name;
    proto_offset_delete_resp_partition *ps =
        BROKER__NEW_ARRAY(req, proto_offset_delete_resp_partition, np);
    for (int32_t j = 0; j < np; j++, k++) {
      ps[j].partition_index = t->partitions.items[j].partition_index;
      ps[j].error_code = resp->error_code ? KERR_NONE : ds[k].error;
    }
    ts[i].partitions.items = ps;
    ts[i].partitions.count = np;
  }
  resp->topics.items = ts;
  resp->topics.count = nt;
  broker__respond(req, resp);
  return BROKER__DONE;
}
