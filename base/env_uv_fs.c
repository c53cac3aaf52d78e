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
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
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

typedef struct env_uv__file {
  env_file_t base; /* must be first */
  env_uv *env;
  int fd;
  /* The directory holding a file this handle may have created, until an
   * fsync of the file has also synced it [owned]; NULL afterwards. */
  char *dir_unsynced;
  unsigned fsyncs_in_flight;
  bool closed; /* env_file_close was called */
} env_uv__file;

/* One fsync on the thread pool. */
typedef struct fsync_work {
  uv_work_t req;
  env_uv *env;
  env_uv__file *file; /* NULL for a directory fsync */
  int fd;             /* the file's descriptor, or -1 */
  char *dir_path;     /* a directory to sync too (or only) [owned], or NULL */
  int status;         /* set by the worker */
  env_done_cb cb;
  void *arg;
} fsync_work;

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
  int rc;
  do {
    rc = ftruncate(file->fd, (off_t)size);
  } while (rc != 0 && errno == EINTR);
  return rc == 0 ? 0 : -errno;
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
}
