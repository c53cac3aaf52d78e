/*
 * config.h — `key=value` property files, Kafka's server.properties style.
 *
 * Lines are `key=value` or `key: value` (whitespace around the separator
 * and at the ends is trimmed); `#` or `!` starts a comment line; blank lines
 * are skipped; a trailing backslash continues a value on the next line
 * (an odd run of trailing backslashes continues, the last one is dropped,
 * and the next line's leading whitespace is dropped too). The separator is
 * the first '=' or ':' on the line; keys are one word (no whitespace);
 * values are taken literally (no escape processing) and may be empty.
 * A later assignment of the same key overrides an earlier one, and
 * config_set (used for `--override key=value`) overrides the file.
 *
 * Parsing is all-or-nothing: on a syntax error nothing from that text is
 * applied. Error messages name the line ("line 7: ...") or the key
 * ("num.partitions: ..."); err may be NULL or err_len 0 to skip the message.
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
 * message ("line 7: expected key=value or key: value") into err (err_len
 * bytes, always NUL-terminated). A NUL byte in text is a syntax error. */
int config_parse(config_t *c, const char *text, size_t len, char *err,
                 size_t err_len) __attribute__((warn_unused_result));
/* Reads and parses a file (plain stdio: configuration is read by programs
 * before any node starts, never by node code). Messages are prefixed with
 * the path. CONFIG_ERR_IO if it cannot be opened or read, or is larger
 * than 16 MiB. */
int config_load_file(config_t *c, const char *path, char *err, size_t err_len)
    __attribute__((warn_unused_result));
/* Parses "key=value" (for --override); CONFIG_ERR_SYNTAX if there is no '='
 * or the key is empty or has whitespace. Splits at the first '=', so the
 * value may contain '=' and ':'. */
int config_set_assignment(config_t *c, const char *assignment)
    __attribute__((warn_unused_result));

/* key must be non-empty; value may be empty. Both are copied. */
void config_set(config_t *c, const char *key, const char *value);

/* The raw value (owned by c; valid until that key is set again or c is
 * freed), or NULL. */
const char *config_get(const config_t *c, const char *key);
bool config_has(const config_t *c, const char *key);
/* 0 if key is present, else CONFIG_ERR_MISSING with a message naming it. */
int config_require(const config_t *c, const char *key, char *err,
                   size_t err_len) __attribute__((warn_unused_result));

/* Typed getters: if the key is absent store def and return 0; if present but
 * malformed return CONFIG_ERR_VALUE with a message in err and leave *out
 * untouched. Integers accept an optional sign and decimal digits only
 * (no spaces, no 0x, no overflow); bools accept true/false in any case,
 * as Kafka does. */
int config_get_i64(const config_t *c, const char *key, int64_t def,
                   int64_t *out, char *err, size_t err_len)
    __attribute__((warn_unused_result));
int config_get_bool(const config_t *c, const char *key, bool def, bool *out,
                    char *err, size_t err_len) __attribute__((warn_unused_result));
/* Like config_get_i64, and a present value outside [min, max] is also
 * CONFIG_ERR_VALUE (def is returned as is when the key is absent). */
int config_get_i64_range(const config_t *c, const char *key, int64_t def,
                         int64_t min, int64_t max, int64_t *out, char *err,
                         size_t err_len) __attribute__((warn_unused_result));
const char *config_get_str(const config_t *c, const char *key,
                           const char *def);

/* All keys, sorted, NULL-terminated; free the array (not the strings, which
 * c owns) with free(). */
const char **config_keys(const config_t *c);

#endif
