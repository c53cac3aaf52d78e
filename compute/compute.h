/*
 * compute.h — the Sluice compute engine (the Spark half), local mode.
 *
 * What it is. Lazy, partitioned datasets with lineage, in the style of
 * Spark's RDDs. Building a dataset (cm_map, cm_reduce_by_key, ...) only
 * records a plan node; an action (cm_collect, cm_count, ...) runs a job:
 * the DAG scheduler cuts the plan into stages at shuffle dependencies, the
 * task scheduler runs one task per partition on the executors, and the
 * result comes back to the caller.
 *
 *   Spark                         Sluice
 *   RDD                           cm_ds (owned by its cm_ctx)
 *   SparkContext                  cm_ctx
 *   closures shipped to executors C functions registered by name in a
 *                                 cm_registry, plus an `env` byte string
 *   ShuffleMapStage / ResultStage stages of a job (cut at shuffles)
 *   MapOutputTracker              per-shuffle table of map outputs in cm_ctx;
 *                                 a shuffle shared by two jobs runs once
 *   ExternalSorter / spill        map outputs sorted by (partition, key),
 *                                 spilled as sorted runs beyond the budget
 *   BlockManager MemoryStore      cache with a byte budget and LRU eviction
 *
 * Records. A record is a key and a value, both byte strings (may contain
 * NUL bytes, may be empty). Datasets of single values (text lines, numbers)
 * carry the value in the key and an empty value, because the key is what
 * distinct, sort and partitioning look at. Records live contiguously in
 * batches and arenas: no allocation per record anywhere in the engine.
 * Typed helpers below encode int64 and double so that byte order equals
 * numeric order (sort_by_key compares keys with memcmp, shorter first).
 *
 * User functions. Every function a dataset applies is named: it is looked
 * up in the context's cm_registry when the dataset is built (an unknown name
 * or a function of the wrong kind is a programmer error and asserts). The
 * plan therefore holds only names and env bytes, so the same job binary can
 * later run as driver or as an executor. Functions run on executor threads,
 * concurrently, possibly more than once for the same input (retries and
 * lineage recompute): they must be pure functions of their input and env.
 * Merge functions must be associative and commutative; equal keys are
 * merged in a fixed order (map task order), so results are reproducible.
 *
 * Threading. One thread drives a context: builds datasets, runs actions.
 * Actions block until the job ends. Executors are threads of the context
 * (cm_config.executors); later issues add process and simulated executors
 * behind the same internal executor interface.
 *
 * Ownership. Datasets, registries' entries and contexts are owned by their
 * creator object and freed with it. Every pointer argument is borrowed for
 * the call; env and record bytes given to constructors are copied.
 *
 * Errors. Operating errors (I/O, a task that failed more often than
 * task_attempts_max, an empty dataset given to cm_reduce) return -1 and set
 * a GError in the CM_ERROR domain; programmer errors assert (SL_ASSERT).
 *
 * I/O. The engine's file I/O (text inputs, shuffle and spill files, saved
 * output) goes through one internal module, compute/blockstore.h, using
 * plain POSIX/stdio on executor threads, so it can later be routed through
 * the environment (base/env.h) without touching the rest of the engine.
 */
#ifndef SLUICE_COMPUTE_COMPUTE_H
#define SLUICE_COMPUTE_COMPUTE_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CM_MUST_CHECK __attribute__((warn_unused_result))

/* ----------------------------------------------------------------- errors */

#define CM_ERROR (cm_error_quark())
GQuark cm_error_quark(void);
typedef enum cm_error_code {
  CM_ERROR_IO = 1,          /* a file could not be read or written */
  CM_ERROR_TASK_FAILED = 2, /* a task failed task_attempts_max times */
  CM_ERROR_EMPTY = 3,       /* cm_reduce on an empty dataset */
  CM_ERROR_INVALID = 4,     /* bad configuration or argument value */
} cm_error_code;

/* ---------------------------------------------------------------- records */

typedef struct cm_bytes {
  const uint8_t *ptr; /* borrowed; may be NULL when len == 0 */
  size_t len;
} cm_bytes;

typedef struct cm_rec {
  cm_bytes key;
  cm_bytes val;
} cm_rec;

#define CM_NO_BYTES ((cm_bytes){NULL, 0})

/* A view of a NUL-terminated string (without the NUL). */
cm_bytes cm_str(const char *s);
cm_bytes cm_bytes_of(const void *ptr, size_t len);
/* memcmp order, a proper prefix sorting first. */
int cm_bytes_cmp(cm_bytes a, cm_bytes b);
bool cm_bytes_eq(cm_bytes a, cm_bytes b);

/* Order-preserving 8-byte encodings: memcmp order == numeric order.
 * cm_i64_get/cm_f64_get assert that the bytes are 8 long. */
#define CM_I64_BYTES 8
void cm_i64_put(uint8_t out[CM_I64_BYTES], int64_t v);
int64_t cm_i64_get(cm_bytes b);
void cm_f64_put(uint8_t out[CM_I64_BYTES], double v);
double cm_f64_get(cm_bytes b);

/* A growable output buffer handed to merge functions. */
typedef struct cm_buf cm_buf;
void cm_buf_clear(cm_buf *b);
void cm_buf_append(cm_buf *b, const void *ptr, size_t len);
void cm_buf_set(cm_buf *b, cm_bytes bytes); /* clear + append */
void cm_buf_put_i64(cm_buf *b, int64_t v);  /* appends cm_i64_put bytes */
void cm_buf_put_f64(cm_buf *b, double v);
cm_bytes cm_buf_bytes(const cm_buf *b);

/* Value lists (the value of a group_by_key record): a sequence of
 * [u32 little-endian length][bytes]. cm_list_next takes the next element
 * off the front of *list; returns false at the end. A malformed list
 * asserts. */
bool cm_list_next(cm_bytes *list, cm_bytes *elem);
size_t cm_list_count(cm_bytes list);
void cm_list_append(cm_buf *list, cm_bytes elem);

/* cogroup values: [u32 length of list A][list A][list B]. */
void cm_cogroup_split(cm_bytes val, cm_bytes *list_a, cm_bytes *list_b);

/* join values: [u8 has_right][u32 left length][left][right]. For an inner
 * join has_right is always true; a left outer join sets it false (and right
 * empty) for keys missing on the right. */
void cm_pair_split(cm_bytes val, cm_bytes *left, cm_bytes *right,
                   bool *has_right);
void cm_pair_put(cm_buf *out, cm_bytes left, cm_bytes right, bool has_right);

/* Collected records (cm_collect, cm_take): contiguous, in partition order
 * and, inside a partition, in the dataset's order. [owned by the caller] */
typedef struct cm_records cm_records;
size_t cm_records_count(const cm_records *r);
cm_rec cm_records_get(const cm_records *r, size_t i); /* views into r */
size_t cm_records_bytes(const cm_records *r);
void cm_records_free(cm_records *r); /* NULL is fine */

/* ------------------------------------------------------- user functions */

typedef struct cm_emit cm_emit; /* a task's output sink [borrowed] */
typedef struct cm_iter cm_iter; /* a partition's input [borrowed] */

/* Appends one output record (the bytes are copied). */
void cm_emit_kv(cm_emit *out, cm_bytes key, cm_bytes val);
/* Fails the running task attempt with a message (the task is retried). */
void cm_emit_fail(cm_emit *out, const char *message);
/* The partition index of the dataset the function is applied to. */
uint32_t cm_emit_partition(const cm_emit *out);
/* Next input record of a map_partitions function; false at the end. The
 * views stay valid until the function returns. */
bool cm_iter_next(cm_iter *in, cm_rec *rec);

/* map: exactly one cm_emit_kv per input (asserted); flat_map: any number. */
typedef void (*cm_map_fn)(const cm_rec *in, cm_bytes env, cm_emit *out);
typedef bool (*cm_filter_fn)(const cm_rec *in, cm_bytes env);
typedef void (*cm_partition_fn)(cm_iter *in, cm_bytes env, cm_emit *out);
/* out = merge(acc, val); out starts empty. */
typedef void (*cm_merge_fn)(cm_bytes acc, cm_bytes val, cm_bytes env,
                            cm_buf *out);
/* Side effects only (cm_foreach); runs on executor threads. */
typedef void (*cm_foreach_fn)(const cm_rec *in, cm_bytes env);

typedef struct cm_registry cm_registry;
/* A registry already holding the engine's builtins (names "cm.*"). */
cm_registry *cm_registry_new(void);
void cm_registry_free(cm_registry *r); /* NULL is fine */
/* Registers fn under name (copied). A duplicate name asserts. */
void cm_register_map(cm_registry *r, const char *name, cm_map_fn fn);
void cm_register_filter(cm_registry *r, const char *name, cm_filter_fn fn);
void cm_register_partition(cm_registry *r, const char *name,
                           cm_partition_fn fn);
void cm_register_merge(cm_registry *r, const char *name, cm_merge_fn fn);
void cm_register_foreach(cm_registry *r, const char *name, cm_foreach_fn fn);
/* A hash of the sorted (name, kind) list: driver and executors compare it. */
uint64_t cm_registry_fingerprint(const cm_registry *r);
#define CM_REGISTER_MAP(r, fn) cm_register_map((r), #fn, (fn))
#define CM_REGISTER_FILTER(r, fn) cm_register_filter((r), #fn, (fn))
#define CM_REGISTER_PARTITION(r, fn) cm_register_partition((r), #fn, (fn))
#define CM_REGISTER_MERGE(r, fn) cm_register_merge((r), #fn, (fn))
#define CM_REGISTER_FOREACH(r, fn) cm_register_foreach((r), #fn, (fn))

/* Builtins every registry holds (see compute/registry.c):
 *   merge "cm.sum_i64", "cm.sum_f64", "cm.min_i64", "cm.max_i64",
 *         "cm.keep_first" (the accumulator);
 *   map   "cm.swap" (value, key), "cm.i64_to_text" (value int64 -> decimal),
 *         "cm.f64_to_text", "cm.key_only" (key, empty), "cm.one_i64"
 *         (key, int64 1). */

/* ---------------------------------------------------------------- context */

/* Progress of one stage, reported on the driver thread after every task
 * event. */
typedef struct cm_progress {
  uint32_t job_id;
  uint32_t stage_id;
  uint32_t tasks_total;
  uint32_t tasks_done;
  uint32_t tasks_running;
  bool job_finished; /* the last call of a job */
} cm_progress;
typedef void (*cm_progress_fn)(void *arg, const cm_progress *p);

typedef struct cm_config {
  uint32_t executors;          /* executor threads, >= 1 */
  uint64_t memory_bytes;       /* total budget: half cache, half tasks */
  uint32_t task_attempts_max;  /* attempts per task before the job fails */
  uint32_t stage_attempts_max; /* fetch-failure resubmissions per stage */
  /* Fault injection: each task attempt fails on purpose with this
   * probability (parts per million), decided by hashing fault_seed with the
   * stage, partition and attempt, so runs are reproducible. */
  uint32_t fault_task_fail_ppm;
  uint64_t fault_seed;
  const char *tmp_dir; /* spill/shuffle files go under it; NULL = $TMPDIR
                          or /tmp */
  cm_progress_fn progress_fn; /* NULL = none */
  void *progress_arg;
} cm_config;

/* executors 2, memory 256 MiB, 4 task attempts, 4 stage attempts, no
 * faults. */
cm_config cm_config_default(void);

typedef struct cm_ctx cm_ctx;
/* The registry is borrowed and must outlive the context. Returns NULL and
 * sets err (CM_ERROR_INVALID, CM_ERROR_IO) on a bad config or when the
 * scratch directory cannot be created. */
cm_ctx *cm_ctx_new(const cm_registry *reg, const cm_config *cfg,
                   GError **err);
/* Frees every dataset of the context, its cache and its scratch files. */
void cm_ctx_free(cm_ctx *ctx);

/* Cumulative counters of a context (for tests and summaries). */
typedef struct cm_stats {
  uint64_t jobs;
  uint64_t stages_run;
  uint64_t stages_skipped; /* map stages whose outputs already existed */
  uint64_t tasks_run;      /* attempts started */
  uint64_t tasks_failed;   /* attempts that failed (injected or not) */
  uint64_t fetch_failures;
  uint64_t spill_files;
  uint64_t spill_bytes;
  uint64_t shuffle_bytes_written;
  uint64_t cache_hits;
  uint64_t cache_misses;
  uint64_t cache_evictions;
  uint64_t cache_bytes; /* bytes cached now */
} cm_stats;
void cm_ctx_stats(cm_ctx *ctx, cm_stats *out);

/* A human-readable summary of the last job: one line per stage with tasks,
 * records, bytes shuffled and spilled, and time. Appends to out. */
void cm_ctx_job_summary(cm_ctx *ctx, GString *out);

/* Renders the stage DAG of the last job with Graphviz: stages as clusters,
 * datasets inside, shuffle edges bold red, cached datasets green, skipped
 * stages grey. The format follows the extension: ".dot" or ".svg".
 * Returns 0, or -1 with err set (CM_ERROR_IO, CM_ERROR_INVALID). */
CM_MUST_CHECK int cm_ctx_render_last_job(cm_ctx *ctx, const char *path,
                                         GError **err);

/* --------------------------------------------------------------- datasets */

typedef struct cm_ds cm_ds;

uint32_t cm_ds_partitions(const cm_ds *ds);
uint32_t cm_ds_id(const cm_ds *ds);
/* Sets the label shown in DAG drawings (copied). Returns ds. */
cm_ds *cm_ds_set_name(cm_ds *ds, const char *name);

/* Sources. Partition counts are >= 1 (asserted). */
cm_ds *cm_parallelize(cm_ctx *ctx, const cm_rec *recs, size_t n,
                      uint32_t partitions);
/* Keys cm_i64 start, start+step, ... < end (step > 0); empty values. */
cm_ds *cm_range(cm_ctx *ctx, int64_t start, int64_t end, int64_t step,
                uint32_t partitions);
/* Lines of a file, or of every regular file of a directory (sorted by name,
 * names starting with '.' or '_' skipped), without their '\n', as keys with
 * empty values. Files are split into at least min_partitions byte ranges;
 * a line belongs to the range its first byte falls in (Hadoop's input
 * splits). Returns NULL with err set (CM_ERROR_IO) if the path cannot be
 * listed. */
cm_ds *cm_text_file(cm_ctx *ctx, const char *path, uint32_t min_partitions,
                    GError **err);

/* Narrow transformations (no shuffle). fn names a registered function of
 * the right kind; env is copied and passed to every call. */
cm_ds *cm_map(cm_ds *ds, const char *fn, cm_bytes env);
cm_ds *cm_filter(cm_ds *ds, const char *fn, cm_bytes env);
cm_ds *cm_flat_map(cm_ds *ds, const char *fn, cm_bytes env);
cm_ds *cm_map_partitions(cm_ds *ds, const char *fn, cm_bytes env);
/* Partitions of a, then partitions of b (same context). */
cm_ds *cm_union(cm_ds *a, cm_ds *b);
/* Each record kept with probability fraction (0..1), decided by a
 * generator seeded from (seed, dataset, partition): reproducible. */
cm_ds *cm_sample(cm_ds *ds, double fraction, uint64_t seed);
/* Merges neighbouring partitions down to `partitions` without a shuffle
 * (partitions <= cm_ds_partitions(ds)). */
cm_ds *cm_coalesce(cm_ds *ds, uint32_t partitions);

/* Wide transformations (one shuffle each; hash partitioning unless said). */
/* One record per distinct (key, value). */
cm_ds *cm_distinct(cm_ds *ds, uint32_t partitions);
/* (key, merge of all values), merged map-side first. */
cm_ds *cm_reduce_by_key(cm_ds *ds, const char *merge_fn, cm_bytes env,
                        uint32_t partitions);
/* (key, cm_list of all values); no map-side combine, like Spark. */
cm_ds *cm_group_by_key(cm_ds *ds, uint32_t partitions);
/* acc starts as zero for each key in each map task; seq_fn(acc, value)
 * folds values map-side; comb_fn(acc, acc) merges accumulators. */
cm_ds *cm_aggregate_by_key(cm_ds *ds, cm_bytes zero, const char *seq_fn,
                           const char *comb_fn, cm_bytes env,
                           uint32_t partitions);
/* (key, cogroup value) for every key of a or b. */
cm_ds *cm_cogroup(cm_ds *a, cm_ds *b, uint32_t partitions);
/* (key, pair(a value, b value)) for every matching pair. */
cm_ds *cm_join(cm_ds *a, cm_ds *b, uint32_t partitions);
/* as cm_join, plus (key, pair(a value, -)) for keys of a missing in b. */
cm_ds *cm_left_outer_join(cm_ds *a, cm_ds *b, uint32_t partitions);
/* Range partitioning from a sample of the keys (computed by a sampling job
 * the first time an action needs it), so partition i holds keys before
 * partition i+1; inside a partition, sorted. Ties keep map-task order. */
cm_ds *cm_sort_by_key(cm_ds *ds, bool ascending, uint32_t partitions);
/* Spreads records round-robin over `partitions` (a shuffle). */
cm_ds *cm_repartition(cm_ds *ds, uint32_t partitions);

/* Keeps partitions in the cache once computed (memory only, LRU within the
 * cache budget; an evicted or dropped partition is recomputed from lineage
 * when needed). Returns ds. */
cm_ds *cm_persist(cm_ds *ds);
/* Drops ds's cached partitions and stops caching it. */
void cm_unpersist(cm_ds *ds);
/* Drops one cached partition, as if its executor had lost it (tests and
 * fault experiments). Returns true if it was cached. */
bool cm_cache_drop(cm_ds *ds, uint32_t partition);
/* Partitions of ds currently cached. */
uint32_t cm_cache_count(cm_ds *ds);

/* ---------------------------------------------------------------- actions */
/* Each runs one job (cm_sort_by_key may add a sampling job before it) and
 * blocks until it ends. Return 0, or -1 with err set. */

CM_MUST_CHECK int cm_collect(cm_ds *ds, cm_records **out, GError **err);
CM_MUST_CHECK int cm_count(cm_ds *ds, uint64_t *out, GError **err);
/* Merges all keys with merge_fn (on the keys: for single-value datasets).
 * *out [owned by the caller, g_bytes_unref]. CM_ERROR_EMPTY if empty. */
CM_MUST_CHECK int cm_reduce(cm_ds *ds, const char *merge_fn, cm_bytes env,
                            GBytes **out, GError **err);
/* The first n records in dataset order; scans partitions in growing
 * batches, like Spark, so it may run several jobs. */
CM_MUST_CHECK int cm_take(cm_ds *ds, size_t n, cm_records **out,
                          GError **err);
CM_MUST_CHECK int cm_foreach(cm_ds *ds, const char *fn, cm_bytes env,
                             GError **err);
/* Writes dir/part-00000 ... (one per partition, "key\tvalue\n" per record,
 * just "key\n" when the value is empty) and then dir/_SUCCESS. The
 * directory is created; existing part files are replaced. Each task writes
 * a temporary file and renames it when it succeeds. */
CM_MUST_CHECK int cm_save_as_text(cm_ds *ds, const char *dir, GError **err);

#endif
