/*
 * sluice-log — look at, check, generate and benchmark partition logs in
 * Kafka's on-disk format (broker/log/log.h).
 *
 *   sluice-log dump FILE|DIR [--records]   batches of .log files, entries of
 *                                          .index/.timeindex, checkpoints
 *   sluice-log verify DIR                  exit 1 if anything is wrong
 *   sluice-log write DIR --batches N [...] generate a log (tests, demos)
 *   sluice-log compact DIR [--now MS] [--delete-retention-ms MS]
 *   sluice-log bench [--dir DIR] [--mb N]  append and read throughput next
 *                                          to raw write()/pread()
 *
 * Kafka's counterpart is kafka-dump-log.sh (DumpLogSegments); the dump
 * prints the same facts per batch. Everything goes through the libuv env.
 * Exit status: 0 ok, 1 problems found (verify) or an operation failed,
 * 2 usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <uv.h>

#include "base/buf.h"
#include "base/env.h"
#include "base/env_uv.h"
#include "base/splitmix.h"
#include "broker/kerr.h"
#include "broker/log/batch.h"
#include "broker/log/log.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2
/* A batch larger than this in a dumped file is reported, not loaded. */
#define DUMP_BATCH_BYTES_MAX ((size_t)256 << 20)

static const char usage_text[] =
    "usage: sluice-log COMMAND [ARGS]\n"
    "\n"
    "  dump FILE|DIR [--records]\n"
    "      Prints every batch of a .log file (base/last offset, count, CRC\n"
    "      valid, codec, timestamps, producer id/epoch/sequence, position,\n"
    "      size), every entry of a .index or .timeindex file, and checkpoint\n"
    "      files; a directory dumps all of them in name order. --records also\n"
    "      prints each record's offset, timestamp, key and value.\n"
    "  verify DIR\n"
    "      Checks a partition directory read-only (framing, CRC, offsets,\n"
    "      indexes, leader epochs). Exit status 1 if there is any problem.\n"
    "  write DIR --batches N [--records R] [--value-bytes B] [--keys K]\n"
    "        [--tombstones PCT] [--codec none|gzip|snappy|lz4|zstd]\n"
    "        [--segment-bytes S] [--index-interval-bytes I] [--epoch E]\n"
    "        [--timestamp MS] [--seed N]\n"
    "      Appends N generated batches of R records to the log in DIR\n"
    "      (created if missing; name it TOPIC-PARTITION), flushes, closes.\n"
    "  compact DIR [--now MS] [--delete-retention-ms MS]\n"
    "      Runs one compaction pass over DIR (as cleanup.policy=compact).\n"
    "  bench [--dir DIR] [--mb N]\n"
    "      Append throughput for 1 KiB, 16 KiB and 1 MiB batches and\n"
    "      sequential read throughput (through log_read_view, and through\n"
    "      the copying log_read), each next to raw write()/pread() of the\n"
    "      same bytes in DIR (default ./sluice-log-bench, removed after if\n"
    "      made here), N MiB per case\n"
    "      (default 256).\n";

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "sluice-log: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n(sluice-log --help for usage)\n");
  va_end(ap);
  return EXIT_USAGE;
}

/* ------------------------------------------------------------- the env */

typedef struct tool {
  uv_loop_t loop;
  env_t *env;
} tool;

static void tool_init(tool *t) {
  uv_loop_init(&t->loop);
  t->env = env_uv_new(&t->loop, "sluice-log", 0);
  env_uv_set_log_level(t->env, ENV_LOG_WARN);
}

static void tool_fini(tool *t) {
  env_uv_free(t->env);
  uv_loop_close(&t->loop);
}

typedef struct waiter {
  bool done;
  int status;
} waiter;

static void on_done(void *arg, int status) {
  waiter *w = arg;
  w->done = true;
  w->status = status;
}

static void run_until(tool *t, const bool *done) {
  while (!*done && uv_run(&t->loop, UV_RUN_ONCE) != 0)
    ;
}

static int close_log(tool *t, log_t *log) {
  waiter w = {false, 0};
  log_close(log, on_done, &w);
  run_until(t, &w.done);
  return w.done ? w.status : -EIO;
}

static int flush_log(tool *t, log_t *log) {
  waiter w = {false, 0};
  log_flush(log, log_end_offset(log), on_done, &w);
  run_until(t, &w.done);
  return w.done ? w.status : -EIO;
}

/* ------------------------------------------------------------ option bits */

/* Finds "--name VALUE" or "--name=VALUE" in argv[from..]; NULL if absent. */
static const char *opt_value(int argc, char **argv, int from,
                             const char *name) {
  size_t n = strlen(name);
  for (int i = from; i < argc; i++) {
    if (strncmp(argv[i], name, n) != 0)
      continue;
    if (argv[i][n] == '=')
      return argv[i] + n + 1;
    if (argv[i][n] == '\0' && i + 1 < argc)
      return argv[i + 1];
  }
  return NULL;
}

static bool opt_flag(int argc, char **argv, int from, const char *name) {
  for (int i = from; i < argc; i++)
    if (strcmp(argv[i], name) == 0)
      return true;
  return false;
}

/* Rejects options other than the known ones (each taking a value unless
 * listed in flags). */
static int check_opts(int argc, char **argv, int from, const char *const *known,
                      const char *const *flags, int positionals_max) {
  int positionals = 0;
  for (int i = from; i < argc; i++) {
    const char *a = argv[i];
    if (strncmp(a, "--", 2) != 0) {
      if (++positionals > positionals_max)
        return usage_error("unexpected argument '%s'", a);
      continue;
    }
    bool ok = false;
    for (size_t k = 0; flags && flags[k]; k++)
      ok |= strcmp(a, flags[k]) == 0;
    for (size_t k = 0; known && known[k] && !ok; k++) {
      size_t n = strlen(known[k]);
      if (strncmp(a, known[k], n) == 0 && (a[n] == '=' || a[n] == '\0')) {
        ok = true;
        if (a[n] == '\0') {
          if (i + 1 >= argc)
            return usage_error("%s needs a value", a);
          i++;
        }
      }
    }
    if (!ok)
      return usage_error("unknown option '%s'", a);
  }
  return 0;
}

static bool parse_i64(const char *s, int64_t *out) {
  if (!s || !*s)
    return false;
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end)
    return false;
  *out = v;
  return true;
}

static int opt_i64(int argc, char **argv, const char *name, int64_t def,
                   int64_t min, int64_t max, int64_t *out) {
  const char *v = opt_value(argc, argv, 2, name);
  *out = def;
  if (!v)
    return 0;
  if (!parse_i64(v, out) || *out < min || *out > max)
    return usage_error("%s: '%s' is not a number in [%" PRId64 ", %" PRId64 "]",
                       name, v, min, max);
  return 0;
}

static const char *first_positional(int argc, char **argv,
                                    const char *const *valued) {
  for (int i = 2; i < argc; i++) {
    if (strncmp(argv[i], "--", 2) != 0)
      return argv[i];
    bool takes_value = false;
    for (size_t k = 0; valued && valued[k]; k++)
      takes_value |= strcmp(argv[i], valued[k]) == 0;
    if (takes_value)
      i++;
  }
  return NULL;
}

static const char *codec_name(int codec) {
  static const char *const names[] = {"none", "gzip", "snappy", "lz4", "zstd"};
  return codec >= 0 && codec < 5 ? names[codec] : "unknown";
}

/* ------------------------------------------------------------------- dump */

static void print_bytes(const uint8_t *p, int32_t len) {
  if (!p) {
    fputs("null", stdout);
    return;
  }
  bool text = true;
  for (int32_t i = 0; i < len; i++)
    text &= p[i] >= 0x20 && p[i] < 0x7f;
  if (text) {
    fwrite(p, 1, (size_t)len, stdout);
    return;
  }
  fputs("0x", stdout);
  for (int32_t i = 0; i < len && i < 64; i++)
    printf("%02x", p[i]);
  if (len > 64)
    printf("...(%d bytes)", len);
}

static void dump_records(const uint8_t *p, size_t len) {
  int err = 0;
  batch_iter *it = batch_iter_new(p, len, &err);
  if (!it) {
    printf("| cannot decode records: %s\n", kerr_name(err));
    return;
  }
  batch_record r;
  int n;
  while ((n = batch_iter_next(it, &r)) == 1) {
    printf("| offset: %" PRId64 " timestamp: %" PRId64 " keySize: %d "
           "valueSize: %d headers: %d key: ",
           r.offset, r.timestamp, r.key_len, r.value_len, r.header_count);
    print_bytes(r.key, r.key_len);
    fputs(" payload: ", stdout);
    print_bytes(r.value, r.value_len);
    putchar('\n');
  }
  if (n < 0)
    printf("| malformed record: %s\n", kerr_name(-n));
  batch_iter_free(it);
}

static int read_exact(env_file_t *f, void *buf, size_t len, uint64_t at) {
  size_t got = 0;
  int rc = env_file_pread(f, buf, len, at, &got);
  return rc < 0 ? rc : got == len ? 0 : -ENODATA;
}

static int dump_log_file(tool *t, const char *path, bool records) {
  env_file_t *f = NULL;
  int rc = env_file_open(t->env, path, ENV_O_READ, &f);
  if (rc < 0) {
    fprintf(stderr, "sluice-log: %s: %s\n", path, g_strerror(-rc));
    return EXIT_FAIL;
  }
  uint64_t size = 0;
  rc = env_file_size(f, &size);
  printf("Dumping %s\n", path);
  buf_t b = BUF_INIT;
  uint64_t pos = 0;
  int status = 0;
  size_t batches = 0;
  while (rc == 0 && pos < size) {
    uint8_t hdr[BATCH_HEADER_BYTES];
    int64_t total = -1;
    if (size - pos >= BATCH_HEADER_BYTES &&
        read_exact(f, hdr, sizeof hdr, pos) == 0)
      total = batch_total_bytes(hdr, sizeof hdr);
    if (total < BATCH_HEADER_BYTES || (uint64_t)total > size - pos ||
        (size_t)total > DUMP_BATCH_BYTES_MAX) {
      printf("position: %" PRIu64 " invalid batch: %" PRIu64
             " trailing bytes do not form a whole batch\n",
             pos, size - pos);
      status = EXIT_FAIL;
      break;
    }
    buf_clear(&b);
    buf_reserve(&b, (size_t)total);
    rc = read_exact(f, b.data, (size_t)total, pos);
    if (rc < 0)
      break;
    b.len = (size_t)total;
    batch_header h;
    (void)batch_header_parse(b.data, b.len, &h);
    bool crc_ok =
        h.magic == BATCH_MAGIC_V2 && batch_compute_crc(b.data, b.len) == h.crc;
    int32_t last_seq =
        h.base_sequence < 0
            ? -1
            : (int32_t)(((int64_t)h.base_sequence + h.last_offset_delta) %
                        ((int64_t)INT32_MAX + 1));
    printf(
        "baseOffset: %" PRId64 " lastOffset: %" PRId64 " count: %d "
        "baseSequence: %d lastSequence: %d producerId: %" PRId64
        " producerEpoch: %d partitionLeaderEpoch: %d isTransactional: %s "
        "isControl: %s position: %" PRIu64 " %s: %" PRId64
        " baseTimestamp: %" PRId64 " size: %" PRId64 " magic: %d "
        "compresscodec: %s crc: %" PRIu32 " isvalid: %s\n",
        h.base_offset, batch_last_offset(&h), h.record_count, h.base_sequence,
        last_seq, h.producer_id, h.producer_epoch, h.leader_epoch,
        (h.attributes & BATCH_ATTR_TRANSACTIONAL) ? "true" : "false",
        (h.attributes & BATCH_ATTR_CONTROL) ? "true" : "false", pos,
        (h.attributes & BATCH_ATTR_LOG_APPEND_TIME) ? "LogAppendTime"
                                                    : "CreateTime",
        h.max_timestamp, h.base_timestamp, total, h.magic,
        codec_name(batch_header_codec(&h)), h.crc, crc_ok ? "true" : "false");
    if (!crc_ok)
      status = EXIT_FAIL;
    if (records && crc_ok)
      dump_records(b.data, b.len);
    pos += (uint64_t)total;
    batches++;
  }
  if (rc < 0) {
    fprintf(stderr, "sluice-log: %s: read error: %s\n", path, g_strerror(-rc));
    status = EXIT_FAIL;
  }
  printf("%zu batches, %" PRIu64 " bytes\n", batches, size);
  buf_free(&b);
  env_file_close(f);
  return status;
}

static int64_t base_from_name(const char *path) {
  char *base = g_path_get_basename(path);
  int64_t v = -1;
  if (strlen(base) >= 20) {
    char digits[21];
    memcpy(digits, base, 20);
    digits[20] = '\0';
    if (!parse_i64(digits, &v))
      v = -1;
  }
  g_free(base);
  return v;
}

static int dump_index_file(tool *t, const char *path, bool time) {
  env_file_t *f = NULL;
  int rc = env_file_open(t->env, path, ENV_O_READ, &f);
  if (rc < 0) {
    fprintf(stderr, "sluice-log: %s: %s\n", path, g_strerror(-rc));
    return EXIT_FAIL;
  }
  uint64_t size = 0;
  rc = env_file_size(f, &size);
  int64_t base = base_from_name(path);
  size_t eb = time ? 12 : 8;
  printf("Dumping %s\n", path);
  int status = 0;
  for (uint64_t at = 0; rc == 0 && at + eb <= size; at += eb) {
    uint8_t e[12];
    rc = read_exact(f, e, eb, at);
    if (rc < 0)
      break;
    if (time)
      printf("timestamp: %" PRId64 " offset: %" PRId64 "\n",
             (int64_t)be64_load(e), base + (int32_t)be32_load(e + 8));
    else
      printf("offset: %" PRId64 " position: %" PRId32 "\n",
             base + (int32_t)be32_load(e), (int32_t)be32_load(e + 4));
  }
  if (size % eb) {
    printf("size %" PRIu64 " is not a multiple of %zu\n", size, eb);
    status = EXIT_FAIL;
  }
  if (rc < 0) {
    fprintf(stderr, "sluice-log: %s: %s\n", path, g_strerror(-rc));
    status = EXIT_FAIL;
  }
  printf("%" PRIu64 " entries\n", size / eb);
  env_file_close(f);
  return status;
}

static int dump_text_file(tool *t, const char *path) {
  env_file_t *f = NULL;
  int rc = env_file_open(t->env, path, ENV_O_READ, &f);
  if (rc < 0) {
    fprintf(stderr, "sluice-log: %s: %s\n", path, g_strerror(-rc));
    return EXIT_FAIL;
  }
  uint64_t size = 0;
  rc = env_file_size(f, &size);
  printf("Dumping %s\n", path);
  if (rc == 0 && size <= (1u << 20)) {
    char *text = g_malloc((size_t)size + 1);
    rc = read_exact(f, text, (size_t)size, 0);
    if (rc == 0)
      fwrite(text, 1, (size_t)size, stdout);
    g_free(text);
  }
  env_file_close(f);
  return rc < 0 ? EXIT_FAIL : 0;
}

static int dump_path(tool *t, const char *path, bool records) {
  if (g_str_has_suffix(path, ".log"))
    return dump_log_file(t, path, records);
  if (g_str_has_suffix(path, ".index"))
    return dump_index_file(t, path, false);
  if (g_str_has_suffix(path, ".timeindex"))
    return dump_index_file(t, path, true);
  if (g_str_has_suffix(path, "checkpoint"))
    return dump_text_file(t, path);
  fprintf(stderr,
          "sluice-log: %s: not a .log, .index, .timeindex or "
          "checkpoint file\n",
          path);
  return EXIT_FAIL;
}

static int cmd_dump(int argc, char **argv) {
  static const char *const flags[] = {"--records", NULL};
  int rc = check_opts(argc, argv, 2, NULL, flags, 1);
  if (rc)
    return rc;
  const char *path = first_positional(argc, argv, NULL);
  if (!path)
    return usage_error("dump needs a FILE or DIR");
  bool records = opt_flag(argc, argv, 2, "--records");
  tool t;
  tool_init(&t);
  bool is_dir = false;
  int status = 0;
  rc = env_stat(t.env, path, &is_dir);
  if (rc < 0) {
    fprintf(stderr, "sluice-log: %s: %s\n", path, g_strerror(-rc));
    status = EXIT_FAIL;
  } else if (!is_dir) {
    status = dump_path(&t, path, records);
  } else {
    char **names = NULL;
    rc = env_list_dir(t.env, path, &names);
    if (rc < 0) {
      fprintf(stderr, "sluice-log: %s: %s\n", path, g_strerror(-rc));
      status = EXIT_FAIL;
    }
    for (size_t i = 0; rc == 0 && names[i]; i++) {
      const char *n = names[i];
      if (!g_str_has_suffix(n, ".log") && !g_str_has_suffix(n, ".index") &&
          !g_str_has_suffix(n, ".timeindex") &&
          !g_str_has_suffix(n, "checkpoint"))
        continue;
      char *p = g_build_filename(path, n, NULL);
      if (dump_path(&t, p, records))
        status = EXIT_FAIL;
      g_free(p);
    }
    env_names_free(names);
  }
  tool_fini(&t);
  return status;
}

/* ----------------------------------------------------------------- verify */

static void report(void *arg, const char *file, const char *problem) {
  printf("%s/%s: %s\n", (const char *)arg, file, problem);
}

static int cmd_verify(int argc, char **argv) {
  int rc = check_opts(argc, argv, 2, NULL, NULL, 1);
  if (rc)
    return rc;
  const char *dir = first_positional(argc, argv, NULL);
  if (!dir)
    return usage_error("verify needs a DIR");
  tool t;
  tool_init(&t);
  int n = log_verify_dir(t.env, dir, report, (void *)dir);
  tool_fini(&t);
  if (n < 0) {
    fprintf(stderr, "sluice-log: %s: %s\n", dir, g_strerror(-n));
    return EXIT_FAIL;
  }
  if (n > 0) {
    printf("%s: %d problem%s\n", dir, n, n == 1 ? "" : "s");
    return EXIT_FAIL;
  }
  printf("%s: ok\n", dir);
  return 0;
}

/* ------------------------------------------------------------------ write */

static bool parse_codec(const char *s, batch_codec *out) {
  for (int c = 0; c <= BATCH_CODEC_ZSTD; c++)
    if (strcmp(s, codec_name(c)) == 0) {
      *out = (batch_codec)c;
      return true;
    }
  return false;
}

typedef struct gen_opts {
  int64_t records, value_bytes, keys, tombstones_pct, timestamp;
  batch_codec codec;
  uint64_t rng;
} gen_opts;

/* One generated batch: keys "key-<n>" (n < keys; no key when keys = 0),
 * values of printable bytes, timestamps from g->timestamp. */
static int gen_batch(gen_opts *g, buf_t *out) {
  batch_builder_opts o = {g->codec, 0, g->timestamp, -1, -1, -1, 0, -1};
  batch_builder *b = batch_builder_new(&o);
  char *val = g_malloc((size_t)g->value_bytes + 1);
  for (int64_t i = 0; i < g->records; i++) {
    char key[32];
    int kl = g->keys > 0
                 ? snprintf(key, sizeof key, "key-%" PRIu64,
                            splitmix64_next(&g->rng) % (uint64_t)g->keys)
                 : -1;
    bool tomb = (int64_t)(splitmix64_next(&g->rng) % 100) < g->tombstones_pct;
    for (int64_t j = 0; j < g->value_bytes; j++)
      val[j] = (char)('a' + splitmix64_next(&g->rng) % 26);
    batch_builder_add(b, g->timestamp++, kl < 0 ? NULL : key, kl,
                      tomb ? NULL : val, tomb ? -1 : (int32_t)g->value_bytes,
                      NULL, 0);
  }
  g_free(val);
  return batch_builder_finish(b, -1, out);
}

static int cmd_write(int argc, char **argv) {
  static const char *const known[] = {
      "--batches",       "--records",
      "--value-bytes",   "--keys",
      "--tombstones",    "--codec",
      "--segment-bytes", "--index-interval-bytes",
      "--epoch",         "--timestamp",
      "--seed",          NULL};
  int rc = check_opts(argc, argv, 2, known, NULL, 1);
  if (rc)
    return rc;
  const char *dir = first_positional(argc, argv, known);
  if (!dir)
    return usage_error("write needs a DIR");
  int64_t batches, seed, segment_bytes, interval, epoch;
  gen_opts g = {0};
  if ((rc = opt_i64(argc, argv, "--batches", -1, 0, INT32_MAX, &batches)) ||
      (rc = opt_i64(argc, argv, "--records", 1, 1, 100000, &g.records)) ||
      (rc = opt_i64(argc, argv, "--value-bytes", 16, 0, 1 << 24,
                    &g.value_bytes)) ||
      (rc = opt_i64(argc, argv, "--keys", 0, 0, INT32_MAX, &g.keys)) ||
      (rc =
           opt_i64(argc, argv, "--tombstones", 0, 0, 100, &g.tombstones_pct)) ||
      (rc = opt_i64(argc, argv, "--segment-bytes", 1 << 30, 14, INT32_MAX,
                    &segment_bytes)) ||
      (rc = opt_i64(argc, argv, "--index-interval-bytes", 4096, 0, INT32_MAX,
                    &interval)) ||
      (rc = opt_i64(argc, argv, "--epoch", 0, -1, INT32_MAX, &epoch)) ||
      (rc = opt_i64(argc, argv, "--timestamp", 1700000000000, 0, INT64_MAX / 2,
                    &g.timestamp)) ||
      (rc = opt_i64(argc, argv, "--seed", 1, 0, INT64_MAX, &seed)))
    return rc;
  if (batches < 0)
    return usage_error("write needs --batches N");
  const char *codec = opt_value(argc, argv, 2, "--codec");
  g.codec = BATCH_CODEC_NONE;
  if (codec && !parse_codec(codec, &g.codec))
    return usage_error("--codec: unknown codec '%s'", codec);
  g.rng = (uint64_t)seed;
  log_config cfg;
  log_config_default(&cfg);
  cfg.segment_bytes = segment_bytes;
  cfg.index_interval_bytes = (int32_t)interval;
  tool t;
  tool_init(&t);
  log_t *log = NULL;
  int status = 0;
  rc = log_open(t.env, dir, &cfg, NULL, &log);
  if (rc < 0) {
    fprintf(stderr, "sluice-log: %s: cannot open log: %s\n", dir,
            g_strerror(-rc));
    tool_fini(&t);
    return EXIT_FAIL;
  }
  if (epoch < log_latest_epoch(log))
    epoch = log_latest_epoch(log);
  int64_t first = log_end_offset(log);
  uint64_t bytes = 0;
  buf_t b = BUF_INIT;
  for (int64_t i = 0; i < batches; i++) {
    buf_clear(&b);
    rc = gen_batch(&g, &b);
    log_append_info info;
    if (rc == 0)
      rc = log_append(log, b.data, b.len, (int32_t)epoch, &info);
    if (rc != 0) {
      fprintf(stderr, "sluice-log: append: %s\n", kerr_name(rc));
      status = EXIT_FAIL;
      break;
    }
    bytes += b.len;
  }
  buf_free(&b);
  int64_t leo = log_end_offset(log);
  size_t segs = log_segment_count(log);
  rc = close_log(&t, log);
  if (rc < 0) {
    fprintf(stderr, "sluice-log: flush: %s\n", g_strerror(-rc));
    status = EXIT_FAIL;
  }
  if (status == 0)
    printf("wrote %" PRId64 " batches (%" PRIu64 " bytes, offsets %" PRId64
           "..%" PRId64 ") to %s: %zu segment%s\n",
           batches, bytes, first, leo - 1, dir, segs, segs == 1 ? "" : "s");
  tool_fini(&t);
  return status;
}

/* ---------------------------------------------------------------- compact */

typedef struct compact_wait {
  bool done;
  int status;
  log_compact_stats stats;
} compact_wait;

static void on_compacted(void *arg, int status, const log_compact_stats *s) {
  compact_wait *w = arg;
  w->done = true;
  w->status = status;
  w->stats = *s;
}

static int cmd_compact(int argc, char **argv) {
  static const char *const known[] = {"--now", "--delete-retention-ms", NULL};
  int rc = check_opts(argc, argv, 2, known, NULL, 1);
  if (rc)
    return rc;
  const char *dir = first_positional(argc, argv, known);
  if (!dir)
    return usage_error("compact needs a DIR");
  tool t;
  tool_init(&t);
  int64_t now, retention;
  if ((rc = opt_i64(argc, argv, "--now", env_wall_ms(t.env), 0, INT64_MAX / 2,
                    &now)) ||
      (rc = opt_i64(argc, argv, "--delete-retention-ms", 86400000, 0,
                    INT64_MAX / 2, &retention))) {
    tool_fini(&t);
    return rc;
  }
  log_config cfg;
  log_config_default(&cfg);
  cfg.cleanup_compact = true;
  cfg.delete_retention_ms = retention;
  log_t *log = NULL;
  rc = log_open(t.env, dir, &cfg, NULL, &log);
  if (rc < 0) {
    fprintf(stderr, "sluice-log: %s: cannot open log: %s\n", dir,
            g_strerror(-rc));
    tool_fini(&t);
    return EXIT_FAIL;
  }
  int status = 0;
  uint64_t before = log_size_bytes(log);
  compact_wait w = {false, 0, {0}};
  rc = flush_log(&t, log);
  if (rc == 0)
    rc = log_compact(log, now, log_end_offset(log), on_compacted, &w);
  if (rc == 0) {
    run_until(&t, &w.done);
    rc = w.status;
  }
  if (rc < 0) {
    fprintf(stderr, "sluice-log: compaction: %s\n", g_strerror(-rc));
    status = EXIT_FAIL;
  } else {
    printf("compacted %s: %zu keys, %" PRIu64 " records read, %" PRIu64
           " removed (%" PRIu64 " tombstones), %zu segments rewritten, "
           "%" PRIu64 " -> %" PRIu64 " bytes, cleaned below offset %" PRId64
           "\n",
           dir, w.stats.keys, w.stats.records_read, w.stats.records_removed,
           w.stats.tombstones_removed, w.stats.segments_cleaned, before,
           log_size_bytes(log), w.stats.offset_cleaned_end);
  }
  if (close_log(&t, log) < 0)
    status = EXIT_FAIL;
  tool_fini(&t);
  return status;
}

/* ------------------------------------------------------------------ bench */

static double secs(env_t *env, uint64_t since_ns) {
  return (double)(env_now_ns(env) - since_ns) / 1e9;
}

/* Raw baseline: write() the batch count times to a fresh file. */
static int raw_write(const char *path, const uint8_t *data, size_t len,
                     uint64_t count) {
  int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
  if (fd < 0)
    return -errno;
  for (uint64_t i = 0; i < count; i++) {
    size_t done = 0;
    while (done < len) {
      ssize_t n = write(fd, data + done, len - done);
      if (n < 0) {
        int e = errno;
        close(fd);
        return -e;
      }
      done += (size_t)n;
    }
  }
  close(fd);
  return 0;
}

static int raw_read(const char *path, size_t chunk, uint64_t *bytes) {
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    return -errno;
  uint8_t *buf = g_malloc(chunk);
  uint64_t at = 0;
  for (;;) {
    ssize_t n = pread(fd, buf, chunk, (off_t)at);
    if (n < 0) {
      int e = errno;
      g_free(buf);
      close(fd);
      return -e;
    }
    if (n == 0)
      break;
    at += (uint64_t)n;
  }
  g_free(buf);
  close(fd);
  *bytes = at;
  return 0;
}

static void rm_tree(const char *path) {
  GDir *d = g_dir_open(path, 0, NULL);
  if (d) {
    const char *n;
    while ((n = g_dir_read_name(d))) {
      char *p = g_build_filename(path, n, NULL);
      if (g_file_test(p, G_FILE_TEST_IS_DIR))
        rm_tree(p);
      else if (unlink(p) < 0)
        fprintf(stderr, "sluice-log: %s: %s\n", p, g_strerror(errno));
      g_free(p);
    }
    g_dir_close(d);
  }
  (void)rmdir(path);
}

/* Bytes per sequential read, log and raw alike. */
#define BENCH_READ_BYTES ((size_t)1 << 20)
/* Read measurements per pass (each kind), see bench_pass. */
#define BENCH_READ_ROUNDS 3

typedef struct bench_case {
  const char *name;
  size_t records;
} bench_case;

/* Reads the whole log sequentially, max_bytes at a time, through
 * log_read_view (out == NULL) or the copying log_read; returns the bytes
 * read in *bytes. After each read the loop turns once, as it would between
 * two fetches in a broker: that is where the env unmaps view windows past
 * its budget, so the figure includes that cost (and RSS stays bounded). */
static int bench_read(tool *t, log_t *log, buf_t *out, uint64_t *bytes) {
  *bytes = 0;
  int64_t off = 0;
  while (off < log_end_offset(log)) {
    log_read_info ri;
    const uint8_t *data = NULL;
    size_t len = 0;
    int r;
    if (out) {
      buf_clear(out);
      r = log_read(log, off, BENCH_READ_BYTES, LOG_OFFSET_MAX, out, &ri);
      len = out->len;
    } else {
      r = log_read_view(log, off, BENCH_READ_BYTES, LOG_OFFSET_MAX, &data, &len,
                        &ri);
    }
    if (r != 0 || ri.batch_count == 0) {
      fprintf(stderr, "sluice-log: read at %" PRId64 ": %s\n", off,
              kerr_name(r));
      return -EIO;
    }
    *bytes += len;
    off = ri.offset_next;
    uv_run(&t->loop, UV_RUN_NOWAIT);
  }
  return 0;
}

/* Seconds of one pass, per measurement. */
enum {
  T_RAW_WRITE,
  T_APPEND,
  T_RAW_READ,
  T_VIEW_READ,
  T_COPY_READ,
  T_RAW_READ_CPU, /* process CPU time (every thread) of the same reads */
  T_VIEW_READ_CPU,
  T_COUNT
};

/* CPU seconds used so far by every thread of the process: a second
 * measure of a read's cost, counting all its threads and less disturbed
 * than wall time by other programs on the machine. */
static double process_cpu_s(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
    return 0;
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One timed pass: raw write, log append, raw read, view read, copying
 * read (seconds in t_s[T_COUNT]). Returns 0 or EXIT_FAIL. */
static int bench_pass(tool *t, const char *raw_path, const char *log_dir,
                      buf_t *batch, uint64_t count, double *t_s,
                      uint64_t *read_bytes, uint64_t *raw_bytes) {
  /* Each write starts with nothing dirty from the one before it: what one
   * left for the kernel to write back would otherwise be written while the
   * next is timed. */
  sync();
  uint64_t t0 = env_now_ns(t->env);
  int rc = raw_write(raw_path, batch->data, batch->len, count);
  t_s[T_RAW_WRITE] = secs(t->env, t0);
  if (rc < 0) {
    fprintf(stderr, "sluice-log: %s: %s\n", raw_path, g_strerror(-rc));
    return EXIT_FAIL;
  }
  rm_tree(log_dir);
  log_config cfg;
  log_config_default(&cfg);
  log_t *log = NULL;
  rc = log_open(t->env, log_dir, &cfg, NULL, &log);
  if (rc < 0) {
    fprintf(stderr, "sluice-log: %s: %s\n", log_dir, g_strerror(-rc));
    return EXIT_FAIL;
  }
  sync();
  t0 = env_now_ns(t->env);
  for (uint64_t i = 0; i < count; i++) {
    log_append_info info;
    rc = log_append(log, batch->data, batch->len, 0, &info);
    if (rc != 0) {
      fprintf(stderr, "sluice-log: append: %s\n", kerr_name(rc));
      (void)close_log(t, log);
      return EXIT_FAIL;
    }
  }
  t_s[T_APPEND] = secs(t->env, t0);
  /* Sequential reads, 1 MiB at a time, against pread() of 1 MiB chunks:
   * the three kinds take turns, BENCH_READ_ROUNDS times (reads are short,
   * so one burst of noise on this shared machine would otherwise decide a
   * ratio). */
  t_s[T_RAW_READ] = t_s[T_VIEW_READ] = t_s[T_COPY_READ] = 1e30;
  t_s[T_RAW_READ_CPU] = t_s[T_VIEW_READ_CPU] = 1e30;
  buf_t out = BUF_INIT;
  for (int round = 0; rc == 0 && round < BENCH_READ_ROUNDS; round++) {
    t0 = env_now_ns(t->env);
    double cpu0 = process_cpu_s();
    rc = raw_read(raw_path, BENCH_READ_BYTES, raw_bytes);
    t_s[T_RAW_READ] = MIN(t_s[T_RAW_READ], secs(t->env, t0));
    t_s[T_RAW_READ_CPU] = MIN(t_s[T_RAW_READ_CPU], process_cpu_s() - cpu0);
    if (rc == 0) {
      t0 = env_now_ns(t->env);
      cpu0 = process_cpu_s();
      rc = bench_read(t, log, NULL, read_bytes);
      t_s[T_VIEW_READ] = MIN(t_s[T_VIEW_READ], secs(t->env, t0));
      t_s[T_VIEW_READ_CPU] = MIN(t_s[T_VIEW_READ_CPU], process_cpu_s() - cpu0);
    }
    uint64_t copied = 0;
    if (rc == 0) {
      t0 = env_now_ns(t->env);
      rc = bench_read(t, log, &out, &copied);
      t_s[T_COPY_READ] = MIN(t_s[T_COPY_READ], secs(t->env, t0));
      if (rc == 0 && copied != *read_bytes)
        rc = -EIO;
    }
  }
  buf_free(&out);
  int crc = close_log(t, log);
  return rc == 0 && crc == 0 ? 0 : EXIT_FAIL;
}

#define BENCH_PASSES 3

/* Each figure is the best of BENCH_PASSES passes (these machines are
 * shared: the best pass is the least disturbed one). */
static int bench_one(tool *t, const char *dir, const bench_case *bc,
                     uint64_t total_bytes) {
  gen_opts g = {(int64_t)bc->records, 1000, 0, 0, 1700000000000,
                BATCH_CODEC_NONE,     42};
  buf_t batch = BUF_INIT;
  if (gen_batch(&g, &batch) != 0)
    return EXIT_FAIL;
  uint64_t count = total_bytes / batch.len;
  if (count < 4)
    count = 4;
  double mb = (double)(count * batch.len) / (1 << 20);
  char *raw_path = g_strdup_printf("%s/raw-%s", dir, bc->name);
  char *log_dir = g_strdup_printf("%s/bench-%s-0", dir, bc->name);
  double best[T_COUNT];
  for (int i = 0; i < T_COUNT; i++)
    best[i] = 1e30;
  uint64_t read_bytes = 0, raw_bytes = 0;
  int status = 0;
  for (int pass = 0; pass < BENCH_PASSES && status == 0; pass++) {
    double t_s[T_COUNT];
    status = bench_pass(t, raw_path, log_dir, &batch, count, t_s, &read_bytes,
                        &raw_bytes);
    for (int i = 0; i < T_COUNT; i++)
      best[i] = MIN(best[i], t_s[i]);
  }
  if (status == 0) {
    double rd = (double)read_bytes / (1 << 20),
           rr = (double)raw_bytes / (1 << 20);
    double raw_mbs = rr / best[T_RAW_READ];
    printf("append %-6s batches of %7zu bytes: log %7.1f MB/s %8.0f "
           "batches/s | raw write() %7.1f MB/s | ratio %.2f\n",
           bc->name, batch.len, mb / best[T_APPEND],
           (double)count / best[T_APPEND], mb / best[T_RAW_WRITE],
           best[T_RAW_WRITE] / best[T_APPEND]);
    printf("read   %-6s batches, 1 MiB reads:     log %7.1f MB/s (view, CRC "
           "checked)  | raw pread() %7.1f MB/s | ratio %.2f (by CPU "
           "time: %.2f)\n",
           bc->name, rd / best[T_VIEW_READ], raw_mbs,
           (rd / best[T_VIEW_READ]) / raw_mbs,
           (rd / best[T_VIEW_READ_CPU]) / (rr / best[T_RAW_READ_CPU]));
    printf("       %-6s   copying log_read():     log %7.1f MB/s (copy, CRC "
           "checked)  | raw pread() %7.1f MB/s | ratio %.2f\n",
           bc->name, rd / best[T_COPY_READ], raw_mbs,
           (rd / best[T_COPY_READ]) / raw_mbs);
  }
  if (unlink(raw_path) < 0 && errno != ENOENT)
    fprintf(stderr, "sluice-log: %s: %s\n", raw_path, g_strerror(errno));
  rm_tree(log_dir);
  g_free(raw_path);
  g_free(log_dir);
  buf_free(&batch);
  return status;
}

static int cmd_bench(int argc, char **argv) {
  static const char *const known[] = {"--dir", "--mb", NULL};
  int rc = check_opts(argc, argv, 2, known, NULL, 0);
  if (rc)
    return rc;
  int64_t mb;
  if ((rc = opt_i64(argc, argv, "--mb", 256, 1, 1 << 20, &mb)))
    return rc;
  const char *dir = opt_value(argc, argv, 2, "--dir");
  if (!dir)
    dir = "sluice-log-bench";
  /* A directory made here is removed at the end; one given is left. */
  bool made_dir = !g_file_test(dir, G_FILE_TEST_EXISTS);
  if (g_mkdir_with_parents(dir, 0755) < 0) {
    fprintf(stderr, "sluice-log: %s: %s\n", dir, g_strerror(errno));
    return EXIT_FAIL;
  }
  char *work = g_strdup_printf("%s/run-%d", dir, (int)getpid());
  rm_tree(work);
  if (g_mkdir_with_parents(work, 0755) < 0) {
    fprintf(stderr, "sluice-log: %s: %s\n", work, g_strerror(errno));
    g_free(work);
    if (made_dir)
      g_rmdir(dir);
    return EXIT_FAIL;
  }
  printf("sluice-log bench: %" PRId64 " MiB per case in %s, best of %d "
         "passes, reads best of %d taking turns (page cache: no fsync on "
         "either side; sync before each timed write)\n",
         mb, dir, BENCH_PASSES, BENCH_PASSES * BENCH_READ_ROUNDS);
  static const bench_case cases[] = {
      {"1KiB", 1}, {"16KiB", 16}, {"1MiB", 1024}};
  tool t;
  tool_init(&t);
  int status = 0;
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
    if (bench_one(&t, work, &cases[i], (uint64_t)mb << 20))
      status = EXIT_FAIL;
  tool_fini(&t);
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) == 0)
    printf("peak RSS %.1f MiB after %" PRId64 " MiB appended per case "
           "(index + buffers + mapped file pages of read views, at most "
           "%zu MiB between loop turns)\n",
           (double)ru.ru_maxrss / 1024, mb, ENV_FILE_VIEW_KEEP_BYTES >> 20);
  rm_tree(work);
  g_free(work);
  if (made_dir)
    g_rmdir(dir);
  return status;
}

int main(int argc, char **argv) {
  if (argc < 2)
    return usage_error("missing COMMAND");
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
      strcmp(cmd, "help") == 0) {
    fputs(usage_text, stdout);
    return 0;
  }
  if (opt_flag(argc, argv, 2, "--help")) {
    fputs(usage_text, stdout);
    return 0;
  }
  if (strcmp(cmd, "dump") == 0)
    return cmd_dump(argc, argv);
  if (strcmp(cmd, "verify") == 0)
    return cmd_verify(argc, argv);
  if (strcmp(cmd, "write") == 0)
    return cmd_write(argc, argv);
  if (strcmp(cmd, "compact") == 0)
    return cmd_compact(argc, argv);
  if (strcmp(cmd, "bench") == 0)
    return cmd_bench(argc, argv);
  return usage_error("unknown command '%s'", cmd);
}
