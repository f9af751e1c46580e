/* Tensor types: half/bfloat conversions, block layouts decoded from hand-made
 * blocks (written from the GGUF layout description, not from our encoder),
 * quantization error bounds, and dot products against dequantized rows. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fp16.h"
#include "quant.h"
#include "quant_simd.h"
#include "simd.h"

static uint64_t rng_state;

static float frand(void) /* uniform in [-1, 1) */
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return (float)((rng_state >> 40) / 8388608.0 - 1.0);
}

static float gauss(void)
{
	return (frand() + frand() + frand()) * 1.0f;
}

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

Test(quant, f16_round_trips_every_half)
{
	for (uint32_t h = 0; h < 65536; h++) {
		float f = duet_f16_to_f32((uint16_t)h);
		if (isnan(f))
			continue;
		cr_assert_eq(duet_f32_to_f16(f), h, "half 0x%04x -> %g -> 0x%04x", h,
			     (double)f, duet_f32_to_f16(f));
	}
}

Test(quant, f16_rounds_to_nearest_even)
{
	cr_assert_eq(duet_f32_to_f16(1.0f), 0x3c00);
	cr_assert_eq(duet_f32_to_f16(-2.0f), 0xc000);
	cr_assert_eq(duet_f32_to_f16(65504.0f), 0x7bff);
	cr_assert_eq(duet_f32_to_f16(65520.0f), 0x7c00); /* ties up to inf */
	cr_assert_eq(duet_f32_to_f16(1.0f + 1.0f / 2048), 0x3c00); /* tie: even */
	cr_assert_eq(duet_f32_to_f16(1.0f + 3.0f / 2048), 0x3c02); /* tie: even */
	cr_assert_eq(duet_f32_to_f16(5.9604645e-08f), 0x0001); /* smallest subnormal */
	cr_assert_eq(duet_f32_to_f16(2.9802322e-08f), 0x0000); /* tie to zero */
	cr_assert(isnan(duet_f16_to_f32(duet_f32_to_f16(NAN))));
	cr_assert_eq(duet_f16_to_f32(0x0001), 5.9604645e-08f);
}

Test(quant, bf16_rounds_to_nearest_even)
{
	cr_assert_eq(duet_f32_to_bf16(1.0f), 0x3f80);
	cr_assert_eq(duet_f32_to_bf16(duet_bits_f32(0x3f808000u)), 0x3f80); /* tie, even */
	cr_assert_eq(duet_f32_to_bf16(duet_bits_f32(0x3f818000u)), 0x3f82); /* tie, even */
	cr_assert_eq(duet_f32_to_bf16(duet_bits_f32(0x3f808001u)), 0x3f81);
	cr_assert_eq(duet_bf16_to_f32(0xc040), -3.0f);
}

Test(quant, type_table_matches_gguf_sizes)
{
	struct { int t; const char *name; uint32_t el, by; } want[] = {
		{ DUET_TYPE_F32, "f32", 1, 4 },     { DUET_TYPE_F16, "f16", 1, 2 },
		{ DUET_TYPE_BF16, "bf16", 1, 2 },   { DUET_TYPE_Q4_0, "q4_0", 32, 18 },
		{ DUET_TYPE_Q4_1, "q4_1", 32, 20 }, { DUET_TYPE_Q5_0, "q5_0", 32, 22 },
		{ DUET_TYPE_Q5_1, "q5_1", 32, 24 }, { DUET_TYPE_Q8_0, "q8_0", 32, 34 },
		{ DUET_TYPE_Q4_K, "q4_K", 256, 144 }, { DUET_TYPE_Q5_K, "q5_K", 256, 176 },
		{ DUET_TYPE_Q6_K, "q6_K", 256, 210 }, { DUET_TYPE_Q8_K, "q8_K", 256, 292 },
	};
	for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
		const duet_type_info *ti = duet_type_get((uint32_t)want[i].t);
		cr_assert_not_null(ti);
		cr_assert_str_eq(ti->name, want[i].name);
		cr_assert_eq(ti->block_elems, want[i].el);
		cr_assert_eq(ti->block_bytes, want[i].by);
		cr_assert_eq(duet_type_from_name(want[i].name), want[i].t);
	}
	cr_assert_null(duet_type_get(4)); /* removed Q4_2 */
	cr_assert_null(duet_type_get(1000));
	cr_assert_eq(duet_type_from_name("Q4_k"), DUET_TYPE_Q4_K);
	cr_assert_eq(duet_type_from_name("nope"), -1);
	cr_assert_eq(duet_type_row_bytes(DUET_TYPE_Q4_K, 512), 288);
	cr_assert_eq(duet_type_row_bytes(DUET_TYPE_Q4_K, 100), 0);
}

Test(quant, q4_0_block_layout)
{
	uint8_t b[18];
	put16(b, 0x3800); /* d = 0.5 */
	for (int j = 0; j < 16; j++)
		b[2 + j] = (uint8_t)(j | (15 - j) << 4);
	float y[32];
	duet_dequantize_row(DUET_TYPE_Q4_0, b, y, 32);
	for (int j = 0; j < 16; j++) {
		cr_assert_eq(y[j], (j - 8) * 0.5f);
		cr_assert_eq(y[j + 16], (15 - j - 8) * 0.5f);
	}
}

Test(quant, q4_1_block_layout)
{
	uint8_t b[20];
	put16(b, 0x3400);     /* d = 0.25 */
	put16(b + 2, 0xbc00); /* m = -1 */
	for (int j = 0; j < 16; j++)
		b[4 + j] = (uint8_t)(j | (15 - j) << 4);
	float y[32];
	duet_dequantize_row(DUET_TYPE_Q4_1, b, y, 32);
	for (int j = 0; j < 16; j++) {
		cr_assert_eq(y[j], j * 0.25f - 1.0f);
		cr_assert_eq(y[j + 16], (15 - j) * 0.25f - 1.0f);
	}
}

/* Q5_0/Q5_1: element j < 16 = low nibble of qs[j] plus bit j of the u32 qh
 * as its fifth bit; element j + 16 = high nibble plus bit j + 16. */
Test(quant, q5_blocks_layout)
{
	uint32_t qh = 0xa5c3f00fu;
	uint8_t b0[22], b1[24];
	put16(b0, 0x3c00); /* d = 1 */
	memcpy(b0 + 2, &qh, 4);
	put16(b1, 0x4000); /* d = 2 */
	put16(b1 + 2, 0x3c00); /* m = 1 */
	memcpy(b1 + 4, &qh, 4);
	for (int j = 0; j < 16; j++)
		b0[6 + j] = b1[8 + j] = (uint8_t)((3 * j) % 16 | (j << 4));
	float y0[32], y1[32];
	duet_dequantize_row(DUET_TYPE_Q5_0, b0, y0, 32);
	duet_dequantize_row(DUET_TYPE_Q5_1, b1, y1, 32);
	for (int j = 0; j < 16; j++) {
		int lo = (3 * j) % 16 | (int)((qh >> j) & 1) << 4;
		int hi = j | (int)((qh >> (j + 16)) & 1) << 4;
		cr_assert_eq(y0[j], (float)(lo - 16));
		cr_assert_eq(y0[j + 16], (float)(hi - 16));
		cr_assert_eq(y1[j], 2.0f * lo + 1.0f);
		cr_assert_eq(y1[j + 16], 2.0f * hi + 1.0f);
	}
}

Test(quant, q8_0_block_layout)
{
	uint8_t b[34];
	put16(b, 0x4000); /* d = 2 */
	for (int j = 0; j < 32; j++)
		b[2 + j] = (uint8_t)(int8_t)(j - 16);
	float y[32];
	duet_dequantize_row(DUET_TYPE_Q8_0, b, y, 32);
	for (int j = 0; j < 32; j++)
		cr_assert_eq(y[j], 2.0f * (j - 16));
}

/* Q4_K/Q5_K scales: 8 six-bit scales sc and mins mn in 12 bytes. Bytes
 * 0..3: sc[0..3] | top two bits of sc[4..7] in bits 6-7; bytes 4..7 the
 * same for mn; bytes 8..11: low nibble sc[4..7], high nibble mn[4..7]. */
static void pack_scales(const int *sc, const int *mn, uint8_t *q)
{
	for (int j = 0; j < 4; j++) {
		q[j] = (uint8_t)(sc[j] | (sc[j + 4] >> 4) << 6);
		q[j + 4] = (uint8_t)(mn[j] | (mn[j + 4] >> 4) << 6);
		q[j + 8] = (uint8_t)((sc[j + 4] & 15) | (mn[j + 4] & 15) << 4);
	}
}

/* Q4_K: qs holds four 32-byte chunks; chunk c has element 64c + l in the
 * low nibble of byte l and element 64c + 32 + l in the high nibble. */
Test(quant, q4_k_block_layout)
{
	uint8_t b[144];
	int sc[8] = { 1, 2, 17, 63, 5, 33, 48, 7 }, mn[8] = { 0, 9, 40, 3, 62, 1, 20, 16 };
	put16(b, 0x3800);     /* d = 0.5 */
	put16(b + 2, 0x3400); /* dmin = 0.25 */
	pack_scales(sc, mn, b + 4);
	for (int i = 0; i < 128; i++)
		b[16 + i] = (uint8_t)(i * 37 + 11);
	float y[256];
	duet_dequantize_row(DUET_TYPE_Q4_K, b, y, 256);
	for (int e = 0; e < 256; e++) {
		int c = e / 64, l = e % 32, hi = (e % 64) >= 32;
		uint8_t byte = b[16 + 32 * c + l];
		int q = hi ? byte >> 4 : byte & 15;
		float want = 0.5f * sc[e / 32] * q - 0.25f * mn[e / 32];
		cr_assert_float_eq(y[e], want, 1e-6, "element %d", e);
	}
}

/* Q5_K: as Q4_K, plus qh[32] whose bit s of byte l is the fifth bit of
 * element l of sub-block s. */
Test(quant, q5_k_block_layout)
{
	uint8_t b[176];
	int sc[8] = { 3, 12, 63, 1, 30, 8, 50, 19 }, mn[8] = { 4, 0, 11, 63, 2, 27, 5, 31 };
	put16(b, 0x3c00);     /* d = 1 */
	put16(b + 2, 0x3800); /* dmin = 0.5 */
	pack_scales(sc, mn, b + 4);
	for (int i = 0; i < 32; i++)
		b[16 + i] = (uint8_t)(i * 73 + 5);
	for (int i = 0; i < 128; i++)
		b[48 + i] = (uint8_t)(i * 29 + 3);
	float y[256];
	duet_dequantize_row(DUET_TYPE_Q5_K, b, y, 256);
	for (int e = 0; e < 256; e++) {
		int c = e / 64, l = e % 32, s = e / 32, hi = (e % 64) >= 32;
		uint8_t byte = b[48 + 32 * c + l];
		int q = (hi ? byte >> 4 : byte & 15) | ((b[16 + l] >> s) & 1) << 4;
		float want = 1.0f * sc[s] * q - 0.5f * mn[s];
		cr_assert_float_eq(y[e], want, 1e-6, "element %d", e);
	}
}

/* Q6_K: ql[128], qh[64], int8 scales[16], f16 d. Element e: half c = e/128,
 * quarter k = (e%128)/32, l = e%32; low bits = nibble (k>>1) of
 * ql[64c + l + 32(k&1)], high bits = bits 2k..2k+1 of qh[32c + l];
 * value d * scales[e/16] * (q - 32). */
Test(quant, q6_k_block_layout)
{
	uint8_t b[210];
	for (int i = 0; i < 128; i++)
		b[i] = (uint8_t)(i * 53 + 7);
	for (int i = 0; i < 64; i++)
		b[128 + i] = (uint8_t)(i * 91 + 1);
	for (int i = 0; i < 16; i++)
		b[192 + i] = (uint8_t)(int8_t)(i * 17 - 128);
	put16(b + 208, 0x3400); /* d = 0.25 */
	float y[256];
	duet_dequantize_row(DUET_TYPE_Q6_K, b, y, 256);
	for (int e = 0; e < 256; e++) {
		int c = e / 128, k = (e % 128) / 32, l = e % 32;
		uint8_t lo = b[64 * c + l + 32 * (k & 1)];
		int q = ((k >> 1) ? lo >> 4 : lo & 15) | ((b[128 + 32 * c + l] >> (2 * k)) & 3) << 4;
		float want = 0.25f * (int8_t)b[192 + e / 16] * (q - 32);
		cr_assert_float_eq(y[e], want, 1e-6, "element %d", e);
	}
}

static const duet_type compute_types[] = {
	DUET_TYPE_F32, DUET_TYPE_F16, DUET_TYPE_BF16, DUET_TYPE_Q8_0,
	DUET_TYPE_Q4_0, DUET_TYPE_Q4_1, DUET_TYPE_Q5_0, DUET_TYPE_Q5_1,
	DUET_TYPE_Q4_K, DUET_TYPE_Q5_K, DUET_TYPE_Q6_K,
};

/* RMS error of a round trip, relative to the RMS of the data: bounded by
 * the step of a b-bit quantizer over a block's range (~4 sigma). */
static double max_rel_rms(duet_type t)
{
	switch (t) {
	case DUET_TYPE_F32: return 0;
	case DUET_TYPE_F16: return 1e-3;
	case DUET_TYPE_BF16: return 8e-3;
	case DUET_TYPE_Q8_0: return 0.01;
	case DUET_TYPE_Q6_K: return 0.04;
	case DUET_TYPE_Q5_0: case DUET_TYPE_Q5_1: case DUET_TYPE_Q5_K: return 0.07;
	default: return 0.14; /* 4-bit */
	}
}

Test(quant, round_trip_error_is_bounded)
{
	rng_state = 42;
	for (size_t k = 0; k < sizeof compute_types / sizeof *compute_types; k++) {
		duet_type t = compute_types[k];
		int n = 1024;
		float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
		uint8_t *q = malloc(duet_type_row_bytes(t, n));
		for (int i = 0; i < n; i++)
			x[i] = gauss();
		duet_quantize_row(t, x, q, n);
		duet_dequantize_row(t, q, y, n);
		double e2 = 0, x2 = 0;
		for (int i = 0; i < n; i++) {
			e2 += (double)(x[i] - y[i]) * (x[i] - y[i]);
			x2 += (double)x[i] * x[i];
		}
		double rel = sqrt(e2 / x2);
		cr_assert_leq(rel, max_rel_rms(t), "%s: relative rms error %g",
			      duet_type_name(t), rel);
		if (t != DUET_TYPE_F32)
			cr_assert_gt(rel, 0.0, "%s: lossless is suspicious", duet_type_name(t));
		free(x);
		free(y);
		free(q);
	}
}

Test(quant, zero_and_constant_rows_survive)
{
	for (size_t k = 0; k < sizeof compute_types / sizeof *compute_types; k++) {
		duet_type t = compute_types[k];
		float x[256], y[256];
		uint8_t q[1024];
		for (int c = 0; c < 2; c++) {
			for (int i = 0; i < 256; i++)
				x[i] = c ? -3.0f : 0.0f;
			duet_quantize_row(t, x, q, 256);
			duet_dequantize_row(t, q, y, 256);
			for (int i = 0; i < 256; i++)
				cr_assert_float_eq(y[i], x[i], 0.05, "%s %d", duet_type_name(t), i);
		}
	}
}

/* The dot product on quantized data must equal the float dot product of
 * the dequantized weight and the dequantized activation. */
Test(quant, vec_dot_matches_dequantized_dot)
{
	static const int lengths[] = { 256, 512, 4096 };
	rng_state = 7;
	for (size_t k = 0; k < sizeof compute_types / sizeof *compute_types; k++) {
		duet_type t = compute_types[k];
		duet_type dt = duet_type_get(t)->dot_type;
		for (size_t li = 0; li < 3; li++) {
			int n = lengths[li];
			float *w = malloc(n * sizeof *w), *a = malloc(n * sizeof *a);
			float *wd = malloc(n * sizeof *wd), *ad = malloc(n * sizeof *ad);
			uint8_t *wq = malloc(duet_type_row_bytes(t, n));
			uint8_t *aq = malloc(duet_type_row_bytes(dt, n));
			for (int i = 0; i < n; i++) {
				w[i] = gauss() + 0.3f; /* an offset exercises the mins */
				a[i] = gauss();
			}
			duet_quantize_row(t, w, wq, n);
			duet_quantize_row(dt, a, aq, n);
			duet_dequantize_row(t, wq, wd, n);
			if (dt == DUET_TYPE_F16 || dt == DUET_TYPE_BF16 || dt == DUET_TYPE_F32 ||
			    dt == DUET_TYPE_Q8_0 || dt == DUET_TYPE_Q8_K)
				duet_dequantize_row(dt, aq, ad, n);
			else /* Q8_1: same quants as Q8_0 with a sum field */
				duet_dequantize_row(DUET_TYPE_Q8_1, aq, ad, n);
			double ref = 0, mag = 0;
			for (int i = 0; i < n; i++) {
				ref += (double)wd[i] * ad[i];
				mag += fabs((double)wd[i] * ad[i]);
			}
			float got = duet_vec_dot(t, n, wq, aq);
			cr_assert_leq(fabs(got - ref), 1e-3 * mag + 1e-6,
				      "%s n=%d: %g vs %g", duet_type_name(t), n, (double)got, ref);
			free(w); free(a); free(wd); free(ad); free(wq); free(aq);
		}
	}
}

/* Random bytes for a row of type t, its scale fields made finite halves
 * (or floats): quants take every value, -128 included. */
static void random_row(duet_type t, uint8_t *row, int n)
{
	static const struct {
		duet_type t;
		int h[2];  /* f16 field offsets in a block, -1: none */
		int f32;   /* f32 field offset, -1: none */
	} fields[] = {
		{ DUET_TYPE_Q4_0, { 0, -1 }, -1 },   { DUET_TYPE_Q4_1, { 0, 2 }, -1 },
		{ DUET_TYPE_Q5_0, { 0, -1 }, -1 },   { DUET_TYPE_Q5_1, { 0, 2 }, -1 },
		{ DUET_TYPE_Q8_0, { 0, -1 }, -1 },   { DUET_TYPE_Q8_1, { 0, 2 }, -1 },
		{ DUET_TYPE_Q4_K, { 0, 2 }, -1 },    { DUET_TYPE_Q5_K, { 0, 2 }, -1 },
		{ DUET_TYPE_Q6_K, { 208, -1 }, -1 }, { DUET_TYPE_Q8_K, { -1, -1 }, 0 },
	};
	const duet_type_info *ti = duet_type_get(t);
	uint64_t bytes = duet_type_row_bytes(t, (uint64_t)n);
	if (t == DUET_TYPE_F32 || t == DUET_TYPE_F16 || t == DUET_TYPE_BF16) {
		for (int i = 0; i < n; i++) { /* finite, of every magnitude */
			float x = gauss() * ldexpf(1.0f, (int)(frand() * 12));
			if (t == DUET_TYPE_F32)
				memcpy(row + 4 * i, &x, 4);
			else
				put16(row + 2 * i, t == DUET_TYPE_F16 ? duet_f32_to_f16(x)
								 : duet_f32_to_bf16(x));
		}
		return;
	}
	for (uint64_t i = 0; i < bytes; i++)
		row[i] = (uint8_t)(frand() * 128 + 128);
	for (size_t f = 0; f < sizeof fields / sizeof *fields; f++) {
		if (fields[f].t != t)
			continue;
		for (uint64_t b = 0; b < bytes / ti->block_bytes; b++) {
			uint8_t *blk = row + b * ti->block_bytes;
			for (int k = 0; k < 2; k++) {
				if (fields[f].h[k] < 0)
					continue;
				uint16_t h = (uint16_t)(frand() * 32768 + 32768);
				if (((h >> 10) & 31) == 31) /* inf/nan: make it finite */
					h &= 0xbfff;
				put16(blk + fields[f].h[k], h);
			}
			if (fields[f].f32 >= 0) {
				float d = gauss() * ldexpf(1.0f, (int)(frand() * 20));
				memcpy(blk + fields[f].f32, &d, 4);
			}
		}
	}
}

/* The SIMD dot products (AVX2 or NEON, whichever this CPU uses) return the
 * scalar reference's bits on any block content and any length, the tails
 * of fewer than four blocks (float rows: eight elements) included. */
Test(quant, simd_dot_equals_reference_bit_for_bit)
{
	static const int blocks32[] = { 1, 2, 3, 4, 5, 7, 8, 9, 22, 31, 128, 129 };
	static const int blocks256[] = { 1, 2, 3, 5 };
	static const int floats[] = { 1, 7, 8, 9, 15, 16, 17, 31, 256, 704, 1000, 4097 };
	cr_log_info("CPU dot kernels: %s", duet_cpu_simd());
	rng_state = 99;
	for (size_t k = 0; k < sizeof compute_types / sizeof *compute_types; k++) {
		duet_type t = compute_types[k];
		const duet_type_info *ti = duet_type_get(t);
		bool kq = ti->block_elems == 256, fl = ti->block_elems == 1;
		size_t nl = kq ? 4 : 12;
		for (size_t li = 0; li < nl; li++) {
			/* float rows: lengths around the groups of 8 */
			int n = fl ? floats[li]
				   : (int)ti->block_elems * (kq ? blocks256[li] : blocks32[li]);
			uint8_t *w = malloc(duet_type_row_bytes(t, n));
			uint8_t *a = malloc(duet_type_row_bytes(ti->dot_type, n));
			for (int rep = 0; rep < 20; rep++) {
				random_row(t, w, n);
				random_row(ti->dot_type, a, n);
				float ref = duet_vec_dot_ref(t, n, w, a);
				float got = duet_vec_dot(t, n, w, a);
				cr_assert(isfinite(ref), "%s n=%d: %g", ti->name, n, (double)ref);
				cr_assert_eq(memcmp(&got, &ref, sizeof got), 0,
					     "%s n=%d: %.9g (%s) vs reference %.9g", ti->name, n,
					     (double)got, duet_cpu_simd(), (double)ref);
			}
			free(w);
			free(a);
		}
	}
}

/* Activations quantized to Q8_0 and Q8_1 by the SIMD form (where this CPU
 * has one) have the scalar reference's bytes: Gaussian rows at scales from
 * tiny to huge, values that land exactly on halves after scaling (ties
 * round away from zero), zero and signed-zero blocks, and NaN and
 * infinities (NaN is skipped by the block maximum and quantizes to 0). */
Test(quant, simd_activation_quantization_equals_reference)
{
	enum { NB = 16 };
	float x[NB * 32];
	uint8_t got[NB * 36], want[NB * 36];
	rng_state = 7;
	int compared = 0;
	for (int rep = 0; rep < 400; rep++) {
		for (int i = 0; i < NB * 32; i++)
			x[i] = gauss() * ldexpf(1.0f, (int)(frand() * 30));
		for (int blk = 0; blk < NB; blk++) {
			float *xb = x + 32 * blk;
			switch ((rep + blk) % 8) {
			case 0: /* max 127: the scale is 1, k + 0.5 are ties */
				for (int j = 0; j < 32; j++)
					xb[j] = (float)(int)(frand() * 126.0f) +
						(frand() < 0 ? 0.5f : 0.0f);
				xb[0] = 127.0f;
				break;
			case 1:
				memset(xb, 0, 32 * sizeof *xb);
				xb[3] = -0.0f;
				break;
			case 2:
				xb[(int)(frand() * 16) + 16] = NAN;
				break;
			case 3:
				xb[(int)(frand() * 16) + 16] = frand() < 0 ? INFINITY : -INFINITY;
				break;
			case 4:
				for (int j = 0; j < 32; j++)
					xb[j] = NAN;
				break;
			default:
				break;
			}
		}
		for (int sum = 0; sum < 2; sum++) {
			int bs = sum ? 36 : 34;
			memset(got, 0xa5, sizeof got);
			memset(want, 0x5a, sizeof want);
			duet_quantize_q8_ref(x, want, NB, sum);
			if (!duet_quantize_q8_simd(x, got, NB, sum))
				continue;
			compared++;
			for (int blk = 0; blk < NB; blk++)
				cr_assert_eq(memcmp(got + bs * blk, want + bs * blk, bs), 0,
					     "%s block %d (rep %d, %s) differs from the reference",
					     duet_cpu_simd(), blk, rep, sum ? "Q8_1" : "Q8_0");
		}
	}
	if (!compared)
		cr_log_info("no SIMD form of the activation quantizers here (%s)",
			    duet_cpu_simd());
}

/* duet_vec_dot_n (one weight row against several activation rows, the
 * weights unpacked once per four rows) gives each row duet_vec_dot's bits,
 * for 1 to 7 rows and lengths with and without a tail of blocks. */
Test(quant, several_rows_at_once_equal_one_at_a_time)
{
	static const int blocks[] = { 1, 3, 4, 9, 22 };
	rng_state = 123;
	for (size_t k = 0; k < sizeof compute_types / sizeof *compute_types; k++) {
		duet_type t = compute_types[k];
		const duet_type_info *ti = duet_type_get(t);
		for (size_t li = 0; li < 5; li++) {
			int n = (int)(ti->block_elems == 1 ? 32 : ti->block_elems) * blocks[li];
			uint64_t ab = duet_type_row_bytes(ti->dot_type, n);
			uint8_t *w = malloc(duet_type_row_bytes(t, n)), *a = malloc(7 * ab);
			random_row(t, w, n);
			for (int j = 0; j < 7; j++)
				random_row(ti->dot_type, a + j * ab, n);
			for (uint32_t m = 1; m <= 7; m++) {
				float got[7];
				duet_vec_dot_n(t, n, w, a, ab, m, got);
				for (uint32_t j = 0; j < m; j++) {
					float want = duet_vec_dot(t, n, w, a + j * ab);
					cr_assert_eq(memcmp(&got[j], &want, 4), 0,
						     "%s n=%d m=%u row %u: %.9g vs %.9g", ti->name,
						     n, m, j, (double)got[j], (double)want);
				}
			}
			free(w);
			free(a);
		}
	}
}

/* duet_vec_dot_rows (one activation row against consecutive weight rows,
 * a decode step's product) gives each weight row duet_vec_dot's bits and
 * the scalar reference's, for 1 to 9 rows and every compute type. */
Test(quant, consecutive_weight_rows_equal_one_at_a_time)
{
	static const int blocks[] = { 1, 3, 8, 22 };
	rng_state = 321;
	for (size_t k = 0; k < sizeof compute_types / sizeof *compute_types; k++) {
		duet_type t = compute_types[k];
		const duet_type_info *ti = duet_type_get(t);
		for (size_t li = 0; li < 4; li++) {
			int n = (int)(ti->block_elems == 1 ? 32 : ti->block_elems) * blocks[li];
			uint64_t wb = duet_type_row_bytes(t, n);
			uint8_t *w = malloc(9 * wb), *a = malloc(duet_type_row_bytes(ti->dot_type, n));
			for (int r = 0; r < 9; r++)
				random_row(t, w + r * wb, n);
			random_row(ti->dot_type, a, n);
			for (uint32_t rows = 1; rows <= 9; rows++) {
				float got[9];
				duet_vec_dot_rows(t, n, w, wb, rows, a, got);
				for (uint32_t r = 0; r < rows; r++) {
					float want = duet_vec_dot(t, n, w + r * wb, a);
					float ref = duet_vec_dot_ref(t, n, w + r * wb, a);
					cr_assert(memcmp(&got[r], &want, 4) == 0 &&
						  memcmp(&got[r], &ref, 4) == 0,
						  "%s n=%d rows=%u row %u: %.9g, one at a time %.9g, "
						  "reference %.9g", ti->name, n, rows, r,
						  (double)got[r], (double)want, (double)ref);
				}
			}
			free(w);
			free(a);
		}
	}
}

Test(quant, q8_k_activation_keeps_sign_and_group_sums)
{
	float x[256];
	uint8_t q[292];
	rng_state = 3;
	for (int i = 0; i < 256; i++)
		x[i] = gauss();
	x[17] = -9.0f; /* the extreme value maps exactly onto -127 */
	duet_quantize_row(DUET_TYPE_Q8_K, x, q, 256);
	const int8_t *qs = (const int8_t *)(q + 4);
	float d;
	memcpy(&d, q, 4);
	cr_assert_eq(qs[17], -127);
	cr_assert_float_eq(d * qs[17], -9.0f, 1e-5);
	for (int g = 0; g < 16; g++) {
		int sum = 0;
		for (int l = 0; l < 16; l++)
			sum += qs[16 * g + l];
		int16_t bs;
		memcpy(&bs, q + 260 + 2 * g, 2);
		cr_assert_eq(bs, sum, "group %d", g);
	}
}
