/*
 * admin.c — metadata and admin operations for callers (Kafka's
 * AdminClient: createTopics, deleteTopics, createPartitions,
 * describeConfigs, incrementalAlterConfigs).
 *
 * Each call is one kclient__op: topic admin goes to the controller named by
 * the last metadata (any broker until one is known; NOT_CONTROLLER
 * refreshes metadata and retries), a broker's configs go to that broker.
 * Per-topic errors are results, not failures: the callback gets err 0 and
 * one result per topic, in the order asked. These are the calls a tool
 * makes first, so they fail fast when no broker can be reached
 * (connect_failures_max), with the connect error in errmsg.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "broker/client/client_internal.h"
#include "broker/kerr.h"

/* Strings an op copies from its caller, freed with it. */
typedef struct kclient__strs {
  GPtrArray *owned;
} kclient__strs;

static const char *kclient__keep(kclient__strs *s, const char *str) {
  if (!str)
    return NULL;
  if (!s->owned)
    s->owned = g_ptr_array_new_with_free_func(g_free);
  char *copy = g_strdup(str);
  g_ptr_array_add(s->owned, copy);
  return copy;
}

static void kclient__strs_free(kclient__strs *s) {
  if (s->owned)
    g_ptr_array_free(s->owned, TRUE);
  s->owned = NULL;
}

static int32_t kclient__controller_route(kclient__op *op) {
  kclient_t *c = op->c;
  if (c->controller_id >= 0 && kclient__broker_find(c, c->controller_id))
    return c->controller_id;
  return KCLIENT__ROUTE_ANY;
}

static int32_t kclient__any_route(kclient__op *op) {
  return KCLIENT__ROUTE_ANY;
}

static kclient__op *kclient__admin_start(kclient_t *c, const kclient__op_vt *vt,
                                         void *ctx, void *cb, void *arg) {
  kclient__op *op = kclient__op_new(c, vt, ctx, cb, arg);
  op->fail_fast = true;
  kclient__op_start(op);
  return op;
}

/* ------------------------------------------------------------- metadata */

typedef struct kclient__md {
  kclient__strs strs;
  const char **names; /* NULL = all topics */
  int32_t count;
  /* the result, valid from handle to finish (strings point into the
   * response, which lives until finish returns) */
  kclient_metadata_info result;
  kclient_broker_info *brokers;
  kclient_topic_info *topics;
  kclient_partition_info *parts;
} kclient__md;

static void *kclient__md_build(void *ctx, int16_t version, proto_arena *a) {
  kclient__op *op = ctx;
  kclient__md *md = op->ctx;
  return kclient__metadata_req_build(op->c, version, a, md->names,
                                     md->names ? md->count : -1, false);
}

static int kclient__broker_info_cmp(const void *a, const void *b) {
  const kclient_broker_info *x = a, *y = b;
  return x->node_id < y->node_id ? -1 : x->node_id > y->node_id;
}

static int kclient__topic_info_cmp(const void *a, const void *b) {
  const kclient_topic_info *x = a, *y = b;
  return strcmp(x->name, y->name);
}

static int kclient__partition_info_cmp(const void *a, const void *b) {
  const kclient_partition_info *x = a, *y = b;
  return x->partition < y->partition ? -1 : x->partition > y->partition;
}

static kclient__op_action kclient__md_handle(kclient__op *op, int16_t version,
                                             void *body) {
  kclient__md *md = op->ctx;
  const proto_metadata_resp *resp = body;
  kclient__metadata_apply(op->c, resp, version);
  int32_t nb = resp->brokers.count > 0 ? resp->brokers.count : 0;
  int32_t nt = 0, np = 0;
  for (int32_t i = 0; i < resp->topics.count; i++) {
    if (resp->topics.items[i].name.len < 0)
      continue; /* v12 may leave a name out (topic ids): not ours */
    nt++;
    if (resp->topics.items[i].partitions.count > 0)
      np += resp->topics.items[i].partitions.count;
  }
  md->brokers = g_new0(kclient_broker_info, nb ? nb : 1);
  md->topics = g_new0(kclient_topic_info, nt ? nt : 1);
  md->parts = g_new0(kclient_partition_info, np ? np : 1);
  for (int32_t i = 0; i < nb; i++) {
    const proto_metadata_resp_broker *b = &resp->brokers.items[i];
    md->brokers[i] =
        (kclient_broker_info){b->node_id, b->host.data, b->port,
                              b->rack.len >= 0 ? b->rack.data : NULL};
  }
  qsort(md->brokers, (size_t)nb, sizeof *md->brokers, kclient__broker_info_cmp);
  int32_t ti = 0, pi = 0;
  for (int32_t i = 0; i < resp->topics.count; i++) {
    const proto_metadata_resp_topic *t = &resp->topics.items[i];
    if (t->name.len < 0)
      continue;
    kclient_topic_info *ki = &md->topics[ti++];
    ki->name = t->name.data;
    ki->err = t->error_code;
    ki->is_internal = t->is_internal;
    ki->partitions = &md->parts[pi];
    int32_t n = t->partitions.count > 0 ? t->partitions.count : 0;
    ki->partition_count = n;
    for (int32_t k = 0; k < n; k++) {
      const proto_metadata_resp_partition *p = &t->partitions.items[k];
      md->parts[pi + k] = (kclient_partition_info){
          .partition = p->partition_index,
          .err = p->error_code,
          .leader = p->leader_id,
          .leader_epoch = p->leader_epoch,
          .replicas = p->replica_nodes.items,
          .replica_count =
              p->replica_nodes.count > 0 ? p->replica_nodes.count : 0,
          .isr = p->isr_nodes.items,
          .isr_count = p->isr_nodes.count > 0 ? p->isr_nodes.count : 0,
      };
    }
    qsort(&md->parts[pi], (size_t)n, sizeof *md->parts,
          kclient__partition_info_cmp);
    pi += n;
  }
  qsort(md->topics, (size_t)nt, sizeof *md->topics, kclient__topic_info_cmp);
  md->result = (kclient_metadata_info){
      .cluster_id = resp->cluster_id.len >= 0 ? resp->cluster_id.data : NULL,
      .controller_id = version >= 1 ? resp->controller_id : -1,
      .brokers = md->brokers,
      .broker_count = nb,
      .topics = md->topics,
      .topic_count = nt,
  };
  return KCLIENT__OP_DONE;
}

static void kclient__md_finish(kclient__op *op) {
  kclient__md *md = op->ctx;
  kclient_metadata_cb cb = (kclient_metadata_cb)op->user_cb;
  cb(op->user_arg, op->err, op->err ? op->errmsg : "",
     op->err ? NULL : &md->result);
}

static void kclient__md_free(kclient__op *op) {
  kclient__md *md = op->ctx;
  kclient__strs_free(&md->strs);
  g_free(md->names);
  g_free(md->brokers);
  g_free(md->topics);
  g_free(md->parts);
  g_free(md);
}

static const kclient__op_vt kclient__md_vt = {
    .name = "Metadata",
    .api_key = PROTO_API_METADATA,
    .route = kclient__any_route,
    .build = kclient__md_build,
    .handle = kclient__md_handle,
    .finish = kclient__md_finish,
    .free_ctx = kclient__md_free,
};

void kclient_metadata(kclient_t *c, const char *const *topics,
                      size_t topic_count, kclient_metadata_cb cb, void *arg) {
  SL_ASSERT(c && cb && topic_count <= INT32_MAX);
  kclient__md *md = g_new0(kclient__md, 1);
  if (topics) {
    md->count = (int32_t)topic_count;
    md->names = g_new0(const char *, topic_count ? topic_count : 1);
    for (size_t i = 0; i < topic_count; i++) {
      md->names[i] = kclient__keep(&md->strs, topics[i]);
      kclient__topic_get(c, topics[i]); /* cache what was asked for */
    }
  }
  kclient__admin_start(c, &kclient__md_vt, md, (void *)cb, arg);
}

/* ---------------------------------------------------- topic admin (common) */

typedef struct kclient__ta {
  kclient__strs strs;
  kclient_new_topic *topics; /* create: deep copies */
  size_t count;
  int32_t total_partitions; /* create partitions */
  bool validate_only;
  kclient_topic_result *results;
} kclient__ta;

static kclient__ta *kclient__ta_new(size_t count) {
  kclient__ta *ta = g_new0(kclient__ta, 1);
  ta->count = count;
  ta->topics = g_new0(kclient_new_topic, count ? count : 1);
  ta->results = g_new0(kclient_topic_result, count ? count : 1);
  return ta;
}

static void kclient__ta_free(kclient__op *op) {
  kclient__ta *ta = op->ctx;
  for (size_t i = 0; i < ta->count; i++)
    g_free((void *)ta->topics[i].configs);
  g_free(ta->topics);
  g_free(ta->results);
  kclient__strs_free(&ta->strs);
  g_free(ta);
}

static void kclient__ta_finish(kclient__op *op) {
  kclient__ta *ta = op->ctx;
  kclient_topics_cb cb = (kclient_topics_cb)op->user_cb;
  if (op->err)
    cb(op->user_arg, op->err, op->errmsg, NULL, 0);
  else
    cb(op->user_arg, 0, "", ta->results, ta->count);
}

/* Records one topic's outcome; returns true for NOT_CONTROLLER (retry the
 * whole request at the controller). */
static bool kclient__ta_result(kclient__op *op, proto_str name, int16_t code,
                               proto_str message) {
  kclient__ta *ta = op->ctx;
  if (code == KERR_NOT_CONTROLLER)
    return true;
  for (size_t i = 0; i < ta->count; i++) {
    if (!proto_str_eq(name, ta->topics[i].name))
      continue;
    ta->results[i].err = code;
    if (code == 0)
      ta->results[i].errmsg = "";
    else if (message.len > 0)
      ta->results[i].errmsg = kclient__keep(&ta->strs, message.data);
    else
      ta->results[i].errmsg = kclient_err_name(code);
  }
  return false;
}

static void kclient__ta_init_results(kclient__ta *ta) {
  for (size_t i = 0; i < ta->count; i++)
    ta->results[i] = (kclient_topic_result){ta->topics[i].name, -EPROTO,
                                            "the broker did not answer for it"};
}

/* ---------------------------------------------------------- create topics */

static void *kclient__ct_build(void *ctx, int16_t version, proto_arena *a) {
  kclient__op *op = ctx;
  kclient__ta *ta = op->ctx;
  proto_create_topics_req *req = PROTO_NEW(a, proto_create_topics_req);
  if (!req)
    return NULL;
  req->timeout_ms = (int32_t)op->c->cfg.request_timeout_ms;
  req->validate_only = ta->validate_only;
  req->topics.count = (int32_t)ta->count;
  req->topics.items = PROTO_NEW_ARRAY(
      a, proto_create_topics_req_creatable_topic, (int32_t)ta->count);
  if (!req->topics.items)
    return NULL;
  for (size_t i = 0; i < ta->count; i++) {
    const kclient_new_topic *nt = &ta->topics[i];
    proto_create_topics_req_creatable_topic *t = &req->topics.items[i];
    t->name = proto_str_from(nt->name);
    t->num_partitions = nt->partitions;
    t->replication_factor = nt->replication_factor;
    t->assignments.items = NULL;
    t->assignments.count = 0;
    t->configs.count = (int32_t)nt->config_count;
    t->configs.items =
        PROTO_NEW_ARRAY(a, proto_create_topics_req_createable_topic_config,
                        (int32_t)nt->config_count);
    if (!t->configs.items)
      return NULL;
    for (size_t k = 0; k < nt->config_count; k++) {
      t->configs.items[k].name = proto_str_from(nt->configs[k].name);
      t->configs.items[k].value = proto_str_from(nt->configs[k].value);
    }
  }
  return req;
}

static kclient__op_action kclient__ct_handle(kclient__op *op, int16_t version,
                                             void *body) {
  const proto_create_topics_resp *resp = body;
  kclient__ta_init_results(op->ctx);
  for (int32_t i = 0; i < resp->topics.count; i++) {
    const proto_create_topics_resp_creatable_topic_result *r =
        &resp->topics.items[i];
    if (kclient__ta_result(op, r->name, r->error_code, r->error_message)) {
      op->err = KERR_NOT_CONTROLLER;
      kclient__errmsg(op->errmsg, op->err, "NOT_CONTROLLER");
      return KCLIENT__OP_REFRESH;
    }
  }
  return KCLIENT__OP_DONE;
}

static const kclient__op_vt kclient__ct_vt = {
    .name = "CreateTopics",
    .api_key = PROTO_API_CREATE_TOPICS,
    .route = kclient__controller_route,
    .build = kclient__ct_build,
    .handle = kclient__ct_handle,
    .finish = kclient__ta_finish,
    .free_ctx = kclient__ta_free,
};

void kclient_create_topics(kclient_t *c, const kclient_new_topic *topics,
                           size_t count, bool validate_only,
                           kclient_topics_cb cb, void *arg) {
  SL_ASSERT(c && cb && (topics || count == 0) && count <= INT32_MAX);
  kclient__ta *ta = kclient__ta_new(count);
  ta->validate_only = validate_only;
  for (size_t i = 0; i < count; i++) {
    const kclient_new_topic *in = &topics[i];
    kclient_new_topic *t = &ta->topics[i];
    t->name = kclient__keep(&ta->strs, in->name);
    t->partitions = in->partitions;
    t->replication_factor = in->replication_factor;
    t->config_count = in->config_count;
    kclient_config_entry *cfgs =
        g_new0(kclient_config_entry, in->config_count ? in->config_count : 1);
    for (size_t k = 0; k < in->config_count; k++) {
      cfgs[k].name = kclient__keep(&ta->strs, in->configs[k].name);
      cfgs[k].value = kclient__keep(&ta->strs, in->configs[k].value);
    }
    t->configs = cfgs;
  }
  kclient__admin_start(c, &kclient__ct_vt, ta, (void *)cb, arg);
}

/* ---------------------------------------------------------- delete topics */

static void *kclient__dt_build(void *ctx, int16_t version, proto_arena *a) {
  kclient__op *op = ctx;
  kclient__ta *ta = op->ctx;
  proto_delete_topics_req *req = PROTO_NEW(a, proto_delete_topics_req);
  if (!req)
    return NULL;
  int32_t n = (int32_t)ta->count;
  req->timeout_ms = (int32_t)op->c->cfg.request_timeout_ms;
  /* v0-5 name topics in topic_names, v6+ in topics (name or id). */
  req->topic_names.items = proto_arena_alloc(a, sizeof(proto_str) * (size_t)n);
  req->topics.items =
      PROTO_NEW_ARRAY(a, proto_delete_topics_req_delete_topic_state, n);
  if (n > 0 && (!req->topic_names.items || !req->topics.items))
    return NULL;
  req->topic_names.count = n;
  req->topics.count = n;
  for (int32_t i = 0; i < n; i++) {
    req->topic_names.items[i] = proto_str_from(ta->topics[i].name);
    req->topics.items[i].name = proto_str_from(ta->topics[i].name);
  }
  return req;
}

static kclient__op_action kclient__dt_handle(kclient__op *op, int16_t version,
                                             void *body) {
  const proto_delete_topics_resp *resp = body;
  kclient__ta_init_results(op->ctx);
  for (int32_t i = 0; i < resp->responses.count; i++) {
    const proto_delete_topics_resp_deletable_topic_result *r =
        &resp->responses.items[i];
    if (kclient__ta_result(op, r->name, r->error_code, r->error_message)) {
      op->err = KERR_NOT_CONTROLLER;
      kclient__errmsg(op->errmsg, op->err, "NOT_CONTROLLER");
      return KCLIENT__OP_REFRESH;
    }
  }
  return KCLIENT__OP_DONE;
}

static const kclient__op_vt kclient__dt_vt = {
    .name = "DeleteTopics",
    .api_key = PROTO_API_DELETE_TOPICS,
    .route = kclient__controller_route,
    .build = kclient__dt_build,
    .handle = kclient__dt_handle,
    .finish = kclient__ta_finish,
    .free_ctx = kclient__ta_free,
};

void kclient_delete_topics(kclient_t *c, const char *const *names, size_t count,
                           kclient_topics_cb cb, void *arg) {
  SL_ASSERT(c && cb && (names || count == 0) && count <= INT32_MAX);
  kclient__ta *ta = kclient__ta_new(count);
  for (size_t i = 0; i < count; i++)
    ta->topics[i].name = kclient__keep(&ta->strs, names[i]);
  kclient__admin_start(c, &kclient__dt_vt, ta, (void *)cb, arg);
}

/* ------------------------------------------------------- create partitions */

static void *kclient__cp_build(void *ctx, int16_t version, proto_arena *a) {
  kclient__op *op = ctx;
  kclient__ta *ta = op->ctx;
  proto_create_partitions_req *req = PROTO_NEW(a, proto_create_partitions_req);
  if (!req)
    return NULL;
  req->timeout_ms = (int32_t)op->c->cfg.request_timeout_ms;
  req->validate_only = false;
  req->topics.items = PROTO_NEW_ARRAY(
      a, proto_create_partitions_req_create_partitions_topic, 1);
  if (!req->topics.items)
    return NULL;
  req->topics.count = 1;
  req->topics.items[0].name = proto_str_from(ta->topics[0].name);
  req->topics.items[0].count = ta->total_partitions;
  req->topics.items[0].assignments.items = NULL;
  req->topics.items[0].assignments.count = -1;
  return req;
}

static kclient__op_action kclient__cp_handle(kclient__op *op, int16_t version,
                                             void *body) {
  const proto_create_partitions_resp *resp = body;
  kclient__ta_init_results(op->ctx);
  for (int32_t i = 0; i < resp->results.count; i++) {
    const proto_create_partitions_resp_create_partitions_topic_result *r =
        &resp->results.items[i];
    if (kclient__ta_result(op, r->name, r->error_code, r->error_message)) {
      op->err = KERR_NOT_CONTROLLER;
      kclient__errmsg(op->errmsg, op->err, "NOT_CONTROLLER");
      return KCLIENT__OP_REFRESH;
    }
  }
  return KCLIENT__OP_DONE;
}

static const kclient__op_vt kclient__cp_vt = {
    .name = "CreatePartitions",
    .api_key = PROTO_API_CREATE_PARTITIONS,
    .route = kclient__controller_route,
    .build = kclient__cp_build,
    .handle = kclient__cp_handle,
    .finish = kclient__ta_finish,
    .free_ctx = kclient__ta_free,
};

void kclient_create_partitions(kclient_t *c, const char *topic,
                               int32_t total_partitions, kclient_topics_cb cb,
                               void *arg) {
  SL_ASSERT(c && topic && cb);
  kclient__ta *ta = kclient__ta_new(1);
  ta->topics[0].name = kclient__keep(&ta->strs, topic);
  ta->total_partitions = total_partitions;
  kclient__admin_start(c, &kclient__cp_vt, ta, (void *)cb, arg);
}

/* ---------------------------------------------------------------- configs */

typedef struct kclient__cfg {
  kclient__strs strs;
  int8_t resource_type;
  const char *name;
  kclient_config_alter *alters;
  size_t alter_count;
  bool validate_only;
  /* describe result (strings point into the response until finish) */
  kclient_config_value *entries;
  size_t entry_count;
} kclient__cfg;

static int32_t kclient__cfg_route(kclient__op *op) {
  kclient__cfg *cf = op->ctx;
  if (cf->resource_type != KCLIENT_RESOURCE_BROKER || !cf->name[0])
    return KCLIENT__ROUTE_ANY;
  char *end;
  long id = strtol(cf->name, &end, 10);
  if (*end || id < 0 || id > INT32_MAX) {
    op->err = -EINVAL;
    kclient__errmsg(op->errmsg, op->err, "broker '%s' is not a node id",
                    cf->name);
    return KCLIENT__ROUTE_FAIL;
  }
  return kclient__broker_find(op->c, (int32_t)id) ? (int32_t)id
                                                  : KCLIENT__ROUTE_WAIT;
}

static void kclient__cfg_free(kclient__op *op) {
  kclient__cfg *cf = op->ctx;
  kclient__strs_free(&cf->strs);
  g_free(cf->alters);
  g_free(cf->entries);
  g_free(cf);
}

static void *kclient__dc_build(void *ctx, int16_t version, proto_arena *a) {
  kclient__op *op = ctx;
  kclient__cfg *cf = op->ctx;
  proto_describe_configs_req *req = PROTO_NEW(a, proto_describe_configs_req);
  if (!req)
    return NULL;
  req->resources.items = PROTO_NEW_ARRAY(
      a, proto_describe_configs_req_describe_configs_resource, 1);
  if (!req->resources.items)
    return NULL;
  req->resources.count = 1;
  req->resources.items[0].resource_type = cf->resource_type;
  req->resources.items[0].resource_name = proto_str_from(cf->name);
  req->resources.items[0].configuration_keys.items = NULL;
  req->resources.items[0].configuration_keys.count = -1; /* all */
  req->include_synonyms = false;
  req->include_documentation = false;
  return req;
}

static int kclient__config_value_cmp(const void *a, const void *b) {
  return strcmp(((const kclient_config_value *)a)->name,
                ((const kclient_config_value *)b)->name);
}

/* Kafka's ConfigSource.DEFAULT_CONFIG. */
#define KCLIENT__CONFIG_SOURCE_DEFAULT 5

static kclient__op_action kclient__dc_handle(kclient__op *op, int16_t version,
                                             void *body) {
  kclient__cfg *cf = op->ctx;
  const proto_describe_configs_resp *resp = body;
  for (int32_t i = 0; i < resp->results.count; i++) {
    const proto_describe_configs_resp_describe_configs_result *r =
        &resp->results.items[i];
    if (r->resource_type != cf->resource_type ||
        !proto_str_eq(r->resource_name, cf->name))
      continue;
    if (r->error_code) {
      op->err = r->error_code;
      if (r->error_message.len > 0)
        kclient__errmsg(op->errmsg, op->err, "%s: %s",
                        kclient_err_name(op->err), r->error_message.data);
      else
        kclient__errmsg(op->errmsg, op->err, "%s", kclient_err_name(op->err));
      return kclient__err_needs_refresh(op->err) ? KCLIENT__OP_REFRESH
                                                 : KCLIENT__OP_DONE;
    }
    int32_t n = r->configs.count > 0 ? r->configs.count : 0;
    cf->entries = g_new0(kclient_config_value, n ? n : 1);
    cf->entry_count = (size_t)n;
    for (int32_t k = 0; k < n; k++) {
      const proto_describe_configs_resp_describe_configs_resource_result *e =
          &r->configs.items[k];
      kclient_config_value *v = &cf->entries[k];
      v->name = e->name.len >= 0 ? e->name.data : "";
      v->value = e->value.len >= 0 ? e->value.data : NULL;
      v->read_only = e->read_only;
      v->is_sensitive = e->is_sensitive;
      v->source = version >= 1 ? e->config_source : -1;
      v->is_default = version >= 1
                          ? e->config_source == KCLIENT__CONFIG_SOURCE_DEFAULT
                          : e->is_default;
    }
    qsort(cf->entries, cf->entry_count, sizeof *cf->entries,
          kclient__config_value_cmp);
    return KCLIENT__OP_DONE;
  }
  op->err = -EPROTO;
  kclient__errmsg(op->errmsg, op->err,
                  "the DescribeConfigs response left out %s", cf->name);
  return KCLIENT__OP_DONE;
}

static void kclient__dc_finish(kclient__op *op) {
  kclient__cfg *cf = op->ctx;
  kclient_configs_cb cb = (kclient_configs_cb)op->user_cb;
  if (op->err)
    cb(op->user_arg, op->err, op->errmsg, NULL, 0);
  else
    cb(op->user_arg, 0, "", cf->entries, cf->entry_count);
}

static const kclient__op_vt kclient__dc_vt = {
    .name = "DescribeConfigs",
    .api_key = PROTO_API_DESCRIBE_CONFIGS,
    .route = kclient__cfg_route,
    .build = kclient__dc_build,
    .handle = kclient__dc_handle,
    .finish = kclient__dc_finish,
    .free_ctx = kclient__cfg_free,
};

void kclient_describe_configs(kclient_t *c, int8_t resource_type,
                              const char *name, kclient_configs_cb cb,
                              void *arg) {
  SL_ASSERT(c && name && cb);
  kclient__cfg *cf = g_new0(kclient__cfg, 1);
  cf->resource_type = resource_type;
  cf->name = kclient__keep(&cf->strs, name);
  kclient__admin_start(c, &kclient__dc_vt, cf, (void *)cb, arg);
}

static void *kclient__ac_build(void *ctx, int16_t version, proto_arena *a) {
  kclient__op *op = ctx;
  kclient__cfg *cf = op->ctx;
  proto_incremental_alter_configs_req *req =
      PROTO_NEW(a, proto_incremental_alter_configs_req);
  if (!req)
    return NULL;
  req->validate_only = cf->validate_only;
  req->resources.items = PROTO_NEW_ARRAY(
      a, proto_incremental_alter_configs_req_alter_configs_resource, 1);
  if (!req->resources.items)
    return NULL;
  req->resources.count = 1;
  proto_incremental_alter_configs_req_alter_configs_resource *r =
      &req->resources.items[0];
  r->resource_type = cf->resource_type;
  r->resource_name = proto_str_from(cf->name);
  r->configs.count = (int32_t)cf->alter_count;
  r->configs.items =
      PROTO_NEW_ARRAY(a, proto_incremental_alter_configs_req_alterable_config,
                      (int32_t)cf->alter_count);
  if (!r->configs.items)
    return NULL;
  for (size_t i = 0; i < cf->alter_count; i++) {
    r->configs.items[i].name = proto_str_from(cf->alters[i].name);
    r->configs.items[i].config_operation = (int8_t)cf->alters[i].op;
    r->configs.items[i].value = proto_str_from(cf->alters[i].value);
  }
  return req;
}

static kclient__op_action kclient__ac_handle(kclient__op *op, int16_t version,
                                             void *body) {
  kclient__cfg *cf = op->ctx;
  const proto_incremental_alter_configs_resp *resp = body;
  for (int32_t i = 0; i < resp->responses.count; i++) {
    const proto_incremental_alter_configs_resp_alter_configs_resource_response
        *r = &resp->responses.items[i];
    if (r->resource_type != cf->resource_type ||
        !proto_str_eq(r->resource_name, cf->name))
      continue;
    if (r->error_code) {
      op->err = r->error_code;
      if (r->error_message.len > 0)
        kclient__errmsg(op->errmsg, op->err, "%s: %s",
                        kclient_err_name(op->err), r->error_message.data);
      else
        kclient__errmsg(op->errmsg, op->err, "%s", kclient_err_name(op->err));
      return kclient__err_needs_refresh(op->err) ? KCLIENT__OP_REFRESH
                                                 : KCLIENT__OP_DONE;
    }
    return KCLIENT__OP_DONE;
  }
  op->err = -EPROTO;
  kclient__errmsg(op->errmsg, op->err,
                  "the IncrementalAlterConfigs response left out %s", cf->name);
  return KCLIENT__OP_DONE;
}

static void kclient__ac_finish(kclient__op *op) {
  kclient_done_cb cb = (kclient_done_cb)op->user_cb;
  cb(op->user_arg, op->err, op->err ? op->errmsg : "");
}

static const kclient__op_vt kclient__ac_vt = {
    .name = "IncrementalAlterConfigs",
    .api_key = PROTO_API_INCREMENTAL_ALTER_CONFIGS,
    .route = kclient__cfg_route,
    .build = kclient__ac_build,
    .handle = kclient__ac_handle,
    .finish = kclient__ac_finish,
    .free_ctx = kclient__cfg_free,
};

void kclient_alter_configs(kclient_t *c, int8_t resource_type, const char *name,
                           const kclient_config_alter *alters, size_t count,
                           bool validate_only, kclient_done_cb cb, void *arg) {
  SL_ASSERT(c && name && cb && (alters || count == 0) && count <= INT32_MAX);
  kclient__cfg *cf = g_new0(kclient__cfg, 1);
  cf->resource_type = resource_type;
  cf->name = kclient__keep(&cf->strs, name);
  cf->validate_only = validate_only;
  cf->alter_count = count;
  cf->alters = g_new0(kclient_config_alter, count ? count : 1);
  for (size_t i = 0; i < count; i++) {
    cf->alters[i].name = kclient__keep(&cf->strs, alters[i].name);
    cf->alters[i].op = alters[i].op;
    cf->alters[i].value = kclient__keep(&cf->strs, alters[i].value);
  }
  kclient__admin_start(c, &kclient__ac_vt, cf, (void *)cb, arg);
}
