/*
 * group.c — a consumer group member (Kafka's ConsumerCoordinator with the
 * eager RangeAssignor), on top of the client's connections and consumer.
 *
 * One state machine per member, driven by responses and three timers
 * (the step timer for retries, the heartbeat timer, the auto-commit
 * timer):
 *
 *   JOIN --JoinGroup ok--> SYNC --SyncGroup ok--> STABLE
 *   STABLE --heartbeat REBALANCE_IN_PROGRESS--> REVOKING (commit)
 *          --commit answered--> JOIN
 *   STABLE --heartbeat ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID--> JOIN
 *   any --kclient_group_close--> CLOSING (commit, LeaveGroup) --> CLOSED
 *   JOIN/SYNC --fatal error--> FAILED
 *
 * The coordinator is found with FindCoordinator whenever it is unknown
 * (coord_id < 0): at start, and after a network error or
 * NOT_COORDINATOR / COORDINATOR_NOT_AVAILABLE on any group request. At
 * most one "main" request (find, join, sync, offset fetch, leave) is in
 * flight, plus one heartbeat and any commits.
 *
 * In STABLE, positions are first fetched (OffsetFetch) for the assigned
 * partitions, then a fresh kclient_consumer_t fetches them; it is freed
 * when the partitions are given up, so no record of a revoked partition
 * is delivered.
 *
 * The ConsumerProtocol codecs at the bottom are Kafka's
 * ConsumerProtocolSubscription / ConsumerProtocolAssignment (v0 written,
 * any version read: later versions only append fields).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "broker/client/client_internal.h"
#include "broker/kerr.h"

#define KCLIENT__GROUP_PROTOCOL_TYPE "consumer"
#define KCLIENT__GROUP_ASSIGNOR "range"
/* Polling the metadata cache while the leader waits for partition
 * counts, and how many polls before it assigns what it knows. */
#define KCLIENT__GROUP_METADATA_POLL_MS 50
#define KCLIENT__GROUP_METADATA_POLLS_MAX 200
/* How often the leader refreshes metadata to notice a subscribed topic
 * growing (Kafka's leader rejoins then, so the new partitions get an
 * owner). */
#define KCLIENT__GROUP_METADATA_CHECK_MS 5000
/* A commit retries coordinator errors for this many attempts. */
#define KCLIENT__GROUP_COMMIT_ATTEMPTS_MAX 10
/* Bytes of one encoded subscription or assignment (the broker's bound). */
#define KCLIENT__GROUP_PROTOCOL_BYTES_MAX ((size_t)1 << 20)
/* Partitions one topic may have in an assignment we decode. */
#define KCLIENT__GROUP_PARTITIONS_MAX KCLIENT_CONSUMER_PARTITIONS_MAX

typedef enum kclient__gstate {
  KCLIENT__G_JOIN = 0,
  KCLIENT__G_SYNC,
  KCLIENT__G_STABLE,
  KCLIENT__G_REVOKING,
  KCLIENT__G_CLOSING,
  KCLIENT__G_CLOSED,
  KCLIENT__G_FAILED,
} kclient__gstate;

/* A member as the leader sees it in the JoinGroup answer. */
typedef struct kclient__gmember {
  char *member_id;
  char **topics; /* NULL-terminated */
  GByteArray *assignment;
} kclient__gmember;

/* One OffsetCommit (a user's, an auto-commit, or the one before a
 * rebalance or close). */
typedef struct kclient__gcommit {
  kclient_group_t *g;
  kclient__req *req;
  uint64_t timer;
  uint32_t attempts;
  kclient_done_cb cb;
  void *arg;
  bool settled; /* answer with settled_err without sending */
  int settled_err;
  char settled_errmsg[KCLIENT_ERRMSG_BYTES];
  GArray *offsets; /* kclient__goffset */
  /* The generation and member id the positions belong to, fixed when the
   * commit is made: a retry sent after the member rejoined must not
   * commit old positions under the new generation (the coordinator
   * fences the old one). */
  int32_t generation;
  char *member_id;
  GList link; /* in g->commits */
} kclient__gcommit;

typedef struct kclient__goffset {
  const char *topic; /* interned in g->names */
  int32_t partition;
  int64_t offset;
} kclient__goffset;

struct kclient_group {
  kclient_t *c;
  kclient_group_config cfg; /* strings below, not the caller's */
  char *group_id;
  char **topics;     /* NULL-terminated, sorted, unique */
  GHashTable *names; /* interned topic names: char* -> itself */
  kclient__gstate state;

  int32_t coord_id; /* -1 unknown */
  char *member_id;  /* "" before the first join */
  int32_t generation;
  char *leader_id;
  GPtrArray *members; /* kclient__gmember*, the leader's, sorted by id */
  uint32_t metadata_polls;
  /* The leader's partition count per topic at its last assignment. */
  GHashTable *assigned_counts; /* char* [owned] -> GINT_TO_POINTER(n) */
  uint64_t metadata_checked_ns;

  kclient__req *req;    /* the main request in flight */
  kclient__req *hb_req; /* heartbeat in flight */
  uint64_t step_timer;
  uint64_t hb_timer;
  uint64_t commit_timer;
  uint32_t attempts; /* failures in a row of the main step */

  GArray *assigned; /* kclient_topic_partition, sorted */
  bool positions_known;
  kclient_consumer_t *cons;
  GQueue commits; /* kclient__gcommit* */
  kclient__gcommit *auto_commit_in_flight;

  bool paused; /* kclient_group_pause: new consumers start paused */
  kclient_done_cb close_cb;
  void *close_arg;
  int close_err;
  char close_errmsg[KCLIENT_ERRMSG_BYTES];
  uint64_t rebalances;
};

static void kclient__group_step(kclient_group_t *g);
static void kclient__group_rejoin(kclient_group_t *g, bool commit);
static void kclient__group_leave(kclient_group_t *g);

/* --------------------------------------------------------------- helpers */

static const char *kclient__group_intern(kclient_group_t *g, const char *s,
                                         size_t len) {
  char *tmp = g_strndup(s, len);
  const char *found = g_hash_table_lookup(g->names, tmp);
  if (found) {
    g_free(tmp);
    return found;
  }
  g_hash_table_add(g->names, tmp);
  return tmp;
}

static int kclient__tp_cmp(const void *a, const void *b) {
  const kclient_topic_partition *x = a, *y = b;
  int r = strcmp(x->topic, y->topic);
  if (r)
    return r;
  return x->partition < y->partition ? -1 : x->partition > y->partition;
}

static void kclient__group_timer_cancel(kclient_group_t *g, uint64_t *timer) {
  if (*timer)
    env_timer_cancel(g->c->env, *timer);
  *timer = 0;
}

static bool kclient__coord_err(int err) {
  return err < 0 || err == KERR_NOT_COORDINATOR ||
         err == KERR_COORDINATOR_NOT_AVAILABLE ||
         err == KERR_COORDINATOR_LOAD_IN_PROGRESS;
}

/* The coordinator's main-lane connection, or NULL when it is unknown (a
 * metadata refresh is asked for then). */
static kclient__conn *kclient__group_conn(kclient_group_t *g) {
  kclient_t *c = g->c;
  kclient__broker *b = NULL;
  if (g->coord_id >= 0) {
    b = kclient__broker_find(c, g->coord_id);
    if (!b)
      kclient__metadata_refresh(c);
  } else {
    b = kclient__pick_broker(c);
  }
  if (!b)
    return NULL;
  if (!b->conns[KCLIENT__LANE_MAIN])
    b->conns[KCLIENT__LANE_MAIN] = kclient__conn_new(c, b, KCLIENT__LANE_MAIN);
  return b->conns[KCLIENT__LANE_MAIN];
}

static void kclient__group_step_fired(void *arg) {
  kclient_group_t *g = arg;
  g->step_timer = 0;
  kclient__enter(g->c);
  kclient__group_step(g);
  kclient__leave(g->c);
}

/* Runs the step after delay_ns (0: on the next turn). */
static void kclient__group_step_later(kclient_group_t *g, uint64_t delay_ns) {
  kclient__group_timer_cancel(g, &g->step_timer);
  g->step_timer =
      env_timer_start(g->c->env, delay_ns, kclient__group_step_fired, g);
}

static void kclient__group_backoff(kclient_group_t *g) {
  kclient_t *c = g->c;
  g->attempts++;
  kclient__group_step_later(g, kclient__backoff_ns(c, c->cfg.retry_backoff_ms,
                                                   c->cfg.retry_backoff_max_ms,
                                                   g->attempts));
}

static void kclient__group_coord_lost(kclient_group_t *g, int err,
                                      const char *errmsg) {
  env_log(g->c->env, ENV_LOG_DEBUG, "kclient: group %s: coordinator lost (%s)",
          g->group_id, errmsg && errmsg[0] ? errmsg : kclient_err_name(err));
  g->coord_id = -1;
}

static void kclient__group_give_up(kclient_group_t *g);

static void kclient__group_fail(kclient_group_t *g, int err,
                                const char *errmsg) {
  kclient__group_give_up(g);
  g->state = KCLIENT__G_FAILED;
  kclient__group_timer_cancel(g, &g->hb_timer);
  kclient__group_timer_cancel(g, &g->commit_timer);
  env_log(g->c->env, ENV_LOG_WARN, "kclient: group %s: %s", g->group_id,
          errmsg);
  if (g->cfg.on_fatal)
    g->cfg.on_fatal(g->cfg.arg, err, errmsg);
}

/* ----------------------------------------------------- FindCoordinator */

static void *kclient__find_build(void *ctx, int16_t version, proto_arena *a) {
  kclient_group_t *g = ctx;
  (void)version;
  proto_find_coordinator_req *req = PROTO_NEW(a, proto_find_coordinator_req);
  if (!req)
    return NULL;
  req->key = proto_str_from(g->group_id);
  req->key_type = 0;
  return req;
}

static void kclient__find_done(void *ctx, int err, const char *errmsg,
                               int16_t version, void *body) {
  kclient_group_t *g = ctx;
  (void)version;
  g->req = NULL;
  if (!err) {
    const proto_find_coordinator_resp *resp = body;
    err = resp->error_code;
    if (!err && resp->node_id >= 0) {
      g->coord_id = resp->node_id;
      g->attempts = 0;
      if (!kclient__broker_find(g->c, g->coord_id))
        kclient__metadata_refresh(g->c);
      kclient__group_step_later(g, 0);
      return;
    }
    if (!err)
      err = KERR_COORDINATOR_NOT_AVAILABLE;
  }
  env_log(g->c->env, ENV_LOG_DEBUG, "kclient: group %s: FindCoordinator: %s",
          g->group_id, err < 0 ? errmsg : kclient_err_name(err));
  kclient__group_backoff(g);
}

/* ----------------------------------------------------------- JoinGroup */

static void kclient__gmember_free(void *p) {
  kclient__gmember *m = p;
  if (!m)
    return;
  g_free(m->member_id);
  g_strfreev(m->topics);
  if (m->assignment)
    g_byte_array_free(m->assignment, TRUE);
  g_free(m);
}

static int kclient__gmember_cmp(const void *a, const void *b) {
  const kclient__gmember *x = *(kclient__gmember *const *)a;
  const kclient__gmember *y = *(kclient__gmember *const *)b;
  return strcmp(x->member_id, y->member_id);
}

static void kclient__put_str(GByteArray *out, const char *s, size_t len) {
  uint8_t b[2];
  be16_store(b, (uint16_t)len);
  g_byte_array_append(out, b, 2);
  g_byte_array_append(out, (const uint8_t *)s, (guint)len);
}

static void kclient__put_i32(GByteArray *out, int32_t v) {
  uint8_t b[4];
  be32_store(b, (uint32_t)v);
  g_byte_array_append(out, b, 4);
}

static void kclient__put_i16(GByteArray *out, int16_t v) {
  uint8_t b[2];
  be16_store(b, (uint16_t)v);
  g_byte_array_append(out, b, 2);
}

/* ConsumerProtocolSubscription v0: version, topics, null user data. */
static GByteArray *kclient__subscription_encode(char *const *topics) {
  GByteArray *out = g_byte_array_new();
  int32_t n = 0;
  while (topics[n])
    n++;
  kclient__put_i16(out, 0);
  kclient__put_i32(out, n);
  for (int32_t i = 0; i < n; i++)
    kclient__put_str(out, topics[i], strlen(topics[i]));
  kclient__put_i32(out, -1);
  return out;
}

static void *kclient__join_build(void *ctx, int16_t version, proto_arena *a) {
  kclient_group_t *g = ctx;
  (void)version;
  proto_join_group_req *req = PROTO_NEW(a, proto_join_group_req);
  if (!req)
    return NULL;
  GByteArray *sub = kclient__subscription_encode(g->topics);
  uint8_t *copy = proto_arena_alloc(a, sub->len);
  if (!copy) {
    g_byte_array_free(sub, TRUE);
    return NULL;
  }
  memcpy(copy, sub->data, sub->len);
  int32_t sub_len = (int32_t)sub->len;
  g_byte_array_free(sub, TRUE);
  req->group_id = proto_str_from(g->group_id);
  req->session_timeout_ms = (int32_t)g->cfg.session_timeout_ms;
  req->rebalance_timeout_ms = (int32_t)g->cfg.rebalance_timeout_ms;
  req->member_id = proto_str_from(g->member_id);
  req->group_instance_id = PROTO_STR_NULL;
  req->protocol_type = PROTO_STR_LIT(KCLIENT__GROUP_PROTOCOL_TYPE);
  req->protocols.items = PROTO_NEW_ARRAY(a, proto_join_group_req_protocol, 1);
  if (!req->protocols.items)
    return NULL;
  req->protocols.count = 1;
  req->protocols.items[0].name = PROTO_STR_LIT(KCLIENT__GROUP_ASSIGNOR);
  req->protocols.items[0].metadata = (proto_bytes){copy, sub_len};
  req->reason = PROTO_STR_NULL;
  return req;
}

static void kclient__group_set_member_id(kclient_group_t *g, proto_str id) {
  g_free(g->member_id);
  g->member_id = id.len > 0 ? g_strndup(id.data, (gsize)id.len) : g_strdup("");
}

/* The leader's copy of the members and what they subscribe to. */
static int kclient__group_take_members(kclient_group_t *g,
                                       const proto_join_group_resp *resp) {
  if (g->members)
    g_ptr_array_free(g->members, TRUE);
  g->members = g_ptr_array_new_with_free_func(kclient__gmember_free);
  if (resp->members.count > KCLIENT_GROUP_MEMBERS_MAX)
    return -ENOBUFS;
  for (int32_t i = 0; i < resp->members.count; i++) {
    const proto_join_group_resp_member *pm = &resp->members.items[i];
    kclient__gmember *m = g_new0(kclient__gmember, 1);
    m->member_id =
        g_strndup(pm->member_id.data ? pm->member_id.data : "",
                  pm->member_id.len > 0 ? (gsize)pm->member_id.len : 0);
    g_ptr_array_add(g->members, m);
    if (pm->metadata.len < 0 ||
        kclient_subscription_decode(pm->metadata.data, (size_t)pm->metadata.len,
                                    &m->topics) != 0) {
      /* A member we cannot read gets nothing rather than failing all. */
      env_log(g->c->env, ENV_LOG_WARN,
              "kclient: group %s: member %s sent a subscription that does "
              "not decode",
              g->group_id, m->member_id);
      m->topics = g_new0(char *, 1);
    }
  }
  g_ptr_array_sort(g->members, kclient__gmember_cmp);
  return 0;
}

static void kclient__join_done(void *ctx, int err, const char *errmsg,
                               int16_t version, void *body) {
  kclient_group_t *g = ctx;
  (void)version;
  g->req = NULL;
  if (err) {
    kclient__group_coord_lost(g, err, errmsg);
    kclient__group_backoff(g);
    return;
  }
  const proto_join_group_resp *resp = body;
  err = resp->error_code;
  char msg[KCLIENT_ERRMSG_BYTES];
  switch (err) {
  case KERR_NONE:
    break;
  case KERR_MEMBER_ID_REQUIRED:
    kclient__group_set_member_id(g, resp->member_id);
    kclient__group_step_later(g, 0);
    return;
  case KERR_UNKNOWN_MEMBER_ID:
    g_free(g->member_id);
    g->member_id = g_strdup("");
    kclient__group_backoff(g);
    return;
  case KERR_REBALANCE_IN_PROGRESS:
  case KERR_ILLEGAL_GENERATION:
    kclient__group_backoff(g);
    return;
  case KERR_INVALID_SESSION_TIMEOUT:
  case KERR_INCONSISTENT_GROUP_PROTOCOL:
  case KERR_INVALID_GROUP_ID:
  case KERR_GROUP_AUTHORIZATION_FAILED:
  case KERR_GROUP_MAX_SIZE_REACHED:
    kclient__errmsg(msg, err, "JoinGroup of group %s: %s", g->group_id,
                    kclient_err_name(err));
    kclient__group_fail(g, err, msg);
    return;
  default:
    if (kclient__coord_err(err))
      kclient__group_coord_lost(g, err, kclient_err_name(err));
    kclient__group_backoff(g);
    return;
  }
  g->attempts = 0;
  kclient__group_set_member_id(g, resp->member_id);
  g->generation = resp->generation_id;
  g_free(g->leader_id);
  g->leader_id = resp->leader.len > 0
                     ? g_strndup(resp->leader.data, (gsize)resp->leader.len)
                     : g_strdup("");
  if (g->members)
    g_ptr_array_free(g->members, TRUE);
  g->members = NULL;
  if (strcmp(g->leader_id, g->member_id) == 0) {
    int rc = kclient__group_take_members(g, resp);
    if (rc) {
      kclient__errmsg(msg, rc, "group %s has more than %d members", g->group_id,
                      KCLIENT_GROUP_MEMBERS_MAX);
      kclient__group_fail(g, rc, msg);
      return;
    }
    /* The partition counts come from the metadata cache. */
    for (guint i = 0; i < g->members->len; i++) {
      kclient__gmember *m = g_ptr_array_index(g->members, i);
      for (char **t = m->topics; *t; t++)
        kclient__topic_get(g->c, *t);
    }
    kclient__metadata_refresh(g->c);
    g->metadata_polls = 0;
  }
  g->state = KCLIENT__G_SYNC;
  env_log(g->c->env, ENV_LOG_DEBUG,
          "kclient: group %s: joined generation %d as %s%s", g->group_id,
          g->generation, g->member_id, g->members ? " (leader)" : "");
  kclient__group_step_later(g, 0);
}

/* ---------------------------------------------------- range assignment */

/* True once every subscribed topic has a partition count (or is known
 * not to exist). */
static bool kclient__group_metadata_ready(kclient_group_t *g) {
  for (guint i = 0; i < g->members->len; i++) {
    kclient__gmember *m = g_ptr_array_index(g->members, i);
    for (char **t = m->topics; *t; t++) {
      kclient__topic *kt = kclient__topic_find(g->c, *t);
      if (!kt || (!(kt->metadata_known && kt->partition_count >= 0) &&
                  !kclient__topic_missing(g->c, kt)))
        return false;
    }
  }
  return true;
}

static int kclient__cstr_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool kclient__strv_has(char *const *v, const char *s) {
  for (; *v; v++)
    if (strcmp(*v, s) == 0)
      return true;
  return false;
}

/* Kafka's RangeAssignor: per topic, the members subscribed to it in member
 * id order get consecutive ranges; the first (partitions % members) get
 * one more. Fills each member's encoded ConsumerProtocolAssignment v0. */
static void kclient__group_assign_range(kclient_group_t *g) {
  GPtrArray *all = g_ptr_array_new();
  for (guint i = 0; i < g->members->len; i++) {
    kclient__gmember *m = g_ptr_array_index(g->members, i);
    for (char **t = m->topics; *t; t++) {
      bool seen = false;
      for (guint k = 0; k < all->len && !seen; k++)
        seen = strcmp(g_ptr_array_index(all, k), *t) == 0;
      if (!seen)
        g_ptr_array_add(all, *t);
    }
  }
  g_ptr_array_sort(all, kclient__cstr_cmp);
  g_hash_table_remove_all(g->assigned_counts);
  g->metadata_checked_ns = kclient__now_ns(g->c);
  guint nm = g->members->len;
  /* Per member: topics it got (count) then, per topic, [first, count). */
  int32_t *first = g_new0(int32_t, (gsize)nm * (all->len ? all->len : 1));
  int32_t *count = g_new0(int32_t, (gsize)nm * (all->len ? all->len : 1));
  for (guint ti = 0; ti < all->len; ti++) {
    const char *topic = g_ptr_array_index(all, ti);
    kclient__topic *kt = kclient__topic_find(g->c, topic);
    int32_t parts = kt && kt->metadata_known && kt->partition_count > 0
                        ? kt->partition_count
                        : 0;
    g_hash_table_replace(g->assigned_counts, g_strdup(topic),
                         GINT_TO_POINTER(parts));
    guint subscribers = 0;
    for (guint i = 0; i < nm; i++) {
      kclient__gmember *m = g_ptr_array_index(g->members, i);
      subscribers += kclient__strv_has(m->topics, topic);
    }
    if (!subscribers)
      continue;
    int32_t per = parts / (int32_t)subscribers;
    int32_t extra = parts % (int32_t)subscribers;
    int32_t next = 0, rank = 0;
    for (guint i = 0; i < nm; i++) {
      kclient__gmember *m = g_ptr_array_index(g->members, i);
      if (!kclient__strv_has(m->topics, topic))
        continue;
      int32_t n = per + (rank < extra ? 1 : 0);
      first[i * all->len + ti] = next;
      count[i * all->len + ti] = n;
      next += n;
      rank++;
    }
  }
  for (guint i = 0; i < nm; i++) {
    kclient__gmember *m = g_ptr_array_index(g->members, i);
    GByteArray *out = g_byte_array_new();
    int32_t topics = 0;
    for (guint ti = 0; ti < all->len; ti++)
      topics += count[i * all->len + ti] > 0;
    kclient__put_i16(out, 0);
    kclient__put_i32(out, topics);
    for (guint ti = 0; ti < all->len; ti++) {
      int32_t n = count[i * all->len + ti];
      if (n <= 0)
        continue;
      const char *topic = g_ptr_array_index(all, ti);
      kclient__put_str(out, topic, strlen(topic));
      kclient__put_i32(out, n);
      for (int32_t p = 0; p < n; p++)
        kclient__put_i32(out, first[i * all->len + ti] + p);
    }
    kclient__put_i32(out, -1); /* user data: null */
    if (m->assignment)
      g_byte_array_free(m->assignment, TRUE);
    m->assignment = out;
  }
  g_free(first);
  g_free(count);
  g_ptr_array_free(all, TRUE);
}

/* ----------------------------------------------------------- SyncGroup */

static void *kclient__sync_build(void *ctx, int16_t version, proto_arena *a) {
  kclient_group_t *g = ctx;
  (void)version;
  proto_sync_group_req *req = PROTO_NEW(a, proto_sync_group_req);
  if (!req)
    return NULL;
  req->group_id = proto_str_from(g->group_id);
  req->generation_id = g->generation;
  req->member_id = proto_str_from(g->member_id);
  req->group_instance_id = PROTO_STR_NULL;
  req->protocol_type = PROTO_STR_LIT(KCLIENT__GROUP_PROTOCOL_TYPE);
  req->protocol_name = PROTO_STR_LIT(KCLIENT__GROUP_ASSIGNOR);
  int32_t n = g->members ? (int32_t)g->members->len : 0;
  req->assignments.count = n;
  req->assignments.items =
      PROTO_NEW_ARRAY(a, proto_sync_group_req_assignment, n);
  if (!req->assignments.items)
    return NULL;
  for (int32_t i = 0; i < n; i++) {
    kclient__gmember *m = g_ptr_array_index(g->members, (guint)i);
    req->assignments.items[i].member_id = proto_str_from(m->member_id);
    req->assignments.items[i].assignment =
        (proto_bytes){m->assignment->data, (int32_t)m->assignment->len};
  }
  return req;
}

static void kclient__group_hb_arm(kclient_group_t *g);
static void kclient__group_commit_arm(kclient_group_t *g);

static void kclient__group_on_record(void *arg, const kclient_record *r) {
  kclient_group_t *g = arg;
  /* Records flow only while STABLE: every other state frees or pauses
   * the consumer first. */
  g->cfg.consumer.on_record(g->cfg.consumer.arg, r);
}

static void kclient__group_on_error(void *arg, const char *topic,
                                    int32_t partition, int err,
                                    const char *errmsg) {
  kclient_group_t *g = arg;
  if (g->cfg.consumer.on_error)
    g->cfg.consumer.on_error(g->cfg.consumer.arg, topic, partition, err,
                             errmsg);
}

static void kclient__group_on_fetch(void *arg, uint64_t rtt_ns, size_t bytes,
                                    size_t records) {
  kclient_group_t *g = arg;
  if (g->cfg.consumer.on_fetch)
    g->cfg.consumer.on_fetch(g->cfg.consumer.arg, rtt_ns, bytes, records);
}

static void kclient__sync_done(void *ctx, int err, const char *errmsg,
                               int16_t version, void *body) {
  kclient_group_t *g = ctx;
  (void)version;
  g->req = NULL;
  if (err) {
    kclient__group_coord_lost(g, err, errmsg);
    g->state = KCLIENT__G_JOIN;
    kclient__group_backoff(g);
    return;
  }
  const proto_sync_group_resp *resp = body;
  err = resp->error_code;
  if (err) {
    if (err == KERR_UNKNOWN_MEMBER_ID) {
      g_free(g->member_id);
      g->member_id = g_strdup("");
    }
    if (kclient__coord_err(err))
      kclient__group_coord_lost(g, err, kclient_err_name(err));
    g->state = KCLIENT__G_JOIN;
    if (err == KERR_REBALANCE_IN_PROGRESS)
      kclient__group_step_later(g, 0);
    else
      kclient__group_backoff(g);
    return;
  }
  kclient_assignment asg = {0};
  if (resp->assignment.len > 0 &&
      kclient_assignment_decode(resp->assignment.data,
                                (size_t)resp->assignment.len, &asg) != 0) {
    char msg[KCLIENT_ERRMSG_BYTES];
    kclient__errmsg(msg, -EPROTO,
                    "group %s: the assignment from the leader does not decode",
                    g->group_id);
    kclient__group_fail(g, -EPROTO, msg);
    return;
  }
  g->attempts = 0;
  g_array_set_size(g->assigned, 0);
  for (size_t i = 0; i < asg.count; i++) {
    kclient_topic_partition tp = {
        kclient__group_intern(g, asg.tps[i].topic, strlen(asg.tps[i].topic)),
        asg.tps[i].partition};
    g_array_append_val(g->assigned, tp);
  }
  kclient_assignment_free(&asg);
  g_array_sort(g->assigned, kclient__tp_cmp);
  g->state = KCLIENT__G_STABLE;
  g->positions_known = false;
  g->rebalances++;
  kclient_consumer_config ccfg = g->cfg.consumer;
  ccfg.on_record = kclient__group_on_record;
  ccfg.on_error = kclient__group_on_error;
  ccfg.on_fetch = kclient__group_on_fetch;
  ccfg.arg = g;
  SL_ASSERT(!g->cons);
  g->cons = kclient_consumer_new(g->c, &ccfg);
  if (g->paused)
    kclient_consumer_pause(g->cons);
  env_log(g->c->env, ENV_LOG_DEBUG,
          "kclient: group %s: generation %d: %u partitions", g->group_id,
          g->generation, g->assigned->len);
  kclient__group_hb_arm(g);
  kclient__group_commit_arm(g);
  kclient__group_step_later(g, 0);
}

/* --------------------------------------------------------- OffsetFetch */

static void *kclient__ofetch_build(void *ctx, int16_t version, proto_arena *a) {
  kclient_group_t *g = ctx;
  (void)version;
  proto_offset_fetch_req *req = PROTO_NEW(a, proto_offset_fetch_req);
  if (!req)
    return NULL;
  req->group_id = proto_str_from(g->group_id);
  req->require_stable = false;
  guint n = g->assigned->len;
  int32_t topics = 0;
  for (guint i = 0; i < n; i++)
    topics +=
        i == 0 ||
        strcmp(
            g_array_index(g->assigned, kclient_topic_partition, i).topic,
            g_array_index(g->assigned, kclient_topic_partition, i - 1).topic) !=
            0;
  req->topics.items =
      PROTO_NEW_ARRAY(a, proto_offset_fetch_req_topic, topics ? topics : 1);
  if (!req->topics.items)
    return NULL;
  req->topics.count = topics;
  int32_t ti = -1;
  for (guint i = 0, j; i < n; i = j) {
    const kclient_topic_partition *tp =
        &g_array_index(g->assigned, kclient_topic_partition, i);
    for (j = i;
         j < n &&
         strcmp(g_array_index(g->assigned, kclient_topic_partition, j).topic,
                tp->topic) == 0;
         j++)
      ;
    proto_offset_fetch_req_topic *t = &req->topics.items[++ti];
    t->name = proto_str_from(tp->topic);
    t->partition_indexes.count = (int32_t)(j - i);
    t->partition_indexes.items =
        proto_arena_alloc(a, sizeof(int32_t) * (j - i));
    if (!t->partition_indexes.items)
      return NULL;
    for (guint k = i; k < j; k++)
      t->partition_indexes.items[k - i] =
          g_array_index(g->assigned, kclient_topic_partition, k).partition;
  }
  return req;
}

static int64_t kclient__ofetch_lookup(const proto_offset_fetch_resp *resp,
                                      const kclient_topic_partition *tp) {
  for (int32_t i = 0; i < resp->topics.count; i++) {
    const proto_offset_fetch_resp_topic *t = &resp->topics.items[i];
    if (!proto_str_eq(t->name, tp->topic))
      continue;
    for (int32_t k = 0; k < t->partitions.count; k++) {
      const proto_offset_fetch_resp_partition *p = &t->partitions.items[k];
      if (p->partition_index == tp->partition && p->error_code == 0)
        return p->committed_offset;
    }
  }
  return -1;
}

static void kclient__ofetch_done(void *ctx, int err, const char *errmsg,
                                 int16_t version, void *body) {
  kclient_group_t *g = ctx;
  g->req = NULL;
  if (err) {
    kclient__group_coord_lost(g, err, errmsg);
    kclient__group_backoff(g);
    return;
  }
  const proto_offset_fetch_resp *resp = body;
  err = version >= 2 ? resp->error_code : 0;
  for (int32_t i = 0; !err && i < resp->topics.count; i++)
    for (int32_t k = 0; !err && k < resp->topics.items[i].partitions.count; k++)
      err = resp->topics.items[i].partitions.items[k].error_code;
  if (err) {
    if (kclient__coord_err(err))
      kclient__group_coord_lost(g, err, kclient_err_name(err));
    if (err == KERR_ILLEGAL_GENERATION || err == KERR_UNKNOWN_MEMBER_ID ||
        err == KERR_REBALANCE_IN_PROGRESS) {
      kclient__group_rejoin(g, false);
      return;
    }
    kclient__group_backoff(g);
    return;
  }
  g->attempts = 0;
  for (guint i = 0; i < g->assigned->len; i++) {
    const kclient_topic_partition *tp =
        &g_array_index(g->assigned, kclient_topic_partition, i);
    int64_t committed = kclient__ofetch_lookup(resp, tp);
    int64_t from = committed >= 0 ? committed : g->cfg.auto_offset_reset;
    int rc = kclient_consumer_assign(g->cons, tp->topic, tp->partition, from);
    if (rc != 0)
      env_log(g->c->env, ENV_LOG_WARN,
              "kclient: group %s: cannot assign %s-%d: %s", g->group_id,
              tp->topic, tp->partition, kclient_err_name(rc));
  }
  g->positions_known = true;
  if (g->cfg.on_assigned)
    g->cfg.on_assigned(g->cfg.arg,
                       (const kclient_topic_partition *)g->assigned->data,
                       g->assigned->len);
}

/* ----------------------------------------------------------- Heartbeat */

static void *kclient__hb_build(void *ctx, int16_t version, proto_arena *a) {
  kclient_group_t *g = ctx;
  (void)version;
  proto_heartbeat_req *req = PROTO_NEW(a, proto_heartbeat_req);
  if (!req)
    return NULL;
  req->group_id = proto_str_from(g->group_id);
  req->generation_id = g->generation;
  req->member_id = proto_str_from(g->member_id);
  req->group_instance_id = PROTO_STR_NULL;
  return req;
}

static void kclient__hb_done(void *ctx, int err, const char *errmsg,
                             int16_t version, void *body) {
  kclient_group_t *g = ctx;
  (void)version;
  g->hb_req = NULL;
  if (g->state != KCLIENT__G_STABLE)
    return;
  if (!err)
    err = ((const proto_heartbeat_resp *)body)->error_code;
  switch (err) {
  case KERR_NONE:
    return;
  case KERR_REBALANCE_IN_PROGRESS:
    env_log(g->c->env, ENV_LOG_DEBUG, "kclient: group %s: rebalance",
            g->group_id);
    kclient__group_rejoin(g, true);
    return;
  case KERR_UNKNOWN_MEMBER_ID:
    g_free(g->member_id);
    g->member_id = g_strdup("");
    kclient__group_rejoin(g, false);
    return;
  case KERR_ILLEGAL_GENERATION:
    kclient__group_rejoin(g, false);
    return;
  default:
    if (kclient__coord_err(err)) {
      kclient__group_coord_lost(g, err,
                                err < 0 ? errmsg : kclient_err_name(err));
      if (!g->req && !g->step_timer)
        kclient__group_step_later(g, 0);
    }
    return;
  }
}

/* The leader: true when a subscribed topic's partition count differs
 * from the one its assignment used (then the group must rebalance). Asks
 * for fresh metadata every KCLIENT__GROUP_METADATA_CHECK_MS. */
static bool kclient__group_partitions_changed(kclient_group_t *g) {
  if (!g->members)
    return false;
  uint64_t now = kclient__now_ns(g->c);
  if (now - g->metadata_checked_ns >=
      (uint64_t)KCLIENT__GROUP_METADATA_CHECK_MS * KCLIENT__NS_PER_MS) {
    g->metadata_checked_ns = now;
    kclient__metadata_refresh(g->c);
  }
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init(&it, g->assigned_counts);
  while (g_hash_table_iter_next(&it, &key, &value)) {
    kclient__topic *kt = kclient__topic_find(g->c, key);
    if (kt && kt->metadata_known && kt->partition_count >= 0 &&
        kt->partition_count != GPOINTER_TO_INT(value))
      return true;
  }
  return false;
}

static void kclient__group_hb_fired(void *arg) {
  kclient_group_t *g = arg;
  g->hb_timer = 0;
  kclient__enter(g->c);
  if (g->state == KCLIENT__G_STABLE && g->positions_known &&
      kclient__group_partitions_changed(g)) {
    env_log(g->c->env, ENV_LOG_INFO,
            "kclient: group %s: subscribed partitions changed, rebalancing",
            g->group_id);
    kclient__group_rejoin(g, true);
    kclient__leave(g->c);
    return;
  }
  if (g->state == KCLIENT__G_STABLE) {
    if (!g->hb_req && g->coord_id >= 0) {
      kclient__conn *conn = kclient__group_conn(g);
      if (conn)
        g->hb_req =
            kclient__conn_submit(conn, PROTO_API_HEARTBEAT, kclient__hb_build,
                                 kclient__hb_done, g, false, 0);
    } else if (g->coord_id < 0 && !g->req && !g->step_timer) {
      kclient__group_step_later(g, 0);
    }
    kclient__group_hb_arm(g);
  }
  kclient__leave(g->c);
}

static void kclient__group_hb_arm(kclient_group_t *g) {
  kclient__group_timer_cancel(g, &g->hb_timer);
  g->hb_timer = env_timer_start(
      g->c->env, (uint64_t)g->cfg.heartbeat_interval_ms * KCLIENT__NS_PER_MS,
      kclient__group_hb_fired, g);
}

/* -------------------------------------------------------- OffsetCommit */

static void *kclient__commit_build(void *ctx, int16_t version, proto_arena *a) {
  kclient__gcommit *cm = ctx;
  kclient_group_t *g = cm->g;
  proto_offset_commit_req *req = PROTO_NEW(a, proto_offset_commit_req);
  if (!req)
    return NULL;
  req->group_id = proto_str_from(g->group_id);
  req->generation_id_or_member_epoch = cm->generation;
  req->member_id = proto_str_from(cm->member_id);
  req->group_instance_id = PROTO_STR_NULL;
  req->retention_time_ms = -1;
  guint n = cm->offsets->len;
  req->topics.items =
      PROTO_NEW_ARRAY(a, proto_offset_commit_req_topic, (int32_t)n);
  if (!req->topics.items)
    return NULL;
  int32_t ti = -1;
  for (guint i = 0, j; i < n; i = j) {
    const kclient__goffset *o =
        &g_array_index(cm->offsets, kclient__goffset, i);
    for (j = i;
         j < n &&
         g_array_index(cm->offsets, kclient__goffset, j).topic == o->topic;
         j++)
      ;
    proto_offset_commit_req_topic *t = &req->topics.items[++ti];
    t->name = proto_str_from(o->topic);
    t->partitions.count = (int32_t)(j - i);
    t->partitions.items =
        PROTO_NEW_ARRAY(a, proto_offset_commit_req_partition, (int32_t)(j - i));
    if (!t->partitions.items)
      return NULL;
    for (guint k = i; k < j; k++) {
      const kclient__goffset *ok =
          &g_array_index(cm->offsets, kclient__goffset, k);
      proto_offset_commit_req_partition *p = &t->partitions.items[k - i];
      p->partition_index = ok->partition;
      p->committed_offset = ok->offset;
      p->committed_leader_epoch = -1;
      p->commit_timestamp = -1;
      p->committed_metadata = PROTO_STR_LIT("");
    }
  }
  req->topics.count = ti + 1;
  (void)version;
  return req;
}

static void kclient__commit_attempt(kclient__gcommit *cm);

static void kclient__commit_finish(kclient__gcommit *cm, int err,
                                   const char *errmsg) {
  kclient_group_t *g = cm->g;
  g_queue_unlink(&g->commits, &cm->link);
  if (g->auto_commit_in_flight == cm)
    g->auto_commit_in_flight = NULL;
  kclient__group_timer_cancel(g, &cm->timer);
  if (err)
    env_log(g->c->env, ENV_LOG_DEBUG, "kclient: group %s: commit: %s",
            g->group_id, errmsg);
  if (cm->cb)
    cm->cb(cm->arg, err, err ? errmsg : "");
  g_array_free(cm->offsets, TRUE);
  g_free(cm->member_id);
  g_free(cm);
}

static void kclient__commit_fired(void *arg) {
  kclient__gcommit *cm = arg;
  kclient_t *c = cm->g->c;
  cm->timer = 0;
  kclient__enter(c);
  kclient__commit_attempt(cm);
  kclient__leave(c);
}

static void kclient__commit_retry(kclient__gcommit *cm, int err,
                                  const char *errmsg) {
  kclient_group_t *g = cm->g;
  if (cm->attempts >= KCLIENT__GROUP_COMMIT_ATTEMPTS_MAX) {
    kclient__commit_finish(cm, err, errmsg);
    return;
  }
  cm->timer = env_timer_start(
      g->c->env,
      kclient__backoff_ns(g->c, g->c->cfg.retry_backoff_ms,
                          g->c->cfg.retry_backoff_max_ms, cm->attempts),
      kclient__commit_fired, cm);
}

static void kclient__commit_done(void *ctx, int err, const char *errmsg,
                                 int16_t version, void *body) {
  kclient__gcommit *cm = ctx;
  kclient_group_t *g = cm->g;
  (void)version;
  cm->req = NULL;
  char msg[KCLIENT_ERRMSG_BYTES];
  if (!err) {
    const proto_offset_commit_resp *resp = body;
    for (int32_t i = 0; !err && i < resp->topics.count; i++)
      for (int32_t k = 0; !err && k < resp->topics.items[i].partitions.count;
           k++)
        err = resp->topics.items[i].partitions.items[k].error_code;
    if (err)
      kclient__errmsg(msg, err, "OffsetCommit of group %s: %s", g->group_id,
                      kclient_err_name(err));
  } else {
    g_strlcpy(msg, errmsg, sizeof msg);
  }
  if (err && kclient__coord_err(err)) {
    kclient__group_coord_lost(g, err, msg);
    kclient__commit_retry(cm, err, msg);
    return;
  }
  kclient__commit_finish(cm, err, msg);
}

static void kclient__commit_attempt(kclient__gcommit *cm) {
  kclient_group_t *g = cm->g;
  cm->attempts++;
  if (cm->settled) {
    kclient__commit_finish(cm, cm->settled_err, cm->settled_errmsg);
    return;
  }
  if (g->coord_id < 0) {
    /* The group's own step finds the coordinator again (if it runs). */
    if (g->state == KCLIENT__G_STABLE && !g->req && !g->step_timer)
      kclient__group_step_later(g, 0);
    char msg[KCLIENT_ERRMSG_BYTES];
    kclient__errmsg(msg, KERR_COORDINATOR_NOT_AVAILABLE,
                    "OffsetCommit of group %s: coordinator unknown",
                    g->group_id);
    kclient__commit_retry(cm, KERR_COORDINATOR_NOT_AVAILABLE, msg);
    return;
  }
  kclient__conn *conn = kclient__group_conn(g);
  if (!conn) {
    char msg[KCLIENT_ERRMSG_BYTES];
    kclient__errmsg(msg, KERR_COORDINATOR_NOT_AVAILABLE,
                    "OffsetCommit of group %s: coordinator %d not known yet",
                    g->group_id, g->coord_id);
    kclient__commit_retry(cm, KERR_COORDINATOR_NOT_AVAILABLE, msg);
    return;
  }
  cm->req =
      kclient__conn_submit(conn, PROTO_API_OFFSET_COMMIT, kclient__commit_build,
                           kclient__commit_done, cm, false, 0);
}

/* Snapshots the positions of the assignment into a new commit and sends
 * it on the next turn. */
static kclient__gcommit *kclient__commit_start(kclient_group_t *g,
                                               kclient_done_cb cb, void *arg) {
  kclient__gcommit *cm = g_new0(kclient__gcommit, 1);
  cm->g = g;
  cm->cb = cb;
  cm->arg = arg;
  cm->offsets = g_array_new(FALSE, FALSE, sizeof(kclient__goffset));
  cm->generation = g->generation;
  cm->member_id = g_strdup(g->member_id);
  cm->link.data = cm;
  if (g->cons && g->positions_known)
    for (guint i = 0; i < g->assigned->len; i++) {
      const kclient_topic_partition *tp =
          &g_array_index(g->assigned, kclient_topic_partition, i);
      int64_t pos =
          kclient_consumer_position(g->cons, tp->topic, tp->partition);
      if (pos >= 0) {
        kclient__goffset o = {tp->topic, tp->partition, pos};
        g_array_append_val(cm->offsets, o);
      }
    }
  g_queue_push_tail_link(&g->commits, &cm->link);
  int err = 0;
  const char *why = "";
  if (g->state != KCLIENT__G_STABLE && g->state != KCLIENT__G_REVOKING &&
      g->state != KCLIENT__G_CLOSING) {
    err = KERR_REBALANCE_IN_PROGRESS;
    why = "the member is between generations";
  }
  if (err || cm->offsets->len == 0) {
    /* Nothing to send: answer on the next turn. */
    cm->settled = true;
    cm->settled_err = err;
    if (err)
      kclient__errmsg(cm->settled_errmsg, err, "OffsetCommit of group %s: %s",
                      g->group_id, why);
  }
  cm->timer = env_timer_start(g->c->env, 0, kclient__commit_fired, cm);
  return cm;
}

static void kclient__group_commit_fired(void *arg) {
  kclient_group_t *g = arg;
  g->commit_timer = 0;
  kclient__enter(g->c);
  if (g->state == KCLIENT__G_STABLE) {
    if (!g->auto_commit_in_flight && g->positions_known)
      g->auto_commit_in_flight = kclient__commit_start(g, NULL, NULL);
    kclient__group_commit_arm(g);
  }
  kclient__leave(g->c);
}

static void kclient__group_commit_arm(kclient_group_t *g) {
  kclient__group_timer_cancel(g, &g->commit_timer);
  if (!g->cfg.auto_commit)
    return;
  g->commit_timer = env_timer_start(
      g->c->env, (uint64_t)g->cfg.auto_commit_interval_ms * KCLIENT__NS_PER_MS,
      kclient__group_commit_fired, g);
}

/* ----------------------------------------------------------- rebalance */

static void kclient__group_give_up(kclient_group_t *g) {
  kclient_consumer_free(g->cons);
  g->cons = NULL;
  if (g->assigned->len && g->positions_known && g->cfg.on_revoked)
    g->cfg.on_revoked(g->cfg.arg,
                      (const kclient_topic_partition *)g->assigned->data,
                      g->assigned->len);
  g_array_set_size(g->assigned, 0);
  g->positions_known = false;
}

static void kclient__group_revoke_committed(void *arg, int err,
                                            const char *errmsg) {
  kclient_group_t *g = arg;
  (void)err;
  (void)errmsg;
  if (g->state != KCLIENT__G_REVOKING)
    return;
  kclient__group_give_up(g);
  g->state = KCLIENT__G_JOIN;
  kclient__group_step_later(g, 0);
}

static void kclient__group_rejoin(kclient_group_t *g, bool commit) {
  kclient__group_timer_cancel(g, &g->hb_timer);
  kclient__group_timer_cancel(g, &g->commit_timer);
  if (g->req) {
    kclient__req_cancel(g->req);
    g->req = NULL;
  }
  if (commit && g->cfg.auto_commit && g->cons && g->positions_known) {
    kclient_consumer_pause(g->cons);
    g->state = KCLIENT__G_REVOKING;
    kclient__commit_start(g, kclient__group_revoke_committed, g);
    return;
  }
  kclient__group_give_up(g);
  g->state = KCLIENT__G_JOIN;
  kclient__group_step_later(g, 0);
}

/* ----------------------------------------------------------------- step */

static void kclient__group_send(kclient_group_t *g, int16_t api_key,
                                kclient__build_fn build, kclient__resp_fn done,
                                uint32_t extra_ms) {
  kclient__conn *conn = kclient__group_conn(g);
  if (!conn) {
    kclient__group_backoff(g);
    return;
  }
  g->req = kclient__conn_submit(conn, api_key, build, done, g, false, extra_ms);
}

static void kclient__group_step(kclient_group_t *g) {
  if (g->req)
    return;
  switch (g->state) {
  case KCLIENT__G_JOIN:
  case KCLIENT__G_SYNC:
  case KCLIENT__G_STABLE:
    break;
  case KCLIENT__G_CLOSING:
    kclient__group_leave(g);
    return;
  default:
    return;
  }
  if (g->coord_id < 0) {
    kclient__group_send(g, PROTO_API_FIND_COORDINATOR, kclient__find_build,
                        kclient__find_done, 0);
    return;
  }
  switch (g->state) {
  case KCLIENT__G_JOIN:
    kclient__group_send(g, PROTO_API_JOIN_GROUP, kclient__join_build,
                        kclient__join_done, g->cfg.rebalance_timeout_ms);
    return;
  case KCLIENT__G_SYNC:
    if (g->members) {
      if (!kclient__group_metadata_ready(g) &&
          ++g->metadata_polls < KCLIENT__GROUP_METADATA_POLLS_MAX) {
        kclient__metadata_refresh(g->c);
        kclient__group_step_later(g, (uint64_t)KCLIENT__GROUP_METADATA_POLL_MS *
                                         KCLIENT__NS_PER_MS);
        return;
      }
      kclient__group_assign_range(g);
    }
    kclient__group_send(g, PROTO_API_SYNC_GROUP, kclient__sync_build,
                        kclient__sync_done, g->cfg.rebalance_timeout_ms);
    return;
  case KCLIENT__G_STABLE:
    if (!g->positions_known)
      kclient__group_send(g, PROTO_API_OFFSET_FETCH, kclient__ofetch_build,
                          kclient__ofetch_done, 0);
    return;
  default:
    return;
  }
}

/* ----------------------------------------------------------- LeaveGroup */

static void *kclient__leave_build(void *ctx, int16_t version, proto_arena *a) {
  kclient_group_t *g = ctx;
  proto_leave_group_req *req = PROTO_NEW(a, proto_leave_group_req);
  if (!req)
    return NULL;
  req->group_id = proto_str_from(g->group_id);
  if (version < 3) {
    req->member_id = proto_str_from(g->member_id);
    return req;
  }
  req->members.items =
      PROTO_NEW_ARRAY(a, proto_leave_group_req_member_identity, 1);
  if (!req->members.items)
    return NULL;
  req->members.count = 1;
  req->members.items[0].member_id = proto_str_from(g->member_id);
  req->members.items[0].group_instance_id = PROTO_STR_NULL;
  req->members.items[0].reason = PROTO_STR_LIT("the consumer is closing");
  return req;
}

static void kclient__group_closed(kclient_group_t *g) {
  g->state = KCLIENT__G_CLOSED;
  kclient__group_timer_cancel(g, &g->step_timer);
  if (g->close_cb)
    g->close_cb(g->close_arg, g->close_err,
                g->close_err ? g->close_errmsg : "");
  g->close_cb = NULL;
}

static void kclient__leave_done(void *ctx, int err, const char *errmsg,
                                int16_t version, void *body) {
  kclient_group_t *g = ctx;
  (void)version;
  g->req = NULL;
  if (!err)
    err = ((const proto_leave_group_resp *)body)->error_code;
  if (err && !g->close_err) {
    g->close_err = err;
    if (err < 0)
      g_strlcpy(g->close_errmsg, errmsg, sizeof g->close_errmsg);
    else
      kclient__errmsg(g->close_errmsg, err, "LeaveGroup of group %s: %s",
                      g->group_id, kclient_err_name(err));
  }
  kclient__group_closed(g);
}

static void kclient__group_leave(kclient_group_t *g) {
  kclient__conn *conn = g->coord_id >= 0 ? kclient__group_conn(g) : NULL;
  if (!g->member_id[0] || !conn) {
    kclient__group_closed(g);
    return;
  }
  g->req =
      kclient__conn_submit(conn, PROTO_API_LEAVE_GROUP, kclient__leave_build,
                           kclient__leave_done, g, false, 0);
}

static void kclient__group_close_committed(void *arg, int err,
                                           const char *errmsg) {
  kclient_group_t *g = arg;
  if (err && !g->close_err) {
    g->close_err = err;
    g_strlcpy(g->close_errmsg, errmsg, sizeof g->close_errmsg);
  }
  kclient__group_give_up(g);
  kclient__group_leave(g);
}

static void kclient__group_close_fired(void *arg) {
  kclient_group_t *g = arg;
  g->step_timer = 0;
  kclient__enter(g->c);
  bool commit = g->state == KCLIENT__G_STABLE && g->cfg.auto_commit &&
                g->cons && g->positions_known;
  kclient__gstate was = g->state;
  kclient__group_timer_cancel(g, &g->hb_timer);
  kclient__group_timer_cancel(g, &g->commit_timer);
  if (g->req) {
    kclient__req_cancel(g->req);
    g->req = NULL;
  }
  g->state = KCLIENT__G_CLOSING;
  if (was == KCLIENT__G_FAILED || was == KCLIENT__G_CLOSED) {
    kclient__group_give_up(g);
    kclient__group_closed(g);
  } else if (commit) {
    kclient_consumer_pause(g->cons);
    kclient__commit_start(g, kclient__group_close_committed, g);
  } else {
    kclient__group_give_up(g);
    kclient__group_leave(g);
  }
  kclient__leave(g->c);
}

/* ------------------------------------------------------------------ API */

void kclient_group_config_default(kclient_group_config *cfg) {
  SL_ASSERT(cfg);
  memset(cfg, 0, sizeof *cfg);
  cfg->session_timeout_ms = 10000;
  cfg->rebalance_timeout_ms = 30000;
  cfg->heartbeat_interval_ms = 3000;
  cfg->auto_commit = true;
  cfg->auto_commit_interval_ms = 5000;
  cfg->auto_offset_reset = KCLIENT_OFFSET_EARLIEST;
  kclient_consumer_config_default(&cfg->consumer);
}

static int kclient__group_config_check(const kclient_group_config *cfg,
                                       char *errmsg) {
  if (!cfg->group_id || !cfg->group_id[0]) {
    kclient__errmsg(errmsg, -EINVAL, "a group id is required");
    return -EINVAL;
  }
  if (!cfg->topics || cfg->topic_count == 0 ||
      cfg->topic_count > KCLIENT_GROUP_TOPICS_MAX) {
    kclient__errmsg(errmsg, -EINVAL, "subscribe to 1..%d topics",
                    KCLIENT_GROUP_TOPICS_MAX);
    return -EINVAL;
  }
  for (size_t i = 0; i < cfg->topic_count; i++)
    if (!cfg->topics[i] || !cfg->topics[i][0] ||
        strlen(cfg->topics[i]) > KCLIENT__TOPIC_NAME_BYTES_MAX) {
      kclient__errmsg(errmsg, -EINVAL, "bad topic name in the subscription");
      return -EINVAL;
    }
  if (!cfg->consumer.on_record) {
    kclient__errmsg(errmsg, -EINVAL, "consumer.on_record is required");
    return -EINVAL;
  }
  if (cfg->session_timeout_ms == 0 || cfg->heartbeat_interval_ms == 0 ||
      cfg->heartbeat_interval_ms >= cfg->session_timeout_ms ||
      cfg->rebalance_timeout_ms == 0 || cfg->session_timeout_ms > INT32_MAX ||
      cfg->rebalance_timeout_ms > INT32_MAX) {
    kclient__errmsg(errmsg, -EINVAL,
                    "need 0 < heartbeat_interval_ms < session_timeout_ms and "
                    "rebalance_timeout_ms > 0");
    return -EINVAL;
  }
  if (cfg->auto_commit && cfg->auto_commit_interval_ms == 0) {
    kclient__errmsg(errmsg, -EINVAL, "auto_commit_interval_ms must be > 0");
    return -EINVAL;
  }
  if (cfg->auto_offset_reset != KCLIENT_OFFSET_EARLIEST &&
      cfg->auto_offset_reset != KCLIENT_OFFSET_LATEST) {
    kclient__errmsg(errmsg, -EINVAL,
                    "auto_offset_reset must be earliest or latest");
    return -EINVAL;
  }
  return 0;
}

int kclient_group_new(kclient_t *c, const kclient_group_config *cfg,
                      kclient_group_t **out, char *errmsg) {
  SL_ASSERT(c && cfg && out);
  char scratch[KCLIENT_ERRMSG_BYTES];
  if (!errmsg)
    errmsg = scratch;
  errmsg[0] = '\0';
  *out = NULL;
  int rc = kclient__group_config_check(cfg, errmsg);
  if (rc)
    return rc;
  kclient_group_t *g = g_new0(kclient_group_t, 1);
  g->c = c;
  g->cfg = *cfg;
  g->group_id = g_strdup(cfg->group_id);
  g->cfg.group_id = g->group_id;
  g->topics = g_new0(char *, cfg->topic_count + 1);
  size_t n = 0;
  for (size_t i = 0; i < cfg->topic_count; i++)
    if (!kclient__strv_has(g->topics, cfg->topics[i]))
      g->topics[n++] = g_strdup(cfg->topics[i]);
  qsort(g->topics, n, sizeof *g->topics, kclient__cstr_cmp);
  g->cfg.topics = (const char *const *)g->topics;
  g->cfg.topic_count = n;
  g->names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  g->assigned_counts =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  g->coord_id = -1;
  g->member_id = g_strdup("");
  g->leader_id = g_strdup("");
  g->generation = -1;
  g->assigned = g_array_new(FALSE, FALSE, sizeof(kclient_topic_partition));
  g->state = KCLIENT__G_JOIN;
  g_queue_init(&g->commits);
  for (size_t i = 0; i < n; i++)
    kclient__topic_get(c, g->topics[i]);
  kclient__group_step_later(g, 0);
  *out = g;
  return 0;
}

void kclient_group_commit(kclient_group_t *g, kclient_done_cb cb, void *arg) {
  SL_ASSERT(g);
  kclient__commit_start(g, cb, arg);
}

void kclient_group_close(kclient_group_t *g, kclient_done_cb cb, void *arg) {
  SL_ASSERT(g && !g->close_cb);
  g->close_cb = cb;
  g->close_arg = arg;
  if (g->state == KCLIENT__G_CLOSING) {
    return;
  }
  kclient__group_timer_cancel(g, &g->step_timer);
  g->step_timer = env_timer_start(g->c->env, 0, kclient__group_close_fired, g);
}

void kclient_group_free(kclient_group_t *g) {
  if (!g)
    return;
  kclient__group_timer_cancel(g, &g->step_timer);
  kclient__group_timer_cancel(g, &g->hb_timer);
  kclient__group_timer_cancel(g, &g->commit_timer);
  if (g->req)
    kclient__req_cancel(g->req);
  if (g->hb_req)
    kclient__req_cancel(g->hb_req);
  while (!g_queue_is_empty(&g->commits)) {
    /* The links are embedded in the commits: pop the link, not the
     * data (g_queue_pop_head would free the link). */
    kclient__gcommit *cm = g_queue_pop_head_link(&g->commits)->data;
    if (cm->req)
      kclient__req_cancel(cm->req);
    kclient__group_timer_cancel(g, &cm->timer);
    g_array_free(cm->offsets, TRUE);
    g_free(cm->member_id);
    g_free(cm);
  }
  kclient_consumer_free(g->cons);
  if (g->members)
    g_ptr_array_free(g->members, TRUE);
  g_array_free(g->assigned, TRUE);
  g_hash_table_destroy(g->names);
  g_hash_table_destroy(g->assigned_counts);
  g_strfreev(g->topics);
  g_free(g->group_id);
  g_free(g->member_id);
  g_free(g->leader_id);
  g_free(g);
}

void kclient_group_pause(kclient_group_t *g) {
  SL_ASSERT(g);
  g->paused = true;
  if (g->cons)
    kclient_consumer_pause(g->cons);
}

void kclient_group_resume(kclient_group_t *g) {
  SL_ASSERT(g);
  g->paused = false;
  if (g->cons && g->state == KCLIENT__G_STABLE)
    kclient_consumer_resume(g->cons);
}

bool kclient_group_is_stable(const kclient_group_t *g) {
  return g->state == KCLIENT__G_STABLE && g->positions_known;
}

int32_t kclient_group_generation(const kclient_group_t *g) {
  return g->generation;
}

const char *kclient_group_member_id(const kclient_group_t *g) {
  return g->member_id;
}

size_t kclient_group_assignment(const kclient_group_t *g,
                                const kclient_topic_partition **out) {
  *out = (const kclient_topic_partition *)g->assigned->data;
  return g->assigned->len;
}

uint64_t kclient_group_rebalances(const kclient_group_t *g) {
  return g->rebalances;
}

/* ---------------------------------------------- ConsumerProtocol codecs */

static char *kclient__get_str(buf_reader_t *r) {
  int16_t len = (int16_t)buf_get_be16(r);
  if (r->error || len < 0) {
    buf_reader_fail(r);
    return NULL;
  }
  const uint8_t *p = buf_get_bytes(r, (size_t)len);
  if (!p)
    return NULL;
  if (memchr(p, '\0', (size_t)len)) {
    buf_reader_fail(r);
    return NULL;
  }
  return g_strndup((const char *)p, (gsize)len);
}

int kclient_subscription_decode(const uint8_t *p, size_t len, char ***topics) {
  SL_ASSERT(topics);
  *topics = NULL;
  if (len > KCLIENT__GROUP_PROTOCOL_BYTES_MAX)
    return -EPROTO;
  buf_reader_t r;
  buf_reader_init(&r, len ? p : NULL, len);
  int16_t version = (int16_t)buf_get_be16(&r);
  int32_t n = (int32_t)buf_get_be32(&r);
  if (r.error || version < 0 || n < 0 || n > KCLIENT_GROUP_TOPICS_MAX)
    return -EPROTO;
  char **out = g_new0(char *, (gsize)n + 1);
  for (int32_t i = 0; i < n; i++) {
    out[i] = kclient__get_str(&r);
    if (!out[i]) {
      g_strfreev(out);
      return -EPROTO;
    }
  }
  *topics = out;
  return 0;
}

int kclient_assignment_decode(const uint8_t *p, size_t len,
                              kclient_assignment *out) {
  SL_ASSERT(out);
  out->tps = NULL;
  out->count = 0;
  if (len > KCLIENT__GROUP_PROTOCOL_BYTES_MAX)
    return -EPROTO;
  buf_reader_t r;
  buf_reader_init(&r, len ? p : NULL, len);
  int16_t version = (int16_t)buf_get_be16(&r);
  int32_t n = (int32_t)buf_get_be32(&r);
  if (r.error || version < 0 || n < 0 || n > KCLIENT_GROUP_TOPICS_MAX)
    return -EPROTO;
  GArray *tps = g_array_new(FALSE, FALSE, sizeof(kclient_topic_partition));
  for (int32_t i = 0; i < n; i++) {
    char *topic = kclient__get_str(&r);
    int32_t np = (int32_t)buf_get_be32(&r);
    if (!topic || r.error || np < 0 || np > KCLIENT__GROUP_PARTITIONS_MAX ||
        tps->len + (guint)np > KCLIENT__GROUP_PARTITIONS_MAX) {
      g_free(topic);
      goto out_fail;
    }
    for (int32_t k = 0; k < np; k++) {
      int32_t part = (int32_t)buf_get_be32(&r);
      if (r.error || part < 0) {
        g_free(topic);
        goto out_fail;
      }
      kclient_topic_partition tp = {g_strdup(topic), part};
      g_array_append_val(tps, tp);
    }
    g_free(topic);
  }
  out->count = tps->len;
  out->tps = (kclient_topic_partition *)g_array_free(tps, FALSE);
  return 0;
out_fail:
  for (guint i = 0; i < tps->len; i++)
    g_free((char *)g_array_index(tps, kclient_topic_partition, i).topic);
  g_array_free(tps, TRUE);
  return -EPROTO;
}

void kclient_assignment_free(kclient_assignment *a) {
  if (!a)
    return;
  for (size_t i = 0; i < a->count; i++)
    g_free((char *)a->tps[i].topic);
  g_free(a->tps);
  a->tps = NULL;
  a->count = 0;
}
