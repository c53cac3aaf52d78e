/*
 * broker.h — a Kafka broker node: connections, request dispatch, topics and
 * partitions over log dirs, the idempotent producer's state.
 *
 * Kafka concept (KAFKA-NOTES.md §1-§5, §9): a broker accepts TCP
 * connections, reads size-prefixed request frames, handles them one at a
 * time per connection in arrival order (clients pipeline; responses come
 * back in request order), and keeps one partition log per partition in a
 * directory `<topic>-<partition>` under one of its `log.dirs`. This node is
 * the single-node form: it leads every partition, replicas and ISR are
 * [node.id], the high watermark is the log end offset. It is also the
 * group coordinator of every group (broker/group/, wired in api_group.c;
 * committed offsets live in the internal topic __consumer_offsets).
 * Replication and transactions slot into the same request path later (the
 * dispatch table in conn.c, the partition's leader state in
 * broker_internal.h).
 *
 * The node is written only against base/env.h: it runs on the libuv env
 * (tools/sluice-broker) and in the simulator alike. Its lifecycle follows
 * env_node_ops: broker_node_ops.start(env, broker_config *) boots from
 * what is on disk (metadata file, logs, checkpoints, producer snapshots)
 * and listens; broker_node_ops.stop frees everything at once. A clean
 * shutdown (flush every log, write checkpoints and producer snapshots) is
 * asynchronous: call broker_shutdown and wait for its callback before
 * stop. stop without a completed shutdown behaves like a crash (what was
 * not fsynced may be lost), which is what the simulator's crash does.
 *
 * What is on disk, per log dir (Kafka's names where Kafka has the file):
 *   meta.properties                     version, node.id, cluster.id
 *   sluice-topics                       topics, ids, partition counts,
 *                                       config overrides, producer-id block
 *                                       (first log dir only; written to
 *                                       .tmp, fsynced, renamed, dir fsynced)
 *   recovery-point-offset-checkpoint    flushed-up-to offset per partition
 *   log-start-offset-checkpoint         log start offset per partition
 *   <topic>-<partition>/                the partition log (broker/log/log.h)
 *     <20-digit offset>.snapshot        producer state at that offset
 *
 * Errors: broker_config_load returns 0 or a BROKER_ERR_* with a message;
 * start returns NULL (logged through env_log) when the node cannot boot.
 * Bytes from the network never crash the node: a malformed frame, an
 * unknown API key or an unsupported version closes that connection only.
 *
 * Ownership: pointers are borrowed unless marked [owned]. A broker_config
 * passed to start is borrowed for the node's lifetime (the simulator keeps
 * it across restarts).
 */
#ifndef SLUICE_BROKER_SERVER_BROKER_H
#define SLUICE_BROKER_SERVER_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "base/env.h"
#include "broker/group/group.h"
#include "broker/log/log.h"

typedef struct broker broker_t;

/* ------------------------------------------------------------------ limits */

/* Connections one broker accepts at once; more are closed on accept. */
#define BROKER_CONNS_MAX 4096
/* Log dirs one broker manages. */
#define BROKER_LOG_DIRS_MAX 16
/* Partitions per topic (Kafka has no hard limit; this bounds one request's
 * work and the metadata file). */
#define BROKER_TOPIC_PARTITIONS_MAX 10000
/* Topics per broker. */
#define BROKER_TOPICS_MAX 10000
/* Partitions per broker, all topics together. */
#define BROKER_PARTITIONS_MAX 100000
/* A topic name (Kafka's limit, 249 bytes). */
#define BROKER_TOPIC_NAME_BYTES_MAX 249

/* ------------------------------------------------------------- configuration */

enum {
  BROKER_ERR_CONFIG = -1, /* a property is missing, malformed or out of range */
};

typedef struct broker_config {
  int32_t node_id;           /* node.id (or broker.id); >= 0 */
  char *listen_host;         /* [owned] from listeners=PLAINTEXT://host:port */
  uint16_t listen_port;      /* 0 = any free port */
  char *advertised_host;     /* [owned] advertised.listeners, else listen_host
                                ("" or 0.0.0.0 is advertised as 127.0.0.1) */
  uint16_t advertised_port;  /* 0 = the port actually bound */
  char **log_dirs;           /* [owned] log.dirs (or log.dir), comma-separated */
  size_t log_dir_count;      /* 1..BROKER_LOG_DIRS_MAX */
  char *cluster_id;          /* [owned] cluster.id; NULL = generated once and
                                kept in meta.properties */
  int32_t num_partitions;    /* num.partitions (1) */
  bool auto_create_topics;   /* auto.create.topics.enable (true) */
  bool delete_topic_enable;  /* delete.topic.enable (true) */
  int32_t message_max_bytes; /* message.max.bytes (1048588) */
  int32_t socket_request_max_bytes; /* socket.request.max.bytes (100 MiB) */
  /* fetch.sendfile.enable (false; Sluice's own): send fetched records
   * from the segment files (sendfile on uv) instead of writing them from
   * the page-cache view. Off by default: on loopback it made consumers
   * slower (docs/broker.md, "The fetch path"). */
  bool fetch_sendfile;
  /* fetch.verify.crc (true; Sluice's own): check every fetched batch's CRC
   * before it is sent, as every log read does (issue 3's promise: bit rot
   * is reported, never sent). false does what Kafka's broker does: the
   * consumer checks (check.crcs); the other batch checks stay. */
  bool fetch_verify_crc;
  int64_t retention_check_interval_ms; /* log.retention.check.interval.ms */
  int64_t checkpoint_interval_ms; /* log.flush.offset.checkpoint.interval.ms */
  int64_t cleaner_backoff_ms;     /* log.cleaner.backoff.ms (15000) */
  int64_t producer_id_expiration_ms; /* producer.id.expiration.ms (1 day) */
  int32_t min_insync_replicas;    /* min.insync.replicas (1) */
  /* The group coordinator: group.min/max.session.timeout.ms,
   * group.initial.rebalance.delay.ms, offsets.topic.num.partitions,
   * offsets.retention.minutes, offsets.retention.check.interval.ms. */
  group_config groups;
  /* Topic defaults from log.* (log.segment.bytes, log.retention.ms/
   * minutes/hours, log.retention.bytes, log.roll.ms/hours,
   * log.flush.interval.messages/ms, log.cleanup.policy,
   * log.index.size.max.bytes, log.index.interval.bytes,
   * log.cleaner.delete.retention.ms, log.message.timestamp.type). */
  log_config log_defaults;
  /* The topic config names ("segment.bytes") whose broker-level default
   * was set explicitly (DescribeConfigs reports them as
   * STATIC_BROKER_CONFIG): NULL-terminated, sorted [owned]. */
  char **static_topic_keys;
} broker_config;

/* Kafka's defaults with log_dirs = {"/tmp/kafka-logs"}, listeners
 * PLAINTEXT://:9092, node.id 0. Free with broker_config_clear. */
void broker_config_default(broker_config *cfg);

/* Reads the broker's properties from c (server.properties plus overrides).
 * Unknown keys are ignored (the caller may report them: broker_config_known).
 * On error returns BROKER_ERR_CONFIG with a message naming the key in err;
 * cfg is then left cleared. On success cfg owns its strings. */
int broker_config_load(const config_t *c, broker_config *cfg, char *err,
                       size_t err_len) __attribute__((warn_unused_result));

/* True for the property names broker_config_load understands. */
bool broker_config_known(const char *key);

/* Frees what cfg owns and zeroes it. NULL is fine. */
void broker_config_clear(broker_config *cfg);

/* ------------------------------------------------------------------- node */

/* start(env, broker_config *) / stop(broker_t *): see the top of this file.
 * start logs "listening on HOST:PORT" once it accepts connections. */
extern const env_node_ops broker_node_ops;

/* Direct forms of the node operations. broker_start returns NULL on
 * failure (logged). broker_free: NULL is fine. */
broker_t *broker_start(env_t *env, const broker_config *cfg);
void broker_free(broker_t *b);

/* Clean shutdown: stops accepting, closes every connection, flushes and
 * closes every log, writes the producer snapshots and the recovery-point
 * and log-start-offset checkpoints, then calls cb(arg, status) (0, or the
 * first I/O error). Only broker_free may follow. Calling it twice is a
 * programmer error. cb may be NULL. */
typedef void (*broker_done_cb)(void *arg, int status);
void broker_shutdown(broker_t *b, broker_done_cb cb, void *arg);

/* The port the listener is bound to. */
uint16_t broker_port(const broker_t *b);

/* ----------------------------------------------------- observation (tests) */

/* Number of open client connections. */
size_t broker_connection_count(const broker_t *b);
/* Log end / start offset of a partition, or -1 if it does not exist. */
int64_t broker_partition_end_offset(const broker_t *b, const char *topic,
                                    int32_t partition);
int64_t broker_partition_start_offset(const broker_t *b, const char *topic,
                                      int32_t partition);
/* Whether the partition's log went offline (a write or flush failed; it
 * answers KAFKA_STORAGE_ERROR until the broker restarts). False if the
 * partition does not exist. Kafka halts a broker whose only log dir
 * failed; here whoever runs the broker restarts it. */
bool broker_partition_offline(const broker_t *b, const char *topic,
                              int32_t partition);

#endif
