#version 450
// Attention for GPUs: a workgroup per (token, head) takes the cached
// positions in blocks of WG: each thread scores one position of the block
// (q from shared memory against that position's K row), the block's
// maximum and the running sum rescale as in online softmax, and then each
// thread adds its own dimensions of the block's V rows, weighted by the
// scores in shared memory. A few barriers per block, not two per
// position. Sums are f32 (as llama.cpp's Vulkan flash attention keeps
// them); an f16 cache still rounds q to f16 first, as the CPU does.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_arithmetic : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint HD = 64; // head_dim
layout(constant_id = 2) const uint WG = 32; // = local_size_x
#define DPT ((HD + WG - 1) / WG) // dims per thread

#include "common.glsl"

layout(binding = 0) readonly buffer QB { float Q[]; };
layout(binding = 1) readonly buffer KB { uint KC[]; };
layout(binding = 2) readonly buffer VB { uint VC[]; };
layout(binding = 13) readonly buffer KB2 { uint KC2[]; }; // KV pool chunks 2, 3
layout(binding = 14) readonly buffer KB3 { uint KC3[]; };
layout(binding = 3) coherent buffer OB { float O[]; };
layout(binding = 4) uniform SB { duet_step_ubo step; };
layout(binding = 5) readonly buffer PTB { uint PT[]; }; // KV pages
layout(push_constant) uniform PC { duet_pc_attn pc; };

#include "kvaddr.glsl"

#define TAIL_IN(i) O[i]
#define TAIL_WG WG
#include "tail.glsl"

shared float red[WG];
shared float sq[HD];  // the query (f16-rounded for an f16 cache)
shared float sp[WG];  // the block's weights exp(s - M)

// Word i of cache chunk c (kvaddr.glsl).
uint kv_ld(uint c, uint i)
{
	return c == 0u ? KC[i] : c == 1u ? VC[i] : c == 2u ? KC2[i] : KC3[i];
}

// Value d of head kvh of the row at byte `row` of chunk c, in the cache's
// row format.
float cache_val(uint c, uint row, uint kvh, uint d)
{
	if (KVT == DUET_KVT_F32)
		return uintBitsToFloat(kv_ld(c, row / 4u + kvh * HD + d));
	if (KVT == DUET_KVT_Q8_0) {
		uint sb = row + (kvh * (HD / 32u) + d / 32u) * 2u;
		uint qb = row + kv_scale_bytes(pc.n_embd_kv) + kvh * HD + d;
		return unpackHalf2x16(kv_ld(c, sb >> 2))[(sb >> 1) & 1u] *
		       float(bitfieldExtract(int(kv_ld(c, qb >> 2)), int(8u * (qb & 3u)), 8));
	}
	uint i = row / 2u + kvh * HD + d; // halves
	return unpackHalf2x16(kv_ld(c, i >> 1))[i & 1u];
}

// The maximum (or, sum true, the sum) of v over the workgroup.
float wg_reduce(float v, bool sum)
{
	float r = sum ? subgroupAdd(v) : subgroupMax(v);
	if (subgroupElect())
		red[gl_SubgroupID] = r;
	barrier();
	float t = red[0];
	for (uint i = 1; i < gl_NumSubgroups; i++)
		t = sum ? t + red[i] : max(t, red[i]);
	barrier();
	return t;
}

void main()
{
	uint tok = gl_WorkGroupID.x / pc.n_head, h = gl_WorkGroupID.x % pc.n_head;
	uint tid = gl_LocalInvocationID.x;
	if (tok >= step.n_tok)
		return;
	uint kvh = h / (pc.n_head / pc.n_head_kv);
	for (uint d = tid; d < HD; d += WG) {
		float qd = Q[tok * pc.q_stride + h * HD + d];
		sq[d] = KVT == DUET_KVT_F16 ? round_f16(qd) : qd;
	}
	float acc[DPT];
	[[unroll]] for (uint k = 0; k < DPT; k++)
		acc[k] = 0.0;
	uint n_pos = step.pos0 + tok + 1;
	float M = -1.0 / 0.0, S = 0.0; // S: this thread's share of the sum
	barrier();
	for (uint j0 = 0; j0 < n_pos; j0 += WG) {
		uint j = j0 + tid;
		float s = -1.0 / 0.0;
		if (j < n_pos) {
			uint ck, rowk = kv_row(j, 0u, pc.n_embd_kv, ck);
			float dot = 0.0;
			for (uint d = 0; d < HD; d++)
				dot += sq[d] * cache_val(ck, rowk, kvh, d);
			s = dot * pc.scale;
		}
		float mn = max(M, wg_reduce(s, false));
		float ms = exp(M - mn); // 0 for the first block
		float p = j < n_pos ? exp(s - mn) : 0.0;
		sp[tid] = p;
		S = S * ms + p;
		M = mn;
		[[unroll]] for (uint k = 0; k < DPT; k++)
			acc[k] *= ms;
		barrier();
		uint nb = min(WG, n_pos - j0);
		for (uint i = 0; i < nb; i++) {
			uint cv, rowv = kv_row(j0 + i, 1u, pc.n_embd_kv, cv);
			float w = sp[i];
			[[unroll]] for (uint k = 0; k < DPT; k++) {
				uint d = tid + k * WG;
				if (d < HD)
					acc[k] += w * cache_val(cv, rowv, kvh, d);
			}
		}
		barrier(); // sp is rewritten by the next block
	}
	S = wg_reduce(S, true);
	[[unroll]] for (uint k = 0; k < DPT; k++) {
		uint d = tid + k * WG;
		if (d < HD)
			O[tok * pc.o_stride + h * HD + d] = acc[k] * (1.0 / S);
	}
	run_tail();
}
