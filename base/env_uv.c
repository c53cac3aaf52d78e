/*
 * env_uv.c — the libuv environment: creation and teardown, clocks, timers,
 * randomness, logging, tracing and metrics. The network lives in
 * env_uv_net.c, the disk in env_uv_fs.c; the contract is env.h and the
 * libuv mapping is described in env_uv.h.
 */
#include "base/env_uv.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/env_uv_private.h"
#include "base/splitmix.h"

#define NS_PER_MS UINT64_C(1000000)

/* A log line longer than this is formatted on the heap instead. */
#define LOG_LINE_BYTES 1024

/* ------------------------------------------------------------ lifetime */

void env_uv__ref(env_uv *env) { env->refs++; }

void env_uv__unref(env_uv *env) {
  SL_ASSERT(env->refs > 0);
  env->refs--;
}

int env_uv__errno(int uv_status) {
  switch (uv_status) {
  case UV_EAI_AGAIN:
    return -EAGAIN;
  case UV_EAI_MEMORY:
    return -ENOMEM;
  case UV_EAI_CANCELED:
    return -ECANCELED;
  case UV_EAI_NONAME:
  case UV_EAI_NODATA:
  case UV_EAI_ADDRFAMILY:
  case UV_EAI_FAIL:
    return -EHOSTUNREACH;
  case UV_EAI_BADFLAGS:
  case UV_EAI_BADHINTS:
  case UV_EAI_FAMILY:
  case UV_EAI_OVERFLOW:
  case UV_EAI_PROTOCOL:
  case UV_EAI_SERVICE:
  case UV_EAI_SOCKTYPE:
    return -EINVAL;
  case UV_EOF:
    return -EPIPE;
  default:
    break;
  }
  /* On POSIX the remaining libuv codes are -errno; libuv's own codes start
   * at -3000 (resolver, handled above) and have no errno counterpart. */
  if (uv_status < 0 && uv_status > -3000)
    return uv_status;
  return uv_status < 0 ? -EIO : uv_status;
}

/* ----------------------------------------------------------- identity */

static const char *op_node_name(env_t *env) {
  return env_uv__from(env)->node_name;
}

static uint64_t op_seed(env_t *env) { return env_uv__from(env)->seed; }

/* -------------------------------------------------------------- clock */

static uint64_t op_now_ns(env_t *env) { return uv_hrtime(); }

static int64_t op_wall_ms(env_t *env) {
  struct timespec ts;
  int rc = clock_gettime(CLOCK_REALTIME, &ts);
  SL_ASSERT(rc == 0);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------- timers */

typedef struct env_uv__timer {
  uv_timer_t handle; /* initialised for a rounded timer only */
  env_uv *env;
  uint64_t id; /* the key in env->timers points here */
  env_timer_cb cb;
  void *arg;
  uint64_t deadline_ns; /* of a rounded timer: the key in env->rounded */
  bool immediate; /* in env->immediates, not on libuv's timer heap */
  GList link;     /* in env->immediates */
} env_uv__timer;

/* Immediate timers. libuv measures timers in whole loop milliseconds, so a
 * zero delay used to cost up to a millisecond — on every "later turn"
 * deferral of the broker and the client, which is most of a request's
 * latency on loopback. A zero-delay timer therefore goes to a queue that a
 * check handle runs right after the poll phase, with an idle handle keeping
 * the poll from blocking while the queue is not empty. Each check pass runs
 * only the timers queued before it began, so one started by such a
 * callback waits for the next turn, and I/O is polled in between.
 *
 * Order (env.h: equal deadlines fire in start order; env_uv.h: starts with
 * non-decreasing deadlines fire in order): an immediate timer would overtake
 * a rounded timer whose deadline has already passed but whose loop
 * millisecond has not. So a zero delay takes the queue only while `now` is
 * below the earliest deadline of the pending rounded timers (kept in a tree
 * by deadline); otherwise it is rounded like any other timer, and so are
 * later zero delays until that timer has fired or been cancelled. */

static void timer_closed(uv_handle_t *handle) {
  env_uv__timer *timer = handle->data;
  env_uv__unref(timer->env);
  g_free(timer);
}

static gint rounded_cmp(gconstpointer a, gconstpointer b) {
  const env_uv__timer *x = a, *y = b;
  if (x->deadline_ns != y->deadline_ns)
    return x->deadline_ns < y->deadline_ns ? -1 : 1;
  return x->id < y->id ? -1 : x->id > y->id ? 1 : 0;
}

static void rounded_forget(env_uv__timer *timer) {
  bool was_there = g_tree_remove(timer->env->rounded, timer);
  SL_ASSERT(was_there);
}

/* The earliest deadline of a pending rounded timer, or UINT64_MAX. */
static uint64_t rounded_deadline_min(env_uv *env) {
  GTreeNode *first = g_tree_node_first(env->rounded);
  return first ? ((env_uv__timer *)g_tree_node_key(first))->deadline_ns
               : UINT64_MAX;
}

static void timer_fired(uv_timer_t *handle) {
  env_uv__timer *timer = handle->data;
  /* Forget the id before the callback, so cancelling it from inside the
   * callback (or later) reports false. */
  g_hash_table_remove(timer->env->timers, &timer->id);
  rounded_forget(timer);
  uv_close((uv_handle_t *)handle, timer_closed);
  if (!timer->env->closing)
    timer->cb(timer->arg);
}

static void immediate_run(uv_check_t *check) {
  env_uv *env = check->data;
  /* Only those queued before this pass (ids grow with start order), even
   * if a callback cancels some of them: see above. */
  GList *tail = g_queue_peek_tail_link(&env->immediates);
  if (!tail)
    return;
  uint64_t last_id = ((env_uv__timer *)tail->data)->id;
  GList *link;
  while ((link = g_queue_peek_head_link(&env->immediates)) &&
         ((env_uv__timer *)link->data)->id <= last_id) {
    g_queue_unlink(&env->immediates, link);
    env_uv__timer *timer = link->data;
    g_hash_table_remove(env->timers, &timer->id);
    env_timer_cb cb = timer->cb;
    void *arg = timer->arg;
    g_free(timer);
    env_uv__unref(env);
    if (!env->closing)
      cb(arg);
  }
  if (g_queue_is_empty(&env->immediates) && env->immediate_handles)
    uv_idle_stop(&env->immediate_idle);
}

static void immediate_idle_cb(uv_idle_t *idle) { (void)idle; }

static void immediate_handle_closed(uv_handle_t *handle) {
  env_uv__unref(handle->data);
}

static void immediate_handles_init(env_uv *env) {
  if (env->immediate_handles)
    return;
  int rc = uv_check_init(env->loop, &env->immediate_check);
  SL_ASSERT(rc == 0);
  rc = uv_idle_init(env->loop, &env->immediate_idle);
  SL_ASSERT(rc == 0);
  env->immediate_check.data = env;
  env->immediate_idle.data = env;
  rc = uv_check_start(&env->immediate_check, immediate_run);
  SL_ASSERT(rc == 0);
  /* The check handle alone must not keep the loop alive; a queued timer
   * does, through the idle handle. */
  uv_unref((uv_handle_t *)&env->immediate_check);
  env_uv__ref(env);
  env_uv__ref(env);
  env->immediate_handles = true;
}

static void immediate_handles_close(env_uv *env) {
  if (!env->immediate_handles)
    return;
  uv_close((uv_handle_t *)&env->immediate_check, immediate_handle_closed);
  uv_close((uv_handle_t *)&env->immediate_idle, immediate_handle_closed);
  env->immediate_handles = false;
}

static uint64_t add_saturating(uint64_t a, uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* libuv measures a timeout in milliseconds from the loop's cached time,
 * which lags the real clock by however long the current turn has run. The
 * timeout therefore covers that lag plus the delay, rounded up: the timer
 * cannot fire before now + delay_ns. The mapping is monotonic, so timers
 * started in deadline order keep that order. */
static uint64_t timeout_ms_for(env_uv *env, uint64_t now_ns,
                               uint64_t delay_ns) {
  uint64_t loop_ns = uv_now(env->loop) * NS_PER_MS;
  uint64_t lag_ns = now_ns > loop_ns ? now_ns - loop_ns : 0;
  uint64_t total_ns = add_saturating(delay_ns, lag_ns);
  return total_ns / NS_PER_MS + (total_ns % NS_PER_MS != 0);
}

static uint64_t op_timer_start(env_t *e, uint64_t delay_ns, env_timer_cb cb,
                               void *arg) {
  env_uv *env = env_uv__from(e);
  SL_ASSERT(cb != NULL);
  SL_ASSERT(!env->closing);
  SL_ASSERT(g_hash_table_size(env->timers) < ENV_UV_TIMERS_MAX);
  env_uv__timer *timer = g_new0(env_uv__timer, 1);
  timer->env = env;
  timer->id = ++env->timer_id_last;
  timer->cb = cb;
  timer->arg = arg;
  timer->link.data = timer;
  env_uv__ref(env);
  uint64_t now_ns = uv_hrtime();
  if (delay_ns == 0 && now_ns < rounded_deadline_min(env)) {
    immediate_handles_init(env);
    timer->immediate = true;
    g_queue_push_tail_link(&env->immediates, &timer->link);
    int rc = uv_idle_start(&env->immediate_idle, immediate_idle_cb);
    SL_ASSERT(rc == 0);
  } else {
    int rc = uv_timer_init(env->loop, &timer->handle);
    SL_ASSERT(rc == 0);
    timer->handle.data = timer;
    rc = uv_timer_start(&timer->handle, timer_fired,
                        timeout_ms_for(env, now_ns, delay_ns), 0);
    SL_ASSERT(rc == 0);
    timer->deadline_ns = add_saturating(now_ns, delay_ns);
    g_tree_insert(env->rounded, timer, timer);
  }
  g_hash_table_insert(env->timers, &timer->id, timer);
  return timer->id;
}

static void timer_discard(env_uv__timer *timer) {
  env_uv *env = timer->env;
  g_hash_table_remove(env->timers, &timer->id);
  if (timer->immediate) {
    g_queue_unlink(&env->immediates, &timer->link);
    g_free(timer);
    env_uv__unref(env);
    return;
  }
  rounded_forget(timer);
  uv_timer_stop(&timer->handle);
  uv_close((uv_handle_t *)&timer->handle, timer_closed);
}

static bool op_timer_cancel(env_t *e, uint64_t timer_id) {
  env_uv *env = env_uv__from(e);
  env_uv__timer *timer = g_hash_table_lookup(env->timers, &timer_id);
  if (!timer)
    return false;
  timer_discard(timer);
  return true;
}

/* --------------------------------------------------------- randomness */

static uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t op_rand_u64(env_t *e) {
  uint64_t *s = env_uv__from(e)->rng_state;
  uint64_t result = rotl64(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl64(s[3], 45);
  return result;
}

/* FNV-1a: folds the node name into the seed, so that nodes started with the
 * same seed in one process do not draw identical streams. */
static uint64_t fnv1a64(const char *s) {
  uint64_t h = UINT64_C(0xcbf29ce484222325);
  for (; *s; s++) {
    h ^= (uint8_t)*s;
    h *= UINT64_C(0x100000001b3);
  }
  return h;
}

static void rng_seed(env_uv *env) {
  uint64_t sm = env->seed ^ fnv1a64(env->node_name);
  for (int i = 0; i < 4; i++)
    env->rng_state[i] = splitmix64_next(&sm);
}

static uint64_t derive_seed(env_uv *env) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t sm = uv_hrtime() ^ ((uint64_t)getpid() << 32) ^
                (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
                (uint64_t)(uintptr_t)env;
  uint64_t seed = splitmix64_next(&sm);
  return seed ? seed : 1; /* 0 means "derive one", so never report it */
}

/* ------------------------------------------------------------ logging */

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
  return "?"; /* unreachable: callers assert the level */
}

/* "2026-11-27T23:01:02.123Z" */
static void format_wall_time(int64_t wall_ms, char *out, size_t out_len) {
  time_t secs = (time_t)(wall_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  size_t n = strftime(out, out_len, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out + n, out_len - n, ".%03dZ", (int)(wall_ms % 1000));
}

static void op_logv(env_t *e, env_log_level level, const char *fmt,
                    va_list ap) {
  env_uv *env = env_uv__from(e);
  SL_ASSERT(level >= ENV_LOG_DEBUG && level <= ENV_LOG_ERROR);
  if (level < env->log_level_min)
    return;
  char stack_msg[LOG_LINE_BYTES];
  char *heap_msg = NULL;
  const char *msg = stack_msg;
  va_list ap_copy;
  va_copy(ap_copy, ap);
  int n = vsnprintf(stack_msg, sizeof stack_msg, fmt, ap_copy);
  va_end(ap_copy);
  if (n < 0) {
    msg = "(unformattable log message)";
    n = (int)strlen(msg);
  } else if ((size_t)n >= sizeof stack_msg) {
    heap_msg = g_strdup_vprintf(fmt, ap);
    msg = heap_msg;
  }
  char when[40];
  format_wall_time(op_wall_ms(e), when, sizeof when);
  bool has_newline = n > 0 && msg[n - 1] == '\n';
  /* One stdio call per line: stdio locks the stream for its duration, so
   * lines from several threads of a program do not interleave. */
  fprintf(env->log_out ? env->log_out : stderr, "%s %s %s: %s%s", when,
          level_name(level), env->node_name, msg, has_newline ? "" : "\n");
  g_free(heap_msg);
}

void env_uv__log(env_uv *env, env_log_level level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  op_logv(&env->base, level, fmt, ap);
  va_end(ap);
}

/* ------------------------------------------------------------ tracing */

static void json_append_string(GString *out, const char *s) {
  g_string_append_c(out, '"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      g_string_append_printf(out, "\\%c", c);
    else if (c < 0x20)
      g_string_append_printf(out, "\\u%04x", c);
    else
      g_string_append_c(out, (char)c);
  }
  g_string_append_c(out, '"');
}

static void op_tracev(env_t *e, const char *kind, const char *fmt, va_list ap) {
  env_uv *env = env_uv__from(e);
  SL_ASSERT(kind != NULL && fmt != NULL);
  if (!env->trace_out)
    return;
  GString *line = g_string_sized_new(128);
  g_string_append_printf(line, "{\"t\":%" PRIu64 ",\"node\":", uv_hrtime());
  json_append_string(line, env->node_name);
  g_string_append(line, ",\"kind\":");
  json_append_string(line, kind);
  size_t len_before_members = line->len;
  g_string_append_c(line, ',');
  g_string_append_vprintf(line, fmt, ap);
  if (line->len == len_before_members + 1)
    g_string_truncate(line, len_before_members); /* no members: no comma */
  g_string_append(line, "}\n");
  fwrite(line->str, 1, line->len, env->trace_out);
  g_string_free(line, TRUE);
}

/* ------------------------------------------------------------ metrics */

static void op_metric_add(env_t *e, const char *name, int64_t delta) {
  env_uv *env = env_uv__from(e);
  SL_ASSERT(name != NULL);
  int64_t *value = g_hash_table_lookup(env->metrics, name);
  if (!value) {
    value = g_new0(int64_t, 1);
    g_hash_table_insert(env->metrics, g_strdup(name), value);
  }
  *value += delta;
}

static int64_t op_metric_get(env_t *e, const char *name) {
  env_uv *env = env_uv__from(e);
  SL_ASSERT(name != NULL);
  int64_t *value = g_hash_table_lookup(env->metrics, name);
  return value ? *value : 0;
}

/* -------------------------------------------------------------- table */

const env_ops env_uv__ops = {
    .node_name = op_node_name,
    .seed = op_seed,
    .now_ns = op_now_ns,
    .wall_ms = op_wall_ms,
    .timer_start = op_timer_start,
    .timer_cancel = op_timer_cancel,
    .rand_u64 = op_rand_u64,
    .listen = env_uv__listen,
    .listener_port = env_uv__listener_port,
    .listener_close = env_uv__listener_close,
    .connect = env_uv__connect,
    .conn_set_cbs = env_uv__conn_set_cbs,
    .conn_send = env_uv__conn_send,
    .conn_sendv = env_uv__conn_sendv,
    .conn_queued_bytes = env_uv__conn_queued_bytes,
    .conn_pause_reading = env_uv__conn_pause_reading,
    .conn_resume_reading = env_uv__conn_resume_reading,
    .conn_close = env_uv__conn_close,
    .conn_peer = env_uv__conn_peer,
    .file_open = env_uv__file_open,
    .file_pwrite = env_uv__file_pwrite,
    .file_append = env_uv__file_append,
    .file_pread = env_uv__file_pread,
    .file_size = env_uv__file_size,
    .file_truncate = env_uv__file_truncate,
    .file_advise = env_uv__file_advise,
    .file_fsync = env_uv__file_fsync,
    .file_close = env_uv__file_close,
    .file_view = env_uv__file_view,
    .mkdir = env_uv__mkdir,
    .rename = env_uv__rename,
    .unlink = env_uv__unlink,
    .rmdir = env_uv__rmdir,
    .list_dir = env_uv__list_dir,
    .stat = env_uv__stat,
    .dir_fsync = env_uv__dir_fsync,
    .logv = op_logv,
    .tracev = op_tracev,
    .metric_add = op_metric_add,
    .metric_get = op_metric_get,
};

/* ------------------------------------------------- creation, teardown */

static void ignore_sigpipe_if_default(void) {
  struct sigaction current;
  if (sigaction(SIGPIPE, NULL, &current) != 0)
    return;
  if (!(current.sa_flags & SA_SIGINFO) && current.sa_handler == SIG_DFL) {
    struct sigaction ignore;
    memset(&ignore, 0, sizeof ignore);
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGPIPE, &ignore, NULL);
  }
}

env_t *env_uv_new(uv_loop_t *loop, const char *node_name, uint64_t seed) {
  SL_ASSERT(loop != NULL);
  SL_ASSERT(node_name != NULL);
  ignore_sigpipe_if_default();
  env_uv *env = g_new0(env_uv, 1);
  env->base.ops = &env_uv__ops;
  env->loop = loop;
  env->node_name = g_strdup(node_name);
  env->seed = seed ? seed : derive_seed(env);
  rng_seed(env);
  env->timers = g_hash_table_new(g_int64_hash, g_int64_equal);
  env->listeners = g_hash_table_new(g_direct_hash, g_direct_equal);
  env->conns = g_hash_table_new(g_direct_hash, g_direct_equal);
  env->files = g_hash_table_new(g_direct_hash, g_direct_equal);
  env->metrics = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  env->log_level_min = ENV_LOG_INFO;
  g_queue_init(&env->immediates);
  env->rounded = g_tree_new(rounded_cmp);
  return &env->base;
}

static void cancel_all_timers(env_uv *env) {
  GList *timers = g_hash_table_get_values(env->timers);
  for (GList *t = timers; t; t = t->next)
    timer_discard(t->data);
  g_list_free(timers);
  SL_ASSERT(g_hash_table_size(env->timers) == 0);
}

void env_uv_free(env_t *e) {
  if (!e)
    return;
  env_uv *env = env_uv__from(e);
  SL_ASSERT(!env->closing);
  env->closing = true;
  cancel_all_timers(env);
  immediate_handles_close(env);
  env_uv__net_close_all(env);
  env_uv__fs_close_all(env);
  /* Handles close on the loop's next turns; fsync work finishes on the
   * thread pool. Both hold refs and keep the loop alive until they are
   * done, so uv_run cannot report an empty loop while refs remain. */
  while (env->refs > 0) {
    int alive = uv_run(env->loop, UV_RUN_ONCE);
    SL_ASSERT(alive || env->refs == 0);
  }
  SL_ASSERT(g_hash_table_size(env->listeners) == 0);
  SL_ASSERT(g_hash_table_size(env->conns) == 0);
  SL_ASSERT(g_hash_table_size(env->files) == 0);
  g_hash_table_destroy(env->timers);
  SL_ASSERT(g_tree_nnodes(env->rounded) == 0);
  g_tree_destroy(env->rounded);
  g_hash_table_destroy(env->listeners);
  g_hash_table_destroy(env->conns);
  g_hash_table_destroy(env->files);
  g_hash_table_destroy(env->metrics);
  g_free(env->node_name);
  g_free(env);
}

void env_uv_set_log_level(env_t *e, env_log_level min_level) {
  env_uv *env = env_uv__from(e);
  SL_ASSERT(min_level >= ENV_LOG_DEBUG && min_level <= ENV_LOG_ERROR);
  env->log_level_min = min_level;
}

void env_uv_set_log_file(env_t *e, FILE *out) {
  env_uv__from(e)->log_out = out;
}

void env_uv_set_trace(env_t *e, FILE *out) { env_uv__from(e)->trace_out = out; }
