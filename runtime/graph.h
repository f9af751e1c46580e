/* Kernel-graph IR: one forward step of a model for up to n_batch tokens, as
 * a flat list of nodes over named activation values. It is built once per
 * (model, batch bucket, logits mode) and reused: a step only changes the
 * duet_step values (token ids, first position, token count), never the
 * graph. Executors (cpu today, Vulkan later) consume the same graph.
 *
 * Every value is a row-major matrix of `rows` rows and `cols` columns:
 * rows is n_batch for per-token activations and 1 for values taken from
 * the last token only. Row b of a batch value belongs to position
 * step.pos0 + b; rows at or past step.n_tokens are ignored. */
#ifndef DUET_RUNTIME_GRAPH_H
#define DUET_RUNTIME_GRAPH_H

#include <stdint.h>

#include "model.h"

typedef enum duet_op {
	/* dst[b] = dequant(w row tokens[b]); src0 = the I32 token value */
	DUET_OP_GET_ROWS,
	/* dst[b] = src0[b] / sqrt(mean(src0[b]^2) + eps) * w */
	DUET_OP_RMS_NORM,
	/* dst[b][o] = dot(w row o, src0[b]) (+ bias[o]); the activation is
	 * rounded to the weight type's dot type first (see quant.h) */
	DUET_OP_MUL_MAT,
	/* dst = src0 + src1 */
	DUET_OP_ADD,
	/* dst = src0 with each head's first n_rot dims rotated by position */
	DUET_OP_ROPE,
	/* store K (src1) and V (src2) rows of this layer in the KV cache at
	 * their positions, then dst[b] = softmax(Q K^T * scale, causal) V for
	 * Q = src0, attending to positions 0 .. pos0 + b */
	DUET_OP_ATTN,
	/* dst = silu(src0) * src1 */
	DUET_OP_SWIGLU,
	/* dst[0] = src0[n_tokens - 1] (a 1-row value) */
	DUET_OP_TAKE_LAST,
	DUET_OP_COUNT,
} duet_op;

typedef enum duet_dtype {
	DUET_DTYPE_F32 = 0,
	DUET_DTYPE_I32 = 1,
} duet_dtype;

#define DUET_NO_VALUE UINT32_MAX

typedef struct duet_gvalue {
	const char *name; /* "l3.q" etc., for dumps and errors */
	duet_dtype dtype;
	uint32_t rows;
	uint32_t cols;
} duet_gvalue;

typedef struct duet_rope_params {
	uint32_t n_head;
	uint32_t head_dim;
	uint32_t n_rot;
	duet_rope_mode mode;
	float freq_base;
	float freq_scale;
	const float *factors; /* [n_rot/2] or NULL */
} duet_rope_params;

typedef struct duet_attn_params {
	uint32_t layer;
	uint32_t n_head;
	uint32_t n_head_kv;
	uint32_t head_dim;
	float scale; /* 1/sqrt(head_dim) */
} duet_attn_params;

typedef struct duet_gnode {
	duet_op op;
	uint32_t dst;
	uint32_t src[3];      /* value indices or DUET_NO_VALUE */
	const duet_weight *w; /* matrix or vector, model-owned */
	const duet_weight *b; /* bias for MUL_MAT, or NULL */
	union {
		float eps;             /* RMS_NORM */
		duet_rope_params rope; /* ROPE */
		duet_attn_params attn; /* ATTN */
	};
} duet_gnode;

typedef enum duet_logits_mode {
	DUET_LOGITS_LAST = 0, /* logits of the last token only: rows = 1 */
	DUET_LOGITS_ALL = 1,  /* logits of every token: rows = n_batch */
} duet_logits_mode;

typedef struct duet_graph {
	const duet_model_desc *model;
	uint32_t n_batch;
	duet_logits_mode logits_mode;
	uint32_t n_values;
	duet_gvalue *values;
	uint32_t n_nodes;
	duet_gnode *nodes;
	uint32_t in_tokens;  /* I32 [n_batch][1] */
	uint32_t out_logits; /* F32 [1 or n_batch][n_vocab] */
	duet_arena arena;
} duet_graph;

struct duet_kv_cache;

/* Per-step inputs: the only things that change between runs of a graph. */
typedef struct duet_step {
	const int32_t *tokens; /* [n_tokens], each < n_vocab */
	uint32_t n_tokens;     /* 1 .. graph n_batch */
	uint32_t pos0;         /* position of tokens[0] */
	/* Several sequences in one pass (decode steps of several contexts,
	 * CPU executor only): row b is at position pos[b] of the cache
	 * kv[b], attending to that cache's positions 0 .. pos[b]; pos0 and
	 * the executor's own cache are then unused. NULL: one sequence. */
	const uint32_t *pos;
	struct duet_kv_cache *const *kv;
} duet_step;

/* Position of row b of st. */
static inline uint32_t duet_step_pos(const duet_step *st, uint32_t b)
{
	return st->pos ? st->pos[b] : st->pos0 + b;
}

/* Builds the forward graph of m for batches of up to n_batch tokens.
 * *out borrows m (which must outlive it); free with duet_graph_destroy().
 * Errors: DUET_E_INVAL (n_batch 0), DUET_E_NOMEM. Thread-safe. */
duet_status duet_graph_build(const duet_model_desc *m, uint32_t n_batch,
			     duet_logits_mode mode, duet_graph **out);

/* Frees g; NULL is a no-op. */
void duet_graph_destroy(duet_graph *g);

/* Assigns every value a byte offset in one activation buffer, reusing the
 * space of values no later node reads (the token input and the logits are
 * kept for the whole step). Writes offsets[n_values] and *total_bytes.
 * Executors allocate total_bytes once per graph. DUET_E_NOMEM on failure. */
duet_status duet_graph_plan(const duet_graph *g, uint64_t *offsets,
			    uint64_t *total_bytes);

/* Returns the op's name ("mul_mat"). */
const char *duet_op_name(duet_op op);

#endif
