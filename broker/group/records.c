/*
 * records.c — the __consumer_offsets records (Kafka's group-coordinator
 * OffsetCommitKey/Value and GroupMetadataKey/Value schemas), written with
 * the versions Kafka 3.x writes and read back in any non-flexible version.
 *
 *   offset key    int16 1, string group, string topic, int32 partition
 *   offset value  int16 3, int64 offset, int32 leader epoch,
 *                 string metadata, int64 commit timestamp
 *   group key     int16 2, string group
 *   group value   int16 3, string protocol type, int32 generation,
 *                 nullable string protocol, nullable string leader,
 *                 int64 current state timestamp, members[]: string id,
 *                 nullable string instance id, string client id,
 *                 string client host, int32 rebalance timeout,
 *                 int32 session timeout, bytes subscription,
 *                 bytes assignment
 *
 * Strings are int16-length-prefixed, bytes int32, arrays int32 counts, all
 * big-endian (KAFKA-NOTES §1). A tombstone (null value) deletes the key.
 */
#include <string.h>

#include "base/assert.h"
#include "broker/group/group_internal.h"
#include "broker/kerr.h"

enum {
  KEY_OFFSET_V0 = 0,
  KEY_OFFSET_V1 = 1,
  KEY_GROUP = 2,
  VALUE_OFFSET_WRITTEN = 3,
  VALUE_GROUP_WRITTEN = 3,
};

static void put_str(buf_t *out, const char *s) {
  size_t n = strlen(s);
  SL_ASSERT(n <= INT16_MAX);
  buf_put_be16(out, (uint16_t)n);
  buf_append(out, s, n);
}

static void put_nstr(buf_t *out, const char *s) {
  if (!s)
    buf_put_be16(out, 0xffff);
  else
    put_str(out, s);
}

static void put_bytes(buf_t *out, GBytes *b) {
  gsize len = 0;
  const void *d = b ? g_bytes_get_data(b, &len) : NULL;
  buf_put_be32(out, (uint32_t)len);
  if (len)
    buf_append(out, d, len);
}

void group__offset_key_encode(buf_t *out, const char *group, const char *topic,
                              int32_t partition) {
  buf_put_be16(out, KEY_OFFSET_V1);
  put_str(out, group);
  put_str(out, topic);
  buf_put_be32(out, (uint32_t)partition);
}

void group__offset_value_encode(buf_t *out, const group__offset_val *v) {
  buf_put_be16(out, VALUE_OFFSET_WRITTEN);
  buf_put_be64(out, (uint64_t)v->offset);
  buf_put_be32(out, (uint32_t)v->leader_epoch);
  put_str(out, v->metadata ? v->metadata : "");
  buf_put_be64(out, (uint64_t)v->commit_ms);
}

void group__metadata_key_encode(buf_t *out, const char *group) {
  buf_put_be16(out, KEY_GROUP);
  put_str(out, group);
}

void group__metadata_value_encode(buf_t *out, const group__group *g,
                                  int64_t now_ms) {
  buf_put_be16(out, VALUE_GROUP_WRITTEN);
  put_str(out, g->protocol_type ? g->protocol_type : "");
  buf_put_be32(out, (uint32_t)g->generation);
  put_nstr(out, g->protocol_name);
  put_nstr(out, g->leader_id);
  buf_put_be64(out, (uint64_t)now_ms);
  buf_put_be32(out, (uint32_t)g_tree_nnodes(g->members));
  GTreeNode *n = g_tree_node_first(g->members);
  for (; n; n = g_tree_node_next(n)) {
    const group__member *m = g_tree_node_value(n);
    put_str(out, m->id);
    put_nstr(out, m->instance_id);
    put_str(out, m->client_id);
    put_str(out, m->client_host);
    buf_put_be32(out, (uint32_t)m->rebalance_timeout_ms);
    buf_put_be32(out, (uint32_t)m->session_timeout_ms);
    GBytes *sub = NULL;
    for (size_t i = 0; g->protocol_name && i < m->protocol_count; i++)
      if (strcmp(m->protocol_names[i], g->protocol_name) == 0)
        sub = m->protocol_metas[i];
    put_bytes(out, sub);
    put_bytes(out, m->assignment);
  }
}

int group__append(group_coord *c, const char *group, const group_record *recs,
                  size_t n) {
  if (!c->store.append)
    return KERR_NONE;
  int32_t part = group_partition_for(group, c->cfg.offsets_partitions);
  return c->store.append(c->store.arg, part, recs, n);
}

/* ---------------------------------------------------------------- replay */

/* A string read from r into a new C string (NULL: null or malformed). */
static char *get_str(buf_reader_t *r, bool *null_out) {
  uint16_t n = buf_get_be16(r);
  if (null_out)
    *null_out = n == 0xffff;
  if (n == 0xffff)
    return NULL;
  const uint8_t *p = buf_get_bytes(r, n);
  if (!p || memchr(p, 0, n))
    return NULL;
  return g_strndup((const char *)p, n);
}

static bool replay_offset(group_coord *c, buf_reader_t *k, const uint8_t *value,
                          size_t value_len, bool tombstone) {
  char *group = get_str(k, NULL);
  char *topic = get_str(k, NULL);
  int32_t partition = (int32_t)buf_get_be32(k);
  bool ok = group && topic && !k->error && *group;
  group__offset_val v = {.leader_epoch = -1};
  if (ok && !tombstone) {
    buf_reader_t r;
    buf_reader_init(&r, value, value_len);
    uint16_t ver = buf_get_be16(&r);
    v.offset = (int64_t)buf_get_be64(&r);
    if (ver >= 3)
      v.leader_epoch = (int32_t)buf_get_be32(&r);
    v.metadata = get_str(&r, NULL);
    v.commit_ms = (int64_t)buf_get_be64(&r);
    ok = ver <= 3 && !r.error && v.metadata;
  }
  if (ok) {
    group__group *g = group__find(c, group);
    if (!g && !tombstone)
      g = group__create(c, group);
    group__offset_key key = {topic, partition};
    if (g && tombstone) {
      g_tree_remove(g->offsets, &key);
    } else if (g && g_tree_nnodes(g->offsets) < GROUP_OFFSETS_MAX) {
      group__offset_key *kk = g_new0(group__offset_key, 1);
      kk->topic = topic;
      kk->partition = partition;
      topic = NULL;
      group__offset_val *vv = g_new0(group__offset_val, 1);
      *vv = v;
      v.metadata = NULL;
      g_tree_replace(g->offsets, kk, vv);
    }
  }
  g_free(v.metadata);
  g_free(group);
  g_free(topic);
  return ok;
}

static bool replay_group(group_coord *c, buf_reader_t *k, const uint8_t *value,
                         size_t value_len, bool tombstone) {
  char *group = get_str(k, NULL);
  bool ok = group && !k->error && *group;
  if (!ok)
    goto out_free_group;
  group__group *g = group__find(c, group);
  if (tombstone) {
    if (g && g_tree_nnodes(g->offsets) == 0)
      group__remove(c, g);
    else if (g)
      g->generation = 0;
    goto out_free_group;
  }
  buf_reader_t r;
  buf_reader_init(&r, value, value_len);
  uint16_t ver = buf_get_be16(&r);
  char *ptype = get_str(&r, NULL);
  int32_t gen = (int32_t)buf_get_be32(&r);
  ok = ver <= 3 && ptype && !r.error;
  if (ok) {
    if (!g)
      g = group__create(c, group);
    if (g) {
      /* Members are not restored: they find themselves unknown, rejoin,
       * and the generation goes on from the stored one. */
      g->generation = gen;
      g_free(g->protocol_type);
      g->protocol_type = *ptype ? g_strdup(ptype) : NULL;
    }
  }
  g_free(ptype);
out_free_group:
  g_free(group);
  return ok;
}

bool group_replay(group_coord *c, const uint8_t *key, size_t key_len,
                  const uint8_t *value, size_t value_len, bool tombstone) {
  SL_ASSERT(!c->loaded);
  if (!key)
    return false;
  buf_reader_t k;
  buf_reader_init(&k, key, key_len);
  uint16_t ver = buf_get_be16(&k);
  if (k.error)
    return false;
  if (ver == KEY_OFFSET_V0 || ver == KEY_OFFSET_V1)
    return replay_offset(c, &k, value, value_len, tombstone);
  if (ver == KEY_GROUP)
    return replay_group(c, &k, value, value_len, tombstone);
  return false;
}
