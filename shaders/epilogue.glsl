// What the matrix kernels do with finished dot products (DUET_EPI_* in
// abi/kernels.h). The includer declares pc (duet_pc_mm), the step uniform
// `step`, the output Y[], residual RES[], bias BIAS[], rope factors FACT[]
// and the cache chunks KC[], VC[], KC2[], KC3[] (kvaddr.glsl).
//
// Rows arrive in the order runtime/vk_pack.c wrote them: for SWIGLU gate
// and up rows alternate (2p, 2p+1); for QKV every 4 rows form a quad that
// holds both members of two rope pairs and both halves of the u32s the
// cache stores, so no invocation needs another's values.
#ifndef DUET_EPILOGUE_GLSL
#define DUET_EPILOGUE_GLSL

#include "kvput.glsl"

// Original row (in the [Q|K|V] space) of member m (0..3) of quad q.
uint qkv_row(uint q, uint m)
{
	uint hd = pc.head_dim, k = q % (hd / 4);
	uint base = (q / (hd / 4)) * hd;
	bool roped = base < pc.n_q + pc.n_kv;
	if (roped && pc.rope_mode == DUET_ROPE_MODE_NEOX && 4 * k < pc.n_rot) {
		// dims (i, i+1) and their partners (i, i+1) + n_rot/2
		uint i = 2 * k;
		return base + (m < 2 ? i + m : i + pc.n_rot / 2 + m - 2);
	}
	return base + 4 * k + m;
}

// Rotates dims (a, b) of a head at position pos as rope pair p.
void rope_pair(inout float a, inout float b, uint p, uint pos)
{
	// theta_p = pos * theta_scale^p by repeated multiplication, as the
	// CPU reference (and llama.cpp) build it
	float theta = float(pos);
	for (uint i = 0; i < p; i++)
		theta *= pc.theta_scale;
	float ff = pc.has_factors != 0 ? FACT[p] : 1.0;
	float ang = pc.freq_scale * (theta / ff);
	float cs = cos(ang), sn = sin(ang);
	float x0 = a, x1 = b;
	a = x0 * cs - x1 * sn;
	b = x0 * sn + x1 * cs;
}

void epi_row(uint row, uint t, float v)
{
	if (pc.has_bias != 0)
		v += BIAS[row];
	if (EPI == DUET_EPI_ADD)
		v += RES[t * pc.r_stride + row];
	Y[pc.y_off + t * pc.y_stride + row] = v;
}

void epi_swiglu(uint p, uint t, float g, float u)
{
	if (pc.has_bias != 0) {
		g += BIAS[2 * p];
		u += BIAS[2 * p + 1];
	}
	Y[pc.y_off + t * pc.y_stride + p] = silu(g) * u;
}

// Stores member pair (a, b) = dims (d, d+1) of KV row col of token t into
// the cache, as the row format KVT; a q8_0 cache gets the f32 values in a
// staging buffer bound as every chunk ([token][K | V]), quantized after
// this kernel by kv_quant.comp.
void store_kv(bool is_v, uint t, uint pos, uint col, float a, float b)
{
	if (KVT == DUET_KVT_Q8_0) {
		uint i = t * 2u * pc.n_kv + (is_v ? pc.n_kv : 0u) + col;
		KC[i] = floatBitsToUint(a);
		KC[i + 1u] = floatBitsToUint(b);
		return;
	}
	uint c, i = kv_row(pos, is_v ? 1u : 0u, pc.n_kv, c) / 4u;
	if (KVT == DUET_KVT_F32) {
		kv_put(c, i + col, floatBitsToUint(a));
		kv_put(c, i + col + 1u, floatBitsToUint(b));
	} else {
		kv_put(c, i + col / 2u, f16_bits(round_f16(a)) | (f16_bits(round_f16(b)) << 16));
	}
}

void epi_qkv(uint quad, uint t, float v[4])
{
	uint o[4];
	[[unroll]] for (uint m = 0; m < 4; m++) {
		o[m] = qkv_row(quad, m);
		if (pc.has_bias != 0)
			v[m] += BIAS[o[m]];
	}
	uint pos = step.pos0 + t, hd = pc.head_dim;
	uint d = o[0] % hd; // dim of member 0 in its head
	bool is_q = o[0] < pc.n_q, is_k = !is_q && o[0] < pc.n_q + pc.n_kv;
	if ((is_q || is_k) && d < pc.n_rot) {
		if (pc.rope_mode == DUET_ROPE_MODE_NEOX) {
			rope_pair(v[0], v[2], d, pos);
			rope_pair(v[1], v[3], d + 1, pos);
		} else {
			rope_pair(v[0], v[1], d / 2, pos);
			if (d + 2 < pc.n_rot)
				rope_pair(v[2], v[3], d / 2 + 1, pos);
		}
	}
	if (is_q) {
		[[unroll]] for (uint m = 0; m < 4; m++)
			Y[pc.y_off + t * pc.y_stride + o[m]] = v[m];
	} else {
		uint base = is_k ? pc.n_q : pc.n_q + pc.n_kv;
		store_kv(!is_k, t, pos, o[0] - base, v[0], v[1]);
		store_kv(!is_k, t, pos, o[2] - base, v[2], v[3]);
	}
}

// Hands the finished acc[R][T] of rows r0.. and tokens t0.. to the
// epilogue (a macro: GLSL cannot pass spec-constant-sized arrays).
#define EPILOGUE(acc, r0, t0, n_tok)                                               \
	[[unroll]] for (uint t = 0; t < T; t++) {                                  \
		if (t0 + t >= n_tok)                                               \
			break;                                                     \
		uint tok_ = t0 + t;                                                \
		if (EPI == DUET_EPI_QKV) {                                         \
			[[unroll]] for (uint r = 0; r + 3 < R; r += 4) {           \
				if (r0 + r >= pc.n_rows)                           \
					break;                                     \
				float v_[4] = float[4](acc[r][t], acc[r + 1][t],   \
						       acc[r + 2][t], acc[r + 3][t]); \
				epi_qkv((pc.row_base + r0 + r) / 4, tok_, v_);     \
			}                                                          \
		} else if (EPI == DUET_EPI_SWIGLU) {                               \
			[[unroll]] for (uint r = 0; r + 1 < R; r += 2)             \
				if (r0 + r < pc.n_rows)                            \
					epi_swiglu((pc.row_base + r0 + r) / 2, tok_, \
						   acc[r][t], acc[r + 1][t]);      \
		} else {                                                           \
			[[unroll]] for (uint r = 0; r < R; r++)                    \
				if (r0 + r < pc.n_rows)                            \
					epi_row(pc.row_base + r0 + r, tok_, acc[r][t]); \
		}                                                                  \
	}

#endif
