/* IEEE half and bfloat16 conversions in portable C (no F16C/NEON needed).
 *
 * f32 -> f16 rounds to nearest even, like the hardware instructions and
 * llama.cpp's converters, so rounded activations match bit for bit. */
#ifndef DUET_RUNTIME_FP16_H
#define DUET_RUNTIME_FP16_H

#include <stdint.h>
#include <string.h>

static inline uint32_t duet_f32_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	return u;
}

static inline float duet_bits_f32(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

/* Returns the float value of the half h (all inputs, incl. subnormal/inf/nan). */
static inline float duet_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
	uint32_t exp = (h >> 10) & 0x1fu;
	uint32_t man = h & 0x3ffu;
	if (exp == 0x1f)
		return duet_bits_f32(sign | 0x7f800000u | (man << 13));
	if (exp == 0) {
		if (man == 0)
			return duet_bits_f32(sign);
		/* subnormal: man * 2^-24 is exact in float */
		float v = (float)man * (1.0f / 16777216.0f);
		return sign ? -v : v;
	}
	return duet_bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

/* Returns the nearest half to f (ties to even); overflow gives inf. */
static inline uint16_t duet_f32_to_f16(float f)
{
	uint32_t x = duet_f32_bits(f);
	uint32_t sign = (x >> 16) & 0x8000u;
	uint32_t ax = x & 0x7fffffffu;
	if (ax >= 0x7f800000u) /* inf or nan */
		return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0));
	if (ax >= 0x477ff000u) /* rounds to >= 65520: overflow */
		return (uint16_t)(sign | 0x7c00u);
	if (ax < 0x38800000u) { /* below the smallest normal half: subnormal */
		/* Adding 0.5 aligns the mantissa so the FPU does the rounding. */
		float v = duet_bits_f32(ax) + 0.5f;
		return (uint16_t)(sign | (duet_f32_bits(v) - 0x3f000000u));
	}
	uint32_t odd = (ax >> 13) & 1u;
	ax += 0xc8000fffu + odd; /* rebias exponent (-112 << 23) and round */
	return (uint16_t)(sign | (ax >> 13));
}

static inline float duet_bf16_to_f32(uint16_t h)
{
	return duet_bits_f32((uint32_t)h << 16);
}

/* Returns the nearest bfloat16 to f (ties to even); nan stays a quiet nan. */
static inline uint16_t duet_f32_to_bf16(float f)
{
	uint32_t x = duet_f32_bits(f);
	if ((x & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((x >> 16) | 64u);
	return (uint16_t)((x + (0x7fffu + ((x >> 16) & 1u))) >> 16);
}

/* Rounds f through half precision and back. */
static inline float duet_round_f16(float f)
{
	return duet_f16_to_f32(duet_f32_to_f16(f));
}

#endif
