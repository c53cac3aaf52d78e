/*
 * compress.c — the four record-batch codecs Kafka uses, over zlib, libsnappy,
 * liblz4 and libzstd (see compress.h for the formats chosen).
 *
 * Every decoder writes through one bounded "output window" helper: before
 * each call into a library it reserves at most (max_out - produced) + 1
 * bytes, so a library can never write more than one byte past the bound,
 * and that one byte is how an over-long stream is detected. The buffer grows
 * geometrically with what has actually been produced, so memory tracks the
 * real output, never a size claimed by the input.
 *
 * On any error the output buffer is put back to its length on entry, so a
 * caller never sees half a decompression.
 */
#include "broker/log/compress.h"

#include <limits.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "base/assert.h"
#include "broker/kerr.h"

/* First output window, and the largest single growth step: windows double
 * with the output produced so far, between these bounds. */
#define COMPRESS_WINDOW_MIN_BYTES (64u * 1024u)
#define COMPRESS_WINDOW_MAX_BYTES (16u * 1024u * 1024u)

/* snappy-java ("xerial") framing: an 8-byte magic, two big-endian int32
 * versions (current, minimum compatible), then chunks of
 * [int32 compressed length][raw snappy block]. */
#define XERIAL_HEADER_BYTES 16
#define XERIAL_CHUNK_PREFIX_BYTES 4
/* Uncompressed bytes per chunk we write (snappy-java's default block). */
#define XERIAL_CHUNK_BYTES (32u * 1024u)
#define XERIAL_VERSION 1
#define XERIAL_VERSION_COMPAT 1
static const uint8_t xerial_magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};

/* Stands in for a NULL input of length 0, so the libraries always get a
 * valid pointer. Never written. */
static const uint8_t compress_no_input[1] = {0};

/* Java's KafkaLZ4BlockOutputStream writes 64 KiB independent blocks; we
 * write the same shape so every reader that handles Java's frames handles
 * ours. */
#define LZ4_BLOCK_SIZE_ID LZ4F_max64KB

/* zstd level 3 is the library's and Kafka's default. */
#define ZSTD_LEVEL 3
/* Largest window (log2 bytes) a frame may ask the decoder to allocate:
 * libzstd's own default limit, which every standard compressor setting
 * stays within. Bounds decoder memory whatever the frame header claims. */
#define ZSTD_WINDOW_LOG_MAX 27

/* zlib's windowBits for deflate with the gzip wrapper (RFC 1952), which is
 * what Kafka's GZIPOutputStream writes and GZIPInputStream reads. */
#define GZIP_WINDOW_BITS (15 + 16)

/* ---- bounded output ---- */

typedef struct out_window {
  buf_t *out;
  size_t start_len; /* out->len on entry: restored on error */
  size_t max_out;   /* bound on bytes produced */
} out_window;

static size_t window_produced(const out_window *w) {
  return w->out->len - w->start_len;
}

/* Reserves the next region to decode into and returns its size in *room:
 * never more than (max_out - produced) + 1, so overrunning the bound by
 * even one byte is visible. */
static uint8_t *window_next(out_window *w, size_t *room) {
  size_t produced = window_produced(w);
  SL_ASSERT(produced <= w->max_out);
  size_t step = produced < COMPRESS_WINDOW_MIN_BYTES ? COMPRESS_WINDOW_MIN_BYTES
                                                     : produced;
  if (step > COMPRESS_WINDOW_MAX_BYTES)
    step = COMPRESS_WINDOW_MAX_BYTES;
  size_t allowed = w->max_out - produced;
  if (allowed < step)
    step = allowed + 1;
  buf_reserve(w->out, step);
  *room = step;
  return w->out->data + w->out->len;
}

/* Accounts n bytes written at the window; false when over the bound. */
static bool window_commit(out_window *w, size_t n) {
  w->out->len += n;
  return window_produced(w) <= w->max_out;
}

static int window_fail(out_window *w) {
  w->out->len = w->start_len;
  return KERR_CORRUPT_MESSAGE;
}

/* ---- gzip ---- */

static int gzip_encode(const uint8_t *in, size_t len, buf_t *out) {
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  int zr = deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED,
                        GZIP_WINDOW_BITS, 8, Z_DEFAULT_STRATEGY);
  SL_ASSERT(zr == Z_OK); /* only fails on out-of-memory */
  size_t in_pos = 0;
  for (;;) {
    size_t in_step = len - in_pos;
    if (in_step > UINT_MAX)
      in_step = UINT_MAX;
    zs.next_in = (Bytef *)(uintptr_t)(in + in_pos);
    zs.avail_in = (uInt)in_step;
    int flush = in_pos + in_step == len ? Z_FINISH : Z_NO_FLUSH;
    uLong bound = deflateBound(&zs, (uLong)in_step);
    buf_reserve(out, bound);
    zs.next_out = out->data + out->len;
    zs.avail_out = (uInt)(bound > UINT_MAX ? UINT_MAX : bound);
    uInt room = zs.avail_out;
    zr = deflate(&zs, flush);
    SL_ASSERT(zr == Z_OK || zr == Z_STREAM_END || zr == Z_BUF_ERROR);
    out->len += room - zs.avail_out;
    in_pos += in_step - zs.avail_in;
    if (zr == Z_STREAM_END)
      break;
  }
  deflateEnd(&zs);
  return KERR_NONE;
}

/* Accepts one or more concatenated gzip members (GZIPInputStream does). */
static int gzip_decode(const uint8_t *in, size_t len, out_window *w) {
  if (len > UINT_MAX)
    return window_fail(w);
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  int zr = inflateInit2(&zs, GZIP_WINDOW_BITS);
  SL_ASSERT(zr == Z_OK);
  zs.next_in = (Bytef *)(uintptr_t)in;
  zs.avail_in = (uInt)len;
  for (;;) {
    size_t room;
    zs.next_out = window_next(w, &room);
    zs.avail_out = (uInt)room;
    zr = inflate(&zs, Z_NO_FLUSH);
    if (!window_commit(w, room - zs.avail_out))
      goto out_fail;
    if (zr == Z_STREAM_END) {
      if (zs.avail_in == 0)
        break;
      if (inflateReset(&zs) != Z_OK)
        goto out_fail;
      continue;
    }
    /* Z_BUF_ERROR with input left means "output full": go round again.
     * Without input left it means the stream is truncated. */
    if (zr == Z_BUF_ERROR && zs.avail_in > 0 && zs.avail_out == 0)
      continue;
    if (zr != Z_OK)
      goto out_fail;
  }
  inflateEnd(&zs);
  return KERR_NONE;
out_fail:
  inflateEnd(&zs);
  return window_fail(w);
}

/* ---- snappy ---- */

static void snappy_encode_chunk(const uint8_t *in, size_t len, buf_t *out) {
  size_t bound = snappy_max_compressed_length(len);
  buf_reserve(out, XERIAL_CHUNK_PREFIX_BYTES + bound);
  size_t prefix_at = out->len;
  char *dst = (char *)out->data + prefix_at + XERIAL_CHUNK_PREFIX_BYTES;
  size_t written = bound;
  snappy_status st = snappy_compress((const char *)in, len, dst, &written);
  SL_ASSERT(st == SNAPPY_OK && written <= bound && written <= INT32_MAX);
  be32_store(out->data + prefix_at, (uint32_t)written);
  out->len += XERIAL_CHUNK_PREFIX_BYTES + written;
}

static int snappy_encode(const uint8_t *in, size_t len, buf_t *out) {
  buf_append(out, xerial_magic, sizeof xerial_magic);
  buf_put_be32(out, XERIAL_VERSION);
  buf_put_be32(out, XERIAL_VERSION_COMPAT);
  for (size_t pos = 0; pos < len; pos += XERIAL_CHUNK_BYTES) {
    size_t n = len - pos < XERIAL_CHUNK_BYTES ? len - pos : XERIAL_CHUNK_BYTES;
    snappy_encode_chunk(in + pos, n, out);
  }
  return KERR_NONE;
}

/* One raw snappy block. Its preamble states the uncompressed length, which
 * is checked against the bound before anything is allocated; libsnappy
 * then refuses any block whose contents disagree with the preamble. */
static bool snappy_decode_raw(const uint8_t *in, size_t len, out_window *w) {
  size_t ulen;
  if (snappy_uncompressed_length((const char *)in, len, &ulen) != SNAPPY_OK)
    return false;
  if (ulen > w->max_out - window_produced(w))
    return false;
  /* An empty block decodes to nothing; the buffer may have no storage yet,
   * and pointer arithmetic on NULL is undefined even when adding 0. */
  if (ulen == 0)
    return snappy_validate_compressed_buffer((const char *)in, len) ==
           SNAPPY_OK;
  buf_reserve(w->out, ulen);
  size_t written = ulen;
  if (snappy_uncompress((const char *)in, len,
                        (char *)w->out->data + w->out->len,
                        &written) != SNAPPY_OK ||
      written != ulen)
    return false;
  return window_commit(w, written);
}

static int snappy_decode(const uint8_t *in, size_t len, out_window *w) {
  if (len < sizeof xerial_magic ||
      memcmp(in, xerial_magic, sizeof xerial_magic) != 0)
    return snappy_decode_raw(in, len, w) ? KERR_NONE : window_fail(w);
  /* The version fields are not checked: snappy-java has only ever written
   * 1, and the chunk format has never changed. */
  if (len < XERIAL_HEADER_BYTES)
    return window_fail(w);
  size_t pos = XERIAL_HEADER_BYTES;
  while (pos < len) {
    if (len - pos < XERIAL_CHUNK_PREFIX_BYTES)
      return window_fail(w);
    uint32_t chunk_bytes = be32_load(in + pos);
    pos += XERIAL_CHUNK_PREFIX_BYTES;
    if (chunk_bytes > len - pos)
      return window_fail(w);
    if (!snappy_decode_raw(in + pos, chunk_bytes, w))
      return window_fail(w);
    pos += chunk_bytes;
  }
  return KERR_NONE;
}

/* ---- lz4 ---- */

static int lz4_encode(const uint8_t *in, size_t len, buf_t *out) {
  LZ4F_preferences_t prefs;
  memset(&prefs, 0, sizeof prefs);
  prefs.frameInfo.blockSizeID = LZ4_BLOCK_SIZE_ID;
  prefs.frameInfo.blockMode = LZ4F_blockIndependent;
  size_t bound = LZ4F_compressFrameBound(len, &prefs);
  buf_reserve(out, bound);
  size_t written =
      LZ4F_compressFrame(out->data + out->len, bound, in, len, &prefs);
  SL_ASSERT(!LZ4F_isError(written) && written <= bound);
  out->len += written;
  return KERR_NONE;
}

/* Accepts one or more concatenated frames. */
static int lz4_decode(const uint8_t *in, size_t len, out_window *w) {
  LZ4F_dctx *dctx = NULL;
  LZ4F_errorCode_t ec = LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION);
  SL_ASSERT(!LZ4F_isError(ec));
  size_t pos = 0;
  bool frame_done = false;
  for (;;) {
    size_t room;
    uint8_t *dst = window_next(w, &room);
    size_t dst_bytes = room;
    size_t src_bytes = len - pos;
    size_t hint =
        LZ4F_decompress(dctx, dst, &dst_bytes, in + pos, &src_bytes, NULL);
    if (LZ4F_isError(hint))
      goto out_fail;
    pos += src_bytes;
    if (!window_commit(w, dst_bytes))
      goto out_fail;
    frame_done = hint == 0;
    if (frame_done && pos == len)
      break;
    /* No progress with all input consumed: the frame is cut short. */
    if (pos == len && src_bytes == 0 && dst_bytes == 0)
      goto out_fail;
  }
  LZ4F_freeDecompressionContext(dctx);
  return KERR_NONE;
out_fail:
  LZ4F_freeDecompressionContext(dctx);
  return window_fail(w);
}

/* ---- zstd ---- */

static int zstd_encode(const uint8_t *in, size_t len, buf_t *out) {
  size_t bound = ZSTD_compressBound(len);
  buf_reserve(out, bound);
  size_t written =
      ZSTD_compress(out->data + out->len, bound, in, len, ZSTD_LEVEL);
  SL_ASSERT(!ZSTD_isError(written) && written <= bound);
  out->len += written;
  return KERR_NONE;
}

/* Streaming decode: a frame need not record its content size (streaming
 * producers omit it), so output is produced window by window. Accepts one
 * or more concatenated frames. */
static int zstd_decode(const uint8_t *in, size_t len, out_window *w) {
  ZSTD_DCtx *dctx = ZSTD_createDCtx();
  SL_ASSERT(dctx != NULL);
  size_t pr =
      ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, ZSTD_WINDOW_LOG_MAX);
  SL_ASSERT(!ZSTD_isError(pr));
  ZSTD_inBuffer src = {in, len, 0};
  for (;;) {
    size_t room;
    uint8_t *dst = window_next(w, &room);
    ZSTD_outBuffer ob = {dst, room, 0};
    size_t hint = ZSTD_decompressStream(dctx, &ob, &src);
    if (ZSTD_isError(hint))
      goto out_fail;
    if (!window_commit(w, ob.pos))
      goto out_fail;
    if (hint == 0 && src.pos == src.size)
      break;
    /* Output not full means everything decodable was flushed: if the
     * input is also used up, the frame is cut short. */
    if (src.pos == src.size && ob.pos < ob.size)
      goto out_fail;
  }
  ZSTD_freeDCtx(dctx);
  return KERR_NONE;
out_fail:
  ZSTD_freeDCtx(dctx);
  return window_fail(w);
}

/* ---- public ---- */

int compress_encode(batch_codec codec, const uint8_t *in, size_t len,
                    buf_t *out) {
  SL_ASSERT(out != NULL && (in != NULL || len == 0));
  if (in == NULL)
    in = compress_no_input;
  switch (codec) {
  case BATCH_CODEC_NONE:
    buf_append(out, in, len);
    return KERR_NONE;
  case BATCH_CODEC_GZIP:
    return gzip_encode(in, len, out);
  case BATCH_CODEC_SNAPPY:
    return snappy_encode(in, len, out);
  case BATCH_CODEC_LZ4:
    return lz4_encode(in, len, out);
  case BATCH_CODEC_ZSTD:
    return zstd_encode(in, len, out);
  }
  return KERR_UNSUPPORTED_COMPRESSION_TYPE;
}

int compress_decode(batch_codec codec, const uint8_t *in, size_t len,
                    size_t max_out, buf_t *out) {
  SL_ASSERT(out != NULL && (in != NULL || len == 0));
  if (in == NULL)
    in = compress_no_input;
  out_window w = {out, out->len, max_out};
  switch (codec) {
  case BATCH_CODEC_NONE:
    if (len > max_out)
      return window_fail(&w);
    buf_append(out, in, len);
    return KERR_NONE;
  case BATCH_CODEC_GZIP:
    return gzip_decode(in, len, &w);
  case BATCH_CODEC_SNAPPY:
    return snappy_decode(in, len, &w);
  case BATCH_CODEC_LZ4:
    return lz4_decode(in, len, &w);
  case BATCH_CODEC_ZSTD:
    return zstd_decode(in, len, &w);
  }
  return KERR_UNSUPPORTED_COMPRESSION_TYPE;
}
