/* SLM+LLM collaboration (see duet.h, "Speculative decoding"): the vocabulary
 * check of a pair and greedy speculative decoding over two contexts. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "collab.h"
#include "pick.h"

#include "error.h"
#include "session.h"

#define SPEC_MAX_K 16

duet_status duet_models_check_pair(const duet_model *target, const duet_model *draft)
{
	const duet_vocab *a = &target->vocab, *b = &draft->vocab;
	if (target->vocab_only || draft->vocab_only)
		return DUET_ERR(DUET_E_INVAL, "a vocab-only model cannot generate");
	if (target->desc.hp.n_vocab != draft->desc.hp.n_vocab || a->n_tokens != b->n_tokens)
		return DUET_ERR(DUET_E_INVAL, "the draft model's vocabulary has %u "
				"tokens, the target's %u", b->n_tokens, a->n_tokens);
	if (a->bos != b->bos || a->eos != b->eos || a->eot != b->eot)
		return DUET_ERR(DUET_E_INVAL, "the models' special tokens differ "
				"(BOS %d/%d, EOS %d/%d, EOT %d/%d)", a->bos, b->bos,
				a->eos, b->eos, a->eot, b->eot);
	for (uint32_t i = 0; i < a->n_tokens; i++)
		if (a->text_len[i] != b->text_len[i] ||
		    memcmp(a->text[i], b->text[i], a->text_len[i]) ||
		    a->eog[i] != b->eog[i])
			return DUET_ERR(DUET_E_INVAL, "token %u differs between the "
					"models ('%.*s' / '%.*s')", i,
					(int)(a->text_len[i] < 40 ? a->text_len[i] : 40),
					a->text[i], (int)(b->text_len[i] < 40 ? b->text_len[i] : 40),
					b->text[i]);
	return DUET_OK;
}

struct duet_spec {
	duet_context *tgt, *dft;
	uint32_t k, k_max, n_vocab;
	float temp;              /* 0: greedy */
	uint64_t rng;
	float *q;                /* sampled: [SPEC_MAX_K][n_vocab] draft probs */
	float *p;                /* sampled: target probs of one row */
	int32_t next;            /* the target's next token, evaluated by neither */
	int32_t dpend[4];        /* tokens the draft has still to evaluate */
	uint32_t n_dpend;
	duet_spec_stats st;
};

void duet_spec_probs(const float *logits, uint32_t n, float temperature, float *probs)
{
	float mx = logits[0];
	for (uint32_t i = 1; i < n; i++)
		mx = logits[i] > mx ? logits[i] : mx;
	double sum = 0;
	for (uint32_t i = 0; i < n; i++) {
		probs[i] = expf((logits[i] - mx) / temperature);
		sum += probs[i];
	}
	for (uint32_t i = 0; i < n; i++)
		probs[i] = (float)(probs[i] / sum);
}

int32_t duet_spec_draw(const float *probs, uint32_t n, double u)
{
	double acc = 0;
	for (uint32_t i = 0; i < n; i++) {
		acc += probs[i];
		if (u < acc)
			return (int32_t)i;
	}
	for (uint32_t i = n; i-- > 0;) /* rounding left u past the sum */
		if (probs[i] > 0)
			return (int32_t)i;
	return 0;
}

int32_t duet_spec_resolve(const float *p, const float *q, uint32_t n, int32_t d,
			  double u_accept, double u_resample, bool *accepted)
{
	*accepted = q[d] > 0 && u_accept * q[d] < p[d];
	if (*accepted)
		return d;
	double mass = 0;
	for (uint32_t i = 0; i < n; i++)
		mass += p[i] > q[i] ? p[i] - q[i] : 0;
	if (!(mass > 0))
		return duet_spec_draw(p, n, u_resample);
	double target = u_resample * mass, acc = 0;
	int32_t last = 0;
	for (uint32_t i = 0; i < n; i++) {
		double r = p[i] > q[i] ? p[i] - q[i] : 0;
		if (r <= 0)
			continue;
		acc += r;
		last = (int32_t)i;
		if (target < acc)
			return (int32_t)i;
	}
	return last;
}

duet_status duet_spec_create(duet_context *tgt, duet_context *dft,
			     const int32_t *prompt, uint32_t n,
			     const duet_spec_params *params, int32_t *first,
			     duet_spec **out)
{
	*out = NULL;
	duet_spec_params prm = { 0 };
	if (params)
		prm = *params;
	duet_status s = duet_models_check_pair(duet_context_model(tgt),
					       duet_context_model(dft));
	if (s != DUET_OK)
		return s;
	if (duet_context_n_past(tgt) || duet_context_n_past(dft) || !n)
		return DUET_ERR(DUET_E_INVAL, "speculative decoding starts from "
				"empty contexts and a prompt");
	if (!(prm.temperature >= 0) || prm.temperature > 100)
		return DUET_ERR(DUET_E_INVAL, "temperature %g", (double)prm.temperature);
	duet_spec *sp = calloc(1, sizeof *sp);
	if (!sp)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	sp->tgt = tgt;
	sp->dft = dft;
	sp->k_max = prm.k ? (prm.k < SPEC_MAX_K ? prm.k : SPEC_MAX_K) : 8;
	sp->k = sp->k_max < 4 ? sp->k_max : 4;
	sp->n_vocab = duet_context_model(tgt)->desc.hp.n_vocab;
	sp->temp = prm.temperature;
	sp->rng = prm.seed;
	if (sp->temp > 0) {
		sp->q = malloc((uint64_t)SPEC_MAX_K * sp->n_vocab * sizeof *sp->q);
		sp->p = malloc(sp->n_vocab * sizeof *sp->p);
		if (!sp->q || !sp->p) {
			duet_spec_destroy(sp);
			return DUET_ERR(DUET_E_NOMEM, "out of memory");
		}
	}
	const float *l;
	s = duet_context_eval(tgt, prompt, n, false, &l);
	if (s == DUET_OK) {
		if (sp->temp > 0) {
			duet_spec_probs(l, sp->n_vocab, sp->temp, sp->p);
			sp->next = duet_spec_draw(sp->p, sp->n_vocab, duet_uniform(&sp->rng));
		} else {
			sp->next = duet_argmax(l, sp->n_vocab);
		}
		int32_t ignored;
		s = duet_context_eval_greedy(dft, prompt, n, &ignored);
	}
	if (s != DUET_OK) {
		duet_spec_destroy(sp);
		return s;
	}
	sp->st.llm_passes = 1;
	sp->st.tokens = 1;
	*first = sp->next;
	*out = sp;
	return DUET_OK;
}

/* The draft's next token after evaluating toks: its argmax, or (sampled)
 * drawn from its distribution, kept in q for the verification. */
static duet_status draft_one(duet_spec *sp, const int32_t *toks, uint32_t n, float *q,
			     int32_t *out)
{
	if (sp->temp <= 0)
		return duet_context_eval_greedy(sp->dft, toks, n, out);
	const float *l;
	duet_status s = duet_context_eval(sp->dft, toks, n, false, &l);
	if (s == DUET_OK) {
		duet_spec_probs(l, sp->n_vocab, sp->temp, q);
		*out = duet_spec_draw(q, sp->n_vocab, duet_uniform(&sp->rng));
	}
	return s;
}

/* One round: the draft proposes k tokens after `next`, the target checks
 * [next, d1..dk] in one pass; the accepted prefix d1..dj and the target's
 * token after it come out, and both contexts are cut back to them. */
duet_status duet_spec_step(duet_spec *sp, int32_t *out, uint32_t cap, uint32_t *n_out)
{
	*n_out = 0;
	uint32_t past = duet_context_n_past(sp->tgt), room = duet_context_n_ctx(sp->tgt) - past;
	uint32_t droom = duet_context_n_ctx(sp->dft) - duet_context_n_past(sp->dft);
	uint32_t k = sp->k;
	if (cap == 0 || room == 0)
		return DUET_ERR(DUET_E_RANGE, "no room for another token (%u of %u "
				"positions used, %u asked)", past,
				duet_context_n_ctx(sp->tgt), cap);
	if (k + 1 > cap)
		k = cap - 1;
	if (k + 1 > room)
		k = room - 1;
	if (k + sp->n_dpend > droom)
		k = droom > sp->n_dpend ? droom - sp->n_dpend : 0;
	int32_t seq[SPEC_MAX_K + 1];
	seq[0] = sp->next;
	duet_status s = DUET_OK;
	uint64_t nv = sp->n_vocab;
	/* draft: evaluate what it lacks, then one token at a time */
	if (k) {
		sp->dpend[sp->n_dpend++] = sp->next;
		s = draft_one(sp, sp->dpend, sp->n_dpend, sp->q, &seq[1]);
		sp->n_dpend = 0;
	}
	for (uint32_t i = 1; s == DUET_OK && i < k; i++)
		s = draft_one(sp, &seq[i], 1, sp->q ? sp->q + i * nv : NULL, &seq[i + 1]);
	if (s != DUET_OK)
		return s;
	/* verify */
	const float *l;
	s = duet_context_eval(sp->tgt, seq, k + 1, true, &l);
	if (s != DUET_OK)
		return s;
	uint32_t j = 0;
	int32_t y;
	if (sp->temp <= 0) {
		y = duet_argmax(l, sp->n_vocab);
		while (j < k && y == seq[j + 1]) {
			j++;
			y = duet_argmax(l + j * nv, sp->n_vocab);
		}
	} else {
		for (;;) {
			duet_spec_probs(l + j * nv, sp->n_vocab, sp->temp, sp->p);
			if (j == k) { /* every draft kept: one more from the target */
				y = duet_spec_draw(sp->p, sp->n_vocab, duet_uniform(&sp->rng));
				break;
			}
			bool kept;
			double ua = duet_uniform(&sp->rng), ur = duet_uniform(&sp->rng);
			y = duet_spec_resolve(sp->p, sp->q + j * nv, sp->n_vocab, seq[j + 1],
					      ua, ur, &kept);
			if (!kept)
				break;
			j++;
		}
	}
	for (uint32_t i = 0; i < j; i++)
		out[i] = seq[i + 1];
	out[j] = y;
	*n_out = j + 1;
	/* keep next, d1..dj in both */
	duet_context_truncate(sp->tgt, past + 1 + j);
	if (k) {
		uint32_t dpast = duet_context_n_past(sp->dft); /* past + k */
		if (j < k)
			duet_context_truncate(sp->dft, dpast - (k - 1 - j));
		else
			sp->dpend[sp->n_dpend++] = seq[k]; /* dk: drafted, not evaluated */
	} else if (sp->n_dpend < 3) {
		sp->dpend[sp->n_dpend++] = seq[0]; /* the draft falls behind */
	} else {
		return DUET_ERR(DUET_E_RANGE, "the draft context is full");
	}
	sp->next = y;
	sp->st.drafted += k;
	sp->st.accepted += j;
	sp->st.llm_passes++;
	sp->st.tokens += j + 1;
	/* draft longer while it is right, shorter when it is not */
	if (k && j == k && sp->k < sp->k_max)
		sp->k++;
	else if (k && 2 * j < k && sp->k > 1)
		sp->k--;
	return DUET_OK;
}

void duet_spec_get_stats(const duet_spec *sp, duet_spec_stats *st)
{
	*st = sp->st;
	st->k = sp->k;
}

void duet_spec_destroy(duet_spec *sp)
{
	if (!sp)
		return;
	free(sp->q);
	free(sp->p);
	free(sp);
}
