/* The pages of a KV pool on a Vulkan device (see kv_pool.h): one range of
 * mapped memory (DUET_VK_KV: device-local where the host can map it, as on
 * phones and GPUs with a resizable BAR, else host memory), so swaps and
 * copy-on-write stay memcpy and the kernels bind the whole pool as one
 * buffer. Apart from kv_pool.c so the
 * arbiter itself builds without the driver shim (its ThreadSanitizer test). */
#include <stdlib.h>

#include "device.h"
#include "error.h"
#include "kv_pool.h"

typedef struct pool_vk {
	duet_vk_heap *heap;
	duet_vk_range mem;
} pool_vk;

duet_status duet_kv_pool_vk_alloc(duet_device *dev, uint64_t bytes, void **vk,
				  uint8_t **map)
{
	*vk = NULL;
	duet_vk_device *d = duet_device_vk(dev);
	const duet_vk_caps *c = duet_vk_device_get_caps(d);
	uint64_t most = c->max_storage_range < c->max_alloc ? c->max_storage_range
							     : c->max_alloc;
	if (bytes > most)
		return DUET_ERR(DUET_E_UNSUPPORTED, "a KV pool on %s holds at most "
				"%llu bytes (one binding)", c->name,
				(unsigned long long)most);
	pool_vk *v = calloc(1, sizeof *v);
	if (!v)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	duet_status s = duet_vk_heap_create(d, DUET_VK_KV, bytes, &v->heap);
	if (s == DUET_OK)
		s = duet_vk_heap_alloc(v->heap, bytes, &v->mem);
	if (s == DUET_OK && !v->mem.map)
		s = DUET_ERR(DUET_E_UNSUPPORTED, "KV pool memory of %s is not "
			     "mapped", c->name);
	if (s != DUET_OK) {
		duet_kv_pool_vk_free(v);
		return s;
	}
	*vk = v;
	*map = v->mem.map;
	return DUET_OK;
}

void duet_kv_pool_vk_free(void *vk)
{
	pool_vk *v = vk;
	if (!v)
		return;
	duet_vk_heap_destroy(v->heap);
	free(v);
}

void duet_kv_pool_vk_range(const void *vk, duet_vk_range *mem)
{
	*mem = ((const pool_vk *)vk)->mem;
}
