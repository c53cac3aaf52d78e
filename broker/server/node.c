/*
 * node.c — the broker node's life: start, background work, clean shutdown,
 * stop.
 *
 * Start (Kafka's KafkaServer.startup, for one node): make the log dirs,
 * check or write meta.properties (node.id and cluster.id must match what
 * the dirs were formatted with), load the topic metadata, open every
 * partition log from its checkpoints (recovering what was not flushed),
 * rebuild producer state, then listen.
 *
 * Background timers, Kafka's names: log.retention.check.interval.ms
 * (retention), log.flush.offset.checkpoint.interval.ms (recovery-point and
 * log-start-offset checkpoints, producer snapshots, producer expiration),
 * log.cleaner.backoff.ms (compaction of cleanup.policy=compact topics).
 *
 * Clean shutdown (Kafka's controlled shutdown without the controller):
 * stop listening, close connections, snapshot producer state, close every
 * log (flush), then write the checkpoints — after which a restart needs no
 * recovery scan. Stop frees whatever is left without waiting: after a
 * shutdown that is nothing in flight; after a crash, the env is dead and
 * nothing in flight will ever call back.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "base/assert.h"
#include "base/config.h"
#include "broker/server/broker_internal.h"

#define META_PROPERTIES "meta.properties"
#define RECOVERY_CKPT "recovery-point-offset-checkpoint"
#define START_CKPT "log-start-offset-checkpoint"
#define MS_TO_NS UINT64_C(1000000)

/* --------------------------------------------------------- bookkeeping */

static void shutdown_continue(broker_t *b);

void broker__op_begin(broker_t *b) { b->ops_in_flight++; }

void broker__op_end(broker_t *b) {
  SL_ASSERT(b->ops_in_flight > 0);
  b->ops_in_flight--;
  if (b->shutting_down && b->ops_in_flight == 0)
    shutdown_continue(b);
}

void *broker__op_alloc(broker_t *b, size_t size) {
  void *p = g_malloc0(size);
  g_hash_table_add(b->op_allocs, p);
  return p;
}

void broker__op_release(broker_t *b, void *p) {
  if (p && g_hash_table_remove(b->op_allocs, p))
    g_free(p);
}

/* ---------------------------------------------------------- checkpoints */

typedef struct ckpt_wait {
  broker_t *b;
  int pending;
  int status;
  broker_done_cb cb;
  void *arg;
} ckpt_wait;

static void on_ckpt_written(void *arg, int status) {
  ckpt_wait *w = arg;
  broker_t *b = w->b;
  if (status < 0 && w->status == 0)
    w->status = status;
  if (--w->pending > 0)
    return;
  broker_done_cb cb = w->cb;
  void *cb_arg = w->arg;
  int st = w->status;
  broker__op_release(b, w);
  if (cb)
    cb(cb_arg, st);
  broker__op_end(b);
}

/* Every partition in log dir d with its two checkpoint offsets. */
static void collect_offsets(broker_t *b, size_t d, GArray *rec, GArray *start) {
  GPtrArray *ts = broker__topics_sorted(b);
  for (guint i = 0; i < ts->len; i++) {
    broker__topic *t = g_ptr_array_index(ts, i);
    for (int32_t j = 0; j < t->partitions_live; j++) {
      broker__partition *p = g_ptr_array_index(t->partitions, j);
      if (p->dir_index != d)
        continue;
      log_offset_entry r = {t->name, p->index,
                            p->log ? log_recovery_point(p->log)
                                   : p->ckpt_recovery};
      log_offset_entry s = {t->name, p->index,
                            p->log ? log_start_offset(p->log) : p->ckpt_start};
      g_array_append_val(rec, r);
      g_array_append_val(start, s);
    }
  }
  g_ptr_array_unref(ts);
}

void broker__checkpoints_write(broker_t *b, broker_done_cb cb, void *arg) {
  ckpt_wait *w = broker__op_alloc(b, sizeof *w);
  w->b = b;
  w->cb = cb;
  w->arg = arg;
  w->pending = 0;
  broker__op_begin(b);
  for (size_t d = 0; d < b->cfg->log_dir_count; d++) {
    GArray *rec = g_array_new(FALSE, FALSE, sizeof(log_offset_entry));
    GArray *start = g_array_new(FALSE, FALSE, sizeof(log_offset_entry));
    collect_offsets(b, d, rec, start);
    w->pending += 2;
    log_checkpoint_write_offsets(b->recovery_ckpt[d],
                                 (log_offset_entry *)rec->data, rec->len,
                                 on_ckpt_written, w);
    log_checkpoint_write_offsets(b->start_ckpt[d],
                                 (log_offset_entry *)start->data, start->len,
                                 on_ckpt_written, w);
    g_array_free(rec, TRUE);
    g_array_free(start, TRUE);
  }
  /* log_checkpoint_write_offsets calls back on a later turn, never from
   * inside the call, so the count is complete before any callback. */
  SL_ASSERT(w->pending > 0);
}

/* --------------------------------------------------------------- timers */

typedef void (*each_partition_fn)(broker_t *b, broker__partition *p);

static void each_open_partition(broker_t *b, each_partition_fn fn) {
  GPtrArray *ts = broker__topics_sorted(b);
  for (guint i = 0; i < ts->len; i++) {
    broker__topic *t = g_ptr_array_index(ts, i);
    for (int32_t j = 0; j < t->partitions_live; j++) {
      broker__partition *p = g_ptr_array_index(t->partitions, j);
      if (p->log && !log_failed(p->log))
        fn(b, p);
    }
  }
  g_ptr_array_unref(ts);
}

static void retention_one(broker_t *b, broker__partition *p) {
  log_retention_stats st;
  memset(&st, 0, sizeof st);
  int err = log_retention_run(p->log, broker__now_ms(b), &st);
  if (err != KERR_NONE)
    env_log(b->env, ENV_LOG_ERROR, "retention on %s: %s", p->path,
            kerr_name(err));
  else if (st.segments_deleted > 0)
    env_log(b->env, ENV_LOG_INFO,
            "retention deleted %zu segments (%" PRIu64 " bytes) of %s",
            st.segments_deleted, st.bytes_deleted, p->path);
}

static void on_retention_timer(void *arg) {
  broker_t *b = arg;
  b->timer_retention = 0;
  each_open_partition(b, retention_one);
  b->timer_retention = env_timer_start(
      b->env, (uint64_t)b->cfg->retention_check_interval_ms * MS_TO_NS,
      on_retention_timer, b);
}

static void checkpoint_one(broker_t *b, broker__partition *p) {
  broker__producers_expire(b, p, broker__now_ms(b));
  (void)broker__producers_snapshot(b, p, NULL, NULL);
}

static void on_checkpoint_timer(void *arg) {
  broker_t *b = arg;
  b->timer_checkpoint = 0;
  each_open_partition(b, checkpoint_one);
  broker__checkpoints_write(b, NULL, NULL);
  b->timer_checkpoint = env_timer_start(
      b->env, (uint64_t)b->cfg->checkpoint_interval_ms * MS_TO_NS,
      on_checkpoint_timer, b);
}

static void on_compacted(void *arg, int status, const log_compact_stats *st) {
  broker_t *b = arg;
  if (status == 0 && st && st->records_removed > 0)
    env_log(b->env, ENV_LOG_INFO,
            "compaction removed %" PRIu64 " of %" PRIu64 " records",
            st->records_removed, st->records_read);
}

static void compact_one(broker_t *b, broker__partition *p) {
  if (!p->topic->settings.log.cleanup_compact)
    return;
  int rc = log_compact(p->log, broker__now_ms(b), log_end_offset(p->log),
                       on_compacted, b);
  if (rc < 0 && rc != -EBUSY)
    env_log(b->env, ENV_LOG_WARN, "compaction of %s: %s", p->path,
            g_strerror(-rc));
}

static void on_cleaner_timer(void *arg) {
  broker_t *b = arg;
  b->timer_cleaner = 0;
  each_open_partition(b, compact_one);
  b->timer_cleaner = env_timer_start(
      b->env, (uint64_t)b->cfg->cleaner_backoff_ms * MS_TO_NS,
      on_cleaner_timer, b);
}

static void timers_cancel(broker_t *b) {
  if (b->timer_retention)
    env_timer_cancel(b->env, b->timer_retention);
  if (b->timer_checkpoint)
    env_timer_cancel(b->env, b->timer_checkpoint);
  if (b->timer_cleaner)
    env_timer_cancel(b->env, b->timer_cleaner);
  b->timer_retention = b->timer_checkpoint = b->timer_cleaner = 0;
}

static void kick_cancel(broker_t *b) {
  if (b->shutdown_kick)
    env_timer_cancel(b->env, b->shutdown_kick);
  b->shutdown_kick = 0;
}

/* ------------------------------------------------------ meta.properties */

static const char base64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* 22 characters of URL-safe base64, like Kafka's Uuid.toString(). */
static char *cluster_id_new(broker_t *b) {
  const char *alphabet = base64url;
  uint8_t raw[16];
  for (int i = 0; i < 2; i++) {
    uint64_t v = env_rand_u64(b->env);
    for (int j = 0; j < 8; j++)
      raw[8 * i + j] = (uint8_t)(v >> (8 * j));
  }
  char *out = g_malloc0(23);
  uint32_t acc = 0;
  int bits = 0, k = 0;
  for (int i = 0; i < 16; i++) {
    acc = (acc << 8) | raw[i];
    bits += 8;
    while (bits >= 6) {
      out[k++] = alphabet[(acc >> (bits - 6)) & 63];
      bits -= 6;
    }
  }
  if (bits > 0)
    out[k++] = alphabet[(acc << (6 - bits)) & 63];
  return out;
}

static void on_meta_written(void *arg, int status) {
  broker__afile *f = arg;
  (void)status;
  (void)f;
}

static int meta_properties(broker_t *b) {
  const broker_config *cfg = b->cfg;
  char *cluster = cfg->cluster_id ? g_strdup(cfg->cluster_id) : NULL;
  bool missing[BROKER_LOG_DIRS_MAX] = {false};
  int rc = 0;
  for (size_t d = 0; d < cfg->log_dir_count && rc == 0; d++) {
    char *path = g_strdup_printf("%s/%s", cfg->log_dirs[d], META_PROPERTIES);
    char *text = NULL;
    size_t len = 0;
    int r = broker__read_file(b->env, path, BROKER_SMALL_FILE_BYTES_MAX, &text,
                              &len);
    if (r == -ENOENT) {
      missing[d] = true;
    } else if (r < 0) {
      env_log(b->env, ENV_LOG_ERROR, "cannot read %s: %s", path,
              g_strerror(-r));
      rc = r;
    } else {
      config_t *c = config_new();
      char err[256];
      int64_t node = -1;
      if (config_parse(c, text, len, err, sizeof err) < 0 ||
          config_get_i64(c, "node.id", -1, &node, err, sizeof err) < 0) {
        env_log(b->env, ENV_LOG_ERROR, "%s: %s", path, err);
        rc = -EINVAL;
      } else if (node >= 0 && node != cfg->node_id) {
        env_log(b->env, ENV_LOG_ERROR,
                "%s: stored node.id %" PRId64
                " does not match this broker's node.id %d",
                path, node, cfg->node_id);
        rc = -EINVAL;
      } else {
        const char *cid = config_get(c, "cluster.id");
        if (cid && cluster && strcmp(cid, cluster) != 0) {
          env_log(b->env, ENV_LOG_ERROR,
                  "%s: cluster.id %s does not match %s", path, cid, cluster);
          rc = -EINVAL;
        } else if (cid && !cluster) {
          cluster = g_strdup(cid);
        }
      }
      config_free(c);
    }
    g_free(text);
    g_free(path);
  }
  if (rc < 0) {
    g_free(cluster);
    return rc;
  }
  b->cluster_id = cluster ? cluster : cluster_id_new(b);
  char *content = g_strdup_printf("#\n#Written by sluice-broker\n"
                                  "cluster.id=%s\nnode.id=%d\nversion=1\n",
                                  b->cluster_id, cfg->node_id);
  for (size_t d = 0; d < cfg->log_dir_count; d++) {
    if (!missing[d])
      continue;
    broker__afile *f =
        broker__afile_new(b->env, cfg->log_dirs[d], META_PROPERTIES);
    g_ptr_array_add(b->oneshot_files, f);
    broker__afile_write(f, content, strlen(content), on_meta_written, f);
  }
  g_free(content);
  return 0;
}

/* ----------------------------------------------------------------- start */

static bool host_is_wildcard(const char *h) {
  return !h || !*h || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0;
}

static void on_boot_dir_synced(void *arg, int status) {
  broker_t *b = arg;
  if (status < 0)
    env_log(b->env, ENV_LOG_WARN, "fsync of a log dir at start: %s",
            g_strerror(-status));
  broker__op_end(b);
}

static void sync_dir(broker_t *b, const char *dir) {
  broker__op_begin(b);
  env_dir_fsync(b->env, dir, on_boot_dir_synced, b);
}

/* Names the previous run created in a log dir (and the log dir in its
 * parent) may never have been made durable: it can have stopped between
 * creating a partition directory and fsyncing the log dir, and a process
 * restart keeps the page cache but makes nothing durable. Nor are the
 * partition directories this start creates again (log_open) for topics
 * whose directory a crash lost. Sync them once the partitions are open and
 * before anything is served, so data flushed from now on cannot lose its
 * directory in a later crash (the simulator's broker-crash scenario found
 * both). */
static void sync_log_dir_names(broker_t *b, const char *dir) {
  char *parent = g_path_get_dirname(dir);
  sync_dir(b, parent);
  sync_dir(b, dir);
  g_free(parent);
}

/* Every advertised range must be one broker/proto can decode. */
static void check_api_table(void) {
  size_t n = 0;
  const broker__api *apis = broker__api_table(&n);
  for (size_t i = 0; i < n; i++) {
    const proto_message *m = proto_request_message(apis[i].api_key);
    SL_ASSERT(m && apis[i].handler);
    SL_ASSERT(proto_vrange_has(m->versions, apis[i].min_version) &&
              proto_vrange_has(m->versions, apis[i].max_version));
    SL_ASSERT(i == 0 || apis[i - 1].api_key < apis[i].api_key);
  }
}

static int boot(broker_t *b) {
  const broker_config *cfg = b->cfg;
  SL_ASSERT(cfg->log_dir_count >= 1 &&
            cfg->log_dir_count <= BROKER_LOG_DIRS_MAX);
  check_api_table();
  for (size_t d = 0; d < cfg->log_dir_count; d++) {
    int rc = env_mkdir(b->env, cfg->log_dirs[d]);
    if (rc < 0) {
      env_log(b->env, ENV_LOG_ERROR, "cannot create log dir %s: %s",
              cfg->log_dirs[d], g_strerror(-rc));
      return rc;
    }
    char *rp = g_strdup_printf("%s/%s", cfg->log_dirs[d], RECOVERY_CKPT);
    char *sp = g_strdup_printf("%s/%s", cfg->log_dirs[d], START_CKPT);
    b->recovery_ckpt[d] = log_checkpoint_new(b->env, rp);
    b->start_ckpt[d] = log_checkpoint_new(b->env, sp);
    g_free(rp);
    g_free(sp);
  }
  int rc = meta_properties(b);
  if (rc < 0)
    return rc;
  b->metadata_file = broker__afile_new(b->env, cfg->log_dirs[0],
                                       "sluice-topics");
  rc = broker__topics_load(b);
  if (rc < 0)
    return rc;
  /* Only now: opening a partition whose directory a crash took (its topic
   * survived in the metadata) creates the directory again, and that name
   * needs the same fsync. */
  for (size_t d = 0; d < cfg->log_dir_count; d++)
    sync_log_dir_names(b, cfg->log_dirs[d]);
  broker__groups_start(b);
  rc = env_listen(b->env, cfg->listen_host, cfg->listen_port,
                  broker__on_accept, b, &b->listener);
  if (rc < 0) {
    env_log(b->env, ENV_LOG_ERROR, "cannot listen on %s:%u: %s",
            cfg->listen_host, cfg->listen_port, g_strerror(-rc));
    return rc;
  }
  b->port = env_listener_port(b->listener);
  const char *adv = cfg->advertised_host;
  if (host_is_wildcard(adv))
    adv = host_is_wildcard(cfg->listen_host) ? env_node_name(b->env)
                                             : cfg->listen_host;
  b->advertised_host = g_strdup(adv);
  b->advertised_port = cfg->advertised_port ? cfg->advertised_port : b->port;
  return 0;
}

broker_t *broker_start(env_t *env, const broker_config *cfg) {
  SL_ASSERT(env && cfg);
  broker_t *b = g_new0(broker_t, 1);
  b->env = env;
  b->cfg = cfg;
  b->topics = g_hash_table_new(g_str_hash, g_str_equal);
  b->conns = g_hash_table_new(g_direct_hash, g_direct_equal);
  b->oneshot_files = g_ptr_array_new();
  b->op_allocs = g_hash_table_new(g_direct_hash, g_direct_equal);
  b->parked = g_hash_table_new(g_direct_hash, g_direct_equal);
  g_queue_init(&b->pid_waiters);
  g_queue_init(&b->produce_waits);
  buf_init(&b->out);
  buf_init(&b->batch_copy);
  buf_init(&b->scratch);
  if (boot(b) < 0) {
    broker_free(b);
    return NULL;
  }
  b->timer_retention = env_timer_start(
      env, (uint64_t)cfg->retention_check_interval_ms * MS_TO_NS,
      on_retention_timer, b);
  b->timer_checkpoint =
      env_timer_start(env, (uint64_t)cfg->checkpoint_interval_ms * MS_TO_NS,
                      on_checkpoint_timer, b);
  b->timer_cleaner = env_timer_start(
      env, (uint64_t)cfg->cleaner_backoff_ms * MS_TO_NS, on_cleaner_timer, b);
  env_log(env, ENV_LOG_INFO,
          "listening on %s:%u (advertised %s:%u), node.id %d, cluster %s, "
          "%u topics",
          *cfg->listen_host ? cfg->listen_host : "0.0.0.0", b->port,
          b->advertised_host, b->advertised_port, cfg->node_id, b->cluster_id,
          g_hash_table_size(b->topics));
  return b;
}

void broker_free(broker_t *b) {
  if (!b)
    return;
  timers_cancel(b);
  kick_cancel(b);
  env_listener_close(b->listener);
  b->listener = NULL;
  if (b->conns)
    broker__conns_close_all(b);
  g_queue_clear(&b->pid_waiters);
  broker__produce_waits_free(b);
  /* Before the parked requests: it cancels nothing, but its waiters point
   * at them. */
  group_coord_free(b->groups);
  b->groups = NULL;
  if (b->parked) {
    GHashTableIter it;
    gpointer k;
    g_hash_table_iter_init(&it, b->parked);
    while (g_hash_table_iter_next(&it, &k, NULL))
      broker__req_discard(k);
    g_hash_table_destroy(b->parked);
  }
  broker__topics_free(b);
  broker__afile_free(b->metadata_file);
  for (size_t d = 0; d < BROKER_LOG_DIRS_MAX; d++) {
    log_checkpoint_free(b->recovery_ckpt[d]);
    log_checkpoint_free(b->start_ckpt[d]);
  }
  if (b->oneshot_files) {
    for (guint i = 0; i < b->oneshot_files->len; i++)
      broker__afile_free(g_ptr_array_index(b->oneshot_files, i));
    g_ptr_array_free(b->oneshot_files, TRUE);
  }
  if (b->op_allocs) {
    GHashTableIter it;
    gpointer k;
    g_hash_table_iter_init(&it, b->op_allocs);
    while (g_hash_table_iter_next(&it, &k, NULL))
      g_free(k);
    g_hash_table_destroy(b->op_allocs);
  }
  if (b->conns)
    g_hash_table_destroy(b->conns);
  buf_free(&b->out);
  buf_free(&b->batch_copy);
  buf_free(&b->scratch);
  g_free(b->cluster_id);
  g_free(b->advertised_host);
  g_free(b);
}

/* -------------------------------------------------------------- shutdown */

enum {
  SHUTDOWN_CLOSING = 1,     /* snapshots written, logs closing */
  SHUTDOWN_CHECKPOINTS = 2, /* checkpoints being written */
  SHUTDOWN_DONE = 3,
};

static void on_final_checkpoints(void *arg, int status) {
  broker_t *b = arg;
  if (status < 0 && b->shutdown_status == 0)
    b->shutdown_status = status;
}

static void shutdown_continue(broker_t *b) {
  if (b->shutdown_phase == SHUTDOWN_CLOSING) {
    b->shutdown_phase = SHUTDOWN_CHECKPOINTS;
    broker__checkpoints_write(b, on_final_checkpoints, b);
    return;
  }
  if (b->shutdown_phase == SHUTDOWN_CHECKPOINTS) {
    b->shutdown_phase = SHUTDOWN_DONE;
    env_log(b->env, ENV_LOG_INFO, "shut down cleanly%s",
            b->shutdown_status ? " (with I/O errors)" : "");
    if (b->shutdown_cb)
      b->shutdown_cb(b->shutdown_arg, b->shutdown_status);
  }
}

static void on_shutdown_kick(void *arg) {
  broker_t *b = arg;
  b->shutdown_kick = 0;
  broker__op_end(b);
}

static void snapshot_one(broker_t *b, broker__partition *p) {
  (void)broker__producers_snapshot(b, p, NULL, NULL);
}

void broker_shutdown(broker_t *b, broker_done_cb cb, void *arg) {
  SL_ASSERT(b && !b->shutting_down);
  b->shutting_down = true;
  b->shutdown_cb = cb;
  b->shutdown_arg = arg;
  env_log(b->env, ENV_LOG_INFO, "shutting down");
  timers_cancel(b);
  env_listener_close(b->listener);
  b->listener = NULL;
  broker__conns_close_all(b);
  each_open_partition(b, snapshot_one);
  broker__partitions_close_all(b);
  b->shutdown_phase = SHUTDOWN_CLOSING;
  /* Continue on a later turn even if nothing is in flight. */
  broker__op_begin(b);
  b->shutdown_kick = env_timer_start(b->env, 0, on_shutdown_kick, b);
}

uint16_t broker_port(const broker_t *b) { return b->port; }

/* -------------------------------------------------------- observation */

static broker__partition *find_any_partition(const broker_t *b,
                                             const char *topic,
                                             int32_t index) {
  broker__topic *t = g_hash_table_lookup(b->topics, topic);
  if (!t || t->state != BROKER__TOPIC_LIVE || index < 0 ||
      index >= t->partitions_live)
    return NULL;
  return g_ptr_array_index(t->partitions, index);
}

int64_t broker_partition_end_offset(const broker_t *b, const char *topic,
                                    int32_t partition) {
  broker__partition *p = find_any_partition(b, topic, partition);
  return p && p->log ? log_end_offset(p->log) : -1;
}

int64_t broker_partition_start_offset(const broker_t *b, const char *topic,
                                      int32_t partition) {
  broker__partition *p = find_any_partition(b, topic, partition);
  return p && p->log ? log_start_offset(p->log) : -1;
}

bool broker_partition_offline(const broker_t *b, const char *topic,
                              int32_t partition) {
  broker__partition *p = find_any_partition(b, topic, partition);
  return p && p->log && log_failed(p->log);
}

/* ---------------------------------------------------------- node ops */

static void *node_start(env_t *env, void *config) {
  return broker_start(env, config);
}

static void node_stop(void *node) { broker_free(node); }

const env_node_ops broker_node_ops = {
    .kind = "broker",
    .start = node_start,
    .stop = node_stop,
};
