/*
 * cache.c — persisted partitions (Spark's MemoryStore, MEMORY_ONLY).
 *
 * Blocks are whole computed partitions keyed by (dataset, partition),
 * counted against a byte budget and kept in least-recently-used order.
 * Making room evicts from the cold end, skipping blocks of the dataset
 * being stored (as Spark does, so a dataset does not evict itself). An
 * evicted block is simply gone: the next task that needs it recomputes it
 * from lineage. Readers hold a reference, so eviction never frees a block
 * under a running task.
 */
#include "base/assert.h"
#include "compute/internal.h"

struct cm__cache {
  GMutex lock;
  GHashTable *blocks; /* uint64 key* -> cm__block* */
  GQueue lru;         /* head = most recently used */
  uint64_t budget_bytes;
  uint64_t used_bytes;
  uint64_t hits;
  uint64_t misses;
  uint64_t evictions;
};

static uint64_t block_key(uint32_t ds_id, uint32_t part) {
  return (uint64_t)ds_id << 32 | part;
}

cm__cache *cm__cache_new(uint64_t budget_bytes) {
  cm__cache *c = g_new0(cm__cache, 1);
  g_mutex_init(&c->lock);
  c->blocks = g_hash_table_new(g_int64_hash, g_int64_equal);
  g_queue_init(&c->lru);
  c->budget_bytes = budget_bytes;
  return c;
}

static void block_release(cm__block *b) {
  cm__batch_free(&b->batch);
  g_free(b);
}

void cm__block_unref(cm__cache *c, cm__block *b) {
  if (!b)
    return;
  SL_ASSERT(c != NULL);
  SL_ASSERT(g_atomic_int_get(&b->refs) > 0);
  if (g_atomic_int_dec_and_test(&b->refs))
    block_release(b);
}

/* Removes b from the table and LRU (lock held); drops the table's ref. */
static void block_remove(cm__cache *c, cm__block *b) {
  g_hash_table_remove(c->blocks, &b->key);
  g_queue_unlink(&c->lru, &b->link);
  SL_ASSERT(c->used_bytes >= b->batch.buf.cap);
  c->used_bytes -= b->batch.buf.cap;
  if (g_atomic_int_dec_and_test(&b->refs))
    block_release(b);
}

void cm__cache_free(cm__cache *c) {
  if (!c)
    return;
  while (c->lru.head)
    block_remove(c, c->lru.head->data);
  SL_ASSERT(c->used_bytes == 0);
  g_hash_table_destroy(c->blocks);
  g_mutex_clear(&c->lock);
  g_free(c);
}

cm__block *cm__cache_get(cm__cache *c, uint32_t ds_id, uint32_t part) {
  uint64_t key = block_key(ds_id, part);
  g_mutex_lock(&c->lock);
  cm__block *b = g_hash_table_lookup(c->blocks, &key);
  if (b) {
    g_queue_unlink(&c->lru, &b->link);
    g_queue_push_head_link(&c->lru, &b->link);
    g_atomic_int_inc(&b->refs);
    c->hits++;
  } else {
    c->misses++;
  }
  g_mutex_unlock(&c->lock);
  return b;
}

bool cm__cache_has(cm__cache *c, uint32_t ds_id, uint32_t part) {
  uint64_t key = block_key(ds_id, part);
  g_mutex_lock(&c->lock);
  bool has = g_hash_table_contains(c->blocks, &key);
  g_mutex_unlock(&c->lock);
  return has;
}

/* Evicts cold blocks of other datasets until `need` more bytes fit. */
static bool make_room(cm__cache *c, uint32_t ds_id, uint64_t need) {
  GList *it = c->lru.tail;
  while (c->used_bytes + need > c->budget_bytes && it) {
    GList *prev = it->prev;
    cm__block *b = it->data;
    if (b->ds_id != ds_id) {
      block_remove(c, b);
      c->evictions++;
    }
    it = prev;
  }
  return c->used_bytes + need <= c->budget_bytes;
}

bool cm__cache_put(cm__cache *c, uint32_t ds_id, uint32_t part,
                   cm__batch *batch) {
  SL_ASSERT(c != NULL);
  SL_ASSERT(batch != NULL);
  uint64_t key = block_key(ds_id, part);
  if (batch->buf.len > 0 && batch->buf.cap > batch->buf.len) {
    batch->buf.data = g_realloc(batch->buf.data, batch->buf.len);
    batch->buf.cap = batch->buf.len;
  }
  uint64_t need = batch->buf.cap;
  g_mutex_lock(&c->lock);
  bool stored = false;
  if (g_hash_table_contains(c->blocks, &key) || need > c->budget_bytes ||
      !make_room(c, ds_id, need))
    goto out_unlock;
  cm__block *b = g_new0(cm__block, 1);
  b->batch = *batch;
  cm__batch_init(batch);
  b->key = key;
  b->ds_id = ds_id;
  b->refs = 1;
  b->link.data = b;
  g_hash_table_insert(c->blocks, &b->key, b);
  g_queue_push_head_link(&c->lru, &b->link);
  c->used_bytes += need;
  stored = true;
out_unlock:
  g_mutex_unlock(&c->lock);
  return stored;
}

bool cm__cache_drop(cm__cache *c, uint32_t ds_id, uint32_t part) {
  uint64_t key = block_key(ds_id, part);
  g_mutex_lock(&c->lock);
  cm__block *b = g_hash_table_lookup(c->blocks, &key);
  if (b)
    block_remove(c, b);
  g_mutex_unlock(&c->lock);
  return b != NULL;
}

uint32_t cm__cache_drop_ds(cm__cache *c, uint32_t ds_id) {
  uint32_t n = 0;
  g_mutex_lock(&c->lock);
  GList *it = c->lru.head;
  while (it) {
    GList *next = it->next;
    cm__block *b = it->data;
    if (b->ds_id == ds_id) {
      block_remove(c, b);
      n++;
    }
    it = next;
  }
  g_mutex_unlock(&c->lock);
  return n;
}

uint32_t cm__cache_count_ds(cm__cache *c, uint32_t ds_id) {
  uint32_t n = 0;
  g_mutex_lock(&c->lock);
  for (GList *it = c->lru.head; it; it = it->next)
    n += ((cm__block *)it->data)->ds_id == ds_id;
  g_mutex_unlock(&c->lock);
  return n;
}

void cm__cache_stats(cm__cache *c, cm_stats *out) {
  g_mutex_lock(&c->lock);
  out->cache_hits = c->hits;
  out->cache_misses = c->misses;
  out->cache_evictions = c->evictions;
  out->cache_bytes = c->used_bytes;
  g_mutex_unlock(&c->lock);
}
