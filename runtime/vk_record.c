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

const char *duet_vkr_label(rec *r, int layer, const char *what)
{
	char buf[64];
	if (layer >= 0)
		snprintf(buf, sizeof buf, "l%d.%s", layer, what);
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
	if (!r->sibling)
		hazard(r, b, n, written);
	r->sibling = false;
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

uint32_t duet_vkr_recipe_y(const vk_recipe *rc, uint32_t n_tok)
{
	if (rc->kind == BY_TILES)
		return (n_tok + rc->per - 1) / rc->per;
	if (rc->kind != BY_LEVEL)
		return 1;
	uint32_t left = rc->upper ? n_tok % rc->upper : n_tok;
	return rc->last ? (left + rc->per - 1) / rc->per : left / rc->per;
}

void duet_vkr_write_recipes(vk_plan *p, uint32_t n_tok, uint32_t n_head)
{
	uint32_t *slot = (uint32_t *)((char *)p->step.map + 256);
	for (uint32_t i = 0; i < p->n_recipes; i++, slot += 4) {
		const vk_recipe *rc = &p->recipes[i];
		slot[0] = rc->kind == BY_TOKENS ? n_tok
			  : rc->kind == BY_HEADS ? (n_tok * n_head + rc->per - 1) / rc->per
						 : rc->fixed;
		slot[1] = duet_vkr_recipe_y(rc, n_tok);
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

/* The tail arguments of a kernel: bindings 10 (output), 11 (norm weight)
 * and 12 (counters), and the push-constant block. */
static void tail_bind(rec *r, const vk_tail *t, duet_vk_range b[3],
		      struct duet_prep *pc)
{
	duet_vk_range dummy = r->x->w->dummy;
	b[0] = t && t->p.kind ? t->out : dummy;
	b[1] = t && t->p.kind ? t->nw : dummy;
	b[2] = r->p->counters;
	memset(pc, 0, sizeof *pc);
	if (t && t->p.kind)
		*pc = t->p;
}

/* The matrix kernel for this plan and device, and its shape:
 *   gpu      mm_gpu: a workgroup of 64 threads in sets of TPR, R rows a
 *            set, T tokens (1, or 8 in batches);
 *   cpu, one token   mm_cpu: R = 8, 16 or 32 rows per invocation (by the
 *                    matrix height), 8 invocations per workgroup;
 *   cpu, batches     mm_cpu_tok: workgroups of 8 invocations, each of T
 *                    tokens, in levels (one dispatch each): T = 4 with
 *                    R = 8 or 16 rows over whole tiles of 32 tokens (when
 *                    the graph's batch has one), then T = 1 with R = 8,
 *                    16 or 32 (by the matrix height) over the rest. */
#define MM_LEVELS 2

typedef struct mm_level {
	uint32_t T, R; /* tokens per invocation, rows per workgroup */
} mm_level;

typedef struct mm_shape {
	char name[32];
	uint32_t spec[8];
	uint32_t rows_per_group; /* rows one workgroup covers */
	uint32_t tok_per_group;  /* tokens one workgroup covers (0: all) */
	uint32_t n_levels;       /* mm_cpu_tok: its dispatches */
	mm_level level[MM_LEVELS];
} mm_shape;

static void shape_for(const rec *r, const vk_mat *mat, const mm_out *o,
		      mm_shape *sh)
{
	bool batch = r->p->n_batch > 1 && !o->take_last;
	const char *t = type_suffix(mat->type);
	memset(sh, 0, sizeof *sh);
	if (r->x->gpu) {
		/* threads per row set: the largest power of two (4 .. 64) not
		 * above the row's 64-element units, so that a 768-wide row
		 * keeps 8 threads busy on each of 8 sets, not 3 of 64. Batches
		 * take 8 tokens a workgroup through the same sums, so a token's
		 * result is the same in a batch as in a decode step (a
		 * recomputed position must equal the one it replaces) */
		uint32_t R = o->epi == DUET_EPI_QKV ? 4 : 2, T = batch ? 8 : 1;
		uint32_t units = mat->n_pad / 64, tpr = 64;
		while (tpr > 4 && tpr > units)
			tpr /= 2;
		snprintf(sh->name, sizeof sh->name, "mm_gpu_%s", t);
		sh->spec[0] = 64, sh->spec[1] = R, sh->spec[2] = T;
		sh->spec[3] = o->epi, sh->spec[4] = 64, sh->spec[7] = tpr;
		sh->rows_per_group = R * (64 / tpr);
		sh->tok_per_group = batch ? T : 0;
	} else if (!batch) {
		/* more rows per invocation share each activation load over
		 * more weights (m25 Q4_0 decode: 128 -> 168 t/s from R 8 to
		 * 32), but keep at least 4 workgroups for the CPU's threads */
		uint32_t R = mat->n_rows >= 8 * 32 * 4 ? 32 : mat->n_rows >= 8 * 16 * 4 ? 16 : 8;
		snprintf(sh->name, sizeof sh->name, "mm_cpu_%s", t);
		sh->spec[0] = 8, sh->spec[1] = R, sh->spec[3] = o->epi;
		sh->rows_per_group = 8 * R;
	} else {
		snprintf(sh->name, sizeof sh->name, "mm_cpu_tok_%s", t);
		/* each weight unpacked once serves 8 tokens; more rows per
		 * workgroup amortize the activation loads too (m25 Q4_0 pp:
		 * 382 -> 453 t/s from R 8 to 32) while 8 row groups remain */
		uint32_t R = mat->n_rows >= 32 * 8 ? 32 : mat->n_rows >= 16 * 8 ? 16 : 8;
		sh->spec[0] = 8, sh->spec[3] = o->epi;
		sh->rows_per_group = R;
		/* several tokens per invocation unpack each weight once for
		 * all of them (m130 F16 pp128: 73 -> 110 t/s with T = 4), but
		 * tokens past the step's last would be computed in vain, so
		 * only whole tiles take T = 4. R x T stays at 64 or less:
		 * lavapipe compiles the unrolled body in time that grows
		 * with it (T = 8 was 4% faster and compiled twice as long) */
		if (r->p->n_batch >= 32)
			sh->level[sh->n_levels++] = (mm_level){ 4, R < 16 ? R : 16 };
		sh->level[sh->n_levels++] = (mm_level){ 1, R };
	}
}

/* The push-constant fields that place layer il's rows in a pool's pages
 * (kvaddr.glsl); zero for a contiguous cache. */
static void kv_paging(const duet_vk_exec *x, uint32_t il, uint32_t *off,
		      uint32_t *tpp, uint32_t *page)
{
	bool paged = x->paged.tpp != 0;
	*off = paged ? 2 * il : 0;
	*tpp = x->paged.tpp;
	*page = paged ? x->paged.streams | (x->paged.page_bytes / 64) << 16 : 0;
}

/* The four cache bindings of layer il's kernels: a contiguous cache's K
 * and V (K again in the slots it leaves unused), or a pool's chunks (chunk
 * 0 again where it has fewer than four); kvaddr.glsl picks among them. */
static void kv_bind(const duet_vk_exec *x, uint32_t il, duet_vk_range out[4])
{
	for (uint32_t i = 0; i < 4; i++)
		out[i] = x->paged.tpp ? x->paged.mem[i < x->paged.n_chunks ? i : 0]
				      : i == 1 ? x->vc[il] : x->kc[il];
}

void duet_vkr_mm(rec *r, const vk_mat *mat, const mm_out *o,
		 const vk_tail *tail, const char *lbl)
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
		bool paged = qkv && x->paged.tpp, staged = qkv && x->kv_type == DUET_KV_Q8_0;
		if (qkv)
			sh.spec[5] = x->kv_type;
		if (paged)
			kv_paging(x, o->layer, &pc.kv_off, &pc.kv_tpp, &pc.kv_page);
		duet_vk_range b[16] = {
			part->range, r->p->act, o->y, o->res, o->bias,
			x->m->rope_factors ? w->factors : w->dummy,
			w->dummy, w->dummy, r->p->step, r->p->act,
		};
		b[13] = paged ? r->p->pages : w->dummy;
		duet_vk_range kv[4] = { w->dummy, w->dummy, w->dummy, w->dummy };
		if (qkv)
			kv_bind(x, o->layer, kv);
		if (staged) /* the f32 rows for kv_quant */
			kv[0] = kv[1] = kv[2] = kv[3] = r->p->kvf;
		b[6] = kv[0], b[7] = kv[1], b[14] = kv[2], b[15] = kv[3];
		uint32_t gx = (part->n_rows + sh.rows_per_group - 1) / sh.rows_per_group;
		bool has_tail = tail && tail->p.kind && mat->n_parts == 1;
		tail_bind(r, has_tail ? tail : NULL, b + 10, &pc.tail);
		pc.tail.n_groups = gx;
		sh.spec[6] = has_tail ? tail->dot : 0;
		uint32_t written = 1u << 2 | (qkv ? 3u << 6 | 3u << 14 : 0) |
				   (has_tail ? 5u << 10 : 0);
		if (!sh.n_levels) {
			vk_recipe tiles = { BY_TILES, gx, sh.tok_per_group, 0, false };
			duet_vkr_dispatch(r, sh.name, sh.spec, 8, b, mod->n_bindings,
					  written, &pc, sizeof pc, gx,
					  sh.tok_per_group ? &tiles : NULL, lbl);
			continue;
		}
		/* the levels write apart from each other: one barrier first */
		for (uint32_t l = 0; l < sh.n_levels; l++) {
			const mm_level *lv = &sh.level[l];
			uint32_t upper = l ? 8 * sh.level[l - 1].T : 0;
			uint32_t lgx = (part->n_rows + lv->R - 1) / lv->R;
			vk_recipe rc = { BY_LEVEL, lgx, 8 * lv->T, upper,
					 l + 1 == sh.n_levels };
			sh.spec[1] = lv->R, sh.spec[2] = lv->T, sh.spec[4] = upper;
			r->sibling = l > 0;
			duet_vkr_dispatch(r, sh.name, sh.spec, 8, b, mod->n_bindings,
					  written, &pc, sizeof pc, lgx, &rc, lbl);
		}
	}
	if (!mod && r->s == DUET_OK)
		r->s = DUET_ERR(DUET_E_NOT_FOUND, "no kernel %s in this build", sh.name);
}

void duet_vkr_prep_fill(struct duet_prep *p, uint32_t dot)
{
	p->n_pad = duet_vk_pad256(p->n);
	p->q8_max = 127.0f;
	(void)dot;
}

void duet_vkr_prep_emit(rec *r, const duet_vk_range *in,
			struct duet_pc_prep *pc, const duet_vk_range *nw,
			uint32_t dot, const char *lbl)
{
	duet_vkr_prep_fill(&pc->p, dot);
	pc->y_stride = duet_vk_act_floats(dot, pc->p.n);
	uint32_t wg = r->x->gpu ? 64 : 8;
	uint32_t spec[3] = { wg, dot, wg };
	duet_vk_range b[4] = { *in, r->p->act, *nw, r->p->step };
	bool many = r->p->n_batch > 1 && !pc->take_last;
	bool f64 = duet_vk_device_get_caps(r->x->d)->float64;
	vk_recipe by_tok = { BY_TOKENS, 0, 1, 0, false };
	duet_vkr_dispatch(r, f64 ? "norm_quant_f64" : "norm_quant", spec, 3, b, 4,
			  1u << 1, pc, sizeof *pc, 1, many ? &by_tok : NULL, lbl);
}

void duet_vkr_attn(rec *r, const duet_gnode *n, const vk_tail *tail,
		   const char *lbl)
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
	bool paged = x->paged.tpp != 0;
	kv_paging(x, a->layer, &pc.kv_off, &pc.kv_tpp, &pc.kv_page);
	duet_vk_range kv[4];
	kv_bind(x, a->layer, kv);
	duet_vk_range b[15] = { r->p->q, kv[0], kv[1], r->p->ao, r->p->step };
	for (int i = 5; i < 10; i++)
		b[i] = x->w->dummy;
	b[13] = kv[2], b[14] = kv[3];
	if (paged)
		b[5] = r->p->pages;
	tail_bind(r, tail, b + 10, &pc.tail);
	bool many = r->p->n_batch > 1;
	uint32_t wg = x->gpu ? 32 : (many ? 8 : 4);
	uint32_t per = x->gpu ? 1 : wg, groups = (a->n_head + per - 1) / per;
	pc.tail.n_groups = groups;
	uint32_t spec[7] = { wg, a->head_dim, wg, 0, 0, x->kv_type, tail ? tail->dot : 0 };
	vk_recipe heads = { BY_HEADS, 0, per, 0, false };
	uint32_t written = 1u << 3 | (tail && tail->p.kind ? 5u << 10 : 0);
	duet_vkr_dispatch(r, x->gpu ? "attn_gpu" : "attn_cpu", spec, 7, b, 15,
			  written, &pc, sizeof pc, groups, many ? &heads : NULL, lbl);
}

void duet_vkr_kvq(rec *r, uint32_t il, const char *lbl)
{
	duet_vk_exec *x = r->x;
	struct duet_pc_kvq pc = { .n_kv = x->m->hp.n_embd_kv, .q8_max = 127.0f };
	bool paged = x->paged.tpp != 0;
	kv_paging(x, il, &pc.kv_off, &pc.kv_tpp, &pc.kv_page);
	duet_vk_range kv[4];
	kv_bind(x, il, kv);
	duet_vk_range b[7] = { r->p->kvf, kv[0], kv[1], r->p->step,
			       paged ? r->p->pages : x->w->dummy, kv[2], kv[3] };
	uint32_t wg = x->gpu ? 64 : 8;
	uint32_t spec[6] = { wg, 0, 0, 0, 0, x->kv_type };
	vk_recipe by_tok = { BY_TOKENS, 0, 1, 0, false };
	duet_vkr_dispatch(r, "kv_quant", spec, 6, b, 7, 3u << 1 | 3u << 5, &pc, sizeof pc, 1,
			  r->p->n_batch > 1 ? &by_tok : NULL, lbl);
}

void duet_vkr_argmax(rec *r, const char *lbl)
{
	uint32_t nv = r->x->m->hp.n_vocab;
	bool last = r->p->g->logits_mode == DUET_LOGITS_LAST;
	struct duet_pc_argmax pc = { nv, nv, r->p->logits_rows };
	uint32_t wg = r->x->gpu ? 64 : 8, spec[2] = { wg, wg };
	duet_vk_range b[2] = { r->p->logits, r->p->ids };
	vk_recipe by_tok = { BY_TOKENS, 0, 1, 0, false };
	duet_vkr_dispatch(r, "argmax", spec, 2, b, 2, 1u << 1, &pc, sizeof pc, 1,
			  last ? NULL : &by_tok, lbl);
}
