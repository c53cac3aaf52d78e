/*
 * sim.c — the simulator core: the event heap and clock, nodes and their
 * lifecycle (start, crash, clean stop, restart), harness scheduling, the
 * random streams handed to harnesses, and the trace with its hash.
 *
 * This is the "Sim2" half of the FoundationDB split (DESIGN.md §5): one
 * thread, a virtual clock that jumps from event to event, and every source
 * of nondeterminism drawn from one seed. The env_ops table the nodes see
 * lives in sim_env.c, the network in sim_net.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/splitmix.h"
#include "sim/sim_internal.h"

/* Stream tags: arbitrary distinct constants ("NET\0", "DSK\0", ...). */
static const uint64_t stream_tags[SIM_STREAM_COUNT_] = {
    UINT64_C(0x4e45540000000001), UINT64_C(0x44534b0000000002),
    UINT64_C(0x434c4b0000000003), UINT64_C(0x574b4c0000000004),
    UINT64_C(0x464c540000000005),
};
#define NODE_CLOCK_TAG UINT64_C(0x534b455700000006)

/* -------------------------------------------------------------- options */

void sim_options_default(sim_options *opts, uint64_t seed) {
  memset(opts, 0, sizeof *opts);
  opts->seed = seed;
  opts->link_latency_min_ns = 100 * 1000;
  opts->link_latency_mean_extra_ns = 200 * 1000;
  opts->conn_timeout_ns = UINT64_C(10) * 1000 * 1000 * 1000;
  opts->chunk_split_probability = 0.25;
  opts->fsync_latency_min_ns = 50 * 1000;
  opts->fsync_latency_mean_extra_ns = 500 * 1000;
  opts->clock_skew_max_ns = 0;
  opts->keep_trace = false;
  opts->log_level = ENV_LOG_ERROR + 1; /* none */
}

void sim_options_draw_links(sim_options *opts, uint64_t *x) {
  static const double split_choices[] = {0.0, 0.25, 0.5, 0.95};
  opts->chunk_split_probability = split_choices[splitmix64_next(x) % 4];
  opts->link_latency_min_ns = (20 + splitmix64_next(x) % 200) * 1000;
  opts->link_latency_mean_extra_ns = (splitmix64_next(x) % 1000) * 1000;
}

static bool options_valid(const sim_options *o) {
  return o->conn_timeout_ns > 0 && o->chunk_split_probability >= 0.0 &&
         o->chunk_split_probability <= 1.0 &&
         o->clock_skew_max_ns <= (uint64_t)INT64_MAX / 4;
}

/* ----------------------------------------------------------------- heap */

static bool event_before(const sim__event *x, const sim__event *y) {
  if (x->time_ns != y->time_ns)
    return x->time_ns < y->time_ns;
  return x->seq < y->seq;
}

void sim__push(sim_t *sim, const sim__event *ev) {
  SL_ASSERT(ev->fire != NULL);
  SL_ASSERT(ev->time_ns >= sim->now_ns);
  SL_ASSERT(sim->heap_len < SIM__EVENTS_MAX);
  if (sim->heap_len == sim->heap_cap) {
    sim->heap_cap = sim->heap_cap ? sim->heap_cap * 2 : 256;
    sim->heap = g_renew(sim__event, sim->heap, sim->heap_cap);
  }
  size_t i = sim->heap_len++;
  sim__event e = *ev;
  e.seq = sim->seq_next++;
  /* Sift up: move parents down until e's place is found. */
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!event_before(&e, &sim->heap[parent]))
      break;
    sim->heap[i] = sim->heap[parent];
    i = parent;
  }
  sim->heap[i] = e;
}

static sim__event heap_pop(sim_t *sim) {
  SL_ASSERT(sim->heap_len > 0);
  sim__event top = sim->heap[0];
  sim__event last = sim->heap[--sim->heap_len];
  size_t n = sim->heap_len;
  size_t i = 0;
  /* Sift down: move the smaller child up until `last` fits. */
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= n)
      break;
    if (child + 1 < n && event_before(&sim->heap[child + 1], &sim->heap[child]))
      child++;
    if (!event_before(&sim->heap[child], &last))
      break;
    sim->heap[i] = sim->heap[child];
    i = child;
  }
  if (n > 0)
    sim->heap[i] = last;
  return top;
}

/* ------------------------------------------------------------ lifecycle */

sim_t *sim_new(const sim_options *opts) {
  if (!opts || !options_valid(opts))
    return NULL;
  sim_t *sim = g_new0(sim_t, 1);
  sim->opts = *opts;
  for (int i = 0; i < SIM_STREAM_COUNT_; i++)
    sim__rng_seed(&sim->streams[i],
                  sim__derive_seed(opts->seed, stream_tags[i]));
  sim->nodes = g_ptr_array_new();
  sim->nodes_by_name = g_hash_table_new(g_str_hash, g_str_equal);
  g_queue_init(&sim->conns);
  sim->conn_id_next = 1;
  sim->trace_hash = SIM__FNV64_OFFSET;
  if (opts->keep_trace)
    sim->trace_text = g_string_sized_new(1 << 16);
  sim->line = g_string_sized_new(256);
  sim->log_line = g_string_sized_new(256);
  sim->read_scratch = g_malloc(SIM__READ_BYTES_MAX);
  sim->replay_command =
      g_strdup_printf("sluice-sim run --seed %" PRIu64, opts->seed);
  sl_assert_set_context(sim->replay_command);
  return sim;
}

static void node_free(sim_node_t *node) {
  g_array_free(node->timers, TRUE);
  g_array_free(node->blocked_to, TRUE);
  g_hash_table_destroy(node->metrics);
  sim_disk_free(node->disk);
  g_free(node->name);
  g_free(node);
}

void sim_free(sim_t *sim) {
  if (!sim)
    return;
  /* Stop live nodes without letting anything else run: their envs go dead
   * first, exactly as in a crash, but the disks are left alone. */
  for (guint i = 0; i < sim->nodes->len; i++) {
    sim_node_t *node = g_ptr_array_index(sim->nodes, i);
    bool was_up = node->state == SIM__NODE_UP;
    void *ctx = node->ctx;
    node->dead = true;
    node->incarnation++;
    node->ctx = NULL;
    node->state = SIM__NODE_DOWN;
    if (was_up)
      node->ops->stop(ctx);
    sim__env_node_down(sim, node, true);
  }
  sim__net_free_all(sim);
  for (guint i = 0; i < sim->nodes->len; i++)
    node_free(g_ptr_array_index(sim->nodes, i));
  g_ptr_array_free(sim->nodes, TRUE);
  g_hash_table_destroy(sim->nodes_by_name);
  g_free(sim->heap);
  if (sim->trace_text)
    g_string_free(sim->trace_text, TRUE);
  g_string_free(sim->line, TRUE);
  g_string_free(sim->log_line, TRUE);
  g_free(sim->read_scratch);
  sl_assert_set_context(NULL);
  g_free(sim->replay_command);
  g_free(sim);
}

void sim_set_replay_command(sim_t *sim, const char *command) {
  SL_ASSERT(command != NULL);
  char *copy = g_strdup(command);
  sl_assert_set_context(copy);
  g_free(sim->replay_command);
  sim->replay_command = copy;
}

const char *sim_replay_command(sim_t *sim) { return sim->replay_command; }

uint64_t sim_seed(sim_t *sim) { return sim->opts.seed; }
uint64_t sim_now_ns(sim_t *sim) { return sim->now_ns; }
uint64_t sim_events_run(sim_t *sim) { return sim->events_run; }
size_t sim_events_pending(sim_t *sim) { return sim->heap_len; }
const sim_options *sim_get_options(sim_t *sim) { return &sim->opts; }

/* ---------------------------------------------------------------- nodes */

static bool name_valid(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > SIM__NODE_NAME_BYTES_MAX)
    return false;
  /* Names go into JSON unescaped and double as host names. */
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    if (!ok)
      return false;
  }
  return strcmp(name, "localhost") != 0 && strcmp(name, "127.0.0.1") != 0;
}

static void node_start_fire(sim_t *sim, const sim__event *ev) {
  sim_node_t *node = ev->obj;
  if (node->incarnation != ev->a || node->state != SIM__NODE_STARTING)
    return;
  node->state = SIM__NODE_UP;
  node->dead = false;
  g_hash_table_remove_all(node->metrics);
  sim__trace(sim, node, "node.start", "\"incarnation\":%" PRIu64,
             node->incarnation);
  void *ctx = node->ops->start(&node->env, node->config);
  if (node->state != SIM__NODE_UP || node->incarnation != ev->a)
    return; /* cannot happen: only harness code changes node state */
  if (ctx) {
    node->ctx = ctx;
    return;
  }
  /* A node that fails to start is down; it freed its own memory, the env
   * releases whatever handles it left. */
  sim__trace(sim, node, "node.start_failed", "\"incarnation\":%" PRIu64,
             node->incarnation);
  node->dead = true;
  node->incarnation++;
  node->state = SIM__NODE_DOWN;
  sim__env_node_down(sim, node, false);
}

static void schedule_start(sim_t *sim, sim_node_t *node) {
  node->state = SIM__NODE_STARTING;
  sim__event ev = {.time_ns = sim->now_ns,
                   .fire = node_start_fire,
                   .obj = node,
                   .a = node->incarnation};
  sim__push(sim, &ev);
}

sim_node_t *sim_node_add(sim_t *sim, const char *name, const env_node_ops *ops,
                         void *config) {
  SL_ASSERT(ops && ops->start && ops->stop);
  if (!name || !name_valid(name) ||
      g_hash_table_contains(sim->nodes_by_name, name) ||
      sim->nodes->len >= SIM__NODES_MAX)
    return NULL;
  sim_node_t *node = g_new0(sim_node_t, 1);
  node->env.ops = &sim__env_ops;
  node->sim = sim;
  node->name = g_strdup(name);
  node->index = sim->nodes->len;
  node->ops = ops;
  node->config = config;
  node->dead = true;
  node->incarnation = 1;
  /* The node's streams depend on the seed and its name only. */
  uint64_t name_hash = sim__fnv1a64(SIM__FNV64_OFFSET, name, strlen(name));
  uint64_t node_seed = sim__derive_seed(sim->opts.seed, name_hash);
  sim__rng_seed(&node->rng, node_seed);
  if (sim->opts.clock_skew_max_ns > 0) {
    sim__rng clock;
    sim__rng_seed(&clock, sim__derive_seed(node_seed, NODE_CLOCK_TAG));
    uint64_t span = 2 * sim->opts.clock_skew_max_ns + 1;
    node->skew_ns = (int64_t)sim__rng_below(&clock, span) -
                    (int64_t)sim->opts.clock_skew_max_ns;
  }
  node->disk = sim_disk_new();
  node->timers = g_array_new(FALSE, TRUE, sizeof(sim__timer_slot));
  node->timer_free_head = SIM__SLOT_NONE;
  g_queue_init(&node->conns);
  g_queue_init(&node->listeners);
  g_queue_init(&node->files);
  node->port_next = SIM__PORT_EPHEMERAL_MIN;
  node->metrics = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
  node->blocked_to = g_array_new(FALSE, TRUE, sizeof(bool));
  g_ptr_array_add(sim->nodes, node);
  g_hash_table_insert(sim->nodes_by_name, node->name, node);
  sim__trace(sim, node, "node.add", "\"ops\":\"%s\",\"skew_ns\":%" PRId64,
             ops->kind ? ops->kind : "?", node->skew_ns);
  schedule_start(sim, node);
  return node;
}

sim_node_t *sim_node_find(sim_t *sim, const char *name) {
  return g_hash_table_lookup(sim->nodes_by_name, name);
}

size_t sim_node_count(sim_t *sim) { return sim->nodes->len; }

sim_node_t *sim_node_at(sim_t *sim, size_t index) {
  SL_ASSERT(index < sim->nodes->len);
  return g_ptr_array_index(sim->nodes, index);
}

const char *sim_node_name(sim_node_t *node) { return node->name; }
env_t *sim_node_env(sim_node_t *node) { return &node->env; }
void *sim_node_ctx(sim_node_t *node) { return node->ctx; }
bool sim_node_is_up(sim_node_t *node) { return node->state == SIM__NODE_UP; }
sim_disk_t *sim_node_disk(sim_node_t *node) { return node->disk; }
uint64_t sim_node_incarnation(sim_node_t *node) { return node->incarnation; }

static uint64_t disk_rand(void *arg) {
  return sim_rand_u64(arg, SIM_STREAM_DISK);
}

void sim_node_crash(sim_t *sim, sim_node_t *node, unsigned disk_flags) {
  SL_ASSERT(node->sim == sim);
  SL_ASSERT(node->state != SIM__NODE_STOPPING);
  bool was_up = node->state == SIM__NODE_UP;
  void *ctx = node->ctx;
  sim__trace(sim, node, "node.crash",
             "\"incarnation\":%" PRIu64 ",\"was_up\":%s,\"flags\":%u",
             node->incarnation, was_up ? "true" : "false", disk_flags);
  /* Dead first: the stop function's env calls are no-ops, and every event
   * of this incarnation (timers, fsyncs, a pending start) goes stale. */
  node->dead = true;
  node->incarnation++;
  node->ctx = NULL;
  node->state = SIM__NODE_DOWN;
  if (was_up)
    node->ops->stop(ctx);
  sim__env_node_down(sim, node, true);
  sim_disk_crash(node->disk, disk_flags, disk_rand, sim);
}

void sim_node_stop(sim_t *sim, sim_node_t *node) {
  SL_ASSERT(node->sim == sim);
  sim__trace(sim, node, "node.stop", "\"incarnation\":%" PRIu64,
             node->incarnation);
  if (node->state == SIM__NODE_UP) {
    void *ctx = node->ctx;
    node->state = SIM__NODE_STOPPING;
    node->ctx = NULL;
    node->ops->stop(ctx); /* env still live: it may close things cleanly */
  }
  node->dead = true;
  node->incarnation++;
  node->state = SIM__NODE_DOWN;
  sim__env_node_down(sim, node, false);
}

void sim_node_restart(sim_t *sim, sim_node_t *node) {
  SL_ASSERT(node->sim == sim);
  SL_ASSERT(node->state == SIM__NODE_DOWN);
  sim__trace(sim, node, "node.restart", "\"incarnation\":%" PRIu64,
             node->incarnation);
  schedule_start(sim, node);
}

/* ------------------------------------------------------ network faults */

static void set_block(sim_node_t *from, sim_node_t *to, bool blocked) {
  if (from->blocked_to->len <= to->index)
    g_array_set_size(from->blocked_to, to->index + 1);
  g_array_index(from->blocked_to, bool, to->index) = blocked;
}

bool sim__link_blocked(const sim_node_t *from, const sim_node_t *to) {
  if (from->blocked_to->len <= to->index)
    return false;
  return g_array_index(from->blocked_to, bool, to->index);
}

void sim_link_block(sim_t *sim, sim_node_t *from, sim_node_t *to,
                    bool blocked) {
  SL_ASSERT(from->sim == sim && to->sim == sim);
  sim__trace(sim, NULL, "net.block",
             "\"from\":\"%s\",\"to\":\"%s\",\"blocked\":%s", from->name,
             to->name, blocked ? "true" : "false");
  set_block(from, to, blocked);
  if (!blocked)
    sim__net_links_changed(sim);
}

void sim_partition(sim_t *sim, sim_node_t *a, sim_node_t *b) {
  SL_ASSERT(a->sim == sim && b->sim == sim);
  sim__trace(sim, NULL, "net.partition", "\"a\":\"%s\",\"b\":\"%s\"", a->name,
             b->name);
  set_block(a, b, true);
  set_block(b, a, true);
}

void sim_heal(sim_t *sim) {
  sim__trace(sim, NULL, "net.heal", "\"links\":%u", sim->nodes->len);
  for (guint i = 0; i < sim->nodes->len; i++) {
    sim_node_t *node = g_ptr_array_index(sim->nodes, i);
    for (guint j = 0; j < node->blocked_to->len; j++)
      g_array_index(node->blocked_to, bool, j) = false;
  }
  sim__net_links_changed(sim);
}

/* -------------------------------------------------------------- running */

static void harness_fire(sim_t *sim, const sim__event *ev) {
  ev->cb.harness(sim, ev->arg);
}

void sim_schedule(sim_t *sim, uint64_t delay_ns, sim_event_cb cb, void *arg) {
  SL_ASSERT(cb != NULL);
  SL_ASSERT(delay_ns <= UINT64_MAX - sim->now_ns);
  sim__event ev = {.time_ns = sim->now_ns + delay_ns,
                   .fire = harness_fire,
                   .cb.harness = cb,
                   .arg = arg};
  sim__push(sim, &ev);
}

bool sim_step(sim_t *sim) {
  if (sim->heap_len == 0)
    return false;
  sim__event ev = heap_pop(sim);
  SL_ASSERT(ev.time_ns >= sim->now_ns);
  sim->now_ns = ev.time_ns;
  sim->events_run++;
  ev.fire(sim, &ev);
  return true;
}

void sim_run_until(sim_t *sim, uint64_t deadline_ns) {
  sl_assert_set_context(sim->replay_command);
  sim->stop_requested = false;
  while (!sim->stop_requested && sim->heap_len > 0 &&
         sim->heap[0].time_ns <= deadline_ns)
    sim_step(sim);
  if (!sim->stop_requested && sim->now_ns < deadline_ns)
    sim->now_ns = deadline_ns;
}

void sim_stop_run(sim_t *sim) { sim->stop_requested = true; }

/* ------------------------------------------------- randomness (harness) */

uint64_t sim_rand_u64(sim_t *sim, sim_stream stream) {
  SL_ASSERT((int)stream >= 0 && stream < SIM_STREAM_COUNT_);
  return sim__rng_next(&sim->streams[stream]);
}

uint64_t sim_rand_below(sim_t *sim, sim_stream stream, uint64_t bound) {
  SL_ASSERT((int)stream >= 0 && stream < SIM_STREAM_COUNT_);
  return sim__rng_below(&sim->streams[stream], bound);
}

double sim_rand_double(sim_t *sim, sim_stream stream) {
  SL_ASSERT((int)stream >= 0 && stream < SIM_STREAM_COUNT_);
  return sim__rng_double(&sim->streams[stream]);
}

/* ---------------------------------------------------------------- trace */

void sim__tracev(sim_t *sim, sim_node_t *node, const char *kind,
                 const char *fmt, va_list ap) {
  GString *l = sim->line;
  g_string_printf(l, "{\"t\":%" PRIu64, sim->now_ns);
  if (node)
    g_string_append_printf(l, ",\"node\":\"%s\"", node->name);
  g_string_append_printf(l, ",\"kind\":\"%s\"", kind);
  if (fmt && fmt[0]) {
    g_string_append_c(l, ',');
    g_string_append_vprintf(l, fmt, ap);
  }
  g_string_append(l, "}\n");
  sim->trace_hash = sim__fnv1a64(sim->trace_hash, l->str, l->len);
  sim->trace_events++;
  if (sim->trace_text)
    g_string_append_len(sim->trace_text, l->str, (gssize)l->len);
}

void sim__trace(sim_t *sim, sim_node_t *node, const char *kind, const char *fmt,
                ...) {
  va_list ap;
  va_start(ap, fmt);
  sim__tracev(sim, node, kind, fmt, ap);
  va_end(ap);
}

void sim_trace(sim_t *sim, sim_node_t *node, const char *kind, const char *fmt,
               ...) {
  SL_ASSERT(kind != NULL);
  va_list ap;
  va_start(ap, fmt);
  sim__tracev(sim, node, kind, fmt, ap);
  va_end(ap);
}

uint64_t sim_trace_hash(sim_t *sim) { return sim->trace_hash; }
uint64_t sim_trace_events(sim_t *sim) { return sim->trace_events; }

const char *sim_trace_text(sim_t *sim, size_t *len) {
  if (!sim->trace_text) {
    if (len)
      *len = 0;
    return NULL;
  }
  if (len)
    *len = sim->trace_text->len;
  return sim->trace_text->str;
}

int sim_trace_write(sim_t *sim, FILE *out) {
  if (!sim->trace_text)
    return -EINVAL;
  size_t n = sim->trace_text->len;
  if (n > 0 && fwrite(sim->trace_text->str, 1, n, out) != n)
    return -EIO;
  if (fflush(out) != 0)
    return -EIO;
  return 0;
}
