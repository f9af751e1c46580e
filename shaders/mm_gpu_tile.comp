#version 450
// Matrix-matrix kernel for GPUs (prefill, speculative verification): a
// workgroup of WG threads owns WG x R rows and T tokens. Unit by unit
// (64 elements of every row), the workgroup first stages the T tokens'
// activations of that unit in shared memory, then each thread unpacks its
// R rows' unit once and takes it against all T tokens from there, so a
// weight is read from memory once per T tokens, not once per token, and
// every thread works whatever the row length. Same weight formats,
// activation formats and epilogues as mm_gpu.comp (which serves decode).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint R = 2;   // rows per thread
layout(constant_id = 2) const uint T = 16;  // tokens per workgroup
layout(constant_id = 3) const uint EPI = 0; // DUET_EPI_*
layout(constant_id = 4) const uint WG = 64; // = local_size_x

#include "common.glsl"

layout(binding = 0) readonly buffer WB { uvec4 WQ[]; };
layout(binding = 1) readonly buffer XB { vec4 X4[]; };
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
layout(push_constant) uniform PC { duet_pc_mm pc; };

uvec4 wfetch(uint texel) { return WQ[texel]; }
vec4 xfetch4(uint i) { return X4[i >> 2]; }
float xfetch(uint i) { return X4[i >> 2][i & 3u]; }

uint n_tok, t0; // this workgroup's first token

uint tok_x(uint t) { return min(t0 + t, n_tok - 1) * pc.x_stride; }

#include "wtypes.glsl"
#include "kvaddr.glsl"
#include "epilogue.glsl"

// the current unit's activations and scales, token by token
shared vec4 sa[T * UA];
shared vec2 sdu[T], ssu[T];
shared float sd[T][8], ss[T][8];

void main()
{
	uint tid = gl_LocalInvocationID.x;
	uint r0 = (gl_WorkGroupID.x * WG + tid) * R; // this thread's rows
	n_tok = step.n_tok;
	t0 = gl_WorkGroupID.y * T;
	if (t0 >= n_tok) // the whole workgroup
		return;
	float acc[R][T];
	[[unroll]] for (uint r = 0; r < R; r++)
		[[unroll]] for (uint t = 0; t < T; t++)
			acc[r][t] = 0.0;
	uint last = pc.n_rows - 1;
	[[dont_unroll]] for (uint k = 0; k < pc.n_in / UNIT; k++) {
		uint g = k / NUNITS, u = k % NUNITS;
		barrier(); // everyone is done with the previous unit
		for (uint i = tid; i < T * UA; i += WG)
			sa[i] = xfetch4(tok_x(i / UA) + g * 256 + u * UNIT + 4 * (i % UA));
		if (tid < T) {
			float D[8], S[8];
			vec2 du, su;
			act_group(tok_x(tid), pc.n_in, g, D, S);
			act_block(tok_x(tid), pc.n_in, g, u, du, su);
			sdu[tid] = du;
			ssu[tid] = su;
			[[unroll]] for (uint j = 0; j < 8; j++) {
				sd[tid][j] = D[j];
				ss[tid][j] = S[j];
			}
		}
		barrier();
		[[unroll]] for (uint r = 0; r < R; r++) {
			uint gt = min(r0 + r, last) * pc.w_row_texels + g * GROUP_TX;
			uvec4 h[HDR_N], v[UNIT_TX];
			fetch_header(gt, h);
			fetch_unit(gt, u, v);
			[[unroll]] for (uint t = 0; t < T; t++) {
				vec4 A[UA];
				[[unroll]] for (uint i = 0; i < UA; i++)
					A[i] = sa[t * UA + i];
				int isum = 0;
				unit_dot(h, v, u, A, sdu[t], ssu[t], acc[r][t], isum);
				if (K_TYPE) {
					float D[8], S[8];
					[[unroll]] for (uint j = 0; j < 8; j++) {
						D[j] = sd[t][j];
						S[j] = ss[t][j];
					}
					acc[r][t] += group_dot(h, D, S, isum, u == 0);
				}
			}
		}
	}
	if (r0 < pc.n_rows)
		EPILOGUE(acc, r0, t0, n_tok);
}
