/*
 * topics.c — topics and partitions over the log dirs, and the metadata
 * file that makes them survive a restart.
 *
 * Kafka keeps topic metadata in its controller (the KRaft metadata log);
 * a single node keeps it in one small file, `sluice-topics`, in the first
 * log dir, replaced atomically (afile.c). A change becomes visible to
 * clients only once that file is durable — the way a topic appears in Kafka
 * only once the controller committed it:
 *
 *   create:  topic added as CREATING (invisible) -> file durable -> logs
 *            opened (directories created) -> LIVE, reply;
 *   delete:  topic marked DELETING (invisible at once) -> file durable ->
 *            reply; meanwhile its logs close; then each partition
 *            directory is renamed `<topic>-<p>.<id>-delete` and removed;
 *   add partitions, alter configs: the same "durable, then act" order; a
 *            config change reopens the partition logs with the new config
 *            (the log takes its config at open).
 *
 * So at start every partition directory either belongs to a topic in the
 * file or is left over from a deletion that completed; a leftover
 * `-delete` directory is removed, any other unknown one is renamed
 * `<name>.<id>-stray` and kept for the operator (Kafka 3.7 does the same).
 * Only when the file does not exist at all (first start on old data) are
 * the partition directories found adopted as topics with default configs.
 *
 * The file (text, sorted, so equal states give equal bytes):
 *   sluice-topics 1
 *   producer-id-block <first id not yet handed out>
 *   topic <name> <32 hex digit id> <partitions>
 *   config <topic> <name> <value>
 *   crc <8 hex digits: CRC-32C of everything above>
 *
 * A partition's directory lives in the log dir where it is found at start,
 * or, for a new partition, in the log dir holding the fewest partitions.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "base/assert.h"
#include "base/crc32c.h"
#include "broker/server/broker_internal.h"

#define METADATA_FILE "sluice-topics"
#define METADATA_MAGIC "sluice-topics 1"

/* ---------------------------------------------------------------- names */

bool broker__topic_name_valid(const char *name, size_t len) {
  if (len == 0 || len > BROKER_TOPIC_NAME_BYTES_MAX)
    return false;
  if ((len == 1 && name[0] == '.') ||
      (len == 2 && name[0] == '.' && name[1] == '.'))
    return false;
  for (size_t i = 0; i < len; i++) {
    char ch = name[i];
    if (!g_ascii_isalnum(ch) && ch != '.' && ch != '_' && ch != '-')
      return false;
  }
  return true;
}

static void uuid_hex(const proto_uuid *id, char out[33]) {
  for (int i = 0; i < 16; i++)
    snprintf(out + 2 * i, 3, "%02x", id->bytes[i]);
}

static bool uuid_parse(const char *s, proto_uuid *id) {
  if (strlen(s) != 32)
    return false;
  for (int i = 0; i < 16; i++) {
    int hi = g_ascii_xdigit_value(s[2 * i]);
    int lo = g_ascii_xdigit_value(s[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return false;
    id->bytes[i] = (uint8_t)(hi << 4 | lo);
  }
  return true;
}

static void uuid_random(broker_t *b, proto_uuid *id) {
  do {
    uint64_t hi = env_rand_u64(b->env), lo = env_rand_u64(b->env);
    for (int i = 0; i < 8; i++) {
      id->bytes[i] = (uint8_t)(hi >> (56 - 8 * i));
      id->bytes[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
    }
  } while (broker__topic_find_id(b, id) != NULL);
}

/* ------------------------------------------------------------ structures */

static gint cmp_str(gconstpointer a, gconstpointer b, gpointer unused) {
  (void)unused;
  return strcmp(a, b);
}

static GTree *overrides_new(void) {
  return g_tree_new_full(cmp_str, NULL, g_free, g_free);
}

static broker__topic *topic_new(broker_t *b, const char *name,
                                const proto_uuid *id) {
  broker__topic *t = g_new0(broker__topic, 1);
  t->b = b;
  t->name = g_strdup(name);
  t->id = *id;
  t->state = BROKER__TOPIC_CREATING;
  t->partitions = g_ptr_array_new();
  t->overrides = overrides_new();
  broker__topic_settings_default(b->cfg, &t->settings);
  return t;
}

static size_t dir_load(broker_t *b, size_t dir_index) {
  size_t n = 0;
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init(&it, b->topics);
  while (g_hash_table_iter_next(&it, NULL, &v)) {
    broker__topic *t = v;
    for (guint i = 0; i < t->partitions->len; i++) {
      broker__partition *p = g_ptr_array_index(t->partitions, i);
      if (p->path && p->dir_index == dir_index)
        n++;
    }
  }
  return n;
}

/* The log dir with the fewest partitions (the first on a tie). */
static size_t choose_dir(broker_t *b) {
  size_t best = 0, best_n = SIZE_MAX;
  for (size_t d = 0; d < b->cfg->log_dir_count; d++) {
    size_t n = dir_load(b, d);
    if (n < best_n) {
      best = d;
      best_n = n;
    }
  }
  return best;
}

static void partition_place(broker_t *b, broker__partition *p,
                            size_t dir_index) {
  g_free(p->path);
  p->dir_index = dir_index;
  p->path = g_strdup_printf("%s/%s-%d", b->cfg->log_dirs[dir_index],
                            p->topic->name, p->index);
}

static broker__partition *partition_new(broker__topic *t, int32_t index) {
  broker__partition *p = g_new0(broker__partition, 1);
  t->b->partition_count++;
  p->topic = t;
  p->index = index;
  p->leader_epoch = 0;
  p->producers = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL,
                                       g_free);
  p->snapshot_offset = -1;
  p->watchers = g_ptr_array_new();
  return p;
}

static void partition_free(broker__partition *p) {
  if (!p)
    return;
  p->topic->b->partition_count--;
  log_free(p->log);
  log_free(p->closing_log);
  broker__producers_free(p);
  g_hash_table_destroy(p->producers);
  g_ptr_array_free(p->watchers, TRUE);
  g_free(p->path);
  g_free(p);
}

static void topic_free(broker__topic *t) {
  if (!t)
    return;
  for (guint i = 0; i < t->partitions->len; i++)
    partition_free(g_ptr_array_index(t->partitions, i));
  g_ptr_array_free(t->partitions, TRUE);
  g_tree_destroy(t->overrides);
  g_free(t->name);
  g_free(t);
}

static gint cmp_topic_ptr(gconstpointer a, gconstpointer b);

void broker__topics_free(broker_t *b) {
  if (!b->topics)
    return;
  /* Name order, so that whatever the frees do is deterministic. */
  GPtrArray *all = g_ptr_array_new();
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init(&it, b->topics);
  while (g_hash_table_iter_next(&it, NULL, &v))
    g_ptr_array_add(all, v);
  g_ptr_array_sort(all, cmp_topic_ptr);
  for (guint i = 0; i < all->len; i++) {
    broker__topic *t = g_ptr_array_index(all, i);
    for (guint j = 0; j < t->partitions->len; j++) {
      broker__partition *p = g_ptr_array_index(t->partitions, j);
      g_ptr_array_set_size(p->watchers, 0);
    }
    topic_free(t);
  }
  g_ptr_array_free(all, TRUE);
  g_hash_table_destroy(b->topics);
  b->topics = NULL;
}

/* ---------------------------------------------------------------- lookup */

broker__topic *broker__topic_find_any(broker_t *b, const char *name) {
  return g_hash_table_lookup(b->topics, name);
}

broker__topic *broker__topic_find(broker_t *b, const char *name) {
  broker__topic *t = broker__topic_find_any(b, name);
  return t && t->state == BROKER__TOPIC_LIVE ? t : NULL;
}

broker__topic *broker__topic_find_id(broker_t *b, const proto_uuid *id) {
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init(&it, b->topics);
  while (g_hash_table_iter_next(&it, NULL, &v)) {
    broker__topic *t = v;
    if (t->state == BROKER__TOPIC_LIVE && memcmp(&t->id, id, sizeof *id) == 0)
      return t;
  }
  return NULL;
}

broker__partition *broker__partition_find(broker_t *b, const char *topic,
                                          int32_t index, int *err) {
  broker__topic *t = topic ? broker__topic_find(b, topic) : NULL;
  if (!t || index < 0 || index >= t->partitions_live) {
    *err = KERR_UNKNOWN_TOPIC_OR_PARTITION;
    return NULL;
  }
  broker__partition *p = g_ptr_array_index(t->partitions, index);
  if (!p->log) {
    /* Reopening with a new config, or its log failed to open: retriable. */
    *err = KERR_NOT_LEADER_OR_FOLLOWER;
    return NULL;
  }
  if (log_failed(p->log)) {
    *err = KERR_KAFKA_STORAGE_ERROR;
    return NULL;
  }
  *err = KERR_NONE;
  return p;
}

static gint cmp_topic_ptr(gconstpointer a, gconstpointer b) {
  const broker__topic *x = *(broker__topic *const *)a;
  const broker__topic *y = *(broker__topic *const *)b;
  return strcmp(x->name, y->name);
}

static GPtrArray *topics_sorted_states(broker_t *b, bool all_but_deleting) {
  GPtrArray *out = g_ptr_array_new();
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init(&it, b->topics);
  while (g_hash_table_iter_next(&it, NULL, &v)) {
    broker__topic *t = v;
    if (t->state == BROKER__TOPIC_LIVE ||
        (all_but_deleting && t->state == BROKER__TOPIC_CREATING))
      g_ptr_array_add(out, t);
  }
  g_ptr_array_sort(out, cmp_topic_ptr);
  return out;
}

GPtrArray *broker__topics_sorted(broker_t *b) {
  return topics_sorted_states(b, false);
}

/* --------------------------------------------------------- metadata file */

typedef struct cfg_print_ctx {
  GString *s;
  const char *topic;
} cfg_print_ctx;

static gboolean print_override(gpointer k, gpointer v, gpointer arg) {
  cfg_print_ctx *c = arg;
  g_string_append_printf(c->s, "config %s %s %s\n", c->topic, (char *)k,
                         (char *)v);
  return FALSE;
}

static GString *metadata_serialize(broker_t *b) {
  GString *s = g_string_new(METADATA_MAGIC "\n");
  g_string_append_printf(s, "producer-id-block %" PRId64 "\n",
                         b->pid_block_end);
  GPtrArray *ts = topics_sorted_states(b, true);
  for (guint i = 0; i < ts->len; i++) {
    broker__topic *t = g_ptr_array_index(ts, i);
    char hex[33];
    uuid_hex(&t->id, hex);
    g_string_append_printf(s, "topic %s %s %u\n", t->name, hex,
                           t->partitions->len);
  }
  for (guint i = 0; i < ts->len; i++) {
    broker__topic *t = g_ptr_array_index(ts, i);
    cfg_print_ctx c = {s, t->name};
    g_tree_foreach(t->overrides, print_override, &c);
  }
  g_ptr_array_unref(ts);
  g_string_append_printf(s, "crc %08x\n", crc32c(s->str, s->len));
  return s;
}

typedef struct meta_write {
  broker_t *b;
  broker_done_cb cb;
  void *arg;
} meta_write;

static void on_metadata_written(void *arg, int status) {
  meta_write *w = arg;
  broker_t *b = w->b;
  if (status < 0)
    env_log(b->env, ENV_LOG_ERROR, "writing the topic metadata failed: %s",
            g_strerror(-status));
  broker_done_cb cb = w->cb;
  void *cb_arg = w->arg;
  broker__op_release(b, w);
  if (cb)
    cb(cb_arg, status);
  broker__op_end(b);
}

void broker__metadata_write(broker_t *b, broker_done_cb cb, void *arg) {
  GString *s = metadata_serialize(b);
  b->metadata_version++;
  meta_write *w = broker__op_alloc(b, sizeof *w);
  w->b = b;
  w->cb = cb;
  w->arg = arg;
  broker__op_begin(b);
  broker__afile_write(b->metadata_file, s->str, s->len, on_metadata_written,
                      w);
  g_string_free(s, TRUE);
}

static int parse_error(broker_t *b, const char *path, size_t line,
                       const char *what) {
  env_log(b->env, ENV_LOG_ERROR, "%s: line %zu: %s", path, line, what);
  return -EINVAL;
}

static int parse_topic_line(broker_t *b, const char *path, size_t ln,
                            gchar **w) {
  proto_uuid id;
  int64_t n;
  char *end = NULL;
  if (g_strv_length(w) != 4 || !broker__topic_name_valid(w[1], strlen(w[1])) ||
      !uuid_parse(w[2], &id))
    return parse_error(b, path, ln, "expected: topic NAME ID PARTITIONS");
  n = strtoll(w[3], &end, 10);
  if (*end || n < 1 || n > BROKER_TOPIC_PARTITIONS_MAX)
    return parse_error(b, path, ln, "bad partition count");
  if (g_hash_table_contains(b->topics, w[1]))
    return parse_error(b, path, ln, "topic listed twice");
  if (g_hash_table_size(b->topics) >= BROKER_TOPICS_MAX ||
      b->partition_count + (size_t)n > BROKER_PARTITIONS_MAX)
    return parse_error(b, path, ln, "more topics or partitions than allowed");
  broker__topic *t = topic_new(b, w[1], &id);
  t->state = BROKER__TOPIC_LIVE;
  for (int32_t i = 0; i < (int32_t)n; i++)
    g_ptr_array_add(t->partitions, partition_new(t, i));
  t->partitions_live = (int32_t)n;
  g_hash_table_insert(b->topics, t->name, t);
  return 0;
}

static int parse_config_line(broker_t *b, const char *path, size_t ln,
                             gchar **w) {
  if (g_strv_length(w) != 4)
    return parse_error(b, path, ln, "expected: config TOPIC NAME VALUE");
  broker__topic *t = g_hash_table_lookup(b->topics, w[1]);
  if (!t)
    return parse_error(b, path, ln, "config for an unknown topic");
  char err[256];
  if (broker__topic_config_apply(&t->settings, w[2], w[3], err, sizeof err))
    return parse_error(b, path, ln, err);
  g_tree_replace(t->overrides, g_strdup(w[2]), g_strdup(w[3]));
  return 0;
}

static int metadata_parse(broker_t *b, const char *path, char *text,
                          size_t len) {
  /* The crc line covers every byte before it. */
  char *crc_line = g_strrstr(text, "crc ");
  if (!crc_line || (crc_line != text && crc_line[-1] != '\n'))
    return parse_error(b, path, 0, "no crc line (truncated?)");
  unsigned long want = strtoul(crc_line + 4, NULL, 16);
  if (crc32c(text, (size_t)(crc_line - text)) != (uint32_t)want)
    return parse_error(b, path, 0, "crc mismatch");
  *crc_line = '\0';
  gchar **lines = g_strsplit(text, "\n", -1);
  int rc = 0;
  if (!lines[0] || strcmp(lines[0], METADATA_MAGIC) != 0) {
    rc = parse_error(b, path, 1, "not a sluice-topics v1 file");
    goto out;
  }
  for (size_t i = 1; lines[i] && rc == 0; i++) {
    if (!*lines[i])
      continue;
    gchar **w = g_strsplit(lines[i], " ", 4);
    if (strcmp(w[0], "producer-id-block") == 0 && w[1]) {
      char *end = NULL;
      long long v = strtoll(w[1], &end, 10);
      if (*end || v < 0)
        rc = parse_error(b, path, i + 1, "bad producer-id-block");
      else
        b->pid_block_end = b->pid_next = b->pid_reserved_end = v;
    } else if (strcmp(w[0], "topic") == 0) {
      rc = parse_topic_line(b, path, i + 1, w);
    } else if (strcmp(w[0], "config") == 0) {
      rc = parse_config_line(b, path, i + 1, w);
    } else {
      rc = parse_error(b, path, i + 1, "unknown line");
    }
    g_strfreev(w);
  }
out:
  g_strfreev(lines);
  (void)len;
  return rc;
}

/* ------------------------------------------------------- open and close */

static void ckpt_key(char *out, size_t n, const char *topic, int32_t index) {
  snprintf(out, n, "%s-%d", topic, index);
}

static int64_t boot_offset(GHashTable *m, const char *topic, int32_t index) {
  char key[BROKER_TOPIC_NAME_BYTES_MAX + 16];
  ckpt_key(key, sizeof key, topic, index);
  int64_t *v = m ? g_hash_table_lookup(m, key) : NULL;
  return v ? *v : 0;
}

/* Opens (creating) the partition's log and loads its producer state. */
static int partition_open(broker_t *b, broker__partition *p) {
  SL_ASSERT(!p->log && p->path);
  log_open_opts opts = {p->ckpt_recovery, p->ckpt_start};
  int rc = log_open(b->env, p->path, &p->topic->settings.log, &opts, &p->log);
  if (rc < 0) {
    env_log(b->env, ENV_LOG_ERROR, "opening the log %s failed: %s", p->path,
            g_strerror(-rc));
    p->log = NULL;
    return rc;
  }
  rc = broker__producers_load(b, p);
  if (rc != 0)
    env_log(b->env, ENV_LOG_WARN,
            "%s: producer state only partly rebuilt (error %d)", p->path, rc);
  return 0;
}

static void maybe_finish_delete(broker__topic *t);

static void on_partition_closed(void *arg, int status) {
  broker__partition *p = arg;
  broker__topic *t = p->topic;
  broker_t *b = t->b;
  p->closing = false;
  p->closing_log = NULL; /* freed by log_close */
  if (status < 0)
    env_log(b->env, ENV_LOG_ERROR, "closing the log %s: %s", p->path,
            g_strerror(-status));
  else
    p->ckpt_recovery = p->closing_end_offset;
  if (t->state == BROKER__TOPIC_DELETING) {
    maybe_finish_delete(t);
  } else if (p->reopen_pending && !b->shutting_down) {
    p->reopen_pending = false;
    (void)partition_open(b, p);
  }
  broker__op_end(b);
}

/* Starts closing the partition's log (flush, then free). */
static void partition_close(broker_t *b, broker__partition *p) {
  if (!p->log || p->closing)
    return;
  broker__fetch_partition_gone(p);
  log_t *log = p->log;
  p->log = NULL;
  p->closing = true;
  p->ckpt_recovery = log_recovery_point(log);
  p->ckpt_start = log_start_offset(log);
  p->closing_end_offset = log_end_offset(log);
  p->closing_log = log;
  broker__op_begin(b);
  log_close(log, on_partition_closed, p);
}

void broker__partitions_close_all(broker_t *b) {
  GPtrArray *ts = topics_sorted_states(b, true);
  for (guint i = 0; i < ts->len; i++) {
    broker__topic *t = g_ptr_array_index(ts, i);
    for (guint j = 0; j < t->partitions->len; j++)
      partition_close(b, g_ptr_array_index(t->partitions, j));
  }
  g_ptr_array_unref(ts);
}

/* ------------------------------------------------------------- removing */

/* Removes a partition directory and the files in it (it has no
 * subdirectories). */
static int remove_dir_files(env_t *env, const char *path) {
  char **names = NULL;
  int rc = env_list_dir(env, path, &names);
  if (rc < 0)
    return rc;
  for (size_t i = 0; names[i]; i++) {
    char *child = g_strdup_printf("%s/%s", path, names[i]);
    int r = env_unlink(env, child);
    if (r < 0 && rc == 0)
      rc = r;
    g_free(child);
  }
  env_names_free(names);
  if (rc == 0)
    rc = env_rmdir(env, path);
  return rc;
}

/* Renames the partition directory out of the way, then removes it. */
static void partition_remove_dir(broker_t *b, broker__partition *p) {
  if (!p->path)
    return;
  bool is_dir = false;
  if (env_stat(b->env, p->path, &is_dir) < 0)
    return;
  char hex[33];
  uuid_hex(&p->topic->id, hex);
  char *gone = g_strdup_printf("%s.%s-delete", p->path, hex);
  int rc = env_rename(b->env, p->path, gone);
  if (rc == 0)
    rc = remove_dir_files(b->env, gone);
  if (rc < 0)
    env_log(b->env, ENV_LOG_WARN,
            "removing %s: %s (it is removed at the next start)", gone,
            g_strerror(-rc));
  env_dir_fsync(b->env, b->cfg->log_dirs[p->dir_index], NULL, NULL);
  g_free(gone);
}

static void maybe_finish_delete(broker__topic *t) {
  if (t->state != BROKER__TOPIC_DELETING || t->pending_ops > 0)
    return;
  for (guint i = 0; i < t->partitions->len; i++) {
    broker__partition *p = g_ptr_array_index(t->partitions, i);
    if (p->log || p->closing)
      return;
  }
  broker_t *b = t->b;
  for (guint i = 0; i < t->partitions->len; i++)
    partition_remove_dir(b, g_ptr_array_index(t->partitions, i));
  env_log(b->env, ENV_LOG_INFO, "deleted topic %s", t->name);
  g_hash_table_remove(b->topics, t->name);
  topic_free(t);
}

/* ---------------------------------------------------------- topic ops */

typedef struct topic_op {
  broker__topic *t;
  int32_t from, to; /* partitions being added */
  broker_done_cb cb;
  void *arg;
} topic_op;

static topic_op *topic_op_new(broker__topic *t, broker_done_cb cb,
                              void *arg) {
  topic_op *op = broker__op_alloc(t->b, sizeof *op);
  op->t = t;
  op->cb = cb;
  op->arg = arg;
  t->pending_ops++;
  return op;
}

/* Ends the op: calls its callback, then lets a pending delete finish. */
static void topic_op_done(topic_op *op, int status) {
  broker__topic *t = op->t;
  broker_done_cb cb = op->cb;
  void *cb_arg = op->arg;
  t->pending_ops--;
  broker__op_release(t->b, op);
  if (cb)
    cb(cb_arg, status);
  maybe_finish_delete(t);
}

int broker__topic_config_compute(broker_t *b, GTree *overrides,
                                 broker__topic_settings *s, char *err,
                                 size_t err_len) {
  broker__topic_settings_default(b->cfg, s);
  GList *keys = NULL;
  /* g_tree_foreach cannot stop with an error code: collect, then apply. */
  GTreeNode *n = g_tree_node_first(overrides);
  for (; n; n = g_tree_node_next(n))
    keys = g_list_prepend(keys, n);
  keys = g_list_reverse(keys);
  int rc = 0;
  for (GList *l = keys; l && rc == 0; l = l->next) {
    GTreeNode *node = l->data;
    rc = broker__topic_config_apply(s, g_tree_node_key(node),
                                    g_tree_node_value(node), err, err_len);
  }
  g_list_free(keys);
  return rc;
}

/* New partition directories are names in their log dir: fsync the log
 * dirs of partitions [from, to) before the partitions serve, so flushed
 * data cannot lose its directory in a crash. */
typedef struct dirs_sync {
  topic_op *op;
  int pending;
  int status;
  void (*then)(topic_op *op, int status);
} dirs_sync;

static void on_dir_synced(void *arg, int status) {
  dirs_sync *ds = arg;
  broker_t *b = ds->op->t->b;
  if (status < 0 && ds->status == 0)
    ds->status = status;
  if (--ds->pending > 0)
    return;
  topic_op *op = ds->op;
  void (*then)(topic_op *, int) = ds->then;
  int st = ds->status;
  broker__op_release(b, ds);
  then(op, st);
  broker__op_end(b);
}

static void sync_dirs(broker_t *b, topic_op *op, int32_t from, int32_t to,
                      int status, void (*then)(topic_op *op, int status)) {
  broker__topic *t = op->t;
  bool dirs[BROKER_LOG_DIRS_MAX] = {false};
  for (int32_t i = from; i < to; i++)
    dirs[((broker__partition *)g_ptr_array_index(t->partitions, i))
             ->dir_index] = true;
  dirs_sync *ds = broker__op_alloc(b, sizeof *ds);
  broker__op_begin(b);
  ds->op = op;
  ds->then = then;
  ds->status = status;
  for (size_t d = 0; d < b->cfg->log_dir_count; d++) {
    if (!dirs[d])
      continue;
    ds->pending++;
    env_dir_fsync(b->env, b->cfg->log_dirs[d], on_dir_synced, ds);
  }
  SL_ASSERT(ds->pending > 0);
}

/* Partitions opened while the broker shuts down are closed again (their
 * topic is durable; the next start opens them). */
static void close_if_shutting_down(broker__topic *t, int32_t from,
                                   int32_t to) {
  if (!t->b->shutting_down)
    return;
  for (int32_t i = from; i < to; i++)
    partition_close(t->b, g_ptr_array_index(t->partitions, i));
}

static void on_create_synced(topic_op *op, int status) {
  broker__topic *t = op->t;
  close_if_shutting_down(t, 0, (int32_t)t->partitions->len);
  t->state = BROKER__TOPIC_LIVE;
  t->partitions_live = (int32_t)t->partitions->len;
  env_log(t->b->env, ENV_LOG_INFO, "created topic %s with %d partitions",
          t->name, t->partitions_live);
  topic_op_done(op, status);
}

static void on_create_durable(void *arg, int status) {
  topic_op *op = arg;
  broker__topic *t = op->t;
  broker_t *b = t->b;
  if (status < 0) {
    /* Not created after all. */
    broker_done_cb cb = op->cb;
    void *cb_arg = op->arg;
    t->pending_ops--;
    broker__op_release(b, op);
    g_hash_table_remove(b->topics, t->name);
    topic_free(t);
    if (cb)
      cb(cb_arg, status);
    return;
  }
  int rc = 0;
  for (guint i = 0; i < t->partitions->len; i++) {
    int r = partition_open(b, g_ptr_array_index(t->partitions, i));
    if (r < 0 && rc == 0)
      rc = r;
  }
  sync_dirs(b, op, 0, (int32_t)t->partitions->len, rc, on_create_synced);
}

int broker__topic_create(broker_t *b, const char *name, int32_t partitions,
                         const char *const *config_names,
                         const char *const *config_values, size_t n,
                         broker_done_cb cb, void *arg) {
  if (g_hash_table_contains(b->topics, name))
    return KERR_TOPIC_ALREADY_EXISTS;
  if (g_hash_table_size(b->topics) >= BROKER_TOPICS_MAX)
    return KERR_POLICY_VIOLATION;
  if (partitions < 1 || partitions > BROKER_TOPIC_PARTITIONS_MAX ||
      b->partition_count + (size_t)partitions > BROKER_PARTITIONS_MAX)
    return KERR_INVALID_PARTITIONS;
  proto_uuid id;
  uuid_random(b, &id);
  broker__topic *t = topic_new(b, name, &id);
  for (size_t i = 0; i < n; i++) {
    /* Store the canonical form of each value. */
    broker__topic_settings tmp = t->settings;
    if (broker__topic_config_apply(&tmp, config_names[i], config_values[i],
                                   NULL, 0) != 0) {
      topic_free(t);
      return KERR_INVALID_CONFIG;
    }
    char canon[128];
    broker__topic_config_value(&tmp, config_names[i], canon, sizeof canon);
    g_tree_replace(t->overrides, g_strdup(config_names[i]), g_strdup(canon));
    t->settings = tmp;
  }
  g_hash_table_insert(b->topics, t->name, t);
  for (int32_t i = 0; i < partitions; i++) {
    broker__partition *p = partition_new(t, i);
    g_ptr_array_add(t->partitions, p);
    partition_place(b, p, choose_dir(b));
  }
  broker__metadata_write(b, on_create_durable, topic_op_new(t, cb, arg));
  return KERR_NONE;
}

static void on_delete_durable(void *arg, int status) {
  topic_op_done(arg, status);
}

int broker__topic_delete(broker_t *b, broker__topic *t, broker_done_cb cb,
                         void *arg) {
  SL_ASSERT(t->state == BROKER__TOPIC_LIVE);
  t->state = BROKER__TOPIC_DELETING;
  topic_op *op = topic_op_new(t, cb, arg);
  broker__metadata_write(b, on_delete_durable, op);
  for (guint i = 0; i < t->partitions->len; i++) {
    broker__partition *p = g_ptr_array_index(t->partitions, i);
    broker__fetch_partition_gone(p);
    partition_close(b, p);
  }
  env_log(b->env, ENV_LOG_INFO, "deleting topic %s", t->name);
  return KERR_NONE;
}

static void on_add_synced(topic_op *op, int status) {
  broker__topic *t = op->t;
  close_if_shutting_down(t, op->from, op->to);
  if (t->state == BROKER__TOPIC_LIVE) {
    t->partitions_live = op->to;
    env_log(t->b->env, ENV_LOG_INFO, "topic %s now has %d partitions",
            t->name, op->to);
  }
  topic_op_done(op, status);
}

static void on_add_durable(void *arg, int status) {
  topic_op *op = arg;
  broker__topic *t = op->t;
  broker_t *b = t->b;
  if (status < 0 || t->state != BROKER__TOPIC_LIVE) {
    if (t->state == BROKER__TOPIC_LIVE) {
      /* Drop the partitions that were never made durable. */
      while ((int32_t)t->partitions->len > op->from) {
        partition_free(g_ptr_array_steal_index(t->partitions,
                                               t->partitions->len - 1));
      }
    }
    topic_op_done(op, status < 0 ? status : -ECANCELED);
    return;
  }
  int rc = 0;
  for (int32_t i = op->from; i < op->to; i++) {
    int r = partition_open(b, g_ptr_array_index(t->partitions, i));
    if (r < 0 && rc == 0)
      rc = r;
  }
  sync_dirs(b, op, op->from, op->to, rc, on_add_synced);
}

int broker__topic_add_partitions(broker_t *b, broker__topic *t, int32_t count,
                                 broker_done_cb cb, void *arg) {
  SL_ASSERT(t->state == BROKER__TOPIC_LIVE);
  int32_t have = (int32_t)t->partitions->len;
  if (have != t->partitions_live || count <= have ||
      count > BROKER_TOPIC_PARTITIONS_MAX ||
      b->partition_count + (size_t)(count - have) > BROKER_PARTITIONS_MAX)
    return KERR_INVALID_PARTITIONS;
  for (int32_t i = have; i < count; i++) {
    broker__partition *p = partition_new(t, i);
    g_ptr_array_add(t->partitions, p);
    partition_place(b, p, choose_dir(b));
  }
  topic_op *op = topic_op_new(t, cb, arg);
  op->from = have;
  op->to = count;
  broker__metadata_write(b, on_add_durable, op);
  return KERR_NONE;
}

static void on_overrides_durable(void *arg, int status) {
  topic_op *op = arg;
  broker__topic *t = op->t;
  broker_t *b = t->b;
  if (status == 0 && t->state == BROKER__TOPIC_LIVE && !b->shutting_down) {
    /* The log takes its config at open: reopen each partition. */
    for (guint i = 0; i < t->partitions->len; i++) {
      broker__partition *p = g_ptr_array_index(t->partitions, i);
      if (p->log || p->closing) {
        p->reopen_pending = true;
        partition_close(b, p);
      }
    }
  }
  topic_op_done(op, status);
}

static gboolean copy_override(gpointer k, gpointer v, gpointer arg) {
  g_tree_replace(arg, g_strdup(k), g_strdup(v));
  return FALSE;
}

int broker__topic_set_overrides(broker_t *b, broker__topic *t,
                                GTree *overrides, broker_done_cb cb,
                                void *arg) {
  SL_ASSERT(t->state == BROKER__TOPIC_LIVE);
  broker__topic_settings s;
  if (broker__topic_config_compute(b, overrides, &s, NULL, 0) != 0)
    return KERR_INVALID_CONFIG;
  GTree *copy = overrides_new();
  g_tree_foreach(overrides, copy_override, copy);
  g_tree_destroy(t->overrides);
  t->overrides = copy;
  t->settings = s;
  broker__metadata_write(b, on_overrides_durable, topic_op_new(t, cb, arg));
  return KERR_NONE;
}

/* ------------------------------------------------------------------ load */

static int read_boot_checkpoints(broker_t *b, const char *name,
                                 GHashTable *into) {
  for (size_t d = 0; d < b->cfg->log_dir_count; d++) {
    char *path = g_strdup_printf("%s/%s", b->cfg->log_dirs[d], name);
    log_offset_entry *e = NULL;
    size_t n = 0;
    int rc = log_offsets_read(b->env, path, &e, &n);
    if (rc == -ENOENT) {
      g_free(path);
      continue;
    }
    if (rc < 0) {
      /* Kafka treats a bad checkpoint as absent and recovers fully. */
      env_log(b->env, ENV_LOG_WARN, "%s: unreadable (%s); ignoring it", path,
              g_strerror(-rc));
      g_free(path);
      continue;
    }
    for (size_t i = 0; i < n; i++) {
      char key[BROKER_TOPIC_NAME_BYTES_MAX + 16];
      ckpt_key(key, sizeof key, e[i].topic, e[i].partition);
      g_hash_table_replace(into, g_strdup(key), g_memdup2(&e[i].offset, 8));
    }
    log_offset_entries_free(e, n);
    g_free(path);
  }
  return 0;
}

/* A partition directory found at start. */
typedef struct found_dir {
  char *name;
  size_t dir_index;
  char topic[BROKER_TOPIC_NAME_BYTES_MAX + 1];
  int32_t partition;
} found_dir;

static void found_dir_clear(gpointer p) { g_free(((found_dir *)p)->name); }

static int scan_log_dir(broker_t *b, size_t d, GArray *found) {
  const char *root = b->cfg->log_dirs[d];
  char **names = NULL;
  int rc = env_list_dir(b->env, root, &names);
  if (rc < 0) {
    env_log(b->env, ENV_LOG_ERROR, "cannot list log dir %s: %s", root,
            g_strerror(-rc));
    return rc;
  }
  for (size_t i = 0; names[i]; i++) {
    const char *n = names[i];
    char *path = g_strdup_printf("%s/%s", root, n);
    bool is_dir = false;
    if (env_stat(b->env, path, &is_dir) == 0 && is_dir) {
      found_dir f;
      memset(&f, 0, sizeof f);
      if (g_str_has_suffix(n, "-delete")) {
        int r = remove_dir_files(b->env, path);
        env_log(b->env, r < 0 ? ENV_LOG_WARN : ENV_LOG_INFO,
                "removing deleted partition %s: %s", path,
                r < 0 ? g_strerror(-r) : "done");
      } else if (log_parse_dir_name(n, f.topic, sizeof f.topic,
                                    &f.partition) &&
                 broker__topic_name_valid(f.topic, strlen(f.topic)) &&
                 f.partition >= 0) {
        f.name = g_strdup(n);
        f.dir_index = d;
        g_array_append_val(found, f);
      }
    }
    g_free(path);
  }
  env_names_free(names);
  return 0;
}

static void stray_dir(broker_t *b, const found_dir *f) {
  const char *root = b->cfg->log_dirs[f->dir_index];
  char *from = g_strdup_printf("%s/%s", root, f->name);
  char *to = g_strdup_printf("%s/%s.%016" PRIx64 "-stray", root, f->name,
                             env_rand_u64(b->env));
  int rc = env_rename(b->env, from, to);
  env_log(b->env, ENV_LOG_WARN,
          "partition directory %s belongs to no topic; renamed to %s (%s)",
          from, to, rc < 0 ? g_strerror(-rc) : "kept for inspection");
  env_dir_fsync(b->env, root, NULL, NULL);
  g_free(from);
  g_free(to);
}

/* No metadata file: partition directories become topics. */
static void adopt_dir(broker_t *b, const found_dir *f) {
  broker__topic *t = g_hash_table_lookup(b->topics, f->topic);
  if (!t) {
    proto_uuid id;
    uuid_random(b, &id);
    t = topic_new(b, f->topic, &id);
    t->state = BROKER__TOPIC_LIVE;
    g_hash_table_insert(b->topics, t->name, t);
  }
  while ((int32_t)t->partitions->len <= f->partition)
    g_ptr_array_add(t->partitions,
                    partition_new(t, (int32_t)t->partitions->len));
  t->partitions_live = (int32_t)t->partitions->len;
}

static int place_found(broker_t *b, GArray *found, bool adopt) {
  for (guint i = 0; i < found->len; i++) {
    found_dir *f = &g_array_index(found, found_dir, i);
    if (adopt)
      adopt_dir(b, f);
    broker__topic *t = g_hash_table_lookup(b->topics, f->topic);
    if (!t || f->partition >= (int32_t)t->partitions->len) {
      stray_dir(b, f);
      continue;
    }
    broker__partition *p = g_ptr_array_index(t->partitions, f->partition);
    if (p->path) {
      env_log(b->env, ENV_LOG_ERROR,
              "partition %s-%d has directories in two log dirs (%s and %s)",
              f->topic, f->partition, p->path,
              b->cfg->log_dirs[f->dir_index]);
      return -EEXIST;
    }
    partition_place(b, p, f->dir_index);
  }
  return 0;
}

static int open_all(broker_t *b) {
  GPtrArray *ts = broker__topics_sorted(b);
  for (guint i = 0; i < ts->len; i++) {
    broker__topic *t = g_ptr_array_index(ts, i);
    char err[256];
    if (broker__topic_config_compute(b, t->overrides, &t->settings, err,
                                     sizeof err) != 0)
      env_log(b->env, ENV_LOG_WARN, "topic %s: %s", t->name, err);
    for (guint j = 0; j < t->partitions->len; j++) {
      broker__partition *p = g_ptr_array_index(t->partitions, j);
      if (!p->path)
        partition_place(b, p, choose_dir(b));
      p->ckpt_recovery = boot_offset(b->boot_recovery, t->name, p->index);
      p->ckpt_start = boot_offset(b->boot_start, t->name, p->index);
      /* A partition whose log fails to open stays offline; the rest of the
       * broker serves on (Kafka takes a failed log dir offline). */
      (void)partition_open(b, p);
    }
  }
  g_ptr_array_unref(ts);
  return 0;
}

int broker__topics_load(broker_t *b) {
  b->boot_recovery = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                           g_free);
  b->boot_start = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                        g_free);
  GArray *found = g_array_new(FALSE, TRUE, sizeof(found_dir));
  g_array_set_clear_func(found, found_dir_clear);
  read_boot_checkpoints(b, "recovery-point-offset-checkpoint",
                        b->boot_recovery);
  read_boot_checkpoints(b, "log-start-offset-checkpoint", b->boot_start);
  char *path = g_strdup_printf("%s/%s", b->cfg->log_dirs[0], METADATA_FILE);
  char *text = NULL;
  size_t len = 0;
  int rc = broker__read_file(b->env, path, BROKER_SMALL_FILE_BYTES_MAX, &text,
                             &len);
  bool have_file = rc == 0;
  if (rc == 0)
    rc = metadata_parse(b, path, text, len);
  else if (rc == -ENOENT)
    rc = 0;
  else
    env_log(b->env, ENV_LOG_ERROR, "cannot read %s: %s", path,
            g_strerror(-rc));
  g_free(text);
  for (size_t d = 0; rc == 0 && d < b->cfg->log_dir_count; d++)
    rc = scan_log_dir(b, d, found);
  if (rc == 0)
    rc = place_found(b, found, !have_file);
  if (rc == 0)
    rc = open_all(b);
  if (rc == 0 && !have_file)
    broker__metadata_write(b, NULL, NULL);
  g_array_free(found, TRUE);
  g_hash_table_destroy(b->boot_recovery);
  g_hash_table_destroy(b->boot_start);
  b->boot_recovery = b->boot_start = NULL;
  g_free(path);
  return rc;
}
