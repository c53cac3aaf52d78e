/*
 * test_client_fake.h — a tiny fake Kafka broker for testing the client
 * (broker/client/) in the simulator.
 *
 * A cfake node speaks the real wire protocol through broker/proto (frames,
 * headers, the generated codecs) and keeps a cluster's state in memory: the
 * brokers, topics, partition leaders, each partition's record batches (as
 * the bytes the producer sent, with offsets assigned), topic configs, and
 * idempotent-producer sequence state with Kafka's 5-batch dedupe window.
 * Several fake brokers share one cfake_cluster, so leadership can move
 * between them.
 *
 * It is deliberately simple (no disk, no replication, acks=-1 is acks=1)
 * and instrumented: tests read what it saw (versions per API, requests in
 * flight per connection, produce batches and their sequences) and turn
 * knobs (advertised versions, response delay, injected produce errors, a
 * broker that never answers).
 *
 * Everything is single-threaded on the simulator; tests poke the structs
 * directly between sim_run_until calls.
 */
#ifndef SLUICE_TESTS_UNIT_TEST_CLIENT_FAKE_H
#define SLUICE_TESTS_UNIT_TEST_CLIENT_FAKE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/env.h"

#define CFAKE_API_KEYS 64
#define CFAKE_BROKERS_MAX 4
#define CFAKE_PORT 9092
/* Producer batches remembered per partition for deduplication (Kafka: 5). */
#define CFAKE_DEDUPE_BATCHES 5

typedef struct cfake_batch {
  int64_t base_offset;
  int32_t count;
  int64_t producer_id;
  int32_t base_sequence;
  uint8_t *bytes; /* [owned] the stored batch (base offset rewritten) */
  size_t len;
} cfake_batch;

typedef struct cfake_part {
  GPtrArray *batches; /* cfake_batch* in offset order */
  int64_t log_end;
  int32_t leader;
} cfake_part;

typedef struct cfake_topic {
  char *name;
  int32_t partition_count;
  cfake_part *parts;
  GPtrArray *config_names; /* char*, parallel to config_values */
  GPtrArray *config_values;
} cfake_topic;

typedef struct cfake_pstate {
  int64_t producer_id;
  int16_t epoch;
  int32_t last_seq;
  int32_t recent_first[CFAKE_DEDUPE_BATCHES];
  int32_t recent_last[CFAKE_DEDUPE_BATCHES];
  int64_t recent_base[CFAKE_DEDUPE_BATCHES];
  int recent_count;
} cfake_pstate;

typedef struct cfake_cluster {
  int32_t broker_ids[CFAKE_BROKERS_MAX];
  char *broker_hosts[CFAKE_BROKERS_MAX];
  int broker_count;
  GPtrArray *topics;   /* cfake_topic*, creation order */
  GHashTable *pstates; /* "pid/topic/partition" -> cfake_pstate* */
  int64_t next_producer_id;
  /* Live nodes (to wake long-polling fetches on produce). */
  GPtrArray *nodes;

  /* ---- knobs ---- */
  int16_t api_max[CFAKE_API_KEYS];  /* -1 = what broker/proto describes */
  bool api_versions_v3_unsupported; /* answer v3 with the KIP-511 reply */
  uint64_t response_delay_ns;
  bool blackhole;               /* read requests, never answer */
  int16_t produce_error;        /* injected partition error code */
  uint32_t produce_error_count; /* ... for this many partition results */
  bool auto_create_topics;
  int32_t default_partitions;

  /* ---- observations ---- */
  uint64_t requests[CFAKE_API_KEYS];
  int16_t last_version[CFAKE_API_KEYS];
  uint32_t in_flight_max_seen; /* requests received and not yet answered */
  int16_t last_acks;
  uint64_t produce_batches; /* batches appended */
  uint64_t duplicates;      /* batches answered from the dedupe window */
  uint64_t out_of_order;    /* OUT_OF_ORDER_SEQUENCE_NUMBER answers */
  uint64_t not_leader_answers;
  uint64_t connections;
  int16_t last_api_versions_version;
} cfake_cluster;

/* The node config for one fake broker (borrowed by the node). */
typedef struct cfake_node_config {
  cfake_cluster *cluster;
  int32_t node_id;
} cfake_node_config;

extern const env_node_ops cfake_node_ops;

cfake_cluster *cfake_cluster_new(void);
void cfake_cluster_free(cfake_cluster *cl);
/* host is the node's simulator name; port CFAKE_PORT. */
void cfake_add_broker(cfake_cluster *cl, int32_t node_id, const char *host);
/* Leaders round-robin over the brokers (leader -1) or all on leader. */
cfake_topic *cfake_add_topic(cfake_cluster *cl, const char *name,
                             int32_t partitions, int32_t leader);
cfake_topic *cfake_find_topic(cfake_cluster *cl, const char *name);
/* Appends records (value "v<i>", key "k<i>") directly, as if produced. */
void cfake_append(cfake_cluster *cl, const char *topic, int32_t partition,
                  int count, int64_t timestamp_ms);

/* Walks every stored record of a partition in offset order; the callback
 * gets offset, key and value. Returns the number of records. */
typedef void (*cfake_record_fn)(void *arg, int64_t offset, const uint8_t *key,
                                int32_t key_len, const uint8_t *value,
                                int32_t value_len);
size_t cfake_each_record(cfake_cluster *cl, const char *topic,
                         int32_t partition, cfake_record_fn fn, void *arg);

/* The self-test suite of the fake (hand-built requests against it). */
int suite_client_fake(void);

#endif
