/* duet-bench-cpu: prompt-processing and generation speed of the CPU
 * reference executor, as JSON (medians of several runs).
 *
 *   duet-bench-cpu [-m MODEL.gguf] [-p PROMPT_TOKENS] [-n GEN_TOKENS]
 *                  [-r RUNS] [-t THREADS]
 *
 * Without -m it writes and uses a synthetic llama model (dim 256, 4 layers,
 * ff 768, vocab 4096, q8_0). Compare builds by running both on the same
 * machine in one session; a single number means little on a shared host. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "duet/duet.h"
#include "synth.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int fail(const char *what)
{
	fprintf(stderr, "duet-bench-cpu: %s: %s\n", what, duet_last_error());
	return 1;
}

/* One run: a prompt of n_p tokens, then n_g single-token steps. */
static int one_run(duet_model *m, const duet_context_options *co, uint32_t n_vocab,
		   uint32_t n_p, uint32_t n_g, double *pp_tps, double *tg_tps)
{
	duet_context *c;
	const float *logits;
	if (duet_context_create(m, co, &c) != DUET_OK)
		return fail("context");
	int32_t *tok = malloc(n_p * sizeof *tok);
	for (uint32_t i = 0; i < n_p; i++)
		tok[i] = (int32_t)((i * 2654435761u) % n_vocab);
	double t0 = now_s();
	int rc = duet_context_eval(c, tok, n_p, false, &logits) != DUET_OK;
	double t1 = now_s();
	for (uint32_t i = 0; i < n_g && !rc; i++) {
		int32_t t = (int32_t)((i * 40503u + 7) % n_vocab);
		rc = duet_context_eval(c, &t, 1, false, &logits) != DUET_OK;
	}
	double t2 = now_s();
	free(tok);
	duet_context_destroy(c);
	if (rc)
		return fail("eval");
	*pp_tps = n_p / (t1 - t0);
	*tg_tps = n_g / (t2 - t1);
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	uint32_t n_p = 64, n_g = 32, runs = 5, threads = 0;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "-m")) path = argv[i + 1];
		else if (!strcmp(argv[i], "-p")) n_p = (uint32_t)atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "-n")) n_g = (uint32_t)atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "-r")) runs = (uint32_t)atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "-t")) threads = (uint32_t)atoi(argv[i + 1]);
	}
	if (!n_p || !runs || runs > 100) {
		fprintf(stderr, "usage: duet-bench-cpu [-m MODEL] [-p N>0] [-n N] "
				"[-r 1..100] [-t N]\n");
		return 2;
	}
	char synth_path[256];
	if (!path) {
		snprintf(synth_path, sizeof synth_path, "/tmp/duet-bench-%d.gguf", getpid());
		duet_synth_options o = { .arch = "llama", .dim = 256, .layers = 4,
					 .heads = 8, .kv_heads = 4, .ff = 768, .vocab = 4096,
					 .type = "q8_0", .seed = 1 };
		if (duet_synth_model(&o, synth_path) != DUET_OK)
			return fail("writing the synthetic model");
		path = synth_path;
	}
	duet_model *m;
	duet_status s = duet_model_load(path, NULL, &m);
	if (path == synth_path)
		remove(synth_path); /* the mapping stays valid */
	if (s != DUET_OK)
		return fail(path);
	duet_model_info info;
	duet_model_get_info(m, &info);
	duet_context_options co = { .n_ctx = n_p + n_g + 1, .n_threads = threads };
	double pp[100], tg[100];
	for (uint32_t r = 0; r < runs; r++)
		if (one_run(m, &co, info.n_vocab, n_p, n_g, &pp[r], &tg[r])) {
			duet_model_destroy(m);
			return 1;
		}
	printf("{\"bench\":\"cpu\",\"model\":\"%s\",\"arch\":\"%s\",\"n_params\":%llu,"
	       "\"threads\":%u,\"runs\":%u,\"pp_tokens\":%u,\"pp_tps_median\":%.2f,"
	       "\"tg_tokens\":%u,\"tg_tps_median\":%.2f}\n",
	       path == synth_path ? "synthetic-llama-256x4-q8_0" : path, info.arch,
	       (unsigned long long)info.n_params, threads, runs, n_p, median(pp, (int)runs),
	       n_g, median(tg, (int)runs));
	duet_model_destroy(m);
	return 0;
}
