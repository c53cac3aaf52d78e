/*
 * lib_broker_sim.h — a broker node in the simulator, driven over raw Kafka
 * frames: the harness shared by the suites that test broker/server end to
 * end (test_broker.c, test_group_broker.c).
 *
 * A harness (bsim) is one sim with a "broker" node (broker_node_ops, data
 * under /data on its simulated disk, listening on broker:BSIM_BROKER_PORT)
 * and BSIM_CLIENTS test-client nodes ("client", "client2"), each with one
 * connection to the broker. A client only frames bytes: the test encodes a
 * request through broker/proto, sends it, runs the simulator until the
 * response frame arrives and decodes it. Virtual time makes long polls and
 * timeouts exact and a run reproducible from its seed, which every failure
 * message prints.
 *
 * How a case uses it:
 *
 *   bsim t;
 *   bsim_open(&t, test_seed() + 7);   // or bsim_open_with(..., tweak)
 *   TEST_EQ_INT(bsim_create_topic(&t, "orders", 2, NULL, NULL), KERR_NONE,
 *               t.seed);
 *   proto_metadata_req *req = PROTO_NEW(t.arena, proto_metadata_req);
 *   req->topics.count = -1;
 *   proto_metadata_resp *md = bsim_call(&t, 0, PROTO_API_METADATA, 9, req);
 *   ...
 *   bsim_close(&t);
 *
 * Between calls a case may step the sim itself (t.sim), crash or restart
 * the broker node (t.bnode, or bsim_restart), and poke a client's fields
 * (bsim_client_at): pop or count its frames, pause its connection, close
 * and reconnect it.
 *
 * Ownership: the bsim struct belongs to the caller (usually on the stack);
 * bsim_open fills it and bsim_close frees everything it holds. Requests are
 * built in t->arena, which lives until bsim_close. A decoded response is
 * borrowed: it points into t->arena and into the last received frame, so it
 * is valid until the next bsim_recv or bsim_call on the same harness.
 * Clients belong to their sim nodes and live until bsim_close.
 *
 * Errors: the helpers check with CUnit assertions. A failure that leaves
 * nothing to test (no sim, the broker not up, no connection, no response,
 * an undecodable request) is FATAL and ends the case; bsim_close is then
 * not reached, as with any FATAL assertion in these suites. Passing a
 * client index outside [0, BSIM_CLIENTS) is a programmer error (SL_ASSERT).
 *
 * Single-threaded: everything runs on the simulator's thread.
 */
#ifndef SLUICE_TESTS_UNIT_LIB_BROKER_SIM_H
#define SLUICE_TESTS_UNIT_LIB_BROKER_SIM_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/env.h"
#include "broker/proto/proto.h"
#include "broker/server/broker.h"
#include "sim/sim.h"

/* The broker's port, as listened on and as advertised. */
#define BSIM_BROKER_PORT 9092
/* Client nodes per harness. */
#define BSIM_CLIENTS 2
/* How long (virtual time) a helper waits for a connection, a response or a
 * shutdown before it gives up. */
#define BSIM_WAIT_NS (UINT64_C(10) * 1000 * 1000 * 1000)

/* ------------------------------------------------------- the client node */

/* Where a client node connects (its sim node config). */
typedef struct bsim_client_config {
  const char *host; /* borrowed */
  uint16_t port;
} bsim_client_config;

/* A client node: one connection, the bytes received so far and the
 * complete response frames not yet consumed. */
typedef struct bsim_client {
  env_t *env;
  const bsim_client_config *cfg;
  env_conn_t *conn; /* NULL once closed, until bsim_client_connect */
  bool connected;
  bool closed;
  int close_status;  /* as passed to the close callback */
  GByteArray *in;    /* [owned] bytes of the frame being received */
  GQueue frames;     /* GBytes* [owned]: response frames, no size prefix;
                      * a test that pops one owns it (g_bytes_unref) */
  int32_t next_corr; /* correlation id of the next bsim_send, from 1 */
} bsim_client;

/* The node ops of a client ("test-client"); the config is a
 * bsim_client_config that outlives the node. */
extern const env_node_ops bsim_client_ops;

/* Opens a new connection (after the previous one closed): clears the
 * partial input and the flags, keeps the queued frames. Does not wait:
 * run until bsim_is_connected. */
void bsim_client_connect(bsim_client *c);

/* ----------------------------------------------------------- the harness */

typedef struct bsim {
  uint64_t seed;                   /* the sim's seed, printed on failure */
  sim_t *sim;                      /* [owned] */
  broker_config bcfg;              /* [owned] the broker node's config */
  bsim_client_config ccfg;         /* every client's config */
  sim_node_t *bnode;               /* the broker node (owned by sim) */
  sim_node_t *cnode[BSIM_CLIENTS]; /* the client nodes (owned by sim) */
  proto_arena *arena;              /* [owned] requests and decoded responses */
  GBytes *last; /* [owned] the frame the last decoded response points into */
} bsim;

/* Starts a sim from seed with the broker (defaults as in
 * broker_config_default, except: listening and advertised as
 * broker:BSIM_BROKER_PORT, one log dir /data, num.partitions 1), then
 * tweak(&t->bcfg) if tweak is not NULL, and waits until every client is
 * connected. Overwrites *t. */
void bsim_open_with(bsim *t, uint64_t seed, void (*tweak)(broker_config *));
/* bsim_open_with without a tweak. */
void bsim_open(bsim *t, uint64_t seed);
/* Frees the sim (nodes included), the broker config, the arena and the
 * last frame. */
void bsim_close(bsim *t);

/* Client ci (borrowed; lives until bsim_close) and the broker (borrowed;
 * replaced when the broker node restarts). */
bsim_client *bsim_client_at(bsim *t, int ci);
broker_t *bsim_broker(bsim *t);

/* Steps the sim until cond(arg) holds or timeout_ns of virtual time pass
 * (or nothing is left to run); returns cond(arg). */
bool bsim_run_until(bsim *t, bool (*cond)(void *), void *arg,
                    uint64_t timeout_ns);
/* Conditions for bsim_run_until; arg is a bsim_client*. */
bool bsim_is_connected(void *arg);
bool bsim_has_frame(void *arg);
bool bsim_is_closed(void *arg);

/* Encodes body as request key/ver (client id "unit") and sends it on
 * client ci; returns its correlation id. Does not run the sim. */
int32_t bsim_send(bsim *t, int ci, int16_t key, int16_t ver, const void *body);
/* Sends len raw bytes (data borrowed) on client ci. */
void bsim_send_raw(bsim *t, int ci, const void *data, size_t len);
/* Runs the sim until client ci has a frame, pops it and decodes it as the
 * response to request key/ver with correlation id corr (asserting both);
 * returns the body (borrowed, see Ownership). */
void *bsim_recv(bsim *t, int ci, int32_t corr, int16_t key, int16_t ver);
/* bsim_send then bsim_recv. */
void *bsim_call(bsim *t, int ci, int16_t key, int16_t ver, const void *body);

/* Restarts the broker node — clean (broker_shutdown, then stop) or a crash
 * that keeps only what its disk flushed — and reconnects client 0, dropping
 * its unread frames. Client 1 is not reconnected. */
void bsim_restart(bsim *t, bool clean);

/* ------------------------------------------------------ request helpers */

/* A proto string over s (borrowed, NUL-terminated). */
proto_str bsim_str(const char *s);

/* CreateTopics v5 on client 0: one topic, replication factor 1, and one
 * topic config cfg_key=cfg_value unless cfg_key is NULL. Returns the
 * topic's error code. */
int16_t bsim_create_topic(bsim *t, const char *name, int32_t partitions,
                          const char *cfg_key, const char *cfg_value);

#endif
