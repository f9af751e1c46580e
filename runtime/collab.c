/* SLM+LLM collaboration (see duet.h, "Speculative decoding"): the vocabulary
 * check of a pair and greedy speculative decoding over two contexts. */
#include <stdlib.h>
#include <string.h>

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
	int32_t next;            /* the target's next token, evaluated by neither */
	int32_t dpend[4];        /* tokens the draft has still to evaluate */
	uint32_t n_dpend;
	duet_spec_stats st;
};

static int32_t argmax(const float *l, uint32_t n)
{
	int32_t best = 0;
	for (uint32_t i = 1; i < n; i++)
		if (l[i] > l[best])
			best = (int32_t)i;
	return best;
}

duet_status duet_spec_create(duet_context *tgt, duet_context *dft,
			     const int32_t *prompt, uint32_t n, uint32_t k,
			     int32_t *first, duet_spec **out)
{
	*out = NULL;
	duet_status s = duet_models_check_pair(duet_context_model(tgt),
					       duet_context_model(dft));
	if (s != DUET_OK)
		return s;
	if (duet_context_n_past(tgt) || duet_context_n_past(dft) || !n)
		return DUET_ERR(DUET_E_INVAL, "speculative decoding starts from "
				"empty contexts and a prompt");
	duet_spec *sp = calloc(1, sizeof *sp);
	if (!sp)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	sp->tgt = tgt;
	sp->dft = dft;
	sp->k_max = k ? (k < SPEC_MAX_K ? k : SPEC_MAX_K) : 8;
	sp->k = sp->k_max < 4 ? sp->k_max : 4;
	sp->n_vocab = duet_context_model(tgt)->desc.hp.n_vocab;
	const float *l;
	s = duet_context_eval(tgt, prompt, n, false, &l);
	if (s == DUET_OK) {
		sp->next = argmax(l, sp->n_vocab);
		int32_t ignored;
		s = duet_context_eval_greedy(dft, prompt, n, &ignored);
	}
	if (s != DUET_OK) {
		free(sp);
		return s;
	}
	sp->st.llm_passes = 1;
	sp->st.tokens = 1;
	*first = sp->next;
	*out = sp;
	return DUET_OK;
}

/* One round: the draft proposes k tokens after `next`, the target checks
 * [next, d1..dk] in one pass; the agreeing prefix d1..dj and the target's
 * own token after it come out, and both contexts are cut back to them. */
duet_status duet_spec_step(duet_spec *sp, int32_t *out, uint32_t cap, uint32_t *n_out)
{
	*n_out = 0;
	uint32_t past = duet_context_n_past(sp->tgt), room = duet_context_n_ctx(sp->tgt) - past;
	uint32_t droom = duet_context_n_ctx(sp->dft) - duet_context_n_past(sp->dft);
	uint32_t k = sp->k;
	if (k + 1 > cap)
		k = cap - 1;
	if (k + 1 > room)
		k = room ? room - 1 : 0;
	if (k + sp->n_dpend > droom)
		k = droom > sp->n_dpend ? droom - sp->n_dpend : 0;
	if (cap == 0 || room == 0)
		return DUET_ERR(DUET_E_RANGE, "no room for another token (%u of %u "
				"positions used, %u asked)", past,
				duet_context_n_ctx(sp->tgt), cap);
	int32_t seq[SPEC_MAX_K + 1];
	seq[0] = sp->next;
	duet_status s = DUET_OK;
	/* draft: evaluate what it lacks, then one token at a time */
	if (k) {
		sp->dpend[sp->n_dpend++] = sp->next;
		s = duet_context_eval_greedy(sp->dft, sp->dpend, sp->n_dpend, &seq[1]);
		sp->n_dpend = 0;
	}
	for (uint32_t i = 1; s == DUET_OK && i < k; i++)
		s = duet_context_eval_greedy(sp->dft, &seq[i], 1, &seq[i + 1]);
	if (s != DUET_OK)
		return s;
	/* verify */
	const float *l;
	s = duet_context_eval(sp->tgt, seq, k + 1, true, &l);
	if (s != DUET_OK)
		return s;
	uint32_t j = 0;
	int32_t y = argmax(l, sp->n_vocab);
	while (j < k && y == seq[j + 1]) {
		j++;
		y = argmax(l + (uint64_t)j * sp->n_vocab, sp->n_vocab);
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
	free(sp);
}
