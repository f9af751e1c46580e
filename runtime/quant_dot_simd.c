/* SIMD forms of the block dot products in quant_dot.c (AVX2 on x86-64,
 * NEON on arm64). They return the reference's result bit for bit: the
 * integer sum of a block is exact in any order, and the blocks are combined
 * in double in the reference's order with the reference's operations, so
 * only the integer work is vectorized. No FMA is used (the reference does
 * not fuse), which is why the x86 target list leaves "fma" out.
 *
 * Each architecture supplies one vector type of 32 int8 lanes and five
 * primitives; the per-type loops below are written once over them. */
#include "quant.h"

#include "quant_impl.h"
#include "quant_simd.h"
#include "simd.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define ATTR __attribute__((target("avx2,f16c")))
typedef __m256i v8;

/* 32 signed bytes from p. */
ATTR static inline v8 v_load(const uint8_t *p)
{
	return _mm256_loadu_si256((const __m256i *)(const void *)p);
}

/* The 32 nibbles of 16 bytes: low nibbles first, then high nibbles. */
ATTR static inline v8 v_nibbles(const uint8_t *p)
{
	__m128i b = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m256i x = _mm256_set_m128i(_mm_srli_epi16(b, 4), b);
	return _mm256_and_si256(x, _mm256_set1_epi8(0x0f));
}

/* Byte j is 16 when bit j of qh is set, else 0. */
ATTR static inline v8 v_bits16(uint32_t qh)
{
	__m256i q = _mm256_set1_epi32((int)qh);
	/* byte j takes byte j / 8 of qh */
	__m256i idx = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
					0x0101010101010101, 0);
	q = _mm256_shuffle_epi8(q, idx);
	__m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
	q = _mm256_cmpeq_epi8(_mm256_and_si256(q, bit), bit);
	return _mm256_and_si256(q, _mm256_set1_epi8(16));
}

ATTR static inline v8 v_or(v8 x, v8 y) { return _mm256_or_si256(x, y); }
ATTR static inline v8 v_sub(v8 x, int k) { return _mm256_sub_epi8(x, _mm256_set1_epi8((char)k)); }

/* Partial sums of x[j] * y[j] over 32 signed bytes in 8 lanes, exact for
 * every input (widened to 16 bits first, so -128 * -128 cannot saturate). */
typedef __m256i vpart;

ATTR static inline vpart v_part(v8 x, v8 y)
{
	__m256i xl = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(x));
	__m256i xh = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(x, 1));
	__m256i yl = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(y));
	__m256i yh = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(y, 1));
	return _mm256_add_epi32(_mm256_madd_epi16(xl, yl),
				_mm256_madd_epi16(xh, yh));
}

/* The totals of four partials, in lanes 0-3. */
typedef __m128i vint4;

ATTR static inline vint4 v_hsum4(vpart p0, vpart p1, vpart p2, vpart p3)
{
	__m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(p0, p1),
				      _mm256_hadd_epi32(p2, p3));
	return _mm_add_epi32(_mm256_castsi256_si128(h),
			     _mm256_extracti128_si256(h, 1));
}

ATTR static inline int v_hsum(vpart p)
{
	__m128i h = _mm_add_epi32(_mm256_castsi256_si128(p),
				  _mm256_extracti128_si256(p, 1));
	h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
	h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
	return _mm_cvtsi128_si32(h);
}

/* The half at p as a float (F16C converts every half exactly). */
ATTR static inline float v_f16(const uint8_t *p)
{
	return _cvtsh_ss(ld_u16(p));
}

/* The halves at p, p + stride, p + 2 stride and p + 3 stride as floats. */
ATTR static inline __m128 v_f16x4(const uint8_t *p, int stride)
{
	__m128i h = _mm_setr_epi16((short)ld_u16(p), (short)ld_u16(p + stride),
				   (short)ld_u16(p + 2 * stride),
				   (short)ld_u16(p + 3 * stride), 0, 0, 0, 0);
	return _mm_cvtph_ps(h);
}

/* Four dot chains, chain k in lane k. */
typedef __m256d vacc;

ATTR static inline vacc v_acc_zero(void)
{
	return _mm256_setzero_pd();
}

/* Adds to chain k the term of block k of four (weight blocks ws bytes
 * apart, activation blocks as apart) whose integer sums are in is: lane by
 * lane the operations of term_d, or of term_dm when dm is set. */
ATTR static inline vacc v_terms4(vacc acc, const uint8_t *w, int ws,
				 const uint8_t *a, int as, vint4 is, bool dm)
{
	__m128 d = _mm_mul_ps(v_f16x4(w, ws), v_f16x4(a, as));
	__m256d t = _mm256_mul_pd(_mm256_cvtps_pd(d), _mm256_cvtepi32_pd(is));
	if (dm)
		t = _mm256_add_pd(t, _mm256_mul_pd(_mm256_cvtps_pd(v_f16x4(w + 2, ws)),
						   _mm256_cvtps_pd(v_f16x4(a + 2, as))));
	return _mm256_add_pd(acc, t);
}

ATTR static inline void v_acc_store(vacc acc, double s[4])
{
	_mm256_storeu_pd(s, acc);
}

#elif defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#define ATTR
typedef int8x16x2_t v8;

static inline v8 v_load(const uint8_t *p)
{
	v8 r = {{vld1q_s8((const int8_t *)p), vld1q_s8((const int8_t *)p + 16)}};
	return r;
}

static inline v8 v_nibbles(const uint8_t *p)
{
	uint8x16_t b = vld1q_u8(p);
	v8 r = {{vreinterpretq_s8_u8(vandq_u8(b, vdupq_n_u8(0x0f))),
		 vreinterpretq_s8_u8(vshrq_n_u8(b, 4))}};
	return r;
}

static inline v8 v_bits16(uint32_t qh)
{
	static const uint8_t bit[16] = {1, 2, 4, 8, 16, 32, 64, 128,
					1, 2, 4, 8, 16, 32, 64, 128};
	uint8x16_t m = vld1q_u8(bit), sixteen = vdupq_n_u8(16);
	uint8x16_t lo = vcombine_u8(vdup_n_u8((uint8_t)qh), vdup_n_u8((uint8_t)(qh >> 8)));
	uint8x16_t hi = vcombine_u8(vdup_n_u8((uint8_t)(qh >> 16)),
				    vdup_n_u8((uint8_t)(qh >> 24)));
	v8 r = {{vreinterpretq_s8_u8(vandq_u8(vtstq_u8(lo, m), sixteen)),
		 vreinterpretq_s8_u8(vandq_u8(vtstq_u8(hi, m), sixteen))}};
	return r;
}

static inline v8 v_or(v8 x, v8 y)
{
	v8 r = {{vorrq_s8(x.val[0], y.val[0]), vorrq_s8(x.val[1], y.val[1])}};
	return r;
}

static inline v8 v_sub(v8 x, int k)
{
	int8x16_t kk = vdupq_n_s8((int8_t)k);
	v8 r = {{vsubq_s8(x.val[0], kk), vsubq_s8(x.val[1], kk)}};
	return r;
}

/* Partial sums in 4 lanes: products widen to 16 bits (exact: |x*y| <=
 * 16384) and pairs add into 32-bit lanes. */
typedef int32x4_t vpart;

static inline vpart v_part(v8 x, v8 y)
{
	int32x4_t s = vdupq_n_s32(0);
	for (int h = 0; h < 2; h++) {
		s = vpadalq_s16(s, vmull_s8(vget_low_s8(x.val[h]), vget_low_s8(y.val[h])));
		s = vpadalq_s16(s, vmull_high_s8(x.val[h], y.val[h]));
	}
	return s;
}

typedef int32x4_t vint4;

static inline vint4 v_hsum4(vpart p0, vpart p1, vpart p2, vpart p3)
{
	return vpaddq_s32(vpaddq_s32(p0, p1), vpaddq_s32(p2, p3));
}

static inline int v_hsum(vpart p)
{
	return vaddvq_s32(p);
}

static inline float v_f16(const uint8_t *p)
{
	return ld_f16(p);
}

static inline float32x4_t v_f16x4(const uint8_t *p, int stride)
{
	uint16_t h[4] = {ld_u16(p), ld_u16(p + stride), ld_u16(p + 2 * stride),
			 ld_u16(p + 3 * stride)};
	return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h)));
}

typedef struct vacc {
	float64x2_t lo, hi;
} vacc;

static inline vacc v_acc_zero(void)
{
	vacc z = {vdupq_n_f64(0), vdupq_n_f64(0)};
	return z;
}

static inline vacc v_terms4(vacc acc, const uint8_t *w, int ws,
			    const uint8_t *a, int as, vint4 is, bool dm)
{
	float32x4_t d = vmulq_f32(v_f16x4(w, ws), v_f16x4(a, as));
	float64x2_t ilo = vcvtq_f64_s64(vmovl_s32(vget_low_s32(is)));
	float64x2_t ihi = vcvtq_f64_s64(vmovl_high_s32(is));
	float64x2_t tlo = vmulq_f64(vcvt_f64_f32(vget_low_f32(d)), ilo);
	float64x2_t thi = vmulq_f64(vcvt_high_f64_f32(d), ihi);
	if (dm) {
		float32x4_t m = v_f16x4(w + 2, ws), s = v_f16x4(a + 2, as);
		tlo = vaddq_f64(tlo, vmulq_f64(vcvt_f64_f32(vget_low_f32(m)),
					       vcvt_f64_f32(vget_low_f32(s))));
		thi = vaddq_f64(thi, vmulq_f64(vcvt_high_f64_f32(m),
					       vcvt_high_f64_f32(s)));
	}
	acc.lo = vaddq_f64(acc.lo, tlo);
	acc.hi = vaddq_f64(acc.hi, thi);
	return acc;
}

static inline void v_acc_store(vacc acc, double s[4])
{
	vst1q_f64(s, acc.lo);
	vst1q_f64(s + 2, acc.hi);
}

#else
#define SIMD_NONE
#endif

#ifndef SIMD_NONE

/* Per type: part_T gives a block's integer partial sums, term_T its term
 * of the dot from the block's integer sum, as the reference computes it.
 * Q8_0/Q8_1 activation block: d at 0, (s at 2,) quants at 2 (4). */
ATTR static inline vpart part_q4_0(const uint8_t *w, const uint8_t *a)
{
	return v_part(v_sub(v_nibbles(w + 2), 8), v_load(a + 2));
}

ATTR static inline vpart part_q4_1(const uint8_t *w, const uint8_t *a)
{
	return v_part(v_nibbles(w + 4), v_load(a + 4));
}

ATTR static inline vpart part_q5_0(const uint8_t *w, const uint8_t *a)
{
	v8 q = v_or(v_nibbles(w + 6), v_bits16(ld_u32(w + 2)));
	return v_part(v_sub(q, 16), v_load(a + 2));
}

ATTR static inline vpart part_q5_1(const uint8_t *w, const uint8_t *a)
{
	v8 q = v_or(v_nibbles(w + 8), v_bits16(ld_u32(w + 4)));
	return v_part(q, v_load(a + 4));
}

ATTR static inline vpart part_q8_0(const uint8_t *w, const uint8_t *a)
{
	return v_part(v_load(w + 2), v_load(a + 2));
}

/* d * da * isum (Q4_0, Q5_0, Q8_0) */
ATTR static inline double term_d(const uint8_t *w, const uint8_t *a, int isum)
{
	return (double)(v_f16(w) * v_f16(a)) * isum;
}

/* d * da * isum + m * s (Q4_1, Q5_1) */
ATTR static inline double term_dm(const uint8_t *w, const uint8_t *a, int isum)
{
	return (double)(v_f16(w) * v_f16(a)) * isum +
	       (double)v_f16(w + 2) * v_f16(a + 2);
}

/* The blocks in dot_acc's order (block i into chain i % 4): four at a
 * time into the four lanes of a vacc, then the rest one by one. */
#define DOT_BLOCKS(name, part, term, dm, ws, as)                               \
	ATTR static double name(int64_t nb, const uint8_t *w, const uint8_t *a) \
	{                                                                       \
		vacc acc = v_acc_zero();                                        \
		int64_t i = 0;                                                  \
		for (; i + 4 <= nb; i += 4, w += 4 * (ws), a += 4 * (as)) {     \
			vint4 is = v_hsum4(part(w, a), part(w + (ws), a + (as)), \
					   part(w + 2 * (ws), a + 2 * (as)),     \
					   part(w + 3 * (ws), a + 3 * (as)));    \
			acc = v_terms4(acc, w, ws, a, as, is, dm);              \
		}                                                               \
		double s[4];                                                    \
		v_acc_store(acc, s);                                            \
		for (int k = 0; i < nb; i++, k++, w += (ws), a += (as))         \
			s[k] += term(w, a, v_hsum(part(w, a)));                 \
		return (s[0] + s[1]) + (s[2] + s[3]);                           \
	}

DOT_BLOCKS(dot_q4_0, part_q4_0, term_d, false, 18, 34)
DOT_BLOCKS(dot_q4_1, part_q4_1, term_dm, true, 20, 36)
DOT_BLOCKS(dot_q5_0, part_q5_0, term_d, false, 22, 34)
DOT_BLOCKS(dot_q5_1, part_q5_1, term_dm, true, 24, 36)
DOT_BLOCKS(dot_q8_0, part_q8_0, term_d, false, 34, 34)

bool duet_vec_dot_simd(duet_type t, int64_t n, const uint8_t *w,
		       const uint8_t *a, double *out)
{
	if (!duet_simd_on())
		return false;
	switch (t) {
	case DUET_TYPE_Q4_0: *out = dot_q4_0(n / 32, w, a); return true;
	case DUET_TYPE_Q4_1: *out = dot_q4_1(n / 32, w, a); return true;
	case DUET_TYPE_Q5_0: *out = dot_q5_0(n / 32, w, a); return true;
	case DUET_TYPE_Q5_1: *out = dot_q5_1(n / 32, w, a); return true;
	case DUET_TYPE_Q8_0: *out = dot_q8_0(n / 32, w, a); return true;
	default: return false;
	}
}

#else

bool duet_vec_dot_simd(duet_type t, int64_t n, const uint8_t *w,
		       const uint8_t *a, double *out)
{
	(void)t, (void)n, (void)w, (void)a, (void)out;
	return false;
}

#endif
