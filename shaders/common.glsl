// Helpers every kernel shares: rounding exactly as the CPU reference does
// (f16 and bf16 round to nearest even, llama.cpp's round-half-away for
// Q8 activations), SiLU, and the per-step uniform block.
#ifndef DUET_COMMON_GLSL
#define DUET_COMMON_GLSL

#include "abi/kernels.h"

// f32 -> nearest f16 (ties to even) -> f32, without relying on
// packHalf2x16, whose rounding mode the GLSL spec leaves to the driver.
float round_f16(float x)
{
	uint u = floatBitsToUint(x);
	uint a = u & 0x7fffffffu;
	if (a >= 0x7f800000u)
		return x; // inf, nan
	if (a < 0x38800000u) // below the smallest normal half: multiples of 2^-24
		return roundEven(x * 16777216.0) * (1.0 / 16777216.0);
	u = (u + 0xfffu + ((u >> 13) & 1u)) & 0xffffe000u;
	float r = uintBitsToFloat(u);
	return abs(r) > 65504.0 ? uintBitsToFloat((u & 0x80000000u) | 0x7f800000u) : r;
}

// f32 -> f16 bits (ties to even); the value must come from round_f16.
uint f16_bits(float r)
{
	uint u = floatBitsToUint(r);
	uint s = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
	if (a >= 0x7f800000u)
		return s | 0x7c00u | (a > 0x7f800000u ? 0x200u : 0u);
	if (a < 0x38800000u) // subnormal: exact multiple of 2^-24
		return s | uint(abs(r) * 16777216.0);
	return s | ((a - 0x38000000u) >> 13);
}

float round_bf16(float x)
{
	uint u = floatBitsToUint(x);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return x;
	return uintBitsToFloat((u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u);
}

// C's roundf: halves away from zero, computed exactly.
float round_away(float v)
{
	float t = trunc(v);
	return abs(v - t) >= 0.5 ? t + sign(v) : t;
}

float silu(float g)
{
	return g / (1.0 + exp(-g));
}

float half_lo(uint u) { return unpackHalf2x16(u).x; }
float half_hi(uint u) { return unpackHalf2x16(u).y; }

#endif
