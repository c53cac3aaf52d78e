/*
 * client.c — the client's core: configuration, errors, the event guard,
 * brokers, the metadata cache and its refresh, and operations with retries.
 *
 * Kafka's Java client keeps a Metadata object (brokers, topic -> partition
 * -> leader) that any component can ask to refresh, and retries requests
 * after retry.backoff.ms; this file is that, written as one state machine
 * per operation (kclient__op) instead of futures. See client_internal.h
 * for how the files divide the work.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "broker/client/client_internal.h"
#include "broker/kerr.h"

/* ------------------------------------------------------------- errors */

typedef struct kclient__name {
  int code;
  const char *name;
} kclient__name;

static const kclient__name kclient__errno_names[] = {
    {ECONNREFUSED, "connection refused"},
    {ECONNRESET, "connection reset by peer"},
    {ECONNABORTED, "connection aborted"},
    {ETIMEDOUT, "timed out"},
    {EHOSTUNREACH, "host unreachable"},
    {ENETUNREACH, "network unreachable"},
    {EPIPE, "broken pipe"},
    {ENOTCONN, "not connected"},
    {EAGAIN, "temporary failure"},
    {EADDRNOTAVAIL, "address not available"},
    {EPROTO, "protocol error"},
    {ENOTSUP, "no common API version"},
    {ENOBUFS, "buffer full"},
    {EINVAL, "invalid argument"},
    {ENOENT, "no such partition"},
    {ENOMEM, "out of memory"},
    {ECANCELED, "cancelled"},
};

const char *kclient_err_name(int err) {
  if (err == 0)
    return "NONE";
  if (err > 0) {
    const char *n = kerr_name(err);
    return strcmp(n, "UNKNOWN") != 0 ? n : "UNKNOWN_KAFKA_ERROR";
  }
  for (size_t i = 0; i < G_N_ELEMENTS(kclient__errno_names); i++)
    if (kclient__errno_names[i].code == -err)
      return kclient__errno_names[i].name;
  return "system error";
}

bool kclient_err_retriable(int err) {
  if (err < 0) {
    switch (-err) {
    case ECONNREFUSED:
    case ECONNRESET:
    case ECONNABORTED:
    case ETIMEDOUT:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EPIPE:
    case ENOTCONN:
    case EAGAIN:
    case ENOBUFS:
      return true;
    default:
      return false;
    }
  }
  switch (err) {
  case KERR_UNKNOWN_TOPIC_OR_PARTITION:
  case KERR_LEADER_NOT_AVAILABLE:
  case KERR_NOT_LEADER_OR_FOLLOWER:
  case KERR_REQUEST_TIMED_OUT:
  case KERR_NOT_ENOUGH_REPLICAS:
  case KERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
  case KERR_KAFKA_STORAGE_ERROR:
  case KERR_FENCED_LEADER_EPOCH:
  case KERR_UNKNOWN_LEADER_EPOCH:
  case KERR_NETWORK_EXCEPTION:
  case KERR_COORDINATOR_LOAD_IN_PROGRESS:
  case KERR_COORDINATOR_NOT_AVAILABLE:
  case KERR_NOT_COORDINATOR:
  case KERR_NOT_CONTROLLER:
  case KERR_CONCURRENT_TRANSACTIONS:
  case KERR_THROTTLING_QUOTA_EXCEEDED:
  case 100: /* UNKNOWN_TOPIC_ID */
    return true;
  default:
    return false;
  }
}

bool kclient__err_needs_refresh(int err) {
  if (err < 0)
    return kclient_err_retriable(err) && err != -ENOBUFS;
  switch (err) {
  case KERR_UNKNOWN_TOPIC_OR_PARTITION:
  case KERR_LEADER_NOT_AVAILABLE:
  case KERR_NOT_LEADER_OR_FOLLOWER:
  case KERR_FENCED_LEADER_EPOCH:
  case KERR_UNKNOWN_LEADER_EPOCH:
  case KERR_NOT_CONTROLLER:
  case KERR_NETWORK_EXCEPTION:
  case 100:
    return true;
  default:
    return false;
  }
}

void kclient__errmsg(char *out, int err, const char *fmt, ...) {
  if (!out)
    return;
  if (err == 0 && !fmt) {
    out[0] = '\0';
    return;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(out, KCLIENT_ERRMSG_BYTES, fmt, ap);
  va_end(ap);
}

/* ------------------------------------------------------------- config */

void kclient_config_default(kclient_config *cfg) {
  SL_ASSERT(cfg);
  memset(cfg, 0, sizeof *cfg);
  cfg->client_id = "sluice";
  cfg->request_timeout_ms = 30000;
  cfg->op_timeout_ms = 60000;
  cfg->retry_backoff_ms = 100;
  cfg->retry_backoff_max_ms = 1000;
  cfg->reconnect_backoff_ms = 50;
  cfg->reconnect_backoff_max_ms = 1000;
  cfg->connect_failures_max = 3;
  cfg->metadata_max_age_ms = 300000;
  cfg->in_flight_max = 5;
  cfg->acks = -1;
  cfg->linger_ms = 5;
  cfg->batch_bytes = 16384;
  cfg->compression = BATCH_CODEC_NONE;
  cfg->delivery_timeout_ms = 120000;
  cfg->buffer_bytes_max = (size_t)32 << 20;
  cfg->request_bytes_max = (uint32_t)1 << 20;
}

int kclient_parse_hostport(const char *s, size_t len, char *host,
                           size_t host_bytes, uint16_t *port) {
  SL_ASSERT(s && host && port && host_bytes > 0);
  const char *colon = NULL;
  const char *hs = s, *he;
  if (len > 0 && s[0] == '[') { /* [v6]:port */
    const char *close = memchr(s, ']', len);
    if (!close || (size_t)(close - s) + 1 >= len || close[1] != ':')
      return -EINVAL;
    hs = s + 1;
    he = close;
    colon = close + 1;
  } else {
    for (size_t i = len; i > 0; i--)
      if (s[i - 1] == ':') {
        colon = s + i - 1;
        break;
      }
    if (!colon)
      return -EINVAL;
    he = colon;
  }
  size_t host_len = (size_t)(he - hs);
  if (host_len == 0 || host_len >= host_bytes)
    return -EINVAL;
  const char *ps = colon + 1, *pe = s + len;
  if (ps >= pe || pe - ps > 5)
    return -EINVAL;
  uint32_t p = 0;
  for (const char *q = ps; q < pe; q++) {
    if (*q < '0' || *q > '9')
      return -EINVAL;
    p = p * 10 + (uint32_t)(*q - '0');
  }
  if (p == 0 || p > 65535)
    return -EINVAL;
  memcpy(host, hs, host_len);
  host[host_len] = '\0';
  *port = (uint16_t)p;
  return 0;
}

static int kclient__config_check(const kclient_config *cfg, char *errmsg) {
  if (!cfg->bootstrap_servers || !cfg->bootstrap_servers[0]) {
    kclient__errmsg(errmsg, -EINVAL, "no bootstrap servers given");
    return -EINVAL;
  }
  if (cfg->acks != -1 && cfg->acks != 0 && cfg->acks != 1) {
    kclient__errmsg(errmsg, -EINVAL, "acks must be -1, 0 or 1, not %d",
                    cfg->acks);
    return -EINVAL;
  }
  if (cfg->in_flight_max < 1 || cfg->in_flight_max > KCLIENT_IN_FLIGHT_MAX) {
    kclient__errmsg(errmsg, -EINVAL, "in_flight_max must be 1..%d",
                    KCLIENT_IN_FLIGHT_MAX);
    return -EINVAL;
  }
  if ((unsigned)cfg->compression > BATCH_CODEC_ZSTD) {
    kclient__errmsg(errmsg, -EINVAL, "unknown compression codec %d",
                    (int)cfg->compression);
    return -EINVAL;
  }
  if (cfg->batch_bytes == 0 || cfg->request_bytes_max < 1024 ||
      cfg->buffer_bytes_max == 0 || cfg->request_timeout_ms == 0 ||
      cfg->op_timeout_ms == 0 || cfg->delivery_timeout_ms == 0 ||
      cfg->connect_failures_max == 0) {
    kclient__errmsg(errmsg, -EINVAL,
                    "batch_bytes, buffer_bytes_max, timeouts and "
                    "connect_failures_max must be > 0, request_bytes_max "
                    ">= 1024");
    return -EINVAL;
  }
  if (cfg->client_id && strlen(cfg->client_id) > INT16_MAX) {
    kclient__errmsg(errmsg, -EINVAL, "client_id too long");
    return -EINVAL;
  }
  return 0;
}

/* -------------------------------------------------------------- brokers */

static kclient__broker *kclient__broker_add(kclient_t *c, int32_t node_id,
                                            const char *host, uint16_t port) {
  if (c->brokers->len >= KCLIENT_BROKERS_MAX)
    return NULL;
  kclient__broker *b = g_new0(kclient__broker, 1);
  b->node_id = node_id;
  b->host = g_strdup(host);
  b->port = port;
  /* Bootstrap entries stay first, in config order; real brokers follow,
   * sorted by id, so every walk over brokers is deterministic. */
  guint at = c->brokers->len;
  if (node_id >= 0) {
    for (guint i = 0; i < c->brokers->len; i++) {
      kclient__broker *o = g_ptr_array_index(c->brokers, i);
      if (o->node_id >= 0 && o->node_id > node_id) {
        at = i;
        break;
      }
    }
  }
  g_ptr_array_insert(c->brokers, (gint)at, b);
  return b;
}

static void kclient__broker_free(kclient__broker *b) {
  for (int l = 0; l < KCLIENT__LANES; l++)
    kclient__conn_free(b->conns[l]);
  g_free(b->host);
  g_free(b->rack);
  g_free(b);
}

kclient__broker *kclient__broker_find(kclient_t *c, int32_t node_id) {
  for (guint i = 0; i < c->brokers->len; i++) {
    kclient__broker *b = g_ptr_array_index(c->brokers, i);
    if (b->node_id == node_id)
      return b;
  }
  return NULL;
}

/* Candidates for "any broker": brokers the last metadata listed, or the
 * bootstrap addresses while none is known. */
static bool kclient__candidate(kclient_t *c, const kclient__broker *b,
                               bool have_listed) {
  return have_listed ? b->listed : b->node_id < 0;
}

static bool kclient__have_listed(kclient_t *c) {
  for (guint i = 0; i < c->brokers->len; i++)
    if (((kclient__broker *)g_ptr_array_index(c->brokers, i))->listed)
      return true;
  return false;
}

/* Lower is better: ready connections by load, then connecting ones, then
 * ones that may reconnect now, then ones still backing off. */
static uint64_t kclient__broker_score(kclient_t *c, kclient__broker *b,
                                      uint64_t now_ns) {
  kclient__conn *conn = b->conns[KCLIENT__LANE_MAIN];
  if (!conn)
    return 2000;
  switch (conn->state) {
  case KCLIENT__CONN_READY:
    return kclient__conn_load(conn);
  case KCLIENT__CONN_CONNECTING:
    return 1000 + kclient__conn_load(conn);
  case KCLIENT__CONN_DOWN:
  default:
    if (conn->reconnect_at_ns <= now_ns)
      return 2000 + b->connect_failures;
    return 3000 + (conn->reconnect_at_ns - now_ns) / KCLIENT__NS_PER_MS;
  }
}

kclient__broker *kclient__pick_broker(kclient_t *c) {
  bool have_listed = kclient__have_listed(c);
  guint n = c->brokers->len;
  if (n == 0)
    return NULL;
  uint64_t now = kclient__now_ns(c);
  kclient__broker *best = NULL;
  uint64_t best_score = UINT64_MAX;
  guint start = c->pick_next++ % n;
  for (guint k = 0; k < n; k++) {
    kclient__broker *b = g_ptr_array_index(c->brokers, (start + k) % n);
    if (!kclient__candidate(c, b, have_listed))
      continue;
    uint64_t s = kclient__broker_score(c, b, now);
    if (s < best_score) {
      best = b;
      best_score = s;
    }
  }
  return best;
}

bool kclient__all_brokers_failing(kclient_t *c, int *err, char *errmsg) {
  bool have_listed = kclient__have_listed(c);
  kclient__broker *first = NULL;
  for (guint i = 0; i < c->brokers->len; i++) {
    kclient__broker *b = g_ptr_array_index(c->brokers, i);
    if (!kclient__candidate(c, b, have_listed))
      continue;
    if (b->connect_failures < c->cfg.connect_failures_max)
      return false;
    if (!first)
      first = b;
  }
  if (!first)
    return false;
  *err = first->last_err ? first->last_err : -ECONNREFUSED;
  g_strlcpy(errmsg, first->last_errmsg, KCLIENT_ERRMSG_BYTES);
  return true;
}

/* --------------------------------------------------------------- topics */

kclient__topic *kclient__topic_find(kclient_t *c, const char *name) {
  return g_hash_table_lookup(c->topics, name);
}

kclient__topic *kclient__topic_get(kclient_t *c, const char *name) {
  kclient__topic *t = kclient__topic_find(c, name);
  if (t)
    return t;
  t = g_new0(kclient__topic, 1);
  t->name = g_strdup(name);
  t->partition_count = -1;
  t->sticky_partition = -1;
  t->pparts = g_ptr_array_new();
  g_queue_init(&t->waiting);
  g_hash_table_insert(c->topics, t->name, t);
  g_ptr_array_add(c->topic_list, t);
  return t;
}

static void kclient__topic_free(kclient__topic *t) {
  kclient__topic_free_producer(t);
  g_ptr_array_free(t->pparts, TRUE);
  g_free(t->parts);
  g_free(t->name);
  g_free(t);
}

bool kclient__topic_missing(kclient_t *c, const kclient__topic *t) {
  return !t->metadata_known && t->err == KERR_UNKNOWN_TOPIC_OR_PARTITION &&
         t->unknown_answers >= KCLIENT__UNKNOWN_TOPIC_TRIES &&
         kclient__now_ns(c) - t->unknown_since_ns >=
             (uint64_t)KCLIENT__UNKNOWN_TOPIC_GRACE_MS * KCLIENT__NS_PER_MS;
}

int32_t kclient__leader(kclient__topic *t, int32_t partition) {
  if (!t || !t->metadata_known || partition < 0 ||
      partition >= t->partition_count)
    return -1;
  return t->parts[partition].leader;
}

/* ---------------------------------------------------------- event guard */

uint64_t kclient__now_ns(kclient_t *c) { return env_now_ns(c->env); }

uint64_t kclient__backoff_ns(kclient_t *c, uint32_t base_ms, uint32_t max_ms,
                             uint32_t attempt) {
  uint64_t ms = base_ms ? base_ms : 1;
  for (uint32_t i = 1; i < attempt && ms < max_ms; i++)
    ms *= 2;
  if (ms > max_ms && max_ms > 0)
    ms = max_ms;
  uint64_t ns = ms * KCLIENT__NS_PER_MS;
  /* +-20% so many clients do not retry in lockstep. */
  double f = 0.8 + 0.4 * env_rand_double(c->env);
  return (uint64_t)((double)ns * f) + 1;
}

void kclient__enter(kclient_t *c) { c->busy++; }

void kclient__leave(kclient_t *c) {
  SL_ASSERT(c->busy > 0);
  if (c->busy == 1) {
    for (;;) {
      if (c->deferred->len > 0) {
        kclient__deferred d = g_array_index(c->deferred, kclient__deferred, 0);
        g_array_remove_index(c->deferred, 0);
        d.fn(d.arg);
        continue;
      }
      if (c->drain_wanted) {
        c->drain_wanted = false;
        kclient__producer_drain(c);
        continue;
      }
      break;
    }
  }
  c->busy--;
}

static void kclient__defer_fired(void *arg) {
  kclient_t *c = arg;
  c->defer_timer = 0;
  kclient__enter(c);
  kclient__leave(c);
}

void kclient__defer(kclient_t *c, void (*fn)(void *), void (*drop)(void *),
                    void *arg) {
  kclient__deferred d = {fn, drop, arg};
  g_array_append_val(c->deferred, d);
  if (c->busy == 0 && !c->defer_timer)
    c->defer_timer = env_timer_start(c->env, 0, kclient__defer_fired, c);
}

static void kclient__kick_run(void *arg) {
  kclient_t *c = arg;
  kclient__ops_metadata_updated(c);
  kclient__consumers_kick(c);
  c->drain_wanted = true;
}

void kclient__kick(kclient_t *c) {
  /* Coalesce: one pending kick is enough. */
  for (guint i = 0; i < c->deferred->len; i++)
    if (g_array_index(c->deferred, kclient__deferred, i).fn ==
        kclient__kick_run)
      return;
  kclient__defer(c, kclient__kick_run, NULL, c);
}

/* ------------------------------------------------------------ lifecycle */

static int kclient__parse_bootstrap(kclient_t *c, char *errmsg) {
  gchar **parts = g_strsplit(c->cfg.bootstrap_servers, ",", -1);
  int rc = 0;
  int32_t next_id = -1;
  for (gchar **p = parts; *p; p++) {
    gchar *s = g_strstrip(*p);
    if (!*s)
      continue;
    char host[256];
    uint16_t port;
    if (kclient_parse_hostport(s, strlen(s), host, sizeof host, &port) != 0) {
      kclient__errmsg(errmsg, -EINVAL,
                      "bad bootstrap server '%s' (expected host:port)", s);
      rc = -EINVAL;
      break;
    }
    if (!kclient__broker_add(c, next_id--, host, port)) {
      kclient__errmsg(errmsg, -EINVAL, "too many bootstrap servers");
      rc = -EINVAL;
      break;
    }
  }
  g_strfreev(parts);
  if (rc == 0 && c->brokers->len == 0) {
    kclient__errmsg(errmsg, -EINVAL, "no bootstrap servers given");
    rc = -EINVAL;
  }
  return rc;
}

int kclient_new(env_t *env, const kclient_config *cfg, kclient_t **out,
                char *errmsg) {
  SL_ASSERT(env && cfg && out);
  *out = NULL;
  kclient__errmsg(errmsg, 0, NULL);
  int rc = kclient__config_check(cfg, errmsg);
  if (rc)
    return rc;
  kclient_t *c = g_new0(kclient_t, 1);
  c->env = env;
  c->cfg = *cfg;
  c->bootstrap_copy = g_strdup(cfg->bootstrap_servers);
  c->cfg.bootstrap_servers = c->bootstrap_copy;
  c->client_id = g_strdup(cfg->client_id ? cfg->client_id : "sluice");
  c->cfg.client_id = c->client_id;
  if (c->cfg.idempotence) {
    c->cfg.acks = -1;
    if (c->cfg.in_flight_max > KCLIENT_IDEMPOTENT_IN_FLIGHT_MAX)
      c->cfg.in_flight_max = KCLIENT_IDEMPOTENT_IN_FLIGHT_MAX;
  }
  c->deferred = g_array_new(FALSE, FALSE, sizeof(kclient__deferred));
  c->brokers = g_ptr_array_new();
  c->controller_id = -1;
  c->topic_list = g_ptr_array_new();
  c->topics = g_hash_table_new(g_str_hash, g_str_equal);
  g_queue_init(&c->ops);
  g_queue_init(&c->preqs);
  c->consumers = g_ptr_array_new();
  c->flush_waiters = g_array_new(FALSE, FALSE, sizeof(kclient__flush_waiter));
  proto_pieces_init(&c->send_pieces, KCLIENT__SEND_PIECE_MIN_BYTES);
  c->producer_id = -1;
  c->producer_epoch = -1;
  rc = kclient__parse_bootstrap(c, errmsg);
  if (rc)
    goto out_free_client;
  *out = c;
  return 0;

out_free_client:
  kclient_free(c);
  return rc;
}

void kclient_free(kclient_t *c) {
  if (!c)
    return;
  SL_ASSERT(c->busy == 0);
  SL_ASSERT(c->consumers->len == 0);
  while (!g_queue_is_empty(&c->ops))
    kclient__op_cancel(g_queue_peek_head(&c->ops));
  c->md_op = NULL;
  kclient__producer_free(c);
  /* Connections fail their requests silently (err 0 = closing). */
  for (guint i = 0; i < c->brokers->len; i++) {
    kclient__broker *b = g_ptr_array_index(c->brokers, i);
    for (int l = 0; l < KCLIENT__LANES; l++)
      if (b->conns[l])
        kclient__conn_reset(b->conns[l], 0, NULL);
  }
  for (guint i = 0; i < c->topic_list->len; i++)
    kclient__topic_free(g_ptr_array_index(c->topic_list, i));
  for (guint i = 0; i < c->brokers->len; i++)
    kclient__broker_free(g_ptr_array_index(c->brokers, i));
  for (guint i = 0; i < c->deferred->len; i++) {
    kclient__deferred *d = &g_array_index(c->deferred, kclient__deferred, i);
    if (d->drop)
      d->drop(d->arg);
  }
  if (c->defer_timer)
    env_timer_cancel(c->env, c->defer_timer);
  if (c->md_timer)
    env_timer_cancel(c->env, c->md_timer);
  g_array_free(c->deferred, TRUE);
  g_ptr_array_free(c->brokers, TRUE);
  g_ptr_array_free(c->topic_list, TRUE);
  g_hash_table_destroy(c->topics);
  g_ptr_array_free(c->consumers, TRUE);
  g_array_free(c->flush_waiters, TRUE);
  proto_pieces_free(&c->send_pieces);
  g_free(c->cluster_id);
  g_free(c->bootstrap_copy);
  g_free(c->client_id);
  g_free(c);
}

env_t *kclient_env(kclient_t *c) { return c->env; }

void kclient_get_stats(kclient_t *c, kclient_stats *out) {
  SL_ASSERT(c && out);
  *out = c->stats;
}

/* ----------------------------------------------------------- operations */

static void kclient__op_attempt(kclient__op *op);

static void kclient__op_timer_fired(void *arg) {
  kclient__op *op = arg;
  kclient_t *c = op->c;
  op->timer = 0;
  kclient__enter(c);
  kclient__op_attempt(op);
  kclient__leave(c);
}

kclient__op *kclient__op_new(kclient_t *c, const kclient__op_vt *vt, void *ctx,
                             void *user_cb, void *user_arg) {
  kclient__op *op = g_new0(kclient__op, 1);
  op->c = c;
  op->vt = vt;
  op->ctx = ctx;
  op->user_cb = user_cb;
  op->user_arg = user_arg;
  op->deadline_ns =
      kclient__now_ns(c) + (uint64_t)c->cfg.op_timeout_ms * KCLIENT__NS_PER_MS;
  op->link.data = op;
  return op;
}

void kclient__op_start(kclient__op *op) {
  /* Always on a later turn, so the outcome never runs inside the call
   * that started the operation. */
  g_queue_push_tail_link(&op->c->ops, &op->link);
  op->timer = env_timer_start(op->c->env, 0, kclient__op_timer_fired, op);
}

static void kclient__op_release(kclient__op *op, bool run_finish) {
  kclient_t *c = op->c;
  op->done = true;
  g_queue_unlink(&c->ops, &op->link);
  if (op->timer)
    env_timer_cancel(c->env, op->timer);
  op->timer = 0;
  if (op->req)
    kclient__req_cancel(op->req);
  op->req = NULL;
  if (run_finish && op->vt->finish)
    op->vt->finish(op);
  if (op->vt->free_ctx)
    op->vt->free_ctx(op);
  g_free(op);
}

static void kclient__op_finish(kclient__op *op) {
  kclient__op_release(op, true);
}

void kclient__op_cancel(kclient__op *op) {
  if (op)
    kclient__op_release(op, false);
}

static void kclient__op_retry_later(kclient__op *op) {
  kclient_t *c = op->c;
  uint64_t delay = kclient__backoff_ns(c, c->cfg.retry_backoff_ms,
                                       c->cfg.retry_backoff_max_ms,
                                       op->attempts ? op->attempts : 1);
  uint64_t now = kclient__now_ns(c);
  if (now + delay > op->deadline_ns)
    delay = op->deadline_ns > now ? op->deadline_ns - now : 0;
  SL_ASSERT(op->timer == 0);
  op->timer = env_timer_start(c->env, delay, kclient__op_timer_fired, op);
}

static void kclient__op_on_response(void *ctx, int err, const char *errmsg,
                                    int16_t version, void *body) {
  kclient__op *op = ctx;
  kclient_t *c = op->c;
  op->req = NULL;
  kclient__op_action action;
  if (err) {
    op->err = err;
    g_strlcpy(op->errmsg, errmsg, sizeof op->errmsg);
    action =
        kclient_err_retriable(err) ? KCLIENT__OP_REFRESH : KCLIENT__OP_DONE;
    int e2;
    char m2[KCLIENT_ERRMSG_BYTES];
    if (action != KCLIENT__OP_DONE && op->fail_fast && err != -ENOBUFS &&
        kclient__all_brokers_failing(c, &e2, m2))
      action = KCLIENT__OP_DONE;
  } else {
    op->err = 0;
    op->errmsg[0] = '\0';
    action = op->vt->handle(op, version, body);
  }
  if (action == KCLIENT__OP_DONE) {
    kclient__op_finish(op);
    return;
  }
  c->stats.retries++;
  env_log(c->env, ENV_LOG_DEBUG, "kclient: %s: retrying after %s", op->vt->name,
          op->errmsg[0] ? op->errmsg : kclient_err_name(op->err));
  if (action == KCLIENT__OP_REFRESH && op->vt->api_key != PROTO_API_METADATA) {
    op->waiting_metadata = true;
    kclient__metadata_refresh(c);
  }
  kclient__op_retry_later(op);
}

static void kclient__op_attempt(kclient__op *op) {
  kclient_t *c = op->c;
  op->waiting_metadata = false;
  uint64_t now = kclient__now_ns(c);
  if (op->attempts > 0 && now >= op->deadline_ns) {
    if (!op->err)
      op->err = -ETIMEDOUT;
    char last[KCLIENT_ERRMSG_BYTES];
    g_strlcpy(last, op->errmsg[0] ? op->errmsg : kclient_err_name(op->err),
              sizeof last);
    kclient__errmsg(op->errmsg, op->err, "%s timed out after %u ms (%s)",
                    op->vt->name, c->cfg.op_timeout_ms, last);
    kclient__op_finish(op);
    return;
  }
  int32_t node = op->vt->route(op);
  if (node == KCLIENT__ROUTE_FAIL) {
    kclient__op_finish(op);
    return;
  }
  kclient__broker *b = NULL;
  if (node == KCLIENT__ROUTE_ANY) {
    if (op->fail_fast) {
      int err;
      char msg[KCLIENT_ERRMSG_BYTES];
      if (kclient__all_brokers_failing(c, &err, msg)) {
        op->err = err;
        g_strlcpy(op->errmsg, msg, sizeof op->errmsg);
        kclient__op_finish(op);
        return;
      }
    }
    b = kclient__pick_broker(c);
  } else if (node != KCLIENT__ROUTE_WAIT) {
    b = kclient__broker_find(c, node);
  }
  op->attempts++;
  if (!b) {
    /* Leader or broker unknown: refresh and look again (a metadata answer
     * retries at once, the timer bounds the wait). */
    if (!op->err) {
      op->err = KERR_LEADER_NOT_AVAILABLE;
      kclient__errmsg(op->errmsg, op->err, "%s: no leader or broker known",
                      op->vt->name);
    }
    op->waiting_metadata = true;
    kclient__metadata_refresh(c);
    kclient__op_retry_later(op);
    return;
  }
  if (!b->conns[KCLIENT__LANE_MAIN])
    b->conns[KCLIENT__LANE_MAIN] = kclient__conn_new(c, b, KCLIENT__LANE_MAIN);
  op->req = kclient__conn_submit(b->conns[KCLIENT__LANE_MAIN], op->vt->api_key,
                                 op->vt->build, kclient__op_on_response, op,
                                 false, 0);
}

void kclient__ops_metadata_updated(kclient_t *c) {
  /* Walk a snapshot: attempts may finish (and unlink) ops. */
  GPtrArray *waiting = g_ptr_array_new();
  for (GList *l = c->ops.head; l; l = l->next) {
    kclient__op *op = l->data;
    if (op->waiting_metadata && op->timer && !op->req)
      g_ptr_array_add(waiting, op);
  }
  for (guint i = 0; i < waiting->len; i++) {
    kclient__op *op = g_ptr_array_index(waiting, i);
    env_timer_cancel(c->env, op->timer);
    op->timer = 0;
    kclient__op_attempt(op);
  }
  g_ptr_array_free(waiting, TRUE);
}

/* ------------------------------------------------------------- metadata */

proto_metadata_req *kclient__metadata_req_build(kclient_t *c, int16_t version,
                                                proto_arena *a,
                                                const char *const *names,
                                                int32_t count,
                                                bool auto_create) {
  proto_metadata_req *req = PROTO_NEW(a, proto_metadata_req);
  if (!req)
    return NULL;
  if (!names) {
    req->topics.items = NULL;
    req->topics.count = -1; /* v1+: null = every topic */
  } else {
    req->topics.items = PROTO_NEW_ARRAY(a, proto_metadata_req_topic, count);
    if (!req->topics.items && count > 0)
      return NULL;
    req->topics.count = count;
    for (int32_t i = 0; i < count; i++)
      req->topics.items[i].name = proto_str_from(names[i]);
  }
  req->allow_auto_topic_creation = auto_create;
  req->include_topic_authorized_operations = false;
  req->include_cluster_authorized_operations = false;
  return req;
}

static void kclient__broker_update(kclient_t *c,
                                   const proto_metadata_resp_broker *rb) {
  if (rb->host.len <= 0 || rb->port <= 0 || rb->port > 65535 || rb->node_id < 0)
    return;
  kclient__broker *b = kclient__broker_find(c, rb->node_id);
  if (!b) {
    b = kclient__broker_add(c, rb->node_id, rb->host.data, (uint16_t)rb->port);
    if (!b)
      return;
  } else if (strcmp(b->host, rb->host.data) != 0 ||
             b->port != (uint16_t)rb->port) {
    env_log(c->env, ENV_LOG_INFO, "kclient: broker %d moved to %s:%d",
            (int)b->node_id, rb->host.data, (int)rb->port);
    g_free(b->host);
    b->host = g_strdup(rb->host.data);
    b->port = (uint16_t)rb->port;
    for (int l = 0; l < KCLIENT__LANES; l++)
      if (b->conns[l])
        kclient__conn_reset(b->conns[l], -ECONNRESET, "broker address changed");
  }
  g_free(b->rack);
  b->rack = rb->rack.len >= 0 ? g_strdup(rb->rack.data) : NULL;
  b->listed = true;
}

static void kclient__topic_update(kclient_t *c, kclient__topic *t,
                                  const proto_metadata_resp_topic *rt) {
  t->err = rt->error_code;
  if (rt->error_code != 0) {
    if (rt->error_code == KERR_UNKNOWN_TOPIC_OR_PARTITION) {
      if (t->unknown_answers++ == 0)
        t->unknown_since_ns = kclient__now_ns(c);
    } else {
      t->unknown_answers = 0;
    }
    for (int32_t p = 0; t->parts && p < t->partition_count; p++)
      t->parts[p].leader = -1;
    return;
  }
  t->unknown_answers = 0;
  int32_t count = 0;
  for (int32_t i = 0; i < rt->partitions.count; i++) {
    int32_t idx = rt->partitions.items[i].partition_index;
    if (idx >= 0 && idx < INT32_MAX && idx + 1 > count)
      count = idx + 1;
  }
  if (count > t->partition_count || !t->parts) {
    t->parts = g_renew(kclient__partition, t->parts, count ? count : 1);
    for (int32_t p = t->partition_count < 0 ? 0 : t->partition_count; p < count;
         p++)
      t->parts[p] = (kclient__partition){0, -1, -1};
  }
  if (count > t->partition_count)
    t->partition_count = count;
  for (int32_t p = 0; p < t->partition_count; p++)
    t->parts[p].leader = -1;
  for (int32_t i = 0; i < rt->partitions.count; i++) {
    const proto_metadata_resp_partition *rp = &rt->partitions.items[i];
    if (rp->partition_index < 0 || rp->partition_index >= t->partition_count)
      continue;
    kclient__partition *kp = &t->parts[rp->partition_index];
    kp->err = rp->error_code;
    kp->leader = rp->leader_id >= 0 ? rp->leader_id : -1;
    kp->leader_epoch = rp->leader_epoch;
  }
  t->metadata_known = t->partition_count > 0;
}

void kclient__metadata_apply(kclient_t *c, const proto_metadata_resp *resp,
                             int16_t version) {
  for (int32_t i = 0; i < resp->brokers.count; i++)
    kclient__broker_update(c, &resp->brokers.items[i]);
  if (resp->brokers.count > 0) {
    /* Brokers missing from the answer are no longer candidates. */
    for (guint i = 0; i < c->brokers->len; i++) {
      kclient__broker *b = g_ptr_array_index(c->brokers, i);
      bool listed = false;
      for (int32_t k = 0; k < resp->brokers.count; k++)
        listed |= resp->brokers.items[k].node_id == b->node_id;
      if (b->node_id >= 0)
        b->listed = listed;
    }
  }
  c->controller_id = version >= 1 ? resp->controller_id : -1;
  if (resp->cluster_id.len >= 0) {
    g_free(c->cluster_id);
    c->cluster_id = g_strdup(resp->cluster_id.data);
  }
  for (int32_t i = 0; i < resp->topics.count; i++) {
    const proto_metadata_resp_topic *rt = &resp->topics.items[i];
    if (rt->name.len <= 0)
      continue;
    kclient__topic *t = kclient__topic_find(c, rt->name.data);
    if (!t)
      continue;
    kclient__topic_update(c, t, rt);
    kclient__producer_topic_updated(c, t);
  }
  c->stats.metadata_refreshes++;
  env_trace(c->env, "client.metadata", "\"brokers\":%d,\"topics\":%d",
            (int)resp->brokers.count, (int)resp->topics.count);
  kclient__kick(c);
}

/* The background refresh: every topic in the cache. */
static int32_t kclient__refresh_route(kclient__op *op) {
  return KCLIENT__ROUTE_ANY;
}

static void *kclient__refresh_build(void *ctx, int16_t version,
                                    proto_arena *a) {
  kclient__op *op = ctx;
  kclient_t *c = op->c;
  guint n = c->topic_list->len;
  const char **names = proto_arena_alloc(a, sizeof(char *) * (n ? n : 1));
  if (!names)
    return NULL;
  for (guint i = 0; i < n; i++)
    names[i] = ((kclient__topic *)g_ptr_array_index(c->topic_list, i))->name;
  return kclient__metadata_req_build(c, version, a, names, (int32_t)n,
                                     c->cfg.allow_auto_create_topics);
}

static kclient__op_action kclient__refresh_handle(kclient__op *op,
                                                  int16_t version, void *body) {
  kclient__metadata_apply(op->c, body, version);
  return KCLIENT__OP_DONE;
}

static void kclient__refresh_start(kclient_t *c);

static void kclient__refresh_finish(kclient__op *op) {
  kclient_t *c = op->c;
  c->md_op = NULL;
  if (op->err == 0)
    c->md_ok_ns = kclient__now_ns(c);
  else
    env_log(c->env, ENV_LOG_DEBUG, "kclient: metadata refresh failed: %s",
            op->errmsg);
  /* Whoever waits decides about its own deadline. */
  kclient__kick(c);
  if (c->md_again) {
    c->md_again = false;
    kclient__metadata_refresh(c);
  }
}

static const kclient__op_vt kclient__refresh_vt = {
    .name = "metadata refresh",
    .api_key = PROTO_API_METADATA,
    .route = kclient__refresh_route,
    .build = kclient__refresh_build,
    .handle = kclient__refresh_handle,
    .finish = kclient__refresh_finish,
};

static void kclient__refresh_start(kclient_t *c) {
  c->md_last_ns = kclient__now_ns(c);
  c->md_op = kclient__op_new(c, &kclient__refresh_vt, NULL, NULL, NULL);
  /* A refresh gives up after one request timeout; whoever still needs it
   * asks again. */
  c->md_op->deadline_ns =
      c->md_last_ns + (uint64_t)c->cfg.request_timeout_ms * KCLIENT__NS_PER_MS;
  kclient__op_start(c->md_op);
}

static void kclient__md_timer_fired(void *arg) {
  kclient_t *c = arg;
  c->md_timer = 0;
  kclient__enter(c);
  kclient__metadata_refresh(c);
  kclient__leave(c);
}

void kclient__metadata_check_age(kclient_t *c) {
  uint64_t age_max = (uint64_t)c->cfg.metadata_max_age_ms * KCLIENT__NS_PER_MS;
  if (c->md_ok_ns && kclient__now_ns(c) - c->md_ok_ns > age_max)
    kclient__metadata_refresh(c);
}

void kclient__metadata_refresh(kclient_t *c) {
  if (c->md_op) {
    c->md_again = true;
    return;
  }
  if (c->md_timer)
    return;
  uint64_t now = kclient__now_ns(c);
  uint64_t min_gap = (uint64_t)c->cfg.retry_backoff_ms * KCLIENT__NS_PER_MS;
  if (c->md_last_ns && now < c->md_last_ns + min_gap) {
    c->md_timer = env_timer_start(c->env, c->md_last_ns + min_gap - now,
                                  kclient__md_timer_fired, c);
    return;
  }
  kclient__refresh_start(c);
}

/* ---------------------------------------------------------------- hash */

uint32_t kclient_murmur2_positive(const void *key, size_t len) {
  /* Kafka's Utils.murmur2 (seed 0x9747b28c), then toPositive. */
  const uint8_t *data = key;
  const uint32_t m = 0x5bd1e995u;
  const int r = 24;
  uint32_t h = 0x9747b28cu ^ (uint32_t)len;
  size_t len4 = len / 4;
  for (size_t i = 0; i < len4; i++) {
    size_t i4 = i * 4;
    uint32_t k = (uint32_t)data[i4] | ((uint32_t)data[i4 + 1] << 8) |
                 ((uint32_t)data[i4 + 2] << 16) |
                 ((uint32_t)data[i4 + 3] << 24);
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  size_t tail = len & ~(size_t)3;
  switch (len % 4) {
  case 3:
    h ^= (uint32_t)data[tail + 2] << 16;
    /* fall through */
  case 2:
    h ^= (uint32_t)data[tail + 1] << 8;
    /* fall through */
  case 1:
    h ^= (uint32_t)data[tail];
    h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return h & 0x7fffffffu;
}
