/*
 * arena.c — the per-request bump allocator behind decoded messages.
 *
 * Chunks are chained newest first; an allocation that does not fit the
 * newest chunk opens a new one, twice as large as the last (up to
 * ARENA_CHUNK_BYTES_MAX, or exactly the request when it is larger). Reset
 * keeps only the oldest chunk, so a connection that reuses one arena for
 * small requests allocates nothing in the steady state.
 */
#include <glib.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "broker/proto/proto.h"

#define ARENA_CHUNK_BYTES_MIN ((size_t)4096)
#define ARENA_CHUNK_BYTES_MAX ((size_t)1024 * 1024)
/* Every allocation is aligned for any field type the codec stores. */
#define ARENA_ALIGN_BYTES ((size_t)alignof(max_align_t))

typedef struct arena_chunk {
  struct arena_chunk *older;
  size_t cap_bytes;
  size_t used_bytes;
  alignas(max_align_t) unsigned char data[];
} arena_chunk;

struct proto_arena {
  arena_chunk *newest;
  size_t used_bytes;
  size_t bytes_max; /* 0 = unbounded */
  size_t next_chunk_bytes;
};

static arena_chunk *chunk_new(size_t cap_bytes) {
  arena_chunk *c = g_malloc(sizeof *c + cap_bytes);
  c->older = NULL;
  c->cap_bytes = cap_bytes;
  c->used_bytes = 0;
  return c;
}

proto_arena *proto_arena_new(size_t bytes_max) {
  proto_arena *a = g_new0(proto_arena, 1);
  a->bytes_max = bytes_max;
  a->newest = chunk_new(ARENA_CHUNK_BYTES_MIN);
  a->next_chunk_bytes = ARENA_CHUNK_BYTES_MIN * 2;
  return a;
}

void proto_arena_free(proto_arena *a) {
  if (!a)
    return;
  arena_chunk *c = a->newest;
  while (c) {
    arena_chunk *older = c->older;
    g_free(c);
    c = older;
  }
  g_free(a);
}

void proto_arena_reset(proto_arena *a) {
  SL_ASSERT(a);
  arena_chunk *c = a->newest;
  while (c->older) {
    arena_chunk *older = c->older;
    g_free(c);
    c = older;
  }
  c->used_bytes = 0;
  a->newest = c;
  a->used_bytes = 0;
  a->next_chunk_bytes = c->cap_bytes * 2;
}

void *proto_arena_alloc(proto_arena *a, size_t size) {
  SL_ASSERT(a);
  if (size > SIZE_MAX / 2)
    return NULL;
  size_t need = (size + ARENA_ALIGN_BYTES - 1) & ~(ARENA_ALIGN_BYTES - 1);
  if (need == 0)
    need = ARENA_ALIGN_BYTES;
  if (a->bytes_max &&
      (need > a->bytes_max || a->used_bytes > a->bytes_max - need))
    return NULL;
  arena_chunk *c = a->newest;
  if (c->cap_bytes - c->used_bytes < need) {
    size_t cap = a->next_chunk_bytes;
    if (cap < need)
      cap = need;
    c = chunk_new(cap);
    c->older = a->newest;
    a->newest = c;
    if (a->next_chunk_bytes < ARENA_CHUNK_BYTES_MAX)
      a->next_chunk_bytes *= 2;
  }
  void *p = c->data + c->used_bytes;
  c->used_bytes += need;
  a->used_bytes += need;
  memset(p, 0, size);
  return p;
}

proto_str proto_arena_str(proto_arena *a, const char *data, int32_t len,
                          bool *ok) {
  if (ok)
    *ok = true;
  if (len < 0)
    return PROTO_STR_NULL;
  SL_ASSERT(data || len == 0);
  char *p = proto_arena_alloc(a, (size_t)len + 1);
  if (!p) {
    if (ok)
      *ok = false;
    return PROTO_STR_NULL;
  }
  if (len)
    memcpy(p, data, (size_t)len);
  p[len] = '\0';
  return (proto_str){p, len};
}

size_t proto_arena_used_bytes(const proto_arena *a) {
  SL_ASSERT(a);
  return a->used_bytes;
}
