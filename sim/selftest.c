/*
 * selftest.c — the self-test node (see selftest.h). It uses base/env.h and
 * nothing else from the outside world, so the same code runs on the libuv
 * env; the simulator only shows up as the optional observer in its config.
 *
 * Node life: start -> recover the record file (longest valid prefix,
 * truncate the rest, write the prefix again, fsync) -> listen and connect to
 * every peer -> send a frame per tick on every connection, log every received
 * frame, fsync periodically. Outgoing connections are re-dialled whenever they
 * close.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <glib.h>

#include "base/assert.h"
#include "base/crc32c.h"
#include "base/env.h"
#include "base/splitmix.h"
#include "sim/selftest.h"

#define RECORD_HEADER_BYTES 8u
#define FRAME_HEADER_BYTES 4u
#define RECORD_BYTES_MAX (RECORD_HEADER_BYTES + SIM_SELFTEST_BODY_BYTES_MAX)
/* The largest file recovery reads back into memory at once. */
#define RECOVER_BYTES_MAX ((uint64_t)512 << 20)
/* A burst sends until the queue passes the drain mark, at most this many
 * frames. */
#define BURST_FRAMES_MAX 4096u
#define PAUSE_NS_MAX (5u * 1000 * 1000)

typedef struct st_node st_node;

typedef struct st_conn {
  st_node *node;
  env_conn_t *conn;
  int peer_slot; /* outgoing: index into cfg->peers; inbound: -1 */
  bool connected;
  bool waiting_drain;
  uint64_t resume_timer; /* 0 = reading not paused */
  uint64_t tx_stream;
  uint64_t tx_seq;
  bool rx_started;
  uint64_t rx_stream;
  uint64_t rx_seq_next;
  uint8_t *rx_buf; /* FRAME_HEADER_BYTES + SIM_SELFTEST_BODY_BYTES_MAX */
  size_t rx_len;
} st_conn;

/* One outgoing connection slot per peer. */
typedef struct st_slot {
  st_node *node;
  size_t index;
  st_conn *conn;         /* NULL while dialling is pending */
  uint64_t redial_timer; /* 0 = none */
} st_slot;

struct st_node {
  env_t *env;
  const sim_selftest_config *cfg;
  env_listener_t *listener;
  bool online;      /* recovery done, networking started */
  GPtrArray *conns; /* st_conn*, creation order */
  st_slot *slots;   /* one per peer */
  uint64_t send_timer;
  uint64_t fsync_timer;
  env_file_t *file;
  uint64_t file_len;
  uint64_t synced_len;
  uint64_t fsync_covering;
  bool fsync_inflight;
  bool dirty;
  uint8_t *recovered; /* [owned] the valid prefix, until it is synced */
  uint64_t recovered_len;
  bool rewrite_failed; /* the last rewrite of recovered failed */
  uint8_t *frame;      /* scratch: FRAME_HEADER_BYTES + body max */
  uint8_t *record;     /* scratch: RECORD_BYTES_MAX */
};

/* ------------------------------------------------------------ helpers */

uint64_t sim_selftest_digest(const uint8_t *body, size_t len) {
  return ((uint64_t)crc32c(body, len) << 32) | (uint32_t)len;
}

/* A record's check covers its length field too, so a run of zeros (a hole
 * left by a crash) never passes. */
static uint32_t record_check(const uint8_t *rec, size_t body_len) {
  return crc32c_extend(crc32c(rec, 4), rec + RECORD_HEADER_BYTES, body_len);
}

static void put_be16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static void put_be32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (24 - 8 * i));
}
static void put_be64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (56 - 8 * i));
}
static uint16_t get_be16(const uint8_t *p) {
  return (uint16_t)((p[0] << 8) | p[1]);
}
static uint32_t get_be32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | p[3];
}
static uint64_t get_be64(const uint8_t *p) {
  return ((uint64_t)get_be32(p) << 32) | get_be32(p + 4);
}

void sim_selftest_config_default(sim_selftest_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->listen_port = 7000;
  cfg->data_path = "selftest.log";
  cfg->send_interval_ns = 1000 * 1000;
  cfg->payload_bytes_max = 2048;
  cfg->fsync_interval_ns = 5 * 1000 * 1000;
  cfg->reconnect_delay_ns = 10 * 1000 * 1000;
  cfg->pause_probability = 0.01;
  cfg->burst_probability = 0.001;
}

static void observe(st_node *n, sim_selftest_event *ev) {
  if (!n->cfg->observer)
    return;
  ev->node_index = n->cfg->node_index;
  n->cfg->observer(n->cfg->observer_arg, ev);
}

static void violation(st_node *n, const char *what, uint64_t a, uint64_t b) {
  env_metric_add(n->env, "selftest.violations", 1);
  env_trace(n->env, "selftest.violation",
            "\"what\":\"%s\",\"a\":%" PRIu64 ",\"b\":%" PRIu64, what, a, b);
  env_log(n->env, ENV_LOG_ERROR,
          "selftest violation: %s (%" PRIu64 ", %" PRIu64 ")", what, a, b);
  sim_selftest_event ev = {
      .kind = SIM_SELFTEST_BAD_FRAME, .detail = what, .seq = a, .offset = b};
  observe(n, &ev);
}

/* Jittered delay in [interval/2, 3*interval/2]. */
static uint64_t jitter(st_node *n, uint64_t interval_ns) {
  if (interval_ns < 2)
    return interval_ns ? interval_ns : 1;
  return interval_ns / 2 + env_rand_below(n->env, interval_ns + 1);
}

/* -------------------------------------------------------------- file */

static void file_truncate_to(st_node *n, uint64_t len) {
  int rc = env_file_truncate(n->file, len);
  if (rc < 0)
    env_log(n->env, ENV_LOG_WARN, "truncate to %" PRIu64 ": %d", len, rc);
  n->file_len = len;
  n->dirty = true;
}

static void record_append(st_node *n, const uint8_t *body, size_t body_len) {
  uint8_t *rec = n->record;
  put_be32(rec, (uint32_t)body_len);
  memcpy(rec + RECORD_HEADER_BYTES, body, body_len);
  put_be32(rec + 4, record_check(rec, body_len));
  size_t len = RECORD_HEADER_BYTES + body_len;
  int rc = env_file_append(n->file, rec, len);
  if (rc < 0) {
    /* Nothing may be half-written behind our back: cut back to what we
     * know the file holds. */
    env_log(n->env, ENV_LOG_WARN, "append: %d", rc);
    file_truncate_to(n, n->file_len);
    return;
  }
  sim_selftest_event ev = {.kind = SIM_SELFTEST_APPENDED,
                           .offset = n->file_len,
                           .data = rec,
                           .len = len};
  observe(n, &ev);
  n->file_len += len;
  n->dirty = true;
}

static void fsync_done(void *arg, int status) {
  st_node *n = arg;
  n->fsync_inflight = false;
  sim_selftest_event ev = {.kind = SIM_SELFTEST_FSYNCED,
                           .offset = n->fsync_covering,
                           .status = status};
  observe(n, &ev);
  if (status == 0) {
    if (n->fsync_covering > n->synced_len)
      n->synced_len = n->fsync_covering;
    return;
  }
  /* After a failed fsync the unsynced tail may never become durable:
   * drop it and write from the last good point (the received frames it
   * held are lost, which the checker allows — they were never synced). */
  env_log(n->env, ENV_LOG_WARN, "fsync failed (%d): truncating to %" PRIu64,
          status, n->synced_len);
  file_truncate_to(n, n->synced_len);
  sim_selftest_event tr = {.kind = SIM_SELFTEST_TRUNCATED,
                           .offset = n->synced_len};
  observe(n, &tr);
}

static void fsync_start(st_node *n) {
  n->fsync_inflight = true;
  n->dirty = false;
  n->fsync_covering = n->file_len;
  env_file_fsync(n->file, fsync_done, n);
}

static void fsync_tick(void *arg) {
  st_node *n = arg;
  n->fsync_timer = 0;
  if (n->dirty && !n->fsync_inflight)
    fsync_start(n);
  n->fsync_timer =
      env_timer_start(n->env, n->cfg->fsync_interval_ns, fsync_tick, n);
}

/* Reads the file back: the longest prefix of whole, valid records. */
static int recover(st_node *n, uint64_t *valid_len, uint64_t *hash,
                   uint64_t *records) {
  /* The bytes read back stay in n->recovered until they are written again
   * and synced (see recovery_sync). */
  uint64_t size = 0;
  int rc = env_file_size(n->file, &size);
  if (rc < 0)
    return rc;
  if (size > RECOVER_BYTES_MAX)
    return -EFBIG;
  uint8_t *data = g_malloc(size ? size : 1);
  size_t got = 0;
  rc = env_file_pread(n->file, data, size, 0, &got);
  if (rc < 0)
    goto out_free;
  uint64_t off = 0, count = 0;
  uint32_t h = 0;
  while (off + RECORD_HEADER_BYTES <= got) {
    uint32_t len = get_be32(data + off);
    if (len < SIM_SELFTEST_BODY_BYTES_MIN ||
        len > SIM_SELFTEST_BODY_BYTES_MAX ||
        off + RECORD_HEADER_BYTES + len > got)
      break;
    if (record_check(data + off, len) != get_be32(data + off + 4))
      break;
    h = crc32c_extend(h, data + off, RECORD_HEADER_BYTES + len);
    off += RECORD_HEADER_BYTES + len;
    count++;
  }
  *valid_len = off;
  *hash = h;
  *records = count;
  if (size != off)
    file_truncate_to(n, off);
  n->recovered = data;
  n->recovered_len = off;
  return 0;
out_free:
  g_free(data);
  return rc;
}

/* ------------------------------------------------------------ network */

static void go_online(st_node *n);
static void dial(st_node *n, size_t slot);

static void conn_free(st_conn *c) {
  if (c->resume_timer)
    env_timer_cancel(c->node->env, c->resume_timer);
  g_free(c->rx_buf);
  g_free(c);
}

static st_conn *conn_new(st_node *n, int peer_slot) {
  st_conn *c = g_new0(st_conn, 1);
  c->node = n;
  c->peer_slot = peer_slot;
  c->rx_buf = g_malloc(FRAME_HEADER_BYTES + SIM_SELFTEST_BODY_BYTES_MAX);
  do {
    c->tx_stream = env_rand_u64(n->env);
  } while (c->tx_stream == 0);
  g_ptr_array_add(n->conns, c);
  return c;
}

/* Forgets a connection the env has freed or that we closed. */
static void conn_forget(st_conn *c) {
  st_node *n = c->node;
  g_ptr_array_remove(n->conns, c);
  if (c->peer_slot >= 0 && n->slots[c->peer_slot].conn == c)
    n->slots[c->peer_slot].conn = NULL;
  conn_free(c);
}

static void redial_fire(void *arg);

static void schedule_redial(st_node *n, size_t slot) {
  st_slot *s = &n->slots[slot];
  s->redial_timer = env_timer_start(
      n->env, jitter(n, n->cfg->reconnect_delay_ns), redial_fire, s);
}

static void handle_frame(st_conn *c, const uint8_t *body, size_t len) {
  st_node *n = c->node;
  if (crc32c(body, len - 4) != get_be32(body + len - 4)) {
    violation(n, "frame checksum mismatch", c->rx_seq_next, len);
    return;
  }
  uint64_t stream = get_be64(body);
  uint64_t seq = get_be64(body + 8);
  uint32_t sender = get_be32(body + 16);
  uint16_t payload_len = get_be16(body + 20);
  if ((size_t)payload_len + SIM_SELFTEST_BODY_BYTES_MIN != len) {
    violation(n, "frame length mismatch", payload_len, len);
    return;
  }
  if (!c->rx_started) {
    c->rx_started = true;
    c->rx_stream = stream;
  } else if (stream != c->rx_stream) {
    violation(n, "stream changed within a connection", c->rx_stream, stream);
  }
  if (seq != c->rx_seq_next)
    violation(n, "frame out of sequence", c->rx_seq_next, seq);
  c->rx_seq_next = seq + 1;
  sim_selftest_event ev = {.kind = SIM_SELFTEST_RECEIVED,
                           .stream = stream,
                           .seq = seq,
                           .sender = sender,
                           .digest = sim_selftest_digest(body, len),
                           .len = len};
  observe(n, &ev);
  env_metric_add(n->env, "selftest.frames_received", 1);
  record_append(n, body, len);
}

static void on_data(void *arg, env_conn_t *conn, const uint8_t *data,
                    size_t len) {
  st_conn *c = arg;
  const size_t cap = FRAME_HEADER_BYTES + SIM_SELFTEST_BODY_BYTES_MAX;
  while (len > 0) {
    /* Fill the header first, then exactly one body: never read past the
     * current frame, so chunk boundaries cannot matter. */
    size_t want = FRAME_HEADER_BYTES;
    if (c->rx_len >= FRAME_HEADER_BYTES) {
      uint32_t body_len = get_be32(c->rx_buf);
      if (body_len < SIM_SELFTEST_BODY_BYTES_MIN ||
          body_len > SIM_SELFTEST_BODY_BYTES_MAX) {
        violation(c->node, "bad frame length", body_len, c->rx_seq_next);
        env_conn_close(conn);
        conn_forget(c);
        return;
      }
      want = FRAME_HEADER_BYTES + body_len;
    }
    SL_ASSERT(want <= cap && c->rx_len < want);
    size_t take = want - c->rx_len;
    if (take > len)
      take = len;
    memcpy(c->rx_buf + c->rx_len, data, take);
    c->rx_len += take;
    data += take;
    len -= take;
    if (c->rx_len == want && want > FRAME_HEADER_BYTES) {
      handle_frame(c, c->rx_buf + FRAME_HEADER_BYTES,
                   want - FRAME_HEADER_BYTES);
      c->rx_len = 0;
    }
  }
}

static void on_drain(void *arg, env_conn_t *conn) {
  st_conn *c = arg;
  c->waiting_drain = false;
}

static void on_close(void *arg, env_conn_t *conn, int status) {
  st_conn *c = arg;
  st_node *n = c->node;
  int slot = c->peer_slot;
  env_trace(n->env, "selftest.conn_closed", "\"peer\":\"%s\",\"status\":%d",
            env_conn_peer(conn), status);
  conn_forget(c);
  if (slot >= 0)
    schedule_redial(n, (size_t)slot);
}

static void on_connect(void *arg, env_conn_t *conn) {
  st_conn *c = arg;
  c->connected = true;
}

static const env_conn_cbs conn_cbs = {
    .on_connect = on_connect,
    .on_data = on_data,
    .on_drain = on_drain,
    .on_close = on_close,
};

static void dial(st_node *n, size_t slot) {
  const sim_selftest_peer *p = &n->cfg->peers[slot];
  st_conn *c = conn_new(n, (int)slot);
  n->slots[slot].conn = c;
  c->conn = env_connect(n->env, p->host, p->port, &conn_cbs, c);
}

static void redial_fire(void *arg) {
  st_slot *s = arg;
  s->redial_timer = 0;
  dial(s->node, s->index);
}

static void on_accept(void *arg, env_conn_t *conn) {
  st_node *n = arg;
  st_conn *c = conn_new(n, -1);
  c->conn = conn;
  c->connected = true;
  env_conn_set_cbs(conn, &conn_cbs, c);
}

/* Builds one frame for c into n->frame; returns its total length. */
static size_t frame_build(st_node *n, st_conn *c) {
  size_t payload_len =
      (size_t)env_rand_below(n->env, n->cfg->payload_bytes_max + 1);
  size_t body_len = SIM_SELFTEST_BODY_BYTES_MIN + payload_len;
  uint8_t *f = n->frame;
  uint8_t *body = f + FRAME_HEADER_BYTES;
  put_be32(f, (uint32_t)body_len);
  put_be64(body, c->tx_stream);
  put_be64(body + 8, c->tx_seq);
  put_be32(body + 16, n->cfg->node_index);
  put_be16(body + 20, (uint16_t)payload_len);
  uint8_t *payload = body + 22;
  uint64_t x = env_rand_u64(n->env);
  for (size_t i = 0; i < payload_len; i += 8) {
    uint8_t word[8];
    put_be64(word, splitmix64_next(&x));
    size_t k = payload_len - i < 8 ? payload_len - i : 8;
    memcpy(payload + i, word, k);
  }
  put_be32(body + body_len - 4, crc32c(body, body_len - 4));
  return FRAME_HEADER_BYTES + body_len;
}

/* Sends one frame; false if the connection refused it. */
static bool send_frame(st_node *n, st_conn *c) {
  size_t len = frame_build(n, c);
  int rc = env_conn_send(c->conn, n->frame, len);
  if (rc < 0) {
    env_log(n->env, ENV_LOG_WARN, "send to %s: %d", env_conn_peer(c->conn), rc);
    return false;
  }
  const uint8_t *body = n->frame + FRAME_HEADER_BYTES;
  sim_selftest_event ev = {
      .kind = SIM_SELFTEST_SENT,
      .stream = c->tx_stream,
      .seq = c->tx_seq,
      .sender = n->cfg->node_index,
      .digest = sim_selftest_digest(body, len - FRAME_HEADER_BYTES),
      .len = len - FRAME_HEADER_BYTES};
  observe(n, &ev);
  c->tx_seq++;
  if (env_conn_queued_bytes(c->conn) > ENV_CONN_DRAIN_BYTES)
    c->waiting_drain = true;
  return true;
}

static void resume_fire(void *arg) {
  st_conn *c = arg;
  c->resume_timer = 0;
  env_conn_resume_reading(c->conn);
}

static void maybe_pause(st_node *n) {
  if (n->conns->len == 0 ||
      env_rand_double(n->env) >= n->cfg->pause_probability)
    return;
  st_conn *c =
      g_ptr_array_index(n->conns, env_rand_below(n->env, n->conns->len));
  if (!c->connected || c->resume_timer)
    return;
  env_conn_pause_reading(c->conn);
  c->resume_timer = env_timer_start(
      n->env, 1 + env_rand_below(n->env, PAUSE_NS_MAX), resume_fire, c);
}

static void maybe_burst(st_node *n) {
  if (n->conns->len == 0 ||
      env_rand_double(n->env) >= n->cfg->burst_probability)
    return;
  st_conn *c =
      g_ptr_array_index(n->conns, env_rand_below(n->env, n->conns->len));
  for (unsigned i = 0;
       i < BURST_FRAMES_MAX && c->connected && !c->waiting_drain; i++)
    if (!send_frame(n, c))
      break;
}

static void send_tick(void *arg) {
  st_node *n = arg;
  n->send_timer = 0;
  /* Index loop: sends never add or remove connections synchronously. */
  for (guint i = 0; i < n->conns->len; i++) {
    st_conn *c = g_ptr_array_index(n->conns, i);
    if (c->connected && !c->waiting_drain)
      send_frame(n, c);
  }
  maybe_pause(n);
  maybe_burst(n);
  n->send_timer = env_timer_start(n->env, jitter(n, n->cfg->send_interval_ns),
                                  send_tick, n);
}

/* ------------------------------------------------------------ lifecycle */

static void recovery_synced(void *arg, int status);

/* Writes what recovery read back, then fsyncs it. Not only after a failed
 * fsync of ours: an earlier incarnation's fsync may have failed with the
 * error reported to that (now gone) process, leaving pages in the cache
 * that read back fine but will never reach the disk, and Linux does not
 * report that error again — an fsync now would succeed without them.
 * Writing the bytes again makes them dirty, so the fsync covers them (and
 * rewriting durable bytes with the same bytes is harmless). */
static void recovery_sync(st_node *n) {
  int rc = env_file_pwrite(n->file, n->recovered, n->recovered_len, 0);
  if (rc < 0)
    env_log(n->env, ENV_LOG_WARN, "rewrite: %d", rc);
  n->rewrite_failed = rc < 0;
  n->fsync_inflight = true;
  env_file_fsync(n->file, recovery_synced, n);
}

static void recovery_synced(void *arg, int status) {
  st_node *n = arg;
  n->fsync_inflight = false;
  if (status < 0 || n->rewrite_failed) {
    env_log(n->env, ENV_LOG_WARN,
            "recovery fsync: %d, rewriting %" PRIu64 " bytes", status,
            n->recovered_len);
    recovery_sync(n);
    return;
  }
  g_free(n->recovered);
  n->recovered = NULL;
  n->synced_len = n->file_len;
  sim_selftest_event ev = {
      .kind = SIM_SELFTEST_FSYNCED, .offset = n->file_len, .status = 0};
  observe(n, &ev);
  go_online(n);
}

static void go_online(st_node *n) {
  const sim_selftest_config *cfg = n->cfg;
  int rc = env_listen(n->env, cfg->listen_host, cfg->listen_port, on_accept, n,
                      &n->listener);
  if (rc < 0)
    env_log(n->env, ENV_LOG_ERROR, "listen on port %u: %d", cfg->listen_port,
            rc);
  n->online = true;
  for (size_t i = 0; i < cfg->peer_count; i++)
    dial(n, i);
  n->send_timer =
      env_timer_start(n->env, jitter(n, cfg->send_interval_ns), send_tick, n);
  n->fsync_timer =
      env_timer_start(n->env, cfg->fsync_interval_ns, fsync_tick, n);
}

static void node_free(st_node *n) {
  if (!n)
    return;
  if (n->conns) {
    for (guint i = 0; i < n->conns->len; i++) {
      st_conn *c = g_ptr_array_index(n->conns, i);
      env_conn_close(c->conn);
      conn_free(c);
    }
    g_ptr_array_free(n->conns, TRUE);
  }
  for (size_t i = 0; n->slots && i < n->cfg->peer_count; i++)
    if (n->slots[i].redial_timer)
      env_timer_cancel(n->env, n->slots[i].redial_timer);
  if (n->send_timer)
    env_timer_cancel(n->env, n->send_timer);
  if (n->fsync_timer)
    env_timer_cancel(n->env, n->fsync_timer);
  env_listener_close(n->listener);
  env_file_close(n->file);
  g_free(n->slots);
  g_free(n->recovered);
  g_free(n->frame);
  g_free(n->record);
  g_free(n);
}

static void *node_start(env_t *env, void *config) {
  const sim_selftest_config *cfg = config;
  SL_ASSERT(cfg != NULL);
  SL_ASSERT(cfg->payload_bytes_max <= SIM_SELFTEST_PAYLOAD_BYTES_MAX);
  SL_ASSERT(cfg->peer_count <= SIM_SELFTEST_PEERS_MAX);
  SL_ASSERT(cfg->send_interval_ns > 0 && cfg->fsync_interval_ns > 0);
  st_node *n = g_new0(st_node, 1);
  n->env = env;
  n->cfg = cfg;
  n->conns = g_ptr_array_new();
  n->slots = g_new0(st_slot, cfg->peer_count ? cfg->peer_count : 1);
  for (size_t i = 0; i < cfg->peer_count; i++) {
    n->slots[i].node = n;
    n->slots[i].index = i;
  }
  n->frame = g_malloc(FRAME_HEADER_BYTES + SIM_SELFTEST_BODY_BYTES_MAX);
  n->record = g_malloc(RECORD_BYTES_MAX);
  int rc = env_file_open(env, cfg->data_path,
                         ENV_O_READ | ENV_O_WRITE | ENV_O_CREATE, &n->file);
  if (rc < 0) {
    env_log(env, ENV_LOG_ERROR, "open %s: %d", cfg->data_path, rc);
    goto out_free;
  }
  uint64_t valid = 0, hash = 0, records = 0;
  rc = recover(n, &valid, &hash, &records);
  if (rc < 0) {
    env_log(env, ENV_LOG_ERROR, "recover %s: %d", cfg->data_path, rc);
    goto out_free;
  }
  n->file_len = valid;
  env_trace(env, "selftest.recovered",
            "\"bytes\":%" PRIu64 ",\"records\":%" PRIu64, valid, records);
  sim_selftest_event ev = {.kind = SIM_SELFTEST_RECOVERED,
                           .offset = valid,
                           .hash = hash,
                           .seq = records};
  observe(n, &ev);
  recovery_sync(n);
  return n;
out_free:
  node_free(n);
  return NULL;
}

static void node_stop(void *ctx) { node_free(ctx); }

const env_node_ops sim_selftest_node_ops = {
    .kind = "selftest",
    .start = node_start,
    .stop = node_stop,
};
