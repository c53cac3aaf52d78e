/*
 * group_rebalance.c — the `group-rebalance` scenario (see the header for
 * the world, the faults and the checkers).
 *
 * Faults are driven by one recurring harness event (every TICK_NS): it
 * heals links and restarts members whose time has come, and draws the next
 * fault when due. Keeping the pending heals in the harness (not in
 * scheduled closures) means nothing is left to free when the sim ends.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "base/assert.h"
#include "broker/client/client.h"
#include "broker/kerr.h"
#include "broker/server/broker.h"
#include "sim/scenarios/group_rebalance.h"
#include "sim/sim.h"

#define MS_NS (UINT64_C(1000) * 1000)
#define TOPIC "events"
#define GROUP "grp"
#define BROKER_HOST "b1"
#define BROKER_PORT 9092
#define LOG_DIR "/data"
#define NODES (GROUP_REBALANCE_MEMBERS + 3u)
#define VALUE_ID_DIGITS 6
#define TICK_NS (100 * MS_NS)
#define STEP_NS (10 * MS_NS)
#define PRODUCE_TICK_NS (20 * MS_NS)
#define RECORDS_PER_TICK 2u
#define OBSERVE_NS (250 * MS_NS)
#define MEMBERS_START_NS (500 * MS_NS)
#define FAULTS_START_NS (1000 * MS_NS)
#define FAULT_MEAN_NS (1500 * MS_NS)
#define RESTART_NS_MIN (1000 * MS_NS)
#define RESTART_NS_SPAN (7000 * MS_NS)
#define PARTITION_NS_MIN (1000 * MS_NS)
#define PARTITION_NS_SPAN (11000 * MS_NS)
#define SLOW_NS_MIN (2000 * MS_NS)
#define SLOW_NS_SPAN (7000 * MS_NS)
#define SESSION_TIMEOUT_MS 6000u
#define HEARTBEAT_MS 1000u
#define REBALANCE_TIMEOUT_MS 10000u
#define AUTO_COMMIT_MS 500u

typedef enum gr_fault {
  FAULT_CRASH = 0,
  FAULT_PARTITION,
  FAULT_SLOW_HEARTBEATS,
  FAULT_RESET,
  FAULT_COUNT_,
} gr_fault;

static const char *const fault_names[FAULT_COUNT_] = {
    "member_crashes", "partitions", "slow_heartbeats", "conn_resets"};

typedef struct gr_harness gr_harness;

typedef struct gr_member {
  gr_harness *h;
  int index;
  char name[16]; /* "m1".."m3"; room for any int */
  sim_node_t *node;
  kclient_t *kc;
  kclient_group_t *grp;
  uint64_t restart_at_ns; /* 0: not waiting */
  uint64_t heal_at_ns;    /* 0: links to the broker are fine */
} gr_member;

/* Per record: 0 queued, 1 acknowledged, 2 failed. */
enum { REC_QUEUED = 0, REC_ACKED = 1, REC_FAILED = 2 };

struct gr_harness {
  sim_t *sim;
  sim_scenario_result *result;
  broker_config bcfg;
  sim_node_t *broker;
  sim_node_t *producer;
  sim_node_t *observer;
  gr_member members[GROUP_REBALANCE_MEMBERS];
  bool faults;
  uint64_t fault_end_ns;
  uint64_t next_fault_ns;
  bool healed;
  /* producer */
  env_t *penv;
  kclient_t *pkc;
  uint64_t ptimer;
  bool topic_ready;
  bool producing;
  uint32_t rec_count;
  uint8_t *rec_state;
  uint32_t acked, failed;
  /* consumption */
  uint32_t *received; /* per record id */
  uint64_t bad_values;
  uint64_t assignments; /* on_assigned calls over all members */
  /* observer */
  env_t *oenv;
  kclient_t *okc;
  uint64_t otimer;
  bool observing;
  int64_t committed[GROUP_REBALANCE_PARTITIONS];
  uint64_t commits_seen; /* observed advances */
  uint64_t observe_errors;
  uint64_t fault_count[FAULT_COUNT_];
};

static void violation(gr_harness *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void violation(gr_harness *h, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *what = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  char *text = g_strdup_printf("t=%" PRIu64 "ns %s", sim_now_ns(h->sim), what);
  sim_scenario_result_violation(h->result, text);
  sim_trace(h->sim, NULL, "check.violation", "\"what\":\"%s\"", what);
  g_free(text);
  g_free(what);
}

static int64_t value_id(const uint8_t *v, int32_t len) {
  if (!v || len != 1 + VALUE_ID_DIGITS || v[0] != 'r')
    return -1;
  int64_t id = 0;
  for (int i = 1; i <= VALUE_ID_DIGITS; i++) {
    if (v[i] < '0' || v[i] > '9')
      return -1;
    id = id * 10 + (v[i] - '0');
  }
  return id;
}

/* ------------------------------------------------------------ producer */

static void producer_tick(void *arg);

static void producer_arm(gr_harness *h) {
  h->ptimer = env_timer_start(h->penv, PRODUCE_TICK_NS, producer_tick, h);
}

static void producer_topic_done(void *arg, int err, const char *errmsg,
                                const kclient_topic_result *r, size_t n) {
  gr_harness *h = arg;
  (void)errmsg;
  int e = err ? err : (n ? r[0].err : -1);
  if (e == 0 || e == KERR_TOPIC_ALREADY_EXISTS) {
    h->topic_ready = true;
    sim_trace(h->sim, h->producer, "group_rebalance.topic", "\"ready\":true");
  }
  producer_arm(h);
}

static void producer_create_topic(gr_harness *h) {
  kclient_new_topic nt = {.name = TOPIC,
                          .partitions = GROUP_REBALANCE_PARTITIONS,
                          .replication_factor = 1};
  kclient_create_topics(h->pkc, &nt, 1, false, producer_topic_done, h);
}

static void producer_tick(void *arg) {
  gr_harness *h = arg;
  h->ptimer = 0;
  if (!h->topic_ready) {
    producer_create_topic(h);
    return;
  }
  for (uint32_t i = 0; i < RECORDS_PER_TICK && h->producing &&
                       h->rec_count < GROUP_REBALANCE_RECORDS_MAX;
       i++) {
    uint32_t id = h->rec_count;
    char value[16];
    int len = snprintf(value, sizeof value, "r%0*u", VALUE_ID_DIGITS, id);
    kclient_message m = {.topic = TOPIC,
                         .partition =
                             (int32_t)(id % GROUP_REBALANCE_PARTITIONS),
                         .key = NULL,
                         .key_len = -1,
                         .value = value,
                         .value_len = len,
                         .timestamp_ms = -1};
    /* Which records made it is read from the log at the end (see
     * mark_acked), so no per-record callback. */
    int rc = kclient_produce(h->pkc, &m, NULL, NULL);
    if (rc != 0)
      break;
    h->rec_count++;
  }
  producer_arm(h);
}

static void *producer_start(env_t *env, void *config) {
  gr_harness *h = config;
  h->penv = env;
  kclient_config kcfg;
  kclient_config_default(&kcfg);
  kcfg.bootstrap_servers = BROKER_HOST ":9092";
  kcfg.client_id = "producer";
  /* In order per partition even across retries (mark_acked relies on
   * it). */
  kcfg.idempotence = true;
  char msg[KCLIENT_ERRMSG_BYTES];
  if (kclient_new(env, &kcfg, &h->pkc, msg) != 0)
    return NULL;
  producer_create_topic(h);
  return h;
}

static void producer_stop(void *node) {
  gr_harness *h = node;
  if (!h)
    return;
  if (h->ptimer)
    env_timer_cancel(h->penv, h->ptimer);
  h->ptimer = 0;
  kclient_free(h->pkc);
  h->pkc = NULL;
}

static const env_node_ops producer_ops = {"producer", producer_start,
                                          producer_stop};

/* ------------------------------------------------------------- members */

static void member_on_record(void *arg, const kclient_record *r) {
  gr_member *m = arg;
  gr_harness *h = m->h;
  int64_t id = value_id(r->value, r->value_len);
  if (id < 0 || id >= GROUP_REBALANCE_RECORDS_MAX ||
      r->partition != id % GROUP_REBALANCE_PARTITIONS) {
    h->bad_values++;
    return;
  }
  h->received[id]++;
}

static void member_on_assigned(void *arg, const kclient_topic_partition *tps,
                               size_t n) {
  gr_member *m = arg;
  m->h->assignments++;
  GString *s = g_string_new("");
  for (size_t i = 0; i < n; i++)
    g_string_append_printf(s, "%s%d", i ? "," : "", (int)tps[i].partition);
  sim_trace(m->h->sim, m->node, "group_rebalance.assigned",
            "\"generation\":%d,\"partitions\":\"%s\"",
            kclient_group_generation(m->grp), s->str);
  g_string_free(s, TRUE);
}

static void *member_start(env_t *env, void *config) {
  gr_member *m = config;
  kclient_config kcfg;
  kclient_config_default(&kcfg);
  kcfg.bootstrap_servers = BROKER_HOST ":9092";
  kcfg.client_id = m->name;
  kcfg.request_timeout_ms = 5000;
  char msg[KCLIENT_ERRMSG_BYTES];
  if (kclient_new(env, &kcfg, &m->kc, msg) != 0)
    return NULL;
  static const char *const topics[] = {TOPIC};
  kclient_group_config gcfg;
  kclient_group_config_default(&gcfg);
  gcfg.group_id = GROUP;
  gcfg.topics = topics;
  gcfg.topic_count = 1;
  gcfg.session_timeout_ms = SESSION_TIMEOUT_MS;
  gcfg.heartbeat_interval_ms = HEARTBEAT_MS;
  gcfg.rebalance_timeout_ms = REBALANCE_TIMEOUT_MS;
  gcfg.auto_commit_interval_ms = AUTO_COMMIT_MS;
  gcfg.auto_offset_reset = KCLIENT_OFFSET_EARLIEST;
  gcfg.consumer.on_record = member_on_record;
  gcfg.consumer.arg = m;
  gcfg.consumer.max_wait_ms = 200;
  gcfg.on_assigned = member_on_assigned;
  gcfg.arg = m;
  if (kclient_group_new(m->kc, &gcfg, &m->grp, msg) != 0) {
    kclient_free(m->kc);
    m->kc = NULL;
    return NULL;
  }
  return m;
}

static void member_stop(void *node) {
  gr_member *m = node;
  if (!m)
    return;
  kclient_group_free(m->grp);
  m->grp = NULL;
  kclient_free(m->kc);
  m->kc = NULL;
}

static const env_node_ops member_ops = {"member", member_start, member_stop};

static bool member_live(const gr_member *m) {
  return m->node && sim_node_is_up(m->node) && sim_node_ctx(m->node) && m->grp;
}

/* ------------------------------------------------------------ observer */

static void observer_tick(void *arg);

static void observer_got(void *arg, int err, const char *errmsg,
                         const kclient_committed_offset *offs, size_t n) {
  gr_harness *h = arg;
  (void)errmsg;
  h->observing = false;
  if (err) {
    h->observe_errors++;
    return;
  }
  for (size_t i = 0; i < n; i++) {
    if (strcmp(offs[i].topic, TOPIC) != 0 || offs[i].partition < 0 ||
        offs[i].partition >= GROUP_REBALANCE_PARTITIONS)
      continue;
    int64_t *last = &h->committed[offs[i].partition];
    if (offs[i].offset < *last)
      violation(
          h, "committed offset of %s-%d went back from %" PRId64 " to %" PRId64,
          TOPIC, (int)offs[i].partition, *last, offs[i].offset);
    if (offs[i].offset > *last) {
      h->commits_seen++;
      *last = offs[i].offset;
    }
  }
}

static void observer_tick(void *arg) {
  gr_harness *h = arg;
  h->otimer = env_timer_start(h->oenv, OBSERVE_NS, observer_tick, h);
  if (h->observing)
    return;
  h->observing = true;
  kclient_committed_offsets(h->okc, GROUP, observer_got, h);
}

static void *observer_start(env_t *env, void *config) {
  gr_harness *h = config;
  h->oenv = env;
  kclient_config kcfg;
  kclient_config_default(&kcfg);
  kcfg.bootstrap_servers = BROKER_HOST ":9092";
  kcfg.client_id = "observer";
  kcfg.op_timeout_ms = 5000;
  char msg[KCLIENT_ERRMSG_BYTES];
  if (kclient_new(env, &kcfg, &h->okc, msg) != 0)
    return NULL;
  for (int p = 0; p < GROUP_REBALANCE_PARTITIONS; p++)
    h->committed[p] = -1;
  h->otimer = env_timer_start(env, OBSERVE_NS, observer_tick, h);
  return h;
}

static void observer_stop(void *node) {
  gr_harness *h = node;
  if (!h)
    return;
  if (h->otimer)
    env_timer_cancel(h->oenv, h->otimer);
  h->otimer = 0;
  kclient_free(h->okc);
  h->okc = NULL;
}

static const env_node_ops observer_ops = {"observer", observer_start,
                                          observer_stop};

/* -------------------------------------------------------------- faults */

static void heal_member(gr_harness *h, gr_member *m) {
  sim_link_block(h->sim, m->node, h->broker, false);
  sim_link_block(h->sim, h->broker, m->node, false);
  m->heal_at_ns = 0;
}

static void draw_fault(gr_harness *h) {
  uint64_t now = sim_now_ns(h->sim);
  gr_member *m = &h->members[sim_rand_below(h->sim, SIM_STREAM_FAULTS,
                                            GROUP_REBALANCE_MEMBERS)];
  gr_fault kind =
      (gr_fault)sim_rand_below(h->sim, SIM_STREAM_FAULTS, FAULT_COUNT_);
  if (!m->node || !sim_node_is_up(m->node) || m->heal_at_ns)
    return; /* busy with an earlier fault: skip this one */
  h->fault_count[kind]++;
  sim_trace(h->sim, m->node, "group_rebalance.fault", "\"kind\":\"%s\"",
            fault_names[kind]);
  switch (kind) {
  case FAULT_CRASH:
    sim_node_crash(h->sim, m->node, 0);
    m->restart_at_ns =
        now + RESTART_NS_MIN +
        sim_rand_below(h->sim, SIM_STREAM_FAULTS, RESTART_NS_SPAN);
    return;
  case FAULT_PARTITION:
    sim_partition(h->sim, m->node, h->broker);
    m->heal_at_ns =
        now + PARTITION_NS_MIN +
        sim_rand_below(h->sim, SIM_STREAM_FAULTS, PARTITION_NS_SPAN);
    return;
  case FAULT_SLOW_HEARTBEATS:
    sim_link_block(h->sim, m->node, h->broker, true);
    m->heal_at_ns = now + SLOW_NS_MIN +
                    sim_rand_below(h->sim, SIM_STREAM_FAULTS, SLOW_NS_SPAN);
    return;
  case FAULT_RESET:
    sim_reset_connections(h->sim, m->node, h->broker);
    return;
  default:
    return;
  }
}

static void harness_tick(sim_t *sim, void *arg) {
  gr_harness *h = arg;
  uint64_t now = sim_now_ns(sim);
  bool ending = now >= h->fault_end_ns;
  if (ending && !h->healed) {
    h->healed = true;
    h->producing = false;
    sim_trace(sim, NULL, "group_rebalance.heal", "\"records\":%u",
              h->rec_count);
  }
  for (int i = 0; i < GROUP_REBALANCE_MEMBERS; i++) {
    gr_member *m = &h->members[i];
    if (!m->node && now >= MEMBERS_START_NS) {
      m->node = sim_node_add(sim, m->name, &member_ops, m);
      continue;
    }
    if (m->heal_at_ns && (ending || now >= m->heal_at_ns))
      heal_member(h, m);
    if (m->restart_at_ns && (ending || now >= m->restart_at_ns) && m->node &&
        !sim_node_is_up(m->node)) {
      m->restart_at_ns = 0;
      sim_node_restart(sim, m->node);
    }
  }
  if (h->faults && !ending && now >= FAULTS_START_NS &&
      now >= h->next_fault_ns) {
    draw_fault(h);
    h->next_fault_ns = now + sim_scenario_draw_exp_ns(sim, FAULT_MEAN_NS);
  }
  sim_schedule(sim, TICK_NS, harness_tick, h);
}

/* ---------------------------------------------------------------- checks */

static uint32_t records_missing(const gr_harness *h) {
  uint32_t missing = 0;
  for (uint32_t id = 0; id < h->rec_count; id++)
    if (h->rec_state[id] == REC_ACKED && h->received[id] == 0)
      missing++;
  return missing;
}

/* Every live member stable in one generation, each partition owned once,
 * all members up. */
static bool group_settled(const gr_harness *h, char *why, size_t why_len) {
  int owners[GROUP_REBALANCE_PARTITIONS] = {0};
  int32_t gen = -1;
  for (int i = 0; i < GROUP_REBALANCE_MEMBERS; i++) {
    const gr_member *m = &h->members[i];
    if (!member_live(m)) {
      snprintf(why, why_len, "member %s is down", m->name);
      return false;
    }
    if (!kclient_group_is_stable(m->grp)) {
      snprintf(why, why_len, "member %s is not stable (generation %d)", m->name,
               kclient_group_generation(m->grp));
      return false;
    }
    if (gen >= 0 && kclient_group_generation(m->grp) != gen) {
      snprintf(why, why_len, "members in generations %d and %d", gen,
               kclient_group_generation(m->grp));
      return false;
    }
    gen = kclient_group_generation(m->grp);
    const kclient_topic_partition *tps;
    size_t n = kclient_group_assignment(m->grp, &tps);
    for (size_t k = 0; k < n; k++)
      if (tps[k].partition >= 0 &&
          tps[k].partition < GROUP_REBALANCE_PARTITIONS)
        owners[tps[k].partition]++;
  }
  for (int p = 0; p < GROUP_REBALANCE_PARTITIONS; p++)
    if (owners[p] != 1) {
      snprintf(why, why_len, "partition %d has %d owners", p, owners[p]);
      return false;
    }
  return true;
}

/* Which records made it is read back from the broker's log end offsets
 * once the producer has nothing pending (the broker is never faulted). */
static bool producer_idle(const gr_harness *h) {
  return h->pkc && kclient_produce_pending(h->pkc) == 0;
}

static void mark_acked(gr_harness *h) {
  broker_t *b = sim_node_ctx(h->broker);
  int64_t end[GROUP_REBALANCE_PARTITIONS];
  for (int p = 0; p < GROUP_REBALANCE_PARTITIONS; p++) {
    end[p] = b ? broker_partition_end_offset(b, TOPIC, p) : -1;
    if (end[p] < 0)
      end[p] = 0;
  }
  /* Partition p holds ids p, p + P, p + 2P, ... in order (one producer,
   * no retries that could reorder: acks -1 and in-order pipelining). The
   * first end[p] of them are in the log. */
  for (uint32_t id = 0; id < h->rec_count; id++) {
    int p = (int)(id % GROUP_REBALANCE_PARTITIONS);
    int64_t nth = id / GROUP_REBALANCE_PARTITIONS;
    h->rec_state[id] = nth < end[p] ? REC_ACKED : REC_FAILED;
    if (h->rec_state[id] == REC_ACKED)
      h->acked++;
    else
      h->failed++;
  }
}

static bool all_received(gr_harness *h) {
  for (uint32_t id = 0; id < h->rec_count; id++)
    if (h->rec_state[id] == REC_ACKED && h->received[id] == 0)
      return false;
  return true;
}

static void run_until(gr_harness *h, bool (*done)(gr_harness *),
                      uint64_t deadline_ns) {
  while (!done(h) && sim_now_ns(h->sim) < deadline_ns)
    sim_run_until(h->sim, sim_now_ns(h->sim) + STEP_NS);
}

static bool idle_pred(gr_harness *h) { return producer_idle(h); }

static bool finished_pred(gr_harness *h) {
  char why[128];
  return all_received(h) && group_settled(h, why, sizeof why);
}

/* ---------------------------------------------------------------- setup */

static void broker_setup(broker_config *cfg) {
  broker_config_default(cfg);
  cfg->node_id = 1;
  g_free(cfg->listen_host);
  cfg->listen_host = g_strdup("");
  cfg->listen_port = BROKER_PORT;
  g_free(cfg->advertised_host);
  cfg->advertised_host = g_strdup(BROKER_HOST);
  cfg->advertised_port = BROKER_PORT;
  g_strfreev(cfg->log_dirs);
  cfg->log_dirs = g_new0(char *, 2);
  cfg->log_dirs[0] = g_strdup(LOG_DIR);
  cfg->log_dir_count = 1;
  cfg->auto_create_topics = false;
}

static void fill_result(gr_harness *h, const sim_scenario_opts *o) {
  sim_scenario_result *r = h->result;
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
  uint64_t redelivered = 0;
  for (uint32_t id = 0; id < h->rec_count; id++)
    if (h->received[id] > 1)
      redelivered += h->received[id] - 1;
  int32_t gen = -1;
  for (int i = 0; i < GROUP_REBALANCE_MEMBERS; i++)
    if (member_live(&h->members[i]) &&
        kclient_group_generation(h->members[i].grp) > gen)
      gen = kclient_group_generation(h->members[i].grp);
  sim_scenario_result_stat(r, "records_queued", h->rec_count);
  sim_scenario_result_stat(r, "records_in_log", h->acked);
  sim_scenario_result_stat(r, "records_not_in_log", h->failed);
  sim_scenario_result_stat(r, "records_redelivered", redelivered);
  sim_scenario_result_stat(r, "assignments", h->assignments);
  sim_scenario_result_stat(r, "final_generation",
                           (uint64_t)(gen < 0 ? 0 : gen));
  sim_scenario_result_stat(r, "commit_advances_seen", h->commits_seen);
  sim_scenario_result_stat(r, "observe_errors", h->observe_errors);
  for (int k = 0; k < FAULT_COUNT_; k++)
    sim_scenario_result_stat(r, fault_names[k], h->fault_count[k]);
}

static void harness_free(gr_harness *h) {
  broker_config_clear(&h->bcfg);
  g_free(h->rec_state);
  g_free(h->received);
  g_free(h);
}

int sim_scenario_group_rebalance(const sim_scenario_opts *o,
                                 sim_scenario_result *r) {
  SL_ASSERT(o != NULL && r != NULL);
  memset(r, 0, sizeof *r);
  r->seed = o->seed;
  uint64_t duration_ms =
      o->duration_ms ? o->duration_ms : GROUP_REBALANCE_DURATION_MS_DEFAULT;
  if ((o->nodes != 0 && o->nodes != NODES) ||
      duration_ms > GROUP_REBALANCE_DURATION_MS_MAX)
    return -EINVAL;
  r->replay_command =
      sim_scenario_replay_command(o, "group-rebalance", 0, duration_ms);
  sim_options so;
  sim_options_default(&so, o->seed);
  so.keep_trace = o->keep_trace || o->trace_out != NULL;
  so.log_level = o->log_level;
  gr_harness *h = g_new0(gr_harness, 1);
  h->sim = sim_new(&so);
  if (!h->sim) {
    harness_free(h);
    return -EINVAL;
  }
  sim_set_replay_command(h->sim, r->replay_command);
  h->result = r;
  h->faults = !o->no_faults;
  h->producing = true;
  h->fault_end_ns = duration_ms * MS_NS;
  h->next_fault_ns = FAULTS_START_NS;
  h->rec_state = g_new0(uint8_t, GROUP_REBALANCE_RECORDS_MAX);
  h->received = g_new0(uint32_t, GROUP_REBALANCE_RECORDS_MAX);
  for (int i = 0; i < GROUP_REBALANCE_MEMBERS; i++) {
    h->members[i].h = h;
    h->members[i].index = i;
    snprintf(h->members[i].name, sizeof h->members[i].name, "m%d", i + 1);
  }
  broker_setup(&h->bcfg);
  h->broker = sim_node_add(h->sim, BROKER_HOST, &broker_node_ops, &h->bcfg);
  h->producer = sim_node_add(h->sim, "producer", &producer_ops, h);
  h->observer = sim_node_add(h->sim, "observer", &observer_ops, h);
  SL_ASSERT(h->broker && h->producer && h->observer);
  sim_schedule(h->sim, TICK_NS, harness_tick, h);
  sim_run_until(h->sim, h->fault_end_ns + TICK_NS);

  uint64_t settle_deadline =
      sim_now_ns(h->sim) + (uint64_t)GROUP_REBALANCE_SETTLE_MS_MAX * MS_NS;
  run_until(h, idle_pred, settle_deadline);
  if (!producer_idle(h))
    violation(h, "the producer still has %zu records pending after the heal",
              h->pkc ? kclient_produce_pending(h->pkc) : (size_t)0);
  mark_acked(h);
  run_until(h, finished_pred, settle_deadline);
  uint32_t missing = records_missing(h);
  if (missing)
    violation(h,
              "%u of %u records in the log were never received by the group "
              "(%u ms after the heal)",
              missing, h->acked, GROUP_REBALANCE_SETTLE_MS_MAX);
  char why[128] = "";
  if (!group_settled(h, why, sizeof why))
    violation(h, "the group did not settle after the heal: %s", why);
  if (h->bad_values)
    violation(h, "%" PRIu64 " records with values no producer wrote",
              h->bad_values);
  fill_result(h, o);
  int rc = 0;
  if (o->trace_out && sim_trace_write(h->sim, o->trace_out) < 0)
    rc = -EIO;
  sim_free(h->sim); /* stops the nodes: before the harness they use */
  harness_free(h);
  return rc;
}
