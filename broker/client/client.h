/*
 * client.h — a small Kafka client on the environment (base/env.h).
 *
 * What it is: the client half of Kafka's protocol, enough for Sluice's
 * tools, compute's Kafka source and sink, and the simulator's workloads. It
 * is an event-driven state machine like every other node: it touches time,
 * randomness and the network only through the env_t it was created on, so
 * the same client runs in the `sluice` command (libuv env) and inside the
 * simulator.
 *
 * How it maps onto Kafka's Java client:
 *   bootstrap + Metadata  kclient_new, kclient_metadata: topic -> partitions
 *                         -> leader broker, cached and refreshed on
 *                         NOT_LEADER_OR_FOLLOWER / UNKNOWN_TOPIC_OR_PARTITION
 *                         and friends (Kafka's Metadata class);
 *   connections           one per broker (plus one for fetches, so a long
 *                         poll never delays a produce), ApiVersions first on
 *                         each (v3, falling back as KIP-511 describes), then
 *                         the highest version both sides know per API;
 *                         requests are pipelined up to in_flight_max with
 *                         correlation ids, answered in order (NetworkClient);
 *   producer              kclient_produce: an accumulator of record batches
 *                         per partition (linger_ms, batch_bytes, optional
 *                         compression), drained into one Produce request per
 *                         broker, acks 0/1/-1, retries with backoff, optional
 *                         idempotence (InitProducerId, per-partition
 *                         sequence numbers, <= 5 batches in flight per
 *                         partition, resent in order after a failure)
 *                         (RecordAccumulator, Sender);
 *   consumer              kclient_consumer_*: manual assignment of
 *                         partitions, fetch long polling (max wait, min
 *                         bytes), positions resolved with ListOffsets
 *                         (earliest / latest / by time);
 *   group consumer        kclient_group_*: subscribe as a member of a
 *                         consumer group (ConsumerCoordinator): join,
 *                         range assignment by the leader, heartbeats,
 *                         committed offsets, leave;
 *   admin                 create / delete topics, create partitions,
 *                         describe configs, incremental alter configs.
 *
 * Callbacks: every result is delivered through a callback on the env's
 * thread, never from inside the API call that asked for it (a call made
 * from a callback is fine; its result comes on a later callback). Each
 * callback given to a call runs exactly once, unless the client is freed
 * first (kclient_free runs none). Pointers passed to a callback are valid
 * only during the callback.
 *
 * Errors: an `int err` is 0 on success; > 0 is a Kafka error code a broker
 * returned (broker/kerr.h; kclient_err_name gives Kafka's name); < 0 is a
 * negative errno for what happened on this side:
 *   -ECONNREFUSED, -ECONNRESET, -ETIMEDOUT, -EHOSTUNREACH, ...  network
 *       (-ETIMEDOUT also when a request or an operation ran out of time);
 *   -EPROTO     a broker sent bytes that do not decode, or out of order;
 *   -ENOTSUP    the broker speaks no version of an API this client knows;
 *   -ENOBUFS    the produce buffer is full (kclient_produce only);
 *   -EINVAL     bad arguments (a bad bootstrap list, a record too large);
 *   -ENOENT     a partition that does not exist (kclient_produce).
 * Where a callback also gets `errmsg`, it is a human-readable sentence for
 * the error (naming the broker for network errors, carrying the broker's
 * error_message when it sent one), or "" on success.
 *
 * Limits: every queue is bounded by a named constant or a config field:
 * requests in flight per connection, bytes queued per connection, bytes
 * buffered by the producer, partitions per consumer, brokers known.
 *
 * Ownership: pointers are borrowed for the duration of the call unless
 * stated; strings and bytes passed in are copied.
 *
 * Threading: one thread, the env's (base/env.h).
 */
#ifndef SLUICE_BROKER_CLIENT_CLIENT_H
#define SLUICE_BROKER_CLIENT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/env.h"
#include "broker/log/batch.h"

/* ---- limits ---- */

/* Requests pipelined on one connection (the config may ask for fewer). */
#define KCLIENT_IN_FLIGHT_MAX 32
/* Batches of one partition in flight with idempotence (Kafka's broker
 * remembers the last 5 per producer, so no more can be deduplicated). */
#define KCLIENT_IDEMPOTENT_IN_FLIGHT_MAX 5
/* Bytes the env may hold unsent for one connection before the client stops
 * writing to it (it resumes on the env's on_drain). With in-flight slots
 * this bounds what a slow broker makes the client buffer per connection. */
#define KCLIENT_CONN_SEND_QUEUE_BYTES_MAX ((size_t)4 << 20)
/* Requests waiting on one connection for a free in-flight slot (beyond it
 * a request fails with -ENOBUFS, which callers retry). */
#define KCLIENT_CONN_PENDING_MAX 4096
/* Largest response frame accepted from a broker. */
#define KCLIENT_RESPONSE_BYTES_MAX ((int32_t)256 << 20)
/* Brokers a client keeps track of (bootstrap addresses included). */
#define KCLIENT_BROKERS_MAX 1024
/* Partitions one consumer may be assigned. */
#define KCLIENT_CONSUMER_PARTITIONS_MAX 65536
/* Buffer a human-readable error message fits in. */
#define KCLIENT_ERRMSG_BYTES 256

/* ---- errors ---- */

/* Kafka's name for a code > 0 ("NOT_LEADER_OR_FOLLOWER"), "NONE" for 0, a
 * short description for a negative errno ("connection refused"). Static. */
const char *kclient_err_name(int err);
/* True for errors a retry may cure: network errors, timeouts, and Kafka's
 * retriable codes (LEADER_NOT_AVAILABLE, NOT_LEADER_OR_FOLLOWER,
 * UNKNOWN_TOPIC_OR_PARTITION, REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS, ...). */
bool kclient_err_retriable(int err);

/* ---- the client ---- */

typedef struct kclient kclient_t;

typedef struct kclient_config {
  /* "host:port[,host:port...]" (copied); required. */
  const char *bootstrap_servers;
  /* Sent in every request header; default "sluice". */
  const char *client_id;

  /* One request's wait for its response. */
  uint32_t request_timeout_ms; /* default 30000 */
  /* An operation (metadata, admin, list offsets, InitProducerId) with all
   * its retries. */
  uint32_t op_timeout_ms; /* default 60000 */
  /* Backoff between retries: doubles per attempt up to the max, +-20%. */
  uint32_t retry_backoff_ms;     /* default 100 */
  uint32_t retry_backoff_max_ms; /* default 1000 */
  /* Backoff before reconnecting to a broker: doubles per failure. */
  uint32_t reconnect_backoff_ms;     /* default 50 */
  uint32_t reconnect_backoff_max_ms; /* default 1000 */
  /* An operation waiting for "any broker" fails (with the connect error)
   * once every known broker has failed this many connects in a row: so a
   * tool pointed at a dead address says so at once instead of retrying
   * until op_timeout_ms. */
  uint32_t connect_failures_max; /* default 3 */
  /* Cached metadata older than this is refreshed. */
  uint32_t metadata_max_age_ms; /* default 300000 */
  /* Requests pipelined per connection, 1..KCLIENT_IN_FLIGHT_MAX. */
  uint32_t in_flight_max; /* default 5 */
  /* Ask brokers to create unknown topics (Metadata v4+). */
  bool allow_auto_create_topics; /* default false */

  /* ---- producer ---- */
  /* -1 (all in-sync replicas), 0 (no response) or 1 (leader). */
  int16_t acks; /* default -1 */
  /* How long a batch waits for more records before it is sent. */
  uint32_t linger_ms; /* default 5 */
  /* A batch is sent once its records take this many bytes. */
  uint32_t batch_bytes;    /* default 16384 */
  batch_codec compression; /* default BATCH_CODEC_NONE */
  /* Idempotent producer: needs acks -1 (forced) and limits in-flight
   * batches per partition to KCLIENT_IDEMPOTENT_IN_FLIGHT_MAX. */
  bool idempotence; /* default false */
  /* A record not acknowledged within this long fails with its last error
   * (or -ETIMEDOUT). */
  uint32_t delivery_timeout_ms; /* default 120000 */
  /* Record bytes buffered (queued + in flight) before kclient_produce
   * returns -ENOBUFS. */
  size_t buffer_bytes_max; /* default 32 MiB */
  /* Largest Produce request (several partitions' batches). */
  uint32_t request_bytes_max; /* default 1 MiB */
} kclient_config;

/* Fills cfg with the defaults above (bootstrap_servers NULL). */
void kclient_config_default(kclient_config *cfg);

/* Creates a client on env (borrowed; it must outlive the client). Nothing
 * is sent until the first call needs a broker. Returns 0 and *out, or
 * -EINVAL with a message in errmsg (KCLIENT_ERRMSG_BYTES; may be NULL) for
 * a bad bootstrap list or an out-of-range setting. */
int kclient_new(env_t *env, const kclient_config *cfg, kclient_t **out,
                char *errmsg) __attribute__((warn_unused_result));

/* Closes connections, cancels timers, frees everything. No callback runs
 * (records not yet delivered are dropped: kclient_flush first). Consumers
 * of this client must be freed before. Must not be called from one of the
 * client's own callbacks. NULL is fine. */
void kclient_free(kclient_t *c);

env_t *kclient_env(kclient_t *c);

/* Counters for tools and tests. */
typedef struct kclient_stats {
  uint64_t requests_sent;
  uint64_t sends; /* sends to the env: a drain's requests go out in one */
  uint64_t responses_received;
  uint64_t connects;         /* connections established */
  uint64_t connect_failures; /* connects that failed */
  uint64_t disconnects;      /* established connections that broke */
  uint64_t retries;          /* requests or batches sent again */
  uint64_t metadata_refreshes;
  uint64_t records_queued;     /* accepted by kclient_produce */
  uint64_t records_delivered;  /* acknowledged */
  uint64_t records_failed;     /* delivered with an error */
  uint64_t batches_sent;       /* produce batches put on the wire */
  uint32_t in_flight_max_seen; /* most requests in flight on a connection */
} kclient_stats;
void kclient_get_stats(kclient_t *c, kclient_stats *out);

/* ---- metadata ---- */

typedef struct kclient_broker_info {
  int32_t node_id;
  const char *host;
  int32_t port;
  const char *rack; /* NULL if none */
} kclient_broker_info;

typedef struct kclient_partition_info {
  int32_t partition;
  int err;        /* Kafka code for this partition (0 = fine) */
  int32_t leader; /* -1 if none */
  int32_t leader_epoch;
  const int32_t *replicas;
  int32_t replica_count;
  const int32_t *isr;
  int32_t isr_count;
} kclient_partition_info;

typedef struct kclient_topic_info {
  const char *name;
  int err; /* Kafka code for this topic (3 = unknown) */
  bool is_internal;
  const kclient_partition_info *partitions; /* sorted by partition */
  int32_t partition_count;
} kclient_topic_info;

typedef struct kclient_metadata_info {
  const char *cluster_id; /* NULL if the broker sent none */
  int32_t controller_id;
  const kclient_broker_info *brokers; /* sorted by node id */
  int32_t broker_count;
  const kclient_topic_info *topics; /* sorted by name */
  int32_t topic_count;
} kclient_metadata_info;

typedef void (*kclient_metadata_cb)(void *arg, int err, const char *errmsg,
                                    const kclient_metadata_info *md);

/* Asks a broker for metadata of the named topics (topics NULL: all
 * topics). md is NULL unless err == 0; per-topic errors (unknown topic) are
 * in md. Also refreshes the client's cache. */
void kclient_metadata(kclient_t *c, const char *const *topics,
                      size_t topic_count, kclient_metadata_cb cb, void *arg);

/* ---- producer ---- */

/* kclient_message.partition: let the partitioner choose (murmur2 of the key
 * modulo the partition count as Kafka's default partitioner does; records
 * without a key stick to one random partition per batch). */
#define KCLIENT_PARTITION_ANY (-1)

typedef struct kclient_message {
  const char *topic;
  int32_t partition; /* or KCLIENT_PARTITION_ANY */
  const void *key;   /* NULL with key_len -1 for a null key */
  int32_t key_len;
  const void *value; /* NULL with value_len -1 for a null value */
  int32_t value_len;
  int64_t timestamp_ms; /* CreateTime; -1 = env_wall_ms() now */
  const batch_record_header *headers;
  int32_t header_count;
} kclient_message;

typedef struct kclient_delivery {
  const char *topic;
  int32_t partition;
  int64_t offset; /* -1 with acks 0, or for a DUPLICATE_SEQUENCE_NUMBER */
  int64_t timestamp_ms;
  int err;
  const char *errmsg;
  /* When the outcome became known (env_now_ns of the client's env), read
   * once for all the records of a batch: a caller timing deliveries need
   * not read the clock per record. */
  uint64_t done_ns;
} kclient_delivery;

typedef void (*kclient_delivery_cb)(void *arg, const kclient_delivery *d);

/* Queues one record (copied). Returns 0 (cb, if not NULL, will run exactly
 * once with the outcome), -ENOBUFS when buffer_bytes_max is reached (wait
 * for deliveries, then try again), -EINVAL for a record larger than
 * request_bytes_max or a partition < -1 or a NULL topic, -ENOENT for a
 * partition the topic does not have (once its metadata is known). */
int kclient_produce(kclient_t *c, const kclient_message *m,
                    kclient_delivery_cb cb, void *arg)
    __attribute__((warn_unused_result));

typedef void (*kclient_done_cb)(void *arg, int err, const char *errmsg);

/* Sends every buffered record without waiting for linger and calls cb(arg,
 * 0, "") once no record is buffered or in flight any more (records queued
 * meanwhile included). Delivery errors go to the records' callbacks. */
void kclient_flush(kclient_t *c, kclient_done_cb cb, void *arg);

/* Records accepted and not yet delivered. */
size_t kclient_produce_pending(kclient_t *c);

/* ---- list offsets ---- */

#define KCLIENT_OFFSET_LATEST (-1)   /* the next offset to be written */
#define KCLIENT_OFFSET_EARLIEST (-2) /* the log start offset */

typedef void (*kclient_offset_cb)(void *arg, int err, const char *errmsg,
                                  int64_t offset, int64_t timestamp_ms);

/* Asks the partition's leader for an offset: KCLIENT_OFFSET_EARLIEST,
 * KCLIENT_OFFSET_LATEST, or a timestamp in ms (the first offset whose
 * timestamp is >= it; -1 offset if none). Retries on leader changes. */
void kclient_list_offsets(kclient_t *c, const char *topic, int32_t partition,
                          int64_t timestamp, kclient_offset_cb cb, void *arg);

/* ---- consumer ---- */

typedef struct kclient_consumer kclient_consumer_t;

typedef struct kclient_record {
  const char *topic;
  int32_t partition;
  int64_t offset;
  int64_t timestamp_ms;
  bool log_append_time; /* timestamp type */
  const uint8_t *key;   /* NULL for a null key */
  int32_t key_len;      /* -1 for null */
  const uint8_t *value;
  int32_t value_len;
  const batch_record_header *headers;
  int32_t header_count;
} kclient_record;

typedef struct kclient_consumer_config {
  /* Long polling: a broker answers once min_bytes are there or max_wait_ms
   * passed. */
  uint32_t max_wait_ms;        /* default 500 */
  int32_t min_bytes;           /* default 1 */
  int32_t max_bytes;           /* per fetch response, default 50 MiB */
  int32_t partition_max_bytes; /* default 1 MiB */
  /* 0 read_uncommitted (to the high watermark), 1 read_committed (to the
   * last stable offset; aborted transactions are not filtered out yet). */
  int8_t isolation_level;
  /* Where to go on OFFSET_OUT_OF_RANGE: KCLIENT_OFFSET_EARLIEST,
   * KCLIENT_OFFSET_LATEST, or 0 to report the error and stop the
   * partition. */
  int64_t offset_reset; /* default KCLIENT_OFFSET_EARLIEST */
  /* Every record, in offset order per partition (control records and
   * records below the fetch position are skipped). Required. */
  void (*on_record)(void *arg, const kclient_record *r);
  /* A partition stopped on an error that retrying will not cure (unknown
   * topic after op_timeout_ms, offset out of range without reset,
   * corrupt batch). May be NULL. */
  void (*on_error)(void *arg, const char *topic, int32_t partition, int err,
                   const char *errmsg);
  /* After each fetch response: its round trip, bytes and records. May be
   * NULL. */
  void (*on_fetch)(void *arg, uint64_t rtt_ns, size_t bytes, size_t records);
  void *arg;
} kclient_consumer_config;

void kclient_consumer_config_default(kclient_consumer_config *cfg);

/* A consumer on client c (which must outlive it). */
kclient_consumer_t *kclient_consumer_new(kclient_t *c,
                                         const kclient_consumer_config *cfg);
/* Starts fetching topic/partition from offset (>= 0) or from
 * KCLIENT_OFFSET_EARLIEST / KCLIENT_OFFSET_LATEST. Assigning a partition
 * again moves its position. Returns 0, -EINVAL (bad arguments), or
 * -ENOBUFS beyond KCLIENT_CONSUMER_PARTITIONS_MAX. */
int kclient_consumer_assign(kclient_consumer_t *k, const char *topic,
                            int32_t partition, int64_t offset)
    __attribute__((warn_unused_result));
/* Stops delivering records (also from inside on_record: the records left
 * in the current response are not delivered, positions stay just after the
 * last delivered one) until kclient_consumer_resume. */
void kclient_consumer_pause(kclient_consumer_t *k);
void kclient_consumer_resume(kclient_consumer_t *k);
/* The next offset to deliver, or a negative KCLIENT_OFFSET_* while it is
 * being resolved; -EINVAL as a value if not assigned. */
int64_t kclient_consumer_position(kclient_consumer_t *k, const char *topic,
                                  int32_t partition);
/* The high watermark from the last fetch response, -1 before one. */
int64_t kclient_consumer_high_watermark(kclient_consumer_t *k,
                                        const char *topic, int32_t partition);
/* Stops and frees (no callback runs). Not from inside its callbacks.
 * NULL is fine. */
void kclient_consumer_free(kclient_consumer_t *k);

/* ---- group consumer ----
 *
 * Kafka's KafkaConsumer.subscribe with the classic (eager) rebalance
 * protocol: FindCoordinator, JoinGroup (a first join without a member id
 * gets MEMBER_ID_REQUIRED and joins again with the id it was given), the
 * leader member computes a range assignment (protocol type "consumer",
 * assignor "range", Kafka's ConsumerProtocol subscription and assignment
 * layouts, so these members share a group with Java or librdkafka ones),
 * SyncGroup, Heartbeat every heartbeat_interval_ms. On
 * REBALANCE_IN_PROGRESS the member commits what it consumed (auto_commit),
 * gives its partitions up (on_revoked) and joins again; on
 * ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID it has lost them already and
 * joins again without committing. Positions start at the committed offsets
 * (OffsetFetch), or at auto_offset_reset for partitions with none.
 * Records come through the same fetch machinery as kclient_consumer_*.
 *
 * Delivery is at least once: what is committed is the position after the
 * last record handed to on_record, so a member that crashes between a
 * record and the next commit makes another member read it again.
 */

/* Topics one member may subscribe to. */
#define KCLIENT_GROUP_TOPICS_MAX 1024
/* Members a leader assigns partitions to (the broker's bound is larger;
 * more members fail the leader's rebalance with -ENOBUFS). */
#define KCLIENT_GROUP_MEMBERS_MAX 1000

typedef struct kclient_group kclient_group_t;

typedef struct kclient_topic_partition {
  const char *topic;
  int32_t partition;
} kclient_topic_partition;

typedef struct kclient_group_config {
  /* Required (copied). */
  const char *group_id;
  const char *const *topics; /* 1..KCLIENT_GROUP_TOPICS_MAX names */
  size_t topic_count;
  /* The coordinator expels a member silent for this long (the broker's
   * group.min/max.session.timeout.ms bound it: 6000..1800000). */
  uint32_t session_timeout_ms; /* default 10000 */
  /* How long the coordinator waits for every member to rejoin. */
  uint32_t rebalance_timeout_ms;  /* default 30000 */
  uint32_t heartbeat_interval_ms; /* default 3000 */
  /* Commit positions every auto_commit_interval_ms, before giving
   * partitions up and on kclient_group_close. */
  bool auto_commit;                 /* default true */
  uint32_t auto_commit_interval_ms; /* default 5000 */
  /* Where a partition without a committed offset starts:
   * KCLIENT_OFFSET_EARLIEST or KCLIENT_OFFSET_LATEST. */
  int64_t auto_offset_reset; /* default KCLIENT_OFFSET_EARLIEST */
  /* Fetching: on_record (required), on_error, on_fetch and their arg. */
  kclient_consumer_config consumer;
  /* The member was given these partitions (sorted by topic, partition);
   * records of them follow. May be NULL. */
  void (*on_assigned)(void *arg, const kclient_topic_partition *tps,
                      size_t count);
  /* The member gave these partitions up (rebalance, lost membership,
   * close); no record of them follows. May be NULL. */
  void (*on_revoked)(void *arg, const kclient_topic_partition *tps,
                     size_t count);
  /* The member cannot go on (INVALID_SESSION_TIMEOUT,
   * INCONSISTENT_GROUP_PROTOCOL, GROUP_AUTHORIZATION_FAILED, ...): it
   * stops; free it. May be NULL. */
  void (*on_fatal)(void *arg, int err, const char *errmsg);
  void *arg;
} kclient_group_config;

void kclient_group_config_default(kclient_group_config *cfg);

/* Creates a group member on client c (which must outlive it and should
 * not be shared with another group member: a JoinGroup long poll holds
 * the coordinator's connection; free the member before the client) and
 * starts joining. Returns 0 and *out,
 * or -EINVAL with errmsg (KCLIENT_ERRMSG_BYTES, may be NULL) for a bad
 * config. */
int kclient_group_new(kclient_t *c, const kclient_group_config *cfg,
                      kclient_group_t **out, char *errmsg)
    __attribute__((warn_unused_result));

/* Commits the position of every assigned partition (the offset after the
 * last record delivered) with the current generation. cb(arg, err, msg)
 * runs once: 0, a Kafka code (the first partition error, or
 * REBALANCE_IN_PROGRESS / ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID when the
 * member is between generations), or a negative errno. Nothing to commit
 * is success. cb may be NULL. */
void kclient_group_commit(kclient_group_t *g, kclient_done_cb cb, void *arg);

/* Leaves the group the way Kafka's close does: stops fetching, commits
 * (auto_commit), on_revoked, LeaveGroup (so the others rebalance at once,
 * not after the session timeout). cb runs once when done (err is the
 * commit's or the leave's failure; the member is closed either way). Then
 * kclient_group_free it. At most once per member. */
void kclient_group_close(kclient_group_t *g, kclient_done_cb cb, void *arg);

/* Frees without leaving (no callback runs): to the coordinator this is a
 * crashed member, expelled after session_timeout_ms. Not from inside the
 * member's own callbacks. NULL is fine. */
void kclient_group_free(kclient_group_t *g);

/* Stops delivering records (also from inside on_record: the rest of the
 * current response is not delivered and positions stay after the last
 * record delivered, so a commit covers exactly what on_record saw) until
 * kclient_group_resume; the member keeps heartbeating. */
void kclient_group_pause(kclient_group_t *g);
void kclient_group_resume(kclient_group_t *g);

/* True once the member holds an assignment of the current generation with
 * its positions known (between rebalances). */
bool kclient_group_is_stable(const kclient_group_t *g);
int32_t kclient_group_generation(const kclient_group_t *g);    /* -1 before */
const char *kclient_group_member_id(const kclient_group_t *g); /* "" before */
/* The current assignment (borrowed until the next rebalance), sorted. */
size_t kclient_group_assignment(const kclient_group_t *g,
                                const kclient_topic_partition **out);
/* Rebalances this member took part in (successful SyncGroups). */
uint64_t kclient_group_rebalances(const kclient_group_t *g);

/* ConsumerProtocol byte layouts (Kafka's ConsumerProtocolSubscription and
 * ConsumerProtocolAssignment, any version: fields after the ones below are
 * skipped). Decoders validate the bytes; they return 0 or -EPROTO. Decoded
 * strings are g_strdup'ed into *topics [owned, g_strfreev]. */
int kclient_subscription_decode(const uint8_t *p, size_t len, char ***topics)
    __attribute__((warn_unused_result));
/* One decoded assignment: parallel arrays [owned, kclient_assignment_free]. */
typedef struct kclient_assignment {
  kclient_topic_partition *tps; /* topic strings owned by the struct */
  size_t count;
} kclient_assignment;
int kclient_assignment_decode(const uint8_t *p, size_t len,
                              kclient_assignment *out)
    __attribute__((warn_unused_result));
void kclient_assignment_free(kclient_assignment *a);

/* ---- group admin (kafka-consumer-groups.sh's questions) ---- */

typedef struct kclient_group_listing {
  const char *group_id;
  const char *protocol_type; /* "consumer" for consumer groups */
  const char *state;         /* "" when the broker's version has none */
} kclient_group_listing;

typedef void (*kclient_group_list_cb)(void *arg, int err, const char *errmsg,
                                      const kclient_group_listing *groups,
                                      size_t count);

/* ListGroups at one broker (node_id from kclient_metadata): the groups it
 * coordinates, sorted by id. A cluster's groups are the union over its
 * brokers. */
void kclient_list_groups(kclient_t *c, int32_t node_id,
                         kclient_group_list_cb cb, void *arg);

typedef struct kclient_group_member_info {
  const char *member_id;
  const char *client_id;
  const char *client_host;
  /* Decoded when the group's protocol type is "consumer" (else empty). */
  const kclient_topic_partition *assignment; /* sorted */
  size_t assignment_count;
} kclient_group_member_info;

typedef struct kclient_group_description {
  const char *group_id;
  const char *state; /* Empty, PreparingRebalance, ..., Stable, Dead */
  const char *protocol_type;
  const char *protocol; /* the assignor, "" between generations */
  const kclient_group_member_info *members; /* sorted by member id */
  size_t member_count;
} kclient_group_description;

typedef void (*kclient_group_describe_cb)(
    void *arg, int err, const char *errmsg,
    const kclient_group_description *group);

/* FindCoordinator, then DescribeGroups there. err is the group's error
 * (a group the coordinator does not know is state "Dead", err 0). */
void kclient_describe_group(kclient_t *c, const char *group_id,
                            kclient_group_describe_cb cb, void *arg);

typedef struct kclient_committed_offset {
  const char *topic;
  int32_t partition;
  int64_t offset; /* the next offset to read */
  const char *metadata;
} kclient_committed_offset;

typedef void (*kclient_committed_cb)(void *arg, int err, const char *errmsg,
                                     const kclient_committed_offset *offsets,
                                     size_t count);

/* FindCoordinator, then OffsetFetch of every committed offset of the group
 * (sorted by topic, partition). */
void kclient_committed_offsets(kclient_t *c, const char *group_id,
                               kclient_committed_cb cb, void *arg);

/* ---- admin ---- */

typedef struct kclient_config_entry {
  const char *name;
  const char *value; /* NULL = null */
} kclient_config_entry;

typedef struct kclient_new_topic {
  const char *name;
  int32_t partitions;         /* -1 = the broker's num.partitions */
  int16_t replication_factor; /* -1 = the broker's default */
  const kclient_config_entry *configs;
  size_t config_count;
} kclient_new_topic;

typedef struct kclient_topic_result {
  const char *name;
  int err;
  const char *errmsg;
} kclient_topic_result;

/* err != 0 when the request as a whole failed (results NULL); otherwise
 * each topic has its own result, in the order asked. */
typedef void (*kclient_topics_cb)(void *arg, int err, const char *errmsg,
                                  const kclient_topic_result *results,
                                  size_t count);

void kclient_create_topics(kclient_t *c, const kclient_new_topic *topics,
                           size_t count, bool validate_only,
                           kclient_topics_cb cb, void *arg);
void kclient_delete_topics(kclient_t *c, const char *const *names, size_t count,
                           kclient_topics_cb cb, void *arg);
/* Grows a topic to total_partitions partitions. */
void kclient_create_partitions(kclient_t *c, const char *topic,
                               int32_t total_partitions, kclient_topics_cb cb,
                               void *arg);

/* Kafka's config resource types. */
enum {
  KCLIENT_RESOURCE_TOPIC = 2,
  KCLIENT_RESOURCE_BROKER = 4,
};

typedef struct kclient_config_value {
  const char *name;
  const char *value; /* NULL for null (or a sensitive value) */
  bool read_only;
  bool is_default; /* the value comes from a default, not an override */
  bool is_sensitive;
  int8_t source; /* Kafka's ConfigSource (1 topic, 4 static broker, 5
                    default, ...); -1 when the version has none */
} kclient_config_value;

typedef void (*kclient_configs_cb)(void *arg, int err, const char *errmsg,
                                   const kclient_config_value *entries,
                                   size_t count);

/* The configs of one resource, sorted by name. A broker resource is asked
 * of that broker (name = its node id); a topic of any broker. */
void kclient_describe_configs(kclient_t *c, int8_t resource_type,
                              const char *name, kclient_configs_cb cb,
                              void *arg);

typedef enum kclient_alter_op {
  KCLIENT_ALTER_SET = 0,
  KCLIENT_ALTER_DELETE = 1,
  KCLIENT_ALTER_APPEND = 2,
  KCLIENT_ALTER_SUBTRACT = 3,
} kclient_alter_op;

typedef struct kclient_config_alter {
  const char *name;
  kclient_alter_op op;
  const char *value; /* NULL for DELETE */
} kclient_config_alter;

/* IncrementalAlterConfigs on one resource. */
void kclient_alter_configs(kclient_t *c, int8_t resource_type, const char *name,
                           const kclient_config_alter *alters, size_t count,
                           bool validate_only, kclient_done_cb cb, void *arg);

/* ---- helpers ---- */

/* Kafka's murmur2 (the default partitioner's hash), as a non-negative
 * value: toPositive(murmur2(key)). */
uint32_t kclient_murmur2_positive(const void *key, size_t len);

/* Parses "host:port" ([v6]:port too) into host (NUL-terminated, host_bytes
 * room) and *port. 0 or -EINVAL. */
int kclient_parse_hostport(const char *s, size_t len, char *host,
                           size_t host_bytes, uint16_t *port)
    __attribute__((warn_unused_result));

#endif
