/* Every Vulkan kernel against the CPU reference on awkward shapes (1, 13,
 * 127, 128, 4097) with fixed seeds, in both kernel families (the
 * CPU-shaped one lavapipe gets and the GPU-shaped one real GPUs get); then
 * whole models, Vulkan against the CPU executor. Each suite skips, with a
 * message, where no Vulkan device exists; with the validation layer on
 * (DUET_VK_VALIDATION=1, as ctest runs it) any validation error fails. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "duet/duet.h"
#include "exec_vk.h"
#include "models.h"
#include "quant.h"
#include "device.h"
#include "kv.h"
#include "session.h"
#include "shim.h"
#include "vk_weights.h"

static duet_vk *vk;
static duet_vk_device *dev;

/* Opens the device with the given kernel family, or skips the test. */
static void open_device(duet_vk_variant variant)
{
	if (duet_vk_create(NULL, &vk) != DUET_OK || duet_vk_device_count(vk) == 0) {
		duet_vk_destroy(vk);
		vk = NULL;
		cr_skip_test("no Vulkan device: %s", duet_last_error());
	}
	duet_vk_device_options o = { .variant_set = true, .variant = variant,
				     .cache_dir = "" };
	int idx = duet_vk_pick_device(vk, -1);
	duet_status s = duet_vk_device_create(vk, (uint32_t)idx, &o, &dev);
	if (s == DUET_E_UNSUPPORTED)
		cr_skip_test("kernel family unsupported here: %s", duet_last_error());
	cr_assert_eq(s, DUET_OK, "%s", duet_last_error());
}

static void close_device(void)
{
	duet_vk_device_destroy(dev);
	dev = NULL;
	if (vk)
		cr_expect_eq(duet_vk_validation_errors(vk), 0,
			     "Vulkan validation errors were reported");
	duet_vk_destroy(vk);
	vk = NULL;
}

static uint64_t rng_state;

static float frand(void)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return (float)((rng_state >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
}

/* y = W x as the CPU executor computes it (activation rounded/quantized
 * to the dot type, then duet_vec_dot). */
static void ref_matmul(duet_type t, const uint8_t *w, uint32_t n_in,
		       uint32_t n_rows, const float *x, uint32_t n_tok, float *y)
{
	duet_type dt = duet_type_get(t)->dot_type;
	uint64_t qb = duet_type_row_bytes(dt, n_in), rb = duet_type_row_bytes(t, n_in);
	uint8_t *qa = malloc(qb);
	for (uint32_t b = 0; b < n_tok; b++) {
		duet_quantize_row(dt, x + (uint64_t)b * n_in, qa, n_in);
		for (uint32_t o = 0; o < n_rows; o++)
			y[(uint64_t)b * n_rows + o] = duet_vec_dot(t, n_in, w + o * rb, qa);
	}
	free(qa);
}

static void check_matmul(duet_type t, uint32_t n_in, uint32_t n_rows,
			 uint32_t n_tok)
{
	rng_state = 1000003u * n_in + 7919u * n_rows + n_tok + 31u * t;
	uint64_t rb = duet_type_row_bytes(t, n_in);
	uint8_t *w = malloc(rb * n_rows);
	float *row = malloc(n_in * sizeof *row);
	float *x = malloc((uint64_t)n_tok * n_in * sizeof *x);
	float *y = malloc((uint64_t)n_tok * n_rows * sizeof *y);
	float *want = malloc((uint64_t)n_tok * n_rows * sizeof *want);
	for (uint32_t o = 0; o < n_rows; o++) {
		for (uint32_t i = 0; i < n_in; i++)
			row[i] = frand();
		duet_quantize_row(t, row, w + o * rb, n_in);
	}
	for (uint64_t i = 0; i < (uint64_t)n_tok * n_in; i++)
		x[i] = frand() * 3.0f;
	ref_matmul(t, w, n_in, n_rows, x, n_tok, want);
	duet_status s = duet_vk_test_matmul(dev, t, w, n_in, n_rows, x, n_tok, y);
	cr_assert_eq(s, DUET_OK, "%s", duet_last_error());
	/* Exact up to summation order, except that Vulkan lets a division be
	 * 2.5 ulp off: where the device's Q8 scale differs from the C one in
	 * its last bit, an activation can land one quantum away (seen on an
	 * H200: 1 output in ~16k off by 0.009). Such outliers may be at most
	 * one quantum (max|x|/127 times max|w|) off. An activation one quantum
	 * off moves every output of its token, so they come by token: few of
	 * the tokens may have any (another H200 run: 182 outputs of 8,192, all
	 * within a quantum, from q4_0 at n_in 4128 and 64 tokens; K-quants, whose
	 * activations are Q8_K, likewise: q4_K 0.014 off at n_in 4352). */
	float wmax = 0.0f;
	for (uint32_t o = 0; o < n_rows; o++) {
		duet_dequantize_row(t, w + o * rb, row, n_in);
		for (uint32_t i = 0; i < n_in; i++)
			wmax = fmaxf(wmax, fabsf(row[i]));
	}
	float quantum = 3.0f / 127.0f * wmax;
	uint64_t n_out = (uint64_t)n_tok * n_rows, outliers = 0;
	uint32_t tokens_off = 0, last_off = UINT32_MAX;
	duet_type dt = duet_type_get(t)->dot_type;
	bool q8 = dt == DUET_TYPE_Q8_0 || dt == DUET_TYPE_Q8_1 || dt == DUET_TYPE_Q8_K;
	for (uint64_t i = 0; i < n_out; i++) {
		float tol = 1e-4f * sqrtf((float)n_in) + 1e-5f * fabsf(want[i]);
		float err = fabsf(y[i] - want[i]);
		if (err <= tol)
			continue;
		outliers++;
		if ((uint32_t)(i / n_rows) != last_off) {
			last_off = (uint32_t)(i / n_rows);
			tokens_off++;
		}
		cr_assert(q8 && err <= tol + quantum,
			  "%s n_in %u rows %u tokens %u: y[%llu] = %g, want %g",
			  duet_type_name(t), n_in, n_rows, n_tok,
			  (unsigned long long)i, y[i], want[i]);
	}
	cr_assert(tokens_off <= 1 + n_tok / 16, "%s n_in %u rows %u tokens %u: "
		  "%llu of %llu outputs, in %u tokens, one activation quantum off",
		  duet_type_name(t), n_in, n_rows, n_tok,
		  (unsigned long long)outliers, (unsigned long long)n_out, tokens_off);
	free(w);
	free(row);
	free(x);
	free(y);
	free(want);
}

static const duet_type all_types[] = {
	DUET_TYPE_F32, DUET_TYPE_F16, DUET_TYPE_BF16, DUET_TYPE_Q4_0,
	DUET_TYPE_Q4_1, DUET_TYPE_Q5_0, DUET_TYPE_Q5_1, DUET_TYPE_Q8_0,
	DUET_TYPE_Q4_K, DUET_TYPE_Q5_K, DUET_TYPE_Q6_K,
};

/* Rows and tokens take the awkward sizes; n_in the smallest legal ones
 * around them for the type (any size for float types). */
static void matmul_shapes(void)
{
	static const uint32_t rows[] = { 1, 13, 127, 128, 4097 };
	static const uint32_t toks[] = { 1, 13, 64 };
	for (size_t ti = 0; ti < sizeof all_types / sizeof all_types[0]; ti++) {
		duet_type t = all_types[ti];
		uint32_t blk = duet_type_get(t)->block_elems;
		uint32_t ins[3] = { 13, 127, 4097 };
		if (blk == 32) {
			ins[0] = 32; ins[1] = 128; ins[2] = 4128;
		} else if (blk == 256) {
			ins[0] = 256; ins[1] = 512; ins[2] = 4352;
		}
		for (size_t r = 0; r < 5; r++)
			for (size_t k = 0; k < 3; k++) {
				/* the big shapes once each, to keep the run short */
				uint32_t n_in = ins[(r + k) % 3];
				if (rows[r] == 4097 && n_in > 512)
					n_in = ins[0];
				check_matmul(t, n_in, rows[r], toks[k]);
			}
	}
}

TestSuite(gpu_kernels_cpu_family, .init = NULL, .fini = close_device);
TestSuite(gpu_kernels_gpu_family, .fini = close_device);

Test(gpu_kernels_cpu_family, matmul_every_type_matches_cpu_reference)
{
	open_device(DUET_VK_VARIANT_CPU);
	matmul_shapes();
}

Test(gpu_kernels_gpu_family, matmul_every_type_matches_cpu_reference)
{
	open_device(DUET_VK_VARIANT_GPU);
	matmul_shapes();
}

static void check_norm(uint32_t n, uint32_t n_tok)
{
	rng_state = n * 17u + n_tok;
	float *x = malloc((uint64_t)n * n_tok * sizeof *x), *w = malloc(n * sizeof *w);
	float *y = malloc((uint64_t)n * n_tok * sizeof *y);
	for (uint64_t i = 0; i < (uint64_t)n * n_tok; i++)
		x[i] = frand() * 4.0f;
	for (uint32_t i = 0; i < n; i++)
		w[i] = frand();
	duet_status s = duet_vk_test_rms_norm(dev, x, w, n, n_tok, 1e-5f, y);
	cr_assert_eq(s, DUET_OK, "%s", duet_last_error());
	for (uint32_t t = 0; t < n_tok; t++) {
		const float *xt = x + (uint64_t)t * n;
		double ss = 0;
		for (uint32_t i = 0; i < n; i++)
			ss += (double)xt[i] * xt[i];
		float scale = 1.0f / sqrtf((float)(ss / n) + 1e-5f);
		for (uint32_t i = 0; i < n; i++) {
			float want = (xt[i] * scale) * w[i];
			cr_assert(fabsf(y[(uint64_t)t * n + i] - want) <=
					  1e-6f + 1e-6f * fabsf(want),
				  "n %u token %u [%u]: %g, want %g", n, t, i,
				  y[(uint64_t)t * n + i], want);
		}
	}
	free(x);
	free(w);
	free(y);
}

static void norm_shapes(void)
{
	static const uint32_t ns[] = { 1, 13, 127, 128, 4097 };
	for (size_t i = 0; i < 5; i++) {
		check_norm(ns[i], 1);
		check_norm(ns[i], 13);
	}
}

Test(gpu_kernels_cpu_family, rms_norm_matches_cpu_reference)
{
	open_device(DUET_VK_VARIANT_CPU);
	norm_shapes();
}

Test(gpu_kernels_gpu_family, rms_norm_matches_cpu_reference)
{
	open_device(DUET_VK_VARIANT_GPU);
	norm_shapes();
}

/* ---- whole models: Vulkan against the CPU executor ---------------------- */

typedef struct model_case {
	const char *arch, *type;
	uint32_t dim, layers, heads, kv_heads, ff, vocab;
	bool tied;
} model_case;

static const model_case model_cases[] = {
	{ "llama", "f32", 64, 2, 8, 2, 96, 300, false },    /* head 8, GQA 4:1 */
	{ "qwen2", "q8_0", 128, 2, 4, 4, 160, 259, false }, /* biases, NEOX rope */
	{ "llama", "q4_k_m", 256, 2, 4, 2, 512, 320, false },
	{ "llama", "f16", 96, 2, 4, 4, 160, 280, true },    /* head 24, tied */
	{ "llama", "q4_0", 128, 1, 2, 1, 224, 260, false },
	{ "qwen2", "q5_1", 64, 1, 2, 1, 96, 270, false },
	{ "llama", "q4_1", 64, 1, 8, 8, 64, 300, false },
	{ "llama", "q5_0", 96, 1, 3, 1, 128, 300, false },
	{ "llama", "bf16", 64, 1, 4, 2, 80, 300, false },
	{ "llama", "q6_k", 256, 1, 2, 2, 256, 300, false },
	{ "llama", "q5_k", 256, 1, 4, 4, 256, 300, false },
};

static float max_abs(const float *v, uint32_t n)
{
	float m = 0;
	for (uint32_t i = 0; i < n; i++)
		m = fmaxf(m, fabsf(v[i]));
	return m;
}

/* The largest |a - b| relative to the scale of a, over n values. */
static float rel_diff(const float *a, const float *b, uint32_t n)
{
	float d = 0, scale = max_abs(a, n) + 1e-3f;
	for (uint32_t i = 0; i < n; i++)
		d = fmaxf(d, fabsf(a[i] - b[i]) / scale);
	return d;
}

/* Runs a 13-token prompt (batch graph, all logits) and five decode steps
 * (single-token graph, device argmax) on both executors. */
/* Checks mc's logits on Vulkan (kernel family `variant`) against the CPU;
 * with min_parts > 1 also that the output matrix was split that far. */
/* Checks mc's logits on Vulkan (kernel family `variant`) against the CPU
 * with a cache of type kt; with min_parts > 1 also that the output matrix
 * was split that far; with a pool, the Vulkan context's cache in its pages
 * after another context took `fill` positions' pages. */
static void check_model_kv(const model_case *mc, int variant, uint32_t min_parts,
			   duet_kv_type kt, duet_kv_pool_options *pool, uint32_t fill,
			   uint32_t np)
{
	duet_synth_options so = { .arch = mc->arch, .dim = mc->dim,
				  .layers = mc->layers, .heads = mc->heads,
				  .kv_heads = mc->kv_heads, .ff = mc->ff,
				  .vocab = mc->vocab, .type = mc->type, .seed = 7,
				  .tied = mc->tied };
	char path[512], tag[64];
	snprintf(tag, sizeof tag, "gpu-%s-%s-%u", mc->arch, mc->type, mc->dim);
	make_model(&so, tag, path, sizeof path);
	snprintf(tag + strlen(tag), sizeof tag - strlen(tag), " (%s cache%s)",
		 duet_kv_type_name(kt), pool ? ", paged" : "");
	duet_model *m;
	cr_assert_eq(duet_model_load(path, NULL, &m), DUET_OK, "%s", duet_last_error());
	duet_device *pdev;
	duet_device_options dopt = { .variant = variant, .cache_dir = "" };
	duet_status s = duet_device_open(&dopt, &pdev);
	if (s == DUET_E_UNSUPPORTED)
		cr_skip_test("no Vulkan device: %s", duet_last_error());
	cr_assert_eq(s, DUET_OK, "%s", duet_last_error());
	duet_context *c[2];
	duet_context_options o = { .backend = DUET_BACKEND_CPU, .n_batch = 8,
				   .n_ctx = np + 51, .kv_type = kt };
	cr_assert_eq(duet_context_create(m, &o, &c[0]), DUET_OK);
	o.backend = DUET_BACKEND_VULKAN;
	o.device = pdev;
	duet_kv_pool *kp = NULL;
	duet_context *filler = NULL;
	if (pool) {
		pool->device = pdev;
		cr_assert_eq(duet_kv_pool_create(pool, &kp), DUET_OK, "%s", duet_last_error());
		o.kv_pool = kp;
	}
	if (fill) {
		duet_context_options fo = o;
		fo.n_ctx = fill;
		cr_assert_eq(duet_context_create(m, &fo, &filler), DUET_OK, "%s",
			     duet_last_error());
		int32_t *ft = calloc(fill, sizeof *ft);
		const float *fl;
		cr_assert_eq(duet_context_eval(filler, ft, fill, false, &fl), DUET_OK, "%s",
			     duet_last_error());
		free(ft);
	}
	s = duet_context_create(m, &o, &c[1]);
	cr_assert_eq(s, DUET_OK, "%s: %s", tag, duet_last_error());
	if (min_parts > 1) {
		duet_vk_weights *w;
		cr_assert_eq(duet_device_acquire_weights(pdev, &m->desc, NULL, NULL, NULL, &w), DUET_OK);
		cr_expect_geq(w->output.n_parts, min_parts, "%s: output in %u parts",
			      tag, w->output.n_parts);
		duet_device_release_weights(pdev, w);
	}
	int32_t *toks = malloc(np * sizeof *toks);
	for (uint32_t i = 0; i < np; i++)
		toks[i] = (int32_t)((i * 37 + 11) % mc->vocab);
	uint32_t nv = mc->vocab;
	float *ref = malloc((uint64_t)np * nv * sizeof *ref);
	const float *l;
	cr_assert_eq(duet_context_eval(c[0], toks, np, true, &l), DUET_OK);
	memcpy(ref, l, (uint64_t)np * nv * sizeof *ref);
	cr_assert_eq(duet_context_eval(c[1], toks, np, true, &l), DUET_OK, "%s",
		     duet_last_error());
	for (uint32_t t = 0; t < np; t++) {
		float d = rel_diff(ref + t * nv, l + t * nv, nv);
		/* exact up to float order, but a rounding flip in an 8-bit
		 * activation quantum can move the logits by a percent or two */
		cr_expect(d < 0.05f, "%s kernels %d: prompt position %u differs by "
			  "%.4f of the logit scale", tag, variant, t, d);
	}
	/* decode: greedy ids from the device against the CPU's logits */
	int32_t tok = toks[np - 1];
	for (int step = 0; step < 5; step++) {
		int32_t id;
		cr_assert_eq(duet_context_eval(c[0], &tok, 1, false, &l), DUET_OK);
		memcpy(ref, l, nv * sizeof *ref);
		cr_assert_eq(duet_context_eval_greedy(c[1], &tok, 1, &id), DUET_OK,
			     "%s", duet_last_error());
		int32_t best = 0;
		for (uint32_t k = 1; k < nv; k++)
			if (ref[k] > ref[best])
				best = (int32_t)k;
		float gap = ref[best] - ref[id];
		cr_expect(id == best || gap < 0.02f * (max_abs(ref, nv) + 1e-3f),
			  "%s kernels %d: decode step %d picked %d, the CPU %d "
			  "(gap %g)", tag, variant, step, id, best, gap);
		tok = best;
		if (id != best) { /* keep both on the CPU's path */
			duet_context_truncate(c[1], duet_context_n_past(c[1]) - 1);
			cr_assert_eq(duet_context_eval_greedy(c[1], &tok, 1, &id), DUET_OK);
			duet_context_truncate(c[1], duet_context_n_past(c[1]) - 1);
			cr_assert_eq(duet_context_eval(c[1], &tok, 1, false, &l), DUET_OK);
		}
	}
	free(ref);
	free(toks);
	duet_context_destroy(c[0]);
	duet_context_destroy(c[1]);
	duet_context_destroy(filler);
	duet_kv_pool_destroy(kp);
	duet_device_info info;
	duet_device_get_info(pdev, &info);
	cr_expect_eq(info.validation_errors, 0, "validation errors on %s", tag);
	duet_device_close(pdev);
	duet_model_destroy(m);
}

static void check_model_parts(const model_case *mc, int variant, uint32_t min_parts)
{
	check_model_kv(mc, variant, min_parts, DUET_KV_F16, NULL, 0, 13);
}

static void check_model(const model_case *mc, int variant)
{
	check_model_parts(mc, variant, 0);
}

/* f32 and q8_0 caches on both kernel families, in the context's own cache
 * and in pool pages of 3 positions (rows cross pages within a step): q8_0
 * with GQA and heads of 64 (two scales per head; heads of 32 in the pool
 * test below), f32 with biases, NEOX rope and heads of 64. */
Test(gpu_models, cache_types_match_cpu)
{
	static const struct {
		model_case mc;
		duet_kv_type t;
		int variant;
		bool paged;
	} runs[] = {
		{ { "llama", "q8_0", 256, 2, 4, 2, 160, 300, false }, DUET_KV_Q8_0, 1, false },
		{ { "llama", "q8_0", 256, 2, 4, 2, 160, 300, false }, DUET_KV_Q8_0, 2, true },
		{ { "qwen2", "q8_0", 128, 2, 2, 2, 160, 259, false }, DUET_KV_F32, 1, false },
		{ { "qwen2", "q8_0", 128, 2, 2, 2, 160, 259, false }, DUET_KV_F32, 2, true },
	};
	for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
		const model_case *mc = &runs[i].mc;
		uint32_t rb = duet_kv_row_bytes(runs[i].t, mc->kv_heads * (mc->dim / mc->heads));
		duet_kv_pool_options po = { .pool_bytes = 4u << 20,
					    .page_bytes = (3 * rb + 63) / 64 * 64 };
		check_model_kv(mc, runs[i].variant, 0, runs[i].t, runs[i].paged ? &po : NULL, 0,
			       13);
	}
}

/* A pool past one binding's reach is split over up to four chunks (each
 * its own binding): a 16 KiB reach (DUET_VK_MAX_RANGE) makes a 64 KiB pool
 * of 1 KiB pages four chunks, and a context filling the first 36 pages
 * puts the checked context's in chunks 2 and 3 (the tests above use 0 and
 * 1); past four chunks the pool is refused with the most it can hold. */
Test(gpu_models, pools_split_over_bindings_match_cpu)
{
	setenv("DUET_VK_MAX_RANGE", "16384", 1);
	static const model_case mc = { "llama", "q8_0", 128, 2, 4, 2, 160, 300, false };
	const duet_kv_type types[2] = { DUET_KV_F16, DUET_KV_Q8_0 };
	for (int t = 0; t < 2; t++) {
		duet_kv_pool_options po = { .pool_bytes = 65536, .page_bytes = 1024 };
		uint32_t tpp = 1024 / duet_kv_row_bytes(types[t], 64);
		check_model_kv(&mc, 1 + t, 0, types[t], &po, 9 * tpp, 13);
	}
	duet_device *pdev;
	duet_device_options dopt = { .cache_dir = "" };
	duet_status s = duet_device_open(&dopt, &pdev);
	if (s == DUET_E_UNSUPPORTED)
		cr_skip_test("no Vulkan device: %s", duet_last_error());
	duet_kv_pool_options big = { .pool_bytes = 81920, .page_bytes = 1024, .device = pdev };
	duet_kv_pool *kp;
	cr_assert_eq(duet_kv_pool_create(&big, &kp), DUET_E_UNSUPPORTED);
	cr_assert(strstr(duet_last_error(), "65536"), "%s", duet_last_error());
	duet_device_close(pdev);
	unsetenv("DUET_VK_MAX_RANGE");
}

/* Contexts longer than one block of the GPU attention kernel (32
 * positions) several times over, so later blocks bring new maxima: 100
 * prompt positions and 5 decoded, f16 on both families, q8_0 in pool
 * pages on the gpu family (heads of 64, GQA). */
Test(gpu_models, long_contexts_match_cpu)
{
	static const model_case mc = { "llama", "q8_0", 128, 1, 2, 1, 128, 300, false };
	check_model_kv(&mc, 1, 0, DUET_KV_F16, NULL, 0, 100);
	check_model_kv(&mc, 2, 0, DUET_KV_F16, NULL, 0, 100);
	duet_kv_pool_options po = { .pool_bytes = 1u << 20, .page_bytes = 1024 };
	check_model_kv(&mc, 2, 0, DUET_KV_Q8_0, &po, 0, 100);
}

/* The shapes and epilogues (GQA, biases, NEOX rope, K types, tied); the
 * other types' matrix kernels are checked one by one above. */
Test(gpu_models, every_shape_matches_cpu_gpu_family)
{
	for (size_t i = 0; i < 4; i++)
		check_model(&model_cases[i], 2);
}

/* Weights past the binding range are split by rows into parts (each its
 * own dispatch, rows kept in whole quads and pairs); a 16 KiB range forces
 * that on every matrix of a small model. */
Test(gpu_models, split_weights_match_cpu)
{
	setenv("DUET_VK_MAX_RANGE", "16384", 1);
	check_model_parts(&model_cases[1], 1, 2);
	check_model_parts(&model_cases[2], 2, 2);
}

/* ---- the pipeline cache ------------------------------------------------- */

static const char *cache_file(char *buf, size_t cap, const char *dir)
{
	const duet_vk_caps *c = duet_vk_device_get_caps(dev);
	snprintf(buf, cap, "%s/pipelines-%04x-%04x.bin", dir, c->vendor_id,
		 c->device_id);
	return buf;
}

static void open_cached(const char *dir)
{
	if (!vk && (duet_vk_create(NULL, &vk) != DUET_OK || !duet_vk_device_count(vk)))
		cr_skip_test("no Vulkan device: %s", duet_last_error());
	duet_vk_device_options o = { .cache_dir = dir };
	cr_assert_eq(duet_vk_device_create(vk, (uint32_t)duet_vk_pick_device(vk, -1),
					   &o, &dev), DUET_OK, "%s", duet_last_error());
}

static void make_pipeline(void)
{
	duet_vk_kernel *k;
	uint32_t spec[3] = { 8, 0 /* DUET_DOT_F32 */, 8 };
	cr_assert_eq(duet_vk_kernel_get(dev, "norm_quant", spec, 3, &k), DUET_OK,
		     "%s", duet_last_error());
}

Test(gpu_shim, pipeline_cache_is_saved_reused_and_corruption_discarded,
     .fini = close_device)
{
	char dir[512], file[600];
	snprintf(dir, sizeof dir, "%s/pcache-%d", getenv("TMPDIR") ? getenv("TMPDIR")
							: "/tmp", (int)getpid());
	open_cached(dir);
	cr_expect_str_eq(duet_vk_device_startup(dev)->cache_state, "miss");
	make_pipeline();
	cache_file(file, sizeof file, dir);
	duet_vk_device_destroy(dev); /* saves */
	dev = NULL;
	FILE *f = fopen(file, "rb");
	cr_assert_not_null(f, "no cache file %s after creating a pipeline", file);
	char magic[8];
	cr_assert_eq(fread(magic, 1, 8, f), 8);
	cr_expect(!memcmp(magic, "DUETPC01", 8));
	fclose(f);
	open_cached(dir);
	cr_expect_str_eq(duet_vk_device_startup(dev)->cache_state, "hit");
	make_pipeline();
	duet_vk_device_destroy(dev);
	dev = NULL;
	/* flip one byte of the driver's data: the checksum must catch it */
	f = fopen(file, "r+b");
	cr_assert_not_null(f);
	fseek(f, -1, SEEK_END);
	int ch = fgetc(f);
	fseek(f, -1, SEEK_END);
	fputc(ch ^ 0x5a, f);
	fclose(f);
	open_cached(dir);
	cr_expect_str_eq(duet_vk_device_startup(dev)->cache_state, "corrupt");
	cr_expect_eq(duet_vk_device_startup(dev)->cache_bytes, 0);
	make_pipeline(); /* still works, from scratch */
	duet_vk_device_destroy(dev);
	dev = NULL;
	/* garbage and a truncated file */
	f = fopen(file, "wb");
	fputs("not a cache", f);
	fclose(f);
	open_cached(dir);
	cr_expect_str_eq(duet_vk_device_startup(dev)->cache_state, "corrupt");
	make_pipeline();
}

/* Memory types per role on three kinds of device, as plain data (no device
 * needed): a discrete GPU with only the small BAR window, one with a
 * resizable BAR, and a phone (UMA). The KV pool's pages must always be
 * mappable, and device-local whenever a mappable device-local heap is
 * large. */
Test(gpu_memory, roles_pick_the_right_memory_types)
{
	enum { L = DUET_VK_MEM_LOCAL, V = DUET_VK_MEM_VISIBLE, C = DUET_VK_MEM_COHERENT,
	       H = DUET_VK_MEM_CACHED };
	const uint64_t GiB = 1ull << 30;
	/* types: 0 VRAM, 1 host, 2 host cached, 3 VRAM mapped (heap 2) */
	duet_vk_mem_props bar = { .n_types = 4, .flags = { L, V | C, V | C | H, L | V | C },
				  .heap = { 0, 1, 1, 2 },
				  .heap_size = { 16 * GiB, 64 * GiB, 256ull << 20 } };
	duet_vk_mem_props rebar = bar;
	rebar.heap_size[2] = 16 * GiB;
	duet_vk_mem_props uma = { .n_types = 2, .flags = { L | V | C | H, L }, .heap = { 0, 0 },
				  .heap_size = { 8 * GiB } };
	duet_vk_mem_props unmappable = { .n_types = 1, .flags = { L }, .heap = { 0 },
					 .heap_size = { 8 * GiB } };
	const struct {
		const duet_vk_mem_props *m;
		duet_vk_role role;
		uint32_t type;
		bool visible;
		const char *what;
	} cases[] = {
		{ &bar, DUET_VK_WEIGHTS, 0, false, "weights in VRAM, not the 256 MiB window" },
		{ &bar, DUET_VK_ACT, 0, false, "activations in VRAM" },
		{ &bar, DUET_VK_HOST, 2, true, "I/O in cached host memory" },
		{ &bar, DUET_VK_KV, 2, true, "KV in host memory (the window is small)" },
		{ &rebar, DUET_VK_WEIGHTS, 3, true, "weights in mappable VRAM" },
		{ &rebar, DUET_VK_KV, 3, true, "KV in mappable VRAM" },
		{ &rebar, DUET_VK_HOST, 2, true, "I/O still in host memory" },
		{ &uma, DUET_VK_KV, 0, true, "KV in the one UMA heap" },
		{ &uma, DUET_VK_HOST, 0, true, "I/O in the one UMA heap" },
		{ &unmappable, DUET_VK_KV, UINT32_MAX, false, "no mappable memory: none" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		bool vis = !cases[i].visible;
		uint32_t t = duet_vk_pick_memory(cases[i].m, cases[i].role, &vis);
		cr_expect_eq(t, cases[i].type, "%s: type %u", cases[i].what, t);
		cr_expect_eq(vis, cases[i].visible, "%s: visible %d", cases[i].what, vis);
	}
}
