/* The one switch for the CPU executor's SIMD kernels (see simd.h). */
#include "simd.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#define SIMD_NAME "avx2"
/* AVX2, F16C and FMA, and an OS that saves the YMM registers (CPUID and
 * XGETBV directly: clang's __builtin_cpu_supports lacks "f16c"). */
static bool cpu_has_simd(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d))
		return false;
	bool fma = c & (1u << 12), osxsave = c & (1u << 27), f16c = c & (1u << 29);
	if (!fma || !osxsave || !f16c)
		return false;
	unsigned lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	if ((lo & 6u) != 6u) /* XMM and YMM state */
		return false;
	if (__get_cpuid_max(0, NULL) < 7)
		return false;
	__cpuid_count(7, 0, a, b, c, d);
	return b & (1u << 5); /* AVX2 */
}
#elif defined(__aarch64__) && defined(__ARM_NEON)
#define SIMD_NAME "neon"
static bool cpu_has_simd(void)
{
	return true; /* Advanced SIMD is part of the arm64 base */
}
#else
#define SIMD_NAME "none"
static bool cpu_has_simd(void)
{
	return false;
}
#endif

/* 0 undecided, 1 on, 2 off */
static atomic_int simd_state;

bool duet_simd_on(void)
{
	int s = atomic_load_explicit(&simd_state, memory_order_relaxed);
	if (s == 0) {
		const char *env = getenv("DUET_CPU_SIMD");
		bool off = env && strcmp(env, "0") == 0;
		s = !off && cpu_has_simd() ? 1 : 2;
		atomic_store_explicit(&simd_state, s, memory_order_relaxed);
	}
	return s == 1;
}

const char *duet_cpu_simd(void)
{
	return duet_simd_on() ? SIMD_NAME : "none";
}
