/*
 * Partition log recovery and damage: torn, corrupt and garbage tails,
 * missing and bad index files, leftovers of interrupted compactions,
 * segments below the recovery point (trusted, not rescanned) and bit rot
 * found by reads, and the verifier.
 */
#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <string.h>

#include "tests/unit/test_log_util.h"

/* Builds a log of n batches in several segments, closes it cleanly, and
 * returns its bytes (all batches, in order) and LEO. */
static void build_log(tl_env *t, const log_config *cfg, int n, uint64_t seed,
                      buf_t *all, int64_t *leo) {
  log_t *log = NULL;
  CU_ASSERT_EQUAL_FATAL(tl_open(t, cfg, 0, 0, &log), 0);
  test_rng rng;
  test_rng_init(&rng, seed);
  for (int i = 0; i < n; i++)
    tl_append(log, 1 + (int)test_rng_below(&rng, 4), 1000 + i,
              test_rng_next(&rng), 20 + (int)test_rng_below(&rng, 300), i / 25);
  *leo = log_end_offset(log);
  buf_clear(all);
  CU_ASSERT_EQUAL(tl_read_all(log, 0, 1 << 20, all), KERR_NONE);
  CU_ASSERT_EQUAL(tl_close(t, log), 0);
}

static char *seg_name(int64_t base, const char *suffix) {
  return g_strdup_printf("%020" PRId64 "%s", base, suffix);
}

/* Offsets and sizes of the batches of a concatenation. */
typedef struct bspan {
  size_t at; /* position in the concatenation */
  size_t len;
  int64_t last;
} bspan;

static void span_cb(void *arg, const uint8_t *p, size_t len) {
  GArray *a = arg;
  batch_header h;
  (void)batch_header_parse(p, len, &h);
  size_t at = 0;
  if (a->len > 0) {
    bspan *prev = &g_array_index(a, bspan, a->len - 1);
    at = prev->at + prev->len;
  }
  bspan s = {at, len, batch_last_offset(&h)};
  g_array_append_val(a, s);
}

static GArray *spans_of(const buf_t *all) {
  GArray *a = g_array_new(FALSE, FALSE, sizeof(bspan));
  tl_batches(all, span_cb, a);
  return a;
}

/* After recovery the log must be exactly a prefix of `all` (whole
 * batches) ending at its LEO. */
static void check_prefix(log_t *log, const buf_t *all, uint64_t seed) {
  buf_t got = BUF_INIT;
  CU_ASSERT_EQUAL(tl_read_all(log, log_start_offset(log), 5000, &got),
                  KERR_NONE);
  CU_ASSERT(got.len <= all->len);
  CU_ASSERT(memcmp(got.data, all->data, MIN(got.len, all->len)) == 0);
  GArray *s = spans_of(&got);
  int64_t leo = s->len ? g_array_index(s, bspan, s->len - 1).last + 1 : 0;
  if (s->len)
    TEST_EQ_INT(log_end_offset(log), leo, seed);
  g_array_free(s, TRUE);
  buf_free(&got);
}

static void test_torn_tail(void) {
  uint64_t seed = test_seed();
  test_rng rng;
  test_rng_init(&rng, seed);
  for (int round = 0; round < 12; round++) {
    tl_env t;
    tl_setup(&t);
    log_config cfg;
    tl_config(&cfg);
    buf_t all = BUF_INIT;
    int64_t leo = 0;
    build_log(&t, &cfg, 80, seed + (uint64_t)round, &all, &leo);
    log_t *log = NULL;
    CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, leo, 0, &log), 0);
    size_t nseg = log_segment_count(log);
    int64_t bases[64];
    log_segment_bases(log, bases, 64);
    CU_ASSERT_EQUAL(tl_close(&t, log), 0);
    /* Cut the active segment (or, every other round, any segment) at a
     * random byte. */
    size_t victim = round % 2 ? (size_t)test_rng_below(&rng, nseg) : nseg - 1;
    char *name = seg_name(bases[victim], ".log");
    gsize len = 0;
    gchar *data = tl_slurp(&t, name, &len);
    gsize cut = (gsize)test_rng_below(&rng, len);
    tl_spit(&t, name, data, cut);
    g_free(data);
    /* Torn data is always above the recovery point after a crash. */
    int64_t rp = round % 3 == 0 ? 0 : bases[victim];
    CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, rp, 0, &log), 0);
    CU_ASSERT(log_end_offset(log) <= leo);
    CU_ASSERT_EQUAL(log_segment_count(log), victim + 1);
    check_prefix(log, &all, seed);
    int64_t leo2 = log_end_offset(log);
    /* Appends continue after the cut. */
    tl_append(log, 2, 5000, 1, 50, 100);
    CU_ASSERT_EQUAL(log_end_offset(log), leo2 + 2);
    CU_ASSERT_EQUAL(tl_close(&t, log), 0);
    CU_ASSERT_EQUAL(tl_verify(&t), 0);
    g_free(name);
    buf_free(&all);
    tl_teardown(&t);
  }
}

static void test_corrupt_and_garbage_tails(void) {
  uint64_t seed = test_seed();
  test_rng rng;
  test_rng_init(&rng, seed ^ 0x55);
  for (int kind = 0; kind < 3; kind++) {
    tl_env t;
    tl_setup(&t);
    log_config cfg;
    tl_config(&cfg);
    buf_t all = BUF_INIT;
    int64_t leo = 0;
    build_log(&t, &cfg, 60, seed, &all, &leo);
    log_t *log = NULL;
    CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, leo, 0, &log), 0);
    size_t nseg = log_segment_count(log);
    int64_t bases[64];
    log_segment_bases(log, bases, 64);
    CU_ASSERT_EQUAL(tl_close(&t, log), 0);
    size_t victim = nseg / 2;
    char *name = seg_name(bases[victim], ".log");
    gsize len = 0;
    gchar *data = tl_slurp(&t, name, &len);
    if (kind == 0) {
      /* A flipped bit (in a record, under the CRC) in a middle segment:
       * truncated there, later segments deleted. (A flip in the leader
       * epoch field above the recovery point can pass for a new epoch:
       * see docs/log.md.) */
      buf_t segb = {(uint8_t *)data, len, len};
      GArray *sp = spans_of(&segb);
      bspan mid = g_array_index(sp, bspan, sp->len / 2);
      data[mid.at + mid.len - 2] ^= 0x10;
      g_array_free(sp, TRUE);
      tl_spit(&t, name, data, len);
    } else {
      /* Garbage (random or zeros) after the last batch (a truncation
       * that cut it off was lost): the garbage goes, nothing else, since
       * the segment's batches reach the next one's base. */
      gsize extra = 1 + (gsize)test_rng_below(&rng, 3000);
      gchar *more = g_malloc(len + extra);
      memcpy(more, data, len);
      for (gsize i = 0; i < extra; i++)
        more[len + i] = kind == 1 ? (gchar)test_rng_next(&rng) : 0;
      tl_spit(&t, name, more, len + extra);
      g_free(more);
    }
    g_free(data);
    /* Below the recovery point (kind 2) the tail check finds the
     * garbage; from 0 the rescan does. */
    CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, kind == 2 ? leo : 0, 0, &log), 0);
    if (kind == 0) {
      CU_ASSERT_EQUAL(log_segment_count(log), victim + 1);
      CU_ASSERT(log_end_offset(log) < leo);
      CU_ASSERT(log_end_offset(log) > bases[victim] - 1);
    } else {
      CU_ASSERT_EQUAL(log_segment_count(log), nseg);
      CU_ASSERT_EQUAL(log_end_offset(log), leo);
    }
    check_prefix(log, &all, seed);
    CU_ASSERT_EQUAL(tl_close(&t, log), 0);
    CU_ASSERT_EQUAL(tl_verify(&t), 0);
    gsize len2 = 0;
    data = tl_slurp(&t, name, &len2);
    CU_ASSERT(kind == 0 ? len2 < len : len2 == len);
    g_free(data);
    g_free(name);
    buf_free(&all);
    tl_teardown(&t);
  }
}

static void test_index_rebuild(void) {
  tl_env t;
  tl_setup(&t);
  log_config cfg;
  tl_config(&cfg);
  buf_t all = BUF_INIT;
  int64_t leo = 0;
  build_log(&t, &cfg, 80, test_seed(), &all, &leo);
  log_t *log = NULL;
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, leo, 0, &log), 0);
  size_t nseg = log_segment_count(log);
  int64_t bases[64];
  log_segment_bases(log, bases, 64);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  CU_ASSERT_FATAL(nseg >= 4);
  /* Keep the originals, then damage: delete segment 0's indexes, give
   * segment 1 an odd-sized index, point segment 2's last entry
   * elsewhere. */
  gsize len[3][2];
  gchar *orig[3][2];
  for (int s = 0; s < 3; s++)
    for (int k = 0; k < 2; k++) {
      char *n = seg_name(bases[s], k ? ".timeindex" : ".index");
      orig[s][k] = tl_slurp(&t, n, &len[s][k]);
      g_free(n);
    }
  char *n0 = tl_path(&t, "00000000000000000000.index");
  char *n0t = tl_path(&t, "00000000000000000000.timeindex");
  CU_ASSERT_EQUAL(unlink(n0), 0);
  CU_ASSERT_EQUAL(unlink(n0t), 0);
  g_free(n0);
  g_free(n0t);
  char *n1 = seg_name(bases[1], ".index");
  tl_spit(&t, n1, orig[1][0], len[1][0] - 3);
  g_free(n1);
  char *n2 = seg_name(bases[2], ".index");
  gchar *bad = g_memdup2(orig[2][0], len[2][0]);
  CU_ASSERT_FATAL(len[2][0] >= 8);
  bad[len[2][0] - 1] ^= 0x04; /* the last entry's position */
  tl_spit(&t, n2, bad, len[2][0]);
  g_free(bad);
  g_free(n2);
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, leo, 0, &log), 0);
  CU_ASSERT_EQUAL(log_end_offset(log), leo);
  check_prefix(log, &all, 0);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  /* Rebuilt exactly as written the first time. */
  for (int s = 0; s < 3; s++)
    for (int k = 0; k < 2; k++) {
      char *n = seg_name(bases[s], k ? ".timeindex" : ".index");
      gsize l = 0;
      gchar *now = tl_slurp(&t, n, &l);
      CU_ASSERT(now && l == len[s][k] && memcmp(now, orig[s][k], l) == 0);
      g_free(now);
      g_free(n);
      g_free(orig[s][k]);
    }
  CU_ASSERT_EQUAL(tl_verify(&t), 0);
  buf_free(&all);
  tl_teardown(&t);
}

/* A segment below the recovery point is not rescanned: a flipped bit there
 * survives open, and the read of that batch reports it. */
static void test_below_recovery_point(void) {
  tl_env t;
  tl_setup(&t);
  log_config cfg;
  tl_config(&cfg);
  buf_t all = BUF_INIT;
  int64_t leo = 0;
  build_log(&t, &cfg, 80, test_seed(), &all, &leo);
  gsize len = 0;
  gchar *data = tl_slurp(&t, "00000000000000000000.log", &len);
  GArray *spans = g_array_new(FALSE, FALSE, sizeof(bspan));
  buf_t seg0 = {(uint8_t *)data, len, len};
  tl_batches(&seg0, span_cb, spans);
  CU_ASSERT_FATAL(spans->len >= 3);
  bspan victim = g_array_index(spans, bspan, 1);
  data[victim.at + victim.len - 1] ^= 0x01; /* last byte: a record */
  tl_spit(&t, "00000000000000000000.log", data, len);
  log_t *log = NULL;
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, leo, 0, &log), 0);
  CU_ASSERT_EQUAL(log_end_offset(log), leo);
  buf_t out = BUF_INIT;
  log_read_info info;
  int64_t first0 = 0;
  /* The batch before it reads fine, alone. */
  CU_ASSERT_EQUAL(log_read(log, first0, 1, LOG_OFFSET_MAX, &out, &info),
                  KERR_NONE);
  CU_ASSERT_EQUAL(info.batch_count, 1);
  /* A read that starts at the batch before stops before the bad one. */
  buf_clear(&out);
  CU_ASSERT_EQUAL(log_read(log, 0, 1 << 20, LOG_OFFSET_MAX, &out, &info),
                  KERR_NONE);
  CU_ASSERT_EQUAL(info.batch_count, 1);
  /* Reading the bad batch fails, and returns nothing. */
  buf_clear(&out);
  CU_ASSERT_EQUAL(
      log_read(log, victim.last, 1 << 20, LOG_OFFSET_MAX, &out, &info),
      KERR_CORRUPT_MESSAGE);
  CU_ASSERT_EQUAL(out.len, 0);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  CU_ASSERT(log_verify_dir(t.env, t.log_dir, NULL, NULL) > 0);
  /* With the recovery point at 0 the same damage is cut at open. */
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 0, &log), 0);
  CU_ASSERT_EQUAL(log_end_offset(log), g_array_index(spans, bspan, 0).last + 1);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  buf_free(&out);
  g_array_free(spans, TRUE);
  g_free(data);
  buf_free(&all);
  tl_teardown(&t);
}

/* Overwrites len bytes at offset of a file in place (the log keeps its
 * descriptor open: a rename would not be seen). */
static void poke(const tl_env *t, const char *name, size_t offset,
                 const void *data, size_t len) {
  char *p = tl_path(t, name);
  FILE *f = fopen(p, "r+b");
  CU_ASSERT_FATAL(f != NULL);
  CU_ASSERT(fseek(f, (long)offset, SEEK_SET) == 0);
  CU_ASSERT(fwrite(data, 1, len, f) == len);
  fclose(f);
  g_free(p);
}

/* Reads the whole log in pieces of several sizes; counts reads that
 * returned anything but a prefix of `clean`, or stopped short without an
 * error. */
static int rot_escapes(log_t *log, const gchar *clean, gsize len, size_t victim,
                       size_t byte) {
  int escapes = 0;
  for (size_t max = 1; max <= 4096; max *= 8) {
    buf_t got = BUF_INIT;
    int rc = tl_read_all(log, 0, max, &got);
    bool prefix = got.len <= len && memcmp(got.data, clean, got.len) == 0;
    if (!prefix || (rc == KERR_NONE && got.len != len)) {
      escapes++;
      fprintf(stderr, "\n  batch %zu byte %zu max %zu: rc %d len %zu/%zu",
              victim, byte, max, rc, got.len, (size_t)len);
    }
    CU_ASSERT(rc == KERR_CORRUPT_MESSAGE || rc == KERR_NONE);
    buf_free(&got);
  }
  return escapes;
}

/* Bit rot anywhere in a batch — including the fields outside the CRC (base
 * offset, length, leader epoch, magic) — is reported by reads, never
 * returned: every byte of a batch in the middle of a segment, of the last
 * batch of a segment, and of the last batch of the log. */
static void test_bit_rot_every_byte(void) {
  tl_env t;
  tl_setup(&t);
  log_config cfg;
  tl_config(&cfg);
  log_t *log = NULL;
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 0, &log), 0);
  for (int i = 0; i < 40; i++)
    tl_append(log, 2, 100 + i, (uint64_t)i, 30 + 20 * (i % 5), i / 4);
  CU_ASSERT_EQUAL(tl_flush(&t, log), 0);
  buf_t all = BUF_INIT;
  CU_ASSERT_EQUAL(tl_read_all(log, 0, 1 << 20, &all), KERR_NONE);
  int64_t bases[16];
  size_t nseg = log_segment_bases(log, bases, 16);
  CU_ASSERT_FATAL(nseg >= 2);
  /* Victims: a middle batch and the last batch of segment 0, the last
   * batch of the log. */
  char *name0 = seg_name(bases[0], ".log");
  char *name_last = seg_name(bases[nseg - 1], ".log");
  gsize len0 = 0, len_last = 0;
  gchar *seg0 = tl_slurp(&t, name0, &len0);
  gchar *segl = tl_slurp(&t, name_last, &len_last);
  buf_t b0 = {(uint8_t *)seg0, len0, len0},
        bl = {(uint8_t *)segl, len_last, len_last};
  GArray *s0 = spans_of(&b0), *sl = spans_of(&bl);
  struct {
    const char *name;
    const gchar *file;
    bspan span;
  } victims[3] = {{name0, seg0, g_array_index(s0, bspan, s0->len / 2)},
                  {name0, seg0, g_array_index(s0, bspan, s0->len - 1)},
                  {name_last, segl, g_array_index(sl, bspan, sl->len - 1)}};
  int escapes = 0;
  for (size_t v = 0; v < 3; v++) {
    bspan s = victims[v].span;
    for (size_t byte = 0; byte < s.len; byte++) {
      uint8_t orig = (uint8_t)victims[v].file[s.at + byte];
      uint8_t rot = orig ^ (uint8_t)(1u << (byte % 8));
      poke(&t, victims[v].name, s.at + byte, &rot, 1);
      escapes += rot_escapes(log, (const gchar *)all.data, all.len, v, byte);
      poke(&t, victims[v].name, s.at + byte, &orig, 1);
    }
  }
  CU_ASSERT_EQUAL(escapes, 0);
  int64_t leo = log_end_offset(log);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  /* The same in segment 0 after a restart: below the recovery point it is
   * not rescanned, and reads catch it. */
  bspan s = victims[0].span;
  for (size_t byte = 0; byte < s.len; byte += 3) {
    uint8_t orig = (uint8_t)seg0[s.at + byte];
    uint8_t rot = orig ^ (uint8_t)(1u << (byte % 8));
    poke(&t, name0, s.at + byte, &rot, 1);
    CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, leo, 0, &log), 0);
    escapes += rot_escapes(log, (const gchar *)all.data, all.len, 0, byte);
    log_free(log);
    poke(&t, name0, s.at + byte, &orig, 1);
  }
  CU_ASSERT_EQUAL(escapes, 0);
  g_array_free(s0, TRUE);
  g_array_free(sl, TRUE);
  g_free(seg0);
  g_free(segl);
  g_free(name0);
  g_free(name_last);
  buf_free(&all);
  tl_teardown(&t);
}

/* LOG_READ_NO_CRC (fetch.verify.crc=false) leaves out the CRC and nothing
 * else: a flipped bit in a record comes back as it is on disk (the read
 * does not see it), a flip in the fields before the CRC field (base
 * offset, length, leader epoch, magic) is still caught by the other checks,
 * and the default read catches every one. */
static void test_no_crc_reads(void) {
  tl_env t;
  tl_setup(&t);
  log_config cfg;
  tl_config(&cfg);
  log_t *log = NULL;
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, 0, 0, &log), 0);
  for (int i = 0; i < 12; i++)
    tl_append(log, 3, 100 + i, (uint64_t)i, 40 + 10 * i, 0);
  CU_ASSERT_EQUAL(tl_flush(&t, log), 0);
  int64_t bases[16];
  CU_ASSERT_FATAL(log_segment_bases(log, bases, 16) >= 1);
  char *name = seg_name(bases[0], ".log");
  gsize len = 0;
  gchar *seg = tl_slurp(&t, name, &len);
  buf_t b = {(uint8_t *)seg, len, len};
  GArray *spans = spans_of(&b);
  CU_ASSERT_FATAL(spans->len >= 3);
  bspan s = g_array_index(spans, bspan, 1); /* a batch inside the segment */
  int64_t first = (int64_t)be64_load((const uint8_t *)seg + s.at);
  int wrong = 0;
  for (size_t byte = 0; byte < s.len; byte++) {
    if (byte >= BATCH_OFF_CRC && byte < BATCH_OFF_CRC + 4)
      continue; /* the CRC field itself: only the CRC check sees it */
    uint8_t orig = (uint8_t)seg[s.at + byte];
    uint8_t rot = orig ^ (uint8_t)(1u << (byte % 8));
    poke(&t, name, s.at + byte, &rot, 1);
    const uint8_t *view = NULL;
    size_t got = 0;
    log_read_info info;
    int rc = log_read_view_flags(log, first, 1, LOG_OFFSET_MAX, LOG_READ_NO_CRC,
                                 &view, &got, &info);
    bool returned_rot =
        rc == KERR_NONE && got == s.len && view[byte] == rot &&
        memcmp(view, seg + s.at, byte) == 0 &&
        memcmp(view + byte + 1, seg + s.at + byte + 1, s.len - byte - 1) == 0;
    /* Records: only the CRC covers them. Header fields under the CRC
     * (attributes .. record count): returned as they are, or caught by the
     * offset checks (the last offset delta). Before the CRC: caught. */
    bool ok = byte >= BATCH_HEADER_BYTES ? returned_rot
              : byte >= BATCH_OFF_CRC + 4
                  ? returned_rot || rc == KERR_CORRUPT_MESSAGE
                  : rc == KERR_CORRUPT_MESSAGE;
    if (!ok) {
      wrong++;
      fprintf(stderr, "\n  byte %zu: rc %d len %zu", byte, rc, got);
    }
    rc = log_read_view(log, first, 1, LOG_OFFSET_MAX, &view, &got, &info);
    if (rc != KERR_CORRUPT_MESSAGE) {
      wrong++;
      fprintf(stderr, "\n  byte %zu: checked read rc %d", byte, rc);
    }
    poke(&t, name, s.at + byte, &orig, 1);
  }
  CU_ASSERT_EQUAL(wrong, 0);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  g_array_free(spans, TRUE);
  g_free(seg);
  g_free(name);
  tl_teardown(&t);
}

static void test_leftovers(void) {
  tl_env t;
  tl_setup(&t);
  log_config cfg;
  tl_config(&cfg);
  buf_t all = BUF_INIT;
  int64_t leo = 0;
  build_log(&t, &cfg, 60, test_seed(), &all, &leo);
  log_t *log = NULL;
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, leo, 0, &log), 0);
  int64_t bases[64];
  size_t nseg = log_segment_bases(log, bases, 64);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  CU_ASSERT_FATAL(nseg >= 3);
  /* A complete swap for segment 1, as compaction leaves it: here its
   * first batch is gone. */
  char *n1 = seg_name(bases[1], ".log");
  gsize len = 0;
  gchar *data = tl_slurp(&t, n1, &len);
  int64_t first_len = batch_total_bytes((uint8_t *)data, len);
  char *swap = seg_name(bases[1], ".log.swap");
  tl_spit(&t, swap, data + first_len, len - (gsize)first_len);
  char *iswap = seg_name(bases[0], ".index.swap");
  tl_spit(&t, iswap, "junk", 4);
  tl_spit(&t, "00000000000000000000.log.cleaned", "x", 1);
  tl_spit(&t, "leader-epoch-checkpoint.tmp", "x", 1);
  tl_spit(&t, "00000000000000777777.index", "", 0);    /* orphan */
  tl_spit(&t, "00000000000000888888.log.swap", "", 0); /* no segment */
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, leo, 0, &log), 0);
  CU_ASSERT_EQUAL(log_end_offset(log), leo);
  CU_ASSERT_EQUAL(log_segment_count(log), nseg);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  CU_ASSERT_FALSE(tl_exists(&t, swap));
  CU_ASSERT_FALSE(tl_exists(&t, iswap));
  CU_ASSERT_FALSE(tl_exists(&t, "00000000000000000000.log.cleaned"));
  CU_ASSERT_FALSE(tl_exists(&t, "leader-epoch-checkpoint.tmp"));
  CU_ASSERT_FALSE(tl_exists(&t, "00000000000000777777.index"));
  CU_ASSERT_FALSE(tl_exists(&t, "00000000000000888888.log.swap"));
  gsize len2 = 0;
  gchar *now = tl_slurp(&t, n1, &len2);
  CU_ASSERT_EQUAL(len2, len - (gsize)first_len);
  g_free(now);
  CU_ASSERT_EQUAL(tl_verify(&t), 0);
  /* A name that is not a segment is refused. */
  tl_spit(&t, "123.log", "", 0);
  CU_ASSERT_EQUAL(tl_open(&t, &cfg, 0, 0, &log), -EINVAL);
  g_free(data);
  g_free(n1);
  g_free(swap);
  g_free(iswap);
  buf_free(&all);
  tl_teardown(&t);
}

static void test_epoch_checkpoint_lost(void) {
  tl_env t;
  tl_setup(&t);
  log_config cfg;
  tl_config(&cfg);
  buf_t all = BUF_INIT;
  int64_t leo = 0;
  build_log(&t, &cfg, 80, test_seed(), &all, &leo);
  gsize len;
  gchar *ck = tl_slurp(&t, "leader-epoch-checkpoint", &len);
  CU_ASSERT(ck && g_str_has_prefix(ck, "0\n4\n0 0\n"));
  for (int variant = 0; variant < 2; variant++) {
    if (variant == 0) {
      char *p = tl_path(&t, "leader-epoch-checkpoint");
      CU_ASSERT_EQUAL(unlink(p), 0);
      g_free(p);
    } else {
      tl_spit(&t, "leader-epoch-checkpoint", "0\n5\n1 2\n", 8);
    }
    log_t *log = NULL;
    CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, leo, 0, &log), 0);
    CU_ASSERT_EQUAL(log_latest_epoch(log), 3);
    CU_ASSERT_EQUAL(tl_close(&t, log), 0);
    gchar *again = tl_slurp(&t, "leader-epoch-checkpoint", &len);
    CU_ASSERT_STRING_EQUAL(again ? again : "", ck ? ck : "-");
    g_free(again);
  }
  g_free(ck);
  /* A recovery point past the end is clamped. */
  log_t *log = NULL;
  CU_ASSERT_EQUAL_FATAL(tl_open(&t, &cfg, leo + 1000, 0, &log), 0);
  CU_ASSERT_EQUAL(log_recovery_point(log), leo);
  CU_ASSERT_EQUAL(log_end_offset(log), leo);
  CU_ASSERT_EQUAL(tl_close(&t, log), 0);
  buf_free(&all);
  tl_teardown(&t);
}

static void test_verify_reports(void) {
  tl_env t;
  tl_setup(&t);
  log_config cfg;
  tl_config(&cfg);
  buf_t all = BUF_INIT;
  int64_t leo = 0;
  build_log(&t, &cfg, 40, test_seed(), &all, &leo);
  CU_ASSERT_EQUAL(tl_verify(&t), 0);
  gsize len;
  gchar *d = tl_slurp(&t, "00000000000000000000.log", &len);
  tl_spit(&t, "00000000000000000000.log", d, len - 1);
  CU_ASSERT(log_verify_dir(t.env, t.log_dir, NULL, NULL) >= 1);
  d[100] ^= 1;
  tl_spit(&t, "00000000000000000000.log", d, len);
  CU_ASSERT(log_verify_dir(t.env, t.log_dir, NULL, NULL) >= 1);
  g_free(d);
  char *missing = g_strdup_printf("%s/nope", t.dir);
  CU_ASSERT_EQUAL(log_verify_dir(t.env, missing, NULL, NULL), -ENOENT);
  g_free(missing);
  buf_free(&all);
  tl_teardown(&t);
}

int suite_log_recovery(void) {
  TEST_SUITE("log_recovery", {"torn tail", test_torn_tail},
             {"corrupt and garbage tails", test_corrupt_and_garbage_tails},
             {"index rebuild", test_index_rebuild},
             {"below the recovery point", test_below_recovery_point},
             {"bit rot in every byte", test_bit_rot_every_byte},
             {"reads without the CRC check", test_no_crc_reads},
             {"leftovers", test_leftovers},
             {"epoch checkpoint lost", test_epoch_checkpoint_lost},
             {"verify reports", test_verify_reports});
}
