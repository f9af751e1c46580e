#version 450
// Attention for GPUs: a workgroup per (token, head); threads split the
// head's dimensions, the q.k products meet through subgroupAdd and shared
// memory, and every thread keeps its own dimensions of the running V sum
// (f16-rounded for an f16 cache). Same numerics as attn_cpu.comp and the
// CPU reference.
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
shared uint overflow;

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

void main()
{
	uint tok = gl_WorkGroupID.x / pc.n_head, h = gl_WorkGroupID.x % pc.n_head;
	uint tid = gl_LocalInvocationID.x;
	if (tok >= step.n_tok)
		return;
	uint kvh = h / (pc.n_head / pc.n_head_kv);
	float q[DPT], acc[DPT];
	[[unroll]] for (uint k = 0; k < DPT; k++) {
		uint d = tid + k * WG;
		float qd = d < HD ? Q[tok * pc.q_stride + h * HD + d] : 0.0;
		q[k] = KVT == DUET_KVT_F16 ? round_f16(qd) : qd;
	}
	uint n_pos = step.pos0 + tok + 1;
	float S = 0.0;
	for (uint pass = 0; pass < 2; pass++) {
		bool f16_acc = pass == 0 && KVT == DUET_KVT_F16;
		float M = -1.0 / 0.0;
		S = 0.0;
		[[unroll]] for (uint k = 0; k < DPT; k++)
			acc[k] = 0.0;
		if (tid == 0)
			overflow = 0;
		barrier();
		for (uint j = 0; j < n_pos; j++) {
			uint ck, cv;
			uint rowk = kv_row(j, 0u, pc.n_embd_kv, ck);
			uint rowv = kv_row(j, 1u, pc.n_embd_kv, cv);
			float part = 0.0;
			[[unroll]] for (uint k = 0; k < DPT; k++) {
				uint d = tid + k * WG;
				if (d < HD)
					part += q[k] * cache_val(ck, rowk, kvh, d);
			}
			float sg = subgroupAdd(part);
			if (subgroupElect())
				red[gl_SubgroupID] = sg;
			barrier();
			float dot = 0.0;
			for (uint i = 0; i < gl_NumSubgroups; i++)
				dot += red[i];
			barrier();
			float s = dot * pc.scale, ms = 1.0, vs = 1.0;
			if (s > M) {
				ms = exp(M - s);
				M = s;
				[[unroll]] for (uint k = 0; k < DPT; k++)
					acc[k] = f16_acc ? round_f16(acc[k] * ms) : acc[k] * ms;
			} else {
				vs = exp(s - M);
			}
			[[unroll]] for (uint k = 0; k < DPT; k++) {
				uint d = tid + k * WG;
				if (d >= HD)
					continue;
				float a = fma(cache_val(cv, rowv, kvh, d), vs, acc[k]);
				acc[k] = f16_acc ? round_f16(a) : a;
				if (isinf(acc[k]) || isnan(acc[k]))
					atomicOr(overflow, 1u);
			}
			S = S * ms + vs;
		}
		barrier();
		if (overflow == 0 || !f16_acc)
			break;
		barrier();
	}
	[[unroll]] for (uint k = 0; k < DPT; k++) {
		uint d = tid + k * WG;
		if (d < HD)
			O[tok * pc.o_stride + h * HD + d] = acc[k] * (1.0 / S);
	}
	run_tail();
}
