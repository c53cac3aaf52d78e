/*
 * conn.c — client connections: framing, in-order request processing with
 * pipelining, back pressure, parked requests, and the dispatch table.
 *
 * Kafka's SocketServer reads a frame, hands it to a request handler, and
 * mutes the channel until the response is sent: one request per connection
 * at a time, responses in request order, while the client keeps sending
 * (pipelining) into the socket buffer. Here the same: frames pile up in the
 * connection's receive buffer (base/rxbuf.h: the env reads into it, a
 * large request straight into memory sized for it) and are taken one at a
 * time; a handler that cannot answer at once parks the request, and the
 * connection takes nothing else until it is answered.
 *
 * Back pressure, both ways:
 *  - output: before taking the next frame, the connection checks its send
 *    queue; above BROKER_CONN_QUEUED_BYTES_MAX it waits for on_drain. So a
 *    client that does not read its fetch responses holds the broker to that
 *    much plus one response (itself bounded by BROKER_FETCH_RESPONSE_BYTES_MAX
 *    and socket.request.max.bytes for the rest).
 *  - input: while the connection is stalled (a parked request or a full
 *    send queue) and more than BROKER_CONN_INPUT_BYTES_MAX unprocessed
 *    bytes are buffered, it stops reading; TCP then pushes back on the
 *    client. While not stalled, every complete frame is processed at once,
 *    so what stays buffered is at most one partial frame (bounded by
 *    socket.request.max.bytes).
 *
 * Small responses produced while the connection takes frames from one read
 * (pipelined produce answers, typically) are gathered and written with one
 * send at the end of that pass, up to BROKER__CONN_COALESCE_BYTES: one
 * syscall and one wake-up of the client instead of one per response.
 * Order is kept: while gathering, every response of the connection goes
 * through the gathered bytes, and they are sent before anything else.
 *
 * Fetch responses are not copied whole: the encoder leaves each
 * partition's records where they are (the fetch's read of the log) and
 * lists them as pieces, and the frame goes out with one env_conn_sendv of
 * header bytes and records interleaved; the env copies only what the
 * kernel does not take at once. The pieces are borrowed, so a response is
 * handed to the env before broker__respond returns — inside the callback
 * that read the records. A small response that is gathered is copied into
 * the gathered bytes, pieces included; a large one is sent together with
 * what was gathered before it.
 *
 * Protocol errors follow Kafka: an unknown API key, an unsupported version
 * (except ApiVersions, answered with the v0 fallback) or an undecodable
 * request closes the connection, and only that connection.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <glib.h>

#include "base/assert.h"
#include "base/rxbuf.h"
#include "broker/server/broker_internal.h"

/* Bytes of small responses gathered during one pump pass; a response
 * larger than this is sent at once, in one send with what was gathered. */
#define BROKER__CONN_COALESCE_BYTES ((size_t)64 * 1024)
/* Records fields at least this long are not copied into the encoded
 * response but sent from where they are (proto_pieces, env_conn_sendv);
 * below it one more iovec entry costs about what the copy does. */
#define BROKER__CONN_PIECE_MIN_BYTES ((size_t)512)
/* Spans of one response kept on the stack; more are allocated. */
#define BROKER__CONN_SPANS_LOCAL 16

struct broker__conn {
  broker_t *b;
  env_conn_t *conn; /* NULL once closed */
  uint64_t id;
  rxbuf *rx;               /* received bytes, cut into frames in place */
  proto_arena *req_arena;  /* decoded request, bounded */
  proto_arena *resp_arena; /* response structs (bounded by our own limits) */
  broker__req *current;    /* the parked request, or NULL */
  buf_t gathered;          /* responses not yet sent, only while pumping */
  /* Logs appended to by this connection's requests whose appends may not
   * be in the file yet (log_write_out before anything is sent). */
  /* Only non-empty inside pump() (emptied before it returns, and at
   * teardown), and logs are freed only from callbacks or at stop, never
   * inside a handler (log_close frees later): the pointers stay valid. */
  GPtrArray *appended; /* log_t* (borrowed) */
  bool reading_paused;
  bool closed;
  bool pumping; /* inside pump(): frees wait for its end */
};

/* ------------------------------------------------------- dispatch table */

/* The APIs this broker answers and the versions it advertises. Ranges sit
 * inside what broker/proto describes and overlap what kcat/librdkafka 2.0,
 * kafka-python 2.0 and current Java clients send (KAFKA-NOTES §3.1).
 * Transactions and replication add rows here. Sorted by key. */
static const broker__api api_table[] = {
    {PROTO_API_PRODUCE, 3, 9, broker__api_produce},
    {PROTO_API_FETCH, 4, 12, broker__api_fetch},
    {PROTO_API_LIST_OFFSETS, 0, 6, broker__api_list_offsets},
    {PROTO_API_METADATA, 0, 12, broker__api_metadata},
    {PROTO_API_OFFSET_COMMIT, 0, 8, broker__api_offset_commit},
    {PROTO_API_OFFSET_FETCH, 0, 8, broker__api_offset_fetch},
    {PROTO_API_FIND_COORDINATOR, 0, 4, broker__api_find_coordinator},
    {PROTO_API_JOIN_GROUP, 0, 9, broker__api_join_group},
    {PROTO_API_HEARTBEAT, 0, 4, broker__api_heartbeat},
    {PROTO_API_LEAVE_GROUP, 0, 5, broker__api_leave_group},
    {PROTO_API_SYNC_GROUP, 0, 5, broker__api_sync_group},
    {PROTO_API_DESCRIBE_GROUPS, 0, 5, broker__api_describe_groups},
    {PROTO_API_LIST_GROUPS, 0, 4, broker__api_list_groups},
    {PROTO_API_API_VERSIONS, 0, 3, broker__api_versions},
    {PROTO_API_CREATE_TOPICS, 0, 7, broker__api_create_topics},
    {PROTO_API_DELETE_TOPICS, 0, 6, broker__api_delete_topics},
    {PROTO_API_DELETE_RECORDS, 0, 2, broker__api_delete_records},
    {PROTO_API_INIT_PRODUCER_ID, 0, 4, broker__api_init_producer_id},
    {PROTO_API_OFFSET_FOR_LEADER_EPOCH, 0, 4,
     broker__api_offset_for_leader_epoch},
    {PROTO_API_DESCRIBE_CONFIGS, 0, 4, broker__api_describe_configs},
    {PROTO_API_CREATE_PARTITIONS, 0, 3, broker__api_create_partitions},
    {PROTO_API_DELETE_GROUPS, 0, 2, broker__api_delete_groups},
    {PROTO_API_INCREMENTAL_ALTER_CONFIGS, 0, 1,
     broker__api_incremental_alter_configs},
    {PROTO_API_OFFSET_DELETE, 0, 0, broker__api_offset_delete},
    {PROTO_API_DESCRIBE_CLUSTER, 0, 1, broker__api_describe_cluster},
};

const broker__api *broker__api_table(size_t *count) {
  *count = G_N_ELEMENTS(api_table);
  return api_table;
}

static const broker__api *api_find(int16_t key) {
  for (size_t i = 0; i < G_N_ELEMENTS(api_table); i++)
    if (api_table[i].api_key == key)
      return &api_table[i];
  return NULL;
}

/* ------------------------------------------------------------ lifecycle */

static void conn_free(broker__conn *c) {
  g_ptr_array_free(c->appended, TRUE);
  buf_free(&c->gathered);
  rxbuf_free(c->rx);
  proto_arena_free(c->req_arena);
  proto_arena_free(c->resp_arena);
  g_free(c);
}

static void req_free(broker__req *req) {
  if (req->owns_arena) {
    proto_arena_free(req->arena);
    proto_arena_free(req->resp_arena);
  }
  g_free(req);
}

/* Detaches the connection from everything; frees it unless pump() is
 * running on it (pump frees it on the way out). */
static bool conn_write_out(broker__conn *c);

static void conn_teardown(broker__conn *c) {
  if (c->closed)
    return;
  /* Nothing is answered any more, but the appends still go to the file. */
  (void)conn_write_out(c);
  c->closed = true;
  c->conn = NULL;
  g_hash_table_remove(c->b->conns, c);
  broker__req *req = c->current;
  c->current = NULL;
  if (req) {
    /* The parked request outlives the connection: it takes the arenas. */
    req->conn = NULL;
    req->owns_arena = true;
    c->req_arena = NULL;
    c->resp_arena = NULL;
    if (req->cancel) {
      req->cancel(req);
      g_hash_table_remove(c->b->parked, req);
      req_free(req);
    }
  }
  if (!c->pumping)
    conn_free(c);
}

static void conn_flush_gathered(broker__conn *c);

static void conn_close(broker__conn *c) {
  if (c->closed)
    return;
  /* Answers given before the close still go out, as without gathering. */
  conn_flush_gathered(c);
  if (c->closed)
    return;
  env_conn_close(c->conn);
  conn_teardown(c);
}

static void on_close(void *arg, env_conn_t *conn, int status) {
  broker__conn *c = arg;
  if (status < 0)
    env_log(c->b->env, ENV_LOG_DEBUG, "connection %" PRIu64 " from %s: %s",
            c->id, env_conn_peer(conn), g_strerror(-status));
  conn_teardown(c);
}

/* ------------------------------------------------------------ responding */

static void send_bytes(broker__conn *c, const uint8_t *data, size_t len) {
  int rc = env_conn_send(c->conn, data, len);
  if (rc < 0) {
    env_log(c->b->env, ENV_LOG_WARN, "connection %" PRIu64 ": send: %s", c->id,
            g_strerror(-rc));
    conn_close(c);
  }
}

/* Where piece (data, len) lies in one of the n files, if it lies within
 * one of their views: stores it in *out and returns true. */
static bool piece_in_files(const void *data, size_t len,
                           const broker__file_bytes *files, size_t n,
                           env_iovec_file *out) {
  uintptr_t p = (uintptr_t)data;
  for (size_t i = 0; i < n; i++) {
    uintptr_t v = (uintptr_t)files[i].data;
    if (p >= v && p - v <= files[i].len && len <= files[i].len - (p - v)) {
      *out = (env_iovec_file){.file = files[i].file,
                              .offset = files[i].position + (p - v)};
      return true;
    }
  }
  return false;
}

/* Sends head_len bytes at head (earlier answers; may be none), then the
 * frame made of `bytes` with `pieces` (NULL: none) inserted: one send.
 * Pieces within the n views of `files` are sent from their files. */
static void send_pieces(broker__conn *c, const uint8_t *head, size_t head_len,
                        const buf_t *bytes, const proto_pieces *pieces,
                        const broker__file_bytes *files, size_t n_files) {
  size_t count = pieces ? pieces->count : 0;
  if (count == 0 && head_len == 0) {
    send_bytes(c, bytes->data, bytes->len);
    return;
  }
  size_t cap = 2 * count + 2;
  proto_span spans_local[BROKER__CONN_SPANS_LOCAL];
  env_iovec iov_local[BROKER__CONN_SPANS_LOCAL];
  env_iovec_file from_local[BROKER__CONN_SPANS_LOCAL];
  bool local = cap <= BROKER__CONN_SPANS_LOCAL;
  proto_span *spans = local ? spans_local : g_new(proto_span, cap);
  env_iovec *iov = local ? iov_local : g_new(env_iovec, cap);
  env_iovec_file *from = local ? from_local : g_new(env_iovec_file, cap);
  size_t n = 0, n_from = 0;
  if (head_len > 0) {
    from[n] = (env_iovec_file){.file = NULL, .offset = 0};
    iov[n++] = (env_iovec){head, head_len};
  }
  size_t k = proto_pieces_spans(bytes->data, bytes->len, pieces, spans);
  for (size_t i = 0; i < k; i++) {
    from[n] = (env_iovec_file){.file = NULL, .offset = 0};
    if (piece_in_files(spans[i].data, spans[i].len, files, n_files, &from[n]))
      n_from++;
    iov[n++] = (env_iovec){spans[i].data, spans[i].len};
  }
  SL_ASSERT(n <= cap);
  int rc = n_from > 0 ? env_conn_sendv_files(c->conn, iov, from, n)
                      : env_conn_sendv(c->conn, iov, n);
  if (!local) {
    g_free(spans);
    g_free(iov);
    g_free(from);
  }
  if (rc < 0) {
    env_log(c->b->env, ENV_LOG_WARN, "connection %" PRIu64 ": send: %s", c->id,
            g_strerror(-rc));
    conn_close(c);
  }
}

/* Appends the whole frame (pieces copied in place) to the gathered bytes. */
static void gather_frame(broker__conn *c, const buf_t *bytes,
                         const proto_pieces *pieces) {
  size_t pos = 0;
  for (size_t i = 0; pieces && i < pieces->count; i++) {
    const proto_piece *pc = &pieces->items[i];
    buf_append(&c->gathered, bytes->data + pos, pc->at - pos);
    buf_append(&c->gathered, pc->data, pc->len);
    pos = pc->at;
  }
  buf_append(&c->gathered, bytes->data + pos, bytes->len - pos);
}

/* Writes out every log this connection appended to since the last call:
 * before any of its answers leaves (acks=1: in the page cache). false if a
 * write failed (the log is failed then, and the answers must not go). */
static bool conn_write_out(broker__conn *c) {
  bool ok = true;
  for (guint i = 0; i < c->appended->len; i++) {
    log_t *log = g_ptr_array_index(c->appended, i);
    if (log_write_out(log) != KERR_NONE) {
      env_log(c->b->env, ENV_LOG_ERROR,
              "connection %" PRIu64 ": writing out the log %s failed; closing "
              "without answering",
              c->id, log_dir(log));
      ok = false;
    }
  }
  g_ptr_array_set_size(c->appended, 0);
  return ok;
}

void broker__req_appended(broker__req *req, log_t *log) {
  broker__conn *c = req->conn;
  if (!c || c->closed) {
    int rc = log_write_out(log); /* nobody to answer: just into the file */
    (void)rc;
    return;
  }
  GPtrArray *a = c->appended;
  if (a->len > 0 && g_ptr_array_index(a, a->len - 1) == log)
    return;
  for (guint i = 0; i + 1 < a->len; i++)
    if (g_ptr_array_index(a, i) == log)
      return;
  g_ptr_array_add(a, log);
}

/* A write-out failed: the gathered answers are dropped and the connection
 * closed (the client retries and then gets the log's error). */
static void conn_abort_answers(broker__conn *c) {
  c->gathered.len = 0;
  conn_close(c);
}

static void conn_flush_gathered(broker__conn *c) {
  if (c->closed)
    return;
  if (c->appended->len > 0 && !conn_write_out(c)) {
    conn_abort_answers(c);
    return;
  }
  if (c->gathered.len == 0)
    return;
  /* Bytes gather only inside pump(), which keeps c alive while it runs:
   * c is still there after a failing send has closed it. */
  SL_ASSERT(c->pumping);
  size_t len = c->gathered.len;
  /* Emptied first: a failing send closes the connection, which flushes. */
  c->gathered.len = 0;
  send_bytes(c, c->gathered.data, len);
}

/* One response frame: `frame` with `pieces` (NULL: none) inserted. Small
 * ones are gathered; a large one goes out at once in the same send as
 * what was gathered before it (one syscall and one wake-up of the client
 * for both). */
static void send_frame(broker__conn *c, const buf_t *frame,
                       const proto_pieces *pieces,
                       const broker__file_bytes *files, size_t n_files) {
  size_t len = frame->len + (pieces ? pieces->bytes : 0);
  if (c->pumping && len <= BROKER__CONN_COALESCE_BYTES) {
    if (c->gathered.len + len > BROKER__CONN_COALESCE_BYTES)
      conn_flush_gathered(c);
    if (c->closed)
      return;
    gather_frame(c, frame, pieces);
    return;
  }
  if (c->closed)
    return;
  if (c->appended->len > 0 && !conn_write_out(c)) {
    conn_abort_answers(c);
    return;
  }
  const uint8_t *head = NULL;
  size_t head_len = 0;
  if (c->gathered.len > 0) {
    SL_ASSERT(c->pumping); /* bytes gather only inside pump() */
    head = c->gathered.data;
    head_len = c->gathered.len;
    /* Emptied first: a failing send closes the connection, which flushes;
     * the bytes stay where they are until the send returns. */
    c->gathered.len = 0;
  }
  send_pieces(c, head, head_len, frame, pieces, files, n_files);
}

static void pump(broker__conn *c);

void broker__respond(broker__req *req, const void *body) {
  broker__respond_files(req, body, NULL, 0);
}

void broker__respond_files(broker__req *req, const void *body,
                           const broker__file_bytes *files, size_t n_files) {
  broker_t *b = req->b;
  broker__conn *c = req->conn;
  if (c && !c->closed) {
    buf_clear(&b->out);
    proto_pieces pieces;
    proto_pieces_init(&pieces, BROKER__CONN_PIECE_MIN_BYTES);
    int rc = proto_response_encode_pieces(&b->out, &pieces, req->header.api_key,
                                          req->header.api_version,
                                          req->header.correlation_id, body);
    if (rc < 0) {
      env_log(b->env, ENV_LOG_ERROR,
              "connection %" PRIu64 ": cannot encode the response to api %d "
              "v%d: %s",
              c->id, req->header.api_key, req->header.api_version,
              proto_strerror(rc));
      conn_close(c);
    } else {
      send_frame(c, &b->out, &pieces, files, n_files);
    }
    proto_pieces_free(&pieces);
    /* Do not hold on to the memory of one huge response. */
    if (b->out.cap > ((size_t)8 << 20))
      buf_free(&b->out);
  }
  if (req->parked)
    broker__finish_silent(req);
}

void broker__finish_silent(broker__req *req) {
  SL_ASSERT(req->parked);
  broker__conn *c = req->conn;
  if (c && c->current == req)
    c->current = NULL;
  g_hash_table_remove(req->b->parked, req);
  req_free(req);
  if (c && !c->closed)
    pump(c);
}

void broker__req_discard(broker__req *req) { req_free(req); }

const char *broker__req_peer(broker__req *req) {
  broker__conn *c = req->conn;
  return c && !c->closed && c->conn ? env_conn_peer(c->conn) : NULL;
}

void broker__req_close_conn(broker__req *req) {
  if (req->conn)
    conn_close(req->conn);
}

/* ------------------------------------------------------------- requests */

static void answer_api_versions_fallback(broker__conn *c, int32_t corr) {
  buf_clear(&c->b->out);
  proto_api_versions_fallback_encode(&c->b->out, corr);
  send_frame(c, &c->b->out, NULL, NULL, 0);
}

/* Handles one frame. Returns false when the connection was closed. */
static bool handle_frame(broker__conn *c, const uint8_t *frame, size_t len) {
  broker_t *b = c->b;
  proto_arena_reset(c->req_arena);
  proto_arena_reset(c->resp_arena);
  proto_request preq;
  memset(&preq, 0, sizeof preq);
  int rc = proto_request_decode(frame, len, c->req_arena, &preq);
  int16_t key = preq.header.api_key, version = preq.header.api_version;
  env_metric_add(b->env, "broker.requests", 1);
  if (rc == PROTO_ERR_UNSUPPORTED_VERSION && key == PROTO_API_API_VERSIONS) {
    answer_api_versions_fallback(c, preq.header.correlation_id);
    return !c->closed;
  }
  const broker__api *api = rc == 0 ? api_find(key) : NULL;
  if (rc == 0 && api && key == PROTO_API_API_VERSIONS &&
      version > api->max_version) {
    answer_api_versions_fallback(c, preq.header.correlation_id);
    return !c->closed;
  }
  if (rc < 0 || !api || version < api->min_version ||
      version > api->max_version) {
    env_log(b->env, ENV_LOG_WARN,
            "connection %" PRIu64 " from %s: closing: api key %d v%d: %s",
            c->id, env_conn_peer(c->conn), key, version,
            rc < 0 ? proto_strerror(rc) : "not supported by this broker");
    env_metric_add(b->env, "broker.requests_rejected", 1);
    conn_close(c);
    return false;
  }
  broker__req *req = g_new0(broker__req, 1);
  req->b = b;
  req->conn = c;
  req->header = preq.header;
  req->body = preq.body;
  req->arena = c->req_arena;
  req->resp_arena = c->resp_arena;
  broker__handled h = api->handler(req);
  switch (h) {
  case BROKER__DONE:
    req_free(req);
    break;
  case BROKER__PARKED:
    req->parked = true;
    c->current = req;
    g_hash_table_add(b->parked, req);
    break;
  case BROKER__CLOSE:
    req_free(req);
    env_log(b->env, ENV_LOG_WARN,
            "connection %" PRIu64 ": closing after api key %d v%d", c->id, key,
            version);
    conn_close(c);
    break;
  }
  return !c->closed;
}

static void update_reading(broker__conn *c) {
  bool stalled = c->current != NULL ||
                 env_conn_queued_bytes(c->conn) > BROKER_CONN_QUEUED_BYTES_MAX;
  bool pause =
      stalled && rxbuf_buffered_bytes(c->rx) > BROKER_CONN_INPUT_BYTES_MAX;
  if (pause && !c->reading_paused) {
    env_conn_pause_reading(c->conn);
    c->reading_paused = true;
  } else if (!pause && c->reading_paused) {
    env_conn_resume_reading(c->conn);
    c->reading_paused = false;
  }
}

/* Takes frames one at a time while the connection is free to. */
static void pump(broker__conn *c) {
  if (c->pumping || c->closed)
    return;
  c->pumping = true;
  while (!c->closed && !c->current &&
         env_conn_queued_bytes(c->conn) <= BROKER_CONN_QUEUED_BYTES_MAX) {
    const uint8_t *frame = NULL;
    size_t len = 0;
    int rc = rxbuf_next(c->rx, &frame, &len);
    if (rc == 0)
      break;
    if (rc < 0) {
      env_log(c->b->env, ENV_LOG_WARN,
              "connection %" PRIu64 " from %s: closing: %s", c->id,
              env_conn_peer(c->conn), rxbuf_error(c->rx));
      conn_close(c);
      break;
    }
    if (!handle_frame(c, frame, len))
      break;
  }
  conn_flush_gathered(c);
  c->pumping = false;
  if (c->closed) {
    conn_free(c);
    return;
  }
  update_reading(c);
}

/* Reads land in the connection's own buffer, the rest of a produce
 * request in memory sized for it: the frame is decoded where it was read
 * (and its records appended to the log from there) with no copy. */
static uint8_t *on_alloc(void *arg, env_conn_t *conn, size_t *len) {
  broker__conn *c = arg;
  return c->closed ? NULL : rxbuf_lend(c->rx, len);
}

static void on_data(void *arg, env_conn_t *conn, const uint8_t *data,
                    size_t len) {
  broker__conn *c = arg;
  rxbuf_received(c->rx, data, len);
  pump(c);
}

static void on_drain(void *arg, env_conn_t *conn) { pump(arg); }

static const env_conn_cbs conn_cbs = {
    .on_connect = NULL,
    .on_data = on_data,
    .on_drain = on_drain,
    .on_close = on_close,
    .on_alloc = on_alloc,
};

void broker__on_accept(void *arg, env_conn_t *conn) {
  broker_t *b = arg;
  if (b->shutting_down ||
      g_hash_table_size(b->conns) >= (guint)BROKER_CONNS_MAX) {
    env_log(b->env, ENV_LOG_WARN, "refusing connection from %s (%s)",
            env_conn_peer(conn),
            b->shutting_down ? "shutting down" : "too many connections");
    env_conn_close(conn);
    return;
  }
  broker__conn *c = g_new0(broker__conn, 1);
  c->b = b;
  c->conn = conn;
  c->id = ++b->conn_seq;
  c->rx = rxbuf_new(PROTO_REQUEST_FRAME_BYTES_MIN,
                    b->cfg->socket_request_max_bytes);
  c->req_arena = proto_arena_new(BROKER_REQUEST_ARENA_BYTES_MAX);
  buf_init(&c->gathered);
  c->appended = g_ptr_array_new();
  c->resp_arena = proto_arena_new(0);
  g_hash_table_add(b->conns, c);
  env_conn_set_cbs(conn, &conn_cbs, c);
  env_metric_add(b->env, "broker.connections_accepted", 1);
}

static gint cmp_conn_id(gconstpointer a, gconstpointer b) {
  const broker__conn *x = *(broker__conn *const *)a;
  const broker__conn *y = *(broker__conn *const *)b;
  return x->id < y->id ? -1 : x->id > y->id ? 1 : 0;
}

void broker__conns_close_all(broker_t *b) {
  /* In accept order, not hash order: the simulator's trace must not
   * depend on where the allocator put the connections. */
  GPtrArray *all = g_ptr_array_new();
  GHashTableIter it;
  gpointer k;
  g_hash_table_iter_init(&it, b->conns);
  while (g_hash_table_iter_next(&it, &k, NULL))
    g_ptr_array_add(all, k);
  g_ptr_array_sort(all, cmp_conn_id);
  for (guint i = 0; i < all->len; i++)
    conn_close(g_ptr_array_index(all, i));
  g_ptr_array_free(all, TRUE);
}

size_t broker_connection_count(const broker_t *b) {
  return g_hash_table_size(b->conns);
}

/* ------------------------------------------------------------- helpers */

void *broker__new(broker__req *req, const proto_struct *s) {
  void *p = proto_new(req->resp_arena, s);
  SL_ASSERT(p); /* the response arena has no byte limit */
  return p;
}

void *broker__new_array(broker__req *req, const proto_struct *s, int32_t n) {
  SL_ASSERT(n >= 0);
  void *p = proto_new_array(req->resp_arena, s, n);
  SL_ASSERT(p);
  return p;
}

proto_str broker__str(broker__req *req, const char *s) {
  if (!s)
    return PROTO_STR_NULL;
  size_t n = strlen(s);
  SL_ASSERT(n <= INT32_MAX);
  bool ok = true;
  proto_str r = proto_arena_str(req->resp_arena, s, (int32_t)n, &ok);
  SL_ASSERT(ok);
  return r;
}

void *broker__alloc(broker__req *req, size_t size) {
  void *p = proto_arena_alloc(req->resp_arena, size);
  SL_ASSERT(p);
  return p;
}

proto_int32_array broker__i32_one(broker__req *req, int32_t v) {
  int32_t *items = broker__alloc(req, sizeof *items);
  items[0] = v;
  return (proto_int32_array){items, 1};
}
