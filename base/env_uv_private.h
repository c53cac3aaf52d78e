/*
 * env_uv_private.h — what the env_uv source files share (not for node
 * code: nodes see env.h, programs see env_uv.h).
 *
 * Lifetime: the env counts everything that can still call back into it —
 * open uv handles, requests in flight, connections not yet freed — in
 * `refs`. env_uv_free closes what is open and runs the loop until refs
 * reaches 0, so no libuv callback ever finds a freed env. `closing` is set
 * first, which silences every node callback from then on.
 */
#ifndef SLUICE_BASE_ENV_UV_PRIVATE_H
#define SLUICE_BASE_ENV_UV_PRIVATE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "base/assert.h"
#include "base/env.h"
#include "base/env_uv.h"

/* Bytes read from a socket per read call; one buffer per env, reused,
 * because a read is handed to on_data and consumed before the next. */
#define ENV_UV__READ_BYTES ((size_t)64 * 1024)
/* Largest single read into memory a node lends (uv_buf_t lengths are
 * unsigned int; a longer loan is simply read in several steps). */
#define ENV_UV__LOAN_BYTES_MAX ((size_t)1 << 30)

typedef struct env_uv {
  env_t base; /* must be first: env.c dispatches through base.ops */
  uv_loop_t *loop;
  char *node_name;
  uint64_t seed;
  uint64_t rng_state[4]; /* xoshiro256** */
  uint64_t timer_id_last;
  GHashTable *timers;    /* &timer->id -> env_uv__timer (pending only) */
  GHashTable *listeners; /* set of open env_uv__listener */
  GHashTable *conns;     /* set of env_uv__conn not yet freed */
  GHashTable *files;     /* set of env_uv__file not yet freed */
  /* env_file_view's mmap windows and their trimming (env_uv_fs.c);
   * NULL until the first view [owned]. */
  struct env_uv__views *views;
  GHashTable *metrics;   /* name [owned] -> int64_t [owned] */
  env_log_level log_level_min;
  FILE *log_out;   /* NULL = stderr */
  FILE *trace_out; /* NULL = tracing off */
  /* Zero-delay timers that may run on the loop's next turn without
   * libuv's 1 ms rounding (env_uv.c, "immediate timers"). */
  GQueue immediates;       /* of env_uv__timer, in start order */
  uv_check_t immediate_check; /* runs them, after the poll phase */
  uv_idle_t immediate_idle;   /* active while any wait: poll does not block */
  bool immediate_handles;     /* both handles are initialised */
  GTree *rounded; /* pending timers on libuv's millisecond clock, by
                     deadline then id (keys are the timers) */
  size_t refs;     /* see the top of this file */
  bool closing;    /* env_uv_free has begun: no more node callbacks */
  uint8_t read_buf[ENV_UV__READ_BYTES];
} env_uv;

/* The table every env_uv struct (env, conn, listener, file) points at. */
extern const env_ops env_uv__ops;

static inline env_uv *env_uv__from(env_t *env) {
  SL_ASSERT(env != NULL && env->ops == &env_uv__ops);
  return (env_uv *)env;
}

void env_uv__ref(env_uv *env);
void env_uv__unref(env_uv *env);

/* Maps a libuv status (negative errno, or a resolver code) to a negative
 * errno value as env.h promises. */
int env_uv__errno(int uv_status);

/* Internal diagnostics go through the node's own log. */
void env_uv__log(env_uv *env, env_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- network (env_uv_net.c) ---- */

int env_uv__listen(env_t *env, const char *host, uint16_t port,
                   env_accept_cb on_accept, void *arg, env_listener_t **out);
uint16_t env_uv__listener_port(env_listener_t *listener);
void env_uv__listener_close(env_listener_t *listener);
env_conn_t *env_uv__connect(env_t *env, const char *host, uint16_t port,
                            const env_conn_cbs *cbs, void *arg);
void env_uv__conn_set_cbs(env_conn_t *conn, const env_conn_cbs *cbs, void *arg);
int env_uv__conn_send(env_conn_t *conn, const uint8_t *data, size_t len);
int env_uv__conn_sendv(env_conn_t *conn, const env_iovec *iov,
                       const env_iovec_file *files, size_t n);
size_t env_uv__conn_queued_bytes(env_conn_t *conn);
void env_uv__conn_pause_reading(env_conn_t *conn);
void env_uv__conn_resume_reading(env_conn_t *conn);
void env_uv__conn_close(env_conn_t *conn);
const char *env_uv__conn_peer(env_conn_t *conn);
/* env_uv_free: closes every listener and connection at once. */
void env_uv__net_close_all(env_uv *env);

/* ---- disk (env_uv_fs.c) ---- */

int env_uv__file_open(env_t *env, const char *path, int flags,
                      env_file_t **out);
int env_uv__file_pwrite(env_file_t *file, const void *data, size_t len,
                        uint64_t offset);
int env_uv__file_append(env_file_t *file, const void *data, size_t len);
int env_uv__file_pread(env_file_t *file, void *buf, size_t len, uint64_t offset,
                       size_t *n_read);
int env_uv__file_size(env_file_t *file, uint64_t *size);
int env_uv__file_truncate(env_file_t *file, uint64_t size);
void env_uv__file_advise(env_file_t *file, env_file_advice advice,
                         uint64_t offset, uint64_t len);
void env_uv__file_fsync(env_file_t *file, env_done_cb cb, void *arg);
void env_uv__file_close(env_file_t *file);
int env_uv__file_view(env_file_t *file, uint64_t offset, size_t len,
                      const uint8_t **out);
/* The descriptor of an open file (for sendfile from it). */
int env_uv__file_fd(env_file_t *file);
int env_uv__mkdir(env_t *env, const char *path);
int env_uv__rename(env_t *env, const char *from, const char *to);
int env_uv__unlink(env_t *env, const char *path);
int env_uv__rmdir(env_t *env, const char *path);
int env_uv__list_dir(env_t *env, const char *path, char ***names);
int env_uv__stat(env_t *env, const char *path, bool *is_dir);
void env_uv__dir_fsync(env_t *env, const char *path, env_done_cb cb, void *arg);
/* env_uv_free: closes every file the node left open. */
void env_uv__fs_close_all(env_uv *env);

#endif
