// Weight formats as the matrix kernels read them. runtime/vk_pack.c
// repacks GGUF blocks into groups of 256 elements, each a whole number of
// 16-byte texels (scales first, then quants in unit order), so a kernel
// fetches every byte it needs with uvec4 loads. Per type:
//   HDR_TX  header texels per group (scales, high bits), kept in registers
//   UNIT    elements per unit; UNIT_TX texels fetched per unit
//   DOT     activation format (abi/kernels.h)
// A kernel loads one unit's activations into registers (act_unit) and the
// group's activation scales (act_group), then unit_dot() adds one row's
// unit to acc (float, *_0 and *_1 types) or to the integer sum isum (K
// types, finished per group by group_dot()). Products of small integers
// are exact in fp32, so the sums equal the CPU reference's integer sums.
//
// The includer defines WTYPE (a GGML type id), `uvec4 wfetch(uint texel)`
// and `vec4 xfetch4(uint float_index)` (4 activations) and
// `float xfetch(uint float_index)` before including this file.
#ifndef DUET_WTYPES_GLSL
#define DUET_WTYPES_GLSL

// Every loop with a constant trip count is unrolled: llvmpipe stops a
// shader invocation after 65535 loop iterations in total (all loops
// together), so only loops over groups may remain.

#define T_F32 0
#define T_F16 1
#define T_Q4_0 2
#define T_Q4_1 3
#define T_Q5_0 6
#define T_Q5_1 7
#define T_Q8_0 8
#define T_Q4_K 12
#define T_Q5_K 13
#define T_Q6_K 14
#define T_BF16 30

#if WTYPE == T_F32
#define HDR_TX 0
#define UNIT 64
#define UNIT_TX 16
#define DOT DUET_DOT_F32
#elif WTYPE == T_F16
#define HDR_TX 0
#define UNIT 64
#define UNIT_TX 8
#define DOT DUET_DOT_F16
#elif WTYPE == T_BF16
#define HDR_TX 0
#define UNIT 64
#define UNIT_TX 8
#define DOT DUET_DOT_BF16
#elif WTYPE == T_Q4_0
#define HDR_TX 1 // d[8] f16
#define UNIT 64
#define UNIT_TX 2
#define DOT DUET_DOT_Q8_0
#elif WTYPE == T_Q4_1
#define HDR_TX 2 // (d | m << 16)[8]
#define UNIT 64
#define UNIT_TX 2
#define DOT DUET_DOT_Q8_1
#elif WTYPE == T_Q5_0
#define HDR_TX 3 // d[8] f16, qh[8]
#define UNIT 64
#define UNIT_TX 2
#define DOT DUET_DOT_Q8_0
#elif WTYPE == T_Q5_1
#define HDR_TX 4 // (d | m << 16)[8], qh[8]
#define UNIT 64
#define UNIT_TX 2
#define DOT DUET_DOT_Q8_1
#elif WTYPE == T_Q8_0
#define HDR_TX 1 // d[8] f16
#define UNIT 64
#define UNIT_TX 4
#define DOT DUET_DOT_Q8_0
#elif WTYPE == T_Q4_K
#define HDR_TX 1 // d | dmin << 16, scales[12]
#define UNIT 64
#define UNIT_TX 2
#define DOT DUET_DOT_Q8_K
#elif WTYPE == T_Q5_K
#define HDR_TX 3 // d | dmin << 16, scales[12]; qh[32]
#define UNIT 64
#define UNIT_TX 2
#define DOT DUET_DOT_Q8_K
#elif WTYPE == T_Q6_K
#define HDR_TX 2 // scales[16] (i8); d f16
#define UNIT 64
#define UNIT_TX 3 // low nibbles (2 texels), high bit pairs (1 texel)
#define DOT DUET_DOT_Q8_K
#else
#error "unknown WTYPE"
#endif

#define NUNITS (256 / UNIT)
#define GROUP_TX (HDR_TX + NUNITS * UNIT_TX)
#define HDR_N (HDR_TX > 0 ? HDR_TX : 1)
#define K_TYPE (DOT == DUET_DOT_Q8_K)

#define UA (UNIT / 4) // vec4 registers of one unit's activations

// Index arithmetic below avoids local arrays indexed by loop variables
// that are not unrolled: llvmpipe turns those into per-lane memory
// accesses; selects between registers are cheap.
uint comp(uvec4 v, uint c)
{
	return c == 0u ? v.x : c == 1u ? v.y : c == 2u ? v.z : v.w;
}

uint byte_of(uvec4 v, uint j)
{
	return (comp(v, j >> 2) >> ((j & 3u) * 8u)) & 0xffu;
}

uint word_of(uvec4 h[HDR_N], uint i)
{
	uvec4 t = h[0];
	[[unroll]] for (uint k = 1; k < HDR_N; k++)
		if ((i >> 2) == k)
			t = h[k];
	return comp(t, i & 3u);
}

float a_at(const vec4 A[UA], uint e)
{
	return A[e >> 2][e & 3u];
}

// (Unsigned values are converted through int: AVX2 has no unsigned
// int-to-float instruction, so llvmpipe would emulate one.)
// Σ over 16 bytes of v: (low nibble) * a[j] + (high nibble) * a[16 + j],
// with a the 32 activations starting at element `base` of A.
float dot_nibbles(uvec4 v, const vec4 A[UA], uint base)
{
	float s = 0.0;
	[[unroll]] for (uint j = 0; j < 16; j++) {
		uint b = byte_of(v, j);
		s += float(int(b & 15u)) * a_at(A, base + j) +
		     float(int(b >> 4)) * a_at(A, base + 16 + j);
	}
	return s;
}

// As dot_nibbles with a fifth bit per element from qh (bit j: element j).
float dot_nibbles5(uvec4 v, uint qh, const vec4 A[UA], uint base)
{
	float s = 0.0;
	[[unroll]] for (uint j = 0; j < 16; j++) {
		uint b = byte_of(v, j);
		uint lo = (b & 15u) | (((qh >> j) & 1u) << 4);
		uint hi = (b >> 4) | (((qh >> (j + 16)) & 1u) << 4);
		s += float(int(lo)) * a_at(A, base + j) +
		     float(int(hi)) * a_at(A, base + 16 + j);
	}
	return s;
}

// 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes of
// Q4_K/Q5_K; sc holds bytes 0..11 as three words.
uint sc_byte(uvec3 sc, uint i)
{
	uint w = i < 4u ? sc.x : i < 8u ? sc.y : sc.z;
	return (w >> ((i & 3u) * 8u)) & 0xffu;
}

void k_scale_min(uvec3 sc, uint j, out uint s, out uint m)
{
	if (j < 4) {
		s = sc_byte(sc, j) & 63u;
		m = sc_byte(sc, j + 4) & 63u;
	} else {
		s = (sc_byte(sc, j + 4) & 15u) | ((sc_byte(sc, j - 4) >> 6) << 4);
		m = (sc_byte(sc, j + 4) >> 4) | ((sc_byte(sc, j) >> 6) << 4);
	}
}

// Activations of unit u of group g for the token at float xo.
void act_unit(uint xo, uint g, uint u, out vec4 A[UA])
{
	[[unroll]] for (uint i = 0; i < UA; i++)
		A[i] = xfetch4(xo + g * 256 + u * UNIT + 4 * i);
}

// Scales of group g for the token at xo: d and the eight per-32 quant
// sums (K types; D[0] and S), or d and s of unit u (*_0 and *_1 types;
// loaded per unit with a uniform index, since local arrays indexed by the
// unit loop would become per-lane memory traffic in llvmpipe).
void act_group(uint xo, uint n_in, uint g, out float D[8], out float S[8])
{
	[[unroll]] for (uint k = 0; k < 8; k++) {
#if K_TYPE
		D[k] = k == 0 ? xfetch(xo + n_in + g) : 0.0;
		uint b = xo + n_in + n_in / 256 + g * 16 + 2 * k;
		S[k] = xfetch(b) + xfetch(b + 1);
#else
		D[k] = 0.0;
		S[k] = 0.0;
#endif
	}
}

void act_block(uint xo, uint n_in, uint g, uint u, out vec2 d, out vec2 s)
{
#if DOT == DUET_DOT_Q8_0 || DOT == DUET_DOT_Q8_1
	uint blk = g * 8 + 2 * u; // the unit's two 32-blocks
	d = vec2(xfetch(xo + n_in + blk), xfetch(xo + n_in + blk + 1));
	s = vec2(xfetch(xo + n_in + n_in / 32 + blk),
		 xfetch(xo + n_in + n_in / 32 + blk + 1));
#else
	d = vec2(0.0);
	s = vec2(0.0);
#endif
}

// One unit u of a row (header h, unit texels v) against activations A.
void unit_dot(uvec4 h[HDR_N], uvec4 v[UNIT_TX], uint u, const vec4 A[UA],
	      vec2 du, vec2 su, inout float acc, inout int isum)
{
#if WTYPE == T_F32
	[[unroll]] for (uint i = 0; i < 16; i++)
		acc += dot(uintBitsToFloat(v[i]), A[i]);
#elif WTYPE == T_F16 || WTYPE == T_BF16
	[[unroll]] for (uint i = 0; i < 8; i++)
		[[unroll]] for (uint c = 0; c < 4; c++) {
			uint w = v[i][c], e = 8 * i + 2 * c;
#if WTYPE == T_F16
			acc += half_lo(w) * a_at(A, e) + half_hi(w) * a_at(A, e + 1);
#else
			acc += uintBitsToFloat(w << 16) * a_at(A, e) +
			       uintBitsToFloat(w & 0xffff0000u) * a_at(A, e + 1);
#endif
		}
#elif !K_TYPE // the 32-element block types: blocks 2u and 2u + 1
	[[unroll]] for (uint b = 0; b < 2; b++) {
		uint blk = 2 * u + b;
#if WTYPE == T_Q4_0 || WTYPE == T_Q5_0 || WTYPE == T_Q8_0
		uint dw = word_of(h, u); // halves: block 2u, block 2u + 1
		float d = b != 0 ? half_hi(dw) : half_lo(dw);
#endif
#if WTYPE == T_Q4_0
		float s = dot_nibbles(v[b], A, 32 * b) - 8.0 * su[b];
		acc += (d * du[b]) * s;
#elif WTYPE == T_Q5_0
		float s = dot_nibbles5(v[b], word_of(h, 4 + blk), A, 32 * b) - 16.0 * su[b];
		acc += (d * du[b]) * s;
#elif WTYPE == T_Q4_1 || WTYPE == T_Q5_1
		uint dm = word_of(h, blk);
#if WTYPE == T_Q4_1
		float s = dot_nibbles(v[b], A, 32 * b);
#else
		float s = dot_nibbles5(v[b], word_of(h, 8 + blk), A, 32 * b);
#endif
		acc += (half_lo(dm) * du[b]) * s + half_hi(dm) * su[b];
#elif WTYPE == T_Q8_0
		float s = 0.0;
		[[unroll]] for (uint j = 0; j < 32; j++) {
			uint w = v[2 * b + (j >> 4)][(j >> 2) & 3u];
			int q = int(w << (24u - 8u * (j & 3u))) >> 24; // signed byte j
			s += float(q) * a_at(A, 32 * b + j);
		}
		acc += (d * du[b]) * s;
#endif
	}
#endif
#if WTYPE == T_Q4_K || WTYPE == T_Q5_K
	// unit u = sub-blocks 2u (low nibbles) and 2u+1 (high nibbles)
	uvec3 sc = uvec3(h[0].y, h[0].z, h[0].w);
	float s0 = 0.0, s1 = 0.0;
	[[unroll]] for (uint j = 0; j < 32; j++) {
		uint b = byte_of(v[j >> 4], j & 15u);
		uint lo = b & 15u, hi = b >> 4;
#if WTYPE == T_Q5_K
		uint qh = byte_of(h[1 + (j >> 4)], j & 15u);
		lo |= ((qh >> (2 * u)) & 1u) << 4;
		hi |= ((qh >> (2 * u + 1)) & 1u) << 4;
#endif
		s0 += float(int(lo)) * a_at(A, j);
		s1 += float(int(hi)) * a_at(A, 32 + j);
	}
	uint sa, ma, sb, mb;
	k_scale_min(sc, 2 * u, sa, ma);
	k_scale_min(sc, 2 * u + 1, sb, mb);
	isum += int(sa) * int(s0) + int(sb) * int(s1);
#elif WTYPE == T_Q6_K
	// 64 elements: low nibbles in v[0..1] (Q4_0 order per 32), high bit
	// pairs in v[2] (element e at bits 2e..2e+1 of the 128)
	[[unroll]] for (uint half_ = 0; half_ < 2; half_++) {
		float s[2] = float[2](0.0, 0.0);
		[[unroll]] for (uint j = 0; j < 16; j++) {
			uint b = byte_of(v[half_], j);
			uint e0 = 32 * half_ + j, e1 = e0 + 16;
			uint h0 = (v[2][e0 >> 4] >> ((e0 & 15u) * 2)) & 3u;
			uint h1 = (v[2][e1 >> 4] >> ((e1 & 15u) * 2)) & 3u;
			s[0] += float(int((b & 15u) | (h0 << 4)) - 32) * a_at(A, e0);
			s[1] += float(int((b >> 4) | (h1 << 4)) - 32) * a_at(A, e1);
		}
		uint g16 = 4 * u + 2 * half_;
		int sc0 = int(byte_of(h[0], g16) << 24) >> 24;
		int sc1 = int(byte_of(h[0], g16 + 1) << 24) >> 24;
		isum += sc0 * int(s[0]) + sc1 * int(s[1]);
	}
#endif
}

// The per-group part of K types: scales by d (and dmin with the mins,
// S holding the per-32 quant sums, when mins is true: a group split over
// several invocations takes them once).
float group_dot(uvec4 h[HDR_N], const float D[8], const float S[8], int isum,
		bool mins)
{
#if WTYPE == T_Q4_K || WTYPE == T_Q5_K
	uvec3 sc = uvec3(h[0].y, h[0].z, h[0].w);
	int msum = 0;
	[[unroll]] for (uint j = 0; j < 8; j++) {
		uint s, m;
		k_scale_min(sc, j, s, m);
		msum += int(m) * int(S[j]);
	}
	float r = (half_lo(h[0].x) * D[0]) * float(isum);
	return mins ? r - (half_hi(h[0].x) * D[0]) * float(msum) : r;
#elif WTYPE == T_Q6_K
	return (half_lo(h[1].x) * D[0]) * float(isum);
#else
	return 0.0;
#endif
}

void fetch_header(uint gt, out uvec4 h[HDR_N])
{
	h[0] = uvec4(0);
	[[unroll]] for (uint i = 0; i < HDR_TX; i++)
		h[i] = wfetch(gt + i);
}

void fetch_unit(uint gt, uint u, out uvec4 v[UNIT_TX])
{
	[[unroll]] for (uint i = 0; i < UNIT_TX; i++)
		v[i] = wfetch(gt + HDR_TX + u * UNIT_TX + i);
}

// Adds to acc[r][t] (r < R, t < T) the dot products of rows r0 + r (of
// the part) with token t, whose activations start at float tok_x(t) (a
// function of the includer), over groups g0, g0 + gstep, ...: each weight
// unit is fetched and unpacked once for all T tokens. Rows past the part
// repeat its last row (their results are not stored). A macro: GLSL
// cannot pass spec-constant-sized arrays.
#define ROW_DOTS(acc, r0, g0, gstep)                                             \
	for (uint g = g0; g < pc.n_in / 256; g += gstep) {                         \
		float D[T][8], S[T][8];                                            \
		int isum[R][T];                                                    \
		uvec4 hr[R][HDR_N];                                                \
		[[unroll]] for (uint t = 0; t < T; t++)                            \
			act_group(tok_x(t), pc.n_in, g, D[t], S[t]);            \
		[[unroll]] for (uint r = 0; r < R; r++) {                          \
			[[unroll]] for (uint t = 0; t < T; t++)                    \
				isum[r][t] = 0;                                    \
			fetch_header(min(r0 + r, pc.n_rows - 1) * pc.w_row_texels + \
				     g * GROUP_TX, hr[r]);                         \
		}                                                                  \
		[[dont_unroll]] for (uint u = 0; u < NUNITS; u++) {                \
			vec4 A[T][UA];                                             \
			vec2 du[T], su[T];                                         \
			[[unroll]] for (uint t = 0; t < T; t++) {                  \
				act_unit(tok_x(t), g, u, A[t]);                 \
				act_block(tok_x(t), pc.n_in, g, u, du[t], su[t]); \
			}                                                          \
			[[unroll]] for (uint r = 0; r < R; r++) {                  \
				uvec4 v[UNIT_TX];                                  \
				fetch_unit(min(r0 + r, pc.n_rows - 1) *            \
					   pc.w_row_texels + g * GROUP_TX, u, v);  \
				[[unroll]] for (uint t = 0; t < T; t++)            \
					unit_dot(hr[r], v, u, A[t], du[t], su[t],  \
						 acc[r][t], isum[r][t]);           \
			}                                                          \
		}                                                                  \
		if (K_TYPE)                                                        \
			[[unroll]] for (uint r = 0; r < R; r++)                    \
				[[unroll]] for (uint t = 0; t < T; t++)            \
					acc[r][t] += group_dot(hr[r], D[t], S[t], isum[r][t], true); \
	}

// As ROW_DOTS over 64-element units k0, k0 + kstep, ... instead of whole
// groups, so that more invocations share a short row (the GPU kernel); a
// K type's group term is split by unit, its mins taken with unit 0. Token
// by token, so registers hold one token's activations (the weights come
// again from the cache for each token); every (row, token) sum takes its
// units in the same order whatever T is, so a token's result does not
// depend on the batch it came in.
#define ROW_UNIT_DOTS(acc, r0, k0, kstep)                                        \
	[[dont_unroll]] for (uint k = k0; k < pc.n_in / UNIT; k += kstep) {        \
		uint g = k / NUNITS, u = k % NUNITS;                               \
		[[unroll]] for (uint t = 0; t < T; t++) {                          \
			float D[8], S[8];                                          \
			vec4 A[UA];                                                \
			vec2 du, su;                                               \
			act_group(tok_x(t), pc.n_in, g, D, S);                     \
			act_unit(tok_x(t), g, u, A);                               \
			act_block(tok_x(t), pc.n_in, g, u, du, su);                \
			[[unroll]] for (uint r = 0; r < R; r++) {                  \
				uint gt_ = min(r0 + r, pc.n_rows - 1) * pc.w_row_texels + \
					   g * GROUP_TX;                           \
				uvec4 hr_[HDR_N], v[UNIT_TX];                      \
				fetch_header(gt_, hr_);                            \
				fetch_unit(gt_, u, v);                             \
				int isum_ = 0;                                     \
				unit_dot(hr_, v, u, A, du, su, acc[r][t], isum_);  \
				if (K_TYPE)                                        \
					acc[r][t] += group_dot(hr_, D, S, isum_, u == 0); \
			}                                                          \
		}                                                                  \
	}

#endif
