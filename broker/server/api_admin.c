/*
 * api_admin.c — topic administration: CreateTopics (19), DeleteTopics (20),
 * CreatePartitions (37), DescribeConfigs (32), IncrementalAlterConfigs (44).
 *
 * Each change is validated as Kafka's controller would (names, counts, a
 * replication factor a one-broker cluster can give, known configs with
 * valid values), then applied through topics.c, which answers once the
 * metadata file is durable. A request touching several topics is answered
 * when all of its changes are; validate_only checks without applying.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "base/assert.h"
#include "broker/server/broker_internal.h"

/* ------------------------------------------------------ waiting for many */

typedef struct admin_wait {
  broker__req *req;
  void *resp;
  int pending;
} admin_wait;

typedef struct admin_item {
  admin_wait *w;
  int16_t *error_code;
  proto_str *error_message;
} admin_item;

static admin_wait *wait_new(broker__req *req, void *resp) {
  admin_wait *w = broker__alloc(req, sizeof *w);
  w->req = req;
  w->resp = resp;
  w->pending = 0;
  return w;
}

static void on_item_done(void *arg, int status) {
  admin_item *it = arg;
  admin_wait *w = it->w;
  if (status < 0 && *it->error_code == KERR_NONE) {
    *it->error_code = KERR_KAFKA_STORAGE_ERROR;
    if (it->error_message)
      *it->error_message = broker__str(w->req, "the metadata write failed");
  }
  if (--w->pending == 0)
    broker__respond(w->req, w->resp);
}

static admin_item *item_new(admin_wait *w, int16_t *error_code,
                            proto_str *error_message) {
  admin_item *it = broker__alloc(w->req, sizeof *it);
  it->w = w;
  it->error_code = error_code;
  it->error_message = error_message;
  w->pending++;
  return it;
}

/* Answers now if nothing was started, else parks until the last is done. */
static broker__handled wait_finish(admin_wait *w) {
  if (w->pending == 0) {
    broker__respond(w->req, w->resp);
    return BROKER__DONE;
  }
  return BROKER__PARKED;
}

static proto_str msgf(broker__req *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static proto_str msgf(broker__req *req, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  proto_str r = broker__str(req, s);
  g_free(s);
  return r;
}

/* --------------------------------------------------- describing configs */

static int8_t config_source(broker_t *b, GTree *overrides, const char *name) {
  if (overrides && g_tree_lookup(overrides, name))
    return BROKER__SOURCE_TOPIC;
  for (char **k = b->cfg->static_topic_keys; k && *k; k++)
    if (strcmp(*k, name) == 0)
      return BROKER__SOURCE_STATIC_BROKER;
  return BROKER__SOURCE_DEFAULT;
}

/* CreateTopics v5+ lists the new topic's configs. */
static void fill_created_configs(
    broker__req *req, const broker__topic_settings *s, GTree *overrides,
    proto_create_topics_resp_creatable_topic_configs_array *out) {
  size_t n = 0;
  const broker__topic_config_def *defs = broker__topic_configs(&n);
  proto_create_topics_resp_creatable_topic_configs *cs = BROKER__NEW_ARRAY(
      req, proto_create_topics_resp_creatable_topic_configs, (int32_t)n);
  for (size_t i = 0; i < n; i++) {
    char v[128];
    broker__topic_config_value(s, defs[i].name, v, sizeof v);
    cs[i].name = broker__str(req, defs[i].name);
    cs[i].value = broker__str(req, v);
    cs[i].read_only = false;
    cs[i].config_source = config_source(req->b, overrides, defs[i].name);
    cs[i].is_sensitive = false;
  }
  out->items = cs;
  out->count = (int32_t)n;
}

/* ----------------------------------------------------------- CreateTopics */

/* Checks one topic of a CreateTopics request. Returns the Kafka error (and
 * a message) or KERR_NONE with *partitions and the overrides in tree. */
static int16_t check_create(broker__req *req,
                            const proto_create_topics_req_creatable_topic *ct,
                            int32_t *partitions, GTree *tree,
                            broker__topic_settings *s, proto_str *msg) {
  broker_t *b = req->b;
  const char *name = ct->name.data;
  if (!broker__str_clean(ct->name) ||
      !broker__topic_name_valid(name, (size_t)ct->name.len)) {
    *msg = msgf(req, "Topic name \"%s\" is illegal, it contains a character "
                     "other than ASCII alphanumerics, '.', '_' and '-'",
                name ? name : "");
    return KERR_INVALID_TOPIC_EXCEPTION;
  }
  broker__topic *any = broker__topic_find_any(b, name);
  if (any) {
    *msg = any->state == BROKER__TOPIC_DELETING
               ? msgf(req, "Topic '%s' is marked for deletion.", name)
               : msgf(req, "Topic '%s' already exists.", name);
    return KERR_TOPIC_ALREADY_EXISTS;
  }
  int32_t na = ct->assignments.count < 0 ? 0 : ct->assignments.count;
  if (na > 0 && (ct->num_partitions != -1 || ct->replication_factor != -1)) {
    *msg = msgf(req, "Both numPartitions or replicationFactor and "
                     "replicasAssignments were set. Both cannot be used at "
                     "the same time.");
    return KERR_INVALID_REQUEST;
  }
  if (na > 0) {
    for (int32_t i = 0; i < na; i++) {
      const proto_create_topics_req_creatable_replica_assignment *a =
          &ct->assignments.items[i];
      if (a->partition_index != i || a->broker_ids.count != 1 ||
          a->broker_ids.items[0] != b->cfg->node_id) {
        *msg = msgf(req, "Replica assignments must name partitions 0..%d in "
                         "order, each on broker %d (the only one)",
                    na - 1, b->cfg->node_id);
        return KERR_INVALID_REPLICA_ASSIGNMENT;
      }
    }
    *partitions = na;
  } else {
    *partitions =
        ct->num_partitions == -1 ? b->cfg->num_partitions : ct->num_partitions;
    if (*partitions < 1 || *partitions > BROKER_TOPIC_PARTITIONS_MAX) {
      *msg = msgf(req, "Number of partitions must be between 1 and %d.",
                  BROKER_TOPIC_PARTITIONS_MAX);
      return KERR_INVALID_PARTITIONS;
    }
    int16_t rf = ct->replication_factor == -1 ? 1 : ct->replication_factor;
    if (rf < 1) {
      *msg = msgf(req, "Replication factor must be larger than 0.");
      return KERR_INVALID_REPLICATION_FACTOR;
    }
    if (rf > 1) {
      *msg = msgf(req, "Replication factor: %d larger than available "
                       "brokers: 1.",
                  rf);
      return KERR_INVALID_REPLICATION_FACTOR;
    }
  }
  broker__topic_settings_default(b->cfg, s);
  int32_t nc = ct->configs.count < 0 ? 0 : ct->configs.count;
  if (nc > BROKER_TOPIC_CONFIGS_MAX) {
    *msg = msgf(req, "Too many configs.");
    return KERR_INVALID_CONFIG;
  }
  for (int32_t i = 0; i < nc; i++) {
    const proto_create_topics_req_createable_topic_config *c =
        &ct->configs.items[i];
    char err[256];
    if (!broker__str_clean(c->name) || c->value.len < 0 ||
        !broker__str_clean(c->value)) {
      *msg = msgf(req, "Null value not supported for topic configs: %s",
                  c->name.data ? c->name.data : "");
      return KERR_INVALID_CONFIG;
    }
    if (broker__topic_config_apply(s, c->name.data, c->value.data, err,
                                   sizeof err) != 0) {
      *msg = broker__str(req, err);
      return KERR_INVALID_CONFIG;
    }
    char canon[128];
    broker__topic_config_value(s, c->name.data, canon, sizeof canon);
    g_tree_replace(tree, g_strdup(c->name.data), g_strdup(canon));
  }
  return KERR_NONE;
}

static gint cmp_str(gconstpointer a, gconstpointer b, gpointer unused) {
  (void)unused;
  return strcmp(a, b);
}

typedef struct kv_collect {
  const char **names;
  const char **values;
  size_t n;
} kv_collect;

static gboolean collect_kv(gpointer k, gpointer v, gpointer arg) {
  kv_collect *c = arg;
  c->names[c->n] = k;
  c->values[c->n] = v;
  c->n++;
  return FALSE;
}

broker__handled broker__api_create_topics(broker__req *req) {
  broker_t *b = req->b;
  const proto_create_topics_req *r = req->body;
  int16_t v = req->header.api_version;
  proto_create_topics_resp *resp = BROKER__NEW(req, proto_create_topics_resp);
  int32_t nt = r->topics.count < 0 ? 0 : r->topics.count;
  proto_create_topics_resp_creatable_topic_result *rs = BROKER__NEW_ARRAY(
      req, proto_create_topics_resp_creatable_topic_result, nt);
  resp->topics.items = rs;
  resp->topics.count = nt;
  admin_wait *w = wait_new(req, resp);
  GHashTable *names = g_hash_table_new(g_str_hash, g_str_equal);
  for (int32_t i = 0; i < nt; i++)
    if (broker__str_clean(r->topics.items[i].name))
      g_hash_table_insert(
          names, (gpointer)r->topics.items[i].name.data,
          GINT_TO_POINTER(
              GPOINTER_TO_INT(g_hash_table_lookup(
                  names, r->topics.items[i].name.data)) +
              1));
  for (int32_t i = 0; i < nt; i++) {
    const proto_create_topics_req_creatable_topic *ct = &r->topics.items[i];
    proto_create_topics_resp_creatable_topic_result *o = &rs[i];
    o->name = ct->name;
    o->num_partitions = -1;
    o->replication_factor = -1;
    o->configs.count = -1;
    o->error_message = PROTO_STR_NULL;
    GTree *tree = g_tree_new_full(cmp_str, NULL, g_free, g_free);
    broker__topic_settings s;
    int32_t partitions = 0;
    int16_t err;
    if (broker__str_clean(ct->name) &&
        GPOINTER_TO_INT(g_hash_table_lookup(names, ct->name.data)) > 1) {
      err = KERR_INVALID_REQUEST;
      o->error_message = msgf(req, "Create topics request contains multiple "
                                   "entries for the topic %s",
                              ct->name.data);
    } else {
      err = check_create(req, ct, &partitions, tree, &s, &o->error_message);
    }
    if (err == KERR_NONE && !r->validate_only) {
      kv_collect kv = {g_new0(const char *, g_tree_nnodes(tree) + 1),
                       g_new0(const char *, g_tree_nnodes(tree) + 1), 0};
      g_tree_foreach(tree, collect_kv, &kv);
      admin_item *it = item_new(w, &o->error_code, &o->error_message);
      err = (int16_t)broker__topic_create(b, ct->name.data, partitions,
                                          kv.names, kv.values, kv.n,
                                          on_item_done, it);
      if (err != KERR_NONE)
        w->pending--; /* not started: no callback */
      g_free(kv.names);
      g_free(kv.values);
      broker__topic *t = broker__topic_find_any(b, ct->name.data);
      if (t)
        o->topic_id = t->id;
    }
    o->error_code = err;
    if (err == KERR_NONE && v >= 5) {
      o->num_partitions = partitions;
      o->replication_factor = 1;
      fill_created_configs(req, &s, tree, &o->configs);
    }
    g_tree_destroy(tree);
  }
  g_hash_table_destroy(names);
  return wait_finish(w);
}

/* ----------------------------------------------------------- DeleteTopics */

static void delete_one(broker__req *req, admin_wait *w, proto_str name,
                       const proto_uuid *id,
                       proto_delete_topics_resp_deletable_topic_result *o) {
  broker_t *b = req->b;
  o->name = name;
  o->error_message = PROTO_STR_NULL;
  broker__topic *t = NULL;
  if (name.len >= 0) {
    t = broker__str_clean(name) ? broker__topic_find(b, name.data) : NULL;
    if (!t) {
      o->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
      o->error_message = msgf(req, "This server does not host this topic.");
      return;
    }
  } else {
    t = broker__topic_find_id(b, id);
    if (!t) {
      o->error_code = KERR_UNKNOWN_TOPIC_ID;
      o->topic_id = *id;
      return;
    }
    o->name = broker__str(req, t->name);
  }
  o->topic_id = t->id;
  if (!b->cfg->delete_topic_enable) {
    o->error_code = KERR_TOPIC_DELETION_DISABLED;
    o->error_message = msgf(req, "Topic deletion is disabled.");
    return;
  }
  o->error_code = KERR_NONE;
  admin_item *it = item_new(w, &o->error_code, &o->error_message);
  (void)broker__topic_delete(b, t, on_item_done, it);
}

broker__handled broker__api_delete_topics(broker__req *req) {
  const proto_delete_topics_req *r = req->body;
  proto_delete_topics_resp *resp = BROKER__NEW(req, proto_delete_topics_resp);
  admin_wait *w = wait_new(req, resp);
  if (req->header.api_version >= 6) {
    int32_t n = r->topics.count < 0 ? 0 : r->topics.count;
    proto_delete_topics_resp_deletable_topic_result *rs = BROKER__NEW_ARRAY(
        req, proto_delete_topics_resp_deletable_topic_result, n);
    for (int32_t i = 0; i < n; i++)
      delete_one(req, w, r->topics.items[i].name, &r->topics.items[i].topic_id,
                 &rs[i]);
    resp->responses.items = rs;
    resp->responses.count = n;
  } else {
    int32_t n = r->topic_names.count < 0 ? 0 : r->topic_names.count;
    proto_delete_topics_resp_deletable_topic_result *rs = BROKER__NEW_ARRAY(
        req, proto_delete_topics_resp_deletable_topic_result, n);
    proto_uuid zero;
    memset(&zero, 0, sizeof zero);
    for (int32_t i = 0; i < n; i++) {
      proto_str name = r->topic_names.items[i];
      if (name.len < 0)
        name = PROTO_STR_LIT("");
      delete_one(req, w, name, &zero, &rs[i]);
    }
    resp->responses.items = rs;
    resp->responses.count = n;
  }
  return wait_finish(w);
}

/* ------------------------------------------------------- CreatePartitions */

broker__handled broker__api_create_partitions(broker__req *req) {
  broker_t *b = req->b;
  const proto_create_partitions_req *r = req->body;
  proto_create_partitions_resp *resp =
      BROKER__NEW(req, proto_create_partitions_resp);
  int32_t nt = r->topics.count < 0 ? 0 : r->topics.count;
  proto_create_partitions_resp_create_partitions_topic_result *rs =
      BROKER__NEW_ARRAY(
          req, proto_create_partitions_resp_create_partitions_topic_result, nt);
  resp->results.items = rs;
  resp->results.count = nt;
  admin_wait *w = wait_new(req, resp);
  for (int32_t i = 0; i < nt; i++) {
    const proto_create_partitions_req_create_partitions_topic *ct =
        &r->topics.items[i];
    proto_create_partitions_resp_create_partitions_topic_result *o = &rs[i];
    o->name = ct->name;
    o->error_message = PROTO_STR_NULL;
    broker__topic *t =
        broker__str_clean(ct->name) ? broker__topic_find(b, ct->name.data)
                                    : NULL;
    if (!t) {
      o->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
      o->error_message = msgf(req, "The topic '%s' does not exist.",
                              ct->name.data ? ct->name.data : "");
      continue;
    }
    int32_t have = (int32_t)t->partitions->len;
    if (ct->count <= have || ct->count > BROKER_TOPIC_PARTITIONS_MAX ||
        have != t->partitions_live) {
      o->error_code = KERR_INVALID_PARTITIONS;
      o->error_message =
          have != t->partitions_live
              ? msgf(req, "Partitions are being added to topic %s.", t->name)
              : msgf(req, "Topic currently has %d partitions, which is higher "
                          "than or equal to the requested %d.",
                     have, ct->count);
      continue;
    }
    if (ct->assignments.count >= 0) {
      bool ok = ct->assignments.count == ct->count - have;
      for (int32_t j = 0; ok && j < ct->assignments.count; j++) {
        const proto_int32_array *ids = &ct->assignments.items[j].broker_ids;
        ok = ids->count == 1 && ids->items[0] == b->cfg->node_id;
      }
      if (!ok) {
        o->error_code = KERR_INVALID_REPLICA_ASSIGNMENT;
        o->error_message = msgf(req, "Each new partition must be assigned to "
                                     "broker %d only.",
                                b->cfg->node_id);
        continue;
      }
    }
    o->error_code = KERR_NONE;
    if (r->validate_only)
      continue;
    admin_item *it = item_new(w, &o->error_code, &o->error_message);
    int err = broker__topic_add_partitions(b, t, ct->count, on_item_done, it);
    if (err != KERR_NONE) {
      w->pending--;
      o->error_code = (int16_t)err;
    }
  }
  return wait_finish(w);
}

/* -------------------------------------------------------- DescribeConfigs */

static bool key_wanted(const proto_str_array *keys, const char *name) {
  if (keys->count < 0)
    return true;
  for (int32_t i = 0; i < keys->count; i++)
    if (proto_str_eq(keys->items[i], name))
      return true;
  return false;
}

typedef proto_describe_configs_resp_describe_configs_resource_result
    dc_entry;

static void fill_entry(broker__req *req, dc_entry *e, const char *name,
                       const char *value, int8_t source, int8_t type,
                       bool read_only, bool synonyms) {
  e->name = broker__str(req, name);
  e->value = broker__str(req, value);
  e->read_only = read_only;
  e->is_default = source == BROKER__SOURCE_DEFAULT;
  e->config_source = source;
  e->is_sensitive = false;
  e->config_type = type;
  e->documentation = PROTO_STR_NULL;
  if (synonyms) {
    proto_describe_configs_resp_describe_configs_synonym *s = BROKER__NEW_ARRAY(
        req, proto_describe_configs_resp_describe_configs_synonym, 1);
    s->name = e->name;
    s->value = e->value;
    s->source = source;
    e->synonyms.items = s;
    e->synonyms.count = 1;
  } else {
    e->synonyms.count = 0;
  }
}

static void describe_topic(broker__req *req, broker__topic *t,
                           const proto_describe_configs_req *r,
                           const proto_str_array *keys,
                           proto_describe_configs_resp_describe_configs_result
                               *o) {
  size_t n = 0;
  const broker__topic_config_def *defs = broker__topic_configs(&n);
  dc_entry *es = BROKER__NEW_ARRAY(req, proto_describe_configs_resp_describe_configs_resource_result, (int32_t)n);
  int32_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (!key_wanted(keys, defs[i].name))
      continue;
    char v[128];
    broker__topic_config_value(&t->settings, defs[i].name, v, sizeof v);
    fill_entry(req, &es[k++], defs[i].name, v,
               config_source(req->b, t->overrides, defs[i].name),
               defs[i].type, false, r->include_synonyms);
  }
  o->configs.items = es;
  o->configs.count = k;
}

/* The broker's own settings (read-only here: no dynamic broker configs). */
static void describe_broker(broker__req *req,
                            const proto_describe_configs_req *r,
                            const proto_str_array *keys,
                            proto_describe_configs_resp_describe_configs_result
                                *o) {
  broker_t *b = req->b;
  const broker_config *c = b->cfg;
  size_t n = 0;
  const broker__topic_config_def *defs = broker__topic_configs(&n);
  broker__topic_settings s;
  broker__topic_settings_default(c, &s);
  GString *dirs = g_string_new("");
  for (size_t i = 0; i < c->log_dir_count; i++)
    g_string_append_printf(dirs, "%s%s", i ? "," : "", c->log_dirs[i]);
  char node[16], parts[16], listen[300], adv[300];
  snprintf(node, sizeof node, "%d", c->node_id);
  snprintf(parts, sizeof parts, "%d", c->num_partitions);
  snprintf(listen, sizeof listen, "PLAINTEXT://%s:%u", c->listen_host,
           b->port);
  snprintf(adv, sizeof adv, "PLAINTEXT://%s:%u", b->advertised_host,
           b->advertised_port);
  struct {
    const char *name, *value;
    int8_t type;
  } own[] = {
      {"advertised.listeners", adv, BROKER__CTYPE_STRING},
      {"auto.create.topics.enable", c->auto_create_topics ? "true" : "false",
       BROKER__CTYPE_BOOLEAN},
      {"delete.topic.enable", c->delete_topic_enable ? "true" : "false",
       BROKER__CTYPE_BOOLEAN},
      {"listeners", listen, BROKER__CTYPE_STRING},
      {"log.dirs", dirs->str, BROKER__CTYPE_STRING},
      {"node.id", node, BROKER__CTYPE_INT},
      {"num.partitions", parts, BROKER__CTYPE_INT},
  };
  size_t total = G_N_ELEMENTS(own) + n;
  dc_entry *es = BROKER__NEW_ARRAY(req, proto_describe_configs_resp_describe_configs_resource_result, (int32_t)total);
  int32_t k = 0;
  for (size_t i = 0; i < G_N_ELEMENTS(own); i++)
    if (key_wanted(keys, own[i].name))
      fill_entry(req, &es[k++], own[i].name, own[i].value,
                 BROKER__SOURCE_STATIC_BROKER, own[i].type, true,
                 r->include_synonyms);
  for (size_t i = 0; i < n; i++) {
    if (!key_wanted(keys, defs[i].broker_name))
      continue;
    char v[128];
    broker__topic_config_value(&s, defs[i].name, v, sizeof v);
    fill_entry(req, &es[k++], defs[i].broker_name, v,
               config_source(b, NULL, defs[i].name), defs[i].type, true,
               r->include_synonyms);
  }
  g_string_free(dirs, TRUE);
  o->configs.items = es;
  o->configs.count = k;
}

static bool is_this_broker(broker_t *b, proto_str name) {
  if (name.len == 0)
    return true;
  char node[16];
  snprintf(node, sizeof node, "%d", b->cfg->node_id);
  return proto_str_eq(name, node);
}

broker__handled broker__api_describe_configs(broker__req *req) {
  broker_t *b = req->b;
  const proto_describe_configs_req *r = req->body;
  proto_describe_configs_resp *resp =
      BROKER__NEW(req, proto_describe_configs_resp);
  int32_t n = r->resources.count < 0 ? 0 : r->resources.count;
  proto_describe_configs_resp_describe_configs_result *rs = BROKER__NEW_ARRAY(
      req, proto_describe_configs_resp_describe_configs_result, n);
  for (int32_t i = 0; i < n; i++) {
    const proto_describe_configs_req_describe_configs_resource *rr =
        &r->resources.items[i];
    proto_describe_configs_resp_describe_configs_result *o = &rs[i];
    o->resource_type = rr->resource_type;
    o->resource_name = rr->resource_name;
    o->error_message = PROTO_STR_NULL;
    o->configs.count = 0;
    if (rr->resource_type == BROKER__RESOURCE_TOPIC) {
      broker__topic *t = broker__str_clean(rr->resource_name)
                             ? broker__topic_find(b, rr->resource_name.data)
                             : NULL;
      if (!t) {
        o->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
        o->error_message = msgf(req, "The topic does not exist.");
        continue;
      }
      describe_topic(req, t, r, &rr->configuration_keys, o);
    } else if (rr->resource_type == BROKER__RESOURCE_BROKER &&
               is_this_broker(b, rr->resource_name)) {
      describe_broker(req, r, &rr->configuration_keys, o);
    } else {
      o->error_code = KERR_INVALID_REQUEST;
      o->error_message = msgf(req, "Unsupported resource type %d or unknown "
                                   "broker",
                              rr->resource_type);
      continue;
    }
    o->error_code = KERR_NONE;
  }
  resp->results.items = rs;
  resp->results.count = n;
  broker__respond(req, resp);
  return BROKER__DONE;
}

/* ------------------------------------------------ IncrementalAlterConfigs */

enum { OP_SET = 0, OP_DELETE = 1, OP_APPEND = 2, OP_SUBTRACT = 3 };

static gboolean copy_kv(gpointer k, gpointer v, gpointer arg) {
  g_tree_replace(arg, g_strdup(k), g_strdup(v));
  return FALSE;
}

/* APPEND / SUBTRACT on a list config (cleanup.policy). */
static int16_t list_op(const broker__topic_settings *cur, GTree *tree,
                       const char *name, int8_t op, const char *value,
                       char *err, size_t err_len) {
  char now[128];
  broker__topic_settings s = *cur;
  broker__topic_config_value(&s, name, now, sizeof now);
  gchar **have = g_strsplit(now, ",", -1);
  gchar **delta = g_strsplit(value, ",", -1);
  GString *out = g_string_new("");
  for (size_t i = 0; have[i]; i++) {
    bool drop = false;
    for (size_t j = 0; op == OP_SUBTRACT && delta[j]; j++)
      drop = drop || strcmp(g_strstrip(delta[j]), have[i]) == 0;
    if (!drop && *have[i])
      g_string_append_printf(out, "%s%s", out->len ? "," : "", have[i]);
  }
  for (size_t j = 0; op == OP_APPEND && delta[j]; j++) {
    char *d = g_strstrip(delta[j]);
    bool dup = false;
    for (size_t i = 0; have[i]; i++)
      dup = dup || strcmp(have[i], d) == 0;
    if (!dup && *d)
      g_string_append_printf(out, "%s%s", out->len ? "," : "", d);
  }
  int16_t rc = KERR_NONE;
  if (broker__topic_config_apply(&s, name, out->str, err, err_len) != 0)
    rc = KERR_INVALID_CONFIG;
  else
    g_tree_replace(tree, g_strdup(name), g_strdup(out->str));
  g_string_free(out, TRUE);
  g_strfreev(have);
  g_strfreev(delta);
  return rc;
}

static int16_t alter_topic(
    broker__req *req, broker__topic *t,
    const proto_incremental_alter_configs_req_alter_configs_resource *rr,
    GTree *tree, proto_str *msg) {
  g_tree_foreach(t->overrides, copy_kv, tree);
  for (int32_t i = 0; i < rr->configs.count; i++) {
    const proto_incremental_alter_configs_req_alterable_config *c =
        &rr->configs.items[i];
    char err[256] = "";
    const char *name = broker__str_clean(c->name) ? c->name.data : "";
    const broker__topic_config_def *def = broker__topic_config_find(name);
    if (!def) {
      *msg = msgf(req, "Unknown topic config name: %s", name);
      return KERR_INVALID_CONFIG;
    }
    if (c->config_operation == OP_DELETE) {
      g_tree_remove(tree, name);
      continue;
    }
    if (c->value.len < 0 || !broker__str_clean(c->value)) {
      *msg = msgf(req, "Null value not supported for: %s", name);
      return KERR_INVALID_CONFIG;
    }
    if (c->config_operation == OP_SET) {
      broker__topic_settings s = t->settings;
      if (broker__topic_config_apply(&s, name, c->value.data, err,
                                     sizeof err) != 0) {
        *msg = broker__str(req, err);
        return KERR_INVALID_CONFIG;
      }
      char canon[128];
      broker__topic_config_value(&s, name, canon, sizeof canon);
      g_tree_replace(tree, g_strdup(name), g_strdup(canon));
    } else if (c->config_operation == OP_APPEND ||
               c->config_operation == OP_SUBTRACT) {
      if (def->type != BROKER__CTYPE_LIST) {
        *msg = msgf(req, "Config value append/subtract is not allowed for "
                         "config key: %s",
                    name);
        return KERR_INVALID_CONFIG;
      }
      broker__topic_settings cur;
      if (broker__topic_config_compute(req->b, tree, &cur, NULL, 0) != 0)
        cur = t->settings;
      if (list_op(&cur, tree, name, c->config_operation, c->value.data, err,
                  sizeof err) != KERR_NONE) {
        *msg = broker__str(req, err);
        return KERR_INVALID_CONFIG;
      }
    } else {
      *msg = msgf(req, "Unknown config operation %d", c->config_operation);
      return KERR_INVALID_REQUEST;
    }
  }
  broker__topic_settings s;
  char err[256] = "";
  if (broker__topic_config_compute(req->b, tree, &s, err, sizeof err) != 0) {
    *msg = broker__str(req, err);
    return KERR_INVALID_CONFIG;
  }
  return KERR_NONE;
}

broker__handled broker__api_incremental_alter_configs(broker__req *req) {
  broker_t *b = req->b;
  const proto_incremental_alter_configs_req *r = req->body;
  proto_incremental_alter_configs_resp *resp =
      BROKER__NEW(req, proto_incremental_alter_configs_resp);
  int32_t n = r->resources.count < 0 ? 0 : r->resources.count;
  proto_incremental_alter_configs_resp_alter_configs_resource_response *rs =
      BROKER__NEW_ARRAY(
          req, proto_incremental_alter_configs_resp_alter_configs_resource_response,
          n);
  resp->responses.items = rs;
  resp->responses.count = n;
  admin_wait *w = wait_new(req, resp);
  for (int32_t i = 0; i < n; i++) {
    const proto_incremental_alter_configs_req_alter_configs_resource *rr =
        &r->resources.items[i];
    proto_incremental_alter_configs_resp_alter_configs_resource_response *o =
        &rs[i];
    o->resource_type = rr->resource_type;
    o->resource_name = rr->resource_name;
    o->error_message = PROTO_STR_NULL;
    if (rr->resource_type != BROKER__RESOURCE_TOPIC) {
      o->error_code = KERR_INVALID_REQUEST;
      o->error_message =
          msgf(req, "Only topic configs can be altered on this broker");
      continue;
    }
    broker__topic *t = broker__str_clean(rr->resource_name)
                           ? broker__topic_find(b, rr->resource_name.data)
                           : NULL;
    if (!t) {
      o->error_code = KERR_UNKNOWN_TOPIC_OR_PARTITION;
      o->error_message = msgf(req, "The topic does not exist.");
      continue;
    }
    GTree *tree = g_tree_new_full(cmp_str, NULL, g_free, g_free);
    int16_t err = alter_topic(req, t, rr, tree, &o->error_message);
    if (err == KERR_NONE && !r->validate_only) {
      admin_item *it = item_new(w, &o->error_code, &o->error_message);
      err = (int16_t)broker__topic_set_overrides(b, t, tree, on_item_done, it);
      if (err != KERR_NONE)
        w->pending--;
    }
    o->error_code = err;
    g_tree_destroy(tree);
  }
  return wait_finish(w);
}
