#version 450
// Matrix kernel for GPUs: a workgroup owns R rows; its threads split the
// row into 256-element groups, then the partial sums meet through
// subgroupAdd and shared memory. Weights are read as uvec4 from a storage
// buffer (coalesced across threads). Same weight formats, activation
// formats and epilogues as mm_cpu.comp.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_arithmetic : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint R = 4;   // rows per workgroup
layout(constant_id = 2) const uint T = 1;   // tokens per pass
layout(constant_id = 3) const uint EPI = 0; // DUET_EPI_*
layout(constant_id = 4) const uint WG = 64; // = local_size_x

#include "common.glsl"

layout(binding = 0) readonly buffer WB { uvec4 WQ[]; };
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

uvec4 wfetch(uint texel) { return WQ[texel]; }
vec4 xfetch4(uint i) { return X4[i >> 2]; }
float xfetch(uint i) { return X4[i >> 2][i & 3u]; }

uint n_tok, t0; // this workgroup's first token

uint tok_x(uint t) { return min(t0 + t, n_tok - 1) * pc.x_stride; }

#include "wtypes.glsl"
#include "kvaddr.glsl"
#include "epilogue.glsl"
#define TAIL_IN(i) Y[pc.y_off + (i)]
#define TAIL_WG WG
#include "tail.glsl"

shared float red[R * T][WG];

void main()
{
	uint r0 = gl_WorkGroupID.x * R, tid = gl_LocalInvocationID.x;
	if (r0 >= pc.n_rows)
		return;
	n_tok = pc.take_last != 0 ? 1 : step.n_tok;
	t0 = gl_WorkGroupID.y * T;
	if (t0 >= n_tok)
		return;
	float acc[R][T];
	[[unroll]] for (uint r = 0; r < R; r++)
		[[unroll]] for (uint t = 0; t < T; t++)
			acc[r][t] = 0.0;
	ROW_DOTS(acc, r0, tid, WG);
	// one subgroup sum per (row, token), then across subgroups
	[[unroll]] for (uint r = 0; r < R; r++)
		[[unroll]] for (uint t = 0; t < T; t++) {
			float s = subgroupAdd(acc[r][t]);
			if (subgroupElect())
				red[r * T + t][gl_SubgroupID] = s;
		}
	barrier();
	if (tid == 0) {
		[[unroll]] for (uint r = 0; r < R; r++)
			[[unroll]] for (uint t = 0; t < T; t++) {
				float s = 0.0;
				for (uint i = 0; i < gl_NumSubgroups; i++)
					s += red[r * T + t][i];
				acc[r][t] = s;
			}
		EPILOGUE(acc, r0, t0, n_tok);
	}
	run_tail();
}
