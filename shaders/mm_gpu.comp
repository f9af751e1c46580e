#version 450
// Matrix kernel for GPUs: a workgroup of WG threads holds WG / TPR sets of
// TPR threads, each set R rows; a set's threads split its rows into
// 64-element units (thread i takes units i, i + TPR, ...), so a short row
// still keeps its threads busy (TPR is chosen per matrix from the row
// length). Partial sums meet through subgroupAdd where a set spans whole
// subgroups, else through a tree in shared memory. Weights are read as
// uvec4 from a storage buffer, neighbouring threads reading neighbouring
// units. Same weight formats, activation formats and epilogues as
// mm_cpu.comp.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_arithmetic : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint R = 4;   // rows per set
layout(constant_id = 2) const uint T = 1;   // tokens per workgroup
layout(constant_id = 3) const uint EPI = 0; // DUET_EPI_*
layout(constant_id = 4) const uint WG = 64; // = local_size_x
layout(constant_id = 7) const uint TPR = 64; // threads per row set (2^k <= WG)

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

const uint SETS = WG / TPR;
shared float red[R * T][WG];

void main()
{
	uint tid = gl_LocalInvocationID.x, set = tid / TPR, lane = tid % TPR;
	uint r0 = (gl_WorkGroupID.x * SETS + set) * R;
	n_tok = pc.take_last != 0 ? 1 : step.n_tok;
	t0 = gl_WorkGroupID.y * T;
	if (t0 >= n_tok) // the whole workgroup: batches have no tail
		return;
	float acc[R][T];
	[[unroll]] for (uint r = 0; r < R; r++)
		[[unroll]] for (uint t = 0; t < T; t++)
			acc[r][t] = 0.0;
	// a set past the last row reads the last row and stores nothing
	ROW_UNIT_DOTS(acc, min(r0, pc.n_rows - 1), lane, TPR);
	uint sg = gl_SubgroupSize;
	if (TPR >= sg) {
		// subgroups lie inside one set (they are consecutive
		// invocations on every driver we know): one sum per subgroup,
		// then the set's first thread adds its TPR / sg subgroups' sums
		[[unroll]] for (uint r = 0; r < R; r++)
			[[unroll]] for (uint t = 0; t < T; t++) {
				float s = subgroupAdd(acc[r][t]);
				if (subgroupElect())
					red[r * T + t][tid] = s;
			}
		barrier();
		if (lane == 0)
			[[unroll]] for (uint r = 0; r < R; r++)
				[[unroll]] for (uint t = 0; t < T; t++) {
					float s = 0.0;
					for (uint i = 0; i < TPR / sg; i++)
						s += red[r * T + t][tid + i * sg];
					acc[r][t] = s;
				}
	} else {
		[[unroll]] for (uint r = 0; r < R; r++)
			[[unroll]] for (uint t = 0; t < T; t++)
				red[r * T + t][tid] = acc[r][t];
		barrier();
		for (uint h = TPR / 2; h > 0; h /= 2) {
			if (lane < h)
				[[unroll]] for (uint i = 0; i < R * T; i++)
					red[i][tid] += red[i][tid + h];
			barrier();
		}
		if (lane == 0)
			[[unroll]] for (uint r = 0; r < R; r++)
				[[unroll]] for (uint t = 0; t < T; t++)
					acc[r][t] = red[r * T + t][tid];
	}
	if (lane == 0 && r0 < pc.n_rows)
		EPILOGUE(acc, r0, t0, n_tok);
	run_tail();
}
