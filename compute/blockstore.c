/*
 * blockstore.c — POSIX/stdio file I/O for the compute engine.
 *
 * Spark's DiskBlockManager and DiskStore play this role: one place that
 * owns the engine's files. See blockstore.h for why this module uses the
 * operating system directly in local mode.
 */
#include "compute/blockstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/assert.h"

#define BLK_WRITE_BUFFER_BYTES (256u * 1024u)
#define BLK_TREE_DEPTH_MAX 64

struct blk_reader {
  int fd;
  uint64_t pos;
  char *path;
};

/* Buffered by hand rather than with stdio: writers take many small
 * records (a shuffle entry, a text line), and fwrite's per-call locking
 * showed up in profiles. */
struct blk_writer {
  int fd;
  char *path;
  uint64_t bytes; /* written by the caller, buffered or not */
  uint8_t *buf;   /* [owned] BLK_WRITE_BUFFER_BYTES */
  size_t buf_len;
};

static int io_error(GError **err, const char *what, const char *path,
                    int errnum) {
  g_set_error(err, CM_ERROR, CM_ERROR_IO, "%s %s: %s", what, path,
              g_strerror(errnum));
  return -1;
}

int blk_file_size(const char *path, uint64_t *size, GError **err) {
  SL_ASSERT(path != NULL);
  SL_ASSERT(size != NULL);
  struct stat st;
  if (stat(path, &st) != 0)
    return io_error(err, "cannot stat", path, errno);
  if (!S_ISREG(st.st_mode))
    return io_error(err, "not a regular file:", path, EINVAL);
  *size = (uint64_t)st.st_size;
  return 0;
}

static gint compare_paths(gconstpointer a, gconstpointer b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int blk_list_inputs(const char *path, GPtrArray **out, GError **err) {
  SL_ASSERT(path != NULL);
  SL_ASSERT(out != NULL);
  struct stat st;
  if (stat(path, &st) != 0)
    return io_error(err, "cannot stat", path, errno);
  GPtrArray *paths = g_ptr_array_new_with_free_func(g_free);
  if (S_ISREG(st.st_mode)) {
    g_ptr_array_add(paths, g_strdup(path));
    *out = paths;
    return 0;
  }
  DIR *dir = opendir(path);
  if (!dir) {
    int e = errno;
    g_ptr_array_free(paths, TRUE);
    return io_error(err, "cannot open directory", path, e);
  }
  struct dirent *entry;
  while ((entry = readdir(dir)) != NULL) {
    if (entry->d_name[0] == '.' || entry->d_name[0] == '_')
      continue;
    char *child = g_build_filename(path, entry->d_name, NULL);
    struct stat cst;
    if (stat(child, &cst) == 0 && S_ISREG(cst.st_mode))
      g_ptr_array_add(paths, child);
    else
      g_free(child);
  }
  closedir(dir);
  g_ptr_array_sort(paths, compare_paths);
  *out = paths;
  return 0;
}

blk_reader *blk_reader_open(const char *path, uint64_t offset, GError **err) {
  SL_ASSERT(path != NULL);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    io_error(err, "cannot open", path, errno);
    return NULL;
  }
  blk_reader *r = g_new0(blk_reader, 1);
  r->fd = fd;
  r->pos = offset;
  r->path = g_strdup(path);
  return r;
}

int blk_read(blk_reader *r, void *buf, size_t len, size_t *got,
             GError **err) {
  SL_ASSERT(r != NULL);
  SL_ASSERT(got != NULL);
  for (;;) {
    ssize_t n = pread(r->fd, buf, len, (off_t)r->pos);
    if (n >= 0) {
      *got = (size_t)n;
      r->pos += (uint64_t)n;
      return 0;
    }
    if (errno != EINTR)
      return io_error(err, "cannot read", r->path, errno);
  }
}

void blk_reader_close(blk_reader *r) {
  if (!r)
    return;
  close(r->fd);
  g_free(r->path);
  g_free(r);
}

blk_writer *blk_writer_create(const char *path, GError **err) {
  SL_ASSERT(path != NULL);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    io_error(err, "cannot create", path, errno);
    return NULL;
  }
  blk_writer *w = g_new0(blk_writer, 1);
  w->fd = fd;
  w->path = g_strdup(path);
  w->buf = g_malloc(BLK_WRITE_BUFFER_BYTES);
  return w;
}

/* Writes all len bytes at data to the file. */
static int write_all(blk_writer *w, const uint8_t *data, size_t len,
                     GError **err) {
  while (len > 0) {
    ssize_t n = write(w->fd, data, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return io_error(err, "cannot write", w->path, n < 0 ? errno : EIO);
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

static int flush_buffer(blk_writer *w, GError **err) {
  int rc = write_all(w, w->buf, w->buf_len, err);
  w->buf_len = 0;
  return rc;
}

int blk_write(blk_writer *w, const void *data, size_t len, GError **err) {
  SL_ASSERT(w != NULL);
  SL_ASSERT(data != NULL || len == 0);
  if (len <= BLK_WRITE_BUFFER_BYTES - w->buf_len) {
    if (len)
      memcpy(w->buf + w->buf_len, data, len);
    w->buf_len += len;
    w->bytes += len;
    return 0;
  }
  if (flush_buffer(w, err) != 0)
    return -1;
  w->bytes += len;
  if (len >= BLK_WRITE_BUFFER_BYTES / 2)
    return write_all(w, data, len, err);
  memcpy(w->buf, data, len);
  w->buf_len = len;
  return 0;
}

uint64_t blk_writer_bytes(const blk_writer *w) {
  SL_ASSERT(w != NULL);
  return w->bytes;
}

static void writer_free(blk_writer *w) {
  g_free(w->buf);
  g_free(w->path);
  g_free(w);
}

int blk_writer_close(blk_writer *w, GError **err) {
  SL_ASSERT(w != NULL);
  int rc = flush_buffer(w, err);
  if (close(w->fd) != 0 && rc == 0)
    rc = io_error(err, "cannot close", w->path, errno);
  writer_free(w);
  return rc;
}

void blk_writer_abort(blk_writer *w) {
  if (!w)
    return;
  close(w->fd);
  unlink(w->path);
  writer_free(w);
}

int blk_rename(const char *from, const char *to, GError **err) {
  SL_ASSERT(from != NULL);
  SL_ASSERT(to != NULL);
  if (rename(from, to) != 0)
    return io_error(err, "cannot rename", from, errno);
  return 0;
}

void blk_unlink(const char *path) {
  if (path)
    unlink(path);
}

int blk_mkdir_p(const char *path, GError **err) {
  SL_ASSERT(path != NULL);
  if (g_mkdir_with_parents(path, 0755) != 0)
    return io_error(err, "cannot create directory", path, errno);
  return 0;
}

int blk_mkdtemp(const char *base, const char *prefix, char **out,
                GError **err) {
  SL_ASSERT(base != NULL);
  SL_ASSERT(out != NULL);
  char *tmpl = g_strdup_printf("%s/%sXXXXXX", base, prefix);
  if (!mkdtemp(tmpl)) {
    int e = errno;
    io_error(err, "cannot create directory under", base, e);
    g_free(tmpl);
    return -1;
  }
  *out = tmpl;
  return 0;
}

/* Depth-first with an explicit stack of directories still to empty; a
 * directory is removed once popped a second time (after its children). */
void blk_remove_tree(const char *path) {
  if (!path)
    return;
  GPtrArray *stack = g_ptr_array_new_with_free_func(g_free);
  GPtrArray *visited = g_ptr_array_new(); /* parallel: was it expanded */
  g_ptr_array_add(stack, g_strdup(path));
  g_ptr_array_add(visited, GINT_TO_POINTER(0));
  while (stack->len > 0) {
    guint top = stack->len - 1;
    const char *dir_path = g_ptr_array_index(stack, top);
    if (GPOINTER_TO_INT(g_ptr_array_index(visited, top))) {
      rmdir(dir_path);
      g_ptr_array_remove_index(stack, top);
      g_ptr_array_remove_index(visited, top);
      continue;
    }
    visited->pdata[top] = GINT_TO_POINTER(1);
    DIR *dir = opendir(dir_path);
    if (!dir)
      continue;
    char *owned_dir = g_strdup(dir_path);
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
      if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
        continue;
      char *child = g_build_filename(owned_dir, entry->d_name, NULL);
      struct stat st;
      if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode) &&
          stack->len < BLK_TREE_DEPTH_MAX) {
        g_ptr_array_add(stack, child);
        g_ptr_array_add(visited, GINT_TO_POINTER(0));
      } else {
        unlink(child);
        g_free(child);
      }
    }
    closedir(dir);
    g_free(owned_dir);
  }
  g_ptr_array_free(visited, TRUE);
  g_ptr_array_free(stack, TRUE);
}

int blk_write_file(const char *path, const void *data, size_t len,
                   GError **err) {
  blk_writer *w = blk_writer_create(path, err);
  if (!w)
    return -1;
  if (blk_write(w, data, len, err) != 0) {
    blk_writer_abort(w);
    return -1;
  }
  return blk_writer_close(w, err);
}
