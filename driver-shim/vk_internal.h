/* Inside the shim: the Vulkan headers (prototypes off: everything goes
 * through per-instance and per-device tables), and the structs behind the
 * opaque handles of shim.h. */
#ifndef DUET_VK_INTERNAL_H
#define DUET_VK_INTERNAL_H

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include <stdatomic.h>

#include "error.h"
#include "shim.h"
#include "vk_funcs.h"

#define DUET_VK_DECLARE(name) PFN_##name name;

typedef struct duet_vk_ifuncs {
	DUET_VK_INSTANCE_FUNCS(DUET_VK_DECLARE)
	DUET_VK_DEBUG_FUNCS(DUET_VK_DECLARE)
} duet_vk_ifuncs;

typedef struct duet_vk_dfuncs {
	DUET_VK_DEVICE_FUNCS(DUET_VK_DECLARE)
	DUET_VK_TIMELINE_FUNCS(DUET_VK_DECLARE)
	DUET_VK_HOST_MEMORY_FUNCS(DUET_VK_DECLARE)
} duet_vk_dfuncs;

typedef struct duet_vk_phys {
	VkPhysicalDevice handle;
	duet_vk_caps caps;
	uint32_t queue_family;   /* a family with compute */
	bool has_timeline_ext;   /* 1.1 device with VK_KHR_timeline_semaphore */
	bool has_int_dot_ext;    /* VK_KHR_shader_integer_dot_product */
	bool has_16bit_ext;      /* VK_KHR_16bit_storage (1.0 name) */
	bool has_8bit_ext;       /* VK_KHR_8bit_storage */
	bool has_f16i8_ext;      /* VK_KHR_shader_float16_int8 */
	uint8_t pipeline_uuid[VK_UUID_SIZE];
} duet_vk_phys;

struct duet_vk {
	void *lib;                /* dlopen handle of the loader */
	PFN_vkGetInstanceProcAddr gipa;
	DUET_VK_GLOBAL_FUNCS(DUET_VK_DECLARE)
	VkInstance instance;
	uint32_t api_version;
	duet_vk_ifuncs f;
	VkDebugUtilsMessengerEXT messenger;
	bool validation;
	atomic_ullong validation_errors;
	uint32_t n_phys;
	duet_vk_phys *phys;
};

typedef struct duet_vk_pipeline_key {
	const duet_vk_spirv *module;
	uint32_t n_spec;
	uint32_t spec[DUET_VK_MAX_SPEC];
} duet_vk_pipeline_key;

struct duet_vk_kernel {
	duet_vk_pipeline_key key;
	VkDescriptorSetLayout set_layout;
	VkPipelineLayout layout;
	VkPipeline pipeline;
	struct duet_vk_kernel *next;
};

struct duet_vk_device {
	duet_vk *vk;
	const duet_vk_phys *phys;
	duet_vk_caps caps;
	VkDevice handle;
	duet_vk_dfuncs f;
	VkQueue queue;
	uint32_t memory_type[DUET_VK_ROLES]; /* by duet_vk_role */
	bool role_host_visible[DUET_VK_ROLES];
	VkPhysicalDeviceMemoryProperties mem;
	VkPipelineCache cache;
	char cache_path[1024];    /* "" when persistence is off */
	bool cache_dirty;
	duet_vk_kernel *kernels;  /* created pipelines (list) */
	duet_vk_startup startup;
	VkCommandPool cmd_pool;   /* for one-off uploads and downloads */
	duet_vk_heap *staging;    /* lazily created for non-host-visible copies */
	duet_vk_range staging_range;
	VkSemaphore timeline;     /* signalled by every submission, or NULL */
	uint64_t timeline_value;  /* last value a submission will signal */
};

struct duet_vk_block {
	duet_vk_device *d;
	VkDeviceMemory memory;
	VkBuffer buffer;
	uint64_t bytes;
	uint64_t used;
	void *map;
	struct duet_vk_block *next;
};

struct duet_vk_heap {
	duet_vk_device *d;
	duet_vk_role role;
	uint64_t block_bytes;
	uint64_t total;
	duet_vk_block *blocks;  /* newest first */
};

/* Returns the descriptor type of a DUET_VK_BIND_* kind. */
static inline VkDescriptorType duet_vk_descriptor_type(uint8_t kind)
{
	return kind == DUET_VK_BIND_UNIFORM ? VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER
	       : kind == DUET_VK_BIND_TEXEL ? VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER
					    : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
}

/* Converts a VkResult into a duet_status with a message naming `what`. */
duet_status duet_vk_check(VkResult r, const char *file, int line,
			  const char *what);
#define DUET_VK_CHECK(r, what) duet_vk_check((r), __FILE__, __LINE__, (what))

/* Fills caps (and the private fields of p) for physical device p->handle. */
void duet_vk_probe(const duet_vk *vk, duet_vk_phys *p);

/* Creates a timeline semaphore at 0 on d (the caller destroys it). */
duet_status duet_vk_timeline_create(duet_vk_device *d, VkSemaphore *out);

/* Applies the quirk table to caps (sets quirks; may change the variant). */
void duet_vk_apply_quirks(duet_vk_caps *caps);

/* Pipeline cache persistence (vk_pipeline.c). */
void duet_vk_cache_open(duet_vk_device *d, const char *dir);
void duet_vk_kernels_destroy(duet_vk_device *d);

/* Milliseconds from a monotonic clock. */
double duet_vk_now_ms(void);

#endif
