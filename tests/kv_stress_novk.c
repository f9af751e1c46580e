/* The ThreadSanitizer build of the KV arbiter's thread test links the
 * arbiter alone, without the driver shim: pools on a device are refused. */
#include "error.h"
#include "kv_pool.h"

duet_status duet_kv_pool_vk_alloc(duet_device *dev, uint32_t page_bytes,
				  uint32_t n_pages, void **vk,
				  uint8_t *maps[DUET_KV_MAX_CHUNKS],
				  uint32_t *n_chunks, uint32_t *per_chunk)
{
	(void)dev, (void)page_bytes, (void)n_pages, (void)maps, (void)n_chunks,
		(void)per_chunk;
	*vk = NULL;
	return DUET_ERR(DUET_E_UNSUPPORTED, "this build has no Vulkan");
}

void duet_kv_pool_vk_free(void *vk)
{
	(void)vk;
}

void duet_kv_pool_vk_range(const void *vk, uint32_t i, struct duet_vk_range *mem)
{
	(void)vk, (void)i, (void)mem;
}
