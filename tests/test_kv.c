/* The KV-cache arbiter (runtime/kv_pool): pages granted, truncated and
 * returned; prefix sharing with copy-on-write; preemption by swap and by
 * drop (recompute) under priorities and guarantees; exhaustion as an error
 * that leaves other sequences intact; 8 threads of random operations with
 * pages conserved; and attention through a page table equal to the
 * contiguous cache on the CPU executor. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "fp16.h"
#include "graph.h"
#include "gguf.h"
#include "kv.h"
#include "kv_pool.h"
#include "model.h"
#include "kv_stress.h"
#include "models.h"

/* rows of 64 f16 (128 bytes): 8 positions a page; 2 layers x K, V: blocks
 * of 4 pages */
static const duet_kv_model small = { .n_layer = 2, .n_embd_kv = 64, .row_bytes = 128 };
#define PAGE 1024u
#define TPP 8u
#define BLK 4u

/* A pool of `blocks` blocks of the small model. */
static duet_kv_pool *pool_of(uint32_t blocks, double swap_gbps, uint32_t *model)
{
	duet_kv_pool_opts o = { .pool_bytes = (uint64_t)blocks * BLK * PAGE, .page_bytes = PAGE,
				.swap_gbps = swap_gbps };
	duet_kv_pool *p;
	cr_assert_eq(duet_kv_pool_create(&o, &p), DUET_OK, "%s", duet_last_error());
	cr_assert_eq(duet_kv_pool_add_model(p, &small, model), DUET_OK, "%s",
		     duet_last_error());
	cr_assert_eq(duet_kv_pool_tokens_per_page(p, *model), TPP);
	return p;
}

static void check_conserved(duet_kv_pool *p)
{
	duet_kv_stats st;
	duet_kv_pool_stats(p, &st);
	cr_assert_eq(st.pages_used + st.pages_free, st.pages_total);
}

/* Writes a value derived from (tag, layer, K/V, pos) into every element
 * of positions [a, b) of s; check_rows verifies it. */
static uint16_t mark(uint32_t tag, uint32_t il, int kv, uint32_t pos, uint32_t i)
{
	return (uint16_t)(tag * 7919u + il * 131u + (uint32_t)kv * 17u + pos * 3u + i);
}

static void fill_rows(duet_kv_seq *s, uint32_t tag, uint32_t a, uint32_t b)
{
	for (uint32_t pos = a; pos < b; pos++)
		for (uint32_t il = 0; il < small.n_layer; il++)
			for (int kv = 0; kv < 2; kv++) {
				uint16_t *r = duet_kv_seq_row(s, kv, il, pos);
				cr_assert_not_null(r, "position %u", pos);
				for (uint32_t i = 0; i < small.n_embd_kv; i++)
					r[i] = mark(tag, il, kv, pos, i);
			}
}

static void check_rows(duet_kv_seq *s, uint32_t tag, uint32_t a, uint32_t b)
{
	for (uint32_t pos = a; pos < b; pos++)
		for (uint32_t il = 0; il < small.n_layer; il++)
			for (int kv = 0; kv < 2; kv++) {
				const uint16_t *r = duet_kv_seq_row(s, kv, il, pos);
				for (uint32_t i = 0; i < small.n_embd_kv; i++)
					cr_assert_eq(r[i], mark(tag, il, kv, pos, i),
						     "tag %u position %u layer %u", tag,
						     pos, il);
			}
}

/* A step that writes [pos0, pos0 + n) with the tag's marks. */
static duet_status step(duet_kv_seq *s, uint32_t tag, uint32_t pos0, uint32_t n)
{
	uint32_t valid;
	duet_status st = duet_kv_seq_begin(s, pos0, n, &valid);
	if (st != DUET_OK)
		return st;
	cr_assert_geq(valid, pos0, "positions were dropped");
	fill_rows(s, tag, pos0, pos0 + n);
	duet_kv_seq_end(s, pos0 + n);
	return DUET_OK;
}

Test(kv, pages_are_granted_truncated_and_returned)
{
	uint32_t m;
	duet_kv_pool *p = pool_of(16, 0, &m);
	duet_kv_seq *s;
	cr_assert_eq(duet_kv_seq_open(p, m, DUET_KV_NORMAL, 0, &s), DUET_OK);
	cr_assert_eq(step(s, 1, 0, 5), DUET_OK);
	duet_kv_stats st;
	duet_kv_pool_stats(p, &st);
	cr_assert_eq(st.pages_used, 1 * BLK);
	cr_assert_eq(step(s, 1, 5, 20), DUET_OK); /* 25 positions: 4 pages */
	duet_kv_pool_stats(p, &st);
	cr_assert_eq(st.pages_used, 4 * BLK);
	cr_assert_float_eq(st.waste_pct, 100.0 * (32 - 25) / 32, 1e-9);
	check_rows(s, 1, 0, 25);
	duet_kv_seq_truncate(s, 9); /* speculative rollback */
	cr_assert_eq(duet_kv_seq_tokens(s), 9);
	duet_kv_pool_stats(p, &st);
	cr_assert_eq(st.pages_used, 2 * BLK);
	check_rows(s, 1, 0, 9);
	cr_assert_eq(step(s, 2, 9, 3), DUET_OK);
	check_rows(s, 1, 0, 9);
	check_rows(s, 2, 9, 12);
	/* rewriting from an earlier position drops what followed */
	uint32_t valid;
	cr_assert_eq(duet_kv_seq_begin(s, 4, 1, &valid), DUET_OK);
	cr_assert_eq(valid, 12);
	duet_kv_seq_end(s, 5);
	cr_assert_eq(duet_kv_seq_tokens(s), 5);
	cr_assert_eq(duet_kv_seq_begin(s, 9, 1, &valid), DUET_OK, "past the end: no-op");
	cr_assert_eq(valid, 5, "the caller must fill 5..8 first");
	duet_kv_seq_close(s);
	duet_kv_pool_stats(p, &st);
	cr_assert_eq(st.pages_used, 0);
	cr_assert_eq(st.sequences, 0);
	duet_kv_pool_destroy(p);
}

Test(kv, bad_shapes_and_sizes_are_errors)
{
	duet_kv_pool *p;
	duet_kv_pool_opts o = { .pool_bytes = 1000, .page_bytes = 4096 };
	cr_assert_eq(duet_kv_pool_create(&o, &p), DUET_E_INVAL);
	o = (duet_kv_pool_opts){ .pool_bytes = 1 << 20, .page_bytes = 1000 };
	cr_assert_eq(duet_kv_pool_create(&o, &p), DUET_E_INVAL);
	o.page_bytes = 1024;
	cr_assert_eq(duet_kv_pool_create(&o, &p), DUET_OK);
	uint32_t id;
	duet_kv_model big = { .n_layer = 32, .n_embd_kv = 1024, .row_bytes = 2048 };
	cr_assert_eq(duet_kv_pool_add_model(p, &big, &id), DUET_E_INVAL);
	cr_assert(strstr(duet_last_error(), "at least 2048"), "%s", duet_last_error());
	duet_kv_seq *s;
	cr_assert_eq(duet_kv_seq_open(p, 0, DUET_KV_NORMAL, 0, &s), DUET_E_INVAL,
		     "no such model");
	duet_kv_pool_destroy(p);
}

Test(kv, shared_prefix_is_copied_on_write)
{
	uint32_t m;
	duet_kv_pool *p = pool_of(16, 0, &m);
	duet_kv_seq *sys, *a, *b;
	cr_assert_eq(duet_kv_seq_open(p, m, DUET_KV_NORMAL, 0, &sys), DUET_OK);
	cr_assert_eq(step(sys, 1, 0, 20), DUET_OK); /* a system prompt: 3 pages */
	cr_assert_eq(duet_kv_seq_open(p, m, DUET_KV_NORMAL, 0, &a), DUET_OK);
	cr_assert_eq(duet_kv_seq_open(p, m, DUET_KV_NORMAL, 0, &b), DUET_OK);
	cr_assert_eq(duet_kv_seq_share(a, sys, 20), DUET_OK);
	cr_assert_eq(duet_kv_seq_share(b, sys, 20), DUET_OK);
	duet_kv_stats st;
	duet_kv_pool_stats(p, &st);
	cr_assert_eq(st.pages_used, 3 * BLK);
	cr_assert_eq(st.pages_shared, 3 * BLK);
	check_rows(a, 1, 0, 20);
	/* a and b go on in the shared third page: each gets its own copy */
	cr_assert_eq(step(a, 2, 20, 6), DUET_OK);
	cr_assert_eq(step(b, 3, 20, 2), DUET_OK);
	duet_kv_pool_stats(p, &st);
	cr_assert_eq(st.cow_copies, 2 * BLK);
	cr_assert_eq(st.pages_used, (3 + 1 + 1 + 1) * BLK, "a: 1 copy + 1 new; b: 1 copy");
	check_rows(sys, 1, 0, 20);
	check_rows(a, 1, 0, 20);
	check_rows(a, 2, 20, 26);
	check_rows(b, 1, 0, 20);
	check_rows(b, 3, 20, 22);
	cr_assert_eq(duet_kv_seq_share(a, sys, 4), DUET_E_INVAL, "a is not empty");
	duet_kv_seq_close(sys);
	check_rows(a, 1, 0, 16); /* the pages stay while a holds them */
	duet_kv_seq_close(a);
	duet_kv_seq_close(b);
	duet_kv_pool_stats(p, &st);
	cr_assert_eq(st.pages_used, 0);
	duet_kv_pool_destroy(p);
}

/* An interactive request preempts a background sequence; with a fast copy
 * the pages go to host memory and come back bit for bit. */
Test(kv, preemption_by_swap_restores_the_same_bytes)
{
	uint32_t m;
	duet_kv_pool *p = pool_of(8, 1000.0, &m);
	duet_kv_seq *bg, *fg;
	cr_assert_eq(duet_kv_seq_open(p, m, DUET_KV_BACKGROUND, 8, &bg), DUET_OK);
	cr_assert_eq(duet_kv_seq_open(p, m, DUET_KV_INTERACTIVE, 0, &fg), DUET_OK);
	cr_assert_eq(step(bg, 1, 0, 48), DUET_OK); /* 6 pages */
	cr_assert_eq(step(fg, 2, 0, 40), DUET_OK); /* 5 pages: 2 free, the rest bg's */
	duet_kv_stats st;
	duet_kv_pool_stats(p, &st);
	cr_assert_eq(st.preemptions, 1);
	cr_assert_eq(st.swaps, 5 * BLK, "bg keeps its guaranteed block, swaps 5");
	cr_assert_eq(st.recomputes, 0);
	cr_assert_eq(duet_kv_seq_tokens(bg), 48, "swapped positions stay valid");
	check_rows(bg, 1, 0, 8);
	cr_assert_eq(step(bg, 1, 48, 1), DUET_E_AGAIN, "fg holds the pool");
	duet_kv_seq_truncate(fg, 0);
	cr_assert_eq(step(bg, 1, 48, 1), DUET_OK);
	duet_kv_pool_stats(p, &st);
	cr_assert_eq(st.swap_ins, 5 * BLK);
	check_rows(bg, 1, 0, 49);
	check_conserved(p);
	duet_kv_seq_close(bg);
	duet_kv_seq_close(fg);
	duet_kv_pool_destroy(p);
}

/* With a slow copy and cheap recomputation the positions are dropped:
 * the owner learns from begin that it must recompute from *valid. */
Test(kv, preemption_by_drop_asks_for_recompute)
{
	uint32_t m;
	duet_kv_pool *p = pool_of(8, 1e-6, &m);
	duet_kv_seq *bg, *fg;
	cr_assert_eq(duet_kv_seq_open(p, m, DUET_KV_BACKGROUND, 16, &bg), DUET_OK);
	cr_assert_eq(duet_kv_seq_open(p, m, DUET_KV_NORMAL, 0, &fg), DUET_OK);
	cr_assert_eq(step(bg, 1, 0, 60), DUET_OK); /* 8 pages */
	cr_assert_eq(step(fg, 2, 0, 9), DUET_OK);  /* 2 pages */
	duet_kv_stats st;
	duet_kv_pool_stats(p, &st);
	cr_assert_eq(st.recomputes, 1);
	cr_assert_eq(st.swaps, 0);
	cr_assert_eq(duet_kv_seq_tokens(bg), 16, "kept its guaranteed 2 pages");
	cr_assert_eq(st.recompute_tokens, 60 - 16);
	uint32_t valid;
	cr_assert_eq(duet_kv_seq_begin(bg, 60, 1, &valid), DUET_OK);
	cr_assert_eq(valid, 16);
	check_rows(bg, 1, 0, 16);
	cr_assert_eq(step(bg, 1, 16, 8), DUET_OK, "recomputing into free pages");
	check_conserved(p);
	duet_kv_seq_close(bg);
	duet_kv_seq_close(fg);
	duet_kv_pool_destroy(p);
}

/* Exhaustion: equal priority never preempts; a request no pool could
 * serve is NOMEM; guarantees are reserved; nobody's data changes. */
Test(kv, exhaustion_is_an_error_and_leaves_others_intact)
{
	uint32_t m;
	duet_kv_pool *p = pool_of(8, 1000.0, &m);
	duet_kv_seq *a, *b, *c;
	cr_assert_eq(duet_kv_seq_open(p, m, DUET_KV_INTERACTIVE, 0, &a), DUET_OK);
	cr_assert_eq(duet_kv_seq_open(p, m, DUET_KV_INTERACTIVE, 16, &b), DUET_OK);
	cr_assert_eq(duet_kv_seq_open(p, m, DUET_KV_NORMAL, 64, &c), DUET_E_NOMEM,
		     "guarantees past the pool");
	cr_assert_eq(step(a, 1, 0, 48), DUET_OK); /* 6 pages, 2 left for b's guarantee */
	cr_assert_eq(step(a, 1, 48, 1), DUET_E_NOMEM, "b's guarantee is never a's");
	cr_assert(strstr(duet_last_error(), "guaranteed 8"), "%s", duet_last_error());
	cr_assert_eq(step(b, 2, 0, 16), DUET_OK);
	cr_assert_eq(step(b, 2, 16, 1), DUET_E_AGAIN);
	cr_assert(strstr(duet_last_error(), "equal or higher priority"), "%s",
		  duet_last_error());
	cr_assert_eq(step(b, 2, 16, 100), DUET_E_NOMEM, "more than the pool");
	check_rows(a, 1, 0, 48);
	check_rows(b, 2, 0, 16);
	cr_assert_eq(duet_kv_seq_tokens(b), 16);
	duet_kv_stats st;
	duet_kv_pool_stats(p, &st);
	cr_assert_eq(st.refused, 4);
	cr_assert_eq(st.preemptions, 0);
	check_conserved(p);
	duet_kv_seq_close(a);
	duet_kv_seq_close(b);
	duet_kv_pool_destroy(p);
}

/* ---- 8 threads x 1,000 random operations ------------------------------------- */

Test(kv, eight_threads_of_random_operations_conserve_pages, .timeout = 120)
{
	uint32_t m;
	/* 8 x 2 sequences of up to ~100 positions in 40 pages of 8 */
	duet_kv_pool *p = pool_of(40, 0.0015, &m);
	int failures = kv_stress(p, m, 8, 1000);
	cr_assert_eq(failures, 0, "%d steps read back wrong rows", failures);
	duet_kv_stats st;
	duet_kv_pool_stats(p, &st);
	cr_assert_eq(st.pages_used + st.pages_free, st.pages_total);
	cr_assert_eq(st.pages_used, 0, "every sequence closed");
	cr_assert_eq(st.sequences, 0);
	cr_log_info("preemptions %llu, swaps %llu, recomputes %llu, refused %llu, cow %llu",
		    (unsigned long long)st.preemptions, (unsigned long long)st.swaps,
		    (unsigned long long)st.recomputes, (unsigned long long)st.refused,
		    (unsigned long long)st.cow_copies);
	cr_assert_gt(st.preemptions, 0, "the workload should contend");
	duet_kv_pool_destroy(p);
}

/* ---- paged attention on the CPU executor ------------------------------------- */

/* The logits of a prompt and of decode steps after it are identical with
 * the contiguous cache and with a page table (pages in scattered order:
 * another sequence takes every other page), for a cache of type t. The
 * contiguous run's logits of every step go to `all` (8 x n_vocab). */
static void paged_equals_contiguous(duet_kv_type t, float *all)
{
	char path[512];
	duet_synth_options o = { .arch = "llama", .dim = 128, .layers = 3, .heads = 4,
				 .kv_heads = 2, .ff = 256, .vocab = 300, .type = "f16",
				 .seed = 11 };
	make_model(&o, "kvpaged", path, sizeof path);
	duet_gguf *g;
	duet_model_desc md;
	cr_assert_eq(duet_gguf_open(path, &g), DUET_OK);
	cr_assert_eq(duet_model_desc_init(&md, g), DUET_OK, "%s", duet_last_error());
	duet_graph *gr;
	cr_assert_eq(duet_graph_build(&md, 8, DUET_LOGITS_LAST, &gr), DUET_OK);
	duet_cpu *cpu;
	cr_assert_eq(duet_cpu_create(2, &cpu), DUET_OK);
	uint32_t nv = md.hp.n_vocab, n_ctx = 64;
	duet_kv_cache flat;
	cr_assert_eq(duet_kv_cache_init(&flat, md.hp.n_layer, n_ctx, md.hp.n_embd_kv, t),
		     DUET_OK);
	/* pages of 3 positions: a step crosses page boundaries */
	uint32_t rb = duet_kv_row_bytes(t, md.hp.n_embd_kv);
	duet_kv_model km = { .n_layer = md.hp.n_layer, .n_embd_kv = md.hp.n_embd_kv,
			     .row_bytes = rb };
	duet_kv_pool_opts po = { .pool_bytes = 64ull << 10 << 4,
				 .page_bytes = (3 * rb + 63) / 64 * 64 };
	duet_kv_pool *p;
	cr_assert_eq(duet_kv_pool_create(&po, &p), DUET_OK, "%s", duet_last_error());
	uint32_t mid;
	cr_assert_eq(duet_kv_pool_add_model(p, &km, &mid), DUET_OK);
	cr_assert_eq(duet_kv_pool_tokens_per_page(p, mid), 3);
	duet_kv_seq *seq, *other;
	cr_assert_eq(duet_kv_seq_open(p, mid, DUET_KV_NORMAL, 0, &seq), DUET_OK);
	cr_assert_eq(duet_kv_seq_open(p, mid, DUET_KV_NORMAL, 0, &other), DUET_OK);
	duet_kv_cache paged = flat;
	int32_t toks[20] = { 1, 5, 9, 77, 3, 250, 42, 8, 100, 12, 13, 14, 200, 201, 7, 6, 5, 4, 3, 2 };
	uint32_t pos = 0;
	for (int s = 0; s < 8; s++) {
		uint32_t n = s == 0 ? 7 : 1 + (uint32_t)s % 2, valid;
		duet_step st = { .tokens = toks + pos, .n_tokens = n, .pos0 = pos };
		const float *l;
		float *want = all + (uint64_t)s * nv;
		cr_assert_eq(duet_cpu_run(cpu, gr, &flat, &st, &l), DUET_OK);
		memcpy(want, l, nv * sizeof *want);
		cr_assert_eq(duet_kv_seq_begin(seq, pos, n, &valid), DUET_OK);
		cr_assert_eq(valid, pos);
		duet_kv_seq_view(seq, &paged.paged);
		cr_assert_eq(duet_cpu_run(cpu, gr, &paged, &st, &l), DUET_OK, "%s",
			     duet_last_error());
		duet_kv_seq_end(seq, pos + n);
		cr_assert(memcmp(l, want, nv * sizeof *want) == 0, "%s: step %d differs",
			  duet_kv_type_name(t), s);
		/* another sequence takes the next page */
		cr_assert_eq(duet_kv_seq_begin(other, pos, 3, &valid), DUET_OK);
		duet_kv_seq_end(other, pos + 3);
		pos += n;
	}
	duet_kv_seq_close(seq);
	duet_kv_seq_close(other);
	duet_kv_pool_destroy(p);
	duet_kv_cache_finish(&flat);
	duet_cpu_destroy(cpu);
	duet_graph_destroy(gr);
	duet_model_desc_finish(&md);
	duet_gguf_destroy(g);
}

Test(kv, cpu_paged_attention_equals_contiguous, .timeout = 60)
{
	float *all = malloc(8 * 300 * sizeof *all);
	paged_equals_contiguous(DUET_KV_F16, all);
	free(all);
}

/* f32 and q8_0 caches: paged equals contiguous too, and their logits stay
 * near the f16 cache's (the same model, a coarser or finer cache): the
 * largest difference is a small share of the logits' spread, and f32 is
 * nearer to f16 than q8_0 is. */
Test(kv, cpu_cache_types_page_and_stay_near_f16, .timeout = 60)
{
	uint32_t n = 8 * 300;
	float *ref = malloc(n * sizeof *ref), *got = malloc(n * sizeof *got);
	paged_equals_contiguous(DUET_KV_F16, ref);
	float lo = ref[0], hi = ref[0];
	for (uint32_t i = 0; i < n; i++) {
		lo = ref[i] < lo ? ref[i] : lo;
		hi = ref[i] > hi ? ref[i] : hi;
	}
	double diff[2];
	const duet_kv_type types[2] = { DUET_KV_F32, DUET_KV_Q8_0 };
	for (int k = 0; k < 2; k++) {
		paged_equals_contiguous(types[k], got);
		diff[k] = 0;
		bool same = true;
		for (uint32_t i = 0; i < n; i++) {
			double d = fabs((double)got[i] - ref[i]);
			diff[k] = d > diff[k] ? d : diff[k];
			same = same && got[i] == ref[i];
		}
		cr_log_info("%s cache: largest logit difference from f16 %.3g (spread %.3g)",
			    duet_kv_type_name(types[k]), diff[k], (double)(hi - lo));
		cr_assert(!same, "%s: the logits equal f16's bit for bit: the type "
			  "was not used", duet_kv_type_name(types[k]));
		cr_assert_lt(diff[k], 0.02 * (hi - lo), "%s cache is far from f16's",
			     duet_kv_type_name(types[k]));
	}
	cr_assert_lt(diff[0], diff[1], "f32 (%.3g) should be nearer f16 than q8_0 (%.3g)",
		     diff[0], diff[1]);
	free(ref);
	free(got);
}

/* Row formats: q8_0 keeps llama.cpp's rounding (value = f16 scale x int,
 * the int round(x / scale) with scale = max|x| / 127), f16 and f32 the
 * values; a head size the type cannot split is an error naming it. */
/* Columns [c0, c0 + n) of a row of n_row values of type t, as floats. */
static void load_row(duet_kv_type t, const uint8_t *row, uint32_t n_row,
		     uint32_t c0, uint32_t n, float *out)
{
	for (uint32_t i = 0; i < n; i++)
		out[i] = duet_kv_value(t, row, n_row, c0 + i);
}

Test(kv, row_formats_round_as_llama_cpp)
{
	float x[64], y[64];
	for (int i = 0; i < 64; i++)
		x[i] = sinf((float)i * 1.3f) * (i < 32 ? 0.01f : 40.0f);
	uint8_t row[256];
	cr_assert_eq(duet_kv_row_bytes(DUET_KV_Q8_0, 64), 16 + 64);
	cr_assert_eq(duet_kv_row_bytes(DUET_KV_Q8_0, 48), 0);
	cr_assert_eq(duet_kv_row_bytes(DUET_KV_F32, 64), 256);
	duet_kv_store(DUET_KV_Q8_0, row, x, 64);
	load_row(DUET_KV_Q8_0, row, 64, 0, 64, y);
	for (int b = 0; b < 2; b++) {
		float amax = 0;
		for (int i = 0; i < 32; i++)
			amax = fmaxf(amax, fabsf(x[32 * b + i]));
		float d = duet_round_f16(amax / 127.0f), id = 1.0f / (amax / 127.0f);
		for (int i = 0; i < 32; i++) {
			float want = d * roundf(x[32 * b + i] * id);
			cr_assert_eq(y[32 * b + i], want, "q8_0 value %d: %g vs %g",
				     32 * b + i, (double)y[32 * b + i], (double)want);
		}
	}
	/* the second half alone, as attention loads one head */
	float z[32];
	load_row(DUET_KV_Q8_0, row, 64, 32, 32, z);
	cr_assert(memcmp(z, y + 32, sizeof z) == 0);
	duet_kv_store(DUET_KV_F32, row, x, 64);
	load_row(DUET_KV_F32, row, 64, 0, 64, y);
	cr_assert(memcmp(x, y, sizeof y) == 0);
	duet_kv_store(DUET_KV_F16, row, x, 64);
	load_row(DUET_KV_F16, row, 64, 0, 64, y);
	for (int i = 0; i < 64; i++)
		cr_assert_eq(y[i], duet_round_f16(x[i]));
	cr_assert_eq(duet_kv_type_check(DUET_KV_Q8_0, 48, 96), DUET_E_INVAL);
	cr_assert(strstr(duet_last_error(), "multiple of 32"), "%s", duet_last_error());
	cr_assert_eq(duet_kv_type_check(DUET_KV_Q8_0, 64, 128), DUET_OK);
	cr_assert_eq(duet_kv_type_check((duet_kv_type)7, 64, 128), DUET_E_INVAL);
	duet_kv_type t;
	cr_assert(duet_kv_type_parse("q8_0", &t) && t == DUET_KV_Q8_0);
	cr_assert(!duet_kv_type_parse("q4_0", &t));
}

/* ---- contexts in a pool ----------------------------------------------------------- */

#include "duet/duet.h"

static char ctx_model[512];

static void make_ctx_model(void)
{
	/* 3 layers, 2 KV heads of 32: rows of 128 bytes, 8 a page of 1 KiB,
	 * blocks of 6 pages */
	duet_synth_options o = { .arch = "llama", .dim = 128, .layers = 3, .heads = 4,
				 .kv_heads = 2, .ff = 256, .vocab = 300, .type = "f16",
				 .seed = 5 };
	make_model(&o, "kvctx", ctx_model, sizeof ctx_model);
}

#define N_GEN 30

/* Greedy generation of N_GEN tokens after a 12-token prompt on context c;
 * after `interrupt` tokens, calls hook (another context's work). */
static void generate(duet_context *c, int32_t *ids, float *last, int interrupt,
		     void (*hook)(void *), void *user)
{
	int32_t tok[12] = { 1, 17, 42, 99, 5, 230, 7, 64, 128, 3, 77, 250 };
	uint32_t n = 12;
	const float *l;
	for (int i = 0; i < N_GEN; i++) {
		if (i == interrupt && hook)
			hook(user);
		cr_assert_eq(duet_context_eval(c, tok, n, false, &l), DUET_OK, "step %d: %s",
			     i, duet_last_error());
		int best = 0;
		for (int v = 1; v < 300; v++)
			if (l[v] > l[best])
				best = v;
		ids[i] = tok[0] = best;
		n = 1;
	}
	memcpy(last, l, 300 * sizeof *last);
}

typedef struct intruder {
	duet_model *m;
	duet_kv_pool *pool;
	uint32_t prompt;
	duet_status want;
} intruder;

/* An interactive context that needs most of the pool for its prompt. */
static void intrude(void *user)
{
	intruder *in = user;
	duet_context_options co = { .n_ctx = 256, .n_batch = 16, .kv_pool = in->pool,
				    .priority = DUET_PRIORITY_INTERACTIVE };
	duet_context *b;
	cr_assert_eq(duet_context_create(in->m, &co, &b), DUET_OK, "%s", duet_last_error());
	int32_t *tok = malloc(in->prompt * sizeof *tok);
	for (uint32_t i = 0; i < in->prompt; i++)
		tok[i] = (int32_t)(i * 7 % 300);
	const float *l;
	cr_assert_eq(duet_context_eval(b, tok, in->prompt, false, &l), in->want, "%s",
		     duet_last_error());
	free(tok);
	duet_context_destroy(b);
}

/* A background context preempted by an interactive one (its pages swapped
 * out, or dropped and recomputed from its tokens) generates exactly what
 * it generates alone, on backend be (Vulkan: the pool in the device's
 * memory, attention and cache stores through the page table). */
static void preempted_run_on(duet_backend be, int variant, double swap_gbps,
			     bool expect_swap, duet_kv_type kt)
{
	duet_model *m;
	cr_assert_eq(duet_model_load(ctx_model, NULL, &m), DUET_OK, "%s", duet_last_error());
	duet_device *dev = NULL;
	duet_device_options dopt = { .variant = variant };
	if (be == DUET_BACKEND_VULKAN)
		cr_assert_eq(duet_device_open(&dopt, &dev), DUET_OK, "%s", duet_last_error());
	int32_t want[N_GEN], got[N_GEN];
	float want_l[300], got_l[300];
	duet_context_options alone = { .n_ctx = 64, .n_batch = 8, .backend = be,
				       .device = dev, .kv_type = kt };
	duet_context *a;
	cr_assert_eq(duet_context_create(m, &alone, &a), DUET_OK, "%s", duet_last_error());
	generate(a, want, want_l, -1, NULL, NULL);
	duet_context_destroy(a);

	/* 12 blocks of 8 positions; the intruder's 88-token prompt needs 11 */
	duet_kv_pool_options po = { .pool_bytes = 12 * 6 * 1024, .page_bytes = 1024,
				    .swap_gbps = swap_gbps, .device = dev };
	duet_kv_pool *pool;
	cr_assert_eq(duet_kv_pool_create(&po, &pool), DUET_OK, "%s", duet_last_error());
	duet_context_options co = alone;
	co.kv_pool = pool;
	co.priority = DUET_PRIORITY_BACKGROUND;
	cr_assert_eq(duet_context_create(m, &co, &a), DUET_OK, "%s", duet_last_error());
	cr_assert_eq(duet_context_backend(a), be);
	intruder in = { m, pool, 88, DUET_OK };
	generate(a, got, got_l, 15, intrude, &in);
	duet_kv_stats st;
	duet_kv_pool_stats(pool, &st);
	cr_assert_gt(st.preemptions, 0);
	if (expect_swap)
		cr_assert(st.swaps > 0 && st.swap_ins > 0, "swaps %llu in %llu",
			  (unsigned long long)st.swaps, (unsigned long long)st.swap_ins);
	else
		cr_assert(st.recomputes > 0 && st.recompute_tokens > 0);
	for (int i = 0; i < N_GEN; i++)
		cr_assert_eq(got[i], want[i], "token %d: %d, alone %d", i, got[i], want[i]);
	cr_assert(memcmp(got_l, want_l, sizeof got_l) == 0, "the last logits differ");
	duet_context_destroy(a);
	duet_kv_pool_stats(pool, &st);
	cr_assert_eq(st.pages_used, 0);
	duet_kv_pool_destroy(pool);
	if (dev) {
		duet_device_info di;
		duet_device_get_info(dev, &di);
		cr_assert_eq(di.validation_errors, 0, "Vulkan validation errors");
		duet_device_close(dev);
	}
	duet_model_destroy(m);
}

static void preempted_run(duet_backend be, double swap_gbps, bool expect_swap)
{
	preempted_run_on(be, 0, swap_gbps, expect_swap, DUET_KV_F16);
}

Test(kv, context_preempted_by_swap_gives_uninterrupted_output, .init = make_ctx_model,
     .timeout = 60)
{
	preempted_run(DUET_BACKEND_CPU, 1000.0, true);
}

Test(kv, context_preempted_by_recompute_gives_uninterrupted_output,
     .init = make_ctx_model, .timeout = 60)
{
	preempted_run(DUET_BACKEND_CPU, 1e-9, false);
}

Test(kv, vulkan_context_preempted_by_swap_gives_uninterrupted_output,
     .init = make_ctx_model, .timeout = 120)
{
	need_vulkan();
	preempted_run(DUET_BACKEND_VULKAN, 1000.0, true);
}

Test(kv, vulkan_context_preempted_by_recompute_gives_uninterrupted_output,
     .init = make_ctx_model, .timeout = 120)
{
	need_vulkan();
	preempted_run(DUET_BACKEND_VULKAN, 1e-9, false);
}

/* The same with a q8_0 cache (rows of 80 bytes, 12 a page, the page's
 * last 64 bytes unused) beside the intruder's f16 one in the same pool:
 * swapped or recomputed q8_0 pages give the uninterrupted run's bits, on
 * the CPU and through the Vulkan kernels' page tables. */
Test(kv, q8_0_contexts_preempted_give_uninterrupted_output, .init = make_ctx_model,
     .timeout = 120)
{
	preempted_run_on(DUET_BACKEND_CPU, 0, 1000.0, true, DUET_KV_Q8_0);
	preempted_run_on(DUET_BACKEND_CPU, 0, 1e-9, false, DUET_KV_Q8_0);
	need_vulkan();
	preempted_run_on(DUET_BACKEND_VULKAN, 0, 1000.0, true, DUET_KV_Q8_0);
}

/* A request no pool could hold fails with NOMEM; equal priority gets
 * AGAIN; the other context goes on as if nothing happened. */
Test(kv, context_exhaustion_leaves_others_intact, .init = make_ctx_model, .timeout = 60)
{
	duet_model *m;
	cr_assert_eq(duet_model_load(ctx_model, NULL, &m), DUET_OK, "%s", duet_last_error());
	int32_t want[N_GEN], got[N_GEN];
	float want_l[300], got_l[300];
	duet_context_options alone = { .n_ctx = 64, .n_batch = 8, .backend = DUET_BACKEND_CPU };
	duet_context *a;
	cr_assert_eq(duet_context_create(m, &alone, &a), DUET_OK);
	generate(a, want, want_l, -1, NULL, NULL);
	duet_context_destroy(a);
	duet_kv_pool_options po = { .pool_bytes = 12 * 6 * 1024, .page_bytes = 1024 };
	duet_kv_pool *pool;
	cr_assert_eq(duet_kv_pool_create(&po, &pool), DUET_OK);
	duet_context_options co = alone;
	co.kv_pool = pool;
	co.priority = DUET_PRIORITY_INTERACTIVE;
	cr_assert_eq(duet_context_create(m, &co, &a), DUET_OK, "%s", duet_last_error());
	intruder huge = { m, pool, 200, DUET_E_NOMEM }; /* 25 blocks of 12 */
	generate(a, got, got_l, 10, intrude, &huge);
	for (int i = 0; i < N_GEN; i++)
		cr_assert_eq(got[i], want[i], "token %d", i);
	cr_assert(memcmp(got_l, want_l, sizeof got_l) == 0);
	/* a's 42 positions hold 6 blocks: an equal-priority 56-token prompt
	 * (7 blocks) must wait */
	intruder peer = { m, pool, 56, DUET_E_AGAIN };
	intrude(&peer);
	duet_kv_stats st;
	duet_kv_pool_stats(pool, &st);
	cr_assert_eq(st.preemptions, 0);
	cr_assert_eq(st.refused, 2);
	duet_context_destroy(a);
	duet_kv_pool_destroy(pool);
	duet_model_destroy(m);
}

/* The kernels meant for real GPUs (attn_gpu, mm_gpu) through pages too. */
Test(kv, vulkan_gpu_kernels_preempted_give_uninterrupted_output,
     .init = make_ctx_model, .timeout = 120)
{
	need_vulkan();
	preempted_run_on(DUET_BACKEND_VULKAN, 2, 1000.0, true, DUET_KV_F16);
	preempted_run_on(DUET_BACKEND_VULKAN, 2, 1e-9, false, DUET_KV_F16);
}

/* A pool in host memory serves CPU contexts only: Vulkan is refused with
 * the reason, auto picks the CPU. */
Test(kv, host_pools_serve_cpu_contexts, .init = make_ctx_model)
{
	duet_model *m;
	cr_assert_eq(duet_model_load(ctx_model, NULL, &m), DUET_OK);
	duet_kv_pool_options po = { .pool_bytes = 1 << 20 };
	duet_kv_pool *pool;
	cr_assert_eq(duet_kv_pool_create(&po, &pool), DUET_OK);
	duet_context_options co = { .n_ctx = 32, .backend = DUET_BACKEND_VULKAN, .kv_pool = pool };
	duet_context *c;
	cr_assert_eq(duet_context_create(m, &co, &c), DUET_E_UNSUPPORTED);
	cr_assert(strstr(duet_last_error(), "give the pool a device"), "%s", duet_last_error());
	co.backend = DUET_BACKEND_AUTO;
	cr_assert_eq(duet_context_create(m, &co, &c), DUET_OK, "%s", duet_last_error());
	cr_assert_eq(duet_context_backend(c), DUET_BACKEND_CPU);
	duet_context_destroy(c);
	duet_kv_pool_destroy(pool);
	duet_model_destroy(m);
}

/* Two contexts start from a third's 20-position system prompt: pages
 * shared, the partly filled one copied when each writes past the prompt;
 * their logits equal those of contexts that evaluated everything alone. */
Test(kv, contexts_share_a_prompt_prefix, .init = make_ctx_model, .timeout = 60)
{
	duet_model *m;
	cr_assert_eq(duet_model_load(ctx_model, NULL, &m), DUET_OK, "%s", duet_last_error());
	int32_t sys[20], tails[2][5] = { { 3, 1, 4, 1, 5 }, { 9, 2, 6, 5, 3 } };
	for (int i = 0; i < 20; i++)
		sys[i] = (int32_t)(10 + i * 11 % 280);
	float want[2][300];
	duet_context_options co = { .n_ctx = 64, .n_batch = 8, .backend = DUET_BACKEND_CPU };
	for (int k = 0; k < 2; k++) {
		duet_context *c;
		const float *l;
		cr_assert_eq(duet_context_create(m, &co, &c), DUET_OK);
		cr_assert_eq(duet_context_eval(c, sys, 20, false, &l), DUET_OK);
		cr_assert_eq(duet_context_eval(c, tails[k], 5, false, &l), DUET_OK);
		memcpy(want[k], l, sizeof want[k]);
		duet_context_destroy(c);
	}
	duet_kv_pool_options po = { .pool_bytes = 32 * 6 * 1024, .page_bytes = 1024 };
	duet_kv_pool *pool;
	cr_assert_eq(duet_kv_pool_create(&po, &pool), DUET_OK);
	co.kv_pool = pool;
	duet_context *s, *c[2], *plain;
	const float *l;
	cr_assert_eq(duet_context_create(m, &co, &s), DUET_OK);
	cr_assert_eq(duet_context_eval(s, sys, 20, false, &l), DUET_OK);
	duet_kv_stats st;
	for (int k = 0; k < 2; k++) {
		cr_assert_eq(duet_context_create(m, &co, &c[k]), DUET_OK);
		cr_assert_eq(duet_context_share_prefix(c[k], s, 20), DUET_OK, "%s",
			     duet_last_error());
		cr_assert_eq(duet_context_n_past(c[k]), 20);
	}
	duet_kv_pool_stats(pool, &st);
	cr_assert_eq(st.pages_used, 3 * 6, "three blocks, held three times");
	cr_assert_eq(st.pages_shared, 3 * 6);
	for (int k = 0; k < 2; k++) {
		cr_assert_eq(duet_context_eval(c[k], tails[k], 5, false, &l), DUET_OK);
		cr_assert(memcmp(l, want[k], sizeof want[k]) == 0, "context %d differs", k);
	}
	duet_kv_pool_stats(pool, &st);
	cr_assert_eq(st.cow_copies, 2 * 6, "each copied the third block");
	cr_assert_eq(duet_context_share_prefix(c[0], s, 4), DUET_E_INVAL, "not empty");
	cr_assert_eq(duet_context_create(m, &(duet_context_options){ .n_ctx = 64 }, &plain),
		     DUET_OK);
	cr_assert_eq(duet_context_share_prefix(plain, s, 4), DUET_E_UNSUPPORTED);
	duet_context_destroy(plain);
	duet_context_destroy(s);
	duet_context_destroy(c[0]);
	duet_context_destroy(c[1]);
	duet_kv_pool_stats(pool, &st);
	cr_assert_eq(st.pages_used, 0);
	duet_kv_pool_destroy(pool);
	duet_model_destroy(m);
}
