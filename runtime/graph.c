/* Builder of the llama-family forward graph (see graph.h). The node list
 * reads like the model: embed, then per layer norm -> QKV -> rope ->
 * attention -> output projection -> residual -> norm -> SwiGLU FFN ->
 * residual, then the final norm and the output head. */
#include "graph.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

typedef struct builder {
	duet_graph *g;
	uint32_t cap_values, cap_nodes;
	bool failed;
	duet_gnode scratch; /* target of node() after a failure */
} builder;

static const char *const op_names[DUET_OP_COUNT] = {
	[DUET_OP_GET_ROWS] = "get_rows", [DUET_OP_RMS_NORM] = "rms_norm",
	[DUET_OP_MUL_MAT] = "mul_mat",   [DUET_OP_ADD] = "add",
	[DUET_OP_ROPE] = "rope",         [DUET_OP_ATTN] = "attn",
	[DUET_OP_SWIGLU] = "swiglu",     [DUET_OP_TAKE_LAST] = "take_last",
};

const char *duet_op_name(duet_op op)
{
	return op < DUET_OP_COUNT ? op_names[op] : "unknown";
}

static bool grow(builder *b, void **arr, uint32_t *cap, uint32_t n,
		 size_t item)
{
	if (n < *cap)
		return true;
	uint32_t c = *cap ? 2 * *cap : 64;
	void *p = realloc(*arr, (size_t)c * item);
	if (!p) {
		b->failed = true;
		return false;
	}
	*arr = p;
	*cap = c;
	return true;
}

/* Returns the shape of value x (zero after an allocation failure). */
static duet_gvalue shape(const builder *b, uint32_t x)
{
	duet_gvalue none = { 0 };
	return b->failed ? none : b->g->values[x];
}

static uint32_t value(builder *b, const char *name, int layer, duet_dtype dt,
		      uint32_t rows, uint32_t cols)
{
	duet_graph *g = b->g;
	if (!grow(b, (void **)&g->values, &b->cap_values, g->n_values,
		  sizeof *g->values))
		return 0;
	char buf[48];
	if (layer >= 0)
		snprintf(buf, sizeof buf, "l%d.%s", layer, name);
	else
		snprintf(buf, sizeof buf, "%s", name);
	if (b->failed)
		return 0;
	duet_gvalue *v = &g->values[g->n_values];
	v->name = duet_arena_strndup(&g->arena, buf, strlen(buf));
	if (!v->name)
		b->failed = true;
	v->dtype = dt;
	v->rows = rows;
	v->cols = cols;
	return g->n_values++;
}

static duet_gnode *node(builder *b, duet_op op, uint32_t dst, uint32_t s0,
			uint32_t s1, uint32_t s2)
{
	duet_graph *g = b->g;
	if (b->failed ||
	    !grow(b, (void **)&g->nodes, &b->cap_nodes, g->n_nodes,
		  sizeof *g->nodes))
		return &b->scratch;
	duet_gnode *n = &g->nodes[g->n_nodes++];
	memset(n, 0, sizeof *n);
	n->op = op;
	n->dst = dst;
	n->src[0] = s0;
	n->src[1] = s1;
	n->src[2] = s2;
	return n;
}

/* x -> rms_norm(x) * w, as a new value of the same shape. */
static uint32_t rms_norm(builder *b, const char *name, int layer, uint32_t x,
			 const duet_weight *w, float eps)
{
	duet_gvalue xv = shape(b, x);
	uint32_t y = value(b, name, layer, DUET_DTYPE_F32, xv.rows, xv.cols);
	duet_gnode *n = node(b, DUET_OP_RMS_NORM, y, x, DUET_NO_VALUE,
			     DUET_NO_VALUE);
	n->w = w;
	n->eps = eps;
	return y;
}

/* x [rows][w->n_in] -> [rows][w->n_out] */
static uint32_t mul_mat(builder *b, const char *name, int layer, uint32_t x,
			const duet_weight *w, const duet_weight *bias)
{
	uint32_t y = value(b, name, layer, DUET_DTYPE_F32, shape(b, x).rows,
			   (uint32_t)w->n_out);
	duet_gnode *n = node(b, DUET_OP_MUL_MAT, y, x, DUET_NO_VALUE,
			     DUET_NO_VALUE);
	n->w = w;
	n->b = bias && bias->name ? bias : NULL;
	return y;
}

static uint32_t binary(builder *b, duet_op op, const char *name, int layer,
		       uint32_t x, uint32_t z)
{
	duet_gvalue xv = shape(b, x);
	uint32_t y = value(b, name, layer, DUET_DTYPE_F32, xv.rows, xv.cols);
	node(b, op, y, x, z, DUET_NO_VALUE);
	return y;
}

static uint32_t rope(builder *b, const char *name, int layer, uint32_t x,
		     uint32_t n_head)
{
	const duet_model_desc *m = b->g->model;
	uint32_t y = value(b, name, layer, DUET_DTYPE_F32, b->g->n_batch,
			   n_head * m->hp.head_dim);
	duet_gnode *n = node(b, DUET_OP_ROPE, y, x, DUET_NO_VALUE,
			     DUET_NO_VALUE);
	n->rope = (duet_rope_params){
		.n_head = n_head,
		.head_dim = m->hp.head_dim,
		.n_rot = m->hp.n_rot,
		.mode = m->hp.rope_mode,
		.freq_base = m->hp.rope_freq_base,
		.freq_scale = m->hp.rope_freq_scale,
		.factors = m->rope_factors,
	};
	return y;
}

static uint32_t attention(builder *b, int il, uint32_t cur)
{
	const duet_model_desc *m = b->g->model;
	const duet_layer *L = &m->layers[il];
	uint32_t q = mul_mat(b, "q", il, cur, &L->wq, &L->bq);
	uint32_t k = mul_mat(b, "k", il, cur, &L->wk, &L->bk);
	uint32_t v = mul_mat(b, "v", il, cur, &L->wv, &L->bv);
	q = rope(b, "q_rope", il, q, m->hp.n_head);
	k = rope(b, "k_rope", il, k, m->hp.n_head_kv);
	uint32_t att = value(b, "attn", il, DUET_DTYPE_F32, b->g->n_batch,
			     m->hp.n_embd);
	duet_gnode *n = node(b, DUET_OP_ATTN, att, q, k, v);
	n->attn = (duet_attn_params){
		.layer = (uint32_t)il,
		.n_head = m->hp.n_head,
		.n_head_kv = m->hp.n_head_kv,
		.head_dim = m->hp.head_dim,
		.scale = 1.0f / sqrtf((float)m->hp.head_dim),
	};
	return mul_mat(b, "attn_out", il, att, &L->wo, NULL);
}

static uint32_t feed_forward(builder *b, int il, uint32_t cur)
{
	const duet_layer *L = &b->g->model->layers[il];
	uint32_t gate = mul_mat(b, "gate", il, cur, &L->w_gate, NULL);
	uint32_t up = mul_mat(b, "up", il, cur, &L->w_up, NULL);
	uint32_t act = binary(b, DUET_OP_SWIGLU, "swiglu", il, gate, up);
	return mul_mat(b, "ffn_out", il, act, &L->w_down, NULL);
}

static void build(builder *b)
{
	duet_graph *g = b->g;
	const duet_model_desc *m = g->model;
	const duet_hparams *hp = &m->hp;
	g->in_tokens = value(b, "tokens", -1, DUET_DTYPE_I32, g->n_batch, 1);
	uint32_t x = value(b, "embd", -1, DUET_DTYPE_F32, g->n_batch, hp->n_embd);
	node(b, DUET_OP_GET_ROWS, x, g->in_tokens, DUET_NO_VALUE,
	     DUET_NO_VALUE)->w = &m->tok_embd;
	for (uint32_t il = 0; il < hp->n_layer && !b->failed; il++) {
		const duet_layer *L = &m->layers[il];
		int l = (int)il;
		uint32_t cur = rms_norm(b, "attn_norm", l, x, &L->attn_norm,
					hp->norm_eps);
		cur = attention(b, l, cur);
		uint32_t ffn_in = binary(b, DUET_OP_ADD, "ffn_in", l, cur, x);
		cur = rms_norm(b, "ffn_norm", l, ffn_in, &L->ffn_norm, hp->norm_eps);
		cur = feed_forward(b, l, cur);
		x = binary(b, DUET_OP_ADD, "out", l, cur, ffn_in);
	}
	if (g->logits_mode == DUET_LOGITS_LAST) {
		uint32_t last = value(b, "last", -1, DUET_DTYPE_F32, 1, hp->n_embd);
		node(b, DUET_OP_TAKE_LAST, last, x, DUET_NO_VALUE, DUET_NO_VALUE);
		x = last;
	}
	x = rms_norm(b, "out_norm", -1, x, &m->output_norm, hp->norm_eps);
	g->out_logits = mul_mat(b, "logits", -1, x, &m->output, NULL);
}

duet_status duet_graph_build(const duet_model_desc *m, uint32_t n_batch,
			     duet_logits_mode mode, duet_graph **out)
{
	*out = NULL;
	if (n_batch == 0)
		return DUET_ERR(DUET_E_INVAL, "batch size must be at least 1");
	duet_graph *g = calloc(1, sizeof *g);
	if (!g)
		return DUET_ERR(DUET_E_NOMEM, "out of memory building graph");
	duet_arena_init(&g->arena, 4096);
	g->model = m;
	g->n_batch = n_batch;
	g->logits_mode = mode;
	builder b = { .g = g };
	build(&b);
	if (b.failed) {
		duet_graph_destroy(g);
		return DUET_ERR(DUET_E_NOMEM, "out of memory building graph");
	}
	*out = g;
	return DUET_OK;
}

void duet_graph_destroy(duet_graph *g)
{
	if (!g)
		return;
	free(g->values);
	free(g->nodes);
	duet_arena_finish(&g->arena);
	free(g);
}

/* Memory plan: a value lives from the node that writes it to the last node
 * that reads it. Dead values' slots are reused best-fit; a node's output
 * never shares a slot with its own inputs. */
typedef struct slot {
	uint64_t bytes;
	bool busy;
} slot;

duet_status duet_graph_plan(const duet_graph *g, uint64_t *offsets,
			    uint64_t *total_bytes)
{
	uint32_t nv = g->n_values;
	uint32_t *last = malloc(nv * sizeof *last);
	uint32_t *slot_of = malloc(nv * sizeof *slot_of);
	slot *slots = calloc(nv, sizeof *slots);
	if (!last || !slot_of || !slots) {
		free(last);
		free(slot_of);
		free(slots);
		return DUET_ERR(DUET_E_NOMEM, "out of memory planning graph");
	}
	for (uint32_t v = 0; v < nv; v++) {
		last[v] = UINT32_MAX; /* never read: keep it (an output) */
		slot_of[v] = UINT32_MAX;
	}
	for (uint32_t i = 0; i < g->n_nodes; i++)
		for (int k = 0; k < 3; k++)
			if (g->nodes[i].src[k] != DUET_NO_VALUE)
				last[g->nodes[i].src[k]] = i;
	last[g->in_tokens] = UINT32_MAX;
	last[g->out_logits] = UINT32_MAX;
	uint32_t n_slots = 0;
	slot_of[g->in_tokens] = n_slots;
	slots[n_slots++] = (slot){ g->n_batch * sizeof(int32_t), true };
	for (uint32_t i = 0; i < g->n_nodes; i++) {
		const duet_gnode *n = &g->nodes[i];
		const duet_gvalue *v = &g->values[n->dst];
		uint64_t need = (uint64_t)v->rows * v->cols * 4;
		uint32_t best = UINT32_MAX;
		for (uint32_t s = 0; s < n_slots; s++)
			if (!slots[s].busy && slots[s].bytes >= need &&
			    (best == UINT32_MAX || slots[s].bytes < slots[best].bytes))
				best = s;
		if (best == UINT32_MAX) {
			best = n_slots++;
			slots[best].bytes = need;
		}
		slots[best].busy = true;
		slot_of[n->dst] = best;
		for (int k = 0; k < 3; k++) {
			uint32_t s = n->src[k];
			if (s != DUET_NO_VALUE && last[s] == i)
				slots[slot_of[s]].busy = false;
		}
	}
	/* Slots are laid out one after another, 64-byte aligned; the slot's
	 * offset is stored back into its bytes field. */
	uint64_t off = 0;
	for (uint32_t s = 0; s < n_slots; s++) {
		uint64_t bytes = slots[s].bytes;
		slots[s].bytes = off;
		off += (bytes + 63) / 64 * 64;
	}
	for (uint32_t v = 0; v < nv; v++)
		offsets[v] = slot_of[v] == UINT32_MAX ? 0 : slots[slot_of[v]].bytes;
	*total_bytes = off;
	free(last);
	free(slot_of);
	free(slots);
	return DUET_OK;
}
