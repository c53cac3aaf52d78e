/*
 * env_uv.h — the production environment: a libuv loop, real TCP, real
 * files, real clocks (DESIGN.md §1; the contract is base/env.h).
 *
 * An env_uv is one node's view of the world. It does not own the loop:
 * several envs may share one uv_loop_t (several nodes in one process), and
 * the program runs the loop itself (uv_run). Everything the env hands out —
 * timers, listeners, connections, files — belongs to that env; whatever the
 * node has not closed itself is torn down by env_uv_free.
 *
 * How the env.h promises map onto libuv:
 *  - clock: env_now_ns is uv_hrtime() (CLOCK_MONOTONIC); env_wall_ms is
 *    CLOCK_REALTIME.
 *  - timers: one uv_timer_t each. libuv timers have millisecond resolution,
 *    so a delay is rounded up to the next loop millisecond: a timer never
 *    fires early, and on an idle loop fires within about a millisecond
 *    after its deadline. A zero delay ("on a later turn") skips the
 *    rounding: it runs right after the loop's next poll for I/O (a check
 *    handle), unless a rounded timer that is already due could be
 *    overtaken, in which case it is rounded too. Timers
 *    started in order with non-decreasing deadlines fire in that order
 *    (libuv breaks equal timeouts by start order).
 *    A send with nothing queued ahead of it is written at once
 *    (uv_try_write); only the rest is copied and queued.
 *  - randomness: xoshiro256**, seeded through splitmix64 from the seed mixed
 *    with the node name, so nodes sharing a seed still draw different
 *    streams, and (seed, node name) replays a stream exactly.
 *  - network: uv_tcp_t with TCP_NODELAY and keep-alive. Host names other
 *    than numeric IPv4/IPv6 addresses and "localhost" (always 127.0.0.1)
 *    are resolved with getaddrinfo — asynchronously for env_connect (only
 *    the first address returned is tried), synchronously for env_listen
 *    (listening happens at start-up). A name that does not resolve fails
 *    with -EHOSTUNREACH (-EAGAIN for a temporary resolver failure) through
 *    on_close; env_listen returns -EADDRNOTAVAIL for it.
 *    A graceful env_conn_close flushes the queued bytes, shuts down the
 *    sending side, and keeps reading (and discarding) until the peer's EOF
 *    so that the kernel ends the connection with FIN rather than RST; the
 *    whole sequence is cut short after ENV_UV_CLOSE_TIMEOUT_MS.
 *    env_conn_queued_bytes counts bytes libuv has not yet written into the
 *    kernel (plus bytes sent before the connection was established).
 *  - disk: synchronous POSIX calls into the page cache; fsync and directory
 *    fsync run on libuv's thread pool and report back on the loop. The first
 *    fsync of a file opened with ENV_O_CREATE also fsyncs its directory, so
 *    the new name is durable as env.h promises. Closing a file while its
 *    fsync is in flight is tolerated: the descriptor is closed, and the
 *    callback still runs, once the fsync completes.
 *    env_file_view hands out read-only MAP_SHARED mmap windows (8 MiB
 *    aligned chunks; the page cache itself, no copy), kept across
 *    callbacks; past ENV_FILE_VIEW_KEEP_BYTES of windows, the least
 *    recently used are unmapped at the next loop turn (a prepare handle),
 *    and a file's windows on its truncate or close. A view is never handed
 *    out past the size fstat reports; if mmap fails the view is a private
 *    copy freed at the next turn. Another process truncating a mapped file
 *    can still make a read of a view fault (SIGBUS).
 *  - logging: "<UTC wall time> <LEVEL> <node>: message" lines, filtered by
 *    level, to stderr or a chosen FILE. Trace: JSON lines
 *    {"t":<monotonic ns>,"node":"..","kind":"..",<members>} to a chosen FILE,
 *    or nowhere (the default). Metrics: counters in the env.
 *
 * Errors: libuv's error codes are negative errno values on POSIX and are
 * passed through; resolver errors are mapped as described above.
 *
 * Where env.h leaves room, this implementation decides (the simulator
 * should agree):
 *  - on_data and on_close are required; on_connect and on_drain may be NULL.
 *  - env_conn_close before the connection is established: with nothing
 *    queued the attempt is abandoned; with bytes queued it goes on, the
 *    bytes are delivered, then EOF. Either way the node hears nothing more.
 *  - env_conn_send on a connection that has failed or ended (e.g. from
 *    inside on_close) returns -EPIPE; beyond ENV_UV_CONN_QUEUE_BYTES_MAX it
 *    returns -ENOBUFS. Using a connection after
 *    env_conn_close, closing a listener or file twice, and starting timers
 *    or I/O on an env being freed are programmer errors (SL_ASSERT).
 *  - env_file_open needs ENV_O_READ and/or ENV_O_WRITE, and ENV_O_EXCL only
 *    with ENV_O_CREATE (asserted); a directory gives -EISDIR; an offset or
 *    size beyond INT64_MAX gives -EFBIG.
 *  - env_listen with host "" listens on every IPv4 address.
 *
 * Threading: one thread — the loop's — for the env and all of its handles,
 * as env.h requires. fsync work runs on libuv's pool but touches nothing of
 * the env; its completion is delivered on the loop.
 */
#ifndef SLUICE_BASE_ENV_UV_H
#define SLUICE_BASE_ENV_UV_H

#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "base/env.h"

/* How long a graceful env_conn_close may take (flush, shutdown, wait for the
 * peer's EOF) before the socket is closed regardless. */
#define ENV_UV_CLOSE_TIMEOUT_MS 10000u

/* Pending timers one env may hold (a programmer error beyond it: a node
 * leaking timers). The simulator uses the same bound. */
#define ENV_UV_TIMERS_MAX ((size_t)1 << 22)

/* Bound on a connection's send queue (env_conn_queued_bytes): a send that
 * would take the queue beyond it returns -ENOBUFS and queues nothing; the
 * connection is unaffected. Nodes are expected to wait for on_drain long
 * before. The simulator uses the same bound. */
#define ENV_UV_CONN_QUEUE_BYTES_MAX ((size_t)64 << 20)

/* Creates an env on `loop` (borrowed: it must outlive the env) for the node
 * `node_name` (copied). seed 0 derives a seed from the clocks, the process
 * id and the env's address; env_seed() reports the seed in use (never 0), so
 * a run can be repeated with it. Logging starts at ENV_LOG_INFO to stderr;
 * tracing starts off.
 *
 * If SIGPIPE still has its default disposition, env_uv_new makes the process
 * ignore it: a write to a connection the peer has reset must surface as an
 * error on that connection, not kill the process. A handler the program
 * installed itself is left alone.
 *
 * Never returns NULL (allocation failure aborts, as in GLib). */
env_t *env_uv_new(uv_loop_t *loop, const char *node_name, uint64_t seed);

/* Closes everything the env still has open — pending timers are cancelled,
 * listeners and connections closed at once (no graceful flush), leftover
 * files closed — without invoking any node callback, then runs the loop
 * until the env's handles are closed and its thread-pool work (fsync) has
 * completed, and frees the env. Handles obtained from the env are invalid
 * afterwards. Other envs on the same loop keep running and their callbacks
 * may run during this call.
 *
 * Must not be called from a callback running on the loop (libuv's uv_run
 * is not reentrant): stop the node, let uv_run return, then free the env.
 * NULL is fine. */
void env_uv_free(env_t *env);

/* Lines below min_level are dropped. Default ENV_LOG_INFO. */
void env_uv_set_log_level(env_t *env, env_log_level min_level);

/* Where log lines go (borrowed; it must stay open while set). NULL restores
 * the default, stderr. */
void env_uv_set_log_file(env_t *env, FILE *out);

/* Where trace events go, one JSON object per line (borrowed; it must stay
 * open while set). NULL discards them (the default). The env does not
 * flush `out`: choose its buffering with setvbuf. */
void env_uv_set_trace(env_t *env, FILE *out);

#endif
