// Tails: in decode, the workgroup of a kernel that finishes last also
// prepares the next matrix kernel's input (prep.glsl) or finds the argmax
// of the logits, instead of a dispatch of its own (each dispatch costs tens
// of microseconds on lavapipe). A counter per tail (reset by the tail)
// tells the workgroups apart; writes become visible through coherent
// buffers and memory barriers before the counter moves.
//
// The includer defines TAIL_IN(i) (element i of the kernel's own output,
// token 0), pc.tail (struct duet_prep), and TAIL_WG when a workgroup has
// several subgroups (then the tail synchronises with barrier()).
#ifndef DUET_TAIL_GLSL
#define DUET_TAIL_GLSL

#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_ballot : require

layout(constant_id = 6) const uint TDOT = 0; // dot format of a prep tail

layout(binding = 10) writeonly buffer TOB { float TOUT[]; };
layout(binding = 11) readonly buffer TNB { float TNW[]; };
layout(binding = 12) coherent buffer TCB { uint CNT[]; };

#ifdef TAIL_WG
shared float tail_red[TAIL_WG];
shared uint tail_red_i[TAIL_WG];
shared uint tail_flag;

float tail_sum(float v)
{
	float s = subgroupAdd(v);
	barrier();
	if (subgroupElect())
		tail_red[gl_SubgroupID] = s;
	barrier();
	float t = 0.0;
	for (uint i = 0; i < gl_NumSubgroups; i++)
		t += tail_red[i];
	barrier();
	return t;
}
#define TAIL_LANE gl_LocalInvocationIndex
#define TAIL_LANES TAIL_WG
#else
#define tail_sum(v) subgroupAdd(v)
// a workgroup is at most one subgroup here (the CPU family)
#define TAIL_LANE gl_LocalInvocationID.x
#define TAIL_LANES gl_WorkGroupSize.x
#endif

#define DOTF TDOT
#define PREP_IN(i) TAIL_IN(i)
#define PREP_NW(i) TNW[i]
#define PREP_OUT(i, v) TOUT[i] = (v)
#define PREP_ACC float
#define PREP_SUM(v) tail_sum(v)
#include "prep.glsl"

// True (in every invocation) in the workgroup that finished last.
bool tail_last()
{
	memoryBarrierBuffer();
#ifdef TAIL_WG
	barrier();
	if (gl_LocalInvocationIndex == 0)
		tail_flag = atomicAdd(CNT[pc.tail.counter], 1u) + 1u;
	barrier();
	uint done = tail_flag;
#else
	uint done = 0;
	if (subgroupElect())
		done = atomicAdd(CNT[pc.tail.counter], 1u) + 1u;
	done = subgroupMax(done);
#endif
	if (done != pc.tail.n_groups)
		return false;
	memoryBarrierBuffer();
	return true;
}

// Index of the largest of TAIL_IN(0 .. n-1), the first on ties.
uint tail_argmax(uint n)
{
	float bv = -1.0 / 0.0;
	uint bi = 0xffffffffu;
	for (uint i = TAIL_LANE; i < n; i += TAIL_LANES) {
		float v = TAIL_IN(i);
		if (bi == 0xffffffffu || v > bv) {
			bv = v;
			bi = i;
		}
	}
#ifdef TAIL_WG
	tail_red[TAIL_LANE] = bv;
	tail_red_i[TAIL_LANE] = bi;
	barrier();
	uint best = 0;
	for (uint k = 1; k < TAIL_WG; k++)
		if (tail_red_i[k] != 0xffffffffu &&
		    (tail_red_i[best] == 0xffffffffu || tail_red[k] > tail_red[best] ||
		     (tail_red[k] == tail_red[best] && tail_red_i[k] < tail_red_i[best])))
			best = k;
	uint r = tail_red_i[best];
	barrier();
	return r;
#else
	float m = subgroupMax(bi == 0xffffffffu ? -1.0 / 0.0 : bv);
	return subgroupMin(bi != 0xffffffffu && bv == m ? bi : 0xffffffffu);
#endif
}

// The tail itself: call in every invocation after the kernel's own work
// (no invocation may have returned early: each does a share of the tail).
void run_tail()
{
	if (pc.tail.kind == 0 || !tail_last())
		return;
	if (pc.tail.kind == 1) {
		prep_token(pc.tail, TAIL_LANE, TAIL_LANES);
	} else {
		uint best = tail_argmax(pc.tail.n);
		if (TAIL_LANE == 0)
			TOUT[0] = uintBitsToFloat(best);
	}
	if (TAIL_LANE == 0)
		CNT[pc.tail.counter] = 0;
}

#endif
