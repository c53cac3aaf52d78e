/*
 * broker_internal.h — the broker node's private types, shared by the files
 * of broker/server/ (symbols broker__*).
 *
 * Map of the module:
 *   config.c      server.properties -> broker_config; the topic config table
 *   node.c        start/stop/shutdown, background timers, checkpoints
 *   afile.c       atomic small-file writer (.tmp, fsync, rename, dir fsync)
 *   topics.c      topics and partitions: the metadata file, create, delete,
 *                 add partitions, alter configs, log placement over log dirs
 *   producers.c   idempotent producer state per partition: sequence checks,
 *                 dedup window, snapshots, rebuild from the log
 *   conn.c        connections: framing, in-order processing, back pressure,
 *                 async requests, the dispatch table
 *   api_*.c       one handler per API
 *
 * Request path: bytes -> rxbuf (read in place) -> one frame at a time ->
 * proto_request_decode -> the dispatch table entry for the API key ->
 * handler. A handler either answers at once (broker__respond) or parks the
 * request (fetch long poll, a metadata write that must be durable first)
 * and answers later; while a request is parked its connection processes
 * nothing else, so responses leave in request order, as in Kafka.
 */
#ifndef SLUICE_BROKER_SERVER_BROKER_INTERNAL_H
#define SLUICE_BROKER_SERVER_BROKER_INTERNAL_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/buf.h"
#include "base/env.h"
#include "broker/kerr.h"
#include "broker/log/log.h"
#include "broker/proto/proto.h"
#include "broker/server/broker.h"

/* ------------------------------------------------------------------ limits */

/* A connection stops processing requests (and, once its unprocessed input
 * passes BROKER_CONN_INPUT_BYTES_MAX, stops reading) while more response
 * bytes than this wait in its send queue: a slow reader cannot make the
 * broker buffer more than this plus one response. */
#define BROKER_CONN_QUEUED_BYTES_MAX ((size_t)4 << 20)
/* Unprocessed input a stalled connection may hold before reading pauses. */
#define BROKER_CONN_INPUT_BYTES_MAX ((size_t)1 << 20)
/* Bytes one request's decoded form (and its response structs) may use. */
#define BROKER_REQUEST_ARENA_BYTES_MAX ((size_t)256 << 20)
/* A fetch response never carries more record bytes than this (plus the
 * first batch, KIP-74), whatever the client asks. */
#define BROKER_FETCH_RESPONSE_BYTES_MAX ((size_t)16 << 20)
/* Longest fetch long poll (max_wait_ms is clamped to it). */
#define BROKER_FETCH_WAIT_MS_MAX 300000
/* Batches remembered per producer and partition (Kafka's 5). */
#define BROKER_PRODUCER_BATCHES_KEPT 5
/* Producers remembered per partition; past it the least recently active is
 * forgotten (its retries then see no duplicate, as after expiration). */
#define BROKER_PRODUCERS_PER_PARTITION_MAX 20000
/* Producer ids reserved per durable metadata write. */
#define BROKER_PRODUCER_ID_BLOCK 1000
/* InitProducerId requests waiting for a producer-id block. */
#define BROKER_PID_WAITERS_MAX 4096
/* Largest metadata / meta.properties / snapshot file read at start. */
#define BROKER_SMALL_FILE_BYTES_MAX ((size_t)64 << 20)
/* Producer snapshots kept per partition. */
#define BROKER_SNAPSHOTS_KEPT 2
/* Bytes read per step when rebuilding producer state from a log. */
#define BROKER_SCAN_READ_BYTES ((size_t)4 << 20)
/* Config entries per topic (the known topic configs are fewer). */
#define BROKER_TOPIC_CONFIGS_MAX 64
/* Per-partition entries one request may name (bounds the work of one
 * request; the frame size bounds it too). */
#define BROKER_REQUEST_PARTITIONS_MAX 100000

/* Kafka's ConfigResource types and ConfigSource / ConfigType codes. */
enum {
  BROKER__RESOURCE_TOPIC = 2,
  BROKER__RESOURCE_BROKER = 4,
  BROKER__SOURCE_TOPIC = 1,
  BROKER__SOURCE_STATIC_BROKER = 4,
  BROKER__SOURCE_DEFAULT = 5,
  BROKER__CTYPE_BOOLEAN = 1,
  BROKER__CTYPE_STRING = 2,
  BROKER__CTYPE_INT = 3,
  BROKER__CTYPE_LONG = 5,
  BROKER__CTYPE_LIST = 7,
};

typedef struct broker__conn broker__conn;
typedef struct broker__req broker__req;
typedef struct broker__topic broker__topic;
typedef struct broker__partition broker__partition;
typedef struct broker__fetch broker__fetch;
typedef struct broker__afile broker__afile;

/* ------------------------------------------------------------ afile.c */

/* Writes a small file atomically: `<path>.tmp`, fsync, rename over path,
 * fsync of the directory; then cb(arg, status). Writes to one path are
 * serialised; contents queued while one is in flight coalesce (the newest
 * wins) and every waiter is called once content at least as new as its own
 * is durable (or failed). Freeing while work is in flight is only allowed
 * when the env is dead or will never run callbacks again. */
broker__afile *broker__afile_new(env_t *env, const char *dir,
                                 const char *name);
void broker__afile_write(broker__afile *f, const void *data, size_t len,
                         broker_done_cb cb, void *arg);
bool broker__afile_idle(const broker__afile *f);
void broker__afile_free(broker__afile *f);

/* Reads a whole small file into *text [owned, g_free, NUL-terminated].
 * -ENOENT if missing, -EFBIG past max_bytes, other env errors. */
int broker__read_file(env_t *env, const char *path, size_t max_bytes,
                      char **text, size_t *len);

/* --------------------------------------------------------- config.c */

/* One topic-level config Kafka knows, with the broker default's name. */
typedef struct broker__topic_config_def {
  const char *name;        /* "retention.ms" */
  const char *broker_name; /* "log.retention.ms" */
  int8_t type;             /* BROKER__CTYPE_* */
} broker__topic_config_def;

/* A topic's effective settings: the log's config plus what the broker
 * itself enforces. */
typedef struct broker__topic_settings {
  log_config log;
  int32_t max_message_bytes;   /* max.message.bytes */
  int32_t min_insync_replicas; /* min.insync.replicas */
} broker__topic_settings;

/* The known topic configs, sorted by name. */
const broker__topic_config_def *broker__topic_configs(size_t *count);
const broker__topic_config_def *broker__topic_config_find(const char *name);
/* The broker-wide defaults (from broker_config). */
void broker__topic_settings_default(const broker_config *cfg,
                                    broker__topic_settings *s);
/* Checks value for the named topic config and applies it to *s.
 * Returns 0, or KERR_INVALID_CONFIG with a message in err. */
int broker__topic_config_apply(broker__topic_settings *s, const char *name,
                               const char *value, char *err, size_t err_len);
/* The effective value of a topic config as Kafka prints it, into out. */
void broker__topic_config_value(const broker__topic_settings *s,
                                const char *name, char *out, size_t out_len);

/* Frees produce requests still waiting for a flush (broker teardown:
 * their logs are freed without calling back). */
void broker__produce_waits_free(broker_t *b);

/* --------------------------------------------------------- topics.c */

typedef enum broker__topic_state {
  BROKER__TOPIC_CREATING, /* metadata write in flight: not yet visible */
  BROKER__TOPIC_LIVE,
  BROKER__TOPIC_DELETING, /* removed from the metadata; logs closing */
} broker__topic_state;

/* One producer's window of recent batches on one partition. */
typedef struct broker__producer_batch {
  int32_t first_seq;
  int32_t last_seq;
  int64_t first_offset;
  int64_t last_offset;
} broker__producer_batch;

typedef struct broker__producer {
  int64_t producer_id;
  int16_t epoch;
  uint8_t batch_count; /* 0..BROKER_PRODUCER_BATCHES_KEPT, newest last */
  broker__producer_batch batches[BROKER_PRODUCER_BATCHES_KEPT];
  int64_t last_timestamp_ms; /* max timestamp of the newest batch */
  int64_t last_active_ms;    /* wall time of the last append (expiration) */
} broker__producer;

struct broker__partition {
  broker__topic *topic;
  int32_t index;
  size_t dir_index; /* which log dir */
  char *path;       /* [owned] "<logdir>/<topic>-<index>" */
  log_t *log;       /* NULL while closing, or if it failed to open */
  int32_t leader_epoch;
  bool closing;        /* log_close in flight */
  log_t *closing_log;  /* the log being closed (freed by a crash-stop) */
  bool reopen_pending; /* reopen (new config) once closed */
  /* Offsets for the checkpoints and the next open while log is NULL. */
  int64_t ckpt_recovery;
  int64_t ckpt_start;
  int64_t closing_end_offset;
  GHashTable *producers; /* int64 pid -> broker__producer* [owned] */
  int64_t snapshot_offset; /* newest snapshot taken (-1 none) */
  GPtrArray *watchers;     /* parked fetches reading this partition */
};

struct broker__topic {
  broker_t *b;
  char *name; /* [owned] */
  proto_uuid id;
  broker__topic_state state;
  GPtrArray *partitions; /* broker__partition* [owned], index order */
  int32_t partitions_live; /* partitions visible to clients (<= len) */
  GTree *overrides;        /* config name -> value, both [owned], sorted */
  broker__topic_settings settings; /* broker defaults + overrides */
  int pending_ops; /* metadata writes in flight for this topic */
};

/* Loads the metadata file and opens every log (start). Returns 0 or a
 * negative errno (logged). */
int broker__topics_load(broker_t *b);
/* Frees every topic and partition (logs freed without flushing). */
void broker__topics_free(broker_t *b);
/* Starts closing (flush, then free) every open log (shutdown). */
void broker__partitions_close_all(broker_t *b);

/* The live topic named name (NULL if absent or not live). */
broker__topic *broker__topic_find(broker_t *b, const char *name);
/* Any topic with this name, whatever its state. */
broker__topic *broker__topic_find_any(broker_t *b, const char *name);
broker__topic *broker__topic_find_id(broker_t *b, const proto_uuid *id);
/* The live partition, or NULL (with *err the Kafka error: unknown topic or
 * partition, or NOT_LEADER_OR_FOLLOWER while its log reopens). */
broker__partition *broker__partition_find(broker_t *b, const char *topic,
                                          int32_t index, int *err);
/* Live topics sorted by name, as a new array (free with g_ptr_array_unref;
 * the topics stay owned by the broker). */
GPtrArray *broker__topics_sorted(broker_t *b);

/* Kafka's topic name rule: 1..249 of [a-zA-Z0-9._-], not "." or "..". */
bool broker__topic_name_valid(const char *name, size_t len);

/* Creates a topic. configs: name/value pairs (n of them) already checked
 * by the caller. The topic is invisible until its metadata is durable;
 * then its logs are opened and cb(arg, status) runs. Returns KERR_NONE and
 * the topic, or TOPIC_ALREADY_EXISTS / an error without calling cb. */
int broker__topic_create(broker_t *b, const char *name, int32_t partitions,
                         const char *const *config_names,
                         const char *const *config_values, size_t n,
                         broker_done_cb cb, void *arg);
/* Deletes a live topic: it disappears at once; cb(arg, status) when the
 * metadata without it is durable; its logs are closed and removed after. */
int broker__topic_delete(broker_t *b, broker__topic *t, broker_done_cb cb,
                         void *arg);
/* Grows a live topic to count partitions (cb as for create). */
int broker__topic_add_partitions(broker_t *b, broker__topic *t, int32_t count,
                                 broker_done_cb cb, void *arg);
/* Replaces the topic's overrides with `overrides` (name -> value, copied;
 * already validated), persists, then reopens its logs with the new config;
 * cb(arg, status) once the metadata is durable. */
int broker__topic_set_overrides(broker_t *b, broker__topic *t,
                                GTree *overrides, broker_done_cb cb,
                                void *arg);
/* Computes a topic's effective config from the broker defaults and the
 * given overrides (validated). */
int broker__topic_config_compute(broker_t *b, GTree *overrides,
                                 broker__topic_settings *s, char *err,
                                 size_t err_len);

/* Persists the metadata (topics, producer-id block); cb when durable. */
void broker__metadata_write(broker_t *b, broker_done_cb cb, void *arg);

/* ------------------------------------------------------ producers.c */

/* Outcome of checking a produce batch against the producer state. */
typedef struct broker__seq_check {
  int error;           /* KERR_NONE, OUT_OF_ORDER_SEQUENCE_NUMBER,
                          INVALID_PRODUCER_EPOCH */
  bool duplicate;      /* already appended: answer with first_offset */
  int64_t first_offset;
  int64_t last_offset; /* of the earlier append (duplicates only) */
} broker__seq_check;

/* Checks the batch's (producer id, epoch, sequences) against the state
 * (KAFKA-NOTES §9). Does not change the state. */
void broker__producer_check(broker__partition *p, const uint8_t *batch,
                            broker__seq_check *out);
/* Records an appended batch (base offset assigned by the log). */
void broker__producer_record(broker_t *b, broker__partition *p,
                             const uint8_t *batch, int64_t base_offset,
                             int64_t last_offset);
/* Rebuilds p's producer state from its newest usable snapshot and the log
 * after it (start). Returns 0 or a negative errno / KERR. */
int broker__producers_load(broker_t *b, broker__partition *p);
/* Writes a snapshot at the log end offset if it moved since the last one
 * and returns true; cb(arg, status) when durable. Returns false (and never
 * calls cb) when there is nothing to write. */
bool broker__producers_snapshot(broker_t *b, broker__partition *p,
                                broker_done_cb cb, void *arg);
/* Forgets producers idle for longer than producer.id.expiration.ms. */
void broker__producers_expire(broker_t *b, broker__partition *p,
                              int64_t now_ms);
void broker__producers_free(broker__partition *p);

/* ------------------------------------------------------------ conn.c */

/* One request being handled. Owned by its connection; a parked request
 * outlives a closed connection (conn becomes NULL) until it completes. */
struct broker__req {
  broker_t *b;
  broker__conn *conn; /* NULL once the connection closed */
  proto_request_header header;
  void *body;              /* decoded request (in arena) */
  proto_arena *arena;      /* the decoded request (bounded) */
  proto_arena *resp_arena; /* response structs (unbounded: responses are
                              bounded by the request and our own limits) */
  bool owns_arena;         /* arenas moved here when the connection closed */
  bool parked;             /* answered later (set by conn.c) */
  /* A parked request: called when its connection closes, to cancel
   * (unpark, free handler state). NULL = let it finish and drop. */
  void (*cancel)(broker__req *req);
  void *state; /* handler state while parked */
};

typedef enum broker__handled {
  BROKER__DONE,    /* answered (or no answer due, acks=0) */
  BROKER__PARKED,  /* will answer later with broker__respond */
  BROKER__CLOSE,   /* close the connection (Kafka's answer to some errors) */
} broker__handled;

typedef broker__handled (*broker__handler_fn)(broker__req *req);

/* One row of the dispatch table: what ApiVersions advertises and who
 * handles it. Group, transaction and replication APIs slot in here. */
typedef struct broker__api {
  int16_t api_key;
  int16_t min_version;
  int16_t max_version;
  broker__handler_fn handler;
} broker__api;

const broker__api *broker__api_table(size_t *count);

/* The request appended to `log`: the log gathers appends in memory
 * (log_write_out), so before any answer of this connection leaves — at the
 * latest at the end of the read pass — the connection writes the log out
 * (an acks=1 answer means the batch is in the page cache). If that fails,
 * the connection is closed instead of answering. */
void broker__req_appended(broker__req *req, log_t *log);

/* Sends the response body (a struct of the API's response type) for req,
 * then frees req (if parked) and lets its connection go on. A response
 * that cannot be encoded closes the connection. */
void broker__respond(broker__req *req, const void *body);

/* Bytes of a response that also lie in a file: a fetch's records, which
 * are a view of a segment (log_read_view). */
typedef struct broker__file_bytes {
  const uint8_t *data; /* the view (borrowed) */
  size_t len;
  env_file_t *file; /* borrowed */
  uint64_t position; /* of data[0] in file */
} broker__file_bytes;

/* broker__respond, where the n entries of `files` (borrowed for the call)
 * say where some of the body's bytes lie in files: the parts of the frame
 * that are sent from those bytes in place (not copied into the encoded
 * frame) are sent from the files (env_conn_sendv_files, sendfile on uv). */
void broker__respond_files(broker__req *req, const void *body,
                           const broker__file_bytes *files, size_t n);
/* For a parked request: no answer after all (closes nothing); frees req
 * and lets the connection go on. Parked requests are only ever completed
 * from env callbacks (timers, fsyncs), never from inside another
 * request's handler. */
void broker__finish_silent(broker__req *req);
/* Closes the request's connection (a protocol error found while parked). */
void broker__req_close_conn(broker__req *req);

/* Frees a parked request that will never be answered (crash-stop). */
void broker__req_discard(broker__req *req);
/* The client's address ("127.0.0.1:53122"), NULL once its connection
 * closed. */
const char *broker__req_peer(broker__req *req);

/* Accept callback for the listener. */
void broker__on_accept(void *arg, env_conn_t *conn);
/* Closes every connection (shutdown). */
void broker__conns_close_all(broker_t *b);

/* ---------------------------------------------------------- api_fetch.c */

/* A partition got new data: parked fetches watching it may complete. */
void broker__fetch_notify(broker__partition *p, size_t bytes);
/* A partition goes away or stops serving: wake and detach its watchers. */
void broker__fetch_partition_gone(broker__partition *p);

/* ------------------------------------------------------------ handlers */

broker__handled broker__api_versions(broker__req *req);
broker__handled broker__api_metadata(broker__req *req);
broker__handled broker__api_produce(broker__req *req);
broker__handled broker__api_fetch(broker__req *req);
broker__handled broker__api_list_offsets(broker__req *req);
broker__handled broker__api_create_topics(broker__req *req);
broker__handled broker__api_delete_topics(broker__req *req);
broker__handled broker__api_create_partitions(broker__req *req);
broker__handled broker__api_describe_configs(broker__req *req);
broker__handled broker__api_incremental_alter_configs(broker__req *req);
broker__handled broker__api_delete_records(broker__req *req);
broker__handled broker__api_describe_cluster(broker__req *req);
broker__handled broker__api_offset_for_leader_epoch(broker__req *req);
broker__handled broker__api_init_producer_id(broker__req *req);
broker__handled broker__api_find_coordinator(broker__req *req);
broker__handled broker__api_join_group(broker__req *req);
broker__handled broker__api_sync_group(broker__req *req);
broker__handled broker__api_heartbeat(broker__req *req);
broker__handled broker__api_leave_group(broker__req *req);
broker__handled broker__api_offset_commit(broker__req *req);
broker__handled broker__api_offset_fetch(broker__req *req);
broker__handled broker__api_list_groups(broker__req *req);
broker__handled broker__api_describe_groups(broker__req *req);
broker__handled broker__api_delete_groups(broker__req *req);
broker__handled broker__api_offset_delete(broker__req *req);

/* ---------------------------------------------------------- api_group.c */

/* The internal topic holding committed offsets and group metadata. */
#define BROKER_OFFSETS_TOPIC "__consumer_offsets"

/* Creates the group coordinator (b->groups) and loads it from
 * __consumer_offsets if the topic exists (start). */
void broker__groups_start(broker_t *b);
/* True when __consumer_offsets exists. Otherwise starts creating it (as
 * Kafka does on the first FindCoordinator for a group) and returns false:
 * the caller answers COORDINATOR_NOT_AVAILABLE and the client retries. */
bool broker__groups_ready(broker_t *b);

/* -------------------------------------------------------------- node.c */

/* A pending InitProducerId waiting for a producer-id block. */
typedef struct broker__pid_waiter {
  broker__req *req;
} broker__pid_waiter;

struct broker {
  env_t *env;
  const broker_config *cfg;
  char *cluster_id;      /* [owned] */
  char *advertised_host; /* [owned] */
  uint16_t advertised_port;
  env_listener_t *listener;
  uint16_t port;

  GHashTable *topics; /* name -> broker__topic* [owned] */
  size_t partition_count; /* partitions of every topic (<= BROKER_PARTITIONS_MAX) */
  GHashTable *conns;  /* broker__conn* set [owned] */
  uint64_t conn_seq;

  broker__afile *metadata_file; /* in log_dirs[0] */
  int64_t metadata_version;     /* bumps on every change */
  /* Producer ids: [pid_next, pid_reserved_end) may be handed out; the
   * metadata file holds pid_block_end (>= pid_reserved_end) durably. */
  int64_t pid_next;
  int64_t pid_reserved_end;
  int64_t pid_block_end;
  bool pid_write_running;
  GQueue pid_waiters; /* broker__req* */
  /* Produce requests waiting for their flush (api_produce.c). */
  GQueue produce_waits; /* broker__produce_wait* */

  log_checkpoint_t *recovery_ckpt[BROKER_LOG_DIRS_MAX];
  log_checkpoint_t *start_ckpt[BROKER_LOG_DIRS_MAX];
  /* Offsets read from the checkpoints at start: "topic-partition" ->
   * int64 (g_free'd keys, values boxed). */
  GHashTable *boot_recovery;
  GHashTable *boot_start;

  uint64_t timer_retention;
  uint64_t timer_checkpoint;
  uint64_t timer_cleaner;

  GPtrArray *oneshot_files; /* broker__afile* one-shot writes in flight */
  /* Small records of async work (waits on files, topic ops): freed by
   * their callbacks, or all at once by broker_free after a crash-stop
   * when those callbacks will never run. */
  GHashTable *op_allocs;
  GHashTable *parked; /* broker__req* parked (answered later) */
  group_coord *groups; /* the group coordinator [owned] */
  bool offsets_topic_creating; /* __consumer_offsets being created */

  buf_t out;          /* response frame being encoded */
  buf_t batch_copy;   /* a produce batch, copied for log_append */
  buf_t scratch;      /* batch validation */

  /* Shutdown. */
  bool shutting_down;
  broker_done_cb shutdown_cb;
  void *shutdown_arg;
  int shutdown_status;
  int shutdown_phase;
  uint64_t shutdown_kick;
  /* Async work in flight (topic opens/closes, metadata writes): shutdown
   * waits for it. */
  int ops_in_flight;
};

/* Bookkeeping for async work that shutdown must wait for. */
void broker__op_begin(broker_t *b);
void broker__op_end(broker_t *b);
/* size zeroed bytes that broker_free releases if broker__op_release never
 * does (a crash-stop drops pending callbacks). */
void *broker__op_alloc(broker_t *b, size_t size);
void broker__op_release(broker_t *b, void *p);

/* Writes the recovery-point and log-start-offset checkpoints of every log
 * dir; cb once all are durable (cb may be NULL). */
void broker__checkpoints_write(broker_t *b, broker_done_cb cb, void *arg);

/* Allocation in a request's response arena (never fails: unbounded). */
#define BROKER__NEW(req, T) ((T *)broker__new((req), &T##_desc))
#define BROKER__NEW_ARRAY(req, T, n)                                           \
  ((T *)broker__new_array((req), &T##_desc, (n)))
void *broker__new(broker__req *req, const proto_struct *s);
void *broker__new_array(broker__req *req, const proto_struct *s, int32_t n);
/* size bytes, zeroed, in the response arena. */
void *broker__alloc(broker__req *req, size_t size);
/* An int32 array holding the one value v. */
proto_int32_array broker__i32_one(broker__req *req, int32_t v);
/* A copy of a C string in the response arena, as a proto_str (NULL gives
 * the null string). */
proto_str broker__str(broker__req *req, const char *s);

/* True when s is non-null and holds no NUL byte, so s.data (decoded
 * strings are NUL-terminated) is the same string as a C string. */
static inline bool broker__str_clean(proto_str s) {
  return s.len >= 0 && strlen(s.data) == (size_t)s.len;
}

/* The wall clock, in ms. */
static inline int64_t broker__now_ms(broker_t *b) {
  return env_wall_ms(b->env);
}

#endif
