/*
 * api_meta.c — the cluster-description APIs: ApiVersions (18), Metadata (3),
 * FindCoordinator (10), DescribeCluster (60).
 *
 * This broker is a cluster of one: the brokers list is itself at its
 * advertised address, it is the controller, it leads every partition with
 * replicas = ISR = [node.id] (KAFKA-NOTES §11). Metadata may auto-create
 * topics (auto.create.topics.enable): like Kafka, the reply says
 * LEADER_NOT_AVAILABLE while the creation becomes durable and the client
 * asks again.
 */
#include <string.h>

#include <glib.h>

#include "base/assert.h"
#include "broker/server/broker_internal.h"

/* ------------------------------------------------------------ ApiVersions */

broker__handled broker__api_versions(broker__req *req) {
  const proto_api_versions_req *r = req->body;
  proto_api_versions_resp *resp = BROKER__NEW(req, proto_api_versions_resp);
  if (!proto_api_versions_request_valid(r, req->header.api_version)) {
    resp->error_code = KERR_INVALID_REQUEST;
    broker__respond(req, resp);
    return BROKER__DONE;
  }
  size_t n = 0;
  const broker__api *apis = broker__api_table(&n);
  proto_api_versions_resp_api_version *items = BROKER__NEW_ARRAY(
      req, proto_api_versions_resp_api_version, (int32_t)n);
  for (size_t i = 0; i < n; i++) {
    items[i].api_key = apis[i].api_key;
    items[i].min_version = apis[i].min_version;
    items[i].max_version = apis[i].max_version;
  }
  resp->api_keys.items = items;
  resp->api_keys.count = (int32_t)n;
  broker__respond(req, resp);
  return BROKER__DONE;
}

/* --------------------------------------------------------------- Metadata */

static void on_auto_created(void *arg, int status) {
  broker_t *b = arg;
  if (status < 0)
    env_log(b->env, ENV_LOG_WARN, "auto-creating a topic failed: %s",
            g_strerror(-status));
}

static void describe_partitions(broker__req *req, broker_t *b,
                                broker__topic *t,
                                proto_metadata_resp_topic *out) {
  int32_t n = t->partitions_live;
  proto_metadata_resp_partition *ps =
      BROKER__NEW_ARRAY(req, proto_metadata_resp_partition, n);
  for (int32_t i = 0; i < n; i++) {
    broker__partition *p = g_ptr_array_index(t->partitions, i);
    proto_metadata_resp_partition *o = &ps[i];
    o->partition_index = i;
    o->leader_epoch = p->leader_epoch;
    o->replica_nodes = broker__i32_one(req, b->cfg->node_id);
    if ((p->log && log_failed(p->log)) || (!p->log && !p->closing)) {
      /* The log failed (or could not be opened): the replica is offline,
       * there is no leader. (A log closing to reopen is still led.) */
      o->error_code = KERR_LEADER_NOT_AVAILABLE;
      o->leader_id = -1;
      o->isr_nodes = (proto_int32_array){NULL, 0};
      o->offline_replicas = broker__i32_one(req, b->cfg->node_id);
    } else {
      o->error_code = KERR_NONE;
      o->leader_id = b->cfg->node_id;
      o->isr_nodes = broker__i32_one(req, b->cfg->node_id);
      o->offline_replicas = (proto_int32_array){NULL, 0};
    }
  }
  out->partitions.items = ps;
  out->partitions.count = n;
}

static void describe_topic(broker__req *req, broker_t *b, broker__topic *t,
                           proto_metadata_resp_topic *out) {
  out->error_code = KERR_NONE;
  out->name = broker__str(req, t->name);
  out->topic_id = t->id;
  out->is_internal = strcmp(t->name, BROKER_OFFSETS_TOPIC) == 0;
  describe_partitions(req, b, t, out);
}

/* The answer for a topic the client named. */
static void lookup_topic(broker__req *req, broker_t *b,
                         const proto_metadata_req *r,
                         const proto_metadata_req_topic *rt,
                         proto_metadata_resp_topic *out) {
  int16_t v = req->header.api_version;
  out->partitions = (proto_metadata_resp_partition_array){NULL, 0};
  if (rt->name.len < 0) {
    /* v10+: by topic id. */
    broker__topic *t = broker__topic_find_id(b, &rt->topic_id);
    if (t) {
      describe_topic(req, b, t, out);
    } else {
      out->error_code = KERR_UNKNOWN_TOPIC_ID;
      out->name = PROTO_STR_NULL;
      out->topic_id = rt->topic_id;
    }
    return;
  }
  const char *name = rt->name.data;
  out->name = rt->name;
  if (!broker__str_clean(rt->name)) {
    out->error_code = KERR_INVALID_TOPIC_EXCEPTION;
    return;
  }
  broker__topic *any = broker__topic_find_any(b, name);
  if (any && any->state == BROKER__TOPIC_LIVE) {
    describe_topic(req, b, any, out);
    return;
  }
  if (any && any->state == BROKER__TOPIC_CREATING) {
    out->error_code = KERR_LEADER_NOT_AVAILABLE;
    return;
  }
  if (!broker__topic_name_valid(name, (size_t)rt->name.len)) {
    out->error_code = KERR_INVALID_TOPIC_EXCEPTION;
    return;
  }
  bool allow = b->cfg->auto_create_topics &&
               (v < 4 || r->allow_auto_topic_creation) && !any &&
               !b->shutting_down;
  if (!allow) {
    out->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
    return;
  }
  int rc = broker__topic_create(b, name, b->cfg->num_partitions, NULL, NULL, 0,
                                on_auto_created, b);
  if (rc == KERR_NONE) {
    env_log(b->env, ENV_LOG_INFO, "auto-creating topic %s (%d partitions)",
            name, b->cfg->num_partitions);
    out->error_code = KERR_LEADER_NOT_AVAILABLE;
  } else {
    out->error_code = (int16_t)rc;
  }
}

static void fill_brokers(broker__req *req, broker_t *b,
                         proto_metadata_resp *resp) {
  proto_metadata_resp_broker *br =
      BROKER__NEW_ARRAY(req, proto_metadata_resp_broker, 1);
  br->node_id = b->cfg->node_id;
  br->host = broker__str(req, b->advertised_host);
  br->port = b->advertised_port;
  br->rack = PROTO_STR_NULL;
  resp->brokers.items = br;
  resp->brokers.count = 1;
}

broker__handled broker__api_metadata(broker__req *req) {
  broker_t *b = req->b;
  const proto_metadata_req *r = req->body;
  int16_t v = req->header.api_version;
  proto_metadata_resp *resp = BROKER__NEW(req, proto_metadata_resp);
  fill_brokers(req, b, resp);
  resp->cluster_id = broker__str(req, b->cluster_id);
  resp->controller_id = b->cfg->node_id;
  bool all = r->topics.count < 0 || (v == 0 && r->topics.count == 0);
  if (all) {
    GPtrArray *ts = broker__topics_sorted(b);
    proto_metadata_resp_topic *out =
        BROKER__NEW_ARRAY(req, proto_metadata_resp_topic, (int32_t)ts->len);
    for (guint i = 0; i < ts->len; i++)
      describe_topic(req, b, g_ptr_array_index(ts, i), &out[i]);
    resp->topics.items = out;
    resp->topics.count = (int32_t)ts->len;
    g_ptr_array_unref(ts);
    broker__respond(req, resp);
    return BROKER__DONE;
  }
  int32_t n = r->topics.count;
  proto_metadata_resp_topic *out =
      BROKER__NEW_ARRAY(req, proto_metadata_resp_topic, n);
  int32_t kept = 0;
  GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
  for (int32_t i = 0; i < n; i++) {
    const proto_metadata_req_topic *rt = &r->topics.items[i];
    if (broker__str_clean(rt->name)) {
      /* Kafka answers each named topic once. */
      if (g_hash_table_contains(seen, rt->name.data))
        continue;
      g_hash_table_add(seen, (gpointer)rt->name.data);
    }
    lookup_topic(req, b, r, rt, &out[kept++]);
  }
  g_hash_table_destroy(seen);
  resp->topics.items = out;
  resp->topics.count = kept;
  broker__respond(req, resp);
  return BROKER__DONE;
}

/* -------------------------------------------------------- FindCoordinator */

enum { KEY_TYPE_GROUP = 0, KEY_TYPE_TXN = 1 };

/* The group coordinator is this broker; transactions are not served. */
static int16_t coordinator_error(broker_t *b, int8_t key_type,
                                 const char **msg) {
  if (key_type == KEY_TYPE_GROUP) {
    *msg = NULL;
    if (!broker__groups_ready(b)) {
      *msg = "the offsets topic is being created";
      return KERR_COORDINATOR_NOT_AVAILABLE;
    }
    return KERR_NONE;
  }
  if (key_type == KEY_TYPE_TXN) {
    *msg = "transactions are not supported by this broker";
    return KERR_COORDINATOR_NOT_AVAILABLE;
  }
  *msg = "unknown key type";
  return KERR_INVALID_REQUEST;
}

broker__handled broker__api_find_coordinator(broker__req *req) {
  broker_t *b = req->b;
  const proto_find_coordinator_req *r = req->body;
  proto_find_coordinator_resp *resp =
      BROKER__NEW(req, proto_find_coordinator_resp);
  const char *msg = NULL;
  int16_t err = coordinator_error(b, r->key_type, &msg);
  if (req->header.api_version < 4) {
    resp->error_code = err;
    resp->error_message = broker__str(req, msg);
    resp->node_id = err ? -1 : b->cfg->node_id;
    resp->host = broker__str(req, err ? "" : b->advertised_host);
    resp->port = err ? -1 : b->advertised_port;
    broker__respond(req, resp);
    return BROKER__DONE;
  }
  int32_t n = r->coordinator_keys.count < 0 ? 0 : r->coordinator_keys.count;
  proto_find_coordinator_resp_coordinator *cs =
      BROKER__NEW_ARRAY(req, proto_find_coordinator_resp_coordinator, n);
  for (int32_t i = 0; i < n; i++) {
    cs[i].key = r->coordinator_keys.items[i];
    cs[i].error_code = err;
    cs[i].error_message = broker__str(req, msg);
    cs[i].node_id = err ? -1 : b->cfg->node_id;
    cs[i].host = broker__str(req, err ? "" : b->advertised_host);
    cs[i].port = err ? -1 : b->advertised_port;
  }
  resp->coordinators.items = cs;
  resp->coordinators.count = n;
  broker__respond(req, resp);
  return BROKER__DONE;
}

/* -------------------------------------------------------- DescribeCluster */

enum { ENDPOINT_BROKERS = 1 };

broker__handled broker__api_describe_cluster(broker__req *req) {
  broker_t *b = req->b;
  const proto_describe_cluster_req *r = req->body;
  proto_describe_cluster_resp *resp =
      BROKER__NEW(req, proto_describe_cluster_resp);
  resp->endpoint_type = r->endpoint_type;
  resp->cluster_id = broker__str(req, b->cluster_id);
  resp->controller_id = b->cfg->node_id;
  if (req->header.api_version >= 1 && r->endpoint_type != ENDPOINT_BROKERS) {
    resp->error_code = KERR_MISMATCHED_ENDPOINT_TYPE;
    resp->error_message = broker__str(
        req, "The request was sent to an endpoint of type BROKER");
    resp->brokers.count = 0;
    broker__respond(req, resp);
    return BROKER__DONE;
  }
  proto_describe_cluster_resp_describe_cluster_broker *br = BROKER__NEW_ARRAY(
      req, proto_describe_cluster_resp_describe_cluster_broker, 1);
  br->broker_id = b->cfg->node_id;
  br->host = broker__str(req, b->advertised_host);
  br->port = b->advertised_port;
  br->rack = PROTO_STR_NULL;
  resp->brokers.items = br;
  resp->brokers.count = 1;
  broker__respond(req, resp);
  return BROKER__DONE;
}
