#version 450
// Attention for CPU-executed Vulkan: one invocation per (token, head)
// walks the cached positions with an online softmax, exactly as the CPU
// reference (llama.cpp's CPU flash attention): q rounded to f16, scores in
// f32, the weighted V sum rounded to f16 after every update, and a second
// pass in f32 when that sum overflows f16 (an f16 cache; f32 and q8_0
// caches sum in f32). K and V come through texel buffers (16 bytes per
// fetch). Loops over head dimensions are unrolled; the loop over positions
// is the only one left (llvmpipe ends an invocation after 65535 loop
// iterations in all).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint HD = 64; // head_dim, a multiple of 8

#include "common.glsl"

layout(binding = 0) readonly buffer QB { float Q[]; };
layout(binding = 1) uniform usamplerBuffer KT;
layout(binding = 2) uniform usamplerBuffer VT;
layout(binding = 13) uniform usamplerBuffer KT2; // KV pool chunks 2, 3
layout(binding = 14) uniform usamplerBuffer KT3;
layout(binding = 3) coherent buffer OB { float O[]; };
layout(binding = 4) uniform SB { duet_step_ubo step; };
layout(binding = 5) readonly buffer PTB { uint PT[]; }; // KV pages
layout(push_constant) uniform PC { duet_pc_attn pc; };

#include "kvaddr.glsl"

#define TAIL_IN(i) O[i]
#include "tail.glsl"

// Values per texel of the cache's row format (16 bytes: 8 f16, 4 f32, 16
// int8 of q8_0).
const uint CH = KVT == DUET_KVT_F32 ? 4u : KVT == DUET_KVT_Q8_0 ? 16u : 8u;

// Texel tx of cache chunk c (kvaddr.glsl).
uvec4 kv_tx(uint c, uint tx)
{
	return c == 0u ? texelFetch(KT, int(tx)) : c == 1u ? texelFetch(VT, int(tx))
	     : c == 2u ? texelFetch(KT2, int(tx)) : texelFetch(KT3, int(tx));
}

// Values d = CH c .. CH c + CH - 1 of head kvh of the row starting at byte
// `row` (a texel boundary) of chunk ch, as floats in x[0 .. CH).
void fetch(uint ch, uint row, uint kvh, uint c, out float x[16])
{
	uint skip = KVT == DUET_KVT_Q8_0 ? kv_scale_bytes(pc.n_embd_kv) : 0u;
	uvec4 w = kv_tx(ch, (row + skip) / 16u + kvh * (HD / CH) + c);
	if (KVT == DUET_KVT_F32) {
		[[unroll]] for (uint e = 0; e < 4; e++)
			x[e] = uintBitsToFloat(w[e]);
	} else if (KVT == DUET_KVT_Q8_0) {
		uint sb = row + (kvh * (HD / 32u) + c / 2u) * 2u;
		uvec4 sw = kv_tx(ch, sb / 16u);
		float d = unpackHalf2x16(sw[(sb / 4u) % 4u])[(sb / 2u) & 1u];
		[[unroll]] for (uint e = 0; e < 16; e++)
			x[e] = d * float(bitfieldExtract(int(w[e >> 2]), int(8u * (e & 3u)), 8));
	} else {
		[[unroll]] for (uint e = 0; e < 8; e++)
			x[e] = unpackHalf2x16(w[e >> 1])[e & 1u];
	}
}

// Attention of head h of token tok into O. An f16 cache rounds q to f16
// and sums V in f16 first (as the CPU reference); other formats use f32.
void attend(uint tok, uint h)
{
	uint kvh = h / (pc.n_head / pc.n_head_kv);
	float q[HD], acc[HD], x[16];
	[[unroll]] for (uint d = 0; d < HD; d++) {
		float qd = Q[tok * pc.q_stride + h * HD + d];
		q[d] = KVT == DUET_KVT_F16 ? round_f16(qd) : qd;
	}
	uint n_pos = step.pos0 + tok + 1;
	float S = 0.0;
	for (uint pass = 0; pass < 2; pass++) {
		bool f16_acc = pass == 0 && KVT == DUET_KVT_F16, finite = true;
		float M = -1.0 / 0.0;
		S = 0.0;
		[[unroll]] for (uint d = 0; d < HD; d++)
			acc[d] = 0.0;
		for (uint j = 0; j < n_pos && (finite || !f16_acc); j++) {
			uint ck, cv;
			uint rowk = kv_row(j, 0u, pc.n_embd_kv, ck);
			uint rowv = kv_row(j, 1u, pc.n_embd_kv, cv);
			float dot = 0.0;
			if (KVT == DUET_KVT_F16) {
				uint txk = rowk / 16u + kvh * (HD / 8);
				[[unroll]] for (uint c = 0; c < HD / 8; c++) {
					uvec4 k = kv_tx(ck, txk + c);
					[[unroll]] for (uint e = 0; e < 4; e++) {
						vec2 kk = unpackHalf2x16(k[e]);
						dot += q[8 * c + 2 * e] * kk.x + q[8 * c + 2 * e + 1] * kk.y;
					}
				}
			} else {
				[[unroll]] for (uint c = 0; c < HD / CH; c++) {
					fetch(ck, rowk, kvh, c, x);
					[[unroll]] for (uint e = 0; e < CH; e++)
						dot += q[CH * c + e] * x[e];
				}
			}
			float s = dot * pc.scale, ms = 1.0, vs = 1.0;
			if (s > M) {
				ms = exp(M - s);
				M = s;
				[[unroll]] for (uint d = 0; d < HD; d++)
					acc[d] = f16_acc ? round_f16(acc[d] * ms) : acc[d] * ms;
			} else {
				vs = exp(s - M);
			}
			[[unroll]] for (uint c = 0; c < HD / CH; c++) {
				fetch(cv, rowv, kvh, c, x);
				[[unroll]] for (uint e = 0; e < CH; e++) {
					uint d = CH * c + e;
					float a = fma(x[e], vs, acc[d]);
					acc[d] = f16_acc ? round_f16(a) : a;
					finite = finite && !isinf(acc[d]) && !isnan(acc[d]);
				}
			}
			S = S * ms + vs;
		}
		if (finite || KVT != DUET_KVT_F16)
			break;
	}
	[[unroll]] for (uint d = 0; d < HD; d++)
		O[tok * pc.o_stride + h * HD + d] = acc[d] * (1.0 / S);
}

void main()
{
	uint idx = gl_GlobalInvocationID.x;
	uint tok = idx / pc.n_head, h = idx % pc.n_head;
	if (tok < step.n_tok)
		attend(tok, h);
	run_tail();
}
