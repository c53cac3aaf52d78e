/*
 * checkpoint.c — Kafka's text checkpoint files and the leader epoch cache.
 *
 * Kafka's CheckpointFile format: line 1 the version ("0"), line 2 the entry
 * count, then one entry per line, fields separated by one space, '\n' line
 * ends. Offset checkpoints (recovery-point-offset-checkpoint,
 * log-start-offset-checkpoint, ...) hold "topic partition offset";
 * leader-epoch-checkpoint holds "epoch startOffset". A write goes to
 * "<file>.tmp", is fsynced, renamed over the file, and the directory is
 * fsynced, so a crash leaves the old or the new file, never a mix.
 *
 * The leader epoch cache (Kafka's LeaderEpochFileCache) maps each leader
 * epoch to the first offset written in it; OffsetForLeaderEpoch and
 * replica truncation are answered from it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "broker/log/log_internal.h"

/* A checkpoint is small; a bigger file is not one of ours. */
#define CHECKPOINT_BYTES_MAX ((size_t)64 << 20)

int log__read_small_file(env_t *env, const char *path, size_t max_bytes,
                         char **text, size_t *len) {
  env_file_t *f = NULL;
  int rc = env_file_open(env, path, ENV_O_READ, &f);
  if (rc < 0)
    return rc;
  uint64_t size = 0;
  rc = env_file_size(f, &size);
  if (rc < 0)
    goto out_close;
  if (size > max_bytes) {
    rc = -EFBIG;
    goto out_close;
  }
  char *data = g_malloc((size_t)size + 1);
  size_t got = 0;
  rc = size > 0 ? env_file_pread(f, data, (size_t)size, 0, &got) : 0;
  if (rc < 0) {
    g_free(data);
    goto out_close;
  }
  data[got] = '\0';
  *text = data;
  *len = got;
out_close:
  env_file_close(f);
  return rc;
}

/* Splits text into lines; the last line must end with '\n'. */
static gchar **split_lines(const char *text, size_t len, size_t *n) {
  if (len == 0 || text[len - 1] != '\n' || memchr(text, '\0', len))
    return NULL;
  gchar *copy = g_strndup(text, len - 1);
  gchar **lines = g_strsplit(copy, "\n", -1);
  g_free(copy);
  *n = g_strv_length(lines);
  return lines;
}

static bool parse_i64(const char *s, int64_t *out) {
  if (*s == '\0')
    return false;
  const char *p = s;
  if (*p == '-')
    p++;
  if (*p == '\0')
    return false;
  for (; *p; p++)
    if (*p < '0' || *p > '9')
      return false;
  errno = 0;
  char *end = NULL;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || *end != '\0')
    return false;
  *out = v;
  return true;
}

/* Checks the version and count lines; returns the entry lines' count. */
static bool parse_preamble(gchar **lines, size_t n, size_t *entries) {
  int64_t version = -1, count = -1;
  if (n < 2 || !parse_i64(lines[0], &version) || version != 0 ||
      !parse_i64(lines[1], &count) || count < 0 || (size_t)count != n - 2)
    return false;
  *entries = (size_t)count;
  return true;
}

/* ------------------------------------------------- "topic partition offset" */

int log_offsets_read(env_t *env, const char *path, log_offset_entry **entries,
                     size_t *n) {
  char *text = NULL;
  size_t len = 0;
  int rc = log__read_small_file(env, path, CHECKPOINT_BYTES_MAX, &text, &len);
  if (rc < 0)
    return rc;
  size_t nl = 0, count = 0;
  gchar **lines = split_lines(text, len, &nl);
  rc = -EINVAL;
  if (!lines || !parse_preamble(lines, nl, &count))
    goto out_free_lines;
  log_offset_entry *e = g_new0(log_offset_entry, count ? count : 1);
  for (size_t i = 0; i < count; i++) {
    gchar **f = g_strsplit(lines[i + 2], " ", -1);
    int64_t part = -1, off = -1;
    bool ok = g_strv_length(f) == 3 && f[0][0] != '\0' &&
              parse_i64(f[1], &part) && part >= 0 && part <= INT32_MAX &&
              parse_i64(f[2], &off);
    if (ok) {
      e[i].topic = g_strdup(f[0]);
      e[i].partition = (int32_t)part;
      e[i].offset = off;
    }
    g_strfreev(f);
    if (!ok) {
      log_offset_entries_free(e, count);
      goto out_free_lines;
    }
  }
  *entries = e;
  *n = count;
  rc = 0;
out_free_lines:
  g_strfreev(lines);
  g_free(text);
  return rc;
}

void log_offset_entries_free(log_offset_entry *entries, size_t n) {
  if (!entries)
    return;
  for (size_t i = 0; i < n; i++)
    g_free(entries[i].topic);
  g_free(entries);
}

static int entry_cmp(const void *a, const void *b) {
  const log_offset_entry *x = *(const log_offset_entry *const *)a;
  const log_offset_entry *y = *(const log_offset_entry *const *)b;
  int c = strcmp(x->topic, y->topic);
  if (c)
    return c;
  return (x->partition > y->partition) - (x->partition < y->partition);
}

void log_checkpoint_write_offsets(log_checkpoint_t *ck,
                                  const log_offset_entry *entries, size_t n,
                                  log_done_cb cb, void *arg) {
  const log_offset_entry **sorted = g_new(const log_offset_entry *, n ? n : 1);
  for (size_t i = 0; i < n; i++)
    sorted[i] = &entries[i];
  qsort(sorted, n, sizeof *sorted, entry_cmp);
  GString *s = g_string_new(NULL);
  g_string_append_printf(s, "0\n%zu\n", n);
  for (size_t i = 0; i < n; i++) {
    SL_ASSERT(sorted[i]->topic && !strchr(sorted[i]->topic, ' ') &&
              !strchr(sorted[i]->topic, '\n'));
    g_string_append_printf(s, "%s %" PRId32 " %" PRId64 "\n", sorted[i]->topic,
                           sorted[i]->partition, sorted[i]->offset);
  }
  g_free(sorted);
  log__checkpoint_write_text(ck, s, cb, arg);
}

bool log_parse_dir_name(const char *name, char *topic, size_t topic_len,
                        int32_t *partition) {
  const char *dash = strrchr(name, '-');
  if (!dash || dash == name || dash[1] == '\0')
    return false;
  int64_t p = -1;
  if (!parse_i64(dash + 1, &p) || p < 0 || p > INT32_MAX || dash[1] == '-')
    return false;
  size_t tl = (size_t)(dash - name);
  if (tl + 1 > topic_len)
    return false;
  memcpy(topic, name, tl);
  topic[tl] = '\0';
  *partition = (int32_t)p;
  return true;
}

/* ------------------------------------------------------ checkpoint writer */

typedef struct ck_waiter {
  log_done_cb cb;
  void *arg;
} ck_waiter;

struct log_checkpoint {
  env_t *env;
  char *path;
  char *tmp_path;
  char *dir_path;
  GString *pending;        /* next content to write, or NULL */
  GArray *pending_waiters; /* ck_waiter */
  bool running;
  GArray *running_waiters;
  env_file_t *file; /* the .tmp file while its fsync runs */
  int fail_status;
  uint64_t fail_timer;
  uint32_t cb_depth;
  bool free_requested;
};

log_checkpoint_t *log_checkpoint_new(env_t *env, const char *path) {
  log_checkpoint_t *ck = g_new0(log_checkpoint_t, 1);
  ck->env = env;
  ck->path = g_strdup(path);
  ck->tmp_path = g_strdup_printf("%s.tmp", path);
  ck->dir_path = g_path_get_dirname(path);
  ck->pending_waiters = g_array_new(FALSE, FALSE, sizeof(ck_waiter));
  ck->running_waiters = g_array_new(FALSE, FALSE, sizeof(ck_waiter));
  return ck;
}

static void ck_destroy(log_checkpoint_t *ck) {
  if (ck->fail_timer)
    env_timer_cancel(ck->env, ck->fail_timer);
  env_file_close(ck->file);
  if (ck->pending)
    g_string_free(ck->pending, TRUE);
  g_array_free(ck->pending_waiters, TRUE);
  g_array_free(ck->running_waiters, TRUE);
  g_free(ck->path);
  g_free(ck->tmp_path);
  g_free(ck->dir_path);
  g_free(ck);
}

void log_checkpoint_free(log_checkpoint_t *ck) {
  if (!ck)
    return;
  if (ck->cb_depth > 0) {
    ck->free_requested = true;
    return;
  }
  ck_destroy(ck);
}

bool log_checkpoint_idle(const log_checkpoint_t *ck) {
  return !ck->running && !ck->pending;
}

static void ck_start(log_checkpoint_t *ck);

/* Completes the running write; returns true if ck was freed meanwhile. */
static bool ck_finish(log_checkpoint_t *ck, int status) {
  GArray *done = ck->running_waiters;
  ck->running_waiters = g_array_new(FALSE, FALSE, sizeof(ck_waiter));
  ck->running = false;
  if (ck->pending)
    ck_start(ck);
  ck->cb_depth++;
  for (guint i = 0; i < done->len; i++) {
    ck_waiter *w = &g_array_index(done, ck_waiter, i);
    if (w->cb)
      w->cb(w->arg, status);
  }
  ck->cb_depth--;
  g_array_free(done, TRUE);
  if (ck->free_requested && ck->cb_depth == 0) {
    ck_destroy(ck);
    return true;
  }
  return false;
}

static void ck_on_dir_fsync(void *arg, int status) {
  (void)ck_finish(arg, status);
}

static void ck_on_fsync(void *arg, int status) {
  log_checkpoint_t *ck = arg;
  env_file_close(ck->file);
  ck->file = NULL;
  if (status == 0)
    status = env_rename(ck->env, ck->tmp_path, ck->path);
  if (status < 0) {
    (void)ck_finish(ck, status);
    return;
  }
  env_dir_fsync(ck->env, ck->dir_path, ck_on_dir_fsync, ck);
}

static void ck_on_fail_timer(void *arg) {
  log_checkpoint_t *ck = arg;
  ck->fail_timer = 0;
  (void)ck_finish(ck, ck->fail_status);
}

static void ck_start(log_checkpoint_t *ck) {
  SL_ASSERT(!ck->running && ck->pending);
  GString *content = ck->pending;
  ck->pending = NULL;
  GArray *tmp = ck->running_waiters;
  ck->running_waiters = ck->pending_waiters;
  ck->pending_waiters = tmp;
  ck->running = true;
  int rc = env_file_open(ck->env, ck->tmp_path,
                         ENV_O_WRITE | ENV_O_CREATE | ENV_O_TRUNC, &ck->file);
  if (rc == 0)
    rc = env_file_pwrite(ck->file, content->str, content->len, 0);
  g_string_free(content, TRUE);
  if (rc < 0) {
    env_file_close(ck->file);
    ck->file = NULL;
    /* Failed before any asynchronous step: report on a later turn. */
    ck->fail_status = rc;
    ck->fail_timer = env_timer_start(ck->env, 0, ck_on_fail_timer, ck);
    return;
  }
  env_file_fsync(ck->file, ck_on_fsync, ck);
}

void log__checkpoint_write_text(log_checkpoint_t *ck, GString *content,
                                log_done_cb cb, void *arg) {
  if (ck->pending)
    g_string_free(ck->pending, TRUE);
  ck->pending = content;
  ck_waiter w = {cb, arg};
  g_array_append_val(ck->pending_waiters, w);
  if (!ck->running)
    ck_start(ck);
}

/* ---------------------------------------------------------- epoch cache */

bool log__epochs_parse(const char *text, size_t len, GArray *out) {
  size_t nl = 0, count = 0;
  gchar **lines = split_lines(text, len, &nl);
  bool ok = lines && parse_preamble(lines, nl, &count);
  for (size_t i = 0; ok && i < count; i++) {
    gchar **f = g_strsplit(lines[i + 2], " ", -1);
    int64_t epoch = -1, start = -1;
    ok = g_strv_length(f) == 2 && parse_i64(f[0], &epoch) && epoch >= 0 &&
         epoch <= INT32_MAX && parse_i64(f[1], &start) && start >= 0;
    if (ok && out->len > 0) {
      const log__epoch_entry *prev =
          &g_array_index(out, log__epoch_entry, out->len - 1);
      ok = epoch > prev->epoch && start >= prev->start_offset;
    }
    if (ok) {
      log__epoch_entry e = {(int32_t)epoch, start};
      g_array_append_val(out, e);
    }
    g_strfreev(f);
  }
  g_strfreev(lines);
  return ok;
}

GString *log__epochs_format(const GArray *entries) {
  GString *s = g_string_new(NULL);
  g_string_append_printf(s, "0\n%u\n", entries->len);
  for (guint i = 0; i < entries->len; i++) {
    const log__epoch_entry *e = &g_array_index(entries, log__epoch_entry, i);
    g_string_append_printf(s, "%" PRId32 " %" PRId64 "\n", e->epoch,
                           e->start_offset);
  }
  return s;
}

void log__epochs_assign(log_t *log, int32_t epoch, int64_t start_offset) {
  if (epoch < 0)
    return;
  GArray *a = log->epochs;
  if (a->len > 0) {
    log__epoch_entry *last = &g_array_index(a, log__epoch_entry, a->len - 1);
    if (epoch <= last->epoch)
      return;
  }
  log__epoch_entry e = {epoch, start_offset};
  g_array_append_val(a, e);
  log->epochs_dirty = true;
}

void log__epochs_truncate_end(log_t *log, int64_t offset_end) {
  GArray *a = log->epochs;
  guint keep = a->len;
  while (keep > 0 &&
         g_array_index(a, log__epoch_entry, keep - 1).start_offset >=
             offset_end)
    keep--;
  if (keep != a->len) {
    g_array_set_size(a, keep);
    log->epochs_dirty = true;
  }
}

void log__epochs_truncate_start(log_t *log, int64_t start_offset) {
  /* Entries wholly below the start collapse into one starting there. */
  GArray *a = log->epochs;
  guint below = 0;
  while (below < a->len &&
         g_array_index(a, log__epoch_entry, below).start_offset < start_offset)
    below++;
  if (below == 0)
    return;
  log__epoch_entry *keep = &g_array_index(a, log__epoch_entry, below - 1);
  keep->start_offset = start_offset;
  g_array_remove_range(a, 0, below - 1);
  log->epochs_dirty = true;
}

void log__epochs_clear(log_t *log) {
  if (log->epochs->len > 0)
    log->epochs_dirty = true;
  g_array_set_size(log->epochs, 0);
}

void log__epochs_range(const log_t *log, int64_t offset, int32_t *epoch,
                       int64_t *start, int64_t *end) {
  const GArray *a = log->epochs;
  guint lo = 0, hi = a->len; /* [0, lo) start <= offset */
  while (lo < hi) {
    guint mid = lo + (hi - lo) / 2;
    if (g_array_index(a, log__epoch_entry, mid).start_offset <= offset)
      lo = mid + 1;
    else
      hi = mid;
  }
  *epoch = lo == 0 ? -1 : g_array_index(a, log__epoch_entry, lo - 1).epoch;
  *start = lo == 0 ? INT64_MIN
                   : g_array_index(a, log__epoch_entry, lo - 1).start_offset;
  *end = lo == a->len ? INT64_MAX
                      : g_array_index(a, log__epoch_entry, lo).start_offset;
}

int32_t log__epochs_for_offset(const log_t *log, int64_t offset) {
  int32_t epoch;
  int64_t start, end;
  log__epochs_range(log, offset, &epoch, &start, &end);
  return epoch;
}

int32_t log_latest_epoch(const log_t *log) {
  const GArray *a = log->epochs;
  return a->len ? g_array_index(a, log__epoch_entry, a->len - 1).epoch : -1;
}

void log_epoch_end_offset(const log_t *log, int32_t epoch, int32_t *epoch_out,
                          int64_t *end_offset) {
  const GArray *a = log->epochs;
  *epoch_out = -1;
  *end_offset = -1;
  if (a->len == 0)
    return;
  const log__epoch_entry *first = &g_array_index(a, log__epoch_entry, 0);
  if (epoch < first->epoch)
    return;
  guint i = 0;
  while (i + 1 < a->len &&
         g_array_index(a, log__epoch_entry, i + 1).epoch <= epoch)
    i++;
  *epoch_out = g_array_index(a, log__epoch_entry, i).epoch;
  *end_offset = i + 1 < a->len
                    ? g_array_index(a, log__epoch_entry, i + 1).start_offset
                    : log->log_end_offset;
}
