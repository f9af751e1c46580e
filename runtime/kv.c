/* Contiguous KV storage and the row formats (see kv.h). */
#include "kv.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fp16.h"
#include "quant.h"

const char *duet_kv_type_name(duet_kv_type t)
{
	switch (t) {
	case DUET_KV_F16: return "f16";
	case DUET_KV_F32: return "f32";
	case DUET_KV_Q8_0: return "q8_0";
	}
	return NULL;
}

bool duet_kv_type_parse(const char *name, duet_kv_type *out)
{
	static const duet_kv_type all[] = { DUET_KV_F16, DUET_KV_F32, DUET_KV_Q8_0 };
	for (size_t i = 0; name && i < sizeof all / sizeof all[0]; i++)
		if (!strcmp(name, duet_kv_type_name(all[i]))) {
			*out = all[i];
			return true;
		}
	return false;
}

uint32_t duet_kv_row_bytes(duet_kv_type t, uint32_t n)
{
	switch (t) {
	case DUET_KV_F16: return n <= UINT32_MAX / 2 ? 2 * n : 0;
	case DUET_KV_F32: return n <= UINT32_MAX / 4 ? 4 * n : 0;
	case DUET_KV_Q8_0:
		return n % 32 || n > UINT32_MAX / 2 ? 0 : duet_kv_q8_scale_bytes(n) + n;
	}
	return 0;
}

duet_status duet_kv_type_check(duet_kv_type t, uint32_t head_dim,
			       uint32_t n_embd_kv)
{
	const char *name = duet_kv_type_name(t);
	if (!name)
		return DUET_ERR(DUET_E_INVAL, "unknown KV cache type %d (f16, f32 "
				"or q8_0)", (int)t);
	if (t == DUET_KV_Q8_0 && head_dim % 32)
		return DUET_ERR(DUET_E_INVAL, "a q8_0 KV cache needs a head size "
				"that is a multiple of 32; this model's is %u (use f16 "
				"or f32)", head_dim);
	if (!duet_kv_row_bytes(t, n_embd_kv))
		return DUET_ERR(DUET_E_INVAL, "rows of %u values cannot be stored "
				"as a %s KV cache", n_embd_kv, name);
	return DUET_OK;
}

duet_status duet_kv_cache_init(duet_kv_cache *kv, uint32_t n_layer,
			       uint32_t n_ctx, uint32_t n_embd_kv,
			       duet_kv_type t)
{
	memset(kv, 0, sizeof *kv);
	if (!n_layer || !n_ctx || !n_embd_kv)
		return DUET_ERR(DUET_E_INVAL, "KV cache size is zero");
	uint32_t rb = duet_kv_row_bytes(t, n_embd_kv);
	if (!rb)
		return DUET_ERR(DUET_E_INVAL, "rows of %u values cannot be stored "
				"as a KV cache of type %d", n_embd_kv, (int)t);
	uint64_t rows = (uint64_t)n_layer * n_ctx;
	if (rows > SIZE_MAX / 2 / rb)
		return DUET_ERR(DUET_E_NOMEM, "KV cache of %llu rows is too large",
				(unsigned long long)rows);
	kv->k = malloc(rows * rb);
	kv->v = malloc(rows * rb);
	if (!kv->k || !kv->v) {
		duet_kv_cache_finish(kv);
		return DUET_ERR(DUET_E_NOMEM,
				"out of memory allocating a %llu MiB KV cache",
				(unsigned long long)(2 * rows * rb >> 20));
	}
	kv->n_layer = n_layer;
	kv->n_ctx = n_ctx;
	kv->n_embd_kv = n_embd_kv;
	kv->type = t;
	kv->row_bytes = rb;
	return DUET_OK;
}

void duet_kv_cache_finish(duet_kv_cache *kv)
{
	free(kv->k);
	free(kv->v);
	memset(kv, 0, sizeof *kv);
}

void duet_kv_store(duet_kv_type t, uint8_t *row, const float *x, uint32_t n)
{
	if (t != DUET_KV_Q8_0) {
		duet_quantize_row(t == DUET_KV_F32 ? DUET_TYPE_F32 : DUET_TYPE_F16,
				  x, row, n);
		return;
	}
	/* ggml's q8_0 blocks (f16 d, then 32 values) pulled apart: the
	 * scales first, the values after them */
	int8_t *q = (int8_t *)(row + duet_kv_q8_scale_bytes(n));
	memset(row, 0, duet_kv_q8_scale_bytes(n));
	for (uint32_t b = 0; b < n / 32; b++) {
		uint8_t block[34];
		duet_quantize_row(DUET_TYPE_Q8_0, x + 32 * b, block, 32);
		memcpy(row + 2 * b, block, 2);
		memcpy(q + 32 * b, block + 2, 32);
	}
}
