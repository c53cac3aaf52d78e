/*
 * selftest.h — a small node that exercises every part of an env, and the
 * simulator scenario built on it.
 *
 * The node (sim_selftest_node_ops) is written only against base/env.h, so
 * it runs on the simulator and on the libuv env alike. Each node:
 *   - listens on a port and keeps one outgoing connection to every peer
 *     (reconnecting after a short delay whenever one closes);
 *   - every tick sends one frame on each established connection, in or
 *     out: length-prefixed, numbered per connection, checksummed; now and
 *     then a burst large enough to wait for on_drain, and a short pause of
 *     reading on some connection;
 *   - reassembles frames from whatever chunks arrive, checks the checksum
 *     and that a connection's frames are numbered 0, 1, 2, ... with one
 *     stream id;
 *   - appends every frame it receives to a record file on its disk
 *     ([u32 BE length][u32 BE CRC-32C of length and body][frame body]) and
 *     fsyncs it
 *     periodically; a failed fsync truncates the file back to what was
 *     last synced;
 *   - on start, reads its file back, keeps the longest prefix of valid
 *     records, truncates the rest, writes that prefix again (an earlier
 *     incarnation's failed fsync may have left it only in the page cache),
 *     fsyncs, and only then goes on the network.
 *
 * The node reports what it does to an optional observer (the scenario's
 * checker): frames sent and received (with a digest of their bytes),
 * records appended (with the bytes), fsyncs completed, the prefix it
 * recovered. Problems it can see itself (bad checksum, out-of-order
 * numbers) also go to env_trace("selftest.violation") and the metric
 * "selftest.violations".
 *
 * The scenario (sim_selftest_run) runs K such nodes under swarm-drawn
 * faults — partitions (symmetric, one-way, isolating), connection resets,
 * crashes (sometimes leaving garbage in torn writes), clean stops,
 * restarts, fsync EIO — for a bounded virtual time, then heals everything
 * and lets it settle. Its checker asserts:
 *   - per connection stream, frames are received in order, without gaps,
 *     duplicates or corruption (compared with what the sender sent);
 *   - after every restart, the recovered file is a prefix of what the node
 *     wrote, at a record boundary, and covers everything a completed fsync
 *     had made durable;
 *   - after the final heal, every node hears from every other (liveness).
 */
#ifndef SLUICE_SIM_SELFTEST_H
#define SLUICE_SIM_SELFTEST_H

#include <stddef.h>
#include <stdint.h>

#include "base/env.h"
#include "sim/scenario.h"

/* --------------------------------------------------------------- node */

/* Frame on the wire: [u32 BE body length][body]. Body: [u64 stream]
 * [u64 seq][u32 sender][u16 payload length][payload][u32 CRC-32C of
 * everything before it]; all integers big-endian. */
#define SIM_SELFTEST_PAYLOAD_BYTES_MAX 8192u
#define SIM_SELFTEST_BODY_BYTES_MIN 26u
#define SIM_SELFTEST_BODY_BYTES_MAX                                            \
  (SIM_SELFTEST_BODY_BYTES_MIN + SIM_SELFTEST_PAYLOAD_BYTES_MAX)
#define SIM_SELFTEST_PEERS_MAX 64u

typedef struct sim_selftest_peer {
  const char *host; /* borrowed */
  uint16_t port;
} sim_selftest_peer;

typedef enum sim_selftest_event_kind {
  SIM_SELFTEST_SENT,      /* stream, seq, digest, len */
  SIM_SELFTEST_RECEIVED,  /* stream, seq, sender, digest, len */
  SIM_SELFTEST_APPENDED,  /* offset, data, len: one record written */
  SIM_SELFTEST_FSYNCED,   /* offset = bytes covered, status */
  SIM_SELFTEST_TRUNCATED, /* offset = new length (after a failed fsync) */
  SIM_SELFTEST_RECOVERED, /* offset = valid length, hash, seq = records */
  SIM_SELFTEST_BAD_FRAME, /* detail */
} sim_selftest_event_kind;

typedef struct sim_selftest_event {
  sim_selftest_event_kind kind;
  uint32_t node_index; /* the reporting node (config node_index) */
  uint64_t stream;
  uint64_t seq;
  uint32_t sender;
  uint64_t digest; /* sim_selftest_digest of the frame body */
  uint64_t offset;
  const uint8_t *data; /* borrowed, valid during the call */
  size_t len;
  int status;
  uint64_t hash; /* CRC-32C (crc32c_extend from 0) of the prefix */
  const char *detail;
} sim_selftest_event;

/* Called synchronously from inside the node's callbacks: it must only
 * record, never call back into the env or the simulator. */
typedef void (*sim_selftest_observer)(void *arg, const sim_selftest_event *ev);

typedef struct sim_selftest_config {
  uint32_t node_index;     /* written into frames as the sender */
  const char *listen_host; /* NULL = any */
  uint16_t listen_port;
  const sim_selftest_peer *peers; /* borrowed; peer_count entries */
  size_t peer_count;
  const char *data_path;      /* the record file */
  uint64_t send_interval_ns;  /* mean time between send ticks */
  size_t payload_bytes_max;   /* <= SIM_SELFTEST_PAYLOAD_BYTES_MAX */
  uint64_t fsync_interval_ns; /* time between fsync checks */
  uint64_t reconnect_delay_ns;
  double pause_probability; /* per tick: pause reading on one connection */
  double burst_probability; /* per tick: fill one connection past drain */
  sim_selftest_observer observer; /* may be NULL */
  void *observer_arg;
} sim_selftest_config;

/* Defaults: port 7000, "selftest.log", a tick every 1 ms, payloads up to
 * 2 KiB, fsync every 5 ms, reconnect after 10 ms, pause 1%, burst 0.1%. */
void sim_selftest_config_default(sim_selftest_config *cfg);

/* The node: start(env, const sim_selftest_config *) / stop. The config must
 * outlive the node. */
extern const env_node_ops sim_selftest_node_ops;

/* A frame body's digest as reported to the observer: its CRC-32C in the
 * high half, its length in the low half. */
uint64_t sim_selftest_digest(const uint8_t *body, size_t len);

/* ----------------------------------------------------------- scenario */

/* Defaults: 3 nodes, 2000 ms. */
#define SIM_SELFTEST_NODES_DEFAULT 3u
#define SIM_SELFTEST_NODES_MAX 16u
#define SIM_SELFTEST_DURATION_MS_DEFAULT 2000u

typedef sim_scenario_opts sim_selftest_opts;
typedef sim_scenario_result sim_selftest_result;

/* Runs the self-test scenario for one seed (see the top of this file). */
int sim_selftest_run(const sim_selftest_opts *opts,
                     sim_selftest_result *result);

#endif
