/* SLM+LLM collaboration (runtime/collab): speculative sampling keeps the
 * target's distribution, for the decision step alone (chi-square against
 * p over 200,000 draws, with the uncorrected draft as the control that
 * must fail) and end to end on a small pair of synthetic models (the
 * second token's distribution under speculative decoding against plain
 * sampling of the target, a two-sample chi-square). */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch.h"
#include "collab.h"
#include "pick.h"
#include "scheduler.h"
#include "duet/duet.h"
#include "models.h"

static uint64_t rng = 12345;

static double u01(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (double)(rng >> 11) * (1.0 / 9007199254740992.0);
}

static double chi2(const double *obs, const double *expect, int n)
{
	double x = 0;
	for (int i = 0; i < n; i++)
		x += (obs[i] - expect[i]) * (obs[i] - expect[i]) / expect[i];
	return x;
}

Test(collab, rejection_step_keeps_the_target_distribution)
{
	/* p and q disagree everywhere, q even puts mass where p has little */
	const float p[8] = { 0.30f, 0.20f, 0.15f, 0.10f, 0.10f, 0.08f, 0.05f, 0.02f };
	const float q[8] = { 0.05f, 0.10f, 0.05f, 0.30f, 0.20f, 0.05f, 0.05f, 0.20f };
	double got[8] = { 0 }, raw[8] = { 0 }, want[8];
	const int N = 200000;
	int kept = 0;
	for (int t = 0; t < N; t++) {
		int32_t d = duet_spec_draw(q, 8, u01());
		bool acc;
		int32_t y = duet_spec_resolve(p, q, 8, d, u01(), u01(), &acc);
		cr_assert(y >= 0 && y < 8);
		got[y]++;
		raw[d]++;
		kept += acc;
	}
	for (int i = 0; i < 8; i++)
		want[i] = p[i] * N;
	/* 7 degrees of freedom: 24.32 at p = 0.001 */
	double x = chi2(got, want, 8), xr = chi2(raw, want, 8);
	cr_log_info("chi-square %.2f (draft alone %.0f), %.1f%% of drafts kept", x, xr,
		    100.0 * kept / N);
	cr_assert_lt(x, 24.32, "speculative sampling drifts from p: chi-square %.2f", x);
	cr_assert_gt(xr, 1000, "the control should fail: %.2f", xr);
	/* the acceptance rate is sum min(p, q) */
	double overlap = 0;
	for (int i = 0; i < 8; i++)
		overlap += p[i] < q[i] ? p[i] : q[i];
	cr_assert_lt(fabs((double)kept / N - overlap), 0.01);
}

Test(collab, probabilities_and_draws)
{
	const float l[4] = { 1.0f, 2.0f, 3.0f, -1e30f };
	float pr[4];
	duet_spec_probs(l, 4, 1.0f, pr);
	double e = exp(1) + exp(2) + exp(3);
	cr_assert_float_eq(pr[2], exp(3) / e, 1e-6);
	cr_assert_float_eq(pr[3], 0.0, 1e-12);
	cr_assert_eq(duet_spec_draw(pr, 4, 0.0), 0);
	cr_assert_eq(duet_spec_draw(pr, 4, 0.999999), 2, "never the zero-probability token");
}

static char tgt_path[512], dft_path[512];

static void make_pair(void)
{
	duet_synth_options t = { .arch = "llama", .dim = 64, .layers = 2, .heads = 4,
				 .kv_heads = 2, .ff = 128, .vocab = 300, .type = "f32",
				 .seed = 21 };
	duet_synth_options d = t;
	d.layers = 1;
	d.seed = 22;
	make_model(&t, "spec-tgt", tgt_path, sizeof tgt_path);
	make_model(&d, "spec-dft", dft_path, sizeof dft_path);
}

/* The second generated token of speculative decoding with the draft
 * (2,000 seeds) against the target's exact distribution of it (sum over
 * the first token t1 of p(t1) p(. | t1), from the target's logits, same
 * temperature): a chi-square goodness of fit over the 12 most likely
 * tokens and the rest. (Exact rather than sampled: the target's side adds
 * no noise, and the test stays within its time under ASan.) */
/* Greedy speculation picks the draft length with the most tokens per
 * second from what it measured: none where a target pass costs as much per
 * token as decoding (a compute-bound device), the best k where passes are
 * nearly flat (a memory-bound GPU); it measures a plain step and a drafting
 * round before it compares, and it tells when not even an always-right draft
 * could pay (then greedy speculation stops feeding the draft). */
static void flat_passes(duet_spec_cost *c, bool every)
{
	memset(c, 0, sizeof *c);
	for (uint32_t n = 1; n <= DUET_SPEC_MAX_K + 1; n++) {
		c->pass_s[n] = 1e-3 + 5e-5 * (n - 1);
		c->have_pass[n] = every || n == 1 || n == 5;
	}
	c->draft_s = 1e-4;
	c->have_draft = true;
	c->accept = 0.7;
	c->have_accept = true;
}

Test(collab, greedy_draft_length_follows_the_measured_costs)
{
	duet_spec_cost c;
	/* rates for a = 0.7, draft 0.1 ms, pass 1 + 0.05 (n - 1) ms: k = 2, 3, 4
	 * give 1.685, 1.747, 1.733 tokens/ms; 3 is best */
	flat_passes(&c, true);
	cr_expect_eq(duet_spec_choose_k(&c, 8, 4), 3);
	cr_expect_eq(duet_spec_choose_k(&c, 2, 4), 2, "bounded by k_max");
	flat_passes(&c, false); /* only n = 1 and 5 measured: the line between */
	cr_expect_eq(duet_spec_choose_k(&c, 8, 4), 3);
	/* noisy measurements (3 tokens cheaper than 2) are not extrapolated
	 * downhill: passes beyond 3 cost what 3 did, so k = 4 (a longer draft
	 * must gain 2% to be taken: k = 5 gives 1.471 tokens/ms against k = 4's
	 * 1.460); a falling line would make 9-token passes cheapest, k = 8 */
	memset(c.have_pass, 0, sizeof c.have_pass);
	c.pass_s[1] = 1.0e-3, c.pass_s[2] = 1.6e-3, c.pass_s[3] = 1.5e-3;
	c.have_pass[1] = c.have_pass[2] = c.have_pass[3] = true;
	cr_expect_eq(duet_spec_choose_k(&c, 8, 4), 4);
	/* compute-bound: each token of a pass costs a decode step */
	for (uint32_t n = 1; n <= DUET_SPEC_MAX_K + 1; n++)
		c.pass_s[n] = 1e-3 * n;
	c.accept = 0.95;
	cr_expect_eq(duet_spec_choose_k(&c, 8, 4), 0, "drafting cannot pay");
	cr_expect_not(duet_spec_can_pay(&c, 8, 1.0), "not even with a perfect draft");
	c.draft_s = 0;
	cr_expect_not(duet_spec_can_pay(&c, 8, 1.0), "not even with a free, perfect draft");
	/* a perfect, free draft still pays on flat passes */
	flat_passes(&c, true);
	c.accept = 1.0;
	c.draft_s = 0;
	cr_expect_eq(duet_spec_choose_k(&c, 8, 4), 8);
	cr_expect(duet_spec_can_pay(&c, 8, 1.0));
	cr_expect_not(duet_spec_can_pay(&c, 8, 0.05), "a draft that is never right");
	/* nothing measured: a plain step first, then a drafting round */
	memset(&c, 0, sizeof c);
	cr_expect_eq(duet_spec_choose_k(&c, 8, 4), 0);
	cr_expect(duet_spec_can_pay(&c, 8, 0.0), "unknown: keep trying");
	c.pass_s[1] = 1e-3;
	c.have_pass[1] = true;
	cr_expect_eq(duet_spec_choose_k(&c, 8, 4), 4);
}

/* The accept share that the draft length is chosen from is the chance of
 * keeping a draft given the ones before were kept: rounds of four drafts,
 * each kept with chance 0.55 until the first refusal (a fixed-seed
 * generator), read about 0.55, where kept / drafted reads about 0.27. */
Test(collab, accept_share_counts_only_the_drafts_the_target_judged)
{
	duet_spec_cost c;
	memset(&c, 0, sizeof c);
	duet_spec_count_round(&c, 0, 0);
	cr_expect_not(c.have_accept, "a plain step judges no draft");
	uint64_t seed = 42, drafted = 0;
	for (int r = 0; r < 2000; r++) {
		uint32_t j = 0;
		while (j < 4 && duet_uniform(&seed) < 0.55)
			j++;
		duet_spec_count_round(&c, 4, j);
		drafted += 4;
	}
	cr_assert(c.have_accept);
	cr_expect(fabs(c.accept - 0.55) < 0.02, "accept share %f, not 0.55", c.accept);
	double naive = (double)c.kept / (double)drafted;
	cr_expect(naive < 0.35, "kept / drafted %f", naive);
	/* exact counts: 3 kept of 4 judged; 4 of 4; 0 of 1 */
	memset(&c, 0, sizeof c);
	duet_spec_count_round(&c, 4, 3);
	duet_spec_count_round(&c, 4, 4);
	duet_spec_count_round(&c, 2, 0);
	cr_expect_eq(c.kept, 7);
	cr_expect_eq(c.judged, 9);
	cr_expect_float_eq(c.accept, 8.0 / 11.0, 1e-12);
}

Test(collab, speculative_sampling_end_to_end_matches_the_target, .init = make_pair,
     .timeout = 120)
{
	duet_model *tm, *dm;
	cr_assert_eq(duet_model_load(tgt_path, NULL, &tm), DUET_OK, "%s", duet_last_error());
	cr_assert_eq(duet_model_load(dft_path, NULL, &dm), DUET_OK, "%s", duet_last_error());
	cr_assert_eq(duet_models_check_pair(tm, dm), DUET_OK, "%s", duet_last_error());
	duet_context_options co = { .n_ctx = 32, .n_batch = 8, .backend = DUET_BACKEND_CPU,
				    .n_threads = 1 };
	duet_context *tc, *dc;
	cr_assert_eq(duet_context_create(tm, &co, &tc), DUET_OK);
	cr_assert_eq(duet_context_create(dm, &co, &dc), DUET_OK);
	const int32_t prompt[4] = { 1, 40, 41, 42 };
	const float T = 1.5f;
	const int N = 2000;
	static double exact[300], spec[300];
	float p1[300], p2[300];
	const float *l;
	cr_assert_eq(duet_context_eval(tc, prompt, 4, false, &l), DUET_OK);
	duet_spec_probs(l, 300, T, p1);
	for (int32_t t1 = 0; t1 < 300; t1++) {
		if (p1[t1] <= 0)
			continue;
		duet_context_truncate(tc, 4);
		cr_assert_eq(duet_context_eval(tc, &t1, 1, false, &l), DUET_OK);
		duet_spec_probs(l, 300, T, p2);
		for (int v = 0; v < 300; v++)
			exact[v] += (double)p1[t1] * p2[v];
	}
	uint64_t accepted = 0, drafted = 0;
	for (int s = 0; s < N; s++) {
		duet_context_truncate(tc, 0);
		duet_context_truncate(dc, 0);
		duet_spec_params prm = { .k = 3, .temperature = T, .seed = 1000003ull * (uint64_t)s };
		duet_spec *sp;
		int32_t first, out[4];
		uint32_t n;
		cr_assert_eq(duet_spec_create(tc, dc, prompt, 4, &prm, &first, &sp), DUET_OK,
			     "%s", duet_last_error());
		cr_assert_eq(duet_spec_step(sp, out, 4, &n), DUET_OK);
		cr_assert_geq(n, 1);
		spec[out[0]]++;
		duet_spec_stats st;
		duet_spec_get_stats(sp, &st);
		accepted += st.accepted;
		drafted += st.drafted;
		duet_spec_destroy(sp);
	}
	/* the 12 most likely tokens and the rest */
	double e[13] = { 0 }, o[13] = { 0 };
	bool used[300] = { false };
	for (int c = 0; c < 12; c++) {
		int best = -1;
		for (int v = 0; v < 300; v++)
			if (!used[v] && (best < 0 || exact[v] > exact[best]))
				best = v;
		used[best] = true;
		e[c] = N * exact[best];
		o[c] = spec[best];
	}
	for (int v = 0; v < 300; v++)
		if (!used[v]) {
			e[12] += N * exact[v];
			o[12] += spec[v];
		}
	double x = 0;
	for (int c = 0; c < 13; c++) {
		cr_assert_gt(e[c], 5, "category %d expects %.1f draws: too few for chi-square",
			     c, e[c]);
		x += (o[c] - e[c]) * (o[c] - e[c]) / e[c];
	}
	/* 12 degrees of freedom: 32.91 at p = 0.001 */
	cr_log_info("chi-square %.2f against the exact distribution; %llu of %llu "
		    "drafts kept", x, (unsigned long long)accepted,
		    (unsigned long long)drafted);
	cr_assert_lt(x, 32.91, "speculative sampling changes the distribution: %.2f", x);
	cr_assert_gt(drafted, 0);
	duet_context_destroy(tc);
	duet_context_destroy(dc);
	duet_model_destroy(tm);
	duet_model_destroy(dm);
}

/* ---- cascade ---------------------------------------------------------------- */

typedef struct pair {
	duet_model *tm, *dm;
	duet_context *tc, *dc;
} pair;

static uint32_t n_vocab = 300;

static void open_files(pair *p, uint32_t n_ctx, const char *tgt, const char *dft)
{
	cr_assert_eq(duet_model_load(tgt, NULL, &p->tm), DUET_OK, "%s", duet_last_error());
	cr_assert_eq(duet_model_load(dft, NULL, &p->dm), DUET_OK, "%s", duet_last_error());
	duet_model_info mi;
	duet_model_get_info(p->tm, &mi);
	n_vocab = mi.n_vocab;
	duet_context_options co = { .n_ctx = n_ctx, .n_batch = 8,
				    .backend = DUET_BACKEND_CPU, .n_threads = 1 };
	cr_assert_eq(duet_context_create(p->tm, &co, &p->tc), DUET_OK);
	cr_assert_eq(duet_context_create(p->dm, &co, &p->dc), DUET_OK);
}

static void open_pair(pair *p, uint32_t n_ctx)
{
	open_files(p, n_ctx, tgt_path, dft_path);
}

/* The trained demo pair: unlike random models, its SLM is sure of some
 * tokens and unsure of others. */
static void open_demo_pair(pair *p, uint32_t n_ctx)
{
	char t[512], d[512];
	snprintf(t, sizeof t, "%s/models/austen-llm-q8_0.gguf", DUET_SRC_DIR);
	snprintf(d, sizeof d, "%s/models/austen-slm-q8_0.gguf", DUET_SRC_DIR);
	open_files(p, n_ctx, t, d);
}

static void close_pair(pair *p)
{
	duet_context_destroy(p->tc);
	duet_context_destroy(p->dc);
	duet_model_destroy(p->tm);
	duet_model_destroy(p->dm);
}

enum { N_GEN = 40 };

/* Runs a greedy cascade of N_GEN tokens after prompt. */
static void cascade_run(pair *p, const int32_t *prompt, uint32_t n, float threshold,
			uint32_t window, uint32_t span, int32_t *toks, duet_source *src,
			duet_cascade_stats *st)
{
	duet_context_truncate(p->tc, 0);
	duet_context_truncate(p->dc, 0);
	duet_cascade_params prm = { .threshold = threshold, .window = window,
				    .llm_span = span };
	duet_cascade *cs;
	cr_assert_eq(duet_cascade_create(p->tc, p->dc, prompt, n, &prm, &toks[0], &src[0],
					 &cs), DUET_OK, "%s", duet_last_error());
	for (int i = 1; i < N_GEN; i++)
		cr_assert_eq(duet_cascade_step(cs, &toks[i], &src[i]), DUET_OK, "%s",
			     duet_last_error());
	duet_cascade_get_stats(cs, st);
	duet_cascade_destroy(cs);
}

/* Teacher-forced greedy ids of c over prompt + toks: want[i] is the
 * model's argmax for position i of toks. */
static void forced_argmax_margin(duet_context *c, const int32_t *prompt, uint32_t n,
				 const int32_t *toks, int32_t *want, float *margin)
{
	int32_t seq[128];
	memcpy(seq, prompt, n * sizeof *seq);
	memcpy(seq + n, toks, (N_GEN - 1) * sizeof *seq);
	duet_context_truncate(c, 0);
	const float *l;
	cr_assert_eq(duet_context_eval(c, seq, n + N_GEN - 1, true, &l), DUET_OK);
	for (int i = 0; i < N_GEN; i++) {
		const float *row = l + (uint64_t)(n - 1 + i) * n_vocab;
		want[i] = duet_argmax(row, n_vocab);
		if (margin) {
			float *pr = malloc(n_vocab * sizeof *pr), a = 0, b = 0;
			duet_spec_probs(row, n_vocab, 1.0f, pr);
			for (uint32_t v = 0; v < n_vocab; v++) {
				if (pr[v] > a) {
					b = a;
					a = pr[v];
				} else if (pr[v] > b) {
					b = pr[v];
				}
			}
			margin[i] = a - b;
			free(pr);
		}
	}
}

static void forced_argmax(duet_context *c, const int32_t *prompt, uint32_t n,
			  const int32_t *toks, int32_t *want)
{
	forced_argmax_margin(c, prompt, n, toks, want, NULL);
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

/* Every token is the greedy choice of the model the cascade says wrote
 * it, given all tokens before it: the LLM, catching up on the SLM's spans
 * (and the SLM on the LLM's), sees exactly the text so far. */
Test(collab, cascade_tokens_come_from_the_model_named, .timeout = 60)
{
	pair p;
	open_demo_pair(&p, 96);
	int32_t prompt[16];
	size_t n_prompt;
	const char *text = "It is a truth universally";
	cr_assert_eq(duet_tokenize(p.tm, text, strlen(text), true, false, prompt, 16,
				   &n_prompt), DUET_OK);
	uint32_t np = (uint32_t)n_prompt;
	int32_t toks[N_GEN], by_llm[N_GEN], by_slm[N_GEN];
	duet_source src[N_GEN];
	duet_cascade_stats st;
	/* thresholds where both models write: quartiles of the SLM's margins
	 * on its own greedy text */
	float margins[N_GEN], thresholds[3];
	cascade_run(&p, prompt, np, 1e-9f, 1, 3, toks, src, &st);
	forced_argmax_margin(p.dc, prompt, np, toks, by_slm, margins);
	qsort(margins, N_GEN, sizeof *margins, cmp_float);
	for (int k = 0; k < 3; k++)
		thresholds[k] = margins[N_GEN * (k + 1) / 4];
	bool mixed = false;
	for (int k = 0; k < 3; k++) {
		cascade_run(&p, prompt, np, thresholds[k], 2, 3, toks, src, &st);
		forced_argmax(p.tc, prompt, np, toks, by_llm);
		forced_argmax(p.dc, prompt, np, toks, by_slm);
		uint32_t slm = 0;
		for (int i = 0; i < N_GEN; i++) {
			int32_t want = src[i] == DUET_SOURCE_LLM ? by_llm[i] : by_slm[i];
			cr_assert_eq(toks[i], want, "threshold %.4f token %d (%s): %d, want %d",
				     (double)thresholds[k], i,
				     src[i] == DUET_SOURCE_LLM ? "llm" : "slm", toks[i], want);
			slm += src[i] == DUET_SOURCE_SLM;
		}
		cr_assert_eq(st.tokens, N_GEN);
		cr_assert_eq(st.slm_tokens, slm);
		cr_assert_eq(st.llm_passes, N_GEN - slm, "one LLM pass per LLM token");
		mixed |= slm > 0 && slm < N_GEN && st.handovers > 1;
		cr_log_info("threshold %.4f: %u of %d tokens by the SLM, %llu handovers",
			    (double)thresholds[k], slm, N_GEN,
			    (unsigned long long)st.handovers);
	}
	cr_assert(mixed, "no threshold gave both models turns");
	close_pair(&p);
}

/* At the extremes the cascade is one model alone: a threshold no margin
 * reaches gives the LLM's greedy output, one every margin reaches the
 * SLM's, with no LLM pass at all. */
Test(collab, cascade_extremes_are_one_model, .init = make_pair, .timeout = 60)
{
	pair p;
	open_pair(&p, 64);
	const int32_t prompt[3] = { 1, 7, 9 };
	int32_t toks[N_GEN], want[N_GEN];
	duet_source src[N_GEN];
	duet_cascade_stats st;
	cascade_run(&p, prompt, 3, 1.0f, 1, 5, toks, src, &st);
	forced_argmax(p.tc, prompt, 3, toks, want);
	for (int i = 0; i < N_GEN; i++) {
		cr_assert_eq(src[i], DUET_SOURCE_LLM, "token %d", i);
		cr_assert_eq(toks[i], want[i], "token %d", i);
	}
	cr_assert_eq(st.slm_tokens, 0);
	cascade_run(&p, prompt, 3, 1e-9f, 1, 5, toks, src, &st);
	forced_argmax(p.dc, prompt, 3, toks, want);
	for (int i = 0; i < N_GEN; i++) {
		cr_assert_eq(src[i], DUET_SOURCE_SLM, "token %d", i);
		cr_assert_eq(toks[i], want[i], "token %d", i);
	}
	cr_assert_eq(st.llm_passes, 0);
	cr_assert_eq(duet_context_n_past(p.tc), 0, "the LLM never saw the prompt");
	close_pair(&p);
}

Test(collab, cascade_rejects_bad_parameters_and_pairs, .init = make_pair)
{
	pair p;
	open_pair(&p, 64);
	const int32_t prompt[2] = { 1, 5 };
	int32_t tok;
	duet_source src;
	duet_cascade *cs = NULL;
	duet_cascade_params bad[] = {
		{ .threshold = 1.5f }, { .threshold = -0.5f }, { .window = 65 },
		{ .metric = (duet_confidence)7 }, { .temperature = -1.0f },
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		cr_assert_eq(duet_cascade_create(p.tc, p.dc, prompt, 2, &bad[i], &tok, &src,
						 &cs), DUET_E_INVAL, "case %zu", i);
		cr_assert_null(cs);
		cr_assert_eq(duet_context_n_past(p.dc), 0, "case %zu left state", i);
	}
	cr_assert_eq(duet_cascade_create(p.tc, p.dc, prompt, 0, NULL, &tok, &src, &cs),
		     DUET_E_INVAL);
	/* a model of another vocabulary */
	duet_synth_options o = { .arch = "llama", .dim = 64, .layers = 1, .heads = 4,
				 .kv_heads = 2, .ff = 128, .vocab = 301, .type = "f32",
				 .seed = 23 };
	char other[512];
	make_model(&o, "spec-other", other, sizeof other);
	duet_model *om;
	cr_assert_eq(duet_model_load(other, NULL, &om), DUET_OK);
	duet_context *oc;
	duet_context_options co = { .n_ctx = 16, .backend = DUET_BACKEND_CPU };
	cr_assert_eq(duet_context_create(om, &co, &oc), DUET_OK);
	cr_assert_eq(duet_cascade_create(p.tc, oc, prompt, 2, NULL, &tok, &src, &cs),
		     DUET_E_INVAL);
	cr_assert(strstr(duet_last_error(), "vocabulary"), "%s", duet_last_error());
	/* the entropy metric runs too */
	duet_cascade_params ent = { .metric = DUET_CONF_ENTROPY };
	cr_assert_eq(duet_cascade_create(p.tc, p.dc, prompt, 2, &ent, &tok, &src, &cs),
		     DUET_OK, "%s", duet_last_error());
	for (int i = 0; i < 10; i++)
		cr_assert_eq(duet_cascade_step(cs, &tok, &src), DUET_OK);
	duet_cascade_destroy(cs);
	duet_context_destroy(oc);
	duet_model_destroy(om);
	close_pair(&p);
}

/* ---- the runtime and its sessions ----------------------------------------- */

typedef struct collected {
	int32_t ids[256];
	duet_source src[256];
	uint32_t n, stop_after;
	duet_session *cancel;  /* canceled from the callback's thread at stop_after */
} collected;

static bool collect(void *user, int32_t token, const char *text, size_t len,
		    duet_source src)
{
	collected *c = user;
	(void)text, (void)len;
	c->src[c->n] = src;
	c->ids[c->n++] = token;
	if (c->cancel && c->n == c->stop_after)
		duet_session_cancel(c->cancel);
	return c->cancel || !c->stop_after || c->n < c->stop_after;
}

static duet_runtime *demo_runtime(void)
{
	char t[512], d[512];
	snprintf(t, sizeof t, "%s/models/austen-llm-q8_0.gguf", DUET_SRC_DIR);
	snprintf(d, sizeof d, "%s/models/austen-slm-q8_0.gguf", DUET_SRC_DIR);
	duet_runtime_options ro = { .llm_path = t, .slm_path = d,
				    .backend = DUET_BACKEND_CPU, .n_threads = 1 };
	duet_runtime *rt;
	cr_assert_eq(duet_runtime_create(&ro, &rt), DUET_OK, "%s", duet_last_error());
	return rt;
}

static void generate_mode(duet_runtime *rt, duet_mode mode, collected *c)
{
	duet_session_options so = { .mode = mode, .priority = DUET_PRIORITY_NORMAL,
				    .n_ctx = 128 };
	duet_session *s;
	cr_assert_eq(duet_session_open(rt, &so, &s), DUET_OK, "%s", duet_last_error());
	memset(c, 0, sizeof *c);
	cr_assert_eq(duet_session_generate(s, "It is a truth universally", 40, collect, c),
		     DUET_OK, "%s", duet_last_error());
	duet_session_close(s);
}

/* Greedy sessions: spec gives the LLM's tokens, slm the SLM's, a cascade
 * names a model for each token; a callback returning false stops. */
Test(collab, runtime_sessions_generate_in_every_mode, .timeout = 60)
{
	duet_runtime *rt = demo_runtime();
	collected llm, slm, spec, cas;
	generate_mode(rt, DUET_MODE_LLM, &llm);
	generate_mode(rt, DUET_MODE_SLM, &slm);
	generate_mode(rt, DUET_MODE_SPEC, &spec);
	generate_mode(rt, DUET_MODE_CASCADE, &cas);
	cr_assert_geq(llm.n, 10, "%u tokens", llm.n); /* up to 40, or the end */
	cr_assert_eq(spec.n, llm.n);
	cr_assert_arr_eq(spec.ids, llm.ids, llm.n * sizeof *llm.ids, "spec is the LLM's output");
	for (uint32_t i = 0; i < slm.n; i++)
		cr_assert_eq(slm.src[i], DUET_SOURCE_SLM);
	cr_assert_neq(memcmp(slm.ids, llm.ids, sizeof llm.ids[0] * 10), 0,
		      "the SLM alone writes another text");
	uint32_t by_slm = 0;
	for (uint32_t i = 0; i < cas.n; i++)
		by_slm += cas.src[i] == DUET_SOURCE_SLM;
	cr_assert(by_slm > 0 && by_slm < cas.n, "%u of %u by the SLM", by_slm, cas.n);
	/* a callback that says stop */
	duet_session *s;
	duet_session_options so = { .mode = DUET_MODE_LLM, .n_ctx = 64 };
	cr_assert_eq(duet_session_open(rt, &so, &s), DUET_OK);
	collected c = { .stop_after = 5 };
	cr_assert_eq(duet_session_generate(s, "It is", 40, collect, &c), DUET_OK);
	cr_assert_eq(c.n, 5);
	duet_session_stats st;
	duet_session_get_stats(s, &st);
	cr_assert_eq(st.tokens, 5);
	duet_session_close(s);
	duet_runtime_destroy(rt);
}

typedef struct bg_run {
	duet_session *s;
	duet_status st;
	collected c;
} bg_run;

static void *bg_main(void *arg)
{
	bg_run *b = arg;
	b->st = duet_session_generate(b->s, "It is a truth universally acknowledged", 100000,
				      collect, &b->c);
	return NULL;
}

/* Cancel: from the generating thread (in the callback) and from another
 * thread; the session works again afterwards. Bad options are refused. */
Test(collab, runtime_sessions_cancel_and_refuse, .timeout = 60)
{
	duet_runtime *rt = demo_runtime();
	duet_session *s;
	duet_session_options so = { .mode = DUET_MODE_CASCADE, .n_ctx = 256,
				    .priority = DUET_PRIORITY_INTERACTIVE };
	cr_assert_eq(duet_session_open(rt, &so, &s), DUET_OK);
	collected c = { .stop_after = 7, .cancel = s };
	cr_assert_eq(duet_session_generate(s, "It is", 100, collect, &c), DUET_E_CANCELED);
	cr_assert_eq(c.n, 7, "stops at the token after the cancel");
	memset(&c, 0, sizeof c);
	cr_assert_eq(duet_session_generate(s, "It is", 10, collect, &c), DUET_OK, "%s",
		     duet_last_error());
	cr_assert_eq(c.n, 10);
	/* from another thread: the LLM writing until the context is full */
	duet_session_options bo = { .mode = DUET_MODE_LLM, .n_ctx = 4096,
				    .sampling = { .temperature = 0.9f, .seed = 3,
						  .repeat_penalty = 1.0f,
						  .repeat_last_n = 64 } };
	bg_run b = { 0 };
	cr_assert_eq(duet_session_open(rt, &bo, &b.s), DUET_OK);
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, bg_main, &b), 0);
	while (__atomic_load_n(&b.c.n, __ATOMIC_RELAXED) < 3)
		;
	duet_session_cancel(b.s);
	pthread_join(th, NULL);
	cr_assert_eq(b.st, DUET_E_CANCELED, "%s", duet_status_str(b.st));
	cr_assert_lt(b.c.n, 4000);
	duet_session_close(b.s);
	duet_session_close(s);
	/* refused */
	duet_session_options bad = { .mode = (duet_mode)9 };
	duet_session *x = NULL;
	cr_assert_eq(duet_session_open(rt, &bad, &x), DUET_E_INVAL);
	cr_assert_null(x);
	duet_runtime_destroy(rt);
	char t[512];
	snprintf(t, sizeof t, "%s/models/austen-llm-q8_0.gguf", DUET_SRC_DIR);
	duet_runtime_options ro = { .llm_path = t, .backend = DUET_BACKEND_CPU };
	cr_assert_eq(duet_runtime_create(&ro, &rt), DUET_OK);
	so.mode = DUET_MODE_SPEC;
	cr_assert_eq(duet_session_open(rt, &so, &x), DUET_E_INVAL);
	cr_assert(strstr(duet_last_error(), "SLM"), "%s", duet_last_error());
	duet_runtime_destroy(rt);
	duet_runtime_options none = { 0 };
	cr_assert_eq(duet_runtime_create(&none, &rt), DUET_E_INVAL);
}

/* ---- continuous batching ----------------------------------------------------- */

#define NB 4

static duet_model *demo_llm(void)
{
	char t[512];
	snprintf(t, sizeof t, "%s/models/austen-llm-q8_0.gguf", DUET_SRC_DIR);
	duet_model *m;
	cr_assert_eq(duet_model_load(t, NULL, &m), DUET_OK, "%s", duet_last_error());
	return m;
}

static const char *const batch_prompts[NB] = {
	"It is a truth universally acknowledged",
	"Emma Woodhouse, handsome, clever, and rich",
	"The family of Dashwood had long been settled in Sussex.",
	"Sir",
};

static uint32_t vocab_of(const duet_model *m)
{
	duet_model_info mi;
	duet_model_get_info(m, &mi);
	return mi.n_vocab;
}

/* Prefills context c with prompt i; returns the greedy first token. */
static int32_t prefill(duet_model *m, duet_context *c, int i)
{
	int32_t ids[64];
	size_t n;
	cr_assert_eq(duet_tokenize(m, batch_prompts[i], strlen(batch_prompts[i]), true,
				   false, ids, 64, &n), DUET_OK);
	const float *l;
	cr_assert_eq(duet_context_eval(c, ids, (uint32_t)n, false, &l), DUET_OK, "%s",
		     duet_last_error());
	return (int32_t)duet_argmax(l, vocab_of(m));
}

/* Greedy decode steps of four contexts as one pass each give every
 * context the logits, bit for bit, it gets decoding alone: own caches,
 * and pages of one pool small enough that the batch's members preempt
 * each other (recomputed before each pass). Bad batches are refused and
 * a failed pass advances nobody. */
Test(collab, batched_decode_steps_equal_each_context_alone, .timeout = 120)
{
	duet_model *m = demo_llm();
	uint32_t nv = vocab_of(m), steps = 24;
	float *want = malloc((uint64_t)NB * steps * nv * sizeof *want);
	for (int i = 0; i < NB; i++) {
		duet_context_options co = { .n_ctx = 128, .n_threads = 1,
					    .backend = DUET_BACKEND_CPU };
		duet_context *c;
		cr_assert_eq(duet_context_create(m, &co, &c), DUET_OK);
		int32_t tok = prefill(m, c, i);
		for (uint32_t k = 0; k < steps; k++) {
			const float *l;
			cr_assert_eq(duet_context_eval(c, &tok, 1, false, &l), DUET_OK);
			memcpy(want + ((uint64_t)k * NB + i) * nv, l, nv * sizeof *l);
			tok = (int32_t)duet_argmax(l, nv);
		}
		duet_context_destroy(c);
	}
	for (int pooled = 0; pooled < 2; pooled++) {
		/* a pool that holds the four but not also the intruder, a
		 * context of higher priority that evaluates a long prompt
		 * now and then: the members' pages go, and the next pass
		 * brings them back (swapped or recomputed) */
		duet_kv_pool *pool = NULL;
		duet_kv_pool_options po = { .pool_bytes = 1536u << 10, .page_bytes = 8192 };
		duet_context *intruder = NULL;
		if (pooled) {
			cr_assert_eq(duet_kv_pool_create(&po, &pool), DUET_OK);
			duet_context_options io = { .n_ctx = 128, .n_threads = 1,
						    .backend = DUET_BACKEND_CPU, .kv_pool = pool,
						    .priority = DUET_PRIORITY_INTERACTIVE };
			cr_assert_eq(duet_context_create(m, &io, &intruder), DUET_OK);
		}
		duet_context *cs[NB];
		int32_t tok[NB];
		for (int i = 0; i < NB; i++) {
			duet_context_options co = { .n_ctx = 128, .n_threads = 1,
						    .backend = DUET_BACKEND_CPU,
						    .kv_pool = pool };
			cr_assert_eq(duet_context_create(m, &co, &cs[i]), DUET_OK);
			tok[i] = prefill(m, cs[i], i);
		}
		for (uint32_t k = 0; k < steps; k++) {
			const float *l[NB];
			if (intruder && k % 8 == 4) {
				int32_t long_prompt[100];
				for (int j = 0; j < 100; j++)
					long_prompt[j] = 3 + j;
				const float *il;
				cr_assert_eq(duet_context_eval(intruder, long_prompt, 100,
							       false, &il), DUET_OK,
					     "%s", duet_last_error());
				duet_context_truncate(intruder, 0);
			}
			cr_assert_eq(duet_context_eval_batch(cs, tok, NB, l), DUET_OK,
				     "%s", duet_last_error());
			for (int i = 0; i < NB; i++) {
				cr_assert_eq(memcmp(l[i], want + ((uint64_t)k * NB + i) * nv,
						    nv * sizeof(float)), 0,
					     "pool %d step %u context %d", pooled, k, i);
				tok[i] = (int32_t)duet_argmax(l[i], nv);
			}
		}
		if (pooled) {
			duet_kv_stats ks;
			duet_kv_pool_stats(pool, &ks);
			cr_assert_gt(ks.preemptions, 0, "the pool was big enough for all");
		}
		/* refused: a context twice, another model, nothing */
		const float *l[NB];
		duet_context *twice[2] = { cs[0], cs[0] };
		cr_assert_eq(duet_context_eval_batch(twice, tok, 2, l), DUET_E_INVAL);
		cr_assert(strstr(duet_last_error(), "twice"), "%s", duet_last_error());
		cr_assert_eq(duet_context_eval_batch(cs, tok, 0, l), DUET_E_INVAL);
		int32_t bad[2] = { tok[0], (int32_t)nv };
		uint32_t past0 = duet_context_n_past(cs[0]);
		cr_assert_eq(duet_context_eval_batch(cs, bad, 2, l), DUET_E_INVAL);
		cr_assert_eq(duet_context_n_past(cs[0]), past0, "a failed pass moved one");
		for (int i = 0; i < NB; i++)
			duet_context_destroy(cs[i]);
		duet_context_destroy(intruder);
		duet_kv_pool_destroy(pool);
	}
	duet_model *other = demo_llm();
	duet_context_options co = { .n_ctx = 16, .backend = DUET_BACKEND_CPU };
	duet_context *a, *b;
	cr_assert_eq(duet_context_create(m, &co, &a), DUET_OK);
	cr_assert_eq(duet_context_create(other, &co, &b), DUET_OK);
	duet_context *mixed[2] = { a, b };
	int32_t t2[2] = { 1, 1 };
	const float *l2[2];
	cr_assert_eq(duet_context_eval_batch(mixed, t2, 2, l2), DUET_E_INVAL);
	cr_assert(strstr(duet_last_error(), "model"), "%s", duet_last_error());
	duet_context_destroy(a);
	duet_context_destroy(b);
	duet_model_destroy(other);
	duet_model_destroy(m);
	free(want);
}

typedef struct batch_run {
	duet_runtime *rt;
	int prompt;
	duet_status st;
	collected c;
} batch_run;

static void *batch_main(void *arg)
{
	batch_run *b = arg;
	duet_session_options so = { .mode = DUET_MODE_LLM, .n_ctx = 128 };
	duet_session *s;
	b->st = duet_session_open(b->rt, &so, &s);
	if (b->st == DUET_OK) {
		b->st = duet_session_generate(s, batch_prompts[b->prompt], 40, collect, &b->c);
		duet_session_close(s);
	}
	return NULL;
}

/* Sessions of a runtime with decode_batch, generating on four threads at
 * once, share passes and still write what each writes alone. */
Test(collab, runtime_sessions_share_decode_passes, .timeout = 120)
{
	char t[512];
	snprintf(t, sizeof t, "%s/models/austen-llm-q8_0.gguf", DUET_SRC_DIR);
	batch_run alone[NB], together[NB];
	for (int batched = 0; batched < 2; batched++) {
		duet_runtime_options ro = { .llm_path = t, .backend = DUET_BACKEND_CPU,
					    .n_threads = 1,
					    .decode_batch = batched ? NB : 0,
					    .batch_wait_ms = 50 };
		duet_runtime *rt;
		cr_assert_eq(duet_runtime_create(&ro, &rt), DUET_OK, "%s", duet_last_error());
		batch_run *r = batched ? together : alone;
		pthread_t th[NB];
		for (int i = 0; i < NB; i++) {
			r[i] = (batch_run){ .rt = rt, .prompt = i };
			if (!batched) /* one after another */
				batch_main(&r[i]);
			else
				cr_assert_eq(pthread_create(&th[i], NULL, batch_main, &r[i]), 0);
		}
		for (int i = 0; batched && i < NB; i++)
			pthread_join(th[i], NULL);
		duet_runtime_stats st;
		duet_runtime_get_stats(rt, &st);
		if (batched)
			cr_assert_gt(st.batch_steps, st.batch_passes,
				     "%llu steps in %llu passes: no pass held two",
				     (unsigned long long)st.batch_steps,
				     (unsigned long long)st.batch_passes);
		else
			cr_assert_eq(st.batch_passes, 0);
		duet_runtime_destroy(rt);
	}
	for (int i = 0; i < NB; i++) {
		cr_assert_eq(together[i].st, DUET_OK, "%s", duet_status_str(together[i].st));
		cr_assert_eq(together[i].c.n, alone[i].c.n, "session %d", i);
		cr_assert_arr_eq(together[i].c.ids, alone[i].c.ids,
				 alone[i].c.n * sizeof(int32_t), "session %d", i);
	}
	duet_runtime_options bad = { .llm_path = t, .backend = DUET_BACKEND_CPU,
				     .decode_batch = DUET_BATCH_MAX + 1 };
	duet_runtime *rt = NULL;
	cr_assert_eq(duet_runtime_create(&bad, &rt), DUET_E_INVAL);
	cr_assert(strstr(duet_last_error(), "batch"), "%s", duet_last_error());
}

/* ---- the scheduler ----------------------------------------------------------- */

typedef struct waiter {
	duet_sched *s;
	duet_priority pr;
	int *order, *n;
	pthread_mutex_t *mu;
} waiter;

static void *wait_turn(void *arg)
{
	waiter *w = arg;
	duet_sched_acquire(w->s, w->pr);
	pthread_mutex_lock(w->mu);
	w->order[(*w->n)++] = (int)w->pr;
	pthread_mutex_unlock(w->mu);
	duet_sched_release(w->s);
	return NULL;
}

/* Waiters get their turns by priority, whatever order they came in; one
 * held back by an active session above gets a turn once it has waited
 * past the starvation limit. */
Test(collab, scheduler_turns_go_by_priority)
{
	duet_sched *s;
	cr_assert_eq(duet_sched_create(50, &s), DUET_OK);
	duet_sched_acquire(s, DUET_PRIORITY_NORMAL); /* held while they queue */
	int order[3], n = 0;
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	waiter w[3];
	pthread_t th[3];
	const duet_priority come[3] = { DUET_PRIORITY_BACKGROUND, DUET_PRIORITY_NORMAL,
					DUET_PRIORITY_INTERACTIVE };
	for (int i = 0; i < 3; i++) {
		w[i] = (waiter){ s, come[i], order, &n, &mu };
		pthread_create(&th[i], NULL, wait_turn, &w[i]);
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL); /* in this order */
	}
	duet_sched_release(s);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(n, 3);
	cr_assert_eq(order[0], DUET_PRIORITY_INTERACTIVE);
	cr_assert_eq(order[1], DUET_PRIORITY_NORMAL);
	cr_assert_eq(order[2], DUET_PRIORITY_BACKGROUND);
	/* an interactive session generating holds the background back */
	duet_sched_enter(s, DUET_PRIORITY_INTERACTIVE);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	duet_sched_acquire(s, DUET_PRIORITY_BACKGROUND);
	clock_gettime(CLOCK_MONOTONIC, &b);
	duet_sched_release(s);
	double ms = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
	cr_assert_geq(ms, 45, "waited %.1f ms", ms);
	duet_sched_leave(s, DUET_PRIORITY_INTERACTIVE);
	duet_sched_acquire(s, DUET_PRIORITY_BACKGROUND); /* nothing above now */
	duet_sched_release(s);
	duet_sched_stats st;
	duet_sched_get_stats(s, &st);
	cr_assert_eq(st.starved, 1);
	cr_assert_eq(st.turns[DUET_PRIORITY_BACKGROUND], 3);
	duet_sched_destroy(s);
}
