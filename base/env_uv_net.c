/*
 * env_uv_net.c — env.h connections and listeners over libuv TCP.
 *
 * A connection's life, and the one rule that keeps callbacks honest:
 *
 *   RESOLVING -> CONNECTING -> OPEN      (outgoing)
 *                              OPEN      (accepted)
 *
 * Whatever ends a connection — an error, the peer's EOF, env_conn_close,
 * env_uv_free — goes through conn_teardown(), which records the status and
 * uv_close()s the socket. The node's on_close runs only once every handle
 * and request of the connection has finished (conn_unref reaching zero),
 * which always happens in a libuv callback: so on_close is never called from
 * inside an env call, and the connection is freed right after it returns.
 *
 * Graceful close (env_conn_close on an open connection): uv_shutdown waits
 * for the queued writes and sends FIN; reading continues, discarding, until
 * the peer's EOF, because closing a socket with unread input makes the
 * kernel send RST, which can destroy data still in flight to the peer. A
 * timer bounds the whole sequence (ENV_UV_CLOSE_TIMEOUT_MS).
 *
 * Bytes sent before the connection is open wait in `unsent`; afterwards a
 * send with nothing queued ahead of it is written at once from the caller's
 * bytes (uv_try_write; a gathered send, env_conn_sendv, as a writev of its
 * pieces), and only what the kernel did not take becomes one uv_write with
 * its own copy. Pieces that say where their bytes lie in a file
 * (env_conn_sendv_files) are sent from there with sendfile(2) on that
 * direct path: the socket then holds page-cache pages instead of a copy;
 * what the kernel does not take is copied from the pieces' memory as
 * above, and a file sendfile refuses (EINVAL, ...) is written from memory.
 *
 * Reads go into memory the node lends through on_alloc (libuv's alloc
 * callback asks it before every read), else into the env's one read
 * buffer; either way on_data gets the pointer the read went to.
 */
#include <errno.h>
#include <string.h>
#include <sys/sendfile.h>

#include "base/assert.h"
#include "base/env_uv_private.h"

/* Pending connections the kernel queues for a listener. */
#define LISTEN_BACKLOG 511

/* Pieces handed to one writev by env_conn_sendv's direct path (well under
 * every system's IOV_MAX; a longer list takes several writevs). */
#define CONN_SENDV_DIRECT_PIECES 64

/* Bytes asked of one sendfile(2) (Linux sends at most 0x7ffff000 per
 * call anyway). */
#define CONN_SENDFILE_BYTES_MAX ((size_t)1 << 30)

/* Idle time before TCP keep-alive probes start: a peer that vanished
 * without a FIN or RST is noticed eventually even if the node sends
 * nothing. */
#define KEEPALIVE_DELAY_S 60u

typedef enum conn_state {
  CONN_RESOLVING,
  CONN_CONNECTING,
  CONN_OPEN,
} conn_state;

typedef struct env_uv__conn {
  env_conn_t base; /* must be first */
  env_uv *env;
  uv_tcp_t tcp;
  uv_timer_t close_timer; /* initialised by a graceful close only */
  uv_getaddrinfo_t resolve_req;
  uv_connect_t connect_req;
  uv_shutdown_t shutdown_req;
  env_conn_cbs cbs;
  void *arg;
  char *peer;    /* "host:port" [owned] */
  uint16_t port; /* remote port, needed after resolving */
  GQueue unsent; /* of send_req, before the connection is open */
  size_t unsent_bytes;
  conn_state state;
  int status;    /* what on_close reports */
  unsigned refs; /* socket handle + close timer + resolve request */
  bool cbs_set;
  bool user_closed;  /* env_conn_close was called: no more callbacks */
  bool tearing_down; /* the socket is being closed */
  bool paused;       /* the node asked not to receive */
  bool reading;      /* uv_read_start is in effect */
  bool above_drain;  /* the queue reached ENV_CONN_DRAIN_BYTES */
  bool close_timer_started;
  bool resolving; /* resolve_req is in flight */
} env_uv__conn;

typedef struct send_req {
  uv_write_t req;
  env_uv__conn *conn;
  size_t len;
  uint8_t data[];
} send_req;

typedef struct env_uv__listener {
  env_listener_t base; /* must be first */
  env_uv *env;
  uv_tcp_t tcp;
  env_accept_cb on_accept;
  void *arg;
  uint16_t port;
} env_uv__listener;

static env_uv__conn *conn_from(env_conn_t *conn) {
  SL_ASSERT(conn != NULL && conn->ops == &env_uv__ops);
  return (env_uv__conn *)conn;
}

static env_uv__listener *listener_from(env_listener_t *listener) {
  SL_ASSERT(listener != NULL && listener->ops == &env_uv__ops);
  return (env_uv__listener *)listener;
}

/* ------------------------------------------------------------ addresses */

/* Numeric IPv4 / IPv6 addresses, and "localhost" as 127.0.0.1 (so it never
 * depends on the resolver, nor picks ::1 when the peer listens on IPv4).
 * Returns 0, or -EINVAL if host is a name that needs resolving. */
static int numeric_addr(const char *host, uint16_t port,
                        struct sockaddr_storage *addr) {
  memset(addr, 0, sizeof *addr);
  if (strcmp(host, "localhost") == 0)
    host = "127.0.0.1";
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)addr) == 0)
    return 0;
  if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)addr) == 0)
    return 0;
  return -EINVAL;
}

static void set_port(struct sockaddr_storage *addr, uint16_t port) {
  if (addr->ss_family == AF_INET)
    ((struct sockaddr_in *)addr)->sin_port = htons(port);
  else
    ((struct sockaddr_in6 *)addr)->sin6_port = htons(port);
}

/* "1.2.3.4:5" or "[::1]:5" */
static char *format_addr(const struct sockaddr_storage *addr) {
  char ip[INET6_ADDRSTRLEN] = "?";
  if (addr->ss_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
    uv_ip4_name(in, ip, sizeof ip);
    return g_strdup_printf("%s:%u", ip, ntohs(in->sin_port));
  }
  if (addr->ss_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
    uv_ip6_name(in6, ip, sizeof ip);
    return g_strdup_printf("[%s]:%u", ip, ntohs(in6->sin6_port));
  }
  return g_strdup("?");
}

/* ------------------------------------------------------------ lifetime */

static env_uv__conn *conn_new(env_uv *env, conn_state state) {
  env_uv__conn *conn = g_new0(env_uv__conn, 1);
  conn->base.ops = &env_uv__ops;
  conn->env = env;
  conn->state = state;
  g_queue_init(&conn->unsent);
  int rc = uv_tcp_init(env->loop, &conn->tcp);
  SL_ASSERT(rc == 0);
  conn->tcp.data = conn;
  conn->refs = 1; /* the socket handle */
  env_uv__ref(env);
  g_hash_table_add(env->conns, conn);
  return conn;
}

static void conn_free_unsent(env_uv__conn *conn) {
  send_req *w;
  while ((w = g_queue_pop_head(&conn->unsent)))
    g_free(w);
  conn->unsent_bytes = 0;
}

static void conn_unref(env_uv__conn *conn) {
  SL_ASSERT(conn->refs > 0);
  if (--conn->refs > 0)
    return;
  env_uv *env = conn->env;
  SL_ASSERT(conn->tearing_down);
  if (!conn->user_closed && !env->closing && conn->cbs.on_close)
    conn->cbs.on_close(conn->arg, &conn->base, conn->status);
  g_hash_table_remove(env->conns, conn);
  g_free(conn->peer);
  g_free(conn);
  env_uv__unref(env);
}

static void conn_handle_closed(uv_handle_t *handle) {
  conn_unref(handle->data);
}

/* Ends the connection with `status` (0 or -errno); on_close follows once
 * everything has closed. Idempotent: the first status wins. */
static void conn_teardown(env_uv__conn *conn, int status) {
  if (conn->tearing_down)
    return;
  conn->tearing_down = true;
  conn->status = status;
  conn->reading = false;
  conn_free_unsent(conn);
  /* Cancels queued writes (their callbacks run first, with ECANCELED),
   * the shutdown and a pending connect. */
  uv_close((uv_handle_t *)&conn->tcp, conn_handle_closed);
  if (conn->close_timer_started)
    uv_close((uv_handle_t *)&conn->close_timer, conn_handle_closed);
}

static void conn_fail(env_uv__conn *conn, int uv_status) {
  conn_teardown(conn, env_uv__errno(uv_status));
}

/* -------------------------------------------------------------- reading */

/* The read goes into memory the node lends (on_alloc), else into the
 * env's one read buffer. Nothing runs between this and conn_read, so the
 * loan is used at once or not at all (libuv hands the buffer back unused
 * on EAGAIN, EOF or an error). */
static void conn_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  env_uv__conn *conn = handle->data;
  if (conn->cbs.on_alloc && !conn->user_closed && !conn->env->closing &&
      !conn->tearing_down) {
    size_t len = ENV_UV__READ_BYTES;
    uint8_t *p = conn->cbs.on_alloc(conn->arg, &conn->base, &len);
    if (p) {
      SL_ASSERT(len > 0);
      if (len > ENV_UV__LOAN_BYTES_MAX)
        len = ENV_UV__LOAN_BYTES_MAX;
      *buf = uv_buf_init((char *)p, (unsigned)len);
      return;
    }
  }
  *buf = uv_buf_init((char *)conn->env->read_buf, ENV_UV__READ_BYTES);
}

static void conn_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
  env_uv__conn *conn = stream->data;
  if (conn->tearing_down)
    return;
  if (nread > 0) {
    /* After env_conn_close the bytes are only drained, see the top. */
    if (!conn->user_closed && !conn->env->closing)
      conn->cbs.on_data(conn->arg, &conn->base, (const uint8_t *)buf->base,
                        (size_t)nread);
    return;
  }
  if (nread == 0)
    return; /* EAGAIN: nothing this time */
  if (nread == UV_EOF)
    conn_teardown(conn, 0);
  else
    conn_fail(conn, (int)nread);
}

static void conn_read_start(env_uv__conn *conn) {
  if (conn->reading || conn->tearing_down || conn->state != CONN_OPEN)
    return;
  int rc = uv_read_start((uv_stream_t *)&conn->tcp, conn_alloc, conn_read);
  if (rc < 0) {
    conn_fail(conn, rc);
    return;
  }
  conn->reading = true;
}

static void conn_read_stop(env_uv__conn *conn) {
  if (!conn->reading)
    return;
  uv_read_stop((uv_stream_t *)&conn->tcp);
  conn->reading = false;
}

/* -------------------------------------------------------------- writing */

static size_t conn_queued(env_uv__conn *conn) {
  if (conn->tearing_down)
    return 0;
  return conn->unsent_bytes +
         uv_stream_get_write_queue_size((uv_stream_t *)&conn->tcp);
}

static void conn_written(uv_write_t *req, int status) {
  send_req *w = req->data;
  env_uv__conn *conn = w->conn;
  g_free(w);
  if (conn->tearing_down)
    return;
  if (status < 0) {
    conn_fail(conn, status);
    return;
  }
  if (conn->above_drain && conn_queued(conn) < ENV_CONN_DRAIN_BYTES) {
    conn->above_drain = false;
    if (conn->cbs.on_drain && !conn->user_closed && !conn->env->closing)
      conn->cbs.on_drain(conn->arg, &conn->base);
  }
}

/* Hands w to libuv (which frees it through conn_written), or fails the
 * connection and frees w. Returns 0 or the libuv error. */
static int conn_write(env_uv__conn *conn, send_req *w) {
  uv_buf_t buf = uv_buf_init((char *)w->data, (unsigned)w->len);
  w->req.data = w;
  int rc = uv_write(&w->req, (uv_stream_t *)&conn->tcp, &buf, 1, conn_written);
  if (rc < 0) {
    g_free(w);
    conn_fail(conn, rc);
  }
  return rc;
}

static void conn_flush_unsent(env_uv__conn *conn) {
  send_req *w;
  while (!conn->tearing_down && (w = g_queue_pop_head(&conn->unsent))) {
    conn->unsent_bytes -= w->len;
    if (conn_write(conn, w) < 0)
      return;
  }
}

/* ------------------------------------------------------ graceful close */

static void conn_close_timed_out(uv_timer_t *timer) {
  env_uv__conn *conn = timer->data;
  env_uv__log(conn->env, ENV_LOG_DEBUG,
              "connection to %s: graceful close timed out", conn->peer);
  conn_teardown(conn, -ETIMEDOUT);
}

static void conn_start_close_timer(env_uv__conn *conn) {
  int rc = uv_timer_init(conn->env->loop, &conn->close_timer);
  SL_ASSERT(rc == 0);
  conn->close_timer.data = conn;
  conn->refs++;
  conn->close_timer_started = true;
  rc = uv_timer_start(&conn->close_timer, conn_close_timed_out,
                      ENV_UV_CLOSE_TIMEOUT_MS, 0);
  SL_ASSERT(rc == 0);
}

static void conn_shutdown_done(uv_shutdown_t *req, int status) {
  env_uv__conn *conn = req->data;
  if (conn->tearing_down)
    return;
  if (status < 0)
    conn_fail(conn, status);
  /* Otherwise FIN is out; the peer's EOF (conn_read) finishes the close. */
}

/* The connection is open and the node has closed it. */
static void conn_begin_shutdown(env_uv__conn *conn) {
  conn_read_start(conn); /* drain until the peer's EOF, even if paused */
  if (conn->tearing_down)
    return;
  conn->shutdown_req.data = conn;
  int rc = uv_shutdown(&conn->shutdown_req, (uv_stream_t *)&conn->tcp,
                       conn_shutdown_done);
  if (rc < 0)
    conn_fail(conn, rc);
}

/* ----------------------------------------------------------- connecting */

static void conn_opened(env_uv__conn *conn) {
  conn->state = CONN_OPEN;
  /* Both are best effort: the connection works without them. */
  (void)uv_tcp_nodelay(&conn->tcp, 1);
  (void)uv_tcp_keepalive(&conn->tcp, 1, KEEPALIVE_DELAY_S);
}

static void conn_connected(uv_connect_t *req, int status) {
  env_uv__conn *conn = req->data;
  if (conn->tearing_down)
    return;
  if (status < 0) {
    conn_fail(conn, status);
    return;
  }
  conn_opened(conn);
  conn_flush_unsent(conn);
  if (conn->tearing_down)
    return;
  if (conn->user_closed) {
    conn_begin_shutdown(conn);
    return;
  }
  if (!conn->paused)
    conn_read_start(conn);
  if (!conn->tearing_down && conn->cbs.on_connect && !conn->env->closing)
    conn->cbs.on_connect(conn->arg, &conn->base);
}

static void conn_start_connect(env_uv__conn *conn,
                               const struct sockaddr_storage *addr) {
  conn->state = CONN_CONNECTING;
  conn->connect_req.data = conn;
  int rc = uv_tcp_connect(&conn->connect_req, &conn->tcp,
                          (const struct sockaddr *)addr, conn_connected);
  /* A synchronous failure still reaches the node later: teardown defers
   * on_close to the socket's close callback. */
  if (rc < 0)
    conn_fail(conn, rc);
}

static void conn_resolved(uv_getaddrinfo_t *req, int status,
                          struct addrinfo *res) {
  env_uv__conn *conn = req->data;
  conn->resolving = false;
  if (!conn->tearing_down) {
    if (status < 0) {
      conn_fail(conn, status);
    } else {
      struct sockaddr_storage addr;
      memset(&addr, 0, sizeof addr);
      /* The first address only: trying the rest in turn would need a fresh
       * socket per attempt; env_uv.h documents the limitation. */
      memcpy(&addr, res->ai_addr, res->ai_addrlen);
      set_port(&addr, conn->port);
      conn_start_connect(conn, &addr);
    }
  }
  uv_freeaddrinfo(res);
  conn_unref(conn); /* the resolve request's reference */
}

env_conn_t *env_uv__connect(env_t *e, const char *host, uint16_t port,
                            const env_conn_cbs *cbs, void *arg) {
  env_uv *env = env_uv__from(e);
  SL_ASSERT(host != NULL && cbs != NULL);
  SL_ASSERT(cbs->on_data != NULL && cbs->on_close != NULL);
  SL_ASSERT(!env->closing);
  env_uv__conn *conn = conn_new(env, CONN_RESOLVING);
  conn->cbs = *cbs;
  conn->arg = arg;
  conn->cbs_set = true;
  conn->port = port;
  conn->peer = strchr(host, ':') ? g_strdup_printf("[%s]:%u", host, port)
                                 : g_strdup_printf("%s:%u", host, port);
  struct sockaddr_storage addr;
  if (numeric_addr(host, port, &addr) == 0) {
    conn_start_connect(conn, &addr);
    return &conn->base;
  }
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  conn->resolve_req.data = conn;
  int rc = uv_getaddrinfo(env->loop, &conn->resolve_req, conn_resolved, host,
                          NULL, &hints);
  if (rc < 0) {
    conn_fail(conn, rc);
    return &conn->base;
  }
  conn->refs++;
  conn->resolving = true;
  return &conn->base;
}

/* ------------------------------------------------------- the node's API */

void env_uv__conn_set_cbs(env_conn_t *c, const env_conn_cbs *cbs, void *arg) {
  env_uv__conn *conn = conn_from(c);
  SL_ASSERT(cbs != NULL && cbs->on_data != NULL && cbs->on_close != NULL);
  SL_ASSERT(!conn->user_closed);
  conn->cbs = *cbs;
  conn->arg = arg;
  conn->cbs_set = true;
}

/* Writes the pieces straight from the caller's memory (one writev per
 * CONN_SENDV_DIRECT_PIECES pieces) while the kernel takes them whole.
 * Returns the bytes written, or a negative libuv error. */
static ssize_t conn_try_writev(env_uv__conn *conn, const env_iovec *iov,
                               size_t n) {
  uv_buf_t bufs[CONN_SENDV_DIRECT_PIECES];
  ssize_t total = 0;
  size_t i = 0;
  while (i < n) {
    unsigned nbufs = 0;
    size_t want = 0;
    for (; i < n && nbufs < CONN_SENDV_DIRECT_PIECES; i++) {
      if (iov[i].len == 0)
        continue;
      bufs[nbufs++] = uv_buf_init((char *)iov[i].data, (unsigned)iov[i].len);
      want += iov[i].len;
    }
    if (nbufs == 0)
      break;
    int w = uv_try_write((uv_stream_t *)&conn->tcp, bufs, nbufs);
    if (w == UV_EAGAIN || w == UV_ENOSYS)
      break;
    if (w < 0)
      return total > 0 ? total : w;
    total += w;
    if ((size_t)w < want)
      break;
  }
  return total;
}

/* Sends len bytes at offset of file fd on the socket with sendfile(2),
 * while the kernel takes them whole. Returns the bytes sent (short when the
 * socket is full), -ENOTSUP when the file cannot be sent this way (the
 * caller writes the piece's memory instead), or another negative errno. */
static ssize_t conn_try_sendfile(int sock, int fd, uint64_t offset,
                                 size_t len) {
  size_t done = 0;
  while (done < len) {
    size_t want = len - done;
    if (want > CONN_SENDFILE_BYTES_MAX)
      want = CONN_SENDFILE_BYTES_MAX;
    off_t off = (off_t)(offset + done);
    ssize_t w = sendfile(sock, fd, &off, want);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      break;
    if (w < 0 && done == 0 &&
        (errno == EINVAL || errno == ENOSYS || errno == EOVERFLOW ||
         errno == ESPIPE || errno == EIO))
      return -ENOTSUP;
    if (w < 0)
      return done > 0 ? (ssize_t)done : -errno;
    done += (size_t)w;
    if (w == 0 || (size_t)w < want)
      break; /* socket full (or the file shorter: data has the rest) */
  }
  return (ssize_t)done;
}

/* conn_try_writev for pieces some of which lie in files: memory pieces
 * are written with writev, file pieces sent with sendfile, in order, while
 * the kernel takes them whole. Returns the bytes sent, or a negative
 * libuv error if nothing was. No TCP_CORK around it: on loopback it cost
 * more broker CPU (the uncork's push) than the small header segment
 * ahead of the records. */
static ssize_t conn_try_send_files(env_uv__conn *conn, const env_iovec *iov,
                                   const env_iovec_file *files, size_t n) {
  uv_os_fd_t sock;
  if (uv_fileno((const uv_handle_t *)&conn->tcp, &sock) != 0)
    return conn_try_writev(conn, iov, n);
  ssize_t total = 0;
  size_t from_files = 0;
  bool use_files = true;
  size_t i = 0;
  while (i < n) {
    size_t j = i, want = 0;
    for (; j < n && !(use_files && files[j].file && iov[j].len > 0); j++)
      want += iov[j].len;
    if (j > i) {
      ssize_t w = conn_try_writev(conn, iov + i, j - i);
      if (w < 0)
        return total > 0 ? total : w;
      total += w;
      if ((size_t)w < want)
        break;
      i = j;
      continue;
    }
    ssize_t w = conn_try_sendfile(sock, env_uv__file_fd(files[i].file),
                                  files[i].offset, iov[i].len);
    if (w == -ENOTSUP) {
      use_files = false; /* the rest of the call from memory */
      continue;
    }
    if (w < 0)
      return total > 0 ? total : w;
    total += w;
    from_files += (size_t)w;
    if ((size_t)w < iov[i].len)
      break;
    i++;
  }
  if (from_files > 0)
    env_metric_add(&conn->env->base, "env.sendfile_bytes",
                   (int64_t)from_files);
  return total;
}

int env_uv__conn_sendv(env_conn_t *c, const env_iovec *iov,
                       const env_iovec_file *files, size_t n) {
  env_uv__conn *conn = conn_from(c);
  SL_ASSERT(!conn->user_closed);
  SL_ASSERT(iov != NULL || n == 0);
  size_t len = 0;
  for (size_t i = 0; i < n; i++) {
    SL_ASSERT(iov[i].data != NULL || iov[i].len == 0);
    SL_ASSERT(iov[i].len <= SIZE_MAX - len);
    len += iov[i].len;
  }
  if (conn->tearing_down)
    return -EPIPE;
  if (len == 0)
    return 0;
  if (len > ENV_UV_CONN_QUEUE_BYTES_MAX - conn_queued(conn))
    return -ENOBUFS;
  /* Nothing queued: write straight from the caller's bytes, and copy only
   * what the kernel did not take. On a healthy connection that is usually
   * nothing, which saves a malloc and a copy of every response. Order is
   * kept because this runs only with an empty queue. */
  size_t skip = 0;
  if (conn->state == CONN_OPEN && conn_queued(conn) == 0) {
    ssize_t w = files ? conn_try_send_files(conn, iov, files, n)
                      : conn_try_writev(conn, iov, n);
    if (w < 0) {
      conn_fail(conn, (int)w);
      return -EPIPE; /* on_close will tell why */
    }
    skip = (size_t)w;
    if (skip == len)
      return 0;
  }
  /* The rest, after the first `skip` bytes, becomes one queued write. */
  send_req *w = g_malloc(sizeof *w + (len - skip));
  w->conn = conn;
  w->len = len - skip;
  size_t at = 0;
  for (size_t i = 0; i < n; i++) {
    size_t piece = iov[i].len;
    const uint8_t *p = iov[i].data;
    if (skip >= piece) {
      skip -= piece;
      continue;
    }
    p += skip;
    piece -= skip;
    skip = 0;
    memcpy(w->data + at, p, piece);
    at += piece;
  }
  SL_ASSERT(at == w->len);
  if (conn->state != CONN_OPEN) {
    g_queue_push_tail(&conn->unsent, w);
    conn->unsent_bytes += w->len;
  } else if (conn_write(conn, w) < 0) {
    return -EPIPE; /* on_close will tell why */
  }
  if (conn_queued(conn) >= ENV_CONN_DRAIN_BYTES)
    conn->above_drain = true;
  return 0;
}

int env_uv__conn_send(env_conn_t *c, const uint8_t *data, size_t len) {
  SL_ASSERT(data != NULL || len == 0);
  env_iovec one = {data, len};
  return env_uv__conn_sendv(c, &one, NULL, 1);
}

size_t env_uv__conn_queued_bytes(env_conn_t *c) {
  return conn_queued(conn_from(c));
}

void env_uv__conn_pause_reading(env_conn_t *c) {
  env_uv__conn *conn = conn_from(c);
  SL_ASSERT(!conn->user_closed);
  conn->paused = true;
  conn_read_stop(conn);
}

void env_uv__conn_resume_reading(env_conn_t *c) {
  env_uv__conn *conn = conn_from(c);
  SL_ASSERT(!conn->user_closed);
  conn->paused = false;
  conn_read_start(conn);
}

void env_uv__conn_close(env_conn_t *c) {
  env_uv__conn *conn = conn_from(c);
  SL_ASSERT(!conn->user_closed);
  conn->user_closed = true;
  if (conn->tearing_down)
    return;
  if (conn->state != CONN_OPEN && conn->unsent_bytes == 0) {
    conn_teardown(conn, 0); /* nothing promised to the peer yet */
    return;
  }
  conn_start_close_timer(conn);
  if (conn->state == CONN_OPEN)
    conn_begin_shutdown(conn);
  /* else conn_connected flushes `unsent`, then shuts down. */
}

const char *env_uv__conn_peer(env_conn_t *c) { return conn_from(c)->peer; }

/* ------------------------------------------------------------ listening */

static void listener_closed(uv_handle_t *handle) {
  env_uv__listener *listener = handle->data;
  env_uv__unref(listener->env);
  g_free(listener);
}

static void listener_accept(uv_stream_t *server, int status) {
  env_uv__listener *listener = server->data;
  env_uv *env = listener->env;
  if (status < 0) {
    /* Typically EMFILE: the pending connection stays queued in the kernel
     * and is offered again; the node can do nothing about it. */
    env_uv__log(env, ENV_LOG_WARN, "accept on port %u failed: %s",
                listener->port, uv_strerror(status));
    return;
  }
  env_uv__conn *conn = conn_new(env, CONN_OPEN);
  int rc = uv_accept(server, (uv_stream_t *)&conn->tcp);
  if (rc < 0) {
    env_uv__log(env, ENV_LOG_WARN, "accept on port %u failed: %s",
                listener->port, uv_strerror(rc));
    conn->user_closed = true; /* the node never saw it */
    conn_fail(conn, rc);
    return;
  }
  conn_opened(conn);
  struct sockaddr_storage addr;
  int addr_len = sizeof addr;
  memset(&addr, 0, sizeof addr);
  if (uv_tcp_getpeername(&conn->tcp, (struct sockaddr *)&addr, &addr_len) == 0)
    conn->peer = format_addr(&addr);
  else
    conn->peer = g_strdup("?");
  listener->on_accept(listener->arg, &conn->base);
  if (conn->user_closed)
    return; /* refused, or closed at once: the close is under way */
  SL_ASSERT(conn->cbs_set); /* env.h: set callbacks before returning */
  if (!conn->paused)
    conn_read_start(conn);
}

/* For listening, names are resolved synchronously: env_listen reports its
 * result directly, and it runs at start-up, not on a busy loop. */
static int listen_addr(uv_loop_t *loop, const char *host, uint16_t port,
                       struct sockaddr_storage *addr) {
  if (host[0] == '\0')
    host = "0.0.0.0";
  if (numeric_addr(host, port, addr) == 0)
    return 0;
  uv_getaddrinfo_t req;
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  if (uv_getaddrinfo(loop, &req, NULL, host, NULL, &hints) < 0)
    return -EADDRNOTAVAIL;
  memcpy(addr, req.addrinfo->ai_addr, req.addrinfo->ai_addrlen);
  uv_freeaddrinfo(req.addrinfo);
  set_port(addr, port);
  return 0;
}

int env_uv__listen(env_t *e, const char *host, uint16_t port,
                   env_accept_cb on_accept, void *arg, env_listener_t **out) {
  env_uv *env = env_uv__from(e);
  SL_ASSERT(host != NULL && on_accept != NULL && out != NULL);
  SL_ASSERT(!env->closing);
  *out = NULL;
  struct sockaddr_storage addr;
  int rc = listen_addr(env->loop, host, port, &addr);
  if (rc < 0)
    return rc;
  env_uv__listener *listener = g_new0(env_uv__listener, 1);
  listener->base.ops = &env_uv__ops;
  listener->env = env;
  listener->on_accept = on_accept;
  listener->arg = arg;
  rc = uv_tcp_init(env->loop, &listener->tcp);
  SL_ASSERT(rc == 0);
  listener->tcp.data = listener;
  env_uv__ref(env);
  /* libuv may defer a bind error (EADDRINUSE) to uv_listen. */
  rc = uv_tcp_bind(&listener->tcp, (const struct sockaddr *)&addr, 0);
  if (rc < 0)
    goto out_close_listener;
  rc =
      uv_listen((uv_stream_t *)&listener->tcp, LISTEN_BACKLOG, listener_accept);
  if (rc < 0)
    goto out_close_listener;
  struct sockaddr_storage bound;
  int bound_len = sizeof bound;
  rc =
      uv_tcp_getsockname(&listener->tcp, (struct sockaddr *)&bound, &bound_len);
  if (rc < 0)
    goto out_close_listener;
  listener->port = ntohs(bound.ss_family == AF_INET
                             ? ((struct sockaddr_in *)&bound)->sin_port
                             : ((struct sockaddr_in6 *)&bound)->sin6_port);
  g_hash_table_add(env->listeners, listener);
  *out = &listener->base;
  return 0;

out_close_listener:
  uv_close((uv_handle_t *)&listener->tcp, listener_closed);
  return env_uv__errno(rc);
}

uint16_t env_uv__listener_port(env_listener_t *l) {
  return listener_from(l)->port;
}

void env_uv__listener_close(env_listener_t *l) {
  env_uv__listener *listener = listener_from(l);
  bool was_open = g_hash_table_remove(listener->env->listeners, listener);
  SL_ASSERT(was_open); /* closing twice is a programmer error */
  uv_close((uv_handle_t *)&listener->tcp, listener_closed);
}

/* ------------------------------------------------------------- teardown */

void env_uv__net_close_all(env_uv *env) {
  GList *listeners = g_hash_table_get_keys(env->listeners);
  for (GList *l = listeners; l; l = l->next)
    env_uv__listener_close(l->data);
  g_list_free(listeners);

  GList *conns = g_hash_table_get_keys(env->conns);
  for (GList *c = conns; c; c = c->next) {
    env_uv__conn *conn = c->data;
    conn->user_closed = true;
    /* A lookup already running cannot be cancelled; env_uv_free then waits
     * for it (it holds a reference). */
    if (conn->resolving)
      (void)uv_cancel((uv_req_t *)&conn->resolve_req);
    conn_teardown(conn, -ECANCELED);
  }
  g_list_free(conns);
}
