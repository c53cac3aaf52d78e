/*
 * disk_sync.c — fsync tickets and power loss.
 *
 * An fsync is split in two because the simulator decides when it
 * completes: begin notes how far the disk's change counter had got (the
 * changes an fsync covers are those issued before it), end makes exactly
 * those durable. A crash keeps the durable image and, per unsynced write
 * range, whatever the caller's random numbers say reached the medium.
 */
#include <errno.h>
#include <string.h>

#include "base/assert.h"
#include "sim/disk_internal.h"

/* ------------------------------------------------------------- tickets */

static int64_t ticket_add(sim_disk_t *d, bool is_dir, uint64_t handle_id,
                          sim_disk__inode *dir) {
  SL_ASSERT(g_hash_table_size(d->tickets) < SIM_DISK__TICKETS_MAX);
  SL_ASSERT(d->ticket_id_next < INT64_MAX);
  sim_disk__ticket *t = g_new0(sim_disk__ticket, 1);
  t->id = d->ticket_id_next++;
  t->seq = d->seq;
  t->is_dir = is_dir;
  t->handle_id = handle_id;
  t->dir = dir;
  if (dir)
    sim_disk__ref(dir);
  g_hash_table_insert(d->tickets, &t->id, t);
  return t->id;
}

static bool take_fsync_fault(sim_disk_t *d) {
  bool fail = d->fail_fsync;
  d->fail_fsync = false;
  return fail;
}

int64_t sim_disk_fsync_begin(sim_disk_t *d, sim_disk_file_t *f) {
  SL_ASSERT(d && f && f->disk == d);
  sim_disk__inode *ino = f->inode;
  if (take_fsync_fault(d)) {
    /* Like Linux after a failed writeback: the dirty pages are dropped
     * from the writeback set, so no later fsync makes them durable. */
    sim_disk__events_forget(ino, d->seq);
    return -EIO;
  }
  ino->last_begin_seq = d->seq;
  return ticket_add(d, false, f->id, ino->parent);
}

int64_t sim_disk_dir_fsync_begin(sim_disk_t *d, const char *path) {
  SL_ASSERT(d && path);
  sim_disk__inode *dir = NULL;
  int rc = sim_disk__resolve(d, path, false, &dir);
  if (rc != 0)
    return rc;
  if (!dir->is_dir)
    return -ENOTDIR;
  if (take_fsync_fault(d))
    return -EIO; /* the name changes stay pending */
  return ticket_add(d, true, 0, dir);
}

static int dir_fsync_end(sim_disk_t *d, const sim_disk__ticket *t) {
  if (t->dir != d->root && t->dir->parent == NULL)
    return -EIO; /* removed meanwhile */
  if (take_fsync_fault(d))
    return -EIO;
  sim_disk__dir_commit(d, t->dir, t->seq);
  return 0;
}

static int file_fsync_end(sim_disk_t *d, const sim_disk__ticket *t) {
  sim_disk_file_t *f = g_hash_table_lookup(d->handles, &t->handle_id);
  if (!f || f->inode->parent == NULL)
    return -EIO; /* closed or unlinked meanwhile */
  sim_disk__inode *ino = f->inode;
  if (take_fsync_fault(d)) {
    sim_disk__events_forget(ino, t->seq);
    return -EIO;
  }
  sim_disk__events_commit(ino, t->seq);
  /* A file with no durable name yet gets the one it had at begin, with
   * the rest of its directory's changes up to begin (the list applies in
   * order, like a journal commit). */
  if (ino->dlinks == 0 && t->dir)
    sim_disk__dir_commit(d, t->dir, t->seq);
  return 0;
}

int sim_disk_fsync_end(sim_disk_t *d, int64_t ticket) {
  SL_ASSERT(d);
  sim_disk__ticket *t = g_hash_table_lookup(d->tickets, &ticket);
  if (!t)
    return -EIO; /* unknown, already ended, or from before a crash */
  g_hash_table_steal(d->tickets, &ticket);
  int rc = t->is_dir ? dir_fsync_end(d, t) : file_fsync_end(d, t);
  if (t->dir)
    sim_disk__unref(d, t->dir);
  g_free(t);
  return rc;
}

/* --------------------------------------------------------------- crash */

typedef struct crash_ctx {
  sim_disk_t *d;
  unsigned flags;
  sim_disk_rand_fn rand;
  void *rand_arg;
  uint64_t walk;
  sim_disk__inode *dir;  /* the directory being rebuilt */
  GPtrArray *dirs;       /* directories still to rebuild (a stack) */
  GPtrArray *duplicates; /* names of dir's entries to drop */
} crash_ctx;

static void write_garbage(crash_ctx *c, sim_disk__image *img, uint64_t offset,
                          uint64_t len) {
  uint8_t chunk[512];
  while (len > 0) {
    size_t n = len < sizeof chunk ? (size_t)len : sizeof chunk;
    for (size_t i = 0; i < n; i += 8) {
      uint64_t r = c->rand(c->rand_arg);
      size_t m = n - i < 8 ? n - i : 8;
      memcpy(chunk + i, &r, m);
    }
    sim_disk__image_write(img, offset, chunk, n);
    offset += n;
    len -= n;
  }
}

/* One unsynced write range meets the power cut. durable_end is the file's
 * durable size before the crash: garbage stands for blocks allocated past
 * it whose data never arrived, so it never lands below it (a sector that
 * held durable bytes ends up with its old or its new bytes, whole). */
static void crash_range(crash_ctx *c, sim_disk__inode *f, uint64_t offset,
                        uint64_t len, uint64_t durable_end) {
  enum { DROP = 0, KEEP = 1, TORN = 2 };
  uint64_t choice = c->rand(c->rand_arg) % 3;
  if (choice == DROP)
    return;
  if (choice == KEEP) {
    sim_disk__image_copy_range(&f->dur, &f->vol, offset, len);
    return;
  }
  /* Torn: sectors reach the medium whole, in order, up to some sector
   * boundary strictly inside the range; none inside means nothing did. */
  uint64_t end = offset + len;
  uint64_t first =
      (offset / SIM_DISK__SECTOR_BYTES + 1) * SIM_DISK__SECTOR_BYTES;
  if (first >= end)
    return;
  uint64_t cuts =
      (end - 1) / SIM_DISK__SECTOR_BYTES - offset / SIM_DISK__SECTOR_BYTES;
  uint64_t cut = first + SIM_DISK__SECTOR_BYTES * (c->rand(c->rand_arg) % cuts);
  sim_disk__image_copy_range(&f->dur, &f->vol, offset, cut - offset);
  if ((c->flags & SIM_DISK_CRASH_GARBAGE) && c->rand(c->rand_arg) % 2 == 1) {
    uint64_t from = cut > durable_end ? cut : durable_end;
    if (from < end)
      write_garbage(c, &f->dur, from, end - from);
  }
}

/* Settles a reachable file: the medium gets what survives, the page cache
 * restarts from the medium. */
static void crash_file(crash_ctx *c, sim_disk__inode *f) {
  uint64_t durable_end = f->dur.size_bytes;
  for (size_t i = f->events_head; i < f->events->len; i++) {
    sim_disk__event e = g_array_index(f->events, sim_disk__event, i);
    if (!e.is_truncate && e.len > 0)
      crash_range(c, f, e.offset, e.len, durable_end);
  }
  g_array_set_size(f->events, 0);
  f->events_head = 0;
  f->last_begin_seq = 0;
  sim_disk__image_free(&f->vol);
  sim_disk__image_clone(&f->vol, &f->dur);
}

static gboolean crash_entry(gpointer key, gpointer value, gpointer data) {
  crash_ctx *c = data;
  sim_disk__inode *child = value;
  if (child->mark == c->walk) {
    /* Named twice durably (not produced by this module's changes, but a
     * tree must come out of a crash whatever happened): keep the first. */
    g_ptr_array_add(c->duplicates, key);
    return FALSE;
  }
  child->mark = c->walk;
  g_free(child->name);
  child->name = g_strdup(key);
  child->parent = c->dir;
  g_tree_insert(c->dir->ventries, g_strdup(key), child);
  if (child->is_dir)
    g_ptr_array_add(c->dirs, child);
  else
    crash_file(c, child);
  return FALSE;
}

static void crash_dir(crash_ctx *c, sim_disk__inode *dir) {
  c->dir = dir;
  g_tree_destroy(dir->ventries);
  dir->ventries = sim_disk__entries_new();
  sim_disk__dirops_clear(c->d, dir, false);
  g_ptr_array_set_size(c->duplicates, 0);
  g_tree_foreach(dir->dentries, crash_entry, c);
  for (guint i = 0; i < c->duplicates->len; i++)
    g_tree_remove(dir->dentries, g_ptr_array_index(c->duplicates, i));
}

void sim_disk_crash(sim_disk_t *d, unsigned flags, sim_disk_rand_fn rand,
                    void *rand_arg) {
  SL_ASSERT(d && rand);
  /* Handles and tickets die with the machine; reference counts are
   * rebuilt below, so none of this goes through unref. */
  g_hash_table_remove_all(d->tickets);
  g_hash_table_remove_all(d->handles);

  crash_ctx c = {.d = d,
                 .flags = flags,
                 .rand = rand,
                 .rand_arg = rand_arg,
                 .walk = d->walk_next++,
                 .dirs = g_ptr_array_new(),
                 .duplicates = g_ptr_array_new()};
  d->root->mark = c.walk;
  g_ptr_array_add(c.dirs, d->root);
  while (c.dirs->len > 0)
    crash_dir(&c, g_ptr_array_steal_index(c.dirs, c.dirs->len - 1));
  g_ptr_array_free(c.dirs, TRUE);
  g_ptr_array_free(c.duplicates, TRUE);

  /* What the walk did not reach has no durable name: gone. */
  sim_disk__inode *next = NULL;
  for (sim_disk__inode *ino = d->all; ino; ino = next) {
    next = ino->all_next;
    if (ino->mark != c.walk)
      sim_disk__inode_destroy(d, ino);
  }
  d->volatile_bytes = 0;
  for (sim_disk__inode *ino = d->all; ino; ino = ino->all_next) {
    bool is_root = ino == d->root;
    ino->dlinks = is_root ? 0 : 1;
    ino->refs = is_root ? 1 : 2; /* volatile link + durable link */
    ino->handles = 0;
    if (!ino->is_dir)
      d->volatile_bytes += ino->vol.size_bytes;
  }
}
