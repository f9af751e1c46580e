#version 450
// Matrix-matrix kernel (prefill, speculative verification) for
// CPU-executed Vulkan: the lanes of a workgroup are tokens and share every
// weight, so each weight is fetched and unpacked once per eight lanes
// (uniform addresses) and used for each lane's T tokens, while each lane
// gathers its own activations through a texel buffer. A workgroup owns R
// rows and 8 T tokens.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;             // tokens per workgroup
layout(constant_id = 1) const uint R = 8;   // rows per workgroup
layout(constant_id = 2) const uint T = 1;   // tokens per invocation
layout(constant_id = 3) const uint EPI = 0; // DUET_EPI_*
// tokens in a tile of the level dispatched before this one (0: none):
// this dispatch starts past the step's last whole tile of U tokens
layout(constant_id = 4) const uint U = 0;

#include "common.glsl"

layout(binding = 0) uniform usamplerBuffer W;
layout(binding = 1) readonly buffer XB { float X[]; };
layout(binding = 2) buffer YB { float Y[]; };
layout(binding = 3) readonly buffer RB { float RES[]; };
layout(binding = 4) readonly buffer BB { float BIAS[]; };
layout(binding = 5) readonly buffer FB { float FACT[]; };
layout(binding = 6) buffer KB { uint KC[]; };
layout(binding = 7) buffer VB { uint VC[]; };
layout(binding = 14) buffer KB2 { uint KC2[]; }; // KV pool chunks 2, 3
layout(binding = 15) buffer KB3 { uint KC3[]; };
layout(binding = 8) uniform SB { duet_step_ubo step; };
layout(binding = 13) readonly buffer PTB { uint PT[]; }; // KV pages (kvaddr.glsl)
layout(binding = 9) uniform usamplerBuffer XT; // the activations again
layout(push_constant) uniform PC { duet_pc_mm pc; };

uvec4 wfetch(uint texel) { return texelFetch(W, int(texel)); }
vec4 xfetch4(uint i) { return uintBitsToFloat(texelFetch(XT, int(i >> 2))); }
float xfetch(uint i) { return X[i]; }

#include "wtypes.glsl"
#include "kvaddr.glsl"
#include "epilogue.glsl"

uint n_tok, tok; // this invocation's first token

// Activations of token tok + t (the levels dispatch whole tiles of T).
uint tok_x(uint t) { return (tok + t) * pc.x_stride; }

void main()
{
	n_tok = pc.take_last != 0 ? 1 : step.n_tok;
	tok = (U != 0 ? n_tok / U * U : 0) +
	      (gl_WorkGroupID.y * gl_WorkGroupSize.x + gl_LocalInvocationID.x) * T;
	uint r0 = gl_WorkGroupID.x * R;
	if (tok >= n_tok || r0 >= pc.n_rows)
		return;
	float acc[R][T];
	[[unroll]] for (uint r = 0; r < R; r++)
		[[unroll]] for (uint t = 0; t < T; t++)
			acc[r][t] = 0.0;
	ROW_DOTS(acc, r0, 0, 1);
	EPILOGUE(acc, r0, tok, n_tok);
}
