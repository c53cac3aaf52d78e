/*
 * test_config.c — server.properties parsing: the accepted forms, overrides,
 * continuation lines, syntax errors with their line numbers, typed getters
 * on good and bad values, files, and a property that renders random
 * configurations in random legal styles and parses them back.
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "tests/unit/testutil.h"

#define CONFIG_PROPERTY_RUNS 400
#define CONFIG_KEY_POOL 12

static int parse_str(config_t *c, const char *text, char *err, size_t len) {
  return config_parse(c, text, strlen(text), err, len);
}

static void assert_value(const config_t *c, const char *key, const char *want) {
  const char *got = config_get(c, key);
  if (!got || strcmp(got, want) != 0)
    fprintf(stderr, "\n  %s: got '%s' want '%s'\n", key, got ? got : "(null)",
            want);
  CU_ASSERT_PTR_NOT_NULL_FATAL(got);
  CU_ASSERT_STRING_EQUAL(got, want);
}

static void test_accepted_forms(void) {
  const char *text = "# Kafka-style server.properties\n"
                     "! old-style comment\n"
                     "\n"
                     "node.id=1\n"
                     "listeners = PLAINTEXT://:9092\n"
                     "log.dirs: /tmp/a,/tmp/b\n"
                     "  \tprocess.roles=broker,controller  \t\n"
                     "empty.value=\n"
                     "url=http://h:1/?a=b\n"
                     "colon.first:a=b\n"
                     "inner.hash=a # not a comment\n"
                     "crlf.line=yes\r\n"
                     "   \t\n"
                     "last.no.newline=end";
  config_t *c = config_new();
  char err[128] = "";
  CU_ASSERT_EQUAL_FATAL(parse_str(c, text, err, sizeof err), 0);
  CU_ASSERT_STRING_EQUAL(err, ""); /* untouched on success */
  assert_value(c, "node.id", "1");
  assert_value(c, "listeners", "PLAINTEXT://:9092");
  assert_value(c, "log.dirs", "/tmp/a,/tmp/b");
  assert_value(c, "process.roles", "broker,controller");
  assert_value(c, "empty.value", "");
  assert_value(c, "url", "http://h:1/?a=b");
  assert_value(c, "colon.first", "a=b");
  assert_value(c, "inner.hash", "a # not a comment");
  assert_value(c, "crlf.line", "yes");
  assert_value(c, "last.no.newline", "end");
  CU_ASSERT(config_has(c, "empty.value"));
  CU_ASSERT(!config_has(c, "# Kafka-style server.properties"));
  CU_ASSERT(!config_has(c, "absent"));
  CU_ASSERT_PTR_NULL(config_get(c, "absent"));
  const char **keys = config_keys(c);
  size_t n = 0;
  while (keys[n])
    n++;
  CU_ASSERT_EQUAL(n, 10);
  free(keys);
  /* Empty text and comment-only text are fine. */
  CU_ASSERT_EQUAL(parse_str(c, "", NULL, 0), 0);
  CU_ASSERT_EQUAL(config_parse(c, NULL, 0, NULL, 0), 0);
  CU_ASSERT_EQUAL(parse_str(c, "#only\n\n!comments\n", NULL, 0), 0);
  config_free(c);
  config_free(NULL);
}

static void test_continuation_lines(void) {
  const char *text = "a=one,\\\n"
                     "    two,\\\n"
                     "\tthree\n"
                     "b=x\\\\\n"   /* even run: literal, no continuation */
                     "c=y\\\\\\\n" /* odd run: continues, keeps one pair */
                     "  z\n"
                     "d=keep space \\\n"
                     "  after\n"
                     "e=hash\\\n"
                     "#not a comment here\n"
                     "f=end\\\n"
                     "\n"
                     "g=at.eof\\";
  config_t *c = config_new();
  char err[128];
  CU_ASSERT_EQUAL_FATAL(parse_str(c, text, err, sizeof err), 0);
  assert_value(c, "a", "one,two,three");
  assert_value(c, "b", "x\\\\");
  assert_value(c, "c", "y\\\\z");
  assert_value(c, "d", "keep space after");
  assert_value(c, "e", "hash#not a comment here");
  assert_value(c, "f", "end");
  assert_value(c, "g", "at.eof");
  config_free(c);

  /* A comment line is never continued. */
  c = config_new();
  CU_ASSERT_EQUAL(parse_str(c, "# comment \\\nk=v\n", err, sizeof err), 0);
  assert_value(c, "k", "v");
  config_free(c);

  /* Line numbers count physical lines: the error is on line 5. */
  c = config_new();
  CU_ASSERT_EQUAL(parse_str(c, "a=1\\\n2\\\n3\nb=4\noops\n", err, sizeof err),
                  CONFIG_ERR_SYNTAX);
  CU_ASSERT(g_str_has_prefix(err, "line 5:"));
  /* A continued line that is bad is reported where it starts. */
  CU_ASSERT_EQUAL(parse_str(c, "a=1\n\nno\\\nsep\n", err, sizeof err),
                  CONFIG_ERR_SYNTAX);
  CU_ASSERT(g_str_has_prefix(err, "line 3:"));
  config_free(c);
}

static void test_overrides(void) {
  config_t *c = config_new();
  CU_ASSERT_EQUAL(parse_str(c, "k=1\nk=2\nother=x\nk = 3\n", NULL, 0), 0);
  assert_value(c, "k", "3");
  /* A second text overrides the first, key by key. */
  CU_ASSERT_EQUAL(parse_str(c, "k=4\n", NULL, 0), 0);
  assert_value(c, "k", "4");
  assert_value(c, "other", "x");
  /* --override style, which wins over the file. */
  CU_ASSERT_EQUAL(config_set_assignment(c, "k=5"), 0);
  assert_value(c, "k", "5");
  CU_ASSERT_EQUAL(config_set_assignment(c, " spaced = v w "), 0);
  assert_value(c, "spaced", "v w");
  CU_ASSERT_EQUAL(config_set_assignment(c, "eq=a=b:c"), 0);
  assert_value(c, "eq", "a=b:c");
  CU_ASSERT_EQUAL(config_set_assignment(c, "blank="), 0);
  assert_value(c, "blank", "");
  config_set(c, "k", "6");
  assert_value(c, "k", "6");

  /* Not assignments: nothing changes. */
  CU_ASSERT_EQUAL(config_set_assignment(c, "noequals"), CONFIG_ERR_SYNTAX);
  CU_ASSERT_EQUAL(config_set_assignment(c, "k:7"), CONFIG_ERR_SYNTAX);
  CU_ASSERT_EQUAL(config_set_assignment(c, "=v"), CONFIG_ERR_SYNTAX);
  CU_ASSERT_EQUAL(config_set_assignment(c, "  =v"), CONFIG_ERR_SYNTAX);
  CU_ASSERT_EQUAL(config_set_assignment(c, "two words=v"), CONFIG_ERR_SYNTAX);
  CU_ASSERT_EQUAL(config_set_assignment(c, ""), CONFIG_ERR_SYNTAX);
  assert_value(c, "k", "6");
  CU_ASSERT(!config_has(c, "noequals"));
  CU_ASSERT(!config_has(c, ""));
  config_free(c);
}

static void test_syntax_errors(void) {
  typedef struct bad {
    const char *text;
    const char *prefix; /* the message must start with this */
    const char *contains;
  } bad;
  const bad cases[] = {
      {"junk\n", "line 1:", "expected key"},
      {"a=1\nb=2\njunk\n", "line 3:", "expected key"},
      {"# c\n\n! c\n  words without separator\n", "line 4:", "expected key"},
      {"=value\n", "line 1:", "empty key"},
      {"   : value\n", "line 1:", "empty key"},
      {"my key=1\n", "line 1:", "whitespace"},
      {"a=1\r\nb=2\r\nc\r\n", "line 3:", "expected key"},
      {"a=1\nb=\0x\n", "line 2:", "NUL"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const bad *b = &cases[i];
    /* The NUL case needs its real length. */
    size_t len = strlen(b->text);
    if (strstr(b->contains, "NUL"))
      len = 9;
    config_t *c = config_new();
    config_set(c, "a", "before");
    char err[128] = "";
    int rc = config_parse(c, b->text, len, err, sizeof err);
    CU_ASSERT_EQUAL(rc, CONFIG_ERR_SYNTAX);
    if (!g_str_has_prefix(err, b->prefix) || !strstr(err, b->contains))
      fprintf(stderr, "\n  case %zu: message '%s'\n", i, err);
    CU_ASSERT(g_str_has_prefix(err, b->prefix));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, b->contains));
    /* All or nothing: the good lines before the bad one are not applied. */
    assert_value(c, "a", "before");
    CU_ASSERT(!config_has(c, "b"));
    const char **keys = config_keys(c);
    CU_ASSERT_PTR_NOT_NULL(keys[0]);
    CU_ASSERT_PTR_NULL(keys[1]);
    free(keys);
    config_free(c);
  }

  /* Messages are optional and truncated safely. */
  config_t *c = config_new();
  CU_ASSERT_EQUAL(parse_str(c, "junk", NULL, 0), CONFIG_ERR_SYNTAX);
  char tiny[5];
  memset(tiny, 'X', sizeof tiny);
  CU_ASSERT_EQUAL(parse_str(c, "junk", tiny, 0), CONFIG_ERR_SYNTAX);
  CU_ASSERT_EQUAL(tiny[0], 'X');
  CU_ASSERT_EQUAL(parse_str(c, "junk", tiny, sizeof tiny), CONFIG_ERR_SYNTAX);
  CU_ASSERT_STRING_EQUAL(tiny, "line");
  config_free(c);
}

static void test_integers(void) {
  typedef struct good {
    const char *text;
    int64_t want;
  } good;
  const good goods[] = {
      {"0", 0},
      {"-0", 0},
      {"+7", 7},
      {"007", 7},
      {"-42", -42},
      {"9223372036854775807", INT64_MAX},
      {"-9223372036854775808", INT64_MIN},
      {"+9223372036854775807", INT64_MAX},
  };
  const char *bads[] = {"",
                        "+",
                        "-",
                        "--1",
                        "+-1",
                        "9223372036854775808",
                        "-9223372036854775809",
                        "99999999999999999999",
                        "18446744073709551616",
                        "1.5",
                        "0x10",
                        "1e3",
                        " 5",
                        "5 ",
                        "5x",
                        "abc",
                        "1_000",
                        "5:", /* the characters just outside '0'..'9' */
                        "/5",
                        "5/"};
  config_t *c = config_new();
  char err[160];
  for (size_t i = 0; i < sizeof goods / sizeof goods[0]; i++) {
    config_set(c, "num.partitions", goods[i].text);
    int64_t v = 12345;
    CU_ASSERT_EQUAL(
        config_get_i64(c, "num.partitions", -1, &v, err, sizeof err), 0);
    if (v != goods[i].want)
      fprintf(stderr, "\n  '%s' -> %lld\n", goods[i].text, (long long)v);
    CU_ASSERT(v == goods[i].want);
  }
  for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
    config_set(c, "num.partitions", bads[i]);
    int64_t v = 12345;
    err[0] = '\0';
    int rc = config_get_i64(c, "num.partitions", -1, &v, err, sizeof err);
    if (rc != CONFIG_ERR_VALUE)
      fprintf(stderr, "\n  '%s' accepted as %lld\n", bads[i], (long long)v);
    CU_ASSERT_EQUAL(rc, CONFIG_ERR_VALUE);
    CU_ASSERT(v == 12345); /* untouched, never a silent default */
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "num.partitions"));
  }
  /* Absent: the default, no error. */
  int64_t v = 0;
  CU_ASSERT_EQUAL(config_get_i64(c, "absent", -7, &v, NULL, 0), 0);
  CU_ASSERT(v == -7);

  /* Ranges apply to present values only. */
  config_set(c, "port", "9092");
  CU_ASSERT_EQUAL(
      config_get_i64_range(c, "port", 0, 1, 65535, &v, err, sizeof err), 0);
  CU_ASSERT(v == 9092);
  config_set(c, "port", "65536");
  v = 1;
  CU_ASSERT_EQUAL(
      config_get_i64_range(c, "port", 0, 1, 65535, &v, err, sizeof err),
      CONFIG_ERR_VALUE);
  CU_ASSERT(v == 1);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "port"));
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "65536"));
  config_set(c, "port", "x");
  CU_ASSERT_EQUAL(
      config_get_i64_range(c, "port", 0, 1, 65535, &v, err, sizeof err),
      CONFIG_ERR_VALUE);
  CU_ASSERT_EQUAL(
      config_get_i64_range(c, "nope", -1, 1, 65535, &v, err, sizeof err), 0);
  CU_ASSERT(v == -1);
  config_free(c);
}

/* Random integers printed and parsed back. */
static void test_integer_property(void) {
  uint64_t seed = test_seed() ^ 0x1764;
  test_rng rng;
  test_rng_init(&rng, seed);
  config_t *c = config_new();
  for (int run = 0; run < 5000; run++) {
    int64_t want = (int64_t)(test_rng_next(&rng) >> test_rng_below(&rng, 64));
    if (test_rng_below(&rng, 2))
      want = -want;
    char text[32];
    snprintf(text, sizeof text, test_rng_below(&rng, 4) ? "%lld" : "%+lld",
             (long long)want);
    config_set(c, "k", text);
    int64_t got = 0;
    int rc = config_get_i64(c, "k", 0, &got, NULL, 0);
    if (rc != 0 || got != want)
      fprintf(stderr, "\n  '%s' -> rc %d %lld (seed %llu)\n", text, rc,
              (long long)got, (unsigned long long)seed);
    CU_ASSERT(rc == 0 && got == want);
  }
  config_free(c);
}

static void test_bools_strings_require(void) {
  config_t *c = config_new();
  char err[128];
  const char *trues[] = {"true", "TRUE", "True"};
  const char *falses[] = {"false", "FALSE", "fAlSe"};
  const char *bads[] = {"", "yes", "1", "0", "t", "truee", " true"};
  bool v;
  for (size_t i = 0; i < 3; i++) {
    config_set(c, "auto.create.topics.enable", trues[i]);
    v = false;
    CU_ASSERT_EQUAL(config_get_bool(c, "auto.create.topics.enable", false, &v,
                                    err, sizeof err),
                    0);
    CU_ASSERT(v);
    config_set(c, "auto.create.topics.enable", falses[i]);
    v = true;
    CU_ASSERT_EQUAL(config_get_bool(c, "auto.create.topics.enable", true, &v,
                                    err, sizeof err),
                    0);
    CU_ASSERT(!v);
  }
  for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
    config_set(c, "auto.create.topics.enable", bads[i]);
    v = true;
    CU_ASSERT_EQUAL(config_get_bool(c, "auto.create.topics.enable", false, &v,
                                    err, sizeof err),
                    CONFIG_ERR_VALUE);
    CU_ASSERT(v); /* untouched */
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "auto.create.topics.enable"));
  }
  v = false;
  CU_ASSERT_EQUAL(config_get_bool(c, "absent", true, &v, NULL, 0), 0);
  CU_ASSERT(v);

  CU_ASSERT_STRING_EQUAL(config_get_str(c, "absent", "dflt"), "dflt");
  CU_ASSERT_PTR_NULL(config_get_str(c, "absent", NULL));
  config_set(c, "s", "");
  CU_ASSERT_STRING_EQUAL(config_get_str(c, "s", "dflt"), "");

  CU_ASSERT_EQUAL(config_require(c, "s", err, sizeof err), 0);
  CU_ASSERT_EQUAL(config_require(c, "node.id", err, sizeof err),
                  CONFIG_ERR_MISSING);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "node.id"));
  config_free(c);
}

static void test_keys_sorted(void) {
  config_t *c = config_new();
  const char **keys = config_keys(c);
  CU_ASSERT_PTR_NULL(keys[0]);
  free(keys);
  const char *in[] = {"zeta",    "alpha",   "log.dirs", "Zulu", "a",
                      "node.id", "log.dir", "b",        "alpha"};
  for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
    config_set(c, in[i], "v");
  keys = config_keys(c);
  const char *want[] = {"Zulu",    "a",        "alpha",   "b",
                        "log.dir", "log.dirs", "node.id", "zeta"};
  size_t n = 0;
  while (keys[n])
    n++;
  CU_ASSERT_EQUAL_FATAL(n, sizeof want / sizeof want[0]);
  for (size_t i = 0; i < n; i++)
    CU_ASSERT_STRING_EQUAL(keys[i], want[i]);
  free(keys);
  config_free(c);
}

static char *write_file(const char *dir, const char *name, const char *text) {
  char *path = g_build_filename(dir, name, NULL);
  GError *gerr = NULL;
  CU_ASSERT_FATAL(g_file_set_contents(path, text, -1, &gerr));
  return path;
}

static void test_load_file(void) {
  char *dir = test_tmpdir();
  char err[512];
  config_t *c = config_new();

  char *good = write_file(dir, "server.properties",
                          "node.id=3\nlisteners=PLAINTEXT://:9092\n");
  CU_ASSERT_EQUAL(config_load_file(c, good, err, sizeof err), 0);
  assert_value(c, "node.id", "3");
  /* Overrides after the file win. */
  CU_ASSERT_EQUAL(config_set_assignment(c, "node.id=4"), 0);
  assert_value(c, "node.id", "4");

  char *bad = write_file(dir, "bad.properties", "a=1\n\n  broken line\n");
  CU_ASSERT_EQUAL(config_load_file(c, bad, err, sizeof err), CONFIG_ERR_SYNTAX);
  CU_ASSERT(g_str_has_prefix(err, bad));
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "line 3:"));
  CU_ASSERT(!config_has(c, "a"));

  char *missing = g_build_filename(dir, "missing.properties", NULL);
  CU_ASSERT_EQUAL(config_load_file(c, missing, err, sizeof err), CONFIG_ERR_IO);
  CU_ASSERT(g_str_has_prefix(err, missing));
  /* A directory opens but cannot be read. */
  CU_ASSERT_EQUAL(config_load_file(c, dir, err, sizeof err), CONFIG_ERR_IO);
  CU_ASSERT_EQUAL(config_load_file(c, missing, NULL, 0), CONFIG_ERR_IO);

  /* Larger than the read chunk, to cross buffer growth. */
  GString *big = g_string_new(NULL);
  for (int i = 0; i < 3000; i++)
    g_string_append_printf(big, "key.%04d = value %d\n", i, i * 7);
  char *bigpath = write_file(dir, "big.properties", big->str);
  CU_ASSERT_EQUAL(config_load_file(c, bigpath, err, sizeof err), 0);
  assert_value(c, "key.0000", "value 0");
  assert_value(c, "key.2999", "value 20993");

  g_string_free(big, TRUE);
  g_free(bigpath);
  g_free(missing);
  g_free(bad);
  g_free(good);
  config_free(c);
  test_rm_tree(dir);
  g_free(dir);
}

/* Random configurations rendered in random legal styles (separators,
 * indentation, comments, blank lines, CRLF, continuation splits, repeated
 * keys) must parse to exactly the model: last assignment wins. */
static void random_value(test_rng *rng, char *out, size_t cap) {
  const char alphabet[] = "abcxyzABC0123456789 .,/:=#!-_\\";
  size_t len = test_rng_below(rng, cap - 1);
  for (size_t i = 0; i < len; i++)
    out[i] = alphabet[test_rng_below(rng, sizeof alphabet - 1)];
  /* Parsed values are trimmed and a trailing backslash continues. */
  while (len > 0 && (out[len - 1] == ' ' || out[len - 1] == '\\'))
    len--;
  size_t start = 0;
  while (start < len && out[start] == ' ')
    start++;
  memmove(out, out + start, len - start);
  out[len - start] = '\0';
}

static void test_random_render_property(void) {
  uint64_t seed = test_seed() ^ 0xC0F;
  test_rng rng;
  test_rng_init(&rng, seed);
  const char *seps[] = {"=", " = ", ":", ": ", "\t=\t", " :"};
  const char *eols[] = {"\n", "\r\n"};
  for (int run = 0; run < CONFIG_PROPERTY_RUNS; run++) {
    char *model[CONFIG_KEY_POOL] = {0};
    GString *text = g_string_new(NULL);
    size_t lines = test_rng_below(&rng, 30);
    for (size_t i = 0; i < lines; i++) {
      const char *eol = eols[test_rng_below(&rng, 2)];
      switch (test_rng_below(&rng, 6)) {
      case 0:
        g_string_append_printf(text, "%s comment %zu = x%s",
                               test_rng_below(&rng, 2) ? "#" : "  !", i, eol);
        continue;
      case 1:
        g_string_append(text, test_rng_below(&rng, 2) ? " \t" : "");
        g_string_append(text, eol);
        continue;
      default:
        break;
      }
      size_t k = test_rng_below(&rng, CONFIG_KEY_POOL);
      char value[24];
      random_value(&rng, value, sizeof value);
      g_free(model[k]);
      model[k] = g_strdup(value);
      g_string_append_printf(text, "%skey.%zu%s",
                             test_rng_below(&rng, 3) ? "" : "  ", k,
                             seps[test_rng_below(&rng, 6)]);
      /* Maybe split the value over a continuation line, at a point where
       * the dropped indentation and the backslash cannot change it. */
      size_t len = strlen(value);
      size_t cut = len > 2 ? 1 + test_rng_below(&rng, len - 1) : 0;
      bool split = cut > 0 && test_rng_below(&rng, 3) == 0 &&
                   value[cut] != ' ' && value[cut - 1] != '\\';
      if (split) {
        g_string_append_len(text, value, (gssize)cut);
        g_string_append_printf(text, "\\%s    %s%s", eol, value + cut, eol);
      } else {
        g_string_append_printf(text, "%s%s", value,
                               test_rng_below(&rng, 2) ? "  " : "");
        g_string_append(text, eol);
      }
    }
    config_t *c = config_new();
    char err[128] = "";
    int rc = config_parse(c, text->str, text->len, err, sizeof err);
    bool ok = rc == 0;
    const char **keys = config_keys(c);
    size_t n = 0;
    for (size_t k = 0; ok && k < CONFIG_KEY_POOL; k++) {
      char key[16];
      snprintf(key, sizeof key, "key.%zu", k);
      const char *got = config_get(c, key);
      ok = model[k] ? got && strcmp(got, model[k]) == 0 : got == NULL;
      n += model[k] != NULL;
    }
    for (size_t i = 0; ok && keys[i]; i++) {
      ok = i < n && (i == 0 || strcmp(keys[i - 1], keys[i]) < 0);
      ok = ok && (keys[i + 1] != NULL || i + 1 == n);
    }
    if (!ok) {
      fprintf(stderr, "\n  run %d rc %d '%s' (seed %llu); text:\n%s\n", run, rc,
              err, (unsigned long long)seed, text->str);
      CU_FAIL("parsed configuration differs from the model");
    }
    free(keys);
    config_free(c);
    for (size_t k = 0; k < CONFIG_KEY_POOL; k++)
      g_free(model[k]);
    g_string_free(text, TRUE);
  }
}

int suite_config(void) {
  TEST_SUITE("config", {"accepted_forms", test_accepted_forms},
             {"continuation_lines", test_continuation_lines},
             {"overrides", test_overrides},
             {"syntax_errors", test_syntax_errors}, {"integers", test_integers},
             {"integer_property", test_integer_property},
             {"bools_strings_require", test_bools_strings_require},
             {"keys_sorted", test_keys_sorted}, {"load_file", test_load_file},
             {"random_render_property", test_random_render_property});
}
