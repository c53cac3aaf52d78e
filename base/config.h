/*
 * config.h — `key=value` property files, Kafka's server.properties style.
 *
 * Lines are `key=value` or `key: value` (whitespace around the separator
 * and at the ends is trimmed); `#` or `!` starts a comment line; blank lines
 * are skipped; a trailing backslash continues a value on the next line.
 * A later assignment of the same key overrides an earlier one, and
 * config_set (used for `--override key=value`) overrides the file.
 *
 * Typed getters parse on demand and report a bad value as an error naming
 * the key, never silently using a default.
 */
#ifndef SLUICE_BASE_CONFIG_H
#define SLUICE_BASE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct config config_t;

/* Error codes (negative). */
enum {
  CONFIG_ERR_IO = -1,      /* file could not be read */
  CONFIG_ERR_SYNTAX = -2,  /* a line is neither comment nor key=value */
  CONFIG_ERR_MISSING = -3, /* required key absent */
  CONFIG_ERR_VALUE = -4,   /* value does not parse as the asked type */
};

config_t *config_new(void);
void config_free(config_t *c); /* NULL is fine */

/* Parses text into c. On error returns a CONFIG_ERR_* code and writes a
 * message ("line 7: expected key=value") into err (err_len bytes). */
int config_parse(config_t *c, const char *text, size_t len, char *err,
                 size_t err_len) __attribute__((warn_unused_result));
/* Reads and parses a file (plain stdio: configuration is read by programs
 * before any node starts, never by node code). */
int config_load_file(config_t *c, const char *path, char *err, size_t err_len)
    __attribute__((warn_unused_result));
/* Parses "key=value" (for --override); CONFIG_ERR_SYNTAX if there is no '='. */
int config_set_assignment(config_t *c, const char *assignment)
    __attribute__((warn_unused_result));
void config_set(config_t *c, const char *key, const char *value);

/* The raw value (owned by c), or NULL. */
const char *config_get(const config_t *c, const char *key);
bool config_has(const config_t *c, const char *key);

/* Typed getters: if the key is absent store def and return 0; if present but
 * malformed return CONFIG_ERR_VALUE with a message in err. Integers accept
 * an optional sign and decimal digits only; bools accept true/false. */
int config_get_i64(const config_t *c, const char *key, int64_t def,
                   int64_t *out, char *err, size_t err_len)
    __attribute__((warn_unused_result));
int config_get_bool(const config_t *c, const char *key, bool def, bool *out,
                    char *err, size_t err_len) __attribute__((warn_unused_result));
const char *config_get_str(const config_t *c, const char *key,
                           const char *def);

/* All keys, sorted, NULL-terminated; free the array (not the strings, which
 * c owns) with free(). */
const char **config_keys(const config_t *c);

#endif
