#version 450
// Prepares a matrix kernel's input, one workgroup per token: optional RMS
// norm (times its weight), optional SwiGLU of a [gate | up] input, then the
// rounding or 8-bit quantization the weight type's dot product expects
// (see DUET_DOT_* in abi/kernels.h), exactly as the CPU reference rounds.
// Built twice: with F64 the sum of squares is taken in double like the
// reference; without (devices lacking shaderFloat64) in compensated fp32.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint DOTF = 0; // DUET_DOT_*
layout(constant_id = 2) const uint WG = 64;  // = local_size_x

#include "common.glsl"

layout(binding = 0) readonly buffer XB { float X[]; };
layout(binding = 1) writeonly buffer YB { float Y[]; };
layout(binding = 2) readonly buffer NB { float NW[]; };
layout(binding = 3) uniform SB { duet_step_ubo step; };
layout(push_constant) uniform PC { duet_pc_prep pc; };

#ifdef F64
#define ACC double
#else
#define ACC float
#endif
shared ACC red[WG];
shared float scale_s;

float value(uint xo, uint i)
{
	if (i >= pc.n)
		return 0.0;
	float x = pc.swiglu != 0 ? silu(X[xo + i]) * X[xo + pc.g_off + i] : X[xo + i];
	return pc.norm != 0 ? (x * scale_s) * NW[i] : x;
}

void main()
{
	uint tok = pc.take_last != 0 ? step.last : gl_WorkGroupID.x;
	uint out_tok = pc.take_last != 0 ? 0 : tok;
	if (tok >= step.n_tok)
		return;
	uint tid = gl_LocalInvocationID.x;
	uint xo = tok * pc.x_stride, yo = out_tok * pc.y_stride;
	if (pc.norm != 0) {
		ACC s = ACC(0.0), c = ACC(0.0); // Neumaier sum with compensation c
		for (uint i = tid; i < pc.n; i += WG) {
			float x = pc.swiglu != 0 ? silu(X[xo + i]) * X[xo + pc.g_off + i]
						 : X[xo + i];
			ACC v = ACC(x) * ACC(x), t = s + v;
			c += abs(s) >= abs(v) ? (s - t) + v : (v - t) + s;
			s = t;
		}
		red[tid] = s + c;
		barrier();
		for (uint w = WG / 2; w > 0; w /= 2) {
			if (tid < w)
				red[tid] += red[tid + w];
			barrier();
		}
		if (tid == 0)
			scale_s = 1.0 / sqrt(float(red[0] / ACC(pc.n)) + pc.eps);
		barrier();
	}
	uint n_pad = pc.n_pad;
	if (DOTF == DUET_DOT_F32 || DOTF == DUET_DOT_F16 || DOTF == DUET_DOT_BF16) {
		for (uint i = tid; i < n_pad; i += WG) {
			float y = value(xo, i);
			Y[yo + i] = DOTF == DUET_DOT_F16 ? round_f16(y)
				    : DOTF == DUET_DOT_BF16 ? round_bf16(y) : y;
		}
	} else if (DOTF == DUET_DOT_Q8_0 || DOTF == DUET_DOT_Q8_1) {
		uint nb = n_pad / 32;
		for (uint b = tid; b < nb; b += WG) {
			float amax = 0.0;
			[[unroll]] for (uint j = 0; j < 32; j++)
				amax = max(amax, abs(value(xo, 32 * b + j)));
			// pc.q8_max is 127 at run time: a constant divisor would be
			// turned into a product with its reciprocal, which rounds
			// differently from the reference's division
			float d = amax / pc.q8_max, id = d != 0.0 ? 1.0 / d : 0.0;
			float sum = 0.0;
			[[unroll]] for (uint j = 0; j < 32; j++) {
				float q = clamp(round_away(value(xo, 32 * b + j) * id), -127.0, 127.0);
				Y[yo + 32 * b + j] = q;
				sum += q;
			}
			Y[yo + n_pad + b] = round_f16(d);
			Y[yo + n_pad + nb + b] = DOTF == DUET_DOT_Q8_1 ? round_f16(sum * d) : sum;
		}
	} else { // DUET_DOT_Q8_K
		uint ng = n_pad / 256;
		for (uint g = tid; g < ng; g += WG) {
			float amax = 0.0, mx = 0.0;
			for (uint j = 0; j < 256; j++) {
				float v = value(xo, 256 * g + j);
				if (abs(v) > amax) {
					amax = abs(v);
					mx = v;
				}
			}
			float iscale = mx != 0.0 ? -pc.q8_max / mx : 0.0;
			for (uint k = 0; k < 16; k++) {
				float sum = 0.0;
				[[unroll]] for (uint j = 16 * k; j < 16 * k + 16; j++) {
					float q = clamp(roundEven(iscale * value(xo, 256 * g + j)),
							-128.0, 127.0);
					Y[yo + 256 * g + j] = q;
					sum += q;
				}
				Y[yo + n_pad + ng + 16 * g + k] = sum;
			}
			Y[yo + n_pad + g] = mx != 0.0 ? 1.0 / iscale : 0.0;
		}
	}
}
