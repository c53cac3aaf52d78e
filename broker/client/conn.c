/*
 * conn.c — one connection from the client to a broker (Kafka's
 * NetworkClient + Selector for one node).
 *
 * Life of a connection:
 *   DOWN -> env_connect, ApiVersions sent at once (v3; on
 *   UNSUPPORTED_VERSION the broker's v0-shaped reply names its ApiVersions
 *   range and we retry lower, on INVALID_REQUEST we retry at v0, as
 *   librdkafka does) -> CONNECTING -> the answer fixes, per API, the highest
 *   version both sides know -> READY: queued requests go out, up to
 *   in_flight_max at a time, each with the next correlation id.
 *
 * Responses come back in request order (Kafka handles one request per
 * connection at a time), so each frame must carry the correlation id of the
 * oldest request in flight; anything else is a protocol error and closes
 * the connection. A request that outlives its deadline closes the
 * connection too: later responses could not be matched otherwise.
 *
 * When a connection fails, every request on it (sent or still queued)
 * fails with the error, at the end of the current event, and the layer
 * that made it decides whether to retry (perhaps elsewhere). The next
 * connect waits reconnect_backoff_ms, doubling per failed connect.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "broker/client/client_internal.h"
#include "broker/kerr.h"

/* The versions this client understands, per API (intersected with what
 * broker/proto describes). */
typedef struct kclient__api_support {
  int16_t api_key;
  int16_t min_version;
  int16_t max_version;
} kclient__api_support;

static const kclient__api_support kclient__apis[] = {
    {PROTO_API_PRODUCE, 3, 9},
    {PROTO_API_FETCH, 4, 12},
    {PROTO_API_LIST_OFFSETS, 1, 7},
    {PROTO_API_METADATA, 1, 12},
    {PROTO_API_API_VERSIONS, 0, 3},
    {PROTO_API_CREATE_TOPICS, 2, 7},
    {PROTO_API_DELETE_TOPICS, 1, 6},
    {PROTO_API_INIT_PRODUCER_ID, 0, 4},
    {PROTO_API_DESCRIBE_CONFIGS, 0, 4},
    {PROTO_API_CREATE_PARTITIONS, 0, 3},
    {PROTO_API_INCREMENTAL_ALTER_CONFIGS, 0, 1},
    /* groups: FindCoordinator v4 and OffsetFetch v8 batch several keys,
     * which one member never needs. JoinGroup from v4 (KIP-394). */
    {PROTO_API_FIND_COORDINATOR, 0, 3},
    {PROTO_API_JOIN_GROUP, 4, 9},
    {PROTO_API_SYNC_GROUP, 0, 5},
    {PROTO_API_HEARTBEAT, 0, 4},
    {PROTO_API_LEAVE_GROUP, 0, 5},
    {PROTO_API_OFFSET_COMMIT, 2, 8},
    {PROTO_API_OFFSET_FETCH, 1, 7},
    {PROTO_API_LIST_GROUPS, 0, 4},
    {PROTO_API_DESCRIBE_GROUPS, 0, 5},
};

/* The ApiVersions version tried first (Kafka 2.4+ clients send v3). */
#define KCLIENT__API_VERSIONS_FIRST 3
#define KCLIENT__SOFTWARE_NAME "sluice"
#define KCLIENT__SOFTWARE_VERSION "0.1"
/* Bound on the encode arena (bodies reference batches, not copy them). */
#define KCLIENT__ENCODE_ARENA_BYTES_MAX ((size_t)64 << 20)

static void kclient__conn_on_connect(void *arg, env_conn_t *ec);
static void kclient__conn_on_data(void *arg, env_conn_t *ec,
                                  const uint8_t *data, size_t len);
static void kclient__conn_on_drain(void *arg, env_conn_t *ec);
static void kclient__conn_on_close(void *arg, env_conn_t *ec, int status);
static uint8_t *kclient__conn_on_alloc(void *arg, env_conn_t *ec, size_t *len);
static void kclient__conn_pump(kclient__conn *conn);
static void kclient__conn_fail(kclient__conn *conn, int err, const char *why);
static void kclient__conn_av_done(void *ctx, int err, const char *errmsg,
                                  int16_t version, void *body);

static const env_conn_cbs kclient__conn_cbs = {
    .on_connect = kclient__conn_on_connect,
    .on_data = kclient__conn_on_data,
    .on_drain = kclient__conn_on_drain,
    .on_close = kclient__conn_on_close,
    .on_alloc = kclient__conn_on_alloc,
};

const char *kclient__conn_addr(const kclient__conn *conn, char *buf,
                               size_t len) {
  snprintf(buf, len, "%s:%u", conn->broker->host, (unsigned)conn->broker->port);
  return buf;
}

kclient__conn *kclient__conn_new(kclient_t *c, kclient__broker *b,
                                 kclient__lane lane) {
  kclient__conn *conn = g_new0(kclient__conn, 1);
  conn->c = c;
  conn->broker = b;
  conn->lane = lane;
  conn->state = KCLIENT__CONN_DOWN;
  g_queue_init(&conn->pending);
  g_queue_init(&conn->in_flight);
  for (int k = 0; k < KCLIENT__API_KEYS; k++)
    conn->versions[k] = -1;
  conn->correlation_next = 1;
  conn->backoff_ms = c->cfg.reconnect_backoff_ms;
  buf_init(&conn->frame);
  conn->encode_arena = proto_arena_new(KCLIENT__ENCODE_ARENA_BYTES_MAX);
  return conn;
}

static void kclient__link_free(kclient__link *link) {
  rxbuf_free(link->rx);
  proto_arena_free(link->arena);
  g_free(link);
}

/* Frees every request in q without running outcomes. */
static void kclient__reqs_drop(GQueue *q) {
  kclient__req *req;
  while ((req = g_queue_pop_head(q)))
    g_free(req);
}

void kclient__conn_free(kclient__conn *conn) {
  if (!conn)
    return;
  kclient_t *c = conn->c;
  if (conn->link) {
    env_conn_close(conn->link->env_conn);
    kclient__link_free(conn->link);
  }
  kclient__reqs_drop(&conn->pending);
  kclient__reqs_drop(&conn->in_flight);
  if (conn->timeout_timer)
    env_timer_cancel(c->env, conn->timeout_timer);
  if (conn->reconnect_timer)
    env_timer_cancel(c->env, conn->reconnect_timer);
  buf_free(&conn->frame);
  proto_arena_free(conn->encode_arena);
  g_free(conn);
}

uint32_t kclient__conn_load(const kclient__conn *conn) {
  return conn->in_flight.length + conn->pending.length;
}

bool kclient__conn_can_send(const kclient__conn *conn) {
  return conn->state == KCLIENT__CONN_READY && !conn->send_blocked &&
         kclient__conn_load(conn) < conn->c->cfg.in_flight_max;
}

/* ------------------------------------------------------------- outcomes */

/* Outcomes decided outside a response dispatch (a failed connection, an
 * API without a common version, an acks=0 produce sent) run at the end of
 * the event, never inside the call that caused them. */
typedef struct kclient__outcome {
  kclient__req *req;
  int err;
  char errmsg[KCLIENT_ERRMSG_BYTES];
} kclient__outcome;

static void kclient__outcome_run(void *arg) {
  kclient__outcome *o = arg;
  kclient__req *req = o->req;
  if (!req->cancelled)
    req->on_response(req->ctx, o->err, o->errmsg, req->version, NULL);
  g_free(req);
  g_free(o);
}

static void kclient__outcome_drop(void *arg) {
  kclient__outcome *o = arg;
  g_free(o->req);
  g_free(o);
}

static void kclient__req_complete_later(kclient__conn *conn, kclient__req *req,
                                        int err, const char *errmsg) {
  kclient__outcome *o = g_new0(kclient__outcome, 1);
  o->req = req;
  o->err = err;
  g_strlcpy(o->errmsg, errmsg ? errmsg : "", sizeof o->errmsg);
  kclient__defer(conn->c, kclient__outcome_run, kclient__outcome_drop, o);
}

void kclient__req_cancel(kclient__req *req) {
  if (req)
    req->cancelled = true;
}

/* ------------------------------------------------------------- timeouts */

static void kclient__conn_timeout_fired(void *arg);

static void kclient__conn_arm_timeout(kclient__conn *conn, uint64_t at_ns) {
  kclient_t *c = conn->c;
  if (conn->timeout_timer && conn->timeout_at_ns <= at_ns)
    return;
  if (conn->timeout_timer)
    env_timer_cancel(c->env, conn->timeout_timer);
  uint64_t now = kclient__now_ns(c);
  conn->timeout_at_ns = at_ns;
  conn->timeout_timer = env_timer_start(c->env, at_ns > now ? at_ns - now : 0,
                                        kclient__conn_timeout_fired, conn);
}

static void kclient__conn_timeout_fired(void *arg) {
  kclient__conn *conn = arg;
  kclient_t *c = conn->c;
  conn->timeout_timer = 0;
  kclient__enter(c);
  uint64_t now = kclient__now_ns(c);
  uint64_t next = UINT64_MAX;
  kclient__req *late = NULL;
  for (GList *l = conn->in_flight.head; l; l = l->next) {
    kclient__req *req = l->data;
    if (req->deadline_ns <= now && !late)
      late = req;
    if (req->deadline_ns < next)
      next = req->deadline_ns;
  }
  if (late) {
    char why[KCLIENT_ERRMSG_BYTES];
    const proto_message *m = proto_request_message(late->api_key);
    kclient__errmsg(why, -1, "%s request timed out after %" PRIu64 " ms",
                    m ? m->name : "a",
                    (late->deadline_ns - late->sent_ns) / KCLIENT__NS_PER_MS);
    kclient__conn_fail(conn, -ETIMEDOUT, why);
  } else if (next != UINT64_MAX) {
    kclient__conn_arm_timeout(conn, next);
  }
  kclient__leave(c);
}

/* ------------------------------------------------------------- sending */

static int32_t kclient__conn_next_correlation(kclient__conn *conn) {
  int32_t id = conn->correlation_next;
  conn->correlation_next =
      conn->correlation_next == INT32_MAX ? 0 : conn->correlation_next + 1;
  return id;
}

/* Sends conn->frame with the pieces inserted, in one env_conn_sendv. The
 * pieces are a Produce request's record batches, borrowed from the
 * producer: they stay alive and unchanged at least until this returns
 * (their batches belong to the request until its outcome, which never
 * runs inside this call), and the env copies whatever the kernel does not
 * take at once, so nothing borrowed is referenced afterwards. */
static int kclient__conn_send_frame(kclient__conn *conn,
                                    const proto_pieces *pieces) {
  conn->c->stats.sends++;
  if (pieces->count == 0)
    return env_conn_send(conn->link->env_conn, conn->frame.data,
                         conn->frame.len);
  size_t cap = 2 * pieces->count + 1;
  proto_span spans_local[KCLIENT__SEND_SPANS_LOCAL];
  env_iovec iov_local[KCLIENT__SEND_SPANS_LOCAL];
  bool local = cap <= KCLIENT__SEND_SPANS_LOCAL;
  proto_span *spans = local ? spans_local : g_new(proto_span, cap);
  env_iovec *iov = local ? iov_local : g_new(env_iovec, cap);
  size_t n =
      proto_pieces_spans(conn->frame.data, conn->frame.len, pieces, spans);
  SL_ASSERT(n <= cap);
  for (size_t i = 0; i < n; i++)
    iov[i] = (env_iovec){spans[i].data, spans[i].len};
  int rc = env_conn_sendv(conn->link->env_conn, iov, n);
  if (!local) {
    g_free(spans);
    g_free(iov);
  }
  return rc;
}

/* Marks conn send-blocked when the env holds too much unsent for it
 * (extra: bytes gathered for it and not yet handed to the env), and drops
 * a big scratch frame rather than keep it between requests. */
static void kclient__conn_after_send(kclient__conn *conn, size_t extra) {
  if (env_conn_queued_bytes(conn->link->env_conn) + extra >
      KCLIENT_CONN_SEND_QUEUE_BYTES_MAX)
    conn->send_blocked = true;
  if (extra == 0 && conn->frame.cap > ((size_t)4 << 20)) {
    buf_free(&conn->frame);
    buf_init(&conn->frame);
  }
}

/* Hands what is gathered for c->gather_conn (its frame with
 * c->send_pieces inserted) to the env in one env_conn_sendv; drops it when
 * that connection failed meanwhile (its requests failed with it: a new
 * link cannot be READY within the same drain). Its requests are in flight
 * already, so a failing send fails the connection, as a broken one would. */
static void kclient__conn_flush(kclient_t *c) {
  kclient__conn *conn = c->gather_conn;
  if (!conn)
    return;
  bool alive = conn->state == KCLIENT__CONN_READY && conn->link &&
               conn->link == c->gather_link;
  c->gather_conn = NULL;
  c->gather_link = NULL;
  int rc = alive ? kclient__conn_send_frame(conn, &c->send_pieces) : 0;
  buf_clear(&conn->frame);
  proto_pieces_clear(&c->send_pieces);
  if (rc) {
    char why[KCLIENT_ERRMSG_BYTES];
    kclient__errmsg(why, -1, "cannot send: %s", kclient_err_name(rc));
    kclient__conn_fail(conn, rc, why);
    return;
  }
  if (alive)
    kclient__conn_after_send(conn, 0);
}

void kclient__send_cork(kclient_t *c) { c->send_corked++; }

void kclient__send_uncork(kclient_t *c) {
  SL_ASSERT(c->send_corked > 0);
  if (--c->send_corked == 0)
    kclient__conn_flush(c);
}

/* Encodes and sends one request; 0 or a negative errno (nothing sent).
 * Records fields (Produce batches) go out from where they are, not
 * copied into conn->frame (kclient__conn_send_frame); the body is built
 * again on every send, so a retried batch is encoded as it is then.
 * gather: append the frame to what is gathered for conn, handed to the env
 * at kclient__send_uncork (one writev for the requests of a drain, not one
 * each); whatever else is written first sends what is gathered, so bytes
 * leave in order. The batches stay in flight, unchanged, until then. */
static int kclient__conn_write(kclient__conn *conn, kclient__req *req,
                               bool gather) {
  kclient_t *c = conn->c;
  if (c->gather_conn &&
      (c->gather_conn != conn || !gather ||
       conn->frame.len + c->send_pieces.bytes >= KCLIENT__SEND_GATHER_BYTES))
    kclient__conn_flush(c);
  if (!conn->link)
    return -ENOTCONN; /* the flush failed it */
  proto_arena_reset(conn->encode_arena);
  void *body = req->build(req->ctx, req->version, conn->encode_arena);
  if (!body)
    return -ENOMEM;
  req->correlation_id = kclient__conn_next_correlation(conn);
  if (c->gather_conn != conn) {
    buf_clear(&conn->frame);
    proto_pieces_clear(&c->send_pieces);
  }
  /* On error the frame and pieces gathered so far are left as they were. */
  int rc = proto_request_encode_pieces(&conn->frame, &c->send_pieces,
                                       req->api_key, req->version,
                                       req->correlation_id, c->client_id, body);
  if (rc)
    return -EINVAL;
  if (gather) {
    c->gather_conn = conn;
    c->gather_link = conn->link;
  } else {
    rc = kclient__conn_send_frame(conn, &c->send_pieces);
    proto_pieces_clear(&c->send_pieces);
    if (rc)
      return rc;
  }
  req->sent_ns = kclient__now_ns(c);
  req->deadline_ns = req->sent_ns + ((uint64_t)c->cfg.request_timeout_ms +
                                     req->extra_timeout_ms) *
                                        KCLIENT__NS_PER_MS;
  c->stats.requests_sent++;
  kclient__conn_after_send(conn,
                           gather ? conn->frame.len + c->send_pieces.bytes : 0);
  return 0;
}

static void kclient__conn_pump(kclient__conn *conn) {
  kclient_t *c = conn->c;
  while (conn->state == KCLIENT__CONN_READY && !conn->send_blocked &&
         conn->in_flight.length < c->cfg.in_flight_max &&
         !g_queue_is_empty(&conn->pending)) {
    kclient__req *req = g_queue_pop_head(&conn->pending);
    if (req->cancelled) {
      g_free(req);
      continue;
    }
    char addr[300];
    char msg[KCLIENT_ERRMSG_BYTES];
    int16_t v =
        req->api_key < KCLIENT__API_KEYS ? conn->versions[req->api_key] : -1;
    if (v < 0) {
      const proto_message *m = proto_request_message(req->api_key);
      kclient__errmsg(
          msg, -1, "broker %s supports no version of %s this client speaks",
          kclient__conn_addr(conn, addr, sizeof addr), m ? m->name : "the API");
      kclient__req_complete_later(conn, req, -ENOTSUP, msg);
      continue;
    }
    req->version = v;
    int rc =
        kclient__conn_write(conn, req, c->send_corked > 0 && !req->no_response);
    if (rc) {
      kclient__errmsg(msg, -1, "cannot send to %s: %s",
                      kclient__conn_addr(conn, addr, sizeof addr),
                      kclient_err_name(rc));
      kclient__req_complete_later(conn, req, rc, msg);
      continue;
    }
    if (req->no_response) {
      kclient__req_complete_later(conn, req, 0, "");
      continue;
    }
    g_queue_push_tail(&conn->in_flight, req);
    if (conn->in_flight.length > c->stats.in_flight_max_seen)
      c->stats.in_flight_max_seen = conn->in_flight.length;
    kclient__conn_arm_timeout(conn, req->deadline_ns);
  }
}

static void *kclient__av_build(void *ctx, int16_t version, proto_arena *a) {
  proto_api_versions_req *req = PROTO_NEW(a, proto_api_versions_req);
  if (!req)
    return NULL;
  req->client_software_name = PROTO_STR_LIT(KCLIENT__SOFTWARE_NAME);
  req->client_software_version = PROTO_STR_LIT(KCLIENT__SOFTWARE_VERSION);
  return req;
}

/* Sends ApiVersions at conn->api_versions_version, ahead of everything. */
static int kclient__conn_send_av(kclient__conn *conn) {
  kclient__req *req = g_new0(kclient__req, 1);
  req->conn = conn;
  req->api_key = PROTO_API_API_VERSIONS;
  req->version = conn->api_versions_version;
  req->build = kclient__av_build;
  req->on_response = kclient__conn_av_done;
  req->ctx = conn;
  int rc = kclient__conn_write(conn, req, false);
  if (rc) {
    g_free(req);
    return rc;
  }
  g_queue_push_tail(&conn->in_flight, req);
  kclient__conn_arm_timeout(conn, req->deadline_ns);
  return 0;
}

/* ------------------------------------------------------------ connecting */

static void kclient__conn_connect(kclient__conn *conn) {
  kclient_t *c = conn->c;
  SL_ASSERT(conn->state == KCLIENT__CONN_DOWN && !conn->link);
  kclient__link *link = g_new0(kclient__link, 1);
  link->conn = conn;
  link->rx =
      rxbuf_new(PROTO_RESPONSE_FRAME_BYTES_MIN, KCLIENT_RESPONSE_BYTES_MAX);
  link->arena = proto_arena_new(KCLIENT__ARENA_BYTES_MAX);
  conn->link = link;
  conn->state = KCLIENT__CONN_CONNECTING;
  conn->send_blocked = false;
  conn->api_versions_version = KCLIENT__API_VERSIONS_FIRST;
  for (int k = 0; k < KCLIENT__API_KEYS; k++)
    conn->versions[k] = -1;
  env_trace(c->env, "client.connect", "\"broker\":%d,\"lane\":%d",
            (int)conn->broker->node_id, (int)conn->lane);
  link->env_conn = env_connect(c->env, conn->broker->host, conn->broker->port,
                               &kclient__conn_cbs, link);
  /* Bytes may be queued before the connection is up. */
  int rc = kclient__conn_send_av(conn);
  if (rc) {
    char why[KCLIENT_ERRMSG_BYTES];
    kclient__errmsg(why, -1, "cannot send ApiVersions: %s",
                    kclient_err_name(rc));
    kclient__conn_fail(conn, rc, why);
  }
}

static void kclient__conn_reconnect_fired(void *arg) {
  kclient__conn *conn = arg;
  kclient_t *c = conn->c;
  conn->reconnect_timer = 0;
  kclient__enter(c);
  if (conn->state == KCLIENT__CONN_DOWN)
    kclient__conn_connect(conn);
  kclient__leave(c);
}

void kclient__conn_ensure(kclient__conn *conn) {
  kclient_t *c = conn->c;
  if (conn->state != KCLIENT__CONN_DOWN || conn->reconnect_timer)
    return;
  uint64_t now = kclient__now_ns(c);
  if (now >= conn->reconnect_at_ns) {
    kclient__conn_connect(conn);
    return;
  }
  conn->reconnect_timer = env_timer_start(c->env, conn->reconnect_at_ns - now,
                                          kclient__conn_reconnect_fired, conn);
}

kclient__req *kclient__conn_submit(kclient__conn *conn, int16_t api_key,
                                   kclient__build_fn build,
                                   kclient__resp_fn on_response, void *ctx,
                                   bool no_response,
                                   uint32_t extra_timeout_ms) {
  SL_ASSERT(conn && build && on_response);
  kclient__req *req = g_new0(kclient__req, 1);
  req->conn = conn;
  req->api_key = api_key;
  req->build = build;
  req->on_response = on_response;
  req->ctx = ctx;
  req->no_response = no_response;
  req->extra_timeout_ms = extra_timeout_ms;
  req->version = -1;
  if (conn->pending.length >= KCLIENT_CONN_PENDING_MAX) {
    char addr[300], msg[KCLIENT_ERRMSG_BYTES];
    kclient__errmsg(msg, -1, "too many requests queued for %s",
                    kclient__conn_addr(conn, addr, sizeof addr));
    kclient__req_complete_later(conn, req, -ENOBUFS, msg);
    return req;
  }
  g_queue_push_tail(&conn->pending, req);
  if (conn->state == KCLIENT__CONN_DOWN)
    kclient__conn_ensure(conn);
  else
    kclient__conn_pump(conn);
  return req;
}

/* ------------------------------------------------------------- failures */

static void kclient__link_close(kclient__conn *conn) {
  kclient__link *link = conn->link;
  if (!link)
    return;
  conn->link = NULL;
  link->dead = true;
  if (link->env_conn)
    env_conn_close(link->env_conn);
  link->env_conn = NULL;
  if (!link->dispatching)
    kclient__link_free(link);
}

static void kclient__conn_fail(kclient__conn *conn, int err, const char *why) {
  kclient_t *c = conn->c;
  kclient__broker *b = conn->broker;
  SL_ASSERT(err < 0);
  bool was_connecting = conn->state == KCLIENT__CONN_CONNECTING;
  char addr[300], msg[KCLIENT_ERRMSG_BYTES];
  kclient__conn_addr(conn, addr, sizeof addr);
  if (was_connecting) {
    kclient__errmsg(msg, -1, "cannot connect to %s: %s", addr,
                    why ? why : kclient_err_name(err));
    b->connect_failures++;
    b->last_err = err;
    g_strlcpy(b->last_errmsg, msg, sizeof b->last_errmsg);
    c->stats.connect_failures++;
  } else {
    kclient__errmsg(msg, -1, "connection to %s lost: %s", addr,
                    why ? why : kclient_err_name(err));
    c->stats.disconnects++;
    conn->backoff_ms = c->cfg.reconnect_backoff_ms;
  }
  env_log(c->env, ENV_LOG_DEBUG, "kclient: %s", msg);
  env_trace(c->env, "client.disconnect", "\"broker\":%d,\"lane\":%d,\"err\":%d",
            (int)b->node_id, (int)conn->lane, err);
  kclient__link_close(conn);
  conn->state = KCLIENT__CONN_DOWN;
  conn->send_blocked = false;
  uint64_t now = kclient__now_ns(c);
  conn->reconnect_at_ns =
      now + kclient__backoff_ns(c, conn->backoff_ms, conn->backoff_ms, 1);
  if (was_connecting) {
    uint64_t doubled = (uint64_t)conn->backoff_ms * 2;
    conn->backoff_ms = doubled > c->cfg.reconnect_backoff_max_ms
                           ? c->cfg.reconnect_backoff_max_ms
                           : (uint32_t)doubled;
  }
  if (conn->timeout_timer)
    env_timer_cancel(c->env, conn->timeout_timer);
  conn->timeout_timer = 0;
  kclient__req *req;
  while ((req = g_queue_pop_head(&conn->in_flight))) {
    if (req->on_response == kclient__conn_av_done) {
      g_free(req);
      continue;
    }
    kclient__req_complete_later(conn, req, err, msg);
  }
  while ((req = g_queue_pop_head(&conn->pending)))
    kclient__req_complete_later(conn, req, err, msg);
  kclient__kick(c);
}

void kclient__conn_reset(kclient__conn *conn, int err, const char *why) {
  if (err < 0) {
    if (conn->state != KCLIENT__CONN_DOWN)
      kclient__conn_fail(conn, err, why);
    return;
  }
  /* Closing the client: drop everything silently. */
  kclient__link_close(conn);
  conn->state = KCLIENT__CONN_DOWN;
  kclient__reqs_drop(&conn->pending);
  kclient__reqs_drop(&conn->in_flight);
}

/* ------------------------------------------------------------ ApiVersions */

static void kclient__conn_versions_fill(kclient__conn *conn,
                                        const proto_api_versions_resp *resp) {
  for (int k = 0; k < KCLIENT__API_KEYS; k++)
    conn->versions[k] = -1;
  for (int32_t i = 0; i < resp->api_keys.count; i++) {
    const proto_api_versions_resp_api_version *av = &resp->api_keys.items[i];
    for (size_t j = 0; j < G_N_ELEMENTS(kclient__apis); j++) {
      const kclient__api_support *s = &kclient__apis[j];
      if (s->api_key != av->api_key)
        continue;
      const proto_message *m = proto_request_message(s->api_key);
      int16_t lo = s->min_version, hi = s->max_version;
      if (m && m->versions.min > lo)
        lo = m->versions.min;
      if (m && m->versions.max < hi)
        hi = m->versions.max;
      if (av->min_version > lo)
        lo = av->min_version;
      if (av->max_version < hi)
        hi = av->max_version;
      if (lo <= hi)
        conn->versions[s->api_key] = hi;
    }
  }
}

static void kclient__conn_ready(kclient__conn *conn) {
  kclient_t *c = conn->c;
  conn->state = KCLIENT__CONN_READY;
  conn->broker->connect_failures = 0;
  conn->backoff_ms = c->cfg.reconnect_backoff_ms;
  c->stats.connects++;
  env_trace(c->env, "client.ready",
            "\"broker\":%d,\"lane\":%d,\"produce_v\":%d,\"fetch_v\":%d,"
            "\"metadata_v\":%d",
            (int)conn->broker->node_id, (int)conn->lane,
            conn->versions[PROTO_API_PRODUCE], conn->versions[PROTO_API_FETCH],
            conn->versions[PROTO_API_METADATA]);
  kclient__conn_pump(conn);
  kclient__kick(c);
}

/* Decodes an ApiVersions response body: at the version sent, else in the
 * v0 shape Kafka uses for "version too new" (KIP-511). */
static proto_api_versions_resp *kclient__av_decode(kclient__conn *conn,
                                                   const uint8_t *body,
                                                   size_t len, int16_t sent) {
  proto_arena *a = conn->link->arena;
  void *out = NULL;
  if (proto_decode(&proto_api_versions_resp_msg, sent, body, len, a, &out) == 0)
    return out;
  proto_arena_reset(a);
  if (sent > 0 &&
      proto_decode(&proto_api_versions_resp_msg, 0, body, len, a, &out) == 0)
    return out;
  return NULL;
}

static void kclient__conn_av_frame(kclient__conn *conn, const uint8_t *frame,
                                   size_t len, int16_t sent) {
  char why[KCLIENT_ERRMSG_BYTES];
  /* Response header v0 whatever the version: the correlation id only. */
  proto_api_versions_resp *resp =
      kclient__av_decode(conn, frame + 4, len - 4, sent);
  if (!resp) {
    kclient__errmsg(why, -1, "undecodable ApiVersions v%d response", sent);
    kclient__conn_fail(conn, -EPROTO, why);
    return;
  }
  if (resp->error_code == KERR_NONE) {
    kclient__conn_versions_fill(conn, resp);
    kclient__conn_ready(conn);
    return;
  }
  int16_t next = -1;
  if (resp->error_code == KERR_UNSUPPORTED_VERSION && sent > 0) {
    next = 0;
    for (int32_t i = 0; i < resp->api_keys.count; i++)
      if (resp->api_keys.items[i].api_key == PROTO_API_API_VERSIONS)
        next = resp->api_keys.items[i].max_version;
    if (next > sent - 1)
      next = (int16_t)(sent - 1);
    if (next < 0)
      next = 0;
  } else if (resp->error_code == KERR_INVALID_REQUEST && sent > 0) {
    next = 0;
  }
  if (next < 0) {
    kclient__errmsg(why, -1, "ApiVersions v%d failed: %s", sent,
                    kclient_err_name(resp->error_code));
    kclient__conn_fail(conn, -EPROTO, why);
    return;
  }
  conn->api_versions_version = next;
  int rc = kclient__conn_send_av(conn);
  if (rc) {
    kclient__errmsg(why, -1, "cannot send ApiVersions: %s",
                    kclient_err_name(rc));
    kclient__conn_fail(conn, rc, why);
  }
}

/* Only a marker: ApiVersions answers are handled in kclient__conn_frame. */
static void kclient__conn_av_done(void *ctx, int err, const char *errmsg,
                                  int16_t version, void *body) {}

/* ------------------------------------------------------------ receiving */

static void kclient__conn_frame(kclient__conn *conn, const uint8_t *frame,
                                size_t len) {
  kclient_t *c = conn->c;
  char why[KCLIENT_ERRMSG_BYTES];
  int32_t corr = (int32_t)be32_load(frame);
  kclient__req *req = g_queue_peek_head(&conn->in_flight);
  if (!req || req->correlation_id != corr) {
    kclient__errmsg(
        why, -1, "response with correlation id %" PRId32 ", expected %" PRId32,
        corr, req ? req->correlation_id : -1);
    kclient__conn_fail(conn, -EPROTO, why);
    return;
  }
  g_queue_pop_head(&conn->in_flight);
  c->stats.responses_received++;
  if (req->on_response == kclient__conn_av_done) {
    int16_t sent = req->version;
    g_free(req);
    kclient__conn_av_frame(conn, frame, len, sent);
    return;
  }
  if (req->cancelled) {
    g_free(req);
    kclient__conn_pump(conn);
    return;
  }
  proto_arena *a = conn->link->arena;
  void *body = NULL;
  int32_t corr2;
  int rc = proto_response_decode(frame, len, req->api_key, req->version, a,
                                 &corr2, &body);
  if (rc) {
    const proto_message *m = proto_response_message(req->api_key);
    char addr[300];
    kclient__errmsg(why, -1, "cannot decode %s v%d from %s: %s",
                    m ? m->name : "response", req->version,
                    kclient__conn_addr(conn, addr, sizeof addr),
                    proto_strerror(rc));
    req->on_response(req->ctx, -EPROTO, why, req->version, NULL);
    g_free(req);
    proto_arena_reset(a);
    kclient__conn_fail(conn, -EPROTO, why);
    return;
  }
  req->on_response(req->ctx, 0, "", req->version, body);
  g_free(req);
  /* The handler may have reset the connection (its link is then dead). */
  if (conn->link && conn->link->arena == a)
    proto_arena_reset(a);
  kclient__conn_pump(conn);
}

static void kclient__conn_on_connect(void *arg, env_conn_t *ec) {
  kclient__link *link = arg;
  if (link->dead)
    return;
  env_log(link->conn->c->env, ENV_LOG_DEBUG, "kclient: connected to %s",
          env_conn_peer(ec));
}

/* The env reads into the link's receive buffer: once a response's size
 * prefix is in, straight into memory sized for the whole response. */
static uint8_t *kclient__conn_on_alloc(void *arg, env_conn_t *ec,
                                       size_t *len) {
  kclient__link *link = arg;
  return link->dead ? NULL : rxbuf_lend(link->rx, len);
}

static void kclient__conn_on_data(void *arg, env_conn_t *ec,
                                  const uint8_t *data, size_t len) {
  kclient__link *link = arg;
  if (link->dead)
    return;
  kclient__conn *conn = link->conn;
  kclient_t *c = conn->c;
  kclient__enter(c);
  link->dispatching = true;
  /* Normally data is memory the link lent (kclient__conn_on_alloc): the
   * bytes stay where they were read, and each frame, a large fetch
   * response included, is decoded there. Frames are borrowed until the
   * next read, which is as long as a response body lives. */
  rxbuf_received(link->rx, data, len);
  while (!link->dead) {
    const uint8_t *frame;
    size_t flen;
    int rc = rxbuf_next(link->rx, &frame, &flen);
    if (rc == 0)
      break;
    if (rc < 0) {
      kclient__conn_fail(conn, -EPROTO, rxbuf_error(link->rx));
      break;
    }
    kclient__conn_frame(conn, frame, flen);
  }
  link->dispatching = false;
  if (link->dead)
    kclient__link_free(link);
  kclient__leave(c);
}

static void kclient__conn_on_drain(void *arg, env_conn_t *ec) {
  kclient__link *link = arg;
  if (link->dead)
    return;
  kclient__conn *conn = link->conn;
  kclient__enter(conn->c);
  conn->send_blocked = false;
  kclient__conn_pump(conn);
  conn->c->drain_wanted = true;
  kclient__leave(conn->c);
}

static void kclient__conn_on_close(void *arg, env_conn_t *ec, int status) {
  kclient__link *link = arg;
  if (link->dead) {
    /* Closed by us: the env promises no callback then; be safe anyway. */
    return;
  }
  kclient__conn *conn = link->conn;
  kclient_t *c = conn->c;
  kclient__enter(c);
  link->env_conn = NULL; /* the env frees it after this call */
  kclient__conn_fail(conn, status < 0 ? status : -ECONNRESET,
                     status < 0 ? kclient_err_name(status)
                                : "closed by the broker");
  kclient__leave(c);
}
