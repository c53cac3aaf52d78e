/*
 * config.c — server.properties-style configuration. See config.h.
 *
 * Kafka reads its configuration with java.util.Properties; this is the
 * subset operators actually write: `key=value` / `key: value`, `#` and `!`
 * comments, blank lines, backslash continuation. Unicode and backslash
 * escapes are not interpreted (values are taken literally), and a key must
 * be one word — Properties' "key value" form is a syntax error here, since
 * in practice it is almost always a typo.
 *
 * Parsing is all-or-nothing: lines are collected first and applied only if
 * the whole text parsed, so a config_t never holds half a broken file.
 * Values are stored as text and typed on demand, so a malformed value that
 * nobody asks for costs nothing and one that is asked for always errors.
 */
#include "base/config.h"

#include <errno.h>
#include <glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/buf.h"

/* A properties file bigger than this is not a configuration file; refusing
 * it keeps a mistaken path (a log segment, /dev/zero) from eating memory. */
#define CONFIG_FILE_BYTES_MAX (16u * 1024u * 1024u)
#define CONFIG_READ_CHUNK_BYTES 4096u

struct config {
  GHashTable *values; /* [owned] char *key -> char *value, both g_strdup */
};

/* Writes a message into err if the caller gave room for one. */
__attribute__((format(printf, 3, 4))) static void
config_err(char *err, size_t err_len, const char *fmt, ...) {
  if (!err || err_len == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, err_len, fmt, ap);
  va_end(ap);
}

static bool is_space(char ch) {
  return ch == ' ' || ch == '\t' || ch == '\f' || ch == '\r' || ch == '\v';
}

/* Narrows [*s, *s + *len) to drop whitespace at both ends. */
static void trim(const char **s, size_t *len) {
  while (*len > 0 && is_space((*s)[0])) {
    (*s)++;
    (*len)--;
  }
  while (*len > 0 && is_space((*s)[*len - 1]))
    (*len)--;
}

static bool has_space(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (is_space(s[i]))
      return true;
  return false;
}

config_t *config_new(void) {
  config_t *c = g_new0(config_t, 1);
  c->values = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  return c;
}

void config_free(config_t *c) {
  if (!c)
    return;
  g_hash_table_destroy(c->values);
  g_free(c);
}

void config_set(config_t *c, const char *key, const char *value) {
  SL_ASSERT(c != NULL);
  SL_ASSERT(key != NULL && key[0] != '\0');
  SL_ASSERT(value != NULL);
  g_hash_table_replace(c->values, g_strdup(key), g_strdup(value));
}

/* Splits one logical line at its first '=' (or ':' if allow_colon) into a
 * trimmed key and value. Returns false with a reason in *why. */
static bool split_assignment(const char *line, size_t len, bool allow_colon,
                             char **key_out, char **value_out,
                             const char **why) {
  size_t sep = 0;
  while (sep < len && line[sep] != '=' && !(allow_colon && line[sep] == ':'))
    sep++;
  if (sep == len) {
    *why =
        allow_colon ? "expected key=value or key: value" : "expected key=value";
    return false;
  }
  const char *key = line;
  size_t key_len = sep;
  const char *value = line + sep + 1;
  size_t value_len = len - sep - 1;
  trim(&key, &key_len);
  trim(&value, &value_len);
  if (key_len == 0) {
    *why = "empty key";
    return false;
  }
  if (has_space(key, key_len)) {
    *why = "key contains whitespace";
    return false;
  }
  *key_out = g_strndup(key, key_len);
  *value_out = g_strndup(value, value_len);
  return true;
}

/* Cuts the next physical line (without its '\n') off [*pos, len). */
static void next_line(const char *text, size_t len, size_t *pos,
                      const char **line, size_t *line_len) {
  const char *start = text + *pos;
  const char *nl = memchr(start, '\n', len - *pos);
  size_t n = nl ? (size_t)(nl - start) : len - *pos;
  *line = start;
  *line_len = n;
  *pos += nl ? n + 1 : n;
}

/* A line continues onto the next when it ends in an odd number of
 * backslashes (an even run is that many literal backslashes, as in Java). */
static bool ends_in_continuation(const char *line, size_t len) {
  size_t run = 0;
  while (run < len && line[len - 1 - run] == '\\')
    run++;
  return run % 2 == 1;
}

int config_parse(config_t *c, const char *text, size_t len, char *err,
                 size_t err_len) {
  SL_ASSERT(c != NULL);
  SL_ASSERT(text != NULL || len == 0);
  int rc = 0;
  const char *nul = len > 0 ? memchr(text, '\0', len) : NULL;
  if (nul) {
    size_t line_no = 1;
    for (const char *p = text; p < nul; p++)
      line_no += *p == '\n';
    config_err(err, err_len, "line %zu: NUL byte", line_no);
    return CONFIG_ERR_SYNTAX;
  }
  /* Alternating key, value: applied in order once everything parsed, so
   * later lines still override earlier ones. */
  GPtrArray *pairs = g_ptr_array_new_with_free_func(g_free);
  GString *logical = g_string_new(NULL);
  size_t pos = 0;
  size_t line_no = 0;
  while (pos < len) {
    const char *line;
    size_t line_len;
    next_line(text, len, &pos, &line, &line_len);
    line_no++;
    size_t first_line_no = line_no;
    trim(&line, &line_len);
    if (line_len == 0 || line[0] == '#' || line[0] == '!')
      continue;
    g_string_truncate(logical, 0);
    for (;;) {
      bool more = ends_in_continuation(line, line_len);
      g_string_append_len(logical, line, more ? line_len - 1 : line_len);
      if (!more || pos >= len)
        break;
      /* Leading whitespace of a continuation line is indentation. */
      next_line(text, len, &pos, &line, &line_len);
      line_no++;
      trim(&line, &line_len);
    }
    char *key;
    char *value;
    const char *why;
    if (!split_assignment(logical->str, logical->len, true, &key, &value,
                          &why)) {
      config_err(err, err_len, "line %zu: %s", first_line_no, why);
      rc = CONFIG_ERR_SYNTAX;
      goto out_free_parse;
    }
    g_ptr_array_add(pairs, key);
    g_ptr_array_add(pairs, value);
  }
  for (guint i = 0; i < pairs->len; i += 2)
    config_set(c, g_ptr_array_index(pairs, i), g_ptr_array_index(pairs, i + 1));
out_free_parse:
  g_string_free(logical, TRUE);
  g_ptr_array_free(pairs, TRUE);
  return rc;
}

int config_load_file(config_t *c, const char *path, char *err, size_t err_len) {
  SL_ASSERT(c != NULL);
  SL_ASSERT(path != NULL);
  int rc = 0;
  buf_t text = BUF_INIT;
  char parse_err[256] = "";
  FILE *f = fopen(path, "rb");
  if (!f) {
    config_err(err, err_len, "%s: %s", path, strerror(errno));
    return CONFIG_ERR_IO;
  }
  for (;;) {
    if (text.len > CONFIG_FILE_BYTES_MAX) {
      config_err(err, err_len, "%s: larger than %u bytes", path,
                 CONFIG_FILE_BYTES_MAX);
      rc = CONFIG_ERR_IO;
      goto out_free_text;
    }
    buf_reserve(&text, CONFIG_READ_CHUNK_BYTES);
    size_t n = fread(text.data + text.len, 1, text.cap - text.len, f);
    text.len += n;
    if (n > 0)
      continue;
    if (ferror(f)) {
      config_err(err, err_len, "%s: read error", path);
      rc = CONFIG_ERR_IO;
      goto out_free_text;
    }
    break;
  }
  rc = config_parse(c, (const char *)text.data, text.len, parse_err,
                    sizeof parse_err);
  if (rc != 0)
    config_err(err, err_len, "%s: %s", path, parse_err);
out_free_text:
  buf_free(&text);
  fclose(f);
  return rc;
}

int config_set_assignment(config_t *c, const char *assignment) {
  SL_ASSERT(c != NULL);
  SL_ASSERT(assignment != NULL);
  char *key;
  char *value;
  const char *why;
  if (!split_assignment(assignment, strlen(assignment), false, &key, &value,
                        &why))
    return CONFIG_ERR_SYNTAX;
  /* Hand the copies straight to the table (it frees them). */
  g_hash_table_replace(c->values, key, value);
  return 0;
}

const char *config_get(const config_t *c, const char *key) {
  SL_ASSERT(c != NULL);
  SL_ASSERT(key != NULL);
  return g_hash_table_lookup(c->values, key);
}

bool config_has(const config_t *c, const char *key) {
  return config_get(c, key) != NULL;
}

int config_require(const config_t *c, const char *key, char *err,
                   size_t err_len) {
  if (config_has(c, key))
    return 0;
  config_err(err, err_len, "%s: missing required key", key);
  return CONFIG_ERR_MISSING;
}

/* Optional sign, then one or more decimal digits, nothing else. Parsed by
 * hand: strtoll would also take leading spaces, "0x" prefixes (base 0) and
 * would need errno juggling for overflow. */
static bool parse_i64(const char *s, int64_t *out) {
  bool negative = false;
  if (*s == '+' || *s == '-') {
    negative = *s == '-';
    s++;
  }
  if (*s == '\0')
    return false;
  /* The magnitude may reach INT64_MAX + 1 for a negative number. */
  uint64_t limit = negative ? (uint64_t)INT64_MAX + 1u : (uint64_t)INT64_MAX;
  uint64_t mag = 0;
  for (; *s != '\0'; s++) {
    if (*s < '0' || *s > '9')
      return false;
    uint64_t digit = (uint64_t)(*s - '0');
    if (mag > (limit - digit) / 10u)
      return false;
    mag = mag * 10u + digit;
  }
  if (!negative)
    *out = (int64_t)mag;
  else if (mag == (uint64_t)INT64_MAX + 1u)
    *out = INT64_MIN;
  else
    *out = -(int64_t)mag;
  return true;
}

int config_get_i64(const config_t *c, const char *key, int64_t def,
                   int64_t *out, char *err, size_t err_len) {
  SL_ASSERT(out != NULL);
  const char *value = config_get(c, key);
  if (!value) {
    *out = def;
    return 0;
  }
  if (!parse_i64(value, out)) {
    config_err(err, err_len,
               "%s: '%s' is not a decimal integer in the 64-bit range", key,
               value);
    return CONFIG_ERR_VALUE;
  }
  return 0;
}

int config_get_i64_range(const config_t *c, const char *key, int64_t def,
                         int64_t min, int64_t max, int64_t *out, char *err,
                         size_t err_len) {
  SL_ASSERT(min <= max);
  SL_ASSERT(out != NULL);
  int64_t v;
  int rc = config_get_i64(c, key, def, &v, err, err_len);
  if (rc != 0)
    return rc;
  if (config_has(c, key) && (v < min || v > max)) {
    config_err(err, err_len, "%s: %lld is outside [%lld, %lld]", key,
               (long long)v, (long long)min, (long long)max);
    return CONFIG_ERR_VALUE;
  }
  *out = v;
  return 0;
}

int config_get_bool(const config_t *c, const char *key, bool def, bool *out,
                    char *err, size_t err_len) {
  SL_ASSERT(out != NULL);
  const char *value = config_get(c, key);
  if (!value) {
    *out = def;
    return 0;
  }
  /* Case-insensitive, as Kafka's ConfigDef reads booleans. */
  if (g_ascii_strcasecmp(value, "true") == 0) {
    *out = true;
    return 0;
  }
  if (g_ascii_strcasecmp(value, "false") == 0) {
    *out = false;
    return 0;
  }
  config_err(err, err_len, "%s: '%s' is not true or false", key, value);
  return CONFIG_ERR_VALUE;
}

const char *config_get_str(const config_t *c, const char *key,
                           const char *def) {
  const char *value = config_get(c, key);
  return value ? value : def;
}

static int compare_keys(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char **config_keys(const config_t *c) {
  SL_ASSERT(c != NULL);
  size_t n = g_hash_table_size(c->values);
  const char **keys = malloc((n + 1) * sizeof *keys);
  if (!keys) {
    fprintf(stderr, "config: out of memory listing %zu keys\n", n);
    abort();
  }
  GHashTableIter it;
  gpointer key;
  size_t i = 0;
  g_hash_table_iter_init(&it, c->values);
  while (g_hash_table_iter_next(&it, &key, NULL))
    keys[i++] = key;
  SL_ASSERT(i == n);
  /* Hash order must never leak out (STYLE.md): sort. */
  qsort(keys, n, sizeof *keys, compare_keys);
  keys[n] = NULL;
  return keys;
}
