#version 450
// Matrix-vector kernel (decode) for CPU-executed Vulkan (lavapipe): each
// invocation owns R whole rows, so no value crosses lanes. Per 32/64
// elements the activations are loaded once (addresses shared by all
// lanes) and reused by every row; weights come through a texel buffer,
// where a fetch is one vector gather instead of a per-lane loop.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint R = 16;  // rows per invocation
layout(constant_id = 3) const uint EPI = 0; // DUET_EPI_*
const uint T = 1;                           // one token (the epilogue's T)

#include "common.glsl"

layout(binding = 0) uniform usamplerBuffer W;
layout(binding = 1) readonly buffer XB { vec4 X4[]; };
layout(binding = 2) coherent buffer YB { float Y[]; };
layout(binding = 3) readonly buffer RB { float RES[]; };
layout(binding = 4) readonly buffer BB { float BIAS[]; };
layout(binding = 5) readonly buffer FB { float FACT[]; };
layout(binding = 6) buffer KB { uint KC[]; };
layout(binding = 7) buffer VB { uint VC[]; };
layout(binding = 14) buffer KB2 { uint KC2[]; }; // KV pool chunks 2, 3
layout(binding = 15) buffer KB3 { uint KC3[]; };
layout(binding = 8) uniform SB { duet_step_ubo step; };
layout(binding = 13) readonly buffer PTB { uint PT[]; }; // KV pages (kvaddr.glsl)
layout(push_constant) uniform PC { duet_pc_mm pc; };

uvec4 wfetch(uint texel) { return texelFetch(W, int(texel)); }
vec4 xfetch4(uint i) { return X4[i >> 2]; }
float xfetch(uint i) { return X4[i >> 2][i & 3u]; }

uint tok_x(uint t) { return 0; }

#include "wtypes.glsl"
#include "kvaddr.glsl"
#include "epilogue.glsl"
#define TAIL_IN(i) Y[pc.y_off + (i)]
#include "tail.glsl"

void main()
{
	uint r0 = gl_GlobalInvocationID.x * R; // first row (of this part)
	if (r0 < pc.n_rows) {
		float acc[R][T];
		[[unroll]] for (uint r = 0; r < R; r++)
			acc[r][0] = 0.0;
		ROW_DOTS(acc, r0, 0, 1);
		EPILOGUE(acc, r0, 0, 1);
	}
	run_tail();
}
