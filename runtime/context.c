/* Contexts: a model's state for one sequence on one executor, either the
 * CPU reference (host KV cache) or Vulkan (device KV cache, weights shared
 * through the duet_device), with the graphs built for it per batch bucket
 * and logits mode. */
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "cpu.h"
#include "device.h"
#include "error.h"
#include "exec_vk.h"
#include "graph.h"
#include "kv.h"
#include "pick.h"
#include "scheduler.h"
#include "session.h"

/* Graph buckets: one for single-token decode steps, one for batches. */
enum { BUCKET_ONE = 0, BUCKET_BATCH = 1 };

struct duet_context {
	duet_model *model;
	duet_backend backend;       /* CPU or VULKAN */
	duet_cpu *cpu;
	duet_kv_cache kv;           /* CPU backend */
	duet_device *dev;           /* Vulkan backend */
	bool owns_dev;
	duet_vk_weights *weights;
	duet_vk_exec *vx;
	duet_graph *graphs[2][2];   /* [bucket][duet_logits_mode], built lazily */
	uint32_t n_ctx;
	uint32_t n_batch;
	uint32_t n_past;
	float *logits;
	uint64_t logits_cap;        /* floats */
	bool streams;               /* holds a model streamed under a budget */
	duet_kv_seq *seq;           /* pages from a shared pool (kv.paged) */
	int32_t *hist;              /* [n_ctx] tokens evaluated, to recompute */
	uint64_t recomputed;        /* positions recomputed after preemption */
	duet_sched *sched;          /* turns on the resource, or NULL */
	duet_priority sched_prio;
};

void duet_context_set_sched(duet_context *c, duet_sched *s, duet_priority pr)
{
	c->sched = s;
	c->sched_prio = pr;
}

const char *duet_backend_name(duet_backend b)
{
	return b == DUET_BACKEND_CPU ? "cpu" : b == DUET_BACKEND_VULKAN ? "vulkan"
									 : "auto";
}

/* Plans m's streaming again when the executor keeps `extra` bytes beside
 * each staging slot (Vulkan: the repacked layer) and the plan did not
 * count them; on failure the previous plan stays. */
static duet_status replan(duet_model *m, uint64_t extra)
{
	if (m->wopts.slot_extra == extra)
		return DUET_OK;
	duet_weights_opts wo = m->wopts;
	wo.slot_extra = extra;
	duet_weights_destroy(m->weights); /* restores desc's pointers */
	m->weights = NULL;
	duet_status s = duet_weights_create(&m->desc, m->gguf, m->path, &wo,
					    &m->weights);
	if (s == DUET_OK) {
		m->wopts = wo;
		return DUET_OK;
	}
	duet_status back = duet_weights_create(&m->desc, m->gguf, m->path,
					       &m->wopts, &m->weights);
	return back == DUET_OK ? s : back;
}

/* The context's cache in a shared pool: a sequence of the model's shape
 * (rows of the context's type, as the contiguous cache) read through its
 * page table. */
static duet_status open_pooled(duet_context *c, const duet_context_options *o)
{
	const duet_model_desc *d = &c->model->desc;
	/* prefill speed of the swap-or-recompute choice: about 10 GFLOP/s */
	duet_kv_model km = { .n_layer = d->hp.n_layer, .n_embd_kv = d->hp.n_embd_kv,
			     .row_bytes = duet_kv_row_bytes(o->kv_type, d->hp.n_embd_kv),
			     .recompute_tps = 5e9 / (double)(d->n_params ? d->n_params : 1) };
	uint32_t id;
	duet_status s = duet_kv_pool_add_model(o->kv_pool, &km, &id);
	if (s == DUET_OK)
		s = duet_kv_seq_open(o->kv_pool, id, o->priority, o->kv_min_tokens, &c->seq);
	if (s == DUET_OK && !(c->hist = malloc((uint64_t)c->n_ctx * sizeof *c->hist)))
		s = DUET_ERR(DUET_E_NOMEM, "out of memory");
	c->kv = (duet_kv_cache){ .n_layer = d->hp.n_layer, .n_ctx = c->n_ctx,
				 .n_embd_kv = d->hp.n_embd_kv, .type = o->kv_type,
				 .row_bytes = km.row_bytes };
	if (s == DUET_OK) /* the geometry, before any page */
		duet_kv_seq_view(c->seq, &c->kv.paged);
	return s;
}

/* Sets up the Vulkan executor; on failure leaves c without one. */
static duet_status open_vulkan(duet_context *c, duet_device *dev,
			       const duet_context_options *o)
{
	duet_status s = DUET_OK;
	duet_model *m = c->model;
	duet_vk_kv_pages pages = { 0 };
	duet_device *pool_dev = NULL;
	if (o->kv_pool) { /* the pool's device (checked by the caller) */
		duet_kv_pool_on_device(o->kv_pool, &pool_dev, &pages.page_bytes,
				       &pages.n_chunks, &pages.per_chunk);
		for (uint32_t i = 0; i < pages.n_chunks; i++)
			duet_kv_pool_chunk(o->kv_pool, i, &pages.mem[i]);
		if (dev && dev != pool_dev)
			return DUET_ERR(DUET_E_INVAL, "the KV pool is on another device");
		dev = pool_dev;
	}
	if (!dev) {
		s = duet_device_open(NULL, &dev);
		c->owns_dev = s == DUET_OK;
	}
	if (s == DUET_OK)
		s = duet_vk_check_model(duet_device_vk(dev), &m->desc);
	if (s == DUET_OK && duet_weights_streaming(m->weights)) {
		/* each staging slot gets a twin in device memory that the
		 * kernels read, holding the layer repacked */
		s = replan(m, duet_vk_weights_slot_bytes(duet_device_vk(dev), &m->desc));
		if (s != DUET_OK)
			duet_error_wrap(s, "streaming on the Vulkan device");
	}
	if (s == DUET_OK)
		s = duet_device_acquire_weights(dev, &m->desc,
						duet_weights_streaming(m->weights)
							? m->weights : NULL,
						o->progress, o->progress_user,
						&c->weights);
	if (s == DUET_OK && o->kv_pool) {
		s = open_pooled(c, o);
		pages.tpp = c->kv.paged.tpp;
		pages.streams = c->kv.paged.streams;
	}
	if (s == DUET_OK)
		s = duet_vk_exec_create(duet_device_vk(dev), c->weights, c->n_ctx,
					o->kv_type, duet_device_profiling(dev),
					o->kv_pool ? &pages : NULL, &c->vx);
	c->dev = dev;
	if (s != DUET_OK) {
		duet_kv_seq_close(c->seq);
		c->seq = NULL;
		free(c->hist);
		c->hist = NULL;
		if (c->weights)
			duet_device_release_weights(dev, c->weights);
		if (c->owns_dev)
			duet_device_close(dev);
		if (duet_weights_streaming(m->weights))
			replan(m, 0);
		c->weights = NULL;
		c->dev = NULL;
		c->owns_dev = false;
	}
	return s;
}

static duet_status open_cpu(duet_context *c, const duet_context_options *o)
{
	const duet_hparams *hp = &c->model->desc.hp;
	duet_status s = duet_cpu_create(o->n_threads, &c->cpu);
	if (s == DUET_OK && o->kv_pool)
		s = open_pooled(c, o);
	else if (s == DUET_OK)
		s = duet_kv_cache_init(&c->kv, hp->n_layer, c->n_ctx, hp->n_embd_kv,
				       o->kv_type);
	return s;
}

duet_status duet_context_create(duet_model *m, const duet_context_options *opts,
				duet_context **out)
{
	*out = NULL;
	duet_context_options o = { 0 };
	if (opts)
		o = *opts;
	if (m->vocab_only)
		return DUET_ERR(DUET_E_INVAL, "the model was loaded vocab-only");
	bool streams = duet_weights_streaming(m->weights);
	if (streams && m->in_use)
		return DUET_ERR(DUET_E_UNSUPPORTED, "a model streamed under a memory "
				"budget serves one context at a time");
	if (o.backend > DUET_BACKEND_VULKAN)
		return DUET_ERR(DUET_E_INVAL, "unknown backend %d", (int)o.backend);
	if (o.priority > DUET_PRIORITY_INTERACTIVE)
		return DUET_ERR(DUET_E_INVAL, "unknown priority %d", (int)o.priority);
	duet_device *pd;
	uint32_t pb, pn, pc;
	bool pool_on_dev = o.kv_pool && duet_kv_pool_on_device(o.kv_pool, &pd, &pb, &pn, &pc);
	if (o.kv_pool && !pool_on_dev && o.backend == DUET_BACKEND_VULKAN)
		return DUET_ERR(DUET_E_UNSUPPORTED, "a KV pool in host memory serves "
				"CPU contexts; give the pool a device for Vulkan");
	if (o.kv_pool && !pool_on_dev)
		o.backend = DUET_BACKEND_CPU;
	const duet_hparams *hp = &m->desc.hp;
	duet_status ts = duet_kv_type_check(o.kv_type, hp->head_dim, hp->n_embd_kv);
	if (ts != DUET_OK)
		return ts;
	if (o.n_ctx == 0)
		o.n_ctx = hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096;
	if (o.n_ctx == 0)
		o.n_ctx = 4096;
	if (o.n_batch == 0)
		o.n_batch = 64;
	duet_context *c = calloc(1, sizeof *c);
	if (!c)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	c->model = m;
	c->n_ctx = o.n_ctx;
	c->n_batch = o.n_batch < o.n_ctx ? o.n_batch : o.n_ctx;
	duet_status s = DUET_E_UNSUPPORTED;
	if (o.backend != DUET_BACKEND_CPU) {
		s = open_vulkan(c, o.device, &o);
		if (s == DUET_OK)
			c->backend = DUET_BACKEND_VULKAN;
		else if (o.backend == DUET_BACKEND_VULKAN)
			duet_error_wrap(s, "Vulkan backend");
	}
	if (s != DUET_OK && o.backend != DUET_BACKEND_VULKAN) {
		/* auto: the CPU is always there */
		s = streams ? replan(m, 0) : DUET_OK;
		if (s == DUET_OK)
			s = open_cpu(c, &o);
		c->backend = DUET_BACKEND_CPU;
	}
	if (s == DUET_OK && o.progress) {
		duet_weights_info wi;
		duet_weights_get_info(m->weights, &wi);
		o.progress(o.progress_user, wi.model_bytes, wi.model_bytes);
	}
	if (s == DUET_OK && streams) {
		if (c->cpu)
			duet_cpu_set_weights(c->cpu, m->weights);
		m->in_use = true;
		c->streams = true;
	}
	if (s != DUET_OK) {
		duet_context_destroy(c);
		return s;
	}
	*out = c;
	return DUET_OK;
}

void duet_context_destroy(duet_context *c)
{
	if (!c)
		return;
	if (c->streams)
		c->model->in_use = false;
	for (int b = 0; b < 2; b++)
		for (int mode = 0; mode < 2; mode++)
			duet_graph_destroy(c->graphs[b][mode]);
	duet_vk_exec_destroy(c->vx);
	if (c->weights)
		duet_device_release_weights(c->dev, c->weights);
	if (c->owns_dev)
		duet_device_close(c->dev);
	if (c->seq)
		duet_kv_seq_close(c->seq);
	else
		duet_kv_cache_finish(&c->kv);
	free(c->hist);
	duet_cpu_destroy(c->cpu);
	free(c->logits);
	free(c);
}

static duet_status get_graph(duet_context *c, int bucket, duet_logits_mode mode,
			     duet_graph **out)
{
	duet_graph **g = &c->graphs[bucket][mode];
	if (!*g) {
		uint32_t n = bucket == BUCKET_ONE ? 1 : c->n_batch;
		duet_status s = duet_graph_build(&c->model->desc, n, mode, g);
		if (s != DUET_OK)
			return s;
	}
	*out = *g;
	return DUET_OK;
}

static duet_status check_tokens(const duet_context *c, const int32_t *tokens,
				uint32_t n)
{
	uint32_t n_vocab = c->model->desc.hp.n_vocab;
	if (n == 0)
		return DUET_ERR(DUET_E_INVAL, "no tokens to evaluate");
	if (n > c->n_ctx - c->n_past)
		return DUET_ERR(DUET_E_RANGE,
				"%u more tokens do not fit: %u of %u positions "
				"are used (raise the context size)",
				n, c->n_past, c->n_ctx);
	for (uint32_t i = 0; i < n; i++)
		if (tokens[i] < 0 || (uint32_t)tokens[i] >= n_vocab)
			return DUET_ERR(DUET_E_INVAL,
					"token id %d is outside the vocabulary "
					"(0..%u)", tokens[i], n_vocab - 1);
	return DUET_OK;
}

/* One run on the context's executor over the pages the pool granted
 * (their view is refreshed after each begin). */
static duet_status exec_paged(duet_context *c, duet_graph *g, const duet_step *st,
			      const float **logits, const int32_t **ids)
{
	duet_kv_seq_view(c->seq, &c->kv.paged);
	if (c->vx) {
		duet_vk_exec_set_pages(c->vx, c->kv.paged.ids, c->kv.paged.n_pages);
		return duet_vk_exec_run(c->vx, g, st, logits, ids);
	}
	*ids = NULL;
	return duet_cpu_run(c->cpu, g, &c->kv, st, logits);
}

/* Recomputes positions [from, to) from the tokens kept for them, after
 * the pool dropped them. */
static duet_status recompute(duet_context *c, uint32_t from, uint32_t to)
{
	duet_status s = DUET_OK;
	while (s == DUET_OK && from < to) {
		uint32_t m = to - from < c->n_batch ? to - from : c->n_batch, valid;
		duet_graph *g;
		duet_step st = { .tokens = c->hist + from, .n_tokens = m, .pos0 = from };
		const float *out;
		s = get_graph(c, m == 1 ? BUCKET_ONE : BUCKET_BATCH, DUET_LOGITS_LAST, &g);
		if (s == DUET_OK)
			s = duet_kv_seq_begin(c->seq, from, m, &valid);
		if (s == DUET_OK && valid < from) {
			from = valid; /* dropped again meanwhile */
			continue;
		}
		if (s != DUET_OK)
			break;
		const int32_t *ids;
		s = exec_paged(c, g, &st, &out, &ids);
		duet_kv_seq_end(c->seq, s == DUET_OK ? from + m : from);
		if (s == DUET_OK) {
			c->recomputed += m;
			from += m;
		}
	}
	return s;
}

/* Pins the pool pages of positions [pos0, pos0 + n) and of everything
 * before them: swaps back or recomputes what the arbiter took. */
static duet_status pin_pages(duet_context *c, uint32_t pos0, uint32_t n)
{
	uint32_t valid;
	duet_status s = duet_kv_seq_begin(c->seq, pos0, n, &valid);
	while (s == DUET_OK && valid < pos0) {
		s = recompute(c, valid, pos0);
		if (s == DUET_OK)
			s = duet_kv_seq_begin(c->seq, pos0, n, &valid);
	}
	return s;
}

/* A step on pages of the pool: runs with the sequence pinned. */
static duet_status run_pooled(duet_context *c, duet_graph *g, const duet_step *st,
			      const float **logits, const int32_t **ids)
{
	duet_status s = pin_pages(c, st->pos0, st->n_tokens);
	if (s != DUET_OK)
		return s;
	s = exec_paged(c, g, st, logits, ids);
	if (s == DUET_OK)
		memcpy(c->hist + st->pos0, st->tokens, st->n_tokens * sizeof *st->tokens);
	duet_kv_seq_end(c->seq, s == DUET_OK ? st->pos0 + st->n_tokens : st->pos0);
	return s;
}

/* One graph run on the context's executor. */
static duet_status run(duet_context *c, duet_graph *g, const duet_step *st,
		       const float **logits, const int32_t **ids)
{
	if (c->seq)
		return run_pooled(c, g, st, logits, ids);
	if (c->vx)
		return duet_vk_exec_run(c->vx, g, st, logits, ids);
	*ids = NULL;
	return duet_cpu_run(c->cpu, g, &c->kv, st, logits);
}

/* Makes c->logits hold at least need floats. */
static duet_status reserve_logits(duet_context *c, uint64_t need)
{
	if (need <= c->logits_cap)
		return DUET_OK;
	float *l = realloc(c->logits, need * sizeof *l);
	if (!l)
		return DUET_ERR(DUET_E_NOMEM, "out of memory for logits");
	c->logits = l;
	c->logits_cap = need;
	return DUET_OK;
}

/* Evaluates tokens in batches; keeps logits (all rows or the last) in
 * c->logits when want_logits, and the last argmax in *last_id. */
static duet_status eval(duet_context *c, const int32_t *tokens, uint32_t n,
			bool all_logits, bool want_logits, int32_t *last_id)
{
	uint32_t n_vocab = c->model->desc.hp.n_vocab;
	duet_status s = check_tokens(c, tokens, n);
	if (s != DUET_OK)
		return s;
	s = reserve_logits(c, want_logits ? (uint64_t)(all_logits ? n : 1) * n_vocab : 0);
	if (s != DUET_OK)
		return s;
	duet_logits_mode mode = all_logits ? DUET_LOGITS_ALL : DUET_LOGITS_LAST;
	uint32_t start_past = c->n_past, valid;
	if (c->seq && n > c->n_batch) {
		/* the pages of every batch at once: a prompt the pool cannot
		 * hold fails before any of it runs (one step asks for its own,
		 * in run_pooled) */
		s = duet_kv_seq_begin(c->seq, c->n_past, n, &valid);
		if (s != DUET_OK)
			return s;
		if (valid >= c->n_past)
			duet_kv_seq_end(c->seq, c->n_past);
	}
	for (uint32_t i = 0; i < n;) {
		uint32_t m = n - i < c->n_batch ? n - i : c->n_batch;
		duet_graph *g;
		const float *out;
		const int32_t *ids = NULL;
		duet_step st = { .tokens = tokens + i, .n_tokens = m,
				 .pos0 = c->n_past };
		s = get_graph(c, m == 1 ? BUCKET_ONE : BUCKET_BATCH, mode, &g);
		if (s == DUET_OK) {
			/* one forward pass per turn on the resource */
			if (c->sched)
				duet_sched_acquire(c->sched, c->sched_prio);
			s = run(c, g, &st, &out, &ids);
			if (c->sched)
				duet_sched_release(c->sched);
		}
		if (s != DUET_OK) {
			c->n_past = start_past; /* positions past it are ignored */
			return s;
		}
		if (want_logits && all_logits)
			memcpy(c->logits + (uint64_t)i * n_vocab, out,
			       (uint64_t)m * n_vocab * sizeof(float));
		else if (want_logits && i + m == n)
			memcpy(c->logits, out, n_vocab * sizeof(float));
		if (i + m == n && last_id) {
			uint32_t row = all_logits ? m - 1 : 0;
			*last_id = ids ? ids[row] : -1;
			if (!ids) /* CPU: the first largest logit */
				*last_id = duet_argmax(out + (uint64_t)row * n_vocab, n_vocab);
		}
		c->n_past += m;
		i += m;
	}
	return DUET_OK;
}

duet_status duet_context_eval(duet_context *c, const int32_t *tokens,
			      uint32_t n, bool all_logits, const float **logits)
{
	duet_status s = eval(c, tokens, n, all_logits, true, NULL);
	if (s == DUET_OK)
		*logits = c->logits;
	return s;
}

/* Ends the pinned steps of cs[0..n) at ok ? their next position : the
 * current one. */
static void batch_end(duet_context *const *cs, uint32_t n, bool ok)
{
	for (uint32_t i = 0; i < n; i++)
		if (cs[i]->seq)
			duet_kv_seq_end(cs[i]->seq, cs[i]->n_past + ok);
}

/* One pass over up to n_batch members (see duet_context_eval_batch). */
static duet_status eval_batch(duet_context *const *cs, const int32_t *tokens,
			      uint32_t n, const float **logits)
{
	duet_context *c0 = cs[0];
	uint32_t n_vocab = c0->model->desc.hp.n_vocab, pos[DUET_BATCH_MAX];
	duet_kv_cache *kv[DUET_BATCH_MAX];
	duet_status s = DUET_OK;
	uint32_t begun = 0;
	/* one turn on the resource, at the most urgent member's priority,
	 * for the pass and whatever its members must recompute first */
	duet_priority pr = c0->sched_prio;
	for (uint32_t i = 1; i < n; i++)
		pr = cs[i]->sched_prio > pr ? cs[i]->sched_prio : pr;
	if (c0->sched)
		duet_sched_acquire(c0->sched, pr);
	for (; begun < n && s == DUET_OK; begun++) {
		duet_context *c = cs[begun];
		if ((s = check_tokens(c, tokens + begun, 1)) != DUET_OK ||
		    (s = reserve_logits(c, n_vocab)) != DUET_OK ||
		    (c->seq && (s = pin_pages(c, c->n_past, 1)) != DUET_OK))
			break;
		if (c->seq)
			duet_kv_seq_view(c->seq, &c->kv.paged);
		pos[begun] = c->n_past;
		kv[begun] = &c->kv;
	}
	if (s != DUET_OK) {
		batch_end(cs, begun, false);
		if (c0->sched)
			duet_sched_release(c0->sched);
		return s;
	}
	duet_graph *g;
	const float *out = NULL;
	duet_step st = { .tokens = tokens, .n_tokens = n, .pos = pos, .kv = kv };
	s = get_graph(c0, n == 1 ? BUCKET_ONE : BUCKET_BATCH, DUET_LOGITS_ALL, &g);
	if (s == DUET_OK)
		s = duet_cpu_run(c0->cpu, g, NULL, &st, &out);
	if (c0->sched)
		duet_sched_release(c0->sched);
	batch_end(cs, n, s == DUET_OK);
	for (uint32_t i = 0; s == DUET_OK && i < n; i++) {
		duet_context *c = cs[i];
		memcpy(c->logits, out + (uint64_t)i * n_vocab, n_vocab * sizeof(float));
		if (c->seq)
			c->hist[c->n_past] = tokens[i];
		c->n_past++;
		logits[i] = c->logits;
	}
	return s;
}

duet_status duet_context_eval_batch(duet_context *const *cs, const int32_t *tokens,
				    uint32_t n, const float **logits)
{
	if (n == 0)
		return DUET_ERR(DUET_E_INVAL, "no contexts to evaluate");
	bool cpu = true;
	for (uint32_t i = 0; i < n; i++) {
		if (cs[i]->model != cs[0]->model)
			return DUET_ERR(DUET_E_INVAL, "a batch holds contexts of one "
					"model (context %u has another)", i);
		for (uint32_t j = 0; j < i; j++)
			if (cs[j] == cs[i])
				return DUET_ERR(DUET_E_INVAL, "context %u is in the "
						"batch twice", i);
		cpu = cpu && !cs[i]->vx;
	}
	duet_status s = DUET_OK;
	for (uint32_t i = 0; i < n && s == DUET_OK;) {
		uint32_t m = cpu ? n - i : 1;
		m = m < cs[i]->n_batch ? m : cs[i]->n_batch;
		m = m < DUET_BATCH_MAX ? m : DUET_BATCH_MAX;
		if (cpu)
			s = eval_batch(cs + i, tokens + i, m, logits + i);
		else
			s = duet_context_eval(cs[i], tokens + i, 1, false, logits + i);
		i += m;
	}
	return s;
}

duet_status duet_context_eval_greedy(duet_context *c, const int32_t *tokens,
				     uint32_t n, int32_t *token)
{
	return eval(c, tokens, n, false, false, token);
}

duet_status duet_context_share_prefix(duet_context *c, duet_context *src,
				      uint32_t n_tokens)
{
	if (!c->seq || !src->seq)
		return DUET_ERR(DUET_E_UNSUPPORTED, "sharing a prefix needs contexts "
				"in a KV pool");
	if (c->model != src->model || c->n_past || n_tokens > src->n_past ||
	    n_tokens > c->n_ctx)
		return DUET_ERR(DUET_E_INVAL, "sharing %u positions of a context at "
				"%u into one at %u (of the same model, empty)",
				n_tokens, src->n_past, c->n_past);
	duet_status s = duet_kv_seq_share(c->seq, src->seq, n_tokens);
	if (s != DUET_OK)
		return s;
	/* positions the pool dropped from src are recomputed from these */
	memcpy(c->hist, src->hist, n_tokens * sizeof *c->hist);
	c->n_past = n_tokens;
	return DUET_OK;
}

void duet_context_truncate(duet_context *c, uint32_t n_past)
{
	if (n_past < c->n_past)
		c->n_past = n_past;
	if (c->seq)
		duet_kv_seq_truncate(c->seq, c->n_past);
}

uint32_t duet_context_n_past(const duet_context *c)
{
	return c->n_past;
}

uint32_t duet_context_n_ctx(const duet_context *c)
{
	return c->n_ctx;
}

duet_model *duet_context_model(const duet_context *c)
{
	return c->model;
}

duet_backend duet_context_backend(const duet_context *c)
{
	return c->backend;
}

duet_device *duet_context_device(const duet_context *c)
{
	return c->dev;
}

uint32_t duet_context_kernel_times(duet_context *c, duet_kernel_time *out,
				   uint32_t cap)
{
	if (!c->vx)
		return 0;
	duet_vk_timing t[1024];
	uint32_t n = duet_vk_exec_timings(c->vx, t, 1024);
	for (uint32_t i = 0; i < n && i < cap && i < 1024; i++)
		out[i] = (duet_kernel_time){ t[i].label, t[i].start_us, t[i].us };
	return n;
}
