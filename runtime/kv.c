/* Contiguous f16 KV storage (see kv.h). */
#include "kv.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

duet_status duet_kv_cache_init(duet_kv_cache *kv, uint32_t n_layer,
			       uint32_t n_ctx, uint32_t n_embd_kv)
{
	memset(kv, 0, sizeof *kv);
	if (!n_layer || !n_ctx || !n_embd_kv)
		return DUET_ERR(DUET_E_INVAL, "KV cache size is zero");
	uint64_t n = (uint64_t)n_layer * n_ctx * n_embd_kv;
	if (n > SIZE_MAX / 2 / sizeof(uint16_t))
		return DUET_ERR(DUET_E_NOMEM, "KV cache of %llu values is too large",
				(unsigned long long)n);
	kv->k = malloc(n * sizeof(uint16_t));
	kv->v = malloc(n * sizeof(uint16_t));
	if (!kv->k || !kv->v) {
		duet_kv_cache_finish(kv);
		return DUET_ERR(DUET_E_NOMEM,
				"out of memory allocating a %llu MiB KV cache",
				(unsigned long long)(2 * n * sizeof(uint16_t) >> 20));
	}
	kv->n_layer = n_layer;
	kv->n_ctx = n_ctx;
	kv->n_embd_kv = n_embd_kv;
	return DUET_OK;
}

void duet_kv_cache_finish(duet_kv_cache *kv)
{
	free(kv->k);
	free(kv->v);
	memset(kv, 0, sizeof *kv);
}
