/* The architecture of a model read from GGUF metadata: hyperparameters and
 * where each weight lives. Covers the llama family: `llama` (Llama 2/3,
 * TinyLlama, SmolLM, Mistral-style) and `qwen2` (Q/K/V biases).
 *
 * duet_model_desc_init() checks every key and every tensor shape against the
 * hyperparameters and names the first problem it finds. Matrices stay in the
 * GGUF buffer (any compute type); norm and bias vectors are decoded to f32
 * at load because every executor wants them that way. */
#ifndef DUET_RUNTIME_MODEL_H
#define DUET_RUNTIME_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "gguf.h"

typedef enum duet_arch {
	DUET_ARCH_LLAMA = 0,
	DUET_ARCH_QWEN2 = 1,
} duet_arch;

typedef enum duet_rope_mode {
	DUET_ROPE_NORM = 0, /* rotate pairs (2i, 2i+1): llama */
	DUET_ROPE_NEOX = 1, /* rotate pairs (i, i + n_rot/2): qwen2 */
} duet_rope_mode;

/* A weight matrix of n_out rows of n_in elements in GGUF (row-major, rows
 * contiguous), or a vector (n_out == 1) already decoded to f32. */
typedef struct duet_weight {
	const char *name;  /* NULL: absent (optional tensor) */
	uint32_t type;     /* duet_type of data */
	int64_t n_in;      /* elements per row (GGUF ne[0]) */
	int64_t n_out;     /* rows (GGUF ne[1]) */
	const void *data;  /* [n_out][row bytes] */
	uint64_t row_bytes;
} duet_weight;

typedef struct duet_layer {
	duet_weight attn_norm; /* [n_embd] f32 */
	duet_weight wq;        /* [n_embd] -> [n_embd] */
	duet_weight wk;        /* [n_embd] -> [n_embd_kv] */
	duet_weight wv;        /* [n_embd] -> [n_embd_kv] */
	duet_weight bq, bk, bv; /* biases (qwen2; optional for llama), f32 */
	duet_weight wo;        /* [n_embd] -> [n_embd] */
	duet_weight ffn_norm;  /* [n_embd] f32 */
	duet_weight w_gate;    /* [n_embd] -> [n_ff] */
	duet_weight w_up;      /* [n_embd] -> [n_ff] */
	duet_weight w_down;    /* [n_ff] -> [n_embd] */
} duet_layer;

/* The layer's matrices in a fixed order, as an initializer of a
 * `[const] duet_weight *ws[DUET_LAYER_MATRICES]` (absent ones have a
 * NULL name). */
#define DUET_LAYER_MATRICES 7
#define DUET_LAYER_MATRIX_LIST(L)                                              \
	{ &(L)->wq, &(L)->wk, &(L)->wv, &(L)->wo, &(L)->w_gate, &(L)->w_up,    \
	  &(L)->w_down }

/* Bytes of w's data as stored in the file (0 when absent). */
static inline uint64_t duet_weight_bytes(const duet_weight *w)
{
	return w->name ? w->row_bytes * (uint64_t)w->n_out : 0;
}

/* Bytes of the layer's matrices. */
static inline uint64_t duet_layer_bytes(const duet_layer *L)
{
	const duet_weight *ws[DUET_LAYER_MATRICES] = DUET_LAYER_MATRIX_LIST(L);
	uint64_t b = 0;
	for (int i = 0; i < DUET_LAYER_MATRICES; i++)
		b += duet_weight_bytes(ws[i]);
	return b;
}

typedef struct duet_hparams {
	duet_arch arch;
	const char *arch_name;  /* "llama", "qwen2" */
	uint32_t n_vocab;
	uint32_t n_embd;
	uint32_t n_layer;
	uint32_t n_head;
	uint32_t n_head_kv;
	uint32_t head_dim;     /* n_embd / n_head */
	uint32_t n_embd_kv;    /* n_head_kv * head_dim */
	uint32_t n_ff;
	uint32_t n_ctx_train;
	uint32_t n_rot;        /* rotated dimensions per head */
	duet_rope_mode rope_mode;
	float rope_freq_base;
	float rope_freq_scale; /* 1 / linear scaling factor */
	float norm_eps;
} duet_hparams;

typedef struct duet_model_desc {
	duet_hparams hp;
	duet_weight tok_embd;    /* [n_vocab] rows of [n_embd] */
	duet_weight output_norm; /* [n_embd] f32 */
	duet_weight output;      /* [n_embd] -> [n_vocab]; = tok_embd if tied */
	bool tied_output;
	const float *rope_factors; /* [n_rot/2] frequency divisors, or NULL */
	duet_layer *layers;        /* [n_layer] */
	uint64_t n_params;
	duet_arena arena;          /* decoded vectors, layer array */
} duet_model_desc;

/* Reads the architecture from g's metadata and tensors. On DUET_OK m refers
 * into g (which must outlive it) and owns its arena; release it with
 * duet_model_desc_finish(). Errors: DUET_E_CORRUPT (missing or inconsistent
 * key or tensor, named in the message), DUET_E_UNSUPPORTED (architecture,
 * rope scaling or tensor type this build cannot run), DUET_E_NOMEM. */
duet_status duet_model_desc_init(duet_model_desc *m, const duet_gguf *g);

/* Frees what duet_model_desc_init allocated; safe on a zeroed struct. */
void duet_model_desc_finish(duet_model_desc *m);

#endif
