/*
 * disk.c — the simulated disk: lifecycle, inodes and their references,
 * open files, file data and its pending changes, fault switches and
 * inspection. Paths and directories live in disk_names.c, fsync and crash
 * in disk_sync.c, page images in disk_image.c; disk_internal.h describes
 * the model they share.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/env.h"
#include "sim/disk_internal.h"

/* ------------------------------------------------------------- inodes */

static void all_insert(sim_disk_t *d, sim_disk__inode *ino) {
  ino->all_prev = NULL;
  ino->all_next = d->all;
  if (d->all)
    d->all->all_prev = ino;
  d->all = ino;
}

static void all_remove(sim_disk_t *d, sim_disk__inode *ino) {
  if (ino->all_prev)
    ino->all_prev->all_next = ino->all_next;
  else
    d->all = ino->all_next;
  if (ino->all_next)
    ino->all_next->all_prev = ino->all_prev;
  ino->all_prev = ino->all_next = NULL;
}

sim_disk__inode *sim_disk__inode_new(sim_disk_t *d, bool is_dir) {
  sim_disk__inode *ino = g_new0(sim_disk__inode, 1);
  ino->id = d->inode_id_next++;
  ino->is_dir = is_dir;
  if (is_dir) {
    ino->ventries = sim_disk__entries_new();
    ino->dentries = sim_disk__entries_new();
    ino->dirops = g_array_new(FALSE, FALSE, sizeof(sim_disk__dirop));
    ino->dirops_last =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  } else {
    sim_disk__image_init(&ino->vol);
    sim_disk__image_init(&ino->dur);
    ino->events = g_array_new(FALSE, FALSE, sizeof(sim_disk__event));
  }
  all_insert(d, ino);
  return ino;
}

void sim_disk__ref(sim_disk__inode *ino) {
  SL_ASSERT(ino->refs < UINT32_MAX);
  ino->refs++;
}

void sim_disk__inode_destroy(sim_disk_t *d, sim_disk__inode *ino) {
  all_remove(d, ino);
  if (ino->is_dir) {
    g_tree_destroy(ino->ventries);
    g_tree_destroy(ino->dentries);
    sim_disk__dirops_clear(d, ino, false);
    g_array_free(ino->dirops, TRUE);
    g_hash_table_destroy(ino->dirops_last);
  } else {
    d->volatile_bytes -= ino->vol.size_bytes;
    sim_disk__image_free(&ino->vol);
    sim_disk__image_free(&ino->dur);
    g_array_free(ino->events, TRUE);
  }
  g_free(ino->name);
  g_free(ino);
}

/* Entries of a dying directory's durable table lose their durable link. */
static gboolean unref_entry(gpointer key, gpointer value, gpointer data) {
  sim_disk_t *d = data;
  sim_disk__inode *child = value;
  SL_ASSERT(child->dlinks > 0);
  child->dlinks--;
  sim_disk__unref(d, child);
  return FALSE;
}

/* Frees one unreferenced inode; what it referenced is unref'd, which may
 * push more inodes onto the free stack (an explicit stack, not recursion:
 * a deep directory tree must not blow the C stack). */
static void inode_free(sim_disk_t *d, sim_disk__inode *ino) {
  SL_ASSERT(ino->refs == 0 && ino->dlinks == 0 && ino->parent == NULL);
  SL_ASSERT(ino != d->root);
  if (ino->is_dir) {
    SL_ASSERT(g_tree_nnodes(ino->ventries) == 0);
    g_tree_foreach(ino->dentries, unref_entry, d);
    sim_disk__dirops_clear(d, ino, true);
  }
  sim_disk__inode_destroy(d, ino);
}

void sim_disk__unref(sim_disk_t *d, sim_disk__inode *ino) {
  SL_ASSERT(ino->refs > 0);
  if (--ino->refs > 0)
    return;
  g_ptr_array_add(d->free_stack, ino);
  if (d->freeing)
    return;
  d->freeing = true;
  while (d->free_stack->len > 0) {
    sim_disk__inode *victim =
        g_ptr_array_steal_index(d->free_stack, d->free_stack->len - 1);
    inode_free(d, victim);
  }
  d->freeing = false;
}

/* ------------------------------------------------------ pending events */

static sim_disk__event *event_at(sim_disk__inode *f, size_t i) {
  return &g_array_index(f->events, sim_disk__event, i);
}

/* Drops consumed events from the front once they are most of the array,
 * so the array stays proportional to what is pending. */
static void events_compact(sim_disk__inode *f) {
  if (f->events_head == f->events->len) {
    g_array_set_size(f->events, 0);
    f->events_head = 0;
  } else if (f->events_head > 64 && f->events_head * 2 > f->events->len) {
    g_array_remove_range(f->events, 0, (guint)f->events_head);
    f->events_head = 0;
  }
}

/* Records that [offset, offset+len) changed at seq. Joins the previous
 * write if the ranges touch and no fsync began since it, so an append-heavy
 * file keeps one pending range per fsync interval. */
static void event_add_write(sim_disk__inode *f, uint64_t offset, uint64_t len,
                            uint64_t seq) {
  if (f->events->len > f->events_head) {
    sim_disk__event *last = event_at(f, f->events->len - 1);
    uint64_t last_end = last->offset + last->len;
    if (!last->is_truncate && last->len > 0 && last->seq > f->last_begin_seq &&
        offset <= last_end && last->offset <= offset + len) {
      uint64_t end = offset + len > last_end ? offset + len : last_end;
      last->offset = offset < last->offset ? offset : last->offset;
      last->len = end - last->offset;
      last->seq = seq;
      return;
    }
  }
  sim_disk__event e = {.seq = seq, .offset = offset, .len = len};
  g_array_append_val(f->events, e);
}

/* A shrink: pending writes lose what lies beyond the new end (the page
 * cache dropped those bytes, so no crash can resurrect them). */
static void event_add_shrink(sim_disk__inode *f, uint64_t size_bytes,
                             uint64_t seq) {
  for (size_t i = f->events_head; i < f->events->len; i++) {
    sim_disk__event *e = event_at(f, i);
    if (e->is_truncate || e->offset + e->len <= size_bytes)
      continue;
    e->len = e->offset >= size_bytes ? 0 : size_bytes - e->offset;
  }
  sim_disk__event e = {.seq = seq, .offset = size_bytes, .is_truncate = true};
  g_array_append_val(f->events, e);
}

void sim_disk__orphan_check(sim_disk_t *d, sim_disk__inode *f) {
  if (f->is_dir || f->parent != NULL || f->handles > 0)
    return;
  d->volatile_bytes -= f->vol.size_bytes;
  sim_disk__image_free(&f->vol);
  g_array_set_size(f->events, 0);
  f->events_head = 0;
}

void sim_disk__events_forget(sim_disk__inode *f, uint64_t seq) {
  /* Writes up to seq are lost for good; a truncate is metadata (journaled
   * apart from the data) and stays pending like any unsynced change. */
  size_t i = f->events_head;
  for (; i < f->events->len && event_at(f, i)->seq <= seq; i++)
    if (!event_at(f, i)->is_truncate)
      event_at(f, i)->len = 0;
  /* Nothing left in front but forgotten writes: drop them. */
  while (f->events_head < i && !event_at(f, f->events_head)->is_truncate)
    f->events_head++;
  events_compact(f);
}

void sim_disk__events_commit(sim_disk__inode *f, uint64_t seq) {
  while (f->events_head < f->events->len) {
    const sim_disk__event *e = event_at(f, f->events_head);
    if (e->seq > seq)
      break;
    if (e->is_truncate)
      sim_disk__image_truncate(&f->dur, e->offset);
    else
      sim_disk__image_copy_range(&f->dur, &f->vol, e->offset, e->len);
    f->events_head++;
  }
  events_compact(f);
}

/* ----------------------------------------------------------- lifecycle */

sim_disk_t *sim_disk_new(void) {
  sim_disk_t *d = g_new0(sim_disk_t, 1);
  d->inode_id_next = 1;
  d->handle_id_next = 1;
  d->ticket_id_next = 1;
  d->walk_next = 1;
  d->handles = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, g_free);
  d->tickets = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, g_free);
  d->free_stack = g_ptr_array_new();
  d->root = sim_disk__inode_new(d, true);
  d->root->name = g_strdup("");
  d->root->refs = 1; /* the root is never freed */
  return d;
}

void sim_disk_free(sim_disk_t *d) {
  if (!d)
    return;
  /* Tickets and handles point at inodes: drop them first, then free every
   * inode without reference bookkeeping. */
  g_hash_table_destroy(d->tickets);
  g_hash_table_destroy(d->handles);
  while (d->all)
    sim_disk__inode_destroy(d, d->all);
  g_ptr_array_free(d->free_stack, TRUE);
  g_free(d);
}

/* -------------------------------------------------------------- files */

int sim_disk_open(sim_disk_t *d, const char *path, int flags,
                  sim_disk_file_t **out) {
  SL_ASSERT(d && path && out);
  *out = NULL;
  sim_disk__inode *ino = NULL;
  if (g_hash_table_size(d->handles) >= SIM_DISK__HANDLES_MAX)
    return -EMFILE;
  int rc = sim_disk__open_inode(d, path, flags, &ino);
  if (rc != 0)
    return rc;

  sim_disk_file_t *f = g_new0(sim_disk_file_t, 1);
  f->disk = d;
  f->id = d->handle_id_next++;
  f->inode = ino;
  f->flags = flags;
  sim_disk__ref(ino);
  ino->handles++;
  g_hash_table_insert(d->handles, &f->id, f);
  if ((flags & ENV_O_TRUNC) && ino->vol.size_bytes > 0) {
    d->volatile_bytes -= ino->vol.size_bytes;
    sim_disk__image_truncate(&ino->vol, 0);
    event_add_shrink(ino, 0, ++d->seq);
  }
  *out = f;
  return 0;
}

void sim_disk_close(sim_disk_t *d, sim_disk_file_t *f) {
  if (!f)
    return;
  SL_ASSERT(f->disk == d);
  sim_disk__inode *ino = f->inode;
  g_hash_table_remove(d->handles, &f->id); /* frees f */
  SL_ASSERT(ino->handles > 0);
  ino->handles--;
  sim_disk__orphan_check(d, ino);
  sim_disk__unref(d, ino);
}

/* Checks a write of [offset, offset+len) against limits and capacity. */
static int write_admit(sim_disk_t *d, sim_disk__inode *ino, uint64_t offset,
                       uint64_t len) {
  if (offset > SIM_DISK__FILE_BYTES_MAX ||
      len > SIM_DISK__FILE_BYTES_MAX - offset)
    return -EFBIG;
  uint64_t end = offset + len;
  uint64_t growth = end > ino->vol.size_bytes ? end - ino->vol.size_bytes : 0;
  if (d->capacity_bytes != 0 && growth > 0 &&
      d->volatile_bytes + growth > d->capacity_bytes)
    return -ENOSPC;
  return 0;
}

int sim_disk_pwrite(sim_disk_t *d, sim_disk_file_t *f, const void *data,
                    size_t len, uint64_t offset) {
  SL_ASSERT(f && f->disk == d && (data || len == 0));
  if (!(f->flags & ENV_O_WRITE))
    return -EBADF;
  if (d->fail_write) {
    d->fail_write = false;
    return -EIO;
  }
  if (len == 0)
    return 0;
  sim_disk__inode *ino = f->inode;
  int rc = write_admit(d, ino, offset, len);
  if (rc != 0)
    return rc;
  uint64_t old_size = ino->vol.size_bytes;
  sim_disk__image_write(&ino->vol, offset, data, len);
  d->volatile_bytes += ino->vol.size_bytes - old_size;
  /* A write past the end also made the gap zeros: that is part of the
   * change, so it is durable (or lost) together with the bytes. */
  uint64_t start = offset < old_size ? offset : old_size;
  event_add_write(ino, start, offset + len - start, ++d->seq);
  return 0;
}

int sim_disk_append(sim_disk_t *d, sim_disk_file_t *f, const void *data,
                    size_t len) {
  SL_ASSERT(f && f->disk == d);
  return sim_disk_pwrite(d, f, data, len, f->inode->vol.size_bytes);
}

int sim_disk_pread(sim_disk_t *d, sim_disk_file_t *f, void *buf, size_t len,
                   uint64_t offset, size_t *n_read) {
  SL_ASSERT(f && f->disk == d && n_read && (buf || len == 0));
  *n_read = 0;
  if (!(f->flags & ENV_O_READ))
    return -EBADF;
  if (d->fail_read) {
    d->fail_read = false;
    return -EIO;
  }
  *n_read = sim_disk__image_read(&f->inode->vol, offset, buf, len);
  return 0;
}

/* Empty views point here (never NULL). */
static const uint8_t view_empty[1];

int sim_disk_view(sim_disk_t *d, sim_disk_file_t *f, uint64_t offset,
                  size_t len, sim_disk_scratch_fn scratch, void *scratch_arg,
                  const uint8_t **out) {
  SL_ASSERT(f && f->disk == d && scratch && out);
  *out = NULL;
  /* The same checks, in the same order, as sim_disk_pread: a view uses up
   * an injected read EIO exactly as a pread would. */
  if (!(f->flags & ENV_O_READ))
    return -EBADF;
  if (d->fail_read) {
    d->fail_read = false;
    return -EIO;
  }
  const sim_disk__image *img = &f->inode->vol;
  if (offset > img->size_bytes || len > img->size_bytes - offset)
    return -ERANGE;
  if (len == 0) {
    *out = view_empty;
    return 0;
  }
  size_t in_page = (size_t)(offset % SIM_DISK__PAGE_BYTES);
  if (len <= SIM_DISK__PAGE_BYTES - in_page) {
    *out = sim_disk__image_at(img, offset);
    return 0;
  }
  uint8_t *copy = scratch(scratch_arg, len);
  size_t n = sim_disk__image_read(img, offset, copy, len);
  SL_ASSERT(n == len);
  *out = copy;
  return 0;
}

int sim_disk_size(sim_disk_t *d, sim_disk_file_t *f, uint64_t *size) {
  SL_ASSERT(f && f->disk == d && size);
  *size = f->inode->vol.size_bytes;
  return 0;
}

int sim_disk_truncate(sim_disk_t *d, sim_disk_file_t *f, uint64_t size) {
  SL_ASSERT(f && f->disk == d);
  if (!(f->flags & ENV_O_WRITE))
    return -EBADF;
  sim_disk__inode *ino = f->inode;
  uint64_t old_size = ino->vol.size_bytes;
  if (size == old_size)
    return 0;
  if (size > old_size) {
    int rc = write_admit(d, ino, size, 0);
    if (rc != 0)
      return rc;
    sim_disk__image_truncate(&ino->vol, size);
    d->volatile_bytes += size - old_size;
    /* Growing is writing zeros, durable or lost like any write. */
    event_add_write(ino, old_size, size - old_size, ++d->seq);
    return 0;
  }
  sim_disk__image_truncate(&ino->vol, size);
  d->volatile_bytes -= old_size - size;
  event_add_shrink(ino, size, ++d->seq);
  return 0;
}

/* ------------------------------------------------------------- faults */

int sim_disk_rot(sim_disk_t *d, const char *path, uint64_t offset, int bit) {
  SL_ASSERT(d && path);
  if (bit < 0 || bit > 7)
    return -EINVAL;
  sim_disk__inode *ino = NULL;
  int rc = sim_disk__resolve(d, path, false, &ino);
  if (rc != 0)
    return rc == -ENOTDIR ? -ENOENT : rc;
  if (ino->is_dir || offset >= ino->dur.size_bytes)
    return -EINVAL;
  sim_disk__image_flip_bit(&ino->dur, offset, bit);
  if (offset < ino->vol.size_bytes)
    sim_disk__image_flip_bit(&ino->vol, offset, bit);
  return 0;
}

void sim_disk_fail_next_write(sim_disk_t *d) { d->fail_write = true; }
void sim_disk_fail_next_read(sim_disk_t *d) { d->fail_read = true; }
void sim_disk_fail_next_fsync(sim_disk_t *d) { d->fail_fsync = true; }
void sim_disk_clear_faults(sim_disk_t *d) {
  d->fail_write = d->fail_read = d->fail_fsync = false;
}
void sim_disk_set_capacity(sim_disk_t *d, uint64_t bytes) {
  d->capacity_bytes = bytes;
}

/* --------------------------------------------------------- inspection */

static int durable_file(sim_disk_t *d, const char *path,
                        sim_disk__inode **out) {
  int rc = sim_disk__resolve(d, path, true, out);
  if (rc != 0)
    return rc == -ENOTDIR ? -ENOENT : rc;
  return (*out)->is_dir ? -EISDIR : 0;
}

int sim_disk_durable_pread(sim_disk_t *d, const char *path, void *buf,
                           size_t len, uint64_t offset, size_t *n_read) {
  SL_ASSERT(d && path && n_read && (buf || len == 0));
  *n_read = 0;
  sim_disk__inode *ino = NULL;
  int rc = durable_file(d, path, &ino);
  if (rc != 0)
    return rc;
  *n_read = sim_disk__image_read(&ino->dur, offset, buf, len);
  return 0;
}

int sim_disk_durable_size(sim_disk_t *d, const char *path, uint64_t *size) {
  SL_ASSERT(d && path && size);
  *size = 0;
  sim_disk__inode *ino = NULL;
  int rc = durable_file(d, path, &ino);
  if (rc != 0)
    return rc;
  *size = ino->dur.size_bytes;
  return 0;
}

typedef struct range {
  uint64_t start, end;
} range;

static int range_cmp(const void *a, const void *b) {
  const range *x = a, *y = b;
  return x->start < y->start ? -1 : x->start > y->start;
}

/* Length of the union of a file's pending write ranges. */
static uint64_t pending_union_bytes(sim_disk__inode *f, GArray *scratch) {
  g_array_set_size(scratch, 0);
  for (size_t i = f->events_head; i < f->events->len; i++) {
    const sim_disk__event *e = event_at(f, i);
    if (!e->is_truncate && e->len > 0) {
      range r = {e->offset, e->offset + e->len};
      g_array_append_val(scratch, r);
    }
  }
  if (scratch->len > 1)
    qsort(scratch->data, scratch->len, sizeof(range), range_cmp);
  uint64_t total = 0, covered_to = 0;
  for (guint i = 0; i < scratch->len; i++) {
    range r = g_array_index(scratch, range, i);
    if (r.start < covered_to)
      r.start = covered_to;
    if (r.end > r.start) {
      total += r.end - r.start;
      covered_to = r.end;
    }
  }
  return total;
}

uint64_t sim_disk_unsynced_bytes(sim_disk_t *d) {
  SL_ASSERT(d);
  GArray *scratch = g_array_new(FALSE, FALSE, sizeof(range));
  uint64_t total = 0;
  for (sim_disk__inode *ino = d->all; ino; ino = ino->all_next)
    if (!ino->is_dir)
      total += pending_union_bytes(ino, scratch);
  g_array_free(scratch, TRUE);
  return total;
}
