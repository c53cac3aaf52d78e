/*
 * blockstore.h — the compute engine's only door to the file system.
 *
 * Every file the engine touches goes through here: text inputs, shuffle map
 * outputs and spill runs, files written by cm_save_as_text, and the
 * context's scratch directory. Executor threads call it directly with plain
 * POSIX/stdio I/O. That is a deliberate exception to DESIGN.md §1 for local
 * mode: the engine's data path is bulk, blocking and multi-threaded, which
 * the single-threaded env interface does not serve yet. Keeping all of it in
 * this one small module means the process and simulated executors of later
 * issues can route it through base/env.h by replacing this file only.
 *
 * Errors: functions return 0 or -1 with a GError (CM_ERROR, CM_ERROR_IO)
 * naming the path and the errno text. Nothing here asserts on I/O results.
 * Threading: every object is used by one thread at a time; distinct objects
 * may be used concurrently.
 */
#ifndef SLUICE_COMPUTE_BLOCKSTORE_H
#define SLUICE_COMPUTE_BLOCKSTORE_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compute/compute.h"

/* Size of a regular file in bytes. */
CM_MUST_CHECK int blk_file_size(const char *path, uint64_t *size,
                                GError **err);

/* The input files of a path: the path itself if it is a regular file, else
 * the regular files directly inside it, sorted by name, skipping names that
 * start with '.' or '_'. *out [owned]: a GPtrArray of g_malloc'd paths with
 * g_free as element free function. */
CM_MUST_CHECK int blk_list_inputs(const char *path, GPtrArray **out,
                                  GError **err);

/* Sequential reading from an offset. */
typedef struct blk_reader blk_reader;
blk_reader *blk_reader_open(const char *path, uint64_t offset, GError **err);
/* Reads up to len bytes; *got == 0 means end of file. */
CM_MUST_CHECK int blk_read(blk_reader *r, void *buf, size_t len, size_t *got,
                           GError **err);
void blk_reader_close(blk_reader *r); /* NULL is fine */

/* Buffered writing to a new (truncated) file. */
typedef struct blk_writer blk_writer;
blk_writer *blk_writer_create(const char *path, GError **err);
CM_MUST_CHECK int blk_write(blk_writer *w, const void *data, size_t len,
                            GError **err);
uint64_t blk_writer_bytes(const blk_writer *w);
/* Flushes and closes; the writer is freed even when it fails. */
CM_MUST_CHECK int blk_writer_close(blk_writer *w, GError **err);
/* Closes and deletes the file (failure paths). NULL is fine. */
void blk_writer_abort(blk_writer *w);

CM_MUST_CHECK int blk_rename(const char *from, const char *to, GError **err);
void blk_unlink(const char *path); /* missing files are fine */
CM_MUST_CHECK int blk_mkdir_p(const char *path, GError **err);
/* A fresh directory base/prefixXXXXXX; *out [owned, g_free]. */
CM_MUST_CHECK int blk_mkdtemp(const char *base, const char *prefix,
                              char **out, GError **err);
/* Removes a directory tree (explicit stack, no recursion). */
void blk_remove_tree(const char *path);
/* Creates path holding exactly these bytes. */
CM_MUST_CHECK int blk_write_file(const char *path, const void *data,
                                 size_t len, GError **err);

#endif
