/* Tensor types: the type table, dequantization and quantization of rows.
 * Layouts are documented in quant.h; dot products live in quant_dot.c. */
#include "quant.h"

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "fp16.h"
#include "quant_impl.h"
#include "quant_simd.h"

#define T(id, nm, el, by, comp, dot) \
	[id] = { nm, el, by, comp, dot }

static const duet_type_info type_table[DUET_TYPE_COUNT] = {
	T(DUET_TYPE_F32, "f32", 1, 4, true, DUET_TYPE_F32),
	T(DUET_TYPE_F16, "f16", 1, 2, true, DUET_TYPE_F16),
	T(DUET_TYPE_Q4_0, "q4_0", 32, 18, true, DUET_TYPE_Q8_0),
	T(DUET_TYPE_Q4_1, "q4_1", 32, 20, true, DUET_TYPE_Q8_1),
	T(DUET_TYPE_Q5_0, "q5_0", 32, 22, true, DUET_TYPE_Q8_0),
	T(DUET_TYPE_Q5_1, "q5_1", 32, 24, true, DUET_TYPE_Q8_1),
	T(DUET_TYPE_Q8_0, "q8_0", 32, 34, true, DUET_TYPE_Q8_0),
	T(DUET_TYPE_Q8_1, "q8_1", 32, 36, false, DUET_TYPE_Q8_1),
	T(DUET_TYPE_Q2_K, "q2_K", 256, 84, false, DUET_TYPE_Q8_K),
	T(DUET_TYPE_Q3_K, "q3_K", 256, 110, false, DUET_TYPE_Q8_K),
	T(DUET_TYPE_Q4_K, "q4_K", 256, 144, true, DUET_TYPE_Q8_K),
	T(DUET_TYPE_Q5_K, "q5_K", 256, 176, true, DUET_TYPE_Q8_K),
	T(DUET_TYPE_Q6_K, "q6_K", 256, 210, true, DUET_TYPE_Q8_K),
	T(DUET_TYPE_Q8_K, "q8_K", 256, 292, false, DUET_TYPE_Q8_K),
	T(DUET_TYPE_IQ2_XXS, "iq2_xxs", 256, 66, false, DUET_TYPE_Q8_K),
	T(DUET_TYPE_IQ2_XS, "iq2_xs", 256, 74, false, DUET_TYPE_Q8_K),
	T(DUET_TYPE_IQ3_XXS, "iq3_xxs", 256, 98, false, DUET_TYPE_Q8_K),
	T(DUET_TYPE_IQ1_S, "iq1_s", 256, 50, false, DUET_TYPE_Q8_K),
	T(DUET_TYPE_IQ4_NL, "iq4_nl", 32, 18, false, DUET_TYPE_Q8_0),
	T(DUET_TYPE_IQ3_S, "iq3_s", 256, 110, false, DUET_TYPE_Q8_K),
	T(DUET_TYPE_IQ2_S, "iq2_s", 256, 82, false, DUET_TYPE_Q8_K),
	T(DUET_TYPE_IQ4_XS, "iq4_xs", 256, 136, false, DUET_TYPE_Q8_K),
	T(DUET_TYPE_I8, "i8", 1, 1, false, DUET_TYPE_I8),
	T(DUET_TYPE_I16, "i16", 1, 2, false, DUET_TYPE_I16),
	T(DUET_TYPE_I32, "i32", 1, 4, false, DUET_TYPE_I32),
	T(DUET_TYPE_I64, "i64", 1, 8, false, DUET_TYPE_I64),
	T(DUET_TYPE_F64, "f64", 1, 8, false, DUET_TYPE_F64),
	T(DUET_TYPE_IQ1_M, "iq1_m", 256, 56, false, DUET_TYPE_Q8_K),
	T(DUET_TYPE_BF16, "bf16", 1, 2, true, DUET_TYPE_BF16),
	T(DUET_TYPE_TQ1_0, "tq1_0", 256, 54, false, DUET_TYPE_Q8_K),
	T(DUET_TYPE_TQ2_0, "tq2_0", 256, 66, false, DUET_TYPE_Q8_K),
	T(DUET_TYPE_MXFP4, "mxfp4", 32, 17, false, DUET_TYPE_Q8_0),
};

const duet_type_info *duet_type_get(uint32_t t)
{
	if (t >= DUET_TYPE_COUNT || !type_table[t].name)
		return NULL;
	return &type_table[t];
}

const char *duet_type_name(uint32_t t)
{
	const duet_type_info *ti = duet_type_get(t);
	return ti ? ti->name : "unknown";
}

int duet_type_from_name(const char *s)
{
	for (int t = 0; t < DUET_TYPE_COUNT; t++) {
		const char *n = type_table[t].name;
		if (!n)
			continue;
		size_t i = 0;
		while (n[i] && s[i] && tolower((unsigned char)n[i]) ==
					       tolower((unsigned char)s[i]))
			i++;
		if (!n[i] && !s[i])
			return t;
	}
	return -1;
}

uint64_t duet_type_row_bytes(uint32_t t, uint64_t n)
{
	const duet_type_info *ti = duet_type_get(t);
	if (!ti || n % ti->block_elems)
		return 0;
	return n / ti->block_elems * ti->block_bytes;
}

/* ---- dequantization ---------------------------------------------------- */

static void dequant_q4_0(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += 18, y += 32) {
		float d = ld_f16(b);
		const uint8_t *qs = b + 2;
		for (int j = 0; j < 16; j++) {
			y[j] = ((qs[j] & 0xf) - 8) * d;
			y[j + 16] = ((qs[j] >> 4) - 8) * d;
		}
	}
}

static void dequant_q4_1(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += 20, y += 32) {
		float d = ld_f16(b), m = ld_f16(b + 2);
		const uint8_t *qs = b + 4;
		for (int j = 0; j < 16; j++) {
			y[j] = (qs[j] & 0xf) * d + m;
			y[j + 16] = (qs[j] >> 4) * d + m;
		}
	}
}

static void dequant_q5_0(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += 22, y += 32) {
		float d = ld_f16(b);
		uint32_t qh = ld_u32(b + 2);
		const uint8_t *qs = b + 6;
		for (int j = 0; j < 16; j++) {
			y[j] = (q5_lo(qs, qh, j) - 16) * d;
			y[j + 16] = (q5_hi(qs, qh, j) - 16) * d;
		}
	}
}

static void dequant_q5_1(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += 24, y += 32) {
		float d = ld_f16(b), m = ld_f16(b + 2);
		uint32_t qh = ld_u32(b + 4);
		const uint8_t *qs = b + 8;
		for (int j = 0; j < 16; j++) {
			y[j] = q5_lo(qs, qh, j) * d + m;
			y[j + 16] = q5_hi(qs, qh, j) * d + m;
		}
	}
}

static void dequant_q8_0(const uint8_t *b, float *y, int64_t nb, int stride,
			 int qoff)
{
	for (int64_t i = 0; i < nb; i++, b += stride, y += 32) {
		float d = ld_f16(b);
		const int8_t *qs = (const int8_t *)(b + qoff);
		for (int j = 0; j < 32; j++)
			y[j] = qs[j] * d;
	}
}

/* Q4_K/Q5_K: x = d*sc[s]*q - dmin*mn[s] for sub-block s = element / 32. */
static void dequant_q45_k(const uint8_t *b, float *y, int64_t nb, bool five)
{
	int bytes = five ? 176 : 144;
	for (int64_t i = 0; i < nb; i++, b += bytes, y += 256) {
		float d = ld_f16(b), dmin = ld_f16(b + 2);
		uint8_t sc[8], mn[8], L[256];
		k_scales_unpack(b + 4, sc, mn);
		k_values_unpack(b + (five ? 48 : 16), five ? b + 16 : NULL, L);
		for (int e = 0; e < 256; e++)
			y[e] = d * sc[e / 32] * L[e] - dmin * mn[e / 32];
	}
}

static void dequant_q6_k(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += 210, y += 256) {
		float d = ld_f16(b + 208);
		const int8_t *sc = (const int8_t *)(b + 192);
		int8_t v[256];
		q6k_unpack(b, v);
		for (int e = 0; e < 256; e++)
			y[e] = d * sc[e / 16] * v[e];
	}
}

static void dequant_q8_k(const uint8_t *b, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, b += 292, y += 256) {
		float d = ld_f32(b);
		const int8_t *qs = (const int8_t *)(b + 4);
		for (int j = 0; j < 256; j++)
			y[j] = d * qs[j];
	}
}

void duet_dequantize_row(duet_type t, const void *src, float *dst, int64_t n)
{
	const uint8_t *b = src;
	switch (t) {
	case DUET_TYPE_F32:
		memcpy(dst, src, (size_t)n * sizeof(float));
		return;
	case DUET_TYPE_F16:
		for (int64_t i = 0; i < n; i++)
			dst[i] = ld_f16(b + 2 * i);
		return;
	case DUET_TYPE_BF16:
		for (int64_t i = 0; i < n; i++)
			dst[i] = duet_bf16_to_f32(ld_u16(b + 2 * i));
		return;
	case DUET_TYPE_Q4_0: dequant_q4_0(b, dst, n / 32); return;
	case DUET_TYPE_Q4_1: dequant_q4_1(b, dst, n / 32); return;
	case DUET_TYPE_Q5_0: dequant_q5_0(b, dst, n / 32); return;
	case DUET_TYPE_Q5_1: dequant_q5_1(b, dst, n / 32); return;
	case DUET_TYPE_Q8_0: dequant_q8_0(b, dst, n / 32, 34, 2); return;
	case DUET_TYPE_Q8_1: dequant_q8_0(b, dst, n / 32, 36, 4); return;
	case DUET_TYPE_Q4_K: dequant_q45_k(b, dst, n / 256, false); return;
	case DUET_TYPE_Q5_K: dequant_q45_k(b, dst, n / 256, true); return;
	case DUET_TYPE_Q6_K: dequant_q6_k(b, dst, n / 256); return;
	case DUET_TYPE_Q8_K: dequant_q8_k(b, dst, n / 256); return;
	default:
		/* Callers check duet_type_get(t)->compute first. */
		memset(dst, 0, (size_t)n * sizeof(float));
		return;
	}
}

/* ---- quantization: *_0 / *_1 blocks ------------------------------------ */

/* Returns the element of largest magnitude, keeping its sign. */
static float signed_absmax(const float *x, int n)
{
	float amax = 0, max = 0;
	for (int j = 0; j < n; j++) {
		if (fabsf(x[j]) > amax) {
			amax = fabsf(x[j]);
			max = x[j];
		}
	}
	return max;
}

static void min_max(const float *x, int n, float *mn, float *mx)
{
	*mn = FLT_MAX;
	*mx = -FLT_MAX;
	for (int j = 0; j < n; j++) {
		*mn = fminf(*mn, x[j]);
		*mx = fmaxf(*mx, x[j]);
	}
}

static void quant_q4_0(const float *x, uint8_t *b, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, x += 32, b += 18) {
		/* The extreme value maps to -8 so the full 4-bit range is used. */
		float d = signed_absmax(x, 32) / -8;
		float id = d ? 1.0f / d : 0.0f;
		st_f16(b, d);
		for (int j = 0; j < 16; j++) {
			int lo = clamp_trunc(x[j] * id + 8.5f, 0, 15);
			int hi = clamp_trunc(x[j + 16] * id + 8.5f, 0, 15);
			b[2 + j] = (uint8_t)(lo | hi << 4);
		}
	}
}

static void quant_q4_1(const float *x, uint8_t *b, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, x += 32, b += 20) {
		float mn, mx;
		min_max(x, 32, &mn, &mx);
		float d = (mx - mn) / 15;
		float id = d ? 1.0f / d : 0.0f;
		st_f16(b, d);
		st_f16(b + 2, mn);
		for (int j = 0; j < 16; j++) {
			int lo = clamp_trunc((x[j] - mn) * id + 0.5f, 0, 15);
			int hi = clamp_trunc((x[j + 16] - mn) * id + 0.5f, 0, 15);
			b[4 + j] = (uint8_t)(lo | hi << 4);
		}
	}
}

/* Stores 32 five-bit values q: low nibbles in qs, fifth bits in qh. */
static void pack_q5(const int *q, uint8_t *qh_out, uint8_t *qs)
{
	uint32_t qh = 0;
	for (int j = 0; j < 16; j++) {
		qs[j] = (uint8_t)((q[j] & 0xf) | (q[j + 16] & 0xf) << 4);
		qh |= (uint32_t)((q[j] >> 4) & 1) << j;
		qh |= (uint32_t)((q[j + 16] >> 4) & 1) << (j + 16);
	}
	st_u32(qh_out, qh);
}

static void quant_q5_0(const float *x, uint8_t *b, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, x += 32, b += 22) {
		float d = signed_absmax(x, 32) / -16;
		float id = d ? 1.0f / d : 0.0f;
		int q[32];
		for (int j = 0; j < 32; j++)
			q[j] = clamp_trunc(x[j] * id + 16.5f, 0, 31);
		st_f16(b, d);
		pack_q5(q, b + 2, b + 6);
	}
}

static void quant_q5_1(const float *x, uint8_t *b, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, x += 32, b += 24) {
		float mn, mx;
		min_max(x, 32, &mn, &mx);
		float d = (mx - mn) / 31;
		float id = d ? 1.0f / d : 0.0f;
		int q[32];
		for (int j = 0; j < 32; j++)
			q[j] = clamp_trunc((x[j] - mn) * id + 0.5f, 0, 31);
		st_f16(b, d);
		st_f16(b + 2, mn);
		pack_q5(q, b + 4, b + 8);
	}
}

/* Q8_0 and Q8_1: d = max|x| / 127, q = round(x / d) (half away from zero,
 * as llama.cpp's reference quantizer). Q8_1 also stores s = d * sum(q). */
void duet_quantize_q8_ref(const float *x, uint8_t *b, int64_t nb, bool with_sum)
{
	int stride = with_sum ? 36 : 34, qoff = with_sum ? 4 : 2;
	for (int64_t i = 0; i < nb; i++, x += 32, b += stride) {
		float amax = 0;
		for (int j = 0; j < 32; j++)
			amax = fmaxf(amax, fabsf(x[j]));
		float d = amax / 127;
		float id = d ? 1.0f / d : 0.0f;
		int8_t *qs = (int8_t *)(b + qoff);
		int sum = 0;
		for (int j = 0; j < 32; j++) {
			qs[j] = (int8_t)round_away_clamp(x[j] * id, -127, 127);
			sum += qs[j];
		}
		st_f16(b, d);
		if (with_sum)
			st_f16(b + 2, (float)sum * d);
	}
}

/* Activations are quantized once per token and matrix: the SIMD form where
 * there is one (same bits). */
static void quant_q8(const float *x, uint8_t *b, int64_t nb, bool with_sum)
{
	if (!duet_quantize_q8_simd(x, b, nb, with_sum))
		duet_quantize_q8_ref(x, b, nb, with_sum);
}

/* ---- quantization: K types --------------------------------------------- */

/* Q4_K / Q5_K: each 32-element sub-block gets x ~ scale*q - min with
 * q in [0, qmax]; scales and mins are then quantized to 6 bits against the
 * super-block's d and dmin. A plain min/max fit (llama.cpp additionally
 * searches for the least-squares scale; any valid block is fine here). */
static void quant_k_scales(const float *x, int qmax, uint8_t *b, uint8_t *L)
{
	float scale[8], mins[8], max_scale = 0, max_min = 0;
	for (int s = 0; s < 8; s++) {
		float mn, mx;
		min_max(x + 32 * s, 32, &mn, &mx);
		mn = fminf(mn, 0.0f);
		scale[s] = (mx - mn) / qmax;
		mins[s] = -mn;
		max_scale = fmaxf(max_scale, scale[s]);
		max_min = fmaxf(max_min, mins[s]);
	}
	float is = max_scale > 0 ? 63.0f / max_scale : 0.0f;
	float im = max_min > 0 ? 63.0f / max_min : 0.0f;
	uint8_t ls[8], lm[8];
	for (int s = 0; s < 8; s++) {
		ls[s] = (uint8_t)clamp_int(round_even(is * scale[s]), 0, 63);
		lm[s] = (uint8_t)clamp_int(round_even(im * mins[s]), 0, 63);
	}
	st_f16(b, max_scale / 63);
	st_f16(b + 2, max_min / 63);
	k_scales_pack(ls, lm, b + 4);
	float d = ld_f16(b), dmin = ld_f16(b + 2);
	for (int s = 0; s < 8; s++) {
		float ds = d * ls[s], dm = dmin * lm[s];
		for (int l = 0; l < 32; l++) {
			int q = ds ? round_even((x[32 * s + l] + dm) / ds) : 0;
			L[32 * s + l] = (uint8_t)clamp_int(q, 0, qmax);
		}
	}
}

static void quant_q4_k(const float *x, uint8_t *b, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, x += 256, b += 144) {
		uint8_t L[256];
		memset(b, 0, 144);
		quant_k_scales(x, 15, b, L);
		uint8_t *q = b + 16;
		for (int c = 0; c < 256; c += 64, q += 32)
			for (int l = 0; l < 32; l++)
				q[l] = (uint8_t)(L[c + l] | L[c + l + 32] << 4);
	}
}

static void quant_q5_k(const float *x, uint8_t *b, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, x += 256, b += 176) {
		uint8_t L[256];
		memset(b, 0, 176);
		quant_k_scales(x, 31, b, L);
		uint8_t *qh = b + 16, *q = b + 48;
		for (int c = 0; c < 4; c++, q += 32) {
			for (int l = 0; l < 32; l++) {
				int lo = L[64 * c + l], hi = L[64 * c + l + 32];
				q[l] = (uint8_t)((lo & 0xf) | (hi & 0xf) << 4);
				qh[l] |= (uint8_t)((lo >> 4) << (2 * c));
				qh[l] |= (uint8_t)((hi >> 4) << (2 * c + 1));
			}
		}
	}
}

/* Q6_K: sixteen 16-element sub-blocks with signed 8-bit scales against d,
 * values q in [-32, 31] stored as q + 32 in 4+2 bits. */
static void quant_q6_k(const float *x, uint8_t *b, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, x += 256, b += 210) {
		float scale[16], max_scale = 0;
		for (int s = 0; s < 16; s++) {
			scale[s] = signed_absmax(x + 16 * s, 16) / -32;
			if (fabsf(scale[s]) > fabsf(max_scale))
				max_scale = scale[s];
		}
		memset(b, 0, 210);
		int8_t *sc = (int8_t *)(b + 192);
		float iscale = max_scale ? -128.0f / max_scale : 0.0f;
		for (int s = 0; s < 16; s++)
			sc[s] = (int8_t)clamp_int(round_even(iscale * scale[s]),
						  -128, 127);
		st_f16(b + 208, max_scale ? 1.0f / iscale : 0.0f);
		float d = ld_f16(b + 208);
		uint8_t L[256];
		for (int e = 0; e < 256; e++) {
			float ds = d * sc[e / 16];
			int q = ds ? round_even(x[e] / ds) : 0;
			L[e] = (uint8_t)(clamp_int(q, -32, 31) + 32);
		}
		q6k_pack(L, b);
	}
}

/* Q8_K: one float scale per 256 values, q = round(x * -127 / max), and
 * the sums of each 16 quants (used by the K-type dot products). */
static void quant_q8_k(const float *x, uint8_t *b, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, x += 256, b += 292) {
		float max = signed_absmax(x, 256);
		int8_t *qs = (int8_t *)(b + 4);
		memset(b, 0, 292);
		if (max == 0)
			continue;
		float iscale = -127.0f / max;
		for (int j = 0; j < 256; j++)
			qs[j] = (int8_t)clamp_int(round_even(iscale * x[j]), -128, 127);
		for (int g = 0; g < 16; g++) {
			int sum = 0;
			for (int l = 0; l < 16; l++)
				sum += qs[16 * g + l];
			st_u16(b + 260 + 2 * g, (uint16_t)(int16_t)sum);
		}
		st_f32(b, 1.0f / iscale);
	}
}

void duet_quantize_row(duet_type t, const float *src, void *dst, int64_t n)
{
	uint8_t *b = dst;
	switch (t) {
	case DUET_TYPE_F32:
		memcpy(dst, src, (size_t)n * sizeof(float));
		return;
	case DUET_TYPE_F16:
		for (int64_t i = 0; i < n; i++)
			st_u16(b + 2 * i, duet_f32_to_f16(src[i]));
		return;
	case DUET_TYPE_BF16:
		for (int64_t i = 0; i < n; i++)
			st_u16(b + 2 * i, duet_f32_to_bf16(src[i]));
		return;
	case DUET_TYPE_Q4_0: quant_q4_0(src, b, n / 32); return;
	case DUET_TYPE_Q4_1: quant_q4_1(src, b, n / 32); return;
	case DUET_TYPE_Q5_0: quant_q5_0(src, b, n / 32); return;
	case DUET_TYPE_Q5_1: quant_q5_1(src, b, n / 32); return;
	case DUET_TYPE_Q8_0: quant_q8(src, b, n / 32, false); return;
	case DUET_TYPE_Q8_1: quant_q8(src, b, n / 32, true); return;
	case DUET_TYPE_Q4_K: quant_q4_k(src, b, n / 256); return;
	case DUET_TYPE_Q5_K: quant_q5_k(src, b, n / 256); return;
	case DUET_TYPE_Q6_K: quant_q6_k(src, b, n / 256); return;
	case DUET_TYPE_Q8_K: quant_q8_k(src, b, n / 256); return;
	default:
		return;
	}
}
