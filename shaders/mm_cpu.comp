#version 450
// Matrix kernel for CPU-executed Vulkan (lavapipe): each invocation owns R
// whole rows and walks them against T tokens at a time, so no value
// crosses lanes. Weights come through a texel buffer (one gather per
// 16 bytes), activations are read at addresses shared by all lanes.
// Decode runs with T = 1; prefill and verification with T > 1, one token
// tile per workgroup row (gl_WorkGroupID.y).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint R = 4;   // rows per invocation
layout(constant_id = 2) const uint T = 1;   // tokens per pass
layout(constant_id = 3) const uint EPI = 0; // DUET_EPI_*

#include "common.glsl"

layout(binding = 0) uniform usamplerBuffer W;
layout(binding = 1) readonly buffer XB { float X[]; };
layout(binding = 2) buffer YB { float Y[]; };
layout(binding = 3) readonly buffer RB { float RES[]; };
layout(binding = 4) readonly buffer BB { float BIAS[]; };
layout(binding = 5) readonly buffer FB { float FACT[]; };
layout(binding = 6) buffer KB { uint KC[]; };
layout(binding = 7) buffer VB { uint VC[]; };
layout(binding = 8) uniform SB { duet_step_ubo step; };
layout(push_constant) uniform PC { duet_pc_mm pc; };

uvec4 wfetch(uint texel)
{
	return texelFetch(W, int(texel));
}

#include "wtypes.glsl"
#include "epilogue.glsl"

void main()
{
	uint r0 = gl_GlobalInvocationID.x * R; // first row (of this part)
	if (r0 >= pc.n_rows)
		return;
	uint n_tok = pc.take_last != 0 ? 1 : step.n_tok;
	uint t0 = gl_WorkGroupID.y * T;
	if (t0 >= n_tok)
		return;
	float acc[R][T];
	[[unroll]] for (uint r = 0; r < R; r++)
		[[unroll]] for (uint t = 0; t < T; t++)
			acc[r][t] = 0.0;
	ACCUMULATE(acc, r0, t0, n_tok, 0, 1);
	EPILOGUE(acc, r0, t0, n_tok);
}
