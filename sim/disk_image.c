/*
 * disk_image.c — a file's bytes as a table of refcounted, copy-on-write
 * 4 KiB pages.
 *
 * Why pages: the volatile and durable images of a file are mostly equal,
 * and a log file can be hundreds of MB. Sharing pages makes an fsync cost
 * the bytes it covers (whole pages are shared by pointer) and a crash cost
 * one pointer per page, and keeps memory close to one copy of the data.
 * A NULL slot is a page of zeros (holes and preallocated files cost
 * nothing).
 */
#include <string.h>

#include "base/assert.h"
#include "sim/disk_internal.h"

static size_t pages_for(uint64_t size_bytes) {
  return (size_t)((size_bytes + SIM_DISK__PAGE_BYTES - 1) /
                  SIM_DISK__PAGE_BYTES);
}

static void page_unref(sim_disk__page *p) {
  if (p && --p->refs == 0)
    g_free(p);
}

void sim_disk__image_init(sim_disk__image *img) { memset(img, 0, sizeof *img); }

void sim_disk__image_free(sim_disk__image *img) {
  if (!img)
    return;
  for (size_t i = 0; i < img->pages_len; i++)
    page_unref(img->pages[i]);
  g_free(img->pages);
  sim_disk__image_init(img);
}

/* Grows the slot table to cover size_bytes; new slots are zero pages. */
static void grow_to(sim_disk__image *img, uint64_t size_bytes) {
  SL_ASSERT(size_bytes <= SIM_DISK__FILE_BYTES_MAX);
  if (size_bytes <= img->size_bytes)
    return;
  size_t need = pages_for(size_bytes);
  if (need > img->pages_cap) {
    size_t cap = img->pages_cap ? img->pages_cap : 4;
    while (cap < need)
      cap *= 2;
    img->pages = g_renew(sim_disk__page *, img->pages, cap);
    img->pages_cap = cap;
  }
  for (size_t i = img->pages_len; i < need; i++)
    img->pages[i] = NULL;
  img->pages_len = need;
  img->size_bytes = size_bytes;
}

/* The page at slot i, private to this image (allocated or unshared). */
static sim_disk__page *page_writable(sim_disk__image *img, size_t i) {
  SL_ASSERT(i < img->pages_len);
  sim_disk__page *p = img->pages[i];
  if (!p) {
    p = g_new0(sim_disk__page, 1);
    p->refs = 1;
    img->pages[i] = p;
  } else if (p->refs > 1) {
    sim_disk__page *copy = g_new(sim_disk__page, 1);
    memcpy(copy->bytes, p->bytes, SIM_DISK__PAGE_BYTES);
    copy->refs = 1;
    p->refs--;
    img->pages[i] = copy;
    p = copy;
  }
  return p;
}

size_t sim_disk__image_read(const sim_disk__image *img, uint64_t offset,
                            void *buf, size_t len) {
  if (offset >= img->size_bytes)
    return 0;
  uint64_t avail = img->size_bytes - offset;
  size_t n = len < avail ? len : (size_t)avail;
  uint8_t *out = buf;
  size_t done = 0;
  while (done < n) {
    uint64_t pos = offset + done;
    size_t i = (size_t)(pos / SIM_DISK__PAGE_BYTES);
    size_t in_page = (size_t)(pos % SIM_DISK__PAGE_BYTES);
    size_t chunk = SIM_DISK__PAGE_BYTES - in_page;
    if (chunk > n - done)
      chunk = n - done;
    const sim_disk__page *p = img->pages[i];
    if (p)
      memcpy(out + done, p->bytes + in_page, chunk);
    else
      memset(out + done, 0, chunk);
    done += chunk;
  }
  return n;
}

/* What a NULL slot reads as. */
static const uint8_t zero_page[SIM_DISK__PAGE_BYTES];

const uint8_t *sim_disk__image_at(const sim_disk__image *img, uint64_t offset) {
  SL_ASSERT(offset < img->size_bytes);
  const sim_disk__page *p = img->pages[offset / SIM_DISK__PAGE_BYTES];
  size_t in_page = (size_t)(offset % SIM_DISK__PAGE_BYTES);
  return (p ? p->bytes : zero_page) + in_page;
}

void sim_disk__image_write(sim_disk__image *img, uint64_t offset,
                           const void *data, size_t len) {
  if (len == 0)
    return;
  grow_to(img, offset + len);
  const uint8_t *in = data;
  size_t done = 0;
  while (done < len) {
    uint64_t pos = offset + done;
    size_t i = (size_t)(pos / SIM_DISK__PAGE_BYTES);
    size_t in_page = (size_t)(pos % SIM_DISK__PAGE_BYTES);
    size_t chunk = SIM_DISK__PAGE_BYTES - in_page;
    if (chunk > len - done)
      chunk = len - done;
    memcpy(page_writable(img, i)->bytes + in_page, in + done, chunk);
    done += chunk;
  }
}

void sim_disk__image_truncate(sim_disk__image *img, uint64_t size_bytes) {
  if (size_bytes >= img->size_bytes) {
    grow_to(img, size_bytes);
    return;
  }
  size_t keep = pages_for(size_bytes);
  for (size_t i = keep; i < img->pages_len; i++) {
    page_unref(img->pages[i]);
    img->pages[i] = NULL;
  }
  img->pages_len = keep;
  img->size_bytes = size_bytes;
  /* Restore the invariant: the cut tail of the last page reads as zeros
   * if the file grows again. */
  size_t tail = (size_t)(size_bytes % SIM_DISK__PAGE_BYTES);
  if (tail != 0 && img->pages[keep - 1]) {
    sim_disk__page *p = page_writable(img, keep - 1);
    memset(p->bytes + tail, 0, SIM_DISK__PAGE_BYTES - tail);
  }
}

void sim_disk__image_copy_range(sim_disk__image *dst,
                                const sim_disk__image *src, uint64_t offset,
                                uint64_t len) {
  if (len == 0)
    return;
  SL_ASSERT(offset + len <= src->size_bytes);
  grow_to(dst, offset + len);
  uint64_t end = offset + len;
  uint64_t pos = offset;
  while (pos < end) {
    size_t i = (size_t)(pos / SIM_DISK__PAGE_BYTES);
    size_t in_page = (size_t)(pos % SIM_DISK__PAGE_BYTES);
    uint64_t chunk = SIM_DISK__PAGE_BYTES - in_page;
    if (chunk > end - pos)
      chunk = end - pos;
    sim_disk__page *sp = src->pages[i];
    if (chunk == SIM_DISK__PAGE_BYTES) {
      /* The whole page is in range, so both images agree on all of it. */
      if (dst->pages[i] != sp) {
        page_unref(dst->pages[i]);
        if (sp)
          sp->refs++;
        dst->pages[i] = sp;
      }
    } else if (dst->pages[i] != sp) {
      sim_disk__page *dp = page_writable(dst, i);
      if (sp)
        memcpy(dp->bytes + in_page, sp->bytes + in_page, (size_t)chunk);
      else
        memset(dp->bytes + in_page, 0, (size_t)chunk);
    }
    pos += chunk;
  }
}

void sim_disk__image_clone(sim_disk__image *dst, const sim_disk__image *src) {
  SL_ASSERT(dst->pages_len == 0 && dst->size_bytes == 0);
  if (src->size_bytes == 0)
    return;
  grow_to(dst, src->size_bytes);
  for (size_t i = 0; i < src->pages_len; i++) {
    dst->pages[i] = src->pages[i];
    if (dst->pages[i])
      dst->pages[i]->refs++;
  }
}

void sim_disk__image_flip_bit(sim_disk__image *img, uint64_t offset, int bit) {
  SL_ASSERT(offset < img->size_bytes && bit >= 0 && bit < 8);
  size_t i = (size_t)(offset / SIM_DISK__PAGE_BYTES);
  sim_disk__page *p = page_writable(img, i);
  p->bytes[offset % SIM_DISK__PAGE_BYTES] ^= (uint8_t)(1u << bit);
}
