/*
 * sim_env.c — the env_ops table of a simulated node: virtual clocks, timers,
 * the node's random stream, files on its simulated disk (sim/disk.h) with
 * fsyncs that complete after a drawn latency, logs, trace events and
 * metrics. The network half of the table is in sim_net.c.
 *
 * Dead envs (env.h, top comment): while node->dead, every call is a
 * harmless no-op — writes are dropped (return 0), opens and reads fail with
 * -EIO, closes and cancels succeed, and nothing is ever called back. A
 * handle made by an earlier incarnation is dead for good.
 *
 * File views (env_file_view) come from sim_disk_view: a pointer into the
 * page holding the range, or a copy when it spans pages. Copies live until
 * the file's next view made in a later event (the callback that held them
 * has returned by then), or until the file is written, truncated or closed
 * through that handle — so a copy used after one of those reads freed
 * memory, which ASan builds report. A view consumes an injected read EIO
 * exactly as a pread would and records no trace event (neither does
 * pread): a scenario's trace does not depend on which of the two a node
 * uses.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "sim/sim_internal.h"

typedef struct sim__file {
  env_file_t base; /* first */
  sim_node_t *node;
  uint64_t incarnation;
  sim_disk_file_t *df; /* NULL once closed */
  GList *link;         /* in node->files */
  /* Fsyncs issued and not yet completed. A file closed while some are
   * pending stays allocated (with closed set) until the last completes, so
   * the completion can tell that its callback must not run (env.h). */
  unsigned fsyncs_pending;
  bool closed;
  /* Views longer than a page are copies (sim/disk.h): [owned] buffers,
   * freed by the first view of a later event, or when the file is written,
   * truncated or closed (ends env.h gives a view). NULL until needed. */
  GPtrArray *view_copies;
  uint64_t view_copies_event; /* sim->events_run when they were made */
} sim__file;

static sim__file *file_of(env_file_t *f) { return (sim__file *)f; }

static void view_copies_free(sim__file *f) {
  if (!f->view_copies)
    return;
  for (guint i = 0; i < f->view_copies->len; i++)
    g_free(g_ptr_array_index(f->view_copies, i));
  g_ptr_array_set_size(f->view_copies, 0);
}

static bool node_live(const sim_node_t *node) { return !node->dead; }

static bool file_live(const sim__file *f) {
  return !f->node->dead && f->incarnation == f->node->incarnation;
}

/* ------------------------------------------------------------- identity */

static const char *env_sim_node_name(env_t *env) {
  return sim__node_of(env)->name;
}

static uint64_t env_sim_seed(env_t *env) {
  return sim__node_of(env)->sim->opts.seed;
}

/* ---------------------------------------------------------------- clock */

static uint64_t env_sim_now_ns(env_t *env) {
  return sim__node_of(env)->sim->now_ns;
}

static int64_t env_sim_wall_ms(env_t *env) {
  sim_node_t *node = sim__node_of(env);
  int64_t ns = (int64_t)node->sim->now_ns + node->skew_ns;
  /* Floor division, so a negative skew near time 0 still rounds down. */
  int64_t ms = ns >= 0 ? ns / 1000000 : -((-ns + 999999) / 1000000);
  return SIM__WALL_EPOCH_MS + ms;
}

/* --------------------------------------------------------------- timers */

/* A timer id is (generation << 32) | (slot + 1): never 0, and an id whose
 * slot was reused has an older generation, so stale ids never match. */
static uint64_t timer_id(uint32_t slot, uint32_t gen) {
  return ((uint64_t)gen << 32) | ((uint64_t)slot + 1);
}

/* The id a dead env returns: generation 0 is never live. */
#define TIMER_ID_DEAD UINT64_C(0xffffffff)

static void timer_release(sim_node_t *node, uint32_t slot) {
  sim__timer_slot *s = &g_array_index(node->timers, sim__timer_slot, slot);
  s->pending = false;
  s->cb = NULL;
  s->arg = NULL;
  s->gen = s->gen == UINT32_MAX ? 1 : s->gen + 1;
  s->next_free = node->timer_free_head;
  node->timer_free_head = slot;
}

void sim__timers_reset(sim_node_t *node) {
  for (guint i = 0; i < node->timers->len; i++)
    if (g_array_index(node->timers, sim__timer_slot, i).pending)
      timer_release(node, i);
}

static void timer_fire(sim_t *sim, const sim__event *ev) {
  sim_node_t *node = ev->obj;
  if (node->incarnation != ev->a || node->dead)
    return;
  uint32_t slot = (uint32_t)(ev->b & 0xffffffffu) - 1;
  uint32_t gen = (uint32_t)(ev->b >> 32);
  SL_ASSERT(slot < node->timers->len);
  sim__timer_slot *s = &g_array_index(node->timers, sim__timer_slot, slot);
  if (!s->pending || s->gen != gen)
    return; /* cancelled */
  env_timer_cb cb = s->cb;
  void *arg = s->arg;
  timer_release(node, slot);
  sim__trace(sim, node, "timer.fire", "\"id\":%" PRIu64, ev->b);
  cb(arg);
}

static uint64_t env_sim_timer_start(env_t *env, uint64_t delay_ns,
                                    env_timer_cb cb, void *arg) {
  sim_node_t *node = sim__node_of(env);
  sim_t *sim = node->sim;
  SL_ASSERT(cb != NULL);
  if (!node_live(node))
    return TIMER_ID_DEAD;
  uint32_t slot = node->timer_free_head;
  if (slot == SIM__SLOT_NONE) {
    SL_ASSERT(node->timers->len < SIM__TIMERS_MAX);
    slot = node->timers->len;
    sim__timer_slot fresh = {.gen = 1, .next_free = SIM__SLOT_NONE};
    g_array_append_val(node->timers, fresh);
  } else {
    node->timer_free_head =
        g_array_index(node->timers, sim__timer_slot, slot).next_free;
  }
  sim__timer_slot *s = &g_array_index(node->timers, sim__timer_slot, slot);
  s->cb = cb;
  s->arg = arg;
  s->pending = true;
  s->next_free = SIM__SLOT_NONE;
  uint64_t id = timer_id(slot, s->gen);
  uint64_t at =
      delay_ns > UINT64_MAX - sim->now_ns ? UINT64_MAX : sim->now_ns + delay_ns;
  sim__event ev = {.time_ns = at,
                   .fire = timer_fire,
                   .obj = node,
                   .a = node->incarnation,
                   .b = id};
  sim__push(sim, &ev);
  return id;
}

static bool env_sim_timer_cancel(env_t *env, uint64_t id) {
  sim_node_t *node = sim__node_of(env);
  if (!node_live(node) || id == 0)
    return false;
  uint64_t low = id & 0xffffffffu;
  if (low == 0 || low > node->timers->len)
    return false;
  uint32_t slot = (uint32_t)low - 1;
  sim__timer_slot *s = &g_array_index(node->timers, sim__timer_slot, slot);
  if (!s->pending || s->gen != (uint32_t)(id >> 32))
    return false;
  /* The heap entry stays and is skipped when it pops (lazy deletion). */
  timer_release(node, slot);
  return true;
}

/* ------------------------------------------------------------ randomness */

static uint64_t env_sim_rand_u64(env_t *env) {
  return sim__rng_next(&sim__node_of(env)->rng);
}

/* ----------------------------------------------------------------- files */

static int env_sim_file_open(env_t *env, const char *path, int flags,
                             env_file_t **out) {
  sim_node_t *node = sim__node_of(env);
  SL_ASSERT(path != NULL && out != NULL);
  /* The same programmer errors env_uv asserts. */
  SL_ASSERT((flags & (ENV_O_READ | ENV_O_WRITE)) != 0);
  SL_ASSERT(!(flags & ENV_O_EXCL) || (flags & ENV_O_CREATE));
  *out = NULL;
  if (!node_live(node))
    return -EIO;
  sim_disk_file_t *df = NULL;
  int rc = sim_disk_open(node->disk, path, flags, &df);
  if (rc < 0)
    return rc;
  sim__file *f = g_new0(sim__file, 1);
  f->base.ops = &sim__env_ops;
  f->node = node;
  f->incarnation = node->incarnation;
  f->df = df;
  g_queue_push_tail(&node->files, f);
  f->link = g_queue_peek_tail_link(&node->files);
  *out = &f->base;
  return 0;
}

static int env_sim_file_pwrite(env_file_t *ef, const void *data, size_t len,
                               uint64_t offset) {
  sim__file *f = file_of(ef);
  if (!file_live(f))
    return 0;
  view_copies_free(f);
  return sim_disk_pwrite(f->node->disk, f->df, data, len, offset);
}

static int env_sim_file_append(env_file_t *ef, const void *data, size_t len) {
  sim__file *f = file_of(ef);
  if (!file_live(f))
    return 0;
  view_copies_free(f);
  return sim_disk_append(f->node->disk, f->df, data, len);
}

static int env_sim_file_pread(env_file_t *ef, void *buf, size_t len,
                              uint64_t offset, size_t *n_read) {
  sim__file *f = file_of(ef);
  *n_read = 0;
  if (!file_live(f))
    return -EIO;
  return sim_disk_pread(f->node->disk, f->df, buf, len, offset, n_read);
}

static uint8_t *view_scratch(void *arg, size_t len) {
  sim__file *f = arg;
  uint8_t *copy = g_malloc(len);
  g_ptr_array_add(f->view_copies, copy);
  return copy;
}

/* Faults as for pread (sim_disk_view), and no trace event either. */
static int env_sim_file_view(env_file_t *ef, uint64_t offset, size_t len,
                             const uint8_t **out) {
  sim__file *f = file_of(ef);
  SL_ASSERT(out != NULL);
  *out = NULL;
  if (!file_live(f))
    return -EIO;
  SL_ASSERT(!f->closed);
  uint64_t event = f->node->sim->events_run;
  if (!f->view_copies)
    f->view_copies = g_ptr_array_new();
  else if (f->view_copies_event != event)
    view_copies_free(f); /* made in an earlier callback: no longer alive */
  f->view_copies_event = event;
  return sim_disk_view(f->node->disk, f->df, offset, len, view_scratch, f, out);
}

static int env_sim_file_size(env_file_t *ef, uint64_t *size) {
  sim__file *f = file_of(ef);
  *size = 0;
  if (!file_live(f))
    return -EIO;
  return sim_disk_size(f->node->disk, f->df, size);
}

static int env_sim_file_truncate(env_file_t *ef, uint64_t size) {
  sim__file *f = file_of(ef);
  if (!file_live(f))
    return 0;
  view_copies_free(f);
  return sim_disk_truncate(f->node->disk, f->df, size);
}

/* Advice changes nothing on a simulated disk (env.h): ignoring it keeps
 * every run the same whether or not a node gives any. */
static void env_sim_file_advise(env_file_t *ef, env_file_advice advice,
                                uint64_t offset, uint64_t len) {
  (void)ef;
  (void)advice;
  (void)offset;
  (void)len;
}

/* An fsync's completion. The disk half runs whatever became of the node
 * (the kernel finishes a write-back even if the process died; a crashed
 * disk ignores the ticket); the callback only for the same incarnation. */
static void file_free(sim__file *f) {
  view_copies_free(f);
  if (f->view_copies)
    g_ptr_array_free(f->view_copies, TRUE);
  g_free(f);
}

static void fsync_fire(sim_t *sim, const sim__event *ev) {
  sim_node_t *node = ev->obj;
  int64_t ticket = (int64_t)ev->b;
  int status =
      ticket < 0 ? (int)ticket : sim_disk_fsync_end(node->disk, ticket);
  bool live = node->incarnation == ev->a && !node->dead;
  sim__trace(sim, node, "disk.fsync",
             "\"ticket\":%" PRId64 ",\"status\":%d,\"live\":%s", ticket, status,
             live ? "true" : "false");
  if (!live)
    return; /* the incarnation's files were released with it */
  sim__file *f = ev->aux;
  if (f) { /* a file fsync (directory fsyncs carry no file) */
    SL_ASSERT(f->fsyncs_pending > 0);
    f->fsyncs_pending--;
    if (f->closed) {
      if (f->fsyncs_pending == 0) {
        g_queue_delete_link(&node->files, f->link);
        file_free(f);
      }
      return; /* closed meanwhile: no callback (env.h) */
    }
  }
  if (ev->cb.done)
    ev->cb.done(ev->arg, status);
}

/* Completions of one node's disk come back in the order they were issued. */
static void schedule_fsync(sim_node_t *node, sim__file *file, int64_t ticket,
                           env_done_cb cb, void *arg) {
  sim_t *sim = node->sim;
  uint64_t at =
      sim->now_ns + sim__rng_latency(&sim->streams[SIM_STREAM_DISK],
                                     sim->opts.fsync_latency_min_ns,
                                     sim->opts.fsync_latency_mean_extra_ns);
  if (at < node->fsync_last_done_ns)
    at = node->fsync_last_done_ns;
  node->fsync_last_done_ns = at;
  sim__event ev = {.time_ns = at,
                   .fire = fsync_fire,
                   .obj = node,
                   .a = node->incarnation,
                   .b = (uint64_t)ticket,
                   .cb.done = cb,
                   .arg = arg,
                   .aux = file};
  sim__push(sim, &ev);
}

static void env_sim_file_fsync(env_file_t *ef, env_done_cb cb, void *arg) {
  sim__file *f = file_of(ef);
  if (!file_live(f))
    return;
  SL_ASSERT(!f->closed);
  int64_t ticket = sim_disk_fsync_begin(f->node->disk, f->df);
  SL_ASSERT(ticket != 0);
  f->fsyncs_pending++;
  schedule_fsync(f->node, f, ticket, cb, arg);
}

static void env_sim_file_close(env_file_t *ef) {
  sim__file *f = file_of(ef);
  if (!file_live(f))
    return; /* released with the rest of its incarnation */
  SL_ASSERT(!f->closed);
  sim_disk_close(f->node->disk, f->df);
  f->df = NULL;
  view_copies_free(f);
  if (f->fsyncs_pending > 0) {
    f->closed = true; /* freed by the last completion */
    return;
  }
  g_queue_delete_link(&f->node->files, f->link);
  file_free(f);
}

/* ----------------------------------------------------- names, directories */

static int env_sim_mkdir(env_t *env, const char *path) {
  sim_node_t *node = sim__node_of(env);
  return node_live(node) ? sim_disk_mkdir(node->disk, path) : 0;
}

static int env_sim_rename(env_t *env, const char *from, const char *to) {
  sim_node_t *node = sim__node_of(env);
  return node_live(node) ? sim_disk_rename(node->disk, from, to) : 0;
}

static int env_sim_unlink(env_t *env, const char *path) {
  sim_node_t *node = sim__node_of(env);
  return node_live(node) ? sim_disk_unlink(node->disk, path) : 0;
}

static int env_sim_rmdir(env_t *env, const char *path) {
  sim_node_t *node = sim__node_of(env);
  return node_live(node) ? sim_disk_rmdir(node->disk, path) : 0;
}

static int env_sim_list_dir(env_t *env, const char *path, char ***names) {
  sim_node_t *node = sim__node_of(env);
  *names = NULL;
  return node_live(node) ? sim_disk_list_dir(node->disk, path, names) : -EIO;
}

static int env_sim_stat(env_t *env, const char *path, bool *is_dir) {
  sim_node_t *node = sim__node_of(env);
  return node_live(node) ? sim_disk_stat(node->disk, path, is_dir) : -EIO;
}

static void env_sim_dir_fsync(env_t *env, const char *path, env_done_cb cb,
                              void *arg) {
  sim_node_t *node = sim__node_of(env);
  if (!node_live(node))
    return;
  int64_t ticket = sim_disk_dir_fsync_begin(node->disk, path);
  SL_ASSERT(ticket != 0);
  schedule_fsync(node, NULL, ticket, cb, arg);
}

/* --------------------------------------------------- logs, trace, metrics */

static const char *level_name(env_log_level level) {
  switch (level) {
  case ENV_LOG_DEBUG:
    return "DEBUG";
  case ENV_LOG_INFO:
    return "INFO";
  case ENV_LOG_WARN:
    return "WARN";
  case ENV_LOG_ERROR:
    return "ERROR";
  }
  return "?";
}

static void env_sim_logv(env_t *env, env_log_level level, const char *fmt,
                         va_list ap) {
  sim_node_t *node = sim__node_of(env);
  sim_t *sim = node->sim;
  if (!node_live(node) || (int)level < sim->opts.log_level)
    return;
  g_string_vprintf(sim->log_line, fmt, ap);
  fprintf(stderr, "%" PRIu64 ".%09" PRIu64 " %-5s %s: %s\n",
          sim->now_ns / 1000000000u, sim->now_ns % 1000000000u,
          level_name(level), node->name, sim->log_line->str);
}

static void env_sim_tracev(env_t *env, const char *kind, const char *fmt,
                           va_list ap) {
  sim_node_t *node = sim__node_of(env);
  if (!node_live(node))
    return;
  sim__tracev(node->sim, node, kind, fmt, ap);
}

static void env_sim_metric_add(env_t *env, const char *name, int64_t delta) {
  sim_node_t *node = sim__node_of(env);
  if (!node_live(node))
    return;
  int64_t *v = g_hash_table_lookup(node->metrics, name);
  if (!v) {
    v = g_new0(int64_t, 1);
    g_hash_table_insert(node->metrics, (gpointer)name, v);
  }
  *v += delta;
}

static int64_t env_sim_metric_get(env_t *env, const char *name) {
  int64_t *v = g_hash_table_lookup(sim__node_of(env)->metrics, name);
  return v ? *v : 0;
}

/* ------------------------------------------------------------ node down */

void sim__env_node_down(sim_t *sim, sim_node_t *node, bool crashed) {
  sim__timers_reset(node);
  /* Files: the OS closes them; nothing is synced by that. */
  sim__file *f;
  while ((f = g_queue_pop_head(&node->files))) {
    if (f->df)
      sim_disk_close(node->disk, f->df);
    file_free(f);
  }
  sim__net_node_down(sim, node, crashed);
}

/* ----------------------------------------------------------------- table */

const env_ops sim__env_ops = {
    .node_name = env_sim_node_name,
    .seed = env_sim_seed,
    .now_ns = env_sim_now_ns,
    .wall_ms = env_sim_wall_ms,
    .timer_start = env_sim_timer_start,
    .timer_cancel = env_sim_timer_cancel,
    .rand_u64 = env_sim_rand_u64,
    .listen = sim__net_listen,
    .listener_port = sim__net_listener_port,
    .listener_close = sim__net_listener_close,
    .connect = sim__net_connect,
    .conn_set_cbs = sim__net_conn_set_cbs,
    .conn_send = sim__net_conn_send,
    .conn_sendv = sim__net_conn_sendv,
    .conn_queued_bytes = sim__net_conn_queued_bytes,
    .conn_pause_reading = sim__net_conn_pause_reading,
    .conn_resume_reading = sim__net_conn_resume_reading,
    .conn_close = sim__net_conn_close,
    .conn_peer = sim__net_conn_peer,
    .file_open = env_sim_file_open,
    .file_pwrite = env_sim_file_pwrite,
    .file_append = env_sim_file_append,
    .file_pread = env_sim_file_pread,
    .file_size = env_sim_file_size,
    .file_truncate = env_sim_file_truncate,
    .file_advise = env_sim_file_advise,
    .file_fsync = env_sim_file_fsync,
    .file_close = env_sim_file_close,
    .file_view = env_sim_file_view,
    .mkdir = env_sim_mkdir,
    .rename = env_sim_rename,
    .unlink = env_sim_unlink,
    .rmdir = env_sim_rmdir,
    .list_dir = env_sim_list_dir,
    .stat = env_sim_stat,
    .dir_fsync = env_sim_dir_fsync,
    .logv = env_sim_logv,
    .tracev = env_sim_tracev,
    .metric_add = env_sim_metric_add,
    .metric_get = env_sim_metric_get,
};
