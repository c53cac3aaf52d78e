/*
 * selftest_run.c — the self-test scenario: K self-test nodes under
 * swarm-drawn faults, and the checker that watches them (selftest.h).
 *
 * Timeline: [0, fault_end) workload + faults, each fault drawn from the
 * FAULTS stream; at fault_end every link heals and every node that is down
 * restarts; [fault_end, duration) settle, after which every node must have
 * heard from every other one.
 *
 * The checker keeps the ground truth the nodes report through the
 * observer: for every sending stream the digest of each frame in order,
 * and for every node's record file the running hash at each record
 * boundary plus the length a completed fsync made durable.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "base/assert.h"
#include "base/crc32c.h"
#include "sim/selftest.h"
#include "sim/sim.h"

#define CONN_TIMEOUT_NS (UINT64_C(100) * 1000 * 1000)
/* After the final heal: long enough for a stalled connection to time out
 * twice over and for every node to redial. */
#define SETTLE_NS (2 * CONN_TIMEOUT_NS + UINT64_C(100) * 1000 * 1000)
#define RESTART_DELAY_NS_MAX (UINT64_C(80) * 1000 * 1000)
#define AUTO_HEAL_NS_MAX (3 * CONN_TIMEOUT_NS)
#define LISTEN_PORT 7000
#define MS_NS (UINT64_C(1000) * 1000)

typedef enum fault_kind {
  FAULT_PARTITION,
  FAULT_ISOLATE,
  FAULT_ONE_WAY,
  FAULT_HEAL,
  FAULT_RESET,
  FAULT_CRASH,
  FAULT_STOP,
  FAULT_FSYNC_EIO,
  FAULT_COUNT_
} fault_kind;

static const char *const fault_names[FAULT_COUNT_] = {
    "partition", "isolate", "one-way", "heal",
    "reset",     "crash",   "stop",    "fsync-eio",
};

typedef struct st_bound {
  uint64_t end;
  uint64_t hash; /* CRC-32C of bytes [0, end) */
} st_bound;

typedef struct st_model {
  GArray *bounds;  /* st_bound, ascending; bounds[0] = {0, 0} */
  uint64_t synced; /* bytes a completed fsync made durable */
  bool down;       /* crashed or stopped by the harness, not restarted */
} st_model;

typedef struct st_stream {
  uint64_t id; /* hash key */
  uint32_t sender;
  GArray *digests; /* uint64_t, one per seq sent */
  uint64_t recv_next;
} st_stream;

typedef struct st_harness st_harness;

typedef struct st_slot {
  st_harness *h;
  unsigned index;
} st_slot;

struct st_harness {
  sim_t *sim;
  sim_selftest_result *result;
  unsigned k;
  uint64_t duration_ns;
  uint64_t fault_end_ns;
  bool faults;
  bool healed; /* the final heal happened */
  bool liveness;
  sim_node_t *nodes[SIM_SELFTEST_NODES_MAX];
  char names[SIM_SELFTEST_NODES_MAX][16];
  sim_selftest_peer peers[SIM_SELFTEST_NODES_MAX][SIM_SELFTEST_NODES_MAX];
  sim_selftest_config cfgs[SIM_SELFTEST_NODES_MAX];
  st_model models[SIM_SELFTEST_NODES_MAX];
  st_slot slots[SIM_SELFTEST_NODES_MAX];
  bool heard[SIM_SELFTEST_NODES_MAX][SIM_SELFTEST_NODES_MAX]; /* [from][to] */
  GHashTable *streams; /* &id -> st_stream*, lookups only */
  unsigned fault_weight[FAULT_COUNT_];
  unsigned fault_weight_total;
  uint64_t fault_mean_ns;
  uint64_t fault_count[FAULT_COUNT_];
  uint64_t frames_sent, frames_received, records, fsyncs_ok, fsyncs_failed;
  uint64_t recoveries, restarts, truncations;
};

/* ------------------------------------------------------------ checker */

static void violation(st_harness *h, unsigned node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void violation(st_harness *h, unsigned node, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *what = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  char *text = g_strdup_printf("t=%" PRIu64 "ns %s: %s", sim_now_ns(h->sim),
                               node < h->k ? h->names[node] : "?", what);
  sim_scenario_result_violation(h->result, text);
  sim_trace(h->sim, node < h->k ? h->nodes[node] : NULL, "check.violation",
            "\"what\":\"%s\"", what);
  g_free(text);
  g_free(what);
}

static st_bound *bound_last(st_model *m) {
  return &g_array_index(m->bounds, st_bound, m->bounds->len - 1);
}

/* The boundary at exactly `end`, or NULL. */
static st_bound *bound_find(st_model *m, uint64_t end) {
  size_t lo = 0, hi = m->bounds->len;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    st_bound *b = &g_array_index(m->bounds, st_bound, mid);
    if (b->end == end)
      return b;
    if (b->end < end)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

/* Drops every boundary past `end` (which must be one). */
static void bound_cut(st_model *m, uint64_t end) {
  st_bound *b = bound_find(m, end);
  SL_ASSERT(b != NULL);
  g_array_set_size(m->bounds, (guint)(b - (st_bound *)m->bounds->data) + 1);
}

static st_stream *stream_get(st_harness *h, uint64_t id, bool create,
                             uint32_t sender) {
  st_stream *s = g_hash_table_lookup(h->streams, &id);
  if (s || !create)
    return s;
  s = g_new0(st_stream, 1);
  s->id = id;
  s->sender = sender;
  s->digests = g_array_new(FALSE, FALSE, sizeof(uint64_t));
  g_hash_table_insert(h->streams, &s->id, s);
  return s;
}

static void stream_free(gpointer p) {
  st_stream *s = p;
  g_array_free(s->digests, TRUE);
  g_free(s);
}

static void check_sent(st_harness *h, const sim_selftest_event *ev) {
  st_stream *s = stream_get(h, ev->stream, true, ev->node_index);
  h->frames_sent++;
  if (s->sender != ev->node_index)
    violation(h, ev->node_index, "stream %" PRIx64 " used by two senders",
              ev->stream);
  if (ev->seq != s->digests->len)
    violation(h, ev->node_index,
              "stream %" PRIx64 " sent seq %" PRIu64 ", expected %u",
              ev->stream, ev->seq, s->digests->len);
  g_array_append_val(s->digests, ev->digest);
}

static void check_received(st_harness *h, const sim_selftest_event *ev) {
  unsigned to = ev->node_index;
  h->frames_received++;
  st_stream *s = stream_get(h, ev->stream, false, 0);
  if (!s) {
    violation(h, to, "received a frame of unknown stream %" PRIx64, ev->stream);
    return;
  }
  if (ev->seq != s->recv_next)
    violation(h, to,
              "stream %" PRIx64 " from %s: got seq %" PRIu64
              ", expected %" PRIu64 " (reordered, duplicated or lost)",
              ev->stream, h->names[s->sender], ev->seq, s->recv_next);
  else if (ev->seq >= s->digests->len ||
           g_array_index(s->digests, uint64_t, ev->seq) != ev->digest)
    violation(h, to, "stream %" PRIx64 " seq %" PRIu64 ": corrupted frame",
              ev->stream, ev->seq);
  s->recv_next = ev->seq + 1;
  if (ev->sender != s->sender)
    violation(h, to, "stream %" PRIx64 ": frame claims sender %u, sent by %u",
              ev->stream, ev->sender, s->sender);
  if (h->healed && s->sender < h->k)
    h->heard[s->sender][to] = true;
}

static void check_appended(st_harness *h, const sim_selftest_event *ev) {
  st_model *m = &h->models[ev->node_index];
  st_bound *last = bound_last(m);
  h->records++;
  if (ev->offset != last->end) {
    violation(h, ev->node_index,
              "record appended at %" PRIu64 ", file ends at %" PRIu64,
              ev->offset, last->end);
    return;
  }
  st_bound next = {.end = last->end + ev->len,
                   .hash =
                       crc32c_extend((uint32_t)last->hash, ev->data, ev->len)};
  g_array_append_val(m->bounds, next);
}

static void check_fsynced(st_harness *h, const sim_selftest_event *ev) {
  st_model *m = &h->models[ev->node_index];
  if (ev->status != 0) {
    h->fsyncs_failed++;
    return;
  }
  h->fsyncs_ok++;
  if (!bound_find(m, ev->offset)) {
    violation(h, ev->node_index,
              "fsync covered %" PRIu64 " bytes, not a record boundary",
              ev->offset);
    return;
  }
  if (ev->offset > m->synced)
    m->synced = ev->offset;
}

static void check_truncated(st_harness *h, const sim_selftest_event *ev) {
  st_model *m = &h->models[ev->node_index];
  h->truncations++;
  if (!bound_find(m, ev->offset)) {
    violation(h, ev->node_index,
              "truncated to %" PRIu64 ", not a record boundary", ev->offset);
    return;
  }
  bound_cut(m, ev->offset);
  if (m->synced > ev->offset)
    m->synced = ev->offset;
}

static void check_recovered(st_harness *h, const sim_selftest_event *ev) {
  unsigned i = ev->node_index;
  st_model *m = &h->models[i];
  h->recoveries++;
  if (ev->offset < m->synced)
    violation(h, i,
              "recovered %" PRIu64 " bytes but %" PRIu64
              " were fsynced: durable data lost",
              ev->offset, m->synced);
  st_bound *b = bound_find(m, ev->offset);
  if (!b) {
    violation(h, i,
              "recovered %" PRIu64 " bytes: not a prefix of what was written"
              " (written: %" PRIu64 ")",
              ev->offset, bound_last(m)->end);
    /* Resynchronise the model with what the node now holds. */
    g_array_set_size(m->bounds, 1);
    st_bound fresh = {.end = ev->offset, .hash = ev->hash};
    if (ev->offset > 0)
      g_array_append_val(m->bounds, fresh);
    m->synced = 0;
    return;
  }
  if (b->hash != ev->hash)
    violation(h, i,
              "recovered %" PRIu64 " bytes that differ from what was"
              " written there",
              ev->offset);
  bound_cut(m, ev->offset);
}

static void observer(void *arg, const sim_selftest_event *ev) {
  st_harness *h = arg;
  SL_ASSERT(ev->node_index < h->k);
  switch (ev->kind) {
  case SIM_SELFTEST_SENT:
    check_sent(h, ev);
    break;
  case SIM_SELFTEST_RECEIVED:
    check_received(h, ev);
    break;
  case SIM_SELFTEST_APPENDED:
    check_appended(h, ev);
    break;
  case SIM_SELFTEST_FSYNCED:
    check_fsynced(h, ev);
    break;
  case SIM_SELFTEST_TRUNCATED:
    check_truncated(h, ev);
    break;
  case SIM_SELFTEST_RECOVERED:
    check_recovered(h, ev);
    break;
  case SIM_SELFTEST_BAD_FRAME:
    violation(h, ev->node_index, "node saw: %s (%" PRIu64 ", %" PRIu64 ")",
              ev->detail, ev->seq, ev->offset);
    break;
  }
}

/* The durable image of a node's file, parsed independently of the node:
 * it must hold at least what was fsynced, and agree with what was written
 * up to there. */
static void check_durable_file(st_harness *h, unsigned i) {
  st_model *m = &h->models[i];
  sim_disk_t *disk = sim_node_disk(h->nodes[i]);
  const char *path = h->cfgs[i].data_path;
  uint64_t size = 0;
  int rc = sim_disk_durable_size(disk, path, &size);
  if (rc < 0) {
    if (m->synced > 0)
      violation(h, i,
                "durable file missing (%d) after %" PRIu64
                " bytes were fsynced",
                rc, m->synced);
    return;
  }
  uint8_t *data = g_malloc(size ? size : 1);
  size_t got = 0;
  rc = sim_disk_durable_pread(disk, path, data, size, 0, &got);
  if (rc < 0 || got != size) {
    violation(h, i, "durable file unreadable (%d)", rc);
    goto out_free;
  }
  uint64_t off = 0;
  uint32_t hash = 0;
  while (off < m->synced && off + 8 <= got) {
    uint32_t len = ((uint32_t)data[off] << 24) |
                   ((uint32_t)data[off + 1] << 16) |
                   ((uint32_t)data[off + 2] << 8) | data[off + 3];
    if (len > SIM_SELFTEST_BODY_BYTES_MAX || off + 8 + len > got)
      break;
    hash = crc32c_extend(hash, data + off, 8 + len);
    off += 8 + len;
  }
  st_bound *b = bound_find(m, m->synced);
  if (off < m->synced)
    violation(h, i,
              "durable file has %" PRIu64 " whole records' bytes, %" PRIu64
              " were fsynced",
              off, m->synced);
  else if (!b || off != m->synced || b->hash != hash)
    violation(h, i,
              "durable file differs from what was written in its"
              " first %" PRIu64 " bytes",
              m->synced);
out_free:
  g_free(data);
}

/* ------------------------------------------------------------- faults */

static unsigned draw_node(st_harness *h) {
  return (unsigned)sim_rand_below(h->sim, SIM_STREAM_FAULTS, h->k);
}

/* Two distinct nodes (k >= 2). */
static void draw_pair(st_harness *h, unsigned *a, unsigned *b) {
  *a = draw_node(h);
  *b =
      (*a + 1 + (unsigned)sim_rand_below(h->sim, SIM_STREAM_FAULTS, h->k - 1)) %
      h->k;
}

static void heal_event(sim_t *sim, void *arg) {
  st_harness *h = arg;
  h->fault_count[FAULT_HEAL]++;
  sim_heal(sim);
}

static void restart_event(sim_t *sim, void *arg) {
  st_slot *slot = arg;
  st_harness *h = slot->h;
  st_model *m = &h->models[slot->index];
  if (!m->down)
    return; /* already restarted by the final heal */
  m->down = false;
  h->restarts++;
  sim_node_restart(sim, h->nodes[slot->index]);
}

static void schedule_auto_heal(st_harness *h) {
  sim_schedule(h->sim,
               1 + sim_rand_below(h->sim, SIM_STREAM_FAULTS, AUTO_HEAL_NS_MAX),
               heal_event, h);
}

static void take_down(st_harness *h, bool crash) {
  unsigned i = draw_node(h);
  st_model *m = &h->models[i];
  if (m->down || !sim_node_is_up(h->nodes[i]))
    return;
  if (crash) {
    unsigned flags = sim_rand_below(h->sim, SIM_STREAM_FAULTS, 2)
                         ? SIM_DISK_CRASH_GARBAGE
                         : 0;
    sim_node_crash(h->sim, h->nodes[i], flags);
  } else {
    sim_node_stop(h->sim, h->nodes[i]);
  }
  m->down = true;
  sim_schedule(
      h->sim,
      1 + sim_rand_below(h->sim, SIM_STREAM_FAULTS, RESTART_DELAY_NS_MAX),
      restart_event, &h->slots[i]);
}

static void apply_fault(st_harness *h, fault_kind kind) {
  unsigned a, b;
  h->fault_count[kind]++;
  switch (kind) {
  case FAULT_PARTITION:
    draw_pair(h, &a, &b);
    sim_partition(h->sim, h->nodes[a], h->nodes[b]);
    schedule_auto_heal(h);
    break;
  case FAULT_ISOLATE:
    a = draw_node(h);
    for (unsigned j = 0; j < h->k; j++)
      if (j != a)
        sim_partition(h->sim, h->nodes[a], h->nodes[j]);
    schedule_auto_heal(h);
    break;
  case FAULT_ONE_WAY:
    draw_pair(h, &a, &b);
    sim_link_block(h->sim, h->nodes[a], h->nodes[b], true);
    schedule_auto_heal(h);
    break;
  case FAULT_HEAL:
    sim_heal(h->sim);
    break;
  case FAULT_RESET:
    draw_pair(h, &a, &b);
    sim_reset_connections(h->sim, h->nodes[a], h->nodes[b]);
    break;
  case FAULT_CRASH:
    take_down(h, true);
    break;
  case FAULT_STOP:
    take_down(h, false);
    break;
  case FAULT_FSYNC_EIO:
    a = draw_node(h);
    sim_trace(h->sim, h->nodes[a], "fault.fsync_eio", "\"armed\":true");
    sim_disk_fail_next_fsync(sim_node_disk(h->nodes[a]));
    break;
  case FAULT_COUNT_:
    SL_ASSERT(false);
  }
}

static void fault_event(sim_t *sim, void *arg) {
  st_harness *h = arg;
  if (sim_now_ns(sim) >= h->fault_end_ns)
    return;
  apply_fault(h, (fault_kind)sim_scenario_pick_weighted(sim, h->fault_weight,
                                                        FAULT_COUNT_,
                                                        h->fault_weight_total));
  sim_schedule(sim, sim_scenario_draw_exp_ns(sim, h->fault_mean_ns),
               fault_event, h);
}

static void final_heal_event(sim_t *sim, void *arg) {
  st_harness *h = arg;
  sim_trace(sim, NULL, "selftest.final_heal", "\"nodes\":%u", h->k);
  sim_heal(sim);
  for (unsigned i = 0; i < h->k; i++) {
    if (h->models[i].down) {
      h->models[i].down = false;
      h->restarts++;
      sim_node_restart(sim, h->nodes[i]);
    }
  }
  h->healed = true;
}

/* Swarm testing: each seed enables its own subset of fault classes with its
 * own weights and rate, so some seeds hammer one mechanism hard. */
static void draw_swarm(st_harness *h) {
  sim_t *sim = h->sim;
  bool pairs = h->k >= 2;
  for (int kind = 0; kind < FAULT_COUNT_; kind++) {
    bool needs_pair = kind == FAULT_PARTITION || kind == FAULT_ISOLATE ||
                      kind == FAULT_ONE_WAY || kind == FAULT_RESET;
    bool on = sim_rand_below(sim, SIM_STREAM_FAULTS, 2) == 1;
    unsigned weight = 1 + (unsigned)sim_rand_below(sim, SIM_STREAM_FAULTS, 4);
    h->fault_weight[kind] = on && (pairs || !needs_pair) ? weight : 0;
    h->fault_weight_total += h->fault_weight[kind];
  }
  if (h->fault_weight_total == 0) {
    h->fault_weight[FAULT_CRASH] = 1;
    h->fault_weight_total = 1;
  }
  h->fault_mean_ns = (5 + sim_rand_below(sim, SIM_STREAM_FAULTS, 56)) * MS_NS;
  GString *s = g_string_new("");
  for (int kind = 0; kind < FAULT_COUNT_; kind++)
    g_string_append_printf(s, "%s\"%s\":%u", kind ? "," : "", fault_names[kind],
                           h->fault_weight[kind]);
  sim_trace(sim, NULL, "selftest.swarm", "\"mean_ns\":%" PRIu64 ",%s",
            h->fault_mean_ns, s->str);
  g_string_free(s, TRUE);
}

/* -------------------------------------------------------------- setup */

/* Network knobs vary per seed too; they must be fixed before the sim
 * exists, so they come from their own function of the seed. */
static void draw_sim_options(const sim_selftest_opts *o, sim_options *so) {
  uint64_t x = o->seed ^ UINT64_C(0x53454c4654455354);
  sim_options_default(so, o->seed);
  so->conn_timeout_ns = CONN_TIMEOUT_NS;
  sim_options_draw_links(so, &x);
  so->clock_skew_max_ns = 50 * MS_NS;
  so->keep_trace = o->keep_trace || o->trace_out != NULL;
  so->log_level = o->log_level;
}

static void add_nodes(st_harness *h) {
  for (unsigned i = 0; i < h->k; i++)
    snprintf(h->names[i], sizeof h->names[i], "n%u", i + 1);
  for (unsigned i = 0; i < h->k; i++) {
    sim_selftest_config *cfg = &h->cfgs[i];
    size_t n = 0;
    for (unsigned j = 0; j < h->k; j++) {
      if (j == i)
        continue;
      h->peers[i][n].host = h->names[j];
      h->peers[i][n].port = LISTEN_PORT;
      n++;
    }
    sim_selftest_config_default(cfg);
    cfg->node_index = i;
    cfg->listen_port = LISTEN_PORT;
    cfg->peers = h->peers[i];
    cfg->peer_count = n;
    cfg->observer = observer;
    cfg->observer_arg = h;
    h->slots[i].h = h;
    h->slots[i].index = i;
    h->models[i].bounds = g_array_new(FALSE, FALSE, sizeof(st_bound));
    st_bound zero = {.end = 0, .hash = 0};
    g_array_append_val(h->models[i].bounds, zero);
    h->nodes[i] =
        sim_node_add(h->sim, h->names[i], &sim_selftest_node_ops, cfg);
    SL_ASSERT(h->nodes[i] != NULL);
  }
}

static void check_liveness(st_harness *h) {
  for (unsigned from = 0; from < h->k; from++)
    for (unsigned to = 0; to < h->k; to++)
      if (from != to && !h->heard[from][to])
        violation(h, to,
                  "heard nothing from %s in the %" PRIu64
                  " ms after the final heal",
                  h->names[from], (h->duration_ns - h->fault_end_ns) / MS_NS);
}

static void fill_result(st_harness *h, const sim_selftest_opts *o) {
  sim_selftest_result *r = h->result;
  r->trace_hash = sim_trace_hash(h->sim);
  r->trace_events = sim_trace_events(h->sim);
  r->events = sim_events_run(h->sim);
  r->virtual_ns = sim_now_ns(h->sim);
  if (o->keep_trace) {
    size_t len = 0;
    const char *text = sim_trace_text(h->sim, &len);
    r->trace_text = g_strndup(text ? text : "", len);
    r->trace_len = len;
  }
  sim_scenario_result_stat(r, "frames_sent", h->frames_sent);
  sim_scenario_result_stat(r, "frames_received", h->frames_received);
  sim_scenario_result_stat(r, "records", h->records);
  sim_scenario_result_stat(r, "fsyncs_ok", h->fsyncs_ok);
  sim_scenario_result_stat(r, "fsyncs_failed", h->fsyncs_failed);
  sim_scenario_result_stat(r, "recoveries", h->recoveries);
  sim_scenario_result_stat(r, "truncations", h->truncations);
  sim_scenario_result_stat(r, "restarts", h->restarts);
  for (int kind = 0; kind < FAULT_COUNT_; kind++)
    sim_scenario_result_stat(r, fault_names[kind], h->fault_count[kind]);
}

int sim_selftest_run(const sim_selftest_opts *o, sim_selftest_result *r) {
  SL_ASSERT(o != NULL && r != NULL);
  memset(r, 0, sizeof *r);
  r->seed = o->seed;
  unsigned k = o->nodes ? o->nodes : SIM_SELFTEST_NODES_DEFAULT;
  uint64_t duration_ms =
      o->duration_ms ? o->duration_ms : SIM_SELFTEST_DURATION_MS_DEFAULT;
  if (k > SIM_SELFTEST_NODES_MAX || duration_ms > UINT64_C(1) << 32)
    return -EINVAL;
  r->replay_command =
      sim_scenario_replay_command(o, "selftest", k, duration_ms);
  sim_options so;
  draw_sim_options(o, &so);
  st_harness *h = g_new0(st_harness, 1);
  int rc = 0;
  h->sim = sim_new(&so);
  if (!h->sim) {
    rc = -EINVAL;
    goto out_free_harness;
  }
  sim_set_replay_command(h->sim, r->replay_command);
  h->result = r;
  h->k = k;
  h->duration_ns = duration_ms * MS_NS;
  uint64_t settle =
      h->duration_ns / 2 < SETTLE_NS ? h->duration_ns / 2 : SETTLE_NS;
  h->fault_end_ns = h->duration_ns - settle;
  h->liveness = settle == SETTLE_NS && k >= 2;
  h->faults = !o->no_faults;
  h->streams =
      g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, stream_free);
  add_nodes(h);
  if (h->faults) {
    draw_swarm(h);
    sim_schedule(h->sim, sim_scenario_draw_exp_ns(h->sim, h->fault_mean_ns),
                 fault_event, h);
  }
  sim_schedule(h->sim, h->fault_end_ns, final_heal_event, h);
  sim_run_until(h->sim, h->duration_ns);

  if (h->liveness)
    check_liveness(h);
  for (unsigned i = 0; i < k; i++)
    check_durable_file(h, i);
  fill_result(h, o);
  if (o->trace_out && sim_trace_write(h->sim, o->trace_out) < 0)
    rc = -EIO;

  sim_free(h->sim); /* stops the nodes: before the models they report to */
  for (unsigned i = 0; i < k; i++)
    g_array_free(h->models[i].bounds, TRUE);
  g_hash_table_destroy(h->streams);
out_free_harness:
  g_free(h);
  return rc;
}
