#version 450
// A q8_0 KV cache's store: the QKV epilogue leaves the step's K and V rows
// in f32 ([token][K | V], binding 0) because quantizing needs a block's 32
// values, which other invocations computed; here a workgroup per token
// quantizes them as llama.cpp's q8_0 (d = max|x| / 127, values round(x /
// d), halves away from zero, d kept as f16) into the row format of
// runtime/kv.h. An invocation owns two blocks: their f16 scales share a
// word.
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;

#include "common.glsl"

layout(binding = 0) readonly buffer SB0 { float X[]; };
layout(binding = 1) buffer KB { uint KC[]; };
layout(binding = 2) buffer VB { uint VC[]; };
layout(binding = 3) uniform SB { duet_step_ubo step; };
layout(binding = 4) readonly buffer PTB { uint PT[]; }; // KV pages
layout(binding = 5) buffer KB2 { uint KC2[]; }; // KV pool chunks 2, 3
layout(binding = 6) buffer KB3 { uint KC3[]; };
layout(push_constant) uniform PC { duet_pc_kvq pc; };

#include "kvaddr.glsl"
#include "kvput.glsl"

void main()
{
	uint tok = gl_WorkGroupID.x;
	if (tok >= step.n_tok)
		return;
	uint n = pc.n_kv, nb = n / 32u, pairs = (nb + 1u) / 2u;
	for (uint i = gl_LocalInvocationID.x; i < 2u * pairs; i += gl_WorkGroupSize.x) {
		bool v = i >= pairs;
		uint pair = v ? i - pairs : i;
		uint c, row = kv_row(step.pos0 + tok, v ? 1u : 0u, n, c);
		uint src = tok * 2u * n + (v ? n : 0u);
		uint scales = 0u;
		for (uint k = 0; k < 2u && 2u * pair + k < nb; k++) {
			uint b = 2u * pair + k, x0 = src + 32u * b;
			float amax = 0.0;
			for (uint j = 0; j < 32u; j++)
				amax = max(amax, abs(X[x0 + j]));
			float d = amax / pc.q8_max, id = d != 0.0 ? 1.0 / d : 0.0;
			scales |= f16_bits(round_f16(d)) << (16u * k);
			uint qw = (row + kv_scale_bytes(n) + 32u * b) / 4u;
			for (uint w = 0; w < 8u; w++) {
				uint packed = 0u;
				for (uint e = 0; e < 4u; e++) {
					int q = int(clamp(round_away(X[x0 + 4u * w + e] * id),
							  -127.0, 127.0));
					packed |= (uint(q) & 0xffu) << (8u * e);
				}
				kv_put(c, qw + w, packed);
			}
		}
		kv_put(c, row / 4u + pair, scales);
	}
}
