/* SLM+LLM collaboration (runtime/collab): speculative sampling keeps the
 * target's distribution, for the decision step alone (chi-square against
 * p over 200,000 draws, with the uncorrected draft as the control that
 * must fail) and end to end on a small pair of synthetic models (the
 * second token's distribution under speculative decoding against plain
 * sampling of the target, a two-sample chi-square). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "collab.h"
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

/* The second generated token: by plain sampling of the target, and by
 * speculative decoding with the draft; same temperature, 3,000 seeds
 * each; a two-sample chi-square over the 12 most frequent tokens and the
 * rest. */
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
	const int N = 3000;
	static double plain[300], spec[300];
	float pr[300];
	uint64_t accepted = 0, drafted = 0;
	for (int s = 0; s < N; s++) {
		/* plain: two draws from the target */
		const float *l;
		duet_context_truncate(tc, 0);
		cr_assert_eq(duet_context_eval(tc, prompt, 4, false, &l), DUET_OK);
		duet_spec_probs(l, 300, T, pr);
		int32_t t1 = duet_spec_draw(pr, 300, u01());
		cr_assert_eq(duet_context_eval(tc, &t1, 1, false, &l), DUET_OK);
		duet_spec_probs(l, 300, T, pr);
		plain[duet_spec_draw(pr, 300, u01())]++;
		/* speculative */
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
	/* the 12 most frequent tokens (by both) and the rest */
	int top[12];
	bool used[300] = { false };
	for (int c = 0; c < 12; c++) {
		int best = -1;
		for (int v = 0; v < 300; v++)
			if (!used[v] && (best < 0 || plain[v] + spec[v] > plain[best] + spec[best]))
				best = v;
		used[best] = true;
		top[c] = best;
	}
	double a[13] = { 0 }, b[13] = { 0 };
	for (int v = 0; v < 300; v++) {
		int c = 12;
		for (int k = 0; k < 12; k++)
			if (top[k] == v)
				c = k;
		a[c] += plain[v];
		b[c] += spec[v];
	}
	double x = 0;
	for (int c = 0; c < 13; c++)
		if (a[c] + b[c] > 0)
			x += (a[c] - b[c]) * (a[c] - b[c]) / (a[c] + b[c]);
	/* 12 degrees of freedom: 32.91 at p = 0.001 */
	cr_log_info("two-sample chi-square %.2f; %llu of %llu drafts kept", x,
		    (unsigned long long)accepted, (unsigned long long)drafted);
	cr_assert_lt(x, 32.91, "speculative sampling changes the distribution: %.2f", x);
	cr_assert_gt(drafted, 0);
	duet_context_destroy(tc);
	duet_context_destroy(dc);
	duet_model_destroy(tm);
	duet_model_destroy(dm);
}
