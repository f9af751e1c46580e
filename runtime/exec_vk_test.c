/* Single kernels run on their own, for the gpu_* test suites: the same
 * recording helpers as whole graphs use, around a one-matrix "model". */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "exec_vk.h"
#include "vk_exec_impl.h"
#include "vk_pack.h"

/* A throwaway executor around one matrix (or none) with its own buffers. */
typedef struct harness {
	duet_model_desc m;
	duet_vk_weights w;
	duet_vk_exec x;
	vk_plan p;
	rec r;
	duet_vk_range in, out;
} harness;

static duet_status harness_init(harness *h, duet_vk_device *d, uint32_t n_tok,
				uint64_t act_floats, uint64_t in_floats,
				uint64_t out_floats, bool profile)
{
	memset(h, 0, sizeof *h);
	h->w.d = d;
	h->w.m = &h->m;
	h->w.gpu = duet_vk_device_get_caps(d)->variant == DUET_VK_VARIANT_GPU;
	h->x = (duet_vk_exec){ .d = d, .w = &h->w, .m = &h->m, .gpu = h->w.gpu };
	h->p.n_batch = n_tok;
	duet_arena_init(&h->p.labels, 256);
	h->r = (rec){ .x = &h->x, .p = &h->p };
	static const float zeros[64];
	duet_status s = duet_vk_heap_create(d, DUET_VK_WEIGHTS, 0, &h->w.heap);
	if (s == DUET_OK)
		s = duet_vk_heap_create(d, DUET_VK_HOST, 0, &h->p.host_heap);
	if (s == DUET_OK)
		s = duet_vk_heap_alloc(h->w.heap, sizeof zeros, &h->w.dummy);
	if (s == DUET_OK)
		s = duet_vk_upload(d, &h->w.dummy, 0, zeros, sizeof zeros);
	struct { duet_vk_range *r; uint64_t floats; } a[] = {
		{ &h->p.act, act_floats }, { &h->in, in_floats },
		{ &h->out, out_floats }, { &h->p.step, VK_STEP_BYTES / 4 },
		{ &h->p.counters, 16 },
	};
	for (size_t i = 0; s == DUET_OK && i < 5; i++)
		s = duet_vk_heap_alloc(h->p.host_heap, (a[i].floats * 4 + 15) / 16 * 16,
				       a[i].r);
	if (s == DUET_OK) {
		struct duet_step_ubo *u = h->p.step.map;
		*u = (struct duet_step_ubo){ n_tok, 0, n_tok - 1, 0 };
		s = duet_vk_seq_create(d, profile, &h->p.seq);
	}
	if (s == DUET_OK)
		s = duet_vk_seq_begin(h->p.seq);
	return s;
}

static duet_status harness_run(harness *h)
{
	duet_vkr_write_recipes(&h->p, h->p.n_batch, 1);
	duet_status s = h->r.s;
	if (s == DUET_OK)
		s = duet_vk_seq_end(h->p.seq);
	return s == DUET_OK ? duet_vk_seq_run(h->p.seq) : s;
}

static void harness_finish(harness *h)
{
	duet_vk_seq_destroy(h->p.seq);
	duet_vk_heap_destroy(h->p.host_heap);
	duet_vk_heap_destroy(h->w.heap);
	duet_arena_finish(&h->p.labels);
}

duet_status duet_vk_test_matmul(duet_vk_device *d, uint32_t type,
				const void *w, uint32_t n_in, uint32_t n_rows,
				const float *x, uint32_t n_tok, float *y)
{
	if (!duet_vk_pack_supported(type) || n_tok == 0 || n_rows == 0)
		return DUET_ERR(DUET_E_INVAL, "bad matmul test shape or type");
	harness h;
	uint32_t dot = duet_vk_dot_format(type);
	duet_status s = harness_init(&h, d, n_tok,
				     (uint64_t)n_tok * duet_vk_act_floats(dot, n_in),
				     (uint64_t)n_tok * n_in, (uint64_t)n_tok * n_rows,
				     false);
	vk_mat mat;
	memset(&mat, 0, sizeof mat);
	const uint8_t **rows = s == DUET_OK ? malloc(n_rows * sizeof *rows) : NULL;
	if (s == DUET_OK && !rows)
		s = DUET_ERR(DUET_E_NOMEM, "out of memory");
	uint64_t rb = duet_type_row_bytes(type, n_in);
	for (uint32_t r = 0; s == DUET_OK && r < n_rows; r++)
		rows[r] = (const uint8_t *)w + r * rb;
	if (s == DUET_OK)
		s = duet_vk_mat_upload(&h.w, type, n_in, rows, n_rows, 4, &mat);
	if (s == DUET_OK) {
		memcpy(h.in.map, x, (uint64_t)n_tok * n_in * 4);
		struct duet_pc_prep pc = { .x_stride = n_in, .p = { .n = n_in } };
		duet_vkr_prep_emit(&h.r, &h.in, &pc, &h.w.dummy, dot, "prep");
		mm_out o = { .epi = DUET_EPI_STORE, .y = h.out, .res = h.w.dummy,
			     .bias = h.w.dummy, .y_stride = n_rows };
		duet_vkr_mm(&h.r, &mat, &o, NULL, "mm");
		s = harness_run(&h);
	}
	if (s == DUET_OK)
		memcpy(y, h.out.map, (uint64_t)n_tok * n_rows * 4);
	free(mat.parts);
	free(rows);
	harness_finish(&h);
	return s;
}

duet_status duet_vk_test_rms_norm(duet_vk_device *d, const float *x,
				  const float *nw, uint32_t n, uint32_t n_tok,
				  float eps, float *y)
{
	if (n_tok == 0 || n == 0)
		return DUET_ERR(DUET_E_INVAL, "bad norm test shape");
	harness h;
	uint64_t stride = duet_vk_pad256(n);
	duet_status s = harness_init(&h, d, n_tok, (uint64_t)n_tok * stride,
				     (uint64_t)n_tok * n, n, false);
	if (s == DUET_OK) {
		memcpy(h.in.map, x, (uint64_t)n_tok * n * 4);
		memcpy(h.out.map, nw, (uint64_t)n * 4);
		struct duet_pc_prep pc = { .x_stride = n,
					   .p = { .n = n, .norm = 1, .eps = eps } };
		duet_vkr_prep_emit(&h.r, &h.in, &pc, &h.out, DUET_DOT_F32, "norm");
		s = harness_run(&h);
	}
	for (uint32_t t = 0; s == DUET_OK && t < n_tok; t++)
		memcpy(y + (uint64_t)t * n, (float *)h.p.act.map + t * stride,
		       (uint64_t)n * 4);
	harness_finish(&h);
	return s;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

duet_status duet_vk_bench_matmul(duet_vk_device *d, uint32_t type,
				 uint32_t n_in, uint32_t n_rows, uint32_t n_tok,
				 uint32_t reps, double *us)
{
	*us = 0;
	if (!duet_vk_pack_supported(type) || !n_tok || !n_rows || !reps || reps > 1000)
		return DUET_ERR(DUET_E_INVAL, "bad matmul bench shape or type");
	harness h;
	uint32_t dot = duet_vk_dot_format(type);
	duet_status s = harness_init(&h, d, n_tok,
				     (uint64_t)n_tok * duet_vk_act_floats(dot, n_in),
				     (uint64_t)n_tok * n_in, (uint64_t)n_tok * n_rows,
				     true);
	uint64_t rb = duet_type_row_bytes(type, n_in);
	uint8_t *w = s == DUET_OK ? calloc(rb, 1) : NULL;
	const uint8_t **rows = s == DUET_OK ? malloc(n_rows * sizeof *rows) : NULL;
	double *t = calloc(reps, sizeof *t);
	vk_mat mat;
	memset(&mat, 0, sizeof mat);
	if (s == DUET_OK && (!w || !rows || !t))
		s = DUET_ERR(DUET_E_NOMEM, "out of memory");
	for (uint32_t r = 0; s == DUET_OK && r < n_rows; r++)
		rows[r] = w; /* one zero row: speed does not depend on values */
	if (s == DUET_OK)
		s = duet_vk_mat_upload(&h.w, type, n_in, rows, n_rows, 4, &mat);
	if (s == DUET_OK) {
		struct duet_pc_prep pc = { .x_stride = n_in, .p = { .n = n_in } };
		duet_vkr_prep_emit(&h.r, &h.in, &pc, &h.w.dummy, dot, "prep");
		mm_out o = { .epi = DUET_EPI_STORE, .y = h.out, .res = h.w.dummy,
			     .bias = h.w.dummy, .y_stride = n_rows };
		duet_vkr_mm(&h.r, &mat, &o, NULL, "mm");
		s = harness_run(&h); /* also the warm-up (pipelines compile) */
	}
	for (uint32_t i = 0; s == DUET_OK && i < reps; i++) {
		s = duet_vk_seq_run(h.p.seq);
		duet_vk_timing tm[16];
		uint32_t n = duet_vk_seq_timings(h.p.seq, tm, 16);
		for (uint32_t k = 0; k < n && k < 16; k++)
			if (!strcmp(tm[k].label, "mm"))
				t[i] += tm[k].us;
	}
	if (s == DUET_OK) {
		qsort(t, reps, sizeof *t, cmp_double);
		*us = t[reps / 2];
	}
	free(t);
	free(w);
	free(rows);
	free(mat.parts);
	harness_finish(&h);
	return s;
}
