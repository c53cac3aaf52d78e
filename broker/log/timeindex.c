/*
 * timeindex.c — Kafka's time index.
 *
 * `.timeindex` entries are (timestamp int64, relative offset int32),
 * big-endian, 12 bytes. They are written next to offset-index entries and
 * hold the segment's running maximum timestamp and the (last) offset of
 * the batch that reached it, appended only when the maximum grows; the last
 * entry of a rolled segment is its overall maximum. So an entry (T, O)
 * promises: every record at an offset <= O has a timestamp <= T. A search
 * for timestamp t takes the greatest entry with T < t (strictly: records
 * at O could equal t otherwise) and scans from O + 1.
 */
#include <string.h>

#include "broker/log/log_internal.h"

void log__tindex_encode(uint8_t *out, int64_t timestamp, int32_t rel_offset) {
  be64_store(out, (uint64_t)timestamp);
  be32_store(out + 8, (uint32_t)rel_offset);
}

void log__tindex_decode(const uint8_t *in, int64_t *timestamp,
                        int32_t *rel_offset) {
  *timestamp = (int64_t)be64_load(in);
  *rel_offset = (int32_t)be32_load(in + 8);
}

int log__tindex_search_before(const log__index *idx, int64_t ts, int64_t *found,
                              int64_t *ts_out, int32_t *rel_out) {
  /* Entries have increasing timestamps: [0, lo) are < ts. */
  uint32_t lo = 0, hi = idx->entries;
  uint8_t e[LOG__TINDEX_ENTRY_BYTES];
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    int rc = log__index_entry(idx, mid, e);
    if (rc < 0)
      return rc;
    int64_t t;
    int32_t r;
    log__tindex_decode(e, &t, &r);
    if (t < ts)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = (int64_t)lo - 1;
  *ts_out = -1;
  *rel_out = 0;
  if (lo == 0)
    return 0;
  int rc = log__index_entry(idx, lo - 1, e);
  if (rc < 0)
    return rc;
  log__tindex_decode(e, ts_out, rel_out);
  return 0;
}

int log__tindex_count_upto_rel(const log__index *idx, int32_t rel,
                               uint32_t *n) {
  uint32_t lo = 0, hi = idx->entries;
  uint8_t e[LOG__TINDEX_ENTRY_BYTES];
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    int rc = log__index_entry(idx, mid, e);
    if (rc < 0)
      return rc;
    int64_t t;
    int32_t r;
    log__tindex_decode(e, &t, &r);
    if (r <= rel)
      lo = mid + 1;
    else
      hi = mid;
  }
  *n = lo;
  return 0;
}

int log__tindex_last(const log__index *idx, bool *has, int64_t *ts,
                     int32_t *rel) {
  *has = idx->entries > 0;
  *ts = -1;
  *rel = 0;
  if (!*has)
    return 0;
  uint8_t e[LOG__TINDEX_ENTRY_BYTES];
  int rc = log__index_entry(idx, idx->entries - 1, e);
  if (rc < 0)
    return rc;
  log__tindex_decode(e, ts, rel);
  return 0;
}
