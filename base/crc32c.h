/*
 * crc32c.h — CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the
 * checksum of Kafka's record batch v2.
 *
 * Several implementations ("paths") with one answer, picked at run time
 * through GCC's __builtin_cpu_supports (which reads the cpuid answer libgcc
 * recorded at startup: no state of ours, cheap enough to repeat on every
 * call):
 *  - table: slicing-by-8 (static const tables), any CPU;
 *  - one chain of SSE4.2 crc32 instructions (bound by their latency);
 *  - three chains over three lanes merged with carry-less multiplies
 *    (PCLMULQDQ), about three times one chain; the choice on CPUs whose
 *    PCLMULQDQ is slow (before Haswell, AMD Bulldozer);
 *  - fused: three crc32 chains over one part of each block while
 *    PCLMULQDQ folds another part, two execution units at once, from
 *    136 bytes up; chosen when the CPU also has AVX2 (fast PCLMULQDQ), in
 *    an AVX-512VL build of the same code when the CPU has that too.
 * Tests check every path the CPU has against published vectors, a
 * bit-at-a-time reference and each other.
 *
 * data may be NULL only when len == 0. Safe from any thread.
 */
#ifndef SLUICE_BASE_CRC32C_H
#define SLUICE_BASE_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CRC of data[0..len). Chain pieces with crc32c_extend(previous, ...);
 * crc32c(d, n) == crc32c_extend(0, d, n). Both take crc32c_path_best(). */
uint32_t crc32c(const void *data, size_t len);
uint32_t crc32c_extend(uint32_t crc, const void *data, size_t len);

/* The implementations, exposed for tests and benchmarks, in the order the
 * dispatcher prefers them (a later one needs what an earlier one needs). */
typedef enum crc32c_path {
  CRC32C_PATH_TABLE,        /* slicing-by-8 */
  CRC32C_PATH_ONE_CHAIN,    /* SSE4.2 */
  CRC32C_PATH_THREE_CHAIN,  /* SSE4.2 + PCLMULQDQ */
  CRC32C_PATH_FUSED,        /* SSE4.2 + PCLMULQDQ */
  CRC32C_PATH_FUSED_AVX512, /* SSE4.2 + PCLMULQDQ + AVX-512VL */
  CRC32C_PATH_COUNT
} crc32c_path;

/* Whether this CPU (and build: x86-64 only but for the table) can run the
 * path. False for values outside the enum. */
bool crc32c_path_available(crc32c_path path);
/* The path crc32c_extend takes on this CPU; always available. */
crc32c_path crc32c_path_best(void);
/* A short static name ("table", "fused-avx512", ...) for reports. */
const char *crc32c_path_name(crc32c_path path);
/* crc32c_extend along one path. Calling it with a path the CPU cannot run
 * is a programmer error (SL_ASSERT). */
uint32_t crc32c_extend_path(crc32c_path path, uint32_t crc, const void *data,
                            size_t len);

/* Shorthands kept from before the path API. crc32c_extend_sw is the table
 * path; crc32c_extend_hw the best path and, like any unavailable path, a
 * programmer error (SL_ASSERT) when crc32c_hw_available() is false. */
uint32_t crc32c_extend_sw(uint32_t crc, const void *data, size_t len);
uint32_t crc32c_extend_hw(uint32_t crc, const void *data, size_t len);
bool crc32c_hw_available(void);

/* True when the best path runs several chains on large inputs (three-chain
 * or fused); otherwise it uses one chain or the table. */
bool crc32c_hw_interleaved(void);

#endif
