/* Lowering a graph to fused kernels (see exec_vk.h): the nodes become a
 * list of kernel ops (norm+quantize, matrix kernels with their epilogues,
 * attention, argmax); in decode plans each norm+quantize (and the argmax)
 * then folds into the kernel before it as a tail, so a layer is five
 * dispatches; finally every op is recorded. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "vk_exec_impl.h"

static vk_op *add_op(rec *r, vk_op_kind kind, const char *label)
{
	if (r->n_ops == r->cap_ops) {
		uint32_t cap = r->cap_ops ? 2 * r->cap_ops : 256;
		vk_op *ops = realloc(r->ops, cap * sizeof *ops);
		if (!ops) {
			r->s = DUET_ERR(DUET_E_NOMEM, "out of memory");
			return NULL;
		}
		r->ops = ops;
		r->cap_ops = cap;
	}
	vk_op *op = &r->ops[r->n_ops++];
	memset(op, 0, sizeof *op);
	op->kind = kind;
	op->label = label;
	return op;
}

static void add_mm(rec *r, const vk_mat *mat, const mm_out *o, const char *label)
{
	vk_op *op = add_op(r, VOP_MM, label);
	if (op) {
		op->mat = mat;
		op->out = *o;
	}
}

/* Finds the device copy of a norm vector of the model. */
static duet_vk_range norm_range(const duet_vk_exec *x, const duet_weight *nw)
{
	const duet_model_desc *m = x->m;
	if (nw == &m->output_norm)
		return x->w->output_norm;
	for (uint32_t il = 0; il < m->hp.n_layer; il++) {
		if (nw == &m->layers[il].attn_norm)
			return x->w->layers[il].attn_norm;
		if (nw == &m->layers[il].ffn_norm)
			return x->w->layers[il].ffn_norm;
	}
	return x->w->dummy;
}

/* Makes `act` hold value v in activation format dot: one norm_quant
 * dispatch that folds in a pending norm, a last-row pick or a SwiGLU. */
static void prep(rec *r, uint32_t v, uint32_t dot, int layer, const char *what)
{
	if (r->act_valid && r->act_value == v && r->act_dot == dot)
		return;
	duet_vk_exec *x = r->x;
	const duet_hparams *hp = &x->m->hp;
	struct duet_pc_prep pc = { .x_stride = 0 };
	duet_vk_range nw = x->w->dummy;
	uint32_t src = v;
	if (r->L[src].kind == LOC_NORM) {
		const duet_gnode *n = r->L[src].norm;
		pc.p.norm = 1;
		pc.p.eps = n->eps;
		nw = norm_range(x, n->w);
		src = n->src[0];
	}
	if (r->L[src].kind == LOC_LAST) {
		pc.take_last = 1;
		src = r->L[src].src;
	}
	duet_vk_range in;
	switch (r->L[src].kind) {
	case LOC_X: in = r->p->x; pc.p.n = hp->n_embd; break;
	case LOC_AO: in = r->p->ao; pc.p.n = hp->n_embd; break;
	case LOC_FF: in = r->p->ff; pc.p.n = hp->n_ff; break;
	case LOC_GU:
		in = r->p->ff;
		pc.p.n = hp->n_ff;
		pc.p.swiglu = 1;
		pc.p.g_off = hp->n_ff;
		break;
	default:
		r->s = DUET_ERR(DUET_E_UNSUPPORTED, "the Vulkan executor cannot "
				"read graph value %s", r->p->g->values[src].name);
		return;
	}
	pc.x_stride = pc.p.swiglu ? 2 * pc.p.n : pc.p.n;
	vk_op *op = add_op(r, VOP_PREP, duet_vkr_label(r, layer, what));
	if (op) {
		op->in = in;
		op->nw = nw;
		op->prep = pc;
		op->dot = dot;
	}
	r->act_valid = true;
	r->act_value = v;
	r->act_dot = dot;
}

/* ---- lowering ----------------------------------------------------------------- */

static const duet_gnode *node_at(const duet_graph *g, uint32_t i)
{
	return i < g->n_nodes ? &g->nodes[i] : NULL;
}

static bool is_qkv(const duet_graph *g, uint32_t i)
{
	const duet_gnode *q = node_at(g, i), *k = node_at(g, i + 1),
			 *v = node_at(g, i + 2), *rq = node_at(g, i + 3),
			 *rk = node_at(g, i + 4), *at = node_at(g, i + 5);
	return at && k->op == DUET_OP_MUL_MAT && v->op == DUET_OP_MUL_MAT &&
	       k->src[0] == q->src[0] && v->src[0] == q->src[0] &&
	       rq->op == DUET_OP_ROPE && rq->src[0] == q->dst &&
	       rk->op == DUET_OP_ROPE && rk->src[0] == k->dst &&
	       at->op == DUET_OP_ATTN && at->src[0] == rq->dst &&
	       at->src[1] == rk->dst && at->src[2] == v->dst;
}

static bool is_ffn(const duet_graph *g, uint32_t i)
{
	const duet_gnode *gt = node_at(g, i), *up = node_at(g, i + 1),
			 *sw = node_at(g, i + 2);
	return sw && up->op == DUET_OP_MUL_MAT && up->src[0] == gt->src[0] &&
	       sw->op == DUET_OP_SWIGLU && sw->src[0] == gt->dst &&
	       sw->src[1] == up->dst;
}

/* Returns the uploaded matrix behind weight pointer wt, or NULL. */
static const vk_mat *find_mat(const duet_vk_exec *x, const duet_weight *wt,
			      int *layer)
{
	const duet_model_desc *m = x->m;
	*layer = -1;
	if (wt == &m->output)
		return &x->w->output;
	for (uint32_t il = 0; il < m->hp.n_layer; il++) {
		*layer = (int)il;
		if (wt == &m->layers[il].wo)
			return &x->w->layers[il].wo;
		if (wt == &m->layers[il].w_down)
			return &x->w->layers[il].down;
	}
	return NULL;
}

static uint32_t lower_qkv(rec *r, uint32_t i)
{
	const duet_graph *g = r->p->g;
	const duet_gnode *at = &g->nodes[i + 5];
	uint32_t il = at->attn.layer;
	const vk_layer *V = &r->x->w->layers[il];
	const duet_hparams *hp = &r->x->m->hp;
	static const char *const what[3] = { "q", "k", "v" };
	for (uint32_t k = 0; k < V->n_qkv; k++) {
		prep(r, g->nodes[i].src[0], V->qkv[k].dot, (int)il, "attn_norm");
		mm_out o = { .epi = DUET_EPI_QKV, .y = r->p->q,
			     .res = r->x->w->dummy,
			     .bias = V->qkv_bias.block ? V->qkv_bias : r->x->w->dummy,
			     .y_stride = hp->n_embd, .layer = il };
		add_mm(r, &V->qkv[k], &o, duet_vkr_label(r, (int)il,
					  V->n_qkv == 1 ? "qkv" : what[k]));
	}
	vk_op *op;
	if (r->x->kv_type == DUET_KV_Q8_0 &&
	    (op = add_op(r, VOP_KVQ, duet_vkr_label(r, (int)il, "kv_quant"))))
		op->out.layer = il;
	op = add_op(r, VOP_ATTN, duet_vkr_label(r, (int)il, "attn"));
	if (op)
		op->attn = at;
	r->L[at->dst].kind = LOC_AO;
	return i + 6;
}

static uint32_t lower_ffn(rec *r, uint32_t i)
{
	const duet_graph *g = r->p->g;
	const duet_gnode *gate = &g->nodes[i];
	const duet_model_desc *m = r->x->m;
	uint32_t il = 0;
	while (il < m->hp.n_layer && gate->w != &m->layers[il].w_gate)
		il++;
	if (il == m->hp.n_layer) {
		r->s = DUET_ERR(DUET_E_UNSUPPORTED, "gate weight of no layer");
		return g->n_nodes;
	}
	const vk_layer *V = &r->x->w->layers[il];
	uint32_t n_ff = m->hp.n_ff;
	for (uint32_t k = 0; k < V->n_ffn; k++) {
		prep(r, gate->src[0], V->ffn[k].dot, (int)il, "ffn_norm");
		mm_out o = { .epi = V->n_ffn == 1 ? DUET_EPI_SWIGLU : DUET_EPI_STORE,
			     .y = r->p->ff, .res = r->x->w->dummy,
			     .bias = r->x->w->dummy,
			     .y_stride = V->n_ffn == 1 ? n_ff : 2 * n_ff,
			     .y_off = k == 1 ? n_ff : 0 };
		add_mm(r, &V->ffn[k], &o, duet_vkr_label(r, (int)il,
					  V->n_ffn == 1 ? "gate_up" : k == 0 ? "gate" : "up"));
	}
	r->L[g->nodes[i + 2].dst].kind = V->n_ffn == 1 ? LOC_FF : LOC_GU;
	return i + 3;
}

static uint32_t lower_matmul(rec *r, uint32_t i)
{
	const duet_graph *g = r->p->g;
	const duet_gnode *n = &g->nodes[i];
	if (is_qkv(g, i))
		return lower_qkv(r, i);
	if (is_ffn(g, i))
		return lower_ffn(r, i);
	int layer;
	const vk_mat *mat = find_mat(r->x, n->w, &layer);
	const duet_gnode *add = node_at(g, i + 1);
	duet_vk_weights *w = r->x->w;
	if (mat && add && add->op == DUET_OP_ADD && add->src[0] == n->dst &&
	    r->L[add->src[1]].kind == LOC_X) {
		prep(r, n->src[0], mat->dot, layer,
		     mat == &w->layers[layer].wo ? "attn_out.q" : "ffn_out.q");
		uint32_t n_embd = r->x->m->hp.n_embd;
		mm_out o = { .epi = DUET_EPI_ADD, .y = r->p->x, .res = r->p->x,
			     .bias = w->dummy, .y_stride = n_embd, .r_stride = n_embd };
		add_mm(r, mat, &o, duet_vkr_label(r, layer, mat == &w->layers[layer].wo
							       ? "attn_out" : "ffn_out"));
		r->L[add->dst].kind = LOC_X;
		r->act_valid = false; /* x changed under any cached prep */
		return i + 2;
	}
	if (mat == &w->output && n->dst == g->out_logits) {
		prep(r, n->src[0], mat->dot, -1, "out_norm");
		uint32_t nv = r->x->m->hp.n_vocab;
		bool last = g->logits_mode == DUET_LOGITS_LAST;
		mm_out o = { .epi = DUET_EPI_STORE, .y = r->p->logits,
			     .res = w->dummy, .bias = w->dummy, .y_stride = nv,
			     .take_last = last };
		add_mm(r, mat, &o, "logits");
		add_op(r, VOP_ARGMAX, "argmax");
		r->L[n->dst].kind = LOC_LOGITS;
		return i + 1;
	}
	r->s = DUET_ERR(DUET_E_UNSUPPORTED, "the Vulkan executor has no fused "
			"form for matrix product %s", g->values[n->dst].name);
	return g->n_nodes;
}

static duet_status lower_nodes(rec *r)
{
	const duet_graph *g = r->p->g;
	for (uint32_t i = 0; i < g->n_nodes && r->s == DUET_OK;) {
		const duet_gnode *n = &g->nodes[i];
		switch (n->op) {
		case DUET_OP_GET_ROWS: /* embedded on the host into x */
			r->L[n->dst].kind = LOC_X;
			i++;
			break;
		case DUET_OP_RMS_NORM:
			r->L[n->dst] = (loc){ .kind = LOC_NORM, .norm = n };
			i++;
			break;
		case DUET_OP_TAKE_LAST:
			r->L[n->dst] = (loc){ .kind = LOC_LAST, .src = n->src[0] };
			i++;
			break;
		case DUET_OP_MUL_MAT:
			i = lower_matmul(r, i);
			break;
		default:
			return DUET_ERR(DUET_E_UNSUPPORTED, "the Vulkan executor has "
					"no kernel for a lone %s node",
					duet_op_name(n->op));
		}
	}
	return r->s;
}

/* Decode plans: a prep that reads exactly what the op before it wrote
 * (one dispatch, token 0) becomes that op's tail; so does the argmax after
 * the logits. */
static void fuse_tails(rec *r)
{
	if (r->p->n_batch != 1)
		return;
	uint32_t n = 0;
	for (uint32_t i = 0; i < r->n_ops; i++) {
		vk_op *op = &r->ops[i], *prev = n ? &r->ops[n - 1] : NULL;
		bool prev_one = prev && ((prev->kind == VOP_MM && prev->mat->n_parts == 1 &&
					  prev->out.epi != DUET_EPI_QKV) ||
					 prev->kind == VOP_ATTN) &&
				!prev->tail.p.kind && r->n_tails < VK_MAX_TAILS;
		duet_vk_range prev_out = !prev ? r->p->ao
					 : prev->kind == VOP_MM ? prev->out.y : r->p->ao;
		bool reads_prev = prev_one && op->kind == VOP_PREP && !op->prep.p.swiglu &&
				  op->in.block == prev_out.block &&
				  op->in.offset == prev_out.offset &&
				  (prev->kind != VOP_MM || prev->out.y_off == 0);
		if (reads_prev) {
			prev->tail.p = op->prep.p;
			prev->tail.p.kind = 1;
			prev->tail.dot = op->dot;
			prev->tail.nw = op->nw;
			prev->tail.out = r->p->act;
			duet_vkr_prep_fill(&prev->tail.p, op->dot);
			prev->tail.p.counter = r->n_tails++;
			continue;
		}
		if (prev_one && op->kind == VOP_ARGMAX && prev->kind == VOP_MM &&
		    prev->out.take_last) {
			prev->tail.p.kind = 2;
			prev->tail.p.n = r->x->m->hp.n_vocab;
			prev->tail.out = r->p->ids;
			prev->tail.nw = r->x->w->dummy;
			prev->tail.p.counter = r->n_tails++;
			continue;
		}
		r->ops[n++] = *op;
	}
	r->n_ops = n;
}

/* Before the first kernel that reads a streamed layer's matrices: a gate
 * the host opens once they are in their slot (exec_vk.c). */
static void gate_for(rec *r, const vk_mat *mat)
{
	const duet_vk_weights *w = r->x->w;
	int il = duet_vk_weights_mat_layer(w, mat);
	if (il < 0 || !duet_vk_weights_streamed(w, (uint32_t)il))
		return;
	uint32_t k = (uint32_t)il - w->first_streamed, gate;
	if (k < r->n_gates)
		return;
	if (k > r->n_gates) {
		r->s = DUET_ERR(DUET_E_UNSUPPORTED, "streamed layer %d is used "
				"before layer %u", il, w->first_streamed + r->n_gates);
		return;
	}
	r->s = duet_vk_seq_gate(r->p->seq, &gate);
	if (r->s == DUET_OK && gate != k)
		r->s = DUET_ERR(DUET_E_INVAL, "gate %u for streamed layer %d", gate, il);
	r->n_gates++;
}

static void emit(rec *r)
{
	for (uint32_t i = 0; i < r->n_ops && r->s == DUET_OK; i++) {
		vk_op *op = &r->ops[i];
		switch (op->kind) {
		case VOP_PREP:
			duet_vkr_prep_emit(r, &op->in, &op->prep, &op->nw, op->dot,
					   op->label);
			break;
		case VOP_MM:
			gate_for(r, op->mat);
			if (r->s == DUET_OK)
				duet_vkr_mm(r, op->mat, &op->out, &op->tail, op->label);
			break;
		case VOP_KVQ:
			duet_vkr_kvq(r, op->out.layer, op->label);
			break;
		case VOP_ATTN:
			duet_vkr_attn(r, op->attn, &op->tail, op->label);
			break;
		case VOP_ARGMAX:
			duet_vkr_argmax(r, op->label);
			break;
		}
	}
}

duet_status duet_vkr_lower(rec *r)
{
	duet_status s = lower_nodes(r);
	if (s == DUET_OK) {
		fuse_tails(r);
		emit(r);
		s = r->s;
	}
	free(r->ops);
	r->ops = NULL;
	return s;
}
