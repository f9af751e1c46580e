/* SLM+LLM collaboration (see duet.h, "Speculative decoding" and
 * "confidence cascade"): the vocabulary check of a pair, speculative
 * decoding and the cascade, each over two contexts. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "collab.h"
#include "clock.h"
#include "pick.h"

#include "error.h"
#include "session.h"

#define SPEC_MAX_K DUET_SPEC_MAX_K
#define SPEC_MAX_PEND 64 /* tokens the draft may fall behind by */
#define SPEC_PROBE 16    /* plain steps between two drafting rounds */

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
	int32_t dpend[SPEC_MAX_PEND]; /* tokens the draft has still to evaluate */
	uint32_t n_dpend;
	duet_spec_cost cost;     /* greedy: what drafting and passes cost here */
	uint32_t last_k;         /* the last round's draft length */
	uint32_t lost;           /* probes in a row after which drafting could not pay */
	bool given_up;           /* greedy: plain steps only, the draft idle */
	uint32_t plain_run;      /* plain steps since the last drafting round */
	uint32_t draft_run;      /* drafting rounds since the last plain step */
	uint8_t seen_draft, seen_pass[DUET_SPEC_MAX_K + 2]; /* samples taken */
	duet_spec_stats st;
};

/* Exponential moving average of a cost. The first sample is dropped: a
 * first pass of a size may build its graph or compile its pipelines. */
static void ema(double *v, bool *have, uint8_t *seen, double x)
{
	if (*seen < 2 && ++*seen == 1)
		return;
	*v = *have ? 0.8 * *v + 0.2 * x : x;
	*have = true;
}

/* Seconds of a target pass of n tokens: measured, else a line through the
 * nearest measured sizes (never falling with n), else (one size measured)
 * half a token's share of that pass per extra token, an optimistic guess
 * that drafting then corrects. */
static double pass_cost(const duet_spec_cost *c, uint32_t n)
{
	if (c->have_pass[n])
		return c->pass_s[n];
	uint32_t lo = 0, hi = 0;
	for (uint32_t m = n; m-- > 1;)
		if (c->have_pass[m]) {
			lo = m;
			break;
		}
	for (uint32_t m = n + 1; m <= SPEC_MAX_K + 1; m++)
		if (c->have_pass[m]) {
			hi = m;
			break;
		}
	if (lo && hi)
		return c->pass_s[lo] + (c->pass_s[hi] - c->pass_s[lo]) * (n - lo) / (hi - lo);
	uint32_t a = lo ? lo : hi, b = 0; /* two measured sizes on one side */
	for (uint32_t m = 1; m <= SPEC_MAX_K + 1; m++)
		if (c->have_pass[m] && m != a)
			b = m;
	if (a && b) { /* a pass never costs less for more tokens: slope >= 0 */
		double slope = (c->pass_s[b] - c->pass_s[a]) / ((double)b - a);
		return c->pass_s[a] + (slope > 0 ? slope : 0) * ((double)n - a);
	}
	if (a)
		return c->pass_s[a] * (1.0 + 0.5 * ((double)n - a) / a);
	return 0;
}

/* The k in 1 .. k_max with the most tokens per second for accept share a,
 * and that rate in *rate (0 when none beats a plain step by 2%). */
static uint32_t best_k(const duet_spec_cost *c, uint32_t k_max, double a, double *rate)
{
	a = a < 0.999 ? a : 0.999;
	uint32_t best = 0;
	double best_rate = 1.0 / c->pass_s[1];
	for (uint32_t k = 1; k <= k_max && k <= SPEC_MAX_K; k++) {
		/* tokens per round: 1 + a + ... + a^k */
		double tokens = (1.0 - pow(a, (double)k + 1)) / (1.0 - a);
		double t = k * c->draft_s + pass_cost(c, k + 1);
		if (t > 0 && tokens / t > best_rate * 1.02) {
			best_rate = tokens / t;
			best = k;
		}
	}
	*rate = best ? best_rate : 0;
	return best;
}

uint32_t duet_spec_choose_k(const duet_spec_cost *c, uint32_t k_max, uint32_t k_try)
{
	if (!c->have_pass[1])
		return 0; /* measure a plain step first */
	if (!c->have_draft || !c->have_accept)
		return k_try; /* then a drafting round */
	double rate;
	return best_k(c, k_max, c->accept, &rate);
}

void duet_spec_count_round(duet_spec_cost *c, uint32_t k, uint32_t j)
{
	if (!k)
		return;
	c->kept += j;
	c->judged += j + (j < k);
	c->accept = (c->kept + 1.0) / (c->judged + 2.0);
	c->have_accept = true;
}

bool duet_spec_can_pay(const duet_spec_cost *c, uint32_t k_max, double a)
{
	bool some = false;
	for (uint32_t n = 2; n <= DUET_SPEC_MAX_K + 1; n++)
		some |= c->have_pass[n];
	if (!c->have_pass[1] || !c->have_draft || !some)
		return true; /* not known yet */
	double rate;
	return best_k(c, k_max, a, &rate) > 0;
}

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
	if (sp->temp <= 0) {
		/* greedy: the output is the target's whatever k is, so k is
		 * what gives the most tokens per second here; a plain step now
		 * and then drafts again (with the acceptance-adapted k) to keep
		 * the measurements current */
		k = duet_spec_choose_k(&sp->cost, sp->k_max, sp->k);
		if (k == 0 && !sp->given_up && ++sp->plain_run >= SPEC_PROBE) {
			/* probe, unless three probes in a row found that not
			 * even the accept share's upper bound (two standard
			 * errors above what was seen) could pay: then stop
			 * feeding the draft */
			double n = (double)sp->cost.judged;
			double p = sp->cost.have_accept ? sp->cost.accept : 0.5;
			double hi = p + 2.0 * sqrt(p * (1.0 - p) / (n + 2.0));
			if (!duet_spec_can_pay(&sp->cost, sp->k_max, hi < 1.0 ? hi : 1.0))
				sp->lost++;
			else
				sp->lost = 0;
			if (sp->lost >= 3)
				sp->given_up = true;
			else
				k = sp->k;
		}
		if (k && ++sp->draft_run > 2 * SPEC_PROBE) {
			k = 0; /* a plain step now and then keeps its cost current */
			sp->draft_run = 0;
		}
		if (k)
			sp->plain_run = 0;
		else
			sp->draft_run = 0;
		if (sp->given_up)
			k = 0;
	}
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
	if (k == 0 && sp->n_dpend == SPEC_MAX_PEND) {
		/* plain steps: the draft catches up in one batch now and then */
		if (sp->n_dpend > droom)
			return DUET_ERR(DUET_E_RANGE, "the draft context is full");
		int32_t ignored;
		s = duet_context_eval_greedy(sp->dft, sp->dpend, sp->n_dpend, &ignored);
		if (s != DUET_OK)
			return s;
		sp->n_dpend = 0;
	}
	/* draft: evaluate what it lacks, then one token at a time */
	double t0 = duet_now_s(), t1 = t0;
	if (k) {
		sp->dpend[sp->n_dpend++] = sp->next;
		uint32_t caught = sp->n_dpend;
		s = draft_one(sp, sp->dpend, sp->n_dpend, sp->q, &seq[1]);
		sp->n_dpend = 0;
		t1 = duet_now_s();
		if (caught == 1) /* one token: a plain draft step */
			ema(&sp->cost.draft_s, &sp->cost.have_draft, &sp->seen_draft, t1 - t0);
	}
	for (uint32_t i = 1; s == DUET_OK && i < k; i++)
		s = draft_one(sp, &seq[i], 1, sp->q ? sp->q + i * nv : NULL, &seq[i + 1]);
	if (s != DUET_OK)
		return s;
	double t2 = duet_now_s();
	if (k > 1)
		ema(&sp->cost.draft_s, &sp->cost.have_draft, &sp->seen_draft,
		    (t2 - t1) / (k - 1));
	/* verify */
	const float *l;
	s = duet_context_eval(sp->tgt, seq, k + 1, true, &l);
	if (s != DUET_OK)
		return s;
	ema(&sp->cost.pass_s[k + 1], &sp->cost.have_pass[k + 1], &sp->seen_pass[k + 1],
	    duet_now_s() - t2);
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
	} else if (!sp->given_up) {
		sp->dpend[sp->n_dpend++] = seq[0]; /* the draft falls behind */
	}
	sp->last_k = k;
	sp->next = y;
	sp->st.drafted += k;
	sp->st.accepted += j;
	duet_spec_count_round(&sp->cost, k, j);
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
	st->k = sp->temp <= 0 ? sp->last_k : sp->k;
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
