/* SIMD forms of the dot products in quant_dot.c (AVX2 on x86-64, NEON on
 * arm64). They return the reference's result bit for bit: a block's integer
 * sum is exact in any order, every double term is computed with the
 * reference's operations lane by lane, and terms go into the reference's
 * chains in its order (dot_acc for blocks, float_chains_sum for float
 * rows). No FMA is used (the reference does not fuse), which is why the x86
 * target list leaves "fma" out.
 *
 * Each architecture supplies a vector type of 32 int8 lanes and a few
 * primitives (loads and unpacking, integer partial sums, a four-chain
 * double accumulator); the per-type loops are written once over them. The
 * float rows and the four-token K-type loops are x86 only; elsewhere those
 * fall back to the reference or to one row at a time. */
#include "quant.h"

#include "fp16.h"
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

/* Partial sums of 32 byte products in 8 lanes. */
typedef __m256i vpart;

/* A block's weights widened to 16 bits once, for several activation rows. */
typedef struct vw {
	__m256i l, h;
} vw;

ATTR static inline vw v_widen(v8 x)
{
	vw r = {_mm256_cvtepi8_epi16(_mm256_castsi256_si128(x)),
		_mm256_cvtepi8_epi16(_mm256_extracti128_si256(x, 1))};
	return r;
}

ATTR static inline vpart v_partw(vw x, v8 y)
{
	__m256i yl = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(y));
	__m256i yh = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(y, 1));
	return _mm256_add_epi32(_mm256_madd_epi16(x.l, yl), _mm256_madd_epi16(x.h, yh));
}

/* x widened and times a scale, lo for bytes 0-15 and hi for 16-31 (the K
 * types' sub-block scales; exact while |x * s| < 2^15, as in v_part_sc). */
ATTR static inline vw v_widen_sc(v8 x, int lo, int hi)
{
	vw r = v_widen(x);
	r.l = _mm256_mullo_epi16(r.l, _mm256_set1_epi16((short)lo));
	r.h = _mm256_mullo_epi16(r.h, _mm256_set1_epi16((short)hi));
	return r;
}
#define HAVE_WIDEN_SC 1

/* Partial sums of x[j] * y[j] over 32 signed bytes, exact for every input
 * (widened to 16 bits first, so -128 * -128 cannot saturate). */
ATTR static inline vpart v_part(v8 x, v8 y)
{
	return v_partw(v_widen(x), y);
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

/* K types: the low and high nibbles of 32 bytes; bytes that are 16 where
 * bit b of q is set; ((q >> shift) & 3) << 4 per byte. */
ATTR static inline v8 v_lo4(v8 q)
{
	return _mm256_and_si256(q, _mm256_set1_epi8(0x0f));
}

ATTR static inline v8 v_hi4(v8 q)
{
	return _mm256_and_si256(_mm256_srli_epi16(q, 4), _mm256_set1_epi8(0x0f));
}

ATTR static inline v8 v_bit16(v8 q, int b)
{
	__m256i m = _mm256_set1_epi8((char)(1 << b));
	return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(q, m), m),
				_mm256_set1_epi8(16));
}

ATTR static inline v8 v_bits2(v8 q, int shift)
{
	__m256i x = _mm256_and_si256(_mm256_srl_epi16(q, _mm_cvtsi32_si128(shift)),
				     _mm256_set1_epi8(3));
	return _mm256_slli_epi16(x, 4); /* values <= 3: no carry between bytes */
}

/* Partial sums of x[j] * s * y[j], s = lo for j < 16 and hi for the rest;
 * exact while |x * s| < 2^15 (the K types: |x| <= 32, |s| <= 128). */
ATTR static inline vpart v_part_sc(v8 x, v8 y, int lo, int hi)
{
	return v_partw(v_widen_sc(x, lo, hi), y);
}

ATTR static inline vpart v_padd(vpart x, vpart y)
{
	return _mm256_add_epi32(x, y);
}

ATTR static inline vpart v_pzero(void)
{
	return _mm256_setzero_si256();
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

/* Float rows: eight elements as doubles (every conversion exact), in
 * two 4-lane halves; elements i and i + 4 of each group of 8 go to the
 * lanes of chains i % 8 (see float_chains_sum). */
ATTR static inline void f_load8(const uint8_t *p, int kind, __m256d *lo, __m256d *hi)
{
	__m256 f;
	if (kind == 0) {
		f = _mm256_loadu_ps((const float *)(const void *)p);
	} else if (kind == 1) {
		f = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p));
	} else {
		__m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
		f = _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
	}
	*lo = _mm256_cvtps_pd(_mm256_castps256_ps128(f));
	*hi = _mm256_cvtps_pd(_mm256_extractf128_ps(f, 1));
}

/* kind: 0 F32, 1 F16, 2 BF16 */
ATTR static double dot_float(int64_t n, const uint8_t *w, const uint8_t *a, int kind)
{
	int es = kind == 0 ? 4 : 2;
	__m256d c0 = _mm256_setzero_pd(), c1 = _mm256_setzero_pd();
	int64_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256d wl, wh, al, ah;
		f_load8(w + es * i, kind, &wl, &wh);
		f_load8(a + es * i, kind, &al, &ah);
		c0 = _mm256_add_pd(c0, _mm256_mul_pd(wl, al));
		c1 = _mm256_add_pd(c1, _mm256_mul_pd(wh, ah));
	}
	double c[8];
	_mm256_storeu_pd(c, c0);
	_mm256_storeu_pd(c + 4, c1);
	for (; i < n; i++) {
		double x = kind == 0 ? ld_f32(w + 4 * i) : kind == 1 ? v_f16(w + 2 * i)
				     : duet_bf16_to_f32(ld_u16(w + 2 * i));
		double y = kind == 0 ? ld_f32(a + 4 * i) : kind == 1 ? v_f16(a + 2 * i)
				     : duet_bf16_to_f32(ld_u16(a + 2 * i));
		c[i & 7] += x * y;
	}
	return float_chains_sum(c);
}
#define HAVE_FLOAT_DOT 1

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

/* NEON widens inside vmull: nothing to share. */
typedef v8 vw;

static inline vw v_widen(v8 x)
{
	return x;
}

static inline vpart v_partw(vw x, v8 y)
{
	return v_part(x, y);
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

static inline v8 v_lo4(v8 q)
{
	int8x16_t m = vdupq_n_s8(0x0f);
	v8 r = {{vandq_s8(q.val[0], m), vandq_s8(q.val[1], m)}};
	return r;
}

static inline v8 v_hi4(v8 q)
{
	v8 r = {{vreinterpretq_s8_u8(vshrq_n_u8(vreinterpretq_u8_s8(q.val[0]), 4)),
		 vreinterpretq_s8_u8(vshrq_n_u8(vreinterpretq_u8_s8(q.val[1]), 4))}};
	return r;
}

static inline v8 v_bit16(v8 q, int b)
{
	uint8x16_t m = vdupq_n_u8((uint8_t)(1 << b)), sixteen = vdupq_n_u8(16);
	v8 r = {{vreinterpretq_s8_u8(vandq_u8(vtstq_u8(vreinterpretq_u8_s8(q.val[0]), m), sixteen)),
		 vreinterpretq_s8_u8(vandq_u8(vtstq_u8(vreinterpretq_u8_s8(q.val[1]), m), sixteen))}};
	return r;
}

static inline v8 v_bits2(v8 q, int shift)
{
	int8x16_t sh = vdupq_n_s8((int8_t)-shift);
	uint8x16_t three = vdupq_n_u8(3);
	v8 r;
	for (int h = 0; h < 2; h++) {
		uint8x16_t x = vandq_u8(vshlq_u8(vreinterpretq_u8_s8(q.val[h]), sh), three);
		r.val[h] = vreinterpretq_s8_u8(vshlq_n_u8(x, 4));
	}
	return r;
}

/* x[j] * y[j] widens to 16 bits exactly (|x| <= 32), then times the
 * scale into 32 bits. */
static inline vpart v_part_sc(v8 x, v8 y, int lo, int hi)
{
	int32x4_t s = vdupq_n_s32(0);
	int16_t sc[2] = {(int16_t)lo, (int16_t)hi};
	for (int h = 0; h < 2; h++) {
		int16x8_t p0 = vmull_s8(vget_low_s8(x.val[h]), vget_low_s8(y.val[h]));
		int16x8_t p1 = vmull_high_s8(x.val[h], y.val[h]);
		s = vmlal_n_s16(s, vget_low_s16(p0), sc[h]);
		s = vmlal_high_n_s16(s, p0, sc[h]);
		s = vmlal_n_s16(s, vget_low_s16(p1), sc[h]);
		s = vmlal_high_n_s16(s, p1, sc[h]);
	}
	return s;
}

static inline vpart v_padd(vpart x, vpart y)
{
	return vaddq_s32(x, y);
}

static inline vpart v_pzero(void)
{
	return vdupq_n_s32(0);
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

/* Per type: unpack_T gives a block's 32 weights as signed bytes, part_T
 * its integer partial sums against an activation block, term_T its term
 * of the dot from the block's integer sum, as the reference computes it.
 * Q8_0/Q8_1 activation block: d at 0, (s at 2,) quants at 2 (4). */
ATTR static inline v8 unpack_q4_0(const uint8_t *w)
{
	return v_sub(v_nibbles(w + 2), 8);
}

ATTR static inline v8 unpack_q4_1(const uint8_t *w)
{
	return v_nibbles(w + 4);
}

ATTR static inline v8 unpack_q5_0(const uint8_t *w)
{
	return v_sub(v_or(v_nibbles(w + 6), v_bits16(ld_u32(w + 2))), 16);
}

ATTR static inline v8 unpack_q5_1(const uint8_t *w)
{
	return v_or(v_nibbles(w + 8), v_bits16(ld_u32(w + 4)));
}

ATTR static inline v8 unpack_q8_0(const uint8_t *w)
{
	return v_load(w + 2);
}

ATTR static inline vpart part_q4_0(const uint8_t *w, const uint8_t *a)
{
	return v_part(unpack_q4_0(w), v_load(a + 2));
}

ATTR static inline vpart part_q4_1(const uint8_t *w, const uint8_t *a)
{
	return v_part(unpack_q4_1(w), v_load(a + 4));
}

ATTR static inline vpart part_q5_0(const uint8_t *w, const uint8_t *a)
{
	return v_part(unpack_q5_0(w), v_load(a + 2));
}

ATTR static inline vpart part_q5_1(const uint8_t *w, const uint8_t *a)
{
	return v_part(unpack_q5_1(w), v_load(a + 4));
}

ATTR static inline vpart part_q8_0(const uint8_t *w, const uint8_t *a)
{
	return v_part(unpack_q8_0(w), v_load(a + 2));
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

/* The same dots of one weight row against m <= 4 activation rows astr
 * bytes apart: each group of four weight blocks is unpacked and widened
 * once for all of them; every row's sums are the one-row form's. */
#define DOT_BLOCKS_N(name, unpack, part, term, dm, ws, as, qo)                   \
	ATTR static void name(int64_t nb, const uint8_t *w, const uint8_t *a,     \
			      uint64_t astr, uint32_t m, double *out)            \
	{                                                                         \
		vacc acc[4] = {v_acc_zero(), v_acc_zero(), v_acc_zero(),          \
			       v_acc_zero()};                                     \
		int64_t i = 0;                                                    \
		for (; i + 4 <= nb; i += 4) {                                     \
			const uint8_t *wb = w + i * (ws);                         \
			vw q0 = v_widen(unpack(wb)), q1 = v_widen(unpack(wb + (ws)));  \
			vw q2 = v_widen(unpack(wb + 2 * (ws)));                   \
			vw q3 = v_widen(unpack(wb + 3 * (ws)));                   \
			for (uint32_t j = 0; j < m; j++) {                        \
				const uint8_t *ab = a + j * astr + i * (as);      \
				vint4 is = v_hsum4(                               \
					v_partw(q0, v_load(ab + (qo))),           \
					v_partw(q1, v_load(ab + (as) + (qo))),    \
					v_partw(q2, v_load(ab + 2 * (as) + (qo))), \
					v_partw(q3, v_load(ab + 3 * (as) + (qo)))); \
				acc[j] = v_terms4(acc[j], wb, ws, ab, as, is, dm); \
			}                                                         \
		}                                                                 \
		for (uint32_t j = 0; j < m; j++) {                                \
			double s[4];                                              \
			v_acc_store(acc[j], s);                                   \
			const uint8_t *wb = w + i * (ws), *ab = a + j * astr + i * (as); \
			for (int k = 0; i + k < nb; k++, wb += (ws), ab += (as))  \
				s[k] += term(wb, ab, v_hsum(part(wb, ab)));       \
			out[j] = (s[0] + s[1]) + (s[2] + s[3]);                   \
		}                                                                 \
	}

DOT_BLOCKS_N(dots_q4_0, unpack_q4_0, part_q4_0, term_d, false, 18, 34, 2)
DOT_BLOCKS_N(dots_q4_1, unpack_q4_1, part_q4_1, term_dm, true, 20, 36, 4)
DOT_BLOCKS_N(dots_q5_0, unpack_q5_0, part_q5_0, term_d, false, 22, 34, 2)
DOT_BLOCKS_N(dots_q5_1, unpack_q5_1, part_q5_1, term_dm, true, 24, 36, 4)
DOT_BLOCKS_N(dots_q8_0, unpack_q8_0, part_q8_0, term_d, false, 34, 34, 2)

/* Q6_K: the 32 signed values (-32..31) of quarter k of a 128-element half
 * whose low nibbles are q0 (ql[0..31]) and q1 (ql[32..63]) and whose high
 * bits are qh (see q6k_unpack). */
ATTR static inline v8 q6k_quarter(v8 q0, v8 q1, v8 qh, int k)
{
	v8 q = k & 1 ? q1 : q0;
	return v_sub(v_or(k < 2 ? v_lo4(q) : v_hi4(q), v_bits2(qh, 2 * k)), 32);
}

#ifdef HAVE_WIDEN_SC
/* The K types against m <= 4 activation rows: a super-block's scales and
 * values are unpacked (and scaled, widened) once for all rows. */
ATTR static void dots_q45_k(int64_t nb, const uint8_t *w, const uint8_t *a, uint64_t astr,
			    uint32_t m, bool five, double *out)
{
	dot_acc acc[4] = {{{0}}, {{0}}, {{0}}, {{0}}};
	int wbytes = five ? 176 : 144;
	for (int64_t i = 0; i < nb; i++, w += wbytes) {
		uint8_t sc[8], mn[8];
		k_scales_unpack(w + 4, sc, mn);
		const uint8_t *qs = w + (five ? 48 : 16);
		v8 qh = v_load(w + 16);
		vpart p[4] = {v_pzero(), v_pzero(), v_pzero(), v_pzero()};
		for (int c = 0; c < 4; c++) {
			v8 q = v_load(qs + 32 * c), lo = v_lo4(q), hi = v_hi4(q);
			if (five) {
				lo = v_or(lo, v_bit16(qh, 2 * c));
				hi = v_or(hi, v_bit16(qh, 2 * c + 1));
			}
			vw wl = v_widen_sc(lo, sc[2 * c], sc[2 * c]);
			vw wh = v_widen_sc(hi, sc[2 * c + 1], sc[2 * c + 1]);
			for (uint32_t j = 0; j < m; j++) {
				const uint8_t *ab = a + j * astr + i * 292;
				p[j] = v_padd(p[j], v_padd(v_partw(wl, v_load(ab + 4 + 64 * c)),
							   v_partw(wh, v_load(ab + 36 + 64 * c))));
			}
		}
		for (uint32_t j = 0; j < m; j++) {
			const uint8_t *ab = a + j * astr + i * 292;
			int isum = v_hsum(p[j]), msum = 0;
			for (int s = 0; s < 8; s++)
				msum += mn[s] * ((int16_t)ld_u16(ab + 260 + 4 * s) +
						 (int16_t)ld_u16(ab + 262 + 4 * s));
			float da = ld_f32(ab);
			acc_add(&acc[j], i, (double)(v_f16(w) * da) * isum -
					    (double)(v_f16(w + 2) * da) * msum);
		}
	}
	for (uint32_t j = 0; j < m; j++)
		out[j] = acc_sum(&acc[j]);
}

ATTR static void dots_q6_k(int64_t nb, const uint8_t *w, const uint8_t *a, uint64_t astr,
			   uint32_t m, double *out)
{
	dot_acc acc[4] = {{{0}}, {{0}}, {{0}}, {{0}}};
	for (int64_t i = 0; i < nb; i++, w += 210) {
		const int8_t *sc = (const int8_t *)(w + 192);
		vpart p[4] = {v_pzero(), v_pzero(), v_pzero(), v_pzero()};
		for (int c = 0; c < 2; c++) {
			v8 q0 = v_load(w + 64 * c), q1 = v_load(w + 64 * c + 32);
			v8 qh = v_load(w + 128 + 32 * c);
			for (int k = 0; k < 4; k++) {
				v8 x = q6k_quarter(q0, q1, qh, k);
				int g = 8 * c + 2 * k;
				vw xw = v_widen_sc(x, sc[g], sc[g + 1]);
				for (uint32_t j = 0; j < m; j++)
					p[j] = v_padd(p[j], v_partw(xw, v_load(a + j * astr + i * 292 +
										4 + 128 * c + 32 * k)));
			}
		}
		for (uint32_t j = 0; j < m; j++)
			acc_add(&acc[j], i, (double)(v_f16(w + 208) * ld_f32(a + j * astr + i * 292)) *
					    v_hsum(p[j]));
	}
	for (uint32_t j = 0; j < m; j++)
		out[j] = acc_sum(&acc[j]);
}
#endif

bool duet_vec_dot_simd_n(duet_type t, int64_t n, const uint8_t *w, const uint8_t *a,
			 uint64_t a_stride, uint32_t m, double *out)
{
	if (m > 4 || !duet_simd_on())
		return false;
	switch (t) {
	case DUET_TYPE_Q4_0: dots_q4_0(n / 32, w, a, a_stride, m, out); return true;
	case DUET_TYPE_Q4_1: dots_q4_1(n / 32, w, a, a_stride, m, out); return true;
	case DUET_TYPE_Q5_0: dots_q5_0(n / 32, w, a, a_stride, m, out); return true;
	case DUET_TYPE_Q5_1: dots_q5_1(n / 32, w, a, a_stride, m, out); return true;
	case DUET_TYPE_Q8_0: dots_q8_0(n / 32, w, a, a_stride, m, out); return true;
#ifdef HAVE_WIDEN_SC
	case DUET_TYPE_Q4_K: dots_q45_k(n / 256, w, a, a_stride, m, false, out); return true;
	case DUET_TYPE_Q5_K: dots_q45_k(n / 256, w, a, a_stride, m, true, out); return true;
	case DUET_TYPE_Q6_K: dots_q6_k(n / 256, w, a, a_stride, m, out); return true;
#endif
	default: return false;
	}
}

/* K types, one 256-element super-block per term, in dot_acc's chains as
 * the reference. Q8_K activation: f32 d at 0, quants at 4, 16 group sums
 * (i16) at 260. */
ATTR static double dot_q45_k(int64_t nb, const uint8_t *w, const uint8_t *a,
			     bool five)
{
	dot_acc acc = {{0}};
	int wbytes = five ? 176 : 144;
	for (int64_t i = 0; i < nb; i++, w += wbytes, a += 292) {
		uint8_t sc[8], mn[8];
		k_scales_unpack(w + 4, sc, mn);
		const uint8_t *qs = w + (five ? 48 : 16);
		v8 qh = v_load(w + 16);
		vpart p = v_pzero();
		for (int c = 0; c < 4; c++) {
			v8 q = v_load(qs + 32 * c), lo = v_lo4(q), hi = v_hi4(q);
			if (five) {
				lo = v_or(lo, v_bit16(qh, 2 * c));
				hi = v_or(hi, v_bit16(qh, 2 * c + 1));
			}
			p = v_padd(p, v_part_sc(lo, v_load(a + 4 + 64 * c), sc[2 * c], sc[2 * c]));
			p = v_padd(p, v_part_sc(hi, v_load(a + 36 + 64 * c), sc[2 * c + 1],
						sc[2 * c + 1]));
		}
		int isum = v_hsum(p), msum = 0;
		for (int s = 0; s < 8; s++)
			msum += mn[s] * ((int16_t)ld_u16(a + 260 + 4 * s) +
					 (int16_t)ld_u16(a + 262 + 4 * s));
		float da = ld_f32(a);
		acc_add(&acc, i, (double)(v_f16(w) * da) * isum -
				 (double)(v_f16(w + 2) * da) * msum);
	}
	return acc_sum(&acc);
}

ATTR static double dot_q6_k(int64_t nb, const uint8_t *w, const uint8_t *a)
{
	dot_acc acc = {{0}};
	for (int64_t i = 0; i < nb; i++, w += 210, a += 292) {
		const int8_t *sc = (const int8_t *)(w + 192);
		vpart p = v_pzero();
		for (int c = 0; c < 2; c++) {
			v8 q0 = v_load(w + 64 * c), q1 = v_load(w + 64 * c + 32);
			v8 qh = v_load(w + 128 + 32 * c);
			for (int k = 0; k < 4; k++) {
				v8 x = q6k_quarter(q0, q1, qh, k);
				int g = 8 * c + 2 * k; /* 16-element groups g and g + 1 */
				p = v_padd(p, v_part_sc(x, v_load(a + 4 + 128 * c + 32 * k), sc[g],
							sc[g + 1]));
			}
		}
		acc_add(&acc, i, (double)(v_f16(w + 208) * ld_f32(a)) * v_hsum(p));
	}
	return acc_sum(&acc);
}

/* The one-row dot of each weight row (one row: duet_vec_dot), the switch
 * taken once per call. */
#define DOT_ROWS(call)                                                          \
	do {                                                                   \
		for (uint32_t r = 0; r < rows; r++, w += w_stride)             \
			out[r] = (float)(call);                                 \
	} while (0)

bool duet_vec_dot_simd_rows(duet_type t, int64_t n, const uint8_t *w, uint64_t w_stride,
			    uint32_t rows, const uint8_t *a, float *out)
{
	if (!duet_simd_on())
		return false;
	switch (t) {
	case DUET_TYPE_Q4_0: DOT_ROWS(dot_q4_0(n / 32, w, a)); return true;
	case DUET_TYPE_Q4_1: DOT_ROWS(dot_q4_1(n / 32, w, a)); return true;
	case DUET_TYPE_Q5_0: DOT_ROWS(dot_q5_0(n / 32, w, a)); return true;
	case DUET_TYPE_Q5_1: DOT_ROWS(dot_q5_1(n / 32, w, a)); return true;
	case DUET_TYPE_Q8_0: DOT_ROWS(dot_q8_0(n / 32, w, a)); return true;
#ifdef HAVE_FLOAT_DOT
	case DUET_TYPE_F32: DOT_ROWS(dot_float(n, w, a, 0)); return true;
	case DUET_TYPE_F16: DOT_ROWS(dot_float(n, w, a, 1)); return true;
	case DUET_TYPE_BF16: DOT_ROWS(dot_float(n, w, a, 2)); return true;
#endif
	case DUET_TYPE_Q4_K: DOT_ROWS(dot_q45_k(n / 256, w, a, false)); return true;
	case DUET_TYPE_Q5_K: DOT_ROWS(dot_q45_k(n / 256, w, a, true)); return true;
	case DUET_TYPE_Q6_K: DOT_ROWS(dot_q6_k(n / 256, w, a)); return true;
	default: return false;
	}
}

#else

bool duet_vec_dot_simd_n(duet_type t, int64_t n, const uint8_t *w, const uint8_t *a,
			 uint64_t a_stride, uint32_t m, double *out)
{
	(void)t, (void)n, (void)w, (void)a, (void)a_stride, (void)m, (void)out;
	return false;
}

bool duet_vec_dot_simd_rows(duet_type t, int64_t n, const uint8_t *w, uint64_t w_stride,
			    uint32_t rows, const uint8_t *a, float *out)
{
	(void)t, (void)n, (void)w, (void)w_stride, (void)rows, (void)a, (void)out;
	return false;
}

#endif

/* ---- activations to Q8_0 / Q8_1 ------------------------------------------ */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* quant_q8's operations lane by lane: the block's largest |x| (NaN skipped,
 * as fmaxf), its scale and inverse in scalar code, x * id rounded half away
 * from zero (truncate, then step away where the remainder is >= 0.5: exact
 * for every float), clamped to [-127, 127] with NaN as 0. */
ATTR static __m256i q8_lanes(const float *x, __m256 id)
{
	__m256 v = _mm256_mul_ps(_mm256_loadu_ps(x), id);
	__m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
	__m256 sign = _mm256_and_ps(v, _mm256_set1_ps(-0.0f));
	__m256 rem = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_sub_ps(v, t));
	__m256 up = _mm256_cmp_ps(rem, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
	t = _mm256_add_ps(t, _mm256_and_ps(up, _mm256_or_ps(sign, _mm256_set1_ps(1.0f))));
	t = _mm256_max_ps(_mm256_min_ps(t, _mm256_set1_ps(127.0f)), _mm256_set1_ps(-127.0f));
	__m256 nan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
	return _mm256_cvtps_epi32(_mm256_andnot_ps(nan, t));
}

ATTR static void quant_q8_avx2(const float *x, uint8_t *b, int64_t nb, bool with_sum)
{
	int stride = with_sum ? 36 : 34, qoff = with_sum ? 4 : 2;
	const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
	for (int64_t i = 0; i < nb; i++, x += 32, b += stride) {
		__m256 m = _mm256_setzero_ps();
		for (int j = 0; j < 32; j += 8) /* max_ps returns m where x is NaN */
			m = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + j), abs_mask), m);
		__m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
		h = _mm_max_ps(h, _mm_movehl_ps(h, h));
		h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
		float amax = _mm_cvtss_f32(h);
		float d = amax / 127;
		float idf = d ? 1.0f / d : 0.0f;
		__m256 id = _mm256_set1_ps(idf);
		__m256i q0 = q8_lanes(x, id), q1 = q8_lanes(x + 8, id);
		__m256i q2 = q8_lanes(x + 16, id), q3 = q8_lanes(x + 24, id);
		__m256i q = _mm256_packs_epi16(_mm256_packs_epi32(q0, q1), _mm256_packs_epi32(q2, q3));
		q = _mm256_permutevar8x32_epi32(q, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
		_mm256_storeu_si256((__m256i *)(void *)(b + qoff), q);
		st_f16(b, d);
		if (with_sum) {
			/* the 32 values' sum: bytes widened and added in pairs */
			__m256i s16 = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q),
							_mm256_set1_epi16(1));
			__m128i s = _mm_add_epi32(_mm256_castsi256_si128(s16),
						  _mm256_extracti128_si256(s16, 1));
			s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
			s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
			st_f16(b + 2, (float)_mm_cvtsi128_si32(s) * d);
		}
	}
}

bool duet_quantize_q8_simd(const float *x, uint8_t *b, int64_t nb, bool with_sum)
{
	if (!duet_simd_on())
		return false;
	quant_q8_avx2(x, b, nb, with_sum);
	return true;
}
#else
bool duet_quantize_q8_simd(const float *x, uint8_t *b, int64_t nb, bool with_sum)
{
	(void)x, (void)b, (void)nb, (void)with_sum;
	return false;
}
#endif
