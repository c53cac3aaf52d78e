/*
 * offsets.c — committed offsets (OffsetCommit, OffsetFetch, OffsetDelete),
 * their retention, and the admin APIs (ListGroups, DescribeGroups,
 * DeleteGroups).
 *
 * A commit is checked against the group (Kafka's validateOffsetCommit):
 * generation -1 with no member id is a standalone commit and only allowed
 * while the group has no members; otherwise the member must belong to the
 * group and to its current generation. A commit during CompletingRebalance
 * gets REBALANCE_IN_PROGRESS; during PreparingRebalance a member of the
 * ending generation may still commit (eager consumers commit before they
 * give partitions up). The records are appended to __consumer_offsets
 * before the commit is applied in memory and answered.
 *
 * Retention (Kafka 2.1+, KIP-211): offsets of a group expire once the group
 * has been Empty for offsets.retention.minutes (measured from the later of
 * the commit and the moment the group became empty); a group left with no
 * members and no offsets (for as long) is forgotten.
 */
#include <string.h>

#include "base/assert.h"
#include "broker/group/group_internal.h"
#include "broker/kerr.h"

#define MS_TO_NS UINT64_C(1000000)

gint group__offset_key_cmp(gconstpointer a, gconstpointer b, gpointer unused) {
  (void)unused;
  const group__offset_key *x = a, *y = b;
  int c = strcmp(x->topic, y->topic);
  if (c)
    return c;
  return x->partition < y->partition ? -1 : x->partition > y->partition;
}

void group__offset_key_free(gpointer p) {
  group__offset_key *k = p;
  if (!k)
    return;
  g_free(k->topic);
  g_free(k);
}

void group__offset_val_free(gpointer p) {
  group__offset_val *v = p;
  if (!v)
    return;
  g_free(v->metadata);
  g_free(v);
}

/* ------------------------------------------------------------ commit */

static int16_t commit_check(group_coord *c, group__group *g,
                            int32_t generation_id, const char *member_id,
                            const char *instance_id) {
  (void)c;
  int16_t err = KERR_NONE;
  if (group__fenced(g, member_id, instance_id, &err))
    return err;
  if (generation_id < 0 && g_tree_nnodes(g->members) == 0)
    return KERR_NONE;
  group__member *m = g_tree_lookup(g->members, member_id);
  if (!m)
    return KERR_UNKNOWN_MEMBER_ID;
  if (generation_id != g->generation)
    return KERR_ILLEGAL_GENERATION;
  if (g->state == GROUP_COMPLETING_REBALANCE)
    return KERR_REBALANCE_IN_PROGRESS;
  group__touch(m);
  return KERR_NONE;
}

int16_t group_offset_commit_many(group_coord *c, const char *group_id,
                                 int32_t generation_id, const char *member_id,
                                 const char *group_instance_id,
                                 group_offset_commit *commits, size_t n) {
  int16_t err = KERR_NONE;
  group__group *g = NULL;
  group_record *recs = NULL;
  buf_t keys, values;
  buf_init(&keys);
  buf_init(&values);
  if (!c->loaded) {
    err = KERR_COORDINATOR_LOAD_IN_PROGRESS;
    goto out_answer;
  }
  if (!*group_id) {
    err = KERR_INVALID_GROUP_ID;
    goto out_answer;
  }
  g = group__find(c, group_id);
  if (!g) {
    if (generation_id >= 0) {
      err = KERR_ILLEGAL_GENERATION;
      goto out_answer;
    }
    g = group__create(c, group_id);
    if (!g) {
      err = KERR_COORDINATOR_NOT_AVAILABLE;
      goto out_answer;
    }
  }
  err = commit_check(c, g, generation_id, member_id ? member_id : "",
                     group_instance_id);
  if (err)
    goto out_answer;
  int64_t now_ms = env_wall_ms(c->env);
  /* Encode every acceptable commit, then append them as one batch. */
  size_t *key_off = g_new0(size_t, n + 1), *val_off = g_new0(size_t, n + 1);
  size_t ok_count = 0;
  for (size_t i = 0; i < n; i++) {
    group_offset_commit *oc = &commits[i];
    const char *meta = oc->metadata ? oc->metadata : "";
    oc->error = KERR_NONE;
    if (strlen(meta) > GROUP_OFFSET_METADATA_BYTES_MAX) {
      oc->error = GROUP__ERR_OFFSET_METADATA_TOO_LARGE;
      continue;
    }
    if (!*oc->topic || strlen(oc->topic) > INT16_MAX) {
      oc->error = KERR_UNKNOWN_TOPIC_OR_PARTITION;
      continue;
    }
    group__offset_key k = {(char *)oc->topic, oc->partition};
    if (!g_tree_lookup(g->offsets, &k) &&
        (size_t)g_tree_nnodes(g->offsets) + ok_count >= GROUP_OFFSETS_MAX) {
      oc->error = GROUP__ERR_OFFSET_METADATA_TOO_LARGE;
      continue;
    }
    group__offset_val v = {oc->offset, oc->leader_epoch, (char *)meta, now_ms};
    key_off[ok_count] = keys.len;
    val_off[ok_count] = values.len;
    group__offset_key_encode(&keys, group_id, oc->topic, oc->partition);
    group__offset_value_encode(&values, &v);
    ok_count++;
  }
  key_off[ok_count] = keys.len;
  val_off[ok_count] = values.len;
  recs = g_new0(group_record, ok_count ? ok_count : 1);
  for (size_t i = 0; i < ok_count; i++) {
    recs[i].key = keys.data + key_off[i];
    recs[i].key_len = key_off[i + 1] - key_off[i];
    recs[i].value = values.data + val_off[i];
    recs[i].value_len = val_off[i + 1] - val_off[i];
  }
  g_free(key_off);
  g_free(val_off);
  int rc = ok_count ? group__append(c, group_id, recs, ok_count) : KERR_NONE;
  for (size_t i = 0; i < n; i++) {
    group_offset_commit *oc = &commits[i];
    if (oc->error)
      continue;
    if (rc) {
      oc->error = (int16_t)rc;
      continue;
    }
    group__offset_key *kk = g_new0(group__offset_key, 1);
    kk->topic = g_strdup(oc->topic);
    kk->partition = oc->partition;
    group__offset_val *vv = g_new0(group__offset_val, 1);
    vv->offset = oc->offset;
    vv->leader_epoch = oc->leader_epoch;
    vv->metadata = g_strdup(oc->metadata ? oc->metadata : "");
    vv->commit_ms = now_ms;
    g_tree_replace(g->offsets, kk, vv);
  }
  err = KERR_NONE;
  goto out_free;
out_answer:
  for (size_t i = 0; i < n; i++)
    commits[i].error = err;
out_free:
  g_free(recs);
  buf_free(&keys);
  buf_free(&values);
  return err;
}

/* ------------------------------------------------------------- fetch */

int16_t group_offset_fetch(group_coord *c, const char *group_id,
                           group_offset *offsets, size_t n) {
  int16_t err = KERR_NONE;
  if (!c->loaded)
    err = KERR_COORDINATOR_LOAD_IN_PROGRESS;
  else if (!*group_id)
    err = KERR_INVALID_GROUP_ID;
  group__group *g = err ? NULL : group__find(c, group_id);
  for (size_t i = 0; i < n; i++) {
    group_offset *o = &offsets[i];
    o->offset = -1;
    o->leader_epoch = -1;
    o->metadata = "";
    o->error = err;
    if (!g)
      continue;
    group__offset_key k = {(char *)o->topic, o->partition};
    const group__offset_val *v = g_tree_lookup(g->offsets, &k);
    if (v) {
      o->offset = v->offset;
      o->leader_epoch = v->leader_epoch;
      o->metadata = v->metadata;
    }
  }
  return err;
}

int16_t group_offset_fetch_all(group_coord *c, const char *group_id,
                               group_offset **offsets, size_t *n) {
  *offsets = NULL;
  *n = 0;
  if (!c->loaded)
    return KERR_COORDINATOR_LOAD_IN_PROGRESS;
  if (!*group_id)
    return KERR_INVALID_GROUP_ID;
  group__group *g = group__find(c, group_id);
  if (!g)
    return KERR_NONE;
  size_t count = (size_t)g_tree_nnodes(g->offsets), i = 0;
  group_offset *out = g_new0(group_offset, count ? count : 1);
  GTreeNode *node = g_tree_node_first(g->offsets);
  for (; node; node = g_tree_node_next(node), i++) {
    const group__offset_key *k = g_tree_node_key(node);
    const group__offset_val *v = g_tree_node_value(node);
    out[i] = (group_offset){k->topic,        k->partition, v->offset,
                            v->leader_epoch, v->metadata,  KERR_NONE};
  }
  *offsets = out;
  *n = count;
  return KERR_NONE;
}

/* ------------------------------------------------------------ delete */

/* Appends tombstones for the offset keys listed (and the group key when
 * group_too). Returns 0 or a Kafka error. */
static int tombstone(group_coord *c, group__group *g,
                     const group__offset_key *const *keys, size_t n,
                     bool group_too) {
  buf_t kb;
  buf_init(&kb);
  size_t total = n + (group_too ? 1 : 0);
  size_t *off = g_new0(size_t, total + 1);
  for (size_t i = 0; i < n; i++) {
    off[i] = kb.len;
    group__offset_key_encode(&kb, g->id, keys[i]->topic, keys[i]->partition);
  }
  if (group_too) {
    off[n] = kb.len;
    group__metadata_key_encode(&kb, g->id);
  }
  off[total] = kb.len;
  group_record *recs = g_new0(group_record, total ? total : 1);
  for (size_t i = 0; i < total; i++) {
    recs[i].key = kb.data + off[i];
    recs[i].key_len = off[i + 1] - off[i];
  }
  int rc = total ? group__append(c, g->id, recs, total) : KERR_NONE;
  g_free(recs);
  g_free(off);
  buf_free(&kb);
  return rc;
}

/* The topics the group's members subscribe to, from their consumer
 * protocol metadata (ConsumerProtocolSubscription: int16 version, topics).
 * Returns false if some member's metadata cannot be read (then every topic
 * counts as subscribed). */
static bool subscribed(group__group *g, const char *topic, bool *is_sub) {
  *is_sub = false;
  GTreeNode *n = g_tree_node_first(g->members);
  for (; n; n = g_tree_node_next(n)) {
    group__member *m = g_tree_node_value(n);
    for (size_t i = 0; i < m->protocol_count; i++) {
      if (g->protocol_name && strcmp(m->protocol_names[i], g->protocol_name))
        continue;
      gsize len = 0;
      const uint8_t *d = g_bytes_get_data(m->protocol_metas[i], &len);
      buf_reader_t r;
      buf_reader_init(&r, d, len);
      (void)buf_get_be16(&r);
      int32_t count = (int32_t)buf_get_be32(&r);
      if (r.error || count < 0)
        return false;
      for (int32_t t = 0; t < count; t++) {
        uint16_t sl = buf_get_be16(&r);
        const uint8_t *s = buf_get_bytes(&r, sl);
        if (r.error)
          return false;
        if (strlen(topic) == sl && memcmp(s, topic, sl) == 0)
          *is_sub = true;
      }
    }
  }
  return true;
}

int16_t group_offset_delete_many(group_coord *c, const char *group_id,
                                 group_offset_delete *dels, size_t n) {
  if (!c->loaded)
    return KERR_COORDINATOR_LOAD_IN_PROGRESS;
  if (!*group_id)
    return KERR_INVALID_GROUP_ID;
  group__group *g = group__find(c, group_id);
  if (!g)
    return KERR_GROUP_ID_NOT_FOUND;
  bool live = g_tree_nnodes(g->members) > 0;
  if (live && (!g->protocol_type || strcmp(g->protocol_type, "consumer")))
    return KERR_NON_EMPTY_GROUP;
  const group__offset_key **keys = g_new0(const group__offset_key *, n + 1);
  size_t kn = 0;
  for (size_t i = 0; i < n; i++) {
    dels[i].error = KERR_NONE;
    bool is_sub = false;
    if (live && (!subscribed(g, dels[i].topic, &is_sub) || is_sub)) {
      dels[i].error = KERR_GROUP_SUBSCRIBED_TO_TOPIC;
      continue;
    }
    group__offset_key k = {(char *)dels[i].topic, dels[i].partition};
    gpointer orig = NULL;
    if (g_tree_lookup_extended(g->offsets, &k, &orig, NULL))
      keys[kn++] = orig;
  }
  int rc = tombstone(c, g, keys, kn, false);
  if (rc == KERR_NONE) {
    for (size_t i = 0; i < kn; i++)
      g_tree_remove(g->offsets, keys[i]);
  }
  g_free(keys);
  return (int16_t)rc;
}

/* ----------------------------------------------------------- retention */

void group_offsets_expire(group_coord *c) {
  int64_t now_ms = env_wall_ms(c->env);
  GPtrArray *forget = g_ptr_array_new();
  GTreeNode *n = g_tree_node_first(c->groups);
  for (; n; n = g_tree_node_next(n)) {
    group__group *g = g_tree_node_value(n);
    if (g->state != GROUP_EMPTY)
      continue;
    GPtrArray *old = g_ptr_array_new();
    GTreeNode *o = g_tree_node_first(g->offsets);
    for (; o; o = g_tree_node_next(o)) {
      const group__offset_val *v = g_tree_node_value(o);
      int64_t since = v->commit_ms > g->state_ms ? v->commit_ms : g->state_ms;
      if (now_ms - since >= c->cfg.offsets_retention_ms)
        g_ptr_array_add(old, g_tree_node_key(o));
    }
    bool empty_after = old->len == (guint)g_tree_nnodes(g->offsets);
    if (old->len &&
        tombstone(c, g, (const group__offset_key *const *)old->pdata, old->len,
                  empty_after) == KERR_NONE) {
      env_log(c->env, ENV_LOG_INFO, "group %s: %u committed offsets expired",
              g->id, old->len);
      for (guint i = 0; i < old->len; i++)
        g_tree_remove(g->offsets, old->pdata[i]);
      if (empty_after)
        g_ptr_array_add(forget, g);
    }
    g_ptr_array_free(old, TRUE);
    /* A group without offsets left Empty for the retention period. */
    if (g_tree_nnodes(g->offsets) == 0 && g_tree_nnodes(g->members) == 0 &&
        now_ms - g->state_ms >= c->cfg.offsets_retention_ms &&
        (forget->len == 0 || forget->pdata[forget->len - 1] != g) &&
        tombstone(c, g, NULL, 0, true) == KERR_NONE)
      g_ptr_array_add(forget, g);
  }
  for (guint i = 0; i < forget->len; i++)
    group__remove(c, forget->pdata[i]);
  g_ptr_array_free(forget, TRUE);
}

static void on_expire_timer(void *arg) {
  group_coord *c = arg;
  group_offsets_expire(c);
  c->expire_timer = env_timer_start(
      c->env, (uint64_t)c->cfg.offsets_retention_check_ms * MS_TO_NS,
      on_expire_timer, c);
}

void group_set_loaded(group_coord *c) {
  SL_ASSERT(!c->loaded);
  c->loaded = true;
  c->expire_timer = env_timer_start(
      c->env, (uint64_t)c->cfg.offsets_retention_check_ms * MS_TO_NS,
      on_expire_timer, c);
}

/* -------------------------------------------------------------- admin */

int16_t group_list(group_coord *c, group_listing **out, size_t *n) {
  *out = NULL;
  *n = 0;
  if (!c->loaded)
    return KERR_COORDINATOR_LOAD_IN_PROGRESS;
  size_t count = (size_t)g_tree_nnodes(c->groups), i = 0;
  group_listing *l = g_new0(group_listing, count ? count : 1);
  GTreeNode *node = g_tree_node_first(c->groups);
  for (; node; node = g_tree_node_next(node), i++) {
    const group__group *g = g_tree_node_value(node);
    l[i].group_id = g->id;
    l[i].protocol_type = g->protocol_type ? g->protocol_type : "";
    l[i].state = g->state;
  }
  *out = l;
  *n = count;
  return KERR_NONE;
}

void group_describe(group_coord *c, const char *group_id, group_desc *d) {
  memset(d, 0, sizeof *d);
  d->state = GROUP_DEAD;
  d->protocol_type = "";
  d->protocol_name = "";
  d->generation_id = -1;
  if (!c->loaded) {
    d->error = KERR_COORDINATOR_LOAD_IN_PROGRESS;
    return;
  }
  if (!*group_id) {
    d->error = KERR_INVALID_GROUP_ID;
    return;
  }
  group__group *g = group__find(c, group_id);
  if (!g)
    return;
  d->state = g->state;
  d->protocol_type = g->protocol_type ? g->protocol_type : "";
  d->generation_id = g->generation;
  bool running =
      g->state == GROUP_STABLE || g->state == GROUP_COMPLETING_REBALANCE;
  if (running && g->protocol_name)
    d->protocol_name = g->protocol_name;
  size_t count = (size_t)g_tree_nnodes(g->members), i = 0;
  d->members = g_new0(group_member_desc, count ? count : 1);
  GTreeNode *node = g_tree_node_first(g->members);
  for (; node; node = g_tree_node_next(node), i++) {
    const group__member *m = g_tree_node_value(node);
    group_member_desc *md = &d->members[i];
    md->member_id = m->id;
    md->group_instance_id = m->instance_id;
    md->client_id = m->client_id;
    md->client_host = m->client_host;
    md->metadata = (const uint8_t *)"";
    md->assignment = (const uint8_t *)"";
    for (size_t p = 0; running && p < m->protocol_count; p++) {
      if (strcmp(m->protocol_names[p], g->protocol_name) == 0) {
        gsize len = 0;
        md->metadata = g_bytes_get_data(m->protocol_metas[p], &len);
        md->metadata_len = len;
      }
    }
    if (running && m->assignment) {
      gsize len = 0;
      md->assignment = g_bytes_get_data(m->assignment, &len);
      md->assignment_len = len;
    }
  }
  d->member_count = count;
}

int16_t group_delete(group_coord *c, const char *group_id) {
  if (!c->loaded)
    return KERR_COORDINATOR_LOAD_IN_PROGRESS;
  if (!*group_id)
    return KERR_INVALID_GROUP_ID;
  group__group *g = group__find(c, group_id);
  if (!g)
    return KERR_GROUP_ID_NOT_FOUND;
  if (g_tree_nnodes(g->members) > 0 || g->state != GROUP_EMPTY)
    return KERR_NON_EMPTY_GROUP;
  size_t n = (size_t)g_tree_nnodes(g->offsets), i = 0;
  const group__offset_key **keys = g_new0(const group__offset_key *, n + 1);
  GTreeNode *node = g_tree_node_first(g->offsets);
  for (; node; node = g_tree_node_next(node))
    keys[i++] = g_tree_node_key(node);
  int rc = tombstone(c, g, keys, n, true);
  g_free(keys);
  if (rc != KERR_NONE)
    return (int16_t)rc;
  env_log(c->env, ENV_LOG_INFO, "group %s deleted", g->id);
  group__remove(c, g);
  return KERR_NONE;
}
