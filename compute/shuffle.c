/*
 * shuffle.c — the shuffle: map-side writer and reduce-side reader.
 *
 * Spark's sort-based shuffle (SortShuffleManager + ExternalSorter): each map
 * task writes one file with its records sorted by (reduce partition, key)
 * and an index of where each partition's section starts. Here:
 *
 *   - records enter an arena; with a combiner (reduce_by_key,
 *     aggregate_by_key, distinct) an open-addressing table keeps one
 *     accumulator per key, merged as records arrive (map-side combine);
 *   - past the task's memory budget the arena is sorted and spilled as a
 *     sorted run; at the end the runs are merged (combining equal keys)
 *     into the map output file; the index stays in memory (MapStatus);
 *   - a reducer merges its section of every map output with a k-way heap
 *     ordered by (key, source), then combines, groups or co-groups equal
 *     keys. Only one read buffer per source is resident, so a reducer's
 *     memory does not grow with its input (except for one group's values).
 *
 * Sources are ordered by (shuffle, map task), and the heap breaks key ties
 * by source, so equal keys always meet in map-task order: results do not
 * depend on timing or on the number of executors.
 */
#include <string.h>

#include "base/assert.h"
#include "compute/blockstore.h"
#include "compute/internal.h"

#define SH_ENTRY_HEADER_BYTES 12u /* [u32 part][u32 klen][u32 vlen] */
#define SH_TABLE_SLOTS_MIN 1024u
#define SH_HASH_SEED UINT64_C(0x5eed5eed)
#define SH_SORT_ITEM_BYTES 24u /* sizeof(sh_sort_item) */
#define SH_LOOKAHEAD_RECORDS 32u /* hashed ahead of combining; 2^k */

/* ------------------------------------------------------------ partition */

static uint32_t range_partition(const cm__shuffle *s, cm_bytes key) {
  guint lo = 0, hi = s->bound_keys->len;
  while (lo < hi) {
    guint mid = lo + (hi - lo) / 2;
    cm_bytes b = g_array_index(s->bound_keys, cm_bytes, mid);
    if (cm__key_cmp(key, b, s->descending) <= 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

/* The hash partition from a key's hash: its high 32 bits scaled to
 * [0, n_out) with a multiply instead of a division (the low bits index the
 * map-side combine table, so the two stay independent). */
static uint32_t hash_partition(uint64_t hash, uint32_t n_out) {
  return (uint32_t)(((hash >> 32) * n_out) >> 32);
}

uint32_t cm__shuffle_partition(const cm__shuffle *s, cm_bytes key,
                               uint64_t *round_robin) {
  switch (s->partitioner) {
  case CM__PART_HASH:
    return hash_partition(cm__hash64(key.ptr, key.len, SH_HASH_SEED), s->n_out);
  case CM__PART_RANGE:
    SL_ASSERT(s->bounds_ready);
    return range_partition(s, key);
  case CM__PART_ROUND_ROBIN:
    return (uint32_t)((*round_robin)++ % s->n_out);
  }
  SL_ASSERT(!"unknown partitioner");
  return 0;
}

/* Spark's RangePartitioner.determineBounds: walk the weighted sample in
 * order and cut whenever the cumulative weight passes the next step. */
void cm__shuffle_set_bounds(cm__shuffle *s, cm__batch *sorted_keys,
                            const GArray *weights) {
  SL_ASSERT(!s->bounds_ready);
  SL_ASSERT(weights->len == sorted_keys->count);
  double total = 0;
  for (guint i = 0; i < weights->len; i++)
    total += g_array_index(weights, double, i);
  double step = total / s->n_out, target = step, cum = 0;
  cm_buf last;
  cm__buf_init(&last);
  bool have_last = false;
  const uint8_t *p = sorted_keys->buf.data;
  for (guint i = 0; i < weights->len && s->bounds.count + 1 < s->n_out; i++) {
    cm_rec rec;
    p += cm__rec_decode(p, &rec);
    cum += g_array_index(weights, double, i);
    if (cum < target)
      continue;
    if (!have_last ||
        cm__key_cmp(rec.key, cm_buf_bytes(&last), s->descending) > 0) {
      cm__batch_add(&s->bounds, rec.key, CM_NO_BYTES);
      cm_buf_set(&last, rec.key);
      have_last = true;
    }
    target += step;
  }
  cm__buf_free(&last);
  p = s->bounds.buf.data;
  for (uint64_t i = 0; i < s->bounds.count; i++) {
    cm_rec rec;
    p += cm__rec_decode(p, &rec);
    g_array_append_val(s->bound_keys, rec.key);
  }
  s->bounds_ready = true;
}

void cm__map_output_free(cm__map_output *o, bool delete_file) {
  if (!o)
    return;
  if (delete_file)
    blk_unlink(o->path);
  g_free(o->path);
  g_free(o->offsets);
  g_free(o);
}

/* --------------------------------------------------------------- merger */

typedef struct mg_source {
  blk_reader *reader;
  uint64_t pos; /* file offset of the next unread byte */
  uint64_t end;
  uint8_t *buf;
  size_t buf_len; /* bytes valid */
  size_t buf_pos; /* next record */
  size_t buf_cap;
  cm_rec cur;
  uint32_t tag; /* map index (reduce side) or run index */
} mg_source;

typedef struct mg_merger {
  mg_source *src;
  uint32_t n;
  uint32_t *heap;
  uint32_t heap_len;
  int64_t pending; /* source whose current record was handed out */
  bool descending;
  int64_t failed_source; /* source whose read failed, or -1 */
} mg_merger;

/* Makes at least `need` bytes available from buf_pos. Returns 0, or -1 if
 * the file ends early or a read fails. */
static int src_fill(mg_source *s, size_t need, GError **err) {
  if (s->buf_len - s->buf_pos >= need)
    return 0;
  memmove(s->buf, s->buf + s->buf_pos, s->buf_len - s->buf_pos);
  s->buf_len -= s->buf_pos;
  s->buf_pos = 0;
  if (need > s->buf_cap) {
    s->buf_cap = need;
    s->buf = g_realloc(s->buf, s->buf_cap);
  }
  while (s->buf_len < need) {
    size_t want = s->buf_cap - s->buf_len;
    if (want > s->end - s->pos)
      want = (size_t)(s->end - s->pos);
    size_t got = 0;
    if (want == 0 || blk_read(s->reader, s->buf + s->buf_len, want, &got,
                              err) != 0 ||
        got == 0) {
      if (err && !*err)
        g_set_error(err, CM_ERROR, CM_ERROR_IO, "shuffle file ends early");
      return -1;
    }
    s->buf_len += got;
    s->pos += got;
  }
  return 0;
}

/* Loads the source's next record; *has false at the end of its range. */
static int src_advance(mg_source *s, bool *has, GError **err) {
  if (s->buf_pos == s->buf_len && s->pos == s->end) {
    *has = false;
    return 0;
  }
  if (src_fill(s, CM__REC_HEADER_BYTES, err) != 0)
    return -1;
  const uint8_t *p = s->buf + s->buf_pos;
  size_t size = CM__REC_HEADER_BYTES + (size_t)cm__get_u32(p) +
                cm__get_u32(p + 4);
  if (src_fill(s, size, err) != 0)
    return -1;
  s->buf_pos += cm__rec_decode(s->buf + s->buf_pos, &s->cur);
  *has = true;
  return 0;
}

static bool heap_less(const mg_merger *m, uint32_t a, uint32_t b) {
  int c = cm__key_cmp(m->src[a].cur.key, m->src[b].cur.key, m->descending);
  return c < 0 || (c == 0 && a < b);
}

static void heap_down(mg_merger *m, uint32_t i) {
  for (;;) {
    uint32_t l = 2 * i + 1, r = l + 1, best = i;
    if (l < m->heap_len && heap_less(m, m->heap[l], m->heap[best]))
      best = l;
    if (r < m->heap_len && heap_less(m, m->heap[r], m->heap[best]))
      best = r;
    if (best == i)
      return;
    uint32_t t = m->heap[i];
    m->heap[i] = m->heap[best];
    m->heap[best] = t;
    i = best;
  }
}

typedef struct mg_range {
  const char *path;
  uint64_t start;
  uint64_t end;
  uint32_t tag;
} mg_range;

static void merger_free(mg_merger *m) {
  if (!m)
    return;
  for (uint32_t i = 0; i < m->n; i++) {
    blk_reader_close(m->src[i].reader);
    g_free(m->src[i].buf);
  }
  g_free(m->src);
  g_free(m->heap);
  g_free(m);
}

/* Opens every non-empty range. On failure *failed_tag names the range. */
static mg_merger *merger_open(const mg_range *ranges, uint32_t n,
                              bool descending, uint64_t memory_bytes,
                              uint32_t *failed_tag, GError **err) {
  mg_merger *m = g_new0(mg_merger, 1);
  m->src = g_new0(mg_source, n ? n : 1);
  m->heap = g_new0(uint32_t, n ? n : 1);
  m->descending = descending;
  m->pending = -1;
  m->failed_source = -1;
  size_t cap = n ? (size_t)(memory_bytes / n) : CM__MERGE_BUFFER_MIN_BYTES;
  cap = CLAMP(cap, CM__MERGE_BUFFER_MIN_BYTES, CM__MERGE_BUFFER_MAX_BYTES);
  uint32_t i;
  for (i = 0; i < n; i++) {
    mg_source *s = &m->src[m->n];
    s->tag = ranges[i].tag;
    s->pos = ranges[i].start;
    s->end = ranges[i].end;
    s->reader = blk_reader_open(ranges[i].path, ranges[i].start, err);
    if (!s->reader)
      goto out_fail;
    m->n++;
    s->buf_cap = cap;
    s->buf = g_malloc(cap);
    bool has = false;
    if (src_advance(s, &has, err) != 0)
      goto out_fail;
    if (has)
      m->heap[m->heap_len++] = m->n - 1;
  }
  for (uint32_t h = m->heap_len / 2; h-- > 0;)
    heap_down(m, h);
  return m;
out_fail:
  *failed_tag = ranges[i].tag;
  merger_free(m);
  return NULL;
}

/* Next record in (key, source) order: 1, 0 at the end, -1 on a read error
 * (m->failed_source set). The record stays valid until the next call. */
static int merger_next(mg_merger *m, cm_rec *rec, uint32_t *source,
                       GError **err) {
  if (m->pending >= 0) {
    bool has = false;
    if (src_advance(&m->src[m->pending], &has, err) != 0) {
      m->failed_source = m->pending;
      return -1;
    }
    if (!has)
      m->heap[0] = m->heap[--m->heap_len];
    if (m->heap_len > 0)
      heap_down(m, 0);
    m->pending = -1;
  }
  if (m->heap_len == 0)
    return 0;
  uint32_t top = m->heap[0];
  *rec = m->src[top].cur;
  *source = top;
  m->pending = top;
  return 1;
}

/* ------------------------------------------------- combining equal keys */

/* Folds runs of equal keys with a merge function; used by the map-side run
 * merge and the reduce side. */
typedef struct combiner {
  const cm__fn *comb;
  cm_bytes env;
  cm_buf key;
  cm_buf acc;
  cm_buf tmp;
  bool have;
} combiner;

static void combiner_init(combiner *c, const cm__fn *comb, cm_bytes env) {
  c->comb = comb;
  c->env = env;
  cm__buf_init(&c->key);
  cm__buf_init(&c->acc);
  cm__buf_init(&c->tmp);
  c->have = false;
}

static void combiner_free(combiner *c) {
  cm__buf_free(&c->key);
  cm__buf_free(&c->acc);
  cm__buf_free(&c->tmp);
}

/* acc = comb(acc, val), double-buffered through tmp. */
static void combiner_fold(combiner *c, cm_bytes val) {
  cm_buf_clear(&c->tmp);
  c->comb->u.merge(cm_buf_bytes(&c->acc), val, c->env, &c->tmp);
  cm_buf swap = c->acc;
  c->acc = c->tmp;
  c->tmp = swap;
}

/* ---------------------------------------------------------------- writer */

/* One slot of the map-side combine table: the key's hash and where its
 * entry starts in the arena, plus one (0 = empty). Both in one 16-byte
 * slot, so a probe touches one cache line of the table. */
typedef struct sh_slot {
  uint64_t hash;
  uint64_t entry_plus1;
} sh_slot;

struct cm__shuffle_writer {
  cm__task *task;
  cm__shuffle *s;
  uint64_t budget;
  bool fold_sum_i64; /* seq is cm.sum_i64: fold 8-byte values in place */
  cm_buf arena;      /* entries: [u32 part][u32 klen][u32 vlen][key][val] */
  GArray *index;     /* size_t entry offsets (no combiner) */
  sh_slot *slots;    /* combiner: n_slots, a power of two, at most half full */
  size_t n_slots;
  size_t n_used;
  cm_buf scratch;
  uint64_t round_robin;
  GPtrArray *runs; /* cm__map_output* spilled runs [owned] */
};

static cm_bytes entry_key(const uint8_t *e) {
  return (cm_bytes){e + SH_ENTRY_HEADER_BYTES, cm__get_u32(e + 4)};
}

static cm_bytes entry_val(const uint8_t *e) {
  uint32_t kl = cm__get_u32(e + 4);
  return (cm_bytes){e + SH_ENTRY_HEADER_BYTES + kl, cm__get_u32(e + 8)};
}

static size_t entry_append(cm__shuffle_writer *w, uint32_t part, cm_bytes key,
                           cm_bytes val) {
  size_t off = w->arena.len;
  cm__buf_reserve(&w->arena, SH_ENTRY_HEADER_BYTES + key.len + val.len);
  uint8_t *e = w->arena.data + off;
  cm__put_u32(e, part);
  cm__put_u32(e + 4, (uint32_t)key.len);
  cm__put_u32(e + 8, (uint32_t)val.len);
  cm__copy(e + SH_ENTRY_HEADER_BYTES, key.ptr, key.len);
  cm__copy(e + SH_ENTRY_HEADER_BYTES + key.len, val.ptr, val.len);
  w->arena.len += SH_ENTRY_HEADER_BYTES + key.len + val.len;
  return off;
}

cm__shuffle_writer *cm__shuffle_writer_new(cm__task *t, cm__shuffle *s) {
  SL_ASSERT(t != NULL);
  SL_ASSERT(s != NULL);
  cm__shuffle_writer *w = g_new0(cm__shuffle_writer, 1);
  w->task = t;
  w->s = s;
  w->budget = t->ctx->task_memory_bytes;
  cm__buf_init(&w->arena);
  cm__buf_init(&w->scratch);
  w->index = g_array_new(FALSE, FALSE, sizeof(size_t));
  w->runs = g_ptr_array_new();
  w->round_robin = cm__mix64(t->partition) % s->n_out;
  if (s->combine != CM__COMBINE_NONE) {
    w->n_slots = SH_TABLE_SLOTS_MIN;
    w->slots = g_new0(sh_slot, w->n_slots);
    w->fold_sum_i64 = s->seq->builtin == CM__BUILTIN_SUM_I64;
  }
  return w;
}

/* Bytes the writer holds, counting the sort it will need to write them
 * out (two sort items per entry), so that spilling keeps the whole task
 * within its budget. */
static uint64_t writer_memory(const cm__shuffle_writer *w) {
  size_t entries = w->slots ? w->n_used : w->index->len;
  return w->arena.len + w->index->len * sizeof(size_t) +
         w->n_slots * sizeof(sh_slot) + entries * SH_SORT_ITEM_BYTES * 2;
}

static uint64_t key_hash(cm_bytes key) {
  return cm__hash64(key.ptr, key.len, SH_HASH_SEED);
}

/* The reduce partition of a key whose hash is already known. */
static uint32_t writer_partition(cm__shuffle_writer *w, cm_bytes key,
                                 uint64_t hash) {
  if (w->s->partitioner == CM__PART_HASH)
    return hash_partition(hash, w->s->n_out);
  return cm__shuffle_partition(w->s, key, &w->round_robin);
}

static void table_grow(cm__shuffle_writer *w) {
  size_t n = w->n_slots * 2, mask = n - 1;
  sh_slot *slots = g_new0(sh_slot, n);
  for (size_t i = 0; i < w->n_slots; i++) {
    if (!w->slots[i].entry_plus1)
      continue;
    size_t j = w->slots[i].hash & mask;
    while (slots[j].entry_plus1)
      j = (j + 1) & mask;
    slots[j] = w->slots[i];
  }
  g_free(w->slots);
  w->slots = slots;
  w->n_slots = n;
}

/* Folds rec's value into the accumulator of the entry in `slot`. */
static void combine_into(cm__shuffle_writer *w, sh_slot *slot, uint32_t part,
                         cm_rec rec) {
  cm__shuffle *s = w->s;
  uint8_t *e = w->arena.data + (slot->entry_plus1 - 1);
  cm_bytes acc = entry_val(e);
  if (w->fold_sum_i64 && acc.len == CM_I64_BYTES &&
      rec.val.len == CM_I64_BYTES) {
    /* cm.sum_i64, without the call: wrapping addition. */
    uint8_t *v = e + SH_ENTRY_HEADER_BYTES + rec.key.len;
    uint64_t sum =
        (uint64_t)cm__i64_load(v) + (uint64_t)cm__i64_load(rec.val.ptr);
    cm__i64_store(v, (int64_t)sum);
    return;
  }
  cm_buf_clear(&w->scratch);
  s->seq->u.merge(acc, rec.val, cm_buf_bytes(&s->env), &w->scratch);
  if (w->scratch.len <= acc.len) {
    cm__put_u32(e + 8, (uint32_t)w->scratch.len);
    if (w->scratch.len)
      memcpy(e + SH_ENTRY_HEADER_BYTES + rec.key.len, w->scratch.data,
             w->scratch.len);
    return;
  }
  /* Reserve first: the key view points into the arena. */
  size_t need = SH_ENTRY_HEADER_BYTES + rec.key.len + w->scratch.len;
  size_t old = slot->entry_plus1 - 1;
  cm__buf_reserve(&w->arena, need);
  cm_bytes key = entry_key(w->arena.data + old);
  slot->entry_plus1 = entry_append(w, part, key, cm_buf_bytes(&w->scratch)) + 1;
}

static void combine_add(cm__shuffle_writer *w, uint32_t part, cm_rec rec,
                        uint64_t h) {
  cm__shuffle *s = w->s;
  size_t mask = w->n_slots - 1, i = h & mask;
  for (; w->slots[i].entry_plus1; i = (i + 1) & mask) {
    sh_slot *slot = &w->slots[i];
    if (slot->hash != h)
      continue;
    cm_bytes key = entry_key(w->arena.data + (slot->entry_plus1 - 1));
    if (key.len == rec.key.len &&
        cm__bytes_same(key.ptr, rec.key.ptr, key.len)) {
      combine_into(w, slot, part, rec);
      return;
    }
  }
  cm_bytes acc = rec.val;
  if (s->combine == CM__COMBINE_AGGREGATE) {
    cm_buf_clear(&w->scratch);
    s->seq->u.merge(cm_buf_bytes(&s->zero), rec.val, cm_buf_bytes(&s->env),
                    &w->scratch);
    acc = cm_buf_bytes(&w->scratch);
  }
  w->slots[i] = (sh_slot){h, entry_append(w, part, rec.key, acc) + 1};
  if (++w->n_used * 2 >= w->n_slots)
    table_grow(w);
}

/* Empties the writer after a spill, giving back memory that grew past the
 * budget, so the next records always fit before the next spill. */
static void writer_reset(cm__shuffle_writer *w) {
  g_array_set_size(w->index, 0);
  w->arena.len = 0;
  if (w->arena.cap > w->budget / 2)
    cm__buf_free(&w->arena);
  if (!w->slots)
    return;
  w->n_used = 0;
  if (w->n_slots > SH_TABLE_SLOTS_MIN) {
    g_free(w->slots);
    w->n_slots = SH_TABLE_SLOTS_MIN;
    w->slots = g_new0(sh_slot, w->n_slots);
  } else {
    memset(w->slots, 0, w->n_slots * sizeof(sh_slot));
  }
}

/* ------------------------------------------------------------ sorting */

/* What the sort moves around instead of entry offsets: the first 16 key
 * bytes as two big-endian integers (zero-padded; bit-inverted for a
 * descending sort), so most comparisons are two integer compares on the
 * item itself and only ties (equal first 16 bytes) read the arena. */
typedef struct sh_sort_item {
  uint64_t prefix[2];
  uint64_t entry; /* arena offset */
} sh_sort_item;
_Static_assert(sizeof(sh_sort_item) == SH_SORT_ITEM_BYTES,
               "SH_SORT_ITEM_BYTES is the item size");

#define SH_SORT_RUN_ITEMS 24u /* insertion-sorted before merging */

static void sort_item_init(sh_sort_item *it, const uint8_t *arena,
                           uint64_t entry, bool descending) {
  cm_bytes key = entry_key(arena + entry);
  uint8_t head[16] = {0};
  memcpy(head, key.ptr, key.len < sizeof head ? key.len : sizeof head);
  it->prefix[0] = cm__be64_load(head);
  it->prefix[1] = cm__be64_load(head + 8);
  if (descending) {
    it->prefix[0] = ~it->prefix[0];
    it->prefix[1] = ~it->prefix[1];
  }
  it->entry = entry;
}

/* Zero padding makes a key sort no later than its extensions, so prefix
 * order agrees with cm__key_cmp wherever the prefixes differ. */
static int item_cmp(const sh_sort_item *a, const sh_sort_item *b,
                    const uint8_t *arena, bool descending) {
  if (a->prefix[0] != b->prefix[0])
    return a->prefix[0] < b->prefix[0] ? -1 : 1;
  if (a->prefix[1] != b->prefix[1])
    return a->prefix[1] < b->prefix[1] ? -1 : 1;
  return cm__key_cmp(entry_key(arena + a->entry), entry_key(arena + b->entry),
                     descending);
}

/* Stable: bottom-up merge sort over runs sorted by insertion. */
static void sort_items(sh_sort_item *items, sh_sort_item *tmp, size_t n,
                       const uint8_t *arena, bool descending) {
  for (size_t lo = 0; lo < n; lo += SH_SORT_RUN_ITEMS) {
    size_t hi = MIN(lo + SH_SORT_RUN_ITEMS, n);
    for (size_t i = lo + 1; i < hi; i++) {
      sh_sort_item x = items[i];
      size_t j = i;
      while (j > lo && item_cmp(&x, &items[j - 1], arena, descending) < 0) {
        items[j] = items[j - 1];
        j--;
      }
      items[j] = x;
    }
  }
  sh_sort_item *src = items, *dst = tmp;
  for (size_t width = SH_SORT_RUN_ITEMS; width < n; width *= 2) {
    for (size_t lo = 0; lo < n; lo += 2 * width) {
      size_t mid = MIN(lo + width, n), hi = MIN(lo + 2 * width, n);
      size_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi)
        dst[k++] = item_cmp(&src[j], &src[i], arena, descending) < 0 ? src[j++]
                                                                     : src[i++];
      memcpy(dst + k, src + i, (mid - i) * sizeof *src);
      k += mid - i;
      memcpy(dst + k, src + j, (hi - j) * sizeof *src);
    }
    sh_sort_item *t = src;
    src = dst;
    dst = t;
  }
  if (src != items)
    memcpy(items, src, n * sizeof *items);
}

/* The writer's entries in (partition, key) order, stable: a counting sort
 * by partition, then each partition's items sorted by key. *n_out [set]
 * is the number of items; the array is [owned] by the caller (g_free). */
static sh_sort_item *sorted_entries(cm__shuffle_writer *w, size_t *n_out) {
  const uint8_t *arena = w->arena.data;
  bool descending = w->s->descending;
  uint32_t parts = w->s->n_out;
  GArray *offs = w->index;
  if (w->s->combine != CM__COMBINE_NONE) {
    g_array_set_size(offs, 0);
    for (size_t i = 0; i < w->n_slots; i++)
      if (w->slots[i].entry_plus1) {
        size_t off = w->slots[i].entry_plus1 - 1;
        g_array_append_val(offs, off);
      }
  }
  size_t n = offs->len;
  uint64_t *starts = g_new0(uint64_t, (size_t)parts + 1);
  for (size_t i = 0; i < n; i++)
    starts[cm__get_u32(arena + g_array_index(offs, size_t, i)) + 1]++;
  for (uint32_t p = 0; p < parts; p++)
    starts[p + 1] += starts[p];
  sh_sort_item *items = g_new(sh_sort_item, n ? n : 1);
  sh_sort_item *tmp = g_new(sh_sort_item, n ? n : 1);
  uint64_t *fill = g_memdup2(starts, ((size_t)parts + 1) * sizeof *starts);
  for (size_t i = 0; i < n; i++) {
    size_t off = g_array_index(offs, size_t, i);
    sort_item_init(&items[fill[cm__get_u32(arena + off)]++], arena, off,
                   descending);
  }
  for (uint32_t p = 0; p < parts; p++)
    sort_items(items + starts[p], tmp + starts[p], starts[p + 1] - starts[p],
               arena, descending);
  g_free(fill);
  g_free(tmp);
  g_free(starts);
  *n_out = n;
  return items;
}

static char *output_path(cm__shuffle_writer *w, const char *kind,
                         uint32_t seq) {
  return g_strdup_printf("%s/shuffle_%u_%u_%u_%s%u", w->task->ctx->scratch_dir,
                         w->s->id, w->task->partition, w->task->attempt, kind,
                         seq);
}

/* Sorts what is in memory and writes it as one sorted file; empties the
 * arena. */
static int write_sorted(cm__shuffle_writer *w, const char *path,
                        cm__map_output **out, GError **err) {
  blk_writer *fw = blk_writer_create(path, err);
  if (!fw)
    return -1;
  size_t n = 0;
  sh_sort_item *items = sorted_entries(w, &n);
  cm__map_output *o = g_new0(cm__map_output, 1);
  o->path = g_strdup(path);
  o->offsets = g_new0(uint64_t, w->s->n_out + 1);
  uint32_t part = 0;
  for (size_t i = 0; i < n; i++) {
    const uint8_t *e = w->arena.data + items[i].entry;
    uint32_t p = cm__get_u32(e);
    while (part < p)
      o->offsets[++part] = blk_writer_bytes(fw);
    if (blk_write(fw, e + 4, SH_ENTRY_HEADER_BYTES - 4 + entry_key(e).len +
                                 entry_val(e).len,
                  err) != 0)
      goto out_abort;
    o->records++;
  }
  while (part < w->s->n_out)
    o->offsets[++part] = blk_writer_bytes(fw);
  if (blk_writer_close(fw, err) != 0) {
    fw = NULL;
    goto out_abort;
  }
  g_free(items);
  writer_reset(w);
  *out = o;
  return 0;
out_abort:
  g_free(items);
  blk_writer_abort(fw);
  blk_unlink(path);
  cm__map_output_free(o, false);
  return -1;
}

static int spill(cm__shuffle_writer *w, GError **err) {
  char *path = output_path(w, "run", w->runs->len);
  cm__map_output *run = NULL;
  int rc = write_sorted(w, path, &run, err);
  g_free(path);
  if (rc != 0)
    return -1;
  g_ptr_array_add(w->runs, run);
  w->task->metrics.spill_files++;
  w->task->metrics.spill_bytes += run->offsets[w->s->n_out];
  return 0;
}

/* Records waiting in the combine loop's look-ahead ring. */
typedef struct sh_pending {
  cm_rec rec;
  uint64_t hash;
  uint32_t part;
} sh_pending;

static void prefetch_slot(const cm__shuffle_writer *w, uint64_t hash) {
  __builtin_prefetch(&w->slots[hash & (w->n_slots - 1)]);
}

/* A hint only: the entry the key's home slot points at, if any. */
static void prefetch_entry(const cm__shuffle_writer *w, uint64_t hash) {
  const sh_slot *slot = &w->slots[hash & (w->n_slots - 1)];
  if (slot->entry_plus1)
    __builtin_prefetch(w->arena.data + (slot->entry_plus1 - 1));
}

/* Map-side combine of one batch. A hash table bigger than the cache costs
 * a memory miss per record for the slot and one for the entry; to overlap
 * them, records are hashed SH_LOOKAHEAD_RECORDS ahead of being combined
 * (prefetch the slot), and their slot is peeked half as far ahead
 * (prefetch the entry). Prefetches are hints: the combine itself probes
 * afresh, so growth or a spill in between only costs a miss. Records are
 * combined in input order, as without the ring. */
static int combine_batch(cm__shuffle_writer *w, const cm__batch *b,
                         GError **err) {
  sh_pending ring[SH_LOOKAHEAD_RECORDS];
  const uint8_t *p = b->buf.data, *end = p + b->buf.len;
  uint64_t head = 0, tail = 0; /* decoded, combined */
  for (;;) {
    if (p < end && head - tail < SH_LOOKAHEAD_RECORDS) {
      sh_pending *q = &ring[head % SH_LOOKAHEAD_RECORDS];
      p += cm__rec_decode(p, &q->rec);
      q->hash = key_hash(q->rec.key);
      q->part = writer_partition(w, q->rec.key, q->hash);
      SL_ASSERT(q->part < w->s->n_out);
      prefetch_slot(w, q->hash);
      head++;
      continue;
    }
    if (tail == head)
      return 0;
    uint64_t peek = tail + SH_LOOKAHEAD_RECORDS / 2;
    if (peek < head)
      prefetch_entry(w, ring[peek % SH_LOOKAHEAD_RECORDS].hash);
    const sh_pending *q = &ring[tail % SH_LOOKAHEAD_RECORDS];
    combine_add(w, q->part, q->rec, q->hash);
    tail++;
    if (writer_memory(w) > w->budget && spill(w, err) != 0)
      return -1;
  }
}

int cm__shuffle_writer_add(void *writer, const cm__batch *b, GError **err) {
  cm__shuffle_writer *w = writer;
  if (w->s->combine != CM__COMBINE_NONE)
    return combine_batch(w, b, err);
  const uint8_t *p = b->buf.data, *end = p + b->buf.len;
  bool hashed = w->s->partitioner == CM__PART_HASH;
  while (p < end) {
    cm_rec rec;
    p += cm__rec_decode(p, &rec);
    uint32_t part =
        writer_partition(w, rec.key, hashed ? key_hash(rec.key) : 0);
    SL_ASSERT(part < w->s->n_out);
    size_t off = entry_append(w, part, rec.key, rec.val);
    g_array_append_val(w->index, off);
    if (writer_memory(w) > w->budget && spill(w, err) != 0)
      return -1;
  }
  return 0;
}

/* Merges the spilled runs section by section into the final file. */
static int merge_runs(cm__shuffle_writer *w, const char *path,
                      cm__map_output **out, GError **err) {
  cm__shuffle *s = w->s;
  uint32_t n = w->runs->len;
  mg_range *ranges = g_new0(mg_range, n);
  blk_writer *fw = blk_writer_create(path, err);
  if (!fw) {
    g_free(ranges);
    return -1;
  }
  cm__map_output *o = g_new0(cm__map_output, 1);
  o->path = g_strdup(path);
  o->offsets = g_new0(uint64_t, s->n_out + 1);
  cm__batch rec_buf;
  cm__batch_init(&rec_buf);
  int rc = 0;
  for (uint32_t part = 0; part < s->n_out && rc == 0; part++) {
    o->offsets[part] = blk_writer_bytes(fw);
    for (uint32_t i = 0; i < n; i++) {
      const cm__map_output *run = g_ptr_array_index(w->runs, i);
      ranges[i] = (mg_range){run->path, run->offsets[part],
                             run->offsets[part + 1], i};
    }
    uint32_t failed = 0;
    mg_merger *m = merger_open(ranges, n, s->descending, w->budget, &failed,
                               err);
    if (!m) {
      rc = -1;
      break;
    }
    combiner c;
    combiner_init(&c, s->comb, cm_buf_bytes(&s->env));
    cm_rec rec;
    uint32_t src;
    int got;
    while (rc == 0 && (got = merger_next(m, &rec, &src, err)) != 0) {
      if (got < 0) {
        rc = -1;
        break;
      }
      cm__batch_clear(&rec_buf);
      if (s->combine == CM__COMBINE_NONE) {
        cm__batch_add(&rec_buf, rec.key, rec.val);
      } else if (c.have && cm_bytes_eq(rec.key, cm_buf_bytes(&c.key))) {
        combiner_fold(&c, rec.val);
        continue;
      } else {
        if (c.have)
          cm__batch_add(&rec_buf, cm_buf_bytes(&c.key), cm_buf_bytes(&c.acc));
        cm_buf_set(&c.key, rec.key);
        cm_buf_set(&c.acc, rec.val);
        c.have = true;
      }
      o->records += rec_buf.count;
      rc = blk_write(fw, rec_buf.buf.data, rec_buf.buf.len, err);
    }
    if (rc == 0 && c.have) {
      cm__batch_clear(&rec_buf);
      cm__batch_add(&rec_buf, cm_buf_bytes(&c.key), cm_buf_bytes(&c.acc));
      o->records++;
      rc = blk_write(fw, rec_buf.buf.data, rec_buf.buf.len, err);
    }
    combiner_free(&c);
    merger_free(m);
  }
  o->offsets[s->n_out] = blk_writer_bytes(fw);
  cm__batch_free(&rec_buf);
  g_free(ranges);
  if (rc == 0 && blk_writer_close(fw, err) == 0) {
    *out = o;
    return 0;
  }
  if (rc != 0)
    blk_writer_abort(fw);
  cm__map_output_free(o, true);
  return -1;
}

int cm__shuffle_writer_finish(cm__shuffle_writer *w, cm__map_output **out,
                              GError **err) {
  SL_ASSERT(w != NULL);
  SL_ASSERT(out != NULL);
  char *path = output_path(w, "data", 0);
  int rc;
  if (w->runs->len == 0) {
    rc = write_sorted(w, path, out, err);
  } else {
    bool in_memory = w->arena.len > 0;
    rc = in_memory ? spill(w, err) : 0;
    if (rc == 0)
      rc = merge_runs(w, path, out, err);
  }
  g_free(path);
  if (rc == 0)
    w->task->metrics.shuffle_bytes += (*out)->offsets[w->s->n_out];
  return rc;
}

void cm__shuffle_writer_free(cm__shuffle_writer *w) {
  if (!w)
    return;
  for (guint i = 0; i < w->runs->len; i++)
    cm__map_output_free(g_ptr_array_index(w->runs, i), true);
  g_ptr_array_free(w->runs, TRUE);
  g_array_free(w->index, TRUE);
  cm__buf_free(&w->arena);
  cm__buf_free(&w->scratch);
  g_free(w->slots);
  g_free(w);
}

/* ---------------------------------------------------------------- reader */

struct cm__shuffle_reader {
  cm__task *task;
  cm_ds *ds;
  mg_merger *merger;
  uint32_t *source_shuffle; /* per merger source */
  const char **paths;       /* per merger source, borrowed */
  uint32_t n_first;         /* sources from shuffles[0] */
  combiner c;               /* COMBINE: key/acc; GROUP/COGROUP: key + lists */
  cm_buf list_b;
  bool done;
};

static void fetch_failed(cm__task *t, const cm__shuffle *s, uint32_t map,
                         const char *path, GError **err) {
  t->status = CM__TASK_FETCH_FAILED;
  t->fetch_shuffle_id = s->id;
  t->fetch_map = map;
  g_free(t->fetch_path);
  t->fetch_path = g_strdup(path);
  if (err && !*err)
    g_set_error(err, CM_ERROR, CM_ERROR_IO,
                "map output %u of shuffle %u is missing", map, s->id);
}

/* Lists the non-empty sections of partition `part` of every map output,
 * under the lock (the driver may unregister outputs concurrently). */
static GArray *reader_ranges(cm__task *t, cm_ds *ds, uint32_t part,
                             GArray *tags_shuffle, uint32_t *n_first,
                             GError **err) {
  cm_ctx *ctx = t->ctx;
  GArray *ranges = g_array_new(FALSE, FALSE, sizeof(mg_range));
  g_mutex_lock(&ctx->lock);
  for (uint32_t d = 0; d < 2 && ds->shuffles[d]; d++) {
    cm__shuffle *s = ds->shuffles[d];
    for (uint32_t m = 0; m < s->parent->n_parts; m++) {
      const cm__map_output *o = s->outputs[m];
      if (!o) {
        g_mutex_unlock(&ctx->lock);
        fetch_failed(t, s, m, NULL, err);
        g_array_free(ranges, TRUE);
        return NULL;
      }
      if (o->offsets[part] == o->offsets[part + 1])
        continue;
      /* The path string lives as long as the context (dead outputs are
       * kept), so borrowing it past the lock is safe. */
      mg_range r = {o->path, o->offsets[part], o->offsets[part + 1], m};
      g_array_append_val(ranges, r);
      uint32_t sid = d;
      g_array_append_val(tags_shuffle, sid);
    }
    if (d == 0)
      *n_first = ranges->len;
  }
  g_mutex_unlock(&ctx->lock);
  return ranges;
}

cm__shuffle_reader *cm__shuffle_reader_open(cm__task *t, cm_ds *ds,
                                            uint32_t part, GError **err) {
  SL_ASSERT(ds->op == CM__OP_SHUFFLED);
  SL_ASSERT(part < ds->n_parts);
  GArray *tags = g_array_new(FALSE, FALSE, sizeof(uint32_t));
  uint32_t n_first = 0;
  GArray *ranges = reader_ranges(t, ds, part, tags, &n_first, err);
  if (!ranges) {
    g_array_free(tags, TRUE);
    return NULL;
  }
  uint32_t failed = 0;
  mg_merger *m = merger_open((const mg_range *)ranges->data, ranges->len,
                             ds->shuffles[0]->descending,
                             t->ctx->task_memory_bytes, &failed, err);
  if (!m) {
    uint32_t i;
    for (i = 0; i < ranges->len; i++)
      if (g_array_index(ranges, mg_range, i).tag == failed)
        break;
    uint32_t d = i < tags->len ? g_array_index(tags, uint32_t, i) : 0;
    fetch_failed(t, ds->shuffles[d], failed,
                 i < ranges->len ? g_array_index(ranges, mg_range, i).path
                                 : NULL,
                 err);
    g_array_free(ranges, TRUE);
    g_array_free(tags, TRUE);
    return NULL;
  }
  cm__shuffle_reader *r = g_new0(cm__shuffle_reader, 1);
  r->paths = g_new0(const char *, ranges->len ? ranges->len : 1);
  for (guint i = 0; i < ranges->len; i++)
    r->paths[i] = g_array_index(ranges, mg_range, i).path;
  g_array_free(ranges, TRUE);
  r->task = t;
  r->ds = ds;
  r->merger = m;
  r->n_first = n_first;
  r->source_shuffle = (uint32_t *)g_array_free(tags, FALSE);
  combiner_init(&r->c, ds->comb, cm_buf_bytes(&ds->shuffles[0]->env));
  cm__buf_init(&r->list_b);
  return r;
}

/* Emits the finished group of the reader into out. */
static void group_flush(cm__shuffle_reader *r, cm__batch *out) {
  if (!r->c.have)
    return;
  if (r->ds->reduce_mode == CM__REDUCE_COGROUP) {
    uint8_t hdr[4];
    cm__put_u32(hdr, (uint32_t)r->c.acc.len);
    cm_buf_clear(&r->c.tmp);
    cm_buf_append(&r->c.tmp, hdr, 4);
    cm_buf_append(&r->c.tmp, r->c.acc.data, r->c.acc.len);
    cm_buf_append(&r->c.tmp, r->list_b.data, r->list_b.len);
    cm__batch_add(out, cm_buf_bytes(&r->c.key), cm_buf_bytes(&r->c.tmp));
  } else {
    cm__batch_add(out, cm_buf_bytes(&r->c.key), cm_buf_bytes(&r->c.acc));
  }
  r->c.have = false;
  cm_buf_clear(&r->c.acc);
  cm_buf_clear(&r->list_b);
}

static void group_add(cm__shuffle_reader *r, cm_rec rec, uint32_t source) {
  switch (r->ds->reduce_mode) {
  case CM__REDUCE_COMBINE:
    if (r->c.have)
      combiner_fold(&r->c, rec.val);
    else
      cm_buf_set(&r->c.acc, rec.val);
    break;
  case CM__REDUCE_GROUP:
    cm_list_append(&r->c.acc, rec.val);
    break;
  case CM__REDUCE_COGROUP:
    cm_list_append(source < r->n_first ? &r->c.acc : &r->list_b, rec.val);
    break;
  default:
    SL_ASSERT(!"not a grouping mode");
  }
  r->c.have = true;
}

int cm__shuffle_reader_next(cm__shuffle_reader *r, cm__batch *out,
                            bool *more, GError **err) {
  cm__batch_clear(out);
  *more = !r->done;
  cm_rec rec;
  uint32_t source;
  while (!r->done && out->buf.len < CM__BATCH_BYTES) {
    int got = merger_next(r->merger, &rec, &source, err);
    if (got < 0) {
      uint32_t src = (uint32_t)r->merger->failed_source;
      uint32_t d = r->source_shuffle[src];
      fetch_failed(r->task, r->ds->shuffles[d], r->merger->src[src].tag,
                   r->paths[src], err);
      return -1;
    }
    if (got == 0) {
      r->done = true;
      if (r->ds->reduce_mode != CM__REDUCE_PASS)
        group_flush(r, out);
      break;
    }
    if (r->ds->reduce_mode == CM__REDUCE_PASS) {
      cm__batch_add(out, rec.key, rec.val);
      continue;
    }
    if (r->c.have && !cm_bytes_eq(rec.key, cm_buf_bytes(&r->c.key)))
      group_flush(r, out);
    if (!r->c.have)
      cm_buf_set(&r->c.key, rec.key);
    group_add(r, rec, source);
  }
  *more = !r->done;
  return 0;
}

void cm__shuffle_reader_free(cm__shuffle_reader *r) {
  if (!r)
    return;
  merger_free(r->merger);
  g_free(r->source_shuffle);
  g_free(r->paths);
  combiner_free(&r->c);
  cm__buf_free(&r->list_b);
  g_free(r);
}
