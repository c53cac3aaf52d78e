/*
 * group.c — groups, members and the classic rebalance protocol (Kafka's
 * GroupCoordinator / GroupMetadata, KAFKA-NOTES §8).
 *
 * A rebalance: the group enters PreparingRebalance (a join from a new or
 * changed member, a member leaving or expiring); every member must rejoin
 * (its JoinGroup parks) before the rebalance timer (the largest rebalance
 * timeout among the members) fires; then members that did not rejoin are
 * dropped, the generation goes up, a protocol every member supports is
 * chosen, and all parked joins are answered (the leader with everyone's
 * metadata). The group waits in CompletingRebalance for the leader's
 * SyncGroup; followers' syncs park until it comes, then all get their
 * assignment and the group is Stable. A group's very first rebalance waits
 * group.initial.rebalance.delay.ms so that consumers starting together
 * land in one generation.
 *
 * Answers to parked requests never run inside another request's call:
 * they are queued on the coordinator and delivered by a zero-delay timer
 * (the broker requires parked requests to complete from env callbacks).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "broker/group/group_internal.h"
#include "broker/kerr.h"

#define MS_TO_NS UINT64_C(1000000)

enum { WAIT_JOIN = 1, WAIT_SYNC = 2 };

struct group_waiter {
  group_coord *c;
  int kind;
  group__member *m; /* NULL once answered or detached */
  group_join_cb join_cb;
  group_sync_cb sync_cb;
  void *arg;
  bool ready; /* in c->ready */
  /* The answer, copied (owned). */
  int16_t error;
  int32_t generation;
  char *protocol_type, *protocol_name, *leader, *member_id;
  group_join_member *members;
  size_t member_count;
  GBytes *assignment;
};

const char *group_state_name(group_state s) {
  switch (s) {
  case GROUP_EMPTY:
    return "Empty";
  case GROUP_PREPARING_REBALANCE:
    return "PreparingRebalance";
  case GROUP_COMPLETING_REBALANCE:
    return "CompletingRebalance";
  case GROUP_STABLE:
    return "Stable";
  case GROUP_DEAD:
    return "Dead";
  }
  return "Unknown";
}

void group_config_default(group_config *cfg) {
  cfg->session_timeout_min_ms = 6000;
  cfg->session_timeout_max_ms = 1800000;
  cfg->initial_rebalance_delay_ms = 3000;
  cfg->offsets_retention_ms = (int64_t)7 * 24 * 3600 * 1000;
  cfg->offsets_retention_check_ms = 600000;
  cfg->offsets_partitions = 50;
}

int32_t group_partition_for(const char *group_id, int32_t partitions) {
  SL_ASSERT(partitions > 0);
  uint32_t h = 0;
  for (const unsigned char *p = (const unsigned char *)group_id; *p; p++)
    h = 31 * h + *p;
  int32_t hash = (int32_t)h;
  /* Kafka's Utils.abs: Integer.MIN_VALUE maps to 0. */
  int32_t a = hash == INT32_MIN ? 0 : (hash < 0 ? -hash : hash);
  return a % partitions;
}

/* ------------------------------------------------------------- waiters */

static void waiter_free(group_waiter *w) {
  g_free(w->protocol_type);
  g_free(w->protocol_name);
  g_free(w->leader);
  g_free(w->member_id);
  for (size_t i = 0; i < w->member_count; i++) {
    g_free((char *)w->members[i].member_id);
    g_free((char *)w->members[i].group_instance_id);
    g_free((uint8_t *)w->members[i].metadata);
  }
  g_free(w->members);
  if (w->assignment)
    g_bytes_unref(w->assignment);
  g_free(w);
}

static void on_deliver(void *arg) {
  group_coord *c = arg;
  c->deliver_timer = 0;
  group_waiter *w;
  while ((w = g_queue_pop_head(&c->ready)) != NULL) {
    if (w->kind == WAIT_JOIN) {
      group_join_resp r = {
          .error = w->error,
          .generation_id = w->generation,
          .protocol_type = w->protocol_type,
          .protocol_name = w->protocol_name,
          .leader = w->leader ? w->leader : "",
          .member_id = w->member_id ? w->member_id : "",
          .members = w->members,
          .member_count = w->member_count,
      };
      w->join_cb(w->arg, &r);
    } else {
      gsize len = 0;
      const uint8_t *data =
          w->assignment ? g_bytes_get_data(w->assignment, &len) : NULL;
      group_sync_resp r = {
          .error = w->error,
          .protocol_type = w->protocol_type,
          .protocol_name = w->protocol_name,
          .assignment = data ? data : (const uint8_t *)"",
          .assignment_len = len,
      };
      w->sync_cb(w->arg, &r);
    }
    waiter_free(w);
  }
}

/* Detaches w from its member and queues it for delivery. */
static void waiter_ready(group_waiter *w) {
  SL_ASSERT(!w->ready);
  if (w->m) {
    if (w->m->join_waiter == w)
      w->m->join_waiter = NULL;
    if (w->m->sync_waiter == w)
      w->m->sync_waiter = NULL;
    w->m = NULL;
  }
  w->ready = true;
  g_queue_push_tail(&w->c->ready, w);
  if (!w->c->deliver_timer)
    w->c->deliver_timer = env_timer_start(w->c->env, 0, on_deliver, w->c);
}

void group_waiter_cancel(group_waiter *w) {
  if (!w)
    return;
  if (w->ready) {
    g_queue_remove(&w->c->ready, w);
  } else if (w->m) {
    if (w->m->join_waiter == w)
      w->m->join_waiter = NULL;
    if (w->m->sync_waiter == w)
      w->m->sync_waiter = NULL;
  }
  waiter_free(w);
}

static void waiter_fail(group_waiter *w, int16_t error, const char *member_id) {
  w->error = error;
  w->generation = -1;
  w->member_id = g_strdup(member_id ? member_id : "");
  waiter_ready(w);
}

/* ------------------------------------------------------------- members */

static bool member_supports(const group__member *m, const char *name) {
  for (size_t i = 0; i < m->protocol_count; i++)
    if (strcmp(m->protocol_names[i], name) == 0)
      return true;
  return false;
}

static GBytes *member_metadata(const group__member *m, const char *name) {
  for (size_t i = 0; i < m->protocol_count; i++)
    if (strcmp(m->protocol_names[i], name) == 0)
      return m->protocol_metas[i];
  return NULL;
}

static void member_protocols_clear(group__member *m) {
  for (size_t i = 0; i < m->protocol_count; i++) {
    g_free(m->protocol_names[i]);
    g_bytes_unref(m->protocol_metas[i]);
  }
  g_free(m->protocol_names);
  g_free(m->protocol_metas);
  m->protocol_names = NULL;
  m->protocol_metas = NULL;
  m->protocol_count = 0;
}

static void member_protocols_set(group__member *m, const group_protocol *p,
                                 size_t n) {
  member_protocols_clear(m);
  m->protocol_names = g_new0(char *, n);
  m->protocol_metas = g_new0(GBytes *, n);
  for (size_t i = 0; i < n; i++) {
    m->protocol_names[i] = g_strdup(p[i].name);
    m->protocol_metas[i] = g_bytes_new(p[i].metadata, p[i].metadata_len);
  }
  m->protocol_count = n;
}

/* Same protocols, same order, same metadata. */
static bool member_protocols_equal(const group__member *m,
                                   const group_protocol *p, size_t n) {
  if (m->protocol_count != n)
    return false;
  for (size_t i = 0; i < n; i++) {
    gsize len = 0;
    const void *d = g_bytes_get_data(m->protocol_metas[i], &len);
    if (strcmp(m->protocol_names[i], p[i].name) != 0 ||
        len != p[i].metadata_len || (len && memcmp(d, p[i].metadata, len)))
      return false;
  }
  return true;
}

static void member_free(gpointer p) {
  group__member *m = p;
  group_coord *c = m->g->c;
  env_timer_cancel(c->env, m->session_timer);
  if (c->freeing) {
    /* The coordinator goes away: nobody is answered. */
    if (m->join_waiter)
      waiter_free(m->join_waiter);
    if (m->sync_waiter)
      waiter_free(m->sync_waiter);
  } else {
    if (m->join_waiter)
      waiter_fail(m->join_waiter, KERR_UNKNOWN_MEMBER_ID, m->id);
    if (m->sync_waiter)
      waiter_fail(m->sync_waiter, KERR_UNKNOWN_MEMBER_ID, NULL);
  }
  member_protocols_clear(m);
  if (m->assignment)
    g_bytes_unref(m->assignment);
  g_free(m->id);
  g_free(m->instance_id);
  g_free(m->client_id);
  g_free(m->client_host);
  g_free(m);
}

static group__member *member_by_instance(group__group *g, const char *inst) {
  group__member *found = NULL;
  GTreeNode *n = g_tree_node_first(g->members);
  for (; n && !found; n = g_tree_node_next(n)) {
    group__member *m = g_tree_node_value(n);
    if (m->instance_id && strcmp(m->instance_id, inst) == 0)
      found = m;
  }
  return found;
}

static char *member_id_new(group_coord *c, const char *client_id) {
  uint64_t hi = env_rand_u64(c->env), lo = env_rand_u64(c->env);
  return g_strdup_printf(
      "%s-%08" PRIx32 "-%04" PRIx32 "-%04" PRIx32 "-%04" PRIx32 "-%012" PRIx64,
      client_id && *client_id ? client_id : "member", (uint32_t)(hi >> 32),
      (uint32_t)(hi >> 16) & 0xffff, (uint32_t)hi & 0xffff,
      (uint32_t)(lo >> 48), lo & UINT64_C(0xffffffffffff));
}

/* -------------------------------------------------------------- groups */

static gint str_cmp(gconstpointer a, gconstpointer b, gpointer unused) {
  (void)unused;
  return strcmp(a, b);
}

static void group_free(gpointer p) {
  group__group *g = p;
  env_timer_cancel(g->c->env, g->rebalance_timer);
  g_tree_destroy(g->members);
  g_tree_destroy(g->pending_ids);
  g_tree_destroy(g->offsets);
  g_free(g->protocol_type);
  g_free(g->protocol_name);
  g_free(g->leader_id);
  g_free(g->id);
  g_free(g);
}

group__group *group__find(group_coord *c, const char *id) {
  return g_tree_lookup(c->groups, id);
}

group__group *group__create(group_coord *c, const char *id) {
  if ((size_t)g_tree_nnodes(c->groups) >= GROUP_COUNT_MAX)
    return NULL;
  group__group *g = g_new0(group__group, 1);
  g->c = c;
  g->id = g_strdup(id);
  g->state = GROUP_EMPTY;
  g->members = g_tree_new_full(str_cmp, NULL, NULL, member_free);
  g->pending_ids = g_tree_new_full(str_cmp, NULL, g_free, NULL);
  g->offsets = g_tree_new_full(group__offset_key_cmp, NULL,
                               group__offset_key_free, group__offset_val_free);
  g->state_ms = env_wall_ms(c->env);
  g_tree_insert(c->groups, g->id, g);
  return g;
}

void group__remove(group_coord *c, group__group *g) {
  g_tree_remove(c->groups, g->id);
}

static void set_state(group__group *g, group_state s) {
  if (g->state != s)
    env_trace(g->c->env, "group", "%s %s -> %s gen %d", g->id,
              group_state_name(g->state), group_state_name(s), g->generation);
  g->state = s;
  g->state_ms = env_wall_ms(g->c->env);
}

group_coord *group_coord_new(env_t *env, const group_config *cfg,
                             const group_store *store) {
  SL_ASSERT(env && cfg);
  SL_ASSERT(cfg->offsets_partitions > 0);
  group_coord *c = g_new0(group_coord, 1);
  c->env = env;
  c->cfg = *cfg;
  if (store)
    c->store = *store;
  c->groups = g_tree_new_full(str_cmp, NULL, NULL, group_free);
  g_queue_init(&c->ready);
  buf_init(&c->key);
  buf_init(&c->value);
  return c;
}

void group_coord_free(group_coord *c) {
  if (!c)
    return;
  /* Timers are cancelled (a stopped node's env may run nothing more, but
   * cancelling is always allowed); waiters are freed unanswered. */
  env_timer_cancel(c->env, c->expire_timer);
  env_timer_cancel(c->env, c->deliver_timer);
  c->freeing = true;
  g_tree_destroy(c->groups);
  group_waiter *w;
  while ((w = g_queue_pop_head(&c->ready)) != NULL)
    waiter_free(w);
  buf_free(&c->key);
  buf_free(&c->value);
  g_free(c);
}

bool group_loaded(const group_coord *c) { return c->loaded; }

bool group__fenced(group__group *g, const char *member_id,
                   const char *instance_id, int16_t *err) {
  if (!instance_id)
    return false;
  group__member *m = member_by_instance(g, instance_id);
  if (m && member_id && *member_id && strcmp(m->id, member_id) != 0) {
    *err = KERR_FENCED_INSTANCE_ID;
    return true;
  }
  return false;
}

static void on_session_expired(void *arg);

void group__touch(group__member *m) {
  group_coord *c = m->g->c;
  env_timer_cancel(c->env, m->session_timer);
  m->session_timer =
      env_timer_start(c->env, (uint64_t)m->session_timeout_ms * MS_TO_NS,
                      on_session_expired, m);
}

int group__store_metadata(group__group *g) {
  group_coord *c = g->c;
  buf_clear(&c->key);
  buf_clear(&c->value);
  group__metadata_key_encode(&c->key, g->id);
  group__metadata_value_encode(&c->value, g, env_wall_ms(c->env));
  group_record r = {c->key.data, c->key.len, c->value.data, c->value.len};
  return group__append(c, g->id, &r, 1);
}

/* ----------------------------------------------------------- rebalance */

static void complete_join(group__group *g);
static void prepare_rebalance(group__group *g);

static bool all_joined(group__group *g) {
  GTreeNode *n = g_tree_node_first(g->members);
  for (; n; n = g_tree_node_next(n)) {
    group__member *m = g_tree_node_value(n);
    if (!m->joined)
      return false;
  }
  return true;
}

static void check_join_complete(group__group *g) {
  if (g->state == GROUP_PREPARING_REBALANCE && !g->initial_delay &&
      all_joined(g))
    complete_join(g);
}

static void on_rebalance_timer(void *arg) {
  group__group *g = arg;
  g->rebalance_timer = 0;
  if (g->state != GROUP_PREPARING_REBALANCE)
    return;
  if (g->initial_delay) {
    g->initial_delay = false;
    if (!all_joined(g)) {
      int32_t max_ms = 0;
      GTreeNode *n = g_tree_node_first(g->members);
      for (; n; n = g_tree_node_next(n)) {
        group__member *m = g_tree_node_value(n);
        if (m->rebalance_timeout_ms > max_ms)
          max_ms = m->rebalance_timeout_ms;
      }
      g->rebalance_timer = env_timer_start(
          g->c->env, (uint64_t)max_ms * MS_TO_NS, on_rebalance_timer, g);
      return;
    }
  }
  complete_join(g);
}

static void prepare_rebalance(group__group *g) {
  group_coord *c = g->c;
  if (g->state == GROUP_COMPLETING_REBALANCE) {
    /* The generation being synced is abandoned. */
    GTreeNode *n = g_tree_node_first(g->members);
    for (; n; n = g_tree_node_next(n)) {
      group__member *m = g_tree_node_value(n);
      if (m->sync_waiter)
        waiter_fail(m->sync_waiter, KERR_REBALANCE_IN_PROGRESS, NULL);
      if (m->assignment) {
        g_bytes_unref(m->assignment);
        m->assignment = NULL;
      }
    }
  }
  bool first = g->state == GROUP_EMPTY;
  set_state(g, GROUP_PREPARING_REBALANCE);
  env_timer_cancel(c->env, g->rebalance_timer);
  int32_t delay_ms = 0;
  if (first && c->cfg.initial_rebalance_delay_ms > 0) {
    g->initial_delay = true;
    delay_ms = c->cfg.initial_rebalance_delay_ms;
  } else {
    g->initial_delay = false;
    GTreeNode *n = g_tree_node_first(g->members);
    for (; n; n = g_tree_node_next(n)) {
      group__member *m = g_tree_node_value(n);
      if (m->rebalance_timeout_ms > delay_ms)
        delay_ms = m->rebalance_timeout_ms;
    }
  }
  g->rebalance_timer = env_timer_start(c->env, (uint64_t)delay_ms * MS_TO_NS,
                                       on_rebalance_timer, g);
}

/* The protocol every member supports that most members prefer (ties: the
 * smallest name). NULL if there is none. */
static const char *select_protocol(group__group *g) {
  GTreeNode *first = g_tree_node_first(g->members);
  if (!first)
    return NULL;
  group__member *m0 = g_tree_node_value(first);
  const char *best = NULL;
  size_t best_votes = 0;
  for (size_t i = 0; i < m0->protocol_count; i++) {
    const char *cand = m0->protocol_names[i];
    bool everyone = true;
    GTreeNode *n = first;
    for (; n && everyone; n = g_tree_node_next(n))
      everyone = member_supports(g_tree_node_value(n), cand);
    if (!everyone)
      continue;
    size_t votes = 0;
    for (n = first; n; n = g_tree_node_next(n)) {
      group__member *m = g_tree_node_value(n);
      /* A member votes for its most preferred candidate. */
      for (size_t j = 0; j < m->protocol_count; j++) {
        const char *p = m->protocol_names[j];
        bool ok = true;
        for (GTreeNode *k = first; k && ok; k = g_tree_node_next(k))
          ok = member_supports(g_tree_node_value(k), p);
        if (ok) {
          if (strcmp(p, cand) == 0)
            votes++;
          break;
        }
      }
    }
    if (!best || votes > best_votes ||
        (votes == best_votes && strcmp(cand, best) < 0)) {
      best = cand;
      best_votes = votes;
    }
  }
  return best;
}

static void fill_join_answer(group__group *g, group__member *m,
                             group_waiter *w) {
  w->error = KERR_NONE;
  w->generation = g->generation;
  w->protocol_type = g_strdup(g->protocol_type);
  w->protocol_name = g_strdup(g->protocol_name);
  w->leader = g_strdup(g->leader_id);
  w->member_id = g_strdup(m->id);
  if (!g->leader_id || strcmp(g->leader_id, m->id) != 0)
    return;
  size_t n = (size_t)g_tree_nnodes(g->members), i = 0;
  w->members = g_new0(group_join_member, n);
  GTreeNode *node = g_tree_node_first(g->members);
  for (; node; node = g_tree_node_next(node), i++) {
    group__member *x = g_tree_node_value(node);
    gsize len = 0;
    GBytes *meta = member_metadata(x, g->protocol_name);
    const void *d = meta ? g_bytes_get_data(meta, &len) : NULL;
    w->members[i].member_id = g_strdup(x->id);
    w->members[i].group_instance_id = g_strdup(x->instance_id);
    w->members[i].metadata = g_memdup2(d ? d : "", len);
    w->members[i].metadata_len = len;
  }
  w->member_count = n;
}

static void complete_join(group__group *g) {
  group_coord *c = g->c;
  env_timer_cancel(c->env, g->rebalance_timer);
  g->rebalance_timer = 0;
  g->initial_delay = false;
  /* Drop members that did not rejoin (in id order: deterministic). */
  GPtrArray *gone = g_ptr_array_new();
  GTreeNode *n = g_tree_node_first(g->members);
  for (; n; n = g_tree_node_next(n)) {
    group__member *m = g_tree_node_value(n);
    if (!m->joined)
      g_ptr_array_add(gone, m->id);
  }
  for (guint i = 0; i < gone->len; i++) {
    if (g->leader_id && strcmp(g->leader_id, gone->pdata[i]) == 0) {
      g_free(g->leader_id);
      g->leader_id = NULL;
    }
    g_tree_remove(g->members, gone->pdata[i]);
  }
  g_ptr_array_free(gone, TRUE);

  g->generation++;
  g_free(g->protocol_name);
  g->protocol_name = NULL;
  if (g_tree_nnodes(g->members) == 0) {
    g_free(g->leader_id);
    g->leader_id = NULL;
    set_state(g, GROUP_EMPTY);
    (void)group__store_metadata(g);
    return;
  }
  const char *proto = select_protocol(g);
  if (!proto) {
    /* Only possible if members changed protocols mid-rebalance: fail the
     * joins and start over empty-handed. */
    n = g_tree_node_first(g->members);
    for (; n; n = g_tree_node_next(n)) {
      group__member *m = g_tree_node_value(n);
      m->joined = false;
      if (m->join_waiter)
        waiter_fail(m->join_waiter, KERR_INCONSISTENT_GROUP_PROTOCOL, m->id);
    }
    set_state(g, GROUP_PREPARING_REBALANCE);
    prepare_rebalance(g);
    return;
  }
  g->protocol_name = g_strdup(proto);
  if (!g->leader_id) {
    group__member *first = g_tree_node_value(g_tree_node_first(g->members));
    g->leader_id = g_strdup(first->id);
  }
  set_state(g, GROUP_COMPLETING_REBALANCE);
  n = g_tree_node_first(g->members);
  for (; n; n = g_tree_node_next(n)) {
    group__member *m = g_tree_node_value(n);
    m->joined = false;
    if (m->assignment) {
      g_bytes_unref(m->assignment);
      m->assignment = NULL;
    }
    if (m->join_waiter) {
      group_waiter *w = m->join_waiter;
      fill_join_answer(g, m, w);
      waiter_ready(w);
    }
    group__touch(m);
  }
}

static void remove_member(group__group *g, group__member *m) {
  if (g->leader_id && strcmp(g->leader_id, m->id) == 0) {
    g_free(g->leader_id);
    g->leader_id = NULL;
  }
  g_tree_remove(g->members, m->id);
  switch (g->state) {
  case GROUP_STABLE:
  case GROUP_COMPLETING_REBALANCE:
    prepare_rebalance(g);
    if (g_tree_nnodes(g->members) == 0)
      complete_join(g);
    break;
  case GROUP_PREPARING_REBALANCE:
    check_join_complete(g);
    break;
  default:
    break;
  }
}

static void on_session_expired(void *arg) {
  group__member *m = arg;
  m->session_timer = 0;
  group__group *g = m->g;
  if (m->joined && g->state == GROUP_PREPARING_REBALANCE)
    return; /* waiting for the rebalance: the rebalance timeout governs */
  env_log(g->c->env, ENV_LOG_INFO,
          "group %s: member %s expired (no heartbeat for %d ms)", g->id, m->id,
          m->session_timeout_ms);
  remove_member(g, m);
}

/* ------------------------------------------------------------- JoinGroup */

static group_waiter *waiter_new(group_coord *c, int kind, void *cb, void *arg) {
  group_waiter *w = g_new0(group_waiter, 1);
  w->c = c;
  w->kind = kind;
  if (kind == WAIT_JOIN)
    w->join_cb = (group_join_cb)cb;
  else
    w->sync_cb = (group_sync_cb)cb;
  w->arg = arg;
  return w;
}

static group_waiter *join_error(group_join_cb cb, void *arg, int16_t err,
                                const char *member_id) {
  group_join_resp r = {.error = err,
                       .generation_id = -1,
                       .leader = "",
                       .member_id = member_id ? member_id : ""};
  cb(arg, &r);
  return NULL;
}

/* Kafka's supportsProtocols: an empty group takes any non-empty list; a
 * live one needs the same type and a protocol every member lists. */
static bool group_supports(group__group *g, const group_join_req *r) {
  if (!r->protocol_type || !*r->protocol_type || r->protocol_count == 0)
    return false;
  if (g_tree_nnodes(g->members) == 0)
    return true;
  if (!g->protocol_type || strcmp(g->protocol_type, r->protocol_type) != 0)
    return false;
  for (size_t i = 0; i < r->protocol_count; i++) {
    bool everyone = true;
    GTreeNode *n = g_tree_node_first(g->members);
    for (; n && everyone; n = g_tree_node_next(n))
      everyone = member_supports(g_tree_node_value(n), r->protocols[i].name);
    if (everyone)
      return true;
  }
  return false;
}

static group__member *member_add(group__group *g, char *id /* takes */,
                                 const group_join_req *r) {
  group__member *m = g_new0(group__member, 1);
  m->g = g;
  m->id = id;
  m->instance_id = g_strdup(r->group_instance_id);
  m->client_id = g_strdup(r->client_id ? r->client_id : "");
  m->client_host = g_strdup(r->client_host ? r->client_host : "");
  g_tree_insert(g->members, m->id, m);
  if (!g->protocol_type)
    g->protocol_type = g_strdup(r->protocol_type);
  return m;
}

static void member_update(group__member *m, const group_join_req *r) {
  m->session_timeout_ms = r->session_timeout_ms;
  m->rebalance_timeout_ms = r->rebalance_timeout_ms;
  member_protocols_set(m, r->protocols, r->protocol_count);
}

/* The member (re)joins the rebalance: park its join. */
static group_waiter *member_join(group__group *g, group__member *m,
                                 group_join_cb cb, void *arg) {
  group_coord *c = g->c;
  if (m->join_waiter) /* a duplicate join replaces the older one */
    waiter_fail(m->join_waiter, KERR_UNKNOWN_MEMBER_ID, m->id);
  group_waiter *w = waiter_new(c, WAIT_JOIN, (void *)cb, arg);
  w->m = m;
  m->join_waiter = w;
  m->joined = true;
  env_timer_cancel(c->env, m->session_timer);
  m->session_timer = 0;
  if (g->state != GROUP_PREPARING_REBALANCE)
    prepare_rebalance(g);
  /* Completing here answers this very join from the delivery timer, like
   * the others: the answer never runs inside this call. */
  check_join_complete(g);
  return w;
}

static group_waiter *join_new_member(group__group *g, const group_join_req *r,
                                     group_join_cb cb, void *arg) {
  group_coord *c = g->c;
  if (r->group_instance_id) {
    group__member *old = member_by_instance(g, r->group_instance_id);
    if (old) {
      /* A static member restarted: it takes a new id; the old id is
       * fenced from now on. */
      char *id = member_id_new(c, r->client_id);
      bool same = member_protocols_equal(old, r->protocols, r->protocol_count);
      bool leader = g->leader_id && strcmp(g->leader_id, old->id) == 0;
      g_tree_steal(g->members, old->id);
      g_free(old->id);
      old->id = id;
      g_tree_insert(g->members, old->id, old);
      if (leader) {
        g_free(g->leader_id);
        g->leader_id = g_strdup(id);
      }
      if (old->join_waiter)
        waiter_fail(old->join_waiter, KERR_FENCED_INSTANCE_ID, NULL);
      if (old->sync_waiter)
        waiter_fail(old->sync_waiter, KERR_FENCED_INSTANCE_ID, NULL);
      old->session_timeout_ms = r->session_timeout_ms;
      old->rebalance_timeout_ms = r->rebalance_timeout_ms;
      if (same && !leader && g->state == GROUP_STABLE) {
        group__touch(old);
        group_waiter *w = waiter_new(c, WAIT_JOIN, (void *)cb, arg);
        fill_join_answer(g, old, w);
        w->m = NULL;
        waiter_ready(w);
        return w;
      }
      member_update(old, r);
      return member_join(g, old, cb, arg);
    }
  } else if (r->version >= 4) {
    /* Ids handed out but never used pile up (clients that died between
     * the two joins): past the limit they are all forgotten, and a client
     * that comes back with one gets UNKNOWN_MEMBER_ID and starts over. */
    if ((size_t)g_tree_nnodes(g->pending_ids) >= GROUP_MEMBERS_MAX) {
      g_tree_destroy(g->pending_ids);
      g->pending_ids = g_tree_new_full(str_cmp, NULL, g_free, NULL);
    }
    char *id = member_id_new(c, r->client_id);
    g_tree_insert(g->pending_ids, id, id);
    return join_error(cb, arg, KERR_MEMBER_ID_REQUIRED, id);
  }
  if ((size_t)g_tree_nnodes(g->members) >= GROUP_MEMBERS_MAX)
    return join_error(cb, arg, KERR_GROUP_MAX_SIZE_REACHED, NULL);
  group__member *m = member_add(g, member_id_new(c, r->client_id), r);
  member_update(m, r);
  return member_join(g, m, cb, arg);
}

static group_waiter *join_known_member(group__group *g, const group_join_req *r,
                                       group_join_cb cb, void *arg) {
  group_coord *c = g->c;
  int16_t err = KERR_NONE;
  if (group__fenced(g, r->member_id, r->group_instance_id, &err))
    return join_error(cb, arg, err, r->member_id);
  group__member *m = g_tree_lookup(g->members, r->member_id);
  if (!m) {
    gpointer key = NULL;
    if (!g_tree_lookup_extended(g->pending_ids, r->member_id, &key, NULL))
      return join_error(cb, arg, KERR_UNKNOWN_MEMBER_ID, r->member_id);
    if ((size_t)g_tree_nnodes(g->members) >= GROUP_MEMBERS_MAX)
      return join_error(cb, arg, KERR_GROUP_MAX_SIZE_REACHED, r->member_id);
    char *id = g_strdup(r->member_id);
    g_tree_remove(g->pending_ids, r->member_id);
    m = member_add(g, id, r);
    member_update(m, r);
    return member_join(g, m, cb, arg);
  }
  bool same = member_protocols_equal(m, r->protocols, r->protocol_count);
  bool leader = g->leader_id && strcmp(g->leader_id, m->id) == 0;
  switch (g->state) {
  case GROUP_PREPARING_REBALANCE:
    member_update(m, r);
    return member_join(g, m, cb, arg);
  case GROUP_COMPLETING_REBALANCE:
  case GROUP_STABLE:
    if (same && !(leader && g->state == GROUP_STABLE)) {
      /* Nothing changed: the current generation stands. */
      group__touch(m);
      group_waiter *w = waiter_new(c, WAIT_JOIN, (void *)cb, arg);
      fill_join_answer(g, m, w);
      waiter_ready(w);
      return w;
    }
    member_update(m, r);
    return member_join(g, m, cb, arg);
  default:
    return join_error(cb, arg, KERR_UNKNOWN_MEMBER_ID, r->member_id);
  }
}

group_waiter *group_join(group_coord *c, const group_join_req *r,
                         group_join_cb cb, void *arg) {
  SL_ASSERT(c && r && cb && r->group_id && r->member_id);
  if (!c->loaded)
    return join_error(cb, arg, KERR_COORDINATOR_LOAD_IN_PROGRESS, r->member_id);
  if (!*r->group_id)
    return join_error(cb, arg, KERR_INVALID_GROUP_ID, r->member_id);
  if (r->session_timeout_ms < c->cfg.session_timeout_min_ms ||
      r->session_timeout_ms > c->cfg.session_timeout_max_ms)
    return join_error(cb, arg, KERR_INVALID_SESSION_TIMEOUT, r->member_id);
  if (r->protocol_count > GROUP_PROTOCOLS_MAX)
    return join_error(cb, arg, KERR_INCONSISTENT_GROUP_PROTOCOL, r->member_id);
  for (size_t i = 0; i < r->protocol_count; i++)
    if (r->protocols[i].metadata_len > GROUP_METADATA_BYTES_MAX)
      return join_error(cb, arg, KERR_INCONSISTENT_GROUP_PROTOCOL,
                        r->member_id);
  group__group *g = group__find(c, r->group_id);
  bool is_new = *r->member_id == '\0';
  if (!g) {
    if (!is_new)
      return join_error(cb, arg, KERR_UNKNOWN_MEMBER_ID, r->member_id);
    g = group__create(c, r->group_id);
    if (!g)
      return join_error(cb, arg, KERR_COORDINATOR_NOT_AVAILABLE, NULL);
  }
  if (!group_supports(g, r))
    return join_error(cb, arg, KERR_INCONSISTENT_GROUP_PROTOCOL, r->member_id);
  if (g_tree_nnodes(g->members) == 0 && g->protocol_type &&
      strcmp(g->protocol_type, r->protocol_type) != 0) {
    g_free(g->protocol_type);
    g->protocol_type = g_strdup(r->protocol_type);
  }
  return is_new ? join_new_member(g, r, cb, arg)
                : join_known_member(g, r, cb, arg);
}

/* ------------------------------------------------------------- SyncGroup */

static group_waiter *sync_answer(group_sync_cb cb, void *arg, int16_t err,
                                 const group__group *g, GBytes *assignment) {
  gsize len = 0;
  const uint8_t *d = assignment ? g_bytes_get_data(assignment, &len) : NULL;
  group_sync_resp r = {
      .error = err,
      .protocol_type = err ? NULL : g->protocol_type,
      .protocol_name = err ? NULL : g->protocol_name,
      .assignment = d ? d : (const uint8_t *)"",
      .assignment_len = len,
  };
  cb(arg, &r);
  return NULL;
}

static void sync_fill(group__group *g, group__member *m, group_waiter *w) {
  w->error = KERR_NONE;
  w->protocol_type = g_strdup(g->protocol_type);
  w->protocol_name = g_strdup(g->protocol_name);
  w->assignment =
      m->assignment ? g_bytes_ref(m->assignment) : g_bytes_new(NULL, 0);
}

/* The leader's assignment arrived: store it, persist, answer everyone. */
static void sync_complete(group__group *g, const group_sync_req *r) {
  GTreeNode *n = g_tree_node_first(g->members);
  for (; n; n = g_tree_node_next(n)) {
    group__member *m = g_tree_node_value(n);
    if (m->assignment)
      g_bytes_unref(m->assignment);
    m->assignment = NULL;
  }
  for (size_t i = 0; i < r->assignment_count; i++) {
    const group_assignment *a = &r->assignments[i];
    group__member *m = g_tree_lookup(g->members, a->member_id);
    if (!m || a->assignment_len > GROUP_METADATA_BYTES_MAX)
      continue;
    if (m->assignment)
      g_bytes_unref(m->assignment);
    m->assignment = g_bytes_new(a->assignment, a->assignment_len);
  }
  int err = group__store_metadata(g);
  if (err != KERR_NONE) {
    /* Kafka: the members get the error and the group rebalances. */
    for (n = g_tree_node_first(g->members); n; n = g_tree_node_next(n)) {
      group__member *m = g_tree_node_value(n);
      if (m->sync_waiter)
        waiter_fail(m->sync_waiter, (int16_t)err, NULL);
    }
    prepare_rebalance(g);
    return;
  }
  set_state(g, GROUP_STABLE);
  for (n = g_tree_node_first(g->members); n; n = g_tree_node_next(n)) {
    group__member *m = g_tree_node_value(n);
    if (m->sync_waiter) {
      group_waiter *w = m->sync_waiter;
      sync_fill(g, m, w);
      waiter_ready(w);
    }
  }
}

group_waiter *group_sync(group_coord *c, const group_sync_req *r,
                         group_sync_cb cb, void *arg) {
  SL_ASSERT(c && r && cb && r->group_id && r->member_id);
  if (!c->loaded)
    return sync_answer(cb, arg, KERR_COORDINATOR_LOAD_IN_PROGRESS, NULL, NULL);
  if (!*r->group_id)
    return sync_answer(cb, arg, KERR_INVALID_GROUP_ID, NULL, NULL);
  group__group *g = group__find(c, r->group_id);
  if (!g)
    return sync_answer(cb, arg, KERR_UNKNOWN_MEMBER_ID, NULL, NULL);
  int16_t err = KERR_NONE;
  if (group__fenced(g, r->member_id, r->group_instance_id, &err))
    return sync_answer(cb, arg, err, NULL, NULL);
  group__member *m = g_tree_lookup(g->members, r->member_id);
  if (!m)
    return sync_answer(cb, arg, KERR_UNKNOWN_MEMBER_ID, NULL, NULL);
  if (r->generation_id != g->generation)
    return sync_answer(cb, arg, KERR_ILLEGAL_GENERATION, NULL, NULL);
  if ((r->protocol_type && g->protocol_type &&
       strcmp(r->protocol_type, g->protocol_type) != 0) ||
      (r->protocol_name && g->protocol_name &&
       strcmp(r->protocol_name, g->protocol_name) != 0))
    return sync_answer(cb, arg, KERR_INCONSISTENT_GROUP_PROTOCOL, NULL, NULL);
  switch (g->state) {
  case GROUP_PREPARING_REBALANCE:
    return sync_answer(cb, arg, KERR_REBALANCE_IN_PROGRESS, NULL, NULL);
  case GROUP_COMPLETING_REBALANCE: {
    if (m->sync_waiter)
      waiter_fail(m->sync_waiter, KERR_REBALANCE_IN_PROGRESS, NULL);
    group_waiter *w = waiter_new(c, WAIT_SYNC, (void *)cb, arg);
    w->m = m;
    m->sync_waiter = w;
    group__touch(m);
    if (g->leader_id && strcmp(g->leader_id, m->id) == 0)
      sync_complete(g, r);
    return w;
  }
  case GROUP_STABLE:
    group__touch(m);
    return sync_answer(cb, arg, KERR_NONE, g, m->assignment);
  default:
    return sync_answer(cb, arg, KERR_UNKNOWN_MEMBER_ID, NULL, NULL);
  }
}

/* ------------------------------------------------- Heartbeat, LeaveGroup */

int16_t group_heartbeat(group_coord *c, const char *group_id,
                        int32_t generation_id, const char *member_id,
                        const char *group_instance_id) {
  if (!c->loaded)
    return KERR_COORDINATOR_LOAD_IN_PROGRESS;
  if (!*group_id)
    return KERR_INVALID_GROUP_ID;
  group__group *g = group__find(c, group_id);
  if (!g)
    return KERR_UNKNOWN_MEMBER_ID;
  int16_t err = KERR_NONE;
  if (group__fenced(g, member_id, group_instance_id, &err))
    return err;
  group__member *m = g_tree_lookup(g->members, member_id);
  if (g->state == GROUP_EMPTY || !m)
    return KERR_UNKNOWN_MEMBER_ID;
  if (generation_id != g->generation)
    return KERR_ILLEGAL_GENERATION;
  if (!(m->joined && g->state == GROUP_PREPARING_REBALANCE))
    group__touch(m);
  if (g->state == GROUP_PREPARING_REBALANCE)
    return KERR_REBALANCE_IN_PROGRESS;
  return KERR_NONE;
}

int16_t group_leave(group_coord *c, const char *group_id,
                    group_leave_member *members, size_t n) {
  if (!c->loaded)
    return KERR_COORDINATOR_LOAD_IN_PROGRESS;
  if (!*group_id)
    return KERR_INVALID_GROUP_ID;
  group__group *g = group__find(c, group_id);
  if (!g) {
    for (size_t i = 0; i < n; i++)
      members[i].error = KERR_UNKNOWN_MEMBER_ID;
    return n == 1 && !members[0].group_instance_id ? KERR_UNKNOWN_MEMBER_ID
                                                   : KERR_NONE;
  }
  for (size_t i = 0; i < n; i++) {
    group_leave_member *lm = &members[i];
    group__member *m = NULL;
    lm->error = KERR_NONE;
    if (lm->group_instance_id) {
      m = member_by_instance(g, lm->group_instance_id);
      if (m && *lm->member_id && strcmp(m->id, lm->member_id) != 0) {
        lm->error = KERR_FENCED_INSTANCE_ID;
        continue;
      }
    } else {
      m = g_tree_lookup(g->members, lm->member_id);
      if (!m && g_tree_remove(g->pending_ids, lm->member_id))
        continue;
    }
    if (!m) {
      lm->error = KERR_UNKNOWN_MEMBER_ID;
      continue;
    }
    env_log(c->env, ENV_LOG_INFO, "group %s: member %s left", g->id, m->id);
    remove_member(g, m);
  }
  return KERR_NONE;
}

/* ------------------------------------------------------ observation */

size_t group_count(const group_coord *c) {
  return (size_t)g_tree_nnodes(c->groups);
}

group_state group_get_state(group_coord *c, const char *group_id) {
  group__group *g = group__find(c, group_id);
  return g ? g->state : GROUP_DEAD;
}

int32_t group_get_generation(group_coord *c, const char *group_id) {
  group__group *g = group__find(c, group_id);
  return g ? g->generation : -1;
}

size_t group_member_count(group_coord *c, const char *group_id) {
  group__group *g = group__find(c, group_id);
  return g ? (size_t)g_tree_nnodes(g->members) : 0;
}
