/* The Vulkan executor (see exec_vk.h): plans (buffers and a recording per
 * graph), steps, and the executor's lifetime. */
#include "exec_vk.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "kv.h"
#include "vk_exec_impl.h"
#include "vk_pack.h"

/* ---- plans ---------------------------------------------------------------------- */

static void plan_free(vk_plan *p)
{
	duet_vk_seq_destroy(p->seq);
	duet_vk_heap_destroy(p->act_heap);
	duet_vk_heap_destroy(p->host_heap);
	duet_arena_finish(&p->labels);
	free(p);
}

static uint64_t floats(uint64_t n)
{
	return (n * 4 + 15) / 16 * 16;
}

/* The largest activation (in floats per token) any matrix of m reads. */
static uint32_t act_stride(const duet_vk_weights *w)
{
	const duet_hparams *hp = &w->m->hp;
	uint32_t best = duet_vk_act_floats(w->output.dot, hp->n_embd);
	for (uint32_t il = 0; il < hp->n_layer; il++) {
		const vk_layer *V = &w->layers[il];
		const vk_mat *ms[] = { &V->qkv[0], &V->qkv[1], &V->qkv[2], &V->wo,
				       &V->ffn[0], &V->ffn[1], &V->down };
		for (int i = 0; i < 7; i++) {
			uint32_t f = ms[i]->n_rows ? duet_vk_act_floats(ms[i]->dot,
									 ms[i]->n_in)
						   : 0;
			if (f > best)
				best = f;
		}
	}
	return best;
}

static duet_status plan_alloc(duet_vk_exec *x, vk_plan *p)
{
	const duet_hparams *hp = &x->m->hp;
	uint64_t nb = p->n_batch;
	p->logits_rows = p->g->logits_mode == DUET_LOGITS_LAST ? 1 : p->n_batch;
	duet_status s = duet_vk_heap_create(x->d, DUET_VK_ACT, 0, &p->act_heap);
	if (s == DUET_OK)
		s = duet_vk_heap_create(x->d, DUET_VK_HOST, 0, &p->host_heap);
	struct { duet_vk_heap *h; duet_vk_range *r; uint64_t bytes; } a[] = {
		{ p->act_heap, &p->x, floats(nb * hp->n_embd) },
		{ p->act_heap, &p->act, floats(nb * act_stride(x->w)) },
		{ p->act_heap, &p->q, floats(nb * hp->n_embd) },
		{ p->act_heap, &p->ao, floats(nb * hp->n_embd) },
		{ p->act_heap, &p->ff, floats(nb * 2 * hp->n_ff) },
		{ p->host_heap, &p->logits, floats((uint64_t)p->logits_rows * hp->n_vocab) },
		{ p->host_heap, &p->ids, floats(nb) },
		{ p->host_heap, &p->in, floats(nb * hp->n_embd) },
		{ p->host_heap, &p->step, VK_STEP_BYTES },
		{ p->act_heap, &p->counters, 4 * VK_MAX_TAILS },
		{ p->host_heap, &p->pages, x->paged.tpp ? 4ull * x->paged.streams *
				((x->n_ctx + x->paged.tpp - 1) / x->paged.tpp) : 16 },
		{ p->act_heap, &p->kvf, x->kv_type == DUET_KV_Q8_0
				? floats(nb * 2 * hp->n_embd_kv) : 16 },
	};
	for (size_t i = 0; s == DUET_OK && i < sizeof a / sizeof a[0]; i++)
		s = duet_vk_heap_alloc(a[i].h, a[i].bytes, a[i].r);
	if (s == DUET_OK && !p->step.map)
		s = DUET_ERR(DUET_E_UNSUPPORTED, "host buffers are not mapped");
	if (s == DUET_OK)
		s = duet_vk_seq_create(x->d, x->profile, &p->seq);
	return s;
}

static duet_status record(duet_vk_exec *x, vk_plan *p)
{
	rec r = { .x = x, .p = p };
	r.L = calloc(p->g->n_values, sizeof *r.L);
	if (!r.L)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	duet_status s = duet_vk_seq_begin(p->seq);
	if (s == DUET_OK && !p->x.map) {
		/* embeddings go through the host buffer */
		s = duet_vk_seq_copy(p->seq, &p->in, &p->x, p->x.bytes);
		r.writes[r.n_writes++] = p->x;
	}
	if (s == DUET_OK) {
		/* tails count finished workgroups from zero (and reset them,
		 * but a run that failed half way must not leave a count) */
		s = duet_vk_seq_fill(p->seq, &p->counters, 0);
		r.writes[r.n_writes++] = p->counters;
	}
	if (s == DUET_OK)
		s = duet_vkr_lower(&r);
	if (s == DUET_OK)
		s = duet_vk_seq_end(p->seq);
	free(r.L);
	return s;
}

static duet_status get_plan(duet_vk_exec *x, const duet_graph *g, vk_plan **out)
{
	for (vk_plan *p = x->plans; p; p = p->next)
		if (p->g == g) {
			*out = p;
			return DUET_OK;
		}
	if (g->model != x->m)
		return DUET_ERR(DUET_E_INVAL, "graph of another model");
	vk_plan *p = calloc(1, sizeof *p);
	if (!p)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	p->g = g;
	p->n_batch = g->n_batch;
	duet_arena_init(&p->labels, 4096);
	duet_status s = plan_alloc(x, p);
	if (s == DUET_OK)
		s = record(x, p);
	if (s != DUET_OK) {
		plan_free(p);
		return s;
	}
	p->next = x->plans;
	x->plans = p;
	*out = p;
	return DUET_OK;
}

uint32_t duet_vk_exec_dispatches(const duet_vk_exec *x, const duet_graph *g)
{
	for (const vk_plan *p = x->plans; p; p = p->next)
		if (p->g == g)
			return duet_vk_seq_dispatches(p->seq);
	return 0;
}

/* ---- executor -------------------------------------------------------------------- */

duet_status duet_vk_exec_create(duet_vk_device *d, duet_vk_weights *w,
				uint32_t n_ctx, duet_kv_type kv_type, bool profile,
				const duet_vk_kv_pages *pages, duet_vk_exec **out)
{
	*out = NULL;
	if (n_ctx == 0)
		return DUET_ERR(DUET_E_INVAL, "context of 0 positions");
	duet_vk_exec *x = calloc(1, sizeof *x);
	if (!x)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	x->d = d;
	x->w = w;
	x->m = w->m;
	x->n_ctx = n_ctx;
	x->kv_type = kv_type;
	x->kv_row_bytes = duet_kv_row_bytes(kv_type, x->m->hp.n_embd_kv);
	x->profile = profile;
	x->gpu = w->gpu;
	if (pages)
		x->paged = *pages;
	uint32_t nl = pages ? 0 : x->m->hp.n_layer;
	x->kc = calloc(nl, sizeof *x->kc);
	x->vc = calloc(nl, sizeof *x->vc);
	duet_status s = (x->kc && x->vc) || pages
				? duet_vk_heap_create(d, DUET_VK_ACT, 64ull << 20, &x->kv_heap)
				: DUET_ERR(DUET_E_NOMEM, "out of memory");
	if (s == DUET_OK && pages && (pages->page_bytes % 64 || pages->page_bytes > (4u << 20) ||
				      !pages->tpp || pages->streams != 2 * x->m->hp.n_layer ||
				      pages->streams > 0xffff || !pages->n_chunks ||
				      pages->n_chunks > DUET_KV_MAX_CHUNKS ||
				      !pages->per_chunk || pages->per_chunk > 1u << 24))
		s = DUET_ERR(DUET_E_INVAL, "KV pages of %u bytes, %u positions, %u "
			     "streams do not suit the kernels", pages->page_bytes,
			     pages->tpp, pages->streams);
	if (s == DUET_OK && (!x->kv_row_bytes || x->kv_row_bytes % 16))
		s = DUET_ERR(DUET_E_INVAL, "a %s KV cache of rows of %u values does not "
			     "suit the kernels", duet_kv_type_name(kv_type),
			     x->m->hp.n_embd_kv);
	uint64_t bytes = (uint64_t)n_ctx * x->kv_row_bytes;
	for (uint32_t il = 0; s == DUET_OK && il < nl; il++) {
		s = duet_vk_heap_alloc(x->kv_heap, bytes, &x->kc[il]);
		if (s == DUET_OK)
			s = duet_vk_heap_alloc(x->kv_heap, bytes, &x->vc[il]);
	}
	if (s != DUET_OK) {
		duet_vk_exec_destroy(x);
		return duet_error_wrap(s, "allocating the KV cache (%u positions)",
				       n_ctx);
	}
	*out = x;
	return DUET_OK;
}

void duet_vk_exec_destroy(duet_vk_exec *x)
{
	if (!x)
		return;
	for (vk_plan *p = x->plans, *next; p; p = next) {
		next = p->next;
		plan_free(p);
	}
	duet_vk_heap_destroy(x->kv_heap);
	free(x->kc);
	free(x->vc);
	free(x);
}

static duet_status check_step(const duet_vk_exec *x, const duet_graph *g,
			      const duet_step *st)
{
	const duet_hparams *hp = &x->m->hp;
	if (st->n_tokens == 0 || st->n_tokens > g->n_batch)
		return DUET_ERR(DUET_E_INVAL, "step of %u tokens for a graph of "
				"batch %u", st->n_tokens, g->n_batch);
	if (st->pos || st->kv)
		return DUET_ERR(DUET_E_UNSUPPORTED, "the Vulkan executor runs one "
				"sequence per step");
	if (st->pos0 > x->n_ctx || st->n_tokens > x->n_ctx - st->pos0)
		return DUET_ERR(DUET_E_RANGE, "positions %u..%u exceed the context "
				"of %u", st->pos0, st->pos0 + st->n_tokens - 1,
				x->n_ctx);
	for (uint32_t b = 0; b < st->n_tokens; b++)
		if (st->tokens[b] < 0 || (uint32_t)st->tokens[b] >= hp->n_vocab)
			return DUET_ERR(DUET_E_INVAL, "token id %d is outside the "
					"vocabulary (0..%u)", st->tokens[b],
					hp->n_vocab - 1);
	return DUET_OK;
}

/* Writes the step's uniform block, indirect counts and embeddings. */
static duet_status write_inputs(duet_vk_exec *x, vk_plan *p, const duet_step *st)
{
	const duet_model_desc *m = x->m;
	struct duet_step_ubo *u = p->step.map;
	*u = (struct duet_step_ubo){ st->n_tokens, st->pos0, st->n_tokens - 1, 0 };
	duet_vkr_write_recipes(p, st->n_tokens, m->hp.n_head);
	if (x->paged.tpp) {
		uint64_t cap = p->pages.bytes / 4;
		if (!x->page_ids || x->n_page_ids > cap)
			return DUET_ERR(DUET_E_INVAL, "a paged step needs its page table "
					"(%u ids for room of %llu)", x->n_page_ids,
					(unsigned long long)cap);
		/* one chunk (every pool a binding reaches whole): the ids are
		 * the entries already */
		uint32_t *pt = p->pages.map, per = x->paged.per_chunk;
		if (x->paged.n_chunks == 1)
			memcpy(pt, x->page_ids, x->n_page_ids * sizeof *pt);
		else
			for (uint32_t i = 0; i < x->n_page_ids; i++)
				pt[i] = x->page_ids[i] / per << 24 | x->page_ids[i] % per;
	}
	float *in = p->x.map ? p->x.map : p->in.map;
	const duet_weight *e = &m->tok_embd;
	for (uint32_t t = 0; t < st->n_tokens; t++)
		duet_dequantize_row((duet_type)e->type,
				    (const uint8_t *)e->data +
					    (uint64_t)st->tokens[t] * e->row_bytes,
				    in + (uint64_t)t * m->hp.n_embd, m->hp.n_embd);
	return DUET_OK;
}

/* Runs a plan whose streamed layers wait at gates: while the device works
 * through the layers before it, each streamed layer is read (runtime/
 * weights), repacked into its slot once the device is done with the
 * slot's previous layer, and its gate opened. On an error every gate
 * still opens (the device must finish) and the step's results are void. */
static duet_status run_streamed(duet_vk_exec *x, vk_plan *p)
{
	duet_vk_weights *w = x->w;
	uint32_t n = duet_vk_seq_gates(p->seq);
	if (n != x->m->hp.n_layer - w->first_streamed)
		return DUET_ERR(DUET_E_INVAL, "%u gates for %u streamed layers", n,
				x->m->hp.n_layer - w->first_streamed);
	duet_status s = duet_vk_seq_submit(p->seq);
	if (s != DUET_OK)
		return s;
	for (uint32_t g = 0; g < n && s == DUET_OK; g++) {
		uint32_t il = w->first_streamed + g;
		vk_slot *sl = &w->slots[g % w->n_slots];
		if (sl->held != (int)il) {
			/* earlier in this step, the slot served layer il - n_slots */
			if (g >= w->n_slots)
				s = duet_vk_seq_wait_gate(p->seq, g - w->n_slots);
			sl->held = -1;
			if (s == DUET_OK)
				s = duet_weights_enter(w->stream, il);
			if (s == DUET_OK)
				s = duet_vk_weights_fill(w, il);
			duet_weights_leave(w->stream, il);
			if (s == DUET_OK)
				sl->held = (int)il;
		}
		if (s == DUET_OK)
			s = duet_vk_seq_open_gate(p->seq, g);
	}
	duet_status done = duet_vk_seq_wait(p->seq);
	return s != DUET_OK ? s : done;
}

duet_status duet_vk_exec_run(duet_vk_exec *x, const duet_graph *g,
			     const duet_step *st, const float **logits,
			     const int32_t **ids)
{
	vk_plan *p = NULL;
	duet_status s = check_step(x, g, st);
	if (s == DUET_OK)
		s = get_plan(x, g, &p);
	if (s == DUET_OK)
		s = write_inputs(x, p, st);
	if (s == DUET_OK)
		s = x->w->stream ? run_streamed(x, p) : duet_vk_seq_run(p->seq);
	if (s != DUET_OK)
		return s;
	x->last = p;
	if (logits)
		*logits = p->logits.map;
	if (ids)
		*ids = p->ids.map;
	return DUET_OK;
}

void duet_vk_exec_set_pages(duet_vk_exec *x, const uint32_t *ids, uint32_t n)
{
	x->page_ids = ids;
	x->n_page_ids = n;
}

uint32_t duet_vk_exec_timings(duet_vk_exec *x, duet_vk_timing *out, uint32_t cap)
{
	return x->last ? duet_vk_seq_timings(x->last->seq, out, cap) : 0;
}
