/*
 * sluice-job — runs the example compute jobs in local mode.
 *
 *   sluice-job NAME [options]
 *
 * Common options: --executors N, --partitions N, --memory SIZE (bytes, or
 * with a K/M/G suffix), --dag FILE (.svg or .dot: the last job's stage
 * DAG), --quiet (no summary). While a job runs, a progress bar like
 * Spark's is drawn on stderr when stderr is a terminal; at the end a
 * summary of the last job's stages is printed to stderr.
 *
 * Exit status: 0 on success; 1 when the job fails or lacks a required
 * option; 2 on an unknown job or option, or a bad option value.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/sluice-job/jobs.h"

#define PROGRESS_WIDTH 80

static const job_def *const jobs[] = {
    &job_wordcount, &job_groupsum, &job_pagerank, &job_kmeans,
    &job_join,      &job_terasort, &job_teragen};

/* ------------------------------------------------------------- helpers */

int job_fail(const char *job, const char *what, GError *err) {
  fprintf(stderr, "sluice-job %s: %s%s%s\n", job, what, err ? ": " : "",
          err ? err->message : "");
  if (err)
    g_error_free(err);
  return 1;
}

bool job_need(const char *job, const char *value, const char *option) {
  if (value)
    return true;
  fprintf(stderr, "sluice-job %s: %s is required (see --help)\n", job,
          option);
  return false;
}

void job_words(cm_bytes text, void (*fn)(cm_bytes word, void *arg), void *arg) {
  cm_bytes word;
  while (job_next_word(&text, &word))
    fn(word, arg);
}

/* --------------------------------------------------------- progress bar */

/* Spark's ConsoleProgressBar: "[Stage 2:=====>      (5 + 2) / 12]", one
 * line redrawn with \r, erased when the job ends. */
typedef struct progress {
  bool enabled;
  char last[256];
} progress;

static void progress_draw(void *arg, const cm_progress *p) {
  progress *pr = arg;
  if (!pr->enabled)
    return;
  if (p->job_finished) {
    fprintf(stderr, "\r%*s\r", PROGRESS_WIDTH, "");
    pr->last[0] = '\0';
    return;
  }
  char head[48], tail[48], line[256];
  snprintf(head, sizeof head, "[Stage %u:", p->stage_id);
  snprintf(tail, sizeof tail, "(%u + %u) / %u]", p->tasks_done,
           p->tasks_running, p->tasks_total);
  int width = PROGRESS_WIDTH - 1 - (int)strlen(head) - (int)strlen(tail);
  if (width < 10)
    width = 10;
  int done = p->tasks_total ? (int)((uint64_t)width * p->tasks_done /
                                    p->tasks_total)
                            : width;
  char bar[PROGRESS_WIDTH + 1];
  for (int i = 0; i < width; i++)
    bar[i] = i < done ? '=' : (i == done ? '>' : ' ');
  bar[width] = '\0';
  snprintf(line, sizeof line, "%s%s%s", head, bar, tail);
  if (strcmp(line, pr->last) == 0)
    return;
  snprintf(pr->last, sizeof pr->last, "%s", line);
  fprintf(stderr, "\r%s", line);
  fflush(stderr);
}

/* ------------------------------------------------------------- options */

static void usage(FILE *f) {
  fprintf(f, "usage: sluice-job NAME [options]\n\nJobs:\n");
  for (size_t i = 0; i < G_N_ELEMENTS(jobs); i++)
    fprintf(f, "  %-10s %s\n  %-10s   %s\n", jobs[i]->name, jobs[i]->about,
            "", jobs[i]->usage);
  fprintf(f,
          "\nCommon options:\n"
          "  --executors N    executor threads (default 2)\n"
          "  --partitions N   partitions of inputs and shuffles (default 8)\n"
          "  --memory SIZE    memory budget, e.g. 64M (default 256M); half\n"
          "                   for the cache, half shared by running tasks\n"
          "  --dag FILE       draw the last job's stage DAG (.svg or .dot)\n"
          "  --quiet          no job summary on stderr\n"
          "  --help           this text\n");
}

static bool parse_u64(const char *s, uint64_t *out) {
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || s[0] == '-')
    return false;
  *out = v;
  return true;
}

static bool parse_size(const char *s, uint64_t *out) {
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || s[0] == '-')
    return false;
  uint64_t mult = 1;
  if (*end == 'K' || *end == 'k')
    mult = 1024;
  else if (*end == 'M' || *end == 'm')
    mult = 1024 * 1024;
  else if (*end == 'G' || *end == 'g')
    mult = UINT64_C(1024) * 1024 * 1024;
  else if (*end)
    return false;
  if (*end && end[1] && strcmp(end + 1, "iB") != 0 && strcmp(end + 1, "B"))
    return false;
  *out = v * mult;
  return true;
}

static bool parse_u32(const char *s, uint32_t *out, uint32_t min) {
  uint64_t v;
  if (!parse_u64(s, &v) || v < min || v > UINT32_MAX)
    return false;
  *out = (uint32_t)v;
  return true;
}

/* Parses argv[2..]; returns 0, or 2 after printing a usage error. */
static int parse_options(int argc, char **argv, job_opts *o) {
  for (int i = 2; i < argc; i++) {
    const char *opt = argv[i];
    if (strcmp(opt, "--quiet") == 0) {
      o->quiet = true;
      continue;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "sluice-job: %s needs a value (see --help)\n", opt);
      return 2;
    }
    const char *v = argv[++i];
    bool ok = true;
    if (strcmp(opt, "--input") == 0)
      o->input = v;
    else if (strcmp(opt, "--output") == 0)
      o->output = v;
    else if (strcmp(opt, "--left") == 0)
      o->left = v;
    else if (strcmp(opt, "--right") == 0)
      o->right = v;
    else if (strcmp(opt, "--dag") == 0)
      o->dag = v;
    else if (strcmp(opt, "--executors") == 0)
      ok = parse_u32(v, &o->executors, 1) && o->executors <= 256;
    else if (strcmp(opt, "--partitions") == 0)
      ok = parse_u32(v, &o->partitions, 1) && o->partitions <= 100000;
    else if (strcmp(opt, "--memory") == 0)
      ok = parse_size(v, &o->memory_bytes);
    else if (strcmp(opt, "--iterations") == 0)
      ok = parse_u32(v, &o->iterations, 1);
    else if (strcmp(opt, "--k") == 0)
      ok = parse_u32(v, &o->k, 1) && o->k <= 1000;
    else if (strcmp(opt, "--records") == 0)
      ok = parse_u64(v, &o->records);
    else if (strcmp(opt, "--seed") == 0)
      ok = parse_u64(v, &o->seed);
    else {
      fprintf(stderr, "sluice-job: unknown option %s (see --help)\n", opt);
      return 2;
    }
    if (!ok) {
      fprintf(stderr, "sluice-job: bad value for %s: '%s'\n", opt, v);
      return 2;
    }
  }
  return 0;
}

static const job_def *find_job(const char *name) {
  for (size_t i = 0; i < G_N_ELEMENTS(jobs); i++)
    if (strcmp(jobs[i]->name, name) == 0)
      return jobs[i];
  return NULL;
}

static int finish(cm_ctx *ctx, const job_opts *o, int rc) {
  if (rc == 0 && o->dag) {
    GError *err = NULL;
    if (cm_ctx_render_last_job(ctx, o->dag, &err) != 0)
      rc = job_fail("dag", "cannot draw the DAG", err);
  }
  if (!o->quiet) {
    GString *summary = g_string_new(NULL);
    cm_ctx_job_summary(ctx, summary);
    cm_stats st;
    cm_ctx_stats(ctx, &st);
    g_string_append_printf(
        summary,
        "totals: %llu jobs, %llu stages run, %llu skipped, %llu tasks "
        "(%llu failed), %llu spill files\n",
        (unsigned long long)st.jobs, (unsigned long long)st.stages_run,
        (unsigned long long)st.stages_skipped,
        (unsigned long long)st.tasks_run, (unsigned long long)st.tasks_failed,
        (unsigned long long)st.spill_files);
    fputs(summary->str, stderr);
    g_string_free(summary, TRUE);
  }
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
      strcmp(argv[1], "-h") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const job_def *job = find_job(argv[1]);
  if (!job) {
    fprintf(stderr, "sluice-job: unknown job '%s' (see --help)\n", argv[1]);
    return 2;
  }
  for (int i = 2; i < argc; i++)
    if (strcmp(argv[i], "--help") == 0) {
      printf("usage: sluice-job %s %s [common options]\n%s\n", job->name,
             job->usage, job->about);
      return 0;
    }
  job_opts o = {.executors = 2,
                .partitions = 8,
                .memory_bytes = UINT64_C(256) << 20,
                .iterations = 10,
                .k = 3,
                .records = 100000,
                .seed = 1};
  int rc = parse_options(argc, argv, &o);
  if (rc != 0)
    return rc;
  cm_registry *reg = cm_registry_new();
  for (size_t i = 0; i < G_N_ELEMENTS(jobs); i++)
    jobs[i]->register_fns(reg);
  progress bar = {isatty(STDERR_FILENO) != 0, ""};
  cm_config cfg = cm_config_default();
  cfg.executors = o.executors;
  cfg.memory_bytes = o.memory_bytes;
  cfg.progress_fn = progress_draw;
  cfg.progress_arg = &bar;
  GError *err = NULL;
  cm_ctx *ctx = cm_ctx_new(reg, &cfg, &err);
  if (!ctx) {
    rc = job_fail(job->name, "cannot start", err);
    cm_registry_free(reg);
    return 2;
  }
  rc = finish(ctx, &o, job->run(ctx, &o));
  cm_ctx_free(ctx);
  cm_registry_free(reg);
  return rc;
}
