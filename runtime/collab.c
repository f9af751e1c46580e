/* SLM+LLM collaboration (see duet.h, "Speculative decoding" and
 * "confidence cascade"): the vocabulary check of a pair, speculative
 * decoding and the cascade, each over two contexts. */
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

/* ---- cascade --------------------------------------------------------------- */

#define CASCADE_MAX_WINDOW 64

struct duet_cascade {
	duet_context *llm, *slm;
	duet_cascade_params prm;
	uint32_t n_vocab;
	int32_t *hist;          /* prompt and every token produced */
	uint32_t n_hist, cap_hist;
	duet_source turn;
	uint32_t span_left;     /* LLM turn: tokens it still writes */
	float conf[CASCADE_MAX_WINDOW];
	uint32_t n_conf;        /* confidences in the window so far */
	float *p;               /* [n_vocab] probabilities */
	uint64_t rng;
	duet_cascade_stats st;
};

static duet_status hist_push(duet_cascade *cs, int32_t tok)
{
	if (cs->n_hist == cs->cap_hist) {
		uint32_t cap = cs->cap_hist ? 2 * cs->cap_hist : 256;
		int32_t *h = realloc(cs->hist, cap * sizeof *h);
		if (!h)
			return DUET_ERR(DUET_E_NOMEM, "out of memory");
		cs->hist = h;
		cs->cap_hist = cap;
	}
	cs->hist[cs->n_hist++] = tok;
	return DUET_OK;
}

/* Confidence of a distribution (see duet_cascade_params). */
static float confidence(const duet_cascade *cs, const float *p)
{
	if (cs->prm.metric == DUET_CONF_ENTROPY) {
		double h = 0;
		for (uint32_t i = 0; i < cs->n_vocab; i++)
			if (p[i] > 0)
				h -= p[i] * log(p[i]);
		return (float)(1.0 - h / log((double)cs->n_vocab));
	}
	float a = 0, b = 0;
	for (uint32_t i = 0; i < cs->n_vocab; i++) {
		if (p[i] > a) {
			b = a;
			a = p[i];
		} else if (p[i] > b) {
			b = p[i];
		}
	}
	return a - b;
}

/* The token a model picks from its logits: argmax, or drawn at the
 * cascade's temperature. */
static int32_t pick(duet_cascade *cs, const float *logits)
{
	if (cs->prm.temperature <= 0)
		return duet_argmax(logits, cs->n_vocab);
	duet_spec_probs(logits, cs->n_vocab, cs->prm.temperature, cs->p);
	return duet_spec_draw(cs->p, cs->n_vocab, duet_uniform(&cs->rng));
}

/* Evaluates what ctx has not seen of the history; its logits in *l. */
static duet_status catch_up(duet_cascade *cs, duet_context *ctx, const float **l)
{
	uint32_t seen = duet_context_n_past(ctx);
	if (seen >= cs->n_hist)
		return DUET_ERR(DUET_E_INVAL, "nothing new to evaluate");
	return duet_context_eval(ctx, cs->hist + seen, cs->n_hist - seen, false, l);
}

/* One token: the SLM's if the window's mean confidence holds, else (and
 * for the rest of an LLM turn) the LLM's. logits: the SLM's, already
 * evaluated (create), or NULL. */
static duet_status cascade_next(duet_cascade *cs, const float *logits, int32_t *tok,
				duet_source *src)
{
	duet_status s = DUET_OK;
	if (cs->turn == DUET_SOURCE_SLM) {
		if (!logits && (s = catch_up(cs, cs->slm, &logits)) != DUET_OK)
			return s;
		duet_spec_probs(logits, cs->n_vocab, 1.0f, cs->p);
		float c = confidence(cs, cs->p);
		uint32_t w = cs->prm.window;
		memmove(cs->conf + 1, cs->conf, (w - 1) * sizeof *cs->conf);
		cs->conf[0] = c;
		if (cs->n_conf < w)
			cs->n_conf++;
		double mean = 0;
		for (uint32_t i = 0; i < cs->n_conf; i++)
			mean += cs->conf[i];
		mean /= cs->n_conf;
		if (mean >= cs->prm.threshold) {
			*tok = pick(cs, logits);
			*src = DUET_SOURCE_SLM;
			cs->st.slm_tokens++;
			goto out;
		}
		cs->turn = DUET_SOURCE_LLM;
		cs->span_left = cs->prm.llm_span;
		cs->st.handovers++;
	}
	const float *l;
	uint32_t seen = duet_context_n_past(cs->llm);
	if ((s = catch_up(cs, cs->llm, &l)) != DUET_OK)
		return s;
	cs->st.llm_passes++;
	cs->st.llm_evaluated += cs->n_hist - seen;
	*tok = pick(cs, l);
	*src = DUET_SOURCE_LLM;
	if (--cs->span_left == 0) {
		cs->turn = DUET_SOURCE_SLM;
		cs->n_conf = 0; /* the SLM's window starts afresh */
	}
out:
	cs->st.tokens++;
	return hist_push(cs, *tok);
}

duet_status duet_cascade_create(duet_context *llm, duet_context *slm,
				const int32_t *prompt, uint32_t n,
				const duet_cascade_params *params, int32_t *first,
				duet_source *src, duet_cascade **out)
{
	*out = NULL;
	duet_cascade_params prm = { 0 };
	if (params)
		prm = *params;
	duet_status s = duet_models_check_pair(duet_context_model(llm),
					       duet_context_model(slm));
	if (s != DUET_OK)
		return s;
	if (duet_context_n_past(llm) || duet_context_n_past(slm) || !n)
		return DUET_ERR(DUET_E_INVAL, "a cascade starts from empty contexts "
				"and a prompt");
	if (prm.metric != DUET_CONF_MARGIN && prm.metric != DUET_CONF_ENTROPY)
		return DUET_ERR(DUET_E_INVAL, "confidence metric %d", (int)prm.metric);
	if (!prm.threshold)
		prm.threshold = prm.metric == DUET_CONF_MARGIN ? 0.3f : 0.6f;
	if (!(prm.threshold > 0 && prm.threshold <= 1))
		return DUET_ERR(DUET_E_INVAL, "cascade threshold %g is not in (0, 1]",
				(double)prm.threshold);
	if (!prm.window)
		prm.window = 2;
	if (prm.window > CASCADE_MAX_WINDOW)
		return DUET_ERR(DUET_E_INVAL, "cascade window %u (at most %d)",
				prm.window, CASCADE_MAX_WINDOW);
	if (!prm.llm_span)
		prm.llm_span = 8;
	if (!(prm.temperature >= 0) || prm.temperature > 100)
		return DUET_ERR(DUET_E_INVAL, "temperature %g", (double)prm.temperature);
	duet_cascade *cs = calloc(1, sizeof *cs);
	if (!cs)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	cs->llm = llm;
	cs->slm = slm;
	cs->prm = prm;
	cs->rng = prm.seed;
	cs->n_vocab = duet_context_model(llm)->desc.hp.n_vocab;
	cs->p = malloc(cs->n_vocab * sizeof *cs->p);
	if (!cs->p) {
		duet_cascade_destroy(cs);
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	}
	for (uint32_t i = 0; s == DUET_OK && i < n; i++)
		s = hist_push(cs, prompt[i]);
	const float *l = NULL;
	if (s == DUET_OK)
		s = duet_context_eval(slm, prompt, n, false, &l);
	if (s == DUET_OK)
		s = cascade_next(cs, l, first, src);
	if (s != DUET_OK) {
		duet_cascade_destroy(cs);
		return s;
	}
	*out = cs;
	return DUET_OK;
}

duet_status duet_cascade_step(duet_cascade *cs, int32_t *tok, duet_source *src)
{
	return cascade_next(cs, NULL, tok, src);
}

void duet_cascade_get_stats(const duet_cascade *cs, duet_cascade_stats *st)
{
	*st = cs->st;
}

void duet_cascade_destroy(duet_cascade *cs)
{
	if (!cs)
		return;
	free(cs->hist);
	free(cs->p);
	free(cs);
}
