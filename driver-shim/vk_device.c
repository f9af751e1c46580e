/* Logical devices: features the kernels use are enabled when the probe found
 * them, one compute queue, memory types chosen per role, and the timeline
 * semaphore every submission signals. */
#include <stdlib.h>
#include <string.h>

#include "vk_internal.h"

uint32_t duet_vk_pick_memory(const duet_vk_mem_props *m, duet_vk_role role,
			     bool *host_visible)
{
	const uint32_t LOCAL = DUET_VK_MEM_LOCAL, VIS = DUET_VK_MEM_VISIBLE,
		       COH = DUET_VK_MEM_COHERENT, CACHED = DUET_VK_MEM_CACHED;
	uint32_t want[4];
	int n = 0;
	if (role == DUET_VK_HOST) {
		want[n++] = VIS | COH | CACHED;
		want[n++] = VIS | COH;
	} else if (role == DUET_VK_KV) {
		want[n++] = LOCAL | VIS | COH;
		want[n++] = VIS | COH | CACHED;
		want[n++] = VIS | COH;
	} else {
		want[n++] = LOCAL | VIS | COH;
		want[n++] = LOCAL;
		want[n++] = VIS | COH;
	}
	for (int w = 0; w < n; w++)
		for (uint32_t i = 0; i < m->n_types && i < 32; i++) {
			uint32_t f = m->flags[i], heap = m->heap[i];
			/* the classic 256 MiB device-local+visible window (BAR) is not
			 * UMA or a resizable BAR: too small to hold a model */
			if (role != DUET_VK_HOST && w == 0 &&
			    (heap >= 16 || m->heap_size[heap] <= (256ull << 20)))
				continue;
			if ((f & want[w]) == want[w]) {
				*host_visible = f & VIS;
				return i;
			}
		}
	*host_visible = false;
	return UINT32_MAX;
}

typedef struct feature_chain {
	VkPhysicalDeviceFeatures2 f2;
	VkPhysicalDevice16BitStorageFeatures s16;
	VkPhysicalDevice8BitStorageFeatures s8;
	VkPhysicalDeviceShaderFloat16Int8Features f16;
	VkPhysicalDeviceTimelineSemaphoreFeatures tl;
	VkPhysicalDeviceShaderIntegerDotProductFeatures dot;
	const char *exts[8];
	uint32_t n_exts;
} feature_chain;

/* Enables what the probe found, naming the extensions a 1.1 device needs
 * for features that later versions made core. */
static void build_features(const duet_vk_phys *p, feature_chain *c)
{
	const duet_vk_caps *caps = &p->caps;
	bool v12 = caps->api_version >= VK_API_VERSION_1_2;
	bool v13 = caps->api_version >= VK_API_VERSION_1_3;
	memset(c, 0, sizeof *c);
	c->f2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2;
	c->f2.features.shaderInt64 = caps->int64;
	c->f2.features.shaderFloat64 = caps->float64;
	c->s16.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES;
	c->s16.storageBuffer16BitAccess = caps->storage16;
	c->s16.uniformAndStorageBuffer16BitAccess = caps->storage16;
	c->f2.pNext = &c->s16;
	void **tail = &c->s16.pNext;
	if (caps->storage8 && (v12 || p->has_8bit_ext)) {
		c->s8.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES;
		c->s8.storageBuffer8BitAccess = VK_TRUE;
		*tail = &c->s8;
		tail = &c->s8.pNext;
		if (!v12)
			c->exts[c->n_exts++] = VK_KHR_8BIT_STORAGE_EXTENSION_NAME;
	}
	if ((caps->fp16 || caps->int8) && (v12 || p->has_f16i8_ext)) {
		c->f16.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES;
		c->f16.shaderFloat16 = caps->fp16;
		c->f16.shaderInt8 = caps->int8;
		*tail = &c->f16;
		tail = &c->f16.pNext;
		if (!v12)
			c->exts[c->n_exts++] = VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME;
	}
	if (caps->timeline) {
		c->tl.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES;
		c->tl.timelineSemaphore = VK_TRUE;
		*tail = &c->tl;
		tail = &c->tl.pNext;
		if (!v12)
			c->exts[c->n_exts++] = VK_KHR_TIMELINE_SEMAPHORE_EXTENSION_NAME;
	}
	if (caps->int_dot) {
		c->dot.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES;
		c->dot.shaderIntegerDotProduct = VK_TRUE;
		*tail = &c->dot;
		if (!v13)
			c->exts[c->n_exts++] =
				VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME;
	}
	if (caps->host_memory) {
		c->exts[c->n_exts++] = VK_KHR_EXTERNAL_MEMORY_EXTENSION_NAME;
		c->exts[c->n_exts++] = VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME;
	}
}

static duet_status load_device_funcs(duet_vk_device *d)
{
	PFN_vkGetDeviceProcAddr gdpa = d->vk->f.vkGetDeviceProcAddr;
#define LOAD_DEVICE(name)                                                    \
	d->f.name = (PFN_##name)gdpa(d->handle, #name);                      \
	if (!d->f.name)                                                      \
		return DUET_ERR(DUET_E_UNSUPPORTED, "Vulkan device lacks %s", #name);
	DUET_VK_DEVICE_FUNCS(LOAD_DEVICE)
#undef LOAD_DEVICE
	if (d->caps.timeline) {
		bool v12 = d->caps.api_version >= VK_API_VERSION_1_2;
#define LOAD_TIMELINE(name)                                                   \
	d->f.name = (PFN_##name)gdpa(d->handle, v12 ? #name : #name "KHR");   \
	if (!d->f.name)                                                       \
		d->caps.timeline = false;
		DUET_VK_TIMELINE_FUNCS(LOAD_TIMELINE)
#undef LOAD_TIMELINE
	}
	if (d->caps.host_memory) {
#define LOAD_OPTIONAL(name)                                   \
	d->f.name = (PFN_##name)gdpa(d->handle, #name);       \
	if (!d->f.name)                                       \
		d->caps.host_memory = false;
		DUET_VK_HOST_MEMORY_FUNCS(LOAD_OPTIONAL)
#undef LOAD_OPTIONAL
	}
	return DUET_OK;
}

static duet_status create_logical(duet_vk_device *d)
{
	float prio = 1.0f;
	VkDeviceQueueCreateInfo qi = {
		.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
		.queueFamilyIndex = d->phys->queue_family,
		.queueCount = 1,
		.pQueuePriorities = &prio,
	};
	feature_chain fc;
	build_features(d->phys, &fc);
	VkDeviceCreateInfo ci = {
		.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
		.pNext = &fc.f2,
		.queueCreateInfoCount = 1,
		.pQueueCreateInfos = &qi,
		.enabledExtensionCount = fc.n_exts,
		.ppEnabledExtensionNames = fc.exts,
	};
	duet_status s = DUET_VK_CHECK(d->vk->f.vkCreateDevice(d->phys->handle, &ci,
							       NULL, &d->handle),
				      "vkCreateDevice");
	if (s != DUET_OK)
		return s;
	if ((s = load_device_funcs(d)) != DUET_OK)
		return s;
	d->f.vkGetDeviceQueue(d->handle, d->phys->queue_family, 0, &d->queue);
	VkCommandPoolCreateInfo pi = {
		.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
		.flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT,
		.queueFamilyIndex = d->phys->queue_family,
	};
	s = DUET_VK_CHECK(d->f.vkCreateCommandPool(d->handle, &pi, NULL,
						   &d->cmd_pool),
			  "vkCreateCommandPool");
	if (s != DUET_OK || !d->caps.timeline)
		return s;
	return duet_vk_timeline_create(d, &d->timeline);
}

duet_status duet_vk_timeline_create(duet_vk_device *d, VkSemaphore *out)
{
	VkSemaphoreTypeCreateInfo ti = {
		.sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO,
		.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE,
	};
	VkSemaphoreCreateInfo si = {
		.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO,
		.pNext = &ti,
	};
	return DUET_VK_CHECK(d->f.vkCreateSemaphore(d->handle, &si, NULL, out),
			     "vkCreateSemaphore");
}

duet_status duet_vk_device_create(duet_vk *vk, uint32_t index,
				  const duet_vk_device_options *opts,
				  duet_vk_device **out)
{
	*out = NULL;
	if (index >= vk->n_phys)
		return DUET_ERR(DUET_E_INVAL, "device %u does not exist", index);
	duet_vk_device *d = calloc(1, sizeof *d);
	if (!d)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	d->vk = vk;
	d->phys = &vk->phys[index];
	d->caps = d->phys->caps;
	if (opts && opts->variant_set)
		d->caps.variant = opts->variant;
	if (d->caps.variant == DUET_VK_VARIANT_GPU && !d->caps.subgroup_arith) {
		duet_status s = DUET_ERR(DUET_E_UNSUPPORTED, "the gpu kernel "
					 "variant needs subgroup arithmetic, which "
					 "%s lacks", d->caps.name);
		free(d);
		return s;
	}
	double t0 = duet_vk_now_ms();
	duet_status s = create_logical(d);
	vk->f.vkGetPhysicalDeviceMemoryProperties(d->phys->handle, &d->mem);
	duet_vk_mem_props mp = { .n_types = d->mem.memoryTypeCount };
	for (uint32_t i = 0; i < d->mem.memoryTypeCount && i < 32; i++) {
		mp.flags[i] = d->mem.memoryTypes[i].propertyFlags;
		mp.heap[i] = d->mem.memoryTypes[i].heapIndex;
	}
	for (uint32_t i = 0; i < d->mem.memoryHeapCount && i < 16; i++)
		mp.heap_size[i] = d->mem.memoryHeaps[i].size;
	for (int r = 0; s == DUET_OK && r < DUET_VK_ROLES; r++) {
		d->memory_type[r] = duet_vk_pick_memory(&mp, (duet_vk_role)r,
							&d->role_host_visible[r]);
		if (d->memory_type[r] == UINT32_MAX)
			s = DUET_ERR(DUET_E_UNSUPPORTED, "%s has no suitable memory "
				     "type for role %d", d->caps.name, r);
	}
	d->startup.device_ms = duet_vk_now_ms() - t0;
	if (s == DUET_OK)
		duet_vk_cache_open(d, opts ? opts->cache_dir : NULL);
	if (s != DUET_OK) {
		duet_vk_device_destroy(d);
		return s;
	}
	*out = d;
	return DUET_OK;
}

void duet_vk_device_destroy(duet_vk_device *d)
{
	if (!d)
		return;
	if (d->handle) {
		d->f.vkDeviceWaitIdle(d->handle);
		duet_vk_device_save_cache(d);
		duet_vk_heap_destroy(d->staging);
		duet_vk_kernels_destroy(d);
		if (d->cmd_pool)
			d->f.vkDestroyCommandPool(d->handle, d->cmd_pool, NULL);
		if (d->timeline)
			d->f.vkDestroySemaphore(d->handle, d->timeline, NULL);
		d->f.vkDestroyDevice(d->handle, NULL);
	}
	free(d);
}

const duet_vk_caps *duet_vk_device_get_caps(const duet_vk_device *d)
{
	return &d->caps;
}

const duet_vk_startup *duet_vk_device_startup(const duet_vk_device *d)
{
	return &d->startup;
}
