/* The pages of a KV pool on a Vulkan device (see kv_pool.h): chunks of
 * mapped memory (DUET_VK_KV: device-local where the host can map it, as on
 * phones and GPUs with a resizable BAR, else host memory), so swaps and
 * copy-on-write stay memcpy. Each chunk is one binding of the kernels, so
 * it stays within what one binding reaches (lavapipe: 128 MiB; Adreno and
 * Mali: the allocation cap or less); the kernels bind every chunk and
 * find a page's from its page-table entry. Apart from kv_pool.c so the
 * arbiter itself builds without the driver shim (its ThreadSanitizer
 * test). */
#include <stdlib.h>

#include "device.h"
#include "error.h"
#include "kv_pool.h"
#include "vk_weights.h"

typedef struct pool_vk {
	uint32_t n;
	duet_vk_heap *heap[DUET_KV_MAX_CHUNKS];
	duet_vk_range mem[DUET_KV_MAX_CHUNKS];
} pool_vk;

duet_status duet_kv_pool_vk_alloc(duet_device *dev, uint32_t page_bytes,
				  uint32_t n_pages, void **vk,
				  uint8_t *maps[DUET_KV_MAX_CHUNKS],
				  uint32_t *n_chunks, uint32_t *per_chunk)
{
	*vk = NULL;
	duet_vk_device *d = duet_device_vk(dev);
	const duet_vk_caps *c = duet_vk_device_get_caps(d);
	/* a chunk is bound as storage (attn_gpu, the QKV epilogue) and as
	 * texels (attn_cpu) */
	uint64_t per = duet_vk_binding_reach(c, true, true) / page_bytes;
	if (per > n_pages)
		per = n_pages;
	if (per == 0 || (n_pages + per - 1) / per > DUET_KV_MAX_CHUNKS)
		return DUET_ERR(DUET_E_UNSUPPORTED, "a KV pool on %s holds at most "
				"%llu bytes (%d bindings of %llu)", c->name,
				(unsigned long long)(per * page_bytes * DUET_KV_MAX_CHUNKS),
				DUET_KV_MAX_CHUNKS,
				(unsigned long long)(per * page_bytes));
	pool_vk *v = calloc(1, sizeof *v);
	if (!v)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	duet_status s = DUET_OK;
	for (uint32_t first = 0; s == DUET_OK && first < n_pages; first += (uint32_t)per) {
		uint64_t pages = n_pages - first < per ? n_pages - first : per;
		uint64_t bytes = pages * page_bytes;
		uint32_t i = v->n++;
		s = duet_vk_heap_create(d, DUET_VK_KV, bytes, &v->heap[i]);
		if (s == DUET_OK)
			s = duet_vk_heap_alloc(v->heap[i], bytes, &v->mem[i]);
		if (s == DUET_OK && !v->mem[i].map)
			s = DUET_ERR(DUET_E_UNSUPPORTED, "KV pool memory of %s is not "
				     "mapped", c->name);
		if (s == DUET_OK)
			maps[i] = v->mem[i].map;
	}
	if (s != DUET_OK) {
		duet_kv_pool_vk_free(v);
		return s;
	}
	*vk = v;
	*n_chunks = v->n;
	*per_chunk = (uint32_t)per;
	return DUET_OK;
}

void duet_kv_pool_vk_free(void *vk)
{
	pool_vk *v = vk;
	if (!v)
		return;
	for (uint32_t i = 0; i < v->n; i++)
		duet_vk_heap_destroy(v->heap[i]);
	free(v);
}

void duet_kv_pool_vk_range(const void *vk, uint32_t i, duet_vk_range *mem)
{
	*mem = ((const pool_vk *)vk)->mem[i];
}
