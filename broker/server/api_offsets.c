/*
 * api_offsets.c — ListOffsets (2), OffsetForLeaderEpoch (23),
 * DeleteRecords (21).
 *
 * ListOffsets answers -2 (earliest) with the log start offset, -1 (latest)
 * with the high watermark (= the log end, and the last stable offset for
 * read_committed: no transactions), and any other timestamp with the first
 * offset whose record timestamp is at or after it (offset -1 when there is
 * none, as Kafka). v0's old-style answer is a one-element offset list.
 *
 * DeleteRecords moves the log start offset forward (never past the high
 * watermark; -1 means the high watermark) and answers once the
 * log-start-offset checkpoint holding the new start is durable, so deleted
 * records stay deleted after a crash.
 */
#include <inttypes.h>
#include <string.h>

#include <glib.h>

#include "base/assert.h"
#include "broker/server/broker_internal.h"

enum { TS_LATEST = -1, TS_EARLIEST = -2 };

static int16_t epoch_error(int32_t current, int32_t ours) {
  if (current < 0 || current == ours)
    return KERR_NONE;
  return current < ours ? KERR_FENCED_LEADER_EPOCH : KERR_UNKNOWN_LEADER_EPOCH;
}

/* ------------------------------------------------------------ ListOffsets */

static void list_one(broker__req *req, const char *topic,
                     const proto_list_offsets_req_list_offsets_partition *rp,
                     proto_list_offsets_resp_list_offsets_partition_response *o) {
  broker_t *b = req->b;
  o->partition_index = rp->partition_index;
  o->timestamp = -1;
  o->offset = -1;
  o->leader_epoch = -1;
  o->old_style_offsets.count = 0;
  int err = KERR_NONE;
  broker__partition *p =
      broker__partition_find(b, topic, rp->partition_index, &err);
  if (!p) {
    o->error_code = (int16_t)err;
    return;
  }
  int16_t eerr = epoch_error(rp->current_leader_epoch, p->leader_epoch);
  if (eerr != KERR_NONE) {
    o->error_code = eerr;
    return;
  }
  int64_t off = -1, ts = -1;
  if (rp->timestamp == TS_EARLIEST) {
    off = log_start_offset(p->log);
  } else if (rp->timestamp == TS_LATEST) {
    off = log_end_offset(p->log);
  } else {
    err = log_offset_for_timestamp(p->log, rp->timestamp, &off, &ts);
    if (err != KERR_NONE) {
      o->error_code = (int16_t)err;
      return;
    }
  }
  o->error_code = KERR_NONE;
  o->offset = off;
  o->timestamp = ts;
  o->leader_epoch = off >= 0 ? p->leader_epoch : -1;
  if (req->header.api_version == 0 && off >= 0 && rp->max_num_offsets > 0)
    o->old_style_offsets = (proto_int64_array){
        memcpy(broker__alloc(req, sizeof off), &off, sizeof off), 1};
}

broker__handled broker__api_list_offsets(broker__req *req) {
  const proto_list_offsets_req *r = req->body;
  proto_list_offsets_resp *resp = BROKER__NEW(req, proto_list_offsets_resp);
  int32_t nt = r->topics.count < 0 ? 0 : r->topics.count;
  proto_list_offsets_resp_list_offsets_topic_response *ts = BROKER__NEW_ARRAY(
      req, proto_list_offsets_resp_list_offsets_topic_response, nt);
  for (int32_t i = 0; i < nt; i++) {
    const proto_list_offsets_req_list_offsets_topic *rt = &r->topics.items[i];
    const char *topic = broker__str_clean(rt->name) ? rt->name.data : NULL;
    int32_t np = rt->partitions.count < 0 ? 0 : rt->partitions.count;
    proto_list_offsets_resp_list_offsets_partition_response *ps =
        BROKER__NEW_ARRAY(
            req, proto_list_offsets_resp_list_offsets_partition_response, np);
    for (int32_t j = 0; j < np; j++)
      list_one(req, topic, &rt->partitions.items[j], &ps[j]);
    ts[i].name = rt->name;
    ts[i].partitions.items = ps;
    ts[i].partitions.count = np;
  }
  resp->topics.items = ts;
  resp->topics.count = nt;
  broker__respond(req, resp);
  return BROKER__DONE;
}

/* --------------------------------------------------- OffsetForLeaderEpoch */

broker__handled broker__api_offset_for_leader_epoch(broker__req *req) {
  broker_t *b = req->b;
  const proto_offset_for_leader_epoch_req *r = req->body;
  proto_offset_for_leader_epoch_resp *resp =
      BROKER__NEW(req, proto_offset_for_leader_epoch_resp);
  int32_t nt = r->topics.count < 0 ? 0 : r->topics.count;
  proto_offset_for_leader_epoch_resp_offset_for_leader_topic_result *ts =
      BROKER__NEW_ARRAY(
          req, proto_offset_for_leader_epoch_resp_offset_for_leader_topic_result,
          nt);
  for (int32_t i = 0; i < nt; i++) {
    const proto_offset_for_leader_epoch_req_offset_for_leader_topic *rt =
        &r->topics.items[i];
    const char *topic = broker__str_clean(rt->topic) ? rt->topic.data : NULL;
    int32_t np = rt->partitions.count < 0 ? 0 : rt->partitions.count;
    proto_offset_for_leader_epoch_resp_epoch_end_offset *ps = BROKER__NEW_ARRAY(
        req, proto_offset_for_leader_epoch_resp_epoch_end_offset, np);
    for (int32_t j = 0; j < np; j++) {
      const proto_offset_for_leader_epoch_req_offset_for_leader_partition *rp =
          &rt->partitions.items[j];
      proto_offset_for_leader_epoch_resp_epoch_end_offset *o = &ps[j];
      o->partition = rp->partition;
      o->leader_epoch = -1;
      o->end_offset = -1;
      int err = KERR_NONE;
      broker__partition *p =
          broker__partition_find(b, topic, rp->partition, &err);
      if (p)
        err = epoch_error(rp->current_leader_epoch, p->leader_epoch);
      if (err != KERR_NONE) {
        o->error_code = (int16_t)err;
        continue;
      }
      if (rp->leader_epoch == p->leader_epoch) {
        /* The current epoch ends at the log end (Kafka). */
        o->leader_epoch = p->leader_epoch;
        o->end_offset = log_end_offset(p->log);
      } else {
        log_epoch_end_offset(p->log, rp->leader_epoch, &o->leader_epoch,
                             &o->end_offset);
      }
      o->error_code = KERR_NONE;
    }
    ts[i].topic = rt->topic;
    ts[i].partitions.items = ps;
    ts[i].partitions.count = np;
  }
  resp->topics.items = ts;
  resp->topics.count = nt;
  broker__respond(req, resp);
  return BROKER__DONE;
}

/* ---------------------------------------------------------- DeleteRecords */

static void on_start_checkpointed(void *arg, int status) {
  broker__req *req = arg;
  proto_delete_records_resp *resp = req->state;
  if (status < 0) {
    for (int32_t i = 0; i < resp->topics.count; i++)
      for (int32_t j = 0; j < resp->topics.items[i].partitions.count; j++) {
        proto_delete_records_resp_delete_records_partition_result *o =
            &resp->topics.items[i].partitions.items[j];
        if (o->error_code == KERR_NONE)
          o->error_code = KERR_KAFKA_STORAGE_ERROR;
      }
  }
  req->state = NULL;
  broker__respond(req, resp);
}

broker__handled broker__api_delete_records(broker__req *req) {
  broker_t *b = req->b;
  const proto_delete_records_req *r = req->body;
  proto_delete_records_resp *resp = BROKER__NEW(req, proto_delete_records_resp);
  int32_t nt = r->topics.count < 0 ? 0 : r->topics.count;
  proto_delete_records_resp_delete_records_topic_result *ts = BROKER__NEW_ARRAY(
      req, proto_delete_records_resp_delete_records_topic_result, nt);
  bool moved = false;
  for (int32_t i = 0; i < nt; i++) {
    const proto_delete_records_req_delete_records_topic *rt =
        &r->topics.items[i];
    const char *topic = broker__str_clean(rt->name) ? rt->name.data : NULL;
    int32_t np = rt->partitions.count < 0 ? 0 : rt->partitions.count;
    proto_delete_records_resp_delete_records_partition_result *ps =
        BROKER__NEW_ARRAY(
            req, proto_delete_records_resp_delete_records_partition_result, np);
    for (int32_t j = 0; j < np; j++) {
      const proto_delete_records_req_delete_records_partition *rp =
          &rt->partitions.items[j];
      proto_delete_records_resp_delete_records_partition_result *o = &ps[j];
      o->partition_index = rp->partition_index;
      o->low_watermark = -1;
      int err = KERR_NONE;
      broker__partition *p =
          broker__partition_find(b, topic, rp->partition_index, &err);
      if (p) {
        int64_t hw = log_end_offset(p->log);
        int64_t target = rp->offset == -1 ? hw : rp->offset;
        if (target < 0 || target > hw)
          err = KERR_OFFSET_OUT_OF_RANGE;
        else
          err = log_advance_start_offset(p->log, target);
        if (err == KERR_NONE) {
          o->low_watermark = log_start_offset(p->log);
          moved = true;
        }
      }
      o->error_code = (int16_t)err;
    }
    ts[i].name = rt->name;
    ts[i].partitions.items = ps;
    ts[i].partitions.count = np;
  }
  resp->topics.items = ts;
  resp->topics.count = nt;
  if (!moved) {
    broker__respond(req, resp);
    return BROKER__DONE;
  }
  req->state = resp;
  broker__checkpoints_write(b, on_start_checkpointed, req);
  return BROKER__PARKED;
}
