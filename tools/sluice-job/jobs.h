/*
 * jobs.h — the example jobs of sluice-job and what they share.
 *
 * Every job is one small file: a `register` function that adds its user
 * functions to the registry (all jobs register into the same registry at
 * start-up, so the binary could also serve as an executor for any of them)
 * and a `run` function that builds the plan and runs the actions.
 * run returns 0 on success, or 1 after printing an error to stderr.
 */
#ifndef SLUICE_TOOLS_SLUICE_JOB_JOBS_H
#define SLUICE_TOOLS_SLUICE_JOB_JOBS_H

#include <stdbool.h>
#include <stdint.h>

#include "compute/compute.h"

typedef struct job_opts {
  const char *input;  /* --input PATH */
  const char *output; /* --output DIR */
  const char *left;   /* --left PATH (join) */
  const char *right;  /* --right PATH (join) */
  const char *dag;    /* --dag FILE.svg|FILE.dot */
  uint32_t executors;
  uint32_t partitions;
  uint64_t memory_bytes;
  uint32_t iterations; /* pagerank, kmeans */
  uint32_t k;          /* kmeans */
  uint64_t records;    /* teragen */
  uint64_t seed;       /* teragen */
  bool quiet;          /* no summary */
} job_opts;

typedef struct job_def {
  const char *name;
  const char *usage; /* job-specific options */
  const char *about;
  void (*register_fns)(cm_registry *reg);
  int (*run)(cm_ctx *ctx, const job_opts *o);
} job_def;

extern const job_def job_wordcount, job_groupsum, job_pagerank, job_kmeans,
    job_join, job_terasort, job_teragen;

/* Prints "sluice-job NAME: message" (and the GError's message) to stderr
 * and returns 1, for `return job_fail(...)`. Frees err. */
int job_fail(const char *job, const char *what, GError *err);
/* Requires an option: prints an error and returns false when missing. */
bool job_need(const char *job, const char *value, const char *option);
/* Splits text on ASCII whitespace (the C locale's isspace set), calling
 * fn for each word. */
void job_words(cm_bytes text, void (*fn)(cm_bytes word, void *arg), void *arg);

/* The C locale's isspace set (\t \n \v \f \r and space) as one test. */
static inline bool job_is_space(uint8_t c) {
  return c <= ' ' && ((UINT64_C(1) << c) & UINT64_C(0x100003e00)) != 0;
}

/* Takes the next word off the front of *text; false when none is left.
 * The inline form of job_words, for per-word hot loops. */
static inline bool job_next_word(cm_bytes *text, cm_bytes *word) {
  const uint8_t *p = text->ptr, *end = p + text->len;
  while (p < end && job_is_space(*p))
    p++;
  const uint8_t *start = p;
  while (p < end && !job_is_space(*p))
    p++;
  text->ptr = p;
  text->len = (size_t)(end - p);
  word->ptr = start;
  word->len = (size_t)(p - start);
  return word->len > 0;
}

#endif
