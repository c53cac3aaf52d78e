/*
 * disk_internal.h — the simulated disk's private header, shared by disk.c
 * (lifecycle, handles, file data, inspection), disk_image.c (page images),
 * disk_names.c (paths and the two namespaces) and disk_sync.c (fsync tickets
 * and crashes). Nothing outside sim/disk*.c includes it.
 *
 * Model (see disk.h for the contract):
 *
 *  - Every file and directory is an inode. A file holds two page images:
 *    `vol` (the page cache) and `dur` (the medium). Pages are refcounted and
 *    copy-on-write, so an fsync shares whole pages with the durable image
 *    instead of copying bytes, and a crash rebuilds the volatile image by
 *    sharing the durable pages back.
 *  - Every change gets a number from one per-disk counter, `seq`. A file
 *    keeps its changes not yet durable as an ordered list of events: a write
 *    (a byte range, which includes any hole it opened or zeros a growing
 *    truncate added) or a shrinking truncate. An fsync ticket remembers the
 *    seq at its begin; its end replays the events numbered up to it onto the
 *    durable image, taking the bytes from the volatile image (the page cache
 *    only ever holds the newest bytes, and a real disk writes back pages, so
 *    a byte becomes durable with its newest value).
 *  - A directory keeps its volatile entries, its durable entries and the
 *    ordered list of name changes not yet durable. A directory fsync applies
 *    the list up to its ticket's seq. A rename between two directories is
 *    one change listed in both; applying it in one directory first applies
 *    the other directory's list up to the same seq, so a file is never
 *    durably in two places (a journaled rename is atomic). Every commit
 *    therefore stops at some ticket's seq, never in between: that is what
 *    lets a name's pending changes be folded together when no outstanding
 *    ticket lies between them (disk_names.c).
 *  - A crash walks the durable tree from the root (names in sorted order,
 *    so the random draws are deterministic), rebuilds each reachable file
 *    from its durable image plus the unsynced write ranges the caller's
 *    random numbers keep, and frees everything unreachable.
 *
 * References: an inode is freed when `refs` drops to zero. A volatile link,
 * a durable link, an open handle, a pending name change and an fsync ticket
 * each hold one reference. A crash rebuilds every count from scratch.
 */
#ifndef SLUICE_SIM_DISK_INTERNAL_H
#define SLUICE_SIM_DISK_INTERNAL_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/disk.h"

/* ------------------------------------------------------------- limits */

#define SIM_DISK__PAGE_BYTES ((size_t)4096)
#define SIM_DISK__SECTOR_BYTES ((uint64_t)512)
/* Largest file; beyond it writes fail with -EFBIG (keeps the page table of
 * a stray huge offset bounded: 4 Mi slots). */
#define SIM_DISK__FILE_BYTES_MAX ((uint64_t)1 << 34)
#define SIM_DISK__PATH_BYTES_MAX ((size_t)4096)
#define SIM_DISK__NAME_BYTES_MAX ((size_t)255)
#define SIM_DISK__PATH_DEPTH_MAX ((size_t)128)
/* Open handles per disk; beyond it opens fail with -EMFILE. */
#define SIM_DISK__HANDLES_MAX ((guint)1 << 16)
/* Outstanding fsync tickets: far more than any node has in flight, so
 * reaching it means the simulator stopped ending them. */
#define SIM_DISK__TICKETS_MAX ((guint)1 << 20)

/* --------------------------------------------------------- page images */

typedef struct sim_disk__page {
  uint32_t refs;
  uint8_t bytes[SIM_DISK__PAGE_BYTES];
} sim_disk__page;

/* A file's bytes. Invariant: every byte at or beyond size_bytes inside an
 * allocated page is zero, so growing the size only has to move the end. */
typedef struct sim_disk__image {
  sim_disk__page **pages; /* [owned refs] NULL slot = a page of zeros */
  size_t pages_len;       /* slots covering size_bytes */
  size_t pages_cap;
  uint64_t size_bytes;
} sim_disk__image;

void sim_disk__image_init(sim_disk__image *img);
void sim_disk__image_free(sim_disk__image *img);
/* Copies up to len bytes at offset into buf; returns the count. */
/* The bytes at offset (< size) up to the end of its page, in place: a
 * pointer into the page, or into a shared page of zeros for a hole. */
const uint8_t *sim_disk__image_at(const sim_disk__image *img, uint64_t offset);
size_t sim_disk__image_read(const sim_disk__image *img, uint64_t offset,
                            void *buf, size_t len);
/* Writes len bytes at offset, growing the image (a gap reads as zeros). */
void sim_disk__image_write(sim_disk__image *img, uint64_t offset,
                           const void *data, size_t len);
/* Sets the size; shrinking zeroes the cut tail, growing adds zeros. */
void sim_disk__image_truncate(sim_disk__image *img, uint64_t size_bytes);
/* Makes dst[offset, offset+len) equal to src's bytes there, growing dst;
 * whole pages are shared, not copied. Requires offset+len <= src size. */
void sim_disk__image_copy_range(sim_disk__image *dst,
                                const sim_disk__image *src, uint64_t offset,
                                uint64_t len);
/* dst (empty) becomes a copy of src sharing all pages. */
void sim_disk__image_clone(sim_disk__image *dst, const sim_disk__image *src);
/* Flips one bit of the byte at offset (< size). */
void sim_disk__image_flip_bit(sim_disk__image *img, uint64_t offset, int bit);

/* -------------------------------------------------------------- inodes */

/* A file change not yet durable. */
typedef struct sim_disk__event {
  uint64_t seq;
  uint64_t offset; /* write: range start; truncate: the new size */
  uint64_t len;    /* write: range length (0 once truncated away) */
  bool is_truncate;
} sim_disk__event;

typedef struct sim_disk__inode sim_disk__inode;

/* A directory name change not yet durable: name -> child (NULL: removed).
 * partner is the other directory of a cross-directory rename. */
typedef struct sim_disk__dirop {
  uint64_t seq;
  char *name;               /* [owned] */
  sim_disk__inode *child;   /* holds a reference; NULL for a removal */
  sim_disk__inode *partner; /* holds a reference; NULL if none */
  bool dead;                /* folded into a later change of the same name */
} sim_disk__dirop;

struct sim_disk__inode {
  uint64_t id;
  bool is_dir;
  uint32_t refs;
  uint32_t dlinks;  /* durable entries naming this inode */
  uint32_t handles; /* open sim_disk_file_t on it */
  uint64_t mark;    /* crash walk: visited in walk number `mark` */
  sim_disk__inode *all_prev, *all_next; /* every inode of the disk */

  /* Volatile link: parent == NULL means unlinked (root: always NULL). */
  sim_disk__inode *parent;
  char *name; /* [owned] NULL when unlinked */

  /* Files. */
  sim_disk__image vol;
  sim_disk__image dur;
  GArray *events; /* sim_disk__event, seq ascending, from events_head */
  size_t events_head;
  uint64_t last_begin_seq; /* newest fsync_begin's seq: no merging below */

  /* Directories: name (owned key) -> sim_disk__inode*. */
  GTree *ventries;
  GTree *dentries;
  GArray *dirops; /* sim_disk__dirop, seq ascending, from dirops_head */
  size_t dirops_head;
  size_t dirops_dead;
  /* name (owned) -> 1 + index in dirops of its newest live change;
   * lookups only. */
  GHashTable *dirops_last;
};

/* An open file. */
struct sim_disk_file {
  sim_disk_t *disk;
  uint64_t id;
  sim_disk__inode *inode; /* holds a reference */
  int flags;
};

typedef struct sim_disk__ticket {
  int64_t id;
  uint64_t seq;
  bool is_dir;
  uint64_t handle_id;   /* file tickets: the handle fsynced */
  sim_disk__inode *dir; /* the directory (dir tickets) or the file's
                           parent at begin (file tickets); holds a
                           reference; NULL if the file was unlinked */
} sim_disk__ticket;

struct sim_disk {
  uint64_t seq; /* last change number handed out */
  uint64_t inode_id_next;
  uint64_t handle_id_next;
  int64_t ticket_id_next;
  uint64_t walk_next; /* crash walk marks */

  sim_disk__inode *root;
  sim_disk__inode *all; /* list head of every inode */

  GHashTable *handles; /* id -> sim_disk_file_t* [owned]; lookups only */
  GHashTable *tickets; /* id -> sim_disk__ticket* [owned]; lookups and
                          order-free scans only */

  uint64_t capacity_bytes; /* 0 = unlimited */
  uint64_t volatile_bytes; /* vol sizes of files with a name or handle */
  bool fail_write;
  bool fail_read;
  bool fail_fsync;

  GPtrArray *free_stack; /* inodes whose refs hit zero, being freed */
  bool freeing;
};

/* disk.c */
sim_disk__inode *sim_disk__inode_new(sim_disk_t *d, bool is_dir);
void sim_disk__ref(sim_disk__inode *ino);
/* Drops a reference; frees the inode (and what only it kept alive) at 0. */
void sim_disk__unref(sim_disk_t *d, sim_disk__inode *ino);
/* Frees the inode's memory without touching anything it references. */
void sim_disk__inode_destroy(sim_disk_t *d, sim_disk__inode *ino);
/* Called when a file may have lost its last name or handle: if it has
 * neither, nobody can see its page cache again, so its volatile image and
 * pending changes go (freeing their space now, as unlink does; a crash
 * would be allowed to drop those changes anyway). The durable image stays
 * for as long as a durable name may bring the file back. */
void sim_disk__orphan_check(sim_disk_t *d, sim_disk__inode *f);
/* fsync EIO: the writes numbered <= seq are lost (never durable); the
 * truncates among them stay pending. */
void sim_disk__events_forget(sim_disk__inode *f, uint64_t seq);
/* Replays the events numbered <= seq onto the durable image. */
void sim_disk__events_commit(sim_disk__inode *f, uint64_t seq);

/* disk_names.c */
GTree *sim_disk__entries_new(void);
/* Resolves path in the volatile (durable == false) or durable namespace. */
int sim_disk__resolve(sim_disk_t *d, const char *path, bool durable,
                      sim_disk__inode **out);
/* Finds (or with ENV_O_CREATE creates) the file for sim_disk_open. */
int sim_disk__open_inode(sim_disk_t *d, const char *path, int flags,
                         sim_disk__inode **out);
/* Applies dir's name changes numbered <= seq, and those of every
 * directory a rename among them connects it to (also up to seq). */
void sim_disk__dir_commit(sim_disk_t *d, sim_disk__inode *dir, uint64_t seq);
/* Empties dir's pending changes; release: drop the references they hold
 * (false when the whole disk is being rebuilt or freed). */
void sim_disk__dirops_clear(sim_disk_t *d, sim_disk__inode *dir, bool release);
/* Records a new file or directory `name` in parent (volatile + pending). */
void sim_disk__link_new(sim_disk_t *d, sim_disk__inode *parent,
                        const char *name, sim_disk__inode *child);

#endif
