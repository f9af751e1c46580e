/* Reference executor: one plain-C kernel per graph op (see cpu.h). */
#include "cpu.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attn_simd.h"
#include "error.h"
#include "fp16.h"
#include "pool.h"
#include "quant.h"

struct duet_cpu {
	duet_pool *pool;
	uint8_t *act;          /* activation buffer of the current graph */
	uint64_t act_bytes;
	uint64_t *offsets;     /* [n_values] byte offsets into act */
	uint32_t cap_values;
	uint8_t *qact;         /* activations quantized for MUL_MAT */
	uint64_t qact_bytes;
	float *scratch;        /* per-thread attention q16 and accumulator */
	uint64_t scratch_bytes;
	uint64_t scratch_per_thread; /* floats per thread */
	duet_weights *weights; /* streamed layers, or NULL */
	uint64_t serial_bytes; /* ops touching less run on the caller alone */
};

void duet_cpu_set_weights(duet_cpu *c, duet_weights *w)
{
	c->weights = w;
}

/* Everything a kernel task needs about the node being run. */
typedef struct op_run {
	duet_cpu *c;
	const duet_graph *g;
	const duet_gnode *n;
	const duet_step *st;
	duet_kv_cache *kv;
	float *dst;
	const float *src[3];
	uint32_t rows;  /* valid rows of dst */
	uint32_t chunk; /* output rows per MUL_MAT task */
} op_run;

duet_status duet_cpu_create(uint32_t n_threads, duet_cpu **out)
{
	*out = NULL;
	if (n_threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		n_threads = n < 1 ? 1 : n > 8 ? 8 : (uint32_t)n;
	}
	duet_cpu *c = calloc(1, sizeof *c);
	if (!c)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	duet_status s = duet_pool_create(n_threads, &c->pool);
	if (s != DUET_OK) {
		free(c);
		return s;
	}
	/* handing an op to the pool costs a few microseconds while its
	 * workers poll (pool.c), more than an op under 16 KiB of weights
	 * takes (DUET_CPU_SERIAL_BYTES overrides, for tuning) */
	const char *e = getenv("DUET_CPU_SERIAL_BYTES");
	c->serial_bytes = e ? strtoull(e, NULL, 10) : 16ull << 10;
	*out = c;
	return DUET_OK;
}

void duet_cpu_destroy(duet_cpu *c)
{
	if (!c)
		return;
	duet_pool_destroy(c->pool);
	free(c->act);
	free(c->offsets);
	free(c->qact);
	free(c->scratch);
	free(c);
}

uint32_t duet_cpu_threads(const duet_cpu *c)
{
	return duet_pool_size(c->pool);
}

/* Grows *buf to at least n bytes (contents not kept). */
static bool reserve(void **buf, uint64_t *have, uint64_t n)
{
	if (n <= *have)
		return true;
	void *p = malloc(n ? n : 1);
	if (!p)
		return false;
	free(*buf);
	*buf = p;
	*have = n;
	return true;
}

/* ---- kernels ------------------------------------------------------------ */

static void k_get_rows(op_run *r)
{
	const duet_weight *w = r->n->w;
	const int32_t *tok = (const int32_t *)r->src[0];
	for (uint32_t b = 0; b < r->rows; b++)
		duet_dequantize_row((duet_type)w->type,
				    (const uint8_t *)w->data +
					    (uint64_t)tok[b] * w->row_bytes,
				    r->dst + (uint64_t)b * w->n_in, w->n_in);
}

/* y = x / sqrt(mean(x^2) + eps) * w; the sum of squares in double, then
 * the scale and the weight applied as two float products (as llama.cpp's
 * rms_norm followed by mul). */
static void k_rms_norm(op_run *r)
{
	const float *w = r->n->w->data;
	uint32_t n = (uint32_t)r->n->w->n_in;
	for (uint32_t b = 0; b < r->rows; b++) {
		const float *x = r->src[0] + (uint64_t)b * n;
		float *y = r->dst + (uint64_t)b * n;
		double sum = 0;
		for (uint32_t i = 0; i < n; i++)
			sum += (double)x[i] * x[i];
		float scale = 1.0f / sqrtf((float)(sum / n) + r->n->eps);
		for (uint32_t i = 0; i < n; i++)
			y[i] = (x[i] * scale) * w[i];
	}
}

/* One task: output rows [t*chunk, (t+1)*chunk) for every batch row. */
static void k_mul_mat_task(void *arg, uint32_t t, uint32_t thread)
{
	(void)thread;
	const op_run *r = arg;
	const duet_weight *w = r->n->w;
	const float *bias = r->n->b ? r->n->b->data : NULL;
	duet_type dt = duet_type_get(w->type)->dot_type;
	uint64_t qrow = duet_type_row_bytes(dt, (uint64_t)w->n_in);
	int64_t o0 = (int64_t)t * r->chunk;
	int64_t o1 = o0 + r->chunk < w->n_out ? o0 + r->chunk : w->n_out;
	if (r->rows == 1) { /* a decode step: consecutive rows, one call */
		float *y = r->dst + o0;
		duet_vec_dot_rows((duet_type)w->type, w->n_in,
				  (const uint8_t *)w->data + o0 * w->row_bytes,
				  w->row_bytes, (uint32_t)(o1 - o0), r->c->qact, y);
		if (bias)
			for (int64_t o = o0; o < o1; o++)
				y[o - o0] += bias[o];
		return;
	}
	for (int64_t o = o0; o < o1; o++) {
		const uint8_t *wr = (const uint8_t *)w->data + o * w->row_bytes;
		for (uint32_t b = 0; b < r->rows; b += 4) { /* a row, 4 tokens */
			uint32_t m = r->rows - b < 4 ? r->rows - b : 4;
			float v[4];
			duet_vec_dot_n((duet_type)w->type, w->n_in, wr,
				       r->c->qact + b * qrow, qrow, m, v);
			for (uint32_t k = 0; k < m; k++)
				r->dst[(uint64_t)(b + k) * w->n_out + o] =
					bias ? v[k] + bias[o] : v[k];
		}
	}
}

/* Runs fn over n_tasks on the pool, or on this thread when the op touches
 * fewer than c->serial_bytes. */
static void run_tasks(op_run *r, duet_pool_fn fn, uint32_t n_tasks, uint64_t bytes)
{
	if (bytes < r->c->serial_bytes) {
		for (uint32_t t = 0; t < n_tasks; t++)
			fn(r, t, 0);
		return;
	}
	duet_pool_run(r->c->pool, fn, r, n_tasks);
}

static duet_status k_mul_mat(op_run *r)
{
	const duet_weight *w = r->n->w;
	duet_type dt = duet_type_get(w->type)->dot_type;
	uint64_t qrow = duet_type_row_bytes(dt, (uint64_t)w->n_in);
	if (!reserve((void **)&r->c->qact, &r->c->qact_bytes, qrow * r->rows))
		return DUET_ERR(DUET_E_NOMEM, "out of memory in mul_mat");
	for (uint32_t b = 0; b < r->rows; b++)
		duet_quantize_row(dt, r->src[0] + (uint64_t)b * w->n_in,
				  r->c->qact + b * qrow, w->n_in);
	uint32_t threads = duet_pool_size(r->c->pool);
	int64_t chunk = w->n_out / (8 * (int64_t)threads);
	r->chunk = (uint32_t)(chunk < 16 ? 16 : chunk);
	uint32_t tasks = (uint32_t)((w->n_out + r->chunk - 1) / r->chunk);
	run_tasks(r, k_mul_mat_task, tasks, duet_weight_bytes(w) * r->rows);
	return DUET_OK;
}

static void k_add(op_run *r, uint32_t cols)
{
	uint64_t n = (uint64_t)r->rows * cols;
	for (uint64_t i = 0; i < n; i++)
		r->dst[i] = r->src[0][i] + r->src[1][i];
}

static void k_swiglu(op_run *r, uint32_t cols)
{
	uint64_t n = (uint64_t)r->rows * cols;
	for (uint64_t i = 0; i < n; i++) {
		float g = r->src[0][i];
		r->dst[i] = g / (1.0f + expf(-g)) * r->src[1][i];
	}
}

/* Rotates each head's first n_rot dims by position. The angle of pair i is
 * pos * freq_scale * base^(-2i/n_rot) [/ factor_i], with base^(-2i/n_rot)
 * built by repeated float multiplication as llama.cpp does. */
static void k_rope(op_run *r)
{
	const duet_rope_params *p = &r->n->rope;
	uint32_t cols = p->n_head * p->head_dim, half = p->n_rot / 2;
	float theta_scale = powf(p->freq_base, -2.0f / (float)p->n_rot);
	memcpy(r->dst, r->src[0], (uint64_t)r->rows * cols * sizeof(float));
	for (uint32_t b = 0; b < r->rows; b++) {
		float theta = (float)duet_step_pos(r->st, b);
		for (uint32_t i = 0; i < half; i++) {
			float ff = p->factors ? p->factors[i] : 1.0f;
			float a = p->freq_scale * (theta / ff);
			float cs = cosf(a), sn = sinf(a);
			theta *= theta_scale;
			for (uint32_t h = 0; h < p->n_head; h++) {
				const float *x = r->src[0] + (uint64_t)b * cols +
						 h * p->head_dim;
				float *y = r->dst + (uint64_t)b * cols + h * p->head_dim;
				uint32_t i0 = p->mode == DUET_ROPE_NEOX ? i : 2 * i;
				uint32_t i1 = p->mode == DUET_ROPE_NEOX ? i + half
									: 2 * i + 1;
				y[i0] = x[i0] * cs - x[i1] * sn;
				y[i1] = x[i0] * sn + x[i1] * cs;
			}
		}
	}
}

/* The cache of batch row b: the step's own for several sequences, else
 * the run's. */
static duet_kv_cache *row_kv(const op_run *r, uint32_t b)
{
	return r->st->kv ? r->st->kv[b] : r->kv;
}

/* Online-softmax attention over positions 0..n_pos-1 for one query whose
 * scores are given, as llama.cpp's CPU flash attention computes it: a
 * running max M and sum S, and the weighted V sum kept, for an f16 cache,
 * in f16 precision (rounded after every update; f16_acc). Returns false
 * when that sum leaves the f16 range; the caller then recomputes with f32
 * sums (f16_acc = false), where llama.cpp would produce inf. f32 and q8_0
 * caches sum in f32 (llama.cpp's V sum for caches other than f16). The
 * loops over the head are attn_simd.c's. */
static bool attend(const op_run *r, const duet_kv_cache *kv, const float *scores,
		   uint32_t kvh, uint32_t n_pos, bool f16_acc, float *acc, float *out)
{
	const duet_attn_params *p = &r->n->attn;
	uint32_t hd = p->head_dim;
	float M = -INFINITY, S = 0.0f;
	for (uint32_t d = 0; d < hd; d++)
		acc[d] = 0.0f;
	for (uint32_t j = 0; j < n_pos; j++) {
		float s = scores[j], ms = 1.0f, vs = 1.0f;
		if (s > M) { /* new maximum: rescale what was summed so far */
			ms = expf(M - s);
			M = s;
			duet_attn_rescale(acc, hd, ms, f16_acc);
		} else {
			vs = expf(s - M);
		}
		if (!duet_attn_accumulate(acc, kv->type, duet_kv_row(kv, 1, p->layer, j),
					  kv->n_embd_kv, kvh * hd, hd, vs, f16_acc))
			return false;
		S = S * ms + vs;
	}
	for (uint32_t d = 0; d < hd; d++)
		out[d] = acc[d] * (1.0f / S);
	return true;
}

/* One task: head h of batch row b, attending to every cached position up
 * to the row's own. The result does not depend on the batch size. An f16
 * cache rounds q to f16 first (llama.cpp converts q to K's type; f32 and
 * q8_0 caches take q as it is). */
static void k_attn_task(void *arg, uint32_t t, uint32_t thread)
{
	const op_run *r = arg;
	const duet_attn_params *p = &r->n->attn;
	uint32_t b = t / p->n_head, h = t % p->n_head;
	uint32_t hd = p->head_dim, kvh = h / (p->n_head / p->n_head_kv);
	float *q16 = r->c->scratch + thread * r->c->scratch_per_thread;
	float *acc = q16 + hd, *scores = acc + hd;
	const float *q = r->src[0] + (uint64_t)b * p->n_head * hd + h * hd;
	float *out = r->dst + (uint64_t)b * p->n_head * hd + h * hd;
	const duet_kv_cache *kv = row_kv(r, b);
	bool f16 = kv->type == DUET_KV_F16;
	for (uint32_t d = 0; d < hd; d++)
		q16[d] = f16 ? duet_round_f16(q[d]) : q[d];
	uint32_t n_pos = duet_step_pos(r->st, b) + 1;
	duet_attn_scores(kv, p->layer, kvh * hd, q16, n_pos, hd, p->scale, scores);
	if (!attend(r, kv, scores, kvh, n_pos, f16, acc, out))
		attend(r, kv, scores, kvh, n_pos, false, acc, out);
}

static duet_status k_attn(op_run *r)
{
	const duet_attn_params *p = &r->n->attn;
	uint32_t kv_cols = p->n_head_kv * p->head_dim;
	uint32_t end = 0; /* past the last position of any row */
	for (uint32_t b = 0; b < r->rows; b++) {
		uint32_t pos = duet_step_pos(r->st, b);
		duet_kv_cache *kv = row_kv(r, b);
		for (int which = 0; which < 2; which++)
			duet_kv_store(kv->type, duet_kv_row(kv, which, p->layer, pos),
				      r->src[1 + which] + (uint64_t)b * kv_cols, kv_cols);
		end = pos + 1 > end ? pos + 1 : end;
	}
	uint32_t threads = duet_pool_size(r->c->pool);
	/* q16, the accumulator, and a score per position */
	uint64_t per = 2 * (uint64_t)p->head_dim + end;
	if (!reserve((void **)&r->c->scratch, &r->c->scratch_bytes,
		     per * threads * sizeof(float)))
		return DUET_ERR(DUET_E_NOMEM, "out of memory in attention");
	r->c->scratch_per_thread = per;
	/* K and V rows read per (token, head) */
	uint64_t bytes = (uint64_t)r->rows * p->n_head * end *
			 p->head_dim * 4;
	run_tasks(r, k_attn_task, r->rows * p->n_head, bytes);
	return DUET_OK;
}

static void k_take_last(op_run *r, uint32_t cols)
{
	memcpy(r->dst, r->src[0] + (uint64_t)(r->st->n_tokens - 1) * cols,
	       cols * sizeof(float));
}

/* ---- driver ------------------------------------------------------------- */

static duet_status check_step(const duet_graph *g, const duet_kv_cache *kv,
			      const duet_step *st)
{
	const duet_hparams *hp = &g->model->hp;
	if (st->n_tokens == 0 || st->n_tokens > g->n_batch)
		return DUET_ERR(DUET_E_INVAL, "step of %u tokens for a graph of "
				"batch %u", st->n_tokens, g->n_batch);
	if ((st->pos == NULL) != (st->kv == NULL))
		return DUET_ERR(DUET_E_INVAL, "a step of several sequences needs "
				"both their positions and their caches");
	for (uint32_t b = 0; b < (st->kv ? st->n_tokens : 1); b++) {
		const duet_kv_cache *k = st->kv ? st->kv[b] : kv;
		if (k->n_layer != hp->n_layer || k->n_embd_kv != hp->n_embd_kv ||
		    k->row_bytes != duet_kv_row_bytes(k->type, k->n_embd_kv) ||
		    (k->paged.pages && k->paged.row_bytes != k->row_bytes) ||
		    duet_kv_type_check(k->type, hp->head_dim, hp->n_embd_kv) != DUET_OK)
			return DUET_ERR(DUET_E_INVAL, "KV cache does not fit the model");
		if (st->pos && st->pos[b] >= k->n_ctx)
			return DUET_ERR(DUET_E_RANGE,
					"position %u of row %u exceeds the context of %u",
					st->pos[b], b, k->n_ctx);
	}
	if (!st->pos && (st->pos0 > kv->n_ctx || st->n_tokens > kv->n_ctx - st->pos0))
		return DUET_ERR(DUET_E_RANGE,
				"positions %u..%u exceed the context of %u",
				st->pos0, st->pos0 + st->n_tokens - 1, kv->n_ctx);
	for (uint32_t b = 0; b < st->n_tokens; b++)
		if (st->tokens[b] < 0 || (uint32_t)st->tokens[b] >= hp->n_vocab)
			return DUET_ERR(DUET_E_INVAL,
					"token id %d is outside the vocabulary "
					"(0..%u)", st->tokens[b], hp->n_vocab - 1);
	return DUET_OK;
}

static duet_status run_node(op_run *r)
{
	const duet_gvalue *dv = &r->g->values[r->n->dst];
	switch (r->n->op) {
	case DUET_OP_GET_ROWS: k_get_rows(r); return DUET_OK;
	case DUET_OP_RMS_NORM: k_rms_norm(r); return DUET_OK;
	case DUET_OP_MUL_MAT: return k_mul_mat(r);
	case DUET_OP_ADD: k_add(r, dv->cols); return DUET_OK;
	case DUET_OP_ROPE: k_rope(r); return DUET_OK;
	case DUET_OP_ATTN: return k_attn(r);
	case DUET_OP_SWIGLU: k_swiglu(r, dv->cols); return DUET_OK;
	case DUET_OP_TAKE_LAST: k_take_last(r, dv->cols); return DUET_OK;
	default:
		return DUET_ERR(DUET_E_UNSUPPORTED, "op %s has no CPU kernel",
				duet_op_name(r->n->op));
	}
}

static duet_status prepare(duet_cpu *c, const duet_graph *g)
{
	if (g->n_values > c->cap_values) {
		uint64_t *o = realloc(c->offsets, g->n_values * sizeof *o);
		if (!o)
			return DUET_ERR(DUET_E_NOMEM, "out of memory");
		c->offsets = o;
		c->cap_values = g->n_values;
	}
	uint64_t bytes;
	duet_status s = duet_graph_plan(g, c->offsets, &bytes);
	if (s != DUET_OK)
		return s;
	if (!reserve((void **)&c->act, &c->act_bytes, bytes))
		return DUET_ERR(DUET_E_NOMEM,
				"out of memory for %llu MiB of activations",
				(unsigned long long)(bytes >> 20));
	return DUET_OK;
}

duet_status duet_cpu_run(duet_cpu *c, const duet_graph *g, duet_kv_cache *kv,
			 const duet_step *st, const float **logits)
{
	duet_status s = check_step(g, kv, st);
	if (s != DUET_OK || (s = prepare(c, g)) != DUET_OK)
		return s;
	memcpy(c->act + c->offsets[g->in_tokens], st->tokens,
	       st->n_tokens * sizeof(int32_t));
	bool streams = duet_weights_streaming(c->weights);
	int layer = -1; /* whose weights are entered */
	for (uint32_t i = 0; i < g->n_nodes && s == DUET_OK; i++) {
		const duet_gnode *n = &g->nodes[i];
		int nl = streams && n->w ? duet_weights_layer_of(c->weights, n->w) : -1;
		if (nl >= 0 && nl != layer) {
			if (layer >= 0)
				duet_weights_leave(c->weights, (uint32_t)layer);
			layer = -1;
			if ((s = duet_weights_enter(c->weights, (uint32_t)nl)) != DUET_OK)
				break;
			layer = nl;
		}
		op_run r = { .c = c, .g = g, .n = n, .st = st, .kv = kv };
		r.dst = (float *)(c->act + c->offsets[n->dst]);
		for (int k = 0; k < 3; k++)
			r.src[k] = n->src[k] == DUET_NO_VALUE
					   ? NULL
					   : (const float *)(c->act +
							     c->offsets[n->src[k]]);
		r.rows = g->values[n->dst].rows == 1 ? 1 : st->n_tokens;
		s = run_node(&r);
	}
	if (layer >= 0)
		duet_weights_leave(c->weights, (uint32_t)layer);
	if (s != DUET_OK)
		return s;
	*logits = (const float *)(c->act + c->offsets[g->out_logits]);
	return DUET_OK;
}
