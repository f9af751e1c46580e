/* Push-constant, uniform and specialization layouts shared by the kernels
 * (GLSL, compiled with VULKAN defined) and by runtime/exec_vk (C). Written
 * once here so the two sides cannot drift; every struct is 32-bit fields
 * only, so C and std430/std140 agree on offsets. */
#ifndef DUET_ABI_KERNELS_H
#define DUET_ABI_KERNELS_H

#ifdef VULKAN
#define DUET_U32 uint
#define DUET_F32 float
#define DUET_STRUCT(name) name
#else
#include <stdint.h>
#define DUET_U32 uint32_t
#define DUET_F32 float
#define DUET_STRUCT(name) struct name
#endif

/* Activation formats a matrix kernel reads (the weight type's "dot type",
 * as the CPU reference rounds activations). Per token, in floats:
 *   F32/F16/BF16: n_pad values (already rounded to the format);
 *   Q8_0: n_pad quants (small integers held as floats), then per 32-block
 *         d (f16-rounded), then per 32-block the sum of the quants;
 *   Q8_1: n_pad quants, d per block, s = f16(d * sum q) per block;
 *   Q8_K: n_pad quants, d per 256-block (f32), sums of each 16 quants. */
#define DUET_DOT_F32 0
#define DUET_DOT_F16 1
#define DUET_DOT_BF16 2
#define DUET_DOT_Q8_0 3
#define DUET_DOT_Q8_1 4
#define DUET_DOT_Q8_K 5

/* What a matrix kernel does with each output value. */
#define DUET_EPI_STORE 0   /* y = acc (+ bias) */
#define DUET_EPI_ADD 1     /* y = acc (+ bias) + residual */
#define DUET_EPI_QKV 2     /* rows = [Q | K | V]: bias, rope, K/V to cache */
#define DUET_EPI_SWIGLU 3  /* rows = [gate | up]: y = silu(g) * u */

/* KV cache row formats (runtime/kv.h; the values of duet_kv_type), the
 * kernels' specialization constant 5. */
#define DUET_KVT_F16 0
#define DUET_KVT_F32 1
#define DUET_KVT_Q8_0 2

#define DUET_ROPE_MODE_NORM 0
#define DUET_ROPE_MODE_NEOX 1

/* Per-step values, written by the host before each submit (uniform
 * buffer); followed in the same buffer by indirect dispatch arguments. */
struct duet_step_ubo {
	DUET_U32 n_tok;   /* tokens in this step */
	DUET_U32 pos0;    /* position of the first */
	DUET_U32 last;    /* n_tok - 1 */
	DUET_U32 pad;
};

/* Preparing one token's input to a matrix kernel (norm_quant.comp, and the
 * tails of kernels whose last workgroup does it, see tail.glsl): optional
 * RMS norm, optional SwiGLU of a [gate | up] input, then rounding or
 * quantization to the dot format. */
struct duet_prep {
	DUET_U32 kind;        /* tails: 0 none, 1 prepare, 2 argmax */
	DUET_U32 n;           /* elements */
	DUET_U32 n_pad;       /* padded to whole 256-element groups */
	DUET_U32 norm;        /* 1: multiply by the rms scale and the weight */
	DUET_U32 swiglu;      /* 1: input is silu(x[i]) * x[g_off + i] */
	DUET_U32 g_off;
	DUET_F32 eps;
	DUET_F32 q8_max;      /* 127 at run time (see norm_quant.comp) */
	DUET_U32 counter;     /* tails: index of the workgroup counter */
	DUET_U32 n_groups;    /* tails: workgroups of the dispatch */
};

/* Matrix kernels: y[t][row] = W[row] . x[t] for rows of one part of W. */
struct duet_pc_mm {
	DUET_U32 n_in;        /* elements per row, padded to the block size */
	DUET_U32 n_rows;      /* rows of this part */
	DUET_U32 row_base;    /* global index of the part's first row */
	DUET_U32 w_row_texels;
	DUET_U32 x_stride;    /* floats per token of the activation */
	DUET_U32 y_stride;    /* floats per token of the output */
	DUET_U32 y_off;       /* float offset of column 0 of the output */
	DUET_U32 r_stride;    /* floats per token of the residual (ADD) */
	DUET_U32 has_bias;
	DUET_U32 take_last;   /* 1: only the step's last token */
	/* QKV epilogue */
	DUET_U32 n_q;         /* Q rows (n_head * head_dim) */
	DUET_U32 n_kv;        /* K rows = V rows (n_head_kv * head_dim) */
	DUET_U32 head_dim;
	DUET_U32 n_rot;
	DUET_U32 rope_mode;
	DUET_U32 has_factors;
	DUET_F32 freq_scale;
	DUET_F32 theta_scale; /* freq_base^(-2/n_rot) */
	DUET_U32 kv_off;      /* contiguous: 0 (the layer's caches are bound);
			       * paged: 2 x layer (kvaddr.glsl) */
	DUET_U32 kv_tpp;      /* 0: contiguous; else positions per page */
	DUET_U32 kv_page;     /* paged: streams | (page bytes / 64) << 16 */
	/* SWIGLU epilogue */
	DUET_U32 n_ff;        /* gate rows = up rows */
	DUET_STRUCT(duet_prep) tail; /* done by the last workgroup (decode) */
};

/* norm_quant: one workgroup per token. */
struct duet_pc_prep {
	DUET_U32 x_stride;    /* floats per token of the input */
	DUET_U32 y_stride;    /* floats per token of the output */
	DUET_U32 take_last;   /* 1: process only the step's last token */
	DUET_STRUCT(duet_prep) p;
};

/* Attention over the cache for every (token, head) of the step. */
struct duet_pc_attn {
	DUET_U32 n_head;
	DUET_U32 n_head_kv;
	DUET_U32 head_dim;
	DUET_U32 n_embd_kv;   /* values per cache row */
	DUET_U32 kv_off;      /* as in duet_pc_mm */
	DUET_U32 kv_tpp;
	DUET_U32 kv_page;
	DUET_U32 q_stride;    /* floats per token of Q */
	DUET_U32 o_stride;    /* floats per token of the output */
	DUET_F32 scale;
	DUET_STRUCT(duet_prep) tail; /* done by the last workgroup (decode) */
};

/* kv_quant: the step's K/V rows, left in f32 by the QKV epilogue of a q8_0
 * cache ([token][K | V] floats), quantized into the cache; a workgroup per
 * token. */
struct duet_pc_kvq {
	DUET_U32 n_kv;        /* values per row */
	DUET_U32 kv_off;      /* as in duet_pc_mm */
	DUET_U32 kv_tpp;
	DUET_U32 kv_page;
	DUET_F32 q8_max;      /* 127 (see prep.glsl) */
};

/* argmax over rows of logits: one value per token. */
struct duet_pc_argmax {
	DUET_U32 n;
	DUET_U32 x_stride;
	DUET_U32 n_rows;      /* rows to reduce (1 for the last token) */
};

#ifndef VULKAN
_Static_assert(sizeof(struct duet_pc_mm) <= 128, "push constants");
_Static_assert(sizeof(struct duet_pc_prep) <= 128, "push constants");
_Static_assert(sizeof(struct duet_pc_attn) <= 128, "push constants");
_Static_assert(sizeof(struct duet_pc_argmax) <= 128, "push constants");
_Static_assert(sizeof(struct duet_pc_kvq) <= 128, "push constants");
#endif

#endif
