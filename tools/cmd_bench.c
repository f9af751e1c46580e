/* duet bench: prompt-processing and generation speed like llama-bench,
 * with start-up figures (device, pipeline cache, pipelines, first token)
 * and, with --profile, per-kernel GPU time and a Chrome trace. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "weights.h"
#include "clock.h"
#include "simd.h"
#include "error.h"

#define CMD "bench"

static const char usage_text[] =
	"usage: duet bench -m FILE [options]\n"
	"  -m, --model FILE        GGUF model\n"
	"  -p, --n-prompt N        prompt tokens per pp test (default 128)\n"
	"  -n, --n-gen N           generated tokens per tg test (default 64)\n"
	"  -r, --repetitions N     runs of each test (default 5)\n"
	"  -b, --batch-size N      prompt tokens per forward pass (default 64)\n"
	"  -t, --threads N         CPU threads (cpu backend)\n"
	"  -md, --model-draft FILE with --mode spec or cascade: a draft model;\n"
	"                          tg is then greedy speculative decoding (or\n"
	"                          the cascade, duet run's defaults) of --text,\n"
	"                          beside -m alone on the same text\n"
	"                          (llm_alone_tg_tps)\n"
	"  --mode M                llm (default), spec or cascade\n"
	"  --text TEXT             prompt of those tests (default: an Austen\n"
	"                          opening)\n"
	"  --json                  one JSON object on stdout\n"
	"  --profile               per-kernel GPU time of one pp and one tg run\n"
	"  --trace FILE            write those kernels as a Chrome trace (Perfetto)\n";

typedef struct bench_opts {
	const char *model, *trace;
	uint32_t n_prompt, n_gen, reps;
	bool json;
	cli_backend be;
	duet_context_options co;
	const char *draft, *text;
	duet_mode mode;        /* llm, spec or cascade */
} bench_opts;

static bool parse(int argc, char **argv, bench_opts *o, int *rc)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		bool ok = true;
		if (cli_is(a, "-h", "--help")) {
			fputs(usage_text, stdout);
			fputs(cli_backend_usage, stdout);
			*rc = CLI_OK;
			return false;
		}
		if (cli_is(a, "--json", NULL)) {
			o->json = true;
			continue;
		}
		if (cli_is(a, "--profile", NULL)) {
			o->be.profile = true;
			continue;
		}
		int be = cli_backend_option(CMD, argc, argv, &i, &o->be);
		if (be < 0)
			goto usage;
		if (be > 0)
			continue;
		if (!cli_value(CMD, argc, argv, &i, &v))
			goto usage;
		if (cli_is(a, "-m", "--model"))
			o->model = v;
		else if (cli_is(a, "-md", "--model-draft") || cli_is(a, "--draft", NULL))
			o->draft = v;
		else if (cli_is(a, "--text", NULL))
			o->text = v;
		else if (cli_is(a, "--mode", NULL)) {
			static const duet_mode modes[] = { DUET_MODE_LLM, DUET_MODE_SPEC,
							   DUET_MODE_CASCADE };
			ok = cli_mode(CMD, v, modes, 3, &o->mode);
		}
		else if (cli_is(a, "--trace", NULL))
			o->trace = v, o->be.profile = true;
		else if (cli_is(a, "-p", "--n-prompt"))
			ok = cli_u32(CMD, a, v, 0, 1u << 20, &o->n_prompt);
		else if (cli_is(a, "-n", "--n-gen"))
			ok = cli_u32(CMD, a, v, 0, 1u << 20, &o->n_gen);
		else if (cli_is(a, "-r", "--repetitions"))
			ok = cli_u32(CMD, a, v, 1, 1000, &o->reps);
		else if (cli_is(a, "-b", "--batch-size"))
			ok = cli_u32(CMD, a, v, 1, 1u << 16, &o->co.n_batch);
		else if (cli_is(a, "-t", "--threads"))
			ok = cli_u32(CMD, a, v, 1, 256, &o->co.n_threads);

		else {
			cli_error(CMD, CLI_USAGE, "unknown option '%s' (see duet bench "
				  "--help)", a);
			goto usage;
		}
		if (!ok)
			goto usage;
	}
	if (!o->model) {
		cli_error(CMD, CLI_USAGE, "-m FILE is required");
		goto usage;
	}
	if ((o->mode != DUET_MODE_LLM) != !!o->draft) {
		cli_error(CMD, CLI_USAGE, "--mode spec or cascade and -md FILE go together");
		goto usage;
	}
	if (o->mode != DUET_MODE_LLM && o->n_gen < 2) {
		cli_error(CMD, CLI_USAGE, "--mode %s needs -n 2 or more",
			  cli_mode_name(o->mode));
		goto usage;
	}
	if (o->n_prompt == 0 && o->n_gen == 0) {
		cli_error(CMD, CLI_USAGE, "nothing to measure: -p and -n are both 0");
		goto usage;
	}
	return true;
usage: /* the error said what; --help gives the options */
	*rc = CLI_USAGE;
	return false;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

typedef struct stats {
	double median, min, max;
} stats;

static stats summarize(double *v, uint32_t n)
{
	stats s = { 0, 0, 0 };
	if (!n)
		return s;
	qsort(v, n, sizeof *v, cmp_double);
	s.min = v[0];
	s.max = v[n - 1];
	s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	return s;
}

/* One pp test: n_prompt tokens from an empty cache; returns tokens/s. */
static duet_status run_pp(duet_context *c, const int32_t *toks, uint32_t n,
			  double *tps)
{
	int32_t id;
	duet_context_truncate(c, 0);
	double t0 = duet_now_ms();
	duet_status s = duet_context_eval_greedy(c, toks, n, &id);
	*tps = n / ((duet_now_ms() - t0) / 1e3);
	return s;
}

/* One tg test: n single-token steps from an empty cache, each fed the
 * previous step's greedy token. */
static duet_status run_tg(duet_context *c, int32_t first, uint32_t n, double *tps)
{
	int32_t tok = first;
	duet_context_truncate(c, 0);
	double t0 = duet_now_ms();
	duet_status s = DUET_OK;
	for (uint32_t i = 0; i < n && s == DUET_OK; i++)
		s = duet_context_eval_greedy(c, &tok, 1, &tok);
	*tps = n / ((duet_now_ms() - t0) / 1e3);
	return s;
}

typedef struct profile {
	duet_kernel_time *k;
	uint32_t n;
} profile;

static duet_status capture(duet_context *c, profile *p)
{
	p->k = calloc(4096, sizeof *p->k);
	if (!p->k)
		return DUET_E_NOMEM;
	p->n = duet_context_kernel_times(c, p->k, 4096);
	if (p->n > 4096)
		p->n = 4096;
	return DUET_OK;
}

/* "l12.qkv" -> "qkv" */
static const char *kernel_kind(const char *label)
{
	const char *dot = label[0] == 'l' ? strchr(label, '.') : NULL;
	return dot ? dot + 1 : label;
}

static void print_profile(const char *what, const profile *p)
{
	const char *kinds[64];
	double us[64] = { 0 }, total = 0;
	uint32_t calls[64] = { 0 }, nk = 0;
	for (uint32_t i = 0; i < p->n; i++) {
		const char *k = kernel_kind(p->k[i].name);
		uint32_t j = 0;
		while (j < nk && strcmp(kinds[j], k))
			j++;
		if (j == nk && nk < 64)
			kinds[nk++] = k;
		if (j < 64) {
			us[j] += p->k[i].us;
			calls[j]++;
		}
		total += p->k[i].us;
	}
	fprintf(stderr, "duet bench: %s kernels (GPU time, one run): %.0f us\n",
		what, total);
	for (uint32_t j = 0; j < nk; j++)
		fprintf(stderr, "  %-14s %4u calls %10.1f us %5.1f%%\n", kinds[j],
			calls[j], us[j], total > 0 ? 100 * us[j] / total : 0);
}

static int write_trace(const char *path, const profile *pp, const profile *tg)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return cli_error(CMD, CLI_FAIL, "cannot write trace '%s'", path);
	fprintf(f, "{\"displayTimeUnit\": \"ms\", \"traceEvents\": [\n");
	const profile *ps[2] = { pp, tg };
	const char *names[2] = { "prompt", "generation" };
	bool first = true;
	for (int k = 0; k < 2; k++) {
		fprintf(f, "%s{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": 1, "
			"\"tid\": %d, \"args\": {\"name\": \"%s\"}}", first ? "" : ",\n",
			k + 1, names[k]);
		first = false;
		for (uint32_t i = 0; i < ps[k]->n; i++) {
			const duet_kernel_time *t = &ps[k]->k[i];
			fprintf(f, ",\n{\"name\": ");
			json_str(f, t->name, strlen(t->name));
			fprintf(f, ", \"cat\": \"kernel\", \"ph\": \"X\", \"pid\": 1, "
				"\"tid\": %d, \"ts\": %.3f, \"dur\": %.3f}", k + 1,
				t->start_us, t->us);
		}
	}
	fprintf(f, "\n]}\n");
	return fclose(f) == 0 ? CLI_OK : cli_error(CMD, CLI_FAIL, "cannot write "
						   "trace '%s'", path);
}

typedef struct result {
	stats pp, tg;
	stats spec_tg, alone_tg;   /* --mode spec or cascade, on --text */
	duet_spec_stats spec;      /* summed over the runs */
	duet_cascade_stats cas;    /* likewise */
	uint32_t llm_prefix;       /* cascade: leading tokens equal to -m alone's */
	double load_ms, first_pp_ms, first_tg_ms;
	double tg_s, arbiter_tg_s; /* generation time, the arbiter's share */
	profile prof_pp, prof_tg;
} result;

static duet_status measure(const bench_opts *o, duet_context *c, uint32_t n_vocab,
			   result *r)
{
	uint32_t np = o->n_prompt ? o->n_prompt : 1;
	int32_t *toks = malloc(np * sizeof *toks);
	double *pp = calloc(o->reps, sizeof *pp), *tg = calloc(o->reps, sizeof *tg);
	duet_status s = toks && pp && tg ? DUET_OK : DUET_E_NOMEM;
	uint64_t x = 42;
	for (uint32_t i = 0; s == DUET_OK && i < np; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		toks[i] = (int32_t)((x >> 33) % n_vocab);
	}
	/* warm-up, as llama-bench: the first run also compiles pipelines */
	double t0 = duet_now_ms(), tps;
	if (s == DUET_OK && o->n_prompt)
		s = run_pp(c, toks, o->n_prompt, &tps);
	r->first_pp_ms = duet_now_ms() - t0;
	t0 = duet_now_ms();
	if (s == DUET_OK && o->n_gen)
		s = run_tg(c, toks[0], 1, &tps);
	r->first_tg_ms = duet_now_ms() - t0;
	for (uint32_t i = 0; s == DUET_OK && i < o->reps && o->n_prompt; i++)
		s = run_pp(c, toks, o->n_prompt, &pp[i]);
	if (s == DUET_OK && o->be.profile && o->n_prompt)
		s = capture(c, &r->prof_pp);
	duet_kv_stats k0 = { 0 }, k1 = { 0 };
	if (o->co.kv_pool)
		duet_kv_pool_stats(o->co.kv_pool, &k0);
	for (uint32_t i = 0; s == DUET_OK && i < o->reps && o->n_gen; i++) {
		s = run_tg(c, toks[0], o->n_gen, &tg[i]);
		r->tg_s += s == DUET_OK && tg[i] > 0 ? o->n_gen / tg[i] : 0;
	}
	if (o->co.kv_pool) {
		duet_kv_pool_stats(o->co.kv_pool, &k1);
		r->arbiter_tg_s = k1.lock_s - k0.lock_s;
	}
	if (s == DUET_OK && o->be.profile && o->n_gen)
		s = capture(c, &r->prof_tg);
	r->pp = summarize(pp, o->n_prompt ? o->reps : 0);
	r->tg = summarize(tg, o->n_gen ? o->reps : 0);
	free(toks);
	free(pp);
	free(tg);
	return s;
}

/* One cascade run of n_gen tokens (the first from create) into toks. */
static duet_status run_cascade(duet_context *c, duet_context *d, const int32_t *prompt,
			       uint32_t n_prompt, uint32_t n_gen, int32_t *toks,
			       double *tps, duet_cascade_stats *st)
{
	duet_cascade *cs = NULL;
	duet_source src;
	duet_status s = duet_cascade_create(c, d, prompt, n_prompt, NULL, &toks[0], &src, &cs);
	double t0 = duet_now_s();
	for (uint32_t i = 1; s == DUET_OK && i < n_gen; i++)
		s = duet_cascade_step(cs, &toks[i], &src);
	*tps = (n_gen - 1) / (duet_now_s() - t0);
	if (cs)
		duet_cascade_get_stats(cs, st);
	duet_cascade_destroy(cs);
	return s;
}

/* --mode spec or cascade: per run, the target alone then speculative
 * decoding (or the cascade), all greedy over the same text prompt, n_gen
 * tokens; tokens/s after the first token (the prompt pass is not counted,
 * as in tg). */
static duet_status measure_collab(const bench_opts *o, duet_context *c, duet_context *d,
				  result *r)
{
	const char *text = o->text ? o->text : "It is a truth universally acknowledged, "
					       "that a single man in possession of a good "
					       "fortune, must be in want of a wife.";
	int32_t prompt[512], buf[17];
	size_t n_prompt;
	duet_status s = duet_tokenize(duet_context_model(c), text, strlen(text), true,
				      false, prompt, 512, &n_prompt);
	double *alone = calloc(o->reps + 1, sizeof *alone);
	double *spec = calloc(o->reps + 1, sizeof *spec);
	int32_t *want = calloc(o->n_gen, sizeof *want), *got = calloc(o->n_gen, sizeof *got);
	if (s == DUET_OK && (!alone || !spec || !want || !got))
		s = DUET_ERR(DUET_E_NOMEM, "out of memory");
	/* run 0 warms up (pipelines of the draft and the verification batch) */
	for (uint32_t run = 0; s == DUET_OK && run <= o->reps; run++) {
		int32_t tok;
		duet_context_truncate(c, 0);
		s = duet_context_eval_greedy(c, prompt, (uint32_t)n_prompt, &tok);
		want[0] = tok;
		double t0 = duet_now_s();
		for (uint32_t i = 1; s == DUET_OK && i < o->n_gen; i++) {
			s = duet_context_eval_greedy(c, &tok, 1, &tok);
			want[i] = tok;
		}
		alone[run] = (o->n_gen - 1) / (duet_now_s() - t0);
		duet_context_truncate(c, 0);
		duet_context_truncate(d, 0);
		if (s == DUET_OK && o->mode == DUET_MODE_CASCADE) {
			duet_cascade_stats st = { 0 };
			s = run_cascade(c, d, prompt, (uint32_t)n_prompt, o->n_gen, got,
					&spec[run], &st);
			if (run > 0) {
				r->cas.tokens += st.tokens;
				r->cas.slm_tokens += st.slm_tokens;
				r->cas.handovers += st.handovers;
				r->cas.llm_passes += st.llm_passes;
				r->cas.llm_evaluated += st.llm_evaluated;
			}
			uint32_t k = 0;
			while (k < o->n_gen && got[k] == want[k])
				k++;
			r->llm_prefix = k;
			continue;
		}
		duet_spec *sp = NULL;
		if (s == DUET_OK)
			s = duet_spec_create(c, d, prompt, (uint32_t)n_prompt, NULL, &tok, &sp);
		uint32_t made = 1, n;
		t0 = duet_now_s();
		while (s == DUET_OK && made < o->n_gen) {
			uint32_t cap = o->n_gen - made < 17 ? o->n_gen - made : 17;
			s = duet_spec_step(sp, buf, cap, &n);
			made += n;
		}
		spec[run] = (made - 1) / (duet_now_s() - t0);
		if (sp && run > 0) {
			duet_spec_stats st;
			duet_spec_get_stats(sp, &st);
			r->spec.drafted += st.drafted;
			r->spec.accepted += st.accepted;
			r->spec.llm_passes += st.llm_passes;
			r->spec.tokens += st.tokens;
		}
		duet_spec_destroy(sp);
	}
	if (s == DUET_OK) {
		r->alone_tg = summarize(alone + 1, o->reps);
		r->spec_tg = summarize(spec + 1, o->reps);
	}
	free(alone);
	free(spec);
	free(want);
	free(got);
	return s;
}

/* Bytes read per second of the reader's busy time, in GB/s (0: none). */
static double read_gbps(const duet_stream_stats *ss)
{
	return ss->read_busy_s > 0 ? (double)ss->bytes_read / ss->read_busy_s / 1e9 : 0;
}

static void print_json(const bench_opts *o, duet_model *m, duet_context *c,
		       const result *r)
{
	duet_model_info mi;
	duet_model_get_info(m, &mi);
	duet_device *dev = duet_context_device(c);
	duet_device_info di = { 0 };
	if (dev)
		duet_device_get_info(dev, &di);
	const char *device = dev ? di.name : "cpu";
	const char *driver = dev ? di.driver_info : "duet cpu reference";
	printf("{\"device\": ");
	json_str(stdout, device, strlen(device));
	printf(", \"driver\": ");
	json_str(stdout, driver, strlen(driver));
	printf(", \"backend\": \"%s\", \"kernels\": \"%s\", \"cpu_simd\": \"%s\", "
	       "\"model\": ", duet_backend_name(duet_context_backend(c)),
	       dev ? di.variant : "cpu", duet_cpu_simd());
	json_str(stdout, o->model, strlen(o->model));
	printf(", \"model_params\": %llu, \"model_bytes\": %llu, "
	       "\"n_prompt\": %u, \"n_gen\": %u, \"repetitions\": %u, "
	       "\"kv_type\": \"%s\"",
	       (unsigned long long)mi.n_params, (unsigned long long)mi.file_bytes,
	       o->n_prompt, o->n_gen, o->reps, duet_kv_type_name(o->co.kv_type));
	printf(", \"pp_tps\": ");
	json_num(stdout, r->pp.median);
	printf(", \"pp_tps_min\": ");
	json_num(stdout, r->pp.min);
	printf(", \"pp_tps_max\": ");
	json_num(stdout, r->pp.max);
	const stats *tg = o->mode != DUET_MODE_LLM ? &r->spec_tg : &r->tg;
	printf(", \"tg_tps\": ");
	json_num(stdout, tg->median);
	printf(", \"tg_tps_min\": ");
	json_num(stdout, tg->min);
	printf(", \"tg_tps_max\": ");
	json_num(stdout, tg->max);
	printf(", \"mode\": \"%s\"", cli_mode_name(o->mode));
	if (o->mode != DUET_MODE_LLM) {
		/* the draft, the LLM alone in the same run, and their ratio */
		bool cas = o->mode == DUET_MODE_CASCADE;
		const duet_cascade_stats *cs = &r->cas;
		const duet_spec_stats *sp = &r->spec;
		uint64_t toks = cas ? cs->tokens : sp->tokens;
		uint64_t passes = cas ? cs->llm_passes : sp->llm_passes;
		uint64_t by_slm = cas ? cs->slm_tokens : sp->accepted;
		printf(", \"draft\": ");
		json_str(stdout, o->draft, strlen(o->draft));
		printf(", \"llm_alone_tg_tps\": ");
		json_num(stdout, r->alone_tg.median);
		printf(", \"speedup\": ");
		json_num(stdout, r->alone_tg.median > 0 ? r->spec_tg.median / r->alone_tg.median : 0);
		printf(", \"accept_rate\": ");
		if (cas)
			printf("null");
		else
			json_num(stdout, sp->drafted ? (double)sp->accepted / (double)sp->drafted : 0);
		printf(", \"tokens_per_llm_pass\": ");
		json_num(stdout, passes ? (double)toks / (double)passes : 0);
		printf(", \"slm_token_share\": ");
		json_num(stdout, toks ? (double)by_slm / (double)toks : 0);
		if (cas)
			printf(", \"handovers\": %llu, \"llm_evaluated\": %llu, "
			       "\"llm_greedy_prefix\": %u",
			       (unsigned long long)cs->handovers,
			       (unsigned long long)cs->llm_evaluated, r->llm_prefix);
		printf(", \"random_tg_tps\": ");
		json_num(stdout, r->tg.median);
	}
	printf(", \"load_ms\": %.1f, \"first_pp_ms\": %.1f, \"first_tg_ms\": %.1f",
	       r->load_ms, r->first_pp_ms, r->first_tg_ms);
	if (dev)
		printf(", \"startup\": {\"device_ms\": %.1f, \"pipeline_cache\": "
		       "\"%s\", \"cache_load_ms\": %.1f, \"pipeline_ms\": %.1f, "
		       "\"pipelines\": %u}, \"validation_errors\": %llu",
		       di.device_ms, di.cache_state, di.cache_load_ms, di.pipeline_ms,
		       di.pipelines, (unsigned long long)di.validation_errors);
	duet_stream_stats ss;
	duet_model_stream_stats(m, &ss);
	printf(", \"io_backend\": ");
	if (ss.streamed_layers)
		json_str(stdout, ss.io, strlen(ss.io));
	else
		printf("null");
	printf(", \"mem_budget_bytes\": %llu, \"resident_bytes\": %llu, "
	       "\"streamed_bytes_per_token\": %llu, \"read_gbps\": ",
	       (unsigned long long)ss.mem_budget,
	       (unsigned long long)(ss.streamed_layers ? ss.resident_bytes + ss.ring_bytes
						       : mi.file_bytes),
	       (unsigned long long)ss.streamed_bytes_per_pass);
	json_num(stdout, read_gbps(&ss));
	printf(", \"read_cpu_s_per_gb\": ");
	json_num(stdout, ss.bytes_read ? ss.read_cpu_s / ((double)ss.bytes_read / 1e9) : 0);
	printf(", \"io_wait_s\": ");
	json_num(stdout, ss.wait_s);
	printf(", \"kv_pool\": ");
	if (o->co.kv_pool) {
		duet_kv_stats k;
		duet_kv_pool_stats(o->co.kv_pool, &k);
		printf("{\"pool_bytes\": %llu, \"page_bytes\": %llu, \"pages_total\": %u, "
		       "\"pages_used\": %u, \"pages_free\": %u, \"pages_shared\": %u, "
		       "\"waste_pct\": ", (unsigned long long)o->be.kv_pool_bytes,
		       (unsigned long long)k.page_bytes, k.pages_total, k.pages_used,
		       k.pages_free, k.pages_shared);
		json_num(stdout, k.waste_pct);
		printf(", \"preemptions\": %llu, \"swaps\": %llu, \"recomputes\": %llu, "
		       "\"arbiter_tg_s\": ", (unsigned long long)k.preemptions,
		       (unsigned long long)k.swaps, (unsigned long long)k.recomputes);
		json_num(stdout, r->arbiter_tg_s);
		printf(", \"tg_s\": ");
		json_num(stdout, r->tg_s);
		printf(", \"arbiter_pct_of_decode\": ");
		json_num(stdout, r->tg_s > 0 ? 100.0 * r->arbiter_tg_s / r->tg_s : 0);
		printf("}");
	} else {
		printf("null");
	}
	printf("}\n");
}

static void print_text(const bench_opts *o, duet_model *m, duet_context *c,
		       const result *r)
{
	char desc[400];
	printf("backend: %s; KV cache %s\n", cli_backend_desc(c, desc, sizeof desc),
	       duet_kv_type_name(o->co.kv_type));
	duet_stream_stats ss;
	duet_model_stream_stats(m, &ss);
	if (ss.streamed_layers)
		printf("weights: budget %.1f MiB, %u layers resident, %u streamed "
		       "(%.1f MiB per token) by %s; read %.2f GB/s, %.2f s waiting\n",
		       (double)ss.mem_budget / 1048576.0, ss.resident_layers,
		       ss.streamed_layers, (double)ss.streamed_bytes_per_pass / 1048576.0,
		       ss.io, read_gbps(&ss), ss.wait_s);
	printf("load %.1f ms, first pp %.1f ms, first tg %.1f ms (pipelines "
	       "compile on first use)\n", r->load_ms, r->first_pp_ms, r->first_tg_ms);
	if (o->n_prompt)
		printf("pp%-5u %10.2f t/s  (min %.2f, max %.2f, %u runs)\n", o->n_prompt,
		       r->pp.median, r->pp.min, r->pp.max, o->reps);
	if (o->n_gen)
		printf("tg%-5u %10.2f t/s  (min %.2f, max %.2f, %u runs)\n", o->n_gen,
		       r->tg.median, r->tg.min, r->tg.max, o->reps);
	if (o->mode == DUET_MODE_CASCADE)
		printf("cascade %9.2f t/s against %.2f t/s alone on the same text: "
		       "x%.2f; %.1f%% of tokens by the draft, %llu handovers, the first "
		       "%u tokens as -m alone\n", r->spec_tg.median, r->alone_tg.median,
		       r->alone_tg.median > 0 ? r->spec_tg.median / r->alone_tg.median : 0,
		       r->cas.tokens ? 100.0 * (double)r->cas.slm_tokens / (double)r->cas.tokens : 0,
		       (unsigned long long)r->cas.handovers, r->llm_prefix);
	if (o->mode == DUET_MODE_SPEC)
		printf("spec   %10.2f t/s against %.2f t/s alone on the same text: "
		       "x%.2f; %.1f%% of drafts accepted, %.2f tokens per target pass\n",
		       r->spec_tg.median, r->alone_tg.median,
		       r->alone_tg.median > 0 ? r->spec_tg.median / r->alone_tg.median : 0,
		       r->spec.drafted ? 100.0 * (double)r->spec.accepted / (double)r->spec.drafted : 0,
		       r->spec.llm_passes ? (double)r->spec.tokens / (double)r->spec.llm_passes : 0);
}

int cmd_bench(int argc, char **argv)
{
	bench_opts o = { .n_prompt = 128, .n_gen = 64, .reps = 5 };
	int rc = CLI_OK;
	if (!parse(argc, argv, &o, &rc))
		return rc;
	double t0 = duet_now_ms();
	duet_model *m;
	duet_status s = duet_model_load(o.model, &o.be.mo, &m);
	if (s != DUET_OK)
		return cli_fail(CMD, s);
	duet_device *dev;
	duet_context *c;
	if ((rc = cli_context(CMD, m, &o.be, &o.co, &dev, &c)) != CLI_OK) {
		duet_model_destroy(m);
		return rc;
	}
	result r = { .load_ms = duet_now_ms() - t0 };
	duet_model_info mi;
	duet_model_get_info(m, &mi);
	duet_model *dm = NULL;
	duet_context *dctx = NULL;
	if (o.mode != DUET_MODE_LLM)
		s = cli_draft_context(&o.be, &o.co, c, dev, o.draft, &dm, &dctx);
	if (s == DUET_OK)
		s = measure(&o, c, mi.n_vocab, &r);
	if (s == DUET_OK && o.mode != DUET_MODE_LLM)
		s = measure_collab(&o, c, dctx, &r);
	if (s != DUET_OK) {
		rc = cli_fail(CMD, s);
	} else {
		if (o.json)
			print_json(&o, m, c, &r);
		else
			print_text(&o, m, c, &r);
		if (o.be.profile && r.prof_pp.n)
			print_profile("pp", &r.prof_pp);
		if (o.be.profile && r.prof_tg.n)
			print_profile("tg", &r.prof_tg);
		if (o.be.profile && !r.prof_pp.n && !r.prof_tg.n)
			fprintf(stderr, "duet bench: no kernel times (the cpu backend "
				"or a device without timestamps)\n");
		if (o.trace)
			rc = write_trace(o.trace, &r.prof_pp, &r.prof_tg);
	}
	free(r.prof_pp.k);
	free(r.prof_tg.k);
	duet_context_destroy(dctx);
	duet_model_destroy(dm);
	rc = cli_context_close(CMD, c, dev, rc);
	duet_model_destroy(m);
	return rc;
}
