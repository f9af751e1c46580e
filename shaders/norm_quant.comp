#version 450
// Prepares a matrix kernel's input (prep.glsl), one workgroup per token.
// Built twice: with F64 the sum of squares is taken in double like the
// reference; without (devices lacking shaderFloat64) in compensated fp32.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint DOTF = 0; // DUET_DOT_*
layout(constant_id = 2) const uint WG = 64;  // = local_size_x, a power of 2

#include "common.glsl"

layout(binding = 0) readonly buffer XB { float X[]; };
layout(binding = 1) writeonly buffer YB { float Y[]; };
layout(binding = 2) readonly buffer NB { float NW[]; };
layout(binding = 3) uniform SB { duet_step_ubo step; };
layout(push_constant) uniform PC { duet_pc_prep pc; };

#ifdef F64
#define PREP_ACC double
#else
#define PREP_ACC float
#endif
shared PREP_ACC red[WG];
uint xo_, yo_;

PREP_ACC wg_sum(PREP_ACC v)
{
	uint tid = gl_LocalInvocationID.x;
	red[tid] = v;
	barrier();
	for (uint w = WG / 2; w > 0; w /= 2) {
		if (tid < w)
			red[tid] += red[tid + w];
		barrier();
	}
	return red[0];
}

#define PREP_IN(i) X[xo_ + (i)]
#define PREP_NW(i) NW[i]
#define PREP_OUT(i, v) Y[yo_ + (i)] = (v)
#define PREP_SUM(v) wg_sum(v)
#include "prep.glsl"

void main()
{
	uint tok = pc.take_last != 0 ? step.last : gl_WorkGroupID.x;
	if (tok >= step.n_tok)
		return;
	xo_ = tok * pc.x_stride;
	yo_ = (pc.take_last != 0 ? 0 : tok) * pc.y_stride;
	prep_token(pc.p, gl_LocalInvocationID.x, WG);
}
