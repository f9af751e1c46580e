/* Helpers shared by quant.c and quant_dot.c: unaligned little-endian loads
 * and stores, and the bit packing of the K-type blocks. Internal. */
#ifndef DUET_RUNTIME_QUANT_IMPL_H
#define DUET_RUNTIME_QUANT_IMPL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fp16.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "duet reads GGUF data in place and needs a little-endian host"
#endif

/* Block fields are read with memcpy: GGUF only promises the file's own
 * alignment, and 18- or 210-byte blocks leave scalars at odd offsets. */
static inline uint16_t ld_u16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof v);
	return v;
}

static inline uint32_t ld_u32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof v);
	return v;
}

static inline float ld_f32(const uint8_t *p)
{
	float v;
	memcpy(&v, p, sizeof v);
	return v;
}

static inline float ld_f16(const uint8_t *p)
{
	return duet_f16_to_f32(ld_u16(p));
}

static inline void st_u16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, sizeof v);
}

static inline void st_u32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof v);
}

static inline void st_f32(uint8_t *p, float v)
{
	memcpy(p, &v, sizeof v);
}

static inline void st_f16(uint8_t *p, float v)
{
	st_u16(p, duet_f32_to_f16(v));
}

static inline int clamp_int(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* Float to int conversions here are total: a file can hold NaN or huge
 * weights, and activations computed from them reach the quantizers. NaN
 * becomes 0, out-of-range values saturate (C leaves both undefined). */

/* (int)v (truncation) clamped to [lo, hi]. */
static inline int clamp_trunc(float v, int lo, int hi)
{
	if (v != v)
		return clamp_int(0, lo, hi);
	if (v <= (float)lo)
		return lo;
	if (v >= (float)hi)
		return hi;
	return (int)v;
}

/* Nearest integer, ties to even (the default FPU rounding mode); callers
 * clamp the result to their range. */
static inline int round_even(float v)
{
	if (!(fabsf(v) <= 1e9f))
		return v > 0 ? 1000000000 : v < 0 ? -1000000000 : 0;
	return (int)lrintf(v);
}

/* Nearest integer, ties away from zero (roundf), clamped to [lo, hi]. */
static inline int round_away_clamp(float v, int lo, int hi)
{
	return clamp_trunc(roundf(v), lo, hi);
}

/* The blocks of a dot product are summed in double in four chains, block i
 * into chain i % 4, combined as (s0 + s1) + (s2 + s3). The scalar reference
 * and the SIMD forms use this one order, so they agree bit for bit, and
 * four chains keep the double adds from serializing on their latency. */
typedef struct dot_acc {
	double s[4];
} dot_acc;

static inline void acc_add(dot_acc *acc, int64_t i, double term)
{
	acc->s[i & 3] += term;
}

static inline double acc_sum(const dot_acc *acc)
{
	return (acc->s[0] + acc->s[1]) + (acc->s[2] + acc->s[3]);
}

/* Float rows (F32, F16, BF16): every product is exact in double; element
 * i is summed into chain i % 8, and the chains are combined as
 * ((c0 + c4) + (c2 + c6)) + ((c1 + c5) + (c3 + c7)), the order two 4-lane
 * vector accumulators give. */
static inline double float_chains_sum(const double c[8])
{
	double t0 = c[0] + c[4], t1 = c[1] + c[5], t2 = c[2] + c[6], t3 = c[3] + c[7];
	return (t0 + t2) + (t1 + t3);
}

/* Q5_0/Q5_1: element j (< 16) and j + 16 of a block, 5 bits each. */
static inline int q5_lo(const uint8_t *qs, uint32_t qh, int j)
{
	return (qs[j] & 0xf) | (int)(((qh >> j) & 1u) << 4);
}

static inline int q5_hi(const uint8_t *qs, uint32_t qh, int j)
{
	return (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
}

/* Q4_K/Q5_K: 8 six-bit scales and 8 six-bit mins packed into 12 bytes.
 * Bytes 0-3 hold scales 0-3 (+ top bits of scales 4-7), bytes 4-7 mins 0-3
 * (+ top bits of mins 4-7), bytes 8-11 the low nibbles of scales/mins 4-7. */
static inline void k_scales_unpack(const uint8_t *q, uint8_t *sc, uint8_t *mn)
{
	for (int j = 0; j < 4; j++) {
		sc[j] = q[j] & 63;
		mn[j] = q[j + 4] & 63;
	}
	for (int j = 4; j < 8; j++) {
		sc[j] = (uint8_t)((q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4));
		mn[j] = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
	}
}

static inline void k_scales_pack(const uint8_t *sc, const uint8_t *mn,
				 uint8_t *q)
{
	memset(q, 0, 12);
	for (int j = 0; j < 4; j++) {
		q[j] = sc[j];
		q[j + 4] = mn[j];
	}
	for (int j = 4; j < 8; j++) {
		q[j + 4] = (uint8_t)((sc[j] & 0xf) | ((mn[j] & 0xf) << 4));
		q[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
		q[j] |= (uint8_t)((mn[j] >> 4) << 6);
	}
}

/* Q4_K/Q5_K: writes the 256 unsigned values of the block's qs (and qh)
 * into L. The 128 qs bytes are four 32-byte chunks; chunk c holds sub-block
 * 2c in its low nibbles and 2c+1 in its high nibbles. For Q5_K the fifth bit
 * of element l of sub-block s is bit s of qh[l]. */
static inline void k_values_unpack(const uint8_t *qs, const uint8_t *qh,
				   uint8_t *L)
{
	for (int c = 0; c < 4; c++) {
		for (int l = 0; l < 32; l++) {
			uint8_t lo = qs[32 * c + l] & 0xf, hi = qs[32 * c + l] >> 4;
			if (qh) {
				lo |= (uint8_t)(((qh[l] >> (2 * c)) & 1) << 4);
				hi |= (uint8_t)(((qh[l] >> (2 * c + 1)) & 1) << 4);
			}
			L[64 * c + l] = lo;
			L[64 * c + 32 + l] = hi;
		}
	}
}

/* Q6_K: writes the 256 signed values (-32..31) of the block at b into v.
 * Each 128-element half has 64 bytes of low nibbles (ql) and 32 bytes of
 * 2-bit high parts (qh); quarter k of the half uses ql[l + 32*(k&1)]'s low
 * (k < 2) or high nibble and bits 2k..2k+1 of qh[l]. */
static inline void q6k_unpack(const uint8_t *b, int8_t *v)
{
	for (int c = 0; c < 2; c++) {
		const uint8_t *ql = b + 64 * c, *qh = b + 128 + 32 * c;
		int8_t *o = v + 128 * c;
		for (int l = 0; l < 32; l++) {
			o[l] = (int8_t)(((ql[l] & 0xf) | ((qh[l] & 3) << 4)) - 32);
			o[l + 32] = (int8_t)(((ql[l + 32] & 0xf) |
					      (((qh[l] >> 2) & 3) << 4)) - 32);
			o[l + 64] = (int8_t)(((ql[l] >> 4) |
					      (((qh[l] >> 4) & 3) << 4)) - 32);
			o[l + 96] = (int8_t)(((ql[l + 32] >> 4) |
					      (((qh[l] >> 6) & 3) << 4)) - 32);
		}
	}
}

/* Stores 256 unsigned 6-bit values L (q + 32) in the Q6_K ql/qh layout. */
static inline void q6k_pack(const uint8_t *L, uint8_t *b)
{
	for (int e = 0; e < 256; e++) {
		int c = e / 128, k = (e % 128) / 32, l = e % 32;
		uint8_t *ql = b + 64 * c, *qh = b + 128 + 32 * c;
		int shift = (k >> 1) ? 4 : 0;
		ql[l + 32 * (k & 1)] |= (uint8_t)((L[e] & 0xf) << shift);
		qh[l] |= (uint8_t)(((L[e] >> 4) & 3) << (2 * k));
	}
}

#endif
