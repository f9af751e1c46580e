/* The KV-cache arbiter (see kv_pool.h). */
#include "kv_pool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "error.h"

#define MAX_MODELS 16

typedef struct kv_model {
	duet_kv_model m;
	uint64_t token_bytes;
	uint32_t row_bytes; /* one position of one layer's K or V */
	uint32_t tpp;       /* positions per page */
	uint32_t streams;   /* pages per block: layers x (K, V) */
} kv_model;

struct duet_kv_seq {
	duet_kv_pool *pool;
	uint32_t model;
	duet_kv_prio prio;
	uint32_t streams;    /* pages per block (of its model) */
	uint32_t tpp, row_bytes; /* of its model */
	uint32_t min_pages;  /* guaranteed, whole blocks */
	/* blocks of tpp positions, resident ones first: block b's page of
	 * layer il, K (0) or V (1) is pages[b * streams + 2 il + which] */
	uint32_t *pages;
	uint8_t **ptrs;      /* their addresses (NULL entries: virtual pool) */
	uint32_t n_pages, cap; /* in pages, whole blocks */
	uint32_t n_tokens;   /* leading positions that hold K/V */
	uint8_t *swap;       /* [n_swapped][page_bytes]: the pages after n_pages */
	uint32_t n_swapped;
	uint32_t pins;
	uint64_t last_use;
	struct duet_kv_seq *next, *prev;
};

struct duet_kv_pool {
	pthread_mutex_t mu;
	bool mu_ready;
	uint32_t page_bytes, n_pages;
	uint8_t *mem;        /* host pools: [n_pages][page_bytes]; NULL when
			      * virtual or on a device */
	uint8_t *maps[DUET_KV_MAX_CHUNKS]; /* chunk c: pages from c x per_chunk */
	uint32_t per_chunk, n_chunks;
	duet_device *dev;    /* pages in its memory (vk), or NULL */
	void *vk;            /* kv_pool_vk.c's allocation */
	uint32_t *ref;       /* [n_pages] sequences holding each page */
	uint32_t *free_ids;  /* stack of free pages */
	uint32_t n_free;
	uint32_t *fill;      /* [n_pages] scratch of stats */
	uint64_t swap_cap, swap_used;
	double swap_gbps;
	kv_model models[MAX_MODELS];
	uint32_t n_models;
	duet_kv_seq *seqs;
	uint32_t n_seqs;
	uint64_t min_total;  /* sum of the guarantees, in pages */
	uint64_t tick;
	duet_kv_stats st;    /* counters */
};

duet_status duet_kv_pool_create(const duet_kv_pool_opts *o, duet_kv_pool **out)
{
	*out = NULL;
	uint32_t pb = o->page_bytes ? o->page_bytes : DUET_KV_PAGE_DEFAULT;
	if (pb % 64)
		return DUET_ERR(DUET_E_INVAL, "KV page of %u bytes: give a multiple "
				"of 64", pb);
	uint64_t n = o->pool_bytes / pb;
	if (n == 0 || n > UINT32_MAX / 2)
		return DUET_ERR(DUET_E_INVAL, "a KV pool of %llu bytes in pages of "
				"%u bytes has %llu pages", (unsigned long long)o->pool_bytes,
				pb, (unsigned long long)n);
	duet_kv_pool *p = calloc(1, sizeof *p);
	if (!p)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	p->page_bytes = pb;
	p->n_pages = (uint32_t)n;
	p->swap_cap = o->swap_bytes ? o->swap_bytes : (uint64_t)n * pb;
	p->swap_gbps = o->swap_gbps > 0 ? o->swap_gbps : 8.0;
	p->ref = calloc(n, sizeof *p->ref);
	p->free_ids = malloc(n * sizeof *p->free_ids);
	p->fill = malloc(n * sizeof *p->fill);
	if (!o->virtual_pages && !o->device)
		p->mem = calloc(n, pb);
	if (!p->ref || !p->free_ids || !p->fill ||
	    (!o->virtual_pages && !o->device && !p->mem)) {
		duet_kv_pool_destroy(p);
		return DUET_ERR(DUET_E_NOMEM, "a KV pool of %llu MiB",
				(unsigned long long)(n * pb >> 20));
	}
	p->n_chunks = p->mem ? 1 : 0;
	p->per_chunk = (uint32_t)n;
	p->maps[0] = p->mem;
	if (o->device && !o->virtual_pages) {
		duet_status s = duet_kv_pool_vk_alloc(o->device, pb, (uint32_t)n, &p->vk,
						      p->maps, &p->n_chunks, &p->per_chunk);
		if (s != DUET_OK) {
			duet_kv_pool_destroy(p);
			return s;
		}
		p->dev = o->device;
		for (uint32_t c = 0; c < p->n_chunks; c++) {
			uint64_t pages = n - (uint64_t)c * p->per_chunk;
			memset(p->maps[c], 0, (pages < p->per_chunk ? pages : p->per_chunk) * pb);
		}
	}
	for (uint32_t i = 0; i < n; i++) /* page 0 on top */
		p->free_ids[i] = (uint32_t)n - 1 - i;
	p->n_free = (uint32_t)n;
	pthread_mutex_init(&p->mu, NULL);
	p->mu_ready = true;
	*out = p;
	return DUET_OK;
}

void duet_kv_pool_destroy(duet_kv_pool *p)
{
	if (!p)
		return;
	if (p->mu_ready)
		pthread_mutex_destroy(&p->mu);
	if (p->vk)
		duet_kv_pool_vk_free(p->vk);
	else
		free(p->mem);
	free(p->ref);
	free(p->free_ids);
	free(p->fill);
	free(p);
}

duet_status duet_kv_pool_add_model(duet_kv_pool *p, const duet_kv_model *m,
				   uint32_t *id)
{
	uint64_t rb = m->row_bytes;
	if (!rb || !m->n_layer)
		return DUET_ERR(DUET_E_INVAL, "a KV model of zero size");
	if (rb > p->page_bytes)
		return DUET_ERR(DUET_E_INVAL, "a K or V row of this model takes %llu "
				"bytes, more than a KV page of %u: pages of at "
				"least %llu bytes", (unsigned long long)rb,
				p->page_bytes, (unsigned long long)rb);
	pthread_mutex_lock(&p->mu);
	duet_status s = DUET_OK;
	for (uint32_t i = 0; i < p->n_models; i++) {
		const duet_kv_model *o = &p->models[i].m;
		if (o->n_layer == m->n_layer && o->n_embd_kv == m->n_embd_kv &&
		    o->row_bytes == m->row_bytes) {
			*id = i;
			pthread_mutex_unlock(&p->mu);
			return DUET_OK;
		}
	}
	if (p->n_models == MAX_MODELS) {
		s = DUET_ERR(DUET_E_RANGE, "a KV pool serves at most %d models",
			     MAX_MODELS);
	} else {
		kv_model *k = &p->models[p->n_models];
		k->m = *m;
		if (k->m.recompute_tps <= 0)
			k->m.recompute_tps = 1000;
		k->row_bytes = (uint32_t)rb;
		k->streams = 2 * m->n_layer;
		k->token_bytes = rb * k->streams;
		k->tpp = (uint32_t)(p->page_bytes / rb);
		*id = p->n_models++;
	}
	pthread_mutex_unlock(&p->mu);
	return s;
}

uint32_t duet_kv_pool_tokens_per_page(duet_kv_pool *p, uint32_t id)
{
	pthread_mutex_lock(&p->mu);
	uint32_t n = id < p->n_models ? p->models[id].tpp : 0;
	pthread_mutex_unlock(&p->mu);
	return n;
}

uint64_t duet_kv_pool_token_bytes(duet_kv_pool *p, uint32_t id)
{
	pthread_mutex_lock(&p->mu);
	uint64_t n = id < p->n_models ? p->models[id].token_bytes : 0;
	pthread_mutex_unlock(&p->mu);
	return n;
}

/* ---- pages (under the lock) ------------------------------------------------- */

static uint8_t *page_addr(const duet_kv_pool *p, uint32_t page)
{
	return p->n_chunks ? p->maps[page / p->per_chunk] +
				     (uint64_t)(page % p->per_chunk) * p->page_bytes
			   : NULL;
}

static void page_put(duet_kv_pool *p, uint32_t page)
{
	if (--p->ref[page] == 0)
		p->free_ids[p->n_free++] = page;
}

static bool reserve_table(duet_kv_seq *s, uint32_t n)
{
	if (n <= s->cap)
		return true;
	uint32_t cap = s->cap ? s->cap : 16;
	while (cap < n)
		cap *= 2;
	uint32_t *pg = realloc(s->pages, cap * sizeof *pg);
	if (pg)
		s->pages = pg;
	uint8_t **pt = pg ? realloc(s->ptrs, cap * sizeof *pt) : NULL;
	if (pt)
		s->ptrs = pt;
	if (!pg || !pt)
		return false;
	s->cap = cap;
	return true;
}

/* Appends a free page to s (the caller checked one is there). */
static void push_page(duet_kv_pool *p, duet_kv_seq *s)
{
	uint32_t page = p->free_ids[--p->n_free];
	p->ref[page] = 1;
	s->pages[s->n_pages] = page;
	s->ptrs[s->n_pages++] = page_addr(p, page);
}

/* Pages other sequences are guaranteed but do not hold yet. */
static uint64_t owed_to_others(const duet_kv_pool *p, const duet_kv_seq *s)
{
	uint64_t owed = 0;
	for (const duet_kv_seq *t = p->seqs; t; t = t->next)
		if (t != s && t->min_pages > t->n_pages + t->n_swapped)
			owed += t->min_pages - t->n_pages - t->n_swapped;
	return owed;
}

/* Trailing pages of v that preemption may take (whole blocks): past its
 * guarantee, held by v alone. */
static uint32_t evictable(const duet_kv_pool *p, const duet_kv_seq *v)
{
	uint32_t k = 0, n = v->streams;
	while (k < v->n_pages && v->n_pages - k > v->min_pages) {
		for (uint32_t i = 1; i <= n; i++)
			if (p->ref[v->pages[v->n_pages - k - i]] != 1)
				return k;
		k += n;
	}
	return k;
}

/* Takes v's k evictable tail pages: copies them (and what v had swapped
 * already) to host memory when that is cheaper than recomputing their
 * positions and fits the swap budget, else drops them and every position
 * from the first of them on. */
static void evict(duet_kv_pool *p, duet_kv_seq *v, uint32_t k)
{
	const kv_model *km = &p->models[v->model];
	uint32_t first = v->n_pages - k;
	uint64_t pos0 = (uint64_t)(first / v->streams) * km->tpp;
	uint64_t tokens = v->n_tokens > pos0 ? v->n_tokens - pos0 : 0;
	uint64_t bytes = (uint64_t)k * p->page_bytes;
	double swap_s = 2.0 * (double)bytes / (p->swap_gbps * 1e9);
	double recompute_s = (double)tokens / km->m.recompute_tps;
	uint8_t *buf = NULL;
	bool swap = tokens > 0 && swap_s < recompute_s &&
		    p->swap_used + bytes <= p->swap_cap;
	if (swap && p->n_chunks) {
		uint64_t old = (uint64_t)v->n_swapped * p->page_bytes;
		buf = malloc(bytes + old);
		swap = buf != NULL;
		if (swap) {
			for (uint32_t i = 0; i < k; i++)
				memcpy(buf + (uint64_t)i * p->page_bytes,
				       v->ptrs[first + i], p->page_bytes);
			if (old)
				memcpy(buf + bytes, v->swap, old);
		}
	}
	p->st.preemptions++;
	for (uint32_t i = first; i < v->n_pages; i++)
		page_put(p, v->pages[i]);
	v->n_pages = first;
	if (swap) {
		free(v->swap);
		v->swap = buf;
		v->n_swapped += k;
		p->swap_used += bytes;
		p->st.swaps += k;
		return;
	}
	/* dropped: the positions from pos0 on, swapped ones included */
	free(v->swap);
	v->swap = NULL;
	p->swap_used -= (uint64_t)v->n_swapped * p->page_bytes;
	v->n_swapped = 0;
	if (tokens) {
		p->st.recomputes++;
		p->st.recompute_tokens += v->n_tokens - pos0;
		v->n_tokens = (uint32_t)pos0;
	}
}

/* The sequence preemption would cut next for s: lower priority, not in a
 * step, with pages to take; lowest priority, then least recently used. */
static duet_kv_seq *victim(duet_kv_pool *p, const duet_kv_seq *s, uint32_t *k)
{
	duet_kv_seq *best = NULL;
	for (duet_kv_seq *t = p->seqs; t; t = t->next) {
		if (t == s || t->pins || t->prio >= s->prio)
			continue;
		uint32_t e = evictable(p, t);
		if (!e)
			continue;
		if (!best || t->prio < best->prio ||
		    (t->prio == best->prio && t->last_use < best->last_use)) {
			best = t;
			*k = e;
		}
	}
	return best;
}

/* Makes `need` pages available to s (free and not owed to another's
 * guarantee), preempting as the policy allows; `grow` of them add to what
 * s holds or has swapped (the rest replace pages it has). */
static duet_status make_room(duet_kv_pool *p, duet_kv_seq *s, uint32_t need,
			     uint32_t grow)
{
	uint64_t others_min = p->min_total - s->min_pages;
	if ((uint64_t)s->n_pages + s->n_swapped + grow > p->n_pages - others_min) {
		p->st.refused++;
		return DUET_ERR(DUET_E_NOMEM, "a sequence of %u KV pages cannot "
				"grow by %u in a pool of %u pages of which others "
				"are guaranteed %llu", s->n_pages + s->n_swapped, grow,
				p->n_pages, (unsigned long long)others_min);
	}
	for (;;) {
		uint64_t owed = owed_to_others(p, s);
		if (p->n_free >= owed && p->n_free - owed >= need)
			return DUET_OK;
		uint32_t k = 0;
		duet_kv_seq *v = victim(p, s, &k);
		if (!v) {
			p->st.refused++;
			return DUET_ERR(DUET_E_AGAIN, "KV pool: %u pages free, %llu "
					"owed to guarantees, %u needed; the rest "
					"is held by sequences of equal or higher "
					"priority or in use", p->n_free,
					(unsigned long long)owed, need);
		}
		evict(p, v, k);
	}
}

static void release_from(duet_kv_pool *p, duet_kv_seq *s, uint32_t keep_pages)
{
	while (s->n_pages > keep_pages)
		page_put(p, s->pages[--s->n_pages]);
}

/* ---- sequences ------------------------------------------------------------------ */

duet_status duet_kv_seq_open(duet_kv_pool *p, uint32_t model, duet_kv_prio prio,
			     uint32_t min_tokens, duet_kv_seq **out)
{
	*out = NULL;
	duet_kv_seq *s = calloc(1, sizeof *s);
	if (!s)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	pthread_mutex_lock(&p->mu);
	duet_status st = DUET_OK;
	uint64_t min_pages = 0;
	if (model >= p->n_models || prio > DUET_KV_INTERACTIVE) {
		st = DUET_ERR(DUET_E_INVAL, "KV sequence of model %u, priority %d",
			      model, (int)prio);
	} else {
		const kv_model *km = &p->models[model];
		min_pages = ((uint64_t)min_tokens + km->tpp - 1) / km->tpp * km->streams;
		s->pool = p;
		s->model = model;
		s->prio = prio;
		s->streams = km->streams;
		s->tpp = km->tpp;
		s->row_bytes = km->row_bytes;
		s->min_pages = min_pages > p->n_pages ? p->n_pages : (uint32_t)min_pages;
	}
	if (st == DUET_OK && p->min_total + min_pages > p->n_pages) {
		p->st.refused++;
		st = DUET_ERR(DUET_E_NOMEM, "a guarantee of %llu KV pages does not fit "
			      "beside %llu guaranteed in a pool of %u",
			      (unsigned long long)min_pages,
			      (unsigned long long)p->min_total, p->n_pages);
	} else if (st == DUET_OK) {
		p->min_total += min_pages;
		s->next = p->seqs;
		if (p->seqs)
			p->seqs->prev = s;
		p->seqs = s;
		p->n_seqs++;
	}
	pthread_mutex_unlock(&p->mu);
	if (st != DUET_OK) {
		free(s);
		return st;
	}
	*out = s;
	return DUET_OK;
}

void duet_kv_seq_close(duet_kv_seq *s)
{
	if (!s)
		return;
	duet_kv_pool *p = s->pool;
	pthread_mutex_lock(&p->mu);
	release_from(p, s, 0);
	p->swap_used -= (uint64_t)s->n_swapped * p->page_bytes;
	p->min_total -= s->min_pages;
	if (s->prev)
		s->prev->next = s->next;
	else
		p->seqs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	p->n_seqs--;
	pthread_mutex_unlock(&p->mu);
	free(s->swap);
	free(s->pages);
	free(s->ptrs);
	free(s);
}

duet_status duet_kv_seq_share(duet_kv_seq *s, duet_kv_seq *src, uint32_t n_tokens)
{
	duet_kv_pool *p = s->pool;
	if (src->pool != p || src->model != s->model || s == src)
		return DUET_ERR(DUET_E_INVAL, "sharing KV between sequences of "
				"different models or pools");
	pthread_mutex_lock(&p->mu);
	duet_status st = DUET_OK;
	uint32_t tpp = p->models[s->model].tpp;
	if (n_tokens > src->n_tokens)
		n_tokens = src->n_tokens;
	uint32_t n = (n_tokens + tpp - 1) / tpp * s->streams;
	if (s->n_pages || s->n_swapped || s->n_tokens)
		st = DUET_ERR(DUET_E_INVAL, "sharing into a KV sequence that is "
			      "not empty");
	else if (n > src->n_pages)
		st = DUET_ERR(DUET_E_AGAIN, "the shared prefix is swapped out");
	else if (!reserve_table(s, n))
		st = DUET_ERR(DUET_E_NOMEM, "out of memory");
	for (uint32_t i = 0; st == DUET_OK && i < n; i++) {
		s->pages[i] = src->pages[i];
		s->ptrs[i] = src->ptrs[i];
		p->ref[src->pages[i]]++;
	}
	if (st == DUET_OK) {
		s->n_pages = n;
		s->n_tokens = n_tokens;
		s->last_use = ++p->tick;
	}
	pthread_mutex_unlock(&p->mu);
	return st;
}

/* Brings back s's swapped pages. */
static duet_status swap_in(duet_kv_pool *p, duet_kv_seq *s)
{
	duet_status st = make_room(p, s, s->n_swapped, 0);
	if (st == DUET_OK && !reserve_table(s, s->n_pages + s->n_swapped))
		st = DUET_ERR(DUET_E_NOMEM, "out of memory");
	if (st != DUET_OK)
		return st;
	for (uint32_t i = 0; i < s->n_swapped; i++) {
		push_page(p, s);
		if (p->n_chunks)
			memcpy(s->ptrs[s->n_pages - 1], s->swap + (uint64_t)i * p->page_bytes,
			       p->page_bytes);
	}
	p->st.swap_ins += s->n_swapped;
	p->swap_used -= (uint64_t)s->n_swapped * p->page_bytes;
	free(s->swap);
	s->swap = NULL;
	s->n_swapped = 0;
	return DUET_OK;
}

/* Gives s its own copy of every shared page among pages [a, b). */
static duet_status unshare(duet_kv_pool *p, duet_kv_seq *s, uint32_t a, uint32_t b)
{
	for (uint32_t i = a; i < b && i < s->n_pages; i++) {
		if (p->ref[s->pages[i]] == 1)
			continue;
		duet_status st = make_room(p, s, 1, 0);
		if (st != DUET_OK)
			return st;
		uint32_t page = p->free_ids[--p->n_free];
		p->ref[page] = 1;
		if (p->n_chunks)
			memcpy(page_addr(p, page), s->ptrs[i], p->page_bytes);
		page_put(p, s->pages[i]);
		s->pages[i] = page;
		s->ptrs[i] = page_addr(p, page);
		p->st.cow_copies++;
	}
	return DUET_OK;
}

duet_status duet_kv_seq_begin(duet_kv_seq *s, uint32_t pos0, uint32_t n,
			      uint32_t *valid)
{
	duet_kv_pool *p = s->pool;
	double t0 = duet_now_s();
	pthread_mutex_lock(&p->mu);
	duet_status st = DUET_OK;
	uint32_t tpp = p->models[s->model].tpp;
	*valid = s->n_tokens;
	if (s->pins) {
		st = DUET_ERR(DUET_E_INVAL, "a KV sequence in a step already");
		goto out;
	}
	if (pos0 > s->n_tokens)
		goto out; /* dropped: the caller recomputes from *valid */
	if ((uint64_t)pos0 + n > UINT32_MAX - tpp) {
		st = DUET_ERR(DUET_E_INVAL, "KV positions past 2^32");
		goto out;
	}
	s->pins = 1; /* not a victim while this request makes room */
	if (s->n_swapped)
		st = swap_in(p, s);
	uint32_t want = (pos0 + n + tpp - 1) / tpp * s->streams;
	if (st == DUET_OK && want > s->n_pages) {
		st = make_room(p, s, want - s->n_pages, want - s->n_pages);
		if (st == DUET_OK && !reserve_table(s, want))
			st = DUET_ERR(DUET_E_NOMEM, "out of memory");
		while (st == DUET_OK && s->n_pages < want)
			push_page(p, s);
	}
	if (st == DUET_OK && n)
		st = unshare(p, s, pos0 / tpp * s->streams, want);
	if (st != DUET_OK)
		s->pins = 0;
	else
		s->n_tokens = pos0; /* what follows is rewritten */
	s->last_use = ++p->tick;
out:
	p->st.lock_s += duet_now_s() - t0;
	pthread_mutex_unlock(&p->mu);
	return st;
}

void duet_kv_seq_end(duet_kv_seq *s, uint32_t n_valid)
{
	duet_kv_pool *p = s->pool;
	pthread_mutex_lock(&p->mu);
	uint32_t cap = s->n_pages / s->streams * p->models[s->model].tpp;
	s->n_tokens = n_valid < cap ? n_valid : cap;
	s->pins = 0;
	s->last_use = ++p->tick;
	pthread_mutex_unlock(&p->mu);
}

void duet_kv_seq_truncate(duet_kv_seq *s, uint32_t n_tokens)
{
	duet_kv_pool *p = s->pool;
	pthread_mutex_lock(&p->mu);
	uint32_t tpp = p->models[s->model].tpp;
	if (n_tokens < s->n_tokens)
		s->n_tokens = n_tokens;
	uint32_t keep = (s->n_tokens + tpp - 1) / tpp * s->streams;
	if (keep < s->n_pages + s->n_swapped && s->n_swapped) {
		/* swapped pages past the kept ones are dropped with their copy */
		uint32_t past = keep > s->n_pages ? keep - s->n_pages : 0;
		p->swap_used -= (uint64_t)(s->n_swapped - past) * p->page_bytes;
		s->n_swapped = past;
		if (!past) {
			free(s->swap);
			s->swap = NULL;
		}
	}
	if (!s->pins)
		release_from(p, s, keep < s->n_pages ? keep : s->n_pages);
	pthread_mutex_unlock(&p->mu);
}

uint32_t duet_kv_seq_tokens(duet_kv_seq *s)
{
	pthread_mutex_lock(&s->pool->mu);
	uint32_t n = s->n_tokens;
	pthread_mutex_unlock(&s->pool->mu);
	return n;
}

void duet_kv_seq_set_prio(duet_kv_seq *s, duet_kv_prio prio)
{
	pthread_mutex_lock(&s->pool->mu);
	if (prio <= DUET_KV_INTERACTIVE)
		s->prio = prio;
	pthread_mutex_unlock(&s->pool->mu);
}

void *duet_kv_seq_row(const duet_kv_seq *s, int which, uint32_t il, uint32_t pos)
{
	duet_kv_view v;
	uint64_t off;
	duet_kv_seq_view(s, &v);
	uint64_t page = duet_kv_view_page(&v, which, il, pos, &off);
	if (page >= s->n_pages || !s->ptrs[page])
		return NULL;
	return s->ptrs[page] + off;
}

void duet_kv_seq_view(const duet_kv_seq *s, duet_kv_view *v)
{
	*v = (duet_kv_view){ s->ptrs, s->tpp, s->streams, s->row_bytes, s->pages,
			     s->n_pages };
}

bool duet_kv_pool_on_device(const duet_kv_pool *p, duet_device **dev,
			    uint32_t *page_bytes, uint32_t *n_chunks,
			    uint32_t *pages_per_chunk)
{
	if (!p->dev)
		return false;
	*dev = p->dev;
	*page_bytes = p->page_bytes;
	*n_chunks = p->n_chunks;
	*pages_per_chunk = p->per_chunk;
	return true;
}

void duet_kv_pool_chunk(const duet_kv_pool *p, uint32_t i, struct duet_vk_range *mem)
{
	duet_kv_pool_vk_range(p->vk, i, mem);
}

void duet_kv_pool_stats(duet_kv_pool *p, duet_kv_stats *out)
{
	pthread_mutex_lock(&p->mu);
	duet_kv_stats st = p->st;
	st.page_bytes = p->page_bytes;
	st.pages_total = p->n_pages;
	st.pages_free = p->n_free;
	st.pages_used = p->n_pages - p->n_free;
	st.sequences = p->n_seqs;
	/* a page's contents: the most positions any holder keeps in it */
	memset(p->fill, 0, p->n_pages * sizeof *p->fill);
	for (const duet_kv_seq *s = p->seqs; s; s = s->next) {
		uint32_t tpp = p->models[s->model].tpp;
		uint64_t rb = p->models[s->model].row_bytes;
		for (uint32_t i = 0; i < s->n_pages; i++) {
			uint64_t lo = (uint64_t)(i / s->streams) * tpp;
			uint64_t n = s->n_tokens > lo ? s->n_tokens - lo : 0;
			uint64_t bytes = (n < tpp ? n : tpp) * rb;
			if (bytes > p->fill[s->pages[i]])
				p->fill[s->pages[i]] = (uint32_t)bytes;
		}
	}
	uint64_t held = 0;
	for (uint32_t i = 0; i < p->n_pages; i++) {
		held += p->fill[i];
		st.pages_shared += p->ref[i] > 1;
	}
	uint64_t used = (uint64_t)st.pages_used * p->page_bytes;
	st.waste_pct = used ? 100.0 * (double)(used - held) / (double)used : 0;
	pthread_mutex_unlock(&p->mu);
	*out = st;
}
