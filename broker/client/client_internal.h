/*
 * client_internal.h — the client's private structures, shared by its files:
 *
 *   client.c    lifecycle, config, errors, the event guard, brokers,
 *               the metadata cache and its refresh, retrying operations;
 *   conn.c      one connection to a broker: ApiVersions, pipelining,
 *               correlation ids, timeouts, reconnect backoff;
 *   producer.c  the record accumulator, the sender, idempotence;
 *   consumer.c  list offsets, fetch, the consumer;
 *   admin.c     metadata and admin operations for callers;
 *   group.c     the consumer group member (kclient_group_*);
 *   group_admin.c  ListGroups, DescribeGroups, committed offsets.
 *
 * The event guard: every env callback of the client runs between
 * kclient__enter and kclient__leave. Work that must not run inside an API
 * call (user callbacks) or inside another piece of work (draining the
 * producer) is deferred to kclient__leave, or to a zero-delay timer when no
 * event is running. That is how "callbacks never run inside the call that
 * asked for them" holds without each piece of code worrying about it.
 */
#ifndef SLUICE_BROKER_CLIENT_CLIENT_INTERNAL_H
#define SLUICE_BROKER_CLIENT_CLIENT_INTERNAL_H

#include <glib.h>

#include "base/rxbuf.h"
#include "broker/client/client.h"
#include "broker/proto/proto.h"

#define KCLIENT__NS_PER_MS UINT64_C(1000000)
/* API keys tracked per connection (every key we use is below it). */
#define KCLIENT__API_KEYS 64
/* Bound on what one decoded response may allocate. */
#define KCLIENT__ARENA_BYTES_MAX ((size_t)512 << 20)
/* A topic counts as missing once metadata answered "unknown topic" this
 * many times in a row over at least KCLIENT__UNKNOWN_TOPIC_GRACE_MS (a
 * topic just created may take a moment to reach every broker). A broker
 * that is auto-creating the topic answers LEADER_NOT_AVAILABLE instead
 * (KAFKA-NOTES §11), so this holds with auto-creation too. */
#define KCLIENT__UNKNOWN_TOPIC_TRIES 3
#define KCLIENT__UNKNOWN_TOPIC_GRACE_MS 2000
/* The producer's housekeeping period while records are pending. */
#define KCLIENT__PRODUCER_TICK_MS 100
/* Bytes a record costs beyond its key, value and headers (varints,
 * attributes), for batch sizing. */
#define KCLIENT__RECORD_OVERHEAD_BYTES 24
/* Topic names: Kafka's limit. */
#define KCLIENT__TOPIC_NAME_BYTES_MAX 249
/* Records fields (a Produce request's batches) of at least this many bytes
 * are sent from the producer's buffers (proto pieces, env_conn_sendv)
 * instead of being copied into the request frame; a smaller one costs less
 * to copy than its own iovec does. */
#define KCLIENT__SEND_PIECE_MIN_BYTES 1024
/* Spans of a gathered send kept on the stack (a request with more pieces
 * allocates its span list). */
#define KCLIENT__SEND_SPANS_LOCAL 33
/* Bytes gathered for one connection (see kclient__send_cork) beyond which
 * the next request sends them first. */
#define KCLIENT__SEND_GATHER_BYTES ((size_t)1 << 20)

typedef enum kclient__lane {
  KCLIENT__LANE_MAIN = 0,  /* produce, metadata, admin, list offsets */
  KCLIENT__LANE_FETCH = 1, /* fetch long polls */
  KCLIENT__LANES = 2,
} kclient__lane;

typedef struct kclient__broker kclient__broker;
typedef struct kclient__conn kclient__conn;
typedef struct kclient__req kclient__req;
typedef struct kclient__topic kclient__topic;
typedef struct kclient__op kclient__op;
typedef struct kclient__ppart kclient__ppart;
typedef struct kclient__pbatch kclient__pbatch;

/* ---- requests on a connection ---- */

/* Builds a request body for the negotiated version in arena a (the arena
 * is reset once the frame is encoded). NULL fails the request with
 * -ENOMEM. */
typedef void *(*kclient__build_fn)(void *ctx, int16_t version, proto_arena *a);
/* The outcome: err < 0 with body NULL (network, timeout, -ENOTSUP,
 * -EPROTO), or err 0 and the body decoded at version (NULL for a request
 * that expects no response). errmsg names the broker on failure. The body
 * lives until the callback returns. */
typedef void (*kclient__resp_fn)(void *ctx, int err, const char *errmsg,
                                 int16_t version, void *body);

struct kclient__req {
  kclient__conn *conn;
  int16_t api_key;
  int16_t version;
  int32_t correlation_id;
  bool no_response;          /* Produce acks=0 */
  bool cancelled;            /* the owner is gone: drop the outcome */
  uint32_t extra_timeout_ms; /* added to request_timeout_ms (long polls) */
  uint64_t sent_ns;
  uint64_t deadline_ns;
  kclient__build_fn build;
  kclient__resp_fn on_response;
  void *ctx;
  /* Failed before sending (deferred to the end of the event). */
  int early_err;
};

/* ---- connections ---- */

typedef enum kclient__conn_state {
  KCLIENT__CONN_DOWN = 0,   /* no connection (maybe waiting to reconnect) */
  KCLIENT__CONN_CONNECTING, /* connecting / ApiVersions in flight */
  KCLIENT__CONN_READY,      /* versions known, requests flow */
} kclient__conn_state;

/* One env connection; replaced on every reconnect. Freed only when no
 * on_data dispatch runs on it. */
typedef struct kclient__link {
  kclient__conn *conn;
  env_conn_t *env_conn;
  rxbuf *rx; /* received bytes, cut into frames in place */
  proto_arena *arena;
  bool dispatching;
  bool dead;
} kclient__link;

struct kclient__conn {
  kclient_t *c;
  kclient__broker *broker;
  kclient__lane lane;
  kclient__conn_state state;
  kclient__link *link;
  GQueue pending;                      /* kclient__req*, not yet sent */
  GQueue in_flight;                    /* kclient__req*, sent, in order */
  int16_t versions[KCLIENT__API_KEYS]; /* negotiated; -1 = none */
  int16_t api_versions_version;        /* ApiVersions version being tried */
  int32_t correlation_next;
  uint64_t timeout_timer;
  uint64_t timeout_at_ns;
  uint64_t reconnect_timer;
  uint64_t reconnect_at_ns;
  uint32_t backoff_ms;
  bool send_blocked; /* env send queue over the bound; wait for on_drain */
  buf_t frame;       /* encode scratch */
  proto_arena *encode_arena;
};

/* ---- brokers ---- */

struct kclient__broker {
  int32_t node_id; /* < 0 for bootstrap addresses */
  char *host;
  uint16_t port;
  char *rack;
  bool listed; /* in the last metadata (bootstrap entries: false) */
  kclient__conn *conns[KCLIENT__LANES]; /* created on first use */
  uint32_t connect_failures;            /* in a row, either lane */
  int last_err;
  char last_errmsg[KCLIENT_ERRMSG_BYTES];
};

/* ---- topics (metadata cache + producer state) ---- */

typedef struct kclient__partition {
  int err;
  int32_t leader;
  int32_t leader_epoch;
} kclient__partition;

/* A record waiting for its topic's metadata (the partitioner needs the
 * partition count). One allocation: the struct, then key, value, headers. */
typedef struct kclient__wrec {
  int32_t partition;
  int32_t key_len, value_len;
  int64_t timestamp_ms;
  uint8_t *key, *value;
  batch_record_header *headers;
  int32_t header_count;
  size_t est_bytes;
  uint64_t deadline_ns;
  kclient_delivery_cb cb;
  void *cb_arg;
} kclient__wrec;

struct kclient__topic {
  char *name;
  int err;                 /* last metadata answer for the topic */
  int32_t partition_count; /* -1 until known */
  kclient__partition *parts;
  uint32_t unknown_answers;  /* UNKNOWN_TOPIC_OR_PARTITION in a row */
  uint64_t unknown_since_ns; /* when the first of them came */
  bool metadata_known;
  /* producer */
  GPtrArray *pparts; /* kclient__ppart*, index = partition; NULL entries */
  GQueue waiting;    /* kclient__wrec* */
  int32_t sticky_partition;
};

/* ---- operations with retries ---- */

/* Where an operation goes. */
enum {
  KCLIENT__ROUTE_ANY = -1000,  /* the least busy reachable broker */
  KCLIENT__ROUTE_WAIT = -1001, /* leader unknown: wait for metadata */
  KCLIENT__ROUTE_FAIL = -1002, /* op->err says why */
};

typedef enum kclient__op_action {
  KCLIENT__OP_DONE = 0, /* finish with op->err */
  KCLIENT__OP_RETRY,    /* retry after backoff (op->err is the reason) */
  KCLIENT__OP_REFRESH,  /* refresh metadata, then retry */
} kclient__op_action;

typedef struct kclient__op_vt {
  const char *name; /* for logs: "metadata", "create_topics" */
  int16_t api_key;
  /* A node id (>= 0 or a bootstrap id < 0) or a KCLIENT__ROUTE_*. */
  int32_t (*route)(kclient__op *op);
  kclient__build_fn build; /* ctx = the op */
  /* A decoded response: fill op->err / op->errmsg and say what next. */
  kclient__op_action (*handle)(kclient__op *op, int16_t version, void *body);
  /* The outcome, once (not after kclient__op_cancel). */
  void (*finish)(kclient__op *op);
  /* Frees op->ctx (always, last). May be NULL. */
  void (*free_ctx)(kclient__op *op);
} kclient__op_vt;

struct kclient__op {
  kclient_t *c;
  const kclient__op_vt *vt;
  void *ctx;
  void *user_cb;
  void *user_arg;
  uint64_t deadline_ns;
  uint32_t attempts;
  uint64_t timer;
  kclient__req *req;
  bool fail_fast; /* give up when no broker is reachable */
  bool waiting_metadata;
  bool done;
  int err;
  char errmsg[KCLIENT_ERRMSG_BYTES];
  GList link; /* in c->ops */
};

/* ---- the client ---- */

typedef struct kclient__deferred {
  void (*fn)(void *arg);
  void (*drop)(void *arg); /* frees arg when the client goes first; or NULL */
  void *arg;
} kclient__deferred;

typedef struct kclient__flush_waiter {
  kclient_done_cb cb;
  void *arg;
} kclient__flush_waiter;

struct kclient {
  env_t *env;
  kclient_config cfg;
  char *bootstrap_copy;
  char *client_id;
  kclient_stats stats;

  /* event guard */
  uint32_t busy;
  GArray *deferred; /* kclient__deferred */
  uint64_t defer_timer;

  /* brokers: bootstrap entries first (config order), then by node id */
  GPtrArray *brokers;
  uint32_t pick_next; /* round-robin among equals */
  int32_t controller_id;
  char *cluster_id;

  /* topics in creation order (iteration) and by name (lookup) */
  GPtrArray *topic_list;
  GHashTable *topics;

  /* metadata refresh */
  kclient__op *md_op; /* the refresh in flight, or NULL */
  bool md_again;      /* refresh again when it completes */
  uint64_t md_timer;
  uint64_t md_last_ns; /* last refresh started */
  uint64_t md_ok_ns;   /* last successful refresh */

  GQueue ops; /* kclient__op* running */
  GPtrArray *consumers;

  /* Request encode scratch shared by the connections (one connection
   * gathers at a time): the borrowed record batches of the frames in
   * gather_conn->frame, or of the frame being sent. */
  proto_pieces send_pieces;
  /* While send_corked, requests pumped to a connection are gathered in its
   * frame and go to the env in one send at kclient__send_uncork (or when
   * another connection, or a request not gathered, is written). */
  uint32_t send_corked;
  kclient__conn *gather_conn; /* NULL when nothing is gathered */
  kclient__link *gather_link; /* its link when gathering started */

  /* producer */
  /* Finished batches' records kept for the next batches (a pbatch and
   * its callback array: two mallocs and frees per batch saved), chained
   * through their cache_next; at most KCLIENT__PBATCH_CACHE_MAX. */
  kclient__pbatch *pbatch_cache;
  uint32_t pbatch_cached;
  size_t buffered_bytes;
  size_t pending_records;
  uint32_t batches_in_flight;
  GQueue preqs;          /* Produce requests in flight (their contexts) */
  kclient__op *pid_op;   /* InitProducerId in flight, or NULL */
  GArray *flush_waiters; /* kclient__flush_waiter */
  uint32_t flushing;     /* flushes waiting: ignore linger */
  bool drain_wanted;
  bool draining;
  uint64_t producer_timer;
  uint64_t producer_timer_at_ns;
  /* idempotence */
  int64_t producer_id;
  int16_t producer_epoch;
  bool pid_reset; /* a sequence error: re-init once nothing is in flight */
  int pid_err;    /* a non-retriable InitProducerId failure */
};

/* client.c */
void kclient__enter(kclient_t *c);
void kclient__leave(kclient_t *c);
/* Runs fn(arg) at the end of the current event, or on a zero-delay timer
 * when called outside one. arg must live as long as the client, or drop
 * (may be NULL) must free it if the client is freed before fn ran. */
void kclient__defer(kclient_t *c, void (*fn)(void *), void (*drop)(void *),
                    void *arg);
uint64_t kclient__now_ns(kclient_t *c);
/* Backoff for attempt n (1-based): base doubling to max, +-20% jitter. */
uint64_t kclient__backoff_ns(kclient_t *c, uint32_t base_ms, uint32_t max_ms,
                             uint32_t attempt);
void kclient__errmsg(char *out, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
kclient__broker *kclient__broker_find(kclient_t *c, int32_t node_id);
/* Picks a broker for a request to "any broker"; NULL if none is known. */
kclient__broker *kclient__pick_broker(kclient_t *c);
/* True when every broker has failed connect_failures_max connects in a
 * row; fills err / errmsg with the first one's failure. */
bool kclient__all_brokers_failing(kclient_t *c, int *err, char *errmsg);
kclient__topic *kclient__topic_get(kclient_t *c, const char *name);
kclient__topic *kclient__topic_find(kclient_t *c, const char *name);
/* True when metadata says the topic does not exist (see
 * KCLIENT__UNKNOWN_TOPIC_TRIES). */
bool kclient__topic_missing(kclient_t *c, const kclient__topic *t);
/* Leader node of a partition: >= 0, or -1 when unknown. */
int32_t kclient__leader(kclient__topic *t, int32_t partition);
/* Asks for a metadata refresh of the topics in the cache (rate-limited to
 * one per retry_backoff_ms, coalesced). */
void kclient__metadata_refresh(kclient_t *c);
/* Refreshes when the cache is older than metadata_max_age_ms (cheap: call
 * it from periodic work). */
void kclient__metadata_check_age(kclient_t *c);
/* Applies a Metadata response to the cache; wanted = the topics asked for
 * (NULL = all). */
void kclient__metadata_apply(kclient_t *c, const proto_metadata_resp *resp,
                             int16_t version);
/* Builds a Metadata request for names (NULL/-1 = all topics). */
proto_metadata_req *kclient__metadata_req_build(kclient_t *c, int16_t version,
                                                proto_arena *a,
                                                const char *const *names,
                                                int32_t count,
                                                bool auto_create);
/* Called when metadata changed or a connection became ready. */
void kclient__kick(kclient_t *c);
/* Whether an error calls for a metadata refresh. */
bool kclient__err_needs_refresh(int err);

/* Operations: allocate with kclient__op_new, then kclient__op_start. */
kclient__op *kclient__op_new(kclient_t *c, const kclient__op_vt *vt, void *ctx,
                             void *user_cb, void *user_arg);
void kclient__op_start(kclient__op *op);
/* The op's owner is gone: no finish; frees the op at once. */
void kclient__op_cancel(kclient__op *op);
/* Metadata arrived: ops waiting for leaders try again. */
void kclient__ops_metadata_updated(kclient_t *c);

/* conn.c */
kclient__conn *kclient__conn_new(kclient_t *c, kclient__broker *b,
                                 kclient__lane lane);
void kclient__conn_free(kclient__conn *conn);
/* Queues a request (sent once connected and a slot is free). Returns the
 * request (owned by the connection until its outcome ran). The outcome
 * never runs inside this call. */
kclient__req *kclient__conn_submit(kclient__conn *conn, int16_t api_key,
                                   kclient__build_fn build,
                                   kclient__resp_fn on_response, void *ctx,
                                   bool no_response, uint32_t extra_timeout_ms);
/* The owner no longer wants the outcome. */
void kclient__req_cancel(kclient__req *req);
/* Between kclient__send_cork and kclient__send_uncork (nested; never
 * across events) requests pumped to a connection are gathered and handed
 * to the env together at the uncork: one send for the requests of a
 * producer drain. The records they borrow must not change until then. */
void kclient__send_cork(kclient_t *c);
void kclient__send_uncork(kclient_t *c);
/* Starts connecting if down and the backoff allows (else when it does). */
void kclient__conn_ensure(kclient__conn *conn);
/* Requests sent or queued. */
uint32_t kclient__conn_load(const kclient__conn *conn);
/* True when a request submitted now would go out at once. */
bool kclient__conn_can_send(const kclient__conn *conn);
/* Closes with err, failing every request (the broker's address moved, or
 * the client is closing with err 0 = silently). */
void kclient__conn_reset(kclient__conn *conn, int err, const char *why);
const char *kclient__conn_addr(const kclient__conn *conn, char *buf,
                               size_t len);

/* producer.c */
void kclient__producer_free(kclient_t *c);
/* Sends what can be sent (guarded against reentry). */
void kclient__producer_drain(kclient_t *c);
/* Metadata for t changed (partition count, leaders, errors). */
void kclient__producer_topic_updated(kclient_t *c, kclient__topic *t);
void kclient__topic_free_producer(kclient__topic *t);

/* consumer.c */
void kclient__consumers_kick(kclient_t *c);

#endif
