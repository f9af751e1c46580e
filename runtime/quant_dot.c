/* Dot products between a weight row and an activation row that was
 * quantized to the weight type's dot type (see quant.h): the scalar
 * reference. Integer sums are exact within a block; blocks are combined in
 * double (dot_acc, four chains) so the reference adds little rounding of its
 * own; float rows sum exact double products in eight chains
 * (float_chains_sum). quant_dot_simd.c must return the same bits. */
#include "quant.h"

#include "quant_impl.h"
#include "quant_simd.h"

static double dot_f32(int64_t n, const uint8_t *w, const uint8_t *a)
{
	double c[8] = {0};
	for (int64_t i = 0; i < n; i++)
		c[i & 7] += (double)ld_f32(w + 4 * i) * ld_f32(a + 4 * i);
	return float_chains_sum(c);
}

static double dot_f16(int64_t n, const uint8_t *w, const uint8_t *a)
{
	double c[8] = {0};
	for (int64_t i = 0; i < n; i++)
		c[i & 7] += (double)ld_f16(w + 2 * i) * ld_f16(a + 2 * i);
	return float_chains_sum(c);
}

static double dot_bf16(int64_t n, const uint8_t *w, const uint8_t *a)
{
	double c[8] = {0};
	for (int64_t i = 0; i < n; i++)
		c[i & 7] += (double)duet_bf16_to_f32(ld_u16(w + 2 * i)) *
			    duet_bf16_to_f32(ld_u16(a + 2 * i));
	return float_chains_sum(c);
}

/* Q8_0/Q8_1 activation block: d at 0, (s at 2,) quants at qoff. */
static double dot_q4_0(int64_t nb, const uint8_t *w, const uint8_t *a)
{
	dot_acc acc = {{0}};
	for (int64_t i = 0; i < nb; i++, w += 18, a += 34) {
		const uint8_t *qs = w + 2;
		const int8_t *q8 = (const int8_t *)(a + 2);
		int isum = 0;
		for (int j = 0; j < 16; j++)
			isum += ((qs[j] & 0xf) - 8) * q8[j] +
				((qs[j] >> 4) - 8) * q8[j + 16];
		acc_add(&acc, i, (double)(ld_f16(w) * ld_f16(a)) * isum);
	}
	return acc_sum(&acc);
}

static double dot_q4_1(int64_t nb, const uint8_t *w, const uint8_t *a)
{
	dot_acc acc = {{0}};
	for (int64_t i = 0; i < nb; i++, w += 20, a += 36) {
		const uint8_t *qs = w + 4;
		const int8_t *q8 = (const int8_t *)(a + 4);
		int isum = 0;
		for (int j = 0; j < 16; j++)
			isum += (qs[j] & 0xf) * q8[j] + (qs[j] >> 4) * q8[j + 16];
		/* sum (d q + m) a = d da isum + m * (da sum q8) = ... + m s */
		acc_add(&acc, i, (double)(ld_f16(w) * ld_f16(a)) * isum +
		       (double)ld_f16(w + 2) * ld_f16(a + 2));
	}
	return acc_sum(&acc);
}

static double dot_q5_0(int64_t nb, const uint8_t *w, const uint8_t *a)
{
	dot_acc acc = {{0}};
	for (int64_t i = 0; i < nb; i++, w += 22, a += 34) {
		uint32_t qh = ld_u32(w + 2);
		const uint8_t *qs = w + 6;
		const int8_t *q8 = (const int8_t *)(a + 2);
		int isum = 0;
		for (int j = 0; j < 16; j++)
			isum += (q5_lo(qs, qh, j) - 16) * q8[j] +
				(q5_hi(qs, qh, j) - 16) * q8[j + 16];
		acc_add(&acc, i, (double)(ld_f16(w) * ld_f16(a)) * isum);
	}
	return acc_sum(&acc);
}

static double dot_q5_1(int64_t nb, const uint8_t *w, const uint8_t *a)
{
	dot_acc acc = {{0}};
	for (int64_t i = 0; i < nb; i++, w += 24, a += 36) {
		uint32_t qh = ld_u32(w + 4);
		const uint8_t *qs = w + 8;
		const int8_t *q8 = (const int8_t *)(a + 4);
		int isum = 0;
		for (int j = 0; j < 16; j++)
			isum += q5_lo(qs, qh, j) * q8[j] +
				q5_hi(qs, qh, j) * q8[j + 16];
		acc_add(&acc, i, (double)(ld_f16(w) * ld_f16(a)) * isum +
		       (double)ld_f16(w + 2) * ld_f16(a + 2));
	}
	return acc_sum(&acc);
}

static double dot_q8_0(int64_t nb, const uint8_t *w, const uint8_t *a)
{
	dot_acc acc = {{0}};
	for (int64_t i = 0; i < nb; i++, w += 34, a += 34) {
		const int8_t *qw = (const int8_t *)(w + 2);
		const int8_t *q8 = (const int8_t *)(a + 2);
		int isum = 0;
		for (int j = 0; j < 32; j++)
			isum += qw[j] * q8[j];
		acc_add(&acc, i, (double)(ld_f16(w) * ld_f16(a)) * isum);
	}
	return acc_sum(&acc);
}

/* Q8_K block: f32 d at 0, quants at 4, 16 group sums (i16) at 260. */
static int q8k_bsum(const uint8_t *a, int g)
{
	return (int16_t)ld_u16(a + 260 + 2 * g);
}

/* Q4_K/Q5_K: x = d*sc*q - dmin*mn per 32-element sub-block, so
 * sum x*a = d*da * sum_s sc_s (q.q8)_s - dmin*da * sum_s mn_s sum(q8)_s. */
static double dot_q45_k(int64_t nb, const uint8_t *w, const uint8_t *a,
			bool five)
{
	dot_acc acc = {{0}};
	int wbytes = five ? 176 : 144;
	for (int64_t i = 0; i < nb; i++, w += wbytes, a += 292) {
		uint8_t sc[8], mn[8], L[256];
		k_scales_unpack(w + 4, sc, mn);
		k_values_unpack(w + (five ? 48 : 16), five ? w + 16 : NULL, L);
		const int8_t *q8 = (const int8_t *)(a + 4);
		int isum = 0, msum = 0;
		for (int s = 0; s < 8; s++) {
			int ssum = 0;
			for (int l = 0; l < 32; l++)
				ssum += L[32 * s + l] * q8[32 * s + l];
			isum += sc[s] * ssum;
			msum += mn[s] * (q8k_bsum(a, 2 * s) + q8k_bsum(a, 2 * s + 1));
		}
		float da = ld_f32(a);
		acc_add(&acc, i, (double)(ld_f16(w) * da) * isum -
		       (double)(ld_f16(w + 2) * da) * msum);
	}
	return acc_sum(&acc);
}

static double dot_q6_k(int64_t nb, const uint8_t *w, const uint8_t *a)
{
	dot_acc acc = {{0}};
	for (int64_t i = 0; i < nb; i++, w += 210, a += 292) {
		const int8_t *sc = (const int8_t *)(w + 192);
		const int8_t *q8 = (const int8_t *)(a + 4);
		int8_t v[256];
		q6k_unpack(w, v);
		int isum = 0;
		for (int s = 0; s < 16; s++) {
			int ssum = 0;
			for (int l = 0; l < 16; l++)
				ssum += v[16 * s + l] * q8[16 * s + l];
			isum += sc[s] * ssum;
		}
		acc_add(&acc, i, (double)(ld_f16(w + 208) * ld_f32(a)) * isum);
	}
	return acc_sum(&acc);
}

float duet_vec_dot_ref(duet_type t, int64_t n, const void *wv, const void *av)
{
	const uint8_t *w = wv, *a = av;
	switch (t) {
	case DUET_TYPE_F32: return (float)dot_f32(n, w, a);
	case DUET_TYPE_F16: return (float)dot_f16(n, w, a);
	case DUET_TYPE_BF16: return (float)dot_bf16(n, w, a);
	case DUET_TYPE_Q4_0: return (float)dot_q4_0(n / 32, w, a);
	case DUET_TYPE_Q4_1: return (float)dot_q4_1(n / 32, w, a);
	case DUET_TYPE_Q5_0: return (float)dot_q5_0(n / 32, w, a);
	case DUET_TYPE_Q5_1: return (float)dot_q5_1(n / 32, w, a);
	case DUET_TYPE_Q8_0: return (float)dot_q8_0(n / 32, w, a);
	case DUET_TYPE_Q4_K: return (float)dot_q45_k(n / 256, w, a, false);
	case DUET_TYPE_Q5_K: return (float)dot_q45_k(n / 256, w, a, true);
	case DUET_TYPE_Q6_K: return (float)dot_q6_k(n / 256, w, a);
	default: return 0.0f; /* callers check duet_type_get(t)->compute */
	}
}

void duet_vec_dot_rows(duet_type t, int64_t n, const void *w, uint64_t w_stride,
		       uint32_t rows, const void *a, float *out)
{
	const uint8_t *wb = w;
	if (duet_vec_dot_simd_rows(t, n, wb, w_stride, rows, a, out))
		return;
	for (uint32_t r = 0; r < rows; r++)
		out[r] = duet_vec_dot_ref(t, n, wb + r * w_stride, a);
}

float duet_vec_dot(duet_type t, int64_t n, const void *w, const void *a)
{
	float d;
	duet_vec_dot_rows(t, n, w, 0, 1, a, &d);
	return d;
}

void duet_vec_dot_n(duet_type t, int64_t n, const void *w, const void *a,
		    uint64_t a_stride, uint32_t m, float *out)
{
	const uint8_t *ab = a;
	for (uint32_t j = 0; j < m; j += 4) {
		uint32_t c = m - j < 4 ? m - j : 4;
		double d[4];
		if (c > 1 && duet_vec_dot_simd_n(t, n, w, ab + j * a_stride, a_stride, c, d)) {
			for (uint32_t k = 0; k < c; k++)
				out[j + k] = (float)d[k];
		} else {
			for (uint32_t k = 0; k < c; k++)
				out[j + k] = duet_vec_dot(t, n, w, ab + (j + k) * a_stride);
		}
	}
}
