/*
 * test_sim_disk.c — the simulated disk (sim/disk.h).
 *
 * Direct tests pin each rule of the contract; the property test runs
 * random operation sequences with crashes against a small reference model
 * (per-directory change logs replayed in order, per-byte bookkeeping of
 * what was written and what an fsync covered) and checks after every
 * crash that synced bytes survive exactly, that no byte is invented, that
 * what survives is the durable image plus unsynced ranges, and that the
 * surviving names are exactly the durable ones.
 */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/env.h"
#include "sim/disk.h"
#include "tests/unit/testutil.h"

#define RW (ENV_O_READ | ENV_O_WRITE)
#define RWC (ENV_O_READ | ENV_O_WRITE | ENV_O_CREATE)

/* ---------------------------------------------------------- helpers */

static uint64_t rng_fn(void *arg) { return test_rng_next(arg); }

/* Crash choices are rand % 3: 0 drop, 1 keep, 2 torn. */
static uint64_t always_drop(void *arg) { return 0; }
static uint64_t always_keep(void *arg) { return 1; }

/* Replays a fixed list of draws (then zeros). */
typedef struct script {
  const uint64_t *v;
  size_t n, i;
} script;

static uint64_t script_fn(void *arg) {
  script *s = arg;
  return s->i < s->n ? s->v[s->i++] : 0;
}

static sim_disk_file_t *open_ok(sim_disk_t *d, const char *path, int flags) {
  sim_disk_file_t *f = NULL;
  int rc = sim_disk_open(d, path, flags, &f);
  if (rc != 0)
    fprintf(stderr, "\n  open %s: %d\n", path, rc);
  CU_ASSERT_EQUAL_FATAL(rc, 0); /* later calls need the handle */
  return f;
}

static void pwrite_ok(sim_disk_t *d, sim_disk_file_t *f, const void *data,
                      size_t len, uint64_t offset) {
  CU_ASSERT_EQUAL(sim_disk_pwrite(d, f, data, len, offset), 0);
}

static void append_ok(sim_disk_t *d, sim_disk_file_t *f, const char *s) {
  CU_ASSERT_EQUAL(sim_disk_append(d, f, s, strlen(s)), 0);
}

static void fsync_ok(sim_disk_t *d, sim_disk_file_t *f) {
  int64_t t = sim_disk_fsync_begin(d, f);
  CU_ASSERT(t > 0);
  CU_ASSERT_EQUAL(sim_disk_fsync_end(d, t), 0);
}

static void dir_fsync_ok(sim_disk_t *d, const char *path) {
  int64_t t = sim_disk_dir_fsync_begin(d, path);
  CU_ASSERT(t > 0);
  CU_ASSERT_EQUAL(sim_disk_fsync_end(d, t), 0);
}

/* The whole volatile content of path as a NUL-terminated g_malloc'd
 * string (tests write text), or NULL if it cannot be opened. */
static char *read_all(sim_disk_t *d, const char *path) {
  sim_disk_file_t *f = NULL;
  if (sim_disk_open(d, path, ENV_O_READ, &f) != 0)
    return NULL;
  uint64_t size = 0;
  CU_ASSERT_EQUAL(sim_disk_size(d, f, &size), 0);
  char *buf = g_malloc0(size + 1);
  size_t n = 0;
  CU_ASSERT_EQUAL(sim_disk_pread(d, f, buf, size, 0, &n), 0);
  CU_ASSERT_EQUAL(n, size);
  sim_disk_close(d, f);
  return buf;
}

static char *read_durable(sim_disk_t *d, const char *path) {
  uint64_t size = 0;
  if (sim_disk_durable_size(d, path, &size) != 0)
    return NULL;
  char *buf = g_malloc0(size + 1);
  size_t n = 0;
  CU_ASSERT_EQUAL(sim_disk_durable_pread(d, path, buf, size, 0, &n), 0);
  CU_ASSERT_EQUAL(n, size);
  return buf;
}

static bool content_is(sim_disk_t *d, const char *path, const char *want) {
  char *got = read_all(d, path);
  bool ok = got && want && strcmp(got, want) == 0;
  if (!ok && !(got == NULL && want == NULL))
    fprintf(stderr, "\n  %s: got \"%s\", want \"%s\"\n", path,
            got ? got : "(none)", want ? want : "(none)");
  bool both_missing = got == NULL && want == NULL;
  g_free(got);
  return ok || both_missing;
}

static bool exists(sim_disk_t *d, const char *path) {
  bool is_dir = false;
  return sim_disk_stat(d, path, &is_dir) == 0;
}

/* Joins a directory listing with ',' (g_free). */
static char *listing(sim_disk_t *d, const char *path) {
  char **names = NULL;
  if (sim_disk_list_dir(d, path, &names) != 0)
    return g_strdup("(error)");
  char *joined = g_strjoinv(",", names);
  env_names_free(names);
  return joined;
}

/* ---------------------------------------------------- basic operations */

static void test_read_write_truncate(void) {
  sim_disk_t *d = sim_disk_new();
  sim_disk_file_t *f = open_ok(d, "/f", RWC);
  append_ok(d, f, "hello");
  append_ok(d, f, " world");
  pwrite_ok(d, f, "W", 1, 6);
  char buf[64] = {0};
  size_t n = 0;
  CU_ASSERT_EQUAL(sim_disk_pread(d, f, buf, sizeof buf, 0, &n), 0);
  CU_ASSERT_EQUAL(n, 11);
  CU_ASSERT_STRING_EQUAL(buf, "hello World");
  CU_ASSERT_EQUAL(sim_disk_pread(d, f, buf, 4, 100, &n), 0);
  CU_ASSERT_EQUAL(n, 0);

  /* A write past the end leaves a hole of zeros. */
  pwrite_ok(d, f, "Z", 1, 20);
  uint64_t size = 0;
  CU_ASSERT_EQUAL(sim_disk_size(d, f, &size), 0);
  CU_ASSERT_EQUAL(size, 21);
  CU_ASSERT_EQUAL(sim_disk_pread(d, f, buf, 10, 11, &n), 0);
  CU_ASSERT_EQUAL(n, 10);
  for (int i = 0; i < 9; i++)
    CU_ASSERT_EQUAL(buf[i], 0);
  CU_ASSERT_EQUAL(buf[9], 'Z');

  /* Shrink then grow: the cut bytes come back as zeros. */
  CU_ASSERT_EQUAL(sim_disk_truncate(d, f, 3), 0);
  CU_ASSERT_EQUAL(sim_disk_truncate(d, f, 8), 0);
  memset(buf, 'x', sizeof buf);
  CU_ASSERT_EQUAL(sim_disk_pread(d, f, buf, sizeof buf, 0, &n), 0);
  CU_ASSERT_EQUAL(n, 8);
  CU_ASSERT(memcmp(buf, "hel\0\0\0\0\0", 8) == 0);
  sim_disk_close(d, f);

  /* O_TRUNC empties; handles check their mode. */
  f = open_ok(d, "f", ENV_O_WRITE | ENV_O_TRUNC);
  CU_ASSERT_EQUAL(sim_disk_size(d, f, &size), 0);
  CU_ASSERT_EQUAL(size, 0);
  CU_ASSERT_EQUAL(sim_disk_pread(d, f, buf, 1, 0, &n), -EBADF);
  sim_disk_close(d, f);
  f = open_ok(d, "f", ENV_O_READ);
  CU_ASSERT_EQUAL(sim_disk_pwrite(d, f, "x", 1, 0), -EBADF);
  CU_ASSERT_EQUAL(sim_disk_append(d, f, "x", 1), -EBADF);
  CU_ASSERT_EQUAL(sim_disk_truncate(d, f, 0), -EBADF);
  sim_disk_close(d, f);
  sim_disk_close(d, NULL);
  sim_disk_free(d);
  sim_disk_free(NULL);
}

static void test_open_errors(void) {
  sim_disk_t *d = sim_disk_new();
  sim_disk_file_t *f = NULL;
  CU_ASSERT_EQUAL(sim_disk_open(d, "missing", RW, &f), -ENOENT);
  CU_ASSERT_PTR_NULL(f);
  CU_ASSERT_EQUAL(sim_disk_open(d, "no/such/dir/f", RWC, &f), -ENOENT);
  CU_ASSERT_EQUAL(sim_disk_mkdir(d, "dir"), 0);
  CU_ASSERT_EQUAL(sim_disk_open(d, "dir", RWC, &f), -EISDIR);
  CU_ASSERT_EQUAL(sim_disk_open(d, "/", RWC, &f), -EISDIR);
  f = open_ok(d, "dir/f", RWC);
  sim_disk_close(d, f);
  CU_ASSERT_EQUAL(sim_disk_open(d, "dir/f", RWC | ENV_O_EXCL, &f), -EEXIST);
  CU_ASSERT_EQUAL(sim_disk_open(d, "dir/f/g", RWC, &f), -ENOTDIR);
  CU_ASSERT_EQUAL(sim_disk_open(d, "dir/../f", RWC, &f), -EINVAL);
  char *long_name = g_strnfill(300, 'n');
  CU_ASSERT_EQUAL(sim_disk_open(d, long_name, RWC, &f), -ENAMETOOLONG);
  g_free(long_name);
  sim_disk_free(d);
}

static void test_paths_and_listing(void) {
  sim_disk_t *d = sim_disk_new();
  /* mkdir creates parents and accepts existing directories. */
  CU_ASSERT_EQUAL(sim_disk_mkdir(d, "/x/y/z"), 0);
  CU_ASSERT_EQUAL(sim_disk_mkdir(d, "x//y/"), 0);
  bool is_dir = false;
  CU_ASSERT_EQUAL(sim_disk_stat(d, "x/y/z", &is_dir), 0);
  CU_ASSERT(is_dir);
  CU_ASSERT_EQUAL(sim_disk_stat(d, "/", &is_dir), 0);
  CU_ASSERT(is_dir);

  /* Created in scrambled order, listed bytewise sorted. */
  const char *names[] = {"b", "a.b", "B", "a", "a0", "\xc3\xa9", "_"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char *p = g_strdup_printf("x//%s", names[i]);
    sim_disk_close(d, open_ok(d, p, RWC));
    g_free(p);
  }
  char *got = listing(d, "/x/");
  CU_ASSERT_STRING_EQUAL(got, "B,_,a,a.b,a0,b,y,\xc3\xa9");
  g_free(got);
  CU_ASSERT_EQUAL(sim_disk_stat(d, "x/a", &is_dir), 0);
  CU_ASSERT(!is_dir);
  CU_ASSERT_EQUAL(sim_disk_stat(d, "x/a/q", &is_dir), -ENOENT);
  char **out = NULL;
  CU_ASSERT_EQUAL(sim_disk_list_dir(d, "x/a", &out), -ENOTDIR);
  CU_ASSERT_EQUAL(sim_disk_list_dir(d, "nope", &out), -ENOENT);
  CU_ASSERT_EQUAL(sim_disk_mkdir(d, "x/a"), -EEXIST);
  CU_ASSERT_EQUAL(sim_disk_mkdir(d, "x/a/b"), -ENOTDIR);

  CU_ASSERT_EQUAL(sim_disk_unlink(d, "x/y"), -EISDIR);
  CU_ASSERT_EQUAL(sim_disk_rmdir(d, "x/a"), -ENOTDIR);
  CU_ASSERT_EQUAL(sim_disk_rmdir(d, "x/y"), -ENOTEMPTY);
  CU_ASSERT_EQUAL(sim_disk_rmdir(d, "/"), -EBUSY);
  CU_ASSERT_EQUAL(sim_disk_rmdir(d, "x/y/z"), 0);
  CU_ASSERT_EQUAL(sim_disk_rmdir(d, "x/y"), 0);
  CU_ASSERT_EQUAL(sim_disk_unlink(d, "x/a"), 0);
  CU_ASSERT_EQUAL(sim_disk_unlink(d, "x/a"), -ENOENT);
  got = listing(d, "x");
  CU_ASSERT_STRING_EQUAL(got, "B,_,a.b,a0,b,\xc3\xa9");
  g_free(got);
  sim_disk_free(d);
}

static void test_rename_over_existing(void) {
  sim_disk_t *d = sim_disk_new();
  sim_disk_file_t *f = open_ok(d, "old", RWC);
  append_ok(d, f, "old");
  fsync_ok(d, f);
  sim_disk_close(d, f);
  f = open_ok(d, "new.tmp", RWC);
  append_ok(d, f, "new");
  fsync_ok(d, f);
  sim_disk_close(d, f);

  /* A handle on the replaced file keeps working on the orphan. */
  sim_disk_file_t *orphan = open_ok(d, "old", RW);
  CU_ASSERT_EQUAL(sim_disk_rename(d, "new.tmp", "old"), 0);
  CU_ASSERT(content_is(d, "old", "new"));
  CU_ASSERT(!exists(d, "new.tmp"));
  char buf[8] = {0};
  size_t n = 0;
  CU_ASSERT_EQUAL(sim_disk_pread(d, orphan, buf, sizeof buf, 0, &n), 0);
  CU_ASSERT_STRING_EQUAL(buf, "old");
  /* fsync of an unlinked file is refused at end. */
  int64_t t = sim_disk_fsync_begin(d, orphan);
  CU_ASSERT(t > 0);
  CU_ASSERT_EQUAL(sim_disk_fsync_end(d, t), -EIO);
  sim_disk_close(d, orphan);

  /* Not dir-synced: a crash brings back both old names. */
  sim_disk_crash(d, 0, always_drop, NULL);
  CU_ASSERT(content_is(d, "old", "old"));
  CU_ASSERT(content_is(d, "new.tmp", "new"));

  /* Dir-synced: the replacement is durable. */
  CU_ASSERT_EQUAL(sim_disk_rename(d, "new.tmp", "old"), 0);
  dir_fsync_ok(d, "/");
  sim_disk_crash(d, 0, always_drop, NULL);
  CU_ASSERT(content_is(d, "old", "new"));
  CU_ASSERT(!exists(d, "new.tmp"));
  char *got = listing(d, "");
  CU_ASSERT_STRING_EQUAL(got, "old");
  g_free(got);

  /* Type checks and no-ops. */
  CU_ASSERT_EQUAL(sim_disk_mkdir(d, "dir/sub"), 0);
  CU_ASSERT_EQUAL(sim_disk_rename(d, "old", "dir"), -EISDIR);
  CU_ASSERT_EQUAL(sim_disk_rename(d, "dir", "old"), -ENOTDIR);
  CU_ASSERT_EQUAL(sim_disk_rename(d, "dir", "dir/sub/in"), -EINVAL);
  CU_ASSERT_EQUAL(sim_disk_rename(d, "missing", "x"), -ENOENT);
  CU_ASSERT_EQUAL(sim_disk_rename(d, "old", "old"), 0);
  CU_ASSERT_EQUAL(sim_disk_rename(d, "/", "x"), -EBUSY);
  CU_ASSERT_EQUAL(sim_disk_mkdir(d, "empty"), 0);
  CU_ASSERT_EQUAL(sim_disk_rename(d, "empty", "dir"), -ENOTEMPTY);
  CU_ASSERT_EQUAL(sim_disk_rename(d, "dir", "empty"), 0);
  CU_ASSERT(exists(d, "empty/sub"));
  CU_ASSERT(!exists(d, "dir"));
  sim_disk_free(d);
}

/* ------------------------------------------------------- durability */

static void test_fsync_covers_writes_before_begin(void) {
  sim_disk_t *d = sim_disk_new();
  sim_disk_file_t *f = open_ok(d, "log", RWC);
  append_ok(d, f, "aaaa");
  uint64_t size = 99;
  CU_ASSERT_EQUAL(sim_disk_durable_size(d, "log", &size), -ENOENT);
  CU_ASSERT_EQUAL(sim_disk_unsynced_bytes(d), 4);

  int64_t t = sim_disk_fsync_begin(d, f);
  CU_ASSERT(t > 0);
  append_ok(d, f, "bbbb");    /* after begin: not covered */
  pwrite_ok(d, f, "A", 1, 0); /* after begin, over covered bytes */
  CU_ASSERT_EQUAL(sim_disk_fsync_end(d, t), 0);
  CU_ASSERT_EQUAL(sim_disk_fsync_end(d, t), -EIO); /* already ended */

  /* The name came with the first fsync; the size is the size at begin;
   * the byte rewritten after begin went out with its page. */
  char *dur = read_durable(d, "log");
  CU_ASSERT_PTR_NOT_NULL_FATAL(dur);
  CU_ASSERT_STRING_EQUAL(dur, "Aaaa");
  g_free(dur);
  CU_ASSERT_EQUAL(sim_disk_unsynced_bytes(d), 5);
  sim_disk_close(d, f);

  sim_disk_crash(d, 0, always_drop, NULL);
  CU_ASSERT(content_is(d, "log", "Aaaa"));
  CU_ASSERT_EQUAL(sim_disk_unsynced_bytes(d), 0);

  /* A truncate is durable only after an fsync too. */
  f = open_ok(d, "log", RW);
  CU_ASSERT_EQUAL(sim_disk_truncate(d, f, 1), 0);
  sim_disk_close(d, f);
  sim_disk_crash(d, 0, always_keep, NULL);
  CU_ASSERT(content_is(d, "log", "Aaaa"));
  f = open_ok(d, "log", RW);
  CU_ASSERT_EQUAL(sim_disk_truncate(d, f, 1), 0);
  append_ok(d, f, "z");
  fsync_ok(d, f);
  sim_disk_close(d, f);
  sim_disk_crash(d, 0, always_drop, NULL);
  CU_ASSERT(content_is(d, "log", "Az"));
  sim_disk_free(d);
}

static void test_names_need_fsync(void) {
  sim_disk_t *d = sim_disk_new();
  /* Never synced: gone. */
  sim_disk_file_t *f = open_ok(d, "lost", RWC);
  append_ok(d, f, "x");
  sim_disk_close(d, f);
  sim_disk_crash(d, 0, always_keep, NULL);
  CU_ASSERT(!exists(d, "lost"));

  /* Synced file: its name came along. */
  f = open_ok(d, "kept", RWC);
  append_ok(d, f, "y");
  fsync_ok(d, f);
  sim_disk_close(d, f);
  /* Created, then the directory synced: name durable, bytes not. */
  f = open_ok(d, "empty", RWC);
  append_ok(d, f, "z");
  sim_disk_close(d, f);
  dir_fsync_ok(d, "");
  sim_disk_crash(d, 0, always_drop, NULL);
  CU_ASSERT(content_is(d, "kept", "y"));
  CU_ASSERT(content_is(d, "empty", ""));

  /* A file in a new directory needs the directory's name durable too:
   * fsyncing the file makes only its own name durable. */
  CU_ASSERT_EQUAL(sim_disk_mkdir(d, "p/q"), 0);
  f = open_ok(d, "p/q/f", RWC);
  append_ok(d, f, "deep");
  fsync_ok(d, f);
  sim_disk_close(d, f);
  sim_disk_crash(d, 0, always_drop, NULL);
  CU_ASSERT(!exists(d, "p"));

  CU_ASSERT_EQUAL(sim_disk_mkdir(d, "p/q"), 0);
  f = open_ok(d, "p/q/f", RWC);
  append_ok(d, f, "deep");
  fsync_ok(d, f);
  sim_disk_close(d, f);
  dir_fsync_ok(d, "p");
  dir_fsync_ok(d, "/");
  sim_disk_crash(d, 0, always_drop, NULL);
  CU_ASSERT(content_is(d, "p/q/f", "deep"));

  /* Unlink is durable after a dir fsync only. */
  CU_ASSERT_EQUAL(sim_disk_unlink(d, "kept"), 0);
  sim_disk_crash(d, 0, always_drop, NULL);
  CU_ASSERT(content_is(d, "kept", "y"));
  CU_ASSERT_EQUAL(sim_disk_unlink(d, "kept"), 0);
  dir_fsync_ok(d, "");
  sim_disk_crash(d, 0, always_drop, NULL);
  CU_ASSERT(!exists(d, "kept"));

  /* rmdir likewise. */
  CU_ASSERT_EQUAL(sim_disk_unlink(d, "p/q/f"), 0);
  CU_ASSERT_EQUAL(sim_disk_rmdir(d, "p/q"), 0);
  sim_disk_crash(d, 0, always_drop, NULL);
  CU_ASSERT(content_is(d, "p/q/f", "deep"));
  CU_ASSERT_EQUAL(sim_disk_unlink(d, "p/q/f"), 0);
  CU_ASSERT_EQUAL(sim_disk_rmdir(d, "p/q"), 0);
  dir_fsync_ok(d, "p");
  sim_disk_crash(d, 0, always_drop, NULL);
  CU_ASSERT(exists(d, "p"));
  CU_ASSERT(!exists(d, "p/q"));
  sim_disk_free(d);
}

static void test_dir_fsync_covers_changes_before_begin(void) {
  sim_disk_t *d = sim_disk_new();
  sim_disk_close(d, open_ok(d, "a", RWC));
  int64_t t = sim_disk_dir_fsync_begin(d, "/");
  CU_ASSERT(t > 0);
  sim_disk_close(d, open_ok(d, "b", RWC)); /* after begin */
  CU_ASSERT_EQUAL(sim_disk_fsync_end(d, t), 0);
  sim_disk_crash(d, 0, always_drop, NULL);
  CU_ASSERT(exists(d, "a"));
  CU_ASSERT(!exists(d, "b"));

  /* A removed directory's pending fsync fails; bad paths fail at begin. */
  CU_ASSERT_EQUAL(sim_disk_mkdir(d, "gone"), 0);
  t = sim_disk_dir_fsync_begin(d, "gone");
  CU_ASSERT(t > 0);
  CU_ASSERT_EQUAL(sim_disk_rmdir(d, "gone"), 0);
  CU_ASSERT_EQUAL(sim_disk_fsync_end(d, t), -EIO);
  CU_ASSERT_EQUAL(sim_disk_dir_fsync_begin(d, "gone"), -ENOENT);
  CU_ASSERT_EQUAL(sim_disk_dir_fsync_begin(d, "a"), -ENOTDIR);
  sim_disk_free(d);
}

static void test_rename_across_directories_is_atomic(void) {
  sim_disk_t *d = sim_disk_new();
  CU_ASSERT_EQUAL(sim_disk_mkdir(d, "src"), 0);
  CU_ASSERT_EQUAL(sim_disk_mkdir(d, "dst"), 0);
  dir_fsync_ok(d, "");
  sim_disk_file_t *f = open_ok(d, "src/f", RWC);
  append_ok(d, f, "data");
  fsync_ok(d, f);
  sim_disk_close(d, f);

  /* Not synced: still in src. */
  CU_ASSERT_EQUAL(sim_disk_rename(d, "src/f", "dst/g"), 0);
  sim_disk_crash(d, 0, always_drop, NULL);
  CU_ASSERT(content_is(d, "src/f", "data"));
  CU_ASSERT(!exists(d, "dst/g"));

  /* Syncing either side makes the whole rename durable: never in both
   * places, never in neither. */
  CU_ASSERT_EQUAL(sim_disk_rename(d, "src/f", "dst/g"), 0);
  dir_fsync_ok(d, "dst");
  sim_disk_crash(d, 0, always_drop, NULL);
  CU_ASSERT(!exists(d, "src/f"));
  CU_ASSERT(content_is(d, "dst/g", "data"));

  CU_ASSERT_EQUAL(sim_disk_rename(d, "dst/g", "src/h"), 0);
  dir_fsync_ok(d, "dst");
  sim_disk_crash(d, 0, always_drop, NULL);
  CU_ASSERT(!exists(d, "dst/g"));
  CU_ASSERT(content_is(d, "src/h", "data"));

  /* Directories move the same way, contents included. */
  CU_ASSERT_EQUAL(sim_disk_mkdir(d, "src/sub"), 0);
  f = open_ok(d, "src/sub/x", RWC);
  append_ok(d, f, "x");
  fsync_ok(d, f);
  sim_disk_close(d, f);
  dir_fsync_ok(d, "src");
  CU_ASSERT_EQUAL(sim_disk_rename(d, "src/sub", "dst/moved"), 0);
  CU_ASSERT(content_is(d, "dst/moved/x", "x"));
  dir_fsync_ok(d, "src");
  sim_disk_crash(d, 0, always_drop, NULL);
  CU_ASSERT(content_is(d, "dst/moved/x", "x"));
  CU_ASSERT(!exists(d, "src/sub"));
  sim_disk_free(d);
}

/* ------------------------------------------------------------ crashes */

static void test_crash_drop_keep_torn(void) {
  sim_disk_t *d = sim_disk_new();
  sim_disk_file_t *f = open_ok(d, "f", RWC);
  uint8_t base[2048], next[2048];
  memset(base, 'b', sizeof base);
  memset(next, 'n', sizeof next);
  pwrite_ok(d, f, base, sizeof base, 0);
  fsync_ok(d, f);
  sim_disk_close(d, f);

  /* One unsynced range [100, 1700): boundaries inside at 512, 1024, 1536.
   * Draws: TORN, cut index 1 -> keep [100, 1024). */
  f = open_ok(d, "f", RW);
  pwrite_ok(d, f, next, 1600, 100);
  sim_disk_close(d, f);
  CU_ASSERT_EQUAL(sim_disk_unsynced_bytes(d), 1600);
  const uint64_t torn[] = {2, 1};
  script s = {torn, 2, 0};
  sim_disk_crash(d, 0, script_fn, &s);
  CU_ASSERT_EQUAL(s.i, 2);
  uint8_t got[2048];
  size_t n = 0;
  CU_ASSERT_EQUAL(sim_disk_durable_pread(d, "f", got, sizeof got, 0, &n), 0);
  CU_ASSERT_EQUAL(n, 2048);
  for (size_t i = 0; i < n; i++)
    CU_ASSERT_EQUAL(got[i], i >= 100 && i < 1024 ? 'n' : 'b');

  /* Keep whole, past the old end: the file grows. */
  f = open_ok(d, "f", RW);
  pwrite_ok(d, f, next, 100, 2100); /* range [2048, 2200) incl. the hole */
  sim_disk_close(d, f);
  sim_disk_crash(d, 0, always_keep, NULL);
  uint64_t size = 0;
  CU_ASSERT_EQUAL(sim_disk_durable_size(d, "f", &size), 0);
  CU_ASSERT_EQUAL(size, 2200);
  CU_ASSERT_EQUAL(sim_disk_durable_pread(d, "f", got, 100, 2048, &n), 0);
  for (size_t i = 0; i < 100; i++)
    CU_ASSERT_EQUAL(got[i], i < 52 ? 0 : 'n');

  /* Torn with garbage: the prefix survives; the rest of the range is
   * whatever the draws say (here 0xAB bytes) only past the durable end
   * (2200); below it the durable bytes stay; nothing outside the range
   * changes. Range [2000, 3000): the first boundary inside is 2048. */
  uint8_t xs[1000], big[3100];
  memset(xs, 'x', sizeof xs);
  f = open_ok(d, "f", RW);
  pwrite_ok(d, f, xs, sizeof xs, 2000);
  sim_disk_close(d, f);
  uint64_t g[1 + 1 + 1 + 100];
  g[0] = 2; /* torn */
  g[1] = 0; /* cut at the first boundary: 2048 */
  g[2] = 1; /* garbage: 800 bytes, 100 draws */
  for (size_t i = 3; i < sizeof g / sizeof g[0]; i++)
    g[i] = 0xABABABABABABABABull;
  script sg = {g, sizeof g / sizeof g[0], 0};
  sim_disk_crash(d, SIM_DISK_CRASH_GARBAGE, script_fn, &sg);
  CU_ASSERT_EQUAL(sg.i, sg.n);
  CU_ASSERT_EQUAL(sim_disk_durable_size(d, "f", &size), 0);
  CU_ASSERT_EQUAL(size, 3000);
  CU_ASSERT_EQUAL(sim_disk_durable_pread(d, "f", big, sizeof big, 0, &n), 0);
  CU_ASSERT_EQUAL(n, 3000);
  for (size_t i = 0; i < n; i++)
    CU_ASSERT_EQUAL(big[i], i < 100    ? 'b'
                            : i < 1024 ? 'n'
                            : i < 2000 ? 'b'
                            : i < 2048 ? 'x'
                            : i < 2100 ? 0
                            : i < 2200 ? 'n'
                                       : 0xAB);

  /* Rewriting durable bytes with themselves survives any tear, garbage or
   * not: [0, 3000) again, torn at 512 with garbage, changes nothing. */
  f = open_ok(d, "f", RW);
  pwrite_ok(d, f, big, 3000, 0);
  sim_disk_close(d, f);
  const uint64_t again[] = {2, 0, 1};
  script sa = {again, 3, 0};
  sim_disk_crash(d, SIM_DISK_CRASH_GARBAGE, script_fn, &sa);
  CU_ASSERT_EQUAL(sa.i, 3); /* no garbage draws: nothing past the end */
  uint8_t after[3100];
  CU_ASSERT_EQUAL(sim_disk_durable_pread(d, "f", after, sizeof after, 0, &n),
                  0);
  CU_ASSERT_EQUAL(n, 3000);
  CU_ASSERT_EQUAL(memcmp(after, big, 3000), 0);

  /* A torn range with no boundary inside keeps nothing. */
  f = open_ok(d, "f", RW);
  pwrite_ok(d, f, "XY", 2, 600);
  sim_disk_close(d, f);
  const uint64_t t2[] = {2, 0};
  script s2 = {t2, 2, 0};
  sim_disk_crash(d, SIM_DISK_CRASH_GARBAGE, script_fn, &s2);
  CU_ASSERT_EQUAL(sim_disk_durable_pread(d, "f", got, 2, 600, &n), 0);
  CU_ASSERT_EQUAL(got[0], 'n');
  CU_ASSERT_EQUAL(got[1], 'n');
  sim_disk_free(d);
}

/* After a crash everything left is durable: a second crash changes
 * nothing, whatever its draws. */
static void test_crash_twice_changes_nothing(void) {
  sim_disk_t *d = sim_disk_new();
  test_rng rng;
  test_rng_init(&rng, test_seed());
  CU_ASSERT_EQUAL(sim_disk_mkdir(d, "dir"), 0);
  dir_fsync_ok(d, "");
  const char *paths[] = {"dir/a", "dir/b", "c"};
  for (size_t i = 0; i < 3; i++) {
    sim_disk_file_t *f = open_ok(d, paths[i], RWC);
    uint8_t buf[3000];
    memset(buf, 'a' + (int)i, sizeof buf);
    pwrite_ok(d, f, buf, sizeof buf, 0);
    fsync_ok(d, f);
    memset(buf, 'A' + (int)i, sizeof buf);
    pwrite_ok(d, f, buf, 1500, 700);
    pwrite_ok(d, f, buf, 900, 3100);
    sim_disk_close(d, f);
  }
  sim_disk_crash(d, SIM_DISK_CRASH_GARBAGE, rng_fn, &rng);
  CU_ASSERT_EQUAL(sim_disk_unsynced_bytes(d), 0);
  uint8_t before[3][4096], after[4096];
  size_t n_before[3], n_after = 0;
  for (size_t i = 0; i < 3; i++)
    CU_ASSERT_EQUAL(
        sim_disk_durable_pread(d, paths[i], before[i], 4096, 0, &n_before[i]),
        0);
  char *list_before = listing(d, "dir");
  sim_disk_crash(d, SIM_DISK_CRASH_GARBAGE, rng_fn, &rng);
  for (size_t i = 0; i < 3; i++) {
    sim_disk_file_t *f = open_ok(d, paths[i], ENV_O_READ);
    CU_ASSERT_EQUAL(sim_disk_pread(d, f, after, sizeof after, 0, &n_after), 0);
    sim_disk_close(d, f);
    CU_ASSERT_EQUAL(n_after, n_before[i]);
    CU_ASSERT(memcmp(after, before[i], n_after) == 0);
  }
  char *list_after = listing(d, "dir");
  CU_ASSERT_STRING_EQUAL(list_after, list_before);
  g_free(list_before);
  g_free(list_after);
  sim_disk_free(d);
}

static void test_stale_tickets(void) {
  sim_disk_t *d = sim_disk_new();
  sim_disk_file_t *f = open_ok(d, "f", RWC);
  append_ok(d, f, "x");
  int64_t t_file = sim_disk_fsync_begin(d, f);
  int64_t t_dir = sim_disk_dir_fsync_begin(d, "");
  CU_ASSERT(t_file > 0 && t_dir > 0 && t_file != t_dir);
  sim_disk_close(d, f);
  sim_disk_crash(d, 0, always_keep, NULL);
  CU_ASSERT_EQUAL(sim_disk_fsync_end(d, t_file), -EIO);
  CU_ASSERT_EQUAL(sim_disk_fsync_end(d, t_dir), -EIO);
  CU_ASSERT(!exists(d, "f"));

  /* Closed before end. */
  f = open_ok(d, "f", RWC);
  append_ok(d, f, "y");
  int64_t t = sim_disk_fsync_begin(d, f);
  sim_disk_close(d, f);
  CU_ASSERT_EQUAL(sim_disk_fsync_end(d, t), -EIO);
  uint64_t size = 0;
  CU_ASSERT_EQUAL(sim_disk_durable_size(d, "f", &size), -ENOENT);
  CU_ASSERT_EQUAL(sim_disk_fsync_end(d, 0), -EIO);
  CU_ASSERT_EQUAL(sim_disk_fsync_end(d, 12345), -EIO);
  sim_disk_free(d);
}

/* ------------------------------------------------------------- faults */

static void test_rot_flips_one_bit(void) {
  sim_disk_t *d = sim_disk_new();
  sim_disk_file_t *f = open_ok(d, "f", RWC);
  uint8_t data[5000];
  for (size_t i = 0; i < sizeof data; i++)
    data[i] = (uint8_t)(i * 7);
  pwrite_ok(d, f, data, sizeof data, 0);
  fsync_ok(d, f);
  CU_ASSERT_EQUAL(sim_disk_rot(d, "f", 4100, 3), 0);
  uint8_t vol[5000], dur[5000];
  size_t n = 0;
  CU_ASSERT_EQUAL(sim_disk_pread(d, f, vol, sizeof vol, 0, &n), 0);
  CU_ASSERT_EQUAL(sim_disk_durable_pread(d, "f", dur, sizeof dur, 0, &n), 0);
  for (size_t i = 0; i < sizeof data; i++) {
    uint8_t want = i == 4100 ? (uint8_t)(data[i] ^ 8) : data[i];
    CU_ASSERT_EQUAL(vol[i], want);
    CU_ASSERT_EQUAL(dur[i], want);
  }
  CU_ASSERT_EQUAL(sim_disk_rot(d, "f", 5000, 0), -EINVAL);
  CU_ASSERT_EQUAL(sim_disk_rot(d, "f", 0, 8), -EINVAL);
  CU_ASSERT_EQUAL(sim_disk_rot(d, "f", 0, -1), -EINVAL);
  CU_ASSERT_EQUAL(sim_disk_rot(d, "nope", 0, 0), -ENOENT);
  CU_ASSERT_EQUAL(sim_disk_rot(d, "/", 0, 0), -EINVAL);
  /* The flip is on the medium: it survives a crash. */
  sim_disk_close(d, f);
  sim_disk_crash(d, 0, always_drop, NULL);
  CU_ASSERT_EQUAL(sim_disk_durable_pread(d, "f", dur, sizeof dur, 0, &n), 0);
  CU_ASSERT_EQUAL(dur[4100], (uint8_t)(data[4100] ^ 8));
  CU_ASSERT_EQUAL(dur[4099], data[4099]);
  sim_disk_free(d);
}

static void test_fail_next_once(void) {
  sim_disk_t *d = sim_disk_new();
  sim_disk_file_t *f = open_ok(d, "f", RWC);
  sim_disk_fail_next_write(d);
  CU_ASSERT_EQUAL(sim_disk_append(d, f, "x", 1), -EIO);
  uint64_t size = 9;
  CU_ASSERT_EQUAL(sim_disk_size(d, f, &size), 0);
  CU_ASSERT_EQUAL(size, 0);
  append_ok(d, f, "ab");
  sim_disk_fail_next_write(d);
  CU_ASSERT_EQUAL(sim_disk_pwrite(d, f, "x", 1, 0), -EIO);
  pwrite_ok(d, f, "A", 1, 0);

  char buf[4] = {0};
  size_t n = 7;
  sim_disk_fail_next_read(d);
  CU_ASSERT_EQUAL(sim_disk_pread(d, f, buf, 2, 0, &n), -EIO);
  CU_ASSERT_EQUAL(n, 0);
  CU_ASSERT_EQUAL(sim_disk_pread(d, f, buf, 2, 0, &n), 0);
  CU_ASSERT(memcmp(buf, "Ab", 2) == 0);

  /* A failed fsync loses what it should have covered, for good: the next
   * fsync succeeds but does not bring those bytes back (Linux after a
   * writeback error). */
  sim_disk_fail_next_fsync(d);
  CU_ASSERT_EQUAL(sim_disk_fsync_begin(d, f), -EIO);
  append_ok(d, f, "c");
  fsync_ok(d, f);
  char *dur = read_durable(d, "f");
  CU_ASSERT_PTR_NOT_NULL_FATAL(dur);
  CU_ASSERT_EQUAL(memcmp(dur, "\0\0c", 3), 0);
  g_free(dur);
  /* Injected at end. */
  append_ok(d, f, "d");
  int64_t t = sim_disk_fsync_begin(d, f);
  CU_ASSERT(t > 0);
  sim_disk_fail_next_fsync(d);
  CU_ASSERT_EQUAL(sim_disk_fsync_end(d, t), -EIO);
  fsync_ok(d, f);
  CU_ASSERT_EQUAL(sim_disk_durable_size(d, "f", &size), 0);
  CU_ASSERT_EQUAL(size, 3);
  /* A truncate is metadata: the failed fsync loses the write before it,
   * but the truncate stays pending and the next fsync makes it durable. */
  pwrite_ok(d, f, "e", 1, 0);
  CU_ASSERT_EQUAL(sim_disk_truncate(d, f, 2), 0);
  sim_disk_fail_next_fsync(d);
  CU_ASSERT_EQUAL(sim_disk_fsync_begin(d, f), -EIO);
  fsync_ok(d, f);
  CU_ASSERT_EQUAL(sim_disk_durable_size(d, "f", &size), 0);
  CU_ASSERT_EQUAL(size, 2);
  dur = read_durable(d, "f");
  CU_ASSERT_PTR_NOT_NULL_FATAL(dur);
  CU_ASSERT_EQUAL(memcmp(dur, "\0\0", 2), 0); /* "e" never arrived */
  g_free(dur);
  /* Directory fsync: fails once, then works. */
  sim_disk_fail_next_fsync(d);
  CU_ASSERT_EQUAL(sim_disk_dir_fsync_begin(d, ""), -EIO);
  dir_fsync_ok(d, "");
  sim_disk_close(d, f);
  sim_disk_free(d);
}

static void test_capacity(void) {
  sim_disk_t *d = sim_disk_new();
  sim_disk_set_capacity(d, 10);
  sim_disk_file_t *a = open_ok(d, "a", RWC);
  sim_disk_file_t *b = open_ok(d, "b", RWC);
  append_ok(d, a, "123456");
  CU_ASSERT_EQUAL(sim_disk_append(d, b, "12345", 5), -ENOSPC);
  CU_ASSERT_EQUAL(sim_disk_pwrite(d, a, "x", 1, 10), -ENOSPC);
  CU_ASSERT_EQUAL(sim_disk_truncate(d, b, 5), -ENOSPC);
  uint64_t size = 0;
  CU_ASSERT_EQUAL(sim_disk_size(d, b, &size), 0);
  CU_ASSERT_EQUAL(size, 0);
  CU_ASSERT_EQUAL(sim_disk_size(d, a, &size), 0);
  CU_ASSERT_EQUAL(size, 6);
  CU_ASSERT_EQUAL(sim_disk_unsynced_bytes(d), 6);
  CU_ASSERT(content_is(d, "a", "123456"));
  /* Overwrites inside the file need no space; freed space is reusable. */
  pwrite_ok(d, a, "abcdef", 6, 0);
  append_ok(d, b, "1234");
  CU_ASSERT_EQUAL(sim_disk_append(d, b, "5", 1), -ENOSPC);
  CU_ASSERT_EQUAL(sim_disk_truncate(d, a, 2), 0);
  append_ok(d, b, "5678");
  sim_disk_close(d, b);
  CU_ASSERT_EQUAL(sim_disk_unlink(d, "b"), 0);
  append_ok(d, a, "12345678");
  CU_ASSERT_EQUAL(sim_disk_append(d, a, "x", 1), -ENOSPC);

  /* Deleting a durable file frees its space at once, though a crash
   * before the directory is synced brings it back. An open handle keeps
   * the space in use. */
  fsync_ok(d, a);
  sim_disk_file_t *again = open_ok(d, "a", ENV_O_READ);
  CU_ASSERT_EQUAL(sim_disk_unlink(d, "a"), 0);
  sim_disk_close(d, a);
  b = open_ok(d, "b", RWC);
  CU_ASSERT_EQUAL(sim_disk_append(d, b, "x", 1), -ENOSPC);
  sim_disk_close(d, again);
  append_ok(d, b, "0123456789");
  sim_disk_close(d, b);
  sim_disk_crash(d, 0, always_drop, NULL);
  CU_ASSERT(content_is(d, "a", "ab12345678"));
  CU_ASSERT(!exists(d, "b"));

  sim_disk_set_capacity(d, 0);
  a = open_ok(d, "a", RW);
  append_ok(d, a, "unlimited");
  sim_disk_close(d, a);
  sim_disk_free(d);
}

/* ------------------------------------------------------------ scale */

/* An append-heavy log: many small appends, an fsync every few, a crash
 * now and then. Pages are shared between images, so this stays linear. */
static void test_big_append_log(void) {
  sim_disk_t *d = sim_disk_new();
  test_rng rng;
  test_rng_init(&rng, test_seed());
  sim_disk_file_t *f = open_ok(d, "big.log", RWC);
  uint8_t rec[1000];
  const uint64_t total = (uint64_t)48 << 20;
  uint64_t written = 0, synced = 0;
  int64_t pending = 0;
  for (uint64_t i = 0; written < total; i++) {
    memset(rec, (int)(i & 0xff), sizeof rec);
    CU_ASSERT_EQUAL_FATAL(sim_disk_append(d, f, rec, sizeof rec), 0);
    written += sizeof rec;
    if (i % 64 == 0) {
      if (pending > 0)
        CU_ASSERT_EQUAL(sim_disk_fsync_end(d, pending), 0);
      synced = written;
      pending = sim_disk_fsync_begin(d, f);
    }
  }
  CU_ASSERT_EQUAL(sim_disk_fsync_end(d, pending), 0);
  CU_ASSERT_EQUAL(sim_disk_unsynced_bytes(d), written - synced);
  uint64_t size = 0;
  CU_ASSERT_EQUAL(sim_disk_durable_size(d, "big.log", &size), 0);
  CU_ASSERT_EQUAL(size, synced);
  sim_disk_close(d, f);
  sim_disk_crash(d, 0, rng_fn, &rng);
  f = open_ok(d, "big.log", RW);
  CU_ASSERT_EQUAL(sim_disk_size(d, f, &size), 0);
  CU_ASSERT(size >= synced && size <= written);
  /* Spot-check records on both sides of the synced end. */
  for (uint64_t off = 0; off + sizeof rec <= synced; off += 997 * 1000) {
    size_t n = 0;
    CU_ASSERT_EQUAL(sim_disk_pread(d, f, rec, sizeof rec, off, &n), 0);
    CU_ASSERT_EQUAL(rec[0], (uint8_t)(off / 1000));
    CU_ASSERT_EQUAL(rec[999], (uint8_t)(off / 1000));
  }
  sim_disk_close(d, f);
  sim_disk_free(d);
}

/* ====================================================== property test */

/* Reference model. Paths: root holds dirs "a", "b" and files f0..f3;
 * "a" and "b" hold files f0..f3. Files are renamed within and across
 * directories; directories are only created (their renames and removal
 * have direct tests). The durable namespace is a replay of per-directory
 * logs, written independently of the disk's own bookkeeping. */

enum {
  M_BYTES = 2560, /* five sectors: room for torn cuts */
  M_NAMES = 6,
  M_DIR_NAMES = 2, /* names 0..1 are directories (in root only) */
  M_STEPS = 400,
  M_SEEDS = 300,
};
static const char *const m_name[M_NAMES] = {"a", "b", "f0", "f1", "f2", "f3"};

typedef struct mobj mobj;

typedef struct mrange {
  uint64_t start, end;
  uint64_t op; /* when written */
} mrange;

typedef struct mlog {
  uint64_t op;
  int name;
  mobj *target;  /* NULL: removed */
  mobj *partner; /* the other directory of a cross-directory rename */
} mlog;

struct mobj {
  bool is_dir;
  mobj *parent; /* volatile link; NULL: unlinked (root: always NULL) */
  int name;
  /* directories */
  mobj *vent[M_NAMES];
  mobj *dent[M_NAMES];
  GArray *log; /* mlog */
  guint committed;
  /* files */
  sim_disk_file_t *handle;
  uint64_t handle_gen;
  size_t size;
  uint8_t vol[M_BYTES];
  int16_t synced[M_BYTES]; /* value a completed fsync guarantees, or -1 */
  uint64_t last_mod[M_BYTES];
  uint64_t ever[M_BYTES][4]; /* every value written at each offset */
  GArray *unsynced;          /* mrange: written, not covered by an fsync */
  uint64_t doom_op;          /* a failed fsync lost changes up to here */
};

typedef struct mticket {
  int64_t id;
  bool is_dir;
  mobj *obj;
  mobj *dir_at_begin;
  uint64_t begin_op;
  uint64_t gen;
  size_t snap_size;
  uint8_t *snap; /* g_malloc'd volatile content at begin */
} mticket;

/* What the runs exercised, so the test cannot quietly degenerate. */
typedef struct mstats {
  uint64_t crashes;
  uint64_t survivors;
  uint64_t synced_bytes_checked;
  uint64_t unsynced_bytes_kept; /* read back from an unsynced range */
  uint64_t unsynced_bytes_lost; /* unsynced range byte back to durable */
  uint64_t garbage_bytes;       /* matched neither durable nor volatile */
  uint64_t file_fsyncs_ok;
  uint64_t dir_fsyncs_ok;
  uint64_t fsyncs_failed;
} mstats;

typedef struct model {
  mstats *stats;
  uint64_t seed;
  int step;
  test_rng rng;
  sim_disk_t *d;
  mobj *root;
  GPtrArray *objs; /* every object, owned */
  uint64_t op;
  uint64_t gen_next;
  bool fail_armed;
  GArray *tickets; /* mticket */
  GArray *stale;   /* int64_t ids from before a crash */
  uint64_t digest;
  bool failed;
  bool verbose; /* SLUICE_SIM_DISK_VERBOSE=1: print every operation */
} model;

#define MLOG(m, ...)                                                           \
  do {                                                                         \
    if ((m)->verbose) {                                                        \
      fprintf(stderr, "  [%d op %" PRIu64 "] ", (m)->step, (m)->op);           \
      fprintf(stderr, __VA_ARGS__);                                            \
      fprintf(stderr, "\n");                                                   \
    }                                                                          \
  } while (0)

#define MCHECK(m, cond, ...)                                                   \
  do {                                                                         \
    if (!(cond) && !(m)->failed) {                                             \
      (m)->failed = true;                                                      \
      fprintf(stderr,                                                          \
              "\n  sim_disk model: seed %" PRIu64 " step %d: ", (m)->seed,     \
              (m)->step);                                                      \
      fprintf(stderr, __VA_ARGS__);                                            \
      fprintf(stderr, "\n");                                                   \
    }                                                                          \
  } while (0)

static void m_fold(model *m, uint64_t v) {
  m->digest = (m->digest ^ v) * 0x100000001b3ull;
}

static uint64_t m_below(model *m, uint64_t n) {
  return test_rng_below(&m->rng, n);
}

static mobj *m_new(model *m, bool is_dir) {
  mobj *o = g_new0(mobj, 1);
  o->is_dir = is_dir;
  if (is_dir) {
    o->log = g_array_new(FALSE, FALSE, sizeof(mlog));
  } else {
    o->unsynced = g_array_new(FALSE, FALSE, sizeof(mrange));
    memset(o->synced, 0xff, sizeof o->synced);
  }
  g_ptr_array_add(m->objs, o);
  return o;
}

static void m_free_obj(gpointer p) {
  mobj *o = p;
  if (o->log)
    g_array_free(o->log, TRUE);
  if (o->unsynced)
    g_array_free(o->unsynced, TRUE);
  g_free(o);
}

static char *m_path(const mobj *o) {
  if (o->parent && o->parent->parent)
    return g_strdup_printf("%s/%s", m_name[o->parent->name], m_name[o->name]);
  return g_strdup(o->parent ? m_name[o->name] : "");
}

static char *m_path_in(const mobj *dir, int name) {
  if (dir->parent)
    return g_strdup_printf("/%s//%s", m_name[dir->name], m_name[name]);
  return g_strdup(m_name[name]);
}

static void m_log(model *m, mobj *dir, int name, mobj *target, mobj *partner) {
  mlog e = {m->op, name, target, partner};
  g_array_append_val(dir->log, e);
}

/* Replays dir's log up to upto; a cross-directory rename pulls the other
 * directory's log up to upto along (the contract in disk.h). */
static void m_commit(mobj *dir, uint64_t upto) {
  GPtrArray *work = g_ptr_array_new();
  g_ptr_array_add(work, dir);
  while (work->len > 0) {
    mobj *dd = g_ptr_array_steal_index(work, work->len - 1);
    while (dd->committed < dd->log->len) {
      mlog e = g_array_index(dd->log, mlog, dd->committed);
      if (e.op > upto)
        break;
      dd->dent[e.name] = e.target;
      dd->committed++;
      if (e.partner)
        g_ptr_array_add(work, e.partner);
    }
  }
  g_ptr_array_free(work, TRUE);
}

static uint8_t m_value(uint64_t op, uint64_t pos) {
  uint64_t x = op * 0x9E3779B97F4A7C15ull + pos * 0xBF58476D1CE4E5B9ull;
  return (uint8_t)(x >> 56);
}

static void m_ever_add(mobj *f, size_t off, uint8_t v) {
  f->ever[off][v >> 6] |= 1ull << (v & 63);
}

static bool m_ever_has(const mobj *f, size_t off, uint8_t v) {
  return v == 0 || (f->ever[off][v >> 6] >> (v & 63)) & 1;
}

/* The model side of a write of [start, end) (values already in vol). */
static void m_touch(model *m, mobj *f, size_t start, size_t end) {
  for (size_t i = start; i < end; i++) {
    f->last_mod[i] = m->op;
    f->synced[i] = -1;
    m_ever_add(f, i, f->vol[i]);
  }
  mrange r = {start, end, m->op};
  g_array_append_val(f->unsynced, r);
}

static void m_truncate_model(model *m, mobj *f, size_t size) {
  if (size > f->size) {
    memset(f->vol + f->size, 0, size - f->size);
    size_t old = f->size;
    f->size = size;
    m_touch(m, f, old, size);
    return;
  }
  for (size_t i = size; i < f->size; i++) {
    f->synced[i] = -1;
    f->vol[i] = 0;
  }
  f->size = size;
  for (guint i = 0; i < f->unsynced->len; i++) {
    mrange *r = &g_array_index(f->unsynced, mrange, i);
    if (r->end > size)
      r->end = size;
    if (r->start > r->end)
      r->start = r->end;
  }
}

/* Files with an open handle (possibly unlinked). */
static mobj *m_pick_open(model *m) {
  GPtrArray *c = g_ptr_array_new();
  for (guint i = 0; i < m->objs->len; i++) {
    mobj *o = g_ptr_array_index(m->objs, i);
    if (!o->is_dir && o->handle)
      g_ptr_array_add(c, o);
  }
  mobj *pick = c->len ? g_ptr_array_index(c, m_below(m, c->len)) : NULL;
  g_ptr_array_free(c, TRUE);
  return pick;
}

static mobj *m_pick_dir(model *m) {
  mobj *c[3] = {m->root, NULL, NULL};
  int n = 1;
  for (int i = 0; i < M_DIR_NAMES; i++)
    if (m->root->vent[i])
      c[n++] = m->root->vent[i];
  return c[m_below(m, (uint64_t)n)];
}

static int m_pick_file_name(model *m) {
  return M_DIR_NAMES + (int)m_below(m, M_NAMES - M_DIR_NAMES);
}

/* ---- operations: each calls the disk and the model, compares results */

static void m_open(model *m) {
  mobj *dir = m_pick_dir(m);
  int name = m_pick_file_name(m);
  mobj *cur = dir->vent[name];
  char *path = m_path_in(dir, name);
  sim_disk_file_t *h = NULL;
  if (cur && m_below(m, 4) == 0) {
    int rc = sim_disk_open(m->d, path, RWC | ENV_O_EXCL, &h);
    MCHECK(m, rc == -EEXIST, "open excl %s: %d", path, rc);
    goto out_free_path;
  }
  if (cur && cur->handle)
    goto out_free_path;
  int flags = RWC | (m_below(m, 8) == 0 ? ENV_O_TRUNC : 0);
  int rc = sim_disk_open(m->d, path, flags, &h);
  MLOG(m, "open %s%s -> %p", path, flags & ENV_O_TRUNC ? " trunc" : "",
       (void *)h);
  MCHECK(m, rc == 0, "open %s: %d", path, rc);
  if (rc != 0)
    goto out_free_path;
  if (!cur) {
    m->op++;
    cur = m_new(m, false);
    cur->parent = dir;
    cur->name = name;
    dir->vent[name] = cur;
    m_log(m, dir, name, cur, NULL);
  }
  cur->handle = h;
  cur->handle_gen = ++m->gen_next;
  if ((flags & ENV_O_TRUNC) && cur->size > 0) {
    m->op++;
    m_truncate_model(m, cur, 0);
  }
out_free_path:
  g_free(path);
}

static void m_write(model *m, bool append) {
  mobj *f = m_pick_open(m);
  if (!f)
    return;
  size_t off = append ? f->size : (size_t)m_below(m, 2200);
  if (off >= M_BYTES)
    return;
  size_t room = M_BYTES - off;
  size_t len = 1 + (size_t)m_below(m, room < 600 ? room : 600);
  uint8_t buf[600];
  uint64_t op = m->op + 1;
  for (size_t i = 0; i < len; i++)
    buf[i] = m_value(op, off + i);
  int rc = append ? sim_disk_append(m->d, f->handle, buf, len)
                  : sim_disk_pwrite(m->d, f->handle, buf, len, off);
  MLOG(m, "%s %p [%zu, %zu)", append ? "append" : "pwrite", (void *)f->handle,
       off, off + len);
  MCHECK(m, rc == 0, "write: %d", rc);
  if (rc != 0)
    return;
  m->op = op;
  size_t start = off < f->size ? off : f->size;
  memset(f->vol + start, 0, off - start);
  memcpy(f->vol + off, buf, len);
  if (off + len > f->size)
    f->size = off + len;
  m_touch(m, f, start, off + len);
}

static void m_truncate(model *m) {
  mobj *f = m_pick_open(m);
  if (!f)
    return;
  size_t size = (size_t)m_below(m, M_BYTES);
  int rc = sim_disk_truncate(m->d, f->handle, size);
  MLOG(m, "truncate %p %zu", (void *)f->handle, size);
  MCHECK(m, rc == 0, "truncate: %d", rc);
  if (rc != 0 || size == f->size)
    return;
  m->op++;
  m_truncate_model(m, f, size);
}

static void m_close(model *m) {
  mobj *f = m_pick_open(m);
  if (!f)
    return;
  MLOG(m, "close %p", (void *)f->handle);
  sim_disk_close(m->d, f->handle);
  f->handle = NULL;
}

static void m_fsync_begin(model *m) {
  mobj *f = m_pick_open(m);
  if (!f)
    return;
  int64_t id = sim_disk_fsync_begin(m->d, f->handle);
  MLOG(m, "fsync_begin %p -> %" PRId64, (void *)f->handle, id);
  m_fold(m, (uint64_t)id);
  if (m->fail_armed) {
    m->fail_armed = false;
    MCHECK(m, id == -EIO, "fsync begin with fault: %" PRId64, id);
    f->doom_op = m->op;
    return;
  }
  MCHECK(m, id > 0, "fsync begin: %" PRId64, id);
  mticket t = {.id = id,
               .obj = f,
               .dir_at_begin = f->parent,
               .begin_op = m->op,
               .gen = f->handle_gen,
               .snap_size = f->size,
               .snap = g_memdup2(f->vol, M_BYTES)};
  g_array_append_val(m->tickets, t);
}

static void m_dir_fsync_begin(model *m) {
  mobj *dir = m_pick_dir(m);
  char *path = m_path(dir);
  int64_t id = sim_disk_dir_fsync_begin(m->d, path);
  MLOG(m, "dir_fsync_begin '%s' -> %" PRId64, path, id);
  g_free(path);
  m_fold(m, (uint64_t)id);
  if (m->fail_armed) {
    m->fail_armed = false;
    MCHECK(m, id == -EIO, "dir fsync begin with fault: %" PRId64, id);
    return;
  }
  MCHECK(m, id > 0, "dir fsync begin: %" PRId64, id);
  mticket t = {.id = id, .is_dir = true, .obj = dir, .begin_op = m->op};
  g_array_append_val(m->tickets, t);
}

/* A completed file fsync: bytes unchanged since begin (and not lost to a
 * failed fsync) are now guaranteed; a name not yet durable becomes so. */
static void m_file_synced(GPtrArray *objs, mobj *f, const mticket *t) {
  for (size_t i = 0; i < t->snap_size && i < f->size; i++)
    if (f->last_mod[i] <= t->begin_op && f->last_mod[i] > f->doom_op)
      f->synced[i] = t->snap[i];
  bool durable = false; /* a durable name anywhere, reachable or not */
  for (guint k = 0; k < objs->len; k++) {
    mobj *o = g_ptr_array_index(objs, k);
    for (int i = 0; o->is_dir && i < M_NAMES; i++)
      durable |= o->dent[i] == f;
  }
  if (!durable)
    m_commit(t->dir_at_begin, t->begin_op);
  /* Ranges written before begin are no longer "unsynced" (or were lost). */
  guint out = 0;
  for (guint i = 0; i < f->unsynced->len; i++) {
    mrange r = g_array_index(f->unsynced, mrange, i);
    if (r.op > t->begin_op)
      g_array_index(f->unsynced, mrange, out++) = r;
  }
  g_array_set_size(f->unsynced, out);
}

static void m_fsync_end(model *m) {
  if (m->tickets->len == 0)
    return;
  guint k = (guint)m_below(m, m->tickets->len);
  mticket t = g_array_index(m->tickets, mticket, k);
  g_array_remove_index(m->tickets, k);
  int rc = sim_disk_fsync_end(m->d, t.id);
  MLOG(m, "fsync_end %" PRId64 " -> %d", t.id, rc);
  m_fold(m, (uint64_t)rc);
  int want = 0;
  mobj *f = t.obj;
  if (!t.is_dir && (!f->handle || f->handle_gen != t.gen || !f->parent)) {
    want = -EIO;
  } else if (m->fail_armed) {
    m->fail_armed = false;
    want = -EIO;
    if (!t.is_dir && t.begin_op > f->doom_op)
      f->doom_op = t.begin_op;
  } else if (t.is_dir) {
    m_commit(t.obj, t.begin_op);
    m->stats->dir_fsyncs_ok++;
  } else {
    m_file_synced(m->objs, f, &t);
    m->stats->file_fsyncs_ok++;
  }
  if (want != 0)
    m->stats->fsyncs_failed++;
  MCHECK(m, rc == want, "fsync end (%s): %d, want %d",
         t.is_dir ? "dir" : "file", rc, want);
  g_free(t.snap);
}

static void m_rename(model *m) {
  mobj *dir = m_pick_dir(m);
  int from = m_pick_file_name(m);
  mobj *f = dir->vent[from];
  if (!f)
    return;
  /* Sometimes onto a directory name in the root: refused. */
  if (!dir->parent && dir->vent[0] && m_below(m, 8) == 0) {
    char *a = m_path_in(dir, from);
    int rc = sim_disk_rename(m->d, a, "a");
    MCHECK(m, rc == -EISDIR, "rename %s onto dir: %d", a, rc);
    g_free(a);
    return;
  }
  int to = m_pick_file_name(m);
  mobj *dst = m_below(m, 2) == 0 ? m_pick_dir(m) : dir;
  char *a = m_path_in(dir, from);
  char *b = m_path_in(dst, to);
  int rc = sim_disk_rename(m->d, a, b);
  MLOG(m, "rename %s %s -> %d", a, b, rc);
  MCHECK(m, rc == 0, "rename %s %s: %d", a, b, rc);
  g_free(a);
  g_free(b);
  if (rc != 0 || (dst == dir && from == to))
    return;
  m->op++;
  mobj *victim = dst->vent[to];
  if (victim)
    victim->parent = NULL;
  dir->vent[from] = NULL;
  dst->vent[to] = f;
  f->parent = dst;
  f->name = to;
  mobj *partner_of_src = dst == dir ? NULL : dst;
  mobj *partner_of_dst = dst == dir ? NULL : dir;
  m_log(m, dir, from, NULL, partner_of_src);
  m_log(m, dst, to, f, partner_of_dst);
}

static void m_unlink(model *m) {
  mobj *dir = m_pick_dir(m);
  int name = m_pick_file_name(m);
  mobj *f = dir->vent[name];
  char *path = m_path_in(dir, name);
  int rc = sim_disk_unlink(m->d, path);
  MLOG(m, "unlink %s -> %d", path, rc);
  g_free(path);
  MCHECK(m, rc == (f ? 0 : -ENOENT), "unlink: %d", rc);
  if (!f || rc != 0)
    return;
  m->op++;
  f->parent = NULL;
  dir->vent[name] = NULL;
  m_log(m, dir, name, NULL, NULL);
}

static void m_mkdir(model *m) {
  int name = (int)m_below(m, M_DIR_NAMES);
  int rc = sim_disk_mkdir(m->d, m_name[name]);
  MLOG(m, "mkdir %s -> %d", m_name[name], rc);
  MCHECK(m, rc == 0, "mkdir %s: %d", m_name[name], rc);
  if (rc != 0 || m->root->vent[name])
    return;
  m->op++;
  mobj *dir = m_new(m, true);
  dir->parent = m->root;
  dir->name = name;
  m->root->vent[name] = dir;
  m_log(m, m->root, name, dir, NULL);
}

/* Reads a file's whole content through a fresh read-only open of path,
 * or through its own handle if it has no name. Returns the size. */
static size_t m_read(model *m, mobj *f, const char *path, uint8_t *out) {
  sim_disk_file_t *h = f ? f->handle : NULL;
  bool opened = false;
  if (path) {
    int rc = sim_disk_open(m->d, path, ENV_O_READ, &h);
    MCHECK(m, rc == 0, "open %s to read: %d", path, rc);
    if (rc != 0)
      return 0;
    opened = true;
  }
  uint64_t size = 0;
  MCHECK(m, sim_disk_size(m->d, h, &size) == 0, "size");
  MCHECK(m, size <= M_BYTES, "size %" PRIu64 " too big", size);
  if (size > M_BYTES)
    size = M_BYTES;
  size_t n = 0;
  int rc = sim_disk_pread(m->d, h, out, (size_t)size, 0, &n);
  MCHECK(m, rc == 0 && n == size, "pread: %d, %zu of %" PRIu64, rc, n, size);
  if (opened)
    sim_disk_close(m->d, h);
  for (size_t i = 0; i < n; i++)
    m_fold(m, out[i]);
  return n;
}

static void m_check_listing(model *m, mobj *dir, mobj *const *ent,
                            const char *path) {
  GString *want = g_string_new("");
  for (int i = 0; i < M_NAMES; i++)
    if (ent[i])
      g_string_append_printf(want, "%s%s", want->len ? "," : "", m_name[i]);
  char *got = listing(m->d, path);
  MCHECK(m, strcmp(got, want->str) == 0, "list %s: \"%s\", want \"%s\"", path,
         got, want->str);
  g_free(got);
  g_string_free(want, TRUE);
}

/* The volatile image equals the model, byte for byte. */
static void m_check_volatile(model *m) {
  uint8_t buf[M_BYTES];
  m_check_listing(m, m->root, m->root->vent, "");
  for (int i = 0; i < M_DIR_NAMES; i++)
    if (m->root->vent[i])
      m_check_listing(m, m->root->vent[i], m->root->vent[i]->vent, m_name[i]);
  for (guint i = 0; i < m->objs->len; i++) {
    mobj *f = g_ptr_array_index(m->objs, i);
    if (f->is_dir || (!f->parent && !f->handle))
      continue;
    char *path = f->parent ? m_path(f) : NULL;
    size_t n = m_read(m, f, path, buf);
    MCHECK(m, n == f->size && memcmp(buf, f->vol, n) == 0,
           "volatile content of %s differs (size %zu, want %zu)",
           path ? path : "(unlinked)", n, f->size);
    g_free(path);
  }
}

typedef struct survivor {
  mobj *file;
  mobj *dir;
  int name;
  char *path;
  size_t dur_size;
  uint8_t dur[M_BYTES];
  uint8_t vol[M_BYTES];
  size_t vol_size;
} survivor;

static bool m_in_unsynced(const mobj *f, size_t off) {
  for (guint i = 0; i < f->unsynced->len; i++) {
    mrange r = g_array_index(f->unsynced, mrange, i);
    if (off >= r.start && off < r.end)
      return true;
  }
  return false;
}

/* After a crash: the properties this suite exists for. */
static void m_check_survivor(model *m, survivor *s, const uint8_t *got,
                             size_t n, bool garbage) {
  mobj *f = s->file;
  size_t max_end = s->dur_size;
  for (guint i = 0; i < f->unsynced->len; i++) {
    mrange r = g_array_index(f->unsynced, mrange, i);
    if (r.end > max_end)
      max_end = r.end;
  }
  MCHECK(m, n >= s->dur_size && n <= max_end,
         "%s: size %zu outside [durable %zu, %zu]", s->path, n, s->dur_size,
         max_end);
  for (size_t i = 0; i < M_BYTES && !m->failed; i++) {
    /* (1) synced bytes survive exactly. */
    if (f->synced[i] >= 0)
      MCHECK(m, i < n && got[i] == (uint8_t)f->synced[i],
             "%s[%zu]: synced byte %d lost (got %d, size %zu)", s->path, i,
             f->synced[i], i < n ? got[i] : -1, n);
    if (i >= n)
      continue;
    /* (2) no invented bytes without GARBAGE. */
    if (!garbage)
      MCHECK(m, m_ever_has(f, i, got[i]), "%s[%zu]: %d was never written there",
             s->path, i, got[i]);
    /* (3) durable image, or an unsynced range's bytes, or zeros past the
     * durable end. */
    bool in_range = m_in_unsynced(f, i);
    if (f->synced[i] >= 0)
      m->stats->synced_bytes_checked++;
    if (in_range && i < s->vol_size &&
        s->vol[i] != (i < s->dur_size ? s->dur[i] : 0)) {
      if (got[i] == s->vol[i])
        m->stats->unsynced_bytes_kept++;
      else if (got[i] == (i < s->dur_size ? s->dur[i] : 0))
        m->stats->unsynced_bytes_lost++;
      else
        m->stats->garbage_bytes++;
    }
    bool ok = (i < s->dur_size && got[i] == s->dur[i]) ||
              (i >= s->dur_size && got[i] == 0) ||
              (in_range && i < s->vol_size && got[i] == s->vol[i]) ||
              (in_range && garbage && i >= s->dur_size);
    MCHECK(m, ok, "%s[%zu]: %d is neither durable (%d) nor unsynced", s->path,
           i, got[i], i < s->dur_size ? s->dur[i] : -1);
  }
}

static void m_crash(model *m) {
  /* The names that must exist afterwards: exactly the durable tree. */
  GPtrArray *surv = g_ptr_array_new_with_free_func(g_free);
  mobj *durable_dirs[M_DIR_NAMES] = {NULL, NULL};
  for (int i = 0; i < M_NAMES; i++) {
    mobj *o = m->root->dent[i];
    if (!o)
      continue;
    if (o->is_dir) {
      durable_dirs[i] = o;
      continue;
    }
    survivor *s = g_new0(survivor, 1);
    *s = (survivor){.file = o, .dir = m->root, .name = i};
    g_ptr_array_add(surv, s);
  }
  for (int k = 0; k < M_DIR_NAMES; k++) {
    mobj *dir = durable_dirs[k];
    if (!dir)
      continue;
    for (int i = M_DIR_NAMES; i < M_NAMES; i++)
      if (dir->dent[i]) {
        survivor *s = g_new0(survivor, 1);
        *s = (survivor){.file = dir->dent[i], .dir = dir, .name = i};
        g_ptr_array_add(surv, s);
      }
  }
  for (guint i = 0; i < surv->len; i++) {
    survivor *s = g_ptr_array_index(surv, i);
    s->path = s->dir == m->root ? g_strdup(m_name[s->name])
                                : g_strdup_printf("%s/%s", m_name[s->dir->name],
                                                  m_name[s->name]);
    uint64_t size = 0;
    int rc = sim_disk_durable_size(m->d, s->path, &size);
    MCHECK(m, rc == 0, "durable %s missing before crash: %d", s->path, rc);
    MCHECK(m, size <= M_BYTES, "durable size %" PRIu64, size);
    s->dur_size = rc == 0 && size <= M_BYTES ? (size_t)size : 0;
    size_t n = 0;
    if (rc == 0)
      (void)sim_disk_durable_pread(m->d, s->path, s->dur, s->dur_size, 0, &n);
    memcpy(s->vol, s->file->vol, M_BYTES);
    s->vol_size = s->file->size;
  }

  bool garbage = m_below(m, 3) == 0;
  MLOG(m, "crash%s", garbage ? " garbage" : "");
  sim_disk_crash(m->d, garbage ? SIM_DISK_CRASH_GARBAGE : 0, rng_fn, &m->rng);
  m->stats->crashes++;
  MCHECK(m, sim_disk_unsynced_bytes(m->d) == 0, "unsynced bytes after crash");

  /* (4) the namespace is exactly the durable one. */
  m_check_listing(m, m->root, m->root->dent, "");
  for (int k = 0; k < M_DIR_NAMES; k++) {
    if (durable_dirs[k]) {
      m_check_listing(m, durable_dirs[k], durable_dirs[k]->dent, m_name[k]);
    } else {
      bool is_dir;
      MCHECK(m, sim_disk_stat(m->d, m_name[k], &is_dir) == -ENOENT,
             "%s survived without a durable name", m_name[k]);
    }
  }

  /* Every object forgets its handle and name; survivors get them back. */
  for (guint i = 0; i < m->objs->len; i++) {
    mobj *o = g_ptr_array_index(m->objs, i);
    o->handle = NULL;
    o->parent = NULL;
  }
  for (guint i = 0; i < m->tickets->len; i++) {
    mticket *t = &g_array_index(m->tickets, mticket, i);
    g_array_append_val(m->stale, t->id);
    g_free(t->snap);
  }
  g_array_set_size(m->tickets, 0);
  m->root->committed = 0;
  g_array_set_size(m->root->log, 0);
  memcpy(m->root->vent, m->root->dent, sizeof m->root->vent);
  for (int k = 0; k < M_DIR_NAMES; k++) {
    mobj *dir = durable_dirs[k];
    if (!dir)
      continue;
    dir->parent = m->root;
    dir->name = k;
    dir->committed = 0;
    g_array_set_size(dir->log, 0);
    memcpy(dir->vent, dir->dent, sizeof dir->vent);
  }

  uint8_t got[M_BYTES];
  for (guint i = 0; i < surv->len && !m->failed; i++) {
    survivor *s = g_ptr_array_index(surv, i);
    mobj *f = s->file;
    size_t n = m_read(m, NULL, s->path, got);
    m_check_survivor(m, s, got, n, garbage);
    m->stats->survivors++;
    /* What survived is now all durable. */
    f->parent = s->dir;
    f->name = s->name;
    f->size = n;
    memset(f->vol, 0, M_BYTES);
    memcpy(f->vol, got, n);
    memset(f->synced, 0xff, sizeof f->synced);
    for (size_t k = 0; k < n; k++) {
      f->synced[k] = got[k];
      f->last_mod[k] = 0;
      m_ever_add(f, k, got[k]);
    }
    g_array_set_size(f->unsynced, 0);
    f->doom_op = 0;
  }
  for (guint i = 0; i < surv->len; i++)
    g_free(((survivor *)g_ptr_array_index(surv, i))->path);
  g_ptr_array_free(surv, TRUE);
}

static void m_end_stale(model *m) {
  if (m->stale->len == 0)
    return;
  int64_t id = g_array_index(m->stale, int64_t, m_below(m, m->stale->len));
  int rc = sim_disk_fsync_end(m->d, id);
  MCHECK(m, rc == -EIO, "stale ticket %" PRId64 " ended with %d", id, rc);
}

/* One random run; returns a digest of everything observed. */
static uint64_t m_run(uint64_t seed, int steps, mstats *stats) {
  model m = {.stats = stats, .seed = seed, .digest = 0xcbf29ce484222325ull};
  const char *verbose = getenv("SLUICE_SIM_DISK_VERBOSE");
  m.verbose = verbose && strcmp(verbose, "1") == 0;
  test_rng_init(&m.rng, seed);
  m.d = sim_disk_new();
  m.objs = g_ptr_array_new_with_free_func(m_free_obj);
  m.tickets = g_array_new(FALSE, FALSE, sizeof(mticket));
  m.stale = g_array_new(FALSE, FALSE, sizeof(int64_t));
  m.root = m_new(&m, true);

  for (m.step = 0; m.step < steps && !m.failed; m.step++) {
    uint64_t r = m_below(&m, 100);
    if (r < 12)
      m_open(&m);
    else if (r < 32)
      m_write(&m, false);
    else if (r < 44)
      m_write(&m, true);
    else if (r < 49)
      m_truncate(&m);
    else if (r < 53)
      m_close(&m);
    else if (r < 63)
      m_fsync_begin(&m);
    else if (r < 75)
      m_fsync_end(&m);
    else if (r < 80)
      m_rename(&m);
    else if (r < 83)
      m_unlink(&m);
    else if (r < 85)
      m_mkdir(&m);
    else if (r < 91)
      m_dir_fsync_begin(&m);
    else if (r < 93) {
      MLOG(&m, "fail_next_fsync");
      sim_disk_fail_next_fsync(m.d);
      m.fail_armed = true;
    } else if (r < 96)
      m_crash(&m);
    else if (r < 97)
      m_end_stale(&m);
    else
      m_check_volatile(&m);
  }
  if (!m.failed)
    m_check_volatile(&m);
  if (!m.failed)
    m_crash(&m);
  CU_ASSERT(!m.failed);

  for (guint i = 0; i < m.tickets->len; i++)
    g_free(g_array_index(m.tickets, mticket, i).snap);
  g_array_free(m.tickets, TRUE);
  g_array_free(m.stale, TRUE);
  sim_disk_free(m.d);
  g_ptr_array_free(m.objs, TRUE);
  return m.digest;
}

static void test_model_random(void) {
  uint64_t base = test_seed();
  unsigned failures_before = CU_get_number_of_failures();
  mstats st = {0};
  const char *only = getenv("SLUICE_SIM_DISK_RUN"); /* replay one run */
  for (uint64_t i = 0; i < M_SEEDS; i++) {
    if (only && strtoull(only, NULL, 10) != i)
      continue;
    uint64_t seed = base * 1000003u + i;
    m_run(seed, M_STEPS, &st);
    if (CU_get_number_of_failures() > failures_before) {
      fprintf(stderr,
              "  (replay: SLUICE_TEST_SEED=%" PRIu64
              " SLUICE_SIM_DISK_RUN=%" PRIu64
              " SLUICE_SIM_DISK_VERBOSE=1 sluice-unit sim_disk)\n",
              base, i);
      return;
    }
  }
  if (getenv("SLUICE_SIM_DISK_VERBOSE") || only)
    fprintf(stderr,
            "\n  sim_disk model: %" PRIu64 " crashes, %" PRIu64
            " survivors, %" PRIu64
            " synced bytes checked, unsynced bytes %" PRIu64 " kept / %" PRIu64
            " lost / %" PRIu64 " garbage; fsyncs %" PRIu64 " file + %" PRIu64
            " dir ok, %" PRIu64 " failed\n",
            st.crashes, st.survivors, st.synced_bytes_checked,
            st.unsynced_bytes_kept, st.unsynced_bytes_lost, st.garbage_bytes,
            st.file_fsyncs_ok, st.dir_fsyncs_ok, st.fsyncs_failed);
  if (only)
    return;
  /* The runs must reach every outcome they are meant to check. */
  CU_ASSERT(st.crashes >= M_SEEDS * 5);
  CU_ASSERT(st.survivors >= st.crashes);
  CU_ASSERT(st.synced_bytes_checked >= 100000);
  CU_ASSERT(st.unsynced_bytes_kept >= 10000);
  CU_ASSERT(st.unsynced_bytes_lost >= 10000);
  CU_ASSERT(st.garbage_bytes >= 1000);
  CU_ASSERT(st.fsyncs_failed >= 100);
}

/* Same calls and draws, same outcome. */
static void test_deterministic(void) {
  uint64_t base = test_seed();
  for (uint64_t i = 0; i < 5; i++) {
    mstats st = {0};
    uint64_t a = m_run(base + i, M_STEPS, &st);
    uint64_t b = m_run(base + i, M_STEPS, &st);
    CU_ASSERT_EQUAL(a, b);
  }
}

int suite_sim_disk(void) {
  TEST_SUITE("sim_disk", {"read_write_truncate", test_read_write_truncate},
             {"open_errors", test_open_errors},
             {"paths_and_listing", test_paths_and_listing},
             {"rename_over_existing", test_rename_over_existing},
             {"fsync_covers_writes_before_begin",
              test_fsync_covers_writes_before_begin},
             {"names_need_fsync", test_names_need_fsync},
             {"dir_fsync_covers_changes_before_begin",
              test_dir_fsync_covers_changes_before_begin},
             {"rename_across_directories_is_atomic",
              test_rename_across_directories_is_atomic},
             {"crash_drop_keep_torn", test_crash_drop_keep_torn},
             {"crash_twice_changes_nothing", test_crash_twice_changes_nothing},
             {"stale_tickets", test_stale_tickets},
             {"rot_flips_one_bit", test_rot_flips_one_bit},
             {"fail_next_once", test_fail_next_once},
             {"capacity", test_capacity},
             {"big_append_log", test_big_append_log},
             {"model_random", test_model_random},
             {"deterministic", test_deterministic});
}
