/*
 * fuzz_batch.c — libFuzzer target for broker/log/batch.h: batch_validate
 * (client and log rules, with and without decoding every record) and the
 * record iterator, on arbitrary bytes.
 *
 * Each input is tried twice: as it is, and with its CRC recomputed (when
 * it is long enough to have one), so mutations get past the checksum into
 * the record checks instead of stopping there.
 *
 * Properties beyond "no crash": a batch that validates with check_records
 * under the client rules iterates to exactly record_count records and then
 * ends cleanly (aborts otherwise).
 *
 * Build and run: tests/fuzz/run.sh BUILD SECONDS.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/kerr.h"
#include "broker/log/batch.h"

/* Bounds the work per input (a batch may claim many records). */
#define FUZZ_RECORDS_MAX 100000

static unsigned touch(const uint8_t *p, int32_t len) {
  unsigned sum = 0;
  for (int32_t i = 0; i < len; i++)
    sum += p[i];
  return sum;
}

/* Iterates; returns the number of records, or -1 on an iterator error. */
static long iterate(const uint8_t *p, size_t len) {
  int err = 0;
  batch_iter *it = batch_iter_new(p, len, &err);
  if (!it)
    return -1;
  batch_record rec;
  long n = 0;
  int rc;
  volatile unsigned sink = 0;
  while (n < FUZZ_RECORDS_MAX && (rc = batch_iter_next(it, &rec)) == 1) {
    if (rec.key_len > 0)
      sink += touch(rec.key, rec.key_len);
    if (rec.value_len > 0)
      sink += touch(rec.value, rec.value_len);
    int32_t kept = rec.header_count < BATCH_RECORD_HEADERS_MAX
                       ? rec.header_count
                       : BATCH_RECORD_HEADERS_MAX;
    for (int32_t h = 0; h < kept; h++) {
      if (rec.headers[h].key_len > 0)
        sink += touch(rec.headers[h].key, rec.headers[h].key_len);
      if (rec.headers[h].value_len > 0)
        sink += touch(rec.headers[h].value, rec.headers[h].value_len);
    }
    n++;
  }
  (void)sink;
  batch_iter_free(it);
  return rc < 0 ? -1 : n;
}

static void check(uint8_t *p, size_t size) {
  const batch_limits client = {
      .max_bytes = 1048588, .allow_control = false, .check_records = true};
  const batch_limits log = {
      .max_bytes = 0, .allow_control = true, .check_records = true};
  const batch_limits shallow = {
      .max_bytes = 0, .allow_control = false, .check_records = false};
  int rc_client = batch_validate(p, size, &client);
  (void)batch_validate(p, size, &log);
  (void)batch_validate(p, size, &shallow);
  long n = iterate(p, size);
  if (rc_client == KERR_NONE) {
    batch_header h;
    if (batch_header_parse(p, size, &h) != 0)
      abort();
    if (h.record_count <= FUZZ_RECORDS_MAX && n != h.record_count)
      abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Exact-size copy: reads past the end show in ASan. */
  uint8_t *p = malloc(size ? size : 1);
  if (size)
    memcpy(p, data, size);
  check(p, size);
  if (size >= BATCH_HEADER_BYTES) {
    uint32_t crc = batch_compute_crc(p, size);
    p[BATCH_OFF_CRC] = (uint8_t)(crc >> 24);
    p[BATCH_OFF_CRC + 1] = (uint8_t)(crc >> 16);
    p[BATCH_OFF_CRC + 2] = (uint8_t)(crc >> 8);
    p[BATCH_OFF_CRC + 3] = (uint8_t)crc;
    check(p, size);
  }
  free(p);
  return 0;
}
