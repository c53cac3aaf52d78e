/*
 * disk_names.c — paths, the volatile and durable namespaces, and the
 * pending name changes that connect them (disk_internal.h has the model).
 *
 * Why per-directory change lists: POSIX only promises that a name change
 * is durable after an fsync of the directory holding it, so a node that
 * forgets one dir fsync must be able to lose exactly that directory's
 * changes. A directory fsync applies a prefix of its list; a file's first
 * fsync applies its directory's list up to the fsync's begin (env.h: a new
 * file's name becomes durable with the file).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/env.h"
#include "sim/disk_internal.h"

/* --------------------------------------------------------------- paths */

typedef struct path_parts {
  char buf[SIM_DISK__PATH_BYTES_MAX + 1];
  const char *part[SIM_DISK__PATH_DEPTH_MAX];
  size_t n;
} path_parts;

/* Splits a path into components: a leading '/' is optional, empty
 * components ("a//b", trailing '/') are skipped, "." and ".." are refused
 * (nothing in Sluice needs them, and refusing keeps every path canonical). */
static int path_parse(const char *path, path_parts *out) {
  size_t len = strlen(path);
  if (len > SIM_DISK__PATH_BYTES_MAX)
    return -ENAMETOOLONG;
  memcpy(out->buf, path, len + 1);
  out->n = 0;
  char *p = out->buf;
  for (;;) {
    while (*p == '/')
      *p++ = '\0';
    if (!*p)
      return 0;
    char *start = p;
    while (*p && *p != '/')
      p++;
    size_t part_len = (size_t)(p - start);
    if (part_len > SIM_DISK__NAME_BYTES_MAX)
      return -ENAMETOOLONG;
    if (start[0] == '.' &&
        (part_len == 1 || (part_len == 2 && start[1] == '.')))
      return -EINVAL;
    if (out->n == SIM_DISK__PATH_DEPTH_MAX)
      return -ENAMETOOLONG;
    out->part[out->n++] = start;
  }
}

static int name_cmp(gconstpointer a, gconstpointer b, gpointer unused) {
  return strcmp(a, b); /* bytewise: strcmp compares as unsigned char */
}

GTree *sim_disk__entries_new(void) {
  return g_tree_new_full(name_cmp, NULL, g_free, NULL);
}

static GTree *entries_of(sim_disk__inode *dir, bool durable) {
  return durable ? dir->dentries : dir->ventries;
}

/* Walks the first `depth` components from the root. */
static int walk(sim_disk_t *d, const path_parts *p, size_t depth, bool durable,
                sim_disk__inode **out) {
  sim_disk__inode *cur = d->root;
  for (size_t i = 0; i < depth; i++) {
    if (!cur->is_dir)
      return -ENOTDIR;
    cur = g_tree_lookup(entries_of(cur, durable), p->part[i]);
    if (!cur)
      return -ENOENT;
  }
  *out = cur;
  return 0;
}

int sim_disk__resolve(sim_disk_t *d, const char *path, bool durable,
                      sim_disk__inode **out) {
  path_parts p;
  int rc = path_parse(path, &p);
  if (rc != 0)
    return rc;
  return walk(d, &p, p.n, durable, out);
}

/* The volatile directory that holds the last component of p. */
static int parent_of(sim_disk_t *d, const path_parts *p,
                     sim_disk__inode **out) {
  SL_ASSERT(p->n > 0);
  int rc = walk(d, p, p->n - 1, false, out);
  if (rc == 0 && !(*out)->is_dir)
    rc = -ENOTDIR;
  return rc;
}

int sim_disk__open_inode(sim_disk_t *d, const char *path, int flags,
                         sim_disk__inode **out) {
  path_parts *p = g_new(path_parts, 1);
  sim_disk__inode *parent = NULL;
  int rc = path_parse(path, p);
  if (rc == 0 && p->n == 0)
    rc = -EISDIR; /* the root */
  if (rc == 0)
    rc = parent_of(d, p, &parent);
  if (rc != 0)
    goto out_free_parts;
  const char *name = p->part[p->n - 1];
  sim_disk__inode *ino = g_tree_lookup(parent->ventries, name);
  if (ino && ino->is_dir) {
    rc = -EISDIR;
  } else if (ino && (flags & ENV_O_CREATE) && (flags & ENV_O_EXCL)) {
    rc = -EEXIST;
  } else if (!ino && !(flags & ENV_O_CREATE)) {
    rc = -ENOENT;
  } else if (!ino) {
    ino = sim_disk__inode_new(d, false);
    sim_disk__link_new(d, parent, name, ino);
  }
  if (rc == 0)
    *out = ino;
out_free_parts:
  g_free(p);
  return rc;
}

/* ------------------------------------------------------ pending changes */

static sim_disk__dirop *dirop_at(sim_disk__inode *dir, size_t i) {
  return &g_array_index(dir->dirops, sim_disk__dirop, i);
}

static void dirop_release(sim_disk_t *d, sim_disk__dirop *op, bool unref) {
  g_free(op->name);
  op->name = NULL;
  if (unref && op->child)
    sim_disk__unref(d, op->child);
  if (unref && op->partner)
    sim_disk__unref(d, op->partner);
  op->child = op->partner = NULL;
}

void sim_disk__dirops_clear(sim_disk_t *d, sim_disk__inode *dir, bool release) {
  /* Detach the ops first: releasing may free inodes, and must find this
   * directory's list already empty if it looks. */
  GArray *ops = dir->dirops;
  size_t head = dir->dirops_head;
  dir->dirops = g_array_new(FALSE, FALSE, sizeof(sim_disk__dirop));
  dir->dirops_head = 0;
  dir->dirops_dead = 0;
  g_hash_table_remove_all(dir->dirops_last);
  for (size_t i = head; i < ops->len; i++) {
    sim_disk__dirop *op = &g_array_index(ops, sim_disk__dirop, i);
    if (!op->dead)
      dirop_release(d, op, release);
  }
  g_array_free(ops, TRUE);
}

static void last_set(sim_disk__inode *dir, const char *name, size_t i) {
  g_hash_table_insert(dir->dirops_last, g_strdup(name),
                      GSIZE_TO_POINTER(i + 1));
}

/* The newest live pending change of name in dir, or NULL. */
static sim_disk__dirop *last_get(sim_disk__inode *dir, const char *name) {
  size_t i = GPOINTER_TO_SIZE(g_hash_table_lookup(dir->dirops_last, name));
  if (i == 0)
    return NULL;
  sim_disk__dirop *op = dirop_at(dir, i - 1);
  SL_ASSERT(i - 1 >= dir->dirops_head && !op->dead);
  return op;
}

/* Drops consumed and folded changes once they are most of the list, so it
 * stays proportional to what is pending; the index moves with them. */
static void dirops_compact(sim_disk__inode *dir) {
  size_t len = dir->dirops->len;
  size_t waste = dir->dirops_head + dir->dirops_dead;
  if (waste == 0 || (waste < len && (len < 64 || waste * 2 < len)))
    return;
  size_t out = 0;
  for (size_t i = dir->dirops_head; i < len; i++) {
    sim_disk__dirop *op = dirop_at(dir, i);
    if (op->dead)
      continue;
    *dirop_at(dir, out) = *op;
    if (last_get(dir, op->name) == op)
      last_set(dir, op->name, out);
    out++;
  }
  g_array_set_size(dir->dirops, (guint)out);
  dir->dirops_head = 0;
  dir->dirops_dead = 0;
}

/* Could an outstanding fsync (of any file or directory, because a rename
 * pulls other directories in) apply changes up to seq >= from? */
static bool tickets_reach(sim_disk_t *d, uint64_t from) {
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init(&it, d->tickets);
  while (g_hash_table_iter_next(&it, NULL, &value))
    if (((sim_disk__ticket *)value)->seq >= from)
      return true;
  return false;
}

/* Appends a change to dir's list. An earlier change of the same name that
 * no outstanding fsync can separate from this one is dropped: commits stop
 * only at ticket seqs, and every future ticket's seq is past this change,
 * so every future commit applies both or neither and the later one wins. This
 * keeps the list (and the files only it keeps alive) bounded in a directory
 * that is never fsynced, e.g. segments created and deleted. */
static void dirop_record(sim_disk_t *d, sim_disk__inode *dir, const char *name,
                         sim_disk__inode *child, sim_disk__inode *partner,
                         uint64_t seq) {
  sim_disk__dirop gone = {0};
  sim_disk__dirop *old = last_get(dir, name);
  /* Half of a cross-directory rename is never folded: its other half
   * would be left alone in the partner's list. */
  if (old && old->partner == NULL && !tickets_reach(d, old->seq)) {
    gone = *old;
    old->dead = true;
    old->name = NULL;
    old->child = NULL;
    dir->dirops_dead++;
  }
  sim_disk__dirop op = {
      .seq = seq, .name = g_strdup(name), .child = child, .partner = partner};
  if (child)
    sim_disk__ref(child);
  if (partner)
    sim_disk__ref(partner);
  g_array_append_val(dir->dirops, op);
  last_set(dir, name, dir->dirops->len - 1);
  /* Released only now: the folded change's child may be the new one's. */
  if (gone.name)
    dirop_release(d, &gone, true);
  dirops_compact(dir);
}

/* Makes one change durable in dir's durable table. */
static void dirop_apply(sim_disk_t *d, sim_disk__inode *dir,
                        const sim_disk__dirop *op) {
  sim_disk__inode *old = g_tree_lookup(dir->dentries, op->name);
  if (op->child) {
    sim_disk__ref(op->child);
    op->child->dlinks++;
    g_tree_replace(dir->dentries, g_strdup(op->name), op->child);
  } else if (old) {
    g_tree_remove(dir->dentries, op->name);
  }
  if (old) {
    SL_ASSERT(old->dlinks > 0);
    old->dlinks--;
    sim_disk__unref(d, old);
  }
}

void sim_disk__dir_commit(sim_disk_t *d, sim_disk__inode *dir, uint64_t seq) {
  /* Directories still to commit; each holds a reference while queued. */
  GPtrArray *work = g_ptr_array_new();
  sim_disk__ref(dir);
  g_ptr_array_add(work, dir);
  while (work->len > 0) {
    sim_disk__inode *dd = g_ptr_array_steal_index(work, work->len - 1);
    while (dd->dirops_head < dd->dirops->len &&
           dirop_at(dd, dd->dirops_head)->seq <= seq) {
      sim_disk__dirop op = *dirop_at(dd, dd->dirops_head);
      if (op.dead) {
        dd->dirops_head++;
        SL_ASSERT(dd->dirops_dead > 0);
        dd->dirops_dead--;
        continue;
      }
      if (last_get(dd, op.name) == dirop_at(dd, dd->dirops_head))
        g_hash_table_remove(dd->dirops_last, op.name);
      dd->dirops_head++;
      /* The other half of a rename becomes durable with this half, and
       * so does everything before seq over there: stopping exactly at the
       * rename would be a commit point no ticket asked for. */
      if (op.partner) {
        sim_disk__ref(op.partner);
        g_ptr_array_add(work, op.partner);
      }
      dirop_apply(d, dd, &op);
      dirop_release(d, &op, true);
    }
    dirops_compact(dd);
    sim_disk__unref(d, dd);
  }
  g_ptr_array_free(work, TRUE);
}

/* ----------------------------------------------------- namespace changes */

void sim_disk__link_new(sim_disk_t *d, sim_disk__inode *parent,
                        const char *name, sim_disk__inode *child) {
  SL_ASSERT(parent->is_dir && child->parent == NULL);
  child->parent = parent;
  child->name = g_strdup(name);
  sim_disk__ref(child); /* the volatile link */
  g_tree_insert(parent->ventries, g_strdup(name), child);
  dirop_record(d, parent, name, child, NULL, ++d->seq);
}

/* Takes child out of the volatile namespace; the caller still owns the
 * link's reference and drops it when done with child. */
static void unlink_volatile(sim_disk__inode *child) {
  g_tree_remove(child->parent->ventries, child->name);
  g_free(child->name);
  child->name = NULL;
  child->parent = NULL;
}

int sim_disk_mkdir(sim_disk_t *d, const char *path) {
  SL_ASSERT(d && path);
  path_parts p;
  int rc = path_parse(path, &p);
  if (rc != 0)
    return rc;
  sim_disk__inode *cur = d->root;
  for (size_t i = 0; i < p.n; i++) {
    sim_disk__inode *next = g_tree_lookup(cur->ventries, p.part[i]);
    if (!next) {
      next = sim_disk__inode_new(d, true);
      sim_disk__link_new(d, cur, p.part[i], next);
    } else if (!next->is_dir) {
      return i + 1 == p.n ? -EEXIST : -ENOTDIR;
    }
    cur = next;
  }
  return 0;
}

/* Is dir an ancestor of (or equal to) ino in the volatile tree? The walk
 * ends: parent links form a tree (rename refuses to make a cycle). */
static bool is_ancestor(sim_disk__inode *dir, sim_disk__inode *ino) {
  for (; ino; ino = ino->parent)
    if (ino == dir)
      return true;
  return false;
}

static int rename_check(sim_disk__inode *src, sim_disk__inode *dst,
                        sim_disk__inode *dst_parent) {
  if (dst) {
    if (!src->is_dir && dst->is_dir)
      return -EISDIR;
    if (src->is_dir && !dst->is_dir)
      return -ENOTDIR;
    if (dst->is_dir && g_tree_nnodes(dst->ventries) > 0)
      return -ENOTEMPTY;
  }
  if (src->is_dir && is_ancestor(src, dst_parent))
    return -EINVAL;
  return 0;
}

int sim_disk_rename(sim_disk_t *d, const char *from, const char *to) {
  SL_ASSERT(d && from && to);
  path_parts *pf = g_new(path_parts, 1);
  path_parts *pt = g_new(path_parts, 1);
  sim_disk__inode *src_parent = NULL, *dst_parent = NULL;
  int rc = path_parse(from, pf);
  if (rc == 0)
    rc = path_parse(to, pt);
  if (rc == 0 && (pf->n == 0 || pt->n == 0))
    rc = -EBUSY; /* the root cannot move or be replaced */
  if (rc == 0)
    rc = parent_of(d, pf, &src_parent);
  if (rc == 0)
    rc = parent_of(d, pt, &dst_parent);
  if (rc != 0)
    goto out_free_parts;
  const char *src_name = pf->part[pf->n - 1];
  const char *dst_name = pt->part[pt->n - 1];
  sim_disk__inode *src = g_tree_lookup(src_parent->ventries, src_name);
  sim_disk__inode *dst = g_tree_lookup(dst_parent->ventries, dst_name);
  if (!src) {
    rc = -ENOENT;
    goto out_free_parts;
  }
  if (src == dst) /* POSIX: renaming a file onto itself does nothing */
    goto out_free_parts;
  rc = rename_check(src, dst, dst_parent);
  if (rc != 0)
    goto out_free_parts;

  uint64_t seq = ++d->seq;
  if (dst)
    unlink_volatile(dst);
  unlink_volatile(src);
  src->parent = dst_parent;
  src->name = g_strdup(dst_name);
  g_tree_insert(dst_parent->ventries, g_strdup(dst_name), src);
  bool across = src_parent != dst_parent;
  dirop_record(d, src_parent, src_name, NULL, across ? dst_parent : NULL, seq);
  dirop_record(d, dst_parent, dst_name, src, across ? src_parent : NULL, seq);
  if (dst) {
    sim_disk__orphan_check(d, dst);
    sim_disk__unref(d, dst); /* its volatile link */
  }
out_free_parts:
  g_free(pt);
  g_free(pf);
  return rc;
}

/* unlink and rmdir: the shared part once the victim is checked. */
static void remove_name(sim_disk_t *d, sim_disk__inode *victim) {
  sim_disk__inode *parent = victim->parent;
  char *name = g_strdup(victim->name);
  unlink_volatile(victim);
  dirop_record(d, parent, name, NULL, NULL, ++d->seq);
  g_free(name);
  sim_disk__orphan_check(d, victim);
  sim_disk__unref(d, victim);
}

int sim_disk_unlink(sim_disk_t *d, const char *path) {
  SL_ASSERT(d && path);
  sim_disk__inode *ino = NULL;
  int rc = sim_disk__resolve(d, path, false, &ino);
  if (rc != 0)
    return rc;
  if (ino->is_dir)
    return -EISDIR;
  remove_name(d, ino);
  return 0;
}

int sim_disk_rmdir(sim_disk_t *d, const char *path) {
  SL_ASSERT(d && path);
  sim_disk__inode *ino = NULL;
  int rc = sim_disk__resolve(d, path, false, &ino);
  if (rc != 0)
    return rc;
  if (!ino->is_dir)
    return -ENOTDIR;
  if (ino == d->root)
    return -EBUSY;
  if (g_tree_nnodes(ino->ventries) > 0)
    return -ENOTEMPTY;
  remove_name(d, ino);
  return 0;
}

static gboolean collect_name(gpointer key, gpointer value, gpointer data) {
  GPtrArray *names = data;
  size_t len = strlen(key) + 1;
  char *copy = malloc(len);
  SL_ASSERT(copy != NULL);
  memcpy(copy, key, len);
  g_ptr_array_add(names, copy);
  return FALSE;
}

int sim_disk_list_dir(sim_disk_t *d, const char *path, char ***names) {
  SL_ASSERT(d && path && names);
  *names = NULL;
  sim_disk__inode *dir = NULL;
  int rc = sim_disk__resolve(d, path, false, &dir);
  if (rc != 0)
    return rc;
  if (!dir->is_dir)
    return -ENOTDIR;
  /* env_names_free releases with free(): the array and names come from
   * malloc, not GLib. */
  size_t n = (size_t)g_tree_nnodes(dir->ventries);
  GPtrArray *collected = g_ptr_array_sized_new((guint)n);
  g_tree_foreach(dir->ventries, collect_name, collected);
  char **out = malloc((n + 1) * sizeof *out);
  SL_ASSERT(out != NULL);
  for (size_t i = 0; i < n; i++)
    out[i] = g_ptr_array_index(collected, i);
  out[n] = NULL;
  g_ptr_array_free(collected, TRUE);
  *names = out;
  return 0;
}

int sim_disk_stat(sim_disk_t *d, const char *path, bool *is_dir) {
  SL_ASSERT(d && path && is_dir);
  sim_disk__inode *ino = NULL;
  int rc = sim_disk__resolve(d, path, false, &ino);
  if (rc == -ENOTDIR)
    rc = -ENOENT;
  if (rc != 0)
    return rc;
  *is_dir = ino->is_dir;
  return 0;
}
