/* The ThreadSanitizer build of the KV arbiter's thread test links the
 * arbiter alone, without the driver shim: pools on a device are refused. */
#include "error.h"
#include "kv_pool.h"

duet_status duet_kv_pool_vk_alloc(duet_device *dev, uint64_t bytes, void **vk,
				  uint8_t **map)
{
	(void)dev, (void)bytes, (void)map;
	*vk = NULL;
	return DUET_ERR(DUET_E_UNSUPPORTED, "this build has no Vulkan");
}

void duet_kv_pool_vk_free(void *vk)
{
	(void)vk;
}

void duet_kv_pool_vk_range(const void *vk, struct duet_vk_range *mem)
{
	(void)vk, (void)mem;
}
