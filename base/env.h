/*
 * env.h — the environment every Sluice node runs on.
 *
 * A node (broker, controller, compute driver or executor, client) is an
 * event-driven state machine. It never calls libuv, sockets, files, time(),
 * rand() or sleep() itself: everything it needs from the outside world comes
 * through the env_t it was started with. Two implementations exist:
 *
 *   - uv  (base/env_uv.h): a libuv loop, real TCP, real files, real clocks;
 *   - sim (sim/sim.h):     one thread, virtual time, simulated links and disks,
 *                          all randomness drawn from the run's seed.
 *
 * Same node code on both: a bug found by a simulator seed is a bug in the
 * production binary, and the seed replays it exactly.
 *
 * Threading: an env_t and everything obtained from it is used from one thread
 * only (the loop's). Callbacks run on that thread, one at a time, to
 * completion; no callback is ever invoked from inside the env call that
 * registered it (they are always deferred to a later turn of the loop).
 *
 * Errors: functions that can fail return 0 or a negative errno value
 * (-ENOENT, -EIO, -ENOSPC, -ECONNRESET, -EPIPE, ...) unless stated otherwise.
 *
 * Ownership: every pointer argument is borrowed for the duration of the call
 * unless documented otherwise. Connection and listener handles are owned
 * by the env (their lifetimes are spelled out below); a file handle belongs
 * to the caller from env_file_open until env_file_close.
 *
 * Crash (sim): when the simulator crashes a node, it first makes the node's
 * env "dead": from then on no callback of that node runs, every env call is
 * a harmless no-op (sends and writes are dropped, closes and cancels succeed,
 * opens fail with -EIO), then it calls the node's stop function so the node
 * can free its memory. Node code therefore needs no special crash path.
 */
#ifndef SLUICE_BASE_ENV_H
#define SLUICE_BASE_ENV_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct env env_t;
typedef struct env_conn env_conn_t;
typedef struct env_listener env_listener_t;
typedef struct env_file env_file_t;

/* ---------------------------------------------------------------- identity */

/* The node's name ("broker-1", "n0", ...). Owned by the env; valid for the
 * env's lifetime. */
const char *env_node_name(env_t *env);

/* The seed this env's random stream was derived from (the run's master seed
 * in the simulator, the configured or time-derived seed on uv). */
uint64_t env_seed(env_t *env);

/* ------------------------------------------------------------------- clock */

/* Monotonic nanoseconds. Never goes backwards; never skewed. */
uint64_t env_now_ns(env_t *env);

/* Wall-clock milliseconds since the Unix epoch. May jump and, in the
 * simulator, may be skewed per node. Use it for record timestamps, never for
 * timeouts. */
int64_t env_wall_ms(env_t *env);

/* ------------------------------------------------------------------ timers */

typedef void (*env_timer_cb)(void *arg);

/* One-shot timer: cb(arg) runs once, no earlier than delay_ns from now.
 * Returns a timer id (never 0). Timers with equal deadlines fire in the order
 * they were started. */
uint64_t env_timer_start(env_t *env, uint64_t delay_ns, env_timer_cb cb,
                         void *arg);

/* Cancels a pending timer. Returns true if it was pending (cb will not run),
 * false if the id is unknown, already fired or already cancelled — so stale
 * ids are harmless. */
bool env_timer_cancel(env_t *env, uint64_t timer_id);

/* ------------------------------------------------------------ randomness */

/* The node's own pseudo-random stream (deterministic from env_seed()). */
uint64_t env_rand_u64(env_t *env);
/* Uniform in [0, bound); bound > 0. Unbiased. */
uint64_t env_rand_below(env_t *env, uint64_t bound);
/* Uniform in [0, 1). */
double env_rand_double(env_t *env);

/* ----------------------------------------------------------------- network
 *
 * Connections are TCP-like: reliable, ordered byte streams. Bytes may arrive
 * split or merged differently from how they were sent; they are never
 * reordered or duplicated within a connection. A connection can stall or
 * break; a break surfaces as on_close with a negative status at both ends
 * (possibly only after a timeout on a stalled path).
 *
 * Addresses: a host name and a TCP port. On uv the host is an IP address or
 * a resolvable name; in the simulator it is a node name, and "localhost" /
 * "127.0.0.1" mean the node itself.
 */

typedef struct env_conn_cbs {
  /* The connection is established (outgoing connections only). */
  void (*on_connect)(void *arg, env_conn_t *conn);
  /* Bytes arrived. `data` is valid only during the call. */
  void (*on_data)(void *arg, env_conn_t *conn, const uint8_t *data,
                  size_t len);
  /* The send queue drained below ENV_CONN_DRAIN_BYTES after having been
   * above it (back pressure: a writer can wait for this). May be NULL. */
  void (*on_drain)(void *arg, env_conn_t *conn);
  /* The connection ended: status 0 = the peer closed cleanly (EOF) after all
   * of its data was delivered; < 0 = failed (-ECONNREFUSED, -ECONNRESET,
   * -ETIMEDOUT, ...), including a failed connect. After on_close returns the
   * handle is freed by the env: do not touch it again, and do not call
   * env_conn_close on it. */
  void (*on_close)(void *arg, env_conn_t *conn, int status);
  /* Optional (may be NULL; last, so positional initialisers of the four
   * above stay valid): memory of the node's own for the next read, so
   * that bytes land where the node wants them (the rest of a frame whose
   * size prefix it has seen) instead of being copied out of the env's
   * buffer. On entry *len is the env's usual read size (a hint); the node
   * returns a pointer to *len > 0 writable bytes, or NULL to let the env
   * read into its own buffer as without this callback. If it lends memory,
   * the on_data that follows, if any (a read may bring nothing), gets data
   * pointing at the start of it, with len <= the bytes lent: the node
   * recognises its own memory and keeps the bytes in place. The memory must
   * stay valid and untouched until that on_data, the next on_alloc, or
   * on_close. Called only while reading (never while paused or closed);
   * must not call into the env. The same bytes arrive in the same order
   * either way; only the cut may differ (uv reads at most what was lent;
   * the simulator keeps its cut and uses its own buffer when the loan is
   * too short, so traces do not depend on loans). */
  uint8_t *(*on_alloc)(void *arg, env_conn_t *conn, size_t *len);
} env_conn_cbs;

/* The send-queue level below which on_drain fires again. */
#define ENV_CONN_DRAIN_BYTES ((size_t)1 << 20)

/* A new inbound connection. The node must call env_conn_set_cbs() before
 * returning (or env_conn_close() to refuse it). */
typedef void (*env_accept_cb)(void *arg, env_conn_t *conn);

/* Listens on host:port (port 0 picks a free port; see env_listener_port).
 * On success stores the listener in *out and returns 0. Errors: -EADDRINUSE,
 * -EADDRNOTAVAIL, -EINVAL, ... The listener lives until env_listener_close. */
int env_listen(env_t *env, const char *host, uint16_t port,
               env_accept_cb on_accept, void *arg, env_listener_t **out)
    __attribute__((warn_unused_result));
uint16_t env_listener_port(env_listener_t *listener);
/* Stops accepting. Established connections are unaffected. NULL is fine. */
void env_listener_close(env_listener_t *listener);

/* Starts connecting to host:port. Returns the handle at once; on_connect or
 * on_close (with the error) follows later. `cbs` is copied. Never NULL. */
env_conn_t *env_connect(env_t *env, const char *host, uint16_t port,
                        const env_conn_cbs *cbs, void *arg);

/* Sets the callbacks of an accepted connection (cbs is copied). */
void env_conn_set_cbs(env_conn_t *conn, const env_conn_cbs *cbs, void *arg);

/* Queues len bytes (copied) for sending. Returns 0, or -EPIPE / -ENOTCONN
 * when the connection is closing or broken (on_close will tell why).
 * Sending before on_connect is allowed: bytes go out once connected. */
int env_conn_send(env_conn_t *conn, const uint8_t *data, size_t len)
    __attribute__((warn_unused_result));

/* One piece of a gathered send: len bytes at data (borrowed). */
typedef struct env_iovec {
  const void *data; /* may be NULL only when len == 0 */
  size_t len;
} env_iovec;

/* Sends the n pieces in order, exactly as env_conn_send of their
 * concatenation would: after anything queued, with the same errors and the
 * same back-pressure accounting (queued bytes, on_drain). The pieces are
 * borrowed for the call only: whatever the network does not take at once
 * is copied. Lets a node send a frame built of a small encoded header and
 * large borrowed pieces (a fetch response's record batches) without first
 * copying them into one buffer. n may be 0; empty pieces are skipped. */
int env_conn_sendv(env_conn_t *conn, const env_iovec *iov, size_t n)
    __attribute__((warn_unused_result));

/* Where the bytes of one piece of a gathered send also lie: bytes
 * [offset, offset + len) of `file` (opened with ENV_O_READ), len being the
 * piece's. file NULL: the piece is memory only. */
typedef struct env_iovec_file {
  env_file_t *file; /* borrowed for the call; NULL = none */
  uint64_t offset;
} env_iovec_file;

/* env_conn_sendv where files[i] (files may be NULL: none at all) says that
 * piece i's bytes are also in a file — typically iov[i] is a view of them
 * (env_file_view) — so that an env may send them from the file instead of
 * from memory (uv: sendfile(2), which spares the copy into the socket).
 * iov[i].data stays required and must hold the same bytes as the file
 * does during the call: an env may ignore `files` (the simulator does,
 * so traces do not depend on it), and copies what the network does not
 * take at once from data. Order, errors and back-pressure accounting are
 * exactly env_conn_sendv's. Caveat (as with any sendfile): what went out
 * from the file may stay page-cache references until the peer has read
 * it, so overwriting or truncating those file bytes before then may change
 * what the peer receives; appending after them is safe. */
int env_conn_sendv_files(env_conn_t *conn, const env_iovec *iov,
                         const env_iovec_file *files, size_t n)
    __attribute__((warn_unused_result));

/* Bytes queued and not yet handed to the network. */
size_t env_conn_queued_bytes(env_conn_t *conn);

/* Read-side back pressure: while paused, on_data is not called and the peer
 * eventually stalls. */
void env_conn_pause_reading(env_conn_t *conn);
void env_conn_resume_reading(env_conn_t *conn);

/* Closes gracefully: queued bytes are still sent, then the peer sees EOF.
 * After this call the node gets no further callbacks for `conn` and must not
 * use it again; the env frees it. NULL is fine. */
void env_conn_close(env_conn_t *conn);

/* Peer description for logs ("127.0.0.1:53122", "n2:9092"). Owned by conn. */
const char *env_conn_peer(env_conn_t *conn);

/* -------------------------------------------------------------------- disk
 *
 * Reads and writes are synchronous and go to the page cache: they are
 * visible to later reads at once but are NOT durable. A file's bytes become
 * durable when an env_file_fsync() issued after the write completes with
 * status 0. A crash (power loss, sim crash) keeps only durable bytes, except
 * that unsynced bytes may survive in part (torn) — never bytes that were not
 * written.
 *
 * Names: creating, renaming and unlinking are durable once env_dir_fsync() of
 * the containing directory completes; a newly created file's name is also
 * durable once an fsync of the file itself completes.
 *
 * Paths are plain strings ('/'-separated). Each node sees its own disk in the
 * simulator; on uv they are real paths.
 */

enum {
  ENV_O_READ = 1 << 0,   /* open for reading */
  ENV_O_WRITE = 1 << 1,  /* open for writing */
  ENV_O_CREATE = 1 << 2, /* create if missing */
  ENV_O_EXCL = 1 << 3,   /* with CREATE: fail with -EEXIST if it exists */
  ENV_O_TRUNC = 1 << 4,  /* truncate to 0 on open */
};

/* Opens a file. On success stores the handle in *out (owned by the caller,
 * released with env_file_close). Errors: -ENOENT, -EEXIST, -EISDIR, -EIO,
 * -EACCES, -EMFILE. */
int env_file_open(env_t *env, const char *path, int flags, env_file_t **out)
    __attribute__((warn_unused_result));

/* Writes all len bytes at offset (the file grows as needed; a gap reads as
 * zeros). Errors: -EIO, -ENOSPC, -EBADF (not opened for writing). */
int env_file_pwrite(env_file_t *file, const void *data, size_t len,
                    uint64_t offset) __attribute__((warn_unused_result));

/* Appends all len bytes at the current end of the file. */
int env_file_append(env_file_t *file, const void *data, size_t len)
    __attribute__((warn_unused_result));

/* Reads up to len bytes at offset into buf; stores the count in *n_read
 * (short only at end of file). Errors: -EIO, -EBADF. */
int env_file_pread(env_file_t *file, void *buf, size_t len, uint64_t offset,
                   size_t *n_read) __attribute__((warn_unused_result));

/* A read-only view of the file's bytes [offset, offset+len) as they are
 * now (exactly what env_file_pread would copy out): stores a pointer in
 * *out, without copying where the implementation can (uv: mmap windows of
 * the page cache). Needs ENV_O_READ. len 0 gives a valid, empty view.
 *
 * Lifetime: the view stays valid until control returns to the event loop
 * (the end of the current callback; for code running outside any callback,
 * until the loop next runs) or until the file is written, truncated or
 * closed — through this handle or any other — whichever comes first. Many
 * views, of one file or several, may be alive at once within one callback.
 * The bytes must not be written through the pointer.
 *
 * Memory: an implementation may keep mappings between callbacks so that
 * sequential views do not fault again, but no more than
 * ENV_FILE_VIEW_KEEP_BYTES of them per env once a callback has returned
 * (within one callback, views are never taken away, whatever their total).
 *
 * Errors: -ERANGE if offset+len is past the end of the file, -EIO (also
 * injected by the simulator like a pread's), -EBADF, -EFBIG; *out is NULL
 * on error. A file truncated by another process while it is viewed is not
 * covered (on uv the process may get SIGBUS, as with any mmap). */
#define ENV_FILE_VIEW_KEEP_BYTES ((size_t)64 << 20)
int env_file_view(env_file_t *file, uint64_t offset, size_t len,
                  const uint8_t **out) __attribute__((warn_unused_result));

/* Current size in bytes (page cache view). */
int env_file_size(env_file_t *file, uint64_t *size)
    __attribute__((warn_unused_result));

/* Shrinks or extends (with zeros) the file to size bytes. */
int env_file_truncate(env_file_t *file, uint64_t size)
    __attribute__((warn_unused_result));

/* Advice about a file's future, never needed for correctness: an
 * implementation may ignore it (the simulator ignores both kinds, so they
 * change nothing in a run), and a failure only loses the effect, so
 * nothing is returned. Needs ENV_O_WRITE.
 *
 *  ENV_ADVICE_RESERVE: give [offset, offset+len) its disk space now,
 *    without changing the file's size, so that later writes there do less
 *    work (uv: fallocate with FALLOC_FL_KEEP_SIZE). Space reserved past
 *    the end of the file is given back by env_file_truncate (any size,
 *    the current one included).
 *  ENV_ADVICE_WRITEBACK: start writing the range's unsynced bytes to the
 *    disk without waiting for it, so that they do not pile up until the
 *    kernel writes them all at once. It does not make them durable (only
 *    env_file_fsync does). uv: sync_file_range(SYNC_FILE_RANGE_WRITE), run
 *    on the thread pool like an fsync. */
typedef enum env_file_advice {
  ENV_ADVICE_RESERVE,
  ENV_ADVICE_WRITEBACK,
} env_file_advice;
void env_file_advise(env_file_t *file, env_file_advice advice, uint64_t offset,
                     uint64_t len);

/* Makes every byte written to the file before this call durable, then calls
 * cb(arg, status) on a later turn (status 0 or -EIO); cb may be NULL.
 *
 * A failed fsync (-EIO) means the unsynced bytes it covered may be lost for
 * good: as on Linux, a later fsync does NOT make them durable. To keep
 * them, write them again, then fsync again.
 *
 * Closing the file while an fsync is pending is allowed: the fsync still
 * runs to completion in the background, but its callback is never called
 * (so a node can stop at any time without being called back into freed
 * memory). Whether its bytes became durable is then unknown. */
typedef void (*env_done_cb)(void *arg, int status);
void env_file_fsync(env_file_t *file, env_done_cb cb, void *arg);

/* Releases the handle (does not fsync). NULL is fine. */
void env_file_close(env_file_t *file);

/* Directory and name operations (synchronous, page-cache semantics as
 * above). env_mkdir creates missing parents too and succeeds if the directory
 * exists. env_rename replaces `to` atomically if it exists. */
int env_mkdir(env_t *env, const char *path) __attribute__((warn_unused_result));
int env_rename(env_t *env, const char *from, const char *to)
    __attribute__((warn_unused_result));
int env_unlink(env_t *env, const char *path) __attribute__((warn_unused_result));
int env_rmdir(env_t *env, const char *path) __attribute__((warn_unused_result));

/* Lists the names in a directory (no "." or ".."), sorted bytewise, as a
 * NULL-terminated array. *names is owned by the caller: free with
 * env_names_free. Errors: -ENOENT, -ENOTDIR, -EIO. */
int env_list_dir(env_t *env, const char *path, char ***names)
    __attribute__((warn_unused_result));
void env_names_free(char **names);

/* 0 if path exists (file or directory), setting *is_dir; else -ENOENT. */
int env_stat(env_t *env, const char *path, bool *is_dir)
    __attribute__((warn_unused_result));

/* Makes earlier name changes inside directory `path` durable, then calls
 * cb(arg, status) on a later turn. cb may be NULL. */
void env_dir_fsync(env_t *env, const char *path, env_done_cb cb, void *arg);

/* ----------------------------------------------------- logging and metrics */

typedef enum env_log_level {
  ENV_LOG_DEBUG = 0,
  ENV_LOG_INFO = 1,
  ENV_LOG_WARN = 2,
  ENV_LOG_ERROR = 3,
} env_log_level;

/* A human-readable log line, prefixed by the env with time and node name. */
void env_log(env_t *env, env_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void env_logv(env_t *env, env_log_level level, const char *fmt, va_list ap);

/* A structured trace event: `kind` is a short dotted name ("log.append",
 * "repl.fetch"), `fmt` formats the JSON object members that follow it, e.g.
 *   env_trace(env, "log.append", "\"offset\":%" PRId64, off);
 * In the simulator every trace event enters the run's trace and its hash; on
 * uv trace events are discarded unless tracing was switched on. */
void env_trace(env_t *env, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Adds delta to the named counter (names are static strings). */
void env_metric_add(env_t *env, const char *name, int64_t delta);
/* Current value of a counter (0 if never touched). */
int64_t env_metric_get(env_t *env, const char *name);

/* ------------------------------------------------------------------- nodes
 *
 * What the simulator (and the uv programs) need to run a node: start it on an
 * env, and stop it. `start` boots from whatever is durable on the env's disk
 * (a restart after a crash calls start again on the surviving image).
 * `stop` frees the node's memory; it may call env functions (they are no-ops
 * if the node was crashed).
 */
typedef struct env_node_ops {
  const char *kind; /* "broker", "selftest", ... (static string) */
  /* Returns the node's context, or NULL on failure (logged via env_log). */
  void *(*start)(env_t *env, void *config);
  void (*stop)(void *node);
} env_node_ops;

/* ------------------------------------------------------- implementations
 *
 * An env is created by its implementation (env_uv_new, sim_node_add) and
 * dispatches through this table. Node code never looks inside.
 */
typedef struct env_ops {
  const char *(*node_name)(env_t *);
  uint64_t (*seed)(env_t *);
  uint64_t (*now_ns)(env_t *);
  int64_t (*wall_ms)(env_t *);
  uint64_t (*timer_start)(env_t *, uint64_t, env_timer_cb, void *);
  bool (*timer_cancel)(env_t *, uint64_t);
  uint64_t (*rand_u64)(env_t *);
  int (*listen)(env_t *, const char *, uint16_t, env_accept_cb, void *,
                env_listener_t **);
  uint16_t (*listener_port)(env_listener_t *);
  void (*listener_close)(env_listener_t *);
  env_conn_t *(*connect)(env_t *, const char *, uint16_t, const env_conn_cbs *,
                         void *);
  void (*conn_set_cbs)(env_conn_t *, const env_conn_cbs *, void *);
  int (*conn_send)(env_conn_t *, const uint8_t *, size_t);
  int (*conn_sendv)(env_conn_t *, const env_iovec *, const env_iovec_file *,
                    size_t);
  size_t (*conn_queued_bytes)(env_conn_t *);
  void (*conn_pause_reading)(env_conn_t *);
  void (*conn_resume_reading)(env_conn_t *);
  void (*conn_close)(env_conn_t *);
  const char *(*conn_peer)(env_conn_t *);
  int (*file_open)(env_t *, const char *, int, env_file_t **);
  int (*file_pwrite)(env_file_t *, const void *, size_t, uint64_t);
  int (*file_append)(env_file_t *, const void *, size_t);
  int (*file_pread)(env_file_t *, void *, size_t, uint64_t, size_t *);
  int (*file_size)(env_file_t *, uint64_t *);
  int (*file_truncate)(env_file_t *, uint64_t);
  void (*file_advise)(env_file_t *, env_file_advice, uint64_t, uint64_t);
  void (*file_fsync)(env_file_t *, env_done_cb, void *);
  void (*file_close)(env_file_t *);
  int (*file_view)(env_file_t *, uint64_t, size_t, const uint8_t **);
  int (*mkdir)(env_t *, const char *);
  int (*rename)(env_t *, const char *, const char *);
  int (*unlink)(env_t *, const char *);
  int (*rmdir)(env_t *, const char *);
  int (*list_dir)(env_t *, const char *, char ***);
  int (*stat)(env_t *, const char *, bool *);
  void (*dir_fsync)(env_t *, const char *, env_done_cb, void *);
  void (*logv)(env_t *, env_log_level, const char *, va_list);
  void (*tracev)(env_t *, const char *, const char *, va_list);
  void (*metric_add)(env_t *, const char *, int64_t);
  int64_t (*metric_get)(env_t *, const char *);
} env_ops;

/* Every implementation's env, conn, listener and file structs begin with
 * these headers so the dispatch functions in env.c can find the table. */
struct env {
  const env_ops *ops;
};
struct env_conn {
  const env_ops *ops;
};
struct env_listener {
  const env_ops *ops;
};
struct env_file {
  const env_ops *ops;
};

#endif
