/*
 * sluice-sim — runs simulator scenarios from seeds.
 *
 *   sluice-sim run --scenario NAME --seed N [--nodes K] [--duration-ms D]
 *                  [--no-faults] [--trace FILE] [--log-level L]
 *   sluice-sim run --scenario NAME --seeds A..B [...]     sweep
 *   sluice-sim selftest ...                               run --scenario
 * selftest sluice-sim bench [--scenario NAME] [--seeds A..B] [...] sluice-sim
 * list
 *
 * One seed prints a summary, any violations with the command that replays
 * them, and, as its last line, "trace-hash: <16 hex digits>". A sweep
 * prints each failing seed with its replay command and, last,
 * "seeds: N violations: V". Exit status: 0 pass, 1 violations, 2 usage
 * error, 3 a run could not be set up or its trace not written.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "base/env.h"
#include "sim/scenario.h"
#include "sim/sim.h"
#include "tools/sluice-sim/scenarios.h"

#define EXIT_VIOLATIONS 1
#define EXIT_USAGE 2
#define EXIT_SETUP 3
#define SWEEP_SEEDS_MAX (UINT64_C(1) << 32)
#define BENCH_BASELINE_EVENTS 1000000u

typedef struct cli_opts {
  gchar *scenario;
  gchar *seed;
  gchar *seeds;
  gint nodes;
  gint64 duration_ms;
  gboolean no_faults;
  gchar *trace;
  gchar *log_level;
  gboolean stats;
} cli_opts;

static void cli_opts_free(cli_opts *o) {
  g_free(o->scenario);
  g_free(o->seed);
  g_free(o->seeds);
  g_free(o->trace);
  g_free(o->log_level);
}

static const char *usage_text =
    "usage: sluice-sim COMMAND [OPTIONS]\n"
    "\n"
    "Runs Sluice's deterministic simulator: whole clusters in one process,\n"
    "virtual time, faults drawn from a seed. The same seed replays the same\n"
    "run, byte for byte.\n"
    "\n"
    "commands:\n"
    "  run       run a scenario for one seed (--seed) or a sweep (--seeds)\n"
    "  selftest  the same as: run --scenario selftest\n"
    "  bench     simulator speed: events/s and virtual s per wall s\n"
    "  list      list the scenarios\n"
    "\n"
    "`sluice-sim COMMAND --help` describes each command's options.\n";

/* ------------------------------------------------------------- parsing */

static bool parse_u64(const char *s, uint64_t *out) {
  if (!s || !*s || *s == '-' || *s == '+')
    return false;
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end)
    return false;
  *out = v;
  return true;
}

/* "A..B" (inclusive) or a single "N". */
static bool parse_range(const char *s, uint64_t *first, uint64_t *last) {
  const char *dots = strstr(s, "..");
  if (!dots)
    return parse_u64(s, first) && (*last = *first, true);
  char *a = g_strndup(s, (gsize)(dots - s));
  bool ok = parse_u64(a, first) && parse_u64(dots + 2, last) && *first <= *last;
  g_free(a);
  return ok;
}

static bool parse_log_level(const char *s, int *out) {
  static const struct {
    const char *name;
    int level;
  } levels[] = {{"debug", ENV_LOG_DEBUG},
                {"info", ENV_LOG_INFO},
                {"warn", ENV_LOG_WARN},
                {"error", ENV_LOG_ERROR},
                {"none", ENV_LOG_ERROR + 1}};
  for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
    if (strcmp(s, levels[i].name) == 0) {
      *out = levels[i].level;
      return true;
    }
  }
  return false;
}

static int usage_error(const char *cmd, const char *msg) {
  fprintf(stderr, "sluice-sim %s: %s (try: sluice-sim %s --help)\n", cmd, msg,
          cmd);
  return EXIT_USAGE;
}

/* Parses a command's options; returns 0, or an exit status. */
static int parse_cli(const char *cmd, const char *summary, int argc,
                     char **argv, bool with_run_options, cli_opts *o) {
  GOptionEntry run_entries[] = {
      {"scenario", 0, 0, G_OPTION_ARG_STRING, &o->scenario,
       "Scenario to run (default: selftest; see `sluice-sim list`)", "NAME"},
      {"seed", 0, 0, G_OPTION_ARG_STRING, &o->seed, "Run one seed", "N"},
      {"seeds", 0, 0, G_OPTION_ARG_STRING, &o->seeds,
       "Run every seed from A to B inclusive", "A..B"},
      {"nodes", 0, 0, G_OPTION_ARG_INT, &o->nodes,
       "Number of nodes (default: the scenario's)", "K"},
      {"duration-ms", 0, 0, G_OPTION_ARG_INT64, &o->duration_ms,
       "Virtual run time in ms (default: the scenario's)", "D"},
      {"no-faults", 0, 0, G_OPTION_ARG_NONE, &o->no_faults, "Inject no faults",
       NULL},
      {"trace", 0, 0, G_OPTION_ARG_FILENAME, &o->trace,
       "Write the trace (JSON Lines) to FILE (one seed only)", "FILE"},
      {"log-level", 0, 0, G_OPTION_ARG_STRING, &o->log_level,
       "Print node logs at/above debug|info|warn|error (default: none)",
       "LEVEL"},
      {"stats", 0, 0, G_OPTION_ARG_NONE, &o->stats,
       "Print the scenario's counters", NULL},
      {NULL, 0, 0, 0, NULL, NULL, NULL}};
  GOptionEntry list_entries[] = {{NULL, 0, 0, 0, NULL, NULL, NULL}};
  GOptionContext *ctx = g_option_context_new(NULL);
  g_option_context_set_summary(ctx, summary);
  g_option_context_add_main_entries(
      ctx, with_run_options ? run_entries : list_entries, NULL);
  g_option_context_set_help_enabled(ctx, TRUE);
  /* argv[0] shows in --help's usage line: make it "sluice-sim CMD". */
  char *prog = g_strdup_printf("sluice-sim %s", cmd);
  char *saved = argv[0];
  argv[0] = prog;
  g_set_prgname(prog);
  GError *err = NULL;
  int rc = 0;
  if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
    rc = usage_error(cmd, err->message);
    g_error_free(err);
  } else if (argc > 1) {
    rc = usage_error(cmd, "unexpected argument");
  }
  argv[0] = saved;
  g_free(prog);
  g_option_context_free(ctx);
  return rc;
}

/* Fills scenario options from the command line; returns 0 or an exit
 * status. */
static int build_opts(const char *cmd, const cli_opts *o,
                      const sluice_sim_scenario **scn, sim_scenario_opts *so) {
  const char *name = o->scenario ? o->scenario : "selftest";
  *scn = sluice_sim_scenario_find(name);
  if (!*scn) {
    char *msg = g_strdup_printf("unknown scenario '%s'", name);
    int rc = usage_error(cmd, msg);
    g_free(msg);
    return rc;
  }
  sim_scenario_opts_default(so, 0);
  if (o->nodes < 0 || o->nodes > 1000)
    return usage_error(cmd, "--nodes must be between 1 and 1000");
  if (o->duration_ms < 0)
    return usage_error(cmd, "--duration-ms must be positive");
  so->nodes = (unsigned)o->nodes;
  so->duration_ms = (uint64_t)o->duration_ms;
  so->no_faults = o->no_faults;
  if (o->log_level && !parse_log_level(o->log_level, &so->log_level))
    return usage_error(cmd, "--log-level must be debug, info, warn, error "
                            "or none");
  return 0;
}

/* The replay command for one seed, from what was asked for. */
static char *replay_command(const sluice_sim_scenario *scn,
                            const sim_scenario_opts *so) {
  GString *s = g_string_new("");
  g_string_append_printf(s, "sluice-sim run --scenario %s --seed %" PRIu64,
                         scn->name, so->seed);
  if (so->nodes)
    g_string_append_printf(s, " --nodes %u", so->nodes);
  if (so->duration_ms)
    g_string_append_printf(s, " --duration-ms %" PRIu64, so->duration_ms);
  if (so->no_faults)
    g_string_append(s, " --no-faults");
  return g_string_free(s, FALSE);
}

static void print_stats(const sim_scenario_result *r) {
  printf("stats:");
  for (size_t i = 0; i < r->stat_count; i++)
    printf(" %s=%" PRIu64, r->stats[i].name, r->stats[i].value);
  printf("\n");
}

/* ----------------------------------------------------------------- run */

static int run_one(const sluice_sim_scenario *scn, sim_scenario_opts *so,
                   const cli_opts *o) {
  FILE *trace = NULL;
  if (o->trace) {
    trace = fopen(o->trace, "w");
    if (!trace) {
      fprintf(stderr, "sluice-sim: cannot write %s: %s\n", o->trace,
              strerror(errno));
      return EXIT_SETUP;
    }
  }
  char *replay = replay_command(scn, so);
  so->replay_command = replay;
  so->trace_out = trace;
  sim_scenario_result r;
  int rc = scn->run(so, &r);
  int exit_code = 0;
  if (trace && fclose(trace) != 0 && rc == 0)
    rc = -EIO;
  if (rc < 0) {
    fprintf(
        stderr, "sluice-sim: cannot run `%s`: %s%s\n", replay, g_strerror(-rc),
        rc == -EINVAL ? " (an option is outside the scenario's range)" : "");
    exit_code = EXIT_SETUP;
    goto out;
  }
  printf("scenario: %s seed: %" PRIu64 "\n", scn->name, so->seed);
  printf("events: %" PRIu64 " trace-events: %" PRIu64 " virtual-ms: %" PRIu64
         " violations: %" PRIu64 "\n",
         r.events, r.trace_events, r.virtual_ns / 1000000, r.violations);
  if (o->stats)
    print_stats(&r);
  if (r.violations) {
    for (size_t i = 0; i < r.violation_kept; i++)
      printf("violation: %s\n", r.violation_text[i]);
    if (r.violations > r.violation_kept)
      printf("violation: ... and %" PRIu64 " more\n",
             r.violations - r.violation_kept);
    printf("replay: %s\n", r.replay_command);
    exit_code = EXIT_VIOLATIONS;
  }
  if (o->trace)
    printf("trace: %s\n", o->trace);
  printf("trace-hash: %016" PRIx64 "\n", r.trace_hash);
out:
  sim_scenario_result_clear(&r);
  g_free(replay);
  return exit_code;
}

static int run_sweep(const sluice_sim_scenario *scn, sim_scenario_opts *so,
                     const cli_opts *o, uint64_t first, uint64_t last) {
  uint64_t seeds = 0, violations = 0, failing = 0, errors = 0;
  for (uint64_t seed = first;; seed++) {
    so->seed = seed;
    char *replay = replay_command(scn, so);
    so->replay_command = replay;
    sim_scenario_result r;
    int rc = scn->run(so, &r);
    seeds++;
    if (rc < 0) {
      errors++;
      printf("seed %" PRIu64 ": could not run: %s\n", seed, g_strerror(-rc));
    } else if (r.violations) {
      failing++;
      violations += r.violations;
      printf("FAIL seed %" PRIu64 ": %" PRIu64 " violations, first: %s\n", seed,
             r.violations, r.violation_text[0]);
      printf("  replay: %s\n", r.replay_command);
    }
    sim_scenario_result_clear(&r);
    g_free(replay);
    if (seed == last)
      break;
  }
  if (failing)
    printf("failing seeds: %" PRIu64 " of %" PRIu64 "\n", failing, seeds);
  printf("seeds: %" PRIu64 " violations: %" PRIu64 "\n", seeds, violations);
  if (errors)
    return EXIT_SETUP;
  return failing ? EXIT_VIOLATIONS : 0;
}

static int cmd_run(const char *cmd, int argc, char **argv,
                   const char *forced_scenario) {
  cli_opts o = {0};
  int rc =
      parse_cli(cmd,
                forced_scenario ? "Runs the simulator's self-test scenario "
                                  "(the same as: run --scenario selftest)."
                                : "Runs a scenario for one seed or a range of "
                                  "seeds.",
                argc, argv, true, &o);
  if (rc)
    goto out;
  if (forced_scenario) {
    if (o.scenario && strcmp(o.scenario, forced_scenario) != 0) {
      rc = usage_error(cmd, "--scenario cannot be changed here; use run");
      goto out;
    }
    g_free(o.scenario);
    o.scenario = g_strdup(forced_scenario);
  }
  const sluice_sim_scenario *scn;
  sim_scenario_opts so;
  rc = build_opts(cmd, &o, &scn, &so);
  if (rc)
    goto out;
  if ((o.seed != NULL) == (o.seeds != NULL)) {
    rc = usage_error(cmd, "give exactly one of --seed N or --seeds A..B");
    goto out;
  }
  if (o.seed) {
    if (!parse_u64(o.seed, &so.seed)) {
      rc = usage_error(cmd, "--seed wants a non-negative integer");
      goto out;
    }
    rc = run_one(scn, &so, &o);
    goto out;
  }
  uint64_t first, last;
  if (!parse_range(o.seeds, &first, &last)) {
    rc = usage_error(cmd, "--seeds wants A..B with A <= B");
    goto out;
  }
  if (last - first >= SWEEP_SEEDS_MAX) {
    rc = usage_error(cmd, "--seeds range too large");
    goto out;
  }
  if (o.trace) {
    rc = usage_error(cmd, "--trace needs a single --seed");
    goto out;
  }
  rc = run_sweep(scn, &so, &o, first, last);
out:
  cli_opts_free(&o);
  return rc;
}

/* --------------------------------------------------------------- bench */

static void noop_event(sim_t *sim, void *arg) {
  uint64_t *count = arg;
  (*count)++;
}

/* The baseline: the bare scheduler, no nodes, no trace — how fast events
 * could possibly go. */
static double bench_scheduler(void) {
  sim_options opts;
  sim_options_default(&opts, 1);
  sim_t *sim = sim_new(&opts);
  uint64_t fired = 0;
  gint64 start_us = g_get_monotonic_time();
  for (unsigned i = 0; i < BENCH_BASELINE_EVENTS; i++) {
    sim_schedule(sim, sim_rand_below(sim, SIM_STREAM_WORKLOAD, 1000000),
                 noop_event, &fired);
    /* Keep the heap at a realistic size: one pop per push after 1000. */
    if (i >= 1000)
      sim_step(sim);
  }
  while (sim_step(sim))
    ;
  double wall_s = (double)(g_get_monotonic_time() - start_us) / 1e6;
  sim_free(sim);
  return wall_s > 0 ? (double)fired / wall_s : 0.0;
}

static int cmd_bench(int argc, char **argv) {
  cli_opts o = {0};
  int rc = parse_cli("bench",
                     "Measures simulator speed on a scenario (default: "
                     "selftest, seeds 1..3) next to the bare scheduler.",
                     argc, argv, true, &o);
  if (rc)
    goto out;
  const sluice_sim_scenario *scn;
  sim_scenario_opts so;
  rc = build_opts("bench", &o, &scn, &so);
  if (rc)
    goto out;
  uint64_t first = 1, last = 3;
  if (o.seed && !parse_range(o.seed, &first, &last)) {
    rc = usage_error("bench", "--seed wants N");
    goto out;
  }
  if (o.seeds && !parse_range(o.seeds, &first, &last)) {
    rc = usage_error("bench", "--seeds wants A..B with A <= B");
    goto out;
  }
  uint64_t events = 0, virtual_ns = 0, seeds = 0, violations = 0;
  gint64 start_us = g_get_monotonic_time();
  for (uint64_t seed = first;; seed++) {
    so.seed = seed;
    sim_scenario_result r;
    int run_rc = scn->run(&so, &r);
    if (run_rc < 0) {
      fprintf(stderr, "sluice-sim bench: seed %" PRIu64 ": %s\n", seed,
              g_strerror(-run_rc));
      rc = EXIT_SETUP;
      goto out;
    }
    events += r.events;
    virtual_ns += r.virtual_ns;
    violations += r.violations;
    seeds++;
    sim_scenario_result_clear(&r);
    if (seed == last)
      break;
  }
  double wall_s = (double)(g_get_monotonic_time() - start_us) / 1e6;
  double events_per_s = wall_s > 0 ? (double)events / wall_s : 0.0;
  double baseline = bench_scheduler();
  printf("bench: scenario %s, %" PRIu64 " seeds (%" PRIu64 "..%" PRIu64
         "), %.3f virtual s in %.3f wall s\n",
         scn->name, seeds, first, last, (double)virtual_ns / 1e9, wall_s);
  printf("events/s: %.0f (%" PRIu64 " events)\n", events_per_s, events);
  printf("virtual-s/wall-s: %.2f\n",
         wall_s > 0 ? (double)virtual_ns / 1e9 / wall_s : 0.0);
  printf("baseline scheduler-only events/s: %.0f (scenario at %.1f%% of "
         "it)\n",
         baseline, baseline > 0 ? 100.0 * events_per_s / baseline : 0.0);
  if (violations) {
    printf("violations: %" PRIu64 " (run the seeds for details)\n", violations);
    rc = EXIT_VIOLATIONS;
  }
out:
  cli_opts_free(&o);
  return rc;
}

/* ---------------------------------------------------------------- list */

static int cmd_list(int argc, char **argv) {
  cli_opts o = {0};
  int rc = parse_cli("list", "Lists the scenarios.", argc, argv, false, &o);
  if (rc == 0) {
    size_t n;
    const sluice_sim_scenario *t = sluice_sim_scenarios(&n);
    for (size_t i = 0; i < n; i++)
      printf("%-12s %s\n", t[i].name, t[i].summary);
  }
  cli_opts_free(&o);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage_text, stderr);
    return EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
      strcmp(cmd, "help") == 0) {
    fputs(usage_text, stdout);
    return 0;
  }
  /* The command's own argv: argv[0] = the command. */
  int sub_argc = argc - 1;
  char **sub_argv = argv + 1;
  if (strcmp(cmd, "run") == 0)
    return cmd_run("run", sub_argc, sub_argv, NULL);
  if (strcmp(cmd, "selftest") == 0)
    return cmd_run("selftest", sub_argc, sub_argv, "selftest");
  if (strcmp(cmd, "bench") == 0)
    return cmd_bench(sub_argc, sub_argv);
  if (strcmp(cmd, "list") == 0)
    return cmd_list(sub_argc, sub_argv);
  fprintf(stderr, "sluice-sim: unknown command '%s'\n\n%s", cmd, usage_text);
  return EXIT_USAGE;
}
