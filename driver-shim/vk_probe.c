/* The capability probe: what a physical device can do that the kernels care
 * about (fp16/int8 arithmetic, 8/16-bit storage, subgroups, integer dot
 * product, buffer ranges and allocation caps, host-pointer import), read
 * through the 1.1 query chains, guarded by version or extension so that the
 * validation layer never sees a structure the device does not know. */
#include <stdlib.h>
#include <string.h>

#include "vk_internal.h"

typedef struct ext_list {
	uint32_t n;
	VkExtensionProperties *p;
} ext_list;

static bool has_ext(const ext_list *l, const char *name)
{
	for (uint32_t i = 0; i < l->n; i++)
		if (!strcmp(l->p[i].extensionName, name))
			return true;
	return false;
}

static duet_vk_device_type map_type(VkPhysicalDeviceType t)
{
	switch (t) {
	case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return DUET_VK_DEVICE_INTEGRATED;
	case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return DUET_VK_DEVICE_DISCRETE;
	case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return DUET_VK_DEVICE_VIRTUAL;
	case VK_PHYSICAL_DEVICE_TYPE_CPU: return DUET_VK_DEVICE_CPU;
	default: return DUET_VK_DEVICE_OTHER;
	}
}

static void probe_queue(const duet_vk *vk, duet_vk_phys *p)
{
	uint32_t n = 0;
	p->queue_family = UINT32_MAX;
	vk->f.vkGetPhysicalDeviceQueueFamilyProperties(p->handle, &n, NULL);
	VkQueueFamilyProperties *q = calloc(n ? n : 1, sizeof *q);
	if (!q)
		return;
	vk->f.vkGetPhysicalDeviceQueueFamilyProperties(p->handle, &n, q);
	/* prefer a compute-only family (async compute on desktop GPUs) */
	for (int pass = 0; pass < 2 && p->queue_family == UINT32_MAX; pass++)
		for (uint32_t i = 0; i < n; i++) {
			bool compute = q[i].queueFlags & VK_QUEUE_COMPUTE_BIT;
			bool graphics = q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT;
			if (compute && (pass == 1 || !graphics)) {
				p->queue_family = i;
				p->caps.timestamps = q[i].timestampValidBits > 0;
				break;
			}
		}
	free(q);
}

static void probe_memory(const duet_vk *vk, duet_vk_phys *p)
{
	VkPhysicalDeviceMemoryProperties m;
	vk->f.vkGetPhysicalDeviceMemoryProperties(p->handle, &m);
	bool local_visible = false;
	for (uint32_t i = 0; i < m.memoryHeapCount; i++)
		if ((m.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) &&
		    m.memoryHeaps[i].size > p->caps.device_local_bytes)
			p->caps.device_local_bytes = m.memoryHeaps[i].size;
	for (uint32_t i = 0; i < m.memoryTypeCount; i++) {
		VkMemoryPropertyFlags f = m.memoryTypes[i].propertyFlags;
		if ((f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) &&
		    (f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) &&
		    m.memoryHeaps[m.memoryTypes[i].heapIndex].size >=
			    p->caps.device_local_bytes / 2)
			local_visible = true;
	}
	/* unified memory: the big device-local heap is host-visible */
	p->caps.uma = local_visible;
}

static void probe_features(const duet_vk *vk, duet_vk_phys *p,
			   const ext_list *ext)
{
	uint32_t api = p->caps.api_version;
	VkPhysicalDevice16BitStorageFeatures s16 = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES,
	};
	VkPhysicalDevice8BitStorageFeatures s8 = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES,
	};
	VkPhysicalDeviceShaderFloat16Int8Features f16 = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES,
	};
	VkPhysicalDeviceTimelineSemaphoreFeatures tl = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES,
	};
	VkPhysicalDeviceShaderIntegerDotProductFeatures dot = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES,
	};
	VkPhysicalDeviceFeatures2 f2 = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
		.pNext = &s16,
	};
	void **tail = &s16.pNext;
	bool v12 = api >= VK_API_VERSION_1_2, v13 = api >= VK_API_VERSION_1_3;
	p->has_8bit_ext = has_ext(ext, VK_KHR_8BIT_STORAGE_EXTENSION_NAME);
	p->has_f16i8_ext = has_ext(ext, VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME);
	p->has_timeline_ext = has_ext(ext, VK_KHR_TIMELINE_SEMAPHORE_EXTENSION_NAME);
	p->has_int_dot_ext = has_ext(ext, VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);
	if (v12 || p->has_8bit_ext) {
		*tail = &s8;
		tail = &s8.pNext;
	}
	if (v12 || p->has_f16i8_ext) {
		*tail = &f16;
		tail = &f16.pNext;
	}
	if (v12 || p->has_timeline_ext) {
		*tail = &tl;
		tail = &tl.pNext;
	}
	if (v13 || p->has_int_dot_ext) {
		*tail = &dot;
		tail = &dot.pNext;
	}
	vk->f.vkGetPhysicalDeviceFeatures2(p->handle, &f2);
	p->caps.storage16 = s16.storageBuffer16BitAccess;
	p->caps.storage8 = s8.storageBuffer8BitAccess;
	p->caps.fp16 = f16.shaderFloat16;
	p->caps.int8 = f16.shaderInt8;
	p->caps.int64 = f2.features.shaderInt64;
	p->caps.float64 = f2.features.shaderFloat64;
	p->caps.timeline = tl.timelineSemaphore;
	p->caps.int_dot = dot.shaderIntegerDotProduct;
}

static void probe_properties(const duet_vk *vk, duet_vk_phys *p,
			     const ext_list *ext)
{
	VkPhysicalDeviceSubgroupProperties sub = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES,
	};
	VkPhysicalDeviceMaintenance3Properties m3 = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES,
		.pNext = &sub,
	};
	VkPhysicalDeviceDriverProperties drv = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES,
	};
	VkPhysicalDeviceExternalMemoryHostPropertiesEXT host = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_MEMORY_HOST_PROPERTIES_EXT,
	};
	VkPhysicalDeviceProperties2 p2 = {
		.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
		.pNext = &m3,
	};
	void **tail = &sub.pNext;
	bool has_drv = p->caps.api_version >= VK_API_VERSION_1_2 ||
		       has_ext(ext, VK_KHR_DRIVER_PROPERTIES_EXTENSION_NAME);
	p->caps.host_memory = has_ext(ext, VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME);
	if (has_drv) {
		*tail = &drv;
		tail = &drv.pNext;
	}
	if (p->caps.host_memory) {
		*tail = &host;
		tail = &host.pNext;
	}
	vk->f.vkGetPhysicalDeviceProperties2(p->handle, &p2);
	const VkPhysicalDeviceLimits *l = &p2.properties.limits;
	duet_vk_caps *c = &p->caps;
	c->max_alloc = m3.maxMemoryAllocationSize;
	c->subgroup_size = sub.subgroupSize;
	bool compute = sub.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT;
	c->subgroup_basic = compute &&
			    (sub.supportedOperations & VK_SUBGROUP_FEATURE_BASIC_BIT);
	c->subgroup_arith = compute &&
			    (sub.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
	if (has_drv) {
		c->driver_id = drv.driverID;
		memcpy(c->driver_name, drv.driverName, sizeof drv.driverName);
		memcpy(c->driver_info, drv.driverInfo, sizeof drv.driverInfo);
	}
	c->host_align = c->host_memory ? host.minImportedHostPointerAlignment : 0;
	c->max_wg_invocations = l->maxComputeWorkGroupInvocations;
	memcpy(c->max_wg_size, l->maxComputeWorkGroupSize, sizeof c->max_wg_size);
	c->max_shared_bytes = l->maxComputeSharedMemorySize;
	c->max_push_bytes = l->maxPushConstantsSize;
	c->max_storage_range = l->maxStorageBufferRange;
	c->max_uniform_range = l->maxUniformBufferRange;
	c->max_texel_bytes = (uint64_t)l->maxTexelBufferElements * 16;
	c->texel_align = l->minTexelBufferOffsetAlignment;
	c->storage_align = l->minStorageBufferOffsetAlignment;
	c->uniform_align = l->minUniformBufferOffsetAlignment;
	c->timestamp_ns = l->timestampPeriod;
	if (!l->timestampComputeAndGraphics && l->timestampPeriod <= 0)
		c->timestamps = false;
	memcpy(p->pipeline_uuid, p2.properties.pipelineCacheUUID, VK_UUID_SIZE);
}

void duet_vk_probe(const duet_vk *vk, duet_vk_phys *p)
{
	VkPhysicalDeviceProperties props;
	vk->f.vkGetPhysicalDeviceProperties(p->handle, &props);
	duet_vk_caps *c = &p->caps;
	memcpy(c->name, props.deviceName, sizeof props.deviceName);
	c->vendor_id = props.vendorID;
	c->device_id = props.deviceID;
	c->driver_version = props.driverVersion;
	/* what the instance allows, not only what the driver reports */
	c->api_version = props.apiVersion < vk->api_version ? props.apiVersion
							    : vk->api_version;
	c->type = map_type(props.deviceType);
	probe_queue(vk, p);
	if (c->api_version < VK_API_VERSION_1_1)
		return;
	ext_list ext = { 0 };
	vk->f.vkEnumerateDeviceExtensionProperties(p->handle, NULL, &ext.n, NULL);
	ext.p = calloc(ext.n ? ext.n : 1, sizeof *ext.p);
	if (ext.p)
		vk->f.vkEnumerateDeviceExtensionProperties(p->handle, NULL, &ext.n,
							   ext.p);
	else
		ext.n = 0;
	probe_features(vk, p, &ext);
	probe_properties(vk, p, &ext);
	probe_memory(vk, p);
	free(ext.p);
	/* GPUs get the GPU kernels; CPU-executed Vulkan gets kernels shaped
	 * for SIMD lanes on a few cores. Both need fp32 math only. */
	c->variant = c->type == DUET_VK_DEVICE_CPU ? DUET_VK_VARIANT_CPU
						   : DUET_VK_VARIANT_GPU;
	if (!c->subgroup_arith)
		c->variant = DUET_VK_VARIANT_CPU;
	duet_vk_apply_quirks(c);
}
