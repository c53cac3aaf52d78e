/*
 * afile.c — small files replaced atomically, the way Kafka writes its
 * checkpoints: write `<name>.tmp`, fsync it, rename it over `<name>`, fsync
 * the directory. A crash at any step leaves the old file or the new one,
 * never a mix; the callback runs only when the new name is durable.
 *
 * One write runs at a time per file. Writes requested meanwhile coalesce:
 * only the newest content is written next, and all of their waiters are
 * answered when it is durable.
 */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include "base/assert.h"
#include "broker/server/broker_internal.h"

typedef struct waiter {
  broker_done_cb cb;
  void *arg;
} waiter;

struct broker__afile {
  env_t *env;
  char *dir;  /* [owned] */
  char *path; /* [owned] */
  char *tmp;  /* [owned] */
  bool running;
  env_file_t *file; /* the .tmp while its fsync runs */
  GArray *running_waiters; /* waiter */
  int failed_status;   /* a write that failed before its fsync */
  uint64_t fail_timer; /* reports it on a later turn */
  bool queued;
  buf_t queued_data;
  GArray *queued_waiters;
};

broker__afile *broker__afile_new(env_t *env, const char *dir,
                                 const char *name) {
  broker__afile *f = g_new0(broker__afile, 1);
  f->env = env;
  f->dir = g_strdup(dir);
  f->path = g_strdup_printf("%s/%s", dir, name);
  f->tmp = g_strdup_printf("%s/%s.tmp", dir, name);
  f->running_waiters = g_array_new(FALSE, FALSE, sizeof(waiter));
  f->queued_waiters = g_array_new(FALSE, FALSE, sizeof(waiter));
  buf_init(&f->queued_data);
  return f;
}

bool broker__afile_idle(const broker__afile *f) {
  return !f->running && !f->queued;
}

void broker__afile_free(broker__afile *f) {
  if (!f)
    return;
  env_file_close(f->file);
  if (f->fail_timer)
    env_timer_cancel(f->env, f->fail_timer);
  g_free(f->dir);
  g_free(f->path);
  g_free(f->tmp);
  g_array_free(f->running_waiters, TRUE);
  g_array_free(f->queued_waiters, TRUE);
  buf_free(&f->queued_data);
  g_free(f);
}

static void start_next(broker__afile *f);

static void finish(broker__afile *f, int status) {
  /* Waiters may free f only through the broker's teardown, which never
   * runs inside a callback chain; copy them out first anyway so a waiter
   * that queues a new write is not answered by this round. */
  GArray *ws = f->running_waiters;
  f->running_waiters = g_array_new(FALSE, FALSE, sizeof(waiter));
  f->running = false;
  start_next(f);
  for (guint i = 0; i < ws->len; i++) {
    waiter *w = &g_array_index(ws, waiter, i);
    if (w->cb)
      w->cb(w->arg, status);
  }
  g_array_free(ws, TRUE);
}

static void on_failed(void *arg) {
  broker__afile *f = arg;
  f->fail_timer = 0;
  finish(f, f->failed_status);
}

static void on_dir_synced(void *arg, int status) {
  finish(arg, status);
}

static void on_tmp_synced(void *arg, int status) {
  broker__afile *f = arg;
  env_file_close(f->file);
  f->file = NULL;
  if (status == 0)
    status = env_rename(f->env, f->tmp, f->path);
  if (status < 0) {
    env_log(f->env, ENV_LOG_ERROR, "writing %s failed: %s", f->path,
            g_strerror(-status));
    finish(f, status);
    return;
  }
  env_dir_fsync(f->env, f->dir, on_dir_synced, f);
}

static void start_next(broker__afile *f) {
  if (f->running || !f->queued)
    return;
  f->running = true;
  f->queued = false;
  GArray *t = f->running_waiters;
  f->running_waiters = f->queued_waiters;
  f->queued_waiters = t;
  env_file_t *file = NULL;
  int rc = env_file_open(f->env, f->tmp,
                         ENV_O_WRITE | ENV_O_CREATE | ENV_O_TRUNC, &file);
  if (rc == 0)
    rc = env_file_pwrite(file, f->queued_data.data, f->queued_data.len, 0);
  buf_clear(&f->queued_data);
  if (rc < 0) {
    env_file_close(file);
    env_log(f->env, ENV_LOG_ERROR, "writing %s failed: %s", f->tmp,
            g_strerror(-rc));
    /* Report on a later turn, as every env callback does. */
    f->failed_status = rc;
    f->fail_timer = env_timer_start(f->env, 0, on_failed, f);
    return;
  }
  f->file = file;
  env_file_fsync(file, on_tmp_synced, f);
}

void broker__afile_write(broker__afile *f, const void *data, size_t len,
                         broker_done_cb cb, void *arg) {
  buf_clear(&f->queued_data);
  buf_append(&f->queued_data, data, len);
  f->queued = true;
  waiter w = {cb, arg};
  g_array_append_val(f->queued_waiters, w);
  start_next(f);
}

int broker__read_file(env_t *env, const char *path, size_t max_bytes,
                      char **text, size_t *len) {
  env_file_t *file = NULL;
  *text = NULL;
  *len = 0;
  int rc = env_file_open(env, path, ENV_O_READ, &file);
  if (rc < 0)
    return rc;
  uint64_t size = 0;
  rc = env_file_size(file, &size);
  if (rc < 0)
    goto out_close;
  if (size > max_bytes) {
    rc = -EFBIG;
    goto out_close;
  }
  char *data = g_malloc((size_t)size + 1);
  size_t n = 0;
  rc = env_file_pread(file, data, (size_t)size, 0, &n);
  if (rc < 0) {
    g_free(data);
    goto out_close;
  }
  data[n] = '\0';
  *text = data;
  *len = n;
out_close:
  env_file_close(file);
  return rc;
}
