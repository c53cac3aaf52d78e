/*
 * internal.h — structures shared by the compute engine's files (private to
 * compute/; nothing outside includes it).
 *
 * Map of the engine:
 *   record.c     batches (contiguous records), cm_buf, typed encodings
 *   registry.c   user functions by name, builtins
 *   dataset.c    cm_ctx, plan nodes (cm_ds), constructors
 *   pipeline.c   running one task: the narrow sub-plan of a partition as a
 *                tree of operator instances, fed batch by batch
 *   shuffle.c    map-side writer (combine, sort, spill, merge) and the
 *                reduce-side merger; range bounds
 *   cache.c      persisted partitions, byte budget, LRU
 *   scheduler.c  DAG scheduler (stages), task scheduler, thread executor
 *   actions.c    collect, count, reduce, take, foreach, save_as_text
 *   dag.c        Graphviz drawing and job summary
 *   blockstore.c all file I/O
 *
 * Record encoding (in memory, in shuffle and spill files): a 4-byte
 * little-endian key length, a 4-byte little-endian value length, the key,
 * the value. Shuffle files are private to one context and never cross
 * machines, but use the explicit encoding anyway so they could.
 */
#ifndef SLUICE_COMPUTE_INTERNAL_H
#define SLUICE_COMPUTE_INTERNAL_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base/assert.h"
#include "compute/compute.h"

/* Limits. */
#define CM__REC_HEADER_BYTES 8u
#define CM__REC_FIELD_BYTES_MAX 0x7fffffffu /* per key or value */
#define CM__BATCH_BYTES (64u * 1024u)       /* target size of a batch */
#define CM__PARTITIONS_MAX 100000u
#define CM__TASK_MEMORY_MIN_BYTES (64u * 1024u)
#define CM__MERGE_BUFFER_MIN_BYTES (4u * 1024u)
#define CM__MERGE_BUFFER_MAX_BYTES (256u * 1024u)
#define CM__SAMPLE_PER_PARTITION 64u
#define CM__TASK_ATTEMPTS_MAX 100u
#define CM__EXECUTORS_MAX 256u

/* ------------------------------------------------------------- buffers */

struct cm_buf {
  uint8_t *data; /* [owned] g_malloc */
  size_t len;
  size_t cap;
};
void cm__buf_init(cm_buf *b);
void cm__buf_free(cm_buf *b);
/* Grows b so that `extra` more bytes fit (the slow half of reserve). */
void cm__buf_grow(cm_buf *b, size_t extra);
static inline void cm__buf_reserve(cm_buf *b, size_t extra) {
  if (b->cap - b->len < extra)
    cm__buf_grow(b, extra);
}

/* The hot little helpers below are inline: every record of every task
 * goes through them, and the engine is built without link-time
 * optimisation. On little-endian machines the u32 codecs are plain 4-byte
 * moves; the byte-by-byte form keeps the encoding explicit elsewhere. */
static inline void cm__put_u32(uint8_t *p, uint32_t v) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  memcpy(p, &v, sizeof v);
#else
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
#endif
}

static inline uint32_t cm__get_u32(const uint8_t *p) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  uint32_t v;
  memcpy(&v, p, sizeof v);
  return v;
#else
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
#endif
}

/* memcpy for the short keys and values records mostly have: overlapping
 * fixed-size moves inside both ranges instead of a library call. */
static inline void cm__copy(uint8_t *dst, const uint8_t *src, size_t len) {
  if (len > 16) {
    memcpy(dst, src, len);
  } else if (len >= 8) {
    uint64_t a, b;
    memcpy(&a, src, 8);
    memcpy(&b, src + len - 8, 8);
    memcpy(dst, &a, 8);
    memcpy(dst + len - 8, &b, 8);
  } else if (len >= 4) {
    uint32_t a, b;
    memcpy(&a, src, 4);
    memcpy(&b, src + len - 4, 4);
    memcpy(dst, &a, 4);
    memcpy(dst + len - 4, &b, 4);
  } else {
    for (size_t i = 0; i < len; i++)
      dst[i] = src[i];
  }
}

/* Eight bytes as a big-endian integer, and back. */
static inline uint64_t cm__be64_load(const uint8_t *p) {
  uint64_t u;
  memcpy(&u, p, sizeof u);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  u = __builtin_bswap64(u);
#endif
  return u;
}

static inline void cm__be64_store(uint8_t *p, uint64_t u) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  u = __builtin_bswap64(u);
#endif
  memcpy(p, &u, sizeof u);
}

/* cm_i64_put / cm_i64_get without the length check: big-endian with the
 * sign bit flipped. */
static inline void cm__i64_store(uint8_t *out, int64_t v) {
  cm__be64_store(out, (uint64_t)v ^ (UINT64_C(1) << 63));
}

static inline int64_t cm__i64_load(const uint8_t *p) {
  return (int64_t)(cm__be64_load(p) ^ (UINT64_C(1) << 63));
}

/* A batch: records back to back, and how many. */
typedef struct cm__batch {
  cm_buf buf;
  uint64_t count;
} cm__batch;
void cm__batch_init(cm__batch *b);
void cm__batch_free(cm__batch *b);
void cm__batch_clear(cm__batch *b);
void cm__batch_append_batch(cm__batch *b, const cm__batch *src);
size_t cm__rec_size(cm_rec r);

static inline void cm__batch_add(cm__batch *b, cm_bytes key, cm_bytes val) {
  SL_ASSERT(key.len <= CM__REC_FIELD_BYTES_MAX);
  SL_ASSERT(val.len <= CM__REC_FIELD_BYTES_MAX);
  size_t need = CM__REC_HEADER_BYTES + key.len + val.len;
  cm__buf_reserve(&b->buf, need);
  uint8_t *p = b->buf.data + b->buf.len;
  cm__put_u32(p, (uint32_t)key.len);
  cm__put_u32(p + 4, (uint32_t)val.len);
  cm__copy(p + CM__REC_HEADER_BYTES, key.ptr, key.len);
  cm__copy(p + CM__REC_HEADER_BYTES + key.len, val.ptr, val.len);
  b->buf.len += need;
  b->count++;
}

/* Decodes the record at p (inside a well-formed batch) and returns its
 * encoded size. */
static inline size_t cm__rec_decode(const uint8_t *p, cm_rec *out) {
  uint32_t kl = cm__get_u32(p);
  uint32_t vl = cm__get_u32(p + 4);
  out->key = (cm_bytes){p + CM__REC_HEADER_BYTES, kl};
  out->val = (cm_bytes){p + CM__REC_HEADER_BYTES + kl, vl};
  return CM__REC_HEADER_BYTES + (size_t)kl + vl;
}

struct cm_records {
  cm__batch batch;
  GArray *offsets; /* size_t per record */
};
/* Takes the batch's bytes (leaves it empty). */
cm_records *cm__records_from_batch(cm__batch *b);

uint64_t cm__mix64(uint64_t x);

static inline uint64_t cm__load64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

static inline uint64_t cm__load32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

/* The 128-bit product of a and b folded to 64 bits. */
static inline uint64_t cm__mum(uint64_t a, uint64_t b) {
  __extension__ unsigned __int128 r = (unsigned __int128)a * b;
  return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/* A hash of len bytes at p, in the style of wyhash (public domain): keys
 * of up to 16 bytes (most shuffle keys) cost two or four overlapping loads
 * and two multiplications. Every byte and the length count, so "a" and
 * "a\0" differ. Stable across runs and machines of the same byte order
 * (hash partitioning depends on it). */
static inline uint64_t cm__hash64(const uint8_t *p, size_t len, uint64_t seed) {
  const uint64_t k0 = UINT64_C(0xa0761d6478bd642f);
  const uint64_t k1 = UINT64_C(0xe7037ed1a0b428db);
  seed ^= cm__mum(seed ^ k0, k1);
  uint64_t a, b;
  if (len <= 16) {
    if (len >= 4) {
      size_t mid = (len >> 3) << 2;
      a = (cm__load32(p) << 32) | cm__load32(p + mid);
      b = (cm__load32(p + len - 4) << 32) | cm__load32(p + len - 4 - mid);
    } else if (len > 0) {
      a = ((uint64_t)p[0] << 16) | ((uint64_t)p[len >> 1] << 8) | p[len - 1];
      b = 0;
    } else {
      a = b = 0;
    }
  } else {
    size_t left = len;
    while (left > 16) {
      seed = cm__mum(cm__load64(p) ^ k1, cm__load64(p + 8) ^ seed);
      p += 16;
      left -= 16;
    }
    a = cm__load64(p + left - 16);
    b = cm__load64(p + left - 8);
  }
  return cm__mum(k1 ^ len, cm__mum(a ^ k1, b ^ seed));
}

/* Byte equality of two ranges of the same length, inline for the short
 * keys that dominate shuffles. */
static inline bool cm__bytes_same(const uint8_t *a, const uint8_t *b,
                                  size_t len) {
  if (len >= 8 && len <= 16)
    return cm__load64(a) == cm__load64(b) &&
           cm__load64(a + len - 8) == cm__load64(b + len - 8);
  if (len >= 4 && len < 8)
    return cm__load32(a) == cm__load32(b) &&
           cm__load32(a + len - 4) == cm__load32(b + len - 4);
  if (len < 4) {
    for (size_t i = 0; i < len; i++)
      if (a[i] != b[i])
        return false;
    return true;
  }
  return memcmp(a, b, len) == 0;
}

/* ------------------------------------------------------------ registry */

typedef enum cm__fn_kind {
  CM__FN_MAP = 1,
  CM__FN_FILTER,
  CM__FN_PARTITION,
  CM__FN_MERGE,
  CM__FN_FOREACH,
} cm__fn_kind;

/* Builtins the shuffle recognises, to fold values in place instead of
 * calling through the function pointer (same result either way). */
typedef enum cm__builtin {
  CM__BUILTIN_NONE = 0,
  CM__BUILTIN_SUM_I64, /* "cm.sum_i64" */
} cm__builtin;

typedef struct cm__fn {
  char *name; /* [owned] */
  cm__fn_kind kind;
  cm__builtin builtin;
  union {
    cm_map_fn map;
    cm_filter_fn filter;
    cm_partition_fn partition;
    cm_merge_fn merge;
    cm_foreach_fn foreach;
  } u;
} cm__fn;

/* Asserts that name is registered with that kind. */
const cm__fn *cm__registry_get(const cm_registry *r, const char *name,
                               cm__fn_kind kind);

/* -------------------------------------------------------------- datasets */

typedef enum cm__op {
  CM__OP_COLLECTION = 1,
  CM__OP_RANGE,
  CM__OP_TEXT,
  CM__OP_MAP,
  CM__OP_FILTER,
  CM__OP_FLAT_MAP,
  CM__OP_MAP_PARTITIONS,
  CM__OP_SAMPLE,
  CM__OP_UNION,
  CM__OP_COALESCE,
  CM__OP_SHUFFLED,
} cm__op;

typedef enum cm__reduce_mode {
  CM__REDUCE_COMBINE = 1, /* (key, comb of accumulators) */
  CM__REDUCE_GROUP,       /* (key, list of values) */
  CM__REDUCE_PASS,        /* every record, in key order */
  CM__REDUCE_COGROUP,     /* (key, cogroup of two shuffles) */
} cm__reduce_mode;

typedef enum cm__partitioner {
  CM__PART_HASH = 1,
  CM__PART_RANGE,
  CM__PART_ROUND_ROBIN,
} cm__partitioner;

typedef enum cm__combine {
  CM__COMBINE_NONE = 1,
  CM__COMBINE_REDUCE,    /* acc = first value; merge(acc, v) */
  CM__COMBINE_AGGREGATE, /* acc = zero; seq(acc, v); comb(acc, acc) */
} cm__combine;

typedef struct cm__text_split {
  uint32_t file; /* index into text_files */
  uint64_t start;
  uint64_t end;
} cm__text_split;

typedef struct cm__shuffle cm__shuffle;
typedef struct cm__stage cm__stage;

struct cm_ds {
  cm_ctx *ctx;
  uint32_t id;
  cm__op op;
  char *label; /* [owned] for drawings */
  uint32_t n_parts;
  cm_ds *parents[2];
  uint32_t n_parents;
  const cm__fn *fn;
  cm_buf env;
  bool persisted;
  /* CM__OP_COLLECTION: one batch per partition [owned] */
  cm__batch *coll_parts;
  /* CM__OP_RANGE */
  int64_t range_start;
  int64_t range_step;
  uint64_t range_count;
  /* CM__OP_TEXT */
  GPtrArray *text_files;  /* [owned] paths */
  GArray *text_splits;    /* cm__text_split, one per partition */
  /* CM__OP_SAMPLE */
  double sample_fraction;
  uint64_t sample_seed;
  /* CM__OP_COALESCE: partition p reads parent partitions [b[p], b[p+1]) */
  uint32_t *coalesce_bounds;
  /* CM__OP_SHUFFLED */
  cm__shuffle *shuffles[2];
  cm__reduce_mode reduce_mode;
  const cm__fn *comb; /* CM__REDUCE_COMBINE: merges accumulators */
};

/* One map output: a file holding the map task's records sorted by
 * (partition, key); section r is bytes [offsets[r], offsets[r+1]). */
typedef struct cm__map_output {
  char *path;        /* [owned] */
  uint64_t *offsets; /* [owned] n_out + 1 */
  uint64_t records;
} cm__map_output;
void cm__map_output_free(cm__map_output *o, bool delete_file);

struct cm__shuffle {
  uint32_t id;
  cm_ds *parent; /* the map side */
  uint32_t n_out;
  cm__partitioner partitioner;
  bool descending;
  cm__combine combine;
  const cm__fn *seq; /* REDUCE: the merge; AGGREGATE: seq */
  const cm__fn *comb;
  cm_buf env;
  cm_buf zero;
  /* range bounds (n_out - 1 keys at most), set once by a sampling job */
  bool bounds_ready;
  cm__batch bounds;
  GArray *bound_keys; /* cm_bytes into bounds */
  /* map outputs, guarded by ctx->lock: [parent->n_parts] */
  cm__map_output **outputs;
  uint32_t n_available;
  cm__stage *stage; /* its map stage, once created */
};

/* ------------------------------------------------------------- context */

typedef struct cm__cache cm__cache;
typedef struct cm__job cm__job;
typedef struct cm__task cm__task;

/* The executor interface: threads now, processes and simulated nodes
 * later. submit() hands a task over; the executor runs cm__task_execute on
 * it somewhere and then calls cm__task_done(task) (from any thread). */
typedef struct cm__executor_ops {
  const char *name;
  void (*submit)(void *impl, cm__task *task);
  void (*free)(void *impl);
} cm__executor_ops;

struct cm_ctx {
  const cm_registry *reg;
  cm_config cfg;
  char *scratch_dir; /* [owned] removed with the context */
  uint64_t task_memory_bytes;
  uint64_t cache_memory_bytes;
  GPtrArray *datasets; /* [owned] every cm_ds */
  GPtrArray *shuffles; /* [owned] every cm__shuffle */
  GPtrArray *stages;   /* [owned] map stages (shared by jobs) */
  GPtrArray *dead_outputs; /* [owned] unregistered map outputs */
  uint32_t next_ds_id;
  uint32_t next_shuffle_id;
  uint32_t next_stage_id;
  uint32_t next_job_id;
  GMutex lock; /* map output tables */
  cm__cache *cache;
  const cm__executor_ops *executor_ops;
  void *executor;
  cm_stats stats; /* driver thread only (cache counters from cm__cache) */
  cm__job *last_job; /* [owned] for summaries and drawings */
};

cm_ds *cm__ds_new(cm_ctx *ctx, cm__op op, uint32_t n_parts,
                  const char *label);
cm__shuffle *cm__shuffle_new(cm_ctx *ctx, cm_ds *parent, uint32_t n_out,
                             cm__partitioner partitioner);
uint32_t cm__shuffle_partition(const cm__shuffle *s, cm_bytes key,
                               uint64_t *round_robin);
/* cm_bytes_cmp, negated when descending. Inline with a fast path: the
 * first eight bytes compared as one big-endian integer. */
static inline int cm__key_cmp(cm_bytes a, cm_bytes b, bool descending) {
  int c;
  if (a.len >= 8 && b.len >= 8) {
    uint64_t x = cm__be64_load(a.ptr);
    uint64_t y = cm__be64_load(b.ptr);
    c = x != y ? (x < y ? -1 : 1) : cm_bytes_cmp(a, b);
  } else {
    c = cm_bytes_cmp(a, b);
  }
  return descending ? -c : c;
}

/* --------------------------------------------------------------- cache */

typedef struct cm__block {
  cm__batch batch;
  uint64_t key; /* ds id << 32 | partition */
  uint32_t ds_id;
  gint refs;
  GList link; /* LRU position, data = this */
} cm__block;

cm__cache *cm__cache_new(uint64_t budget_bytes);
void cm__cache_free(cm__cache *c);
/* A reference to a cached block or NULL; cm__block_unref it. */
cm__block *cm__cache_get(cm__cache *c, uint32_t ds_id, uint32_t part);
void cm__block_unref(cm__cache *c, cm__block *b);
/* Takes the batch's bytes; evicts LRU blocks of other datasets as needed;
 * returns false (and frees nothing of the caller's) if it cannot fit. */
bool cm__cache_put(cm__cache *c, uint32_t ds_id, uint32_t part,
                   cm__batch *batch);
bool cm__cache_drop(cm__cache *c, uint32_t ds_id, uint32_t part);
uint32_t cm__cache_drop_ds(cm__cache *c, uint32_t ds_id);
uint32_t cm__cache_count_ds(cm__cache *c, uint32_t ds_id);
bool cm__cache_has(cm__cache *c, uint32_t ds_id, uint32_t part);
void cm__cache_stats(cm__cache *c, cm_stats *out);

/* -------------------------------------------------------------- tasks */

typedef enum cm__task_status {
  CM__TASK_OK = 0,
  CM__TASK_FAILED,
  CM__TASK_FETCH_FAILED,
} cm__task_status;

typedef struct cm__task_metrics {
  uint64_t records_read;
  uint64_t records_written;
  uint64_t shuffle_bytes;
  uint64_t spill_files;
  uint64_t spill_bytes;
  int64_t duration_us;
} cm__task_metrics;

/* The action of a job: how a result task consumes its partition, and how
 * the driver combines partition results. Defined in actions.c. */
typedef struct cm__action cm__action;
void *cm__action_task_begin(const cm__action *a, cm__task *t);
int cm__action_task_batch(const cm__action *a, void *state,
                          const cm__batch *b, cm__task *t, GError **err);
/* Commits the task's output; returns the partition result (owned by the
 * driver once delivered) through *result. */
int cm__action_task_end(const cm__action *a, void *state, cm__task *t,
                        void **result, GError **err);
void cm__action_task_abort(const cm__action *a, void *state, cm__task *t);
void cm__action_result_free(const cm__action *a, void *result);

struct cm__task {
  cm_ctx *ctx;
  cm__job *job;
  cm__stage *stage;
  uint32_t partition;
  uint32_t attempt;
  /* outcome */
  cm__task_status status;
  GError *error;              /* [owned] when FAILED */
  uint32_t fetch_shuffle_id;  /* when FETCH_FAILED */
  uint32_t fetch_map;
  char *fetch_path;           /* [owned] the output that failed, or NULL */
  cm__map_output *map_output; /* [owned] map tasks that succeeded */
  void *result;               /* [owned] result tasks that succeeded */
  cm__task_metrics metrics;
  /* set by cm_emit_fail from user code */
  bool user_failed;
  char *user_error; /* [owned] */
};

/* Runs the task (on an executor thread). */
void cm__task_execute(cm__task *t);
/* Hands a finished task back to its job's driver. */
void cm__task_done(cm__task *t);

/* Computes partition `part` of ds within task t and feeds every output
 * batch to consume(arg, batch). Returns 0, or -1 with err set; sets
 * t->status to FETCH_FAILED when a map output is missing. */
typedef int (*cm__consume_fn)(void *arg, const cm__batch *b, GError **err);
int cm__pipeline_run(cm__task *t, cm_ds *ds, uint32_t part,
                     cm__consume_fn consume, void *arg, GError **err);

/* ------------------------------------------------------------- shuffle */

typedef struct cm__shuffle_writer cm__shuffle_writer;
cm__shuffle_writer *cm__shuffle_writer_new(cm__task *t, cm__shuffle *s);
int cm__shuffle_writer_add(void *writer, const cm__batch *b, GError **err);
/* Writes the final map output; *out [owned]. */
int cm__shuffle_writer_finish(cm__shuffle_writer *w, cm__map_output **out,
                              GError **err);
void cm__shuffle_writer_free(cm__shuffle_writer *w); /* deletes leftovers */

/* Reduce side: a source of batches for partition `part` of a SHUFFLED
 * dataset, merging every map output section in key order. */
typedef struct cm__shuffle_reader cm__shuffle_reader;
cm__shuffle_reader *cm__shuffle_reader_open(cm__task *t, cm_ds *ds,
                                            uint32_t part, GError **err);
/* Fills out (cleared first) with the next records; *more false at end. */
int cm__shuffle_reader_next(cm__shuffle_reader *r, cm__batch *out,
                            bool *more, GError **err);
void cm__shuffle_reader_free(cm__shuffle_reader *r);

/* Sets s->bounds from sampled keys (sorted by the caller's order). */
void cm__shuffle_set_bounds(cm__shuffle *s, cm__batch *sorted_keys,
                            const GArray *weights);

/* ------------------------------------------------------------ scheduler */

struct cm__stage {
  uint32_t id;
  cm_ds *ds;           /* the last dataset of the stage's pipeline */
  cm__shuffle *shuffle; /* NULL for a result stage */
  uint32_t n_tasks;
  GPtrArray *parents;  /* cm__stage*, borrowed */
  /* per-job state, reset when a job starts using the stage */
  uint8_t *running;    /* [n_tasks] */
  uint32_t *failures;  /* [n_tasks] */
  uint32_t *attempts;  /* [n_tasks] attempts started, all jobs */
  uint32_t n_running;
  uint32_t fetch_failures;
  cm__task_metrics totals;
  uint32_t tasks_succeeded;
  uint32_t tasks_failed;
  int64_t first_start_us;
  int64_t last_end_us;
  bool skipped;
  bool ran;
};

/* Runs a job computing `parts` (NULL = all) partitions of ds. */
int cm__run_job(cm_ctx *ctx, cm_ds *ds, const uint32_t *parts,
                uint32_t n_parts, cm__action *action, void **results,
                GError **err);
void cm__stage_free(cm__stage *s);
void cm__job_free(cm__job *j);

/* Computes the range bounds of a sort shuffle with a sampling job. */
int cm__sample_bounds(cm_ctx *ctx, cm__shuffle *s, GError **err);

/* Job bookkeeping kept for summaries and drawings. */
typedef struct cm__stage_report {
  cm__stage *stage; /* borrowed: lives in ctx->stages or the job */
  cm__task_metrics totals;
  uint32_t tasks_succeeded;
  uint32_t tasks_failed;
  uint32_t n_tasks;
  int64_t duration_us;
  bool skipped;
} cm__stage_report;

struct cm__job {
  uint32_t id;
  cm_ctx *ctx;
  cm__action *action;
  cm__stage *result_stage; /* [owned] */
  GPtrArray *stages;       /* every stage of the job, result stage last */
  GAsyncQueue *events;     /* finished cm__task* */
  uint8_t *wanted;         /* [result_stage->n_tasks] */
  uint8_t *done;
  uint32_t n_wanted;
  uint32_t n_done;
  uint32_t running;
  void **results;          /* borrowed from the caller */
  GError *error;
  int64_t start_us;
  int64_t end_us;
  GArray *reports;         /* cm__stage_report, filled at the end */
};

/* --------------------------------------------------------------- emit */

struct cm_emit {
  cm__batch *out;
  cm__task *task;
  uint32_t partition;
  uint64_t emitted;
};

struct cm_iter {
  const uint8_t *pos;
  const uint8_t *end;
};

#endif
