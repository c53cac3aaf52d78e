/*
 * group_internal.h — private types of broker/group/ (symbols group__*).
 *
 *   group.c     groups, members, the rebalance state machine, waiters
 *   offsets.c   committed offsets, retention, admin APIs
 *   records.c   __consumer_offsets key/value encoding and replay
 */
#ifndef SLUICE_BROKER_GROUP_GROUP_INTERNAL_H
#define SLUICE_BROKER_GROUP_GROUP_INTERNAL_H

#include <glib.h>

#include "base/buf.h"
#include "broker/group/group.h"

/* Kafka's OFFSET_METADATA_TOO_LARGE (12), absent from broker/kerr.h. */
#define GROUP__ERR_OFFSET_METADATA_TOO_LARGE 12

typedef struct group__group group__group;

typedef struct group__member {
  group__group *g;
  char *id;          /* [owned] */
  char *instance_id; /* [owned] NULL = dynamic */
  char *client_id;   /* [owned] */
  char *client_host; /* [owned] */
  int32_t session_timeout_ms;
  int32_t rebalance_timeout_ms;
  size_t protocol_count;
  char **protocol_names;     /* [owned] in the member's preference order */
  GBytes **protocol_metas;   /* [owned] */
  GBytes *assignment;        /* [owned] empty until the leader's sync */
  bool joined;               /* rejoined in the current rebalance */
  group_waiter *join_waiter; /* parked JoinGroup */
  group_waiter *sync_waiter; /* parked SyncGroup */
  uint64_t session_timer;
} group__member;

typedef struct group__offset_key {
  char *topic; /* [owned] */
  int32_t partition;
} group__offset_key;

typedef struct group__offset_val {
  int64_t offset;
  int32_t leader_epoch;
  char *metadata; /* [owned] */
  int64_t commit_ms;
} group__offset_val;

struct group__group {
  group_coord *c;
  char *id; /* [owned] */
  group_state state;
  int32_t generation;
  char *protocol_type; /* [owned] NULL when unknown */
  char *protocol_name; /* [owned] NULL unless a generation is running */
  char *leader_id;     /* [owned] NULL when no leader */
  GTree *members;      /* id -> group__member* [owned], sorted */
  GTree *pending_ids;  /* member ids handed out with MEMBER_ID_REQUIRED */
  GTree *offsets;      /* group__offset_key* -> group__offset_val* [owned] */
  uint64_t rebalance_timer;
  bool initial_delay; /* the first rebalance waits before completing */
  int64_t state_ms;   /* when the state last changed (wall clock) */
};

struct group_coord {
  env_t *env;
  group_config cfg;
  group_store store;
  bool loaded;
  bool freeing;  /* group_coord_free running: answer nobody */
  GTree *groups; /* id -> group__group* [owned], sorted */
  GQueue ready;  /* group_waiter* answered, waiting for delivery */
  uint64_t deliver_timer;
  uint64_t expire_timer;
  buf_t key, value; /* record encoding scratch */
};

/* group.c */
group__group *group__find(group_coord *c, const char *id);
group__group *group__create(group_coord *c, const char *id);
void group__remove(group_coord *c, group__group *g);
bool group__fenced(group__group *g, const char *member_id,
                   const char *instance_id, int16_t *err);
void group__touch(group__member *m); /* restarts the session timer */
int group__store_metadata(group__group *g);

/* records.c */
void group__offset_key_encode(buf_t *out, const char *group, const char *topic,
                              int32_t partition);
void group__offset_value_encode(buf_t *out, const group__offset_val *v);
void group__metadata_key_encode(buf_t *out, const char *group);
void group__metadata_value_encode(buf_t *out, const group__group *g,
                                  int64_t now_ms);
int group__append(group_coord *c, const char *group, const group_record *recs,
                  size_t n);

/* offsets.c */
gint group__offset_key_cmp(gconstpointer a, gconstpointer b, gpointer unused);
void group__offset_key_free(gpointer p);
void group__offset_val_free(gpointer p);

#endif
