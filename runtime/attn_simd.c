/* The CPU attention's inner loops (see attn_simd.h): the scalar reference,
 * and AVX2+F16C+FMA (x86-64) or NEON (arm64) forms equal to it bit for
 * bit. The half conversions are exact and round to nearest even like
 * duet_f32_to_f16; the fused multiply-adds are fmaf lane by lane; the score
 * sums keep the reference's d order by giving each position its own lane. */
#include "attn_simd.h"

#include <math.h>
#include <string.h>
#include "fp16.h"
#include "simd.h"

/* ---- scalar reference ---------------------------------------------------- */

float duet_attn_score_ref(const duet_kv_cache *kv, uint32_t layer, uint32_t col0,
		       const float *q, uint32_t j, uint32_t hd, float scale)
{
	const uint8_t *k = duet_kv_row(kv, 0, layer, j);
	float dot = 0.0f;
	for (uint32_t d = 0; d < hd; d++)
		dot += q[d] * duet_kv_value(kv->type, k, kv->n_embd_kv, col0 + d);
	return dot * scale;
}

void duet_attn_rescale_ref(float *acc, uint32_t hd, float ms, bool f16)
{
	for (uint32_t d = 0; d < hd; d++)
		acc[d] = f16 ? duet_round_f16(acc[d] * ms) : acc[d] * ms;
}

bool duet_attn_accumulate_ref(float *acc, duet_kv_type t, const uint8_t *row,
			      uint32_t n, uint32_t col0, uint32_t hd, float vs,
			      bool f16)
{
	for (uint32_t d = 0; d < hd; d++) {
		float a = fmaf(duet_kv_value(t, row, n, col0 + d), vs, acc[d]);
		acc[d] = f16 ? duet_round_f16(a) : a;
		if (!isfinite(acc[d]))
			return false;
	}
	return true;
}

/* ---- AVX2 ---------------------------------------------------------------- */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_SIMD 1
#define W 8 /* positions per score group, floats per vector */
#define ATTR __attribute__((target("avx2,f16c,fma")))

ATTR static inline __m256 ld_h8(const uint16_t *p)
{
	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p));
}

/* Eight values from column c of a row of n values of type t: exact
 * conversions, and for q8_0 one product of the f16 scale and the int, as
 * duet_kv_value. */
ATTR static inline __m256 ld_row8(duet_kv_type t, const uint8_t *row, uint32_t n,
				  uint32_t c)
{
	if (t == DUET_KV_F16)
		return ld_h8((const uint16_t *)(const void *)row + c);
	if (t == DUET_KV_F32)
		return _mm256_loadu_ps((const float *)(const void *)row + c);
	__m128i q = _mm_loadl_epi64((const __m128i *)(const void *)
				    (row + duet_kv_q8_scale_bytes(n) + c));
	float d = duet_f16_to_f32(((const uint16_t *)(const void *)row)[c / 32]);
	return _mm256_mul_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)));
}

ATTR static inline __m256 round_h8(__m256 x)
{
	return _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT));
}

/* Eight positions at once, position i in lane i: for each d, lane i adds
 * q16[d] * K_i[d] (a product, then a sum: no fusing, as the reference). */
ATTR static inline void scores_w(duet_kv_type t, const uint8_t *const k[W],
				 uint32_t n, uint32_t col0, const float *q16,
				 uint32_t hd, float scale, float *out)
{
	__m256 dot = _mm256_setzero_ps();
	for (uint32_t d = 0; d < hd; d += 8) {
		uint32_t col = col0 + d;
		__m256 r0 = ld_row8(t, k[0], n, col), r1 = ld_row8(t, k[1], n, col);
		__m256 r2 = ld_row8(t, k[2], n, col), r3 = ld_row8(t, k[3], n, col);
		__m256 r4 = ld_row8(t, k[4], n, col), r5 = ld_row8(t, k[5], n, col);
		__m256 r6 = ld_row8(t, k[6], n, col), r7 = ld_row8(t, k[7], n, col);
		/* transpose: c[e] holds element d + e of the eight positions */
		__m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
		__m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
		__m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
		__m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
		__m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee);
		__m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
		__m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee);
		__m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
		__m256 c[8] = {
			_mm256_permute2f128_ps(u0, u4, 0x20), _mm256_permute2f128_ps(u1, u5, 0x20),
			_mm256_permute2f128_ps(u2, u6, 0x20), _mm256_permute2f128_ps(u3, u7, 0x20),
			_mm256_permute2f128_ps(u0, u4, 0x31), _mm256_permute2f128_ps(u1, u5, 0x31),
			_mm256_permute2f128_ps(u2, u6, 0x31), _mm256_permute2f128_ps(u3, u7, 0x31),
		};
		for (int e = 0; e < 8; e++)
			dot = _mm256_add_ps(dot, _mm256_mul_ps(_mm256_set1_ps(q16[d + e]), c[e]));
	}
	_mm256_storeu_ps(out, _mm256_mul_ps(dot, _mm256_set1_ps(scale)));
}

ATTR static void rescale_simd(float *acc, uint32_t hd, float ms, bool f16)
{
	__m256 m = _mm256_set1_ps(ms);
	for (uint32_t d = 0; d < hd; d += 8) {
		__m256 x = _mm256_mul_ps(_mm256_loadu_ps(acc + d), m);
		_mm256_storeu_ps(acc + d, f16 ? round_h8(x) : x);
	}
}

ATTR static inline bool accumulate_simd(float *acc, duet_kv_type t,
					const uint8_t *row, uint32_t n, uint32_t col0,
					uint32_t hd, float vs, bool f16)
{
	__m256 s = _mm256_set1_ps(vs), bad = _mm256_setzero_ps();
	__m256 inf = _mm256_set1_ps(INFINITY);
	__m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
	for (uint32_t d = 0; d < hd; d += 8) {
		__m256 x = _mm256_fmadd_ps(ld_row8(t, row, n, col0 + d), s,
					   _mm256_loadu_ps(acc + d));
		if (f16)
			x = round_h8(x);
		_mm256_storeu_ps(acc + d, x);
		/* not finite: |x| == inf, or x unordered (nan) */
		bad = _mm256_or_ps(bad, _mm256_cmp_ps(_mm256_and_ps(x, absmask),
						      inf, _CMP_NLT_UQ));
	}
	return _mm256_movemask_ps(bad) == 0;
}

#elif defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#define HAVE_SIMD 1
#define W 4

static inline float32x4_t ld_h4(const uint16_t *p)
{
	return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}

/* Four values from column c of a row of n values of type t (see ld_row8). */
static inline float32x4_t ld_row4(duet_kv_type t, const uint8_t *row, uint32_t n,
				  uint32_t c)
{
	if (t == DUET_KV_F16)
		return ld_h4((const uint16_t *)(const void *)row + c);
	if (t == DUET_KV_F32)
		return vld1q_f32((const float *)(const void *)row + c);
	uint32_t w;
	memcpy(&w, row + duet_kv_q8_scale_bytes(n) + c, 4);
	int16x8_t q16 = vmovl_s8(vreinterpret_s8_u32(vdup_n_u32(w)));
	float d = duet_f16_to_f32(((const uint16_t *)(const void *)row)[c / 32]);
	return vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(q16))), d);
}

static inline float32x4_t round_h4(float32x4_t x)
{
	return vcvt_f32_f16(vcvt_f16_f32(x)); /* FPCR: to nearest, even */
}

/* Four positions at once, position i in lane i (see the AVX2 form). */
static void scores_w(duet_kv_type t, const uint8_t *const k[W], uint32_t n,
		     uint32_t col0, const float *q16, uint32_t hd, float scale,
		     float *out)
{
	float32x4_t dot = vdupq_n_f32(0.0f);
	for (uint32_t d = 0; d < hd; d += 4) {
		uint32_t col = col0 + d;
		float32x4x2_t t01 = vtrnq_f32(ld_row4(t, k[0], n, col), ld_row4(t, k[1], n, col));
		float32x4x2_t t23 = vtrnq_f32(ld_row4(t, k[2], n, col), ld_row4(t, k[3], n, col));
		float32x4_t c[4] = {
			vcombine_f32(vget_low_f32(t01.val[0]), vget_low_f32(t23.val[0])),
			vcombine_f32(vget_low_f32(t01.val[1]), vget_low_f32(t23.val[1])),
			vcombine_f32(vget_high_f32(t01.val[0]), vget_high_f32(t23.val[0])),
			vcombine_f32(vget_high_f32(t01.val[1]), vget_high_f32(t23.val[1])),
		};
		for (int e = 0; e < 4; e++)
			dot = vaddq_f32(dot, vmulq_n_f32(c[e], q16[d + e]));
	}
	vst1q_f32(out, vmulq_n_f32(dot, scale));
}

static void rescale_simd(float *acc, uint32_t hd, float ms, bool f16)
{
	for (uint32_t d = 0; d < hd; d += 4) {
		float32x4_t x = vmulq_n_f32(vld1q_f32(acc + d), ms);
		vst1q_f32(acc + d, f16 ? round_h4(x) : x);
	}
}

static bool accumulate_simd(float *acc, duet_kv_type t, const uint8_t *row,
			    uint32_t n, uint32_t col0, uint32_t hd, float vs, bool f16)
{
	uint32x4_t bad = vdupq_n_u32(0);
	float32x4_t inf = vdupq_n_f32(INFINITY);
	for (uint32_t d = 0; d < hd; d += 4) {
		/* acc + v * vs, fused like fmaf */
		float32x4_t x = vfmaq_n_f32(vld1q_f32(acc + d),
					    ld_row4(t, row, n, col0 + d), vs);
		if (f16)
			x = round_h4(x);
		vst1q_f32(acc + d, x);
		/* finite: |x| < inf (false for nan) */
		bad = vorrq_u32(bad, vmvnq_u32(vcltq_f32(vabsq_f32(x), inf)));
	}
	return vmaxvq_u32(bad) == 0;
}

#else
#define HAVE_SIMD 0
#endif

/* ---- dispatch ------------------------------------------------------------ */

void duet_attn_scores(const duet_kv_cache *kv, uint32_t layer, uint32_t col0,
		      const float *q, uint32_t n_pos, uint32_t hd,
		      float scale, float *out)
{
	uint32_t j = 0;
#if HAVE_SIMD
	if (hd % W == 0 && duet_simd_on()) {
		for (; j + W <= n_pos; j += W) {
			const uint8_t *k[W];
			for (int i = 0; i < W; i++)
				k[i] = duet_kv_row(kv, 0, layer, j + (uint32_t)i);
			scores_w(kv->type, k, kv->n_embd_kv, col0, q, hd, scale, out + j);
		}
	}
#endif
	for (; j < n_pos; j++)
		out[j] = duet_attn_score_ref(kv, layer, col0, q, j, hd, scale);
}

void duet_attn_rescale(float *acc, uint32_t hd, float ms, bool f16)
{
#if HAVE_SIMD
	if (hd % W == 0 && duet_simd_on()) {
		rescale_simd(acc, hd, ms, f16);
		return;
	}
#endif
	duet_attn_rescale_ref(acc, hd, ms, f16);
}

bool duet_attn_accumulate(float *acc, duet_kv_type t, const uint8_t *row,
			  uint32_t n, uint32_t col0, uint32_t hd, float vs, bool f16)
{
#if HAVE_SIMD
	if (hd % W == 0 && duet_simd_on())
		return accumulate_simd(acc, t, row, n, col0, hd, vs, f16);
#endif
	return duet_attn_accumulate_ref(acc, t, row, n, col0, hd, vs, f16);
}
