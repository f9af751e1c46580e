#version 450
// Greedy decoding on the device: the index of the largest logit of each
// row (the first on ties, like the CPU sampler), so one uint per token
// comes back instead of the vocabulary.
#extension GL_GOOGLE_include_directive : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint WG = 64; // = local_size_x

#include "common.glsl"

layout(binding = 0) readonly buffer XB { float X[]; };
layout(binding = 1) writeonly buffer IB { uint IDS[]; };
layout(push_constant) uniform PC { duet_pc_argmax pc; };

shared float best_v[WG];
shared uint best_i[WG];

void main()
{
	uint row = gl_WorkGroupID.x, tid = gl_LocalInvocationID.x;
	if (row >= pc.n_rows)
		return;
	float bv = -1.0 / 0.0;
	uint bi = 0xffffffffu;
	for (uint i = tid; i < pc.n; i += WG) {
		float v = X[row * pc.x_stride + i];
		if (v > bv || bi == 0xffffffffu) {
			bv = v;
			bi = i;
		}
	}
	best_v[tid] = bv;
	best_i[tid] = bi;
	barrier();
	for (uint w = WG / 2; w > 0; w /= 2) {
		if (tid < w) {
			float v = best_v[tid + w];
			uint i = best_i[tid + w];
			if (i != 0xffffffffu && (v > best_v[tid] ||
			    (v == best_v[tid] && i < best_i[tid]) ||
			    best_i[tid] == 0xffffffffu)) {
				best_v[tid] = v;
				best_i[tid] = i;
			}
		}
		barrier();
	}
	if (tid == 0)
		IDS[row] = best_i[0];
}
