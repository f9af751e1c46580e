/* KV cache storage that the executors read and write: f16 rows of
 * n_embd_kv (llama.cpp's default cache type, so attention rounds as it
 * does), either one contiguous region per context, [n_layer][n_ctx] rows
 * for K and the same for V, or the pages a sequence of the shared pool
 * holds (kv_pool.h: `paged`, set by duet_kv_seq_view after each
 * duet_kv_seq_begin).
 * Executors only use duet_kv_row(). Not thread-safe. */
#ifndef DUET_RUNTIME_KV_H
#define DUET_RUNTIME_KV_H

#include <stdint.h>

#include "duet/status.h"
#include "kv_pool.h"

typedef struct duet_kv_cache {
	uint32_t n_layer;
	uint32_t n_ctx;     /* positions per layer */
	uint32_t n_embd_kv; /* values per position (KV heads x head size) */
	uint16_t *k;        /* [n_layer][n_ctx][n_embd_kv] f16 */
	uint16_t *v;        /* [n_layer][n_ctx][n_embd_kv] f16 */
	duet_kv_view paged; /* pages.pages: rows from a pool sequence instead */
} duet_kv_cache;

/* Allocates a cache for n_ctx positions. DUET_E_NOMEM (with the size) or
 * DUET_E_INVAL (a zero size). Release with duet_kv_cache_finish(). */
duet_status duet_kv_cache_init(duet_kv_cache *kv, uint32_t n_layer,
			       uint32_t n_ctx, uint32_t n_embd_kv);

/* Frees the storage; safe on a zeroed struct. */
void duet_kv_cache_finish(duet_kv_cache *kv);

/* Returns the K (which = 0) or V (which = 1) row of layer il at pos. */
static inline uint16_t *duet_kv_row(const duet_kv_cache *kv, int which,
				    uint32_t il, uint32_t pos)
{
	if (kv->paged.pages) {
		uint64_t off, page = duet_kv_view_page(&kv->paged, which, il, pos, &off);
		return (uint16_t *)(kv->paged.pages[page] + off);
	}
	uint16_t *base = which ? kv->v : kv->k;
	return base + ((uint64_t)il * kv->n_ctx + pos) * kv->n_embd_kv;
}

#endif
