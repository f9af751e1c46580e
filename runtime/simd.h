/* Internal: whether the CPU executor uses its SIMD kernels (quant_dot_simd.c,
 * attn_simd.c). They return the scalar reference's bits, so this choice
 * changes speed only. */
#ifndef DUET_RUNTIME_SIMD_H
#define DUET_RUNTIME_SIMD_H

#include <stdbool.h>

/* Returns true when the SIMD kernels are in use: the CPU has them (x86-64:
 * AVX2, F16C and FMA; arm64: Advanced SIMD) and DUET_CPU_SIMD=0 is not set.
 * Decided once per process; thread-safe. */
bool duet_simd_on(void);

/* Returns "avx2", "neon" or "none": the instruction set duet_simd_on()
 * chose (static string). Thread-safe. */
const char *duet_cpu_simd(void);

#endif
