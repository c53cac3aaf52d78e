/*
 * seeds.c — writes starting corpora for the fuzz targets, so a short run
 * begins from valid inputs of every shape instead of discovering them:
 *
 *   seeds proto DIR   for every described message and version, its body
 *                     with one element in every array, in fuzz_proto's
 *                     direct mode; plus request frames in stream mode;
 *   seeds batch DIR   record batches in every codec, with keys, values and
 *                     headers.
 *
 * Run by tests/fuzz/run.sh; not a fuzz target itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/log/batch.h"
#include "broker/proto/proto.h"

static int write_file(const char *dir, const char *name, const uint8_t *p,
                      size_t n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f) {
    perror(path);
    return -1;
  }
  int rc = (n && fwrite(p, 1, n, f) != n) ? -1 : 0;
  if (fclose(f) != 0)
    rc = -1;
  return rc;
}

/* One element in every array, "a" in every string, bytes {1}. Recursion is
 * bounded by the schema's nesting (PROTO_NESTING_MAX). */
static const int64_t zeros[2];

static void fill_one(proto_arena *a, const proto_struct *s, uint8_t *p) {
  for (uint16_t i = 0; i < s->field_count; i++) {
    const proto_field *f = &s->fields[i];
    uint8_t *slot = p + f->offset;
    if (f->type == PROTO_STRUCT && !f->is_array) {
      fill_one(a, f->sub, slot);
      continue;
    }
    if (f->is_array) {
      void *items;
      if (f->type == PROTO_STRUCT) {
        items = proto_new_array(a, f->sub, 1);
        fill_one(a, f->sub, items);
      } else if (f->type == PROTO_STRING) {
        proto_str *str = proto_arena_alloc(a, sizeof *str);
        *str = PROTO_STR_LIT("a");
        items = str;
      } else if (f->type == PROTO_BYTES) {
        proto_bytes *b = proto_arena_alloc(a, sizeof *b);
        *b = (proto_bytes){(const uint8_t *)"\1", 1};
        items = b;
      } else {
        items = proto_arena_alloc(a, 16);
        memcpy(items, zeros, sizeof zeros);
      }
      struct {
        void *items;
        int32_t count;
      } arr = {items, 1};
      memcpy(slot, &arr, sizeof arr);
    } else if (f->type == PROTO_STRING) {
      proto_str v = PROTO_STR_LIT("a");
      memcpy(slot, &v, sizeof v);
    } else if (f->type == PROTO_BYTES || f->type == PROTO_RECORDS) {
      proto_bytes v = {(const uint8_t *)"\1", 1};
      memcpy(slot, &v, sizeof v);
    }
  }
}

static int seeds_proto(const char *dir) {
  proto_arena *a = proto_arena_new(0);
  buf_t out = BUF_INIT;
  unsigned index = 0;
  int rc = 0;
  for (int key = 0; key < 128 && rc == 0; key++) {
    const proto_message *ms[2] = {proto_request_message((int16_t)key),
                                  proto_response_message((int16_t)key)};
    for (int k = 0; k < 2 && rc == 0; k++) {
      if (!ms[k])
        continue;
      const proto_message *m = ms[k];
      for (int v = m->versions.min; v <= m->versions.max && rc == 0; v++) {
        proto_arena_reset(a);
        void *body = proto_new(a, m->body);
        fill_one(a, m->body, body);
        buf_clear(&out);
        /* direct mode: odd mode byte, message index, version offset */
        buf_put_u8(&out, 1);
        buf_put_u8(&out, (uint8_t)index);
        buf_put_u8(&out, (uint8_t)(v - m->versions.min));
        if (proto_encode(m, (int16_t)v, body, &out) != 0) {
          fprintf(stderr, "seeds: cannot encode %s v%d\n", m->name, v);
          rc = -1;
          break;
        }
        char name[96];
        snprintf(name, sizeof name, "direct-%s-v%d", m->name, v);
        rc = write_file(dir, name, out.data, out.len);
        if (!m->is_response && rc == 0) {
          /* stream mode: even mode byte, then two request frames */
          buf_clear(&out);
          buf_put_u8(&out, 0);
          for (int copy = 0; copy < 2 && rc == 0; copy++)
            rc = proto_request_encode(&out, m->api_key, (int16_t)v, copy,
                                      "fuzz", body);
          snprintf(name, sizeof name, "stream-%s-v%d", m->name, v);
          if (rc == 0)
            rc = write_file(dir, name, out.data, out.len);
        }
      }
      index++;
    }
  }
  buf_free(&out);
  proto_arena_free(a);
  return rc;
}

static int seeds_batch(const char *dir) {
  int rc = 0;
  for (int codec = BATCH_CODEC_NONE; codec <= BATCH_CODEC_ZSTD && rc == 0;
       codec++) {
    batch_builder_opts opts = {.codec = (batch_codec)codec,
                               .base_offset = 0,
                               .base_timestamp = 1700000000000,
                               .producer_id = codec % 2 ? 42 : -1,
                               .producer_epoch = codec % 2 ? 0 : -1,
                               .base_sequence = codec % 2 ? 0 : -1,
                               .leader_epoch = -1};
    batch_builder *b = batch_builder_new(&opts);
    batch_record_header h = {(const uint8_t *)"hk", 2, (const uint8_t *)"hv",
                             2};
    batch_builder_add(b, 1700000000000, "k1", 2, "value-1", 7, NULL, 0);
    batch_builder_add(b, 1700000000001, NULL, -1, "value-2", 7, &h, 1);
    batch_builder_add(b, 1700000000002, "k3", 2, NULL, -1, NULL, 0);
    buf_t out = BUF_INIT;
    if (batch_builder_finish(b, -1, &out) != 0) {
      rc = -1;
    } else {
      char name[32];
      snprintf(name, sizeof name, "batch-codec%d", codec);
      rc = write_file(dir, name, out.data, out.len);
    }
    buf_free(&out);
  }
  return rc;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: seeds proto|batch DIR\n");
    return 2;
  }
  int rc = strcmp(argv[1], "proto") == 0   ? seeds_proto(argv[2])
           : strcmp(argv[1], "batch") == 0 ? seeds_batch(argv[2])
                                           : -2;
  if (rc == -2)
    fprintf(stderr, "seeds: unknown corpus %s\n", argv[1]);
  return rc ? 1 : 0;
}
