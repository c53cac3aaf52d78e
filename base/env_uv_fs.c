/*
 * env_uv_fs.c — env.h files and directories on the real file system.
 *
 * Reads, writes and name operations are plain synchronous POSIX calls: they
 * land in the page cache, which is exactly env.h's "visible at once, durable
 * only after fsync". fsync is the one slow call, so it runs on libuv's
 * thread pool; the worker gets copies of what it needs (a descriptor, a
 * path) and touches nothing else, and the result comes back on the loop.
 *
 * A file's descriptor stays open while an fsync of it is in flight, even if
 * the node closes the file meanwhile, so the worker never syncs a recycled
 * descriptor.
 *
 * Views (env_file_view) are read-only MAP_SHARED mmap windows of the file:
 * the page cache itself, so a view costs no copy, and bytes written later
 * through pwrite are visible through the same window (Linux has one page
 * cache for both). A window covers VIEW_WINDOW_BYTES-aligned chunks around
 * the view and is kept after the callback returns, so sequential views of
 * a file fault each page in once. The env keeps at most
 * ENV_FILE_VIEW_KEEP_BYTES of windows between callbacks: when a view takes
 * it past that, a prepare handle is started, and on the loop's next turn
 * (when no callback can still hold a view) it unmaps the least recently
 * used windows down to the budget. A file's windows are unmapped when it
 * is truncated or closed. A window may reach past the end of the file
 * (mapping it is allowed), but a view is only ever handed out below the
 * size fstat reports at that moment, so no page past the end is touched
 * (that would be SIGBUS). If mmap fails, the view is a private copy made
 * with pread, freed on the next turn.
 *
 * Advice (env_file_advise): a reserve is one fallocate(FALLOC_FL_KEEP_SIZE)
 * on the loop (block allocation, no data written); a writeback start is a
 * sync_file_range(SYNC_FILE_RANGE_WRITE) on the thread pool, sharing the
 * fsync work item and its keep-the-descriptor-open rule.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/env_uv_private.h"

/* Permissions of new files and directories (before the umask). */
#define FILE_MODE 0644
#define DIR_MODE 0755

/* Entries a directory listing starts with room for; it grows by doubling. */
#define LIST_DIR_CAPACITY_INITIAL 16

#define ENV_O_ALL                                                              \
  (ENV_O_READ | ENV_O_WRITE | ENV_O_CREATE | ENV_O_EXCL | ENV_O_TRUNC)

/* Views map whole aligned chunks of this size (a power of two, a multiple
 * of the page size): a view crossing a chunk boundary maps both chunks. */
#define VIEW_WINDOW_BYTES ((uint64_t)8 << 20)
_Static_assert(VIEW_WINDOW_BYTES <= ENV_FILE_VIEW_KEEP_BYTES,
               "a window must fit in the budget");

/* One mmap window [start, start+len) of a file. */
typedef struct view_window {
  struct env_uv__file *file;
  uint8_t *addr;
  uint64_t start;
  size_t len;
  GList lru_link;  /* in views->lru, most recently used first */
  GList file_link; /* in file->windows */
} view_window;

/* The env's windows and what trims them (env_uv->views). */
struct env_uv__views {
  env_uv *env;
  uv_prepare_t trim; /* runs at the next turn while started */
  bool trim_started;
  size_t mapped_bytes; /* sum of the windows' lengths */
  GQueue lru;          /* of view_window */
  GPtrArray *copies;   /* fallback views [owned], freed on the next turn */
};

typedef struct env_uv__file {
  env_file_t base; /* must be first */
  env_uv *env;
  int fd;
  /* The directory holding a file this handle may have created, until an
   * fsync of the file has also synced it [owned]; NULL afterwards. */
  char *dir_unsynced;
  unsigned fsyncs_in_flight;
  bool closed;    /* env_file_close was called */
  bool readable;  /* opened with ENV_O_READ */
  GQueue windows; /* of view_window (file_link), for views */
} env_uv__file;

/* One fsync, or one writeback start (ENV_ADVICE_WRITEBACK), on the thread
 * pool. */
typedef struct fsync_work {
  uv_work_t req;
  env_uv *env;
  env_uv__file *file; /* NULL for a directory fsync */
  int fd;             /* the file's descriptor, or -1 */
  /* A writeback start of [wb_offset, wb_offset + wb_len) instead of an
   * fsync when wb_len > 0 (no callback, no status). */
  uint64_t wb_offset;
  uint64_t wb_len;
  char *dir_path;     /* a directory to sync too (or only) [owned], or NULL */
  int status;         /* set by the worker */
  env_done_cb cb;
  void *arg;
} fsync_work;

static void fsync_submit(env_uv *env, fsync_work *work);

static env_uv__file *file_from(env_file_t *file) {
  SL_ASSERT(file != NULL && file->ops == &env_uv__ops);
  return (env_uv__file *)file;
}

/* ---------------------------------------------------------------- files */

int env_uv__file_open(env_t *e, const char *path, int flags, env_file_t **out) {
  env_uv *env = env_uv__from(e);
  SL_ASSERT(path != NULL && out != NULL);
  SL_ASSERT((flags & ~ENV_O_ALL) == 0);
  SL_ASSERT(flags & (ENV_O_READ | ENV_O_WRITE));
  SL_ASSERT(!(flags & ENV_O_EXCL) || (flags & ENV_O_CREATE));
  SL_ASSERT(!env->closing);
  *out = NULL;
  int os_flags = O_CLOEXEC;
  if ((flags & ENV_O_READ) && (flags & ENV_O_WRITE))
    os_flags |= O_RDWR;
  else if (flags & ENV_O_WRITE)
    os_flags |= O_WRONLY;
  else
    os_flags |= O_RDONLY;
  if (flags & ENV_O_CREATE)
    os_flags |= O_CREAT;
  if (flags & ENV_O_EXCL)
    os_flags |= O_EXCL;
  if (flags & ENV_O_TRUNC)
    os_flags |= O_TRUNC;

  int rc;
  int fd;
  do {
    fd = open(path, os_flags, FILE_MODE);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0)
    return -errno;
  /* Linux opens a directory read-only without complaint; env.h promises
   * -EISDIR. */
  struct stat st;
  if (fstat(fd, &st) != 0) {
    rc = -errno;
    goto out_close_fd;
  }
  if (S_ISDIR(st.st_mode)) {
    rc = -EISDIR;
    goto out_close_fd;
  }
  env_uv__file *file = g_new0(env_uv__file, 1);
  file->base.ops = &env_uv__ops;
  file->env = env;
  file->fd = fd;
  file->readable = (flags & ENV_O_READ) != 0;
  if (flags & ENV_O_CREATE)
    file->dir_unsynced = g_path_get_dirname(path);
  g_hash_table_add(env->files, file);
  *out = &file->base;
  return 0;

out_close_fd:
  close(fd);
  return rc;
}

/* The kernel's off_t is signed: reject ranges it cannot express. */
static bool range_fits(uint64_t offset, size_t len) {
  return offset <= (uint64_t)INT64_MAX &&
         (uint64_t)len <= (uint64_t)INT64_MAX - offset;
}

/* ---------------------------------------------------------------- views */

/* Empty views point here (never NULL). */
static const uint8_t view_empty[1];

static void window_unmap(struct env_uv__views *v, view_window *w) {
  g_queue_unlink(&v->lru, &w->lru_link);
  g_queue_unlink(&w->file->windows, &w->file_link);
  /* munmap fails only for a bad range, which would be our bug. */
  int rc = munmap(w->addr, w->len);
  SL_ASSERT(rc == 0);
  SL_ASSERT(v->mapped_bytes >= w->len);
  v->mapped_bytes -= w->len;
  g_free(w);
}

/* Unmaps every window of the file (truncate, close: its views end). */
static void views_drop_file(env_uv__file *file) {
  struct env_uv__views *v = file->env->views;
  GList *link;
  while ((link = g_queue_peek_head_link(&file->windows)))
    window_unmap(v, ((view_window *)link->data));
}

static void copies_free(struct env_uv__views *v) {
  for (guint i = 0; i < v->copies->len; i++)
    g_free(g_ptr_array_index(v->copies, i));
  g_ptr_array_set_size(v->copies, 0);
}

/* The loop's next turn: no callback is running, so no view is alive. */
static void views_trim(uv_prepare_t *handle) {
  struct env_uv__views *v = handle->data;
  copies_free(v);
  GList *tail;
  while (v->mapped_bytes > ENV_FILE_VIEW_KEEP_BYTES &&
         (tail = g_queue_peek_tail_link(&v->lru)))
    window_unmap(v, tail->data);
  uv_prepare_stop(handle);
  v->trim_started = false;
}

/* Trims on the next turn. The handle is referenced while started, so a
 * loop with nothing else to do still runs that turn. */
static void views_trim_later(struct env_uv__views *v) {
  if (v->trim_started)
    return;
  int rc = uv_prepare_start(&v->trim, views_trim);
  SL_ASSERT(rc == 0);
  v->trim_started = true;
}

static struct env_uv__views *views_of(env_uv *env) {
  if (env->views)
    return env->views;
  struct env_uv__views *v = g_new0(struct env_uv__views, 1);
  v->env = env;
  v->copies = g_ptr_array_new();
  int rc = uv_prepare_init(env->loop, &v->trim);
  SL_ASSERT(rc == 0);
  v->trim.data = v;
  env_uv__ref(env); /* until the handle's close callback */
  env->views = v;
  return v;
}

static void views_closed(uv_handle_t *handle) {
  struct env_uv__views *v = handle->data;
  env_uv *env = v->env;
  g_ptr_array_free(v->copies, TRUE);
  g_free(v);
  env_uv__unref(env);
}

/* env_uv_free, after every file was closed. */
static void views_close(env_uv *env) {
  struct env_uv__views *v = env->views;
  if (!v)
    return;
  SL_ASSERT(g_queue_is_empty(&v->lru) && v->mapped_bytes == 0);
  copies_free(v);
  env->views = NULL;
  uv_close((uv_handle_t *)&v->trim, views_closed);
}

/* A window of file holding [offset, offset+len), or NULL. */
static view_window *window_find(env_uv__file *file, uint64_t offset,
                                size_t len) {
  for (GList *l = file->windows.head; l; l = l->next) {
    view_window *w = l->data;
    if (offset >= w->start && offset + len <= w->start + w->len)
      return w;
  }
  return NULL;
}

/* Maps the aligned chunks around [offset, offset+len); NULL if mmap
 * fails. */
static view_window *window_map(struct env_uv__views *v, env_uv__file *file,
                               uint64_t offset, size_t len) {
  uint64_t start = offset & ~(VIEW_WINDOW_BYTES - 1);
  uint64_t end =
      (offset + len + VIEW_WINDOW_BYTES - 1) & ~(VIEW_WINDOW_BYTES - 1);
  if (end - start > SIZE_MAX)
    return NULL;
  void *addr = mmap(NULL, (size_t)(end - start), PROT_READ, MAP_SHARED,
                    file->fd, (off_t)start);
  if (addr == MAP_FAILED)
    return NULL;
  view_window *w = g_new0(view_window, 1);
  w->file = file;
  w->addr = addr;
  w->start = start;
  w->len = (size_t)(end - start);
  w->lru_link.data = w;
  w->file_link.data = w;
  g_queue_push_head_link(&file->windows, &w->file_link);
  v->mapped_bytes += w->len;
  return w;
}

/* The fallback: a private copy, freed on the next turn. */
static int view_copy(struct env_uv__views *v, env_uv__file *file,
                     uint64_t offset, size_t len, const uint8_t **out) {
  uint8_t *copy = g_try_malloc(len);
  if (!copy)
    return -ENOMEM;
  size_t got = 0;
  int rc = env_uv__file_pread(&file->base, copy, len, offset, &got);
  if (rc == 0 && got < len)
    rc = -ERANGE; /* shrunk since the size was checked */
  if (rc < 0) {
    g_free(copy);
    return rc;
  }
  g_ptr_array_add(v->copies, copy);
  views_trim_later(v);
  *out = copy;
  return 0;
}

int env_uv__file_fd(env_file_t *f) {
  env_uv__file *file = file_from(f);
  SL_ASSERT(!file->closed && file->readable);
  return file->fd;
}

int env_uv__file_view(env_file_t *f, uint64_t offset, size_t len,
                      const uint8_t **out) {
  env_uv__file *file = file_from(f);
  SL_ASSERT(!file->closed && !file->env->closing);
  SL_ASSERT(out != NULL);
  *out = NULL;
  if (!file->readable)
    return -EBADF;
  if (!range_fits(offset, len))
    return -EFBIG;
  /* The size now, not a remembered one: any handle may have shrunk it. */
  struct stat st;
  if (fstat(file->fd, &st) != 0)
    return -errno;
  if (offset + len > (uint64_t)st.st_size)
    return -ERANGE;
  if (len == 0) {
    *out = view_empty;
    return 0;
  }
  struct env_uv__views *v = views_of(file->env);
  view_window *w = window_find(file, offset, len);
  if (w) {
    g_queue_unlink(&v->lru, &w->lru_link);
  } else {
    w = window_map(v, file, offset, len);
    if (!w)
      return view_copy(v, file, offset, len, out);
    if (v->mapped_bytes > ENV_FILE_VIEW_KEEP_BYTES)
      views_trim_later(v);
  }
  g_queue_push_head_link(&v->lru, &w->lru_link);
  *out = w->addr + (offset - w->start);
  return 0;
}

int env_uv__file_pwrite(env_file_t *f, const void *data, size_t len,
                        uint64_t offset) {
  env_uv__file *file = file_from(f);
  SL_ASSERT(!file->closed);
  SL_ASSERT(data != NULL || len == 0);
  if (!range_fits(offset, len))
    return -EFBIG;
  const uint8_t *bytes = data;
  size_t done = 0;
  while (done < len) {
    ssize_t n =
        pwrite(file->fd, bytes + done, len - done, (off_t)(offset + done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -errno;
    if (n == 0)
      return -EIO; /* no progress and no error: never loop forever */
    done += (size_t)n;
  }
  return 0;
}

int env_uv__file_append(env_file_t *f, const void *data, size_t len) {
  uint64_t size = 0;
  int rc = env_uv__file_size(f, &size);
  if (rc < 0)
    return rc;
  return env_uv__file_pwrite(f, data, len, size);
}

int env_uv__file_pread(env_file_t *f, void *buf, size_t len, uint64_t offset,
                       size_t *n_read) {
  env_uv__file *file = file_from(f);
  SL_ASSERT(!file->closed);
  SL_ASSERT((buf != NULL || len == 0) && n_read != NULL);
  *n_read = 0;
  if (!range_fits(offset, len))
    return -EFBIG;
  uint8_t *bytes = buf;
  size_t done = 0;
  while (done < len) {
    ssize_t n =
        pread(file->fd, bytes + done, len - done, (off_t)(offset + done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -errno;
    if (n == 0)
      break; /* end of file */
    done += (size_t)n;
  }
  *n_read = done;
  return 0;
}

int env_uv__file_size(env_file_t *f, uint64_t *size) {
  env_uv__file *file = file_from(f);
  SL_ASSERT(!file->closed);
  SL_ASSERT(size != NULL);
  struct stat st;
  if (fstat(file->fd, &st) != 0)
    return -errno;
  *size = (uint64_t)st.st_size;
  return 0;
}

int env_uv__file_truncate(env_file_t *f, uint64_t size) {
  env_uv__file *file = file_from(f);
  SL_ASSERT(!file->closed);
  if (size > (uint64_t)INT64_MAX)
    return -EFBIG;
  views_drop_file(file);
  int rc;
  do {
    rc = ftruncate(file->fd, (off_t)size);
  } while (rc != 0 && errno == EINTR);
  return rc == 0 ? 0 : -errno;
}

void env_uv__file_advise(env_file_t *f, env_file_advice advice, uint64_t offset,
                         uint64_t len) {
  env_uv__file *file = file_from(f);
  SL_ASSERT(!file->closed && !file->env->closing);
  if (len == 0 || !range_fits(offset, len))
    return;
  if (advice == ENV_ADVICE_RESERVE) {
    /* Advice: EOPNOTSUPP (a file system without fallocate), ENOSPC and
     * the rest only lose the effect; a write will report its own error. */
    (void)fallocate(file->fd, FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)len);
    return;
  }
  SL_ASSERT(advice == ENV_ADVICE_WRITEBACK);
  fsync_work *work = g_new0(fsync_work, 1);
  work->file = file;
  work->fd = file->fd;
  work->wb_offset = offset;
  work->wb_len = len;
  file->fsyncs_in_flight++;
  fsync_submit(file->env, work);
}

/* Frees the handle once it is closed and no fsync still uses its fd. */
static void file_release_if_done(env_uv__file *file) {
  if (!file->closed || file->fsyncs_in_flight > 0)
    return;
  /* close() can report a delayed write error (NFS), but the descriptor is
   * gone either way and env.h's durability goes through fsync alone. */
  (void)close(file->fd);
  g_hash_table_remove(file->env->files, file);
  g_free(file->dir_unsynced);
  g_free(file);
}

void env_uv__file_close(env_file_t *f) {
  env_uv__file *file = file_from(f);
  SL_ASSERT(!file->closed);
  views_drop_file(file);
  file->closed = true;
  file_release_if_done(file);
}

/* ---------------------------------------------------------------- fsync */

static int fsync_fd(int fd) {
  int rc;
  do {
    rc = fsync(fd);
  } while (rc != 0 && errno == EINTR);
  return rc == 0 ? 0 : -errno;
}

static int fsync_dir(const char *path) {
  int fd;
  do {
    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0)
    return -errno;
  int rc = fsync_fd(fd);
  close(fd);
  return rc;
}

/* Thread pool: only the fields copied into the work item are touched. */
static void fsync_run(uv_work_t *req) {
  fsync_work *work = req->data;
  work->status = 0;
  if (work->wb_len > 0) {
    /* Advice: a failure only loses the effect (env.h). */
    (void)sync_file_range(work->fd, (off64_t)work->wb_offset,
                          (off64_t)work->wb_len, SYNC_FILE_RANGE_WRITE);
    return;
  }
  if (work->fd >= 0)
    work->status = fsync_fd(work->fd);
  if (work->status == 0 && work->dir_path)
    work->status = fsync_dir(work->dir_path);
}

/* Back on the loop. */
static void fsync_done(uv_work_t *req, int uv_status) {
  fsync_work *work = req->data;
  env_uv *env = work->env;
  int status = uv_status < 0 ? env_uv__errno(uv_status) : work->status;
  env_uv__file *file = work->file;
  if (file && status == 0 && work->dir_path) {
    g_free(file->dir_unsynced);
    file->dir_unsynced = NULL;
  }
  /* env.h: once the node closed the file (or the env is being freed), the
   * fsync still finishes but nobody is called back. */
  if (work->cb && !env->closing && !(file && file->closed))
    work->cb(work->arg, status);
  /* Released only after the callback, which may close the file. */
  if (file) {
    file->fsyncs_in_flight--;
    file_release_if_done(file);
  }
  g_free(work->dir_path);
  g_free(work);
  env_uv__unref(env);
}

static void fsync_submit(env_uv *env, fsync_work *work) {
  work->env = env;
  work->req.data = work;
  env_uv__ref(env);
  int rc = uv_queue_work(env->loop, &work->req, fsync_run, fsync_done);
  SL_ASSERT(rc == 0); /* fails only for a NULL work function */
}

void env_uv__file_fsync(env_file_t *f, env_done_cb cb, void *arg) {
  env_uv__file *file = file_from(f);
  SL_ASSERT(!file->closed);
  SL_ASSERT(!file->env->closing);
  fsync_work *work = g_new0(fsync_work, 1);
  work->file = file;
  work->fd = file->fd;
  work->dir_path = g_strdup(file->dir_unsynced);
  work->cb = cb;
  work->arg = arg;
  file->fsyncs_in_flight++;
  fsync_submit(file->env, work);
}

void env_uv__dir_fsync(env_t *e, const char *path, env_done_cb cb, void *arg) {
  env_uv *env = env_uv__from(e);
  SL_ASSERT(path != NULL);
  SL_ASSERT(!env->closing);
  /* Even a bad path is reported through cb, on a later turn. */
  fsync_work *work = g_new0(fsync_work, 1);
  work->fd = -1;
  work->dir_path = g_strdup(path);
  work->cb = cb;
  work->arg = arg;
  fsync_submit(env, work);
}

/* ------------------------------------------------- names and directories */

int env_uv__mkdir(env_t *e, const char *path) {
  env_uv__from(e);
  SL_ASSERT(path != NULL);
  if (path[0] == '\0')
    return -ENOENT;
  int rc = 0;
  char *partial = g_strdup(path);
  /* Each missing ancestor in turn; an existing one is fine. A component
   * that is a file makes the next mkdir fail with ENOTDIR. */
  for (char *p = partial + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(partial, DIR_MODE) != 0 && errno != EEXIST) {
      rc = -errno;
      goto out_free_partial;
    }
    *p = '/';
  }
  if (mkdir(path, DIR_MODE) != 0) {
    rc = -errno;
    struct stat st;
    if (rc == -EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
      rc = 0;
  }

out_free_partial:
  g_free(partial);
  return rc;
}

int env_uv__rename(env_t *e, const char *from, const char *to) {
  env_uv__from(e);
  SL_ASSERT(from != NULL && to != NULL);
  return rename(from, to) == 0 ? 0 : -errno;
}

int env_uv__unlink(env_t *e, const char *path) {
  env_uv__from(e);
  SL_ASSERT(path != NULL);
  return unlink(path) == 0 ? 0 : -errno;
}

int env_uv__rmdir(env_t *e, const char *path) {
  env_uv__from(e);
  SL_ASSERT(path != NULL);
  return rmdir(path) == 0 ? 0 : -errno;
}

static int compare_names(const void *a, const void *b) {
  /* strcmp compares as unsigned char: bytewise, as env.h asks. */
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The array and its strings come from malloc, not GLib, because
 * env_names_free (env.c) releases them with free(). */
int env_uv__list_dir(env_t *e, const char *path, char ***names) {
  env_uv__from(e);
  SL_ASSERT(path != NULL && names != NULL);
  *names = NULL;
  int rc = 0;
  size_t count = 0;
  size_t capacity = LIST_DIR_CAPACITY_INITIAL;
  char **list = malloc((capacity + 1) * sizeof *list);
  if (!list)
    return -ENOMEM;
  list[0] = NULL;
  DIR *dir = opendir(path);
  if (!dir) {
    rc = -errno;
    goto out_free_list;
  }
  for (;;) {
    errno = 0;
    struct dirent *entry = readdir(dir);
    if (!entry) {
      rc = errno ? -errno : 0;
      break;
    }
    if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
      continue;
    if (count == capacity) {
      char **grown = realloc(list, (capacity * 2 + 1) * sizeof *list);
      if (!grown) {
        rc = -ENOMEM;
        break;
      }
      list = grown;
      capacity *= 2;
    }
    list[count] = strdup(entry->d_name);
    if (!list[count]) {
      rc = -ENOMEM;
      break;
    }
    list[++count] = NULL;
  }
  closedir(dir);
  if (rc < 0)
    goto out_free_list;
  qsort(list, count, sizeof *list, compare_names);
  *names = list;
  return 0;

out_free_list:
  env_names_free(list);
  return rc;
}

int env_uv__stat(env_t *e, const char *path, bool *is_dir) {
  env_uv__from(e);
  SL_ASSERT(path != NULL && is_dir != NULL);
  struct stat st;
  if (stat(path, &st) != 0)
    return -errno;
  *is_dir = S_ISDIR(st.st_mode);
  return 0;
}

/* ------------------------------------------------------------- teardown */

void env_uv__fs_close_all(env_uv *env) {
  GList *files = g_hash_table_get_keys(env->files);
  for (GList *f = files; f; f = f->next) {
    env_uv__file *file = f->data;
    if (!file->closed)
      env_uv__file_close(&file->base);
  }
  g_list_free(files);
  views_close(env);
}
