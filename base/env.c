/*
 * env.c — dispatch from the env_* functions to the implementation's table.
 * Nothing here holds state; see env.h for the contract.
 */
#include "base/env.h"

#include "base/assert.h"

#include <stdlib.h>

const char *env_node_name(env_t *env) { return env->ops->node_name(env); }
uint64_t env_seed(env_t *env) { return env->ops->seed(env); }
uint64_t env_now_ns(env_t *env) { return env->ops->now_ns(env); }
int64_t env_wall_ms(env_t *env) { return env->ops->wall_ms(env); }

uint64_t env_timer_start(env_t *env, uint64_t delay_ns, env_timer_cb cb,
                         void *arg) {
  return env->ops->timer_start(env, delay_ns, cb, arg);
}

bool env_timer_cancel(env_t *env, uint64_t timer_id) {
  return env->ops->timer_cancel(env, timer_id);
}

uint64_t env_rand_u64(env_t *env) { return env->ops->rand_u64(env); }

uint64_t env_rand_below(env_t *env, uint64_t bound) {
  /* Rejection sampling: drop the top sliver of the range that would make
   * some results more likely than others. */
  SL_ASSERT(bound > 0);
  uint64_t limit = UINT64_MAX - (UINT64_MAX % bound);
  uint64_t x;
  do {
    x = env->ops->rand_u64(env);
  } while (x >= limit);
  return x % bound;
}

double env_rand_double(env_t *env) {
  return (double)(env->ops->rand_u64(env) >> 11) * 0x1.0p-53;
}

int env_listen(env_t *env, const char *host, uint16_t port,
               env_accept_cb on_accept, void *arg, env_listener_t **out) {
  return env->ops->listen(env, host, port, on_accept, arg, out);
}

uint16_t env_listener_port(env_listener_t *l) {
  return l->ops->listener_port(l);
}

void env_listener_close(env_listener_t *l) {
  if (l)
    l->ops->listener_close(l);
}

env_conn_t *env_connect(env_t *env, const char *host, uint16_t port,
                        const env_conn_cbs *cbs, void *arg) {
  return env->ops->connect(env, host, port, cbs, arg);
}

void env_conn_set_cbs(env_conn_t *c, const env_conn_cbs *cbs, void *arg) {
  c->ops->conn_set_cbs(c, cbs, arg);
}

int env_conn_send(env_conn_t *c, const uint8_t *data, size_t len) {
  return c->ops->conn_send(c, data, len);
}

int env_conn_sendv(env_conn_t *c, const env_iovec *iov, size_t n) {
  SL_ASSERT(iov != NULL || n == 0);
  return c->ops->conn_sendv(c, iov, NULL, n);
}

int env_conn_sendv_files(env_conn_t *c, const env_iovec *iov,
                         const env_iovec_file *files, size_t n) {
  SL_ASSERT(iov != NULL || n == 0);
  return c->ops->conn_sendv(c, iov, files, n);
}

size_t env_conn_queued_bytes(env_conn_t *c) {
  return c->ops->conn_queued_bytes(c);
}

void env_conn_pause_reading(env_conn_t *c) { c->ops->conn_pause_reading(c); }
void env_conn_resume_reading(env_conn_t *c) { c->ops->conn_resume_reading(c); }

void env_conn_close(env_conn_t *c) {
  if (c)
    c->ops->conn_close(c);
}

const char *env_conn_peer(env_conn_t *c) { return c->ops->conn_peer(c); }

int env_file_open(env_t *env, const char *path, int flags, env_file_t **out) {
  return env->ops->file_open(env, path, flags, out);
}

int env_file_pwrite(env_file_t *f, const void *data, size_t len,
                    uint64_t offset) {
  return f->ops->file_pwrite(f, data, len, offset);
}

int env_file_append(env_file_t *f, const void *data, size_t len) {
  return f->ops->file_append(f, data, len);
}

int env_file_pread(env_file_t *f, void *buf, size_t len, uint64_t offset,
                   size_t *n_read) {
  return f->ops->file_pread(f, buf, len, offset, n_read);
}

int env_file_view(env_file_t *f, uint64_t offset, size_t len,
                  const uint8_t **out) {
  return f->ops->file_view(f, offset, len, out);
}

int env_file_size(env_file_t *f, uint64_t *size) {
  return f->ops->file_size(f, size);
}

int env_file_truncate(env_file_t *f, uint64_t size) {
  return f->ops->file_truncate(f, size);
}

void env_file_advise(env_file_t *f, env_file_advice advice, uint64_t offset,
                     uint64_t len) {
  f->ops->file_advise(f, advice, offset, len);
}

void env_file_fsync(env_file_t *f, env_done_cb cb, void *arg) {
  f->ops->file_fsync(f, cb, arg);
}

void env_file_close(env_file_t *f) {
  if (f)
    f->ops->file_close(f);
}

int env_mkdir(env_t *env, const char *path) {
  return env->ops->mkdir(env, path);
}

int env_rename(env_t *env, const char *from, const char *to) {
  return env->ops->rename(env, from, to);
}

int env_unlink(env_t *env, const char *path) {
  return env->ops->unlink(env, path);
}

int env_rmdir(env_t *env, const char *path) {
  return env->ops->rmdir(env, path);
}

int env_list_dir(env_t *env, const char *path, char ***names) {
  return env->ops->list_dir(env, path, names);
}

void env_names_free(char **names) {
  if (!names)
    return;
  for (char **p = names; *p; p++)
    free(*p);
  free(names);
}

int env_stat(env_t *env, const char *path, bool *is_dir) {
  return env->ops->stat(env, path, is_dir);
}

void env_dir_fsync(env_t *env, const char *path, env_done_cb cb, void *arg) {
  env->ops->dir_fsync(env, path, cb, arg);
}

void env_logv(env_t *env, env_log_level level, const char *fmt, va_list ap) {
  env->ops->logv(env, level, fmt, ap);
}

void env_log(env_t *env, env_log_level level, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  env->ops->logv(env, level, fmt, ap);
  va_end(ap);
}

void env_trace(env_t *env, const char *kind, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  env->ops->tracev(env, kind, fmt, ap);
  va_end(ap);
}

void env_metric_add(env_t *env, const char *name, int64_t delta) {
  env->ops->metric_add(env, name, delta);
}

int64_t env_metric_get(env_t *env, const char *name) {
  return env->ops->metric_get(env, name);
}
