/* Fault injection at every host allocation: links libduet's objects with
 * malloc, calloc, realloc and strdup wrapped (-Wl,--wrap=...), counts the
 * allocations of one whole scenario (load a model, tokenize, create a CPU
 * context, evaluate a prompt, sample, speculative decoding and the
 * cascade over two contexts, a runtime session), then runs it again once
 * per allocation with exactly that one failing. Every run must end with
 * an error status or, where the failure had a fallback, with the same
 * tokens as the clean run; none may crash. Leaks are left to
 * LeakSanitizer at exit (tools/test.sh runs this in the ASan build).
 * Outside Criterion: its runner allocates through the same wrappers.
 *
 *   fault_alloc LLM.gguf SLM.gguf [STRIDE]
 * STRIDE > 1 fails every STRIDE-th allocation only (quicker). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duet/duet.h"
#include "fault_verdict.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);

static uint64_t n_allocs, fail_at; /* fail_at 0: never */
static bool failed;

static bool fail_now(void)
{
	if (++n_allocs != fail_at)
		return false;
	failed = true;
	return true;
}

void *__wrap_malloc(size_t n)
{
	return fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return fail_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
	return fail_now() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
	return fail_now() ? NULL : __real_strdup(s);
}

enum { N_OUT = 24 };

typedef struct outcome {
	duet_status s;
	int32_t ids[N_OUT * 3];
	uint32_t n;
} outcome;

static bool keep(void *user, int32_t token, const char *text, size_t len,
		 duet_source src)
{
	outcome *o = user;
	(void)text, (void)len, (void)src;
	if (o->n < N_OUT * 3)
		o->ids[o->n++] = token;
	return true;
}

#define TRY(x)                      \
	do {                        \
		if ((s = (x)) != DUET_OK) \
			goto out;   \
	} while (0)

static void scenario(const char *llm, const char *slm, outcome *o)
{
	duet_model *m = NULL, *d = NULL;
	duet_context *c = NULL, *dc = NULL;
	duet_sampler *smp = NULL;
	duet_spec *sp = NULL;
	duet_cascade *cs = NULL;
	duet_runtime *rt = NULL;
	duet_session *ses = NULL;
	duet_status s;
	int32_t prompt[32], tok;
	size_t n_prompt;
	const float *l;
	memset(o, 0, sizeof *o);
	TRY(duet_model_load(llm, NULL, &m));
	TRY(duet_model_load(slm, NULL, &d));
	TRY(duet_tokenize(m, "It is a truth universally", 25, true, false, prompt, 32,
			  &n_prompt));
	duet_context_options co = { .n_ctx = 96, .n_batch = 8, .n_threads = 1,
				    .backend = DUET_BACKEND_CPU };
	TRY(duet_context_create(m, &co, &c));
	TRY(duet_context_create(d, &co, &dc));
	duet_sampler_params sp_p = { .temperature = 0.7f, .top_k = 40, .top_p = 0.9f,
				     .seed = 5, .repeat_penalty = 1.1f, .repeat_last_n = 16 };
	TRY(duet_sampler_create(&sp_p, &smp));
	TRY(duet_context_eval(c, prompt, (uint32_t)n_prompt, false, &l));
	duet_model_info mi;
	duet_model_get_info(m, &mi);
	for (int i = 0; i < 8; i++) {
		TRY(duet_sampler_sample(smp, l, mi.n_vocab, &tok));
		duet_sampler_accept(smp, tok);
		o->ids[o->n++] = tok;
		TRY(duet_context_eval(c, &tok, 1, false, &l));
	}
	/* speculative decoding, then the cascade, on the same contexts */
	duet_context_truncate(c, 0);
	TRY(duet_spec_create(c, dc, prompt, (uint32_t)n_prompt, NULL, &tok, &sp));
	o->ids[o->n++] = tok;
	while (o->n < 24) {
		int32_t buf[17];
		uint32_t got;
		TRY(duet_spec_step(sp, buf, 17, &got));
		for (uint32_t i = 0; i < got && o->n < N_OUT * 3; i++)
			o->ids[o->n++] = buf[i];
	}
	duet_context_truncate(c, 0);
	duet_context_truncate(dc, 0);
	duet_source src;
	TRY(duet_cascade_create(c, dc, prompt, (uint32_t)n_prompt, NULL, &tok, &src, &cs));
	for (int i = 0; i < 8; i++) {
		TRY(duet_cascade_step(cs, &tok, &src));
		o->ids[o->n++] = tok;
	}
	/* the runtime API */
	duet_runtime_options ro = { .llm_path = llm, .slm_path = slm,
				    .backend = DUET_BACKEND_CPU, .n_threads = 1 };
	TRY(duet_runtime_create(&ro, &rt));
	duet_session_options so = { .mode = DUET_MODE_CASCADE, .n_ctx = 64 };
	TRY(duet_session_open(rt, &so, &ses));
	TRY(duet_session_generate(ses, "It is", 8, keep, o));
out:
	o->s = s;
	duet_session_close(ses);
	duet_runtime_destroy(rt);
	duet_cascade_destroy(cs);
	duet_spec_destroy(sp);
	duet_sampler_destroy(smp);
	duet_context_destroy(dc);
	duet_context_destroy(c);
	duet_model_destroy(d);
	duet_model_destroy(m);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: fault_alloc LLM.gguf SLM.gguf [STRIDE]\n");
		return 2;
	}
	uint64_t stride = argc > 3 ? strtoull(argv[3], NULL, 10) : 1;
	if (!stride)
		stride = 1;
	outcome clean, o;
	n_allocs = 0;
	scenario(argv[1], argv[2], &clean);
	uint64_t total = n_allocs;
	if (clean.s != DUET_OK) {
		fprintf(stderr, "fault_alloc: the clean run failed: %s\n", duet_last_error());
		return 1;
	}
	fault_tally t = { .prog = "fault_alloc", .what = "allocation" };
	for (uint64_t k = 1; k <= total; k += stride) {
		n_allocs = 0;
		fail_at = k;
		failed = false;
		scenario(argv[1], argv[2], &o);
		fail_at = 0;
		if (failed) /* else the run took another path and allocated less */
			fault_judge(&t, k, o.s, o.ids, o.n, clean.ids, clean.n);
	}
	return fault_report(&t, total, stride);
}
