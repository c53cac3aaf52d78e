/*
 * baseline.h — the compute benchmark's helpers: corpus generators, the
 * hand-written single-threaded programs Sluice is measured against, and a
 * timer that reports a child's wall time and peak memory.
 *
 *   bench-baseline textgen  --output FILE --bytes N [--seed S]
 *   bench-baseline kvgen    --output FILE --bytes N [--seed S]
 *   bench-baseline wordcount INPUT OUTPUT
 *   bench-baseline groupsum  INPUT OUTPUT
 *   bench-baseline time REPORT CMD [ARGS...]
 *
 * The generators are deterministic functions of (seed, bytes). textgen
 * writes lines of words drawn from a Zipf distribution over a synthetic
 * vocabulary (frequent words short, like natural text); kvgen writes
 * "key\tint64" lines with Zipf-distributed keys.
 *
 * wordcount and groupsum are what a C programmer would write for the job
 * by hand: read() in 1 MiB blocks, one pass that tokenizes and hashes,
 * an open-addressing table, then the distinct keys sorted (byte order) and
 * written "key\tcount" per line — exactly the output of `sluice-job
 * wordcount` / `sluice-job groupsum`, so the benchmark can check that both
 * did the same work.
 *
 * time runs CMD, waits for it and writes "SECONDS MAXRSS_KIB STATUS\n" to
 * REPORT (wall-clock seconds; the child's peak resident set from wait4;
 * its exit status, or 128 + signal).
 *
 * This is a benchmark tool, not part of the engine: it uses the operating
 * system directly and keeps no state outside its functions' locals.
 */
#ifndef SLUICE_TOOLS_BENCH_BASELINE_BASELINE_H
#define SLUICE_TOOLS_BENCH_BASELINE_BASELINE_H

#include <stddef.h>
#include <stdint.h>

#define BL_READ_BLOCK_BYTES (1u << 20)
#define BL_KEY_BYTES_MAX 4096u /* longer words are still counted whole */

/* Each returns a process exit status: 0, 1 on an I/O error (message on
 * stderr), 2 on bad arguments. */
int bl_textgen(const char *path, uint64_t bytes, uint64_t seed);
int bl_kvgen(const char *path, uint64_t bytes, uint64_t seed);
int bl_wordcount(const char *input, const char *output);
int bl_groupsum(const char *input, const char *output);

/* splitmix64: the generators' PRNG step. */
uint64_t bl_next(uint64_t *state);

#endif
