/* Token sampling: llama.cpp's chain (penalty, top-k, top-p, min-p,
 * temperature, draw) with a seeded splitmix64 generator, so a seed gives
 * the same tokens on every run and every machine. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "duet/duet.h"
#include "error.h"
#include "pick.h"

struct duet_sampler {
	duet_sampler_params p;
	uint64_t rng;
	int32_t *history; /* ring of the last repeat_last_n tokens */
	uint32_t n_history, head;
	/* scratch, grown to n_vocab */
	struct cand {
		int32_t id;
		float logit;
	} *cand;
	uint32_t cap;
};

typedef struct cand cand;

duet_status duet_sampler_create(const duet_sampler_params *p,
				duet_sampler **out)
{
	*out = NULL;
	duet_sampler_params d = { 0 };
	if (!p)
		p = &d;
	if (p->temperature != p->temperature || p->top_p != p->top_p ||
	    p->min_p != p->min_p || p->repeat_penalty != p->repeat_penalty ||
	    p->repeat_penalty < 0 || p->repeat_last_n < 0)
		return DUET_ERR(DUET_E_INVAL,
				"sampler parameters must be numbers, the penalty "
				"and its window not negative");
	duet_sampler *s = calloc(1, sizeof *s);
	if (!s)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	s->p = *p;
	if (s->p.repeat_last_n == 0)
		s->p.repeat_last_n = 64;
	s->history = calloc((size_t)s->p.repeat_last_n, sizeof *s->history);
	if (!s->history) {
		free(s);
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	}
	s->rng = s->p.seed;
	*out = s;
	return DUET_OK;
}

void duet_sampler_destroy(duet_sampler *s)
{
	if (!s)
		return;
	free(s->history);
	free(s->cand);
	free(s);
}

void duet_sampler_reset(duet_sampler *s)
{
	s->n_history = 0;
	s->head = 0;
	s->rng = s->p.seed;
}

void duet_sampler_accept(duet_sampler *s, int32_t token)
{
	uint32_t cap = (uint32_t)s->p.repeat_last_n;
	s->history[s->head] = token;
	s->head = (s->head + 1) % cap;
	if (s->n_history < cap)
		s->n_history++;
}

/* Descending logit; equal logits by ascending id, so the order (and every
 * cut made on it) is deterministic. */
static int cmp_cand(const void *a, const void *b)
{
	const cand *x = a, *y = b;
	if (x->logit != y->logit)
		return x->logit > y->logit ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

/* A token seen in the history gets its logit pushed toward "less likely":
 * divided by the penalty when positive, multiplied when negative. */
static void apply_penalty(const duet_sampler *s, cand *c, uint32_t n,
			  uint8_t *seen)
{
	float pen = s->p.repeat_penalty;
	if (pen == 0.0f || pen == 1.0f)
		return;
	memset(seen, 0, n);
	for (uint32_t h = 0; h < s->n_history; h++) {
		int32_t id = s->history[h];
		/* A token repeated in the history is penalised once. */
		if (id < 0 || (uint32_t)id >= n || seen[id])
			continue;
		seen[id] = 1;
		c[id].logit = c[id].logit > 0 ? c[id].logit / pen
					      : c[id].logit * pen;
	}
}

/* Softmax over c[0..n) into probabilities p (c sorted, c[0] the largest). */
static void softmax(const cand *c, uint32_t n, double *p, float temp)
{
	double sum = 0;
	for (uint32_t i = 0; i < n; i++) {
		p[i] = exp(((double)c[i].logit - c[0].logit) / temp);
		sum += p[i];
	}
	for (uint32_t i = 0; i < n; i++)
		p[i] /= sum;
}

/* Keeps the smallest prefix of sorted candidates whose probability mass
 * reaches top_p, then those within min_p of the top; returns the count. */
static uint32_t nucleus(const duet_sampler *s, const cand *c, uint32_t n,
			double *p)
{
	softmax(c, n, p, 1.0f);
	if (s->p.top_p > 0.0f && s->p.top_p < 1.0f) {
		double cum = 0;
		for (uint32_t i = 0; i < n; i++) {
			cum += p[i];
			if (cum >= s->p.top_p) {
				n = i + 1;
				break;
			}
		}
	}
	if (s->p.min_p > 0.0f) {
		uint32_t keep = 1;
		while (keep < n && p[keep] >= s->p.min_p * p[0])
			keep++;
		n = keep;
	}
	return n;
}

duet_status duet_sampler_sample(duet_sampler *s, const float *logits,
				uint32_t n_vocab, int32_t *token)
{
	if (n_vocab == 0)
		return DUET_ERR(DUET_E_INVAL, "no logits to sample from");
	if (n_vocab > s->cap) {
		/* candidates, then their probabilities, then penalty flags */
		cand *c = realloc(s->cand, n_vocab * (sizeof *c + sizeof(double) + 1));
		if (!c)
			return DUET_ERR(DUET_E_NOMEM, "out of memory");
		s->cand = c;
		s->cap = n_vocab;
	}
	cand *c = s->cand;
	uint32_t n = 0;
	for (uint32_t i = 0; i < n_vocab; i++)
		c[i] = (cand){ (int32_t)i, logits[i] };
	double *p = (double *)(c + s->cap);
	apply_penalty(s, c, n_vocab, (uint8_t *)(p + s->cap));
	/* NaN logits never win: drop them. */
	for (uint32_t i = 0; i < n_vocab; i++)
		if (c[i].logit == c[i].logit)
			c[n++] = c[i];
	if (n == 0)
		return DUET_ERR(DUET_E_INVAL, "every logit is NaN");
	if (s->p.temperature <= 0.0f) {
		uint32_t best = 0;
		for (uint32_t i = 1; i < n; i++)
			if (c[i].logit > c[best].logit)
				best = i;
		*token = c[best].id;
		return DUET_OK;
	}
	qsort(c, n, sizeof *c, cmp_cand);
	if (s->p.top_k > 0 && (uint32_t)s->p.top_k < n)
		n = (uint32_t)s->p.top_k;
	n = nucleus(s, c, n, p);
	softmax(c, n, p, s->p.temperature);
	double r = duet_uniform(&s->rng), cum = 0;
	*token = c[n - 1].id;
	for (uint32_t i = 0; i < n; i++) {
		cum += p[i];
		if (r < cum) {
			*token = c[i].id;
			break;
		}
	}
	return DUET_OK;
}
