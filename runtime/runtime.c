/* The app-facing runtime (see duet.h, "the runtime"): the models, the
 * device, the KV pool and the schedulers, and sessions that generate in
 * one of four modes over contexts that take turns through the schedulers. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "clock.h"
#include "error.h"
#include "kv.h"
#include "pick.h"
#include "scheduler.h"
#include "session.h"

struct duet_runtime {
	duet_model *llm, *slm;
	duet_backend llm_be, slm_be;
	duet_device *dev;         /* NULL when no context uses Vulkan */
	duet_kv_pool *pool;       /* on dev, or in host memory; or NULL */
	duet_sched *sched_dev, *sched_cpu;
	duet_batcher *batch[2];   /* decode steps of the LLM's and the SLM's
				     sessions (decode_batch), or NULL */
	uint32_t n_threads, chunk;
	duet_kv_type kv_type;
};

struct duet_session {
	duet_runtime *rt;
	duet_session_options o;
	duet_context *llm, *slm;  /* those the mode needs */
	duet_sampler *smp;        /* modes llm and slm */
	duet_sched *scheds[2];    /* where its contexts take turns, each once */
	uint32_t n_scheds;
	atomic_bool cancel;
	duet_utf8_stream utf8;
	duet_session_stats st;
};

/* The backend a context of this runtime gets: Vulkan when the device is
 * open and the model asked for it (or auto), else the CPU. */
static duet_backend backend_of(const duet_runtime *rt, duet_backend want)
{
	return rt->dev && want != DUET_BACKEND_CPU ? DUET_BACKEND_VULKAN : DUET_BACKEND_CPU;
}

duet_status duet_runtime_create(const duet_runtime_options *o, duet_runtime **out)
{
	*out = NULL;
	if (!o || !o->llm_path)
		return DUET_ERR(DUET_E_INVAL, "a runtime needs the LLM's path");
	duet_runtime *rt = calloc(1, sizeof *rt);
	if (!rt)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	rt->n_threads = o->n_threads;
	rt->kv_type = o->kv_type;
	rt->chunk = o->prefill_chunk ? o->prefill_chunk : 64;
	rt->llm_be = o->backend;
	rt->slm_be = o->slm_backend ? o->slm_backend : o->backend;
	duet_status s = duet_model_load(o->llm_path, NULL, &rt->llm);
	if (s == DUET_OK && o->slm_path)
		s = duet_model_load(o->slm_path, NULL, &rt->slm);
	if (s == DUET_OK && rt->slm)
		s = duet_models_check_pair(rt->llm, rt->slm);
	for (int i = 0; i < 2 && s == DUET_OK; i++) {
		duet_model *m = i ? rt->slm : rt->llm;
		if (m)
			s = duet_kv_type_check(o->kv_type, m->desc.hp.head_dim,
					       m->desc.hp.n_embd_kv);
	}
	if (s == DUET_OK && (rt->llm_be != DUET_BACKEND_CPU ||
			     (rt->slm && rt->slm_be != DUET_BACKEND_CPU))) {
		duet_device_options dopt = { .device = o->device, .cache_dir = o->cache_dir };
		s = duet_device_open(&dopt, &rt->dev);
		bool must = rt->llm_be == DUET_BACKEND_VULKAN ||
			    (rt->slm && rt->slm_be == DUET_BACKEND_VULKAN);
		if (s != DUET_OK && !must) {
			rt->dev = NULL; /* auto: the CPU is always there */
			s = DUET_OK;
			duet_clear_error();
		}
	}
	if (s == DUET_OK && o->kv_pool_bytes) {
		/* one pool for both models: on the device when both run there */
		bool on_dev = backend_of(rt, rt->llm_be) == DUET_BACKEND_VULKAN &&
			      (!rt->slm || backend_of(rt, rt->slm_be) == DUET_BACKEND_VULKAN);
		bool on_cpu = backend_of(rt, rt->llm_be) == DUET_BACKEND_CPU &&
			      (!rt->slm || backend_of(rt, rt->slm_be) == DUET_BACKEND_CPU);
		if (!on_dev && !on_cpu)
			s = DUET_ERR(DUET_E_UNSUPPORTED, "one KV pool serves contexts on "
				     "one executor; the LLM and the SLM run on two");
		duet_kv_pool_options po = { .pool_bytes = o->kv_pool_bytes,
					    .device = on_dev ? rt->dev : NULL };
		if (s == DUET_OK)
			s = duet_kv_pool_create(&po, &rt->pool);
	}
	if (s == DUET_OK)
		s = duet_sched_create(o->starve_ms, &rt->sched_dev);
	if (s == DUET_OK)
		s = duet_sched_create(o->starve_ms, &rt->sched_cpu);
	for (int i = 0; i < 2 && s == DUET_OK && o->decode_batch > 1; i++)
		if (i == 0 || rt->slm)
			s = duet_batcher_create(o->decode_batch, o->batch_wait_ms,
						&rt->batch[i]);
	if (s != DUET_OK) {
		duet_runtime_destroy(rt);
		return s;
	}
	*out = rt;
	return DUET_OK;
}

void duet_runtime_destroy(duet_runtime *rt)
{
	if (!rt)
		return;
	duet_kv_pool_destroy(rt->pool);
	duet_sched_destroy(rt->sched_dev);
	duet_sched_destroy(rt->sched_cpu);
	duet_batcher_destroy(rt->batch[0]);
	duet_batcher_destroy(rt->batch[1]);
	duet_device_close(rt->dev);
	duet_model_destroy(rt->llm);
	duet_model_destroy(rt->slm);
	free(rt);
}

duet_model *duet_runtime_model(duet_runtime *rt, bool slm)
{
	return slm ? rt->slm : rt->llm;
}

void duet_runtime_get_stats(duet_runtime *rt, duet_runtime_stats *st)
{
	duet_sched_stats a, b;
	duet_sched_get_stats(rt->sched_dev, &a);
	duet_sched_get_stats(rt->sched_cpu, &b);
	memset(st, 0, sizeof *st);
	for (int p = 0; p < 3; p++) {
		st->turns[p] = a.turns[p] + b.turns[p];
		st->wait_ms[p] = (a.wait_s[p] + b.wait_s[p]) * 1e3;
	}
	st->starved = a.starved + b.starved;
	st->has_kv_pool = rt->pool != NULL;
	if (rt->pool)
		duet_kv_pool_stats(rt->pool, &st->kv);
	for (int i = 0; i < 2; i++)
		if (rt->batch[i]) {
			duet_batch_stats bs;
			duet_batcher_get_stats(rt->batch[i], &bs);
			st->batch_passes += bs.passes;
			st->batch_steps += bs.steps;
		}
}

static duet_status open_context(duet_session *s, bool slm, duet_context **out)
{
	duet_runtime *rt = s->rt;
	duet_backend be = backend_of(rt, slm ? rt->slm_be : rt->llm_be);
	duet_context_options co = {
		.n_ctx = s->o.n_ctx,
		.n_batch = rt->chunk,
		.n_threads = rt->n_threads,
		.backend = be,
		.device = be == DUET_BACKEND_VULKAN ? rt->dev : NULL,
		.kv_pool = rt->pool,
		.priority = s->o.priority,
		.kv_type = rt->kv_type,
	};
	duet_status st = duet_context_create(slm ? rt->slm : rt->llm, &co, out);
	if (st != DUET_OK)
		return st;
	duet_sched *sc = be == DUET_BACKEND_VULKAN ? rt->sched_dev : rt->sched_cpu;
	duet_context_set_sched(*out, sc, s->o.priority);
	if (!s->n_scheds || s->scheds[0] != sc)
		s->scheds[s->n_scheds++] = sc;
	return DUET_OK;
}

duet_status duet_session_open(duet_runtime *rt, const duet_session_options *o,
			      duet_session **out)
{
	*out = NULL;
	duet_session_options opt = { 0 };
	if (o)
		opt = *o;
	if ((uint32_t)opt.mode > DUET_MODE_CASCADE)
		return DUET_ERR(DUET_E_INVAL, "session mode %d", (int)opt.mode);
	if ((uint32_t)opt.priority > DUET_PRIORITY_INTERACTIVE)
		return DUET_ERR(DUET_E_INVAL, "session priority %d", (int)opt.priority);
	if (opt.mode != DUET_MODE_LLM && !rt->slm)
		return DUET_ERR(DUET_E_INVAL, "mode %s needs the runtime's SLM (slm_path)",
				opt.mode == DUET_MODE_SLM ? "slm"
				: opt.mode == DUET_MODE_SPEC ? "spec" : "cascade");
	duet_session *s = calloc(1, sizeof *s);
	if (!s)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	s->rt = rt;
	s->o = opt;
	atomic_init(&s->cancel, false);
	duet_status st = DUET_OK;
	if (opt.mode != DUET_MODE_SLM)
		st = open_context(s, false, &s->llm);
	if (st == DUET_OK && opt.mode != DUET_MODE_LLM)
		st = open_context(s, true, &s->slm);
	if (st == DUET_OK && (opt.mode == DUET_MODE_LLM || opt.mode == DUET_MODE_SLM))
		st = duet_sampler_create(&opt.sampling, &s->smp);
	if (st != DUET_OK) {
		duet_session_close(s);
		return st;
	}
	*out = s;
	return DUET_OK;
}

void duet_session_close(duet_session *s)
{
	if (!s)
		return;
	duet_sampler_destroy(s->smp);
	duet_context_destroy(s->llm);
	duet_context_destroy(s->slm);
	free(s);
}

void duet_session_cancel(duet_session *s)
{
	atomic_store(&s->cancel, true);
}

void duet_session_get_stats(const duet_session *s, duet_session_stats *st)
{
	*st = s->st;
}

/* The model whose vocabulary decodes the session's tokens. */
static const duet_model *text_model(const duet_session *s)
{
	return s->o.mode == DUET_MODE_SLM ? s->rt->slm : s->rt->llm;
}

typedef struct sink {
	duet_session *s;
	duet_token_fn cb;
	void *user;
	uint32_t left;           /* tokens still wanted */
	bool stop;               /* cb said so, the end, or max_tokens */
} sink;

/* Hands one token to the callback; sets k->stop when generation ends. */
static duet_status deliver(sink *k, int32_t tok, duet_source src)
{
	duet_session *s = k->s;
	const duet_model *m = text_model(s);
	s->st.tokens++;
	s->st.slm_tokens += src == DUET_SOURCE_SLM;
	bool eog = duet_model_token_is_eog(m, tok);
	char raw[256], text[sizeof raw + 4];
	size_t len = 0, n = 0;
	if (!eog && duet_model_token_bytes(m, tok, raw, sizeof raw, &len) == DUET_OK)
		n = duet_utf8_stream_push(&s->utf8, raw, len, text);
	if (k->cb && !k->cb(k->user, tok, text, n, src))
		k->stop = true;
	if ((eog && !s->o.ignore_eog) || --k->left == 0)
		k->stop = true;
	return atomic_load(&s->cancel) ? DUET_E_CANCELED : DUET_OK;
}

static duet_status gen_single(duet_session *s, duet_context *c, const int32_t *prompt,
			      uint32_t n, sink *k, duet_source src)
{
	const float *l;
	uint32_t n_vocab = duet_context_model(c)->desc.hp.n_vocab;
	double t0 = duet_now_ms();
	duet_status st = duet_context_eval(c, prompt, n, false, &l);
	s->st.prompt_ms = duet_now_ms() - t0;
	if (src == DUET_SOURCE_LLM)
		s->st.llm_passes += (n + s->rt->chunk - 1) / s->rt->chunk;
	t0 = duet_now_ms();
	for (uint32_t i = 0; i < n; i++)
		duet_sampler_accept(s->smp, prompt[i]);
	/* decode steps in passes with the other sessions of this model */
	duet_batcher *b = st == DUET_OK && duet_context_backend(c) == DUET_BACKEND_CPU
				  ? s->rt->batch[src == DUET_SOURCE_SLM]
				  : NULL;
	if (b)
		duet_batcher_join(b);
	while (st == DUET_OK) {
		int32_t tok;
		st = duet_sampler_sample(s->smp, l, n_vocab, &tok);
		if (st != DUET_OK)
			break;
		duet_sampler_accept(s->smp, tok);
		st = deliver(k, tok, src);
		if (st != DUET_OK || k->stop ||
		    duet_context_n_past(c) == duet_context_n_ctx(c))
			break;
		st = b ? duet_batcher_eval(b, c, tok, &l)
		       : duet_context_eval(c, &tok, 1, false, &l);
		s->st.llm_passes += src == DUET_SOURCE_LLM;
	}
	if (b)
		duet_batcher_leave(b);
	s->st.gen_ms = duet_now_ms() - t0;
	return st;
}

static duet_status gen_spec(duet_session *s, const int32_t *prompt, uint32_t n, sink *k)
{
	duet_spec_params prm = { .k = s->o.draft_max,
				 .temperature = s->o.sampling.temperature,
				 .seed = s->o.sampling.seed };
	duet_spec *sp;
	int32_t tok, buf[17];
	double t0 = duet_now_ms();
	duet_status st = duet_spec_create(s->llm, s->slm, prompt, n, &prm, &tok, &sp);
	s->st.prompt_ms = duet_now_ms() - t0;
	if (st != DUET_OK)
		return st;
	t0 = duet_now_ms();
	st = deliver(k, tok, DUET_SOURCE_LLM);
	while (st == DUET_OK && !k->stop &&
	       duet_context_n_past(s->llm) < duet_context_n_ctx(s->llm)) {
		uint32_t got, cap = k->left + 1 < 17 ? k->left + 1 : 17;
		st = duet_spec_step(sp, buf, cap, &got);
		for (uint32_t i = 0; st == DUET_OK && i < got && !k->stop; i++)
			st = deliver(k, buf[i], DUET_SOURCE_LLM);
	}
	duet_spec_stats ss;
	duet_spec_get_stats(sp, &ss);
	s->st.llm_passes = ss.llm_passes;
	s->st.slm_tokens = ss.accepted; /* drafted by the SLM, kept */
	duet_spec_destroy(sp);
	s->st.gen_ms = duet_now_ms() - t0;
	return st;
}

static duet_status gen_cascade(duet_session *s, const int32_t *prompt, uint32_t n,
			       sink *k)
{
	duet_cascade_params prm = s->o.cascade;
	prm.temperature = s->o.sampling.temperature;
	prm.seed = s->o.sampling.seed;
	duet_cascade *cs;
	int32_t tok;
	duet_source src;
	double t0 = duet_now_ms();
	duet_status st = duet_cascade_create(s->llm, s->slm, prompt, n, &prm, &tok, &src, &cs);
	s->st.prompt_ms = duet_now_ms() - t0;
	if (st != DUET_OK)
		return st;
	t0 = duet_now_ms();
	st = deliver(k, tok, src);
	while (st == DUET_OK && !k->stop &&
	       duet_context_n_past(s->llm) < duet_context_n_ctx(s->llm) &&
	       duet_context_n_past(s->slm) < duet_context_n_ctx(s->slm)) {
		st = duet_cascade_step(cs, &tok, &src);
		if (st == DUET_OK)
			st = deliver(k, tok, src);
	}
	duet_cascade_stats cst;
	duet_cascade_get_stats(cs, &cst);
	s->st.llm_passes = cst.llm_passes;
	duet_cascade_destroy(cs);
	s->st.gen_ms = duet_now_ms() - t0;
	return st;
}

duet_status duet_session_generate_ids(duet_session *s, const int32_t *prompt, uint32_t n,
				      uint32_t max_tokens, duet_token_fn cb, void *user)
{
	if (!n)
		return DUET_ERR(DUET_E_INVAL, "an empty prompt");
	if (atomic_exchange(&s->cancel, false))
		return DUET_ERR(DUET_E_CANCELED, "the session was canceled");
	memset(&s->st, 0, sizeof s->st);
	memset(&s->utf8, 0, sizeof s->utf8);
	if (s->llm)
		duet_context_truncate(s->llm, 0);
	if (s->slm)
		duet_context_truncate(s->slm, 0);
	if (s->smp)
		duet_sampler_reset(s->smp);
	if (!max_tokens)
		return DUET_OK;
	sink k = { s, cb, user, max_tokens, false };
	/* the schedulers of its contexts hold lower priorities back while
	 * this one runs (others' executors are not held up) */
	for (uint32_t i = 0; i < s->n_scheds; i++)
		duet_sched_enter(s->scheds[i], s->o.priority);
	duet_status st;
	switch (s->o.mode) {
	case DUET_MODE_LLM: st = gen_single(s, s->llm, prompt, n, &k, DUET_SOURCE_LLM); break;
	case DUET_MODE_SLM: st = gen_single(s, s->slm, prompt, n, &k, DUET_SOURCE_SLM); break;
	case DUET_MODE_SPEC: st = gen_spec(s, prompt, n, &k); break;
	default: st = gen_cascade(s, prompt, n, &k); break;
	}
	for (uint32_t i = 0; i < s->n_scheds; i++)
		duet_sched_leave(s->scheds[i], s->o.priority);
	if (st == DUET_E_CANCELED) {
		atomic_store(&s->cancel, false);
		return DUET_ERR(DUET_E_CANCELED, "generation canceled after %llu tokens",
				(unsigned long long)s->st.tokens);
	}
	/* a full context ends generation; it is not an error here */
	if (st == DUET_E_RANGE)
		st = DUET_OK;
	return st;
}

duet_status duet_session_generate(duet_session *s, const char *prompt, uint32_t max_tokens,
				  duet_token_fn cb, void *user)
{
	size_t n;
	int32_t *ids;
	duet_status st = duet_tokenize_all(text_model(s), prompt, strlen(prompt), true,
					   false, &ids, &n);
	if (st == DUET_OK && n > UINT32_MAX)
		st = DUET_ERR(DUET_E_RANGE, "a prompt of %zu tokens", n);
	if (st == DUET_OK)
		st = duet_session_generate_ids(s, ids, (uint32_t)n, max_tokens, cb, user);
	free(ids);
	return st;
}
