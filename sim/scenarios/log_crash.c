/*
 * log_crash.c — the `log-crash` scenario (see log_crash.h): a partition
 * log on a simulated disk, crashed at random points, recovered, checked.
 *
 * Ground truth kept by the harness:
 *   - every batch the node appended, by base offset, in every incarnation
 *     (a crash can drop unflushed batches, and their offsets are then
 *     reused by new appends): `versions`;
 *   - the batches the log holds now, in order (`current`), and how far
 *     the flushes acknowledged so far reach (`acked_offset`): every batch
 *     of `current` below it is acknowledged, and its bytes are remembered
 *     (`acked`) the moment its flush callback reports success.
 * After each restart the node reads its recovered log back and the harness
 * compares (checks 1-3 of log_crash.h); after the run, the bit-rot rounds.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/env.h"
#include "broker/kerr.h"
#include "broker/log/batch.h"
#include "broker/log/log.h"
#include "sim/scenarios/log_crash.h"
#include "sim/sim.h"

#define MS_NS (UINT64_C(1000) * 1000)
#define TOPIC "events"
#define DATA_DIR "/data"
#define LOG_DIR DATA_DIR "/events-0"
#define RP_CHECKPOINT DATA_DIR "/recovery-point-offset-checkpoint"
#define TICK_NS MS_NS
#define RESTART_DELAY_NS_MAX (20 * MS_NS)
/* After the fault window: time to restart, recover and flush. */
#define SETTLE_NS (200 * MS_NS)
/* After the faults end: longer than an fsync and a restart delay, so a
 * flush that failed just before has halted and restarted the node. */
#define SETTLE_FAULTS_NS (100 * MS_NS)
#define BATCHES_PER_TICK_MAX 3u
#define RECORDS_PER_BATCH_MAX 8u
#define VALUE_BYTES_MAX 300u
#define READ_BYTES 65536u

typedef struct lc_harness lc_harness;

typedef struct lc_batch {
  int64_t base;
  int64_t last;
  GBytes *bytes; /* as stored (offset and epoch assigned) */
} lc_batch;

typedef struct lc_node {
  env_t *env;
  lc_harness *h;
  log_t *log;
  log_checkpoint_t *ckpt;
  uint64_t tick_timer;
  GArray *flush_targets; /* int64_t, in request order (FIFO) */
  guint flush_head;
  int32_t epoch;
  bool halting; /* a flush failed: the harness stops and restarts it */
} lc_node;

struct lc_harness {
  sim_t *sim;
  sim_scenario_result *result;
  sim_node_t *node;
  log_config cfg;
  GHashTable *versions; /* int64_t* base -> GPtrArray of GBytes */
  GArray *current;      /* lc_batch, the log as the harness knows it */
  guint acked_upto;     /* current[0..acked_upto) are acknowledged */
  int64_t acked_offset; /* flushes acknowledged up to here */
  GHashTable *acked;    /* int64_t* base -> GBytes (acknowledged version) */
  int32_t epoch;        /* grows with each start */
  bool faults;
  uint64_t fault_end_ns;
  uint64_t crash_mean_ns;
  uint64_t fsync_fault_mean_ns; /* 0: no fsync faults in this run */
  double garbage_probability;
  double flush_probability;
  double checkpoint_probability;
  double roll_probability;
  bool final_flushed;
  /* stats */
  uint64_t appended, crashes, garbage_crashes, recoveries, lost, rot_rounds,
      rot_detected, fsync_faults, flush_failures, halts;
};

static void violation(lc_harness *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void violation(lc_harness *h, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  char *text =
      g_strdup_printf("t=%" PRIu64 "us: %s", sim_now_ns(h->sim) / 1000, msg);
  sim_trace(h->sim, h->node, "check.violation", "\"text\":\"%s\"", msg);
  sim_scenario_result_violation(h->result, text);
  g_free(text);
  g_free(msg);
}

static int64_t *key_new(int64_t v) {
  int64_t *k = g_new(int64_t, 1);
  *k = v;
  return k;
}

static void ptr_array_unref(gpointer p) { g_ptr_array_unref(p); }

static void current_clear(lc_harness *h) {
  for (guint i = 0; i < h->current->len; i++)
    g_bytes_unref(g_array_index(h->current, lc_batch, i).bytes);
  g_array_set_size(h->current, 0);
  h->acked_upto = 0;
}

/* ---------------------------------------------------------- the harness */

static void record_append(lc_harness *h, int64_t base, int64_t last,
                          const uint8_t *p, size_t len) {
  GBytes *b = g_bytes_new(p, len);
  GPtrArray *v = g_hash_table_lookup(h->versions, &base);
  if (!v) {
    v = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
    g_hash_table_insert(h->versions, key_new(base), v);
  }
  g_ptr_array_add(v, g_bytes_ref(b));
  lc_batch lb = {base, last, b};
  g_array_append_val(h->current, lb);
  h->appended++;
}

/* A flush of everything below target was acknowledged. */
static void record_ack(lc_harness *h, int64_t target) {
  if (target > h->acked_offset)
    h->acked_offset = target;
  while (h->acked_upto < h->current->len) {
    lc_batch *b = &g_array_index(h->current, lc_batch, h->acked_upto);
    if (b->last >= h->acked_offset)
      break;
    g_hash_table_replace(h->acked, key_new(b->base), g_bytes_ref(b->bytes));
    h->acked_upto++;
  }
}

static bool appended_version(lc_harness *h, int64_t base, GBytes *bytes) {
  GPtrArray *v = g_hash_table_lookup(h->versions, &base);
  for (guint i = 0; v && i < v->len; i++)
    if (g_bytes_equal(g_ptr_array_index(v, i), bytes))
      return true;
  return false;
}

/* Checks 1-3 on the recovered log, then makes it the harness's view. */
static void check_recovered(lc_harness *h, log_t *log) {
  int64_t leo = log_end_offset(log);
  int64_t start = log_start_offset(log);
  h->recoveries++;
  if (leo < h->acked_offset)
    violation(h,
              "log end %" PRId64 " below the acknowledged flushed offset "
              "%" PRId64,
              leo, h->acked_offset);
  for (guint i = 0; i < h->current->len; i++)
    if (g_array_index(h->current, lc_batch, i).base >= leo)
      h->lost++;
  current_clear(h);
  buf_t out = BUF_INIT;
  int64_t off = start, expect = start;
  while (off < leo) {
    log_read_info info;
    buf_clear(&out);
    int rc = log_read(log, off, READ_BYTES, LOG_OFFSET_MAX, &out, &info);
    if (rc != KERR_NONE || info.batch_count == 0) {
      violation(h, "read at %" PRId64 " after recovery: %s", off,
                rc ? kerr_name(rc) : "no batch");
      break;
    }
    for (size_t at = 0; at < out.len;) {
      batch_header hd;
      int64_t total = batch_total_bytes(out.data + at, out.len - at);
      SL_ASSERT(total >= BATCH_HEADER_BYTES);
      (void)batch_header_parse(out.data + at, (size_t)total, &hd);
      int64_t last = batch_last_offset(&hd);
      GBytes *bytes = g_bytes_new(out.data + at, (size_t)total);
      if (hd.base_offset != expect)
        violation(h,
                  "offsets not contiguous: expected a batch at %" PRId64
                  ", found one at %" PRId64,
                  expect, hd.base_offset);
      if (!appended_version(h, hd.base_offset, bytes))
        violation(h,
                  "batch at %" PRId64 " (%" PRId64 " bytes) was never "
                  "appended: invented",
                  hd.base_offset, total);
      if (last < h->acked_offset) {
        GBytes *want = g_hash_table_lookup(h->acked, &hd.base_offset);
        if (!want || !g_bytes_equal(want, bytes))
          violation(h,
                    "acknowledged flushed batch at %" PRId64
                    " differs after recovery",
                    hd.base_offset);
      }
      lc_batch lb = {hd.base_offset, last, bytes};
      g_array_append_val(h->current, lb);
      expect = last + 1;
      at += (size_t)total;
    }
    off = info.offset_next;
  }
  if (expect < h->acked_offset)
    violation(h,
              "acknowledged flushed offsets %" PRId64 "..%" PRId64
              " missing after recovery",
              expect, h->acked_offset - 1);
  buf_free(&out);
  record_ack(h, h->acked_offset);
  sim_trace(h->sim, h->node, "check.recovered",
            "\"leo\":%" PRId64 ",\"acked\":%" PRId64 ",\"batches\":%u", leo,
            h->acked_offset, h->current->len);
}

/* -------------------------------------------------------------- the node */

static void node_tick(void *arg);
static void halt_event(sim_t *sim, void *arg);

static void build_batch(lc_node *n, buf_t *out) {
  env_t *env = n->env;
  static const batch_codec codecs[] = {BATCH_CODEC_NONE, BATCH_CODEC_NONE,
                                       BATCH_CODEC_NONE, BATCH_CODEC_GZIP,
                                       BATCH_CODEC_LZ4};
  int64_t ts = env_wall_ms(env);
  batch_builder_opts o = {codecs[env_rand_below(env, G_N_ELEMENTS(codecs))],
                          0,
                          ts,
                          -1,
                          -1,
                          -1,
                          0,
                          -1};
  batch_builder *b = batch_builder_new(&o);
  uint32_t records = 1 + (uint32_t)env_rand_below(env, RECORDS_PER_BATCH_MAX);
  uint8_t value[VALUE_BYTES_MAX];
  for (uint32_t i = 0; i < records; i++) {
    char key[16];
    int kl = snprintf(key, sizeof key, "k%" PRIu64, env_rand_below(env, 100));
    uint32_t vl = (uint32_t)env_rand_below(env, VALUE_BYTES_MAX + 1);
    for (uint32_t j = 0; j < vl; j++)
      value[j] = (uint8_t)env_rand_below(env, 256);
    batch_builder_add(b, ts + i, key, kl, value, (int32_t)vl, NULL, 0);
  }
  int rc = batch_builder_finish(b, -1, out);
  SL_ASSERT(rc == 0);
}

static void write_checkpoint(lc_node *n) {
  log_offset_entry e = {(char *)TOPIC, 0, log_recovery_point(n->log)};
  log_checkpoint_write_offsets(n->ckpt, &e, 1, NULL, NULL);
}

static void node_flushed(void *arg, int status) {
  lc_node *n = arg;
  lc_harness *h = n->h;
  SL_ASSERT(n->flush_head < n->flush_targets->len);
  int64_t target = g_array_index(n->flush_targets, int64_t, n->flush_head++);
  if (status != 0) {
    /* Only an injected fsync EIO may fail a flush. The log is offline
     * now; the node halts (as Kafka's broker does when its log dir fails)
     * and is restarted. */
    if (h->fsync_faults == 0)
      violation(h, "flush to %" PRId64 " failed: %s", target,
                g_strerror(-status));
    if (!log_failed(n->log))
      violation(h, "a flush failed but the log is not offline");
    h->flush_failures++;
    if (!n->halting) {
      n->halting = true;
      sim_schedule(h->sim, 0, halt_event, h);
    }
    return;
  }
  record_ack(h, target);
  sim_trace(h->sim, h->node, "log.flushed", "\"target\":%" PRId64, target);
  if (env_rand_double(n->env) < h->checkpoint_probability)
    write_checkpoint(n);
}

static void node_tick(void *arg) {
  lc_node *n = arg;
  lc_harness *h = n->h;
  n->tick_timer = 0;
  if (log_failed(n->log))
    return; /* halting: no more appends */
  uint32_t k = 1 + (uint32_t)env_rand_below(n->env, BATCHES_PER_TICK_MAX);
  buf_t b = BUF_INIT;
  for (uint32_t i = 0; i < k; i++) {
    buf_clear(&b);
    build_batch(n, &b);
    log_append_info info;
    int rc = log_append(n->log, b.data, b.len, n->epoch, &info);
    if (rc != KERR_NONE) {
      violation(h, "append failed: %s", kerr_name(rc));
      break;
    }
    record_append(h, info.base_offset, info.last_offset, b.data, b.len);
  }
  buf_free(&b);
  if (env_rand_double(n->env) < h->roll_probability &&
      log_roll(n->log) != KERR_NONE)
    violation(h, "roll failed");
  if (env_rand_double(n->env) < h->flush_probability) {
    int64_t target = log_end_offset(n->log);
    g_array_append_val(n->flush_targets, target);
    log_flush(n->log, target, node_flushed, n);
  }
  n->tick_timer = env_timer_start(n->env, TICK_NS, node_tick, n);
}

static int64_t checkpointed_recovery_point(lc_node *n) {
  log_offset_entry *e = NULL;
  size_t count = 0;
  int rc = log_offsets_read(n->env, RP_CHECKPOINT, &e, &count);
  int64_t rp = 0;
  if (rc == 0) {
    for (size_t i = 0; i < count; i++)
      if (strcmp(e[i].topic, TOPIC) == 0 && e[i].partition == 0)
        rp = e[i].offset;
    log_offset_entries_free(e, count);
  } else if (rc != -ENOENT) {
    violation(n->h, "%s unreadable after a crash: %s", RP_CHECKPOINT,
              g_strerror(-rc));
  }
  return rp;
}

static void *node_start(env_t *env, void *config) {
  lc_harness *h = config;
  lc_node *n = g_new0(lc_node, 1);
  n->env = env;
  n->h = h;
  n->flush_targets = g_array_new(FALSE, FALSE, sizeof(int64_t));
  n->epoch = h->epoch++;
  log_open_opts o = {checkpointed_recovery_point(n), 0};
  int rc = log_open(env, LOG_DIR, &h->cfg, &o, &n->log);
  if (rc < 0) {
    violation(h, "log_open failed: %s", g_strerror(-rc));
    g_array_free(n->flush_targets, TRUE);
    g_free(n);
    return NULL;
  }
  n->ckpt = log_checkpoint_new(env, RP_CHECKPOINT);
  check_recovered(h, n->log);
  n->tick_timer = env_timer_start(env, TICK_NS, node_tick, n);
  return n;
}

static void node_stop(void *ctx) {
  lc_node *n = ctx;
  if (!n)
    return;
  if (n->tick_timer)
    env_timer_cancel(n->env, n->tick_timer);
  /* Only ever stopped dead (crash, halt, sim_free): nothing pending will
   * run. */
  log_free(n->log);
  log_checkpoint_free(n->ckpt);
  g_array_free(n->flush_targets, TRUE);
  g_free(n);
}

static const env_node_ops node_ops = {"log", node_start, node_stop};

/* -------------------------------------------------------------- faults */

static void restart_event(sim_t *sim, void *arg) {
  lc_harness *h = arg;
  if (!sim_node_is_up(h->node))
    sim_node_restart(sim, h->node);
}

static void crash_event(sim_t *sim, void *arg) {
  lc_harness *h = arg;
  if (sim_now_ns(sim) >= h->fault_end_ns)
    return;
  if (sim_node_is_up(h->node)) {
    bool garbage =
        sim_rand_double(sim, SIM_STREAM_FAULTS) < h->garbage_probability;
    h->crashes++;
    h->garbage_crashes += garbage;
    sim_node_crash(sim, h->node, garbage ? SIM_DISK_CRASH_GARBAGE : 0);
    sim_schedule(
        sim, sim_rand_below(sim, SIM_STREAM_FAULTS, RESTART_DELAY_NS_MAX + 1),
        restart_event, h);
  }
  sim_schedule(sim, sim_scenario_draw_exp_ns(h->sim, h->crash_mean_ns),
               crash_event, h);
}

/* The node's log went offline: stop the process (its page cache stays, as
 * when a broker halts) and start it again after a drawn delay. */
static void halt_event(sim_t *sim, void *arg) {
  lc_harness *h = arg;
  if (!sim_node_is_up(h->node))
    return;
  h->halts++;
  sim_node_stop(sim, h->node);
  sim_schedule(sim,
               sim_rand_below(sim, SIM_STREAM_FAULTS, RESTART_DELAY_NS_MAX + 1),
               restart_event, h);
}

/* The next fsync on the node's disk fails: like Linux after a failed
 * writeback, the pages it covered stay in the page cache, read back fine,
 * and never reach the medium. */
static void fsync_fault_event(sim_t *sim, void *arg) {
  lc_harness *h = arg;
  if (sim_now_ns(sim) >= h->fault_end_ns)
    return;
  if (sim_node_is_up(h->node)) {
    h->fsync_faults++;
    sim_trace(sim, h->node, "fault.fsync_eio", "\"armed\":true");
    sim_disk_fail_next_fsync(sim_node_disk(h->node));
  }
  sim_schedule(sim, sim_scenario_draw_exp_ns(h->sim, h->fsync_fault_mean_ns),
               fsync_fault_event, h);
}

/* ------------------------------------------------------------- bit rot */

static void on_final_flush(void *arg, int status) {
  lc_harness *h = arg;
  h->final_flushed = true;
  if (status != 0)
    violation(h, "final flush failed: %s", g_strerror(-status));
}

/* Position of the batch with base offset `base` in the durable image of
 * the segment file at path, or -1. */
static int64_t durable_position(sim_disk_t *disk, const char *path,
                                int64_t base) {
  uint64_t size = 0, pos = 0;
  if (sim_disk_durable_size(disk, path, &size) < 0)
    return -1;
  while (pos + BATCH_HEADER_BYTES <= size) {
    uint8_t hdr[BATCH_HEADER_BYTES];
    size_t got = 0;
    if (sim_disk_durable_pread(disk, path, hdr, sizeof hdr, pos, &got) < 0 ||
        got != sizeof hdr)
      return -1;
    if ((int64_t)be64_load(hdr) == base)
      return (int64_t)pos;
    int64_t total = batch_total_bytes(hdr, sizeof hdr);
    if (total < BATCH_HEADER_BYTES)
      return -1;
    pos += (uint64_t)total;
  }
  return -1;
}

/* Reads the whole log: true if some read failed with CORRUPT_MESSAGE;
 * every batch returned must be the one appended. */
static bool read_detects(lc_harness *h, log_t *log) {
  buf_t out = BUF_INIT;
  int64_t off = log_start_offset(log);
  guint next = 0;
  bool detected = false;
  while (off < log_end_offset(log)) {
    log_read_info info;
    buf_clear(&out);
    int rc = log_read(log, off, READ_BYTES, LOG_OFFSET_MAX, &out, &info);
    if (rc == KERR_CORRUPT_MESSAGE) {
      detected = true;
      break;
    }
    if (rc != KERR_NONE || info.batch_count == 0) {
      violation(h, "read at %" PRId64 " during bit rot: %s", off,
                kerr_name(rc));
      break;
    }
    for (size_t at = 0; at < out.len;) {
      int64_t total = batch_total_bytes(out.data + at, out.len - at);
      SL_ASSERT(total >= BATCH_HEADER_BYTES && next < h->current->len);
      GBytes *want = g_array_index(h->current, lc_batch, next++).bytes;
      gsize wl = 0;
      const void *wd = g_bytes_get_data(want, &wl);
      if (wl != (gsize)total || memcmp(wd, out.data + at, wl) != 0)
        violation(h, "a read returned a rotted batch near offset %" PRId64,
                  off);
      at += (size_t)total;
    }
    off = info.offset_next;
  }
  buf_free(&out);
  return detected;
}

static void bit_rot_rounds(lc_harness *h) {
  lc_node *n = sim_node_ctx(h->node);
  if (!n || h->current->len == 0)
    return;
  sim_disk_t *disk = sim_node_disk(h->node);
  int64_t bases[4096];
  size_t nseg = log_segment_bases(n->log, bases, G_N_ELEMENTS(bases));
  nseg = MIN(nseg, G_N_ELEMENTS(bases));
  for (unsigned r = 0; r < LOG_CRASH_ROT_ROUNDS; r++) {
    uint64_t pick =
        sim_rand_below(h->sim, SIM_STREAM_WORKLOAD, h->current->len);
    lc_batch *b = &g_array_index(h->current, lc_batch, pick);
    size_t s = 0;
    while (s + 1 < nseg && bases[s + 1] <= b->base)
      s++;
    char *path = g_strdup_printf("%s/%020" PRId64 ".log", LOG_DIR, bases[s]);
    int64_t pos = durable_position(disk, path, b->base);
    gsize len = g_bytes_get_size(b->bytes);
    if (pos < 0) {
      violation(h,
                "flushed batch at %" PRId64 " not in the durable image of "
                "%s",
                b->base, path);
      g_free(path);
      continue;
    }
    uint64_t at =
        (uint64_t)pos + sim_rand_below(h->sim, SIM_STREAM_WORKLOAD, len);
    int bit = (int)sim_rand_below(h->sim, SIM_STREAM_WORKLOAD, 8);
    int rc = sim_disk_rot(disk, path, at, bit);
    SL_ASSERT(rc == 0);
    sim_trace(h->sim, h->node, "fault.rot",
              "\"file\":\"%s\",\"at\":%" PRIu64 ",\"bit\":%d", path, at, bit);
    h->rot_rounds++;
    if (read_detects(h, n->log))
      h->rot_detected++;
    else
      violation(h,
                "bit rot (%s byte %" PRIu64 " bit %d, in the batch at "
                "offset %" PRId64 ") not detected by reads",
                path, at, bit, b->base);
    rc = sim_disk_rot(disk, path, at, bit); /* heal it again */
    SL_ASSERT(rc == 0);
    g_free(path);
  }
}

/* ------------------------------------------------------------- the run */

static void draw_swarm(lc_harness *h) {
  sim_t *sim = h->sim;
  static const uint64_t crash_means_ms[] = {20, 60, 150, 400};
  static const uint64_t fsync_fault_means_ms[] = {0, 30, 100, 300};
  static const double flush_choices[] = {0.05, 0.2, 0.5, 1.0};
  h->crash_mean_ns =
      crash_means_ms[sim_rand_below(sim, SIM_STREAM_FAULTS, 4)] * MS_NS;
  h->fsync_fault_mean_ns =
      fsync_fault_means_ms[sim_rand_below(sim, SIM_STREAM_FAULTS, 4)] * MS_NS;
  h->garbage_probability = 0.5;
  h->flush_probability =
      flush_choices[sim_rand_below(sim, SIM_STREAM_WORKLOAD, 4)];
  h->checkpoint_probability = sim_rand_double(sim, SIM_STREAM_WORKLOAD);
  h->roll_probability = 0.02;
  log_config_default(&h->cfg);
  h->cfg.segment_bytes = 4096 << sim_rand_below(sim, SIM_STREAM_WORKLOAD, 4);
  h->cfg.index_interval_bytes =
      (int32_t)(256 << sim_rand_below(sim, SIM_STREAM_WORKLOAD, 4));
}

static void fill_result(lc_harness *h, const sim_scenario_opts *o) {
  sim_scenario_result *r = h->result;
  r->trace_hash = sim_trace_hash(h->sim);
  r->trace_events = sim_trace_events(h->sim);
  r->events = sim_events_run(h->sim);
  r->virtual_ns = sim_now_ns(h->sim);
  if (o->keep_trace) {
    size_t len = 0;
    const char *text = sim_trace_text(h->sim, &len);
    r->trace_text = g_strndup(text ? text : "", len);
    r->trace_len = len;
  }
  sim_scenario_result_stat(r, "appended", h->appended);
  sim_scenario_result_stat(r, "flushed_offset", (uint64_t)h->acked_offset);
  sim_scenario_result_stat(r, "crashes", h->crashes);
  sim_scenario_result_stat(r, "garbage_crashes", h->garbage_crashes);
  sim_scenario_result_stat(r, "recoveries", h->recoveries);
  sim_scenario_result_stat(r, "recovered_lost", h->lost);
  sim_scenario_result_stat(r, "fsync_faults", h->fsync_faults);
  sim_scenario_result_stat(r, "flush_failures", h->flush_failures);
  sim_scenario_result_stat(r, "halts", h->halts);
  sim_scenario_result_stat(r, "rot_rounds", h->rot_rounds);
  sim_scenario_result_stat(r, "rot_detected", h->rot_detected);
}

int sim_scenario_log_crash(const sim_scenario_opts *o, sim_scenario_result *r) {
  SL_ASSERT(o != NULL && r != NULL);
  memset(r, 0, sizeof *r);
  r->seed = o->seed;
  uint64_t duration_ms =
      o->duration_ms ? o->duration_ms : LOG_CRASH_DURATION_MS_DEFAULT;
  if (o->nodes > 1 || duration_ms > LOG_CRASH_DURATION_MS_MAX)
    return -EINVAL;
  r->replay_command =
      sim_scenario_replay_command(o, "log-crash", 0, duration_ms);
  sim_options so;
  sim_options_default(&so, o->seed);
  so.keep_trace = o->keep_trace || o->trace_out != NULL;
  so.log_level = o->log_level;
  lc_harness *h = g_new0(lc_harness, 1);
  h->sim = sim_new(&so);
  if (!h->sim) {
    g_free(h);
    return -EINVAL;
  }
  sim_set_replay_command(h->sim, r->replay_command);
  h->result = r;
  h->faults = !o->no_faults;
  h->versions = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free,
                                      ptr_array_unref);
  h->acked = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free,
                                   (GDestroyNotify)g_bytes_unref);
  h->current = g_array_new(FALSE, FALSE, sizeof(lc_batch));
  h->fault_end_ns = duration_ms * MS_NS;
  draw_swarm(h);
  h->node = sim_node_add(h->sim, "n1", &node_ops, h);
  SL_ASSERT(h->node != NULL);
  if (h->faults) {
    sim_schedule(h->sim, sim_scenario_draw_exp_ns(h->sim, h->crash_mean_ns),
                 crash_event, h);
    if (h->fsync_fault_mean_ns)
      sim_schedule(h->sim,
                   sim_scenario_draw_exp_ns(h->sim, h->fsync_fault_mean_ns),
                   fsync_fault_event, h);
  }
  sim_run_until(h->sim, h->fault_end_ns);

  /* Settle: no fault is left armed; a flush that failed before lets its
   * halt and restart happen; the node is up (restart it if a crash left it
   * down), stops appending, flushes everything. */
  sim_disk_clear_faults(sim_node_disk(h->node));
  sim_run_until(h->sim, h->fault_end_ns + SETTLE_FAULTS_NS);
  if (!sim_node_is_up(h->node))
    sim_node_restart(h->sim, h->node);
  sim_run_until(h->sim, h->fault_end_ns + SETTLE_FAULTS_NS + MS_NS);
  lc_node *n = sim_node_ctx(h->node);
  if (!n) {
    violation(h, "the node did not come back up");
  } else {
    if (n->tick_timer)
      env_timer_cancel(n->env, n->tick_timer);
    n->tick_timer = 0;
    log_flush(n->log, log_end_offset(n->log), on_final_flush, h);
    sim_run_until(h->sim, h->fault_end_ns + SETTLE_FAULTS_NS + SETTLE_NS);
    if (!h->final_flushed)
      violation(h, "the final flush did not complete");
    record_ack(h, log_end_offset(n->log));
    if (h->faults)
      bit_rot_rounds(h);
  }
  fill_result(h, o);
  int rc = 0;
  if (o->trace_out && sim_trace_write(h->sim, o->trace_out) < 0)
    rc = -EIO;
  sim_free(h->sim); /* stops the node (dead env) before the model goes */
  current_clear(h);
  g_array_free(h->current, TRUE);
  g_hash_table_destroy(h->versions);
  g_hash_table_destroy(h->acked);
  g_free(h);
  return rc;
}
