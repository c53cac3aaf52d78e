/*
 * group.h — Kafka's classic group coordinator: consumer groups, their
 * rebalance protocol, and committed offsets kept in __consumer_offsets.
 *
 * Kafka concept (KAFKA-NOTES.md §8): a group has members that JoinGroup
 * with their supported protocols (opaque metadata, passed through
 * untouched: eager and cooperative clients look the same here), the
 * coordinator waits until every known member has rejoined (or the
 * rebalance timeout ends), bumps the generation, picks a protocol every
 * member lists and answers all joins at once; the leader member computes
 * the assignment and sends it in its SyncGroup; the coordinator hands each
 * member its part. Heartbeats keep a member alive; a member silent for its
 * session timeout is removed and the group rebalances.
 *
 *   Empty --join--> PreparingRebalance --all joined / timeout-->
 *   CompletingRebalance --leader's sync--> Stable
 *   Stable/CompletingRebalance --join, leave, expiry--> PreparingRebalance
 *   PreparingRebalance --last member gone--> Empty
 *   Empty --DeleteGroups / offsets all expired--> Dead (forgotten)
 *
 * The coordinator knows nothing of sockets: requests come in as plain
 * structs, answers go out through callbacks. Time is the env's (timers for
 * session, rebalance and initial-delay timeouts), so it runs in the
 * simulator and in unit tests alike.
 *
 * Parked answers: JoinGroup and SyncGroup may wait (as Kafka's delayed
 * operations). group_join / group_sync either answer before returning
 * (their callback already ran; they return NULL) or return a waiter and
 * answer later, always from an env timer callback, never from inside
 * another group_* call. A waiter whose requester went away is cancelled
 * with group_waiter_cancel (its callback then never runs).
 *
 * Durability: committed offsets and group metadata are written as records
 * to the store (the broker appends them to the __consumer_offsets
 * partition abs(javaHash(group)) % partitions with Kafka's key/value
 * schemas) before the answer; the broker's flush rules decide when they
 * reach the disk, as for any produce. group_replay feeds the records back
 * at start; until group_set_loaded every group request gets
 * COORDINATOR_LOAD_IN_PROGRESS.
 *
 * Errors are Kafka error codes (broker/kerr.h) in the answers. Bytes from
 * the network are validated by the caller's decoder; strings handed in
 * must be NUL-terminated C strings. Pointers in requests are borrowed for
 * the call only (the coordinator copies what it keeps); pointers in
 * answers are valid during the callback / until the next group_* call.
 */
#ifndef SLUICE_BROKER_GROUP_GROUP_H
#define SLUICE_BROKER_GROUP_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/env.h"

/* ------------------------------------------------------------------ limits */

/* Groups one coordinator keeps (more joins get COORDINATOR_NOT_AVAILABLE). */
#define GROUP_COUNT_MAX 10000
/* Members in one group (Kafka's group.max.size defaults to unlimited). */
#define GROUP_MEMBERS_MAX 1000
/* Protocols one member may list in a JoinGroup. */
#define GROUP_PROTOCOLS_MAX 16
/* Committed offsets one group may hold. */
#define GROUP_OFFSETS_MAX 100000
/* Bytes of one member's protocol metadata or assignment. */
#define GROUP_METADATA_BYTES_MAX ((size_t)1 << 20)
/* Committed offset metadata string (Kafka's offset.metadata.max.bytes). */
#define GROUP_OFFSET_METADATA_BYTES_MAX 4096
/* A group id, member id or instance id. */
#define GROUP_ID_BYTES_MAX 1024

typedef struct group_coord group_coord;
typedef struct group_waiter group_waiter;

typedef enum group_state {
  GROUP_EMPTY,
  GROUP_PREPARING_REBALANCE,
  GROUP_COMPLETING_REBALANCE,
  GROUP_STABLE,
  GROUP_DEAD,
} group_state;

/* Kafka's names: "Empty", "PreparingRebalance", ... */
const char *group_state_name(group_state s);

typedef struct group_config {
  int32_t session_timeout_min_ms; /* group.min.session.timeout.ms (6000) */
  int32_t session_timeout_max_ms; /* group.max.session.timeout.ms (1800000) */
  int32_t
      initial_rebalance_delay_ms; /* group.initial.rebalance.delay.ms (3000) */
  int64_t offsets_retention_ms;   /* offsets.retention.minutes (7 days) */
  int64_t offsets_retention_check_ms; /* offsets.retention.check.interval.ms */
  int32_t offsets_partitions;         /* offsets.topic.num.partitions (50) */
} group_config;

void group_config_default(group_config *cfg);

/* One record for __consumer_offsets. value == NULL is a tombstone. */
typedef struct group_record {
  const uint8_t *key;
  size_t key_len;
  const uint8_t *value;
  size_t value_len;
} group_record;

/* Where records go: append(arg, partition, records, n) appends them (one
 * batch) to the __consumer_offsets partition and returns 0 or a Kafka error
 * code (then nothing was written and the request fails with it). NULL
 * append keeps everything in memory only (unit tests). */
typedef struct group_store {
  int (*append)(void *arg, int32_t partition, const group_record *records,
                size_t n);
  void *arg;
} group_store;

/* The coordinator; env and store are borrowed for its lifetime. It starts
 * not loaded. */
group_coord *group_coord_new(env_t *env, const group_config *cfg,
                             const group_store *store);
/* Cancels timers and frees every group; pending waiters are dropped
 * without their callbacks. NULL is fine. */
void group_coord_free(group_coord *c);

/* Java's String.hashCode of group_id (UTF-8 bytes taken as Latin-1 for
 * non-ASCII: equal to Java's for ASCII ids) mapped to a partition:
 * abs(hash) % partitions, with Kafka's abs (Integer.MIN_VALUE -> 0). */
int32_t group_partition_for(const char *group_id, int32_t partitions);

/* --------------------------------------------------------------- loading */

/* Applies one __consumer_offsets record (key, value or NULL tombstone) in
 * log order. Unknown or malformed records are skipped (returns false). */
bool group_replay(group_coord *c, const uint8_t *key, size_t key_len,
                  const uint8_t *value, size_t value_len, bool tombstone);
/* Ends loading: requests are served from now on; retention starts. */
void group_set_loaded(group_coord *c);
bool group_loaded(const group_coord *c);

/* -------------------------------------------------------------- JoinGroup */

typedef struct group_protocol {
  const char *name;
  const uint8_t *metadata;
  size_t metadata_len;
} group_protocol;

typedef struct group_join_req {
  int16_t version; /* JoinGroup version (MEMBER_ID_REQUIRED from v4) */
  const char *group_id;
  const char *member_id;         /* "" on first join */
  const char *group_instance_id; /* NULL = dynamic member */
  const char *protocol_type;
  const char *client_id;
  const char *client_host;
  int32_t session_timeout_ms;
  int32_t rebalance_timeout_ms; /* v0: the session timeout */
  const group_protocol *protocols;
  size_t protocol_count;
} group_join_req;

typedef struct group_join_member {
  const char *member_id;
  const char *group_instance_id; /* NULL if dynamic */
  const uint8_t *metadata;
  size_t metadata_len;
} group_join_member;

typedef struct group_join_resp {
  int16_t error;
  int32_t generation_id;            /* -1 on error */
  const char *protocol_type;        /* NULL on error */
  const char *protocol_name;        /* NULL on error */
  const char *leader;               /* "" on error */
  const char *member_id;            /* the member's id ("" if none) */
  const group_join_member *members; /* the leader only; sorted by id */
  size_t member_count;
} group_join_resp;

typedef void (*group_join_cb)(void *arg, const group_join_resp *resp);

/* Handles a JoinGroup. Returns NULL when cb already ran, else the waiter
 * that will answer. */
group_waiter *group_join(group_coord *c, const group_join_req *req,
                         group_join_cb cb, void *arg);

/* -------------------------------------------------------------- SyncGroup */

typedef struct group_assignment {
  const char *member_id;
  const uint8_t *assignment;
  size_t assignment_len;
} group_assignment;

typedef struct group_sync_req {
  const char *group_id;
  int32_t generation_id;
  const char *member_id;
  const char *group_instance_id;       /* NULL = dynamic */
  const char *protocol_type;           /* NULL = not checked (v0-4) */
  const char *protocol_name;           /* NULL = not checked */
  const group_assignment *assignments; /* the leader's; else none */
  size_t assignment_count;
} group_sync_req;

typedef struct group_sync_resp {
  int16_t error;
  const char *protocol_type; /* NULL on error */
  const char *protocol_name;
  const uint8_t *assignment; /* the member's (empty if none) */
  size_t assignment_len;
} group_sync_resp;

typedef void (*group_sync_cb)(void *arg, const group_sync_resp *resp);

group_waiter *group_sync(group_coord *c, const group_sync_req *req,
                         group_sync_cb cb, void *arg);

/* A parked join/sync whose requester is gone: its callback never runs. */
void group_waiter_cancel(group_waiter *w);

/* ------------------------------------------------- Heartbeat, LeaveGroup */

int16_t group_heartbeat(group_coord *c, const char *group_id,
                        int32_t generation_id, const char *member_id,
                        const char *group_instance_id);

typedef struct group_leave_member {
  const char *member_id;         /* may be "" with an instance id (v3+) */
  const char *group_instance_id; /* NULL = dynamic */
  int16_t error;                 /* out: per member */
} group_leave_member;

/* Removes the members (v0-2: one, by member id). Returns the top-level
 * error (group unknown, loading); per-member errors go to members[i]. */
int16_t group_leave(group_coord *c, const char *group_id,
                    group_leave_member *members, size_t n);

/* -------------------------------------------------------------- offsets */

typedef struct group_offset_commit {
  const char *topic;
  int32_t partition;
  int64_t offset;
  int32_t leader_epoch; /* -1 if unknown */
  const char *metadata; /* NULL = "" */
  int16_t error;        /* out */
} group_offset_commit;

/* OffsetCommit: generation -1 and member "" commit for a group without
 * members (standalone consumers, admin tools; the group is created if
 * needed); otherwise the member must be the group's and of its generation
 * (REBALANCE_IN_PROGRESS while CompletingRebalance). The records are
 * appended to the store before anything changes in memory. Returns the
 * request-wide error, also copied into every commits[i].error; when it is
 * NONE, each commits[i].error says how that partition fared
 * (OFFSET_METADATA_TOO_LARGE, the store's error, ...). */
int16_t group_offset_commit_many(group_coord *c, const char *group_id,
                                 int32_t generation_id, const char *member_id,
                                 const char *group_instance_id,
                                 group_offset_commit *commits, size_t n);

typedef struct group_offset {
  const char *topic;
  int32_t partition;
  int64_t offset; /* -1: none committed */
  int32_t leader_epoch;
  const char *metadata; /* "" if none */
  int16_t error;
} group_offset;

/* OffsetFetch of the given partitions (offsets[i].topic/partition set by
 * the caller; the rest is filled). Returns the request-wide error. */
int16_t group_offset_fetch(group_coord *c, const char *group_id,
                           group_offset *offsets, size_t n);
/* OffsetFetch of every committed offset of the group (topics null): a new
 * array [owned, g_free; the strings point into the coordinator, valid
 * until the next group_* call], sorted by topic then partition. */
int16_t group_offset_fetch_all(group_coord *c, const char *group_id,
                               group_offset **offsets, size_t *n);

/* OffsetDelete: removes committed offsets of topics the group does not
 * consume (GROUP_SUBSCRIBED_TO_TOPIC otherwise, per partition). */
typedef struct group_offset_delete {
  const char *topic;
  int32_t partition;
  int16_t error; /* out */
} group_offset_delete;
int16_t group_offset_delete_many(group_coord *c, const char *group_id,
                                 group_offset_delete *dels, size_t n);

/* Expires committed offsets older than the retention of groups that are
 * Empty (Kafka 2.1+ semantics) and forgets empty groups left with none.
 * Runs on its own timer after loading; exposed for tests. */
void group_offsets_expire(group_coord *c);

/* ------------------------------------------------------------ admin APIs */

typedef struct group_listing {
  const char *group_id;
  const char *protocol_type;
  group_state state;
} group_listing;

/* Every group, sorted by id: a new array [owned, g_free]; strings valid
 * until the next group_* call. */
int16_t group_list(group_coord *c, group_listing **out, size_t *n);

typedef struct group_member_desc {
  const char *member_id;
  const char *group_instance_id;
  const char *client_id;
  const char *client_host;
  const uint8_t *metadata; /* the chosen protocol's metadata */
  size_t metadata_len;
  const uint8_t *assignment;
  size_t assignment_len;
} group_member_desc;

typedef struct group_desc {
  int16_t error;
  group_state state;         /* GROUP_DEAD for an unknown group */
  const char *protocol_type; /* "" if none */
  const char *protocol_name; /* "" unless Stable/CompletingRebalance */
  int32_t generation_id;
  group_member_desc *members; /* [owned, g_free], sorted by member id */
  size_t member_count;
} group_desc;

/* DescribeGroups for one group; free d->members with g_free. */
void group_describe(group_coord *c, const char *group_id, group_desc *d);

/* DeleteGroups for one group: NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND, or NONE
 * (its offsets are tombstoned and it is forgotten). */
int16_t group_delete(group_coord *c, const char *group_id);

/* ------------------------------------------------------ observation */

size_t group_count(const group_coord *c);
/* State and generation of a group (GROUP_DEAD / -1 if unknown). */
group_state group_get_state(group_coord *c, const char *group_id);
int32_t group_get_generation(group_coord *c, const char *group_id);
size_t group_member_count(group_coord *c, const char *group_id);

#endif
