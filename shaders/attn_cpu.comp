#version 450
// Attention for CPU-executed Vulkan: one invocation per (token, head)
// walks the cached positions with an online softmax, exactly as the CPU
// reference (llama.cpp's CPU flash attention): q rounded to f16, scores in
// f32, the weighted V sum rounded to f16 after every update, and a second
// pass in f32 when that sum overflows f16. K and V come through texel
// buffers (8 halves per fetch). Loops over head dimensions are unrolled;
// the loop over positions is the only one left (llvmpipe ends an
// invocation after 65535 loop iterations in all).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint HD = 64; // head_dim, a multiple of 8

#include "common.glsl"

layout(binding = 0) readonly buffer QB { float Q[]; };
layout(binding = 1) uniform usamplerBuffer KT;
layout(binding = 2) uniform usamplerBuffer VT;
layout(binding = 3) coherent buffer OB { float O[]; };
layout(binding = 4) uniform SB { duet_step_ubo step; };
layout(binding = 5) readonly buffer PTB { uint PT[]; }; // KV pages
layout(push_constant) uniform PC { duet_pc_attn pc; };

#include "kvaddr.glsl"

#define TAIL_IN(i) O[i]
#include "tail.glsl"

// Attention of head h of token tok into O.
void attend(uint tok, uint h)
{
	uint kvh = h / (pc.n_head / pc.n_head_kv);
	float q[HD], acc[HD];
	[[unroll]] for (uint d = 0; d < HD; d++)
		q[d] = round_f16(Q[tok * pc.q_stride + h * HD + d]);
	uint n_pos = step.pos0 + tok + 1;
	uint row_tx = pc.n_embd_kv / 8; // texels per cached position
	uint base = pc.kv_off / 4 + kvh * (HD / 8); // contiguous caches
	float S = 0.0;
	for (uint pass = 0; pass < 2; pass++) {
		bool f16_acc = pass == 0, finite = true;
		float M = -1.0 / 0.0;
		S = 0.0;
		[[unroll]] for (uint d = 0; d < HD; d++)
			acc[d] = 0.0;
		for (uint j = 0; j < n_pos && (finite || !f16_acc); j++) {
			// texels of 8 halves: rows start on whole texels
			uint txk = base + j * row_tx, txv = txk;
			if (pc.kv_tpp != 0u) {
				txk = kv_word(j, kvh * HD, 0u, pc.n_embd_kv) / 4u;
				txv = kv_word(j, kvh * HD, 1u, pc.n_embd_kv) / 4u;
			}
			float dot = 0.0;
			[[unroll]] for (uint c = 0; c < HD / 8; c++) {
				uvec4 k = texelFetch(KT, int(txk + c));
				[[unroll]] for (uint e = 0; e < 4; e++) {
					vec2 kk = unpackHalf2x16(k[e]);
					dot += q[8 * c + 2 * e] * kk.x + q[8 * c + 2 * e + 1] * kk.y;
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
			[[unroll]] for (uint c = 0; c < HD / 8; c++) {
				uvec4 v = texelFetch(VT, int(txv + c));
				[[unroll]] for (uint e = 0; e < 8; e++) {
					uint d = 8 * c + e;
					float a = fma(unpackHalf2x16(v[e >> 1])[e & 1u], vs, acc[d]);
					acc[d] = f16_acc ? round_f16(a) : a;
					finite = finite && !isinf(acc[d]) && !isnan(acc[d]);
				}
			}
			S = S * ms + vs;
		}
		if (finite)
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
