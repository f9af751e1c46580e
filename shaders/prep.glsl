// Preparing one token's input to a matrix kernel (struct duet_prep):
// optional RMS norm times its weight, optional SwiGLU, then the rounding or
// 8-bit quantization of the dot format DOTF, exactly as the CPU reference
// rounds. Shared by norm_quant.comp (a workgroup per token) and the tails
// (tail.glsl). The includer defines, before including:
//   float PREP_IN(uint i)          raw input element i of the token
//   float PREP_NW(uint i)          norm weight i
//   void  PREP_OUT(uint i, float)  stores output float i
//   PREP_ACC                       float or double (the sum of squares)
//   PREP_ACC PREP_SUM(PREP_ACC v)  sum of v over the workgroup's lanes
//   DOTF                           a DUET_DOT_* constant
#ifndef DUET_PREP_GLSL
#define DUET_PREP_GLSL

float prep_x(const duet_prep p, uint i)
{
	return p.swiglu != 0 ? silu(PREP_IN(i)) * PREP_IN(p.g_off + i) : PREP_IN(i);
}

float prep_value(const duet_prep p, float scale, uint i)
{
	if (i >= p.n)
		return 0.0;
	float x = prep_x(p, i);
	return p.norm != 0 ? (x * scale) * PREP_NW(i) : x;
}

// Lane `lane` of `lanes` prepares its share of the token.
void prep_token(const duet_prep p, uint lane, uint lanes)
{
	float scale = 1.0;
	if (p.norm != 0) {
		// Neumaier sum of the squares, compensation in c
		PREP_ACC s = PREP_ACC(0.0), c = PREP_ACC(0.0);
		for (uint i = lane; i < p.n; i += lanes) {
			float x = prep_x(p, i);
			PREP_ACC v = PREP_ACC(x) * PREP_ACC(x), t = s + v;
			c += abs(s) >= abs(v) ? (s - t) + v : (v - t) + s;
			s = t;
		}
		PREP_ACC tot = PREP_SUM(s + c);
		scale = 1.0 / sqrt(float(tot / PREP_ACC(p.n)) + p.eps);
	}
	uint n_pad = p.n_pad;
	if (DOTF == DUET_DOT_F32 || DOTF == DUET_DOT_F16 || DOTF == DUET_DOT_BF16) {
		for (uint i = lane; i < n_pad; i += lanes) {
			float y = prep_value(p, scale, i);
			PREP_OUT(i, DOTF == DUET_DOT_F16 ? round_f16(y)
				 : DOTF == DUET_DOT_BF16 ? round_bf16(y) : y);
		}
	} else if (DOTF == DUET_DOT_Q8_0 || DOTF == DUET_DOT_Q8_1) {
		uint nb = n_pad / 32;
		for (uint b = lane; b < nb; b += lanes) {
			float amax = 0.0;
			[[unroll]] for (uint j = 0; j < 32; j++)
				amax = max(amax, abs(prep_value(p, scale, 32 * b + j)));
			// p.q8_max is 127 at run time: a constant divisor would be
			// turned into a product with its reciprocal, which rounds
			// differently from the reference's division
			float d = amax / p.q8_max, id = d != 0.0 ? 1.0 / d : 0.0;
			float sum = 0.0;
			[[unroll]] for (uint j = 0; j < 32; j++) {
				float q = clamp(round_away(prep_value(p, scale, 32 * b + j) * id),
						-127.0, 127.0);
				PREP_OUT(32 * b + j, q);
				sum += q;
			}
			PREP_OUT(n_pad + b, round_f16(d));
			PREP_OUT(n_pad + nb + b, DOTF == DUET_DOT_Q8_1 ? round_f16(sum * d) : sum);
		}
	} else { // DUET_DOT_Q8_K
		uint ng = n_pad / 256;
		for (uint g = lane; g < ng; g += lanes) {
			float amax = 0.0, mx = 0.0;
			for (uint j = 0; j < 256; j++) {
				float v = prep_value(p, scale, 256 * g + j);
				if (abs(v) > amax) {
					amax = abs(v);
					mx = v;
				}
			}
			float iscale = mx != 0.0 ? -p.q8_max / mx : 0.0;
			for (uint k = 0; k < 16; k++) {
				float sum = 0.0;
				[[unroll]] for (uint j = 0; j < 16; j++) {
					float q = clamp(roundEven(iscale *
						prep_value(p, scale, 256 * g + 16 * k + j)),
						-128.0, 127.0);
					PREP_OUT(256 * g + 16 * k + j, q);
					sum += q;
				}
				PREP_OUT(n_pad + ng + 16 * g + k, sum);
			}
			PREP_OUT(n_pad + g, mx != 0.0 ? 1.0 / iscale : 0.0);
		}
	}
}

#endif
