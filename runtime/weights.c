/* Weight residency and streaming under a memory budget (see weights.h). */
#include "weights.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "error.h"

#define N_MAT DUET_LAYER_MATRICES
#define ALIGN 4096u

typedef struct lspan {
	uint64_t a0, a1;       /* aligned file range read into a slot */
	uint64_t off[N_MAT];   /* file offset of each matrix (0: absent) */
} lspan;

typedef struct slot {
	uint8_t *mem;
	int layer;       /* streamed layer it holds or is reading, -1: none */
	uint64_t ticket; /* pending read, 0: none */
	bool ok;         /* holds `layer` completely */
} slot;

struct duet_weights {
	duet_model_desc *desc;
	const duet_gguf *g;
	duet_io *io;
	lspan *spans;
	uint32_t first_streamed; /* layers from it on stream */
	uint32_t n_streamed, n_slots;
	slot *slots;
	uint32_t next_read; /* the next layer to read ahead, among the streamed */
	uint32_t victim;    /* round robin for reads out of order */
	duet_weights_info info;
};

bool duet_weights_parse_budget(const char *s, uint64_t *bytes, uint32_t *pct)
{
	if (!s || !isdigit((unsigned char)s[0]))
		return false;
	char *end;
	double v = strtod(s, &end);
	if (*end == '%') {
		if (end[1] || v != (double)(uint32_t)v || v < 1 || v > 100)
			return false;
		*pct = (uint32_t)v;
		*bytes = 0;
		return true;
	}
	double unit = 1;
	switch (*end) {
	case 0: break;
	case 'k': case 'K': unit = 1024.0; end++; break;
	case 'm': case 'M': unit = 1048576.0; end++; break;
	case 'g': case 'G': unit = 1073741824.0; end++; break;
	default: return false;
	}
	if (*end == 'i' && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	v *= unit;
	if (*end || !(v >= 1.0) || v > 1.8e19)
		return false;
	*bytes = (uint64_t)v;
	*pct = 0;
	return true;
}

/* Queues the read of streamed layer il into slot s. */
static duet_status start_read(duet_weights *w, slot *s, uint32_t il)
{
	const lspan *sp = &w->spans[il];
	duet_io_req r = { s->mem, sp->a0, sp->a1 - sp->a0 };
	s->layer = (int)il;
	s->ok = false;
	s->ticket = 0;
	return duet_io_submit(w->io, &r, 1, &s->ticket);
}

static void point_at(duet_weights *w, uint32_t il, const uint8_t *base)
{
	duet_weight *ms[N_MAT] = DUET_LAYER_MATRIX_LIST(&w->desc->layers[il]);
	const lspan *sp = &w->spans[il];
	for (int k = 0; k < N_MAT; k++)
		if (ms[k]->name)
			ms[k]->data = base ? base + (sp->off[k] - sp->a0)
					   : w->g->base + sp->off[k];
}

duet_status duet_weights_create(duet_model_desc *desc, const duet_gguf *g,
				const char *path, const duet_weights_opts *o,
				duet_weights **out)
{
	*out = NULL;
	duet_weights_opts opt = { 0 };
	if (o)
		opt = *o;
	if (!opt.depth)
		opt.depth = 2;
	uint32_t L = desc->hp.n_layer;
	duet_weights *w = calloc(1, sizeof *w);
	if (!w || !(w->spans = calloc(L ? L : 1, sizeof *w->spans))) {
		duet_weights_destroy(w);
		return DUET_ERR(DUET_E_NOMEM, "weights plan for %u layers", L);
	}
	w->desc = desc;
	w->g = g;
	w->info.io_reason = "";
	/* token embeddings are read a row per token through the file's map, so
	 * only a tied output head (the same matrix, read whole) pins them */
	uint64_t pinned = desc->tied_output ? duet_weight_bytes(&desc->tok_embd)
					    : duet_weight_bytes(&desc->output);
	uint64_t total = pinned, max_span = 0;
	for (uint32_t il = 0; il < L; il++) {
		lspan *sp = &w->spans[il];
		uint64_t lo = UINT64_MAX, hi = 0;
		const duet_weight *ms[N_MAT] = DUET_LAYER_MATRIX_LIST(&desc->layers[il]);
		for (int k = 0; k < N_MAT; k++) {
			const duet_weight *m = ms[k];
			if (!m->name)
				continue;
			sp->off[k] = (uint64_t)((const uint8_t *)m->data - g->base);
			lo = sp->off[k] < lo ? sp->off[k] : lo;
			hi = sp->off[k] + duet_weight_bytes(m) > hi ? sp->off[k] + duet_weight_bytes(m) : hi;
		}
		total += duet_layer_bytes(&desc->layers[il]);
		sp->a0 = lo == UINT64_MAX ? 0 : lo / ALIGN * ALIGN;
		sp->a1 = (hi + ALIGN - 1) / ALIGN * ALIGN;
		max_span = sp->a1 - sp->a0 > max_span ? sp->a1 - sp->a0 : max_span;
	}
	if (opt.budget == 0 && opt.budget_pct) {
		if (opt.budget_pct > 100) {
			duet_weights_destroy(w);
			return DUET_ERR(DUET_E_INVAL, "memory budget of %u%%: give 1..100",
					opt.budget_pct);
		}
		opt.budget = total / 100 * opt.budget_pct + total % 100 * opt.budget_pct / 100;
	}
	w->info.budget = opt.budget;
	w->info.model_bytes = total;
	w->info.pinned_bytes = pinned;
	w->info.resident_bytes = total;
	w->info.n_resident_layers = L;
	if (opt.budget == 0 || opt.budget >= total || L == 0) {
		*out = w;
		return DUET_OK;
	}
	/* the ring first (it must exist once anything streams), then whole
	 * layers in order while they fit */
	uint32_t n_slots = opt.depth + 1 < L ? opt.depth + 1 : L;
	uint64_t slot_bytes = max_span + opt.slot_extra;
	while (n_slots > 1 && pinned + (uint64_t)n_slots * slot_bytes > opt.budget)
		n_slots--; /* read ahead less rather than fail */
	uint64_t ring = (uint64_t)n_slots * slot_bytes, used = pinned + ring;
	if (used > opt.budget) {
		duet_weights_destroy(w);
		return DUET_ERR(DUET_E_INVAL, "a memory budget of %llu bytes cannot "
				"hold the output head (%llu) and %u staging slot%s "
				"of %llu: at least %llu bytes",
				(unsigned long long)opt.budget, (unsigned long long)pinned,
				n_slots, n_slots > 1 ? "s" : "", (unsigned long long)slot_bytes,
				(unsigned long long)used);
	}
	uint32_t n_res = 0;
	for (; n_res < L; n_res++) {
		uint64_t lb = duet_layer_bytes(&desc->layers[n_res]);
		if (used + lb > opt.budget)
			break;
		used += lb;
	}
	w->info.n_resident_layers = n_res;
	w->info.resident_bytes = used - ring;
	w->n_streamed = L - n_res;
	w->first_streamed = n_res;
	if (w->n_streamed == 0) { /* the ring was not needed after all */
		w->info.resident_bytes = total;
		*out = w;
		return DUET_OK;
	}
	for (uint32_t il = n_res; il < L; il++)
		w->info.streamed_bytes_per_pass += w->spans[il].a1 - w->spans[il].a0;
	w->n_slots = n_slots < w->n_streamed ? n_slots : w->n_streamed;
	w->info.n_streamed_layers = w->n_streamed;
	w->info.n_slots = w->n_slots;
	w->info.ring_bytes = (uint64_t)w->n_slots * slot_bytes;
	duet_io_opts io = { .kind = opt.io, .direct = !opt.buffered,
			    .fault = opt.fault, .fault_at = opt.fault_at };
	duet_status s = duet_io_open(path, &io, &w->io);
	if (s == DUET_OK)
		w->info.io_reason = duet_io_reason(w->io);
	if (s == DUET_OK && !(w->slots = calloc(w->n_slots, sizeof *w->slots)))
		s = DUET_ERR(DUET_E_NOMEM, "weights: %u slots", w->n_slots);
	for (uint32_t i = 0; s == DUET_OK && i < w->n_slots; i++) {
		void *p = NULL;
		w->slots[i].layer = -1;
		if (posix_memalign(&p, ALIGN, max_span) != 0)
			s = DUET_ERR(DUET_E_NOMEM, "weights: a staging slot of %llu bytes",
				     (unsigned long long)max_span);
		w->slots[i].mem = p;
	}
	if (s == DUET_OK) {
		void *bufs[64];
		size_t lens[64];
		uint32_t nb = w->n_slots < 64 ? w->n_slots : 64;
		for (uint32_t i = 0; i < nb; i++)
			bufs[i] = w->slots[i].mem, lens[i] = max_span;
		s = duet_io_register(w->io, bufs, lens, nb);
	}
	for (uint32_t i = 0; s == DUET_OK && i < w->n_slots; i++)
		s = start_read(w, &w->slots[i], n_res + i);
	w->next_read = w->n_slots % w->n_streamed;
	if (s != DUET_OK) {
		duet_weights_destroy(w);
		return s;
	}
	*out = w;
	return DUET_OK;
}

void duet_weights_destroy(duet_weights *w)
{
	if (!w)
		return;
	for (uint32_t i = 0; w->slots && i < w->n_slots; i++)
		if (w->slots[i].ticket)
			duet_io_wait(w->io, w->slots[i].ticket);
	duet_io_close(w->io);
	for (uint32_t il = w->first_streamed; w->n_streamed && il < w->desc->hp.n_layer; il++)
		point_at(w, il, NULL);
	for (uint32_t i = 0; w->slots && i < w->n_slots; i++)
		free(w->slots[i].mem);
	free(w->slots);
	free(w->spans);
	free(w);
}

int duet_weights_layer_of(const duet_weights *w, const duet_weight *wt)
{
	const duet_layer *l = w->desc->layers;
	const char *p = (const char *)wt, *b = (const char *)l;
	if (!l || p < b || p >= b + sizeof *l * w->desc->hp.n_layer)
		return -1;
	return (int)((size_t)(p - b) / sizeof *l);
}

bool duet_weights_streaming(const duet_weights *w)
{
	return w && w->n_streamed > 0;
}

static bool streamed(const duet_weights *w, uint32_t il)
{
	return duet_weights_streaming(w) && il >= w->first_streamed &&
	       il < w->desc->hp.n_layer;
}

static slot *holding(duet_weights *w, uint32_t il)
{
	for (uint32_t i = 0; i < w->n_slots; i++)
		if (w->slots[i].layer == (int)il)
			return &w->slots[i];
	return NULL;
}

duet_status duet_weights_enter(duet_weights *w, uint32_t il)
{
	if (!streamed(w, il))
		return DUET_OK;
	double t0 = duet_now_s();
	duet_status st = DUET_OK;
	slot *s = holding(w, il);
	if (!s || (!s->ok && !s->ticket)) {
		/* out of order, or an earlier read failed: read it now */
		if (!s) {
			s = &w->slots[w->victim++ % w->n_slots];
			if (s->ticket)
				duet_io_wait(w->io, s->ticket);
		}
		st = start_read(w, s, il);
	}
	if (st == DUET_OK && s->ticket) {
		uint64_t t = s->ticket;
		s->ticket = 0;
		st = duet_io_wait(w->io, t);
		s->ok = st == DUET_OK;
		if (s->ok)
			w->info.bytes_read += w->spans[il].a1 - w->spans[il].a0;
	}
	w->info.wait_s += duet_now_s() - t0;
	if (st != DUET_OK) {
		s->ok = false;
		s->ticket = 0;
		return duet_error_wrap(st, "streaming layer %u", il);
	}
	point_at(w, il, s->mem);
	return DUET_OK;
}

void duet_weights_leave(duet_weights *w, uint32_t il)
{
	if (!streamed(w, il) || w->n_slots >= w->n_streamed)
		return; /* every streamed layer has its own slot: keep it */
	slot *s = holding(w, il);
	if (!s || s->ticket)
		return;
	/* the next layer in cyclic order that no slot holds yet; a failed
	 * submit leaves the slot empty and enter() reads it then */
	for (uint32_t k = 0; k < w->n_streamed; k++) {
		uint32_t next = w->first_streamed + w->next_read;
		w->next_read = (w->next_read + 1) % w->n_streamed;
		if (holding(w, next))
			continue;
		if (start_read(w, s, next) != DUET_OK) {
			s->layer = -1;
			s->ticket = 0;
		}
		return;
	}
}

void duet_weights_get_info(duet_weights *w, duet_weights_info *info)
{
	*info = w->info;
	if (w->io) {
		duet_io_stats st;
		duet_io_get_stats(w->io, &st);
		info->read_busy_s = st.busy_s;
		info->read_cpu_s = st.cpu_s;
	}
}
