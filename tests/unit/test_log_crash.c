/*
 * The `log-crash` simulator scenario (sim/scenarios/log_crash.h) over a
 * fixed set of seeds: a partition log crashed at random points (torn and
 * garbage tails), recovered and checked after every restart, then bit rot.
 * Each failing seed prints its violations and the command that replays it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <glib.h>

#include <string.h>

#include "base/buf.h"
#include "base/env.h"
#include "broker/kerr.h"
#include "broker/log/batch.h"
#include "broker/log/log.h"
#include "sim/disk.h"
#include "sim/scenario.h"
#include "sim/scenarios/log_crash.h"
#include "sim/sim.h"
#include "tests/unit/testutil.h"

#define SEEDS 20u

static void test_seeds(void) {
  uint64_t base = test_seed();
  uint64_t violations = 0, crashes = 0, rot = 0;
  for (uint64_t s = base; s < base + SEEDS; s++) {
    sim_scenario_opts o;
    sim_scenario_opts_default(&o, s);
    o.log_level = ENV_LOG_ERROR + 1; /* the rot rounds log errors */
    sim_scenario_result r;
    CU_ASSERT_EQUAL_FATAL(sim_scenario_log_crash(&o, &r), 0);
    violations += r.violations;
    for (size_t i = 0; i < r.stat_count; i++) {
      if (g_str_equal(r.stats[i].name, "crashes"))
        crashes += r.stats[i].value;
      if (g_str_equal(r.stats[i].name, "rot_detected"))
        rot += r.stats[i].value;
    }
    if (r.violations) {
      fprintf(stderr, "\n  seed %" PRIu64 ": %" PRIu64 " violations", s,
              r.violations);
      for (size_t i = 0; i < r.violation_kept; i++)
        fprintf(stderr, "\n    %s", r.violation_text[i]);
      fprintf(stderr, "\n  replay: %s", r.replay_command);
    }
    sim_scenario_result_clear(&r);
  }
  CU_ASSERT_EQUAL(violations, 0);
  /* The seeds really crash the log and rot its bits. */
  CU_ASSERT(crashes >= SEEDS);
  CU_ASSERT_EQUAL(rot, SEEDS * LOG_CRASH_ROT_ROUNDS);
}

/* The same seed gives the same trace. */
static void test_deterministic(void) {
  uint64_t hashes[2];
  for (int i = 0; i < 2; i++) {
    sim_scenario_opts o;
    sim_scenario_opts_default(&o, test_seed() + 7);
    o.log_level = ENV_LOG_ERROR + 1;
    sim_scenario_result r;
    CU_ASSERT_EQUAL_FATAL(sim_scenario_log_crash(&o, &r), 0);
    hashes[i] = r.trace_hash;
    sim_scenario_result_clear(&r);
  }
  CU_ASSERT_EQUAL(hashes[0], hashes[1]);
}

/* ------------------------------------------------- compaction and crashes
 * A keyed log is compacted and the node crashes after k simulator events
 * of the pass (fsyncs, renames, directory fsyncs), for every k. After
 * recovery each record present must be the original one at its offset,
 * each record missing must be one compaction may drop, and every key's
 * latest value must survive. */

#define CC_DIR "/d/keyed-0"
#define CC_KEYS 12

typedef struct cc_node {
  env_t *env;
  log_t *log;
} cc_node;

typedef struct cc_world {
  log_config cfg;
  int64_t recovery_point;
} cc_world;

static void *cc_start(env_t *env, void *config) {
  cc_world *w = config;
  cc_node *n = g_new0(cc_node, 1);
  n->env = env;
  log_open_opts o = {w->recovery_point, 0};
  if (log_open(env, CC_DIR, &w->cfg, &o, &n->log) != 0) {
    g_free(n);
    return NULL;
  }
  return n;
}

static void cc_stop(void *ctx) {
  cc_node *n = ctx;
  if (!n)
    return;
  log_free(n->log);
  g_free(n);
}

static const env_node_ops cc_ops = {"keyed-log", cc_start, cc_stop};

typedef struct cc_rec {
  int64_t offset;
  int key;
  int value; /* -1 tombstone */
} cc_rec;

static void cc_done(void *arg, int status) { *(int *)arg = status; }
static void cc_compacted(void *arg, int status, const log_compact_stats *s) {
  *(int *)arg = status;
}

static GArray *cc_records(log_t *log) {
  GArray *a = g_array_new(FALSE, FALSE, sizeof(cc_rec));
  buf_t out = BUF_INIT;
  int64_t off = log_start_offset(log);
  while (off < log_end_offset(log)) {
    log_read_info info;
    buf_clear(&out);
    int rc = log_read(log, off, 4096, LOG_OFFSET_MAX, &out, &info);
    CU_ASSERT_EQUAL(rc, KERR_NONE);
    if (rc != KERR_NONE || info.batch_count == 0)
      break;
    for (size_t at = 0; at < out.len;) {
      int64_t total = batch_total_bytes(out.data + at, out.len - at);
      int err = 0;
      batch_iter *it = batch_iter_new(out.data + at, (size_t)total, &err);
      batch_record r;
      while (it && batch_iter_next(it, &r) == 1) {
        cc_rec c = {r.offset, atoi((const char *)r.key + 1),
                    r.value ? atoi((const char *)r.value + 1) : -1};
        g_array_append_val(a, c);
      }
      batch_iter_free(it);
      at += (size_t)total;
    }
    off = info.offset_next;
  }
  buf_free(&out);
  return a;
}

/* Runs one crash point; returns false once k is past the whole pass. */
static bool cc_run(uint64_t seed, uint64_t k) {
  sim_options so;
  sim_options_default(&so, seed);
  so.log_level = ENV_LOG_ERROR + 1;
  sim_t *sim = sim_new(&so);
  cc_world w;
  log_config_default(&w.cfg);
  w.cfg.segment_bytes = 1500;
  w.cfg.index_interval_bytes = 200;
  w.cfg.cleanup_compact = true;
  w.cfg.delete_retention_ms = 0;
  w.recovery_point = 0;
  sim_node_t *node = sim_node_add(sim, "n1", &cc_ops, &w);
  sim_run_until(sim, sim_now_ns(sim) + 1000000);
  cc_node *n = sim_node_ctx(node);
  CU_ASSERT_FATAL(n != NULL);
  test_rng rng;
  test_rng_init(&rng, seed);
  GArray *orig = g_array_new(FALSE, FALSE, sizeof(cc_rec));
  for (int i = 0; i < 60; i++) {
    batch_builder_opts o = {BATCH_CODEC_NONE, 0, 1000 + i, -1, -1, -1, 0, -1};
    batch_builder *b = batch_builder_new(&o);
    int nrec = 1 + (int)test_rng_below(&rng, 4);
    cc_rec recs[4];
    for (int j = 0; j < nrec; j++) {
      char key[8], val[16];
      recs[j].key = (int)test_rng_below(&rng, CC_KEYS);
      recs[j].value =
          test_rng_below(&rng, 6) ? (int)test_rng_below(&rng, 1000) : -1;
      snprintf(key, sizeof key, "k%d", recs[j].key);
      int vl = snprintf(val, sizeof val, "v%d", recs[j].value);
      batch_builder_add(b, 1000 + i, key, (int32_t)strlen(key),
                        recs[j].value < 0 ? NULL : val,
                        recs[j].value < 0 ? -1 : vl, NULL, 0);
    }
    buf_t out = BUF_INIT;
    CU_ASSERT_EQUAL(batch_builder_finish(b, -1, &out), 0);
    log_append_info info;
    CU_ASSERT_EQUAL(log_append(n->log, out.data, out.len, 0, &info), 0);
    for (int j = 0; j < nrec; j++) {
      recs[j].offset = info.base_offset + j;
      g_array_append_val(orig, recs[j]);
    }
    buf_free(&out);
  }
  int st = 1;
  log_flush(n->log, log_end_offset(n->log), cc_done, &st);
  while (st == 1 && sim_step(sim))
    ;
  CU_ASSERT_EQUAL(st, 0);
  w.recovery_point = log_recovery_point(n->log);
  int cst = 1;
  CU_ASSERT_EQUAL_FATAL(
      log_compact(n->log, 1000000, log_end_offset(n->log), cc_compacted, &cst),
      0);
  uint64_t steps = 0;
  while (steps < k && cst == 1 && sim_step(sim))
    steps++;
  bool more = cst == 1;
  sim_node_crash(sim, node, k % 2 ? SIM_DISK_CRASH_GARBAGE : 0);
  sim_node_restart(sim, node);
  sim_run_until(sim, sim_now_ns(sim) + 1000000);
  n = sim_node_ctx(node);
  CU_ASSERT_FATAL(n != NULL);
  GArray *got = cc_records(n->log);
  /* The latest record of each key in the original. */
  int64_t latest[CC_KEYS];
  for (int i = 0; i < CC_KEYS; i++)
    latest[i] = -1;
  for (guint i = 0; i < orig->len; i++)
    latest[g_array_index(orig, cc_rec, i).key] =
        g_array_index(orig, cc_rec, i).offset;
  guint gi = 0;
  for (guint i = 0; i < orig->len; i++) {
    cc_rec *o = &g_array_index(orig, cc_rec, i);
    cc_rec *g = gi < got->len ? &g_array_index(got, cc_rec, gi) : NULL;
    if (g && g->offset == o->offset) {
      CU_ASSERT(g->key == o->key && g->value == o->value);
      gi++;
      continue;
    }
    /* Missing: only superseded records and (expired) tombstones go; a
     * latest value never does. */
    if (latest[o->key] == o->offset && o->value >= 0) {
      fprintf(stderr,
              "\n  seed %" PRIu64 " crash after %" PRIu64
              " events: latest value of k%d at %" PRId64 " lost",
              seed, k, o->key, o->offset);
      CU_FAIL("latest value lost");
    }
  }
  CU_ASSERT_EQUAL(gi, got->len); /* nothing that was not there before */
  g_array_free(got, TRUE);
  g_array_free(orig, TRUE);
  sim_free(sim);
  return more;
}

static void test_compaction_crash(void) {
  uint64_t seed = test_seed();
  for (uint64_t s = seed; s < seed + 4; s++) {
    uint64_t k = 0;
    while (cc_run(s, k) && k < 200)
      k++;
    CU_ASSERT(k > 3); /* the pass really had steps to crash in */
  }
}

/* ------------------------------------------------ bit rot through views
 * The simulator's views show the medium's rot exactly as its pread does:
 * after one bit of a flushed segment is flipped (sim_disk_rot), reading
 * the whole log through log_read_view must fail with CORRUPT_MESSAGE
 * somewhere and never return a batch that differs from what was appended;
 * an injected read EIO fails a read with KAFKA_STORAGE_ERROR. Batches of
 * up to ~7 KiB make views both inside one 4 KiB page (a pointer into it)
 * and across pages (a copy). */

#define RV_ROUNDS 120

/* Reads the whole log through views, max_bytes drawn per read. Returns the
 * first error (KERR_NONE if none); *escapes counts returned batches that
 * differ from `orig` (the log as appended, from offset 0). */
static int rv_read_all(log_t *log, test_rng *rng, const buf_t *orig,
                       int *escapes) {
  int64_t off = log_start_offset(log);
  size_t at = 0; /* where `off` starts in orig */
  while (off < log_end_offset(log)) {
    const uint8_t *view = NULL;
    size_t len = 0;
    log_read_info info;
    size_t max_bytes = 1 + (size_t)test_rng_below(rng, 9000);
    int rc =
        log_read_view(log, off, max_bytes, LOG_OFFSET_MAX, &view, &len, &info);
    if (rc != KERR_NONE)
      return rc;
    if (len == 0 || at + len > orig->len ||
        memcmp(view, orig->data + at, len) != 0) {
      (*escapes)++;
      return KERR_NONE;
    }
    at += len;
    off = info.offset_next;
  }
  return KERR_NONE;
}

static void test_rot_views(void) {
  uint64_t seed = test_seed();
  sim_options so;
  sim_options_default(&so, seed);
  so.log_level = ENV_LOG_ERROR + 1; /* corrupt reads log errors */
  sim_t *sim = sim_new(&so);
  cc_world w;
  log_config_default(&w.cfg);
  w.cfg.segment_bytes = 20000;
  w.cfg.index_interval_bytes = 600;
  w.recovery_point = 0;
  sim_node_t *node = sim_node_add(sim, "n1", &cc_ops, &w);
  sim_run_until(sim, sim_now_ns(sim) + 1000000);
  cc_node *n = sim_node_ctx(node);
  CU_ASSERT_FATAL(n != NULL);
  test_rng rng;
  test_rng_init(&rng, seed ^ 0x707);
  buf_t orig = BUF_INIT;
  uint8_t value[2500];
  for (int i = 0; i < 40; i++) {
    batch_builder_opts o = {BATCH_CODEC_NONE, 0, 1000 + i, -1, -1, -1, 0, -1};
    batch_builder *b = batch_builder_new(&o);
    int nrec = 1 + (int)test_rng_below(&rng, 3);
    for (int j = 0; j < nrec; j++) {
      int vl = 1 + (int)test_rng_below(&rng, sizeof value);
      for (int k = 0; k < vl; k++)
        value[k] = (uint8_t)test_rng_below(&rng, 256);
      batch_builder_add(b, 1000 + i, "k", 1, value, vl, NULL, 0);
    }
    buf_t out = BUF_INIT;
    CU_ASSERT_EQUAL(batch_builder_finish(b, -1, &out), 0);
    log_append_info info;
    CU_ASSERT_EQUAL(log_append(n->log, out.data, out.len, i / 10, &info), 0);
    buf_append(&orig, out.data, out.len); /* with the offset and epoch set */
    buf_free(&out);
  }
  int st = 1;
  log_flush(n->log, log_end_offset(n->log), cc_done, &st);
  while (st == 1 && sim_step(sim))
    ;
  CU_ASSERT_EQUAL_FATAL(st, 0);
  int escapes = 0;
  CU_ASSERT_EQUAL(rv_read_all(n->log, &rng, &orig, &escapes), KERR_NONE);
  int64_t bases[64];
  size_t nseg = log_segment_bases(n->log, bases, 64);
  CU_ASSERT_FATAL(nseg >= 3);
  sim_disk_t *disk = sim_node_disk(node);
  int detected = 0;
  for (int round = 0; round < RV_ROUNDS; round++) {
    char path[64];
    snprintf(path, sizeof path, CC_DIR "/%020" PRId64 ".log",
             bases[test_rng_below(&rng, nseg)]);
    uint64_t size = 0;
    CU_ASSERT_EQUAL_FATAL(sim_disk_durable_size(disk, path, &size), 0);
    uint64_t at = test_rng_below(&rng, size);
    int bit = (int)test_rng_below(&rng, 8);
    CU_ASSERT_EQUAL_FATAL(sim_disk_rot(disk, path, at, bit), 0);
    int rc = rv_read_all(n->log, &rng, &orig, &escapes);
    detected += rc == KERR_CORRUPT_MESSAGE;
    CU_ASSERT(rc == KERR_NONE || rc == KERR_CORRUPT_MESSAGE);
    CU_ASSERT_EQUAL_FATAL(sim_disk_rot(disk, path, at, bit), 0); /* heal */
    if (round % 10 == 0) {
      sim_disk_fail_next_read(disk);
      CU_ASSERT_EQUAL(rv_read_all(n->log, &rng, &orig, &escapes),
                      KERR_KAFKA_STORAGE_ERROR);
      CU_ASSERT_EQUAL(rv_read_all(n->log, &rng, &orig, &escapes), KERR_NONE);
    }
  }
  if (escapes || detected != RV_ROUNDS)
    fprintf(stderr,
            "\n  seed %" PRIu64 ": %d rotted reads escaped, %d of %d "
            "rounds detected",
            seed, escapes, detected, RV_ROUNDS);
  CU_ASSERT_EQUAL(escapes, 0);
  CU_ASSERT_EQUAL(detected, RV_ROUNDS);
  buf_free(&orig);
  sim_free(sim);
}

int suite_log_crash(void) {
  TEST_SUITE("log_crash", {"seeds", test_seeds},
             {"deterministic", test_deterministic},
             {"compaction crash points", test_compaction_crash},
             {"bit rot is caught through views", test_rot_views});
}
