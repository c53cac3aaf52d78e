/*
 * sim_net.c — simulated TCP: listeners, connections, links, partitions.
 *
 * A connection is one object with two ends (the env_conn_t handles its two
 * nodes hold) and two directions. Each direction is an ordered byte queue
 * cut into segments, one per send, each stamped with the virtual time it
 * reaches the peer: max(now + link latency, the previous segment's time), so
 * a connection's bytes never overtake each other. One delivery event per
 * direction is pending at a time; it hands every due byte (capped at one
 * read, possibly cut short at random to model chunking) to on_data, in
 * memory the node lends (on_alloc) when the loan holds the whole cut.
 *
 * Handshake: connect sends a SYN that arrives one latency later. No node or
 * no listener there -> the client sees -ECONNREFUSED. Otherwise the server
 * accepts at once and a SYN-ACK travels back; the client's on_connect runs
 * when it arrives, and only then do queued bytes start to flow (both ways).
 * Over a blocked link SYNs are retried with backoff until the connection
 * timeout, then -ETIMEDOUT.
 *
 * Faults: a delivery that finds its link blocked stalls the direction (the
 * bytes wait); unblocking the link resends them one latency later; a
 * direction stalled for conn_timeout_ns breaks the connection with
 * -ETIMEDOUT at both ends. A crash breaks its node's connections: peers see
 * -ECONNRESET one latency later. sim_reset_connections resets at once.
 *
 * Close: a graceful close appends a FIN segment; once everything before it
 * is delivered the peer gets on_close(0) and the connection is over (bytes
 * still queued towards the closer are dropped: the closer reads no more).
 *
 * Lifetime: a connection is reference counted — one reference per end the
 * node may still use or be called back on, one per pending event. It is
 * freed when the last one goes, so stale events never touch freed memory.
 * Handles of a crashed incarnation stay valid (and inert) until its stop
 * function has returned.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "sim/sim_internal.h"

typedef struct sim__conn sim__conn;

typedef struct sim__seg {
  uint64_t deliver_at_ns;
  size_t len;
  bool fin;
} sim__seg;

/* One direction: bytes from ends[i] to ends[1 - i]. */
typedef struct sim__dir {
  GByteArray *bytes; /* undelivered bytes start at bytes_head */
  size_t bytes_head;
  GArray *segs; /* sim__seg; pending ones start at seg_head */
  size_t seg_head;
  size_t unsched_bytes; /* sent before the handshake completed */
  bool fin_unsched;     /* closed before the handshake completed */
  uint64_t last_sched_ns;
  uint64_t delivered_bytes;
  bool event_pending;
  bool stalled;
  uint64_t stall_epoch; /* invalidates timeout events of older stalls */
  bool drain_armed;     /* queued went above ENV_CONN_DRAIN_BYTES */
} sim__dir;

typedef struct sim__end {
  env_conn_t base; /* first: env_conn_t* and sim__end* convert by cast */
  sim__conn *conn;
  sim_node_t *node;
  uint64_t incarnation;
  unsigned idx;  /* 0 = client, 1 = server */
  bool attached; /* has a node (the server end: once accepted) */
  bool cbs_set;
  bool user_closed; /* env_conn_close was called */
  bool in_on_close;
  bool finished; /* no more callbacks, node no longer uses it */
  bool paused;
  env_conn_cbs cbs;
  void *arg;
  char peer[SIM__NODE_NAME_BYTES_MAX + 8];
  GList *link; /* in node->conns while attached and not finished */
} sim__end;

struct sim__conn {
  sim_t *sim;
  uint64_t id;
  sim__end ends[2];
  sim__dir dirs[2];
  uint16_t port;
  uint16_t client_port;
  bool established; /* the SYN-ACK reached the client */
  bool over;        /* broken or finished: no more traffic */
  uint64_t connect_deadline_ns;
  uint64_t syn_retry_ns;
  uint32_t refs;
  GList *link; /* in sim->conns */
};

typedef struct sim__listener {
  env_listener_t base; /* first */
  sim_node_t *node;
  uint64_t incarnation;
  uint16_t port;
  env_accept_cb on_accept;
  void *arg;
} sim__listener;

static sim__end *end_of(env_conn_t *c) { return (sim__end *)c; }
static sim__listener *listener_of(env_listener_t *l) {
  return (sim__listener *)l;
}

/* ------------------------------------------------------------- helpers */

uint64_t sim__link_latency(sim_t *sim) {
  return sim__rng_latency(&sim->streams[SIM_STREAM_NET],
                          sim->opts.link_latency_min_ns,
                          sim->opts.link_latency_mean_extra_ns);
}

static bool end_live(const sim__end *e) {
  return !e->node->dead && e->incarnation == e->node->incarnation;
}

/* May the env call this end's callbacks now? */
static bool end_can_call(const sim__end *e) {
  return e->attached && !e->finished && end_live(e);
}

static size_t dir_queued(const sim__dir *d) {
  return d->bytes->len - d->bytes_head;
}

static size_t dir_seg_count(const sim__dir *d) {
  return d->segs->len - d->seg_head;
}

static sim__seg *dir_seg_head(sim__dir *d) {
  return &g_array_index(d->segs, sim__seg, d->seg_head);
}

static void dir_init(sim__dir *d) {
  memset(d, 0, sizeof *d);
  d->bytes = g_byte_array_new();
  d->segs = g_array_new(FALSE, FALSE, sizeof(sim__seg));
}

static void dir_clear(sim__dir *d) {
  g_byte_array_set_size(d->bytes, 0);
  d->bytes_head = 0;
  g_array_set_size(d->segs, 0);
  d->seg_head = 0;
  d->unsched_bytes = 0;
  d->fin_unsched = false;
}

/* Drops consumed prefixes once they dominate (amortised O(1) per byte). */
static void dir_compact(sim__dir *d) {
  if (d->bytes_head >= 65536 && d->bytes_head * 2 >= d->bytes->len) {
    g_byte_array_remove_range(d->bytes, 0, (guint)d->bytes_head);
    d->bytes_head = 0;
  }
  if (d->seg_head >= 64 && d->seg_head * 2 >= d->segs->len) {
    g_array_remove_range(d->segs, 0, (guint)d->seg_head);
    d->seg_head = 0;
  }
}

static void conn_ref(sim__conn *c) { c->refs++; }

static void conn_unref(sim__conn *c) {
  SL_ASSERT(c->refs > 0);
  if (--c->refs > 0)
    return;
  g_queue_delete_link(&c->sim->conns, c->link);
  for (int i = 0; i < 2; i++) {
    g_byte_array_free(c->dirs[i].bytes, TRUE);
    g_array_free(c->dirs[i].segs, TRUE);
  }
  g_free(c);
}

/* The end leaves the node's hands: no more callbacks, no more use. */
static void end_finish(sim__end *e) {
  if (e->finished)
    return;
  e->finished = true;
  if (e->link) {
    g_queue_delete_link(&e->node->conns, e->link);
    e->link = NULL;
  }
  conn_unref(e->conn);
}

static void end_attach(sim__end *e, sim_node_t *node) {
  e->node = node;
  e->incarnation = node->incarnation;
  e->attached = true;
  g_queue_push_tail(&node->conns, e);
  e->link = g_queue_peek_tail_link(&node->conns);
}

static void push_conn_event(sim__conn *c, uint64_t at, sim__fire_fn fire,
                            uint64_t a, uint64_t b) {
  conn_ref(c);
  sim__event ev = {.time_ns = at, .fire = fire, .obj = c, .a = a, .b = b};
  sim__push(c->sim, &ev);
}

static sim_node_t *resolve_host(sim_node_t *self, const char *host) {
  if (!host || strcmp(host, "localhost") == 0 ||
      strcmp(host, "127.0.0.1") == 0 || strcmp(host, "::1") == 0)
    return self;
  return g_hash_table_lookup(self->sim->nodes_by_name, host);
}

static uint16_t next_ephemeral_port(sim_node_t *node) {
  uint16_t port = (uint16_t)node->port_next;
  node->port_next = node->port_next >= SIM__PORT_EPHEMERAL_MAX
                        ? SIM__PORT_EPHEMERAL_MIN
                        : node->port_next + 1;
  return port;
}

static sim__listener *find_listener(sim_node_t *node, uint16_t port) {
  for (GList *l = node->listeners.head; l; l = l->next) {
    sim__listener *li = l->data;
    if (li->port == port)
      return li;
  }
  return NULL;
}

/* ---------------------------------------------------- breaking and notify */

static void notify_fire(sim_t *sim, const sim__event *ev) {
  sim__conn *c = ev->obj;
  sim__end *e = &c->ends[ev->a];
  int status = (int)(int64_t)ev->b;
  if (end_can_call(e)) {
    sim__trace(sim, e->node, "net.close", "\"conn\":%" PRIu64 ",\"status\":%d",
               c->id, status);
    e->in_on_close = true;
    e->cbs.on_close(e->arg, &e->base, status);
    e->in_on_close = false;
  }
  if (e->attached)
    end_finish(e);
  conn_unref(c);
}

/* Ends the connection with an error: each attached end still in use is
 * told `status` delay_ns[i] from now. The caller keeps a reference. */
static void conn_break(sim__conn *c, int status, const uint64_t delay_ns[2]) {
  sim_t *sim = c->sim;
  if (c->over)
    return;
  c->over = true;
  sim__trace(sim, NULL, "net.break", "\"conn\":%" PRIu64 ",\"status\":%d",
             c->id, status);
  dir_clear(&c->dirs[0]);
  dir_clear(&c->dirs[1]);
  for (unsigned i = 0; i < 2; i++) {
    sim__end *e = &c->ends[i];
    if (e->attached && !e->finished)
      push_conn_event(c, sim->now_ns + delay_ns[i], notify_fire, i,
                      (uint64_t)(int64_t)status);
  }
  for (unsigned i = 0; i < 2; i++)
    if (!c->ends[i].attached)
      end_finish(&c->ends[i]);
}

static void conn_break_now(sim__conn *c, int status) {
  const uint64_t now[2] = {0, 0};
  conn_break(c, status, now);
}

/* ------------------------------------------------------------- delivery */

static void deliver_fire(sim_t *sim, const sim__event *ev);

/* Makes sure a delivery event is pending if this direction has something
 * to deliver and is not waiting for a link (stall) to heal. */
static void dir_kick(sim__conn *c, unsigned i) {
  sim__dir *d = &c->dirs[i];
  if (c->over || !c->established || d->event_pending || d->stalled ||
      dir_seg_count(d) == 0)
    return;
  uint64_t at = dir_seg_head(d)->deliver_at_ns;
  if (at < c->sim->now_ns)
    at = c->sim->now_ns;
  d->event_pending = true;
  push_conn_event(c, at, deliver_fire, i, 0);
}

static void dir_add_seg(sim__conn *c, unsigned i, size_t len, bool fin) {
  sim_t *sim = c->sim;
  sim__dir *d = &c->dirs[i];
  uint64_t at = sim->now_ns + sim__link_latency(sim);
  if (at < d->last_sched_ns)
    at = d->last_sched_ns;
  d->last_sched_ns = at;
  sim__seg seg = {.deliver_at_ns = at, .len = len, .fin = fin};
  g_array_append_val(d->segs, seg);
  dir_kick(c, i);
}

static void stall_timeout_fire(sim_t *sim, const sim__event *ev) {
  sim__conn *c = ev->obj;
  sim__dir *d = &c->dirs[ev->a];
  if (!c->over && d->stalled && d->stall_epoch == ev->b) {
    sim__trace(sim, NULL, "net.timeout", "\"conn\":%" PRIu64 ",\"from\":\"%s\"",
               c->id, c->ends[ev->a].node->name);
    conn_break_now(c, -ETIMEDOUT);
  }
  conn_unref(c);
}

static void dir_stall(sim__conn *c, unsigned i) {
  sim_t *sim = c->sim;
  sim__dir *d = &c->dirs[i];
  if (d->stalled)
    return;
  d->stalled = true;
  d->stall_epoch++;
  sim__trace(sim, NULL, "net.stall", "\"conn\":%" PRIu64 ",\"from\":\"%s\"",
             c->id, c->ends[i].node->name);
  push_conn_event(c, sim->now_ns + sim->opts.conn_timeout_ns,
                  stall_timeout_fire, i, d->stall_epoch);
}

/* The FIN arrived after every byte before it: the peer sees EOF. */
static void deliver_fin(sim__conn *c, unsigned i) {
  sim_t *sim = c->sim;
  sim__end *to = &c->ends[1 - i];
  SL_ASSERT(c->ends[i].finished);
  c->over = true;
  dir_clear(&c->dirs[0]);
  dir_clear(&c->dirs[1]);
  sim__trace(sim, to->node, "net.eof", "\"conn\":%" PRIu64, c->id);
  if (end_can_call(to)) {
    to->in_on_close = true;
    to->cbs.on_close(to->arg, &to->base, 0);
    to->in_on_close = false;
  }
  end_finish(to);
}

/* Takes up to max_len due bytes (never past a FIN) off the front. */
static size_t dir_take_due(sim__dir *d, uint64_t now_ns, size_t max_len) {
  size_t n = 0;
  for (size_t k = d->seg_head; k < d->segs->len && n < max_len; k++) {
    sim__seg *s = &g_array_index(d->segs, sim__seg, k);
    if (s->fin || s->deliver_at_ns > now_ns)
      break;
    n += s->len;
  }
  return n < max_len ? n : max_len;
}

static void dir_consume(sim__dir *d, size_t n) {
  d->bytes_head += n;
  d->delivered_bytes += n;
  while (n > 0) {
    sim__seg *s = dir_seg_head(d);
    size_t take = s->len < n ? s->len : n;
    s->len -= take;
    n -= take;
    if (s->len == 0)
      d->seg_head++;
  }
  dir_compact(d);
}

static void deliver(sim_t *sim, sim__conn *c, unsigned i) {
  sim__dir *d = &c->dirs[i];
  sim__end *from = &c->ends[i];
  sim__end *to = &c->ends[1 - i];
  d->event_pending = false;
  if (c->over || dir_seg_count(d) == 0)
    return;
  if (dir_seg_head(d)->deliver_at_ns > sim->now_ns) {
    dir_kick(c, i);
    return;
  }
  if (sim__link_blocked(from->node, to->node)) {
    dir_stall(c, i);
    return;
  }
  bool can_call = end_can_call(to);
  if (can_call && to->paused)
    return; /* resume kicks us again */
  if (dir_seg_head(d)->fin) {
    d->seg_head++;
    deliver_fin(c, i);
    return;
  }
  size_t n = dir_take_due(d, sim->now_ns, SIM__READ_BYTES_MAX);
  SL_ASSERT(n > 0);
  double p = sim->opts.chunk_split_probability;
  if (n > 1 && p > 0.0 && sim__rng_double(&sim->streams[SIM_STREAM_NET]) < p)
    n = 1 + (size_t)sim__rng_below(&sim->streams[SIM_STREAM_NET], n - 1);
  /* Copy out: the callback may send on this very direction (a node talking
   * to itself) and move the queue's storage. Into the node's own memory
   * when it lends enough for the whole cut (on_alloc), else into the
   * scratch buffer: the cut, and so the trace, never depends on loans. */
  uint8_t *data = sim->read_scratch;
  if (can_call && to->cbs.on_alloc) {
    size_t lent = SIM__READ_BYTES_MAX;
    uint8_t *p = to->cbs.on_alloc(to->arg, &to->base, &lent);
    SL_ASSERT(p == NULL || lent > 0);
    if (p && lent >= n)
      data = p;
  }
  memcpy(data, d->bytes->data + d->bytes_head, n);
  uint64_t offset = d->delivered_bytes;
  dir_consume(d, n);
  sim__trace(sim, to->node, can_call ? "net.deliver" : "net.discard",
             "\"conn\":%" PRIu64 ",\"from\":\"%s\",\"offset\":%" PRIu64
             ",\"bytes\":%zu",
             c->id, from->node->name, offset, n);
  if (can_call)
    to->cbs.on_data(to->arg, &to->base, data, n);
  if (!c->over && d->drain_armed && dir_queued(d) < ENV_CONN_DRAIN_BYTES) {
    d->drain_armed = false;
    if (end_can_call(from) && from->cbs.on_drain) {
      sim__trace(sim, from->node, "net.drain", "\"conn\":%" PRIu64, c->id);
      from->cbs.on_drain(from->arg, &from->base);
    }
  }
  dir_kick(c, i);
}

static void deliver_fire(sim_t *sim, const sim__event *ev) {
  sim__conn *c = ev->obj;
  deliver(sim, c, (unsigned)ev->a);
  conn_unref(c);
}

void sim__net_links_changed(sim_t *sim) {
  for (GList *l = sim->conns.head; l; l = l->next) {
    sim__conn *c = l->data;
    if (c->over)
      continue;
    for (unsigned i = 0; i < 2; i++) {
      sim__dir *d = &c->dirs[i];
      if (!d->stalled ||
          sim__link_blocked(c->ends[i].node, c->ends[1 - i].node))
        continue;
      /* Retransmission: the held bytes arrive one latency from now. */
      d->stalled = false;
      d->stall_epoch++;
      d->event_pending = true;
      push_conn_event(c, sim->now_ns + sim__link_latency(sim), deliver_fire, i,
                      0);
    }
  }
}

/* ------------------------------------------------------------ handshake */

static void synack_fire(sim_t *sim, const sim__event *ev);

/* A handshake packet found its link blocked: try again later, or give up
 * at the deadline. */
static void handshake_retry(sim__conn *c, sim__fire_fn fire) {
  sim_t *sim = c->sim;
  if (sim->now_ns >= c->connect_deadline_ns) {
    sim__trace(sim, NULL, "net.timeout", "\"conn\":%" PRIu64 ",\"from\":\"%s\"",
               c->id, c->ends[0].node->name);
    conn_break_now(c, -ETIMEDOUT);
    return;
  }
  uint64_t at = sim->now_ns + c->syn_retry_ns;
  if (at > c->connect_deadline_ns)
    at = c->connect_deadline_ns;
  c->syn_retry_ns *= 2;
  push_conn_event(c, at, fire, 0, 0);
}

static void syn_fire(sim_t *sim, const sim__event *ev) {
  sim__conn *c = ev->obj;
  sim__end *client = &c->ends[0];
  sim__end *server = &c->ends[1];
  /* A client that already closed still completes the handshake: its
   * queued bytes and FIN follow (a crashed one made the connection over). */
  if (c->over)
    goto out;
  if (sim__link_blocked(client->node, server->node)) {
    handshake_retry(c, syn_fire);
    goto out;
  }
  sim_node_t *target = server->node;
  sim__listener *li = target->dead ? NULL : find_listener(target, c->port);
  if (!li) {
    sim__trace(sim, target, "net.refused", "\"conn\":%" PRIu64 ",\"port\":%u",
               c->id, c->port);
    conn_break_now(c, -ECONNREFUSED);
    goto out;
  }
  end_attach(server, target);
  snprintf(server->peer, sizeof server->peer, "%s:%u", client->node->name,
           c->client_port);
  sim__trace(sim, target, "net.accept",
             "\"conn\":%" PRIu64 ",\"from\":\"%s\",\"port\":%u", c->id,
             client->node->name, c->port);
  li->on_accept(li->arg, &server->base);
  SL_ASSERT(server->cbs_set || server->user_closed || !end_live(server));
  if (!c->over)
    push_conn_event(c, sim->now_ns + sim__link_latency(sim), synack_fire, 0, 0);
out:
  conn_unref(c);
}

/* Bytes (and a FIN) queued before the handshake start flowing. */
static void dir_schedule_unsched(sim__conn *c, unsigned i) {
  sim__dir *d = &c->dirs[i];
  if (d->unsched_bytes > 0) {
    size_t n = d->unsched_bytes;
    d->unsched_bytes = 0;
    dir_add_seg(c, i, n, false);
  }
  if (d->fin_unsched) {
    d->fin_unsched = false;
    dir_add_seg(c, i, 0, true);
  }
}

static void synack_fire(sim_t *sim, const sim__event *ev) {
  sim__conn *c = ev->obj;
  sim__end *client = &c->ends[0];
  if (c->over)
    goto out;
  if (sim__link_blocked(c->ends[1].node, client->node)) {
    handshake_retry(c, synack_fire);
    goto out;
  }
  c->established = true;
  sim__trace(sim, client->node, "net.connected", "\"conn\":%" PRIu64, c->id);
  dir_schedule_unsched(c, 0);
  dir_schedule_unsched(c, 1);
  if (end_can_call(client) && client->cbs.on_connect)
    client->cbs.on_connect(client->arg, &client->base);
out:
  conn_unref(c);
}

/* ------------------------------------------------------------- env calls */

static sim__conn *conn_new(sim_t *sim) {
  sim__conn *c = g_new0(sim__conn, 1);
  c->sim = sim;
  c->id = sim->conn_id_next++;
  c->refs = 2; /* one per end */
  for (unsigned i = 0; i < 2; i++) {
    c->ends[i].base.ops = &sim__env_ops;
    c->ends[i].conn = c;
    c->ends[i].idx = i;
    dir_init(&c->dirs[i]);
  }
  g_queue_push_tail(&sim->conns, c);
  c->link = g_queue_peek_tail_link(&sim->conns);
  return c;
}

env_conn_t *sim__net_connect(env_t *env, const char *host, uint16_t port,
                             const env_conn_cbs *cbs, void *arg) {
  sim_node_t *node = sim__node_of(env);
  sim_t *sim = node->sim;
  SL_ASSERT(cbs != NULL && cbs->on_data != NULL && cbs->on_close != NULL);
  sim__conn *c = conn_new(sim);
  sim__end *client = &c->ends[0];
  client->cbs = *cbs;
  client->arg = arg;
  client->cbs_set = true;
  c->port = port;
  end_attach(client, node);
  snprintf(client->peer, sizeof client->peer, "%s:%u", host ? host : "?", port);
  if (node->dead) {
    /* An inert handle, released with the rest of the dead incarnation. */
    c->over = true;
    end_finish(&c->ends[1]);
    return &client->base;
  }
  c->client_port = next_ephemeral_port(node);
  sim_node_t *target = resolve_host(node, host);
  sim__trace(sim, node, "net.connect",
             "\"conn\":%" PRIu64 ",\"to\":\"%s\",\"port\":%u", c->id,
             target ? target->name : "?", port);
  if (!target) {
    const uint64_t delay[2] = {sim__link_latency(sim), 0};
    conn_break(c, -EHOSTUNREACH, delay);
    return &client->base;
  }
  snprintf(client->peer, sizeof client->peer, "%s:%u", target->name, port);
  c->ends[1].node = target;
  c->connect_deadline_ns = sim->now_ns + sim->opts.conn_timeout_ns;
  c->syn_retry_ns =
      sim->opts.conn_timeout_ns / 16 ? sim->opts.conn_timeout_ns / 16 : 1;
  push_conn_event(c, sim->now_ns + sim__link_latency(sim), syn_fire, 0, 0);
  return &client->base;
}

void sim__net_conn_set_cbs(env_conn_t *ec, const env_conn_cbs *cbs, void *arg) {
  sim__end *e = end_of(ec);
  if (!end_live(e))
    return;
  SL_ASSERT(!e->finished);
  SL_ASSERT(cbs != NULL && cbs->on_data != NULL && cbs->on_close != NULL);
  e->cbs = *cbs;
  e->arg = arg;
  e->cbs_set = true;
}

int sim__net_conn_send(env_conn_t *ec, const uint8_t *data, size_t len) {
  sim__end *e = end_of(ec);
  sim__conn *c = e->conn;
  if (!end_live(e))
    return 0; /* dead env: dropped */
  SL_ASSERT(!e->finished);
  if (e->in_on_close)
    return -EPIPE;
  if (len == 0 || c->over)
    return 0; /* the break is on its way to on_close */
  sim__dir *d = &c->dirs[e->idx];
  if (dir_queued(d) + len > SIM__CONN_QUEUE_BYTES_MAX)
    return -ENOBUFS;
  g_byte_array_append(d->bytes, data, (guint)len);
  if (c->established)
    dir_add_seg(c, e->idx, len, false);
  else
    d->unsched_bytes += len;
  if (dir_queued(d) > ENV_CONN_DRAIN_BYTES)
    d->drain_armed = true;
  return 0;
}

/* The concatenation becomes one segment, exactly as one env_conn_send of it
 * would: the same bytes, one link-latency draw, the same limits, so a node
 * switching between the two leaves its trace unchanged. `files` is ignored:
 * the bytes are taken from the pieces' memory, which holds the same. */
int sim__net_conn_sendv(env_conn_t *ec, const env_iovec *iov,
                        const env_iovec_file *files, size_t n) {
  sim__end *e = end_of(ec);
  sim__conn *c = e->conn;
  if (!end_live(e))
    return 0; /* dead env: dropped */
  SL_ASSERT(!e->finished);
  SL_ASSERT(iov != NULL || n == 0);
  if (e->in_on_close)
    return -EPIPE;
  size_t len = 0;
  for (size_t i = 0; i < n; i++) {
    SL_ASSERT(iov[i].data != NULL || iov[i].len == 0);
    SL_ASSERT(iov[i].len <= SIZE_MAX - len);
    len += iov[i].len;
  }
  if (len == 0 || c->over)
    return 0; /* the break is on its way to on_close */
  sim__dir *d = &c->dirs[e->idx];
  if (dir_queued(d) + len > SIM__CONN_QUEUE_BYTES_MAX)
    return -ENOBUFS;
  for (size_t i = 0; i < n; i++)
    if (iov[i].len > 0)
      g_byte_array_append(d->bytes, iov[i].data, (guint)iov[i].len);
  if (c->established)
    dir_add_seg(c, e->idx, len, false);
  else
    d->unsched_bytes += len;
  if (dir_queued(d) > ENV_CONN_DRAIN_BYTES)
    d->drain_armed = true;
  return 0;
}

size_t sim__net_conn_queued_bytes(env_conn_t *ec) {
  sim__end *e = end_of(ec);
  if (e->conn->over)
    return 0;
  return dir_queued(&e->conn->dirs[e->idx]);
}

void sim__net_conn_pause_reading(env_conn_t *ec) {
  sim__end *e = end_of(ec);
  if (end_live(e) && !e->finished)
    e->paused = true;
}

void sim__net_conn_resume_reading(env_conn_t *ec) {
  sim__end *e = end_of(ec);
  if (!end_live(e) || e->finished || !e->paused)
    return;
  e->paused = false;
  dir_kick(e->conn, 1 - e->idx);
}

/* Graceful close of an end that is still the node's. */
static void end_close(sim__end *e) {
  sim__conn *c = e->conn;
  e->user_closed = true;
  if (!c->over && e->idx == 0 && !c->ends[1].attached &&
      c->dirs[0].unsched_bytes == 0) {
    /* Nothing queued and the SYN has not arrived: abandon the attempt (as
     * env_uv does); nobody hears of it. */
    conn_ref(c);
    end_finish(e);
    conn_break_now(c, -ECONNABORTED);
    conn_unref(c);
    return;
  }
  if (!c->over) {
    if (c->established)
      dir_add_seg(c, e->idx, 0, true);
    else
      c->dirs[e->idx].fin_unsched = true;
  }
  end_finish(e); /* may free c */
}

void sim__net_conn_close(env_conn_t *ec) {
  sim__end *e = end_of(ec);
  if (!end_live(e))
    return;                   /* dead: released with its incarnation */
  SL_ASSERT(!e->in_on_close); /* env.h: the handle is gone after on_close */
  SL_ASSERT(!e->finished);
  sim__trace(e->conn->sim, e->node, "net.shutdown", "\"conn\":%" PRIu64,
             e->conn->id);
  end_close(e);
}

const char *sim__net_conn_peer(env_conn_t *ec) { return end_of(ec)->peer; }

/* ------------------------------------------------------------ listeners */

static bool host_is_local(sim_node_t *node, const char *host) {
  return !host || !host[0] || strcmp(host, "0.0.0.0") == 0 ||
         strcmp(host, "::") == 0 || strcmp(host, "localhost") == 0 ||
         strcmp(host, "127.0.0.1") == 0 || strcmp(host, "::1") == 0 ||
         strcmp(host, node->name) == 0;
}

int sim__net_listen(env_t *env, const char *host, uint16_t port,
                    env_accept_cb on_accept, void *arg, env_listener_t **out) {
  sim_node_t *node = sim__node_of(env);
  SL_ASSERT(on_accept != NULL && out != NULL);
  *out = NULL;
  if (node->dead)
    return -EIO;
  if (!host_is_local(node, host))
    return -EADDRNOTAVAIL;
  if (port == 0) {
    unsigned tries = SIM__PORT_EPHEMERAL_MAX - SIM__PORT_EPHEMERAL_MIN + 1;
    do {
      port = next_ephemeral_port(node);
    } while (find_listener(node, port) && --tries > 0);
    if (tries == 0)
      return -EADDRINUSE;
  } else if (find_listener(node, port)) {
    return -EADDRINUSE;
  }
  sim__listener *li = g_new0(sim__listener, 1);
  li->base.ops = &sim__env_ops;
  li->node = node;
  li->incarnation = node->incarnation;
  li->port = port;
  li->on_accept = on_accept;
  li->arg = arg;
  g_queue_push_tail(&node->listeners, li);
  sim__trace(node->sim, node, "net.listen", "\"port\":%u", port);
  *out = &li->base;
  return 0;
}

uint16_t sim__net_listener_port(env_listener_t *el) {
  return listener_of(el)->port;
}

void sim__net_listener_close(env_listener_t *el) {
  sim__listener *li = listener_of(el);
  sim_node_t *node = li->node;
  if (node->dead || li->incarnation != node->incarnation)
    return; /* dead: released with its incarnation */
  sim__trace(node->sim, node, "net.unlisten", "\"port\":%u", li->port);
  g_queue_remove(&node->listeners, li);
  g_free(li);
}

/* --------------------------------------------------- node down, faults */

void sim__net_node_down(sim_t *sim, sim_node_t *node, bool crashed) {
  sim__listener *li;
  while ((li = g_queue_pop_head(&node->listeners)))
    g_free(li);
  sim__end *e;
  while ((e = g_queue_peek_head(&node->conns))) {
    sim__conn *c = e->conn;
    conn_ref(c);
    if (!crashed) {
      /* Process exit: the OS closes the socket gracefully. */
      end_close(e);
    } else {
      end_finish(e);
      sim__end *peer = &c->ends[1 - e->idx];
      uint64_t delay[2] = {0, 0};
      delay[peer->idx] = peer->node == node ? 0 : sim__link_latency(sim);
      conn_break(c, -ECONNRESET, delay);
    }
    conn_unref(c);
  }
}

void sim_reset_connections(sim_t *sim, sim_node_t *a, sim_node_t *b) {
  SL_ASSERT(a->sim == sim && b->sim == sim);
  sim__trace(sim, NULL, "net.reset", "\"a\":\"%s\",\"b\":\"%s\"", a->name,
             b->name);
  GList *next;
  for (GList *l = sim->conns.head; l; l = next) {
    sim__conn *c = l->data;
    next = l->next;
    sim_node_t *x = c->ends[0].node;
    sim_node_t *y = c->ends[1].node;
    if (c->over || !((x == a && y == b) || (x == b && y == a)))
      continue;
    conn_ref(c);
    conn_break_now(c, -ECONNRESET);
    next = c->link->next; /* c stays in the list while referenced */
    conn_unref(c);
  }
}

void sim__net_free_all(sim_t *sim) {
  sim__conn *c;
  while ((c = g_queue_pop_head(&sim->conns))) {
    for (int i = 0; i < 2; i++) {
      g_byte_array_free(c->dirs[i].bytes, TRUE);
      g_array_free(c->dirs[i].segs, TRUE);
    }
    g_free(c);
  }
}
