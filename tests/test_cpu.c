/* The reference executor against a textbook forward pass written here in
 * plain float math (no quantized activations, no f16 cache), on awkward
 * shapes; plus the properties later executors rely on: results do not
 * depend on batch size, thread count or history, and errors leave the
 * context as it was. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "duet/duet.h"
#include "attn_simd.h"
#include "fp16.h"
#include "gguf.h"
#include "graph.h"
#include "model.h"
#include "models.h"
#include "quant.h"

/* ---- the textbook forward pass ----------------------------------------- */

typedef struct ref {
	const duet_model_desc *m;
	float *k, *v; /* [n_layer][n_tok][n_embd_kv] */
	int n_tok;
} ref;

static void matvec(const duet_weight *w, const float *x, float *y,
		   const duet_weight *bias)
{
	float *row = malloc(w->n_in * sizeof *row);
	for (int64_t o = 0; o < w->n_out; o++) {
		duet_dequantize_row(w->type, (const uint8_t *)w->data + o * w->row_bytes,
				    row, w->n_in);
		double s = 0;
		for (int64_t i = 0; i < w->n_in; i++)
			s += (double)row[i] * x[i];
		y[o] = (float)s + (bias && bias->name ? ((const float *)bias->data)[o] : 0);
	}
	free(row);
}

static void rmsnorm(const float *x, const duet_weight *w, float eps, int n, float *y)
{
	double ss = 0;
	for (int i = 0; i < n; i++)
		ss += (double)x[i] * x[i];
	double s = 1.0 / sqrt(ss / n + eps);
	for (int i = 0; i < n; i++)
		y[i] = (float)(x[i] * s) * ((const float *)w->data)[i];
}

/* Llama pairs adjacent dimensions, Qwen2 (NEOX style) the two halves. */
static void rope(const duet_hparams *hp, float *x, int n_head, int pos)
{
	int hd = hp->head_dim, half = hp->n_rot / 2;
	bool neox = strcmp(hp->arch_name, "qwen2") == 0;
	for (int h = 0; h < n_head; h++) {
		float *v = x + h * hd;
		for (int i = 0; i < half; i++) {
			double theta = pos * hp->rope_freq_scale *
				       pow(hp->rope_freq_base, -2.0 * i / hp->n_rot);
			int a = neox ? i : 2 * i;
			int b = neox ? i + half : 2 * i + 1;
			float x0 = v[a], x1 = v[b];
			v[a] = (float)(x0 * cos(theta) - x1 * sin(theta));
			v[b] = (float)(x0 * sin(theta) + x1 * cos(theta));
		}
	}
}

/* Logits of one more token at position r->n_tok. */
static void ref_step(ref *r, int32_t tok, float *logits)
{
	const duet_model_desc *m = r->m;
	const duet_hparams *hp = &m->hp;
	int e = hp->n_embd, kvd = hp->n_embd_kv, hd = hp->head_dim, t = r->n_tok;
	float *x = calloc(e, 4), *h = calloc(e, 4), *q = calloc(e, 4), *att = calloc(e, 4);
	float *o = calloc(e, 4), *g = calloc(hp->n_ff, 4), *u = calloc(hp->n_ff, 4);
	double *p = calloc(t + 1, sizeof *p);
	duet_dequantize_row(m->tok_embd.type,
			    (const uint8_t *)m->tok_embd.data + tok * m->tok_embd.row_bytes,
			    x, e);
	for (uint32_t il = 0; il < hp->n_layer; il++) {
		const duet_layer *L = &m->layers[il];
		float *kc = r->k + ((size_t)il * 64 + t) * kvd;
		float *vc = r->v + ((size_t)il * 64 + t) * kvd;
		rmsnorm(x, &L->attn_norm, hp->norm_eps, e, h);
		matvec(&L->wq, h, q, &L->bq);
		matvec(&L->wk, h, kc, &L->bk);
		matvec(&L->wv, h, vc, &L->bv);
		rope(hp, q, hp->n_head, t);
		rope(hp, kc, hp->n_head_kv, t);
		for (uint32_t hh = 0; hh < hp->n_head; hh++) {
			int kvh = hh / (hp->n_head / hp->n_head_kv);
			double max = -INFINITY, sum = 0;
			for (int s = 0; s <= t; s++) {
				const float *k = r->k + ((size_t)il * 64 + s) * kvd + kvh * hd;
				double d = 0;
				for (int i = 0; i < hd; i++)
					d += (double)q[hh * hd + i] * k[i];
				p[s] = d / sqrt((double)hd);
				max = p[s] > max ? p[s] : max;
			}
			for (int s = 0; s <= t; s++)
				sum += p[s] = exp(p[s] - max);
			for (int i = 0; i < hd; i++) {
				double acc = 0;
				for (int s = 0; s <= t; s++)
					acc += p[s] / sum * r->v[((size_t)il * 64 + s) * kvd + kvh * hd + i];
				att[hh * hd + i] = (float)acc;
			}
		}
		matvec(&L->wo, att, o, NULL);
		for (int i = 0; i < e; i++)
			x[i] += o[i];
		rmsnorm(x, &L->ffn_norm, hp->norm_eps, e, h);
		matvec(&L->w_gate, h, g, NULL);
		matvec(&L->w_up, h, u, NULL);
		for (uint32_t i = 0; i < hp->n_ff; i++)
			g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
		matvec(&L->w_down, g, o, NULL);
		for (int i = 0; i < e; i++)
			x[i] += o[i];
	}
	rmsnorm(x, &m->output_norm, hp->norm_eps, e, h);
	matvec(&m->output, h, logits, NULL);
	r->n_tok++;
	free(x); free(h); free(q); free(att); free(o); free(g); free(u); free(p);
}

/* ---- helpers ------------------------------------------------------------- */

static duet_model *load(const char *path)
{
	duet_model *m;
	cr_assert_eq(duet_model_load(path, NULL, &m), DUET_OK, "%s", duet_last_error());
	return m;
}

static float *eval_all(duet_model *m, const int32_t *tok, uint32_t n,
		       const duet_context_options *o)
{
	duet_context *c;
	const float *l;
	duet_model_info info;
	duet_model_get_info(m, &info);
	cr_assert_eq(duet_context_create(m, o, &c), DUET_OK, "%s", duet_last_error());
	cr_assert_eq(duet_context_eval(c, tok, n, true, &l), DUET_OK, "%s",
		     duet_last_error());
	float *out = malloc((size_t)n * info.n_vocab * sizeof *out);
	memcpy(out, l, (size_t)n * info.n_vocab * sizeof *out);
	duet_context_destroy(c);
	return out;
}

static const int32_t tokens[] = { 1, 258, 4, 77, 290, 13, 13, 200, 5, 299,
				  42, 100, 3, 17, 250, 9, 61, 2, 180, 33 };
#define N_TOK ((uint32_t)(sizeof tokens / sizeof *tokens))

/* Max |executor - textbook| over all positions' logits. */
static double compare_with_textbook(const char *path)
{
	duet_gguf *g;
	duet_model_desc md;
	cr_assert_eq(duet_gguf_open(path, &g), DUET_OK);
	cr_assert_eq(duet_model_desc_init(&md, g), DUET_OK);
	duet_model *m = load(path);
	float *got = eval_all(m, tokens, N_TOK, NULL);
	uint32_t nv = md.hp.n_vocab;
	ref r = { .m = &md };
	r.k = calloc((size_t)md.hp.n_layer * 64 * md.hp.n_embd_kv, 4);
	r.v = calloc((size_t)md.hp.n_layer * 64 * md.hp.n_embd_kv, 4);
	float *want = malloc(nv * sizeof *want);
	double max_err = 0, max_mag = 0;
	for (uint32_t t = 0; t < N_TOK; t++) {
		ref_step(&r, tokens[t], want);
		for (uint32_t i = 0; i < nv; i++) {
			max_err = fmax(max_err, fabs(got[t * nv + i] - want[i]));
			max_mag = fmax(max_mag, fabs(want[i]));
		}
	}
	cr_assert_gt(max_mag, 0.5, "logits too flat to compare");
	free(r.k); free(r.v); free(want); free(got);
	duet_model_destroy(m);
	duet_model_desc_finish(&md);
	duet_gguf_destroy(g);
	return max_err;
}

static void synth(const char *arch, uint32_t dim, uint32_t heads, uint32_t kv,
		  uint32_t ff, const char *type, bool tied, char *path, size_t cap)
{
	duet_synth_options o = { .arch = arch, .dim = dim, .layers = 2, .heads = heads,
				 .kv_heads = kv, .ff = ff, .vocab = 300, .type = type,
				 .seed = dim * 31u + ff, .tied = tied };
	char tag[64];
	snprintf(tag, sizeof tag, "cpu-%s-%u-%u-%s", arch, dim, ff, type);
	make_model(&o, tag, path, cap);
}

/* f16 K/V, f16-rounded queries and V sums (as llama.cpp) are the only
 * roundings left with f32 weights: about 1e-3 relative. */
Test(cpu, matches_textbook_forward_f32_awkward_shapes)
{
	struct { const char *arch; uint32_t dim, heads, kv, ff; bool tied; } c[] = {
		{ "llama", 52, 2, 1, 97, false },   /* MQA, odd FFN */
		{ "llama", 48, 4, 2, 13, true },    /* GQA, tied */
		{ "qwen2", 60, 3, 3, 127, false },  /* biases, NEOX rope */
	};
	for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
		char path[512];
		synth(c[i].arch, c[i].dim, c[i].heads, c[i].kv, c[i].ff, "f32", c[i].tied,
		      path, sizeof path);
		double err = compare_with_textbook(path);
		cr_assert_leq(err, 0.02, "%s dim %u: max logit error %g", c[i].arch,
			      c[i].dim, err);
		remove(path);
	}
}

/* Quantized weights: the textbook pass uses the same (dequantized)
 * weights, so what remains is the 8-bit rounding of activations. */
Test(cpu, matches_textbook_forward_quantized)
{
	const char *types[] = { "q8_0", "q4_0", "q5_1", "q4_k", "q6_k", "bf16" };
	for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
		char path[512];
		synth("llama", 256, 4, 2, 256, types[i], false, path, sizeof path);
		double err = compare_with_textbook(path);
		cr_assert_leq(err, 0.25, "%s: max logit error %g", types[i], err);
		remove(path);
	}
}

static char model_path[512];

static void setup(void)
{
	synth("llama", 64, 4, 2, 96, "q8_0", false, model_path, sizeof model_path);
}

static void teardown(void)
{
	remove(model_path);
}

Test(cpu, batch_size_does_not_change_results, .init = setup, .fini = teardown)
{
	duet_model *m = load(model_path);
	duet_model_info info;
	duet_model_get_info(m, &info);
	float *big = eval_all(m, tokens, N_TOK, &(duet_context_options){ .n_batch = 64 });
	float *small = eval_all(m, tokens, N_TOK, &(duet_context_options){ .n_batch = 3 });
	/* one token at a time through the decode graph */
	duet_context *c;
	const float *l;
	cr_assert_eq(duet_context_create(m, NULL, &c), DUET_OK);
	for (uint32_t t = 0; t < N_TOK; t++) {
		cr_assert_eq(duet_context_eval(c, &tokens[t], 1, false, &l), DUET_OK);
		cr_assert_eq(memcmp(l, big + t * info.n_vocab, info.n_vocab * 4), 0,
			     "position %u differs from the batched run", t);
	}
	cr_assert_eq(memcmp(big, small, N_TOK * info.n_vocab * 4), 0);
	duet_context_destroy(c);
	free(big);
	free(small);
	duet_model_destroy(m);
}

Test(cpu, thread_count_does_not_change_results, .init = setup, .fini = teardown)
{
	duet_model *m = load(model_path);
	duet_model_info info;
	duet_model_get_info(m, &info);
	float *one = eval_all(m, tokens, N_TOK, &(duet_context_options){ .n_threads = 1 });
	float *three = eval_all(m, tokens, N_TOK, &(duet_context_options){ .n_threads = 3 });
	cr_assert_eq(memcmp(one, three, N_TOK * info.n_vocab * 4), 0);
	free(one);
	free(three);
	duet_model_destroy(m);
}

Test(cpu, truncate_then_continue_equals_a_fresh_run, .init = setup, .fini = teardown)
{
	duet_model *m = load(model_path);
	duet_model_info info;
	duet_model_get_info(m, &info);
	float *fresh = eval_all(m, tokens, N_TOK, NULL);
	duet_context *c;
	const float *l;
	cr_assert_eq(duet_context_create(m, NULL, &c), DUET_OK);
	int32_t other[5] = { 9, 8, 7, 6, 5 };
	cr_assert_eq(duet_context_eval(c, tokens, 10, false, &l), DUET_OK);
	cr_assert_eq(duet_context_eval(c, other, 5, false, &l), DUET_OK);
	duet_context_truncate(c, 10); /* roll the 5 other tokens back */
	cr_assert_eq(duet_context_n_past(c), 10);
	cr_assert_eq(duet_context_eval(c, tokens + 10, N_TOK - 10, true, &l), DUET_OK);
	cr_assert_eq(memcmp(l, fresh + 10 * info.n_vocab, (N_TOK - 10) * info.n_vocab * 4), 0);
	duet_context_destroy(c);
	free(fresh);
	duet_model_destroy(m);
}

Test(cpu, bad_input_leaves_the_context_unchanged, .init = setup, .fini = teardown)
{
	duet_model *m = load(model_path);
	duet_context *c;
	const float *l;
	cr_assert_eq(duet_context_create(m, &(duet_context_options){ .n_ctx = 8 }, &c),
		     DUET_OK);
	cr_assert_eq(duet_context_n_ctx(c), 8);
	int32_t bad[2] = { 1, 300 };
	cr_assert_eq(duet_context_eval(c, bad, 2, false, &l), DUET_E_INVAL);
	cr_assert(strstr(duet_last_error(), "300"));
	cr_assert_eq(duet_context_eval(c, bad, 0, false, &l), DUET_E_INVAL);
	int32_t neg = -1;
	cr_assert_eq(duet_context_eval(c, &neg, 1, false, &l), DUET_E_INVAL);
	cr_assert_eq(duet_context_n_past(c), 0);
	cr_assert_eq(duet_context_eval(c, tokens, 6, false, &l), DUET_OK);
	cr_assert_eq(duet_context_eval(c, tokens, 3, false, &l), DUET_E_RANGE);
	cr_assert_eq(duet_context_n_past(c), 6);
	cr_assert_eq(duet_context_eval(c, tokens, 2, false, &l), DUET_OK);
	cr_assert_eq(duet_context_n_past(c), 8);
	duet_context_destroy(c);
	duet_model_destroy(m);
}

/* Values that are alive at the same time never share bytes. */
Test(cpu, memory_plan_never_overlaps_live_values, .init = setup, .fini = teardown)
{
	duet_gguf *g;
	duet_model_desc md;
	duet_graph *gr;
	cr_assert_eq(duet_gguf_open(model_path, &g), DUET_OK);
	cr_assert_eq(duet_model_desc_init(&md, g), DUET_OK);
	cr_assert_eq(duet_graph_build(&md, 16, DUET_LOGITS_ALL, &gr), DUET_OK);
	uint64_t *off = malloc(gr->n_values * sizeof *off), total;
	cr_assert_eq(duet_graph_plan(gr, off, &total), DUET_OK);
	uint32_t nv = gr->n_values;
	uint32_t *first = malloc(nv * 4), *last = malloc(nv * 4);
	for (uint32_t v = 0; v < nv; v++) {
		first[v] = UINT32_MAX;
		last[v] = 0;
	}
	first[gr->in_tokens] = 0;
	for (uint32_t i = 0; i < gr->n_nodes; i++) {
		const duet_gnode *n = &gr->nodes[i];
		if (first[n->dst] == UINT32_MAX)
			first[n->dst] = i;
		for (int k = 0; k < 3; k++)
			if (n->src[k] != DUET_NO_VALUE)
				last[n->src[k]] = i;
	}
	last[gr->in_tokens] = last[gr->out_logits] = gr->n_nodes;
	for (uint32_t a = 0; a < nv; a++) {
		uint64_t sa = (uint64_t)gr->values[a].rows * gr->values[a].cols * 4;
		cr_assert_leq(off[a] + sa, total);
		for (uint32_t b = a + 1; b < nv; b++) {
			uint64_t sb = (uint64_t)gr->values[b].rows * gr->values[b].cols * 4;
			bool live_together = first[a] <= last[b] && first[b] <= last[a];
			bool overlap = off[a] < off[b] + sb && off[b] < off[a] + sa;
			cr_assert_not(live_together && overlap, "%s and %s overlap",
				      gr->values[a].name, gr->values[b].name);
		}
	}
	free(off); free(first); free(last);
	duet_graph_destroy(gr);
	duet_model_desc_finish(&md);
	duet_gguf_destroy(g);
}

/* Attention's inner loops in their SIMD forms (where this CPU has them)
 * return the reference's bits, for every cache type (q8_0 at the head
 * sizes it allows): scores over 1 to 41 positions (tails of the
 * eight-position groups), the rescale, and the accumulation in f16 and f32,
 * values near the half range included so that the f16 sums overflow. */
Test(cpu, simd_attention_loops_equal_reference_bit_for_bit)
{
	static const uint32_t hds[] = { 8, 16, 32, 64, 128, 12 };
	static const duet_kv_type types[] = { DUET_KV_F16, DUET_KV_F32, DUET_KV_Q8_0 };
	uint64_t r = 5;
	for (size_t ti = 0; ti < 3; ti++)
	for (size_t hi = 0; hi < sizeof hds / sizeof *hds; hi++) {
		duet_kv_type t = types[ti];
		uint32_t hd = hds[hi], n_ctx = 41, n = 2 * hd;
		if (duet_kv_type_check(t, hd, n) != DUET_OK)
			continue;
		duet_kv_cache kv = { 0 };
		cr_assert_eq(duet_kv_cache_init(&kv, 1, n_ctx, n, t), DUET_OK);
		float row_k[256], row_v[256];
		for (uint32_t j = 0; j < n_ctx; j++) {
			for (uint32_t i = 0; i < n; i++) {
				r = r * 6364136223846793005ull + 1442695040888963407ull;
				float big = (r >> 60) == 0 ? 30000.0f : 1.0f; /* some near 65504 */
				float x = ((float)((r >> 33) & 0xffff) / 32768.0f - 1.0f) * big;
				row_k[i] = x;
				row_v[i] = x * 0.75f;
			}
			duet_kv_store(t, duet_kv_row(&kv, 0, 0, j), row_k, n);
			duet_kv_store(t, duet_kv_row(&kv, 1, 0, j), row_v, n);
		}
		float q16[128], scores[41], acc_a[128], acc_b[128];
		for (uint32_t d = 0; d < hd; d++)
			q16[d] = duet_round_f16(sinf((float)d * 0.7f + (float)hd));
		for (uint32_t n_pos = 1; n_pos <= n_ctx; n_pos += 4) {
			duet_attn_scores(&kv, 0, hd, q16, n_pos, hd, 0.125f, scores);
			for (uint32_t j = 0; j < n_pos; j++) {
				float want = duet_attn_score_ref(&kv, 0, hd, q16, j, hd, 0.125f);
				cr_assert_eq(memcmp(&scores[j], &want, 4), 0,
					     "%s hd %u score %u of %u: %.9g vs %.9g",
					     duet_kv_type_name(t), hd, j, n_pos,
					     (double)scores[j], (double)want);
			}
		}
		for (int f16 = 0; f16 < 2; f16++) {
			for (uint32_t d = 0; d < hd; d++)
				acc_a[d] = acc_b[d] = 0.0f;
			for (uint32_t j = 0; j < n_ctx; j++) {
				const uint8_t *v = duet_kv_row(&kv, 1, 0, j);
				float vs = 0.25f + (float)j * 0.37f, ms = 0.5f + (float)(j % 3) * 0.2f;
				bool ok_a = duet_attn_accumulate(acc_a, t, v, n, hd, hd, vs, f16);
				bool ok_b = duet_attn_accumulate_ref(acc_b, t, v, n, hd, hd, vs, f16);
				cr_assert_eq(ok_a, ok_b, "%s hd %u f16 %d position %u: finite "
					     "%d vs %d", duet_kv_type_name(t), hd, f16, j, ok_a, ok_b);
				if (!ok_a)
					break; /* the caller discards the sums */
				cr_assert_eq(memcmp(acc_a, acc_b, hd * sizeof *acc_a), 0,
					     "%s hd %u f16 %d: accumulate differs at %u",
					     duet_kv_type_name(t), hd, f16, j);
				duet_attn_rescale(acc_a, hd, ms, f16);
				duet_attn_rescale_ref(acc_b, hd, ms, f16);
				cr_assert_eq(memcmp(acc_a, acc_b, hd * sizeof *acc_a), 0,
					     "%s hd %u f16 %d: rescale differs at %u",
					     duet_kv_type_name(t), hd, f16, j);
			}
		}
		duet_kv_cache_finish(&kv);
	}
}
