/*
 * config.c — server.properties (Kafka's names) into a broker_config, and
 * the table of topic-level configs with their broker-level defaults.
 *
 * Kafka keeps two layers: broker properties `log.*` give every topic its
 * defaults, and a topic may override each one under its own name
 * (`log.retention.ms` -> `retention.ms`). Both layers are parsed by the
 * same function here, so a value that is valid in server.properties is
 * valid in CreateTopics and IncrementalAlterConfigs and vice versa.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "base/assert.h"
#include "broker/server/broker_internal.h"

#define MS_PER_MINUTE INT64_C(60000)
#define MS_PER_HOUR INT64_C(3600000)

/* ------------------------------------------------------ topic configs */

static const broker__topic_config_def topic_configs[] = {
    {"cleanup.policy", "log.cleanup.policy", BROKER__CTYPE_LIST},
    {"delete.retention.ms", "log.cleaner.delete.retention.ms",
     BROKER__CTYPE_LONG},
    {"flush.messages", "log.flush.interval.messages", BROKER__CTYPE_LONG},
    {"flush.ms", "log.flush.interval.ms", BROKER__CTYPE_LONG},
    {"index.interval.bytes", "log.index.interval.bytes", BROKER__CTYPE_INT},
    {"max.message.bytes", "message.max.bytes", BROKER__CTYPE_INT},
    {"message.timestamp.type", "log.message.timestamp.type",
     BROKER__CTYPE_STRING},
    {"min.insync.replicas", "min.insync.replicas", BROKER__CTYPE_INT},
    {"retention.bytes", "log.retention.bytes", BROKER__CTYPE_LONG},
    {"retention.ms", "log.retention.ms", BROKER__CTYPE_LONG},
    {"segment.bytes", "log.segment.bytes", BROKER__CTYPE_INT},
    {"segment.index.bytes", "log.index.size.max.bytes", BROKER__CTYPE_INT},
    {"segment.ms", "log.roll.ms", BROKER__CTYPE_LONG},
};

const broker__topic_config_def *broker__topic_configs(size_t *count) {
  *count = G_N_ELEMENTS(topic_configs);
  return topic_configs;
}

const broker__topic_config_def *broker__topic_config_find(const char *name) {
  for (size_t i = 0; i < G_N_ELEMENTS(topic_configs); i++)
    if (strcmp(topic_configs[i].name, name) == 0)
      return &topic_configs[i];
  return NULL;
}

void broker__topic_settings_default(const broker_config *cfg,
                                    broker__topic_settings *s) {
  s->log = cfg->log_defaults;
  s->max_message_bytes = cfg->message_max_bytes;
  s->min_insync_replicas = cfg->min_insync_replicas;
}

/* A decimal int64 with nothing around it. */
static bool parse_i64(const char *v, int64_t *out) {
  if (!v || !*v)
    return false;
  const char *p = v;
  if (*p == '-' || *p == '+')
    p++;
  if (!*p)
    return false;
  for (const char *q = p; *q; q++)
    if (*q < '0' || *q > '9')
      return false;
  errno = 0;
  char *end = NULL;
  long long x = strtoll(v, &end, 10);
  if (errno || *end)
    return false;
  *out = x;
  return true;
}

static int bad_value(const char *name, const char *value, const char *why,
                     char *err, size_t err_len) {
  if (err && err_len)
    snprintf(err, err_len, "Invalid value %s for configuration %s: %s", value,
             name, why);
  return KERR_INVALID_CONFIG;
}

static int parse_policy(broker__topic_settings *s, const char *name,
                        const char *value, char *err, size_t err_len) {
  bool del = false, compact = false;
  gchar **parts = g_strsplit(value, ",", -1);
  bool ok = parts[0] != NULL;
  for (size_t i = 0; parts[i]; i++) {
    char *w = g_strstrip(parts[i]);
    if (strcmp(w, "delete") == 0)
      del = true;
    else if (strcmp(w, "compact") == 0)
      compact = true;
    else
      ok = false;
  }
  g_strfreev(parts);
  if (!ok)
    return bad_value(name, value, "String must be one of: compact, delete",
                     err, err_len);
  s->log.cleanup_delete = del;
  s->log.cleanup_compact = compact;
  return 0;
}

int broker__topic_config_apply(broker__topic_settings *s, const char *name,
                               const char *value, char *err, size_t err_len) {
  const broker__topic_config_def *def = broker__topic_config_find(name);
  if (!def) {
    if (err && err_len)
      snprintf(err, err_len, "Unknown topic config name: %s", name);
    return KERR_INVALID_CONFIG;
  }
  if (!value)
    return bad_value(name, "null", "a value is required", err, err_len);
  if (strcmp(name, "cleanup.policy") == 0)
    return parse_policy(s, name, value, err, err_len);
  if (strcmp(name, "message.timestamp.type") == 0) {
    if (strcmp(value, "CreateTime") == 0)
      s->log.log_append_time = false;
    else if (strcmp(value, "LogAppendTime") == 0)
      s->log.log_append_time = true;
    else
      return bad_value(name, value,
                       "String must be one of: CreateTime, LogAppendTime", err,
                       err_len);
    return 0;
  }
  int64_t x;
  if (!parse_i64(value, &x))
    return bad_value(name, value, "not a number", err, err_len);
  if (def->type == BROKER__CTYPE_INT && (x < INT32_MIN || x > INT32_MAX))
    return bad_value(name, value, "out of range for an int", err, err_len);
  if (strcmp(name, "retention.ms") == 0) {
    if (x < -1)
      return bad_value(name, value, "Value must be at least -1", err, err_len);
    s->log.retention_ms = x;
  } else if (strcmp(name, "retention.bytes") == 0) {
    if (x < -1)
      return bad_value(name, value, "Value must be at least -1", err, err_len);
    s->log.retention_bytes = x;
  } else if (strcmp(name, "segment.bytes") == 0) {
    if (x < 14)
      return bad_value(name, value, "Value must be at least 14", err, err_len);
    s->log.segment_bytes = x;
  } else if (strcmp(name, "segment.ms") == 0) {
    if (x < 1)
      return bad_value(name, value, "Value must be at least 1", err, err_len);
    s->log.segment_ms = x;
  } else if (strcmp(name, "segment.index.bytes") == 0) {
    if (x < 12)
      return bad_value(name, value, "Value must be at least 12", err, err_len);
    s->log.segment_index_bytes = x;
  } else if (strcmp(name, "index.interval.bytes") == 0) {
    if (x < 0)
      return bad_value(name, value, "Value must be at least 0", err, err_len);
    s->log.index_interval_bytes = (int32_t)x;
  } else if (strcmp(name, "flush.messages") == 0) {
    if (x < 1)
      return bad_value(name, value, "Value must be at least 1", err, err_len);
    s->log.flush_messages = x;
  } else if (strcmp(name, "flush.ms") == 0) {
    if (x < 0)
      return bad_value(name, value, "Value must be at least 0", err, err_len);
    s->log.flush_ms = x;
  } else if (strcmp(name, "delete.retention.ms") == 0) {
    if (x < 0)
      return bad_value(name, value, "Value must be at least 0", err, err_len);
    s->log.delete_retention_ms = x;
  } else if (strcmp(name, "max.message.bytes") == 0) {
    if (x < 0)
      return bad_value(name, value, "Value must be at least 0", err, err_len);
    s->max_message_bytes = (int32_t)x;
  } else if (strcmp(name, "min.insync.replicas") == 0) {
    if (x < 1)
      return bad_value(name, value, "Value must be at least 1", err, err_len);
    s->min_insync_replicas = (int32_t)x;
  } else {
    SL_ASSERT(!"topic config in the table without a parser");
  }
  return 0;
}

void broker__topic_config_value(const broker__topic_settings *s,
                                const char *name, char *out, size_t out_len) {
  const log_config *c = &s->log;
  int64_t v = 0;
  if (strcmp(name, "cleanup.policy") == 0) {
    snprintf(out, out_len, "%s",
             c->cleanup_delete && c->cleanup_compact ? "compact,delete"
             : c->cleanup_compact                    ? "compact"
             : c->cleanup_delete                     ? "delete"
                                                     : "");
    return;
  }
  if (strcmp(name, "message.timestamp.type") == 0) {
    snprintf(out, out_len, "%s",
             c->log_append_time ? "LogAppendTime" : "CreateTime");
    return;
  }
  if (strcmp(name, "retention.ms") == 0)
    v = c->retention_ms;
  else if (strcmp(name, "retention.bytes") == 0)
    v = c->retention_bytes;
  else if (strcmp(name, "segment.bytes") == 0)
    v = c->segment_bytes;
  else if (strcmp(name, "segment.ms") == 0)
    v = c->segment_ms;
  else if (strcmp(name, "segment.index.bytes") == 0)
    v = c->segment_index_bytes;
  else if (strcmp(name, "index.interval.bytes") == 0)
    v = c->index_interval_bytes;
  else if (strcmp(name, "flush.messages") == 0)
    v = c->flush_messages;
  else if (strcmp(name, "flush.ms") == 0)
    v = c->flush_ms;
  else if (strcmp(name, "delete.retention.ms") == 0)
    v = c->delete_retention_ms;
  else if (strcmp(name, "max.message.bytes") == 0)
    v = s->max_message_bytes;
  else if (strcmp(name, "min.insync.replicas") == 0)
    v = s->min_insync_replicas;
  snprintf(out, out_len, "%" PRId64, v);
}

/* ----------------------------------------------------- broker properties */

/* Keys read below, besides the broker names in topic_configs. */
static const char *const broker_keys[] = {
    "advertised.listeners",
    "auto.create.topics.enable",
    "broker.id",
    "cluster.id",
    "delete.topic.enable",
    "fetch.sendfile.enable",
    "fetch.verify.crc",
    "group.initial.rebalance.delay.ms",
    "group.max.session.timeout.ms",
    "group.min.session.timeout.ms",
    "listeners",
    "log.cleaner.backoff.ms",
    "log.dir",
    "log.dirs",
    "log.flush.offset.checkpoint.interval.ms",
    "log.retention.check.interval.ms",
    "log.retention.hours",
    "log.retention.minutes",
    "log.roll.hours",
    "node.id",
    "num.partitions",
    "offsets.retention.check.interval.ms",
    "offsets.retention.minutes",
    "offsets.topic.num.partitions",
    "producer.id.expiration.ms",
    "socket.request.max.bytes",
};

bool broker_config_known(const char *key) {
  for (size_t i = 0; i < G_N_ELEMENTS(broker_keys); i++)
    if (strcmp(broker_keys[i], key) == 0)
      return true;
  for (size_t i = 0; i < G_N_ELEMENTS(topic_configs); i++)
    if (strcmp(topic_configs[i].broker_name, key) == 0)
      return true;
  return false;
}

void broker_config_default(broker_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->node_id = 0;
  cfg->listen_host = g_strdup("");
  cfg->listen_port = 9092;
  cfg->advertised_host = g_strdup("");
  cfg->advertised_port = 0;
  cfg->log_dirs = g_new0(char *, 2);
  cfg->log_dirs[0] = g_strdup("/tmp/kafka-logs");
  cfg->log_dir_count = 1;
  cfg->cluster_id = NULL;
  cfg->num_partitions = 1;
  cfg->auto_create_topics = true;
  cfg->delete_topic_enable = true;
  cfg->message_max_bytes = 1048588;
  cfg->socket_request_max_bytes = PROTO_FRAME_BYTES_MAX_DEFAULT;
  cfg->retention_check_interval_ms = 300000;
  cfg->checkpoint_interval_ms = 60000;
  cfg->cleaner_backoff_ms = 15000;
  cfg->producer_id_expiration_ms = 86400000;
  cfg->min_insync_replicas = 1;
  group_config_default(&cfg->groups);
  log_config_default(&cfg->log_defaults);
  cfg->static_topic_keys = g_new0(char *, 1);
}

void broker_config_clear(broker_config *cfg) {
  if (!cfg)
    return;
  g_free(cfg->listen_host);
  g_free(cfg->advertised_host);
  g_strfreev(cfg->log_dirs);
  g_free(cfg->cluster_id);
  g_strfreev(cfg->static_topic_keys);
  memset(cfg, 0, sizeof *cfg);
}

static int cfg_error(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int cfg_error(char *err, size_t err_len, const char *fmt, ...) {
  if (err && err_len) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
  }
  return BROKER_ERR_CONFIG;
}

/* "PLAINTEXT://host:port[,NAME://host:port...]": the PLAINTEXT entry (or
 * the only entry). host may be empty or a [bracketed] IPv6 address. */
static int parse_listener(const char *key, const char *value, char **host,
                          uint16_t *port, char *err, size_t err_len) {
  gchar **entries = g_strsplit(value, ",", -1);
  const char *chosen = NULL;
  size_t n = g_strv_length(entries);
  for (size_t i = 0; i < n; i++) {
    char *e = g_strstrip(entries[i]);
    if (g_str_has_prefix(e, "PLAINTEXT://")) {
      chosen = e;
      break;
    }
  }
  if (!chosen && n == 1)
    chosen = g_strstrip(entries[0]);
  int rc = 0;
  if (!chosen) {
    rc = cfg_error(err, err_len, "%s: no PLAINTEXT://host:port entry in '%s'",
                   key, value);
    goto out;
  }
  const char *sep = strstr(chosen, "://");
  if (!sep) {
    rc = cfg_error(err, err_len, "%s: expected NAME://host:port, got '%s'",
                   key, chosen);
    goto out;
  }
  if (strncmp(chosen, "PLAINTEXT", (size_t)(sep - chosen)) != 0) {
    rc = cfg_error(err, err_len,
                   "%s: only PLAINTEXT listeners are supported, got '%s'", key,
                   chosen);
    goto out;
  }
  const char *hp = sep + 3;
  const char *colon = strrchr(hp, ':');
  if (!colon) {
    rc = cfg_error(err, err_len, "%s: missing port in '%s'", key, chosen);
    goto out;
  }
  int64_t p;
  if (!parse_i64(colon + 1, &p) || p < 0 || p > 65535) {
    rc = cfg_error(err, err_len, "%s: bad port in '%s'", key, chosen);
    goto out;
  }
  size_t hl = (size_t)(colon - hp);
  if (hl >= 2 && hp[0] == '[' && hp[hl - 1] == ']')
    *host = g_strndup(hp + 1, hl - 2);
  else
    *host = g_strndup(hp, hl);
  *port = (uint16_t)p;
out:
  g_strfreev(entries);
  return rc;
}

static int get_i64(const config_t *c, const char *key, int64_t def,
                   int64_t min, int64_t max, int64_t *out, char *err,
                   size_t err_len) {
  int rc = config_get_i64_range(c, key, def, min, max, out, err, err_len);
  return rc < 0 ? BROKER_ERR_CONFIG : 0;
}

static int load_log_dirs(const config_t *c, broker_config *cfg, char *err,
                         size_t err_len) {
  const char *v = config_get(c, "log.dirs");
  if (!v)
    v = config_get(c, "log.dir");
  if (!v)
    return 0; /* keep the default */
  gchar **parts = g_strsplit(v, ",", -1);
  GPtrArray *dirs = g_ptr_array_new();
  int rc = 0;
  for (size_t i = 0; parts[i]; i++) {
    char *d = g_strstrip(parts[i]);
    if (!*d)
      continue;
    for (guint j = 0; j < dirs->len; j++)
      if (strcmp(g_ptr_array_index(dirs, j), d) == 0) {
        rc = cfg_error(err, err_len, "log.dirs: '%s' is listed twice", d);
        goto out;
      }
    g_ptr_array_add(dirs, d);
  }
  if (dirs->len == 0) {
    rc = cfg_error(err, err_len, "log.dirs: no directory given");
    goto out;
  }
  if (dirs->len > BROKER_LOG_DIRS_MAX) {
    rc = cfg_error(err, err_len, "log.dirs: at most %d directories",
                   BROKER_LOG_DIRS_MAX);
    goto out;
  }
  g_strfreev(cfg->log_dirs);
  cfg->log_dirs = g_new0(char *, dirs->len + 1);
  for (guint j = 0; j < dirs->len; j++)
    cfg->log_dirs[j] = g_strdup(g_ptr_array_index(dirs, j));
  cfg->log_dir_count = dirs->len;
out:
  g_ptr_array_free(dirs, TRUE);
  g_strfreev(parts);
  return rc;
}

/* log.retention.ms wins over .minutes, which wins over .hours (Kafka). */
static int load_retention(const config_t *c, broker_config *cfg, GPtrArray *st,
                          char *err, size_t err_len) {
  int64_t v;
  if (config_has(c, "log.retention.ms"))
    return 0; /* the generic topic-default loop reads it */
  if (config_has(c, "log.retention.minutes")) {
    if (get_i64(c, "log.retention.minutes", 0, -1, INT64_MAX / MS_PER_MINUTE,
                &v, err, err_len) < 0)
      return BROKER_ERR_CONFIG;
    cfg->log_defaults.retention_ms = v < 0 ? -1 : v * MS_PER_MINUTE;
    g_ptr_array_add(st, g_strdup("retention.ms"));
  } else if (config_has(c, "log.retention.hours")) {
    if (get_i64(c, "log.retention.hours", 0, -1, INT64_MAX / MS_PER_HOUR, &v,
                err, err_len) < 0)
      return BROKER_ERR_CONFIG;
    cfg->log_defaults.retention_ms = v < 0 ? -1 : v * MS_PER_HOUR;
    g_ptr_array_add(st, g_strdup("retention.ms"));
  }
  if (!config_has(c, "log.roll.ms") && config_has(c, "log.roll.hours")) {
    if (get_i64(c, "log.roll.hours", 0, 1, INT64_MAX / MS_PER_HOUR, &v, err,
                err_len) < 0)
      return BROKER_ERR_CONFIG;
    cfg->log_defaults.segment_ms = v * MS_PER_HOUR;
    g_ptr_array_add(st, g_strdup("segment.ms"));
  }
  return 0;
}

static int load_topic_defaults(const config_t *c, broker_config *cfg,
                               char *err, size_t err_len) {
  GPtrArray *st = g_ptr_array_new_with_free_func(g_free);
  int rc = load_retention(c, cfg, st, err, err_len);
  if (rc < 0)
    goto out;
  broker__topic_settings s;
  broker__topic_settings_default(cfg, &s);
  for (size_t i = 0; i < G_N_ELEMENTS(topic_configs); i++) {
    const char *v = config_get(c, topic_configs[i].broker_name);
    if (!v)
      continue;
    char why[256];
    if (broker__topic_config_apply(&s, topic_configs[i].name, v, why,
                                   sizeof why) != 0) {
      rc = cfg_error(err, err_len, "%s: %s", topic_configs[i].broker_name,
                     why);
      goto out;
    }
    g_ptr_array_add(st, g_strdup(topic_configs[i].name));
  }
  cfg->log_defaults = s.log;
  cfg->message_max_bytes = s.max_message_bytes;
  cfg->min_insync_replicas = s.min_insync_replicas;
  g_ptr_array_sort(st, (GCompareFunc)g_strcmp0);
  g_strfreev(cfg->static_topic_keys);
  cfg->static_topic_keys = g_new0(char *, st->len + 1);
  for (guint i = 0; i < st->len; i++)
    cfg->static_topic_keys[i] = g_strdup(g_ptr_array_index(st, i));
out:
  g_ptr_array_free(st, TRUE);
  return rc;
}

static int load_node(const config_t *c, broker_config *cfg, char *err,
                     size_t err_len) {
  int64_t v;
  const char *key = config_has(c, "node.id") ? "node.id" : "broker.id";
  if (get_i64(c, key, 0, 0, INT32_MAX, &v, err, err_len) < 0)
    return BROKER_ERR_CONFIG;
  cfg->node_id = (int32_t)v;
  if (config_has(c, "node.id") && config_has(c, "broker.id")) {
    int64_t w;
    if (get_i64(c, "broker.id", 0, 0, INT32_MAX, &w, err, err_len) < 0)
      return BROKER_ERR_CONFIG;
    if (w != v)
      return cfg_error(err, err_len,
                       "node.id (%" PRId64 ") and broker.id (%" PRId64
                       ") differ",
                       v, w);
  }
  const char *l = config_get(c, "listeners");
  if (l) {
    g_free(cfg->listen_host);
    cfg->listen_host = NULL;
    if (parse_listener("listeners", l, &cfg->listen_host, &cfg->listen_port,
                       err, err_len) < 0)
      return BROKER_ERR_CONFIG;
  }
  const char *a = config_get(c, "advertised.listeners");
  if (a) {
    g_free(cfg->advertised_host);
    cfg->advertised_host = NULL;
    if (parse_listener("advertised.listeners", a, &cfg->advertised_host,
                       &cfg->advertised_port, err, err_len) < 0)
      return BROKER_ERR_CONFIG;
  } else {
    g_free(cfg->advertised_host);
    cfg->advertised_host = g_strdup(cfg->listen_host);
    cfg->advertised_port = 0;
  }
  const char *cid = config_get(c, "cluster.id");
  if (cid && *cid) {
    for (const char *p = cid; *p; p++)
      if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_')
        return cfg_error(err, err_len,
                         "cluster.id: only letters, digits, '-' and '_'");
    cfg->cluster_id = g_strdup(cid);
  }
  return 0;
}

static int load_limits(const config_t *c, broker_config *cfg, char *err,
                       size_t err_len) {
  int64_t v;
  if (get_i64(c, "num.partitions", 1, 1, BROKER_TOPIC_PARTITIONS_MAX, &v, err,
              err_len) < 0)
    return BROKER_ERR_CONFIG;
  cfg->num_partitions = (int32_t)v;
  if (config_get_bool(c, "auto.create.topics.enable", true,
                      &cfg->auto_create_topics, err, err_len) < 0 ||
      config_get_bool(c, "delete.topic.enable", true, &cfg->delete_topic_enable,
                      err, err_len) < 0 ||
      config_get_bool(c, "fetch.sendfile.enable", false, &cfg->fetch_sendfile,
                      err, err_len) < 0 ||
      config_get_bool(c, "fetch.verify.crc", true, &cfg->fetch_verify_crc, err,
                      err_len) < 0)
    return BROKER_ERR_CONFIG;
  if (get_i64(c, "socket.request.max.bytes", PROTO_FRAME_BYTES_MAX_DEFAULT,
              PROTO_REQUEST_FRAME_BYTES_MIN + 64, INT32_MAX, &v, err,
              err_len) < 0)
    return BROKER_ERR_CONFIG;
  cfg->socket_request_max_bytes = (int32_t)v;
  if (get_i64(c, "log.retention.check.interval.ms", 300000, 1, INT32_MAX,
              &cfg->retention_check_interval_ms, err, err_len) < 0 ||
      get_i64(c, "log.flush.offset.checkpoint.interval.ms", 60000, 1,
              INT32_MAX, &cfg->checkpoint_interval_ms, err, err_len) < 0 ||
      get_i64(c, "log.cleaner.backoff.ms", 15000, 1, INT32_MAX,
              &cfg->cleaner_backoff_ms, err, err_len) < 0 ||
      get_i64(c, "producer.id.expiration.ms", 86400000, 1, INT64_MAX / 2,
              &cfg->producer_id_expiration_ms, err, err_len) < 0)
    return BROKER_ERR_CONFIG;
  return 0;
}

/* The group coordinator's keys (Kafka's names and defaults). */
static int load_groups(const config_t *c, broker_config *cfg, char *err,
                       size_t err_len) {
  group_config *g = &cfg->groups;
  int64_t lo, hi, delay, parts, minutes, check;
  if (get_i64(c, "group.min.session.timeout.ms", 6000, 1, INT32_MAX, &lo, err,
              err_len) < 0 ||
      get_i64(c, "group.max.session.timeout.ms", 1800000, 1, INT32_MAX, &hi,
              err, err_len) < 0 ||
      get_i64(c, "group.initial.rebalance.delay.ms", 3000, 0, INT32_MAX,
              &delay, err, err_len) < 0 ||
      get_i64(c, "offsets.topic.num.partitions", 50, 1,
              BROKER_TOPIC_PARTITIONS_MAX, &parts, err, err_len) < 0 ||
      get_i64(c, "offsets.retention.minutes", 10080, 1, INT32_MAX, &minutes,
              err, err_len) < 0 ||
      get_i64(c, "offsets.retention.check.interval.ms", 600000, 1, INT32_MAX,
              &check, err, err_len) < 0)
    return BROKER_ERR_CONFIG;
  if (lo > hi)
    return cfg_error(err, err_len,
                     "group.min.session.timeout.ms exceeds "
                     "group.max.session.timeout.ms");
  g->session_timeout_min_ms = (int32_t)lo;
  g->session_timeout_max_ms = (int32_t)hi;
  g->initial_rebalance_delay_ms = (int32_t)delay;
  g->offsets_partitions = (int32_t)parts;
  g->offsets_retention_ms = minutes * 60000;
  g->offsets_retention_check_ms = check;
  return 0;
}

int broker_config_load(const config_t *c, broker_config *cfg, char *err,
                       size_t err_len) {
  SL_ASSERT(c && cfg);
  broker_config_default(cfg);
  if (load_node(c, cfg, err, err_len) < 0 ||
      load_log_dirs(c, cfg, err, err_len) < 0 ||
      load_limits(c, cfg, err, err_len) < 0 ||
      load_groups(c, cfg, err, err_len) < 0 ||
      load_topic_defaults(c, cfg, err, err_len) < 0) {
    broker_config_clear(cfg);
    return BROKER_ERR_CONFIG;
  }
  if (cfg->message_max_bytes > cfg->socket_request_max_bytes) {
    cfg_error(err, err_len,
              "message.max.bytes (%d) exceeds socket.request.max.bytes (%d)",
              cfg->message_max_bytes, cfg->socket_request_max_bytes);
    broker_config_clear(cfg);
    return BROKER_ERR_CONFIG;
  }
  return 0;
}
