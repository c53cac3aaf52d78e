/*
 * index.c — sparse index files, and Kafka's offset index.
 *
 * Kafka's `.index` maps offsets to file positions sparsely: an entry
 * (relative offset int32, position int32), both big-endian, is added once
 * more than index.interval.bytes were appended since the previous entry;
 * the key is the last offset of the batch and the position where it starts.
 * Lookup = greatest entry <= target, then scan forward in the .log.
 *
 * Kafka preallocates index files to segment.index.bytes and mmaps them,
 * trimming on roll. Here the file holds exactly the entries written so far;
 * the active segment keeps every entry in memory as well (binary search
 * without I/O) and writes the new ones on flush, roll and close. An older
 * segment's lookups binary-search the file with preads.
 */
#include <errno.h>
#include <string.h>

#include "base/assert.h"
#include "broker/log/log_internal.h"

void log__index_init(log__index *idx, uint32_t entry_bytes) {
  memset(idx, 0, sizeof *idx);
  idx->entry_bytes = entry_bytes;
  buf_init(&idx->mem);
}

int log__index_open(env_t *env, const char *path, log__index *idx,
                    bool truncate, bool *sane) {
  int flags = ENV_O_READ | ENV_O_WRITE | ENV_O_CREATE;
  if (truncate)
    flags |= ENV_O_TRUNC;
  int rc = env_file_open(env, path, flags, &idx->file);
  if (rc < 0)
    return rc;
  uint64_t size = 0;
  rc = env_file_size(idx->file, &size);
  if (rc < 0)
    return rc;
  *sane = size % idx->entry_bytes == 0 &&
          size / idx->entry_bytes <= (uint64_t)INT32_MAX;
  if (!*sane) {
    rc = env_file_truncate(idx->file, 0);
    if (rc < 0)
      return rc;
    size = 0;
    idx->needs_fsync = true;
  }
  idx->entries = (uint32_t)(size / idx->entry_bytes);
  idx->entries_written = idx->entries;
  return 0;
}

void log__index_close(log__index *idx) {
  env_file_close(idx->file);
  idx->file = NULL;
  buf_free(&idx->mem);
  idx->in_memory = false;
}

int log__index_load(log__index *idx) {
  if (idx->in_memory)
    return 0;
  size_t bytes = (size_t)idx->entries * idx->entry_bytes;
  buf_clear(&idx->mem);
  buf_reserve(&idx->mem, bytes);
  size_t got = 0;
  if (bytes > 0) {
    int rc = env_file_pread(idx->file, idx->mem.data, bytes, 0, &got);
    if (rc < 0)
      return rc;
    if (got != bytes)
      return -EIO;
  }
  idx->mem.len = bytes;
  idx->in_memory = true;
  return 0;
}

int log__index_write_pending(log__index *idx) {
  if (idx->entries_written == idx->entries)
    return 0;
  SL_ASSERT(idx->in_memory);
  size_t from = (size_t)idx->entries_written * idx->entry_bytes;
  size_t to = (size_t)idx->entries * idx->entry_bytes;
  int rc = env_file_pwrite(idx->file, idx->mem.data + from, to - from, from);
  if (rc < 0)
    return rc;
  idx->entries_written = idx->entries;
  idx->needs_fsync = true;
  return 0;
}

int log__index_unload(log__index *idx) {
  int rc = log__index_write_pending(idx);
  if (rc < 0)
    return rc;
  buf_free(&idx->mem);
  idx->in_memory = false;
  return 0;
}

int log__index_entry(const log__index *idx, uint32_t i, uint8_t *out) {
  SL_ASSERT(i < idx->entries);
  size_t at = (size_t)i * idx->entry_bytes;
  if (idx->in_memory) {
    memcpy(out, idx->mem.data + at, idx->entry_bytes);
    return 0;
  }
  size_t got = 0;
  int rc = env_file_pread(idx->file, out, idx->entry_bytes, at, &got);
  if (rc < 0)
    return rc;
  return got == idx->entry_bytes ? 0 : -EIO;
}

void log__index_push(log__index *idx, const uint8_t *entry) {
  SL_ASSERT(idx->in_memory);
  buf_append(&idx->mem, entry, idx->entry_bytes);
  idx->entries++;
}

int log__index_truncate(log__index *idx, uint32_t n) {
  if (n >= idx->entries)
    return 0;
  idx->entries = n;
  if (idx->in_memory)
    idx->mem.len = (size_t)n * idx->entry_bytes;
  if (idx->entries_written > n) {
    idx->entries_written = n;
    int rc = env_file_truncate(idx->file, (uint64_t)n * idx->entry_bytes);
    if (rc < 0)
      return rc;
    idx->needs_fsync = true;
  }
  return 0;
}

/* ------------------------------------------------------------ offset index */

void log__oindex_encode(uint8_t *out, int32_t rel_offset, int32_t position) {
  be32_store(out, (uint32_t)rel_offset);
  be32_store(out + 4, (uint32_t)position);
}

void log__oindex_decode(const uint8_t *in, int32_t *rel_offset,
                        int32_t *position) {
  *rel_offset = (int32_t)be32_load(in);
  *position = (int32_t)be32_load(in + 4);
}

int log__oindex_search(const log__index *idx, int32_t rel, int64_t *found,
                       int32_t *rel_out, int32_t *pos_out) {
  /* Invariant: entries [0, lo) have key <= rel, entries [hi, n) > rel. */
  uint32_t lo = 0, hi = idx->entries;
  uint8_t e[LOG__OINDEX_ENTRY_BYTES];
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    int rc = log__index_entry(idx, mid, e);
    if (rc < 0)
      return rc;
    int32_t k, p;
    log__oindex_decode(e, &k, &p);
    if (k <= rel)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = (int64_t)lo - 1;
  *rel_out = 0;
  *pos_out = 0;
  if (lo == 0)
    return 0;
  int rc = log__index_entry(idx, lo - 1, e);
  if (rc < 0)
    return rc;
  log__oindex_decode(e, rel_out, pos_out);
  return 0;
}

int log__oindex_count_below_pos(const log__index *idx, uint64_t pos,
                                uint32_t *n) {
  uint32_t lo = 0, hi = idx->entries;
  uint8_t e[LOG__OINDEX_ENTRY_BYTES];
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    int rc = log__index_entry(idx, mid, e);
    if (rc < 0)
      return rc;
    int32_t k, p;
    log__oindex_decode(e, &k, &p);
    if (p >= 0 && (uint64_t)p < pos)
      lo = mid + 1;
    else
      hi = mid;
  }
  *n = lo;
  return 0;
}
