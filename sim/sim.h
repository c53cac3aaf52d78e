/*
 * sim.h — the deterministic simulator: many nodes in one process, one
 * thread, virtual time, seeded faults.
 *
 * Design (DESIGN.md §5): one min-heap of events ordered by (time, insertion
 * sequence); the clock jumps to the next event. The master seed is split
 * into independent random streams — network, disk, clock, workload, faults,
 * and one per node (derived from the node's name, so adding a node does not
 * perturb the others). Every node gets its own env_t (base/env.h) whose
 * timers, connections and files are simulated:
 *
 *  - links: every send becomes a segment that reaches the peer at
 *    max(now + latency, the previous segment's arrival) — latency is a
 *    minimum plus an exponentially distributed extra, drawn per send — so a
 *    connection's bytes are never reordered or duplicated. Due bytes are
 *    handed to on_data in one read (at most 64 KiB), cut short at a random
 *    point with chunk_split_probability, so boundaries never match sends.
 *    A link (one direction) can be blocked: bytes due over it are held (the
 *    direction stalls) and go out one latency after the link unblocks; a
 *    direction stalled for conn_timeout_ns breaks the connection and both
 *    ends see on_close(-ETIMEDOUT). Partitions stop bytes, not resets.
 *  - connect: the SYN reaches the peer one latency later. No node of that
 *    name: -EHOSTUNREACH; node down or no listener on the port:
 *    -ECONNREFUSED (at SYN arrival). Otherwise the server accepts at once
 *    and the client's on_connect runs one latency later; bytes sent before
 *    that wait and flow after it. Over a blocked link the handshake retries
 *    with backoff and fails with -ETIMEDOUT after conn_timeout_ns.
 *    "localhost" and "127.0.0.1" are the node itself.
 *  - close: queued bytes are delivered, then the peer sees on_close(0);
 *    anything still queued towards the closer is dropped. Closing before
 *    the handshake with nothing queued abandons the attempt silently.
 *    Sends on a broken connection whose on_close is still on its way are
 *    dropped (0); inside on_close they fail with -EPIPE.
 *  - back pressure: env_conn_queued_bytes counts bytes not yet delivered
 *    to the peer; on_drain fires once it falls below ENV_CONN_DRAIN_BYTES
 *    after having been above. Paused reading holds deliveries (it never
 *    counts as a stall).
 *  - disks: sim/disk.h, one per node, kept across crashes; an fsync is
 *    begun at the call and completes after a drawn latency (one node's
 *    fsyncs complete in issue order); the callback runs only if the node is
 *    still the same incarnation.
 *  - clocks: monotonic time is the virtual time; wall time is a fixed epoch
 *    (1.7e12 ms) plus virtual time plus a per-node skew drawn from the
 *    node's own stream, within clock_skew_max_ns.
 *  - crash: the node's env goes dead (see env.h), its stop function runs,
 *    its timers vanish, its listeners close, its connections break (peers
 *    see -ECONNRESET one latency later), its disk loses what was not
 *    durable. A clean stop runs stop on a live env, then closes what the
 *    node left open gracefully. Either way no callback of that incarnation
 *    ever runs again; restart calls start again on what the disk holds.
 *
 * Trace: every event that changes something observable (timer fired, bytes
 * delivered, connection opened/closed, fsync completed, crash, restart,
 * partition, every env_trace from nodes) is appended to the trace as a JSON
 * line and folded into a 64-bit FNV-1a hash. The same seed gives the same
 * trace, byte for byte; the run ends by printing the hash. A line reads
 *   {"t":1200345,"node":"n2","kind":"net.deliver","conn":7,...}
 * with t in virtual ns; events that belong to no node (partitions, link
 * changes, connection breaks, harness events with node NULL) omit "node".
 *
 * Ownership: the sim owns its nodes and their envs, disks and handles.
 * Errors: setup functions return NULL / negative errno; programmer errors
 * assert (printing the seed).
 */
#ifndef SLUICE_SIM_SIM_H
#define SLUICE_SIM_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "base/env.h"
#include "sim/disk.h"

typedef struct sim sim_t;
typedef struct sim_node sim_node_t;

typedef struct sim_options {
  uint64_t seed;
  /* Link latency: min + Exp(mean_extra). */
  uint64_t link_latency_min_ns;        /* default 100 us */
  uint64_t link_latency_mean_extra_ns; /* default 200 us */
  /* A connection that cannot deliver for this long is reset. */
  uint64_t conn_timeout_ns; /* default 10 s */
  /* Probability that a delivery is split into random chunks. */
  double chunk_split_probability; /* default 0.25 */
  /* Fsync latency: min + Exp(mean_extra). */
  uint64_t fsync_latency_min_ns;        /* default 50 us */
  uint64_t fsync_latency_mean_extra_ns; /* default 500 us */
  /* Maximum absolute per-node wall-clock skew, drawn at node creation. */
  uint64_t clock_skew_max_ns; /* default 0 */
  /* Keep the trace text in memory (sim_trace_write); the hash is always
   * computed. */
  bool keep_trace;
  /* Print node env_log lines at or above this level to stderr (default:
   * ENV_LOG_ERROR + 1, i.e. none). */
  int log_level;
} sim_options;

/* Fills opts with the defaults above and the given seed. */
void sim_options_default(sim_options *opts, uint64_t seed);

/* Swarm testing: link settings that vary with the seed, drawn in this
 * order from *x (a splitmix64 state, base/splitmix.h, that the caller
 * seeds from the run's seed and its own salt, and may draw more from
 * afterwards): chunk_split_probability (0, 0.25, 0.5 or 0.95),
 * link_latency_min_ns (20..219 us), link_latency_mean_extra_ns
 * (0..999 us). They must be fixed before sim_new, hence not the sim's
 * own streams. */
void sim_options_draw_links(sim_options *opts, uint64_t *x);

sim_t *sim_new(const sim_options *opts);
void sim_free(sim_t *sim); /* stops all live nodes; NULL is fine */

uint64_t sim_seed(sim_t *sim);
uint64_t sim_now_ns(sim_t *sim);
uint64_t sim_events_run(sim_t *sim);
/* Events waiting in the queue (cancelled timers count until they pop). */
size_t sim_events_pending(sim_t *sim);
/* The options the sim was created with (borrowed, valid for its life). */
const sim_options *sim_get_options(sim_t *sim);

/* The one-line command that replays this run, printed by SL_ASSERT on a
 * failed assertion (base/assert.h) and by harnesses on a violation. The
 * default is "sluice-sim run --seed N"; a harness that knows its scenario
 * and flags sets the full command (copied). sim_new and every
 * sim_run_until install it as the thread's assert context; sim_free clears
 * it. */
void sim_set_replay_command(sim_t *sim, const char *command);
const char *sim_replay_command(sim_t *sim);

/* ---- nodes ---- */

/* Adds a node named `name` (unique; also its host name on the simulated
 * network) and schedules its start at the current time. ops and config are
 * borrowed and must outlive the sim. Returns NULL if the name is taken or
 * not a valid host name (1-63 of [A-Za-z0-9._-], not "localhost"). */
sim_node_t *sim_node_add(sim_t *sim, const char *name, const env_node_ops *ops,
                         void *config);
sim_node_t *sim_node_find(sim_t *sim, const char *name);
/* Nodes in the order they were added: index 0 .. sim_node_count() - 1. */
size_t sim_node_count(sim_t *sim);
sim_node_t *sim_node_at(sim_t *sim, size_t index);
const char *sim_node_name(sim_node_t *node);
env_t *sim_node_env(sim_node_t *node);
/* The context returned by the node's start, or NULL while down. */
void *sim_node_ctx(sim_node_t *node);
bool sim_node_is_up(sim_node_t *node);
sim_disk_t *sim_node_disk(sim_node_t *node);
/* Starts at 1 and grows by one each time the node goes down (crash or
 * stop); events and handles of an older incarnation are inert. */
uint64_t sim_node_incarnation(sim_node_t *node);

/* Crash now (flags: SIM_DISK_CRASH_* for the disk). */
void sim_node_crash(sim_t *sim, sim_node_t *node, unsigned disk_flags);
/* Start again on the durable disk image (the node must be down). Like
 * sim_node_add, the start runs as an event at the current time. Node
 * metrics start from zero in each incarnation. */
void sim_node_restart(sim_t *sim, sim_node_t *node);
/* Clean stop (no disk loss beyond what the node left unsynced: the disk is
 * NOT crashed; the volatile image persists as with a clean OS shutdown). */
void sim_node_stop(sim_t *sim, sim_node_t *node);

/* ---- network faults ---- */

/* Blocks or unblocks the directed link from -> to. */
void sim_link_block(sim_t *sim, sim_node_t *from, sim_node_t *to, bool blocked);
/* Blocks both directions between a and b. */
void sim_partition(sim_t *sim, sim_node_t *a, sim_node_t *b);
/* Unblocks every link. */
void sim_heal(sim_t *sim);
/* Resets every open connection between a and b (both ends see
 * -ECONNRESET). */
void sim_reset_connections(sim_t *sim, sim_node_t *a, sim_node_t *b);

/* ---- running ---- */

typedef void (*sim_event_cb)(sim_t *sim, void *arg);

/* Schedules a harness event (workload step, fault) delay_ns from now. */
void sim_schedule(sim_t *sim, uint64_t delay_ns, sim_event_cb cb, void *arg);
/* Runs one event; false if the queue is empty. */
bool sim_step(sim_t *sim);
/* Runs events with time <= deadline_ns, then sets the clock to deadline_ns. */
void sim_run_until(sim_t *sim, uint64_t deadline_ns);
/* Stops a running sim_run_until after the current event (from a callback). */
void sim_stop_run(sim_t *sim);

/* ---- randomness for harnesses ---- */

typedef enum sim_stream {
  SIM_STREAM_NET = 0,
  SIM_STREAM_DISK = 1,
  SIM_STREAM_CLOCK = 2,
  SIM_STREAM_WORKLOAD = 3,
  SIM_STREAM_FAULTS = 4,
  SIM_STREAM_COUNT_ = 5
} sim_stream;

uint64_t sim_rand_u64(sim_t *sim, sim_stream stream);
uint64_t sim_rand_below(sim_t *sim, sim_stream stream, uint64_t bound);
double sim_rand_double(sim_t *sim, sim_stream stream);

/* ---- trace ---- */

/* A harness trace event (node may be NULL). fmt formats the JSON members
 * that follow "kind" (NULL for none), as in env_trace. */
void sim_trace(sim_t *sim, sim_node_t *node, const char *kind, const char *fmt,
               ...) __attribute__((format(printf, 4, 5)));
uint64_t sim_trace_hash(sim_t *sim);
uint64_t sim_trace_events(sim_t *sim);
/* Writes the kept trace (keep_trace) as JSON Lines; 0 or -errno (-EINVAL
 * without keep_trace). */
int sim_trace_write(sim_t *sim, FILE *out);
/* The kept trace text (owned by the sim, valid until the next event), or
 * NULL without keep_trace; *len gets its length (len may be NULL). */
const char *sim_trace_text(sim_t *sim, size_t *len);

#endif
