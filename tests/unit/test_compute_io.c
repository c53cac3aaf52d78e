/*
 * test_compute_io.c — files in and out: text files split into byte ranges
 * on line boundaries (every line exactly once, whatever the split count),
 * directories of files, save_as_text's part files and _SUCCESS marker, and
 * a bad input path.
 */
#include "tests/unit/test_compute_lib.h"

static cm_ctx *ctx_new(const cm_registry *reg, uint32_t executors) {
  cm_config cfg = cm_config_default();
  cfg.executors = executors;
  GError *err = NULL;
  cm_ctx *ctx = cm_ctx_new(reg, &cfg, &err);
  g_assert_no_error(err);
  return ctx;
}

/* Random text: empty lines, long lines, and maybe no final newline. */
static GString *random_text(test_rng *rng) {
  GString *s = g_string_new(NULL);
  uint64_t lines = test_rng_below(rng, 400);
  for (uint64_t i = 0; i < lines; i++) {
    uint64_t len = test_rng_below(rng, 10) == 0 ? test_rng_below(rng, 3000)
                                                : test_rng_below(rng, 40);
    for (uint64_t j = 0; j < len; j++)
      g_string_append_c(s, (char)('a' + test_rng_below(rng, 26)));
    if (i + 1 < lines || test_rng_below(rng, 2))
      g_string_append_c(s, '\n');
  }
  return s;
}

/* The lines of text exactly as a line reader must return them. */
static tl_recs *lines_of(const char *text, size_t len) {
  tl_recs *r = tl_recs_new();
  size_t start = 0;
  for (size_t i = 0; i < len; i++)
    if (text[i] == '\n') {
      tl_add(r, cm_bytes_of(text + start, i - start), CM_NO_BYTES);
      start = i + 1;
    }
  if (start < len)
    tl_add(r, cm_bytes_of(text + start, len - start), CM_NO_BYTES);
  return r;
}

static void test_text_splits(void) {
  cm_registry *reg = cm_registry_new();
  char *dir = test_tmpdir();
  char *path = g_build_filename(dir, "input.txt", NULL);
  for (uint32_t i = 0; i < 40; i++) {
    uint64_t seed = test_seed() * 31 + i;
    test_rng rng;
    test_rng_init(&rng, seed);
    GString *text = random_text(&rng);
    CU_ASSERT_FATAL(g_file_set_contents(path, text->str, (gssize)text->len,
                                        NULL));
    tl_recs *want = lines_of(text->str, text->len);
    uint32_t parts = 1 + (uint32_t)test_rng_below(&rng, 40);
    cm_ctx *ctx = ctx_new(reg, 1 + i % 3);
    GError *err = NULL;
    cm_ds *ds = cm_text_file(ctx, path, parts, &err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds);
    cm_records *got = NULL;
    CU_ASSERT_EQUAL_FATAL(cm_collect(ds, &got, &err), 0);
    tl_recs *g = tl_from_records(got);
    bool same = tl_len(g) == tl_len(want);
    for (size_t j = 0; same && j < tl_len(g); j++)
      same = cm_bytes_eq(tl_get(g, j).key, tl_get(want, j).key);
    if (!same)
      fprintf(stderr, "\n  %zu bytes in %u splits: %zu lines, expected %zu "
                      "(seed %llu)\n",
              text->len, parts, tl_len(g), tl_len(want),
              (unsigned long long)seed);
    CU_ASSERT(same);
    tl_recs_free(g);
    tl_recs_free(want);
    cm_records_free(got);
    cm_ctx_free(ctx);
    g_string_free(text, TRUE);
  }
  g_free(path);
  test_rm_tree(dir);
  g_free(dir);
  cm_registry_free(reg);
}

static void test_directory_and_save(void) {
  cm_registry *reg = cm_registry_new();
  char *dir = test_tmpdir();
  char *in = g_build_filename(dir, "in", NULL);
  char *out = g_build_filename(dir, "out", NULL);
  g_mkdir_with_parents(in, 0755);
  const char *files[][2] = {{"b.txt", "b1\nb2\n"},
                            {"a.txt", "a1\na2\na3"},
                            {"empty.txt", ""},
                            {"_ignored", "x\n"},
                            {".hidden", "y\n"}};
  for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
    char *p = g_build_filename(in, files[i][0], NULL);
    CU_ASSERT(g_file_set_contents(p, files[i][1], -1, NULL));
    g_free(p);
  }
  cm_ctx *ctx = ctx_new(reg, 2);
  GError *err = NULL;
  cm_ds *lines = cm_text_file(ctx, in, 3, &err);
  CU_ASSERT_PTR_NOT_NULL_FATAL(lines);
  cm_records *r = NULL;
  CU_ASSERT_EQUAL_FATAL(cm_collect(lines, &r, &err), 0);
  const char *expect[] = {"a1", "a2", "a3", "b1", "b2"};
  CU_ASSERT_EQUAL_FATAL(cm_records_count(r), 5);
  for (size_t i = 0; i < 5; i++)
    CU_ASSERT(cm_bytes_eq(cm_records_get(r, i).key, cm_str(expect[i])));
  cm_records_free(r);
  /* count lines per first letter, save as text */
  cm_ds *counts = cm_map(
      cm_reduce_by_key(cm_map(cm_coalesce(lines, 1), "cm.one_i64", CM_NO_BYTES),
                       "cm.sum_i64", CM_NO_BYTES, 2),
      "cm.i64_to_text", CM_NO_BYTES);
  CU_ASSERT_EQUAL_FATAL(cm_save_as_text(counts, out, &err), 0);
  CU_ASSERT_EQUAL_FATAL(cm_save_as_text(lines, out, &err), 0); /* replaces */
  char *success = g_build_filename(out, "_SUCCESS", NULL);
  CU_ASSERT(g_file_test(success, G_FILE_TEST_EXISTS));
  GString *all = g_string_new(NULL);
  for (uint32_t p = 0; p < cm_ds_partitions(lines); p++) {
    char *name = g_strdup_printf("%s/part-%05u", out, p);
    gchar *text = NULL;
    CU_ASSERT(g_file_get_contents(name, &text, NULL, NULL));
    g_string_append(all, text ? text : "");
    g_free(text);
    g_free(name);
  }
  CU_ASSERT_STRING_EQUAL(all->str, "a1\na2\na3\nb1\nb2\n");
  g_string_free(all, TRUE);
  /* key TAB value lines */
  char *out2 = g_build_filename(dir, "out2", NULL);
  CU_ASSERT_EQUAL_FATAL(cm_save_as_text(cm_coalesce(counts, 1), out2, &err),
                        0);
  char *part = g_build_filename(out2, "part-00000", NULL);
  gchar *text = NULL;
  CU_ASSERT(g_file_get_contents(part, &text, NULL, NULL));
  CU_ASSERT(text && strstr(text, "a1\t1\n") != NULL);
  CU_ASSERT(text && strstr(text, "b2\t1\n") != NULL);
  g_free(text);
  g_free(part);
  g_free(out2);
  /* a path that does not exist */
  CU_ASSERT_PTR_NULL(cm_text_file(ctx, "/nonexistent/sluice", 2, &err));
  CU_ASSERT(g_error_matches(err, CM_ERROR, CM_ERROR_IO));
  g_clear_error(&err);
  cm_ctx_free(ctx);
  g_free(success);
  g_free(in);
  g_free(out);
  test_rm_tree(dir);
  g_free(dir);
  cm_registry_free(reg);
}

/* Lines longer than the block store's write buffer (256 KiB) next to
 * short ones: save_as_text writes them straight through, in order. */
static void test_save_long_lines(void) {
  cm_registry *reg = cm_registry_new();
  cm_ctx *ctx = ctx_new(reg, 2);
  char *dir = test_tmpdir();
  char *out = g_build_filename(dir, "out", NULL);
  const size_t sizes[] = {3, 300000, 1, 700000, 5, 200000, 90000};
  const size_t n = G_N_ELEMENTS(sizes);
  cm_rec recs[G_N_ELEMENTS(sizes)];
  GString *want = g_string_new(NULL);
  for (size_t i = 0; i < n; i++) {
    char *line = g_malloc(sizes[i]);
    memset(line, 'a' + (int)i, sizes[i]);
    recs[i] = (cm_rec){cm_bytes_of(line, sizes[i]), CM_NO_BYTES};
    g_string_append_len(want, line, (gssize)sizes[i]);
    g_string_append_c(want, '\n');
  }
  GError *err = NULL;
  CU_ASSERT_EQUAL_FATAL(
      cm_save_as_text(cm_parallelize(ctx, recs, n, 1), out, &err), 0);
  char *part = g_build_filename(out, "part-00000", NULL);
  gchar *text = NULL;
  gsize len = 0;
  CU_ASSERT(g_file_get_contents(part, &text, &len, NULL));
  CU_ASSERT_EQUAL(len, want->len);
  CU_ASSERT(text && memcmp(text, want->str, want->len) == 0);
  g_free(text);
  g_free(part);
  for (size_t i = 0; i < n; i++)
    g_free((void *)recs[i].key.ptr);
  g_string_free(want, TRUE);
  cm_ctx_free(ctx);
  g_free(out);
  test_rm_tree(dir);
  g_free(dir);
  cm_registry_free(reg);
}

int suite_compute_io(void) {
  TEST_SUITE("compute_io", {"text file splits", test_text_splits},
             {"directory and save_as_text", test_directory_and_save},
             {"save_as_text of lines longer than the write buffer",
              test_save_long_lines});
}
