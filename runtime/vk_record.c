/* Recording a graph onto the shim: the lowering of graph nodes to fused
 * kernels (see exec_vk.h) and the helpers that record one kernel with the
 * barriers its buffers need. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "vk_exec_impl.h"
#include "vk_pack.h"

/* ---- recording helpers --------------------------------------------------- */

static bool overlap(const duet_vk_range *a, const duet_vk_range *b)
{
	return a->block == b->block && a->offset < b->offset + b->bytes &&
	       b->offset < a->offset + a->bytes;
}

static bool any_overlap(const duet_vk_range *set, uint32_t n,
			const duet_vk_range *r)
{
	for (uint32_t i = 0; i < n; i++)
		if (overlap(&set[i], r))
			return true;
	return false;
}

/* Records a barrier only when this dispatch reads what an earlier one
 * wrote, or writes what an earlier one read or wrote, since the last. */
static void hazard(rec *r, const duet_vk_range *b, uint32_t n, uint32_t written)
{
	bool need = false;
	for (uint32_t i = 0; i < n && !need; i++) {
		bool w = written >> i & 1u;
		need = any_overlap(r->writes, r->n_writes, &b[i]) ||
		       (w && any_overlap(r->reads, r->n_reads, &b[i]));
	}
	if (need || r->n_reads + n > MAX_TRACK || r->n_writes + n > MAX_TRACK) {
		duet_vk_seq_barrier(r->p->seq);
		r->n_reads = r->n_writes = 0;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (written >> i & 1u)
			r->writes[r->n_writes++] = b[i];
		else
			r->reads[r->n_reads++] = b[i];
	}
}

static const char *label(rec *r, const char *fmt, int layer, const char *what)
{
	char buf[64];
	if (layer >= 0)
		snprintf(buf, sizeof buf, fmt, layer, what);
	else
		snprintf(buf, sizeof buf, "%s", what);
	return duet_arena_strndup(&r->p->labels, buf, strlen(buf));
}

void duet_vkr_dispatch(rec *r, const char *kernel, const uint32_t *spec,
		       uint32_t n_spec, const duet_vk_range *b, uint32_t n,
		       uint32_t written, const void *pc, uint32_t pc_bytes,
		       uint32_t groups, const vk_recipe *recipe, const char *lbl)
{
	if (r->s != DUET_OK)
		return;
	duet_vk_kernel *k;
	r->s = duet_vk_kernel_get(r->x->d, kernel, spec, n_spec, &k);
	if (r->s != DUET_OK)
		return;
	hazard(r, b, n, written);
	uint32_t g[3] = { groups, 1, 1 };
	duet_vk_range args = { 0 };
	if (recipe) {
		if (r->p->n_recipes == VK_MAX_RECIPES) {
			r->s = DUET_ERR(DUET_E_RANGE, "more than %d indirect "
					"dispatches in one graph", VK_MAX_RECIPES);
			return;
		}
		args = duet_vk_sub(r->p->step, 256 + 16 * r->p->n_recipes, 12);
		r->p->recipes[r->p->n_recipes++] = *recipe;
	}
	r->s = duet_vk_seq_dispatch(r->p->seq, k, b, n, pc, pc_bytes, g,
				    recipe ? &args : NULL, lbl);
}

void duet_vkr_write_recipes(vk_plan *p, uint32_t n_tok, uint32_t n_head)
{
	uint32_t *slot = (uint32_t *)((char *)p->step.map + 256);
	for (uint32_t i = 0; i < p->n_recipes; i++, slot += 4) {
		const vk_recipe *rc = &p->recipes[i];
		slot[0] = rc->kind == BY_TOKENS ? n_tok
			  : rc->kind == BY_HEADS ? (n_tok * n_head + rc->per - 1) / rc->per
						 : rc->fixed;
		slot[1] = rc->kind == BY_TILES ? (n_tok + rc->per - 1) / rc->per : 1;
		slot[2] = 1;
	}
}

static const char *type_suffix(uint32_t t)
{
	switch (t) {
	case DUET_TYPE_F32: return "f32";
	case DUET_TYPE_F16: return "f16";
	case DUET_TYPE_BF16: return "bf16";
	case DUET_TYPE_Q4_0: return "q4_0";
	case DUET_TYPE_Q4_1: return "q4_1";
	case DUET_TYPE_Q5_0: return "q5_0";
	case DUET_TYPE_Q5_1: return "q5_1";
	case DUET_TYPE_Q8_0: return "q8_0";
	case DUET_TYPE_Q4_K: return "q4_k";
	case DUET_TYPE_Q5_K: return "q5_k";
	default: return "q6_k";
	}
}

/* ---- kernels --------------------------------------------------------------- */

/* The matrix kernel for this plan and device, and its shape:
 *   gpu      mm_gpu: a workgroup of 64 threads per R rows x T tokens;
 *   cpu, one token   mm_cpu: R = 16 rows per invocation, 8 per workgroup;
 *   cpu, batches     mm_cpu_tok: 8 tokens per workgroup, R = 8 rows. */
typedef struct mm_shape {
	char name[32];
	uint32_t spec[5];
	uint32_t n_spec;
	uint32_t rows_per_group; /* rows one workgroup covers */
	uint32_t tok_per_group;  /* tokens one workgroup covers (0: all) */
} mm_shape;

static void shape_for(const rec *r, const vk_mat *mat, const mm_out *o,
		      mm_shape *sh)
{
	bool batch = r->p->n_batch > 1 && !o->take_last;
	const char *t = type_suffix(mat->type);
	memset(sh, 0, sizeof *sh);
	if (r->x->gpu) {
		uint32_t R = o->epi == DUET_EPI_QKV ? 4 : 2, T = batch ? 4 : 1;
		snprintf(sh->name, sizeof sh->name, "mm_gpu_%s", t);
		sh->spec[0] = 64, sh->spec[1] = R, sh->spec[2] = T;
		sh->spec[3] = o->epi, sh->spec[4] = 64, sh->n_spec = 5;
		sh->rows_per_group = R;
		sh->tok_per_group = batch ? T : 0;
	} else if (!batch) {
		snprintf(sh->name, sizeof sh->name, "mm_cpu_%s", t);
		sh->spec[0] = 8, sh->spec[1] = 16, sh->spec[3] = o->epi;
		sh->n_spec = 4;
		sh->rows_per_group = 8 * 16;
	} else {
		snprintf(sh->name, sizeof sh->name, "mm_cpu_tok_%s", t);
		sh->spec[0] = 8, sh->spec[1] = 8, sh->spec[3] = o->epi;
		sh->n_spec = 4;
		sh->rows_per_group = 8;
		sh->tok_per_group = 8;
	}
}

void duet_vkr_mm(rec *r, const vk_mat *mat, const mm_out *o, const char *lbl)
{
	duet_vk_exec *x = r->x;
	const duet_hparams *hp = &x->m->hp;
	const duet_vk_weights *w = x->w;
	mm_shape sh;
	shape_for(r, mat, o, &sh);
	const duet_vk_spirv *mod = duet_vk_spirv_find(sh.name);
	bool qkv = o->epi == DUET_EPI_QKV;
	for (uint32_t i = 0; mod && i < mat->n_parts; i++) {
		const vk_part *part = &mat->parts[i];
		struct duet_pc_mm pc = {
			.n_in = mat->n_pad,
			.n_rows = part->n_rows,
			.row_base = mat->row_base + part->row0,
			.w_row_texels = mat->row_texels,
			.x_stride = duet_vk_act_floats(mat->dot, mat->n_in),
			.y_stride = o->y_stride,
			.y_off = o->y_off,
			.r_stride = o->r_stride,
			.has_bias = o->bias.block != w->dummy.block ||
				    o->bias.offset != w->dummy.offset,
			.take_last = o->take_last,
			.n_q = hp->n_embd,
			.n_kv = hp->n_embd_kv,
			.head_dim = hp->head_dim,
			.n_rot = hp->n_rot,
			.rope_mode = hp->rope_mode == DUET_ROPE_NEOX
					     ? DUET_ROPE_MODE_NEOX
					     : DUET_ROPE_MODE_NORM,
			.has_factors = x->m->rope_factors != NULL,
			.freq_scale = hp->rope_freq_scale,
			.theta_scale = powf(hp->rope_freq_base, -2.0f / (float)hp->n_rot),
			.n_ff = hp->n_ff,
		};
		duet_vk_range b[10] = {
			part->range, r->p->act, o->y, o->res, o->bias,
			x->m->rope_factors ? w->factors : w->dummy,
			qkv ? x->kc[o->layer] : w->dummy,
			qkv ? x->vc[o->layer] : w->dummy,
			r->p->step, r->p->act,
		};
		uint32_t written = 1u << 2 | (qkv ? 3u << 6 : 0);
		uint32_t gx = (part->n_rows + sh.rows_per_group - 1) / sh.rows_per_group;
		vk_recipe tiles = { BY_TILES, gx, sh.tok_per_group };
		duet_vkr_dispatch(r, sh.name, sh.spec, sh.n_spec, b, mod->n_bindings,
				  written, &pc, sizeof pc, gx,
				  sh.tok_per_group ? &tiles : NULL, lbl);
	}
	if (!mod && r->s == DUET_OK)
		r->s = DUET_ERR(DUET_E_NOT_FOUND, "no kernel %s in this build", sh.name);
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

void duet_vkr_prep_emit(rec *r, const duet_vk_range *in,
			struct duet_pc_prep *pc, const duet_vk_range *nw,
			uint32_t dot, const char *lbl)
{
	pc->n_pad = duet_vk_pad256(pc->n);
	pc->y_stride = duet_vk_act_floats(dot, pc->n);
	pc->q8_max = 127.0f;
	uint32_t wg = r->x->gpu ? 64 : 8;
	uint32_t spec[3] = { wg, dot, wg };
	duet_vk_range b[4] = { *in, r->p->act, *nw, r->p->step };
	bool many = r->p->n_batch > 1 && !pc->take_last;
	bool f64 = duet_vk_device_get_caps(r->x->d)->float64;
	vk_recipe by_tok = { BY_TOKENS, 0, 1 };
	duet_vkr_dispatch(r, f64 ? "norm_quant_f64" : "norm_quant", spec, 3, b, 4,
			  1u << 1, pc, sizeof *pc, 1, many ? &by_tok : NULL, lbl);
}

/* Makes `act` hold value v in activation format dot: one norm_quant
 * dispatch that folds in a pending norm, a last-row pick or a SwiGLU. */
static void prep(rec *r, uint32_t v, uint32_t dot, int layer, const char *what)
{
	if (r->act_valid && r->act_value == v && r->act_dot == dot)
		return;
	duet_vk_exec *x = r->x;
	const duet_hparams *hp = &x->m->hp;
	struct duet_pc_prep pc = { .norm = 0 };
	duet_vk_range nw = x->w->dummy;
	uint32_t src = v;
	if (r->L[src].kind == LOC_NORM) {
		const duet_gnode *n = r->L[src].norm;
		pc.norm = 1;
		pc.eps = n->eps;
		nw = norm_range(x, n->w);
		src = n->src[0];
	}
	if (r->L[src].kind == LOC_LAST) {
		pc.take_last = 1;
		src = r->L[src].src;
	}
	duet_vk_range in;
	switch (r->L[src].kind) {
	case LOC_X: in = r->p->x; pc.n = hp->n_embd; break;
	case LOC_AO: in = r->p->ao; pc.n = hp->n_embd; break;
	case LOC_FF: in = r->p->ff; pc.n = hp->n_ff; break;
	case LOC_GU:
		in = r->p->ff;
		pc.n = hp->n_ff;
		pc.swiglu = 1;
		pc.g_off = hp->n_ff;
		break;
	default:
		r->s = DUET_ERR(DUET_E_UNSUPPORTED, "the Vulkan executor cannot "
				"read graph value %s", r->p->g->values[src].name);
		return;
	}
	pc.x_stride = pc.swiglu ? 2 * pc.n : pc.n;
	duet_vkr_prep_emit(r, &in, &pc, &nw, dot, label(r, "l%d.%s", layer, what));
	r->act_valid = true;
	r->act_value = v;
	r->act_dot = dot;
}

static void attention(rec *r, const duet_gnode *n)
{
	duet_vk_exec *x = r->x;
	const duet_attn_params *a = &n->attn;
	struct duet_pc_attn pc = {
		.n_head = a->n_head,
		.n_head_kv = a->n_head_kv,
		.head_dim = a->head_dim,
		.n_embd_kv = a->n_head_kv * a->head_dim,
		.q_stride = a->n_head * a->head_dim,
		.o_stride = a->n_head * a->head_dim,
		.scale = a->scale,
	};
	duet_vk_range b[5] = { r->p->q, x->kc[a->layer], x->vc[a->layer],
			       r->p->ao, r->p->step };
	bool many = r->p->n_batch > 1;
	uint32_t wg = x->gpu ? 32 : (many ? 8 : 4);
	uint32_t spec[3] = { wg, a->head_dim, wg };
	uint32_t per = x->gpu ? 1 : wg;
	vk_recipe heads = { BY_HEADS, 0, per };
	duet_vkr_dispatch(r, x->gpu ? "attn_gpu" : "attn_cpu", spec, x->gpu ? 3 : 2,
			  b, 5, 1u << 3, &pc, sizeof pc, (a->n_head + per - 1) / per,
			  many ? &heads : NULL, label(r, "l%d.%s", (int)a->layer, "attn"));
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
		duet_vkr_mm(r, &V->qkv[k], &o, label(r, "l%d.%s", (int)il,
					    V->n_qkv == 1 ? "qkv" : what[k]));
	}
	attention(r, at);
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
		duet_vkr_mm(r, &V->ffn[k], &o, label(r, "l%d.%s", (int)il,
					    V->n_ffn == 1 ? "gate_up" :
					    k == 0 ? "gate" : "up"));
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
		duet_vkr_mm(r, mat, &o, label(r, "l%d.%s", layer,
				     mat == &w->layers[layer].wo ? "attn_out" : "ffn_out"));
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
		duet_vkr_mm(r, mat, &o, "logits");
		struct duet_pc_argmax pc = { nv, nv, r->p->logits_rows };
		uint32_t wg = r->x->gpu ? 64 : 8, spec[2] = { wg, wg };
		duet_vk_range b[2] = { r->p->logits, r->p->ids };
		vk_recipe by_tok = { BY_TOKENS, 0, 1 };
		duet_vkr_dispatch(r, "argmax", spec, 2, b, 2, 1u << 1, &pc, sizeof pc,
				  1, last ? NULL : &by_tok, "argmax");
		r->L[n->dst].kind = LOC_LOGITS;
		return i + 1;
	}
	r->s = DUET_ERR(DUET_E_UNSUPPORTED, "the Vulkan executor has no fused "
			"form for matrix product %s", g->values[n->dst].name);
	return g->n_nodes;
}

duet_status duet_vkr_lower(rec *r)
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
