/*
 * rxbuf.c — see rxbuf.h. One contiguous buffer:
 *
 *   buf [0, start)      frames already returned (dead)
 *       [start, scan)   complete frames not yet returned
 *       [scan, len)     the start of the next frame (its prefix, if >= 4
 *                       bytes, is already checked)
 *       [len, cap)      free: what rxbuf_lend lends
 *
 * Memory moves only in rx_make_room (called by lend and by a copying
 * receive), and only the bytes in [start, len), so a frame read into a
 * loan sized for it is never copied.
 */
#include "base/rxbuf.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "base/buf.h"

#define RXBUF_CAP_MIN_BYTES (4 * RXBUF_READ_BYTES)

struct rxbuf {
  uint8_t *buf; /* [owned] NULL until the first byte */
  size_t cap;
  size_t start;
  size_t scan;
  size_t len;
  const uint8_t *lent; /* the last loan (buf + len then), or NULL */
  size_t lent_len;
  int32_t frame_bytes_min;
  int32_t frame_bytes_max;
  bool failed;
  uint64_t copied;
  char error[160];
};

rxbuf *rxbuf_new(int32_t frame_bytes_min, int32_t frame_bytes_max) {
  SL_ASSERT(frame_bytes_min > 0 && frame_bytes_min <= frame_bytes_max);
  rxbuf *rx = g_new0(rxbuf, 1);
  rx->frame_bytes_min = frame_bytes_min;
  rx->frame_bytes_max = frame_bytes_max;
  return rx;
}

void rxbuf_free(rxbuf *rx) {
  if (!rx)
    return;
  g_free(rx->buf);
  g_free(rx);
}

/* Makes room for `need` more bytes after len, moving [start, len) to the
 * front of the same or of a new block when there is not. */
static void rx_make_room(rxbuf *rx, size_t need) {
  if (rx->start == rx->len) {
    rx->start = rx->scan = rx->len = 0;
    if (rx->cap > RXBUF_KEEP_BYTES && rx->cap > need) {
      g_free(rx->buf);
      rx->buf = NULL;
      rx->cap = 0;
    }
  }
  if (rx->cap - rx->len >= need)
    return;
  size_t pending = rx->len - rx->start;
  SL_ASSERT(need <= SIZE_MAX / 4 - pending);
  if (rx->start > 0 && rx->cap - pending >= need) {
    memmove(rx->buf, rx->buf + rx->start, pending);
  } else {
    size_t cap = pending + need;
    /* Doubling while small keeps the moves amortised; a large frame gets
     * exactly its size. */
    if (cap < 2 * rx->cap && 2 * rx->cap <= RXBUF_KEEP_BYTES)
      cap = 2 * rx->cap;
    /* Room for several reads: a cut frame moves once per few reads. */
    if (cap < RXBUF_CAP_MIN_BYTES)
      cap = RXBUF_CAP_MIN_BYTES;
    uint8_t *buf = g_malloc(cap);
    if (pending > 0)
      memcpy(buf, rx->buf + rx->start, pending);
    g_free(rx->buf);
    rx->buf = buf;
    rx->cap = cap;
  }
  rx->copied += pending;
  rx->scan -= rx->start;
  rx->len -= rx->start;
  rx->start = 0;
}

/* Moves scan over the frames that are complete; checks each prefix as
 * soon as its 4 bytes are in. */
static void rx_scan(rxbuf *rx) {
  while (!rx->failed && rx->len - rx->scan >= RXBUF_PREFIX_BYTES) {
    int32_t size = (int32_t)be32_load(rx->buf + rx->scan);
    if (size < rx->frame_bytes_min || size > rx->frame_bytes_max) {
      rx->failed = true;
      snprintf(rx->error, sizeof rx->error,
               "frame size %ld outside the allowed %ld..%ld bytes", (long)size,
               (long)rx->frame_bytes_min, (long)rx->frame_bytes_max);
      return;
    }
    if (rx->len - rx->scan - RXBUF_PREFIX_BYTES < (size_t)size)
      return;
    rx->scan += RXBUF_PREFIX_BYTES + (size_t)size;
  }
}

uint8_t *rxbuf_lend(rxbuf *rx, size_t *len) {
  SL_ASSERT(rx && len);
  rx->lent = NULL;
  if (rx->failed)
    return NULL;
  size_t need = RXBUF_READ_BYTES;
  size_t have = rx->len - rx->scan;
  if (have >= RXBUF_PREFIX_BYTES) {
    /* rx_scan checked it, and the frame is not complete yet. */
    size_t frame = RXBUF_PREFIX_BYTES + be32_load(rx->buf + rx->scan);
    SL_ASSERT(frame > have);
    /* A large frame: exactly its rest, so it ends at the end of a read
     * and the next frame starts at the front of the buffer. Memory
     * follows the bytes that really arrive: when the buffer must grow,
     * it grows to about twice what this frame has brought so far, not
     * to the size its prefix announces. */
    if (frame >= RXBUF_READ_BYTES) {
      need = frame - have;
      size_t step = have > RXBUF_READ_BYTES ? have : RXBUF_READ_BYTES;
      if (rx->cap - (rx->len - rx->start) < need && need > step)
        need = step;
    }
  }
  rx_make_room(rx, need);
  rx->lent = rx->buf + rx->len;
  rx->lent_len = need;
  *len = need;
  return rx->buf + rx->len;
}

void rxbuf_received(rxbuf *rx, const uint8_t *data, size_t len) {
  SL_ASSERT(rx && (data || len == 0));
  const uint8_t *lent = rx->lent;
  rx->lent = NULL;
  if (rx->failed || len == 0)
    return;
  if (lent && data == lent) {
    SL_ASSERT(lent == rx->buf + rx->len && len <= rx->lent_len);
  } else {
    rx_make_room(rx, len);
    memcpy(rx->buf + rx->len, data, len);
    rx->copied += len;
  }
  rx->len += len;
  rx_scan(rx);
}

int rxbuf_next(rxbuf *rx, const uint8_t **frame, size_t *len) {
  SL_ASSERT(rx && frame && len);
  *frame = NULL;
  *len = 0;
  if (rx->start < rx->scan) {
    size_t size = be32_load(rx->buf + rx->start);
    *frame = rx->buf + rx->start + RXBUF_PREFIX_BYTES;
    *len = size;
    rx->start += RXBUF_PREFIX_BYTES + size;
    SL_ASSERT(rx->start <= rx->scan);
    return 1;
  }
  return rx->failed ? -1 : 0;
}

size_t rxbuf_buffered_bytes(const rxbuf *rx) {
  SL_ASSERT(rx);
  return rx->len - rx->start;
}

const char *rxbuf_error(const rxbuf *rx) {
  SL_ASSERT(rx);
  return rx->error;
}

uint64_t rxbuf_copied_bytes(const rxbuf *rx) {
  SL_ASSERT(rx);
  return rx->copied;
}
