/*
 * crc32c.h — CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the
 * checksum of Kafka's record batch v2.
 *
 * Uses the SSE4.2 crc32 instruction when the CPU has it (checked at run time
 * through GCC's __builtin_cpu_supports, which reads the cpuid answer libgcc
 * recorded at startup: no state of ours, cheap enough to repeat on every
 * call), and a slicing-by-8 table fallback otherwise (static const tables).
 * From 768 bytes up, and when the CPU also has PCLMULQDQ, the hardware path
 * runs three independent crc32 chains over three lanes of the input and
 * merges them with carry-less multiplies (about three times the speed of
 * one chain, which is bound by the instruction's latency).
 * Both give identical results; tests check them against published vectors,
 * a bit-at-a-time reference and each other.
 *
 * data may be NULL only when len == 0. Safe from any thread.
 */
#ifndef SLUICE_BASE_CRC32C_H
#define SLUICE_BASE_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CRC of data[0..len). Chain pieces with crc32c_extend(previous, ...);
 * crc32c(d, n) == crc32c_extend(0, d, n). */
uint32_t crc32c(const void *data, size_t len);
uint32_t crc32c_extend(uint32_t crc, const void *data, size_t len);

/* The two implementations, exposed for tests and benchmarks. Calling
 * crc32c_extend_hw when crc32c_hw_available() is false is a programmer
 * error (SL_ASSERT), as is calling it on a non-x86-64 build. */
uint32_t crc32c_extend_sw(uint32_t crc, const void *data, size_t len);
uint32_t crc32c_extend_hw(uint32_t crc, const void *data, size_t len);
bool crc32c_hw_available(void);

/* True when crc32c_extend_hw runs the three-chain path on large inputs
 * (SSE4.2 and PCLMULQDQ both present); otherwise it uses one chain. For
 * tests and benchmarks to say which path they measured. */
bool crc32c_hw_interleaved(void);

#endif
