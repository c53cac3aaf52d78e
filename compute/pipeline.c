/*
 * pipeline.c — running the narrow part of one task.
 *
 * Spark pipelines the narrow transformations of a stage by nesting
 * iterators (MapPartitionsRDD.compute calls its parent's iterator). Here a
 * task first expands the partition it computes into a tree of operator
 * instances (an explicit stack, no recursion): a map node has one child,
 * a union partition one child in one of its parents, a coalesced partition
 * one child per merged parent partition. Leaves are sources: a collection
 * slice, a range, a text split, a shuffle read, or a cached block.
 *
 * Then each leaf, in order, produces batches; a batch climbs the tree one
 * operator at a time (a loop, not nested calls) until it reaches the root,
 * where the task's consumer (a shuffle writer or an action) takes it.
 * When all children of a node are done the node finishes: map_partitions
 * runs its function over the input it gathered, and a persisted dataset
 * hands the output it captured to the cache.
 */
#include <string.h>

#include "base/assert.h"
#include "compute/blockstore.h"
#include "compute/internal.h"

#define PL_RANGE_BATCH_RECORDS 4096u
#define PL_READ_CHUNK_BYTES (64u * 1024u)
#define PL_NODES_MAX 1000000u

typedef struct pl_node {
  cm_ds *ds;
  uint32_t part;
  int64_t parent; /* index, -1 for the root */
  uint32_t n_children;
  uint32_t children_done;
  cm__block *cached;  /* leaf reading a cached block (a reference) */
  bool capture;       /* persisted, computed here: keep the output */
  bool capture_overflow;
  cm__batch out;      /* operator output / source batch */
  cm__batch captured; /* output kept for the cache */
  cm__batch gathered; /* map_partitions input */
  uint64_t rng;       /* sample */
} pl_node;

typedef struct pl_run {
  cm__task *task;
  GArray *nodes;  /* pl_node */
  GArray *leaves; /* uint32 node indexes, in input order */
  cm__consume_fn consume;
  void *arg;
} pl_run;

static pl_node *node_at(pl_run *r, uint32_t idx) {
  SL_ASSERT(idx < r->nodes->len);
  return &g_array_index(r->nodes, pl_node, idx);
}

/* ------------------------------------------------------------------ emit */

void cm_emit_kv(cm_emit *out, cm_bytes key, cm_bytes val) {
  SL_ASSERT(out != NULL);
  SL_ASSERT(out->out != NULL);
  cm__batch_add(out->out, key, val);
  out->emitted++;
}

void cm_emit_fail(cm_emit *out, const char *message) {
  SL_ASSERT(out != NULL);
  SL_ASSERT(out->task != NULL);
  if (!out->task->user_failed) {
    out->task->user_failed = true;
    out->task->user_error = g_strdup(message ? message : "user failure");
  }
}

uint32_t cm_emit_partition(const cm_emit *out) {
  SL_ASSERT(out != NULL);
  return out->partition;
}

bool cm_iter_next(cm_iter *in, cm_rec *rec) {
  SL_ASSERT(in != NULL);
  SL_ASSERT(rec != NULL);
  if (in->pos >= in->end)
    return false;
  in->pos += cm__rec_decode(in->pos, rec);
  SL_ASSERT(in->pos <= in->end);
  return true;
}

/* ------------------------------------------------------------ the tree */

static uint32_t add_node(pl_run *r, cm_ds *ds, uint32_t part, int64_t parent) {
  SL_ASSERT(part < ds->n_parts);
  SL_ASSERT(r->nodes->len < PL_NODES_MAX);
  pl_node n = {0};
  n.ds = ds;
  n.part = part;
  n.parent = parent;
  cm__batch_init(&n.out);
  cm__batch_init(&n.captured);
  cm__batch_init(&n.gathered);
  n.rng = cm__mix64(ds->sample_seed ^ cm__mix64(((uint64_t)ds->id << 32) |
                                                part));
  g_array_append_val(r->nodes, n);
  return r->nodes->len - 1;
}

/* Children of a non-leaf node, in input order, into kids. */
static void node_children(pl_node *n, GArray *kids) {
  cm_ds *ds = n->ds;
  g_array_set_size(kids, 0);
  switch (ds->op) {
  case CM__OP_MAP:
  case CM__OP_FILTER:
  case CM__OP_FLAT_MAP:
  case CM__OP_MAP_PARTITIONS:
  case CM__OP_SAMPLE: {
    uint64_t kid = (uint64_t)n->part;
    g_array_append_val(kids, kid);
    break;
  }
  case CM__OP_UNION: {
    uint32_t na = ds->parents[0]->n_parts;
    uint64_t kid = n->part < na ? n->part
                                : ((uint64_t)1 << 32) | (n->part - na);
    g_array_append_val(kids, kid);
    break;
  }
  case CM__OP_COALESCE:
    for (uint32_t p = ds->coalesce_bounds[n->part];
         p < ds->coalesce_bounds[n->part + 1]; p++) {
      uint64_t kid = p;
      g_array_append_val(kids, kid);
    }
    break;
  default:
    SL_ASSERT(!"not a narrow operator");
  }
}

static bool is_source(const cm_ds *ds) {
  return ds->op == CM__OP_COLLECTION || ds->op == CM__OP_RANGE ||
         ds->op == CM__OP_TEXT || ds->op == CM__OP_SHUFFLED;
}

/* Expands (ds, part) into the operator tree; records leaves in order.
 * Children are pushed in reverse so they pop in input order. */
static void build_tree(pl_run *r, cm_ds *ds, uint32_t part) {
  cm__cache *cache = r->task->ctx->cache;
  GArray *stack = g_array_new(FALSE, FALSE, sizeof(uint32_t));
  GArray *kids = g_array_new(FALSE, FALSE, sizeof(uint64_t));
  uint32_t root = add_node(r, ds, part, -1);
  g_array_append_val(stack, root);
  while (stack->len > 0) {
    uint32_t idx = g_array_index(stack, uint32_t, stack->len - 1);
    g_array_set_size(stack, stack->len - 1);
    pl_node *n = node_at(r, idx);
    if (n->ds->persisted) {
      n->cached = cm__cache_get(cache, n->ds->id, n->part);
      n->capture = n->cached == NULL;
    }
    if (n->cached || is_source(n->ds)) {
      g_array_append_val(r->leaves, idx);
      continue;
    }
    node_children(n, kids);
    n->n_children = kids->len;
    SL_ASSERT(n->n_children > 0);
    cm_ds *d = n->ds;
    for (guint i = kids->len; i-- > 0;) {
      uint64_t kid = g_array_index(kids, uint64_t, i);
      cm_ds *parent = d->parents[kid >> 32];
      uint32_t child = add_node(r, parent, (uint32_t)kid, idx);
      g_array_append_val(stack, child);
    }
  }
  g_array_free(kids, TRUE);
  g_array_free(stack, TRUE);
}

/* ------------------------------------------------------------ operators */

static int user_failed(cm__task *t, GError **err) {
  g_set_error(err, CM_ERROR, CM_ERROR_TASK_FAILED, "%s", t->user_error);
  return -1;
}

static bool sample_keep(pl_node *n) {
  n->rng += UINT64_C(0x9e3779b97f4a7c15);
  uint64_t x = cm__mix64(n->rng);
  double u = (double)(x >> 11) * (1.0 / 9007199254740992.0);
  return u < n->ds->sample_fraction;
}

/* Applies node n's operator to one input batch. *out is NULL when the node
 * absorbs its input (map_partitions gathers until it finishes). */
static int apply(pl_run *r, pl_node *n, const cm__batch *in,
                 const cm__batch **out, GError **err) {
  cm_ds *ds = n->ds;
  cm__task *t = r->task;
  if (ds->op == CM__OP_UNION || ds->op == CM__OP_COALESCE) {
    *out = in;
    return 0;
  }
  if (ds->op == CM__OP_MAP_PARTITIONS) {
    cm__batch_append_batch(&n->gathered, in);
    *out = NULL;
    return 0;
  }
  cm__batch_clear(&n->out);
  cm_emit emit = {&n->out, t, n->part, 0};
  cm_bytes env = cm_buf_bytes(&ds->env);
  const uint8_t *p = in->buf.data, *end = p + in->buf.len;
  while (p < end) {
    cm_rec rec;
    p += cm__rec_decode(p, &rec);
    switch (ds->op) {
    case CM__OP_MAP: {
      uint64_t before = emit.emitted;
      ds->fn->u.map(&rec, env, &emit);
      SL_ASSERT(emit.emitted == before + 1 || t->user_failed);
      break;
    }
    case CM__OP_FLAT_MAP:
      ds->fn->u.map(&rec, env, &emit);
      break;
    case CM__OP_FILTER:
      if (ds->fn->u.filter(&rec, env))
        cm__batch_add(&n->out, rec.key, rec.val);
      break;
    case CM__OP_SAMPLE:
      if (sample_keep(n))
        cm__batch_add(&n->out, rec.key, rec.val);
      break;
    default:
      SL_ASSERT(!"not an operator");
    }
    if (t->user_failed)
      return user_failed(t, err);
  }
  *out = &n->out;
  return 0;
}

static void capture(pl_run *r, pl_node *n, const cm__batch *b) {
  if (!n->capture || n->capture_overflow)
    return;
  if (n->captured.buf.len + b->buf.len > r->task->ctx->cache_memory_bytes) {
    n->capture_overflow = true;
    cm__batch_free(&n->captured);
    return;
  }
  cm__batch_append_batch(&n->captured, b);
}

/* Batch b is the output of node idx: climb to the root. */
static int emit_from(pl_run *r, uint32_t idx, const cm__batch *b,
                     GError **err) {
  for (;;) {
    pl_node *n = node_at(r, idx);
    capture(r, n, b);
    if (n->parent < 0) {
      r->task->metrics.records_written += b->count;
      return r->consume(r->arg, b, err);
    }
    idx = (uint32_t)n->parent;
    const cm__batch *out = NULL;
    if (apply(r, node_at(r, idx), b, &out, err) != 0)
      return -1;
    if (!out || out->count == 0)
      return 0;
    b = out;
  }
}

static int run_map_partitions(pl_run *r, uint32_t idx, GError **err) {
  pl_node *n = node_at(r, idx);
  cm_ds *ds = n->ds;
  cm__task *t = r->task;
  cm__batch_clear(&n->out);
  cm_iter it = {n->gathered.buf.data,
                n->gathered.buf.data + n->gathered.buf.len};
  cm_emit emit = {&n->out, t, n->part, 0};
  ds->fn->u.partition(&it, cm_buf_bytes(&ds->env), &emit);
  cm__batch_free(&n->gathered);
  if (t->user_failed)
    return user_failed(t, err);
  if (n->out.count == 0)
    return 0;
  return emit_from(r, idx, &n->out, err);
}

/* Leaf idx has produced everything: finish it and every ancestor whose
 * last child it completes. */
static int finish_up(pl_run *r, uint32_t idx, GError **err) {
  for (;;) {
    pl_node *n = node_at(r, idx);
    if (n->ds->op == CM__OP_MAP_PARTITIONS && !n->cached) {
      if (run_map_partitions(r, idx, err) != 0)
        return -1;
      n = node_at(r, idx);
    }
    if (n->capture && !n->capture_overflow) {
      cm__cache_put(r->task->ctx->cache, n->ds->id, n->part, &n->captured);
      cm__batch_free(&n->captured);
    }
    if (n->parent < 0)
      return 0;
    pl_node *p = node_at(r, (uint32_t)n->parent);
    p->children_done++;
    SL_ASSERT(p->children_done <= p->n_children);
    if (p->children_done < p->n_children)
      return 0;
    idx = (uint32_t)n->parent;
  }
}

/* --------------------------------------------------------------- sources */

static int leaf_range(pl_run *r, uint32_t idx, GError **err) {
  pl_node *n = node_at(r, idx);
  cm_ds *ds = n->ds;
  uint64_t lo = ds->range_count * n->part / ds->n_parts;
  uint64_t hi = ds->range_count * (n->part + 1) / ds->n_parts;
  uint8_t key[CM_I64_BYTES];
  for (uint64_t i = lo; i < hi;) {
    cm__batch_clear(&n->out);
    for (uint32_t k = 0; k < PL_RANGE_BATCH_RECORDS && i < hi; k++, i++) {
      cm_i64_put(key, ds->range_start + (int64_t)i * ds->range_step);
      cm__batch_add(&n->out, cm_bytes_of(key, sizeof key), CM_NO_BYTES);
    }
    r->task->metrics.records_read += n->out.count;
    if (emit_from(r, idx, &n->out, err) != 0)
      return -1;
  }
  return 0;
}

typedef struct line_state {
  bool skipping;     /* still inside the line that began before start */
  uint64_t line_pos; /* file offset where the current line starts */
  uint64_t end;
  cm_buf line;
} line_state;

/* Consumes one chunk read at file offset pos; returns false once the next
 * line would start at or after the split's end. */
static bool lines_feed(line_state *s, cm__batch *out, const uint8_t *chunk,
                       size_t len, uint64_t pos) {
  size_t i = 0;
  while (i < len) {
    if (!s->skipping && s->line_pos >= s->end)
      return false;
    const uint8_t *nl = memchr(chunk + i, '\n', len - i);
    size_t stop = nl ? (size_t)(nl - chunk) : len;
    if (s->skipping) {
      if (nl) {
        s->skipping = false;
        s->line_pos = pos + stop + 1;
      }
    } else if (nl && s->line.len == 0) {
      /* The whole line is in this chunk: no detour through s->line. */
      cm__batch_add(out, cm_bytes_of(chunk + i, stop - i), CM_NO_BYTES);
      s->line_pos = pos + stop + 1;
    } else {
      cm_buf_append(&s->line, chunk + i, stop - i);
      if (nl) {
        cm__batch_add(out, cm_buf_bytes(&s->line), CM_NO_BYTES);
        cm_buf_clear(&s->line);
        s->line_pos = pos + stop + 1;
      }
    }
    i = stop + (nl ? 1 : 0);
  }
  return s->skipping || s->line_pos < s->end;
}

static int leaf_text(pl_run *r, uint32_t idx, GError **err) {
  pl_node *n = node_at(r, idx);
  const cm__text_split *split =
      &g_array_index(n->ds->text_splits, cm__text_split, n->part);
  const char *path = g_ptr_array_index(n->ds->text_files, split->file);
  if (split->end <= split->start)
    return 0;
  uint64_t pos = split->start > 0 ? split->start - 1 : 0;
  blk_reader *reader = blk_reader_open(path, pos, err);
  if (!reader)
    return -1;
  int rc = 0;
  uint8_t *chunk = g_malloc(PL_READ_CHUNK_BYTES);
  line_state s = {split->start > 0, pos, split->end, {NULL, 0, 0}};
  bool more = true;
  cm__batch_clear(&n->out);
  while (more) {
    size_t got = 0;
    if ((rc = blk_read(reader, chunk, PL_READ_CHUNK_BYTES, &got, err)) != 0)
      goto out_close;
    if (got == 0) {
      if (!s.skipping && s.line.len > 0 && s.line_pos < s.end)
        cm__batch_add(&n->out, cm_buf_bytes(&s.line), CM_NO_BYTES);
      more = false;
    } else {
      more = lines_feed(&s, &n->out, chunk, got, pos);
      pos += got;
    }
    if (n->out.buf.len >= CM__BATCH_BYTES || (!more && n->out.count > 0)) {
      r->task->metrics.records_read += n->out.count;
      if ((rc = emit_from(r, idx, &n->out, err)) != 0)
        goto out_close;
      cm__batch_clear(&n->out);
    }
  }
out_close:
  cm__buf_free(&s.line);
  g_free(chunk);
  blk_reader_close(reader);
  return rc;
}

static int leaf_shuffle(pl_run *r, uint32_t idx, GError **err) {
  pl_node *n = node_at(r, idx);
  cm__shuffle_reader *reader =
      cm__shuffle_reader_open(r->task, n->ds, n->part, err);
  if (!reader)
    return -1;
  int rc = 0;
  bool more = true;
  while (more) {
    n = node_at(r, idx);
    if ((rc = cm__shuffle_reader_next(reader, &n->out, &more, err)) != 0)
      break;
    if (n->out.count == 0)
      continue;
    r->task->metrics.records_read += n->out.count;
    if ((rc = emit_from(r, idx, &n->out, err)) != 0)
      break;
  }
  cm__shuffle_reader_free(reader);
  return rc;
}

static int run_leaf(pl_run *r, uint32_t idx, GError **err) {
  pl_node *n = node_at(r, idx);
  if (n->cached) {
    r->task->metrics.records_read += n->cached->batch.count;
    if (n->cached->batch.count == 0)
      return 0;
    return emit_from(r, idx, &n->cached->batch, err);
  }
  switch (n->ds->op) {
  case CM__OP_COLLECTION: {
    const cm__batch *b = &n->ds->coll_parts[n->part];
    r->task->metrics.records_read += b->count;
    return b->count ? emit_from(r, idx, b, err) : 0;
  }
  case CM__OP_RANGE:
    return leaf_range(r, idx, err);
  case CM__OP_TEXT:
    return leaf_text(r, idx, err);
  case CM__OP_SHUFFLED:
    return leaf_shuffle(r, idx, err);
  default:
    SL_ASSERT(!"not a source");
  }
  return -1;
}

int cm__pipeline_run(cm__task *t, cm_ds *ds, uint32_t part,
                     cm__consume_fn consume, void *arg, GError **err) {
  SL_ASSERT(t != NULL);
  SL_ASSERT(consume != NULL);
  pl_run r = {t, g_array_new(FALSE, FALSE, sizeof(pl_node)),
              g_array_new(FALSE, FALSE, sizeof(uint32_t)), consume, arg};
  build_tree(&r, ds, part);
  int rc = 0;
  for (guint i = 0; i < r.leaves->len && rc == 0; i++) {
    uint32_t leaf = g_array_index(r.leaves, uint32_t, i);
    rc = run_leaf(&r, leaf, err);
    if (rc == 0)
      rc = finish_up(&r, leaf, err);
  }
  for (guint i = 0; i < r.nodes->len; i++) {
    pl_node *n = node_at(&r, i);
    if (n->cached)
      cm__block_unref(t->ctx->cache, n->cached);
    cm__batch_free(&n->out);
    cm__batch_free(&n->captured);
    cm__batch_free(&n->gathered);
  }
  g_array_free(r.leaves, TRUE);
  g_array_free(r.nodes, TRUE);
  return rc;
}
