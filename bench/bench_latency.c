/* Interactive latency beside a background prefill, through the public API
 * alone: an interactive session generating with the SLM, alone and then
 * while a background session has the LLM prefill a long prompt over and
 * over; the per-token latency percentiles of the interactive session in
 * both, and (the baseline) the same with both sessions at one priority,
 * so turns go first come first served. Prints one JSON object.
 *
 *   duet-bench-latency -m LLM -md SLM [--backend cpu|vulkan]
 *                      [--slm-backend cpu|vulkan] [--prefill 2000] [-n 64]
 *                      [-r 5] [--chunk 64]
 *
 * Per-token latency: the time between two tokens' callbacks (the first
 * token, which includes the prompt, is left out). bg_prefill_tps counts
 * the background's forward passes (chunks of its prompt) in its time. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <duet/duet.h>

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

typedef struct lat {
	double *v;
	uint32_t n, cap;
	double last;
} lat;

static bool on_token(void *user, int32_t token, const char *text, size_t len,
		     duet_source src)
{
	lat *l = user;
	double t = now_ms();
	(void)token, (void)text, (void)len, (void)src;
	if (l->last > 0 && l->n < l->cap)
		l->v[l->n++] = t - l->last;
	l->last = t;
	return true;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double pct(double *v, uint32_t n, double p)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof *v, cmp_double);
	uint32_t i = (uint32_t)(p * (n - 1) + 0.5);
	return v[i];
}

typedef struct bg {
	duet_session *s;
	int32_t *ids;
	uint32_t n;
	atomic_bool stop;
	uint64_t done;       /* prompt tokens evaluated */
	double ms;
	duet_status st;
} bg;

static bool bg_token(void *user, int32_t token, const char *text, size_t len,
		     duet_source src)
{
	(void)user, (void)token, (void)text, (void)len, (void)src;
	return false;
}

static void *bg_main(void *arg)
{
	bg *b = arg;
	double t0 = now_ms();
	while (!atomic_load(&b->stop)) {
		duet_status s = duet_session_generate_ids(b->s, b->ids, b->n, 1, bg_token, NULL);
		if (s == DUET_E_CANCELED)
			break;
		if (s != DUET_OK) {
			b->st = s;
			break;
		}
		b->done += b->n;
	}
	b->ms = now_ms() - t0;
	return NULL;
}

typedef struct opts {
	const char *llm, *slm;
	duet_backend be, slm_be;
	uint32_t prefill, n_gen, reps, chunk;
} opts;

/* The interactive session's latencies over reps runs, with or without a
 * background prefill (bg_prio < 0: none). */
static duet_status measure(duet_runtime *rt, const opts *o, int bg_prio, lat *l,
			   double *bg_tps)
{
	duet_runtime_stats st0, st1;
	duet_runtime_get_stats(rt, &st0);
	duet_session_options io = { .mode = DUET_MODE_SLM, .n_ctx = 256,
				    .priority = DUET_PRIORITY_INTERACTIVE, .ignore_eog = true };
	if (bg_prio == DUET_PRIORITY_INTERACTIVE)
		io.priority = DUET_PRIORITY_NORMAL; /* the baseline: one priority */
	duet_session *is;
	duet_status s = duet_session_open(rt, &io, &is);
	if (s != DUET_OK)
		return s;
	bg b = { 0 };
	pthread_t th;
	if (bg_prio >= 0) {
		duet_session_options bo = { .mode = DUET_MODE_LLM, .n_ctx = o->prefill + 8,
					    .priority = bg_prio == DUET_PRIORITY_INTERACTIVE
							    ? DUET_PRIORITY_NORMAL
							    : (duet_priority)bg_prio };
		s = duet_session_open(rt, &bo, &b.s);
		b.ids = malloc(o->prefill * sizeof *b.ids);
		b.n = o->prefill;
		duet_model_info mi;
		duet_model_get_info(duet_runtime_model(rt, false), &mi);
		uint64_t x = 7;
		for (uint32_t i = 0; b.ids && i < o->prefill; i++) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			b.ids[i] = (int32_t)((x >> 33) % mi.n_vocab);
		}
		atomic_init(&b.stop, false);
		if (s == DUET_OK && b.ids)
			pthread_create(&th, NULL, bg_main, &b);
		/* let the prefill start */
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
	/* warm-up, then the measured runs (the first-come-first-served
	 * baseline: one, each of its tokens waits out a background chunk) */
	uint32_t reps = bg_prio == DUET_PRIORITY_INTERACTIVE ? 1 : o->reps;
	for (uint32_t r = 0; s == DUET_OK && r <= reps; r++) {
		lat one = { l->v + l->n, 0, l->cap - l->n, 0 };
		s = duet_session_generate(is, "It is a truth universally acknowledged",
					  o->n_gen, on_token, &one);
		if (r > 0)
			l->n += one.n;
	}
	if (bg_prio >= 0 && b.s && b.ids) {
		atomic_store(&b.stop, true);
		duet_session_cancel(b.s);
		pthread_join(th, NULL);
		/* the background's passes: chunks of its prompt */
		duet_runtime_get_stats(rt, &st1);
		uint32_t p = bg_prio == DUET_PRIORITY_INTERACTIVE ? DUET_PRIORITY_NORMAL
								  : (uint32_t)bg_prio;
		uint64_t turns = st1.turns[p] - st0.turns[p];
		if (p == DUET_PRIORITY_NORMAL) /* the interactive session's too */
			turns -= (uint64_t)(reps + 1) * o->n_gen;
		double toks = (double)turns * o->chunk;
		*bg_tps = b.ms > 0 ? toks / (b.ms / 1e3) : 0;
		if (s == DUET_OK && b.st != DUET_OK)
			s = b.st;
	}
	duet_session_close(b.s);
	free(b.ids);
	duet_session_close(is);
	return s;
}

static duet_backend backend(const char *v)
{
	return !strcmp(v, "cpu") ? DUET_BACKEND_CPU
	       : !strcmp(v, "vulkan") ? DUET_BACKEND_VULKAN : DUET_BACKEND_AUTO;
}

int main(int argc, char **argv)
{
	opts o = { .prefill = 2000, .n_gen = 64, .reps = 5, .chunk = 64 };
	for (int i = 1; i < argc; i += 2) { /* option, value */
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v) {
			fprintf(stderr, "duet-bench-latency: %s needs a value\n", a);
			return 2;
		}
		if (!strcmp(a, "-m")) o.llm = v;
		else if (!strcmp(a, "-md")) o.slm = v;
		else if (!strcmp(a, "--backend")) o.be = backend(v);
		else if (!strcmp(a, "--slm-backend")) o.slm_be = backend(v);
		else if (!strcmp(a, "--prefill")) o.prefill = (uint32_t)atoi(v);
		else if (!strcmp(a, "-n")) o.n_gen = (uint32_t)atoi(v);
		else if (!strcmp(a, "-r")) o.reps = (uint32_t)atoi(v);
		else if (!strcmp(a, "--chunk")) o.chunk = (uint32_t)atoi(v);
		else {
			fprintf(stderr, "duet-bench-latency: unknown option %s\n", a);
			return 2;
		}
	}
	if (!o.llm || !o.slm || o.n_gen < 2 || !o.reps || !o.prefill) {
		fprintf(stderr, "usage: duet-bench-latency -m LLM -md SLM [--backend B] "
			"[--slm-backend B] [--prefill N] [-n N] [-r N] [--chunk N]\n");
		return 2;
	}
	duet_runtime_options ro = { .llm_path = o.llm, .slm_path = o.slm, .backend = o.be,
				    .slm_backend = o.slm_be, .prefill_chunk = o.chunk };
	duet_runtime *rt;
	if (duet_runtime_create(&ro, &rt) != DUET_OK) {
		fprintf(stderr, "duet-bench-latency: %s\n", duet_last_error());
		return 1;
	}
	uint32_t cap = o.reps * o.n_gen;
	lat solo = { calloc(cap, sizeof(double)), 0, cap, 0 };
	lat prio = { calloc(cap, sizeof(double)), 0, cap, 0 };
	lat fifo = { calloc(cap, sizeof(double)), 0, cap, 0 };
	double prio_tps = 0, fifo_tps = 0, ignored;
	duet_status s = measure(rt, &o, -1, &solo, &ignored);
	if (s == DUET_OK)
		s = measure(rt, &o, DUET_PRIORITY_BACKGROUND, &prio, &prio_tps);
	if (s == DUET_OK)
		s = measure(rt, &o, DUET_PRIORITY_INTERACTIVE, &fifo, &fifo_tps);
	int rc = 0;
	if (s != DUET_OK) {
		fprintf(stderr, "duet-bench-latency: %s\n", duet_last_error());
		rc = 1;
	} else {
		double s50 = pct(solo.v, solo.n, 0.5), s95 = pct(solo.v, solo.n, 0.95);
		double p50 = pct(prio.v, prio.n, 0.5), p95 = pct(prio.v, prio.n, 0.95);
		double f50 = pct(fifo.v, fifo.n, 0.5), f95 = pct(fifo.v, fifo.n, 0.95);
		printf("{\"llm\": \"%s\", \"slm\": \"%s\", \"prefill_tokens\": %u, "
		       "\"chunk\": %u, \"n_gen\": %u, \"repetitions\": %u, "
		       "\"solo_p50_ms\": %.4f, \"solo_p95_ms\": %.4f, "
		       "\"with_bg_p50_ms\": %.4f, \"with_bg_p95_ms\": %.4f, "
		       "\"p95_ratio\": %.4f, \"bg_prefill_tps\": %.1f, "
		       "\"fifo_p50_ms\": %.4f, \"fifo_p95_ms\": %.4f, "
		       "\"fifo_p95_ratio\": %.4f, \"fifo_bg_prefill_tps\": %.1f, "
		       "\"samples\": %u}\n",
		       o.llm, o.slm, o.prefill, o.chunk, o.n_gen, o.reps, s50, s95, p50, p95,
		       s95 > 0 ? p95 / s95 : 0, prio_tps, f50, f95, s95 > 0 ? f95 / s95 : 0,
		       fifo_tps, solo.n);
	}
	free(solo.v);
	free(prio.v);
	free(fifo.v);
	duet_runtime_destroy(rt);
	return rc;
}
