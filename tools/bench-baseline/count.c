/*
 * count.c — the hand-written single-threaded baselines: word count and
 * group-by-sum over one file, with an open-addressing hash table.
 *
 * Both read the input with read() in 1 MiB blocks into one buffer; a word
 * or line cut by the block end is moved to the front and completed by the
 * next read. Keys are copied once, when first seen, into an arena; a slot
 * holds the key's hash (never 0: 0 marks an empty slot), where the key is,
 * and the running total. The table doubles at half load. At the end the
 * used slots are sorted by key (memcmp order, a proper prefix first) and
 * written as "key\ttotal\n".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/assert.h"
#include "tools/bench-baseline/baseline.h"

#define CT_TABLE_SLOTS_MIN 4096u
#define CT_OUT_BUFFER_BYTES (1u << 20)

typedef struct ct_slot {
  uint64_t hash; /* 0 = empty */
  uint64_t key_off;
  uint64_t key_len;
  int64_t total;
} ct_slot;

typedef struct ct_table {
  ct_slot *slots; /* [owned] n_slots, a power of two */
  size_t n_slots;
  size_t n_used;
  char *arena; /* [owned] key bytes */
  size_t arena_len;
  size_t arena_cap;
} ct_table;

typedef struct ct_input {
  int fd;
  const char *path;
  char *buf; /* [owned] */
  size_t cap;
  size_t len; /* valid bytes */
  bool eof;
} ct_input;

/* ----------------------------------------------------------------- hash */

static uint64_t ct_mix(uint64_t x) {
  x ^= x >> 32;
  x *= UINT64_C(0xd6e8feb86659fd93);
  x ^= x >> 32;
  return x;
}

/* Eight bytes at a time; the length seeds it. Never returns 0. */
static uint64_t ct_hash(const char *p, size_t len) {
  uint64_t h = len * UINT64_C(0x9e3779b97f4a7c15);
  while (len >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    h = (h ^ w) * UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 29;
    p += 8;
    len -= 8;
  }
  if (len > 0) {
    uint64_t w = 0;
    memcpy(&w, p, len);
    h = (h ^ w) * UINT64_C(0xff51afd7ed558ccd);
  }
  return ct_mix(h) | 1;
}

/* ---------------------------------------------------------------- table */

static void table_init(ct_table *t) {
  t->n_slots = CT_TABLE_SLOTS_MIN;
  t->slots = calloc(t->n_slots, sizeof(ct_slot));
  t->n_used = 0;
  t->arena_cap = 1u << 20;
  t->arena = malloc(t->arena_cap);
  t->arena_len = 0;
  SL_ASSERT(t->slots && t->arena);
}

static void table_free(ct_table *t) {
  free(t->slots);
  free(t->arena);
}

static void table_grow(ct_table *t) {
  size_t n = t->n_slots * 2, mask = n - 1;
  ct_slot *slots = calloc(n, sizeof(ct_slot));
  SL_ASSERT(slots != NULL);
  for (size_t i = 0; i < t->n_slots; i++) {
    if (!t->slots[i].hash)
      continue;
    size_t j = t->slots[i].hash & mask;
    while (slots[j].hash)
      j = (j + 1) & mask;
    slots[j] = t->slots[i];
  }
  free(t->slots);
  t->slots = slots;
  t->n_slots = n;
}

static void table_add(ct_table *t, const char *key, size_t len, int64_t v) {
  uint64_t h = ct_hash(key, len);
  size_t mask = t->n_slots - 1, i = h & mask;
  for (;;) {
    ct_slot *s = &t->slots[i];
    if (!s->hash)
      break;
    if (s->hash == h && s->key_len == len &&
        memcmp(t->arena + s->key_off, key, len) == 0) {
      s->total += v;
      return;
    }
    i = (i + 1) & mask;
  }
  if (t->arena_len + len > t->arena_cap) {
    while (t->arena_len + len > t->arena_cap)
      t->arena_cap *= 2;
    t->arena = realloc(t->arena, t->arena_cap);
    SL_ASSERT(t->arena != NULL);
  }
  memcpy(t->arena + t->arena_len, key, len);
  t->slots[i] = (ct_slot){h, t->arena_len, len, v};
  t->arena_len += len;
  if (++t->n_used * 2 > t->n_slots)
    table_grow(t);
}

typedef struct ct_sort_ctx {
  const char *arena;
} ct_sort_ctx;

static int slot_cmp(const void *a, const void *b, void *arg) {
  const ct_sort_ctx *c = arg;
  const ct_slot *x = a, *y = b;
  size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
  int r = memcmp(c->arena + x->key_off, c->arena + y->key_off, n);
  if (r)
    return r;
  return x->key_len < y->key_len ? -1 : x->key_len > y->key_len;
}

static size_t put_i64(char *out, int64_t v) {
  char tmp[24];
  size_t n = 0;
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  do {
    tmp[n++] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  size_t len = 0;
  if (v < 0)
    out[len++] = '-';
  while (n)
    out[len++] = tmp[--n];
  return len;
}

/* Sorts the used slots by key and writes "key\ttotal\n" lines. */
static int table_write(ct_table *t, const char *path) {
  size_t n = 0;
  for (size_t i = 0; i < t->n_slots; i++)
    if (t->slots[i].hash)
      t->slots[n++] = t->slots[i];
  ct_sort_ctx c = {t->arena};
  qsort_r(t->slots, n, sizeof(ct_slot), slot_cmp, &c);
  FILE *f = fopen(path, "wb");
  if (!f) {
    fprintf(stderr, "bench-baseline: cannot create %s: %s\n", path,
            strerror(errno));
    return 1;
  }
  setvbuf(f, NULL, _IOFBF, CT_OUT_BUFFER_BYTES);
  char num[32];
  for (size_t i = 0; i < n; i++) {
    const ct_slot *s = &t->slots[i];
    fwrite(t->arena + s->key_off, 1, s->key_len, f);
    num[0] = '\t';
    size_t len = 1 + put_i64(num + 1, s->total);
    num[len++] = '\n';
    fwrite(num, 1, len, f);
  }
  int bad = ferror(f);
  if (fclose(f) != 0 || bad) {
    fprintf(stderr, "bench-baseline: cannot write %s\n", path);
    return 1;
  }
  return 0;
}

/* ---------------------------------------------------------------- input */

static int input_open(ct_input *in, const char *path) {
  in->path = path;
  in->fd = open(path, O_RDONLY);
  if (in->fd < 0) {
    fprintf(stderr, "bench-baseline: cannot open %s: %s\n", path,
            strerror(errno));
    return 1;
  }
  in->cap = 2 * (size_t)BL_READ_BLOCK_BYTES;
  in->buf = malloc(in->cap);
  SL_ASSERT(in->buf != NULL);
  in->len = 0;
  in->eof = false;
  return 0;
}

static void input_close(ct_input *in) {
  close(in->fd);
  free(in->buf);
}

/* Keeps the `keep` unconsumed bytes at the end of the buffer, moves them
 * to the front and reads one more block after them. Returns 0, or 1 on a
 * read error. */
static int input_refill(ct_input *in, size_t keep) {
  memmove(in->buf, in->buf + in->len - keep, keep);
  in->len = keep;
  if (in->cap - keep < BL_READ_BLOCK_BYTES) {
    in->cap = keep + BL_READ_BLOCK_BYTES;
    in->buf = realloc(in->buf, in->cap);
    SL_ASSERT(in->buf != NULL);
  }
  for (;;) {
    ssize_t n = read(in->fd, in->buf + in->len, BL_READ_BLOCK_BYTES);
    if (n >= 0) {
      in->len += (size_t)n;
      in->eof = n == 0;
      return 0;
    }
    if (errno != EINTR) {
      fprintf(stderr, "bench-baseline: cannot read %s: %s\n", in->path,
              strerror(errno));
      return 1;
    }
  }
}

/* ------------------------------------------------------------ wordcount */

typedef struct ct_space {
  bool is[256];
} ct_space;

static void space_init(ct_space *s) {
  memset(s->is, 0, sizeof s->is);
  s->is[' '] = s->is['\t'] = s->is['\n'] = true;
  s->is['\v'] = s->is['\f'] = s->is['\r'] = true;
}

/* Counts the complete words of buf[0, len); returns how many bytes at the
 * end belong to a word that may continue in the next block (0 at eof). */
static size_t count_words(ct_table *t, const ct_space *sp, const char *buf,
                          size_t len, bool eof) {
  const unsigned char *p = (const unsigned char *)buf, *end = p + len;
  for (;;) {
    while (p < end && sp->is[*p])
      p++;
    const unsigned char *start = p;
    while (p < end && !sp->is[*p])
      p++;
    if (p == end && !eof)
      return (size_t)(end - start);
    if (p == start)
      return 0;
    table_add(t, (const char *)start, (size_t)(p - start), 1);
  }
}

int bl_wordcount(const char *input, const char *output) {
  ct_input in;
  if (input_open(&in, input) != 0)
    return 1;
  ct_table t;
  table_init(&t);
  ct_space sp;
  space_init(&sp);
  int rc = 0;
  size_t keep = 0;
  do {
    if ((rc = input_refill(&in, keep)) != 0)
      goto out_free;
    keep = count_words(&t, &sp, in.buf, in.len, in.eof);
  } while (!in.eof);
  rc = table_write(&t, output);
out_free:
  table_free(&t);
  input_close(&in);
  return rc;
}

/* ------------------------------------------------------------- groupsum */

/* "key\tinteger": false for lines without a tab or a valid integer. */
static bool parse_kv(const char *line, size_t len, size_t *key_len,
                     int64_t *v) {
  const char *tab = memchr(line, '\t', len);
  if (!tab)
    return false;
  const char *p = tab + 1, *end = line + len;
  bool neg = p < end && *p == '-';
  p += neg;
  if (p == end)
    return false;
  uint64_t u = 0;
  for (; p < end; p++) {
    unsigned d = (unsigned)(*p - '0');
    if (d > 9)
      return false;
    u = u * 10 + d;
  }
  *key_len = (size_t)(tab - line);
  *v = neg ? (int64_t)(0 - u) : (int64_t)u;
  return true;
}

/* Sums the complete lines of buf[0, len); returns the bytes of a last line
 * without its '\n' (kept for the next block; parsed at eof). */
static size_t sum_lines(ct_table *t, const char *buf, size_t len, bool eof) {
  const char *p = buf, *end = buf + len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl && !eof)
      return (size_t)(end - p);
    const char *stop = nl ? nl : end;
    size_t key_len;
    int64_t v;
    if (parse_kv(p, (size_t)(stop - p), &key_len, &v))
      table_add(t, p, key_len, v);
    p = nl ? nl + 1 : end;
  }
  return 0;
}

int bl_groupsum(const char *input, const char *output) {
  ct_input in;
  if (input_open(&in, input) != 0)
    return 1;
  ct_table t;
  table_init(&t);
  int rc = 0;
  size_t keep = 0;
  do {
    if ((rc = input_refill(&in, keep)) != 0)
      goto out_free;
    keep = sum_lines(&t, in.buf, in.len, in.eof);
  } while (!in.eof);
  rc = table_write(&t, output);
out_free:
  table_free(&t);
  input_close(&in);
  return rc;
}
