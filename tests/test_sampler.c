/* Sampling: greedy is argmax, every filter narrows as documented, draws are
 * a function of the seed, and their frequencies follow the softmax. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "duet/duet.h"

static int32_t sample(const duet_sampler_params *p, const float *l, uint32_t n)
{
	duet_sampler *s;
	int32_t tok = -1;
	cr_assert_eq(duet_sampler_create(p, &s), DUET_OK);
	cr_assert_eq(duet_sampler_sample(s, l, n, &tok), DUET_OK);
	duet_sampler_destroy(s);
	return tok;
}

static const float logits[6] = { 1.0f, 3.0f, 2.5f, -1.0f, 3.0f, 0.0f };

Test(sampler, zero_params_mean_greedy_and_ties_pick_the_lowest_id)
{
	cr_assert_eq(sample(NULL, logits, 6), 1);
	duet_sampler_params p = { 0 };
	cr_assert_eq(sample(&p, logits, 6), 1);
}

Test(sampler, filters_that_keep_one_token_are_greedy)
{
	duet_sampler_params k1 = { .temperature = 1.0f, .top_k = 1, .seed = 5 };
	duet_sampler_params p0 = { .temperature = 1.0f, .top_p = 1e-6f, .seed = 5 };
	duet_sampler_params m1 = { .temperature = 1.0f, .min_p = 1.0f, .seed = 5 };
	float l[4] = { 0.1f, 0.2f, 5.0f, 0.3f };
	for (uint64_t seed = 0; seed < 50; seed++) {
		k1.seed = p0.seed = m1.seed = seed;
		cr_assert_eq(sample(&k1, l, 4), 2);
		cr_assert_eq(sample(&p0, l, 4), 2);
		cr_assert_eq(sample(&m1, l, 4), 2);
	}
}

Test(sampler, top_k_never_picks_outside_the_k_best)
{
	duet_sampler_params p = { .temperature = 5.0f, .top_k = 2 };
	for (uint64_t seed = 0; seed < 200; seed++) {
		p.seed = seed;
		int32_t t = sample(&p, logits, 6);
		cr_assert(t == 1 || t == 4, "picked %d", t);
	}
}

Test(sampler, top_p_keeps_the_smallest_set_reaching_the_mass)
{
	/* probabilities ~ 0.64, 0.24, 0.09, 0.03 */
	float l[4] = { 3.0f, 2.0f, 1.0f, 0.0f };
	duet_sampler_params p = { .temperature = 1.0f, .top_p = 0.8f };
	for (uint64_t seed = 0; seed < 300; seed++) {
		p.seed = seed;
		int32_t t = sample(&p, l, 4);
		cr_assert(t == 0 || t == 1, "picked %d", t);
	}
}

Test(sampler, same_seed_same_tokens_other_seed_other_tokens)
{
	float l[64];
	for (int i = 0; i < 64; i++)
		l[i] = (float)sin(i * 0.7) * 2.0f;
	duet_sampler_params p = { .temperature = 1.5f, .seed = 1234 };
	duet_sampler *a, *b, *c;
	cr_assert_eq(duet_sampler_create(&p, &a), DUET_OK);
	cr_assert_eq(duet_sampler_create(&p, &b), DUET_OK);
	p.seed = 99;
	cr_assert_eq(duet_sampler_create(&p, &c), DUET_OK);
	int differ = 0;
	int32_t first[40];
	for (int i = 0; i < 40; i++) {
		int32_t x, y, z;
		cr_assert_eq(duet_sampler_sample(a, l, 64, &x), DUET_OK);
		cr_assert_eq(duet_sampler_sample(b, l, 64, &y), DUET_OK);
		cr_assert_eq(duet_sampler_sample(c, l, 64, &z), DUET_OK);
		cr_assert_eq(x, y);
		differ += x != z;
		first[i] = x;
	}
	cr_assert_gt(differ, 10);
	duet_sampler_reset(a); /* restarts the sequence */
	for (int i = 0; i < 40; i++) {
		int32_t x;
		cr_assert_eq(duet_sampler_sample(a, l, 64, &x), DUET_OK);
		cr_assert_eq(x, first[i]);
	}
	duet_sampler_destroy(a);
	duet_sampler_destroy(b);
	duet_sampler_destroy(c);
}

Test(sampler, frequencies_follow_the_softmax)
{
	float l[3] = { 0.0f, 1.0f, 2.0f };
	double z = exp(0.0) + exp(0.5) + exp(1.0), want[3] = { 1 / z, exp(0.5) / z, exp(1.0) / z };
	duet_sampler_params p = { .temperature = 2.0f, .seed = 7 };
	duet_sampler *s;
	cr_assert_eq(duet_sampler_create(&p, &s), DUET_OK);
	int count[3] = { 0 }, n = 30000;
	for (int i = 0; i < n; i++) {
		int32_t t;
		cr_assert_eq(duet_sampler_sample(s, l, 3, &t), DUET_OK);
		count[t]++;
	}
	for (int i = 0; i < 3; i++) /* 5 sigma of a binomial is < 0.015 here */
		cr_assert_float_eq(count[i] / (double)n, want[i], 0.015, "token %d", i);
	duet_sampler_destroy(s);
}

Test(sampler, repeat_penalty_moves_greedy_away_from_history)
{
	float l[3] = { 2.0f, 1.9f, -5.0f };
	duet_sampler_params p = { .repeat_penalty = 1.2f, .repeat_last_n = 4 };
	duet_sampler *s;
	int32_t t;
	cr_assert_eq(duet_sampler_create(&p, &s), DUET_OK);
	cr_assert_eq(duet_sampler_sample(s, l, 3, &t), DUET_OK);
	cr_assert_eq(t, 0);
	duet_sampler_accept(s, 0);
	duet_sampler_accept(s, 0); /* counted once: 2.0 / 1.2 = 1.67 < 1.9 */
	cr_assert_eq(duet_sampler_sample(s, l, 3, &t), DUET_OK);
	cr_assert_eq(t, 1);
	for (int i = 0; i < 4; i++) /* pushes 0 out of the 4-token window */
		duet_sampler_accept(s, 2);
	cr_assert_eq(duet_sampler_sample(s, l, 3, &t), DUET_OK);
	cr_assert_eq(t, 0);
	cr_assert_eq(l[0], 2.0f); /* the caller's logits are untouched */
	duet_sampler_destroy(s);
}

Test(sampler, nan_logits_never_win_and_bad_params_are_refused)
{
	float l[3] = { NAN, 1.0f, NAN };
	cr_assert_eq(sample(NULL, l, 3), 1);
	duet_sampler_params p = { .temperature = 1.0f, .seed = 3 };
	cr_assert_eq(sample(&p, l, 3), 1);
	float all_nan[2] = { NAN, NAN };
	duet_sampler *s;
	int32_t t;
	cr_assert_eq(duet_sampler_create(NULL, &s), DUET_OK);
	cr_assert_eq(duet_sampler_sample(s, all_nan, 2, &t), DUET_E_INVAL);
	cr_assert_eq(duet_sampler_sample(s, l, 0, &t), DUET_E_INVAL);
	duet_sampler_destroy(s);
	duet_sampler_params bad = { .repeat_penalty = -1.0f };
	cr_assert_eq(duet_sampler_create(&bad, &s), DUET_E_INVAL);
	bad = (duet_sampler_params){ .temperature = NAN };
	cr_assert_eq(duet_sampler_create(&bad, &s), DUET_E_INVAL);
}
