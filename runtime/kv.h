/* KV cache storage that the executors read and write: rows of n_embd_kv
 * values per position, per layer, for K and for V, stored as the
 * context's duet_kv_type:
 *   f16:  n halves (llama.cpp's default cache type, so attention rounds as
 *         it does);
 *   f32:  n floats;
 *   q8_0: the n / 32 f16 scales, padded to 16 bytes, then n int8 values
 *         (value = scale x int; llama.cpp's q8_0 rounding, in a layout
 *         where a head's values and scales are each contiguous and rows
 *         stay 16-byte aligned for the Vulkan kernels' texel fetches).
 * Either one contiguous region per context, [n_layer][n_ctx] rows for K
 * and the same for V, or the pages a sequence of the shared pool holds
 * (kv_pool.h: `paged`, set by duet_kv_seq_view after each
 * duet_kv_seq_begin).
 * Executors only use duet_kv_row(). Not thread-safe. */
#ifndef DUET_RUNTIME_KV_H
#define DUET_RUNTIME_KV_H

#include <stdint.h>

#include "duet/duet.h"
#include "duet/status.h"
#include "fp16.h"
#include "kv_pool.h"

typedef struct duet_kv_cache {
	uint32_t n_layer;
	uint32_t n_ctx;     /* positions per layer */
	uint32_t n_embd_kv; /* values per position (KV heads x head size) */
	duet_kv_type type;
	uint32_t row_bytes; /* duet_kv_row_bytes(type, n_embd_kv) */
	uint8_t *k;         /* [n_layer][n_ctx] rows */
	uint8_t *v;         /* [n_layer][n_ctx] rows */
	duet_kv_view paged; /* pages.pages: rows from a pool sequence instead */
} duet_kv_cache;

/* Bytes of one row of n values stored as t; 0 when t cannot hold such
 * rows (q8_0: n not a multiple of 32; an unknown type). */
uint32_t duet_kv_row_bytes(duet_kv_type t, uint32_t n);

/* DUET_OK when a model of head size head_dim and rows of n_embd_kv can
 * keep its cache as t; else DUET_E_INVAL naming the problem. */
duet_status duet_kv_type_check(duet_kv_type t, uint32_t head_dim,
			       uint32_t n_embd_kv);

/* Allocates a cache of type t for n_ctx positions. DUET_E_NOMEM (with the
 * size) or DUET_E_INVAL (a zero size, a type rows of n_embd_kv cannot
 * use). Release with duet_kv_cache_finish(). */
duet_status duet_kv_cache_init(duet_kv_cache *kv, uint32_t n_layer,
			       uint32_t n_ctx, uint32_t n_embd_kv,
			       duet_kv_type t);

/* Frees the storage; safe on a zeroed struct. */
void duet_kv_cache_finish(duet_kv_cache *kv);

/* Returns the K (which = 0) or V (which = 1) row of layer il at pos. */
static inline uint8_t *duet_kv_row(const duet_kv_cache *kv, int which,
				   uint32_t il, uint32_t pos)
{
	if (kv->paged.pages) {
		uint64_t off, page = duet_kv_view_page(&kv->paged, which, il, pos, &off);
		return kv->paged.pages[page] + off;
	}
	uint8_t *base = which ? kv->v : kv->k;
	return base + ((uint64_t)il * kv->n_ctx + pos) * kv->row_bytes;
}

/* Bytes of a q8_0 row's scales (padded to 16): where its values start. */
static inline uint32_t duet_kv_q8_scale_bytes(uint32_t n)
{
	return (n / 32 * 2 + 15) & ~15u;
}

/* The value of column c of a row of n values of type t (exact in f32). */
static inline float duet_kv_value(duet_kv_type t, const uint8_t *row, uint32_t n,
				  uint32_t c)
{
	if (t == DUET_KV_F32)
		return ((const float *)(const void *)row)[c];
	if (t == DUET_KV_F16)
		return duet_f16_to_f32(((const uint16_t *)(const void *)row)[c]);
	return duet_f16_to_f32(((const uint16_t *)(const void *)row)[c / 32]) *
	       (float)((const int8_t *)row)[duet_kv_q8_scale_bytes(n) + c];
}

/* Stores the n floats x as a row of type t at row (duet_kv_row_bytes). */
void duet_kv_store(duet_kv_type t, uint8_t *row, const float *x, uint32_t n);

#endif
