/*
 * sim_internal.h — the simulator core's private header, shared by sim.c
 * (scheduler, nodes, trace), sim_rand.c (PRNG), sim_env.c (the env_ops table:
 * clock, timers, randomness, files, logs, metrics) and sim_net.c (links,
 * listeners, connections). Nothing outside sim/sim*.c includes it.
 *
 * Invariants the files rely on:
 *  - Every event sits in one binary min-heap keyed by (time_ns, seq); seq is
 *    a per-sim insertion counter, so equal times fire in insertion order.
 *  - A node's incarnation grows by one whenever it goes down (crash or clean
 *    stop). Events and handles carry the incarnation they were made in; a
 *    mismatch means "stale: drop". `dead` is true while env calls must be
 *    no-ops (down, or crashed and inside its stop function).
 *  - Nothing that reaches the trace iterates a hash table: nodes live in an
 *    array in creation order, connections in a queue in creation order.
 */
#ifndef SLUICE_SIM_SIM_INTERNAL_H
#define SLUICE_SIM_SIM_INTERNAL_H

#include <glib.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "sim/sim.h"

/* ------------------------------------------------------------- limits */

#define SIM__NODES_MAX 4096
#define SIM__NODE_NAME_BYTES_MAX 63
/* Live timers per node (slots in the timer slab). */
#define SIM__TIMERS_MAX ((uint32_t)1 << 22)
/* Pending events in the heap. */
#define SIM__EVENTS_MAX ((size_t)1 << 26)
/* Largest single on_data call (a TCP read of this size). */
#define SIM__READ_BYTES_MAX ((size_t)64 * 1024)
/* Bytes queued in one direction of one connection before send refuses
 * with -ENOBUFS (nodes are expected to apply back pressure long before). */
#define SIM__CONN_QUEUE_BYTES_MAX ((size_t)64 << 20)
/* Ephemeral ports handed out for port 0 and for client ends. */
#define SIM__PORT_EPHEMERAL_MIN 32768u
#define SIM__PORT_EPHEMERAL_MAX 60999u
/* Wall clock at virtual time 0: 2023-11-14T22:13:20Z, in ms. */
#define SIM__WALL_EPOCH_MS INT64_C(1700000000000)
/* Exponential draws are capped at this many means (keeps runs bounded). */
#define SIM__EXP_CAP_MEANS 40.0

/* ----------------------------------------------------------------- PRNG */

/* xoshiro256**, seeded through splitmix64. */
typedef struct sim__rng {
  uint64_t s[4];
} sim__rng;

void sim__rng_seed(sim__rng *r, uint64_t seed);
uint64_t sim__rng_next(sim__rng *r);
/* Uniform in [0, bound), bound > 0, unbiased. */
uint64_t sim__rng_below(sim__rng *r, uint64_t bound);
/* Uniform in [0, 1). */
double sim__rng_double(sim__rng *r);
/* min + Exp(mean), capped at min + SIM__EXP_CAP_MEANS * mean. */
uint64_t sim__rng_latency(sim__rng *r, uint64_t min_ns, uint64_t mean_ns);
/* An independent seed for the stream named by tag (a well-mixed function
 * of both; different tags give unrelated streams). */
uint64_t sim__derive_seed(uint64_t master, uint64_t tag);

#define SIM__FNV64_OFFSET UINT64_C(0xcbf29ce484222325)
/* FNV-1a 64: h is the running hash (start with SIM__FNV64_OFFSET). */
uint64_t sim__fnv1a64(uint64_t h, const void *data, size_t len);

/* --------------------------------------------------------------- events */

typedef struct sim__event sim__event;
typedef void (*sim__fire_fn)(sim_t *sim, const sim__event *ev);

struct sim__event {
  uint64_t time_ns;
  uint64_t seq; /* set by sim__push */
  sim__fire_fn fire;
  void *obj;  /* node, connection, ... (meaning fixed by fire) */
  uint64_t a; /* incarnation, direction, ... */
  uint64_t b; /* timer id, ticket, epoch, status, ... */
  union {
    env_timer_cb timer;
    env_done_cb done;
    sim_event_cb harness;
  } cb;
  void *arg;
  void *aux; /* a second object when fire needs one (the file of an fsync) */
};

/* Copies ev into the heap with the next sequence number. ev->time_ns must
 * not be in the past. */
void sim__push(sim_t *sim, const sim__event *ev);

/* ------------------------------------------------------------ the sim */

struct sim {
  sim_options opts;
  uint64_t now_ns;
  uint64_t seq_next;
  uint64_t events_run;
  bool stop_requested;

  sim__event *heap; /* [owned] binary min-heap */
  size_t heap_len;
  size_t heap_cap;

  sim__rng streams[SIM_STREAM_COUNT_];

  GPtrArray *nodes;          /* [owned] sim_node_t*, creation order */
  GHashTable *nodes_by_name; /* name -> node, lookups only */

  GQueue conns; /* sim__conn*, creation order */
  uint64_t conn_id_next;

  uint64_t trace_hash;
  uint64_t trace_events;
  GString *trace_text;   /* [owned] NULL unless keep_trace */
  GString *line;         /* [owned] scratch for one trace line */
  GString *log_line;     /* [owned] scratch for one log line */
  uint8_t *read_scratch; /* [owned] SIM__READ_BYTES_MAX bytes */

  char *replay_command; /* [owned] assert context */
};

/* ------------------------------------------------------------- nodes */

typedef enum sim__node_state {
  SIM__NODE_DOWN = 0,
  SIM__NODE_STARTING, /* start event pending */
  SIM__NODE_UP,
  SIM__NODE_STOPPING, /* inside a clean stop */
} sim__node_state;

typedef struct sim__timer_slot {
  env_timer_cb cb;
  void *arg;
  uint32_t gen; /* bumps on every release: stale ids never match */
  uint32_t next_free;
  bool pending;
} sim__timer_slot;

#define SIM__SLOT_NONE UINT32_MAX

struct sim_node {
  env_t env; /* first: env_t* and sim_node_t* convert by cast */
  sim_t *sim;
  char *name; /* [owned] */
  uint32_t index;
  const env_node_ops *ops;
  void *config;
  void *ctx;

  sim__node_state state;
  bool dead;
  uint64_t incarnation;

  sim__rng rng; /* the node's env_rand stream */
  int64_t skew_ns;
  sim_disk_t *disk;            /* [owned] */
  uint64_t fsync_last_done_ns; /* the node's disk completes in order */

  GArray *timers; /* sim__timer_slot */
  uint32_t timer_free_head;

  /* Handles of the current incarnation, in creation order. */
  GQueue conns;     /* sim__end* */
  GQueue listeners; /* sim__listener* */
  GQueue files;     /* sim__file* */
  uint32_t port_next;

  GHashTable *metrics; /* name -> int64_t*, lookups only */
  GArray *blocked_to;  /* bool per destination node index */
};

static inline sim_node_t *sim__node_of(env_t *env) { return (sim_node_t *)env; }

/* The env dispatch table (sim_env.c). */
extern const env_ops sim__env_ops;

/* Releases everything the incarnation that just went down left behind:
 * timers, files, listeners and connections. crashed: peers see resets and
 * the disk is about to crash; else connections close gracefully. */
void sim__env_node_down(sim_t *sim, sim_node_t *node, bool crashed);
void sim__net_node_down(sim_t *sim, sim_node_t *node, bool crashed);
/* Frees every connection (sim_free). */
void sim__net_free_all(sim_t *sim);
/* Links were unblocked: resume stalled directions that can move again. */
void sim__net_links_changed(sim_t *sim);
bool sim__link_blocked(const sim_node_t *from, const sim_node_t *to);
/* One link latency draw (NET stream). */
uint64_t sim__link_latency(sim_t *sim);

/* Resets the timer slab: every pending timer is forgotten. */
void sim__timers_reset(sim_node_t *node);

/* ------------------------------------------------------------- trace */

void sim__tracev(sim_t *sim, sim_node_t *node, const char *kind,
                 const char *fmt, va_list ap);
void sim__trace(sim_t *sim, sim_node_t *node, const char *kind, const char *fmt,
                ...) __attribute__((format(printf, 4, 5)));

/* ---------------------------------------------- env-side net functions */

int sim__net_listen(env_t *env, const char *host, uint16_t port,
                    env_accept_cb on_accept, void *arg, env_listener_t **out);
uint16_t sim__net_listener_port(env_listener_t *l);
void sim__net_listener_close(env_listener_t *l);
env_conn_t *sim__net_connect(env_t *env, const char *host, uint16_t port,
                             const env_conn_cbs *cbs, void *arg);
void sim__net_conn_set_cbs(env_conn_t *c, const env_conn_cbs *cbs, void *arg);
int sim__net_conn_send(env_conn_t *c, const uint8_t *data, size_t len);
int sim__net_conn_sendv(env_conn_t *c, const env_iovec *iov,
                        const env_iovec_file *files, size_t n);
size_t sim__net_conn_queued_bytes(env_conn_t *c);
void sim__net_conn_pause_reading(env_conn_t *c);
void sim__net_conn_resume_reading(env_conn_t *c);
void sim__net_conn_close(env_conn_t *c);
const char *sim__net_conn_peer(env_conn_t *c);

#endif
