/*
 * disk.h — a simulated disk: an in-memory file system with a volatile (page
 * cache) image and a durable image, for the simulator's env.
 *
 * This module knows nothing about time or events: the simulator core decides
 * when an fsync completes and calls back into it. It mirrors the disk half of
 * base/env.h with these semantics:
 *
 *  - Writes, truncates and name changes apply to the volatile image at once;
 *    reads see the volatile image.
 *  - sim_disk_fsync_begin() records which of a file's changes an fsync
 *    covers (everything written to it before the call); when the simulator
 *    completes that fsync with sim_disk_fsync_end(), those changes, the
 *    file's size, and the file's name (if newly created) become durable.
 *    sim_disk_dir_fsync_begin()/end() do the same for name changes
 *    (create/rename/unlink/mkdir/rmdir) directly inside one directory.
 *    Precisely:
 *      . A covered byte becomes durable with its value at end (a page
 *        written back carries its newest bytes); changes made after begin
 *        stay unsynced. Writes past the end include the hole they open,
 *        and growing truncates count as writes of zeros.
 *      . A file with no durable name gets, at end, the name it had at
 *        begin, together with its directory's earlier name changes (they
 *        apply in order). Only that directory: a new directory's own name
 *        needs an fsync of its parent, so a file in a never-synced
 *        directory is lost in a crash even after its fsync.
 *      . A rename between two directories is durable as a whole once
 *        either directory's fsync covers it (along with both directories'
 *        earlier changes): a file is never durably in two places or none.
 *  - sim_disk_crash() throws the volatile image away and rebuilds it from
 *    the durable one. Unsynced written ranges are, per range and as chosen
 *    by the caller's random numbers: dropped, kept whole, or torn (a prefix
 *    cut at a 512-byte sector boundary is kept). With SIM_DISK_CRASH_GARBAGE
 *    a torn range may also leave random garbage bytes after the kept prefix,
 *    but only past the file's durable size before the crash (blocks
 *    allocated for an append whose data never arrived): a byte that was
 *    durable keeps its old value or gets its new one, never garbage, so
 *    rewriting durable bytes with the same bytes is safe.
 *    Without that flag no byte is ever invented: every byte read after a
 *    crash was written at that offset at some point (or is a zero from a
 *    hole or an extension).
 *    What survives is then the durable image (a second crash changes
 *    nothing); unsynced truncates and name changes are lost. Draws, for
 *    determinism: files in durable-tree order (each directory's names
 *    sorted bytewise, subdirectories depth first), each file's unsynced
 *    ranges in the order written (adjacent writes with no fsync begin in
 *    between form one range); per range one draw % 3 (drop, keep, torn);
 *    torn: one draw picks the cut among the sector boundaries strictly
 *    inside the range (none: nothing is kept), then with GARBAGE one draw
 *    % 2 (1: garbage) and one draw per 8 garbage bytes written.
 *  - Faults: bit rot (flip a bit in the durable image of a file), one-shot
 *    EIO on the next write/read/fsync, a capacity limit (ENOSPC).
 *
 * Paths are '/'-separated; a leading '/' is optional and "a//b" equals "a/b".
 * The root directory always exists. "." and ".." components are refused
 * (-EINVAL); a name over 255 bytes, a path over 4096 bytes or 128 levels
 * gives -ENAMETOOLONG.
 *
 * Limits: files up to 16 GiB (-EFBIG beyond), 65536 open handles (-EMFILE).
 * Memory: file bytes live in shared copy-on-write 4 KiB pages, so a synced
 * file costs about one copy of its data, an fsync costs the bytes it
 * covers, and a crash costs a pointer per page. A file with neither a name
 * nor an open handle loses its page cache (and its unsynced changes) at
 * once; it keeps only what a durable name could bring back.
 *
 * Errors: negative errno values as in env.h.
 * Ownership: the disk owns every file and handle; sim_disk_file_t handles
 * stay valid until sim_disk_close() or sim_disk_crash() (which invalidates
 * all handles: the caller must drop them first — it does so because a crash
 * kills the node that held them).
 */
#ifndef SLUICE_SIM_DISK_H
#define SLUICE_SIM_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sim_disk sim_disk_t;
typedef struct sim_disk_file sim_disk_file_t;

/* A random-number source supplied by the caller (the simulator's disk
 * stream), so crashes are deterministic from the seed. */
typedef uint64_t (*sim_disk_rand_fn)(void *arg);

sim_disk_t *sim_disk_new(void);
void sim_disk_free(sim_disk_t *d); /* NULL is fine */

/* Flags are env.h's ENV_O_*: pread needs ENV_O_READ, pwrite/append/
 * truncate need ENV_O_WRITE (else -EBADF). ENV_O_TRUNC truncates even
 * without ENV_O_WRITE, as Linux does. */
int sim_disk_open(sim_disk_t *d, const char *path, int flags,
                  sim_disk_file_t **out) __attribute__((warn_unused_result));
void sim_disk_close(sim_disk_t *d, sim_disk_file_t *f);
int sim_disk_pwrite(sim_disk_t *d, sim_disk_file_t *f, const void *data,
                    size_t len, uint64_t offset)
    __attribute__((warn_unused_result));
int sim_disk_append(sim_disk_t *d, sim_disk_file_t *f, const void *data,
                    size_t len) __attribute__((warn_unused_result));
int sim_disk_pread(sim_disk_t *d, sim_disk_file_t *f, void *buf, size_t len,
                   uint64_t offset, size_t *n_read)
    __attribute__((warn_unused_result));
/* env_file_view's disk half: a read-only pointer to [offset, offset+len)
 * of the volatile image, with pread's faults (-EBADF without ENV_O_READ;
 * an injected read EIO is used up the same way) and -ERANGE past the end.
 * A range inside one 4 KiB page is a pointer into that page, valid until
 * the file is next written, truncated or closed, or the disk crashes.
 * Pages are not contiguous in memory, so a longer range is copied into
 * scratch(scratch_arg, len) (len bytes owned by the caller, which decides
 * how long they live); scratch is only called then. Bit rot flipped into
 * the volatile image is visible either way. len 0 gives a non-NULL empty
 * view. */
typedef uint8_t *(*sim_disk_scratch_fn)(void *arg, size_t len);
int sim_disk_view(sim_disk_t *d, sim_disk_file_t *f, uint64_t offset,
                  size_t len, sim_disk_scratch_fn scratch, void *scratch_arg,
                  const uint8_t **out) __attribute__((warn_unused_result));
int sim_disk_size(sim_disk_t *d, sim_disk_file_t *f, uint64_t *size)
    __attribute__((warn_unused_result));
int sim_disk_truncate(sim_disk_t *d, sim_disk_file_t *f, uint64_t size)
    __attribute__((warn_unused_result));

int sim_disk_mkdir(sim_disk_t *d, const char *path)
    __attribute__((warn_unused_result));
int sim_disk_rename(sim_disk_t *d, const char *from, const char *to)
    __attribute__((warn_unused_result));
int sim_disk_unlink(sim_disk_t *d, const char *path)
    __attribute__((warn_unused_result));
int sim_disk_rmdir(sim_disk_t *d, const char *path)
    __attribute__((warn_unused_result));
/* Sorted, NULL-terminated, malloc'd names (free with env_names_free). */
int sim_disk_list_dir(sim_disk_t *d, const char *path, char ***names)
    __attribute__((warn_unused_result));
int sim_disk_stat(sim_disk_t *d, const char *path, bool *is_dir)
    __attribute__((warn_unused_result));

/* Fsync in two halves. begin returns a ticket (never 0) or a negative errno
 * (an injected EIO: the unsynced writes of the file are then lost from the
 * durable image's point of view — they stay volatile, read back fine, and a
 * crash drops them, as Linux leaves pages whose writeback failed; its
 * unsynced truncates are metadata and stay pending).
 * end(ticket) makes the covered changes durable and returns 0, or -EIO if an
 * EIO was injected for it. A ticket whose file was closed, unlinked or whose
 * disk crashed in between is ignored by end (returns -EIO).
 * A file fsync's ticket belongs to the handle it was begun on. Tickets may
 * end in any order; ending one twice, or an unknown one, gives -EIO.
 * dir_fsync_begin errors: -ENOENT, -ENOTDIR, -EIO (injected: the name
 * changes simply stay pending); its end gives -EIO if the directory was
 * removed meanwhile. */
int64_t sim_disk_fsync_begin(sim_disk_t *d, sim_disk_file_t *f);
int64_t sim_disk_dir_fsync_begin(sim_disk_t *d, const char *path);
int sim_disk_fsync_end(sim_disk_t *d, int64_t ticket);

enum {
  SIM_DISK_CRASH_GARBAGE = 1 << 0, /* torn ranges may end in garbage */
};

/* Power loss: see the top of this file. All handles become invalid. */
void sim_disk_crash(sim_disk_t *d, unsigned flags, sim_disk_rand_fn rand,
                    void *rand_arg);

/* ---- faults and inspection (for scenarios and tests) ---- */

/* Flips bit `bit` (0..7) of byte `offset` of the durable AND volatile image
 * of the file at path (bit rot on the medium). -ENOENT / -EINVAL (a bad
 * bit, a directory, or offset beyond the durable size; the volatile image
 * is flipped only if it is that long). */
int sim_disk_rot(sim_disk_t *d, const char *path, uint64_t offset, int bit);
/* The next write, read or fsync (respectively) on any file fails with -EIO.
 * write: pwrite or append (not truncate). fsync: the next file or directory
 * fsync begin or end, whichever comes first (an end that is -EIO anyway,
 * for a closed or unlinked file, does not use it up). */
void sim_disk_fail_next_write(sim_disk_t *d);
void sim_disk_fail_next_read(sim_disk_t *d);
void sim_disk_fail_next_fsync(sim_disk_t *d);
/* Disarms whichever of the three is still pending (a scenario's faults
 * end). */
void sim_disk_clear_faults(sim_disk_t *d);
/* Total volatile bytes allowed across files (0 = unlimited); writes beyond
 * it fail with -ENOSPC and change nothing. Counted: the sizes of files
 * that have a name or an open handle (growing truncates too; overwrites
 * inside a file need no space). */
void sim_disk_set_capacity(sim_disk_t *d, uint64_t bytes);
/* Durable image inspection: copies up to len bytes at offset of the durable
 * content of path (-ENOENT if its name is not durable). */
int sim_disk_durable_pread(sim_disk_t *d, const char *path, void *buf,
                           size_t len, uint64_t offset, size_t *n_read);
int sim_disk_durable_size(sim_disk_t *d, const char *path, uint64_t *size);
/* Bytes in the volatile image not yet durable (all files): the union of
 * the ranges an fsync would still make durable (changes lost to an
 * injected fsync EIO are not counted). */
uint64_t sim_disk_unsynced_bytes(sim_disk_t *d);

#endif
